//! `POST /v1/check` and `POST /v1/check/bulk` at the edge, and the origin answers the edge relies on.

use serde::{Deserialize, Serialize};

/// How long ago an origin's answer to `at_least_as_fresh` may have stopped being its head: the origin
/// answers at the revision its cache synced to within this window when that already reaches the zookie's
/// (without a round trip to its database for the head), so whoever learns a head from such an answer
/// dates it this much earlier. `minimize_latency` at the origin uses the same window.
pub const RECENT_REVISION_MS: u64 = 1000;

/// How fresh an answer must be. JSON: `"minimize_latency"`, `"fully_consistent"`,
/// `{"at_least_as_fresh": "<zookie>"}` or `{"at_exact_snapshot": "<zookie>"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Any answer at most the edge's staleness bound behind the head (default 5 s).
    #[default]
    MinimizeLatency,
    /// The head, now: always asks the origin.
    FullyConsistent,
    /// A revision at least as new as the zookie's (read-your-writes).
    AtLeastAsFresh(String),
    /// Exactly the zookie's revision (asks the origin).
    AtExactSnapshot(String),
}

impl Consistency {
    /// The variant's name, as the wire spells it (no zookie).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::MinimizeLatency => "minimize_latency",
            Self::FullyConsistent => "fully_consistent",
            Self::AtLeastAsFresh(_) => "at_least_as_fresh",
            Self::AtExactSnapshot(_) => "at_exact_snapshot",
        }
    }
}

/// One question: may `subject` have `permission` on `resource`?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckItem {
    /// `type:id`.
    pub resource: String,
    pub permission: String,
    /// `type:id` or `type:id#relation`.
    pub subject: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub resource: String,
    pub permission: String,
    pub subject: String,
    #[serde(default)]
    pub consistency: Consistency,
    /// Caveat context for this request: parameter → value. A request with context is always answered
    /// by the origin (never from a cache).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkCheckRequest {
    pub items: Vec<CheckItem>,
    #[serde(default)]
    pub consistency: Consistency,
    /// Caveat context for this request: parameter → value. A request with context is always answered
    /// by the origin (never from a cache).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// What an edge answer says besides its results: the revision it was computed at, and how fresh it is.
/// Flattened into [`CheckResponse`] and [`BulkCheckResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerAt {
    /// The revision the answer was computed at, as a zookie (pass it back for read-your-writes).
    pub zookie: String,
    pub revision: u64,
    /// Served from the edge's cache (isolate memory or KV) rather than computed by the origin just now.
    pub cached: bool,
    /// The edge could not reach the origin when it last tried to confirm the tenant's head.
    pub stale: bool,
    /// An upper bound on how far behind the true head this answer may be, in milliseconds (0: computed at
    /// the head, or it meets an `at_least_as_fresh` zookie).
    pub staleness_ms: u64,
}

/// An edge answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResponse {
    pub allowed: bool,
    /// The answer depends on caveat parameters the request did not give (`allowed` is then false): it
    /// holds only if they satisfy the caveats, which a check with them in `context` decides.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conditional: bool,
    /// When `conditional`: the parameters still missing, in name order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The walk read a relationship that expires at this moment (RFC 3339, UTC; the earliest such): the
    /// answer holds at least until then, and nobody should keep it longer. Absent: nothing read expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(flatten)]
    pub at: AnswerAt,
}

/// One result of a bulk check: `allowed`, or an error for that item only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkItemResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    /// The answer depends on caveat parameters the request did not give (`allowed` is then false): it
    /// holds only if they satisfy the caveats, which a check with them in `context` decides.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conditional: bool,
    /// When `conditional`: the parameters still missing, in name order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The walk read a relationship that expires at this moment (RFC 3339, UTC; the earliest such): the
    /// answer holds at least until then, and nobody should keep it longer. Absent: nothing read expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A bulk answer: every result at one revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkCheckResponse {
    pub results: Vec<BulkItemResult>,
    #[serde(flatten)]
    pub at: AnswerAt,
}

/// The origin's answer to `POST /v1/tenants/{t}/check`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginCheck {
    pub allowed: bool,
    /// The answer depends on caveat parameters the request did not give (`allowed` is then false): it
    /// holds only if they satisfy the caveats, which a check with them in `context` decides.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conditional: bool,
    /// When `conditional`: the parameters still missing, in name order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The walk read a relationship that expires at this moment (RFC 3339, UTC; the earliest such): the
    /// answer holds at least until then, and nobody should keep it longer. Absent: nothing read expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    pub zookie: String,
    pub revision: u64,
    pub schema_revision: u64,
}

/// The origin's answer to `POST /v1/tenants/{t}/check/bulk`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginBulkCheck {
    pub results: Vec<BulkItemResult>,
    pub zookie: String,
    pub revision: u64,
    pub schema_revision: u64,
}

/// The origin's answer to `GET /v1/tenants/{t}/head`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginHead {
    pub revision: u64,
    pub schema_revision: u64,
    pub zookie: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_flat_on_the_wire() {
        let answer = CheckResponse {
            allowed: true,
            conditional: false,
            missing: Vec::new(),
            valid_until: None,
            at: AnswerAt {
                zookie: "z".into(),
                revision: 7,
                cached: true,
                stale: false,
                staleness_ms: 12,
            },
        };
        let json = serde_json::to_value(&answer).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"allowed": true, "zookie": "z", "revision": 7, "cached": true,
                               "stale": false, "staleness_ms": 12})
        );
        assert_eq!(
            serde_json::from_value::<CheckResponse>(json).ok(),
            Some(answer)
        );
    }
}
