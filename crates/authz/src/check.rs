//! Check: does a subject have a permission (or relation) on a resource? The one evaluator of the rules.
//!
//! The walk goes over the schema's expressions and the [`RelationshipReader`]. Within one request every
//! sub-problem `(object, relation)` is memoised; a sub-problem met again while it is being computed (a
//! cycle in the data, e.g. two groups containing each other) contributes "no" on that path, or
//! "undecided" when the cycle passes through an exclusion, and is not memoised; recursion deeper than the
//! limit fails with [`CheckError::DepthExceeded`] rather than guessing.
//!
//! The evaluator is generic over the [`Evidence`] it keeps: `()` for [`Engine::check`] (zero-size, every
//! method a no-op the compiler removes), the relationships and reasons of a decision for
//! [`Engine::explain`](crate::explain). One walk, so check and explain cannot disagree on the rules.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use crate::caveat::{
    CaveatAnswer, CaveatError, Context, Evaluation, RelationshipCaveat, REQUEST_COST_LIMIT,
};
use crate::engine::{CheckError, Engine, RelationshipReader};
use crate::relationship::{ObjectRef, SubjectRef};
use crate::schema::{ArrowKind, Expr};

/// What a decision keeps besides its answer: built bottom-up as the walk returns. Every constructor
/// takes references to what it may describe, so that `()` builds nothing.
pub(crate) trait Evidence: Clone + Default {
    /// A subject set asked about itself (`group:eng#member` has `member` on `group:eng`).
    fn subject_itself(obj: &ObjectRef, name: &str) -> Self;
    /// `obj#name` met again while being computed.
    fn cycle(obj: &ObjectRef, name: &str) -> Self;
    /// `obj`'s type has no `name`, or is not defined.
    fn missing(obj: &ObjectRef, name: &str, type_defined: bool) -> Self;
    /// The stored relationship `obj#relation@s` names the subject (or its type's wildcard).
    fn direct(obj: &ObjectRef, relation: &str, s: &SubjectRef) -> Self;
    /// Granted through the subject set `s` stored in `obj#relation`.
    fn through_set(obj: &ObjectRef, relation: &str, s: &SubjectRef, sub: Self) -> Self;
    /// No relationship of `obj#relation` reaches `want`.
    fn unreached(obj: &ObjectRef, relation: &str, want: &SubjectRef) -> Self;
    /// `obj#name`'s expression includes `nil`.
    fn nil(obj: &ObjectRef, name: &str) -> Self;
    /// `name` includes `n`, which granted.
    fn includes(name: &str, n: &str, sub: Self) -> Self;
    /// Both sides of an intersection granted.
    fn both(l: Self, r: Self) -> Self;
    /// The right side of `obj#name`'s exclusion granted, so it denies.
    fn excluded(obj: &ObjectRef, name: &str, r: Self) -> Self;
    /// An arrow's object has no `target`.
    fn no_target(s: &SubjectRef, target: &str) -> Self;
    /// `obj#tupleset@s` and `s` granted `target` (`->`, `.any`).
    fn arrow_through(obj: &ObjectRef, tupleset: &str, s: &SubjectRef, sub: Self) -> Self;
    /// `.all`: `sub` says why an object of `obj#tupleset` does not grant `target`.
    fn arrow_not_every(obj: &ObjectRef, tupleset: &str, target: &str, sub: Self) -> Self;
    /// `.all`: one more object `s` of `obj#tupleset` granted.
    fn arrow_one_more(
        acc: Self,
        obj: &ObjectRef,
        tupleset: &str,
        s: &SubjectRef,
        sub: Self,
    ) -> Self;
    /// `.all`: every object of `obj#tupleset` granted `target`.
    fn arrow_every(acc: Self, obj: &ObjectRef, tupleset: &str, target: &str) -> Self;
    /// `.all` over no object of `obj#tupleset`.
    fn arrow_no_object(obj: &ObjectRef, tupleset: &str) -> Self;
    /// `->`/`.any`: no object of `obj#tupleset` granted `target`.
    fn arrow_none_grants(obj: &ObjectRef, tupleset: &str, target: &str) -> Self;
}

/// Check keeps no evidence.
impl Evidence for () {
    fn subject_itself(_: &ObjectRef, _: &str) -> Self {}
    fn cycle(_: &ObjectRef, _: &str) -> Self {}
    fn missing(_: &ObjectRef, _: &str, _: bool) -> Self {}
    fn direct(_: &ObjectRef, _: &str, _: &SubjectRef) -> Self {}
    fn through_set(_: &ObjectRef, _: &str, _: &SubjectRef, (): Self) -> Self {}
    fn unreached(_: &ObjectRef, _: &str, _: &SubjectRef) -> Self {}
    fn nil(_: &ObjectRef, _: &str) -> Self {}
    fn includes(_: &str, _: &str, (): Self) -> Self {}
    fn both((): Self, (): Self) -> Self {}
    fn excluded(_: &ObjectRef, _: &str, (): Self) -> Self {}
    fn no_target(_: &SubjectRef, _: &str) -> Self {}
    fn arrow_through(_: &ObjectRef, _: &str, _: &SubjectRef, (): Self) -> Self {}
    fn arrow_not_every(_: &ObjectRef, _: &str, _: &str, (): Self) -> Self {}
    fn arrow_one_more((): Self, _: &ObjectRef, _: &str, _: &SubjectRef, (): Self) -> Self {}
    fn arrow_every((): Self, _: &ObjectRef, _: &str, _: &str) -> Self {}
    fn arrow_no_object(_: &ObjectRef, _: &str) -> Self {}
    fn arrow_none_grants(_: &ObjectRef, _: &str, _: &str) -> Self {}
}

/// The answer to a sub-problem, with its evidence. Three-valued: besides yes and no, a sub-problem can be
/// *undecided* when it depends on itself through an exclusion (`viewer = this - restricted` with
/// `restricted` containing `viewer`): no fixed point decides it, so it must not be guessed. Undecided
/// answers propagate by Kleene's rules and a check that ends undecided is denied (fail closed), as
/// OpenFGA does.
#[derive(Clone, Debug)]
pub(crate) struct Outcome<E> {
    pub(crate) allowed: bool,
    /// Undecided (then `allowed` is false).
    pub(crate) unknown: bool,
    /// The answer depended on a cycle being cut: true for this path only, so not memoised.
    cut: bool,
    /// When undecided because of caveats: the context parameters that would decide it.
    pub(crate) missing: BTreeSet<String>,
    /// When undecided because a caveat failed (context of the wrong type, an expression error): the
    /// first such failure. The check fails with it only if the answer ends undecided.
    pub(crate) failed: Option<Box<CaveatError>>,
    pub(crate) evidence: E,
}

impl<E: Evidence> Outcome<E> {
    fn no(evidence: E) -> Self {
        Self {
            allowed: false,
            unknown: false,
            cut: false,
            missing: BTreeSet::new(),
            failed: None,
            evidence,
        }
    }

    fn yes(evidence: E) -> Self {
        Self {
            allowed: true,
            unknown: false,
            cut: false,
            missing: BTreeSet::new(),
            failed: None,
            evidence,
        }
    }

    /// Undecided by a caveat: until the context gives `missing`, or because it `failed`.
    fn undecided(gate: Gate, evidence: E) -> Self {
        let (missing, failed) = match gate {
            Gate::Missing(m) => (m, None),
            Gate::Failed(e) => (BTreeSet::new(), Some(e)),
            Gate::Open | Gate::Closed => (BTreeSet::new(), None),
        };
        Self {
            allowed: false,
            unknown: true,
            cut: false,
            missing,
            failed,
            evidence,
        }
    }

    /// What a check answers for this outcome.
    pub(crate) fn permissionship(self) -> Result<Permissionship, CheckError> {
        if self.allowed {
            return Ok(Permissionship::Has);
        }
        if !self.unknown {
            return Ok(Permissionship::No);
        }
        if let Some(e) = self.failed {
            return Err(CheckError::Caveat(*e));
        }
        Ok(if self.missing.is_empty() {
            // Undecided by a cycle through an exclusion only: denied.
            Permissionship::No
        } else {
            Permissionship::Conditional(self.missing)
        })
    }

    /// Definitely no (not undecided).
    fn is_no(&self) -> bool {
        !self.allowed && !self.unknown
    }
}

/// What a stored relationship's caveat says for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// No caveat, or it holds.
    Open,
    /// It does not hold: the relationship is absent.
    Closed,
    /// It needs these parameters.
    Missing(BTreeSet<String>),
    /// It failed to evaluate.
    Failed(Box<CaveatError>),
}

/// The undecided parts of two outcomes together.
fn merged<E>(
    l: &mut Outcome<E>,
    r: &mut Outcome<E>,
) -> (BTreeSet<String>, Option<Box<CaveatError>>) {
    let mut missing = std::mem::take(&mut l.missing);
    missing.append(&mut r.missing);
    (missing, l.failed.take().or_else(|| r.failed.take()))
}

type Step<'a, E> = Pin<Box<dyn Future<Output = Result<Outcome<E>, CheckError>> + 'a>>;

/// A check's answer: has the permission, has not, or has it only if the context (still missing the named
/// parameters) satisfies the caveats on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permissionship {
    Has,
    No,
    Conditional(BTreeSet<String>),
}

/// One request's state: the subject, the caveat context, the memo, the sub-problems in progress.
pub(crate) struct Request<'s, E> {
    subject: &'s SubjectRef,
    /// The caveat context, typed once, and the budget all the request's caveats share.
    caveats: Evaluation<'s>,
    memo: RefCell<HashMap<(ObjectRef, String), Outcome<E>>>,
    /// Sub-problems being computed, with how many exclusions deep (`negations`) each was entered.
    in_progress: RefCell<HashMap<(ObjectRef, String), u32>>,
    /// How many exclusion right-hand sides the current evaluation is inside.
    negations: std::cell::Cell<u32>,
}

impl<'s, E> Request<'s, E> {
    pub(crate) fn new(subject: &'s SubjectRef) -> Self {
        Self::with_context(subject, None)
    }

    pub(crate) fn with_context(subject: &'s SubjectRef, context: Option<&'s Context>) -> Self {
        static NO_CONTEXT: OnceLock<Context> = OnceLock::new();
        let context = context.unwrap_or_else(|| NO_CONTEXT.get_or_init(Context::new));
        Self {
            subject,
            caveats: Evaluation::new(context, REQUEST_COST_LIMIT),
            memo: RefCell::default(),
            in_progress: RefCell::default(),
            negations: std::cell::Cell::new(0),
        }
    }
}

impl<R: RelationshipReader> Engine<'_, R> {
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
        let req = Request::<()>::new(subject);
        Ok(self
            .name(&req, resource.clone(), permission.to_owned(), 0)
            .await?
            .allowed)
    }

    /// Whether `subject` has `permission` on `resource` given the caveat `context`: three-valued when
    /// caveats on the way need parameters the context does not give.
    ///
    /// # Errors
    /// As [`check`](Self::check), and [`CheckError::Caveat`] for context of the wrong type or a caveat
    /// whose expression fails.
    pub async fn check_with_context(
        &self,
        resource: &ObjectRef,
        permission: &str,
        subject: &SubjectRef,
        context: &Context,
    ) -> Result<Permissionship, CheckError> {
        self.validate_question(&resource.object_type, permission, subject)?;
        let req = Request::<()>::with_context(subject, Some(context));
        self.name(&req, resource.clone(), permission.to_owned(), 0)
            .await?
            .permissionship()
    }

    /// What the caveat `c` (if any) of a stored relationship says for this request.
    fn gate<E>(&self, req: &Request<'_, E>, c: Option<&RelationshipCaveat>) -> Gate {
        let Some(c) = c else {
            return Gate::Open;
        };
        let answer = match self.schema.caveats.get(&c.name) {
            Some(caveat) => caveat.evaluate(&c.name, &c.context, &req.caveats),
            None => Err(CaveatError::Unknown(c.name.clone())),
        };
        match answer {
            Ok(CaveatAnswer::Satisfied) => Gate::Open,
            Ok(CaveatAnswer::Unsatisfied) => Gate::Closed,
            Ok(CaveatAnswer::Missing(m)) => Gate::Missing(m),
            Err(e) => Gate::Failed(Box::new(e)),
        }
    }

    /// Decide `name` on `obj` for the request's subject.
    pub(crate) fn name<'r, E: Evidence + 'r>(
        &'r self,
        req: &'r Request<'_, E>,
        obj: ObjectRef,
        name: String,
        depth: u32,
    ) -> Step<'r, E> {
        Box::pin(async move {
            if depth > self.max_depth {
                return Err(CheckError::DepthExceeded(self.max_depth));
            }
            if req.subject.object == obj && req.subject.relation.as_deref() == Some(name.as_str()) {
                return Ok(Outcome::yes(E::subject_itself(&obj, &name)));
            }
            let key = (obj, name);
            if let Some(known) = req.memo.borrow().get(&key) {
                return Ok(known.clone());
            }
            let entered_at = req.in_progress.borrow().get(&key).copied();
            if let Some(entered_at) = entered_at {
                // A cycle. Met again without passing through an exclusion, it adds nothing this path
                // could prove (least fixed point: no). Through an exclusion, it is undecided.
                return Ok(Outcome {
                    allowed: false,
                    unknown: req.negations.get() > entered_at,
                    cut: true,
                    missing: BTreeSet::new(),
                    failed: None,
                    evidence: E::cycle(&key.0, &key.1),
                });
            }
            req.in_progress
                .borrow_mut()
                .insert(key.clone(), req.negations.get());
            let (obj, name) = &key;
            let result = match self.schema.definition(&obj.object_type) {
                Some(def) if def.relations.contains_key(name) => {
                    match def.relations.get(name).and_then(|r| r.rewrite.as_ref()) {
                        Some(expr) => self.expr(req, obj, name, expr, depth).await,
                        None => self.relation(req, obj, name, depth).await,
                    }
                }
                Some(def) => match def.permissions.get(name) {
                    Some(expr) => self.expr(req, obj, name, expr, depth).await,
                    None => Ok(Outcome::no(E::missing(obj, name, true))),
                },
                None => Ok(Outcome::no(E::missing(obj, name, false))),
            };
            req.in_progress.borrow_mut().remove(&key);
            let outcome = result?;
            if !outcome.cut {
                req.memo.borrow_mut().insert(key, outcome.clone());
            }
            Ok(outcome)
        })
    }

    async fn relation<E: Evidence>(
        &self,
        req: &Request<'_, E>,
        obj: &ObjectRef,
        relation: &str,
        depth: u32,
    ) -> Result<Outcome<E>, CheckError> {
        if self.allows_caveats(&obj.object_type, relation) {
            let subjects = self.stored_caveated(obj, relation).await?;
            let pairs = subjects.iter().map(|(s, c)| (s, c.as_ref()));
            self.stored_grant(req, obj, relation, depth, pairs).await
        } else {
            let subjects = self.stored(obj, relation).await?;
            let pairs = subjects.iter().map(|s| (s, None));
            self.stored_grant(req, obj, relation, depth, pairs).await
        }
    }

    /// Whether the stored `subjects` of `obj#relation` (each with its caveat, if any) give the request's
    /// subject the relation: directly first (it costs nothing, while a subject set may need a long
    /// walk), then through subject sets. A caveated relationship counts while its caveat holds, and
    /// makes the answer conditional while the context misses what the caveat needs.
    async fn stored_grant<'s, E: Evidence>(
        &self,
        req: &Request<'_, E>,
        obj: &ObjectRef,
        relation: &str,
        depth: u32,
        subjects: impl Iterator<Item = (&'s SubjectRef, Option<&'s RelationshipCaveat>)> + Clone,
    ) -> Result<Outcome<E>, CheckError> {
        let want = req.subject;
        let mut acc = Outcome::no(E::default());
        for (s, c) in subjects.clone().filter(|(s, _)| grants_directly(s, want)) {
            match self.gate(req, c) {
                Gate::Open => return Ok(Outcome::yes(E::direct(obj, relation, s))),
                Gate::Closed => {}
                undecided => {
                    acc = union(
                        acc,
                        Outcome::undecided(undecided, E::direct(obj, relation, s)),
                    );
                }
            }
        }
        for (s, c) in subjects {
            let Some(r) = &s.relation else { continue };
            let gate = self.gate(req, c);
            if gate == Gate::Closed {
                continue;
            }
            let o = self
                .name(req, s.object.clone(), r.clone(), depth + 1)
                .await?;
            // Present (if its caveat holds) and granting.
            let o = match gate {
                Gate::Open => o,
                undecided => intersection(Outcome::undecided(undecided, E::default()), o),
            };
            if o.allowed {
                return Ok(Outcome {
                    evidence: E::through_set(obj, relation, s, o.evidence),
                    ..o
                });
            }
            acc = union(acc, o);
        }
        if !acc.unknown {
            acc.evidence = E::unreached(obj, relation, want);
        }
        Ok(acc)
    }

    /// Decide `expr`, part of the expression of `obj#name`.
    fn expr<'r, E: Evidence + 'r>(
        &'r self,
        req: &'r Request<'_, E>,
        obj: &'r ObjectRef,
        name: &'r str,
        expr: &'r Expr,
        depth: u32,
    ) -> Step<'r, E> {
        Box::pin(async move {
            match expr {
                Expr::Nil => Ok(Outcome::no(E::nil(obj, name))),
                Expr::Direct(r) => self.relation(req, obj, r, depth).await,
                Expr::Ref(n) => {
                    let sub = self.name(req, obj.clone(), n.clone(), depth + 1).await?;
                    Ok(if sub.allowed {
                        Outcome {
                            evidence: E::includes(name, n, sub.evidence),
                            ..sub
                        }
                    } else {
                        sub
                    })
                }
                Expr::Union(a, b) => {
                    let l = self.expr(req, obj, name, a, depth).await?;
                    if l.allowed {
                        return Ok(l);
                    }
                    let r = self.expr(req, obj, name, b, depth).await?;
                    Ok(union(l, r))
                }
                Expr::Intersection(a, b) => {
                    let l = self.expr(req, obj, name, a, depth).await?;
                    if l.is_no() {
                        return Ok(l);
                    }
                    let r = self.expr(req, obj, name, b, depth).await?;
                    Ok(intersection(l, r))
                }
                Expr::Exclusion(a, b) => {
                    let l = self.expr(req, obj, name, a, depth).await?;
                    if l.is_no() {
                        return Ok(l);
                    }
                    req.negations.set(req.negations.get() + 1);
                    let r = self.expr(req, obj, name, b, depth).await;
                    req.negations.set(req.negations.get() - 1);
                    let r = r?;
                    let cut = l.cut || r.cut;
                    Ok(if r.allowed {
                        Outcome {
                            cut,
                            ..Outcome::no(E::excluded(obj, name, r.evidence))
                        }
                    } else if l.allowed && !r.unknown {
                        Outcome { cut, ..l }
                    } else {
                        let (mut l, mut r) = (l, r);
                        let (missing, failed) = merged(&mut l, &mut r);
                        Outcome {
                            allowed: false,
                            unknown: true,
                            cut,
                            missing,
                            failed,
                            evidence: if r.unknown { r.evidence } else { l.evidence },
                        }
                    })
                }
                Expr::Arrow {
                    tupleset,
                    kind,
                    target,
                } => self.arrow(req, obj, tupleset, *kind, target, depth).await,
            }
        })
    }

    /// `tupleset->target`, `tupleset.any(target)` or `tupleset.all(target)` on `obj`.
    async fn arrow<E: Evidence>(
        &self,
        req: &Request<'_, E>,
        obj: &ObjectRef,
        tupleset: &str,
        kind: ArrowKind,
        target: &str,
        depth: u32,
    ) -> Result<Outcome<E>, CheckError> {
        let subjects: crate::engine::CaveatedSubjects =
            if self.allows_caveats(&obj.object_type, tupleset) {
                self.stored_caveated(obj, tupleset).await?
            } else {
                self.stored(obj, tupleset)
                    .await?
                    .into_iter()
                    .map(|s| (s, None))
                    .collect()
            };
        let mut acc: Option<Outcome<E>> = None;
        // `.all` needs at least one object related: known once a relationship's caveat holds (or it
        // has none); until then, it hangs on the undecided ones.
        let mut present = false;
        let mut maybe_present: Option<Outcome<E>> = None;
        for (s, c) in subjects.iter().filter(|(s, _)| !s.is_wildcard()) {
            // A caveat on the arrow's own relationship gates the object it leads to.
            let gate = self.gate(req, c.as_ref());
            if gate == Gate::Closed {
                continue;
            }

            let has_target = self
                .schema
                .definition(&s.object.object_type)
                .is_some_and(|d| d.has(target));
            let o = if has_target {
                self.name(req, s.object.clone(), target.to_owned(), depth + 1)
                    .await?
            } else {
                Outcome::no(E::no_target(s, target))
            };
            // `.all` needs some object present that may grant: one whose relationship is certain, or
            // undecided with a target that is not a plain no (an object that cannot grant must be
            // absent, so it cannot be the one).
            if kind == ArrowKind::All && !o.is_no() {
                if gate == Gate::Open {
                    present = true;
                } else {
                    let u = Outcome::undecided(gate.clone(), E::default());
                    maybe_present = Some(match maybe_present {
                        Some(m) => union(m, u),
                        None => u,
                    });
                }
            }
            let o = match (gate, kind) {
                (Gate::Open, _) => o,
                // `->`/`.any`: this object counts if the relationship is present and it grants.
                (undecided, ArrowKind::Any) => {
                    intersection(Outcome::undecided(undecided, E::default()), o)
                }
                // `.all`: if the relationship is present, the object must grant; if it is absent, it
                // does not count. A granting object is fine either way.
                (_, ArrowKind::All) if o.allowed => o,
                (undecided, ArrowKind::All) => {
                    union(Outcome::undecided(undecided, E::default()), o)
                }
            };
            acc = Some(match (kind, acc) {
                (ArrowKind::Any, _) if o.allowed => {
                    return Ok(Outcome {
                        evidence: E::arrow_through(obj, tupleset, s, o.evidence),
                        ..o
                    });
                }
                (ArrowKind::Any, None) => o,
                (ArrowKind::Any, Some(a)) => union(a, o),
                (ArrowKind::All, a) if o.is_no() => {
                    let cut = o.cut || a.is_some_and(|a| a.cut);
                    return Ok(Outcome {
                        cut,
                        ..Outcome::no(E::arrow_not_every(obj, tupleset, target, o.evidence))
                    });
                }
                (ArrowKind::All, None) if o.allowed => Outcome {
                    evidence: E::arrow_one_more(E::default(), obj, tupleset, s, o.evidence),
                    ..o
                },
                (ArrowKind::All, None) => o,
                (ArrowKind::All, Some(a)) if a.allowed && o.allowed => Outcome {
                    allowed: true,
                    unknown: false,
                    cut: a.cut || o.cut,
                    missing: BTreeSet::new(),
                    failed: None,
                    evidence: E::arrow_one_more(a.evidence, obj, tupleset, s, o.evidence),
                },
                (ArrowKind::All, Some(a)) => intersection(a, o),
            });
        }
        Ok(match (kind, acc) {
            // `.all` over no objects at all is no.
            (ArrowKind::All, None) => Outcome::no(E::arrow_no_object(obj, tupleset)),
            // No object is certainly related and may grant: it hangs on the undecided ones being
            // present (none: no).
            (ArrowKind::All, Some(a)) if !present => {
                let exists =
                    maybe_present.unwrap_or_else(|| Outcome::no(E::arrow_no_object(obj, tupleset)));
                if a.allowed {
                    exists
                } else {
                    intersection(exists, a)
                }
            }
            (ArrowKind::All, Some(a)) if a.allowed => Outcome {
                evidence: E::arrow_every(a.evidence, obj, tupleset, target),
                ..a
            },
            (ArrowKind::Any, None) => Outcome::no(E::arrow_none_grants(obj, tupleset, target)),
            (ArrowKind::Any, Some(a)) if !a.unknown => Outcome {
                evidence: E::arrow_none_grants(obj, tupleset, target),
                ..a
            },
            (_, Some(a)) => a,
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

/// Kleene disjunction: yes if either is yes, else undecided if either is, else no. The evidence of a
/// denial is the undecided side's, else the right side's (the last tried).
fn union<E: Evidence>(l: Outcome<E>, r: Outcome<E>) -> Outcome<E> {
    if l.allowed {
        return l;
    }
    if r.allowed {
        return r;
    }
    let (mut l, mut r) = (l, r);
    let (missing, failed) = merged(&mut l, &mut r);
    let evidence = if r.unknown || !l.unknown {
        r.evidence
    } else {
        l.evidence
    };
    Outcome {
        allowed: false,
        unknown: l.unknown || r.unknown,
        cut: l.cut || r.cut,
        missing,
        failed,
        evidence,
    }
}

/// Kleene conjunction: no if either is no, else undecided if either is, else yes. The evidence of a
/// grant is both sides'; of a denial, the denying (or undecided) side's.
fn intersection<E: Evidence>(l: Outcome<E>, r: Outcome<E>) -> Outcome<E> {
    let cut = l.cut || r.cut;
    if l.is_no() {
        Outcome { cut, ..l }
    } else if r.is_no() {
        Outcome { cut, ..r }
    } else if l.allowed && r.allowed {
        Outcome {
            cut,
            ..Outcome::yes(E::both(l.evidence, r.evidence))
        }
    } else {
        let (mut l, mut r) = (l, r);
        let (missing, failed) = merged(&mut l, &mut r);
        Outcome {
            allowed: false,
            unknown: true,
            cut,
            missing,
            failed,
            evidence: if l.unknown { l.evidence } else { r.evidence },
        }
    }
}
