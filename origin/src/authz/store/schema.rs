//! Schemas: the one in force at a revision, parsed once per version and then served from memory.

use super::{db_rev, rev, AuthzStore, AuthzStoreError, ParsedSchemas};
use crate::on_db;
use sqlx::Row as _;
use tessera_authz::{parse_schema, Schema};

const SCHEMA_CACHE_SIZE: usize = 1024;

impl AuthzStore {
    /// The parsed schema in force at revision `at`, and the revision it was written at; parsed once per
    /// schema version and then served from memory (one indexed lookup per call).
    ///
    /// # Errors
    /// Database failures, or a stored schema that no longer parses.
    pub async fn schema_at(
        &self,
        tenant: &str,
        at: u64,
    ) -> Result<Option<(u64, std::sync::Arc<Schema>)>, AuthzStoreError> {
        if let Some(hit) = self.cache.schema(tenant, at) {
            return Ok(Some(hit));
        }
        let found: Option<i64> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT revision FROM authz_schemas WHERE tenant = $1 AND revision <= $2 ORDER BY revision DESC LIMIT 1")
                .bind(tenant)
                .bind(db_rev(at))
                .fetch_optional(pool)
                .await?
        });
        let Some(revision) = found.map(rev) else {
            return Ok(None);
        };
        let key = (tenant.to_owned(), revision);
        let cached = self.lock_parsed().get(&key).cloned();
        if let Some(s) = cached {
            self.cache.put_schema(tenant, at, revision, s.clone());
            return Ok(Some((revision, s)));
        }
        let Some((revision, _, schema)) = self.schema(tenant, Some(revision)).await? else {
            return Ok(None);
        };
        let schema = std::sync::Arc::new(schema);
        self.remember_parsed(key, schema.clone());
        self.cache.put_schema(tenant, at, revision, schema.clone());
        Ok(Some((revision, schema)))
    }

    pub(super) fn remember_parsed(&self, key: (String, u64), schema: std::sync::Arc<Schema>) {
        let mut parsed = self.lock_parsed();
        if parsed.len() >= SCHEMA_CACHE_SIZE {
            parsed.clear();
        }
        parsed.insert(key, schema);
    }

    pub(super) fn lock_parsed(&self) -> std::sync::MutexGuard<'_, ParsedSchemas> {
        // A panic while holding this lock cannot leave the map inconsistent: take it regardless.
        self.parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The schema in force at `at` (head when `None`), with the revision it was written at.
    ///
    /// # Errors
    /// Database failures, or a stored schema that no longer parses.
    pub async fn schema(
        &self,
        tenant: &str,
        at: Option<u64>,
    ) -> Result<Option<(u64, String, Schema)>, AuthzStoreError> {
        let at = at.unwrap_or(u64::MAX >> 1);
        let found: Option<(i64, String)> = on_db!(&self.db, pool => {
            let row = sqlx::query("SELECT revision, text FROM authz_schemas WHERE tenant = $1 AND revision <= $2 ORDER BY revision DESC LIMIT 1")
                .bind(tenant)
                .bind(db_rev(at))
                .fetch_optional(pool)
                .await?;
            row.map(|r| Ok::<_, sqlx::Error>((r.try_get("revision")?, r.try_get("text")?)))
                .transpose()?
        });
        let Some((revision, text)) = found else {
            return Ok(None);
        };
        let schema = parse_schema(&text).map_err(AuthzStoreError::Schema)?;
        Ok(Some((rev(revision), text, schema)))
    }
}
