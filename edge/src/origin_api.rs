//! The origin's accounts API as the edge calls it (service credential): users, passkeys, TOTP, sessions.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_proto::ErrorBody;
use worker::{Env, Fetch, Method, Request, RequestInit};

use crate::config::{secret, Config};
use crate::error::{stable_code, ApiError};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Passkey {
    pub credential_id: String,
    pub user_id: String,
    pub public_key: String,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub aaguid: String,
    #[serde(default)]
    pub transports: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct UserWithPasskeys {
    pub user: UserRecord,
    pub passkeys: Vec<Passkey>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Session {
    pub sid: String,
    pub user_id: String,
    pub amr: Vec<String>,
    pub acr: String,
    pub auth_time: i64,
    pub active: bool,
    #[serde(default)]
    pub revoked_reason: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SessionWithRefresh {
    pub session: Session,
    pub refresh_token: String,
}

/// Usernames as the origin accepts them (checked here too, for a quick clear answer).
///
/// # Errors
/// `400 invalid_username`.
pub fn valid_username(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && !name.chars().any(char::is_control)
        && name.trim() == name;
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "invalid_username",
            "a username is 1 to 64 characters, without spaces at either end",
        ))
    }
}

/// Path segments are base64url or usernames; usernames are percent-encoded.
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Call the origin; `Ok(None)` for 404 when `none_on_404`.
async fn call<T: DeserializeOwned>(
    env: &Env,
    cfg: &Config,
    method: Method,
    path: &str,
    body: Option<&Value>,
    none_on_404: bool,
) -> Result<Option<T>, ApiError> {
    let token = secret(env, "ORIGIN_SERVICE_TOKEN")?;
    let url = format!("{}{path}", cfg.origin_url);
    let mut init = RequestInit::new();
    init.with_method(method.clone());
    if let Some(b) = body {
        init.with_body(Some(wasm_bindgen::JsValue::from_str(&b.to_string())));
    }
    let req = Request::new_with_init(&url, &init)?;
    req.headers().set(
        "authorization",
        &format!("Bearer {}", token.expose_secret()),
    )?;
    req.headers().set("content-type", "application/json")?;
    let unavailable = |detail: String| {
        ApiError::unavailable(
            "origin_unavailable",
            "sign-in is unavailable right now; try again shortly",
            detail,
        )
    };
    let mut resp = Fetch::Request(req)
        .send()
        .await
        .map_err(|e| unavailable(format!("{method} {url}: {e}")))?;
    let status = resp.status_code();
    if status == 404 && none_on_404 {
        return Ok(None);
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let text = resp.text().await.unwrap_or_default();
    if status == 200 {
        return serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ApiError::internal(format!("{method} {url}: bad json: {e}")));
    }
    match (status, serde_json::from_str::<ErrorBody>(&text)) {
        (400 | 404 | 409, Ok(err)) => Err(ApiError::new(
            status,
            accounts_code(&err.error),
            err.message,
        )),
        (429, Ok(err)) => Err(ApiError {
            retry_after: Some(retry_after.unwrap_or(60)),
            ..ApiError::new(429, accounts_code(&err.error), err.message)
        }),
        _ => Err(unavailable(format!(
            "{method} {url} answered {status}: {text}"
        ))),
    }
}

/// The origin's account codes the edge passes on.
fn accounts_code(code: &str) -> &'static str {
    const PASSED_ON: &[&str] = &[
        "username_taken",
        "credential_exists",
        "unknown_user",
        "invalid_username",
        "totp_already_enrolled",
        "totp_not_enrolled",
        "totp_malformed",
        "totp_mismatch",
        "totp_replayed",
        "totp_locked",
        "refresh_invalid",
        "refresh_reused",
        "session_inactive",
        "counter_conflict",
        "unknown_session",
    ];
    PASSED_ON
        .iter()
        .find(|c| **c == code)
        .copied()
        .unwrap_or_else(|| stable_code(code))
}

fn base(tenant: &str) -> String {
    format!("/internal/v1/tenants/{tenant}")
}

/// `POST` to the origin and read the answer (which must be there).
async fn post<T: DeserializeOwned>(
    env: &Env,
    cfg: &Config,
    path: &str,
    body: Option<&Value>,
) -> Result<T, ApiError> {
    call(env, cfg, Method::Post, path, body, false)
        .await?
        .ok_or_else(|| ApiError::internal("origin answered nothing"))
}

/// `GET` from the origin; `None` for 404.
async fn get<T: DeserializeOwned>(
    env: &Env,
    cfg: &Config,
    path: &str,
) -> Result<Option<T>, ApiError> {
    call(env, cfg, Method::Get, path, None, true).await
}

#[derive(Deserialize)]
struct Revoked {
    revoked: u64,
}

#[derive(Deserialize)]
struct OneSession {
    session: Session,
}

pub async fn user_by_name(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    username: &str,
) -> Result<Option<UserWithPasskeys>, ApiError> {
    get(
        env,
        cfg,
        &format!("{}/users/by-name/{}", base(tenant), segment(username)),
    )
    .await
}

pub async fn user(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
) -> Result<UserWithPasskeys, ApiError> {
    get(env, cfg, &format!("{}/users/{user_id}", base(tenant)))
        .await?
        .ok_or_else(|| ApiError::new(404, "unknown_user", "no such user"))
}

pub async fn sign_up(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user: &UserRecord,
    passkey: &Passkey,
) -> Result<(), ApiError> {
    let body = serde_json::json!({ "user": user, "passkey": passkey });
    post::<Value>(env, cfg, &format!("{}/signup", base(tenant)), Some(&body))
        .await
        .map(|_| ())
}

pub async fn add_passkey(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    passkey: &Passkey,
) -> Result<(), ApiError> {
    let body = serde_json::to_value(passkey).map_err(|e| ApiError::internal(e.to_string()))?;
    let path = format!("{}/users/{}/passkeys", base(tenant), passkey.user_id);
    post::<Value>(env, cfg, &path, Some(&body))
        .await
        .map(|_| ())
}

pub async fn passkey(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    credential_id: &str,
) -> Result<Option<(Passkey, UserRecord)>, ApiError> {
    #[derive(Deserialize)]
    struct Found {
        passkey: Passkey,
        user: UserRecord,
    }
    if credential_id.is_empty() || credential_id.len() > 1400 {
        return Ok(None);
    }
    Ok(get::<Found>(
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
    let body = serde_json::json!({ "from": from, "to": to, "backed_up": backed_up });
    match post::<Value>(
        env,
        cfg,
        &format!("{}/passkeys/{credential_id}/counter", base(tenant)),
        Some(&body),
    )
    .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.code == "counter_conflict" => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn enroll_totp(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    struct Secret {
        secret: String,
    }
    Ok(post::<Secret>(
        env,
        cfg,
        &format!("{}/users/{user_id}/totp", base(tenant)),
        None,
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
    let body = serde_json::json!({ "code": code, "confirm": confirm });
    post::<Value>(
        env,
        cfg,
        &format!("{}/users/{user_id}/totp/verify", base(tenant)),
        Some(&body),
    )
    .await
    .map(|_| ())
}

pub async fn create_session(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    amr: &[&str],
    acr: &str,
) -> Result<SessionWithRefresh, ApiError> {
    let body = serde_json::json!({ "user_id": user_id, "amr": amr, "acr": acr });
    post(env, cfg, &format!("{}/sessions", base(tenant)), Some(&body)).await
}

pub async fn refresh(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    refresh_token: &str,
) -> Result<SessionWithRefresh, ApiError> {
    let body = serde_json::json!({ "refresh_token": refresh_token });
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
    Ok(
        get::<OneSession>(env, cfg, &format!("{}/sessions/{sid}", base(tenant)))
            .await?
            .map(|f| f.session),
    )
}

pub async fn step_up(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    sid: &str,
    method: &str,
    acr: &str,
) -> Result<Session, ApiError> {
    let body = serde_json::json!({ "method": method, "acr": acr });
    Ok(post::<OneSession>(
        env,
        cfg,
        &format!("{}/sessions/{sid}/step-up", base(tenant)),
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
        &format!("{}/sessions/{sid}/revoke", base(tenant)),
        None,
    )
    .await?
    .revoked)
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
        None,
    )
    .await?
    .revoked)
}

/// The tenant's token roles (`GET /v1/tenants/{t}/token-roles`).
pub async fn token_roles(env: &Env, cfg: &Config, tenant: &str) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct Roles {
        roles: Vec<String>,
    }
    Ok(
        get::<Roles>(env, cfg, &format!("/v1/tenants/{tenant}/token-roles"))
            .await?
            .map(|r| r.roles)
            .unwrap_or_default(),
    )
}
