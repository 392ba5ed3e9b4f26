//! The discovery documents (RFC 7644 §4, RFC 7643 §5–7): `/ServiceProviderConfig`, `/ResourceTypes` and
//! `/Schemas`, built from the same [`ResourceType`]s the filters and PATCH enforce, so what the origin
//! advertises is what it does. `base` is the SCIM base URL (`https://id.example.com/scim/v2`) used in
//! `meta.location`.

use serde_json::{json, Map, Value};

use crate::list::{list_response, Page};
use crate::schema::{Attribute, ResourceType, Schema};

pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// What the service supports beyond this crate's fixed features (PATCH, filter and sort: yes; bulk and
/// password change: no). ETags are the store's (this crate keeps no versions), so the shell says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOptions {
    /// The most resources a list returns (`filter.maxResults`, and [`Page::new`]'s `max_count`).
    pub max_results: u64,
    pub documentation_uri: Option<String>,
    /// Whether resources carry `meta.version`, answered as `ETag`, and `If-Match`/`If-None-Match` are
    /// honoured (RFC 7644 §3.14): `etag.supported`.
    pub etag: bool,
}

/// The `ServiceProviderConfig` document (RFC 7643 §5). Authentication is an OAuth bearer token.
#[must_use]
pub fn service_provider_config(base: &str, options: &ServiceOptions) -> Value {
    let mut doc = json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": options.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": options.etag},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with an OAuth 2.0 bearer token (RFC 6750)",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    });
    if let (Some(uri), Some(map)) = (&options.documentation_uri, doc.as_object_mut()) {
        map.insert("documentationUri".to_owned(), Value::String(uri.clone()));
    }
    doc
}

/// One `ResourceType` resource (RFC 7643 §6).
#[must_use]
pub fn resource_type_document(base: &str, rt: &ResourceType) -> Value {
    let extensions: Vec<Value> = rt
        .extensions
        .iter()
        .map(|e| json!({"schema": e.schema.id, "required": e.required}))
        .collect();
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": rt.id,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": extensions,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rt.id)},
    })
}

/// The `/ResourceTypes` list.
#[must_use]
pub fn resource_types_list(base: &str, types: &[&ResourceType]) -> Value {
    let docs: Vec<Value> = types
        .iter()
        .map(|rt| resource_type_document(base, rt))
        .collect();
    let total = docs.len() as u64;
    list_response(total, &Page::new(None, None, total), docs)
}

/// One `Schema` resource (RFC 7643 §7). Common attributes (`id`, `externalId`, `meta`) are not part of
/// any schema document, as in RFC 7643 §8.7.1.
#[must_use]
pub fn schema_document(base: &str, schema: &Schema) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute_document).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", schema.id)},
    })
}

/// The `/Schemas` list: every schema of `types`, each once.
#[must_use]
pub fn schemas_list(base: &str, types: &[&ResourceType]) -> Value {
    let mut seen: Vec<&str> = Vec::new();
    let mut docs = Vec::new();
    for schema in types
        .iter()
        .flat_map(|rt| core::iter::once(&rt.schema).chain(rt.extensions.iter().map(|e| &e.schema)))
    {
        if !seen.contains(&schema.id) {
            seen.push(schema.id);
            docs.push(schema_document(base, schema));
        }
    }
    let total = docs.len() as u64;
    list_response(total, &Page::new(None, None, total), docs)
}

fn attribute_document(a: &Attribute) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), a.name.into());
    m.insert("type".into(), a.ty.as_str().into());
    m.insert("multiValued".into(), a.multi_valued.into());
    m.insert("description".into(), a.description.into());
    m.insert("required".into(), a.required.into());
    m.insert("caseExact".into(), a.case_exact.into());
    m.insert("mutability".into(), a.mutability.as_str().into());
    m.insert("returned".into(), a.returned.as_str().into());
    m.insert("uniqueness".into(), a.uniqueness.as_str().into());
    if !a.canonical_values.is_empty() {
        m.insert("canonicalValues".into(), a.canonical_values.to_vec().into());
    }
    if !a.reference_types.is_empty() {
        m.insert("referenceTypes".into(), a.reference_types.to_vec().into());
    }
    if !a.sub_attributes.is_empty() {
        let subs: Vec<Value> = a.sub_attributes.iter().map(attribute_document).collect();
        m.insert("subAttributes".into(), subs.into());
    }
    Value::Object(m)
}
