//! The edge's audit events: recorded off the request path, delivered to the origin's audit trail.
//!
//! Why a Cloudflare Queue (`AUDIT_QUEUE`, wrangler.toml) and not `waitUntil` straight to the origin: a
//! queue keeps a message until its consumer acknowledges it, with retries and a dead-letter queue, so an
//! origin that is down for minutes (or hours) loses nothing; an isolate's memory does not survive
//! eviction, and `waitUntil` lives 30 s after the response.
//!
//! The path of an event:
//! 1. A handler calls [`record`]. The event goes into this isolate's buffer; nothing waits. The first
//!    event of a quiet isolate schedules a flush a second later (`waitUntil`), a full batch (100 events or
//!    200 KiB) flushes at once: events are batched per isolate, not sent per request.
//! 2. The flush sends the buffer to the queue in batches (`sendBatch`: 100 messages, 256 KB at most).
//!    Should the queue refuse, the events go back into the buffer (at most [`MAX_BUFFER`]; beyond that
//!    the oldest are dropped and counted in the log) for the next flush.
//! 3. The queue's consumer ([`consume`], this Worker's `queue` handler) posts each batch to the origin
//!    (`POST /internal/v1/audit/events`) and acknowledges it once the origin has stored it; otherwise the
//!    whole batch is retried with a growing delay (up to 5 minutes, 100 times: about 8 hours), then it goes
//!    to the dead-letter queue. The origin stores each event id once, so a redelivery never doubles one.
//!
//! Without a queue binding (a deployment that did not configure one) the flush posts to the origin
//! itself, keeping what failed in the buffer: best effort, said in the log at the first flush.
//! `AUDIT = "off"` records nothing (measurements of the edge without telemetry).

use std::cell::RefCell;
use std::collections::VecDeque;

use serde_json::json;
use tessera_proto::audit::{
    Actor, ActorKind, AuditBatch, AuditEvent, AuditIngested, Outcome, Source,
};
use worker::{Context, Delay, Env, Method};

use crate::config::Config;
use crate::log;
use crate::origin::client::{self as origin_client, Reply};

/// Events an isolate holds at most while they cannot be sent, and their bytes of JSON at most.
pub const MAX_BUFFER: usize = 10_000;
const MAX_BUFFER_BYTES: usize = 8 * 1024 * 1024;
/// A flush that failed tries again after this long, this many times (within `waitUntil`'s 30 s).
const RETRY_AFTER_MS: u64 = 5_000;
const RETRIES: u32 = 4;
/// A quiet isolate sends its events this long after the first.
const FLUSH_AFTER_MS: u64 = 1000;
/// Messages in one `sendBatch` (the queue's limit).
const BATCH_MESSAGES: usize = 100;
/// Bytes of JSON in one `sendBatch` (the queue allows 256 KB).
const BATCH_BYTES: usize = 200 * 1024;
/// Events of one kind anyone can cause, recorded per isolate and minute; the rest are counted on the next.
const SAMPLED_PER_MINUTE: u32 = 10;
/// The queue binding.
const QUEUE: &str = "AUDIT_QUEUE";

#[derive(Default)]
struct Buffer {
    events: VecDeque<(AuditEvent, usize)>,
    bytes: usize,
    scheduled: bool,
    dropped: u64,
    warned_no_queue: bool,
    /// Per kind of sampled event: `(minute, recorded, skipped)`.
    sampled: std::collections::HashMap<String, (i64, u32, u64)>,
}

thread_local! {
    static BUFFER: RefCell<Buffer> = RefCell::new(Buffer::default());
}

/// A new event of `tenant` (filled in by [`record`]: id, time, request, region).
#[must_use]
pub fn event(tenant: &str, kind: &str, outcome: Outcome, actor: Actor) -> AuditEvent {
    AuditEvent::new(tenant, kind, outcome, actor, Source::Edge, 0)
}

/// An actor of `kind` with `id`.
#[must_use]
pub fn actor(kind: ActorKind, id: &str) -> Actor {
    Actor {
        kind,
        id: id.to_owned(),
    }
}

/// The actor a check's caller is (`client:ID` or `TYPE:ID` of a person).
#[must_use]
pub fn subject_actor(own_subject: &str, user_type: &str) -> Actor {
    match own_subject.split_once(':') {
        Some(("client", id)) => actor(ActorKind::Client, id),
        Some((t, id)) if t == user_type => actor(ActorKind::User, id),
        _ => actor(ActorKind::Service, own_subject),
    }
}

/// Record `e`: fill in what every event carries and buffer it; a flush is scheduled on `ctx`.
pub fn record(ctx: &Context, env: &Env, cfg: &Config, mut e: AuditEvent) {
    if !cfg.audit {
        return;
    }
    if e.id.is_empty() {
        let Ok(bytes) = crate::random_bytes::<16>() else {
            return;
        };
        e.id = bytes.iter().map(|b| format!("{b:02x}")).collect();
    }
    if e.at_ms == 0 {
        e.at_ms = crate::now().as_millis();
    }
    e.request_id.clone_from(&cfg.request_id);
    e.region = origin_client::location(cfg).unwrap_or_default();
    let size = serde_json::to_string(&e).map_or(0, |t| t.len());
    let (now, later) = BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        push(&mut b, e, size);
        let full = b.events.len() >= BATCH_MESSAGES || b.bytes >= BATCH_BYTES;
        let schedule = !full && !b.scheduled;
        if full || schedule {
            b.scheduled = true;
        }
        (full, schedule)
    });
    if now {
        ctx.wait_until(flush(env.clone()));
    } else if later {
        let env = env.clone();
        ctx.wait_until(async move {
            Delay::from(std::time::Duration::from_millis(FLUSH_AFTER_MS)).await;
            flush(env).await;
        });
    }
}

fn push(b: &mut Buffer, e: AuditEvent, size: usize) {
    b.events.push_back((e, size));
    b.bytes += size;
    while b.events.len() > MAX_BUFFER || b.bytes > MAX_BUFFER_BYTES {
        if let Some((_, s)) = b.events.pop_front() {
            b.bytes -= s;
            b.dropped += 1;
        }
    }
}

/// Record an event anyone can cause (a verification failure, a refusal of someone unidentified): at most
/// [`SAMPLED_PER_MINUTE`] of each kind per isolate and minute, so that a flood of bad requests does not
/// become a flood of events; the next recorded one says how many were skipped.
pub fn record_sampled(ctx: &Context, env: &Env, cfg: &Config, mut e: AuditEvent) {
    let minute = crate::now().as_millis().div_euclid(60_000);
    let skipped = BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        let (m, recorded, skipped) = b.sampled.entry(e.kind.clone()).or_insert((minute, 0, 0));
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
    });
    if let Some(skipped) = skipped {
        e.detail.insert("sampled".into(), json!(true));
        e.detail.insert("skipped_before".into(), json!(skipped));
        record(ctx, env, cfg, e);
    }
}

/// This request's id: Cloudflare's `cf-ray` when it is well formed, else 16 random bytes in hex.
#[must_use]
pub fn request_id(req: &worker::Request) -> String {
    let ray = req.headers().get("cf-ray").ok().flatten().filter(|r| {
        !r.is_empty() && r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    ray.unwrap_or_else(|| {
        crate::random_bytes::<16>()
            .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
            .unwrap_or_default()
    })
}

/// The kind of event a refused request to `path` is, if it is one the audit trail records.
#[must_use]
pub fn refusal_kind(path: &str, code: tessera_proto::Code) -> Option<&'static str> {
    use tessera_proto::audit::kinds;
    use tessera_proto::Code;
    Some(match path {
        "/oauth2/token" => kinds::TOKEN_REFUSED,
        "/oauth2/introspect" => kinds::TOKEN_INTROSPECTED,
        "/v1/passkeys/register/verify" => kinds::PASSKEY_REGISTERED,
        "/v1/passkeys/login/verify" => kinds::PASSKEY_SIGN_IN,
        "/v1/totp/enroll" | "/v1/totp/confirm" => kinds::TOTP_ENROLLED,
        "/v1/totp/verify" if code == Code::TotpLocked => kinds::TOTP_LOCKED,
        "/v1/totp/verify" => kinds::TOTP_STEP_UP,
        "/v1/passkeys/remove" => kinds::PASSKEY_REMOVED,
        "/v1/passkeys/rename" => kinds::PASSKEY_RENAMED,
        "/v1/recovery/sign-in" if code == Code::RecoveryLocked => kinds::RECOVERY_LOCKED,
        "/v1/recovery/sign-in" => kinds::RECOVERY_SIGN_IN,
        "/v1/recovery/codes" => kinds::RECOVERY_CODES_ISSUED,
        "/v1/sso/exchange" => kinds::SAML_SIGN_IN,
        "/v1/sessions/logout" | "/v1/sessions/logout-all" | "/v1/sessions/revoke" => {
            kinds::SESSION_LOGOUT
        }
        "/admin/keys/rotate" => kinds::KEY_ROTATED,
        _ => return None,
    })
}

/// Record a refused request to `path` (one of [`refusal_kind`]'s) with its code and, bounded, the
/// detail the log gets. Who asked is not known here (the refusal may be that nobody could be
/// identified): the actor is `anonymous`, the tenant the login page's.
pub fn refused(ctx: &Context, env: &Env, cfg: &Config, path: &str, err: &crate::error::ApiError) {
    if err.audited {
        return;
    }
    let Some(kind) = refusal_kind(path, err.code) else {
        return;
    };
    let outcome = if err.status >= 500 {
        Outcome::Error
    } else {
        Outcome::Failure
    };
    let mut e = event(
        &cfg.login.tenant,
        kind,
        outcome,
        actor(ActorKind::Anonymous, ""),
    );
    e.code = err.code.as_str().to_owned();
    e.detail.insert("status".into(), json!(err.status));
    e.detail.insert("endpoint".into(), json!(path));
    if let Some(why) = &err.internal_message {
        let cut: String = why.chars().take(512).collect();
        e.detail.insert("reason".into(), json!(cut));
    }
    // Nobody identified: anyone can cause these, so a flood of them is sampled.
    record_sampled(ctx, env, cfg, e);
}

/// Record `err` as a refusal of `kind` for a known `tenant` and `actor`, and mark it recorded.
#[must_use]
pub fn refused_as(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    tenant: &str,
    kind: &str,
    actor: Actor,
    err: crate::error::ApiError,
) -> crate::error::ApiError {
    let mut e = event(
        tenant,
        kind,
        if err.status >= 500 {
            Outcome::Error
        } else {
            Outcome::Failure
        },
        actor,
    );
    e.code = err.code.as_str().to_owned();
    e.detail.insert("status".into(), json!(err.status));
    record(ctx, env, cfg, e);
    err.audited()
}

/// Take up to one batch from the buffer.
fn take_batch() -> Vec<(AuditEvent, usize)> {
    BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some((_, size)) = b.events.front() {
            if out.len() >= BATCH_MESSAGES || (bytes + size > BATCH_BYTES && !out.is_empty()) {
                break;
            }
            bytes += size;
            if let Some(item) = b.events.pop_front() {
                out.push(item);
            }
        }
        b.bytes -= bytes;
        out
    })
}

/// Put a batch that could not be sent back in front of the buffer (oldest first, bounded).
fn put_back(batch: Vec<(AuditEvent, usize)>) {
    BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        for (e, size) in batch.into_iter().rev() {
            if b.events.len() >= MAX_BUFFER || b.bytes + size > MAX_BUFFER_BYTES {
                b.dropped += 1;
                continue;
            }
            b.bytes += size;
            b.events.push_front((e, size));
        }
    });
}

/// Send everything buffered, batch by batch, until the buffer is empty; a batch that fails goes back, and
/// the flush tries again a few times before it leaves the rest to the next request's flush.
async fn flush(env: Env) {
    BUFFER.with(|b| b.borrow_mut().scheduled = false);
    let mut retries = 0;
    loop {
        let batch = take_batch();
        if batch.is_empty() {
            break;
        }
        let count = batch.len();
        if let Err(detail) = send(&env, &batch).await {
            log::warn(
                "audit_send_failed",
                &[("events", json!(count)), ("detail", json!(detail))],
            );
            put_back(batch);
            retries += 1;
            if retries > RETRIES {
                break;
            }
            Delay::from(std::time::Duration::from_millis(RETRY_AFTER_MS)).await;
        }
    }
    let dropped = BUFFER.with(|b| std::mem::take(&mut b.borrow_mut().dropped));
    if dropped > 0 {
        log::error("audit_events_dropped", &[("events", json!(dropped))]);
    }
}

/// One batch to the queue, or (without a queue) to the origin.
async fn send(env: &Env, batch: &[(AuditEvent, usize)]) -> Result<(), String> {
    match env.queue(QUEUE) {
        Ok(queue) => {
            // Each event as JSON text: the binding hands a message to JavaScript through
            // serde-wasm-bindgen, which makes a map (an event's `detail`) a JS `Map` that the consumer
            // then read back as an empty object — every edge event lost its detail that way.
            let messages = batch
                .iter()
                .map(|(e, _)| serde_json::to_string(e).map_err(|e| e.to_string()))
                .collect::<Result<Vec<String>, String>>()?;
            queue
                .send_batch(
                    worker::BatchMessageBuilder::new()
                        .messages(messages)
                        .build(),
                )
                .await
                .map_err(|e| e.to_string())
        }
        Err(_) => {
            let warn =
                BUFFER.with(|b| !std::mem::replace(&mut b.borrow_mut().warned_no_queue, true));
            if warn {
                log::warn(
                    "audit_without_queue",
                    &[("detail", json!("no AUDIT_QUEUE binding: events go to the origin directly, and are lost if this isolate ends while the origin is down"))],
                );
            }
            let events = batch.iter().map(|(e, _)| e.clone()).collect();
            deliver(env, events).await.map(|_| ())
        }
    }
}

/// Post `events` to the origin's audit trail.
async fn deliver(env: &Env, events: Vec<AuditEvent>) -> Result<AuditIngested, String> {
    let cfg = Config::from_env(env).map_err(|e| e.external_message)?;
    let body = AuditBatch { events };
    match origin_client::call::<AuditIngested>(
        env,
        &cfg,
        Method::Post,
        "/internal/v1/audit/events",
        Some(&body),
    )
    .await
    {
        Ok(Reply::Answer(done)) => Ok(done),
        Ok(Reply::Refused(r)) => Err(format!(
            "the origin refused the batch: {} {}",
            r.status, r.body.message
        )),
        Err(e) => Err(match e {
            origin_client::OriginError::Unreachable(d)
            | origin_client::OriginError::Contract(d) => d,
            origin_client::OriginError::Edge(e) => e.external_message,
        }),
    }
}

/// The queue's consumer: deliver a batch to the origin; acknowledge it once stored, else retry it later.
///
/// # Errors
/// None of its own: a failed delivery is retried by the queue.
pub async fn consume(
    batch: worker::MessageBatch<serde_json::Value>,
    env: Env,
) -> worker::Result<()> {
    use worker::MessageExt as _;
    let messages = batch.messages()?;
    let mut events = Vec::with_capacity(messages.len());
    // The oldest message's age: the retry delay grows with it (the binding exposes no attempt count).
    let now_ms = crate::now().as_millis();
    let mut oldest_ms = now_ms;
    for m in &messages {
        let sent_ms = i64::try_from(m.timestamp().as_millis()).unwrap_or(now_ms);
        oldest_ms = oldest_ms.min(sent_ms);
        // JSON text (what `send` puts on the queue), or an object (what earlier versions put there).
        let read = match m.body() {
            serde_json::Value::String(text) => serde_json::from_str::<AuditEvent>(text),
            other => serde_json::from_value::<AuditEvent>(other.clone()),
        };
        match read {
            Ok(e) => events.push(e),
            Err(e) => {
                // Never deliverable: acknowledged, and said in the log.
                log::error(
                    "audit_message_unreadable",
                    &[("detail", json!(e.to_string()))],
                );
                m.ack();
            }
        }
    }
    if events.is_empty() {
        return Ok(());
    }
    let count = events.len();
    match deliver(&env, events).await {
        Ok(done) => {
            for r in &done.refused {
                log::warn(
                    "audit_event_refused",
                    &[("index", json!(r.index)), ("message", json!(r.message))],
                );
            }
            batch.ack_all();
        }
        Err(detail) => {
            // Half the batch's age, 2 s to 5 minutes: retries thin out as an outage goes on.
            let age_s = u32::try_from((now_ms - oldest_ms).max(0) / 1000).unwrap_or(u32::MAX);
            let delay = (age_s / 2).clamp(2, 300);
            log::warn(
                "audit_delivery_failed",
                &[
                    ("events", json!(count)),
                    ("age_s", json!(age_s)),
                    ("retry_in_s", json!(delay)),
                    ("detail", json!(detail)),
                ],
            );
            batch.retry_all_with_options(
                &worker::QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(delay)
                    .build(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: usize) -> AuditEvent {
        let mut e = event(
            "acme",
            "check.decision",
            Outcome::Allowed,
            actor(ActorKind::Client, "c"),
        );
        e.id = format!("{n:032x}");
        e
    }

    #[test]
    fn batches_respect_the_queue_limits_and_keep_order() {
        BUFFER.with(|b| *b.borrow_mut() = Buffer::default());
        BUFFER.with(|b| {
            let mut b = b.borrow_mut();
            for n in 0..250 {
                push(&mut b, ev(n), 100);
            }
        });
        let first = take_batch();
        assert_eq!(first.len(), BATCH_MESSAGES);
        assert_eq!(
            first.first().map(|(e, _)| e.id.clone()),
            Some(format!("{:032x}", 0))
        );
        put_back(first);
        let again = take_batch();
        assert_eq!(
            again.first().map(|(e, _)| e.id.clone()),
            Some(format!("{:032x}", 0))
        );
        // Large events: the byte bound cuts the batch.
        BUFFER.with(|b| *b.borrow_mut() = Buffer::default());
        BUFFER.with(|b| {
            let mut b = b.borrow_mut();
            for n in 0..10 {
                push(&mut b, ev(n), 60 * 1024);
            }
        });
        assert_eq!(take_batch().len(), 3);
    }

    #[test]
    fn the_buffer_is_bounded_and_counts_what_it_drops() {
        BUFFER.with(|b| *b.borrow_mut() = Buffer::default());
        BUFFER.with(|b| {
            let mut b = b.borrow_mut();
            for n in 0..MAX_BUFFER + 5 {
                push(&mut b, ev(n), 10);
            }
            assert_eq!(b.events.len(), MAX_BUFFER);
            assert_eq!(b.dropped, 5);
            assert_eq!(b.bytes, MAX_BUFFER * 10);
        });
    }

    #[test]
    fn callers_become_actors() {
        assert_eq!(subject_actor("client:web", "user").kind, ActorKind::Client);
        assert_eq!(subject_actor("user:ann", "user").id, "ann");
        assert_eq!(subject_actor("svc", "user").kind, ActorKind::Service);
    }
}
