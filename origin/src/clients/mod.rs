//! OAuth 2.0 client registration (operator CLI) and lookup (edge, over the service credential).

use tessera_proto::ClientRecord;
use tessera_proto::UnixTime;

pub mod http;

use crate::store::Store;

/// Token lifetime bounds a tenant may choose, seconds.
pub const TOKEN_TTL_RANGE: std::ops::RangeInclusive<u32> = 30..=3600;
pub const DEFAULT_TOKEN_TTL: u32 = 300;

/// What an operator asks for.
#[derive(Clone, Debug)]
pub struct NewClient {
    pub tenant: String,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    pub token_ttl: u32,
}

/// The result of a registration: the only moment the secret exists in clear.
pub struct CreatedClient {
    pub record: ClientRecord,
    /// Shown once to the operator, never stored.
    pub client_secret: String,
}

/// Why a registration was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RegistrationError {
    InvalidTenant(String),
    InvalidScope(String),
    InvalidAudience(String),
    TokenTtlOutOfRange(u32),
}

impl std::fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidTenant(t) => {
                write!(f, "tenant `{t}` must be 1-63 characters of a-z, 0-9, `-` or `_`, starting with a letter or digit")
            }
            Self::InvalidScope(s) => write!(f, "scope `{s}` is not an RFC 6749 scope-token (printable ASCII, no space, `\"` or `\\`)"),
            Self::InvalidAudience(a) => write!(f, "audience `{a}` must be a non-empty string without whitespace"),
            Self::TokenTtlOutOfRange(t) => write!(
                f,
                "token ttl {t}s is outside {}..={}s",
                TOKEN_TTL_RANGE.start(),
                TOKEN_TTL_RANGE.end()
            ),
        }
    }
}

impl std::error::Error for RegistrationError {}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c == 0x21 || (0x23..=0x5B).contains(&c) || (0x5D..=0x7E).contains(&c))
}

impl NewClient {
    /// # Errors
    /// See [`RegistrationError`].
    pub fn validate(&self) -> Result<(), RegistrationError> {
        if self.tenant.parse::<tessera_proto::TenantId>().is_err() {
            return Err(RegistrationError::InvalidTenant(self.tenant.clone()));
        }
        if let Some(bad) = self.scopes.iter().find(|s| !valid_scope(s)) {
            return Err(RegistrationError::InvalidScope(bad.clone()));
        }
        if let Some(bad) = self
            .audiences
            .iter()
            .find(|a| a.is_empty() || a.chars().any(char::is_whitespace))
        {
            return Err(RegistrationError::InvalidAudience(bad.clone()));
        }
        if !TOKEN_TTL_RANGE.contains(&self.token_ttl) {
            return Err(RegistrationError::TokenTtlOutOfRange(self.token_ttl));
        }
        Ok(())
    }
}

/// Register a client: draw its id and secret, store only the Argon2id hash.
///
/// # Errors
/// Validation, randomness or database failures, as text for the operator.
pub async fn create(store: &Store, new: NewClient, now: UnixTime) -> Result<CreatedClient, String> {
    new.validate().map_err(|e| e.to_string())?;
    let id: [u8; 12] = crate::random_bytes().map_err(|e| e.to_string())?;
    let secret: [u8; 32] = crate::random_bytes().map_err(|e| e.to_string())?;
    let salt: [u8; 16] = crate::random_bytes().map_err(|e| e.to_string())?;
    let client_id = format!("tc_{}", b64(&id));
    let client_secret = format!("tcs_{}", b64(&secret));
    let secret_hash = tessera_authn::hash_client_secret(client_secret.as_bytes(), &salt)
        .map_err(|e| e.to_string())?;
    let mut scopes = new.scopes;
    scopes.sort();
    scopes.dedup();
    let record = ClientRecord {
        client_id,
        tenant: new.tenant,
        secret_hash,
        scopes,
        audiences: new.audiences,
        token_ttl: new.token_ttl,
        disabled: false,
        updated_at: now.as_secs(),
        token_roles: Vec::new(),
    };
    store
        .insert_client(&record, now)
        .await
        .map_err(|e| format!("cannot store client: {e}"))?;
    Ok(CreatedClient {
        record,
        client_secret,
    })
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new() -> NewClient {
        NewClient {
            tenant: "acme".into(),
            scopes: vec!["read".into()],
            audiences: vec!["https://api".into()],
            token_ttl: 300,
        }
    }

    #[test]
    fn validation() {
        assert_eq!(new().validate(), Ok(()));
        for t in ["", "Acme", "-a", "a b", &"a".repeat(64)] {
            let c = NewClient {
                tenant: t.into(),
                ..new()
            };
            assert!(
                matches!(c.validate(), Err(RegistrationError::InvalidTenant(_))),
                "{t}"
            );
        }
        for s in ["", "a b", "a\"b", "a\\b", "é"] {
            let c = NewClient {
                scopes: vec![s.into()],
                ..new()
            };
            assert!(
                matches!(c.validate(), Err(RegistrationError::InvalidScope(_))),
                "{s}"
            );
        }
        let c = NewClient {
            audiences: vec!["a b".into()],
            ..new()
        };
        assert!(matches!(
            c.validate(),
            Err(RegistrationError::InvalidAudience(_))
        ));
        for ttl in [29, 3601] {
            let c = NewClient {
                token_ttl: ttl,
                ..new()
            };
            assert_eq!(
                c.validate(),
                Err(RegistrationError::TokenTtlOutOfRange(ttl))
            );
        }
    }
}
