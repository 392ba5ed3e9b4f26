//! The origin's authorization API (`/v1/tenants/{tenant}/...`, service credential): the one definition of
//! every request and answer body. The origin parses requests into these types and answers with them
//! (`Json<T>`); the edge reads the answers it needs (`OriginCheck`, `OriginBulkCheck`, `OriginHead`,
//! `TokenRoles`), and tests and SDKs can build the requests.
//!
//! Requests refuse unknown fields. Optional request fields may be absent or `null`; when serialised they
//! are left out at their defaults. In answers, `cursor` is `null` on the last page (never absent).
//!
//! The types already shared with the edge's `/v1/check` live in [`crate::check`] and are re-exported here.
//! Two answers carry a tree or an explanation whose type belongs to `tessera-authz` (which depends on this
//! crate, not the reverse); they are generic over it and default to [`serde_json::Value`] for readers.

use serde::{Deserialize, Serialize};

pub use crate::check::{
    BulkItemResult, CheckItem, Consistency, OriginBulkCheck, OriginCheck, OriginHead,
};

/// Which relationships an operation is about; `resource_type` is required, the other fields narrow it.
/// Serialised with every field (unset ones as `null`), as error messages quote it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub resource_type: String,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub relation: Option<String>,
    #[serde(default)]
    pub subject_type: Option<String>,
    #[serde(default)]
    pub subject_id: Option<String>,
    /// `""` for plain objects.
    #[serde(default)]
    pub subject_relation: Option<String>,
}

/// What a write does to one relationship. Watch reports `touch` for every creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Refused if the relationship exists.
    Create,
    /// Create or keep.
    Touch,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreconditionOp {
    MustMatch,
    MustNotMatch,
}

/// A write goes ahead only if some live relationship matches `filter` (`must_match`), or none does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Precondition {
    pub operation: PreconditionOp,
    pub filter: Filter,
}

/// One update of `POST relationships/write`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipUpdate {
    pub operation: Operation,
    /// `type:id#relation@type:id[#relation]`.
    pub relationship: String,
}

/// `POST relationships/write`: 1 to 1000 updates, applied atomically if every precondition holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteRelationshipsRequest {
    pub updates: Vec<RelationshipUpdate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preconditions: Vec<Precondition>,
}

/// `POST relationships/read` and `POST relationships/delete` (which accepts `consistency` and ignores it:
/// a delete writes at the head).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterRequest {
    pub filter: Filter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
}

/// `POST check` at the origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginCheckRequest {
    /// `type:id`.
    pub resource: String,
    pub permission: String,
    /// `type:id` or `type:id#relation`.
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
    /// Relationships that hold for this request only (at most 100, validated, never stored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_relationships: Vec<String>,
    /// Caveat context for this request: parameter → value. A relationship's own context wins.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, serde_json::Value>,
    /// Answer with `why` ([`OriginCheckExplained`]): the relationships that granted, or what denied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub explain: bool,
}

/// `POST check/bulk` at the origin: 1 to 1000 items, answered at one revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginBulkCheckRequest {
    pub items: Vec<CheckItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_relationships: Vec<String>,
    /// Caveat context for this request: parameter → value. A relationship's own context wins.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// `POST expand`: the tree of relationships without caveats (those with one are checked, not expanded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpandRequest {
    pub resource: String,
    pub permission: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
}

/// `POST lookup/resources`: the resources of a type on which `subject` has `permission`, a page at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupResourcesRequest {
    pub resource_type: String,
    pub permission: String,
    pub subject: String,
    /// Page size, 1 to 10 000 (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The previous page's `cursor`; the next page is read at the first page's revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_relationships: Vec<String>,
    /// Caveat context for this request: parameter → value. A relationship's own context wins.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// `POST lookup/subjects`: the subjects of a type that have `permission` on `resource` without condition
/// (a subject whose access rests on a caveat is not listed; check it with its context).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupSubjectsRequest {
    pub resource: String,
    pub permission: String,
    pub subject_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_relation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_relationships: Vec<String>,
}

/// The query of `GET watch`: changes after the zookie `since` (from the beginning without it), at most
/// `limit` (1 to 10 000, default 1000) unless one revision is larger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `PUT token-roles`: at most 32 permissions `type:id#permission` whose results go into the tenant's
/// access tokens as the `roles` claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRolesRequest {
    pub roles: Vec<String>,
}

/// The answer to `GET token-roles` and `PUT token-roles`: the tenant's token roles (the edge reads it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRoles {
    pub roles: Vec<String>,
}

/// The answer to `PUT schema` and to `PUT schema/openfga` (which adds the schema text the model became).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaWritten {
    pub revision: u64,
    pub zookie: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// The answer to `GET schema`: the schema text, the revision it was written at, and the head's zookie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaAnswer {
    pub schema: String,
    pub revision: u64,
    pub zookie: String,
}

/// The answer to `POST relationships/write`, and to `POST relationships/delete` (with `deleted`: how many
/// relationships went).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub zookie: String,
    pub revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<u64>,
}

/// The answer to `POST relationships/read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipsAnswer {
    pub relationships: Vec<String>,
    pub zookie: String,
}

/// The answer to `POST check` with `"explain": true`; `W` is `tessera_authz::Explanation`
/// (`{allowed, relationships, reason}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginCheckExplained<W = serde_json::Value> {
    pub allowed: bool,
    pub why: W,
    pub zookie: String,
    pub revision: u64,
}

/// One change reported by watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub revision: u64,
    pub operation: Operation,
    pub relationship: String,
}

/// The answer to `GET watch`: resume from `zookie`, every change up to it was delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchAnswer {
    pub changes: Vec<Change>,
    pub zookie: String,
    pub revision: u64,
}

/// The answer to `POST expand`; `T` is `tessera_authz::ExpandNode`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expanded<T = serde_json::Value> {
    pub tree: T,
    pub zookie: String,
    pub revision: u64,
}

/// The answer to `POST lookup/resources`: ids, and the cursor of the next page (`null` on the last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcesFound {
    pub resources: Vec<String>,
    /// Ids on which the subject has the permission only if the caveat context gave the parameters named
    /// (in id order with `resources`, counted against the page's limit with them). Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditional: Vec<ConditionalResource>,
    pub cursor: Option<String>,
    pub zookie: String,
    pub revision: u64,
}

/// A resource found only on condition: its id and the caveat parameters still missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionalResource {
    pub id: String,
    pub missing: Vec<String>,
}

/// The answer to `POST lookup/subjects`: ids, with `*` first when a wildcard grants the permission to
/// every object of the type; then `excluded`, the ids the wildcard does not reach (empty without `*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectsFound {
    pub subjects: Vec<String>,
    pub excluded: Vec<String>,
    pub zookie: String,
    pub revision: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The wire shapes the black-box tests and the edge rely on.
    #[test]
    fn answers_keep_their_shape() {
        let w = Written {
            zookie: "z".into(),
            revision: 2,
            deleted: None,
        };
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            json!({"zookie": "z", "revision": 2})
        );
        let found = ResourcesFound {
            resources: vec![],
            conditional: vec![],
            cursor: None,
            zookie: "z".into(),
            revision: 1,
        };
        assert_eq!(
            serde_json::to_value(&found).unwrap()["cursor"],
            serde_json::Value::Null
        );
        let s = SchemaWritten {
            revision: 1,
            zookie: "z".into(),
            schema: None,
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"revision": 1, "zookie": "z"})
        );
    }

    #[test]
    fn requests_accept_null_and_refuse_unknown_fields() {
        let r: OriginCheckRequest = serde_json::from_value(json!({
            "resource": "doc:1", "permission": "view", "subject": "user:a", "consistency": null
        }))
        .unwrap();
        assert_eq!(r.consistency, None);
        assert!(!r.explain);
        let r: LookupResourcesRequest = serde_json::from_value(json!({
            "resource_type": "doc", "permission": "view", "subject": "user:a",
            "consistency": {"at_least_as_fresh": "tz1_x"}
        }))
        .unwrap();
        assert_eq!(
            r.consistency,
            Some(Consistency::AtLeastAsFresh("tz1_x".into()))
        );
        assert!(serde_json::from_value::<ExpandRequest>(
            json!({"resource": "doc:1", "permission": "view", "extra": 1})
        )
        .is_err());
    }
}
