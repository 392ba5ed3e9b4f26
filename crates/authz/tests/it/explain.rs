//! Explanations: the path that granted, or what denied, agreeing with check.

use tessera_authz::{parse_schema, Engine, ObjectRef, SubjectRef};

use crate::{ready, Memory};

const SCHEMA: &str = "definition user {}
definition group { relation member: user | group#member }
definition folder {
    relation parent: folder
    relation viewer: user | group#member
    permission view = viewer + parent->view
}
definition doc {
    relation parent: folder
    relation viewer: user | user:*
    relation banned: user | group#member
    relation approver: user
    permission view = viewer + parent->view - banned
    permission approve = approver & view
}";

fn explain(
    m: &Memory,
    resource: &str,
    perm: &str,
    subject: &str,
) -> tessera_authz::explain::Explanation {
    let s = parse_schema(SCHEMA).unwrap();
    let engine = Engine::new(&s, m);
    let r = resource.parse::<ObjectRef>().unwrap();
    let sub = subject.parse::<SubjectRef>().unwrap();
    let e = ready(engine.explain(&r, perm, &sub)).unwrap();
    assert_eq!(
        e.allowed,
        ready(engine.check(&r, perm, &sub)).unwrap(),
        "explain agrees with check: {e:?}"
    );
    e
}

fn data() -> Memory {
    Memory::with(&[
        "doc:plan#parent@folder:eng",
        "folder:eng#parent@folder:root",
        "folder:root#viewer@group:staff#member",
        "group:staff#member@group:eng#member",
        "group:eng#member@user:ann",
        "group:eng#member@user:bob",
        "doc:plan#banned@user:bob",
        "doc:plan#approver@user:cat",
        "doc:pub#viewer@user:*",
    ])
}

#[test]
fn a_grant_lists_the_relationships_from_resource_to_subject() {
    let e = explain(&data(), "doc:plan", "view", "user:ann");
    assert!(e.allowed);
    assert_eq!(
        e.relationships,
        [
            "doc:plan#parent@folder:eng",
            "folder:eng#parent@folder:root",
            "folder:root#viewer@group:staff#member",
            "group:staff#member@group:eng#member",
            "group:eng#member@user:ann",
        ]
    );
    assert!(
        e.reason.starts_with("user:ann has view on doc:plan"),
        "{}",
        e.reason
    );
    let e = explain(&data(), "doc:pub", "view", "user:zed");
    assert_eq!(e.relationships, ["doc:pub#viewer@user:*"]);
}

#[test]
fn a_denial_says_what_denied_it() {
    let e = explain(&data(), "doc:plan", "view", "user:bob");
    assert!(!e.allowed);
    assert_eq!(e.relationships, ["doc:plan#banned@user:bob"]);
    assert!(
        e.reason.contains("excluded from doc:plan#view"),
        "{}",
        e.reason
    );
    let e = explain(&data(), "doc:plan", "approve", "user:cat");
    assert!(!e.allowed, "an approver without view");
    assert!(e.relationships.is_empty());
    let e = explain(&data(), "doc:plan", "view", "user:zed");
    assert!(!e.allowed);
    assert!(e.reason.starts_with("denied:"), "{}", e.reason);
}

#[test]
fn an_undecidable_cycle_is_denied_and_said_so() {
    let s = parse_schema("definition user {}\ndefinition doc {\n relation restricted: user | doc#viewer\n relation viewer: user = this - restricted\n}").unwrap();
    let m = Memory::with(&["doc:1#viewer@user:jon", "doc:1#restricted@doc:1#viewer"]);
    let engine = Engine::new(&s, &m);
    let e = ready(engine.explain(
        &"doc:1".parse().unwrap(),
        "viewer",
        &"user:jon".parse().unwrap(),
    ))
    .unwrap();
    assert!(!e.allowed);
    assert!(e.reason.contains("undecidable"), "{}", e.reason);
}
