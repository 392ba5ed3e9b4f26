//! Credential public keys: COSE_Key (RFC 9052 §7, RFC 9053, RFC 8230 for RSA) read with `coset`.

use coset::iana::{self, EnumI64 as _};
use coset::{AsCborValue as _, CborSerializable as _, CoseKey, KeyType, Label};

use super::WebAuthnError;

/// The credential algorithms this verifier knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoseAlgorithm {
    /// ECDSA P-256 with SHA-256 (-7).
    Es256,
    /// EdDSA over Ed25519 (-8).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (-257), e.g. Windows Hello.
    Rs256,
}

impl CoseAlgorithm {
    /// The COSE algorithm identifier (`pubKeyCredParams[].alg`).
    #[must_use]
    pub fn id(self) -> i64 {
        match self {
            Self::Es256 => iana::Algorithm::ES256.to_i64(),
            Self::EdDsa => iana::Algorithm::EdDSA.to_i64(),
            Self::Rs256 => iana::Algorithm::RS256.to_i64(),
        }
    }

    #[must_use]
    pub fn from_id(id: i64) -> Option<Self> {
        [Self::Es256, Self::EdDsa, Self::Rs256]
            .into_iter()
            .find(|a| a.id() == id)
    }
}

/// A credential public key, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialPublicKey {
    /// P-256 affine coordinates (the point is checked to be on the curve when a verifier imports it).
    Es256 { x: [u8; 32], y: [u8; 32] },
    /// An Ed25519 public key.
    Ed25519 { x: [u8; 32] },
    /// An RSA public key: modulus of 2048 to 4096 bits, odd public exponent (both big-endian, minimal).
    Rs256 { n: Vec<u8>, e: Vec<u8> },
}

impl CredentialPublicKey {
    #[must_use]
    pub fn algorithm(&self) -> CoseAlgorithm {
        match self {
            Self::Es256 { .. } => CoseAlgorithm::Es256,
            Self::Ed25519 { .. } => CoseAlgorithm::EdDsa,
            Self::Rs256 { .. } => CoseAlgorithm::Rs256,
        }
    }

    /// Read a COSE_Key. The key must name its algorithm (§6.5.1: "MUST contain the alg parameter"), and the
    /// algorithm must match the key type and curve.
    ///
    /// # Errors
    /// [`WebAuthnError::PublicKeyMalformed`], or [`WebAuthnError::AlgorithmNotAllowed`] for an algorithm this
    /// verifier does not implement.
    pub fn from_cose(bytes: &[u8]) -> Result<Self, WebAuthnError> {
        let bad = |d: String| WebAuthnError::PublicKeyMalformed(d);
        let key = CoseKey::from_slice(bytes).map_err(|e| bad(format!("not a COSE_Key: {e:?}")))?;
        let alg = match &key.alg {
            Some(coset::Algorithm::Assigned(a)) => a.to_i64(),
            Some(other) => return Err(bad(format!("unknown algorithm {other:?}"))),
            None => return Err(bad("the key names no algorithm".to_owned())),
        };
        let param = |label: i64| {
            key.params
                .iter()
                .find(|(l, _)| *l == Label::Int(label))
                .map(|(_, v)| v)
        };
        let int_param = |label: i64| {
            param(label)
                .and_then(|v| v.as_integer())
                .and_then(|i| i64::try_from(i).ok())
        };
        let bytes32 = |label: i64, name: &str| -> Result<[u8; 32], WebAuthnError> {
            param(label)
                .and_then(|v| v.as_bytes())
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| bad(format!("`{name}` is not 32 bytes")))
        };
        match (CoseAlgorithm::from_id(alg), &key.kty) {
            (Some(CoseAlgorithm::Es256), KeyType::Assigned(iana::KeyType::EC2)) => {
                if int_param(iana::Ec2KeyParameter::Crv.to_i64())
                    != Some(iana::EllipticCurve::P_256.to_i64())
                {
                    return Err(bad("ES256 needs curve P-256".to_owned()));
                }
                Ok(Self::Es256 {
                    x: bytes32(iana::Ec2KeyParameter::X.to_i64(), "x")?,
                    y: bytes32(iana::Ec2KeyParameter::Y.to_i64(), "y")?,
                })
            }
            (Some(CoseAlgorithm::EdDsa), KeyType::Assigned(iana::KeyType::OKP)) => {
                if int_param(iana::OkpKeyParameter::Crv.to_i64())
                    != Some(iana::EllipticCurve::Ed25519.to_i64())
                {
                    return Err(bad("EdDSA keys must be Ed25519".to_owned()));
                }
                Ok(Self::Ed25519 {
                    x: bytes32(iana::OkpKeyParameter::X.to_i64(), "x")?,
                })
            }
            (Some(CoseAlgorithm::Rs256), KeyType::Assigned(iana::KeyType::RSA)) => {
                let big = |label: i64, name: &str| {
                    param(label)
                        .and_then(|v| v.as_bytes())
                        .filter(|b| b.first().is_some_and(|first| *first != 0))
                        .cloned()
                        .ok_or_else(|| bad(format!("`{name}` is not a minimal big-endian integer")))
                };
                let n = big(iana::RsaKeyParameter::N.to_i64(), "n")?;
                let e = big(iana::RsaKeyParameter::E.to_i64(), "e")?;
                if !(256..=512).contains(&n.len()) {
                    return Err(bad(format!(
                        "an RSA modulus of {} bits; 2048 to 4096 are accepted",
                        n.len() * 8
                    )));
                }
                if e.len() > 4 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
                    return Err(bad(
                        "the RSA public exponent must be odd, above 1, at most 32 bits".to_owned(),
                    ));
                }
                Ok(Self::Rs256 { n, e })
            }
            (Some(a), kty) => Err(bad(format!("{a:?} with key type {kty:?}"))),
            (None, _) => Err(WebAuthnError::AlgorithmNotAllowed(alg)),
        }
    }

    /// The key as a COSE_Key (what authenticators send), e.g. for test authenticators.
    #[must_use]
    pub fn to_cose(&self) -> Vec<u8> {
        let key = match self {
            Self::Es256 { x, y } => coset::CoseKeyBuilder::new_ec2_pub_key(
                iana::EllipticCurve::P_256,
                x.to_vec(),
                y.to_vec(),
            )
            .algorithm(iana::Algorithm::ES256)
            .build(),
            Self::Ed25519 { x } => coset::CoseKeyBuilder::new_okp_key()
                .param(
                    iana::OkpKeyParameter::Crv.to_i64(),
                    ciborium::Value::from(iana::EllipticCurve::Ed25519.to_i64()),
                )
                .param(
                    iana::OkpKeyParameter::X.to_i64(),
                    ciborium::Value::Bytes(x.to_vec()),
                )
                .algorithm(iana::Algorithm::EdDSA)
                .build(),
            Self::Rs256 { n, e } => coset::CoseKeyBuilder::new()
                .key_type(iana::KeyType::RSA)
                .param(
                    iana::RsaKeyParameter::N.to_i64(),
                    ciborium::Value::Bytes(n.clone()),
                )
                .param(
                    iana::RsaKeyParameter::E.to_i64(),
                    ciborium::Value::Bytes(e.clone()),
                )
                .algorithm(iana::Algorithm::RS256)
                .build(),
        };
        key.to_cbor_value()
            .ok()
            .and_then(|v| {
                let mut out = Vec::new();
                ciborium::ser::into_writer(&v, &mut out).ok().map(|()| out)
            })
            .unwrap_or_default()
    }
}
