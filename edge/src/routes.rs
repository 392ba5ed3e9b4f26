//! Routing, the well-known documents, `/v1/tokens/verify` and the admin endpoints.

use serde_json::json;
use subtle::ConstantTimeEq as _;
use tessera_proto::oauth::ServerMetadata;
use tessera_proto::verify::{VerifyRequest, VerifyResponse};
use tessera_proto::Code;
use worker::{Context, Env, Method, Request, Response};

use crate::checks::endpoints;
use crate::config::{secret, Config};
use crate::error::{ApiError, Shape};
use crate::tokens::verify::{verify, Outcome};
use crate::tokens::{keyring, oauth};
use crate::{http, log};

/// The largest body of `POST /v1/tokens/verify`.
const MAX_VERIFY_BODY: usize = 16 * 1024;

pub async fn dispatch(req: Request, env: &Env, ctx: &Context) -> Result<Response, ApiError> {
    let path = req.path();
    let method = req.method();
    // Only in a build with the `bench` feature (never the production build), and only with the var set.
    #[cfg(feature = "bench")]
    if path.starts_with("/__bench/") && crate::bench::enabled(env) {
        let cfg = Config::from_env(env)?;
        return crate::bench::handle(req, env, ctx, &cfg).await;
    }
    if method == Method::Options && CORS_PATHS.contains(&path.as_str()) {
        return preflight();
    }
    let allowed: &[Method] = match path.as_str() {
        "/oauth2/authorize" | "/oauth2/userinfo" | "/oauth2/logout" => &[Method::Get, Method::Post],
        "/healthz"
        | "/login"
        | "/login.js"
        | "/v1/sso/start"
        | "/v1/sso/connections"
        | "/.well-known/jwks.json"
        | "/.well-known/openid-configuration"
        | "/.well-known/oauth-authorization-server"
        | "/oauth2/authorize/resume"
        | "/v1/consents"
        | "/v1/account"
        | "/admin/keys" => &[Method::Get],
        "/oauth2/token"
        | "/oauth2/introspect"
        | "/oauth2/revoke"
        | "/v1/authorize"
        | "/v1/consents/revoke"
        | "/v1/tokens/verify"
        | "/v1/check"
        | "/v1/check/bulk"
        | "/v1/passkeys/register/options"
        | "/v1/passkeys/register/verify"
        | "/v1/passkeys/login/options"
        | "/v1/passkeys/login/verify"
        | "/v1/totp/enroll"
        | "/v1/totp/confirm"
        | "/v1/totp/verify"
        | "/v1/passkeys/rename"
        | "/v1/passkeys/remove"
        | "/v1/sessions/revoke"
        | "/v1/recovery/sign-in"
        | "/v1/recovery/codes"
        | "/v1/sessions/logout"
        | "/v1/sessions/logout-all"
        | "/v1/sso/exchange"
        | "/admin/keys/rotate" => &[Method::Post],
        _ => {
            return Err(ApiError::new(
                404,
                Code::NotFound,
                format!("no endpoint `{path}`"),
            ))
        }
    };
    if !allowed.contains(&method) {
        let shape = if path.starts_with("/oauth2/") {
            Shape::OAuth
        } else {
            Shape::Tessera
        };
        let e = ApiError::new(
            405,
            Code::MethodNotAllowed,
            format!(
                "`{path}` accepts {}",
                allowed
                    .iter()
                    .map(Method::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return Err(if shape == Shape::OAuth {
            ApiError {
                shape,
                code: Code::InvalidRequest,
                ..e
            }
        } else {
            e
        });
    }
    // No endpoint takes a body larger than this; each reader bounds its own more tightly (`http::read_body`).
    http::check_declared_length(&req, http::MAX_BODY).map_err(|e| {
        if path.starts_with("/oauth2/") {
            ApiError {
                shape: Shape::OAuth,
                code: Code::InvalidRequest,
                ..e
            }
        } else {
            e
        }
    })?;
    let mut cfg = Config::from_env(env)?;
    cfg.request_id = crate::audit::request_id(&req);
    cfg.device = crate::people::device::describe(
        &req.headers()
            .get("user-agent")
            .ok()
            .flatten()
            .unwrap_or_default(),
    );
    let answer = route(req, env, ctx, &cfg, &path).await;
    if let Err(e) = &answer {
        crate::audit::refused(ctx, env, &cfg, &path, e);
    }
    if CORS_PATHS.contains(&path.as_str()) {
        return match answer {
            Ok(resp) => Ok(cors(resp)?),
            Err(e) => Ok(cors(e.into_response()?)?),
        };
    }
    answer
}

/// Endpoints a browser application on another origin calls with tokens, never cookies (a public
/// client's token requests, revocation, userinfo): any origin may, without credentials.
const CORS_PATHS: &[&str] = &[
    "/oauth2/token",
    "/oauth2/revoke",
    "/oauth2/userinfo",
    "/.well-known/jwks.json",
];

fn cors(resp: Response) -> worker::Result<Response> {
    let headers = resp.headers().clone();
    headers.set("access-control-allow-origin", "*")?;
    headers.set("access-control-expose-headers", "www-authenticate")?;
    Ok(resp.with_headers(headers))
}

/// The answer to a CORS preflight of one of [`CORS_PATHS`].
fn preflight() -> Result<Response, ApiError> {
    let resp = Response::empty()?.with_status(204);
    let headers = resp.headers().clone();
    headers.set("access-control-allow-origin", "*")?;
    headers.set("access-control-allow-methods", "GET, POST")?;
    headers.set(
        "access-control-allow-headers",
        "authorization, content-type, dpop",
    )?;
    headers.set("access-control-max-age", "86400")?;
    Ok(resp.with_headers(headers))
}

async fn route(
    req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    path: &str,
) -> Result<Response, ApiError> {
    match path {
        "/healthz" => Ok(Response::from_json(
            &json!({"status": "ok", "service": "tessera-edge"}),
        )?),
        "/.well-known/jwks.json" => jwks(env, cfg).await,
        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" => {
            metadata(cfg)
        }
        "/oauth2/token" => oauth::token(req, env, ctx, cfg)
            .await
            .map_err(|e| e.with_shape(Shape::OAuth)),
        "/oauth2/introspect" => oauth::introspect(req, env, ctx, cfg)
            .await
            .map_err(|e| e.with_shape(Shape::OAuth)),
        "/oauth2/authorize" => crate::oidc::authorize::authorize(req, env, ctx, cfg)
            .await
            .map_err(|e| e.with_shape(Shape::Page)),
        "/oauth2/authorize/resume" => crate::oidc::authorize::resume(req, env, ctx, cfg)
            .await
            .map_err(|e| e.with_shape(Shape::Page)),
        "/v1/authorize" => crate::oidc::authorize::continue_request(req, env, ctx, cfg).await,
        "/oauth2/revoke" => crate::oidc::endpoints::revoke(req, env, ctx, cfg)
            .await
            .map_err(|e| e.with_shape(Shape::OAuth)),
        "/oauth2/userinfo" => crate::oidc::endpoints::userinfo(req, env, cfg)
            .await
            .map_err(|e| e.with_shape(Shape::OAuth)),
        "/oauth2/logout" => crate::oidc::endpoints::logout(req, env, ctx, cfg)
            .await
            .map_err(|e| e.with_shape(Shape::Page)),
        "/v1/consents" => crate::oidc::endpoints::consents(req, env, cfg).await,
        "/v1/consents/revoke" => crate::oidc::endpoints::revoke_consent(req, env, ctx, cfg).await,
        "/v1/tokens/verify" => verify_endpoint(req, env, ctx, cfg).await,
        "/login" => crate::people::login_page::serve(&req, env, cfg).await,
        "/login.js" => crate::people::login_page::script(),
        "/v1/account" => crate::people::account::account(req, env, cfg).await,
        "/v1/passkeys/register/options" => {
            crate::people::passkeys::register_options(req, env, cfg).await
        }
        "/v1/passkeys/register/verify" => {
            crate::people::passkeys::register_verify(req, env, ctx, cfg).await
        }
        "/v1/passkeys/login/options" => crate::people::passkeys::login_options(req, env, cfg).await,
        "/v1/passkeys/login/verify" => {
            crate::people::passkeys::login_verify(req, env, ctx, cfg).await
        }
        "/v1/totp/enroll" => crate::people::totp::totp_enroll(req, env, ctx, cfg).await,
        "/v1/totp/confirm" => crate::people::totp::totp_confirm(req, env, ctx, cfg).await,
        "/v1/totp/verify" => crate::people::totp::totp_verify(req, env, ctx, cfg).await,
        "/v1/passkeys/rename" => crate::people::account::rename_passkey(req, env, ctx, cfg).await,
        "/v1/passkeys/remove" => crate::people::account::remove_passkey(req, env, ctx, cfg).await,
        "/v1/sessions/revoke" => crate::people::account::revoke_session(req, env, ctx, cfg).await,
        "/v1/recovery/sign-in" => crate::people::recovery::sign_in(req, env, ctx, cfg).await,
        "/v1/recovery/codes" => crate::people::recovery::new_codes(req, env, ctx, cfg).await,
        "/v1/sessions/logout" => crate::people::sessions::logout(req, env, ctx, cfg).await,
        "/v1/sso/start" => crate::people::sso::start(req, env, cfg).await,
        "/v1/sso/connections" => crate::people::sso::connections(env, cfg).await,
        "/v1/sso/exchange" => crate::people::sso::exchange(req, env, ctx, cfg).await,
        "/v1/sessions/logout-all" => crate::people::sessions::logout_all(req, env, ctx, cfg).await,
        "/v1/check" => endpoints::answer::<endpoints::Check>(req, env, ctx, cfg).await,
        "/v1/check/bulk" => endpoints::answer::<endpoints::CheckBulk>(req, env, ctx, cfg).await,
        "/admin/keys" => {
            require_admin(&req, env)?;
            let ring = keyring::current(env, cfg).await?;
            Ok(Response::from_json(&ring.status(None))?)
        }
        "/admin/keys/rotate" => {
            require_admin(&req, env)?;
            let rotated = keyring::rotate(env).await?;
            let mut e = crate::audit::event(
                &cfg.login.tenant,
                tessera_proto::audit::kinds::KEY_ROTATED,
                tessera_proto::audit::Outcome::Success,
                crate::audit::actor(tessera_proto::audit::ActorKind::Service, "admin"),
            );
            if let Ok(serde_json::Value::Object(status)) = serde_json::to_value(&rotated) {
                e.detail = status;
            }
            crate::audit::record(ctx, env, cfg, e);
            Ok(Response::from_json(&rotated)?)
        }
        _ => Err(ApiError::new(
            404,
            Code::NotFound,
            format!("no endpoint `{path}`"),
        )),
    }
}

async fn jwks(env: &Env, cfg: &Config) -> Result<Response, ApiError> {
    let ring = keyring::current(env, cfg).await?;
    let resp = Response::from_json(&ring.jwks().to_json())?;
    let headers = resp.headers().clone();
    headers.set("content-type", "application/jwk-set+json")?;
    // Verifiers may cache this long; the rotation policy publishes keys at least this long before use.
    headers.set(
        "cache-control",
        &format!("public, max-age={}", cfg.policy.jwks_max_age),
    )?;
    headers.set("access-control-allow-origin", "*")?;
    Ok(resp.with_headers(headers))
}

fn metadata(cfg: &Config) -> Result<Response, ApiError> {
    let iss = &cfg.issuer;
    let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let client_auth = list(&["client_secret_basic", "client_secret_post"]);
    let doc = ServerMetadata {
        issuer: iss.clone(),
        authorization_endpoint: format!("{iss}/oauth2/authorize"),
        token_endpoint: format!("{iss}/oauth2/token"),
        userinfo_endpoint: format!("{iss}/oauth2/userinfo"),
        jwks_uri: format!("{iss}/.well-known/jwks.json"),
        introspection_endpoint: format!("{iss}/oauth2/introspect"),
        revocation_endpoint: format!("{iss}/oauth2/revoke"),
        end_session_endpoint: format!("{iss}/oauth2/logout"),
        scopes_supported: list(tessera_jose::oidc::STANDARD_SCOPES),
        response_types_supported: list(&["code"]),
        response_modes_supported: list(&["query", "form_post"]),
        grant_types_supported: list(&["authorization_code", "refresh_token", "client_credentials"]),
        token_endpoint_auth_methods_supported: list(&[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ]),
        introspection_endpoint_auth_methods_supported: client_auth.clone(),
        revocation_endpoint_auth_methods_supported: list(&[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ]),
        code_challenge_methods_supported: list(&["S256"]),
        subject_types_supported: list(&["public"]),
        id_token_signing_alg_values_supported: list(&["ES256"]),
        acr_values_supported: list(tessera_jose::oidc::ACR_VALUES),
        prompt_values_supported: list(&["none", "login", "consent", "select_account"]),
        claims_supported: list(&[
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "at_hash",
            "sid",
            "tid",
            "name",
            "preferred_username",
        ]),
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        authorization_response_iss_parameter_supported: true,
    };
    let resp = Response::from_json(&doc)?;
    let headers = resp.headers().clone();
    headers.set("cache-control", "public, max-age=3600")?;
    headers.set("access-control-allow-origin", "*")?;
    Ok(resp.with_headers(headers))
}

async fn verify_endpoint(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let body = http::read_body(&mut req, MAX_VERIFY_BODY).await?;
    let parsed: VerifyRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            format!("body must be {{\"token\": \"...\", \"audience\"?: \"...\"}}: {e}"),
        )
    })?;
    let audience = parsed.audience.as_deref().unwrap_or(&cfg.default_audience);
    match verify(env, cfg, &parsed.token, Some(audience), crate::now()).await? {
        Outcome::Valid(v) => Ok(Response::from_json(&VerifyResponse {
            valid: true,
            kid: Some(v.kid().to_owned()),
            claims: Some(v.into_claims()),
            error: None,
            message: None,
        })?),
        Outcome::Invalid(e) => {
            log::info(
                "token_refused",
                &[
                    ("reason", json!(e.code())),
                    ("detail", json!(e.to_string())),
                ],
            );
            let mut event = crate::audit::event(
                &cfg.login.tenant,
                tessera_proto::audit::kinds::TOKEN_VERIFY_FAILED,
                tessera_proto::audit::Outcome::Failure,
                crate::audit::actor(tessera_proto::audit::ActorKind::Anonymous, ""),
            );
            event.code = e.code().as_str().to_owned();
            event.detail.insert("audience".into(), json!(audience));
            crate::audit::record_sampled(ctx, env, cfg, event);
            Ok(Response::from_json(&VerifyResponse {
                valid: false,
                kid: None,
                claims: None,
                error: Some(e.code().to_string()),
                message: Some(e.to_string()),
            })?
            .with_status(401))
        }
    }
}

fn require_admin(req: &Request, env: &Env) -> Result<(), ApiError> {
    let expected = secret(env, "ADMIN_TOKEN")?;
    let presented = http::bearer(req)?.unwrap_or_default();
    if expected.expose_secret().len() >= 32
        && bool::from(
            expected
                .expose_secret()
                .as_bytes()
                .ct_eq(presented.as_bytes()),
        )
    {
        Ok(())
    } else {
        Err(ApiError::new(
            401,
            Code::Unauthorized,
            "missing or invalid admin credential",
        ))
    }
}
