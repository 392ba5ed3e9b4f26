//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2) and how a person gets through it.
//!
//! `GET|POST /oauth2/authorize` reads the request (`tessera_jose::oidc`: the client and its redirect URI
//! first, whose errors are shown on a page, then everything else, whose errors go back to the client).
//! When the browser's session ([`super::browser`]) satisfies it — signed in recently enough, stepped up
//! if `acr_values=mfa` asks, consent given (first-party clients are not asked) — the answer is a code at
//! once; `prompt=none` gets `login_required`, `consent_required` or `interaction_required` instead of a
//! page. Otherwise the request is sealed (AES-256-GCM, 15 minutes; nothing is stored) and the browser is
//! sent to the login page with it (`/login?authorize=...`).
//!
//! The login page asks `POST /v1/authorize` what the request still needs (`login`, `step_up`,
//! `consent`, or nothing), signs the person in, steps up, shows the consent screen and records the
//! answer, all through that call with the page's bearer token; once nothing is needed it sends the
//! browser to `GET /oauth2/authorize/resume?request=...`, which decides again from the cookie (a
//! fresh sign-in for `prompt=login` or `max_age` is one at or after the request was first received)
//! and answers the client: a `302` with `code`, `state` and `iss` (RFC 9207), or an auto-submitting form
//! (`response_mode=form_post`).

use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_jose::oidc::{
    needs, stated_acr, AuthorizationRequest, AuthorizeError, ConsentView, Need, Params, Requested,
    ResponseMode, SessionView,
};
use tessera_jose::seal;
use tessera_proto::accounts::Session;
use tessera_proto::audit::{kinds, ActorKind, Outcome as AuditOutcome};
use tessera_proto::oidc::NewCode;
use tessera_proto::{ClientRecord, Code};
use worker::{Context, Env, Method, Request, Response};

use super::browser;
use super::pages;
use crate::config::{key_encryption_key, Config};
use crate::error::ApiError;
use crate::origin::accounts as origin_api;
use crate::people::sessions::{no_store, optional_user};
use crate::tokens::clients;
use crate::{http, now, random_bytes};

/// How long a person has to get through the login page.
const REQUEST_TTL_SECS: i64 = 15 * 60;
const LABEL: &str = "authorization-request";
const AAD: &[u8] = b"tessera/authorization-request/v1";
/// The largest `POST /oauth2/authorize` form and `POST /v1/authorize` body.
const MAX_FORM: usize = 32 * 1024;

/// An authorization request waiting for the person, sealed into the login page's URL.
#[derive(Serialize, Deserialize)]
struct Pending {
    tenant: String,
    req: AuthorizationRequest,
    /// When the request was first received (unix seconds).
    at: i64,
    /// The person an `id_token_hint` named: only their session may answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hinted: Option<String>,
    /// The browser session the request found (not a fresh sign-in for `prompt=login`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    found_sid: Option<String>,
}

fn seal_pending(env: &Env, pending: &Pending) -> Result<String, ApiError> {
    let key = seal::derive(&key_encryption_key(env)?, LABEL);
    let payload = serde_json::to_vec(pending).map_err(|e| ApiError::internal(e.to_string()))?;
    seal::seal(&key, &random_bytes::<12>()?, AAD, &payload)
        .map_err(|e| ApiError::internal(format!("sealing an authorization request: {e}")))
}

/// The pending request `handle` seals, if it is ours, this tenant's, and not older than 15 minutes.
fn open_pending(env: &Env, cfg: &Config, handle: &str) -> Result<Option<Pending>, ApiError> {
    if handle.len() > 16 * 1024 {
        return Ok(None);
    }
    let key = seal::derive(&key_encryption_key(env)?, LABEL);
    let Ok(plain) = seal::open(&key, AAD, handle) else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Pending>(plain.expose_secret())
        .ok()
        .filter(|p| {
            p.tenant == cfg.login.tenant && now().as_secs().saturating_sub(p.at) < REQUEST_TTL_SECS
        }))
}

/// A request that cannot be continued: shown, never sent anywhere.
fn expired_request() -> ApiError {
    ApiError::new(
        400,
        Code::AuthorizationRequestInvalid,
        "this sign-in request has expired or is not valid; go back to the application and start again",
    )
}

/// The client of a request: known, enabled, of this edge's tenant.
async fn client_of(env: &Env, cfg: &Config, client_id: &str) -> Result<ClientRecord, ApiError> {
    clients::lookup(env, cfg, client_id)
        .await?
        .filter(|c| !c.disabled && c.tenant == cfg.login.tenant)
        .ok_or_else(|| ApiError {
            internal_message: Some(format!(
                "authorization request for unknown, disabled or another tenant's client `{}`",
                client_id.escape_debug()
            )),
            ..ApiError::new(
                400,
                Code::InvalidClient,
                "this application is not known here",
            )
        })
}

/// `GET|POST /oauth2/authorize`.
///
/// # Errors
/// Errors about the client or its redirect URI are answered as a page (by the router); every other is
/// sent to the client.
pub async fn authorize(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = if req.method() == Method::Post {
        let ctype = req.headers().get("content-type")?.unwrap_or_default();
        if !ctype
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(ApiError::new(
                400,
                Code::InvalidRequest,
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let body = http::read_body(&mut req, MAX_FORM).await?;
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        req.url()?.query_pairs().into_owned().collect()
    };
    let params = Params::read(pairs);
    let client_id = params.client_id().map_err(page_error)?.to_owned();
    let client = client_of(env, cfg, &client_id).await?;
    let request = match AuthorizationRequest::check(&params, &client) {
        Ok(r) => r,
        Err(e @ AuthorizeError::Page { .. }) => return Err(page_error(e)),
        Err(AuthorizeError::Redirect { code, description }) => {
            // `check` sends errors only once the redirect URI is the client's.
            let target = Target {
                redirect_uri: params.get("redirect_uri").unwrap_or_default().to_owned(),
                response_mode: params.response_mode(),
                state: params.state().map(str::to_owned),
            };
            refused(ctx, env, cfg, &client, None, code, &description);
            return target.error(cfg, code, &description);
        }
    };
    let browser = browser::session(&req, env, cfg).await?;
    let mut pending = Pending {
        tenant: cfg.login.tenant.clone(),
        req: request,
        at: now().as_secs(),
        hinted: None,
        found_sid: browser.as_ref().map(|b| b.sid.clone()),
    };
    // `id_token_hint` (OIDC Core §3.1.2.1): the person the client expects. Signed in as someone else,
    // the browser's session does not count (`prompt=none` answers `login_required`), here and after the
    // login page (the hint travels in the sealed request).
    if let Some(hint) = params.get("id_token_hint") {
        let Some(hinted) = crate::tokens::verify::id_token_hint(env, cfg, hint).await? else {
            let description = "the id_token_hint is not an ID token of this provider";
            refused(
                ctx,
                env,
                cfg,
                &client,
                browser.as_ref(),
                Code::InvalidRequest,
                description,
            );
            return Target::of(&pending.req).error(cfg, Code::InvalidRequest, description);
        };
        pending.hinted = Some(hinted.sub().to_owned());
    }
    proceed(env, ctx, cfg, &client, &pending, browser.as_ref()).await
}

/// `GET /oauth2/authorize/resume?request=...[&error=access_denied]`: where the login page sends the
/// browser once nothing more is needed (or the person declined).
///
/// # Errors
/// An expired or foreign request is shown as a page.
pub async fn resume(
    req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let url = req.url()?;
    let (mut handle, mut declined) = (None, false);
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "request" => handle = Some(v.into_owned()),
            "error" => declined = v == "access_denied",
            _ => {}
        }
    }
    let pending = open_pending(env, cfg, handle.as_deref().unwrap_or_default())?
        .ok_or_else(expired_request)?;
    let client = client_of(env, cfg, &pending.req.client_id).await?;
    let browser = browser::session(&req, env, cfg).await?;
    if declined {
        let description = "the person declined to grant access";
        refused(
            ctx,
            env,
            cfg,
            &client,
            browser.as_ref(),
            Code::AccessDenied,
            description,
        );
        return Target::of(&pending.req).error(cfg, Code::AccessDenied, description);
    }
    proceed(env, ctx, cfg, &client, &pending, browser.as_ref()).await
}

/// Answer `pending` for a browser with `browser` signed in: a code, an error for `prompt=none`, or the
/// login page.
async fn proceed(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    client: &ClientRecord,
    pending: &Pending,
    browser: Option<&Session>,
) -> Result<Response, ApiError> {
    let need = what_is_needed(env, cfg, client, pending, browser).await?;
    match (need, browser) {
        (Need::Nothing, Some(session)) => issue(env, ctx, cfg, client, &pending.req, session).await,
        _ if pending.req.prompt.none => {
            let code = need.prompt_none_error().unwrap_or(Code::LoginRequired);
            let description = match code {
                Code::ConsentRequired => "the person has not consented to this application",
                Code::InteractionRequired => "the person must confirm with their authenticator app",
                _ => "the person is not signed in (or not recently enough)",
            };
            refused(ctx, env, cfg, client, browser, code, description);
            Target::of(&pending.req).error(cfg, code, description)
        }
        _ => {
            let handle = seal_pending(env, pending)?;
            let mut to = url::Url::parse(&cfg.issuer)
                .map_err(|e| ApiError::misconfigured(format!("ISSUER is not a URL: {e}")))?;
            to.set_path("/login");
            to.query_pairs_mut().append_pair("authorize", &handle);
            redirect(to.as_str())
        }
    }
}

/// What stands between `pending` and a code for a browser with `browser` signed in.
async fn what_is_needed(
    env: &Env,
    cfg: &Config,
    client: &ClientRecord,
    pending: &Pending,
    browser: Option<&Session>,
) -> Result<Need, ApiError> {
    // Signed in as someone other than the `id_token_hint` named: as good as not signed in.
    let Some(s) = browser.filter(|b| pending.hinted.as_ref().is_none_or(|h| *h == b.user_id))
    else {
        return Ok(Need::Login);
    };
    let wants_mfa = pending
        .req
        .acr_values
        .iter()
        .any(|a| a == tessera_jose::oidc::ACR_MFA);
    let totp_enrolled = if wants_mfa {
        origin_api::user(env, cfg, &s.tenant, &s.user_id)
            .await?
            .totp
    } else {
        false
    };
    let consent = if client.first_party {
        None
    } else {
        crate::origin::grants::consents(env, cfg, &s.tenant, &s.user_id)
            .await?
            .into_iter()
            .find(|c| c.client_id == client.client_id)
    };
    Ok(needs(
        &pending.req,
        client,
        Requested {
            at: pending.at,
            found_sid: pending.found_sid.as_deref(),
        },
        Some(SessionView {
            sid: &s.sid,
            auth_time: s.auth_time,
            amr: &s.amr,
            acr: &s.acr,
            totp_enrolled,
        }),
        consent.as_ref().map(|c| ConsentView {
            scopes: &c.scopes,
            granted_at: c.granted_at,
        }),
        now().as_secs(),
    ))
}

/// Issue a code for `req` from the browser session `session` and answer the client with it.
async fn issue(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    client: &ClientRecord,
    req: &AuthorizationRequest,
    session: &Session,
) -> Result<Response, ApiError> {
    let new = NewCode {
        client_id: client.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        scopes: req.scopes.clone(),
        user_id: session.user_id.clone(),
        sid: session.sid.clone(),
        acr: stated_acr(req, &session.acr, &session.amr),
    };
    let issued = crate::origin::grants::issue_code(env, cfg, &session.tenant, &new).await?;
    let mut e = crate::audit::event(
        &session.tenant,
        kinds::AUTHORIZATION,
        AuditOutcome::Success,
        crate::audit::actor(ActorKind::User, &session.user_id),
    );
    e.subject = format!("{}:{}", cfg.checks.user_type, session.user_id);
    e.detail.insert("client_id".into(), json!(client.client_id));
    e.detail.insert("scope".into(), json!(req.scopes.join(" ")));
    e.detail.insert("sid".into(), json!(session.sid));
    crate::audit::record(ctx, env, cfg, e);
    Target::of(req).answer(cfg, &[("code", &issued.code)])
}

/// Record a refusal sent to a client (at most what the client itself sees): in full for a signed-in
/// person, sampled for nobody in particular (anyone can send a browser here with a bad request).
fn refused(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    client: &ClientRecord,
    browser: Option<&Session>,
    code: Code,
    description: &str,
) {
    let actor = match browser {
        Some(s) => crate::audit::actor(ActorKind::User, &s.user_id),
        None => crate::audit::actor(ActorKind::Anonymous, ""),
    };
    let mut e = crate::audit::event(
        &client.tenant,
        kinds::AUTHORIZATION,
        AuditOutcome::Failure,
        actor,
    );
    e.code = code.as_str().to_owned();
    e.detail.insert("client_id".into(), json!(client.client_id));
    e.detail.insert("reason".into(), json!(description));
    if browser.is_some() {
        crate::audit::record(ctx, env, cfg, e);
    } else {
        crate::audit::record_sampled(ctx, env, cfg, e);
    }
}

/// Where and how an answer goes.
struct Target {
    redirect_uri: String,
    response_mode: ResponseMode,
    state: Option<String>,
}

impl Target {
    fn of(req: &AuthorizationRequest) -> Self {
        Self {
            redirect_uri: req.redirect_uri.clone(),
            response_mode: req.response_mode,
            state: req.state.clone(),
        }
    }

    fn error(&self, cfg: &Config, code: Code, description: &str) -> Result<Response, ApiError> {
        self.answer(
            cfg,
            &[("error", code.as_str()), ("error_description", description)],
        )
    }

    /// `params`, `state` and `iss` to the redirect URI, as its response mode says.
    fn answer(&self, cfg: &Config, params: &[(&str, &str)]) -> Result<Response, ApiError> {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = &self.state {
            all.push(("state", state));
        }
        all.push(("iss", &cfg.issuer));
        match self.response_mode {
            ResponseMode::Query => {
                let mut to = url::Url::parse(&self.redirect_uri)
                    .map_err(|e| ApiError::internal(format!("a registered redirect URI: {e}")))?;
                to.query_pairs_mut().extend_pairs(all);
                redirect(to.as_str())
            }
            ResponseMode::FormPost => Ok(pages::form_post(&self.redirect_uri, &all)?),
        }
    }
}

fn redirect(location: &str) -> Result<Response, ApiError> {
    let resp = Response::empty()?.with_status(302);
    let headers = resp.headers().clone();
    headers.set("location", location)?;
    headers.set("cache-control", "no-store")?;
    headers.set("referrer-policy", "no-referrer")?;
    Ok(resp.with_headers(headers))
}

fn page_error(e: AuthorizeError) -> ApiError {
    ApiError::new(400, e.code(), e.to_string())
}

/// `POST /v1/authorize` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContinueRequest {
    request: String,
    /// The person's answer on the consent screen.
    #[serde(default)]
    decision: Option<Decision>,
}

#[derive(Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Decision {
    Allow,
    Deny,
}

/// What the login page shows for a pending request.
#[derive(Serialize)]
struct ContinueAnswer {
    /// `login`, `step_up`, `consent`, or `nothing` (then go to `location`).
    need: Need,
    client: ClientShown,
    /// The scopes a consent would grant (`openid` is not one).
    scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_hint: Option<String>,
    /// The application wants a fresh sign-in (`prompt=login`, `max_age`): a company sign-in must ask the
    /// company to authenticate the person again (`/v1/sso/start?fresh=1`).
    fresh: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
}

#[derive(Serialize)]
struct ClientShown {
    client_id: String,
    name: String,
    first_party: bool,
}

/// `POST /v1/authorize` (the login page; bearer optional): what a pending request still needs, and the
/// person's consent decision.
///
/// # Errors
/// `400 authorization_request_invalid` for an expired or foreign request; `401` for a bearer token that
/// is not a live session's.
pub async fn continue_request(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let body = http::read_body(&mut req, MAX_FORM).await?;
    let asked: ContinueRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            format!(
                "body must be {{\"request\": \"...\", \"decision\"?: \"allow\"|\"deny\"}}: {e}"
            ),
        )
    })?;
    let pending = open_pending(env, cfg, &asked.request)?.ok_or_else(expired_request)?;
    let client = client_of(env, cfg, &pending.req.client_id).await?;
    // JSON only: a cross-site page cannot send it without a CORS preflight, which this path never
    // answers (and the `SameSite=Lax` cookie stays home on cross-site requests anyway).
    let ctype = req.headers().get("content-type")?.unwrap_or_default();
    if !ctype.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            400,
            Code::InvalidRequest,
            "the body must be application/json",
        ));
    }
    let who = optional_user(&req, env, cfg).await?;
    let browser = browser::session(&req, env, cfg).await?;
    // The browser's session decides (the resume will read the same cookie). When the page is signed in
    // too, it must be that session: any other pairing signs in again.
    let bearer_session = who.as_ref().map(|w| w.sid.clone());
    let session = match (bearer_session, browser) {
        (Some(sid), Some(b)) if b.sid == sid => Some(b),
        (None, Some(b)) => Some(b),
        _ => None,
    };
    let resume = |extra: &str| {
        format!(
            "/oauth2/authorize/resume?request={}{extra}",
            url::form_urlencoded::byte_serialize(asked.request.as_bytes()).collect::<String>()
        )
    };
    // A step-up is made with the page's own token: a page that has none signs in first.
    let signed_in_page = who.is_some();
    let shown = |need: Need| {
        if need == Need::StepUp && !signed_in_page {
            Need::Login
        } else {
            need
        }
    };
    let mut need = shown(what_is_needed(env, cfg, &client, &pending, session.as_ref()).await?);
    let mut location = None;
    if let (Some(decision), Some(s)) = (asked.decision, &session) {
        if need == Need::Consent {
            if decision == Decision::Allow {
                let scopes = pending.req.consent_scopes();
                crate::origin::grants::grant_consent(
                    env,
                    cfg,
                    &s.tenant,
                    &s.user_id,
                    &client.client_id,
                    scopes.clone(),
                )
                .await?;
                crate::people::sessions::record_user(
                    ctx,
                    env,
                    cfg,
                    &s.tenant,
                    &s.user_id,
                    kinds::CONSENT_GRANTED,
                    json!({ "client_id": client.client_id, "scope": scopes.join(" ") }),
                );
                need = shown(what_is_needed(env, cfg, &client, &pending, Some(s)).await?);
            } else {
                location = Some(resume("&error=access_denied"));
            }
        }
    }
    if need == Need::Nothing && location.is_none() {
        location = Some(resume(""));
    }
    no_store(Response::from_json(&ContinueAnswer {
        need,
        client: ClientShown {
            client_id: client.client_id.clone(),
            name: client.display_name().to_owned(),
            first_party: client.first_party,
        },
        scopes: pending.req.consent_scopes(),
        login_hint: pending.req.login_hint.clone(),
        fresh: pending.req.prompt.login || pending.req.max_age.is_some(),
        location,
    })?)
}
