//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) for a tenant's identity provider, under `/scim/v2/{tenant}/`.
//!
//! - [`http`]: the routes (discovery today), the token check and the RFC 7644 error shape.
//! - [`tokens`]: the tenants' bearer tokens, created by an operator (`tessera-origin scim token create`),
//!   stored as SHA-256 hashes, revocable; a token is good for its own tenant only.
//!
//! The SCIM users are the users that sign in with passkeys (one user table per tenant,
//! `crate::accounts`); deactivating one ends its sessions (`Accounts::set_active`).

pub mod http;
pub mod tokens;
