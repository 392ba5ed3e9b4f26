//! The retention task: every hour (and once at start), on the origin whose database is the primary,
//! make the day partitions of today and tomorrow, then remove the days past each tenant's retention.

use std::time::Duration;

use super::store::day_of;
use super::Audit;
use crate::region::Regions;
use tessera_proto::regions::RegionRole;

/// How often retention runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Run [`run_once`] now and every [`EVERY`], for as long as the process lives.
pub fn spawn(audit: Audit, regions: Regions) {
    tokio::spawn(async move {
        loop {
            if regions.snapshot().role == RegionRole::Primary {
                if let Err(e) = run_once(&audit, crate::now().as_millis()).await {
                    tracing::warn!(error = %e, "audit retention failed: trying again in an hour");
                }
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}

/// Make today's and tomorrow's partitions and apply retention as of `now_ms`; returns the records removed.
///
/// # Errors
/// Database failures.
pub async fn run_once(audit: &Audit, now_ms: i64) -> Result<u64, sqlx::Error> {
    let today = day_of(now_ms);
    audit.store.ensure_day(today).await?;
    audit.store.ensure_day(today + 1).await?;
    let removed = audit
        .store
        .apply_retention(now_ms, audit.settings().retention_days)
        .await?;
    if removed > 0 {
        tracing::info!(
            removed,
            "audit retention removed records past their tenants' retention"
        );
    }
    Ok(removed)
}
