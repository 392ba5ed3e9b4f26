//! A relationship as written and read back: with its caveat and its expiration, if any. The text form
//! is SpiceDB's: `resource:id#relation@subject:id[#relation]`, then `[caveat]` or
//! `[caveat:{"param": value, ...}]`, then `[expiration:2030-01-01T00:00:00Z]`.
//!
//! Parsed, never sliced by position: the relationship ends at the first `[` (no type, id or relation
//! may contain one); an expiration is the last bracketed part, when it names `expiration:` and follows
//! the relationship or a `]`; the caveat part must be closed by the last character before it, and the
//! context is whatever a JSON parser accepts as one object. Printed with the context's keys in order,
//! so one caveat and context always print the same (the origin compares caveats by that text).

use crate::caveat::{Context, RelationshipCaveat};
use crate::relationship::{Relationship, RelationshipError};
use crate::schema::Schema;
use tessera_proto::rfc3339;
use tessera_proto::time::UnixTime;

/// The most bytes a relationship's caveat context may take as canonical JSON ([`Tuple::context_json`],
/// what a store keeps; SpiceDB's default limit). The text a writer sends may be longer (spaces) or
/// shorter (`1e15` prints as `1000000000000000.0`): the canonical form is what counts.
pub const MAX_CONTEXT_BYTES: usize = 4096;

/// The most bytes of context text parsed at all, before the canonical form is measured.
const MAX_CONTEXT_TEXT_BYTES: usize = 4 * MAX_CONTEXT_BYTES;

/// A relationship with the caveat and the expiration written with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tuple {
    pub relationship: Relationship,
    pub caveat: Option<RelationshipCaveat>,
    /// From this moment on the relationship counts as deleted (SpiceDB's `OptionalExpiresAt`), kept
    /// to the millisecond (finer fractions are floored: it never lasts longer than written).
    pub expiration: Option<UnixTime>,
}

impl From<Relationship> for Tuple {
    fn from(relationship: Relationship) -> Self {
        Self {
            relationship,
            caveat: None,
            expiration: None,
        }
    }
}

impl Tuple {
    /// Check against `schema`: the relationship as [`Relationship::validate_with_caveat`] does, and an
    /// expiration only where the relation allows the subject type `with expiration` (exactly: a
    /// relationship without one is refused there, as in SpiceDB).
    ///
    /// # Errors
    /// See [`RelationshipError`].
    pub fn validate(&self, schema: &Schema) -> Result<(), RelationshipError> {
        self.relationship.validate_with_traits(
            schema,
            self.caveat.as_ref(),
            self.expiration.is_some(),
        )
    }

    /// Whether the relationship still counts at `now`.
    #[must_use]
    pub fn live_at(&self, now: UnixTime) -> bool {
        self.expiration.is_none_or(|e| e > now)
    }

    /// The caveat's context as canonical JSON (keys in order; empty when there is no caveat or it
    /// carries no context): what a store keeps beside [`Self::caveat_name`].
    #[must_use]
    pub fn context_json(&self) -> String {
        match &self.caveat {
            Some(c) if !c.context.is_empty() => {
                serde_json::to_string(&c.context).unwrap_or_default()
            }
            _ => String::new(),
        }
    }

    /// The caveat's name (empty without one).
    #[must_use]
    pub fn caveat_name(&self) -> &str {
        self.caveat.as_ref().map_or("", |c| c.name.as_str())
    }

    /// A tuple from a store's columns: the relationship, the caveat's name (empty: none) and its
    /// context as [`Self::context_json`] wrote it. No size limit: what was stored is read back.
    ///
    /// # Errors
    /// A context that is not a JSON object.
    pub fn from_columns(
        relationship: Relationship,
        caveat_name: &str,
        context_json: &str,
    ) -> Result<Self, RelationshipError> {
        if caveat_name.is_empty() {
            return Ok(relationship.into());
        }
        Ok(Self {
            relationship,
            caveat: Some(RelationshipCaveat {
                name: caveat_name.to_owned(),
                context: parse_context(context_json, usize::MAX)?,
            }),
            expiration: None,
        })
    }

    /// The same tuple, expiring at `expiration` (milliseconds since the epoch, as a store keeps it).
    #[must_use]
    pub fn expiring(mut self, expiration: Option<i64>) -> Self {
        self.expiration = expiration.map(UnixTime::from_millis);
        self
    }
}

/// An expiration as RFC 3339 UTC, with milliseconds when it has any.
#[must_use]
pub fn format_expiration(at: UnixTime) -> String {
    let millis = at.as_millis();
    let secs = rfc3339::format_date_time(millis.div_euclid(1000));
    match millis.rem_euclid(1000) {
        0 => secs,
        ms => format!("{}.{ms:03}Z", secs.trim_end_matches('Z')),
    }
}

/// An expiration as written in a relationship's `[expiration:...]`: an RFC 3339 date-time (any
/// offset) from year 1970 to 9999.
///
/// # Errors
/// Text that is not such a date-time.
pub fn parse_expiration(text: &str) -> Result<UnixTime, RelationshipError> {
    rfc3339::parse_unix_time(text)
        .filter(|t| t.as_millis() >= 0)
        .ok_or_else(|| {
            RelationshipError::Syntax(format!(
                "`{}` is not an expiration: an RFC 3339 date-time such as 2030-01-01T00:00:00Z",
                text.escape_debug()
            ))
        })
}

fn too_large(bytes: usize) -> RelationshipError {
    RelationshipError::Syntax(format!(
        "a caveat context takes at most {MAX_CONTEXT_BYTES} bytes of JSON, this one {bytes}"
    ))
}

fn valid_caveat_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/')
}

/// A caveat context: a JSON object of at most `limit` bytes of text (empty text: no context).
fn parse_context(json: &str, limit: usize) -> Result<Context, RelationshipError> {
    if json.is_empty() {
        return Ok(Context::new());
    }
    if json.len() > limit {
        return Err(too_large(json.len()));
    }
    serde_json::from_str::<Context>(json).map_err(|e| {
        RelationshipError::Syntax(format!("the caveat context is not a JSON object: {e}"))
    })
}

impl std::str::FromStr for Tuple {
    type Err = RelationshipError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some((relationship, rest)) = text.split_once('[') else {
            return Ok(text.parse::<Relationship>()?.into());
        };
        let relationship: Relationship = relationship.parse()?;
        let (caveat, expiration) = split_expiration(rest)?;
        let Some(caveat) = caveat else {
            return Ok(Self {
                relationship,
                caveat: None,
                expiration,
            });
        };
        let body = caveat.strip_suffix(']').ok_or_else(|| {
            RelationshipError::Syntax(
                "a caveat opened by `[` must close with `]` at the end".into(),
            )
        })?;
        let (name, context) = match body.split_once(':') {
            Some((name, context)) => (name, context),
            None => (body, ""),
        };
        if name == "expiration" && !context.is_empty() && !context.starts_with('{') {
            return Err(RelationshipError::Syntax(
                "`[expiration:...]` must be the last part, after any caveat".into(),
            ));
        }
        if !valid_caveat_name(name) {
            return Err(RelationshipError::Syntax(format!(
                "`{}` is not a caveat name",
                name.escape_debug()
            )));
        }
        if body.contains(':') && context.is_empty() {
            return Err(RelationshipError::Syntax(
                "a caveat's `:` must be followed by its context, a JSON object".into(),
            ));
        }
        let tuple = Self {
            relationship,
            caveat: Some(RelationshipCaveat {
                name: name.to_owned(),
                context: parse_context(context, MAX_CONTEXT_TEXT_BYTES)?,
            }),
            expiration,
        };
        let stored = tuple.context_json().len();
        if stored > MAX_CONTEXT_BYTES {
            return Err(too_large(stored));
        }
        Ok(tuple)
    }
}

/// `rest`, what follows a relationship's first `[` (without it), as its caveat part (again without
/// its opening `[`; `None` when there is none) and its expiration. The expiration is the last
/// bracketed part when that reads `[expiration:...]` and stands right after the relationship or a
/// `]`: a caveat context that merely contains the text stays the caveat's.
fn split_expiration(rest: &str) -> Result<(Option<&str>, Option<UnixTime>), RelationshipError> {
    let last = rest.strip_suffix(']').and_then(|inner| {
        let (before, part) = match inner.rsplit_once('[') {
            Some((before, part)) if before.ends_with(']') => (Some(before), part),
            Some(_) => return None,
            None => (None, inner),
        };
        let at = part.strip_prefix("expiration:")?;
        (!at.starts_with('{')).then_some((before, at))
    });
    match last {
        Some((before, at)) => Ok((before, Some(parse_expiration(at)?))),
        None => Ok((Some(rest), None)),
    }
}

impl std::fmt::Display for Tuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.relationship)?;
        if let Some(c) = &self.caveat {
            match self.context_json().as_str() {
                "" => write!(f, "[{}]", c.name)?,
                json => write!(f, "[{}:{json}]", c.name)?,
            }
        }
        if let Some(at) = self.expiration {
            write!(f, "[expiration:{}]", format_expiration(at))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Tuple, RelationshipError> {
        text.parse()
    }

    #[test]
    fn a_tuple_without_a_caveat_is_its_relationship() {
        let t = parse("doc:1#viewer@user:a").ok();
        assert_eq!(t.as_ref().map(|t| t.caveat.is_none()), Some(true));
        assert_eq!(
            t.map(|t| t.to_string()).as_deref(),
            Some("doc:1#viewer@user:a")
        );
    }

    #[test]
    fn caveats_print_canonically() {
        let t = parse(r#"doc:1#viewer@group:g#member[ip:{"b": [1, 2], "a": "x]"}]"#).ok();
        assert_eq!(
            t.as_ref().map(ToString::to_string).as_deref(),
            Some(r#"doc:1#viewer@group:g#member[ip:{"a":"x]","b":[1,2]}]"#)
        );
        let again = t
            .as_ref()
            .map(ToString::to_string)
            .and_then(|s| parse(&s).ok());
        assert_eq!(again, t);
        assert_eq!(
            parse("doc:1#viewer@user:a[weekday]")
                .map(|t| t.to_string())
                .ok()
                .as_deref(),
            Some("doc:1#viewer@user:a[weekday]")
        );
        // An empty context prints as none.
        assert_eq!(
            parse("doc:1#viewer@user:a[weekday:{}]")
                .map(|t| t.to_string())
                .ok()
                .as_deref(),
            Some("doc:1#viewer@user:a[weekday]")
        );
    }

    #[test]
    fn malformed_caveats_are_refused_with_why() {
        for (text, why) in [
            ("doc:1#viewer@user:a[ip", "must close"),
            ("doc:1#viewer@user:a[ip]x", "must close"),
            ("doc:1#viewer@user:a[]", "not a caveat name"),
            ("doc:1#viewer@user:a[i p]", "not a caveat name"),
            ("doc:1#viewer@user:a[ip:]", "followed by its context"),
            ("doc:1#viewer@user:a[ip:[1]]", "not a JSON object"),
            ("doc:1#viewer@user:a[ip:{\"a\":1}x]", "not a JSON object"),
            ("doc:1#viewer@user:a[é]", "not a caveat name"),
            ("doc:1#viewer[ip]@user:a", "has no `@subject`"),
        ] {
            let e = parse(text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(why), "{text}: {e}");
        }
        let big = format!(
            r#"doc:1#viewer@user:a[ip:{{"a":"{}"}}]"#,
            "x".repeat(MAX_CONTEXT_BYTES)
        );
        let e = parse(&big).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("at most 4096 bytes"), "{e}");
        // Measured as stored: `1e15` takes 18 bytes there. Short text that grows is refused; long
        // text that shrinks is taken.
        let grows = format!(
            r#"doc:1#viewer@user:a[ip:{{"l":[{}]}}]"#,
            vec!["1e15"; 300].join(",")
        );
        let e = parse(&grows)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("at most 4096 bytes"), "{e}");
        let shrinks = format!(
            r#"doc:1#viewer@user:a[ip:{{"l":[{}]}}]"#,
            vec!["1    "; 700].join(",")
        );
        assert!(parse(&shrinks).is_ok());
        // What a store holds is read back whatever its size.
        let t = parse(&shrinks).ok();
        let long = format!(r#"{{"s":"{}"}}"#, "x".repeat(2 * MAX_CONTEXT_BYTES));
        assert!(t
            .map(|t| Tuple::from_columns(t.relationship, "ip", &long).is_ok())
            .unwrap_or(false));
    }

    #[test]
    fn expirations_parse_after_the_caveat_and_print_in_utc() {
        for (text, printed) in [
            (
                "doc:1#viewer@user:a[expiration:2030-01-01T00:00:00Z]",
                "doc:1#viewer@user:a[expiration:2030-01-01T00:00:00Z]",
            ),
            (
                "doc:1#viewer@user:a[expiration:2030-01-01T02:00:00.25+02:00]",
                "doc:1#viewer@user:a[expiration:2030-01-01T00:00:00.250Z]",
            ),
            (
                r#"doc:1#viewer@user:a[ip:{"a":"]["}][expiration:2030-01-01T00:00:00.123456Z]"#,
                r#"doc:1#viewer@user:a[ip:{"a":"]["}][expiration:2030-01-01T00:00:00.123Z]"#,
            ),
            (
                "doc:1#viewer@user:a[ip][expiration:2030-01-01T00:00:00Z]",
                "doc:1#viewer@user:a[ip][expiration:2030-01-01T00:00:00Z]",
            ),
            // A context holding the text is the caveat's, not an expiration.
            (
                r#"doc:1#viewer@user:a[ip:{"s":"[expiration:2030-01-01T00:00:00Z]"}]"#,
                r#"doc:1#viewer@user:a[ip:{"s":"[expiration:2030-01-01T00:00:00Z]"}]"#,
            ),
            // Without `:`, `expiration` is a caveat's name.
            (
                "doc:1#viewer@user:a[expiration]",
                "doc:1#viewer@user:a[expiration]",
            ),
        ] {
            let t = parse(text);
            assert_eq!(
                t.as_ref().map(ToString::to_string).as_deref(),
                Ok(printed),
                "{text}"
            );
            let again = t.as_ref().ok().map(ToString::to_string).map(|p| parse(&p));
            assert_eq!(again, Some(t), "{text}");
        }
        let t = parse("doc:1#viewer@user:a[expiration:1970-01-01T00:00:01Z]").ok();
        assert_eq!(
            t.as_ref().and_then(|t| t.expiration),
            Some(UnixTime::from_secs(1))
        );
        assert_eq!(t.as_ref().map(|t| t.caveat.is_none()), Some(true));
        assert_eq!(
            t.as_ref().map(|t| t.live_at(UnixTime::from_millis(999))),
            Some(true)
        );
        assert_eq!(
            t.as_ref().map(|t| t.live_at(UnixTime::from_secs(1))),
            Some(false)
        );
        for (text, why) in [
            (
                "doc:1#viewer@user:a[expiration:tomorrow]",
                "not an expiration",
            ),
            ("doc:1#viewer@user:a[expiration:]", "not an expiration"),
            (
                "doc:1#viewer@user:a[expiration:1969-12-31T23:59:59Z]",
                "not an expiration",
            ),
            (
                "doc:1#viewer@user:a[expiration:2030-01-01T00:00:00Z",
                "must close",
            ),
            (
                "doc:1#viewer@user:a[expiration:2030-01-01T00:00:00Z][ip]",
                "must be the last part",
            ),
            (
                "doc:1#viewer@user:a[ip]x[expiration:2030-01-01T00:00:00Z]",
                "not a caveat name",
            ),
        ] {
            let e = parse(text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn columns_round_trip() {
        let t = parse(r#"doc:1#viewer@user:a[ip:{"n":1.5}]"#).ok();
        let back = t.as_ref().and_then(|t| {
            Tuple::from_columns(t.relationship.clone(), t.caveat_name(), &t.context_json()).ok()
        });
        assert_eq!(back, t);
        let plain = parse("doc:1#viewer@user:a").ok();
        assert_eq!(plain.as_ref().map(Tuple::caveat_name), Some(""));
        assert_eq!(plain.as_ref().map(Tuple::context_json).as_deref(), Some(""));
    }
}
