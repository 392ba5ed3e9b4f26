//! `POST /v1/check` and `POST /v1/check/bulk`: permission checks answered near the caller.
//!
//! Answers come from three places, in order: this isolate's memory (a bounded, approximately LRU map),
//! KV (`DECISIONS`, shared by the isolates of a location), and the origin. Every answer is stored under the
//! tenant, the schema revision, the revision it was computed at, and the question; an answer about a
//! revision never changes, so nothing is ever invalidated — freshness comes from which revision the edge
//! asks about, decided by [`tessera_authz::decision_cache::plan`] from the caller's consistency and the
//! tenant's head as the edge knows it (see [`crate::checks::heads`]).
//!
//! Callers authenticate with an access token of this edge. A token with the scope `authz:check` (a
//! service) may ask any question in its tenant; any other token only about its own subject
//! (`client:{client_id}` for client credentials, `{CHECK_USER_TYPE}:{sub}` for a user).
//!
//! When the origin is unreachable, `minimize_latency` keeps answering from the cache while the tenant's
//! head was confirmed within the bound (marked `stale`); anything the cache cannot answer at the requested
//! consistency fails with `503 consistency_unavailable`, never a guess.

use std::cell::RefCell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tessera_authz::caller::{Caller, CallerClaims};
use tessera_authz::decision_cache::{decision_key, plan, BoundedCache, Freshness, Head, Plan};
use tessera_authz::{revision_unverified, ObjectRef, SubjectRef};
use tessera_proto::check::{
    BulkCheckRequest, BulkCheckResponse, BulkItemResult, CheckItem, CheckRequest, CheckResponse,
    Consistency, OriginBulkCheck,
};
use worker::{Context, Env, Method, Request, Response};

use crate::checks::heads::{self, now_u64};
use crate::config::Config;
use crate::error::ApiError;
use crate::log;
use crate::origin::client::{self as origin_client, OriginError, Reply};
use crate::tokens::verify::{verify, Outcome};
use serde_json::json;

const KV_BINDING: &str = "DECISIONS";
/// Items per bulk check (the origin's limit too).
const MAX_ITEMS: usize = 100;

/// A cached answer.
#[derive(Clone)]
pub struct Decision {
    pub allowed: bool,
    pub zookie: Rc<str>,
}

#[derive(Serialize, Deserialize)]
struct StoredDecision {
    allowed: bool,
    zookie: String,
}

thread_local! {
    static DECISIONS: RefCell<Option<BoundedCache<String, Decision>>> = const { RefCell::new(None) };
}

/// Where the answers came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Isolate,
    Kv,
    Origin,
}

impl Source {
    fn header(self) -> &'static str {
        match self {
            Self::Isolate => "isolate",
            Self::Kv => "kv",
            Self::Origin => "origin",
        }
    }
}

/// A question, validated and in canonical form.
pub struct Question {
    pub resource: String,
    pub permission: String,
    pub subject: String,
}

impl Question {
    /// # Errors
    /// `400` with the relationship parser's code when a part is malformed.
    pub fn parse(item: &CheckItem) -> Result<Self, ApiError> {
        let resource: ObjectRef =
            item.resource
                .parse()
                .map_err(|e: tessera_authz::RelationshipError| {
                    ApiError::new(400, e.code(), format!("resource `{}`: {e}", item.resource))
                })?;
        let subject: SubjectRef =
            item.subject
                .parse()
                .map_err(|e: tessera_authz::RelationshipError| {
                    ApiError::new(400, e.code(), format!("subject `{}`: {e}", item.subject))
                })?;
        let p = &item.permission;
        let plausible = p.len() <= 64
            && p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plausible {
            return Err(ApiError::new(
                400,
                "invalid_permission",
                format!("permission `{p}` is not a permission name"),
            ));
        }
        Ok(Self {
            resource: resource.to_string(),
            permission: p.clone(),
            subject: subject.to_string(),
        })
    }

    fn item(&self) -> CheckItem {
        CheckItem {
            resource: self.resource.clone(),
            permission: self.permission.clone(),
            subject: self.subject.clone(),
        }
    }
}

/// Tenant names as the origin accepts them (`tessera_proto::TenantId`).
pub fn valid_tenant(t: &str) -> bool {
    t.parse::<tessera_proto::TenantId>().is_ok()
}

async fn authenticate(req: &Request, env: &Env, cfg: &Config) -> Result<Caller, ApiError> {
    let refused = |detail: String| ApiError {
        www_authenticate: Some("Bearer realm=\"tessera\""),
        internal_message: Some(detail),
        ..ApiError::new(401, "unauthorized", "a valid access token is required")
    };
    let token = crate::http::bearer(req)?.ok_or_else(|| refused("no bearer token".to_owned()))?;
    let claims = match verify(env, cfg, &token, None, crate::now()).await? {
        Outcome::Valid(v) => v.into_claims(),
        Outcome::Invalid(e) => {
            return Err(refused(format!("check: token refused ({}): {e}", e.code())))
        }
    };
    let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
    let caller = Caller::from_claims(
        CallerClaims {
            tid: text("tid"),
            sub: text("sub"),
            client_id: text("client_id"),
            scope: text("scope"),
        },
        &cfg.checks.user_type,
        valid_tenant,
    )
    .map_err(|e| refused(format!("check: {e}")))?;
    // A person's token is good only while its session lives: after a logout it asks nothing more.
    if let (Some(sid), Some(sub)) = (text("sid"), text("sub")) {
        if !crate::checks::session_liveness::active_for_checks(env, cfg, &caller.tenant, sub, sid)
            .await?
        {
            return Err(refused(format!("check: session {sid} has ended")));
        }
    }
    Ok(caller)
}

/// `403 forbidden_subject` when the caller may not ask about `q`'s subject.
fn may_ask(caller: &Caller, q: &Question) -> Result<(), ApiError> {
    caller
        .may_ask(&q.subject)
        .map_err(|e| ApiError::new(403, e.code(), e.to_string()))
}

async fn read_json<T: serde::de::DeserializeOwned>(
    req: &mut Request,
    shape: &str,
) -> Result<T, ApiError> {
    let body = crate::http::read_body(req, crate::http::MAX_BODY).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "invalid_request", format!("body must be {shape}: {e}")))
}

fn respond<T: Serialize>(body: &T, source: Source) -> Result<Response, ApiError> {
    let resp = Response::from_json(body)?;
    let headers = resp.headers().clone();
    headers.set("cache-control", "no-store")?;
    headers.set("tessera-cache", source.header())?;
    Ok(resp.with_headers(headers))
}

/// `POST /v1/check`.
///
/// # Errors
/// `400` for a malformed question or zookie, `401`/`403` for the caller, `503 consistency_unavailable`
/// when the requested consistency cannot be met.
pub async fn check(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let caller = authenticate(&req, env, cfg).await?;
    let body: CheckRequest = read_json(
        &mut req,
        r#"{"resource": "doc:1", "permission": "view", "subject": "user:ann", "consistency"?: ...}"#,
    )
    .await?;
    let q = Question::parse(&CheckItem {
        resource: body.resource,
        permission: body.permission,
        subject: body.subject,
    })?;
    may_ask(&caller, &q)?;
    let batch = decide(env, ctx, cfg, &caller.tenant, &[q], &body.consistency).await?;
    let Some(first) = batch.results.into_iter().next() else {
        return Err(ApiError::internal("a check produced no result"));
    };
    let allowed = match first {
        Ok(d) => d.allowed,
        Err(e) => {
            return Err(ApiError::new(
                400,
                crate::error::stable_code(&e.code),
                e.message,
            ))
        }
    };
    respond(
        &CheckResponse {
            allowed,
            zookie: batch.zookie,
            revision: batch.revision,
            cached: batch.source != Source::Origin,
            stale: batch.stale,
            staleness_ms: batch.staleness_ms,
        },
        batch.source,
    )
}

/// `POST /v1/check/bulk`: up to 100 questions, all answered at one revision.
///
/// # Errors
/// As [`check`]; a question the schema cannot answer is an error in its own result, not for the batch.
pub async fn check_bulk(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let caller = authenticate(&req, env, cfg).await?;
    let body: BulkCheckRequest = read_json(
        &mut req,
        r#"{"items": [{"resource", "permission", "subject"}], "consistency"?: ...}"#,
    )
    .await?;
    if body.items.is_empty() || body.items.len() > MAX_ITEMS {
        return Err(ApiError::new(
            400,
            "invalid_request",
            format!("a bulk check carries 1 to {MAX_ITEMS} items"),
        ));
    }
    let mut questions = Vec::with_capacity(body.items.len());
    for item in &body.items {
        let q = Question::parse(item)?;
        may_ask(&caller, &q)?;
        questions.push(q);
    }
    let batch = decide(env, ctx, cfg, &caller.tenant, &questions, &body.consistency).await?;
    let results = batch
        .results
        .into_iter()
        .map(|r| match r {
            Ok(d) => BulkItemResult {
                allowed: Some(d.allowed),
                error: None,
                message: None,
            },
            Err(e) => BulkItemResult {
                allowed: None,
                error: Some(e.code),
                message: Some(e.message),
            },
        })
        .collect();
    respond(
        &BulkCheckResponse {
            results,
            zookie: batch.zookie,
            revision: batch.revision,
            cached: batch.source != Source::Origin,
            stale: batch.stale,
            staleness_ms: batch.staleness_ms,
        },
        batch.source,
    )
}

/// An error the origin gave for one question.
pub struct ItemError {
    pub code: String,
    pub message: String,
}

/// Answers to a batch of questions, all at one revision.
pub struct Batch {
    pub results: Vec<Result<Decision, ItemError>>,
    pub zookie: String,
    pub revision: u64,
    pub source: Source,
    pub stale: bool,
    pub staleness_ms: u64,
}

fn unavailable(message: impl Into<String>, detail: impl Into<String>) -> ApiError {
    ApiError::unavailable("consistency_unavailable", message, detail)
}

/// Answer `questions` for `tenant` at the requested consistency: from the cache when it may, else the origin.
///
/// # Errors
/// A malformed zookie (`400`), an origin refusal (its status and code), or `503 consistency_unavailable`.
pub async fn decide(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    tenant: &str,
    questions: &[Question],
    consistency: &Consistency,
) -> Result<Batch, ApiError> {
    let bounds = cfg.checks.bounds;
    let want = match consistency {
        Consistency::MinimizeLatency => Freshness::MinimizeLatency,
        Consistency::FullyConsistent => Freshness::Fully,
        Consistency::AtLeastAsFresh(z) => Freshness::AtLeast(
            revision_unverified(z).map_err(|e| ApiError::new(400, e.code(), e.to_string()))?,
        ),
        Consistency::AtExactSnapshot(z) => {
            revision_unverified(z).map_err(|e| ApiError::new(400, e.code(), e.to_string()))?;
            return ask_origin(env, ctx, cfg, tenant, questions, consistency, false).await;
        }
    };
    let mut step = plan(heads::known(tenant).0, want, bounds, now_u64());
    if step == Plan::RefreshHead {
        heads::refresh(env, cfg, tenant).await?;
        step = plan(heads::known(tenant).0, want, bounds, now_u64());
    }
    match step {
        Plan::Cached {
            head,
            staleness_ms,
            refresh,
        } => {
            if refresh {
                heads::refresh_in_background(ctx, env, tenant);
            }
            if let Some((results, source)) = cached(env, cfg, tenant, &head, questions).await {
                let zookie = results
                    .first()
                    .map(|d| d.zookie.to_string())
                    .unwrap_or_default();
                return Ok(Batch {
                    results: results.into_iter().map(Ok).collect(),
                    zookie,
                    revision: head.revision,
                    source,
                    stale: heads::known(tenant).1,
                    staleness_ms,
                });
            }
            ask_origin(env, ctx, cfg, tenant, questions, consistency, true).await
        }
        Plan::RefreshHead => {
            let (head, _) = heads::known(tenant);
            Err(unavailable(
                format!(
                    "no answer within the {} ms staleness bound: the authorization origin cannot be reached",
                    bounds.max_staleness_ms
                ),
                format!("tenant {tenant}: head {head:?} not confirmed within the bound"),
            ))
        }
        Plan::Origin => ask_origin(env, ctx, cfg, tenant, questions, consistency, true).await,
    }
}

fn with_cache<T>(cfg: &Config, f: impl FnOnce(&mut BoundedCache<String, Decision>) -> T) -> T {
    DECISIONS.with(|c| {
        let mut c = c.borrow_mut();
        let cache = c.get_or_insert_with(|| BoundedCache::new(cfg.checks.isolate_entries));
        f(cache)
    })
}

/// Forget every decision in this isolate (benchmarks measure the KV path with it).
#[cfg(feature = "bench")]
pub fn forget_isolate_decisions() {
    DECISIONS.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            c.clear();
        }
    });
}

fn kv_key(tenant: &str, head: &Head, q: &Question) -> String {
    let mut h = Sha256::new();
    for part in [&q.resource, &q.permission, &q.subject] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    format!(
        "d1/{tenant}/{}/{}/{}",
        head.schema_revision,
        head.revision,
        tessera_jose::b64::encode(&h.finalize())
    )
}

/// Every question answered at `head` from isolate memory, or else from KV; `None` if any is missing.
async fn cached(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    head: &Head,
    questions: &[Question],
) -> Option<(Vec<Decision>, Source)> {
    let mut found: Vec<Option<Decision>> = with_cache(cfg, |cache| {
        questions
            .iter()
            .map(|q| {
                cache.get(&decision_key(
                    tenant,
                    head,
                    &q.resource,
                    &q.permission,
                    &q.subject,
                ))
            })
            .collect()
    });
    if found.iter().all(Option::is_some) {
        return Some((found.into_iter().flatten().collect(), Source::Isolate));
    }
    let kv = match env.kv(KV_BINDING) {
        Ok(kv) => kv,
        Err(e) => {
            log::error(
                "kv_binding_failed",
                &[
                    ("binding", json!(KV_BINDING)),
                    ("detail", json!(e.to_string())),
                ],
            );
            return None;
        }
    };
    // All missing answers at once: one KV round trip however many questions.
    let missing: Vec<(usize, String)> = found
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .filter_map(|(i, _)| questions.get(i).map(|q| (i, kv_key(tenant, head, q))))
        .collect();
    let gets = missing
        .iter()
        .map(|(_, key)| kv.get(key).json::<StoredDecision>());
    let got = futures_util::future::join_all(gets).await;
    for ((i, _), stored) in missing.iter().zip(got) {
        let stored = match stored {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => {
                log::error("kv_get_failed", &[("detail", json!(e.to_string()))]);
                return None;
            }
        };
        let (Some(q), Some(slot)) = (questions.get(*i), found.get_mut(*i)) else {
            return None;
        };
        let d = Decision {
            allowed: stored.allowed,
            zookie: Rc::from(stored.zookie),
        };
        with_cache(cfg, |cache| {
            cache.insert(
                decision_key(tenant, head, &q.resource, &q.permission, &q.subject),
                d.clone(),
            );
        });
        *slot = Some(d);
    }
    Some((found.into_iter().flatten().collect(), Source::Kv))
}

/// Ask the origin, remember the answers (isolate now, KV in the background) and, when the origin answered
/// at its head (`at_head`), what the head is.
async fn ask_origin(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    tenant: &str,
    questions: &[Question],
    consistency: &Consistency,
    at_head: bool,
) -> Result<Batch, ApiError> {
    let forwarded = match consistency {
        // A cache miss asks for the head: the answer then also tells the edge the head, as of now.
        Consistency::MinimizeLatency | Consistency::FullyConsistent => Consistency::FullyConsistent,
        other => other.clone(),
    };
    let asked_at = now_u64();
    let answer = match post_origin(env, cfg, tenant, questions, &forwarded).await {
        Ok(a) => a,
        Err(e) => {
            if e.status == 503 {
                // Make cached answers say so until the origin answers again.
                let _ = heads::refresh(env, cfg, tenant).await;
            }
            return Err(e);
        }
    };
    if answer.results.len() != questions.len() {
        return Err(ApiError::internal(format!(
            "origin answered {} results for {} questions",
            answer.results.len(),
            questions.len()
        )));
    }
    let head = Head {
        revision: answer.revision,
        schema_revision: answer.schema_revision,
        confirmed_at_ms: asked_at,
    };
    if at_head {
        heads::learn(tenant, head);
    }
    let zookie: Rc<str> = Rc::from(answer.zookie.as_str());
    let mut results = Vec::with_capacity(questions.len());
    let mut to_store = Vec::new();
    for (q, r) in questions.iter().zip(answer.results) {
        match (r.allowed, r.error) {
            (Some(allowed), None) => {
                let d = Decision {
                    allowed,
                    zookie: Rc::clone(&zookie),
                };
                with_cache(cfg, |cache| {
                    cache.insert(
                        decision_key(tenant, &head, &q.resource, &q.permission, &q.subject),
                        d.clone(),
                    );
                });
                to_store.push((kv_key(tenant, &head, q), allowed));
                results.push(Ok(d));
            }
            (_, error) => results.push(Err(ItemError {
                code: error.unwrap_or_else(|| "internal_error".to_owned()),
                message: r.message.unwrap_or_default(),
            })),
        }
    }
    store_in_kv(ctx, env, to_store, &answer.zookie, cfg.checks.kv_ttl);
    Ok(Batch {
        results,
        zookie: answer.zookie,
        revision: answer.revision,
        source: Source::Origin,
        stale: false,
        staleness_ms: 0,
    })
}

fn store_in_kv(ctx: &Context, env: &Env, entries: Vec<(String, bool)>, zookie: &str, ttl: u64) {
    if entries.is_empty() {
        return;
    }
    let env = env.clone();
    let zookie = zookie.to_owned();
    ctx.wait_until(async move {
        let kv = match env.kv(KV_BINDING) {
            Ok(kv) => kv,
            Err(e) => {
                log::error(
                    "kv_binding_failed",
                    &[
                        ("binding", json!(KV_BINDING)),
                        ("detail", json!(e.to_string())),
                    ],
                );
                return;
            }
        };
        for (key, allowed) in entries {
            let value = StoredDecision {
                allowed,
                zookie: zookie.clone(),
            };
            let put = kv.put(&key, &value).map(|p| p.expiration_ttl(ttl));
            match put {
                Ok(p) => {
                    if let Err(e) = p.execute().await {
                        log::error("kv_put_failed", &[("detail", json!(e.to_string()))]);
                    }
                }
                Err(e) => log::error("kv_put_failed", &[("detail", json!(e.to_string()))]),
            }
        }
    });
}

async fn post_origin(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    questions: &[Question],
    consistency: &Consistency,
) -> Result<OriginBulkCheck, ApiError> {
    let body = BulkCheckRequest {
        items: questions.iter().map(Question::item).collect(),
        consistency: consistency.clone(),
    };
    let path = format!("/v1/tenants/{tenant}/check/bulk");
    match origin_client::call(env, cfg, Method::Post, &path, Some(&body)).await {
        Ok(Reply::Answer(answer)) => Ok(answer),
        // The origin refused the question (unknown permission, no schema, a forged zookie...): its words.
        Ok(Reply::Refused(r)) => Err(ApiError::new(
            r.status,
            crate::error::stable_code(&r.body.error),
            r.body.message,
        )),
        Err(OriginError::Unreachable(detail)) => Err(unavailable(
            "the authorization origin cannot be reached",
            detail,
        )),
        Err(e) => Err(e.into_api("consistency_unavailable", "")),
    }
}

/// Of `roles` (`type:id#permission`), those `subject` holds — through the decision cache
/// (`minimize_latency`: at most the staleness bound behind, like any cached check). `None` when no roles
/// are named. Used at token issue for the `roles` claim.
///
/// # Errors
/// OAuth `503 temporarily_unavailable` when the roles cannot be checked.
pub async fn roles_held(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    tenant: &str,
    roles: &[String],
    subject: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    if roles.is_empty() {
        return Ok(None);
    }
    let mut questions = Vec::with_capacity(roles.len());
    for role in roles {
        let (resource, permission) = role.split_once('#').unwrap_or((role, ""));
        questions.push(Question::parse(&CheckItem {
            resource: resource.to_owned(),
            permission: permission.to_owned(),
            subject: subject.to_owned(),
        })?);
    }
    let batch = decide(
        env,
        ctx,
        cfg,
        tenant,
        &questions,
        &Consistency::MinimizeLatency,
    )
    .await
    .map_err(|e| ApiError {
        internal_message: Some(format!(
            "token roles of tenant {tenant}: {} {}",
            e.code,
            e.internal_message.as_deref().unwrap_or(&e.external_message)
        )),
        ..ApiError::oauth(
            503,
            "temporarily_unavailable",
            "the roles for this token cannot be checked right now",
        )
    })?;
    let mut held = Vec::new();
    for (role, result) in roles.iter().zip(batch.results) {
        match result {
            Ok(d) if d.allowed => held.push(role.clone()),
            Ok(_) => {}
            // A role the schema no longer has (renamed permission): not held, and the log says why.
            Err(e) => log::error(
                "token_role_unchecked",
                &[
                    ("role", json!(role)),
                    ("code", json!(e.code)),
                    ("detail", json!(e.message)),
                ],
            ),
        }
    }
    Ok(Some(held))
}
