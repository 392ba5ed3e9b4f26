//! The authorization-code grant's API the edge uses (service credential), under
//! `/internal/v1/tenants/{tenant}/`; bodies are `tessera_proto::oidc` types:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST oauth/codes` | `{client_id, redirect_uri, code_challenge?, nonce?, scopes, user_id, sid, acr}` | `{code, expires_in}` (400 `session_inactive`) |
//! | `POST oauth/codes/redeem` | `{code, client_id, redirect_uri, code_verifier}` | `{session, refresh_token?, browser_sid, scopes, nonce?, acr, user}` (400 `invalid_grant`; a code presented again revokes its grant) |
//! | `POST oauth/refresh-tokens/revoke` | `{refresh_token, client_id}` | `{revoked}` |
//! | `GET users/{user_id}/consents` | — | `{consents: [{client_id, scopes, granted_at}]}` |
//! | `POST users/{user_id}/consents/{client_id}` | `{scopes}` | the consent, scopes added |
//! | `POST users/{user_id}/consents/{client_id}/revoke` | — | `{revoked}` (the client's sessions ended) |

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use tessera_proto::oidc::{
    Consent, ConsentList, GrantConsent, IssuedCode, NewCode, RedeemCode, Redeemed,
    RevokeRefreshToken, RevokedGrant,
};

use super::grants::CODE_TTL_SECS;
use super::http::plausible;
use crate::error::HttpError;
use crate::http::extract::{JsonBody, ServiceTenant};
use crate::{now, AppState};

pub fn routes() -> Router<AppState> {
    let t = "/internal/v1/tenants/{tenant}";
    Router::new()
        .route(&format!("{t}/oauth/codes"), post(issue_code))
        .route(&format!("{t}/oauth/codes/redeem"), post(redeem_code))
        .route(
            &format!("{t}/oauth/refresh-tokens/revoke"),
            post(revoke_refresh_token),
        )
        .route(&format!("{t}/users/{{user_id}}/consents"), get(consents))
        .route(
            &format!("{t}/users/{{user_id}}/consents/{{client_id}}"),
            post(grant_consent),
        )
        .route(
            &format!("{t}/users/{{user_id}}/consents/{{client_id}}/revoke"),
            post(revoke_consent),
        )
}

/// Client ids are printable identifiers (`tc_` + base64url here); anything else names no client.
fn plausible_client(id: &str) -> Result<(), HttpError> {
    if !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        Ok(())
    } else {
        Err(HttpError::new(
            axum::http::StatusCode::BAD_REQUEST,
            tessera_proto::Code::InvalidRequest,
            "not a client id",
        ))
    }
}

async fn issue_code(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(req): JsonBody<NewCode>,
) -> Result<Json<IssuedCode>, HttpError> {
    plausible(&req.sid)?;
    plausible(&req.user_id)?;
    plausible_client(&req.client_id)?;
    let code = state.accounts.issue_code(&tenant, &req, now()).await?;
    Ok(Json(IssuedCode {
        code,
        expires_in: u32::try_from(CODE_TTL_SECS).unwrap_or(60),
    }))
}

async fn redeem_code(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(req): JsonBody<RedeemCode>,
) -> Result<Json<Redeemed>, HttpError> {
    plausible_client(&req.client_id)?;
    let redeemed = state
        .accounts
        .redeem_code(
            &tenant,
            &req.code,
            &req.client_id,
            req.redirect_uri.as_deref(),
            req.code_verifier.as_deref(),
            now(),
        )
        .await?;
    Ok(Json(redeemed))
}

async fn revoke_refresh_token(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(req): JsonBody<RevokeRefreshToken>,
) -> Result<Json<RevokedGrant>, HttpError> {
    let revoked = state
        .accounts
        .revoke_refresh_token(&tenant, &req.refresh_token, &req.client_id, now())
        .await?;
    Ok(Json(RevokedGrant { revoked }))
}

async fn consents(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id)): Path<(String, String)>,
) -> Result<Json<ConsentList>, HttpError> {
    plausible(&user_id)?;
    let consents = state.accounts.consents(&tenant, &user_id).await?;
    Ok(Json(ConsentList { consents }))
}

async fn grant_consent(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id, client_id)): Path<(String, String, String)>,
    JsonBody(req): JsonBody<GrantConsent>,
) -> Result<Json<Consent>, HttpError> {
    plausible(&user_id)?;
    plausible_client(&client_id)?;
    let consent = state
        .accounts
        .grant_consent(&tenant, &user_id, &client_id, &req.scopes, now())
        .await?;
    Ok(Json(consent))
}

async fn revoke_consent(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Path((_, user_id, client_id)): Path<(String, String, String)>,
) -> Result<Json<RevokedGrant>, HttpError> {
    plausible(&user_id)?;
    plausible_client(&client_id)?;
    let revoked = state
        .accounts
        .revoke_consent(&tenant, &user_id, &client_id, now())
        .await?;
    Ok(Json(RevokedGrant { revoked }))
}
