//! The origin's in-memory relationship cache, kept exact by revisions rather than by time.
//!
//! Per tenant it keeps, for the keys recently read, every stored version of the relationships under a
//! resource#relation (forward) and of those naming a subject object (reverse), with the revisions that
//! created and deleted them, so a read at any revision in `[floor, synced]` is answered from memory exactly
//! as the database would answer it. `synced` advances when a request sees a newer head: the changes in
//! between (from the store's own MVCC columns, the same data watch serves) evict exactly the keys they
//! touched. That holds with several origins on one PostgreSQL, since it never relies on having seen the
//! writes itself.
//!
//! A load races a sync only one way: a load whose transaction began before a sync could miss a change that
//! sync evicted; every load carries the generation its transaction began in and is dropped if a sync came
//! between.
//!
//! It also keeps decisions: a check's answer at the synced revision with the forward keys its walk read.
//! The answer holds at every later revision until a change touches one of those keys (or the schema), so
//! the sync that evicts a key evicts the decisions that read it too, and a question asked again is
//! answered without a walk. Only walks that saw nothing but stored relationships are kept (none with
//! contextual relationships), only when no sync came during the walk, and only `Ok` answers (an error,
//! such as the depth limit, is computed again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tessera_authz::Schema;

/// One stored version of a relationship as seen from its resource#relation.
#[derive(Clone, Debug)]
pub struct ForwardRow {
    pub subject_type: String,
    pub subject_id: String,
    pub subject_relation: String,
    pub created: u64,
    pub deleted: Option<u64>,
}

/// One stored version of a relationship as seen from its subject object.
#[derive(Clone, Debug)]
pub struct ReverseRow {
    pub resource_type: String,
    pub resource_id: String,
    pub relation: String,
    pub subject_relation: String,
    pub created: u64,
    pub deleted: Option<u64>,
}

/// Live at revision `at`.
#[must_use]
pub fn live(created: u64, deleted: Option<u64>, at: u64) -> bool {
    created <= at && deleted.is_none_or(|d| d > at)
}

pub type ForwardKey = (String, String, String);
pub type ReverseKey = (String, String);

/// Rows kept per tenant before its cache is emptied and starts again.
const MAX_ROWS: usize = 2_000_000;
/// Decisions kept per tenant (with their read keys) before they are emptied and start again.
const MAX_DECISIONS: usize = 200_000;
/// Read keys held by a tenant's decisions, in all, before they are emptied and start again.
const MAX_DECISION_READS: usize = 2_000_000;

/// A question: resource, permission, subject (as written: `doc:1`, `view`, `user:a` or `group:g#member`).
pub type DecisionKey = (String, String, String);

/// A kept answer, true from revision `from` until a key it read changes.
struct Decision {
    allowed: bool,
    from: u64,
}

/// Generations come from one counter, so a tenant emptied and started again never repeats one.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

struct Tenant {
    /// Rows deleted at or before this revision are not kept: reads below it go to the database.
    floor: u64,
    /// Every change up to this revision is reflected.
    synced: u64,
    /// Bumped by every sync that evicts.
    generation: u64,
    synced_at: std::time::Instant,
    /// The newest schema at or below `synced`, and the revision it was written at.
    schema: Option<(u64, Arc<Schema>)>,
    forward: HashMap<ForwardKey, Arc<[ForwardRow]>>,
    reverse: HashMap<ReverseKey, Arc<[ReverseRow]>>,
    rows: usize,
    decisions: HashMap<DecisionKey, Decision>,
    /// For each read key, the decisions that read it (some perhaps already gone).
    readers: HashMap<ForwardKey, Vec<DecisionKey>>,
    decision_reads: usize,
}

impl Tenant {
    fn new(head: u64) -> Self {
        Self {
            floor: head,
            synced: head,
            generation: next_generation(),
            synced_at: crate::monotonic(),
            schema: None,
            forward: HashMap::new(),
            reverse: HashMap::new(),
            rows: 0,
            decisions: HashMap::new(),
            readers: HashMap::new(),
            decision_reads: 0,
        }
    }

    fn forget_decisions(&mut self) {
        self.decisions.clear();
        self.readers.clear();
        self.decision_reads = 0;
    }

    fn is_empty(&self) -> bool {
        self.forward.is_empty() && self.reverse.is_empty()
    }

    fn covers(&self, at: u64) -> bool {
        self.floor <= at && at <= self.synced
    }
}

/// What changed between two revisions: the keys to evict, or "too much, start again".
pub enum Changes {
    Keys {
        forward: Vec<ForwardKey>,
        reverse: Vec<ReverseKey>,
        schema_changed: bool,
    },
    Everything,
}

#[derive(Default)]
pub struct RelCache {
    tenants: Mutex<HashMap<String, Tenant>>,
}

impl RelCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Tenant>> {
        // Critical sections only move data in and out of maps: a panic cannot leave one half done.
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The revision the tenant is synced to and when, if it is cached at all.
    pub fn synced(&self, tenant: &str) -> Option<(u64, std::time::Instant)> {
        self.lock().get(tenant).map(|t| (t.synced, t.synced_at))
    }

    /// What a sync from the cached revision to `head` must ask the database, or `None` when nothing is
    /// cached for the tenant (then it just starts at `head`) or it is already there.
    pub fn needs_sync(&self, tenant: &str, head: u64) -> Option<u64> {
        let mut tenants = self.lock();
        match tenants.get_mut(tenant) {
            None => {
                tenants.insert(tenant.to_owned(), Tenant::new(head));
                None
            }
            Some(t) if head <= t.synced => {
                t.synced_at = crate::monotonic();
                None
            }
            Some(t) if t.is_empty() && t.schema.is_none() => {
                *t = Tenant::new(head);
                None
            }
            Some(t) => Some(t.synced),
        }
    }

    /// Apply the changes found between `from` and `to`.
    pub fn apply(&self, tenant: &str, from: u64, to: u64, changes: Changes) {
        let mut tenants = self.lock();
        let Some(t) = tenants.get_mut(tenant) else {
            return;
        };
        if t.synced != from || to <= from {
            return; // someone else synced meanwhile; their evictions cover ours up to their revision
        }
        match changes {
            Changes::Everything => *t = Tenant::new(to),
            Changes::Keys {
                forward,
                reverse,
                schema_changed,
            } => {
                for k in forward {
                    if let Some(rows) = t.forward.remove(&k) {
                        t.rows = t.rows.saturating_sub(rows.len());
                    }
                    if let Some(questions) = t.readers.remove(&k) {
                        t.decision_reads = t.decision_reads.saturating_sub(questions.len());
                        for q in questions {
                            t.decisions.remove(&q);
                        }
                    }
                }
                for k in reverse {
                    if let Some(rows) = t.reverse.remove(&k) {
                        t.rows = t.rows.saturating_sub(rows.len());
                    }
                }
                if schema_changed {
                    t.schema = None;
                    t.forget_decisions();
                }
                t.synced = to;
                t.generation = next_generation();
                t.synced_at = crate::monotonic();
            }
        }
    }

    /// The kept answer to `question` at revision `at`, if one holds there.
    pub fn decision(&self, tenant: &str, question: &DecisionKey, at: u64) -> Option<bool> {
        let tenants = self.lock();
        let t = tenants.get(tenant).filter(|t| t.covers(at))?;
        t.decisions
            .get(question)
            .filter(|d| d.from <= at)
            .map(|d| d.allowed)
    }

    /// Keep the answer to `question`, found at revision `at` by a walk that began in `generation` and
    /// read the keys `read`: only if `at` is the synced revision and no sync came since the walk began.
    pub fn put_decision(
        &self,
        tenant: &str,
        generation: u64,
        at: u64,
        question: DecisionKey,
        allowed: bool,
        read: Vec<ForwardKey>,
    ) {
        let mut tenants = self.lock();
        let Some(t) = tenants.get_mut(tenant) else {
            return;
        };
        if t.generation != generation || t.synced != at {
            return;
        }
        if t.decisions.len() >= MAX_DECISIONS
            || t.decision_reads.saturating_add(read.len()) > MAX_DECISION_READS
        {
            t.forget_decisions();
        }
        t.decision_reads += read.len();
        for k in read {
            t.readers.entry(k).or_default().push(question.clone());
        }
        t.decisions.insert(question, Decision { allowed, from: at });
    }

    /// The generation of the tenant now (0 when not cached), for [`RelCache::put_forward`].
    pub fn generation(&self, tenant: &str) -> u64 {
        self.lock().get(tenant).map_or(0, |t| t.generation)
    }

    /// The floor under which reads must go to the database, if `at` can be served from memory at all.
    pub fn floor_for(&self, tenant: &str, at: u64) -> Option<u64> {
        self.lock()
            .get(tenant)
            .filter(|t| t.covers(at))
            .map(|t| t.floor)
    }

    pub fn forward(&self, tenant: &str, key: &ForwardKey, at: u64) -> Option<Arc<[ForwardRow]>> {
        let tenants = self.lock();
        let t = tenants.get(tenant).filter(|t| t.covers(at))?;
        t.forward.get(key).cloned()
    }

    pub fn reverse(&self, tenant: &str, key: &ReverseKey, at: u64) -> Option<Arc<[ReverseRow]>> {
        let tenants = self.lock();
        let t = tenants.get(tenant).filter(|t| t.covers(at))?;
        t.reverse.get(key).cloned()
    }

    pub fn put_forward(
        &self,
        tenant: &str,
        generation: u64,
        key: ForwardKey,
        rows: Arc<[ForwardRow]>,
    ) {
        self.put(tenant, generation, rows.len(), |t| {
            t.forward.insert(key, rows);
        });
    }

    pub fn put_reverse(
        &self,
        tenant: &str,
        generation: u64,
        key: ReverseKey,
        rows: Arc<[ReverseRow]>,
    ) {
        self.put(tenant, generation, rows.len(), |t| {
            t.reverse.insert(key, rows);
        });
    }

    fn put(&self, tenant: &str, generation: u64, n: usize, insert: impl FnOnce(&mut Tenant)) {
        let mut tenants = self.lock();
        let Some(t) = tenants.get_mut(tenant) else {
            return;
        };
        if t.generation != generation {
            return;
        }
        if t.rows + n > MAX_ROWS {
            t.forward.clear();
            t.reverse.clear();
            t.rows = 0;
        }
        t.rows += n;
        insert(t);
    }

    /// The cached schema for a read at `at`, if it is the one in force there.
    pub fn schema(&self, tenant: &str, at: u64) -> Option<(u64, Arc<Schema>)> {
        let tenants = self.lock();
        let t = tenants.get(tenant)?;
        let (rev, schema) = t.schema.as_ref()?;
        (*rev <= at && at <= t.synced).then(|| (*rev, schema.clone()))
    }

    /// Remember the schema in force at `at` (the newest one at or below it).
    pub fn put_schema(&self, tenant: &str, at: u64, rev: u64, schema: Arc<Schema>) {
        let mut tenants = self.lock();
        if let Some(t) = tenants.get_mut(tenant) {
            if at == t.synced {
                t.schema = Some((rev, schema));
            }
        }
    }
}
