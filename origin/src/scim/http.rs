//! The SCIM HTTP surface, under `/scim/v2/{tenant}/` (JSON as `application/scim+json`):
//!
//! | route | answer |
//! |---|---|
//! | `GET ServiceProviderConfig` | what this service supports (RFC 7643 §5) |
//! | `GET ResourceTypes`, `GET ResourceTypes/{id}` | `User` and `Group` (RFC 7643 §6) |
//! | `GET Schemas`, `GET Schemas/{urn}` | the schemas enforced (RFC 7643 §7), from `tessera_scim` |
//! | `Users`, `Users/.search`, `Users/{id}` | the tenant's users (`super::users`) |
//! | `Groups`, `Groups/.search`, `Groups/{id}` | the tenant's groups, members in the relationship store (`super::groups`) |
//!
//! Every route needs the tenant's SCIM bearer token ([`ScimTenant`]); a missing, unknown, revoked or other
//! tenant's token gets `401` with `WWW-Authenticate: Bearer` and the same detail whatever the reason (the
//! log says which). Every refusal is an RFC 7644 §3.12 error body.

use axum::extract::{FromRequestParts, Path, RawPathParams, State};
use axum::http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use tessera_proto::TenantId;
use tessera_scim::discovery::{
    resource_type_document, resource_types_list, schema_document, schemas_list,
    service_provider_config, ServiceOptions,
};
use tessera_scim::{
    error_body_parts, group_resource_type, user_resource_type, ResourceType, ScimType,
};

use super::tokens::ScimTokens;
use crate::AppState;

/// The media type of every SCIM answer (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";
/// The most resources one list answer carries.
pub const MAX_RESULTS: u64 = 200;

pub fn routes() -> Router<AppState> {
    let t = "/scim/v2/{tenant}";
    Router::new()
        .route(&format!("{t}/ServiceProviderConfig"), get(service_provider))
        .route(&format!("{t}/ResourceTypes"), get(resource_types))
        .route(&format!("{t}/ResourceTypes/{{id}}"), get(resource_type))
        .route(&format!("{t}/Schemas"), get(schemas))
        .route(&format!("{t}/Schemas/{{id}}"), get(schema))
        .merge(super::users::routes())
        .merge(super::groups::routes())
        .route(&format!("{t}/{{*rest}}"), axum::routing::any(unknown))
}

/// Every change a SCIM client asks for (`POST`, `PUT`, `PATCH`, `DELETE`), recorded in the tenant's audit
/// trail with what became of it, once the answer is made. Requests refused for their credential (`401`)
/// are not: the tenant in their path is only what the caller claims.
/// (A `route_layer` of these routes, `crate::http::router`.)
pub async fn recorded(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::Method;
    use tessera_proto::audit::{kinds, Actor, ActorKind, Outcome};
    let method = req.method().clone();
    if !matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let request_id = req
        .headers()
        .get(tessera_proto::audit::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let resp = next.run(req).await;
    let status = resp.status();
    let Some((tenant, rest)) = path
        .strip_prefix("/scim/v2/")
        .and_then(|p| p.split_once('/'))
    else {
        return resp;
    };
    if status == StatusCode::UNAUTHORIZED || tenant.parse::<TenantId>().is_err() {
        return resp;
    }
    let outcome = if status.is_success() {
        Outcome::Success
    } else if status.is_server_error() {
        Outcome::Error
    } else {
        Outcome::Failure
    };
    let mut e = crate::audit::event(
        tenant,
        kinds::SCIM_CHANGE,
        outcome,
        Actor {
            kind: ActorKind::Client,
            id: "scim".to_owned(),
        },
    );
    if let Some(id) = request_id {
        e.request_id = id;
    }
    e.resource = format!("scim:{rest}");
    e.detail.insert("operation".into(), method.as_str().into());
    e.detail.insert("status".into(), status.as_u16().into());
    state.audit.record(e).await;
    resp
}

/// A SCIM answer: `status` and a JSON body as `application/scim+json`.
pub struct ScimJson(pub StatusCode, pub Value);

impl IntoResponse for ScimJson {
    fn into_response(self) -> Response {
        let mut r = (self.0, axum::Json(self.1)).into_response();
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        r
    }
}

/// A refusal: the RFC 7644 error body, and what only the log sees.
#[derive(Debug)]
pub struct ScimRefusal {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    /// Logged, never sent.
    pub internal: Option<String>,
}

impl ScimRefusal {
    #[must_use]
    pub fn new(status: StatusCode, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            internal: None,
        }
    }

    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    fn unauthorized(internal: impl Into<String>) -> Self {
        Self {
            internal: Some(internal.into()),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                None,
                "a valid SCIM bearer token for this tenant is required",
            )
        }
    }

    pub(crate) fn internal(internal: impl Into<String>) -> Self {
        Self {
            internal: Some(internal.into()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error")
        }
    }
}

impl IntoResponse for ScimRefusal {
    fn into_response(self) -> Response {
        let scim_type = self.scim_type.map(ScimType::as_str);
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), scim_type, detail = ?self.internal, "scim request failed");
        } else {
            tracing::info!(status = self.status.as_u16(), scim_type, detail = ?self.internal.as_deref().unwrap_or(&self.detail), "scim request refused");
        }
        let body = error_body_parts(self.status.as_u16(), self.scim_type, &self.detail);
        let mut r = ScimJson(self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera-scim\""),
            );
        }
        r
    }
}

/// The caller holds a live SCIM token of the tenant the path names.
pub struct ScimTenant(pub TenantId);

impl FromRequestParts<AppState> for ScimTenant {
    type Rejection = ScimRefusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimRefusal> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ScimRefusal::internal(format!("path parameters: {e}")))?;
        let named = params
            .iter()
            .find(|(name, _)| *name == "tenant")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| ScimRefusal::internal("a SCIM route without `{tenant}`"))?;
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| ScimRefusal::unauthorized("no bearer token"))?;
        let holder = ScimTokens::new(state.store.db().clone())
            .authenticate(presented)
            .await
            .map_err(|e| ScimRefusal::internal(e.to_string()))?
            .ok_or_else(|| ScimRefusal::unauthorized("unknown or revoked SCIM token"))?;
        if holder != named {
            return Err(ScimRefusal::unauthorized(format!(
                "a SCIM token of tenant `{holder}` used for another tenant"
            )));
        }
        let tenant = named
            .parse()
            .map_err(|_| ScimRefusal::internal("a stored SCIM token names an invalid tenant"))?;
        Ok(Self(tenant))
    }
}

/// The tenant's SCIM base URL, for `meta.location`.
pub(crate) fn base(state: &AppState, tenant: &str) -> String {
    format!("{}/scim/v2/{tenant}", state.public_url())
}

fn types() -> [ResourceType; 2] {
    [user_resource_type(), group_resource_type()]
}

async fn service_provider(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
) -> ScimJson {
    let options = ServiceOptions {
        max_results: MAX_RESULTS,
        documentation_uri: None,
        etag: true,
    };
    ScimJson(
        StatusCode::OK,
        service_provider_config(&base(&state, tenant.as_str()), &options),
    )
}

async fn resource_types(State(state): State<AppState>, ScimTenant(tenant): ScimTenant) -> ScimJson {
    let [user, group] = types();
    ScimJson(
        StatusCode::OK,
        resource_types_list(&base(&state, tenant.as_str()), &[&user, &group]),
    )
}

async fn resource_type(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
) -> Result<ScimJson, ScimRefusal> {
    let found = types()
        .into_iter()
        .find(|rt| rt.id == id)
        .ok_or_else(|| ScimRefusal::not_found("no such resource type"))?;
    Ok(ScimJson(
        StatusCode::OK,
        resource_type_document(&base(&state, tenant.as_str()), &found),
    ))
}

async fn schemas(State(state): State<AppState>, ScimTenant(tenant): ScimTenant) -> ScimJson {
    let [user, group] = types();
    ScimJson(
        StatusCode::OK,
        schemas_list(&base(&state, tenant.as_str()), &[&user, &group]),
    )
}

async fn schema(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
) -> Result<ScimJson, ScimRefusal> {
    let types = types();
    let found = types
        .iter()
        .flat_map(|rt| std::iter::once(&rt.schema).chain(rt.extensions.iter().map(|e| &e.schema)))
        .find(|s| s.id == id)
        .ok_or_else(|| ScimRefusal::not_found("no such schema"))?;
    Ok(ScimJson(
        StatusCode::OK,
        schema_document(&base(&state, tenant.as_str()), found),
    ))
}

/// A method a SCIM resource does not take, once the caller is known to hold the tenant's token.
pub(super) async fn method_not_allowed(ScimTenant(_): ScimTenant) -> ScimRefusal {
    ScimRefusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "that method is not allowed here",
    )
}

/// Anything else under a tenant's SCIM base, once the caller is known to hold its token.
async fn unknown(ScimTenant(_): ScimTenant) -> ScimRefusal {
    ScimRefusal::not_found("no such SCIM endpoint")
}
