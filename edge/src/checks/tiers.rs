//! The cache tiers a check's answers are looked up in, cheapest first: this isolate's memory, then KV.
//!
//! Every tier is a [`Tier`]: it fills the answers it holds for questions at one head, and remembers answers
//! a costlier source gave. A [`Chain`] walks its tiers in order until every question is answered, copying
//! what a later tier found into the earlier ones; past the last tier only the origin can answer
//! ([`crate::checks::from_origin`]), and its answers are stored into every tier with [`Chain::store`].
//!
//! The chain is a list of types, `(first, (second, ()))`, so the walk is resolved at compile time: an
//! isolate hit costs what it did before the tiers were a chain (no boxed futures, no JS calls).

use std::cell::RefCell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tessera_authz::decision_cache::{decision_key, BoundedCache, Head};
use worker::kv::KvStore;
use worker::{Context, Env};

use crate::checks::answers::{Decision, Question, Source};
use crate::config::Config;
use crate::log;

const KV_BINDING: &str = "DECISIONS";

/// Where answers are looked up or stored: one tenant at one head.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub tenant: &'a str,
    pub head: &'a Head,
}

/// One slot per question, filled as answers are found.
pub(crate) type Found = [Option<Decision>];

/// Answers to store: each with its question.
pub(crate) trait Answers<'q>: Iterator<Item = (&'q Question, &'q Decision)> + Clone {}

impl<'q, I: Iterator<Item = (&'q Question, &'q Decision)> + Clone> Answers<'q> for I {}

/// One place answers may be cached in.
pub(crate) trait Tier {
    /// What `tessera-cache` says when this tier answered.
    const SOURCE: Source;

    /// Fill the empty slots of `found` (one per question) with the answers at `head` this tier holds. A
    /// tier may stop at its first miss: the walk goes on to the next tier anyway.
    async fn lookup(&self, at: At<'_>, qs: &[Question], found: &mut Found);

    /// Remember answers at `head` that a costlier tier or the origin gave.
    fn store<'q>(&self, at: At<'_>, answers: impl Answers<'q>);
}

/// Tiers in order, cheapest first: `(tier, rest)`, ended by `()`.
pub(crate) trait Chain {
    /// Look through the tiers in order until every slot of `found` is filled; answers a tier finds are
    /// copied into the tiers before it. The source that filled the last slots, or `None` when the tiers
    /// together cannot answer every question (then some slots may be filled, none need be).
    async fn walk(&self, at: At<'_>, qs: &[Question], found: &mut Found) -> Option<Source>;

    /// Remember answers at `head` in every tier (the origin's).
    fn store<'q>(&self, at: At<'_>, answers: impl Answers<'q>);
}

impl Chain for () {
    async fn walk(&self, _at: At<'_>, _qs: &[Question], _found: &mut Found) -> Option<Source> {
        None
    }

    fn store<'q>(&self, _at: At<'_>, _answers: impl Answers<'q>) {}
}

impl<T: Tier, Rest: Chain> Chain for (T, Rest) {
    async fn walk(&self, at: At<'_>, qs: &[Question], found: &mut Found) -> Option<Source> {
        self.0.lookup(at, qs, found).await;
        if found.iter().all(Option::is_some) {
            return Some(T::SOURCE);
        }
        let missing: Vec<usize> = (0..found.len())
            .filter(|&i| found.get(i).is_some_and(Option::is_none))
            .collect();
        let source = self.1.walk(at, qs, found).await;
        // What the later tiers found, even when they could not answer everything.
        self.0.store(
            at,
            missing
                .iter()
                .filter_map(|&i| qs.get(i).zip(found.get(i)?.as_ref())),
        );
        source
    }

    fn store<'q>(&self, at: At<'_>, answers: impl Answers<'q>) {
        self.0.store(at, answers.clone());
        self.1.store(at, answers);
    }
}

/// The tiers, cheapest first.
pub(crate) fn chain<'a>(env: &'a Env, ctx: &'a Context, cfg: &Config) -> impl Chain + 'a {
    (
        IsolateTier {
            capacity: cfg.checks.isolate_entries,
        },
        (
            KvTier {
                env,
                ctx,
                ttl: cfg.checks.kv_ttl,
            },
            (),
        ),
    )
}

thread_local! {
    static DECISIONS: RefCell<Option<BoundedCache<String, Decision>>> = const { RefCell::new(None) };
}

/// This isolate's memory: a bounded, approximately least-recently-used map.
pub(crate) struct IsolateTier {
    capacity: usize,
}

impl IsolateTier {
    fn with_cache<R>(&self, f: impl FnOnce(&mut BoundedCache<String, Decision>) -> R) -> R {
        DECISIONS.with(|c| {
            let mut c = c.borrow_mut();
            f(c.get_or_insert_with(|| BoundedCache::new(self.capacity)))
        })
    }
}

fn isolate_key(at: At<'_>, q: &Question) -> String {
    decision_key(at.tenant, at.head, &q.resource, &q.permission, &q.subject)
}

impl Tier for IsolateTier {
    const SOURCE: Source = Source::Isolate;

    async fn lookup(&self, at: At<'_>, qs: &[Question], found: &mut Found) {
        self.with_cache(|cache| {
            for (q, slot) in qs.iter().zip(found.iter_mut()) {
                if slot.is_none() {
                    *slot = cache.get(&isolate_key(at, q));
                }
            }
        });
    }

    fn store<'q>(&self, at: At<'_>, answers: impl Answers<'q>) {
        self.with_cache(|cache| {
            for (q, d) in answers {
                cache.insert(isolate_key(at, q), d.clone());
            }
        });
    }
}

/// Forget every decision in this isolate (benchmarks measure the KV path with it).
#[cfg(feature = "bench")]
pub fn forget_isolate_decisions() {
    DECISIONS.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            c.clear();
        }
    });
}

/// KV (`DECISIONS`), shared by the isolates of a location; entries expire after `CHECK_KV_TTL`.
pub(crate) struct KvTier<'a> {
    env: &'a Env,
    ctx: &'a Context,
    ttl: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredDecision {
    allowed: bool,
    zookie: String,
}

fn kv_key(at: At<'_>, q: &Question) -> String {
    let mut h = Sha256::new();
    for part in [&q.resource, &q.permission, &q.subject] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    format!(
        "d1/{}/{}/{}/{}",
        at.tenant,
        at.head.schema_revision,
        at.head.revision,
        tessera_jose::b64::encode(&h.finalize())
    )
}

/// The KV binding, or `None` (logged) when the Worker has none.
fn kv(env: &Env) -> Option<KvStore> {
    env.kv(KV_BINDING)
        .map_err(|e| {
            log::error(
                "kv_binding_failed",
                &[
                    ("binding", json!(KV_BINDING)),
                    ("detail", json!(e.to_string())),
                ],
            );
        })
        .ok()
}

impl Tier for KvTier<'_> {
    const SOURCE: Source = Source::Kv;

    /// All missing answers at once (one KV round trip however many questions), taken in order up to the
    /// first one KV lacks.
    async fn lookup(&self, at: At<'_>, qs: &[Question], found: &mut Found) {
        let Some(kv) = kv(self.env) else {
            return;
        };
        let missing: Vec<(usize, String)> = found
            .iter()
            .enumerate()
            .filter(|(_, d)| d.is_none())
            .filter_map(|(i, _)| qs.get(i).map(|q| (i, kv_key(at, q))))
            .collect();
        let gets = missing
            .iter()
            .map(|(_, key)| kv.get(key).json::<StoredDecision>());
        let got = futures_util::future::join_all(gets).await;
        for ((i, _), stored) in missing.iter().zip(got) {
            let stored = match stored {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) => {
                    log::error("kv_get_failed", &[("detail", json!(e.to_string()))]);
                    return;
                }
            };
            let Some(slot) = found.get_mut(*i) else {
                return;
            };
            *slot = Some(Decision {
                allowed: stored.allowed,
                zookie: Rc::from(stored.zookie),
                missing: None,
                valid_until: None,
            });
        }
    }

    /// In the background, one put after another.
    fn store<'q>(&self, at: At<'_>, answers: impl Answers<'q>) {
        let entries: Vec<(String, Decision)> =
            answers.map(|(q, d)| (kv_key(at, q), d.clone())).collect();
        self.put_in_background(entries);
    }
}

impl KvTier<'_> {
    /// Not generic (unlike [`Tier::store`], instantiated per iterator type): one copy of the task in the
    /// Worker.
    fn put_in_background(&self, entries: Vec<(String, Decision)>) {
        if entries.is_empty() {
            return;
        }
        let env = self.env.clone();
        let ttl = self.ttl;
        self.ctx.wait_until(async move {
            let Some(kv) = kv(&env) else {
                return;
            };
            for (key, d) in entries {
                let value = StoredDecision {
                    allowed: d.allowed,
                    zookie: d.zookie.to_string(),
                };
                let put = kv.put(&key, &value).map(|p| p.expiration_ttl(ttl));
                match put {
                    Ok(p) => {
                        if let Err(e) = p.execute().await {
                            log::error("kv_put_failed", &[("detail", json!(e.to_string()))]);
                        }
                    }
                    Err(e) => log::error("kv_put_failed", &[("detail", json!(e.to_string()))]),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    use futures_util::FutureExt as _;
    use tessera_authz::decision_cache::Head;

    use super::{Answers, At, Chain, Found, Tier};
    use crate::checks::answers::{Decision, Question, Source};

    /// A tier over a map from resource to answer, recording what it was asked to store.
    struct Fake {
        held: RefCell<HashMap<String, bool>>,
        stored: RefCell<Vec<String>>,
    }

    fn fake(held: &[(&str, bool)]) -> Fake {
        Fake {
            held: RefCell::new(held.iter().map(|(r, a)| ((*r).to_owned(), *a)).collect()),
            stored: RefCell::new(Vec::new()),
        }
    }

    impl Tier for &Fake {
        const SOURCE: Source = Source::Kv;

        async fn lookup(&self, _at: At<'_>, qs: &[Question], found: &mut Found) {
            for (q, slot) in qs.iter().zip(found.iter_mut()) {
                if slot.is_none() {
                    *slot = self
                        .held
                        .borrow()
                        .get(&q.resource)
                        .map(|&allowed| Decision {
                            allowed,
                            zookie: Rc::from("z"),
                            missing: None,
                            valid_until: None,
                        });
                }
            }
        }

        fn store<'q>(&self, _at: At<'_>, answers: impl Answers<'q>) {
            for (q, d) in answers {
                self.held.borrow_mut().insert(q.resource.clone(), d.allowed);
                self.stored.borrow_mut().push(q.resource.clone());
            }
        }
    }

    /// The first tier of the chain, telling itself apart from the second by its source.
    struct First<'a>(&'a Fake);

    impl Tier for First<'_> {
        const SOURCE: Source = Source::Isolate;

        async fn lookup(&self, at: At<'_>, qs: &[Question], found: &mut Found) {
            (&self.0).lookup(at, qs, found).await;
        }

        fn store<'q>(&self, at: At<'_>, answers: impl Answers<'q>) {
            (&self.0).store(at, answers);
        }
    }

    const AT: At<'static> = At {
        tenant: "t",
        head: &Head {
            revision: 3,
            schema_revision: 1,
            confirmed_at: tessera_proto::UnixTime::EPOCH,
        },
    };

    fn questions(resources: &[&str]) -> Vec<Question> {
        resources
            .iter()
            .map(|r| Question {
                resource: (*r).to_owned(),
                permission: "view".to_owned(),
                subject: "user:ann".to_owned(),
            })
            .collect()
    }

    fn walk(chain: &impl Chain, qs: &[Question]) -> (Option<Source>, Vec<Option<bool>>) {
        let mut found = vec![None; qs.len()];
        let source = chain
            .walk(AT, qs, &mut found)
            .now_or_never()
            .expect("fake tiers are ready at once");
        (
            source,
            found
                .iter()
                .map(|d| d.as_ref().map(|d| d.allowed))
                .collect(),
        )
    }

    #[test]
    fn the_cheapest_tier_that_holds_everything_answers_and_nothing_is_copied() {
        let (isolate, kv) = (fake(&[("doc:1", true), ("doc:2", false)]), fake(&[]));
        let chain = (First(&isolate), (&kv, ()));
        let (source, found) = walk(&chain, &questions(&["doc:1", "doc:2"]));
        assert_eq!(source, Some(Source::Isolate));
        assert_eq!(found, [Some(true), Some(false)]);
        assert!(isolate.stored.borrow().is_empty());
        assert!(kv.stored.borrow().is_empty());
    }

    #[test]
    fn a_later_tier_completes_the_answer_and_fills_the_earlier_one() {
        let (isolate, kv) = (fake(&[("doc:1", true)]), fake(&[("doc:2", false)]));
        let chain = (First(&isolate), (&kv, ()));
        let (source, found) = walk(&chain, &questions(&["doc:1", "doc:2"]));
        assert_eq!(source, Some(Source::Kv));
        assert_eq!(found, [Some(true), Some(false)]);
        assert_eq!(*isolate.stored.borrow(), ["doc:2"]);
        // Now the isolate answers alone.
        assert_eq!(
            walk(&chain, &questions(&["doc:1", "doc:2"])).0,
            Some(Source::Isolate)
        );
    }

    #[test]
    fn when_no_tier_holds_everything_partial_finds_are_still_kept_in_earlier_tiers() {
        let (isolate, kv) = (fake(&[]), fake(&[("doc:1", true)]));
        let chain = (First(&isolate), (&kv, ()));
        let (source, found) = walk(&chain, &questions(&["doc:1", "doc:2"]));
        assert_eq!(source, None, "only the origin can answer doc:2");
        assert_eq!(found, [Some(true), None]);
        assert_eq!(*isolate.stored.borrow(), ["doc:1"]);
        assert!(kv.stored.borrow().is_empty());
    }

    #[test]
    fn answers_from_the_origin_go_into_every_tier() {
        let (isolate, kv) = (fake(&[]), fake(&[]));
        let chain = (First(&isolate), (&kv, ()));
        let qs = questions(&["doc:1"]);
        let d = Decision {
            allowed: true,
            zookie: Rc::from("z"),
            missing: None,
            valid_until: None,
        };
        chain.store(AT, qs.iter().zip([&d]));
        assert_eq!(*isolate.stored.borrow(), ["doc:1"]);
        assert_eq!(*kv.stored.borrow(), ["doc:1"]);
        assert_eq!(walk(&chain, &qs).0, Some(Source::Isolate));
    }

    #[test]
    fn an_empty_batch_is_answered_by_the_first_tier() {
        let (isolate, kv) = (fake(&[]), fake(&[]));
        assert_eq!(
            walk(&(First(&isolate), (&kv, ())), &[]).0,
            Some(Source::Isolate)
        );
    }
}
