//! Sign-in requests we sent and assertions we accepted: the two single-use properties of SAML SSO,
//! each one statement, so that any number of origins on one database agree on them without locks of
//! ours:
//! - a request is spent by `UPDATE … SET spent_at WHERE … AND spent_at IS NULL AND expires_at > now …
//!   RETURNING relay_state`: SQLite runs writers one at a time, PostgreSQL re-checks the row after
//!   waiting for a concurrent writer, so of concurrent spends exactly one sees its row;
//! - an assertion ID is remembered by `INSERT … ON CONFLICT DO NOTHING`: the primary key admits one.
//!
//! Expired rows are deleted [`PRUNE_BATCH`] at a time whenever a new row of their table is written.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tessera_proto::saml::ConnectionId;
use tessera_proto::{TenantId, UnixTime};

use super::store::SamlStore;
use super::{hex, SamlError};
use crate::on_db;
use crate::store::retry;

/// How long a sign-in request may be answered.
pub const REQUEST_TTL: Duration = Duration::from_secs(600);
/// The most expired rows one write deletes.
pub const PRUNE_BATCH: i64 = 100;

/// A sign-in request we are about to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedRequest {
    /// The AuthnRequest's `ID`: `_` and 64 hex digits (256 random bits).
    pub request_id: String,
    /// The RelayState to send the IdP (22 base64url characters, bound to the request), when the
    /// sign-in has somewhere to return to.
    pub relay_token: Option<String>,
    pub expires_at: UnixTime,
}

/// What a spent request leaves: where the sign-in returns to, and the login page's binding (see
/// `accounts::handoff`) when the page started it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpentRequest {
    pub relay_state: Option<String>,
    pub binding: Option<String>,
    /// When the request was sent, if it asked the IdP to authenticate the person again (`ForceAuthn`):
    /// an assertion whose `AuthnInstant` is older did not.
    pub forced_since: Option<UnixTime>,
}

/// Why a request could not be spent: for the log only (outward it is one refusal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestRefusal {
    /// No such request for this connection.
    Unknown,
    /// Already answered once.
    Spent,
    Expired,
    /// The response came back with a RelayState other than the one we sent with this request.
    RelayStateMismatch,
}

impl std::fmt::Display for RequestRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unknown => "no such request for this connection",
            Self::Spent => "the request was already answered",
            Self::Expired => "the request expired",
            Self::RelayStateMismatch => "the RelayState is not the one sent with the request",
        })
    }
}

impl SamlStore {
    /// Remember a sign-in request for [`REQUEST_TTL`], with where it returns to (`relay_state`, already
    /// checked by the caller), the login page's `binding` if it started it, and whether it asks the IdP to
    /// authenticate the person again (`force_authn`); expired requests are pruned on the way.
    ///
    /// # Errors
    /// Randomness, the database.
    pub async fn issue_request(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        relay_state: Option<&str>,
        binding: Option<&str>,
        force_authn: bool,
        now: UnixTime,
    ) -> Result<IssuedRequest, SamlError> {
        let random = |e: getrandom::Error| SamlError::Randomness(e.to_string());
        let request_id = format!("_{}", hex(&crate::random_bytes::<32>().map_err(random)?));
        let relay_token = relay_state
            .map(|_| crate::random_bytes::<16>().map(|b| URL_SAFE_NO_PAD.encode(b)))
            .transpose()
            .map_err(random)?;
        let expires_at = now.plus(REQUEST_TTL);
        let (id, token) = (&request_id, relay_token.as_deref());
        on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                sqlx::query(
                    "DELETE FROM saml_requests WHERE request_id IN
                        (SELECT request_id FROM saml_requests WHERE expires_at <= $1 LIMIT $2)",
                )
                .bind(now.as_secs()).bind(PRUNE_BATCH)
                .execute(pool).await.map(|_| ())
            }).await?;
            retry::transaction(|| async move {
                sqlx::query(
                    "INSERT INTO saml_requests (request_id, tenant, connection_id, relay_state, relay_token, binding, created_at, expires_at, force_authn)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id).bind(tenant.as_str()).bind(connection.as_str())
                .bind(relay_state).bind(token).bind(binding)
                .bind(now.as_secs()).bind(expires_at.as_secs()).bind(i64::from(force_authn))
                .execute(pool).await.map(|_| ())
            }).await?;
        });
        Ok(IssuedRequest {
            request_id,
            relay_token,
            expires_at,
        })
    }

    /// Spend the request a response answers (`InResponseTo`), presented with `relay_token` (the
    /// RelayState the IdP posted back, if any): at most once, before it expires, for this connection
    /// only. Returns where the sign-in returns to and the page's binding.
    ///
    /// # Errors
    /// [`SamlError::RequestRefused`] (which check failed, for the log), the database.
    pub async fn spend_request(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        request_id: &str,
        relay_token: Option<&str>,
        now: UnixTime,
    ) -> Result<SpentRequest, SamlError> {
        let spent: Option<(Option<String>, Option<String>, i64, i64)> = on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query_as(
                "UPDATE saml_requests SET spent_at = $1
                 WHERE request_id = $2 AND tenant = $3 AND connection_id = $4
                   AND spent_at IS NULL AND expires_at > $1
                   AND ((relay_token IS NULL AND CAST($5 AS TEXT) IS NULL) OR relay_token = $5)
                 RETURNING relay_state, binding, force_authn, created_at",
            )
            .bind(now.as_secs()).bind(request_id).bind(tenant.as_str()).bind(connection.as_str())
            .bind(relay_token)
            .fetch_optional(pool).await
        }).await?);
        if let Some((relay_state, binding, forced, created_at)) = spent {
            return Ok(SpentRequest {
                relay_state,
                binding,
                forced_since: (forced != 0).then(|| UnixTime::from_secs(created_at)),
            });
        }
        // Why, for the log: the row as it is now.
        let row: Option<(Option<i64>, i64, Option<String>)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT spent_at, expires_at, relay_token FROM saml_requests
                 WHERE request_id = $1 AND tenant = $2 AND connection_id = $3",
            )
            .bind(request_id).bind(tenant.as_str()).bind(connection.as_str())
            .fetch_optional(pool).await?
        });
        let reason = match row {
            None => RequestRefusal::Unknown,
            Some((Some(_), _, _)) => RequestRefusal::Spent,
            Some((None, expires_at, _)) if expires_at <= now.as_secs() => RequestRefusal::Expired,
            Some(_) => RequestRefusal::RelayStateMismatch,
        };
        Err(SamlError::RequestRefused(reason))
    }

    /// Remember an accepted assertion's `ID` until `expires_at` (the last moment it could be accepted:
    /// its `NotOnOrAfter` plus any clock-skew allowance). `true` when it was new; `false` when it was
    /// already remembered: a replay. Call it after checking the assertion's validity window with the
    /// same `now` (an expired row may already be pruned).
    ///
    /// # Errors
    /// The database.
    pub async fn remember_assertion(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        assertion_id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, SamlError> {
        let inserted = on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                sqlx::query(
                    "DELETE FROM saml_seen_assertions WHERE (tenant, connection_id, assertion_id) IN
                        (SELECT tenant, connection_id, assertion_id FROM saml_seen_assertions WHERE expires_at < $1 LIMIT $2)",
                )
                .bind(now.as_secs()).bind(PRUNE_BATCH)
                .execute(pool).await.map(|_| ())
            }).await?;
            retry::transaction(|| async move {
                sqlx::query(
                    "INSERT INTO saml_seen_assertions (tenant, connection_id, assertion_id, expires_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant, connection_id, assertion_id) DO NOTHING",
                )
                .bind(tenant.as_str()).bind(connection.as_str()).bind(assertion_id).bind(expires_at.as_secs())
                .execute(pool).await.map(|done| done.rows_affected())
            }).await?
        });
        Ok(inserted == 1)
    }
}
