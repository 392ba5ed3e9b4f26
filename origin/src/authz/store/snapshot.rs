//! Which revision a read runs at, and keeping the relationship cache exact up to it.

use super::{db_rev, AuthzStore, AuthzStoreError};
use crate::authz::cache::Changes;
use crate::on_db;

/// How long `minimize_latency` (and `at_least_as_fresh`, when that revision reaches the zookie) may keep
/// answering at the revision the cache last synced to before it reads the head again: the wire's
/// [`tessera_proto::check::RECENT_REVISION_MS`], which the edge counts on when it dates a head.
pub const MINIMIZE_LATENCY_WINDOW: std::time::Duration =
    std::time::Duration::from_millis(tessera_proto::check::RECENT_REVISION_MS);

/// More changed rows than this between two syncs empties a tenant's cache instead of evicting key by key.
const MAX_EVICTIONS: i64 = 10_000;

/// A changed row's keys: resource type, resource id, relation, subject type, subject id.
type ChangedRow = (String, String, String, String, String);

impl AuthzStore {
    /// Resolve a requested revision: `None` means the head; a revision above the head is refused.
    ///
    /// # Errors
    /// [`AuthzStoreError::RevisionUnavailable`] for a revision from the future.
    pub async fn snapshot(&self, tenant: &str, at: Option<u64>) -> Result<u64, AuthzStoreError> {
        let head = self.head(tenant).await?;
        self.sync(tenant, head).await?;
        match at {
            None => Ok(head),
            Some(r) if r <= head => Ok(r),
            Some(r) => Err(AuthzStoreError::RevisionUnavailable(r)),
        }
    }

    /// The revision `minimize_latency` reads at: the one the cache last synced to when that was within
    /// [`MINIMIZE_LATENCY_WINDOW`] (no database round trip), else the head.
    ///
    /// # Errors
    /// Database failures.
    pub async fn recent(&self, tenant: &str) -> Result<u64, AuthzStoreError> {
        match self.recently_synced(tenant) {
            Some(rev) => Ok(rev),
            None => self.snapshot(tenant, None).await,
        }
    }

    /// The revision `at_least_as_fresh(want)` reads at: the one the cache last synced to when that was
    /// within [`MINIMIZE_LATENCY_WINDOW`] and is already at `want` or later (no database round trip; any
    /// revision from `want` on answers the request, and SpiceDB likewise serves it from a recent
    /// revision), else the head, which must have reached `want`.
    ///
    /// # Errors
    /// [`AuthzStoreError::RevisionUnavailable`] when even the head is older than `want` (a zookie from
    /// the future), or database failures.
    pub async fn at_least(&self, tenant: &str, want: u64) -> Result<u64, AuthzStoreError> {
        if let Some(rev) = self.recently_synced(tenant).filter(|rev| *rev >= want) {
            return Ok(rev);
        }
        let head = self.snapshot(tenant, None).await?;
        if want > head {
            return Err(AuthzStoreError::RevisionUnavailable(want));
        }
        Ok(head)
    }

    fn recently_synced(&self, tenant: &str) -> Option<u64> {
        self.cache
            .synced(tenant)
            .and_then(|(rev, when)| (when.elapsed() <= MINIMIZE_LATENCY_WINDOW).then_some(rev))
    }

    /// Bring the tenant's cache up to `head`: evict exactly the keys changed since it last synced.
    pub(super) async fn sync(&self, tenant: &str, head: u64) -> Result<(), AuthzStoreError> {
        let Some(from) = self.cache.needs_sync(tenant, head) else {
            return Ok(());
        };
        let (rows, schema_changed): (Vec<ChangedRow>, bool) = on_db!(&self.db, pool => {
            let rows = sqlx::query_as(
                "SELECT resource_type, resource_id, relation, subject_type, subject_id FROM authz_relationships
                 WHERE tenant = $1 AND ((created_rev > $2 AND created_rev <= $3) OR (deleted_rev > $2 AND deleted_rev <= $3))
                 LIMIT $4",
            )
            .bind(tenant)
            .bind(db_rev(from))
            .bind(db_rev(head))
            .bind(MAX_EVICTIONS + 1)
            .fetch_all(pool)
            .await?;
            let schema: Option<i64> = sqlx::query_scalar(
                "SELECT revision FROM authz_schemas WHERE tenant = $1 AND revision > $2 AND revision <= $3 LIMIT 1",
            )
            .bind(tenant)
            .bind(db_rev(from))
            .bind(db_rev(head))
            .fetch_optional(pool)
            .await?;
            (rows, schema.is_some())
        });
        let changes = if rows.len() > usize::try_from(MAX_EVICTIONS).unwrap_or(usize::MAX) {
            Changes::Everything
        } else {
            let mut forward = Vec::with_capacity(rows.len());
            let mut reverse = Vec::with_capacity(rows.len());
            for (rt, rid, rel, st, sid) in rows {
                forward.push((rt, rid, rel));
                reverse.push((st, sid));
            }
            Changes::Keys {
                forward,
                reverse,
                schema_changed,
            }
        };
        self.cache.apply(tenant, from, head, changes);
        Ok(())
    }
}
