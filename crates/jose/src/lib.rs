//! ES256 JSON Web Tokens for Tessera: issue, parse, verify and validate access tokens; JWK/JWKS; a key
//! ring that rotates safely.
//!
//! This crate is a *protocol core*: it performs no I/O, reads no clock and draws no randomness. `now`,
//! fresh key material, token ids and nonces are arguments. Signing and signature checks go through the
//! [`Signer`] and [`Verifier`] traits so that a shell can plug in its own back-end (the edge uses
//! WebCrypto); the pure-Rust [`p256`](crate::es256) back-end lives here and is the native path.
//!
//! What it implements:
//! - RFC 7515 (JWS compact serialisation), ES256 only (RFC 7518 §3.4: `R || S`, 64 bytes);
//! - RFC 7517 (JWK, JWKS) for EC P-256 public keys, with RFC 7638 thumbprints as `kid`;
//! - RFC 7519 / RFC 9068 (JWT access tokens, `typ: at+jwt`) and RFC 8725 (JWT best current practice);
//! - the OAuth 2.0 grant rules and the claims of issued tokens ([`grant`]: RFC 6749 §4.4 and §3.3, RFC 8707);
//! - the lifetime rule issuers follow so that rotation never removes a key a live token needs ([`lifetime`]).
//!
//! What it deliberately does not do: the algorithm is never taken from the token (it is pinned to
//! ES256); `jwk`, `jku`, `x5u` and `x5c` headers are never trusted; there is no `none`, no HMAC, no RSA,
//! no JWE. Parsing happens in two typed stages: [`UntrustedToken`] (before any crypto, [`ParseError`])
//! and [`VerifiedToken`] (after the signature and the claims were checked, [`ValidationError`]).

pub mod b64;
pub mod es256;
pub mod grant;
pub mod issue;
pub mod jwk;
pub mod lifetime;
pub mod oidc;
pub mod ring;
pub mod seal;
pub mod secret;
pub mod token;
pub mod validate;

pub use es256::{CryptoError, P256Signer, P256Verifier, Signer, SigningKey, Verifier};
pub use issue::{issue_access_token, issue_id_token, IssueError};
pub use jwk::{JwkError, Jwks, KeyLookup, PublicJwk};
pub use lifetime::{issued_ttl, LifetimeError, MIN_TOKEN_TTL, TOKEN_TTL_CEILING};
pub use ring::{KeyRing, RingKey, RotationPolicy, RotationReport};
pub use secret::Secret;
pub use token::{Header, ParseError, UntrustedToken, MAX_TOKEN_LEN};
pub use validate::{
    verify_token, RegisteredClaims, SignatureChecked, ValidationError, VerifiedToken, VerifyError,
    VerifyOptions,
};
