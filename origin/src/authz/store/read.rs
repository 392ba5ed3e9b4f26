//! Reads by filter at a revision, and the change feed (watch).

use sqlx::Row as _;
use tessera_authz::Tuple;

use super::{
    db_rev, filter_sql, rev, row_to_tuple, unexpired_at, AuthzStore, AuthzStoreError, LIVE_AT,
};
use super::{Change, Filter, Operation};
use crate::on_db;

impl AuthzStore {
    /// Relationships matching `filter` live at revision `at` and not expired now, with their caveats
    /// and expirations.
    ///
    /// # Errors
    /// Database failures.
    pub async fn read(
        &self,
        tenant: &str,
        filter: &Filter,
        at: u64,
    ) -> Result<Vec<Tuple>, AuthzStoreError> {
        let (clause, args) = filter_sql(filter, 3);
        let unexpired = unexpired_at(crate::now());
        let sql = format!(
            "SELECT * FROM authz_relationships WHERE tenant = $1 AND {LIVE_AT} AND {unexpired}{clause}
             ORDER BY resource_type, resource_id, relation, subject_type, subject_id, subject_relation"
        );
        on_db!(&self.db, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant)
                .bind(db_rev(at));
            for a in &args {
                q = q.bind(a);
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(row_to_tuple)
                .collect::<Result<_, _>>()
                .map_err(Into::into)
        })
    }

    /// Changes after revision `since`, in revision order, at most `limit`. Within a revision deletes come
    /// before touches: a touch that replaced a relationship's caveat ended the old row and made a new
    /// one at the same revision, and a consumer applying the changes in order must end with the new.
    ///
    /// # Errors
    /// Database failures.
    pub async fn watch(
        &self,
        tenant: &str,
        since: u64,
        limit: u32,
    ) -> Result<Vec<Change>, AuthzStoreError> {
        on_db!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT * FROM (
                   SELECT resource_type, resource_id, relation, subject_type, subject_id, subject_relation,
                          caveat_name, caveat_context, expires_at, created_rev AS rev, 'touch' AS op
                   FROM authz_relationships WHERE tenant = $1 AND created_rev > $2
                   UNION ALL
                   SELECT resource_type, resource_id, relation, subject_type, subject_id, subject_relation,
                          caveat_name, caveat_context, expires_at, deleted_rev AS rev, 'delete' AS op
                   FROM authz_relationships WHERE tenant = $1 AND deleted_rev > $2
                 ) AS changes
                 ORDER BY rev, op, resource_type, resource_id, relation, subject_type, subject_id, subject_relation
                 LIMIT $3",
            )
            .bind(tenant)
            .bind(db_rev(since))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let op: String = r.try_get("op")?;
                    Ok(Change {
                        revision: rev(r.try_get("rev")?),
                        operation: if op == "delete" {
                            Operation::Delete
                        } else {
                            Operation::Touch
                        },
                        relationship: row_to_tuple(r)?.to_string(),
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(Into::into)
        })
    }
}
