//! Issue RFC 9068 access tokens.

use tessera_proto::AccessTokenClaims;
use tessera_proto::Code;

use crate::b64;
use crate::es256::{CryptoError, Signer};

/// Why a token could not be issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueError {
    Encode(String),
    Sign(CryptoError),
}

impl IssueError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Encode(_) => Code::TokenEncodingFailed,
            Self::Sign(_) => Code::SignerUnavailable,
        }
    }
}

impl std::fmt::Display for IssueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Encode(e) => write!(f, "cannot encode claims: {e}"),
            Self::Sign(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for IssueError {}

/// Sign `claims` as an `at+jwt` with `signer`'s key; the header is `{"alg":"ES256","kid":..,"typ":"at+jwt"}`.
///
/// # Errors
/// [`IssueError::Sign`] when the back-end fails.
pub async fn issue_access_token<S: Signer>(
    signer: &S,
    claims: &AccessTokenClaims,
) -> Result<String, IssueError> {
    issue_jwt(signer, "at+jwt", claims).await
}

/// Sign an OpenID Connect ID token (`typ` `JWT`, OIDC Core §2).
///
/// # Errors
/// [`IssueError::Sign`] when the back-end fails.
pub async fn issue_id_token<S: Signer>(
    signer: &S,
    claims: &crate::oidc::IdTokenClaims,
) -> Result<String, IssueError> {
    issue_jwt(signer, "JWT", claims).await
}

/// Sign `claims` as a compact JWS with header `{"alg":"ES256","kid":..,"typ":typ}`.
async fn issue_jwt<S: Signer>(
    signer: &S,
    typ: &str,
    claims: &impl serde::Serialize,
) -> Result<String, IssueError> {
    let header = serde_json::json!({ "alg": "ES256", "kid": signer.kid(), "typ": typ });
    let header = serde_json::to_vec(&header).map_err(|e| IssueError::Encode(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| IssueError::Encode(e.to_string()))?;
    let mut token = b64::encode(&header);
    token.push('.');
    token.push_str(&b64::encode(&payload));
    let signature = signer
        .sign(token.as_bytes())
        .await
        .map_err(IssueError::Sign)?;
    token.push('.');
    token.push_str(&b64::encode(&signature));
    Ok(token)
}
