//! The issuer's signing keys, cached.
//!
//! - A `kid` the cache does not hold refetches the JWKS, at most once per cooldown (30 s by default):
//!   one fetch at a time (the others wait for it and use its answer), and none again until the cooldown
//!   has passed, however many tokens with unknown `kid`s arrive. A flood of made-up `kid`s costs the
//!   issuer one request per cooldown.
//! - `Cache-Control: max-age` (capped at a day; `no-store`/`no-cache`: 0) says how long the keys are
//!   fresh. Stale keys are still used; a refresh is tried (within the same cooldown).
//! - A failed fetch changes nothing: the cached keys keep verifying while the issuer is down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tessera_jose::{Jwks, KeyLookup as _};
use tessera_proto::UnixTime;

use crate::clock::Clock;
use crate::error::Error;
use crate::transport::{HttpRequest, Transport};

/// How long the keys are fresh when the issuer says nothing.
const DEFAULT_MAX_AGE_SECS: i64 = 300;
const MAX_MAX_AGE_SECS: i64 = 86_400;

struct Held {
    jwks: Arc<Jwks>,
    fresh_until: UnixTime,
}

/// What the cache has done (for dashboards and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// JWKS requests sent.
    pub fetches: u64,
    /// Of those, the ones that failed (the cached keys were kept).
    pub failures: u64,
}

/// The cache of one issuer's JWKS.
pub struct KeyCache {
    jwks_uri: String,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    cooldown_ms: i64,
    held: RwLock<Held>,
    /// When the last fetch was tried; taken by the one fetch in flight.
    last_try: tokio::sync::Mutex<Option<UnixTime>>,
    fetches: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("jwks_uri", &self.jwks_uri)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Seconds of `max-age` in a `Cache-Control` value; 0 for `no-store`/`no-cache`.
fn max_age(cache_control: Option<&str>) -> i64 {
    let Some(value) = cache_control else {
        return DEFAULT_MAX_AGE_SECS;
    };
    let mut age = DEFAULT_MAX_AGE_SECS;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return 0;
        }
        if let Some((name, v)) = lower.split_once('=') {
            if name.trim() == "max-age" {
                age = v.trim().trim_matches('"').parse().unwrap_or(0);
            }
        }
    }
    age.clamp(0, MAX_MAX_AGE_SECS)
}

impl KeyCache {
    /// Fetch the keys once; the cache starts with them.
    ///
    /// # Errors
    /// [`Error::Issuer`] or [`Error::Transport`] when the first fetch fails.
    pub(crate) async fn load(
        jwks_uri: String,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        cooldown_secs: u32,
    ) -> Result<Self, Error> {
        let cache = Self {
            jwks_uri,
            transport,
            clock,
            cooldown_ms: i64::from(cooldown_secs) * 1000,
            held: RwLock::new(Held {
                jwks: Arc::new(Jwks::default()),
                fresh_until: UnixTime::from_millis(0),
            }),
            last_try: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        };
        let (jwks, fresh_until) = cache.fetch().await?;
        cache.store(jwks, fresh_until);
        *cache.last_try.lock().await = Some(cache.clock.now());
        Ok(cache)
    }

    #[must_use]
    pub fn stats(&self) -> KeyStats {
        KeyStats {
            fetches: self.fetches.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    fn snapshot(&self) -> (Arc<Jwks>, UnixTime) {
        match self.held.read() {
            Ok(h) => (Arc::clone(&h.jwks), h.fresh_until),
            Err(poisoned) => {
                let h = poisoned.into_inner();
                (Arc::clone(&h.jwks), h.fresh_until)
            }
        }
    }

    fn store(&self, jwks: Jwks, fresh_until: UnixTime) {
        let held = Held {
            jwks: Arc::new(jwks),
            fresh_until,
        };
        match self.held.write() {
            Ok(mut h) => *h = held,
            Err(poisoned) => *poisoned.into_inner() = held,
        }
    }

    /// The keys to verify a token signed with `kid`: the cached ones when they hold it and are fresh,
    /// else whatever the cache holds after one refresh (within the cooldown): a key the issuer has
    /// withdrawn is not used once a fetch has shown it gone, and a failed fetch leaves the keys as they
    /// were. Never fails: without the key, the verification says `unknown_kid`.
    pub(crate) async fn keys_for(&self, kid: &str) -> Arc<Jwks> {
        let (jwks, fresh_until) = self.snapshot();
        if jwks.key(kid).is_some() && self.clock.now() < fresh_until {
            return jwks;
        }
        self.refresh().await;
        self.snapshot().0
    }

    /// One refresh, unless another is in flight (then its result is used) or one was tried within the
    /// cooldown.
    async fn refresh(&self) {
        let before = self.stats().fetches;
        let mut last_try = self.last_try.lock().await;
        if self.stats().fetches != before {
            // Another request fetched while this one waited: its answer stands.
            return;
        }
        let now = self.clock.now();
        if let Some(t) = *last_try {
            if now.as_millis().saturating_sub(t.as_millis()) < self.cooldown_ms {
                return;
            }
        }
        *last_try = Some(now);
        if let Ok((jwks, fresh_until)) = self.fetch().await {
            self.store(jwks, fresh_until);
        }
    }

    async fn fetch(&self) -> Result<(Jwks, UnixTime), Error> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = async {
            let resp = self
                .transport
                .send(HttpRequest::get(&self.jwks_uri))
                .await
                .map_err(Error::Transport)?;
            if resp.status != 200 {
                return Err(Error::Issuer(format!(
                    "{} answered {}",
                    self.jwks_uri, resp.status
                )));
            }
            let text = std::str::from_utf8(&resp.body)
                .map_err(|_| Error::Issuer("the JWKS is not UTF-8".into()))?;
            let jwks = Jwks::from_json(text).map_err(|e| Error::Issuer(format!("JWKS: {e}")))?;
            let age = max_age(resp.header("cache-control"));
            Ok((jwks, self.clock.now().plus_secs(age)))
        }
        .await;
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::max_age;

    #[test]
    fn cache_control() {
        assert_eq!(max_age(None), 300);
        assert_eq!(max_age(Some("public, max-age=60")), 60);
        assert_eq!(max_age(Some("max-age=\"10\"")), 10);
        assert_eq!(max_age(Some("no-store")), 0);
        assert_eq!(max_age(Some("max-age=60, no-cache")), 0);
        assert_eq!(max_age(Some("max-age=99999999")), 86_400);
        assert_eq!(max_age(Some("max-age=-5")), 0);
        assert_eq!(max_age(Some("max-age=abc")), 0);
        assert_eq!(max_age(Some("public")), 300);
    }
}
