//! Errors at the edge: what the client sees (status, stable code, safe message) apart from what the log sees.

use serde_json::json;
use tessera_proto::oauth::OAuthErrorResponse;
use tessera_proto::{Code, ErrorBody};
use worker::{Headers, Response};

use crate::log;

/// Which wire shape the error takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `{"error","message"}`.
    Tessera,
    /// RFC 6749 §5.2 `{"error","error_description"}`.
    OAuth,
    /// An HTML page for a person (the authorization and logout endpoints, reached by navigation).
    Page,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: Code,
    pub external_message: String,
    /// Logged, never sent.
    pub internal_message: Option<String>,
    pub shape: Shape,
    pub www_authenticate: Option<&'static str>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
    /// The handler recorded this refusal in the audit trail itself (with who asked), so the router
    /// does not record it again (`crate::audit::refused`).
    pub audited: bool,
}

impl ApiError {
    pub fn new(status: u16, code: Code, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            external_message: message.into(),
            internal_message: None,
            shape: Shape::Tessera,
            www_authenticate: None,
            retry_after: None,
            audited: false,
        }
    }

    pub fn oauth(status: u16, code: Code, message: impl Into<String>) -> Self {
        Self {
            shape: Shape::OAuth,
            ..Self::new(status, code, message)
        }
    }

    /// RFC 6749 `invalid_client`: the same answer for every reason (unknown, disabled, wrong secret).
    #[must_use]
    pub fn invalid_client(internal: impl Into<String>) -> Self {
        Self {
            www_authenticate: Some("Basic realm=\"tessera\", charset=\"UTF-8\""),
            internal_message: Some(internal.into()),
            ..Self::oauth(401, Code::InvalidClient, "client authentication failed")
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self {
            internal_message: Some(detail.into()),
            ..Self::new(500, Code::InternalError, "internal error")
        }
    }

    pub fn misconfigured(detail: impl Into<String>) -> Self {
        Self {
            internal_message: Some(detail.into()),
            ..Self::new(500, Code::EdgeMisconfigured, "the edge is misconfigured")
        }
    }

    pub fn unavailable(code: Code, message: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            internal_message: Some(detail.into()),
            ..Self::new(503, code, message)
        }
    }

    /// This refusal is in the audit trail already.
    #[must_use]
    pub fn audited(mut self) -> Self {
        self.audited = true;
        self
    }

    #[must_use]
    pub fn with_shape(mut self, shape: Shape) -> Self {
        self.shape = shape;
        self
    }

    /// The response, after logging the internal detail.
    ///
    /// # Errors
    /// Only if the JS runtime cannot build a response.
    pub fn into_response(self) -> worker::Result<Response> {
        let level = if self.status >= 500 {
            log::Level::Error
        } else {
            log::Level::Info
        };
        log::event(
            level,
            "request_failed",
            &[
                ("status", json!(self.status)),
                ("code", json!(self.code.as_str())),
                ("detail", json!(self.internal_message)),
            ],
        );
        let body = match self.shape {
            Shape::Page => {
                return crate::oidc::pages::error(
                    self.status,
                    self.code.as_str(),
                    &self.external_message,
                );
            }
            Shape::Tessera => {
                serde_json::to_string(&ErrorBody::new(self.code, self.external_message))
            }
            Shape::OAuth => serde_json::to_string(&OAuthErrorResponse {
                error: self.code.as_str().to_owned(),
                error_description: Some(self.external_message),
            }),
        }
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        headers.set("cache-control", "no-store")?;
        if let Some(challenge) = self.www_authenticate {
            headers.set("www-authenticate", challenge)?;
        }
        if let Some(secs) = self.retry_after {
            headers.set("retry-after", &secs.to_string())?;
        }
        Ok(Response::ok(body)?
            .with_status(self.status)
            .with_headers(headers))
    }
}

/// The code the edge answers with when the origin refused with `origin_code`: the origin's own code for the
/// refusals a caller can act on (a bad question, an unknown type, a zookie the origin cannot honour), and
/// `origin_refused` for anything else (the origin's message still says what).
#[must_use]
pub fn stable_code(origin_code: &str) -> Code {
    match origin_code.parse() {
        Ok(
            code @ (Code::NoSchema
            | Code::UnknownType
            | Code::UnknownPermission
            | Code::NotARelation
            | Code::SubjectNotAllowed
            | Code::RelationshipSyntax
            | Code::DepthExceeded
            | Code::ZookieInvalid
            | Code::ZookieMalformed
            | Code::RevisionUnavailable
            | Code::InvalidRequest
            | Code::InvalidTenant
            | Code::CaveatContextInvalid
            | Code::CaveatFailed),
        ) => code,
        _ => Code::OriginRefused,
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        Self::internal(e.to_string())
    }
}
