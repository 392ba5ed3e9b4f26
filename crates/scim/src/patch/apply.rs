//! Applying PATCH operations to a resource (RFC 7644 §3.5.2.1–3). Each operation computes the
//! attribute's new value from its old one; mutability is then judged by comparing the two (a read-only
//! attribute may be "changed" to what it already is, an immutable one only while unassigned), and the
//! new value is written back (null and `[]` unassign, RFC 7643 §2.5). The whole PATCH works on a copy:
//! an error leaves the caller's resource as it was.
//!
//! - `add`: a multi-valued attribute gets the new values appended (values already there are not added
//!   twice); a complex one has the given sub-attributes merged in; a simple one is set. Without a path,
//!   each member of the value object is added.
//! - `replace`: a multi-valued attribute's values are all replaced — or, with a value filter, just the
//!   matching values (or their sub-attribute, `emails[type eq "work"].value`); a complex attribute has
//!   the given sub-attributes replaced, the others kept. Without a path, each member is replaced.
//! - `remove`: the attribute, the values a filter matches, or their sub-attribute. A required attribute
//!   cannot be removed (`invalidValue`).
//!
//! Where a filter matches nothing, `replace` fails with `noTarget`, except that a filter made only of
//! `eq` comparisons (`emails[type eq "work"].value`, as Entra ID sends for a user without a work email)
//! creates the value it describes ([`Correction::CreatedFromFilter`]).

use serde_json::{Map, Value};

use super::path::{Bound, PatchPath};
use super::select::filtered;
use super::value::{check_multi, check_single, Ctx};
use super::{Correction, Op, PatchError, PatchErrorKind, PatchRequest};
use crate::filter::get_ci;
use crate::schema::{AttrType, Attribute, Mutability, ResourceType};

/// The result of a PATCH.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOutcome {
    pub resource: Value,
    /// Whether the resource differs from the one given (the shell bumps `meta.version` and
    /// `meta.lastModified` only then).
    pub changed: bool,
    /// The request's corrections and those made while applying it.
    pub corrections: Vec<Correction>,
}

/// Apply `request` to `resource` (the resource's JSON, as the origin stores it) of type `rt`.
///
/// # Errors
/// The first operation that cannot be applied; see [`super::PatchErrorKind`].
pub fn apply_patch(
    resource: &Value,
    request: &PatchRequest,
    rt: &ResourceType,
) -> Result<PatchOutcome, PatchError> {
    if !resource.is_object() {
        return Err(PatchError::new(
            PatchErrorKind::Syntax,
            None,
            "the resource is not a JSON object",
        ));
    }
    let mut doc = resource.clone();
    let mut corrections = request.corrections.clone();
    for (i, operation) in request.operations.iter().enumerate() {
        let mut ctx = Ctx {
            operation: i,
            corrections: &mut corrections,
        };
        let value = operation.value.as_ref();
        match &operation.path {
            None => pathless(&mut doc, operation.op, value, rt, &mut ctx)?,
            Some(path) => {
                let bound = path.bind(rt, i)?;
                apply_bound(
                    &mut doc,
                    operation.op,
                    &bound,
                    value,
                    &path.text,
                    rt,
                    &mut ctx,
                )?;
            }
        }
    }
    sync_schemas(&mut doc, rt);
    let changed = doc != *resource;
    Ok(PatchOutcome {
        resource: doc,
        changed,
        corrections,
    })
}

/// `add`/`replace` without a path: every member of the value object is an attribute — or an
/// extension's URN holding its attributes, or (Entra ID) a path such as `name.givenName`.
fn pathless(
    doc: &mut Value,
    op: Op,
    value: Option<&Value>,
    rt: &ResourceType,
    ctx: &mut Ctx<'_>,
) -> Result<(), PatchError> {
    let Some(Value::Object(map)) = value else {
        return Err(ctx.err(
            PatchErrorKind::Value,
            "an operation without a path takes an object value",
        ));
    };
    for (key, v) in map {
        let path = PatchPath::parse(key).map_err(|mut e| {
            e.operation = Some(ctx.operation);
            e
        })?;
        let bound = match path.bind(rt, ctx.operation) {
            Ok(b) => b,
            Err(e) if key.eq_ignore_ascii_case(rt.schema.id) => {
                // The core schema's URN holding core attributes.
                let Value::Object(inner) = v else {
                    return Err(e);
                };
                for (k, iv) in inner {
                    let p = PatchPath::parse(&format!("{}:{k}", rt.schema.id))?;
                    let b = p.bind(rt, ctx.operation)?;
                    apply_bound(doc, op, &b, Some(iv), k, rt, ctx)?;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if (path.attr.sub.is_some() || path.attr.urn.is_some())
            && !matches!(bound, Bound::Extension(_))
        {
            ctx.corrections.push(Correction::PathAsValueKey {
                operation: ctx.operation,
                key: key.clone(),
            });
        }
        apply_bound(doc, op, &bound, Some(v), key, rt, ctx)?;
    }
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "one internal step with its whole context"
)]
fn apply_bound(
    doc: &mut Value,
    op: Op,
    bound: &Bound<'_>,
    value: Option<&Value>,
    text: &str,
    rt: &ResourceType,
    ctx: &mut Ctx<'_>,
) -> Result<(), PatchError> {
    let (at, filter, sub) = match bound {
        Bound::Extension(ext) => {
            let urn = ext.schema.id;
            if op == Op::Remove {
                if ext.required {
                    return Err(ctx.err(PatchErrorKind::Value, format!("`{urn}` is required")));
                }
                if let Some(map) = doc.as_object_mut() {
                    map.retain(|k, _| !k.eq_ignore_ascii_case(urn));
                }
                return Ok(());
            }
            let Some(Value::Object(members)) = value else {
                return Err(ctx.err(PatchErrorKind::Value, format!("`{urn}` takes an object")));
            };
            for (k, v) in members {
                if k.eq_ignore_ascii_case("schemas") {
                    // scim2-models serialises an extension with its own `schemas`: read-only metadata.
                    ctx.corrections.push(Correction::ReadOnlyIgnored {
                        operation: ctx.operation,
                        path: format!("{urn}:{k}"),
                    });
                    continue;
                }
                let p = PatchPath::parse(&format!("{urn}:{k}"))?;
                let b = p.bind(rt, ctx.operation)?;
                apply_bound(doc, op, &b, Some(v), k, rt, ctx)?;
            }
            return Ok(());
        }
        Bound::Attr { at, filter, sub } => (at, filter, sub),
    };
    let attr = at.attribute;
    let Some(container) = container(doc, at.extension, op != Op::Remove) else {
        return Ok(()); // removing from an extension the resource does not have
    };
    let before = map_get_ci(container, attr.name).cloned();
    let after = match (filter, sub) {
        (None, None) => whole(attr, op, before.as_ref(), value, text, ctx)?,
        (None, Some(sub)) => {
            if attr.multi_valued {
                return Err(ctx.err(
                    PatchErrorKind::Path,
                    format!("`{text}` needs a value filter"),
                ));
            }
            let mut obj = before
                .as_ref()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            set_sub(&mut obj, sub, op, value, text, ctx)?;
            (!obj.is_empty()).then_some(Value::Object(obj))
        }
        (Some((matcher, raw)), sub) => filtered(
            attr,
            op,
            before.as_ref(),
            (matcher, raw),
            *sub,
            value,
            text,
            ctx,
        )?,
    };
    let after = after.filter(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()));
    if after != before {
        let assigned = before.is_some();
        if attr.mutability == Mutability::ReadOnly
            || (attr.mutability == Mutability::Immutable && assigned)
        {
            return Err(ctx.err(
                PatchErrorKind::Mutability,
                format!("`{}` is {}", attr.name, attr.mutability.as_str()),
            ));
        }
        if attr.required && after.is_none() {
            return Err(ctx.err(
                PatchErrorKind::Value,
                format!("`{}` is required", attr.name),
            ));
        }
    }
    container.retain(|k, _| !k.eq_ignore_ascii_case(attr.name));
    if let Some(v) = after {
        container.insert(attr.name.to_owned(), v);
    }
    Ok(())
}

pub(super) fn map_get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The object attributes of `ext` live in (the resource itself for the core schema); created on demand.
fn container<'a>(
    doc: &'a mut Value,
    ext: Option<&str>,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let root = doc.as_object_mut()?;
    let Some(ext) = ext else { return Some(root) };
    let key = root
        .keys()
        .find(|k| k.eq_ignore_ascii_case(ext))
        .cloned()
        .unwrap_or_else(|| ext.to_owned());
    if !root.contains_key(&key) {
        if !create {
            return None;
        }
        root.insert(key.clone(), Value::Object(Map::new()));
    }
    root.get_mut(&key)?.as_object_mut()
}

/// An operation on a whole attribute (no filter, no sub-attribute).
fn whole(
    attr: &Attribute,
    op: Op,
    before: Option<&Value>,
    value: Option<&Value>,
    text: &str,
    ctx: &mut Ctx<'_>,
) -> Result<Option<Value>, PatchError> {
    let value = match (op, value) {
        (_, None | Some(Value::Null)) => return Ok(None),
        (_, Some(v)) => v,
    };
    if op == Op::Remove {
        // Entra ID and Okta remove members by listing them in `value`, without a filter.
        if !attr.multi_valued {
            return Ok(None);
        }
        ctx.corrections.push(Correction::RemoveByValue {
            operation: ctx.operation,
            path: text.to_owned(),
        });
        let gone = check_multi(attr, value, text, ctx)?;
        let mut items = before
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let gone = ElementIndex::of(attr, &gone);
        items.retain(|item| !gone.holds(attr, item));
        return Ok(Some(Value::Array(items)));
    }
    if attr.multi_valued {
        let new = check_multi(attr, value, text, ctx)?;
        let mut items = match op {
            Op::Add => before
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut index = ElementIndex::of(attr, &items);
        for n in new {
            if !index.holds(attr, &n) {
                index.insert(attr, &n);
                items.push(n);
            }
        }
        if items.len() > MAX_VALUES {
            return Err(ctx.err(
                PatchErrorKind::Value,
                format!("`{}` holds at most {MAX_VALUES} values", attr.name),
            ));
        }
        one_primary(&mut items);
        return Ok(Some(Value::Array(items)));
    }
    let new = check_single(attr, value, text, ctx)?;
    if attr.ty == AttrType::Complex {
        let mut obj = before
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Value::Object(members) = new {
            obj.extend(members);
        }
        return Ok(Some(Value::Object(obj)));
    }
    Ok(Some(new))
}

/// Set, replace or remove sub-attribute `sub` of one complex value, judging its mutability.
pub(super) fn set_sub(
    obj: &mut Map<String, Value>,
    sub: &Attribute,
    op: Op,
    value: Option<&Value>,
    text: &str,
    ctx: &mut Ctx<'_>,
) -> Result<(), PatchError> {
    let before = map_get_ci(obj, sub.name).cloned();
    let after = match (op, value) {
        (Op::Remove, _) | (_, None | Some(Value::Null)) => None,
        (_, Some(v)) => Some(check_single(sub, v, text, ctx)?),
    };
    if after != before
        && (sub.mutability == Mutability::ReadOnly
            || (sub.mutability == Mutability::Immutable && before.is_some()))
    {
        return Err(ctx.err(
            PatchErrorKind::Mutability,
            format!("`{text}` is {}", sub.mutability.as_str()),
        ));
    }
    obj.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
    if let Some(v) = after {
        obj.insert(sub.name.to_owned(), v);
    }
    Ok(())
}

/// The most values one multi-valued attribute may hold after a change (emails, phone numbers, ...): far
/// above what identity providers send, and a bound on what a PATCH costs. Group members are not stored in
/// the resource (see [`super::group`]) and are not bound by it.
pub const MAX_VALUES: usize = 1_000;

/// The values of a multi-valued attribute, bucketed by a key that [`same_element`] values share, so that
/// adding or removing n values among m costs about n + m comparisons instead of n × m.
pub(super) struct ElementIndex {
    buckets: std::collections::HashMap<String, Vec<Value>>,
}

impl ElementIndex {
    pub(super) fn of(attr: &Attribute, values: &[Value]) -> Self {
        let mut index = Self {
            buckets: std::collections::HashMap::new(),
        };
        for v in values {
            index.insert(attr, v);
        }
        index
    }

    pub(super) fn insert(&mut self, attr: &Attribute, v: &Value) {
        self.buckets
            .entry(element_key(attr, v))
            .or_default()
            .push(v.clone());
    }

    /// Whether a value the same as `v` is held.
    pub(super) fn holds(&self, attr: &Attribute, v: &Value) -> bool {
        self.buckets
            .get(&element_key(attr, v))
            .is_some_and(|bucket| bucket.iter().any(|held| same_element(attr, held, v)))
    }
}

/// A key equal for any two values [`same_element`] calls the same (it may also be equal for some that are
/// not: the bucket is then searched).
fn element_key(attr: &Attribute, v: &Value) -> String {
    let text = |x: &Value, exact: bool| match x.as_str() {
        Some(s) if !exact => format!("s:{}", s.to_lowercase()),
        _ => format!("j:{x}"),
    };
    if attr.ty != AttrType::Complex {
        return text(v, attr.compares_exactly());
    }
    let value_exact = attr.sub("value").is_some_and(Attribute::compares_exactly);
    match get_ci(v, "value") {
        Some(x) => format!("v:{}", text(x, value_exact)),
        None => format!("w:{v}"),
    }
}

/// Whether two values of a multi-valued attribute are the same value: by `value` (and `type`, when
/// both have one) for complex values, by equality otherwise; strings honour `caseExact`.
pub(super) fn same_element(attr: &Attribute, a: &Value, b: &Value) -> bool {
    let eq_str = |x: &Value, y: &Value, exact: bool| match (x.as_str(), y.as_str()) {
        (Some(x), Some(y)) if !exact => x.to_lowercase() == y.to_lowercase(),
        _ => x == y,
    };
    if attr.ty != AttrType::Complex {
        return eq_str(a, b, attr.compares_exactly());
    }
    let value_exact = attr.sub("value").is_some_and(Attribute::compares_exactly);
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => {
            eq_str(x, y, value_exact)
                && match (get_ci(a, "type"), get_ci(b, "type")) {
                    (Some(s), Some(t)) => eq_str(s, t, false),
                    _ => true,
                }
        }
        _ => a == b,
    }
}

/// RFC 7643 §2.4: at most one value is `primary`; the last one marked wins.
pub(super) fn one_primary(items: &mut [Value]) {
    let last = items
        .iter()
        .rposition(|v| get_ci(v, "primary") == Some(&Value::Bool(true)));
    for (i, item) in items.iter_mut().enumerate() {
        if Some(i) != last {
            if let Some(p) = item.as_object_mut().and_then(|o| o.get_mut("primary")) {
                if *p == Value::Bool(true) {
                    *p = Value::Bool(false);
                }
            }
        }
    }
}

/// Drop empty extension objects and keep `schemas` listing exactly the extensions present (when the
/// resource has a `schemas` array).
fn sync_schemas(doc: &mut Value, rt: &ResourceType) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    for ext in &rt.extensions {
        let id = ext.schema.id;
        root.retain(|k, v| {
            !(k.eq_ignore_ascii_case(id) && v.as_object().is_some_and(Map::is_empty))
        });
        let present = root.keys().any(|k| k.eq_ignore_ascii_case(id));
        if let Some(Value::Array(schemas)) = root.get_mut("schemas") {
            let listed = schemas
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)));
            if present && !listed {
                schemas.push(Value::String(id.to_owned()));
            } else if !present && listed {
                schemas.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)));
            }
        }
    }
}
