//! The OpenID Connect provider: authorization code flow with PKCE, ID tokens, userinfo, revocation,
//! RP-initiated logout, consent.
//!
//! - [`authorize`]: `/oauth2/authorize` and how a person gets through it on the login page.
//! - [`browser`]: the browser's session cookie (who is signed in, for single sign-on and `prompt=none`).
//! - [`tokens`]: the code and client-refresh grants of `/oauth2/token`, ID tokens.
//! - [`endpoints`]: `/oauth2/userinfo`, `/oauth2/revoke`, `/oauth2/logout`, the person's consents.
//! - [`pages`]: the form post, the sign-out confirmation and error pages.
//!
//! The rules (reading a request, what it needs, PKCE, `at_hash`, ID-token claims) are
//! `tessera_jose::oidc`; what must be spent once or remembered (codes, client sessions, consents) is the
//! origin's (`/internal/v1/tenants/{t}/oauth/...`).

pub mod authorize;
pub mod browser;
pub mod endpoints;
pub mod pages;
pub mod tokens;
