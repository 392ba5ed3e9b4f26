//! The connections API (service credential), bodies from `tessera_proto::saml`:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /v1/tenants/{tenant}/saml/connections` | [`CreateConnectionRequest`] | `201` [`Connection`] (400 with the rule's code, e.g. `saml_metadata_no_signing_key`; 409 `saml_connection_exists`, `saml_domain_taken`) |
//! | `GET /v1/tenants/{tenant}/saml/connections` | — | [`ConnectionList`] |
//! | `GET /v1/tenants/{tenant}/saml/connections/{connection}` | — | [`Connection`] (404 `saml_connection_not_found`) |
//! | `DELETE /v1/tenants/{tenant}/saml/connections/{connection}` | — | `204` (its domains, pending requests and remembered assertions go too) |
//! | `GET /internal/v1/saml/domains/{domain}` | — | [`DomainConnection`]: where people of that email domain sign in (404 `saml_connection_not_found`) |
//!
//! No answer carries a private key: [`Connection`] has no field for one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use tessera_proto::saml::{
    Connection, ConnectionId, ConnectionList, CreateConnectionRequest, DomainConnection,
    EmailDomain,
};

use super::{create_connection, SamlError, SamlStore};
use crate::error::HttpError;
use crate::http::extract::{JsonBody, Service, ServiceTenant};
use crate::{now, AppState};

pub fn routes() -> Router<AppState> {
    let base = "/v1/tenants/{tenant}/saml/connections";
    Router::new()
        .route(base, get(list).post(create))
        .route(&format!("{base}/{{connection}}"), get(show).delete(delete))
        .route("/internal/v1/saml/domains/{domain}", get(by_domain))
}

fn store(state: &AppState) -> SamlStore {
    SamlStore::new(state.store.db().clone())
}

fn connection_id(text: &str) -> Result<ConnectionId, HttpError> {
    text.parse().map_err(|_| SamlError::NotFound.into())
}

async fn create(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(request): JsonBody<CreateConnectionRequest>,
) -> Result<(StatusCode, Json<Connection>), HttpError> {
    let created = create_connection(
        &store(&state),
        state.secrets_key(),
        state.public_url(),
        &tenant,
        request,
        now(),
    )
    .await?;
    tracing::info!(
        tenant = tenant.as_str(),
        connection = created.id.as_str(),
        idp = %created.idp.entity_id.escape_debug(),
        "saml connection created"
    );
    Ok((
        StatusCode::CREATED,
        Json(created.to_wire(state.public_url())),
    ))
}

async fn list(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<ConnectionList>, HttpError> {
    let connections = store(&state)
        .list(Some(&tenant))
        .await?
        .iter()
        .map(|c| c.to_wire(state.public_url()))
        .collect();
    Ok(Json(ConnectionList { connections }))
}

async fn show(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, connection)): Path<(String, String)>,
) -> Result<Json<Connection>, HttpError> {
    let found = store(&state)
        .get(&tenant, &connection_id(&connection)?)
        .await?
        .ok_or(SamlError::NotFound)?;
    Ok(Json(found.to_wire(state.public_url())))
}

async fn delete(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, connection)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let id = connection_id(&connection)?;
    if store(&state).delete(&tenant, &id).await? {
        tracing::info!(
            tenant = tenant.as_str(),
            connection = id.as_str(),
            "saml connection deleted"
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(SamlError::NotFound.into())
    }
}

async fn by_domain(
    State(state): State<AppState>,
    _: Service,
    Path(domain): Path<String>,
) -> Result<Json<DomainConnection>, HttpError> {
    let domain: EmailDomain = domain.parse()?;
    let (tenant, id) = store(&state)
        .by_domain(&domain)
        .await?
        .ok_or(SamlError::NotFound)?;
    let found = store(&state)
        .get(&tenant, &id)
        .await?
        .ok_or(SamlError::NotFound)?;
    let sp = found.sp(state.public_url());
    Ok(Json(DomainConnection {
        tenant: tenant.as_str().to_owned(),
        connection: id.as_str().to_owned(),
        display_name: found.display_name,
        login_url: sp.login_url,
    }))
}
