//! Relationships: `resource:id#relation@subject:id[#relation]`, parsed and validated against a schema.

use crate::schema::{AllowedSubject, Schema};
use tessera_proto::Code;

/// An object: `type:id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub object_type: String,
    pub id: String,
}

/// A subject: an object (`user:alice`), every object of a type (`user:*`), or the subjects of a relation
/// of an object (`group:eng#member`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectRef {
    pub object: ObjectRef,
    /// `None` for the object itself (written `...` in some tools).
    pub relation: Option<String>,
}

impl SubjectRef {
    #[must_use]
    pub fn is_wildcard(&self) -> bool {
        self.object.id == "*"
    }
}

/// One relationship.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Relationship {
    pub resource: ObjectRef,
    pub relation: String,
    pub subject: SubjectRef,
}

/// Why a relationship was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelationshipError {
    Syntax(String),
    UnknownType(String),
    /// The relation does not exist, or is a permission (which cannot be written).
    NotARelation {
        object_type: String,
        relation: String,
    },
    /// The subject's type (or subject relation, or wildcard) is not allowed by the relation.
    SubjectNotAllowed {
        relation: String,
        subject: String,
    },
}

impl RelationshipError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Syntax(_) => Code::RelationshipSyntax,
            Self::UnknownType(_) => Code::UnknownType,
            Self::NotARelation { .. } => Code::NotARelation,
            Self::SubjectNotAllowed { .. } => Code::SubjectNotAllowed,
        }
    }
}

impl std::fmt::Display for RelationshipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Syntax(why) => write!(f, "malformed relationship: {why}"),
            Self::UnknownType(t) => write!(f, "type `{t}` is not defined in the schema"),
            Self::NotARelation {
                object_type,
                relation,
            } => {
                write!(
                    f,
                    "`{object_type}` has no relation `{relation}` (permissions cannot be written)"
                )
            }
            Self::SubjectNotAllowed { relation, subject } => {
                write!(
                    f,
                    "relation `{relation}` does not allow subjects like `{subject}`"
                )
            }
        }
    }
}

impl std::error::Error for RelationshipError {}

/// Object ids as SpiceDB accepts them: `[a-zA-Z0-9/_|=+-]`, at most 1024 bytes. No `@`, `#` or `:`, so
/// that the text form of a relationship is never ambiguous.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 1024
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'+' | b'/' | b'|')
        })
}

fn parse_object(text: &str, allow_wildcard: bool) -> Result<ObjectRef, RelationshipError> {
    let (ty, id) = text
        .split_once(':')
        .ok_or_else(|| RelationshipError::Syntax(format!("`{text}` is not `type:id`")))?;
    if ty.is_empty()
        || !ty
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/')
    {
        return Err(RelationshipError::Syntax(format!(
            "`{ty}` is not a type name"
        )));
    }
    if !(valid_id(id) || (allow_wildcard && id == "*")) {
        return Err(RelationshipError::Syntax(format!(
            "`{id}` is not a valid object id"
        )));
    }
    Ok(ObjectRef {
        object_type: ty.to_owned(),
        id: id.to_owned(),
    })
}

impl std::str::FromStr for SubjectRef {
    type Err = RelationshipError;

    /// `type:id`, `type:*` or `type:id#relation` (`#...` means the object itself).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (obj, rel) = match text.split_once('#') {
            Some((o, "...")) => (o, None),
            Some((o, r)) => (o, Some(r.to_owned())),
            None => (text, None),
        };
        let object = parse_object(obj, rel.is_none())?;
        Ok(Self {
            object,
            relation: rel,
        })
    }
}

impl std::str::FromStr for ObjectRef {
    type Err = RelationshipError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_object(text, false)
    }
}

impl std::str::FromStr for Relationship {
    type Err = RelationshipError;

    /// `resource:id#relation@subject:id[#relation]`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (left, subject) = text
            .split_once('@')
            .ok_or_else(|| RelationshipError::Syntax(format!("`{text}` has no `@subject`")))?;
        let (resource, relation) = left
            .split_once('#')
            .ok_or_else(|| RelationshipError::Syntax(format!("`{left}` has no `#relation`")))?;
        Ok(Self {
            resource: resource.parse()?,
            relation: relation.to_owned(),
            subject: subject.parse()?,
        })
    }
}

impl serde::Serialize for ObjectRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl serde::Serialize for SubjectRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.object_type, self.id)
    }
}

impl std::fmt::Display for SubjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.relation {
            Some(r) => write!(f, "{}#{r}", self.object),
            None => write!(f, "{}", self.object),
        }
    }
}

impl std::fmt::Display for Relationship {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}@{}", self.resource, self.relation, self.subject)
    }
}

impl Relationship {
    /// Check this relationship against `schema`: the relation exists (and is not a permission) and allows
    /// the subject's type, subject relation or wildcard.
    ///
    /// # Errors
    /// See [`RelationshipError`].
    pub fn validate(&self, schema: &Schema) -> Result<(), RelationshipError> {
        self.validate_with_caveat(schema, None)
    }

    /// [`validate`](Self::validate) for a relationship written with `caveat`: the relation must allow
    /// the subject type with that caveat (`user with c`), and the context must give only the caveat's
    /// parameters, each of its type.
    ///
    /// # Errors
    /// See [`RelationshipError`].
    pub fn validate_with_caveat(
        &self,
        schema: &Schema,
        caveat: Option<&crate::caveat::RelationshipCaveat>,
    ) -> Result<(), RelationshipError> {
        self.validate_with_traits(schema, caveat, false)
    }

    /// [`validate_with_caveat`](Self::validate_with_caveat) for a relationship written with an
    /// expiration too (`expires`): the relation must allow the subject type with exactly that caveat
    /// and `with expiration` (`user with c and expiration`); without one, exactly without it.
    ///
    /// # Errors
    /// See [`RelationshipError`].
    pub fn validate_with_traits(
        &self,
        schema: &Schema,
        caveat: Option<&crate::caveat::RelationshipCaveat>,
        expires: bool,
    ) -> Result<(), RelationshipError> {
        let def = schema
            .definition(&self.resource.object_type)
            .ok_or_else(|| RelationshipError::UnknownType(self.resource.object_type.clone()))?;
        let rel =
            def.relations
                .get(&self.relation)
                .ok_or_else(|| RelationshipError::NotARelation {
                    object_type: self.resource.object_type.clone(),
                    relation: self.relation.clone(),
                })?;
        if schema
            .definition(&self.subject.object.object_type)
            .is_none()
        {
            return Err(RelationshipError::UnknownType(
                self.subject.object.object_type.clone(),
            ));
        }
        let ty = &self.subject.object.object_type;
        let matches = |a: &AllowedSubject| match (a, &self.subject.relation) {
            (AllowedSubject::Wildcard(t), None) => self.subject.is_wildcard() && t == ty,
            (AllowedSubject::Object(t), None) => !self.subject.is_wildcard() && t == ty,
            (AllowedSubject::Set(t, r), Some(sr)) => t == ty && r == sr,
            _ => false,
        };
        let allowed = match (caveat, expires) {
            (None, false) => rel.allowed.iter().any(matches),
            (Some(c), false) => rel
                .caveated
                .iter()
                .any(|(a, name)| *name == c.name && matches(a)),
            (c, true) => rel
                .expiring
                .iter()
                .any(|(a, name)| name.as_deref() == c.map(|c| c.name.as_str()) && matches(a)),
        };
        if let (true, Some(c)) = (allowed, caveat) {
            let def = schema.caveats.get(&c.name);
            for (param, value) in &c.context {
                let typed = def
                    .and_then(|d| d.params.get(param))
                    .ok_or_else(|| {
                        format!(
                            "caveat `{}` has no parameter `{}`",
                            c.name,
                            param.escape_debug()
                        )
                    })
                    .and_then(|ty| crate::caveat::typed(ty, value).map(|_| ()));
                if let Err(why) = typed {
                    return Err(RelationshipError::Syntax(format!(
                        "context `{}` of caveat `{}`: {why}",
                        param.escape_debug(),
                        c.name
                    )));
                }
            }
        }
        if allowed {
            Ok(())
        } else {
            Err(RelationshipError::SubjectNotAllowed {
                relation: format!("{}#{}", self.resource.object_type, self.relation),
                subject: match (caveat, expires) {
                    (Some(c), false) => format!("{} with {}", self.subject, c.name),
                    (Some(c), true) => format!("{} with {} and expiration", self.subject, c.name),
                    (None, true) => format!("{} with expiration", self.subject),
                    (None, false) => self.subject.to_string(),
                },
            })
        }
    }
}
