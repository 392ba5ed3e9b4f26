//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) for a tenant's identity provider, under `/scim/v2/{tenant}/`.
//!
//! - [`http`]: the routes (discovery), the token check and the RFC 7644 error shape.
//! - [`users`]: the `Users` endpoints ([`user_list`]: lists and `.search`); [`user_resource`]: a row as a `User` resource and back, ETags;
//!   [`user_store`]: their SQL (one transaction per write, the user's row locked first).
//! - [`groups`]: the `Groups` endpoints; [`group_resource`]: a row and its members as a `Group` and back;
//!   [`group_store`]: their SQL — members are relationships `group:{id}#member@user:{id}` written in the
//!   transaction that writes the group, through the authz store's own write.
//! - [`tokens`]: the tenants' bearer tokens, created by an operator (`tessera-origin scim token create`),
//!   stored as SHA-256 hashes, revocable; a token is good for its own tenant only.
//!
//! The SCIM users are the users that sign in with passkeys (one user table per tenant,
//! `crate::accounts`); deactivating one ends its sessions (`Accounts::set_active`).

pub mod group_resource;
pub mod group_store;
pub mod groups;
pub mod http;
pub mod tokens;
pub mod user_list;
pub mod user_resource;
pub mod user_store;
pub mod users;
