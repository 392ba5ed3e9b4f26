//! SAML 2.0 for Tessera's service provider: a strict XML reader, identity-provider metadata, exclusive
//! canonicalisation, XML-DSig enveloped signatures and the judgement of a `Response`: a verifier whose
//! every rule is ours to see and test.
//!
//! This crate is a *protocol core*: it performs no I/O, reads no clock and draws no randomness. Documents
//! arrive as bytes, and (later stages) `now` and stored request IDs arrive as arguments; the origin owns
//! HTTP, storage and the replay cache.
//!
//! What it implements so far:
//! - [`reader`]: one strict parse of an untrusted document ([`UntrustedXml`]) with size, node and depth
//!   limits; no `DOCTYPE` (so no entities, no XXE, no billion laughs), no processing instructions, UTF-8
//!   only; every identifier attribute unique; values read only when they are a single text node (no
//!   comment inside a NameID: CVE-2017-11428);
//! - [`metadata`]: SAML 2.0 metadata (`saml-metadata-2.0-os` §2.3–§2.4) of one identity provider
//!   ([`IdpMetadata`]): entityID, SingleSignOnService per binding (HTTP-Redirect, HTTP-POST), the signing
//!   certificates (several, for rollover), `WantAuthnRequestsSigned`, NameIDFormats;
//! - [`keys`]: a certificate's public key, RSA of at least 2048 bits or ECDSA P-256, nothing else.
//! - [`c14n`]: Exclusive XML Canonicalization 1.0 (W3C 2002) without comments of one element subtree
//!   ([`exclusive_c14n`]), with the `InclusiveNamespaces` `PrefixList` and one excluded descendant (the
//!   enveloped `ds:Signature`): the bytes a signature reference digests. Names keep their prefixes as
//!   written (read from the source text), namespaces come from each element's in-scope set.
//! - [`dsig`]: the enveloped signature of one element ([`verify_enveloped`]): placement, shape, one
//!   reference to the element's own ID, exactly enveloped + exc-c14n transforms, SHA-256, RSA-SHA256 or
//!   ECDSA-SHA256 under a pinned certificate; `KeyInfo` never read.
//! - [`response`]: a `Response` judged by the Web Browser SSO profile ([`verify_response`]): one
//!   assertion and no other assertion or signature anywhere (signature wrapping), the connection's
//!   signed part, status, issuers, destination; then the assertion's own checks (`assertion`: bearer
//!   confirmation, audience, times with a small skew, attributes). The answer ([`VerifiedLogin`]) holds
//!   only values read from the signed element.
//! - [`encrypted`]: an `EncryptedAssertion` ([`verify_encrypted_response`]): RSA-OAEP and AES-GCM, AES-CBC
//!   only inside a signed response, one uniform failure; the plaintext judged in place.
//!
//! What it deliberately does not do: validate certificate chains, expiry or revocation (the metadata
//! *pins* certificates: the key is the trust, as in every SAML deployment), verify a signature on the
//! metadata itself (an administrator uploads it; it is trusted by that channel), accept IdP metadata
//! without a signing certificate (samael/xmlsec then verify nothing), or read any value from a second
//! parse of the document.
//!
//! # Why our own verifier over a strict parser
//! Decided after a research pass (issue 11), and the reasons are the design:
//! - **One parse.** Signature wrapping (XSW) lives in the gap between the tree a verifier checks and the
//!   tree an application reads. Here one `roxmltree` parse feeds both the signature check and every value
//!   read, and the values are read only from the element the signature covers.
//! - **A parser that cannot be talked into I/O.** `roxmltree` 0.21 is pure Rust, read-only, keeps no DTD
//!   when told not to, and has a node limit; we add a byte limit and a depth limit, and refuse `DOCTYPE`
//!   outright.
//! - **A small canonicaliser of our own.** Exclusive XML canonicalisation (exc-c14n 1.0, with the
//!   `InclusiveNamespaces` `PrefixList`, comments dropped) of the signed element only: what SAML uses, and
//!   no more.
//! - **Pure-Rust crypto already proven here.** `rsa` 0.10 (PKCS#1 v1.5 with SHA-256; 2048 bits minimum;
//!   not 0.9, RUSTSEC-2023-0071), `p256` (the workspace's, ECDSA-SHA256), `x509-cert` 0.3 only to read a
//!   certificate's public key, `sha2`. Everything builds for wasm32 like the other cores.
//!
//! Rejected: libxmlsec1 bindings (samael, xmlsec): a C parser on attacker-controlled XML, a verifier that
//! checks with libxml2 while the application reads with another parser, and checks silently skipped when
//! the metadata has no certificate; an `xmlsec1` subprocess (40–70 ms per call); `xml-sec` 0.4 (a
//! pre-release); `bergshamra` (a single maintainer and a parser of its own).
//!
//! Errors come in one enum per stage — [`ReadError`] (the document), [`KeyError`] (a certificate),
//! [`MetadataError`] (the metadata's meaning), [`C14nError`] (canonicalisation), [`SignatureError`] (a
//! signature), [`ResponseError`] (a response) — and each maps itself
//! to a stable [`tessera_proto::Code`] with `code()`.

mod assertion;
pub mod c14n;
pub mod dsig;
pub mod encrypted;
pub mod keys;
pub mod metadata;
pub mod reader;
pub mod response;

pub use c14n::{exclusive_c14n, C14nError};
pub use dsig::{verify_enveloped, SignatureAlgorithm, SignatureError, SignedBy};
pub use encrypted::{verify_encrypted_response, ContentCipher, DecryptError};
pub use keys::{Certificate, KeyError, PublicKey, MIN_RSA_BITS};
pub use metadata::{Binding, IdpMetadata, MetadataError, MetadataOptions};
pub use reader::{ns, Limits, ReadError, UntrustedXml, XmlElement};
pub use response::{
    verify_response, Attribute, Expectations, ResponseError, SignedPart, VerifiedLogin,
    DEFAULT_CLOCK_SKEW_SECS,
};
