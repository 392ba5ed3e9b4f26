//! Account recovery codes: what a passwordless person keeps on paper for the day every passkey is gone.
//!
//! A set is [`CODES_PER_SET`] codes, each ten symbols of Crockford's base32 (50 bits, drawn by the
//! caller) shown as `xxxxx-xxxxx`. People copy them by hand, so reading one back forgives what hands and
//! eyes get wrong: case, spaces and hyphens anywhere, `o` for `0`, `i` and `l` for `1`. Anything else —
//! another length, a symbol outside the alphabet, text that is not ASCII — is [`RecoveryError::Malformed`],
//! decided by walking the characters, never by slicing bytes.
//!
//! The store keeps only [`RecoveryCode::digest`]: HMAC-SHA-256 under a server key, bound to the tenant
//! and the user, so a copy of the database alone neither reveals a code nor lets one be guessed offline,
//! and one person's code is worth nothing for another. [`matches`] compares digests in constant time.
//! Spending a code once, and the failure budget for guesses ([`crate::budget`]), are the store's: it must
//! decide under one lock.
//!
//! Pure: the randomness and the key are arguments.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// How many codes a set holds.
pub const CODES_PER_SET: usize = 10;

/// Symbols per code.
const LEN: usize = 10;

/// Crockford's base32, lower case: no `i`, `l`, `o`, `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// The longest text read as a code (a code with generous spacing); longer is malformed unread.
const MAX_INPUT: usize = 64;

/// Why a typed code was not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryError {
    /// Not ten symbols of the alphabet (spaces and hyphens aside).
    Malformed,
}

impl std::fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str(
                "a recovery code is ten letters and digits, as in `7k2pm-x9q4r` (case, spaces and hyphens do not matter)",
            ),
        }
    }
}

impl std::error::Error for RecoveryError {}

/// One recovery code, in its canonical form (ten lower-case symbols). No `Debug`, no `Serialize`,
/// zeroized on drop.
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    /// The code made of the low 50 bits of `random` (eight bytes the caller drew from a CSPRNG).
    #[must_use]
    pub fn from_random(random: [u8; 8]) -> Self {
        let bits = Zeroizing::new(u64::from_be_bytes(random));
        let mut code = Zeroizing::new(String::with_capacity(LEN));
        for i in (0..LEN).rev() {
            let index = usize::try_from((*bits >> (5 * i)) & 31).unwrap_or(0);
            code.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'0')));
        }
        Self(code)
    }

    /// Read a code as a person typed it.
    ///
    /// # Errors
    /// [`RecoveryError::Malformed`].
    pub fn parse(typed: &str) -> Result<Self, RecoveryError> {
        if typed.len() > MAX_INPUT {
            return Err(RecoveryError::Malformed);
        }
        let mut code = Zeroizing::new(String::with_capacity(LEN));
        for c in typed.chars() {
            if c.is_whitespace() || matches!(c, '-' | '\u{2010}'..='\u{2014}') {
                continue;
            }
            let c = match c.to_ascii_lowercase() {
                'o' => '0',
                'i' | 'l' => '1',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || code.len() == LEN {
                return Err(RecoveryError::Malformed);
            }
            code.push(c);
        }
        if code.len() == LEN {
            Ok(Self(code))
        } else {
            Err(RecoveryError::Malformed)
        }
    }

    /// The code as it is shown: two groups of five, `xxxxx-xxxxx`.
    #[must_use]
    pub fn display(&self) -> Zeroizing<String> {
        let mut shown = Zeroizing::new(String::with_capacity(LEN + 1));
        for (i, c) in self.0.chars().enumerate() {
            if i == LEN / 2 {
                shown.push('-');
            }
            shown.push(c);
        }
        shown
    }

    /// What the store keeps: HMAC-SHA-256 under `key` of the code bound to `tenant` and `user_id`,
    /// base64url.
    #[must_use]
    pub fn digest(&self, key: &[u8], tenant: &str, user_id: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            // HMAC takes keys of any length; this cannot happen.
            return String::new();
        };
        for part in [
            b"tessera-recovery-v1".as_slice(),
            tenant.as_bytes(),
            user_id.as_bytes(),
            self.0.as_bytes(),
        ] {
            mac.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            mac.update(part);
        }
        tessera_jose::b64::encode(&mac.finalize().into_bytes())
    }
}

/// The digest key for recovery codes, derived from a server's `master` secret (HMAC-SHA-256 of a fixed
/// label), so that the key that seals other secrets is never used for this as well.
#[must_use]
pub fn digest_key(master: &[u8]) -> Zeroizing<Vec<u8>> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(master) else {
        return Zeroizing::new(Vec::new());
    };
    mac.update(b"tessera recovery-code digest key v1");
    Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

/// The index of the first of `stored` digests equal to `digest`, every one compared in constant time.
#[must_use]
pub fn matches<'a>(digest: &str, stored: impl IntoIterator<Item = &'a str>) -> Option<usize> {
    let mut found = None;
    for (i, s) in stored.into_iter().enumerate() {
        let equal: bool = s.as_bytes().ct_eq(digest.as_bytes()).into();
        if equal && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(typed: &str) -> Result<String, RecoveryError> {
        RecoveryCode::parse(typed).map(|c| c.0.to_string())
    }

    #[test]
    fn codes_take_the_low_fifty_bits_in_crockford_symbols() {
        assert_eq!(
            RecoveryCode::from_random([0; 8]).display().as_str(),
            "00000-00000"
        );
        assert_eq!(
            RecoveryCode::from_random([0xff; 8]).display().as_str(),
            "zzzzz-zzzzz"
        );
        // 1, 2, ..., 10 in five-bit groups, with junk above bit 50 ignored.
        let mut bits: u64 = 0xfffc_0000_0000_0000;
        for (i, v) in (1..=10_u64).enumerate() {
            bits |= v << (5 * (9 - i));
        }
        assert_eq!(
            RecoveryCode::from_random(bits.to_be_bytes())
                .display()
                .as_str(),
            "12345-6789a"
        );
    }

    #[test]
    fn reading_forgives_case_spacing_hyphens_and_look_alikes() {
        let want = Ok("7k2pm0x9q1".to_owned());
        for typed in [
            "7k2pm-0x9q1",
            "7K2PM-0X9Q1",
            " 7k2pm 0x9q1 ",
            "7k2pmox9ql",
            "7k2pm\u{2013}0x9qI",
            "7-k-2-p-m-0-x-9-q-1",
        ] {
            assert_eq!(code(typed), want, "{typed:?}");
        }
    }

    #[test]
    fn anything_else_is_malformed_without_panicking() {
        for typed in [
            "",
            "7k2pm",
            "7k2pm-0x9q1-1",
            "7k2pm-0x9q1a",
            "7k2pm-0x9qu",
            "7k2pm_0x9q1",
            "7k2pm-0x9q\u{e9}",
            "\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}",
            "７k2pm-0x9q1",
            &"1".repeat(65),
            &" ".repeat(65),
        ] {
            assert_eq!(code(typed), Err(RecoveryError::Malformed), "{typed:?}");
        }
        assert!(RecoveryError::Malformed.to_string().contains("ten letters"));
    }

    #[test]
    fn digests_are_bound_to_key_tenant_and_user() {
        let c = RecoveryCode::parse("7k2pm-0x9q1").unwrap();
        let d = c.digest(b"k", "acme", "u1");
        assert_eq!(d.len(), 43);
        assert_eq!(
            d,
            RecoveryCode::parse("7K2PM 0X9QL")
                .unwrap()
                .digest(b"k", "acme", "u1")
        );
        assert_ne!(d, c.digest(b"other key", "acme", "u1"));
        assert_ne!(d, c.digest(b"k", "globex", "u1"));
        assert_ne!(d, c.digest(b"k", "acme", "u2"));
        // Lengths are framed: moving a character between parts changes the digest.
        assert_ne!(c.digest(b"k", "acm", "eu1"), d);
    }

    #[test]
    fn the_digest_key_depends_on_the_master_secret() {
        let a = digest_key(&[1; 32]);
        assert_eq!(a.len(), 32);
        assert_eq!(*a, *digest_key(&[1; 32]));
        assert_ne!(*a, *digest_key(&[2; 32]));
        assert_ne!(a.as_slice(), [1; 32].as_slice());
    }

    #[test]
    fn matching_finds_the_first_equal_digest() {
        assert_eq!(matches("b", ["a", "b", "b"]), Some(1));
        assert_eq!(matches("c", ["a", "b"]), None);
        assert_eq!(matches("a", []), None);
        assert_eq!(matches("ab", ["a", "abc"]), None);
    }
}
