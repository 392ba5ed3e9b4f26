//! Stateless ceremony challenges: the ceremony's state travels inside the challenge, sealed with a MAC.
//!
//! A relying party must remember what each challenge was issued for (sign-up of whom, sign-in of whom,
//! another device for which session) until the browser answers. Keeping that state on the server lets
//! anyone create state with an anonymous request. Instead the challenge *is* the state:
//!
//! ```text
//! challenge = version (1) ‖ expires_at (8, big-endian unix seconds) ‖ nonce (16) ‖ payload ‖ tag (32)
//! tag       = HMAC-SHA256(key, version ‖ expires_at ‖ nonce ‖ payload)
//! ```
//!
//! The browser hands the challenge back verbatim in `clientDataJSON`, so [`open`] recovers the payload
//! after checking the tag (in constant time) and the expiry. The nonce keeps challenges unpredictable
//! (WebAuthn §13.4.3 asks for at least 16 random bytes) and names the challenge for the single-use
//! record: a challenge is *spent* only after the ceremony verified, by the shell, atomically (at the
//! edge, a Durable Object per nonce). State is then created only by ceremonies that passed verification.
//!
//! The payload is opaque bytes here (the shell serialises its own ceremony type); it is authenticated,
//! not encrypted: anyone holding the challenge can read it, so it must hold nothing the caller may not
//! know (no user id for a name the caller typed, no secret). Pure: the time, the nonce and the key are arguments.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tessera_proto::Code;
use tessera_proto::UnixTime;
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 8 + NONCE_LEN;
const TAG_LEN: usize = 32;
/// Random bytes in every challenge.
pub const NONCE_LEN: usize = 16;
/// Longest payload a challenge carries (browsers accept long challenges; this keeps them reasonable).
pub const MAX_PAYLOAD_LEN: usize = 1024;

/// The key that seals challenges, derived from a root secret so that it is used for nothing else.
pub struct ChallengeKey(Zeroizing<[u8; 32]>);

impl ChallengeKey {
    /// Derive the challenge key from a 32-byte root secret and the deployment it serves (`context`, e.g.
    /// issuer and RP ID): HMAC-SHA256 as a PRF under a label of its own (HKDF-Expand's one-block case), so
    /// the key is independent of the root's other uses and of other deployments sharing the root.
    ///
    /// # Errors
    /// [`ChallengeError::KeyUnusable`] if the MAC cannot be keyed (not expected for 32 bytes).
    pub fn derive(root: &[u8; 32], context: &[u8]) -> Result<Self, ChallengeError> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(root).map_err(|_| ChallengeError::KeyUnusable)?;
        mac.update(b"tessera/webauthn-challenge/v1\0");
        mac.update(context);
        let mut key = Zeroizing::new([0_u8; 32]);
        key.copy_from_slice(&mac.finalize().into_bytes());
        Ok(Self(key))
    }

    fn mac(&self) -> Result<Hmac<Sha256>, ChallengeError> {
        <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice())
            .map_err(|_| ChallengeError::KeyUnusable)
    }
}

/// Why a challenge was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeError {
    /// Too short, another version, or a tag that does not match: not one of ours.
    Unknown,
    /// Ours, but past its expiry.
    Expired,
    /// The payload is longer than [`MAX_PAYLOAD_LEN`] (when sealing).
    PayloadTooLarge,
    /// The MAC could not be keyed.
    KeyUnusable,
}

impl ChallengeError {
    #[must_use]
    pub fn code(self) -> Code {
        match self {
            Self::Unknown => Code::ChallengeUnknown,
            Self::Expired => Code::ChallengeExpired,
            Self::PayloadTooLarge => Code::ChallengePayloadTooLarge,
            Self::KeyUnusable => Code::ChallengeKeyUnusable,
        }
    }
}

impl std::fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unknown => "the challenge was not issued here",
            Self::Expired => "the challenge has expired",
            Self::PayloadTooLarge => "the ceremony state is too large for a challenge",
            Self::KeyUnusable => "the challenge key cannot be used",
        })
    }
}

impl std::error::Error for ChallengeError {}

/// A challenge whose tag and expiry were checked.
#[derive(Debug, PartialEq, Eq)]
pub struct OpenedChallenge {
    /// Names the challenge for its single-use record.
    pub nonce: [u8; NONCE_LEN],
    pub expires_at: UnixTime,
    pub payload: Vec<u8>,
}

/// Seal `payload` into a challenge that expires at `expires_at`.
///
/// # Errors
/// [`ChallengeError::PayloadTooLarge`].
pub fn seal(
    key: &ChallengeKey,
    payload: &[u8],
    expires_at: UnixTime,
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, ChallengeError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(ChallengeError::PayloadTooLarge);
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + TAG_LEN);
    out.push(VERSION);
    // Whole seconds on the wire: a challenge lives for minutes.
    out.extend_from_slice(&expires_at.as_secs().to_be_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(payload);
    let mut mac = key.mac()?;
    mac.update(&out);
    out.extend_from_slice(&mac.finalize().into_bytes());
    Ok(out)
}

/// Check a challenge's tag, then its expiry, and recover what it carries.
///
/// # Errors
/// [`ChallengeError::Unknown`] or [`ChallengeError::Expired`].
pub fn open(
    key: &ChallengeKey,
    challenge: &[u8],
    now: UnixTime,
) -> Result<OpenedChallenge, ChallengeError> {
    let body_len = challenge
        .len()
        .checked_sub(TAG_LEN)
        .filter(|n| *n >= HEADER_LEN)
        .ok_or(ChallengeError::Unknown)?;
    let (body, tag) = challenge.split_at(body_len);
    let mut mac = key.mac()?;
    mac.update(body);
    mac.verify_slice(tag).map_err(|_| ChallengeError::Unknown)?;
    let (header, payload) = body.split_at(HEADER_LEN);
    let (version, rest) = header.split_first().ok_or(ChallengeError::Unknown)?;
    if *version != VERSION {
        return Err(ChallengeError::Unknown);
    }
    let (expiry, nonce) = rest.split_at(8);
    let expires_at = UnixTime::from_secs(i64::from_be_bytes(
        expiry.try_into().map_err(|_| ChallengeError::Unknown)?,
    ));
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| ChallengeError::Unknown)?;
    if now >= expires_at {
        return Err(ChallengeError::Expired);
    }
    Ok(OpenedChallenge {
        nonce,
        expires_at,
        payload: payload.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime::from_secs(1_700_000_000);

    fn key(b: u8) -> ChallengeKey {
        ChallengeKey::derive(&[b; 32], b"https://edge.test\0edge.test").unwrap()
    }

    #[test]
    fn round_trip() {
        let k = key(1);
        let c = seal(&k, b"{\"kind\":\"sign_in\"}", NOW.plus_secs(300), &[9; 16]).unwrap();
        assert_eq!(c.len(), 1 + 8 + 16 + 18 + 32);
        let o = open(&k, &c, NOW).unwrap();
        assert_eq!(o.payload, b"{\"kind\":\"sign_in\"}");
        assert_eq!((o.nonce, o.expires_at), ([9; 16], NOW.plus_secs(300)));
        // An empty payload is fine too.
        let c = seal(&k, b"", NOW.plus_secs(1), &[0; 16]).unwrap();
        assert_eq!(open(&k, &c, NOW).unwrap().payload, b"");
    }

    #[test]
    fn expires() {
        let k = key(1);
        let c = seal(&k, b"x", NOW.plus_secs(300), &[9; 16]).unwrap();
        assert_eq!(
            open(&k, &c, NOW.plus_secs(299)).map(|o| o.payload),
            Ok(b"x".to_vec())
        );
        assert_eq!(
            open(&k, &c, NOW.plus_secs(300)),
            Err(ChallengeError::Expired)
        );
    }

    #[test]
    fn another_key_or_any_changed_byte_is_unknown() {
        let k = key(1);
        let c = seal(&k, b"payload", NOW.plus_secs(300), &[9; 16]).unwrap();
        assert_eq!(open(&key(2), &c, NOW), Err(ChallengeError::Unknown));
        for i in 0..c.len() {
            let mut bent = c.clone();
            if let Some(b) = bent.get_mut(i) {
                *b ^= 0x01;
            }
            assert_eq!(
                open(&k, &bent, NOW),
                Err(ChallengeError::Unknown),
                "byte {i}"
            );
        }
    }

    #[test]
    fn short_truncated_or_extended_input_is_unknown() {
        let k = key(1);
        let c = seal(&k, b"payload", NOW.plus_secs(300), &[9; 16]).unwrap();
        for len in 0..c.len() {
            assert_eq!(
                open(&k, &c[..len], NOW),
                Err(ChallengeError::Unknown),
                "{len} bytes"
            );
        }
        let mut longer = c.clone();
        longer.push(0);
        assert_eq!(open(&k, &longer, NOW), Err(ChallengeError::Unknown));
        // 32 random bytes (what a challenge used to be) are not a challenge.
        assert_eq!(open(&k, &[7; 32], NOW), Err(ChallengeError::Unknown));
    }

    #[test]
    fn another_deployment_sharing_the_root_cannot_open_ours() {
        let ours = key(1);
        let theirs = ChallengeKey::derive(&[1; 32], b"https://staging.test\0staging.test").unwrap();
        let c = seal(&theirs, b"x", NOW.plus_secs(300), &[9; 16]).unwrap();
        assert_eq!(open(&ours, &c, NOW), Err(ChallengeError::Unknown));
    }

    #[test]
    fn the_payload_is_bounded() {
        let k = key(1);
        assert!(seal(&k, &[0; MAX_PAYLOAD_LEN], NOW, &[0; 16]).is_ok());
        assert_eq!(
            seal(&k, &[0; MAX_PAYLOAD_LEN + 1], NOW, &[0; 16]),
            Err(ChallengeError::PayloadTooLarge)
        );
    }
}
