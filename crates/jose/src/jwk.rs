//! EC P-256 public keys as JWK (RFC 7517 §4, RFC 7518 §6.2) and JWK Sets, with RFC 7638 thumbprints.

use p256::elliptic_curve::sec1::FromEncodedPoint as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tessera_proto::Code;

use crate::b64;

/// Why a JWK was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwkError {
    /// Not JSON, or members of the wrong type.
    Malformed(String),
    /// `kty` is not `EC` or `crv` is not `P-256`.
    UnsupportedKeyType,
    /// `x`/`y` are not 32 bytes of canonical base64url, or the point is not on the curve.
    InvalidPoint,
    /// A `d` member: private key material where a public key was expected.
    PrivateMaterial,
    /// `use` other than `sig`, or `alg` other than `ES256`.
    WrongUse,
}

impl JwkError {
    /// Stable code.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Malformed(_) => Code::JwkMalformed,
            Self::UnsupportedKeyType => Code::JwkUnsupportedKeyType,
            Self::InvalidPoint => Code::JwkInvalidPoint,
            Self::PrivateMaterial => Code::JwkPrivateMaterial,
            Self::WrongUse => Code::JwkWrongUse,
        }
    }
}

impl std::fmt::Display for JwkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed jwk: {why}"),
            Self::UnsupportedKeyType => f.write_str("jwk is not an EC P-256 key"),
            Self::InvalidPoint => f.write_str("jwk coordinates are not a point on P-256"),
            Self::PrivateMaterial => f.write_str("jwk carries private key material (`d`)"),
            Self::WrongUse => f.write_str("jwk is not meant for ES256 signatures"),
        }
    }
}

impl std::error::Error for JwkError {}

/// An EC P-256 public signing key. Constructed only through validation, so `x`/`y` are a curve point.
/// Serialises as `{"kty":"EC","crv":"P-256","x":..,"y":..,"kid":..,"use":"sig","alg":"ES256"}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct PublicJwk {
    x: String,
    y: String,
    kid: String,
}

impl Serialize for PublicJwk {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl TryFrom<serde_json::Value> for PublicJwk {
    type Error = JwkError;

    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        Self::from_json(&value)
    }
}

#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    d: Option<serde_json::Value>,
}

impl PublicJwk {
    /// From the affine coordinates (big-endian, 32 bytes each); `kid` becomes the RFC 7638 thumbprint.
    ///
    /// # Errors
    /// [`JwkError::InvalidPoint`] when `(x, y)` is not on the curve.
    pub fn from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Result<Self, JwkError> {
        let point = p256::EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
        if bool::from(p256::PublicKey::from_encoded_point(&point).is_none()) {
            return Err(JwkError::InvalidPoint);
        }
        let (x, y) = (b64::encode(x), b64::encode(y));
        let kid = thumbprint(&x, &y);
        Ok(Self { x, y, kid })
    }

    /// Parse and validate one public JWK. A `kid` in the input is kept; without one the thumbprint is used.
    ///
    /// # Errors
    /// See [`JwkError`].
    pub fn from_json(value: &serde_json::Value) -> Result<Self, JwkError> {
        let raw: RawJwk = serde_json::from_value(value.clone())
            .map_err(|e| JwkError::Malformed(e.to_string()))?;
        if raw.d.is_some() {
            return Err(JwkError::PrivateMaterial);
        }
        if raw.kty.as_deref() != Some("EC") || raw.crv.as_deref() != Some("P-256") {
            return Err(JwkError::UnsupportedKeyType);
        }
        if raw.use_.as_deref().is_some_and(|u| u != "sig")
            || raw.alg.as_deref().is_some_and(|a| a != "ES256")
        {
            return Err(JwkError::WrongUse);
        }
        let coord = |c: Option<&str>| -> Result<[u8; 32], JwkError> {
            b64::decode(c.unwrap_or_default())
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or(JwkError::InvalidPoint)
        };
        let mut jwk = Self::from_coordinates(&coord(raw.x.as_deref())?, &coord(raw.y.as_deref())?)?;
        if let Some(kid) = raw.kid {
            jwk.kid = kid;
        }
        Ok(jwk)
    }

    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Base64url `x` coordinate.
    #[must_use]
    pub fn x(&self) -> &str {
        &self.x
    }

    /// Base64url `y` coordinate.
    #[must_use]
    pub fn y(&self) -> &str {
        &self.y
    }

    /// SEC1 uncompressed point `04 || x || y`.
    #[must_use]
    pub fn sec1_uncompressed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(65);
        out.push(4);
        out.extend(b64::decode(&self.x).unwrap_or_default());
        out.extend(b64::decode(&self.y).unwrap_or_default());
        out
    }

    /// The RFC 7638 thumbprint of this key (independent of the `kid` it carries).
    #[must_use]
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.x, &self.y)
    }

    /// As a JSON value (the JWKS member form).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": self.x, "y": self.y,
            "kid": self.kid, "use": "sig", "alg": "ES256",
        })
    }
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64::encode(&Sha256::digest(canonical.as_bytes()))
}

/// Finds a public key by `kid`. Implemented by [`Jwks`] and [`crate::KeyRing`].
pub trait KeyLookup {
    fn key(&self, kid: &str) -> Option<&PublicJwk>;
}

/// A JWK Set (RFC 7517 §5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

impl Jwks {
    /// Parse a JWKS document, keeping the usable ES256 keys and skipping others (RFC 7517 §5: "implementations
    /// SHOULD ignore JWKs within a JWK Set that use kty values that are not understood").
    ///
    /// # Errors
    /// [`JwkError::Malformed`] when the document is not `{"keys": [...]}`; [`JwkError::PrivateMaterial`] when a
    /// member carries `d` (a leaked private key is never silently skipped).
    pub fn from_json(text: &str) -> Result<Self, JwkError> {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| JwkError::Malformed(e.to_string()))?;
        let members = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| JwkError::Malformed("no `keys` array".to_owned()))?;
        let mut keys = Vec::with_capacity(members.len());
        for member in members {
            match PublicJwk::from_json(member) {
                Ok(k) => keys.push(k),
                Err(JwkError::PrivateMaterial) => return Err(JwkError::PrivateMaterial),
                Err(_) => {}
            }
        }
        Ok(Self { keys })
    }

    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(PublicJwk::to_json).collect::<Vec<_>>() })
    }
}

impl KeyLookup for Jwks {
    fn key(&self, kid: &str) -> Option<&PublicJwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 7517 appendix A.1, first key (EC P-256).
    const A1_X: &str = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
    const A1_Y: &str = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";

    #[test]
    fn parses_rfc7517_a1_key() {
        let jwk = PublicJwk::from_json(
            &json!({"kty":"EC","crv":"P-256","x":A1_X,"y":A1_Y,"use":"enc","kid":"1"}),
        );
        // The RFC key is marked `use: enc`: refused for signatures.
        assert_eq!(jwk, Err(JwkError::WrongUse));
        let jwk =
            PublicJwk::from_json(&json!({"kty":"EC","crv":"P-256","x":A1_X,"y":A1_Y,"kid":"1"}))
                .unwrap();
        assert_eq!(jwk.kid(), "1");
        assert_eq!(jwk.sec1_uncompressed().len(), 65);
    }

    #[test]
    fn refuses_private_material_other_curves_and_off_curve_points() {
        let d = json!({"kty":"EC","crv":"P-256","x":A1_X,"y":A1_Y,"d":"AA"});
        assert_eq!(PublicJwk::from_json(&d), Err(JwkError::PrivateMaterial));
        let rsa = json!({"kty":"RSA","n":"AQAB","e":"AQAB"});
        assert_eq!(
            PublicJwk::from_json(&rsa),
            Err(JwkError::UnsupportedKeyType)
        );
        let off = json!({"kty":"EC","crv":"P-256","x":A1_X,"y":A1_X});
        assert_eq!(PublicJwk::from_json(&off), Err(JwkError::InvalidPoint));
        let short = json!({"kty":"EC","crv":"P-256","x":"AAAA","y":A1_Y});
        assert_eq!(PublicJwk::from_json(&short), Err(JwkError::InvalidPoint));
    }

    #[test]
    fn thumbprint_is_the_kid_and_ignores_the_given_kid() {
        let with_kid =
            PublicJwk::from_json(&json!({"kty":"EC","crv":"P-256","x":A1_X,"y":A1_Y,"kid":"x"}))
                .unwrap();
        let without =
            PublicJwk::from_json(&json!({"kty":"EC","crv":"P-256","x":A1_X,"y":A1_Y})).unwrap();
        assert_eq!(with_kid.thumbprint(), without.kid());
        assert_eq!(without.kid().len(), 43);
    }

    #[test]
    fn jwks_skips_foreign_keys_but_not_leaked_private_ones() {
        let doc = json!({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"EC","crv":"P-256","x":A1_X,"y":A1_Y,"kid":"k"}]});
        let jwks = Jwks::from_json(&doc.to_string()).unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert!(jwks.key("k").is_some());
        let leaked = json!({"keys":[{"kty":"EC","crv":"P-256","x":A1_X,"y":A1_Y,"d":"AA"}]});
        assert_eq!(
            Jwks::from_json(&leaked.to_string()),
            Err(JwkError::PrivateMaterial)
        );
        assert!(matches!(Jwks::from_json("[]"), Err(JwkError::Malformed(_))));
    }
}
