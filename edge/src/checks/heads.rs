//! What the edge knows about each tenant's head revision, and how it learns more.
//!
//! Cached decisions are keyed by revision, so they never need invalidating; what bounds their staleness is
//! how recently the edge confirmed that the revision they were computed at is still the tenant's head.
//! Each isolate keeps, per tenant, a [`HeadKnowledge`]: the newest head it has seen and when it was
//! confirmed, which also plans each check ([`plan`]). It learns heads two ways:
//!
//! - every answer the origin computes (a miss, `fully_consistent`, a zookie newer than the known head)
//!   carries the revision it was computed at, which was the head when the edge asked;
//! - the **tenant head object**, one Durable Object per tenant, polls the origin's `GET head` at most once
//!   per `CHECK_HEAD_REFRESH_MS` however many isolates ask, so the origin sees one poll per tenant per
//!   interval. With several regions it asks the first healthy origin in the `default` order (a Durable
//!   Object is not told its location; `EDGE_LOCATION` sets it), accepting a replica's head dated back by
//!   its lag (it was the primary's head that long ago), and keeps the head each region last reported, for
//!   diagnostics. It coalesces on when it last polled, not on the head's date, so a lagging replica does
//!   not turn every request into a poll. Isolates ask it in the background once their head is older than that interval, and
//!   synchronously only when it is older than the staleness bound.
//!
//! When the origin cannot be reached the object keeps its last head (with its old confirmation time) and
//! says why; the isolate marks the tenant unconfirmed, which makes answers `stale` until a poll succeeds.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use tessera_proto::Code;
use tessera_proto::UnixTime;

use serde::{Deserialize, Serialize};
use tessera_authz::decision_cache::{Bounds, Freshness, Head};
use tessera_authz::head_knowledge::{HeadKnowledge, Step};
use tessera_proto::check::OriginHead;
use worker::{
    durable_object, Context, DurableObject, Env, Method, Request, RequestInit, Response, State,
};

use crate::config::Config;
use crate::error::ApiError;
use crate::origin::client::{self as origin_client, OriginError, Reply};
use crate::{log, now};
use serde_json::json;

const BINDING: &str = "TENANT_HEAD";
/// Isolates tracking more tenants than this forget them all (each costs a few dozen bytes).
const MAX_TENANTS: usize = 100_000;

thread_local! {
    static KNOWN: RefCell<HashMap<String, HeadKnowledge>> = RefCell::new(HashMap::new());
}

fn with_known<T>(tenant: &str, f: impl FnOnce(&mut HeadKnowledge) -> T) -> T {
    KNOWN.with(|m| {
        let mut m = m.borrow_mut();
        if !m.contains_key(tenant) && m.len() >= MAX_TENANTS {
            m.clear();
        }
        f(m.entry(tenant.to_owned()).or_default())
    })
}

/// What this isolate knows about `tenant` (nothing yet: the default), read without recording the tenant.
fn read_known<T>(tenant: &str, f: impl FnOnce(&HeadKnowledge) -> T) -> T {
    KNOWN.with(|m| match m.borrow().get(tenant) {
        Some(k) => f(k),
        None => f(&HeadKnowledge::default()),
    })
}

/// The step for a check on `tenant` asking for `want` ([`HeadKnowledge::plan`]).
pub fn plan(tenant: &str, want: Freshness, bounds: Bounds, now: UnixTime) -> Step {
    read_known(tenant, |k| k.plan(want, bounds, now))
}

/// The step once the head has been confirmed ([`HeadKnowledge::replan`]).
pub fn replan(tenant: &str, want: Freshness, bounds: Bounds, now: UnixTime) -> Step {
    read_known(tenant, |k| k.replan(want, bounds, now))
}

/// The head this isolate knows for `tenant`.
pub fn head(tenant: &str) -> Option<Head> {
    read_known(tenant, HeadKnowledge::head)
}

/// Whether the last attempt to confirm `tenant`'s head failed (cached answers are then `stale`).
pub fn is_unconfirmed(tenant: &str) -> bool {
    read_known(tenant, HeadKnowledge::is_unconfirmed)
}

/// Fold in a head the origin just confirmed (an answer computed at the head).
pub fn learn(tenant: &str, seen: Head) {
    with_known(tenant, |k| k.learn(seen));
}

/// Ask the tenant head object for a head confirmed within `CHECK_HEAD_REFRESH_MS`.
///
/// # Errors
/// When neither the object nor (through it) the origin can say anything about the tenant.
pub async fn refresh(env: &Env, cfg: &Config, tenant: &str) -> Result<(), ApiError> {
    let reply = match ask_object(env, tenant, cfg.checks.bounds.refresh_after_ms).await {
        Ok(reply) => reply,
        Err(e) => {
            with_known(tenant, HeadKnowledge::poll_failed);
            return Err(e);
        }
    };
    with_known(tenant, |k| {
        k.polled(reply.head, reply.origin_error.is_none())
    });
    match reply.origin_error {
        Some(e) => {
            log::error(
                "head_unconfirmed",
                &[("tenant", json!(tenant)), ("detail", json!(e))],
            );
            if reply.head.is_none() {
                return Err(ApiError::unavailable(
                    Code::ConsistencyUnavailable,
                    "the authorization origin cannot be reached",
                    e,
                ));
            }
            Ok(())
        }
        None => Ok(()),
    }
}

/// Refresh without making the caller wait (at most one refresh in flight per tenant and isolate).
pub fn refresh_in_background(ctx: &Context, env: &Env, tenant: &str) {
    if !with_known(tenant, HeadKnowledge::begin_refresh) {
        return;
    }
    let env = env.clone();
    let tenant = tenant.to_owned();
    ctx.wait_until(async move {
        let refreshed = match Config::from_env(&env) {
            Ok(cfg) => refresh(&env, &cfg, &tenant).await,
            Err(e) => Err(e),
        };
        if let Err(e) = refreshed {
            log::error(
                "head_refresh_failed",
                &[
                    ("tenant", json!(tenant)),
                    (
                        "detail",
                        json!(e.internal_message.as_deref().unwrap_or(&e.external_message)),
                    ),
                ],
            );
        }
        with_known(&tenant, HeadKnowledge::end_refresh);
    });
}

/// What the tenant head object answers.
#[derive(Serialize, Deserialize)]
struct ObjectReply {
    head: Option<Head>,
    /// Why the head could not be confirmed just now (the origin is unreachable or refused).
    origin_error: Option<String>,
    /// The head each region last reported (for diagnostics).
    #[serde(default)]
    regions: BTreeMap<String, Head>,
}

async fn ask_object(env: &Env, tenant: &str, max_age_ms: u64) -> Result<ObjectReply, ApiError> {
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(tenant)?
        .get_stub()?;
    let url = format!("https://tenant-head/head?tenant={tenant}&max_age_ms={max_age_ms}");
    let req = Request::new_with_init(&url, RequestInit::new().with_method(Method::Get))?;
    let mut resp = stub.fetch_with_request(req).await.map_err(|e| {
        ApiError::unavailable(
            Code::ConsistencyUnavailable,
            "the authorization origin cannot be reached",
            format!("tenant head object: {e}"),
        )
    })?;
    if resp.status_code() != 200 {
        let body = resp.text().await.unwrap_or_default();
        return Err(ApiError::internal(format!(
            "tenant head object answered {}: {body}",
            resp.status_code()
        )));
    }
    resp.json::<ObjectReply>()
        .await
        .map_err(|e| ApiError::internal(format!("tenant head object sent bad json: {e}")))
}

/// One per tenant: polls the origin's head no more often than callers' `max_age_ms` requires.
#[durable_object]
pub struct TenantHeadObject {
    env: Env,
    last: RefCell<HeadKnowledge>,
    /// Region → the head it last reported.
    by_region: RefCell<BTreeMap<String, Head>>,
    /// When it last asked the origin successfully.
    polled_at: std::cell::Cell<Option<UnixTime>>,
}

impl TenantHeadObject {
    async fn poll_origin(&self, tenant: &str) -> Result<Head, String> {
        let cfg = Config::from_env(&self.env).map_err(|e| e.external_message)?;
        let path = format!("/v1/tenants/{tenant}/head");
        let asked_at = now();
        let ask = origin_client::Ask {
            region_head: true,
            ..origin_client::Ask::default()
        };
        let called =
            origin_client::call_with(&self.env, &cfg, Method::Get, &path, None::<&()>, ask);
        let (head, answered): (OriginHead, _) = match called.await {
            Ok((Reply::Answer(head), answered)) => (head, answered),
            Ok((Reply::Refused(r), _)) => {
                return Err(format!("GET {path} answered {} {}", r.status, r.body.error))
            }
            Err(OriginError::Unreachable(detail) | OriginError::Contract(detail)) => {
                return Err(detail)
            }
            Err(OriginError::Edge(e)) => return Err(e.external_message),
        };
        let head = Head {
            revision: head.revision,
            schema_revision: head.schema_revision,
            // The origin read its head after this moment, so the head was at least this fresh then (a
            // replica's: its lag before).
            confirmed_at: answered.lag.dated(asked_at),
        };
        if answered.lag == origin_client::Lag::Unknown {
            return Err(format!(
                "GET {path}: the replica that answered cannot say how far behind it is"
            ));
        }
        if let Some(region) = answered.region {
            self.by_region.borrow_mut().insert(region, head);
        }
        Ok(head)
    }

    async fn handle(&self, req: Request) -> Result<Response, ApiError> {
        let url = req.url()?;
        let query = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let tenant = query("tenant")
            .ok_or_else(|| ApiError::new(400, Code::InvalidRequest, "`tenant` is required"))?;
        let max_age_ms: u64 = query("max_age_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000);
        let now = now();
        let polled_recently = self
            .polled_at
            .get()
            .is_some_and(|t| now.millis_since(t) <= max_age_ms);
        let current = if polled_recently {
            self.last.borrow().head()
        } else {
            self.last.borrow().confirmed_within(max_age_ms, now)
        };
        if let Some(h) = current {
            return Ok(Response::from_json(&ObjectReply {
                head: Some(h),
                origin_error: None,
                regions: self.by_region.borrow().clone(),
            })?);
        }
        let reply = match self.poll_origin(&tenant).await {
            Ok(seen) => {
                self.polled_at.set(Some(now));
                let mut last = self.last.borrow_mut();
                last.learn(seen);
                ObjectReply {
                    head: last.head(),
                    origin_error: None,
                    regions: self.by_region.borrow().clone(),
                }
            }
            Err(e) => ObjectReply {
                head: self.last.borrow().head(),
                origin_error: Some(e),
                regions: self.by_region.borrow().clone(),
            },
        };
        Ok(Response::from_json(&reply)?)
    }
}

impl DurableObject for TenantHeadObject {
    fn new(_state: State, env: Env) -> Self {
        Self {
            env,
            last: RefCell::new(HeadKnowledge::default()),
            by_region: RefCell::new(BTreeMap::new()),
            polled_at: std::cell::Cell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        match self.handle(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => e.into_response(),
        }
    }
}
