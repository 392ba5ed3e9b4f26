//! Reads of the SQLite database on the caller's own thread, without sqlx.
//!
//! sqlx's SQLite driver runs every statement on a worker thread of its own and hands the rows back
//! through channels: about 115 µs per statement here, even `SELECT 1`, where SQLite itself answers an
//! indexed lookup in a few microseconds. The authorization engine asks many small questions per check
//! (the head revision, then one relationship key per step of its walk), so that hop was most of a check's
//! time. This pool keeps read-only connections (rusqlite, on the same bundled SQLite library as sqlx)
//! whose prepared statements stay compiled between uses, and runs each statement synchronously on the
//! thread that asks.
//!
//! Which threads may ask: the engine's own threads (see `authz::engine_thread`), which exist to block;
//! and, for one indexed lookup such as the head revision, a runtime worker: a lookup in pages SQLite has
//! cached takes microseconds, less than the hop it replaces. Writers stay on sqlx, whose pool serialises
//! them; in WAL mode these readers never wait for a writer, nor a writer for them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};

/// Idle connections kept; more are opened when needed and closed when returned. Those open at once are
/// bounded by their users: the engine's threads (`engine_thread::MAX_THREADS`), the runtime's threads (a
/// single check, the head revision), each holding one at a time.
const MAX_IDLE: usize = 16;
/// How long a read waits on a lock. In WAL mode a reader waits only in rare moments (recovering the WAL
/// after a crash, a checkpoint restarting it); a runtime thread must not sleep long for one.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(250);
/// Prepared statements kept compiled per connection.
const STATEMENTS: usize = 32;

/// A pool of read-only connections to one SQLite file.
pub struct SqliteReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteReads {
    /// A pool for the database at `path` (opened by the writer first: it exists and is in WAL mode).
    #[must_use]
    pub fn new(path: &Path) -> Arc<Self> {
        Arc::new(Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// An idle connection, or a new one.
    ///
    /// # Errors
    /// When a new connection cannot be opened.
    pub fn take(self: &Arc<Self>) -> Result<Lease, rusqlite::Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open()?,
        };
        Ok(Lease {
            pool: self.clone(),
            conn: Some(conn),
        })
    }

    fn open(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_WAIT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS);
        Ok(conn)
    }
}

/// A connection taken from [`SqliteReads`]; back to the pool when dropped, with any read transaction
/// it holds ended.
pub struct Lease {
    pool: Arc<SqliteReads>,
    conn: Option<Connection>,
}

impl std::ops::Deref for Lease {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // `conn` is `None` only inside `drop`.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A connection whose transaction cannot be ended is not given to anyone else.
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return;
        }
        let mut idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_and_ends_transactions_on_return() {
        let dir = std::env::temp_dir().join(format!("tessera-sqlite-reads-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.sqlite3");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);",
            )
            .unwrap();
        let pool = SqliteReads::new(&path);
        {
            let c = pool.take().unwrap();
            c.execute_batch("BEGIN").unwrap();
            let v: i64 = c.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
            assert_eq!(v, 1);
            // A read transaction sees its snapshot, not a later commit.
            writer.execute("UPDATE t SET v = 2", []).unwrap();
            let v: i64 = c.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
            assert_eq!(v, 1);
        }
        let c = pool.take().unwrap();
        assert!(
            c.is_autocommit(),
            "the returned connection's transaction was ended"
        );
        let v: i64 = c.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(v, 2);
        // Read-only: a write is refused.
        assert!(c.execute("UPDATE t SET v = 3", []).is_err());
        drop((c, pool, writer));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
