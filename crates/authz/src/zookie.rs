//! Zookies: opaque tokens meaning "at least this revision", bound to a tenant and tamper-evident
//! (HMAC-SHA256 under a server key), and the consistency modes a read can ask for.
//!
//! Format: `tz1_` + base64url(revision as 8 bytes big-endian || first 16 bytes of
//! HMAC-SHA256(key, "tessera-zookie-v1" || 0 || tenant || 0 || revision)).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use tessera_proto::Code;

const PREFIX: &str = "tz1_";
const TAG_LEN: usize = 16;

/// The key zookies are minted and checked with. No `Debug` content.
pub struct ZookieKey([u8; 32]);

impl std::fmt::Debug for ZookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZookieKey(_)")
    }
}

impl Drop for ZookieKey {
    fn drop(&mut self) {
        self.0 = [0; 32];
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZookieError {
    /// Not a zookie at all.
    Malformed,
    /// Minted for another tenant, by another key, or altered.
    Forged,
}

impl ZookieError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Malformed => Code::ZookieMalformed,
            Self::Forged => Code::ZookieInvalid,
        }
    }
}

impl std::fmt::Display for ZookieError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str("not a zookie (expected `tz1_...`)"),
            Self::Forged => f.write_str("zookie was not issued for this tenant by this server"),
        }
    }
}

impl std::error::Error for ZookieError {}

/// The revision inside `zookie` without checking its tag, for a holder of no key (the edge).
///
/// Safe for one use only: deciding whether a cached answer is fresh enough. A zookie can only make the
/// edge demand a newer revision; one naming a revision the edge has not seen goes to the origin, which
/// checks the tag, and one naming an older revision asks for no more than `minimize_latency` would give.
///
/// # Errors
/// [`ZookieError::Malformed`] when it is not a zookie at all.
pub fn revision_unverified(zookie: &str) -> Result<u64, ZookieError> {
    decode(zookie).map(|(revision, _)| revision)
}

/// A zookie's revision and tag, unchecked.
fn decode(zookie: &str) -> Result<(u64, [u8; TAG_LEN]), ZookieError> {
    let body = zookie.strip_prefix(PREFIX).ok_or(ZookieError::Malformed)?;
    let raw = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| ZookieError::Malformed)?;
    if raw.len() != 8 + TAG_LEN {
        return Err(ZookieError::Malformed);
    }
    let (rev, tag) = raw.split_at(8);
    let rev: [u8; 8] = rev.try_into().map_err(|_| ZookieError::Malformed)?;
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| ZookieError::Malformed)?;
    Ok((u64::from_be_bytes(rev), tag))
}

impl ZookieKey {
    #[must_use]
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn tag(&self, tenant: &str, revision: u64) -> [u8; 32] {
        // `new_from_slice` accepts any key length for HMAC; the fallback is unreachable.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
        mac.update(b"tessera-zookie-v1\0");
        mac.update(tenant.as_bytes());
        mac.update(b"\0");
        mac.update(&revision.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The zookie for `revision` of `tenant`.
    #[must_use]
    pub fn mint(&self, tenant: &str, revision: u64) -> String {
        let mut raw = revision.to_be_bytes().to_vec();
        raw.extend_from_slice(
            self.tag(tenant, revision)
                .get(..TAG_LEN)
                .unwrap_or_default(),
        );
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// The revision inside `zookie`, if this key minted it for `tenant`.
    ///
    /// # Errors
    /// See [`ZookieError`].
    pub fn open(&self, tenant: &str, zookie: &str) -> Result<u64, ZookieError> {
        let (revision, tag) = decode(zookie)?;
        let expected = self.tag(tenant, revision);
        if bool::from(expected.get(..TAG_LEN).unwrap_or_default().ct_eq(&tag)) {
            Ok(revision)
        } else {
            Err(ZookieError::Forged)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let k = ZookieKey::new([3; 32]);
        let z = k.mint("acme", 42);
        assert!(z.starts_with("tz1_"));
        assert_eq!(k.open("acme", &z), Ok(42));
        assert_eq!(
            k.open("globex", &z),
            Err(ZookieError::Forged),
            "tenant-bound"
        );
        assert_eq!(
            ZookieKey::new([4; 32]).open("acme", &z),
            Err(ZookieError::Forged),
            "key-bound"
        );
        // Change the revision bytes but keep the tag.
        let mut raw = URL_SAFE_NO_PAD
            .decode(z.trim_start_matches("tz1_"))
            .unwrap();
        raw[7] ^= 1;
        let tampered = format!("tz1_{}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(k.open("acme", &tampered), Err(ZookieError::Forged));
        for junk in [
            "",
            "tz1_",
            "tz1_AAAA",
            "zz1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "tz1_!!",
        ] {
            assert_eq!(k.open("acme", junk), Err(ZookieError::Malformed), "{junk}");
        }
        assert_eq!(format!("{k:?}"), "ZookieKey(_)");
        // Without the key: the revision, and the same refusal of junk.
        assert_eq!(revision_unverified(&z), Ok(42));
        assert_eq!(revision_unverified(&tampered), Ok(43));
        for junk in [
            "",
            "tz1_",
            "tz1_AAAA",
            "zz1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "tz1_!!",
        ] {
            assert_eq!(
                revision_unverified(junk),
                Err(ZookieError::Malformed),
                "{junk}"
            );
        }
    }
}
