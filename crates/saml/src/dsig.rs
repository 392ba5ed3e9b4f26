//! XML-DSig enveloped signatures, exactly the shape SAML uses and nothing else.
//!
//! [`verify_enveloped`] checks the signature *of one element* (a `Response` or an `Assertion`), and the
//! caller then reads values from that same element of that same parse. Every rule below is there to
//! leave an attacker no second reading of the document (signature wrapping, XSW) and no weak algorithm:
//!
//! - **Placement.** The `ds:Signature` is a direct child of the signed element, right after its
//!   `saml:Issuer` (or first when the element has no `Issuer`), as the SAML schemas place it; one only.
//!   A signature anywhere else is not this element's signature.
//! - **Shape.** `Signature` holds `SignedInfo`, `SignatureValue` and an optional `KeyInfo`, nothing else
//!   (no `ds:Object`, where wrapping attacks hide elements). `SignedInfo` holds one
//!   `CanonicalizationMethod`, one `SignatureMethod` and **one** `Reference`.
//! - **The reference names this element.** `URI` is `#` followed by the element's own `ID`. An empty
//!   `URI` (the whole document), an `xpointer(...)`, or another element's ID are refused: identifiers are
//!   unique in the document (the reader refused duplicates), so the digest covers exactly the element the
//!   values will be read from.
//! - **Transforms, exactly.** The enveloped-signature transform, then exclusive c14n (with an optional
//!   `InclusiveNamespaces` `PrefixList`), in that order; nothing else (no XPath, no XSLT, no
//!   `#WithComments`, no inclusive c14n). `SignedInfo` itself is canonicalised with exclusive c14n.
//! - **Algorithms.** SHA-256 digests; RSA-SHA256 (PKCS#1 v1.5) and ECDSA-SHA256 (P-256, `r || s` as XML
//!   Signature 1.1 §6.4.3 says) signatures. SHA-1 in either place, and every other URI, is refused.
//! - **Keys are pinned.** The signature must verify under one of the connection's certificates from the
//!   identity provider's metadata. `KeyInfo` is never read: a certificate an attacker puts there proves
//!   nothing.
//!
//! The digest is checked before the signature, so a document changed after signing reads
//! `saml_digest_mismatch` and a document signed by another key `saml_signature_invalid`.

use sha2::{Digest as _, Sha256};
use tessera_proto::Code;

use crate::c14n::{exclusive_c14n, C14nError};
use crate::keys::{Certificate, PublicKey};
use crate::reader::{base64_text, ns, ReadError, XmlElement};

/// Algorithm identifiers (URIs) this module knows.
pub mod alg {
    /// Exclusive XML canonicalisation 1.0, without comments.
    pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    /// The enveloped-signature transform.
    pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
    /// SHA-256 digest.
    pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 6931 §2.3.2).
    pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    /// ECDSA with SHA-256 (RFC 6931 §2.3.6).
    pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
}

/// The signature algorithms accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    RsaSha256,
    EcdsaSha256,
}

impl SignatureAlgorithm {
    fn from_uri(uri: &str) -> Result<Self, SignatureError> {
        match uri {
            alg::RSA_SHA256 => Ok(Self::RsaSha256),
            alg::ECDSA_SHA256 => Ok(Self::EcdsaSha256),
            other => Err(SignatureError::AlgorithmRefused(other.to_owned())),
        }
    }

    /// The URI, as `SignatureMethod` carries it.
    #[must_use]
    pub const fn uri(self) -> &'static str {
        match self {
            Self::RsaSha256 => alg::RSA_SHA256,
            Self::EcdsaSha256 => alg::ECDSA_SHA256,
        }
    }
}

/// What a verified signature was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedBy {
    pub algorithm: SignatureAlgorithm,
    /// SHA-256 of the pinned certificate whose key verified it.
    pub certificate_sha256: [u8; 32],
}

/// Why a signature was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The element carries no `ds:Signature` of its own.
    Missing { element: String },
    /// A signature or signature part where the SAML and XML-DSig schemas put none, or more than one:
    /// the shapes signature-wrapping attacks use.
    Wrapping(String),
    /// A digest, signature or canonicalisation algorithm other than the accepted ones (SHA-1 included).
    AlgorithmRefused(String),
    /// Transforms other than exactly enveloped-signature then exclusive c14n.
    TransformRefused(String),
    /// Not one `Reference` whose `URI` is `#` and the signed element's `ID`.
    ReferenceInvalid(String),
    /// The element's canonical form does not have the digest the signature covers.
    DigestMismatch,
    /// No pinned certificate's key verifies the signature (or the value is not a signature).
    Invalid,
    /// The signature's XML (a missing element, a comment inside a value).
    Read(ReadError),
    /// Canonicalisation (an `InclusiveNamespaces` entry that names no prefix).
    C14n(C14nError),
}

impl SignatureError {
    /// The stable code for this refusal.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Missing { .. } => Code::SamlSignatureMissing,
            Self::Wrapping(_) => Code::SamlWrapping,
            Self::AlgorithmRefused(_) => Code::SamlAlgorithmRefused,
            Self::TransformRefused(_) => Code::SamlTransformRefused,
            Self::ReferenceInvalid(_) => Code::SamlReferenceInvalid,
            Self::DigestMismatch => Code::SamlDigestMismatch,
            Self::Invalid => Code::SamlSignatureInvalid,
            Self::Read(e) => e.code(),
            Self::C14n(e) => e.code(),
        }
    }
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { element } => write!(f, "`{element}` is not signed"),
            Self::Wrapping(why) => write!(f, "signature in an unexpected place: {why}"),
            Self::AlgorithmRefused(uri) => write!(f, "algorithm `{uri}` is not accepted"),
            Self::TransformRefused(why) => write!(f, "transforms refused: {why}"),
            Self::ReferenceInvalid(why) => write!(f, "signature reference refused: {why}"),
            Self::DigestMismatch => {
                f.write_str("the signed element was changed after signing (digest mismatch)")
            }
            Self::Invalid => f.write_str(
                "the signature does not verify under any of the connection's certificates",
            ),
            Self::Read(e) => write!(f, "signature: {e}"),
            Self::C14n(e) => write!(f, "signature: {e}"),
        }
    }
}

impl std::error::Error for SignatureError {}

impl From<ReadError> for SignatureError {
    fn from(e: ReadError) -> Self {
        Self::Read(e)
    }
}

impl From<C14nError> for SignatureError {
    fn from(e: C14nError) -> Self {
        Self::C14n(e)
    }
}

/// The element's own enveloped `ds:Signature`, if it has one where the schema puts it. A signature
/// child anywhere else, or a second one, is refused as wrapping.
///
/// # Errors
/// [`SignatureError::Wrapping`].
pub fn own_signature<'a, 'input: 'a>(
    element: XmlElement<'a, 'input>,
) -> Result<Option<XmlElement<'a, 'input>>, SignatureError> {
    let mut children = element.children();
    let mut first = children.next();
    if first.is_some_and(|c| c.is(ns::SAML, "Issuer")) {
        first = children.next();
    }
    let own = first.filter(|c| c.is(ns::DS, "Signature"));
    let stray = element
        .children_named(ns::DS, "Signature")
        .any(|s| Some(s) != own);
    if stray {
        return Err(SignatureError::Wrapping(format!(
            "`{}` has a signature that is not right after its Issuer, or more than one",
            element.local_name()
        )));
    }
    Ok(own)
}

/// Verifies `element`'s enveloped signature under one of `certificates` (see the module
/// documentation for every rule).
///
/// # Errors
/// A [`SignatureError`] naming the first rule broken.
pub fn verify_enveloped(
    element: XmlElement<'_, '_>,
    certificates: &[Certificate],
) -> Result<SignedBy, SignatureError> {
    let id = element.required_attribute("ID")?;
    let signature = own_signature(element)?.ok_or_else(|| SignatureError::Missing {
        element: element.local_name().to_owned(),
    })?;
    let (signed_info, signature_value) = signature_parts(signature)?;

    let (canonicalization, method, reference) = signed_info_parts(signed_info)?;
    let signed_info_prefixes = c14n_prefixes(canonicalization)?;
    let algorithm = SignatureAlgorithm::from_uri(method.required_attribute("Algorithm")?)?;

    let reference_prefixes = check_reference(reference, id)?;
    let digest_method = reference
        .only_child(ns::DS, "DigestMethod")?
        .required_attribute("Algorithm")?;
    if digest_method != alg::SHA256 {
        return Err(SignatureError::AlgorithmRefused(digest_method.to_owned()));
    }
    let expected = base64_value(reference.only_child(ns::DS, "DigestValue")?)?;
    let prefixes: Vec<&str> = reference_prefixes.split_ascii_whitespace().collect();
    let canonical = exclusive_c14n(element, &prefixes, Some(signature))?;
    if Sha256::digest(&canonical).as_slice() != expected.as_slice() {
        return Err(SignatureError::DigestMismatch);
    }

    let prefixes: Vec<&str> = signed_info_prefixes.split_ascii_whitespace().collect();
    let signed = exclusive_c14n(signed_info, &prefixes, None)?;
    let value = base64_value(signature_value)?;
    certificates
        .iter()
        .find(|c| verifies(c.public_key(), algorithm, &signed, &value))
        .map(|c| SignedBy {
            algorithm,
            certificate_sha256: c.sha256_fingerprint(),
        })
        .ok_or(SignatureError::Invalid)
}

/// `SignedInfo` and `SignatureValue`, refusing anything but an optional `KeyInfo` beside them.
fn signature_parts<'a, 'input: 'a>(
    signature: XmlElement<'a, 'input>,
) -> Result<(XmlElement<'a, 'input>, XmlElement<'a, 'input>), SignatureError> {
    let mut children = signature.children();
    let (Some(signed_info), Some(value)) = (children.next(), children.next()) else {
        return Err(ReadError::MissingElement {
            parent: "Signature".into(),
            name: "SignatureValue",
        }
        .into());
    };
    if !signed_info.is(ns::DS, "SignedInfo") || !value.is(ns::DS, "SignatureValue") {
        return Err(SignatureError::Wrapping(
            "Signature must hold SignedInfo then SignatureValue".into(),
        ));
    }
    match (children.next(), children.next()) {
        (None, None) => {}
        (Some(key_info), None) if key_info.is(ns::DS, "KeyInfo") => {}
        _ => {
            return Err(SignatureError::Wrapping(
                "Signature holds more than SignedInfo, SignatureValue and KeyInfo (ds:Object?)"
                    .into(),
            ))
        }
    }
    Ok((signed_info, value))
}

type SignedInfoParts<'a, 'input> = (
    XmlElement<'a, 'input>,
    XmlElement<'a, 'input>,
    XmlElement<'a, 'input>,
);

/// `CanonicalizationMethod`, `SignatureMethod` and the one `Reference`, in that order and nothing else.
fn signed_info_parts<'a, 'input: 'a>(
    signed_info: XmlElement<'a, 'input>,
) -> Result<SignedInfoParts<'a, 'input>, SignatureError> {
    let children: Vec<_> = signed_info.children().collect();
    let references = children
        .iter()
        .filter(|c| c.is(ns::DS, "Reference"))
        .count();
    if references != 1 {
        return Err(SignatureError::ReferenceInvalid(format!(
            "SignedInfo has {references} references; exactly one is accepted"
        )));
    }
    match children.as_slice() {
        [c, m, r]
            if c.is(ns::DS, "CanonicalizationMethod")
                && m.is(ns::DS, "SignatureMethod")
                && r.is(ns::DS, "Reference") =>
        {
            Ok((*c, *m, *r))
        }
        _ => Err(SignatureError::Wrapping(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and Reference".into(),
        )),
    }
}

/// The `PrefixList` of a canonicalisation method (a `CanonicalizationMethod` or a `Transform`), which
/// must be exclusive c14n without comments.
fn c14n_prefixes<'a>(method: XmlElement<'a, '_>) -> Result<&'a str, SignatureError> {
    let uri = method.required_attribute("Algorithm")?;
    if uri != alg::EXC_C14N {
        return Err(SignatureError::AlgorithmRefused(uri.to_owned()));
    }
    let mut children = method.children();
    let list = match (children.next(), children.next()) {
        (None, _) => "",
        (Some(inclusive), None) if inclusive.is(ns::EXC_C14N, "InclusiveNamespaces") => {
            inclusive.required_attribute("PrefixList")?
        }
        _ => {
            return Err(SignatureError::TransformRefused(
                "exclusive c14n takes only an InclusiveNamespaces parameter".into(),
            ))
        }
    };
    Ok(list)
}

/// Checks that `reference` names `#id` with exactly the two accepted transforms, and answers the
/// exclusive c14n transform's `PrefixList`.
fn check_reference<'a>(reference: XmlElement<'a, '_>, id: &str) -> Result<&'a str, SignatureError> {
    let uri = reference.required_attribute("URI")?;
    if uri.strip_prefix('#') != Some(id) || id.is_empty() {
        return Err(SignatureError::ReferenceInvalid(format!(
            "the reference names `{uri}`, not the signed element `#{id}`"
        )));
    }
    let children: Vec<_> = reference.children().collect();
    let [transforms, digest_method, digest_value] = children.as_slice() else {
        return Err(SignatureError::TransformRefused(
            "a Reference holds Transforms, DigestMethod and DigestValue".into(),
        ));
    };
    if !transforms.is(ns::DS, "Transforms")
        || !digest_method.is(ns::DS, "DigestMethod")
        || !digest_value.is(ns::DS, "DigestValue")
    {
        return Err(SignatureError::TransformRefused(
            "a Reference holds Transforms, DigestMethod and DigestValue".into(),
        ));
    }
    let steps: Vec<_> = transforms.children().collect();
    let [enveloped, c14n] = steps.as_slice() else {
        return Err(SignatureError::TransformRefused(format!(
            "{} transforms; exactly enveloped-signature then exclusive c14n are accepted",
            steps.len()
        )));
    };
    let is_transform = |t: &XmlElement<'_, '_>| t.is(ns::DS, "Transform");
    if !is_transform(enveloped) || !is_transform(c14n) {
        return Err(SignatureError::TransformRefused(
            "Transforms holds something other than Transform".into(),
        ));
    }
    let first = enveloped.required_attribute("Algorithm")?;
    if first != alg::ENVELOPED || enveloped.children().next().is_some() {
        return Err(SignatureError::TransformRefused(format!(
            "the first transform is `{first}`, not enveloped-signature"
        )));
    }
    let second = c14n.required_attribute("Algorithm")?;
    if second != alg::EXC_C14N {
        return Err(SignatureError::TransformRefused(format!(
            "the second transform is `{second}`, not exclusive c14n"
        )));
    }
    c14n_prefixes(*c14n)
}

/// A base64 value (`DigestValue`, `SignatureValue`): one text node, XML whitespace allowed inside.
fn base64_value(element: XmlElement<'_, '_>) -> Result<Vec<u8>, SignatureError> {
    base64_text(element.text()?).ok_or(SignatureError::Invalid)
}

/// DER `DigestInfo` prefix of a SHA-256 hash (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Whether `signature` over `message` verifies under `key` with `algorithm` (a key of the other kind
/// never does).
fn verifies(
    key: &PublicKey,
    algorithm: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> bool {
    match (key, algorithm) {
        (PublicKey::Rsa(key), SignatureAlgorithm::RsaSha256) => {
            let scheme = rsa::Pkcs1v15Sign {
                hash_len: Some(32),
                prefix: SHA256_DIGEST_INFO.into(),
            };
            key.verify(scheme, &Sha256::digest(message), signature)
                .is_ok()
        }
        (PublicKey::P256(key), SignatureAlgorithm::EcdsaSha256) => {
            use p256::ecdsa::signature::Verifier as _;
            let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
                return false;
            };
            p256::ecdsa::VerifyingKey::from(key)
                .verify(message, &signature)
                .is_ok()
        }
        _ => false,
    }
}
