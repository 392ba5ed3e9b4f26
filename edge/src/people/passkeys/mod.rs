//! Passkey ceremonies at the edge: sign-up and another device (`registration`), sign-in (`sign_in`:
//! username-first and discoverable).
//!
//! `…/options` draws a challenge, remembers the ceremony in its Durable Object ([`crate::people::ceremonies`]) and
//! answers WebAuthn options; `…/verify` takes the challenge back out of the browser's `clientDataJSON`
//! (single use), verifies with `tessera-authn` over WebCrypto, stores the result at the origin and opens a
//! session. Every refusal gets a stable code for the log and one plain sentence for the person; sign-in
//! failures all look the same from outside. This file holds what the ceremonies share: reading bodies and
//! browser responses, and the words of a refusal.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tessera_authn::webauthn::{RelyingParty, UserVerification, WebAuthnError};
use tessera_proto::passkeys::{AuthenticationCredential, RegistrationCredential};
use tessera_proto::Code;
use worker::Request;

use crate::config::Config;
use crate::error::ApiError;

mod registration;
mod sign_in;

pub use registration::{register_options, register_verify};
pub use sign_in::{login_options, login_verify};

pub(super) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn unb64(text: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| {
            ApiError::new(
                400,
                Code::InvalidRequest,
                format!("`{what}` is not base64url"),
            )
        })
}

pub(super) async fn read<T: serde::de::DeserializeOwned>(
    req: &mut Request,
    shape: &str,
) -> Result<T, ApiError> {
    let body = crate::http::read_body(req, crate::http::MAX_BODY).await?;
    if body.is_empty() {
        return serde_json::from_slice(b"{}").map_err(|e| {
            ApiError::new(
                400,
                Code::InvalidRequest,
                format!("body must be {shape}: {e}"),
            )
        });
    }
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            format!("body must be {shape}: {e}"),
        )
    })
}

/// What a browser answers a ceremony with (`PublicKeyCredential.toJSON()`).
pub(super) trait BrowserCredential: DeserializeOwned {
    /// `response.clientDataJSON`, base64url.
    fn client_data_json(&self) -> &str;
}

impl BrowserCredential for RegistrationCredential {
    fn client_data_json(&self) -> &str {
        &self.response.client_data_json
    }
}

impl BrowserCredential for AuthenticationCredential {
    fn client_data_json(&self) -> &str {
        &self.response.client_data_json
    }
}

/// The body of a `…/verify`, `{credential}`, with the relying party and the credential's clientDataJSON
/// decoded.
pub(super) async fn read_credential<'c, C: BrowserCredential>(
    req: &mut Request,
    cfg: &'c Config,
) -> Result<(&'c RelyingParty, C, Vec<u8>), ApiError> {
    #[derive(Deserialize)]
    struct Body<C> {
        credential: C,
    }
    let rp = cfg.login.relying_party()?;
    let body: Body<C> = read(req, r#"{"credential": PublicKeyCredential.toJSON()}"#).await?;
    let client_data = unb64(body.credential.client_data_json(), "clientDataJSON")?;
    Ok((rp, body.credential, client_data))
}

/// A refused ceremony: the stable code in the log, a sentence for the person.
pub(super) fn refused(e: &WebAuthnError, sign_in: bool) -> ApiError {
    let message = if sign_in {
        // The same words for every reason: the page cannot tell an attacker which check failed.
        "that passkey could not be used to sign in; try again or use another passkey"
    } else {
        match e {
            WebAuthnError::UserNotVerified => {
                "this site needs your device to verify it is you (PIN, fingerprint or face); try again and confirm on your device"
            }
            WebAuthnError::AlgorithmNotAllowed(_) | WebAuthnError::AttestationUnsupported(_) => {
                "this kind of security key is not supported here; try another device"
            }
            WebAuthnError::OriginNotAllowed(_) | WebAuthnError::RpIdMismatch => {
                "this passkey was made for a different website"
            }
            WebAuthnError::ChallengeMismatch => "the sign-up took too long or was already used; start again",
            _ => "your device's answer could not be verified; start again",
        }
    };
    ApiError {
        internal_message: Some(format!(
            "passkey {} refused ({}): {e}",
            if sign_in { "sign-in" } else { "registration" },
            e.code()
        )),
        ..ApiError::new(
            400,
            if sign_in {
                Code::PasskeyRefused
            } else {
                e.code()
            },
            message,
        )
    }
}

pub(super) fn user_verification(cfg: &Config) -> &'static str {
    cfg.login
        .rp
        .as_ref()
        .map_or(UserVerification::Preferred, |rp| rp.user_verification)
        .as_str()
}

#[derive(Deserialize)]
struct ChallengeOnly {
    challenge: String,
}

/// The challenge a browser response answers (to find its ceremony); the full check comes after.
pub(super) fn challenge_of(client_data_json: &[u8]) -> Result<String, ApiError> {
    serde_json::from_slice::<ChallengeOnly>(client_data_json)
        .map(|c| c.challenge)
        .map_err(|_| {
            ApiError::new(
                400,
                Code::ClientDataMalformed,
                "clientDataJSON is not what a browser sends",
            )
        })
}
