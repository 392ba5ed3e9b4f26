//! SAML 2.0 service provider (SP) connections: per tenant, several identity providers (IdPs), each a
//! *connection* named by the operator (`tessera-origin saml create --tenant T --name N ...`, or
//! `POST /v1/tenants/{tenant}/saml/connections`).
//!
//! What lives here (the shell: storage, HTTP, keys); the protocol rules live in `tessera-saml`:
//! - [`connection`]: what a connection is ([`Connection`]) and how a request to create one is checked
//!   ([`NewConnection`]: the IdP metadata read by [`tessera_saml::IdpMetadata::parse`], which refuses
//!   metadata without a signing certificate; names, email domains, attribute map, RelayState allow-list);
//! - [`store`]: [`SamlStore`], their SQL; [`requests`]: the sign-in requests we sent (single use, ten
//!   minutes) and the replay cache of accepted assertion IDs, both shared by every origin through the
//!   database;
//! - [`sp_key`]: our RSA-2048 key per connection and its self-signed certificate, sealed at rest;
//! - [`sp`]: our identity towards one IdP ([`SpIdentity`]: entity ID, ACS URL) and our metadata XML;
//! - [`authn_request`]: the `AuthnRequest` and the HTTP-Redirect (signed when the IdP asks) and
//!   HTTP-POST bindings;
//! - [`relay_state`]: where a sign-in may return to (a relative path, or an allow-listed URL);
//! - [`http`]: `GET /saml/{tenant}/{connection}/metadata` and `/login`; [`admin`]: the connections API
//!   and the edge's look-up by email domain;
//! - [`acs`]: reading the form an IdP posts to the assertion consumer service ([`AcsForm`]).
//!
//! - [`sign_in`]: `POST /saml/{tenant}/{connection}/acs`, the assertion consumer service: the response
//!   verified by `tessera-saml`, the request spent, the assertion remembered, the person found or
//!   created ([`people`]: just in time, with groups), and the browser handed to the edge.

pub mod acs;
pub mod admin;
pub mod authn_request;
pub mod connection;
pub mod http;
pub mod people;
pub mod relay_state;
pub mod requests;
pub mod sign_in;
pub mod sp;
pub mod sp_key;
pub mod store;

pub use acs::{AcsForm, AcsFormError};
pub use connection::{Connection, NameIdFormat, NewConnection};
pub use relay_state::RelayStateRefused;
pub use requests::{IssuedRequest, RequestRefusal, SpentRequest};
pub use sp::SpIdentity;
pub use sp_key::SpKey;
pub use store::SamlStore;

use axum::http::StatusCode;
use tessera_proto::Code;

use crate::error::HttpError;

/// Why a connection could not be created, found, or used.
#[derive(Debug)]
pub enum SamlError {
    /// No such connection in that tenant.
    NotFound,
    /// The tenant already has a connection of that name.
    Exists,
    /// Another connection (of any tenant) claims this email domain.
    DomainTaken(String),
    /// The IdP metadata was refused (its own stable code).
    Metadata(tessera_saml::MetadataError),
    /// A field of the request broke its rule: the code names which.
    Invalid {
        code: Code,
        message: String,
    },
    /// A sign-in request that is unknown, spent, expired, or presented with another RelayState.
    RequestRefused(RequestRefusal),
    /// Our SP key could not be made, sealed or opened (e.g. sealed under another secrets key).
    SpKey(String),
    Randomness(String),
    /// Compressing or encoding a message failed (never expected: it all happens in memory).
    Encoding(String),
    Database(sqlx::Error),
}

impl SamlError {
    pub(crate) fn invalid(code: Code, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    /// The stable code for this error.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::NotFound => Code::SamlConnectionNotFound,
            Self::Exists => Code::SamlConnectionExists,
            Self::DomainTaken(_) => Code::SamlDomainTaken,
            Self::Metadata(e) => e.code(),
            Self::Invalid { code, .. } => *code,
            Self::RequestRefused(_) => Code::SamlRequestUnknown,
            Self::SpKey(_) => Code::SamlSpKeyUnusable,
            Self::Randomness(_) | Self::Encoding(_) | Self::Database(_) => Code::InternalError,
        }
    }
}

impl std::fmt::Display for SamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such SAML connection"),
            Self::Exists => f.write_str("the tenant already has a SAML connection of that name"),
            Self::DomainTaken(d) => {
                write!(f, "email domain `{d}` is already claimed by a connection")
            }
            Self::Metadata(e) => write!(f, "identity provider metadata refused: {e}"),
            Self::Invalid { message, .. } => f.write_str(message),
            Self::RequestRefused(r) => write!(f, "sign-in request refused: {r}"),
            Self::SpKey(e) => write!(f, "service provider key: {e}"),
            Self::Randomness(e) => write!(f, "randomness: {e}"),
            Self::Encoding(e) => write!(f, "encoding: {e}"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for SamlError {}

impl crate::store::retry::Retryable for SamlError {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Database(e) if e.is_retryable())
    }
}

impl From<sqlx::Error> for SamlError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<tessera_saml::MetadataError> for SamlError {
    fn from(e: tessera_saml::MetadataError) -> Self {
        Self::Metadata(e)
    }
}

impl From<SamlError> for HttpError {
    fn from(e: SamlError) -> Self {
        let status = match &e {
            SamlError::NotFound => StatusCode::NOT_FOUND,
            SamlError::Exists | SamlError::DomainTaken(_) => StatusCode::CONFLICT,
            SamlError::Metadata(_) | SamlError::Invalid { .. } | SamlError::RequestRefused(_) => {
                StatusCode::BAD_REQUEST
            }
            SamlError::SpKey(_)
            | SamlError::Randomness(_)
            | SamlError::Encoding(_)
            | SamlError::Database(_) => {
                return Self {
                    code: e.code(),
                    ..Self::internal(&e)
                };
            }
        };
        match e {
            // One sentence outward whichever check failed; the log gets which.
            SamlError::RequestRefused(reason) => {
                tracing::info!(reason = %reason, "saml sign-in request refused");
                Self::new(
                    status,
                    Code::SamlRequestUnknown,
                    "the response answers no pending sign-in request",
                )
            }
            other => Self::new(status, other.code(), other.to_string()),
        }
    }
}

/// Lower-case hex, for fingerprints and request IDs.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Text escaped for an XML attribute value or element content (`&`, `<`, `>`, `"`, `'`, and the
/// whitespace characters an attribute would otherwise normalise away).
#[must_use]
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Create a connection: check the request ([`NewConnection::check`]), draw its SP key (off the async
/// executor: RSA key generation), seal it under `secrets_key`, store it all. The CLI and the API both
/// come here.
///
/// # Errors
/// Whatever [`NewConnection::check`] and [`SamlStore::create`] refuse; key generation or sealing.
pub async fn create_connection(
    store: &SamlStore,
    secrets_key: &tessera_jose::Secret<[u8; 32]>,
    public_url: &str,
    tenant: &tessera_proto::TenantId,
    request: tessera_proto::saml::CreateConnectionRequest,
    now: tessera_proto::UnixTime,
) -> Result<Connection, SamlError> {
    let new = NewConnection::check(request)?;
    // A cheap answer for the common mistake, before the costly key; the insert decides races.
    if store.get(tenant, &new.id).await?.is_some() {
        return Err(SamlError::Exists);
    }
    let common_name = SpIdentity::new(public_url, tenant, &new.id).entity_id;
    let key = tokio::task::spawn_blocking(move || SpKey::generate(&common_name, now))
        .await
        .map_err(|e| SamlError::SpKey(format!("key generation task: {e}")))??;
    let sealed = key.seal(secrets_key, tenant, &new.id)?;
    store
        .create(tenant, &new, &sealed, key.certificate(), now)
        .await?;
    store.get(tenant, &new.id).await?.ok_or(SamlError::NotFound)
}
