//! Running the check engine for a request: at one revision, with the request's contextual relationships,
//! on a thread whose stack holds the depth limit (see [`crate::authz::engine_thread`]); and how its
//! errors answer.

use axum::http::StatusCode;
use tessera_authz::relationship::{ObjectRef, SubjectRef};
use tessera_authz::{CaveatError, CheckError, Context, Engine, Permissionship};
use tessera_proto::{Code, UnixTime};

use super::bad;
use crate::authz::engine_thread::{self, EngineFuture};
use crate::authz::store::{AuthzStoreError, SnapshotReader, BUDGET_SPENT};
use crate::error::HttpError;
use crate::AppState;

/// At most this many contextual relationships per request.
const MAX_CONTEXT: usize = 100;

pub(super) fn check_error(e: &CheckError) -> HttpError {
    match e {
        CheckError::Store(_) => HttpError::internal(e.to_string()),
        // The stored data cannot be decided: no fault of the question's shape.
        CheckError::DepthExceeded(_)
        | CheckError::Caveat(CaveatError::Eval { .. } | CaveatError::Unknown(_)) => {
            HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
        }
        _ => bad(e.code(), e.to_string()),
    }
}

/// The forward keys a check on the request's thread may ask for before it is moved to a thread of its
/// own: a walk there holds a runtime thread, so it must stay short (a warm depth-5 walk over a top group's
/// whole tree asks for about a hundred).
const KEYS_HERE: u32 = 256;

/// Run `f` with an engine at `tenant`'s revision `at`, seeing the stored relationships plus `context`
/// (contextual relationships: this request only, validated against the schema, never stored), on a
/// thread of its own whose stack holds the depth limit (see `engine_thread`); a [`CheckError`] it returns
/// is the request's answer.
pub(super) async fn on_engine<T, F>(
    state: &AppState,
    tenant: &str,
    at: u64,
    context: &[String],
    f: F,
) -> Result<T, HttpError>
where
    T: Send + 'static,
    F: for<'e> FnOnce(&'e Engine<'e, SnapshotReader>) -> EngineFuture<'e, Result<T, CheckError>>
        + Send
        + 'static,
{
    Ok(on_engine_until(state, tenant, at, context, f).await?.0)
}

/// [`on_engine`], and until when its answer holds if a relationship it rests on expires (the
/// earliest expiration among what the walk read).
pub(super) async fn on_engine_until<T, F>(
    state: &AppState,
    tenant: &str,
    at: u64,
    context: &[String],
    f: F,
) -> Result<(T, Option<UnixTime>), HttpError>
where
    T: Send + 'static,
    F: for<'e> FnOnce(&'e Engine<'e, SnapshotReader>) -> EngineFuture<'e, Result<T, CheckError>>
        + Send
        + 'static,
{
    let (schema, reader) = reader(state, tenant, at, context).await?;
    let (answer, reader) = on_thread(state, schema, reader, f).await?;
    Ok((answer, reader.valid_until()))
}

/// One check: the kept answer when one holds at `at` (see [`crate::authz::cache`]); else a walk, on the
/// request's thread when it fits there and stays short ([`KEYS_HERE`]), else on a thread of its own.
/// Its answer is kept when it is one (not conditional) and the request brought no context of either
/// kind: relationships or caveat parameters hold for that request only. With the answer, until when
/// it holds if a relationship it rests on expires (a kept answer is kept only until then).
pub(super) async fn check_one(
    state: &AppState,
    tenant: &str,
    at: u64,
    (context, caveat_context): (&[String], &Context),
    (resource, permission, subject): (&ObjectRef, &str, &SubjectRef),
) -> Result<(Permissionship, Option<UnixTime>), HttpError> {
    let question = (
        resource.to_string(),
        permission.to_owned(),
        subject.to_string(),
    );
    let keep = context.is_empty() && caveat_context.is_empty();
    if keep {
        if let Some((allowed, until)) = state.authz.decision(tenant, &question, at) {
            let answer = if allowed {
                Permissionship::Has
            } else {
                Permissionship::No
            };
            return Ok((answer, until));
        }
    }
    let walk = || {
        check_walk(
            resource.clone(),
            permission.to_owned(),
            subject.clone(),
            caveat_context.clone(),
        )
    };
    let decided = |reader: &SnapshotReader, answer: &Permissionship| match answer {
        Permissionship::Has if keep => reader.decided(question.clone(), true),
        Permissionship::No if keep => reader.decided(question.clone(), false),
        _ => {}
    };
    let (schema, first) = reader(state, tenant, at, context).await?;
    let here = first.recording().bounded(KEYS_HERE);
    match engine_thread::run_here(&schema, &here, state.max_depth, walk()) {
        Ok(Ok(Ok(answer))) => {
            decided(&here, &answer);
            return Ok((answer, here.valid_until()));
        }
        // Too long to hold this thread: again on a thread of its own (what it loaded stays cached).
        Ok(Ok(Err(CheckError::Store(e)))) if e == BUDGET_SPENT => {}
        Ok(Ok(Err(e))) => return Err(check_error(&e)),
        Ok(Err(e)) => return Err(HttpError::internal(e)),
        // This thread's stack may not hold it.
        Err(_) => {}
    }
    drop(here);
    let (schema, reader) = reader(state, tenant, at, context).await?;
    let (answer, reader) = on_thread(state, schema, reader.recording(), walk()).await?;
    decided(&reader, &answer);
    Ok((answer, reader.valid_until()))
}

/// An answer as the wire carries it: `allowed`, and for a conditional one the parameters missing.
pub(super) fn on_the_wire(p: Permissionship) -> (bool, bool, Vec<String>) {
    match p {
        Permissionship::Has => (true, false, Vec::new()),
        Permissionship::No => (false, false, Vec::new()),
        Permissionship::Conditional(missing) => (false, true, missing.into_iter().collect()),
    }
}

/// The engine's walk for one check.
fn check_walk(
    resource: ObjectRef,
    permission: String,
    subject: SubjectRef,
    context: Context,
) -> impl for<'e> FnOnce(
    &'e Engine<'e, SnapshotReader>,
) -> EngineFuture<'e, Result<Permissionship, CheckError>>
       + Send
       + 'static {
    move |engine| {
        Box::pin(async move {
            engine
                .check_with_context(&resource, &permission, &subject, &context)
                .await
        })
    }
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
        let r: tessera_authz::Tuple = text.parse().map_err(HttpError::from)?;
        r.validate(&schema).map_err(HttpError::from)?;
        extra.push(r);
    }
    let reader = state.authz.reader(tenant, at).with_context(extra);
    Ok((schema, reader))
}

/// Run `f` over `reader` on a thread of its own; its answer and the reader back.
async fn on_thread<T, F>(
    state: &AppState,
    schema: std::sync::Arc<tessera_authz::Schema>,
    reader: SnapshotReader,
    f: F,
) -> Result<(T, SnapshotReader), HttpError>
where
    T: Send + 'static,
    F: for<'e> FnOnce(&'e Engine<'e, SnapshotReader>) -> EngineFuture<'e, Result<T, CheckError>>
        + Send
        + 'static,
{
    let (answer, reader) =
        engine_thread::with_engine_and_reader(schema, reader, state.max_depth, f)
            .await
            .map_err(HttpError::internal)?;
    Ok((answer.map_err(|e| check_error(&e))?, reader))
}
