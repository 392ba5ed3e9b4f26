//! `GET /v1/regions` (this origin, its peers, where writes go, its counters; with `?tenant=` that tenant's
//! head in this region's database) and `GET /internal/v1/region` (what peers poll). Service credential.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tessera_proto::regions::{RegionStatus, RegionsAnswer, TenantHead};
use tessera_proto::TenantId;

use crate::error::HttpError;
use crate::http::extract::Service;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/regions", get(regions))
        .route("/internal/v1/region", get(own))
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
    Ok(Json(RegionsAnswer {
        own: r.snapshot().own,
        max_lag_ms: u64::try_from(r.settings().max_lag.as_millis()).unwrap_or(u64::MAX),
        primary_region: r.primary_region(),
        peers: r.peer_statuses(),
        counters: r.counters(),
        tenant,
    }))
}

async fn own(_: Service, State(state): State<AppState>) -> Json<RegionStatus> {
    Json(state.regions.snapshot().own)
}
