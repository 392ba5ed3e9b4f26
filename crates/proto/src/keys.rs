//! Public view of the signing key ring, as the admin endpoints report it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published in the JWKS, not yet signing.
    Pending,
    /// The one key that signs.
    Active,
    /// No longer signing; published until every token it signed has expired.
    Retired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    pub kid: String,
    pub state: KeyState,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingStatus {
    pub keys: Vec<KeyStatus>,
    /// What the last rotation step did, in words (`added pending key ...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// Unix seconds at which the next rotation step can make progress, if it cannot now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step_at: Option<i64>,
}
