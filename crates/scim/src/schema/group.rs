//! The core Group schema (RFC 7643 §4.2, §8.7.1). Members' sub-attributes are immutable: a member is
//! added or removed, never edited in place (`display` too, which RFC 7644 §3.5.2.1's example sends).

use super::{common_attributes, AttrType, Attribute, Mutability, ResourceType, Schema};

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The core Group schema.
#[must_use]
pub fn group_schema() -> Schema {
    let imm = |a: Attribute| a.mutability(Mutability::Immutable);
    Schema {
        id: GROUP_SCHEMA,
        name: "Group",
        description: "Group",
        attributes: vec![
            Attribute::string("displayName", "A human-readable name for the Group").required(),
            Attribute::complex(
                "members",
                "A list of members of the Group",
                vec![
                    imm(Attribute::string(
                        "value",
                        "Identifier of the member of this Group",
                    )),
                    imm(Attribute::new(
                        "$ref",
                        AttrType::Reference,
                        "The URI of the member",
                    ))
                    .references(&["User", "Group"]),
                    imm(Attribute::string("type", "The type of the member")
                        .canonical(&["User", "Group"])),
                    imm(Attribute::string(
                        "display",
                        "A human-readable name of the member",
                    )),
                ],
            )
            .multi(),
        ],
    }
}

/// The `Group` resource type (no extensions).
#[must_use]
pub fn group_resource_type() -> ResourceType {
    ResourceType {
        id: "Group",
        name: "Group",
        endpoint: "/Groups",
        description: "Group",
        schema: group_schema(),
        extensions: Vec::new(),
        common: common_attributes(),
    }
}
