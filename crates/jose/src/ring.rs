//! The signing key ring and its rotation.
//!
//! States: pending (published, not signing) → active (the one key that signs) → retired (published, not
//! signing) → removed (gone). [`KeyRing::rotate`] moves the ring one step and only when it is safe:
//!
//! - a pending key becomes active only after `jwks_max_age + ring_cache_ttl` seconds, so that every
//!   verifier's cached JWKS (and every edge isolate's cached ring) already holds it;
//! - a retired key is removed only after `max_token_ttl + leeway + ring_cache_ttl` seconds, so that every
//!   token it signed (including by an isolate that had not yet seen the retirement) has expired.
//!
//! Running `rotate` at any moment is therefore safe: when nothing can move yet it changes nothing and says
//! when it can.

use serde::{Deserialize, Serialize};
use tessera_proto::keys::{KeyState, KeyStatus, RingStatus};
use tessera_proto::UnixTime;

use crate::jwk::{Jwks, KeyLookup, PublicJwk};

/// Timing parameters of rotation, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationPolicy {
    /// `Cache-Control: max-age` of the JWKS document.
    pub jwks_max_age: i64,
    /// How long an edge isolate may use its copy of the ring before refetching it.
    pub ring_cache_ttl: i64,
    /// The longest access token lifetime any tenant may configure.
    pub max_token_ttl: i64,
    /// Clock skew verifiers tolerate on `exp`.
    pub leeway: i64,
}

impl RotationPolicy {
    /// How long a pending key is published before it may sign.
    #[must_use]
    pub fn publish_delay(&self) -> i64 {
        self.jwks_max_age.saturating_add(self.ring_cache_ttl)
    }

    /// How long a retired key stays published.
    #[must_use]
    pub fn removal_delay(&self) -> i64 {
        self.max_token_ttl
            .saturating_add(self.leeway)
            .saturating_add(self.ring_cache_ttl)
    }
}

/// One key of the ring. The private scalar is only ever held sealed (see [`crate::seal`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingKey {
    pub kid: String,
    pub state: KeyState,
    pub public: PublicJwk,
    /// The private scalar sealed under the key-encryption key, `kid` as associated data.
    pub sealed_private: String,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
}

impl RingKey {
    /// A new key in the pending state (`created_at = now`).
    #[must_use]
    pub fn pending(public: PublicJwk, sealed_private: String, now: UnixTime) -> Self {
        Self {
            kid: public.kid().to_owned(),
            state: KeyState::Pending,
            public,
            sealed_private,
            created_at: now.as_secs(),
            activated_at: None,
            retired_at: None,
        }
    }
}

/// What one rotation step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub changes: Vec<String>,
    /// When the next step can make progress, if the ring is waiting.
    pub next_step_at: Option<i64>,
}

/// The key ring. Serialised as-is into the edge's Durable Object storage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRing {
    pub keys: Vec<RingKey>,
}

impl KeyRing {
    /// The signing key, if any.
    #[must_use]
    pub fn active(&self) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.state == KeyState::Active)
    }

    /// Every published key (pending, active, retired).
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.keys.iter().map(|k| k.public.clone()).collect(),
        }
    }

    /// Advance the ring one safe step at time `now`. `fresh` makes a new pending key when one is needed.
    ///
    /// # Errors
    /// Only what `fresh` returns.
    pub fn rotate<E>(
        &mut self,
        now: UnixTime,
        policy: &RotationPolicy,
        fresh: impl FnOnce() -> Result<RingKey, E>,
    ) -> Result<RotationReport, E> {
        // The ring stores NumericDates (whole seconds), so it reasons in them.
        let now = now.as_secs();
        let mut changes = Vec::new();
        self.keys.retain(|k| {
            let expired = k.state == KeyState::Retired
                && k.retired_at
                    .is_some_and(|at| now >= at.saturating_add(policy.removal_delay()));
            if expired {
                changes.push(format!("removed retired key {}", k.kid));
            }
            !expired
        });
        let pending = self.keys.iter().position(|k| k.state == KeyState::Pending);
        let active = self.keys.iter().position(|k| k.state == KeyState::Active);
        match (active, pending) {
            (None, None) => {
                // Bootstrap: nothing was ever signed, so there is nothing to wait for.
                let mut key = fresh()?;
                key.state = KeyState::Active;
                key.activated_at = Some(now);
                changes.push(format!("created active key {} (empty ring)", key.kid));
                self.keys.push(key);
            }
            (None, Some(p)) => {
                if let Some(key) = self.keys.get_mut(p) {
                    key.state = KeyState::Active;
                    key.activated_at = Some(now);
                    changes.push(format!("activated pending key {} (no active key)", key.kid));
                }
            }
            (Some(a), Some(p)) => {
                let ripe = self
                    .keys
                    .get(p)
                    .is_some_and(|k| now >= k.created_at.saturating_add(policy.publish_delay()));
                if ripe {
                    if let Some(old) = self.keys.get_mut(a) {
                        old.state = KeyState::Retired;
                        old.retired_at = Some(now);
                        changes.push(format!("retired key {}", old.kid));
                    }
                    if let Some(new) = self.keys.get_mut(p) {
                        new.state = KeyState::Active;
                        new.activated_at = Some(now);
                        changes.push(format!("activated key {}", new.kid));
                    }
                }
            }
            (Some(_), None) => {
                let key = fresh()?;
                changes.push(format!("added pending key {}", key.kid));
                self.keys.push(key);
            }
        }
        Ok(RotationReport {
            changes,
            next_step_at: self.next_step_at(now, policy),
        })
    }

    /// The earliest future moment at which [`KeyRing::rotate`] can do something it cannot do at `now`.
    fn next_step_at(&self, now: i64, policy: &RotationPolicy) -> Option<i64> {
        self.keys
            .iter()
            .filter_map(|k| match k.state {
                KeyState::Pending => Some(k.created_at.saturating_add(policy.publish_delay())),
                KeyState::Retired => k
                    .retired_at
                    .map(|at| at.saturating_add(policy.removal_delay())),
                KeyState::Active => None,
            })
            .filter(|&t| t > now)
            .min()
    }

    /// Public status for operators.
    #[must_use]
    pub fn status(&self, report: Option<&RotationReport>) -> RingStatus {
        RingStatus {
            keys: self
                .keys
                .iter()
                .map(|k| KeyStatus {
                    kid: k.kid.clone(),
                    state: k.state,
                    created_at: k.created_at,
                    activated_at: k.activated_at,
                    retired_at: k.retired_at,
                })
                .collect(),
            changes: report.map(|r| r.changes.clone()).unwrap_or_default(),
            next_step_at: report.and_then(|r| r.next_step_at),
        }
    }
}

impl KeyLookup for KeyRing {
    fn key(&self, kid: &str) -> Option<&PublicJwk> {
        self.keys.iter().find(|k| k.kid == kid).map(|k| &k.public)
    }
}
