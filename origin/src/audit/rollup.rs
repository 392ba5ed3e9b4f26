//! Rollups: what the statistics read instead of the records, kept in the same transaction as each append
//! (so they never disagree with the chain), so that a dashboard over millions of records reads a few
//! thousand rows.
//!
//! - `audit_minutes`: records per tenant, minute (of the event's time), kind and outcome.
//! - `audit_latency`: check latencies per tenant, minute and cache tier, as a histogram of logarithmic
//!   buckets, four to a doubling: a percentile read from it is the bucket's upper bound, within 19% above
//!   the true value.
//! - `audit_denied`: denials per tenant, hour, resource type and permission (the most-denied list counts
//!   whole hours).

use std::collections::HashMap;

use tessera_proto::audit::{kinds, AuditEvent, Outcome};

/// Buckets per doubling of the latency.
const PER_DOUBLING: f64 = 4.0;

/// The histogram bucket of a latency in microseconds.
#[must_use]
pub fn bucket(us: u64) -> i64 {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        reason = "a bucket index of a latency: small, and approximate by design"
    )]
    let b = ((us as f64 + 1.0).log2() * PER_DOUBLING).floor() as i64;
    b.max(0)
}

/// The largest latency (µs) a bucket holds.
#[must_use]
pub fn upper_bound(bucket: i64) -> u64 {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the inverse of `bucket`, for reporting"
    )]
    let us = (2f64.powf((bucket as f64 + 1.0) / PER_DOUBLING) - 1.0).floor() as u64;
    us
}

/// What one append adds to the rollups.
#[derive(Default)]
pub struct Rollup {
    pub minutes: HashMap<(i64, String, &'static str), i64>,
    pub latency: HashMap<(i64, String, i64), i64>,
    pub denied: HashMap<(i64, String, String), i64>,
}

impl Rollup {
    /// Count `e`.
    pub fn add(&mut self, e: &AuditEvent) {
        let minute = e.at_ms.div_euclid(60_000) * 60_000;
        *self
            .minutes
            .entry((minute, e.kind.clone(), e.outcome.as_str()))
            .or_default() += 1;
        if e.kind == kinds::CHECK_DECISION {
            if let Some(us) = e.latency_us {
                let tier = if e.tier.is_empty() { "origin" } else { &e.tier };
                *self
                    .latency
                    .entry((minute, tier.to_owned(), bucket(us)))
                    .or_default() += 1;
            }
            if e.outcome == Outcome::Denied {
                let hour = e.at_ms.div_euclid(3_600_000) * 3_600_000;
                let resource_type = e.resource.split_once(':').map_or("", |(t, _)| t);
                *self
                    .denied
                    .entry((hour, resource_type.to_owned(), e.permission.clone()))
                    .or_default() += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_is_at_most_its_buckets_bound_and_within_a_fifth_of_it() {
        for us in [0_u64, 1, 7, 50, 999, 1000, 12_345, 1_000_000, 60_000_000] {
            let b = bucket(us);
            let top = upper_bound(b);
            assert!(top >= us, "{us} in bucket {b} up to {top}");
            assert!(top as f64 <= (us as f64 + 1.0) * 1.19 + 1.0, "{us}: {top}");
        }
        assert!(bucket(10) < bucket(100));
    }
}
