//! Aggregates over a tenant's records in a time range: decisions and sign-ins per minute, check latency
//! percentiles by cache tier, the permissions denied most, counts by kind. Computed here from the rows
//! (the same on both backends: SQLite has no percentile function), over at most [`MAX_ROWS`] records.

use std::collections::{BTreeMap, HashMap};

use tessera_proto::audit::{kinds, AuditStats, DeniedCount, KindCount, MinuteCounts, TierLatency};

use super::store::StatRow;

/// The most records one statistics request reads (a range holding more is cut, newest ones dropped; a
/// larger installation asks ClickHouse).
pub const MAX_ROWS: u32 = 2_000_000;

/// How many denied permissions the top list shows.
const TOP: usize = 10;

/// Aggregate `rows` (of `[from_ms, to_ms)`).
#[must_use]
pub fn aggregate(rows: &[StatRow], from_ms: i64, to_ms: i64) -> AuditStats {
    let mut minutes: BTreeMap<i64, MinuteCounts> = BTreeMap::new();
    let mut latencies: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut denied: HashMap<(&str, &str), u64> = HashMap::new();
    let mut by_kind: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for r in rows {
        *by_kind.entry((&r.kind, &r.outcome)).or_default() += 1;
        let minute_ms = r.at_ms.div_euclid(60_000) * 60_000;
        let m = minutes.entry(minute_ms).or_insert_with(|| MinuteCounts {
            minute_ms,
            ..MinuteCounts::default()
        });
        let failed = r.outcome == "failure";
        match r.kind.as_str() {
            kinds::CHECK_DECISION => {
                match r.outcome.as_str() {
                    "allowed" => m.allowed += 1,
                    "denied" => {
                        m.denied += 1;
                        *denied.entry((&r.permission, &r.resource_type)).or_default() += 1;
                    }
                    _ => {}
                }
                if let Some(us) = r.latency_us.and_then(|l| u64::try_from(l).ok()) {
                    let tier = if r.tier.is_empty() { "origin" } else { &r.tier };
                    latencies.entry(tier).or_default().push(us);
                }
            }
            kinds::PASSKEY_SIGN_IN | kinds::SAML_SIGN_IN if r.outcome == "success" => {
                m.sign_ins += 1;
            }
            kinds::PASSKEY_SIGN_IN
            | kinds::SAML_SIGN_IN
            | kinds::TOKEN_REFUSED
            | kinds::TOTP_STEP_UP
            | kinds::TOKEN_VERIFY_FAILED
                if failed =>
            {
                m.auth_failures += 1;
            }
            _ => {}
        }
    }
    // Minutes that had only other kinds of events carry no counts: leave them out.
    let per_minute = minutes
        .into_values()
        .filter(|m| m.allowed + m.denied + m.sign_ins + m.auth_failures > 0)
        .collect();
    let latency = latencies
        .into_iter()
        .map(|(tier, mut values)| {
            values.sort_unstable();
            TierLatency {
                tier: tier.to_owned(),
                count: values.len() as u64,
                p50_us: percentile(&values, 50),
                p90_us: percentile(&values, 90),
                p99_us: percentile(&values, 99),
                max_us: values.last().copied().unwrap_or(0),
            }
        })
        .collect();
    let mut top: Vec<DeniedCount> = denied
        .into_iter()
        .map(|((permission, resource_type), count)| DeniedCount {
            permission: permission.to_owned(),
            resource_type: resource_type.to_owned(),
            count,
        })
        .collect();
    top.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.resource_type, &a.permission).cmp(&(&b.resource_type, &b.permission)))
    });
    top.truncate(TOP);
    AuditStats {
        from_ms,
        to_ms,
        per_minute,
        latency,
        top_denied: top,
        by_kind: by_kind
            .into_iter()
            .map(|((kind, outcome), count)| KindCount {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
                count,
            })
            .collect(),
    }
}

/// The nearest-rank `p`th percentile of sorted `values` (0 when empty).
#[must_use]
pub fn percentile(sorted: &[u64], p: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    // Nearest rank: ceil(p/100 * n), 1-based.
    let rank = (p * n).div_ceil(100).max(1);
    let at = usize::try_from(rank - 1).unwrap_or(usize::MAX);
    sorted.get(at).or(sorted.last()).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at_ms: i64, kind: &str, outcome: &str, tier: &str, us: Option<i64>) -> StatRow {
        StatRow {
            at_ms,
            kind: kind.into(),
            outcome: outcome.into(),
            tier: tier.into(),
            latency_us: us,
            permission: "view".into(),
            resource_type: "doc".into(),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn minutes_tiers_and_denials_are_counted() {
        let rows = vec![
            row(
                60_000,
                kinds::CHECK_DECISION,
                "allowed",
                "isolate",
                Some(10),
            ),
            row(60_500, kinds::CHECK_DECISION, "denied", "kv", Some(900)),
            row(121_000, kinds::CHECK_DECISION, "denied", "kv", Some(1100)),
            row(121_000, kinds::PASSKEY_SIGN_IN, "success", "", None),
            row(121_000, kinds::TOKEN_REFUSED, "failure", "", None),
            row(200_000, kinds::SCHEMA_WRITTEN, "success", "", None),
        ];
        let s = aggregate(&rows, 0, 300_000);
        assert_eq!(s.per_minute.len(), 2, "{:?}", s.per_minute);
        assert_eq!((s.per_minute[0].allowed, s.per_minute[0].denied), (1, 1));
        assert_eq!(
            (
                s.per_minute[1].denied,
                s.per_minute[1].sign_ins,
                s.per_minute[1].auth_failures
            ),
            (1, 1, 1)
        );
        let kv = s.latency.iter().find(|t| t.tier == "kv").expect("kv tier");
        assert_eq!((kv.count, kv.p50_us, kv.max_us), (2, 900, 1100));
        assert_eq!(s.top_denied[0].count, 2);
        assert_eq!(s.by_kind.iter().map(|k| k.count).sum::<u64>(), 6);
    }
}
