//! The SCIM users store's cases of the conformance suite: round trip, case-insensitive uniqueness,
//! writes under the row lock, deactivation and delete ending sessions.

use super::*;

pub(super) fn scim_write(name: &str, ext: Option<&str>) -> UserWrite {
    UserWrite {
        username: name.to_owned(),
        display_name: name.to_owned(),
        external_id: ext.map(str::to_owned),
        active: true,
        scim: serde_json::json!({"title": "T"})
            .as_object()
            .unwrap()
            .clone(),
    }
}

pub(super) async fn scim_users_round_trip(store: Store) {
    let users = ScimUsers::new(store.db().clone());
    let now = UnixTime::from_secs(1_700_000_000);
    let a = users
        .create("t", "u1", &scim_write("Ann", Some("e1")), now)
        .await
        .unwrap();
    assert_eq!(
        (a.version, a.active, a.created_at, a.updated_at),
        (1, true, now.as_secs(), now.as_secs())
    );
    assert_eq!(a.scim["title"], "T");
    users
        .create("t", "u2", &scim_write("bob", None), now)
        .await
        .unwrap();
    users
        .create("other", "u3", &scim_write("ann", Some("e1")), now)
        .await
        .unwrap();
    assert_eq!(users.get("t", "u1").await.unwrap(), Some(a.clone()));
    assert_eq!(
        users.get("other", "u1").await.unwrap(),
        None,
        "tenants are apart"
    );
    let ids = |rows: Vec<UserRow>| rows.into_iter().map(|r| r.user_id).collect::<Vec<_>>();
    assert_eq!(
        ids(users.list("t", &Candidates::All).await.unwrap()),
        ["u1", "u2"]
    );
    assert_eq!(
        ids(users
            .list("t", &Candidates::UserNameKey("ann".into()))
            .await
            .unwrap()),
        ["u1"]
    );
    assert_eq!(
        ids(users
            .list("t", &Candidates::ExternalId("e1".into()))
            .await
            .unwrap()),
        ["u1"]
    );
    assert!(users
        .list("t", &Candidates::ExternalId("E1".into()))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(users.list("t", &Candidates::Id("u2".into())).await.unwrap()),
        ["u2"]
    );
}

pub(super) async fn scim_users_uniqueness_ignores_case(store: Store) {
    let users = ScimUsers::new(store.db().clone());
    let now = UnixTime::from_secs(1);
    users
        .create("t", "u1", &scim_write("Ann", Some("e1")), now)
        .await
        .unwrap();
    users
        .create("t", "u2", &scim_write("bob", None), now)
        .await
        .unwrap();
    fn taken<T: std::fmt::Debug>(r: Result<T, UserStoreError>) -> Unique {
        match r {
            Err(UserStoreError::Taken(u)) => u,
            other => panic!("expected Taken, got {other:?}"),
        }
    }
    assert_eq!(
        taken(users.create("t", "u3", &scim_write("ANN", None), now).await),
        Unique::UserName
    );
    assert_eq!(
        taken(
            users
                .create("t", "u3", &scim_write("cy", Some("e1")), now)
                .await
        ),
        Unique::ExternalId
    );
    let rename =
        |name: &'static str| move |_: &UserRow| Ok::<_, ()>(Change::Write(scim_write(name, None)));
    assert_eq!(
        taken(users.modify("t", "u2", now, rename("aNN")).await),
        Unique::UserName
    );
    // A user may change the case of its own name.
    let own = users
        .modify("t", "u1", now, rename("ANN"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((own.row.username.as_str(), own.row.version), ("ANN", 2));
}

pub(super) async fn scim_users_locked_writes(store: Store) {
    let users = ScimUsers::new(store.db().clone());
    let now = UnixTime::from_secs(1);
    users
        .create("t", "u1", &scim_write("ann", None), now)
        .await
        .unwrap();
    // Eight writers each accept only the version they read first: the row lock orders them, so exactly
    // one sees version 1.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let users = users.clone();
            tokio::spawn(async move {
                users
                    .modify("t", "u1", now, |row| {
                        if row.version == 1 {
                            Ok(Change::Write(scim_write(&format!("w{i}"), None)))
                        } else {
                            Err(row.version)
                        }
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert_eq!(users.get("t", "u1").await.unwrap().unwrap().version, 2);
    let kept = users
        .modify("t", "u1", now, |_| Ok::<_, ()>(Change::Keep))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.row.version, 2, "Keep writes nothing");
    assert!(matches!(
        users
            .modify("t", "nobody", now, |_| Ok::<_, ()>(Change::Keep))
            .await,
        Err(UserStoreError::NotFound)
    ));
}

pub(super) async fn scim_users_deactivate_and_delete_end_sessions(store: Store) {
    let users = ScimUsers::new(store.db().clone());
    let accounts = Accounts::new(store.db().clone(), tessera_jose::Secret::new([7; 32]));
    let now = UnixTime::from_secs(1_700_000_000);
    users
        .create("t", "u1", &scim_write("ann", None), now)
        .await
        .unwrap();
    let (s1, _) = accounts
        .create_session("t", "u1", &["hwk".into()], "phr", now)
        .await
        .unwrap();
    let (s2, _) = accounts
        .create_session("t", "u1", &["hwk".into()], "phr", now)
        .await
        .unwrap();
    let off = |_: &UserRow| {
        Ok::<_, ()>(Change::Write(UserWrite {
            active: false,
            ..scim_write("ann", None)
        }))
    };
    let done = users.modify("t", "u1", now, off).await.unwrap().unwrap();
    assert_eq!((done.row.active, done.sessions_ended), (false, 2));
    assert!(
        !accounts
            .session(&s1.sid, now)
            .await
            .unwrap()
            .unwrap()
            .active
    );
    assert!(
        accounts
            .create_session("t", "u1", &[], "phr", now)
            .await
            .is_err(),
        "inactive users cannot sign in"
    );
    let on = |_: &UserRow| Ok::<_, ()>(Change::Write(scim_write("ann", None)));
    let done = users.modify("t", "u1", now, on).await.unwrap().unwrap();
    assert_eq!((done.row.active, done.sessions_ended), (true, 0));
    let (s3, _) = accounts
        .create_session("t", "u1", &[], "phr", now)
        .await
        .unwrap();
    assert_eq!(
        users
            .delete("t", "u1", now, |row| if row.version == 9 {
                Ok(())
            } else {
                Err(())
            })
            .await
            .unwrap(),
        Err(())
    );
    assert_eq!(
        users
            .delete("t", "u1", now, |_| Ok::<_, ()>(()))
            .await
            .unwrap(),
        Ok(1)
    );
    assert!(
        !accounts
            .session(&s3.sid, now)
            .await
            .unwrap()
            .unwrap()
            .active
    );
    assert!(
        !accounts
            .session(&s2.sid, now)
            .await
            .unwrap()
            .unwrap()
            .active
    );
    assert_eq!(users.get("t", "u1").await.unwrap(), None);
    assert!(matches!(
        users.delete("t", "u1", now, |_| Ok::<_, ()>(())).await,
        Err(UserStoreError::NotFound)
    ));
}

/// Refresh on both databases (PostgreSQL decodes types strictly: a query the SQLite suite passes can fail
/// there), racing an operator's deactivation: the refresh either wins and its successor is ended with the
/// session, or sees the session ended.
pub(super) async fn refresh_spends_once_and_ends_with_the_user(store: Store) {
    let users = ScimUsers::new(store.db().clone());
    let accounts = Accounts::new(store.db().clone(), tessera_jose::Secret::new([7; 32]));
    let now = UnixTime::from_secs(1_700_000_000);
    users
        .create("t", "u1", &scim_write("ann", None), now)
        .await
        .unwrap();
    let (_, first) = accounts
        .create_session("t", "u1", &["hwk".into()], "phr", now)
        .await
        .unwrap();
    let (_, second) = accounts.refresh("t", &first, now).await.unwrap();
    assert!(matches!(
        accounts.refresh("t", &first, now).await,
        Err(tessera_origin::accounts::AccountsError::RefreshReused)
    ));
    // Reuse ended the family.
    assert!(accounts.refresh("t", &second, now).await.is_err());
    let (_, third) = accounts
        .create_session("t", "u1", &["hwk".into()], "phr", now)
        .await
        .unwrap();
    let (refreshed, off) = tokio::join!(
        accounts.refresh("t", &third, now),
        tessera_origin::accounts::set_active(store.db(), "t", "u1", false, now)
    );
    assert_eq!(off.unwrap().map(|c| c.active), Some(false));
    if let Ok((_, successor)) = refreshed {
        assert!(
            accounts.refresh("t", &successor, now).await.is_err(),
            "a successor issued during the deactivation outlived it"
        );
    }
    assert!(accounts.active_user("t", "u1").await.unwrap().is_none());
}
