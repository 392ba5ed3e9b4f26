//! SCIM errors on the wire (RFC 7644 §3.12): the `scimType` keywords, their HTTP statuses, and the error
//! body. Each stage has its own error type ([`crate::FilterError`], [`crate::PatchError`],
//! [`crate::ListError`]); they all implement [`ScimError`], so the shell answers every one of them the same
//! way with [`error_body`].

use core::fmt;

use serde_json::{json, Value};

/// The schema URI of an error body.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` keywords of RFC 7644 §3.12, Table 9. The wire text never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScimType {
    /// The filter syntax was invalid, or the filter named an attribute or operator that cannot be used.
    InvalidFilter,
    /// The filter would yield more results than the service provider is willing to compute.
    TooMany,
    /// One or more attribute values are already in use or reserved.
    Uniqueness,
    /// The attempted modification is not compatible with the attribute's mutability.
    Mutability,
    /// The request body was not a valid SCIM message.
    InvalidSyntax,
    /// The `path` was invalid or malformed.
    InvalidPath,
    /// The `path` did not yield an attribute or value that could be operated on.
    NoTarget,
    /// A value was missing, or not compatible with the attribute's type.
    InvalidValue,
    /// The SCIM protocol version is not supported.
    InvalidVers,
    /// The request carried personal information in the URL (use POST `/.search`).
    Sensitive,
}

impl ScimType {
    /// Every keyword.
    pub const ALL: &'static [ScimType] = &[
        ScimType::InvalidFilter,
        ScimType::TooMany,
        ScimType::Uniqueness,
        ScimType::Mutability,
        ScimType::InvalidSyntax,
        ScimType::InvalidPath,
        ScimType::NoTarget,
        ScimType::InvalidValue,
        ScimType::InvalidVers,
        ScimType::Sensitive,
    ];

    /// The keyword as RFC 7644 spells it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }

    /// The HTTP status RFC 7644 pairs with the keyword: Table 9 lists every keyword under 400 except
    /// `uniqueness`, which §3.3 answers with 409 Conflict.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            ScimType::Uniqueness => 409,
            _ => 400,
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every stage error tells the shell: the keyword (none for errors that have no keyword, such as
/// 404), the HTTP status, and a detail safe to show the client (no secrets; user input in backticks).
pub trait ScimError: fmt::Display {
    fn scim_type(&self) -> Option<ScimType>;

    fn status(&self) -> u16 {
        self.scim_type().map_or(400, ScimType::status)
    }

    /// The `detail` of the body; the error's `Display` by default.
    fn detail(&self) -> String {
        self.to_string()
    }
}

/// The RFC 7644 §3.12 body for any stage error.
#[must_use]
pub fn error_body(error: &dyn ScimError) -> Value {
    error_body_parts(error.status(), error.scim_type(), &error.detail())
}

/// The RFC 7644 §3.12 body from its parts (for errors the shell makes itself: 404, 409 on a unique
/// `userName`, 412 on a stale `ETag`). `status` is a string on the wire, as the RFC's examples have it.
#[must_use]
pub fn error_body_parts(status: u16, scim_type: Option<ScimType>, detail: &str) -> Value {
    let mut body = json!({
        "schemas": [ERROR_SCHEMA],
        "status": status.to_string(),
        "detail": detail,
    });
    if let (Some(t), Some(map)) = (scim_type, body.as_object_mut()) {
        map.insert("scimType".to_owned(), Value::String(t.as_str().to_owned()));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_distinct_and_camel_case() {
        let mut seen: Vec<&str> = ScimType::ALL.iter().map(|t| t.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10);
        assert!(seen
            .iter()
            .all(|s| s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())));
    }

    #[test]
    fn body_has_the_rfc_shape() {
        let body = error_body_parts(409, Some(ScimType::Uniqueness), "`bjensen` is taken");
        assert_eq!(
            body,
            json!({"schemas": [ERROR_SCHEMA], "status": "409", "scimType": "uniqueness",
                   "detail": "`bjensen` is taken"})
        );
        let body = error_body_parts(404, None, "no such user");
        assert!(body.get("scimType").is_none());
        assert_eq!(body["status"], "404");
    }
}
