//! Where audit records live: `audit_events`, append-only, organised by the day the origin stored each
//! record, so that retention removes whole days.
//!
//! - PostgreSQL: `audit_events` is partitioned by range of `day` (days since 1970-01-01), one partition a
//!   day (`audit_events_YYYYMMDD`), made ahead of need; retention drops a partition once every tenant in
//!   it is past its retention, and deletes one tenant's days only where tenants' retentions differ.
//! - SQLite: one table clustered by `(tenant, day, seq)` (`WITHOUT ROWID`): a tenant's day is one
//!   contiguous range of the b-tree, which retention deletes.
//!
//! Each tenant's records form a hash chain (`super::chain`): `audit_heads` holds the newest link, taken
//! under the head row's lock by every append (so appends of one tenant queue, and the chain has no
//! forks), and `audit_anchors` the last link retention removed. A record is never updated (a trigger
//! refuses it). The same event id is stored at most once (a redelivered batch is a duplicate).
//!
//! `day` is the day a record was *stored*, not the day it happened: a tenant's chain grows with `day`, so
//! retention always removes a prefix of it, and [`AuditStore::verify`] can tell removal by retention
//! from removal by anyone else.

use sqlx::Row as _;
use tessera_proto::audit::{Actor, ActorKind, AuditEvent, AuditRecord, Outcome, Source};

use super::chain::{self, GENESIS};
use crate::on_db;
use crate::store::{retry, Db};

const DAY_MS: i64 = 86_400_000;

/// The day (since 1970-01-01, UTC) of a time in milliseconds.
#[must_use]
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// An event checked and ready to append: its detail as the JSON text stored and hashed.
pub struct Checked {
    pub event: AuditEvent,
    pub detail: String,
}

/// What an append did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub stored: usize,
    pub duplicates: usize,
}

/// What a query keeps (every field optional; all given ones must match).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub kind: Option<String>,
    pub actor: Option<(String, String)>,
    pub subject: Option<String>,
    pub resource: Option<String>,
    pub permission: Option<String>,
    pub outcome: Option<String>,
    pub code: Option<String>,
    pub request_id: Option<String>,
    pub tier: Option<String>,
    /// Only records older than this seq (the cursor of the previous page).
    pub before_seq: Option<u64>,
    /// Only records newer than this seq (`tail`).
    pub after_seq: Option<u64>,
}

#[derive(Clone)]
pub struct AuditStore {
    pub(super) db: Db,
    /// The days PostgreSQL has a partition for (that this origin knows of).
    partitions: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<i64>>>,
}

/// The columns of a record, in the order every `SELECT` and `INSERT` names them.
pub(super) const COLUMNS: &str = "tenant, day, seq, id, at_ms, stored_at_ms, kind, outcome, code, actor_kind, actor_id, \
     request_id, region, source, subject, resource, resource_type, permission, revision, zookie, consistency, \
     tier, latency_us, detail, hash";

impl AuditStore {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self {
            db,
            partitions: std::sync::Arc::default(),
        }
    }

    /// How a writing transaction starts: on SQLite with the write lock (`BEGIN IMMEDIATE`; a deferred one
    /// that reads first may find another writer committed meanwhile and fail with `SQLITE_BUSY` without
    /// waiting), on PostgreSQL plainly (the head row's lock orders writers).
    fn begin_write(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "BEGIN IMMEDIATE",
            Db::Postgres(_) => "BEGIN",
        }
    }

    /// Make sure PostgreSQL has a partition for `day` (nothing to do on SQLite).
    ///
    /// # Errors
    /// Database failures other than another origin having made it first.
    pub async fn ensure_day(&self, day: i64) -> Result<(), sqlx::Error> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(());
        };
        if self.known(day) {
            return Ok(());
        }
        let (y, m, d) = tessera_proto::rfc3339::civil_from_days(day);
        // Built from integers only.
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS audit_events_{y:04}{m:02}{d:02} PARTITION OF audit_events FOR VALUES FROM ({day}) TO ({})",
            day + 1
        );
        match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await {
            Ok(_) => {}
            // Another origin made it at the same moment (the catalogue's unique index, or the name).
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("23505" | "42P07")) => {}
            Err(e) => return Err(e),
        }
        if let Ok(mut known) = self.partitions.lock() {
            known.insert(day);
        }
        Ok(())
    }

    fn known(&self, day: i64) -> bool {
        self.partitions.lock().is_ok_and(|k| k.contains(&day))
    }

    /// Append `events` of `tenant` at `now_ms`, in order, to its chain; events whose id is already stored
    /// are left out. One transaction: all of them or none.
    ///
    /// # Errors
    /// Database failures.
    pub async fn append(
        &self,
        tenant: &str,
        events: &[Checked],
        now_ms: i64,
    ) -> Result<Appended, sqlx::Error> {
        let today = day_of(now_ms);
        // Tomorrow's too: a head stored by an origin whose clock is ahead may already be there.
        self.ensure_day(today).await?;
        self.ensure_day(today + 1).await?;
        let begin = self.begin_write();
        on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin_with(begin).await?;
            // Take the head row first: appends of this tenant queue here (SQLite: the write lock, taken
            // by `BEGIN IMMEDIATE`, so that no other writer's commit can slip in after this one's snapshot).
            let head = sqlx::query(
                "INSERT INTO audit_heads (tenant, seq, hash, day, stored_at_ms) VALUES ($1, 0, '', 0, 0)
                 ON CONFLICT (tenant) DO UPDATE SET seq = audit_heads.seq
                 RETURNING seq, hash, day, stored_at_ms",
            )
            .bind(tenant)
            .fetch_one(&mut *tx)
            .await?;
            let mut seq = u64::try_from(head.try_get::<i64, _>("seq")?).unwrap_or(0);
            let head_hash: String = head.try_get("hash")?;
            // The chain's days and store times never go back, whatever this origin's clock says (origins
            // sharing a database may disagree by a little): retention then always removes a prefix.
            let day = today.max(head.try_get::<i64, _>("day")?);
            let now_ms = now_ms.max(head.try_get::<i64, _>("stored_at_ms")?);
            if day > today + 1 {
                return Err(corrupt(format!("the audit head of `{tenant}` is dated day {day}, after tomorrow: a clock is far ahead")));
            }
            let mut prev = if seq == 0 { GENESIS } else {
                chain::unhex(&head_hash).ok_or_else(|| corrupt(format!("the audit head of `{tenant}` is not a hash")))?
            };
            let mut done = Appended::default();
            let mut rollup = super::rollup::Rollup::default();
            for c in events {
                let e = &c.event;
                let exists: Option<i64> = sqlx::query_scalar(
                    "SELECT seq FROM audit_events WHERE id = $1 AND day >= $2",
                )
                .bind(&e.id)
                // Events are accepted up to 30 days old, so a redelivery is stored at most that long
                // after the first copy (one index seek per day partition looked at).
                .bind(day - 31)
                .fetch_optional(&mut *tx)
                .await?;
                if exists.is_some() {
                    done.duplicates += 1;
                    continue;
                }
                seq += 1;
                let hash = chain::link(&prev, seq, now_ms, e, &c.detail);
                let resource_type = e.resource.split_once(':').map_or("", |(t, _)| t);
                let sql = format!("INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant)
                    .bind(day)
                    .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                    .bind(&e.id)
                    .bind(e.at_ms)
                    .bind(now_ms)
                    .bind(&e.kind)
                    .bind(e.outcome.as_str())
                    .bind(&e.code)
                    .bind(e.actor.kind.as_str())
                    .bind(&e.actor.id)
                    .bind(&e.request_id)
                    .bind(&e.region)
                    .bind(e.source.as_str())
                    .bind(&e.subject)
                    .bind(&e.resource)
                    .bind(resource_type)
                    .bind(&e.permission)
                    .bind(e.revision.and_then(|r| i64::try_from(r).ok()))
                    .bind(&e.zookie)
                    .bind(&e.consistency)
                    .bind(&e.tier)
                    .bind(e.latency_us.and_then(|r| i64::try_from(r).ok()))
                    .bind(&c.detail)
                    .bind(chain::hex(&hash))
                    .execute(&mut *tx)
                    .await?;
                prev = hash;
                done.stored += 1;
                rollup.add(e);
            }
            for ((minute, kind, outcome), n) in &rollup.minutes {
                sqlx::query(
                    "INSERT INTO audit_minutes (tenant, minute, kind, outcome, count) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant, minute, kind, outcome) DO UPDATE SET count = audit_minutes.count + excluded.count",
                )
                .bind(tenant).bind(minute).bind(kind).bind(*outcome).bind(n)
                .execute(&mut *tx).await?;
            }
            for ((minute, tier, bucket), n) in &rollup.latency {
                sqlx::query(
                    "INSERT INTO audit_latency (tenant, minute, tier, bucket, count) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant, minute, tier, bucket) DO UPDATE SET count = audit_latency.count + excluded.count",
                )
                .bind(tenant).bind(minute).bind(tier).bind(bucket).bind(n)
                .execute(&mut *tx).await?;
            }
            for ((hour, resource_type, permission), n) in &rollup.denied {
                sqlx::query(
                    "INSERT INTO audit_denied (tenant, hour, resource_type, permission, count) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant, hour, resource_type, permission) DO UPDATE SET count = audit_denied.count + excluded.count",
                )
                .bind(tenant).bind(hour).bind(resource_type).bind(permission).bind(n)
                .execute(&mut *tx).await?;
            }
            if done.stored > 0 {
                sqlx::query("UPDATE audit_heads SET seq = $1, hash = $2, day = $3, stored_at_ms = $4 WHERE tenant = $5")
                    .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                    .bind(chain::hex(&prev))
                    .bind(day)
                    .bind(now_ms)
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(done)
        }).await)
    }

    /// Records of `tenant` matching `f`, newest first, at most `limit`.
    ///
    /// # Errors
    /// Database failures or a corrupt row.
    pub async fn query(
        &self,
        tenant: &str,
        f: &Filter,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, sqlx::Error> {
        // A record is stored at or after it happened (a day's slack for clocks): older days cannot hold
        // a record from `from_ms` on.
        let min_day = f.from_ms.map_or(i64::MIN, |ms| day_of(ms) - 1);
        let (actor_kind, actor_id) = f.actor.clone().unzip();
        let newest_first = f.after_seq.is_none();
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events WHERE tenant = $1 AND day >= $2
               AND (CAST($3 AS BIGINT) IS NULL OR at_ms >= $3) AND (CAST($4 AS BIGINT) IS NULL OR at_ms < $4)
               AND (CAST($5 AS TEXT) IS NULL OR kind = $5)
               AND (CAST($6 AS TEXT) IS NULL OR actor_kind = $6) AND (CAST($7 AS TEXT) IS NULL OR actor_id = $7)
               AND (CAST($8 AS TEXT) IS NULL OR subject = $8) AND (CAST($9 AS TEXT) IS NULL OR resource = $9)
               AND (CAST($10 AS TEXT) IS NULL OR permission = $10) AND (CAST($11 AS TEXT) IS NULL OR outcome = $11)
               AND (CAST($12 AS TEXT) IS NULL OR code = $12) AND (CAST($13 AS TEXT) IS NULL OR request_id = $13)
               AND (CAST($14 AS TEXT) IS NULL OR tier = $14)
               AND (CAST($15 AS BIGINT) IS NULL OR seq < $15) AND (CAST($16 AS BIGINT) IS NULL OR seq > $16)
             ORDER BY {} LIMIT $17",
            if newest_first { "day DESC, seq DESC" } else { "day, seq" }
        );
        let seq = |s: Option<u64>| s.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
        on_db!(&self.db, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant).bind(min_day).bind(f.from_ms).bind(f.to_ms).bind(&f.kind)
                .bind(&actor_kind).bind(&actor_id).bind(&f.subject).bind(&f.resource)
                .bind(&f.permission).bind(&f.outcome).bind(&f.code).bind(&f.request_id).bind(&f.tier)
                .bind(seq(f.before_seq)).bind(seq(f.after_seq)).bind(i64::from(limit))
                .fetch_all(pool).await?;
            rows.iter().map(|r| row_to_record(r).map(|(rec, _)| rec)).collect()
        })
    }

    /// One record by event id.
    ///
    /// # Errors
    /// Database failures or a corrupt row.
    pub async fn by_id(&self, tenant: &str, id: &str) -> Result<Option<AuditRecord>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM audit_events WHERE tenant = $1 AND id = $2");
        on_db!(&self.db, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(id).fetch_optional(pool).await?;
            row.map(|r| row_to_record(&r).map(|(rec, _)| rec)).transpose()
        })
    }

    /// The statistics of `tenant`'s records in `[from_ms, to_ms)`, from the rollups (see
    /// `super::rollup`, `super::stats`): minutes, latency buckets and denial hours that start in the range.
    ///
    /// # Errors
    /// Database failures.
    pub async fn stats(
        &self,
        tenant: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<tessera_proto::audit::AuditStats, sqlx::Error> {
        use super::stats::{assemble, DeniedRow, LatencyRow, MinuteRow, TOP};
        let (minutes, denied, latencies): (Vec<MinuteRow>, Vec<DeniedRow>, Vec<LatencyRow>) = on_db!(&self.db, pool => {
            let minutes = sqlx::query_as(
                "SELECT minute, kind, outcome, count FROM audit_minutes
                 WHERE tenant = $1 AND minute >= $2 AND minute < $3",
            )
            .bind(tenant).bind(from_ms).bind(to_ms)
            .fetch_all(pool).await?;
            let denied = sqlx::query_as(
                "SELECT permission, resource_type, SUM(count) AS n FROM audit_denied
                 WHERE tenant = $1 AND hour >= $2 AND hour < $3
                 GROUP BY permission, resource_type ORDER BY n DESC, resource_type, permission LIMIT $4",
            )
            .bind(tenant).bind(from_ms.div_euclid(3_600_000) * 3_600_000).bind(to_ms).bind(i64::from(TOP))
            .fetch_all(pool).await?;
            let latencies = sqlx::query_as(
                "SELECT tier, bucket, SUM(count) FROM audit_latency
                 WHERE tenant = $1 AND minute >= $2 AND minute < $3 GROUP BY tier, bucket",
            )
            .bind(tenant).bind(from_ms).bind(to_ms)
            .fetch_all(pool).await?;
            (minutes, denied, latencies)
        });
        Ok(assemble(&minutes, &denied, &latencies, from_ms, to_ms))
    }

    /// Tenants with an audit chain.
    ///
    /// # Errors
    /// Database failures.
    pub async fn tenants(&self) -> Result<Vec<String>, sqlx::Error> {
        on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT tenant FROM audit_heads ORDER BY tenant").fetch_all(pool).await
        })
    }

    /// The tenant's retention in days, if it set one.
    ///
    /// # Errors
    /// Database failures.
    pub async fn retention(&self, tenant: &str) -> Result<Option<u32>, sqlx::Error> {
        let days: Option<i64> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT days FROM audit_retention WHERE tenant = $1").bind(tenant).fetch_optional(pool).await?
        });
        Ok(days.and_then(|d| u32::try_from(d).ok()))
    }

    /// Set the tenant's retention in days.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_retention(&self, tenant: &str, days: u32) -> Result<(), sqlx::Error> {
        on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query("INSERT INTO audit_retention (tenant, days) VALUES ($1, $2)
                         ON CONFLICT (tenant) DO UPDATE SET days = excluded.days")
                .bind(tenant).bind(i64::from(days)).execute(pool).await.map(|_| ())
        }).await)
    }

    /// Remove every record past its tenant's retention (`default_days` for tenants without their own),
    /// as of `now_ms`: whole days. Returns how many records went.
    ///
    /// # Errors
    /// Database failures.
    pub async fn apply_retention(
        &self,
        now_ms: i64,
        default_days: u32,
    ) -> Result<u64, sqlx::Error> {
        let today = day_of(now_ms);
        let oldest: Vec<(String, i64)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT tenant, MIN(day) FROM audit_events GROUP BY tenant").fetch_all(pool).await?
        });
        let mut removed = 0u64;
        let mut cut_all = i64::MAX;
        let mut cuts = Vec::new();
        for (tenant, min_day) in oldest {
            let keep = self
                .retention(&tenant)
                .await?
                .unwrap_or(default_days)
                .max(1);
            let cut = today - i64::from(keep) + 1;
            cut_all = cut_all.min(cut);
            if min_day < cut {
                cuts.push((tenant, cut));
            }
        }
        for (tenant, cut) in &cuts {
            let (gone, anchor_seq) = self.cut_tenant(tenant, *cut, cut_all).await?;
            removed += gone;
            // The cut, in the chain itself: an anchor no such record vouches for was not retention's.
            let mut e = super::event(
                tenant,
                tessera_proto::audit::kinds::AUDIT_RETENTION,
                Outcome::Success,
                Actor {
                    kind: ActorKind::Service,
                    id: "retention".to_owned(),
                },
            );
            e.id = super::new_id();
            e.at_ms = now_ms;
            e.detail.insert("applied".into(), true.into());
            e.detail.insert("anchor_seq".into(), anchor_seq.into());
            e.detail.insert("before_day".into(), (*cut).into());
            if let Ok(c) = super::check(e, now_ms) {
                self.append(tenant, &[c], now_ms).await?;
            }
        }
        if let Db::Postgres(pool) = &self.db {
            // Every tenant's anchor is written: whole days before `cut_all` go as partitions.
            let parts: Vec<String> = sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'audit_events'::regclass",
            )
            .fetch_all(pool)
            .await?;
            for name in parts {
                let Some(day) = partition_day(&name) else {
                    continue;
                };
                if day < cut_all {
                    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM {name}"
                    )))
                    .fetch_one(pool)
                    .await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
                        .execute(pool)
                        .await?;
                    removed += u64::try_from(count).unwrap_or(0);
                    if let Ok(mut known) = self.partitions.lock() {
                        known.remove(&day);
                    }
                    tracing::info!(partition = %name, records = count, "audit retention dropped a day");
                }
            }
        }
        Ok(removed)
    }

    /// Anchor `tenant`'s chain at its last record before day `cut`, then remove its records before
    /// `cut` — on PostgreSQL only those from `keep_whole` on (older days go as whole partitions).
    async fn cut_tenant(
        &self,
        tenant: &str,
        cut: i64,
        keep_whole: i64,
    ) -> Result<(u64, i64), sqlx::Error> {
        let postgres = matches!(self.db, Db::Postgres(_));
        let begin = self.begin_write();
        on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin_with(begin).await?;
            // The head's lock: no append of this tenant runs meanwhile.
            sqlx::query("UPDATE audit_heads SET seq = seq WHERE tenant = $1").bind(tenant).execute(&mut *tx).await?;
            let last: Option<(i64, String)> = sqlx::query_as(
                "SELECT seq, hash FROM audit_events WHERE tenant = $1 AND day < $2 ORDER BY day DESC, seq DESC LIMIT 1",
            )
            .bind(tenant).bind(cut).fetch_optional(&mut *tx).await?;
            let Some((seq, hash)) = last else { return Ok((0, 0)) };
            sqlx::query(
                "INSERT INTO audit_anchors (tenant, seq, hash, day) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, day = excluded.day
                 WHERE excluded.seq > audit_anchors.seq",
            )
            .bind(tenant).bind(seq).bind(&hash).bind(cut).execute(&mut *tx).await?;
            let from = if postgres { keep_whole } else { i64::MIN };
            let done = sqlx::query("DELETE FROM audit_events WHERE tenant = $1 AND day >= $2 AND day < $3")
                .bind(tenant).bind(from).bind(cut).execute(&mut *tx).await?;
            // The rollups of the days removed (by the events' own time, which is at or before the day
            // they were stored).
            let cut_ms = cut.saturating_mul(86_400_000);
            for table in ["audit_minutes", "audit_latency"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE tenant = $1 AND minute < $2")))
                    .bind(tenant).bind(cut_ms).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM audit_denied WHERE tenant = $1 AND hour < $2")
                .bind(tenant).bind(cut_ms).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok((done.rows_affected(), seq))
        }).await)
    }
}

/// The day of a partition named `audit_events_YYYYMMDD`.
fn partition_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("audit_events_")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let text = format!(
        "{}-{}-{}T00:00:00Z",
        digits.get(0..4)?,
        digits.get(4..6)?,
        digits.get(6..8)?
    );
    let t = tessera_proto::rfc3339::parse_unix_time(&text)?;
    Some(day_of(t.as_millis()))
}

pub(super) fn corrupt(message: String) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}

/// A row as a record, with the detail text exactly as stored (what the chain hashed).
pub(super) fn row_to_record<R: sqlx::Row>(r: &R) -> Result<(AuditRecord, String), sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let text = |col: &str| -> Result<String, sqlx::Error> { r.try_get(col) };
    let unsigned = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    let outcome = text("outcome")?;
    let actor_kind = text("actor_kind")?;
    let source = text("source")?;
    let detail = text("detail")?;
    let event = AuditEvent {
        id: text("id")?,
        at_ms: r.try_get("at_ms")?,
        tenant: text("tenant")?,
        kind: text("kind")?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt(format!("outcome `{outcome}`")))?,
        code: text("code")?,
        actor: Actor {
            kind: ActorKind::parse(&actor_kind)
                .ok_or_else(|| corrupt(format!("actor kind `{actor_kind}`")))?,
            id: text("actor_id")?,
        },
        request_id: text("request_id")?,
        region: text("region")?,
        source: Source::parse(&source).ok_or_else(|| corrupt(format!("source `{source}`")))?,
        subject: text("subject")?,
        resource: text("resource")?,
        permission: text("permission")?,
        revision: unsigned(r.try_get("revision")?),
        zookie: text("zookie")?,
        consistency: text("consistency")?,
        tier: text("tier")?,
        latency_us: unsigned(r.try_get("latency_us")?),
        // A detail that is not a JSON object is shown empty; `verify` still hashes the stored text.
        detail: serde_json::from_str(&detail).unwrap_or_default(),
    };
    let record = AuditRecord {
        event,
        seq: unsigned(Some(r.try_get("seq")?)).unwrap_or(0),
        stored_at_ms: r.try_get("stored_at_ms")?,
        hash: text("hash")?,
    };
    Ok((record, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_give_their_day() {
        assert_eq!(partition_day("audit_events_19700101"), Some(0));
        assert_eq!(partition_day("audit_events_19700102"), Some(1));
        assert_eq!(partition_day("audit_events_2026113"), None);
        assert_eq!(partition_day("audit_events_default"), None);
        assert_eq!(partition_day("other_19700101"), None);
    }

    #[test]
    fn days_are_utc_and_floor_before_the_epoch() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-1), -1);
    }
}
