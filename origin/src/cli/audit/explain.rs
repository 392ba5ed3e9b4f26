//! `tessera-origin audit explain`: a recorded decision evaluated again.

use tessera_origin::store::Store;
use tessera_proto::audit::AuditRecord;

use super::tables::{cell, when};

/// A decision evaluated again at one revision.
#[derive(serde::Serialize)]
pub(super) struct Replayed {
    /// The revision it was evaluated at.
    revision: u64,
    allowed: bool,
    reason: String,
    relationships: Vec<String>,
    /// The answer is the recorded one.
    pub(super) same_answer: bool,
    /// The reason path is the recorded one (`None`: none was recorded).
    same_path: Option<bool>,
}

/// A replay at the recorded revision and at the head.
#[derive(serde::Serialize)]
pub(super) struct Replay {
    pub(super) at_revision: Attempt,
    at_head: Attempt,
}

/// A replay at one revision, or why it could not be evaluated there.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub(super) enum Attempt {
    Done(Replayed),
    Failed { error: String },
}

impl From<Result<Replayed, String>> for Attempt {
    fn from(r: Result<Replayed, String>) -> Self {
        r.map_or_else(|error| Self::Failed { error }, Self::Done)
    }
}

/// Evaluate `record`'s decision again at its revision and at the head.
pub(super) async fn replay(store: &Store, record: &AuditRecord) -> Result<Replay, String> {
    let e = &record.event;
    if e.kind != tessera_proto::audit::kinds::CHECK_DECISION {
        return Err(format!(
            "event `{}` is a `{}`, not a decision",
            e.id, e.kind
        ));
    }
    let revision = e
        .revision
        .ok_or("the decision was recorded without its revision")?;
    let authz = tessera_origin::authz::store::AuthzStore::new(store.db().clone());
    Ok(Replay {
        at_revision: replay_at(&authz, record, Some(revision)).await.into(),
        at_head: replay_at(&authz, record, None).await.into(),
    })
}

async fn replay_at(
    authz: &tessera_origin::authz::store::AuthzStore,
    record: &AuditRecord,
    at: Option<u64>,
) -> Result<Replayed, String> {
    use tessera_authz::relationship::{ObjectRef, SubjectRef};
    use tessera_origin::authz::engine_thread::with_engine;
    let e = &record.event;
    let resource: ObjectRef = e.resource.parse().map_err(|e| format!("resource: {e}"))?;
    let subject: SubjectRef = e.subject.parse().map_err(|e| format!("subject: {e}"))?;
    let permission = e.permission.clone();
    let revision = authz
        .snapshot(&e.tenant, at)
        .await
        .map_err(|e| e.to_string())?;
    let (schema, reader) =
        crate::cli::authz::engine_parts(authz, &e.tenant, Some(revision)).await?;
    let why = with_engine(
        schema,
        reader,
        tessera_authz::engine::DEFAULT_MAX_DEPTH,
        move |engine| {
            Box::pin(async move { engine.explain(&resource, &permission, &subject).await })
        },
    )
    .await?
    .map_err(|e| e.to_string())?;
    let recorded_path: Option<Vec<String>> = e
        .detail
        .get("why")
        .and_then(|w| w.get("relationships"))
        .and_then(|p| serde_json::from_value(p.clone()).ok());
    Ok(Replayed {
        revision,
        same_answer: why.allowed == (e.outcome == tessera_proto::audit::Outcome::Allowed),
        same_path: recorded_path.map(|p| p == why.relationships),
        allowed: why.allowed,
        reason: why.reason,
        relationships: why.relationships,
    })
}

pub(super) fn print_replay(record: &AuditRecord, replay: &Replay) {
    let e = &record.event;
    println!(
        "event {}: {}#{} for {} was {} at revision {} ({}, {}, tier {})",
        e.id,
        cell(&e.resource, 200),
        cell(&e.permission, 64),
        cell(&e.subject, 200),
        e.outcome.as_str(),
        e.revision.unwrap_or(0),
        when(e.at_ms),
        cell(&e.consistency, 32),
        if e.tier.is_empty() { "?" } else { &e.tier },
    );
    for (r, label) in [
        (&replay.at_revision, "replayed at that revision"),
        (&replay.at_head, "asked again at the head"),
    ] {
        let r = match r {
            Attempt::Done(r) => r,
            Attempt::Failed { error } => {
                println!("{label}: cannot replay: {error}");
                continue;
            }
        };
        let answer = if r.allowed { "allowed" } else { "denied" };
        let same = if r.same_answer {
            "same answer"
        } else {
            "ANOTHER ANSWER"
        };
        let path = match r.same_path {
            Some(true) => ", same path",
            Some(false) => ", another path",
            None => "",
        };
        println!("{label} (revision {}): {answer} — {same}{path}", r.revision);
        println!("  {}", cell(&r.reason, 300));
        for rel in &r.relationships {
            println!("    {}", cell(rel, 300));
        }
    }
}
