//! The signing key ring at the edge.
//!
//! The authoritative ring lives in one Durable Object (`KeyRingObject`): a single writer, so a rotation is
//! atomic. Private scalars inside it are sealed (AES-256-GCM) under the `KEY_ENCRYPTION_KEY` secret. Each
//! isolate keeps a copy of the ring for `RING_CACHE_TTL` seconds (the rotation policy accounts for that
//! staleness) and refetches early when a token names a `kid` it does not know (at most every few seconds).

use std::cell::RefCell;
use std::rc::Rc;
use tessera_proto::Code;

use serde::Deserialize;
use tessera_jose::{seal, KeyRing, RingKey, RotationReport, Secret, SigningKey};
use tessera_proto::keys::RingStatus;
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, State};

use crate::config::{key_encryption_key, Config};
use crate::error::ApiError;
use crate::tokens::webcrypto::WebCryptoSigner;
use crate::{log, now, random_bytes};
use core::time::Duration;
use serde_json::json;
use tessera_proto::UnixTime;

const BINDING: &str = "KEY_RING";
const RING_KEY: &str = "ring";
/// Minimum spacing of early refetches triggered by unknown `kid`s (so junk tokens cannot hammer the object).
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(5);

struct Snapshot {
    ring: Rc<KeyRing>,
    fetched_at: UnixTime,
}

thread_local! {
    static SNAPSHOT: RefCell<Option<Snapshot>> = const { RefCell::new(None) };
}

/// The ring as this isolate knows it, refetched from the Durable Object when older than `RING_CACHE_TTL`.
///
/// # Errors
/// When the Durable Object cannot be reached and there is no copy at all.
pub async fn current(env: &Env, cfg: &Config) -> Result<Rc<KeyRing>, ApiError> {
    let now = now();
    let fresh = SNAPSHOT.with(|s| {
        s.borrow()
            .as_ref()
            .filter(|s| now < s.fetched_at.plus_secs(cfg.policy.ring_cache_ttl))
            .map(|s| Rc::clone(&s.ring))
    });
    if let Some(ring) = fresh {
        return Ok(ring);
    }
    refresh(env).await
}

/// Refetch early because a token named `kid` that the cached ring lacks. Rate-limited per isolate.
///
/// # Errors
/// When the Durable Object cannot be reached.
pub async fn refresh_for_unknown_kid(
    env: &Env,
    kid: &str,
) -> Result<Option<Rc<KeyRing>>, ApiError> {
    let now = now();
    let recent = SNAPSHOT.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|s| now.since(s.fetched_at) < UNKNOWN_KID_REFETCH)
    });
    if recent {
        return Ok(None);
    }
    log::info("ring_refetch_unknown_kid", &[("kid", json!(kid))]);
    refresh(env).await.map(Some)
}

async fn refresh(env: &Env) -> Result<Rc<KeyRing>, ApiError> {
    match call_object(env, Method::Get, "/ring").await {
        Ok(ring) => {
            let ring = Rc::new(ring);
            SNAPSHOT.with(|s| {
                *s.borrow_mut() = Some(Snapshot {
                    ring: Rc::clone(&ring),
                    fetched_at: now(),
                })
            });
            Ok(ring)
        }
        Err(e) => {
            // Keep serving with the last copy we have: keys change slowly and safely (see the policy).
            let stale = SNAPSHOT.with(|s| s.borrow().as_ref().map(|s| Rc::clone(&s.ring)));
            match stale {
                Some(ring) => {
                    log::error(
                        "ring_refresh_failed",
                        &[(
                            "detail",
                            json!(e.internal_message.as_deref().unwrap_or(&e.external_message)),
                        )],
                    );
                    Ok(ring)
                }
                None => Err(e),
            }
        }
    }
}

async fn call_object(env: &Env, method: Method, path: &str) -> Result<KeyRing, ApiError> {
    let stub = env
        .durable_object(BINDING)?
        .id_from_name("global")?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(method);
    let req = Request::new_with_init(&format!("https://key-ring{path}"), &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        let body = resp.text().await.unwrap_or_default();
        return Err(ApiError::internal(format!(
            "key ring object answered {}: {body}",
            resp.status_code()
        )));
    }
    resp.json::<KeyRing>()
        .await
        .map_err(|e| ApiError::internal(format!("key ring object sent bad json: {e}")))
}

/// Advance the ring one step (admin). Returns the new status.
///
/// # Errors
/// When the Durable Object cannot be reached or refuses.
pub async fn rotate(env: &Env) -> Result<RingStatus, ApiError> {
    let stub = env
        .durable_object(BINDING)?
        .id_from_name("global")?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    let req = Request::new_with_init("https://key-ring/rotate", &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    let text = resp.text().await?;
    if resp.status_code() != 200 {
        return Err(ApiError::internal(format!(
            "key ring rotation failed ({}): {text}",
            resp.status_code()
        )));
    }
    let status: RingStatus =
        serde_json::from_str(&text).map_err(|e| ApiError::internal(e.to_string()))?;
    // This isolate sees the change at once; others within RING_CACHE_TTL (which the policy allows for).
    SNAPSHOT.with(|s| *s.borrow_mut() = None);
    Ok(status)
}

/// A WebCrypto signer for the ring's active key.
///
/// # Errors
/// When there is no active key or its sealed scalar does not open.
pub async fn active_signer(env: &Env, ring: &KeyRing) -> Result<WebCryptoSigner, ApiError> {
    let active = ring.active().ok_or_else(|| {
        ApiError::unavailable(
            Code::NoSigningKey,
            "no signing key is active",
            "ring has no active key",
        )
    })?;
    if let Some(signer) = WebCryptoSigner::cached(&active.kid) {
        return Ok(signer);
    }
    let kek = key_encryption_key(env)?;
    let opened = seal::open(&kek, active.kid.as_bytes(), &active.sealed_private)
        .map_err(|e| ApiError::misconfigured(format!("active key {}: {e}", active.kid)))?;
    let scalar: [u8; 32] = opened
        .expose_secret()
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::misconfigured("sealed scalar is not 32 bytes"))?;
    let scalar = Secret::new(scalar);
    WebCryptoSigner::import(&active.public, &scalar)
        .await
        .map_err(|e| ApiError::internal(format!("webcrypto import failed: {e}")))
}

/// A private key given as a JWK (`kty`, `crv`, `x`, `y`, `d`): the optional `BOOTSTRAP_SIGNING_KEY`.
#[derive(Deserialize)]
struct PrivateJwk {
    d: String,
}

/// Seal a new key for the ring. Either the configured bootstrap key (first key only) or fresh randomness.
fn new_ring_key(
    kek: &Secret<[u8; 32]>,
    bootstrap: Option<&Secret<String>>,
    now: UnixTime,
) -> Result<RingKey, ApiError> {
    let scalar = match bootstrap {
        Some(jwk) => {
            let parsed: PrivateJwk = serde_json::from_str(jwk.expose_secret()).map_err(|_| {
                ApiError::misconfigured("secret `BOOTSTRAP_SIGNING_KEY` is not a private JWK")
            })?;
            let bytes = Secret::new(tessera_jose::b64::decode(&parsed.d).unwrap_or_default());
            let arr: [u8; 32] = bytes.expose_secret().as_slice().try_into().map_err(|_| {
                ApiError::misconfigured("`BOOTSTRAP_SIGNING_KEY.d` is not 32 bytes")
            })?;
            Secret::new(arr)
        }
        None => Secret::new(random_bytes::<32>()?),
    };
    let key = SigningKey::from_scalar_bytes(&scalar)
        .map_err(|e| ApiError::internal(format!("new key: {e}")))?;
    let nonce = random_bytes::<12>()?;
    let kid = key.public_jwk().kid().to_owned();
    let sealed = seal::seal(
        kek,
        &nonce,
        kid.as_bytes(),
        key.expose_scalar_bytes().expose_secret(),
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(RingKey::pending(key.public_jwk().clone(), sealed, now))
}

/// The Durable Object that owns the ring.
#[durable_object]
pub struct KeyRingObject {
    state: State,
    env: Env,
}

impl KeyRingObject {
    async fn load(&self) -> worker::Result<KeyRing> {
        Ok(self
            .state
            .storage()
            .get::<KeyRing>(RING_KEY)
            .await?
            .unwrap_or_default())
    }

    async fn step(&self, ring: &mut KeyRing) -> Result<RotationReport, ApiError> {
        let cfg = Config::from_env(&self.env)?;
        let kek = key_encryption_key(&self.env)?;
        let now = now();
        let bootstrap = if ring.keys.is_empty() {
            crate::config::secret(&self.env, "BOOTSTRAP_SIGNING_KEY").ok()
        } else {
            None
        };
        let report = ring.rotate(now, &cfg.policy, || {
            new_ring_key(&kek, bootstrap.as_ref(), now)
        })?;
        self.state.storage().put(RING_KEY, &*ring).await?;
        for change in &report.changes {
            log::info("ring_changed", &[("change", json!(change.to_string()))]);
        }
        Ok(report)
    }

    async fn handle(&self, req: Request) -> Result<Response, ApiError> {
        let mut ring = self.load().await?;
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/ring") => {
                if ring.active().is_none() {
                    // First use anywhere: create the first key so the edge can sign at once.
                    self.step(&mut ring).await?;
                }
                Ok(Response::from_json(&ring)?)
            }
            (Method::Post, "/rotate") => {
                let report = self.step(&mut ring).await?;
                Ok(Response::from_json(&ring.status(Some(&report)))?)
            }
            _ => Err(ApiError::new(
                404,
                Code::NotFound,
                "no such key ring operation",
            )),
        }
    }
}

impl DurableObject for KeyRingObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        match self.handle(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => e.into_response(),
        }
    }
}
