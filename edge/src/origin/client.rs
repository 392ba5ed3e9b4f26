//! The one way the edge calls the origin: a region's origin (`ORIGINS`, or `ORIGIN_URL` for one) and a
//! path, the `ORIGIN_SERVICE_TOKEN` bearer, JSON both ways. Which region, in which order, and when a region
//! is skipped is [`super::regions`]; this file sends. Every answer is sorted into one of three, which each
//! caller maps to its own words:
//! - [`Reply::Answer`]: `200` with the body the contract names;
//! - [`Reply::Refused`]: a `4xx` in the origin's words (`{error, message}`, `Retry-After`), e.g. an unknown
//!   permission, a taken username, `404` for something that does not exist;
//! - [`OriginError::Unreachable`]: no answer from any region tried, a `5xx`, or the origin refusing the
//!   service credential (`401`/`403`: a misconfigured edge, never the caller's fault). Callers answer
//!   `503` with their own code (`origin_unavailable`, `consistency_unavailable`) or fall back to what they
//!   cached.
//!
//! Each answer also says where it was computed ([`Answered`]: the origin's `Tessera-Region`, and how far
//! that region's replica was behind, `Tessera-Replica-Lag-Ms`).

use std::cell::RefCell;

use futures_util::future::{select, Either};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_proto::regions::{
    REGION_HEADER, REGION_HEAD_HEADER, REPLICA_LAG_HEADER, WRITE_APPLIED_HEADER,
};
use tessera_proto::Code;
use tessera_proto::ErrorBody;
use worker::{AbortController, Delay, Env, Fetch, Method, Request, RequestInit};

use super::regions::{Breakers, Plan, Region, Repeat};
use crate::config::{secret, Config};
use crate::error::ApiError;

thread_local! {
    /// This isolate's circuit breakers, one per region.
    static BREAKERS: RefCell<Breakers> = RefCell::new(Breakers::default());
    /// Where this isolate runs (`request.cf`: colo, continent). An isolate lives in one data centre, so
    /// every request it serves says the same.
    static LOCATION: RefCell<(Option<String>, Option<String>)> = const { RefCell::new((None, None)) };
    /// Whether a request's `cf` named the colo already: once per isolate is enough.
    static LOCATION_READ: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Remember where this isolate runs, from the `cf` of the first request that names its colo (called for
/// every request; once found, nothing more is read). Read field by field: `worker::Cf::colo` panics when
/// `cf` lacks `colo`, as it does in plain workerd and for requests that did not come through Cloudflare's
/// front line.
pub fn note_location(req: &Request) {
    if LOCATION_READ.with(std::cell::Cell::get) {
        return;
    }
    let field = |object: &wasm_bindgen::JsValue, name: &str| {
        js_sys::Reflect::get(object, &wasm_bindgen::JsValue::from_str(name)).ok()
    };
    let Some(cf) = field(req.inner(), "cf").filter(wasm_bindgen::JsValue::is_object) else {
        return;
    };
    let text = |name| field(&cf, name).and_then(|v| v.as_string());
    if let Some(colo) = text("colo") {
        LOCATION.with(|l| *l.borrow_mut() = (Some(colo), text("continent")));
        LOCATION_READ.with(|read| read.set(true));
    }
}

/// Where this edge is: `EDGE_LOCATION`, else the colo `request.cf` named.
#[must_use]
pub fn location(cfg: &Config) -> Option<String> {
    cfg.edge_location
        .clone()
        .or_else(|| LOCATION.with(|l| l.borrow().0.clone()))
}

/// Where an answer was computed.
#[derive(Clone, Debug, Default)]
pub struct Answered {
    /// The region whose origin computed it (`Tessera-Region`), when the origin said.
    pub region: Option<String>,
    pub lag: Lag,
}

/// How far behind the primary the database that computed an answer was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lag {
    /// Computed by the primary (no `Tessera-Replica-Lag-Ms`).
    #[default]
    None,
    /// By a replica this many milliseconds behind.
    Ms(u64),
    /// By a replica that could not tell: what it says is not a head to learn.
    Unknown,
}

impl Lag {
    fn from_header(v: Option<&str>) -> Self {
        match v.map(str::trim) {
            None => Self::None,
            Some(v) => v.parse().map_or(Self::Unknown, Self::Ms),
        }
    }

    /// When a head read at `asked_at` was the primary's head: then, or a replica's lag before (never
    /// later than `asked_at`, whatever an origin says).
    #[must_use]
    pub fn dated(self, asked_at: tessera_proto::UnixTime) -> tessera_proto::UnixTime {
        let lag = match self {
            Self::Ms(ms) => i64::try_from(ms).unwrap_or(i64::MAX),
            Self::None | Self::Unknown => 0,
        };
        tessera_proto::UnixTime::from_millis(asked_at.as_millis().saturating_sub(lag))
    }
}

/// How to ask.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ask {
    /// A `fully_consistent` read for the edge's own cache may be answered at the head of the nearest
    /// region's replica (within its lag bound), which then says its lag: the edge keys caches by revision
    /// and dates the head by the lag, so it needs no trip to the primary region.
    pub region_head: bool,
    /// The edge records the decisions it asks for in its own audit events (with the latency its caller
    /// saw): the origin does not record them again.
    pub recorded_by_edge: bool,
}

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
    call_with(env, cfg, method, path, body, Ask::default())
        .await
        .map(|(reply, _)| reply)
}

/// Whether a call may be repeated at another region after an unknown outcome: the origin's reads.
fn repeat(method: &Method, path: &str) -> Repeat {
    const READS: [&str; 6] = [
        "/check",
        "/check/bulk",
        "/expand",
        "/lookup/resources",
        "/lookup/subjects",
        "/relationships/read",
    ];
    if *method == Method::Get
        || (*method == Method::Post && READS.iter().any(|r| path.ends_with(r)))
    {
        Repeat::Safe
    } else {
        Repeat::Write
    }
}

/// Call the origin of the nearest healthy region, failing over to the next (see [`super::regions`]), and
/// say where the answer was computed.
///
/// # Errors
/// See [`OriginError`].
pub async fn call_with<T: DeserializeOwned>(
    env: &Env,
    cfg: &Config,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
    ask: Ask,
) -> Result<(Reply<T>, Answered), OriginError> {
    let token = secret(env, "ORIGIN_SERVICE_TOKEN").map_err(OriginError::Edge)?;
    let body = body
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| OriginError::Edge(ApiError::internal(e.to_string())))?;
    let (colo, continent) = match &cfg.edge_location {
        Some(l) => (Some(l.clone()), None),
        None => LOCATION.with(|l| l.borrow().clone()),
    };
    let order = cfg.origins.order(colo.as_deref(), continent.as_deref());
    let repeat = repeat(&method, path);
    let mut plan = Plan::new(&cfg.origins, order, repeat);
    let mut failures: Vec<String> = Vec::new();
    loop {
        // Each region is admitted by its breaker only when its turn comes.
        let next = BREAKERS
            .with(|b| plan.next(&cfg.origins, &mut b.borrow_mut(), crate::now().as_millis()));
        let Some(region) = next.and_then(|i| cfg.origins.region(i)) else {
            break;
        };
        let sent = Sent {
            region,
            method: &method,
            path,
            body: body.as_deref(),
            token: token.expose_secret(),
            ask,
            timeout_ms: cfg.origins.timeout_ms,
            request_id: &cfg.request_id,
        };
        match sent.once().await {
            Ok(Attempt::Replied(reply, answered)) => {
                BREAKERS.with(|b| b.borrow_mut().success(&region.name));
                return Ok((reply, answered));
            }
            Ok(Attempt::Failed {
                detail,
                region_down,
                elsewhere,
            }) => {
                BREAKERS.with(|b| {
                    let mut b = b.borrow_mut();
                    if region_down {
                        b.failure(&region.name, crate::now().as_millis());
                    } else {
                        b.success(&region.name);
                    }
                });
                failures.push(detail);
                let again = match repeat {
                    Repeat::Safe => elsewhere != Elsewhere::No,
                    Repeat::Write => elsewhere == Elsewhere::NotApplied,
                };
                if !again {
                    break;
                }
            }
            // The origin answered, in words the contract does not name: it is up.
            Err(e @ OriginError::Contract(_)) => {
                BREAKERS.with(|b| b.borrow_mut().success(&region.name));
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(OriginError::Unreachable(failures.join("; ")))
}

/// One request to one region.
struct Sent<'a> {
    region: &'a Region,
    method: &'a Method,
    path: &'a str,
    body: Option<&'a str>,
    token: &'a str,
    ask: Ask,
    timeout_ms: u32,
    request_id: &'a str,
}

enum Attempt<T> {
    Replied(Reply<T>, Answered),
    /// `region_down`: the region's origin itself did not answer (a transport error, a timeout, a gateway's
    /// 502/503/504), which counts against its breaker; `elsewhere`: whether another region may be asked.
    Failed {
        detail: String,
        region_down: bool,
        elsewhere: Elsewhere,
    },
}

/// Whether a failed request may go to another region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elsewhere {
    /// No: the origin answered with an error another would give too (its own `500`).
    No,
    /// A read may (the region could not serve it); a write may not (it may have been applied).
    ReadsOnly,
    /// Yes, also a write: it certainly was not applied.
    NotApplied,
}

impl Sent<'_> {
    async fn once<T: DeserializeOwned>(&self) -> Result<Attempt<T>, OriginError> {
        let (method, url) = (self.method, format!("{}{}", self.region.url, self.path));
        let mut init = RequestInit::new();
        init.with_method(method.clone());
        if let Some(b) = self.body {
            init.with_body(Some(wasm_bindgen::JsValue::from_str(b)));
        }
        let req = Request::new_with_init(&url, &init)?;
        req.headers()
            .set("authorization", &format!("Bearer {}", self.token))?;
        if self.body.is_some() {
            req.headers().set("content-type", "application/json")?;
        }
        if self.ask.region_head {
            req.headers().set(REGION_HEAD_HEADER, "accept")?;
        }
        if self.ask.recorded_by_edge {
            req.headers()
                .set(tessera_proto::audit::RECORDED_BY_HEADER, "edge")?;
        }
        if !self.request_id.is_empty() {
            req.headers()
                .set(tessera_proto::audit::REQUEST_ID_HEADER, self.request_id)?;
        }
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
            let text = resp.text().await?;
            Ok::<_, worker::Error>((resp, text))
        };
        let timeout = Delay::from(std::time::Duration::from_millis(u64::from(self.timeout_ms)));
        let (resp, text) = match select(std::pin::pin!(exchange), timeout).await {
            Either::Left((Ok(done), _)) => done,
            Either::Left((Err(e), _)) => return Ok(down(format!("{method} {url}: {e}"))),
            Either::Right(((), _)) => {
                controller.abort();
                return Ok(down(format!(
                    "{method} {url}: no answer within {} ms",
                    self.timeout_ms
                )));
            }
        };
        let header = |name: &str| resp.headers().get(name).ok().flatten();
        let status = resp.status_code();
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let answered = Answered {
            region: header(REGION_HEADER).filter(|r| valid_region(r)),
            lag: Lag::from_header(header(REPLICA_LAG_HEADER).as_deref()),
        };
        if status == 200 {
            return serde_json::from_str(&text)
                .map(|t| Attempt::Replied(Reply::Answer(t), answered))
                .map_err(|e| OriginError::Contract(format!("{method} {url}: bad json: {e}")));
        }
        let parsed = serde_json::from_str::<ErrorBody>(&text);
        match (status, parsed) {
            (400..=499, Ok(body)) if status != 401 && status != 403 => Ok(Attempt::Replied(
                Reply::Refused(Refusal {
                    status,
                    body,
                    retry_after,
                }),
                answered,
            )),
            // The origin answered in its own words that it cannot serve this now (its primary region is
            // out of reach, its replica too far behind): the region is up, another may serve it.
            (503, Ok(body)) => Ok(Attempt::Failed {
                detail: format!("{method} {url} answered 503 {}", body.error),
                region_down: false,
                elsewhere: if header(WRITE_APPLIED_HEADER).as_deref() == Some("no") {
                    Elsewhere::NotApplied
                } else {
                    Elsewhere::ReadsOnly
                },
            }),
            // The origin's own error (a JSON body): another region would most likely answer the same.
            (_, Ok(body)) if status != 502 && status != 504 => Ok(Attempt::Failed {
                detail: format!("{method} {url} answered {status} {}", body.error),
                region_down: false,
                elsewhere: Elsewhere::No,
            }),
            _ => Ok(down(format!(
                "{method} {url} answered {status}: {}",
                text.chars().take(300).collect::<String>()
            ))),
        }
    }
}

/// A failure of the region's origin itself.
fn down<T>(detail: String) -> Attempt<T> {
    Attempt::Failed {
        detail,
        region_down: true,
        elsewhere: Elsewhere::ReadsOnly,
    }
}

/// A region name as origins write it (so that a header passed on is ours, not arbitrary text).
fn valid_region(r: &str) -> bool {
    (1..=32).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::Lag;
    use tessera_proto::UnixTime;

    #[test]
    fn a_replicas_lag_dates_its_head_back_never_forward() {
        assert_eq!(Lag::from_header(None), Lag::None);
        assert_eq!(Lag::from_header(Some(" 250 ")), Lag::Ms(250));
        assert_eq!(Lag::from_header(Some("unknown")), Lag::Unknown);
        assert_eq!(Lag::from_header(Some("-5")), Lag::Unknown);
        let at = UnixTime::from_millis(10_000);
        assert_eq!(Lag::Ms(250).dated(at), UnixTime::from_millis(9_750));
        assert_eq!(Lag::None.dated(at), at);
        assert_eq!(Lag::Unknown.dated(at), at);
        assert!(
            Lag::Ms(u64::MAX).dated(at) < at,
            "an absurd lag saturates, never wraps"
        );
    }
}
