//! The authorization-code flow as rules (RFC 6749 §4.1, RFC 7636 PKCE, OpenID Connect Core 1.0 §3.1): an
//! authorization request read and checked against its client, what a browser session must satisfy before
//! a code is issued, PKCE, `at_hash`, and the claims of an ID token.
//!
//! Reading a request happens in two stages, because where an error may be sent depends on the first:
//! [`Params::read`] takes the query or form as pairs, and until the client and its redirect URI are known
//! to be right every refusal is shown to the person ([`AuthorizeError::Page`]); after that, refusals go
//! back to the client's redirect URI ([`AuthorizeError::Redirect`]), as RFC 6749 §4.1.2.1 requires.
//!
//! Pure: the client record, the session's facts and `now` are arguments.
//!
//! - [`request`]: reading and checking an authorization request;
//! - [`needs`]: what a browser session must satisfy before a code is issued;
//! - here: the scopes and `acr` values this provider knows, PKCE, `at_hash`, the ID token's claims.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::b64;

pub mod needs;
pub mod request;

pub use needs::{needs, satisfies, stated_acr, ConsentView, Need, Requested, SessionView};
pub use request::{AuthorizationRequest, AuthorizeError, Params, Prompt, ResponseMode};

/// Scopes every client with a redirect URI may ask for, beside its own.
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "offline_access"];
/// OpenID Connect's other standard scopes, for claims this provider does not hold: asked for, they are
/// left out of the grant rather than refused (OIDC Core §3.1.2.1: "scope values ... not understood ...
/// SHOULD be ignored"); the token response's `scope` says what was granted.
pub const UNSUPPORTED_STANDARD_SCOPES: &[&str] = &["email", "address", "phone"];
/// `acr` of a passkey sign-in (phishing-resistant).
pub const ACR_PHISHING_RESISTANT: &str = "phr";
/// `acr` of a session that also proved a one-time code (passkey or company sign-in, then TOTP).
pub const ACR_MFA: &str = "mfa";
/// The `acr` values this provider can state.
pub const ACR_VALUES: &[&str] = &[ACR_PHISHING_RESISTANT, ACR_MFA];

/// RFC 7636 §4.1 `unreserved` characters, 43 to 128 of them (a verifier; an S256 challenge is 43).
#[must_use]
pub fn pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` hashes to `challenge` (RFC 7636 §4.6, S256), compared in constant time.
#[must_use]
pub fn pkce_s256_matches(challenge: &str, verifier: &str) -> bool {
    if !pkce_text(verifier) {
        return false;
    }
    let computed = b64::encode(&Sha256::digest(verifier.as_bytes()));
    computed.len() == challenge.len() && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// `at_hash` (OIDC Core §3.1.3.6): base64url of the left half of the SHA-256 of the access token.
#[must_use]
pub fn at_hash(access_token: &str) -> String {
    let digest: [u8; 32] = Sha256::digest(access_token.as_bytes()).into();
    let (left, _) = digest.split_at(16);
    b64::encode(left)
}

/// The claims of an ID token (OIDC Core §2, §3.1.3.6, §5.1 for `name` and `preferred_username`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: String,
    pub amr: Vec<String>,
    pub azp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The browser session at this provider (for RP-initiated logout).
    pub sid: String,
    /// The tenant the person belongs to.
    pub tid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

/// What the tests of this module's parts share: a client and requests of it.
#[cfg(test)]
pub(crate) mod fixtures {
    use tessera_proto::{ClientKind, ClientRecord, Code};

    use super::request::{AuthorizationRequest, AuthorizeError, Params};

    pub(crate) fn client(kind: ClientKind) -> ClientRecord {
        ClientRecord {
            client_id: "tc_app".into(),
            tenant: "acme".into(),
            secret_hash: String::new(),
            scopes: vec!["notes:read".into()],
            audiences: Vec::new(),
            token_ttl: 300,
            disabled: false,
            updated_at: 0,
            token_roles: Vec::new(),
            kind,
            first_party: false,
            name: "Notes".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            post_logout_redirect_uris: Vec::new(),
        }
    }

    pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    pub(crate) fn params(extra: &[(&str, &str)]) -> Params {
        let mut pairs = vec![
            ("client_id", "tc_app"),
            ("redirect_uri", "https://app.example/cb"),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            pairs.retain(|(k2, _)| k2 != k);
            pairs.push((k, v));
        }
        Params::read(pairs.into_iter().map(|(k, v)| (k.into(), v.into())))
    }

    pub(crate) fn check(extra: &[(&str, &str)]) -> Result<AuthorizationRequest, AuthorizeError> {
        AuthorizationRequest::check(&params(extra), &client(ClientKind::Public))
    }

    pub(crate) fn code_of(r: Result<AuthorizationRequest, AuthorizeError>) -> (bool, Code) {
        match r.unwrap_err() {
            AuthorizeError::Page { code, .. } => (false, code),
            AuthorizeError::Redirect { code, .. } => (true, code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{CHALLENGE, VERIFIER};
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert!(pkce_s256_matches(CHALLENGE, VERIFIER));
        assert!(!pkce_s256_matches(CHALLENGE, &VERIFIER.replace('d', "e")));
        assert!(!pkce_s256_matches(CHALLENGE, "short"));
        assert!(!pkce_s256_matches(&CHALLENGE[..42], VERIFIER));
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // OIDC Core A.3's access token and at_hash.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
