//! `POST check`, `POST check/bulk`, and `GET head` (what the edge's cached decisions are measured against).

use axum::extract::State;
use axum::Json;
use tessera_authz::relationship::{ObjectRef, SubjectRef};
use tessera_authz::CheckError;
use tessera_proto::authz::{
    BulkItemResult, OriginBulkCheck, OriginBulkCheckRequest, OriginCheck, OriginCheckExplained,
    OriginCheckRequest, OriginHead,
};

use super::engine::{check_error, on_engine};
use super::{revision_for, timed, within_batch, Body, Shaped};
use crate::error::HttpError;
use crate::http::extract::ServiceTenant;
use crate::AppState;

impl Shaped for OriginCheckRequest {
    const SHAPE: &'static str =
        r#"{"resource": "doc:1", "permission": "view", "subject": "user:a", "consistency"?: ...}"#;
}

impl Shaped for OriginBulkCheckRequest {
    const SHAPE: &'static str =
        r#"{"items": [{"resource", "permission", "subject"}], "consistency"?: ...}"#;
}

/// Run checks at one revision.
async fn run_checks(
    state: &AppState,
    tenant: &str,
    at: u64,
    items: Vec<(ObjectRef, String, SubjectRef)>,
    context: &[String],
) -> Result<Vec<Result<bool, CheckError>>, HttpError> {
    on_engine(state, tenant, at, context, move |engine| {
        Box::pin(async move {
            let mut out = Vec::with_capacity(items.len());
            for (resource, permission, subject) in &items {
                out.push(engine.check(resource, permission, subject).await);
            }
            Ok::<_, CheckError>(out)
        })
    })
    .await
}

fn parse_item(resource: &str, subject: &str) -> Result<(ObjectRef, SubjectRef), HttpError> {
    let r = resource.parse().map_err(HttpError::from)?;
    let s = subject.parse().map_err(HttpError::from)?;
    Ok((r, s))
}

pub(super) async fn check(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Body(req): Body<OriginCheckRequest>,
) -> Result<axum::response::Response, HttpError> {
    use axum::response::IntoResponse as _;
    let started = crate::monotonic();
    let (resource, subject) = parse_item(&req.resource, &req.subject)?;
    let at = revision_for(&state, &tenant, req.consistency).await?;
    if req.explain {
        // The same decision with its reasons (the granting path, or what denied it), for audit.
        let permission = req.permission;
        let why = on_engine(
            &state,
            &tenant,
            at,
            &req.context_relationships,
            move |engine| {
                Box::pin(async move { engine.explain(&resource, &permission, &subject).await })
            },
        )
        .await?;
        let answer = OriginCheckExplained {
            allowed: why.allowed,
            why,
            zookie: state.zookies.mint(&tenant, at),
            revision: at,
        };
        return Ok(timed(started, answer).into_response());
    }
    let mut results = run_checks(
        &state,
        &tenant,
        at,
        vec![(resource, req.permission, subject)],
        &req.context_relationships,
    )
    .await?;
    let allowed = results
        .pop()
        .unwrap_or(Ok(false))
        .map_err(|e| check_error(&e))?;
    let answer = OriginCheck {
        allowed,
        zookie: state.zookies.mint(&tenant, at),
        revision: at,
        schema_revision: schema_revision_at(&state, &tenant, at).await?,
    };
    Ok(timed(started, answer).into_response())
}

pub(super) async fn check_bulk(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Body(req): Body<OriginBulkCheckRequest>,
) -> Result<impl axum::response::IntoResponse, HttpError> {
    let started = crate::monotonic();
    within_batch(req.items.len(), "a bulk check carries", "items")?;
    let mut items = Vec::with_capacity(req.items.len());
    for i in req.items {
        let (r, s) = parse_item(&i.resource, &i.subject)?;
        items.push((r, i.permission, s));
    }
    let at = revision_for(&state, &tenant, req.consistency).await?;
    let results = run_checks(&state, &tenant, at, items, &req.context_relationships)
        .await?
        .into_iter()
        .map(|r| match r {
            Ok(allowed) => BulkItemResult {
                allowed: Some(allowed),
                error: None,
                message: None,
            },
            Err(e) => BulkItemResult {
                allowed: None,
                error: Some(e.code().to_string()),
                message: Some(e.to_string()),
            },
        })
        .collect();
    let answer = OriginBulkCheck {
        results,
        zookie: state.zookies.mint(&tenant, at),
        revision: at,
        schema_revision: schema_revision_at(&state, &tenant, at).await?,
    };
    Ok(timed(started, answer))
}

/// The revision of the schema in force at `at` (0: none yet). Cached by the store, so cheap.
async fn schema_revision_at(state: &AppState, tenant: &str, at: u64) -> Result<u64, HttpError> {
    Ok(state
        .authz
        .schema_at(tenant, at)
        .await?
        .map_or(0, |(revision, _)| revision))
}

/// The tenant's head: the newest revision and the schema revision in force there. The edge polls this
/// (through one Durable Object per tenant) to know how fresh its cached decisions are.
pub(super) async fn head(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<OriginHead>, HttpError> {
    let revision = state.authz.head(&tenant).await?;
    Ok(Json(OriginHead {
        revision,
        schema_revision: schema_revision_at(&state, &tenant, revision).await?,
        zookie: state.zookies.mint(&tenant, revision),
    }))
}
