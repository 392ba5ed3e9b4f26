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
