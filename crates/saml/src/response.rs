//! A SAML 2.0 `Response` to our service provider, judged by the Web Browser SSO profile (SAML profiles
//! §4.1.4.2–§4.1.4.3) and our own stricter rules, into a [`VerifiedLogin`] whose every value was read
//! from the element a signature covers.
//!
//! [`verify_response`] runs the checks in this order, and the first one broken is the refusal:
//! 1. **One strict parse** ([`UntrustedXml`] with [`Limits::MESSAGE`]): no DOCTYPE, unique IDs, limits.
//! 2. **Shape.** The document element is `samlp:Response` (version 2.0) and holds **exactly one**
//!    `saml:Assertion` as a direct child; no other `Assertion`, `Response` or `ds:Signature` exists
//!    anywhere in the document except where the schema puts them (the assertion's own signature). Every
//!    signature-wrapping move (XSW1–XSW8) needs a second assertion or a signature somewhere else, so this
//!    alone refuses them, before any cryptography. An `EncryptedAssertion` is handled by the caller's
//!    decryption step (it produces a document of this shape).
//! 3. **Signatures.** Each signature present on the `Response` or the `Assertion` must verify (a bad
//!    signature is never ignored because the other part is signed); the connection's [`SignedPart`]
//!    says which must be present. The response's signature covers the assertion, its only child.
//! 4. **Status** `Success`; **Issuer**s equal the identity provider's entityID; **Destination** (when
//!    present, and required on a signed response: SAML bindings §3.5.5.2) equals our ACS URL.
//! 5. **Subject.** A `NameID` (a single text node: a comment inside is refused, CVE-2017-11428) and a
//!    bearer `SubjectConfirmation` whose data names our ACS as `Recipient`, is not expired, and whose
//!    `InResponseTo` agrees with the response's.
//! 6. **Conditions.** `NotBefore` / `NotOnOrAfter` with [`Expectations::clock_skew_secs`] of skew, and at
//!    least one `AudienceRestriction`, each of which names our entityID.
//! 7. **Statements.** An `AuthnStatement` (its `SessionNotOnOrAfter` still ahead); attributes.
//!
//! What is left to the caller, who owns storage: that `InResponseTo` names a request it issued and has not
//! spent (or that the connection accepts unsolicited responses when there is none), and that the
//! assertion ID was not seen before ([`VerifiedLogin::replay_until`] says how long to remember it).

use tessera_proto::{Code, UnixTime};

use crate::assertion::{check_issuer, check_version, read_assertion};
use crate::dsig::{own_signature, verify_enveloped, SignatureError, SignedBy};
use crate::encrypted::DecryptError;
use crate::keys::Certificate;
use crate::reader::{ns, Limits, ReadError, UntrustedXml, XmlElement};

/// `urn:oasis:names:tc:SAML:2.0:status:Success`.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// `urn:oasis:names:tc:SAML:2.0:cm:bearer`.
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// `urn:oasis:names:tc:SAML:2.0:nameid-format:entity`, the only format an `Issuer` may state.
pub const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
/// The longest `NameID` accepted (Entra ID's persistent IDs are 44 characters; emails ≤ 254).
pub const MAX_NAME_ID_CHARS: usize = 1024;

pub use tessera_proto::saml::SignedPart;

/// What our side expects of a response: who we are, who the identity provider is, and its keys.
#[derive(Clone, Copy, Debug)]
pub struct Expectations<'a> {
    /// Our entityID: the audience.
    pub sp_entity_id: &'a str,
    /// Our assertion consumer service URL: `Destination` and `Recipient`.
    pub acs_url: &'a str,
    /// The identity provider's entityID: every `Issuer`.
    pub idp_entity_id: &'a str,
    /// The connection's pinned signing certificates (several during a rollover).
    pub certificates: &'a [Certificate],
    pub signed_part: SignedPart,
    /// Tolerated clock difference with the identity provider, in seconds.
    pub clock_skew_secs: i64,
}

/// The default clock skew: 90 seconds, within the two to five minutes libraries allow, small enough
/// that an expired assertion is not honoured for long.
pub const DEFAULT_CLOCK_SKEW_SECS: i64 = 90;

/// One attribute of the assertion, with its values (text values only; `xsi:nil` values left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub friendly_name: Option<String>,
    pub values: Vec<String>,
}

/// A response that passed every check of [`verify_response`]: values read only from the signed element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedLogin {
    /// The assertion's `ID`: the replay cache's key.
    pub assertion_id: String,
    pub name_id: String,
    /// The `NameID`'s `Format`, if stated (`...:persistent`, `...:emailAddress`, ...).
    pub name_id_format: Option<String>,
    /// The request this answers; `None` for an unsolicited (IdP-initiated) response.
    pub in_response_to: Option<String>,
    pub authn_instant: UnixTime,
    pub session_index: Option<String>,
    pub authn_context_class: Option<String>,
    pub attributes: Vec<Attribute>,
    /// Until when the assertion could still be accepted (its latest `NotOnOrAfter` plus the skew): keep
    /// its ID in the replay cache at least this long.
    pub replay_until: UnixTime,
    /// The signatures that verified: the response's and the assertion's.
    pub response_signed_by: Option<SignedBy>,
    pub assertion_signed_by: Option<SignedBy>,
}

impl VerifiedLogin {
    /// The values of the attribute named `name` (its `Name` or, failing that, its `FriendlyName`).
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .or_else(|| {
                self.attributes
                    .iter()
                    .find(|a| a.friendly_name.as_deref() == Some(name))
            })
            .map(|a| a.values.as_slice())
    }
}

/// Why a response was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// The document (limits, DOCTYPE, duplicate IDs, a comment in a value, ...).
    Read(ReadError),
    /// A signature.
    Signature(SignatureError),
    /// Not a SAML 2.0 `Response` of the shape the profile allows (version, a missing ID, a bad time).
    Malformed(String),
    /// An assertion or a signature where none belongs: signature wrapping.
    Wrapping(String),
    /// The identity provider answered with an error status (the top-level status code, and the second).
    Status(String),
    IssuerMismatch(String),
    DestinationMismatch(String),
    /// No bearer confirmation names our ACS.
    RecipientMismatch(String),
    AudienceMismatch(String),
    /// A `NotOnOrAfter` (conditions, confirmation, session) that has passed.
    Expired(String),
    NotYetValid(String),
    /// The response and its confirmation name different requests.
    InResponseToMismatch,
    /// No bearer `SubjectConfirmation`.
    SubjectUnconfirmed,
    /// An `EncryptedAssertion` reached a step that reads plain assertions only.
    Encrypted,
    /// An encrypted assertion could not be decrypted and read (one uniform refusal).
    Decryption(DecryptError),
}

impl ResponseError {
    /// The stable code for this refusal.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Read(e) => e.code(),
            Self::Signature(e) => e.code(),
            Self::Malformed(_) => Code::SamlMalformed,
            Self::Wrapping(_) => Code::SamlWrapping,
            Self::Status(_) => Code::SamlStatusNotSuccess,
            Self::IssuerMismatch(_) => Code::SamlIssuerMismatch,
            Self::DestinationMismatch(_) => Code::SamlDestinationMismatch,
            Self::RecipientMismatch(_) => Code::SamlRecipientMismatch,
            Self::AudienceMismatch(_) => Code::SamlAudienceMismatch,
            Self::Expired(_) => Code::SamlExpired,
            Self::NotYetValid(_) => Code::SamlNotYetValid,
            Self::InResponseToMismatch => Code::SamlInResponseToMismatch,
            Self::SubjectUnconfirmed => Code::SamlSubjectUnconfirmed,
            Self::Encrypted => Code::SamlEncryptedUnsupported,
            Self::Decryption(e) => e.code(),
        }
    }
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(e) => e.fmt(f),
            Self::Signature(e) => e.fmt(f),
            Self::Malformed(why) => write!(f, "not a SAML 2.0 response we accept: {why}"),
            Self::Wrapping(why) => write!(f, "signature wrapping: {why}"),
            Self::Status(status) => write!(f, "the identity provider answered `{status}`"),
            Self::IssuerMismatch(got) => {
                write!(
                    f,
                    "issued by `{got}`, not the connection's identity provider"
                )
            }
            Self::DestinationMismatch(got) => write!(f, "sent to `{got}`, not this ACS"),
            Self::RecipientMismatch(why) => write!(f, "no bearer confirmation for this ACS: {why}"),
            Self::AudienceMismatch(why) => write!(f, "not addressed to this service: {why}"),
            Self::Expired(what) => write!(f, "expired: {what}"),
            Self::NotYetValid(what) => write!(f, "not yet valid: {what}"),
            Self::InResponseToMismatch => {
                f.write_str("the response and its subject confirmation answer different requests")
            }
            Self::SubjectUnconfirmed => f.write_str("the subject has no bearer confirmation"),
            Self::Encrypted => f.write_str("the assertion is encrypted"),
            Self::Decryption(e) => e.fmt(f),
        }
    }
}

impl ResponseError {
    /// What the log should say: the refusal, and for a decryption failure what really failed (which
    /// the client never sees).
    #[must_use]
    pub fn log_detail(&self) -> String {
        match self {
            Self::Decryption(e) => format!("{self}: {}", e.detail()),
            other => other.to_string(),
        }
    }
}

impl std::error::Error for ResponseError {}

impl From<ReadError> for ResponseError {
    fn from(e: ReadError) -> Self {
        Self::Read(e)
    }
}

impl From<SignatureError> for ResponseError {
    fn from(e: SignatureError) -> Self {
        Self::Signature(e)
    }
}

/// Judges a decoded `SAMLResponse` (the XML bytes) at `now`; see the module documentation. An
/// `EncryptedAssertion` is refused ([`ResponseError::Encrypted`]): use
/// [`crate::encrypted::verify_encrypted_response`]
/// where the connection has a key.
///
/// # Errors
/// The first rule broken, as a [`ResponseError`].
pub fn verify_response(
    bytes: &[u8],
    expect: &Expectations<'_>,
    now: UnixTime,
) -> Result<VerifiedLogin, ResponseError> {
    let doc = UntrustedXml::parse(bytes, Limits::MESSAGE)?;
    judge(&doc, expect, now, ResponseSignature::Check)
}

/// Whether the response's own signature is still to be checked, or was checked on the encrypted form.
pub(crate) enum ResponseSignature {
    Check,
    Verified(Option<SignedBy>),
}

/// Every check of the module documentation on one parsed document.
pub(crate) fn judge(
    doc: &UntrustedXml<'_>,
    expect: &Expectations<'_>,
    now: UnixTime,
    response_signature: ResponseSignature,
) -> Result<VerifiedLogin, ResponseError> {
    let response = doc.root();
    let assertion = check_shape(response)?;

    let response_signed_by = match response_signature {
        ResponseSignature::Verified(by) => by,
        ResponseSignature::Check => match own_signature(response)? {
            Some(_) => Some(verify_enveloped(response, expect.certificates)?),
            None => None,
        },
    };
    let assertion_signed_by = match own_signature(assertion)? {
        Some(_) => Some(verify_enveloped(assertion, expect.certificates)?),
        None => None,
    };
    let required = match expect.signed_part {
        SignedPart::Assertion => assertion_signed_by.map(|_| ()).ok_or("Assertion"),
        SignedPart::Response => response_signed_by.map(|_| ()).ok_or("Response"),
        SignedPart::Either => response_signed_by
            .or(assertion_signed_by)
            .map(|_| ())
            .ok_or("Assertion"),
    };
    if let Err(element) = required {
        return Err(SignatureError::Missing {
            element: element.to_owned(),
        }
        .into());
    }

    check_status(response)?;
    check_response_envelope(response, expect, response_signed_by.is_some())?;
    let in_response_to = response.attribute("InResponseTo");
    read_assertion(assertion, expect, in_response_to, now).map(|mut login| {
        login.response_signed_by = response_signed_by;
        login.assertion_signed_by = assertion_signed_by;
        login
    })
}

/// The response's one assertion, after refusing every other place an assertion, a response or a
/// signature could hide.
fn check_shape<'a, 'input: 'a>(
    response: XmlElement<'a, 'input>,
) -> Result<XmlElement<'a, 'input>, ResponseError> {
    if !response.is(ns::SAMLP, "Response") {
        return Err(ResponseError::Malformed(format!(
            "the document is `{}`, not a samlp:Response",
            response.local_name()
        )));
    }
    check_version(response)?;
    if response
        .children_named(ns::SAML, "EncryptedAssertion")
        .next()
        .is_some()
    {
        return Err(ResponseError::Encrypted);
    }
    let mut assertions = response.children_named(ns::SAML, "Assertion");
    let assertion = assertions
        .next()
        .ok_or_else(|| ResponseError::Malformed("the response holds no assertion".into()))?;
    if assertions.next().is_some() {
        return Err(ResponseError::Wrapping(
            "the response holds more than one assertion".into(),
        ));
    }
    let response_signature = own_signature(response)?;
    let assertion_signature = own_signature(assertion)?;
    for element in response.descendants() {
        let misplaced =
            if element.is(ns::SAML, "Assertion") || element.is(ns::SAML, "EncryptedAssertion") {
                element != assertion
            } else if element.is(ns::SAMLP, "Response") {
                true
            } else if element.is(ns::DS, "Signature") {
                Some(element) != response_signature && Some(element) != assertion_signature
            } else {
                false
            };
        if misplaced {
            let parent = element.parent().map_or("", |p| p.local_name());
            return Err(ResponseError::Wrapping(format!(
                "a `{}` inside `{parent}`",
                element.local_name()
            )));
        }
    }
    Ok(assertion)
}

/// `Success`, or the refusal naming the identity provider's status codes.
fn check_status(response: XmlElement<'_, '_>) -> Result<(), ResponseError> {
    let status = response.only_child(ns::SAMLP, "Status")?;
    let code = status.only_child(ns::SAMLP, "StatusCode")?;
    let value = code.required_attribute("Value")?;
    if value == STATUS_SUCCESS {
        return Ok(());
    }
    let second = code
        .optional_child(ns::SAMLP, "StatusCode")?
        .and_then(|c| c.attribute("Value"));
    Err(ResponseError::Status(match second {
        Some(second) => format!("{value} / {second}"),
        None => value.to_owned(),
    }))
}

/// The response's `Issuer` (optional) and `Destination` (required when the response is signed).
fn check_response_envelope(
    response: XmlElement<'_, '_>,
    expect: &Expectations<'_>,
    signed: bool,
) -> Result<(), ResponseError> {
    if let Some(issuer) = response.optional_child(ns::SAML, "Issuer")? {
        check_issuer(issuer, expect)?;
    }
    match response.attribute("Destination") {
        Some(destination) if destination != expect.acs_url => {
            Err(ResponseError::DestinationMismatch(destination.to_owned()))
        }
        None if signed => Err(ResponseError::DestinationMismatch(
            "(none, on a signed response)".into(),
        )),
        _ => Ok(()),
    }
}
