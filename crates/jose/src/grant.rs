//! What a token request is granted, and the claims of the token it gets: the OAuth 2.0 rules the edge
//! applies, as functions with native tests.
//!
//! - [`client_credentials`]: RFC 6749 §4.4 with §3.3 scopes (absent: every scope of the client; each asked
//!   scope must be the client's, else `invalid_scope`) and RFC 8707 resource indicators (`resource`, or
//!   `audience` as the common alias, never both; absent: the client's first audience; one the client may
//!   not have is `invalid_target`).
//! - [`client_claims`], [`user_claims`]: RFC 9068 access-token claims for a client and for a person's
//!   session (RFC 8176 `amr`, `acr`, `auth_time`, `sid`), with the lifetime already bounded by
//!   [`crate::issued_ttl`].
//!
//! Pure: the client record, the request's parameters, `now`, the lifetime and the token id are arguments.

use tessera_proto::Code;
use tessera_proto::{AccessTokenClaims, Audience, ClientRecord, UnixTime};

/// The parameters of a client-credentials request that decide what it gets.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientCredentialsRequest<'a> {
    /// Space-separated; `None` when the request named no scope.
    pub scope: Option<&'a str>,
    /// RFC 8707 `resource`.
    pub resource: Option<&'a str>,
    /// `audience`, the common alias of `resource`.
    pub audience: Option<&'a str>,
}

/// What the request is granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// In the order asked (or the client's order); empty means no `scope` claim.
    pub scopes: Vec<String>,
    pub audience: String,
}

/// A refused request, with its RFC 6749 §5.2 / RFC 8707 error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// A scope the client was not granted.
    ScopeNotGranted(String),
    /// Both `resource` and `audience`.
    ResourceAndAudience,
    /// No audience named and the client has none.
    NoAudience,
    /// An audience the client may not have.
    AudienceNotAllowed(String),
}

impl GrantError {
    /// The OAuth error code.
    #[must_use]
    pub fn oauth_code(&self) -> Code {
        match self {
            Self::ScopeNotGranted(_) => Code::InvalidScope,
            Self::ResourceAndAudience => Code::InvalidRequest,
            Self::NoAudience | Self::AudienceNotAllowed(_) => Code::InvalidTarget,
        }
    }
}

impl std::fmt::Display for GrantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ScopeNotGranted(s) => {
                write!(
                    f,
                    "scope `{}` is not granted to this client",
                    s.escape_debug()
                )
            }
            Self::ResourceAndAudience => f.write_str("give `resource` or `audience`, not both"),
            Self::NoAudience => f.write_str("this client has no audience"),
            Self::AudienceNotAllowed(a) => write!(
                f,
                "audience `{}` is not allowed for this client",
                a.escape_debug()
            ),
        }
    }
}

impl std::error::Error for GrantError {}

/// Decide a client-credentials request for an authenticated `client`.
///
/// # Errors
/// See [`GrantError`].
pub fn client_credentials(
    client: &ClientRecord,
    req: &ClientCredentialsRequest<'_>,
) -> Result<Granted, GrantError> {
    let scopes: Vec<String> = match req.scope {
        Some(s) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => client.scopes.clone(),
    };
    if let Some(bad) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(GrantError::ScopeNotGranted(bad.clone()));
    }
    let audience = match (req.resource, req.audience) {
        (Some(_), Some(_)) => return Err(GrantError::ResourceAndAudience),
        (Some(a), None) | (None, Some(a)) => a.to_owned(),
        (None, None) => client
            .audiences
            .first()
            .cloned()
            .ok_or(GrantError::NoAudience)?,
    };
    if !client.audiences.contains(&audience) {
        return Err(GrantError::AudienceNotAllowed(audience));
    }
    Ok(Granted { scopes, audience })
}

/// What every access token of this issuer shares: who issued it, when, for how long, its id.
#[derive(Clone, Copy, Debug)]
pub struct Issue<'a> {
    pub issuer: &'a str,
    pub now: UnixTime,
    /// Seconds, already bounded by [`crate::issued_ttl`].
    pub ttl: i64,
    pub jti: &'a str,
}

/// The claims of a client-credentials token.
#[must_use]
pub fn client_claims(
    issue: Issue<'_>,
    client: &ClientRecord,
    granted: Granted,
    roles: Option<Vec<String>>,
) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: issue.issuer.to_owned(),
        sub: client.client_id.clone(),
        aud: Audience::One(granted.audience),
        exp: issue.now.plus_secs(issue.ttl).as_secs(),
        iat: issue.now.as_secs(),
        nbf: None,
        jti: issue.jti.to_owned(),
        client_id: client.client_id.clone(),
        scope: (!granted.scopes.is_empty()).then(|| granted.scopes.join(" ")),
        tid: client.tenant.clone(),
        roles,
        amr: None,
        acr: None,
        auth_time: None,
        sid: None,
    }
}

/// A person's session as a token carries it.
#[derive(Clone, Copy, Debug)]
pub struct SessionFacts<'a> {
    pub tenant: &'a str,
    pub user_id: &'a str,
    pub sid: &'a str,
    pub amr: &'a [String],
    pub acr: &'a str,
    pub auth_time: i64,
}

/// The claims of a person's access token (issued to `client_id`, the login page's public client).
#[must_use]
pub fn user_claims(
    issue: Issue<'_>,
    session: SessionFacts<'_>,
    audience: &str,
    client_id: &str,
    roles: Option<Vec<String>>,
) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: issue.issuer.to_owned(),
        sub: session.user_id.to_owned(),
        aud: Audience::One(audience.to_owned()),
        exp: issue.now.plus_secs(issue.ttl).as_secs(),
        iat: issue.now.as_secs(),
        nbf: None,
        jti: issue.jti.to_owned(),
        client_id: client_id.to_owned(),
        scope: None,
        tid: session.tenant.to_owned(),
        roles,
        amr: Some(session.amr.to_vec()),
        acr: Some(session.acr.to_owned()),
        auth_time: Some(session.auth_time),
        sid: Some(session.sid.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientRecord {
        ClientRecord {
            client_id: "c1".into(),
            tenant: "acme".into(),
            secret_hash: String::new(),
            scopes: vec!["read".into(), "write".into()],
            audiences: vec!["https://api.a".into(), "https://api.b".into()],
            token_ttl: 300,
            disabled: false,
            updated_at: 0,
            token_roles: Vec::new(),
            kind: tessera_proto::ClientKind::Confidential,
            first_party: false,
            name: String::new(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
        }
    }

    fn ask(
        scope: Option<&str>,
        resource: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Granted, GrantError> {
        client_credentials(
            &client(),
            &ClientCredentialsRequest {
                scope,
                resource,
                audience,
            },
        )
    }

    #[test]
    fn defaults_are_every_scope_and_the_first_audience() {
        assert_eq!(
            ask(None, None, None),
            Ok(Granted {
                scopes: vec!["read".into(), "write".into()],
                audience: "https://api.a".into()
            })
        );
    }

    #[test]
    fn asked_scopes_must_be_the_clients() {
        assert_eq!(
            ask(Some("write"), None, None).map(|g| g.scopes),
            Ok(vec!["write".into()])
        );
        assert_eq!(
            ask(Some("  read  write "), None, None).map(|g| g.scopes.len()),
            Ok(2)
        );
        // An empty `scope` asks for none: the token carries no scope claim.
        assert_eq!(ask(Some(""), None, None).map(|g| g.scopes.len()), Ok(0));
        let e = ask(Some("read admin"), None, None).unwrap_err();
        assert_eq!(
            (e.oauth_code(), e.to_string().as_str()),
            (
                Code::InvalidScope,
                "scope `admin` is not granted to this client"
            )
        );
        // Scopes compare exactly (no prefix, no case folding).
        assert!(ask(Some("Read"), None, None).is_err());
        assert!(ask(Some("rea"), None, None).is_err());
    }

    #[test]
    fn resource_or_audience_names_one_of_the_clients_audiences() {
        assert_eq!(
            ask(None, Some("https://api.b"), None).map(|g| g.audience),
            Ok("https://api.b".into())
        );
        assert_eq!(
            ask(None, None, Some("https://api.b")).map(|g| g.audience),
            Ok("https://api.b".into())
        );
        let both = ask(None, Some("https://api.a"), Some("https://api.a")).unwrap_err();
        assert_eq!(both.oauth_code(), "invalid_request");
        let other = ask(None, Some("https://evil"), None).unwrap_err();
        assert_eq!(other, GrantError::AudienceNotAllowed("https://evil".into()));
        assert_eq!(other.oauth_code(), "invalid_target");
        let none = client_credentials(
            &ClientRecord {
                audiences: Vec::new(),
                ..client()
            },
            &ClientCredentialsRequest::default(),
        );
        assert_eq!(none, Err(GrantError::NoAudience));
    }

    #[test]
    fn claims_carry_the_grant_and_the_lifetime() {
        let issue = Issue {
            issuer: "https://edge",
            now: UnixTime::from_secs(1_000),
            ttl: 300,
            jti: "j",
        };
        let c = client_claims(
            issue,
            &client(),
            ask(Some("read"), None, None).unwrap(),
            None,
        );
        assert_eq!(
            (c.sub.as_str(), c.client_id.as_str(), c.tid.as_str()),
            ("c1", "c1", "acme")
        );
        assert_eq!((c.iat, c.exp), (1_000, 1_300));
        assert_eq!(c.scope.as_deref(), Some("read"));
        assert!(c.sid.is_none() && c.amr.is_none());
        let none = client_claims(issue, &client(), ask(Some(""), None, None).unwrap(), None);
        assert_eq!(none.scope, None);

        let amr = vec!["hwk".to_owned(), "user".to_owned()];
        let u = user_claims(
            issue,
            SessionFacts {
                tenant: "acme",
                user_id: "u1",
                sid: "s1",
                amr: &amr,
                acr: "phr",
                auth_time: 900,
            },
            "https://api.a",
            "tessera-login",
            Some(vec!["org:acme#view".into()]),
        );
        assert_eq!(
            (u.sub.as_str(), u.sid.as_deref(), u.auth_time),
            ("u1", Some("s1"), Some(900))
        );
        assert_eq!(u.amr, Some(amr));
        assert_eq!(u.scope, None);
        assert_eq!(u.exp - u.iat, 300);
    }
}
