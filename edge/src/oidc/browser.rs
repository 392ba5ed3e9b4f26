//! The browser's session at this provider: an `HttpOnly`, `SameSite=Lax` cookie the login page's sign-ins
//! set, so that the authorization endpoint knows who is signed in (single sign-on across clients, and
//! `prompt=none`). The cookie holds the session id, sealed (AES-256-GCM under a key derived from
//! `KEY_ENCRYPTION_KEY` for this purpose alone) with its tenant, user and expiry; whether the session is
//! still alive is asked of the origin each time it is used, so signing out anywhere ends it at once.
//!
//! Over `https` the cookie is `__Host-tessera_session` (`Secure`, `Path=/`, no `Domain`: this host only);
//! over plain `http` (a local workerd) it is `tessera_session` without `Secure`.

use serde::{Deserialize, Serialize};
use tessera_jose::seal;
use tessera_proto::accounts::Session;
use worker::{Env, Request, Response};

use crate::config::{key_encryption_key, Config};
use crate::error::ApiError;
use crate::origin::accounts as origin_api;
use crate::{now, random_bytes};

const LABEL: &str = "browser-session";
const AAD: &[u8] = b"tessera/browser-session/v1";
/// The longest cookie value read (a sealed session is about 250 characters).
const MAX_VALUE: usize = 1024;

#[derive(Serialize, Deserialize)]
struct Sealed {
    tenant: String,
    user_id: String,
    sid: String,
    /// Unix seconds.
    exp: i64,
}

fn name(cfg: &Config) -> &'static str {
    if cfg.issuer.starts_with("https://") {
        "__Host-tessera_session"
    } else {
        "tessera_session"
    }
}

fn attributes(cfg: &Config) -> &'static str {
    if cfg.issuer.starts_with("https://") {
        "; Path=/; HttpOnly; SameSite=Lax; Secure"
    } else {
        "; Path=/; HttpOnly; SameSite=Lax"
    }
}

/// `resp` with a `Set-Cookie` that remembers `session` in this browser.
///
/// # Errors
/// A missing key or no randomness.
pub fn remember(
    resp: Response,
    env: &Env,
    cfg: &Config,
    session: &Session,
) -> Result<Response, ApiError> {
    let key = seal::derive(&key_encryption_key(env)?, LABEL);
    let payload = serde_json::to_vec(&Sealed {
        tenant: session.tenant.clone(),
        user_id: session.user_id.clone(),
        sid: session.sid.clone(),
        exp: session.expires_at,
    })
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let value = seal::seal(&key, &random_bytes::<12>()?, AAD, &payload)
        .map_err(|e| ApiError::internal(format!("sealing the session cookie: {e}")))?;
    let max_age = session.expires_at.saturating_sub(now().as_secs()).max(0);
    let cookie = format!(
        "{}={value}{}; Max-Age={max_age}",
        name(cfg),
        attributes(cfg)
    );
    let headers = resp.headers().clone();
    headers.append("set-cookie", &cookie)?;
    Ok(resp.with_headers(headers))
}

/// `resp` with a `Set-Cookie` that forgets the session.
///
/// # Errors
/// Only if the runtime cannot set a header.
pub fn forget(resp: Response, cfg: &Config) -> Result<Response, ApiError> {
    let headers = resp.headers().clone();
    headers.append(
        "set-cookie",
        &format!("{}={}; Max-Age=0", name(cfg), attributes(cfg)),
    )?;
    Ok(resp.with_headers(headers))
}

/// The value of cookie `wanted` in a `Cookie` header (RFC 6265 §5.4: `name=value` pairs split by `;`),
/// parsed, never sliced.
fn cookie_value<'h>(header: &'h str, wanted: &str) -> Option<&'h str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == wanted)
        .map(|(_, v)| v.trim())
}

/// The live session this browser is signed in with, if any: the cookie opens, names this edge's tenant,
/// has not expired, and the origin says the session is active and the login page's (not a client's, not
/// a recovery session, which is never remembered and may only add a passkey).
///
/// # Errors
/// A missing key, or the origin.
pub async fn session(req: &Request, env: &Env, cfg: &Config) -> Result<Option<Session>, ApiError> {
    let header = req.headers().get("cookie")?.unwrap_or_default();
    let Some(value) = cookie_value(&header, name(cfg)).filter(|v| v.len() <= MAX_VALUE) else {
        return Ok(None);
    };
    let key = seal::derive(&key_encryption_key(env)?, LABEL);
    let Ok(plain) = seal::open(&key, AAD, value) else {
        return Ok(None);
    };
    let Ok(sealed) = serde_json::from_slice::<Sealed>(plain.expose_secret()) else {
        return Ok(None);
    };
    if sealed.tenant != cfg.login.tenant || sealed.exp <= now().as_secs() {
        return Ok(None);
    }
    Ok(origin_api::session(env, cfg, &sealed.tenant, &sealed.sid)
        .await?
        .filter(|s| {
            s.active
                && s.user_id == sealed.user_id
                && s.client_id.is_none()
                && s.acr != tessera_proto::accounts::RECOVERY_ACR
        }))
}

#[cfg(test)]
mod tests {
    use super::cookie_value;

    #[test]
    fn cookies_are_parsed() {
        let h = "a=1; tessera_session=abc.def ;b=2";
        assert_eq!(cookie_value(h, "tessera_session"), Some("abc.def"));
        assert_eq!(cookie_value(h, "b"), Some("2"));
        assert_eq!(cookie_value(h, "tessera"), None);
        assert_eq!(cookie_value("", "a"), None);
        assert_eq!(cookie_value("ü=ö; a", "a"), None);
        assert_eq!(cookie_value("ü=ö;a=é", "a"), Some("é"));
    }
}
