//! Binding: a parsed [`Filter`] checked against a resource type, with every path resolved to where it
//! lives in the resource's JSON and every value turned into the operand its attribute's type compares
//! with (RFC 7644 §3.4.2.2: strings by `caseExact`, numbers numerically, `dateTime` as instants,
//! booleans with `eq`/`ne` only, binaries with `eq`/`ne`/`pr` only).
//!
//! Two readings the RFC leaves open, decided here: a complex attribute compared without a
//! sub-attribute (`emails co "example.com"`) compares its `value` sub-attribute (RFC 7643 §2.4's
//! primary value, as the RFC's own example `emails co "example.com"` assumes); `attr eq null` means
//! "not present" and `attr ne null` means "present". `ne` is the negation of `eq`.

use serde_json::{Number, Value};

use super::{AttrPath, CompareOp, Filter, FilterError, FilterErrorKind};
use crate::schema::{AttrType, Attribute, Mutability, ResourceType, Returned};
use tessera_proto::rfc3339::{parse_date_time, Instant};

/// A filter checked against a resource type, ready to evaluate ([`BoundFilter::matches`]) or to push
/// down to a store ([`BoundFilter::pushdown`]).
#[derive(Clone, Debug, PartialEq)]
pub struct BoundFilter {
    pub(super) root: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Node {
    Compare {
        target: Target,
        op: CompareOp,
        operand: Operand,
    },
    Present(Target),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    /// Some value of `target` (complex) satisfies `filter`, evaluated on that value.
    ValuePath {
        target: Target,
        filter: Box<Node>,
    },
}

/// Where a compared value lives, relative to the object being evaluated (the resource, or one value
/// of a complex attribute inside a value path), with the names spelt as the schema spells them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) extension: Option<&'static str>,
    pub(super) attr: &'static str,
    pub(super) sub: Option<&'static str>,
    pub(super) ty: AttrType,
    pub(super) case_exact: bool,
    /// Whether the top attribute is multi-valued (its values are an array).
    pub(super) multi: bool,
}

impl Target {
    /// The path in the canonical spelling: `emails.value`, `urn:...:User:manager.value`.
    pub(super) fn canonical(&self) -> String {
        let mut s = String::new();
        if let Some(ext) = self.extension {
            s.push_str(ext);
            s.push(':');
        }
        s.push_str(self.attr);
        if let Some(sub) = self.sub {
            s.push('.');
            s.push_str(sub);
        }
        s
    }
}

/// A comparison's right-hand side, in the form the attribute's type compares.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Operand {
    /// Lower-cased already when the attribute is not case-exact.
    Str(String),
    Num(Number),
    Bool(bool),
    Time(Instant),
}

impl BoundFilter {
    /// Check `filter` against `resource_type`.
    ///
    /// # Errors
    /// [`FilterErrorKind::UnknownAttribute`] for attributes the resource type lacks or that are never
    /// returned (a filter on `password` would be an oracle); [`FilterErrorKind::TypeMismatch`] for
    /// operators or values the attribute's type refuses.
    pub fn bind(filter: &Filter, resource_type: &ResourceType) -> Result<Self, FilterError> {
        Ok(Self {
            root: bind(filter, &Scope::Resource(resource_type))?,
        })
    }
}

impl BoundFilter {
    /// Check `filter` against the sub-attributes of `attribute` (complex): a PATCH path's value filter,
    /// evaluated with [`BoundFilter::matches`] on one value of the attribute.
    pub(crate) fn bind_element(
        filter: &Filter,
        attribute: &Attribute,
    ) -> Result<Self, FilterError> {
        Ok(Self {
            root: bind(filter, &Scope::Element(attribute))?,
        })
    }
}

/// What names resolve against: the resource type, or the sub-attributes of a value path's attribute.
enum Scope<'a> {
    Resource(&'a ResourceType),
    Element(&'a Attribute),
}

fn bind(filter: &Filter, scope: &Scope<'_>) -> Result<Node, FilterError> {
    Ok(match filter {
        Filter::And(a, b) => Node::And(Box::new(bind(a, scope)?), Box::new(bind(b, scope)?)),
        Filter::Or(a, b) => Node::Or(Box::new(bind(a, scope)?), Box::new(bind(b, scope)?)),
        Filter::Not(a) => Node::Not(Box::new(bind(a, scope)?)),
        Filter::Present(path) => Node::Present(target(path, scope, true)?.0),
        Filter::ValuePath { path, filter } => {
            let (target, attribute) = target(path, scope, true)?;
            if attribute.ty != AttrType::Complex {
                return Err(mismatch(path, "a value path needs a complex attribute"));
            }
            Node::ValuePath {
                target,
                filter: Box::new(bind(filter, &Scope::Element(attribute))?),
            }
        }
        Filter::Compare { path, op, value } => {
            let (target, _) = target(path, scope, false)?;
            if value.is_null() {
                return match op {
                    CompareOp::Eq => Ok(Node::Not(Box::new(Node::Present(target)))),
                    CompareOp::Ne => Ok(Node::Present(target)),
                    _ => Err(mismatch(path, "`null` compares only with `eq` and `ne`")),
                };
            }
            let operand = operand(path, &target, *op, value)?;
            Node::Compare {
                target,
                op: *op,
                operand,
            }
        }
    })
}

/// Resolve `path` in `scope`. A complex attribute without a sub-attribute stays itself when `whole`
/// (presence, value paths) and otherwise stands for its `value` sub-attribute.
fn target<'a>(
    path: &AttrPath,
    scope: &Scope<'a>,
    whole: bool,
) -> Result<(Target, &'a Attribute), FilterError> {
    let unknown = || {
        FilterError::new(
            FilterErrorKind::UnknownAttribute,
            path.position,
            format!("unknown attribute `{path}`"),
        )
    };
    let (extension, top) = match scope {
        Scope::Resource(rt) => {
            let found = rt
                .resolve(path.urn.as_deref(), &path.name)
                .ok_or_else(unknown)?;
            (found.extension, found.attribute)
        }
        Scope::Element(parent) => {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(unknown());
            }
            (None, parent.sub(&path.name).ok_or_else(unknown)?)
        }
    };
    let leaf = match &path.sub {
        Some(sub) => top.sub(sub).ok_or_else(unknown)?,
        None if top.ty == AttrType::Complex && !whole => top.sub("value").ok_or_else(|| {
            mismatch(
                path,
                "a complex attribute is compared through a sub-attribute",
            )
        })?,
        None => top,
    };
    if leaf.returned == Returned::Never || leaf.mutability == Mutability::WriteOnly {
        return Err(FilterError::new(
            FilterErrorKind::UnknownAttribute,
            path.position,
            format!("`{path}` cannot be filtered on"),
        ));
    }
    let target = Target {
        extension,
        attr: top.name,
        sub: (!core::ptr::eq(leaf, top)).then_some(leaf.name),
        ty: leaf.ty,
        case_exact: leaf.compares_exactly(),
        multi: top.multi_valued,
    };
    Ok((target, leaf))
}

fn mismatch(path: &AttrPath, message: &str) -> FilterError {
    FilterError::new(
        FilterErrorKind::TypeMismatch,
        path.position,
        format!("`{path}`: {message}"),
    )
}

fn operand(
    path: &AttrPath,
    target: &Target,
    op: CompareOp,
    value: &Value,
) -> Result<Operand, FilterError> {
    let refuse = |what: &str| {
        Err(mismatch(
            path,
            &format!(
                "`{}` cannot compare {} with {what}",
                op.as_str(),
                target.ty.as_str()
            ),
        ))
    };
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    match (target.ty, value) {
        (AttrType::Complex, _) => refuse("a value"),
        (AttrType::Boolean, Value::Bool(b)) if matches!(op, CompareOp::Eq | CompareOp::Ne) => {
            Ok(Operand::Bool(*b))
        }
        (AttrType::Integer | AttrType::Decimal, Value::Number(n)) if !substring => {
            if target.ty == AttrType::Integer && !(n.is_i64() || n.is_u64()) {
                return refuse("a fraction");
            }
            Ok(Operand::Num(n.clone()))
        }
        (AttrType::DateTime, Value::String(s)) if !substring => parse_date_time(s)
            .map(Operand::Time)
            .ok_or_else(|| mismatch(path, &format!("`{s}` is not an RFC 3339 date-time"))),
        (AttrType::DateTime, Value::String(s)) => Ok(Operand::Str(s.clone())),
        (AttrType::Binary, Value::String(_)) if substring || op.is_ordering() => {
            refuse("this operator")
        }
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(s)) => {
            Ok(Operand::Str(if target.case_exact {
                s.clone()
            } else {
                s.to_lowercase()
            }))
        }
        (_, Value::String(_)) => refuse("a string"),
        (_, Value::Number(_)) => refuse("a number"),
        (_, Value::Bool(_)) => refuse("a boolean"),
        _ => refuse("this value"),
    }
}
