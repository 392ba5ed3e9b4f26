//! The hash chain that links each tenant's audit records: record `n`'s hash is
//! `SHA-256("tessera-audit-v1\0" ‖ hash(n-1) ‖ fields of n)`, each field length-prefixed, so that editing,
//! removing or reordering any record changes every hash after it. The first record of a tenant links to 32
//! zero bytes; after retention removed older days, to the anchor retention kept (`audit_anchors`).
//!
//! A chain alone proves nothing against someone who can rewrite the whole table and the head; it turns an
//! edit of one record into an edit of every later one. Exporting the chain's head elsewhere (ClickHouse,
//! a log) is what pins it.

use sha2::{Digest as _, Sha256};
use tessera_proto::audit::AuditEvent;

/// The link before a tenant's first record.
pub const GENESIS: [u8; 32] = [0; 32];

/// The hash of the record `seq` of `event`, stored at `stored_at_ms` with `detail` (the JSON text as
/// stored), after the record whose hash is `prev`.
#[must_use]
pub fn link(
    prev: &[u8; 32],
    seq: u64,
    stored_at_ms: i64,
    event: &AuditEvent,
    detail: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tessera-audit-v1\0");
    h.update(prev);
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    field(seq.to_string().as_bytes());
    field(stored_at_ms.to_string().as_bytes());
    field(event.id.as_bytes());
    field(event.at_ms.to_string().as_bytes());
    field(event.tenant.as_bytes());
    field(event.kind.as_bytes());
    field(event.outcome.as_str().as_bytes());
    field(event.code.as_bytes());
    field(event.actor.kind.as_str().as_bytes());
    field(event.actor.id.as_bytes());
    field(event.request_id.as_bytes());
    field(event.region.as_bytes());
    field(event.source.as_str().as_bytes());
    field(event.subject.as_bytes());
    field(event.resource.as_bytes());
    field(event.permission.as_bytes());
    field(number(event.revision).as_bytes());
    field(event.zookie.as_bytes());
    field(event.consistency.as_bytes());
    field(event.tier.as_bytes());
    field(number(event.latency_us).as_bytes());
    field(detail.as_bytes());
    h.finalize().into()
}

/// Lower-case hex.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// 32 bytes from 64 hex digits; `None` for anything else.
#[must_use]
pub fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = char::from(*pair.first()?).to_digit(16)?;
        let lo = char::from(*pair.get(1)?).to_digit(16)?;
        *byte = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_proto::audit::{Actor, ActorKind, Outcome, Source};

    fn event() -> AuditEvent {
        AuditEvent {
            id: "0".repeat(32),
            at_ms: 1,
            tenant: "acme".into(),
            kind: "check.decision".into(),
            outcome: Outcome::Allowed,
            code: String::new(),
            actor: Actor {
                kind: ActorKind::Service,
                id: String::new(),
            },
            request_id: String::new(),
            region: String::new(),
            source: Source::Origin,
            subject: "user:a".into(),
            resource: "doc:1".into(),
            permission: "view".into(),
            revision: Some(3),
            zookie: String::new(),
            consistency: String::new(),
            tier: String::new(),
            latency_us: None,
            detail: serde_json::Map::new(),
        }
    }

    #[test]
    fn every_field_and_the_previous_link_change_the_hash() {
        let base = link(&GENESIS, 1, 5, &event(), "{}");
        assert_ne!(base, link(&[1; 32], 1, 5, &event(), "{}"));
        assert_ne!(base, link(&GENESIS, 2, 5, &event(), "{}"));
        assert_ne!(base, link(&GENESIS, 1, 5, &event(), "{\"a\":1}"));
        let mut e = event();
        e.outcome = Outcome::Denied;
        assert_ne!(base, link(&GENESIS, 1, 5, &e, "{}"));
        // Length prefixes: moving a character from one field to the next is a different record.
        let (mut a, mut b) = (event(), event());
        a.subject = "user:ab".into();
        a.resource = "c".into();
        b.subject = "user:a".into();
        b.resource = "bc".into();
        assert_ne!(
            link(&GENESIS, 1, 5, &a, "{}"),
            link(&GENESIS, 1, 5, &b, "{}")
        );
    }

    #[test]
    fn hex_round_trips_and_refuses_other_text() {
        let h = link(&GENESIS, 1, 5, &event(), "{}");
        assert_eq!(unhex(&hex(&h)), Some(h));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"g".repeat(64)), None);
        assert_eq!(unhex(&"é".repeat(32)), None);
    }
}
