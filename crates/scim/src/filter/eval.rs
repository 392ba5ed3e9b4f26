//! Evaluation of a [`BoundFilter`] on a resource's JSON. A path yields every value it reaches (a
//! multi-valued attribute yields each element; `emails.value` each element's `value`); a comparison
//! holds when any of them satisfies it, and `ne` is the negation of `eq`. Keys are matched
//! case-insensitively, as attribute names are (RFC 7643 §2.1). Values of the wrong JSON type never
//! match.

use core::cmp::Ordering;

use serde_json::{Number, Value};

use super::bind::{Node, Operand, Target};
use super::{BoundFilter, CompareOp};
use tessera_proto::rfc3339::parse_date_time;

impl BoundFilter {
    /// Whether `resource` (a SCIM resource's JSON) matches the filter.
    #[must_use]
    pub fn matches(&self, resource: &Value) -> bool {
        eval(&self.root, resource)
    }
}

fn eval(node: &Node, ctx: &Value) -> bool {
    match node {
        Node::And(a, b) => eval(a, ctx) && eval(b, ctx),
        Node::Or(a, b) => eval(a, ctx) || eval(b, ctx),
        Node::Not(a) => !eval(a, ctx),
        Node::Present(target) => values(target, ctx).into_iter().any(present),
        Node::ValuePath { target, filter } => values(target, ctx)
            .into_iter()
            .any(|element| element.is_object() && eval(filter, element)),
        Node::Compare {
            target,
            op: CompareOp::Ne,
            operand,
        } => !values(target, ctx)
            .into_iter()
            .any(|v| compare(target, CompareOp::Eq, operand, v)),
        Node::Compare {
            target,
            op,
            operand,
        } => values(target, ctx)
            .into_iter()
            .any(|v| compare(target, *op, operand, v)),
    }
}

/// The value of `key` in `object`, matching the key case-insensitively (an exact match first).
pub(crate) fn get_ci<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    let map = object.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Every value `target` reaches in `ctx`, arrays flattened one level at each step.
fn values<'a>(target: &Target, ctx: &'a Value) -> Vec<&'a Value> {
    let base = match target.extension {
        Some(ext) => get_ci(ctx, ext),
        None => Some(ctx),
    };
    let Some(top) = base.and_then(|b| get_ci(b, target.attr)) else {
        return Vec::new();
    };
    let tops: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match target.sub {
        None => tops,
        Some(sub) => tops
            .into_iter()
            .filter_map(|t| get_ci(t, sub))
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            })
            .collect(),
    }
}

/// RFC 7644 `pr`: the attribute has a non-empty value (not null, not `""`, not `[]`, not an object
/// whose every member is empty).
fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(present),
        Value::Object(map) => map.values().any(present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare(target: &Target, op: CompareOp, operand: &Operand, v: &Value) -> bool {
    match (operand, v) {
        (Operand::Bool(b), Value::Bool(x)) => match op {
            CompareOp::Eq => x == b,
            _ => false,
        },
        (Operand::Num(n), Value::Number(x)) => {
            number_order(x, n).is_some_and(|ord| ordering_holds(op, ord))
        }
        (Operand::Time(t), Value::String(x)) => {
            parse_date_time(x).is_some_and(|x| ordering_holds(op, x.cmp(t)))
        }
        (Operand::Str(s), Value::String(x)) => {
            let folded;
            let x = if target.case_exact {
                x.as_str()
            } else {
                folded = x.to_lowercase();
                folded.as_str()
            };
            match op {
                CompareOp::Co => x.contains(s.as_str()),
                CompareOp::Sw => x.starts_with(s.as_str()),
                CompareOp::Ew => x.ends_with(s.as_str()),
                _ => ordering_holds(op, x.cmp(s.as_str())),
            }
        }
        _ => false,
    }
}

fn ordering_holds(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Numbers compared as integers when both are, otherwise as floats.
pub(crate) fn number_order(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}
