//! `GET /internal/v1/clients/{client_id}`: a client record for the edge (service credential), with the
//! tenant's token roles (the edge caches both together).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use tessera_proto::ClientRecord;
use tessera_proto::Code;

use crate::error::HttpError;
use crate::http::extract::Service;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/internal/v1/clients/{client_id}", get(get_client))
}

async fn get_client(
    State(state): State<AppState>,
    _: Service,
    Path(client_id): Path<String>,
) -> Result<Json<ClientRecord>, HttpError> {
    match state.store.client(&client_id).await? {
        Some(mut record) => {
            record.token_roles = state.store.token_roles(&record.tenant).await?;
            Ok(Json(record))
        }
        None => Err(HttpError::new(
            StatusCode::NOT_FOUND,
            Code::ClientNotFound,
            format!("no client `{}`", client_id.escape_debug()),
        )),
    }
}
