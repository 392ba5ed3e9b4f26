//! Hostile and random input: errors, never panics, never a stack overflow.

use proptest::prelude::*;
use serde_json::json;
use tessera_scim::{apply_patch, compile_filter, parse_filter, parse_patch, user_resource_type};

use super::{bjensen, patch_body};

const WORDS: &[&str] = &[
    "userName",
    "emails",
    "emails.value",
    "name.familyName",
    "meta.lastModified",
    "active",
    "title",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "members",
    "type",
    "value",
    "eq",
    "ne",
    "co",
    "sw",
    "ew",
    "pr",
    "gt",
    "ge",
    "lt",
    "le",
    "and",
    "or",
    "not",
    "(",
    ")",
    "[",
    "]",
    "\"x\"",
    "\"",
    "\"2011-05-13T04:42:34Z\"",
    "true",
    "false",
    "null",
    "42",
    "-1.5e3",
    ".value",
    "\\",
    "é",
    " ",
];

fn tokens() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..40).prop_map(|w| w.join(" "))
}

proptest! {
    #[test]
    fn random_text_never_panics(text in ".{0,200}") {
        let _ = parse_filter(&text);
        let _ = parse_patch(&patch_body(json!([{"op": "replace", "path": text, "value": "x"}])));
    }

    #[test]
    fn random_token_soup_never_panics_and_evaluates(text in tokens()) {
        let rt = user_resource_type();
        if let Ok(f) = compile_filter(&text, &rt) {
            let _ = f.matches(&bjensen());
            let _ = f.pushdown();
        }
        if let Ok(req) = parse_patch(&patch_body(json!([{"op": "replace", "path": text, "value": "x"}]))) {
            let _ = apply_patch(&bjensen(), &req, &rt);
        }
    }
}

#[test]
fn deep_nesting_and_huge_strings_are_errors() {
    for text in [
        "(".repeat(100_000),
        "[".repeat(100_000),
        format!("emails[{}", "not (".repeat(50_000)),
        format!("userName eq \"{}", "a".repeat(1 << 20)),
        "\"".repeat(3),
        "userName eq \"unterminated".to_owned(),
        "userName eq \"\\ud800\"".to_owned(),
    ] {
        assert!(
            parse_filter(&text).is_err(),
            "{}",
            &text[..text.len().min(40)]
        );
    }
    let deep_path = format!(
        "emails[{}type eq \"x\"{}].value",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(parse_patch(&patch_body(
        json!([{"op": "replace", "path": deep_path, "value": "x"}])
    ))
    .is_err());
}

#[test]
fn unknown_attributes_are_errors() {
    let rt = user_resource_type();
    assert!(compile_filter("shoeSize pr", &rt).is_err());
    assert!(compile_filter("emails[shoeSize pr]", &rt).is_err());
    assert!(compile_filter("urn:example:Nope:userName pr", &rt).is_err());
    let req = parse_patch(&patch_body(
        json!([{"op": "add", "value": {"urn:example:Nope:x": 1}}]),
    ))
    .unwrap();
    assert!(apply_patch(&bjensen(), &req, &rt).is_err());
    // A resource that is not an object.
    let req = parse_patch(&patch_body(
        json!([{"op": "add", "path": "title", "value": "x"}]),
    ))
    .unwrap();
    assert!(apply_patch(&json!([1]), &req, &rt).is_err());
}
