//! "Sign in with your company": the edge's half of a federated (SAML) sign-in.
//!
//! The origin runs the SAML exchange with the company's identity provider and, once the assertion is
//! verified and the person found or created, sends the browser back to `/login` with a single-use
//! hand-off code in the URL fragment (`#sso_code=...`, which no server logs). The page posts it to
//! `POST /v1/sso/exchange`; the edge spends it at the origin over the service credential and answers the
//! usual token pair (access token with `amr: ["fed"]`, refresh token), plus the relay state the person
//! started from. A code is good once, for 60 seconds, and only for the login page's tenant.

use serde::{Deserialize, Serialize};
use tessera_proto::oauth::TokenResponse;
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
