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
    /// Whether the client can keep a secret (RFC 6749 §2.1).
    #[serde(default)]
    pub kind: ClientKind,
    /// A first-party client (an application of the platform team) is not asked for the person's consent.
    #[serde(default)]
    pub first_party: bool,
    /// What the consent screen calls the client; empty: its id.
    #[serde(default)]
    pub name: String,
    /// Where authorization answers may be sent, compared exactly (RFC 6749 §3.1.2, OAuth 2.1 §2.3.1); a
    /// client without any cannot use the authorization endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards, compared exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
}

impl ClientRecord {
    /// What a person is shown as the client's name.
    #[must_use]
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.client_id
        } else {
            &self.name
        }
    }
}

/// RFC 6749 §2.1 client types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Holds a secret and authenticates with it (`client_secret_basic`, `client_secret_post`).
    #[default]
    Confidential,
    /// A browser or native application: no secret (`none`), PKCE required.
    Public,
}

impl ClientKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}
