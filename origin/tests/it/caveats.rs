//! Caveats through the authorization API in process: caveated relationships written and read in their
//! text form, checks with and without context (three answers), bulk checks, lookups, contextual
//! caveated relationships, and the errors a caller can cause.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::authz::write;
use crate::{app, send};

const SCHEMA: &str = "caveat on_day(day string, allowed list<string>) { day in allowed }
caveat ratio(a int, b int) { a / b == 1 }
definition user {}
definition doc {
    relation viewer: user | user with on_day | user with ratio
    permission view = viewer
}";

async fn ask(app: &axum::Router, body: Value) -> (StatusCode, Value) {
    send(app, "POST", "/v1/tenants/acme/check", &body.to_string()).await
}

fn question(subject: &str, context: Value) -> Value {
    json!({"resource": "doc:1", "permission": "view", "subject": subject, "context": context})
}

#[tokio::test]
async fn checks_answer_has_no_or_conditional_with_the_missing_parameters() {
    let (app, _, _dir) = app().await;
    let (s, b) = send(&app, "PUT", "/v1/tenants/acme/schema", SCHEMA).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = write(
        &app,
        "acme",
        json!([
            {"operation": "touch", "relationship": r#"doc:1#viewer@user:ann[on_day:{"allowed":["mon"]}]"#},
            {"operation": "touch", "relationship": "doc:1#viewer@user:bob"},
            {"operation": "touch", "relationship": r#"doc:1#viewer@user:cy[ratio:{"a":1}]"#},
        ]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/relationships/read",
        &json!({"filter": {"resource_type": "doc"}}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["relationships"],
        json!([
            r#"doc:1#viewer@user:ann[on_day:{"allowed":["mon"]}]"#,
            "doc:1#viewer@user:bob",
            r#"doc:1#viewer@user:cy[ratio:{"a":1}]"#,
        ])
    );

    // Without context: conditional, naming what is missing; asked twice (the second walk reads the
    // cache), the same; never kept as a "no".
    for _ in 0..2 {
        let (s, b) = ask(&app, question("user:ann", json!({}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            (&b["allowed"], &b["conditional"], &b["missing"]),
            (&json!(false), &json!(true), &json!(["day"])),
            "{b}"
        );
    }
    let (_, b) = ask(&app, question("user:ann", json!({"day": "mon"}))).await;
    assert_eq!(
        (&b["allowed"], b.get("conditional")),
        (&json!(true), None),
        "{b}"
    );
    let (_, b) = ask(&app, question("user:ann", json!({"day": "tue"}))).await;
    assert_eq!(
        (&b["allowed"], b.get("conditional")),
        (&json!(false), None),
        "{b}"
    );
    let (_, b) = ask(&app, question("user:bob", json!({}))).await;
    assert_eq!(b["allowed"], json!(true), "{b}");

    // Explained, with the same context: the same answer, and a conditional one says so.
    let mut q = question("user:ann", json!({"day": "mon"}));
    q["explain"] = json!(true);
    let (s, b) = ask(&app, q.clone()).await;
    assert_eq!((s, &b["allowed"]), (StatusCode::OK, &json!(true)), "{b}");
    q["context"] = json!({});
    let (_, b) = ask(&app, q).await;
    assert_eq!(b["allowed"], json!(false), "{b}");
    assert!(
        b["why"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("conditional on caveat context not given (day)"),
        "{b}"
    );

    // A value of the wrong type is the caller's error, named.
    let (s, b) = ask(&app, question("user:ann", json!({"day": 3}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "caveat_context_invalid", "{b}");
    assert!(
        b["message"].as_str().unwrap_or_default().contains("`day`"),
        "{b}"
    );
    // An expression that fails (here, division by zero) is no fault of the question's shape.
    let (s, b) = ask(&app, question("user:cy", json!({"b": 0}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["error"], "caveat_failed", "{b}");
    let (_, b) = ask(&app, question("user:cy", json!({"b": 1}))).await;
    assert_eq!(b["allowed"], json!(true), "{b}");
    // Context must be an object.
    let (s, b) = ask(&app, question("user:ann", json!(["day"]))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    // Bulk: each item its own answer, one context for all.
    let (s, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/check/bulk",
        &json!({"items": [
            {"resource": "doc:1", "permission": "view", "subject": "user:ann"},
            {"resource": "doc:1", "permission": "view", "subject": "user:cy"},
            {"resource": "doc:1", "permission": "view", "subject": "user:dee"},
        ], "context": {"b": 1}})
        .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["results"],
        json!([
            {"allowed": false, "conditional": true, "missing": ["day"]},
            {"allowed": true},
            {"allowed": false},
        ])
    );

    // Lookups list the conditional resources apart, counted in the page.
    let (s, b) = write(
        &app,
        "acme",
        json!([{"operation": "touch", "relationship": "doc:2#viewer@user:ann"}]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let lookup = |context: Value| {
        json!({"resource_type": "doc", "permission": "view", "subject": "user:ann", "context": context})
            .to_string()
    };
    let (s, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/lookup/resources",
        &lookup(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["resources"], json!(["2"]), "{b}");
    assert_eq!(
        b["conditional"],
        json!([{"id": "1", "missing": ["day"]}]),
        "{b}"
    );
    let (_, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/lookup/resources",
        &lookup(json!({"day": "mon"})),
    )
    .await;
    assert_eq!(
        (&b["resources"], b.get("conditional")),
        (&json!(["1", "2"]), None),
        "{b}"
    );
}

#[tokio::test]
async fn caveated_writes_and_contextual_relationships_are_validated() {
    let (app, _, _dir) = app().await;
    let (s, b) = send(&app, "PUT", "/v1/tenants/acme/schema", SCHEMA).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for (relationship, code) in [
        (
            r#"doc:1#viewer@user:a[on_day:{"allowed": 1}]"#,
            "relationship_syntax",
        ),
        (
            r#"doc:1#viewer@user:a[on_day:{"month": "may"}]"#,
            "relationship_syntax",
        ),
        ("doc:1#viewer@user:a[nope]", "subject_not_allowed"),
        ("doc:1#viewer@user:a[on_day", "relationship_syntax"),
        (
            "doc:1#viewer@user:a[on_day:not json]",
            "relationship_syntax",
        ),
    ] {
        let b = refused(&app, relationship).await;
        assert_eq!(b["error"], code, "{relationship}: {b}");
    }
    // A contextual relationship may carry a caveat, evaluated like a stored one.
    let mut q = question("user:eve", json!({"day": "mon"}));
    q["context_relationships"] = json!([r#"doc:1#viewer@user:eve[on_day:{"allowed":["mon"]}]"#]);
    let (s, b) = ask(&app, q.clone()).await;
    assert_eq!((s, &b["allowed"]), (StatusCode::OK, &json!(true)), "{b}");
    q["context"] = json!({});
    let (_, b) = ask(&app, q.clone()).await;
    assert_eq!(b["conditional"], json!(true), "{b}");
    q["context_relationships"] = json!([r#"doc:1#viewer@user:eve[on_day:{"allowed":"mon"}]"#]);
    let (s, b) = ask(&app, q).await;
    assert_eq!(
        (s, &b["error"]),
        (StatusCode::BAD_REQUEST, &json!("relationship_syntax")),
        "{b}"
    );
}

#[tokio::test]
async fn decisions_are_recorded_with_their_caveat_context_and_explained_with_it() {
    let (app, _, _dir) = app().await;
    let (s, b) = send(&app, "PUT", "/v1/tenants/acme/schema", SCHEMA).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = write(
        &app,
        "acme",
        json!([{"operation": "touch", "relationship": r#"doc:1#viewer@user:ann[on_day:{"allowed":["mon"]}]"#}]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for context in [json!({"day": "tue"}), json!({})] {
        let (s, b) = ask(&app, question("user:ann", context)).await;
        assert_eq!((s, &b["allowed"]), (StatusCode::OK, &json!(false)), "{b}");
    }
    // Denials are explained after the answer has gone: poll until both reasons are in.
    let mut decisions = Vec::new();
    for _ in 0..100 {
        let (s, b) = send(&app, "GET", "/v1/tenants/acme/audit?limit=100", "").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        decisions = b["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "check.decision")
            .cloned()
            .collect();
        if decisions.len() == 2 && decisions.iter().all(|e| e["detail"]["why"].is_object()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    // Newest first.
    let (conditional, decided) = (&decisions[0], &decisions[1]);
    assert_eq!(
        decided["detail"]["caveat_context"],
        json!({"day": "tue"}),
        "{decided}"
    );
    assert!(decided["detail"].get("conditional").is_none(), "{decided}");
    let reason = decided["detail"]["why"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !reason.contains("conditional"),
        "explained with its context: {reason}"
    );
    assert_eq!(
        conditional["detail"]["conditional"],
        json!(["day"]),
        "{conditional}"
    );
    assert!(
        conditional["detail"].get("caveat_context").is_none(),
        "{conditional}"
    );
    let reason = conditional["detail"]["why"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("conditional on caveat context not given (day)"),
        "{reason}"
    );
}

const EXPIRING: &str = "use expiration
definition user {}
definition doc {
    relation viewer: user | user with expiration
    relation owner: user
    permission view = viewer + owner
}";

/// An answer resting on a relationship that expires says until when (`valid_until`), kept or not, and
/// once that moment has passed the kept answer is not served: the same revision answers no. (The bound
/// is the earliest expiration among what the walk read: bob's answer on doc:1 would carry ann's too.)
#[tokio::test]
async fn an_answer_resting_on_an_expiring_relationship_says_until_when() {
    let (app, _, _dir) = app().await;
    let (s, b) = send(&app, "PUT", "/v1/tenants/acme/schema", EXPIRING).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let soon = tessera_authz::tuple::format_expiration(tessera_origin::now().plus_secs(2));
    let (s, b) = write(
        &app,
        "acme",
        json!([
            {"operation": "touch", "relationship": format!("doc:1#viewer@user:ann[expiration:{soon}]")},
            {"operation": "touch", "relationship": "doc:2#owner@user:bob"},
        ]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let zookie = b["zookie"].clone();
    let at = |resource: &str, subject: &str| {
        json!({"resource": resource, "permission": "view", "subject": subject,
               "consistency": {"at_exact_snapshot": zookie}})
    };
    // Twice: the second is the kept answer, still saying until when.
    for _ in 0..2 {
        let (s, b) = ask(&app, at("doc:1", "user:ann")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            (&b["allowed"], &b["valid_until"]),
            (&json!(true), &json!(soon)),
            "{b}"
        );
        let (_, b) = ask(&app, at("doc:2", "user:bob")).await;
        assert_eq!(
            (&b["allowed"], b.get("valid_until")),
            (&json!(true), None),
            "{b}"
        );
    }
    let (s, b) = send(
        &app,
        "POST",
        "/v1/tenants/acme/check/bulk",
        &json!({"items": [{"resource": "doc:1", "permission": "view", "subject": "user:ann"}]})
            .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["results"][0]["valid_until"], json!(soon), "{b}");
    while tessera_origin::now() <= tessera_authz::tuple::parse_expiration(&soon).unwrap() {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, b) = ask(&app, at("doc:1", "user:ann")).await;
    assert_eq!(
        (&b["allowed"], b.get("valid_until")),
        (&json!(false), None),
        "{b}"
    );
    // Errors a writer can make, each said plainly.
    for (relationship, why) in [
        (
            "doc:1#viewer@user:cy[expiration:tomorrow]",
            "is not an expiration",
        ),
        (
            "doc:1#owner@user:cy[expiration:2300-01-01T00:00:00Z]",
            "user:cy with expiration",
        ),
        (
            "doc:1#viewer@user:cy[expiration:2300-01-01T00:00:00Z][x]",
            "must be the last part",
        ),
    ] {
        let b = refused(&app, relationship).await;
        assert!(
            b["message"].as_str().unwrap_or_default().contains(why),
            "{relationship}: {b}"
        );
    }
}

/// Touch `relationship` in tenant acme, which must be refused as a bad request: the error answer.
async fn refused(app: &axum::Router, relationship: &str) -> Value {
    let (s, b) = write(
        app,
        "acme",
        json!([{"operation": "touch", "relationship": relationship}]),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{relationship}: {b}");
    b
}
