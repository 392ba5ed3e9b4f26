//! The core User schema (RFC 7643 §4.1, §8.7.1) and the Enterprise User extension (§4.3): the attributes
//! Tessera stores and enforces. `x509Certificates` is left out.

use super::{
    common_attributes, AttrType, Attribute, Extension, Mutability, ResourceType, Returned, Schema,
    Uniqueness,
};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The sub-attributes of a plural attribute (RFC 7643 §2.4): `value`, `display`, `type`, `primary`.
fn plural(
    name: &'static str,
    description: &'static str,
    value: Attribute,
    types: &'static [&'static str],
) -> Attribute {
    Attribute::complex(
        name,
        description,
        vec![
            value,
            Attribute::string(
                "display",
                "A human-readable name, primarily used for display purposes",
            ),
            Attribute::string("type", "A label indicating the attribute's function")
                .canonical(types),
            Attribute::new(
                "primary",
                AttrType::Boolean,
                "Whether this is the preferred value",
            ),
        ],
    )
    .multi()
}

/// The core User schema.
#[must_use]
pub fn user_schema() -> Schema {
    let s = Attribute::string;
    let value = |d| Attribute::string("value", d);
    Schema {
        id: USER_SCHEMA,
        name: "User",
        description: "User Account",
        attributes: vec![
            s(
                "userName",
                "Unique identifier for the User, used to authenticate",
            )
            .required()
            .uniqueness(Uniqueness::Server),
            Attribute::complex(
                "name",
                "The components of the user's real name",
                vec![
                    s("formatted", "The full name, formatted for display"),
                    s("familyName", "The family name of the User"),
                    s("givenName", "The given name of the User"),
                    s("middleName", "The middle name(s) of the User"),
                    s("honorificPrefix", "The honorific prefix(es) of the User"),
                    s("honorificSuffix", "The honorific suffix(es) of the User"),
                ],
            ),
            s(
                "displayName",
                "The name of the User, suitable for display to end-users",
            ),
            s("nickName", "The casual way to address the user"),
            Attribute::new(
                "profileUrl",
                AttrType::Reference,
                "A URI of the User's online profile",
            )
            .references(&["external"]),
            s("title", "The user's title, such as \"Vice President\""),
            s(
                "userType",
                "The relationship between the organization and the user",
            ),
            s(
                "preferredLanguage",
                "The User's preferred written or spoken language",
            ),
            s("locale", "The User's default location"),
            s(
                "timezone",
                "The User's time zone in the Olson time zone database format",
            ),
            Attribute::new(
                "active",
                AttrType::Boolean,
                "The User's administrative status",
            ),
            s("password", "The User's cleartext password, never returned")
                .mutability(Mutability::WriteOnly)
                .returned(Returned::Never),
            plural(
                "emails",
                "Email addresses for the user",
                value("Email address for the user"),
                &["work", "home", "other"],
            ),
            plural(
                "phoneNumbers",
                "Phone numbers for the User",
                value("Phone number of the User"),
                &["work", "home", "mobile", "fax", "pager", "other"],
            ),
            plural(
                "ims",
                "Instant messaging addresses for the User",
                value("Instant messaging address for the User"),
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            ),
            plural(
                "photos",
                "URLs of photos of the User",
                Attribute::new("value", AttrType::Reference, "URL of a photo of the User")
                    .references(&["external"]),
                &["photo", "thumbnail"],
            ),
            Attribute::complex(
                "addresses",
                "A physical mailing address for this User",
                vec![
                    s(
                        "formatted",
                        "The full mailing address, formatted for display",
                    ),
                    s("streetAddress", "The full street address component"),
                    s("locality", "The city or locality component"),
                    s("region", "The state or region component"),
                    s("postalCode", "The zip code or postal code component"),
                    s("country", "The country name component"),
                    s("type", "A label indicating the attribute's function")
                        .canonical(&["work", "home", "other"]),
                    Attribute::new(
                        "primary",
                        AttrType::Boolean,
                        "Whether this is the preferred address",
                    ),
                ],
            )
            .multi(),
            Attribute::complex(
                "groups",
                "Groups to which the user belongs, managed through the Group resources",
                vec![
                    value("The identifier of the User's group").mutability(Mutability::ReadOnly),
                    Attribute::new("$ref", AttrType::Reference, "The URI of the Group")
                        .references(&["User", "Group"])
                        .mutability(Mutability::ReadOnly),
                    s("display", "A human-readable name of the group")
                        .mutability(Mutability::ReadOnly),
                    s("type", "How the membership was derived")
                        .canonical(&["direct", "indirect"])
                        .mutability(Mutability::ReadOnly),
                ],
            )
            .multi()
            .mutability(Mutability::ReadOnly),
            plural(
                "entitlements",
                "Entitlements for the User",
                value("The value of an entitlement"),
                &[],
            ),
            plural(
                "roles",
                "Roles for the User",
                value("The value of a role"),
                &[],
            ),
        ],
    }
}

/// The Enterprise User extension.
#[must_use]
pub fn enterprise_user_schema() -> Schema {
    let s = Attribute::string;
    Schema {
        id: ENTERPRISE_USER_SCHEMA,
        name: "EnterpriseUser",
        description: "Enterprise User",
        attributes: vec![
            s(
                "employeeNumber",
                "Numeric or alphanumeric identifier assigned to a person",
            ),
            s("costCenter", "Identifies the name of a cost center"),
            s("organization", "Identifies the name of an organization"),
            s("division", "Identifies the name of a division"),
            s("department", "Identifies the name of a department"),
            Attribute::complex(
                "manager",
                "The User's manager",
                vec![
                    s(
                        "value",
                        "The id of the SCIM resource representing the User's manager",
                    ),
                    Attribute::new("$ref", AttrType::Reference, "The URI of the manager's User")
                        .references(&["User"]),
                    s("displayName", "The displayName of the User's manager")
                        .mutability(Mutability::ReadOnly),
                ],
            ),
        ],
    }
}

/// The `User` resource type, with the Enterprise User extension (optional).
#[must_use]
pub fn user_resource_type() -> ResourceType {
    ResourceType {
        id: "User",
        name: "User",
        endpoint: "/Users",
        description: "User Account",
        schema: user_schema(),
        extensions: vec![Extension {
            schema: enterprise_user_schema(),
            required: false,
        }],
        common: common_attributes(),
    }
}
