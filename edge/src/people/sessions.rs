//! User sessions at the edge: access tokens for signed-in people, single-use refresh tokens, logout
//! (TOTP enrolment and step-up are in `super::totp`).
//!
//! A successful passkey ceremony opens a session at the origin (`sid`, `amr`, `acr`, `auth_time`) and the
//! edge issues an access token carrying them (RFC 9068 with RFC 8176 `amr`; `acr` `phr`, phishing-resistant)
//! plus an opaque refresh token. `POST /oauth2/token` with `grant_type=refresh_token` spends it for a new
//! pair; a spent token presented again revokes the session. A TOTP code (`POST /v1/totp/verify`) steps the
//! session up: the new token's `amr` gains `otp`. Introspection asks the origin about the session, so a
//! revoked session's tokens are inactive at once (signature-only verifiers see them until `exp`, which is
//! why user tokens are short-lived).

use serde_json::json;
use std::cell::RefCell;
use std::collections::HashMap;
use tessera_jose::grant::{user_claims, Issue, SessionFacts};
use tessera_jose::issue_access_token;
use tessera_proto::accounts::RECOVERY_ACR;
use tessera_proto::audit::{kinds, ActorKind, Outcome as AuditOutcome};
use tessera_proto::oauth::TokenResponse;
use tessera_proto::Code;

use worker::{Context, Env, Request, Response};

use crate::checks::session_liveness;
use crate::config::Config;
use crate::error::ApiError;
use crate::origin::accounts::{self as origin_api, Session};
use crate::tokens::keyring;
use crate::tokens::verify::{verify, Outcome};
use crate::{http, log, now, random_bytes};
use core::time::Duration;
use tessera_proto::UnixTime;

/// The `client_id` of tokens issued to people through the login page (a public client).
pub const LOGIN_CLIENT_ID: &str = "tessera-login";
/// `acr` of a passkey sign-in: phishing-resistant.
const ACR_PASSKEY: &str = "phr";

/// A signed-in caller, from a user access token whose session is still active.
pub struct SignedIn {
    pub tenant: String,
    pub user_id: String,
    pub sid: String,
    /// When the session's user last authenticated (unix seconds).
    pub auth_time: i64,
    /// A recovery session (opened with a recovery code): it may only add a passkey, see the account and
    /// sign out.
    pub recovering: bool,
}

/// Record a person's event (`who` acted) in the audit trail.
pub(crate) fn record_user(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    kind: &str,
    detail: serde_json::Value,
) {
    let mut e = crate::audit::event(
        tenant,
        kind,
        AuditOutcome::Success,
        crate::audit::actor(ActorKind::User, user_id),
    );
    e.subject = format!("{}:{user_id}", cfg.checks.user_type);
    if let serde_json::Value::Object(d) = detail {
        e.detail = d;
    }
    crate::audit::record(ctx, env, cfg, e);
}

/// Record a refusal of a signed-in person's request, and mark it recorded.
pub(crate) fn refused_user(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    who: &SignedIn,
    kind: &str,
    err: ApiError,
) -> ApiError {
    let kind = if err.code == Code::TotpLocked {
        kinds::TOTP_LOCKED
    } else {
        kind
    };
    crate::audit::refused_as(
        ctx,
        env,
        cfg,
        &who.tenant,
        kind,
        crate::audit::actor(ActorKind::User, &who.user_id),
        err,
    )
}

/// `401 unauthorized` asking the person to sign in (again).
pub fn sign_in_again(message: &str) -> ApiError {
    ApiError {
        www_authenticate: Some("Bearer realm=\"tessera\""),
        ..ApiError::new(401, Code::Unauthorized, message)
    }
}

/// Sensitive changes (another passkey) need a sign-in within the last `REAUTH_WINDOW` seconds: a stolen
/// or forgotten session alone cannot add a way in.
///
/// # Errors
/// `401 reauthentication_required`.
pub fn require_recent_authentication(who: &SignedIn, cfg: &Config) -> Result<(), ApiError> {
    let age = now().as_secs().saturating_sub(who.auth_time);
    if age <= cfg.login.reauth_window {
        Ok(())
    } else {
        Err(ApiError {
            www_authenticate: Some(
                "Bearer realm=\"tessera\", error=\"insufficient_user_authentication\"",
            ),
            internal_message: Some(format!(
                "session {} authenticated {age} s ago (window {} s)",
                who.sid, cfg.login.reauth_window
            )),
            ..ApiError::new(
                401,
                Code::ReauthenticationRequired,
                "sign in again to add another device",
            )
        })
    }
}

/// `resp` with `Cache-Control: no-store` (tokens are never cached).
pub fn no_store(resp: Response) -> Result<Response, ApiError> {
    let headers = resp.headers().clone();
    headers.set("cache-control", "no-store")?;
    Ok(resp.with_headers(headers))
}

/// How long an isolate keeps a tenant's token-role list (as long as it keeps client records).
const ROLES_TTL: Duration = Duration::from_secs(30);

thread_local! {
    static TENANT_ROLES: RefCell<HashMap<String, (Vec<String>, UnixTime)>> = RefCell::new(HashMap::new());
}

async fn tenant_roles(env: &Env, cfg: &Config, tenant: &str) -> Result<Vec<String>, ApiError> {
    let now = now();
    let cached = TENANT_ROLES.with(|m| {
        m.borrow()
            .get(tenant)
            .filter(|(_, at)| now.since(*at) < ROLES_TTL)
            .map(|(r, _)| r.clone())
    });
    if let Some(roles) = cached {
        return Ok(roles);
    }
    let roles = origin_api::token_roles(env, cfg, tenant).await?;
    TENANT_ROLES.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= 10_000 {
            m.clear();
        }
        m.insert(tenant.to_owned(), (roles.clone(), now));
    });
    Ok(roles)
}

/// Whom a person's access token is for.
pub(crate) struct Recipient<'a> {
    pub audience: &'a str,
    pub client_id: &'a str,
    /// Space-separated granted scopes (a client's); `None` for the login page's tokens.
    pub scope: Option<String>,
    /// Whether the token carries the tenant's token roles the person holds (the login page's and
    /// first-party applications' tokens; a third-party application learns none).
    pub roles: bool,
}

impl<'a> Recipient<'a> {
    /// The login page's own tokens.
    pub(crate) fn login(cfg: &'a Config) -> Self {
        Self {
            audience: &cfg.login.audience,
            client_id: LOGIN_CLIENT_ID,
            scope: None,
            roles: true,
        }
    }
}

/// A signed access token for `session`, for `to`, with the tenant's token roles the user holds, and its
/// lifetime (`USER_TOKEN_TTL`, never above `MAX_TOKEN_TTL`).
pub(crate) async fn mint(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    tenant: &str,
    session: &Session,
    to: Recipient<'_>,
) -> Result<(String, u32), ApiError> {
    let subject = format!("{}:{}", cfg.checks.user_type, session.user_id);
    let roles = if to.roles {
        let named = tenant_roles(env, cfg, tenant).await?;
        crate::checks::decisions::roles_held(env, ctx, cfg, tenant, &named, &subject).await?
    } else {
        None
    };
    let ttl = tessera_jose::issued_ttl(i64::from(cfg.login.token_ttl), &cfg.policy);
    let expires_in = u32::try_from(ttl).map_err(|_| ApiError::internal("ttl out of range"))?;
    let jti = tessera_jose::b64::encode(&random_bytes::<16>()?);
    let mut claims = user_claims(
        Issue {
            issuer: &cfg.issuer,
            now: now(),
            ttl,
            jti: &jti,
        },
        SessionFacts {
            tenant,
            user_id: &session.user_id,
            sid: &session.sid,
            amr: &session.amr,
            acr: &session.acr,
            auth_time: session.auth_time,
        },
        to.audience,
        to.client_id,
        roles,
    );
    claims.scope = to.scope;
    let ring = keyring::current(env, cfg).await?;
    let signer = keyring::active_signer(env, &ring).await?;
    let token = issue_access_token(&signer, &claims).await.map_err(|e| {
        ApiError::unavailable(
            Code::SignerUnavailable,
            "tokens cannot be issued right now",
            e.to_string(),
        )
    })?;
    Ok((token, expires_in))
}

/// The tokens for `session`: an access token and the session's next refresh token.
///
/// # Errors
/// The origin (roles) or the signer.
pub async fn issue_tokens(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    tenant: &str,
    session: &Session,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    let (access_token, expires_in) =
        mint(env, ctx, cfg, tenant, session, Recipient::login(cfg)).await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        scope: None,
        issued_token_type: None,
        refresh_token: Some(refresh_token),
        id_token: None,
    })
}

/// [`issue_tokens`] as a response that no cache keeps, with the fields of `also` beside the tokens.
async fn issue(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    tenant: &str,
    session: &Session,
    refresh_token: String,
    also: serde_json::Map<String, serde_json::Value>,
) -> Result<Response, ApiError> {
    let tokens = issue_tokens(env, ctx, cfg, tenant, session, refresh_token).await?;
    if also.is_empty() {
        return no_store(Response::from_json(&tokens)?);
    }
    let mut answer = match serde_json::to_value(&tokens) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err(ApiError::internal("tokens are not a JSON object")),
    };
    answer.extend(also);
    no_store(Response::from_json(&answer)?)
}

/// Open a session for `user_id` after a passkey ceremony and answer with its tokens, and the fields of
/// `also` beside them.
///
/// # Errors
/// The origin or the signer.
pub async fn open(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    user_verified: bool,
    also: serde_json::Map<String, serde_json::Value>,
) -> Result<Response, ApiError> {
    // RFC 8176: `hwk` proof of a hardware-bound key, `user` a presence test; with user verification the
    // device also checked a PIN or biometric, which makes the sign-in multi-factor.
    let mut amr = vec!["hwk", "user"];
    if user_verified {
        amr.push("mfa");
    }
    let opened = origin_api::create_session(env, cfg, tenant, user_id, &amr, ACR_PASSKEY).await?;
    let session = opened.session.clone();
    let resp = issue(
        env,
        ctx,
        cfg,
        tenant,
        &opened.session,
        opened.refresh_token,
        also,
    )
    .await?;
    crate::oidc::browser::remember(resp, env, cfg, &session)
}

/// `grant_type=refresh_token` at `/oauth2/token` (RFC 6749 §6) for the login client.
///
/// # Errors
/// OAuth `invalid_grant` for an unknown, spent or revoked token.
pub async fn refresh_grant(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    refresh_token: &str,
) -> Result<Response, ApiError> {
    let tenant = cfg.login.tenant.clone();
    match origin_api::refresh(env, cfg, &tenant, refresh_token, None, None).await {
        Ok(next) => {
            record_user(
                ctx,
                env,
                cfg,
                &tenant,
                &next.session.user_id,
                kinds::REFRESH_ROTATED,
                json!({ "sid": next.session.sid }),
            );
            issue(
                env,
                ctx,
                cfg,
                &tenant,
                &next.session,
                next.refresh_token,
                serde_json::Map::new(),
            )
            .await
        }
        Err(e) if e.status == 400 => {
            let mut event = crate::audit::event(
                &tenant,
                if e.code == Code::RefreshReused {
                    kinds::REFRESH_REUSED
                } else {
                    kinds::TOKEN_REFUSED
                },
                AuditOutcome::Failure,
                crate::audit::actor(ActorKind::Anonymous, ""),
            );
            event.code = e.code.as_str().to_owned();
            event.detail.insert("grant".into(), json!("refresh_token"));
            crate::audit::record(ctx, env, cfg, event);
            log::info(
                "refresh_refused",
                &[
                    ("reason", json!(e.code)),
                    ("detail", json!(e.external_message)),
                ],
            );
            let message = if e.code == Code::RefreshReused {
                "this refresh token was already used; the session has been ended, sign in again"
            } else {
                "the refresh token is not valid; sign in again"
            };
            Err(ApiError::oauth(400, Code::InvalidGrant, message).audited())
        }
        Err(e) => Err(e),
    }
}

/// The signed-in user behind a bearer token, if one is presented: a user token of this edge whose
/// session is still active.
///
/// # Errors
/// `401 unauthorized` for a token that is presented but not a valid user token of an active session.
pub async fn optional_user(
    req: &Request,
    env: &Env,
    cfg: &Config,
) -> Result<Option<SignedIn>, ApiError> {
    match signed_in(req, env, cfg).await? {
        Some(who) if who.recovering => Err(passkey_required(&who)),
        who => Ok(who),
    }
}

/// `403 passkey_required`: a recovery session asked for something other than adding a passkey.
fn passkey_required(who: &SignedIn) -> ApiError {
    ApiError {
        internal_message: Some(format!(
            "recovery session {} must add a passkey first",
            who.sid
        )),
        ..ApiError::new(
            403,
            Code::PasskeyRequired,
            "add a new passkey to your account before anything else",
        )
    }
}

/// As [`optional_user`], and a recovery session too (see [`SignedIn::recovering`]): for adding a
/// passkey, the account's own view, and signing out.
///
/// # Errors
/// As [`optional_user`].
pub async fn signed_in(
    req: &Request,
    env: &Env,
    cfg: &Config,
) -> Result<Option<SignedIn>, ApiError> {
    let header = req.headers().get("authorization")?.unwrap_or_default();
    if header.is_empty() {
        return Ok(None);
    }
    let refused = |detail: String| ApiError {
        www_authenticate: Some("Bearer realm=\"tessera\""),
        internal_message: Some(detail),
        ..ApiError::new(401, Code::Unauthorized, "sign in again")
    };
    let token =
        http::credentials(&header, "Bearer").ok_or_else(|| refused("not a bearer token".into()))?;
    let claims = match verify(env, cfg, token, Some(&cfg.login.audience), now()).await? {
        Outcome::Valid(v) => v.into_claims(),
        Outcome::Invalid(e) => {
            return Err(refused(format!("user token refused ({}): {e}", e.code())))
        }
    };
    let text = |n: &str| {
        claims
            .get(n)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let (Some(tenant), Some(user_id), Some(sid)) = (text("tid"), text("sub"), text("sid")) else {
        return Err(refused("not a user token (no sid)".into()));
    };
    // Only the login page's own tokens: an application's token (of the same person, even for the same
    // audience) must never add a passkey, enrol an app, step up or sign the person out.
    if text("client_id").as_deref() != Some(LOGIN_CLIENT_ID) {
        return Err(refused(format!(
            "a token of client {:?}, not the login page's",
            text("client_id")
        )));
    }
    match origin_api::session(env, cfg, &tenant, &sid).await? {
        Some(s) if s.active && s.user_id == user_id && s.client_id.is_none() => {
            Ok(Some(SignedIn {
                tenant,
                user_id,
                sid,
                auth_time: s.auth_time,
                recovering: s.acr == RECOVERY_ACR,
            }))
        }
        Some(s) => Err(refused(format!(
            "session {sid} is not active ({})",
            s.revoked_reason
                .as_deref()
                .unwrap_or("expired or another user's")
        ))),
        None => Err(refused(format!("session {sid} is unknown"))),
    }
}

pub(crate) async fn require_user(
    req: &Request,
    env: &Env,
    cfg: &Config,
) -> Result<SignedIn, ApiError> {
    optional_user(req, env, cfg)
        .await?
        .ok_or_else(|| sign_in_again("sign in first"))
}

/// [`require_user`], a recovery session too (see [`signed_in`]).
pub(crate) async fn require_signed_in(
    req: &Request,
    env: &Env,
    cfg: &Config,
) -> Result<SignedIn, ApiError> {
    signed_in(req, env, cfg)
        .await?
        .ok_or_else(|| sign_in_again("sign in first"))
}

/// `POST /v1/sessions/logout` (signed in): end this session.
///
/// # Errors
/// `401`, or the origin.
pub async fn logout(
    req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = require_signed_in(&req, env, cfg).await?;
    let revoked = origin_api::revoke_session(env, cfg, &who.tenant, &who.sid).await?;
    session_liveness::forget(|sid, _, _| sid == who.sid);
    record_user(
        ctx,
        env,
        cfg,
        &who.tenant,
        &who.user_id,
        kinds::SESSION_LOGOUT,
        json!({ "sid": who.sid, "all": false, "revoked": revoked }),
    );
    crate::oidc::browser::forget(Response::from_json(&json!({ "revoked": revoked }))?, cfg)
}

/// `POST /v1/sessions/logout-all` (signed in): end every session of this user.
///
/// # Errors
/// `401`, or the origin.
pub async fn logout_all(
    req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = require_signed_in(&req, env, cfg).await?;
    let revoked = origin_api::revoke_user_sessions(env, cfg, &who.tenant, &who.user_id).await?;
    session_liveness::forget(|_, tenant, user| tenant == who.tenant && user == who.user_id);
    record_user(
        ctx,
        env,
        cfg,
        &who.tenant,
        &who.user_id,
        kinds::SESSION_LOGOUT,
        json!({ "sid": who.sid, "all": true, "revoked": revoked }),
    );
    crate::oidc::browser::forget(Response::from_json(&json!({ "revoked": revoked }))?, cfg)
}

/// For introspection: whether the session a token names is still active.
///
/// # Errors
/// The origin.
pub async fn session_active(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    sid: &str,
) -> Result<bool, ApiError> {
    Ok(origin_api::session(env, cfg, tenant, sid)
        .await?
        .is_some_and(|s| s.active))
}
