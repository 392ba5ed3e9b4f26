//! Client secret hashing and verification (Argon2id, PHC string format).

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tessera_proto::Code;

/// Argon2id cost for client secrets: 19 MiB, 2 passes, 1 lane (OWASP's minimum recommendation).
/// Client secrets are 256-bit random, so this guards a leaked table, not a guessable password; it is kept
/// modest because the edge verifies it in WebAssembly (and memoises the result per isolate).
pub const CLIENT_SECRET_PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);

/// Why a secret could not be hashed or checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientSecretError {
    /// The stored hash is not a PHC string this crate understands.
    BadStoredHash,
    /// The salt is not 16..=48 bytes.
    BadSalt,
    /// The secret does not match.
    Mismatch,
}

impl ClientSecretError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::BadStoredHash => Code::ClientHashUnreadable,
            Self::BadSalt => Code::ClientSaltInvalid,
            Self::Mismatch => Code::ClientSecretMismatch,
        }
    }
}

impl std::fmt::Display for ClientSecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadStoredHash => {
                f.write_str("stored client secret hash is not a valid argon2 phc string")
            }
            Self::BadSalt => f.write_str("salt must be 16 to 48 bytes"),
            Self::Mismatch => f.write_str("client secret does not match"),
        }
    }
}

impl std::error::Error for ClientSecretError {}

fn hasher() -> Result<Argon2<'static>, ClientSecretError> {
    let (m, t, p) = CLIENT_SECRET_PARAMS;
    let params = Params::new(m, t, p, Some(32)).map_err(|_| ClientSecretError::BadSalt)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hash `secret` with a caller-drawn random `salt` (16 bytes recommended) into a PHC string.
///
/// # Errors
/// [`ClientSecretError::BadSalt`] for a salt of the wrong size.
pub fn hash_client_secret(secret: &[u8], salt: &[u8]) -> Result<String, ClientSecretError> {
    // Checked here: `password-hash` 0.5 accepts a too-short salt in `encode_b64` and panics later.
    if !(16..=48).contains(&salt.len()) {
        return Err(ClientSecretError::BadSalt);
    }
    let salt = SaltString::encode_b64(salt).map_err(|_| ClientSecretError::BadSalt)?;
    hasher()?
        .hash_password(secret, &salt)
        .map(|h| h.to_string())
        .map_err(|_| ClientSecretError::BadSalt)
}

/// Check `secret` against a stored PHC string (constant time in the secret, inside `argon2`).
///
/// # Errors
/// [`ClientSecretError::Mismatch`] or [`ClientSecretError::BadStoredHash`].
pub fn verify_client_secret(secret: &[u8], stored: &str) -> Result<(), ClientSecretError> {
    let parsed = PasswordHash::new(stored).map_err(|_| ClientSecretError::BadStoredHash)?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(ClientSecretError::BadStoredHash);
    }
    Argon2::default()
        .verify_password(secret, &parsed)
        .map_err(|e| match e {
            argon2::password_hash::Error::Password => ClientSecretError::Mismatch,
            _ => ClientSecretError::BadStoredHash,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let h = hash_client_secret(b"s3cret", &[9u8; 16]).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(verify_client_secret(b"s3cret", &h), Ok(()));
        assert_eq!(
            verify_client_secret(b"s3creT", &h),
            Err(ClientSecretError::Mismatch)
        );
    }

    #[test]
    fn refuses_unreadable_or_foreign_hashes() {
        assert_eq!(
            verify_client_secret(b"x", "plain"),
            Err(ClientSecretError::BadStoredHash)
        );
        // A bcrypt-style or argon2i hash is not accepted as a client secret hash.
        let argon2i = "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$H2WhhZLLmaaIDVm/6mCkhA";
        assert_eq!(
            verify_client_secret(b"x", argon2i),
            Err(ClientSecretError::BadStoredHash)
        );
    }

    #[test]
    fn refuses_short_salts() {
        // Regression: password-hash 0.5 panicked on a 2-byte salt instead of returning an error.
        assert_eq!(
            hash_client_secret(b"x", &[1u8; 2]),
            Err(ClientSecretError::BadSalt)
        );
        assert_eq!(
            hash_client_secret(b"x", &[1u8; 49]),
            Err(ClientSecretError::BadSalt)
        );
    }
}
