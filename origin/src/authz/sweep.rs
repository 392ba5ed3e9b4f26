//! The expiration sweep: every so often, on the origin whose database is the primary, end the
//! relationships that have expired ([`AuthzStore::sweep_expired`]). Until then they count as deleted
//! already (every read filters them by the origin's clock); the sweep keeps the live rows lean and
//! shows watchers each end as a `delete` at a revision of its own.

use std::time::Duration;

use super::AuthzStore;
use crate::region::Regions;
use tessera_proto::regions::RegionRole;

/// Sweep every `every`, for as long as the process lives.
pub fn spawn(authz: AuthzStore, regions: Regions, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if regions.snapshot().role != RegionRole::Primary {
                continue;
            }
            match authz.sweep_expired(crate::now()).await {
                Ok(swept) => {
                    for (tenant, revision, ended) in swept {
                        tracing::info!(
                            tenant = %tenant.escape_debug(),
                            revision,
                            ended,
                            "expired relationships swept"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the expiration sweep failed: trying again later")
                }
            }
        }
    });
}
