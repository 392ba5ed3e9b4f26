//! Aggregates over a tenant's records in a time range, put together from the rollups
//! (`super::rollup`): decisions and sign-ins per minute, check latency percentiles by cache tier (from
//! the latency histograms: each the upper bound of its bucket), the permissions denied most, counts by
//! kind.

use std::collections::BTreeMap;

use tessera_proto::audit::{kinds, AuditStats, DeniedCount, KindCount, MinuteCounts, TierLatency};

/// How many denied permissions the top list shows.
pub const TOP: u32 = 10;
/// The longest range one statistics request covers.
pub const MAX_RANGE_MS: i64 = 31 * 86_400_000;

/// `(minute_ms, kind, outcome, count)`.
pub type MinuteRow = (i64, String, String, i64);
/// `(permission, resource_type, count)`, most first.
pub type DeniedRow = (String, String, i64);
/// `(tier, bucket, count)`.
pub type LatencyRow = (String, i64, i64);

/// Put the database's counts and latencies of `[from_ms, to_ms)` together.
#[must_use]
pub fn assemble(
    minutes_rows: &[MinuteRow],
    denied: &[DeniedRow],
    latency_rows: &[LatencyRow],
    from_ms: i64,
    to_ms: i64,
) -> AuditStats {
    let mut minutes: BTreeMap<i64, MinuteCounts> = BTreeMap::new();
    let mut by_kind: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (minute_ms, kind, outcome, count) in minutes_rows {
        let n = u64::try_from(*count).unwrap_or(0);
        *by_kind.entry((kind, outcome)).or_default() += n;
        let m = minutes.entry(*minute_ms).or_insert_with(|| MinuteCounts {
            minute_ms: *minute_ms,
            ..MinuteCounts::default()
        });
        let (success, failure) = (outcome == "success", outcome == "failure");
        match kind.as_str() {
            kinds::CHECK_DECISION if outcome == "allowed" => m.allowed += n,
            kinds::CHECK_DECISION if outcome == "denied" => m.denied += n,
            kinds::PASSKEY_SIGN_IN | kinds::SAML_SIGN_IN if success => m.sign_ins += n,
            kinds::PASSKEY_SIGN_IN
            | kinds::SAML_SIGN_IN
            | kinds::TOKEN_REFUSED
            | kinds::TOTP_STEP_UP
            | kinds::TOKEN_VERIFY_FAILED
                if failure =>
            {
                m.auth_failures += n;
            }
            _ => {}
        }
    }
    // Minutes that had only other kinds of events carry no counts: leave them out.
    let per_minute = minutes
        .into_values()
        .filter(|m| m.allowed + m.denied + m.sign_ins + m.auth_failures > 0)
        .collect();
    let mut histograms: BTreeMap<&str, BTreeMap<i64, u64>> = BTreeMap::new();
    for (tier, bucket, count) in latency_rows {
        let tier = if tier.is_empty() {
            "origin"
        } else {
            tier.as_str()
        };
        *histograms
            .entry(tier)
            .or_default()
            .entry(*bucket)
            .or_default() += u64::try_from(*count).unwrap_or(0);
    }
    let latency = histograms
        .into_iter()
        .map(|(tier, buckets)| {
            let count: u64 = buckets.values().sum();
            let at = |p: u64| {
                // The bucket holding the nearest-rank `p`th percentile.
                let rank = (p * count).div_ceil(100).max(1);
                let mut seen = 0;
                for (b, n) in &buckets {
                    seen += n;
                    if seen >= rank {
                        return super::rollup::upper_bound(*b);
                    }
                }
                0
            };
            TierLatency {
                tier: tier.to_owned(),
                count,
                p50_us: at(50),
                p90_us: at(90),
                p99_us: at(99),
                max_us: buckets
                    .keys()
                    .next_back()
                    .map_or(0, |b| super::rollup::upper_bound(*b)),
            }
        })
        .collect();
    AuditStats {
        from_ms,
        to_ms,
        per_minute,
        latency,
        top_denied: denied
            .iter()
            .map(|(permission, resource_type, count)| DeniedCount {
                permission: permission.clone(),
                resource_type: resource_type.clone(),
                count: u64::try_from(*count).unwrap_or(0),
            })
            .collect(),
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

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn minutes_tiers_and_denials_are_put_together() {
        let row = |m: i64, k: &str, o: &str, n: i64| (m, k.to_owned(), o.to_owned(), n);
        let minutes = vec![
            row(60_000, kinds::CHECK_DECISION, "allowed", 1),
            row(60_000, kinds::CHECK_DECISION, "denied", 1),
            row(120_000, kinds::CHECK_DECISION, "denied", 1),
            row(120_000, kinds::PASSKEY_SIGN_IN, "success", 1),
            row(120_000, kinds::TOKEN_REFUSED, "failure", 1),
            row(180_000, kinds::SCHEMA_WRITTEN, "success", 1),
        ];
        let denied = vec![("view".to_owned(), "doc".to_owned(), 2)];
        let b = crate::audit::rollup::bucket;
        let lat = vec![
            ("isolate".to_owned(), b(10), 1),
            ("kv".to_owned(), b(900), 1),
            ("kv".to_owned(), b(1100), 1),
        ];
        let s = assemble(&minutes, &denied, &lat, 0, 300_000);
        assert_eq!(s.per_minute.len(), 2, "{:?}", s.per_minute);
        let first = s.per_minute.first().expect("a minute");
        assert_eq!((first.allowed, first.denied), (1, 1));
        let second = s.per_minute.get(1).expect("a second minute");
        assert_eq!(
            (second.denied, second.sign_ins, second.auth_failures),
            (1, 1, 1)
        );
        let kv = s.latency.iter().find(|t| t.tier == "kv").expect("kv tier");
        assert_eq!(kv.count, 2);
        assert!((900..=1100).contains(&kv.p50_us), "{kv:?}");
        assert!((1100..=1400).contains(&kv.max_us), "{kv:?}");
        assert_eq!(s.top_denied.first().map(|d| d.count), Some(2));
        assert_eq!(s.by_kind.iter().map(|k| k.count).sum::<u64>(), 6);
    }
}
