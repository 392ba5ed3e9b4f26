//! OpenFGA model import (JSON, schema 1.1) and the relation-with-rewrite extension it maps onto.

use serde_json::json;
use tessera_authz::openfga::ImportErrorKind;
use tessera_authz::{openfga_to_schema, parse_schema, Engine, ObjectRef, SubjectRef};

use crate::{ready, Memory};

fn this() -> serde_json::Value {
    json!({"this": {}})
}

fn cu(r: &str) -> serde_json::Value {
    json!({"computedUserset": {"relation": r}})
}

fn types(list: &[serde_json::Value]) -> serde_json::Value {
    json!({"directly_related_user_types": list})
}

/// `type user`, `type group` (member: [user, group#member]), and a document with one relation of each
/// kind: direct, computed, mixed, tuple-to-userset, intersection and difference with `this` inside.
fn model() -> serde_json::Value {
    json!({
      "schema_version": "1.1",
      "type_definitions": [
        {"type": "user", "relations": {}, "metadata": null},
        {"type": "group",
         "relations": {"member": this()},
         "metadata": {"relations": {"member": types(&[json!({"type": "user"}), json!({"type": "group", "relation": "member"})])}}},
        {"type": "folder",
         "relations": {"viewer": this()},
         "metadata": {"relations": {"viewer": types(&[json!({"type": "user"}), json!({"type": "user", "wildcard": {}})])}}},
        {"type": "document",
         "relations": {
           "parent": this(),
           "owner": this(),
           "blocked": this(),
           "editor": {"union": {"child": [this(), cu("owner")]}},
           "viewer": {"union": {"child": [this(), cu("editor"),
                       {"tupleToUserset": {"tupleset": {"relation": "parent"}, "computedUserset": {"relation": "viewer"}}}]}},
           "can_view": {"difference": {"base": cu("viewer"), "subtract": cu("blocked")}},
           "approver": {"intersection": {"child": [this(), cu("editor")]}}
         },
         "metadata": {"relations": {
           "parent": types(&[json!({"type": "folder"})]),
           "owner": types(&[json!({"type": "user"})]),
           "blocked": types(&[json!({"type": "user"})]),
           "editor": types(&[json!({"type": "user"}), json!({"type": "group", "relation": "member"})]),
           "viewer": types(&[json!({"type": "user"})]),
           "can_view": types(&[]),
           "approver": types(&[json!({"type": "user"})])
         }}}
      ]
    })
}

#[test]
fn maps_every_kind_of_relation() {
    let text = openfga_to_schema(&model().to_string()).unwrap();
    for line in [
        "definition user {}",
        "relation member: user | group#member",
        "relation viewer: user | user:*",
        "relation parent: folder",
        "relation editor: user | group#member = (this + owner)",
        "relation viewer: user = (this + editor + parent->viewer)",
        "permission can_view = (viewer - blocked)",
        "relation approver: user = (this & editor)",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    // the wrapped form the OpenFGA API returns is accepted too
    let wrapped = json!({"id": "01H", "authorization_model": model()}).to_string();
    assert_eq!(openfga_to_schema(&wrapped).unwrap(), text);
}

#[test]
fn imported_models_answer_like_openfga() {
    let schema = parse_schema(&openfga_to_schema(&model().to_string()).unwrap()).unwrap();
    let m = Memory::with(&[
        "document:d#owner@user:olga",
        "document:d#editor@group:g#member",
        "group:g#member@user:gus",
        "document:d#viewer@user:vic",
        "document:d#parent@folder:f",
        "folder:f#viewer@user:*",
        "document:d#blocked@user:bob",
        "document:d#approver@user:gus",
        "document:d#approver@user:vic",
    ]);
    let engine = Engine::new(&schema, &m);
    let check = |perm: &str, user: &str| {
        ready(engine.check(
            &"document:d".parse::<ObjectRef>().unwrap(),
            perm,
            &user.parse::<SubjectRef>().unwrap(),
        ))
        .unwrap()
    };
    assert!(check("editor", "user:olga"), "owner implies editor");
    assert!(check("editor", "user:gus"), "stored editor via a group");
    assert!(!check("editor", "user:vic"));
    assert!(check("viewer", "user:vic"), "stored viewer (`this`)");
    assert!(check("viewer", "user:olga"), "editor implies viewer");
    assert!(
        check("viewer", "user:anyone"),
        "folder viewer wildcard via parent"
    );
    assert!(!check("can_view", "user:bob"), "blocked");
    assert!(check("can_view", "user:anyone"));
    assert!(
        check("approver", "user:gus"),
        "stored approver who is an editor"
    );
    assert!(
        !check("approver", "user:vic"),
        "stored approver who is not an editor"
    );
    assert!(
        !check("approver", "user:olga"),
        "an editor who is not a stored approver"
    );
}

#[test]
fn refuses_what_it_cannot_map() {
    let kind = |v: serde_json::Value| openfga_to_schema(&v.to_string()).unwrap_err();
    let e = openfga_to_schema("{").unwrap_err();
    assert_eq!(
        (e.kind, e.code().as_str()),
        (ImportErrorKind::Malformed, "model_malformed")
    );
    let mut m = model();
    m["schema_version"] = json!("1.0");
    assert_eq!(kind(m).kind, ImportErrorKind::Unsupported);
    // A condition whose expression reads an undeclared parameter, a `with` naming no condition, and a
    // parameter type the caveats lack.
    let mut m = model();
    m["conditions"] = json!({"in_range": {"name": "in_range", "expression": "x < 3"}});
    let e = kind(m);
    assert_eq!(e.kind, ImportErrorKind::Invalid, "{e}");
    assert!(e.message.contains("undeclared reference to `x`"), "{e}");
    let mut m = model();
    m["type_definitions"][1]["metadata"]["relations"]["member"]["directly_related_user_types"][0]
        ["condition"] = json!("in_range");
    let e = kind(m);
    assert_eq!(e.kind, ImportErrorKind::Invalid);
    assert!(
        e.message.contains("caveat `in_range` is not defined"),
        "{e}"
    );
    let mut m = model();
    m["conditions"] = json!({"c": {"name": "c", "expression": "true",
        "parameters": {"x": {"type_name": "TYPE_NAME_PROTO"}}}});
    let e = kind(m);
    assert_eq!(
        (e.kind, e.path.as_str()),
        (
            ImportErrorKind::Unsupported,
            "conditions.c.parameters.x.type_name"
        )
    );
    let mut m = model();
    m["type_definitions"][3]["relations"]["viewer"] =
        json!({"union": {"child": [this(), cu("nope")]}});
    let e = kind(m);
    assert_eq!(e.kind, ImportErrorKind::Invalid);
    assert!(e.message.contains("nope"), "{e}");
    let mut m = model();
    m["type_definitions"][0]["type"] = json!("us-er");
    assert_eq!(kind(m).kind, ImportErrorKind::Invalid);
    let mut m = model();
    m["type_definitions"][3]["relations"]["owner"] = json!({"sideways": {}});
    let e = kind(m);
    assert_eq!(e.kind, ImportErrorKind::Malformed);
    assert!(e.message.contains("sideways"), "{e}");
    let mut m = model();
    m["type_definitions"][3]["metadata"]["relations"]["owner"] = types(&[]);
    assert_eq!(
        kind(m).kind,
        ImportErrorKind::Invalid,
        "`this` with no types"
    );
}

#[test]
fn rewrite_extension_rules() {
    let ok = parse_schema(
        "definition user {}\ndefinition d {\n relation a: user\n relation v: user = this + a\n}",
    );
    assert!(ok.is_ok(), "{ok:?}");
    let e = parse_schema(
        "definition user {}\ndefinition d {\n relation a: user\n permission p = this + a\n}",
    )
    .unwrap_err();
    assert!(e.to_string().contains("`this` may only appear"), "{e}");
    let e = parse_schema(
        "definition user {}\ndefinition d {\n relation p: d = this\n permission x = p->p\n}",
    )
    .unwrap_err();
    assert!(e.to_string().contains("without a rewrite"), "{e}");
    let e = parse_schema("definition user {}\ndefinition d {\n relation v: user = this + nope\n}")
        .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

/// Conditions become caveats: the same parameters and expression, `[user with c]` as `user with c`.
#[test]
fn conditions_import_as_caveats() {
    use tessera_authz::schema::CaveatType;
    use tessera_authz::{Engine, Permissionship};
    let mut m = model();
    m["conditions"] = json!({"in_range": {
        "name": "in_range",
        "expression": "x < limit && tags.exists(t, t == 'ok')",
        "parameters": {
            "x": {"type_name": "TYPE_NAME_INT"},
            "limit": {"type_name": "TYPE_NAME_INT"},
            "tags": {"type_name": "TYPE_NAME_LIST", "generic_types": [{"type_name": "TYPE_NAME_STRING"}]},
        },
    }});
    m["type_definitions"][1]["metadata"]["relations"]["member"]["directly_related_user_types"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "condition": "in_range"}));
    let text = openfga_to_schema(&m.to_string()).unwrap();
    let schema = tessera_authz::parse_schema(&text).unwrap();
    let caveat = &schema.caveats["in_range"];
    assert_eq!(
        caveat.params["tags"],
        CaveatType::List(Box::new(CaveatType::String))
    );
    assert!(
        caveat.strict,
        "OpenFGA evaluates a condition only with all its parameters"
    );
    let member = &schema.definitions["group"].relations["member"];
    assert_eq!(member.caveated.len(), 1, "{text}");
    let store = crate::Memory::with_caveats(&[r#"group:g#member@user:ann[in_range:{"limit":10}]"#]);
    let engine = Engine::new(&schema, &store);
    let ask = |ctx: &str| {
        crate::ready(engine.check_with_context(
            &"group:g".parse().unwrap(),
            "member",
            &"user:ann".parse().unwrap(),
            &serde_json::from_str(ctx).unwrap(),
        ))
        .unwrap()
    };
    assert_eq!(ask(r#"{"x": 3, "tags": ["ok"]}"#), Permissionship::Has);
    assert_eq!(ask(r#"{"x": 30, "tags": ["ok"]}"#), Permissionship::No);
    assert_eq!(
        ask(r#"{"x": 3}"#),
        Permissionship::Conditional(["tags".to_owned()].into())
    );
}

/// Review finding: a condition's expression went into the schema text as written, so one that closed
/// its braces early could smuggle definitions or caveats in. It must come back as exactly itself.
#[test]
fn a_condition_cannot_smuggle_schema_text() {
    let mut m = model();
    m["conditions"] = json!({"c": {"name": "c",
        "expression": "x > 0 } caveat evil(y int) { y > 0",
        "parameters": {"x": {"type_name": "TYPE_NAME_INT"}}}});
    let e = openfga_to_schema(&m.to_string()).unwrap_err();
    assert_eq!(e.kind, ImportErrorKind::Invalid, "{e}");
}
