//! The origin's accounts API as the edge calls it (service credential): users, passkeys, TOTP, recovery
//! codes, sessions, company sign-in hand-offs, token roles and branding. The OAuth grants are in
//! `super::grants`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_proto::accounts::{
    CounterRequest, Done, HandoffAnswer, HandoffRequest, NewSessionRequest, PasskeyName,
    PasskeyWithUser, RecoveryCodesAnswer, RecoveryRedeemAnswer, RecoveryRedeemRequest,
    RefreshRequest, Revoked, SessionAnswer, SessionList, SignUpRequest, StepUpRequest,
    TotpCheckRequest, TotpSecretAnswer, User, UserAnswer,
};
use tessera_proto::authz::TokenRoles;
use tessera_proto::saml::{ConnectionList, DomainConnection};
use tessera_proto::Code;
use worker::{Env, Method};

use crate::config::Config;
use crate::error::{stable_code, ApiError};
use crate::origin::client::{self as origin_client, Reply};

pub use tessera_proto::accounts::{
    NewUser, Passkey, Session, SessionWithRefresh, UserWithPasskeys,
};

/// Usernames as the origin accepts them (`tessera_proto::Username`, checked here too for a quick answer).
///
/// # Errors
/// `400 invalid_username`.
pub fn valid_username(name: &str) -> Result<(), ApiError> {
    name.parse::<tessera_proto::Username>()
        .map(|_| ())
        .map_err(|e| ApiError::new(400, Code::InvalidUsername, e.message))
}

/// Path segments are base64url or usernames; usernames are percent-encoded.
pub(super) fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Call the origin's accounts API; `Ok(None)` for 404 when `none_on_404`.
async fn call<T: DeserializeOwned>(
    env: &Env,
    cfg: &Config,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
    none_on_404: bool,
) -> Result<Option<T>, ApiError> {
    const SAY: &str = "sign-in is unavailable right now; try again shortly";
    match origin_client::call(env, cfg, method, path, body).await {
        Ok(Reply::Answer(t)) => Ok(Some(t)),
        Ok(Reply::Refused(r)) if r.status == 404 && none_on_404 => Ok(None),
        Ok(Reply::Refused(r)) if matches!(r.status, 400 | 404 | 409) => Err(ApiError::new(
            r.status,
            accounts_code(&r.body.error),
            r.body.message,
        )),
        Ok(Reply::Refused(r))
            if r.status == 429
                && matches!(r.body.code(), Some(Code::TotpLocked | Code::RecoveryLocked)) =>
        {
            Err(ApiError {
                retry_after: Some(r.retry_after.unwrap_or(60)),
                ..ApiError::new(429, accounts_code(&r.body.error), r.body.message)
            })
        }
        Ok(Reply::Refused(r)) => Err(ApiError::unavailable(
            Code::OriginUnavailable,
            SAY,
            format!("{path}: the origin answered {} {}", r.status, r.body.error),
        )),
        Err(e) => Err(e.into_api(Code::OriginUnavailable, SAY)),
    }
}

/// The origin's account codes the edge passes on (any other refusal: [`stable_code`]).
fn accounts_code(code: &str) -> Code {
    match code.parse() {
        Ok(
            code @ (Code::UsernameTaken
            | Code::UsernameReserved
            | Code::CredentialExists
            | Code::UnknownUser
            | Code::InvalidUsername
            | Code::TotpAlreadyEnrolled
            | Code::TotpNotEnrolled
            | Code::TotpMalformed
            | Code::TotpMismatch
            | Code::TotpReplayed
            | Code::TotpLocked
            | Code::LastPasskey
            | Code::UnknownCredential
            | Code::RecoveryMalformed
            | Code::RecoveryInvalid
            | Code::RecoveryLocked
            | Code::RefreshInvalid
            | Code::RefreshReused
            | Code::SessionInactive
            | Code::CounterConflict
            | Code::UnknownSession
            | Code::HandoffInvalid
            | Code::InvalidGrant
            | Code::InvalidScope),
        ) => code,
        _ => stable_code(code),
    }
}

pub(super) fn base(tenant: &str) -> String {
    format!("/internal/v1/tenants/{tenant}")
}

/// `POST` to the origin and read the answer (which must be there).
pub(super) async fn post<T: DeserializeOwned>(
    env: &Env,
    cfg: &Config,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T, ApiError> {
    call(env, cfg, Method::Post, path, body, false)
        .await?
        .ok_or_else(|| ApiError::internal("origin answered nothing"))
}

/// `GET` from the origin; `None` for 404.
pub(super) async fn get<T: DeserializeOwned>(
    env: &Env,
    cfg: &Config,
    path: &str,
) -> Result<Option<T>, ApiError> {
    call(env, cfg, Method::Get, path, None::<&Done>, true).await
}

pub async fn user(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
) -> Result<UserWithPasskeys, ApiError> {
    get(env, cfg, &format!("{}/users/{user_id}", base(tenant)))
        .await?
        .ok_or_else(|| ApiError::new(404, Code::UnknownUser, "no such user"))
}

pub async fn sign_up(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user: NewUser,
    passkey: Passkey,
) -> Result<(), ApiError> {
    let body = SignUpRequest { user, passkey };
    post::<UserAnswer>(env, cfg, &format!("{}/signup", base(tenant)), Some(&body))
        .await
        .map(|_| ())
}

pub async fn add_passkey(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    passkey: &Passkey,
) -> Result<(), ApiError> {
    let path = format!("{}/users/{}/passkeys", base(tenant), passkey.user_id);
    post::<Done>(env, cfg, &path, Some(passkey))
        .await
        .map(|_| ())
}

pub async fn passkey(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    credential_id: &str,
) -> Result<Option<(Passkey, User)>, ApiError> {
    if credential_id.is_empty() || credential_id.len() > 1400 {
        return Ok(None);
    }
    Ok(get::<PasskeyWithUser>(
        env,
        cfg,
        &format!("{}/passkeys/{credential_id}", base(tenant)),
    )
    .await?
    .map(|f| (f.passkey, f.user)))
}

/// Move the counter by compare-and-set; `false` when it moved under us.
pub async fn advance_counter(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    credential_id: &str,
    from: u32,
    to: u32,
    backed_up: bool,
) -> Result<bool, ApiError> {
    let body = CounterRequest {
        from,
        to,
        backed_up,
    };
    match post::<Done>(
        env,
        cfg,
        &format!("{}/passkeys/{credential_id}/counter", base(tenant)),
        Some(&body),
    )
    .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.code == Code::CounterConflict => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn enroll_totp(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
) -> Result<String, ApiError> {
    Ok(post::<TotpSecretAnswer>(
        env,
        cfg,
        &format!("{}/users/{user_id}/totp", base(tenant)),
        None::<&Done>,
    )
    .await?
    .secret)
}

pub async fn verify_totp(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    code: &str,
    confirm: bool,
) -> Result<(), ApiError> {
    let body = TotpCheckRequest {
        code: code.to_owned(),
        confirm,
    };
    post::<Done>(
        env,
        cfg,
        &format!("{}/users/{user_id}/totp/verify", base(tenant)),
        Some(&body),
    )
    .await
    .map(|_| ())
}

/// A new set of recovery codes for `user_id` (the earlier set stops working), as shown: once.
///
/// # Errors
/// `404 unknown_user`, or the origin.
pub async fn issue_recovery_codes(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
) -> Result<Vec<String>, ApiError> {
    Ok(post::<RecoveryCodesAnswer>(
        env,
        cfg,
        &format!("{}/users/{user_id}/recovery-codes", base(tenant)),
        None::<&Done>,
    )
    .await?
    .codes)
}

/// Spend a typed recovery code of the person named `username`: the recovery session it opened, and how
/// many codes are left.
///
/// # Errors
/// `400 recovery_malformed`, `400 recovery_invalid` (also for an unknown person), `429 recovery_locked`,
/// or the origin.
pub async fn redeem_recovery_code(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    username: &str,
    code: &str,
) -> Result<RecoveryRedeemAnswer, ApiError> {
    let body = RecoveryRedeemRequest {
        username: username.to_owned(),
        code: code.to_owned(),
        device: cfg.device.clone(),
    };
    post(
        env,
        cfg,
        &format!("{}/recovery/redeem", base(tenant)),
        Some(&body),
    )
    .await
}

pub async fn create_session(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    amr: &[&str],
    acr: &str,
) -> Result<SessionWithRefresh, ApiError> {
    let body = NewSessionRequest {
        user_id: user_id.to_owned(),
        amr: amr.iter().map(|m| (*m).to_owned()).collect(),
        acr: acr.to_owned(),
        device: cfg.device.clone(),
    };
    post(env, cfg, &format!("{}/sessions", base(tenant)), Some(&body)).await
}

/// Spends a hand-off code from a federated sign-in: the session it opened, its refresh token and the
/// relay state.
///
/// # Errors
/// `400 handoff_invalid` (unknown, spent or expired), or the origin.
pub async fn exchange_handoff(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    code: &str,
    verifier: Option<String>,
) -> Result<HandoffAnswer, ApiError> {
    let body = HandoffRequest {
        code: code.to_owned(),
        verifier,
        device: cfg.device.clone(),
    };
    post(
        env,
        cfg,
        &format!("{}/sso/exchange", base(tenant)),
        Some(&body),
    )
    .await
}

/// Where people of an email domain sign in with their company (a SAML connection), if anywhere.
///
/// # Errors
/// The origin.
pub async fn sso_for_domain(
    env: &Env,
    cfg: &Config,
    domain: &str,
) -> Result<Option<DomainConnection>, ApiError> {
    call::<DomainConnection>(
        env,
        cfg,
        Method::Get,
        &format!("/internal/v1/saml/domains/{}", segment(domain)),
        None::<&()>,
        true,
    )
    .await
}

/// The tenant's SAML connections (for the login page's "Sign in with ..." buttons).
///
/// # Errors
/// The origin.
pub async fn sso_connections(
    env: &Env,
    cfg: &Config,
    tenant: &str,
) -> Result<Vec<tessera_proto::saml::Connection>, ApiError> {
    let list: ConnectionList = get(env, cfg, &format!("/v1/tenants/{tenant}/saml/connections"))
        .await?
        .ok_or_else(|| ApiError::internal("origin answered nothing"))?;
    Ok(list.connections)
}

/// Spend a refresh token; `client_id` is the client presenting it (`None`: the login page).
pub async fn refresh(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    refresh_token: &str,
    client_id: Option<&str>,
    scope: Option<&str>,
) -> Result<SessionWithRefresh, ApiError> {
    let body = RefreshRequest {
        refresh_token: refresh_token.to_owned(),
        client_id: client_id.map(str::to_owned),
        scope: scope.map(str::to_owned),
    };
    post(
        env,
        cfg,
        &format!("{}/sessions/refresh", base(tenant)),
        Some(&body),
    )
    .await
}

pub async fn session(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    sid: &str,
) -> Result<Option<Session>, ApiError> {
    Ok(get::<SessionAnswer>(
        env,
        cfg,
        &format!("{}/sessions/{}", base(tenant), segment(sid)),
    )
    .await?
    .map(|f| f.session))
}

pub async fn step_up(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    sid: &str,
    method: &str,
    acr: &str,
) -> Result<Session, ApiError> {
    let body = StepUpRequest {
        method: method.to_owned(),
        acr: acr.to_owned(),
    };
    Ok(post::<SessionAnswer>(
        env,
        cfg,
        &format!("{}/sessions/{}/step-up", base(tenant), segment(sid)),
        Some(&body),
    )
    .await?
    .session)
}

pub async fn revoke_session(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    sid: &str,
) -> Result<u64, ApiError> {
    Ok(post::<Revoked>(
        env,
        cfg,
        &format!("{}/sessions/{}/revoke", base(tenant), segment(sid)),
        None::<&Done>,
    )
    .await?
    .revoked)
}

/// Rename `user_id`'s passkey.
///
/// # Errors
/// `404 unknown_credential` (also another user's), `400 invalid_request` (the name), or the origin.
pub async fn rename_passkey(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    credential_id: &str,
    name: &str,
) -> Result<(), ApiError> {
    post::<Done>(
        env,
        cfg,
        &format!(
            "{}/users/{user_id}/passkeys/{}/name",
            base(tenant),
            segment(credential_id)
        ),
        Some(&PasskeyName {
            name: name.to_owned(),
        }),
    )
    .await
    .map(|_| ())
}

/// Remove `user_id`'s passkey, unless it is their last.
///
/// # Errors
/// `409 last_passkey`, `404 unknown_credential`, or the origin.
pub async fn remove_passkey(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    credential_id: &str,
) -> Result<(), ApiError> {
    post::<Done>(
        env,
        cfg,
        &format!(
            "{}/users/{user_id}/passkeys/{}/remove",
            base(tenant),
            segment(credential_id)
        ),
        None::<&Done>,
    )
    .await
    .map(|_| ())
}

/// `user_id`'s live sessions, newest first.
///
/// # Errors
/// The origin.
pub async fn live_sessions(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
) -> Result<Vec<Session>, ApiError> {
    Ok(get::<SessionList>(
        env,
        cfg,
        &format!("{}/users/{user_id}/sessions", base(tenant)),
    )
    .await?
    .map(|l| l.sessions)
    .unwrap_or_default())
}

pub async fn revoke_user_sessions(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
) -> Result<u64, ApiError> {
    Ok(post::<Revoked>(
        env,
        cfg,
        &format!("{}/users/{user_id}/sessions/revoke", base(tenant)),
        None::<&Done>,
    )
    .await?
    .revoked)
}

/// The tenant's token roles (`GET /v1/tenants/{t}/token-roles`).
pub async fn token_roles(env: &Env, cfg: &Config, tenant: &str) -> Result<Vec<String>, ApiError> {
    Ok(
        get::<TokenRoles>(env, cfg, &format!("/v1/tenants/{tenant}/token-roles"))
            .await?
            .map(|r| r.roles)
            .unwrap_or_default(),
    )
}

/// The tenant's login-page branding (empty when none was set).
///
/// # Errors
/// The origin.
pub async fn branding(
    env: &Env,
    cfg: &Config,
    tenant: &str,
) -> Result<tessera_proto::branding::Branding, ApiError> {
    Ok(get::<tessera_proto::branding::Branding>(
        env,
        cfg,
        &format!("/v1/tenants/{tenant}/branding"),
    )
    .await?
    .unwrap_or_default())
}
