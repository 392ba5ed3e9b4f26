//! Integration tests of `tessera-authz`: the schema language, relationship validation and check semantics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod caveats;
mod check;
mod explain;
mod lookup;
mod openfga;
mod properties;
mod relationships;
mod schema;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tessera_authz::{ObjectRef, Relationship, RelationshipCaveat, RelationshipReader, SubjectRef};

/// Drive a future that never waits (the in-memory store answers at once).
pub fn ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("in-memory futures complete without waiting"),
    }
}

/// An in-memory relationship store for tests.
#[derive(Default)]
pub struct Memory {
    rels: BTreeMap<(ObjectRef, String), Vec<SubjectRef>>,
    caveats: BTreeMap<(ObjectRef, String, SubjectRef), RelationshipCaveat>,
}

impl Memory {
    pub fn with(rels: &[&str]) -> Self {
        let mut m = Self::default();
        for r in rels {
            let r: Relationship = r.parse().unwrap();
            m.rels
                .entry((r.resource, r.relation))
                .or_default()
                .push(r.subject);
        }
        m
    }

    /// Relationships in SpiceDB's notation, a caveat (and its context) after the subject:
    /// `doc:1#viewer@user:ann[ip_ok:{"allowed":"10.0.0.0/8"}]`.
    pub fn with_caveats(rels: &[&str]) -> Self {
        let mut m = Self::default();
        for text in rels {
            let (rel, caveat) = match text.split_once('[') {
                Some((rel, rest)) => {
                    let inner = rest.strip_suffix(']').unwrap();
                    let (name, context) = match inner.split_once(':') {
                        Some((name, json)) => (name, serde_json::from_str(json).unwrap()),
                        None => (inner, serde_json::Map::new()),
                    };
                    (
                        rel,
                        Some(RelationshipCaveat {
                            name: name.to_owned(),
                            context,
                        }),
                    )
                }
                None => (*text, None),
            };
            let r: Relationship = rel.parse().unwrap();
            if let Some(c) = caveat {
                m.caveats.insert(
                    (r.resource.clone(), r.relation.clone(), r.subject.clone()),
                    c,
                );
            }
            m.rels
                .entry((r.resource, r.relation))
                .or_default()
                .push(r.subject);
        }
        m
    }
}

impl RelationshipReader for Memory {
    async fn caveated_subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<(SubjectRef, Option<RelationshipCaveat>)>, String> {
        Ok(self
            .rels
            .get(&(resource.clone(), relation.to_owned()))
            .into_iter()
            .flatten()
            .map(|s| {
                let c = self
                    .caveats
                    .get(&(resource.clone(), relation.to_owned(), s.clone()))
                    .cloned();
                (s.clone(), c)
            })
            .collect())
    }

    async fn subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<SubjectRef>, String> {
        // Without a caveat only (the reader's contract).
        Ok(self
            .rels
            .get(&(resource.clone(), relation.to_owned()))
            .into_iter()
            .flatten()
            .filter(|s| {
                !self
                    .caveats
                    .contains_key(&(resource.clone(), relation.to_owned(), (*s).clone()))
            })
            .cloned()
            .collect())
    }

    async fn relationships_with_subject(
        &self,
        subject: &ObjectRef,
    ) -> Result<Vec<Relationship>, String> {
        let mut out = Vec::new();
        for ((resource, relation), subjects) in &self.rels {
            for s in subjects {
                if s.object == *subject {
                    out.push(Relationship {
                        resource: resource.clone(),
                        relation: relation.clone(),
                        subject: s.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    async fn object_ids(&self, object_type: &str) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        for ((resource, _), subjects) in &self.rels {
            if resource.object_type == object_type {
                ids.push(resource.id.clone());
            }
            for s in subjects {
                if s.object.object_type == object_type && !s.is_wildcard() {
                    ids.push(s.object.id.clone());
                }
            }
        }
        Ok(ids)
    }
}
