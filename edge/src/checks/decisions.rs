//! Deciding permission questions near the caller ([`decide`]), for `/v1/check` and `/v1/check/bulk`
//! ([`crate::checks::endpoints`]) and for the roles in tokens ([`roles_held`]): plan (what the edge knows of
//! the tenant's head and the caller's consistency decide the step:
//! [`tessera_authz::head_knowledge::HeadKnowledge::plan`], through [`crate::checks::heads`]), then walk (the
//! cache tiers, cheapest first: [`crate::checks::tiers`], then the origin: [`crate::checks::from_origin`]).
//!
//! Every answer is stored under the tenant, the schema revision, the revision it was computed at, and the
//! question; an answer about a revision never changes, so nothing is ever invalidated — freshness comes
//! from which revision the edge asks about.
//!
//! When the origin is unreachable, `minimize_latency` keeps answering from the cache while the tenant's
//! head was confirmed within the bound (marked `stale`); anything the cache cannot answer at the requested
//! consistency fails with `503 consistency_unavailable`, never a guess.

use tessera_proto::Code;

use serde_json::json;
use tessera_authz::decision_cache::Freshness;
use tessera_authz::head_knowledge::Step;
use tessera_authz::revision_unverified;
use tessera_proto::check::{CheckItem, Consistency};
use worker::{Context, Env};

use crate::checks::answers::{unavailable, Batch, Question};
use crate::checks::from_origin;
use crate::checks::heads;
use crate::checks::tiers::{self, At, Chain as _};
use crate::config::Config;
use crate::error::ApiError;
use crate::log;

/// The freshness a consistency asks for, with its zookie (if any) reduced to its revision. The edge reads
/// the revision without the zookie's key: a zookie can only make the edge demand more, and any zookie the
/// edge must act on goes to the origin, which checks its tag and tenant.
fn freshness(consistency: &Consistency) -> Result<Freshness, ApiError> {
    let revision =
        |z: &str| revision_unverified(z).map_err(|e| ApiError::new(400, e.code(), e.to_string()));
    Ok(match consistency {
        Consistency::MinimizeLatency => Freshness::MinimizeLatency,
        Consistency::FullyConsistent => Freshness::Fully,
        Consistency::AtLeastAsFresh(z) => Freshness::AtLeast(revision(z)?),
        Consistency::AtExactSnapshot(z) => Freshness::Exact(revision(z)?),
    })
}

/// Answer `questions` for `tenant` at the requested consistency: plan from the tenant's head, then the
/// cache tiers cheapest first, then the origin. With caveat `caveat_context`, the origin (at the
/// requested consistency; cached answers were reached without that context).
///
/// # Errors
/// A malformed zookie (`400`), an origin refusal (its status and code), or `503 consistency_unavailable`.
pub async fn decide(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    tenant: &str,
    questions: &[Question],
    (consistency, caveat_context): (&Consistency, &from_origin::Context),
) -> Result<Batch, ApiError> {
    let bounds = cfg.checks.bounds;
    let want = freshness(consistency)?;
    let tiers = tiers::chain(env, ctx, cfg);
    let asked = (consistency, caveat_context);
    if !caveat_context.is_empty() {
        let at_head = !matches!(want, Freshness::AtLeast(_) | Freshness::Exact(_));
        return from_origin::answer(env, cfg, &tiers, tenant, questions, asked, at_head).await;
    }
    let mut step = heads::plan(tenant, want, bounds, crate::now());
    if step == Step::ConfirmHead {
        heads::refresh(env, cfg, tenant).await?;
        step = heads::replan(tenant, want, bounds, crate::now());
    }
    match step {
        Step::Tiers {
            head,
            staleness_ms,
            refresh,
        } => {
            if refresh {
                heads::refresh_in_background(ctx, env, tenant);
            }
            let at = At {
                tenant,
                head: &head,
            };
            let mut found = vec![None; questions.len()];
            if let Some(source) = tiers.walk(at, questions, &mut found).await {
                let zookie = found
                    .first()
                    .and_then(Option::as_ref)
                    .map(|d| d.zookie.to_string())
                    .unwrap_or_default();
                return Ok(Batch {
                    results: found.into_iter().flatten().map(Ok).collect(),
                    zookie,
                    revision: head.revision,
                    source,
                    // As of now: a confirmation may have failed while the tiers were asked.
                    stale: heads::is_unconfirmed(tenant),
                    staleness_ms,
                    region: None,
                });
            }
            from_origin::answer(env, cfg, &tiers, tenant, questions, asked, true).await
        }
        Step::Origin { at_head } => {
            from_origin::answer(env, cfg, &tiers, tenant, questions, asked, at_head).await
        }
        Step::ConfirmHead | Step::Unavailable => Err(unavailable(
            format!(
                "no answer within the {} ms staleness bound: the authorization origin cannot be reached",
                bounds.max_staleness_ms
            ),
            format!(
                "tenant {tenant}: head {:?} not confirmed within the bound",
                heads::head(tenant)
            ),
        )),
    }
}

/// Of `roles` (`type:id#permission`), those `subject` holds — through the decision cache
/// (`minimize_latency`: at most the staleness bound behind, like any cached check). `None` when no roles
/// are named. Used at token issue for the `roles` claim.
///
/// # Errors
/// OAuth `503 temporarily_unavailable` when the roles cannot be checked.
pub async fn roles_held(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    tenant: &str,
    roles: &[String],
    subject: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    if roles.is_empty() {
        return Ok(None);
    }
    let mut questions = Vec::with_capacity(roles.len());
    for role in roles {
        let (resource, permission) = role.split_once('#').unwrap_or((role, ""));
        questions.push(Question::parse(&CheckItem {
            resource: resource.to_owned(),
            permission: permission.to_owned(),
            subject: subject.to_owned(),
        })?);
    }
    let batch = decide(
        env,
        ctx,
        cfg,
        tenant,
        &questions,
        (&Consistency::MinimizeLatency, &from_origin::Context::new()),
    )
    .await
    .map_err(|e| ApiError {
        internal_message: Some(format!(
            "token roles of tenant {tenant}: {} {}",
            e.code,
            e.internal_message.as_deref().unwrap_or(&e.external_message)
        )),
        ..ApiError::oauth(
            503,
            Code::TemporarilyUnavailable,
            "the roles for this token cannot be checked right now",
        )
    })?;
    let mut held = Vec::new();
    for (role, result) in roles.iter().zip(batch.results) {
        match result {
            Ok(d) if d.allowed => held.push(role.clone()),
            Ok(_) => {}
            // A role the schema no longer has (renamed permission): not held, and the log says why.
            Err(e) => log::error(
                "token_role_unchecked",
                &[
                    ("role", json!(role)),
                    ("code", json!(e.code)),
                    ("detail", json!(e.message)),
                ],
            ),
        }
    }
    Ok(Some(held))
}
