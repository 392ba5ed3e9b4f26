//! `POST /oauth2/token` for clients that sign people in: `grant_type=authorization_code` (RFC 6749 §4.1.3
//! with RFC 7636, OIDC Core §3.1.3) and `grant_type=refresh_token` of a client's session (§6).
//!
//! A confidential client authenticates (`client_secret_basic` or `client_secret_post`); a public client
//! names itself with `client_id` and proves the code with its PKCE verifier. The code is spent at the
//! origin (once, bound to client, redirect URI and verifier; a replay revokes its grant). The answer is
//! an access token for the client's first audience (else the login page's), an ID token when `openid`
//! was granted (`nonce`, `auth_time`, `amr`, `acr`, `at_hash`, `sid` of the browser session, profile
//! claims for `profile`), and a refresh token when `offline_access` was. A refreshed client session gets
//! a new access token and refresh token (no new ID token: OIDC Core §12.2 leaves it optional).

use serde_json::json;
use tessera_jose::issue_id_token;
use tessera_jose::oidc::{at_hash, IdTokenClaims};
use tessera_proto::accounts::Session;
use tessera_proto::audit::{kinds, ActorKind, Outcome as AuditOutcome};
use tessera_proto::oauth::TokenResponse;
use tessera_proto::oidc::RedeemCode;
use tessera_proto::{ClientKind, ClientRecord, Code};
use worker::{Context, Env, Request, Response};

use crate::config::Config;
use crate::error::ApiError;
use crate::now;
use crate::origin::accounts as origin_api;
use crate::people::sessions::{mint, Recipient};
use crate::tokens::client_auth::{no_store, requesting_client, Form};
use crate::tokens::keyring;

/// Whether a token request names a client (client authentication, or a public client's `client_id`);
/// the login page's refresh requests name none.
///
/// # Errors
/// Only if the runtime cannot read the headers.
pub fn names_a_client(req: &Request, form: &Form) -> Result<bool, ApiError> {
    Ok(req.headers().get("authorization")?.is_some()
        || form.get("client_id").is_some()
        || form.get("client_secret").is_some())
}

/// The recipient of a client's access tokens: the client's first audience, else the userinfo endpoint
/// (never the login page's audience: an application's token is not the login page's).
fn recipient<'a>(
    client: &'a ClientRecord,
    userinfo: &'a str,
    scope: Option<String>,
) -> Recipient<'a> {
    Recipient {
        audience: client.audiences.first().map_or(userinfo, String::as_str),
        client_id: &client.client_id,
        scope,
        roles: client.first_party,
    }
}

/// The userinfo endpoint's URL, the audience of tokens of applications without one of their own.
fn userinfo_audience(cfg: &Config) -> String {
    format!("{}/oauth2/userinfo", cfg.issuer)
}

/// A client of this edge's login tenant (the only people it signs in).
fn of_login_tenant(cfg: &Config, client: ClientRecord) -> Result<ClientRecord, ApiError> {
    if client.tenant == cfg.login.tenant {
        Ok(client)
    } else {
        Err(ApiError::oauth(
            400,
            Code::UnauthorizedClient,
            "this client does not sign people in here",
        ))
    }
}

/// `invalid_grant` in the client's words, recorded as refused.
fn grant_refused(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    client: &ClientRecord,
    grant: &str,
    e: ApiError,
) -> ApiError {
    let mapped = if e.status == 400 && e.code == Code::InvalidScope {
        ApiError::oauth(
            400,
            Code::InvalidScope,
            "a refresh cannot add scopes to the grant",
        )
    } else if e.status == 400 {
        let message = match e.code {
            Code::SessionInactive => "the person's session has ended; sign in again",
            Code::RefreshReused => {
                "this refresh token was already used; the grant has been revoked"
            }
            Code::RefreshInvalid => "the refresh token is not valid",
            _ => "the authorization code is not valid (unknown, expired, already used, or not bound to this client, redirect URI and verifier)",
        };
        ApiError {
            internal_message: Some(e.external_message.clone()),
            ..ApiError::oauth(400, Code::InvalidGrant, message)
        }
    } else {
        e
    };
    let mut event = crate::audit::event(
        &client.tenant,
        kinds::TOKEN_REFUSED,
        AuditOutcome::Failure,
        crate::audit::actor(ActorKind::Client, &client.client_id),
    );
    event.code = mapped.code.as_str().to_owned();
    event.detail.insert("grant".into(), json!(grant));
    // A public client does not authenticate: anyone can name it, so its refusals are sampled.
    if client.kind == ClientKind::Public {
        crate::audit::record_sampled(ctx, env, cfg, event);
    } else {
        crate::audit::record(ctx, env, cfg, event);
    }
    mapped.audited()
}

/// `grant_type=authorization_code`.
///
/// # Errors
/// RFC 6749 §5.2 errors.
pub async fn code_grant(
    req: &Request,
    form: &Form,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let client = of_login_tenant(cfg, requesting_client(req, form, env, ctx, cfg).await?)?;
    let code = form
        .get("code")
        .ok_or_else(|| ApiError::oauth(400, Code::InvalidRequest, "`code` is required"))?;
    if code.len() > 256 {
        return Err(ApiError::oauth(
            400,
            Code::InvalidGrant,
            "the authorization code is not valid",
        ));
    }
    let redeemed = crate::origin::grants::redeem_code(
        env,
        cfg,
        &client.tenant,
        &RedeemCode {
            code: code.to_owned(),
            client_id: client.client_id.clone(),
            redirect_uri: form.get("redirect_uri").map(str::to_owned),
            code_verifier: form.get("code_verifier").map(str::to_owned),
        },
    )
    .await
    .map_err(|e| grant_refused(ctx, env, cfg, &client, "authorization_code", e))?;
    let scope = redeemed.scopes.join(" ");
    let session = &redeemed.session;
    let (access_token, expires_in) = mint(
        env,
        ctx,
        cfg,
        &client.tenant,
        session,
        recipient(&client, &userinfo_audience(cfg), Some(scope.clone())),
    )
    .await?;
    let id_token = if redeemed.scopes.iter().any(|s| s == "openid") {
        let profile = redeemed.scopes.iter().any(|s| s == "profile");
        let claims = IdTokenClaims {
            iss: cfg.issuer.clone(),
            sub: session.user_id.clone(),
            aud: client.client_id.clone(),
            exp: now().plus_secs(i64::from(expires_in)).as_secs(),
            iat: now().as_secs(),
            auth_time: session.auth_time,
            nonce: redeemed.nonce.clone(),
            acr: redeemed.acr.clone(),
            amr: session.amr.clone(),
            azp: client.client_id.clone(),
            at_hash: Some(at_hash(&access_token)),
            sid: redeemed.browser_sid.clone(),
            tid: client.tenant.clone(),
            name: profile.then(|| redeemed.user.display_name.clone()),
            preferred_username: profile.then(|| redeemed.user.username.clone()),
        };
        let ring = keyring::current(env, cfg).await?;
        let signer = keyring::active_signer(env, &ring).await?;
        Some(issue_id_token(&signer, &claims).await.map_err(|e| {
            ApiError::unavailable(
                Code::SignerUnavailable,
                "tokens cannot be issued right now",
                e.to_string(),
            )
        })?)
    } else {
        None
    };
    issued(ctx, env, cfg, &client, session, "authorization_code");
    no_store(Response::from_json(&TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        scope: (!scope.is_empty()).then_some(scope),
        issued_token_type: None,
        refresh_token: redeemed.refresh_token,
        id_token,
    })?)
    .map_err(ApiError::from)
}

/// `grant_type=refresh_token` for a client's session.
///
/// # Errors
/// RFC 6749 §5.2 errors.
pub async fn refresh_grant(
    req: &Request,
    form: &Form,
    token: &str,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let client = of_login_tenant(cfg, requesting_client(req, form, env, ctx, cfg).await?)?;
    // A narrower scope may be asked (RFC 6749 §6); the origin refuses a wider one before spending.
    let asked = form.get("scope");
    let next = origin_api::refresh(
        env,
        cfg,
        &client.tenant,
        token,
        Some(&client.client_id),
        asked,
    )
    .await
    .map_err(|e| grant_refused(ctx, env, cfg, &client, "refresh_token", e))?;
    let scope = match asked {
        Some(narrower) => Some(
            narrower
                .split(' ')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        None => next.session.scope.clone(),
    };
    let (access_token, expires_in) = mint(
        env,
        ctx,
        cfg,
        &client.tenant,
        &next.session,
        recipient(&client, &userinfo_audience(cfg), scope.clone()),
    )
    .await?;
    crate::people::sessions::record_user(
        ctx,
        env,
        cfg,
        &client.tenant,
        &next.session.user_id,
        kinds::REFRESH_ROTATED,
        json!({ "sid": next.session.sid, "client_id": client.client_id }),
    );
    no_store(Response::from_json(&TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        scope,
        issued_token_type: None,
        refresh_token: Some(next.refresh_token),
        id_token: None,
    })?)
    .map_err(ApiError::from)
}

fn issued(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    client: &ClientRecord,
    session: &Session,
    grant: &str,
) {
    let mut e = crate::audit::event(
        &client.tenant,
        kinds::TOKEN_ISSUED,
        AuditOutcome::Success,
        crate::audit::actor(ActorKind::Client, &client.client_id),
    );
    e.subject = format!("{}:{}", cfg.checks.user_type, session.user_id);
    e.detail.insert("grant".into(), json!(grant));
    e.detail.insert("sid".into(), json!(session.sid));
    e.detail.insert("scope".into(), json!(session.scope));
    crate::audit::record(ctx, env, cfg, e);
}
