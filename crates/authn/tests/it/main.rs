//! Integration tests of the authentication checks: TOTP against RFC 6238's vectors, WebAuthn ceremonies
//! against a software authenticator built here (every negative case the verifier must refuse).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod totp;
mod webauthn;
