//! OAuth 2.0 client registration (operator CLI) and lookup (edge, over the service credential).
//!
//! Two uses, one record: a confidential client with audiences gets tokens for itself (client
//! credentials); a client with redirect URIs signs people in through the authorization endpoint
//! (authorization code with PKCE, OpenID Connect). A public client (a browser or native app) has no
//! secret and must use PKCE.

use tessera_proto::UnixTime;
use tessera_proto::{ClientKind, ClientRecord};

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
    pub kind: ClientKind,
    pub first_party: bool,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
}

impl NewClient {
    /// A confidential client-credentials client of `tenant` for `audiences` (the other settings empty).
    #[must_use]
    pub fn service(tenant: &str, scopes: Vec<String>, audiences: Vec<String>) -> Self {
        Self {
            tenant: tenant.to_owned(),
            scopes,
            audiences,
            token_ttl: DEFAULT_TOKEN_TTL,
            kind: ClientKind::Confidential,
            first_party: false,
            name: String::new(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
        }
    }
}

/// The result of a registration: the only moment the secret exists in clear.
pub struct CreatedClient {
    pub record: ClientRecord,
    /// Shown once to the operator, never stored; `None` for a public client.
    pub client_secret: Option<String>,
}

/// Why a registration was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RegistrationError {
    InvalidTenant(String),
    InvalidScope(String),
    InvalidAudience(String),
    TokenTtlOutOfRange(u32),
    InvalidRedirectUri(String, &'static str),
    /// Neither an audience (client credentials) nor a redirect URI (authorization code): nothing to use.
    NothingToUse,
    PublicWithoutRedirectUri,
    InvalidName,
}

impl std::fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidTenant(t) => {
                write!(f, "tenant `{t}` must be 1-63 characters of a-z, 0-9, `-` or `_`, starting with a letter or digit")
            }
            Self::InvalidScope(s) => write!(f, "scope `{s}` is not an RFC 6749 scope-token (printable ASCII, no space, `\"` or `\\`)"),
            Self::InvalidAudience(a) => write!(f, "audience `{a}` must be a non-empty string without whitespace"),
            Self::InvalidRedirectUri(u, why) => write!(f, "redirect URI `{}` {why}", u.escape_debug()),
            Self::NothingToUse => f.write_str(
                "give the client an --audience (client credentials) or a --redirect-uri (sign-in), or both",
            ),
            Self::PublicWithoutRedirectUri => {
                f.write_str("a public client signs people in: give it at least one --redirect-uri")
            }
            Self::InvalidName => f.write_str("the name must be 1-80 characters without control characters"),
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
        for u in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            check_redirect_uri(u)
                .map_err(|why| RegistrationError::InvalidRedirectUri(u.clone(), why))?;
        }
        if self.kind == ClientKind::Public && self.redirect_uris.is_empty() {
            return Err(RegistrationError::PublicWithoutRedirectUri);
        }
        if self.audiences.is_empty() && self.redirect_uris.is_empty() {
            return Err(RegistrationError::NothingToUse);
        }
        if self.name.chars().count() > 80 || self.name.chars().any(char::is_control) {
            return Err(RegistrationError::InvalidName);
        }
        Ok(())
    }
}

/// A redirect URI as OAuth 2.0 for browser and native apps allows it (RFC 6749 §3.1.2, RFC 8252 §7,
/// OAuth 2.1 §2.3): absolute, no fragment; `https`, or `http` to a loopback address only, or a private-use
/// scheme in reverse-domain form (`com.example.app:/callback`). Compared exactly when used, so it is
/// stored as given (and must be given in the form the URL parser keeps).
fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > 2000 {
        return Err("is longer than 2000 characters");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "is not an absolute URL")?;
    if parsed.fragment().is_some() {
        return Err("must not have a fragment");
    }
    if parsed.as_str() != uri {
        return Err("is not in normal form (write it as the browser sends it back)");
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => match parsed.host() {
            Some(url::Host::Domain("localhost")) => Ok(()),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => Err("uses http: only loopback addresses (localhost, 127.0.0.1, [::1]) may"),
        },
        s if s.contains('.') => Ok(()),
        _ => Err(
            "must use https, http to a loopback address, or a reverse-domain private-use scheme",
        ),
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
    let (client_secret, secret_hash) = if new.kind == ClientKind::Public {
        (None, String::new())
    } else {
        let client_secret = format!("tcs_{}", b64(&secret));
        let hash = tessera_authn::hash_client_secret(client_secret.as_bytes(), &salt)
            .map_err(|e| e.to_string())?;
        (Some(client_secret), hash)
    };
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
        kind: new.kind,
        first_party: new.first_party,
        name: new.name,
        redirect_uris: new.redirect_uris,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
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
        NewClient::service("acme", vec!["read".into()], vec!["https://api".into()])
    }

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example/cb",
            "https://app.example/cb?x=1",
            "http://localhost:8080/cb",
            "http://127.0.0.1:9/cb",
            "http://[::1]/cb",
            "com.example.app:/oauth",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "/cb",
            "https://app.example/cb#x",
            "http://app.example/cb",
            "http://10.0.0.1/cb",
            "javascript:alert(1)",
            "myapp:/cb",
            "HTTPS://App.Example/cb",
            "https://app.example",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        let public = NewClient {
            kind: ClientKind::Public,
            audiences: Vec::new(),
            ..new()
        };
        assert_eq!(
            public.validate(),
            Err(RegistrationError::PublicWithoutRedirectUri)
        );
        let nothing = NewClient {
            audiences: Vec::new(),
            ..new()
        };
        assert_eq!(nothing.validate(), Err(RegistrationError::NothingToUse));
        let app = NewClient {
            redirect_uris: vec!["https://app.example/cb".into()],
            ..public
        };
        assert_eq!(app.validate(), Ok(()));
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
