//! The subcommands of `tessera-origin`, one file each.

pub mod audit;
pub mod authz;
pub mod clients;
pub mod jwt;
pub mod saml;
pub mod scim;
pub mod users;
