//! The discovery documents advertise what the model enforces (RFC 7643 §5–7).

use serde_json::Value;
use tessera_scim::discovery::{
    resource_types_list, schemas_list, service_provider_config, ServiceOptions,
};
use tessera_scim::{group_resource_type, user_resource_type};

use super::ENTERPRISE;

const BASE: &str = "https://id.example.com/scim/v2";

fn attr<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()
}

#[test]
fn schemas_document_describes_the_model() {
    let (user, group) = (user_resource_type(), group_resource_type());
    let list = schemas_list(BASE, &[&user, &group]);
    assert_eq!(list["totalResults"], 3);
    let schemas = list["Resources"].as_array().unwrap();
    let core = &schemas[0];
    assert_eq!(core["id"], "urn:ietf:params:scim:schemas:core:2.0:User");
    assert_eq!(
        core["meta"]["location"],
        format!("{BASE}/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
    );
    let user_name = attr(core, "userName");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(attr(core, "password")["returned"], "never");
    let groups = attr(core, "groups");
    assert_eq!(
        (
            groups["mutability"].as_str(),
            groups["multiValued"].as_bool()
        ),
        (Some("readOnly"), Some(true))
    );
    assert_eq!(groups["subAttributes"].as_array().unwrap().len(), 4);
    let emails = attr(core, "emails");
    let ty = emails["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "type")
        .unwrap();
    assert_eq!(
        ty["canonicalValues"],
        serde_json::json!(["work", "home", "other"])
    );
    assert_eq!(schemas[1]["id"], ENTERPRISE);
    assert!(attr(&schemas[1], "manager")["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "$ref"));
    let members = attr(&schemas[2], "members");
    assert!(members["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["mutability"] == "immutable"));
    // Common attributes are not in schema documents.
    assert!(core["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["name"] != "id"));
}

#[test]
fn resource_types_and_config() {
    let (user, group) = (user_resource_type(), group_resource_type());
    let list = resource_types_list(BASE, &[&user, &group]);
    let user_doc = &list["Resources"][0];
    assert_eq!(user_doc["endpoint"], "/Users");
    assert_eq!(user_doc["schemaExtensions"][0]["schema"], ENTERPRISE);
    assert_eq!(user_doc["schemaExtensions"][0]["required"], false);
    assert_eq!(
        list["Resources"][1]["schemaExtensions"],
        serde_json::json!([])
    );
    let spc = service_provider_config(
        BASE,
        &ServiceOptions {
            max_results: 200,
            documentation_uri: None,
            etag: false,
        },
    );
    assert_eq!(spc["etag"]["supported"], false);
    let with_etags = service_provider_config(
        BASE,
        &ServiceOptions {
            max_results: 200,
            documentation_uri: None,
            etag: true,
        },
    );
    assert_eq!(with_etags["etag"]["supported"], true);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["filter"]["maxResults"], 200);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert!(spc.get("documentationUri").is_none());
}
