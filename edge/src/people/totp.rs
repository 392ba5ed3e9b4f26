//! TOTP at the edge: enrolment (`POST /v1/totp/enroll`, `/v1/totp/confirm`) and step-up
//! (`POST /v1/totp/verify`). The origin keeps the sealed secret, the replay guard and the failure budget;
//! this shell reads the code, words the refusals for a person, records the audit event and mints the
//! stepped-up access token.

use serde_json::json;
use tessera_authn::totp::{otpauth_uri, TotpParams, TotpSecret};
use tessera_proto::audit::kinds;
use tessera_proto::passkeys::{TotpCodeRequest, TotpEnrollment};
use tessera_proto::Code;
use worker::{Context, Env, Request, Response};

use super::sessions::{
    mint, no_store, record_user, refused_user, require_user, sign_in_again, Recipient, SignedIn,
};
use crate::config::Config;
use crate::error::ApiError;
use crate::http;
use crate::origin::accounts as origin_api;

/// The largest body `/v1/totp/confirm` and `/v1/totp/verify` read (`{"code": "123456"}`).
const MAX_CODE_BODY: usize = 1024;

async fn code_body(req: &mut Request) -> Result<String, ApiError> {
    let body = http::read_body(req, MAX_CODE_BODY).await?;
    let parsed: TotpCodeRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            format!("body must be {{\"code\": \"123456\"}}: {e}"),
        )
    })?;
    Ok(parsed.code.trim().replace(' ', ""))
}

/// The words a person sees for a refused code.
fn totp_refused(e: ApiError) -> ApiError {
    let message = match e.code {
        Code::TotpMalformed => "enter the 6 digits your authenticator app shows",
        Code::TotpMismatch => {
            "that code is not right; check your device's clock and try the current code"
        }
        Code::TotpReplayed => "that code was already used; wait for the next one",
        Code::TotpLocked => "too many wrong codes; wait a while before trying again",
        Code::TotpNotEnrolled => "set up an authenticator app first",
        Code::TotpAlreadyEnrolled => "an authenticator app is already set up",
        _ => return e,
    };
    ApiError {
        external_message: message.into(),
        ..e
    }
}

/// `POST /v1/totp/enroll` (signed in): a new secret, its `otpauth://` URI and a QR code of it.
///
/// # Errors
/// `401`, `409 totp_already_enrolled`, or the origin.
pub async fn totp_enroll(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = require_user(&req, env, cfg).await?;
    // No body is expected; one is still read only up to the bound.
    http::read_body(&mut req, MAX_CODE_BODY).await?;
    let secret_text = origin_api::enroll_totp(env, cfg, &who.tenant, &who.user_id)
        .await
        .map_err(totp_refused)
        .map_err(|e| refused_user(ctx, env, cfg, &who, kinds::TOTP_ENROLLED, e))?;
    let secret = TotpSecret::from_base32(&secret_text)
        .map_err(|e| ApiError::internal(format!("origin sent a bad TOTP secret: {e}")))?;
    let user = origin_api::user(env, cfg, &who.tenant, &who.user_id).await?;
    let uri = otpauth_uri(
        &secret,
        &TotpParams::default(),
        &cfg.login.rp_name,
        &user.user.username,
    );
    let qr_svg = crate::people::qr::svg(uri.as_str())
        .ok_or_else(|| ApiError::internal("the otpauth URI does not fit a QR code"))?;
    no_store(Response::from_json(&TotpEnrollment {
        secret: secret.to_base32().to_string(),
        otpauth_uri: uri.to_string(),
        qr_svg,
    })?)
}

/// `POST /v1/totp/confirm` (signed in): the first code from the app confirms the enrolment, and counts
/// as this session's step-up (a second code right after setup would only be the same proof again):
/// answers `enrolled` with a new access token whose `amr` includes `otp`, as `/v1/totp/verify` does.
///
/// # Errors
/// `400` with a TOTP code, `401`.
pub async fn totp_confirm(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = require_user(&req, env, cfg).await?;
    let code = code_body(&mut req).await?;
    origin_api::verify_totp(env, cfg, &who.tenant, &who.user_id, &code, true)
        .await
        .map_err(totp_refused)
        .map_err(|e| refused_user(ctx, env, cfg, &who, kinds::TOTP_ENROLLED, e))?;
    record_user(
        ctx,
        env,
        cfg,
        &who.tenant,
        &who.user_id,
        kinds::TOTP_ENROLLED,
        json!({ "sid": who.sid }),
    );
    let (access_token, expires_in) = stepped_up(env, ctx, cfg, &who).await?;
    no_store(Response::from_json(&json!({
        "enrolled": true,
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }))?)
}

/// `POST /v1/totp/verify` (signed in): step up; answers a new token pair whose `amr` includes `otp`.
///
/// # Errors
/// `400` with a TOTP code, `401`.
pub async fn totp_verify(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = require_user(&req, env, cfg).await?;
    let code = code_body(&mut req).await?;
    origin_api::verify_totp(env, cfg, &who.tenant, &who.user_id, &code, false)
        .await
        .map_err(totp_refused)
        .map_err(|e| refused_user(ctx, env, cfg, &who, kinds::TOTP_STEP_UP, e))?;
    let (access_token, expires_in) = stepped_up(env, ctx, cfg, &who).await?;
    record_user(
        ctx,
        env,
        cfg,
        &who.tenant,
        &who.user_id,
        kinds::TOTP_STEP_UP,
        json!({ "sid": who.sid }),
    );
    no_store(Response::from_json(&json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }))?)
}

/// After a good code: `otp` added to the session's `amr`, and a new access token that says so.
async fn stepped_up(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    who: &SignedIn,
) -> Result<(String, u32), ApiError> {
    // The code adds a factor, not a kind of sign-in: the session keeps its `acr` (a passkey's `phr`, a
    // federated sign-in's own), so a federated session never becomes "phishing-resistant" by a code.
    let current = origin_api::session(env, cfg, &who.tenant, &who.sid)
        .await?
        .ok_or_else(|| sign_in_again("your session has ended; sign in again"))?;
    let session = origin_api::step_up(env, cfg, &who.tenant, &who.sid, "otp", &current.acr).await?;
    // The step-up keeps the session's refresh token family; the new access token carries the new `amr`.
    mint(env, ctx, cfg, &who.tenant, &session, Recipient::login(cfg)).await
}
