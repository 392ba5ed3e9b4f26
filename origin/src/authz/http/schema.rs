//! `PUT schema`, `PUT schema/openfga`, `GET schema`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tessera_proto::authz::{SchemaAnswer, SchemaWritten};

use super::recorded;
use crate::audit::Caller;
use crate::authz::store::AuthzStoreError;
use crate::error::HttpError;
use crate::http::extract::{ServiceTenant, TextBody};
use crate::AppState;

/// Write the schema and record it (its size and a digest of its text: the text itself is in the store,
/// at the revision the event names).
async fn write_recorded(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
    text: &str,
    format: &str,
) -> Result<u64, HttpError> {
    use sha2::Digest as _;
    let result = state
        .authz
        .write_schema(tenant, text)
        .await
        .map_err(HttpError::from);
    let mut detail = serde_json::Map::new();
    detail.insert("format".into(), format.into());
    detail.insert("bytes".into(), text.len().into());
    detail.insert(
        "sha256".into(),
        crate::audit::chain::hex(&sha2::Sha256::digest(text.as_bytes())).into(),
    );
    recorded::write(
        state,
        caller,
        tenant,
        tessera_proto::audit::kinds::SCHEMA_WRITTEN,
        &result,
        |r| *r,
        detail,
    )
    .await;
    result
}

pub(super) async fn write_schema(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    caller: Caller,
    TextBody(text): TextBody,
) -> Result<Json<SchemaWritten>, HttpError> {
    let revision = write_recorded(&state, &caller, &tenant, &text, "spicedb").await?;
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
    caller: Caller,
    TextBody(model): TextBody,
) -> Result<Json<SchemaWritten>, HttpError> {
    let text = tessera_authz::openfga_to_schema(&model)
        .map_err(|e| HttpError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let revision = write_recorded(&state, &caller, &tenant, &text, "openfga").await?;
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
