//! Running the check engine for a request: at one revision, with the request's contextual relationships,
//! on a thread whose stack holds the depth limit (see [`crate::authz::engine_thread`]); and how its
//! errors answer.

use axum::http::StatusCode;
use tessera_authz::relationship::{ObjectRef, SubjectRef};
use tessera_authz::{CheckError, Engine};
use tessera_proto::Code;

use super::bad;
use crate::authz::engine_thread::{self, EngineFuture};
use crate::authz::store::{AuthzStoreError, SnapshotReader};
use crate::error::HttpError;
use crate::AppState;

/// At most this many contextual relationships per request.
const MAX_CONTEXT: usize = 100;

pub(super) fn check_error(e: &CheckError) -> HttpError {
    match e {
        CheckError::Store(_) => HttpError::internal(e.to_string()),
        CheckError::DepthExceeded(_) => {
            HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
        }
        _ => bad(e.code(), e.to_string()),
    }
}

/// Where an evaluation may run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// On a thread of its own (lookups, expansions, bulk checks: walks that may be long).
    Thread,
    /// Where the request is, if the walk never waits and the stack has room (a single check); else on a
    /// thread of its own. See [`crate::authz::engine_thread::run_here`].
    HereIfItFits,
}

/// Run `f` with an engine at `tenant`'s revision `at`, seeing the stored relationships plus `context`
/// (contextual relationships: this request only, validated against the schema, never stored); a
/// [`CheckError`] it returns is the request's answer. The engine runs on a thread of its own whose stack
/// holds the depth limit (see `engine_thread`), or, with [`Place::HereIfItFits`], possibly right here.
pub(super) async fn on_engine<T, F>(
    state: &AppState,
    tenant: &str,
    at: u64,
    context: &[String],
    place: Place,
    f: F,
) -> Result<T, HttpError>
where
    T: Send + 'static,
    F: for<'e> FnOnce(&'e Engine<'e, SnapshotReader>) -> EngineFuture<'e, Result<T, CheckError>>
        + Send
        + 'static,
{
    let reader = reader(state, tenant, at, context).await?;
    evaluate(state, reader, place, f).await.map(|(t, _)| t)
}

/// One check: the kept answer when one holds at `at` (see [`crate::authz::cache`]), else a walk, where
/// the request is if it fits, whose answer is kept.
pub(super) async fn check_one(
    state: &AppState,
    tenant: &str,
    at: u64,
    context: &[String],
    (resource, permission, subject): (&ObjectRef, &str, &SubjectRef),
) -> Result<bool, HttpError> {
    let question = (
        resource.to_string(),
        permission.to_owned(),
        subject.to_string(),
    );
    if context.is_empty() {
        if let Some(allowed) = state.authz.decision(tenant, &question, at) {
            return Ok(allowed);
        }
    }
    let (schema, reader) = reader(state, tenant, at, context).await?;
    let walk = (schema, reader.recording());
    let (r, p, s) = (resource.clone(), permission.to_owned(), subject.clone());
    let (allowed, reader) = evaluate(state, walk, Place::HereIfItFits, move |engine| {
        Box::pin(async move { engine.check(&r, &p, &s).await })
    })
    .await?;
    reader.decided(question, allowed);
    Ok(allowed)
}

/// A reader at `tenant`'s revision `at` that also sees `context`, validated against the schema there.
async fn reader(
    state: &AppState,
    tenant: &str,
    at: u64,
    context: &[String],
) -> Result<(std::sync::Arc<tessera_authz::Schema>, SnapshotReader), HttpError> {
    let (_, schema) = state
        .authz
        .schema_at(tenant, at)
        .await?
        .ok_or(AuthzStoreError::NoSchema)?;
    if context.len() > MAX_CONTEXT {
        return Err(bad(
            Code::InvalidRequest,
            format!("at most {MAX_CONTEXT} context_relationships"),
        ));
    }
    let mut extra = Vec::with_capacity(context.len());
    for text in context {
        let r: tessera_authz::Relationship = text.parse().map_err(HttpError::from)?;
        r.validate(&schema).map_err(HttpError::from)?;
        extra.push(r);
    }
    let reader = state.authz.reader(tenant, at).with_context(extra);
    Ok((schema, reader))
}

/// Run `f` over `reader` where `place` allows; its answer and the reader back.
async fn evaluate<T, F>(
    state: &AppState,
    (schema, reader): (std::sync::Arc<tessera_authz::Schema>, SnapshotReader),
    place: Place,
    f: F,
) -> Result<(T, SnapshotReader), HttpError>
where
    T: Send + 'static,
    F: for<'e> FnOnce(&'e Engine<'e, SnapshotReader>) -> EngineFuture<'e, Result<T, CheckError>>
        + Send
        + 'static,
{
    let f = match place {
        Place::Thread => f,
        Place::HereIfItFits => {
            match engine_thread::run_here(&schema, &reader, state.max_depth, f) {
                Ok(answer) => {
                    let t = answer
                        .map_err(HttpError::internal)?
                        .map_err(|e| check_error(&e))?;
                    return Ok((t, reader));
                }
                Err(f) => f,
            }
        }
    };
    let (answer, reader) =
        engine_thread::with_engine_and_reader(schema, reader, state.max_depth, f)
            .await
            .map_err(HttpError::internal)?;
    Ok((answer.map_err(|e| check_error(&e))?, reader))
}
