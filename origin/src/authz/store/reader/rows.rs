//! The two ways through the relationship table the reader takes, and how their rows are selected,
//! decoded and kept in the cache.

use std::sync::Arc;

use tessera_authz::RelationshipCaveat;

use super::super::rev;
use crate::authz::cache::{ForwardKey, ForwardRow, RelCache, ReverseKey, ReverseRow};

/// A way through the relationship table, as the cache keeps it: [`Forward`] (a resource's relation → its
/// subjects) or [`Reverse`] (a subject → the relationships that name it).
pub(super) trait Direction {
    /// The cache key; its parts are bound as `$3`, `$4`, ... of [`Self::SQL`].
    type Key;
    type Row;
    /// A row as selected: the columns the cache keeps, then `created_rev`, `deleted_rev`.
    type Raw: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin;
    /// Every version of the key's rows in tenant `$1` not deleted by revision `$2`.
    const SQL: &'static str;
    fn binds(key: &Self::Key) -> Vec<&str>;
    /// # Errors
    /// A stored caveat context that does not parse.
    fn row(raw: Self::Raw) -> Result<Self::Row, String>;
    /// A row as SQLite's reader returns it.
    fn sqlite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self::Raw>;
    /// The key's rows if the cache holds them for a read at `at`.
    fn cached(cache: &RelCache, tenant: &str, key: &Self::Key, at: u64) -> Option<Rows<Self>>;
    /// Keep loaded rows (unless a sync came since `generation`).
    fn keep(cache: &RelCache, tenant: &str, generation: u64, key: Self::Key, rows: Rows<Self>);
}

/// The rows of a key, shared with the cache.
pub(super) type Rows<D> = Arc<[<D as Direction>::Row]>;

/// From `resource#relation` to its subjects.
pub(super) struct Forward;

impl Direction for Forward {
    type Key = ForwardKey;
    type Row = ForwardRow;
    type Raw = (
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        i64,
        Option<i64>,
    );
    const SQL: &'static str =
        "SELECT subject_type, subject_id, subject_relation, caveat_name, caveat_context, expires_at, created_rev, deleted_rev
         FROM authz_relationships
         WHERE tenant = $1 AND resource_type = $3 AND resource_id = $4 AND relation = $5
           AND (+deleted_rev IS NULL OR +deleted_rev > $2)";

    fn binds((object_type, id, relation): &ForwardKey) -> Vec<&str> {
        vec![object_type, id, relation]
    }

    fn sqlite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self::Raw> {
        <Self::Raw>::try_from(r)
    }

    fn row(
        (subject_type, subject_id, subject_relation, caveat_name, context, expires, c, d): Self::Raw,
    ) -> Result<ForwardRow, String> {
        let caveat = if caveat_name.is_empty() {
            None
        } else {
            let context = if context.is_empty() {
                tessera_authz::Context::new()
            } else {
                serde_json::from_str(&context)
                    .map_err(|e| format!("a stored caveat context does not parse: {e}"))?
            };
            Some(Arc::new(RelationshipCaveat {
                name: caveat_name,
                context,
            }))
        };
        let extra = context_weight(caveat.as_deref());
        Ok(ForwardRow {
            subject_type,
            subject_id,
            subject_relation,
            created: rev(c),
            deleted: d.map(rev),
            caveat,
            expires,
            weight: 1 + extra,
        })
    }

    fn cached(c: &RelCache, t: &str, k: &ForwardKey, at: u64) -> Option<Rows<Self>> {
        c.forward(t, k, at)
    }

    fn keep(c: &RelCache, t: &str, generation: u64, k: ForwardKey, rows: Rows<Self>) {
        c.put_forward(t, generation, k, rows);
    }
}

/// From a subject to the relationships that name it.
pub(super) struct Reverse;

impl Direction for Reverse {
    type Key = ReverseKey;
    type Row = ReverseRow;
    type Raw = (
        String,
        String,
        String,
        String,
        Option<i64>,
        i64,
        Option<i64>,
    );
    const SQL: &'static str =
        "SELECT resource_type, resource_id, relation, subject_relation, expires_at, created_rev, deleted_rev
         FROM authz_relationships
         WHERE tenant = $1 AND subject_type = $3 AND subject_id = $4
           AND (+deleted_rev IS NULL OR +deleted_rev > $2)";

    fn binds((object_type, id): &ReverseKey) -> Vec<&str> {
        vec![object_type, id]
    }

    fn sqlite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self::Raw> {
        <Self::Raw>::try_from(r)
    }

    fn row(
        (resource_type, resource_id, relation, subject_relation, expires, c, d): Self::Raw,
    ) -> Result<ReverseRow, String> {
        Ok(ReverseRow {
            resource_type,
            resource_id,
            relation,
            subject_relation,
            created: rev(c),
            deleted: d.map(rev),
            expires,
        })
    }

    fn cached(c: &RelCache, t: &str, k: &ReverseKey, at: u64) -> Option<Rows<Self>> {
        c.reverse(t, k, at)
    }

    fn keep(c: &RelCache, t: &str, generation: u64, k: ReverseKey, rows: Rows<Self>) {
        c.put_reverse(t, generation, k, rows);
    }
}

/// How many rows more than one a caveat's context counts as in the cache (see [`ForwardRow::weight`]).
fn context_weight(caveat: Option<&RelationshipCaveat>) -> u32 {
    caveat.map_or(0, |c| {
        let bytes: usize = c
            .context
            .iter()
            .map(|(k, v)| k.len() + v.to_string().len())
            .sum();
        u32::try_from(bytes / crate::authz::cache::ROW_BYTES).unwrap_or(u32::MAX)
    })
}
