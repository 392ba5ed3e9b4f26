//! Wire types shared by the Tessera edge, origin and SDKs.
//!
//! Everything here is plain data with serde derives: requests and responses of the public HTTP surface
//! (the authorization API in [`authz`], the accounts API in [`accounts`], the edge's checks in [`check`],
//! the SAML connections API in [`saml`], a tenant's login-page [`branding`], the audit trail in [`audit`], what an origin says of its region in [`regions`]),
//! the client record the origin hands to the edge, and the stable error codes. No logic beyond
//! (de)serialisation lives here, and nothing here performs I/O.
//!
//! Implemented wire formats:
//! - RFC 6749 §5.1 (token response) and §5.2 (error response),
//! - RFC 7662 §2.2 (introspection response),
//! - RFC 8414 / OpenID Connect Discovery 1.0 (authorization server metadata, subset),
//! - RFC 9068 (JWT access token claims).

pub mod accounts;
pub mod audit;
pub mod authz;
pub mod branding;
pub mod check;
pub mod claims;
pub mod clients;
pub mod code;
pub mod error;
pub mod ids;
pub mod keys;
pub mod oauth;
pub mod oidc;
pub mod passkeys;
pub mod regions;
pub mod rfc3339;
pub mod saml;
pub mod time;
pub mod verify;

pub use claims::{AccessTokenClaims, Audience};
pub use clients::{ClientKind, ClientRecord};
pub use code::Code;
pub use error::ErrorBody;
pub use ids::{IdError, TenantId, Username};
pub use time::UnixTime;
