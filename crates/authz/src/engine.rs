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

#[derive(Clone, Copy, Debug)]
struct Outcome {
    allowed: bool,
    /// The answer depended on a cycle being cut: true for this path only, so not memoised.
    cut: bool,
}

type Step<'a> = Pin<Box<dyn Future<Output = Result<Outcome, CheckError>> + 'a>>;

struct Request<'s> {
    subject: &'s SubjectRef,
    memo: RefCell<HashMap<(ObjectRef, String), bool>>,
    in_progress: RefCell<HashSet<(ObjectRef, String)>>,
}

pub struct Engine<'a, R> {
    schema: &'a Schema,
    reader: &'a R,
    max_depth: u32,
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
        let def = self
            .schema
            .definition(&resource.object_type)
            .ok_or_else(|| CheckError::UnknownType(resource.object_type.clone()))?;
        if !def.has(permission) {
            return Err(CheckError::UnknownPermission {
                object_type: resource.object_type.clone(),
                name: permission.to_owned(),
            });
        }
        if self
            .schema
            .definition(&subject.object.object_type)
            .is_none()
        {
            return Err(CheckError::UnknownType(subject.object.object_type.clone()));
        }
        let req = Request {
            subject,
            memo: RefCell::default(),
            in_progress: RefCell::default(),
        };
        Ok(self
            .name(&req, resource.clone(), permission.to_owned(), 0)
            .await?
            .allowed)
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
                return Ok(Outcome {
                    allowed: true,
                    cut: false,
                });
            }
            let key = (obj, name);
            if let Some(&allowed) = req.memo.borrow().get(&key) {
                return Ok(Outcome {
                    allowed,
                    cut: false,
                });
            }
            if !req.in_progress.borrow_mut().insert(key.clone()) {
                return Ok(Outcome {
                    allowed: false,
                    cut: true,
                });
            }
            let (obj, name) = &key;
            let result = match self.schema.definition(&obj.object_type) {
                Some(def) if def.relations.contains_key(name) => {
                    self.relation(req, obj, name, depth).await
                }
                Some(def) => match def.permissions.get(name) {
                    Some(expr) => self.expr(req, obj, expr, depth).await,
                    None => Ok(Outcome {
                        allowed: false,
                        cut: false,
                    }),
                },
                None => Ok(Outcome {
                    allowed: false,
                    cut: false,
                }),
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
        let subjects = self
            .reader
            .subjects(obj, relation)
            .await
            .map_err(CheckError::Store)?;
        let want = req.subject;
        let mut cut = false;
        for s in &subjects {
            match &s.relation {
                None if s.is_wildcard() => {
                    if want.relation.is_none()
                        && !want.is_wildcard()
                        && s.object.object_type == want.object.object_type
                    {
                        return Ok(Outcome {
                            allowed: true,
                            cut: false,
                        });
                    }
                }
                None => {
                    if want.relation.is_none() && s.object == want.object {
                        return Ok(Outcome {
                            allowed: true,
                            cut: false,
                        });
                    }
                }
                Some(r) => {
                    if s == want {
                        return Ok(Outcome {
                            allowed: true,
                            cut: false,
                        });
                    }
                    let o = self
                        .name(req, s.object.clone(), r.clone(), depth + 1)
                        .await?;
                    if o.allowed {
                        return Ok(Outcome {
                            allowed: true,
                            cut: false,
                        });
                    }
                    cut |= o.cut;
                }
            }
        }
        Ok(Outcome {
            allowed: false,
            cut,
        })
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
                Expr::Nil => Ok(Outcome {
                    allowed: false,
                    cut: false,
                }),
                Expr::Ref(n) => self.name(req, obj.clone(), n.clone(), depth + 1).await,
                Expr::Union(a, b) => {
                    let l = self.expr(req, obj, a, depth).await?;
                    if l.allowed {
                        return Ok(l);
                    }
                    let r = self.expr(req, obj, b, depth).await?;
                    Ok(Outcome {
                        allowed: r.allowed,
                        cut: if r.allowed { r.cut } else { l.cut || r.cut },
                    })
                }
                Expr::Intersection(a, b) => {
                    let l = self.expr(req, obj, a, depth).await?;
                    if !l.allowed {
                        return Ok(l);
                    }
                    let r = self.expr(req, obj, b, depth).await?;
                    Ok(Outcome {
                        allowed: r.allowed,
                        cut: l.cut || r.cut,
                    })
                }
                Expr::Exclusion(a, b) => {
                    let l = self.expr(req, obj, a, depth).await?;
                    if !l.allowed {
                        return Ok(l);
                    }
                    let r = self.expr(req, obj, b, depth).await?;
                    Ok(Outcome {
                        allowed: !r.allowed,
                        cut: l.cut || r.cut,
                    })
                }
                Expr::Arrow {
                    tupleset,
                    kind,
                    target,
                } => {
                    let subjects = self
                        .reader
                        .subjects(obj, tupleset)
                        .await
                        .map_err(CheckError::Store)?;
                    let mut cut = false;
                    let mut seen_any = false;
                    for s in subjects.iter().filter(|s| !s.is_wildcard()) {
                        let has_target = self
                            .schema
                            .definition(&s.object.object_type)
                            .is_some_and(|d| d.has(target));
                        let o = if has_target {
                            self.name(req, s.object.clone(), target.clone(), depth + 1)
                                .await?
                        } else {
                            Outcome {
                                allowed: false,
                                cut: false,
                            }
                        };
                        seen_any = true;
                        cut |= o.cut;
                        match kind {
                            ArrowKind::Any if o.allowed => {
                                return Ok(Outcome {
                                    allowed: true,
                                    cut: o.cut,
                                })
                            }
                            ArrowKind::All if !o.allowed => {
                                return Ok(Outcome {
                                    allowed: false,
                                    cut,
                                })
                            }
                            _ => {}
                        }
                    }
                    Ok(Outcome {
                        allowed: *kind == ArrowKind::All && seen_any,
                        cut,
                    })
                }
            }
        })
    }
}
