//! `tessera-origin audit ...`: the audit trail from the command line, against the database (as the API
//! answers it): `query`, `tail`, `stats`, `verify`, `retention`, `prune`.

use clap::{Args, Subcommand};
use tessera_origin::audit::http::time;
use tessera_origin::audit::store::{AuditStore, Filter};
use tessera_origin::store::Store;
use tessera_proto::audit::{AuditRecord, AuditStats, ChainReport};

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Records, newest first, as a table (or JSON lines with --json).
    Query {
        #[command(flatten)]
        filter: FilterArgs,
        /// At most this many records.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Older than this record (the `next:` a previous page printed).
        #[arg(long)]
        cursor: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Print records as they are stored, oldest first, until interrupted.
    Tail {
        #[command(flatten)]
        filter: FilterArgs,
        /// How often to look (ms).
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        #[arg(long)]
        json: bool,
    },
    /// Decisions per minute, latency by cache tier, top denied permissions, counts by kind.
    Stats {
        #[arg(long, default_value = "default")]
        tenant: String,
        /// From this long ago (`90s`, `15m`, `1h`, `7d`), unless --from says.
        #[arg(long, default_value = "1h")]
        since: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Recompute each tenant's hash chain; exits non-zero if any record was edited or removed.
    Verify {
        /// One tenant (default: every tenant with records).
        #[arg(long)]
        tenant: Option<String>,
        /// Retention of tenants that set none (as `serve --audit-retention-days`): an anchor inside it
        /// is a break.
        #[arg(long, env = "TESSERA_AUDIT_RETENTION_DAYS", default_value_t = 400)]
        default_days: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show a tenant's retention, or set it with --days.
    Retention {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3660))]
        days: Option<u32>,
    },
    /// Replay a recorded decision: evaluate it again at the revision it was answered at (and at the head),
    /// and say whether the answer and its reason path are the same. Exits non-zero when the replay at the
    /// recorded revision disagrees with the record.
    Explain {
        /// The event's id (`audit query` shows them with --json).
        id: String,
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Apply retention now (the origin does it every hour): remove days past each tenant's retention.
    Prune {
        /// Retention of tenants that set none (as `serve --audit-retention-days`).
        #[arg(long, env = "TESSERA_AUDIT_RETENTION_DAYS", default_value_t = 400)]
        default_days: u32,
    },
}

#[derive(Args)]
pub(crate) struct FilterArgs {
    #[arg(long, default_value = "default")]
    tenant: String,
    /// From this long ago (`90s`, `15m`, `1h`, `7d`).
    #[arg(long)]
    since: Option<String>,
    /// From this time (RFC 3339 or ms since the epoch).
    #[arg(long)]
    from: Option<String>,
    #[arg(long)]
    to: Option<String>,
    #[arg(long)]
    kind: Option<String>,
    /// `client:ID`, `user:ID`, `service`, `operator[:NAME]`, `anonymous`.
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    subject: Option<String>,
    #[arg(long)]
    resource: Option<String>,
    #[arg(long)]
    permission: Option<String>,
    #[arg(long)]
    outcome: Option<String>,
    #[arg(long)]
    code: Option<String>,
    #[arg(long)]
    request_id: Option<String>,
    #[arg(long)]
    tier: Option<String>,
}

/// `90s`, `15m`, `1h`, `7d` in milliseconds.
fn duration_ms(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "`{}` is not a duration like 90s, 15m, 1h or 7d",
            text.escape_debug()
        )
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let number: i64 = text
        .strip_suffix(unit)
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(bad)?;
    let scale = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return Err(bad()),
    };
    number.checked_mul(scale).ok_or_else(bad)
}

fn at(name: &str, text: &str) -> Result<i64, String> {
    time(name, text).map_err(|e| e.external_message)
}

impl FilterArgs {
    fn filter(&self) -> Result<Filter, String> {
        let mut query = String::new();
        let mut add = |name: &str, value: &Option<String>| {
            if let Some(v) = value {
                query.push_str(&format!(
                    "{}{name}={}",
                    if query.is_empty() { "" } else { "&" },
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                ));
            }
        };
        add("kind", &self.kind);
        add("actor", &self.actor);
        add("subject", &self.subject);
        add("resource", &self.resource);
        add("permission", &self.permission);
        add("outcome", &self.outcome);
        add("code", &self.code);
        add("request_id", &self.request_id);
        add("tier", &self.tier);
        let (mut f, _) = tessera_origin::audit::http::parse_filter(Some(&query))
            .map_err(|e| e.external_message)?;
        let now = tessera_origin::now().as_millis();
        f.from_ms = match (&self.from, &self.since) {
            (Some(from), _) => Some(at("--from", from)?),
            (None, Some(since)) => Some(now - duration_ms(since)?),
            (None, None) => None,
        };
        f.to_ms = self.to.as_deref().map(|t| at("--to", t)).transpose()?;
        Ok(f)
    }
}

pub(crate) async fn audit_cmd(store: &Store, command: AuditCommand) -> Result<(), String> {
    let audit = AuditStore::new(store.db().clone());
    let db_err = |e: sqlx::Error| e.to_string();
    match command {
        AuditCommand::Query {
            filter,
            limit,
            cursor,
            json,
        } => {
            let mut f = filter.filter()?;
            f.before_seq = cursor;
            let records = audit
                .query(&filter.tenant, &f, limit.clamp(1, 10_000))
                .await
                .map_err(db_err)?;
            print_records(&records, json, true);
            if !json && records.len() == limit as usize {
                if let Some(last) = records.last() {
                    println!("next: --cursor {}", last.seq);
                }
            }
            Ok(())
        }
        AuditCommand::Tail {
            filter,
            interval_ms,
            json,
        } => {
            let mut f = filter.filter()?;
            // Start from the newest record now.
            let newest = audit
                .query(&filter.tenant, &Filter::default(), 1)
                .await
                .map_err(db_err)?;
            f.after_seq = Some(newest.first().map_or(0, |r| r.seq));
            let mut header = !json;
            loop {
                let records = audit
                    .query(&filter.tenant, &f, 1000)
                    .await
                    .map_err(db_err)?;
                if let Some(last) = records.last() {
                    f.after_seq = Some(last.seq);
                }
                if !records.is_empty() {
                    print_records(&records, json, header);
                    header = false;
                }
                tokio::time::sleep(std::time::Duration::from_millis(interval_ms.max(100))).await;
            }
        }
        AuditCommand::Stats {
            tenant,
            since,
            from,
            to,
            json,
        } => {
            let now = tessera_origin::now().as_millis();
            let from = match from {
                Some(f) => at("--from", &f)?,
                None => now - duration_ms(&since)?,
            };
            let to = to.map(|t| at("--to", &t)).transpose()?.unwrap_or(now + 1);
            let stats = audit.stats(&tenant, from, to).await.map_err(db_err)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())?
                );
            } else {
                print_stats(&stats);
            }
            Ok(())
        }
        AuditCommand::Verify {
            tenant,
            json,
            default_days,
        } => {
            let tenants = match tenant {
                Some(t) => vec![t],
                None => audit.tenants().await.map_err(db_err)?,
            };
            let mut broken = 0;
            for t in tenants {
                let keep = audit
                    .retention(&t)
                    .await
                    .map_err(db_err)?
                    .unwrap_or(default_days);
                let report = audit
                    .verify(&t, keep, tessera_origin::now().as_millis())
                    .await
                    .map_err(db_err)?;
                if !report.breaks.is_empty() {
                    broken += 1;
                }
                if json {
                    println!(
                        "{}",
                        serde_json::to_string(&report).map_err(|e| e.to_string())?
                    );
                } else {
                    print_report(&report);
                }
            }
            if broken > 0 {
                Err(format!("{broken} tenant chain(s) are broken"))
            } else {
                Ok(())
            }
        }
        AuditCommand::Retention { tenant, days } => {
            if let Some(days) = days {
                use tessera_origin::audit::ActorExt as _;
                use tessera_proto::audit::{kinds, Actor, Outcome};
                audit.set_retention(&tenant, days).await.map_err(db_err)?;
                let mut e = tessera_origin::audit::event(
                    &tenant,
                    kinds::AUDIT_RETENTION,
                    Outcome::Success,
                    Actor::operator(),
                );
                e.detail.insert("days".into(), days.into());
                tessera_origin::audit::record_now(store.db(), e).await?;
            }
            match audit.retention(&tenant).await.map_err(db_err)? {
                Some(d) => println!("{tenant}: {d} days"),
                None => println!("{tenant}: the origin's default (serve --audit-retention-days)"),
            }
            Ok(())
        }
        AuditCommand::Explain { id, tenant, json } => {
            let record = audit
                .by_id(&tenant, &id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| format!("no event `{}` in tenant `{tenant}`", id.escape_debug()))?;
            let replay = replay(store, &record).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&replay).map_err(|e| e.to_string())?
                );
            } else {
                print_replay(&record, &replay);
            }
            if matches!(&replay.at_revision, Attempt::Done(r) if r.same_answer) {
                Ok(())
            } else {
                Err(
                    "the replay at the recorded revision does not give the recorded answer"
                        .to_owned(),
                )
            }
        }
        AuditCommand::Prune { default_days } => {
            let removed = audit
                .apply_retention(tessera_origin::now().as_millis(), default_days)
                .await
                .map_err(db_err)?;
            println!("removed {removed} records past their tenants' retention");
            Ok(())
        }
    }
}

/// A decision evaluated again at one revision.
#[derive(serde::Serialize)]
struct Replayed {
    /// The revision it was evaluated at.
    revision: u64,
    allowed: bool,
    reason: String,
    relationships: Vec<String>,
    /// The answer is the recorded one.
    same_answer: bool,
    /// The reason path is the recorded one (`None`: none was recorded).
    same_path: Option<bool>,
}

/// A replay at the recorded revision and at the head.
#[derive(serde::Serialize)]
struct Replay {
    at_revision: Attempt,
    at_head: Attempt,
}

/// A replay at one revision, or why it could not be evaluated there.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Attempt {
    Done(Replayed),
    Failed { error: String },
}

impl From<Result<Replayed, String>> for Attempt {
    fn from(r: Result<Replayed, String>) -> Self {
        r.map_or_else(|error| Self::Failed { error }, Self::Done)
    }
}

/// Evaluate `record`'s decision again at its revision and at the head.
async fn replay(store: &Store, record: &AuditRecord) -> Result<Replay, String> {
    let e = &record.event;
    if e.kind != tessera_proto::audit::kinds::CHECK_DECISION {
        return Err(format!(
            "event `{}` is a `{}`, not a decision",
            e.id, e.kind
        ));
    }
    let revision = e
        .revision
        .ok_or("the decision was recorded without its revision")?;
    let authz = tessera_origin::authz::store::AuthzStore::new(store.db().clone());
    Ok(Replay {
        at_revision: replay_at(&authz, record, Some(revision)).await.into(),
        at_head: replay_at(&authz, record, None).await.into(),
    })
}

async fn replay_at(
    authz: &tessera_origin::authz::store::AuthzStore,
    record: &AuditRecord,
    at: Option<u64>,
) -> Result<Replayed, String> {
    use tessera_authz::relationship::{ObjectRef, SubjectRef};
    use tessera_origin::authz::engine_thread::with_engine;
    let e = &record.event;
    let resource: ObjectRef = e.resource.parse().map_err(|e| format!("resource: {e}"))?;
    let subject: SubjectRef = e.subject.parse().map_err(|e| format!("subject: {e}"))?;
    let permission = e.permission.clone();
    let revision = authz
        .snapshot(&e.tenant, at)
        .await
        .map_err(|e| e.to_string())?;
    let (schema, reader) = super::authz::engine_parts(authz, &e.tenant, Some(revision)).await?;
    let why = with_engine(
        schema,
        reader,
        tessera_authz::engine::DEFAULT_MAX_DEPTH,
        move |engine| {
            Box::pin(async move { engine.explain(&resource, &permission, &subject).await })
        },
    )
    .await?
    .map_err(|e| e.to_string())?;
    let recorded_path: Option<Vec<String>> = e
        .detail
        .get("why")
        .and_then(|w| w.get("relationships"))
        .and_then(|p| serde_json::from_value(p.clone()).ok());
    Ok(Replayed {
        revision,
        same_answer: why.allowed == (e.outcome == tessera_proto::audit::Outcome::Allowed),
        same_path: recorded_path.map(|p| p == why.relationships),
        allowed: why.allowed,
        reason: why.reason,
        relationships: why.relationships,
    })
}

fn print_replay(record: &AuditRecord, replay: &Replay) {
    let e = &record.event;
    println!(
        "event {}: {}#{} for {} was {} at revision {} ({}, {}, tier {})",
        e.id,
        cell(&e.resource, 200),
        cell(&e.permission, 64),
        cell(&e.subject, 200),
        e.outcome.as_str(),
        e.revision.unwrap_or(0),
        when(e.at_ms),
        cell(&e.consistency, 32),
        if e.tier.is_empty() { "?" } else { &e.tier },
    );
    for (r, label) in [
        (&replay.at_revision, "replayed at that revision"),
        (&replay.at_head, "asked again at the head"),
    ] {
        let r = match r {
            Attempt::Done(r) => r,
            Attempt::Failed { error } => {
                println!("{label}: cannot replay: {error}");
                continue;
            }
        };
        let answer = if r.allowed { "allowed" } else { "denied" };
        let same = if r.same_answer {
            "same answer"
        } else {
            "ANOTHER ANSWER"
        };
        let path = match r.same_path {
            Some(true) => ", same path",
            Some(false) => ", another path",
            None => "",
        };
        println!("{label} (revision {}): {answer} — {same}{path}", r.revision);
        println!("  {}", cell(&r.reason, 300));
        for rel in &r.relationships {
            println!("    {}", cell(rel, 300));
        }
    }
}

/// `2026-11-30T16:21:25.123Z`
fn when(ms: i64) -> String {
    let text = tessera_proto::rfc3339::format_date_time(ms.div_euclid(1000));
    format!("{}.{:03}Z", text.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// A table cell: control characters shown escaped (a record's text is the caller's), at most `max` chars.
fn cell(text: &str, max: usize) -> String {
    let escaped: String = text.chars().flat_map(char::escape_default).collect();
    if escaped.chars().count() > max {
        let mut s: String = escaped.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    } else {
        escaped
    }
}

fn print_records(records: &[AuditRecord], json: bool, header: bool) {
    if json {
        for r in records {
            if let Ok(line) = serde_json::to_string(r) {
                println!("{line}");
            }
        }
        return;
    }
    if header {
        println!(
            "{:<24} {:>6} {:<22} {:<8} {:<22} {:<20} {:<28} {:<24} {:<7} {:>9}",
            "time",
            "seq",
            "kind",
            "outcome",
            "code",
            "actor",
            "subject",
            "resource#permission",
            "tier",
            "µs"
        );
    }
    for r in records {
        let e = &r.event;
        let actor = if e.actor.id.is_empty() {
            e.actor.kind.as_str().to_owned()
        } else {
            format!("{}:{}", e.actor.kind.as_str(), e.actor.id)
        };
        let target = if e.permission.is_empty() {
            e.resource.clone()
        } else {
            format!("{}#{}", e.resource, e.permission)
        };
        println!(
            "{:<24} {:>6} {:<22} {:<8} {:<22} {:<20} {:<28} {:<24} {:<7} {:>9}",
            when(e.at_ms),
            r.seq,
            cell(&e.kind, 22),
            e.outcome.as_str(),
            cell(&e.code, 22),
            cell(&actor, 20),
            cell(&e.subject, 28),
            cell(&target, 24),
            cell(&e.tier, 7),
            e.latency_us.map(|l| l.to_string()).unwrap_or_default()
        );
    }
}

fn print_stats(s: &AuditStats) {
    println!("from {} to {}", when(s.from_ms), when(s.to_ms));
    println!("\ndecisions and sign-ins per minute");
    println!(
        "{:<24} {:>8} {:>8} {:>9} {:>14}",
        "minute", "allowed", "denied", "sign-ins", "auth failures"
    );
    for m in &s.per_minute {
        println!(
            "{:<24} {:>8} {:>8} {:>9} {:>14}",
            when(m.minute_ms),
            m.allowed,
            m.denied,
            m.sign_ins,
            m.auth_failures
        );
    }
    println!("\ncheck latency by tier (µs)");
    println!(
        "{:<10} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "tier", "checks", "p50", "p90", "p99", "max"
    );
    for t in &s.latency {
        println!(
            "{:<10} {:>8} {:>8} {:>8} {:>8} {:>8}",
            cell(&t.tier, 10),
            t.count,
            t.p50_us,
            t.p90_us,
            t.p99_us,
            t.max_us
        );
    }
    println!("\nmost denied");
    println!("{:<32} {:>8}", "type#permission", "denials");
    for d in &s.top_denied {
        println!(
            "{:<32} {:>8}",
            cell(&format!("{}#{}", d.resource_type, d.permission), 32),
            d.count
        );
    }
    println!("\nevents by kind");
    println!("{:<24} {:<8} {:>8}", "kind", "outcome", "count");
    for k in &s.by_kind {
        println!("{:<24} {:<8} {:>8}", cell(&k.kind, 24), k.outcome, k.count);
    }
}

fn print_report(r: &ChainReport) {
    if r.breaks.is_empty() {
        println!(
            "{}: chain whole, {} records (seq {} to {})",
            r.tenant, r.records, r.first_seq, r.last_seq
        );
        return;
    }
    println!(
        "{}: CHAIN BROKEN, {} records (seq {} to {}), {} break(s):",
        r.tenant,
        r.records,
        r.first_seq,
        r.last_seq,
        r.breaks.len()
    );
    for b in &r.breaks {
        println!(
            "  seq {:>8}  {:<8} {}",
            b.seq,
            cell(&b.problem, 8),
            cell(&b.message, 400)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration_ms("90s"), Ok(90_000));
        assert_eq!(duration_ms("1h"), Ok(3_600_000));
        assert_eq!(duration_ms("7d"), Ok(604_800_000));
        for bad in ["", "h", "0m", "-1h", "1w", "1.5h", "99999999999999999d"] {
            assert!(duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cells_escape_control_characters() {
        assert_eq!(cell("a\nb", 10), "a\\nb");
        assert_eq!(cell("abcdef", 4), "abc…");
    }
}
