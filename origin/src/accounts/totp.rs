//! TOTP secrets, sealed at rest, verified here within a failure budget (the replay guard and the budget
//! need one writer).

use sqlx::Row as _;
use tessera_authn::budget::{Attempts, FailureBudget};
use tessera_authn::totp::{self, TotpError, TotpParams, TotpSecret};
use tessera_jose::seal;
use tessera_proto::UnixTime;

use super::{Accounts, AccountsError};
use crate::on_db;
use crate::store::retry;

impl Accounts {
    fn totp_aad(tenant: &str, user_id: &str) -> Vec<u8> {
        [
            b"tessera-totp-v1\0",
            tenant.as_bytes(),
            b"\0",
            user_id.as_bytes(),
        ]
        .concat()
    }

    /// Draw a new TOTP secret for `user_id` and keep it sealed, unconfirmed, replacing an earlier
    /// unconfirmed one. Returns it in base32 (shown once, for the authenticator app).
    ///
    /// # Errors
    /// [`AccountsError::UnknownUser`], [`AccountsError::TotpAlreadyEnrolled`], or the database.
    pub async fn enroll_totp(
        &self,
        tenant: &str,
        user_id: &str,
        now: UnixTime,
    ) -> Result<zeroize::Zeroizing<String>, AccountsError> {
        if self.user(tenant, user_id).await?.is_none() {
            return Err(AccountsError::UnknownUser);
        }
        let raw = crate::random_bytes::<20>().map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let secret = TotpSecret::from_bytes(raw.to_vec()).map_err(AccountsError::Totp)?;
        let nonce =
            crate::random_bytes::<12>().map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let sealed = seal::seal(
            &self.secrets_key,
            &nonce,
            &Self::totp_aad(tenant, user_id),
            secret.expose_secret(),
        )
        .map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let sealed = &sealed;
        let replaced = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query(
                "INSERT INTO totp_secrets (tenant, user_id, sealed, confirmed, last_step, created_at) VALUES ($1, $2, $3, 0, NULL, $4)
                 ON CONFLICT (tenant, user_id) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at, last_step = NULL,
                    failures = 0, locked_until = NULL
                 WHERE totp_secrets.confirmed = 0",
            )
            .bind(tenant).bind(user_id).bind(sealed).bind(now.as_secs())
            .execute(pool).await.map(|done| done.rows_affected())
        }).await?);
        if replaced == 0 {
            return Err(AccountsError::TotpAlreadyEnrolled);
        }
        Ok(secret.to_base32())
    }

    /// Whether `user_id` has a confirmed TOTP authenticator.
    ///
    /// # Errors
    /// The database.
    pub async fn totp_enrolled(&self, tenant: &str, user_id: &str) -> Result<bool, AccountsError> {
        let confirmed: Option<i64> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT confirmed FROM totp_secrets WHERE tenant = $1 AND user_id = $2")
                .bind(tenant).bind(user_id)
                .fetch_optional(pool).await?
        });
        Ok(confirmed == Some(1))
    }

    /// Check a TOTP code (`confirm`: the first code after enrolment, which confirms it), within the user's
    /// failure budget ([`FailureBudget`]): after a few wrong codes each further one costs a growing wait,
    /// during which every attempt, right or wrong, is refused with [`AccountsError::TotpLocked`]. The
    /// user's row is locked first (a write opens the transaction: SQLite's write lock, PostgreSQL's row
    /// lock), so concurrent attempts are decided one after another: each wrong guess is counted, and each
    /// step is accepted once (the replay guard).
    ///
    /// # Errors
    /// [`AccountsError::TotpNotEnrolled`], [`AccountsError::TotpLocked`], [`AccountsError::Totp`]
    /// (malformed, mismatch, replayed), or the database.
    pub async fn verify_totp(
        &self,
        tenant: &str,
        user_id: &str,
        code: &str,
        confirm: bool,
        now: UnixTime,
    ) -> Result<(), AccountsError> {
        let budget = FailureBudget::default();
        // While a wait runs, refuse without taking the lock (a locked-out guesser costs a read); the
        // decision that counts is re-made under the lock below.
        let locked_until: Option<Option<i64>> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT locked_until FROM totp_secrets WHERE tenant = $1 AND user_id = $2")
                .bind(tenant).bind(user_id)
                .fetch_optional(pool).await?
        });
        if let Some(Some(until)) = locked_until {
            let early = Attempts {
                failures: budget.free_failures,
                locked_until: Some(UnixTime::from_secs(until)),
            };
            if let Err(locked) = budget.admit(&early, now) {
                return Err(AccountsError::TotpLocked {
                    retry_after_secs: locked.retry_after_secs,
                });
            }
        }
        let budget = &budget;
        let outcome: Result<Result<(), AccountsError>, sqlx::Error> = on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                let mut tx = pool.begin().await?;
                let row = sqlx::query(
                    "UPDATE totp_secrets SET failures = failures WHERE tenant = $1 AND user_id = $2
                     RETURNING sealed, confirmed, last_step, failures, locked_until",
                )
                .bind(tenant).bind(user_id)
                .fetch_optional(&mut *tx).await?;
                let Some(row) = row else {
                    return Ok(Err(AccountsError::TotpNotEnrolled));
                };
                let sealed: String = row.try_get("sealed")?;
                let confirmed: i64 = row.try_get("confirmed")?;
                let last_step: Option<i64> = row.try_get("last_step")?;
                let attempts = Attempts {
                    failures: u32::try_from(row.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                    locked_until: row
                        .try_get::<Option<i64>, _>("locked_until")?
                        .map(UnixTime::from_secs),
                };
                if (confirmed == 1) == confirm {
                    // Confirming twice, or using an unconfirmed secret.
                    return Ok(Err(if confirm {
                        AccountsError::TotpAlreadyEnrolled
                    } else {
                        AccountsError::TotpNotEnrolled
                    }));
                }
                if let Err(locked) = budget.admit(&attempts, now) {
                    return Ok(Err(AccountsError::TotpLocked {
                        retry_after_secs: locked.retry_after_secs,
                    }));
                }
                let checked = self.check_totp_code(tenant, user_id, &sealed, code, last_step, now);
                match checked {
                    Ok(step) => {
                        let reset = budget.after_success();
                        sqlx::query(
                            "UPDATE totp_secrets SET last_step = $1, confirmed = 1, failures = $2, locked_until = $3
                             WHERE tenant = $4 AND user_id = $5",
                        )
                        .bind(step).bind(i64::from(reset.failures)).bind(reset.locked_until.map(UnixTime::as_secs))
                        .bind(tenant).bind(user_id)
                        .execute(&mut *tx).await?;
                        tx.commit().await?;
                        Ok(Ok(()))
                    }
                    Err(AccountsError::Totp(TotpError::Mismatch)) => {
                        let next = budget.after_failure(&attempts, now);
                        sqlx::query(
                            "UPDATE totp_secrets SET failures = $1, locked_until = $2 WHERE tenant = $3 AND user_id = $4",
                        )
                        .bind(i64::from(next.failures)).bind(next.locked_until.map(UnixTime::as_secs))
                        .bind(tenant).bind(user_id)
                        .execute(&mut *tx).await?;
                        tx.commit().await?;
                        tracing::warn!(
                            tenant, user_id, failures = next.failures, locked_until = next.locked_until.map(UnixTime::as_secs),
                            "totp code refused"
                        );
                        Ok(Err(AccountsError::Totp(TotpError::Mismatch)))
                    }
                    Err(other) => Ok(Err(other)),
                }
            }).await
        });
        outcome?
    }

    /// The step `code` matches under the sealed secret, newer than `last_step` (the replay guard).
    fn check_totp_code(
        &self,
        tenant: &str,
        user_id: &str,
        sealed: &str,
        code: &str,
        last_step: Option<i64>,
        now: UnixTime,
    ) -> Result<i64, AccountsError> {
        let bytes = seal::open(&self.secrets_key, &Self::totp_aad(tenant, user_id), sealed)
            .map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let secret =
            TotpSecret::from_bytes(bytes.expose_secret().clone()).map_err(AccountsError::Totp)?;
        let last = last_step.and_then(|s| u64::try_from(s).ok());
        let step = totp::verify(&secret, &TotpParams::default(), code, now, last)
            .map_err(AccountsError::Totp)?;
        Ok(i64::try_from(step).unwrap_or(i64::MAX))
    }
}
