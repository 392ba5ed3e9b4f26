//! The account as its owner sees and keeps it.
//!
//! `GET /v1/account` (signed in): who they are, their passkeys (name, when made, when last used, whether
//! synced), whether an authenticator app is set up, how many recovery codes are left, whether this is a
//! recovery session, and where they are signed in — so that the login page offers only the controls that
//! apply. `POST /v1/passkeys/rename`, `POST /v1/passkeys/remove` (recently signed in; never the last
//! one) and `POST /v1/sessions/revoke` (sign out one session, named by the handle the account gave) change
//! it; each is recorded in the audit trail.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tessera_proto::accounts::RECOVERY_ACR;
use tessera_proto::audit::kinds;
use tessera_proto::Code;
use worker::{Context, Env, Request, Response};

use super::sessions::{
    no_store, record_user, refused_user, require_recent_authentication, require_signed_in,
    require_user, SignedIn,
};
use crate::checks::session_liveness;
use crate::config::Config;
use crate::error::ApiError;
use crate::http;
use crate::origin::accounts as origin_api;

/// One passkey as its owner sees it (no key material, no counter).
#[derive(Serialize)]
struct PasskeySummary {
    /// The credential ID (base64url), as the browser knows it.
    id: String,
    /// What its owner calls it (at first the browser and system it was made on; empty: not known).
    name: String,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds; absent until first used to sign in.
    last_used_at: Option<i64>,
    /// Synced by its provider to the person's other devices (the backup-state flag).
    synced: bool,
}

#[derive(Serialize)]
struct Account {
    username: String,
    display_name: String,
    /// Unix seconds.
    created_at: i64,
    /// Newest first.
    passkeys: Vec<PasskeySummary>,
    /// Whether an authenticator app is set up (confirmed).
    totp: bool,
    /// Recovery codes not yet used.
    recovery_codes: u32,
    /// Signed in with a recovery code: a passkey must be added before anything else.
    recovering: bool,
    /// Where the person is signed in, newest first.
    sessions: Vec<SessionSummary>,
}

/// One live session as its owner sees it.
#[derive(Serialize)]
struct SessionSummary {
    /// A handle for `POST /v1/sessions/revoke` (not the session id, which tokens carry).
    id: String,
    /// "Chrome on macOS"; empty: not known.
    device: String,
    /// How it was opened: `passkey`, `company` (a federated sign-in) or `recovery`.
    method: &'static str,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds: the last refresh or step-up; absent when not used since it was opened.
    last_seen_at: Option<i64>,
    /// The session this request came with.
    current: bool,
    /// An application's session (its client ID); absent for the login page's own.
    app: Option<String>,
}

/// The handle of session `sid` on the account page: a digest, so that the page never holds other
/// sessions' ids.
fn handle(sid: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"tessera-session-handle\0")
        .chain_update(sid.as_bytes())
        .finalize();
    tessera_jose::b64::encode(&digest)
}

fn summary(s: origin_api::Session, who: &SignedIn) -> SessionSummary {
    let method = if s.acr == RECOVERY_ACR {
        "recovery"
    } else if s.amr.iter().any(|m| m == "hwk") {
        "passkey"
    } else {
        "company"
    };
    SessionSummary {
        id: handle(&s.sid),
        current: s.sid == who.sid,
        device: s.device,
        method,
        created_at: s.created_at,
        last_seen_at: s.last_seen_at,
        app: s.client_id,
    }
}

/// # Errors
/// `401` without a live session, or the origin.
pub async fn account(req: Request, env: &Env, cfg: &Config) -> Result<Response, ApiError> {
    let who = require_signed_in(&req, env, cfg).await?;
    let found = origin_api::user(env, cfg, &who.tenant, &who.user_id).await?;
    let mut passkeys: Vec<PasskeySummary> = found
        .passkeys
        .into_iter()
        .map(|p| PasskeySummary {
            id: p.credential_id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
            synced: p.backed_up,
        })
        .collect();
    let sessions = origin_api::live_sessions(env, cfg, &who.tenant, &who.user_id)
        .await?
        .into_iter()
        .map(|s| summary(s, &who))
        .collect();
    passkeys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    no_store(Response::from_json(&Account {
        username: found.user.username,
        display_name: found.user.display_name,
        created_at: found.user.created_at,
        passkeys,
        totp: found.totp,
        recovery_codes: found.recovery_codes,
        recovering: who.recovering,
        sessions,
    })?)
}

/// The largest body the account's changes read.
const MAX_BODY: usize = 1024;

async fn body<T: serde::de::DeserializeOwned>(
    req: &mut Request,
    shape: &str,
) -> Result<T, ApiError> {
    let bytes = http::read_body(req, MAX_BODY).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            format!("body must be {shape}: {e}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    id: String,
}

/// The words a person sees when the origin refuses a change to one of their passkeys.
fn passkey_refused(e: ApiError) -> ApiError {
    let message = match e.code {
        Code::InvalidRequest => "a passkey's name is 1 to 64 characters",
        Code::UnknownCredential => "that passkey is not on your account",
        Code::LastPasskey => "this is your only passkey; add another before removing it",
        _ => return e,
    };
    ApiError {
        external_message: message.into(),
        ..e
    }
}

/// `POST /v1/passkeys/rename` (signed in) with `{id, name}`.
///
/// # Errors
/// `400 invalid_request` (a name that is empty, over 64 characters or holds control characters),
/// `404 unknown_credential` (also another person's), `401`, or the origin.
pub async fn rename_passkey(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = require_user(&req, env, cfg).await?;
    let asked: Rename = body(&mut req, r#"{"id": "...", "name": "..."}"#).await?;
    origin_api::rename_passkey(env, cfg, &who.tenant, &who.user_id, &asked.id, &asked.name)
        .await
        .map_err(passkey_refused)?;
    record_user(
        ctx,
        env,
        cfg,
        &who.tenant,
        &who.user_id,
        kinds::PASSKEY_RENAMED,
        json!({ "credential_id": asked.id }),
    );
    no_store(Response::from_json(&json!({ "renamed": true }))?)
}

/// `POST /v1/passkeys/remove` (signed in within the re-authentication window) with `{id}`: never the
/// account's last passkey.
///
/// # Errors
/// `409 last_passkey`, `404 unknown_credential`, `401 reauthentication_required`, `401`, or the origin.
pub async fn remove_passkey(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = require_user(&req, env, cfg).await?;
    let asked: Named = body(&mut req, r#"{"id": "..."}"#).await?;
    let refuse = |e: ApiError| refused_user(ctx, env, cfg, &who, kinds::PASSKEY_REMOVED, e);
    require_recent_authentication(&who, cfg).map_err(refuse)?;
    origin_api::remove_passkey(env, cfg, &who.tenant, &who.user_id, &asked.id)
        .await
        .map_err(passkey_refused)
        .map_err(refuse)?;
    record_user(
        ctx,
        env,
        cfg,
        &who.tenant,
        &who.user_id,
        kinds::PASSKEY_REMOVED,
        json!({ "credential_id": asked.id }),
    );
    no_store(Response::from_json(&json!({ "removed": true }))?)
}

/// `POST /v1/sessions/revoke` (signed in) with `{id}`, a session handle from `GET /v1/account`: sign out
/// that session (and the applications' sessions it opened). Signing out the current one is a logout.
///
/// # Errors
/// `404 unknown_session` (also another person's), `401`, or the origin.
pub async fn revoke_session(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = require_user(&req, env, cfg).await?;
    let asked: Named = body(&mut req, r#"{"id": "..."}"#).await?;
    let target = origin_api::live_sessions(env, cfg, &who.tenant, &who.user_id)
        .await?
        .into_iter()
        .find(|s| handle(&s.sid) == asked.id)
        .ok_or_else(|| {
            ApiError::new(
                404,
                Code::UnknownSession,
                "that session has already ended, or is not yours",
            )
        })?;
    let revoked = origin_api::revoke_session(env, cfg, &who.tenant, &target.sid).await?;
    session_liveness::forget(|sid, _, _| sid == target.sid);
    let current = target.sid == who.sid;
    record_user(
        ctx,
        env,
        cfg,
        &who.tenant,
        &who.user_id,
        kinds::SESSION_LOGOUT,
        json!({ "sid": target.sid, "by": who.sid, "all": false, "revoked": revoked }),
    );
    let resp = Response::from_json(&json!({ "revoked": revoked, "current": current }))?;
    if current {
        crate::oidc::browser::forget(resp, cfg)
    } else {
        no_store(resp)
    }
}
