//! The audit trail: every authentication and authorization event, recorded at the origin.
//!
//! - Events come from two places: the origin's own handlers ([`Audit::record`]: relationship and schema
//!   writes, checks it answers, clients, SCIM, SAML, TOTP) and the edge, which batches its events (tokens,
//!   passkeys, checks answered from its caches) and delivers them to `POST /internal/v1/audit/events`
//!   ([`Audit::ingest`]).
//! - [`store`] keeps them append-only by day, each tenant's in a hash chain ([`chain`]); [`http`] serves
//!   queries, statistics and the chain's verification, [`clickhouse`] copies every record to ClickHouse, [`dashboard`] the `/audit` page of charts; the CLI (`tessera-origin audit`) does the same
//!   against the database.
//!
//! The origin's own events go through a bounded queue to one writer task that appends them in batches,
//! off the request path: a handler waits only when the writer is that far behind (back-pressure, never
//! loss); a batch that cannot be stored is retried until it is. Events still queued when the process is
//! killed are lost (at most one batch interval, [`FLUSH_EVERY`]); a graceful stop drains the queue
//! ([`Audit::close`]).

pub mod chain;
mod checks;
pub mod clickhouse;
pub mod dashboard;
pub mod http;
pub mod retention;
pub mod rollup;
pub mod stats;
pub mod store;
pub mod verify;

use std::sync::Arc;
use std::time::Duration;

use tessera_proto::audit::{Actor, ActorKind, AuditEvent, AuditRefusal, Outcome, Source};
use tokio::sync::{mpsc, Mutex};

pub use self::checks::{check, fit};
use self::store::{AuditStore, Checked};

/// The writer appends at least this often while events are queued.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Events waiting for the writer before recorders wait for it.
const QUEUE: usize = 16_384;
/// Events the writer appends in one go.
const BATCH: usize = 1_000;
/// The largest `detail` stored, as JSON text.
pub const MAX_DETAIL_BYTES: usize = 16 * 1024;
/// The longest text field (resource, subject, ...).
const MAX_FIELD_BYTES: usize = 1024;

/// How the origin records.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// This origin's region, written on its events.
    pub region: String,
    /// The share of allowed decisions recorded with their reason path (`explain`); denied ones always are.
    pub explain_allowed: f64,
    /// Days a tenant's records are kept unless it set its own retention.
    pub retention_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            region: "local".to_owned(),
            explain_allowed: 0.01,
            retention_days: 400,
        }
    }
}

/// The origin's audit trail: its store, and the queue its own events go through.
#[derive(Clone)]
pub struct Audit {
    pub store: AuditStore,
    settings: Arc<AuditSettings>,
    queue: mpsc::Sender<AuditEvent>,
    writer: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// Per tenant and kind, `(minute, recorded, skipped)` of events anyone can cause ([`Audit::sample`]).
    sampled: Arc<std::sync::Mutex<Samples>>,
    /// Reason paths computed at once for recorded decisions (each is a graph walk): beyond this many, a
    /// decision is recorded without its path (`detail.why_skipped`), rather than queueing work an
    /// attacker's stream of denials could pile up.
    explains: Arc<tokio::sync::Semaphore>,
}

/// Reason paths computed at once at most.
pub const MAX_EXPLAINS: usize = 16;
/// Per `(tenant, kind)`: `(minute, recorded, skipped)`.
type Samples = std::collections::HashMap<(String, String), (i64, u32, u64)>;

/// Events anyone can cause, recorded per tenant, kind and minute at most.
pub const SAMPLED_PER_MINUTE: u32 = 10;

impl Audit {
    /// Start the writer task (needs a Tokio runtime). With `route`, the writer sends its batches to
    /// whichever region's origin holds the primary database when it is not this one's (a replica's
    /// database takes no writes).
    #[must_use]
    pub fn start(db: crate::store::Db, settings: AuditSettings, route: Option<Route>) -> Self {
        let store = AuditStore::new(db);
        let (queue, rx) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_loop(store.clone(), route, rx));
        Self {
            store,
            settings: Arc::new(settings),
            queue,
            writer: Arc::new(Mutex::new(Some(writer))),
            explains: Arc::new(tokio::sync::Semaphore::new(MAX_EXPLAINS)),
            sampled: Arc::default(),
        }
    }

    /// Whether to record an event of `kind` for `tenant` that anyone can cause (an unauthenticated
    /// refusal): at most [`SAMPLED_PER_MINUTE`] a tenant, kind and minute. `Some(skipped)`: record it, and
    /// say how many were skipped before it; `None`: skip it.
    #[must_use]
    pub fn sample(&self, tenant: &str, kind: &str) -> Option<u64> {
        let minute = crate::now().as_millis().div_euclid(60_000);
        let mut map = self.sampled.lock().ok()?;
        if map.len() > 10_000 {
            map.retain(|_, (m, _, _)| *m == minute);
        }
        let (m, recorded, skipped) = map
            .entry((tenant.to_owned(), kind.to_owned()))
            .or_insert((minute, 0, 0));
        if *m != minute {
            *m = minute;
            *recorded = 0;
        }
        if *recorded >= SAMPLED_PER_MINUTE {
            *skipped += 1;
            None
        } else {
            *recorded += 1;
            Some(std::mem::take(skipped))
        }
    }

    /// A permit to compute one reason path now, if fewer than [`MAX_EXPLAINS`] are running.
    #[must_use]
    pub fn explain_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.explains).try_acquire_owned().ok()
    }

    #[must_use]
    pub fn settings(&self) -> &AuditSettings {
        &self.settings
    }

    /// Record one of the origin's own events (`id`, `region` and `source` are filled in here when empty).
    /// Returns once the writer has it queued.
    pub async fn record(&self, mut event: AuditEvent) {
        if event.id.is_empty() {
            event.id = new_id();
        }
        if event.region.is_empty() {
            event.region.clone_from(&self.settings.region);
        }
        if self.queue.send(event).await.is_err() {
            tracing::error!("audit writer stopped: an event was not recorded");
        }
    }

    /// Store a batch from the edge now (not through the queue: the edge's redelivery needs to know it is
    /// stored). Each event is fitted ([`fit`]: shortened, never refused for its size) and checked; those
    /// refused (a malformed id, tenant, kind or code, a time out of range) are reported, never stored.
    ///
    /// # Errors
    /// Database failures (nothing of the batch is acknowledged then; a redelivery stores it once).
    pub async fn ingest(
        &self,
        events: Vec<AuditEvent>,
        now_ms: i64,
    ) -> Result<(store::Appended, Vec<AuditRefusal>), sqlx::Error> {
        let mut refused = Vec::new();
        let mut by_tenant: std::collections::BTreeMap<String, Vec<Checked>> =
            std::collections::BTreeMap::new();
        for (index, event) in events.into_iter().enumerate() {
            match check(fit(event), now_ms) {
                Ok(c) => by_tenant.entry(c.event.tenant.clone()).or_default().push(c),
                Err(message) => refused.push(AuditRefusal { index, message }),
            }
        }
        let mut total = store::Appended::default();
        for (tenant, checked) in by_tenant {
            let done = self.store.append(&tenant, &checked, now_ms).await?;
            total.stored += done.stored;
            total.duplicates += done.duplicates;
        }
        Ok((total, refused))
    }

    /// Wait until the writer has stored every event queued so far, then stop it (a graceful shutdown).
    pub async fn close(&self) {
        let Some(writer) = self.writer.lock().await.take() else {
            return;
        };
        // Clones of the sender live on in the router, so the queue does not close by itself: a marker
        // behind the queued events tells the writer to store them and stop.
        let _ = self.queue.send(stop_marker()).await;
        let _ = writer.await;
    }
}

fn stop_marker() -> AuditEvent {
    let mut e = event("", "", Outcome::Success, Actor::service());
    e.id = STOP.to_owned();
    e
}

const STOP: &str = "stop";

/// The writer: take what is queued (up to [`BATCH`]), append it, again; a failed append is retried with
/// a growing pause (up to 5 s) until it succeeds, while recorders wait on the full queue.
async fn write_loop(store: AuditStore, route: Option<Route>, mut rx: mpsc::Receiver<AuditEvent>) {
    let mut pending: Vec<AuditEvent> = Vec::new();
    let mut stopping = false;
    loop {
        if pending.is_empty() {
            if stopping {
                return;
            }
            let mut buf = Vec::new();
            if rx.recv_many(&mut buf, BATCH).await == 0 {
                return;
            }
            pending = buf;
            // Let a burst gather into one append.
            tokio::time::sleep(FLUSH_EVERY / 10).await;
            let mut more = Vec::new();
            if !rx.is_empty() {
                rx.recv_many(&mut more, BATCH.saturating_sub(pending.len()))
                    .await;
            }
            pending.extend(more);
        }
        if let Some(at) = pending.iter().position(|e| e.id == STOP) {
            pending.remove(at);
            stopping = true;
        }
        let now_ms = crate::now().as_millis();
        let mut by_tenant: std::collections::BTreeMap<String, Vec<Checked>> =
            std::collections::BTreeMap::new();
        for e in pending.drain(..) {
            match check(fit(e), now_ms) {
                Ok(c) => by_tenant.entry(c.event.tenant.clone()).or_default().push(c),
                Err(message) => {
                    tracing::error!(%message, "the origin made an audit event it cannot store")
                }
            }
        }
        let mut pause = Duration::from_millis(100);
        for (tenant, batch) in by_tenant {
            loop {
                match deliver(&store, route.as_ref(), &tenant, &batch).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, events = batch.len(), "cannot store audit events: trying again");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }
}

/// Where a replica's origin sends its events: the region's view of who holds the primary, and the service
/// credential its peers accept.
#[derive(Clone)]
pub struct Route {
    pub regions: crate::region::Regions,
    pub bearer: Arc<str>,
}

/// Store `batch` of `tenant`: here when this origin's database is the primary, else at the primary
/// region's origin (which stores each event once, however often it is sent).
async fn deliver(
    store: &AuditStore,
    route: Option<&Route>,
    tenant: &str,
    batch: &[Checked],
) -> Result<(), String> {
    use crate::region::PrimaryTarget;
    let Some(route) = route else {
        return store
            .append(tenant, batch, crate::now().as_millis())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
    };
    match route.regions.snapshot().primary {
        PrimaryTarget::Here => store
            .append(tenant, batch, crate::now().as_millis())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        PrimaryTarget::Unknown => Err("no region reports a primary database".to_owned()),
        PrimaryTarget::Peer(i) => {
            let (Some(peer), Some(client)) = (route.regions.peer(i), route.regions.client()) else {
                return Err("the primary region's origin is not configured".to_owned());
            };
            let body = tessera_proto::audit::AuditBatch {
                events: batch.iter().map(|c| c.event.clone()).collect(),
            };
            let json = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
            let answer = client
                .post(format!("{}/internal/v1/audit/events", peer.url))
                .bearer_auth(&*route.bearer)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json)
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            if answer.status().is_success() {
                Ok(())
            } else {
                Err(format!(
                    "the primary region's origin answered {}",
                    answer.status()
                ))
            }
        }
    }
}

/// 32 lower-case hex digits from the OS RNG.
#[must_use]
pub fn new_id() -> String {
    let bytes: [u8; 16] = crate::random_bytes().unwrap_or_else(|_| {
        // The OS RNG never fails on Linux; should it, the time and a counter still make ids unique.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut b = [0u8; 16];
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        b[..8].copy_from_slice(&crate::now().as_millis().to_be_bytes());
        b[8..].copy_from_slice(&n.to_be_bytes());
        b
    });
    chain::hex(&bytes)
}

/// A new event of `tenant` with the given kind, outcome and actor; the rest empty, the time now.
#[must_use]
pub fn event(tenant: &str, kind: &str, outcome: Outcome, actor: Actor) -> AuditEvent {
    AuditEvent::new(
        tenant,
        kind,
        outcome,
        actor,
        Source::Origin,
        crate::now().as_millis(),
    )
}

/// Actors the origin names.
pub trait ActorExt {
    /// A caller with the service credential.
    fn service() -> Actor;
    /// An operator at the command line.
    fn operator() -> Actor;
}

impl ActorExt for Actor {
    fn service() -> Actor {
        Actor {
            kind: ActorKind::Service,
            id: String::new(),
        }
    }
    fn operator() -> Actor {
        Actor {
            kind: ActorKind::Operator,
            id: std::env::var("USER").unwrap_or_default(),
        }
    }
}

/// What an origin handler knows of the request for its events: the request id (the edge's, from
/// `Tessera-Request-Id`, or a new one) and whether the caller records the decision itself.
#[derive(Clone, Debug)]
pub struct Caller {
    pub request_id: String,
    /// The edge sent `Tessera-Audit-Recorded-By: edge`: it records the decisions it asked for (with the
    /// latency its caller saw), so the origin does not record them twice.
    pub recorded_by_edge: bool,
}

impl Caller {
    /// An event of this request.
    #[must_use]
    pub fn event(&self, tenant: &str, kind: &str, outcome: Outcome) -> AuditEvent {
        let mut e = event(tenant, kind, outcome, Actor::service());
        e.request_id.clone_from(&self.request_id);
        e
    }
}

/// A request id as the edge sends it: 1-64 characters of `A-Z a-z 0-9 - _ .` (anything else is replaced).
fn well_formed_request_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let request_id = header(tessera_proto::audit::REQUEST_ID_HEADER)
            .filter(|t| well_formed_request_id(t))
            .map_or_else(new_id, str::to_owned);
        let recorded_by_edge = header(tessera_proto::audit::RECORDED_BY_HEADER) == Some("edge");
        Ok(Self {
            request_id,
            recorded_by_edge,
        })
    }
}

/// Whether to keep an allowed decision's reason path: with probability `share`.
#[must_use]
pub fn sampled(share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    if share >= 1.0 {
        return true;
    }
    let draw = crate::random_bytes::<8>().map_or(u64::MAX, u64::from_le_bytes);
    #[allow(
        clippy::cast_precision_loss,
        reason = "a sampling draw needs no more than 53 bits"
    )]
    let unit = draw as f64 / u64::MAX as f64;
    unit < share
}

/// `value` as a detail field, or a note that it was too large to keep.
#[must_use]
pub fn bounded(value: serde_json::Value, max_bytes: usize) -> serde_json::Value {
    let len = serde_json::to_string(&value).map_or(usize::MAX, |t| t.len());
    if len <= max_bytes {
        value
    } else {
        serde_json::json!({ "truncated": true, "bytes": len })
    }
}

/// Store one event now, outside the writer (the command line, which exits right after).
///
/// # Errors
/// Database failures, or an event that cannot be stored even fitted.
pub async fn record_now(db: &crate::store::Db, mut event: AuditEvent) -> Result<(), String> {
    if event.id.is_empty() {
        event.id = new_id();
    }
    let now_ms = crate::now().as_millis();
    let tenant = event.tenant.clone();
    let checked = check(fit(event), now_ms)?;
    AuditStore::new(db.clone())
        .append(&tenant, &[checked], now_ms)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot record the audit event: {e}"))
}
