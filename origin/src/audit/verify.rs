//! `verify`: a tenant's hash chain walked from retention's anchor to its head, every link recomputed, in
//! one snapshot of the database; each break named (`edited`, `missing`, `head`, `anchor`).

use tessera_proto::audit::{AuditRecord, ChainBreak, ChainReport};

use super::chain::{self, GENESIS};
use super::store::{corrupt, day_of, row_to_record, AuditStore, COLUMNS};
use crate::on_db;
use crate::store::Db;

impl AuditStore {
    /// Walk `tenant`'s chain from its anchor to its head, recomputing every link, in one snapshot of the
    /// database (appends and retention meanwhile are not seen half done). `keep_days`: the tenant's
    /// retention, against which the anchor is judged (retention never removes a day it keeps), as of
    /// `now_ms`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn verify(
        &self,
        tenant: &str,
        keep_days: u32,
        now_ms: i64,
    ) -> Result<ChainReport, sqlx::Error> {
        const PAGE: i64 = 5000;
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let mut walk = Walk::new(tenant);
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            if matches!(self.db, Db::Postgres(_)) {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
            }
            let anchor: Option<(i64, String, i64)> =
                sqlx::query_as("SELECT seq, hash, day FROM audit_anchors WHERE tenant = $1")
                    .bind(tenant).fetch_optional(&mut *tx).await?;
            let head: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE tenant = $1")
                    .bind(tenant).fetch_optional(&mut *tx).await?;
            walk.anchor(anchor, keep_days, day_of(now_ms))?;
            // Records at or below the anchor should be gone: retention removed them.
            let stale: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE tenant = $1 AND seq <= $2")
                .bind(tenant).bind(i64::try_from(walk.anchor_seq).unwrap_or(i64::MAX))
                .fetch_one(&mut *tx).await?;
            if stale > 0 {
                walk.brk(walk.anchor_seq, "anchor", format!(
                    "{stale} record(s) at or before record {} are still stored, though the anchor says retention removed them: the anchor was moved",
                    walk.anchor_seq
                ));
            }
            let mut after = i64::try_from(walk.anchor_seq).unwrap_or(i64::MAX);
            loop {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(tenant).bind(after).bind(PAGE).fetch_all(&mut *tx).await?;
                let page = rows.iter().map(row_to_record).collect::<Result<Vec<_>, _>>()?;
                let Some((tail, _)) = page.last() else { break };
                after = i64::try_from(tail.seq).unwrap_or(i64::MAX);
                for (rec, detail) in page {
                    walk.record(&rec, &detail);
                }
            }
            walk.head(head);
            tx.commit().await?;
        });
        Ok(walk.report)
    }
}

/// What `verify` has seen so far of a chain.
struct Walk {
    report: ChainReport,
    anchor_seq: u64,
    expected: u64,
    prev: [u8; 32],
    last: Option<(u64, String)>,
}

impl Walk {
    const MAX_BREAKS: usize = 100;

    fn new(tenant: &str) -> Self {
        Self {
            report: ChainReport {
                tenant: tenant.to_owned(),
                records: 0,
                first_seq: 0,
                last_seq: 0,
                breaks: Vec::new(),
            },
            anchor_seq: 0,
            expected: 1,
            prev: GENESIS,
            last: None,
        }
    }

    fn brk(&mut self, seq: u64, problem: &str, message: String) {
        if self.report.breaks.len() < Self::MAX_BREAKS {
            self.report.breaks.push(ChainBreak {
                seq,
                problem: problem.to_owned(),
                message,
            });
        }
    }

    /// Start from retention's anchor, judged against the tenant's retention: a cut day within the
    /// retention window means records were removed before their time.
    fn anchor(
        &mut self,
        anchor: Option<(i64, String, i64)>,
        keep_days: u32,
        today: i64,
    ) -> Result<(), sqlx::Error> {
        let Some((seq, hash, cut_day)) = anchor else {
            return Ok(());
        };
        self.anchor_seq = u64::try_from(seq).unwrap_or(0);
        self.expected = self.anchor_seq + 1;
        self.prev = chain::unhex(&hash)
            .ok_or_else(|| corrupt("an audit anchor is not a hash".to_owned()))?;
        let earliest_kept = today - i64::from(keep_days.max(1)) + 1;
        if cut_day > earliest_kept {
            self.brk(
                self.anchor_seq,
                "anchor",
                format!(
                    "the chain starts after record {}, cut {} day(s) inside the {keep_days} days this tenant keeps: records were removed before their time",
                    self.anchor_seq,
                    cut_day - earliest_kept
                ),
            );
        }
        Ok(())
    }

    fn record(&mut self, rec: &AuditRecord, detail: &str) {
        self.report.records += 1;
        if self.report.first_seq == 0 {
            self.report.first_seq = rec.seq;
        }
        self.report.last_seq = rec.seq;
        let gap = rec.seq != self.expected;
        if gap {
            let range = if rec.seq == self.expected + 1 {
                format!("record {} is missing", self.expected)
            } else {
                format!("records {} to {} are missing", self.expected, rec.seq - 1)
            };
            self.brk(
                self.expected,
                "missing",
                format!("{range}; record {} cannot be checked against them", rec.seq),
            );
        }
        let computed = chain::link(&self.prev, rec.seq, rec.stored_at_ms, &rec.event, detail);
        let recorded = chain::unhex(&rec.hash);
        if recorded != Some(computed) && !gap {
            self.brk(
                rec.seq,
                "edited",
                format!(
                    "record {} does not hash to its recorded hash: it, or the link before it, was changed",
                    rec.seq
                ),
            );
        }
        // Go on from the recorded link, so that one change is reported once.
        self.prev = recorded.unwrap_or(computed);
        self.expected = rec.seq + 1;
        self.last = Some((rec.seq, rec.hash.clone()));
    }

    fn head(&mut self, head: Option<(i64, String)>) {
        let Some((head_seq, head_hash)) = head else {
            return;
        };
        let head_seq = u64::try_from(head_seq).unwrap_or(0);
        match self.last.clone() {
            Some((seq, _)) if head_seq != seq => self.brk(
                seq + 1,
                "head",
                format!("the chain ends at record {seq}, its head names record {head_seq}: the newest records were removed"),
            ),
            Some((seq, hash)) if head_hash != hash => self.brk(
                seq,
                "head",
                format!("record {seq} is not the one the chain's head names: it was replaced"),
            ),
            None if head_seq > self.anchor_seq => self.brk(
                self.anchor_seq + 1,
                "head",
                format!(
                    "no records are left, but the chain's head names record {head_seq}: records {} to {head_seq} were removed",
                    self.anchor_seq + 1
                ),
            ),
            _ => {}
        }
    }
}
