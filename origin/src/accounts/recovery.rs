//! Account recovery codes (`tessera_authn::recovery`): a set of ten per user, kept as keyed digests,
//! each spent once; a code opens a short recovery session in the same transaction that spends it, within
//! the user's failure budget.

use sqlx::Row as _;
use tessera_authn::budget::{Attempts, FailureBudget};
use tessera_authn::recovery::{self, RecoveryCode, CODES_PER_SET};
use tessera_proto::accounts::{RECOVERY_ACR, RECOVERY_AMR, RECOVERY_SESSION_TTL};
use tessera_proto::UnixTime;
use zeroize::Zeroizing;

use super::{random_b64, Accounts, AccountsError, Session};
use crate::on_db;
use crate::store::retry;

impl Accounts {
    fn recovery_key(&self) -> Zeroizing<Vec<u8>> {
        recovery::digest_key(self.secrets_key.expose_secret())
    }

    /// A new set of recovery codes for `user_id`, replacing (and so ending) any earlier set. Returns the
    /// codes as shown (`xxxxx-xxxxx`), once: only their digests are kept.
    ///
    /// # Errors
    /// [`AccountsError::UnknownUser`], or the database.
    pub async fn issue_recovery_codes(
        &self,
        tenant: &str,
        user_id: &str,
        now: UnixTime,
    ) -> Result<Vec<Zeroizing<String>>, AccountsError> {
        if self.user(tenant, user_id).await?.is_none() {
            return Err(AccountsError::UnknownUser);
        }
        let key = self.recovery_key();
        let mut shown = Vec::with_capacity(CODES_PER_SET);
        let mut digests: Vec<String> = Vec::with_capacity(CODES_PER_SET);
        while digests.len() < CODES_PER_SET {
            let random =
                crate::random_bytes::<8>().map_err(|e| AccountsError::Sealing(e.to_string()))?;
            let code = RecoveryCode::from_random(random);
            let digest = code.digest(&key, tenant, user_id);
            // Two equal codes in one set (a chance of 45 in 2^50) would be one code.
            if !digests.contains(&digest) {
                digests.push(digest);
                shown.push(code.display());
            }
        }
        let digests = &digests;
        on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM recovery_codes WHERE tenant = $1 AND user_id = $2")
                .bind(tenant).bind(user_id)
                .execute(&mut *tx).await?;
            for digest in digests {
                sqlx::query("INSERT INTO recovery_codes (tenant, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(tenant).bind(user_id).bind(digest).bind(now.as_secs())
                    .execute(&mut *tx).await?;
            }
            tx.commit().await
        }).await)?;
        Ok(shown)
    }

    /// How many of `user_id`'s recovery codes are unspent.
    ///
    /// # Errors
    /// The database.
    pub async fn recovery_codes_left(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<u32, AccountsError> {
        let left: i64 = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT count(*) FROM recovery_codes WHERE tenant = $1 AND user_id = $2 AND used_at IS NULL")
                .bind(tenant).bind(user_id)
                .fetch_one(pool).await?
        });
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    /// Spend the recovery code `typed` of the user named `username` (ignoring case, as sign-up's
    /// uniqueness does) and open a recovery session for them, at once: the session and the spent code
    /// commit together or not at all. The user's row is locked first, so concurrent attempts are decided
    /// one after another: a code is spent once, and every wrong guess counts against the failure budget
    /// ([`FailureBudget`]), after which attempts wait, right or wrong ([`AccountsError::RecoveryLocked`]).
    /// An unknown, deactivated or held user gets the answer a wrong code gets. Returns the session and
    /// the codes left.
    ///
    /// # Errors
    /// [`AccountsError::RecoveryMalformed`] (nothing is counted), [`AccountsError::RecoveryInvalid`],
    /// [`AccountsError::RecoveryLocked`], or the database.
    pub async fn redeem_recovery_code(
        &self,
        tenant: &str,
        username: &str,
        typed: &str,
        device: &str,
        now: UnixTime,
    ) -> Result<(Session, u32), AccountsError> {
        let device = super::device_label(device);
        let code = RecoveryCode::parse(typed).map_err(|_| AccountsError::RecoveryMalformed)?;
        let key = self.recovery_key();
        let name_key = tessera_proto::ids::username_key(username);
        let sid = random_b64::<18>()?;
        let budget = FailureBudget::default();
        let expires_at = now.plus_secs(RECOVERY_SESSION_TTL).as_secs();
        let amr = serde_json::to_string(&[RECOVERY_AMR])
            .map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let (code, key, name_key, sid, budget, amr, device) =
            (&code, &key, &name_key, &sid, &budget, &amr, &device);
        let outcome: Result<Result<(String, u32), AccountsError>, sqlx::Error> = on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                let mut tx = pool.begin().await?;
                let row = sqlx::query(
                    "UPDATE users SET active = active WHERE tenant = $1 AND username_key = $2
                     RETURNING user_id, (CASE WHEN held = 0 THEN active ELSE 0 END) AS live",
                )
                .bind(tenant).bind(name_key)
                .fetch_optional(&mut *tx).await?;
                let Some(row) = row else {
                    return Ok(Err(AccountsError::RecoveryInvalid("no such user")));
                };
                let user_id: String = row.try_get("user_id")?;
                if row.try_get::<i64, _>("live")? != 1 {
                    return Ok(Err(AccountsError::RecoveryInvalid("the user is deactivated")));
                }
                let state = sqlx::query(
                    "INSERT INTO recovery_attempts (tenant, user_id, failures) VALUES ($1, $2, 0)
                     ON CONFLICT (tenant, user_id) DO UPDATE SET failures = recovery_attempts.failures
                     RETURNING failures, locked_until",
                )
                .bind(tenant).bind(&user_id)
                .fetch_one(&mut *tx).await?;
                let attempts = Attempts {
                    failures: u32::try_from(state.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                    locked_until: state.try_get::<Option<i64>, _>("locked_until")?.map(UnixTime::from_secs),
                };
                if let Err(locked) = budget.admit(&attempts, now) {
                    // Nothing written: the transaction ends without a commit.
                    return Ok(Err(AccountsError::RecoveryLocked { retry_after_secs: locked.retry_after_secs }));
                }
                let stored: Vec<String> = sqlx::query_scalar(
                    "SELECT code_hash FROM recovery_codes WHERE tenant = $1 AND user_id = $2 AND used_at IS NULL",
                )
                .bind(tenant).bind(&user_id)
                .fetch_all(&mut *tx).await?;
                let digest = code.digest(key, tenant, &user_id);
                let spent = match recovery::matches(&digest, stored.iter().map(String::as_str)) {
                    Some(_) => sqlx::query(
                        "UPDATE recovery_codes SET used_at = $1
                         WHERE tenant = $2 AND user_id = $3 AND code_hash = $4 AND used_at IS NULL",
                    )
                    .bind(now.as_secs()).bind(tenant).bind(&user_id).bind(&digest)
                    .execute(&mut *tx).await?
                    .rows_affected() == 1,
                    None => false,
                };
                let next = if spent { budget.after_success() } else { budget.after_failure(&attempts, now) };
                sqlx::query("UPDATE recovery_attempts SET failures = $1, locked_until = $2 WHERE tenant = $3 AND user_id = $4")
                    .bind(i64::from(next.failures)).bind(next.locked_until.map(UnixTime::as_secs))
                    .bind(tenant).bind(&user_id)
                    .execute(&mut *tx).await?;
                if !spent {
                    tx.commit().await?;
                    tracing::warn!(
                        tenant, user_id, failures = next.failures, locked_until = next.locked_until.map(UnixTime::as_secs),
                        "recovery code refused"
                    );
                    return Ok(Err(AccountsError::RecoveryInvalid("the code is not one of the user's unspent codes")));
                }
                sqlx::query("INSERT INTO sessions (sid, tenant, user_id, amr, acr, auth_time, created_at, expires_at, device) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                    .bind(sid).bind(tenant).bind(&user_id).bind(amr).bind(RECOVERY_ACR)
                    .bind(now.as_secs()).bind(now.as_secs()).bind(expires_at).bind(device)
                    .execute(&mut *tx).await?;
                let left = u32::try_from(stored.len().saturating_sub(1)).unwrap_or(u32::MAX);
                tx.commit().await?;
                Ok(Ok((user_id, left)))
            }).await
        });
        let (user_id, left) = outcome??;
        Ok((
            Session {
                sid: sid.clone(),
                tenant: tenant.to_owned(),
                user_id,
                amr: vec![RECOVERY_AMR.to_owned()],
                acr: RECOVERY_ACR.to_owned(),
                auth_time: now.as_secs(),
                expires_at,
                active: true,
                revoked_reason: None,
                client_id: None,
                scope: None,
                device: device.clone(),
                created_at: now.as_secs(),
                last_seen_at: None,
            },
            left,
        ))
    }
}
