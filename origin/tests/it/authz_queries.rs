//! The authorization API's queries in process: lookups and expand, the OpenFGA import and contextual
//! relationships, explained checks, the head and schema revision the edge reads, token roles, and the
//! JSON errors of bodies that cannot be read.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::authz::{check, setup, write, SCHEMA};
use crate::{app, send};

#[tokio::test]
async fn lookups_page_at_one_revision_and_expand() {
    let (app, _, dir) = app().await;
    setup(&app, "acme").await;
    let updates: Vec<Value> = (0..7)
        .map(|i| json!({ "operation": "create", "relationship": format!("doc:d{i}#viewer@group:eng#member") }))
        .chain([json!({ "operation": "create", "relationship": "group:eng#member@user:ann" })])
        .collect();
    write(&app, "acme", json!(updates)).await;
    let first =
        json!({ "resource_type": "doc", "permission": "view", "subject": "user:ann", "limit": 3 });
    let (s, p1) = send(
        &app,
        "POST",
        "/v1/tenants/acme/lookup/resources",
        &first.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p1}");
    assert_eq!(p1["resources"], json!(["d0", "d1", "d2"]));
    // A write between pages does not change what the next pages see.
    write(
        &app,
        "acme",
        json!([{ "operation": "create", "relationship": "doc:d00#viewer@user:ann" }]),
    )
    .await;
    let mut all: Vec<Value> = p1["resources"].as_array().unwrap().clone();
    let mut cursor = p1["cursor"].clone();
    while !cursor.is_null() {
        let next = json!({ "resource_type": "doc", "permission": "view", "subject": "user:ann", "limit": 3, "cursor": cursor });
        let (_, p) = send(
            &app,
            "POST",
            "/v1/tenants/acme/lookup/resources",
            &next.to_string(),
        )
        .await;
        all.extend(p["resources"].as_array().unwrap().iter().cloned());
        assert_eq!(p["revision"], p1["revision"]);
        cursor = p["cursor"].clone();
    }
    assert_eq!(
        all,
        (0..7).map(|i| json!(format!("d{i}"))).collect::<Vec<_>>()
    );
    let bad_cursor = json!({ "resource_type": "doc", "permission": "view", "subject": "user:ann", "cursor": "tz1_x.eA" });
    let (s, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/lookup/resources",
        &bad_cursor.to_string(),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_cursor"))
    );

    let (_, subjects) = send(
        &app,
        "POST",
        "/v1/tenants/acme/lookup/subjects",
        &json!({ "resource": "doc:d1", "permission": "view", "subject_type": "user" }).to_string(),
    )
    .await;
    assert_eq!(subjects["subjects"], json!(["ann"]));
    let (s, e) = send(
        &app,
        "POST",
        "/v1/tenants/acme/expand",
        &json!({ "resource": "doc:d1", "permission": "view" }).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert!(e["tree"].to_string().contains("group:eng#member"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn openfga_import_and_contextual_relationships() {
    let (app, _store, _dir) = crate::app().await;
    let model = serde_json::json!({
        "schema_version": "1.1",
        "type_definitions": [
            {"type": "user"},
            {"type": "doc",
             "relations": {"owner": {"this": {}},
                           "viewer": {"union": {"child": [{"this": {}}, {"computedUserset": {"relation": "owner"}}]}}},
             "metadata": {"relations": {"owner": {"directly_related_user_types": [{"type": "user"}]},
                                        "viewer": {"directly_related_user_types": [{"type": "user"}]}}}}
        ]
    });
    let (s, b) = crate::send(
        &app,
        "PUT",
        "/v1/tenants/fga/schema/openfga",
        &model.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b["schema"]
            .as_str()
            .unwrap()
            .contains("relation viewer: user = (this + owner)"),
        "{b}"
    );
    let (s, b) = crate::send(
        &app,
        "PUT",
        "/v1/tenants/fga/schema/openfga",
        "{\"schema_version\": \"1.0\"}",
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("model_unsupported"))
    );
    let (s, b) = crate::send(&app, "PUT", "/v1/tenants/fga/schema/openfga", "nope").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("model_malformed"))
    );

    let ask = |ctx: serde_json::Value| {
        serde_json::json!({"resource": "doc:1", "permission": "viewer", "subject": "user:ann", "context_relationships": ctx})
            .to_string()
    };
    let (s, b) = crate::send(
        &app,
        "POST",
        "/v1/tenants/fga/check",
        &ask(serde_json::json!([])),
    )
    .await;
    assert_eq!((s, b["allowed"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, b) = crate::send(
        &app,
        "POST",
        "/v1/tenants/fga/check",
        &ask(serde_json::json!(["doc:1#owner@user:ann"])),
    )
    .await;
    assert_eq!(
        (s, b["allowed"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{b}"
    );
    // contextual relationships are never stored
    let (_, b) = crate::send(
        &app,
        "POST",
        "/v1/tenants/fga/check",
        &ask(serde_json::json!([])),
    )
    .await;
    assert_eq!(b["allowed"].as_bool(), Some(false));
    let lookup = serde_json::json!({"resource_type": "doc", "permission": "viewer", "subject": "user:ann",
                                    "context_relationships": ["doc:7#viewer@user:ann"]});
    let (s, b) = crate::send(
        &app,
        "POST",
        "/v1/tenants/fga/lookup/resources",
        &lookup.to_string(),
    )
    .await;
    assert_eq!(
        (s, b["resources"].clone()),
        (StatusCode::OK, serde_json::json!(["7"])),
        "{b}"
    );
    // and they are validated like writes
    let (s, b) = crate::send(
        &app,
        "POST",
        "/v1/tenants/fga/check",
        &ask(serde_json::json!(["doc:1#owner@doc:2"])),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _) = crate::send(
        &app,
        "POST",
        "/v1/tenants/fga/check",
        &ask(serde_json::json!(["nonsense"])),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let many: Vec<String> = (0..101)
        .map(|i| format!("doc:{i}#owner@user:ann"))
        .collect();
    let (s, b) = crate::send(
        &app,
        "POST",
        "/v1/tenants/fga/check",
        &ask(serde_json::json!(many)),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // a subject set naming a relation its type lacks is an error, not a quiet "no"
    let q =
        serde_json::json!({"resource": "doc:1", "permission": "viewer", "subject": "doc:2#nope"})
            .to_string();
    let (s, b) = crate::send(&app, "POST", "/v1/tenants/fga/check", &q).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_permission"))
    );
}

#[tokio::test]
async fn check_explains_itself_on_request() {
    let (app, _store, _dir) = crate::app().await;
    let schema = "definition user {}\ndefinition group {\n relation member: user\n}\ndefinition doc {\n relation viewer: user | group#member\n relation banned: user\n permission view = viewer - banned\n}";
    assert_eq!(
        crate::send(&app, "PUT", "/v1/tenants/t/schema", schema)
            .await
            .0,
        StatusCode::OK
    );
    let w = serde_json::json!({"updates": [
        {"operation": "touch", "relationship": "doc:1#viewer@group:g#member"},
        {"operation": "touch", "relationship": "group:g#member@user:ann"},
        {"operation": "touch", "relationship": "group:g#member@user:bob"},
        {"operation": "touch", "relationship": "doc:1#banned@user:bob"}]});
    assert_eq!(
        crate::send(
            &app,
            "POST",
            "/v1/tenants/t/relationships/write",
            &w.to_string()
        )
        .await
        .0,
        StatusCode::OK
    );
    let ask = |who: &str| {
        serde_json::json!({"resource": "doc:1", "permission": "view", "subject": who, "explain": true}).to_string()
    };
    let (s, b) = crate::send(&app, "POST", "/v1/tenants/t/check", &ask("user:ann")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["allowed"], true);
    assert_eq!(
        b["why"]["relationships"],
        serde_json::json!(["doc:1#viewer@group:g#member", "group:g#member@user:ann"])
    );
    let (_, b) = crate::send(&app, "POST", "/v1/tenants/t/check", &ask("user:bob")).await;
    assert_eq!(b["allowed"], false);
    assert_eq!(
        b["why"]["relationships"],
        serde_json::json!(["doc:1#banned@user:bob"])
    );
    assert!(
        b["why"]["reason"].as_str().unwrap().contains("excluded"),
        "{b}"
    );
}

#[tokio::test]
async fn head_and_schema_revision_tell_the_edge_where_a_tenant_is() {
    let (app, _, _dir) = app().await;
    // A tenant with nothing yet: revision 0, no schema.
    let (s, h) = send(&app, "GET", "/v1/tenants/acme/head", "").await;
    assert_eq!(s, StatusCode::OK, "{h}");
    assert_eq!(
        (h["revision"].as_u64(), h["schema_revision"].as_u64()),
        (Some(0), Some(0))
    );
    setup(&app, "acme").await;
    let (_, w) = write(
        &app,
        "acme",
        json!([{ "operation": "create", "relationship": "doc:a#viewer@user:ann" }]),
    )
    .await;
    let (_, h) = send(&app, "GET", "/v1/tenants/acme/head", "").await;
    assert_eq!(
        (h["revision"].as_u64(), h["schema_revision"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(h["zookie"], w["zookie"]);
    let (_, c) = check(
        &app,
        "acme",
        "doc:a",
        "view",
        "user:ann",
        json!("fully_consistent"),
    )
    .await;
    assert_eq!(
        (c["revision"].as_u64(), c["schema_revision"].as_u64()),
        (Some(2), Some(1))
    );
    let (_, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/check/bulk",
        &json!({ "items": [{ "resource": "doc:a", "permission": "view", "subject": "user:bob" }] })
            .to_string(),
    )
    .await;
    assert_eq!(b["schema_revision"].as_u64(), Some(1));
    assert_eq!(b["results"][0]["allowed"], false);
    // A new schema moves both.
    let (s, _) = send(
        &app,
        "PUT",
        "/v1/tenants/acme/schema",
        &format!("{SCHEMA}\ndefinition folder {{}}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, h) = send(&app, "GET", "/v1/tenants/acme/head", "").await;
    assert_eq!(
        (h["revision"].as_u64(), h["schema_revision"].as_u64()),
        (Some(3), Some(3))
    );
    let (s, e) = send(&app, "GET", "/v1/tenants/Not-A-Tenant/head", "").await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_tenant"))
    );
}

#[tokio::test]
async fn token_roles_name_permissions_the_schema_has() {
    let (app, _, _dir) = app().await;
    let put = |body: Value| {
        let app = app.clone();
        async move {
            send(
                &app,
                "PUT",
                "/v1/tenants/acme/token-roles",
                &body.to_string(),
            )
            .await
        }
    };
    // Before a schema, nothing can be named.
    let (s, e) = put(json!({ "roles": ["doc:a#view"] })).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_role"))
    );
    setup(&app, "acme").await;
    let (s, r) = put(json!({ "roles": ["doc:a#view", "doc:a#owner", "doc:a#view"] })).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["roles"], json!(["doc:a#view", "doc:a#owner"]));
    let (_, r) = send(&app, "GET", "/v1/tenants/acme/token-roles", "").await;
    assert_eq!(r["roles"], json!(["doc:a#view", "doc:a#owner"]));
    for bad in [
        json!({ "roles": ["doc:a"] }),
        json!({ "roles": ["doc#view"] }),
        json!({ "roles": ["doc:a#edit"] }),
    ] {
        let (s, e) = put(bad.clone()).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_role")),
            "{bad}"
        );
    }
    let (s, e) = put(json!({ "roles": "doc:a#view" })).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // Other tenants have their own (none).
    let (_, r) = send(&app, "GET", "/v1/tenants/globex/token-roles", "").await;
    assert_eq!(r["roles"], json!([]));
    let (_, r) = put(json!({ "roles": [] })).await;
    assert_eq!(r["roles"], json!([]));
}

/// Regression: a schema (or any authz body) over the body limit got axum's plain-text 413, and a schema
/// that is not UTF-8 a plain-text 400; both are the JSON error with a stable code.
#[tokio::test]
async fn oversized_and_unreadable_bodies_are_json_errors() {
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let (app, _, dir) = app().await;
    let big = "x".repeat(tessera_origin::http::extract::MAX_BODY_BYTES + 1);
    for (method, path) in [
        ("PUT", "schema"),
        ("PUT", "schema/openfga"),
        ("POST", "relationships/write"),
        ("POST", "check"),
        ("POST", "check/bulk"),
        ("POST", "lookup/subjects"),
    ] {
        let (s, b) = send(&app, method, &format!("/v1/tenants/acme/{path}"), &big).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {b}");
        assert_eq!(b["error"], "body_too_large", "{path}: {b}");
        assert!(
            b["message"].as_str().unwrap().contains("2097152 bytes"),
            "{b}"
        );
    }
    // Declared too large up front (Content-Length) is refused the same way.
    let req = axum::http::Request::builder()
        .method("PUT")
        .uri("/v1/tenants/acme/schema")
        .header("authorization", format!("Bearer {}", crate::TOKEN))
        .header("content-length", big.len().to_string())
        .body(Body::from(big.clone()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let b: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(b["error"], "body_too_large", "{b}");
    // A schema that is not UTF-8.
    let req = axum::http::Request::builder()
        .method("PUT")
        .uri("/v1/tenants/acme/schema")
        .header("authorization", format!("Bearer {}", crate::TOKEN))
        .body(Body::from(vec![0xff, 0xfe, b'd']))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let b: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(b["error"], "invalid_body", "{b}");
    std::fs::remove_dir_all(dir).ok();
}

/// Regression (SpiceDB's `publicwithexclusion`): lookup/subjects answered `["*"]` for `viewer - banned`
/// although check denies bob; the wildcard comes with `excluded`.
#[tokio::test]
async fn lookup_subjects_lists_who_the_wildcard_excludes() {
    let (app, _, dir) = app().await;
    let schema = "definition user {}
definition doc {
    relation viewer: user:* | user
    relation banned: user
    permission view = viewer - banned
}";
    let (s, b) = send(&app, "PUT", "/v1/tenants/acme/schema", schema).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = write(
        &app,
        "acme",
        json!([
            { "operation": "create", "relationship": "doc:1#viewer@user:*" },
            { "operation": "create", "relationship": "doc:1#banned@user:bob" },
        ]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/lookup/subjects",
        &json!({ "resource": "doc:1", "permission": "view", "subject_type": "user", "consistency": "fully_consistent" }).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["subjects"], json!(["*"]), "{b}");
    assert_eq!(b["excluded"], json!(["bob"]), "{b}");
    let (_, c) = check(
        &app,
        "acme",
        "doc:1",
        "view",
        "user:bob",
        json!("fully_consistent"),
    )
    .await;
    assert_eq!(c["allowed"], false, "{c}");
    // `viewer` itself has no exclusions; a lookup without a wildcard has an empty list.
    let (_, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/lookup/subjects",
        &json!({ "resource": "doc:1", "permission": "banned", "subject_type": "user", "consistency": "fully_consistent" }).to_string(),
    )
    .await;
    assert_eq!(
        (b["subjects"].clone(), b["excluded"].clone()),
        (json!(["bob"]), json!([])),
        "{b}"
    );
    std::fs::remove_dir_all(dir).ok();
}
