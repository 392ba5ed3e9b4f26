//! Check: does a subject have a permission (or relation) on a resource?
//!
//! The engine walks the schema's expressions over a [`RelationshipReader`] (the storage port, owned here,
//! implemented by the origin). Within one request every sub-problem `(object, relation)` is memoised; a
//! sub-problem met again while it is being computed (a cycle in the data, e.g. two groups containing each
//! other) contributes "no" on that path and is not memoised; recursion deeper than the limit fails with
//! [`CheckError::DepthExceeded`] rather than guessing.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use crate::relationship::{ObjectRef, SubjectRef};
use crate::schema::{ArrowKind, Expr, Schema};

/// Default recursion limit (nested groups, arrows).
pub const DEFAULT_MAX_DEPTH: u32 = 50;

/// Candidates whose relations `lookup_resources` asks the store to load at once.
const PREFETCH_BATCH: usize = 250;

/// The storage port: direct relationships only; the engine does the rest.
#[allow(
    async_fn_in_trait,
    reason = "implemented by shells whose futures need not be Send"
)]
pub trait RelationshipReader {
    /// The subjects `s` of every relationship `resource#relation@s`.
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

    /// A hint that `subjects(r, relation)` is about to be asked for each of `resources` and each of
    /// `relations`: a store may load them all at once. The default does nothing.
    async fn prefetch(&self, resources: &[ObjectRef], relations: &[String]) -> Result<(), String> {
        let _ = (resources, relations);
        Ok(())
    }
}

/// Who depends on a `(type, relation or permission)`: the schema read backwards, for the reverse walk.
enum Dependent {
    /// A permission (or rewrite) of the same object that names it.
    Computed(String),
    /// `def#name` reaches it through the arrow `tupleset->it`.
    Arrow {
        def: String,
        name: String,
        tupleset: String,
    },
}

type Dependents = HashMap<(String, String), Vec<Dependent>>;

fn dependents(schema: &Schema) -> Dependents {
    fn walk(schema: &Schema, def_name: &str, name: &str, expr: &Expr, out: &mut Dependents) {
        match expr {
            Expr::Nil | Expr::Direct(_) => {}
            Expr::Ref(m) => out
                .entry((def_name.to_owned(), m.clone()))
                .or_default()
                .push(Dependent::Computed(name.to_owned())),
            Expr::Arrow {
                tupleset, target, ..
            } => {
                let allowed = schema
                    .definition(def_name)
                    .and_then(|d| d.relations.get(tupleset))
                    .map(|r| r.allowed.as_slice())
                    .unwrap_or_default();
                let mut types: Vec<&str> = allowed
                    .iter()
                    .filter_map(|a| match a {
                        crate::schema::AllowedSubject::Object(t)
                        | crate::schema::AllowedSubject::Set(t, _) => Some(t.as_str()),
                        crate::schema::AllowedSubject::Wildcard(_) => None,
                    })
                    .collect();
                types.dedup();
                for t in types {
                    out.entry((t.to_owned(), target.clone()))
                        .or_default()
                        .push(Dependent::Arrow {
                            def: def_name.to_owned(),
                            name: name.to_owned(),
                            tupleset: tupleset.clone(),
                        });
                }
            }
            Expr::Union(a, b) | Expr::Intersection(a, b) | Expr::Exclusion(a, b) => {
                walk(schema, def_name, name, a, out);
                walk(schema, def_name, name, b, out);
            }
        }
    }
    let mut out = Dependents::new();
    for (def_name, def) in &schema.definitions {
        for (name, expr) in &def.permissions {
            walk(schema, def_name, name, expr, &mut out);
        }
        for (name, rel) in &def.relations {
            if let Some(expr) = &rel.rewrite {
                walk(schema, def_name, name, expr, &mut out);
            }
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    UnknownType(String),
    UnknownPermission { object_type: String, name: String },
    DepthExceeded(u32),
    Store(String),
}

impl CheckError {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownType(_) => "unknown_type",
            Self::UnknownPermission { .. } => "unknown_permission",
            Self::DepthExceeded(_) => "depth_exceeded",
            Self::Store(_) => "store_unavailable",
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
            Self::Store(e) => write!(f, "relationship store failed: {e}"),
        }
    }
}

impl std::error::Error for CheckError {}

/// The answer to a sub-problem. Three-valued: besides yes and no, a sub-problem can be *undecided* when
/// it depends on itself through an exclusion (`viewer = this - restricted` with `restricted` containing
/// `viewer`): no fixed point decides it, so it must not be guessed. Undecided answers propagate by
/// Kleene's rules and a check that ends undecided is denied (fail closed), as OpenFGA does.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    allowed: bool,
    /// Undecided (then `allowed` is false).
    unknown: bool,
    /// The answer depended on a cycle being cut: true for this path only, so not memoised.
    cut: bool,
}

impl Outcome {
    const NO: Self = Self {
        allowed: false,
        unknown: false,
        cut: false,
    };
    const YES: Self = Self {
        allowed: true,
        unknown: false,
        cut: false,
    };

    /// Definitely no (not undecided).
    fn is_no(self) -> bool {
        !self.allowed && !self.unknown
    }
}

type Step<'a> = Pin<Box<dyn Future<Output = Result<Outcome, CheckError>> + 'a>>;

/// The answer of [`Engine::lookup_subjects`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FoundSubjects {
    /// The ids that have the permission, in id order, after `*` when a wildcard grants it.
    pub ids: Vec<String>,
    /// When `ids` holds `*`: the ids of the type the wildcard does not reach (an exclusion removes them,
    /// or an intersection lacks them), in id order. Empty otherwise.
    pub excluded: Vec<String>,
}

/// A node of an expand tree: how `relation` of `object` is computed. Nodes for sub-expressions of one
/// permission carry an empty `relation`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExpandNode {
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub relation: String,
    #[serde(flatten)]
    pub kind: ExpandKind,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpandKind {
    /// The direct subjects of a relation (subject sets are not expanded further).
    Leaf(Vec<SubjectRef>),
    Union(Vec<ExpandNode>),
    Intersection(Vec<ExpandNode>),
    Exclusion(Box<ExpandNode>, Box<ExpandNode>),
    Nil,
    /// This node is already being expanded higher up the tree.
    Cycle,
}

struct Request<'s> {
    subject: &'s SubjectRef,
    memo: RefCell<HashMap<(ObjectRef, String), bool>>,
    /// Sub-problems being computed, with how many exclusions deep (`negations`) each was entered.
    in_progress: RefCell<HashMap<(ObjectRef, String), u32>>,
    /// How many exclusion right-hand sides the current evaluation is inside.
    negations: std::cell::Cell<u32>,
}

pub struct Engine<'a, R> {
    pub(crate) schema: &'a Schema,
    pub(crate) reader: &'a R,
    pub(crate) max_depth: u32,
}

impl<'s> Request<'s> {
    fn new(subject: &'s SubjectRef) -> Self {
        Self {
            subject,
            memo: RefCell::default(),
            in_progress: RefCell::default(),
            negations: std::cell::Cell::new(0),
        }
    }
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

    /// Whether `subject` has `permission` (a permission or a relation) on `resource`.
    ///
    /// # Errors
    /// Unknown type or permission, recursion deeper than the limit, or a store failure.
    pub async fn check(
        &self,
        resource: &ObjectRef,
        permission: &str,
        subject: &SubjectRef,
    ) -> Result<bool, CheckError> {
        self.validate_question(&resource.object_type, permission, subject)?;
        let req = Request::new(subject);
        Ok(self
            .name(&req, resource.clone(), permission.to_owned(), 0)
            .await?
            .allowed)
    }

    /// The question names a known type, a relation or permission of it, and (if given) a known subject type.
    fn validate_names(
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

    /// Ids of the `resource_type` objects on which `subject` has `permission`, in id order, after `after`,
    /// at most `limit` of them, and the cursor for the next page (`None` when this page is the last).
    ///
    /// A reverse walk from the subject finds the candidates: every `(object, relation or permission)` the
    /// subject could reach, following stored relationships backwards (subject sets, wildcards) and the
    /// schema backwards (names used in permissions, arrows). That is a superset of the answer — an
    /// intersection or exclusion may still say no — so each candidate is then decided by the same rules
    /// as [`Engine::check`], sharing one memo (the subject is fixed). Complete, and proportional to what
    /// the subject can reach rather than to the number of objects of the type.
    ///
    /// # Errors
    /// As [`Engine::check`].
    pub async fn lookup_resources(
        &self,
        resource_type: &str,
        permission: &str,
        subject: &SubjectRef,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), CheckError> {
        self.validate_question(resource_type, permission, subject)?;
        let candidates = self.reachable(subject, resource_type, permission).await?;
        let req = Request::new(subject);
        let mut found = Vec::new();
        let start = match after {
            Some(a) => std::ops::Bound::Excluded(a.to_owned()),
            None => std::ops::Bound::Unbounded,
        };
        let relations = self.relations_read_by(resource_type, permission);
        let mut prefetched = 0usize;
        let ordered: Vec<&String> = candidates
            .range((start, std::ops::Bound::Unbounded))
            .collect();
        for (i, id) in ordered.iter().enumerate() {
            if found.len() == limit {
                let cursor = found.last().cloned();
                return Ok((found, cursor));
            }
            if i == prefetched && !relations.is_empty() {
                // The next batch of candidates' own relations, in one round trip.
                let batch: Vec<ObjectRef> = ordered
                    .iter()
                    .skip(i)
                    .take(PREFETCH_BATCH)
                    .map(|id| ObjectRef {
                        object_type: resource_type.to_owned(),
                        id: (*id).clone(),
                    })
                    .collect();
                prefetched += batch.len();
                self.reader
                    .prefetch(&batch, &relations)
                    .await
                    .map_err(CheckError::Store)?;
            }
            let id = *id;
            let obj = ObjectRef {
                object_type: resource_type.to_owned(),
                id: id.clone(),
            };
            if self
                .name(&req, obj, permission.to_owned(), 0)
                .await?
                .allowed
            {
                found.push(id.clone());
            }
        }
        Ok((found, None))
    }

    /// The stored relations of `object_type` that deciding `name` on one of its objects reads first: the
    /// relations named by its expression (through permissions of the same type) and arrow tuplesets.
    fn relations_read_by(&self, object_type: &str, name: &str) -> Vec<String> {
        fn walk(
            def: &crate::schema::Definition,
            expr: &Expr,
            seen: &mut Vec<String>,
            out: &mut Vec<String>,
        ) {
            match expr {
                Expr::Nil => {}
                Expr::Direct(r) => push(out, r),
                Expr::Ref(n) => visit(def, n, seen, out),
                Expr::Arrow { tupleset, .. } => push(out, tupleset),
                Expr::Union(a, b) | Expr::Intersection(a, b) | Expr::Exclusion(a, b) => {
                    walk(def, a, seen, out);
                    walk(def, b, seen, out);
                }
            }
        }
        fn push(out: &mut Vec<String>, r: &str) {
            if !out.iter().any(|x| x == r) {
                out.push(r.to_owned());
            }
        }
        fn visit(
            def: &crate::schema::Definition,
            name: &str,
            seen: &mut Vec<String>,
            out: &mut Vec<String>,
        ) {
            if seen.iter().any(|x| x == name) {
                return;
            }
            seen.push(name.to_owned());
            if let Some(rel) = def.relations.get(name) {
                match &rel.rewrite {
                    Some(expr) => walk(def, expr, seen, out),
                    None => push(out, name),
                }
            } else if let Some(expr) = def.permissions.get(name) {
                walk(def, expr, seen, out);
            }
        }
        let mut out = Vec::new();
        if let Some(def) = self.schema.definition(object_type) {
            visit(def, name, &mut Vec::new(), &mut out);
        }
        out
    }

    /// The ids of `resource_type` objects on which `subject` may have `permission`: the reverse walk.
    async fn reachable(
        &self,
        subject: &SubjectRef,
        resource_type: &str,
        permission: &str,
    ) -> Result<std::collections::BTreeSet<String>, CheckError> {
        let deps = dependents(self.schema);
        // Objects of a type no relation admits as a subject are never a relationship's subject: asking
        // the store about them would only find nothing.
        let subject_types: HashSet<&str> = self
            .schema
            .definitions
            .values()
            .flat_map(|d| d.relations.values())
            .flat_map(|r| &r.allowed)
            .map(|a| match a {
                crate::schema::AllowedSubject::Object(t)
                | crate::schema::AllowedSubject::Wildcard(t)
                | crate::schema::AllowedSubject::Set(t, _) => t.as_str(),
            })
            .collect();
        let mut out = std::collections::BTreeSet::new();
        let mut seen: HashSet<(ObjectRef, String)> = HashSet::new();
        let mut queue = std::collections::VecDeque::new();
        let start = (
            subject.object.clone(),
            subject.relation.clone().unwrap_or_default(),
        );
        seen.insert(start.clone());
        queue.push_back(start);
        let mut edges: HashMap<ObjectRef, Vec<crate::relationship::Relationship>> = HashMap::new();
        while let Some((obj, name)) = queue.pop_front() {
            if obj.object_type == resource_type && name == permission {
                out.insert(obj.id.clone());
            }
            let mine = deps.get(&(obj.object_type.clone(), name.clone()));
            let mut next = Vec::new();
            for d in mine.into_iter().flatten() {
                if let Dependent::Computed(n) = d {
                    next.push((obj.clone(), n.clone()));
                }
            }
            let mut sources = Vec::new();
            if subject_types.contains(obj.object_type.as_str()) {
                sources.push(obj.clone());
            }
            if name.is_empty() && obj.id != "*" {
                sources.push(ObjectRef {
                    object_type: obj.object_type.clone(),
                    id: "*".to_owned(),
                });
            }
            for source in sources {
                if !edges.contains_key(&source) {
                    let rels = self
                        .reader
                        .relationships_with_subject(&source)
                        .await
                        .map_err(CheckError::Store)?;
                    edges.insert(source.clone(), rels);
                }
                let wildcard = source.id == "*";
                for r in edges.get(&source).into_iter().flatten() {
                    let srel = r.subject.relation.as_deref().unwrap_or("");
                    if srel == name || (wildcard && srel.is_empty()) {
                        next.push((r.resource.clone(), r.relation.clone()));
                    }
                    if wildcard {
                        continue; // arrows never walk wildcards
                    }
                    for d in mine.into_iter().flatten() {
                        if let Dependent::Arrow {
                            def,
                            name: n,
                            tupleset,
                        } = d
                        {
                            if r.resource.object_type == *def && r.relation == *tupleset {
                                next.push((r.resource.clone(), n.clone()));
                            }
                        }
                    }
                }
            }
            for n in next {
                if seen.insert(n.clone()) {
                    queue.push_back(n);
                }
            }
        }
        Ok(out)
    }

    /// Subjects of `subject_type` (objects, or `subject_type#relation` sets when `subject_relation` is
    /// given) that have `permission` on `resource`, in id order. `*` comes first when a wildcard grants
    /// the permission to every object of the type but those in [`FoundSubjects::excluded`] (as SpiceDB
    /// returns the wildcard subject with its `excluded_subjects`).
    ///
    /// Every answer is a check: an id is listed when [`Engine::check`] allows it, `*` when check allows
    /// `type:*` itself, and an id is excluded when `*` is listed but check denies it. An object that appears
    /// in no relationship can only be reached through wildcards, so check decides it as it decides `*`:
    /// "listed, or `*` listed and not excluded" is exactly what check answers, for every subject.
    ///
    /// # Errors
    /// As [`Engine::check`].
    pub async fn lookup_subjects(
        &self,
        resource: &ObjectRef,
        permission: &str,
        subject_type: &str,
        subject_relation: Option<&str>,
    ) -> Result<FoundSubjects, CheckError> {
        self.validate_names(&resource.object_type, permission, Some(subject_type))?;
        if let Some(r) = subject_relation {
            if !self
                .schema
                .definition(subject_type)
                .is_some_and(|d| d.has(r))
            {
                return Err(CheckError::UnknownPermission {
                    object_type: subject_type.to_owned(),
                    name: r.to_owned(),
                });
            }
        }
        let mut ids = self
            .reader
            .object_ids(subject_type)
            .await
            .map_err(CheckError::Store)?;
        // The resource itself is a candidate too: `group:g#member` has `member` on `group:g` even
        // where no relationship names it (check answers so).
        if resource.object_type == subject_type {
            ids.push(resource.id.clone());
        }
        ids.sort();
        ids.dedup();
        let mut out = FoundSubjects::default();
        let mut everyone = false;
        if subject_relation.is_none() {
            let wildcard = SubjectRef {
                object: ObjectRef {
                    object_type: subject_type.to_owned(),
                    id: "*".to_owned(),
                },
                relation: None,
            };
            if self.check(resource, permission, &wildcard).await? {
                out.ids.push("*".to_owned());
                everyone = true;
            }
        }
        for id in ids.into_iter().filter(|id| id != "*") {
            let subject = SubjectRef {
                object: ObjectRef {
                    object_type: subject_type.to_owned(),
                    id,
                },
                relation: subject_relation.map(str::to_owned),
            };
            if self.check(resource, permission, &subject).await? {
                out.ids.push(subject.object.id);
            } else if everyone {
                out.excluded.push(subject.object.id);
            }
        }
        Ok(out)
    }

    /// The tree of how `permission` on `resource` is computed, down to the direct subjects of relations.
    ///
    /// # Errors
    /// Unknown type or permission, a tree deeper than the limit, or a store failure.
    pub async fn expand(
        &self,
        resource: &ObjectRef,
        permission: &str,
    ) -> Result<ExpandNode, CheckError> {
        self.validate_names(&resource.object_type, permission, None)?;
        let in_progress = RefCell::new(HashSet::new());
        self.expand_name(&in_progress, resource.clone(), permission.to_owned(), 0)
            .await
    }

    fn expand_name<'r>(
        &'r self,
        in_progress: &'r RefCell<HashSet<(ObjectRef, String)>>,
        object: ObjectRef,
        relation: String,
        depth: u32,
    ) -> Pin<Box<dyn Future<Output = Result<ExpandNode, CheckError>> + 'r>> {
        Box::pin(async move {
            if depth > self.max_depth {
                return Err(CheckError::DepthExceeded(self.max_depth));
            }
            let key = (object.clone(), relation.clone());
            if !in_progress.borrow_mut().insert(key.clone()) {
                return Ok(ExpandNode {
                    object,
                    relation,
                    kind: ExpandKind::Cycle,
                });
            }
            let def = self.schema.definition(&object.object_type);
            let rel = def.and_then(|d| d.relations.get(&relation));
            let kind = if let Some(expr) = rel.and_then(|r| r.rewrite.as_ref()) {
                self.expand_expr(in_progress, &object, expr, depth).await
            } else if rel.is_some() {
                let subjects = self.stored(&object, &relation).await;
                subjects.map(ExpandKind::Leaf)
            } else if let Some(expr) = def.and_then(|d| d.permissions.get(&relation)) {
                self.expand_expr(in_progress, &object, expr, depth).await
            } else {
                Ok(ExpandKind::Nil)
            };
            in_progress.borrow_mut().remove(&key);
            Ok(ExpandNode {
                object,
                relation,
                kind: kind?,
            })
        })
    }

    fn expand_expr<'r>(
        &'r self,
        in_progress: &'r RefCell<HashSet<(ObjectRef, String)>>,
        object: &'r ObjectRef,
        expr: &'r Expr,
        depth: u32,
    ) -> Pin<Box<dyn Future<Output = Result<ExpandKind, CheckError>> + 'r>> {
        Box::pin(async move {
            let both = |a: ExpandKind, b: ExpandKind| {
                [a, b].map(|k| ExpandNode {
                    object: object.clone(),
                    relation: String::new(),
                    kind: k,
                })
            };
            Ok(match expr {
                Expr::Nil => ExpandKind::Nil,
                Expr::Direct(r) => ExpandKind::Leaf(self.stored(object, r).await?),
                Expr::Ref(n) => {
                    let node = self
                        .expand_name(in_progress, object.clone(), n.clone(), depth + 1)
                        .await?;
                    ExpandKind::Union(vec![node])
                }
                Expr::Union(a, b) => {
                    let (a, b) = (
                        self.expand_expr(in_progress, object, a, depth).await?,
                        self.expand_expr(in_progress, object, b, depth).await?,
                    );
                    ExpandKind::Union(both(a, b).into())
                }
                Expr::Intersection(a, b) => {
                    let (a, b) = (
                        self.expand_expr(in_progress, object, a, depth).await?,
                        self.expand_expr(in_progress, object, b, depth).await?,
                    );
                    ExpandKind::Intersection(both(a, b).into())
                }
                Expr::Exclusion(a, b) => {
                    let (a, b) = (
                        self.expand_expr(in_progress, object, a, depth).await?,
                        self.expand_expr(in_progress, object, b, depth).await?,
                    );
                    let [a, b] = both(a, b);
                    ExpandKind::Exclusion(Box::new(a), Box::new(b))
                }
                Expr::Arrow {
                    tupleset,
                    kind,
                    target,
                } => {
                    let subjects = self.stored(object, tupleset).await?;
                    let mut children = Vec::new();
                    for s in subjects.iter().filter(|s| !s.is_wildcard()) {
                        if self
                            .schema
                            .definition(&s.object.object_type)
                            .is_some_and(|d| d.has(target))
                        {
                            children.push(
                                self.expand_name(
                                    in_progress,
                                    s.object.clone(),
                                    target.clone(),
                                    depth + 1,
                                )
                                .await?,
                            );
                        }
                    }
                    match kind {
                        ArrowKind::Any => ExpandKind::Union(children),
                        // `.all()` over no objects grants nothing (as check decides), but an empty
                        // intersection reads as "everyone" (the identity of `&`). SpiceDB writes "no
                        // subject" as a leaf without subjects (its expansion of `nil` and of a missing
                        // relation), and so does this.
                        ArrowKind::All if children.is_empty() => ExpandKind::Leaf(Vec::new()),
                        ArrowKind::All => ExpandKind::Intersection(children),
                    }
                }
            })
        })
    }

    fn name<'r>(
        &'r self,
        req: &'r Request<'_>,
        obj: ObjectRef,
        name: String,
        depth: u32,
    ) -> Step<'r> {
        Box::pin(async move {
            if depth > self.max_depth {
                return Err(CheckError::DepthExceeded(self.max_depth));
            }
            // A subject set asked about itself: `group:eng#member` has `member` on `group:eng`.
            if req.subject.object == obj && req.subject.relation.as_deref() == Some(name.as_str()) {
                return Ok(Outcome::YES);
            }
            let key = (obj, name);
            if let Some(&allowed) = req.memo.borrow().get(&key) {
                return Ok(if allowed { Outcome::YES } else { Outcome::NO });
            }
            let entered_at = req.in_progress.borrow().get(&key).copied();
            if let Some(entered_at) = entered_at {
                // A cycle. Met again without passing through an exclusion, it adds nothing this path
                // could prove (least fixed point: no). Through an exclusion, it is undecided.
                return Ok(Outcome {
                    allowed: false,
                    unknown: req.negations.get() > entered_at,
                    cut: true,
                });
            }
            req.in_progress
                .borrow_mut()
                .insert(key.clone(), req.negations.get());
            let (obj, name) = &key;
            let result = match self.schema.definition(&obj.object_type) {
                Some(def) if def.relations.contains_key(name) => {
                    match def.relations.get(name).and_then(|r| r.rewrite.as_ref()) {
                        Some(expr) => self.expr(req, obj, expr, depth).await,
                        None => self.relation(req, obj, name, depth).await,
                    }
                }
                Some(def) => match def.permissions.get(name) {
                    Some(expr) => self.expr(req, obj, expr, depth).await,
                    None => Ok(Outcome::NO),
                },
                None => Ok(Outcome::NO),
            };
            req.in_progress.borrow_mut().remove(&key);
            let outcome = result?;
            if !outcome.cut {
                req.memo.borrow_mut().insert(key, outcome.allowed);
            }
            Ok(outcome)
        })
    }

    async fn relation(
        &self,
        req: &Request<'_>,
        obj: &ObjectRef,
        relation: &str,
        depth: u32,
    ) -> Result<Outcome, CheckError> {
        let subjects = self.stored(obj, relation).await?;
        let want = req.subject;
        // Direct answers first: they cost nothing, while a subject set may need a long walk.
        if subjects.iter().any(|s| grants_directly(s, want)) {
            return Ok(Outcome::YES);
        }
        let mut acc = Outcome::NO;
        for s in &subjects {
            match &s.relation {
                None => {}
                Some(r) => {
                    let o = self
                        .name(req, s.object.clone(), r.clone(), depth + 1)
                        .await?;
                    if o.allowed {
                        return Ok(o);
                    }
                    acc = union(acc, o);
                }
            }
        }
        Ok(acc)
    }

    fn expr<'r>(
        &'r self,
        req: &'r Request<'_>,
        obj: &'r ObjectRef,
        expr: &'r Expr,
        depth: u32,
    ) -> Step<'r> {
        Box::pin(async move {
            match expr {
                Expr::Nil => Ok(Outcome::NO),
                Expr::Direct(r) => self.relation(req, obj, r, depth).await,
                Expr::Ref(n) => self.name(req, obj.clone(), n.clone(), depth + 1).await,
                Expr::Union(a, b) => {
                    let l = self.expr(req, obj, a, depth).await?;
                    if l.allowed {
                        return Ok(l);
                    }
                    let r = self.expr(req, obj, b, depth).await?;
                    Ok(union(l, r))
                }
                Expr::Intersection(a, b) => {
                    let l = self.expr(req, obj, a, depth).await?;
                    if l.is_no() {
                        return Ok(l);
                    }
                    let r = self.expr(req, obj, b, depth).await?;
                    Ok(intersection(l, r))
                }
                Expr::Exclusion(a, b) => {
                    let l = self.expr(req, obj, a, depth).await?;
                    if l.is_no() {
                        return Ok(l);
                    }
                    req.negations.set(req.negations.get() + 1);
                    let r = self.expr(req, obj, b, depth).await;
                    req.negations.set(req.negations.get() - 1);
                    let r = r?;
                    let cut = l.cut || r.cut;
                    Ok(if r.allowed {
                        Outcome { cut, ..Outcome::NO }
                    } else if l.allowed && !r.unknown {
                        Outcome {
                            cut,
                            ..Outcome::YES
                        }
                    } else {
                        Outcome {
                            allowed: false,
                            unknown: true,
                            cut,
                        }
                    })
                }
                Expr::Arrow {
                    tupleset,
                    kind,
                    target,
                } => {
                    let subjects = self.stored(obj, tupleset).await?;
                    let mut acc: Option<Outcome> = None;
                    for s in subjects.iter().filter(|s| !s.is_wildcard()) {
                        let has_target = self
                            .schema
                            .definition(&s.object.object_type)
                            .is_some_and(|d| d.has(target));
                        let o = if has_target {
                            self.name(req, s.object.clone(), target.clone(), depth + 1)
                                .await?
                        } else {
                            Outcome::NO
                        };
                        let next = match (kind, acc) {
                            (_, None) => o,
                            (ArrowKind::Any, Some(a)) => union(a, o),
                            (ArrowKind::All, Some(a)) => intersection(a, o),
                        };
                        match kind {
                            ArrowKind::Any if next.allowed => return Ok(next),
                            ArrowKind::All if next.is_no() => return Ok(next),
                            _ => {}
                        }
                        acc = Some(next);
                    }
                    // `.all` over no objects at all is no.
                    Ok(acc.unwrap_or(Outcome::NO))
                }
            }
        })
    }
}

/// Whether the stored subject `s` is the asked subject `want` itself: the same object, the same subject
/// set, or a `type:*` wildcard of its type (which also answers a check of `type:*` itself).
pub(crate) fn grants_directly(s: &SubjectRef, want: &SubjectRef) -> bool {
    match &s.relation {
        None if s.is_wildcard() => {
            want.relation.is_none() && s.object.object_type == want.object.object_type
        }
        None => want.relation.is_none() && s.object == want.object,
        Some(_) => s == want,
    }
}

/// Kleene disjunction: yes if either is yes, else undecided if either is, else no.
fn union(l: Outcome, r: Outcome) -> Outcome {
    if l.allowed {
        return l;
    }
    if r.allowed {
        return r;
    }
    Outcome {
        allowed: false,
        unknown: l.unknown || r.unknown,
        cut: l.cut || r.cut,
    }
}

/// Kleene conjunction: no if either is no, else undecided if either is, else yes.
fn intersection(l: Outcome, r: Outcome) -> Outcome {
    let cut = l.cut || r.cut;
    if l.is_no() || r.is_no() {
        Outcome { cut, ..Outcome::NO }
    } else if l.allowed && r.allowed {
        Outcome {
            cut,
            ..Outcome::YES
        }
    } else {
        Outcome {
            allowed: false,
            unknown: true,
            cut,
        }
    }
}
