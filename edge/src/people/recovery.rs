//! Account recovery with recovery codes, the way back in for a passwordless person whose passkeys are
//! gone.
//!
//! - Sign-up answers a first set of ten codes beside the tokens (`recovery_codes`), shown once;
//!   `POST /v1/recovery/codes` (signed in, recently) replaces the set and answers the new one.
//! - `POST /v1/recovery/sign-in` with `{username, code}` spends a code at the origin, which opens a
//!   15-minute recovery session in the same step, within the person's failure budget. The answer is an
//!   access token for that session alone: no refresh token, no browser cookie, no token roles. With it
//!   the person can add a passkey (which ends the recovery session and opens a full one), see their
//!   account and sign out; everything else is `403 passkey_required`.
//!
//! Every issue, use and refusal is recorded in the audit trail; the codes themselves never are.

use serde::Deserialize;
use serde_json::json;
use tessera_proto::audit::{kinds, ActorKind};
use tessera_proto::Code;
use worker::{Context, Env, Request, Response};

use super::sessions::{
    mint, no_store, record_user, refused_user, require_recent_authentication, require_user,
    Recipient,
};
use crate::config::Config;
use crate::error::ApiError;
use crate::http;
use crate::origin::accounts as origin_api;

/// The largest body `/v1/recovery/sign-in` reads.
const MAX_BODY: usize = 1024;

/// A new set of recovery codes for `user_id`, recorded in the audit trail.
///
/// # Errors
/// The origin.
pub async fn issue(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
) -> Result<Vec<String>, ApiError> {
    let codes = origin_api::issue_recovery_codes(env, cfg, tenant, user_id).await?;
    record_user(
        ctx,
        env,
        cfg,
        tenant,
        user_id,
        kinds::RECOVERY_CODES_ISSUED,
        json!({ "count": codes.len() }),
    );
    Ok(codes)
}

/// `POST /v1/recovery/codes` (signed in within the re-authentication window): a new set of codes; the
/// earlier set stops working.
///
/// # Errors
/// `401`, `401 reauthentication_required`, `403 passkey_required`, or the origin.
pub async fn new_codes(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = require_user(&req, env, cfg).await?;
    http::read_body(&mut req, MAX_BODY).await?;
    require_recent_authentication(&who, cfg)
        .map_err(|e| refused_user(ctx, env, cfg, &who, kinds::RECOVERY_CODES_ISSUED, e))?;
    let codes = issue(ctx, env, cfg, &who.tenant, &who.user_id).await?;
    no_store(Response::from_json(&json!({ "codes": codes }))?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInRequest {
    username: String,
    code: String,
}

/// The words a person sees for a refused recovery code (the same for an unknown name as for a wrong
/// code).
fn refusal(e: ApiError) -> ApiError {
    let message = match e.code {
        Code::RecoveryMalformed => {
            "enter a recovery code as it is written, ten letters and digits like 7k2pm-x9q4r"
        }
        Code::RecoveryInvalid => {
            "that username and recovery code do not match, or the code was already used"
        }
        Code::RecoveryLocked => "too many wrong codes; wait a while before trying again",
        _ => return e,
    };
    ApiError {
        internal_message: Some(e.external_message),
        external_message: message.into(),
        ..e
    }
}

/// `POST /v1/recovery/sign-in` with `{username, code}`: spend a recovery code and answer an access token
/// for a recovery session (see the module documentation) with `codes_left`.
///
/// # Errors
/// `400 recovery_malformed`, `400 recovery_invalid`, `429 recovery_locked` (with `Retry-After`),
/// `400 invalid_request`, or the origin.
pub async fn sign_in(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let body = http::read_body(&mut req, MAX_BODY).await?;
    let asked: SignInRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            format!("body must be {{\"username\": \"...\", \"code\": \"xxxxx-xxxxx\"}}: {e}"),
        )
    })?;
    let tenant = cfg.login.tenant.clone();
    let username = asked.username.trim();
    let redeemed =
        match origin_api::redeem_recovery_code(env, cfg, &tenant, username, &asked.code).await {
            Ok(r) => r,
            Err(e) => {
                let e = refusal(e);
                if e.status >= 500 {
                    return Err(e);
                }
                let kind = if e.code == Code::RecoveryLocked {
                    kinds::RECOVERY_LOCKED
                } else {
                    kinds::RECOVERY_SIGN_IN
                };
                let mut event = crate::audit::event(
                    &tenant,
                    kind,
                    tessera_proto::audit::Outcome::Failure,
                    crate::audit::actor(ActorKind::Anonymous, ""),
                );
                event.code = e.code.as_str().to_owned();
                event.detail.insert("username".into(), json!(username));
                crate::audit::record(ctx, env, cfg, event);
                return Err(e.audited());
            }
        };
    let session = redeemed.session;
    record_user(
        ctx,
        env,
        cfg,
        &tenant,
        &session.user_id,
        kinds::RECOVERY_SIGN_IN,
        json!({ "sid": session.sid, "codes_left": redeemed.codes_left }),
    );
    crate::log::info(
        "recovery_sign_in",
        &[
            ("tenant", json!(tenant)),
            ("user_id", json!(session.user_id)),
            ("sid", json!(session.sid)),
            ("codes_left", json!(redeemed.codes_left)),
        ],
    );
    // The login page's token for this session alone: no roles (it may only add a passkey), no refresh
    // token, no cookie.
    let to = Recipient {
        roles: false,
        ..Recipient::login(cfg)
    };
    let (access_token, expires_in) = mint(env, ctx, cfg, &tenant, &session, to).await?;
    no_store(Response::from_json(&json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "recovery": true,
        "codes_left": redeemed.codes_left,
    }))?)
}
