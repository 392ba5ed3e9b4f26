//! Who asks a permission question, and what: the first stage of `/v1/check` and `/v1/check/bulk`.
//!
//! Callers authenticate with an access token of this edge. A token with the scope `authz:check` (a
//! service) may ask any question in its tenant; any other token only about its own subject
//! (`client:{client_id}` for client credentials, `{CHECK_USER_TYPE}:{sub}` for a user), and a person's
//! token only while its session lives.

use serde::de::DeserializeOwned;
use tessera_authz::caller::{Caller, CallerClaims};
use tessera_proto::Code;
use worker::{Env, Request};

use crate::checks::answers::{valid_tenant, Question};
use crate::config::Config;
use crate::error::ApiError;

use crate::tokens::verify::{verify, Outcome};

/// The caller, then the body (`shape` describes it in the error): what both endpoints start with.
///
/// # Errors
/// `401` for a missing or refused token or an ended session, `400` for a malformed body.
pub(crate) async fn read_request<T: DeserializeOwned>(
    req: &mut Request,
    env: &Env,
    cfg: &Config,
    shape: &str,
) -> Result<(Caller, T), ApiError> {
    let caller = authenticate(req, env, cfg).await?;
    let body = crate::http::read_body(req, crate::http::MAX_BODY).await?;
    let body = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            format!("body must be {shape}: {e}"),
        )
    })?;
    Ok((caller, body))
}

async fn authenticate(req: &Request, env: &Env, cfg: &Config) -> Result<Caller, ApiError> {
    let refused = |detail: String| ApiError {
        www_authenticate: Some("Bearer realm=\"tessera\""),
        internal_message: Some(detail),
        ..ApiError::new(401, Code::Unauthorized, "a valid access token is required")
    };
    let token = crate::http::bearer(req)?.ok_or_else(|| refused("no bearer token".to_owned()))?;
    let claims = match verify(env, cfg, &token, None, crate::now()).await? {
        Outcome::Valid(v) => v.into_claims(),
        Outcome::Invalid(e) => {
            return Err(refused(format!("check: token refused ({}): {e}", e.code())))
        }
    };
    let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
    let caller = Caller::from_claims(
        CallerClaims {
            tid: text("tid"),
            sub: text("sub"),
            client_id: text("client_id"),
            scope: text("scope"),
        },
        &cfg.checks.user_type,
        valid_tenant,
    )
    .map_err(|e| refused(format!("check: {e}")))?;
    // A person's token is good only while its session lives: after a logout it asks nothing more.
    if let (Some(sid), Some(sub)) = (text("sid"), text("sub")) {
        if !crate::checks::session_liveness::active_for_checks(env, cfg, &caller.tenant, sub, sid)
            .await?
        {
            return Err(refused(format!("check: session {sid} has ended")));
        }
    }
    Ok(caller)
}

/// The question, parsed, if the caller may ask about its subject (`403 forbidden_subject` otherwise).
///
/// # Errors
/// `400` for a malformed question, `403` for another's subject.
pub(crate) fn question(
    caller: &Caller,
    item: &tessera_proto::check::CheckItem,
) -> Result<Question, ApiError> {
    let q = Question::parse(item)?;
    caller
        .may_ask(&q.subject)
        .map_err(|e| ApiError::new(403, e.code(), e.to_string()))?;
    Ok(q)
}
