//! The ClickHouse sink: every stored audit record, copied to a ClickHouse table over its HTTP interface
//! (`INSERT ... FORMAT JSONEachRow`), where large installations keep and query years of decisions.
//!
//! Delivery is at least once. The origin's database keeps, per tenant, the last seq exported
//! (`audit_exports`); the exporter reads the records after it in chain order, inserts them as one batch,
//! and moves the mark only once ClickHouse has answered `200`. A failed insert is retried with a growing
//! pause (1 s to 1 minute), from the same mark; an insert that landed but whose answer was lost is sent
//! again, and the table removes the copy: it is a `ReplacingMergeTree` keyed by `(tenant, seq)`, which
//! is unique per record (read with `FINAL` to see each once before merges run).
//!
//! The table (made at start if missing; [`ddl`]), partitioned by the day the event happened:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS audit_events (
//!     tenant String, seq UInt64, id String, at_ms Int64, stored_at_ms Int64, kind String, outcome String,
//!     code String, actor_kind String, actor_id String, request_id String, region String, source String,
//!     subject String, resource String, permission String, revision Nullable(UInt64), zookie String,
//!     consistency String, tier String, latency_us Nullable(UInt64), detail String, hash String
//! ) ENGINE = ReplacingMergeTree(stored_at_ms)
//! PARTITION BY toYYYYMMDD(toDateTime(intDiv(at_ms, 1000), 'UTC'))
//! ORDER BY (tenant, seq)
//! TTL toDate(toDateTime(intDiv(at_ms, 1000), 'UTC')) + INTERVAL 1825 DAY
//! ```
//!
//! The `TTL` clause needs ClickHouse 19.6 or newer; on an older server (Debian's package is 18.16) the
//! table is made without it and the exporter drops the day partitions past the retention itself, once a
//! day. Only an origin whose database is the primary exports (the mark is a write); origins sharing one
//! database may export at once — the mark only moves forward, and copies are removed as above.

use std::time::Duration;

use tessera_proto::audit::AuditRecord;

use super::store::{AuditStore, Filter};
use crate::on_db;
use crate::store::{retry, Db};

/// Records per insert at most.
const BATCH: u32 = 5_000;
/// How often the exporter looks for new records when it has caught up.
const IDLE: Duration = Duration::from_millis(500);

/// Where and how to export.
#[derive(Clone, Debug)]
pub struct ClickHouseSettings {
    /// The HTTP interface, e.g. `http://127.0.0.1:8123` (no trailing slash).
    pub url: String,
    pub database: String,
    pub table: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Days ClickHouse keeps a record (TTL, or partitions dropped by the exporter).
    pub retention_days: u32,
}

impl ClickHouseSettings {
    /// # Errors
    /// A URL that is not http(s), or database/table names that are not plain identifiers.
    pub fn check(&self) -> Result<(), String> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err("--clickhouse-url must be an http:// or https:// URL".to_owned());
        }
        for (what, name) in [("database", &self.database), ("table", &self.table)] {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(format!(
                    "--clickhouse-{what} `{}` must be letters, digits and `_`",
                    name.escape_debug()
                ));
            }
        }
        if self.retention_days == 0 {
            return Err("--clickhouse-retention-days must be at least 1".to_owned());
        }
        Ok(())
    }

    fn qualified(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }
}

/// The table's DDL; `ttl`: the server understands a `TTL` clause (19.6 and newer).
#[must_use]
pub fn ddl(s: &ClickHouseSettings, ttl: bool) -> String {
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (
    tenant String, seq UInt64, id String, at_ms Int64, stored_at_ms Int64, kind String, outcome String,
    code String, actor_kind String, actor_id String, request_id String, region String, source String,
    subject String, resource String, permission String, revision Nullable(UInt64), zookie String,
    consistency String, tier String, latency_us Nullable(UInt64), detail String, hash String
) ENGINE = ReplacingMergeTree(stored_at_ms)
PARTITION BY toYYYYMMDD(toDateTime(intDiv(at_ms, 1000), 'UTC'))
ORDER BY (tenant, seq)",
        s.qualified()
    );
    if ttl {
        sql.push_str(&format!(
            "\nTTL toDate(toDateTime(intDiv(at_ms, 1000), 'UTC')) + INTERVAL {} DAY",
            s.retention_days
        ));
    }
    sql
}

/// Whether ClickHouse `version` (`18.16.1`, `24.8.4.13`) understands table TTL (19.6 and newer).
#[must_use]
pub fn has_ttl(version: &str) -> bool {
    let mut parts = version
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (19, 6)
}

/// One record as a `JSONEachRow` line.
fn row(r: &AuditRecord) -> serde_json::Value {
    let e = &r.event;
    serde_json::json!({
        "tenant": e.tenant, "seq": r.seq, "id": e.id, "at_ms": e.at_ms, "stored_at_ms": r.stored_at_ms,
        "kind": e.kind, "outcome": e.outcome.as_str(), "code": e.code, "actor_kind": e.actor.kind.as_str(),
        "actor_id": e.actor.id, "request_id": e.request_id, "region": e.region, "source": e.source.as_str(),
        "subject": e.subject, "resource": e.resource, "permission": e.permission, "revision": e.revision,
        "zookie": e.zookie, "consistency": e.consistency, "tier": e.tier, "latency_us": e.latency_us,
        "detail": serde_json::to_string(&e.detail).unwrap_or_default(), "hash": r.hash,
    })
}

/// The exporter.
pub struct Exporter {
    settings: ClickHouseSettings,
    store: AuditStore,
    db: Db,
    http: reqwest::Client,
    /// The server predates TTL: drop old partitions ourselves.
    drop_partitions: bool,
    last_drop_ms: i64,
}

impl Exporter {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(settings: ClickHouseSettings, db: Db) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build the HTTP client for ClickHouse: {e}"))?;
        Ok(Self {
            store: AuditStore::new(db.clone()),
            settings,
            db,
            http,
            drop_partitions: false,
            last_drop_ms: 0,
        })
    }

    /// Run one statement (`data`: the body after it, for inserts); the answer's text.
    async fn query(&self, sql: &str, data: Option<String>) -> Result<String, String> {
        let mut req = self
            .http
            .post(format!("{}/", self.settings.url))
            .query(&[("input_format_skip_unknown_fields", "1")]);
        req = match data {
            Some(body) => req.query(&[("query", sql)]).body(body),
            None => req.body(sql.to_owned()),
        };
        if let Some(user) = &self.settings.user {
            req = req.basic_auth(user, self.settings.password.as_deref());
        }
        let answer = req.send().await.map_err(|e| e.without_url().to_string())?;
        let status = answer.status();
        let text = answer
            .text()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if status.is_success() {
            Ok(text)
        } else {
            let first: String = text.trim().chars().take(300).collect();
            Err(format!("ClickHouse answered {status}: {first}"))
        }
    }

    /// Make the table (with TTL where the server has it).
    ///
    /// # Errors
    /// ClickHouse unreachable or refusing.
    pub async fn prepare(&mut self) -> Result<(), String> {
        let version = self.query("SELECT version()", None).await?;
        let ttl = has_ttl(&version);
        self.query(&ddl(&self.settings, ttl), None).await?;
        self.drop_partitions = !ttl;
        tracing::info!(version = version.trim(), ttl, table = %self.settings.qualified(), "audit export to ClickHouse ready");
        Ok(())
    }

    /// Export what each tenant has past its mark, one batch per tenant; returns the records sent.
    ///
    /// # Errors
    /// ClickHouse or the database failing (the marks stay where they were).
    pub async fn export_once(&mut self) -> Result<usize, String> {
        let tenants = self.store.tenants().await.map_err(|e| e.to_string())?;
        let mut sent = 0;
        for tenant in tenants {
            let mark = self.mark(&tenant).await.map_err(|e| e.to_string())?;
            let filter = Filter {
                after_seq: Some(mark),
                ..Filter::default()
            };
            let records = self
                .store
                .query(&tenant, &filter, BATCH)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = records.last().map(|r| r.seq) else {
                continue;
            };
            let mut body = String::new();
            for r in &records {
                body.push_str(&row(r).to_string());
                body.push('\n');
            }
            let insert = format!(
                "INSERT INTO {} FORMAT JSONEachRow",
                self.settings.qualified()
            );
            self.query(&insert, Some(body)).await?;
            self.advance(&tenant, last)
                .await
                .map_err(|e| e.to_string())?;
            sent += records.len();
        }
        if self.drop_partitions {
            self.drop_old_partitions().await?;
        }
        Ok(sent)
    }

    /// The last seq of `tenant` ClickHouse has (0: none).
    async fn mark(&self, tenant: &str) -> Result<u64, sqlx::Error> {
        let seq: Option<i64> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT seq FROM audit_exports WHERE tenant = $1")
                .bind(tenant).fetch_optional(pool).await?
        });
        Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }

    /// Move `tenant`'s mark to `seq` (never backwards).
    async fn advance(&self, tenant: &str, seq: u64) -> Result<(), sqlx::Error> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query(
                "INSERT INTO audit_exports (tenant, seq) VALUES ($1, $2)
                 ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > audit_exports.seq",
            )
            .bind(tenant).bind(seq).execute(pool).await.map(|_| ())
        }).await)
    }

    /// On a server without TTL: drop day partitions past the retention, at most once a day.
    async fn drop_old_partitions(&mut self) -> Result<(), String> {
        let now_ms = crate::now().as_millis();
        if now_ms - self.last_drop_ms < 86_400_000 {
            return Ok(());
        }
        let cutoff = now_ms - i64::from(self.settings.retention_days) * 86_400_000;
        let cutoff_day = tessera_proto::rfc3339::format_date_time(cutoff.div_euclid(1000));
        // `YYYYMMDD` of the cutoff, from `YYYY-MM-DDT...`.
        let cutoff_key: String = cutoff_day
            .chars()
            .filter(char::is_ascii_digit)
            .take(8)
            .collect();
        let sql = format!(
            "SELECT DISTINCT partition FROM system.parts WHERE database = '{}' AND table = '{}' AND active",
            self.settings.database, self.settings.table
        );
        let parts = self.query(&sql, None).await?;
        for p in parts.lines().map(str::trim) {
            let is_day = p.len() == 8 && p.bytes().all(|b| b.is_ascii_digit());
            if is_day && p < cutoff_key.as_str() {
                let drop = format!(
                    "ALTER TABLE {} DROP PARTITION {p}",
                    self.settings.qualified()
                );
                self.query(&drop, None).await?;
                tracing::info!(
                    partition = p,
                    "audit export dropped a day past the ClickHouse retention"
                );
            }
        }
        self.last_drop_ms = now_ms;
        Ok(())
    }
}

/// Export for as long as the process lives: prepare the table, then copy new records, retrying failures
/// with a growing pause. Only while this origin's database is the primary.
pub fn spawn(mut exporter: Exporter, regions: crate::region::Regions) {
    tokio::spawn(async move {
        let mut pause = Duration::from_secs(1);
        let mut prepared = false;
        loop {
            if regions.snapshot().role != tessera_proto::regions::RegionRole::Primary {
                tokio::time::sleep(IDLE).await;
                continue;
            }
            let done = if prepared {
                exporter.export_once().await
            } else {
                exporter.prepare().await.map(|()| 0)
            };
            match done {
                Ok(sent) => {
                    prepared = true;
                    pause = Duration::from_secs(1);
                    if sent == 0 {
                        tokio::time::sleep(IDLE).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX), "audit export to ClickHouse failed");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(60));
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ClickHouseSettings {
        ClickHouseSettings {
            url: "http://127.0.0.1:8123".into(),
            database: "default".into(),
            table: "audit_events".into(),
            user: None,
            password: None,
            retention_days: 30,
        }
    }

    #[test]
    fn ttl_comes_with_19_6() {
        assert!(!has_ttl("18.16.1"));
        assert!(!has_ttl("19.5.3.8"));
        assert!(has_ttl("19.6.2.11"));
        assert!(has_ttl("24.8.4.13\n"));
        assert!(!has_ttl("garbage"));
        assert!(ddl(&settings(), true).contains("INTERVAL 30 DAY"));
        assert!(!ddl(&settings(), false).contains("TTL"));
    }

    #[test]
    fn names_are_identifiers() {
        assert!(settings().check().is_ok());
        for (db, table) in [("a b", "t"), ("d", "t;DROP"), ("", "t"), ("d", "1t")] {
            let s = ClickHouseSettings {
                database: db.into(),
                table: table.into(),
                ..settings()
            };
            assert!(s.check().is_err(), "{db}.{table}");
        }
        let s = ClickHouseSettings {
            url: "ftp://x".into(),
            ..settings()
        };
        assert!(s.check().is_err());
    }
}
