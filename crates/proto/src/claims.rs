//! RFC 9068 access token claims.

use serde::{Deserialize, Serialize};

/// The `aud` claim: a single string or an array of strings (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// Whether `expected` is one of the audiences.
    #[must_use]
    pub fn contains(&self, expected: &str) -> bool {
        match self {
            Self::One(a) => a == expected,
            Self::Many(all) => all.iter().any(|a| a == expected),
        }
    }
}

/// The claims Tessera puts into an access token (RFC 9068 §2.2 plus `tid`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    pub client_id: String,
    /// Space-separated scopes (RFC 8693 §4.2 form), absent when none were granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The tenant the token belongs to.
    pub tid: String,
    /// Of the tenant's token roles (`type:id#permission`), those the subject held when the token was
    /// issued (RFC 9068 §2.2.3.1 `roles`). As stale as the token is long-lived: a revoked role stays in a
    /// token until it expires; ask `/v1/check` when that matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// How the user authenticated (RFC 8176 values, e.g. `hwk`, `user`, `otp`); user tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Authentication context class (e.g. `phr`, phishing-resistant); user tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// When the user authenticated (Unix seconds); user tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The session this token belongs to; revoking it makes the token inactive at introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}
