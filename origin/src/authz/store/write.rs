//! Writes: schemas, relationship updates with preconditions, deletes by filter. Each is one transaction
//! that first advances the tenant's head, then evicts what it changed from the cache. The parts run
//! inside a transaction the caller holds too ([`WriteTx`]: [`AuthzStore::begin_revision`],
//! [`AuthzStore::apply_updates`], [`AuthzStore::delete_matching_at`]), so that SCIM writes group
//! membership in the transaction that writes the group.

use sqlx::Row as _;
use tessera_authz::parse_schema;
use tessera_authz::Tuple;
use tessera_proto::UnixTime;

use super::{db_rev, filter_sql, rev, row_to_tuple, unexpired_at, AuthzStore, AuthzStoreError};
use super::{Filter, Operation, Precondition, PreconditionOp};
use crate::on_db;
use crate::store::retry;

/// Relationships per INSERT or UPDATE statement in a write (at most 15 parameters each, well under every limit).
const ROWS_PER_STATEMENT: usize = 100;

/// A write transaction the caller holds, on either backend (the connection of a `sqlx::Transaction`):
/// `WriteTx::from(&mut *tx)`.
pub enum WriteTx<'t> {
    Sqlite(&'t mut sqlx::SqliteConnection),
    Postgres(&'t mut sqlx::PgConnection),
}

impl<'t> From<&'t mut sqlx::SqliteConnection> for WriteTx<'t> {
    fn from(c: &'t mut sqlx::SqliteConnection) -> Self {
        Self::Sqlite(c)
    }
}

impl<'t> From<&'t mut sqlx::PgConnection> for WriteTx<'t> {
    fn from(c: &'t mut sqlx::PgConnection) -> Self {
        Self::Postgres(c)
    }
}

/// Run `$body` with `$c` bound to the transaction's connection, whichever the backend (as `on_db!`).
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            WriteTx::Sqlite($c) => $body,
            WriteTx::Postgres($c) => $body,
        }
    };
}

impl AuthzStore {
    /// Validate and store a new schema; refuses one under which a live relationship would be invalid.
    ///
    /// # Errors
    /// See [`AuthzStoreError`].
    pub async fn write_schema(&self, tenant: &str, text: &str) -> Result<u64, AuthzStoreError> {
        let schema = &parse_schema(text).map_err(AuthzStoreError::Schema)?;
        let revision = on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            let revision = Self::begin_revision(WriteTx::from(&mut *tx), tenant).await?;
            let sql = format!(
                "SELECT * FROM authz_relationships WHERE tenant = $1 AND deleted_rev IS NULL AND {}",
                unexpired_at(crate::now())
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let r = row_to_tuple(row)?;
                if let Err(e) = r.validate(schema) {
                    return Err(AuthzStoreError::SchemaBreaksData(format!("`{r}`: {e}")));
                }
            }
            sqlx::query("INSERT INTO authz_schemas (tenant, revision, text) VALUES ($1, $2, $3)")
                .bind(tenant)
                .bind(db_rev(revision))
                .bind(text)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, AuthzStoreError>(revision)
        }).await?);
        // Evict what this write changed now, so this origin reads its own writes at once.
        self.sync(tenant, revision).await?;
        Ok(revision)
    }

    /// Apply `updates` atomically if every precondition holds; returns the new revision.
    ///
    /// # Errors
    /// See [`AuthzStoreError`]; nothing is written on error.
    pub async fn write(
        &self,
        tenant: &str,
        updates: &[(Operation, Tuple)],
        preconditions: &[Precondition],
    ) -> Result<u64, AuthzStoreError> {
        let revision = on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            let revision = Self::begin_revision(WriteTx::from(&mut *tx), tenant).await?;
            self.apply_updates(WriteTx::from(&mut *tx), tenant, revision, updates, preconditions).await?;
            tx.commit().await?;
            Ok::<_, AuthzStoreError>(revision)
        }).await?);
        // Evict what this write changed now, so this origin reads its own writes at once.
        self.sync(tenant, revision).await?;
        Ok(revision)
    }

    /// Inside a write transaction the caller holds: advance `tenant`'s head and return the new revision,
    /// which every change of this transaction is then written at ([`Self::apply_updates`],
    /// [`Self::delete_matching_at`]). In PostgreSQL this holds the tenant's row lock until the caller
    /// commits; take it after any lock of the caller's own rows and before none (SCIM locks its group or
    /// user row first). After the commit, [`Self::written`] brings this origin's cache up to it.
    ///
    /// # Errors
    /// Database failures.
    pub async fn begin_revision(tx: WriteTx<'_>, tenant: &str) -> Result<u64, AuthzStoreError> {
        on_tx!(tx, c => {
            let head: i64 = sqlx::query(
                "INSERT INTO authz_tenants (tenant, head) VALUES ($1, 1)
                 ON CONFLICT (tenant) DO UPDATE SET head = authz_tenants.head + 1 RETURNING head",
            )
            .bind(tenant)
            .fetch_one(&mut *c)
            .await?
            .try_get("head")?;
            Ok(rev(head))
        })
    }

    /// Inside a write transaction at `revision` (from [`Self::begin_revision`]): check `preconditions`,
    /// validate `updates` against the schema in force and apply them. The one implementation of a
    /// relationship write: the authz API's [`Self::write`] and SCIM's group membership both use it.
    ///
    /// A relationship is identified without its caveat and expiration: `create` of one that is live
    /// with any caveat fails, `touch` with another caveat, context or expiration replaces it — the old
    /// row ends at `revision` and the new one starts there — and `delete` ends it whatever its caveat.
    /// One expired (by the origin's clock now) counts as deleted: `create` succeeds over it (unlike
    /// SpiceDB's, which refuses until its garbage collector has run), ending the expired row first;
    /// preconditions do not see it.
    ///
    /// # Errors
    /// See [`AuthzStoreError`]; the caller must not commit on error.
    pub async fn apply_updates(
        &self,
        tx: WriteTx<'_>,
        tenant: &str,
        revision: u64,
        updates: &[(Operation, Tuple)],
        preconditions: &[Precondition],
    ) -> Result<(), AuthzStoreError> {
        let mut seen = std::collections::HashSet::new();
        for (_, t) in updates {
            if !seen.insert(&t.relationship) {
                return Err(AuthzStoreError::DuplicateUpdate(t.relationship.to_string()));
            }
        }
        let now = crate::now();
        let unexpired = unexpired_at(now);
        on_tx!(tx, c => {
            // The schema is read under the tenant's write lock, so a schema written concurrently is either
            // wholly before this write (and validates it) or wholly after (and checks what it wrote).
            let schema_rev: Option<i64> = sqlx::query_scalar(
                "SELECT revision FROM authz_schemas WHERE tenant = $1 ORDER BY revision DESC LIMIT 1",
            )
            .bind(tenant)
            .fetch_optional(&mut *c)
            .await?;
            let schema_rev = schema_rev.map(rev).ok_or(AuthzStoreError::NoSchema)?;
            let key = (tenant.to_owned(), schema_rev);
            let parsed = self.lock_parsed().get(&key).cloned();
            let schema = match parsed {
                Some(s) => s,
                None => {
                    let text: String = sqlx::query_scalar(
                        "SELECT text FROM authz_schemas WHERE tenant = $1 AND revision = $2",
                    )
                    .bind(tenant)
                    .bind(db_rev(schema_rev))
                    .fetch_one(&mut *c)
                    .await?;
                    let s = std::sync::Arc::new(parse_schema(&text).map_err(AuthzStoreError::Schema)?);
                    self.remember_parsed(key, s.clone());
                    s
                }
            };
            for (op, r) in updates {
                if *op != Operation::Delete {
                    r.validate(&schema).map_err(AuthzStoreError::Relationship)?;
                }
            }
            for p in preconditions {
                let (clause, args) = filter_sql(&p.filter, 2);
                let sql = format!("SELECT 1 FROM authz_relationships WHERE tenant = $1 AND deleted_rev IS NULL AND {unexpired}{clause} LIMIT 1");
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant);
                for a in &args {
                    q = q.bind(a);
                }
                let matched = q.fetch_optional(&mut *c).await?.is_some();
                precondition_holds(p, matched)?;
            }
            // Many rows per statement: a statement costs a round trip, a row almost nothing.
            let inserts: Vec<&(Operation, Tuple)> =
                updates.iter().filter(|(op, _)| *op != Operation::Delete).collect();
            for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
                // An expired row counts as deleted: end it, so that the write may create the relationship.
                let mut sql = format!(
                    "UPDATE authz_relationships SET deleted_rev = $2 WHERE tenant = $1 AND deleted_rev IS NULL
                     AND expires_at <= {} AND (resource_type, resource_id, relation, subject_type, subject_id,
                     subject_relation) IN (VALUES ",
                    now.as_millis()
                );
                sql.push_str(&placeholders(chunk.len(), 6, 3, "", ""));
                sql.push(')');
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant)
                    .bind(db_rev(revision));
                for (_, t) in chunk {
                    for k in relationship_key(t) {
                        q = q.bind(k);
                    }
                }
                q.execute(&mut *c).await?;
                // A touch with another caveat or expiration first ends the live row it replaces.
                let touches: Vec<&Tuple> = chunk
                    .iter()
                    .filter(|(op, _)| *op == Operation::Touch)
                    .map(|(_, t)| t)
                    .collect();
                if !touches.is_empty() {
                    let mut sql = String::from(
                        "UPDATE authz_relationships SET deleted_rev = $2 WHERE tenant = $1 AND deleted_rev IS NULL
                         AND (resource_type, resource_id, relation, subject_type, subject_id, subject_relation) IN (VALUES ",
                    );
                    sql.push_str(&placeholders(touches.len(), 6, 3, "", ""));
                    sql.push_str(
                        ") AND (resource_type, resource_id, relation, subject_type, subject_id, subject_relation,
                         caveat_name, caveat_context, COALESCE(expires_at, -1)) NOT IN (VALUES ",
                    );
                    sql.push_str(&placeholders(touches.len(), 9, 3 + 6 * touches.len(), "", ""));
                    sql.push(')');
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(tenant)
                        .bind(db_rev(revision));
                    for t in &touches {
                        for k in relationship_key(t) {
                            q = q.bind(k);
                        }
                    }
                    for t in &touches {
                        for k in relationship_key(t) {
                            q = q.bind(k);
                        }
                        q = q
                            .bind(t.caveat_name())
                            .bind(t.context_json())
                            .bind(t.expiration.map_or(-1, UnixTime::as_millis));
                    }
                    q.execute(&mut *c).await?;
                }
                let mut sql = String::from(
                    "INSERT INTO authz_relationships (tenant, resource_type, resource_id, relation, subject_type,
                     subject_id, subject_relation, caveat_name, caveat_context, expires_at, created_rev) VALUES ",
                );
                sql.push_str(&placeholders(chunk.len(), 9, 3, "$1, ", ", $2"));
                sql.push_str(
                    " ON CONFLICT (tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
                      WHERE deleted_rev IS NULL DO NOTHING
                      RETURNING resource_type, resource_id, relation, subject_type, subject_id, subject_relation",
                );
                let mut q = sqlx::query_as::<_, (String, String, String, String, String, String)>(
                    sqlx::AssertSqlSafe(sql),
                )
                .bind(tenant)
                .bind(db_rev(revision));
                for (_, t) in chunk {
                    for k in relationship_key(t) {
                        q = q.bind(k);
                    }
                    q = q
                        .bind(t.caveat_name())
                        .bind(t.context_json())
                        .bind(t.expiration.map(UnixTime::as_millis));
                }
                let inserted: std::collections::HashSet<(String, String, String, String, String, String)> =
                    q.fetch_all(&mut *c).await?.into_iter().collect();
                for (op, t) in chunk {
                    let [a, b, c, d, e, f] = relationship_key(t).map(str::to_owned);
                    if *op == Operation::Create && !inserted.contains(&(a, b, c, d, e, f)) {
                        return Err(AuthzStoreError::AlreadyExists(t.relationship.to_string()));
                    }
                }
            }
            let deletes: Vec<&Tuple> = updates
                .iter()
                .filter(|(op, _)| *op == Operation::Delete)
                .map(|(_, r)| r)
                .collect();
            for chunk in deletes.chunks(ROWS_PER_STATEMENT) {
                let mut sql = String::from(
                    "UPDATE authz_relationships SET deleted_rev = $2 WHERE tenant = $1 AND deleted_rev IS NULL
                     AND (resource_type, resource_id, relation, subject_type, subject_id, subject_relation) IN (VALUES ",
                );
                sql.push_str(&placeholders(chunk.len(), 6, 3, "", ""));
                sql.push(')');
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant)
                    .bind(db_rev(revision));
                for r in chunk {
                    for k in relationship_key(r) {
                        q = q.bind(k);
                    }
                }
                q.execute(&mut *c).await?;
            }
            Ok(())
        })
    }

    /// This origin's cache brought up to `revision`, which the caller's transaction committed (the
    /// cache syncs on the next read anyway; this makes the writer's own reads cheap at once).
    ///
    /// # Errors
    /// Database failures.
    pub async fn written(&self, tenant: &str, revision: u64) -> Result<(), AuthzStoreError> {
        self.sync(tenant, revision).await
    }

    /// Delete every live relationship matching `filter`; returns the new revision and how many went.
    ///
    /// # Errors
    /// Database failures.
    pub async fn delete_matching(
        &self,
        tenant: &str,
        filter: &Filter,
    ) -> Result<(u64, u64), AuthzStoreError> {
        let done = on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            let revision = Self::begin_revision(WriteTx::from(&mut *tx), tenant).await?;
            let deleted = Self::delete_matching_at(WriteTx::from(&mut *tx), tenant, revision, filter).await?;
            tx.commit().await?;
            Ok::<_, AuthzStoreError>((revision, deleted))
        }).await?);
        self.sync(tenant, done.0).await?;
        Ok(done)
    }

    /// End the relationships that expired at or before `before`, each tenant's at a revision of its
    /// own (the background sweep, [`crate::authz::sweep`]). Expired relationships count as deleted
    /// already; this takes them out of the live rows and shows watchers their end. Returns, per tenant
    /// that had any, the revision and how many went.
    ///
    /// # Errors
    /// Database failures.
    pub async fn sweep_expired(
        &self,
        before: UnixTime,
    ) -> Result<Vec<(String, u64, u64)>, AuthzStoreError> {
        let before = before.as_millis();
        let tenants: Vec<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT DISTINCT tenant FROM authz_relationships
                 WHERE expires_at <= $1 AND expires_at IS NOT NULL AND deleted_rev IS NULL",
            )
            .bind(before)
            .fetch_all(pool)
            .await?
        });
        let mut swept = Vec::new();
        for tenant in &tenants {
            let done = on_db!(&self.db, pool => retry::transaction(|| async move {
                let mut tx = pool.begin().await?;
                let revision = Self::begin_revision(WriteTx::from(&mut *tx), tenant).await?;
                let ended = sqlx::query(
                    "UPDATE authz_relationships SET deleted_rev = $1
                     WHERE tenant = $2 AND expires_at <= $3 AND expires_at IS NOT NULL AND deleted_rev IS NULL",
                )
                .bind(db_rev(revision))
                .bind(tenant)
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if ended == 0 {
                    // Another writer (or sweeper) ended them first: no revision for nothing.
                    tx.rollback().await?;
                    return Ok::<_, AuthzStoreError>(None);
                }
                tx.commit().await?;
                Ok(Some((revision, ended)))
            }).await?);
            if let Some((revision, ended)) = done {
                self.sync(tenant, revision).await?;
                swept.push((tenant.clone(), revision, ended));
            }
        }
        Ok(swept)
    }

    /// Inside a write transaction at `revision`: end every live, unexpired relationship matching
    /// `filter`; returns how many went (expired ones are the sweep's, [`Self::sweep_expired`]).
    ///
    /// # Errors
    /// Database failures.
    pub async fn delete_matching_at(
        tx: WriteTx<'_>,
        tenant: &str,
        revision: u64,
        filter: &Filter,
    ) -> Result<u64, AuthzStoreError> {
        on_tx!(tx, c => {
            let (clause, args) = filter_sql(filter, 3);
            let unexpired = unexpired_at(crate::now());
            let sql = format!("UPDATE authz_relationships SET deleted_rev = $1 WHERE tenant = $2 AND deleted_rev IS NULL AND {unexpired}{clause}");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(db_rev(revision))
                .bind(tenant);
            for a in &args {
                q = q.bind(a);
            }
            Ok(q.execute(&mut *c).await?.rows_affected())
        })
    }
}

/// The placeholders of `rows` rows of `columns` values each, numbered from `$first`, each row's between
/// `before` and `after`: `(<before>$3, $4, ...<after>), (<before>$9, ...)`.
fn placeholders(rows: usize, columns: usize, first: usize, before: &str, after: &str) -> String {
    (0..rows)
        .map(|i| {
            let b = first + i * columns;
            let row: Vec<String> = (b..b + columns).map(|n| format!("${n}")).collect();
            format!("({before}{}{after})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The six columns that identify a relationship, in table order.
fn relationship_key(t: &Tuple) -> [&str; 6] {
    let r = &t.relationship;
    [
        &r.resource.object_type,
        &r.resource.id,
        &r.relation,
        &r.subject.object.object_type,
        &r.subject.object.id,
        r.subject.relation.as_deref().unwrap_or(""),
    ]
}

fn precondition_holds(p: &Precondition, matched: bool) -> Result<(), AuthzStoreError> {
    match (p.operation, matched) {
        (PreconditionOp::MustMatch, true) | (PreconditionOp::MustNotMatch, false) => Ok(()),
        (op, _) => {
            let want = if op == PreconditionOp::MustMatch {
                "must match"
            } else {
                "must not match"
            };
            Err(AuthzStoreError::PreconditionFailed(format!(
                "{want} {}",
                serde_json::to_string(&p.filter).unwrap_or_default()
            )))
        }
    }
}
