//! Check semantics: direct relations, subject sets, wildcards, arrows (`any`/`all`), union, intersection,
//! exclusion, cycles and the depth limit.

use tessera_authz::{parse_schema, CheckError, Engine, ObjectRef, Schema, SubjectRef};

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
    relation owner: user
    relation viewer: user | user:* | group#member
    relation banned: user | group#member
    relation approver: user
    permission edit = owner
    permission view = viewer + edit + parent->view - banned
    permission approve = approver & edit
    permission all_parents = parent.all(view)
}";

fn schema() -> Schema {
    parse_schema(SCHEMA).unwrap()
}

fn check(store: &Memory, resource: &str, perm: &str, subject: &str) -> bool {
    let s = schema();
    let engine = Engine::new(&s, store);
    ready(engine.check(
        &resource.parse::<ObjectRef>().unwrap(),
        perm,
        &subject.parse::<SubjectRef>().unwrap(),
    ))
    .unwrap()
}

#[test]
fn direct_and_computed() {
    let m = Memory::with(&["doc:1#owner@user:ann", "doc:1#viewer@user:bob"]);
    assert!(check(&m, "doc:1", "edit", "user:ann"));
    assert!(check(&m, "doc:1", "view", "user:ann"), "edit implies view");
    assert!(check(&m, "doc:1", "view", "user:bob"));
    assert!(!check(&m, "doc:1", "edit", "user:bob"));
    assert!(
        !check(&m, "doc:2", "view", "user:ann"),
        "other objects are untouched"
    );
    assert!(
        check(&m, "doc:1", "viewer", "user:bob"),
        "relations can be checked too"
    );
}

#[test]
fn nested_groups_and_subject_sets() {
    let m = Memory::with(&[
        "doc:1#viewer@group:eng#member",
        "group:eng#member@group:backend#member",
        "group:backend#member@user:cat",
    ]);
    assert!(check(&m, "doc:1", "view", "user:cat"));
    assert!(!check(&m, "doc:1", "view", "user:dan"));
    // A subject set as the subject: is every member of backend a viewer? Yes, through eng.
    assert!(check(&m, "doc:1", "view", "group:backend#member"));
    assert!(check(&m, "group:eng", "member", "group:eng#member"));
}

#[test]
fn wildcards() {
    let m = Memory::with(&["doc:1#viewer@user:*", "doc:1#banned@user:eve"]);
    assert!(check(&m, "doc:1", "view", "user:anyone"));
    assert!(
        !check(&m, "doc:1", "view", "user:eve"),
        "exclusion beats the wildcard"
    );
    assert!(
        !check(&m, "doc:1", "view", "group:eng#member"),
        "a wildcard of users is not a group"
    );
}

#[test]
fn arrows_any_and_all() {
    let m = Memory::with(&[
        "doc:1#parent@folder:a",
        "folder:a#parent@folder:root",
        "folder:root#viewer@user:fay",
        "doc:2#parent@folder:a",
        "doc:2#parent@folder:b",
        "folder:b#viewer@user:gus",
        "folder:a#viewer@user:gus",
    ]);
    assert!(check(&m, "doc:1", "view", "user:fay"), "two folders up");
    assert!(!check(&m, "doc:1", "view", "user:hal"));
    assert!(
        check(&m, "doc:2", "all_parents", "user:gus"),
        "gus views both parents"
    );
    assert!(
        !check(&m, "doc:2", "all_parents", "user:fay"),
        "fay views only folder:a"
    );
    assert!(
        !check(&m, "doc:3", "all_parents", "user:gus"),
        "all() over no parents is false"
    );
}

#[test]
fn intersection_and_exclusion() {
    let m = Memory::with(&[
        "doc:1#approver@user:ida",
        "doc:1#owner@user:ida",
        "doc:1#approver@user:jon",
        "doc:1#viewer@group:g#member",
        "group:g#member@user:kim",
        "doc:1#banned@group:bad#member",
        "group:bad#member@user:kim",
    ]);
    assert!(check(&m, "doc:1", "approve", "user:ida"));
    assert!(
        !check(&m, "doc:1", "approve", "user:jon"),
        "approver without edit"
    );
    assert!(
        !check(&m, "doc:1", "view", "user:kim"),
        "banned through a group"
    );
}

#[test]
fn cycles_terminate_and_do_not_poison_the_memo() {
    let m = Memory::with(&[
        "group:a#member@group:b#member",
        "group:b#member@group:a#member",
        "group:b#member@user:lou",
        "doc:1#viewer@group:a#member",
        "folder:x#parent@folder:y",
        "folder:y#parent@folder:x",
    ]);
    assert!(check(&m, "group:a", "member", "user:lou"));
    assert!(check(&m, "doc:1", "view", "user:lou"));
    assert!(!check(&m, "doc:1", "view", "user:max"));
    assert!(
        !check(&m, "folder:x", "view", "user:lou"),
        "a folder cycle with no viewer grants nothing"
    );
}

#[test]
fn depth_limit_is_an_error_not_a_guess() {
    let rels: Vec<String> = (0..20)
        .map(|i| format!("group:g{i}#member@group:g{}#member", i + 1))
        .collect();
    let refs: Vec<&str> = rels.iter().map(String::as_str).collect();
    let m = Memory::with(&refs);
    let s = schema();
    let subject: SubjectRef = "user:zed".parse().unwrap();
    let deep = Engine::new(&s, &m).with_max_depth(5);
    let err = ready(deep.check(&"group:g0".parse().unwrap(), "member", &subject)).unwrap_err();
    assert_eq!(err, CheckError::DepthExceeded(5));
    assert_eq!(err.code(), "depth_exceeded");
    let ok = Engine::new(&s, &m);
    assert_eq!(
        ready(ok.check(&"group:g0".parse().unwrap(), "member", &subject)),
        Ok(false)
    );
}

#[test]
fn unknown_names_are_errors() {
    let m = Memory::default();
    let s = schema();
    let e = Engine::new(&s, &m);
    let u: SubjectRef = "user:a".parse().unwrap();
    assert_eq!(
        ready(e.check(&"page:1".parse().unwrap(), "view", &u))
            .unwrap_err()
            .code(),
        "unknown_type"
    );
    assert_eq!(
        ready(e.check(&"doc:1".parse().unwrap(), "delete", &u))
            .unwrap_err()
            .code(),
        "unknown_permission"
    );
    let robot: SubjectRef = "robot:r2".parse().unwrap();
    assert_eq!(
        ready(e.check(&"doc:1".parse().unwrap(), "view", &robot))
            .unwrap_err()
            .code(),
        "unknown_type"
    );
}

#[test]
fn a_cycle_through_an_exclusion_is_undecided_and_denied() {
    // viewer = this - restricted, and restricted contains viewer itself: no fixed point decides it.
    let s = parse_schema(
        "definition user {}
definition doc {
    relation restricted: user | doc#viewer
    relation viewer: user = this - restricted
}",
    )
    .unwrap();
    let m = Memory::with(&["doc:1#viewer@user:jon", "doc:1#restricted@doc:1#viewer"]);
    let engine = Engine::new(&s, &m);
    let subject = "user:jon".parse::<SubjectRef>().unwrap();
    let doc = "doc:1".parse::<ObjectRef>().unwrap();
    assert!(!ready(engine.check(&doc, "viewer", &subject)).unwrap());
    assert!(!ready(engine.check(&doc, "restricted", &subject)).unwrap());
    // a cycle that does not pass through the exclusion still resolves: a group cycle under `banned`
    let m = Memory::with(&[
        "doc:1#viewer@user:ann",
        "doc:1#banned@group:a#member",
        "group:a#member@group:b#member",
        "group:b#member@group:a#member",
        "group:b#member@user:bob",
    ]);
    assert!(
        check(&m, "doc:1", "view", "user:ann"),
        "ann is not in the banned cycle"
    );
    assert!(!check(&m, "doc:1", "view", "user:bob"), "bob is, through b");
}
