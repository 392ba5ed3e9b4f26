//! `PUT schema`, `PUT schema/openfga`, `GET schema`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tessera_proto::authz::{SchemaAnswer, SchemaWritten};

use crate::authz::store::AuthzStoreError;
use crate::error::HttpError;
use crate::http::extract::{ServiceTenant, TextBody};
use crate::AppState;

pub(super) async fn write_schema(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    TextBody(text): TextBody,
) -> Result<Json<SchemaWritten>, HttpError> {
    let revision = state.authz.write_schema(&tenant, &text).await?;
    Ok(Json(SchemaWritten {
        revision,
        zookie: state.zookies.mint(&tenant, revision),
        schema: None,
    }))
}

/// Import an OpenFGA model (JSON, schema 1.1) as the tenant's schema; answers with the schema text it became.
pub(super) async fn import_openfga(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    TextBody(model): TextBody,
) -> Result<Json<SchemaWritten>, HttpError> {
    let text = tessera_authz::openfga_to_schema(&model)
        .map_err(|e| HttpError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let revision = state.authz.write_schema(&tenant, &text).await?;
    Ok(Json(SchemaWritten {
        revision,
        zookie: state.zookies.mint(&tenant, revision),
        schema: Some(text),
    }))
}

/// The schema in force at the head, the revision it was written at, and the head's zookie.
pub(super) async fn read_schema(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<SchemaAnswer>, HttpError> {
    let (revision, schema, _) = state
        .authz
        .schema(&tenant, None)
        .await?
        .ok_or(AuthzStoreError::NoSchema)?;
    let head = state.authz.head(&tenant).await?;
    Ok(Json(SchemaAnswer {
        schema,
        revision,
        zookie: state.zookies.mint(&tenant, head),
    }))
}
