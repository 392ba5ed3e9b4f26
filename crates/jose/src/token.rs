//! Stage 1: parse a compact JWS into an [`UntrustedToken`] without any cryptography ([`ParseError`]).

use serde_json::{Map, Value};
use tessera_proto::Code;

use crate::b64;

/// Tokens longer than this are refused before any decoding (a Tessera access token is ~600 bytes).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Header parameters understood by this profile; anything named in `crit` must be one of these
/// (RFC 7515 §4.1.11). We understand none of the registered extensions, so the list is empty.
const UNDERSTOOD_CRIT: &[&str] = &[];

/// Header parameters that carry or point at keys: an attacker controls them, so they are refused
/// outright rather than ignored (RFC 8725 §3.10).
const FORBIDDEN_HEADERS: &[&str] = &["jwk", "jku", "x5u", "x5c"];

/// Why a token was refused before its signature was looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    TooLarge {
        len: usize,
        max: usize,
    },
    /// Not three dot-separated segments.
    SegmentCount(usize),
    /// A segment is not canonical base64url without padding.
    Base64 {
        segment: &'static str,
    },
    /// The header is not a JSON object, or a member has the wrong type.
    Header(String),
    /// The payload is not a JSON object.
    Payload(String),
    /// `alg` is anything but `ES256` (including `none` in any casing and every HMAC).
    UnsupportedAlg(String),
    /// `typ` is absent or not `at+jwt` / `application/at+jwt` (RFC 9068 §4).
    WrongType(String),
    MissingKid,
    /// `jwk`, `jku`, `x5u` or `x5c` in the header.
    ForbiddenHeader(&'static str),
    /// `crit` names a parameter we do not understand, or is malformed.
    UnknownCrit(String),
    /// The signature is not exactly 64 bytes (`R || S`); DER and truncated signatures land here.
    SignatureEncoding(usize),
}

impl ParseError {
    /// Stable code (also the `error` of `POST /v1/tokens/verify`).
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::TooLarge { .. } => Code::TokenTooLarge,
            Self::SegmentCount(_) => Code::MalformedToken,
            Self::Base64 { .. } => Code::InvalidBase64,
            Self::Header(_) => Code::InvalidHeader,
            Self::Payload(_) => Code::InvalidPayload,
            Self::UnsupportedAlg(_) => Code::UnsupportedAlg,
            Self::WrongType(_) => Code::WrongTokenType,
            Self::MissingKid => Code::MissingKid,
            Self::ForbiddenHeader(_) => Code::ForbiddenHeader,
            Self::UnknownCrit(_) => Code::UnknownCrit,
            Self::SignatureEncoding(_) => Code::InvalidSignatureEncoding,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(f, "token is {len} bytes, more than the {max} allowed")
            }
            Self::SegmentCount(n) => write!(
                f,
                "token has {n} segments, expected 3 (`header.payload.signature`)"
            ),
            Self::Base64 { segment } => write!(f, "{segment} is not canonical unpadded base64url"),
            Self::Header(why) => write!(f, "invalid header: {why}"),
            Self::Payload(why) => write!(f, "invalid payload: {why}"),
            Self::UnsupportedAlg(alg) => {
                write!(f, "algorithm `{alg}` is not accepted, only `ES256`")
            }
            Self::WrongType(typ) => write!(f, "token type `{typ}` is not this kind of token's (`at+jwt` for access tokens, `JWT` for ID tokens)"),
            Self::MissingKid => f.write_str("header has no `kid`"),
            Self::ForbiddenHeader(name) => write!(f, "header parameter `{name}` is never trusted"),
            Self::UnknownCrit(name) => {
                write!(f, "critical header parameter `{name}` is not understood")
            }
            Self::SignatureEncoding(n) => {
                write!(f, "signature is {n} bytes, expected 64 (`R || S`)")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// The protected header after checks: algorithm pinned, `kid` present, nothing dangerous.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub kid: String,
    pub typ: String,
}

/// A token whose structure was checked but whose signature and claims were not. The type says so.
#[derive(Clone, Debug)]
pub struct UntrustedToken<'a> {
    raw: &'a str,
    signing_input_len: usize,
    header: Header,
    claims: Map<String, Value>,
    signature: [u8; 64],
}

impl<'a> UntrustedToken<'a> {
    /// Parse `raw` (compact serialisation) with the Tessera access-token profile.
    ///
    /// # Errors
    /// See [`ParseError`]; checks run cheapest first (length, segments, header) so that junk costs little.
    pub fn parse(raw: &'a str) -> Result<Self, ParseError> {
        Self::parse_as(raw, Profile::AccessToken)
    }

    /// Parse `raw` as an OpenID Connect ID token: the same rules, but `typ` is `JWT` or absent (an
    /// access token, `at+jwt`, is refused: neither kind can stand in for the other).
    ///
    /// # Errors
    /// See [`ParseError`].
    pub fn parse_id_token(raw: &'a str) -> Result<Self, ParseError> {
        Self::parse_as(raw, Profile::IdToken)
    }

    fn parse_as(raw: &'a str, profile: Profile) -> Result<Self, ParseError> {
        if raw.len() > MAX_TOKEN_LEN {
            return Err(ParseError::TooLarge {
                len: raw.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        let mut parts = raw.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseError::SegmentCount(raw.split('.').count()));
        };
        let header_bytes =
            b64::decode(h64).map_err(|()| ParseError::Base64 { segment: "header" })?;
        let header = parse_header(&header_bytes, profile)?;
        let payload_bytes =
            b64::decode(p64).map_err(|()| ParseError::Base64 { segment: "payload" })?;
        let claims = match serde_json::from_slice::<Value>(&payload_bytes) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(ParseError::Payload("not a JSON object".to_owned())),
            Err(e) => return Err(ParseError::Payload(format!("not JSON: {e}"))),
        };
        let sig_bytes = b64::decode(s64).map_err(|()| ParseError::Base64 {
            segment: "signature",
        })?;
        let signature: [u8; 64] = sig_bytes
            .as_slice()
            .try_into()
            .map_err(|_| ParseError::SignatureEncoding(sig_bytes.len()))?;
        Ok(Self {
            raw,
            signing_input_len: h64.len() + 1 + p64.len(),
            header,
            claims,
            signature,
        })
    }

    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Unverified claims: for routing and logging only, never for decisions.
    #[must_use]
    pub fn claims_unverified(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// `header.payload`, the bytes the signature covers.
    #[must_use]
    pub fn signing_input(&self) -> &'a [u8] {
        self.raw
            .as_bytes()
            .get(..self.signing_input_len)
            .unwrap_or_default()
    }

    #[must_use]
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    pub(crate) fn into_claims(self) -> Map<String, Value> {
        self.claims
    }
}

/// Which kind of token a parse expects (it decides the `typ` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    AccessToken,
    IdToken,
}

fn parse_header(bytes: &[u8], profile: Profile) -> Result<Header, ParseError> {
    let header = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(ParseError::Header("not a JSON object".to_owned())),
        Err(e) => return Err(ParseError::Header(format!("not JSON: {e}"))),
    };
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "ES256" => {}
        Some(Value::String(alg)) => return Err(ParseError::UnsupportedAlg(alg.clone())),
        Some(other) => return Err(ParseError::UnsupportedAlg(other.to_string())),
        None => return Err(ParseError::Header("no `alg`".to_owned())),
    }
    for name in FORBIDDEN_HEADERS {
        if header.contains_key(*name) {
            return Err(ParseError::ForbiddenHeader(name));
        }
    }
    if let Some(crit) = header.get("crit") {
        // RFC 7515 §4.1.11: a non-empty array of names; we understand no extension.
        let Value::Array(names) = crit else {
            return Err(ParseError::UnknownCrit(crit.to_string()));
        };
        if names.is_empty() {
            return Err(ParseError::UnknownCrit("[]".to_owned()));
        }
        for name in names {
            match name.as_str() {
                Some(n) if UNDERSTOOD_CRIT.contains(&n) => {}
                Some(n) => return Err(ParseError::UnknownCrit(n.to_owned())),
                None => return Err(ParseError::UnknownCrit(name.to_string())),
            }
        }
    }
    // RFC 9068 §4: resource servers MUST check `typ`, and reject tokens without it too.
    let typ = match (profile, header.get("typ")) {
        (Profile::AccessToken, Some(Value::String(t)))
            if t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt") =>
        {
            t.clone()
        }
        (Profile::IdToken, Some(Value::String(t))) if t.eq_ignore_ascii_case("JWT") => t.clone(),
        (Profile::IdToken, None) => String::new(),
        (_, Some(other)) => return Err(ParseError::WrongType(other.to_string())),
        (Profile::AccessToken, None) => return Err(ParseError::WrongType("(absent)".to_owned())),
    };
    let kid = match header.get("kid") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        Some(Value::String(_)) | None => return Err(ParseError::MissingKid),
        Some(other) => {
            return Err(ParseError::Header(format!(
                "`kid` is not a string: {other}"
            )))
        }
    };
    Ok(Header { kid, typ })
}
