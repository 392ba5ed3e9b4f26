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

use tessera_proto::rfc3339::parse_unix_time;
use tessera_proto::{Code, UnixTime};

use rsa::rand_core::TryCryptoRng;

use crate::dsig::{own_signature, verify_enveloped, SignatureError, SignedBy};
use crate::encrypted::{decrypt, read_envelope, DecryptError, EnvelopeError};
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
/// `EncryptedAssertion` is refused ([`ResponseError::Encrypted`]): use [`verify_encrypted_response`]
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

/// [`verify_response`] for a service provider holding `key`: an `EncryptedAssertion` is decrypted (see
/// [`crate::encrypted`]) and judged in its place; a plain assertion is judged as by
/// [`verify_response`]. `key` is asked for only when the response holds an `EncryptedAssertion` (the
/// caller may unseal it lazily); `rng` blinds the RSA operation and draws the stand-in key of a failed
/// unwrap.
///
/// AES-CBC, which does not authenticate, is accepted only when the response's signature (verified
/// before decryption) covers the `EncryptedAssertion`: then nobody can hand the decryptor a ciphertext
/// of their own, so no padding or well-formedness oracle can be probed, timing included. Outside a
/// signed response it is refused by name, before any decryption.
///
/// # Errors
/// The first rule broken, as a [`ResponseError`]; every decryption failure, and after AES-CBC every
/// later failure, as the one [`ResponseError::Decryption`].
pub fn verify_encrypted_response<'k, R, K, E>(
    bytes: &[u8],
    expect: &Expectations<'_>,
    key: K,
    rng: &mut R,
    now: UnixTime,
) -> Result<VerifiedLogin, ResponseError>
where
    R: TryCryptoRng + ?Sized,
    K: FnOnce() -> Result<&'k rsa::PrivateKey, E>,
    E: std::fmt::Display,
{
    let doc = UntrustedXml::parse(bytes, Limits::MESSAGE)?;
    let response = doc.root();
    let Some(encrypted) = encrypted_assertion(response)? else {
        return judge(&doc, expect, now, ResponseSignature::Check);
    };
    // The response's signature covers the encrypted form: checked here, before decryption.
    let response_signed_by = match own_signature(response)? {
        Some(_) => Some(verify_enveloped(response, expect.certificates)?),
        None => None,
    };
    let envelope = read_envelope(encrypted).map_err(|e| match e {
        EnvelopeError::Algorithm(uri) => SignatureError::AlgorithmRefused(uri).into(),
        EnvelopeError::Shape(e) => ResponseError::Decryption(e),
    })?;
    if !envelope.cipher.authenticated() && response_signed_by.is_none() {
        return Err(SignatureError::AlgorithmRefused(
            "AES-CBC outside a signed response (use AES-GCM, or sign the response)".into(),
        )
        .into());
    }
    let key = key().map_err(|e| ResponseError::Decryption(DecryptError::new(e.to_string())))?;
    let plain = decrypt(&envelope, key, rng).map_err(ResponseError::Decryption)?;
    let uniform = |e: ResponseError| {
        if envelope.cipher.authenticated() {
            e
        } else {
            ResponseError::Decryption(DecryptError::new(format!("after AES-CBC: {e}")))
        }
    };
    let plain = String::from_utf8(plain).map_err(|_| {
        uniform(ResponseError::Malformed(
            "the decrypted assertion is not UTF-8".into(),
        ))
    })?;
    let text = doc.text();
    let range = encrypted.range();
    let spliced = [
        text.get(..range.start).unwrap_or_default(),
        plain.as_str(),
        text.get(range.end..).unwrap_or_default(),
    ]
    .concat();
    let decrypted =
        UntrustedXml::parse(spliced.as_bytes(), Limits::MESSAGE).map_err(|e| uniform(e.into()))?;
    judge(
        &decrypted,
        expect,
        now,
        ResponseSignature::Verified(response_signed_by),
    )
    .map_err(uniform)
}

/// The response's one `EncryptedAssertion`, if it has one, after refusing a response that also holds a
/// plain assertion, a second encrypted one, or one anywhere but as its child.
fn encrypted_assertion<'a, 'input: 'a>(
    response: XmlElement<'a, 'input>,
) -> Result<Option<XmlElement<'a, 'input>>, ResponseError> {
    if !response.is(ns::SAMLP, "Response") {
        return Err(ResponseError::Malformed(format!(
            "the document is `{}`, not a samlp:Response",
            response.local_name()
        )));
    }
    let mut children = response.children_named(ns::SAML, "EncryptedAssertion");
    let Some(encrypted) = children.next() else {
        return Ok(None);
    };
    if children.next().is_some() {
        return Err(ResponseError::Wrapping(
            "the response holds more than one encrypted assertion".into(),
        ));
    }
    let response_signature = own_signature(response)?;
    for element in response.descendants() {
        let misplaced = element.is(ns::SAML, "Assertion")
            || element.is(ns::SAMLP, "Response")
            || (element.is(ns::SAML, "EncryptedAssertion") && element != encrypted)
            || (element.is(ns::DS, "Signature") && Some(element) != response_signature);
        if misplaced {
            return Err(ResponseError::Wrapping(format!(
                "a `{}` beside an encrypted assertion",
                element.local_name()
            )));
        }
    }
    Ok(Some(encrypted))
}

/// Whether the response's own signature is still to be checked, or was checked on the encrypted form.
enum ResponseSignature {
    Check,
    Verified(Option<SignedBy>),
}

/// Every check of the module documentation on one parsed document.
fn judge(
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

fn check_version(element: XmlElement<'_, '_>) -> Result<(), ResponseError> {
    let version = element.required_attribute("Version")?;
    if version != "2.0" {
        return Err(ResponseError::Malformed(format!(
            "`{}` has version `{version}`",
            element.local_name()
        )));
    }
    element.required_attribute("ID")?;
    Ok(())
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

fn check_issuer(
    issuer: XmlElement<'_, '_>,
    expect: &Expectations<'_>,
) -> Result<(), ResponseError> {
    if let Some(format) = issuer.attribute("Format") {
        if format != NAMEID_ENTITY {
            return Err(ResponseError::IssuerMismatch(format!("(format {format})")));
        }
    }
    let value = issuer.text()?.trim();
    if value != expect.idp_entity_id {
        return Err(ResponseError::IssuerMismatch(value.to_owned()));
    }
    Ok(())
}

/// A moment attribute, if present.
fn moment(
    element: XmlElement<'_, '_>,
    name: &'static str,
) -> Result<Option<UnixTime>, ResponseError> {
    element
        .attribute(name)
        .map(|text| {
            parse_unix_time(text).ok_or_else(|| {
                ResponseError::Malformed(format!(
                    "`{}` {name} is not an xs:dateTime",
                    element.local_name()
                ))
            })
        })
        .transpose()
}

/// Refuses when `now` is at or after `not_on_or_after` (plus skew).
fn not_expired(
    not_on_or_after: Option<UnixTime>,
    now: UnixTime,
    skew: i64,
    what: &str,
) -> Result<(), ResponseError> {
    match not_on_or_after {
        Some(limit) if now >= limit.plus_secs(skew) => Err(ResponseError::Expired(what.to_owned())),
        _ => Ok(()),
    }
}

/// Every check on the assertion, and the values it vouches for.
fn read_assertion(
    assertion: XmlElement<'_, '_>,
    expect: &Expectations<'_>,
    response_in_response_to: Option<&str>,
    now: UnixTime,
) -> Result<VerifiedLogin, ResponseError> {
    check_version(assertion)?;
    check_issuer(assertion.only_child(ns::SAML, "Issuer")?, expect)?;
    let skew = expect.clock_skew_secs;

    let conditions = assertion.only_child(ns::SAML, "Conditions")?;
    let not_before = moment(conditions, "NotBefore")?;
    if not_before.is_some_and(|t| now.plus_secs(skew) < t) {
        return Err(ResponseError::NotYetValid("Conditions NotBefore".into()));
    }
    let conditions_until = moment(conditions, "NotOnOrAfter")?;
    not_expired(conditions_until, now, skew, "Conditions NotOnOrAfter")?;
    check_audiences(conditions, expect)?;

    let subject = assertion.only_child(ns::SAML, "Subject")?;
    let name_id_element = subject.only_child(ns::SAML, "NameID")?;
    let name_id = name_id_element.text()?.trim();
    if name_id.is_empty() || name_id.chars().count() > MAX_NAME_ID_CHARS {
        return Err(ResponseError::Malformed(
            "the NameID is empty or too long".into(),
        ));
    }
    let (in_response_to, confirmed_until) =
        confirm_bearer(subject, expect, response_in_response_to, now)?;

    let authn = assertion
        .children_named(ns::SAML, "AuthnStatement")
        .next()
        .ok_or(ReadError::MissingElement {
            parent: "Assertion".into(),
            name: "AuthnStatement",
        })?;
    let authn_instant = moment(authn, "AuthnInstant")?.ok_or(ReadError::MissingAttribute {
        element: "AuthnStatement".into(),
        name: "AuthnInstant",
    })?;
    not_expired(
        moment(authn, "SessionNotOnOrAfter")?,
        now,
        skew,
        "AuthnStatement SessionNotOnOrAfter",
    )?;
    let authn_context_class = match authn.optional_child(ns::SAML, "AuthnContext")? {
        Some(context) => context
            .optional_child(ns::SAML, "AuthnContextClassRef")?
            .map(|c| c.text().map(|t| t.trim().to_owned()))
            .transpose()?,
        None => None,
    };

    let latest = [conditions_until, Some(confirmed_until)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(confirmed_until);
    Ok(VerifiedLogin {
        assertion_id: assertion.required_attribute("ID")?.to_owned(),
        name_id: name_id.to_owned(),
        name_id_format: name_id_element.attribute("Format").map(str::to_owned),
        in_response_to: in_response_to.map(str::to_owned),
        authn_instant,
        session_index: authn.attribute("SessionIndex").map(str::to_owned),
        authn_context_class,
        attributes: read_attributes(assertion)?,
        replay_until: latest.plus_secs(skew),
        response_signed_by: None,
        assertion_signed_by: None,
    })
}

/// Every `AudienceRestriction` must name our entityID (SAML core §2.5.1.4: each restriction must be met),
/// and there must be at least one (SAML profiles §4.1.4.2).
fn check_audiences(
    conditions: XmlElement<'_, '_>,
    expect: &Expectations<'_>,
) -> Result<(), ResponseError> {
    let mut restrictions = 0;
    for restriction in conditions.children_named(ns::SAML, "AudienceRestriction") {
        restrictions += 1;
        let mut ours = false;
        for audience in restriction.children_named(ns::SAML, "Audience") {
            ours |= audience.text()?.trim() == expect.sp_entity_id;
        }
        if !ours {
            return Err(ResponseError::AudienceMismatch(
                "an AudienceRestriction does not name this service".into(),
            ));
        }
    }
    if restrictions == 0 {
        return Err(ResponseError::AudienceMismatch(
            "the assertion has no AudienceRestriction".into(),
        ));
    }
    Ok(())
}

/// The first bearer `SubjectConfirmation` whose data is for our ACS, unexpired and for the same request
/// as the response; answers its `InResponseTo` and its `NotOnOrAfter`.
fn confirm_bearer<'a>(
    subject: XmlElement<'a, '_>,
    expect: &Expectations<'_>,
    response_in_response_to: Option<&'a str>,
    now: UnixTime,
) -> Result<(Option<&'a str>, UnixTime), ResponseError> {
    let mut refusal = ResponseError::SubjectUnconfirmed;
    for confirmation in subject.children_named(ns::SAML, "SubjectConfirmation") {
        if confirmation.attribute("Method") != Some(CM_BEARER) {
            continue;
        }
        let Some(data) = confirmation.optional_child(ns::SAML, "SubjectConfirmationData")? else {
            refusal = ResponseError::RecipientMismatch("bearer confirmation without data".into());
            continue;
        };
        let recipient = data.attribute("Recipient");
        if recipient != Some(expect.acs_url) {
            refusal = ResponseError::RecipientMismatch(format!(
                "Recipient is `{}`",
                recipient.unwrap_or("(none)")
            ));
            continue;
        }
        // SAML profiles §4.1.4.2: a bearer confirmation carries NotOnOrAfter.
        let Some(until) = moment(data, "NotOnOrAfter")? else {
            refusal = ResponseError::Malformed(
                "bearer SubjectConfirmationData without NotOnOrAfter".into(),
            );
            continue;
        };
        if let Err(e) = not_expired(
            Some(until),
            now,
            expect.clock_skew_secs,
            "SubjectConfirmationData NotOnOrAfter",
        ) {
            refusal = e;
            continue;
        }
        if moment(data, "NotBefore")?.is_some_and(|t| now.plus_secs(expect.clock_skew_secs) < t) {
            refusal = ResponseError::NotYetValid("SubjectConfirmationData NotBefore".into());
            continue;
        }
        let in_response_to = data.attribute("InResponseTo");
        match (response_in_response_to, in_response_to) {
            (Some(a), Some(b)) if a != b => {
                refusal = ResponseError::InResponseToMismatch;
                continue;
            }
            (Some(_), None) | (None, Some(_)) => {
                refusal = ResponseError::InResponseToMismatch;
                continue;
            }
            _ => {}
        }
        return Ok((in_response_to, until));
    }
    Err(refusal)
}

/// Every `Attribute` of every `AttributeStatement`, values as text (a value holding an element or a
/// comment is refused; `xsi:nil` values are left out). The same `Name` in two statements merges.
fn read_attributes(assertion: XmlElement<'_, '_>) -> Result<Vec<Attribute>, ResponseError> {
    let mut attributes: Vec<Attribute> = Vec::new();
    for statement in assertion.children_named(ns::SAML, "AttributeStatement") {
        for element in statement.children() {
            if element.is(ns::SAML, "EncryptedAttribute") {
                return Err(ResponseError::Encrypted);
            }
            if !element.is(ns::SAML, "Attribute") {
                continue;
            }
            let name = element.required_attribute("Name")?;
            let mut values = Vec::new();
            for value in element.children_named(ns::SAML, "AttributeValue") {
                if value.attribute_ns(ns::XSI, "nil") == Some("true") {
                    continue;
                }
                values.push(value.text()?.to_owned());
            }
            match attributes.iter_mut().find(|a| a.name == name) {
                Some(existing) => existing.values.extend(values),
                None => attributes.push(Attribute {
                    name: name.to_owned(),
                    friendly_name: element.attribute("FriendlyName").map(str::to_owned),
                    values,
                }),
            }
        }
    }
    Ok(attributes)
}
