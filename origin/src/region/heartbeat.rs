//! What an origin's own database is, and how far behind: the primary's origins write a heartbeat row
//! (the region, its timeline and the time) every tick; a replica replays it like any other write, so the
//! age of the newest heartbeat it has replayed is its lag (pt-heartbeat's method). It needs the clocks of
//! the regions to agree (NTP), which PostgreSQL's own `pg_last_xact_replay_timestamp()` needs as well, and
//! unlike that one it does not grow while the primary is idle.

use sqlx::Row as _;

use crate::on_db;
use crate::store::Db;

/// One look at the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbState {
    /// Not in recovery: takes writes. `timeline`: the WAL timeline (grows at each promotion).
    Primary { timeline: u32 },
    /// A hot standby; `heartbeat`: the newest heartbeat it has replayed (timeline, unix ms), if any.
    Replica { heartbeat: Option<(u32, i64)> },
}

/// Look at `db`: SQLite is always a primary (timeline 1).
///
/// # Errors
/// The database cannot be reached or answers nonsense.
pub async fn probe(db: &Db) -> Result<DbState, sqlx::Error> {
    let Db::Postgres(pool) = db else {
        return Ok(DbState::Primary { timeline: 1 });
    };
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(pool)
        .await?;
    if in_recovery {
        let row = sqlx::query("SELECT timeline, at_ms FROM region_heartbeat WHERE id = 1")
            .fetch_optional(pool)
            .await?;
        let heartbeat = row
            .map(|r| -> Result<(u32, i64), sqlx::Error> {
                let timeline: i64 = r.try_get("timeline")?;
                Ok((u32::try_from(timeline).unwrap_or(0), r.try_get("at_ms")?))
            })
            .transpose()?;
        return Ok(DbState::Replica { heartbeat });
    }
    // A WAL file's name starts with its timeline in 8 hex digits (`00000002000000000000000A`).
    let file: String = sqlx::query_scalar("SELECT pg_walfile_name(pg_current_wal_lsn())")
        .fetch_one(pool)
        .await?;
    let timeline = file
        .get(..8)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or_else(|| sqlx::Error::Protocol(format!("unexpected WAL file name {file:?}")))?;
    Ok(DbState::Primary { timeline })
}

/// Write the heartbeat: `region` on `timeline` is the primary at `now_ms`.
///
/// # Errors
/// Database failures (a replica refuses: read-only transaction).
pub async fn beat(db: &Db, region: &str, timeline: u32, now_ms: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO region_heartbeat (id, region, timeline, at_ms) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET region = excluded.region, timeline = excluded.timeline, at_ms = excluded.at_ms",
        )
        .bind(region)
        .bind(i64::from(timeline))
        .bind(now_ms)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// Milliseconds since the Unix epoch by the origin's clock.
#[must_use]
pub fn now_ms() -> i64 {
    crate::now().as_millis()
}
