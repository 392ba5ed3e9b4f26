//! The region's rows in the database, and what the database is.
//!
//! - `region_cluster`: one random identity per database cluster, written once by the first origin on the
//!   primary; its replicas replay it, so origins follow only peers on their own cluster.
//! - `region_heartbeat`: the current primary's origins write the region, its timeline and the time every
//!   tick; a replica replays it like any other write, so the age of the newest heartbeat it has replayed is
//!   its lag (pt-heartbeat's method). It needs the regions' clocks to agree (NTP), as PostgreSQL's own
//!   `pg_last_xact_replay_timestamp()` does, and unlike that one it does not grow while the primary is
//!   idle.

use sqlx::Row as _;

use crate::on_db;
use crate::store::{retry, Db};

/// A heartbeat as replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub region: String,
    pub timeline: u32,
    pub at_ms: i64,
}

/// One look at the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbState {
    /// Not in recovery: takes writes. `timeline`: the WAL timeline (grows at each promotion).
    Primary {
        timeline: u32,
        cluster: Option<String>,
    },
    /// A hot standby, with the newest heartbeat it has replayed, if any.
    Replica {
        heartbeat: Option<Heartbeat>,
        cluster: Option<String>,
    },
}

impl DbState {
    #[must_use]
    pub fn cluster(&self) -> Option<&str> {
        match self {
            Self::Primary { cluster, .. } | Self::Replica { cluster, .. } => cluster.as_deref(),
        }
    }
}

/// Look at `db`: SQLite is always a primary (timeline 1).
///
/// # Errors
/// The database cannot be reached or answers nonsense.
pub async fn probe(db: &Db) -> Result<DbState, sqlx::Error> {
    let Db::Postgres(pool) = db else {
        return Ok(DbState::Primary {
            timeline: 1,
            cluster: None,
        });
    };
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(pool)
        .await?;
    let cluster: Option<String> =
        sqlx::query_scalar("SELECT cluster FROM region_cluster WHERE id = 1")
            .fetch_optional(pool)
            .await?;
    if in_recovery {
        let row = sqlx::query("SELECT region, timeline, at_ms FROM region_heartbeat WHERE id = 1")
            .fetch_optional(pool)
            .await?;
        let heartbeat = row
            .map(|r| -> Result<Heartbeat, sqlx::Error> {
                let timeline: i64 = r.try_get("timeline")?;
                Ok(Heartbeat {
                    region: r.try_get("region")?,
                    timeline: u32::try_from(timeline).unwrap_or(0),
                    at_ms: r.try_get("at_ms")?,
                })
            })
            .transpose()?;
        return Ok(DbState::Replica { heartbeat, cluster });
    }
    // A WAL file's name starts with its timeline in 8 hex digits (`00000002000000000000000A`).
    let file: String = match sqlx::query_scalar("SELECT pg_walfile_name(pg_current_wal_lsn())")
        .fetch_one(pool)
        .await
    {
        Ok(file) => file,
        // A database without PostgreSQL's WAL (CockroachDB, YugabyteDB) has no standby and no
        // timeline: every node takes writes, so it is a primary, always on the first timeline.
        Err(e) if lacks_function(&e) => {
            return Ok(DbState::Primary {
                timeline: 1,
                cluster,
            })
        }
        Err(e) => return Err(e),
    };
    let timeline = file
        .get(..8)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or_else(|| sqlx::Error::Protocol(format!("unexpected WAL file name {file:?}")))?;
    Ok(DbState::Primary { timeline, cluster })
}

/// The database does not have the function asked for (SQLSTATE 42883 undefined_function, or 0A000
/// feature_not_supported, as databases that mimic PostgreSQL answer for what they leave out).
fn lacks_function(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("42883" | "0A000")))
}

/// Give the cluster its identity if it has none (`candidate`, random), on a primary; idempotent.
///
/// # Errors
/// Database failures.
pub async fn ensure_cluster(db: &Db, candidate: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => retry::transaction(|| async move {
        sqlx::query("INSERT INTO region_cluster (id, cluster) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(candidate)
            .execute(pool)
            .await
            .map(|_| ())
    }).await)
}

/// Write the heartbeat: `region` on `timeline` is the primary at `now_ms`. Not retried on a
/// serialization failure: the next tick writes it again.
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
