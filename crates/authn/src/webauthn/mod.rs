//! WebAuthn Level 3 relying-party verification: registration (§7.1) and authentication (§7.2).
//!
//! The ceremonies' browser side and storage stay outside: the edge hands in the bytes the browser sent
//! (already base64url-decoded), the challenge it issued, and for authentication the stored credential; it
//! gets back a [`NewCredential`] to store or an [`Assertion`] with the new signature counter. Every refusal
//! is a [`WebAuthnError`] with a stable code.
//!
//! What is checked, in the spec's order: `clientDataJSON` (`type`, `challenge`, `origin` against the
//! configured list, `crossOrigin`/`topOrigin`), the RP ID hash, the UP flag (always), UV (when the policy
//! requires it), BE/BS consistency (BS without BE refused; BE may not change after registration), the
//! credential algorithm against the allowed list, attestation (`none`, and `packed` self-attestation:
//! `alg` equal to the credential's, signature by the credential key; certificate chains are refused as not
//! supported yet), credential id length (≤ 1023 bytes) and agreement with `rawId`, user handles, and the
//! signature counter (a counter that does not move forward, when either side is non-zero, is reported as a
//! possibly cloned authenticator).
//!
//! Public keys are COSE (RFC 9052/9053, RFC 8230) read with `coset`: ES256 (-7, P-256), EdDSA (-8,
//! Ed25519) and RS256 (-257, 2048–4096-bit RSA, as Windows Hello uses).
//! Signatures are checked through [`SignatureVerifier`], the same shape as the token verifier (WebCrypto at
//! the edge; natively [`NativeVerifier`], whose ES256 path is `tessera-jose`'s p256 verifier).
//!
//! Pure: no I/O, no clock, no randomness (challenges are the caller's).

pub mod challenge;
mod cose;
mod parse;
mod verify;

pub use cose::{CoseAlgorithm, CredentialPublicKey};
pub use parse::{der_signature_to_raw, AuthenticatorData, Flags};
pub use verify::{
    verify_authentication, verify_registration, Assertion, AssertionResponse, AttestationKind,
    NativeVerifier, NewCredential, RegistrationResponse, Signature, SignatureVerifier,
    StoredCredential,
};

use sha2::{Digest as _, Sha256};
use tessera_proto::Code;

/// Longest credential id a relying party must accept (§7.1 step 26: "at most 1023 bytes").
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// Shortest credential id accepted (authenticators use at least 16 random bytes).
pub const MIN_CREDENTIAL_ID_LEN: usize = 16;

/// Whether user verification (PIN, biometrics) is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserVerification {
    Required,
    Preferred,
    Discouraged,
}

impl UserVerification {
    /// The value of `userVerification` in ceremony options.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Preferred => "preferred",
            Self::Discouraged => "discouraged",
        }
    }
}

/// The relying party's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelyingParty {
    /// The RP ID: a registrable domain suffix of the origins (e.g. `example.com`, or `localhost`).
    pub id: String,
    /// Exact origins the ceremonies may run on (`https://login.example.com`).
    pub origins: Vec<String>,
    /// Origins allowed to embed a ceremony in a cross-origin iframe (`topOrigin`); empty: refuse
    /// cross-origin ceremonies.
    pub top_origins: Vec<String>,
    pub user_verification: UserVerification,
    /// Credential algorithms accepted at registration, in order of preference.
    pub algorithms: Vec<CoseAlgorithm>,
}

impl RelyingParty {
    /// SHA-256 of the RP ID, as authenticator data carries it.
    #[must_use]
    pub fn id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.id.as_bytes()).into()
    }
}

/// Why a ceremony was refused. Every variant has a stable [`code`](Self::code); the edge logs the detail
/// and shows the person a plain sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebAuthnError {
    /// `clientDataJSON` is not the JSON object the spec defines.
    ClientDataMalformed(String),
    /// `type` is not `webauthn.create` (registration) / `webauthn.get` (authentication).
    WrongCeremony(String),
    ChallengeMismatch,
    OriginNotAllowed(String),
    /// `crossOrigin` is true but this relying party does not allow being embedded.
    CrossOriginNotAllowed,
    /// `topOrigin` is missing, not allowed, or present without `crossOrigin`.
    TopOriginNotAllowed(String),
    AttestationMalformed(String),
    AuthenticatorDataMalformed(String),
    RpIdMismatch,
    UserNotPresent,
    UserNotVerified,
    /// BS set without BE, or BE different from registration.
    BackupStateInvalid(String),
    /// Registration without attested credential data.
    CredentialDataMissing,
    CredentialIdLength(usize),
    /// `rawId` differs from the id in authenticator data or from the stored credential.
    CredentialIdMismatch,
    PublicKeyMalformed(String),
    AlgorithmNotAllowed(i64),
    AttestationUnsupported(String),
    AttestationInvalid(String),
    SignatureMalformed(String),
    SignatureInvalid,
    UserHandleMissing,
    UserHandleMismatch,
    /// The signature counter did not increase: possibly a cloned authenticator.
    SignCountRegressed {
        stored: u32,
        presented: u32,
    },
    /// The signature back-end failed (not the signature).
    Backend(String),
}

impl WebAuthnError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::ClientDataMalformed(_) => Code::ClientDataMalformed,
            Self::WrongCeremony(_) => Code::WrongCeremonyType,
            Self::ChallengeMismatch => Code::ChallengeMismatch,
            Self::OriginNotAllowed(_) => Code::OriginNotAllowed,
            Self::CrossOriginNotAllowed => Code::CrossOriginNotAllowed,
            Self::TopOriginNotAllowed(_) => Code::TopOriginNotAllowed,
            Self::AttestationMalformed(_) => Code::AttestationMalformed,
            Self::AuthenticatorDataMalformed(_) => Code::AuthenticatorDataMalformed,
            Self::RpIdMismatch => Code::RpIdMismatch,
            Self::UserNotPresent => Code::UserNotPresent,
            Self::UserNotVerified => Code::UserNotVerified,
            Self::BackupStateInvalid(_) => Code::BackupStateInvalid,
            Self::CredentialDataMissing => Code::CredentialDataMissing,
            Self::CredentialIdLength(_) => Code::CredentialIdLength,
            Self::CredentialIdMismatch => Code::CredentialIdMismatch,
            Self::PublicKeyMalformed(_) => Code::PublicKeyMalformed,
            Self::AlgorithmNotAllowed(_) => Code::AlgorithmNotAllowed,
            Self::AttestationUnsupported(_) => Code::AttestationUnsupported,
            Self::AttestationInvalid(_) => Code::AttestationInvalid,
            Self::SignatureMalformed(_) => Code::SignatureMalformed,
            Self::SignatureInvalid => Code::SignatureInvalid,
            Self::UserHandleMissing => Code::UserHandleMissing,
            Self::UserHandleMismatch => Code::UserHandleMismatch,
            Self::SignCountRegressed { .. } => Code::SignCountRegressed,
            Self::Backend(_) => Code::VerifierUnavailable,
        }
    }
}

impl std::fmt::Display for WebAuthnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientDataMalformed(d) => write!(f, "clientDataJSON is malformed: {d}"),
            Self::WrongCeremony(t) => write!(f, "clientDataJSON type `{t}` is not this ceremony's"),
            Self::ChallengeMismatch => f.write_str("the challenge is not the one issued"),
            Self::OriginNotAllowed(o) => write!(f, "origin `{o}` is not allowed"),
            Self::CrossOriginNotAllowed => f.write_str("cross-origin ceremonies are not allowed"),
            Self::TopOriginNotAllowed(o) => write!(f, "top origin `{o}` is not allowed"),
            Self::AttestationMalformed(d) => write!(f, "attestationObject is malformed: {d}"),
            Self::AuthenticatorDataMalformed(d) => {
                write!(f, "authenticator data is malformed: {d}")
            }
            Self::RpIdMismatch => f.write_str("the credential is scoped to another RP ID"),
            Self::UserNotPresent => f.write_str("the authenticator did not see the user (UP unset)"),
            Self::UserNotVerified => {
                f.write_str("user verification is required but was not performed (UV unset)")
            }
            Self::BackupStateInvalid(d) => write!(f, "backup flags are inconsistent: {d}"),
            Self::CredentialDataMissing => {
                f.write_str("registration carries no attested credential data")
            }
            Self::CredentialIdLength(n) => write!(
                f,
                "credential id is {n} bytes; {MIN_CREDENTIAL_ID_LEN} to {MAX_CREDENTIAL_ID_LEN} are allowed"
            ),
            Self::CredentialIdMismatch => f.write_str("the credential id does not match"),
            Self::PublicKeyMalformed(d) => write!(f, "credential public key: {d}"),
            Self::AlgorithmNotAllowed(a) => write!(f, "COSE algorithm {a} is not allowed"),
            Self::AttestationUnsupported(d) => write!(f, "attestation not supported: {d}"),
            Self::AttestationInvalid(d) => write!(f, "attestation statement is invalid: {d}"),
            Self::SignatureMalformed(d) => write!(f, "signature is malformed: {d}"),
            Self::SignatureInvalid => f.write_str("the signature does not verify"),
            Self::UserHandleMissing => f.write_str("the authenticator returned no user handle"),
            Self::UserHandleMismatch => f.write_str("the user handle is not this credential's user"),
            Self::SignCountRegressed { stored, presented } => write!(
                f,
                "signature counter went from {stored} to {presented}: possibly a cloned authenticator"
            ),
            Self::Backend(d) => write!(f, "signature verification failed to run: {d}"),
        }
    }
}

impl std::error::Error for WebAuthnError {}
