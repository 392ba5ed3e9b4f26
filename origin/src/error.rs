//! The HTTP error: what the client sees (status, stable code, safe message) apart from what the log sees.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tessera_proto::{Code, ErrorBody};

#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub code: Code,
    pub external_message: String,
    /// Logged, never sent.
    pub internal_message: Option<String>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl HttpError {
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            external_message: message.into(),
            internal_message: None,
            retry_after: None,
        }
    }

    #[must_use]
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: Code::InternalError,
            external_message: "internal error".to_owned(),
            internal_message: Some(detail.to_string()),
            retry_after: None,
        }
    }

    #[must_use]
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            Code::Unauthorized,
            "missing or invalid service credential",
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.internal_message {
            tracing::error!(code = self.code.as_str(), status = self.status.as_u16(), detail = %detail, "request failed");
        } else {
            tracing::info!(
                code = self.code.as_str(),
                status = self.status.as_u16(),
                "request refused"
            );
        }
        let mut response = (
            self.status,
            Json(ErrorBody::new(self.code, self.external_message)),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<tessera_proto::IdError> for HttpError {
    fn from(e: tessera_proto::IdError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.code, e.message)
    }
}

impl From<sqlx::Error> for HttpError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(format!("database: {e}"))
    }
}
