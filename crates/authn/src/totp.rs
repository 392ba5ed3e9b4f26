//! Time-based one-time passwords: RFC 6238 (TOTP) over RFC 4226 (HOTP).
//!
//! - HMAC-SHA-1 with 6 digits and a 30 s period by default (what authenticator apps assume); SHA-256 and
//!   SHA-512, 6 to 8 digits and other periods when configured.
//! - A code is accepted in the current step or up to [`TotpParams::skew`] steps either side (±1 by
//!   default), compared in constant time against every candidate step (no early exit).
//! - Replay guard: the caller stores the step of the last accepted code and passes it back; a code for that
//!   step or an earlier one is refused ([`TotpError::Replayed`]), so each code (indeed each step) is
//!   accepted once.
//! - Enrolment: [`TotpSecret::from_bytes`] (the caller draws the randomness) and [`otpauth_uri`], the
//!   Key Uri Format authenticator apps scan.
//!
//! Pure: the time is an argument (Unix seconds) and the secret comes from the caller.

use hmac::{Hmac, Mac};
use subtle::{Choice, ConstantTimeEq as _};
use tessera_proto::Code;
use tessera_proto::UnixTime;
use zeroize::{Zeroize, Zeroizing};

/// The HMAC hash (RFC 6238 §1.2: SHA-1, SHA-256, SHA-512).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The `algorithm` parameter of an `otpauth://` URI.
    #[must_use]
    pub fn uri_name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

/// How codes are made and how much clock drift is forgiven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TotpParams {
    pub algorithm: Algorithm,
    /// 6 to 8.
    pub digits: u32,
    /// Seconds per step (RFC 6238 X), at least 1.
    pub period: u64,
    /// Steps accepted either side of the current one.
    pub skew: u64,
}

impl Default for TotpParams {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            skew: 1,
        }
    }
}

impl TotpParams {
    /// # Errors
    /// [`TotpError::BadParams`] for digits outside 6..=8, a zero period or a skew above 10 steps.
    pub fn validate(&self) -> Result<(), TotpError> {
        if !(6..=8).contains(&self.digits) || self.period == 0 || self.skew > 10 {
            return Err(TotpError::BadParams);
        }
        Ok(())
    }

    /// The step `now` falls in (RFC 6238 T, with T0 = 0; a moment before 1970 is step 0).
    #[must_use]
    pub fn step_at(&self, now: UnixTime) -> u64 {
        u64::try_from(now.as_secs()).unwrap_or(0) / self.period.max(1)
    }
}

/// Why a code was refused. Each has a stable [`code`](Self::code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotpError {
    /// Not `digits` ASCII digits.
    Malformed,
    /// No step within the window produces this code.
    Mismatch,
    /// The code is right but its step was already used.
    Replayed,
    /// The secret is shorter than 16 bytes or longer than 64.
    BadSecret,
    /// Digits, period or skew out of range.
    BadParams,
}

impl TotpError {
    #[must_use]
    pub fn code(self) -> Code {
        match self {
            Self::Malformed => Code::TotpMalformed,
            Self::Mismatch => Code::TotpMismatch,
            Self::Replayed => Code::TotpReplayed,
            Self::BadSecret => Code::TotpBadSecret,
            Self::BadParams => Code::TotpBadParams,
        }
    }
}

impl std::fmt::Display for TotpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "the code is not the expected number of digits",
            Self::Mismatch => "the code does not match",
            Self::Replayed => "the code was already used",
            Self::BadSecret => "a TOTP secret is 16 to 64 bytes",
            Self::BadParams => {
                "TOTP digits must be 6-8, the period at least 1 s, the skew at most 10"
            }
        })
    }
}

impl std::error::Error for TotpError {}

/// A shared TOTP secret. No `Debug`, no `Serialize`, zeroized on drop; seen only through
/// [`expose_secret`](Self::expose_secret) and [`to_base32`](Self::to_base32).
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// From raw bytes: 16 to 64 (RFC 4226 §4 asks for at least 128 bits and recommends 160).
    ///
    /// # Errors
    /// [`TotpError::BadSecret`].
    pub fn from_bytes(mut bytes: Vec<u8>) -> Result<Self, TotpError> {
        if !(16..=64).contains(&bytes.len()) {
            bytes.zeroize();
            return Err(TotpError::BadSecret);
        }
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// From the base32 text of an `otpauth://` URI (case-insensitive, padding and spaces optional).
    ///
    /// # Errors
    /// [`TotpError::BadSecret`] when it is not base32 or of the wrong length.
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        let cleaned: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .filter(|c| *c != ' ' && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        let mut bytes = crate::base32::decode(cleaned.as_bytes()).ok_or(TotpError::BadSecret)?;
        Self::from_bytes(std::mem::take(&mut *bytes))
    }

    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Base32 without padding, as authenticator apps expect.
    #[must_use]
    pub fn to_base32(&self) -> Zeroizing<String> {
        crate::base32::encode(&self.0)
    }
}

fn hmac_digest(alg: Algorithm, key: &[u8], msg: &[u8]) -> Zeroizing<Vec<u8>> {
    // `new_from_slice` accepts keys of any length for HMAC; the fallbacks are unreachable.
    Zeroizing::new(match alg {
        Algorithm::Sha1 => <Hmac<sha1::Sha1> as Mac>::new_from_slice(key)
            .map(|m| m.chain_update(msg).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
        Algorithm::Sha256 => <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
            .map(|m| m.chain_update(msg).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
        Algorithm::Sha512 => <Hmac<sha2::Sha512> as Mac>::new_from_slice(key)
            .map(|m| m.chain_update(msg).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
    })
}

/// The code for `step` (RFC 4226 §5.3 dynamic truncation), `digits` long, zero-padded.
#[must_use]
pub fn code_for_step(secret: &TotpSecret, params: &TotpParams, step: u64) -> Zeroizing<String> {
    let mac = hmac_digest(
        params.algorithm,
        secret.expose_secret(),
        &step.to_be_bytes(),
    );
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let mut word = [0u8; 4];
    for (i, b) in word.iter_mut().enumerate() {
        *b = mac.get(offset + i).copied().unwrap_or(0);
    }
    let binary = u32::from_be_bytes(word) & 0x7fff_ffff;
    let modulus = 10u32.pow(params.digits.clamp(6, 8));
    let digits = usize::try_from(params.digits.clamp(6, 8)).unwrap_or(6);
    Zeroizing::new(format!("{:0digits$}", binary % modulus))
}

/// Check `code` at `now`. `last_step` is the step of the last code this secret accepted, if any.
/// Returns the step that matched: store it as the new `last_step`.
///
/// # Errors
/// [`TotpError::Malformed`], [`TotpError::Mismatch`] or [`TotpError::Replayed`].
pub fn verify(
    secret: &TotpSecret,
    params: &TotpParams,
    code: &str,
    now: UnixTime,
    last_step: Option<u64>,
) -> Result<u64, TotpError> {
    params.validate()?;
    let want_len = usize::try_from(params.digits).unwrap_or(6);
    if code.len() != want_len || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let now = params.step_at(now);
    let mut matched: Option<u64> = None;
    // Every candidate is computed and compared; the result is folded without branching on secrets.
    for step in now.saturating_sub(params.skew)..=now.saturating_add(params.skew) {
        let expected = code_for_step(secret, params, step);
        let hit: Choice = expected.as_bytes().ct_eq(code.as_bytes());
        if bool::from(hit) && matched.is_none() {
            matched = Some(step);
        }
    }
    match (matched, last_step) {
        (None, _) => Err(TotpError::Mismatch),
        (Some(step), Some(last)) if step <= last => Err(TotpError::Replayed),
        (Some(step), _) => Ok(step),
    }
}

/// The `otpauth://totp/` URI (Google Authenticator Key Uri Format) for enrolment, e.g. as a QR code.
/// `issuer` and `account` are percent-encoded.
#[must_use]
pub fn otpauth_uri(
    secret: &TotpSecret,
    params: &TotpParams,
    issuer: &str,
    account: &str,
) -> Zeroizing<String> {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    Zeroizing::new(format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
        enc(issuer),
        enc(account),
        secret.to_base32().as_str(),
        enc(issuer),
        params.algorithm.uri_name(),
        params.digits,
        params.period
    ))
}
