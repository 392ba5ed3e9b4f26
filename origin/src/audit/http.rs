//! The audit API (service credential):
//!
//! | route | answer |
//! |---|---|
//! | `POST /internal/v1/audit/events` `{events: [...]}` | `{stored, duplicates, refused: [{index, message}]}` — the edge's batches |
//! | `GET /v1/tenants/{t}/audit?from&to&kind&actor&subject&resource&permission&outcome&code&request_id&tier&limit&cursor` | `{events, cursor?}`, newest first |
//! | `GET /v1/tenants/{t}/audit/events/{id}` | one record |
//! | `GET /v1/tenants/{t}/audit/stats?from&to` | decisions per minute, latency by tier, top denied, counts by kind |
//! | `GET /v1/tenants/{t}/audit/verify` | the chain's report: `breaks` is empty when it is whole |
//! | `GET`/`PUT /v1/tenants/{t}/audit/retention` `{days}` | the tenant's retention |
//!
//! Times (`from`, `to`) are milliseconds since the epoch or RFC 3339; `from` defaults to an hour ago for
//! stats, to the beginning for queries; `to` to now. `actor` is `kind:id` (`client:web`, `user:u1`). A page
//! holds at most 1000 records (100 unless `limit` says).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use tessera_proto::audit::{
    ActorKind, AuditBatch, AuditIngested, AuditPage, AuditRecord, AuditRetention, AuditStats,
    ChainReport, Outcome,
};
use tessera_proto::Code;

use super::store::Filter;
use crate::error::HttpError;
use crate::http::extract::{JsonBody, Service, ServiceTenant};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/audit/events", post(ingest))
        .route("/v1/tenants/{tenant}/audit", get(query))
        .route("/v1/tenants/{tenant}/audit/events/{id}", get(one))
        .route("/v1/tenants/{tenant}/audit/stats", get(stats))
        .route("/v1/tenants/{tenant}/audit/verify", get(verify))
        .route(
            "/v1/tenants/{tenant}/audit/retention",
            get(read_retention).put(write_retention),
        )
}

/// The most events one batch carries.
pub const MAX_BATCH: usize = 1000;
/// The largest page.
pub const MAX_PAGE: u32 = 1000;
/// The longest retention (10 years); the shortest is a day.
pub const MAX_RETENTION_DAYS: u32 = 3660;

fn bad(message: impl Into<String>) -> HttpError {
    HttpError::new(StatusCode::BAD_REQUEST, Code::InvalidRequest, message)
}

async fn ingest(
    _: Service,
    State(state): State<AppState>,
    JsonBody(mut batch): JsonBody<AuditBatch>,
) -> Result<Json<AuditIngested>, HttpError> {
    if batch.events.len() > MAX_BATCH {
        return Err(bad(format!("a batch carries at most {MAX_BATCH} events")));
    }
    crate::authz::http::recorded::explain_edge_decisions(&state, &mut batch.events).await;
    let (done, refused) = state
        .audit
        .ingest(batch.events, crate::now().as_millis())
        .await
        .map_err(HttpError::internal)?;
    for r in &refused {
        tracing::warn!(index = r.index, message = %r.message, "audit event refused");
    }
    Ok(Json(AuditIngested {
        stored: done.stored,
        duplicates: done.duplicates,
        refused,
    }))
}

/// A time parameter: milliseconds since the epoch, or RFC 3339.
pub fn time(name: &str, text: &str) -> Result<i64, HttpError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    tessera_proto::rfc3339::parse_unix_time(text)
        .map(tessera_proto::UnixTime::as_millis)
        .ok_or_else(|| {
            bad(format!(
                "`{name}` must be milliseconds since the epoch or an RFC 3339 time"
            ))
        })
}

/// The query's parameters, each named at most once.
fn params(raw: Option<&str>) -> Result<Vec<(String, String)>, HttpError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs.iter().skip(i + 1).any(|(n, _)| n == name) {
            return Err(bad(format!("`{}` is given twice", name.escape_debug())));
        }
    }
    Ok(pairs)
}

/// Read a query's filter, page size and cursor.
pub fn parse_filter(raw: Option<&str>) -> Result<(Filter, u32), HttpError> {
    let mut f = Filter::default();
    let mut limit = 100;
    for (name, value) in params(raw)? {
        let text = || Some(value.clone());
        match name.as_str() {
            "from" => f.from_ms = Some(time("from", &value)?),
            "to" => f.to_ms = Some(time("to", &value)?),
            "kind" => f.kind = text(),
            "subject" => f.subject = text(),
            "resource" => f.resource = text(),
            "permission" => f.permission = text(),
            "code" => f.code = text(),
            "request_id" => f.request_id = text(),
            "tier" => f.tier = text(),
            "outcome" => {
                Outcome::parse(&value).ok_or_else(|| {
                    bad("`outcome` must be allowed, denied, success, failure or error")
                })?;
                f.outcome = text();
            }
            "actor" => {
                let (kind, id) = value.split_once(':').unwrap_or((value.as_str(), ""));
                ActorKind::parse(kind).ok_or_else(|| {
                    bad("`actor` must be `client:ID`, `user:ID`, `service`, `operator[:NAME]` or `anonymous`")
                })?;
                f.actor = Some((kind.to_owned(), id.to_owned()));
            }
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| bad(format!("`limit` must be 1 to {MAX_PAGE}")))?;
            }
            "cursor" => {
                f.before_seq = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| bad("`cursor` is not one this API gave"))?,
                );
            }
            "after" => {
                f.after_seq = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| bad("`after` must be a record's seq"))?,
                );
            }
            other => {
                return Err(bad(format!(
                    "unknown parameter `{}` (from, to, kind, actor, subject, resource, permission, outcome, code, request_id, tier, limit, cursor, after)",
                    other.escape_debug()
                )))
            }
        }
    }
    if f.before_seq.is_some() && f.after_seq.is_some() {
        return Err(bad("give `cursor` or `after`, not both"));
    }
    Ok((f, limit))
}

async fn query(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditPage>, HttpError> {
    let (filter, limit) = parse_filter(raw.as_deref())?;
    Ok(Json(page(&state, tenant.as_str(), &filter, limit).await?))
}

/// One page of records, and the cursor to the next when it is full.
///
/// # Errors
/// Database failures.
pub async fn page(
    state: &AppState,
    tenant: &str,
    filter: &Filter,
    limit: u32,
) -> Result<AuditPage, HttpError> {
    let events = state
        .audit
        .store
        .query(tenant, filter, limit)
        .await
        .map_err(HttpError::internal)?;
    let cursor = (events.len() == limit as usize && filter.after_seq.is_none())
        .then(|| events.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(AuditPage { events, cursor })
}

async fn one(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<AuditRecord>, HttpError> {
    state
        .audit
        .store
        .by_id(tenant.as_str(), &id)
        .await
        .map_err(HttpError::internal)?
        .map(Json)
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, Code::NotFound, "no such event"))
}

async fn stats(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditStats>, HttpError> {
    let now = crate::now().as_millis();
    let (mut from, mut to) = (now - 3_600_000, now);
    for (name, value) in params(raw.as_deref())? {
        match name.as_str() {
            "from" => from = time("from", &value)?,
            "to" => to = time("to", &value)?,
            other => {
                return Err(bad(format!(
                    "unknown parameter `{}` (from, to)",
                    other.escape_debug()
                )))
            }
        }
    }
    if from >= to
        || to
            .checked_sub(from)
            .is_none_or(|span| span > super::stats::MAX_RANGE_MS)
    {
        return Err(bad("`from` must be before `to`, at most 31 days apart"));
    }
    state
        .audit
        .store
        .stats(tenant.as_str(), from, to)
        .await
        .map(Json)
        .map_err(HttpError::internal)
}

async fn verify(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<ChainReport>, HttpError> {
    let store = &state.audit.store;
    let keep = store
        .retention(tenant.as_str())
        .await
        .map_err(HttpError::internal)?
        .unwrap_or(state.audit.settings().retention_days);
    store
        .verify(tenant.as_str(), keep, crate::now().as_millis())
        .await
        .map(Json)
        .map_err(HttpError::internal)
}

async fn read_retention(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<AuditRetention>, HttpError> {
    let days = state
        .audit
        .store
        .retention(tenant.as_str())
        .await
        .map_err(HttpError::internal)?
        .unwrap_or(state.audit.settings().retention_days);
    Ok(Json(AuditRetention { days }))
}

async fn write_retention(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    caller: super::Caller,
    JsonBody(r): JsonBody<AuditRetention>,
) -> Result<Json<AuditRetention>, HttpError> {
    if !(1..=MAX_RETENTION_DAYS).contains(&r.days) {
        return Err(bad(format!("`days` must be 1 to {MAX_RETENTION_DAYS}")));
    }
    state
        .audit
        .store
        .set_retention(tenant.as_str(), r.days)
        .await
        .map_err(HttpError::internal)?;
    let mut e = caller.event(
        tenant.as_str(),
        tessera_proto::audit::kinds::AUDIT_RETENTION,
        tessera_proto::audit::Outcome::Success,
    );
    e.detail.insert("days".into(), r.days.into());
    state.audit.record(e).await;
    Ok(Json(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_parsed_and_bad_ones_named() {
        let (f, limit) = parse_filter(Some(
            "kind=check.decision&actor=client%3Aweb&from=2026-11-30T00:00:00Z&limit=5",
        ))
        .expect("a good filter");
        assert_eq!(f.kind.as_deref(), Some("check.decision"));
        assert_eq!(f.actor, Some(("client".into(), "web".into())));
        assert_eq!(f.from_ms, Some(1_795_996_800_000));
        assert_eq!(limit, 5);
        for (raw, says) in [
            ("limit=0", "`limit`"),
            ("limit=5000", "`limit`"),
            ("outcome=maybe", "`outcome`"),
            ("actor=robot:x", "`actor`"),
            ("from=yesterday", "`from`"),
            ("cursor=abc", "`cursor`"),
            ("kind=a&kind=b", "twice"),
            ("colour=red", "unknown parameter"),
            ("cursor=5&after=3", "not both"),
        ] {
            let e = parse_filter(Some(raw)).expect_err(raw);
            assert!(
                e.external_message.contains(says),
                "{raw}: {}",
                e.external_message
            );
        }
    }
}
