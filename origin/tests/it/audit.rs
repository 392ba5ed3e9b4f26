//! The audit trail: the store on SQLite and PostgreSQL (append with duplicates removed, also under 8
//! concurrent deliveries of one batch; queries and cursors; the hash chain catching an edited, a removed
//! and a newest-removed record; retention by whole days that leaves a chain `verify` accepts), and the
//! origin's own events through its HTTP API.

use axum::http::StatusCode;
use tessera_origin::audit::store::{AuditStore, Checked, Filter};
use tessera_origin::audit::{check, new_id};
use tessera_origin::store::{Db, Store};
use tessera_proto::audit::{kinds, Actor, ActorKind, AuditEvent, Outcome, Source};

use super::{app, send};

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    tessera_origin::now().as_millis()
}

fn event(tenant: &str, kind: &str, outcome: Outcome, at_ms: i64) -> AuditEvent {
    AuditEvent {
        id: new_id(),
        at_ms,
        tenant: tenant.into(),
        kind: kind.into(),
        outcome,
        code: String::new(),
        actor: Actor {
            kind: ActorKind::Client,
            id: "web".into(),
        },
        request_id: "req-1".into(),
        region: "local".into(),
        source: Source::Edge,
        subject: "user:alice".into(),
        resource: "doc:readme".into(),
        permission: "view".into(),
        revision: Some(7),
        zookie: String::new(),
        consistency: "minimize_latency".into(),
        tier: "isolate".into(),
        latency_us: Some(42),
        detail: serde_json::Map::new(),
    }
}

fn checked(events: &[AuditEvent], now: i64) -> Vec<Checked> {
    events
        .iter()
        .map(|e| check(e.clone(), now).unwrap())
        .collect()
}

/// Run SQL that an attacker with database access would (fixed text).
async fn tamper(db: &Db, sql: &str) -> Result<(), sqlx::Error> {
    match db {
        Db::Sqlite(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(pool)
            .await
            .map(|_| ()),
        Db::Postgres(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(pool)
            .await
            .map(|_| ()),
    }
}

async fn suite(store: &Store) {
    let audit = AuditStore::new(store.db().clone());
    let now = now_ms();

    // A batch, and the same batch again (a redelivery): stored once.
    let batch: Vec<AuditEvent> = (0..3)
        .map(|i| {
            let outcome = if i == 1 {
                Outcome::Denied
            } else {
                Outcome::Allowed
            };
            event("acme", kinds::CHECK_DECISION, outcome, now - 1000 + i)
        })
        .collect();
    let done = audit
        .append("acme", &checked(&batch, now), now)
        .await
        .unwrap();
    assert_eq!((done.stored, done.duplicates), (3, 0));
    let again = audit
        .append("acme", &checked(&batch, now), now)
        .await
        .unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 3));

    // Eight deliveries of one batch at once: each event stored exactly once, the chain unforked.
    let batch: Vec<AuditEvent> = (0..5)
        .map(|i| event("acme", kinds::TOKEN_ISSUED, Outcome::Success, now + i))
        .collect();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (audit, batch) = (audit.clone(), checked(&batch, now));
            tokio::spawn(async move { audit.append("acme", &batch, now).await.unwrap() })
        })
        .collect();
    let (mut stored, mut duplicates) = (0, 0);
    for t in tasks {
        let d = t.await.unwrap();
        stored += d.stored;
        duplicates += d.duplicates;
    }
    assert_eq!((stored, duplicates), (5, 35));
    let report = audit.verify("acme", 400, now).await.unwrap();
    assert!(report.breaks.is_empty(), "{report:?}");
    assert_eq!(
        (report.records, report.first_seq, report.last_seq),
        (8, 1, 8)
    );

    // Queries: newest first, filters, pages.
    let all = audit.query("acme", &Filter::default(), 100).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=8).rev().collect::<Vec<_>>()
    );
    assert_eq!(all[7].event, batch_event_back(&all[7].event));
    let denied = Filter {
        outcome: Some("denied".into()),
        ..Filter::default()
    };
    let found = audit.query("acme", &denied, 100).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event.kind, kinds::CHECK_DECISION);
    let by_actor = Filter {
        actor: Some(("client".into(), "web".into())),
        kind: Some(kinds::TOKEN_ISSUED.into()),
        ..Filter::default()
    };
    assert_eq!(audit.query("acme", &by_actor, 100).await.unwrap().len(), 5);
    let first = audit.query("acme", &Filter::default(), 3).await.unwrap();
    let next = Filter {
        before_seq: Some(first[2].seq),
        ..Filter::default()
    };
    let second = audit.query("acme", &next, 3).await.unwrap();
    assert_eq!(second.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 4, 3]);
    let later = Filter {
        after_seq: Some(6),
        ..Filter::default()
    };
    assert_eq!(
        audit
            .query("acme", &later, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        [7, 8]
    );
    let window = Filter {
        from_ms: Some(now),
        to_ms: Some(now + 2),
        ..Filter::default()
    };
    assert_eq!(audit.query("acme", &window, 10).await.unwrap().len(), 2);
    // Another tenant sees none of it.
    assert!(audit
        .query("other", &Filter::default(), 10)
        .await
        .unwrap()
        .is_empty());

    // Records are append-only: an UPDATE is refused by the database.
    let refused = tamper(
        store.db(),
        "UPDATE audit_events SET outcome = 'allowed' WHERE outcome = 'denied'",
    )
    .await;
    assert!(
        refused.is_err(),
        "an update of an audit record was accepted"
    );

    // Someone who can drop the trigger edits a record: verify finds which.
    let drop_trigger = match store.db() {
        Db::Sqlite(_) => "DROP TRIGGER audit_events_append_only",
        Db::Postgres(_) => "DROP TRIGGER audit_events_append_only ON audit_events",
    };
    tamper(store.db(), drop_trigger).await.unwrap();
    tamper(
        store.db(),
        "UPDATE audit_events SET outcome = 'allowed' WHERE tenant = 'acme' AND seq = 2",
    )
    .await
    .unwrap();
    let report = audit.verify("acme", 400, now).await.unwrap();
    assert_eq!(report.breaks.len(), 1, "{report:?}");
    assert_eq!(
        (report.breaks[0].seq, report.breaks[0].problem.as_str()),
        (2, "edited")
    );

    // A record removed from the middle, and the newest removed.
    for tenant in ["gap", "tail"] {
        let events: Vec<AuditEvent> = (0..4)
            .map(|i| event(tenant, kinds::SESSION_LOGOUT, Outcome::Success, now + i))
            .collect();
        audit
            .append(tenant, &checked(&events, now), now)
            .await
            .unwrap();
        assert!(audit
            .verify(tenant, 400, now)
            .await
            .unwrap()
            .breaks
            .is_empty());
    }
    tamper(
        store.db(),
        "DELETE FROM audit_events WHERE tenant = 'gap' AND seq = 2",
    )
    .await
    .unwrap();
    let report = audit.verify("gap", 400, now).await.unwrap();
    assert_eq!(report.breaks.len(), 1, "{report:?}");
    assert_eq!(
        (report.breaks[0].seq, report.breaks[0].problem.as_str()),
        (2, "missing")
    );
    tamper(
        store.db(),
        "DELETE FROM audit_events WHERE tenant = 'tail' AND seq = 4",
    )
    .await
    .unwrap();
    let report = audit.verify("tail", 400, now).await.unwrap();
    assert_eq!(report.breaks.len(), 1, "{report:?}");
    assert_eq!(report.breaks[0].problem, "head");
    // An anchor moved to the head (as if retention had removed everything): the records still there,
    // and a cut inside the retention window, give it away.
    let events: Vec<AuditEvent> = (0..3)
        .map(|i| event("moved", kinds::SESSION_LOGOUT, Outcome::Success, now + i))
        .collect();
    audit
        .append("moved", &checked(&events, now), now)
        .await
        .unwrap();
    let head: (i64, String) = match store.db() {
        Db::Sqlite(pool) => {
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE tenant = 'moved'")
                .fetch_one(pool)
                .await
                .unwrap()
        }
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE tenant = 'moved'")
                .fetch_one(pool)
                .await
                .unwrap()
        }
    };
    let today = now.div_euclid(DAY);
    tamper(store.db(), &format!("INSERT INTO audit_anchors (tenant, seq, hash, day) VALUES ('moved', {}, '{}', {today})", head.0, head.1)).await.unwrap();
    let report = audit.verify("moved", 400, now).await.unwrap();
    assert!(
        report.breaks.iter().all(|b| b.problem == "anchor"),
        "{report:?}"
    );
    assert_eq!(report.breaks.len(), 2, "{report:?}");
    assert_eq!(
        audit.tenants().await.unwrap(),
        ["acme", "gap", "moved", "tail"]
    );
}

/// The event as stored and read back is the event sent (the record's own fields aside).
fn batch_event_back(e: &AuditEvent) -> AuditEvent {
    let mut expected = event("acme", kinds::CHECK_DECISION, Outcome::Allowed, e.at_ms);
    expected.id.clone_from(&e.id);
    expected
}

/// Retention on its own database: records stored ten and nine days ago, and now; a tenant keeping five
/// days loses the old days whole, and its chain still verifies from the anchor retention left.
async fn retention_suite(store: &Store) {
    let audit = AuditStore::new(store.db().clone());
    let now = now_ms();
    for days_ago in [10, 9, 0] {
        let at = now - days_ago * DAY;
        let events: Vec<AuditEvent> = (0..3)
            .map(|i| {
                event(
                    "acme",
                    kinds::CHECK_DECISION,
                    Outcome::Allowed,
                    at.max(now - 20 * DAY) + i,
                )
            })
            .collect();
        let checked: Vec<Checked> = events
            .iter()
            .map(|e| check(e.clone(), at).unwrap())
            .collect();
        audit.append("acme", &checked, at).await.unwrap();
    }
    audit.set_retention("acme", 5).await.unwrap();
    assert_eq!(audit.retention("acme").await.unwrap(), Some(5));
    let removed = audit.apply_retention(now, 400).await.unwrap();
    assert_eq!(removed, 6);
    let left = audit.query("acme", &Filter::default(), 100).await.unwrap();
    // The three of today, and the cut itself, recorded in the chain after them.
    assert_eq!(
        left.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [10, 9, 8, 7]
    );
    assert_eq!(left[0].event.kind, kinds::AUDIT_RETENTION);
    assert_eq!(left[0].event.detail["anchor_seq"], 6);
    let report = audit.verify("acme", 5, now).await.unwrap();
    assert!(report.breaks.is_empty(), "{report:?}");
    assert_eq!((report.first_seq, report.records), (7, 4));
    // Kept for 400 days, the same cut is one made too early.
    let report = audit.verify("acme", 400, now).await.unwrap();
    assert_eq!(
        report
            .breaks
            .iter()
            .map(|b| b.problem.as_str())
            .collect::<Vec<_>>(),
        ["anchor"]
    );
    // Nothing more to remove.
    assert_eq!(audit.apply_retention(now, 400).await.unwrap(), 0);
    if let Db::Postgres(pool) = store.db() {
        // The old days went as partitions, not row by row.
        let parts: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'audit_events'::regclass",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        // Today's and tomorrow's are left (made ahead of need).
        assert_eq!(parts.len(), 2, "{parts:?}");
    }
}

#[tokio::test]
async fn audit_store_sqlite() {
    let (_, store, dir) = app().await;
    suite(&store).await;
    let (_, fresh, dir2) = app().await;
    retention_suite(&fresh).await;
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(dir2).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_store_postgres() {
    let Some(pg) = super::pg::PgServer::start() else {
        return;
    };
    let url = pg.database("audit_suite").await;
    let store = Store::connect(Some(&url), std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    suite(&store).await;
    let url = pg.database("audit_retention").await;
    let fresh = Store::connect(Some(&url), std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    retention_suite(&fresh).await;
}

const SCHEMA: &str = "definition user {}
definition doc {
    relation viewer: user
    relation banned: user
    permission view = viewer - banned
}";

/// Poll the tenant's records until `n` are stored (the writer flushes every 100 ms).
async fn records(app: &axum::Router, tenant: &str, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..50 {
        let (s, b) = send(
            app,
            "GET",
            &format!("/v1/tenants/{tenant}/audit?limit=1000"),
            "",
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let events = b["events"].as_array().unwrap().clone();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} audit records for {tenant}");
}

#[tokio::test]
async fn the_origin_records_its_writes_and_decisions() {
    let (app, _, dir) = app().await;
    let (s, _) = send(&app, "PUT", "/v1/tenants/acme/schema", SCHEMA).await;
    assert_eq!(s, StatusCode::OK);
    let write = r#"{"updates": [{"operation": "touch", "relationship": "doc:readme#viewer@user:alice"},
                                {"operation": "touch", "relationship": "doc:readme#viewer@user:mallory"},
                                {"operation": "touch", "relationship": "doc:readme#banned@user:mallory"}]}"#;
    let (s, written) = send(&app, "POST", "/v1/tenants/acme/relationships/write", write).await;
    assert_eq!(s, StatusCode::OK);
    // A refused write is recorded with its code.
    let (s, _) = send(
        &app,
        "POST",
        "/v1/tenants/acme/relationships/write",
        r#"{"updates": [{"operation": "touch", "relationship": "doc:readme#owner@user:alice"}]}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for subject in ["user:alice", "user:mallory"] {
        let body = format!(
            r#"{{"resource": "doc:readme", "permission": "view", "subject": "{subject}"}}"#
        );
        let (s, _) = send(&app, "POST", "/v1/tenants/acme/check", &body).await;
        assert_eq!(s, StatusCode::OK);
    }
    let events = records(&app, "acme", 5).await;
    let kinds_seen: Vec<(&str, &str)> = events
        .iter()
        .rev()
        .map(|e| (e["kind"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds_seen,
        [
            ("schema.written", "success"),
            ("relationships.written", "success"),
            ("relationships.written", "failure"),
            ("check.decision", "allowed"),
            ("check.decision", "denied"),
        ]
    );
    let write_event = &events[3];
    assert_eq!(write_event["zookie"], written["zookie"]);
    assert_eq!(write_event["detail"]["counts"]["touch"], 3);
    assert_eq!(write_event["source"], "origin");
    assert_eq!(events[2]["code"], "not_a_relation");
    let denied = &events[0];
    assert_eq!(denied["subject"], "user:mallory");
    assert_eq!(denied["tier"], "origin");
    assert!(denied["latency_us"].as_u64().is_some());
    // The denial carries its reason path: the exclusion that refused it.
    let why = &denied["detail"]["why"];
    assert_eq!(why["allowed"], false, "{denied}");
    assert!(why["reason"].as_str().is_some(), "{denied}");

    // A decision the edge records itself is not recorded twice; its request id is kept on writes.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/tenants/acme/check")
        .header("authorization", format!("Bearer {}", super::TOKEN))
        .header("tessera-audit-recorded-by", "edge")
        .body(axum::body::Body::from(
            r#"{"resource": "doc:readme", "permission": "view", "subject": "user:alice"}"#,
        ))
        .unwrap();
    use tower::ServiceExt as _;
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/tenants/acme/relationships/write")
        .header("authorization", format!("Bearer {}", super::TOKEN))
        .header("tessera-request-id", "edge-req-42")
        .body(axum::body::Body::from(r#"{"updates": [{"operation": "delete", "relationship": "doc:readme#banned@user:mallory"}]}"#))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    let events = records(&app, "acme", 6).await;
    assert_eq!(
        events.len(),
        6,
        "the edge-recorded decision was recorded again"
    );
    assert_eq!(events[0]["request_id"], "edge-req-42");

    // Stats and the chain.
    let (s, stats) = send(&app, "GET", "/v1/tenants/acme/audit/stats", "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stats["top_denied"][0]["permission"], "view");
    assert_eq!(stats["latency"][0]["tier"], "origin");
    let (s, report) = send(&app, "GET", "/v1/tenants/acme/audit/verify", "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(report["breaks"], serde_json::json!([]));
    assert_eq!(report["records"], 6);
    let id = events[0]["id"].as_str().unwrap();
    let (s, one) = send(
        &app,
        "GET",
        &format!("/v1/tenants/acme/audit/events/{id}"),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["seq"], 6);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn edge_batches_are_checked_and_stored_once() {
    let (app, _, dir) = app().await;
    let now = now_ms();
    let good = event("acme", kinds::TOKEN_ISSUED, Outcome::Success, now);
    let mut bad_id = event("acme", kinds::TOKEN_ISSUED, Outcome::Success, now);
    bad_id.id = "not-hex".into();
    let mut future = event(
        "acme",
        kinds::TOKEN_ISSUED,
        Outcome::Success,
        now + 3_600_000,
    );
    future.id = new_id();
    let body = serde_json::json!({ "events": [good, bad_id, future] }).to_string();
    let (s, b) = send(&app, "POST", "/internal/v1/audit/events", &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["stored"], 1);
    assert_eq!(b["refused"][0]["index"], 1);
    assert_eq!(b["refused"][1]["index"], 2);
    let (_, b) = send(&app, "POST", "/internal/v1/audit/events", &body).await;
    assert_eq!(
        (b["stored"].as_u64(), b["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    // Without the service credential: refused, nothing stored.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/internal/v1/audit/events")
        .body(axum::body::Body::from(body))
        .unwrap();
    use tower::ServiceExt as _;
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Bad queries are refused with the parameter named.
    let (s, b) = send(&app, "GET", "/v1/tenants/acme/audit?limit=0", "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["message"].as_str().unwrap().contains("`limit`"), "{b}");
    let (s, _) = send(
        &app,
        "PUT",
        "/v1/tenants/acme/audit/retention",
        r#"{"days": 0}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = send(
        &app,
        "PUT",
        "/v1/tenants/acme/audit/retention",
        r#"{"days": 30}"#,
    )
    .await;
    assert_eq!((s, b["days"].as_u64()), (StatusCode::OK, Some(30)));
    std::fs::remove_dir_all(dir).ok();
}
