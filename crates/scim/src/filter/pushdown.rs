//! What a store can answer from an index: the `attr eq "string"` conjuncts at the top of a filter
//! (`userName eq "bjensen"`, `externalId eq "x" and active eq true`, `emails[type eq "work" and value eq
//! "a@x"]` → `emails.value`). Every resource matching the filter satisfies every [`Equality`], so the
//! store may fetch the candidates of any one of them (or their intersection) and then evaluate the
//! whole filter on those; it need not scan.

use super::bind::{Node, Operand, Target};
use super::{BoundFilter, CompareOp};
use crate::schema::AttrType;

/// A necessary condition of a filter: the attribute at `path` (canonical spelling: `userName`,
/// `emails.value`, `urn:...:enterprise:2.0:User:employeeNumber`) has a value equal to `value`;
/// compared exactly when `case_exact`, otherwise case-insensitively (`value` is then lower-cased).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equality {
    pub path: String,
    pub value: String,
    pub case_exact: bool,
}

/// The pushable part of a filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushdown {
    pub equalities: Vec<Equality>,
    /// Whether the equalities are the whole filter (each one a plain comparison, not taken out of a
    /// value path), so that a store comparing exactly as [`Equality`] says needs no further check.
    pub complete: bool,
}

impl Pushdown {
    /// The equality on `path` (canonical spelling, matched case-insensitively), if there is one.
    #[must_use]
    pub fn on(&self, path: &str) -> Option<&Equality> {
        self.equalities
            .iter()
            .find(|e| e.path.eq_ignore_ascii_case(path))
    }
}

impl BoundFilter {
    /// The `attr eq "value"` conjuncts of the filter; see the module documentation.
    #[must_use]
    pub fn pushdown(&self) -> Pushdown {
        let mut out = Pushdown {
            equalities: Vec::new(),
            complete: true,
        };
        collect(&self.root, None, &mut out);
        out
    }
}

/// Walk the `and` spine; `within` is the value path's attribute when inside one.
fn collect(node: &Node, within: Option<&Target>, out: &mut Pushdown) {
    match node {
        Node::And(a, b) => {
            collect(a, within, out);
            collect(b, within, out);
        }
        Node::Compare {
            target,
            op: CompareOp::Eq,
            operand: Operand::Str(value),
        } if matches!(target.ty, AttrType::String | AttrType::Reference) => {
            let path = match within {
                None => target.canonical(),
                Some(parent) => format!("{}.{}", parent.canonical(), target.attr),
            };
            out.equalities.push(Equality {
                path,
                value: value.clone(),
                case_exact: target.case_exact,
            });
            if within.is_some() {
                out.complete = false;
            }
        }
        Node::ValuePath { target, filter } if within.is_none() => {
            out.complete = false;
            collect(filter, Some(target), out);
        }
        _ => out.complete = false,
    }
}
