//! ES256 through WebCrypto (`crypto.subtle`: BoringSSL inside workerd, the platform's crypto in Node and
//! browsers): the edge's [`Signer`] and [`Verifier`], and the npm SDK's verifier, so that both decide
//! alike. Keys are imported once per isolate (or page) and kept, keyed by `kid`.
//!
//! `crypto` is read from the global object by name, which every one of those runtimes has.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Object, Reflect, Uint8Array};
use tessera_jose::{CryptoError, PublicJwk, Secret, Signer, Verifier};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

thread_local! {
    static PUBLIC_KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
    static PRIVATE_KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
    /// `crypto.subtle` and `{name: "ECDSA", hash: "SHA-256"}`, looked up and built once per isolate: every
    /// JS call saved here is saved on every token.
    static SUBTLE: RefCell<Option<(SubtleCrypto, Object)>> = const { RefCell::new(None) };
}

/// `crypto.subtle`.
///
/// # Errors
/// When the runtime has none.
pub fn subtle() -> Result<SubtleCrypto, CryptoError> {
    with_subtle(|s, _| Ok(s.clone()))
}

/// Run `f` with the isolate's `crypto.subtle` and ECDSA/SHA-256 parameters.
fn with_subtle<T>(
    f: impl FnOnce(&SubtleCrypto, &Object) -> Result<T, CryptoError>,
) -> Result<T, CryptoError> {
    SUBTLE.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
            let subtle = scope.crypto().map_err(js_err)?.subtle();
            *cell = Some((subtle, ecdsa_params()?));
        }
        match cell.as_ref() {
            Some((subtle, params)) => f(subtle, params),
            None => Err(CryptoError("crypto.subtle is unavailable".to_owned())),
        }
    })
}

/// A JS exception as a [`CryptoError`].
#[must_use]
pub fn js_err(e: JsValue) -> CryptoError {
    CryptoError(e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

/// A plain JS object of `pairs`.
///
/// # Errors
/// When a property cannot be set.
pub fn object(pairs: &[(&str, &JsValue)]) -> Result<Object, CryptoError> {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).map_err(js_err)?;
    }
    Ok(o)
}

fn ecdsa_params() -> Result<Object, CryptoError> {
    object(&[("name", &"ECDSA".into()), ("hash", &"SHA-256".into())])
}

async fn import_jwk(jwk: Object, usage: &str) -> Result<CryptoKey, CryptoError> {
    let alg = object(&[("name", &"ECDSA".into()), ("namedCurve", &"P-256".into())])?;
    let usages = Array::of1(&JsValue::from_str(usage));
    let promise = subtle()?
        .import_key_with_object("jwk", &jwk, &alg, false, &usages)
        .map_err(js_err)?;
    Ok(JsFuture::from(promise)
        .await
        .map_err(js_err)?
        .unchecked_into())
}

fn public_jwk_object(key: &PublicJwk) -> Result<Object, CryptoError> {
    object(&[
        ("kty", &"EC".into()),
        ("crv", &"P-256".into()),
        ("x", &key.x().into()),
        ("y", &key.y().into()),
    ])
}

/// The answer of a `crypto.subtle.verify` call.
async fn verdict(promise: Result<js_sys::Promise, JsValue>) -> Result<bool, CryptoError> {
    Ok(JsFuture::from(promise.map_err(js_err)?)
        .await
        .map_err(js_err)?
        .as_bool()
        .unwrap_or(false))
}

/// `["verify"]`, the key usages of an imported public key.
#[must_use]
pub fn verify_usage() -> Array {
    Array::of1(&JsValue::from_str("verify"))
}

/// Import a public key (`import`, a pending `crypto.subtle.importKey`) and check `signature` over
/// `message` with it. A key WebCrypto will not import (not a valid key) verifies nothing: `Ok(false)`.
///
/// # Errors
/// When WebCrypto fails (not when it refuses the key or the signature).
pub async fn verify_with_import(
    import: Result<js_sys::Promise, JsValue>,
    alg: &Object,
    signature: &[u8],
    message: &[u8],
) -> Result<bool, CryptoError> {
    let crypto_key: CryptoKey = match JsFuture::from(import.map_err(js_err)?).await {
        Ok(k) => k.unchecked_into(),
        Err(_) => return Ok(false),
    };
    verdict(subtle()?.verify_with_object_and_u8_array_and_u8_array(
        alg,
        &crypto_key,
        signature,
        message,
    ))
    .await
}

/// Verifies ES256 signatures with `crypto.subtle.verify`.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebCryptoVerifier;

impl Verifier for WebCryptoVerifier {
    async fn verify(
        &self,
        key: &PublicJwk,
        signing_input: &[u8],
        signature: &[u8; 64],
    ) -> Result<bool, CryptoError> {
        let cached = PUBLIC_KEYS.with(|m| m.borrow().get(key.kid()).cloned());
        let crypto_key = match cached {
            Some(k) => k,
            None => {
                let k = import_jwk(public_jwk_object(key)?, "verify").await?;
                PUBLIC_KEYS.with(|m| m.borrow_mut().insert(key.kid().to_owned(), k.clone()));
                k
            }
        };
        verdict(subtle()?.verify_with_object_and_u8_array_and_u8_array(
            &ecdsa_params()?,
            &crypto_key,
            signature,
            signing_input,
        ))
        .await
    }
}

/// Signs with a non-extractable WebCrypto private key, imported once per isolate.
pub struct WebCryptoSigner {
    kid: String,
    key: CryptoKey,
}

impl WebCryptoSigner {
    /// The cached signer for `kid`, if this isolate imported it before.
    #[must_use]
    pub fn cached(kid: &str) -> Option<Self> {
        PRIVATE_KEYS
            .with(|m| m.borrow().get(kid).cloned())
            .map(|key| Self {
                kid: kid.to_owned(),
                key,
            })
    }

    /// Import the private scalar `d` for `public` (the scalar is dropped, zeroized, right after).
    ///
    /// # Errors
    /// When WebCrypto refuses the key.
    pub async fn import(public: &PublicJwk, d: &Secret<[u8; 32]>) -> Result<Self, CryptoError> {
        let jwk = public_jwk_object(public)?;
        let d64 = Secret::new(tessera_jose::b64::encode(d.expose_secret()));
        Reflect::set(&jwk, &"d".into(), &JsValue::from_str(d64.expose_secret())).map_err(js_err)?;
        let key = import_jwk(jwk, "sign").await?;
        PRIVATE_KEYS.with(|m| m.borrow_mut().insert(public.kid().to_owned(), key.clone()));
        Ok(Self {
            kid: public.kid().to_owned(),
            key,
        })
    }
}

impl Signer for WebCryptoSigner {
    fn kid(&self) -> &str {
        &self.kid
    }

    async fn sign(&self, signing_input: &[u8]) -> Result<[u8; 64], CryptoError> {
        let promise = subtle()?
            .sign_with_object_and_u8_array(&ecdsa_params()?, &self.key, signing_input)
            .map_err(js_err)?;
        let buf = JsFuture::from(promise).await.map_err(js_err)?;
        let bytes = Uint8Array::new(&buf).to_vec();
        bytes.try_into().map_err(|v: Vec<u8>| {
            CryptoError(format!("webcrypto returned a {}-byte signature", v.len()))
        })
    }
}
