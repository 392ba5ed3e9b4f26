//! Why a decision came out as it did, for audit records and for people debugging a schema.
//!
//! [`Engine::explain`] decides the same question as [`Engine::check`] by the same rules, but keeps the
//! evidence: for an allowed answer, the relationships on one granting path, from the resource down to the
//! subject; for a denial, what blocked it (the relationships that excluded the subject, the part of an
//! intersection that was missing, an undecidable cycle) or that no path exists. It memoises nothing, so it
//! is for single decisions, not for the hot path.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use crate::engine::{grants_directly, CheckError, Engine, RelationshipReader};
use crate::relationship::{ObjectRef, Relationship, SubjectRef};
use crate::schema::{ArrowKind, Expr};

/// The answer with its reasons.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    pub allowed: bool,
    /// Allowed: the relationships of one granting path, resource first. Denied: those that denied it
    /// (e.g. the path to an exclusion), if any.
    pub relationships: Vec<String>,
    /// A sentence for a person: how it was granted, or why not.
    pub reason: String,
}

#[derive(Clone, Debug)]
struct Ex {
    allowed: bool,
    /// Decided by a cycle through an exclusion: neither yes nor no.
    undecided: bool,
    relationships: Vec<String>,
    reason: String,
}

impl Ex {
    fn no(reason: impl Into<String>) -> Self {
        Self {
            allowed: false,
            undecided: false,
            relationships: Vec::new(),
            reason: reason.into(),
        }
    }

    fn yes(relationships: Vec<String>, reason: impl Into<String>) -> Self {
        Self {
            allowed: true,
            undecided: false,
            relationships,
            reason: reason.into(),
        }
    }
}

type ExStep<'a> = Pin<Box<dyn Future<Output = Result<Ex, CheckError>> + 'a>>;

struct State<'s> {
    subject: &'s SubjectRef,
    in_progress: RefCell<Vec<((ObjectRef, String), u32)>>,
    negations: std::cell::Cell<u32>,
}

impl<R: RelationshipReader> Engine<'_, R> {
    /// [`Engine::check`] with its reasons.
    ///
    /// # Errors
    /// As [`Engine::check`].
    pub async fn explain(
        &self,
        resource: &ObjectRef,
        permission: &str,
        subject: &SubjectRef,
    ) -> Result<Explanation, CheckError> {
        self.validate_question(&resource.object_type, permission, subject)?;
        let st = State {
            subject,
            in_progress: RefCell::new(Vec::new()),
            negations: std::cell::Cell::new(0),
        };
        let ex = self
            .ex_name(&st, resource.clone(), permission.to_owned(), 0)
            .await?;
        let reason = if ex.allowed {
            format!("{subject} has {permission} on {resource}: {}", ex.reason)
        } else if ex.undecided {
            format!("denied: {} (undecidable, so denied)", ex.reason)
        } else {
            format!("denied: {}", ex.reason)
        };
        Ok(Explanation {
            allowed: ex.allowed,
            relationships: ex.relationships,
            reason,
        })
    }

    fn ex_name<'r>(
        &'r self,
        st: &'r State<'_>,
        obj: ObjectRef,
        name: String,
        depth: u32,
    ) -> ExStep<'r> {
        Box::pin(async move {
            if depth > self.max_depth {
                return Err(CheckError::DepthExceeded(self.max_depth));
            }
            if st.subject.object == obj && st.subject.relation.as_deref() == Some(name.as_str()) {
                return Ok(Ex::yes(
                    Vec::new(),
                    format!("{obj}#{name} is the subject itself"),
                ));
            }
            let key = (obj, name);
            let entered = st
                .in_progress
                .borrow()
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, n)| *n);
            if let Some(entered) = entered {
                let mut ex = Ex::no(format!("{}#{} depends on itself", key.0, key.1));
                ex.undecided = st.negations.get() > entered;
                return Ok(ex);
            }
            st.in_progress
                .borrow_mut()
                .push((key.clone(), st.negations.get()));
            let (obj, name) = &key;
            let def = self.schema.definition(&obj.object_type);
            let result = match def {
                Some(d) if d.relations.contains_key(name) => {
                    match d.relations.get(name).and_then(|r| r.rewrite.as_ref()) {
                        Some(expr) => self.ex_expr(st, obj, name, expr, depth).await,
                        None => self.ex_relation(st, obj, name, depth).await,
                    }
                }
                Some(d) => match d.permissions.get(name) {
                    Some(expr) => self.ex_expr(st, obj, name, expr, depth).await,
                    None => Ok(Ex::no(format!("{} has no {name}", obj.object_type))),
                },
                None => Ok(Ex::no(format!("type {} is not defined", obj.object_type))),
            };
            st.in_progress.borrow_mut().retain(|(k, _)| *k != key);
            result
        })
    }

    async fn ex_relation(
        &self,
        st: &State<'_>,
        obj: &ObjectRef,
        relation: &str,
        depth: u32,
    ) -> Result<Ex, CheckError> {
        let subjects = self.stored(obj, relation).await?;
        let want = st.subject;
        let fact = |s: &SubjectRef| {
            Relationship {
                resource: obj.clone(),
                relation: relation.to_owned(),
                subject: s.clone(),
            }
            .to_string()
        };
        for s in &subjects {
            let direct = grants_directly(s, want);
            if direct {
                return Ok(Ex::yes(vec![fact(s)], format!("directly, by {}", fact(s))));
            }
        }
        let mut undecided = None;
        for s in &subjects {
            if let Some(r) = &s.relation {
                let sub = self
                    .ex_name(st, s.object.clone(), r.clone(), depth + 1)
                    .await?;
                if sub.allowed {
                    let mut rels = vec![fact(s)];
                    rels.extend(sub.relationships);
                    return Ok(Ex::yes(rels, format!("through {}#{r}", s.object)));
                }
                if sub.undecided {
                    undecided = Some(sub);
                }
            }
        }
        Ok(undecided
            .unwrap_or_else(|| Ex::no(format!("no relationship {obj}#{relation} reaches {want}"))))
    }

    fn ex_expr<'r>(
        &'r self,
        st: &'r State<'_>,
        obj: &'r ObjectRef,
        name: &'r str,
        expr: &'r Expr,
        depth: u32,
    ) -> ExStep<'r> {
        Box::pin(async move {
            match expr {
                Expr::Nil => Ok(Ex::no(format!("{obj}#{name} includes nil"))),
                Expr::Direct(r) => self.ex_relation(st, obj, r, depth).await,
                Expr::Ref(n) => {
                    let sub = self.ex_name(st, obj.clone(), n.clone(), depth + 1).await?;
                    Ok(if sub.allowed {
                        Ex::yes(
                            sub.relationships,
                            format!("{name} includes {n}, {}", sub.reason),
                        )
                    } else {
                        sub
                    })
                }
                Expr::Union(a, b) => {
                    let l = self.ex_expr(st, obj, name, a, depth).await?;
                    if l.allowed {
                        return Ok(l);
                    }
                    let r = self.ex_expr(st, obj, name, b, depth).await?;
                    if r.allowed || r.undecided || !l.undecided {
                        Ok(r)
                    } else {
                        Ok(l)
                    }
                }
                Expr::Intersection(a, b) => {
                    let l = self.ex_expr(st, obj, name, a, depth).await?;
                    if !l.allowed {
                        return Ok(l);
                    }
                    let r = self.ex_expr(st, obj, name, b, depth).await?;
                    if !r.allowed {
                        return Ok(r);
                    }
                    let mut rels = l.relationships;
                    rels.extend(r.relationships);
                    Ok(Ex::yes(rels, format!("{} and {}", l.reason, r.reason)))
                }
                Expr::Exclusion(a, b) => {
                    let l = self.ex_expr(st, obj, name, a, depth).await?;
                    if !l.allowed {
                        return Ok(l);
                    }
                    st.negations.set(st.negations.get() + 1);
                    let r = self.ex_expr(st, obj, name, b, depth).await;
                    st.negations.set(st.negations.get() - 1);
                    let r = r?;
                    if r.allowed {
                        return Ok(Ex {
                            allowed: false,
                            undecided: false,
                            relationships: r.relationships,
                            reason: format!("excluded from {obj}#{name}: {}", r.reason),
                        });
                    }
                    if r.undecided {
                        return Ok(r);
                    }
                    Ok(l)
                }
                Expr::Arrow {
                    tupleset,
                    kind,
                    target,
                } => {
                    let subjects = self.stored(obj, tupleset).await?;
                    let mut all_rels = Vec::new();
                    let mut seen_any = false;
                    let mut undecided = None;
                    for s in subjects.iter().filter(|s| !s.is_wildcard()) {
                        let has = self
                            .schema
                            .definition(&s.object.object_type)
                            .is_some_and(|d| d.has(target));
                        let sub = if has {
                            self.ex_name(st, s.object.clone(), target.clone(), depth + 1)
                                .await?
                        } else {
                            Ex::no(format!("{} has no {target}", s.object.object_type))
                        };
                        seen_any = true;
                        let fact = format!("{obj}#{tupleset}@{s}");
                        match kind {
                            ArrowKind::Any if sub.allowed => {
                                let mut rels = vec![fact];
                                rels.extend(sub.relationships);
                                return Ok(Ex::yes(
                                    rels,
                                    format!("through {tupleset} {}: {}", s.object, sub.reason),
                                ));
                            }
                            ArrowKind::All if !sub.allowed => {
                                return Ok(Ex {
                                    reason: format!(
                                        "not every {tupleset} of {obj} grants {target}: {}",
                                        sub.reason
                                    ),
                                    ..sub
                                });
                            }
                            ArrowKind::All => {
                                all_rels.push(fact);
                                all_rels.extend(sub.relationships);
                            }
                            ArrowKind::Any => {
                                if sub.undecided {
                                    undecided = Some(sub);
                                }
                            }
                        }
                    }
                    Ok(match kind {
                        ArrowKind::All if seen_any => Ex::yes(
                            all_rels,
                            format!("every {tupleset} of {obj} grants {target}"),
                        ),
                        ArrowKind::All => Ex::no(format!("{obj} has no {tupleset}")),
                        ArrowKind::Any => undecided.unwrap_or_else(|| {
                            Ex::no(format!("no {tupleset} of {obj} grants {target}"))
                        }),
                    })
                }
            }
        })
    }
}
