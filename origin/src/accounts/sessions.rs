//! Sessions and their single-use refresh tokens (a spent token presented again revokes the family).

use sqlx::Row as _;
use tessera_proto::UnixTime;

use super::{
    random_b64, row_to_session, token_hash, Accounts, AccountsError, Session, SESSION_TTL,
};
use crate::on_db;
use crate::store::retry;

/// How a session is opened: the methods used (RFC 8176 `amr`), its `acr`, when the person
/// authenticated, and the device (as the edge describes it; empty: not known).
#[derive(Clone, Copy, Debug)]
pub struct Opening<'a> {
    pub amr: &'a [String],
    pub acr: &'a str,
    pub auth_time: UnixTime,
    pub device: &'a str,
}

impl Accounts {
    /// A new session and its first refresh token, for an active user who authenticated just now.
    ///
    /// # Errors
    /// [`AccountsError::UnknownUser`] for an unknown or deactivated user; the database.
    pub async fn create_session(
        &self,
        tenant: &str,
        user_id: &str,
        amr: &[String],
        acr: &str,
        now: UnixTime,
    ) -> Result<(Session, String), AccountsError> {
        self.create_session_on(tenant, user_id, amr, acr, "", now)
            .await
    }

    /// [`Self::create_session`] on `device` (the browser and system, as the edge describes them).
    ///
    /// # Errors
    /// As [`Self::create_session`].
    pub async fn create_session_on(
        &self,
        tenant: &str,
        user_id: &str,
        amr: &[String],
        acr: &str,
        device: &str,
        now: UnixTime,
    ) -> Result<(Session, String), AccountsError> {
        let how = Opening {
            amr,
            acr,
            auth_time: now,
            device,
        };
        self.create_session_at(tenant, user_id, how, now).await
    }

    /// [`Self::create_session`] opened as `how` says, for someone who authenticated at `how.auth_time`
    /// (a company sign-in: the identity provider's `AuthnInstant`), no later than `now`.
    ///
    /// # Errors
    /// As [`Self::create_session`].
    pub async fn create_session_at(
        &self,
        tenant: &str,
        user_id: &str,
        how: Opening<'_>,
        now: UnixTime,
    ) -> Result<(Session, String), AccountsError> {
        let Opening {
            amr,
            acr,
            auth_time,
            device,
        } = how;
        let auth_time = auth_time.min(now);
        let device = super::device_label(device);
        let device = &device;
        let sid = random_b64::<18>()?;
        let refresh = random_b64::<32>()?;
        let amr_json =
            serde_json::to_string(amr).map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let expires_at = now.plus_secs(SESSION_TTL).as_secs();
        let (new_sid, new_refresh, amr_text) = (&sid, &refresh, &amr_json);
        on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            // First the user's row lock (SQLite: the write lock): a deactivation running now either
            // finishes first (and this sees the user inactive) or waits and then ends this session too.
            let active: Option<i64> = sqlx::query_scalar(
                "UPDATE users SET active = active WHERE tenant = $1 AND user_id = $2
                 RETURNING (CASE WHEN held = 0 THEN active ELSE 0 END)",
            )
            .bind(tenant).bind(user_id)
            .fetch_optional(&mut *tx).await?;
            if active != Some(1) {
                return Err(AccountsError::UnknownUser);
            }
            sqlx::query("INSERT INTO sessions (sid, tenant, user_id, amr, acr, auth_time, created_at, expires_at, device) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(new_sid).bind(tenant).bind(user_id).bind(amr_text).bind(acr).bind(auth_time.as_secs()).bind(now.as_secs()).bind(expires_at).bind(device)
                .execute(&mut *tx).await?;
            sqlx::query("INSERT INTO refresh_tokens (token_hash, sid, created_at) VALUES ($1, $2, $3)")
                .bind(token_hash(new_refresh)).bind(new_sid).bind(now.as_secs())
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, AccountsError>(())
        }).await)?;
        Ok((
            Session {
                sid,
                tenant: tenant.to_owned(),
                user_id: user_id.to_owned(),
                amr: amr.to_vec(),
                acr: acr.to_owned(),
                auth_time: auth_time.as_secs(),
                expires_at,
                active: true,
                revoked_reason: None,
                client_id: None,
                scope: None,
                device: device.clone(),
                created_at: now.as_secs(),
                last_seen_at: None,
            },
            refresh,
        ))
    }

    /// # Errors
    /// The database.
    pub async fn session(
        &self,
        sid: &str,
        now: UnixTime,
    ) -> Result<Option<Session>, AccountsError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query("SELECT * FROM sessions WHERE sid = $1")
                .bind(sid)
                .fetch_optional(pool).await?
                .map(|r| row_to_session(&r, now)).transpose()?
        }))
    }

    /// Spend `refresh_token` and issue its successor. A spent token revokes the session.
    ///
    /// # Errors
    /// [`AccountsError::RefreshInvalid`], [`AccountsError::RefreshReused`], [`AccountsError::SessionInactive`],
    /// or the database.
    pub async fn refresh(
        &self,
        tenant: &str,
        refresh_token: &str,
        client_id: Option<&str>,
        scope: Option<&str>,
        now: UnixTime,
    ) -> Result<(Session, String), AccountsError> {
        let hash = token_hash(refresh_token);
        // The login page's sessions have no client; a token of another client's session is unknown here.
        let client = client_id.unwrap_or_default();
        let next = random_b64::<32>()?;
        // Decided inside one transaction that opens with a write, so it holds the lock from the start:
        // SQLite's write lock (a transaction that reads first cannot upgrade while another writer holds
        // it, and fails with "database is locked" instead of waiting), PostgreSQL's row lock. Of many
        // concurrent presentations one spends the token; every other one finds it spent, which is reuse.
        // A token nobody issued is refused without taking the write lock (random tokens cost a read).
        let known: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT r.sid FROM refresh_tokens r JOIN sessions s ON s.sid = r.sid
                                WHERE r.token_hash = $1 AND COALESCE(s.client_id, '') = $2")
                .bind(&hash).bind(client)
                .fetch_optional(pool).await?
        });
        let Some(known) = known else {
            return Err(AccountsError::RefreshInvalid);
        };
        // A narrower scope only, decided before anything is spent (a refused request leaves the token
        // good: the client can try again without the scope).
        if let Some(asked) = scope {
            let granted: Option<String> = on_db!(&self.db, pool => {
                sqlx::query_scalar("SELECT scope FROM sessions WHERE sid = $1")
                    .bind(&known)
                    .fetch_optional(pool).await?
                    .flatten()
            });
            let granted = granted.unwrap_or_default();
            let granted: Vec<&str> = granted.split(' ').collect();
            if asked
                .split(' ')
                .any(|s| !s.is_empty() && !granted.contains(&s))
            {
                return Err(AccountsError::ScopeNotGranted);
            }
        }
        let (hash, successor) = (&hash, &next);
        let outcome: Result<Result<Session, AccountsError>, sqlx::Error> = on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                let mut tx = pool.begin().await?;
                // Only this tenant's tokens: another tenant's token is unknown here, and is not spent.
                let spent = sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $1
                     WHERE token_hash = $2 AND used_at IS NULL
                       AND sid IN (SELECT sid FROM sessions WHERE tenant = $3 AND COALESCE(client_id, '') = $4)
                     RETURNING sid",
                )
                .bind(now.as_secs()).bind(hash).bind(tenant).bind(client)
                .fetch_optional(&mut *tx).await?;
                let Some(spent) = spent else {
                    let known = sqlx::query(
                        "SELECT r.sid AS sid FROM refresh_tokens r JOIN sessions s ON s.sid = r.sid
                         WHERE r.token_hash = $1 AND s.tenant = $2 AND COALESCE(s.client_id, '') = $3",
                    )
                    .bind(hash).bind(tenant).bind(client)
                    .fetch_optional(&mut *tx).await?;
                    let Some(known) = known else {
                        return Ok(Err(AccountsError::RefreshInvalid));
                    };
                    let sid: String = known.try_get("sid")?;
                    sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = 'refresh_reused' WHERE sid = $2 AND revoked_at IS NULL")
                        .bind(now.as_secs()).bind(&sid)
                        .execute(&mut *tx).await?;
                    tx.commit().await?;
                    return Ok(Err(AccountsError::RefreshReused));
                };
                let sid: String = spent.try_get("sid")?;
                // The user's row lock before the session is read: a deactivation in flight (which ends
                // sessions under that lock) has then either committed, and the read below sees this
                // session ended, or waits until this refresh is done and ends its successor too.
                let user_id: String = sqlx::query_scalar("SELECT user_id FROM sessions WHERE sid = $1")
                    .bind(&sid)
                    .fetch_one(&mut *tx).await?;
                sqlx::query("UPDATE users SET active = active WHERE tenant = $1 AND user_id = $2")
                    .bind(tenant).bind(&user_id)
                    .execute(&mut *tx).await?;
                let session = sqlx::query("SELECT * FROM sessions WHERE sid = $1")
                    .bind(&sid)
                    .fetch_one(&mut *tx).await
                    .and_then(|r| row_to_session(&r, now))?;
                if !session.active {
                    tx.commit().await?;
                    return Ok(Err(AccountsError::SessionInactive));
                }
                sqlx::query("INSERT INTO refresh_tokens (token_hash, sid, created_at) VALUES ($1, $2, $3)")
                    .bind(token_hash(successor)).bind(&sid).bind(now.as_secs())
                    .execute(&mut *tx).await?;
                sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE sid = $2")
                    .bind(now.as_secs()).bind(&sid)
                    .execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Ok(Session { last_seen_at: Some(now.as_secs()), ..session }))
            }).await
        });
        Ok((outcome??, next))
    }

    /// Add a method (e.g. `otp` after a TOTP step-up) to an active session's `amr`, raising its `acr`.
    ///
    /// # Errors
    /// [`AccountsError::SessionInactive`], or the database.
    pub async fn step_up(
        &self,
        sid: &str,
        method: &str,
        acr: &str,
        now: UnixTime,
    ) -> Result<Session, AccountsError> {
        let mut session = self
            .session(sid, now)
            .await?
            .ok_or(AccountsError::SessionInactive)?;
        if !session.active {
            return Err(AccountsError::SessionInactive);
        }
        if !session.amr.iter().any(|m| m == method) {
            session.amr.push(method.to_owned());
        }
        session.acr = acr.to_owned();
        let amr_json = serde_json::to_string(&session.amr)
            .map_err(|e| AccountsError::Sealing(e.to_string()))?;
        // Only a session still alive at this instant is stepped up: one revoked since it was read is not.
        let amr_json = &amr_json;
        let moved = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query("UPDATE sessions SET amr = $1, acr = $2, last_seen_at = $4 WHERE sid = $3 AND revoked_at IS NULL AND expires_at > $4")
                .bind(amr_json).bind(acr).bind(sid).bind(now.as_secs())
                .execute(pool).await.map(|done| done.rows_affected())
        }).await?);
        if moved != 1 {
            return Err(AccountsError::SessionInactive);
        }
        session.last_seen_at = Some(now.as_secs());
        Ok(session)
    }

    /// Revoke one session; returns whether it was active.
    ///
    /// # Errors
    /// The database.
    pub async fn revoke_session(
        &self,
        sid: &str,
        reason: &str,
        now: UnixTime,
    ) -> Result<bool, AccountsError> {
        // Two statements: the second runs after the first holds the session's row (PostgreSQL) or the
        // write lock (SQLite), so it also sees a client session a redemption committed meanwhile.
        let done = on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE sid = $3 AND revoked_at IS NULL")
                .bind(now.as_secs()).bind(reason).bind(sid)
                .execute(&mut *tx).await?.rows_affected();
            sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE parent_sid = $3 AND revoked_at IS NULL")
                .bind(now.as_secs()).bind(reason).bind(sid)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        }).await?);
        Ok(done == 1)
    }

    /// The user's live sessions (not revoked, not expired), newest first; at most 100.
    ///
    /// # Errors
    /// The database.
    pub async fn live_sessions(
        &self,
        tenant: &str,
        user_id: &str,
        now: UnixTime,
    ) -> Result<Vec<Session>, AccountsError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query("SELECT * FROM sessions WHERE tenant = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
                         ORDER BY created_at DESC, sid LIMIT 100")
                .bind(tenant).bind(user_id).bind(now.as_secs())
                .fetch_all(pool).await?
                .iter().map(|r| row_to_session(r, now)).collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// Revoke every session of a user ("log out everywhere"); returns how many were active.
    ///
    /// # Errors
    /// The database.
    pub async fn revoke_user_sessions(
        &self,
        tenant: &str,
        user_id: &str,
        now: UnixTime,
    ) -> Result<u64, AccountsError> {
        let done = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = 'logout_everywhere' WHERE tenant = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now.as_secs()).bind(tenant).bind(user_id)
                .execute(pool).await.map(|done| done.rows_affected())
        }).await?);
        Ok(done)
    }
}
