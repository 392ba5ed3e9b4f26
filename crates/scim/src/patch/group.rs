//! A Group PATCH as member changes, so that the origin can patch a group of 10,000 members without
//! loading them: the `members` operations become ids to add, ids to remove, or a new complete list;
//! everything else stays a PATCH the origin applies with [`super::apply_patch`] to the group without
//! its members.
//!
//! Member operations understood: `add members` (values), `replace members` (values, or `[]`), `remove
//! members` (all), `remove members[value eq "id"]` (or several `eq` joined by `or`), Entra ID's and
//! Okta's `remove members` with the values to remove, and path-less `add`/`replace` whose value holds
//! `members`. Anything else on members (`members[display co "x"]`, `members.value`) is refused with
//! `invalidPath`: it would need the member list.

use serde_json::{Map, Value};

use super::path::Bound;
use super::{Correction, Op, PatchError, PatchErrorKind, PatchOperation, PatchPath, PatchRequest};
use crate::filter::{CompareOp, Filter};
use crate::schema::ResourceType;

/// Member changes in order-independent form. When `replace_all` is set the group's members become
/// exactly that list and `add`/`remove` are empty; otherwise the members become the current ones minus
/// `remove` plus `add` (the two never share an id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberChanges {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub replace_all: Option<Vec<String>>,
}

impl MemberChanges {
    fn add_ids(&mut self, ids: Vec<String>) {
        for id in ids {
            if let Some(all) = &mut self.replace_all {
                if !all.contains(&id) {
                    all.push(id);
                }
            } else {
                self.remove.retain(|r| *r != id);
                if !self.add.contains(&id) {
                    self.add.push(id);
                }
            }
        }
    }

    fn remove_ids(&mut self, ids: Vec<String>) {
        for id in ids {
            if let Some(all) = &mut self.replace_all {
                all.retain(|r| *r != id);
            } else {
                self.add.retain(|a| *a != id);
                if !self.remove.contains(&id) {
                    self.remove.push(id);
                }
            }
        }
    }

    fn replace(&mut self, ids: Vec<String>) {
        self.add.clear();
        self.remove.clear();
        self.replace_all = Some(Vec::new());
        self.add_ids(ids);
    }

    /// Whether there is nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty() && self.replace_all.is_none()
    }
}

/// A Group PATCH split in two.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupPatchPlan {
    pub members: MemberChanges,
    /// The other operations, in order (possibly none), for [`super::apply_patch`].
    pub other: PatchRequest,
    /// The request's corrections and those made while planning.
    pub corrections: Vec<Correction>,
}

/// Split a Group PATCH (`rt` is the Group resource type) into member changes and the rest.
///
/// # Errors
/// `invalidPath` for member operations that need the member list, `invalidValue` for members without
/// a string `value`, and the errors of binding the paths.
pub fn plan_group_patch(
    request: &PatchRequest,
    rt: &ResourceType,
) -> Result<GroupPatchPlan, PatchError> {
    let mut plan = GroupPatchPlan {
        corrections: request.corrections.clone(),
        ..GroupPatchPlan::default()
    };
    for (i, operation) in request.operations.iter().enumerate() {
        let Some(path) = &operation.path else {
            // Path-less: take `members` out of the value object.
            let mut rest = Map::new();
            if let Some(Value::Object(map)) = &operation.value {
                for (k, v) in map {
                    if k.eq_ignore_ascii_case("members") {
                        let ids = ids(i, v)?;
                        match operation.op {
                            Op::Replace => plan.members.replace(ids),
                            _ => plan.members.add_ids(ids),
                        }
                    } else {
                        rest.insert(k.clone(), v.clone());
                    }
                }
                if !rest.is_empty() {
                    plan.other.operations.push(PatchOperation {
                        value: Some(Value::Object(rest)),
                        ..operation.clone()
                    });
                }
            } else {
                plan.other.operations.push(operation.clone());
            }
            continue;
        };
        if !is_members(path, rt, i)? {
            plan.other.operations.push(operation.clone());
            continue;
        }
        let refuse = || {
            PatchError::new(
                PatchErrorKind::Path,
                Some(i),
                format!("`{}` on a group's members is not supported", path.text),
            )
        };
        if path.sub.is_some() {
            return Err(refuse());
        }
        match (operation.op, &path.filter, &operation.value) {
            (Op::Remove, Some(f), _) => {
                let mut found = Vec::new();
                if !filter_ids(f, &mut found) {
                    return Err(refuse());
                }
                plan.members.remove_ids(found);
            }
            (_, Some(_), _) => return Err(refuse()),
            (Op::Remove, None, None | Some(Value::Null)) => plan.members.replace(Vec::new()),
            (Op::Remove, None, Some(v)) => {
                plan.corrections.push(Correction::RemoveByValue {
                    operation: i,
                    path: path.text.clone(),
                });
                plan.members.remove_ids(ids(i, v)?);
            }
            (Op::Add, None, Some(v)) => plan.members.add_ids(ids(i, v)?),
            (Op::Replace, None, Some(v)) => plan.members.replace(ids(i, v)?),
            (_, None, None) => {
                return Err(PatchError::new(
                    PatchErrorKind::Value,
                    Some(i),
                    "a value is needed",
                ))
            }
        }
    }
    Ok(plan)
}

fn is_members(path: &PatchPath, rt: &ResourceType, i: usize) -> Result<bool, PatchError> {
    Ok(match path.bind(rt, i)? {
        Bound::Attr { at, .. } => at.extension.is_none() && at.attribute.name == "members",
        Bound::Extension(_) => false,
    })
}

/// The ids in a `members` value: an array of `{"value": "id", ...}` (a lone object accepted).
fn ids(i: usize, v: &Value) -> Result<Vec<String>, PatchError> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        single => vec![single],
    };
    items
        .into_iter()
        .map(|item| {
            item.as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")))
                .and_then(|(_, v)| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    PatchError::new(
                        PatchErrorKind::Value,
                        Some(i),
                        "a member is an object with a string `value`",
                    )
                })
        })
        .collect()
}

/// The ids of `value eq "id"` comparisons joined by `or`; false for any other filter.
fn filter_ids(f: &Filter, out: &mut Vec<String>) -> bool {
    match f {
        Filter::Or(a, b) => filter_ids(a, out) && filter_ids(b, out),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(id),
        } if path.urn.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            out.push(id.clone());
            true
        }
        _ => false,
    }
}
