//! `GET /login` and `GET /login.js`: the sign-in page (plain HTML and JavaScript, no framework).

use worker::Response;

use crate::config::Config;
use crate::error::ApiError;

const HTML: &str = include_str!("../../static/login.html");
const JS: &str = include_str!("../../static/login.js");

/// Scripts only from this origin, no framing, nothing fetched elsewhere.
const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn page(body: &str, content_type: &str) -> Result<Response, ApiError> {
    let resp = Response::ok(body)?;
    let headers = resp.headers().clone();
    headers.set("content-type", content_type)?;
    headers.set("content-security-policy", CSP)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("cache-control", "no-cache")?;
    Ok(resp.with_headers(headers))
}

/// # Errors
/// `edge_misconfigured` when passkeys are not configured (the page would not work).
pub fn serve(cfg: &Config) -> Result<Response, ApiError> {
    cfg.login.relying_party()?;
    page(HTML, "text/html; charset=utf-8")
}

/// # Errors
/// Only if the runtime cannot build a response.
pub fn script() -> Result<Response, ApiError> {
    page(JS, "text/javascript; charset=utf-8")
}
