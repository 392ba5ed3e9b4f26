//! `POST /v1/check` and `POST /v1/check/bulk`: one flow, [`answer`] — read (who asks what:
//! [`crate::checks::caller`]), decide ([`crate::checks::decisions::decide`]: plan, then the cache tiers and
//! the origin), respond — for two [`Endpoint`]s that differ only in their bodies.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_authz::caller::Caller;
use tessera_proto::check::{
    BulkCheckRequest, BulkCheckResponse, BulkItemResult, CheckItem, CheckRequest, CheckResponse,
    Consistency,
};
use tessera_proto::Code;
use worker::{Context, Env, Request, Response};

use crate::checks::answers::{About, Decision, ItemError, Question};
use crate::checks::caller::{question, read_request};
use crate::checks::decisions::decide;
use crate::checks::from_origin::Context as CaveatContext;
use crate::config::Config;
use crate::error::ApiError;

/// Items per bulk check (the origin's limit too).
const MAX_ITEMS: usize = 100;

/// What a check endpoint reads and answers.
pub trait Endpoint {
    type Body: DeserializeOwned;
    /// `[Question; 1]` for a single check (no allocation), a `Vec` for a bulk one.
    type Questions: AsRef<[Question]>;
    type Answer: Serialize;
    /// The body's shape, for the error when it is malformed.
    const SHAPE: &'static str;

    /// The questions a body asks (each one the caller may ask), at which consistency and with which
    /// caveat context.
    ///
    /// # Errors
    /// `400` for a malformed question, `403` for one about another's subject.
    fn questions(
        body: Self::Body,
        caller: &Caller,
    ) -> Result<(Self::Questions, Consistency, CaveatContext), ApiError>;

    /// The answer's body.
    ///
    /// # Errors
    /// When the results cannot make this endpoint's answer.
    fn answer(
        results: Vec<Result<Decision, ItemError>>,
        about: About,
    ) -> Result<Self::Answer, ApiError>;
}

/// `POST /v1/check`.
pub struct Check;

/// `POST /v1/check/bulk`: up to 100 questions, all answered at one revision.
pub struct CheckBulk;

/// Answer an [`Endpoint`]'s request.
///
/// # Errors
/// `400` for a malformed question or zookie, `401`/`403` for the caller, `503 consistency_unavailable`
/// when the requested consistency cannot be met.
pub async fn answer<E: Endpoint>(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let started = js_sys::Date::now();
    let (caller, body) = read_request::<E::Body>(&mut req, env, cfg, E::SHAPE).await?;
    let (questions, consistency, caveat_context) = E::questions(body, &caller)?;
    let batch = decide(
        env,
        ctx,
        cfg,
        &caller.tenant,
        questions.as_ref(),
        (&consistency, &caveat_context),
    )
    .await?;
    let (results, about) = batch.split();
    record(
        ctx,
        env,
        cfg,
        &caller,
        questions.as_ref(),
        &results,
        &about,
        (&consistency, &caveat_context),
        started,
    );
    let (source, region) = (about.source, about.region.clone());
    let resp = Response::from_json(&E::answer(results, about)?)?;
    let headers = resp.headers().clone();
    headers.set("cache-control", "no-store")?;
    headers.set("tessera-cache", source.header())?;
    if let Some(region) = region {
        headers.set(tessera_proto::regions::REGION_HEADER, &region)?;
    }
    Ok(resp.with_headers(headers))
}

/// One audit event per decision (questions the origin refused are not decisions). The latency is the
/// Worker's clock, which advances only across I/O: an answer from isolate memory shows 0.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site, each argument a different part of the answer"
)]
fn record(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    caller: &Caller,
    questions: &[Question],
    results: &[Result<Decision, ItemError>],
    about: &About,
    (consistency, caveat_context): (&Consistency, &CaveatContext),
    started_ms: f64,
) {
    use tessera_proto::audit::{kinds, Outcome};
    if !cfg.audit {
        return;
    }
    let elapsed_ms = (js_sys::Date::now() - started_ms).max(0.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a non-negative duration in microseconds, far below u64::MAX"
    )]
    let latency_us = (elapsed_ms * 1000.0) as u64;
    let actor = crate::audit::subject_actor(&caller.own_subject, &cfg.checks.user_type);
    for (q, r) in questions.iter().zip(results) {
        let Ok(d) = r else { continue };
        let outcome = if d.allowed {
            Outcome::Allowed
        } else {
            Outcome::Denied
        };
        let mut e = crate::audit::event(
            &caller.tenant,
            kinds::CHECK_DECISION,
            outcome,
            actor.clone(),
        );
        e.note_caveat(caveat_context, d.missing.as_deref().unwrap_or_default());
        e.resource.clone_from(&q.resource);
        e.permission.clone_from(&q.permission);
        e.subject.clone_from(&q.subject);
        e.revision = Some(about.at.revision);
        e.zookie = d.zookie.to_string();
        e.consistency = consistency.name().to_owned();
        e.tier = about.source.header().to_owned();
        e.latency_us = Some(latency_us);
        if about.at.stale {
            e.detail
                .insert("stale".into(), serde_json::Value::Bool(true));
        }
        if about.at.staleness_ms > 0 {
            e.detail.insert(
                "staleness_ms".into(),
                serde_json::Value::from(about.at.staleness_ms),
            );
        }
        if let Some(region) = &about.region {
            e.detail.insert(
                "origin_region".into(),
                serde_json::Value::from(region.clone()),
            );
        }
        crate::audit::record(ctx, env, cfg, e);
    }
}

impl Endpoint for Check {
    type Body = CheckRequest;
    type Questions = [Question; 1];
    type Answer = CheckResponse;
    const SHAPE: &'static str = r#"{"resource": "doc:1", "permission": "view", "subject": "user:ann", "consistency"?: ..., "context"?: {...}}"#;

    fn questions(
        body: CheckRequest,
        caller: &Caller,
    ) -> Result<([Question; 1], Consistency, CaveatContext), ApiError> {
        let item = CheckItem {
            resource: body.resource,
            permission: body.permission,
            subject: body.subject,
        };
        Ok(([question(caller, &item)?], body.consistency, body.context))
    }

    fn answer(
        results: Vec<Result<Decision, ItemError>>,
        about: About,
    ) -> Result<CheckResponse, ApiError> {
        let d = match results.into_iter().next() {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                let code = crate::error::stable_code(&e.code);
                // As the origin answers: the stored data cannot be decided, no fault of the question.
                let status = if matches!(code, Code::DepthExceeded | Code::CaveatFailed) {
                    422
                } else {
                    400
                };
                return Err(ApiError::new(status, code, e.message));
            }
            None => return Err(ApiError::internal("a check produced no result")),
        };
        Ok(CheckResponse {
            allowed: d.allowed,
            conditional: d.missing.is_some(),
            missing: d
                .missing
                .as_deref()
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
            valid_until: d.valid_until.as_deref().map(str::to_owned),
            at: about.at,
        })
    }
}

impl Endpoint for CheckBulk {
    type Body = BulkCheckRequest;
    type Questions = Vec<Question>;
    type Answer = BulkCheckResponse;
    const SHAPE: &'static str = r#"{"items": [{"resource", "permission", "subject"}], "consistency"?: ..., "context"?: {...}}"#;

    /// A question the schema cannot answer is an error in its own result, not for the batch.
    fn questions(
        body: BulkCheckRequest,
        caller: &Caller,
    ) -> Result<(Vec<Question>, Consistency, CaveatContext), ApiError> {
        if body.items.is_empty() || body.items.len() > MAX_ITEMS {
            return Err(ApiError::new(
                400,
                Code::InvalidRequest,
                format!("a bulk check carries 1 to {MAX_ITEMS} items"),
            ));
        }
        let questions = body
            .items
            .iter()
            .map(|item| question(caller, item))
            .collect::<Result<_, _>>()?;
        Ok((questions, body.consistency, body.context))
    }

    fn answer(
        results: Vec<Result<Decision, ItemError>>,
        about: About,
    ) -> Result<BulkCheckResponse, ApiError> {
        let results = results
            .into_iter()
            .map(|r| match r {
                Ok(d) => BulkItemResult {
                    allowed: Some(d.allowed),
                    conditional: d.missing.is_some(),
                    missing: d
                        .missing
                        .as_deref()
                        .map(<[String]>::to_vec)
                        .unwrap_or_default(),
                    valid_until: d.valid_until.as_deref().map(str::to_owned),
                    error: None,
                    message: None,
                },
                Err(e) => BulkItemResult {
                    allowed: None,
                    conditional: false,
                    missing: Vec::new(),
                    valid_until: None,
                    error: Some(e.code),
                    message: Some(e.message),
                },
            })
            .collect();
        Ok(BulkCheckResponse {
            results,
            at: about.at,
        })
    }
}
