//! Values checked against their attribute (RFC 7643 §2.3): JSON types, RFC 3339 date-times, known
//! sub-attributes, spelt as the schema spells them. `"True"`/`"False"` for a boolean and a lone value
//! for a multi-valued attribute are accepted with a [`Correction`]; read-only sub-attributes inside a
//! value are dropped with one.

use serde_json::{Map, Value};

use super::{Correction, PatchError, PatchErrorKind};
use crate::schema::{AttrType, Attribute, Mutability};
use tessera_proto::rfc3339::parse_date_time;

/// Where corrections go, and which operation they belong to.
pub(super) struct Ctx<'c> {
    pub(super) operation: usize,
    pub(super) corrections: &'c mut Vec<Correction>,
}

impl Ctx<'_> {
    pub(super) fn err(&self, kind: PatchErrorKind, message: impl Into<String>) -> PatchError {
        PatchError::new(kind, Some(self.operation), message)
    }
}

/// `v` as the values of multi-valued `attr` (a lone value is wrapped); nulls dropped.
pub(super) fn check_multi(
    attr: &Attribute,
    v: &Value,
    path: &str,
    ctx: &mut Ctx<'_>,
) -> Result<Vec<Value>, PatchError> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        single => {
            ctx.corrections.push(Correction::SingleValueWrapped {
                operation: ctx.operation,
                path: path.to_owned(),
            });
            vec![single]
        }
    };
    items
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|item| check_single(attr, item, path, ctx))
        .collect()
}

/// `v` as one value of `attr` (one element, when `attr` is multi-valued). Not null.
pub(super) fn check_single(
    attr: &Attribute,
    v: &Value,
    path: &str,
    ctx: &mut Ctx<'_>,
) -> Result<Value, PatchError> {
    let wrong = |ctx: &Ctx<'_>, expected: &str| {
        Err(ctx.err(
            PatchErrorKind::Value,
            format!("`{path}` takes {expected}, not {}", json_kind(v)),
        ))
    };
    match (attr.ty, v) {
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_))
        | (AttrType::Boolean, Value::Bool(_))
        | (AttrType::Decimal, Value::Number(_)) => Ok(v.clone()),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(v.clone()),
        (AttrType::Integer, _) => wrong(ctx, "an integer"),
        (AttrType::Boolean, Value::String(s)) => {
            let b = if s.eq_ignore_ascii_case("true") {
                true
            } else if s.eq_ignore_ascii_case("false") {
                false
            } else {
                return wrong(ctx, "a boolean");
            };
            ctx.corrections.push(Correction::BooleanAsString {
                operation: ctx.operation,
                path: path.to_owned(),
                given: s.clone(),
            });
            Ok(Value::Bool(b))
        }
        (AttrType::DateTime, Value::String(s)) if parse_date_time(s).is_some() => Ok(v.clone()),
        (AttrType::DateTime, _) => wrong(ctx, "an RFC 3339 date-time"),
        (AttrType::Complex, Value::Object(map)) => {
            let mut out = Map::new();
            for (key, sv) in map {
                let sub_path = format!("{path}.{key}");
                let Some(sub) = attr.sub(key) else {
                    return Err(ctx.err(
                        PatchErrorKind::Value,
                        format!("`{sub_path}` is not an attribute"),
                    ));
                };
                if sub.mutability == Mutability::ReadOnly {
                    ctx.corrections.push(Correction::ReadOnlyIgnored {
                        operation: ctx.operation,
                        path: sub_path,
                    });
                    continue;
                }
                if sv.is_null() {
                    continue;
                }
                let checked = check_single(sub, sv, &sub_path, ctx)?;
                out.insert(sub.name.to_owned(), checked);
            }
            Ok(Value::Object(out))
        }
        (AttrType::Complex, Value::String(_) | Value::Number(_) | Value::Bool(_))
            if attr.sub("value").is_some() =>
        {
            ctx.corrections.push(Correction::BareComplexValue {
                operation: ctx.operation,
                path: path.to_owned(),
            });
            let wrapped = Value::Object(Map::from_iter([("value".to_owned(), v.clone())]));
            check_single(attr, &wrapped, path, ctx)
        }
        (AttrType::Complex, _) => wrong(ctx, "an object"),
        (AttrType::String | AttrType::Reference | AttrType::Binary, _) => wrong(ctx, "a string"),
        (AttrType::Boolean, _) => wrong(ctx, "a boolean"),
        (AttrType::Decimal, _) => wrong(ctx, "a number"),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
