//! The accounts API the edge uses (service credential), under `/internal/v1/tenants/{tenant}/`; every body
//! is a type of `tessera_proto::accounts`, the one contract edge and origin both serialise:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST signup` | `{user: {user_id, username, display_name}, passkey}` | `{user}` (409 `username_taken`, `credential_exists`, `username_reserved`: a name in an email domain a SAML connection of the tenant claims) |
//! | `GET users/by-name/{username}` | — | `{user, passkeys}` (404 `unknown_user`) |
//! | `GET users/{user_id}` | — | `{user, passkeys, totp, recovery_codes}` (unspent) |
//! | `POST users/{user_id}/passkeys` | a passkey | `{}` (another device) |
//! | `POST users/{user_id}/passkeys/{credential_id}/name` | `{name}` | `{}` (404 `unknown_credential`, 400 `invalid_request`) |
//! | `POST users/{user_id}/passkeys/{credential_id}/remove` | — | `{}` (409 `last_passkey`, 404 `unknown_credential`) |
//! | `GET users/{user_id}/sessions` | — | `{sessions}`: live ones, newest first (at most 100) |
//! | `GET passkeys/{credential_id}` | — | `{passkey, user}` (404 `unknown_credential`) |
//! | `POST passkeys/{credential_id}/counter` | `{from, to, backed_up}` | `{}` (409 `counter_conflict`) |
//! | `POST users/{user_id}/totp` | — | `{secret}` (base32, once; 409 `totp_already_enrolled`) |
//! | `POST users/{user_id}/totp/verify` | `{code, confirm}` | `{}` (400 `totp_mismatch`, `totp_replayed`, ...; 429 `totp_locked` with `Retry-After`) |
//! | `POST users/{user_id}/recovery-codes` | — | `{codes}` (ten, `xxxxx-xxxxx`, once; the earlier set stops working) |
//! | `POST recovery/redeem` | `{username, code}` | `{session, codes_left}`: the code spent and a 15-minute recovery session (no refresh token) opened together (400 `recovery_malformed`, `recovery_invalid` — also for an unknown user; 429 `recovery_locked` with `Retry-After`) |
//! | `POST sessions` | `{user_id, amr, acr, device?}` | `{session, refresh_token}` |
//! | `POST sessions/refresh` | `{refresh_token}` | `{session, refresh_token}` (400 `refresh_invalid`, `refresh_reused`, `session_inactive`) |
//! | `GET sessions/{sid}` | — | `{session}` |
//! | `POST sessions/{sid}/step-up` | `{method, acr}` | `{session}` |
//! | `POST sessions/{sid}/revoke` | — | `{revoked}` |
//! | `POST users/{user_id}/sessions/revoke` | — | `{revoked}` (log out everywhere) |
//! | `POST sso/exchange` | `{code, verifier?}` | `{session, refresh_token, relay_state}` (400 `handoff_invalid`: unknown, spent or expired) |
//!
//! The authorization-code grant's routes are in `super::oauth_http`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use tessera_proto::accounts::{
    CounterRequest, Done, HandoffAnswer, HandoffRequest, NewSessionRequest, PasskeyName,
    PasskeyWithUser, RecoveryCodesAnswer, RecoveryRedeemAnswer, RecoveryRedeemRequest,
    RefreshRequest, Revoked, SessionAnswer, SessionList, SessionWithRefresh, SignUpRequest,
    StepUpRequest, TotpCheckRequest, TotpSecretAnswer, UserAnswer, UserWithPasskeys,
};
use tessera_proto::Code;

use crate::accounts::{AccountsError, Passkey, User};
use crate::error::HttpError;
use crate::http::extract::{JsonBody, ServiceTenant};
use crate::{now, AppState};

pub fn routes() -> Router<AppState> {
    let t = "/internal/v1/tenants/{tenant}";
    Router::new()
        .route(&format!("{t}/signup"), post(sign_up))
        .route(
            &format!("{t}/users/by-name/{{username}}"),
            get(user_by_name),
        )
        .route(&format!("{t}/users/{{user_id}}"), get(user))
        .route(
            &format!("{t}/users/{{user_id}}/passkeys"),
            post(add_passkey),
        )
        .route(
            &format!("{t}/users/{{user_id}}/passkeys/{{credential_id}}/name"),
            post(rename_passkey),
        )
        .route(
            &format!("{t}/users/{{user_id}}/passkeys/{{credential_id}}/remove"),
            post(remove_passkey),
        )
        .route(
            &format!("{t}/users/{{user_id}}/sessions"),
            get(live_sessions),
        )
        .route(&format!("{t}/passkeys/{{credential_id}}"), get(passkey))
        .route(
            &format!("{t}/passkeys/{{credential_id}}/counter"),
            post(counter),
        )
        .route(&format!("{t}/users/{{user_id}}/totp"), post(enroll_totp))
        .route(
            &format!("{t}/users/{{user_id}}/totp/verify"),
            post(verify_totp),
        )
        .route(
            &format!("{t}/users/{{user_id}}/recovery-codes"),
            post(issue_recovery_codes),
        )
        .route(&format!("{t}/recovery/redeem"), post(redeem_recovery_code))
        .route(&format!("{t}/sessions"), post(create_session))
        .route(&format!("{t}/sso/exchange"), post(exchange_handoff))
        .route(&format!("{t}/sessions/refresh"), post(refresh))
        .route(&format!("{t}/sessions/{{sid}}"), get(session))
        .route(&format!("{t}/sessions/{{sid}}/step-up"), post(step_up))
        .route(&format!("{t}/sessions/{{sid}}/revoke"), post(revoke))
        .route(
            &format!("{t}/users/{{user_id}}/sessions/revoke"),
            post(revoke_all),
        )
}

impl From<AccountsError> for HttpError {
    fn from(e: AccountsError) -> Self {
        let status = match &e {
            AccountsError::UsernameTaken
            | AccountsError::CredentialExists
            | AccountsError::TotpAlreadyEnrolled => StatusCode::CONFLICT,
            AccountsError::UnknownUser | AccountsError::UnknownCredential => StatusCode::NOT_FOUND,
            AccountsError::LastPasskey => StatusCode::CONFLICT,
            AccountsError::TotpNotEnrolled
            | AccountsError::Totp(_)
            | AccountsError::RefreshInvalid
            | AccountsError::RefreshReused
            | AccountsError::SessionInactive
            | AccountsError::HandoffInvalid
            | AccountsError::CodeInvalid(_)
            | AccountsError::CodeReused
            | AccountsError::ScopeNotGranted
            | AccountsError::BadPasskeyName
            | AccountsError::RecoveryMalformed
            | AccountsError::RecoveryInvalid(_) => StatusCode::BAD_REQUEST,
            AccountsError::TotpLocked { retry_after_secs }
            | AccountsError::RecoveryLocked { retry_after_secs } => {
                return HttpError {
                    retry_after: Some(*retry_after_secs),
                    ..HttpError::new(StatusCode::TOO_MANY_REQUESTS, e.code(), e.to_string())
                }
            }
            AccountsError::Sealing(_) | AccountsError::Database(_) => {
                return HttpError::internal(e.to_string())
            }
        };
        HttpError::new(status, e.code(), e.to_string())
    }
}

/// Identifiers that come in paths and bodies: base64url, 1 to 1400 characters (a 1023-byte credential id).
pub(super) fn plausible(id: &str) -> Result<(), HttpError> {
    let ok = !id.is_empty()
        && id.len() <= 1400
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidRequest,
            "identifiers are base64url",
        ))
    }
}

async fn sign_up(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(req): JsonBody<SignUpRequest>,
) -> Result<Json<UserAnswer>, HttpError> {
    plausible(&req.user.user_id)?;
    plausible(&req.passkey.credential_id)?;
    req.user.username.parse::<tessera_proto::Username>()?;
    if req.passkey.user_id != req.user.user_id {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidRequest,
            "the passkey belongs to another user",
        ));
    }
    // A name in an email domain one of the tenant's SAML connections claims belongs to that company's
    // identity provider: those people sign in with their company, and nobody may hold the name before
    // them (see `saml::people`).
    if let Some(domain) = tessera_proto::saml::EmailDomain::of_address(&req.user.username) {
        let claimed = crate::saml::SamlStore::new(state.store.db().clone())
            .by_domain(&domain)
            .await?
            .is_some_and(|(t, _)| t.as_str() == tenant.as_str());
        if claimed {
            return Err(HttpError::new(
                StatusCode::CONFLICT,
                Code::UsernameReserved,
                format!(
                    "people of {} sign in with their company; choose another username",
                    domain.as_str()
                ),
            ));
        }
    }
    let now = now();
    let user = User {
        user_id: req.user.user_id,
        username: req.user.username,
        display_name: req.user.display_name,
        created_at: now.as_secs(),
    };
    state
        .accounts
        .sign_up(&tenant, &user, &req.passkey, now)
        .await?;
    Ok(Json(UserAnswer { user }))
}

async fn with_passkeys(
    state: &AppState,
    tenant: &str,
    user: User,
) -> Result<Json<UserWithPasskeys>, HttpError> {
    let passkeys = state.accounts.passkeys_of(tenant, &user.user_id).await?;
    let totp = state.accounts.totp_enrolled(tenant, &user.user_id).await?;
    let recovery_codes = state
        .accounts
        .recovery_codes_left(tenant, &user.user_id)
        .await?;
    Ok(Json(UserWithPasskeys {
        user,
        passkeys,
        totp,
        recovery_codes,
    }))
}

async fn user_by_name(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, username)): Path<(String, String)>,
) -> Result<Json<UserWithPasskeys>, HttpError> {
    let user = state
        .accounts
        .user_by_name(&tenant, &username)
        .await?
        .ok_or(AccountsError::UnknownUser)?;
    with_passkeys(&state, &tenant, user).await
}

async fn user(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id)): Path<(String, String)>,
) -> Result<Json<UserWithPasskeys>, HttpError> {
    plausible(&user_id)?;
    let user = state
        .accounts
        .user(&tenant, &user_id)
        .await?
        .ok_or(AccountsError::UnknownUser)?;
    with_passkeys(&state, &tenant, user).await
}

async fn add_passkey(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id)): Path<(String, String)>,
    JsonBody(passkey): JsonBody<Passkey>,
) -> Result<Json<Done>, HttpError> {
    plausible(&passkey.credential_id)?;
    if passkey.user_id != user_id {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidRequest,
            "the passkey belongs to another user",
        ));
    }
    state.accounts.add_passkey(&tenant, &passkey, now()).await?;
    Ok(Json(Done {}))
}

async fn passkey(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, credential_id)): Path<(String, String)>,
) -> Result<Json<PasskeyWithUser>, HttpError> {
    plausible(&credential_id)?;
    let unknown = || {
        HttpError::new(
            StatusCode::NOT_FOUND,
            Code::UnknownCredential,
            "no such passkey",
        )
    };
    let passkey = state
        .accounts
        .passkey(&tenant, &credential_id)
        .await?
        .ok_or_else(unknown)?;
    // A deactivated user's passkeys are as unknown as any other: sign-in fails the same way.
    let user = state
        .accounts
        .active_user(&tenant, &passkey.user_id)
        .await?
        .ok_or_else(unknown)?;
    Ok(Json(PasskeyWithUser { passkey, user }))
}

async fn counter(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, credential_id)): Path<(String, String)>,
    JsonBody(req): JsonBody<CounterRequest>,
) -> Result<Json<Done>, HttpError> {
    let moved = state
        .accounts
        .advance_counter(
            &tenant,
            &credential_id,
            req.from,
            req.to,
            req.backed_up,
            now(),
        )
        .await?;
    if moved {
        Ok(Json(Done {}))
    } else {
        Err(HttpError::new(
            StatusCode::CONFLICT,
            Code::CounterConflict,
            "the passkey was used concurrently or its counter moved",
        ))
    }
}

async fn enroll_totp(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id)): Path<(String, String)>,
) -> Result<Json<TotpSecretAnswer>, HttpError> {
    plausible(&user_id)?;
    let secret = state.accounts.enroll_totp(&tenant, &user_id, now()).await?;
    Ok(Json(TotpSecretAnswer {
        secret: secret.as_str().to_owned(),
    }))
}

async fn verify_totp(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id)): Path<(String, String)>,
    JsonBody(req): JsonBody<TotpCheckRequest>,
) -> Result<Json<Done>, HttpError> {
    plausible(&user_id)?;
    state
        .accounts
        .verify_totp(&tenant, &user_id, &req.code, req.confirm, now())
        .await?;
    Ok(Json(Done {}))
}

async fn rename_passkey(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id, credential_id)): Path<(String, String, String)>,
    JsonBody(req): JsonBody<PasskeyName>,
) -> Result<Json<Done>, HttpError> {
    plausible(&user_id)?;
    plausible(&credential_id)?;
    state
        .accounts
        .rename_passkey(&tenant, &user_id, &credential_id, &req.name)
        .await?;
    Ok(Json(Done {}))
}

async fn remove_passkey(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id, credential_id)): Path<(String, String, String)>,
) -> Result<Json<Done>, HttpError> {
    plausible(&user_id)?;
    plausible(&credential_id)?;
    state
        .accounts
        .remove_passkey(&tenant, &user_id, &credential_id)
        .await?;
    Ok(Json(Done {}))
}

async fn live_sessions(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id)): Path<(String, String)>,
) -> Result<Json<SessionList>, HttpError> {
    plausible(&user_id)?;
    let sessions = state
        .accounts
        .live_sessions(&tenant, &user_id, now())
        .await?;
    Ok(Json(SessionList { sessions }))
}

async fn issue_recovery_codes(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id)): Path<(String, String)>,
) -> Result<Json<RecoveryCodesAnswer>, HttpError> {
    plausible(&user_id)?;
    let codes = state
        .accounts
        .issue_recovery_codes(&tenant, &user_id, now())
        .await?;
    Ok(Json(RecoveryCodesAnswer {
        codes: codes.iter().map(|c| c.as_str().to_owned()).collect(),
    }))
}

async fn redeem_recovery_code(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(req): JsonBody<RecoveryRedeemRequest>,
) -> Result<Json<RecoveryRedeemAnswer>, HttpError> {
    // A name no sign-up could have made is nobody's: the answer a wrong code gets.
    if req.username.parse::<tessera_proto::Username>().is_err() {
        tessera_authn::recovery::RecoveryCode::parse(&req.code)
            .map_err(|_| AccountsError::RecoveryMalformed)?;
        return Err(AccountsError::RecoveryInvalid("not a username").into());
    }
    let (session, codes_left) = state
        .accounts
        .redeem_recovery_code(&tenant, &req.username, &req.code, &req.device, now())
        .await?;
    Ok(Json(RecoveryRedeemAnswer {
        session,
        codes_left,
    }))
}

async fn create_session(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(req): JsonBody<NewSessionRequest>,
) -> Result<Json<SessionWithRefresh>, HttpError> {
    plausible(&req.user_id)?;
    if state.accounts.user(&tenant, &req.user_id).await?.is_none() {
        return Err(AccountsError::UnknownUser.into());
    }
    let (session, refresh_token) = state
        .accounts
        .create_session_on(
            &tenant,
            &req.user_id,
            &req.amr,
            &req.acr,
            &req.device,
            now(),
        )
        .await?;
    Ok(Json(SessionWithRefresh {
        session,
        refresh_token,
    }))
}

/// The edge spends a hand-off code from a federated sign-in (see `accounts::handoff`).
async fn exchange_handoff(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(req): JsonBody<HandoffRequest>,
) -> Result<Json<HandoffAnswer>, HttpError> {
    let handed = state
        .accounts
        .spend_handoff_on(
            &tenant,
            &req.code,
            req.verifier.as_deref(),
            &req.device,
            now(),
        )
        .await?;
    Ok(Json(HandoffAnswer {
        session: handed.session,
        refresh_token: handed.refresh_token,
        relay_state: handed.relay_state,
    }))
}

async fn refresh(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> Result<Json<SessionWithRefresh>, HttpError> {
    let (session, refresh_token) = state
        .accounts
        .refresh(
            &tenant,
            &req.refresh_token,
            req.client_id.as_deref(),
            req.scope.as_deref(),
            now(),
        )
        .await?;
    Ok(Json(SessionWithRefresh {
        session,
        refresh_token,
    }))
}

async fn own_session(
    state: &AppState,
    tenant: &str,
    sid: &str,
) -> Result<crate::accounts::Session, HttpError> {
    plausible(sid)?;
    state
        .accounts
        .session(sid, now())
        .await?
        .filter(|s| s.tenant == tenant)
        .ok_or_else(|| {
            HttpError::new(
                StatusCode::NOT_FOUND,
                Code::UnknownSession,
                "no such session",
            )
        })
}

async fn session(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, sid)): Path<(String, String)>,
) -> Result<Json<SessionAnswer>, HttpError> {
    let session = own_session(&state, &tenant, &sid).await?;
    Ok(Json(SessionAnswer { session }))
}

async fn step_up(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, sid)): Path<(String, String)>,
    JsonBody(req): JsonBody<StepUpRequest>,
) -> Result<Json<SessionAnswer>, HttpError> {
    own_session(&state, &tenant, &sid).await?;
    let session = state
        .accounts
        .step_up(&sid, &req.method, &req.acr, now())
        .await?;
    Ok(Json(SessionAnswer { session }))
}

async fn revoke(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, sid)): Path<(String, String)>,
) -> Result<Json<Revoked>, HttpError> {
    own_session(&state, &tenant, &sid).await?;
    let revoked = state.accounts.revoke_session(&sid, "logout", now()).await?;
    Ok(Json(Revoked {
        revoked: u64::from(revoked),
    }))
}

async fn revoke_all(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id)): Path<(String, String)>,
) -> Result<Json<Revoked>, HttpError> {
    plausible(&user_id)?;
    let revoked = state
        .accounts
        .revoke_user_sessions(&tenant, &user_id, now())
        .await?;
    Ok(Json(Revoked { revoked }))
}
