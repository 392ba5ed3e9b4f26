//! In-process tests of the origin's HTTP surface (the router driven with `oneshot`, no socket).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use tessera_origin::clients::{self, NewClient};
use tessera_origin::store::Store;
use tessera_origin::{http, AppState, ServiceToken};
use tessera_proto::UnixTime;
use tower::ServiceExt as _;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

async fn app() -> (axum::Router, Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "tessera-origin-it-{}",
        hex(&tessera_origin::random_bytes::<8>().unwrap())
    ));
    let store = Store::open(&dir).await.unwrap();
    let state = AppState::new(
        store.clone(),
        ServiceToken::new(TOKEN.to_owned()).unwrap(),
        None,
    );
    (http::router(state), store, dir)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

mod accounts;
mod audit;
mod authz;
mod authz_queries;
mod caveats;
mod conformance;
mod contention;
mod depth;
mod pg;
mod saml_fixtures;
mod saml_http;
mod saml_rules;

/// Send `body` (JSON or text) with the service credential.
async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

async fn call(
    app: &axum::Router,
    uri: &str,
    auth: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().uri(uri);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn healthz_answers() {
    let (app, _, dir) = app().await;
    let (status, body) = call(&app, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn client_records_need_the_service_credential() {
    let (app, store, dir) = app().await;
    let new = NewClient::service("acme", vec!["read".into()], vec!["https://api".into()]);
    let created = clients::create(&store, new, UnixTime::from_secs(1_800_000_000))
        .await
        .unwrap();
    let uri = format!("/internal/v1/clients/{}", created.record.client_id);

    for auth in [
        None,
        Some("Bearer wrong"),
        Some(&format!("Basic {TOKEN}")[..]),
    ] {
        let (status, body) = call(&app, &uri, auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(body["error"], "unauthorized");
    }
    let (status, body) = call(&app, &uri, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["tenant"], "acme");
    assert!(body["secret_hash"]
        .as_str()
        .unwrap()
        .starts_with("$argon2id$"));
    assert!(tessera_authn::verify_client_secret(
        created
            .client_secret
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
        body["secret_hash"].as_str().unwrap()
    )
    .is_ok());

    let (status, body) = call(
        &app,
        "/internal/v1/clients/tc_missing",
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "client_not_found");
    let (status, body) = call(&app, "/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn data_survives_a_reopen_and_disable_sticks() {
    let (_, store, dir) = app().await;
    let new = NewClient {
        token_ttl: 60,
        ..NewClient::service(
            "acme",
            vec!["b".into(), "a".into(), "a".into()],
            vec!["x".into()],
        )
    };
    let created = clients::create(&store, new, UnixTime::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        created.record.scopes,
        ["a", "b"],
        "scopes are sorted and deduplicated"
    );
    assert!(store
        .disable_client(&created.record.client_id, UnixTime::from_secs(2))
        .await
        .unwrap());
    assert!(!store
        .disable_client("tc_missing", UnixTime::from_secs(2))
        .await
        .unwrap());
    store.close().await;
    let reopened = Store::open(&dir).await.unwrap();
    let rec = reopened
        .client(&created.record.client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(rec.disabled);
    assert_eq!(rec.updated_at, 2);
    assert_eq!(reopened.clients(Some("acme")).await.unwrap().len(), 1);
    assert!(reopened.clients(Some("other")).await.unwrap().is_empty());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn short_service_tokens_are_refused() {
    assert!(ServiceToken::new("short".into()).is_err());
}
