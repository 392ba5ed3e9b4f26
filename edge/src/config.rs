//! Configuration from Worker vars and secrets (see `wrangler.toml` and `keys/README.md`).

use tessera_authn::webauthn::{CoseAlgorithm, RelyingParty, UserVerification};
use tessera_authz::decision_cache::Bounds;
use tessera_jose::{lifetime, RotationPolicy, Secret};
use worker::Env;

use crate::error::ApiError;

pub struct Config {
    /// `iss` of every token, and the base of the metadata URLs.
    pub issuer: String,
    /// Audience `/v1/tokens/verify` expects when the request names none.
    pub default_audience: String,
    /// The origins by region and the order to ask them in (`ORIGINS`, else `ORIGIN_URL` alone).
    pub origins: crate::origin::regions::Origins,
    /// `EDGE_LOCATION`: where this edge is, standing in for `request.cf` (local runs, tests).
    pub edge_location: Option<String>,
    pub policy: RotationPolicy,
    /// Permission checks: how stale `minimize_latency` may be and how the cache is sized.
    pub checks: CheckConfig,
    /// Sign-in for people: the WebAuthn relying party, the tenant the login page serves, user tokens.
    pub login: LoginConfig,
    /// Whether events go to the audit trail (`AUDIT`, on unless `off`).
    pub audit: bool,
    /// This request's id (`cf-ray`, or a random one), on its audit events and sent to the origin as
    /// `Tessera-Request-Id`; empty outside a request (Durable Objects, the queue consumer).
    pub request_id: String,
    /// The browser and system this request came from ("Chrome on macOS", `people::device`; empty: not
    /// known), for the sessions a sign-in opens and the passkeys it registers.
    pub device: String,
}

pub struct LoginConfig {
    /// `None` when no usable RP ID is configured (an IP-address issuer and no `RP_ID`).
    pub rp: Option<RelyingParty>,
    pub rp_name: String,
    /// The tenant people sign up to and sign in at through this edge's login page.
    pub tenant: String,
    /// Audience of user access tokens.
    pub audience: String,
    /// Lifetime of user access tokens (seconds), at most `MAX_TOKEN_TTL`.
    pub token_ttl: u32,
    /// How recent a sign-in must be to add another passkey (seconds).
    pub reauth_window: i64,
}

impl LoginConfig {
    /// # Errors
    /// `edge_misconfigured` when passkeys are not configured.
    pub fn relying_party(&self) -> Result<&RelyingParty, ApiError> {
        self.rp.as_ref().ok_or_else(|| {
            ApiError::misconfigured(
                "passkeys need an RP ID: set `RP_ID` (and `RP_ORIGINS`) or an ISSUER with a host name",
            )
        })
    }

    fn from_env(
        env: &Env,
        issuer: &str,
        default_audience: &str,
        policy: &RotationPolicy,
    ) -> Result<Self, ApiError> {
        let issuer_url = url::Url::parse(issuer)
            .map_err(|e| ApiError::misconfigured(format!("ISSUER `{issuer}`: {e}")))?;
        let host_is_name = matches!(issuer_url.host(), Some(url::Host::Domain(_)));
        let rp_id =
            env.var("RP_ID").map(|v| v.to_string()).ok().or_else(|| {
                host_is_name.then(|| issuer_url.host_str().unwrap_or_default().to_owned())
            });
        let list = |name: &str, default: Vec<String>| {
            env.var(name).map_or(default, |v| {
                v.to_string()
                    .split(',')
                    .map(|s| s.trim().trim_end_matches('/').to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
        };
        let user_verification = match var_or(env, "USER_VERIFICATION", "preferred").as_str() {
            "required" => UserVerification::Required,
            "preferred" => UserVerification::Preferred,
            "discouraged" => UserVerification::Discouraged,
            other => {
                return Err(ApiError::misconfigured(format!(
                    "var `USER_VERIFICATION` = `{other}`: required, preferred or discouraged"
                )))
            }
        };
        let rp = rp_id.map(|id| RelyingParty {
            id,
            origins: list(
                "RP_ORIGINS",
                vec![issuer_url.origin().ascii_serialization()],
            ),
            top_origins: list("RP_TOP_ORIGINS", Vec::new()),
            user_verification,
            algorithms: vec![
                CoseAlgorithm::Es256,
                CoseAlgorithm::EdDsa,
                CoseAlgorithm::Rs256,
            ],
        });
        // Unset: 600 s (or MAX_TOKEN_TTL if shorter). Set above MAX_TOKEN_TTL: the edge refuses to run,
        // since key rotation would remove keys while such tokens live.
        let configured = match env.var("USER_TOKEN_TTL") {
            Ok(_) => Some(
                i64::try_from(number(env, "USER_TOKEN_TTL", 600)?)
                    .map_err(|_| ApiError::misconfigured("var `USER_TOKEN_TTL` is too large"))?,
            ),
            Err(_) => None,
        };
        let token_ttl = lifetime::configured_ttl("USER_TOKEN_TTL", configured, 600, policy)
            .map_err(|e| ApiError::misconfigured(e.to_string()))?;
        let token_ttl = u32::try_from(token_ttl)
            .map_err(|_| ApiError::misconfigured("`USER_TOKEN_TTL` is out of range"))?;
        Ok(Self {
            rp,
            rp_name: var_or(env, "RP_NAME", "Tessera"),
            tenant: var_or(env, "LOGIN_TENANT", "default"),
            audience: var_or(env, "LOGIN_AUDIENCE", default_audience),
            token_ttl,
            reauth_window: seconds(env, "REAUTH_WINDOW", 300)?,
        })
    }
}

pub struct CheckConfig {
    pub bounds: Bounds,
    /// Entries in each isolate's decision cache.
    pub isolate_entries: usize,
    /// How long KV keeps a decision (seconds, at least 60, KV's minimum).
    pub kv_ttl: u64,
    /// The subject type a token's own subject has when it asks about itself (`user:{sub}`); client
    /// credentials tokens are `client:{client_id}`.
    pub user_type: String,
}

thread_local! {
    /// `ORIGINS` as last parsed by this isolate: the text and what it said (vars do not change within
    /// an isolate's life, so every request after the first reuses it).
    static ORIGINS: std::cell::RefCell<Option<(String, crate::origin::regions::Origins)>> =
        const { std::cell::RefCell::new(None) };
}

/// `ORIGINS` parsed, once per isolate.
fn parsed_origins(text: &str) -> Result<crate::origin::regions::Origins, ApiError> {
    if let Some(o) = ORIGINS.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(t, _)| t == text)
            .map(|(_, o)| o.clone())
    }) {
        return Ok(o);
    }
    let origins = crate::origin::regions::Origins::parse(text).map_err(ApiError::misconfigured)?;
    ORIGINS.with(|c| *c.borrow_mut() = Some((text.to_owned(), origins.clone())));
    Ok(origins)
}

fn var_or(env: &Env, name: &str, default: &str) -> String {
    env.var(name)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| default.to_owned())
}

fn seconds(env: &Env, name: &str, default: i64) -> Result<i64, ApiError> {
    let raw = var_or(env, name, &default.to_string());
    raw.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
        ApiError::misconfigured(format!("var `{name}` = `{raw}` is not a number of seconds"))
    })
}

impl Config {
    /// # Errors
    /// A missing or malformed var.
    pub fn from_env(env: &Env) -> Result<Self, ApiError> {
        let issuer = env
            .var("ISSUER")
            .map(|v| v.to_string().trim_end_matches('/').to_owned())
            .map_err(|_| ApiError::misconfigured("var `ISSUER` is not set"))?;
        let policy = RotationPolicy {
            jwks_max_age: seconds(env, "JWKS_MAX_AGE", 300)?,
            ring_cache_ttl: seconds(env, "RING_CACHE_TTL", 30)?,
            max_token_ttl: seconds(env, "MAX_TOKEN_TTL", 3600)?,
            leeway: seconds(env, "LEEWAY", 30)?,
        };
        lifetime::check_policy(&policy).map_err(|e| ApiError::misconfigured(e.to_string()))?;
        Ok(Self {
            default_audience: var_or(env, "DEFAULT_AUDIENCE", &issuer),
            origins: match env.var("ORIGINS") {
                Ok(v) => parsed_origins(&v.to_string())?,
                Err(_) => crate::origin::regions::Origins::single(&var_or(
                    env,
                    "ORIGIN_URL",
                    "http://127.0.0.1:8788",
                )),
            },
            edge_location: env
                .var("EDGE_LOCATION")
                .ok()
                .map(|v| v.to_string())
                .filter(|v| !v.is_empty()),
            checks: CheckConfig::from_env(env)?,
            login: LoginConfig::from_env(
                env,
                &issuer,
                &var_or(env, "DEFAULT_AUDIENCE", &issuer),
                &policy,
            )?,
            policy,
            issuer,
            audit: var_or(env, "AUDIT", "on") != "off",
            request_id: String::new(),
            device: String::new(),
        })
    }
}

fn number(env: &Env, name: &str, default: u64) -> Result<u64, ApiError> {
    let raw = var_or(env, name, &default.to_string());
    raw.parse::<u64>()
        .map_err(|_| ApiError::misconfigured(format!("var `{name}` = `{raw}` is not a number")))
}

impl CheckConfig {
    fn from_env(env: &Env) -> Result<Self, ApiError> {
        let bounds = Bounds::new(
            number(env, "CHECK_MAX_STALENESS_MS", 5_000)?,
            number(env, "CHECK_HEAD_REFRESH_MS", 1_000)?,
        )
        .map_err(|e| ApiError::misconfigured(format!("CHECK_* vars: {e}")))?;
        Ok(Self {
            bounds,
            isolate_entries: usize::try_from(number(env, "CHECK_CACHE_ENTRIES", 50_000)?)
                .unwrap_or(50_000)
                .max(2),
            kv_ttl: number(env, "CHECK_KV_TTL", 600)?.max(60),
            user_type: var_or(env, "CHECK_USER_TYPE", "user"),
        })
    }
}

/// A secret binding as a typed [`Secret`].
///
/// # Errors
/// When the secret is not bound.
pub fn secret(env: &Env, name: &str) -> Result<Secret<String>, ApiError> {
    env.secret(name)
        .map(|s| Secret::new(s.to_string()))
        .map_err(|_| ApiError::misconfigured(format!("secret `{name}` is not set")))
}

/// The 32-byte key-encryption key (base64url) that seals signing keys at rest.
///
/// # Errors
/// When it is missing or not 32 bytes.
pub fn key_encryption_key(env: &Env) -> Result<Secret<[u8; 32]>, ApiError> {
    let text = secret(env, "KEY_ENCRYPTION_KEY")?;
    let bytes =
        Secret::new(tessera_jose::b64::decode(text.expose_secret().trim()).unwrap_or_default());
    let arr: [u8; 32] = bytes.expose_secret().as_slice().try_into().map_err(|_| {
        ApiError::misconfigured("secret `KEY_ENCRYPTION_KEY` is not 32 bytes of base64url")
    })?;
    Ok(Secret::new(arr))
}
