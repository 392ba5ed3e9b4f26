//! [`AuthLayer`]: a tower layer that lets through only requests with a valid access token (feature
//! `tower`). Works with axum, hyper and tonic.
//!
//! The verified token goes into the request's extensions (`req.extensions().get::<VerifiedToken>()`;
//! axum: `Extension<VerifiedToken>`). Refusals are RFC 6750: `401` with `WWW-Authenticate: Bearer
//! error="invalid_token"` and a JSON body `{"error": "<the edge's code>"}` (no token: `unauthorized`),
//! or `503 verifier_unavailable` when the issuer could not be read and no cached key helps.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let verifier = Arc::new(tessera::Verifier::from_issuer("https://auth.example.com").await?);
//! let app: axum::Router = axum::Router::new()
//!     .route("/notes", axum::routing::get(|| async { "notes" }))
//!     .layer(tessera::tower::AuthLayer::new(verifier, "https://api.example.com"));
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{header, HeaderValue, Request, Response, StatusCode};
use tessera_jose::VerifiedToken;

use crate::verifier::Verifier;

/// Authenticates requests with `verifier`, for `audience`.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
    audience: Arc<str>,
}

impl AuthLayer {
    #[must_use]
    pub fn new(verifier: Arc<Verifier>, audience: &str) -> Self {
        Self {
            verifier,
            audience: audience.into(),
        }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around another.
#[derive(Clone, Debug)]
pub struct Authenticated<S> {
    inner: S,
    layer: AuthLayer,
}

/// The bearer token of an `Authorization` header, parsed (never sliced).
fn bearer(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn refusal<B: From<String>>(
    status: StatusCode,
    code: &str,
    challenge: &'static str,
) -> Response<B> {
    let mut resp = Response::new(B::from(format!("{{\"error\":\"{code}\"}}")));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    resp
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for Authenticated<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone that was made ready is the one called (tower's contract); a fresh clone stays here.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let layer = self.layer.clone();
        Box::pin(async move {
            let Some(token) = req.headers().get(header::AUTHORIZATION).and_then(bearer) else {
                return Ok(refusal(StatusCode::UNAUTHORIZED, "unauthorized", "Bearer"));
            };
            let token = token.to_owned();
            match layer
                .verifier
                .verify_access_token(&token, &layer.audience)
                .await
            {
                Ok(verified) => {
                    req.extensions_mut().insert::<VerifiedToken>(verified);
                    inner.call(req).await
                }
                Err(e) if e.is_token_error() => Ok(refusal(
                    StatusCode::UNAUTHORIZED,
                    &e.code(),
                    "Bearer error=\"invalid_token\"",
                )),
                Err(e) => Ok(refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &e.code(),
                    "Bearer",
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;
    use http::HeaderValue;

    #[test]
    fn bearer_tokens_are_parsed() {
        assert_eq!(bearer(&HeaderValue::from_static("Bearer abc")), Some("abc"));
        assert_eq!(
            bearer(&HeaderValue::from_static("bearer  abc ")),
            Some("abc")
        );
        assert_eq!(bearer(&HeaderValue::from_static("Basic abc")), None);
        assert_eq!(bearer(&HeaderValue::from_static("Bearer")), None);
        assert_eq!(bearer(&HeaderValue::from_static("Bearer ")), None);
    }
}
