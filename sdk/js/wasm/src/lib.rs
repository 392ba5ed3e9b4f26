//! The npm SDK's core, built with wasm-pack: the edge's verifier (`tessera-jose`'s parse and claim rules,
//! signatures through `crypto.subtle` as the edge checks them, `tessera-webcrypto`), so a token gets the
//! same answer and the same code here as at the edge's `/v1/tokens/verify`. The TypeScript layer
//! (sdk/js/src) fetches discovery and the JWKS, caches them and calls this.
//!
//! Exports: `KeySet` (a parsed JWKS), `tokenKid(token)`, and `KeySet.verifyAccessToken` /
//! `KeySet.verifyIdToken`, which answer `{valid: true, kid, claims}` or `{valid: false, error, message}`.

use std::rc::Rc;

use serde_json::{json, Value};
use tessera_jose::{Jwks, KeyLookup as _, UntrustedToken, VerifyError, VerifyOptions};
use tessera_webcrypto::WebCryptoVerifier;
use wasm_bindgen::prelude::*;

/// A JWK Set, parsed once (only its usable ES256 keys; one carrying private material is refused).
#[wasm_bindgen]
pub struct KeySet {
    jwks: Rc<Jwks>,
}

/// The `kid` in a token's header, if it parses as a token at all (for the cache: is this key known?).
#[wasm_bindgen(js_name = tokenKid)]
#[must_use]
pub fn token_kid(token: &str) -> Option<String> {
    UntrustedToken::parse(token)
        .or_else(|_| UntrustedToken::parse_id_token(token))
        .ok()
        .map(|t| t.header().kid.clone())
}

fn refusal(e: &VerifyError) -> Value {
    json!({ "valid": false, "error": e.code().as_str(), "message": e.to_string() })
}

async fn verify(
    jwks: Rc<Jwks>,
    token: String,
    id_token: bool,
    issuer: String,
    audience: String,
    now_secs: f64,
    leeway: i32,
) -> Value {
    let parsed = if id_token {
        UntrustedToken::parse_id_token(&token)
    } else {
        UntrustedToken::parse(&token)
    };
    let untrusted = match parsed {
        Ok(t) => t,
        Err(e) => return refusal(&e.into()),
    };
    let checked = match untrusted.check_signature(&*jwks, &WebCryptoVerifier).await {
        Ok(c) => c,
        Err(tessera_jose::ValidationError::Backend(e)) => {
            return json!({ "valid": false, "error": "verifier_unavailable", "message": e.to_string() })
        }
        Err(e) => return refusal(&e.into()),
    };
    #[allow(
        clippy::cast_possible_truncation,
        reason = "whole seconds of a JS time"
    )]
    let now = tessera_proto::UnixTime::from_secs(now_secs.floor() as i64);
    let opts = VerifyOptions {
        issuer: &issuer,
        audience: Some(&audience),
        leeway: i64::from(leeway.clamp(0, 300)),
    };
    match checked.validate(&opts, now) {
        Ok(v) => json!({ "valid": true, "kid": v.kid(), "claims": v.claims() }),
        Err(e) => refusal(&e.into()),
    }
}

/// A promise of the answer, handed to JS through JSON (no serialisation crate in the package).
fn promise(answer: impl std::future::Future<Output = Value> + 'static) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        js_sys::JSON::parse(&answer.await.to_string())
    })
}

#[wasm_bindgen]
impl KeySet {
    /// Parse a JWKS document (`{"keys": [...]}`).
    ///
    /// # Errors
    /// A document that is not a JWK Set, or a key with private material.
    #[wasm_bindgen(constructor)]
    pub fn new(jwks_json: &str) -> Result<KeySet, JsError> {
        Jwks::from_json(jwks_json)
            .map(|jwks| KeySet {
                jwks: Rc::new(jwks),
            })
            .map_err(|e| JsError::new(&format!("{}: {e}", e.code())))
    }

    /// Whether the set holds key `kid`.
    #[must_use]
    pub fn has(&self, kid: &str) -> bool {
        self.jwks.key(kid).is_some()
    }

    /// The key ids, in the set's order.
    #[must_use]
    pub fn kids(&self) -> Vec<String> {
        self.jwks.keys.iter().map(|k| k.kid().to_owned()).collect()
    }

    /// Verify an access token (RFC 9068, `typ` `at+jwt`) for `audience` at `now_secs`.
    #[wasm_bindgen(js_name = verifyAccessToken)]
    pub fn verify_access_token(
        &self,
        token: String,
        issuer: String,
        audience: String,
        now_secs: f64,
        leeway: i32,
    ) -> js_sys::Promise {
        promise(verify(
            Rc::clone(&self.jwks),
            token,
            false,
            issuer,
            audience,
            now_secs,
            leeway,
        ))
    }

    /// Verify an ID token (`typ` `JWT` or none) issued to `client_id`.
    #[wasm_bindgen(js_name = verifyIdToken)]
    pub fn verify_id_token(
        &self,
        token: String,
        issuer: String,
        client_id: String,
        now_secs: f64,
        leeway: i32,
    ) -> js_sys::Promise {
        promise(verify(
            Rc::clone(&self.jwks),
            token,
            true,
            issuer,
            client_id,
            now_secs,
            leeway,
        ))
    }
}
