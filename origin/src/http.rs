//! The origin's HTTP surface.
//!
//! - `GET /healthz` — liveness and database reachability, unauthenticated.
//! - `GET /internal/v1/clients/{client_id}` — a client record for the edge (service credential).
//! - `/v1/tenants/{tenant}/...` — the authorization API (see `authz_http`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tessera_proto::ClientRecord;

use crate::error::HttpError;
use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/internal/v1/clients/{client_id}", get(get_client))
        .merge(crate::authz_http::routes())
        .merge(crate::accounts_http::routes())
        .fallback(not_found)
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Result<impl IntoResponse, HttpError> {
    state.store.ping().await?;
    Ok(Json(
        serde_json::json!({ "status": "ok", "service": "tessera-origin" }),
    ))
}

async fn not_found() -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

pub(crate) fn require_service(state: &AppState, headers: &HeaderMap) -> Result<(), HttpError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(HttpError::unauthorized)?;
    if state.service_token_matches(presented) {
        Ok(())
    } else {
        Err(HttpError::unauthorized())
    }
}

async fn get_client(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Json<ClientRecord>, HttpError> {
    require_service(&state, &headers)?;
    match state.store.client(&client_id).await? {
        Some(mut record) => {
            // The edge learns the tenant's token roles with the record it caches anyway.
            record.token_roles = state.store.token_roles(&record.tenant).await?;
            Ok(Json(record))
        }
        None => Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "client_not_found",
            format!("no client `{client_id}`"),
        )),
    }
}
