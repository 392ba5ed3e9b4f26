//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3.1): the
//! form they read, a confidential client's credentials (HTTP Basic or the form, never both), and a public
//! client named by `client_id`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tessera_proto::audit::{kinds, ActorKind};
use tessera_proto::{ClientKind, ClientRecord, Code};
use worker::{Context, Env, Request, Response};

use crate::config::Config;
use crate::error::ApiError;
use crate::http;
use crate::tokens::clients;

/// The largest form body `/oauth2/token` and `/oauth2/introspect` read.
const MAX_FORM: usize = 16 * 1024;

/// Form parameters, refusing repeats (RFC 6749 §3.1: "MUST NOT be included more than once").
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) async fn read(req: &mut Request) -> Result<Self, ApiError> {
        let ctype = req.headers().get("content-type")?.unwrap_or_default();
        if !ctype
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(ApiError::oauth(
                400,
                Code::InvalidRequest,
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let body = http::read_body(req, MAX_FORM).await.map_err(|e| {
            if e.status == 413 {
                ApiError::oauth(413, Code::InvalidRequest, "the request body is too large")
            } else {
                e
            }
        })?;
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs.iter().skip(i + 1).any(|(k2, _)| k2 == k) {
                return Err(ApiError::oauth(
                    400,
                    Code::InvalidRequest,
                    format!("parameter `{k}` is repeated"),
                ));
            }
        }
        Ok(Self(pairs))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// RFC 6749 §2.3.1: HTTP Basic (form-urlencoded id and secret) or `client_id` + `client_secret` in the body;
/// never both. The header is parsed, never sliced: any text in it is an `invalid_client`, not a panic.
fn client_credentials(req: &Request, form: &Form) -> Result<(String, String), ApiError> {
    let header = req.headers().get("authorization")?;
    let in_body = form.get("client_secret").is_some();
    match header {
        Some(h) if http::scheme(&h).eq_ignore_ascii_case("basic") => {
            if in_body {
                return Err(ApiError::oauth(
                    400,
                    Code::InvalidRequest,
                    "use one client authentication method, not two",
                ));
            }
            let encoded = http::credentials(&h, "Basic")
                .ok_or_else(|| ApiError::invalid_client("basic scheme without credentials"))?;
            basic_credentials(encoded)
        }
        Some(_) => Err(ApiError::invalid_client("unsupported authorization scheme")),
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => Ok((id.to_owned(), secret.to_owned())),
            _ => Err(ApiError::invalid_client("no client credentials")),
        },
    }
}

/// `base64(urlencoded id ":" urlencoded secret)` (RFC 6749 §2.3.1) as the id and the secret.
fn basic_credentials(encoded: &str) -> Result<(String, String), ApiError> {
    let decoded = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::invalid_client("basic credentials are not base64 utf-8"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| ApiError::invalid_client("basic credentials lack `:`"))?;
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((decode(id), decode(secret)))
}

/// The client the request authenticates as. A refusal for a client that exists (a wrong secret, a
/// disabled client) is recorded in its tenant's audit trail, as that client's (`kind`); one for an unknown
/// client is left to the router's sampled record of anonymous refusals.
pub(crate) async fn authenticated_client(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    req: &Request,
    form: &Form,
    kind: &str,
) -> Result<ClientRecord, ApiError> {
    let (client_id, secret) = client_credentials(req, form)?;
    let record = clients::lookup(env, cfg, &client_id)
        .await?
        .ok_or_else(|| ApiError::invalid_client(format!("unknown client `{client_id}`")))?;
    clients::authenticate(&record, &secret).map_err(|e| {
        crate::audit::refused_as(
            ctx,
            env,
            cfg,
            &record.tenant,
            kind,
            crate::audit::actor(ActorKind::Client, &record.client_id),
            e,
        )
    })?;
    Ok(record)
}

pub(crate) fn no_store(resp: Response) -> worker::Result<Response> {
    let headers = resp.headers().clone();
    headers.set("cache-control", "no-store")?;
    headers.set("pragma", "no-cache")?;
    Ok(resp.with_headers(headers))
}

/// The client making a code or refresh request: authenticated when it presents a secret (it must then
/// be confidential), else a public client named by `client_id`.
pub(crate) async fn requesting_client(
    req: &Request,
    form: &Form,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<ClientRecord, ApiError> {
    let presents_secret =
        req.headers().get("authorization")?.is_some() || form.get("client_secret").is_some();
    if presents_secret {
        return authenticated_client(env, ctx, cfg, req, form, kinds::TOKEN_REFUSED).await;
    }
    let client_id = form
        .get("client_id")
        .ok_or_else(|| ApiError::invalid_client("no client credentials and no client_id"))?;
    let client = clients::lookup(env, cfg, client_id)
        .await?
        .ok_or_else(|| ApiError::invalid_client(format!("unknown client `{client_id}`")))?;
    if client.disabled {
        return Err(ApiError::invalid_client(format!(
            "client {client_id} is disabled"
        )));
    }
    if client.kind != ClientKind::Public {
        return Err(ApiError::invalid_client(format!(
            "confidential client {client_id} did not authenticate"
        )));
    }
    Ok(client)
}
