//! The authorization-code grant's memory: codes spent once whoever races (a replay revokes the grant),
//! bound to client, redirect URI and verifier; client sessions ending with their browser session; consents;
//! refresh tokens kept to their client and revoked by it.

use tessera_origin::accounts::grants::CODE_TTL_SECS;
use tessera_origin::accounts::{Accounts, AccountsError};
use tessera_origin::scim::user_store::ScimUsers;
use tessera_origin::store::Store;
use tessera_proto::oidc::NewCode;
use tessera_proto::UnixTime;

use super::scim::scim_write;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CB: &str = "https://app.example/cb";

fn new_code(sid: &str, scopes: &[&str]) -> NewCode {
    NewCode {
        client_id: "tc_app".into(),
        redirect_uri: CB.into(),
        code_challenge: Some(CHALLENGE.into()),
        nonce: Some("n-1".into()),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        user_id: "u1".into(),
        sid: sid.into(),
        acr: "phr".into(),
    }
}

pub(super) async fn authorization_codes_are_spent_once(store: Store) {
    let users = ScimUsers::new(store.db().clone());
    let accounts = Accounts::new(store.db().clone(), tessera_jose::Secret::new([7; 32]));
    let now = UnixTime::from_secs(1_700_000_000);
    users
        .create("t", "u1", &scim_write("ann", None), now)
        .await
        .unwrap();
    let hwk = vec!["hwk".to_owned()];
    let (browser, _) = accounts
        .create_session("t", "u1", &hwk, "phr", now)
        .await
        .unwrap();

    // Eight concurrent redemptions of one code: one session, seven replays; the replays revoke it.
    let code = accounts
        .issue_code(
            "t",
            &new_code(&browser.sid, &["openid", "offline_access"]),
            now,
        )
        .await
        .unwrap();
    assert!(code.starts_with("tac_"));
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (accounts, code) = (accounts.clone(), code.clone());
        racers.spawn(async move {
            accounts
                .redeem_code("t", &code, "tc_app", Some(CB), Some(VERIFIER), now)
                .await
        });
    }
    let (mut won, mut replays) = (Vec::new(), 0);
    while let Some(outcome) = racers.join_next().await {
        match outcome.unwrap() {
            Ok(r) => won.push(r),
            Err(AccountsError::CodeReused) => replays += 1,
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    assert_eq!((won.len(), replays), (1, 7));
    let r = won.pop().unwrap();
    assert_eq!(r.session.client_id.as_deref(), Some("tc_app"));
    assert_eq!(r.browser_sid, browser.sid);
    assert_eq!((r.nonce.as_deref(), r.acr.as_str()), (Some("n-1"), "phr"));
    assert_eq!(r.user.username, "ann");
    assert_eq!(r.session.amr, hwk);
    let refresh = r
        .refresh_token
        .expect("offline_access gives a refresh token");
    let child = accounts
        .session(&r.session.sid, now)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !child.active,
        "a replayed code revokes what it was redeemed for"
    );
    assert_eq!(child.revoked_reason.as_deref(), Some("code_reused"));
    assert!(matches!(
        accounts
            .refresh("t", &refresh, Some("tc_app"), None, now)
            .await,
        Err(AccountsError::SessionInactive)
    ));

    // The binding: every wrong presentation is refused and burns the code.
    for (client, uri, verifier, at) in [
        ("tc_other", Some(CB), Some(VERIFIER), now),
        (
            "tc_app",
            Some("https://app.example/other"),
            Some(VERIFIER),
            now,
        ),
        ("tc_app", None, Some(VERIFIER), now),
        ("tc_app", Some(CB), Some(CHALLENGE), now),
        ("tc_app", Some(CB), None, now),
        (
            "tc_app",
            Some(CB),
            Some(VERIFIER),
            now.plus_secs(CODE_TTL_SECS),
        ),
    ] {
        let code = accounts
            .issue_code("t", &new_code(&browser.sid, &["openid"]), now)
            .await
            .unwrap();
        assert!(matches!(
            accounts
                .redeem_code("t", &code, client, uri, verifier, at)
                .await,
            Err(AccountsError::CodeInvalid(_))
        ));
        assert!(matches!(
            accounts
                .redeem_code("t", &code, "tc_app", Some(CB), Some(VERIFIER), now)
                .await,
            Err(AccountsError::CodeReused)
        ));
    }
    // Another tenant's redemption, and a made-up code.
    let code = accounts
        .issue_code("t", &new_code(&browser.sid, &["openid"]), now)
        .await
        .unwrap();
    for (tenant, code) in [("other", code.as_str()), ("t", "tac_made-up")] {
        assert!(matches!(
            accounts
                .redeem_code(tenant, code, "tc_app", Some(CB), Some(VERIFIER), now)
                .await,
            Err(AccountsError::CodeInvalid(_))
        ));
    }
    // Without offline access: no refresh token, and the session ends with the browser session.
    let online = accounts
        .redeem_code("t", &code, "tc_app", Some(CB), Some(VERIFIER), now)
        .await
        .unwrap();
    assert!(online.refresh_token.is_none());
    // The spent code in another client's hands revokes nothing.
    assert!(matches!(
        accounts
            .redeem_code("t", &code, "tc_other", Some(CB), Some(VERIFIER), now)
            .await,
        Err(AccountsError::CodeInvalid(_))
    ));
    assert!(
        accounts
            .session(&online.session.sid, now)
            .await
            .unwrap()
            .unwrap()
            .active
    );
    let code = accounts
        .issue_code(
            "t",
            &new_code(&browser.sid, &["openid", "offline_access"]),
            now,
        )
        .await
        .unwrap();
    let offline = accounts
        .redeem_code("t", &code, "tc_app", Some(CB), Some(VERIFIER), now)
        .await
        .unwrap();
    let offline_refresh = offline.refresh_token.unwrap();
    // A client session's refresh token is refused to the login page and to other clients, unspent.
    for client in [None, Some("tc_other")] {
        assert!(matches!(
            accounts
                .refresh("t", &offline_refresh, client, None, now)
                .await,
            Err(AccountsError::RefreshInvalid)
        ));
    }
    // A wider scope is refused before anything is spent; a narrower one is fine.
    assert!(matches!(
        accounts
            .refresh(
                "t",
                &offline_refresh,
                Some("tc_app"),
                Some("openid admin"),
                now
            )
            .await,
        Err(AccountsError::ScopeNotGranted)
    ));
    let (_, offline_refresh) = accounts
        .refresh("t", &offline_refresh, Some("tc_app"), Some("openid"), now)
        .await
        .unwrap();
    assert!(accounts
        .revoke_session(&browser.sid, "logout", now)
        .await
        .unwrap());
    let alive = |sid: String| {
        let accounts = accounts.clone();
        async move { accounts.session(&sid, now).await.unwrap().unwrap().active }
    };
    assert!(
        !alive(online.session.sid.clone()).await,
        "ends with its browser session"
    );
    assert!(
        alive(offline.session.sid.clone()).await,
        "offline access outlives it"
    );
    // No code for an ended browser session.
    assert!(matches!(
        accounts
            .issue_code("t", &new_code(&browser.sid, &["openid"]), now)
            .await,
        Err(AccountsError::SessionInactive)
    ));

    // RFC 7009: only the client's own token; then the family is gone.
    assert_eq!(
        accounts
            .revoke_refresh_token("t", &offline_refresh, "tc_other", now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        accounts
            .revoke_refresh_token("t", &offline_refresh, "tc_app", now)
            .await
            .unwrap(),
        1
    );
    assert!(!alive(offline.session.sid.clone()).await);

    // Consents grow by union and, withdrawn, end the client's sessions.
    assert!(accounts
        .consent("t", "u1", "tc_app")
        .await
        .unwrap()
        .is_none());
    accounts
        .grant_consent("t", "u1", "tc_app", &["profile".to_owned()], now)
        .await
        .unwrap();
    let later = now.plus_secs(10);
    let c = accounts
        .grant_consent(
            "t",
            "u1",
            "tc_app",
            &["notes:read".to_owned(), "profile".to_owned()],
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        (c.scopes.as_slice(), c.granted_at),
        (
            &["profile".to_owned(), "notes:read".to_owned()][..],
            later.as_secs()
        )
    );
    assert_eq!(accounts.consents("t", "u1").await.unwrap(), vec![c]);
    assert!(matches!(
        accounts
            .grant_consent("t", "nobody", "tc_app", &[], now)
            .await,
        Err(AccountsError::UnknownUser)
    ));
    let (browser, _) = accounts
        .create_session("t", "u1", &hwk, "phr", now)
        .await
        .unwrap();
    let code = accounts
        .issue_code(
            "t",
            &new_code(&browser.sid, &["openid", "offline_access"]),
            now,
        )
        .await
        .unwrap();
    let granted = accounts
        .redeem_code("t", &code, "tc_app", Some(CB), Some(VERIFIER), now)
        .await
        .unwrap();
    assert_eq!(
        accounts
            .revoke_consent("t", "u1", "tc_app", now)
            .await
            .unwrap(),
        1
    );
    assert!(!alive(granted.session.sid).await);
    assert!(
        alive(browser.sid).await,
        "the browser session is the person's, not the client's"
    );
    assert!(accounts
        .consent("t", "u1", "tc_app")
        .await
        .unwrap()
        .is_none());
}
