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

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tessera_proto::{ClientKind, ClientRecord, Code};

use crate::b64;

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

/// What a browser session says about the person, for [`needs`].
#[derive(Clone, Copy, Debug)]
pub struct SessionView<'a> {
    /// When the person last authenticated (unix seconds).
    pub auth_time: i64,
    pub amr: &'a [String],
    pub acr: &'a str,
    /// Whether the person has an authenticator app (so a step-up can be asked for).
    pub totp_enrolled: bool,
}

/// What the person has granted the client before.
#[derive(Clone, Copy, Debug)]
pub struct ConsentView<'a> {
    pub scopes: &'a [String],
    pub granted_at: i64,
}

/// What stands between an authorization request and its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// Sign in (again).
    Login,
    /// Prove a one-time code (`acr_values` asks for `mfa`).
    StepUp,
    /// Consent to the scopes.
    Consent,
    /// Nothing: issue the code.
    Nothing,
}

impl Need {
    /// The error a `prompt=none` request gets instead of a page (OIDC Core §3.1.2.6).
    #[must_use]
    pub fn prompt_none_error(self) -> Option<Code> {
        match self {
            Self::Login => Some(Code::LoginRequired),
            Self::StepUp => Some(Code::InteractionRequired),
            Self::Consent => Some(Code::ConsentRequired),
            Self::Nothing => None,
        }
    }
}

/// Whether `session` satisfies the `acr` value `acr`.
#[must_use]
pub fn satisfies(session_acr: &str, amr: &[String], acr: &str) -> bool {
    match acr {
        ACR_PHISHING_RESISTANT => session_acr == ACR_PHISHING_RESISTANT,
        ACR_MFA => amr.iter().any(|m| m == "otp"),
        _ => false,
    }
}

/// The `acr` an ID token states: the first of the requested values the session satisfies, else the
/// session's own.
#[must_use]
pub fn stated_acr(req: &AuthorizationRequest, session_acr: &str, amr: &[String]) -> String {
    req.acr_values
        .iter()
        .find(|a| satisfies(session_acr, amr, a))
        .cloned()
        .unwrap_or_else(|| session_acr.to_owned())
}

/// What `req`, first received at `requested_at`, still needs from a browser with `session` (if signed
/// in) and the person's earlier `consent`, at `now`. A fresh sign-in (`prompt=login`, `max_age=0`) is one
/// at or after `requested_at`; renewed consent (`prompt=consent`) likewise.
#[must_use]
pub fn needs(
    req: &AuthorizationRequest,
    client: &ClientRecord,
    requested_at: i64,
    session: Option<SessionView<'_>>,
    consent: Option<ConsentView<'_>>,
    now: i64,
) -> Need {
    let Some(s) = session else {
        return Need::Login;
    };
    let fresh = s.auth_time >= requested_at;
    if (req.prompt.login || req.max_age == Some(0)) && !fresh {
        return Need::Login;
    }
    if req
        .max_age
        .is_some_and(|m| now.saturating_sub(s.auth_time) > m)
    {
        return Need::Login;
    }
    let wants_mfa = req.acr_values.iter().any(|a| a == ACR_MFA);
    let satisfied = req.acr_values.iter().any(|a| satisfies(s.acr, s.amr, a));
    if wants_mfa && !satisfied && s.totp_enrolled {
        return Need::StepUp;
    }
    if !client.first_party {
        let asked = req.consent_scopes();
        let covered = consent.is_some_and(|c| {
            asked.iter().all(|a| c.scopes.contains(a))
                && (!req.prompt.consent || c.granted_at >= requested_at)
        });
        if !covered {
            return Need::Consent;
        }
    }
    Need::Nothing
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

/// A person's profile claims, given for the `profile` scope.
#[derive(Clone, Copy, Debug)]
pub struct Profile<'a> {
    pub name: &'a str,
    pub preferred_username: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(kind: ClientKind) -> ClientRecord {
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

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn params(extra: &[(&str, &str)]) -> Params {
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

    fn check(extra: &[(&str, &str)]) -> Result<AuthorizationRequest, AuthorizeError> {
        AuthorizationRequest::check(&params(extra), &client(ClientKind::Public))
    }

    fn code_of(r: Result<AuthorizationRequest, AuthorizeError>) -> (bool, Code) {
        match r.unwrap_err() {
            AuthorizeError::Page { code, .. } => (false, code),
            AuthorizeError::Redirect { code, .. } => (true, code),
        }
    }

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

    fn facts(auth_time: i64, amr: &[String], totp: bool) -> SessionView<'_> {
        SessionView {
            auth_time,
            amr,
            acr: ACR_PHISHING_RESISTANT,
            totp_enrolled: totp,
        }
    }

    #[test]
    fn what_a_request_needs() {
        let c = client(ClientKind::Public);
        let r = check(&[]).unwrap();
        let hwk = vec!["hwk".to_owned()];
        let profile = vec!["profile".to_owned()];
        let consent = Some(ConsentView {
            scopes: &profile,
            granted_at: 50,
        });
        assert_eq!(needs(&r, &c, 100, None, None, 100), Need::Login);
        assert_eq!(
            needs(&r, &c, 100, Some(facts(10, &hwk, false)), None, 100),
            Need::Consent
        );
        assert_eq!(
            needs(&r, &c, 100, Some(facts(10, &hwk, false)), consent, 100),
            Need::Nothing
        );
        let first = ClientRecord {
            first_party: true,
            ..c.clone()
        };
        assert_eq!(
            needs(&r, &first, 100, Some(facts(10, &hwk, false)), None, 100),
            Need::Nothing
        );
        // prompt=login and max_age=0 want a sign-in after the request; max_age bounds the session's age.
        let login = check(&[("prompt", "login")]).unwrap();
        assert_eq!(
            needs(&login, &first, 100, Some(facts(99, &hwk, false)), None, 100),
            Need::Login
        );
        assert_eq!(
            needs(
                &login,
                &first,
                100,
                Some(facts(100, &hwk, false)),
                None,
                101
            ),
            Need::Nothing
        );
        let zero = check(&[("max_age", "0")]).unwrap();
        assert_eq!(
            needs(&zero, &first, 100, Some(facts(99, &hwk, false)), None, 100),
            Need::Login
        );
        let aged = check(&[("max_age", "30")]).unwrap();
        assert_eq!(
            needs(&aged, &first, 100, Some(facts(60, &hwk, false)), None, 100),
            Need::Login
        );
        assert_eq!(
            needs(&aged, &first, 100, Some(facts(70, &hwk, false)), None, 100),
            Need::Nothing
        );
        // prompt=consent wants consent given after the request.
        let again = check(&[("prompt", "consent")]).unwrap();
        assert_eq!(
            needs(&again, &c, 100, Some(facts(10, &hwk, false)), consent, 100),
            Need::Consent
        );
        let fresh = Some(ConsentView {
            scopes: &profile,
            granted_at: 100,
        });
        assert_eq!(
            needs(&again, &c, 100, Some(facts(10, &hwk, false)), fresh, 100),
            Need::Nothing
        );
        // acr_values=mfa: a step-up when the person has an app, else what the session has.
        let mfa = check(&[("acr_values", "mfa")]).unwrap();
        assert_eq!(
            needs(&mfa, &first, 100, Some(facts(10, &hwk, true)), None, 100),
            Need::StepUp
        );
        assert_eq!(
            needs(&mfa, &first, 100, Some(facts(10, &hwk, false)), None, 100),
            Need::Nothing
        );
        let both = vec!["hwk".to_owned(), "otp".to_owned()];
        assert_eq!(
            needs(&mfa, &first, 100, Some(facts(10, &both, true)), None, 100),
            Need::Nothing
        );
        assert_eq!(stated_acr(&mfa, ACR_PHISHING_RESISTANT, &both), ACR_MFA);
        assert_eq!(
            stated_acr(&mfa, ACR_PHISHING_RESISTANT, &hwk),
            ACR_PHISHING_RESISTANT
        );
        assert_eq!(
            Need::Consent.prompt_none_error(),
            Some(Code::ConsentRequired)
        );
    }
}
