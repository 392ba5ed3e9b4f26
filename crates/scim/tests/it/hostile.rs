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

#[test]
fn a_multi_valued_attribute_holds_a_bounded_number_of_values_and_adding_many_stays_cheap() {
    use tessera_scim::{apply_patch, parse_patch, user_resource_type};
    let rt = user_resource_type();
    let user = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann"});
    let emails = |n: usize, from: usize| -> Vec<serde_json::Value> {
        (from..from + n)
            .map(|i| serde_json::json!({"value": format!("a{i}@example.com"), "type": "work"}))
            .collect()
    };
    let add = |values: Vec<serde_json::Value>| {
        parse_patch(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "emails", "value": values}]
        }))
        .unwrap()
    };
    // 1,000 distinct values fit; adding the same ones again (in another case) changes nothing.
    let full = apply_patch(&user, &add(emails(1_000, 0)), &rt).unwrap();
    assert_eq!(full.resource["emails"].as_array().unwrap().len(), 1_000);
    let upper: Vec<serde_json::Value> = emails(1_000, 0)
        .into_iter()
        .map(|mut e| {
            e["value"] = serde_json::Value::String(e["value"].as_str().unwrap().to_uppercase());
            e
        })
        .collect();
    let again = apply_patch(&full.resource, &add(upper), &rt).unwrap();
    assert!(!again.changed);
    // One more is refused, as a bad value, and nothing of the PATCH applies.
    let e = apply_patch(&full.resource, &add(emails(1, 5_000)), &rt).unwrap_err();
    assert_eq!(e.kind, tessera_scim::patch::PatchErrorKind::Value);
    assert!(e.to_string().contains("at most 1000 values"), "{e}");
}

#[test]
fn a_patch_carries_at_most_a_thousand_operations() {
    let op = serde_json::json!({"op": "replace", "path": "displayName", "value": "x"});
    let body = |n: usize| {
        serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": vec![op.clone(); n]
        })
    };
    assert!(tessera_scim::parse_patch(&body(1_000)).is_ok());
    assert!(tessera_scim::parse_patch(&body(1_001)).is_err());
}
