//! ES256 back-ends: the [`Signer`] and [`Verifier`] traits, and their pure-Rust p256 implementation.
//!
//! The traits are `async` and carry no `Send` bound on purpose: the edge implements them over WebCrypto,
//! whose promises are not `Send`. The p256 implementations complete without ever yielding.

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;

use crate::jwk::{JwkError, PublicJwk};
use crate::secret::Secret;

/// A back-end failed (not the token's fault): the WebCrypto import failed, a promise rejected, ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoError(pub String);

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "crypto back-end failed: {}", self.0)
    }
}

impl std::error::Error for CryptoError {}

/// Produces ES256 signatures (`R || S`, RFC 7518 §3.4) with one key.
#[allow(
    async_fn_in_trait,
    reason = "implemented over WebCrypto whose futures are not Send"
)]
pub trait Signer {
    /// The `kid` of the key this signer uses.
    fn kid(&self) -> &str;
    /// Sign `signing_input` (the ASCII `header.payload`).
    async fn sign(&self, signing_input: &[u8]) -> Result<[u8; 64], CryptoError>;
}

/// Checks ES256 signatures against a public key.
#[allow(
    async_fn_in_trait,
    reason = "implemented over WebCrypto whose futures are not Send"
)]
pub trait Verifier {
    /// `Ok(true)` for a valid signature, `Ok(false)` for an invalid one, `Err` when the back-end failed.
    async fn verify(
        &self,
        key: &PublicJwk,
        signing_input: &[u8],
        signature: &[u8; 64],
    ) -> Result<bool, CryptoError>;
}

/// A P-256 private key. No `Debug`, no `Serialize`; the scalar is zeroized on drop (by `p256`).
pub struct SigningKey {
    secret: p256::SecretKey,
    public: PublicJwk,
}

impl SigningKey {
    /// From 32 random bytes. Fails (with negligible probability for random input) when the bytes are zero
    /// or not below the group order: draw new bytes and try again.
    ///
    /// # Errors
    /// [`JwkError::InvalidPoint`] when the scalar is out of range.
    pub fn from_scalar_bytes(bytes: &Secret<[u8; 32]>) -> Result<Self, JwkError> {
        let secret = p256::SecretKey::from_bytes(bytes.expose_secret().into())
            .map_err(|_| JwkError::InvalidPoint)?;
        let point = secret.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(JwkError::InvalidPoint);
        };
        let public = PublicJwk::from_coordinates(&(*x).into(), &(*y).into())?;
        Ok(Self { secret, public })
    }

    #[must_use]
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// The private scalar, big-endian. For export to another back-end (WebCrypto `d`) and for sealing.
    #[must_use]
    pub fn expose_scalar_bytes(&self) -> Secret<[u8; 32]> {
        Secret::new(self.secret.to_bytes().into())
    }
}

/// Pure-Rust ES256 signer (deterministic RFC 6979 nonces: no RNG needed).
pub struct P256Signer {
    key: p256::ecdsa::SigningKey,
    kid: String,
}

impl P256Signer {
    #[must_use]
    pub fn new(key: &SigningKey) -> Self {
        Self {
            key: p256::ecdsa::SigningKey::from(&key.secret),
            kid: key.public.kid().to_owned(),
        }
    }
}

impl Signer for P256Signer {
    fn kid(&self) -> &str {
        &self.kid
    }

    async fn sign(&self, signing_input: &[u8]) -> Result<[u8; 64], CryptoError> {
        let sig: p256::ecdsa::Signature = self.key.sign(signing_input);
        Ok(sig.to_bytes().into())
    }
}

/// Pure-Rust ES256 verifier.
#[derive(Clone, Copy, Debug, Default)]
pub struct P256Verifier;

impl P256Verifier {
    /// Synchronous form of [`Verifier::verify`].
    ///
    /// # Errors
    /// When the key is not a valid P-256 point (cannot happen for a [`PublicJwk`]).
    pub fn verify_sync(
        key: &PublicJwk,
        signing_input: &[u8],
        signature: &[u8; 64],
    ) -> Result<bool, CryptoError> {
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.sec1_uncompressed())
            .map_err(|e| CryptoError(format!("bad public key: {e}")))?;
        // `from_slice` refuses r = 0 or s = 0 (CVE-2022-21449) and values not below the group order.
        let Ok(sig) = p256::ecdsa::Signature::from_slice(signature) else {
            return Ok(false);
        };
        Ok(vk.verify(signing_input, &sig).is_ok())
    }
}

impl Verifier for P256Verifier {
    async fn verify(
        &self,
        key: &PublicJwk,
        signing_input: &[u8],
        signature: &[u8; 64],
    ) -> Result<bool, CryptoError> {
        Self::verify_sync(key, signing_input, signature)
    }
}
