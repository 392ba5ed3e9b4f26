//! The audit events of the authorization API: every decision it answers (unless the edge records it),
//! with the reason path for denials and a sample of grants; every relationship and schema write, with who,
//! what changed and the revision it made, or the code it was refused with.

use tessera_authz::relationship::{ObjectRef, SubjectRef};
use tessera_proto::audit::{kinds, AuditEvent, Outcome};
use tessera_proto::authz::Consistency;

use super::engine::on_engine;
use crate::audit::{bounded, sampled, Caller};
use crate::error::HttpError;
use crate::AppState;

/// The most changes a write event lists (the counts are always whole).
const MAX_CHANGES_LISTED: usize = 100;
/// The largest reason path kept on an event.
const MAX_WHY_BYTES: usize = 12 * 1024;

/// One decision the origin answered.
pub(super) struct Decision<'a> {
    pub tenant: &'a str,
    pub resource: &'a ObjectRef,
    pub permission: &'a str,
    pub subject: &'a SubjectRef,
    pub allowed: bool,
    pub at: u64,
    pub consistency: Option<&'a Consistency>,
    pub latency_us: u64,
    /// The reason path, when the caller asked for it (then it is recorded whatever the answer).
    pub why: Option<serde_json::Value>,
    pub context: &'a [String],
    /// The request's caveat context (recorded, and the reason path computed with it).
    pub caveat_context: &'a tessera_authz::Context,
    /// When the answer was conditional: the caveat parameters it still needed.
    pub missing: &'a [String],
}

/// Record `d` (unless the edge records it). A denial, or a sampled grant, is recorded with its reason
/// path, computed after the answer has gone (a task of its own).
pub(super) async fn decision(state: &AppState, caller: &Caller, d: Decision<'_>) {
    if caller.recorded_by_edge {
        return;
    }
    let mut e = caller.event(
        d.tenant,
        kinds::CHECK_DECISION,
        if d.allowed {
            Outcome::Allowed
        } else {
            Outcome::Denied
        },
    );
    e.resource = d.resource.to_string();
    e.permission = d.permission.to_owned();
    e.subject = d.subject.to_string();
    e.revision = Some(d.at);
    e.zookie = state.zookies.mint(d.tenant, d.at);
    e.consistency = d
        .consistency
        .map_or("minimize_latency", Consistency::name)
        .to_owned();
    e.tier = "origin".to_owned();
    e.latency_us = Some(d.latency_us);
    if !d.context.is_empty() {
        e.detail.insert(
            "context_relationships".into(),
            serde_json::Value::from(d.context.len()),
        );
    }
    e.note_caveat(d.caveat_context, d.missing);
    if let Some(why) = d.why {
        e.detail.insert("why".into(), bounded(why, MAX_WHY_BYTES));
        state.audit.record(e).await;
        return;
    }
    let explain = !d.allowed || sampled(state.audit.settings().explain_allowed);
    if !explain {
        state.audit.record(e).await;
        return;
    }
    let Some(permit) = state.audit.explain_permit() else {
        e.detail.insert("why_skipped".into(), "busy".into());
        state.audit.record(e).await;
        return;
    };
    let (state, resource, permission, subject, tenant, context) = (
        state.clone(),
        d.resource.clone(),
        d.permission.to_owned(),
        d.subject.clone(),
        d.tenant.to_owned(),
        d.context.to_vec(),
    );
    let caveat_context = d.caveat_context.clone();
    let at = d.at;
    tokio::spawn(async move {
        let _permit = permit;
        let why = on_engine(&state, &tenant, at, &context, move |engine| {
            Box::pin(async move {
                engine
                    .explain_with_context(&resource, &permission, &subject, Some(&caveat_context))
                    .await
            })
        })
        .await;
        match why.map(|w| serde_json::to_value(&w)) {
            Ok(Ok(tree)) => {
                e.detail.insert("why".into(), bounded(tree, MAX_WHY_BYTES));
            }
            Ok(Err(err)) => {
                e.detail
                    .insert("why_error".into(), serde_json::Value::from(err.to_string()));
            }
            Err(err) => {
                e.detail.insert(
                    "why_error".into(),
                    serde_json::Value::from(err.code.as_str()),
                );
            }
        }
        state.audit.record(e).await;
    });
}

/// The most distinct decisions of one delivered batch explained, and the time spent on them at most: the
/// rest are stored without a reason path (`detail.why_skipped`). Explaining is a graph walk on the primary
/// for a denial the edge may have answered from its cache: bounded, so that a stream of denials cannot
/// turn the edge's cache into work for the origin, nor make a batch miss the edge's timeout.
const MAX_EXPLAINED_PER_BATCH: usize = 20;
const EXPLAIN_BUDGET: std::time::Duration = std::time::Duration::from_millis(500);

/// A decision's question at a revision: `(tenant, resource, permission, subject, revision)`.
type Question = (String, String, String, String, u64);
type Detail = serde_json::Map<String, serde_json::Value>;

/// Give the edge's recorded decisions their reason path, as the origin's own have: every denial and a
/// sample of grants, explained at the revision the edge answered at (the edge has the answer, not the
/// path). Before the batch is stored, so the path is part of the chained record; within the bounds above.
pub(crate) async fn explain_edge_decisions(state: &AppState, events: &mut [AuditEvent]) {
    let share = state.audit.settings().explain_allowed;
    let started = crate::monotonic();
    // The same question at the same revision is explained once per batch.
    let mut done: std::collections::HashMap<Question, Detail> = std::collections::HashMap::new();
    for e in events.iter_mut() {
        let wanted = e.kind == kinds::CHECK_DECISION
            && e.source == tessera_proto::audit::Source::Edge
            && !e.detail.contains_key("why")
            && (e.outcome == Outcome::Denied || (e.outcome == Outcome::Allowed && sampled(share)));
        let Some(at) = e.revision.filter(|_| wanted) else {
            continue;
        };
        let key = (
            e.tenant.clone(),
            e.resource.clone(),
            e.permission.clone(),
            e.subject.clone(),
            at,
        );
        if let Some(found) = done.get(&key) {
            e.detail.extend(found.clone());
            continue;
        }
        if done.len() >= MAX_EXPLAINED_PER_BATCH || started.elapsed() > EXPLAIN_BUDGET {
            e.detail.insert("why_skipped".into(), "budget".into());
            continue;
        }
        let Some(_permit) = state.audit.explain_permit() else {
            e.detail.insert("why_skipped".into(), "busy".into());
            continue;
        };
        let mut found = serde_json::Map::new();
        let parsed = (
            e.tenant.parse::<tessera_proto::TenantId>(),
            e.resource.parse::<ObjectRef>(),
            e.subject.parse::<SubjectRef>(),
        );
        if let (Ok(_), Ok(resource), Ok(subject)) = parsed {
            let permission = e.permission.clone();
            // The caveat context the edge recorded with the decision (one too large to keep was
            // recorded by its size only: explained without it, a conditional reason says so).
            let caveat_context = e
                .detail
                .get("caveat_context")
                .and_then(serde_json::Value::as_object)
                .cloned()
                .unwrap_or_default();
            let why = on_engine(state, &e.tenant, at, &[], move |engine| {
                Box::pin(async move {
                    engine
                        .explain_with_context(
                            &resource,
                            &permission,
                            &subject,
                            Some(&caveat_context),
                        )
                        .await
                })
            })
            .await;
            match why.map(|w| serde_json::to_value(&w)) {
                Ok(Ok(tree)) => {
                    found.insert("why".into(), bounded(tree, MAX_WHY_BYTES));
                }
                Ok(Err(err)) => {
                    found.insert("why_error".into(), err.to_string().into());
                }
                Err(err) => {
                    found.insert("why_error".into(), err.code.as_str().into());
                }
            }
        } else {
            found.insert("why_error".into(), "the question does not parse".into());
        }
        e.detail.extend(found.clone());
        done.insert(key, found);
    }
}

/// Record a write of `kind`: on success the revision it made and `detail`; on failure the code.
pub(super) async fn write<T>(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
    kind: &str,
    result: &Result<T, HttpError>,
    revision: impl FnOnce(&T) -> u64,
    detail: serde_json::Map<String, serde_json::Value>,
) {
    let mut e: AuditEvent = caller.event(tenant, kind, Outcome::Success);
    e.detail = detail;
    match result {
        Ok(done) => {
            let at = revision(done);
            e.revision = Some(at);
            e.zookie = state.zookies.mint(tenant, at);
        }
        Err(err) => {
            e.outcome = if err.status.is_server_error() {
                Outcome::Error
            } else {
                Outcome::Failure
            };
            e.code = err.code.as_str().to_owned();
        }
    }
    state.audit.record(e).await;
}

/// A write's changes as a detail: counts by operation and the first [`MAX_CHANGES_LISTED`] changes.
pub(super) fn changes<'a>(
    updates: impl Iterator<Item = (&'a str, String)>,
    preconditions: usize,
) -> serde_json::Map<String, serde_json::Value> {
    let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut listed = Vec::new();
    for (op, rel) in updates {
        *counts.entry(op).or_default() += 1;
        if listed.len() < MAX_CHANGES_LISTED {
            listed.push(serde_json::Value::from(format!("{op} {rel}")));
        }
    }
    let mut d = serde_json::Map::new();
    d.insert("counts".into(), serde_json::json!(counts));
    d.insert("changes".into(), serde_json::Value::from(listed));
    if preconditions > 0 {
        d.insert(
            "preconditions".into(),
            serde_json::Value::from(preconditions),
        );
    }
    d
}
