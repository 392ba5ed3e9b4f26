//! SCIM bearer tokens: `tsc_` + 43 base64url characters (256 random bits), shown once at creation.
//!
//! Only the SHA-256 of a token is stored, so a database dump holds nothing an attacker can present; the
//! lookup is by that hash (a token's entropy makes the hash a safe key, and no comparison of secret bytes
//! happens in the application). Each token has a public id (`st_…`) by which an operator lists and
//! revokes it, and a label saying which identity provider holds it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use tessera_proto::{TenantId, UnixTime};

use crate::on_db;
use crate::store::retry;
use crate::store::Db;

/// The prefix of every SCIM token (so that secret scanners can recognise one).
pub const TOKEN_PREFIX: &str = "tsc_";
/// Labels are for people: at most this many characters, no control characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// What an operator sees of a token (never the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub token_id: String,
    pub tenant: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A token just created: the secret, shown once, and its record.
pub struct NewToken {
    pub token: String,
    pub info: TokenInfo,
}

#[derive(Debug)]
pub enum TokenError {
    /// A label too long or with control characters.
    BadLabel,
    Randomness(String),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadLabel => write!(
                f,
                "a label is at most {MAX_LABEL_CHARS} characters without control characters"
            ),
            Self::Randomness(e) => write!(f, "randomness: {e}"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for TokenError {}

fn hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn random_b64<const N: usize>() -> Result<String, TokenError> {
    crate::random_bytes::<N>()
        .map(|b| URL_SAFE_NO_PAD.encode(b))
        .map_err(|e| TokenError::Randomness(e.to_string()))
}

/// The tenants' SCIM tokens.
#[derive(Clone)]
pub struct ScimTokens {
    db: Db,
}

impl ScimTokens {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// A new token for `tenant`.
    ///
    /// # Errors
    /// [`TokenError::BadLabel`], randomness or the database.
    pub async fn create(
        &self,
        tenant: &TenantId,
        label: &str,
        now: UnixTime,
    ) -> Result<NewToken, TokenError> {
        if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
            return Err(TokenError::BadLabel);
        }
        let token = format!("{TOKEN_PREFIX}{}", random_b64::<32>()?);
        let token_id = format!("st_{}", random_b64::<9>()?);
        let (token_hash, id) = (&hash(&token), &token_id);
        on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query(
                "INSERT INTO scim_tokens (token_hash, token_id, tenant, label, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash).bind(id).bind(tenant.as_str()).bind(label).bind(now.as_secs())
            .execute(pool).await.map(|_| ())
        }).await?);
        Ok(NewToken {
            token,
            info: TokenInfo {
                token_id,
                tenant: tenant.as_str().to_owned(),
                label: label.to_owned(),
                created_at: now.as_secs(),
                revoked_at: None,
            },
        })
    }

    /// The tenant a presented token is good for, if it is one of ours and not revoked.
    ///
    /// # Errors
    /// The database.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<String>, TokenError> {
        if !presented.starts_with(TOKEN_PREFIX) || presented.len() > 128 {
            return Ok(None);
        }
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT tenant FROM scim_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(hash(presented))
            .fetch_optional(pool).await?
        }))
    }

    /// Every token (of one tenant, or all), oldest first.
    ///
    /// # Errors
    /// The database.
    pub async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<TokenInfo>, TokenError> {
        let rows = on_db!(&self.db, pool => {
            sqlx::query(
                "SELECT token_id, tenant, label, created_at, revoked_at FROM scim_tokens
                 WHERE ($1 IS NULL OR tenant = $1) ORDER BY created_at, token_id",
            )
            .bind(tenant.map(TenantId::as_str))
            .fetch_all(pool).await?
            .iter()
            .map(|r| -> Result<TokenInfo, sqlx::Error> {
                Ok(TokenInfo {
                    token_id: r.try_get("token_id")?,
                    tenant: r.try_get("tenant")?,
                    label: r.try_get("label")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// Revoke a token by its id; `false` when no live token has that id.
    ///
    /// # Errors
    /// The database.
    pub async fn revoke(&self, token_id: &str, now: UnixTime) -> Result<bool, TokenError> {
        let revoked = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query("UPDATE scim_tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL")
                .bind(now.as_secs()).bind(token_id)
                .execute(pool).await.map(|done| done.rows_affected())
        }).await?);
        Ok(revoked == 1)
    }
}
