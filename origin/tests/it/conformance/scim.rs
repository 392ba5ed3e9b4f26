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
    let (_, second) = accounts
        .refresh("t", &first, None, None, now)
        .await
        .unwrap();
    assert!(matches!(
        accounts.refresh("t", &first, None, None, now).await,
        Err(tessera_origin::accounts::AccountsError::RefreshReused)
    ));
    // Reuse ended the family.
    assert!(accounts
        .refresh("t", &second, None, None, now)
        .await
        .is_err());
    let (_, third) = accounts
        .create_session("t", "u1", &["hwk".into()], "phr", now)
        .await
        .unwrap();
    let (refreshed, off) = tokio::join!(
        accounts.refresh("t", &third, None, None, now),
        tessera_origin::accounts::set_active(store.db(), "t", "u1", false, now)
    );
    assert_eq!(off.unwrap().map(|c| c.active), Some(false));
    if let Ok((_, successor)) = refreshed {
        assert!(
            accounts
                .refresh("t", &successor, None, None, now)
                .await
                .is_err(),
            "a successor issued during the deactivation outlived it"
        );
    }
    assert!(accounts.active_user("t", "u1").await.unwrap().is_none());
}

/// The groups schema SCIM's memberships need.
const GROUP_SCHEMA: &str = "definition user {}\ndefinition group {\n relation member: user\n}";

pub(super) fn group_write(name: &str) -> GroupWrite {
    GroupWrite {
        display_name: name.to_owned(),
        external_id: None,
    }
}

/// The group's members live at `at`, through the relationship store's own read.
async fn members_at(a: &AuthzStore, group: &str, at: u64) -> Vec<String> {
    let filter = Filter {
        resource_type: "group".into(),
        resource_id: Some(group.into()),
        relation: Some("member".into()),
        subject_type: None,
        subject_id: None,
        subject_relation: None,
    };
    a.read("t", &filter, at)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.relationship.subject.object.id)
        .collect()
}

pub(super) fn members(
    add: &[&str],
    remove: &[&str],
    replace_all: Option<&[&str]>,
) -> MemberChanges {
    let own = |ids: &[&str]| ids.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    MemberChanges {
        add: own(add),
        remove: own(remove),
        replace_all: replace_all.map(own),
    }
}

/// A group's row and its memberships are one transaction: each member change is a new authz revision,
/// an unknown member or a missing schema writes nothing, and deletes (the group's, a user's) end them.
pub(super) async fn scim_groups_membership_is_transactional(store: Store) {
    let a = AuthzStore::new(store.db().clone());
    let users = ScimUsers::new(store.db().clone());
    let groups = ScimGroups::new(store.db().clone(), a.clone());
    let now = UnixTime::from_secs(1_700_000_000);
    for (id, name) in [("u1", "ann"), ("u2", "bob"), ("u3", "cy")] {
        users
            .create("t", id, &scim_write(name, None), now)
            .await
            .unwrap();
    }
    // No schema yet: the group is not created either.
    assert!(matches!(
        groups
            .create("t", "g1", &group_write("G"), &["u1".into()], now)
            .await,
        Err(GroupStoreError::Authz(AuthzStoreError::NoSchema))
    ));
    assert_eq!(groups.get("t", "g1").await.unwrap(), None);
    let schema_rev = a.write_schema("t", GROUP_SCHEMA).await.unwrap();
    assert!(matches!(
        groups
            .create("t", "g1", &group_write("G"), &["u1".into(), "nobody".into()], now)
            .await,
        Err(GroupStoreError::UnknownMembers(ids)) if ids == ["nobody"]
    ));
    assert_eq!(groups.get("t", "g1").await.unwrap(), None);
    assert_eq!(a.head("t").await.unwrap(), schema_rev, "nothing written");

    let made = groups
        .create(
            "t",
            "g1",
            &group_write("G"),
            &["u1".into(), "u2".into()],
            now,
        )
        .await
        .unwrap();
    let r1 = made.revision.unwrap();
    assert_eq!(r1, a.head("t").await.unwrap());
    assert_eq!(members_at(&a, "g1", r1).await, ["u1", "u2"]);
    assert_eq!(members_at(&a, "g1", schema_rev).await, Vec::<String>::new());

    let change = |m: MemberChanges| {
        move |_: &GroupRow| {
            Ok::<_, ()>(Decision::Write(GroupChange {
                row: None,
                members: m.clone(),
                pinned: false,
            }))
        }
    };
    let done = groups
        .modify("t", "g1", now, change(members(&["u3"], &["u1"], None)))
        .await
        .unwrap()
        .unwrap();
    let r2 = done.revision.unwrap();
    assert_eq!((r2, done.row.version), (r1 + 1, 2));
    assert_eq!(members_at(&a, "g1", r2).await, ["u2", "u3"]);
    assert_eq!(
        members_at(&a, "g1", r1).await,
        ["u1", "u2"],
        "MVCC: the old revision stays"
    );
    // An unknown member in a change: neither the row nor the members move.
    assert!(matches!(
        groups
            .modify("t", "g1", now, change(members(&["nobody"], &["u2"], None)))
            .await,
        Err(GroupStoreError::UnknownMembers(_))
    ));
    assert_eq!(groups.get("t", "g1").await.unwrap().unwrap().version, 2);
    assert_eq!(a.head("t").await.unwrap(), r2);
    // replace_all touches only the difference.
    let done = groups
        .modify(
            "t",
            "g1",
            now,
            change(members(&[], &[], Some(&["u1", "u3"]))),
        )
        .await
        .unwrap()
        .unwrap();
    let r3 = done.revision.unwrap();
    assert_eq!(members_at(&a, "g1", r3).await, ["u1", "u3"]);
    let listed: Vec<(String, String)> = groups
        .members("t", Some("g1"))
        .await
        .unwrap()
        .into_iter()
        .map(|(g, m)| (g, m.user_id))
        .collect();
    assert_eq!(
        listed,
        [("g1".into(), "u1".into()), ("g1".into(), "u3".into())]
    );

    // A pinned change against a moved version is decided again (and refused by its decider).
    let pinned = groups
        .modify("t", "g1", now, |row| {
            if row.version == 2 {
                Ok(Decision::Keep)
            } else {
                Err(row.version)
            }
        })
        .await
        .unwrap();
    assert_eq!(pinned, Err(3));

    // A user's delete ends its memberships in its transaction.
    users
        .delete("t", "u3", now, |_| Ok::<_, ()>(()))
        .await
        .unwrap()
        .unwrap();
    let r4 = a.head("t").await.unwrap();
    assert_eq!(r4, r3 + 1);
    assert_eq!(members_at(&a, "g1", r4).await, ["u1"]);
    // A group's delete ends its memberships.
    let r5 = groups
        .delete("t", "g1", |_| Ok::<_, ()>(()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(members_at(&a, "g1", r5).await, Vec::<String>::new());
    assert_eq!(groups.get("t", "g1").await.unwrap(), None);
    assert!(matches!(
        groups.delete("t", "g1", |_| Ok::<_, ()>(())).await,
        Err(GroupStoreError::NotFound)
    ));
}

/// Eight concurrent member additions to one group all land, each at its own revision (no lost update);
/// eight pinned to one version: one wins.
pub(super) async fn scim_groups_concurrent_changes(store: Store) {
    let a = AuthzStore::new(store.db().clone());
    a.write_schema("t", GROUP_SCHEMA).await.unwrap();
    let users = ScimUsers::new(store.db().clone());
    let groups = ScimGroups::new(store.db().clone(), a.clone());
    let now = UnixTime::from_secs(1);
    for i in 0..8 {
        users
            .create(
                "t",
                &format!("u{i}"),
                &scim_write(&format!("n{i}"), None),
                now,
            )
            .await
            .unwrap();
    }
    groups
        .create("t", "g", &group_write("G"), &[], now)
        .await
        .unwrap();
    let adds = (0..8).map(|i| {
        let groups = groups.clone();
        tokio::spawn(async move {
            groups
                .modify("t", "g", now, |_| {
                    Ok::<_, ()>(Decision::Write(GroupChange {
                        row: None,
                        members: members(&[&format!("u{i}")], &[], None),
                        pinned: false,
                    }))
                })
                .await
                .unwrap()
                .unwrap()
                .revision
                .unwrap()
        })
    });
    let mut revisions = Vec::new();
    for h in adds.collect::<Vec<_>>() {
        revisions.push(h.await.unwrap());
    }
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), 8, "each write its own revision");
    let head = a.head("t").await.unwrap();
    assert_eq!(members_at(&a, "g", head).await.len(), 8);
    assert_eq!(groups.get("t", "g").await.unwrap().unwrap().version, 9);
    let pinned = (0..8).map(|i| {
        let groups = groups.clone();
        tokio::spawn(async move {
            groups
                .modify("t", "g", now, |row| {
                    if row.version != 9 {
                        return Err(());
                    }
                    Ok(Decision::Write(GroupChange {
                        row: Some(group_write(&format!("G{i}"))),
                        members: MemberChanges::default(),
                        pinned: true,
                    }))
                })
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for h in pinned.collect::<Vec<_>>() {
        won += usize::from(h.await.unwrap().is_ok());
    }
    assert_eq!(won, 1);
    assert_eq!(groups.get("t", "g").await.unwrap().unwrap().version, 10);
}
