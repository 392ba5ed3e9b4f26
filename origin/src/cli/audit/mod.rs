//! `tessera-origin audit ...`: the audit trail from the command line, against the database (as the API
//! answers it): `query`, `tail`, `stats`, `verify`, `retention`, `prune`.

use clap::{Args, Subcommand};
use tessera_origin::audit::http::time;
use tessera_origin::audit::store::{AuditStore, Filter};
use tessera_origin::store::Store;
mod explain;
mod tables;

use explain::{print_replay, replay, Attempt};
use tables::{print_records, print_report, print_stats};

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
}
