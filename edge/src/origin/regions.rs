//! Which origin the edge asks, in which order, and when it gives up on one (pure: no Worker types, so it is
//! unit-tested natively).
//!
//! `ORIGINS` (a JSON var) names each region's origin and, per edge location, the order of preference:
//!
//! ```json
//! {"regions": {"eu": "https://eu.origin.example", "us": "https://us.origin.example"},
//!  "prefer": {"default": ["eu", "us"], "NA": ["us", "eu"], "SJC": ["us", "eu"]},
//!  "timeout_ms": 3000}
//! ```
//!
//! A location is looked up by Cloudflare data-centre code (`request.cf.colo`, e.g. `SJC`), then continent
//! (`request.cf.continent`, e.g. `NA`), then `default`; regions an order leaves out follow it in name
//! order. Locally `EDGE_LOCATION` stands in for `request.cf`. Without `ORIGINS`, `ORIGIN_URL` is the one
//! region.
//!
//! Each isolate keeps a circuit breaker per region: after [`TRIP_AFTER`] failures in a row a region is
//! skipped for [`OPEN_FOR_MS`], then one request tries it again (half-open) and its outcome closes or
//! reopens it. A request that is safe to repeat (a read) tries up to [`MAX_ATTEMPTS`] regions in order; a
//! write is sent to one region and tried on the next only when it certainly was not applied (the breaker
//! skipped the first, or the origin said `Tessera-Write-Applied: no`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// Failures in a row that open a region's breaker.
pub const TRIP_AFTER: u32 = 3;
/// How long an open breaker skips its region (ms).
pub const OPEN_FOR_MS: i64 = 10_000;
/// Regions a read tries at most.
pub const MAX_ATTEMPTS: usize = 3;
/// A request's default budget at one origin (ms).
pub const DEFAULT_TIMEOUT_MS: u32 = 5_000;

/// One region's origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    /// Base URL, no trailing slash.
    pub url: String,
}

/// The regions and the orders of preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origins {
    regions: Vec<Region>,
    /// Location (colo, continent or `default`) → region indexes, preferred first, every region once.
    prefer: BTreeMap<String, Vec<usize>>,
    pub timeout_ms: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    regions: BTreeMap<String, String>,
    #[serde(default)]
    prefer: BTreeMap<String, Vec<String>>,
    timeout_ms: Option<u32>,
}

impl Origins {
    /// The one origin at `url` (no `ORIGINS`).
    #[must_use]
    pub fn single(url: &str) -> Self {
        Self {
            regions: vec![Region {
                name: "origin".to_owned(),
                url: url.trim_end_matches('/').to_owned(),
            }],
            prefer: BTreeMap::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }

    /// Parse `ORIGINS`.
    ///
    /// # Errors
    /// Not the documented JSON, no region, a URL that is not http(s), an order naming an unknown region
    /// or one twice.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(json).map_err(|e| format!("ORIGINS: {e}"))?;
        if raw.regions.is_empty() {
            return Err("ORIGINS: `regions` names no region".to_owned());
        }
        let mut regions = Vec::with_capacity(raw.regions.len());
        for (name, url) in raw.regions {
            let parsed = url::Url::parse(&url)
                .map_err(|e| format!("ORIGINS: region `{name}`: `{url}` is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(format!(
                    "ORIGINS: region `{name}`: `{url}` is not an http(s) URL"
                ));
            }
            regions.push(Region {
                name,
                url: url.trim_end_matches('/').to_owned(),
            });
        }
        let mut prefer = BTreeMap::new();
        for (location, names) in raw.prefer {
            let mut order = Vec::with_capacity(regions.len());
            for name in &names {
                let i = regions
                    .iter()
                    .position(|r| &r.name == name)
                    .ok_or_else(|| {
                        format!("ORIGINS: prefer `{location}` names unknown region `{name}`")
                    })?;
                if order.contains(&i) {
                    return Err(format!("ORIGINS: prefer `{location}` names `{name}` twice"));
                }
                order.push(i);
            }
            let rest: Vec<usize> = (0..regions.len()).filter(|i| !order.contains(i)).collect();
            order.extend(rest);
            prefer.insert(location, order);
        }
        let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(100..=60_000).contains(&timeout_ms) {
            return Err("ORIGINS: timeout_ms must be 100 to 60000".to_owned());
        }
        Ok(Self {
            regions,
            prefer,
            timeout_ms,
        })
    }

    #[must_use]
    pub fn region(&self, i: usize) -> Option<&Region> {
        self.regions.get(i)
    }

    /// How many regions there are.
    #[must_use]
    pub fn count(&self) -> usize {
        self.regions.len()
    }

    /// The regions for an edge at `colo` on `continent`, preferred first.
    #[must_use]
    pub fn order(&self, colo: Option<&str>, continent: Option<&str>) -> Vec<usize> {
        [colo, continent, Some("default")]
            .into_iter()
            .flatten()
            .find_map(|k| self.prefer.get(k))
            .cloned()
            .unwrap_or_else(|| (0..self.regions.len()).collect())
    }
}

/// Whether a request may be sent again to another region after a failure of unknown outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// A read: repeating it changes nothing.
    Safe,
    /// A write: repeated only when it certainly was not applied.
    Write,
}

/// Per-region circuit breakers of one isolate.
#[derive(Clone, Debug, Default)]
pub struct Breakers {
    state: BTreeMap<String, Breaker>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Breaker {
    /// Failures in a row.
    failures: u32,
    /// Skipped until then (ms), once open.
    open_until: i64,
    /// When the one half-open trial went out; a trial whose outcome never came back (the request was
    /// abandoned) expires after [`OPEN_FOR_MS`].
    trial_since: Option<i64>,
}

impl Breakers {
    /// Whether `region` may be asked now; call it only right before asking. An open breaker past its time
    /// lets one trial through.
    pub fn admit(&mut self, region: &str, now_ms: i64) -> bool {
        let b = self.state.entry(region.to_owned()).or_default();
        if b.failures < TRIP_AFTER {
            return true;
        }
        if now_ms < b.open_until {
            return false;
        }
        if b.trial_since
            .is_some_and(|t| now_ms < t.saturating_add(OPEN_FOR_MS))
        {
            return false;
        }
        b.trial_since = Some(now_ms);
        true
    }

    /// The region answered (in any words): it is up.
    pub fn success(&mut self, region: &str) {
        self.state.insert(region.to_owned(), Breaker::default());
    }

    /// The region's origin did not answer (a transport error, a timeout, a gateway's 5xx).
    pub fn failure(&mut self, region: &str, now_ms: i64) {
        let b = self.state.entry(region.to_owned()).or_default();
        b.failures = b.failures.saturating_add(1);
        b.trial_since = None;
        if b.failures >= TRIP_AFTER {
            b.open_until = now_ms.saturating_add(OPEN_FOR_MS);
        }
    }
}

/// The regions one request may be sent to, yielded one at a time as the previous one fails, each
/// admitted by its breaker only when its turn comes: at most [`MAX_ATTEMPTS`] for a read, every region
/// for a write (which the caller stops after the first failure that may have applied it). When no
/// breaker admits any region, the preferred one is tried anyway (better to try than to refuse outright).
pub struct Plan {
    order: Vec<usize>,
    next: usize,
    sent: usize,
    limit: usize,
}

impl Plan {
    #[must_use]
    pub fn new(origins: &Origins, order: Vec<usize>, repeat: Repeat) -> Self {
        let limit = match repeat {
            Repeat::Safe => MAX_ATTEMPTS,
            Repeat::Write => origins.count(),
        };
        Self {
            order,
            next: 0,
            sent: 0,
            limit,
        }
    }

    /// The next region to send to, if any.
    pub fn next(
        &mut self,
        origins: &Origins,
        breakers: &mut Breakers,
        now_ms: i64,
    ) -> Option<usize> {
        while self.sent < self.limit {
            let Some(&i) = self.order.get(self.next) else {
                break;
            };
            self.next += 1;
            let Some(region) = origins.region(i) else {
                continue;
            };
            if breakers.admit(&region.name, now_ms) {
                self.sent += 1;
                return Some(i);
            }
        }
        if self.sent == 0 {
            self.sent = 1;
            return self.order.first().copied();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"{"regions": {"a": "http://127.0.0.1:1/", "b": "https://b.example"},
        "prefer": {"default": ["a"], "EU": ["b", "a"], "FRA": ["b"]}, "timeout_ms": 2000}"#;

    #[test]
    fn orders_by_colo_then_continent_then_default() {
        let o = Origins::parse(TWO).unwrap();
        assert_eq!(o.region(0).unwrap().url, "http://127.0.0.1:1");
        assert_eq!(o.order(Some("FRA"), Some("EU")), vec![1, 0]);
        assert_eq!(o.order(Some("CDG"), Some("EU")), vec![1, 0]);
        assert_eq!(o.order(Some("SJC"), Some("NA")), vec![0, 1]);
        assert_eq!(o.order(None, None), vec![0, 1]);
        assert_eq!(o.timeout_ms, 2000);
        let bare = Origins::parse(r#"{"regions": {"z": "http://z", "y": "http://y"}}"#).unwrap();
        assert_eq!(bare.order(Some("FRA"), None), vec![0, 1]);
    }

    #[test]
    fn refuses_what_it_cannot_route() {
        for bad in [
            "",
            "{}",
            r#"{"regions": {}}"#,
            r#"{"regions": {"a": "ftp://x"}}"#,
            r#"{"regions": {"a": "not a url"}}"#,
            r#"{"regions": {"a": "http://x"}, "prefer": {"default": ["b"]}}"#,
            r#"{"regions": {"a": "http://x"}, "prefer": {"default": ["a", "a"]}}"#,
            r#"{"regions": {"a": "http://x"}, "timeout_ms": 5}"#,
            r#"{"regions": {"a": "http://x"}, "other": 1}"#,
        ] {
            assert!(Origins::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_breaker_opens_after_failures_in_a_row_and_lets_one_trial_through_later() {
        let mut b = Breakers::default();
        for _ in 0..TRIP_AFTER - 1 {
            b.failure("a", 0);
        }
        assert!(b.admit("a", 0));
        b.success("a");
        for _ in 0..TRIP_AFTER {
            b.failure("a", 0);
        }
        assert!(!b.admit("a", 1));
        assert!(b.admit("a", OPEN_FOR_MS), "one trial when the time is up");
        assert!(!b.admit("a", OPEN_FOR_MS), "only one");
        assert!(
            b.admit("a", 2 * OPEN_FOR_MS),
            "a trial that never reported back expires"
        );
        b.failure("a", 2 * OPEN_FOR_MS);
        assert!(
            !b.admit("a", 2 * OPEN_FOR_MS + 1),
            "a failed trial reopens it"
        );
        assert!(b.admit("a", 3 * OPEN_FOR_MS + 1));
        b.success("a");
        assert!(b.admit("a", 3 * OPEN_FOR_MS + 1));
    }

    fn all(plan: &mut Plan, o: &Origins, b: &mut Breakers, now: i64) -> Vec<usize> {
        std::iter::from_fn(|| plan.next(o, b, now)).collect()
    }

    #[test]
    fn reads_try_up_to_three_admitted_regions_writes_every_region_in_turn() {
        let o = Origins::parse(
            r#"{"regions": {"a": "http://a", "b": "http://b", "c": "http://c", "d": "http://d"}}"#,
        )
        .unwrap();
        let order = o.order(None, None);
        let mut b = Breakers::default();
        let mut plan = Plan::new(&o, order.clone(), Repeat::Safe);
        assert_eq!(all(&mut plan, &o, &mut b, 0), vec![0, 1, 2]);
        for _ in 0..TRIP_AFTER {
            b.failure("a", 0);
        }
        let mut plan = Plan::new(&o, order.clone(), Repeat::Safe);
        assert_eq!(all(&mut plan, &o, &mut b, 1), vec![1, 2, 3]);
        let mut plan = Plan::new(&o, order.clone(), Repeat::Write);
        assert_eq!(all(&mut plan, &o, &mut b, 1), vec![1, 2, 3]);
        for r in ["b", "c", "d"] {
            for _ in 0..TRIP_AFTER {
                b.failure(r, 0);
            }
        }
        let mut plan = Plan::new(&o, order.clone(), Repeat::Safe);
        assert_eq!(
            all(&mut plan, &o, &mut b, 1),
            vec![0],
            "all open: the preferred one anyway"
        );
    }

    #[test]
    fn a_region_the_request_never_reached_is_not_left_half_open() {
        let o = Origins::parse(r#"{"regions": {"a": "http://a", "b": "http://b"}}"#).unwrap();
        let mut b = Breakers::default();
        for _ in 0..TRIP_AFTER {
            b.failure("b", 0);
        }
        // The first region answers: b's trial is never taken, so b is still admitted later.
        let mut plan = Plan::new(&o, o.order(None, None), Repeat::Safe);
        assert_eq!(plan.next(&o, &mut b, OPEN_FOR_MS), Some(0));
        b.success("a");
        assert!(b.admit("b", OPEN_FOR_MS + 1));
    }
}
