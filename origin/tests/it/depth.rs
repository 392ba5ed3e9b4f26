//! The depth limit is reachable by every operation without overflowing the stack, and past it every
//! operation answers `422 depth_exceeded`; and the measurement behind the engine thread's stack size.
//!
//! Regression: a chain of about 37 arrows (expand 33, lookup subjects 36, explain 31) overflowed the
//! 2 MiB stack of the blocking thread the engine ran on and aborted the whole origin, although the
//! limit is 50.

use axum::http::StatusCode;
use serde_json::{json, Value};
use tessera_authz::engine::DEFAULT_MAX_DEPTH;
use tessera_authz::schema::MAX_EXPR_HEIGHT;

use crate::{app, send};

/// `t0 -next-> t1 -> ... -> t{depth}` with `t{depth}#view` a relation: deciding `t0:x#view` follows
/// `depth` arrows (the chain SpiceDB's integration configs build). `height` is the height of each `view`
/// expression: above 1, unions with `nil` wrap the arrow, so that every step also evaluates that many
/// operators.
fn chain_schema(depth: u32, height: u32) -> String {
    let mut expr = "next->view".to_owned();
    for _ in 1..height {
        expr = format!("nil + ({expr})");
    }
    let mut defs = vec![
        "definition user {}".to_owned(),
        format!("definition t{depth} {{\n relation view: user\n}}"),
    ];
    for i in (0..depth).rev() {
        defs.push(format!(
            "definition t{i} {{\n relation next: t{}\n permission view = {expr}\n}}",
            i + 1
        ));
    }
    defs.join("\n")
}

fn chain_relationships(depth: u32) -> Vec<String> {
    let mut rels: Vec<String> = (0..depth)
        .map(|i| format!("t{i}:x#next@t{}:x", i + 1))
        .collect();
    rels.push(format!("t{depth}:x#view@user:ann"));
    rels
}

async fn chain_tenant(app: &axum::Router, tenant: &str, depth: u32, height: u32) {
    let (s, b) = send(
        app,
        "PUT",
        &format!("/v1/tenants/{tenant}/schema"),
        &chain_schema(depth, height),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let updates: Vec<Value> = chain_relationships(depth)
        .into_iter()
        .map(|r| json!({ "operation": "create", "relationship": r }))
        .collect();
    let (s, b) = send(
        app,
        "POST",
        &format!("/v1/tenants/{tenant}/relationships/write"),
        &json!({ "updates": updates }).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Every operation over the chain of tenant `t`: (name, status, body).
async fn every_operation(app: &axum::Router, t: &str) -> Vec<(&'static str, StatusCode, Value)> {
    let fc = json!("fully_consistent");
    let calls = [
        (
            "check",
            "check",
            json!({ "resource": "t0:x", "permission": "view", "subject": "user:ann", "consistency": fc }),
        ),
        (
            "explain",
            "check",
            json!({ "resource": "t0:x", "permission": "view", "subject": "user:ann", "explain": true, "consistency": fc }),
        ),
        (
            "expand",
            "expand",
            json!({ "resource": "t0:x", "permission": "view", "consistency": fc }),
        ),
        (
            "lookup resources",
            "lookup/resources",
            json!({ "resource_type": "t0", "permission": "view", "subject": "user:ann", "consistency": fc }),
        ),
        (
            "lookup subjects",
            "lookup/subjects",
            json!({ "resource": "t0:x", "permission": "view", "subject_type": "user", "consistency": fc }),
        ),
        (
            "bulk check",
            "check/bulk",
            json!({ "items": [{ "resource": "t0:x", "permission": "view", "subject": "user:ann" }], "consistency": fc }),
        ),
    ];
    let mut out = Vec::new();
    for (name, path, body) in calls {
        let (s, b) = send_raw(app, &format!("/v1/tenants/{t}/{path}"), &body.to_string()).await;
        out.push((name, s, b));
    }
    out
}

/// POST `body`; the answer parsed without serde_json's nesting limit of 128 (an expand tree at a raised
/// depth limit nests deeper): JSON `{"raw": text}` when that limit is hit.
async fn send_raw(app: &axum::Router, uri: &str, body: &str) -> (StatusCode, Value) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", format!("Bearer {}", crate::TOKEN))
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    (status, value)
}

fn assert_granted(results: &[(&str, StatusCode, Value)], what: &str) {
    for (name, s, b) in results {
        assert_eq!(*s, StatusCode::OK, "{what}: {name}: {b}");
        let granted = match *name {
            "check" | "explain" => b["allowed"] == true,
            "expand" => b.to_string().contains("user:ann"),
            "lookup resources" => b["resources"].as_array().unwrap().contains(&json!("x")),
            "lookup subjects" => b["subjects"] == json!(["ann"]),
            _ => b["results"][0]["allowed"] == true,
        };
        assert!(granted, "{what}: {name}: {b}");
    }
}

fn assert_depth_exceeded(results: &[(&str, StatusCode, Value)], what: &str) {
    for (name, s, b) in results {
        if *name == "bulk check" {
            // A bulk check answers per item.
            assert_eq!(*s, StatusCode::OK, "{what}: {name}: {b}");
            assert_eq!(
                b["results"][0]["error"], "depth_exceeded",
                "{what}: {name}: {b}"
            );
        } else {
            assert_eq!(*s, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {name}: {b}");
            assert_eq!(b["error"], "depth_exceeded", "{what}: {name}: {b}");
        }
    }
}

/// Each step evaluates a union and an arrow (height 2, the shape of SpiceDB's `viewer + parent->view`):
/// before the fix this overflowed the 2 MiB blocking thread in a debug build.
#[tokio::test]
async fn every_operation_reaches_the_depth_limit_and_refuses_past_it() {
    let (app, _, dir) = app().await;
    chain_tenant(&app, "at", DEFAULT_MAX_DEPTH, 2).await;
    chain_tenant(&app, "past", DEFAULT_MAX_DEPTH + 1, 2).await;
    assert_granted(&every_operation(&app, "at").await, "at the limit");
    assert_depth_exceeded(&every_operation(&app, "past").await, "past the limit");
    // The origin is still there, and answers.
    let (s, b) = send(&app, "GET", "/v1/tenants/at/head", "").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    std::fs::remove_dir_all(dir).ok();
}

/// On the origin's own runtime a single check (and its explanation) runs where its request is: at the
/// limit and past it, the same answers, and no overflow.
#[test]
fn on_the_origins_runtime_checks_run_inline_to_the_limit_and_refuse_past_it() {
    tessera_origin::runtime().unwrap().block_on(async {
        let (app, _, dir) = app().await;
        chain_tenant(&app, "at", DEFAULT_MAX_DEPTH, 2).await;
        chain_tenant(&app, "past", DEFAULT_MAX_DEPTH + 1, 2).await;
        // Served by the runtime's threads, as the origin serves requests.
        let at = tokio::spawn({
            let app = app.clone();
            async move { every_operation(&app, "at").await }
        });
        assert_granted(&at.await.unwrap(), "at the limit");
        let past = tokio::spawn({
            let app = app.clone();
            async move { every_operation(&app, "past").await }
        });
        assert_depth_exceeded(&past.await.unwrap(), "past the limit");
        std::fs::remove_dir_all(dir).ok();
    });
}

/// A check on the request's thread that would ask for more keys than it may there (a wide fan-out of
/// groups) is finished on a thread of its own, with the same answers, kept like any other.
#[test]
fn on_the_origins_runtime_a_long_check_moves_to_a_thread_of_its_own() {
    tessera_origin::runtime().unwrap().block_on(async {
        let (app, _, dir) = app().await;
        let schema = "definition user {}
definition group {
    relation member: user
}
definition doc {
    relation viewer: group#member
    permission view = viewer
}";
        let (s, b) = send(&app, "PUT", "/v1/tenants/wide/schema", schema).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let mut updates: Vec<Value> = (0..400)
            .map(|i| json!({ "operation": "create", "relationship": format!("doc:x#viewer@group:g{i}#member") }))
            .collect();
        updates.push(json!({ "operation": "create", "relationship": "group:g399#member@user:ann" }));
        let (s, b) = send(
            &app,
            "POST",
            "/v1/tenants/wide/relationships/write",
            &json!({ "updates": updates }).to_string(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        for _ in 0..2 {
            for (user, want) in [("ann", true), ("bob", false)] {
                let app = app.clone();
                let (s, b) = tokio::spawn(async move {
                    let body = json!({ "resource": "doc:x", "permission": "view", "subject": format!("user:{user}"), "consistency": "fully_consistent" });
                    send_raw(&app, "/v1/tenants/wide/check", &body.to_string()).await
                })
                .await
                .unwrap();
                assert_eq!(s, StatusCode::OK, "{b}");
                assert_eq!(b["allowed"], want, "{user}: {b}");
            }
        }
        std::fs::remove_dir_all(dir).ok();
    });
}

/// Where a check may run: here only on a thread that noted its stack (the origin's runtime threads) and
/// only when that stack holds the walk; elsewhere, or when it does not fit, on a thread of its own.
#[test]
fn a_check_runs_here_only_where_the_stack_is_known_to_hold_it() {
    use tessera_origin::authz::engine_thread::{note_thread_stack, run_here, RUNTIME_STACK};
    use tessera_origin::authz::store::{AuthzStore, Operation};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "tessera-origin-here-{}",
        crate::hex(&tessera_origin::random_bytes::<8>().unwrap())
    ));
    let (authz, at) = rt.block_on(async {
        let store = tessera_origin::store::Store::open(&dir).await.unwrap();
        let authz = AuthzStore::new(store.db().clone());
        authz.write_schema("t", &chain_schema(3, 1)).await.unwrap();
        let updates: Vec<(Operation, tessera_authz::Tuple)> = chain_relationships(3)
            .iter()
            .map(|r| (Operation::Create, r.parse().unwrap()))
            .collect();
        let at = authz.write("t", &updates, &[]).await.unwrap();
        (authz, at)
    });
    let (_, schema) = rt.block_on(authz.schema_at("t", at)).unwrap().unwrap();
    let ask_within = |max_depth: u32, keys: u32| {
        let reader = authz.reader("t", at).bounded(keys);
        run_here(&schema, &reader, max_depth, |engine| {
            Box::pin(async move {
                let node: tessera_authz::ObjectRef = "t0:x".parse().unwrap();
                let ann: tessera_authz::SubjectRef = "user:ann".parse().unwrap();
                engine.check(&node, "view", &ann).await
            })
        })
        .map_err(|_| "not here")
    };
    let ask = |max_depth: u32| ask_within(max_depth, u32::MAX);
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(ask(DEFAULT_MAX_DEPTH).unwrap_err(), "not here"));
        std::thread::Builder::new()
            .stack_size(RUNTIME_STACK)
            .spawn_scoped(s, || {
                note_thread_stack(RUNTIME_STACK);
                assert_eq!(ask(DEFAULT_MAX_DEPTH), Ok(Ok(Ok(true))));
                // A limit whose walk could need more than this stack: not here.
                assert_eq!(ask(100_000).unwrap_err(), "not here");
                // The chain asks for 4 keys: within 4 it answers, within 3 it is stopped.
                assert_eq!(ask_within(DEFAULT_MAX_DEPTH, 4), Ok(Ok(Ok(true))));
                assert_eq!(
                    ask_within(DEFAULT_MAX_DEPTH, 3),
                    Ok(Ok(Err(tessera_authz::CheckError::Store(
                        tessera_origin::authz::store::BUDGET_SPENT.to_owned()
                    ))))
                );
            })
            .unwrap();
    });
    std::fs::remove_dir_all(dir).ok();
}

/// The stack also holds the operators of every step: the deepest expression the parser admits, at
/// every one of the 50 steps.
#[tokio::test]
async fn the_deepest_expressions_at_the_depth_limit_fit() {
    let (app, _, dir) = app().await;
    chain_tenant(&app, "tall", DEFAULT_MAX_DEPTH, MAX_EXPR_HEIGHT).await;
    assert_granted(&every_operation(&app, "tall").await, "tallest expressions");
    std::fs::remove_dir_all(dir).ok();
}

/// A raised limit (`--max-depth`) is reachable too: the stack grows with it.
#[tokio::test]
async fn a_raised_depth_limit_is_reachable() {
    let dir = std::env::temp_dir().join(format!(
        "tessera-origin-depth-{}",
        crate::hex(&tessera_origin::random_bytes::<8>().unwrap())
    ));
    let store = tessera_origin::store::Store::open(&dir).await.unwrap();
    let state = tessera_origin::AppState::new(
        store,
        tessera_origin::ServiceToken::new(crate::TOKEN.to_owned()).unwrap(),
        None,
    )
    .with_max_depth(200);
    let app = tessera_origin::http::router(state);
    chain_tenant(&app, "at", 200, 1).await;
    chain_tenant(&app, "past", 201, 1).await;
    assert_granted(&every_operation(&app, "at").await, "at 200");
    assert_depth_exceeded(&every_operation(&app, "past").await, "past 200");
    std::fs::remove_dir_all(dir).ok();
}

// ---------------------------------------------------------------------------------- the measurement

const OPS: [&str; 5] = [
    "check",
    "explain",
    "expand",
    "lookup_resources",
    "lookup_subjects",
];

/// One probe, in a child process started by [`measure_engine_stack`]: run operation `PROBE_OP` over a
/// chain of `PROBE_DEPTH` arrows (expression height `PROBE_HEIGHT`) on a thread with a stack of
/// `PROBE_STACK` bytes, with the real SQLite reader. A stack overflow kills the process.
#[tokio::test]
#[ignore = "a probe that measure_engine_stack runs in a child process"]
async fn stack_probe() {
    use tessera_origin::authz::store::{AuthzStore, Operation};
    let var = |k: &str| std::env::var(k).unwrap();
    let stack: usize = var("PROBE_STACK").parse().unwrap();
    let depth: u32 = var("PROBE_DEPTH").parse().unwrap();
    let height: u32 = var("PROBE_HEIGHT").parse().unwrap();
    let op = var("PROBE_OP");
    let dir = std::env::temp_dir().join(format!(
        "tessera-origin-probe-{}",
        crate::hex(&tessera_origin::random_bytes::<8>().unwrap())
    ));
    let store = tessera_origin::store::Store::open(&dir).await.unwrap();
    let authz = AuthzStore::new(store.db().clone());
    authz
        .write_schema("t", &chain_schema(depth, height))
        .await
        .unwrap();
    let updates: Vec<(Operation, tessera_authz::Tuple)> = chain_relationships(depth)
        .iter()
        .map(|r| (Operation::Create, r.parse().unwrap()))
        .collect();
    let at = authz.write("t", &updates, &[]).await.unwrap();
    let (_, schema) = authz.schema_at("t", at).await.unwrap().unwrap();
    let reader = authz.reader("t", at);
    let handle = tokio::runtime::Handle::current();
    let which = op.clone();
    let ok = tessera_origin::authz::engine_thread::run(stack, move || {
        let _context = handle.enter();
        handle.block_on(async move {
            let engine = tessera_authz::Engine::new(&schema, &reader).with_max_depth(depth);
            let node: tessera_authz::ObjectRef = "t0:x".parse().unwrap();
            let ann: tessera_authz::SubjectRef = "user:ann".parse().unwrap();
            match which.as_str() {
                "check" => engine.check(&node, "view", &ann).await.unwrap(),
                "explain" => engine.explain(&node, "view", &ann).await.unwrap().allowed,
                // As the origin answers: serialised (and dropped) on the engine's thread.
                "expand" => serde_json::to_string(&engine.expand(&node, "view").await.unwrap())
                    .unwrap()
                    .contains("user:ann"),
                "lookup_resources" => engine
                    .lookup_resources("t0", "view", &ann, None, 1000)
                    .await
                    .unwrap()
                    .0
                    .contains(&"x".to_owned()),
                _ => engine
                    .lookup_subjects(&node, "view", "user", None)
                    .await
                    .unwrap()
                    .ids
                    .contains(&"ann".to_owned()),
            }
        })
    })
    .await
    .unwrap();
    assert!(ok, "{op} at depth {depth} did not succeed");
    std::fs::remove_dir_all(dir).ok();
}

/// The smallest stack (to 16 KiB) on which `op` completes at `depth` and `height`.
fn smallest_stack(op: &str, depth: u32, height: u32) -> usize {
    let exe = std::env::current_exe().unwrap();
    let passes = |stack: usize| {
        std::process::Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "depth::stack_probe",
                "--test-threads=1",
            ])
            .env("PROBE_STACK", stack.to_string())
            .env("PROBE_DEPTH", depth.to_string())
            .env("PROBE_HEIGHT", height.to_string())
            .env("PROBE_OP", op)
            .output()
            .unwrap()
            .status
            .success()
    };
    let (mut lo, mut hi) = (2usize, 8192usize); // in units of 16 KiB: 32 KiB (too small) .. 128 MiB
    assert!(
        passes(hi * 16 * 1024),
        "{op} fails even on {} bytes",
        hi * 16 * 1024
    );
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if passes(mid * 16 * 1024) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi * 16 * 1024
}

/// Measure the engine's stack use per nested step, per expression operator and outside the recursion,
/// for every operation (see `engine_thread` in the origin for how the figures size the stack). Slow: it
/// starts a child process per probe.
#[test]
#[ignore = "a measurement: run with --ignored --nocapture after changing the engine"]
fn measure_engine_stack() {
    let (d1, d2, h1, h2) = (10u32, 50u32, 1u32, 21u32);
    let (mut step, mut operator, mut base) = (0usize, 0usize, 0usize);
    for op in OPS {
        let shallow = smallest_stack(op, d1, h1);
        let deep = smallest_stack(op, d2, h1);
        let tall = smallest_stack(op, d2, h2);
        let per_step = deep.saturating_sub(shallow) / usize::try_from(d2 - d1).unwrap();
        let per_operator = tall.saturating_sub(deep) / usize::try_from(d2 * (h2 - h1)).unwrap();
        let rest = shallow.saturating_sub(per_step * usize::try_from(d1).unwrap());
        println!(
            "{op:>16}: depth {d1}: {shallow} B, depth {d2}: {deep} B, depth {d2} height {h2}: {tall} B \
             => {per_step} B/step, {per_operator} B/operator/step, {rest} B base"
        );
        step = step.max(per_step);
        operator = operator.max(per_operator);
        base = base.max(rest);
    }
    println!("worst: {step} B/step, {operator} B/operator/step, {base} B base");
    let needed = |depth: u32, height: u32| {
        base + usize::try_from(depth + 2).unwrap()
            * (step + operator * usize::try_from(height).unwrap())
    };
    let sized =
        tessera_origin::authz::engine_thread::stack_size(DEFAULT_MAX_DEPTH, MAX_EXPR_HEIGHT);
    println!(
        "needed at depth {DEFAULT_MAX_DEPTH}, height {MAX_EXPR_HEIGHT}: {} B; stack_size gives {sized} B",
        needed(DEFAULT_MAX_DEPTH, MAX_EXPR_HEIGHT)
    );
    assert!(sized >= 2 * needed(DEFAULT_MAX_DEPTH, MAX_EXPR_HEIGHT));
}
