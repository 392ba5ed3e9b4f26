//! The schema model (RFC 7643 §2 and §7): attributes and their characteristics, schemas, resource types,
//! and the lookups every other stage makes — an attribute path (`urn:...:User:name.givenName`) resolved
//! to where it lives in a resource's JSON and what rules it follows. Attribute names are matched
//! case-insensitively (RFC 7643 §2.1). The built-in resource types are in [`user`] and [`group`].

pub mod group;
pub mod user;

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

/// RFC 7643 §7 `mutability`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// RFC 7643 §7 `returned`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7). Built with [`Attribute::new`] and the chained setters, whose
/// defaults are RFC 7643 §2.2's: single-valued, optional, case-insensitive, `readWrite`, `default`,
/// `none`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub description: &'static str,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    #[must_use]
    pub const fn new(name: &'static str, ty: AttrType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            multi_valued: false,
            description,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: Vec::new(),
        }
    }

    #[must_use]
    pub const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttrType::String, description)
    }

    #[must_use]
    pub fn complex(name: &'static str, description: &'static str, subs: Vec<Attribute>) -> Self {
        let mut a = Self::new(name, AttrType::Complex, description);
        a.sub_attributes = subs;
        a
    }

    #[must_use]
    pub const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    #[must_use]
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    #[must_use]
    pub const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    #[must_use]
    pub const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }

    #[must_use]
    pub const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }

    #[must_use]
    pub const fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }

    #[must_use]
    pub const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    #[must_use]
    pub const fn references(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    /// A sub-attribute by name, case-insensitively.
    #[must_use]
    pub fn sub(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether string comparisons on this attribute respect case: `caseExact`, and always for
    /// references and binaries (RFC 7643 §2.3.7, §2.3.6).
    #[must_use]
    pub fn compares_exactly(&self) -> bool {
        self.case_exact || matches!(self.ty, AttrType::Reference | AttrType::Binary)
    }
}

/// A schema (RFC 7643 §7): its URN and attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema extension of a resource type (RFC 7643 §6 `schemaExtensions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    pub schema: Schema,
    pub required: bool,
}

/// A resource type (RFC 7643 §6): its endpoint, core schema and extensions. The common attributes
/// (`id`, `externalId`, `meta`, `schemas`; RFC 7643 §3.1) belong to every resource type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: Schema,
    pub extensions: Vec<Extension>,
    pub common: Vec<Attribute>,
}

/// Where an attribute lives in a resource: at the top level (`extension: None`) or inside the object
/// keyed by an extension's URN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrRef<'a> {
    pub extension: Option<&'static str>,
    pub attribute: &'a Attribute,
}

impl ResourceType {
    /// The attribute called `name`, in the schema named `urn` (core or extension) or, without a URN, among
    /// the common and core attributes and then the extensions' (RFC 7644 §3.10: a name without a URN
    /// belongs to the core schema; accepting an extension's when unambiguous is what clients expect).
    #[must_use]
    pub fn resolve(&self, urn: Option<&str>, name: &str) -> Option<AttrRef<'_>> {
        let core = || {
            self.common
                .iter()
                .chain(&self.schema.attributes)
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|attribute| AttrRef {
                    extension: None,
                    attribute,
                })
        };
        match urn {
            Some(u) if u.eq_ignore_ascii_case(self.schema.id) => core(),
            Some(u) => {
                let ext = self.extension(u)?;
                ext.schema.attribute(name).map(|attribute| AttrRef {
                    extension: Some(ext.schema.id),
                    attribute,
                })
            }
            None => core().or_else(|| {
                let mut found = self.extensions.iter().filter_map(|e| {
                    e.schema.attribute(name).map(|attribute| AttrRef {
                        extension: Some(e.schema.id),
                        attribute,
                    })
                });
                let first = found.next();
                if found.next().is_some() {
                    None
                } else {
                    first
                }
            }),
        }
    }

    /// The extension whose URN is `urn` (case-insensitively).
    #[must_use]
    pub fn extension(&self, urn: &str) -> Option<&Extension> {
        self.extensions
            .iter()
            .find(|e| e.schema.id.eq_ignore_ascii_case(urn))
    }

    /// Every top-level attribute with where it lives: common, core, then each extension's.
    pub fn all_attributes(&self) -> impl Iterator<Item = AttrRef<'_>> {
        self.common
            .iter()
            .chain(&self.schema.attributes)
            .map(|attribute| AttrRef {
                extension: None,
                attribute,
            })
            .chain(self.extensions.iter().flat_map(|e| {
                e.schema.attributes.iter().map(|attribute| AttrRef {
                    extension: Some(e.schema.id),
                    attribute,
                })
            }))
    }
}

/// An attribute path split into its parts: `[urn ":"] name ["." sub]` (RFC 7644 §3.10). Names are
/// RFC 7643 §2.1 ATTRNAMEs (`$ref` included); `None` when the text is not such a path.
#[must_use]
pub fn split_attr_path(text: &str) -> Option<(Option<&str>, &str, Option<&str>)> {
    let (urn, rest) = match text.rfind(':') {
        Some(i) => (text.get(..i), text.get(i + 1..)?),
        None => (None, text),
    };
    if urn.is_some_and(|u| !u.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))) {
        return None;
    }
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    (valid_attr_name(name) && sub.is_none_or(valid_attr_name)).then_some((urn, name, sub))
}

/// RFC 7643 §2.1: `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`, plus `$ref`.
#[must_use]
pub fn valid_attr_name(name: &str) -> bool {
    let body = name.strip_prefix('$').unwrap_or(name);
    body.len() <= 128
        && body.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Common attributes (RFC 7643 §3.1), shared by every resource type.
#[must_use]
pub fn common_attributes() -> Vec<Attribute> {
    use AttrType::{DateTime, Reference};
    use Mutability::ReadOnly;
    let ro = |a: Attribute| a.mutability(ReadOnly).case_exact();
    vec![
        ro(Attribute::string(
            "id",
            "Unique identifier for the resource, assigned by the service provider",
        ))
        .returned(Returned::Always)
        .uniqueness(Uniqueness::Server),
        Attribute::string(
            "externalId",
            "Identifier of the resource as defined by the provisioning client",
        )
        .case_exact(),
        Attribute::complex(
            "meta",
            "Resource metadata",
            vec![
                ro(Attribute::string(
                    "resourceType",
                    "Name of the resource type",
                )),
                ro(Attribute::new(
                    "created",
                    DateTime,
                    "When the resource was added",
                )),
                ro(Attribute::new(
                    "lastModified",
                    DateTime,
                    "When the resource was last updated",
                )),
                ro(Attribute::new("location", Reference, "URI of the resource"))
                    .references(&["uri"]),
                ro(Attribute::string(
                    "version",
                    "Version (ETag) of the resource",
                )),
            ],
        )
        .mutability(ReadOnly),
        ro(Attribute::new(
            "schemas",
            Reference,
            "Schema URIs of the resource",
        ))
        .multi()
        .returned(Returned::Always)
        .references(&["uri"]),
    ]
}
