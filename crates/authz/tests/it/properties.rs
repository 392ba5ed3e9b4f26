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
