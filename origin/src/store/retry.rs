//! Running a transaction again when the database refuses it for a conflict with concurrent ones.
//!
//! Under `SERIALIZABLE` (CockroachDB's default, and PostgreSQL's when `default_transaction_isolation`
//! says so) a transaction that would commit out of a serial order fails with SQLSTATE `40001`
//! (`serialization_failure`), at any statement or at `COMMIT`; any database may pick a transaction as a
//! deadlock victim (`40P01`). Neither means the request was wrong: the same transaction run again, on a
//! state where the other one has committed, may pass. [`transaction`] reruns a whole attempt — `BEGIN`
//! to `COMMIT`, or one statement outside any transaction, which is a transaction of its own — never a
//! statement inside a transaction the server has already aborted, a bounded number of times with a short
//! random wait between attempts so that the contenders do not meet again.
//!
//! An attempt must have no effect outside the database that a rerun would repeat wrongly: anything it
//! keeps in memory must be true whatever became of the transaction (the parsed-schema cache keys a schema
//! by the revision it was written at, which never changes), and whatever depends on the commit (evicting
//! the relationship cache, audit, answers) happens after [`transaction`] returns. SQLite never answers
//! these codes (its writers queue on the database lock), so there an attempt runs once.

use std::future::Future;
use std::time::Duration;

/// How many times a transaction runs before its serialization failure is the answer: at most about
/// 2.8 s of waiting in all. The worst case is writers of one tenant under PostgreSQL's `SERIALIZABLE`,
/// where all but one of the writers waiting on the tenant's head row fail at each commit (CockroachDB
/// makes them wait instead): eight writers of ten writes each, as the conformance suite runs them,
/// needed up to 8 attempts in 10 runs (the count of writes needing `n` attempts falls by about half
/// per attempt), so 16 leaves a margin.
pub const MAX_ATTEMPTS: u32 = 16;

/// The wait before the second attempt is drawn from `[0, FIRST_WAIT)`; each further one doubles the
/// window, up to [`MAX_WAIT`] ("full jitter"). Starting at a few milliseconds, about one short
/// transaction, rather than at 1 ms: the first retries of contenders that failed together otherwise
/// meet again.
const FIRST_WAIT: Duration = Duration::from_millis(10);
const MAX_WAIT: Duration = Duration::from_millis(250);

/// An error that can say whether running the same transaction again may succeed.
pub trait Retryable {
    /// The database refused the transaction for a conflict with concurrent ones (SQLSTATE `40001`
    /// serialization_failure or `40P01` deadlock_detected), and rolled it back.
    fn is_retryable(&self) -> bool;
}

impl Retryable for sqlx::Error {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Database(e) if matches!(e.code().as_deref(), Some("40001" | "40P01")))
    }
}

/// Run `attempt` until it succeeds, fails for another reason, or has failed [`MAX_ATTEMPTS`] times with
/// a [`Retryable`] error (then that error is the answer). `attempt` is a whole transaction: see the
/// module documentation for what it may and may not do besides. It is a closure that makes the attempt's
/// future, `|| async move { ... }`, over references to what the transaction needs (an async closure
/// would read better, but the futures it lends are not provably `Send` for the HTTP handlers).
///
/// # Errors
/// The last attempt's error.
pub async fn transaction<T, E, A>(mut attempt: impl FnMut() -> A) -> Result<T, E>
where
    E: Retryable,
    A: Future<Output = Result<T, E>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_retryable() && tries < MAX_ATTEMPTS => {
                tracing::debug!(
                    tries,
                    "serialization failure: running the transaction again"
                );
                tokio::time::sleep(wait_before(tries)).await;
                tries += 1;
            }
            done => return done,
        }
    }
}

/// A random wait after `failures` failed attempts, uniform in [`window`]`(failures)`.
fn wait_before(failures: u32) -> Duration {
    let window = window(failures);
    // Without randomness (the OS refused it), the whole window: slower, still bounded.
    let draw = crate::random_bytes::<4>().map_or(u32::MAX, u32::from_le_bytes);
    let nanos = window.as_nanos().saturating_mul(u128::from(draw)) >> 32;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// `[0, min(MAX_WAIT, FIRST_WAIT · 2^(failures - 1)))`.
fn window(failures: u32) -> Duration {
    FIRST_WAIT
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_stay_bounded() {
        for failures in 1..=MAX_ATTEMPTS + 40 {
            let w = wait_before(failures);
            assert!(w < window(failures), "{w:?} after {failures} failures");
            assert!(w < MAX_WAIT);
        }
    }

    #[derive(Debug)]
    struct Conflict(bool);

    impl Retryable for Conflict {
        fn is_retryable(&self) -> bool {
            self.0
        }
    }

    #[tokio::test]
    async fn reruns_only_retryable_failures_and_only_so_often() {
        let runs = std::cell::Cell::new(0);
        let out: Result<(), Conflict> = transaction(|| async {
            runs.set(runs.get() + 1);
            Err(Conflict(true))
        })
        .await;
        assert!(out.is_err());
        assert_eq!(runs.get(), MAX_ATTEMPTS);

        let runs = std::cell::Cell::new(0);
        let out: Result<u32, Conflict> = transaction(|| async {
            runs.set(runs.get() + 1);
            if runs.get() < 3 {
                Err(Conflict(true))
            } else {
                Ok(runs.get())
            }
        })
        .await;
        assert_eq!(out.unwrap(), 3);

        let runs = std::cell::Cell::new(0);
        let out: Result<(), Conflict> = transaction(|| async {
            runs.set(runs.get() + 1);
            Err(Conflict(false))
        })
        .await;
        assert!(out.is_err());
        assert_eq!(runs.get(), 1, "other errors are the answer at once");
    }
}
