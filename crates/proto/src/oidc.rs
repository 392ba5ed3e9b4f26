//! The authorization-code grant between edge and origin (`/internal/v1/tenants/{tenant}/...`, service
//! credential): codes issued and redeemed, consents remembered, client grants revoked. The edge runs the
//! protocol (it reads the browser's request, mints the tokens); the origin keeps what must be spent once or
//! remembered.
//!
//! Bodies that carry a secret (a code, a verifier, a refresh token) derive no `Debug`.

use serde::{Deserialize, Serialize};

use crate::accounts::{Session, User};

/// `POST oauth/codes`: what a code stands for. The person's browser session (`sid`) must be active.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCode {
    pub client_id: String,
    pub redirect_uri: String,
    /// RFC 7636 S256 challenge; `None` for a confidential client that sent none.
    #[serde(default)]
    pub code_challenge: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    /// Granted scopes, in the order asked.
    pub scopes: Vec<String>,
    pub user_id: String,
    /// The browser session the person authorized from.
    pub sid: String,
    /// The `acr` the ID token will state (chosen from `acr_values` when the session satisfies one).
    pub acr: String,
}

/// The answer to [`NewCode`].
#[derive(Serialize, Deserialize)]
pub struct IssuedCode {
    pub code: String,
    pub expires_in: u32,
}

/// `POST oauth/codes/redeem`: spend a code for the client that presents it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemCode {
    pub code: String,
    /// The authenticated (confidential) or identified (public) client presenting the code.
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

/// A redeemed code: the client's new session (its own refresh family, `client_id` set), its first refresh
/// token when `offline_access` was granted, and what the tokens say.
#[derive(Serialize, Deserialize)]
pub struct Redeemed {
    pub session: Session,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The browser session the person authorized from (the ID token's `sid`).
    pub browser_sid: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    /// The `acr` the ID token states.
    pub acr: String,
    pub user: User,
}

/// A person's consent to a client: the scopes granted and when (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

/// `GET users/{u}/consents`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConsentList {
    pub consents: Vec<Consent>,
}

/// `POST users/{u}/consents/{client}`: add scopes to what the person granted the client.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantConsent {
    pub scopes: Vec<String>,
}

/// `POST oauth/refresh-tokens/revoke` (RFC 7009): end the session of a refresh token of `client_id`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRefreshToken {
    pub refresh_token: String,
    pub client_id: String,
}

/// What a revocation did: `revoked` sessions (0 when the token was unknown, spent already, or another
/// client's: RFC 7009 answers all of those alike).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct RevokedGrant {
    pub revoked: u64,
}
