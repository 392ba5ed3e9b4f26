//! Lookups: which resources a subject can reach (a reverse walk over relationships and the schema, each
//! candidate then decided as check decides it), and which subjects have a permission on a resource.

use std::collections::{HashMap, HashSet};

use crate::check::Request;
use crate::engine::{CheckError, Engine, RelationshipReader};
use crate::relationship::{ObjectRef, SubjectRef};
use crate::schema::{Expr, Schema};

/// A page of [`Engine::lookup_resources_with_context`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcesFound {
    /// The ids the subject has the permission on.
    pub ids: Vec<String>,
    /// Ids the subject has it on only if the caveat context gave these parameters (counted against
    /// the limit with `ids`).
    pub conditional: Vec<(String, std::collections::BTreeSet<String>)>,
    /// Where the next page starts, when `limit` was reached.
    pub cursor: Option<String>,
}

/// Candidates whose relations `lookup_resources` asks the store to load at once.
const PREFETCH_BATCH: usize = 250;

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
                let mut types: Vec<&str> = schema
                    .definition(def_name)
                    .and_then(|d| d.relations.get(tupleset))
                    .into_iter()
                    .flat_map(crate::schema::Relation::subject_types)
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

/// The answer of [`Engine::lookup_subjects`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FoundSubjects {
    /// The ids that have the permission, in id order, after `*` when a wildcard grants it.
    pub ids: Vec<String>,
    /// When `ids` holds `*`: the ids of the type the wildcard does not reach (an exclusion removes them,
    /// or an intersection lacks them), in id order. Empty otherwise.
    pub excluded: Vec<String>,
}

impl<R: RelationshipReader> Engine<'_, R> {
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
        let page = self
            .lookup_resources_with_context(resource_type, permission, subject, after, limit, None)
            .await?;
        Ok((page.ids, page.cursor))
    }

    /// [`lookup_resources`](Self::lookup_resources) with caveat `context`: the resources the subject
    /// has the permission on, and apart from them those it has it on only if the context gave what
    /// is still missing (together at most `limit`).
    ///
    /// # Errors
    /// As [`Engine::check_with_context`].
    pub async fn lookup_resources_with_context(
        &self,
        resource_type: &str,
        permission: &str,
        subject: &SubjectRef,
        after: Option<&str>,
        limit: usize,
        context: Option<&crate::caveat::Context>,
    ) -> Result<ResourcesFound, CheckError> {
        self.validate_question(resource_type, permission, subject)?;
        let candidates = self.reachable(subject, resource_type, permission).await?;
        let req = Request::<()>::with_context(subject, context);
        let mut conditional = Vec::new();
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
            if found.len() + conditional.len() == limit {
                // The last candidate decided: the next page starts after it.
                let cursor = i
                    .checked_sub(1)
                    .and_then(|p| ordered.get(p))
                    .map(|id| (*id).clone());
                return Ok(ResourcesFound {
                    ids: found,
                    conditional,
                    cursor,
                });
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
            match self
                .name(&req, obj, permission.to_owned(), 0)
                .await?
                .permissionship()?
            {
                crate::check::Permissionship::Has => found.push(id.clone()),
                crate::check::Permissionship::Conditional(m) => conditional.push((id.clone(), m)),
                crate::check::Permissionship::No => {}
            }
        }
        Ok(ResourcesFound {
            ids: found,
            conditional,
            cursor: None,
        })
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
            .flat_map(crate::schema::Relation::subject_types)
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
}
