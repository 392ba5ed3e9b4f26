//! The provider's other endpoints: `/oauth2/userinfo` (OIDC Core §5.3), `/oauth2/revoke` (RFC 7009),
//! `/oauth2/logout` (RP-initiated logout, the discovery document's `end_session_endpoint`), and the
//! person's own consents (`GET /v1/consents`, `POST /v1/consents/revoke`) for the account page.

use serde::Deserialize;
use serde_json::json;
use tessera_proto::audit::{kinds, ActorKind, Outcome as AuditOutcome};
use tessera_proto::Code;
use worker::{Context, Env, Method, Request, Response};

use super::{browser, pages};
use crate::config::Config;
use crate::error::ApiError;
use crate::origin::accounts as origin_api;
use crate::people::sessions::{no_store, optional_user, record_user, sign_in_again};
use crate::tokens::client_auth::{requesting_client, Form};
use crate::tokens::clients;
use crate::tokens::verify::{id_token_hint, verify, Outcome};
use crate::{http, now};

/// RFC 6750 §3.1 `invalid_token` (401) or `insufficient_scope` (403) for the userinfo endpoint.
fn bearer_refused(status: u16, code: Code, message: &str, detail: String) -> ApiError {
    let challenge = if code == Code::InsufficientScope {
        "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"openid\""
    } else {
        "Bearer realm=\"tessera\", error=\"invalid_token\""
    };
    ApiError {
        www_authenticate: Some(challenge),
        internal_message: Some(detail),
        ..ApiError::new(status, code, message)
    }
}

/// `GET|POST /oauth2/userinfo` with an access token that was granted `openid`: `sub`, and `name` and
/// `preferred_username` for `profile`.
///
/// # Errors
/// `401 invalid_token`, `403 insufficient_scope`, or the origin.
pub async fn userinfo(mut req: Request, env: &Env, cfg: &Config) -> Result<Response, ApiError> {
    let mut token = http::bearer(&req)?;
    let ctype = req.headers().get("content-type")?.unwrap_or_default();
    if req.method() == Method::Post
        && ctype
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    {
        // RFC 6750 §2.2: the token in the form body (never both ways).
        let form = Form::read(&mut req).await?;
        if let Some(t) = form.get("access_token") {
            if token.is_some() {
                return Err(ApiError::new(
                    400,
                    Code::InvalidRequest,
                    "send the access token one way, not two",
                ));
            }
            token = Some(t.to_owned());
        }
    }
    let token = token.ok_or_else(|| ApiError {
        www_authenticate: Some("Bearer realm=\"tessera\""),
        ..ApiError::new(401, Code::Unauthorized, "an access token is required")
    })?;
    let v = match verify(env, cfg, &token, None, now()).await? {
        Outcome::Valid(v) => v,
        Outcome::Invalid(e) => {
            return Err(bearer_refused(
                401,
                Code::InvalidToken,
                "the access token is not valid",
                format!("userinfo token refused ({}): {e}", e.code()),
            ))
        }
    };
    let scopes: Vec<&str> = v
        .claim_str("scope")
        .unwrap_or_default()
        .split(' ')
        .collect();
    if !scopes.contains(&"openid") {
        return Err(bearer_refused(
            403,
            Code::InsufficientScope,
            "the access token was not granted `openid`",
            "userinfo without openid".into(),
        ));
    }
    let (Some(tenant), Some(sid)) = (v.claim_str("tid"), v.claim_str("sid")) else {
        return Err(bearer_refused(
            401,
            Code::InvalidToken,
            "the access token is not a person's",
            "userinfo token without tid/sid".into(),
        ));
    };
    let live = origin_api::session(env, cfg, tenant, sid)
        .await?
        .is_some_and(|s| s.active && s.user_id == v.sub());
    if !live {
        return Err(bearer_refused(
            401,
            Code::InvalidToken,
            "the access token's session has ended",
            format!("userinfo for ended session {sid}"),
        ));
    }
    let person = origin_api::user(env, cfg, tenant, v.sub()).await?;
    let mut body = serde_json::Map::new();
    body.insert("sub".into(), json!(v.sub()));
    if scopes.contains(&"profile") {
        body.insert("name".into(), json!(person.user.display_name));
        body.insert("preferred_username".into(), json!(person.user.username));
    }
    no_store(Response::from_json(&body)?)
}

/// `POST /oauth2/revoke` (RFC 7009): a refresh token of the calling client ends its grant (the whole
/// family); a person's access token of the calling client ends the session it belongs to. Unknown,
/// expired or another client's tokens are answered `200` alike (§2.2); a client-credentials access
/// token, which has no session, is `unsupported_token_type`.
///
/// # Errors
/// Client authentication, `invalid_request`, `unsupported_token_type`.
pub async fn revoke(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let form = Form::read(&mut req).await?;
    let client = requesting_client(&req, &form, env, ctx, cfg).await?;
    let token = form
        .get("token")
        .ok_or_else(|| ApiError::oauth(400, Code::InvalidRequest, "`token` is required"))?;
    let looks_like_jwt = token.split('.').count() == 3;
    let revoked = if looks_like_jwt {
        match verify(env, cfg, token, None, now()).await? {
            Outcome::Valid(v) if v.claim_str("client_id") == Some(client.client_id.as_str()) => {
                let Some(sid) = v.claim_str("sid") else {
                    return Err(ApiError::oauth(
                        400,
                        Code::UnsupportedTokenType,
                        "client-credentials access tokens cannot be revoked; they expire",
                    ));
                };
                origin_api::revoke_session(env, cfg, &client.tenant, sid).await?
            }
            _ => 0,
        }
    } else if token.len() <= 256 {
        crate::origin::grants::revoke_refresh_token(
            env,
            cfg,
            &client.tenant,
            token,
            &client.client_id,
        )
        .await?
    } else {
        0
    };
    if revoked > 0 {
        crate::checks::session_liveness::forget(|_, _, _| true);
    }
    let mut e = crate::audit::event(
        &client.tenant,
        kinds::TOKEN_REVOKED,
        AuditOutcome::Success,
        crate::audit::actor(ActorKind::Client, &client.client_id),
    );
    e.detail.insert("revoked".into(), json!(revoked));
    e.detail.insert(
        "token_type".into(),
        json!(if looks_like_jwt {
            "access_token"
        } else {
            "refresh_token"
        }),
    );
    // A revocation that ended nothing, or by a public client (whom anyone can name), is sampled.
    if revoked == 0 || client.kind == tessera_proto::ClientKind::Public {
        crate::audit::record_sampled(ctx, env, cfg, e);
    } else {
        crate::audit::record(ctx, env, cfg, e);
    }
    no_store(Response::empty()?)
}

/// `GET|POST /oauth2/logout`: end the browser's session and, when the client named (by `client_id` or
/// the `id_token_hint`'s audience) registered `post_logout_redirect_uri`, send the browser there with
/// `state`. With a valid `id_token_hint` naming this browser's session (or no session left) the sign-out
/// is immediate; otherwise the person confirms on a page first (a link alone cannot sign anyone out).
///
/// # Errors
/// `400 invalid_request` for a `post_logout_redirect_uri` the client did not register, or an
/// `id_token_hint` that is not ours (shown as a page).
pub async fn logout(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = if req.method() == Method::Post {
        let body = http::read_body(&mut req, 16 * 1024).await?;
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        req.url()?.query_pairs().into_owned().collect()
    };
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let hint = match get("id_token_hint") {
        Some(t) => Some(id_token_hint(env, cfg, t).await?.ok_or_else(|| {
            ApiError::new(
                400,
                Code::InvalidRequest,
                "the id_token_hint is not an ID token of this provider",
            )
        })?),
        None => None,
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|h| h.registered().aud.first().cloned());
    let client_id = match (get("client_id"), hinted_client.as_deref()) {
        (Some(c), Some(h)) if c != h => {
            return Err(ApiError::new(
                400,
                Code::InvalidRequest,
                "`client_id` is not the id_token_hint's audience",
            ))
        }
        (Some(c), _) | (None, Some(c)) => Some(c.to_owned()),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => clients::lookup(env, cfg, id)
            .await?
            .filter(|c| !c.disabled && c.tenant == cfg.login.tenant),
        None => None,
    };
    let after = match get("post_logout_redirect_uri") {
        Some(uri) => {
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
            if !registered {
                return Err(ApiError::new(
                    400,
                    Code::InvalidRequest,
                    "`post_logout_redirect_uri` is not one the client registered",
                ));
            }
            Some(uri.to_owned())
        }
        None => None,
    };
    let browser = browser::session(&req, env, cfg).await?;
    let hint_matches = match (&hint, &browser) {
        (Some(h), Some(b)) => h.claim_str("sid") == Some(b.sid.as_str()),
        (Some(_), None) => true,
        (None, _) => false,
    };
    let confirmed = req.method() == Method::Post && get("confirm") == Some("yes");
    if browser.is_some() && !hint_matches && !confirmed {
        let keep: Vec<(&str, &str)> = ["post_logout_redirect_uri", "state", "client_id"]
            .into_iter()
            .filter_map(|k| get(k).map(|v| (k, v)))
            .chain(
                client_id
                    .as_deref()
                    .filter(|_| get("client_id").is_none())
                    .map(|c| ("client_id", c)),
            )
            .collect();
        return Ok(pages::confirm_sign_out(
            "/oauth2/logout",
            &keep,
            client
                .as_ref()
                .map(tessera_proto::ClientRecord::display_name),
        )?);
    }
    if let Some(b) = &browser {
        origin_api::revoke_session(env, cfg, &b.tenant, &b.sid).await?;
        crate::checks::session_liveness::forget(|sid, _, _| sid == b.sid);
        record_user(
            ctx,
            env,
            cfg,
            &b.tenant,
            &b.user_id,
            kinds::SESSION_LOGOUT,
            json!({ "sid": b.sid, "all": false, "client_id": client_id, "rp_initiated": true }),
        );
    }
    let resp = match after {
        Some(uri) => {
            let mut to = url::Url::parse(&uri)
                .map_err(|e| ApiError::internal(format!("a registered logout URI: {e}")))?;
            if let Some(state) = get("state") {
                to.query_pairs_mut().append_pair("state", state);
            }
            let resp = Response::empty()?.with_status(302);
            let headers = resp.headers().clone();
            headers.set("location", to.as_str())?;
            headers.set("cache-control", "no-store")?;
            resp.with_headers(headers)
        }
        None => pages::signed_out()?,
    };
    browser::forget(resp, cfg)
}

/// `GET /v1/consents` (signed in): the applications the person has let in, by name.
///
/// # Errors
/// `401`, or the origin.
pub async fn consents(req: Request, env: &Env, cfg: &Config) -> Result<Response, ApiError> {
    let who = optional_user(&req, env, cfg)
        .await?
        .ok_or_else(|| sign_in_again("sign in first"))?;
    let mut out = Vec::new();
    for c in crate::origin::grants::consents(env, cfg, &who.tenant, &who.user_id).await? {
        let name = clients::lookup(env, cfg, &c.client_id)
            .await?
            .map_or_else(|| c.client_id.clone(), |r| r.display_name().to_owned());
        out.push(json!({
            "client_id": c.client_id, "name": name, "scopes": c.scopes, "granted_at": c.granted_at,
        }));
    }
    no_store(Response::from_json(&json!({ "consents": out }))?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeConsent {
    client_id: String,
}

/// `POST /v1/consents/revoke` (signed in) `{client_id}`: withdraw consent; the application's sessions
/// for the person end (its refresh tokens stop working).
///
/// # Errors
/// `401`, `400`, or the origin.
pub async fn revoke_consent(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let who = optional_user(&req, env, cfg)
        .await?
        .ok_or_else(|| sign_in_again("sign in first"))?;
    let body = http::read_body(&mut req, 1024).await?;
    let asked: RevokeConsent = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            format!("body must be {{\"client_id\": \"...\"}}: {e}"),
        )
    })?;
    if asked.client_id.is_empty() || asked.client_id.len() > 128 {
        return Err(ApiError::new(400, Code::InvalidRequest, "not a client id"));
    }
    let ended = crate::origin::grants::revoke_consent(
        env,
        cfg,
        &who.tenant,
        &who.user_id,
        &asked.client_id,
    )
    .await?;
    crate::checks::session_liveness::forget(|_, tenant, user| {
        tenant == who.tenant && user == who.user_id
    });
    record_user(
        ctx,
        env,
        cfg,
        &who.tenant,
        &who.user_id,
        kinds::CONSENT_REVOKED,
        json!({ "client_id": asked.client_id, "sessions_ended": ended }),
    );
    no_store(Response::from_json(&json!({ "sessions_ended": ended }))?)
}
