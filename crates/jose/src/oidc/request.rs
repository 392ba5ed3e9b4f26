//! Reading an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) in the order §4.1.2.1 needs:
//! [`Params::read`] takes the query or form; until the client and its redirect URI are known to be right,
//! every refusal is shown to the person ([`AuthorizeError::Page`]); after that, refusals go back to the
//! client's redirect URI ([`AuthorizeError::Redirect`]).

use serde::{Deserialize, Serialize};
use tessera_proto::{ClientKind, ClientRecord, Code};

use super::{pkce_text, ACR_VALUES, STANDARD_SCOPES, UNSUPPORTED_STANDARD_SCOPES};

const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 512;
const MAX_LOGIN_HINT: usize = 256;
const MAX_PARAM: usize = 4096;

/// Where the answer goes (OAuth 2.0 Multiple Response Type Encoding Practices; Form Post Response Mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// No page may be shown: answer at once or with an error.
    pub none: bool,
    /// Authenticate again, whatever the browser's session.
    pub login: bool,
    /// Ask for consent again, even when the person gave it before.
    pub consent: bool,
}

/// A refusal of an authorization request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown to the person: the client or its redirect URI is unknown or wrong, so nothing may be sent to
    /// the URI the request names (RFC 6749 §4.1.2.1, §10.15).
    Page { code: Code, message: String },
    /// Sent to the client's redirect URI with `error` and `error_description`.
    Redirect { code: Code, description: String },
}

impl AuthorizeError {
    fn page(code: Code, message: impl Into<String>) -> Self {
        Self::Page {
            code,
            message: message.into(),
        }
    }

    fn redirect(code: Code, description: impl Into<String>) -> Self {
        Self::Redirect {
            code,
            description: description.into(),
        }
    }

    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Page { code, .. } | Self::Redirect { code, .. } => *code,
        }
    }
}

impl std::fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Page { message, .. } => f.write_str(message),
            Self::Redirect { description, .. } => f.write_str(description),
        }
    }
}

impl std::error::Error for AuthorizeError {}

/// The parameters of an authorization request, each at most once.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// A parameter given twice (RFC 6749 §3.1: "MUST NOT be included more than once").
    repeated: Option<String>,
}

impl Params {
    /// Read `pairs` (the query, or the form of a `POST`). Empty values count as absent (RFC 6749 §3.1).
    #[must_use]
    pub fn read(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut out = Self::default();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            if out.pairs.iter().any(|(k2, _)| *k2 == k) {
                out.repeated.get_or_insert(k);
                continue;
            }
            out.pairs.push((k, v));
        }
        out
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `client_id`, which decides whose redirect URIs apply.
    ///
    /// # Errors
    /// [`AuthorizeError::Page`]: absent or given twice.
    pub fn client_id(&self) -> Result<&str, AuthorizeError> {
        if self.repeated.as_deref() == Some("client_id") {
            return Err(AuthorizeError::page(
                Code::InvalidRequest,
                "`client_id` is given twice",
            ));
        }
        self.get("client_id")
            .ok_or_else(|| AuthorizeError::page(Code::InvalidRequest, "`client_id` is required"))
    }

    /// `state`, when it may be echoed (present, once, not too long).
    #[must_use]
    pub fn state(&self) -> Option<&str> {
        self.get("state")
            .filter(|s| s.len() <= MAX_STATE && self.repeated.as_deref() != Some("state"))
    }

    /// The response mode the request asks for, or `query` when it names none or none this provider has
    /// (where errors about the request itself are sent).
    #[must_use]
    pub fn response_mode(&self) -> ResponseMode {
        match self.get("response_mode") {
            Some("form_post") => ResponseMode::FormPost,
            _ => ResponseMode::Query,
        }
    }
}

/// A checked authorization request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    /// In the order asked, without repeats.
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// S256 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    #[serde(default)]
    pub prompt: Prompt,
    /// Seconds since the person authenticated beyond which they must again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// Of [`ACR_VALUES`], in the order of preference asked; unknown values are dropped (they are
    /// voluntary, OIDC Core §3.1.2.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
}

/// Printable ASCII without spaces (what `state`, `nonce` and the like may hold here).
fn printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl AuthorizationRequest {
    /// Check `params` against `client` (its record as stored). The client's tenant and whether it is
    /// disabled are the shell's to check before (both are page errors).
    ///
    /// # Errors
    /// See [`AuthorizeError`].
    pub fn check(params: &Params, client: &ClientRecord) -> Result<Self, AuthorizeError> {
        use AuthorizeError as E;
        if client.redirect_uris.is_empty() {
            return Err(E::page(
                Code::UnauthorizedClient,
                "this client has no redirect URI: it cannot use the authorization endpoint",
            ));
        }
        if params.repeated.as_deref() == Some("redirect_uri") {
            return Err(E::page(
                Code::InvalidRequest,
                "`redirect_uri` is given twice",
            ));
        }
        // Required (OIDC Core §3.1.2.1), compared exactly: no prefix, no normalisation.
        let redirect_uri = params
            .get("redirect_uri")
            .ok_or_else(|| E::page(Code::InvalidRequest, "`redirect_uri` is required"))?;
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(E::page(
                Code::InvalidRedirectUri,
                "`redirect_uri` is not one this client registered",
            ));
        }
        // From here on, errors go to the redirect URI.
        if let Some(name) = &params.repeated {
            return Err(E::redirect(
                Code::InvalidRequest,
                format!("`{}` is given twice", name.escape_debug()),
            ));
        }
        if let Some((name, _)) = params.pairs.iter().find(|(_, v)| v.len() > MAX_PARAM) {
            return Err(E::redirect(
                Code::InvalidRequest,
                format!("`{}` is too long", name.escape_debug()),
            ));
        }
        if params.get("request").is_some() {
            return Err(E::redirect(
                Code::RequestNotSupported,
                "request objects are not supported",
            ));
        }
        if params.get("request_uri").is_some() {
            return Err(E::redirect(
                Code::RequestUriNotSupported,
                "`request_uri` is not supported",
            ));
        }
        match params.get("response_type") {
            None => {
                return Err(E::redirect(
                    Code::InvalidRequest,
                    "`response_type` is required",
                ))
            }
            Some("code") => {}
            Some(other) => {
                return Err(E::redirect(
                    Code::UnsupportedResponseType,
                    format!(
                        "response type `{}` is not supported; use `code`",
                        other.escape_debug()
                    ),
                ))
            }
        }
        let response_mode = match params.get("response_mode") {
            None | Some("query") => ResponseMode::Query,
            Some("form_post") => ResponseMode::FormPost,
            Some(other) => {
                return Err(E::redirect(
                    Code::InvalidRequest,
                    format!(
                        "response mode `{}` is not supported; use `query` or `form_post`",
                        other.escape_debug()
                    ),
                ))
            }
        };
        let scopes = Self::scopes(params.get("scope"), client)?;
        let state = match params.get("state") {
            Some(s) if s.len() > MAX_STATE || !printable(s) => {
                return Err(E::redirect(
                    Code::InvalidRequest,
                    "`state` must be printable ASCII, at most 2048 characters",
                ))
            }
            s => s.map(str::to_owned),
        };
        let nonce = match params.get("nonce") {
            Some(n) if n.len() > MAX_NONCE || !printable(n) => {
                return Err(E::redirect(
                    Code::InvalidRequest,
                    "`nonce` must be printable ASCII, at most 512 characters",
                ))
            }
            n => n.map(str::to_owned),
        };
        let code_challenge = Self::challenge(params, client)?;
        let prompt = Self::prompt(params.get("prompt"))?;
        let max_age = match params.get("max_age") {
            None => None,
            Some(m) => Some(
                m.parse::<u32>()
                    .ok()
                    .filter(|_| m.bytes().all(|b| b.is_ascii_digit()))
                    .map(i64::from)
                    .ok_or_else(|| {
                        E::redirect(
                            Code::InvalidRequest,
                            "`max_age` must be a whole number of seconds",
                        )
                    })?,
            ),
        };
        let acr_values = params
            .get("acr_values")
            .unwrap_or_default()
            .split(' ')
            .filter(|v| ACR_VALUES.contains(v))
            .map(str::to_owned)
            .collect();
        let login_hint = params
            .get("login_hint")
            .filter(|h| h.chars().count() <= MAX_LOGIN_HINT && !h.chars().any(char::is_control))
            .map(str::to_owned);
        Ok(Self {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            response_mode,
            scopes,
            state,
            nonce,
            code_challenge,
            prompt,
            max_age,
            acr_values,
            login_hint,
        })
    }

    fn scopes(asked: Option<&str>, client: &ClientRecord) -> Result<Vec<String>, AuthorizeError> {
        let Some(asked) = asked else {
            return Err(AuthorizeError::redirect(
                Code::InvalidScope,
                "`scope` is required (`openid` for OpenID Connect)",
            ));
        };
        let mut scopes: Vec<String> = Vec::new();
        for s in asked.split(' ').filter(|s| !s.is_empty()) {
            if UNSUPPORTED_STANDARD_SCOPES.contains(&s) && !client.scopes.iter().any(|c| c == s) {
                continue;
            }
            if !STANDARD_SCOPES.contains(&s) && !client.scopes.iter().any(|c| c == s) {
                return Err(AuthorizeError::redirect(
                    Code::InvalidScope,
                    format!("scope `{}` is not granted to this client", s.escape_debug()),
                ));
            }
            if !scopes.iter().any(|k| k == s) {
                scopes.push(s.to_owned());
            }
        }
        Ok(scopes)
    }

    fn challenge(params: &Params, client: &ClientRecord) -> Result<Option<String>, AuthorizeError> {
        let challenge = params.get("code_challenge");
        match (challenge, params.get("code_challenge_method")) {
            (None, None) if client.kind == ClientKind::Public => Err(AuthorizeError::redirect(
                Code::InvalidRequest,
                "a public client must use PKCE: send `code_challenge` with `code_challenge_method=S256`",
            )),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(AuthorizeError::redirect(
                Code::InvalidRequest,
                "`code_challenge_method` without `code_challenge`",
            )),
            (Some(_), None | Some("plain")) => Err(AuthorizeError::redirect(
                Code::InvalidRequest,
                "only `code_challenge_method=S256` is supported",
            )),
            (Some(c), Some("S256")) if c.len() == 43 && pkce_text(c) => Ok(Some(c.to_owned())),
            (Some(_), Some("S256")) => Err(AuthorizeError::redirect(
                Code::InvalidRequest,
                "`code_challenge` must be the base64url SHA-256 of the verifier (43 characters)",
            )),
            (Some(_), Some(other)) => Err(AuthorizeError::redirect(
                Code::InvalidRequest,
                format!(
                    "code challenge method `{}` is not supported; use S256",
                    other.escape_debug()
                ),
            )),
        }
    }

    fn prompt(asked: Option<&str>) -> Result<Prompt, AuthorizeError> {
        let mut p = Prompt::default();
        for v in asked
            .unwrap_or_default()
            .split(' ')
            .filter(|v| !v.is_empty())
        {
            match v {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                // No account chooser: signing in again is how another account is chosen.
                "select_account" => p.login = true,
                other => {
                    return Err(AuthorizeError::redirect(
                        Code::InvalidRequest,
                        format!("prompt `{}` is not supported", other.escape_debug()),
                    ))
                }
            }
        }
        if p.none && (p.login || p.consent) {
            return Err(AuthorizeError::redirect(
                Code::InvalidRequest,
                "`prompt=none` cannot be combined with another prompt",
            ));
        }
        Ok(p)
    }

    /// Whether the request is OpenID Connect (asks for an ID token).
    #[must_use]
    pub fn is_openid(&self) -> bool {
        self.has_scope("openid")
    }

    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The scopes a person is asked to consent to (`openid` is the protocol, not a permission).
    #[must_use]
    pub fn consent_scopes(&self) -> Vec<String> {
        self.scopes
            .iter()
            .filter(|s| *s != "openid")
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{check, client, code_of, params};
    use super::*;

    #[test]
    fn a_good_request_reads_back() {
        let r = check(&[
            ("state", "s1"),
            ("nonce", "n1"),
            ("max_age", "60"),
            ("acr_values", "mfa x"),
        ])
        .unwrap();
        assert_eq!(r.scopes, ["openid", "profile"]);
        assert_eq!(r.state.as_deref(), Some("s1"));
        // Standard scopes without claims here are left out, not refused; unknown ones are refused.
        let r2 = check(&[("scope", "email openid phone profile")]).unwrap();
        assert_eq!(r2.scopes, ["openid", "profile"]);
        assert_eq!(r.max_age, Some(60));
        assert_eq!(r.acr_values, ["mfa"]);
        assert!(r.is_openid());
        assert_eq!(r.consent_scopes(), ["profile"]);
        assert_eq!(r.response_mode, ResponseMode::Query);
    }

    #[test]
    fn client_and_redirect_errors_are_shown_not_sent() {
        assert_eq!(
            code_of(check(&[("redirect_uri", "https://app.example/cb/")])),
            (false, Code::InvalidRedirectUri)
        );
        assert_eq!(
            code_of(check(&[("redirect_uri", "https://evil.example/cb")])),
            (false, Code::InvalidRedirectUri)
        );
        let p = Params::read([
            ("client_id".into(), "a".into()),
            ("client_id".into(), "b".into()),
        ]);
        assert!(matches!(p.client_id(), Err(AuthorizeError::Page { .. })));
        let none = Params::read([("client_id".into(), "tc_app".into())]);
        assert!(matches!(
            AuthorizationRequest::check(&none, &client(ClientKind::Public)),
            Err(AuthorizeError::Page {
                code: Code::InvalidRequest,
                ..
            })
        ));
        let mut no_uris = client(ClientKind::Confidential);
        no_uris.redirect_uris.clear();
        assert!(matches!(
            AuthorizationRequest::check(&params(&[]), &no_uris),
            Err(AuthorizeError::Page {
                code: Code::UnauthorizedClient,
                ..
            })
        ));
    }

    #[test]
    fn request_errors_are_sent_with_the_rfc_codes() {
        assert_eq!(
            code_of(check(&[("response_type", "token")])),
            (true, Code::UnsupportedResponseType)
        );
        assert_eq!(
            code_of(check(&[("response_type", "")])),
            (true, Code::InvalidRequest)
        );
        assert_eq!(
            code_of(check(&[("scope", "openid admin")])),
            (true, Code::InvalidScope)
        );
        assert_eq!(
            code_of(check(&[("code_challenge_method", "plain")])),
            (true, Code::InvalidRequest)
        );
        assert_eq!(
            code_of(check(&[("code_challenge", "short")])),
            (true, Code::InvalidRequest)
        );
        assert_eq!(
            code_of(check(&[("prompt", "none login")])),
            (true, Code::InvalidRequest)
        );
        assert_eq!(
            code_of(check(&[("prompt", "sometimes")])),
            (true, Code::InvalidRequest)
        );
        assert_eq!(
            code_of(check(&[("max_age", "-1")])),
            (true, Code::InvalidRequest)
        );
        assert_eq!(
            code_of(check(&[("max_age", "+5")])),
            (true, Code::InvalidRequest)
        );
        assert_eq!(
            code_of(check(&[("response_mode", "fragment")])),
            (true, Code::InvalidRequest)
        );
        assert_eq!(
            code_of(check(&[("request", "eyJ")])),
            (true, Code::RequestNotSupported)
        );
        assert_eq!(
            code_of(check(&[("request_uri", "urn:x")])),
            (true, Code::RequestUriNotSupported)
        );
        assert_eq!(
            code_of(check(&[("nonce", "a\u{7}b")])),
            (true, Code::InvalidRequest)
        );
        let twice = Params::read(
            params(&[])
                .pairs
                .into_iter()
                .chain([("scope".to_owned(), "openid".to_owned())]),
        );
        assert_eq!(
            code_of(AuthorizationRequest::check(
                &twice,
                &client(ClientKind::Public)
            )),
            (true, Code::InvalidRequest)
        );
    }

    #[test]
    fn pkce_is_required_of_public_clients_only() {
        let bare = Params::read(
            params(&[])
                .pairs
                .into_iter()
                .filter(|(k, _)| !k.starts_with("code_challenge")),
        );
        assert_eq!(
            code_of(AuthorizationRequest::check(
                &bare,
                &client(ClientKind::Public)
            )),
            (true, Code::InvalidRequest)
        );
        let r = AuthorizationRequest::check(&bare, &client(ClientKind::Confidential)).unwrap();
        assert_eq!(r.code_challenge, None);
    }
}
