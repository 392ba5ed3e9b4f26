//! The authorization core driven from outside (tests/blackbox/openfga_abac.test.mjs): an OpenFGA model
//! imported as a schema, tuples (with conditions) in memory, and checks and list-objects with context.
//! One JSON command per line on stdin, one JSON answer per line on stdout.
//!
//! - `{"cmd":"model","model":{..}}` (OpenFGA JSON) → `{"ok":true}` or `{"error":..,"code":..}`
//! - `{"cmd":"schema","text":..}` (the schema language) → the same
//! - `{"cmd":"tuples","tuples":[{"user":..,"relation":..,"object":..,"condition":{"name":..,"context":{..}},
//!   "expiration":"2030-01-01T00:00:00Z"}]}` → `{"ok":true}` or the first refusal (an expired tuple is
//!   validated, then left out: the probe reads as of its clock)
//! - `{"cmd":"check","object":..,"relation":..,"user":..,"context":{..},"contextual":[tuples]}` →
//!   `{"result":"has"|"no"|"conditional","missing":[..]}` or `{"error":..,"code":..}`
//! - `{"cmd":"list_objects","type":..,"relation":..,"user":..,"context":{..}}` →
//!   `{"objects":[..],"conditional":[..]}` or `{"error":..,"code":..}`

#![allow(
    clippy::indexing_slicing,
    reason = "serde_json's Index on the probe's input answers Null for what is absent, never panics"
)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io::BufRead as _;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use serde_json::{json, Value};
use tessera_authz::{
    openfga_to_schema, parse_schema, Context, Engine, ObjectRef, Permissionship, Relationship,
    RelationshipCaveat, RelationshipReader, Schema, SubjectRef,
};

/// Drive a future that never waits (the store is in memory).
fn ready<F: Future>(f: F) -> Option<F::Output> {
    match pin!(f).poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

type Stored = Vec<(SubjectRef, Option<RelationshipCaveat>)>;

#[derive(Default, Clone)]
struct Memory {
    rels: BTreeMap<(ObjectRef, String), Stored>,
}

impl RelationshipReader for Memory {
    async fn subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<SubjectRef>, String> {
        Ok(self
            .caveated_subjects(resource, relation)
            .await?
            .into_iter()
            .filter(|(_, c)| c.is_none())
            .map(|(s, _)| s)
            .collect())
    }

    async fn caveated_subjects(
        &self,
        resource: &ObjectRef,
        relation: &str,
    ) -> Result<Stored, String> {
        Ok(self
            .rels
            .get(&(resource.clone(), relation.to_owned()))
            .cloned()
            .unwrap_or_default())
    }

    async fn object_ids(&self, object_type: &str) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        for ((resource, _), subjects) in &self.rels {
            if resource.object_type == object_type {
                ids.push(resource.id.clone());
            }
            for (s, _) in subjects {
                if s.object.object_type == object_type && !s.is_wildcard() {
                    ids.push(s.object.id.clone());
                }
            }
        }
        Ok(ids)
    }

    async fn relationships_with_subject(
        &self,
        subject: &ObjectRef,
    ) -> Result<Vec<Relationship>, String> {
        let mut out = Vec::new();
        for ((resource, relation), subjects) in &self.rels {
            for (s, _) in subjects {
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
}

fn refusal(code: &str, message: impl std::fmt::Display) -> Value {
    json!({ "error": message.to_string(), "code": code })
}

/// Add the tuples to `store`, each validated against `schema`.
fn add(store: &mut Memory, schema: &Schema, tuples: &[Value]) -> Result<(), Value> {
    for t in tuples {
        let text = format!(
            "{}#{}@{}",
            t["object"].as_str().unwrap_or_default(),
            t["relation"].as_str().unwrap_or_default(),
            t["user"].as_str().unwrap_or_default()
        );
        let r: Relationship = text
            .parse()
            .map_err(|e: tessera_authz::RelationshipError| refusal(e.code().as_str(), e))?;
        let caveat = t["condition"]["name"]
            .as_str()
            .map(|name| RelationshipCaveat {
                name: name.to_owned(),
                context: t["condition"]["context"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            });
        let expiration = match t["expiration"].as_str() {
            Some(at) => Some(
                tessera_authz::tuple::parse_expiration(at)
                    .map_err(|e| refusal(e.code().as_str(), e))?,
            ),
            None => None,
        };
        r.validate_with_traits(schema, caveat.as_ref(), expiration.is_some())
            .map_err(|e| refusal(e.code().as_str(), e))?;
        // A reader answers as of one moment (the probe's: its clock now): an expired relationship is
        // not there. The probe is a shell around the core, so it may read the clock.
        #[allow(clippy::disallowed_methods)]
        let now = tessera_proto::UnixTime::from(std::time::SystemTime::now());
        if expiration.is_some_and(|e| e <= now) {
            continue;
        }
        store
            .rels
            .entry((r.resource, r.relation))
            .or_default()
            .push((r.subject, caveat));
    }
    Ok(())
}

fn main() {
    let mut schema: Option<Schema> = None;
    let mut store = Memory::default();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let cmd: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let context: Context = cmd["context"].as_object().cloned().unwrap_or_default();
        let out = match (cmd["cmd"].as_str().unwrap_or_default(), &schema) {
            (kind @ ("model" | "schema"), _) => match (if kind == "model" {
                openfga_to_schema(&cmd["model"].to_string())
                    .map_err(|e| refusal(e.code().as_str(), e))
            } else {
                Ok(cmd["text"].as_str().unwrap_or_default().to_owned())
            })
            .and_then(|text| parse_schema(&text).map_err(|e| refusal(e.code().as_str(), e)))
            {
                Ok(s) => {
                    schema = Some(s);
                    store = Memory::default();
                    json!({ "ok": true })
                }
                Err(e) => e,
            },
            ("tuples", Some(s)) => {
                let tuples = cmd["tuples"].as_array().cloned().unwrap_or_default();
                match add(&mut store, s, &tuples) {
                    Ok(()) => json!({ "ok": true }),
                    Err(e) => e,
                }
            }
            ("check", Some(s)) => {
                let mut with = store.clone();
                let contextual = cmd["contextual"].as_array().cloned().unwrap_or_default();
                match add(&mut with, s, &contextual) {
                    Err(e) => e,
                    Ok(()) => {
                        let resource: Result<ObjectRef, _> =
                            cmd["object"].as_str().unwrap_or_default().parse();
                        let subject: Result<SubjectRef, _> =
                            cmd["user"].as_str().unwrap_or_default().parse();
                        match (resource, subject) {
                            (Ok(resource), Ok(subject)) => {
                                let engine = Engine::new(s, &with);
                                let relation = cmd["relation"].as_str().unwrap_or_default();
                                match ready(
                                    engine.check_with_context(
                                        &resource, relation, &subject, &context,
                                    ),
                                ) {
                                    Some(Ok(Permissionship::Has)) => json!({ "result": "has" }),
                                    Some(Ok(Permissionship::No)) => json!({ "result": "no" }),
                                    Some(Ok(Permissionship::Conditional(m))) => {
                                        json!({ "result": "conditional", "missing": m })
                                    }
                                    Some(Err(e)) => refusal(e.code().as_str(), e),
                                    None => refusal("internal", "the in-memory store waited"),
                                }
                            }
                            _ => refusal("relationship_syntax", "a malformed object or user"),
                        }
                    }
                }
            }
            ("list_objects", Some(s)) => match cmd["user"]
                .as_str()
                .unwrap_or_default()
                .parse::<SubjectRef>()
            {
                Ok(subject) => {
                    let engine = Engine::new(s, &store);
                    let found = ready(engine.lookup_resources_with_context(
                        cmd["type"].as_str().unwrap_or_default(),
                        cmd["relation"].as_str().unwrap_or_default(),
                        &subject,
                        None,
                        10_000,
                        Some(&context),
                    ));
                    match found {
                        Some(Ok(page)) => json!({
                            "objects": page.ids,
                            "conditional": page.conditional.into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
                        }),
                        Some(Err(e)) => refusal(e.code().as_str(), e),
                        None => refusal("internal", "the in-memory store waited"),
                    }
                }
                Err(e) => refusal("relationship_syntax", e),
            },
            (_, None) => refusal("no_schema", "no model yet"),
            (other, _) => refusal("invalid_request", format!("unknown command `{other}`")),
        };
        println!("{out}");
    }
}
