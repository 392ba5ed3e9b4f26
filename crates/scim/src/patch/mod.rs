//! PATCH (RFC 7644 §3.5.2): `PatchOp` bodies parsed ([`parse_patch`], this file), their paths read and
//! bound (`path`), values checked against the schema (`value`), the operations applied to a resource
//! ([`apply_patch`], `apply`; the values a filter selects, `select`), and a Group PATCH turned into
//! member changes ([`plan_group_patch`], `group`).
//!
//! Real clients deviate from the RFC. What Microsoft Entra ID and Okta are documented to send is
//! accepted and reported as a [`Correction`], which the shell logs; anything else is refused.

use core::fmt;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::FilterError;

mod apply;
mod group;
mod path;
mod select;
mod value;

pub use apply::{apply_patch, PatchOutcome};
pub use group::{plan_group_patch, GroupPatchPlan, MemberChanges};
pub use path::PatchPath;

/// The schema URI of a PATCH body.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The most operations one PATCH may carry.
pub const MAX_PATCH_OPERATIONS: usize = 1_000;

/// The three operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

impl Op {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
        }
    }
}

/// One operation, its path read (not yet bound to a resource type).
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOperation {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A parsed `PatchOp` body, with what had to be corrected to read it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
    pub corrections: Vec<Correction>,
}

/// A deviation from RFC 7644 that was accepted, with the index of its operation. Each comes from a
/// client documented to send it (Entra ID, Okta); the shell logs them, [`Correction::code`] is stable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Correction {
    /// `"op": "Replace"`: op names are lower-case in the RFC (Entra ID).
    OpNameCase { operation: usize, given: String },
    /// `"operations"` instead of `"Operations"`.
    OperationsKeyCase { given: String },
    /// `"True"`/`"False"` strings for a boolean attribute (Entra ID's `active`).
    BooleanAsString {
        operation: usize,
        path: String,
        given: String,
    },
    /// A path-less value whose key is a path (`"name.givenName"`, `"urn:...:User:department"`; Entra ID).
    PathAsValueKey { operation: usize, key: String },
    /// `remove` of `members` (or another multi-valued attribute) with the values to remove in `value`
    /// instead of a filter (Entra ID, Okta).
    RemoveByValue { operation: usize, path: String },
    /// A single value given for a multi-valued attribute; it was wrapped in an array.
    SingleValueWrapped { operation: usize, path: String },
    /// `add`/`replace` on `emails[type eq "work"].value` with no matching value: a value was created
    /// from the filter's equalities (Entra ID), where the RFC says `noTarget`.
    CreatedFromFilter { operation: usize, path: String },
    /// A bare value for a complex attribute that has a `value` sub-attribute (Entra ID's `manager`
    /// given as the manager's id): read as `{"value": ...}`.
    BareComplexValue { operation: usize, path: String },
    /// A read-only sub-attribute inside a value (`members[].display`, `manager.displayName`) was
    /// ignored, as RFC 7644 §3.5.1 ignores read-only values on PUT.
    ReadOnlyIgnored { operation: usize, path: String },
}

impl Correction {
    /// A stable code for logs.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Correction::OpNameCase { .. } => "scim_op_name_case",
            Correction::OperationsKeyCase { .. } => "scim_operations_key_case",
            Correction::BooleanAsString { .. } => "scim_boolean_as_string",
            Correction::PathAsValueKey { .. } => "scim_path_as_value_key",
            Correction::RemoveByValue { .. } => "scim_remove_by_value",
            Correction::SingleValueWrapped { .. } => "scim_single_value_wrapped",
            Correction::CreatedFromFilter { .. } => "scim_created_from_filter",
            Correction::BareComplexValue { .. } => "scim_bare_complex_value",
            Correction::ReadOnlyIgnored { .. } => "scim_read_only_ignored",
        }
    }
}

/// What was wrong with a PATCH, each with its `scimType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchErrorKind {
    /// Not a `PatchOp` body (`invalidSyntax`).
    Syntax,
    /// A path that is malformed or names no attribute (`invalidPath`).
    Path,
    /// A path's value filter is malformed (`invalidFilter`).
    Filter,
    /// `remove` without a path, or a filter that matches nothing where something must (`noTarget`).
    NoTarget,
    /// A read-only attribute changed, or an immutable one that already has a value (`mutability`).
    Mutability,
    /// A value of the wrong type, missing, or removing a required attribute (`invalidValue`).
    Value,
}

impl PatchErrorKind {
    #[must_use]
    pub const fn scim_type(self) -> ScimType {
        match self {
            PatchErrorKind::Syntax => ScimType::InvalidSyntax,
            PatchErrorKind::Path => ScimType::InvalidPath,
            PatchErrorKind::Filter => ScimType::InvalidFilter,
            PatchErrorKind::NoTarget => ScimType::NoTarget,
            PatchErrorKind::Mutability => ScimType::Mutability,
            PatchErrorKind::Value => ScimType::InvalidValue,
        }
    }
}

/// A PATCH that cannot be applied; nothing of it is (PATCH is atomic, RFC 7644 §3.5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchError {
    pub kind: PatchErrorKind,
    /// The index of the operation at fault, when there is one.
    pub operation: Option<usize>,
    pub message: String,
}

impl PatchError {
    pub(crate) fn new(
        kind: PatchErrorKind,
        operation: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation,
            message: message.into(),
        }
    }

    pub(crate) fn filter(operation: usize, e: &FilterError) -> Self {
        Self::new(PatchErrorKind::Filter, Some(operation), e.to_string())
    }
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operation {
            Some(i) => write!(f, "operation {i}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PatchError {}

impl ScimError for PatchError {
    fn scim_type(&self) -> Option<ScimType> {
        Some(self.kind.scim_type())
    }
}

/// Read a `PatchOp` body.
///
/// # Errors
/// `invalidSyntax` for a body that is not a `PatchOp` message, `invalidPath`/`invalidFilter` for a
/// malformed path, `noTarget` for a `remove` without a path, `invalidValue` for an `add` or `replace`
/// without a value.
pub fn parse_patch(body: &Value) -> Result<PatchRequest, PatchError> {
    let syntax = |m: &str| PatchError::new(PatchErrorKind::Syntax, None, m);
    let map = body
        .as_object()
        .ok_or_else(|| syntax("a PATCH body is a JSON object"))?;
    let schemas = member(map, "schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|v| v.as_str() == Some(PATCH_OP_SCHEMA))) {
        return Err(syntax(
            "`schemas` must contain `urn:ietf:params:scim:api:messages:2.0:PatchOp`",
        ));
    }
    let mut request = PatchRequest::default();
    let (key, ops) = map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .ok_or_else(|| syntax("`Operations` is missing"))?;
    if key != "Operations" {
        request
            .corrections
            .push(Correction::OperationsKeyCase { given: key.clone() });
    }
    let ops = ops
        .as_array()
        .ok_or_else(|| syntax("`Operations` must be an array"))?;
    if ops.is_empty() || ops.len() > MAX_PATCH_OPERATIONS {
        return Err(syntax(&format!(
            "`Operations` must hold 1 to {MAX_PATCH_OPERATIONS} operations"
        )));
    }
    for (i, raw) in ops.iter().enumerate() {
        let operation = parse_operation(i, raw, &mut request.corrections)?;
        request.operations.push(operation);
    }
    Ok(request)
}

fn parse_operation(
    i: usize,
    raw: &Value,
    corrections: &mut Vec<Correction>,
) -> Result<PatchOperation, PatchError> {
    let syntax = |m: String| PatchError::new(PatchErrorKind::Syntax, Some(i), m);
    let map = raw
        .as_object()
        .ok_or_else(|| syntax("an operation is a JSON object".into()))?;
    let given = member(map, "op")
        .and_then(Value::as_str)
        .ok_or_else(|| syntax("`op` is missing".into()))?;
    let op = match given.to_ascii_lowercase().as_str() {
        "add" => Op::Add,
        "remove" => Op::Remove,
        "replace" => Op::Replace,
        _ => return Err(syntax(format!("unknown op `{given}`"))),
    };
    if given != op.as_str() {
        corrections.push(Correction::OpNameCase {
            operation: i,
            given: given.to_owned(),
        });
    }
    let path = match member(map, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(PatchPath::parse(p).map_err(|mut e| {
            e.operation = Some(i);
            e
        })?),
        Some(_) => {
            return Err(PatchError::new(
                PatchErrorKind::Path,
                Some(i),
                "`path` must be a string",
            ))
        }
    };
    let value = member(map, "value").cloned();
    if op == Op::Remove && path.is_none() {
        return Err(PatchError::new(
            PatchErrorKind::NoTarget,
            Some(i),
            "`remove` needs a `path`",
        ));
    }
    if op != Op::Remove && value.is_none() {
        return Err(PatchError::new(
            PatchErrorKind::Value,
            Some(i),
            format!("`{}` needs a `value`", op.as_str()),
        ));
    }
    Ok(PatchOperation { op, path, value })
}

/// A member of a JSON object, its name matched case-insensitively.
fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}
