//! Why a decision came out as it did, for audit records and for people debugging a schema.
//!
//! [`Engine::explain`] is [`Engine::check`]'s walk (the same evaluator, see `check`) keeping evidence:
//! for an allowed answer, the relationships on one granting path, from the resource down to the subject;
//! for a denial, what blocked it (the relationships that excluded the subject, the part of an
//! intersection that was missing, an undecidable cycle) or that no path exists.

use crate::check::{Evidence, Request};
use crate::engine::{CheckError, Engine, RelationshipReader};
use crate::relationship::{ObjectRef, Relationship, SubjectRef};

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

/// The evidence explain keeps: relationships and a reason.
#[derive(Clone, Debug, Default)]
struct Trail {
    relationships: Vec<String>,
    reason: String,
}

impl Trail {
    fn says(reason: String) -> Self {
        Self {
            relationships: Vec::new(),
            reason,
        }
    }

    fn with(relationships: Vec<String>, reason: String) -> Self {
        Self {
            relationships,
            reason,
        }
    }
}

/// `first` then `rest`.
fn path(first: String, rest: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(rest.len() + 1);
    out.push(first);
    out.extend(rest);
    out
}

impl Evidence for Trail {
    fn subject_itself(obj: &ObjectRef, name: &str) -> Self {
        Self::says(format!("{obj}#{name} is the subject itself"))
    }

    fn cycle(obj: &ObjectRef, name: &str) -> Self {
        Self::says(format!("{obj}#{name} depends on itself"))
    }

    fn missing(obj: &ObjectRef, name: &str, type_defined: bool) -> Self {
        Self::says(if type_defined {
            format!("{} has no {name}", obj.object_type)
        } else {
            format!("type {} is not defined", obj.object_type)
        })
    }

    fn direct(obj: &ObjectRef, relation: &str, s: &SubjectRef) -> Self {
        let fact = fact(obj, relation, s);
        let reason = format!("directly, by {fact}");
        Self::with(vec![fact], reason)
    }

    fn through_set(obj: &ObjectRef, relation: &str, s: &SubjectRef, sub: Self) -> Self {
        let r = s.relation.as_deref().unwrap_or_default();
        Self::with(
            path(fact(obj, relation, s), sub.relationships),
            format!("through {}#{r}", s.object),
        )
    }

    fn unreached(obj: &ObjectRef, relation: &str, want: &SubjectRef) -> Self {
        Self::says(format!("no relationship {obj}#{relation} reaches {want}"))
    }

    fn nil(obj: &ObjectRef, name: &str) -> Self {
        Self::says(format!("{obj}#{name} includes nil"))
    }

    fn includes(name: &str, n: &str, sub: Self) -> Self {
        Self::with(
            sub.relationships,
            format!("{name} includes {n}, {}", sub.reason),
        )
    }

    fn both(l: Self, r: Self) -> Self {
        let reason = format!("{} and {}", l.reason, r.reason);
        let mut relationships = l.relationships;
        relationships.extend(r.relationships);
        Self::with(relationships, reason)
    }

    fn excluded(obj: &ObjectRef, name: &str, r: Self) -> Self {
        Self::with(
            r.relationships,
            format!("excluded from {obj}#{name}: {}", r.reason),
        )
    }

    fn no_target(s: &SubjectRef, target: &str) -> Self {
        Self::says(format!("{} has no {target}", s.object.object_type))
    }

    fn arrow_through(obj: &ObjectRef, tupleset: &str, s: &SubjectRef, sub: Self) -> Self {
        Self::with(
            path(format!("{obj}#{tupleset}@{s}"), sub.relationships),
            format!("through {tupleset} {}: {}", s.object, sub.reason),
        )
    }

    fn arrow_not_every(obj: &ObjectRef, tupleset: &str, target: &str, sub: Self) -> Self {
        Self::with(
            sub.relationships,
            format!(
                "not every {tupleset} of {obj} grants {target}: {}",
                sub.reason
            ),
        )
    }

    fn arrow_one_more(
        acc: Self,
        obj: &ObjectRef,
        tupleset: &str,
        s: &SubjectRef,
        sub: Self,
    ) -> Self {
        let mut relationships = acc.relationships;
        relationships.push(format!("{obj}#{tupleset}@{s}"));
        relationships.extend(sub.relationships);
        Self::with(relationships, acc.reason)
    }

    fn arrow_every(acc: Self, obj: &ObjectRef, tupleset: &str, target: &str) -> Self {
        Self::with(
            acc.relationships,
            format!("every {tupleset} of {obj} grants {target}"),
        )
    }

    fn arrow_no_object(obj: &ObjectRef, tupleset: &str) -> Self {
        Self::says(format!("{obj} has no {tupleset}"))
    }

    fn arrow_none_grants(obj: &ObjectRef, tupleset: &str, target: &str) -> Self {
        Self::says(format!("no {tupleset} of {obj} grants {target}"))
    }
}

/// `obj#relation@s`, as written.
fn fact(obj: &ObjectRef, relation: &str, s: &SubjectRef) -> String {
    Relationship {
        resource: obj.clone(),
        relation: relation.to_owned(),
        subject: s.clone(),
    }
    .to_string()
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
        self.explain_with_context(resource, permission, subject, None)
            .await
    }

    /// [`Engine::explain`] with caveat `context` (as [`Engine::check_with_context`] takes it): a
    /// conditional answer is denied, its reason saying so.
    ///
    /// # Errors
    /// As [`Engine::check_with_context`].
    pub async fn explain_with_context(
        &self,
        resource: &ObjectRef,
        permission: &str,
        subject: &SubjectRef,
        context: Option<&crate::caveat::Context>,
    ) -> Result<Explanation, CheckError> {
        self.validate_question(&resource.object_type, permission, subject)?;
        let req = Request::<Trail>::with_context(subject, context);
        let out = self
            .name(&req, resource.clone(), permission.to_owned(), 0)
            .await?;
        if !out.allowed && out.unknown {
            if let Some(e) = out.failed {
                return Err(CheckError::Caveat(*e));
            }
        }
        let why = out.evidence;
        let reason = if out.allowed {
            format!("{subject} has {permission} on {resource}: {}", why.reason)
        } else if out.unknown && !out.missing.is_empty() {
            let missing: Vec<&str> = out.missing.iter().map(String::as_str).collect();
            format!(
                "denied: conditional on caveat context not given ({}): {}",
                missing.join(", "),
                why.reason
            )
        } else if out.unknown {
            format!("denied: {} (undecidable, so denied)", why.reason)
        } else {
            format!("denied: {}", why.reason)
        };
        Ok(Explanation {
            allowed: out.allowed,
            relationships: why.relationships,
            reason,
        })
    }
}
