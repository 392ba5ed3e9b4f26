//! `plan_group_patch`: a Group PATCH as member changes, folded in order, never needing the members.

use serde_json::{json, Value};
use tessera_scim::patch::PatchErrorKind;
use tessera_scim::{apply_patch, group_resource_type, plan_group_patch, MemberChanges};

use super::{request, tour_guides};

fn plan(ops: Value) -> tessera_scim::GroupPatchPlan {
    plan_group_patch(&request(ops), &group_resource_type()).unwrap()
}

#[test]
fn operations_fold_in_order() {
    let p = plan(json!([
        {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
        {"op": "remove", "path": "members[value eq \"a\" or value eq \"c\"]"},
        {"op": "add", "path": "members", "value": [{"value": "c"}]}
    ]));
    assert_eq!(
        p.members,
        MemberChanges {
            add: vec!["b".into(), "c".into()],
            remove: vec!["a".into()],
            replace_all: None
        }
    );
    let p = plan(json!([
        {"op": "add", "path": "members", "value": [{"value": "a"}]},
        {"op": "replace", "path": "members", "value": [{"value": "x"}, {"value": "y"}, {"value": "x"}]},
        {"op": "remove", "path": "members[value eq \"y\"]"},
        {"op": "add", "path": "members", "value": [{"value": "z"}]}
    ]));
    assert_eq!(
        p.members.replace_all,
        Some(vec!["x".to_owned(), "z".to_owned()])
    );
    assert!(p.members.add.is_empty() && p.members.remove.is_empty());
    let p = plan(json!([{"op": "remove", "path": "members"}]));
    assert_eq!(p.members.replace_all, Some(vec![]));
}

#[test]
fn pathless_values_are_split() {
    let p = plan(
        json!([{"op": "replace", "value": {"displayName": "Ops", "members": [{"value": "a"}]}}]),
    );
    assert_eq!(p.members.replace_all, Some(vec!["a".to_owned()]));
    assert_eq!(p.other.operations.len(), 1);
    assert_eq!(
        p.other.operations[0].value,
        Some(json!({"displayName": "Ops"}))
    );
    // The rest applies to the group without its members.
    let mut bare = tour_guides();
    bare.as_object_mut().unwrap().remove("members");
    let out = apply_patch(&bare, &p.other, &group_resource_type()).unwrap();
    assert_eq!(out.resource["displayName"], "Ops");
    assert!(out.resource.get("members").is_none());
}

#[test]
fn ten_thousand_members_without_loading_them() {
    let ids: Vec<Value> = (0..10_000)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    let p = plan(json!([{"op": "add", "path": "members", "value": ids}]));
    assert_eq!(p.members.add.len(), 10_000);
}

#[test]
fn what_needs_the_members_is_refused() {
    let rt = group_resource_type();
    for ops in [
        json!([{"op": "remove", "path": "members[display co \"Babs\"]"}]),
        json!([{"op": "replace", "path": "members[value eq \"a\"].display", "value": "x"}]),
        json!([{"op": "add", "path": "members[value eq \"a\"]", "value": {"value": "a"}}]),
    ] {
        let e = plan_group_patch(&request(ops.clone()), &rt).unwrap_err();
        assert_eq!(e.kind, PatchErrorKind::Path, "{ops}");
    }
    let e = plan_group_patch(
        &request(json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}])),
        &rt,
    )
    .unwrap_err();
    assert_eq!(e.kind, PatchErrorKind::Value);
}
