//! Tessera edge: the Cloudflare Worker that issues and verifies ES256 access tokens and answers permission
//! checks near the user.
//!
//! A thin shell: routing, bindings (KV, a Durable Object, secrets) and the WebCrypto back-end. Token
//! rules live in `tessera-jose`, client secrets in `tessera-authn`, wire types in `tessera-proto`.
//!
//! Routes:
//! - `GET  /.well-known/jwks.json`, `GET /.well-known/openid-configuration` (and `oauth-authorization-server`)
//! - `POST /oauth2/token` (client credentials), `POST /oauth2/introspect` (RFC 7662)
//! - `POST /v1/tokens/verify` (claims, or a precise error code)
//! - `POST /v1/check`, `POST /v1/check/bulk` (permission checks from the decision cache or the origin,
//!   honouring consistency; see `decisions`)
//! - `GET  /admin/keys`, `POST /admin/keys/rotate` (bearer `ADMIN_TOKEN`)
//! - `GET  /login` (the sign-in page), `POST /v1/passkeys/{register,login}/{options,verify}`,
//!   `POST /v1/totp/{enroll,confirm,verify}`, `POST /v1/recovery/{sign-in,codes}`, `GET /v1/account`,
//!   `POST /v1/sessions/{logout,logout-all}`; refresh tokens at
//!   `/oauth2/token` (`grant_type=refresh_token`)
//! - `GET  /healthz`
//!
//! Audit events (`audit`) are batched per isolate into the `AUDIT_QUEUE` Queue, whose consumer (the
//! `queue` handler) delivers them to the origin.
//!
//! With the `bench` feature (never in the production build: `scripts/bench` builds it into
//! `edge/build-bench`), `/__bench/*` routes time the edge's operations from inside workerd (see `bench`).
//!
//! Logs are JSON lines (`log`); request bodies and the `Authorization` header are read through `http`.

// Untrusted text is parsed (`split_once`, `strip_prefix`, `get`), never sliced by byte position.
#![deny(clippy::string_slice)]

mod audit;
#[cfg(feature = "bench")]
mod bench;
mod checks;
mod config;
mod error;
mod http;
mod log;
mod oidc;
mod origin;
mod people;
mod routes;
mod tokens;

pub use checks::heads::TenantHeadObject;
pub use people::ceremonies::CeremonyObject;
pub use tokens::keyring::KeyRingObject;

use worker::{event, Context, Env, Request, Response};

use crate::error::ApiError;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    origin::client::note_location(&req);
    match routes::dispatch(req, &env, &ctx).await {
        Ok(resp) => Ok(resp),
        Err(e) => e.into_response(),
    }
}

/// The audit queue's consumer (`[[queues.consumers]]` in wrangler.toml): batches to the origin.
#[event(queue)]
async fn queue(
    batch: worker::MessageBatch<serde_json::Value>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    audit::consume(batch, env).await
}

/// The clock: the one place the edge reads the time of day (in a Worker, time advances only across I/O).
pub(crate) fn now() -> tessera_proto::UnixTime {
    tessera_proto::UnixTime::from_js_millis(js_sys::Date::now())
}

/// Randomness from `crypto.getRandomValues` (via getrandom's `js` back-end).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
    Ok(buf)
}
