//! A user row as a SCIM `User` resource and back: the representation (columns for `id`, `externalId`,
//! `userName`, `displayName`, `active`; the `scim` JSON column for the rest; `meta` from the row), the
//! checks a POST or PUT body goes through, and ETags.
//!
//! POST and PUT bodies are checked by the same code PATCH uses: the writable attributes of the body are
//! applied as one path-less `add` (`tessera_scim::apply_patch`) to an empty resource — or, for PUT, to one
//! holding just the current immutable attributes, so that changing one is refused (RFC 7644 §3.5.1);
//! read-only attributes (`id`, `meta`, `schemas`, `groups`, read-only sub-attributes) are ignored. So types,
//! unknown attributes and the vendors' quirks are judged one way everywhere.
//!
//! `userName` follows `tessera_proto::Username` (1–64 characters, no control characters, no spaces at
//! either end): it is the name people sign in with, and one user table has one rule. SCIM itself allows
//! longer names (an email address may have 254 characters); such a name is refused with `invalidValue`.
//! Uniqueness ignores case (RFC 7643: `caseExact: false`) through `users.username_key` (Unicode case
//! folding, `tessera_proto::ids::username_key`).
//! `password` is never stored (sign-in is by passkey here): a given one is dropped and logged.

use std::sync::LazyLock;

use serde_json::{json, Map, Value};
use tessera_proto::rfc3339::format_date_time;
use tessera_scim::patch::{Op, PatchErrorKind, PatchOperation};
use tessera_scim::schema::user::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use tessera_scim::schema::Mutability;
use tessera_scim::{
    apply_patch, user_resource_type, Correction, PatchError, PatchRequest, ResourceType, ScimError,
    ScimType,
};

use super::http::ScimRefusal;
use super::user_store::{UserRow, UserWrite};

/// The User resource type, built once.
pub static USER_TYPE: LazyLock<ResourceType> = LazyLock::new(user_resource_type);

/// The most characters a `displayName` may have.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;

/// Markers in the `scim` column: `displayName` / `active` were given (their columns always hold a value).
/// Names no SCIM attribute can have (RFC 7643 §2.1 names start with a letter).
const DISPLAY_NAME_GIVEN: &str = "_displayNameGiven";
const ACTIVE_GIVEN: &str = "_activeGiven";

/// Attributes kept in columns, or never stored, rather than in the `scim` JSON column.
const NOT_IN_SCIM_COLUMN: &[&str] = &[
    "schemas",
    "id",
    "meta",
    "externalId",
    "userName",
    "displayName",
    "active",
    "password",
    "groups",
    DISPLAY_NAME_GIVEN,
    ACTIVE_GIVEN,
];

/// Read-only attributes a POST or PUT body may carry and that are ignored (RFC 7644 §3.5.1).
const IGNORED_ON_WRITE: &[&str] = &["schemas", "id", "meta", "groups"];

/// A member of a JSON object, its name matched case-insensitively (RFC 7643 §2.1).
fn get_ci<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    let map = object.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// `W/"<version>"`.
#[must_use]
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match`/`If-None-Match` value names `version`: `*`, or a comma-separated list of entity
/// tags, weak or strong (compared weakly: `W/"3"` and `"3"` both name version 3).
#[must_use]
pub fn names_version(header: &str, version: i64) -> bool {
    let wanted = version.to_string();
    header.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || tag
                .strip_prefix("W/")
                .unwrap_or(tag)
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                == Some(wanted.as_str())
    })
}

/// The `User` resource of `row`, every attribute present (a [`tessera_scim::Projection`] then picks
/// what an answer carries). `base` is the tenant's SCIM base URL.
#[must_use]
pub fn to_resource(row: &UserRow, base: &str) -> Value {
    let mut doc = row.scim.clone();
    let given = (
        doc.keys()
            .any(|k| k.eq_ignore_ascii_case(DISPLAY_NAME_GIVEN)),
        doc.keys().any(|k| k.eq_ignore_ascii_case(ACTIVE_GIVEN)),
    );
    doc.retain(|k, _| !NOT_IN_SCIM_COLUMN.iter().any(|n| n.eq_ignore_ascii_case(k)));
    let mut schemas = vec![Value::from(USER_SCHEMA)];
    if doc
        .keys()
        .any(|k| k.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA))
    {
        schemas.push(Value::from(ENTERPRISE_USER_SCHEMA));
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc.insert("id".into(), Value::from(row.user_id.as_str()));
    if let Some(e) = &row.external_id {
        doc.insert("externalId".into(), Value::from(e.as_str()));
    }
    doc.insert("userName".into(), Value::from(row.username.as_str()));
    // The columns always hold a display name (userName when none was given: the login page shows one)
    // and an active flag (true when none was given: absent is not deactivated). The resource carries
    // them when they were given — the `scim` column remembers that — or differ from those defaults, so
    // that a PATCH `remove` of either is seen to remove it.
    if given.0 || row.display_name != row.username {
        doc.insert("displayName".into(), Value::from(row.display_name.as_str()));
    }
    if given.1 || !row.active {
        doc.insert("active".into(), Value::Bool(row.active));
    }
    doc.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": format_date_time(row.created_at),
            "lastModified": format_date_time(row.updated_at.max(row.created_at)),
            "location": format!("{base}/Users/{}", row.user_id),
            "version": etag(row.version),
        }),
    );
    Value::Object(doc)
}

/// What a row holds, as a write (to tell whether a PUT or PATCH changes anything).
#[must_use]
pub fn current_write(row: &UserRow) -> UserWrite {
    UserWrite {
        username: row.username.clone(),
        display_name: row.display_name.clone(),
        external_id: row.external_id.clone(),
        active: row.active,
        scim: row.scim.clone(),
    }
}

/// Any stage error of the core as a refusal.
pub fn refusal(e: &dyn ScimError) -> ScimRefusal {
    let status =
        axum::http::StatusCode::from_u16(e.status()).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    ScimRefusal::new(status, e.scim_type(), e.detail())
}

fn invalid_value(detail: impl Into<String>) -> ScimRefusal {
    ScimRefusal::new(
        axum::http::StatusCode::BAD_REQUEST,
        Some(ScimType::InvalidValue),
        detail,
    )
}

/// Log what was accepted although RFC 7644 says otherwise (each with its stable code).
pub fn log_corrections(tenant: &str, user_id: &str, corrections: &[Correction]) {
    for c in corrections {
        tracing::info!(tenant, user_id, code = c.code(), correction = ?c, "scim request corrected");
    }
}

/// A POST (`current: None`) or PUT body as the write it asks for, and the corrections made to read it.
///
/// # Errors
/// `invalidSyntax` for a body that is not an object or `schemas` that is not a list of strings;
/// `invalidValue` for unknown schemas or attributes, wrong types, a missing or malformed `userName`;
/// `mutability` for a changed immutable attribute.
pub fn from_body(
    body: &Value,
    current: Option<&Value>,
) -> Result<(UserWrite, Vec<Correction>), ScimRefusal> {
    let rt = &*USER_TYPE;
    let Value::Object(map) = body else {
        return Err(ScimRefusal::new(
            axum::http::StatusCode::BAD_REQUEST,
            Some(ScimType::InvalidSyntax),
            "a User is a JSON object",
        ));
    };
    check_schemas(get_ci(body, "schemas"))?;
    let mut given = Map::new();
    for (k, v) in map {
        if IGNORED_ON_WRITE.iter().any(|n| n.eq_ignore_ascii_case(k)) {
            continue;
        }
        if k.eq_ignore_ascii_case("password") {
            tracing::info!(
                "scim password ignored: sign-in is by passkey, a password is never stored"
            );
            continue;
        }
        given.insert(k.clone(), v.clone());
    }
    let mut start = Map::new();
    if let Some(current) = current {
        for at in rt.all_attributes() {
            if at.attribute.mutability != Mutability::Immutable {
                continue;
            }
            let from = match at.extension {
                Some(ext) => get_ci(current, ext),
                None => Some(current),
            };
            if let Some(v) = from.and_then(|f| get_ci(f, at.attribute.name)) {
                let target = match at.extension {
                    None => &mut start,
                    Some(ext) => match start
                        .entry(ext.to_owned())
                        .or_insert_with(|| Value::Object(Map::new()))
                        .as_object_mut()
                    {
                        Some(m) => m,
                        None => continue,
                    },
                };
                target.insert(at.attribute.name.to_owned(), v.clone());
            }
        }
    }
    let request = PatchRequest {
        operations: vec![PatchOperation {
            op: Op::Add,
            path: None,
            value: Some(Value::Object(given)),
        }],
        corrections: Vec::new(),
    };
    let outcome = apply_patch(&Value::Object(start), &request, rt).map_err(|e| body_error(&e))?;
    Ok((to_write(&outcome.resource)?, outcome.corrections))
}

/// A body's attribute problems: an unknown attribute is a bad value here (there is no `path`).
fn body_error(e: &PatchError) -> ScimRefusal {
    let detail = e.message.clone();
    match e.kind {
        PatchErrorKind::Path | PatchErrorKind::Syntax | PatchErrorKind::Value => {
            invalid_value(detail)
        }
        PatchErrorKind::Filter | PatchErrorKind::NoTarget => invalid_value(detail),
        PatchErrorKind::Mutability => ScimRefusal::new(
            axum::http::StatusCode::BAD_REQUEST,
            Some(ScimType::Mutability),
            detail,
        ),
    }
}

fn check_schemas(schemas: Option<&Value>) -> Result<(), ScimRefusal> {
    let Some(schemas) = schemas else {
        return Ok(()); // RFC 7643 §3 requires it; clients that omit it are still understood
    };
    let syntax = || {
        ScimRefusal::new(
            axum::http::StatusCode::BAD_REQUEST,
            Some(ScimType::InvalidSyntax),
            "`schemas` is a list of schema URIs",
        )
    };
    let list = schemas.as_array().ok_or_else(syntax)?;
    let mut core = false;
    for s in list {
        let s = s.as_str().ok_or_else(syntax)?;
        if s.eq_ignore_ascii_case(USER_SCHEMA) {
            core = true;
        } else if !s.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
            return Err(invalid_value(format!(
                "`{s}` is not a schema of User resources"
            )));
        }
    }
    if core {
        Ok(())
    } else {
        Err(invalid_value(format!(
            "`schemas` must contain `{USER_SCHEMA}`"
        )))
    }
}

/// The most bytes a user's stored SCIM attributes may take (serialised JSON): far above what identity
/// providers send, and a bound on what each row, and each list that reads rows, can cost.
pub const MAX_STORED_BYTES: usize = 64 * 1024;

/// A complete resource (checked by `apply_patch`) as the row it becomes. Without `active` a user is active
/// (RFC 7643 leaves an unassigned `active` to the service provider); an operator's hold
/// (`tessera-origin users deactivate`) is kept apart from it and is not lifted by any SCIM write.
///
/// # Errors
/// `invalidValue` for a missing or malformed `userName`, a long `displayName`, an empty `externalId`, or
/// attributes over [`MAX_STORED_BYTES`].
pub fn to_write(resource: &Value) -> Result<UserWrite, ScimRefusal> {
    let Value::Object(map) = resource else {
        return Err(invalid_value("a User is a JSON object"));
    };
    let text = |name: &str| get_ci(resource, name).and_then(Value::as_str);
    let username = text("userName").ok_or_else(|| invalid_value("`userName` is required"))?;
    let username: tessera_proto::Username = username.parse().map_err(|_| {
        invalid_value(
            "`userName` is 1 to 64 characters, without control characters or spaces at either end",
        )
    })?;
    let display_name = text("displayName").unwrap_or(&username).to_owned();
    if display_name.chars().count() > MAX_DISPLAY_NAME_CHARS
        || display_name.chars().any(char::is_control)
    {
        return Err(invalid_value(format!(
            "`displayName` is at most {MAX_DISPLAY_NAME_CHARS} characters, without control characters"
        )));
    }
    let external_id = text("externalId").map(str::to_owned);
    if external_id.as_deref().is_some_and(str::is_empty) {
        return Err(invalid_value("`externalId` cannot be empty"));
    }
    let active = get_ci(resource, "active")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if map.keys().any(|k| k.eq_ignore_ascii_case("password")) {
        tracing::info!("scim password ignored: sign-in is by passkey, a password is never stored");
    }
    let mut scim = map.clone();
    scim.retain(|k, _| !NOT_IN_SCIM_COLUMN.iter().any(|n| n.eq_ignore_ascii_case(k)));
    if get_ci(resource, "displayName").is_some() {
        scim.insert(DISPLAY_NAME_GIVEN.into(), Value::Bool(true));
    }
    if get_ci(resource, "active").is_some() {
        scim.insert(ACTIVE_GIVEN.into(), Value::Bool(true));
    }
    if serde_json::to_vec(&scim).map_or(usize::MAX, |b| b.len()) > MAX_STORED_BYTES {
        return Err(invalid_value(format!(
            "a user's attributes take at most {MAX_STORED_BYTES} bytes"
        )));
    }
    Ok(UserWrite {
        username: username.to_string(),
        display_name,
        external_id,
        active,
        scim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_name_versions_weakly() {
        assert_eq!(etag(3), "W/\"3\"");
        for yes in ["W/\"3\"", "\"3\"", "*", "W/\"1\", W/\"3\""] {
            assert!(names_version(yes, 3), "{yes}");
        }
        for no in ["W/\"4\"", "3", "W/3", "", "W/\"3", "\"03\""] {
            assert!(!names_version(no, 3), "{no}");
        }
    }
}
