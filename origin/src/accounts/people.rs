//! Users and their passkeys.

use tessera_proto::UnixTime;

use super::{
    is_unique_violation, row_to_passkey, row_to_user, Accounts, AccountsError, ActiveChange,
    Passkey, User,
};
use crate::on_db;
use crate::store::retry;
use crate::store::Db;

/// Insert `$p` (a [`Passkey`]) for `$tenant` on `$exec` (a connection or transaction), `?`-propagating.
macro_rules! insert_passkey {
    ($exec:expr, $tenant:expr, $p:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO passkeys (tenant, credential_id, user_id, public_key, sign_count, backup_eligible, backed_up, aaguid, transports, created_at, name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind($tenant)
        .bind(&$p.credential_id)
        .bind(&$p.user_id)
        .bind(&$p.public_key)
        .bind(i64::from($p.sign_count))
        .bind(i64::from($p.backup_eligible))
        .bind(i64::from($p.backed_up))
        .bind(&$p.aaguid)
        .bind(serde_json::to_string(&$p.transports).unwrap_or_else(|_| "[]".to_owned()))
        .bind($now.as_secs())
        .bind(&$p.name)
        .execute($exec)
        .await?;
    };
}

impl Accounts {
    /// # Errors
    /// [`AccountsError::UsernameTaken`], or the database.
    pub async fn create_user(
        &self,
        tenant: &str,
        user_id: &str,
        username: &str,
        display_name: &str,
        now: UnixTime,
    ) -> Result<User, AccountsError> {
        let done = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query("INSERT INTO users (tenant, user_id, username, display_name, created_at, username_key) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(tenant).bind(user_id).bind(username).bind(display_name).bind(now.as_secs())
                .bind(tessera_proto::ids::username_key(username))
                .execute(pool).await.map(|_| ())
        }).await);
        match done {
            Ok(_) => Ok(User {
                user_id: user_id.to_owned(),
                username: username.to_owned(),
                display_name: display_name.to_owned(),
                created_at: now.as_secs(),
            }),
            Err(e) if is_unique_violation(&e) => Err(AccountsError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Sign-up: a new user and their first passkey, together or not at all.
    ///
    /// # Errors
    /// [`AccountsError::UsernameTaken`], [`AccountsError::CredentialExists`], or the database.
    pub async fn sign_up(
        &self,
        tenant: &str,
        user: &User,
        passkey: &Passkey,
        now: UnixTime,
    ) -> Result<(), AccountsError> {
        let result: Result<(), sqlx::Error> = on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO users (tenant, user_id, username, display_name, created_at, username_key) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(tenant).bind(&user.user_id).bind(&user.username).bind(&user.display_name).bind(now.as_secs())
                    .bind(tessera_proto::ids::username_key(&user.username))
                    .execute(&mut *tx).await?;
                insert_passkey!(&mut *tx, tenant, passkey, now);
                tx.commit().await
            }).await
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                if self.username_taken(tenant, &user.username).await? {
                    Err(AccountsError::UsernameTaken)
                } else {
                    Err(AccountsError::CredentialExists)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// # Errors
    /// The database.
    pub async fn user_by_name(
        &self,
        tenant: &str,
        username: &str,
    ) -> Result<Option<User>, AccountsError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query("SELECT * FROM users WHERE tenant = $1 AND username = $2")
                .bind(tenant).bind(username)
                .fetch_optional(pool).await?
                .map(|r| row_to_user(&r)).transpose()?
        }))
    }

    /// Whether `username` is taken in the tenant, ignoring case (`username_key`, Unicode case folding: SCIM's
    /// `userName` is case-insensitive, and so is uniqueness for passkey sign-up).
    ///
    /// # Errors
    /// The database.
    pub async fn username_taken(
        &self,
        tenant: &str,
        username: &str,
    ) -> Result<bool, AccountsError> {
        let found: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT user_id FROM users WHERE tenant = $1 AND username_key = $2")
                .bind(tenant).bind(tessera_proto::ids::username_key(username))
                .fetch_optional(pool).await?
        });
        Ok(found.is_some())
    }

    /// # Errors
    /// The database.
    pub async fn user(&self, tenant: &str, user_id: &str) -> Result<Option<User>, AccountsError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query("SELECT * FROM users WHERE tenant = $1 AND user_id = $2")
                .bind(tenant).bind(user_id)
                .fetch_optional(pool).await?
                .map(|r| row_to_user(&r)).transpose()?
        }))
    }

    /// The user, if it exists and is active (a deactivated user cannot sign in).
    ///
    /// # Errors
    /// The database.
    pub async fn active_user(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Option<User>, AccountsError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query("SELECT * FROM users WHERE tenant = $1 AND user_id = $2 AND active = 1 AND held = 0")
                .bind(tenant).bind(user_id)
                .fetch_optional(pool).await?
                .map(|r| row_to_user(&r)).transpose()?
        }))
    }

    /// Activate or deactivate a user: see [`set_active`].
    ///
    /// # Errors
    /// The database.
    pub async fn set_active(
        &self,
        tenant: &str,
        user_id: &str,
        active: bool,
        now: UnixTime,
    ) -> Result<Option<ActiveChange>, AccountsError> {
        set_active(&self.db, tenant, user_id, active, now).await
    }

    /// # Errors
    /// The database.
    pub async fn passkeys_of(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Vec<Passkey>, AccountsError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query("SELECT * FROM passkeys WHERE tenant = $1 AND user_id = $2 ORDER BY created_at, credential_id")
                .bind(tenant).bind(user_id)
                .fetch_all(pool).await?
                .iter().map(row_to_passkey).collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// # Errors
    /// The database.
    pub async fn passkey(
        &self,
        tenant: &str,
        credential_id: &str,
    ) -> Result<Option<Passkey>, AccountsError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query("SELECT * FROM passkeys WHERE tenant = $1 AND credential_id = $2")
                .bind(tenant).bind(credential_id)
                .fetch_optional(pool).await?
                .map(|r| row_to_passkey(&r)).transpose()?
        }))
    }

    /// Another passkey for an existing user.
    ///
    /// # Errors
    /// [`AccountsError::UnknownUser`], [`AccountsError::CredentialExists`], or the database.
    pub async fn add_passkey(
        &self,
        tenant: &str,
        passkey: &Passkey,
        now: UnixTime,
    ) -> Result<(), AccountsError> {
        if self.user(tenant, &passkey.user_id).await?.is_none() {
            return Err(AccountsError::UnknownUser);
        }
        let result: Result<(), sqlx::Error> = on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                let mut conn = pool.acquire().await?;
                insert_passkey!(&mut *conn, tenant, passkey, now);
                Ok(())
            }).await
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(AccountsError::CredentialExists),
            Err(e) => Err(e.into()),
        }
    }

    /// Rename `user_id`'s passkey `credential_id` (1 to 64 characters, no control or invisible
    /// formatting characters; spaces at the ends are dropped).
    ///
    /// # Errors
    /// [`AccountsError::BadPasskeyName`], [`AccountsError::UnknownCredential`] (also another user's), or
    /// the database.
    pub async fn rename_passkey(
        &self,
        tenant: &str,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<(), AccountsError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > 64
            || name.chars().any(|c| c.is_control() || super::invisible(c))
        {
            return Err(AccountsError::BadPasskeyName);
        }
        let moved = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query("UPDATE passkeys SET name = $1 WHERE tenant = $2 AND user_id = $3 AND credential_id = $4")
                .bind(name).bind(tenant).bind(user_id).bind(credential_id)
                .execute(pool).await.map(|done| done.rows_affected())
        }).await?);
        if moved == 1 {
            Ok(())
        } else {
            Err(AccountsError::UnknownCredential)
        }
    }

    /// Remove `user_id`'s passkey `credential_id`, unless it is their last: the user's row is locked
    /// first, so two removals at once cannot leave the account with none.
    ///
    /// # Errors
    /// [`AccountsError::LastPasskey`], [`AccountsError::UnknownCredential`] (also another user's), or the
    /// database.
    pub async fn remove_passkey(
        &self,
        tenant: &str,
        user_id: &str,
        credential_id: &str,
    ) -> Result<(), AccountsError> {
        on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET active = active WHERE tenant = $1 AND user_id = $2")
                .bind(tenant).bind(user_id)
                .execute(&mut *tx).await?;
            let ids: Vec<String> = sqlx::query_scalar("SELECT credential_id FROM passkeys WHERE tenant = $1 AND user_id = $2")
                .bind(tenant).bind(user_id)
                .fetch_all(&mut *tx).await?;
            if !ids.iter().any(|id| id == credential_id) {
                return Err(AccountsError::UnknownCredential);
            }
            if ids.len() < 2 {
                return Err(AccountsError::LastPasskey);
            }
            sqlx::query("DELETE FROM passkeys WHERE tenant = $1 AND user_id = $2 AND credential_id = $3")
                .bind(tenant).bind(user_id).bind(credential_id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, AccountsError>(())
        }).await)
    }

    /// Move a passkey's counter from `from` to `to` if nobody else moved it first. Returns whether it moved.
    ///
    /// # Errors
    /// The database.
    pub async fn advance_counter(
        &self,
        tenant: &str,
        credential_id: &str,
        from: u32,
        to: u32,
        backed_up: bool,
        now: UnixTime,
    ) -> Result<bool, AccountsError> {
        let done = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query("UPDATE passkeys SET sign_count = $1, backed_up = $2, last_used_at = $3 WHERE tenant = $4 AND credential_id = $5 AND sign_count = $6")
                .bind(i64::from(to)).bind(i64::from(backed_up)).bind(now.as_secs()).bind(tenant).bind(credential_id).bind(i64::from(from))
                .execute(pool).await.map(|done| done.rows_affected())
        }).await?);
        Ok(done == 1)
    }
}

/// An operator activates or deactivates a user. Deactivating ends every session of the user in the same
/// transaction (their refresh tokens die with them, and the edge's introspection reports their access
/// tokens inactive) and *holds* the user: the identity provider's SCIM writes cannot lift an operator's
/// deactivation, only activating here does (which also sets SCIM's `active`). Returns `None` for an
/// unknown user.
///
/// # Errors
/// The database.
pub async fn set_active(
    db: &Db,
    tenant: &str,
    user_id: &str,
    active: bool,
    now: UnixTime,
) -> Result<Option<ActiveChange>, AccountsError> {
    let flag = i64::from(active);
    on_db!(db, pool => retry::transaction(|| async move {
        let mut tx = pool.begin().await?;
        // The write comes first: it takes the user's row lock (SQLite: the write lock), so a session
        // being created for this user (which locks the same row first) is either seen and ended here,
        // or sees the user inactive.
        let before: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET active = $1, held = $5,
                 version = version + (CASE WHEN active = $1 AND held = $5 THEN 0 ELSE 1 END), updated_at = $2
             WHERE tenant = $3 AND user_id = $4
             RETURNING version",
        )
        .bind(flag).bind(now.as_secs()).bind(tenant).bind(user_id).bind(1 - flag)
        .fetch_optional(&mut *tx).await?;
        if before.is_none() {
            return Ok::<_, AccountsError>(None);
        }
        let sessions_ended = if active {
            0
        } else {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = 'deprovisioned'
                 WHERE tenant = $2 AND user_id = $3 AND revoked_at IS NULL",
            )
            .bind(now.as_secs()).bind(tenant).bind(user_id)
            .execute(&mut *tx).await?
            .rows_affected()
        };
        tx.commit().await?;
        Ok(Some(ActiveChange { active, sessions_ended }))
    }).await)
}
