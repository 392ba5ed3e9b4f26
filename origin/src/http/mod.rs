//! The origin's HTTP surface.
//!
//! - `GET /healthz` — liveness and database reachability, unauthenticated.
//! - `GET /internal/v1/clients/{client_id}` — a client record for the edge (service credential).
//! - `/v1/tenants/{tenant}/...` — the authorization API (`crate::authz::http`).
//! - `/internal/v1/tenants/{tenant}/...` — the accounts API the edge uses (`crate::accounts::http`).
//! - `/scim/v2/{tenant}/...` — SCIM 2.0 for the tenant's identity provider (`crate::scim::http`).
//! - `/saml/{tenant}/{connection}/...` — our SAML SP metadata and SP-initiated login (`crate::saml::http`),
//!   the assertion consumer service (`crate::saml::sign_in`);
//!   `/v1/tenants/{tenant}/saml/connections` and `/internal/v1/saml/domains/{domain}` — the connections
//!   API (`crate::saml::admin`, service credential).
//!
//! - `GET /v1/regions`, `GET /internal/v1/region` — this origin's region (`crate::region::http`).
//! - `/v1/tenants/{tenant}/audit...`, `POST /internal/v1/audit/events` — the audit trail
//!   (`crate::audit::http`); `/audit` — its dashboard for operators (`crate::audit::dashboard`).
//!
//! Every route passes the region gate (`crate::region::gate`): answered here, or by the primary region.
//! Every route of a feature lives in its folder; [`extract`] holds what they share: the service
//! credential with the tenant, and bodies read within a limit with JSON refusals.

pub mod extract;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tessera_proto::Code;

use crate::error::HttpError;
use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(crate::clients::http::routes())
        .merge(crate::authz::http::routes())
        .merge(crate::accounts::http::routes())
        .merge(crate::accounts::branding::routes())
        .merge(crate::accounts::oauth_http::routes())
        .merge(
            crate::scim::http::routes().route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::scim::http::recorded,
            )),
        )
        .merge(crate::saml::http::routes())
        .merge(crate::saml::sign_in::routes())
        .merge(crate::saml::admin::routes())
        .merge(crate::region::http::routes())
        .merge(crate::audit::http::routes())
        .merge(crate::audit::dashboard::routes())
        // After routing, so the gate knows which route it guards; routes merged above only.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::region::gate::gate,
        ))
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
    HttpError::new(StatusCode::NOT_FOUND, Code::NotFound, "no such endpoint")
}
