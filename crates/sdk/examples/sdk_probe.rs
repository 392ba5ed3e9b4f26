//! The Rust SDK driven from outside (tests/blackbox/sdk.test.mjs): JSON commands on stdin, one JSON answer
//! per line on stdout. Not an example of use so much as the SDK under test, beside `jsonwebtoken` (a peer
//! the same corpus is checked with).
//!
//! - `{"cmd":"init","issuer":..,"via":..,"skew_secs":0,"cooldown":30}`: a `Verifier` for `issuer`, whose
//!   requests go to `via` instead (a counting proxy the test controls), with a clock `skew_secs` off.
//! - `{"cmd":"verify","token":..,"audience":..}` → `{"ok":true,"sub":..,"kid":..}` or `{"ok":false,"code":..}`
//! - `{"cmd":"verify_id","token":..,"client_id":..,"nonce":..}` → as `verify`, for an ID token (`nonce`
//!   optional)
//! - `{"cmd":"flood","tokens":[..],"audience":..}`: all at once → `{"codes":[..]}`
//! - `{"cmd":"stats"}` → `{"fetches":..,"failures":..}`
//! - `{"cmd":"jsonwebtoken","token":..,"audience":..,"issuer":..,"jwks":{..}}` → `{"ok":..}`
//! - `{"cmd":"bench","token":..,"audience":..,"issuer":..,"jwks":{..},"n":..}`: the SDK's verification of
//!   one token (keys cached) and jsonwebtoken's (its key decoded once), `n` times each, interleaved in
//!   rounds → `{"sdk_ns":..,"jsonwebtoken_ns":..}` per verification (scripts/bench sdk; build it with
//!   `--release`)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test tool"
)]

use std::io::BufRead as _;
use std::sync::Arc;

use serde_json::{json, Value};
use tessera::transport::{HttpRequest, ReqwestTransport, Sending, Transport};
use tessera::{Clock, SystemClock, UnixTime, Verifier};

/// Sends the issuer's requests to `via`.
struct Via {
    issuer: String,
    via: String,
    inner: ReqwestTransport,
}

impl Transport for Via {
    fn send(&self, mut req: HttpRequest) -> Sending<'_> {
        if let Some(rest) = req.url.strip_prefix(&self.issuer) {
            req.url = format!("{}{rest}", self.via);
        }
        self.inner.send(req)
    }
}

struct Skewed(i64);

impl Clock for Skewed {
    fn now(&self) -> UnixTime {
        UnixTime::from_millis(SystemClock.now().as_millis() + self.0 * 1000)
    }
}

fn answer(r: Result<tessera::VerifiedToken, tessera::Error>) -> Value {
    match r {
        Ok(t) => json!({ "ok": true, "sub": t.sub(), "kid": t.kid() }),
        Err(e) => json!({ "ok": false, "code": e.code(), "message": e.to_string() }),
    }
}

fn peer(cmd: &Value) -> Value {
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
    let token = cmd["token"].as_str().unwrap();
    let Ok(header) = decode_header(token) else {
        return json!({ "ok": false });
    };
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(cmd["jwks"].clone()).unwrap();
    let Some(jwk) = header.kid.as_deref().and_then(|k| jwks.find(k)) else {
        return json!({ "ok": false });
    };
    let Ok(key) = DecodingKey::from_jwk(jwk) else {
        return json!({ "ok": false });
    };
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[cmd["audience"].as_str().unwrap()]);
    v.set_issuer(&[cmd["issuer"].as_str().unwrap()]);
    v.leeway = 30;
    json!({ "ok": decode::<Value>(token, &key, &v).is_ok() })
}

/// Nanoseconds per verification for the SDK and for jsonwebtoken, interleaved in ten rounds.
#[allow(clippy::disallowed_methods, reason = "a benchmark reads the clock")]
async fn bench(v: &Verifier, cmd: &Value) -> Value {
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
    let token = cmd["token"].as_str().unwrap();
    let audience = cmd["audience"].as_str().unwrap();
    let n = cmd["n"].as_u64().unwrap_or(2000);
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(cmd["jwks"].clone()).unwrap();
    let kid = decode_header(token).unwrap().kid.unwrap();
    let key = DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[cmd["issuer"].as_str().unwrap()]);
    let (mut sdk, mut peer) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for _ in 0..10 {
        let start = std::time::Instant::now();
        for _ in 0..n / 10 {
            assert!(v.verify_access_token(token, audience).await.is_ok());
        }
        sdk += start.elapsed();
        let start = std::time::Instant::now();
        for _ in 0..n / 10 {
            assert!(decode::<Value>(token, &key, &validation).is_ok());
        }
        peer += start.elapsed();
    }
    let per = |d: std::time::Duration| d.as_nanos() / u128::from(n / 10 * 10);
    json!({ "sdk_ns": per(sdk), "jsonwebtoken_ns": per(peer), "n": n })
}

#[tokio::main]
async fn main() {
    let mut verifier: Option<Arc<Verifier>> = None;
    for line in std::io::stdin().lock().lines() {
        let cmd: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let out = match cmd["cmd"].as_str().unwrap() {
            "init" => {
                let issuer = cmd["issuer"].as_str().unwrap().to_owned();
                let via = Via {
                    issuer: issuer.clone(),
                    via: cmd["via"].as_str().unwrap_or(&issuer).to_owned(),
                    inner: ReqwestTransport::new().unwrap(),
                };
                let built = Verifier::builder(&issuer)
                    .transport(Arc::new(via))
                    .clock(Arc::new(Skewed(cmd["skew_secs"].as_i64().unwrap_or(0))))
                    .cooldown(u32::try_from(cmd["cooldown"].as_u64().unwrap_or(30)).unwrap())
                    .build()
                    .await;
                match built {
                    Ok(v) => {
                        verifier = Some(Arc::new(v));
                        json!({ "ok": true })
                    }
                    Err(e) => json!({ "ok": false, "code": e.code(), "message": e.to_string() }),
                }
            }
            "verify" => {
                let v = verifier.as_ref().unwrap();
                answer(
                    v.verify_access_token(
                        cmd["token"].as_str().unwrap(),
                        cmd["audience"].as_str().unwrap(),
                    )
                    .await,
                )
            }
            "verify_id" => {
                let v = verifier.as_ref().unwrap();
                answer(
                    v.verify_id_token(
                        cmd["token"].as_str().unwrap(),
                        cmd["client_id"].as_str().unwrap(),
                        cmd["nonce"].as_str(),
                    )
                    .await,
                )
            }
            "flood" => {
                let v = verifier.as_ref().unwrap();
                let audience = cmd["audience"].as_str().unwrap().to_owned();
                let mut all = tokio::task::JoinSet::new();
                for t in cmd["tokens"].as_array().unwrap() {
                    let (v, t, a) = (
                        Arc::clone(v),
                        t.as_str().unwrap().to_owned(),
                        audience.clone(),
                    );
                    all.spawn(async move { answer(v.verify_access_token(&t, &a).await) });
                }
                let mut codes = Vec::new();
                while let Some(r) = all.join_next().await {
                    codes.push(r.unwrap()["code"].clone());
                }
                json!({ "codes": codes })
            }
            "stats" => {
                let s = verifier.as_ref().unwrap().key_stats();
                json!({ "fetches": s.fetches, "failures": s.failures })
            }
            "jsonwebtoken" => peer(&cmd),
            "bench" => bench(verifier.as_ref().unwrap(), &cmd).await,
            other => json!({ "error": format!("unknown command {other}") }),
        };
        println!("{out}");
    }
}
