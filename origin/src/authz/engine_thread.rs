//! Where the authorization engine runs: on a thread of its own, whose stack is sized from the depth limit.
//!
//! The engine (`tessera-authz`, a core that also targets wasm32, so its futures are not `Send`) walks the
//! schema recursively: every nested step (a subject set, an arrow, a permission naming another) and every
//! operator of the expression being evaluated adds frames to the stack of the thread that polls it. The
//! depth limit bounds the steps, and the schema parser bounds expressions
//! ([`tessera_authz::schema::MAX_EXPR_HEIGHT`]); the stack must hold both, or a deep chain aborts the
//! whole process with a stack overflow instead of answering `depth_exceeded`. A default thread (2 MiB,
//! what `spawn_blocking` gives) overflowed after about 31 to 37 steps of a debug build, below the default
//! limit of 50 (and any fixed size fails some `--max-depth` or some schema).
//!
//! So each evaluation runs on a fresh thread with a stack of [`stack_size`]`(max_depth, expr_height)`.
//! Only the touched part of a thread's stack is ever backed by memory, so a generous reservation costs
//! address space, not RAM. At most [`MAX_THREADS`] run at once (as `spawn_blocking`'s pool was bounded).
//!
//! # The figures
//! Measured on a debug build (frames are larger than in release; dependencies at `opt-level` 2 as in
//! `Cargo.toml`), with the real SQLite reader, by `depth::measure_engine_stack` in `origin/tests/it`
//! (ignored by default; run it with `--ignored --nocapture` after changing the engine): for each operation
//! the smallest stack (to 16 KiB) that completes a chain of arrows at depths 10 and 50, and at depth 50
//! with every step's expression 21 operators high instead of 1; the slopes give the cost of a step and of
//! an operator, the intercept the rest.
//!
//! | operation | depth 10 | depth 50 | depth 50, height 21 | per step | per operator | rest |
//! |---|---|---|---|---|---|---|
//! | check | 192 KiB | 496 KiB | 4.8 MiB | 7.6 KiB | 4.4 KiB | 116 KiB |
//! | explain | 240 KiB | 752 KiB | 7.0 MiB | 12.8 KiB | 6.4 KiB | 112 KiB |
//! | expand | 192 KiB | 560 KiB | 7.8 MiB | 9.2 KiB | 7.4 KiB | 100 KiB |
//! | lookup resources | 208 KiB | 528 KiB | 4.8 MiB | 8.0 KiB | 4.4 KiB | 128 KiB |
//! | lookup subjects | 192 KiB | 512 KiB | 4.8 MiB | 8.0 KiB | 4.4 KiB | 112 KiB |
//!
//! [`stack_size`] takes the worst of each column ([`STEP_MEASURED`], [`OPERATOR_MEASURED`],
//! [`BASE_MEASURED`], rounded up) for two more steps than the limit, times [`MARGIN`] (4): room for frames
//! the chains do not exercise (a relation's subject sets, cycles), for compiler and dependency changes,
//! and for the database call at the leaf, whose depth varies with the driver (PostgreSQL's is not
//! SQLite's). At the default limit that is about 4.9 MiB for a schema whose expressions are 1 high and
//! 11 MiB at height 5; the deepest expression the parser admits (100) takes about 166 MiB of address
//! space, of which a walk touches only what it uses.
//!
//! # Checks where the request is
//! A walk over SQLite never waits (its reads run synchronously on the asking thread, see
//! `store::sqlite_reads`), so its future is ready at its first poll. A single check then runs on the
//! runtime thread that holds the request ([`run_here`]) when that thread's stack has room for
//! [`stack_size`]: the origin's runtime threads reserve [`RUNTIME_STACK`] for this. A fresh thread per
//! check cost more than the check (creating it, and two wake-ups across threads on a small machine).
//! Lookups, expansions and bulk checks, which may walk for long, stay on threads of their own.
//!
//! Before the engine read the store through a boxed future made in a frame of its own
//! (`Engine::stored`), the reader's future took a slot in every frame of the recursion: 37 KiB per step
//! and 26 KiB per operator, which is why a 2 MiB thread overflowed at about 31 to 37 steps.

use std::cell::Cell;
use std::sync::Arc;

use tessera_authz::{Engine, Schema};
use tokio::sync::Semaphore;

use crate::authz::store::SnapshotReader;

/// Measured stack bytes per nested step (debug build, the worst operation: explain), rounded up.
pub const STEP_MEASURED: usize = 13 * 1024;
/// Measured stack bytes per expression operator on the evaluation path, per step (expand), rounded up.
pub const OPERATOR_MEASURED: usize = 8 * 1024;
/// Measured stack bytes outside the recursion (lookup resources), rounded up.
pub const BASE_MEASURED: usize = 160 * 1024;
/// The safety factor over the measured figures.
pub const MARGIN: usize = 4;

/// The stack each thread of the origin's runtime reserves (address space: only what a walk touches is
/// backed by memory), so single checks can run where their request is ([`run_here`]).
pub const RUNTIME_STACK: usize = 16 << 20;
/// What a runtime thread may already use below an evaluation (the runtime, hyper, axum, the handler).
const RUNTIME_STACK_BELOW: usize = 2 << 20;

thread_local! {
    /// The stack this thread reserved, when the origin's runtime started it (0: unknown, never inline).
    static THREAD_STACK: Cell<usize> = const { Cell::new(0) };
}

/// Note that the current thread reserved `bytes` of stack: called as each runtime thread starts.
pub fn note_thread_stack(bytes: usize) {
    THREAD_STACK.with(|s| s.set(bytes));
}

/// Engine threads running at once; more evaluations wait for one to finish.
pub const MAX_THREADS: usize = 256;

static THREADS: Semaphore = Semaphore::const_new(MAX_THREADS);

/// The stack an evaluation needs with depth limit `max_depth` over a schema whose deepest expression has
/// height `expr_height` (see the module documentation for the figures).
#[must_use]
pub fn stack_size(max_depth: u32, expr_height: u32) -> usize {
    let steps = usize::try_from(max_depth)
        .unwrap_or(usize::MAX)
        .saturating_add(2);
    let height = usize::try_from(expr_height).unwrap_or(usize::MAX);
    let per_step = STEP_MEASURED.saturating_add(OPERATOR_MEASURED.saturating_mul(height));
    MARGIN.saturating_mul(BASE_MEASURED.saturating_add(steps.saturating_mul(per_step)))
}

/// The future an engine closure returns.
pub type EngineFuture<'e, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'e>>;

/// Run `f` on a fresh thread with a stack of `stack` bytes and return what it returns.
///
/// # Errors
/// When the thread cannot be started, or ends without an answer (it panicked).
pub async fn run<T, F>(stack: usize, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let permit = THREADS
        .acquire()
        .await
        .map_err(|e| format!("engine threads unavailable: {e}"))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("tessera-engine".to_owned())
        .stack_size(stack)
        .spawn(move || {
            // Held by the thread, not the request: an abandoned request does not free its place
            // while its evaluation still runs.
            let _permit = permit;
            // The receiver is gone only if the request was abandoned: nothing to tell.
            let _ = tx.send(f());
        })
        .map_err(|e| format!("cannot start an engine thread: {e}"))?;
    rx.await
        .map_err(|_| "the engine thread ended without an answer".to_owned())
}

/// Run `f` with an engine over `schema` and `reader` right here, when the reader never waits and this
/// thread's stack holds the walk (see the module documentation); else `f` back, untouched.
///
/// # Errors
/// (Inside) a walk that waited after all, which the SQLite reader never does.
pub fn run_here<T, F>(
    schema: &Schema,
    reader: &SnapshotReader,
    max_depth: u32,
    f: F,
) -> Result<Result<T, String>, F>
where
    F: for<'e> FnOnce(&'e Engine<'e, SnapshotReader>) -> EngineFuture<'e, T>,
{
    let room = THREAD_STACK
        .with(Cell::get)
        .saturating_sub(RUNTIME_STACK_BELOW);
    if !reader.never_waits() || stack_size(max_depth, schema.expr_height()) > room {
        return Err(f);
    }
    let engine = Engine::new(schema, reader).with_max_depth(max_depth);
    let mut walk = f(&engine);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    Ok(match walk.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Ok(out),
        std::task::Poll::Pending => {
            Err("an engine walk over SQLite waited, which it never should".to_owned())
        }
    })
}

/// Run `f` with an engine over `schema` and `reader` (depth limit `max_depth`) on a thread sized for it,
/// driven by the current Tokio runtime.
///
/// # Errors
/// As [`run`].
pub async fn with_engine<T, F>(
    schema: Arc<Schema>,
    reader: SnapshotReader,
    max_depth: u32,
    f: F,
) -> Result<T, String>
where
    T: Send + 'static,
    F: for<'e> FnOnce(&'e Engine<'e, SnapshotReader>) -> EngineFuture<'e, T> + Send + 'static,
{
    with_engine_and_reader(schema, reader, max_depth, f)
        .await
        .map(|(t, _)| t)
}

/// As [`with_engine`], and the reader back (what it read, for a kept decision).
///
/// # Errors
/// As [`run`].
pub async fn with_engine_and_reader<T, F>(
    schema: Arc<Schema>,
    reader: SnapshotReader,
    max_depth: u32,
    f: F,
) -> Result<(T, SnapshotReader), String>
where
    T: Send + 'static,
    F: for<'e> FnOnce(&'e Engine<'e, SnapshotReader>) -> EngineFuture<'e, T> + Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    let stack = stack_size(max_depth, schema.expr_height());
    run(stack, move || {
        // Inside the runtime's context (a database connection is taken through it); the reader, and its
        // connection, go back to the request, which returns the connection to its pool.
        let _context = handle.enter();
        handle.block_on(async move {
            let out = {
                let engine = Engine::new(&schema, &reader).with_max_depth(max_depth);
                f(&engine).await
            };
            (out, reader)
        })
    })
    .await
}
