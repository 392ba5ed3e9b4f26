//! Lookups agree with check (the definition of their correctness), page without losing anything, and expand
//! shows how an answer is computed.

use tessera_authz::{parse_schema, Engine, ExpandKind, ObjectRef, Schema, SubjectRef};

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
    relation viewer: user | user:* | group#member
    relation banned: user
    permission view = viewer + parent->view - banned
}";

fn data() -> Memory {
    let mut rels = vec![
        "group:eng#member@user:ann".to_owned(),
        "group:eng#member@group:ops#member".to_owned(),
        "group:ops#member@user:bob".to_owned(),
        "folder:root#viewer@group:eng#member".to_owned(),
        "folder:sub#parent@folder:root".to_owned(),
        "doc:public#viewer@user:*".to_owned(),
        "doc:public#banned@user:bob".to_owned(),
    ];
    for i in 0..25 {
        rels.push(format!(
            "doc:d{i:02}#parent@folder:{}",
            if i % 2 == 0 { "sub" } else { "other" }
        ));
    }
    rels.push("doc:d03#viewer@user:cy".to_owned());
    let refs: Vec<&str> = rels.iter().map(String::as_str).collect();
    Memory::with(&refs)
}

fn schema() -> Schema {
    parse_schema(SCHEMA).unwrap()
}

#[test]
fn lookup_resources_matches_check_and_pages_completely() {
    let (s, m) = (schema(), data());
    let e = Engine::new(&s, &m);
    for who in ["user:ann", "user:bob", "user:cy", "user:nobody"] {
        let subject: SubjectRef = who.parse().unwrap();
        // Every page of 4, concatenated...
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) =
                ready(e.lookup_resources("doc", "view", &subject, cursor.as_deref(), 4)).unwrap();
            assert!(page.len() <= 4);
            paged.extend(page);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // ...equals check over every doc.
        let mut expected = Vec::new();
        for i in 0..25 {
            let id = format!("d{i:02}");
            if ready(e.check(
                &ObjectRef {
                    object_type: "doc".into(),
                    id: id.clone(),
                },
                "view",
                &subject,
            ))
            .unwrap()
            {
                expected.push(id);
            }
        }
        if ready(e.check(&"doc:public".parse().unwrap(), "view", &subject)).unwrap() {
            expected.push("public".into());
        }
        expected.sort();
        assert_eq!(paged, expected, "{who}");
    }
    let (all, _) =
        ready(e.lookup_resources("doc", "view", &"user:ann".parse().unwrap(), None, 100)).unwrap();
    assert_eq!(
        all.len(),
        14,
        "13 docs under folder:sub plus the public one: {all:?}"
    );
    let (bob, _) =
        ready(e.lookup_resources("doc", "view", &"user:bob".parse().unwrap(), None, 100)).unwrap();
    assert!(
        !bob.contains(&"public".to_owned()),
        "bob is banned from the public doc"
    );
}

#[test]
fn lookup_subjects_includes_wildcards_and_nested_members() {
    let (s, m) = (schema(), data());
    let e = Engine::new(&s, &m);
    let who = ready(e.lookup_subjects(&"doc:d00".parse().unwrap(), "view", "user", None)).unwrap();
    assert_eq!(who.ids, ["ann", "bob"]);
    assert!(who.excluded.is_empty());
    let public =
        ready(e.lookup_subjects(&"doc:public".parse().unwrap(), "view", "user", None)).unwrap();
    assert_eq!(
        public.ids.first().map(String::as_str),
        Some("*"),
        "everyone, through the wildcard"
    );
    assert!(
        !public.ids.contains(&"bob".to_owned()),
        "but not the banned"
    );
    assert_eq!(public.excluded, ["bob"], "who the wildcard does not reach");
    let groups = ready(e.lookup_subjects(
        &"folder:sub".parse().unwrap(),
        "view",
        "group",
        Some("member"),
    ))
    .unwrap();
    assert_eq!(groups.ids, ["eng", "ops"]);
}

#[test]
fn expand_shows_the_computation() {
    let (s, m) = (schema(), data());
    let e = Engine::new(&s, &m);
    let tree = ready(e.expand(&"folder:sub".parse().unwrap(), "view")).unwrap();
    let json = serde_json::to_value(&tree).unwrap();
    // view = viewer + parent->view: a union whose arrow branch reaches folder:root's viewers.
    let text = json.to_string();
    assert!(text.contains("\"folder:root\""), "{text}");
    assert!(text.contains("group:eng#member"), "{text}");
    assert!(matches!(tree.kind, ExpandKind::Union(_)));
    let err = ready(e.expand(&"doc:1".parse().unwrap(), "edit")).unwrap_err();
    assert_eq!(err.code(), "unknown_permission");
}

/// Regression: expand of `.all()` over no objects answered an empty intersection, which reads as
/// "everyone"; check says no one, so the tree must say no subject (a leaf without subjects, as SpiceDB
/// writes `nil`).
#[test]
fn expand_of_all_over_no_objects_is_no_subject() {
    let s = parse_schema(
        "definition user {}
definition team { relation member: user }
definition doc {
    relation team: team
    permission view = team.all(member)
}",
    )
    .unwrap();
    let m = Memory::with(&["team:a#member@user:ann"]);
    let e = Engine::new(&s, &m);
    let tree = ready(e.expand(&"doc:lonely".parse().unwrap(), "view")).unwrap();
    assert_eq!(tree.kind, ExpandKind::Leaf(Vec::new()), "{tree:?}");
    let json = serde_json::to_value(&tree).unwrap();
    assert_eq!(json["leaf"], serde_json::json!([]), "{json}");
    assert!(json.get("intersection").is_none(), "{json}");
    assert!(!ready(e.check(
        &"doc:lonely".parse().unwrap(),
        "view",
        &"user:ann".parse().unwrap()
    ))
    .unwrap());
}

/// Regression (SpiceDB's `publicwithexclusion`): lookup-subjects answered `["*"]` for `viewer - banned`
/// with a wildcard viewer, although check denies the banned: the wildcard must carry its exclusions.
#[test]
fn lookup_subjects_wildcard_carries_its_exclusions() {
    let s = parse_schema(
        "definition user {}
definition doc {
    relation viewer: user:* | user
    relation banned: user
    relation editor: user
    permission view = viewer - banned
    permission edit = viewer & editor
}",
    )
    .unwrap();
    let m = Memory::with(&[
        "doc:1#viewer@user:*",
        "doc:1#viewer@user:ann",
        "doc:1#banned@user:bob",
        "doc:1#editor@user:cy",
    ]);
    let e = Engine::new(&s, &m);
    let doc: ObjectRef = "doc:1".parse().unwrap();
    let view = ready(e.lookup_subjects(&doc, "view", "user", None)).unwrap();
    assert_eq!(view.ids, ["*", "ann", "cy"]);
    assert_eq!(view.excluded, ["bob"]);
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"ids": ["*", "ann", "cy"], "excluded": ["bob"]})
    );
    // An intersection with a wildcard reaches only who the other side names: no `*`, no exclusions.
    let edit = ready(e.lookup_subjects(&doc, "edit", "user", None)).unwrap();
    assert_eq!(edit.ids, ["cy"]);
    assert!(edit.excluded.is_empty());
}
