//! Authentication checks for Tessera.
//!
//! Today: OAuth 2.0 client secrets (RFC 6749 §2.3.1), stored as Argon2id PHC strings. Like every Tessera
//! core this crate performs no I/O and draws no randomness: salts and secrets are arguments.
//!
//! It deliberately does not choose cost parameters per call: [`CLIENT_SECRET_PARAMS`] is the one policy,
//! and [`verify_client_secret`] honours whatever parameters a stored hash carries, so the policy can be
//! raised later without breaking stored hashes.

pub mod client_secret;

pub use client_secret::{
    hash_client_secret, verify_client_secret, ClientSecretError, CLIENT_SECRET_PARAMS,
};
