//! Ceremony state for passkey registration and sign-in: carried by the challenge, spent once.
//!
//! `…/options` seals the ceremony (what it is for, for whom, and for another device the session that
//! started it) into the challenge itself (`tessera_authn::webauthn::challenge`, HMAC under a key derived
//! from `KEY_ENCRYPTION_KEY`), so asking for options stores nothing: anonymous callers cannot create state.
//! `…/verify` opens the challenge the browser echoes in `clientDataJSON` and, only once the ceremony has
//! verified, spends it: a Durable Object named by the challenge's nonce records it as used until it
//! expires, and the first spend wins (Durable Objects run one request at a time), so of any number of
//! concurrent presentations of one ceremony exactly one completes.

use serde::{Deserialize, Serialize};
use tessera_authn::webauthn::challenge::{self, ChallengeError, ChallengeKey, NONCE_LEN};
use tessera_proto::Code;
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, State};

use crate::config::{key_encryption_key, Config};
use crate::error::ApiError;
use crate::{now, random_bytes};
use tessera_proto::UnixTime;

const BINDING: &str = "CEREMONIES";
const KEY: &str = "spent_until";
/// How long a ceremony may take, in seconds.
const CEREMONY_TTL_SECS: u32 = 5 * 60;
/// The same in milliseconds, as the browser's `timeout` option takes it.
pub const CEREMONY_TIMEOUT_MS: u32 = CEREMONY_TTL_SECS * 1000;

/// What a challenge was issued for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ceremony {
    /// A new user signing up with their first passkey.
    SignUp {
        tenant: String,
        user_id: String,
        username: String,
        display_name: String,
    },
    /// A signed-in user adding another passkey: finished only by the same user in the same, still
    /// active session.
    AddPasskey {
        tenant: String,
        user_id: String,
        sid: String,
    },
    /// Sign-in; `username` as the caller typed it (username-first), `None` for discoverable sign-in. Only
    /// what the caller said is sealed (the payload is readable): never whether or whom it names.
    SignIn {
        tenant: String,
        username: Option<String>,
    },
}

/// A challenge whose seal and expiry were checked, not yet spent.
pub struct Opened {
    pub ceremony: Ceremony,
    nonce: [u8; NONCE_LEN],
    expires_at: UnixTime,
}

/// The key, bound to this deployment (issuer and RP ID): another edge sharing the secret cannot open our
/// challenges, nor we theirs.
fn key(env: &Env, cfg: &Config) -> Result<ChallengeKey, ApiError> {
    let root = key_encryption_key(env)?;
    let rp_id = cfg.login.rp.as_ref().map_or("", |rp| rp.id.as_str());
    let context = format!("{}\0{rp_id}", cfg.issuer);
    ChallengeKey::derive(root.expose_secret(), context.as_bytes())
        .map_err(|e| ApiError::internal(format!("challenge key: {e}")))
}

/// A new challenge (base64url) carrying `ceremony`.
///
/// # Errors
/// A missing key, no randomness, or a ceremony too large to carry.
pub fn start(env: &Env, cfg: &Config, ceremony: &Ceremony) -> Result<String, ApiError> {
    let payload = serde_json::to_vec(ceremony).map_err(|e| ApiError::internal(e.to_string()))?;
    let sealed = challenge::seal(
        &key(env, cfg)?,
        &payload,
        now().plus_secs(i64::from(CEREMONY_TTL_SECS)),
        &random_bytes::<NONCE_LEN>()?,
    )
    .map_err(|e| ApiError::new(400, Code::InvalidRequest, e.to_string()))?;
    Ok(tessera_jose::b64::encode(&sealed))
}

/// The ceremony `challenge_b64` carries, if it is one of ours, unexpired, and for this edge's tenant
/// (spent or not: see [`spend`]).
///
/// # Errors
/// A missing key; `Ok(Err(_))` for a challenge that is not ours or has expired.
pub fn open(
    env: &Env,
    cfg: &Config,
    challenge_b64: &str,
) -> Result<Result<Opened, ChallengeError>, ApiError> {
    let Ok(bytes) = tessera_jose::b64::decode(challenge_b64) else {
        return Ok(Err(ChallengeError::Unknown));
    };
    let opened = match challenge::open(&key(env, cfg)?, &bytes, now()) {
        Ok(o) => o,
        Err(e) => return Ok(Err(e)),
    };
    // The tag covers the payload: a payload we cannot read was sealed by a different version of us.
    Ok(serde_json::from_slice::<Ceremony>(&opened.payload)
        .ok()
        .filter(|c| c.tenant() == cfg.login.tenant)
        .map(|ceremony| Opened {
            ceremony,
            nonce: opened.nonce,
            expires_at: opened.expires_at,
        })
        .ok_or(ChallengeError::Unknown))
}

impl Ceremony {
    fn tenant(&self) -> &str {
        match self {
            Self::SignUp { tenant, .. }
            | Self::AddPasskey { tenant, .. }
            | Self::SignIn { tenant, .. } => tenant,
        }
    }
}

/// Spend the challenge: `true` the first time, `false` ever after (until it has expired anyway).
///
/// # Errors
/// When the object cannot be reached.
pub async fn spend(env: &Env, opened: &Opened) -> Result<bool, ApiError> {
    let name = tessera_jose::b64::encode(&opened.nonce);
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(&name)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(wasm_bindgen::JsValue::from_str(
            &opened.expires_at.as_secs().to_string(),
        )));
    let req = Request::new_with_init("https://ceremony/spend", &init)?;
    let resp = stub.fetch_with_request(req).await?;
    match resp.status_code() {
        204 => Ok(true),
        409 => Ok(false),
        code => Err(ApiError::internal(format!(
            "ceremony object answered {code}"
        ))),
    }
}

/// One challenge's single-use record.
#[durable_object]
pub struct CeremonyObject {
    state: State,
}

impl CeremonyObject {
    async fn handle(&self, mut req: Request) -> Result<Response, ApiError> {
        if req.method() != Method::Post {
            return Err(ApiError::new(405, Code::MethodNotAllowed, "POST"));
        }
        let expires_at: i64 = req
            .text()
            .await?
            .parse()
            .map_err(|_| ApiError::internal("bad ceremony expiry"))?;
        let storage = self.state.storage();
        if storage.get::<i64>(KEY).await?.is_some() {
            return Ok(Response::empty()?.with_status(409));
        }
        storage.put(KEY, expires_at).await?;
        // Kept a minute past the expiry (clock skew between isolates), then cleared.
        let clear_at = UnixTime::from_secs(expires_at).plus_secs(60).max(now());
        storage.set_alarm(clear_at.as_millis()).await?;
        Ok(Response::empty()?.with_status(204))
    }
}

impl DurableObject for CeremonyObject {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        match self.handle(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => e.into_response(),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}
