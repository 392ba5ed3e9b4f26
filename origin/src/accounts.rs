//! People and how they sign in: users, passkeys, TOTP secrets, sessions and refresh tokens.
//!
//! The edge runs the ceremonies (WebAuthn verification happens there); this store is authoritative for
//! what they need to remember:
//! - users (`user_id` is the opaque WebAuthn user handle; `username` is unique per tenant);
//! - passkeys with their signature counter, advanced by compare-and-set so two concurrent logins with one
//!   credential cannot both pass the clone check;
//! - TOTP secrets, sealed at rest (AES-256-GCM under the origin's secrets key, bound to tenant and user),
//!   verified here because the replay guard (the last accepted step) must have one writer;
//! - sessions (`sid`) with their `amr`/`acr`/`auth_time`, and single-use refresh tokens stored as SHA-256
//!   hashes: a token is spent on use and replaced; presenting a spent one revokes its whole session (the
//!   token family), so a stolen token and its thief's descendants die together.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use tessera_authn::budget::{Attempts, FailureBudget};
use tessera_authn::totp::{self, TotpError, TotpParams, TotpSecret};
use tessera_jose::{seal, Secret};

use crate::on_db;
use crate::store::Db;

/// Insert `$p` (a [`Passkey`]) for `$tenant` on `$exec` (a connection or transaction), `?`-propagating.
macro_rules! insert_passkey {
    ($exec:expr, $tenant:expr, $p:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO passkeys (tenant, credential_id, user_id, public_key, sign_count, backup_eligible, backed_up, aaguid, transports, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .bind($now)
        .execute($exec)
        .await?;
    };
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub created_at: i64,
}

/// A stored passkey. Binary fields are base64url.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Passkey {
    pub credential_id: String,
    pub user_id: String,
    /// The COSE_Key, base64url.
    pub public_key: String,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backed_up: bool,
    /// AAGUID, base64url.
    pub aaguid: String,
    #[serde(default)]
    pub transports: Vec<String>,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub last_used_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    pub sid: String,
    pub tenant: String,
    pub user_id: String,
    /// RFC 8176 methods, in the order they were used.
    pub amr: Vec<String>,
    pub acr: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
}

#[derive(Debug)]
pub enum AccountsError {
    UsernameTaken,
    CredentialExists,
    UnknownUser,
    TotpAlreadyEnrolled,
    TotpNotEnrolled,
    Totp(TotpError),
    /// Too many wrong codes: attempts are refused for `retry_after_secs`.
    TotpLocked {
        retry_after_secs: u64,
    },
    /// The refresh token is unknown or expired.
    RefreshInvalid,
    /// A spent refresh token was presented: its session was revoked.
    RefreshReused,
    SessionInactive,
    Sealing(String),
    Database(sqlx::Error),
}

impl AccountsError {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::UsernameTaken => "username_taken",
            Self::CredentialExists => "credential_exists",
            Self::UnknownUser => "unknown_user",
            Self::TotpAlreadyEnrolled => "totp_already_enrolled",
            Self::TotpNotEnrolled => "totp_not_enrolled",
            Self::Totp(e) => e.code(),
            Self::TotpLocked { .. } => "totp_locked",
            Self::RefreshInvalid => "refresh_invalid",
            Self::RefreshReused => "refresh_reused",
            Self::SessionInactive => "session_inactive",
            Self::Sealing(_) | Self::Database(_) => "internal_error",
        }
    }
}

impl std::fmt::Display for AccountsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UsernameTaken => f.write_str("that username is taken"),
            Self::CredentialExists => f.write_str("that passkey is already registered"),
            Self::UnknownUser => f.write_str("no such user"),
            Self::TotpAlreadyEnrolled => f.write_str("an authenticator app is already enrolled"),
            Self::TotpNotEnrolled => f.write_str("no authenticator app is enrolled"),
            Self::Totp(e) => write!(f, "{e}"),
            Self::TotpLocked { retry_after_secs } => {
                write!(f, "too many wrong codes; try again in {retry_after_secs} s")
            }
            Self::RefreshInvalid => f.write_str("the refresh token is not valid"),
            Self::RefreshReused => {
                f.write_str("the refresh token was already used; the session has been revoked")
            }
            Self::SessionInactive => f.write_str("the session has ended"),
            Self::Sealing(e) => write!(f, "sealing: {e}"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for AccountsError {}

impl From<sqlx::Error> for AccountsError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    b64(&Sha256::digest(token.as_bytes()))
}

fn random_b64<const N: usize>() -> Result<String, AccountsError> {
    crate::random_bytes::<N>()
        .map(|b| b64(&b))
        .map_err(|e| AccountsError::Sealing(format!("randomness: {e}")))
}

/// How long a session (and so its refresh tokens) lives, in seconds.
pub const SESSION_TTL: i64 = 30 * 24 * 3600;

#[derive(Clone)]
pub struct Accounts {
    db: Db,
    secrets_key: std::sync::Arc<Secret<[u8; 32]>>,
}

fn row_to_user<R: sqlx::Row>(r: &R) -> Result<User, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(User {
        user_id: r.try_get("user_id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        created_at: r.try_get("created_at")?,
    })
}

fn row_to_passkey<R: sqlx::Row>(r: &R) -> Result<Passkey, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let transports: String = r.try_get("transports")?;
    let count: i64 = r.try_get("sign_count")?;
    Ok(Passkey {
        credential_id: r.try_get("credential_id")?,
        user_id: r.try_get("user_id")?,
        public_key: r.try_get("public_key")?,
        sign_count: u32::try_from(count).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        backup_eligible: r.try_get::<i64, _>("backup_eligible")? != 0,
        backed_up: r.try_get::<i64, _>("backed_up")? != 0,
        aaguid: r.try_get("aaguid")?,
        transports: serde_json::from_str(&transports)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

fn row_to_session<R: sqlx::Row>(r: &R, now: i64) -> Result<Session, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let amr: String = r.try_get("amr")?;
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    let expires_at: i64 = r.try_get("expires_at")?;
    Ok(Session {
        sid: r.try_get("sid")?,
        tenant: r.try_get("tenant")?,
        user_id: r.try_get("user_id")?,
        amr: serde_json::from_str(&amr).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        acr: r.try_get("acr")?,
        auth_time: r.try_get("auth_time")?,
        expires_at,
        active: revoked_at.is_none() && expires_at > now,
        revoked_reason: r.try_get("revoked_reason")?,
    })
}

impl Accounts {
    #[must_use]
    pub fn new(db: Db, secrets_key: Secret<[u8; 32]>) -> Self {
        Self {
            db,
            secrets_key: std::sync::Arc::new(secrets_key),
        }
    }

    /// # Errors
    /// [`AccountsError::UsernameTaken`], or the database.
    pub async fn create_user(
        &self,
        tenant: &str,
        user_id: &str,
        username: &str,
        display_name: &str,
        now: i64,
    ) -> Result<User, AccountsError> {
        let done = on_db!(&self.db, pool => {
            sqlx::query("INSERT INTO users (tenant, user_id, username, display_name, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(tenant).bind(user_id).bind(username).bind(display_name).bind(now)
                .execute(pool).await.map(|_| ())
        });
        match done {
            Ok(_) => Ok(User {
                user_id: user_id.to_owned(),
                username: username.to_owned(),
                display_name: display_name.to_owned(),
                created_at: now,
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
        now: i64,
    ) -> Result<(), AccountsError> {
        let result: Result<(), sqlx::Error> = on_db!(&self.db, pool => {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO users (tenant, user_id, username, display_name, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(tenant).bind(&user.user_id).bind(&user.username).bind(&user.display_name).bind(now)
                    .execute(&mut *tx).await?;
                insert_passkey!(&mut *tx, tenant, passkey, now);
                tx.commit().await
            }.await
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                if self.user_by_name(tenant, &user.username).await?.is_some() {
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
        now: i64,
    ) -> Result<(), AccountsError> {
        if self.user(tenant, &passkey.user_id).await?.is_none() {
            return Err(AccountsError::UnknownUser);
        }
        let result: Result<(), sqlx::Error> = on_db!(&self.db, pool => {
            async {
                let mut conn = pool.acquire().await?;
                insert_passkey!(&mut *conn, tenant, passkey, now);
                Ok(())
            }.await
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(AccountsError::CredentialExists),
            Err(e) => Err(e.into()),
        }
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
        now: i64,
    ) -> Result<bool, AccountsError> {
        let done = on_db!(&self.db, pool => {
            sqlx::query("UPDATE passkeys SET sign_count = $1, backed_up = $2, last_used_at = $3 WHERE tenant = $4 AND credential_id = $5 AND sign_count = $6")
                .bind(i64::from(to)).bind(i64::from(backed_up)).bind(now).bind(tenant).bind(credential_id).bind(i64::from(from))
                .execute(pool).await?
                .rows_affected()
        });
        Ok(done == 1)
    }

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
        now: i64,
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
        let replaced = on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO totp_secrets (tenant, user_id, sealed, confirmed, last_step, created_at) VALUES ($1, $2, $3, 0, NULL, $4)
                 ON CONFLICT (tenant, user_id) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at, last_step = NULL
                 WHERE totp_secrets.confirmed = 0",
            )
            .bind(tenant).bind(user_id).bind(sealed).bind(now)
            .execute(pool).await?
            .rows_affected()
        });
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
        now: i64,
    ) -> Result<(), AccountsError> {
        let budget = FailureBudget::default();
        let outcome: Result<Result<(), AccountsError>, sqlx::Error> = on_db!(&self.db, pool => {
            async {
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
                    locked_until: row.try_get("locked_until")?,
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
                        .bind(step).bind(i64::from(reset.failures)).bind(reset.locked_until)
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
                        .bind(i64::from(next.failures)).bind(next.locked_until)
                        .bind(tenant).bind(user_id)
                        .execute(&mut *tx).await?;
                        tx.commit().await?;
                        tracing::warn!(
                            tenant, user_id, failures = next.failures, locked_until = next.locked_until,
                            "totp code refused"
                        );
                        Ok(Err(AccountsError::Totp(TotpError::Mismatch)))
                    }
                    Err(other) => Ok(Err(other)),
                }
            }.await
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
        now: i64,
    ) -> Result<i64, AccountsError> {
        let bytes = seal::open(&self.secrets_key, &Self::totp_aad(tenant, user_id), sealed)
            .map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let secret =
            TotpSecret::from_bytes(bytes.expose_secret().clone()).map_err(AccountsError::Totp)?;
        let last = last_step.and_then(|s| u64::try_from(s).ok());
        let step = totp::verify(
            &secret,
            &TotpParams::default(),
            code,
            u64::try_from(now).unwrap_or(0),
            last,
        )
        .map_err(AccountsError::Totp)?;
        Ok(i64::try_from(step).unwrap_or(i64::MAX))
    }

    /// A new session and its first refresh token.
    ///
    /// # Errors
    /// The database.
    pub async fn create_session(
        &self,
        tenant: &str,
        user_id: &str,
        amr: &[String],
        acr: &str,
        now: i64,
    ) -> Result<(Session, String), AccountsError> {
        let sid = random_b64::<18>()?;
        let refresh = random_b64::<32>()?;
        let amr_json =
            serde_json::to_string(amr).map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let expires_at = now + SESSION_TTL;
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO sessions (sid, tenant, user_id, amr, acr, auth_time, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)")
                .bind(&sid).bind(tenant).bind(user_id).bind(&amr_json).bind(acr).bind(now).bind(expires_at)
                .execute(&mut *tx).await?;
            sqlx::query("INSERT INTO refresh_tokens (token_hash, sid, created_at) VALUES ($1, $2, $3)")
                .bind(token_hash(&refresh)).bind(&sid).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok((
            Session {
                sid,
                tenant: tenant.to_owned(),
                user_id: user_id.to_owned(),
                amr: amr.to_vec(),
                acr: acr.to_owned(),
                auth_time: now,
                expires_at,
                active: true,
                revoked_reason: None,
            },
            refresh,
        ))
    }

    /// # Errors
    /// The database.
    pub async fn session(&self, sid: &str, now: i64) -> Result<Option<Session>, AccountsError> {
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
        now: i64,
    ) -> Result<(Session, String), AccountsError> {
        let hash = token_hash(refresh_token);
        let next = random_b64::<32>()?;
        // Decided inside one transaction that opens with a write, so it holds the lock from the start:
        // SQLite's write lock (a transaction that reads first cannot upgrade while another writer holds
        // it, and fails with "database is locked" instead of waiting), PostgreSQL's row lock. Of many
        // concurrent presentations one spends the token; every other one finds it spent, which is reuse.
        let outcome: Result<Result<Session, AccountsError>, sqlx::Error> = on_db!(&self.db, pool => {
            async {
                let mut tx = pool.begin().await?;
                // Only this tenant's tokens: another tenant's token is unknown here, and is not spent.
                let spent = sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $1
                     WHERE token_hash = $2 AND used_at IS NULL
                       AND sid IN (SELECT sid FROM sessions WHERE tenant = $3)
                     RETURNING sid",
                )
                .bind(now).bind(&hash).bind(tenant)
                .fetch_optional(&mut *tx).await?;
                let Some(spent) = spent else {
                    let known = sqlx::query(
                        "SELECT r.sid AS sid FROM refresh_tokens r JOIN sessions s ON s.sid = r.sid
                         WHERE r.token_hash = $1 AND s.tenant = $2",
                    )
                    .bind(&hash).bind(tenant)
                    .fetch_optional(&mut *tx).await?;
                    let Some(known) = known else {
                        return Ok(Err(AccountsError::RefreshInvalid));
                    };
                    let sid: String = known.try_get("sid")?;
                    sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = 'refresh_reused' WHERE sid = $2 AND revoked_at IS NULL")
                        .bind(now).bind(&sid)
                        .execute(&mut *tx).await?;
                    tx.commit().await?;
                    return Ok(Err(AccountsError::RefreshReused));
                };
                let sid: String = spent.try_get("sid")?;
                let session = sqlx::query("SELECT * FROM sessions WHERE sid = $1")
                    .bind(&sid)
                    .fetch_one(&mut *tx).await
                    .and_then(|r| row_to_session(&r, now))?;
                if !session.active {
                    tx.commit().await?;
                    return Ok(Err(AccountsError::SessionInactive));
                }
                sqlx::query("INSERT INTO refresh_tokens (token_hash, sid, created_at) VALUES ($1, $2, $3)")
                    .bind(token_hash(&next)).bind(&sid).bind(now)
                    .execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Ok(session))
            }.await
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
        now: i64,
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
        on_db!(&self.db, pool => {
            sqlx::query("UPDATE sessions SET amr = $1, acr = $2 WHERE sid = $3")
                .bind(amr_json).bind(acr).bind(sid)
                .execute(pool).await?;
        });
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
        now: i64,
    ) -> Result<bool, AccountsError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE sid = $3 AND revoked_at IS NULL")
                .bind(now).bind(reason).bind(sid)
                .execute(pool).await?
                .rows_affected()
        }) == 1)
    }

    /// Revoke every session of a user ("log out everywhere"); returns how many were active.
    ///
    /// # Errors
    /// The database.
    pub async fn revoke_user_sessions(
        &self,
        tenant: &str,
        user_id: &str,
        now: i64,
    ) -> Result<u64, AccountsError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = 'logout_everywhere' WHERE tenant = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now).bind(tenant).bind(user_id)
                .execute(pool).await?
                .rows_affected()
        }))
    }
}
