//! The accounts API in process: sign-up with a passkey, more devices, the counter's compare-and-set, TOTP
//! enrolment and replay, sessions with single-use refresh tokens and reuse detection, logout.

use axum::http::StatusCode;
use serde_json::{json, Value};
use tessera_authn::totp::{code_for_step, TotpParams, TotpSecret};

use crate::{app, send};

const T: &str = "/internal/v1/tenants/acme";

fn passkey(id: &str, user: &str) -> Value {
    json!({
        "credential_id": id, "user_id": user, "public_key": "pQECAyYgASFYIA", "sign_count": 0,
        "backup_eligible": false, "backed_up": false, "aaguid": "AAAAAAAAAAAAAAAAAAAAAA", "transports": ["internal"],
    })
}

async fn sign_up(app: &axum::Router, user: &str, name: &str, cred: &str) -> (StatusCode, Value) {
    let body = json!({ "user": { "user_id": user, "username": name, "display_name": name }, "passkey": passkey(cred, user) });
    send(app, "POST", &format!("{T}/signup"), &body.to_string()).await
}

#[tokio::test]
async fn sign_up_devices_and_the_counter() {
    let (app, _, _dir) = app().await;
    let (s, b) = sign_up(&app, "dUser1", "ann", "cred-1").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["username"], "ann");
    // Taken names and credentials are refused, and nothing half-done is left behind.
    let (s, b) = sign_up(&app, "dUser2", "ann", "cred-2").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("username_taken"))
    );
    let (s, b) = sign_up(&app, "dUser3", "bob", "cred-1").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("credential_exists"))
    );
    let (s, _) = send(&app, "GET", &format!("{T}/users/by-name/bob"), "").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a failed sign-up creates no user");
    // A second device.
    let (s, _) = send(
        &app,
        "POST",
        &format!("{T}/users/dUser1/passkeys"),
        &passkey("cred-2", "dUser1").to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = send(&app, "GET", &format!("{T}/users/by-name/ann"), "").await;
    assert_eq!(b["passkeys"].as_array().unwrap().len(), 2);
    assert_eq!(b["totp"], false);
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/users/nobody/passkeys"),
        &passkey("cred-9", "nobody").to_string(),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_user"))
    );
    let (_, b) = send(&app, "GET", &format!("{T}/passkeys/cred-2"), "").await;
    assert_eq!(b["user"]["user_id"], "dUser1");
    assert_eq!(b["passkey"]["transports"], json!(["internal"]));
    // Other tenants see nothing.
    let (s, _) = send(
        &app,
        "GET",
        "/internal/v1/tenants/globex/passkeys/cred-2",
        "",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The counter moves by compare-and-set: a second use from the same old value loses.
    let counter =
        |from: u32, to: u32| json!({ "from": from, "to": to, "backed_up": false }).to_string();
    let (s, _) = send(
        &app,
        "POST",
        &format!("{T}/passkeys/cred-1/counter"),
        &counter(0, 5),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/passkeys/cred-1/counter"),
        &counter(0, 6),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("counter_conflict"))
    );
    let (_, b) = send(&app, "GET", &format!("{T}/passkeys/cred-1"), "").await;
    assert_eq!(b["passkey"]["sign_count"], 5);
    // Bad input.
    let (s, _) = send(&app, "POST", &format!("{T}/signup"), "{}").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = sign_up(&app, "dUser4", " spaced ", "cred-4").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_username"))
    );
    let (s, _) = sign_up(&app, "not base64url!", "cy", "cred-5").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn totp_enrols_confirms_and_refuses_replays() {
    let (app, _, _dir) = app().await;
    sign_up(&app, "uTotp", "tia", "cred-t").await;
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/users/uTotp/totp/verify"),
        r#"{"code": "123456"}"#,
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("totp_not_enrolled"))
    );
    let (s, b) = send(&app, "POST", &format!("{T}/users/uTotp/totp"), "").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let secret = TotpSecret::from_base32(b["secret"].as_str().unwrap()).unwrap();
    let p = TotpParams::default();
    let now = tessera_origin::now();
    let code = |step: u64| code_for_step(&secret, &p, step).to_string();
    let step = p.step_at(now);
    // Before confirmation the secret is not usable for sign-in; the first good code confirms it.
    let (s, _) = send(
        &app,
        "POST",
        &format!("{T}/users/uTotp/totp/verify"),
        &json!({ "code": code(step) }).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/users/uTotp/totp/verify"),
        &json!({ "code": "000000", "confirm": true }).to_string(),
    )
    .await;
    if code(step - 1) != "000000" && code(step) != "000000" && code(step + 1) != "000000" {
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("totp_mismatch"))
        );
    }
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/users/uTotp/totp/verify"),
        &json!({ "code": code(step - 1), "confirm": true }).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, b) = send(&app, "GET", &format!("{T}/users/uTotp"), "").await;
    assert_eq!(b["totp"], true);
    // Enrolled: a second enrolment is refused; codes work once per step.
    let (s, _) = send(&app, "POST", &format!("{T}/users/uTotp/totp"), "").await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/users/uTotp/totp/verify"),
        &json!({ "code": code(step - 1) }).to_string(),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("totp_replayed"))
    );
    let (s, _) = send(
        &app,
        "POST",
        &format!("{T}/users/uTotp/totp/verify"),
        &json!({ "code": code(step) }).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/users/uTotp/totp/verify"),
        &json!({ "code": code(step) }).to_string(),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("totp_replayed"))
    );
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/users/uTotp/totp/verify"),
        r#"{"code": "12ab56"}"#,
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("totp_malformed"))
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let (app, _, _dir) = app().await;
    sign_up(&app, "uSess", "sam", "cred-s").await;
    let new_session =
        json!({ "user_id": "uSess", "amr": ["hwk", "user"], "acr": "phr" }).to_string();
    let (s, b) = send(&app, "POST", &format!("{T}/sessions"), &new_session).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let sid = b["session"]["sid"].as_str().unwrap().to_owned();
    let first = b["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(b["session"]["amr"], json!(["hwk", "user"]));
    let refresh = |t: &str| json!({ "refresh_token": t }).to_string();
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/sessions/refresh"),
        &refresh(&first),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let second = b["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(b["session"]["sid"], sid.as_str());
    // Step-up adds `otp`.
    let (_, b) = send(
        &app,
        "POST",
        &format!("{T}/sessions/{sid}/step-up"),
        r#"{"method": "otp", "acr": "phrh"}"#,
    )
    .await;
    assert_eq!(b["session"]["amr"], json!(["hwk", "user", "otp"]));
    // The spent token comes back: the whole session dies, including the live successor.
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/sessions/refresh"),
        &refresh(&first),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("refresh_reused"))
    );
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/sessions/refresh"),
        &refresh(&second),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("session_inactive"))
    );
    let (_, b) = send(&app, "GET", &format!("{T}/sessions/{sid}"), "").await;
    assert_eq!(
        (
            b["session"]["active"].as_bool(),
            b["session"]["revoked_reason"].as_str()
        ),
        (Some(false), Some("refresh_reused"))
    );
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/sessions/refresh"),
        &refresh("never-issued"),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("refresh_invalid"))
    );

    // Logout, and logout everywhere.
    let (_, a) = send(&app, "POST", &format!("{T}/sessions"), &new_session).await;
    let (_, c) = send(&app, "POST", &format!("{T}/sessions"), &new_session).await;
    let (a, c) = (
        a["session"]["sid"].as_str().unwrap().to_owned(),
        c["session"]["sid"].as_str().unwrap().to_owned(),
    );
    let (_, b) = send(&app, "POST", &format!("{T}/sessions/{a}/revoke"), "").await;
    assert_eq!(b["revoked"], 1);
    let (_, b) = send(&app, "POST", &format!("{T}/sessions/{a}/revoke"), "").await;
    assert_eq!(b["revoked"], 0);
    let (_, b) = send(
        &app,
        "POST",
        &format!("{T}/users/uSess/sessions/revoke"),
        "",
    )
    .await;
    assert_eq!(b["revoked"], 1, "only the one still active");
    let (_, b) = send(&app, "GET", &format!("{T}/sessions/{c}"), "").await;
    assert_eq!(b["session"]["active"], false);
    // Another tenant's refresh token is unknown there, and presenting it there spends nothing.
    let (_, fresh) = send(&app, "POST", &format!("{T}/sessions"), &new_session).await;
    let theirs = fresh["refresh_token"].as_str().unwrap().to_owned();
    let (s, b) = send(
        &app,
        "POST",
        "/internal/v1/tenants/globex/sessions/refresh",
        &refresh(&theirs),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("refresh_invalid"))
    );
    let (s, _) = send(
        &app,
        "POST",
        &format!("{T}/sessions/refresh"),
        &refresh(&theirs),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "still good in its own tenant");
    // Sessions are per tenant.
    let (s, _) = send(
        &app,
        "GET",
        &format!("/internal/v1/tenants/globex/sessions/{c}"),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = send(
        &app,
        "POST",
        &format!("{T}/sessions"),
        r#"{"user_id": "ghost", "amr": [], "acr": "x"}"#,
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_user"))
    );
}

/// The router over `store`, as the origin binary serves it.
fn router(store: tessera_origin::store::Store) -> axum::Router {
    tessera_origin::http::router(tessera_origin::AppState::new(
        store,
        tessera_origin::ServiceToken::new(crate::TOKEN.to_owned()).unwrap(),
        None,
    ))
}

async fn redeem(app: &axum::Router, username: &str, code: &str) -> (StatusCode, Value) {
    let body = json!({ "username": username, "code": code });
    send(
        app,
        "POST",
        &format!("{T}/recovery/redeem"),
        &body.to_string(),
    )
    .await
}

/// A user `name` with a fresh set of recovery codes.
async fn with_codes(app: &axum::Router, user: &str, name: &str) -> Vec<String> {
    assert_eq!(
        sign_up(app, user, name, &format!("cred-{user}")).await.0,
        StatusCode::OK
    );
    let (s, b) = send(app, "POST", &format!("{T}/users/{user}/recovery-codes"), "").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// Recovery codes on `app`: issued, each spent once, read back forgivingly, replaced by a new set, and
/// guessed within a budget; eight concurrent presentations of one code open one session.
async fn recovery_suite(app: &axum::Router) {
    let codes = with_codes(app, "uRec", "Rhea").await;
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<&String> = codes.iter().collect();
    assert_eq!(distinct.len(), 10);
    for c in &codes {
        assert!(
            c.len() == 11
                && c.chars().nth(5) == Some('-')
                && c.chars()
                    .filter(|&c| c != '-')
                    .all(|c| c.is_ascii_alphanumeric()),
            "{c}"
        );
    }
    let (_, b) = send(app, "GET", &format!("{T}/users/uRec"), "").await;
    assert_eq!(b["recovery_codes"], 10);

    // Spent once, by a name in any case and a code as a person copies it.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let (s, b) = redeem(app, "rHEA", &typed).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["codes_left"], 9);
    assert_eq!(b["session"]["user_id"], "uRec");
    assert_eq!(b["session"]["acr"], "recovery");
    assert_eq!(b["session"]["amr"], json!(["rec"]));
    let ttl =
        b["session"]["expires_at"].as_i64().unwrap() - b["session"]["auth_time"].as_i64().unwrap();
    assert_eq!(ttl, 900);
    let sid = b["session"]["sid"].as_str().unwrap().to_owned();
    let (_, s2) = send(app, "GET", &format!("{T}/sessions/{sid}"), "").await;
    assert_eq!(s2["session"]["active"], true);
    let (s, b) = redeem(app, "Rhea", &codes[0]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("recovery_invalid"))
    );

    // Malformed codes are told apart and not counted; unknown people answer as wrong codes do.
    for bad in ["", "abc", "0123456789ab", "zzzzz-zzzzu", "ééééé-ééééé"] {
        let (s, b) = redeem(app, "Rhea", bad).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("recovery_malformed")),
            "{bad:?}"
        );
    }
    for who in ["nobody", "", "a b\u{0}c"] {
        let (s, b) = redeem(app, who, &codes[1]).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("recovery_invalid")),
            "{who:?}"
        );
    }
    let (s, _) = send(
        app,
        "POST",
        &format!("{T}/recovery/redeem"),
        r#"{"username":"Rhea","code":"x","more":1}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "unknown fields are refused");

    // A new set ends the old one.
    let fresh = with_codes_again(app, "uRec").await;
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    let (s, _) = redeem(app, "Rhea", &codes[1]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an earlier set's code");
    let (_, b) = send(app, "GET", &format!("{T}/users/uRec"), "").await;
    assert_eq!(b["recovery_codes"], 10);

    // Eight presentations of one code at once: decided one after another, the first spends it and opens
    // the one session (and resets the budget); the other seven are wrong guesses now, four free, the
    // fifth starts a wait, the last two fall in it.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (app, code) = (app.clone(), fresh[0].clone());
            tokio::spawn(async move { redeem(&app, "Rhea", &code).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        answers.push((s.as_u16(), b["error"].as_str().unwrap_or("").to_owned()));
    }
    answers.sort();
    let count = |s: u16, e: &str| answers.iter().filter(|a| a.0 == s && a.1 == e).count();
    assert_eq!(
        (
            count(200, ""),
            count(400, "recovery_invalid"),
            count(429, "recovery_locked")
        ),
        (1, 5, 2),
        "{answers:?}"
    );
    let (_, b) = send(app, "GET", &format!("{T}/users/uRec"), "").await;
    assert_eq!(b["recovery_codes"], 9);

    // The right code waits too, while the wait runs.
    let (s, b) = redeem(app, "Rhea", &fresh[1]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("recovery_locked")),
        "{b}"
    );
    let (_, b) = send(app, "GET", &format!("{T}/users/uRec"), "").await;
    assert_eq!(b["recovery_codes"], 9, "nothing spent while locked");

    // Another person's codes are theirs alone.
    let other = with_codes(app, "uRec2", "Theo").await;
    let (s, _) = redeem(app, "Theo", &fresh[2]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(redeem(app, "Theo", &other[0]).await.0, StatusCode::OK);
    let (s, _) = send(app, "POST", &format!("{T}/users/nobody/recovery-codes"), "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn with_codes_again(app: &axum::Router, user: &str) -> Vec<String> {
    let (s, b) = send(app, "POST", &format!("{T}/users/{user}/recovery-codes"), "").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_codes_on_sqlite() {
    let (app, _, _dir) = app().await;
    recovery_suite(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_codes_on_postgres() {
    let Some(pg) = crate::pg::PgServer::start() else {
        return;
    };
    for name in ["recovery", "recovery_serializable"] {
        let url = pg.database(name).await;
        if name.ends_with("serializable") {
            crate::pg::serializable(&url).await;
        }
        let store =
            tessera_origin::store::Store::connect(Some(&url), std::path::Path::new("/nonexistent"))
                .await
                .unwrap();
        recovery_suite(&router(store.clone())).await;
        store.close().await;
    }
}

#[tokio::test]
async fn a_deactivated_person_cannot_recover() {
    let (app, store, _dir) = app().await;
    let codes = with_codes(&app, "uOff", "Ophelia").await;
    tessera_origin::accounts::set_active(
        store.db(),
        "acme",
        "uOff",
        false,
        tessera_proto::UnixTime::from_secs(1),
    )
    .await
    .unwrap();
    let (s, b) = redeem(&app, "Ophelia", &codes[0]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("recovery_invalid"))
    );
}

/// Passkeys renamed and removed (never the last, also under 8 concurrent removals), and the live
/// sessions a person sees, with the device each was opened on and when it was last used.
async fn devices_suite(app: &axum::Router) {
    assert_eq!(sign_up(app, "uDev", "dev", "devA").await.0, StatusCode::OK);
    let add = |cred: &str| {
        let mut p = passkey(cred, "uDev");
        p["name"] = json!("Firefox on Linux");
        p.to_string()
    };
    for cred in ["devB", "devC"] {
        let (s, b) = send(app, "POST", &format!("{T}/users/uDev/passkeys"), &add(cred)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let names = |b: &Value| -> Vec<String> {
        b["passkeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, b) = send(app, "GET", &format!("{T}/users/uDev"), "").await;
    assert_eq!(names(&b), ["", "Firefox on Linux", "Firefox on Linux"]);

    let rename = |cred: &str, name: &str| {
        let (uri, body) = (
            format!("{T}/users/uDev/passkeys/{cred}/name"),
            json!({ "name": name }).to_string(),
        );
        let app = app.clone();
        async move { send(&app, "POST", &uri, &body).await }
    };
    assert_eq!(rename("devB", "  Work laptop ").await.0, StatusCode::OK);
    let (_, b) = send(app, "GET", &format!("{T}/users/uDev"), "").await;
    assert_eq!(names(&b)[1], "Work laptop");
    for bad in ["", "   ", &"x".repeat(65), "a\u{0}b", "a\u{202e}b"] {
        let (s, b) = rename("devB", bad).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{bad:?}"
        );
    }
    assert_eq!(
        rename(&"é".repeat(64), "x").await.0,
        StatusCode::BAD_REQUEST,
        "not an identifier"
    );
    // Another person's passkey is unknown to this one.
    assert_eq!(
        sign_up(app, "uOther", "other", "otherA").await.0,
        StatusCode::OK
    );
    let (s, b) = rename("otherA", "mine now").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_credential"))
    );
    let remove = |user: &str, cred: &str| {
        let uri = format!("{T}/users/{user}/passkeys/{cred}/remove");
        let app = app.clone();
        async move { send(&app, "POST", &uri, "").await }
    };
    assert_eq!(remove("uDev", "otherA").await.0, StatusCode::NOT_FOUND);
    assert_eq!(remove("uOther", "otherA").await.1["error"], "last_passkey");

    assert_eq!(remove("uDev", "devC").await.0, StatusCode::OK);
    // Two left: eight removals at once, four of each, leave exactly one.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let fut = remove("uDev", if i % 2 == 0 { "devA" } else { "devB" });
            tokio::spawn(fut)
        })
        .collect();
    let mut removed = 0;
    for t in tasks {
        let (s, b) = t.await.unwrap();
        match s {
            StatusCode::OK => removed += 1,
            StatusCode::CONFLICT => assert_eq!(b["error"], "last_passkey"),
            StatusCode::NOT_FOUND => assert_eq!(b["error"], "unknown_credential"),
            other => panic!("{other}: {b}"),
        }
    }
    assert_eq!(removed, 1);
    let (_, b) = send(app, "GET", &format!("{T}/users/uDev"), "").await;
    assert_eq!(b["passkeys"].as_array().unwrap().len(), 1);

    // Sessions: the device each was opened on, newest first, the ended ones gone.
    let open = |device: &str| {
        let body = json!({ "user_id": "uDev", "amr": ["hwk"], "acr": "phr", "device": device })
            .to_string();
        let app = app.clone();
        async move { send(&app, "POST", &format!("{T}/sessions"), &body).await }
    };
    let (s, first) = open("Chrome on macOS").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (_, second) = open(&format!("Safari on iPhone\u{202e}\u{0}{}", "x".repeat(100))).await;
    let (_, third) = open("").await;
    let (_, list) = send(app, "GET", &format!("{T}/users/uDev/sessions"), "").await;
    let devices: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["device"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(devices.len(), 3);
    assert!(devices.contains(&"Chrome on macOS") && devices.contains(&""));
    let long = devices.iter().find(|d| d.starts_with("Safari")).unwrap();
    assert!(
        long.chars().count() <= 64 && !long.contains('\u{202e}') && !long.contains('\u{0}'),
        "{long:?}"
    );
    assert!(list["sessions"][0]["created_at"].as_i64().unwrap() > 0);
    // A refresh is a sign of life.
    let refresh = json!({ "refresh_token": first["refresh_token"] }).to_string();
    let (s, _) = send(app, "POST", &format!("{T}/sessions/refresh"), &refresh).await;
    assert_eq!(s, StatusCode::OK);
    let sid = first["session"]["sid"].as_str().unwrap();
    let (_, list) = send(app, "GET", &format!("{T}/users/uDev/sessions"), "").await;
    let seen = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sid"] == sid)
        .unwrap();
    assert!(seen["last_seen_at"].as_i64().is_some());
    let sid2 = second["session"]["sid"].as_str().unwrap();
    assert_eq!(
        send(app, "POST", &format!("{T}/sessions/{sid2}/revoke"), "")
            .await
            .0,
        StatusCode::OK
    );
    let (_, list) = send(app, "GET", &format!("{T}/users/uDev/sessions"), "").await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
    let _ = third;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_and_sessions_on_sqlite() {
    let (app, _, _dir) = app().await;
    devices_suite(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_and_sessions_on_postgres() {
    let Some(pg) = crate::pg::PgServer::start() else {
        return;
    };
    let url = pg.database("devices").await;
    let store =
        tessera_origin::store::Store::connect(Some(&url), std::path::Path::new("/nonexistent"))
            .await
            .unwrap();
    devices_suite(&router(store.clone())).await;
    store.close().await;
}

#[tokio::test]
async fn branding_is_checked_and_kept_per_tenant() {
    let (app, _, _dir) = app().await;
    let uri = "/v1/tenants/acme/branding";
    let (s, b) = send(&app, "GET", uri, "").await;
    assert_eq!((s, b), (StatusCode::OK, json!({})));
    let good = json!({ "name": "Acme Cloud", "logo": "data:image/svg+xml;base64,PHN2Zy8+", "accent": "#0a58ca", "accent_dark": "#8ab4f8" });
    let (s, b) = send(&app, "PUT", uri, &good.to_string()).await;
    assert_eq!((s, &b), (StatusCode::OK, &good));
    assert_eq!(send(&app, "GET", uri, "").await.1, good);
    assert_eq!(
        send(&app, "GET", "/v1/tenants/globex/branding", "").await.1,
        json!({}),
        "per tenant"
    );
    for bad in [
        json!({ "accent": "#ffcc00" }),
        json!({ "accent_dark": "#101010" }),
        json!({ "accent": "blue" }),
        json!({ "logo": "https://example.com/logo.png" }),
        json!({ "name": "" }),
        json!({ "css": "body{}" }),
    ] {
        let (s, b) = send(&app, "PUT", uri, &bad.to_string()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    assert_eq!(
        send(&app, "GET", uri, "").await.1,
        good,
        "a refused one changes nothing"
    );
    let (s, _) = send(&app, "PUT", uri, "{}").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(send(&app, "GET", uri, "").await.1, json!({}));
    let (s, _) = crate::call(&app, uri, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the service credential only");
}
