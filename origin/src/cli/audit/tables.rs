//! The audit commands' tables: records, statistics, chain reports, as people read them.

use tessera_proto::audit::{AuditRecord, AuditStats, ChainReport};

/// `2026-11-30T16:21:25.123Z`
pub(super) fn when(ms: i64) -> String {
    let text = tessera_proto::rfc3339::format_date_time(ms.div_euclid(1000));
    format!("{}.{:03}Z", text.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// A table cell: control characters shown escaped (a record's text is the caller's), at most `max` chars.
pub(super) fn cell(text: &str, max: usize) -> String {
    let escaped: String = text.chars().flat_map(char::escape_default).collect();
    if escaped.chars().count() > max {
        let mut s: String = escaped.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    } else {
        escaped
    }
}

pub(super) fn print_records(records: &[AuditRecord], json: bool, header: bool) {
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

pub(super) fn print_stats(s: &AuditStats) {
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

pub(super) fn print_report(r: &ChainReport) {
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
    fn cells_escape_control_characters() {
        assert_eq!(cell("a\nb", 10), "a\\nb");
        assert_eq!(cell("abcdef", 4), "abc…");
    }
}
