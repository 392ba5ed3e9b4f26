//! What the authorization-code grant must remember: single-use codes, the sessions they are redeemed for,
//! the consents people gave clients, and revoking a client's grant (RFC 7009).
//!
//! - A code is issued for an active browser session and stored as its SHA-256, for 60 seconds. Redeeming
//!   it is one transaction that opens with `UPDATE ... WHERE spent_at IS NULL RETURNING`: of any number of
//!   concurrent presentations exactly one spends it. The binding (client, redirect URI, PKCE verifier) is
//!   checked after the spend, so a wrong presentation burns the code: whoever holds a stolen code and not
//!   the verifier cannot try again. A code presented again by its client after it was spent revokes the
//!   session it was redeemed for (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3), and so every token of that grant;
//!   presented by another client, it revokes nothing.
//! - The redeemed session is the client's own: `client_id` set, its own refresh family (a refresh token
//!   only when `offline_access` was granted). It ends with the browser session it came from
//!   (`parent_sid`), unless it is offline access, which outlives the browser session by design and ends
//!   with "sign out everywhere", a revocation, or a withdrawn consent.
//! - A consent is per person and client: the scopes granted (growing as more are granted) and when.
//!   Withdrawing it also ends the client's sessions for that person.

use sqlx::Row as _;
use tessera_proto::oidc::{Consent, NewCode, Redeemed};
use tessera_proto::UnixTime;

use super::{
    random_b64, row_to_session, row_to_user, token_hash, Accounts, AccountsError, SESSION_TTL,
};
use crate::on_db;
use crate::store::retry;

/// How long a code can be redeemed (RFC 6749 §4.1.2 recommends at most ten minutes; a browser needs
/// seconds).
pub const CODE_TTL_SECS: i64 = 60;
/// How long a code's row outlives its expiry.
const CODE_KEPT_SECS: i64 = 24 * 3600;
/// The prefix of authorization codes (so that one found in a log or a report is recognised).
pub const CODE_PREFIX: &str = "tac_";

/// Why a redemption failed; every one is `invalid_grant` to the client, the detail goes to the log.
fn invalid(detail: &'static str) -> AccountsError {
    AccountsError::CodeInvalid(detail)
}

fn json_list(text: &str) -> Result<Vec<String>, AccountsError> {
    serde_json::from_str(text).map_err(|e| AccountsError::Sealing(e.to_string()))
}

fn to_json(list: &[String]) -> Result<String, AccountsError> {
    serde_json::to_string(list).map_err(|e| AccountsError::Sealing(e.to_string()))
}

/// The parts of a spent code's row that decide the redemption.
struct SpentCode {
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    nonce: Option<String>,
    scopes: String,
    user_id: String,
    sid: String,
    acr: String,
    expires_at: i64,
}

impl Accounts {
    /// A new code for `new`, whose browser session must be active and the user's.
    ///
    /// # Errors
    /// [`AccountsError::SessionInactive`], randomness or the database.
    pub async fn issue_code(
        &self,
        tenant: &str,
        new: &NewCode,
        now: UnixTime,
    ) -> Result<String, AccountsError> {
        let session = self
            .session(&new.sid, now)
            .await?
            .filter(|s| {
                s.active && s.tenant == tenant && s.user_id == new.user_id && s.client_id.is_none()
            })
            .ok_or(AccountsError::SessionInactive)?;
        let code = format!("{CODE_PREFIX}{}", random_b64::<32>()?);
        let scopes = &to_json(&new.scopes)?;
        let code_hash = &token_hash(&code);
        let expires_at = now.plus_secs(CODE_TTL_SECS).as_secs();
        let sid = &session.sid;
        on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                // Spent codes are kept a day past their expiry, so that a replay still finds (and
                // revokes) what its code was redeemed for.
                sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
                    .bind(now.as_secs() - CODE_KEPT_SECS).execute(pool).await.map(|_| ())
            }).await?;
            retry::transaction(|| async move {
                sqlx::query("INSERT INTO oauth_codes (code_hash, tenant, client_id, redirect_uri, code_challenge, nonce, scopes, user_id, sid, acr, created_at, expires_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
                    .bind(code_hash).bind(tenant).bind(&new.client_id).bind(&new.redirect_uri)
                    .bind(new.code_challenge.as_deref()).bind(new.nonce.as_deref()).bind(scopes)
                    .bind(&new.user_id).bind(sid).bind(&new.acr).bind(now.as_secs()).bind(expires_at)
                    .execute(pool).await.map(|_| ())
            }).await?;
        });
        Ok(code)
    }

    /// Spend `code` for `client_id` and open the client's session. See the module documentation.
    ///
    /// # Errors
    /// [`AccountsError::CodeInvalid`] (unknown, expired, or presented with the wrong client, redirect URI
    /// or verifier), [`AccountsError::CodeReused`] (spent before: its grant was revoked now), or the
    /// database.
    pub async fn redeem_code(
        &self,
        tenant: &str,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        now: UnixTime,
    ) -> Result<Redeemed, AccountsError> {
        let hash = &token_hash(code);
        let child = &random_b64::<18>()?;
        let refresh = &random_b64::<32>()?;
        on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            let spent = sqlx::query(
                "UPDATE oauth_codes SET spent_at = $1 WHERE code_hash = $2 AND tenant = $3 AND spent_at IS NULL
                 RETURNING client_id, redirect_uri, code_challenge, nonce, scopes, user_id, sid, acr, expires_at",
            )
            .bind(now.as_secs()).bind(hash).bind(tenant)
            .fetch_optional(&mut *tx).await?;
            let Some(row) = spent else {
                let issued: Option<(Option<String>, String)> = sqlx::query_as(
                    "SELECT issued_sid, client_id FROM oauth_codes WHERE code_hash = $1 AND tenant = $2",
                )
                .bind(hash).bind(tenant)
                .fetch_optional(&mut *tx).await?;
                let Some((issued, issued_to)) = issued else {
                    return Err(invalid("unknown code"));
                };
                // Only a replay by the client the code was issued to revokes: anyone else holding the
                // spent code must not be able to end that client's grant.
                if issued_to != client_id {
                    return Err(invalid("a spent code of another client"));
                }
                if let Some(sid) = issued {
                    sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = 'code_reused' WHERE sid = $2 AND revoked_at IS NULL")
                        .bind(now.as_secs()).bind(&sid)
                        .execute(&mut *tx).await?;
                }
                tx.commit().await?;
                return Err(AccountsError::CodeReused);
            };
            let c = SpentCode {
                client_id: row.try_get("client_id")?,
                redirect_uri: row.try_get("redirect_uri")?,
                code_challenge: row.try_get("code_challenge")?,
                nonce: row.try_get("nonce")?,
                scopes: row.try_get("scopes")?,
                user_id: row.try_get("user_id")?,
                sid: row.try_get("sid")?,
                acr: row.try_get("acr")?,
                expires_at: row.try_get("expires_at")?,
            };
            // Spent whatever follows: a wrong presentation burns the code.
            let refused = if c.expires_at <= now.as_secs() {
                Some("expired code")
            } else if c.client_id != client_id {
                Some("code issued to another client")
            } else if redirect_uri != Some(c.redirect_uri.as_str()) {
                Some("redirect_uri differs from the authorization request's")
            } else {
                match (&c.code_challenge, code_verifier) {
                    (Some(ch), Some(v)) if tessera_jose::oidc::pkce_s256_matches(ch, v) => None,
                    (Some(_), Some(_)) => Some("code_verifier does not match the code_challenge"),
                    (Some(_), None) => Some("code_verifier is required (the request sent a code_challenge)"),
                    (None, Some(_)) => Some("code_verifier without a code_challenge in the request"),
                    (None, None) => None,
                }
            };
            if let Some(why) = refused {
                tx.commit().await?;
                return Err(invalid(why));
            }
            // The user's row lock first (as every session write takes it), then the browser session,
            // which must still be alive.
            let user = sqlx::query(
                "UPDATE users SET active = active WHERE tenant = $1 AND user_id = $2 AND active = 1 AND held = 0
                 RETURNING user_id, username, display_name, created_at",
            )
            .bind(tenant).bind(&c.user_id)
            .fetch_optional(&mut *tx).await?;
            let Some(user) = user else {
                tx.commit().await?;
                return Err(AccountsError::SessionInactive);
            };
            let user = row_to_user(&user)?;
            // Read under the row's lock (a no-op update): a revocation of the browser session either
            // committed before, and this sees it, or waits, and then ends the session made here too.
            let parent = sqlx::query("UPDATE sessions SET sid = sid WHERE sid = $1 AND tenant = $2 RETURNING *")
                .bind(&c.sid).bind(tenant)
                .fetch_optional(&mut *tx).await?
                .map(|r| row_to_session(&r, now)).transpose()?;
            let Some(parent) = parent.filter(|p| p.active) else {
                tx.commit().await?;
                return Err(AccountsError::SessionInactive);
            };
            let scopes = json_list(&c.scopes)?;
            let offline = scopes.iter().any(|s| s == "offline_access");
            let (parent_sid, expires_at) = if offline {
                (None, now.plus_secs(SESSION_TTL).as_secs())
            } else {
                (Some(parent.sid.as_str()), parent.expires_at)
            };
            let scope = scopes.join(" ");
            sqlx::query("INSERT INTO sessions (sid, tenant, user_id, amr, acr, auth_time, created_at, expires_at, client_id, parent_sid, scope, device)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
                .bind(child).bind(tenant).bind(&c.user_id).bind(to_json(&parent.amr)?).bind(&parent.acr)
                .bind(parent.auth_time).bind(now.as_secs()).bind(expires_at).bind(client_id).bind(parent_sid).bind(&scope)
                .bind(&parent.device)
                .execute(&mut *tx).await?;
            if offline {
                sqlx::query("INSERT INTO refresh_tokens (token_hash, sid, created_at) VALUES ($1, $2, $3)")
                    .bind(token_hash(refresh)).bind(child).bind(now.as_secs())
                    .execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE oauth_codes SET issued_sid = $1 WHERE code_hash = $2")
                .bind(child).bind(hash)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Redeemed {
                session: tessera_proto::accounts::Session {
                    sid: child.clone(),
                    tenant: tenant.to_owned(),
                    user_id: c.user_id,
                    amr: parent.amr,
                    acr: parent.acr,
                    auth_time: parent.auth_time,
                    expires_at,
                    active: true,
                    revoked_reason: None,
                    client_id: Some(client_id.to_owned()),
                    scope: Some(scope),
                    device: parent.device,
                    created_at: now.as_secs(),
                    last_seen_at: None,
                },
                refresh_token: offline.then(|| refresh.clone()),
                browser_sid: parent.sid,
                scopes,
                nonce: c.nonce,
                acr: c.acr,
                user,
            })
        }).await)
    }

    /// What `user_id` granted `client_id`, if anything.
    ///
    /// # Errors
    /// The database.
    pub async fn consent(
        &self,
        tenant: &str,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<Consent>, AccountsError> {
        Ok(self
            .consents(tenant, user_id)
            .await?
            .into_iter()
            .find(|c| c.client_id == client_id))
    }

    /// Every consent `user_id` gave, by client.
    ///
    /// # Errors
    /// The database.
    pub async fn consents(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Vec<Consent>, AccountsError> {
        let rows: Vec<(String, String, i64)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT client_id, scopes, granted_at FROM oauth_consents WHERE tenant = $1 AND user_id = $2 ORDER BY client_id")
                .bind(tenant).bind(user_id)
                .fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(client_id, scopes, granted_at)| {
                Ok(Consent {
                    client_id,
                    scopes: json_list(&scopes)?,
                    granted_at,
                })
            })
            .collect()
    }

    /// Add `scopes` to what `user_id` granted `client_id`, granted now.
    ///
    /// # Errors
    /// [`AccountsError::UnknownUser`] or the database.
    pub async fn grant_consent(
        &self,
        tenant: &str,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
        now: UnixTime,
    ) -> Result<Consent, AccountsError> {
        let granted = on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            let known = sqlx::query("UPDATE users SET active = active WHERE tenant = $1 AND user_id = $2")
                .bind(tenant).bind(user_id)
                .execute(&mut *tx).await?.rows_affected();
            if known != 1 {
                return Err(AccountsError::UnknownUser);
            }
            let before: Option<String> = sqlx::query_scalar(
                "SELECT scopes FROM oauth_consents WHERE tenant = $1 AND user_id = $2 AND client_id = $3",
            )
            .bind(tenant).bind(user_id).bind(client_id)
            .fetch_optional(&mut *tx).await?;
            let mut all = before.as_deref().map(json_list).transpose()?.unwrap_or_default();
            for s in scopes {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
            sqlx::query("INSERT INTO oauth_consents (tenant, user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (tenant, user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at")
                .bind(tenant).bind(user_id).bind(client_id).bind(to_json(&all)?).bind(now.as_secs())
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(all)
        }).await)?;
        Ok(Consent {
            client_id: client_id.to_owned(),
            scopes: granted,
            granted_at: now.as_secs(),
        })
    }

    /// Withdraw `user_id`'s consent to `client_id` and end the client's sessions for them; answers how
    /// many sessions ended.
    ///
    /// # Errors
    /// The database.
    pub async fn revoke_consent(
        &self,
        tenant: &str,
        user_id: &str,
        client_id: &str,
        now: UnixTime,
    ) -> Result<u64, AccountsError> {
        Ok(on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM oauth_consents WHERE tenant = $1 AND user_id = $2 AND client_id = $3")
                .bind(tenant).bind(user_id).bind(client_id)
                .execute(&mut *tx).await?;
            let ended = sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = 'consent_withdrawn'
                                     WHERE tenant = $2 AND user_id = $3 AND client_id = $4 AND revoked_at IS NULL")
                .bind(now.as_secs()).bind(tenant).bind(user_id).bind(client_id)
                .execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ended)
        }).await?))
    }

    /// RFC 7009: end the session of `refresh_token` if it is `client_id`'s (spent or not); answers how
    /// many sessions ended (0 for a token that is unknown, another client's, or of an ended session).
    ///
    /// # Errors
    /// The database.
    pub async fn revoke_refresh_token(
        &self,
        tenant: &str,
        refresh_token: &str,
        client_id: &str,
        now: UnixTime,
    ) -> Result<u64, AccountsError> {
        let sid: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT s.sid FROM refresh_tokens r JOIN sessions s ON s.sid = r.sid
                 WHERE r.token_hash = $1 AND s.tenant = $2 AND COALESCE(s.client_id, '') = $3",
            )
            .bind(token_hash(refresh_token)).bind(tenant).bind(client_id)
            .fetch_optional(pool).await?
        });
        match sid {
            Some(sid) => Ok(u64::from(self.revoke_session(&sid, "revoked", now).await?)),
            None => Ok(0),
        }
    }
}
