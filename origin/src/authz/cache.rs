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

use tessera_authz::{RelationshipCaveat, Schema};

/// One stored version of a relationship as seen from its resource#relation.
#[derive(Clone, Debug)]
pub struct ForwardRow {
    pub subject_type: String,
    pub subject_id: String,
    pub subject_relation: String,
    pub created: u64,
    pub deleted: Option<u64>,
    /// Its caveat, context parsed once as loaded.
    pub caveat: Option<Arc<RelationshipCaveat>>,
    /// Its expiration, milliseconds since the epoch: each read filters by its own clock.
    pub expires: Option<i64>,
    /// How many rows it counts as towards [`MAX_ROWS`]: one, and one more per [`ROW_BYTES`] of caveat
    /// context (which may take up to 4 KiB), so the bound holds memory and not just rows.
    pub weight: u32,
}

/// About what a relationship without a caveat takes in the cache, with its share of the map.
pub const ROW_BYTES: usize = 128;

/// How many rows `rows` count as.
fn weight(rows: &[ForwardRow]) -> usize {
    rows.iter().map(|r| r.weight as usize).sum()
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
    pub expires: Option<i64>,
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
/// Bytes (about) of kept decisions and their read keys per tenant, before the tenant's are forgotten.
const MAX_TENANT_DECISION_BYTES: usize = 64 << 20;
/// Bytes (about) of kept decisions across all tenants, before every tenant's are forgotten.
const MAX_DECISION_BYTES: usize = 256 << 20;
/// What a map entry costs beyond the strings it holds (about).
const ENTRY_BYTES: usize = 64;

/// A question: resource, permission, subject (as written: `doc:1`, `view`, `user:a` or `group:g#member`).
pub type DecisionKey = (String, String, String);

/// A kept answer, true from revision `from` until a key it read changes or, when a relationship it
/// rests on expires, until that moment (`until`, milliseconds since the epoch).
struct Decision {
    allowed: bool,
    from: u64,
    until: Option<i64>,
    /// What keeping the question costs (about).
    bytes: usize,
}

/// A tenant's kept decisions, and for each read key the questions whose walk read it (some perhaps
/// already gone: they go with the key). The question is shared between the two.
#[derive(Default)]
struct Decisions {
    by_question: HashMap<Arc<DecisionKey>, Decision>,
    readers: HashMap<ForwardKey, Vec<Arc<DecisionKey>>>,
    /// What the questions cost, and what the read-key index costs, stale entries included (about).
    question_bytes: usize,
    index_bytes: usize,
}

/// What a key costs in the read-key index (about), beside its entries.
fn key_bytes((t, id, rel): &ForwardKey) -> usize {
    ENTRY_BYTES + t.len() + id.len() + rel.len()
}

/// What one entry of a key's list costs.
const INDEX_ENTRY_BYTES: usize = 16;

impl Decisions {
    fn bytes(&self) -> usize {
        self.question_bytes + self.index_bytes
    }

    /// Forget everything; the bytes freed.
    fn forget(&mut self) -> usize {
        let freed = self.bytes();
        *self = Self::default();
        freed
    }

    /// Forget the decisions that read `key`; the bytes freed.
    fn evict(&mut self, key: &ForwardKey) -> usize {
        let Some(questions) = self.readers.remove(key) else {
            return 0;
        };
        let before = self.bytes();
        self.index_bytes = self
            .index_bytes
            .saturating_sub(key_bytes(key) + INDEX_ENTRY_BYTES * questions.len());
        for q in questions {
            if let Some(d) = self.by_question.remove(&q) {
                self.question_bytes = self.question_bytes.saturating_sub(d.bytes);
            }
        }
        before - self.bytes()
    }

    /// Keep `allowed` for `question`, which read `read` (sorted, without repeats); the bytes before and
    /// after.
    fn put(
        &mut self,
        question: DecisionKey,
        allowed: bool,
        (from, until): (u64, Option<i64>),
        read: Vec<ForwardKey>,
    ) -> (usize, usize) {
        let before = self.bytes();
        let (r, p, s) = &question;
        let bytes = ENTRY_BYTES + r.len() + p.len() + s.len();
        let question = Arc::new(question);
        for k in read {
            let added = key_bytes(&k);
            let list = self.readers.entry(k).or_insert_with(|| {
                self.index_bytes += added;
                Vec::new()
            });
            list.push(question.clone());
            self.index_bytes += INDEX_ENTRY_BYTES;
        }
        let old = self.by_question.insert(
            question,
            Decision {
                allowed,
                from,
                until,
                bytes,
            },
        );
        self.question_bytes = self
            .question_bytes
            .saturating_sub(old.map_or(0, |d| d.bytes))
            + bytes;
        (before, self.bytes())
    }
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
    decisions: Decisions,
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
            decisions: Decisions::default(),
        }
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
    /// The bytes of kept decisions across tenants (changed only under the lock of `tenants`).
    decision_bytes: std::sync::atomic::AtomicUsize,
}

impl RelCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Tenant>> {
        // Critical sections only move data in and out of maps: a panic cannot leave one half done.
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Note that `freed` bytes of kept decisions are gone.
    fn freed(&self, freed: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.decision_bytes.load(Relaxed).saturating_sub(freed);
        self.decision_bytes.store(now, Relaxed);
    }

    /// Start `t` again at `head`, its decisions' bytes accounted for.
    fn restart(&self, t: &mut Tenant, head: u64) {
        self.freed(t.decisions.bytes());
        *t = Tenant::new(head);
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
                self.restart(t, head);
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
            Changes::Everything => self.restart(t, to),
            Changes::Keys {
                forward,
                reverse,
                schema_changed,
            } => {
                for k in forward {
                    if let Some(rows) = t.forward.remove(&k) {
                        t.rows = t.rows.saturating_sub(weight(&rows));
                    }
                    self.freed(t.decisions.evict(&k));
                }
                for k in reverse {
                    if let Some(rows) = t.reverse.remove(&k) {
                        t.rows = t.rows.saturating_sub(rows.len());
                    }
                }
                if schema_changed {
                    t.schema = None;
                    self.freed(t.decisions.forget());
                }
                t.synced = to;
                t.generation = next_generation();
                t.synced_at = crate::monotonic();
            }
        }
    }

    /// The kept answer to `question` at revision `at`, if one holds there at `now` (milliseconds), and
    /// until when it holds if a relationship it rests on expires.
    pub fn decision(
        &self,
        tenant: &str,
        question: &DecisionKey,
        (at, now): (u64, i64),
    ) -> Option<(bool, Option<i64>)> {
        let tenants = self.lock();
        let t = tenants.get(tenant).filter(|t| t.covers(at))?;
        t.decisions
            .by_question
            .get(question)
            .filter(|d| d.from <= at && d.until.is_none_or(|u| now < u))
            .map(|d| (d.allowed, d.until))
    }

    /// Keep the answer to `question`, found at revision `at` by a walk that began in `generation` and
    /// read the keys `read`, true until `until` if a relationship it rests on expires then: only if
    /// `at` is the synced revision and no sync came since the walk began.
    /// Within bounds: past [`MAX_TENANT_DECISION_BYTES`] the tenant's decisions are forgotten, past
    /// [`MAX_DECISION_BYTES`] every tenant's.
    pub fn put_decision(
        &self,
        tenant: &str,
        generation: u64,
        (at, until): (u64, Option<i64>),
        question: DecisionKey,
        allowed: bool,
        mut read: Vec<ForwardKey>,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut tenants = self.lock();
        if self.decision_bytes.load(Relaxed) > MAX_DECISION_BYTES {
            for t in tenants.values_mut() {
                t.decisions.forget();
            }
            self.decision_bytes.store(0, Relaxed);
        }
        let Some(t) = tenants.get_mut(tenant) else {
            return;
        };
        if t.generation != generation || t.synced != at {
            return;
        }
        if t.decisions.bytes() > MAX_TENANT_DECISION_BYTES {
            self.freed(t.decisions.forget());
        }
        read.sort_unstable();
        read.dedup();
        let (before, after) = t.decisions.put(question, allowed, (at, until), read);
        match after.checked_sub(before) {
            Some(added) => {
                self.decision_bytes.fetch_add(added, Relaxed);
            }
            None => self.freed(before - after),
        }
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
        self.put(tenant, generation, weight(&rows), |t| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn key(id: &str) -> ForwardKey {
        ("doc".to_owned(), id.to_owned(), "viewer".to_owned())
    }

    fn question(user: &str) -> DecisionKey {
        (
            "doc:1".to_owned(),
            "view".to_owned(),
            format!("user:{user}"),
        )
    }

    /// A cache holding tenant `t` synced at revision 5 with a schema, and the tenant's generation.
    fn synced_at_5() -> (RelCache, u64) {
        let c = RelCache::default();
        assert_eq!(c.needs_sync("t", 5), None);
        let schema = Arc::new(tessera_authz::parse_schema("definition user {}").unwrap());
        c.put_schema("t", 5, 1, schema);
        let g = c.generation("t");
        (c, g)
    }

    #[test]
    fn kept_decisions_go_with_the_keys_they_read_and_their_bytes_with_them() {
        let (c, g) = synced_at_5();
        c.put_decision(
            "t",
            g,
            (5, None),
            question("a"),
            true,
            vec![key("1"), key("1"), key("2")],
        );
        c.put_decision("t", g, (5, None), question("b"), false, vec![key("2")]);
        assert_eq!(
            c.decision("t", &question("a"), (5, 0)).map(|d| d.0),
            Some(true)
        );
        assert_eq!(
            c.decision("t", &question("b"), (5, 0)).map(|d| d.0),
            Some(false)
        );
        assert_eq!(
            c.decision("t", &question("b"), (6, 0)),
            None,
            "beyond the synced revision"
        );
        assert_eq!(
            c.decision("u", &question("b"), (5, 0)),
            None,
            "another tenant"
        );
        let used = c.decision_bytes.load(Relaxed);
        assert!(used > 0);
        // Not kept: a walk a sync overlapped (another generation), or at another revision.
        c.put_decision("t", g + 1_000, (5, None), question("c"), true, vec![]);
        c.put_decision("t", g, (4, None), question("c"), true, vec![]);
        assert_eq!(c.decision("t", &question("c"), (5, 0)), None);
        assert_eq!(c.decision_bytes.load(Relaxed), used);
        // Key 1 changes at revision 6: a (which read it) goes, b stays, and so do their bytes.
        assert_eq!(c.needs_sync("t", 6), Some(5));
        c.apply(
            "t",
            5,
            6,
            Changes::Keys {
                forward: vec![key("1")],
                reverse: vec![],
                schema_changed: false,
            },
        );
        assert_eq!(c.decision("t", &question("a"), (6, 0)), None);
        assert_eq!(
            c.decision("t", &question("b"), (6, 0)).map(|d| d.0),
            Some(false)
        );
        let after = c.decision_bytes.load(Relaxed);
        assert!(0 < after && after < used, "{after} of {used}");
        // A new schema forgets every decision, and every byte.
        assert_eq!(c.needs_sync("t", 7), Some(6));
        c.apply(
            "t",
            6,
            7,
            Changes::Keys {
                forward: vec![],
                reverse: vec![],
                schema_changed: true,
            },
        );
        assert_eq!(c.decision("t", &question("b"), (7, 0)), None);
        assert_eq!(c.decision_bytes.load(Relaxed), 0);
    }

    #[test]
    fn a_kept_decision_resting_on_an_expiring_relationship_lasts_until_it_expires() {
        let (c, g) = synced_at_5();
        c.put_decision(
            "t",
            g,
            (5, Some(1_000)),
            question("a"),
            true,
            vec![key("1")],
        );
        assert_eq!(
            c.decision("t", &question("a"), (5, 999)).map(|d| d.0),
            Some(true)
        );
        assert_eq!(c.decision("t", &question("a"), (5, 1_000)), None, "expired");
        assert_eq!(c.decision("t", &question("a"), (5, 5_000)), None);
    }
}
