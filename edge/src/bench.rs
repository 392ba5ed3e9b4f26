//! Benchmark routes: compiled in only with the cargo feature `bench` (`TESSERA_EDGE_FEATURES=bench
//! scripts/build-edge`, which builds into `edge/build-bench`; the production build leaves them out), and
//! even then answering only when the var `BENCH_ROUTES` is `danger-enabled` (never set in wrangler.toml). `scripts/bench` times them from outside: in workerd the clock does not
//! advance while code runs, so CPU per operation is (time for n ops − time for 0 ops) / n.
//!
//! - `POST /__bench/verify?n=N&memo=0|1&stage=0|1` body = a token: verify it `n` times (memo=0: parse +
//!   WebCrypto signature + claims every time; memo=1: through the per-isolate memo, as `/v1/tokens/verify`
//!   does; stage=1: parse and claims only, no signature).
//! - `POST /__bench/issue?n=N`: sign `n` access tokens with the active key through WebCrypto.
//! - `POST /__bench/check?n=N&tenant=T&mode=isolate|kv|origin` body = `{resource, permission, subject}`:
//!   decide it `n` times as `/v1/check` does after authentication: `isolate` (minimize_latency, answered
//!   from isolate memory once warm), `kv` (isolate memory emptied before each, so KV answers), `origin`
//!   (fully_consistent: the origin every time).
//! - `POST /__bench/forget`: empty this isolate's decision memory (the next `/v1/check` is answered from
//!   KV: the audit test's tier coverage).
//! - `POST /__bench/passkey?n=N` body = `{public_key, challenge, user_handle, credential}` (a stored COSE
//!   key and an assertion, base64url): verify the assertion `n` times as sign-in does (WebCrypto).

use tessera_jose::{issue_access_token, UntrustedToken, VerifyOptions};
use tessera_proto::check::{CheckItem, Consistency};
use tessera_proto::Code;
use tessera_proto::{AccessTokenClaims, Audience};
use worker::{Context, Env, Request, Response};

use crate::checks::answers::{Question, Source};
use crate::checks::decisions;
use crate::config::Config;
use crate::error::ApiError;
use crate::tokens::keyring;
use crate::tokens::verify::{verify, Outcome};
use crate::tokens::webcrypto::WebCryptoVerifier;

pub fn enabled(env: &Env) -> bool {
    env.var("BENCH_ROUTES")
        .is_ok_and(|v| v.to_string() == "danger-enabled")
}

fn param(req: &Request, name: &str) -> Result<u32, ApiError> {
    let url = req.url()?;
    let value = url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    value.parse().map_err(|_| {
        ApiError::new(
            400,
            Code::InvalidRequest,
            format!("`{name}` must be a number"),
        )
    })
}

pub async fn handle(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
) -> Result<Response, ApiError> {
    let n = param(&req, "n")?.min(100_000);
    let now = crate::now();
    match req.path().as_str() {
        "/__bench/verify" => {
            let token = req.text().await?;
            let memo = param(&req, "memo").unwrap_or(0) == 1;
            // stage=1: parse and claim checks only (no signature), to split Rust cost from WebCrypto's.
            let stage = param(&req, "stage").unwrap_or(0);
            let parse_only = stage == 1;
            // stage=2: await an already-resolved promise: the cost of bridging one JS promise into Rust.
            if stage == 2 {
                for _ in 0..n {
                    let _ = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(
                        &wasm_bindgen::JsValue::TRUE,
                    ))
                    .await;
                }
                return Ok(Response::from_json(
                    &serde_json::json!({ "n": n, "valid": n }),
                )?);
            }
            let ring = keyring::current(env, cfg).await?;
            let opts = VerifyOptions {
                issuer: &cfg.issuer,
                audience: None,
                leeway: cfg.policy.leeway,
            };
            let mut ok = 0u32;
            for _ in 0..n {
                let valid = if parse_only {
                    UntrustedToken::parse(&token)
                        .is_ok_and(|t| t.check_claims_unverified(&opts, now).is_ok())
                } else if memo {
                    matches!(
                        verify(env, cfg, &token, None, now).await?,
                        Outcome::Valid(_)
                    )
                } else {
                    match UntrustedToken::parse(&token) {
                        Ok(t) => match t.check_signature(&*ring, &WebCryptoVerifier).await {
                            Ok(c) => c.validate(&opts, now).is_ok(),
                            Err(_) => false,
                        },
                        Err(_) => false,
                    }
                };
                ok += u32::from(valid);
            }
            Ok(Response::from_json(
                &serde_json::json!({ "n": n, "valid": ok }),
            )?)
        }
        "/__bench/issue" => {
            let ring = keyring::current(env, cfg).await?;
            let signer = keyring::active_signer(env, &ring).await?;
            let mut claims = AccessTokenClaims {
                iss: cfg.issuer.clone(),
                sub: "bench".into(),
                aud: Audience::One(cfg.default_audience.clone()),
                exp: now.plus_secs(300).as_secs(),
                iat: now.as_secs(),
                nbf: None,
                jti: String::new(),
                client_id: "bench".into(),
                scope: Some("read".into()),
                tid: "bench".into(),
                roles: None,
                amr: None,
                acr: None,
                auth_time: None,
                sid: None,
            };
            let mut bytes = 0usize;
            for i in 0..n {
                claims.jti = i.to_string();
                let t = issue_access_token(&signer, &claims)
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                bytes += t.len();
            }
            Ok(Response::from_json(
                &serde_json::json!({ "n": n, "bytes": bytes }),
            )?)
        }
        // Empty this isolate's decision memory: the next check is answered from KV (tests of the tiers).
        "/__bench/forget" => {
            crate::checks::tiers::forget_isolate_decisions();
            Ok(Response::from_json(
                &serde_json::json!({ "forgotten": true }),
            )?)
        }
        "/__bench/check" => {
            let url = req.url()?;
            let query = |name: &str| {
                url.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let (tenant, mode) = (query("tenant"), query("mode"));
            let item: CheckItem = serde_json::from_slice(&req.bytes().await?)
                .map_err(|e| ApiError::new(400, Code::InvalidRequest, e.to_string()))?;
            let q = [Question::parse(&item)?];
            let consistency = if mode == "origin" {
                Consistency::FullyConsistent
            } else {
                Consistency::MinimizeLatency
            };
            let (mut allowed, mut sources) = (0u32, Vec::new());
            for _ in 0..n {
                if mode == "kv" {
                    crate::checks::tiers::forget_isolate_decisions();
                }
                let batch = decisions::decide(
                    env,
                    ctx,
                    cfg,
                    &tenant,
                    &q,
                    (&consistency, &crate::checks::from_origin::Context::new()),
                )
                .await?;
                allowed += u32::from(
                    batch
                        .results
                        .iter()
                        .any(|r| r.as_ref().is_ok_and(|d| d.allowed)),
                );
                if !sources.contains(&batch.source) {
                    sources.push(batch.source);
                }
            }
            let sources: Vec<&str> = sources
                .iter()
                .map(|s| match s {
                    Source::Isolate => "isolate",
                    Source::Kv => "kv",
                    Source::Origin => "origin",
                })
                .collect();
            Ok(Response::from_json(
                &serde_json::json!({ "n": n, "allowed": allowed, "sources": sources }),
            )?)
        }
        "/__bench/passkey" => {
            #[derive(serde::Deserialize)]
            struct Body {
                public_key: String,
                challenge: String,
                user_handle: String,
                credential: tessera_proto::passkeys::AuthenticationCredential,
            }
            let b: Body = serde_json::from_slice(&req.bytes().await?)
                .map_err(|e| ApiError::new(400, Code::InvalidRequest, e.to_string()))?;
            let d = |s: &str| {
                tessera_jose::b64::decode(s)
                    .map_err(|()| ApiError::new(400, Code::InvalidRequest, "base64url"))
            };
            let (key, challenge, handle) =
                (d(&b.public_key)?, d(&b.challenge)?, d(&b.user_handle)?);
            let r = &b.credential.response;
            let (cdj, ad, sig, raw_id) = (
                d(&r.client_data_json)?,
                d(&r.authenticator_data)?,
                d(&r.signature)?,
                d(&b.credential.raw_id)?,
            );
            let rp = cfg.login.relying_party()?;
            let mut ok = 0u32;
            for _ in 0..n {
                let verified = tessera_authn::webauthn::verify_authentication(
                    rp,
                    &challenge,
                    &tessera_authn::webauthn::AssertionResponse {
                        raw_id: &raw_id,
                        client_data_json: &cdj,
                        authenticator_data: &ad,
                        signature: &sig,
                        user_handle: Some(&handle),
                    },
                    &tessera_authn::webauthn::StoredCredential {
                        id: &raw_id,
                        public_key_cose: &key,
                        sign_count: 0,
                        user_handle: &handle,
                        backup_eligible: false,
                    },
                    true,
                    &crate::tokens::webcrypto::WebCryptoPasskeyVerifier,
                )
                .await;
                ok += u32::from(verified.is_ok());
            }
            Ok(Response::from_json(
                &serde_json::json!({ "n": n, "valid": ok }),
            )?)
        }
        _ => Err(ApiError::new(404, Code::NotFound, "no such bench route")),
    }
}
