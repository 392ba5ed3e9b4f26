//! Sealing private keys at rest: AES-256-GCM under a key-encryption key, with the `kid` as associated data
//! (so a sealed key cannot be moved to another ring entry). The nonce is an argument: this crate has no RNG.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use tessera_proto::Code;

use crate::b64;
use crate::secret::Secret;

/// Why sealed material could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealError {
    /// Not base64url, or too short to hold a nonce and a tag.
    Malformed,
    /// Wrong key-encryption key, wrong `kid`, or tampered ciphertext.
    Unauthentic,
}

impl SealError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Malformed => Code::SealedKeyMalformed,
            Self::Unauthentic => Code::SealedKeyUnauthentic,
        }
    }
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str("sealed key is malformed"),
            Self::Unauthentic => {
                f.write_str("sealed key does not open with this key-encryption key")
            }
        }
    }
}

impl std::error::Error for SealError {}

/// A key for one purpose, derived from a root key: `SHA-256("tessera/derive/v1" 0 label 0 root)`. A key
/// derived for one label opens nothing sealed under another (a session cookie is not an authorization
/// request), and neither is the root.
#[must_use]
pub fn derive(root: &Secret<[u8; 32]>, label: &str) -> Secret<[u8; 32]> {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(b"tessera/derive/v1\0");
    h.update(label.as_bytes());
    h.update([0]);
    h.update(root.expose_secret());
    Secret::new(h.finalize().into())
}

/// `base64url(nonce || ciphertext || tag)`.
///
/// # Errors
/// Only if the AEAD refuses the input size (never for key-sized plaintexts).
pub fn seal(
    kek: &Secret<[u8; 32]>,
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<String, SealError> {
    let cipher = Aes256Gcm::new(kek.expose_secret().into());
    let ct = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealError::Malformed)?;
    let mut out = nonce.to_vec();
    out.extend(ct);
    Ok(b64::encode(&out))
}

/// Open what [`seal`] produced.
///
/// # Errors
/// See [`SealError`].
pub fn open(
    kek: &Secret<[u8; 32]>,
    aad: &[u8],
    sealed: &str,
) -> Result<Secret<Vec<u8>>, SealError> {
    let bytes = b64::decode(sealed).map_err(|()| SealError::Malformed)?;
    if bytes.len() < 12 + 16 {
        return Err(SealError::Malformed);
    }
    let (nonce, ct) = bytes.split_at(12);
    let cipher = Aes256Gcm::new(kek.expose_secret().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Secret::new)
        .map_err(|_| SealError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_by_label() {
        let root = Secret::new([7u8; 32]);
        let a = derive(&root, "browser-session");
        let b = derive(&root, "authorization-request");
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.expose_secret(), root.expose_secret());
        let sealed = seal(&a, &[1; 12], b"", b"x").unwrap();
        assert!(open(&b, b"", &sealed).is_err());
        assert_eq!(
            derive(&root, "browser-session").expose_secret(),
            a.expose_secret()
        );
    }

    #[test]
    fn round_trips_and_binds_the_aad() {
        let kek = Secret::new([7u8; 32]);
        let sealed = seal(&kek, &[1; 12], b"kid-1", b"scalar").unwrap();
        assert_eq!(
            open(&kek, b"kid-1", &sealed).unwrap().expose_secret(),
            b"scalar"
        );
        assert_eq!(
            open(&kek, b"kid-2", &sealed).unwrap_err(),
            SealError::Unauthentic
        );
        assert_eq!(
            open(&Secret::new([8u8; 32]), b"kid-1", &sealed).unwrap_err(),
            SealError::Unauthentic
        );
        assert_eq!(
            open(&kek, b"kid-1", "AAAA").unwrap_err(),
            SealError::Malformed
        );
    }
}
