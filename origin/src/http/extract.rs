//! What every route shares, as axum extractors, so that a handler reads: extract → core → store → answer.
//!
//! - [`Service`]: the edge's service credential (bearer, compared in constant time).
//! - [`ServiceTenant`]: the service credential, then the path's `{tenant}` parsed as a
//!   [`tessera_proto::TenantId`] (one rule for edge and origin).
//! - [`RawBody`], [`TextBody`], [`JsonBody`]: bodies read within [`MAX_BODY_BYTES`]; every refusal is the
//!   JSON error every other error is (axum's own rejections are plain text).

use axum::extract::{FromRequest, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::StatusCode;
use tessera_proto::Code;
use tessera_proto::TenantId;

use crate::error::HttpError;
use crate::AppState;

/// The largest request body the origin reads (axum's default, stated): larger ones are refused with
/// `413 body_too_large`.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The caller presented the service credential.
pub struct Service;

impl FromRequestParts<AppState> for Service {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(HttpError::unauthorized)?;
        if state.service_token_matches(presented) {
            Ok(Self)
        } else {
            Err(HttpError::unauthorized())
        }
    }
}

/// The service credential, and the well-formed tenant the path names.
pub struct ServiceTenant(pub TenantId);

impl ServiceTenant {
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl FromRequestParts<AppState> for ServiceTenant {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        Service::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| HttpError::internal(format!("path parameters: {e}")))?;
        let tenant = params
            .iter()
            .find(|(name, _)| *name == "tenant")
            .map(|(_, value)| value)
            .ok_or_else(|| HttpError::internal("a tenant route without `{tenant}`"))?;
        Ok(Self(tenant.parse()?))
    }
}

/// A request body, read up to the route's body limit: `413 body_too_large` past the limit, else
/// `400 invalid_body` when it cannot be read.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    HttpError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        Code::BodyTooLarge,
                        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                    )
                } else {
                    HttpError::new(
                        StatusCode::BAD_REQUEST,
                        Code::InvalidBody,
                        format!(
                            "the request body could not be read: {}",
                            rejection.body_text()
                        ),
                    )
                }
            })
    }
}

/// A request body that must be UTF-8 text (a schema), refused as [`RawBody`] is, or `400 invalid_body`
/// when it is not UTF-8.
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        String::from_utf8(bytes.to_vec()).map(Self).map_err(|e| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidBody,
                format!("the request body must be UTF-8 text: {e}"),
            )
        })
    }
}

/// A JSON body of type `T`, read as [`RawBody`] is; a body that is not `T` is `400 invalid_request`.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        serde_json::from_slice(&bytes).map(Self).map_err(|e| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidRequest,
                format!("malformed body: {e}"),
            )
        })
    }
}
