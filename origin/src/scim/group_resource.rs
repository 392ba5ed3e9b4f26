//! A `scim_groups` row and its members as a `Group` resource (RFC 7643 §4.2), and a POST or PUT body as
//! the row and member list it asks for. Members are users of the tenant: `{value, $ref, display, type:
//! "User"}`. Nested groups (`type: "Group"`) are not supported and refused with `invalidValue`.

use std::sync::LazyLock;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use tessera_proto::rfc3339::format_date_time;
use tessera_scim::patch::PatchRequest;
use tessera_scim::schema::group::GROUP_SCHEMA;
use tessera_scim::{group_resource_type, Projection, ResourceType, ScimType};

use super::group_store::{GroupRow, GroupWrite, Member};
use super::http::ScimRefusal;
use super::user_resource::{etag, MAX_DISPLAY_NAME_CHARS};

/// The `Group` resource type, built once.
pub static GROUP_TYPE: LazyLock<ResourceType> = LazyLock::new(group_resource_type);

fn invalid_value(detail: impl Into<String>) -> ScimRefusal {
    ScimRefusal::new(
        StatusCode::BAD_REQUEST,
        Some(ScimType::InvalidValue),
        detail,
    )
}

/// The `Group` resource of `row`; `members` when they were read (`None`: the answer excludes them).
#[must_use]
pub fn to_resource(row: &GroupRow, members: Option<&[Member]>, base: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([GROUP_SCHEMA]));
    doc.insert("id".into(), Value::from(row.group_id.as_str()));
    if let Some(e) = &row.external_id {
        doc.insert("externalId".into(), Value::from(e.as_str()));
    }
    doc.insert("displayName".into(), Value::from(row.display_name.as_str()));
    if let Some(members) = members.filter(|m| !m.is_empty()) {
        let list = members
            .iter()
            .map(|m| {
                let mut o = json!({
                    "value": m.user_id,
                    "$ref": format!("{base}/Users/{}", m.user_id),
                    "type": "User",
                });
                if let (Some(d), Some(map)) = (&m.display, o.as_object_mut()) {
                    map.insert("display".into(), Value::from(d.as_str()));
                }
                o
            })
            .collect();
        doc.insert("members".into(), Value::Array(list));
    }
    doc.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": format_date_time(row.created_at),
            "lastModified": format_date_time(row.updated_at.max(row.created_at)),
            "location": format!("{base}/Groups/{}", row.group_id),
            "version": etag(row.version),
        }),
    );
    Value::Object(doc)
}

/// Whether an answer under `projection` carries `members` (if not, they are not read).
#[must_use]
pub fn wants_members(projection: &Projection) -> bool {
    let probe = json!({"members": [{"value": "x", "type": "User"}]});
    projection
        .apply(&probe, &GROUP_TYPE)
        .get("members")
        .is_some()
}

/// The ids of a `members` value, refusing nested groups and members without a string `value`;
/// duplicates once.
fn member_ids(v: &Value) -> Result<Vec<String>, ScimRefusal> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(invalid_value("`members` is a list")),
    };
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for item in items {
        refuse_nested(item)?;
        let id = item
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")))
            .and_then(|(_, v)| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid_value("a member is an object with a string `value`"))?;
        if seen.insert(id.to_owned()) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// A member of `type` `Group`: nested groups are not supported.
fn refuse_nested(item: &Value) -> Result<(), ScimRefusal> {
    let kind = item
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("type")))
        .map(|(_, v)| v);
    match kind {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("User") => Ok(()),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("Group") => Err(invalid_value(
            "nested groups are not supported: a member is a user of this tenant",
        )),
        Some(_) => Err(invalid_value("a member's `type` is `User`")),
    }
}

/// Refuse a PATCH that adds or sets members of `type` `Group` (the plan keeps only their ids).
///
/// # Errors
/// `invalidValue` for a nested group.
pub fn refuse_nested_in_patch(request: &PatchRequest) -> Result<(), ScimRefusal> {
    let check = |v: &Value| -> Result<(), ScimRefusal> {
        match v {
            Value::Array(items) => items.iter().try_for_each(refuse_nested),
            other => refuse_nested(other),
        }
    };
    for op in &request.operations {
        let Some(value) = &op.value else { continue };
        match &op.path {
            Some(p) if p.text.to_ascii_lowercase().starts_with("members") => check(value)?,
            Some(_) => {}
            None => {
                if let Some((_, m)) = value
                    .as_object()
                    .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("members")))
                {
                    check(m)?;
                }
            }
        }
    }
    Ok(())
}

/// The row a resource (after a PATCH of its other attributes) holds.
///
/// # Errors
/// `invalidValue` for a missing or malformed `displayName` or `externalId`.
pub fn to_write(resource: &Value) -> Result<GroupWrite, ScimRefusal> {
    let map = resource
        .as_object()
        .ok_or_else(|| invalid_value("a group is a JSON object"))?;
    let get = |name: &str| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    };
    let display_name = match get("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None => {
            return Err(invalid_value("`displayName` is required"));
        }
        Some(_) => return Err(invalid_value("`displayName` is a string")),
    };
    if display_name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(invalid_value(format!(
            "`displayName` is at most {MAX_DISPLAY_NAME_CHARS} characters"
        )));
    }
    let external_id = match get("externalId") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 1024 => Some(s.clone()),
        Some(_) => {
            return Err(invalid_value(
                "`externalId` is a non-empty string of at most 1024 bytes",
            ))
        }
    };
    Ok(GroupWrite {
        display_name,
        external_id,
    })
}

/// A POST or PUT body as the row and the complete member list it asks for.
///
/// # Errors
/// `invalidSyntax` for a body that is not an object or `schemas` not naming the Group schema;
/// `invalidValue` for unknown attributes, a missing `displayName`, malformed or nested members.
pub fn from_body(body: &Value) -> Result<(GroupWrite, Vec<String>), ScimRefusal> {
    let map = body.as_object().ok_or_else(|| {
        ScimRefusal::new(
            StatusCode::BAD_REQUEST,
            Some(ScimType::InvalidSyntax),
            "a group is a JSON object",
        )
    })?;
    let mut members = Vec::new();
    for (k, v) in map {
        match k.to_ascii_lowercase().as_str() {
            "schemas" => {
                let named = v
                    .as_array()
                    .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(GROUP_SCHEMA)));
                if !named {
                    return Err(ScimRefusal::new(
                        StatusCode::BAD_REQUEST,
                        Some(ScimType::InvalidSyntax),
                        format!("`schemas` must contain `{GROUP_SCHEMA}`"),
                    ));
                }
            }
            "id" | "meta" | "displayname" | "externalid" => {}
            "members" => members = member_ids(v)?,
            _ => return Err(invalid_value(format!("unknown attribute `{k}`"))),
        }
    }
    Ok((to_write(body)?, members))
}
