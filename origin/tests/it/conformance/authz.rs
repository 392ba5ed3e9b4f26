//! The authorization store's cases of the conformance suite: schema versions, writes and their
//! preconditions, snapshots, watch, tenant isolation, concurrency, the engine over the store, two origins.

use super::*;

pub(super) const SCHEMA: &str = "definition user {}
definition group {
    relation member: user | group#member
}
definition doc {
    relation viewer: user | user:* | group#member
    relation owner: user
    permission view = viewer + owner
}";

pub(super) fn rel(s: &str) -> Relationship {
    s.parse().unwrap()
}

pub(super) fn ops(op: Operation, rels: &[&str]) -> Vec<(Operation, Tuple)> {
    rels.iter().map(|r| (op, r.parse().unwrap())).collect()
}

pub(super) fn filter(resource_type: &str) -> Filter {
    Filter {
        resource_type: resource_type.to_owned(),
        ..Filter::default()
    }
}

pub(super) fn strings(rels: &[Tuple]) -> Vec<String> {
    rels.iter().map(ToString::to_string).collect()
}

pub(super) async fn authz(store: &Store) -> AuthzStore {
    let a = AuthzStore::new(store.db().clone());
    a.write_schema("t", SCHEMA).await.unwrap();
    a
}

pub(super) async fn schema_versions(store: Store) {
    let a = AuthzStore::new(store.db().clone());
    assert_eq!(a.head("t").await.unwrap(), 0);
    assert!(a.schema("t", None).await.unwrap().is_none());
    assert!(matches!(
        put(&a, &ops(Operation::Touch, &["doc:1#viewer@user:a"]), "t").await,
        Err(AuthzStoreError::NoSchema)
    ));
    assert_eq!(a.write_schema("t", SCHEMA).await.unwrap(), 1);
    let bigger = format!("{SCHEMA}\ndefinition folder {{\n relation viewer: user\n}}");
    assert_eq!(a.write_schema("t", &bigger).await.unwrap(), 2);
    let (r, text, schema) = a.schema("t", Some(1)).await.unwrap().unwrap();
    assert_eq!((r, text.as_str()), (1, SCHEMA));
    assert!(schema.definition("folder").is_none());
    let (r, text, _) = a.schema("t", None).await.unwrap().unwrap();
    assert_eq!((r, text), (2, bigger));
    assert!(a.schema("t", Some(0)).await.unwrap().is_none());
    assert!(matches!(
        a.write_schema("t", "definition {").await,
        Err(AuthzStoreError::Schema(_))
    ));
    assert_eq!(a.head("t").await.unwrap(), 2);
}

/// A write without preconditions.
pub(super) async fn put(
    a: &AuthzStore,
    updates: &[(Operation, Tuple)],
    tenant: &str,
) -> Result<u64, AuthzStoreError> {
    a.write(tenant, updates, &[]).await
}

pub(super) async fn write_semantics(store: Store) {
    let a = authz(&store).await;
    let r2 = put(
        &a,
        &ops(
            Operation::Create,
            &["doc:1#viewer@user:a", "doc:1#owner@user:b"],
        ),
        "t",
    )
    .await
    .unwrap();
    assert_eq!(r2, 2);
    // touch of an existing relationship is a no-op that still advances the revision
    let r3 = put(&a, &ops(Operation::Touch, &["doc:1#viewer@user:a"]), "t")
        .await
        .unwrap();
    assert_eq!(r3, 3);
    assert!(matches!(
        put(&a, &ops(Operation::Create, &["doc:1#viewer@user:a"]), "t").await,
        Err(AuthzStoreError::AlreadyExists(r)) if r == "doc:1#viewer@user:a"
    ));
    // delete of an absent relationship succeeds (idempotent)
    put(&a, &ops(Operation::Delete, &["doc:9#viewer@user:a"]), "t")
        .await
        .unwrap();
    let r = put(&a, &ops(Operation::Delete, &["doc:1#viewer@user:a"]), "t")
        .await
        .unwrap();
    assert_eq!(
        strings(&a.read("t", &filter("doc"), r).await.unwrap()),
        vec!["doc:1#owner@user:b"]
    );
    // delete then create again gives a live row again
    put(&a, &ops(Operation::Create, &["doc:1#viewer@user:a"]), "t")
        .await
        .unwrap();
    assert_eq!(
        a.read("t", &filter("doc"), a.head("t").await.unwrap())
            .await
            .unwrap()
            .len(),
        2
    );
    // subject sets and wildcards are stored and read back exactly
    let r = put(
        &a,
        &ops(
            Operation::Touch,
            &["doc:2#viewer@group:g#member", "doc:2#viewer@user:*"],
        ),
        "t",
    )
    .await
    .unwrap();
    let mut f = filter("doc");
    f.resource_id = Some("2".to_owned());
    assert_eq!(
        strings(&a.read("t", &f, r).await.unwrap()),
        vec!["doc:2#viewer@group:g#member", "doc:2#viewer@user:*"]
    );
    f.subject_relation = Some(String::new());
    assert_eq!(
        strings(&a.read("t", &f, r).await.unwrap()),
        vec!["doc:2#viewer@user:*"]
    );
    // reads come back in byte order of the identifiers on every backend, whatever the locale
    let r = put(
        &a,
        &ops(
            Operation::Touch,
            &[
                "doc:b#owner@user:a",
                "doc:B#owner@user:a",
                "doc:_#owner@user:a",
            ],
        ),
        "t",
    )
    .await
    .unwrap();
    let mut f = filter("doc");
    f.relation = Some("owner".to_owned());
    assert_eq!(
        strings(&a.read("t", &f, r).await.unwrap()),
        vec![
            "doc:1#owner@user:b",
            "doc:B#owner@user:a",
            "doc:_#owner@user:a",
            "doc:b#owner@user:a"
        ]
    );
}

pub(super) async fn failed_writes_change_nothing(store: Store) {
    let a = authz(&store).await;
    put(&a, &ops(Operation::Create, &["doc:1#viewer@user:a"]), "t")
        .await
        .unwrap();
    let head = a.head("t").await.unwrap();
    let batch = ops(
        Operation::Create,
        &["doc:2#viewer@user:a", "doc:1#viewer@user:a"],
    );
    assert!(matches!(
        put(&a, &batch, "t").await,
        Err(AuthzStoreError::AlreadyExists(_))
    ));
    let dup = ops(
        Operation::Touch,
        &["doc:3#viewer@user:a", "doc:3#viewer@user:a"],
    );
    assert!(matches!(
        put(&a, &dup, "t").await,
        Err(AuthzStoreError::DuplicateUpdate(_))
    ));
    let invalid = ops(Operation::Touch, &["doc:3#owner@group:g#member"]);
    assert!(matches!(
        put(&a, &invalid, "t").await,
        Err(AuthzStoreError::Relationship(_))
    ));
    assert_eq!(
        a.head("t").await.unwrap(),
        head,
        "a failed write takes no revision"
    );
    assert_eq!(
        strings(&a.read("t", &filter("doc"), head).await.unwrap()),
        vec!["doc:1#viewer@user:a"]
    );
}

pub(super) async fn preconditions(store: Store) {
    let a = authz(&store).await;
    put(&a, &ops(Operation::Create, &["doc:1#owner@user:a"]), "t")
        .await
        .unwrap();
    let owned_by_a = Filter {
        resource_type: "doc".to_owned(),
        resource_id: Some("1".to_owned()),
        relation: Some("owner".to_owned()),
        subject_type: Some("user".to_owned()),
        subject_id: Some("a".to_owned()),
        subject_relation: None,
    };
    let must = |op| Precondition {
        operation: op,
        filter: owned_by_a.clone(),
    };
    let updates = ops(Operation::Touch, &["doc:1#viewer@user:b"]);
    let head = a.head("t").await.unwrap();
    assert!(matches!(
        a.write("t", &updates, &[must(PreconditionOp::MustNotMatch)])
            .await,
        Err(AuthzStoreError::PreconditionFailed(_))
    ));
    assert_eq!(a.head("t").await.unwrap(), head);
    let r = a
        .write("t", &updates, &[must(PreconditionOp::MustMatch)])
        .await
        .unwrap();
    assert_eq!(a.read("t", &filter("doc"), r).await.unwrap().len(), 2);
    // a precondition sees the state before the batch, not the batch itself
    let mut by_b = owned_by_a.clone();
    by_b.subject_id = Some("b".to_owned());
    let res = a
        .write(
            "t",
            &ops(Operation::Touch, &["doc:1#owner@user:b"]),
            &[Precondition {
                operation: PreconditionOp::MustMatch,
                filter: by_b,
            }],
        )
        .await;
    assert!(matches!(res, Err(AuthzStoreError::PreconditionFailed(_))));
}

pub(super) async fn snapshots_are_stable(store: Store) {
    let a = authz(&store).await;
    let r1 = put(&a, &ops(Operation::Touch, &["doc:1#viewer@user:a"]), "t")
        .await
        .unwrap();
    let r2 = put(&a, &ops(Operation::Touch, &["doc:1#viewer@user:b"]), "t")
        .await
        .unwrap();
    let r3 = put(&a, &ops(Operation::Delete, &["doc:1#viewer@user:a"]), "t")
        .await
        .unwrap();
    let at = |r| {
        let a = a.clone();
        async move { strings(&a.read("t", &filter("doc"), r).await.unwrap()) }
    };
    assert_eq!(at(r1).await, vec!["doc:1#viewer@user:a"]);
    assert_eq!(
        at(r2).await,
        vec!["doc:1#viewer@user:a", "doc:1#viewer@user:b"]
    );
    assert_eq!(at(r3).await, vec!["doc:1#viewer@user:b"]);
    assert!(at(1).await.is_empty());
    assert_eq!(a.snapshot("t", None).await.unwrap(), r3);
    assert_eq!(a.snapshot("t", Some(r1)).await.unwrap(), r1);
    assert!(matches!(
        a.snapshot("t", Some(r3 + 1)).await,
        Err(AuthzStoreError::RevisionUnavailable(r)) if r == r3 + 1
    ));
    // the engine's reader sees the same snapshots
    let doc = ObjectRef {
        object_type: "doc".to_owned(),
        id: "1".to_owned(),
    };
    let ids = |subs: Vec<SubjectRef>| subs.into_iter().map(|s| s.object.id).collect::<Vec<_>>();
    let mut at_r2 = ids(a.reader("t", r2).subjects(&doc, "viewer").await.unwrap());
    at_r2.sort();
    assert_eq!(at_r2, ["a", "b"]);
    assert_eq!(
        ids(a.reader("t", r3).subjects(&doc, "viewer").await.unwrap()),
        ["b"]
    );
}

pub(super) async fn delete_by_filter(store: Store) {
    let a = authz(&store).await;
    put(
        &a,
        &ops(
            Operation::Touch,
            &[
                "doc:1#viewer@user:a",
                "doc:2#viewer@user:a",
                "doc:2#viewer@user:b",
                "doc:2#owner@user:a",
            ],
        ),
        "t",
    )
    .await
    .unwrap();
    let mut f = filter("doc");
    f.relation = Some("viewer".to_owned());
    f.subject_id = Some("a".to_owned());
    let (r, n) = a.delete_matching("t", &f).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        strings(&a.read("t", &filter("doc"), r).await.unwrap()),
        vec!["doc:2#owner@user:a", "doc:2#viewer@user:b"]
    );
    let (r2, n) = a.delete_matching("t", &f).await.unwrap();
    assert_eq!((r2, n), (r + 1, 0));
    let (_, n) = a.delete_matching("t", &filter("doc")).await.unwrap();
    assert_eq!(n, 2);
}

pub(super) async fn watch_is_ordered_and_paged(store: Store) {
    let a = authz(&store).await;
    let r1 = put(
        &a,
        &ops(
            Operation::Touch,
            &["doc:1#viewer@user:b", "doc:1#viewer@user:a"],
        ),
        "t",
    )
    .await
    .unwrap();
    let r2 = put(&a, &ops(Operation::Delete, &["doc:1#viewer@user:a"]), "t")
        .await
        .unwrap();
    let r3 = put(&a, &ops(Operation::Touch, &["doc:1#viewer@user:a"]), "t")
        .await
        .unwrap();
    let all = a.watch("t", 0, 100).await.unwrap();
    let seen: Vec<(u64, Operation, &str)> = all
        .iter()
        .map(|c| (c.revision, c.operation, c.relationship.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (r1, Operation::Touch, "doc:1#viewer@user:a"),
            (r1, Operation::Touch, "doc:1#viewer@user:b"),
            (r2, Operation::Delete, "doc:1#viewer@user:a"),
            (r3, Operation::Touch, "doc:1#viewer@user:a"),
        ]
    );
    assert_eq!(a.watch("t", 0, 2).await.unwrap(), all[..2]);
    assert_eq!(a.watch("t", r1, 100).await.unwrap(), all[2..]);
    assert!(a.watch("t", r3, 100).await.unwrap().is_empty());
}

pub(super) async fn tenants_are_isolated(store: Store) {
    let a = authz(&store).await;
    a.write_schema("u", SCHEMA).await.unwrap();
    put(&a, &ops(Operation::Touch, &["doc:1#viewer@user:a"]), "t")
        .await
        .unwrap();
    put(&a, &ops(Operation::Touch, &["doc:1#viewer@user:b"]), "u")
        .await
        .unwrap();
    put(&a, &ops(Operation::Touch, &["doc:2#viewer@user:b"]), "u")
        .await
        .unwrap();
    assert_eq!(
        (a.head("t").await.unwrap(), a.head("u").await.unwrap()),
        (2, 3)
    );
    assert_eq!(
        strings(&a.read("t", &filter("doc"), 2).await.unwrap()),
        vec!["doc:1#viewer@user:a"]
    );
    assert_eq!(a.watch("u", 0, 10).await.unwrap().len(), 2);
    let (_, n) = a.delete_matching("u", &filter("doc")).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(a.read("t", &filter("doc"), 2).await.unwrap().len(), 1);
}

pub(super) async fn schema_cannot_orphan_data(store: Store) {
    let a = authz(&store).await;
    put(
        &a,
        &ops(Operation::Touch, &["doc:1#viewer@group:g#member"]),
        "t",
    )
    .await
    .unwrap();
    let head = a.head("t").await.unwrap();
    let narrower = SCHEMA.replace("user | user:* | group#member", "user");
    assert!(matches!(
        a.write_schema("t", &narrower).await,
        Err(AuthzStoreError::SchemaBreaksData(why)) if why.contains("doc:1#viewer@group:g#member")
    ));
    assert_eq!(a.head("t").await.unwrap(), head);
    put(
        &a,
        &ops(Operation::Delete, &["doc:1#viewer@group:g#member"]),
        "t",
    )
    .await
    .unwrap();
    a.write_schema("t", &narrower).await.unwrap();
}

pub(super) async fn concurrent_writers_get_distinct_revisions(store: Store) {
    let a = authz(&store).await;
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let a = a.clone();
            tokio::spawn(async move {
                let mut revs = Vec::new();
                for i in 0..10 {
                    let r = format!("doc:w{w}i{i}#viewer@user:u{w}");
                    revs.push(put(&a, &ops(Operation::Create, &[&r]), "t").await.unwrap());
                }
                revs
            })
        })
        .collect();
    let mut revs = Vec::new();
    for t in tasks {
        revs.extend(t.await.unwrap());
    }
    revs.sort_unstable();
    assert_eq!(
        revs,
        (2..=81).collect::<Vec<u64>>(),
        "every write got its own revision"
    );
    let changes = a.watch("t", 1, 1000).await.unwrap();
    assert_eq!(changes.len(), 80);
    // each revision holds exactly the one relationship its writer wrote
    for c in &changes {
        let at = a.read("t", &filter("doc"), c.revision).await.unwrap().len();
        let before = a
            .read("t", &filter("doc"), c.revision - 1)
            .await
            .unwrap()
            .len();
        assert_eq!(at, before + 1);
    }
}

pub(super) async fn engine_over_the_store(store: Store) {
    let a = authz(&store).await;
    let r1 = put(
        &a,
        &ops(
            Operation::Touch,
            &[
                "group:eng#member@user:ann",
                "group:all#member@group:eng#member",
                "doc:1#viewer@group:all#member",
                "doc:2#viewer@user:*",
            ],
        ),
        "t",
    )
    .await
    .unwrap();
    let r2 = put(
        &a,
        &ops(Operation::Delete, &["group:eng#member@user:ann"]),
        "t",
    )
    .await
    .unwrap();
    let (_, _, schema) = a.schema("t", None).await.unwrap().unwrap();
    let subject: SubjectRef = "user:ann".parse().unwrap();
    let doc = |id: &str| ObjectRef {
        object_type: "doc".to_owned(),
        id: id.to_owned(),
    };
    let reader = a.reader("t", r1);
    let engine = Engine::new(&schema, &reader);
    assert!(engine.check(&doc("1"), "view", &subject).await.unwrap());
    assert!(engine.check(&doc("2"), "view", &subject).await.unwrap());
    assert!(!engine.check(&doc("3"), "view", &subject).await.unwrap());
    let (ids, next) = engine
        .lookup_resources("doc", "view", &subject, None, 10)
        .await
        .unwrap();
    assert_eq!((ids, next), (vec!["1".to_owned(), "2".to_owned()], None));
    let later = a.reader("t", r2);
    let engine = Engine::new(&schema, &later);
    assert!(!engine.check(&doc("1"), "view", &subject).await.unwrap());
    assert!(engine.check(&doc("2"), "view", &subject).await.unwrap());
    // `*` is never an object id of its own
    assert_eq!(
        later.object_ids("user").await.unwrap(),
        Vec::<String>::new()
    );
}

/// Two origins on one database: each caches relationships in memory, and each still sees the other's
/// writes at once under `fully_consistent`, and at exact snapshots before and after them.
pub(super) async fn two_origins_stay_coherent(store: Store) {
    let a = authz(&store).await;
    let b = AuthzStore::new(store.db().clone());
    let (_, _, schema) = a.schema("t", None).await.unwrap().unwrap();
    let doc = ObjectRef {
        object_type: "doc".to_owned(),
        id: "1".to_owned(),
    };
    let ann: SubjectRef = "user:ann".parse().unwrap();
    let allowed = |s: &AuthzStore, at: u64| {
        let reader = s.reader("t", at);
        let schema = schema.clone();
        let doc = doc.clone();
        let ann = ann.clone();
        async move {
            Engine::new(&schema, &reader)
                .check(&doc, "view", &ann)
                .await
                .unwrap()
        }
    };
    let r1 = put(
        &a,
        &ops(Operation::Touch, &["group:g#member@user:ann"]),
        "t",
    )
    .await
    .unwrap();
    // both warm their caches on doc:1 and group:g
    let at = a.snapshot("t", None).await.unwrap();
    assert!(!allowed(&a, at).await);
    let at = b.snapshot("t", None).await.unwrap();
    assert!(!allowed(&b, at).await);
    // b writes; a must see it at the head
    let r2 = put(
        &b,
        &ops(Operation::Touch, &["doc:1#viewer@group:g#member"]),
        "t",
    )
    .await
    .unwrap();
    let at = a.snapshot("t", None).await.unwrap();
    assert_eq!(at, r2);
    assert!(allowed(&a, at).await, "a sees b's write");
    assert!(!allowed(&a, r1).await, "and not at the snapshot before it");
    // a deletes the membership; b must see that
    let r3 = put(
        &a,
        &ops(Operation::Delete, &["group:g#member@user:ann"]),
        "t",
    )
    .await
    .unwrap();
    let at = b.snapshot("t", None).await.unwrap();
    assert_eq!(at, r3);
    assert!(!allowed(&b, at).await, "b sees a's delete");
    assert!(
        allowed(&b, r2).await,
        "and the snapshot between still answers as it did"
    );
    assert!(allowed(&a, r2).await);
    // a reverse walk (lookups) is coherent too
    let later = a.reader("t", r2);
    let engine = Engine::new(&schema, &later);
    let (ids, _) = engine
        .lookup_resources("doc", "view", &ann, None, 10)
        .await
        .unwrap();
    assert_eq!(ids, vec!["1".to_owned()]);
    let now = b.reader("t", r3);
    let engine = Engine::new(&schema, &now);
    let (ids, _) = engine
        .lookup_resources("doc", "view", &ann, None, 10)
        .await
        .unwrap();
    assert!(ids.is_empty());
}

/// A check's kept answer (what the origin answers a question asked again with) holds exactly while the
/// keys its walk read do not change, across two origins; a walk with contextual relationships, at an old
/// revision, or under a replaced schema is never kept.
pub(super) async fn kept_decisions_stay_exact(store: Store) {
    let a = authz(&store).await;
    let b = AuthzStore::new(store.db().clone());
    put(
        &a,
        &ops(Operation::Touch, &["group:g#member@user:ann"]),
        "t",
    )
    .await
    .unwrap();
    let at = a.snapshot("t", None).await.unwrap();
    assert_eq!(decide(&a, at, vec![]).await, (false, false));
    assert_eq!(decide(&a, at, vec![]).await, (false, true), "kept");
    // A contextual relationship grants, but only that request: never kept.
    let ctx = vec![Tuple::from(rel("doc:1#viewer@user:ann"))];
    assert_eq!(decide(&a, at, ctx.clone()).await, (true, false));
    assert_eq!(decide(&a, at, ctx).await, (true, false));
    assert_eq!(decide(&a, at, vec![]).await, (false, true));
    // Another origin writes a key the walk did not read: the answer still holds at the new head.
    put(&b, &ops(Operation::Touch, &["doc:2#viewer@user:ann"]), "t")
        .await
        .unwrap();
    let at = a.snapshot("t", None).await.unwrap();
    assert_eq!(
        decide(&a, at, vec![]).await,
        (false, true),
        "unrelated write"
    );
    // It writes one the walk read: the answer is walked again, and kept again.
    let r_grant = put(
        &b,
        &ops(Operation::Touch, &["doc:1#viewer@group:g#member"]),
        "t",
    )
    .await
    .unwrap();
    let at = a.snapshot("t", None).await.unwrap();
    assert_eq!(
        decide(&a, at, vec![]).await,
        (true, false),
        "sees b's grant"
    );
    assert_eq!(decide(&a, at, vec![]).await, (true, true));
    // A key read only through the nested group changes.
    put(
        &b,
        &ops(Operation::Delete, &["group:g#member@user:ann"]),
        "t",
    )
    .await
    .unwrap();
    let at = a.snapshot("t", None).await.unwrap();
    assert_eq!(
        decide(&a, at, vec![]).await,
        (false, false),
        "sees the nested delete"
    );
    assert_eq!(decide(&a, at, vec![]).await, (false, true));
    // An older revision is walked, and its answer not kept (it would not hold from there on).
    assert_eq!(decide(&a, r_grant, vec![]).await, (true, false));
    assert_eq!(decide(&a, r_grant, vec![]).await, (true, false));
    assert_eq!(decide(&a, at, vec![]).await, (false, true));
    // A new schema: nothing kept holds.
    let wider = SCHEMA.replace(
        "permission view = viewer + owner",
        "permission view = viewer + owner + nobody
    relation nobody: user",
    );
    b.write_schema("t", &wider).await.unwrap();
    let at = a.snapshot("t", None).await.unwrap();
    assert_eq!(decide(&a, at, vec![]).await, (false, false), "a new schema");
}

/// As the origin asks whether `user:ann` may view `doc:1` (`check_one`): the kept answer if one holds,
/// else a walk whose answer is kept; with contextual relationships, always a walk. The answer, and
/// whether it was the kept one.
async fn decide(s: &AuthzStore, at: u64, context: Vec<Tuple>) -> (bool, bool) {
    let question = ("doc:1".to_owned(), "view".to_owned(), "user:ann".to_owned());
    if context.is_empty() {
        if let Some((allowed, _)) = s.decision("t", &question, at) {
            return (allowed, true);
        }
    }
    let (_, schema) = s.schema_at("t", at).await.unwrap().unwrap();
    let reader = s.reader("t", at).with_context(context).recording();
    let allowed = Engine::new(&schema, &reader)
        .check(
            &"doc:1".parse().unwrap(),
            "view",
            &"user:ann".parse().unwrap(),
        )
        .await
        .unwrap();
    reader.decided(question, allowed);
    (allowed, false)
}
