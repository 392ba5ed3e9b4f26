//! Relationship syntax and validation against a schema.

use tessera_authz::{parse_schema, Relationship, RelationshipError};

const SCHEMA: &str = "definition user {}
definition group { relation member: user | group#member }
definition doc {
    relation viewer: user | user:* | group#member
    relation owner: user
    permission view = viewer + owner
}";

#[test]
fn round_trips_and_validates() {
    let s = parse_schema(SCHEMA).unwrap();
    for text in [
        "doc:1#viewer@user:alice",
        "doc:1#viewer@user:*",
        "doc:1#viewer@group:eng#member",
        "group:eng#member@group:ops#member",
    ] {
        let r: Relationship = text.parse().unwrap();
        assert_eq!(r.to_string(), text);
        assert_eq!(r.validate(&s), Ok(()), "{text}");
    }
    let r: Relationship = "doc:1#viewer@user:alice#...".parse().unwrap();
    assert_eq!(r.to_string(), "doc:1#viewer@user:alice");
}

#[test]
fn refuses_what_the_schema_does_not_allow() {
    let s = parse_schema(SCHEMA).unwrap();
    let check = |text: &str| {
        text.parse::<Relationship>()
            .unwrap()
            .validate(&s)
            .unwrap_err()
    };
    assert_eq!(
        check("doc:1#view@user:alice").code(),
        "not_a_relation",
        "permissions cannot be written"
    );
    assert_eq!(check("doc:1#editor@user:alice").code(), "not_a_relation");
    assert_eq!(check("page:1#viewer@user:alice").code(), "unknown_type");
    assert_eq!(check("doc:1#viewer@robot:r2").code(), "unknown_type");
    assert_eq!(check("doc:1#owner@user:*").code(), "subject_not_allowed");
    assert_eq!(
        check("doc:1#owner@group:eng#member").code(),
        "subject_not_allowed"
    );
    assert_eq!(
        check("doc:1#viewer@group:eng").code(),
        "subject_not_allowed"
    );
}

#[test]
fn ids_cannot_make_the_text_form_ambiguous() {
    // Regression: `@` was accepted in ids, so `doc:a@b#viewer@user:x` split at the wrong `@`.
    for text in [
        "doc:a@b#viewer@user:x",
        "doc:a#viewer@user:x@y",
        "doc:a.b#viewer@user:x",
    ] {
        assert!(text.parse::<Relationship>().is_err(), "{text}");
    }
}

#[test]
fn syntax_errors() {
    for text in [
        "doc:1#viewer",
        "doc:1@user:a",
        "doc#viewer@user:a",
        "doc:#viewer@user:a",
        "d-c:1#viewer@user:a",
        "doc:1#viewer@user:a b",
        "doc:*#viewer@user:a",
        "doc:1#viewer@user:*#member",
    ] {
        let e = text.parse::<Relationship>().unwrap_err();
        assert!(matches!(e, RelationshipError::Syntax(_)), "{text}: {e}");
    }
}
