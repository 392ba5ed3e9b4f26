//! Authentication checks for Tessera.
//!
//! - [`client_secret`]: OAuth 2.0 client secrets (RFC 6749 §2.3.1), stored as Argon2id PHC strings.
//!   [`CLIENT_SECRET_PARAMS`] is the one cost policy, and [`verify_client_secret`] honours whatever
//!   parameters a stored hash carries, so the policy can be raised later without breaking stored hashes.
//! - [`budget`]: failure budgets with exponential backoff for secrets a person types (TOTP codes, recovery codes).
//! - [`recovery`]: account recovery codes (ten per set, forgiving to read back, kept as keyed digests).
//! - [`totp`]: RFC 6238 one-time passwords with a ±1 step window, a replay guard and `otpauth://` URIs.
//! - [`webauthn`]: WebAuthn Level 3 relying-party verification of passkey registration and authentication,
//!   with COSE keys (ES256, EdDSA) read by `coset` and signatures checked through a verifier trait
//!   (WebCrypto at the edge, pure Rust natively).
//!
//! Like every Tessera core this crate performs no I/O, reads no clock and draws no randomness: times,
//! salts, secrets and challenges are arguments.

mod base32;
pub mod budget;
pub mod client_secret;
pub mod recovery;
pub mod totp;
pub mod webauthn;

pub use client_secret::{
    hash_client_secret, verify_client_secret, ClientSecretError, CLIENT_SECRET_PARAMS,
};
