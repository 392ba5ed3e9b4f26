//! Hand-off codes from a federated sign-in to the edge: spent once, whoever races.

use tessera_origin::accounts::handoff::{PendingSignIn, HANDOFF_TTL_SECS};
use tessera_origin::accounts::{Accounts, AccountsError};
use tessera_origin::scim::user_store::ScimUsers;
use tessera_origin::store::Store;
use tessera_proto::UnixTime;

use super::scim::scim_write;

fn pending(user_id: &str) -> PendingSignIn {
    PendingSignIn {
        user_id: user_id.to_owned(),
        amr: vec!["fed".to_owned()],
        acr: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".to_owned(),
        relay_state: Some("/reports".to_owned()),
        binding: None,
        auth_time: None,
    }
}

pub(super) async fn handoff_codes_are_spent_once(store: Store) {
    let users = ScimUsers::new(store.db().clone());
    let accounts = Accounts::new(store.db().clone(), tessera_jose::Secret::new([7; 32]));
    let now = UnixTime::from_secs(1_700_000_000);
    users
        .create("t", "u1", &scim_write("ann", None), now)
        .await
        .unwrap();

    // Eight concurrent spends of one code: exactly one session.
    let code = accounts
        .issue_handoff("t", &pending("u1"), now)
        .await
        .unwrap();
    assert!(code.starts_with("tsh_"));
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (accounts, code) = (accounts.clone(), code.clone());
        racers.spawn(async move { accounts.spend_handoff("t", &code, None, now).await });
    }
    let mut won = Vec::new();
    while let Some(outcome) = racers.join_next().await {
        match outcome.unwrap() {
            Ok(handed) => won.push(handed),
            Err(AccountsError::HandoffInvalid) => {}
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    assert_eq!(won.len(), 1, "one code opened {} sessions", won.len());
    let handed = won.pop().unwrap();
    assert_eq!(handed.session.user_id, "u1");
    assert_eq!(handed.session.amr, ["fed"]);
    assert_eq!(handed.relay_state.as_deref(), Some("/reports"));
    assert!(accounts
        .refresh("t", &handed.refresh_token, None, None, now)
        .await
        .is_ok());

    // Another tenant's spend, an expired code and a made-up one get the same refusal.
    let code = accounts
        .issue_handoff("t", &pending("u1"), now)
        .await
        .unwrap();
    for (tenant, code, at) in [
        ("other", code.as_str(), now),
        ("t", code.as_str(), now.plus_secs(HANDOFF_TTL_SECS)),
        ("t", "tsh_made-up", now),
    ] {
        assert!(matches!(
            accounts.spend_handoff(tenant, code, None, at).await,
            Err(AccountsError::HandoffInvalid)
        ));
    }
    // Still good within its lifetime.
    assert!(accounts
        .spend_handoff("t", &code, None, now.plus_secs(HANDOFF_TTL_SECS - 1))
        .await
        .is_ok());

    // A bound code: only the verifier spends it; a wrong or missing one leaves it unspent.
    let verifier = "kept-by-the-page-that-started";
    let digest = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
    };
    let bound = PendingSignIn {
        binding: Some(digest),
        ..pending("u1")
    };
    let code = accounts.issue_handoff("t", &bound, now).await.unwrap();
    for wrong in [None, Some("another-verifier")] {
        assert!(matches!(
            accounts.spend_handoff("t", &code, wrong, now).await,
            Err(AccountsError::HandoffInvalid)
        ));
    }
    assert!(accounts
        .spend_handoff("t", &code, Some(verifier), now)
        .await
        .is_ok());

    // The session's auth_time is when the identity provider authenticated the person (AuthnInstant),
    // never later than the hand-off.
    for (authn, expected) in [
        (Some(now.plus_secs(-600)), now.plus_secs(-600)),
        (Some(now.plus_secs(30)), now),
        (None, now),
    ] {
        let at = PendingSignIn {
            auth_time: authn,
            ..pending("u1")
        };
        let code = accounts.issue_handoff("t", &at, now).await.unwrap();
        let handed = accounts.spend_handoff("t", &code, None, now).await.unwrap();
        assert_eq!(handed.session.auth_time, expected.as_secs());
    }

    // A user deactivated between the assertion and the exchange gets no session.
    let code = accounts
        .issue_handoff("t", &pending("u1"), now)
        .await
        .unwrap();
    tessera_origin::accounts::set_active(store.db(), "t", "u1", false, now)
        .await
        .unwrap();
    assert!(matches!(
        accounts.spend_handoff("t", &code, None, now).await,
        Err(AccountsError::UnknownUser)
    ));
}
