//! Operations on the values of a multi-valued complex attribute that a value filter selects
//! (`members[value eq "x"]`, `emails[type eq "work"].value`; RFC 7644 §3.5.2.2–3): `remove` drops them
//! (or their sub-attribute), `replace` replaces them whole (read-only sub-attributes kept, immutable ones
//! unchanged) or sets their sub-attribute, `add` merges into them. When nothing matches, a filter of
//! `eq` comparisons describes the value to create (Entra ID); any other is `noTarget`.

use serde_json::{Map, Value};

use super::apply::{map_get_ci, one_primary, set_sub};
use super::value::{check_single, Ctx};
use super::{Correction, Op, PatchError, PatchErrorKind};
use crate::filter::{BoundFilter, CompareOp, Filter};
use crate::schema::{Attribute, Mutability};

/// An operation on the values of a multi-valued complex attribute that a filter selects.
#[allow(
    clippy::too_many_arguments,
    reason = "one internal step with its whole context"
)]
pub(super) fn filtered(
    attr: &Attribute,
    op: Op,
    before: Option<&Value>,
    (matcher, raw): (&BoundFilter, &Filter),
    sub: Option<&Attribute>,
    value: Option<&Value>,
    text: &str,
    ctx: &mut Ctx<'_>,
) -> Result<Option<Value>, PatchError> {
    let mut items = before
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let hits: Vec<usize> = (0..items.len())
        .filter(|&i| items.get(i).is_some_and(|v| matcher.matches(v)))
        .collect();
    match (op, sub) {
        (Op::Remove, None) => {
            let hit: std::collections::HashSet<usize> = hits.iter().copied().collect();
            let mut i = 0;
            items.retain(|_| {
                i += 1;
                !hit.contains(&(i - 1))
            });
        }
        (Op::Remove, Some(s)) => {
            for &h in &hits {
                if let Some(Value::Object(obj)) = items.get_mut(h) {
                    set_sub(obj, s, Op::Remove, None, text, ctx)?;
                }
            }
        }
        (_, _) if hits.is_empty() => {
            let Some(mut created) = eq_fields(raw, attr) else {
                return Err(ctx.err(
                    PatchErrorKind::NoTarget,
                    format!("`{text}` matches no value"),
                ));
            };
            match sub {
                Some(s) => set_sub(&mut created, s, op, value, text, ctx)?,
                None => {
                    if let Some(Value::Object(m)) = value
                        .map(|v| check_single(attr, v, text, ctx))
                        .transpose()?
                    {
                        created.extend(m);
                    }
                }
            }
            ctx.corrections.push(Correction::CreatedFromFilter {
                operation: ctx.operation,
                path: text.to_owned(),
            });
            items.push(Value::Object(created));
        }
        (_, Some(s)) => {
            for &h in &hits {
                if let Some(Value::Object(obj)) = items.get_mut(h) {
                    set_sub(obj, s, op, value, text, ctx)?;
                }
            }
        }
        (_, None) => {
            let Some(v) = value.filter(|v| !v.is_null()) else {
                return Err(ctx.err(PatchErrorKind::Value, format!("`{text}` needs a value")));
            };
            let Value::Object(new) = check_single(attr, v, text, ctx)? else {
                return Err(ctx.err(PatchErrorKind::Value, format!("`{text}` takes an object")));
            };
            for &h in &hits {
                if let Some(Value::Object(obj)) = items.get_mut(h) {
                    let old = obj.clone();
                    let mut next = if op == Op::Add {
                        old.clone()
                    } else {
                        Map::new()
                    };
                    next.extend(new.clone());
                    for s in attr
                        .sub_attributes
                        .iter()
                        .filter(|s| s.mutability != Mutability::ReadWrite)
                    {
                        let (o, n) = (map_get_ci(&old, s.name), next.get(s.name));
                        if s.mutability == Mutability::ReadOnly {
                            // Read-only values stay as they were.
                            if let Some(o) = o {
                                next.insert(s.name.to_owned(), o.clone());
                            }
                        } else if o.is_some() && n != o {
                            return Err(ctx.err(
                                PatchErrorKind::Mutability,
                                format!("`{}.{}` is immutable", attr.name, s.name),
                            ));
                        }
                    }
                    *obj = next;
                }
            }
        }
    }
    one_primary(&mut items);
    Ok(Some(Value::Array(items)))
}

/// The value a filter of `eq` comparisons describes (`type eq "work"` → `{"type": "work"}`), or `None`
/// when the filter is anything else.
fn eq_fields(filter: &Filter, attr: &Attribute) -> Option<Map<String, Value>> {
    match filter {
        Filter::And(a, b) => {
            let mut m = eq_fields(a, attr)?;
            m.extend(eq_fields(b, attr)?);
            Some(m)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.urn.is_none() && path.sub.is_none() && !value.is_null() => {
            let sub = attr.sub(&path.name)?;
            (sub.mutability != Mutability::ReadOnly)
                .then(|| Map::from_iter([(sub.name.to_owned(), value.clone())]))
        }
        _ => None,
    }
}
