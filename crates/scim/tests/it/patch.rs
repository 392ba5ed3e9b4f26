//! RFC 7644 §3.5.2.1–3: the section's examples on sample resources, and the rules around them —
//! mutability, types, `noTarget`, atomicity, `changed`.

use serde_json::json;
use tessera_scim::patch::PatchErrorKind;
use tessera_scim::{apply_patch, group_resource_type, parse_patch, user_resource_type, Correction};

use super::{bjensen, patch, patch_body, request, tour_guides, ENTERPRISE};

#[test]
fn add_members_appends_without_duplicates() {
    // §3.5.2.1, first example.
    let out = patch(
        &tour_guides(),
        &group_resource_type(),
        json!([{"op": "add", "path": "members", "value": [{
            "display": "Babs Jensen",
            "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
            "value": "2819c223-7f76-453a-919d-413861904646"
        }, {"value": "08e1d05d-121c-4561-8b96-473d93df9210", "display": "Joe"}]}]),
    );
    let members = out.resource["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{members:?}");
    assert_eq!(members[2]["value"], "08e1d05d-121c-4561-8b96-473d93df9210");
    assert!(out.changed);
}

#[test]
fn pathless_add_merges() {
    // §3.5.2.1, second example ("nickname" in the RFC's own spelling).
    let out = patch(
        &bjensen(),
        &user_resource_type(),
        json!([{"op": "add", "value": {
            "emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@new.org", "type": "other"}],
            "nickname": "Babs"
        }}]),
    );
    assert_eq!(out.resource["nickName"], "Babs");
    assert_eq!(out.resource["emails"].as_array().unwrap().len(), 3);
    assert!(out.corrections.is_empty());
}

#[test]
fn remove_one_member_by_filter_all_members_and_nothing() {
    let rt = group_resource_type();
    // §3.5.2.2 examples.
    let out = patch(
        &tour_guides(),
        &rt,
        json!([{"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]),
    );
    assert_eq!(out.resource["members"].as_array().unwrap().len(), 1);
    let out = patch(
        &tour_guides(),
        &rt,
        json!([{"op": "remove", "path": "members"}]),
    );
    assert!(out.resource.get("members").is_none());
    // Removing a member already gone changes nothing.
    let out = patch(
        &tour_guides(),
        &rt,
        json!([{"op": "remove", "path": "members[value eq \"nobody\"]"}]),
    );
    assert!(!out.changed);
}

#[test]
fn remove_then_add_replaces_members() {
    // §3.5.2.2: "remove all members of a group and add a new one" in one request.
    let out = patch(
        &tour_guides(),
        &group_resource_type(),
        json!([{"op": "remove", "path": "members"},
               {"op": "add", "path": "members", "value": [{"value": "2819c223", "display": "Babs"}]}]),
    );
    assert_eq!(
        out.resource["members"],
        json!([{"value": "2819c223", "display": "Babs"}])
    );
}

#[test]
fn remove_by_filter_on_emails_and_without_path() {
    let rt = user_resource_type();
    let out = patch(
        &bjensen(),
        &rt,
        json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
    );
    assert_eq!(
        out.resource["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}])
    );
    let e = parse_patch(&patch_body(json!([{"op": "remove"}]))).unwrap_err();
    assert_eq!(e.kind, PatchErrorKind::NoTarget);
    assert_eq!(tessera_scim::error_body(&e)["scimType"], "noTarget");
}

#[test]
fn replace_members_and_addresses() {
    // §3.5.2.3 examples.
    let out = patch(
        &tour_guides(),
        &group_resource_type(),
        json!([{"op": "replace", "path": "members", "value": [
            {"display": "Babs Jensen", "value": "2819c223-7f76-453a-919d-413861904646"},
            {"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}]}]),
    );
    assert_eq!(out.resource["members"][1]["display"], "James Smith");
    assert_eq!(out.resource["members"].as_array().unwrap().len(), 2);

    let rt = user_resource_type();
    let out = patch(
        &bjensen(),
        &rt,
        json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
            "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
            "region": "CA", "postalCode": "91608", "country": "US",
            "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true}}]),
    );
    let work = &out.resource["addresses"][0];
    assert_eq!(work["streetAddress"], "911 Universal City Plaza");
    assert_eq!(work["country"], "US");
    assert_eq!(
        out.resource["addresses"][1]["streetAddress"],
        "456 Hollywood Blvd"
    );

    let out = patch(
        &bjensen(),
        &rt,
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
    );
    assert_eq!(
        out.resource["addresses"][0]["streetAddress"],
        "1010 Broadway Ave"
    );
    assert_eq!(out.resource["addresses"][0]["locality"], "Hollywood");
}

#[test]
fn replace_email_value_by_filter_and_pathless_replace() {
    let rt = user_resource_type();
    let out = patch(
        &bjensen(),
        &rt,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "babs@example.com"}]),
    );
    assert_eq!(out.resource["emails"][0]["value"], "babs@example.com");
    assert_eq!(out.resource["emails"][1]["value"], "babs@jensen.org");
    // §3.5.2.3: path-less replace, each member replacing its attribute.
    let out = patch(
        &bjensen(),
        &rt,
        json!([{"op": "replace", "value": {
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "nickname": "Babs"}}]),
    );
    assert_eq!(out.resource["nickName"], "Babs");
    assert_eq!(out.resource["emails"].as_array().unwrap().len(), 2);
    // A complex attribute keeps the sub-attributes not given.
    let out = patch(
        &bjensen(),
        &rt,
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}]),
    );
    assert_eq!(out.resource["name"]["familyName"], "Jensen");
    assert_eq!(out.resource["name"]["givenName"], "Babs");
}

#[test]
fn replace_with_a_filter_that_matches_nothing_is_no_target() {
    let e = apply_patch(
        &bjensen(),
        &request(json!([{"op": "replace", "path": "emails[value co \"nowhere\"].type", "value": "other"}])),
        &user_resource_type(),
    )
    .unwrap_err();
    assert_eq!(e.kind, PatchErrorKind::NoTarget);
    assert_eq!(e.operation, Some(0));
}

#[test]
fn mutability_is_enforced() {
    let rt = user_resource_type();
    let err = |ops| {
        apply_patch(&bjensen(), &request(ops), &rt)
            .unwrap_err()
            .kind
    };
    assert_eq!(
        err(json!([{"op": "replace", "path": "id", "value": "x"}])),
        PatchErrorKind::Mutability
    );
    assert_eq!(
        err(json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}])),
        PatchErrorKind::Mutability
    );
    assert_eq!(
        err(json!([{"op": "remove", "path": "meta"}])),
        PatchErrorKind::Mutability
    );
    assert_eq!(
        err(
            json!([{"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}])
        ),
        PatchErrorKind::Mutability
    );
    // A read-only attribute "replaced" by its own value is no change (Okta sends the group's `id`).
    let out = patch(
        &bjensen(),
        &rt,
        json!([{"op": "replace", "value": {"id": "2819c223-7f76-453a-919d-413861904646"}}]),
    );
    assert!(!out.changed);
    // Immutable: a member's value cannot be edited in place.
    let e = apply_patch(
        &tour_guides(),
        &request(json!([{"op": "replace", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"].value", "value": "other"}])),
        &group_resource_type(),
    )
    .unwrap_err();
    assert_eq!(e.kind, PatchErrorKind::Mutability);
    // Required attributes cannot be removed.
    assert_eq!(
        err(json!([{"op": "remove", "path": "userName"}])),
        PatchErrorKind::Value
    );
}

#[test]
fn types_are_enforced() {
    let rt = user_resource_type();
    let err = |ops| {
        apply_patch(&bjensen(), &request(ops), &rt)
            .unwrap_err()
            .kind
    };
    assert_eq!(
        err(json!([{"op": "replace", "path": "active", "value": "maybe"}])),
        PatchErrorKind::Value
    );
    assert_eq!(
        err(json!([{"op": "replace", "path": "userName", "value": 7}])),
        PatchErrorKind::Value
    );
    assert_eq!(
        err(json!([{"op": "replace", "path": "name", "value": "Babs"}])),
        PatchErrorKind::Value
    );
    assert_eq!(
        err(json!([{"op": "add", "path": "emails", "value": [{"value": "x@y", "colour": "red"}]}])),
        PatchErrorKind::Value
    );
    assert_eq!(
        err(json!([{"op": "replace", "path": "shoeSize", "value": "9"}])),
        PatchErrorKind::Path
    );
    assert_eq!(
        err(json!([{"op": "replace", "path": "name.middle", "value": "J"}])),
        PatchErrorKind::Path
    );
    assert_eq!(
        err(json!([{"op": "replace", "path": "emails.value", "value": "x"}])),
        PatchErrorKind::Path
    );
    assert_eq!(
        err(json!([{"op": "replace", "value": {"shoeSize": "9"}}])),
        PatchErrorKind::Path
    );
}

#[test]
fn atomic_and_unchanged() {
    let rt = user_resource_type();
    let before = bjensen();
    // The second operation fails: nothing of the first is kept (the caller's value is untouched).
    let e = apply_patch(
        &before,
        &request(json!([{"op": "replace", "path": "title", "value": "Boss"},
                        {"op": "replace", "path": "id", "value": "x"}])),
        &rt,
    )
    .unwrap_err();
    assert_eq!(e.operation, Some(1));
    assert_eq!(before, bjensen());
    let out = patch(
        &before,
        &rt,
        json!([{"op": "replace", "path": "title", "value": "Tour Guide"}]),
    );
    assert!(!out.changed);
    let out = patch(
        &before,
        &rt,
        json!([{"op": "add", "path": "emails", "value": [{"value": "BJENSEN@example.com", "type": "work"}]}]),
    );
    assert!(!out.changed, "same email, other case: not added twice");
}

#[test]
fn extension_attributes_and_schemas() {
    let rt = user_resource_type();
    let mut plain = bjensen();
    plain.as_object_mut().unwrap().remove(ENTERPRISE);
    plain["schemas"] = json!([super::USER]);
    let out = patch(
        &plain,
        &rt,
        json!([{"op": "add", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]),
    );
    assert_eq!(out.resource[ENTERPRISE]["department"], "Sales");
    assert_eq!(out.resource["schemas"], json!([super::USER, ENTERPRISE]));
    let out = patch(
        &out.resource,
        &rt,
        json!([{"op": "remove", "path": ENTERPRISE}]),
    );
    assert!(out.resource.get(ENTERPRISE).is_none());
    assert_eq!(out.resource["schemas"], json!([super::USER]));
    // Manager's displayName is read-only: ignored inside a value, reported.
    let out = patch(
        &bjensen(),
        &rt,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": "m2", "displayName": "X"}}]),
    );
    assert_eq!(out.resource[ENTERPRISE]["manager"]["value"], "m2");
    assert_eq!(
        out.resource[ENTERPRISE]["manager"]["displayName"],
        "John Smith"
    );
    assert!(matches!(
        out.corrections[..],
        [Correction::ReadOnlyIgnored { .. }]
    ));
}

#[test]
fn primary_stays_unique() {
    let out = patch(
        &bjensen(),
        &user_resource_type(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "new@example.com", "type": "work", "primary": true}]}]),
    );
    let primaries = out.resource["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .count();
    assert_eq!(primaries, 1);
    assert_eq!(out.resource["emails"][2]["primary"], true);
}

#[test]
fn body_shape_errors() {
    let syntax = |body| parse_patch(&body).unwrap_err().kind;
    assert_eq!(syntax(json!({"Operations": []})), PatchErrorKind::Syntax);
    assert_eq!(syntax(patch_body(json!([]))), PatchErrorKind::Syntax);
    assert_eq!(
        syntax(patch_body(json!([{"op": "move", "path": "x"}]))),
        PatchErrorKind::Syntax
    );
    assert_eq!(
        syntax(patch_body(json!([{"op": "add", "path": "title"}]))),
        PatchErrorKind::Value
    );
    assert_eq!(
        syntax(patch_body(
            json!([{"op": "add", "path": "emails[type eq", "value": 1}])
        )),
        PatchErrorKind::Filter
    );
    assert_eq!(
        syntax(patch_body(
            json!([{"op": "add", "path": "emails]", "value": 1}])
        )),
        PatchErrorKind::Path
    );
    assert_eq!(syntax(json!([1, 2])), PatchErrorKind::Syntax);
}

#[test]
fn pathless_extension_and_core_urn_objects() {
    // The RFC's own form: an extension's attributes under its URN; core attributes under the core URN.
    let out = patch(
        &bjensen(),
        &user_resource_type(),
        json!([{"op": "replace", "value": {
            ENTERPRISE: {"department": "Sales", "costCenter": "4130"},
            "urn:ietf:params:scim:schemas:core:2.0:User": {"title": "Lead"}
        }}]),
    );
    assert_eq!(out.resource[ENTERPRISE]["department"], "Sales");
    assert_eq!(out.resource[ENTERPRISE]["costCenter"], "4130");
    assert_eq!(out.resource[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(out.resource["title"], "Lead");
    assert!(out.corrections.is_empty(), "{:?}", out.corrections);
}

#[test]
fn errors_have_the_rfc_body() {
    let e = apply_patch(
        &bjensen(),
        &request(json!([{"op": "replace", "path": "id", "value": "x"}])),
        &user_resource_type(),
    )
    .unwrap_err();
    let body = tessera_scim::error_body(&e);
    assert_eq!(body["status"], "400");
    assert_eq!(body["scimType"], "mutability");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("`id` is readOnly"));
}
