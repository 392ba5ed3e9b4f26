//! The SQL of SCIM's `Users`: the tenant's `users` rows (the same rows passkey sign-up creates), read and
//! written with the SCIM columns (`external_id`, `active`, `scim`, `version`, `updated_at`).
//!
//! A change is decided on a plain read, outside any transaction (the CPU a request body costs never
//! holds a lock: SQLite has one for the whole database), then written by one transaction whose first
//! statement writes the user's row only if it is still at the version read (`WHERE version = $seen`):
//! SQLite takes its write lock there, PostgreSQL the row lock. A write that finds the row changed decides
//! again on the new row, so an `If-Match` is judged against the version the write replaces (of eight
//! PATCHes naming the same version, one succeeds). A deactivation or a delete ends the user's sessions in
//! that same transaction; a session being created at once (`Accounts::create_session` locks the same row
//! first) either is ended too or sees the user gone or inactive.

use serde_json::{Map, Value};
use tessera_proto::ids::username_key;
use tessera_proto::UnixTime;

use super::group_store::memberships_of_user;
use crate::authz::{AuthzStore, WriteTx};
use crate::on_db;
use crate::store::retry::{self, Retryable};
use crate::store::Db;

/// End every live session of a user (their refresh tokens are refused from then on, and the edge's
/// introspection reports `session_revoked`), as `accounts::set_active` does; `?`-propagating.
macro_rules! end_sessions {
    ($exec:expr, $tenant:expr, $user_id:expr, $now:expr) => {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = 'deprovisioned'
             WHERE tenant = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind($now.as_secs())
        .bind($tenant)
        .bind($user_id)
        .execute($exec)
        .await?
        .rows_affected()
    };
}

/// The columns every read returns (a macro, so that each query stays one `&'static str`).
macro_rules! columns {
    () => {
        "user_id, username, display_name, external_id, active, held, scim, version, created_at, updated_at"
    };
}

/// One user as SCIM sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRow {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// The other SCIM attributes (a JSON object).
    pub scim: Map<String, Value>,
    pub version: i64,
    pub created_at: i64,
    /// 0 for a row never written since the SCIM columns exist.
    pub updated_at: i64,
}

/// What a create or replace writes.
#[derive(Clone, Debug, PartialEq)]
pub struct UserWrite {
    pub username: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub scim: Map<String, Value>,
}

/// Which unique attribute a write collided on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unique {
    UserName,
    ExternalId,
}

#[derive(Debug)]
pub enum UserStoreError {
    NotFound,
    /// Another user of the tenant has this `userName` (in any case) or `externalId`.
    Taken(Unique),
    /// The user kept changing while a write was being decided (see [`ScimUsers::modify`]).
    Contended,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for UserStoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

/// The relationship store's parts a user's delete uses fail only in the database.
impl From<crate::authz::store::AuthzStoreError> for UserStoreError {
    fn from(e: crate::authz::store::AuthzStoreError) -> Self {
        match e {
            crate::authz::store::AuthzStoreError::Database(e) => Self::Database(e),
            other => Self::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl std::fmt::Display for UserStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such user"),
            Self::Taken(Unique::UserName) => f.write_str("userName taken"),
            Self::Taken(Unique::ExternalId) => f.write_str("externalId taken"),
            Self::Contended => f.write_str("the user changed during the write, several times"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for UserStoreError {}

impl Retryable for UserStoreError {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Database(e) if e.is_retryable())
    }
}

/// How many times [`ScimUsers::modify`] decides again when the user changed under it.
const MODIFY_ATTEMPTS: usize = 5;

/// What a [`ScimUsers::modify`] closure decides, having seen the locked row.
pub enum Change {
    /// Write nothing (a PATCH that changes nothing).
    Keep,
    Write(UserWrite),
}

/// The row after a modification, and how many sessions a deactivation ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Modified {
    pub row: UserRow,
    pub sessions_ended: u64,
}

/// A store index a list can fetch its candidates by (from `BoundFilter::pushdown`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidates {
    All,
    Id(String),
    ExternalId(String),
    /// By `username_key` (`tessera_proto::ids::username_key` of the name asked for: the same Unicode
    /// case folding the filter's own comparison uses).
    UserNameKey(String),
}

fn row_to_user<R: sqlx::Row>(r: &R) -> Result<UserRow, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let scim: String = r.try_get("scim")?;
    let scim = match serde_json::from_str(&scim) {
        Ok(Value::Object(m)) => m,
        Ok(_) => Map::new(),
        Err(e) => return Err(sqlx::Error::Decode(Box::new(e))),
    };
    Ok(UserRow {
        user_id: r.try_get("user_id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        external_id: r.try_get("external_id")?,
        // What SCIM sees and writes is the user's effective state: an operator's hold (`users deactivate`)
        // shows as `active: false` whatever the identity provider set.
        active: r.try_get::<i64, _>("active")? != 0 && r.try_get::<i64, _>("held")? == 0,
        scim,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn scim_text(m: &Map<String, Value>) -> Result<String, sqlx::Error> {
    serde_json::to_string(m).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

#[derive(Clone)]
pub struct ScimUsers {
    db: Db,
}

impl ScimUsers {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Insert a new user (version 1, active as `w` says).
    ///
    /// # Errors
    /// [`UserStoreError::Taken`], or the database.
    pub async fn create(
        &self,
        tenant: &str,
        user_id: &str,
        w: &UserWrite,
        now: UnixTime,
    ) -> Result<UserRow, UserStoreError> {
        let scim = &scim_text(&w.scim)?;
        let done: Result<UserRow, sqlx::Error> = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query(concat!(
                "INSERT INTO users (tenant, user_id, username, display_name, external_id, active, scim, version, created_at, updated_at, username_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9) RETURNING ", columns!()
            ))
            .bind(tenant).bind(user_id).bind(&w.username).bind(&w.display_name).bind(&w.external_id)
            .bind(i64::from(w.active)).bind(scim).bind(now.as_secs()).bind(username_key(&w.username))
            .fetch_one(pool).await
            .and_then(|r| row_to_user(&r))
        }).await);
        match done {
            Ok(row) => Ok(row),
            Err(e) if unique_violation(&e) => Err(self.which_taken(tenant, user_id, w).await),
            Err(e) => Err(e.into()),
        }
    }

    /// After a unique violation: which attribute collided (a user_id collision, 128 random bits, is
    /// reported as the database error it is).
    async fn which_taken(&self, tenant: &str, user_id: &str, w: &UserWrite) -> UserStoreError {
        let by_name: Result<Option<String>, sqlx::Error> = on_db!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT user_id FROM users WHERE tenant = $1 AND username_key = $2 AND user_id <> $3",
            )
            .bind(tenant).bind(username_key(&w.username)).bind(user_id)
            .fetch_optional(pool).await
        });
        match by_name {
            Ok(Some(_)) => UserStoreError::Taken(Unique::UserName),
            Ok(None) if w.external_id.is_some() => UserStoreError::Taken(Unique::ExternalId),
            Ok(None) => UserStoreError::Database(sqlx::Error::Protocol(
                "unique violation on users with neither userName nor externalId taken".into(),
            )),
            Err(e) => UserStoreError::Database(e),
        }
    }

    /// # Errors
    /// The database.
    pub async fn get(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Option<UserRow>, UserStoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE tenant = $1 AND user_id = $2"))
                .bind(tenant).bind(user_id)
                .fetch_optional(pool).await?
                .map(|r| row_to_user(&r)).transpose()?
        }))
    }

    /// The tenant's users that may match, by `user_id`.
    ///
    /// # Errors
    /// The database.
    pub async fn list(
        &self,
        tenant: &str,
        candidates: &Candidates,
    ) -> Result<Vec<UserRow>, UserStoreError> {
        macro_rules! by {
            ($condition:literal) => {
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM users WHERE tenant = $1",
                    $condition,
                    " ORDER BY user_id"
                )
            };
        }
        let (sql, value) = match candidates {
            Candidates::All => (by!(""), None),
            Candidates::Id(v) => (by!(" AND user_id = $2"), Some(v)),
            Candidates::ExternalId(v) => (by!(" AND external_id = $2"), Some(v)),
            Candidates::UserNameKey(v) => (by!(" AND username_key = $2"), Some(v)),
        };
        Ok(on_db!(&self.db, pool => {
            let mut q = sqlx::query(sql).bind(tenant);
            if let Some(v) = value {
                q = q.bind(v);
            }
            q.fetch_all(pool).await?
                .iter().map(row_to_user).collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// Let `decide` see the user (and refuse, with its own error), then write what it returns with the
    /// version bumped, ending every session when the user goes from active to inactive, in one
    /// transaction.
    ///
    /// `decide` runs on a plain read, outside any transaction, so that the work a request asks for
    /// (parsing a body, applying a PATCH) never holds a lock that other tenants' writes wait on (SQLite has
    /// one lock for the whole database). The write then applies only if the user is still at the version
    /// `decide` saw (`... WHERE version = $seen`, which takes the row lock first, as a sign-in does); if not,
    /// `decide` runs again on the new row, up to [`MODIFY_ATTEMPTS`] times.
    ///
    /// # Errors
    /// [`UserStoreError::NotFound`], [`UserStoreError::Taken`], [`UserStoreError::Contended`], the
    /// database; `decide`'s refusal inside.
    pub async fn modify<E>(
        &self,
        tenant: &str,
        user_id: &str,
        now: UnixTime,
        mut decide: impl FnMut(&UserRow) -> Result<Change, E>,
    ) -> Result<Result<Modified, E>, UserStoreError> {
        for _ in 0..MODIFY_ATTEMPTS {
            let before = self
                .get(tenant, user_id)
                .await?
                .ok_or(UserStoreError::NotFound)?;
            let w = match decide(&before) {
                Err(refused) => return Ok(Err(refused)),
                Ok(Change::Keep) => {
                    return Ok(Ok(Modified {
                        row: before,
                        sessions_ended: 0,
                    }))
                }
                Ok(Change::Write(w)) => w,
            };
            if let Some(done) = self
                .write_if_unchanged(tenant, user_id, &before, w, now)
                .await?
            {
                return Ok(Ok(done));
            }
        }
        Err(UserStoreError::Contended)
    }

    /// Write `w` if the user is still at `before.version`; `None` if it is not (or is gone).
    async fn write_if_unchanged(
        &self,
        tenant: &str,
        user_id: &str,
        before: &UserRow,
        w: UserWrite,
        now: UnixTime,
    ) -> Result<Option<Modified>, UserStoreError> {
        let w = &w;
        let outcome: Result<Option<Modified>, sqlx::Error> = on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                let mut tx = pool.begin().await?;
                let written = sqlx::query(concat!(
                    "UPDATE users SET username = $1, display_name = $2, external_id = $3, active = $4, scim = $5,
                         version = version + 1, updated_at = $6, username_key = $10
                     WHERE tenant = $7 AND user_id = $8 AND version = $9 RETURNING ", columns!()
                ))
                .bind(&w.username).bind(&w.display_name).bind(&w.external_id).bind(i64::from(w.active))
                .bind(scim_text(&w.scim)?).bind(now.as_secs()).bind(tenant).bind(user_id).bind(before.version)
                .bind(username_key(&w.username))
                .fetch_optional(&mut *tx).await;
                let Some(row) = written? else {
                    return Ok(None);
                };
                let row = row_to_user(&row)?;
                let sessions_ended = if before.active && !row.active {
                    end_sessions!(&mut *tx, tenant, user_id, now)
                } else {
                    0
                };
                tx.commit().await?;
                Ok(Some(Modified { row, sessions_ended }))
            }).await
        });
        match outcome {
            Ok(done) => Ok(done),
            // Only the row's UPDATE can collide: ending sessions changes no unique column.
            Err(e) if unique_violation(&e) => Err(self.which_taken(tenant, user_id, w).await),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete the user with its passkeys, TOTP secret and group memberships, ending every session, in one transaction, if
    /// `allow` accepts the current version. Returns the sessions ended.
    ///
    /// # Errors
    /// [`UserStoreError::NotFound`], the database; `allow`'s refusal inside.
    pub async fn delete<E>(
        &self,
        tenant: &str,
        user_id: &str,
        now: UnixTime,
        allow: impl Fn(&UserRow) -> Result<(), E>,
    ) -> Result<Result<u64, E>, UserStoreError> {
        let allow = &allow;
        let outcome: Option<Result<u64, E>> = on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            let before = sqlx::query(concat!(
                "UPDATE users SET version = version WHERE tenant = $1 AND user_id = $2 RETURNING ", columns!()
            ))
            .bind(tenant).bind(user_id)
            .fetch_optional(&mut *tx).await?
            .map(|r| row_to_user(&r)).transpose()?;
            Ok::<_, UserStoreError>(match before.map(|b| allow(&b)) {
                None => None,
                Some(Err(refused)) => Some(Err(refused)),
                Some(Ok(())) => {
                    let ended = end_sessions!(&mut *tx, tenant, user_id, now);
                    // The user's group memberships end with it, at a new authz revision (only when it
                    // has some: a tenant without groups keeps its head).
                    let memberships = memberships_of_user(user_id);
                    let member: Option<String> = sqlx::query_scalar(
                        "SELECT resource_id FROM authz_relationships WHERE tenant = $1 AND resource_type = 'group'
                         AND relation = 'member' AND subject_type = 'user' AND subject_id = $2
                         AND deleted_rev IS NULL LIMIT 1",
                    )
                    .bind(tenant).bind(user_id)
                    .fetch_optional(&mut *tx).await?;
                    if member.is_some() {
                        let revision = AuthzStore::begin_revision(WriteTx::from(&mut *tx), tenant).await?;
                        AuthzStore::delete_matching_at(WriteTx::from(&mut *tx), tenant, revision, &memberships).await?;
                    }
                    for sql in [
                        "DELETE FROM passkeys WHERE tenant = $1 AND user_id = $2",
                        "DELETE FROM totp_secrets WHERE tenant = $1 AND user_id = $2",
                        "DELETE FROM users WHERE tenant = $1 AND user_id = $2",
                    ] {
                        sqlx::query(sql).bind(tenant).bind(user_id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Some(Ok(ended))
                }
            })
        }).await?);
        outcome.ok_or(UserStoreError::NotFound)
    }
}
