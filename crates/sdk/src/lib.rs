//! Tessera SDK: what a product team embeds to trust Tessera's tokens and ask it for decisions.
//!
//! - [`Verifier`] reads the issuer's discovery document and JWKS, then verifies access tokens and ID
//!   tokens offline with exactly the edge's profile and error codes (it is `tessera-jose`, the edge's
//!   verifier): ES256 only, `typ` checked (`at+jwt` for access tokens, `JWT` for ID tokens), `kid`
//!   required, `iss`, `aud`, `exp`, `nbf`, `iat` with a leeway.
//! - Keys are cached ([`keys`]): an unknown `kid` refetches the JWKS at most once per cooldown (30 s)
//!   however many requests ask at once; `Cache-Control: max-age` says when the keys are refreshed;
//!   while the issuer cannot be reached, the cached keys keep verifying.
//! - [`Checker`] asks the edge's `/v1/check`, with a local cache keyed by revision that honours zookies.
//! - With the `tower` feature, [`tower::AuthLayer`] authenticates requests to an axum/tower service.
//!
//! Runtime-agnostic: HTTP goes through a [`transport::Transport`] (reqwest by default, feature `reqwest`),
//! the time through a [`Clock`]; the caches use `tokio::sync` primitives, which need no tokio runtime.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera::Error> {
//! let verifier = tessera::Verifier::from_issuer("https://auth.example.com").await?;
//! let token = verifier.verify_access_token("eyJ...", "https://api.example.com").await?;
//! println!("{} of tenant {:?}", token.sub(), token.claim_str("tid"));
//! # Ok(()) }
//! ```

pub mod checker;
mod clock;
mod error;
pub mod keys;
#[cfg(feature = "tower")]
pub mod tower;
pub mod transport;
mod verifier;

pub use checker::{Checker, Credentials, Decision};
pub use clock::{Clock, SystemClock};
pub use error::Error;
pub use tessera_jose::VerifiedToken;
pub use tessera_proto::check::Consistency;
pub use tessera_proto::{Code, UnixTime};
pub use verifier::{Verifier, VerifierBuilder};
