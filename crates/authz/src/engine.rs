//! The engine: the storage port it reads ([`RelationshipReader`]), its errors, and [`Engine`], whose
//! operations live in their own modules: check and explain (one evaluator, `check`), `expand`, and the
//! lookups (`lookup`).

use std::future::Future;
use std::pin::Pin;
use tessera_proto::Code;

pub use crate::expand::{ExpandKind, ExpandNode};
pub use crate::lookup::{FoundSubjects, ResourcesFound};
use crate::relationship::{ObjectRef, SubjectRef};
use crate::schema::Schema;

/// Subjects with the caveats their relationships were written with.
pub(crate) type CaveatedSubjects = Vec<(SubjectRef, Option<crate::caveat::RelationshipCaveat>)>;

/// Default recursion limit (nested groups, arrows).
pub const DEFAULT_MAX_DEPTH: u32 = 50;

/// The storage port: direct relationships only; the engine does the rest.
///
/// A reader answers as of one revision and one moment, both fixed when it is made (the core has no
/// clock: the shell's reader carries it). A relationship whose expiration (`Tuple::expiration`) is at
/// or before that moment counts as deleted: no method returns it.
#[allow(
    async_fn_in_trait,
    reason = "implemented by shells whose futures need not be Send"
)]
pub trait RelationshipReader {
    /// The subjects `s` of every relationship `resource#relation@s` written without a caveat. A
    /// caveated relationship must not be returned here: the paths that read this (relations the schema
    /// allows no caveat on, `expand`) would count it as unconditional.
    async fn subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<SubjectRef>, String>;

    /// Every id of `object_type` that appears in a relationship, as resource or as subject (any order,
    /// duplicates allowed): the candidates of `lookup_subjects`.
    async fn object_ids(&self, object_type: &str) -> Result<Vec<String>, String>;

    /// Every relationship whose subject is the object `subject`, with or without a subject relation (for
    /// `type:*`, the wildcard relationships of the type): the reverse edges `lookup_resources` walks.
    async fn relationships_with_subject(
        &self,
        subject: &ObjectRef,
    ) -> Result<Vec<crate::relationship::Relationship>, String>;

    /// The subjects of every relationship `resource#relation@s`, each with the caveat it was written
    /// with, if any. Asked instead of [`subjects`](Self::subjects) for relations that allow caveats;
    /// the default is `subjects` without caveats, for stores that keep none.
    async fn caveated_subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<(SubjectRef, Option<crate::caveat::RelationshipCaveat>)>, String> {
        Ok(self
            .subjects(resource, relation)
            .await?
            .into_iter()
            .map(|s| (s, None))
            .collect())
    }

    /// A hint that `subjects(r, relation)` is about to be asked for each of `resources` and each of
    /// `relations`: a store may load them all at once. The default does nothing.
    async fn prefetch(&self, resources: &[ObjectRef], relations: &[String]) -> Result<(), String> {
        let _ = (resources, relations);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    UnknownType(String),
    UnknownPermission {
        object_type: String,
        name: String,
    },
    DepthExceeded(u32),
    /// A caveat's context was of the wrong type, or its expression failed.
    Caveat(crate::caveat::CaveatError),
    Store(String),
}

impl CheckError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::UnknownType(_) => Code::UnknownType,
            Self::UnknownPermission { .. } => Code::UnknownPermission,
            Self::DepthExceeded(_) => Code::DepthExceeded,
            Self::Caveat(e) => e.code(),
            Self::Store(_) => Code::StoreUnavailable,
        }
    }
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownType(t) => write!(f, "type `{t}` is not defined in the schema"),
            Self::UnknownPermission { object_type, name } => {
                write!(f, "`{object_type}` has no relation or permission `{name}`")
            }
            Self::DepthExceeded(d) => write!(f, "the check needed more than {d} nested steps"),
            Self::Caveat(e) => e.fmt(f),
            Self::Store(e) => write!(f, "relationship store failed: {e}"),
        }
    }
}

impl std::error::Error for CheckError {}

pub struct Engine<'a, R> {
    pub(crate) schema: &'a Schema,
    pub(crate) reader: &'a R,
    pub(crate) max_depth: u32,
}

impl<'a, R: RelationshipReader> Engine<'a, R> {
    #[must_use]
    pub fn new(schema: &'a Schema, reader: &'a R) -> Self {
        Self {
            schema,
            reader,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    #[must_use]
    pub fn with_max_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }

    /// The stored subjects of `obj#relation`, read through a boxed future made in a frame of its own. The
    /// reader's future (a database query's, several KiB in a debug build) is then built and polled in
    /// frames that are gone before the walk recurses, instead of taking a slot in the frame of every
    /// step of the recursion: that multiplied its size by the depth (the origin sizes the stack of the
    /// thread it runs the engine on from the measured per-step cost).
    /// As [`stored`](Self::stored), each subject with the caveat it was written with.
    pub(crate) fn stored_caveated<'r>(
        &'r self,
        obj: &'r ObjectRef,
        relation: &'r str,
    ) -> Pin<Box<dyn Future<Output = Result<CaveatedSubjects, CheckError>> + 'r>> {
        Box::pin(async move {
            self.reader
                .caveated_subjects(obj, relation)
                .await
                .map_err(CheckError::Store)
        })
    }

    /// Whether relationships of `object_type#relation` may carry caveats.
    pub(crate) fn allows_caveats(&self, object_type: &str, relation: &str) -> bool {
        self.schema
            .definition(object_type)
            .and_then(|d| d.relations.get(relation))
            .is_some_and(crate::schema::Relation::allows_caveats)
    }

    pub(crate) fn stored<'r>(
        &'r self,
        obj: &'r ObjectRef,
        relation: &'r str,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<SubjectRef>, CheckError>> + 'r>> {
        Box::pin(async move {
            self.reader
                .subjects(obj, relation)
                .await
                .map_err(CheckError::Store)
        })
    }

    /// The question names a known type, a relation or permission of it, and (if given) a known subject type.
    pub(crate) fn validate_names(
        &self,
        object_type: &str,
        permission: &str,
        subject_type: Option<&str>,
    ) -> Result<(), CheckError> {
        let def = self
            .schema
            .definition(object_type)
            .ok_or_else(|| CheckError::UnknownType(object_type.to_owned()))?;
        if !def.has(permission) {
            return Err(CheckError::UnknownPermission {
                object_type: object_type.to_owned(),
                name: permission.to_owned(),
            });
        }
        match subject_type {
            Some(t) if self.schema.definition(t).is_none() => {
                Err(CheckError::UnknownType(t.to_owned()))
            }
            _ => Ok(()),
        }
    }

    /// As [`Engine::validate_names`] for the subject too: its type, and the relation of a subject set.
    pub(crate) fn validate_question(
        &self,
        object_type: &str,
        permission: &str,
        subject: &SubjectRef,
    ) -> Result<(), CheckError> {
        self.validate_names(object_type, permission, Some(&subject.object.object_type))?;
        match &subject.relation {
            Some(r)
                if !self
                    .schema
                    .definition(&subject.object.object_type)
                    .is_some_and(|d| d.has(r)) =>
            {
                Err(CheckError::UnknownPermission {
                    object_type: subject.object.object_type.clone(),
                    name: r.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}
