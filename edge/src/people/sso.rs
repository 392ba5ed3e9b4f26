//! "Sign in with your company": the edge's half of a federated (SAML) sign-in.
//!
//! `GET /v1/sso/start?email=...&binding=...` finds the connection that claims the address's domain (at
//! the origin) and answers where to send the browser: the connection's SP-initiated login at the origin,
//! carrying the page's `binding` (the SHA-256 of a verifier the page keeps) and, optionally, a
//! `relay_state`. Only the login page's tenant is served; a domain no connection of it claims gets `404
//! sso_not_configured`.
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

/// `GET /v1/sso/start?email=...&binding=...[&relay_state=...]`.
///
/// # Errors
/// `400 invalid_request` for an address without a valid domain or a `binding` that is not a base64url
/// SHA-256; `404 sso_not_configured` when no connection of the login page's tenant claims the domain.
pub async fn start(req: Request, env: &Env, cfg: &Config) -> Result<Response, ApiError> {
    let url = req.url()?;
    let (mut email, mut binding, mut relay_state) = (None, None, None);
    for (name, value) in url.query_pairs() {
        let slot = match name.as_ref() {
            "email" => &mut email,
            "binding" => &mut binding,
            "relay_state" => &mut relay_state,
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
    let domain = email
        .as_deref()
        .and_then(|e| EmailDomain::of_address(e.trim()))
        .ok_or_else(|| {
            ApiError::new(
                400,
                Code::InvalidRequest,
                "enter your work email address, like ada@example.com",
            )
        })?;
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
    let not_configured = || {
        ApiError::new(
            404,
            Code::SsoNotConfigured,
            format!(
                "no company sign-in is set up for {}; sign in with a passkey instead",
                domain.as_str()
            ),
        )
    };
    let found = origin_api::sso_for_domain(env, cfg, domain.as_str())
        .await?
        .filter(|c| c.tenant == cfg.login.tenant)
        .ok_or_else(not_configured)?;
    let mut location = url::Url::parse(&found.login_url)
        .map_err(|e| ApiError::internal(format!("the origin's login URL: {e}")))?;
    {
        let mut query = location.query_pairs_mut();
        query.append_pair("binding", &binding);
        if let Some(relay) = &relay_state {
            query.append_pair("relay_state", relay);
        }
    }
    Ok(Response::from_json(&StartAnswer {
        location: location.into(),
        display_name: found.display_name,
    })?)
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
    no_store(Response::from_json(&SignedIn {
        tokens,
        relay_state: handed.relay_state,
    })?)
}
