//! Running the check engine for a request: at one revision, with the request's contextual relationships,
//! on a thread whose stack holds the depth limit (see [`crate::authz::engine_thread`]); and how its
//! errors answer.

use axum::http::StatusCode;
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
    let f = match place {
        Place::Thread => f,
        Place::HereIfItFits => {
            match engine_thread::run_here(&schema, &reader, state.max_depth, f) {
                Ok(answer) => {
                    return answer
                        .map_err(HttpError::internal)?
                        .map_err(|e| check_error(&e))
                }
                Err(f) => f,
            }
        }
    };
    engine_thread::with_engine(schema, reader, state.max_depth, f)
        .await
        .map_err(HttpError::internal)?
        .map_err(|e| check_error(&e))
}
