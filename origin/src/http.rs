//! The origin's HTTP surface.
//!
//! - `GET /healthz` — liveness and database reachability, unauthenticated.
//! - `GET /internal/v1/clients/{client_id}` — a client record for the edge (service credential).
//! - `/v1/tenants/{tenant}/...` — the authorization API (see `authz_http`).

use axum::extract::{FromRequest, Path, State};
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

/// The largest request body the origin reads (axum's default, stated): larger ones are refused with
/// `413 body_too_large`.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A request body, read up to the route's body limit; a refusal is the JSON error every other error is
/// (axum's own rejection is plain text): `413 body_too_large` past the limit, else `400 invalid_body`.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    HttpError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                    )
                } else {
                    HttpError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_body",
                        format!(
                            "the request body could not be read: {}",
                            rejection.body_text()
                        ),
                    )
                }
            })
    }
}

/// A request body that must be UTF-8 text (a schema), refused as [`RawBody`] is, or `400 invalid_body`
/// when it is not UTF-8.
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        String::from_utf8(bytes.to_vec()).map(Self).map_err(|e| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("the request body must be UTF-8 text: {e}"),
            )
        })
    }
}
