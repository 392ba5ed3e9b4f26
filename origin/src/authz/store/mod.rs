//! The authoritative relationship store (SQLite or PostgreSQL, see [`crate::store::Db`]): per-tenant revisions, versioned schemas, and
//! relationships kept with the revision that created and the one that deleted them (MVCC), so a read at a
//! revision sees exactly the relationships live at that revision.
//!
//! Every write takes the tenant's head revision + 1 inside one transaction whose first statement is a
//! write: SQLite serialises writers from there without lock upgrades, and PostgreSQL holds the tenant's
//! row lock until commit, so writers of one tenant commit in revision order and a reader at revision `r`
//! never misses a write numbered `r` or below. Each write checks its preconditions against the state
//! before it and returns the new revision.

use std::collections::HashMap;

use sqlx::Row as _;

use crate::authz::cache::{live, Changes, ForwardRow, RelCache, ReverseRow};
use crate::on_db;
use crate::store::Db;
use tessera_authz::relationship::{ObjectRef, Relationship, SubjectRef};
use tessera_authz::{parse_schema, RelationshipReader, Schema};

/// Why a store operation was refused.
#[derive(Debug)]
pub enum AuthzStoreError {
    /// The tenant has no schema yet.
    NoSchema,
    Schema(tessera_authz::SchemaError),
    Relationship(tessera_authz::RelationshipError),
    /// A new schema would orphan stored relationships.
    SchemaBreaksData(String),
    /// `create` of a relationship that exists.
    AlreadyExists(String),
    /// The same relationship twice in one batch.
    DuplicateUpdate(String),
    PreconditionFailed(String),
    /// A revision newer than the head (a zookie from the future) or older than kept history.
    RevisionUnavailable(u64),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for AuthzStoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl std::fmt::Display for AuthzStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSchema => f.write_str("this tenant has no schema yet: write one first"),
            Self::Schema(e) => write!(f, "schema {e}"),
            Self::Relationship(e) => write!(f, "{e}"),
            Self::SchemaBreaksData(why) => {
                write!(f, "the new schema would orphan stored relationships: {why}")
            }
            Self::AlreadyExists(r) => {
                write!(f, "relationship `{r}` already exists (use touch to upsert)")
            }
            Self::DuplicateUpdate(r) => write!(f, "relationship `{r}` appears twice in one write"),
            Self::PreconditionFailed(why) => write!(f, "precondition failed: {why}"),
            Self::RevisionUnavailable(r) => write!(f, "revision {r} is not available"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for AuthzStoreError {}

// The wire types of filters, updates, preconditions and watch changes are the API's (one contract).
pub use tessera_proto::authz::{Change, Filter, Operation, Precondition, PreconditionOp};

/// Live at revision `$2`. The unary `+` keeps SQLite's planner off the revision indexes (which serve
/// watch): without statistics it would otherwise scan a whole tenant by `created_rev` instead of seeking
/// the resource or subject index. PostgreSQL reads `+x` as `x`.
const LIVE_AT: &str = "+created_rev <= $2 AND (+deleted_rev IS NULL OR +deleted_rev > $2)";

fn rev(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn db_rev(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn row_to_relationship<R: sqlx::Row>(r: &R) -> Result<Relationship, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let srel: String = r.try_get("subject_relation")?;
    Ok(Relationship {
        resource: ObjectRef {
            object_type: r.try_get("resource_type")?,
            id: r.try_get("resource_id")?,
        },
        relation: r.try_get("relation")?,
        subject: SubjectRef {
            object: ObjectRef {
                object_type: r.try_get("subject_type")?,
                id: r.try_get("subject_id")?,
            },
            relation: if srel.is_empty() { None } else { Some(srel) },
        },
    })
}

/// `AND col = ?` for each field the filter sets. Only the fixed column names below are ever put into SQL
/// text (hence the `AssertSqlSafe` at the call sites); values are always bound.
fn filter_sql(f: &Filter, first_param: usize) -> (String, Vec<String>) {
    // Numbered `$N` parameters: both backends read them (sqlx binds SQLite's by number too).
    let mut sql = format!(" AND resource_type = ${first_param}");
    let mut args = vec![f.resource_type.clone()];
    for (col, v) in [
        ("resource_id", &f.resource_id),
        ("relation", &f.relation),
        ("subject_type", &f.subject_type),
        ("subject_id", &f.subject_id),
        ("subject_relation", &f.subject_relation),
    ] {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ${}", first_param + args.len()));
            args.push(v.clone());
        }
    }
    (sql, args)
}

#[derive(Clone)]
pub struct AuthzStore {
    db: Db,
    /// Parsed schemas by (tenant, the revision they were written at): a written schema never changes, so
    /// entries never go stale; the map is emptied when it reaches [`SCHEMA_CACHE_SIZE`].
    parsed: std::sync::Arc<std::sync::Mutex<ParsedSchemas>>,
    /// Relationships in memory, exact by revision (see [`crate::authz::cache`]).
    cache: std::sync::Arc<RelCache>,
}

/// How long `minimize_latency` may keep answering at the revision the cache last synced to before it
/// reads the head again.
pub const MINIMIZE_LATENCY_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// More changed rows than this between two syncs empties a tenant's cache instead of evicting key by key.
const MAX_EVICTIONS: i64 = 10_000;

/// Relationships per INSERT or UPDATE statement in a write (8 parameters each, well under every limit).
const ROWS_PER_STATEMENT: usize = 100;

const SCHEMA_CACHE_SIZE: usize = 1024;

type ParsedSchemas = HashMap<(String, u64), std::sync::Arc<Schema>>;

/// A changed row's keys: resource type, resource id, relation, subject type, subject id.
type ChangedRow = (String, String, String, String, String);

/// Open a write transaction on `$pool` that has already advanced `$tenant`'s head; evaluates to
/// `(transaction, new revision)`.
macro_rules! begin_write {
    ($pool:expr, $tenant:expr) => {{
        let mut tx = $pool.begin().await?;
        let head: i64 = sqlx::query(
            "INSERT INTO authz_tenants (tenant, head) VALUES ($1, 1)
             ON CONFLICT (tenant) DO UPDATE SET head = authz_tenants.head + 1 RETURNING head",
        )
        .bind($tenant)
        .fetch_one(&mut *tx)
        .await?
        .try_get("head")?;
        (tx, rev(head))
    }};
}

impl AuthzStore {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self {
            db,
            parsed: std::sync::Arc::default(),
            cache: std::sync::Arc::default(),
        }
    }

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

    fn remember_parsed(&self, key: (String, u64), schema: std::sync::Arc<Schema>) {
        let mut parsed = self.lock_parsed();
        if parsed.len() >= SCHEMA_CACHE_SIZE {
            parsed.clear();
        }
        parsed.insert(key, schema);
    }

    fn lock_parsed(&self) -> std::sync::MutexGuard<'_, ParsedSchemas> {
        // A panic while holding this lock cannot leave the map inconsistent: take it regardless.
        self.parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tenant's newest revision (0 when it has never been written).
    ///
    /// # Errors
    /// Database failures.
    pub async fn head(&self, tenant: &str) -> Result<u64, AuthzStoreError> {
        on_db!(&self.db, pool => {
            let row = sqlx::query("SELECT head FROM authz_tenants WHERE tenant = $1")
                .bind(tenant)
                .fetch_optional(pool)
                .await?;
            Ok(row
                .map(|r| r.try_get::<i64, _>("head"))
                .transpose()?
                .map_or(0, rev))
        })
    }

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
        match self.cache.synced(tenant) {
            Some((rev, when)) if when.elapsed() <= MINIMIZE_LATENCY_WINDOW => Ok(rev),
            _ => self.snapshot(tenant, None).await,
        }
    }

    /// Bring the tenant's cache up to `head`: evict exactly the keys changed since it last synced.
    async fn sync(&self, tenant: &str, head: u64) -> Result<(), AuthzStoreError> {
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

    /// Validate and store a new schema; refuses one under which a live relationship would be invalid.
    ///
    /// # Errors
    /// See [`AuthzStoreError`].
    pub async fn write_schema(&self, tenant: &str, text: &str) -> Result<u64, AuthzStoreError> {
        let schema = parse_schema(text).map_err(AuthzStoreError::Schema)?;
        let revision = on_db!(&self.db, pool => {
            let (mut tx, revision) = begin_write!(pool, tenant);
            let rows = sqlx::query(
                "SELECT * FROM authz_relationships WHERE tenant = $1 AND deleted_rev IS NULL",
            )
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let r = row_to_relationship(row)?;
                if let Err(e) = r.validate(&schema) {
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
            revision
        });
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
        updates: &[(Operation, Relationship)],
        preconditions: &[Precondition],
    ) -> Result<u64, AuthzStoreError> {
        let mut seen = std::collections::HashSet::new();
        for (_, r) in updates {
            if !seen.insert(r) {
                return Err(AuthzStoreError::DuplicateUpdate(r.to_string()));
            }
        }
        let revision = on_db!(&self.db, pool => {
            let (mut tx, revision) = begin_write!(pool, tenant);
            // The schema is read under the tenant's write lock, so a schema written concurrently is either
            // wholly before this write (and validates it) or wholly after (and checks what it wrote).
            let schema_rev: Option<i64> = sqlx::query_scalar(
                "SELECT revision FROM authz_schemas WHERE tenant = $1 ORDER BY revision DESC LIMIT 1",
            )
            .bind(tenant)
            .fetch_optional(&mut *tx)
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
                    .fetch_one(&mut *tx)
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
                let sql = format!("SELECT 1 FROM authz_relationships WHERE tenant = $1 AND deleted_rev IS NULL{clause} LIMIT 1");
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant);
                for a in &args {
                    q = q.bind(a);
                }
                let matched = q.fetch_optional(&mut *tx).await?.is_some();
                precondition_holds(p, matched)?;
            }
            // Many rows per statement: a statement costs a round trip, a row almost nothing.
            let inserts: Vec<&(Operation, Relationship)> =
                updates.iter().filter(|(op, _)| *op != Operation::Delete).collect();
            for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
                let mut sql = String::from(
                    "INSERT INTO authz_relationships (tenant, resource_type, resource_id, relation, subject_type,
                     subject_id, subject_relation, created_rev) VALUES ",
                );
                for i in 0..chunk.len() {
                    let b = 3 + i * 6;
                    let sep = if i == 0 { "" } else { ", " };
                    sql.push_str(&format!(
                        "{sep}($1, ${}, ${}, ${}, ${}, ${}, ${}, $2)",
                        b, b + 1, b + 2, b + 3, b + 4, b + 5
                    ));
                }
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
                for (_, r) in chunk {
                    for k in relationship_key(r) {
                        q = q.bind(k);
                    }
                }
                let inserted: std::collections::HashSet<(String, String, String, String, String, String)> =
                    q.fetch_all(&mut *tx).await?.into_iter().collect();
                for (op, r) in chunk {
                    let [a, b, c, d, e, f] = relationship_key(r).map(str::to_owned);
                    if *op == Operation::Create && !inserted.contains(&(a, b, c, d, e, f)) {
                        return Err(AuthzStoreError::AlreadyExists(r.to_string()));
                    }
                }
            }
            let deletes: Vec<&Relationship> = updates
                .iter()
                .filter(|(op, _)| *op == Operation::Delete)
                .map(|(_, r)| r)
                .collect();
            for chunk in deletes.chunks(ROWS_PER_STATEMENT) {
                let mut sql = String::from(
                    "UPDATE authz_relationships SET deleted_rev = $2 WHERE tenant = $1 AND deleted_rev IS NULL
                     AND (resource_type, resource_id, relation, subject_type, subject_id, subject_relation) IN (VALUES ",
                );
                for i in 0..chunk.len() {
                    let b = 3 + i * 6;
                    let sep = if i == 0 { "" } else { ", " };
                    sql.push_str(&format!(
                        "{sep}(${}, ${}, ${}, ${}, ${}, ${})",
                        b, b + 1, b + 2, b + 3, b + 4, b + 5
                    ));
                }
                sql.push(')');
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant)
                    .bind(db_rev(revision));
                for r in chunk {
                    for k in relationship_key(r) {
                        q = q.bind(k);
                    }
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            revision
        });
        // Evict what this write changed now, so this origin reads its own writes at once.
        self.sync(tenant, revision).await?;
        Ok(revision)
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
        let done = on_db!(&self.db, pool => {
            let (mut tx, revision) = begin_write!(pool, tenant);
            let (clause, args) = filter_sql(filter, 3);
            let sql = format!("UPDATE authz_relationships SET deleted_rev = $1 WHERE tenant = $2 AND deleted_rev IS NULL{clause}");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(db_rev(revision))
                .bind(tenant);
            for a in &args {
                q = q.bind(a);
            }
            let done = q.execute(&mut *tx).await?;
            tx.commit().await?;
            (revision, done.rows_affected())
        });
        self.sync(tenant, done.0).await?;
        Ok(done)
    }

    /// Relationships matching `filter` live at revision `at`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn read(
        &self,
        tenant: &str,
        filter: &Filter,
        at: u64,
    ) -> Result<Vec<Relationship>, AuthzStoreError> {
        let (clause, args) = filter_sql(filter, 3);
        let sql = format!(
            "SELECT * FROM authz_relationships WHERE tenant = $1 AND {LIVE_AT}{clause}
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
                .map(row_to_relationship)
                .collect::<Result<_, _>>()
                .map_err(Into::into)
        })
    }

    /// Changes after revision `since`, in revision order, at most `limit`.
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
                          created_rev AS rev, 'touch' AS op
                   FROM authz_relationships WHERE tenant = $1 AND created_rev > $2
                   UNION ALL
                   SELECT resource_type, resource_id, relation, subject_type, subject_id, subject_relation,
                          deleted_rev AS rev, 'delete' AS op
                   FROM authz_relationships WHERE tenant = $1 AND deleted_rev > $2
                 ) AS changes
                 ORDER BY rev, op DESC, resource_type, resource_id, relation, subject_type, subject_id, subject_relation
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
                        relationship: row_to_relationship(r)?.to_string(),
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// A reader for the check engine, fixed at one tenant and revision.
    #[must_use]
    pub fn reader(&self, tenant: &str, at: u64) -> SnapshotReader {
        SnapshotReader {
            db: self.db.clone(),
            tenant: tenant.to_owned(),
            at,
            context: Vec::new(),
            conn: tokio::sync::Mutex::new(None),
            cache: self.cache.clone(),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// The six columns that identify a relationship, in table order.
fn relationship_key(r: &Relationship) -> [&str; 6] {
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

/// Reads relationships of one tenant as of one revision, plus any contextual relationships of the request.
pub struct SnapshotReader {
    db: Db,
    tenant: String,
    at: u64,
    context: Vec<Relationship>,
    /// One read transaction for all the queries of a request, opened at the first: an engine walk issues
    /// many small queries, and a pool round trip and a fresh SQLite read lock for each would cost more
    /// than the query. Dropped (rolled back) with the reader; it only ever reads.
    conn: tokio::sync::Mutex<Option<Conn>>,
    cache: std::sync::Arc<RelCache>,
    /// The cache generation when the transaction began: loads are cached only if no sync came since.
    generation: std::sync::atomic::AtomicU64,
}

enum Conn {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Run `$body` with `$c` bound to the reader's connection (acquired on first use), typed per backend.
macro_rules! on_conn {
    ($reader:expr, $c:ident => $body:expr) => {{
        let mut guard = $reader.conn.lock().await;
        if guard.is_none() {
            $reader.generation.store(
                $reader.cache.generation(&$reader.tenant),
                std::sync::atomic::Ordering::Relaxed,
            );
            *guard = Some(match &$reader.db {
                Db::Sqlite(p) => Conn::Sqlite(p.begin().await.map_err(|e| e.to_string())?),
                Db::Postgres(p) => Conn::Postgres(p.begin().await.map_err(|e| e.to_string())?),
            });
        }
        match guard.as_mut() {
            Some(Conn::Sqlite(c)) => {
                let $c = &mut **c;
                $body
            }
            Some(Conn::Postgres(c)) => {
                let $c = &mut **c;
                $body
            }
            None => return Err("no connection".to_owned()),
        }
    }};
}

impl SnapshotReader {
    /// Also see `context` (relationships that hold for this request only); duplicates of stored ones
    /// are harmless.
    #[must_use]
    pub fn with_context(mut self, context: Vec<Relationship>) -> Self {
        self.context = context;
        self
    }
}

impl SnapshotReader {
    /// Every version of `resource#relation` not deleted by `floor`, from the database.
    async fn load_forward(
        &self,
        resource: &ObjectRef,
        relation: &str,
        floor: u64,
    ) -> Result<Vec<ForwardRow>, String> {
        let rows: Vec<(String, String, String, i64, Option<i64>)> = on_conn!(self, conn => {
            sqlx::query_as(
                "SELECT subject_type, subject_id, subject_relation, created_rev, deleted_rev FROM authz_relationships
                 WHERE tenant = $1 AND resource_type = $3 AND resource_id = $4 AND relation = $5
                   AND (+deleted_rev IS NULL OR +deleted_rev > $2)",
            )
            .bind(&self.tenant)
            .bind(db_rev(floor))
            .bind(&resource.object_type)
            .bind(&resource.id)
            .bind(relation)
            .fetch_all(conn)
            .await
            .map_err(|e| e.to_string())?
        });
        Ok(rows
            .into_iter()
            .map(|(st, sid, srel, c, d)| ForwardRow {
                subject_type: st,
                subject_id: sid,
                subject_relation: srel,
                created: rev(c),
                deleted: d.map(rev),
            })
            .collect())
    }

    /// Every version of a relationship naming `subject` not deleted by `floor`, from the database.
    async fn load_reverse(
        &self,
        subject: &ObjectRef,
        floor: u64,
    ) -> Result<Vec<ReverseRow>, String> {
        let rows: Vec<(String, String, String, String, i64, Option<i64>)> = on_conn!(self, conn => {
            sqlx::query_as(
                "SELECT resource_type, resource_id, relation, subject_relation, created_rev, deleted_rev
                 FROM authz_relationships
                 WHERE tenant = $1 AND subject_type = $3 AND subject_id = $4
                   AND (+deleted_rev IS NULL OR +deleted_rev > $2)",
            )
            .bind(&self.tenant)
            .bind(db_rev(floor))
            .bind(&subject.object_type)
            .bind(&subject.id)
            .fetch_all(conn)
            .await
            .map_err(|e| e.to_string())?
        });
        Ok(rows
            .into_iter()
            .map(|(rt, rid, rel, srel, c, d)| ReverseRow {
                resource_type: rt,
                resource_id: rid,
                relation: rel,
                subject_relation: srel,
                created: rev(c),
                deleted: d.map(rev),
            })
            .collect())
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl RelationshipReader for SnapshotReader {
    async fn subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<SubjectRef>, String> {
        let key = (
            resource.object_type.clone(),
            resource.id.clone(),
            relation.to_owned(),
        );
        let rows = match self.cache.forward(&self.tenant, &key, self.at) {
            Some(rows) => rows,
            None => {
                // Below the cache's floor (an old snapshot) the floor is this read's own revision.
                let floor = self.cache.floor_for(&self.tenant, self.at);
                let rows: std::sync::Arc<[ForwardRow]> = self
                    .load_forward(resource, relation, floor.unwrap_or(self.at))
                    .await?
                    .into();
                if floor.is_some() {
                    let generation = self.generation();
                    self.cache
                        .put_forward(&self.tenant, generation, key, rows.clone());
                }
                rows
            }
        };
        let mut out: Vec<SubjectRef> = rows
            .iter()
            .filter(|r| live(r.created, r.deleted, self.at))
            .map(|r| SubjectRef {
                object: ObjectRef {
                    object_type: r.subject_type.clone(),
                    id: r.subject_id.clone(),
                },
                relation: if r.subject_relation.is_empty() {
                    None
                } else {
                    Some(r.subject_relation.clone())
                },
            })
            .collect();
        for r in &self.context {
            if r.resource == *resource && r.relation == relation && !out.contains(&r.subject) {
                out.push(r.subject.clone());
            }
        }
        Ok(out)
    }

    async fn relationships_with_subject(
        &self,
        subject: &ObjectRef,
    ) -> Result<Vec<Relationship>, String> {
        let key = (subject.object_type.clone(), subject.id.clone());
        let rows = match self.cache.reverse(&self.tenant, &key, self.at) {
            Some(rows) => rows,
            None => {
                let floor = self.cache.floor_for(&self.tenant, self.at);
                let rows: std::sync::Arc<[ReverseRow]> = self
                    .load_reverse(subject, floor.unwrap_or(self.at))
                    .await?
                    .into();
                if floor.is_some() {
                    let generation = self.generation();
                    self.cache
                        .put_reverse(&self.tenant, generation, key, rows.clone());
                }
                rows
            }
        };
        let mut out: Vec<Relationship> = rows
            .iter()
            .filter(|r| live(r.created, r.deleted, self.at))
            .map(|r| Relationship {
                resource: ObjectRef {
                    object_type: r.resource_type.clone(),
                    id: r.resource_id.clone(),
                },
                relation: r.relation.clone(),
                subject: SubjectRef {
                    object: subject.clone(),
                    relation: if r.subject_relation.is_empty() {
                        None
                    } else {
                        Some(r.subject_relation.clone())
                    },
                },
            })
            .collect();
        for r in &self.context {
            if r.subject.object == *subject && !out.contains(r) {
                out.push(r.clone());
            }
        }
        Ok(out)
    }

    async fn prefetch(&self, resources: &[ObjectRef], relations: &[String]) -> Result<(), String> {
        // Only worth it where the cache can keep the result, and only for keys not already there.
        let Some(floor) = self.cache.floor_for(&self.tenant, self.at) else {
            return Ok(());
        };
        let Some(first) = resources.first() else {
            return Ok(());
        };
        let object_type = &first.object_type;
        let ids: Vec<&str> = resources
            .iter()
            .filter(|r| r.object_type == *object_type)
            .filter(|r| {
                relations.iter().any(|rel| {
                    let key = (r.object_type.clone(), r.id.clone(), rel.clone());
                    self.cache.forward(&self.tenant, &key, self.at).is_none()
                })
            })
            .map(|r| r.id.as_str())
            .collect();
        if ids.is_empty() || relations.is_empty() {
            return Ok(());
        }
        // $1 tenant, $2 floor, $3 type, then the relations, then the ids.
        let rel_params: Vec<String> = (0..relations.len())
            .map(|i| format!("${}", 4 + i))
            .collect();
        let id_params: Vec<String> = (0..ids.len())
            .map(|i| format!("${}", 4 + relations.len() + i))
            .collect();
        let sql = format!(
            "SELECT resource_id, relation, subject_type, subject_id, subject_relation, created_rev, deleted_rev
             FROM authz_relationships
             WHERE tenant = $1 AND resource_type = $3 AND relation IN ({}) AND resource_id IN ({})
               AND (+deleted_rev IS NULL OR +deleted_rev > $2)",
            rel_params.join(", "),
            id_params.join(", ")
        );
        type Row = (String, String, String, String, String, i64, Option<i64>);
        let rows: Vec<Row> = on_conn!(self, conn => {
            let mut q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
                .bind(&self.tenant)
                .bind(db_rev(floor))
                .bind(object_type);
            for r in relations {
                q = q.bind(r);
            }
            for id in &ids {
                q = q.bind(*id);
            }
            q.fetch_all(conn).await.map_err(|e| e.to_string())?
        });
        let mut grouped: HashMap<(String, String), Vec<ForwardRow>> = HashMap::new();
        for id in &ids {
            for rel in relations {
                grouped.insert(((*id).to_owned(), rel.clone()), Vec::new());
            }
        }
        for (id, rel, st, sid, srel, c, d) in rows {
            grouped.entry((id, rel)).or_default().push(ForwardRow {
                subject_type: st,
                subject_id: sid,
                subject_relation: srel,
                created: rev(c),
                deleted: d.map(rev),
            });
        }
        let generation = self.generation();
        for ((id, rel), rows) in grouped {
            self.cache.put_forward(
                &self.tenant,
                generation,
                (object_type.clone(), id, rel),
                rows.into(),
            );
        }
        Ok(())
    }

    async fn object_ids(&self, object_type: &str) -> Result<Vec<String>, String> {
        let rows: Vec<(String,)> = on_conn!(self, conn => {
            sqlx::query_as(
                "SELECT resource_id AS id FROM authz_relationships
                 WHERE tenant = $1 AND +created_rev <= $2 AND (+deleted_rev IS NULL OR +deleted_rev > $2) AND resource_type = $3
                 UNION
                 SELECT subject_id AS id FROM authz_relationships
                 WHERE tenant = $1 AND +created_rev <= $2 AND (+deleted_rev IS NULL OR +deleted_rev > $2) AND subject_type = $3
                   AND subject_id != '*'",
            )
            .bind(&self.tenant)
            .bind(db_rev(self.at))
            .bind(object_type)
            .fetch_all(conn)
            .await
            .map_err(|e| e.to_string())?
        });
        let mut ids: Vec<String> = rows.into_iter().map(|(id,)| id).collect();
        for r in &self.context {
            for o in [&r.resource, &r.subject.object] {
                if o.object_type == object_type && o.id != "*" {
                    ids.push(o.id.clone());
                }
            }
        }
        Ok(ids)
    }
}
