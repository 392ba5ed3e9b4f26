//! The final source of answers: the origin's bulk check, whose answers are then stored in every tier and,
//! when it answered at its head, teach the edge the tenant's head.

use std::rc::Rc;
use tessera_proto::Code;

use tessera_authz::decision_cache::Head;
use tessera_proto::check::{BulkCheckRequest, Consistency, OriginBulkCheck};
use worker::{Env, Method};

/// Caveat context: parameter → value.
pub(crate) type Context = serde_json::Map<String, serde_json::Value>;

use crate::checks::answers::{unavailable, Batch, Decision, ItemError, Question, Source};
use crate::checks::heads;
use crate::checks::tiers::{At, Chain};
use crate::config::Config;
use crate::error::ApiError;
use crate::origin::client::{self as origin_client, OriginError, Reply};

/// Ask the origin, remember the answers in `tiers` and, when the origin answered at its head (`at_head`),
/// what the head is. Answers to a request with caveat `context`, and conditional answers, are not
/// remembered: they hold for that context only; nor are answers resting on a relationship that
/// expires (`valid_until`: the origin keeps those until then).
///
/// # Errors
/// The origin's refusal (its status and code), or `503 consistency_unavailable` when it cannot be reached.
pub(crate) async fn answer(
    env: &Env,
    cfg: &Config,
    tiers: &impl Chain,
    tenant: &str,
    questions: &[Question],
    (consistency, context): (&Consistency, &Context),
    at_head: bool,
) -> Result<Batch, ApiError> {
    let forwarded = match consistency {
        // A cache miss asks for the head: the answer then also tells the edge the head, as of now.
        Consistency::MinimizeLatency | Consistency::FullyConsistent => Consistency::FullyConsistent,
        other => other.clone(),
    };
    let asked_at = crate::now();
    // The edge's own fully_consistent (for a cache miss) may be answered at the nearest region's replica
    // head; a caller's own fully_consistent goes to the primary region.
    let ask = origin_client::Ask {
        region_head: matches!(consistency, Consistency::MinimizeLatency),
        recorded_by_edge: cfg.audit,
    };
    let (answer, answered) =
        match post(env, cfg, tenant, questions, (&forwarded, context), ask).await {
            Ok(a) => a,
            Err(e) => {
                if e.status == 503 {
                    // Make cached answers say so until the origin answers again.
                    let _ = heads::refresh(env, cfg, tenant).await;
                }
                return Err(e);
            }
        };
    if answer.results.len() != questions.len() {
        return Err(ApiError::internal(format!(
            "origin answered {} results for {} questions",
            answer.results.len(),
            questions.len()
        )));
    }
    // An answer to `at_least_as_fresh` may be at a revision the origin synced to up to
    // `RECENT_REVISION_MS` earlier (without reading its head): the head it teaches is dated that much
    // earlier, so that `minimize_latency` answers from it keep their staleness bound. (The answer itself
    // asks for nothing beyond the zookie: its own staleness stays 0, as from the cache tiers.)
    let recent_ms = if matches!(forwarded, Consistency::AtLeastAsFresh(_)) {
        tessera_proto::check::RECENT_REVISION_MS
    } else {
        0
    };
    let confirmed_at = answered.lag.dated(asked_at);
    let head = Head {
        revision: answer.revision,
        schema_revision: answer.schema_revision,
        // A replica's head was the primary's head its lag ago.
        confirmed_at: tessera_proto::UnixTime::from_millis(
            confirmed_at
                .as_millis()
                .saturating_sub(i64::try_from(recent_ms).unwrap_or(i64::MAX)),
        ),
    };
    // A replica that cannot say how far behind it is does not teach the edge a head.
    if at_head && answered.lag != origin_client::Lag::Unknown {
        heads::learn(tenant, head);
    }
    let staleness_ms = match answered.lag {
        origin_client::Lag::Ms(lag) => lag,
        origin_client::Lag::None | origin_client::Lag::Unknown => 0,
    };
    let zookie: Rc<str> = Rc::from(answer.zookie.as_str());
    let results: Vec<Result<Decision, ItemError>> = answer
        .results
        .into_iter()
        .map(|r| match (r.allowed, r.error) {
            (Some(allowed), None) => Ok(Decision {
                allowed,
                zookie: Rc::clone(&zookie),
                missing: r.conditional.then(|| r.missing.into()),
                valid_until: r.valid_until.map(Rc::from),
            }),
            (_, error) => Err(ItemError {
                code: error.unwrap_or_else(|| Code::InternalError.to_string()),
                message: r.message.unwrap_or_default(),
            }),
        })
        .collect();
    tiers.store(
        At {
            tenant,
            head: &head,
        },
        questions
            .iter()
            .zip(&results)
            .filter(|_| context.is_empty())
            .filter_map(|(q, r)| {
                let d = r.as_ref().ok()?;
                (d.missing.is_none() && d.valid_until.is_none()).then_some((q, d))
            }),
    );
    Ok(Batch {
        results,
        zookie: answer.zookie,
        revision: answer.revision,
        source: Source::Origin,
        stale: answered.lag == origin_client::Lag::Unknown,
        staleness_ms,
        region: answered.region,
    })
}

async fn post(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    questions: &[Question],
    (consistency, context): (&Consistency, &Context),
    ask: origin_client::Ask,
) -> Result<(OriginBulkCheck, origin_client::Answered), ApiError> {
    let body = BulkCheckRequest {
        items: questions.iter().map(Question::item).collect(),
        consistency: consistency.clone(),
        context: context.clone(),
    };
    let path = format!("/v1/tenants/{tenant}/check/bulk");
    match origin_client::call_with(env, cfg, Method::Post, &path, Some(&body), ask).await {
        Ok((Reply::Answer(answer), answered)) => Ok((answer, answered)),
        // The origin refused the question (unknown permission, no schema, a forged zookie...): its words.
        Ok((Reply::Refused(r), _)) => Err(ApiError::new(
            r.status,
            crate::error::stable_code(&r.body.error),
            r.body.message,
        )),
        Err(OriginError::Unreachable(detail)) => Err(unavailable(
            "the authorization origin cannot be reached",
            detail,
        )),
        Err(e) => Err(e.into_api(Code::ConsistencyUnavailable, "")),
    }
}
