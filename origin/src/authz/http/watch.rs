//! `GET watch?since=<zookie>&limit=<n>`: the relationship changes after a revision, in revision order.

use axum::extract::{Query, State};
use axum::Json;
use tessera_proto::authz::{WatchAnswer, WatchQuery};

use super::open_zookie;
use crate::error::HttpError;
use crate::http::extract::ServiceTenant;
use crate::AppState;

pub(super) async fn watch(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Query(q): Query<WatchQuery>,
) -> Result<Json<WatchAnswer>, HttpError> {
    let since = match q.since.as_deref() {
        None => 0,
        Some(z) => open_zookie(&state, &tenant, z)?,
    };
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let mut changes = state.authz.watch(&tenant, since, limit).await?;
    let full_page = u32::try_from(changes.len()).unwrap_or(u32::MAX) >= limit;
    let (first, last) = (
        changes.first().map(|c| c.revision),
        changes.last().map(|c| c.revision),
    );
    let upto = match (full_page, first, last) {
        // A full page may have cut its last revision short: end the page before it.
        (true, Some(f), Some(l)) if f < l => {
            changes.retain(|c| c.revision < l);
            l - 1
        }
        // One revision larger than the page: return all of it.
        (true, Some(_), Some(l)) => {
            changes = state.authz.watch(&tenant, since, u32::MAX).await?;
            changes.retain(|c| c.revision <= l);
            l
        }
        (_, _, Some(l)) => l,
        (_, _, None) => state.authz.head(&tenant).await?.max(since),
    };
    // The caller resumes from this zookie: every change up to it was delivered.
    Ok(Json(WatchAnswer {
        changes,
        zookie: state.zookies.mint(&tenant, upto),
        revision: upto,
    }))
}
