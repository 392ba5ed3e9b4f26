//! "Sign in with your company": the edge's half of a federated (SAML) sign-in.
//!
//! `GET /v1/sso/start?email=...&binding=...[&fresh=1]` finds the connection that claims the address's domain (at
//! the origin) and answers where to send the browser: the connection's SP-initiated login at the origin,
//! carrying the page's `binding` (the SHA-256 of a verifier the page keeps) and, optionally, a
//! `relay_state`. `connection=NAME` instead of `email` starts the sign-in of one of the tenant's
//! connections by name: the page offers them as buttons (`GET /v1/sso/connections`: names and display
//! names, nothing else). Only the login page's tenant is served; a domain no connection of it claims, or
//! a name it does not have, gets `404 sso_not_configured`.
//!
//! The origin runs the SAML exchange with the company's identity provider and, once the assertion is
//! verified and the person found or created, sends the browser back to `/login` with a single-use
//! hand-off code in the URL fragment (`#sso_code=...`, which no server logs). The page posts it to
//! `POST /v1/sso/exchange`; the edge spends it at the origin over the service credential and answers the
//! usual token pair (access token with `amr: ["fed"]`, refresh token), plus the relay state the person
//! started from. A code is good once, for 60 seconds, and only for the login page's tenant.

use serde::{Deserialize, Serialize};
use tessera_proto::oauth::TokenResponse;
use tessera_proto::saml::EmailDomain;
use tessera_proto::Code;
use worker::{Context, Env, Request, Response};

use crate::config::Config;
use crate::error::ApiError;
use crate::origin::accounts as origin_api;
use crate::people::sessions::{issue_tokens, no_store};
use crate::{http, log};

/// The largest exchange body (a code is ~50 bytes).
const MAX_EXCHANGE_BODY: usize = 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeRequest {
    code: String,
    /// What the page kept when it started the sign-in (`/v1/sso/start`'s `binding` is its SHA-256).
    #[serde(default)]
    verifier: Option<String>,
}

/// The answer to an exchange: the tokens, and where the person wanted to go.
#[derive(Serialize)]
struct SignedIn {
    #[serde(flatten)]
    tokens: TokenResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    relay_state: Option<String>,
}

/// Where to send the browser to sign in with the company.
#[derive(Serialize)]
struct StartAnswer {
    location: String,
    display_name: String,
}

/// One of the tenant's connections, as the login page shows it.
#[derive(Serialize)]
struct Offered {
    connection: String,
    display_name: String,
}

#[derive(Serialize)]
struct OfferedList {
    connections: Vec<Offered>,
}

/// `GET /v1/sso/connections`: the login page's tenant's connections (name and display name).
///
/// # Errors
/// The origin.
pub async fn connections(env: &Env, cfg: &Config) -> Result<Response, ApiError> {
    let connections = origin_api::sso_connections(env, cfg, &cfg.login.tenant)
        .await?
        .into_iter()
        .map(|c| Offered {
            connection: c.connection,
            display_name: c.display_name,
        })
        .collect();
    Ok(Response::from_json(&OfferedList { connections })?)
}

/// `GET /v1/sso/start?(email=...|connection=...)&binding=...[&relay_state=...]`.
///
/// # Errors
/// `400 invalid_request` for an address without a valid domain or a `binding` that is not a base64url
/// SHA-256; `404 sso_not_configured` when no connection of the login page's tenant claims the domain.
pub async fn start(req: Request, env: &Env, cfg: &Config) -> Result<Response, ApiError> {
    let url = req.url()?;
    let (mut email, mut connection, mut binding, mut relay_state, mut fresh) =
        (None, None, None, None, None);
    for (name, value) in url.query_pairs() {
        let slot = match name.as_ref() {
            "email" => &mut email,
            "connection" => &mut connection,
            "binding" => &mut binding,
            "relay_state" => &mut relay_state,
            "fresh" => &mut fresh,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(ApiError::new(
                400,
                Code::InvalidRequest,
                format!("`{}` is given twice", name.escape_debug()),
            ));
        }
    }
    let binding = binding
        .filter(|b| {
            b.len() == 43
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        })
        .ok_or_else(|| {
            ApiError::new(
                400,
                Code::InvalidRequest,
                "`binding` must be the base64url SHA-256 of a verifier the page keeps",
            )
        })?;
    let found = match (email, connection) {
        (Some(email), None) => by_email(env, cfg, &email).await?,
        (None, Some(name)) => origin_api::sso_connections(env, cfg, &cfg.login.tenant)
            .await?
            .into_iter()
            .find(|c| c.connection == name)
            .map(|c| (c.sp.login_url, c.display_name))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    Code::SsoNotConfigured,
                    "no such company sign-in here; sign in with a passkey instead",
                )
            })?,
        _ => {
            return Err(ApiError::new(
                400,
                Code::InvalidRequest,
                "give either your work `email` or a `connection`",
            ))
        }
    };
    let (login_url, display_name) = found;
    let mut location = url::Url::parse(&login_url)
        .map_err(|e| ApiError::internal(format!("the origin's login URL: {e}")))?;
    {
        let mut query = location.query_pairs_mut();
        query.append_pair("binding", &binding);
        if let Some(relay) = &relay_state {
            query.append_pair("relay_state", relay);
        }
        // The page signs someone in for an application that wants a fresh sign-in (`prompt=login`,
        // `max_age`): the company must authenticate them again, not answer from its session.
        if fresh.as_deref() == Some("1") {
            query.append_pair("force_authn", "1");
        }
    }
    Ok(Response::from_json(&StartAnswer {
        location: location.into(),
        display_name,
    })?)
}

/// The login URL and display name of the connection of the login page's tenant that claims `email`'s
/// domain.
async fn by_email(env: &Env, cfg: &Config, email: &str) -> Result<(String, String), ApiError> {
    let domain = EmailDomain::of_address(email.trim()).ok_or_else(|| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            "enter your work email address, like ada@example.com",
        )
    })?;
    origin_api::sso_for_domain(env, cfg, domain.as_str())
        .await?
        .filter(|c| c.tenant == cfg.login.tenant)
        .map(|c| (c.login_url, c.display_name))
        .ok_or_else(|| {
            ApiError::new(
                404,
                Code::SsoNotConfigured,
                format!(
                    "no company sign-in is set up for {}; sign in with a passkey instead",
                    domain.as_str()
                ),
            )
        })
}

/// `POST /v1/sso/exchange` `{code}`: spend a hand-off code for tokens.
///
/// # Errors
/// `400 handoff_invalid` for an unknown, spent or expired code (one answer for the three); `400
/// invalid_request` for a body that is not `{"code": "..."}`; the origin or the signer.
pub async fn exchange(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let body = http::read_body(&mut req, MAX_EXCHANGE_BODY).await?;
    let asked: ExchangeRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            "the body must be {\"code\": \"...\", \"verifier\": \"...\"}",
        )
    })?;
    let tenant = cfg.login.tenant.clone();
    let handed = origin_api::exchange_handoff(env, cfg, &tenant, &asked.code, asked.verifier)
        .await
        .map_err(|e| {
            if e.code == Code::HandoffInvalid {
                log::info(
                    "sso_exchange_refused",
                    &[("reason", serde_json::json!(e.code))],
                );
                ApiError {
                    external_message:
                        "this sign-in link was already used or has expired; sign in again".into(),
                    ..e
                }
            } else {
                e
            }
        })?;
    let tokens = issue_tokens(
        env,
        ctx,
        cfg,
        &tenant,
        &handed.session,
        handed.refresh_token,
    )
    .await?;
    crate::people::sessions::record_user(
        ctx,
        env,
        cfg,
        &tenant,
        &handed.session.user_id,
        tessera_proto::audit::kinds::SAML_SIGN_IN,
        serde_json::json!({ "sid": handed.session.sid, "acr": handed.session.acr }),
    );
    let resp = no_store(Response::from_json(&SignedIn {
        tokens,
        relay_state: handed.relay_state,
    })?)?;
    crate::oidc::browser::remember(resp, env, cfg, &handed.session)
}
