//! Caveated relationships in the store: kept with their context, read back in one canonical form,
//! replaced by a touch with another caveat (one change, ordered for a consumer), versioned like any
//! relationship, and honoured by the engine over the store and its cache.

use super::*;

const CAVEATED: &str = "caveat on_day(day string, allowed list<string>) { day in allowed }
definition user {}
definition doc {
    relation viewer: user | user with on_day
    permission view = viewer
}";

/// The same without the caveat: it would orphan a caveated relationship.
const PLAIN: &str = "definition user {}
definition doc {
    relation viewer: user
    permission view = viewer
}";

async fn permissionship(
    a: &AuthzStore,
    at: u64,
    subject: &str,
    context: serde_json::Value,
) -> tessera_authz::Permissionship {
    let (_, schema) = a.schema_at("t", at).await.unwrap().unwrap();
    let reader = a.reader("t", at);
    let context = context.as_object().cloned().unwrap_or_default();
    Engine::new(&schema, &reader)
        .check_with_context(
            &"doc:1".parse().unwrap(),
            "view",
            &subject.parse().unwrap(),
            &context,
        )
        .await
        .unwrap()
}

pub(super) async fn caveats_are_kept_replaced_and_versioned(store: Store) {
    use serde_json::json;
    use tessera_authz::Permissionship::{Conditional, Has, No};
    let a = AuthzStore::new(store.db().clone());
    a.write_schema("t", CAVEATED).await.unwrap();
    let r1 = put(
        &a,
        &ops(
            Operation::Touch,
            &[
                r#"doc:1#viewer@user:ann[on_day:{"allowed": ["mon", "tue"]}]"#,
                "doc:1#viewer@user:bob",
                "doc:1#viewer@user:cy[on_day]",
            ],
        ),
        "t",
    )
    .await
    .unwrap();
    assert_eq!(
        strings(&a.read("t", &filter("doc"), r1).await.unwrap()),
        [
            r#"doc:1#viewer@user:ann[on_day:{"allowed":["mon","tue"]}]"#,
            "doc:1#viewer@user:bob",
            "doc:1#viewer@user:cy[on_day]",
        ]
    );
    // Twice each: the second from the cache the first filled.
    for _ in 0..2 {
        assert_eq!(
            permissionship(&a, r1, "user:ann", json!({})).await,
            Conditional(["day".to_owned()].into())
        );
        assert_eq!(
            permissionship(&a, r1, "user:ann", json!({"day": "mon"})).await,
            Has
        );
        assert_eq!(
            permissionship(&a, r1, "user:ann", json!({"day": "sun"})).await,
            No
        );
        // The relationship's own context wins over the request's.
        assert_eq!(
            permissionship(
                &a,
                r1,
                "user:ann",
                json!({"day": "sun", "allowed": ["sun"]})
            )
            .await,
            No
        );
        assert_eq!(permissionship(&a, r1, "user:bob", json!({})).await, Has);
        assert_eq!(
            permissionship(&a, r1, "user:cy", json!({"day": "x", "allowed": ["x"]})).await,
            Has
        );
    }

    // Another context by touch replaces the row: the old one ends where the new one starts.
    let r2 = put(
        &a,
        &ops(
            Operation::Touch,
            &[r#"doc:1#viewer@user:ann[on_day:{"allowed": ["sun"]}]"#],
        ),
        "t",
    )
    .await
    .unwrap();
    assert_eq!(
        permissionship(&a, r2, "user:ann", json!({"day": "sun"})).await,
        Has
    );
    assert_eq!(
        permissionship(&a, r1, "user:ann", json!({"day": "sun"})).await,
        No,
        "the earlier snapshot keeps the earlier context"
    );
    let changes = a.watch("t", r1, 100).await.unwrap();
    let seen: Vec<(u64, Operation, &str)> = changes
        .iter()
        .map(|c| (c.revision, c.operation, c.relationship.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                r2,
                Operation::Delete,
                r#"doc:1#viewer@user:ann[on_day:{"allowed":["mon","tue"]}]"#
            ),
            (
                r2,
                Operation::Touch,
                r#"doc:1#viewer@user:ann[on_day:{"allowed":["sun"]}]"#
            ),
        ],
        "a consumer applying these in order ends with the new caveat"
    );
    // The same caveat and context again changes nothing (the context's key order does not matter).
    let r3 = put(
        &a,
        &ops(
            Operation::Touch,
            &[r#"doc:1#viewer@user:ann[on_day:{ "allowed" : [ "sun" ] }]"#],
        ),
        "t",
    )
    .await
    .unwrap();
    assert!(a.watch("t", r2, 100).await.unwrap().is_empty());
    // Dropping the caveat is a replacement too.
    let r4 = put(&a, &ops(Operation::Touch, &["doc:1#viewer@user:ann"]), "t")
        .await
        .unwrap();
    assert_eq!(permissionship(&a, r4, "user:ann", json!({})).await, Has);
    assert_eq!(
        permissionship(&a, r3, "user:ann", json!({})).await,
        Conditional(["day".to_owned()].into())
    );

    // A relationship is one relationship whatever its caveat: create refuses it, delete ends it.
    assert!(matches!(
        put(&a, &ops(Operation::Create, &["doc:1#viewer@user:cy"]), "t").await,
        Err(AuthzStoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        put(
            &a,
            &ops(
                Operation::Touch,
                &["doc:1#viewer@user:cy", "doc:1#viewer@user:cy[on_day]"]
            ),
            "t"
        )
        .await,
        Err(AuthzStoreError::DuplicateUpdate(_))
    ));
    // Refused against the schema: a caveat the relation does not allow, a parameter it does not have,
    // a value of the wrong type.
    for bad in [
        "doc:1#viewer@user:dee[other]",
        r#"doc:1#viewer@user:dee[on_day:{"month": "may"}]"#,
        r#"doc:1#viewer@user:dee[on_day:{"allowed": "mon"}]"#,
    ] {
        assert!(
            matches!(
                put(&a, &ops(Operation::Touch, &[bad]), "t").await,
                Err(AuthzStoreError::Relationship(_))
            ),
            "{bad}"
        );
    }
    // A schema without the caveat would orphan cy's relationship.
    assert!(matches!(
        a.write_schema("t", PLAIN).await,
        Err(AuthzStoreError::SchemaBreaksData(_))
    ));
    let r5 = put(&a, &ops(Operation::Delete, &["doc:1#viewer@user:cy"]), "t")
        .await
        .unwrap();
    assert_eq!(
        strings(&a.read("t", &filter("doc"), r5).await.unwrap()),
        ["doc:1#viewer@user:ann", "doc:1#viewer@user:bob"]
    );
    a.write_schema("t", PLAIN).await.unwrap();
}

/// SCIM's members are members without condition: a caveated membership written through the
/// authorization API is not listed, a SCIM add makes it unconditional, a SCIM remove ends it.
pub(super) async fn scim_sees_only_unconditional_memberships(store: Store) {
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
    a.write_schema(
        "t",
        "caveat c(x int) { x > 1 }
definition user {}
definition group { relation member: user | user with c }",
    )
    .await
    .unwrap();
    groups
        .create("t", "g", &group_write("G"), &["u1".into()], now)
        .await
        .unwrap();
    put(
        &a,
        &ops(
            Operation::Touch,
            &["group:g#member@user:u2[c]", "group:g#member@user:u3[c]"],
        ),
        "t",
    )
    .await
    .unwrap();
    let listed = || async {
        groups
            .members("t", Some("g"))
            .await
            .unwrap()
            .into_iter()
            .map(|(_, m)| m.user_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(listed().await, ["u1"]);
    let change = |m: MemberChanges| {
        move |_: &GroupRow| {
            Ok::<_, ()>(Decision::Write(GroupChange {
                row: None,
                members: m.clone(),
                pinned: false,
            }))
        }
    };
    groups
        .modify("t", "g", now, change(members(&["u2"], &["u3"], None)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed().await, ["u1", "u2"]);
    let head = a.head("t").await.unwrap();
    assert_eq!(
        strings(&a.read("t", &filter("group"), head).await.unwrap()),
        ["group:g#member@user:u1", "group:g#member@user:u2"]
    );
}

const EXPIRING: &str = "use expiration
caveat on_day(day string, allowed list<string>) { day in allowed }
definition user {}
definition doc {
    relation viewer: user | user with expiration | user with on_day and expiration
    relation owner: user
    permission view = viewer
}";

/// Expiring relationships in the store: one expired counts as deleted from its moment on (checks,
/// reads, preconditions and `create` see none), one expiring later counts until then, a touch with
/// another expiration replaces the row, and the sweep ends the expired at a revision of its own.
pub(super) async fn expiring_relationships_lapse_and_are_swept(store: Store) {
    use serde_json::json;
    use tessera_authz::Permissionship::{Conditional, Has, No};
    let a = AuthzStore::new(store.db().clone());
    a.write_schema("t", EXPIRING).await.unwrap();
    // Soon: long enough for the checks below to run before it, short enough to wait for.
    let soon = tessera_authz::tuple::format_expiration(tessera_origin::now().plus_secs(2));
    let cy = format!("doc:1#viewer@user:cy[expiration:{soon}]");
    let r1 = put(
        &a,
        &ops(
            Operation::Touch,
            &[
                "doc:1#viewer@user:ann[expiration:2300-01-01T00:00:00Z]",
                "doc:1#viewer@user:bob[expiration:2020-01-01T00:00:00Z]",
                &cy,
                r#"doc:1#viewer@user:dee[on_day:{"allowed":["mon"]}][expiration:2300-01-01T00:00:00Z]"#,
            ],
        ),
        "t",
    )
    .await
    .unwrap();
    assert_eq!(
        strings(&a.read("t", &filter("doc"), r1).await.unwrap()),
        [
            "doc:1#viewer@user:ann[expiration:2300-01-01T00:00:00Z]",
            cy.as_str(),
            r#"doc:1#viewer@user:dee[on_day:{"allowed":["mon"]}][expiration:2300-01-01T00:00:00Z]"#,
        ],
        "bob's has expired"
    );
    for _ in 0..2 {
        assert_eq!(permissionship(&a, r1, "user:ann", json!({})).await, Has);
        assert_eq!(permissionship(&a, r1, "user:bob", json!({})).await, No);
        assert_eq!(permissionship(&a, r1, "user:cy", json!({})).await, Has);
        assert_eq!(
            permissionship(&a, r1, "user:dee", json!({})).await,
            Conditional(["day".to_owned()].into())
        );
    }
    // The reader says until when what it returned holds: cy's expiration.
    let reader = a.reader("t", r1);
    let (_, schema) = a.schema_at("t", r1).await.unwrap().unwrap();
    assert!(Engine::new(&schema, &reader)
        .check(
            &"doc:1".parse().unwrap(),
            "view",
            &"user:cy".parse().unwrap()
        )
        .await
        .unwrap());
    assert_eq!(
        reader
            .valid_until()
            .map(tessera_authz::tuple::format_expiration),
        Some(soon.clone())
    );
    // Without an expiration the relation wants one (`user with on_day` alone is not allowed), and an
    // expiration where the relation allows none is refused.
    for bad in [
        r#"doc:1#viewer@user:eve[on_day:{"allowed":["mon"]}]"#,
        "doc:1#owner@user:eve[expiration:2300-01-01T00:00:00Z]",
    ] {
        assert!(
            matches!(
                put(&a, &ops(Operation::Touch, &[bad]), "t").await,
                Err(AuthzStoreError::Relationship(_))
            ),
            "{bad}"
        );
    }
    // An expired relationship is no precondition's match, and create succeeds over it.
    let bob = Filter {
        subject_id: Some("bob".into()),
        ..filter("doc")
    };
    let must_not = Precondition {
        operation: PreconditionOp::MustNotMatch,
        filter: bob.clone(),
    };
    let r2 = a
        .write(
            "t",
            &ops(Operation::Create, &["doc:1#viewer@user:bob"]),
            &[must_not],
        )
        .await
        .unwrap();
    assert_eq!(permissionship(&a, r2, "user:bob", json!({})).await, Has);
    // A touch with another expiration replaces the row (one delete, one touch, in that order).
    let r3 = put(
        &a,
        &ops(
            Operation::Touch,
            &["doc:1#viewer@user:ann[expiration:2400-01-01T00:00:00Z]"],
        ),
        "t",
    )
    .await
    .unwrap();
    let seen: Vec<(u64, Operation, String)> = a
        .watch("t", r2, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.revision, c.operation, c.relationship))
        .collect();
    assert_eq!(
        seen,
        [
            (
                r3,
                Operation::Delete,
                "doc:1#viewer@user:ann[expiration:2300-01-01T00:00:00Z]".to_owned()
            ),
            (
                r3,
                Operation::Touch,
                "doc:1#viewer@user:ann[expiration:2400-01-01T00:00:00Z]".to_owned()
            ),
        ]
    );
    // The same expiration again changes nothing.
    put(
        &a,
        &ops(
            Operation::Touch,
            &["doc:1#viewer@user:ann[expiration:2400-01-01T00:00:00.000Z]"],
        ),
        "t",
    )
    .await
    .unwrap();
    assert_eq!(a.watch("t", r3, 100).await.unwrap().len(), 0);

    // Once cy's moment has passed, the same revision answers no: expiration is read at the clock.
    while tessera_origin::now() <= tessera_authz::tuple::parse_expiration(&soon).unwrap() {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(permissionship(&a, r1, "user:cy", json!({})).await, No);
    assert_eq!(permissionship(&a, r3, "user:cy", json!({})).await, No);
    // The sweep ends it (bob's expired row went with the create), at a revision of its own.
    let swept = a.sweep_expired(tessera_origin::now()).await.unwrap();
    let head = a.head("t").await.unwrap();
    assert_eq!(swept, [("t".to_owned(), head, 1)]);
    let seen: Vec<(Operation, String)> = a
        .watch("t", head - 1, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.operation, c.relationship))
        .collect();
    assert_eq!(seen, [(Operation::Delete, cy.clone())]);
    assert!(a
        .sweep_expired(tessera_origin::now())
        .await
        .unwrap()
        .is_empty());
    // A schema that no longer allows expiration is refused while an unexpired one is stored.
    assert!(matches!(
        a.write_schema("t", PLAIN).await,
        Err(AuthzStoreError::SchemaBreaksData(_))
    ));
}
