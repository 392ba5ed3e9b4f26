//! `GET /v1/regions` (this origin, its peers, where writes go, its counters; with `?tenant=` that tenant's
//! head in this region's database), `GET /metrics` (the same figures in Prometheus's text format) and
//! `GET /internal/v1/region` (what peers poll). Service credential.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tessera_proto::regions::{RegionRole, RegionStatus, RegionsAnswer, TenantHead};
use tessera_proto::TenantId;

use crate::error::HttpError;
use crate::http::extract::Service;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/regions", get(regions))
        .route("/internal/v1/region", get(own))
        .route("/metrics", get(metrics))
}

#[derive(Deserialize)]
struct RegionsQuery {
    tenant: Option<String>,
}

async fn regions(
    _: Service,
    State(state): State<AppState>,
    Query(q): Query<RegionsQuery>,
) -> Result<Json<RegionsAnswer>, HttpError> {
    let r = &state.regions;
    let tenant = match q.tenant {
        None => None,
        Some(t) => {
            let tenant: TenantId = t.parse()?;
            let revision = state.authz.head(tenant.as_str()).await?;
            Some(TenantHead {
                zookie: state.zookies.mint(tenant.as_str(), revision),
                tenant: tenant.as_str().to_owned(),
                revision,
            })
        }
    };
    let snap = r.snapshot();
    Ok(Json(RegionsAnswer {
        own: r.status(&snap, super::heartbeat::now_ms()),
        max_lag_ms: u64::try_from(r.settings().max_lag.as_millis()).unwrap_or(u64::MAX),
        primary_region: r.primary_region(),
        peers: r.peer_statuses(),
        counters: r.counters(),
        tenant,
    }))
}

async fn own(_: Service, State(state): State<AppState>) -> Json<RegionStatus> {
    let r = &state.regions;
    Json(r.status(&r.snapshot(), super::heartbeat::now_ms()))
}

/// Prometheus text format (0.0.4): the region's role, lag and timeline, and the gate's counters.
async fn metrics(_: Service, State(state): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write as _;
    let r = &state.regions;
    let own = r.status(&r.snapshot(), super::heartbeat::now_ms());
    let c = r.counters();
    let region = own.region.as_str();
    let mut out = String::new();
    let _ = writeln!(out, "# HELP tessera_region_role 1 for this origin's role (primary, replica, fenced, unavailable).");
    let _ = writeln!(out, "# TYPE tessera_region_role gauge");
    for (name, role) in [
        ("primary", RegionRole::Primary),
        ("replica", RegionRole::Replica),
        ("fenced", RegionRole::Fenced),
        ("unavailable", RegionRole::Unavailable),
    ] {
        let _ = writeln!(
            out,
            "tessera_region_role{{region=\"{region}\",role=\"{name}\"}} {}",
            u8::from(own.role == role)
        );
    }
    let _ = writeln!(out, "# HELP tessera_region_lag_milliseconds How far this region's replica is behind the primary (absent while unknown).");
    let _ = writeln!(out, "# TYPE tessera_region_lag_milliseconds gauge");
    if let Some(lag) = own.lag_ms {
        let _ = writeln!(
            out,
            "tessera_region_lag_milliseconds{{region=\"{region}\"}} {lag}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP tessera_region_timeline The PostgreSQL timeline this origin's database is on."
    );
    let _ = writeln!(out, "# TYPE tessera_region_timeline gauge");
    let _ = writeln!(
        out,
        "tessera_region_timeline{{region=\"{region}\"}} {}",
        own.timeline
    );
    let _ = writeln!(
        out,
        "# HELP tessera_region_requests_total Requests by where they were answered."
    );
    let _ = writeln!(out, "# TYPE tessera_region_requests_total counter");
    for (outcome, n) in [
        ("answered_here", c.answered_here),
        ("audit_batch", c.audit_batches),
        ("forwarded_to_primary", c.forwarded_to_primary),
        ("forwarded_fresh_read", c.forwarded_fresh_reads),
        ("forwarded_stale_read", c.forwarded_stale_reads),
        ("waited_for_replay", c.waited_for_replay),
        ("refused", c.refused),
    ] {
        let _ = writeln!(
            out,
            "tessera_region_requests_total{{region=\"{region}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}
