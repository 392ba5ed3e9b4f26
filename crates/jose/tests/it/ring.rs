//! Key ring rotation: unit steps, and a simulation proving that no valid token can meet a verifier whose
//! JWKS lacks its key, whatever the moments at which an operator runs the rotation.

use std::collections::HashMap;

use proptest::prelude::*;
use tessera_jose::jwk::PublicJwk;
use tessera_jose::{KeyRing, RingKey, RotationPolicy};
use tessera_proto::keys::KeyState;
use tessera_proto::UnixTime;

use crate::key;

/// A moment in whole seconds, as the ring stores them.
fn at(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs)
}

const POLICY: RotationPolicy = RotationPolicy {
    jwks_max_age: 60,
    ring_cache_ttl: 10,
    max_token_ttl: 300,
    leeway: 30,
};

fn fresh(
    counter: &mut u8,
    now: i64,
) -> impl FnOnce() -> Result<RingKey, std::convert::Infallible> + '_ {
    move || {
        *counter = counter.wrapping_add(1);
        let public: PublicJwk = key(*counter).public_jwk().clone();
        Ok(RingKey::pending(public, "sealed".into(), at(now)))
    }
}

fn states(ring: &KeyRing) -> Vec<KeyState> {
    ring.keys.iter().map(|k| k.state).collect()
}

#[test]
fn one_full_cycle_step_by_step() {
    let mut ring = KeyRing::default();
    let mut n = 0;
    let r = ring.rotate(at(0), &POLICY, fresh(&mut n, 0)).unwrap();
    assert_eq!(states(&ring), [KeyState::Active], "{r:?}");
    let first = ring.active().unwrap().kid.clone();

    let r = ring.rotate(at(5), &POLICY, fresh(&mut n, 5)).unwrap();
    assert_eq!(states(&ring), [KeyState::Active, KeyState::Pending]);
    assert_eq!(r.next_step_at, Some(5 + 70));

    // Too early: nothing moves, and the report says when it can.
    let r = ring.rotate(at(74), &POLICY, fresh(&mut n, 74)).unwrap();
    assert!(r.changes.is_empty());
    assert_eq!(states(&ring), [KeyState::Active, KeyState::Pending]);

    let r = ring.rotate(at(75), &POLICY, fresh(&mut n, 75)).unwrap();
    assert_eq!(
        states(&ring),
        [KeyState::Retired, KeyState::Active],
        "{r:?}"
    );
    assert_eq!(r.next_step_at, Some(75 + 340));
    assert_eq!(ring.jwks().keys.len(), 2, "the retired key stays published");

    // The next call adds a new pending key; the retired one stays until its tokens have expired.
    ring.rotate(at(100), &POLICY, fresh(&mut n, 100)).unwrap();
    assert_eq!(
        states(&ring),
        [KeyState::Retired, KeyState::Active, KeyState::Pending]
    );
    ring.rotate(at(414), &POLICY, fresh(&mut n, 414)).unwrap();
    assert!(
        ring.keys.iter().any(|k| k.kid == first),
        "not yet: 75 + 340 = 415"
    );
    let r = ring.rotate(at(415), &POLICY, fresh(&mut n, 415)).unwrap();
    assert!(ring.keys.iter().all(|k| k.kid != first), "{r:?}");
    assert!(r.changes.iter().any(|c| c.starts_with("removed")));
}

#[test]
fn ring_serialises_losslessly() {
    let mut ring = KeyRing::default();
    let mut n = 0;
    ring.rotate(at(0), &POLICY, fresh(&mut n, 0)).unwrap();
    ring.rotate(at(1), &POLICY, fresh(&mut n, 1)).unwrap();
    let text = serde_json::to_string(&ring).unwrap();
    assert_eq!(serde_json::from_str::<KeyRing>(&text).unwrap(), ring);
}

#[derive(Default, Debug)]
struct Life {
    created: i64,
    activated: Option<i64>,
    retired: Option<i64>,
    removed: Option<i64>,
    bootstrap: bool,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Operators run `rotate` at arbitrary moments. For every key, the window in which some verifier may see a
    /// token signed by it must lie inside the window in which every verifier's cached JWKS holds it.
    #[test]
    fn rotation_never_strands_a_valid_token(gaps in proptest::collection::vec(0i64..400, 1..40)) {
        let mut ring = KeyRing::default();
        let mut n = 0u8;
        let mut now = 0;
        let mut life: HashMap<String, Life> = HashMap::new();
        for gap in gaps {
            now += gap;
            let before: HashMap<String, KeyState> = ring.keys.iter().map(|k| (k.kid.clone(), k.state)).collect();
            ring.rotate(at(now), &POLICY, fresh(&mut n, now)).unwrap();
            prop_assert!(ring.keys.iter().filter(|k| k.state == KeyState::Active).count() == 1);
            prop_assert!(ring.keys.iter().filter(|k| k.state == KeyState::Pending).count() <= 1);
            for k in &ring.keys {
                let l = life.entry(k.kid.clone()).or_insert_with(|| Life { created: now, bootstrap: before.is_empty(), ..Life::default() });
                if k.state == KeyState::Active && l.activated.is_none() { l.activated = Some(now); }
                if k.state == KeyState::Retired && l.retired.is_none() { l.retired = Some(now); }
            }
            for kid in before.keys() {
                if ring.keys.iter().all(|k| &k.kid != kid) {
                    life.get_mut(kid).unwrap().removed = Some(now);
                }
            }
        }
        let ttl = POLICY.ring_cache_ttl;
        for (kid, l) in &life {
            let Some(activated) = l.activated else { continue };
            if !l.bootstrap {
                // Verifiers hold JWKS copies up to jwks_max_age old, taken from isolates whose ring is up to ttl old.
                prop_assert!(l.created <= activated - POLICY.jwks_max_age - ttl, "{kid} signed before it was everywhere: {l:?}");
            }
            if let (Some(retired), Some(removed)) = (l.retired, l.removed) {
                // A stale isolate may still sign up to ttl after retirement; its tokens live max_token_ttl + leeway.
                prop_assert!(removed >= retired + ttl + POLICY.max_token_ttl + POLICY.leeway, "{kid} removed while its tokens live: {l:?}");
            }
            prop_assert!(l.removed.is_none() || l.retired.is_some(), "{kid} removed without retiring");
        }
    }
}
