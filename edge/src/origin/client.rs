//! The one way the edge calls the origin: `ORIGIN_URL` and a path, the `ORIGIN_SERVICE_TOKEN` bearer, JSON
//! both ways. Every answer is sorted into one of three, which each caller maps to its own words:
//! - [`Reply::Answer`]: `200` with the body the contract names;
//! - [`Reply::Refused`]: a `4xx` in the origin's words (`{error, message}`, `Retry-After`), e.g. an unknown
//!   permission, a taken username, `404` for something that does not exist;
//! - [`OriginError::Unreachable`]: no answer, a `5xx`, or the origin refusing the service credential
//!   (`401`/`403`: a misconfigured edge, never the caller's fault). Callers answer `503` with their own code
//!   (`origin_unavailable`, `consistency_unavailable`) or fall back to what they cached.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_proto::Code;
use tessera_proto::ErrorBody;
use worker::{Env, Fetch, Method, Request, RequestInit};

use crate::config::{secret, Config};
use crate::error::ApiError;

/// What the origin said.
pub enum Reply<T> {
    Answer(T),
    Refused(Refusal),
}

/// A refusal in the origin's words.
pub struct Refusal {
    pub status: u16,
    pub body: ErrorBody,
    pub retry_after: Option<u64>,
}

/// Why there is no reply.
pub enum OriginError {
    /// No usable answer; the detail is for the log.
    Unreachable(String),
    /// A `200` whose body is not what the contract names.
    Contract(String),
    /// The edge could not make the request (a missing secret, the runtime).
    Edge(ApiError),
}

impl From<worker::Error> for OriginError {
    fn from(e: worker::Error) -> Self {
        Self::Edge(e.into())
    }
}

impl OriginError {
    /// The usual mapping: `503 code` with `message` for an unreachable origin, `500` otherwise.
    pub fn into_api(self, code: Code, message: &str) -> ApiError {
        match self {
            Self::Unreachable(detail) => ApiError::unavailable(code, message, detail),
            Self::Contract(detail) => ApiError::internal(detail),
            Self::Edge(e) => e,
        }
    }
}

/// Call the origin.
///
/// # Errors
/// See [`OriginError`].
pub async fn call<T: DeserializeOwned>(
    env: &Env,
    cfg: &Config,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<Reply<T>, OriginError> {
    let token = secret(env, "ORIGIN_SERVICE_TOKEN").map_err(OriginError::Edge)?;
    let url = format!("{}{path}", cfg.origin_url);
    let mut init = RequestInit::new();
    init.with_method(method.clone());
    if let Some(b) = body {
        let text = serde_json::to_string(b)
            .map_err(|e| OriginError::Edge(ApiError::internal(e.to_string())))?;
        init.with_body(Some(wasm_bindgen::JsValue::from_str(&text)));
    }
    let req = Request::new_with_init(&url, &init)?;
    req.headers().set(
        "authorization",
        &format!("Bearer {}", token.expose_secret()),
    )?;
    if body.is_some() {
        req.headers().set("content-type", "application/json")?;
    }
    let mut resp = Fetch::Request(req)
        .send()
        .await
        .map_err(|e| OriginError::Unreachable(format!("{method} {url}: {e}")))?;
    let status = resp.status_code();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let text = resp.text().await.unwrap_or_default();
    if status == 200 {
        return serde_json::from_str(&text)
            .map(Reply::Answer)
            .map_err(|e| OriginError::Contract(format!("{method} {url}: bad json: {e}")));
    }
    match (status, serde_json::from_str::<ErrorBody>(&text)) {
        (400..=499, Ok(body)) if status != 401 && status != 403 => Ok(Reply::Refused(Refusal {
            status,
            body,
            retry_after,
        })),
        _ => Err(OriginError::Unreachable(format!(
            "{method} {url} answered {status}: {text}"
        ))),
    }
}
