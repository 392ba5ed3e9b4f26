//! An identity provider's signing certificate, read only for its public key.
//!
//! The metadata pins certificates: the key *is* the trust, so there is no chain, expiry or revocation
//! check (SAML deployments rotate by publishing a second certificate, not by CA validity). Accepted keys:
//! RSA with a modulus of [`MIN_RSA_BITS`] to 8192 bits, and ECDSA on P-256. Anything else (P-384,
//! Ed25519, DSA, RSA-PSS-only keys) is refused with [`KeyError::Unsupported`], so that a connection never
//! holds a key no signature could be checked with.

use rsa::pkcs1::der::Decode as _;
use sha2::{Digest as _, Sha256};
use tessera_proto::Code;
use x509_cert::spki::ObjectIdentifier;

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (`rsa`'s own bound; larger keys only cost verification time).
pub const MAX_RSA_BITS: usize = 8192;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Why a certificate was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The certificate is not base64, or not a DER X.509 certificate.
    CertificateMalformed(String),
    /// The key's algorithm or curve is not one we verify with (its OID, or the curve's).
    Unsupported(String),
    /// An RSA modulus below [`MIN_RSA_BITS`].
    RsaTooSmall { bits: usize },
    /// The key's own encoding is invalid (an RSA key `rsa` refuses, a point not on P-256).
    KeyMalformed(String),
}

impl KeyError {
    /// The stable code for this refusal.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::CertificateMalformed(_) => Code::SamlCertificateMalformed,
            Self::Unsupported(_) => Code::SamlKeyUnsupported,
            Self::RsaTooSmall { .. } => Code::SamlKeyTooSmall,
            Self::KeyMalformed(_) => Code::SamlKeyMalformed,
        }
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CertificateMalformed(why) => write!(f, "certificate is malformed: {why}"),
            Self::Unsupported(what) => write!(
                f,
                "certificate key `{what}` is not supported (RSA of {MIN_RSA_BITS} bits or more, or P-256)"
            ),
            Self::RsaTooSmall { bits } => {
                write!(f, "RSA key has {bits} bits, fewer than the {MIN_RSA_BITS} required")
            }
            Self::KeyMalformed(why) => write!(f, "certificate key is malformed: {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// A public key a signature can be verified with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA, for `rsa-sha256` (PKCS#1 v1.5).
    Rsa(rsa::PublicKey),
    /// ECDSA P-256, for `ecdsa-sha256`.
    P256(p256::PublicKey),
}

impl PublicKey {
    /// A short description for logs: `RSA-2048`, `P-256`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Rsa(key) => format!("RSA-{}", rsa::traits::PublicKeyParts::size(key) * 8),
            Self::P256(_) => "P-256".to_owned(),
        }
    }
}

/// A pinned certificate: its DER bytes, its public key and its SHA-256 fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    key: PublicKey,
    sha256: [u8; 32],
}

impl Certificate {
    /// Reads the base64 content of a `ds:X509Certificate` (XML whitespace inside is allowed).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let der = crate::reader::base64_text(text)
            .ok_or_else(|| KeyError::CertificateMalformed("not base64".into()))?;
        Self::from_der(der)
    }

    /// Reads a DER X.509 certificate and its public key.
    pub fn from_der(der: Vec<u8>) -> Result<Self, KeyError> {
        let cert = x509_cert::Certificate::from_der(&der)
            .map_err(|e| KeyError::CertificateMalformed(format!("not DER X.509 ({e})")))?;
        let spki = cert.tbs_certificate().subject_public_key_info();
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::KeyMalformed("public key has unused bits".into()))?;
        let key = if spki.algorithm.oid == RSA_ENCRYPTION {
            PublicKey::Rsa(rsa_key(bits)?)
        } else if spki.algorithm.oid == EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| KeyError::KeyMalformed("EC key without a named curve".into()))?;
            if curve != PRIME256V1 {
                return Err(KeyError::Unsupported(format!("EC curve {curve}")));
            }
            let point = p256::PublicKey::from_sec1_bytes(bits)
                .map_err(|_| KeyError::KeyMalformed("not a point on P-256".into()))?;
            PublicKey::P256(point)
        } else {
            return Err(KeyError::Unsupported(spki.algorithm.oid.to_string()));
        };
        let sha256 = Sha256::digest(&der).into();
        Ok(Self { der, key, sha256 })
    }

    /// The certificate as DER.
    #[must_use]
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// SHA-256 over the DER certificate: how operators and logs name it.
    #[must_use]
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        self.sha256
    }
}

/// An RSA `RSAPublicKey` (PKCS#1), its size checked before `rsa` sees it so that a small key gets its
/// own refusal rather than `rsa`'s generic one.
fn rsa_key(pkcs1: &[u8]) -> Result<rsa::PublicKey, KeyError> {
    let parsed = rsa::pkcs1::RsaPublicKeyRef::from_der(pkcs1)
        .map_err(|e| KeyError::KeyMalformed(format!("RSA key ({e})")))?;
    let modulus = parsed.modulus.as_bytes();
    let bits = modulus
        .iter()
        .position(|b| *b != 0)
        .and_then(|i| {
            let first = modulus.get(i)?;
            Some((modulus.len() - i) * 8 - first.leading_zeros() as usize)
        })
        .unwrap_or(0);
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaTooSmall { bits });
    }
    if bits > MAX_RSA_BITS {
        return Err(KeyError::Unsupported(format!("RSA-{bits}")));
    }
    rsa::PublicKey::try_from(parsed).map_err(|e| KeyError::KeyMalformed(format!("RSA key ({e})")))
}
