//! OAuth 2.0 client records as the origin stores them and the edge caches them.

use serde::{Deserialize, Serialize};

/// A registered OAuth 2.0 client. The secret is never here: only its slow hash (a PHC string).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub tenant: String,
    /// PHC-format Argon2id hash of the client secret.
    pub secret_hash: String,
    /// Scopes this client may ask for.
    pub scopes: Vec<String>,
    /// Audiences (resource indicators, RFC 8707) this client may get tokens for; the first is the default.
    pub audiences: Vec<String>,
    /// Access token lifetime in seconds for this client's tenant.
    pub token_ttl: u32,
    pub disabled: bool,
    /// Unix seconds; bumps whenever the record changes, so caches can tell versions apart.
    pub updated_at: i64,
    /// The tenant's token roles (`type:id#permission`): checked for the token's subject at issue time and
    /// the granted ones put into the `roles` claim. Empty when the tenant names none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_roles: Vec<String>,
}
