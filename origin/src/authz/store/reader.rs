//! The check engine's storage port: relationships of one tenant at one revision, from the cache or, on a
//! miss, from one database connection per request (in SQLite, one read transaction).

use std::collections::HashMap;
use std::sync::Arc;

use tessera_authz::relationship::{ObjectRef, Relationship, SubjectRef};
use tessera_authz::RelationshipReader;

use super::{db_rev, rev, AuthzStore};
use crate::authz::cache::{live, ForwardKey, ForwardRow, RelCache, ReverseKey, ReverseRow};
use crate::store::{retry, Db};

impl AuthzStore {
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

/// Reads relationships of one tenant as of one revision, plus any contextual relationships of the request.
pub struct SnapshotReader {
    db: Db,
    tenant: String,
    at: u64,
    context: Vec<Relationship>,
    /// One connection for all the queries of a request, taken at the first: an engine walk issues many
    /// small queries, and a pool round trip for each would cost more than the query. In SQLite it holds
    /// one read transaction (a fresh read lock per query costs too); in PostgreSQL none — every query
    /// names its revision, so none needs a snapshot shared with the others, and a transaction open for a
    /// whole walk (a lookup may take seconds) would hold back vacuum and, under `SERIALIZABLE`, could
    /// be refused part-way through. Each query is then a transaction of its own, run again on a
    /// serialization failure. Returned to the pool with the reader; it only ever reads.
    conn: tokio::sync::Mutex<Option<Conn>>,
    cache: std::sync::Arc<RelCache>,
    /// The cache generation when the connection was taken: loads are cached only if no sync came since
    /// (every query's snapshot is taken after it: SQLite's transaction's at its first read).
    generation: std::sync::atomic::AtomicU64,
}

enum Conn {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

/// Run `$body`, one query evaluating to `Result<_, sqlx::Error>`, with `$c` bound to the reader's
/// connection (taken on first use), typed per backend; the query's error as text. In PostgreSQL the
/// query is a transaction of its own, run again on a serialization failure ([`retry::transaction`]):
/// it names its revision, so a rerun reads the same rows.
macro_rules! on_conn {
    ($reader:expr, $c:ident => $body:expr) => {
        retry::transaction(|| async move {
            let mut guard = $reader.conn.lock().await;
            let conn = match guard.take() {
                Some(conn) => conn,
                None => {
                    $reader.generation.store(
                        $reader.cache.generation(&$reader.tenant),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    match &$reader.db {
                        Db::Sqlite(p) => Conn::Sqlite(p.begin().await?),
                        Db::Postgres(p) => Conn::Postgres(p.acquire().await?),
                    }
                }
            };
            match guard.insert(conn) {
                Conn::Sqlite(c) => {
                    let $c = &mut **c;
                    $body
                }
                Conn::Postgres(c) => {
                    let $c = &mut **c;
                    $body
                }
            }
        })
        .await
        .map_err(|e: sqlx::Error| e.to_string())
    };
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
    /// The rows of `key` (every version, each with its revisions), from the cache or, on a miss, from the
    /// database: every version not deleted by the cache's floor, kept for the requests that follow; below
    /// the floor (an old snapshot), every version not deleted by this read's own revision, not kept.
    async fn rows<D: Direction>(&self, key: D::Key) -> Result<Arc<[D::Row]>, String> {
        if let Some(rows) = D::cached(&self.cache, &self.tenant, &key, self.at) {
            return Ok(rows);
        }
        let floor = self.cache.floor_for(&self.tenant, self.at);
        let binds = &D::binds(&key);
        let loaded: Vec<D::Raw> = on_conn!(self, conn => {
            let mut q = sqlx::query_as(D::SQL)
                .bind(&self.tenant)
                .bind(db_rev(floor.unwrap_or(self.at)));
            for part in binds {
                q = q.bind(*part);
            }
            q.fetch_all(conn).await
        })?;
        let rows: Arc<[D::Row]> = loaded.into_iter().map(D::row).collect();
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

/// A way through the relationship table, as the cache keeps it: [`Forward`] (a resource's relation → its
/// subjects) or [`Reverse`] (a subject → the relationships that name it).
trait Direction {
    /// The cache key; its parts are bound as `$3`, `$4`, ... of [`Self::SQL`].
    type Key;
    type Row;
    /// A row as selected: the columns the cache keeps, then `created_rev`, `deleted_rev`.
    type Raw: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin;
    /// Every version of the key's rows in tenant `$1` not deleted by revision `$2`.
    const SQL: &'static str;
    fn binds(key: &Self::Key) -> Vec<&str>;
    fn row(raw: Self::Raw) -> Self::Row;
    /// The key's rows if the cache holds them for a read at `at`.
    fn cached(cache: &RelCache, tenant: &str, key: &Self::Key, at: u64) -> Option<Rows<Self>>;
    /// Keep loaded rows (unless a sync came since `generation`).
    fn keep(cache: &RelCache, tenant: &str, generation: u64, key: Self::Key, rows: Rows<Self>);
}

/// The rows of a key, shared with the cache.
type Rows<D> = Arc<[<D as Direction>::Row]>;

/// From `resource#relation` to its subjects.
struct Forward;

impl Direction for Forward {
    type Key = ForwardKey;
    type Row = ForwardRow;
    type Raw = (String, String, String, i64, Option<i64>);
    const SQL: &'static str =
        "SELECT subject_type, subject_id, subject_relation, created_rev, deleted_rev FROM authz_relationships
         WHERE tenant = $1 AND resource_type = $3 AND resource_id = $4 AND relation = $5
           AND (+deleted_rev IS NULL OR +deleted_rev > $2)";

    fn binds((object_type, id, relation): &ForwardKey) -> Vec<&str> {
        vec![object_type, id, relation]
    }

    fn row((subject_type, subject_id, subject_relation, c, d): Self::Raw) -> ForwardRow {
        ForwardRow {
            subject_type,
            subject_id,
            subject_relation,
            created: rev(c),
            deleted: d.map(rev),
        }
    }

    fn cached(c: &RelCache, t: &str, k: &ForwardKey, at: u64) -> Option<Rows<Self>> {
        c.forward(t, k, at)
    }

    fn keep(c: &RelCache, t: &str, generation: u64, k: ForwardKey, rows: Rows<Self>) {
        c.put_forward(t, generation, k, rows);
    }
}

/// From a subject to the relationships that name it.
struct Reverse;

impl Direction for Reverse {
    type Key = ReverseKey;
    type Row = ReverseRow;
    type Raw = (String, String, String, String, i64, Option<i64>);
    const SQL: &'static str =
        "SELECT resource_type, resource_id, relation, subject_relation, created_rev, deleted_rev
         FROM authz_relationships
         WHERE tenant = $1 AND subject_type = $3 AND subject_id = $4
           AND (+deleted_rev IS NULL OR +deleted_rev > $2)";

    fn binds((object_type, id): &ReverseKey) -> Vec<&str> {
        vec![object_type, id]
    }

    fn row(
        (resource_type, resource_id, relation, subject_relation, c, d): Self::Raw,
    ) -> ReverseRow {
        ReverseRow {
            resource_type,
            resource_id,
            relation,
            subject_relation,
            created: rev(c),
            deleted: d.map(rev),
        }
    }

    fn cached(c: &RelCache, t: &str, k: &ReverseKey, at: u64) -> Option<Rows<Self>> {
        c.reverse(t, k, at)
    }

    fn keep(c: &RelCache, t: &str, generation: u64, k: ReverseKey, rows: Rows<Self>) {
        c.put_reverse(t, generation, k, rows);
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
        let rows = self.rows::<Forward>(key).await?;
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
        let rows = self.rows::<Reverse>(key).await?;
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
        let (sql, ids) = (&sql, &ids);
        let rows: Vec<Row> = on_conn!(self, conn => {
            let mut q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&self.tenant)
                .bind(db_rev(floor))
                .bind(object_type);
            for r in relations {
                q = q.bind(r);
            }
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(conn).await
        })?;
        let mut grouped: HashMap<(String, String), Vec<ForwardRow>> = HashMap::new();
        for id in ids {
            for rel in relations {
                grouped.insert(((*id).to_owned(), rel.clone()), Vec::new());
            }
        }
        for (id, rel, st, sid, srel, c, d) in rows {
            grouped
                .entry((id, rel))
                .or_default()
                .push(Forward::row((st, sid, srel, c, d)));
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
        })?;
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
