//! Token verification at the edge, shared by `POST /v1/tokens/verify` and `POST /oauth2/introspect`.
//!
//! A token whose signature verified is remembered per isolate (keyed by the whole token string) until it
//! expires: a repeat verification re-checks only that its key is still published and its claims, which
//! costs a hash-map lookup instead of an ECDSA verification.

use std::cell::RefCell;
use std::collections::HashMap;
use tessera_proto::Code;

use tessera_jose::{
    KeyLookup as _, SignatureChecked, UntrustedToken, ValidationError, VerifiedToken, VerifyError,
    VerifyOptions,
};
use tessera_proto::UnixTime;
use worker::Env;

use crate::config::Config;
use crate::error::ApiError;
use crate::tokens::keyring;
use crate::tokens::webcrypto::WebCryptoVerifier;

const MAX_MEMO: usize = 10_000;

/// A token whose signature verified (only the verifier makes a [`SignatureChecked`]), with its `exp`.
struct Memo {
    checked: SignatureChecked,
    exp: i64,
}

thread_local! {
    static MEMO: RefCell<HashMap<String, Memo>> = RefCell::new(HashMap::new());
}

/// Outcome of a verification: a token, a refusal with a stable code, or an edge failure.
pub enum Outcome {
    Valid(VerifiedToken),
    Invalid(VerifyError),
}

/// Verify `token` for `audience` (`None`: any audience) at `now` (Unix seconds).
///
/// # Errors
/// Only edge failures (no key ring, WebCrypto down); a bad token is `Ok(Outcome::Invalid)`.
pub async fn verify(
    env: &Env,
    cfg: &Config,
    token: &str,
    audience: Option<&str>,
    now: UnixTime,
) -> Result<Outcome, ApiError> {
    let opts = VerifyOptions {
        issuer: &cfg.issuer,
        audience,
        leeway: cfg.policy.leeway,
    };
    let ring = keyring::current(env, cfg).await?;
    // A memoised token: its signature was checked before; re-check that its key is still published and
    // its claims against this request, without copying anything but the answer.
    let remembered = MEMO.with(|m| {
        m.borrow().get(token).map(|memo| {
            ring.key(memo.checked.kid())
                .is_some()
                .then(|| memo.checked.validate(&opts, now))
        })
    });
    match remembered {
        Some(Some(Ok(v))) => return Ok(Outcome::Valid(v)),
        Some(Some(Err(e))) => return Ok(Outcome::Invalid(e.into())),
        Some(None) => {
            MEMO.with(|m| m.borrow_mut().remove(token));
        }
        None => {}
    }
    let untrusted = match UntrustedToken::parse(token) {
        Ok(t) => t,
        Err(e) => return Ok(Outcome::Invalid(e.into())),
    };
    let kid = untrusted.header().kid.clone();
    let ring = if ring.key(&kid).is_none() {
        keyring::refresh_for_unknown_kid(env, &kid)
            .await?
            .unwrap_or(ring)
    } else {
        ring
    };
    let checked = match untrusted.check_signature(&*ring, &WebCryptoVerifier).await {
        Ok(c) => c,
        Err(ValidationError::Backend(e)) => {
            return Err(ApiError::unavailable(
                Code::VerifierUnavailable,
                "token verification is unavailable",
                e.to_string(),
            ))
        }
        Err(e) => return Ok(Outcome::Invalid(e.into())),
    };
    match checked.validate(&opts, now) {
        Ok(v) => {
            let exp = v.exp();
            remember(token, checked, exp, now);
            Ok(Outcome::Valid(v))
        }
        Err(e) => Ok(Outcome::Invalid(e.into())),
    }
}

fn remember(token: &str, checked: SignatureChecked, exp: i64, now: UnixTime) {
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_MEMO {
            m.retain(|_, memo| memo.exp > now.as_secs());
            if m.len() >= MAX_MEMO {
                m.clear();
            }
        }
        m.insert(token.to_owned(), Memo { checked, exp });
    });
}

/// An ID token this edge issued, signature and issuer checked, its time not (an `id_token_hint` names
/// who signed in even after it expired); `None` for anything else.
///
/// # Errors
/// Only edge failures (no key ring, WebCrypto down).
pub async fn id_token_hint(
    env: &Env,
    cfg: &Config,
    token: &str,
) -> Result<Option<VerifiedToken>, ApiError> {
    let Ok(untrusted) = UntrustedToken::parse_id_token(token) else {
        return Ok(None);
    };
    let ring = keyring::current(env, cfg).await?;
    match untrusted.check_signature(&*ring, &WebCryptoVerifier).await {
        Ok(checked) => Ok(checked
            .validate_ignoring_time(&VerifyOptions {
                issuer: &cfg.issuer,
                audience: None,
                leeway: cfg.policy.leeway,
            })
            .ok()),
        Err(ValidationError::Backend(e)) => Err(ApiError::unavailable(
            Code::VerifierUnavailable,
            "token verification is unavailable",
            e.to_string(),
        )),
        Err(_) => Ok(None),
    }
}
