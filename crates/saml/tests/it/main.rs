//! Integration tests of `tessera-saml`: the strict reader's refusals, IdP metadata shaped like Okta's,
//! Entra ID's and Keycloak's (with test-only certificates generated at each run), and hostile input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod c14n;
mod encrypted;
mod fixtures;
mod interop;
mod metadata;
mod reader;
mod response;
mod signed;
