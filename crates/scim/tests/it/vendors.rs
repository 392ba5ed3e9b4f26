//! Requests as Microsoft Entra ID and Okta document sending them (Entra ID: "Tutorial: Develop and plan
//! provisioning for a SCIM endpoint" and its known-issues page; Okta: "SCIM 2.0 protocol reference"),
//! accepted with the corrections reported.

use serde_json::json;
use tessera_scim::{group_resource_type, plan_group_patch, user_resource_type, Correction};

use super::{bjensen, patch, request, tour_guides, ENTERPRISE};

#[test]
fn entra_update_user_capitalised_ops_and_filtered_email() {
    let out = patch(
        &bjensen(),
        &user_resource_type(),
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
               {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}]),
    );
    assert_eq!(
        out.resource["emails"][0]["value"],
        "updatedEmail@microsoft.com"
    );
    assert_eq!(out.resource["name"]["familyName"], "updatedFamilyName");
    let codes: Vec<&str> = out.corrections.iter().map(Correction::code).collect();
    assert_eq!(codes, ["scim_op_name_case", "scim_op_name_case"]);
}

#[test]
fn entra_disable_user_with_string_boolean_and_pathless_dotted_keys() {
    let out = patch(
        &bjensen(),
        &user_resource_type(),
        json!([{"op": "Replace", "value": {
            "active": "False",
            "name.givenName": "Barb",
            format!("{ENTERPRISE}:department"): "Sales",
            "urn:ietf:params:scim:schemas:core:2.0:User:title": "Lead"
        }}]),
    );
    assert_eq!(out.resource["active"], false);
    assert_eq!(out.resource["name"]["givenName"], "Barb");
    assert_eq!(out.resource["name"]["familyName"], "Jensen");
    assert_eq!(out.resource[ENTERPRISE]["department"], "Sales");
    assert_eq!(out.resource["title"], "Lead");
    assert!(out.corrections.contains(&Correction::BooleanAsString {
        operation: 0,
        path: "active".into(),
        given: "False".into()
    }));
    let keys = out
        .corrections
        .iter()
        .filter(|c| matches!(c, Correction::PathAsValueKey { .. }))
        .count();
    assert_eq!(keys, 3);
}

#[test]
fn entra_add_phone_by_filter_creates_it_and_manager_as_id() {
    let out = patch(
        &bjensen(),
        &user_resource_type(),
        json!([{"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0100"},
               {"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": "f6f1b3a0"}]),
    );
    assert_eq!(
        out.resource["phoneNumbers"],
        json!([{"type": "work", "value": "+1 555 0100"}])
    );
    assert_eq!(out.resource[ENTERPRISE]["manager"]["value"], "f6f1b3a0");
    assert!(out
        .corrections
        .iter()
        .any(|c| matches!(c, Correction::CreatedFromFilter { .. })));
    assert!(out
        .corrections
        .iter()
        .any(|c| matches!(c, Correction::BareComplexValue { .. })));
}

#[test]
fn entra_group_members_add_and_remove_with_value_arrays() {
    let rt = group_resource_type();
    let out = patch(
        &tour_guides(),
        &rt,
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]),
    );
    assert_eq!(
        out.resource["members"][2],
        json!({"value": "f648f8d5ea4e4cd38e9c"})
    );
    let out = patch(
        &out.resource,
        &rt,
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]),
    );
    assert_eq!(out.resource["members"], tour_guides()["members"]);
    assert!(out
        .corrections
        .iter()
        .any(|c| matches!(c, Correction::RemoveByValue { .. })));
    // The same request planned without loading members.
    let plan = plan_group_patch(
        &request(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648"}]},
                        {"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474"}])),
        &rt,
    )
    .unwrap();
    assert_eq!(plan.members.remove, ["f648"]);
    assert_eq!(plan.other.operations.len(), 1);
}

#[test]
fn okta_deactivate_and_group_rename_with_id() {
    let out = patch(
        &bjensen(),
        &user_resource_type(),
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    assert_eq!(out.resource["active"], false);
    assert!(out.changed && out.corrections.is_empty());
    let out = patch(
        &tour_guides(),
        &group_resource_type(),
        json!([{"op": "replace", "value": {"id": "e9e30dba-f08f-4109-8486-d5c6a331660a", "displayName": "Test SCIMv2"}}]),
    );
    assert_eq!(out.resource["displayName"], "Test SCIMv2");
}

#[test]
fn okta_group_members_add_and_remove_by_filter() {
    let rt = group_resource_type();
    let plan = plan_group_patch(
        &request(json!([{"op": "add", "path": "members", "value": [
            {"value": "23a35c27-23d3-4c03-b4c5-6443c09e7173", "display": "test.user@okta.local"}]}])),
        &rt,
    )
    .unwrap();
    assert_eq!(plan.members.add, ["23a35c27-23d3-4c03-b4c5-6443c09e7173"]);
    assert!(plan.other.operations.is_empty() && plan.members.replace_all.is_none());
    let plan = plan_group_patch(
        &request(json!([{"op": "remove", "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"}])),
        &rt,
    )
    .unwrap();
    assert_eq!(
        plan.members.remove,
        ["89bb1940-b905-4575-9e7f-6f887cfb368e"]
    );
}
