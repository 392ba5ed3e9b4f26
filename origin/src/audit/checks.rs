//! What an event must be before it is stored: [`fit`] shortens what is too long (never refusing an event
//! for its size), [`check`] refuses what is malformed (id, tenant, kind, code, time).

use tessera_proto::audit::AuditEvent;

use super::store::Checked;
use super::{MAX_DETAIL_BYTES, MAX_FIELD_BYTES};

/// The longest each text field may be (bytes), in one place for [`fit`] and [`check`].
const LIMITS: [(&str, usize); 9] = [
    ("actor.id", 256),
    ("request_id", 128),
    ("region", 64),
    ("subject", MAX_FIELD_BYTES),
    ("resource", MAX_FIELD_BYTES),
    ("permission", 256),
    ("zookie", 256),
    ("consistency", 64),
    ("tier", 64),
];

fn text_fields(e: &mut AuditEvent) -> [(&'static str, &mut String); 9] {
    [
        ("actor.id", &mut e.actor.id),
        ("request_id", &mut e.request_id),
        ("region", &mut e.region),
        ("subject", &mut e.subject),
        ("resource", &mut e.resource),
        ("permission", &mut e.permission),
        ("zookie", &mut e.zookie),
        ("consistency", &mut e.consistency),
        ("tier", &mut e.tier),
    ]
}

/// An event cut to what [`check`] accepts, so that nothing is refused for its size: NUL characters
/// removed (PostgreSQL's text refuses them), each long text field shortened at a character boundary and
/// marked in `detail.truncated` (with the field's full length), a detail too large replaced by a note of
/// its size. Both the origin's own events and the edge's go through it: a question with a 1 KiB object id
/// is recorded, shortened, not lost.
#[must_use]
pub fn fit(mut e: AuditEvent) -> AuditEvent {
    fn cut(text: &mut String, max: usize) -> Option<usize> {
        if text.contains('\0') {
            text.retain(|c| c != '\0');
        }
        if text.len() <= max {
            return None;
        }
        let full = text.len();
        let end = text
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .take_while(|end| *end <= max)
            .last()
            .unwrap_or(0);
        text.truncate(end);
        Some(full)
    }
    let mut cut_fields = serde_json::Map::new();
    for ((name, field), (_, max)) in text_fields(&mut e).into_iter().zip(LIMITS) {
        if let Some(full) = cut(field, max) {
            cut_fields.insert(name.to_owned(), full.into());
        }
    }
    let len = serde_json::to_string(&e.detail).map_or(usize::MAX, |t| t.len());
    if len > MAX_DETAIL_BYTES {
        e.detail = serde_json::Map::new();
        e.detail.insert("truncated_detail_bytes".into(), len.into());
    }
    if !cut_fields.is_empty() {
        e.detail
            .insert("truncated".into(), serde_json::Value::Object(cut_fields));
    }
    e
}

/// Check an event before it is stored: its id, tenant, kind and sizes, and a time not in the future
/// (beyond 10 minutes of clock skew) nor more than 30 days old.
///
/// # Errors
/// Why it is refused (the message quotes no attacker text beyond the field's name).
pub fn check(mut event: AuditEvent, now_ms: i64) -> Result<Checked, String> {
    let id_ok = event.id.len() == 32
        && event
            .id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !id_ok {
        return Err("`id` must be 32 lower-case hex digits".to_owned());
    }
    event
        .tenant
        .parse::<tessera_proto::TenantId>()
        .map_err(|_| "`tenant` is not a tenant name".to_owned())?;
    let kind_ok = !event.kind.is_empty()
        && event.kind.len() <= 64
        && event
            .kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if !kind_ok {
        return Err("`kind` must be 1-64 characters of a-z, 0-9, `_` or `.`".to_owned());
    }
    let code_ok = event.code.len() <= 64
        && event
            .code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !code_ok {
        return Err("`code` must be at most 64 characters of a-z, 0-9 or `_`".to_owned());
    }
    if event.at_ms > now_ms + 600_000 {
        return Err("`at_ms` is more than 10 minutes in the future".to_owned());
    }
    if event.at_ms < now_ms - 30 * 86_400_000 {
        return Err("`at_ms` is more than 30 days in the past".to_owned());
    }
    for ((name, value), (_, max)) in text_fields(&mut event).into_iter().zip(LIMITS) {
        if value.len() > max {
            return Err(format!("`{name}` is longer than {max} bytes"));
        }
        if value.contains('\0') {
            return Err(format!("`{name}` holds a NUL character"));
        }
    }
    let detail = serde_json::to_string(&event.detail).map_err(|e| e.to_string())?;
    if detail.len() > MAX_DETAIL_BYTES {
        return Err(format!("`detail` is longer than {MAX_DETAIL_BYTES} bytes"));
    }
    if event.latency_us.is_some_and(|l| i64::try_from(l).is_err()) {
        event.latency_us = None;
    }
    Ok(Checked { event, detail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{event, ActorExt as _};
    use tessera_proto::audit::{Actor, Outcome};

    fn ok_event() -> AuditEvent {
        let mut e = event("acme", "check.decision", Outcome::Allowed, Actor::service());
        e.id = "a".repeat(32);
        e.at_ms = 1_000_000_000_000;
        e
    }

    #[test]
    fn the_origins_own_events_are_fitted_not_refused() {
        let mut e = ok_event();
        e.resource = "é".repeat(1000);
        e.detail
            .insert("why".into(), serde_json::Value::from("x".repeat(20_000)));
        let fitted = fit(e);
        assert!(fitted.resource.len() <= MAX_FIELD_BYTES);
        assert!(fitted.resource.chars().all(|c| c == 'é'));
        assert_eq!(
            fitted
                .detail
                .get("truncated")
                .and_then(|t| t.get("resource")),
            Some(&serde_json::Value::from(2000))
        );
        assert!(fitted.detail.contains_key("truncated_detail_bytes"));
        assert!(check(fitted, 1_000_000_000_000).is_ok());
        let mut e = ok_event();
        e.region = "eu\0west".repeat(20);
        let fitted = fit(e);
        assert!(!fitted.region.contains('\0'));
        assert!(check(fitted, 1_000_000_000_000).is_ok());
    }

    #[test]
    fn a_well_formed_event_passes() {
        assert!(check(ok_event(), 1_000_000_000_000).is_ok());
    }

    #[test]
    fn bad_events_are_refused_with_the_field_named() {
        let now = 1_000_000_000_000;
        let refuse = |f: &dyn Fn(&mut AuditEvent), says: &str| {
            let mut e = ok_event();
            f(&mut e);
            let Err(message) = check(e, now) else {
                panic!("accepted an event that should say {says}")
            };
            assert!(message.contains(says), "{message} should name {says}");
        };
        refuse(&|e| e.id = "A".repeat(32), "`id`");
        refuse(&|e| e.id = "a".repeat(31), "`id`");
        refuse(&|e| e.tenant = "Bad Tenant".into(), "tenant");
        refuse(&|e| e.kind = "Check Decision".into(), "`kind`");
        refuse(&|e| e.code = "Not-A-Code".into(), "`code`");
        refuse(&|e| e.at_ms = now + 700_000, "future");
        refuse(&|e| e.at_ms = now - 31 * 86_400_000, "past");
        refuse(&|e| e.resource = "x".repeat(2000), "`resource`");
        refuse(
            &|e| {
                e.detail
                    .insert("why".into(), serde_json::Value::from("x".repeat(20_000)));
            },
            "`detail`",
        );
    }
}
