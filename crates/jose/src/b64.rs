//! Strict base64url without padding (RFC 7515 §2, RFC 4648 §5).
//!
//! Strict means: no `=` padding, no characters outside the URL-safe alphabet, and no non-zero trailing
//! bits (a non-canonical encoding maps several strings onto one byte string, which lets a token be
//! altered without touching its signature).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Decode canonical base64url without padding.
///
/// # Errors
/// Returns `Err(())` on any character, padding or trailing-bit violation.
#[allow(
    clippy::result_unit_err,
    reason = "callers map the failure to their own stage error"
)]
pub fn decode(input: &str) -> Result<Vec<u8>, ()> {
    URL_SAFE_NO_PAD.decode(input).map_err(|_| ())
}

/// Encode as base64url without padding.
#[must_use]
pub fn encode(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_padding_and_foreign_alphabets() {
        assert!(decode("YQ==").is_err());
        assert!(decode("a+b/").is_err());
        assert!(decode("YQ").is_ok());
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        // "YR" decodes to the same byte as "YQ" when trailing bits are ignored.
        assert_eq!(decode("YQ"), Ok(b"a".to_vec()));
        assert!(decode("YR").is_err());
    }

    #[test]
    fn rejects_impossible_length() {
        assert!(decode("A").is_err());
    }
}
