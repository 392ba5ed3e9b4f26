//! A relationship as written and read back: with its caveat, if any. The text form is SpiceDB's:
//! `resource:id#relation@subject:id[#relation]`, then `[caveat]` or `[caveat:{"param": value, ...}]`.
//!
//! Parsed, never sliced by position: the relationship ends at the first `[` (no type, id or relation
//! may contain one), the caveat part must be closed by the text's last character, and the context is
//! whatever a JSON parser accepts as one object. Printed with the context's keys in order, so one
//! caveat and context always print the same (the origin compares caveats by that text).

use crate::caveat::{Context, RelationshipCaveat};
use crate::relationship::{Relationship, RelationshipError};
use crate::schema::Schema;

/// The most bytes a relationship's caveat context may take as canonical JSON ([`Tuple::context_json`],
/// what a store keeps; SpiceDB's default limit). The text a writer sends may be longer (spaces) or
/// shorter (`1e15` prints as `1000000000000000.0`): the canonical form is what counts.
pub const MAX_CONTEXT_BYTES: usize = 4096;

/// The most bytes of context text parsed at all, before the canonical form is measured.
const MAX_CONTEXT_TEXT_BYTES: usize = 4 * MAX_CONTEXT_BYTES;

/// A relationship with the caveat written with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tuple {
    pub relationship: Relationship,
    pub caveat: Option<RelationshipCaveat>,
}

impl From<Relationship> for Tuple {
    fn from(relationship: Relationship) -> Self {
        Self {
            relationship,
            caveat: None,
        }
    }
}

impl Tuple {
    /// Check against `schema`: the relationship as [`Relationship::validate_with_caveat`] does.
    ///
    /// # Errors
    /// See [`RelationshipError`].
    pub fn validate(&self, schema: &Schema) -> Result<(), RelationshipError> {
        self.relationship
            .validate_with_caveat(schema, self.caveat.as_ref())
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
        })
    }
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
        let Some((relationship, caveat)) = text.split_once('[') else {
            return Ok(text.parse::<Relationship>()?.into());
        };
        let relationship: Relationship = relationship.parse()?;
        let body = caveat.strip_suffix(']').ok_or_else(|| {
            RelationshipError::Syntax(
                "a caveat opened by `[` must close with `]` at the end".into(),
            )
        })?;
        let (name, context) = match body.split_once(':') {
            Some((name, context)) => (name, context),
            None => (body, ""),
        };
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
        };
        let stored = tuple.context_json().len();
        if stored > MAX_CONTEXT_BYTES {
            return Err(too_large(stored));
        }
        Ok(tuple)
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
