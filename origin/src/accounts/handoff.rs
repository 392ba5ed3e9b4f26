//! Single-use hand-off codes: how a sign-in finished at the origin (a SAML assertion consumed at the
//! ACS) reaches the edge, which alone mints tokens.
//!
//! The origin answers the browser with a redirect to the edge's login page carrying a code in the URL
//! fragment (never sent to a server, so never in an access log); the page posts it to the edge, which
//! spends it here over the service credential. Spending is one `UPDATE ... WHERE spent_at IS NULL AND
//! expires_at > now RETURNING`: of any number of concurrent attempts exactly one wins. The winner gets a
//! new session (opened only now, so an unspent code leaves nothing behind) with the sign-in's `amr`
//! and `acr`. Codes live 60 seconds and are stored as SHA-256 hashes.

use sqlx::Row as _;
use tessera_proto::UnixTime;

use super::{random_b64, token_hash, Accounts, AccountsError, Session};
use crate::on_db;
use crate::store::retry;

/// How long a hand-off code can be spent.
pub const HANDOFF_TTL_SECS: i64 = 60;
/// The prefix of hand-off codes (so that one found in a log or a report is recognised).
pub const HANDOFF_PREFIX: &str = "tsh_";

/// A finished sign-in waiting for the edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSignIn {
    pub user_id: String,
    pub amr: Vec<String>,
    pub acr: String,
    /// Where the person wanted to go (already checked against the connection's rules).
    pub relay_state: Option<String>,
    /// For a sign-in the login page started: base64url SHA-256 of the verifier the page keeps, so that
    /// only the browser that started it can finish it (a code sent to someone else's browser is worth
    /// nothing there). `None` for an identity-provider-initiated sign-in, which no page started.
    pub binding: Option<String>,
    /// When the person actually authenticated at the identity provider (the assertion's `AuthnInstant`,
    /// never later than the hand-off): the session's `auth_time`, which `prompt=login` and `max_age`
    /// judge. `None`: the hand-off's time.
    pub auth_time: Option<UnixTime>,
}

/// A spent hand-off: the session opened for it, its first refresh token, and where to go next.
pub struct HandedOff {
    pub session: Session,
    pub refresh_token: String,
    pub relay_state: Option<String>,
}

impl Accounts {
    /// Stores `pending` under a new single-use code and answers the code (shown once).
    ///
    /// # Errors
    /// Randomness or the database.
    pub async fn issue_handoff(
        &self,
        tenant: &str,
        pending: &PendingSignIn,
        now: UnixTime,
    ) -> Result<String, AccountsError> {
        let code = format!("{HANDOFF_PREFIX}{}", random_b64::<32>()?);
        let amr = serde_json::to_string(&pending.amr)
            .map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let expires_at = now.plus_secs(HANDOFF_TTL_SECS).as_secs();
        let (code_hash, amr) = (&token_hash(&code), &amr);
        on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                sqlx::query("DELETE FROM sso_handoffs WHERE expires_at < $1")
                    .bind(now.as_secs()).execute(pool).await.map(|_| ())
            }).await?;
            retry::transaction(|| async move {
                sqlx::query("INSERT INTO sso_handoffs (code_hash, tenant, user_id, amr, acr, relay_state, binding, expires_at, auth_time)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                    .bind(code_hash).bind(tenant).bind(&pending.user_id).bind(amr).bind(&pending.acr)
                    .bind(pending.relay_state.as_deref()).bind(pending.binding.as_deref()).bind(expires_at)
                    .bind(pending.auth_time.map(|t| t.min(now).as_secs()))
                    .execute(pool).await.map(|_| ())
            }).await?;
        });
        Ok(code)
    }

    /// Spends `code` (once, whoever asks concurrently) and opens the session it stands for. `verifier`:
    /// what the page that started the sign-in kept (required when the code is bound).
    ///
    /// # Errors
    /// [`AccountsError::HandoffInvalid`] for an unknown, spent or expired code (one answer for all
    /// three); [`AccountsError::UnknownUser`] when the user was deactivated in between; the database.
    pub async fn spend_handoff(
        &self,
        tenant: &str,
        code: &str,
        verifier: Option<&str>,
        now: UnixTime,
    ) -> Result<HandedOff, AccountsError> {
        self.spend_handoff_on(tenant, code, verifier, "", now).await
    }

    /// [`Self::spend_handoff`], the session opened on `device` (as the edge describes it).
    ///
    /// # Errors
    /// As [`Self::spend_handoff`].
    pub async fn spend_handoff_on(
        &self,
        tenant: &str,
        code: &str,
        verifier: Option<&str>,
        device: &str,
        now: UnixTime,
    ) -> Result<HandedOff, AccountsError> {
        let binding = verifier.map(token_hash).unwrap_or_default();
        let binding = &binding;
        let row = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query("UPDATE sso_handoffs SET spent_at = $1
                         WHERE code_hash = $2 AND tenant = $3 AND spent_at IS NULL AND expires_at > $1
                           AND (binding IS NULL OR binding = $4)
                         RETURNING user_id, amr, acr, relay_state, auth_time")
                .bind(now.as_secs()).bind(token_hash(code)).bind(tenant).bind(binding)
                .fetch_optional(pool).await?
                .map(|r| -> Result<_, sqlx::Error> {
                    Ok((
                        r.try_get::<String, _>("user_id")?,
                        r.try_get::<String, _>("amr")?,
                        r.try_get::<String, _>("acr")?,
                        r.try_get::<Option<String>, _>("relay_state")?,
                        r.try_get::<Option<i64>, _>("auth_time")?,
                    ))
                })
                .transpose()
        }).await?);
        let (user_id, amr, acr, relay_state, auth_time) =
            row.ok_or(AccountsError::HandoffInvalid)?;
        let auth_time = auth_time.map_or(now, |t| UnixTime::from_secs(t).min(now));
        let amr: Vec<String> =
            serde_json::from_str(&amr).map_err(|e| AccountsError::Sealing(e.to_string()))?;
        let (session, refresh_token) = self
            .create_session_at(
                tenant,
                &user_id,
                super::Opening {
                    amr: &amr,
                    acr: &acr,
                    auth_time,
                    device,
                },
                now,
            )
            .await?;
        Ok(HandedOff {
            session,
            refresh_token,
            relay_state,
        })
    }
}
