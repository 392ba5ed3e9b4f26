//! `GET /v1/account` (signed in): what the login page shows a person about their own account — who they
//! are, their passkeys (when made, when last used, whether synced), and whether an authenticator app is
//! set up, how many recovery codes are left, whether this is a recovery session — so that it offers only
//! the controls that apply.

use serde::Serialize;
use worker::{Env, Request, Response};

use super::sessions::{no_store, require_signed_in};
use crate::config::Config;
use crate::error::ApiError;
use crate::origin::accounts as origin_api;

/// One passkey as its owner sees it (no key material, no counter).
#[derive(Serialize)]
struct PasskeySummary {
    /// The credential ID (base64url), as the browser knows it.
    id: String,
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
            created_at: p.created_at,
            last_used_at: p.last_used_at,
            synced: p.backed_up,
        })
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
    })?)
}
