//! The authoritative relationship store (SQLite or PostgreSQL, see [`crate::store::Db`]): per-tenant revisions, versioned schemas, and
//! relationships kept with the revision that created and the one that deleted them (MVCC), so a read at a
//! revision sees exactly the relationships live at that revision.
//!
//! Every write takes the tenant's head revision + 1 inside one transaction whose first statement is a
//! write: SQLite serialises writers from there without lock upgrades, and PostgreSQL holds the tenant's
//! row lock until commit, so writers of one tenant commit in revision order and a reader at revision `r`
//! never misses a write numbered `r` or below. Each write checks its preconditions against the state
//! before it and returns the new revision.

use sqlx::Row as _;

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

/// Which relationships an operation is about; `resource_type` is required.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub resource_type: String,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub relation: Option<String>,
    #[serde(default)]
    pub subject_type: Option<String>,
    #[serde(default)]
    pub subject_id: Option<String>,
    /// `""` for plain objects.
    #[serde(default)]
    pub subject_relation: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Touch,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreconditionOp {
    MustMatch,
    MustNotMatch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Precondition {
    pub operation: PreconditionOp,
    pub filter: Filter,
}

/// One change reported by watch.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub revision: u64,
    pub operation: Operation,
    pub relationship: String,
}

const LIVE_AT: &str = "created_rev <= $2 AND (deleted_rev IS NULL OR deleted_rev > $2)";

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
}

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
        Self { db }
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
        match at {
            None => Ok(head),
            Some(r) if r <= head => Ok(r),
            Some(r) => Err(AuthzStoreError::RevisionUnavailable(r)),
        }
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
        on_db!(&self.db, pool => {
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
            Ok(revision)
        })
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
        let (_, _, schema) = self
            .schema(tenant, None)
            .await?
            .ok_or(AuthzStoreError::NoSchema)?;
        let mut seen = std::collections::HashSet::new();
        for (op, r) in updates {
            if !seen.insert(r) {
                return Err(AuthzStoreError::DuplicateUpdate(r.to_string()));
            }
            if *op != Operation::Delete {
                r.validate(&schema).map_err(AuthzStoreError::Relationship)?;
            }
        }
        on_db!(&self.db, pool => {
            let (mut tx, revision) = begin_write!(pool, tenant);
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
            for (op, r) in updates {
                let key = relationship_key(r);
                let exists = {
                    let mut q = sqlx::query(
                        "SELECT 1 FROM authz_relationships WHERE tenant = $1 AND resource_type = $2 AND resource_id = $3
                         AND relation = $4 AND subject_type = $5 AND subject_id = $6 AND subject_relation = $7
                         AND deleted_rev IS NULL",
                    )
                    .bind(tenant);
                    for k in key {
                        q = q.bind(k);
                    }
                    q.fetch_optional(&mut *tx).await?.is_some()
                };
                match (op, exists) {
                    (Operation::Create, true) => {
                        return Err(AuthzStoreError::AlreadyExists(r.to_string()))
                    }
                    (Operation::Touch, true) | (Operation::Delete, false) => {}
                    (Operation::Create | Operation::Touch, false) => {
                        let mut q = sqlx::query(
                            "INSERT INTO authz_relationships (tenant, resource_type, resource_id, relation, subject_type,
                             subject_id, subject_relation, created_rev) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(tenant);
                        for k in key {
                            q = q.bind(k);
                        }
                        q.bind(db_rev(revision)).execute(&mut *tx).await?;
                    }
                    (Operation::Delete, true) => {
                        let mut q = sqlx::query(
                            "UPDATE authz_relationships SET deleted_rev = $8 WHERE tenant = $1 AND resource_type = $2
                             AND resource_id = $3 AND relation = $4 AND subject_type = $5 AND subject_id = $6
                             AND subject_relation = $7 AND deleted_rev IS NULL",
                        )
                        .bind(tenant);
                        for k in key {
                            q = q.bind(k);
                        }
                        q.bind(db_rev(revision)).execute(&mut *tx).await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(revision)
        })
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
        on_db!(&self.db, pool => {
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
            Ok((revision, done.rows_affected()))
        })
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

impl RelationshipReader for SnapshotReader {
    async fn subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<SubjectRef>, String> {
        let rows: Vec<(String, String, String)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT subject_type, subject_id, subject_relation FROM authz_relationships
                 WHERE tenant = $1 AND created_rev <= $2 AND (deleted_rev IS NULL OR deleted_rev > $2)
                 AND resource_type = $3 AND resource_id = $4 AND relation = $5",
            )
            .bind(&self.tenant)
            .bind(db_rev(self.at))
            .bind(&resource.object_type)
            .bind(&resource.id)
            .bind(relation)
            .fetch_all(pool)
            .await
            .map_err(|e| e.to_string())?
        });
        let mut out: Vec<SubjectRef> = rows
            .into_iter()
            .map(|(object_type, id, srel)| SubjectRef {
                object: ObjectRef { object_type, id },
                relation: if srel.is_empty() { None } else { Some(srel) },
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
        let rows: Vec<(String, String, String, String)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT resource_type, resource_id, relation, subject_relation FROM authz_relationships
                 WHERE tenant = $1 AND subject_type = $3 AND subject_id = $4
                   AND created_rev <= $2 AND (deleted_rev IS NULL OR deleted_rev > $2)",
            )
            .bind(&self.tenant)
            .bind(db_rev(self.at))
            .bind(&subject.object_type)
            .bind(&subject.id)
            .fetch_all(pool)
            .await
            .map_err(|e| e.to_string())?
        });
        let mut out: Vec<Relationship> = rows
            .into_iter()
            .map(|(object_type, id, relation, srel)| Relationship {
                resource: ObjectRef { object_type, id },
                relation,
                subject: SubjectRef {
                    object: subject.clone(),
                    relation: if srel.is_empty() { None } else { Some(srel) },
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

    async fn object_ids(&self, object_type: &str) -> Result<Vec<String>, String> {
        let rows: Vec<(String,)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT resource_id AS id FROM authz_relationships
                 WHERE tenant = $1 AND created_rev <= $2 AND (deleted_rev IS NULL OR deleted_rev > $2) AND resource_type = $3
                 UNION
                 SELECT subject_id AS id FROM authz_relationships
                 WHERE tenant = $1 AND created_rev <= $2 AND (deleted_rev IS NULL OR deleted_rev > $2) AND subject_type = $3
                   AND subject_id != '*'",
            )
            .bind(&self.tenant)
            .bind(db_rev(self.at))
            .bind(object_type)
            .fetch_all(pool)
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
