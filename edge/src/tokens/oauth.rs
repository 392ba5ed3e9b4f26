//! `POST /oauth2/token` (RFC 6749 §4.4 client credentials) and `POST /oauth2/introspect` (RFC 7662).

use serde_json::{json, Value};
use tessera_jose::grant::{self, ClientCredentialsRequest, Issue};
use tessera_jose::issue_access_token;
use tessera_proto::audit::{kinds, ActorKind, Outcome as AuditOutcome};
use tessera_proto::oauth::{IntrospectionResponse, TokenResponse};
use tessera_proto::ClientRecord;
use tessera_proto::Code;
use worker::{Context, Env, Request, Response};

use crate::checks::decisions;
use crate::config::Config;
use crate::error::ApiError;
use crate::log;
use crate::random_bytes;
use crate::tokens::client_auth::{authenticated_client, no_store, Form};
use crate::tokens::keyring;
use crate::tokens::verify::{verify, Outcome};

/// `POST /oauth2/token`.
///
/// # Errors
/// RFC 6749 §5.2 errors.
pub async fn token(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let form = Form::read(&mut req).await?;
    let grant = form
        .get("grant_type")
        .ok_or_else(|| ApiError::oauth(400, Code::InvalidRequest, "`grant_type` is required"))?;
    if grant == "authorization_code" {
        return crate::oidc::tokens::code_grant(&req, &form, env, ctx, cfg).await;
    }
    if grant == "refresh_token" {
        let token = form.get("refresh_token").ok_or_else(|| {
            ApiError::oauth(400, Code::InvalidRequest, "`refresh_token` is required")
        })?;
        if crate::oidc::tokens::names_a_client(&req, &form)? {
            return crate::oidc::tokens::refresh_grant(&req, &form, token, env, ctx, cfg).await;
        }
        // The login page's public client: the refresh token itself is the credential (single use,
        // rotated, reuse revokes the session).
        return crate::people::sessions::refresh_grant(env, ctx, cfg, token).await;
    }
    if grant != "client_credentials" {
        return Err(ApiError::oauth(
            400,
            Code::UnsupportedGrantType,
            format!("grant type `{grant}` is not supported"),
        ));
    }
    let client = authenticated_client(env, ctx, cfg, &req, &form, kinds::TOKEN_REFUSED).await?;
    let who = crate::audit::actor(ActorKind::Client, &client.client_id);
    if client.audiences.is_empty() {
        return Err(ApiError::oauth(
            400,
            Code::UnauthorizedClient,
            "this client signs people in; it has no audience to get client-credentials tokens for",
        ));
    }
    match client_grant(env, ctx, cfg, &form, &client).await {
        Ok((resp, issued)) => {
            let mut e = crate::audit::event(
                &client.tenant,
                kinds::TOKEN_ISSUED,
                AuditOutcome::Success,
                who,
            );
            e.detail.insert("grant".into(), json!("client_credentials"));
            e.detail.insert("jti".into(), json!(issued.jti));
            e.detail.insert("scope".into(), json!(issued.scope));
            e.detail.insert("audience".into(), json!(issued.audience));
            e.detail.insert("ttl".into(), json!(issued.ttl));
            crate::audit::record(ctx, env, cfg, e);
            Ok(resp)
        }
        Err(err) => Err(crate::audit::refused_as(
            ctx,
            env,
            cfg,
            &client.tenant,
            kinds::TOKEN_REFUSED,
            who,
            err,
        )),
    }
}

/// What an issued token is, for its audit event (never the token).
struct Issued {
    jti: String,
    scope: Option<String>,
    audience: Value,
    ttl: i64,
}

/// The client credentials grant for an authenticated `client`.
async fn client_grant(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    form: &Form,
    client: &ClientRecord,
) -> Result<(Response, Issued), ApiError> {
    let granted = grant::client_credentials(
        client,
        &ClientCredentialsRequest {
            scope: form.get("scope"),
            resource: form.get("resource"),
            audience: form.get("audience"),
        },
    )
    .map_err(|e| ApiError::oauth(400, e.oauth_code(), e.to_string()))?;
    let roles = token_roles(env, ctx, cfg, client).await?;
    // Bounded by MAX_TOKEN_TTL, the lifetime key rotation relies on (not only by the 30..3600 range).
    let ttl = tessera_jose::issued_ttl(i64::from(client.token_ttl), &cfg.policy);
    let jti = tessera_jose::b64::encode(&random_bytes::<16>()?);
    let claims = grant::client_claims(
        Issue {
            issuer: &cfg.issuer,
            now: crate::now(),
            ttl,
            jti: &jti,
        },
        client,
        granted,
        roles,
    );
    let scope = claims.scope.clone();
    let ring = keyring::current(env, cfg).await?;
    let signer = keyring::active_signer(env, &ring).await?;
    let access_token = issue_access_token(&signer, &claims).await.map_err(|e| {
        ApiError::unavailable(
            Code::SignerUnavailable,
            "tokens cannot be issued right now",
            e.to_string(),
        )
    })?;
    log::info(
        "token_issued",
        &[
            ("jti", json!(claims.jti)),
            ("client_id", json!(claims.client_id)),
            ("tenant", json!(claims.tid)),
            ("ttl", json!(ttl)),
        ],
    );
    let issued = Issued {
        jti: claims.jti.clone(),
        scope: scope.clone(),
        audience: serde_json::to_value(&claims.aud).unwrap_or(Value::Null),
        ttl,
    };
    let body = TokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: u32::try_from(ttl).map_err(|_| ApiError::internal("ttl out of range"))?,
        scope,
        issued_token_type: None,
        refresh_token: None,
        id_token: None,
    };
    Ok((no_store(Response::from_json(&body)?)?, issued))
}

/// The tenant's token roles the client holds (see [`decisions::roles_held`]).
async fn token_roles(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    client: &ClientRecord,
) -> Result<Option<Vec<String>>, ApiError> {
    let subject = tessera_authz::caller::own_subject(
        &client.client_id,
        Some(&client.client_id),
        &cfg.checks.user_type,
    );
    decisions::roles_held(env, ctx, cfg, &client.tenant, &client.token_roles, &subject).await
}

/// `POST /oauth2/introspect`: `active` plus claims for a valid token of the caller's tenant whose audience is
/// one of the caller's audiences (a resource server learns only about tokens meant for it); otherwise
/// `{"active": false, "inactive_reason": "<code>"}` (an RFC 7662 §2.2 extension member).
///
/// # Errors
/// Client authentication and request errors.
pub async fn introspect(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let form = Form::read(&mut req).await?;
    let caller =
        authenticated_client(env, ctx, cfg, &req, &form, kinds::TOKEN_INTROSPECTED).await?;
    let token = form
        .get("token")
        .ok_or_else(|| ApiError::oauth(400, Code::InvalidRequest, "`token` is required"))?;
    let body = match verify(env, cfg, token, None, crate::now()).await? {
        Outcome::Valid(v) => {
            let aud_ok = v
                .registered()
                .aud
                .iter()
                .any(|a| caller.audiences.contains(a));
            let sid = v.claim_str("sid").map(str::to_owned);
            if v.claim_str("tid") != Some(caller.tenant.as_str()) {
                inactive(Code::WrongTenant)
            } else if !aud_ok {
                inactive(Code::WrongAudience)
            } else if let Some(sid) = sid {
                // A user token: its session must still be active (revocation shows at once).
                if crate::people::sessions::session_active(env, cfg, &caller.tenant, &sid).await? {
                    active(v.into_claims())
                } else {
                    inactive(Code::SessionRevoked)
                }
            } else {
                active(v.into_claims())
            }
        }
        Outcome::Invalid(e) => {
            log::info(
                "introspection_inactive",
                &[
                    ("reason", json!(e.code())),
                    ("detail", json!(e.to_string())),
                ],
            );
            inactive(e.code())
        }
    };
    let mut e = crate::audit::event(
        &caller.tenant,
        kinds::TOKEN_INTROSPECTED,
        AuditOutcome::Success,
        crate::audit::actor(ActorKind::Client, &caller.client_id),
    );
    e.detail.insert("active".into(), json!(body.active));
    if let Some(reason) = body.claims.get("inactive_reason") {
        e.detail.insert("inactive_reason".into(), reason.clone());
    }
    if let Some(jti) = body.claims.get("jti") {
        e.detail.insert("jti".into(), jti.clone());
    }
    crate::audit::record(ctx, env, cfg, e);
    Ok(no_store(Response::from_json(&body)?)?)
}

fn active(claims: serde_json::Map<String, Value>) -> IntrospectionResponse {
    IntrospectionResponse {
        active: true,
        token_type: Some("Bearer".to_owned()),
        claims,
    }
}

fn inactive(code: Code) -> IntrospectionResponse {
    let mut claims = serde_json::Map::new();
    claims.insert(
        "inactive_reason".to_owned(),
        Value::String(code.as_str().to_owned()),
    );
    IntrospectionResponse {
        active: false,
        token_type: None,
        claims,
    }
}
