//! Projection by `returned`, sorting and pagination (RFC 7644 §3.4.2.3–4, §3.9).

use serde_json::{json, Value};
use tessera_scim::list::list_response;
use tessera_scim::{user_resource_type, Page, Projection, ScimType, SortOrder, SortSpec};

use super::{bjensen, ENTERPRISE};

#[test]
fn default_projection_drops_never_and_keeps_always() {
    let rt = user_resource_type();
    let mut user = bjensen();
    user["password"] = json!("t1meMa$heen");
    let out = Projection::default().apply(&user, &rt);
    assert!(out.get("password").is_none());
    assert_eq!(out["userName"], "bjensen@example.com");
    assert_eq!(out[ENTERPRISE]["department"], "Tour Operations");
}

#[test]
fn attributes_and_excluded_attributes() {
    let rt = user_resource_type();
    let only = Projection::parse(Some("userName,name.givenName,emails.value"), None, &rt).unwrap();
    let out = only.apply(&bjensen(), &rt);
    assert_eq!(
        out,
        json!({"schemas": [super::USER], "id": "2819c223-7f76-453a-919d-413861904646",
               "userName": "bjensen@example.com", "name": {"givenName": "Barbara"},
               "emails": [{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}]})
    );
    let except = Projection::parse(
        None,
        Some(format!("emails,id,name.formatted,{ENTERPRISE}:manager").as_str()),
        &rt,
    )
    .unwrap();
    let out = except.apply(&bjensen(), &rt);
    assert!(out.get("emails").is_none());
    assert!(out.get("id").is_some(), "id is returned always");
    assert!(out["name"].get("formatted").is_none() && out["name"]["familyName"] == "Jensen");
    assert!(out[ENTERPRISE].get("manager").is_none());
    let e = Projection::parse(Some("shoeSize"), None, &rt).unwrap_err();
    assert_eq!(e.scim_type, ScimType::InvalidPath);
    assert!(Projection::parse(Some("userName"), Some("title"), &rt).is_err());
}

#[test]
fn sorting() {
    let rt = user_resource_type();
    let mut users: Vec<Value> = vec![
        json!({"userName": "carol", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
        json!({"userName": "Bob", "meta": {"created": "2011-05-13T06:00:00+02:00"}}),
        json!({"userName": "alice", "emails": [{"value": "m@x"}], "meta": {"created": "2011-05-13T05:00:00Z"}}),
    ];
    let by = |s: &str, o: Option<&str>| SortSpec::parse(s, o, &rt).unwrap();
    let names = |v: &[Value]| {
        v.iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let spec = by("userName", None);
    users.sort_by(|a, b| spec.compare(a, b));
    assert_eq!(names(&users), ["alice", "Bob", "carol"]);
    let spec = by("userName", Some("descending"));
    assert_eq!(spec.order, SortOrder::Descending);
    users.sort_by(|a, b| spec.compare(a, b));
    assert_eq!(names(&users), ["carol", "Bob", "alice"]);
    // Multi-valued: the primary value; resources without one last when ascending, first when descending.
    let spec = by("emails", None);
    users.sort_by(|a, b| spec.compare(a, b));
    assert_eq!(names(&users), ["carol", "alice", "Bob"]);
    let spec = by("emails.value", Some("DESCENDING"));
    users.sort_by(|a, b| spec.compare(a, b));
    assert_eq!(names(&users), ["Bob", "alice", "carol"]);
    // Date-times as instants: 06:00+02:00 is 04:00Z, before 05:00Z.
    let spec = by("meta.created", None);
    users.sort_by(|a, b| spec.compare(a, b));
    assert_eq!(names(&users), ["Bob", "alice", "carol"]);
    assert!(SortSpec::parse("password", None, &rt).is_err());
    assert!(SortSpec::parse("userName", Some("sideways"), &rt).is_err());
}

#[test]
fn pagination() {
    assert_eq!(
        Page::new(None, None, 100),
        Page {
            start_index: 1,
            count: 100
        }
    );
    assert_eq!(
        Page::new(Some(0), Some(-5), 100),
        Page {
            start_index: 1,
            count: 0
        }
    );
    assert_eq!(
        Page::new(Some(-7), Some(1000), 100),
        Page {
            start_index: 1,
            count: 100
        }
    );
    let items: Vec<u32> = (1..=10).collect();
    let p = Page::new(Some(9), Some(5), 100);
    assert_eq!(p.offset(), 8);
    assert_eq!(p.window(&items), [9, 10]);
    assert!(Page::new(Some(11), Some(5), 100).window(&items).is_empty());
    assert!(Page::new(Some(i64::MAX), Some(i64::MAX), u64::MAX)
        .window(&items)
        .is_empty());
    assert!(Page::parse(Some("x"), None, 10).is_err());
    assert_eq!(
        Page::parse(Some("3"), Some("2"), 10).unwrap(),
        Page {
            start_index: 3,
            count: 2
        }
    );
    let body = list_response(10, &p, vec![json!({"id": "9"}), json!({"id": "10"})]);
    assert_eq!(
        body,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 10,
               "startIndex": 9, "itemsPerPage": 2, "Resources": [{"id": "9"}, {"id": "10"}]})
    );
}

// Found by replaying list requests against scim2-server (tests/blackbox/scim_reference.test.mjs): resources
// without a sort value came last in descending order too, where RFC 7644 §3.4.2.3 orders them "last if
// ascending and first if descending".
#[test]
fn missing_sort_values_come_first_when_descending() {
    let rt = user_resource_type();
    let mut users: Vec<Value> = vec![
        json!({"userName": "a", "title": "Alpha"}),
        json!({"userName": "none"}),
        json!({"userName": "z", "title": "Zed"}),
    ];
    let names = |v: &[Value]| {
        v.iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let spec = SortSpec::parse("title", None, &rt).unwrap();
    users.sort_by(|a, b| spec.compare(a, b));
    assert_eq!(names(&users), ["a", "z", "none"]);
    let spec = SortSpec::parse("title", Some("descending"), &rt).unwrap();
    users.sort_by(|a, b| spec.compare(a, b));
    assert_eq!(names(&users), ["none", "z", "a"]);
}

// Found by replaying list requests against scim2-server: `attributes=userName` on a user with the Enterprise
// extension still listed the extension in `schemas`, which RFC 7643 §3 reserves for the schemas "that define
// the attributes present in the current JSON structure".
#[test]
fn projection_lists_only_the_schemas_still_present() {
    let rt = user_resource_type();
    let only = |attrs: &str| {
        Projection::parse(Some(attrs), None, &rt)
            .unwrap()
            .apply(&bjensen(), &rt)
    };
    assert_eq!(only("userName")["schemas"], json!([super::USER]));
    let with_ext = only(&format!("userName,{ENTERPRISE}:department"));
    assert_eq!(with_ext["schemas"], json!([super::USER, ENTERPRISE]));
    let except =
        Projection::parse(None, Some(&format!("{ENTERPRISE}:employeeNumber")), &rt).unwrap();
    assert_eq!(
        except.apply(&bjensen(), &rt)["schemas"],
        json!([super::USER, ENTERPRISE])
    );
    assert_eq!(
        Projection::default().apply(&bjensen(), &rt)["schemas"],
        json!([super::USER, ENTERPRISE])
    );
}
