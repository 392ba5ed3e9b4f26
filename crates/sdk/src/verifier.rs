//! [`Verifier`]: the issuer's discovery document and keys, and the edge's token profile.

use std::sync::Arc;

use futures_util::FutureExt as _;
use serde::Deserialize;
use tessera_jose::{
    CryptoError, PublicJwk, UntrustedToken, ValidationError, VerifiedToken, VerifyError,
    VerifyOptions,
};

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::keys::{KeyCache, KeyStats};
use crate::transport::{HttpRequest, Transport};

/// Clock skew tolerated on `exp`, `nbf` and `iat` unless set: the edge's default.
const DEFAULT_LEEWAY_SECS: i64 = 30;
const DEFAULT_COOLDOWN_SECS: u32 = 30;

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// ES256 through ring (P-256 with SHA-256, `r || s`): the signature back-end of the native SDK.
#[derive(Clone, Copy, Debug)]
struct RingVerifier;

impl tessera_jose::Verifier for RingVerifier {
    async fn verify(
        &self,
        key: &PublicJwk,
        signing_input: &[u8],
        signature: &[u8; 64],
    ) -> Result<bool, CryptoError> {
        let public = key.sec1_uncompressed();
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            public.as_slice(),
        );
        Ok(key.verify(signing_input, signature).is_ok())
    }
}

/// How to build a [`Verifier`].
pub struct VerifierBuilder {
    issuer: String,
    transport: Option<Arc<dyn Transport>>,
    clock: Arc<dyn Clock>,
    leeway: i64,
    cooldown: u32,
}

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuer", &self.issuer)
            .field("leeway", &self.leeway)
            .field("cooldown", &self.cooldown)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// The HTTP transport (default: [`crate::transport::ReqwestTransport`]).
    #[must_use]
    pub fn transport(mut self, t: Arc<dyn Transport>) -> Self {
        self.transport = Some(t);
        self
    }

    /// The clock (default: the system's).
    #[must_use]
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }

    /// Clock skew tolerated, seconds (default 30, as the edge; at most 300).
    #[must_use]
    pub fn leeway(mut self, secs: i64) -> Self {
        self.leeway = secs.clamp(0, 300);
        self
    }

    /// The least time between two JWKS fetches caused by unknown `kid`s, seconds (default 30, at least 1).
    #[must_use]
    pub fn cooldown(mut self, secs: u32) -> Self {
        self.cooldown = secs.max(1);
        self
    }

    /// Read the discovery document (its `issuer` must be exactly this one) and the JWKS.
    ///
    /// # Errors
    /// [`Error::Issuer`], [`Error::Transport`].
    pub async fn build(self) -> Result<Verifier, Error> {
        let transport = match self.transport {
            Some(t) => t,
            #[cfg(feature = "reqwest")]
            None => Arc::new(crate::transport::ReqwestTransport::new().map_err(Error::Transport)?),
            #[cfg(not(feature = "reqwest"))]
            None => {
                return Err(Error::Transport(
                    "no transport: enable the `reqwest` feature or give one".into(),
                ))
            }
        };
        let issuer = self.issuer.trim_end_matches('/').to_owned();
        let url = format!("{issuer}/.well-known/openid-configuration");
        let resp = transport
            .send(HttpRequest::get(&url))
            .await
            .map_err(Error::Transport)?;
        if resp.status != 200 {
            return Err(Error::Issuer(format!("{url} answered {}", resp.status)));
        }
        let doc: Discovery = serde_json::from_slice(&resp.body)
            .map_err(|e| Error::Issuer(format!("discovery document: {e}")))?;
        // OIDC Discovery §4.3: the issuer in the document is the one asked for, exactly.
        if doc.issuer != issuer {
            return Err(Error::Issuer(format!(
                "the discovery document names issuer `{}`, not `{issuer}`",
                doc.issuer
            )));
        }
        let keys = KeyCache::load(
            doc.jwks_uri,
            transport,
            Arc::clone(&self.clock),
            self.cooldown,
        )
        .await?;
        Ok(Verifier {
            issuer,
            keys,
            clock: self.clock,
            leeway: self.leeway,
        })
    }
}

/// Verifies an issuer's tokens offline, with the edge's rules and codes.
#[derive(Debug)]
pub struct Verifier {
    issuer: String,
    keys: KeyCache,
    clock: Arc<dyn Clock>,
    leeway: i64,
}

impl Verifier {
    /// A builder for `issuer` (the edge's `ISSUER`, e.g. `https://auth.example.com`).
    #[must_use]
    pub fn builder(issuer: &str) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.to_owned(),
            transport: None,
            clock: Arc::new(SystemClock),
            leeway: DEFAULT_LEEWAY_SECS,
            cooldown: DEFAULT_COOLDOWN_SECS,
        }
    }

    /// Read `issuer`'s discovery document and keys, with the defaults.
    ///
    /// # Errors
    /// See [`VerifierBuilder::build`].
    pub async fn from_issuer(issuer: &str) -> Result<Self, Error> {
        Self::builder(issuer).build().await
    }

    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// What the key cache has done.
    #[must_use]
    pub fn key_stats(&self) -> KeyStats {
        self.keys.stats()
    }

    /// Verify an RFC 9068 access token meant for `audience`.
    ///
    /// # Errors
    /// [`Error::Token`] with the edge's code (`token_expired`, `wrong_audience`, `unknown_kid`, ...).
    pub async fn verify_access_token(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<VerifiedToken, Error> {
        let untrusted = UntrustedToken::parse(token).map_err(VerifyError::from)?;
        self.check(untrusted, Some(audience)).await
    }

    /// Verify an OpenID Connect ID token issued to `client_id`; with `nonce`, its `nonce` must be that.
    ///
    /// # Errors
    /// [`Error::Token`]: the edge's codes; a missing or different nonce is `invalid_claim`.
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: &str,
        nonce: Option<&str>,
    ) -> Result<VerifiedToken, Error> {
        let untrusted = UntrustedToken::parse_id_token(token).map_err(VerifyError::from)?;
        let verified = self.check(untrusted, Some(client_id)).await?;
        if let Some(expected) = nonce {
            if verified.claim_str("nonce") != Some(expected) {
                return Err(VerifyError::from(ValidationError::InvalidClaim("nonce")).into());
            }
        }
        Ok(verified)
    }

    async fn check(
        &self,
        untrusted: UntrustedToken<'_>,
        audience: Option<&str>,
    ) -> Result<VerifiedToken, Error> {
        let keys = self.keys.keys_for(&untrusted.header().kid).await;
        // ring's check completes without waiting, so it is polled once here (and the future the caller
        // holds stays `Send`).
        let checked = untrusted
            .check_signature(&*keys, &RingVerifier)
            .now_or_never()
            .ok_or_else(|| Error::Issuer("the signature check did not complete".into()))?
            .map_err(VerifyError::from)?;
        let opts = VerifyOptions {
            issuer: &self.issuer,
            audience,
            leeway: self.leeway,
        };
        Ok(checked
            .validate(&opts, self.clock.now())
            .map_err(VerifyError::from)?)
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;
    use tessera_jose::{P256Signer, P256Verifier, Secret, Signer as _, SigningKey, Verifier as _};

    use super::RingVerifier;

    /// ring and the cores' pure-Rust p256 give the same verdict: on good signatures, changed messages,
    /// changed signatures, the high-S twin, zero r or s, and another key.
    #[test]
    fn ring_and_p256_agree() {
        const N: [u8; 32] = [
            0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2,
            0xFC, 0x63, 0x25, 0x51,
        ];
        let verdict = |key: &tessera_jose::PublicJwk, msg: &[u8], sig: &[u8; 64]| {
            let a = RingVerifier
                .verify(key, msg, sig)
                .now_or_never()
                .unwrap()
                .unwrap();
            let b = P256Verifier
                .verify(key, msg, sig)
                .now_or_never()
                .unwrap()
                .unwrap();
            assert_eq!(a, b, "ring {a}, p256 {b}");
            a
        };
        for n in 1..=20u8 {
            let key = SigningKey::from_scalar_bytes(&Secret::new([n; 32])).unwrap();
            let other =
                SigningKey::from_scalar_bytes(&Secret::new([n.wrapping_add(100); 32])).unwrap();
            let msg = format!("message {n}");
            let sig = P256Signer::new(&key)
                .sign(msg.as_bytes())
                .now_or_never()
                .unwrap()
                .unwrap();
            assert!(verdict(key.public_jwk(), msg.as_bytes(), &sig));
            assert!(!verdict(key.public_jwk(), b"another message", &sig));
            assert!(!verdict(other.public_jwk(), msg.as_bytes(), &sig));
            let mut flipped = sig;
            flipped[n as usize] ^= 1;
            assert!(!verdict(key.public_jwk(), msg.as_bytes(), &flipped));
            // s' = n - s: the other valid ECDSA signature of the same message.
            let mut high = sig;
            let mut borrow = 0i16;
            for i in (0..32).rev() {
                let d = i16::from(N[i]) - i16::from(sig[32 + i]) - borrow;
                high[32 + i] = d.rem_euclid(256) as u8;
                borrow = i16::from(d < 0);
            }
            verdict(key.public_jwk(), msg.as_bytes(), &high);
            let mut zero_r = sig;
            zero_r[..32].fill(0);
            assert!(!verdict(key.public_jwk(), msg.as_bytes(), &zero_r));
            let mut zero_s = sig;
            zero_s[32..].fill(0);
            assert!(!verdict(key.public_jwk(), msg.as_bytes(), &zero_s));
        }
    }
}
