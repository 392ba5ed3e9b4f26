//! `POST check`, `POST check/bulk`, and `GET head` (what the edge's cached decisions are measured against).

use axum::extract::State;
use axum::Json;
use tessera_authz::relationship::{ObjectRef, SubjectRef};
use tessera_authz::{CheckError, Context, Permissionship};
use tessera_proto::authz::{
    BulkItemResult, OriginBulkCheck, OriginBulkCheckRequest, OriginCheck, OriginCheckExplained,
    OriginCheckRequest, OriginHead,
};

use super::engine::{check_one, on_engine, on_engine_until, on_the_wire};
use super::recorded::{self, Decision};
use super::{revision_for, timed, within_batch, Body, Shaped};
use crate::audit::Caller;
use crate::error::HttpError;
use crate::http::extract::ServiceTenant;
use crate::AppState;
use tessera_authz::tuple::format_expiration;
use tessera_proto::UnixTime;

impl Shaped for OriginCheckRequest {
    const SHAPE: &'static str = r#"{"resource": "doc:1", "permission": "view", "subject": "user:a", "consistency"?: ..., "context"?: {...}}"#;
}

impl Shaped for OriginBulkCheckRequest {
    const SHAPE: &'static str = r#"{"items": [{"resource", "permission", "subject"}], "consistency"?: ..., "context"?: {...}}"#;
}

/// Run checks at one revision.
/// The batch's answers, and until when they hold if a relationship one of them rests on expires (one
/// moment for the batch: its walks share one reader).
async fn run_checks(
    state: &AppState,
    tenant: &str,
    at: u64,
    items: Vec<(ObjectRef, String, SubjectRef)>,
    (context, caveat_context): (&[String], Context),
) -> Result<(Vec<Result<Permissionship, CheckError>>, Option<UnixTime>), HttpError> {
    // A batch may walk for long: on a thread of its own.
    on_engine_until(state, tenant, at, context, move |engine| {
        Box::pin(async move {
            let mut out = Vec::with_capacity(items.len());
            for (resource, permission, subject) in &items {
                out.push(
                    engine
                        .check_with_context(resource, permission, subject, &caveat_context)
                        .await,
                );
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

/// How long since `started`, in microseconds.
fn micros(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

pub(super) async fn check(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    caller: Caller,
    Body(req): Body<OriginCheckRequest>,
) -> Result<axum::response::Response, HttpError> {
    use axum::response::IntoResponse as _;
    let started = crate::monotonic();
    let (resource, subject) = parse_item(&req.resource, &req.subject)?;
    let at = revision_for(&state, &tenant, req.consistency.clone()).await?;
    if req.explain {
        // The same decision with its reasons (the granting path, or what denied it), for audit.
        let (r, p, s) = (resource.clone(), req.permission.clone(), subject.clone());
        let context = req.context.clone();
        let why = on_engine(
            &state,
            &tenant,
            at,
            &req.context_relationships,
            move |engine| {
                Box::pin(async move {
                    engine
                        .explain_with_context(&r, &p, &s, Some(&context))
                        .await
                })
            },
        )
        .await?;
        recorded::decision(
            &state,
            &caller,
            Decision {
                tenant: &tenant,
                resource: &resource,
                permission: &req.permission,
                subject: &subject,
                allowed: why.allowed,
                at,
                consistency: req.consistency.as_ref(),
                latency_us: micros(started),
                why: serde_json::to_value(&why).ok(),
                context: &req.context_relationships,
                caveat_context: &req.context,
                missing: &[],
            },
        )
        .await;
        let answer = OriginCheckExplained {
            allowed: why.allowed,
            why,
            zookie: state.zookies.mint(&tenant, at),
            revision: at,
        };
        return Ok(timed(started, answer).into_response());
    }
    let (answer, until) = check_one(
        &state,
        &tenant,
        at,
        (&req.context_relationships, &req.context),
        (&resource, &req.permission, &subject),
    )
    .await?;
    let (allowed, conditional, missing) = on_the_wire(answer);
    recorded::decision(
        &state,
        &caller,
        Decision {
            tenant: &tenant,
            resource: &resource,
            permission: &req.permission,
            subject: &subject,
            allowed,
            at,
            consistency: req.consistency.as_ref(),
            latency_us: micros(started),
            why: None,
            context: &req.context_relationships,
            caveat_context: &req.context,
            missing: &missing,
        },
    )
    .await;
    let answer = OriginCheck {
        allowed,
        conditional,
        missing,
        valid_until: until.map(format_expiration),
        zookie: state.zookies.mint(&tenant, at),
        revision: at,
        schema_revision: schema_revision_at(&state, &tenant, at).await?,
    };
    Ok(timed(started, answer).into_response())
}

pub(super) async fn check_bulk(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    caller: Caller,
    Body(req): Body<OriginBulkCheckRequest>,
) -> Result<impl axum::response::IntoResponse, HttpError> {
    let started = crate::monotonic();
    within_batch(req.items.len(), "a bulk check carries", "items")?;
    let mut items = Vec::with_capacity(req.items.len());
    for i in req.items {
        let (r, s) = parse_item(&i.resource, &i.subject)?;
        items.push((r, i.permission, s));
    }
    let at = revision_for(&state, &tenant, req.consistency.clone()).await?;
    let (results, until) = run_checks(
        &state,
        &tenant,
        at,
        items.clone(),
        (&req.context_relationships, req.context.clone()),
    )
    .await?;
    let latency_us = micros(started);
    for ((resource, permission, subject), result) in items.iter().zip(&results) {
        if let Ok(answer) = result {
            let missing: Vec<String> = match answer {
                Permissionship::Conditional(m) => m.iter().cloned().collect(),
                Permissionship::Has | Permissionship::No => Vec::new(),
            };
            recorded::decision(
                &state,
                &caller,
                Decision {
                    tenant: &tenant,
                    resource,
                    permission,
                    subject,
                    allowed: *answer == Permissionship::Has,
                    at,
                    consistency: req.consistency.as_ref(),
                    latency_us,
                    why: None,
                    context: &req.context_relationships,
                    caveat_context: &req.context,
                    missing: &missing,
                },
            )
            .await;
        }
    }
    let results = results
        .into_iter()
        .map(|r| match r {
            Ok(answer) => {
                let (allowed, conditional, missing) = on_the_wire(answer);
                BulkItemResult {
                    allowed: Some(allowed),
                    conditional,
                    missing,
                    valid_until: until.map(format_expiration),
                    error: None,
                    message: None,
                }
            }
            Err(e) => BulkItemResult {
                allowed: None,
                conditional: false,
                missing: Vec::new(),
                valid_until: None,
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
