//! The authoritative relationship store (SQLite or PostgreSQL, see [`crate::store::Db`]): per-tenant revisions, versioned schemas, and
//! relationships kept with the revision that created and the one that deleted them (MVCC), so a read at a
//! revision sees exactly the relationships live at that revision.
//!
//! Every write takes the tenant's head revision + 1 inside one transaction whose first statement is a
//! write: SQLite serialises writers from there without lock upgrades, and PostgreSQL holds the tenant's
//! row lock until commit, so writers of one tenant commit in revision order and a reader at revision `r`
//! never misses a write numbered `r` or below. Each write checks its preconditions against the state
//! before it and returns the new revision.
//!
//! By stage: `schema` (the schema in force at a revision, parsed once), `snapshot` (which revision a
//! read runs at, and syncing the relationship cache up to it), `write` (schemas, updates with
//! preconditions, deletes), `read` (reads by filter, watch), `reader` (the engine's storage port,
//! [`SnapshotReader`]). Here: the errors, the shared SQL helpers and the store itself.

mod read;
mod reader;
mod schema;
mod snapshot;
mod write;

pub use write::WriteTx;

use std::collections::HashMap;

use rusqlite::OptionalExtension as _;

use crate::authz::cache::RelCache;
use crate::store::retry::Retryable;
use crate::store::sqlite_reads::SqliteReads;
use crate::store::Db;
use tessera_authz::relationship::{ObjectRef, Relationship, SubjectRef};
use tessera_authz::{Schema, Tuple};

pub use reader::{SnapshotReader, BUDGET_SPENT};
pub use snapshot::MINIMIZE_LATENCY_WINDOW;

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
    /// A read on the engine's SQLite connections (see [`crate::store::sqlite_reads`]).
    SqliteRead(rusqlite::Error),
}

impl From<rusqlite::Error> for AuthzStoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::SqliteRead(e)
    }
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
            Self::SqliteRead(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for AuthzStoreError {}

impl Retryable for AuthzStoreError {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Database(e) if e.is_retryable())
    }
}

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

/// A row with its caveat columns.
fn row_to_tuple<R: sqlx::Row>(r: &R) -> Result<Tuple, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let name: String = r.try_get("caveat_name")?;
    let context: String = r.try_get("caveat_context")?;
    let expires: Option<i64> = r.try_get("expires_at")?;
    Tuple::from_columns(row_to_relationship(r)?, &name, &context)
        .map(|t| t.expiring(expires))
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "caveat_context".into(),
            source: Box::new(e),
        })
}

/// The SQL condition "not expired at `now`" (`expires_at` holds milliseconds since the epoch). `now`
/// is the origin's own clock, never a request's: written into the text as a number.
fn unexpired_at(now: tessera_proto::UnixTime) -> String {
    format!("(expires_at IS NULL OR expires_at > {})", now.as_millis())
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
    /// Where the engine's reads (and the head's) go.
    reads: Reads,
    /// Parsed schemas by (tenant, the revision they were written at): a written schema never changes, so
    /// entries never go stale; the map is emptied when it reaches [`SCHEMA_CACHE_SIZE`].
    parsed: std::sync::Arc<std::sync::Mutex<ParsedSchemas>>,
    /// Relationships in memory, exact by revision (see [`crate::authz::cache`]).
    cache: std::sync::Arc<RelCache>,
}

/// Where the engine reads: SQLite on the asking thread (rusqlite, see [`crate::store::sqlite_reads`]:
/// sqlx's hop per statement was most of a check's time); PostgreSQL through sqlx.
#[derive(Clone)]
enum Reads {
    Sqlite(std::sync::Arc<SqliteReads>),
    Postgres(sqlx::PgPool),
}

type ParsedSchemas = HashMap<(String, u64), std::sync::Arc<Schema>>;

impl AuthzStore {
    #[must_use]
    pub fn new(db: Db) -> Self {
        let reads = match &db {
            Db::Sqlite(p) => Reads::Sqlite(SqliteReads::new(p.connect_options().get_filename())),
            Db::Postgres(p) => Reads::Postgres(p.clone()),
        };
        Self {
            db,
            reads,
            parsed: std::sync::Arc::default(),
            cache: std::sync::Arc::default(),
        }
    }

    /// The kept answer to `question` at revision `at` (see [`crate::authz::cache`]), if one holds there.
    #[must_use]
    pub fn decision(
        &self,
        tenant: &str,
        question: &crate::authz::cache::DecisionKey,
        at: u64,
    ) -> Option<(bool, Option<tessera_proto::UnixTime>)> {
        self.cache
            .decision(tenant, question, (at, crate::now().as_millis()))
            .map(|(allowed, until)| (allowed, until.map(tessera_proto::UnixTime::from_millis)))
    }

    /// The tenant's newest revision (0 when it has never been written).
    ///
    /// # Errors
    /// Database failures.
    pub async fn head(&self, tenant: &str) -> Result<u64, AuthzStoreError> {
        const SQL: &str = "SELECT head FROM authz_tenants WHERE tenant = $1";
        let head: Option<i64> = match &self.reads {
            // One indexed lookup: on this thread (see `sqlite_reads`).
            Reads::Sqlite(reads) => reads
                .take()?
                .prepare_cached(SQL)?
                .query_row([tenant], |r| r.get(0))
                .optional()?,
            Reads::Postgres(pool) => {
                sqlx::query_scalar(SQL)
                    .bind(tenant)
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok(head.map_or(0, rev))
    }
}
