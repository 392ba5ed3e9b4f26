//! Parsers facing user input never panic; relationships print and parse back to themselves.

use proptest::prelude::*;
use tessera_authz::{parse_schema, Relationship};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn schema_parser_never_panics(src in "(definition|relation|permission|[a-z_/#:|*=+&().{}; -]|->|\\.\\.\\.|\n|/\\*|\\*/|//){0,60}") {
        let _ = parse_schema(&src);
    }

    #[test]
    fn schema_parser_never_panics_on_any_text(src in "\\PC{0,200}") {
        let _ = parse_schema(&src);
    }

    #[test]
    fn relationships_round_trip(
        rt in "[a-z][a-z0-9_]{0,8}", rid in "[A-Za-z0-9_=+/|-]{1,12}", rel in "[a-z][a-z0-9_]{0,8}",
        st in "[a-z][a-z0-9_]{0,8}", sid in "[A-Za-z0-9_-]{1,12}", srel in proptest::option::of("[a-z][a-z0-9_]{0,8}"),
    ) {
        let text = match &srel {
            Some(r) => format!("{rt}:{rid}#{rel}@{st}:{sid}#{r}"),
            None => format!("{rt}:{rid}#{rel}@{st}:{sid}"),
        };
        let parsed: Relationship = text.parse().unwrap();
        prop_assert_eq!(parsed.to_string(), text);
    }
}

/// A schema with every construct the reverse walk must follow: subject sets, wildcards, arrows (`any`,
/// `all`, recursive), intersections, exclusions and a relation with a rewrite.
const WALK_SCHEMA: &str = "definition user {}
definition group {
    relation member: user | group#member
}
definition folder {
    relation parent: folder
    relation viewer: user | user:* | group#member
    relation banned: user | group#member
    permission view = viewer + parent->view - banned
}
definition doc {
    relation parent: folder
    relation owner: user = this + parent->view
    relation reviewer: user | group#member
    permission edit = owner & reviewer
    permission all_view = parent.all(view)
    permission read = edit + all_view + owner
}";

fn relationship_strategy() -> impl Strategy<Value = String> {
    let id = || prop::sample::select(vec!["a", "b", "c", "d"]);
    let user = || id().prop_map(|i| format!("user:{i}"));
    prop_oneof![
        (id(), user()).prop_map(|(g, u)| format!("group:{g}#member@{u}")),
        (id(), id()).prop_map(|(g, h)| format!("group:{g}#member@group:{h}#member")),
        (id(), id()).prop_map(|(f, p)| format!("folder:{f}#parent@folder:{p}")),
        (id(), user()).prop_map(|(f, u)| format!("folder:{f}#viewer@{u}")),
        id().prop_map(|f| format!("folder:{f}#viewer@user:*")),
        (id(), id()).prop_map(|(f, g)| format!("folder:{f}#viewer@group:{g}#member")),
        (id(), id()).prop_map(|(f, g)| format!("folder:{f}#banned@group:{g}#member")),
        (id(), user()).prop_map(|(f, u)| format!("folder:{f}#banned@{u}")),
        (id(), id()).prop_map(|(d, f)| format!("doc:{d}#parent@folder:{f}")),
        (id(), user()).prop_map(|(d, u)| format!("doc:{d}#owner@{u}")),
        (id(), user()).prop_map(|(d, u)| format!("doc:{d}#reviewer@{u}")),
        (id(), id()).prop_map(|(d, g)| format!("doc:{d}#reviewer@group:{g}#member")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The reverse walk finds exactly what checking every object finds, for every type, permission and
    /// subject (plain users, wildcards' beneficiaries, subject sets), page by page, cycles included.
    #[test]
    fn lookup_resources_is_exactly_the_objects_check_allows(
        rels in prop::collection::vec(relationship_strategy(), 0..30),
        limit in 1usize..4,
    ) {
        let schema = parse_schema(WALK_SCHEMA).unwrap();
        let refs: Vec<&str> = rels.iter().map(String::as_str).collect();
        let m = crate::Memory::with(&refs);
        let engine = tessera_authz::Engine::new(&schema, &m);
        let ids = ["a", "b", "c", "d"];
        let mut subjects: Vec<String> = ids.iter().map(|i| format!("user:{i}")).collect();
        subjects.extend(ids.iter().map(|i| format!("group:{i}#member")));
        for (ty, perms) in [("doc", &["owner", "edit", "all_view", "read", "reviewer"][..]), ("folder", &["view", "viewer", "banned"][..]), ("group", &["member"][..])] {
            for perm in perms {
                for subject in &subjects {
                    let s: tessera_authz::SubjectRef = subject.parse().unwrap();
                    let expected: Vec<String> = ids
                        .iter()
                        .filter(|id| {
                            let o = tessera_authz::ObjectRef { object_type: ty.to_owned(), id: (**id).to_owned() };
                            crate::ready(engine.check(&o, perm, &s)).unwrap()
                        })
                        .map(|id| (**id).to_owned())
                        .collect();
                    let mut got = Vec::new();
                    let mut after: Option<String> = None;
                    loop {
                        let (page, next) = crate::ready(engine.lookup_resources(ty, perm, &s, after.as_deref(), limit)).unwrap();
                        got.extend(page);
                        match next { Some(c) => after = Some(c), None => break }
                    }
                    prop_assert_eq!(&got, &expected, "{}#{}@{}", ty, perm, subject);
                }
            }
        }
    }
}

/// Wildcards meet exclusions, intersections, subject sets and arrows here, so that lookup-subjects must
/// carry a wildcard's exclusions to agree with check.
const WILDCARD_SCHEMA: &str = "definition user {}
definition group {
    relation member: user | user:* | group#member
    relation banned: user | user:*
    permission active = member - banned
}
definition doc {
    relation parent: group
    relation viewer: user | user:* | group#member
    relation banned: user | user:* | group#member
    relation editor: user | user:*
    permission view = viewer - banned
    permission edit = viewer & editor
    permission either = (viewer + parent->active) - (banned & editor)
    permission every = parent.all(active)
}";

fn wildcard_relationship_strategy() -> impl Strategy<Value = String> {
    let id = || prop::sample::select(vec!["a", "b", "c"]);
    let user = || prop::sample::select(vec!["user:a", "user:b", "user:c", "user:*"]);
    let group = || prop::sample::select(vec!["g", "h"]);
    let doc = || prop::sample::select(vec!["1", "2"]);
    prop_oneof![
        (group(), user()).prop_map(|(g, u)| format!("group:{g}#member@{u}")),
        (group(), group()).prop_map(|(g, h)| format!("group:{g}#member@group:{h}#member")),
        (group(), user()).prop_map(|(g, u)| format!("group:{g}#banned@{u}")),
        (doc(), group()).prop_map(|(d, g)| format!("doc:{d}#parent@group:{g}")),
        (doc(), user()).prop_map(|(d, u)| format!("doc:{d}#viewer@{u}")),
        (doc(), group()).prop_map(|(d, g)| format!("doc:{d}#viewer@group:{g}#member")),
        (doc(), user()).prop_map(|(d, u)| format!("doc:{d}#banned@{u}")),
        (doc(), group()).prop_map(|(d, g)| format!("doc:{d}#banned@group:{g}#member")),
        (doc(), user()).prop_map(|(d, u)| format!("doc:{d}#editor@{u}")),
        (doc(), id()).prop_map(|(d, i)| format!("doc:{d}#editor@user:{i}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Lookup-subjects agrees with check for every subject: listed ids, the wildcard, the ids it
    /// excludes, and an id that appears in no relationship (which only a wildcard can reach).
    #[test]
    fn lookup_subjects_with_wildcard_exclusions_agrees_with_check(
        rels in prop::collection::vec(wildcard_relationship_strategy(), 0..24),
    ) {
        let schema = parse_schema(WILDCARD_SCHEMA).unwrap();
        let refs: Vec<&str> = rels.iter().map(String::as_str).collect();
        let m = crate::Memory::with(&refs);
        let engine = tessera_authz::Engine::new(&schema, &m);
        let questions = [
            ("doc:1", &["view", "edit", "either", "every", "viewer", "banned"][..]),
            ("doc:2", &["view", "either", "every"][..]),
            ("group:g", &["member", "active"][..]),
            ("group:h", &["active"][..]),
        ];
        for (resource, perms) in questions {
            let resource: tessera_authz::ObjectRef = resource.parse().unwrap();
            for perm in perms {
                let found = crate::ready(engine.lookup_subjects(&resource, perm, "user", None)).unwrap();
                let everyone = found.ids.first().map(String::as_str) == Some("*");
                prop_assert!(everyone || found.excluded.is_empty(), "{:?}", found);
                for id in ["a", "b", "c", "fresh", "*"] {
                    let subject: tessera_authz::SubjectRef = format!("user:{id}").parse().unwrap();
                    let allowed = crate::ready(engine.check(&resource, perm, &subject)).unwrap();
                    let listed = found.ids.iter().any(|x| x == id)
                        || (everyone && id != "*" && !found.excluded.iter().any(|x| x == id));
                    prop_assert_eq!(allowed, listed, "{}#{}@user:{} in {:?}", resource, perm, id, found);
                }
                let sets = crate::ready(engine.lookup_subjects(&resource, perm, "group", Some("member"))).unwrap();
                prop_assert!(sets.excluded.is_empty());
                for g in ["g", "h"] {
                    let subject: tessera_authz::SubjectRef = format!("group:{g}#member").parse().unwrap();
                    let allowed = crate::ready(engine.check(&resource, perm, &subject)).unwrap();
                    prop_assert_eq!(allowed, sets.ids.iter().any(|x| x == g), "{}#{}@group:{}#member", resource, perm, g);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Explain decides as check does (one evaluator, two kinds of evidence), and a grant to a user names
    /// the relationships that made it, ending at the user (or a wildcard of users).
    #[test]
    fn explain_agrees_with_check(rels in prop::collection::vec(relationship_strategy(), 0..30)) {
        let schema = parse_schema(WALK_SCHEMA).unwrap();
        let refs: Vec<&str> = rels.iter().map(String::as_str).collect();
        let m = crate::Memory::with(&refs);
        let engine = tessera_authz::Engine::new(&schema, &m);
        for (ty, perms) in [("doc", &["owner", "edit", "all_view", "read"][..]), ("folder", &["view", "banned"][..])] {
            for id in ["a", "b"] {
                let resource: tessera_authz::ObjectRef = format!("{ty}:{id}").parse().unwrap();
                for perm in perms {
                    for who in ["user:a", "user:c", "group:a#member"] {
                        let s: tessera_authz::SubjectRef = who.parse().unwrap();
                        let allowed = crate::ready(engine.check(&resource, perm, &s)).unwrap();
                        let why = crate::ready(engine.explain(&resource, perm, &s)).unwrap();
                        prop_assert_eq!(why.allowed, allowed, "{}#{}@{}: {:?}", resource, perm, who, why);
                        if allowed && who.starts_with("user:") {
                            let last = why.relationships.last().cloned().unwrap_or_default();
                            prop_assert!(last.ends_with(who) || last.ends_with("@user:*"), "{:?}", why);
                        }
                    }
                }
            }
        }
    }
}
