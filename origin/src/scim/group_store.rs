//! The SQL of SCIM's `Groups`: the tenant's `scim_groups` rows (name, `external_id`, `version`), and their
//! members, which are not in the row: each is a relationship `group:{group_id}#member@user:{user_id}` in
//! the tenant's relationship store, written in the transaction that writes the group's row (through
//! [`AuthzStore::begin_revision`] and [`AuthzStore::apply_updates`], the authz API's own write), so a
//! member change is a new authz revision and the caller can read its own write with that zookie.
//!
//! As for users (`super::user_store`), a change is decided on a plain read outside any transaction, then
//! applied by one transaction whose first statement writes the group's row if it is still at the version
//! read (`WHERE version = $seen`), and decided again otherwise. A change of members alone that no
//! `If-Match` pins (`add`/`remove` are deltas) is applied whatever the version, so concurrent PATCHes
//! adding different members all land without retrying. Member changes touch only the members named: a
//! 10,000-member group gains or loses one member by one relationship; `replace` reads the members' ids
//! (the request names them all anyway). Lock order (PostgreSQL): the group's row, then the tenant's
//! authz head — as a user's delete takes its row, then the head — so no two writers wait on each other.

use std::collections::HashSet;

use tessera_authz::relationship::{ObjectRef, Relationship, SubjectRef};
use tessera_proto::UnixTime;
use tessera_scim::MemberChanges;

use crate::authz::{AuthzStore, WriteTx};
use crate::on_db;
use crate::store::retry::{self, Retryable};
use crate::store::Db;

use crate::authz::store::{AuthzStoreError, Operation};

/// The relationship of a membership: `group:{group_id}#member@user:{user_id}`.
#[must_use]
pub fn membership(group_id: &str, user_id: &str) -> Relationship {
    Relationship {
        resource: ObjectRef {
            object_type: "group".into(),
            id: group_id.into(),
        },
        relation: "member".into(),
        subject: SubjectRef {
            object: ObjectRef {
                object_type: "user".into(),
                id: user_id.into(),
            },
            relation: None,
        },
    }
}

/// The columns every read returns.
macro_rules! columns {
    () => {
        "group_id, display_name, external_id, version, created_at, updated_at"
    };
}

/// Live members of groups: `(group_id, user_id, the user's display name)`; users gone since (none
/// should be: a user's delete ends its memberships) have no name.
/// Memberships with a caveat (written through the authorization API) are not listed: a SCIM member is
/// a member without condition. Adding one makes it unconditional; removing one ends it either way.
macro_rules! members_sql {
    ($condition:literal) => {
        concat!(
            "SELECT r.resource_id, r.subject_id, u.display_name FROM authz_relationships r
             LEFT JOIN users u ON u.tenant = r.tenant AND u.user_id = r.subject_id
             WHERE r.tenant = $1 AND r.resource_type = 'group' AND r.relation = 'member'
             AND r.subject_type = 'user' AND r.subject_relation = '' AND r.caveat_name = ''
             AND r.deleted_rev IS NULL",
            $condition,
            " ORDER BY r.resource_id, r.subject_id"
        )
    };
}

/// Ids checked against the users table per statement.
const IDS_PER_STATEMENT: usize = 500;

/// One group's row as SCIM sees it (its members are read apart: [`ScimGroups::members`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    pub group_id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a create or a change writes to the row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupWrite {
    pub display_name: String,
    pub external_id: Option<String>,
}

/// A member as a group's resource shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub display: Option<String>,
}

#[derive(Debug)]
pub enum GroupStoreError {
    NotFound,
    /// Another group of the tenant has this `externalId`.
    ExternalIdTaken,
    /// Members that are not users of the tenant (nothing was written).
    UnknownMembers(Vec<String>),
    /// The relationship store refused the membership (no schema, or one without `group#member: user`).
    Authz(AuthzStoreError),
    /// The group kept changing while a write was being decided.
    Contended,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for GroupStoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<AuthzStoreError> for GroupStoreError {
    fn from(e: AuthzStoreError) -> Self {
        match e {
            AuthzStoreError::Database(e) => Self::Database(e),
            AuthzStoreError::SqliteRead(e) => Self::Database(sqlx::Error::Protocol(e.to_string())),
            other => Self::Authz(other),
        }
    }
}

impl std::fmt::Display for GroupStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such group"),
            Self::ExternalIdTaken => f.write_str("externalId taken"),
            Self::UnknownMembers(ids) => write!(f, "unknown members: {ids:?}"),
            Self::Authz(e) => write!(f, "relationship store: {e}"),
            Self::Contended => f.write_str("the group changed during the write, several times"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for GroupStoreError {}

impl Retryable for GroupStoreError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Database(e) => e.is_retryable(),
            Self::Authz(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// How many times [`ScimGroups::modify`] decides again when the group changed under it.
const MODIFY_ATTEMPTS: usize = 5;

/// What a [`ScimGroups::modify`] closure decides, having seen the row.
pub enum Decision {
    Keep,
    Write(GroupChange),
}

/// A change of a group: its row (`None`: only the version moves), its members, and whether it holds
/// only if the group is still at the version the decision saw (an `If-Match`, or a row decided from it).
pub struct GroupChange {
    pub row: Option<GroupWrite>,
    pub members: MemberChanges,
    pub pinned: bool,
}

/// A group after a write, and the authz revision its members were written at (`None`: unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub row: GroupRow,
    pub revision: Option<u64>,
}

/// A store index a list can fetch its candidates by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidates {
    All,
    Id(String),
    ExternalId(String),
    /// Compared lower-cased (`displayName` is `caseExact: false`); lower-case ASCII values only, as for
    /// users' `userName` (SQLite's `lower()` folds ASCII alone).
    DisplayNameLower(String),
}

fn row_to_group<R: sqlx::Row>(r: &R) -> Result<GroupRow, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(GroupRow {
        group_id: r.try_get("group_id")?,
        display_name: r.try_get("display_name")?,
        external_id: r.try_get("external_id")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// `$2, $3, ...` for `n` values.
fn placeholders(n: usize) -> String {
    (0..n)
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Write `$changes` to the members of `$group_id` inside the transaction `$tx` (after its row write):
/// check the new members are users of the tenant, take a revision, apply. Evaluates to
/// `Result<Option<u64>, GroupStoreError>` (`None`: no member change).
macro_rules! write_members {
    ($authz:expr, $tx:ident, $tenant:expr, $group_id:expr, $changes:expr) => {
        async {
            let changes: &MemberChanges = $changes;
            if changes.is_empty() {
                return Ok::<Option<u64>, GroupStoreError>(None);
            }
            let wanted: Vec<&String> = changes
                .add
                .iter()
                .chain(changes.replace_all.iter().flatten())
                .collect();
            let mut unknown = Vec::new();
            for chunk in wanted.chunks(IDS_PER_STATEMENT) {
                let sql = format!(
                    "SELECT user_id FROM users WHERE tenant = $1 AND user_id IN ({})",
                    placeholders(chunk.len())
                );
                let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind($tenant);
                for id in chunk {
                    q = q.bind(id.as_str());
                }
                let found: HashSet<String> = q.fetch_all(&mut *$tx).await?.into_iter().collect();
                unknown.extend(chunk.iter().filter(|id| !found.contains(id.as_str())).map(|id| (*id).clone()));
            }
            if !unknown.is_empty() {
                return Err(GroupStoreError::UnknownMembers(unknown));
            }
            let revision = AuthzStore::begin_revision(WriteTx::from(&mut *$tx), $tenant).await?;
            let updates: Vec<(Operation, Relationship)> = match &changes.replace_all {
                None => changes
                    .add
                    .iter()
                    .map(|id| (Operation::Touch, membership($group_id, id)))
                    .chain(changes.remove.iter().map(|id| (Operation::Delete, membership($group_id, id))))
                    .collect(),
                Some(all) => {
                    let current: HashSet<String> = sqlx::query_scalar::<_, String>(
                        "SELECT subject_id FROM authz_relationships WHERE tenant = $1 AND resource_type = 'group'
                         AND resource_id = $2 AND relation = 'member' AND subject_type = 'user'
                         AND subject_relation = '' AND caveat_name = '' AND deleted_rev IS NULL",
                    )
                    .bind($tenant)
                    .bind($group_id)
                    .fetch_all(&mut *$tx)
                    .await?
                    .into_iter()
                    .collect();
                    let new: HashSet<&str> = all.iter().map(String::as_str).collect();
                    current
                        .iter()
                        .filter(|id| !new.contains(id.as_str()))
                        .map(|id| (Operation::Delete, membership($group_id, id)))
                        .chain(
                            all.iter()
                                .filter(|id| !current.contains(id.as_str()))
                                .map(|id| (Operation::Touch, membership($group_id, id))),
                        )
                        .collect()
                }
            };
            $authz
                .apply_updates(WriteTx::from(&mut *$tx), $tenant, revision, &tuples(updates), &[])
                .await?;
            Ok(Some(revision))
        }
        .await
    };
}

/// Updates of relationships without caveats.
pub(crate) fn tuples(
    updates: Vec<(Operation, Relationship)>,
) -> Vec<(Operation, tessera_authz::Tuple)> {
    updates.into_iter().map(|(op, r)| (op, r.into())).collect()
}

/// The filter of a group's memberships.
fn memberships_of_group(group_id: &str) -> tessera_proto::authz::Filter {
    tessera_proto::authz::Filter {
        resource_type: "group".into(),
        resource_id: Some(group_id.into()),
        relation: Some("member".into()),
        subject_type: Some("user".into()),
        subject_id: None,
        subject_relation: None,
    }
}

/// The filter of a user's group memberships (ended when the user is deleted).
#[must_use]
pub fn memberships_of_user(user_id: &str) -> tessera_proto::authz::Filter {
    tessera_proto::authz::Filter {
        resource_type: "group".into(),
        resource_id: None,
        relation: Some("member".into()),
        subject_type: Some("user".into()),
        subject_id: Some(user_id.into()),
        subject_relation: None,
    }
}

#[derive(Clone)]
pub struct ScimGroups {
    db: Db,
    authz: AuthzStore,
}

impl ScimGroups {
    #[must_use]
    pub fn new(db: Db, authz: AuthzStore) -> Self {
        Self { db, authz }
    }

    /// Insert a new group (version 1) with `members`, in one transaction.
    ///
    /// # Errors
    /// [`GroupStoreError::ExternalIdTaken`], [`GroupStoreError::UnknownMembers`], the relationship
    /// store's refusal, the database.
    pub async fn create(
        &self,
        tenant: &str,
        group_id: &str,
        w: &GroupWrite,
        members: &[String],
        now: UnixTime,
    ) -> Result<Written, GroupStoreError> {
        let changes = &MemberChanges {
            add: members.to_vec(),
            ..MemberChanges::default()
        };
        let done: Result<Written, GroupStoreError> = on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                let mut tx = pool.begin().await?;
                let row = sqlx::query(concat!(
                    "INSERT INTO scim_groups (tenant, group_id, display_name, external_id, scim, version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, '{}', 1, $5, $5) RETURNING ", columns!()
                ))
                .bind(tenant).bind(group_id).bind(&w.display_name).bind(&w.external_id).bind(now.as_secs())
                .fetch_one(&mut *tx).await
                .map_err(|e| if unique_violation(&e) { GroupStoreError::ExternalIdTaken } else { e.into() })?;
                let row = row_to_group(&row)?;
                let revision = write_members!(self.authz, tx, tenant, group_id, changes)?;
                tx.commit().await?;
                Ok(Written { row, revision })
            }).await
        });
        self.synced(tenant, done).await
    }

    async fn synced(
        &self,
        tenant: &str,
        done: Result<Written, GroupStoreError>,
    ) -> Result<Written, GroupStoreError> {
        let done = done?;
        if let Some(r) = done.revision {
            self.authz.written(tenant, r).await?;
        }
        Ok(done)
    }

    /// # Errors
    /// The database.
    pub async fn get(
        &self,
        tenant: &str,
        group_id: &str,
    ) -> Result<Option<GroupRow>, GroupStoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(concat!("SELECT ", columns!(), " FROM scim_groups WHERE tenant = $1 AND group_id = $2"))
                .bind(tenant).bind(group_id)
                .fetch_optional(pool).await?
                .map(|r| row_to_group(&r)).transpose()?
        }))
    }

    /// The tenant's groups that may match, by `group_id`.
    ///
    /// # Errors
    /// The database.
    pub async fn list(
        &self,
        tenant: &str,
        candidates: &Candidates,
    ) -> Result<Vec<GroupRow>, GroupStoreError> {
        macro_rules! by {
            ($condition:literal) => {
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM scim_groups WHERE tenant = $1",
                    $condition,
                    " ORDER BY group_id"
                )
            };
        }
        let (sql, value) = match candidates {
            Candidates::All => (by!(""), None),
            Candidates::Id(v) => (by!(" AND group_id = $2"), Some(v)),
            Candidates::ExternalId(v) => (by!(" AND external_id = $2"), Some(v)),
            Candidates::DisplayNameLower(v) => (by!(" AND lower(display_name) = $2"), Some(v)),
        };
        Ok(on_db!(&self.db, pool => {
            let mut q = sqlx::query(sql).bind(tenant);
            if let Some(v) = value {
                q = q.bind(v);
            }
            q.fetch_all(pool).await?
                .iter().map(row_to_group).collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// The live members (at the head) of one group, or of every group of the tenant (`None`), as
    /// `(group_id, member)` ordered by group then user.
    ///
    /// # Errors
    /// The database.
    pub async fn members(
        &self,
        tenant: &str,
        group_id: Option<&str>,
    ) -> Result<Vec<(String, Member)>, GroupStoreError> {
        let rows: Vec<(String, String, Option<String>)> = on_db!(&self.db, pool => {
            match group_id {
                Some(g) => sqlx::query_as(members_sql!(" AND r.resource_id = $2"))
                    .bind(tenant).bind(g).fetch_all(pool).await?,
                None => sqlx::query_as(members_sql!("")).bind(tenant).fetch_all(pool).await?,
            }
        });
        Ok(rows
            .into_iter()
            .map(|(g, user_id, display)| (g, Member { user_id, display }))
            .collect())
    }

    /// Let `decide` see the group (and refuse, with its own error), then write what it returns — the
    /// row with its version bumped and the member changes — in one transaction; see the module doc.
    ///
    /// # Errors
    /// [`GroupStoreError`]; `decide`'s refusal inside.
    pub async fn modify<E>(
        &self,
        tenant: &str,
        group_id: &str,
        now: UnixTime,
        mut decide: impl FnMut(&GroupRow) -> Result<Decision, E>,
    ) -> Result<Result<Written, E>, GroupStoreError> {
        for _ in 0..MODIFY_ATTEMPTS {
            let before = self
                .get(tenant, group_id)
                .await?
                .ok_or(GroupStoreError::NotFound)?;
            let change = match decide(&before) {
                Err(refused) => return Ok(Err(refused)),
                Ok(Decision::Keep) => {
                    return Ok(Ok(Written {
                        row: before,
                        revision: None,
                    }))
                }
                Ok(Decision::Write(c)) => c,
            };
            let done = self
                .write_if_unchanged(tenant, group_id, &before, &change, now)
                .await;
            if let Some(done) = done.transpose() {
                return self.synced(tenant, done).await.map(Ok);
            }
        }
        Err(GroupStoreError::Contended)
    }

    /// Apply `change` if the group is still at `before.version` (or exists, when not pinned); `None` if
    /// it is not.
    async fn write_if_unchanged(
        &self,
        tenant: &str,
        group_id: &str,
        before: &GroupRow,
        change: &GroupChange,
        now: UnixTime,
    ) -> Result<Option<Written>, GroupStoreError> {
        let (has_row, display_name, external_id) = match &change.row {
            Some(w) => (1_i64, w.display_name.as_str(), w.external_id.as_deref()),
            None => (0, "", None),
        };
        let pinned = i64::from(change.pinned || change.row.is_some());
        on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                let mut tx = pool.begin().await?;
                let written = sqlx::query(concat!(
                    "UPDATE scim_groups SET
                         display_name = CASE WHEN $1 = 1 THEN $2 ELSE display_name END,
                         external_id = CASE WHEN $1 = 1 THEN $3 ELSE external_id END,
                         version = version + 1, updated_at = $4
                     WHERE tenant = $5 AND group_id = $6 AND ($7 = 0 OR version = $8) RETURNING ", columns!()
                ))
                .bind(has_row).bind(display_name).bind(external_id).bind(now.as_secs())
                .bind(tenant).bind(group_id).bind(pinned).bind(before.version)
                .fetch_optional(&mut *tx).await
                .map_err(|e| if unique_violation(&e) { GroupStoreError::ExternalIdTaken } else { e.into() })?;
                let Some(row) = written else {
                    return Ok(None);
                };
                let row = row_to_group(&row)?;
                let revision = write_members!(self.authz, tx, tenant, group_id, &change.members)?;
                tx.commit().await?;
                Ok(Some(Written { row, revision }))
            }).await
        })
    }

    /// Delete the group and end its memberships in one transaction, if `allow` accepts the current
    /// version. Returns the authz revision of the memberships' end.
    ///
    /// # Errors
    /// [`GroupStoreError::NotFound`], the database; `allow`'s refusal inside.
    pub async fn delete<E>(
        &self,
        tenant: &str,
        group_id: &str,
        allow: impl Fn(&GroupRow) -> Result<(), E>,
    ) -> Result<Result<u64, E>, GroupStoreError> {
        let allow = &allow;
        let outcome: Option<Result<u64, E>> = on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            let before = sqlx::query(concat!(
                "UPDATE scim_groups SET version = version WHERE tenant = $1 AND group_id = $2 RETURNING ", columns!()
            ))
            .bind(tenant).bind(group_id)
            .fetch_optional(&mut *tx).await?
            .map(|r| row_to_group(&r)).transpose()?;
            Ok::<_, GroupStoreError>(match before.map(|b| allow(&b)) {
                None => None,
                Some(Err(refused)) => Some(Err(refused)),
                Some(Ok(())) => {
                    sqlx::query("DELETE FROM scim_groups WHERE tenant = $1 AND group_id = $2")
                        .bind(tenant).bind(group_id).execute(&mut *tx).await?;
                    let revision = AuthzStore::begin_revision(WriteTx::from(&mut *tx), tenant).await?;
                    AuthzStore::delete_matching_at(WriteTx::from(&mut *tx), tenant, revision, &memberships_of_group(group_id)).await?;
                    tx.commit().await?;
                    Some(Ok(revision))
                }
            })
        }).await?);
        match outcome {
            None => Err(GroupStoreError::NotFound),
            Some(Ok(revision)) => {
                self.authz.written(tenant, revision).await?;
                Ok(Ok(revision))
            }
            Some(Err(refused)) => Ok(Err(refused)),
        }
    }
}
