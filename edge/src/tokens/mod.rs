//! Tokens: issuing (`/oauth2/token`: client credentials, refresh), verifying (`/v1/tokens/verify`,
//! introspection), the key ring (a Durable Object) and the WebCrypto signer/verifier, client records.

pub mod client_auth;
pub mod clients;
pub mod keyring;
pub mod oauth;
pub mod verify;
pub mod webcrypto;
