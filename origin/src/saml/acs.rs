//! The form an IdP posts to our assertion consumer service (SAML bindings §3.5.4, HTTP-POST):
//! `application/x-www-form-urlencoded` with `SAMLResponse` (base64 of the `Response` XML) and, when we
//! sent one, `RelayState`. [`AcsForm::parse`] reads it strictly and says what was wrong; verifying the
//! `Response` is `tessera-saml`'s work, and the route that wires the two is not in the router yet.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use tessera_proto::Code;

/// The largest form read (the route should also bound its body to this).
pub const MAX_FORM_BYTES: usize = 256 * 1024;
/// The longest RelayState read back, in bytes (ours are 22; an IdP-initiated one may be a URL).
pub const MAX_RELAY_STATE_BYTES: usize = 1024;

/// Standard base64, padding optional (IdPs differ), whitespace removed before decoding (some wrap at
/// 76 columns).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the IdP posted, decoded but not verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcsForm {
    /// The `Response` XML as the IdP sent it (bytes: its encoding is the XML reader's to check).
    pub saml_response: Vec<u8>,
    pub relay_state: Option<String>,
}

/// Why a posted form was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcsFormError {
    /// Larger than [`MAX_FORM_BYTES`].
    TooLarge,
    /// Not a form: a field twice, text that is not UTF-8, a RelayState too long.
    Malformed(String),
    /// No `SAMLResponse` (or an empty one).
    MissingResponse,
    /// `SAMLResponse` is not base64.
    NotBase64,
}

impl AcsFormError {
    #[must_use]
    pub const fn code(&self) -> Code {
        match self {
            Self::TooLarge => Code::BodyTooLarge,
            Self::Malformed(_) => Code::SamlFormMalformed,
            Self::MissingResponse => Code::SamlResponseMissing,
            Self::NotBase64 => Code::SamlResponseNotBase64,
        }
    }
}

impl std::fmt::Display for AcsFormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge => write!(f, "the form is larger than {MAX_FORM_BYTES} bytes"),
            Self::Malformed(why) => write!(f, "the form is malformed: {why}"),
            Self::MissingResponse => f.write_str("the form has no SAMLResponse"),
            Self::NotBase64 => f.write_str("SAMLResponse is not base64"),
        }
    }
}

impl std::error::Error for AcsFormError {}

impl AcsForm {
    /// Read a posted body. Unknown fields are ignored (IdPs add their own); `SAMLResponse` and
    /// `RelayState` may each appear once.
    ///
    /// # Errors
    /// See [`AcsFormError`].
    pub fn parse(body: &[u8]) -> Result<Self, AcsFormError> {
        if body.len() > MAX_FORM_BYTES {
            return Err(AcsFormError::TooLarge);
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| AcsFormError::Malformed("the body is not UTF-8".to_owned()))?;
        let (mut response, mut relay_state) = (None::<String>, None::<String>);
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_component(name)?;
            let slot = match name.as_str() {
                "SAMLResponse" => &mut response,
                "RelayState" => &mut relay_state,
                _ => continue,
            };
            if slot.is_some() {
                return Err(AcsFormError::Malformed(format!("`{name}` is given twice")));
            }
            *slot = Some(decode_component(value)?);
        }
        let response = response
            .filter(|r| !r.is_empty())
            .ok_or(AcsFormError::MissingResponse)?;
        let compact: String = response
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let saml_response = LENIENT_BASE64
            .decode(compact.as_bytes())
            .map_err(|_| AcsFormError::NotBase64)?;
        if saml_response.is_empty() {
            return Err(AcsFormError::MissingResponse);
        }
        let relay_state = relay_state.filter(|r| !r.is_empty());
        if relay_state
            .as_ref()
            .is_some_and(|r| r.len() > MAX_RELAY_STATE_BYTES)
        {
            return Err(AcsFormError::Malformed(format!(
                "RelayState is longer than {MAX_RELAY_STATE_BYTES} bytes"
            )));
        }
        Ok(Self {
            saml_response,
            relay_state,
        })
    }
}

/// One `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte; the bytes must be
/// UTF-8 and every `%` must start an escape.
pub(crate) fn decode_component(raw: &str) -> Result<String, AcsFormError> {
    let malformed = || AcsFormError::Malformed("a bad percent-escape".to_owned());
    let mut bytes = Vec::with_capacity(raw.len());
    let mut input = raw.bytes();
    while let Some(b) = input.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = input.next().and_then(hex_digit).ok_or_else(malformed)?;
                let lo = input.next().and_then(hex_digit).ok_or_else(malformed)?;
                bytes.push(hi << 4 | lo);
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| AcsFormError::Malformed("a field is not UTF-8".to_owned()))
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}
