//! The edge's decision cache: which cached answer may serve a check, and when only the origin can answer.
//!
//! A check answer is a fact about one revision of one tenant: "at revision 41, `user:ann` may `view`
//! `doc:1`". It never changes, so answers are cached under their revision (and the schema revision in force)
//! and never invalidated: when the tenant's head moves, new questions are asked under the new revision and
//! the old entries age out. What the edge must track is the tenant's **head** and when it last confirmed it
//! ([`Head`]); [`plan`] turns that and the caller's consistency into one of three moves ([`Plan`]):
//!
//! - `minimize_latency`: an answer at the known head, if that head was confirmed at most
//!   `max_staleness_ms` ago (the answer is at most that far behind the true head, and says so); a refresh is
//!   due once it is older than `refresh_after_ms`. Older than the bound: refresh first, never guess.
//! - `at_least_as_fresh(r)`: any answer at a revision ≥ r meets the request, however old, so the known head
//!   serves when it is ≥ r; otherwise only the origin can answer.
//! - `fully_consistent` and `at_exact_snapshot(r)`: always the origin.
//!
//! [`crate::head_knowledge::HeadKnowledge`] holds a tenant's head with its confirmation state and applies
//! [`plan`] to it. [`BoundedCache`] is the isolate-memory store: bounded, O(1), approximately least-recently-used.
//!
//! Pure like the rest of this crate: the time is an argument (milliseconds since the epoch).

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};
use tessera_proto::UnixTime;

/// A tenant's head as the edge knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The newest revision of the tenant's relationships and schema.
    pub revision: u64,
    /// The revision of the schema in force at `revision`.
    pub schema_revision: u64,
    /// When `revision` was last confirmed to be the head (milliseconds in JSON).
    #[serde(rename = "confirmed_at_ms", with = "tessera_proto::time::millis")]
    pub confirmed_at: UnixTime,
}

impl Head {
    /// Fold in another observation: the higher revision wins; at the same revision, the later
    /// confirmation. Observations arrive out of order (concurrent requests), so the head never moves back.
    /// Returns whether anything changed.
    pub fn advance(&mut self, seen: Self) -> bool {
        let newer = seen.revision > self.revision
            || (seen.revision == self.revision && seen.confirmed_at > self.confirmed_at);
        if newer {
            *self = seen;
        }
        newer
    }

    /// How long ago the head was confirmed (0 if the confirmation is "in the future" by clock skew).
    #[must_use]
    pub fn age_ms(&self, now: UnixTime) -> u64 {
        now.millis_since(self.confirmed_at)
    }
}

/// The freshness a caller asked for, with a zookie already reduced to its revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    MinimizeLatency,
    AtLeast(u64),
    Fully,
    /// `at_exact_snapshot`: an answer at exactly this revision, which only the origin computes.
    Exact(u64),
}

/// How stale `minimize_latency` may be, and when the edge should look for a newer head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// An answer may be at most this far behind the true head.
    pub max_staleness_ms: u64,
    /// Once the known head is older than this, refresh it (in the background while still within bound).
    pub refresh_after_ms: u64,
}

impl Bounds {
    /// # Errors
    /// When the refresh would come after the bound has already run out.
    pub fn new(max_staleness_ms: u64, refresh_after_ms: u64) -> Result<Self, String> {
        if refresh_after_ms == 0 || refresh_after_ms >= max_staleness_ms {
            return Err(format!(
                "the head refresh interval ({refresh_after_ms} ms) must be above 0 and below the staleness bound ({max_staleness_ms} ms)"
            ));
        }
        Ok(Self {
            max_staleness_ms,
            refresh_after_ms,
        })
    }
}

/// What the edge does with a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Look in the cache under `head`; on a miss ask the origin. `staleness_ms` bounds how far behind the
    /// true head an answer at `head` may be (0 for `at_least_as_fresh`, which has no time bound).
    /// `refresh`: confirm the head again (without making this caller wait).
    Cached {
        head: Head,
        staleness_ms: u64,
        refresh: bool,
    },
    /// `minimize_latency` with no head known within the bound: confirm the head, then plan again.
    RefreshHead,
    /// Only the origin can answer (`fully_consistent`, an exact snapshot, or a zookie newer than the known
    /// head).
    Origin,
}

/// The move for a check given the known head.
#[must_use]
pub fn plan(head: Option<Head>, want: Freshness, bounds: Bounds, now: UnixTime) -> Plan {
    match (want, head) {
        (Freshness::Fully | Freshness::Exact(_), _) | (Freshness::AtLeast(_), None) => Plan::Origin,
        (Freshness::AtLeast(r), Some(h)) if h.revision >= r => Plan::Cached {
            head: h,
            staleness_ms: 0,
            refresh: false,
        },
        (Freshness::AtLeast(_), Some(_)) => Plan::Origin,
        (Freshness::MinimizeLatency, Some(h)) if h.age_ms(now) <= bounds.max_staleness_ms => {
            let age = h.age_ms(now);
            Plan::Cached {
                head: h,
                staleness_ms: age,
                refresh: age > bounds.refresh_after_ms,
            }
        }
        (Freshness::MinimizeLatency, _) => Plan::RefreshHead,
    }
}

/// A bounded map with approximately least-recently-used eviction in O(1): two generations. New and
/// recently read entries live in `young`; when `young` fills up it becomes `old` (dropping the previous
/// `old`), and a read from `old` moves the entry back into `young`. An entry survives at least
/// `capacity / 2` insertions after its last use and the map never holds more than `capacity` entries.
#[derive(Debug)]
pub struct BoundedCache<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    half: usize,
}

impl<K: Hash + Eq, V: Clone> BoundedCache<K, V> {
    /// A cache holding at most `capacity` entries (at least 2).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let half = (capacity / 2).max(1);
        Self {
            young: HashMap::with_capacity(half),
            old: HashMap::new(),
            half,
        }
    }

    /// The value under `key`, marking it recently used.
    pub fn get<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(v) = self.young.get(key) {
            return Some(v.clone());
        }
        let (k, v) = self.old.remove_entry(key)?;
        self.insert(k, v.clone());
        Some(v)
    }

    pub fn insert(&mut self, key: K, value: V) {
        if self.young.len() >= self.half && !self.young.contains_key(&key) {
            self.old = std::mem::replace(&mut self.young, HashMap::with_capacity(self.half));
        }
        self.young.insert(key, value);
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }
}

/// The cache key of one question at one revision: tenant, schema revision, revision, then the question.
/// Fields are joined with a byte no tenant, id, relation or permission may contain, so two different
/// questions never share a key (no tenant can read another's entries).
#[must_use]
pub fn decision_key(
    tenant: &str,
    head: &Head,
    resource: &str,
    permission: &str,
    subject: &str,
) -> String {
    let mut key = String::with_capacity(
        tenant.len() + resource.len() + permission.len() + subject.len() + 48,
    );
    // Written by hand rather than with `format!`: this runs on every check at the edge.
    let mut digits = [0u8; 20];
    key.push_str(tenant);
    key.push('\u{1f}');
    push_u64(&mut key, head.schema_revision, &mut digits);
    key.push('\u{1f}');
    push_u64(&mut key, head.revision, &mut digits);
    for part in [resource, permission, subject] {
        key.push('\u{1f}');
        key.push_str(part);
    }
    key
}

fn push_u64(out: &mut String, mut n: u64, buf: &mut [u8; 20]) {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            // `n % 10` is a single digit.
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for &b in buf.get(i..).unwrap_or_default() {
        out.push(char::from(b));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    pub(crate) const B: Bounds = Bounds {
        max_staleness_ms: 5_000,
        refresh_after_ms: 1_000,
    };

    pub(crate) fn ms(at: i64) -> UnixTime {
        UnixTime::from_millis(at)
    }

    pub(crate) fn head(revision: u64, at: i64) -> Head {
        Head {
            revision,
            schema_revision: 1,
            confirmed_at: ms(at),
        }
    }

    #[test]
    fn minimize_latency_serves_within_the_bound_and_refreshes_early() {
        let h = head(7, 10_000);
        assert_eq!(
            plan(Some(h), Freshness::MinimizeLatency, B, ms(10_500)),
            Plan::Cached {
                head: h,
                staleness_ms: 500,
                refresh: false
            }
        );
        assert_eq!(
            plan(Some(h), Freshness::MinimizeLatency, B, ms(12_000)),
            Plan::Cached {
                head: h,
                staleness_ms: 2_000,
                refresh: true
            }
        );
        // Exactly at the bound still serves; one millisecond past it never does.
        assert!(matches!(
            plan(Some(h), Freshness::MinimizeLatency, B, ms(15_000)),
            Plan::Cached {
                staleness_ms: 5_000,
                ..
            }
        ));
        assert_eq!(
            plan(Some(h), Freshness::MinimizeLatency, B, ms(15_001)),
            Plan::RefreshHead
        );
        assert_eq!(
            plan(None, Freshness::MinimizeLatency, B, ms(0)),
            Plan::RefreshHead
        );
    }

    #[test]
    fn a_zookie_is_met_by_any_head_at_or_after_it_however_old() {
        let h = head(7, 0);
        assert!(matches!(
            plan(Some(h), Freshness::AtLeast(7), B, ms(1_000_000)),
            Plan::Cached {
                staleness_ms: 0,
                refresh: false,
                ..
            }
        ));
        assert!(matches!(
            plan(Some(h), Freshness::AtLeast(3), B, ms(0)),
            Plan::Cached { .. }
        ));
        // Read-your-writes: a zookie newer than the known head goes to the origin.
        assert_eq!(plan(Some(h), Freshness::AtLeast(8), B, ms(0)), Plan::Origin);
        assert_eq!(plan(None, Freshness::AtLeast(1), B, ms(0)), Plan::Origin);
    }

    #[test]
    fn fully_consistent_always_asks_the_origin() {
        assert_eq!(
            plan(Some(head(9, 5)), Freshness::Fully, B, ms(5)),
            Plan::Origin
        );
        assert_eq!(plan(None, Freshness::Fully, B, ms(5)), Plan::Origin);
    }

    #[test]
    fn an_exact_snapshot_always_asks_the_origin() {
        assert_eq!(
            plan(Some(head(9, 5)), Freshness::Exact(9), B, ms(5)),
            Plan::Origin
        );
        assert_eq!(plan(None, Freshness::Exact(1), B, ms(5)), Plan::Origin);
    }

    #[test]
    fn the_head_never_moves_back() {
        let mut h = head(5, 100);
        assert!(!h.advance(head(4, 900)), "older revision, later time");
        assert_eq!(h, head(5, 100));
        assert!(
            !h.advance(head(5, 50)),
            "same revision, earlier confirmation"
        );
        assert!(h.advance(head(5, 200)));
        assert_eq!(h.confirmed_at, ms(200));
        assert!(
            h.advance(head(6, 150)),
            "a newer revision wins even if confirmed earlier"
        );
        assert_eq!(h.revision, 6);
        // Clock skew: a confirmation in the future counts as age 0.
        assert_eq!(head(1, 500).age_ms(ms(400)), 0);
    }

    #[test]
    fn bounds_refuse_a_refresh_that_comes_too_late() {
        assert!(Bounds::new(5_000, 1_000).is_ok());
        assert!(Bounds::new(5_000, 5_000).is_err());
        assert!(Bounds::new(5_000, 0).is_err());
    }

    #[test]
    fn keys_separate_tenants_revisions_and_questions() {
        let h = head(12, 0);
        let k = decision_key("acme", &h, "doc:1", "view", "user:ann");
        assert_eq!(k, "acme\u{1f}1\u{1f}12\u{1f}doc:1\u{1f}view\u{1f}user:ann");
        assert_ne!(k, decision_key("globex", &h, "doc:1", "view", "user:ann"));
        assert_ne!(
            k,
            decision_key("acme", &head(13, 0), "doc:1", "view", "user:ann")
        );
        let other_schema = Head {
            schema_revision: 2,
            ..h
        };
        assert_ne!(
            k,
            decision_key("acme", &other_schema, "doc:1", "view", "user:ann")
        );
        assert_eq!(
            decision_key("t", &head(u64::MAX, 0), "a:b", "p", "c:d"),
            format!("t\u{1f}1\u{1f}{}\u{1f}a:b\u{1f}p\u{1f}c:d", u64::MAX)
        );
        assert_eq!(
            decision_key("t", &head(0, 0), "a:b", "p", "c:d"),
            "t\u{1f}1\u{1f}0\u{1f}a:b\u{1f}p\u{1f}c:d"
        );
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_what_is_used() {
        let mut c = BoundedCache::new(100);
        for i in 0..10_000u32 {
            c.insert(i, i);
            // Keep touching key 0: it must survive however much else goes through.
            assert_eq!(c.get(&0), Some(0), "after {i}");
            assert!(c.len() <= 100, "len {} after {i}", c.len());
        }
        assert_eq!(c.get(&5_000), None, "long unused entries are gone");
        assert_eq!(c.get(&9_999), Some(9_999));
        // Overwriting a key does not evict.
        let mut d = BoundedCache::new(4);
        d.insert("a", 1);
        d.insert("b", 2);
        d.insert("b", 3);
        assert_eq!(d.get("a"), Some(1));
        assert_eq!(d.get("b"), Some(3));
        d.clear();
        assert!(d.is_empty());
    }
}
