//! The audit dashboard: `/audit`, a page of charts over one tenant's records (decisions per minute,
//! check latency by cache tier, sign-ins and failures, the permissions denied most), for operators.
//!
//! - Off unless the origin is given an admin token (`--admin-token`, `TESSERA_ADMIN_TOKEN`: a credential
//!   of its own, not the service token the edge and the peers hold).
//! - `GET /audit/login`, `POST /audit/login` (`token=` the admin token): a session cookie,
//!   `HttpOnly; SameSite=Strict; Path=/audit`, for 8 hours. The cookie is `expiry.mac`, HMAC-SHA-256 under
//!   a key derived from the admin token (changing the token ends every session). A typed secret gets a
//!   failure budget per client address (the TCP peer: behind a proxy, the proxy's): 5 wrong tokens a
//!   minute, then every try from there waits, the wait doubling up to 5 minutes; the check of the budget
//!   and the count of a failure happen under one lock, so concurrent tries cannot slip between them.
//! - `GET /audit` (the page; to the login without a session), `GET /audit/assets/{file}` (its scripts,
//!   styles and the vendored uPlot), `GET /audit/data/stats?tenant&from&to` (`401` without a session).
//! - `POST /audit/logout` ends the session in this browser.
//!
//! Every answer carries a strict CSP: scripts, styles and requests from this origin only, no inline code.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hmac::Mac as _;
use subtle::ConstantTimeEq as _;
use tessera_proto::Code;

use crate::error::HttpError;
use crate::http::extract::RawBody;
use crate::AppState;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const COOKIE: &str = "tessera_audit";
/// How long a session lasts.
const SESSION_MS: i64 = 8 * 3_600_000;
/// Wrong tokens a minute before tries must wait.
const FREE_FAILURES: u32 = 5;
const MAX_WAIT_MS: i64 = 300_000;

/// The files the page is made of, with their content types.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "audit.js",
        "text/javascript; charset=utf-8",
        include_str!("page/audit.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_str!("page/login.js"),
    ),
    (
        "uplot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("page/uplot.iife.min.js"),
    ),
    (
        "audit.css",
        "text/css; charset=utf-8",
        include_str!("page/audit.css"),
    ),
    (
        "uplot.min.css",
        "text/css; charset=utf-8",
        include_str!("page/uplot.min.css"),
    ),
];

/// Who may sign in, and how often they got it wrong.
#[derive(Clone)]
pub struct Dashboard {
    /// `None`: the dashboard is off.
    admin: Option<Arc<crate::ServiceToken>>,
    key: Arc<tessera_jose::Secret<[u8; 32]>>,
    budgets: Arc<Mutex<std::collections::HashMap<Option<std::net::IpAddr>, Budget>>>,
    secure: bool,
}

/// Client addresses whose failures are remembered at most (beyond, the ones with nothing pending are
/// forgotten, then everyone else shares one budget).
const MAX_BUDGETS: usize = 4096;

#[derive(Clone, Copy, Default)]
struct Budget {
    window_start_ms: i64,
    failures: u32,
    /// Failures beyond the free ones, in a row: the wait doubles with each.
    strikes: u32,
    wait_until_ms: i64,
}

impl Budget {
    fn quiet(&self, now_ms: i64) -> bool {
        now_ms >= self.wait_until_ms && now_ms - self.window_start_ms >= 60_000
    }

    fn fail(&mut self, now_ms: i64) {
        if now_ms - self.window_start_ms >= 60_000 {
            self.window_start_ms = now_ms;
            self.failures = 0;
        }
        self.failures += 1;
        if self.failures > FREE_FAILURES {
            self.strikes += 1;
            let wait = (1000_i64 << self.strikes.min(9)).min(MAX_WAIT_MS);
            self.wait_until_ms = now_ms + wait;
        }
    }
}

impl Dashboard {
    /// Sign-in with `admin` (`None`: the dashboard is off); `secure`: the origin is reached over HTTPS
    /// (the cookie says `Secure`).
    #[must_use]
    pub fn new(admin: Option<crate::ServiceToken>, secure: bool) -> Self {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"tessera-audit-session-v1\0");
        h.update(admin.as_ref().map_or("", |a| a.expose()).as_bytes());
        Self {
            admin: admin.map(Arc::new),
            key: Arc::new(tessera_jose::Secret::new(h.finalize().into())),
            budgets: Arc::default(),
            secure,
        }
    }

    /// The same dashboard for an origin reached over HTTPS or not.
    #[must_use]
    pub(crate) fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    fn mac(&self, expires_ms: i64) -> String {
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key.expose_secret())
        else {
            return String::new();
        };
        mac.update(expires_ms.to_string().as_bytes());
        super::chain::hex(&mac.finalize().into_bytes())
    }

    fn cookie_for(&self, now_ms: i64) -> String {
        let expires = now_ms + SESSION_MS;
        format!(
            "{COOKIE}={expires}.{}; Path=/audit; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.mac(expires),
            SESSION_MS / 1000,
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// Whether the request carries a live session.
    fn signed_in(&self, headers: &HeaderMap, now_ms: i64) -> bool {
        if self.admin.is_none() {
            return false;
        }
        let Some(value) = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, value)| value)
        else {
            return false;
        };
        let Some((expires, mac)) = value.split_once('.') else {
            return false;
        };
        let Ok(expires_ms) = expires.parse::<i64>() else {
            return false;
        };
        expires_ms > now_ms
            && expires_ms <= now_ms.saturating_add(SESSION_MS)
            && bool::from(self.mac(expires_ms).as_bytes().ct_eq(mac.as_bytes()))
    }

    /// Try `presented` from `peer`: `Ok(true)` when it is the admin token, `Ok(false)` when not (counted),
    /// `Err(ms)` when that address must wait first. One lock around the whole: concurrent tries queue.
    fn try_token(
        &self,
        peer: Option<std::net::IpAddr>,
        presented: &str,
        now_ms: i64,
    ) -> Result<bool, i64> {
        let Some(admin) = &self.admin else {
            return Ok(false);
        };
        let mut budgets = self.budgets.lock().map_err(|_| MAX_WAIT_MS)?;
        if budgets.len() >= MAX_BUDGETS && !budgets.contains_key(&peer) {
            budgets.retain(|_, b| !b.quiet(now_ms));
        }
        let key = if budgets.len() >= MAX_BUDGETS && !budgets.contains_key(&peer) {
            None
        } else {
            peer
        };
        let budget = budgets.entry(key).or_default();
        if now_ms < budget.wait_until_ms {
            return Err(budget.wait_until_ms - now_ms);
        }
        if admin.matches(presented) {
            budgets.remove(&key);
            Ok(true)
        } else {
            budget.fail(now_ms);
            Ok(false)
        }
    }
}

/// The TCP peer's address, when the server recorded it (`serve` does).
struct Peer(Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// `404` for every dashboard route while it is off.
fn off() -> HttpError {
    HttpError::new(
        StatusCode::NOT_FOUND,
        Code::NotFound,
        "the audit dashboard is off: start the origin with --admin-token",
    )
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(page))
        .route("/audit/login", get(login_page).post(login))
        .route("/audit/logout", post(logout))
        .route("/audit/assets/{file}", get(asset))
        .route("/audit/data/stats", get(stats))
}

/// The headers every answer of the dashboard has.
fn guarded(content_type: &str, cache: &str, body: impl IntoResponse) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, cache),
        (header::CONTENT_TYPE, content_type),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    resp
}

fn see_other(to: &str, cookie: Option<String>) -> Response {
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    guarded("text/plain; charset=utf-8", "no-store", resp)
}

async fn page(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    if state.dashboard.admin.is_none() {
        return Err(off());
    }
    if !state
        .dashboard
        .signed_in(&headers, crate::now().as_millis())
    {
        return Ok(see_other("/audit/login", None));
    }
    Ok(guarded(
        "text/html; charset=utf-8",
        "no-store",
        include_str!("page/index.html"),
    ))
}

async fn login_page(State(state): State<AppState>) -> Result<Response, HttpError> {
    if state.dashboard.admin.is_none() {
        return Err(off());
    }
    Ok(guarded(
        "text/html; charset=utf-8",
        "no-store",
        include_str!("page/login.html"),
    ))
}

async fn login(
    State(state): State<AppState>,
    Peer(peer): Peer,
    RawBody(body): RawBody,
) -> Result<Response, HttpError> {
    let d = &state.dashboard;
    if d.admin.is_none() {
        return Err(off());
    }
    let now_ms = crate::now().as_millis();
    let token = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    Ok(match d.try_token(peer, &token, now_ms) {
        Err(wait_ms) => {
            tracing::warn!(wait_ms, peer = ?peer, "audit dashboard sign-in refused: too many wrong tokens from this address");
            see_other("/audit/login?error=wait", None)
        }
        Ok(true) => {
            tracing::info!(peer = ?peer, "audit dashboard sign-in");
            see_other("/audit", Some(d.cookie_for(now_ms)))
        }
        Ok(false) => {
            tracing::warn!(peer = ?peer, "audit dashboard sign-in with a wrong token");
            see_other("/audit/login?error=1", None)
        }
    })
}

async fn logout(State(state): State<AppState>) -> Response {
    // Nothing to end on the server: the cookie is the session (8 hours at most).
    let gone = format!(
        "{COOKIE}=; Path=/audit; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if state.dashboard.secure {
            "; Secure"
        } else {
            ""
        }
    );
    see_other("/audit/login", Some(gone))
}

async fn asset(Path(file): Path<String>) -> Result<Response, HttpError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, Code::NotFound, "no such file"))?;
    Ok(guarded(content_type, "public, max-age=300", *body))
}

async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, HttpError> {
    let now_ms = crate::now().as_millis();
    if !state.dashboard.signed_in(&headers, now_ms) {
        return Err(HttpError::new(
            StatusCode::UNAUTHORIZED,
            Code::Unauthorized,
            "sign in at /audit/login",
        ));
    }
    let mut tenant = None;
    let (mut from, mut to) = (now_ms - 3_600_000, now_ms);
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match &*name {
            "tenant" => tenant = Some(value.into_owned()),
            "from" => from = super::http::time("from", &value)?,
            "to" => to = super::http::time("to", &value)?,
            other => {
                return Err(HttpError::new(
                    StatusCode::BAD_REQUEST,
                    Code::InvalidRequest,
                    format!(
                        "unknown parameter `{}` (tenant, from, to)",
                        other.escape_debug()
                    ),
                ))
            }
        }
    }
    let tenant: tessera_proto::TenantId = tenant.unwrap_or_else(|| "default".into()).parse()?;
    if from >= to
        || to
            .checked_sub(from)
            .is_none_or(|span| span > 31 * 86_400_000)
    {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidRequest,
            "`from` must be before `to`, at most 31 days apart",
        ));
    }
    let stats = state
        .audit
        .store
        .stats(tenant.as_str(), from, to)
        .await
        .map_err(HttpError::internal)?;
    Ok(guarded("application/json", "no-store", axum::Json(stats)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn dashboard() -> Dashboard {
        Dashboard::new(
            Some(crate::ServiceToken::new(TOKEN.into()).expect("a token")),
            false,
        )
    }

    fn with_cookie(c: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(c).expect("ascii"));
        h
    }

    #[test]
    fn a_session_is_the_mac_of_its_expiry_and_ends() {
        let d = dashboard();
        let now = 1_000_000;
        let set = d.cookie_for(now);
        let value = set.split(';').next().expect("a pair");
        assert!(d.signed_in(&with_cookie(&format!("other=1; {value}")), now));
        assert!(!d.signed_in(&with_cookie(value), now + SESSION_MS + 1));
        // Another expiry with the same MAC, a forged MAC, another token's session: refused.
        let (_, mac) = value.split_once('.').expect("a dot");
        let later = format!("{COOKIE}={}.{mac}", now + SESSION_MS - 1);
        assert!(!d.signed_in(&with_cookie(&later), now));
        assert!(!d.signed_in(
            &with_cookie(&format!("{COOKIE}={}.{}", now + 10, "0".repeat(64))),
            now
        ));
        let other = Dashboard::new(
            Some(
                crate::ServiceToken::new("fedcba9876543210fedcba9876543210".into())
                    .expect("a token"),
            ),
            false,
        );
        assert!(!other.signed_in(&with_cookie(value), now));
        assert!(!d.signed_in(&HeaderMap::new(), now));
        // Off: nothing signs in, not even a cookie made while it was on.
        assert!(!Dashboard::new(None, false).signed_in(&with_cookie(value), now));
    }

    #[test]
    fn wrong_tokens_make_that_address_wait_longer_and_only_that_one() {
        let d = dashboard();
        let now = 10_000_000;
        let (attacker, admin) = (Some([10, 0, 0, 1].into()), Some([10, 0, 0, 2].into()));
        for _ in 0..FREE_FAILURES {
            assert_eq!(d.try_token(attacker, "wrong", now), Ok(false));
        }
        assert_eq!(d.try_token(attacker, "wrong", now), Ok(false));
        let first = d.try_token(attacker, TOKEN, now).expect_err("a wait");
        assert_eq!(d.try_token(attacker, "wrong", now + first), Ok(false));
        let second = d
            .try_token(attacker, TOKEN, now + first)
            .expect_err("a longer wait");
        assert!(second > first, "{second} > {first}");
        // Another address is not locked out.
        assert_eq!(d.try_token(admin, TOKEN, now), Ok(true));
        assert_eq!(
            Dashboard::new(None, false).try_token(admin, TOKEN, now),
            Ok(false)
        );
    }
}
