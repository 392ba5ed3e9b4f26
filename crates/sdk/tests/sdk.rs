//! The SDK's behaviour against an issuer it does not control: a small HTTP server here that serves a
//! discovery document and a JWKS (counting fetches, rotating keys, going down on demand) and a `/v1/check`
//! that answers at revisions. The same behaviour is checked against the real edge in
//! tests/blackbox/sdk.test.mjs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::FutureExt as _;
use tessera::{Checker, Clock, Consistency, Credentials, UnixTime, Verifier};
use tessera_jose::grant::{user_claims, Issue, SessionFacts};
use tessera_jose::oidc::IdTokenClaims;
use tessera_jose::{issue_access_token, issue_id_token, Jwks, P256Signer, Secret, SigningKey};

const NOW: i64 = 1_800_000_000;
const AUD: &str = "https://api.example";

/// A clock the test moves.
#[derive(Clone, Default)]
struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    fn at(secs: i64) -> Self {
        let c = Self::default();
        c.0.store(secs * 1000, Ordering::SeqCst);
        c
    }
    fn advance(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_millis(self.0.load(Ordering::SeqCst))
    }
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_scalar_bytes(&Secret::new([n; 32])).unwrap()
}

#[derive(Clone)]
struct Issuer {
    url: Arc<Mutex<String>>,
    keys: Arc<Mutex<Vec<SigningKey>>>,
    jwks_fetches: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    cache_control: Arc<Mutex<String>>,
    revision: Arc<AtomicU64>,
    checks: Arc<AtomicU64>,
    /// What the edge's next check answers say of themselves.
    check_staleness_ms: Arc<AtomicU64>,
    check_cached: Arc<AtomicBool>,
    zookies: Arc<tessera_authz::ZookieKey>,
}

async fn discovery(State(s): State<Issuer>) -> impl IntoResponse {
    let url = s.url.lock().unwrap().clone();
    Json(serde_json::json!({ "issuer": url, "jwks_uri": format!("{url}/jwks") }))
}

async fn jwks(State(s): State<Issuer>) -> impl IntoResponse {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if s.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("cache-control", String::new())],
            String::new(),
        );
    }
    let set = Jwks {
        keys: s
            .keys
            .lock()
            .unwrap()
            .iter()
            .map(|k| k.public_jwk().clone())
            .collect(),
    };
    let cc = s.cache_control.lock().unwrap().clone();
    (
        StatusCode::OK,
        [("cache-control", cc)],
        set.to_json().to_string(),
    )
}

async fn check(State(s): State<Issuer>, Json(body): Json<serde_json::Value>) -> impl IntoResponse {
    s.checks.fetch_add(1, Ordering::SeqCst);
    let revision = s.revision.load(Ordering::SeqCst);
    // user:cy's access rests on a caveat over `day`: conditional without it, decided with it.
    let conditional = body["subject"] == "user:cy" && body["context"]["day"].is_null();
    let allowed = ["user:ann", "user:dee", "user:eve"]
        .contains(&body["subject"].as_str().unwrap_or(""))
        || (body["subject"] == "user:cy" && body["context"]["day"] == "mon");
    let mut answer = serde_json::json!({
        "allowed": allowed, "revision": revision, "zookie": s.zookies.mint("t", revision),
        "cached": s.check_cached.load(Ordering::SeqCst), "stale": false,
        "staleness_ms": s.check_staleness_ms.load(Ordering::SeqCst),
    });
    if conditional {
        answer["conditional"] = true.into();
        answer["missing"] = serde_json::json!(["day"]);
    }
    // user:dee's access rests on a relationship that expires 2 s after NOW; user:eve's answer says so in
    // a form that is not a moment.
    if body["subject"] == "user:dee" {
        answer["valid_until"] = "2027-01-15T08:00:02Z".into();
    }
    if body["subject"] == "user:eve" {
        answer["valid_until"] = "soon".into();
    }
    Json(answer)
}

async fn token(State(_): State<Issuer>) -> impl IntoResponse {
    Json(
        serde_json::json!({ "access_token": "client-token", "token_type": "Bearer", "expires_in": 300 }),
    )
}

async fn start() -> Issuer {
    let issuer = Issuer {
        url: Arc::default(),
        keys: Arc::new(Mutex::new(vec![key(1)])),
        jwks_fetches: Arc::default(),
        down: Arc::default(),
        cache_control: Arc::new(Mutex::new("max-age=300".into())),
        revision: Arc::new(AtomicU64::new(10)),
        checks: Arc::default(),
        check_staleness_ms: Arc::default(),
        check_cached: Arc::default(),
        zookies: Arc::new(tessera_authz::ZookieKey::new([9; 32])),
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/v1/check", post(check))
        .route("/oauth2/token", post(token))
        .with_state(issuer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    *issuer.url.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    issuer
}

impl Issuer {
    fn url(&self) -> String {
        self.url.lock().unwrap().clone()
    }

    fn access_token(&self, signer: &SigningKey, iat: i64, ttl: i64, aud: &str) -> String {
        let amr = vec!["hwk".to_owned()];
        let claims = user_claims(
            Issue {
                issuer: &self.url(),
                now: UnixTime::from_secs(iat),
                ttl,
                jti: "j",
            },
            SessionFacts {
                tenant: "t",
                user_id: "u1",
                sid: "s1",
                amr: &amr,
                acr: "phr",
                auth_time: iat,
            },
            aud,
            "tc_app",
            None,
        );
        issue_access_token(&P256Signer::new(signer), &claims)
            .now_or_never()
            .unwrap()
            .unwrap()
    }
}

async fn verifier(issuer: &Issuer, clock: &ManualClock) -> Verifier {
    Verifier::builder(&issuer.url())
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn verifies_with_the_edge_profile_and_codes() {
    let issuer = start().await;
    let clock = ManualClock::at(NOW);
    let v = verifier(&issuer, &clock).await;
    let good = issuer.access_token(&key(1), NOW, 300, AUD);
    let t = v.verify_access_token(&good, AUD).await.unwrap();
    assert_eq!((t.sub(), t.claim_str("tid")), ("u1", Some("t")));
    let code = |r: Result<tessera::VerifiedToken, tessera::Error>| r.unwrap_err().code();
    assert_eq!(
        code(v.verify_access_token(&good, "https://other").await),
        "wrong_audience"
    );
    assert_eq!(
        code(v.verify_access_token("not.a.token", AUD).await),
        "invalid_base64"
    );
    let expired = issuer.access_token(&key(1), NOW - 400, 300, AUD);
    assert_eq!(
        code(v.verify_access_token(&expired, AUD).await),
        "token_expired"
    );
    // ID tokens: their own `typ`, the client as audience, the nonce.
    let id = IdTokenClaims {
        iss: issuer.url(),
        sub: "u1".into(),
        aud: "tc_app".into(),
        exp: NOW + 300,
        iat: NOW,
        auth_time: NOW,
        nonce: Some("n1".into()),
        acr: "phr".into(),
        amr: vec!["hwk".into()],
        azp: "tc_app".into(),
        at_hash: None,
        sid: "s1".into(),
        tid: "t".into(),
        name: None,
        preferred_username: None,
    };
    let id_token = issue_id_token(&P256Signer::new(&key(1)), &id)
        .now_or_never()
        .unwrap()
        .unwrap();
    assert!(v
        .verify_id_token(&id_token, "tc_app", Some("n1"))
        .await
        .is_ok());
    assert_eq!(
        code(v.verify_id_token(&id_token, "tc_app", Some("n2")).await),
        "invalid_claim"
    );
    assert_eq!(
        code(v.verify_access_token(&id_token, "tc_app").await),
        "wrong_token_type"
    );
    assert_eq!(
        code(v.verify_id_token(&good, AUD, None).await),
        "wrong_token_type"
    );
    // The discovery document must name the issuer asked for.
    let wrong = Verifier::builder(&format!(
        "{}/",
        issuer.url().replace("127.0.0.1", "localhost")
    ))
    .build()
    .await;
    assert!(wrong.is_err());
}

#[tokio::test]
async fn an_unknown_kid_flood_fetches_once_per_cooldown_and_rotation_is_picked_up() {
    let issuer = start().await;
    let clock = ManualClock::at(NOW);
    let v = Arc::new(verifier(&issuer, &clock).await);
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1);
    // Just after the keys were read, unknown kids fetch nothing: the first read counts.
    let stranger = issuer.access_token(&key(49), NOW, 300, AUD);
    assert_eq!(
        v.verify_access_token(&stranger, AUD)
            .await
            .unwrap_err()
            .code(),
        "unknown_kid"
    );
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1);
    // 200 tokens with made-up kids at once, past the cooldown: one fetch.
    clock.advance(31);
    let forged: Vec<String> = (0..200u8)
        .map(|i| issuer.access_token(&key(i.wrapping_add(50)), NOW, 300, AUD))
        .collect();
    let mut all = tokio::task::JoinSet::new();
    for t in forged.clone() {
        let v = Arc::clone(&v);
        all.spawn(async move { v.verify_access_token(&t, AUD).await.unwrap_err().code() });
    }
    while let Some(code) = all.join_next().await {
        assert_eq!(code.unwrap(), "unknown_kid");
    }
    assert_eq!(
        issuer.jwks_fetches.load(Ordering::SeqCst),
        2,
        "one fetch for the flood"
    );
    // Within the cooldown: none.
    clock.advance(29);
    assert!(v.verify_access_token(&forged[0], AUD).await.is_err());
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 2);
    // The issuer rotates in a new key; after the cooldown its first token refetches, once.
    issuer.keys.lock().unwrap().push(key(2));
    clock.advance(2);
    let rotated = issuer.access_token(&key(2), NOW + 62, 300, AUD);
    assert!(v.verify_access_token(&rotated, AUD).await.is_ok());
    assert!(v.verify_access_token(&rotated, AUD).await.is_ok());
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 3);
    assert_eq!(v.key_stats().failures, 0);
}

#[tokio::test]
async fn an_issuer_outage_keeps_cached_keys_verifying_and_cache_control_is_honoured() {
    let issuer = start().await;
    *issuer.cache_control.lock().unwrap() = "max-age=60".into();
    let clock = ManualClock::at(NOW);
    let v = verifier(&issuer, &clock).await;
    issuer.down.store(true, Ordering::SeqCst);
    // Fresh keys: no fetch at all.
    let t = issuer.access_token(&key(1), NOW, 3600, AUD);
    assert!(v.verify_access_token(&t, AUD).await.is_ok());
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1);
    // Past max-age the keys are refreshed — the issuer is down, so the cached ones keep verifying.
    clock.advance(61);
    let later = issuer.access_token(&key(1), NOW + 61, 3600, AUD);
    assert!(v.verify_access_token(&later, AUD).await.is_ok());
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 2);
    assert_eq!(v.key_stats().failures, 1);
    // ... and are not asked for again within the cooldown.
    assert!(v.verify_access_token(&later, AUD).await.is_ok());
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 2);
    // Back up: the next refresh after the cooldown succeeds.
    issuer.down.store(false, Ordering::SeqCst);
    clock.advance(31);
    assert!(v.verify_access_token(&later, AUD).await.is_ok());
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn clock_skew_within_the_leeway_passes_and_beyond_it_fails() {
    let issuer = start().await;
    let clock = ManualClock::at(NOW);
    let v = verifier(&issuer, &clock).await;
    // Issued by a clock 29 s ahead: fine; 31 s ahead: issued in the future.
    let ahead = issuer.access_token(&key(1), NOW + 29, 300, AUD);
    assert!(v.verify_access_token(&ahead, AUD).await.is_ok());
    let too_far = issuer.access_token(&key(1), NOW + 31, 300, AUD);
    assert_eq!(
        v.verify_access_token(&too_far, AUD)
            .await
            .unwrap_err()
            .code(),
        "token_issued_in_future"
    );
    // Expired 29 s ago: still within the leeway; 31 s: expired.
    let just = issuer.access_token(&key(1), NOW - 329, 300, AUD);
    assert!(v.verify_access_token(&just, AUD).await.is_ok());
    let gone = issuer.access_token(&key(1), NOW - 331, 300, AUD);
    assert_eq!(
        v.verify_access_token(&gone, AUD).await.unwrap_err().code(),
        "token_expired"
    );
}

/// A checker asking `issuer` with a fixed bearer token, on `clock`.
fn bearer_checker(issuer: &Issuer, clock: &ManualClock) -> Checker {
    let transport = Arc::new(tessera::transport::ReqwestTransport::new().unwrap());
    Checker::with_transport(
        &issuer.url(),
        Credentials::Bearer("t".into()),
        transport,
        Arc::new(clock.clone()),
    )
}

#[tokio::test]
async fn the_checker_serves_from_its_cache_only_what_the_consistency_allows() {
    let issuer = start().await;
    let clock = ManualClock::at(NOW);
    let transport = Arc::new(tessera::transport::ReqwestTransport::new().unwrap());
    let checker = Checker::with_transport(
        &issuer.url(),
        Credentials::Client {
            client_id: "tc_x".into(),
            client_secret: tessera_jose::Secret::new("s".into()),
            scope: Some("authz:check".into()),
        },
        transport,
        Arc::new(clock.clone()),
    );
    let ask = |c: Consistency| checker.check("doc:1", "view", "user:ann", c);
    let first = ask(Consistency::MinimizeLatency).await.unwrap();
    assert!(first.allowed && !first.from_cache && first.revision == 10);
    assert!(ask(Consistency::MinimizeLatency).await.unwrap().from_cache);
    assert_eq!(issuer.checks.load(Ordering::SeqCst), 1);
    // Older than 5 s: asked again.
    clock.advance(6);
    assert!(!ask(Consistency::MinimizeLatency).await.unwrap().from_cache);
    // A zookie at the cached revision is met by the cache; a newer one is not.
    assert!(
        ask(Consistency::AtLeastAsFresh(first.zookie.clone()))
            .await
            .unwrap()
            .from_cache
    );
    issuer.revision.store(12, Ordering::SeqCst);
    let newer = issuer.zookies.mint("t", 11);
    let fresh = ask(Consistency::AtLeastAsFresh(newer)).await.unwrap();
    assert!(!fresh.from_cache && fresh.revision == 12);
    // Fully consistent: always the edge.
    let before = issuer.checks.load(Ordering::SeqCst);
    assert!(!ask(Consistency::FullyConsistent).await.unwrap().from_cache);
    assert_eq!(issuer.checks.load(Ordering::SeqCst), before + 1);
    let denied = checker
        .check("doc:1", "view", "user:bob", Consistency::MinimizeLatency)
        .await
        .unwrap();
    assert!(!denied.allowed);
}

#[tokio::test]
async fn the_checker_counts_the_staleness_the_edge_reported() {
    let issuer = start().await;
    let clock = ManualClock::at(NOW);
    let checker = bearer_checker(&issuer, &clock);
    let ask = |c: Consistency| checker.check("doc:1", "view", "user:ann", c);
    let asks = || issuer.checks.load(Ordering::SeqCst);
    // An answer already 4 s behind the head may serve minimize_latency for one more second, not five.
    issuer.check_staleness_ms.store(4_000, Ordering::SeqCst);
    let first = ask(Consistency::MinimizeLatency).await.unwrap();
    assert!(!first.from_cache);
    assert!(ask(Consistency::MinimizeLatency).await.unwrap().from_cache);
    clock.advance(2);
    assert!(!ask(Consistency::MinimizeLatency).await.unwrap().from_cache);
    assert_eq!(asks(), 2);

    // An answer the edge met a zookie with from its cache says nothing of the head: it serves that
    // zookie again, never minimize_latency.
    clock.advance(10);
    issuer.check_staleness_ms.store(0, Ordering::SeqCst);
    issuer.check_cached.store(true, Ordering::SeqCst);
    let zookie = Consistency::AtLeastAsFresh(first.zookie.clone());
    assert!(!ask(zookie.clone()).await.unwrap().from_cache);
    assert!(!ask(Consistency::MinimizeLatency).await.unwrap().from_cache);
    assert_eq!(asks(), 4);

    // The origin's answer to a zookie may be a second behind the head; it serves for the rest.
    clock.advance(10);
    issuer.check_cached.store(false, Ordering::SeqCst);
    assert!(!ask(zookie).await.unwrap().from_cache);
    assert!(ask(Consistency::MinimizeLatency).await.unwrap().from_cache);
    clock.advance(4);
    assert!(ask(Consistency::MinimizeLatency).await.unwrap().from_cache);
    clock.advance(1);
    assert!(!ask(Consistency::MinimizeLatency).await.unwrap().from_cache);
}

#[tokio::test]
async fn the_checker_never_caches_a_conditional_answer_nor_one_for_a_context() {
    let issuer = start().await;
    let clock = ManualClock::at(NOW);
    let checker = bearer_checker(&issuer, &clock);
    let asks = || issuer.checks.load(Ordering::SeqCst);
    for _ in 0..2 {
        let d = checker
            .check("doc:1", "view", "user:cy", Consistency::MinimizeLatency)
            .await
            .unwrap();
        assert!(!d.allowed && d.conditional && !d.from_cache);
        assert_eq!(d.missing, ["day"]);
    }
    assert_eq!(asks(), 2);
    let mut context = serde_json::Map::new();
    for (day, allowed) in [("mon", true), ("tue", false), ("mon", true)] {
        context.insert("day".into(), day.into());
        let d = checker
            .check_with_context(
                "doc:1",
                "view",
                "user:cy",
                Consistency::MinimizeLatency,
                context.clone(),
            )
            .await
            .unwrap();
        assert_eq!(
            (d.allowed, d.conditional, d.from_cache),
            (allowed, false, false)
        );
    }
    assert_eq!(asks(), 5);
    // Nor does an answer with context reach the plain question's cache.
    let d = checker
        .check("doc:1", "view", "user:cy", Consistency::MinimizeLatency)
        .await
        .unwrap();
    assert!(d.conditional && !d.from_cache);
}

#[tokio::test]
async fn the_checker_keeps_no_answer_past_its_valid_until() {
    let issuer = start().await;
    let clock = ManualClock::at(NOW);
    let checker = bearer_checker(&issuer, &clock);
    let ask = |subject: &'static str| {
        checker.check("doc:1", "view", subject, Consistency::MinimizeLatency)
    };
    let asks = || issuer.checks.load(Ordering::SeqCst);
    let first = ask("user:dee").await.unwrap();
    assert!(first.allowed && !first.from_cache);
    assert_eq!(first.valid_until.as_deref(), Some("2027-01-15T08:00:02Z"));
    clock.advance(1);
    let kept = ask("user:dee").await.unwrap();
    assert!(kept.from_cache, "within both the staleness and valid_until");
    assert_eq!(kept.valid_until.as_deref(), Some("2027-01-15T08:00:02Z"));
    // At valid_until the relationship has expired: asked again, although 5 s of staleness would allow.
    clock.advance(1);
    assert!(!ask("user:dee").await.unwrap().from_cache);
    assert_eq!(asks(), 2);
    // A valid_until that does not read as a moment: never kept.
    for _ in 0..2 {
        let d = ask("user:eve").await.unwrap();
        assert!(d.allowed && !d.from_cache);
        assert_eq!(d.valid_until.as_deref(), Some("soon"));
    }
    assert_eq!(asks(), 4);
}

#[cfg(feature = "tower")]
#[tokio::test]
async fn the_tower_layer_lets_valid_tokens_through_only() {
    use tower::ServiceExt as _;
    let issuer = start().await;
    let clock = ManualClock::at(NOW);
    let v = Arc::new(verifier(&issuer, &clock).await);
    let app = Router::new()
        .route(
            "/me",
            get(
                |axum::Extension(t): axum::Extension<tessera::VerifiedToken>| async move {
                    t.sub().to_owned()
                },
            ),
        )
        .layer(tessera::tower::AuthLayer::new(v, AUD));
    let call = |auth: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = axum::http::Request::builder().uri("/me");
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = app
                .oneshot(req.body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            let status = resp.status();
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .map(|h| h.to_str().unwrap().to_owned());
            let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
                .await
                .unwrap();
            (status, challenge, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let good = issuer.access_token(&key(1), NOW, 300, AUD);
    assert_eq!(
        call(Some(format!("Bearer {good}"))).await,
        (StatusCode::OK, None, "u1".into())
    );
    let (status, challenge, body) = call(None).await;
    assert_eq!(
        (status, challenge.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("Bearer"))
    );
    assert_eq!(body, r#"{"error":"unauthorized"}"#);
    let other = issuer.access_token(&key(1), NOW, 300, "https://other");
    let (status, challenge, body) = call(Some(format!("Bearer {other}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));
    assert_eq!(body, r#"{"error":"wrong_audience"}"#);
}
