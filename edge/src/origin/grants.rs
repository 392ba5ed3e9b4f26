//! The origin's OAuth grant API as the edge calls it (service credential): authorization codes issued
//! and redeemed, refresh tokens revoked, and the consents people gave applications.

use tessera_proto::accounts::Done;
use tessera_proto::oidc::{
    Consent, ConsentList, GrantConsent, IssuedCode, NewCode, RedeemCode, Redeemed,
    RevokeRefreshToken, RevokedGrant,
};
use worker::Env;

use super::accounts::{base, get, post, segment};
use crate::config::Config;
use crate::error::ApiError;

/// A single-use authorization code for `new` (`POST oauth/codes`).
///
/// # Errors
/// `400 session_inactive` when the browser session has ended; the origin.
pub async fn issue_code(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    new: &NewCode,
) -> Result<IssuedCode, ApiError> {
    post(
        env,
        cfg,
        &format!("{}/oauth/codes", base(tenant)),
        Some(new),
    )
    .await
}

/// Spend an authorization code (`POST oauth/codes/redeem`).
///
/// # Errors
/// `400 invalid_grant` (a replay revokes what the code was redeemed for), `400 session_inactive`; the
/// origin.
pub async fn redeem_code(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    redeem: &RedeemCode,
) -> Result<Redeemed, ApiError> {
    post(
        env,
        cfg,
        &format!("{}/oauth/codes/redeem", base(tenant)),
        Some(redeem),
    )
    .await
}

/// RFC 7009 for a refresh token of `client_id`: how many sessions ended.
///
/// # Errors
/// The origin.
pub async fn revoke_refresh_token(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    refresh_token: &str,
    client_id: &str,
) -> Result<u64, ApiError> {
    let body = RevokeRefreshToken {
        refresh_token: refresh_token.to_owned(),
        client_id: client_id.to_owned(),
    };
    Ok(post::<RevokedGrant>(
        env,
        cfg,
        &format!("{}/oauth/refresh-tokens/revoke", base(tenant)),
        Some(&body),
    )
    .await?
    .revoked)
}

/// The consents `user_id` gave.
///
/// # Errors
/// The origin.
pub async fn consents(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
) -> Result<Vec<Consent>, ApiError> {
    Ok(get::<ConsentList>(
        env,
        cfg,
        &format!("{}/users/{user_id}/consents", base(tenant)),
    )
    .await?
    .unwrap_or_default()
    .consents)
}

/// Add `scopes` to what `user_id` granted `client_id`.
///
/// # Errors
/// The origin.
pub async fn grant_consent(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    client_id: &str,
    scopes: Vec<String>,
) -> Result<Consent, ApiError> {
    post(
        env,
        cfg,
        &format!(
            "{}/users/{user_id}/consents/{}",
            base(tenant),
            segment(client_id)
        ),
        Some(&GrantConsent { scopes }),
    )
    .await
}

/// Withdraw `user_id`'s consent to `client_id`, ending the client's sessions: how many ended.
///
/// # Errors
/// The origin.
pub async fn revoke_consent(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    client_id: &str,
) -> Result<u64, ApiError> {
    Ok(post::<RevokedGrant>(
        env,
        cfg,
        &format!(
            "{}/users/{user_id}/consents/{}/revoke",
            base(tenant),
            segment(client_id)
        ),
        None::<&Done>,
    )
    .await?
    .revoked)
}
