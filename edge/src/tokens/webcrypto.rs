//! WebCrypto at the edge: ES256 for tokens is the shared `tessera-webcrypto` crate (the npm SDK uses the
//! same); passkey signatures (ES256, Ed25519, RS256) are verified here on top of it.

use js_sys::{Object, Uint8Array};
use tessera_jose::{CryptoError, PublicJwk, Verifier as _};
use tessera_webcrypto::{object, subtle, verify_usage, verify_with_import};
pub use tessera_webcrypto::{WebCryptoSigner, WebCryptoVerifier};

/// Passkey signatures through WebCrypto: ES256 through [`WebCryptoVerifier`] (the token path, after the
/// core turned the DER signature into `r || s`), Ed25519 through `crypto.subtle`'s `Ed25519`, RS256 through
/// `RSASSA-PKCS1-v1_5`. Credential
/// keys are imported per use, not cached: there is one per passkey, and a sign-in verifies one signature.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebCryptoPasskeyVerifier;

impl tessera_authn::webauthn::SignatureVerifier for WebCryptoPasskeyVerifier {
    async fn verify(
        &self,
        key: &tessera_authn::webauthn::CredentialPublicKey,
        message: &[u8],
        signature: &tessera_authn::webauthn::Signature,
    ) -> Result<bool, CryptoError> {
        use tessera_authn::webauthn::{CredentialPublicKey, Signature};
        match (key, signature) {
            (CredentialPublicKey::Es256 { x, y }, Signature::Es256(sig)) => {
                let Ok(jwk) = PublicJwk::from_coordinates(x, y) else {
                    return Ok(false);
                };
                WebCryptoVerifier.verify(&jwk, message, sig).await
            }
            (CredentialPublicKey::Ed25519 { x }, Signature::Ed25519(sig)) => {
                let alg: Object = object(&[("name", &"Ed25519".into())])?;
                let raw = Uint8Array::from(&x[..]);
                verify_with_import(
                    subtle()?.import_key_with_object("raw", &raw, &alg, false, &verify_usage()),
                    &alg,
                    sig,
                    message,
                )
                .await
            }
            (CredentialPublicKey::Rs256 { n, e }, Signature::Rs256(sig)) => {
                let jwk = object(&[
                    ("kty", &"RSA".into()),
                    ("n", &tessera_jose::b64::encode(n).into()),
                    ("e", &tessera_jose::b64::encode(e).into()),
                    ("alg", &"RS256".into()),
                ])?;
                let alg = object(&[
                    ("name", &"RSASSA-PKCS1-v1_5".into()),
                    ("hash", &"SHA-256".into()),
                ])?;
                verify_with_import(
                    subtle()?.import_key_with_object("jwk", &jwk, &alg, false, &verify_usage()),
                    &alg,
                    sig,
                    message,
                )
                .await
            }
            _ => Ok(false),
        }
    }
}
