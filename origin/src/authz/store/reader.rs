//! The check engine's storage port: relationships of one tenant at one revision, from the cache or, on a
//! miss, from one database connection per request (in SQLite, one read transaction, read on the engine's
//! own thread; see [`crate::store::sqlite_reads`]).

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::types::ToSql;
use tessera_authz::relationship::{ObjectRef, Relationship, SubjectRef};
use tessera_authz::{RelationshipCaveat, RelationshipReader, Tuple};
use tessera_proto::UnixTime;

use super::{db_rev, AuthzStore, Reads};
use crate::authz::cache::{live, ForwardKey, ForwardRow, RelCache};
use crate::store::retry;
use crate::store::sqlite_reads::Lease;

mod rows;
use rows::{Direction, Forward, Reverse};

impl AuthzStore {
    /// A reader for the check engine, fixed at one tenant and revision.
    #[must_use]
    pub fn reader(&self, tenant: &str, at: u64) -> SnapshotReader {
        SnapshotReader {
            reads: self.reads.clone(),
            tenant: tenant.to_owned(),
            at,
            context: Vec::new(),
            sqlite: std::sync::Mutex::new(None),
            postgres: tokio::sync::Mutex::new(None),
            cache: self.cache.clone(),
            generation: std::sync::atomic::AtomicU64::new(0),
            started: self.cache.generation(tenant),
            read: None,
            budget: None,
            now: crate::now().as_millis(),
            until: std::sync::atomic::AtomicI64::new(i64::MAX),
        }
    }
}

/// Reads relationships of one tenant as of one revision, plus any contextual relationships of the request.
pub struct SnapshotReader {
    reads: Reads,
    tenant: String,
    at: u64,
    /// Contextual relationships: this request's only.
    context: Vec<Tuple>,
    /// One connection for all the queries of a request, taken at the first: an engine walk issues many
    /// small queries, and a pool round trip for each would cost more than the query. In SQLite it holds
    /// one read transaction (a fresh read lock per query costs too); in PostgreSQL none — every query
    /// names its revision, so none needs a snapshot shared with the others, and a transaction open for a
    /// whole walk (a lookup may take seconds) would hold back vacuum and, under `SERIALIZABLE`, could
    /// be refused part-way through. Each query is then a transaction of its own, run again on a
    /// serialization failure. Returned to the pool with the reader; it only ever reads.
    ///
    /// SQLite's is read on the asking thread and never awaited: a walk over it never waits (see
    /// [`SnapshotReader::never_waits`]).
    sqlite: std::sync::Mutex<Option<Lease>>,
    postgres: tokio::sync::Mutex<Option<sqlx::pool::PoolConnection<sqlx::Postgres>>>,
    cache: std::sync::Arc<RelCache>,
    /// The cache generation when the connection was taken: loads are cached only if no sync came since
    /// (every query's snapshot is taken after it: SQLite's transaction's at its first read).
    generation: std::sync::atomic::AtomicU64,
    /// The cache generation when the reader was made, and every forward key it was asked for since:
    /// what a decision it reached depends on (see [`SnapshotReader::decided`]).
    started: u64,
    read: Option<std::sync::Mutex<Vec<ForwardKey>>>,
    /// How many more keys the walk may ask for, when it is bounded ([`SnapshotReader::bounded`]).
    budget: Option<std::sync::atomic::AtomicU32>,
    /// The moment the reader reads as of (the origin's clock when it was made, milliseconds): a
    /// relationship expired by then is not returned.
    now: i64,
    /// The earliest expiration among the relationships returned (`i64::MAX`: none): until then every
    /// answer reached through this reader stays true at its revision.
    until: std::sync::atomic::AtomicI64,
}

/// The store error of a bounded walk that asked for more keys than its budget.
pub const BUDGET_SPENT: &str = "the walk asked for more keys than its budget";

/// A query's parameters by name (`$1`, `$2`, ... as the SQL is written for both backends).
type Named<'p> = Vec<(&'p str, &'p dyn ToSql)>;

/// The names `$1` ... `$n`, for binding by name in SQLite.
const NAMES: [&str; 8] = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8"];

/// Run `$body`, one query evaluating to `Result<_, sqlx::Error>`, with `$c` bound to the reader's
/// PostgreSQL connection (taken on first use), as a transaction of its own run again on a serialization
/// failure ([`retry::transaction`]): it names its revision, so a rerun reads the same rows. The error as
/// text.
macro_rules! on_postgres {
    ($reader:expr, $pool:expr, $c:ident => $body:expr) => {
        retry::transaction(|| async move {
            let mut guard = $reader.postgres.lock().await;
            let c = match guard.take() {
                Some(c) => c,
                None => {
                    $reader.begin();
                    $pool.acquire().await?
                }
            };
            let $c = &mut **guard.insert(c);
            $body
        })
        .await
        .map_err(|e: sqlx::Error| e.to_string())
    };
}

impl SnapshotReader {
    /// Note the cache generation as the reader's connection is taken.
    fn begin(&self) {
        self.generation.store(
            self.cache.generation(&self.tenant),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Run `f` on the reader's SQLite connection, taken with its read transaction begun on first use;
    /// on this thread, synchronously (see [`crate::store::sqlite_reads`]). The error as text.
    fn on_sqlite<T>(
        &self,
        reads: &Arc<crate::store::sqlite_reads::SqliteReads>,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let mut guard = self
            .sqlite
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let lease = match guard.take() {
            Some(lease) => lease,
            None => {
                self.begin();
                let lease = reads.take().map_err(|e| e.to_string())?;
                lease.execute_batch("BEGIN").map_err(|e| e.to_string())?;
                lease
            }
        };
        f(guard.insert(lease)).map_err(|e| e.to_string())
    }

    /// Note every forward key the walk reads, so that its decision can be kept ([`Self::decided`]).
    #[must_use]
    pub fn recording(mut self) -> Self {
        self.read = Some(std::sync::Mutex::new(Vec::new()));
        self
    }

    /// Refuse (with [`BUDGET_SPENT`]) to answer more than `keys` forward keys: a walk on a thread that
    /// serves other requests must stay short.
    #[must_use]
    pub fn bounded(mut self, keys: u32) -> Self {
        self.budget = Some(std::sync::atomic::AtomicU32::new(keys));
        self
    }

    /// Keep `allowed` as the answer to `question`, which this reader's walk reached: with the keys it
    /// read, unless contextual relationships took part (they hold for one request only).
    pub fn decided(&self, question: crate::authz::cache::DecisionKey, allowed: bool) {
        let Some(read) = self.read.as_ref().filter(|_| self.context.is_empty()) else {
            return;
        };
        let read = std::mem::take(
            &mut *read
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let until = self.valid_until().map(UnixTime::as_millis);
        self.cache.put_decision(
            &self.tenant,
            self.started,
            (self.at, until),
            question,
            allowed,
            read,
        );
    }

    /// Whether every read of this reader completes without waiting (SQLite's, on the asking thread): an
    /// engine walk over it is then ready at its first poll, and may run where the request is.
    #[must_use]
    pub fn never_waits(&self) -> bool {
        matches!(self.reads, Reads::Sqlite(_))
    }
}

impl SnapshotReader {
    /// Also see `context` (relationships that hold for this request only); duplicates of stored ones
    /// are harmless.
    #[must_use]
    pub fn with_context(mut self, context: Vec<Tuple>) -> Self {
        self.context = context;
        self
    }
}

impl SnapshotReader {
    /// The rows of `key` (every version, each with its revisions), from the cache or, on a miss, from the
    /// database: every version not deleted by the cache's floor, kept for the requests that follow; below
    /// the floor (an old snapshot), every version not deleted by this read's own revision, not kept.
    async fn rows<D: Direction>(&self, key: D::Key) -> Result<Arc<[D::Row]>, String> {
        if let Some(rows) = D::cached(&self.cache, &self.tenant, &key, self.at) {
            return Ok(rows);
        }
        let floor = self.cache.floor_for(&self.tenant, self.at);
        let at = db_rev(floor.unwrap_or(self.at));
        let binds = &D::binds(&key);
        let loaded: Vec<D::Raw> = match &self.reads {
            Reads::Sqlite(reads) => self.on_sqlite(reads, |c| {
                let mut named: Named<'_> = vec![("$1", &self.tenant), ("$2", &at)];
                for (name, part) in NAMES[2..].iter().zip(binds) {
                    named.push((name, part));
                }
                c.prepare_cached(D::SQL)?
                    .query_map(named.as_slice(), D::sqlite_row)?
                    .collect()
            })?,
            Reads::Postgres(pool) => on_postgres!(self, pool, conn => {
                let mut q = sqlx::query_as(D::SQL).bind(&self.tenant).bind(at);
                for part in binds {
                    q = q.bind(*part);
                }
                q.fetch_all(conn).await
            })?,
        };
        let rows: Arc<[D::Row]> = loaded
            .into_iter()
            .map(D::row)
            .collect::<Result<_, String>>()?;
        if floor.is_some() {
            D::keep(
                &self.cache,
                &self.tenant,
                self.generation(),
                key,
                rows.clone(),
            );
        }
        Ok(rows)
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn subject_of(r: &ForwardRow) -> SubjectRef {
    SubjectRef {
        object: ObjectRef {
            object_type: r.subject_type.clone(),
            id: r.subject_id.clone(),
        },
        relation: if r.subject_relation.is_empty() {
            None
        } else {
            Some(r.subject_relation.clone())
        },
    }
}

impl SnapshotReader {
    /// The live rows of `resource#relation`, the read noted and counted against the budget.
    async fn forward_rows(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Arc<[ForwardRow]>, String> {
        let key = (
            resource.object_type.clone(),
            resource.id.clone(),
            relation.to_owned(),
        );
        if let Some(budget) = &self.budget {
            use std::sync::atomic::Ordering::Relaxed;
            if budget
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_err()
            {
                return Err(BUDGET_SPENT.to_owned());
            }
        }
        if let Some(read) = &self.read {
            read.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(key.clone());
        }
        self.rows::<Forward>(key).await
    }

    /// The contextual relationships of `resource#relation` not expired.
    fn context_of<'c>(
        &'c self,
        resource: &'c ObjectRef,
        relation: &'c str,
    ) -> impl Iterator<Item = &'c Tuple> + 'c {
        self.context.iter().filter(move |t| {
            t.relationship.resource == *resource
                && t.relationship.relation == relation
                && self.unexpired(t.expiration.map(UnixTime::as_millis))
        })
    }

    /// Whether a relationship expiring at `expires` still counts as of this reader's moment; one that
    /// does and will expire is noted ([`Self::valid_until`]).
    fn unexpired(&self, expires: Option<i64>) -> bool {
        match expires {
            None => true,
            Some(e) if e <= self.now => false,
            Some(e) => {
                self.until
                    .fetch_min(e, std::sync::atomic::Ordering::Relaxed);
                true
            }
        }
    }

    /// Until when what this reader returned stays as it was (the earliest expiration among it), if
    /// anything it returned expires: an answer reached through it holds at its revision until then.
    #[must_use]
    pub fn valid_until(&self) -> Option<UnixTime> {
        match self.until.load(std::sync::atomic::Ordering::Relaxed) {
            i64::MAX => None,
            e => Some(UnixTime::from_millis(e)),
        }
    }
}

impl RelationshipReader for SnapshotReader {
    /// The subjects of relationships without a caveat (those with one come from
    /// [`Self::caveated_subjects`], which the engine asks where the schema allows caveats).
    async fn subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<SubjectRef>, String> {
        let rows = self.forward_rows(resource, relation).await?;
        let mut out: Vec<SubjectRef> = rows
            .iter()
            .filter(|r| {
                r.caveat.is_none()
                    && live(r.created, r.deleted, self.at)
                    && self.unexpired(r.expires)
            })
            .map(subject_of)
            .collect();
        for t in self.context_of(resource, relation) {
            let s = &t.relationship.subject;
            if t.caveat.is_none() && !out.contains(s) {
                out.push(s.clone());
            }
        }
        Ok(out)
    }

    async fn caveated_subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<(SubjectRef, Option<RelationshipCaveat>)>, String> {
        let rows = self.forward_rows(resource, relation).await?;
        let mut out: Vec<(SubjectRef, Option<RelationshipCaveat>)> = rows
            .iter()
            .filter(|r| live(r.created, r.deleted, self.at) && self.unexpired(r.expires))
            .map(|r| (subject_of(r), r.caveat.as_deref().cloned()))
            .collect();
        for t in self.context_of(resource, relation) {
            let s = &t.relationship.subject;
            if !out.iter().any(|(o, c)| o == s && *c == t.caveat) {
                out.push((s.clone(), t.caveat.clone()));
            }
        }
        Ok(out)
    }

    async fn relationships_with_subject(
        &self,
        subject: &ObjectRef,
    ) -> Result<Vec<Relationship>, String> {
        let key = (subject.object_type.clone(), subject.id.clone());
        let rows = self.rows::<Reverse>(key).await?;
        let mut out: Vec<Relationship> = rows
            .iter()
            .filter(|r| live(r.created, r.deleted, self.at) && self.unexpired(r.expires))
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
        for t in &self.context {
            let r = &t.relationship;
            if r.subject.object == *subject
                && self.unexpired(t.expiration.map(UnixTime::as_millis))
                && !out.contains(r)
            {
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
            "SELECT resource_id, relation, subject_type, subject_id, subject_relation, caveat_name, caveat_context,
                    expires_at, created_rev, deleted_rev
             FROM authz_relationships
             WHERE tenant = $1 AND resource_type = $3 AND relation IN ({}) AND resource_id IN ({})
               AND (+deleted_rev IS NULL OR +deleted_rev > $2)",
            rel_params.join(", "),
            id_params.join(", ")
        );
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            Option<i64>,
            i64,
            Option<i64>,
        );
        let (sql, ids, floor) = (&sql, &ids, db_rev(floor));
        let rows: Vec<Row> = match &self.reads {
            Reads::Sqlite(reads) => {
                self.on_sqlite(reads, |c| {
                    let names: Vec<String> = (1..=3 + relations.len() + ids.len())
                        .map(|i| format!("${i}"))
                        .collect();
                    let values = [&self.tenant as &dyn ToSql, &floor, object_type]
                        .into_iter()
                        .chain(relations.iter().map(|r| r as &dyn ToSql))
                        .chain(ids.iter().map(|id| id as &dyn ToSql));
                    let named: Named<'_> = names.iter().map(String::as_str).zip(values).collect();
                    // Not kept compiled: its shape changes with the number of keys.
                    c.prepare(sql)?
                        .query_map(named.as_slice(), |r| Row::try_from(r))?
                        .collect()
                })?
            }
            Reads::Postgres(pool) => on_postgres!(self, pool, conn => {
                let mut q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(&self.tenant)
                    .bind(floor)
                    .bind(object_type);
                for r in relations {
                    q = q.bind(r);
                }
                for id in ids {
                    q = q.bind(*id);
                }
                q.fetch_all(conn).await
            })?,
        };
        let mut grouped: HashMap<(String, String), Vec<ForwardRow>> = HashMap::new();
        for id in ids {
            for rel in relations {
                grouped.insert(((*id).to_owned(), rel.clone()), Vec::new());
            }
        }
        for (id, rel, st, sid, srel, cn, cc, e, c, d) in rows {
            grouped
                .entry((id, rel))
                .or_default()
                .push(Forward::row((st, sid, srel, cn, cc, e, c, d))?);
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
        const SQL: &str = "SELECT resource_id AS id FROM authz_relationships
             WHERE tenant = $1 AND +created_rev <= $2 AND (+deleted_rev IS NULL OR +deleted_rev > $2) AND resource_type = $3
             UNION
             SELECT subject_id AS id FROM authz_relationships
             WHERE tenant = $1 AND +created_rev <= $2 AND (+deleted_rev IS NULL OR +deleted_rev > $2) AND subject_type = $3
               AND subject_id != '*'";
        let at = db_rev(self.at);
        let rows: Vec<(String,)> = match &self.reads {
            Reads::Sqlite(reads) => self.on_sqlite(reads, |c| {
                let named: Named<'_> =
                    vec![("$1", &self.tenant), ("$2", &at), ("$3", &object_type)];
                c.prepare_cached(SQL)?
                    .query_map(named.as_slice(), |r| Ok((r.get(0)?,)))?
                    .collect()
            })?,
            Reads::Postgres(pool) => on_postgres!(self, pool, conn => {
                sqlx::query_as(SQL)
                    .bind(&self.tenant)
                    .bind(at)
                    .bind(object_type)
                    .fetch_all(conn)
                    .await
            })?,
        };
        let mut ids: Vec<String> = rows.into_iter().map(|(id,)| id).collect();
        for t in &self.context {
            let r = &t.relationship;
            for o in [&r.resource, &r.subject.object] {
                if o.object_type == object_type && o.id != "*" {
                    ids.push(o.id.clone());
                }
            }
        }
        Ok(ids)
    }
}
