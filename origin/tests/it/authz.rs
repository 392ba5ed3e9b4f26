//! The authorization API in process: schema, writes with preconditions, MVCC snapshots and zookies,
//! check and bulk check, watch, tenant isolation, and the errors (lookups, expand, imports, explain, the
//! head and token roles are in `authz_queries.rs`).

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::{app, send};

pub(crate) const SCHEMA: &str = "definition user {}
definition group { relation member: user | group#member }
definition doc {
    relation owner: user
    relation viewer: user | user:* | group#member
    permission view = viewer + owner
}";

pub(crate) async fn setup(app: &axum::Router, tenant: &str) {
    let (s, b) = send(app, "PUT", &format!("/v1/tenants/{tenant}/schema"), SCHEMA).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

pub(crate) async fn write(app: &axum::Router, tenant: &str, updates: Value) -> (StatusCode, Value) {
    send(
        app,
        "POST",
        &format!("/v1/tenants/{tenant}/relationships/write"),
        &json!({ "updates": updates }).to_string(),
    )
    .await
}

pub(crate) async fn check(
    app: &axum::Router,
    tenant: &str,
    resource: &str,
    perm: &str,
    subject: &str,
    consistency: Value,
) -> (StatusCode, Value) {
    let body = json!({ "resource": resource, "permission": perm, "subject": subject, "consistency": consistency });
    send(
        app,
        "POST",
        &format!("/v1/tenants/{tenant}/check"),
        &body.to_string(),
    )
    .await
}

#[tokio::test]
async fn write_check_delete_with_zookies_and_snapshots() {
    let (app, _, dir) = app().await;
    setup(&app, "acme").await;
    let (s, w) = write(
        &app,
        "acme",
        json!([
            { "operation": "create", "relationship": "doc:readme#viewer@group:eng#member" },
            { "operation": "create", "relationship": "group:eng#member@user:ann" },
        ]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    let z1 = w["zookie"].as_str().unwrap().to_owned();
    let (s, c) = check(
        &app,
        "acme",
        "doc:readme",
        "view",
        "user:ann",
        json!({ "at_least_as_fresh": z1 }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["allowed"], true);
    assert_eq!(c["revision"], w["revision"]);

    let (_, d) = write(
        &app,
        "acme",
        json!([{ "operation": "delete", "relationship": "group:eng#member@user:ann" }]),
    )
    .await;
    let z2 = d["zookie"].as_str().unwrap().to_owned();
    let (_, c) = check(
        &app,
        "acme",
        "doc:readme",
        "view",
        "user:ann",
        json!({ "at_least_as_fresh": z2 }),
    )
    .await;
    assert_eq!(c["allowed"], false, "denied right after the delete");
    // The earlier snapshot still answers as it did.
    let (_, c) = check(
        &app,
        "acme",
        "doc:readme",
        "view",
        "user:ann",
        json!({ "at_exact_snapshot": z1 }),
    )
    .await;
    assert_eq!(
        c["allowed"], true,
        "at_exact_snapshot reads the old revision"
    );
    let (_, c) = check(
        &app,
        "acme",
        "doc:readme",
        "view",
        "user:ann",
        json!("fully_consistent"),
    )
    .await;
    assert_eq!(c["allowed"], false);

    // Read at both revisions.
    let body = |z: &str| {
        json!({ "filter": { "resource_type": "group" }, "consistency": { "at_exact_snapshot": z } })
            .to_string()
    };
    let (_, r1) = send(
        &app,
        "POST",
        "/v1/tenants/acme/relationships/read",
        &body(&z1),
    )
    .await;
    assert_eq!(r1["relationships"], json!(["group:eng#member@user:ann"]));
    let (_, r2) = send(
        &app,
        "POST",
        "/v1/tenants/acme/relationships/read",
        &body(&z2),
    )
    .await;
    assert_eq!(r2["relationships"], json!([]));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn writes_are_atomic_and_checked() {
    let (app, _, dir) = app().await;
    let (s, b) = write(
        &app,
        "acme",
        json!([{ "operation": "touch", "relationship": "doc:1#owner@user:a" }]),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("no_schema"))
    );
    setup(&app, "acme").await;
    let (s, _) = write(
        &app,
        "acme",
        json!([{ "operation": "create", "relationship": "doc:1#owner@user:a" }]),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = write(
        &app,
        "acme",
        json!([
            { "operation": "create", "relationship": "doc:2#owner@user:b" },
            { "operation": "create", "relationship": "doc:1#owner@user:a" },
        ]),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("relationship_exists"))
    );
    let (_, c) = check(
        &app,
        "acme",
        "doc:2",
        "view",
        "user:b",
        json!("fully_consistent"),
    )
    .await;
    assert_eq!(c["allowed"], false, "nothing of a failed batch is written");
    let (s, _) = write(
        &app,
        "acme",
        json!([{ "operation": "touch", "relationship": "doc:1#owner@user:a" }]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "touch upserts");

    for (rel, code) in [
        ("doc:1#view@user:a", "not_a_relation"),
        ("doc:1#owner@user:*", "subject_not_allowed"),
        ("doc:1#owner@robot:r", "unknown_type"),
        ("doc:1 owner user:a", "relationship_syntax"),
    ] {
        let (s, b) = write(
            &app,
            "acme",
            json!([{ "operation": "create", "relationship": rel }]),
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{rel}: {b}"
        );
    }
    let (s, b) = write(
        &app,
        "acme",
        json!([
            { "operation": "create", "relationship": "doc:3#owner@user:a" },
            { "operation": "delete", "relationship": "doc:3#owner@user:a" },
        ]),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("duplicate_update"))
    );

    // Preconditions.
    let pre = |op: &str| {
        json!({
        "updates": [{ "operation": "touch", "relationship": "doc:9#owner@user:z" }],
        "preconditions": [{ "operation": op, "filter": { "resource_type": "doc", "resource_id": "1", "relation": "owner" } }],
    }).to_string()
    };
    let (s, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/relationships/write",
        &pre("must_not_match"),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("precondition_failed"))
    );
    let (s, _) = send(
        &app,
        "POST",
        "/v1/tenants/acme/relationships/write",
        &pre("must_match"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Delete by filter.
    let (s, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/relationships/delete",
        &json!({ "filter": { "resource_type": "doc", "relation": "owner" } }).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["deleted"], 2);

    // A schema change that would orphan live relationships is refused.
    write(
        &app,
        "acme",
        json!([{ "operation": "create", "relationship": "doc:1#viewer@user:*" }]),
    )
    .await;
    let narrower = SCHEMA.replace("user | user:* | group#member", "user | group#member");
    let (s, b) = send(&app, "PUT", "/v1/tenants/acme/schema", &narrower).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("schema_breaks_relationships")),
        "{b}"
    );
    let (s, b) = send(
        &app,
        "PUT",
        "/v1/tenants/acme/schema",
        "definition doc { relation r: nobody }",
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("schema_invalid")),
        "{b}"
    );
    assert!(
        b["message"].as_str().unwrap().contains("1:"),
        "errors carry line:column: {b}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn tenants_are_isolated_and_zookies_bound() {
    let (app, _, dir) = app().await;
    setup(&app, "acme").await;
    setup(&app, "globex").await;
    let (_, w) = write(
        &app,
        "acme",
        json!([{ "operation": "create", "relationship": "doc:1#owner@user:a" }]),
    )
    .await;
    let za = w["zookie"].as_str().unwrap().to_owned();
    let (_, c) = check(
        &app,
        "acme",
        "doc:1",
        "view",
        "user:a",
        json!("fully_consistent"),
    )
    .await;
    assert_eq!(c["allowed"], true);
    let (_, c) = check(
        &app,
        "globex",
        "doc:1",
        "view",
        "user:a",
        json!("fully_consistent"),
    )
    .await;
    assert_eq!(c["allowed"], false, "same ids, other tenant");
    let (s, b) = check(
        &app,
        "globex",
        "doc:1",
        "view",
        "user:a",
        json!({ "at_least_as_fresh": za }),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("zookie_invalid"))
    );
    let (s, b) = check(
        &app,
        "acme",
        "doc:1",
        "view",
        "user:a",
        json!({ "at_least_as_fresh": "tz1_garbage" }),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("zookie_malformed"))
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn bulk_check_watch_and_bad_requests() {
    let (app, _, dir) = app().await;
    setup(&app, "acme").await;
    let (_, w1) = write(
        &app,
        "acme",
        json!([{ "operation": "create", "relationship": "doc:1#owner@user:a" }]),
    )
    .await;
    write(
        &app,
        "acme",
        json!([{ "operation": "create", "relationship": "doc:2#viewer@user:*" }]),
    )
    .await;
    write(
        &app,
        "acme",
        json!([{ "operation": "delete", "relationship": "doc:1#owner@user:a" }]),
    )
    .await;

    let body = json!({ "items": [
        { "resource": "doc:1", "permission": "view", "subject": "user:a" },
        { "resource": "doc:2", "permission": "view", "subject": "user:anyone" },
        { "resource": "doc:2", "permission": "delete", "subject": "user:a" },
    ]});
    let (s, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/check/bulk",
        &body.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["results"][0], json!({ "allowed": false }));
    assert_eq!(b["results"][1], json!({ "allowed": true }));
    assert_eq!(b["results"][2]["error"], "unknown_permission");

    let since = w1["zookie"].as_str().unwrap();
    let (s, b) = send(
        &app,
        "GET",
        &format!("/v1/tenants/acme/watch?since={since}"),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let ops: Vec<(String, String)> = b["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["operation"].as_str().unwrap().to_owned(),
                c["relationship"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("touch".into(), "doc:2#viewer@user:*".into()),
            ("delete".into(), "doc:1#owner@user:a".into())
        ]
    );
    // Paged: one change per page, resumable from each page's zookie, nothing lost.
    let (_, p1) = send(
        &app,
        "GET",
        &format!("/v1/tenants/acme/watch?since={since}&limit=1"),
        "",
    )
    .await;
    assert_eq!(p1["changes"].as_array().unwrap().len(), 1);
    let (_, p2) = send(
        &app,
        "GET",
        &format!(
            "/v1/tenants/acme/watch?since={}&limit=1",
            p1["zookie"].as_str().unwrap()
        ),
        "",
    )
    .await;
    assert_eq!(p2["changes"][0]["operation"], "delete");

    for (uri, body, code) in [
        ("/v1/tenants/acme/check", "not json", "invalid_request"),
        (
            "/v1/tenants/acme/check",
            r#"{"resource":"doc:1"}"#,
            "invalid_request",
        ),
        (
            "/v1/tenants/acme/check",
            r#"{"resource":"doc","permission":"view","subject":"user:a"}"#,
            "relationship_syntax",
        ),
        (
            "/v1/tenants/acme/check",
            r#"{"resource":"page:1","permission":"view","subject":"user:a"}"#,
            "unknown_type",
        ),
        (
            "/v1/tenants/acme/check",
            r#"{"resource":"doc:1","permission":"view","subject":"user:a","consistency":"sometimes"}"#,
            "invalid_request",
        ),
        (
            "/v1/tenants/Acme/check",
            r#"{"resource":"doc:1","permission":"view","subject":"user:a"}"#,
            "invalid_tenant",
        ),
        (
            "/v1/tenants/acme/relationships/write",
            r#"{"updates":[]}"#,
            "invalid_request",
        ),
        (
            "/v1/tenants/acme/relationships/read",
            r#"{"filter":{}}"#,
            "invalid_request",
        ),
    ] {
        let (s, b) = send(&app, "POST", uri, body).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{uri} {body}: {b}"
        );
    }
    let (s, _) = crate::call(&app, "/v1/tenants/acme/schema", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    std::fs::remove_dir_all(dir).ok();
}

/// `at_least_as_fresh` is answered at the revision this origin synced to less than a second ago when that
/// is already as fresh as the zookie (no round trip for the head), and at the head as soon as the zookie
/// is newer: another origin's write is seen the moment its zookie is presented.
#[tokio::test]
#[allow(
    clippy::disallowed_methods,
    reason = "the origin's window is measured on the monotonic clock; the test reads it the same way"
)]
async fn at_least_as_fresh_reads_a_recent_revision_and_never_an_older_one_than_asked() {
    let (a, _, dir) = app().await;
    // A second origin on the same database, with caches of its own.
    let other = tessera_origin::http::router(tessera_origin::AppState::new(
        tessera_origin::store::Store::open(&dir).await.unwrap(),
        tessera_origin::ServiceToken::new(crate::TOKEN.to_owned()).unwrap(),
        None,
    ));
    setup(&a, "acme").await;
    let (_, w1) = write(
        &a,
        "acme",
        json!([{ "operation": "create", "relationship": "doc:plan#viewer@user:ann" }]),
    )
    .await;
    let z1 = w1["zookie"].as_str().unwrap().to_owned();
    // Each round: a syncs to the head, b writes past it, a is asked at least as fresh as z1. The
    // recent revision is only used within the window: a round slower than half of it (a loaded machine)
    // is run again, and one of five must be fast enough.
    let mut fast_rounds = 0;
    for round in 0..5 {
        let user = format!("user:bob{round}");
        let (s, c) = check(
            &a,
            "acme",
            "doc:plan",
            "view",
            &user,
            json!("fully_consistent"),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{c}");
        let synced = std::time::Instant::now();
        let r1 = c["revision"].as_u64().unwrap();
        let (_, w2) = write(
            &other,
            "acme",
            json!([{ "operation": "create", "relationship": format!("doc:plan#viewer@{user}") }]),
        )
        .await;
        let r2 = w2["revision"].as_u64().unwrap();
        assert!(r2 > r1);
        let (s, c) = check(
            &a,
            "acme",
            "doc:plan",
            "view",
            &user,
            json!({ "at_least_as_fresh": z1 }),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{c}");
        let at = c["revision"].as_u64().unwrap();
        assert!(at >= r1, "never older than the zookie: {c}");
        // The answer is exact at the revision it names, whichever that is.
        assert_eq!(c["allowed"], at >= r2, "{c}");
        if synced.elapsed() < std::time::Duration::from_millis(500) {
            assert_eq!(
                at, r1,
                "answered at the recent revision, without reading the head: {c}"
            );
            fast_rounds += 1;
        }

        // b's zookie is newer than what a synced to: a reads the head and sees b's write.
        let z2 = w2["zookie"].as_str().unwrap();
        let (s, c) = check(
            &a,
            "acme",
            "doc:plan",
            "view",
            &user,
            json!({ "at_least_as_fresh": z2 }),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert_eq!(c["allowed"], true, "{c}");
        assert!(c["revision"].as_u64().unwrap() >= r2, "{c}");
        if fast_rounds > 0 {
            break;
        }
    }
    assert!(fast_rounds > 0, "no round ran within the window");
    let _ = std::fs::remove_dir_all(&dir);
}
