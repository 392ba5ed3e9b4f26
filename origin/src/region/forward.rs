//! Sending a request on to another region's origin and its answer back, unchanged but for the hop headers.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use tessera_proto::regions::{FORWARDED_HEADER, VIA_HEADER, WRITE_APPLIED_HEADER};
use tessera_proto::Code;

use super::{Peer, Regions};
use crate::error::HttpError;

/// Headers that belong to one hop (RFC 9110 §7.6.1), and the ones the client recomputes.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !hop_by_hop(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// Send `parts` + `body` to `peer` and answer with what it answered. When it cannot be reached the answer
/// is `503 primary_unavailable`, with `Tessera-Write-Applied: no` when the request never left (the
/// connection was refused), `unknown` otherwise (a timeout: it may have been applied).
pub async fn forward(regions: &Regions, peer: &Peer, parts: &Parts, body: Bytes) -> Response {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    if let Ok(me) = HeaderValue::from_str(regions.name()) {
        headers.insert(HeaderName::from_static(FORWARDED_HEADER), me);
    }
    let Some(client) = regions.client() else {
        return unreachable(peer, true, "no HTTP client (a single region)");
    };
    let sent = client
        .request(parts.method.clone(), format!("{}{path}", peer.url))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let mut answer = match sent {
        Ok(a) => a,
        Err(e) => {
            let never_sent = e.is_connect();
            return unreachable(peer, never_sent, &e.without_url().to_string());
        }
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    copy_headers(answer.headers(), &mut out_headers);
    // The answer whole, within a bound (a peer is trusted, a broken one must not exhaust memory).
    let mut bytes = Vec::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) if bytes.len() + chunk.len() <= MAX_ANSWER_BYTES => {
                bytes.extend_from_slice(&chunk);
            }
            Ok(Some(_)) => return unreachable(peer, false, "an answer over the size bound"),
            Ok(None) => break,
            Err(e) => return unreachable(peer, false, &e.without_url().to_string()),
        }
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    if let Ok(me) = HeaderValue::from_str(regions.name()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(VIA_HEADER), me);
    }
    response
}

/// The largest answer taken from a peer (a lookup of many resources is the largest the origin sends).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The primary region could not be asked: `503 primary_unavailable`, saying whether a write may have been
/// applied there.
fn unreachable(peer: &Peer, never_sent: bool, detail: &str) -> Response {
    // `detail` never holds the URL (and so no caller's query): reqwest's error without it.
    tracing::warn!(peer = peer.name.as_str(), detail = %detail.escape_debug(), never_sent, "forward to the primary region failed");
    refuse(
        Code::PrimaryUnavailable,
        "the primary region cannot be reached; try again",
        Some(never_sent),
    )
}

/// A `503` with `code`; `never_sent`: `Some(true)` when a write certainly was not applied, `Some(false)`
/// when it may have been, `None` for reads.
pub fn refuse(code: Code, message: &str, never_sent: Option<bool>) -> Response {
    let mut e = HttpError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
    e.retry_after = Some(1);
    let mut response = e.into_response();
    if let Some(never) = never_sent {
        response.headers_mut().insert(
            HeaderName::from_static(WRITE_APPLIED_HEADER),
            HeaderValue::from_static(if never { "no" } else { "unknown" }),
        );
    }
    // Answers that depend on where they were computed are never shared by caches in between.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
