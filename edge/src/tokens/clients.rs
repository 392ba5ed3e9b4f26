//! OAuth client records and client authentication at the edge.
//!
//! Records come from the origin (`GET /internal/v1/clients/{id}` with the service credential) and are cached
//! in KV (`CLIENTS`, 60 s, the KV minimum) and in isolate memory (30 s). While the origin is unreachable the
//! KV copy keeps serving. The secret is checked against the record's Argon2id hash; a successful check is
//! remembered per isolate as the SHA-256 of the secret (compared in constant time), so the slow hash runs
//! once per isolate and secret, not once per request.

use std::cell::RefCell;
use std::collections::HashMap;
use tessera_proto::Code;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tessera_proto::ClientRecord;
use worker::{Env, Method};

use crate::config::Config;
use crate::error::ApiError;
use crate::origin::client::{self as origin_client, Reply};
use crate::{log, now};
use core::time::Duration;
use serde_json::json;
use tessera_proto::UnixTime;

const KV_BINDING: &str = "CLIENTS";
const KV_TTL_SECONDS: u64 = 60;
const ISOLATE_TTL: Duration = Duration::from_secs(30);
const MAX_CACHED: usize = 10_000;

struct Cached {
    record: ClientRecord,
    fetched_at: UnixTime,
}

thread_local! {
    static RECORDS: RefCell<HashMap<String, Cached>> = RefCell::new(HashMap::new());
    /// client_id → (stored hash it was checked against, SHA-256 of the accepted secret).
    static ACCEPTED: RefCell<HashMap<String, (String, [u8; 32])>> = RefCell::new(HashMap::new());
}

/// A client id is printable ASCII without separators, at most 128 bytes (ours are `tc_` + 16 characters).
fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Fetch a client record: isolate cache, then the origin (refreshing KV), then KV if the origin is down.
///
/// # Errors
/// `Ok(None)` when no such client exists; `Err` when neither the origin nor KV can answer.
pub async fn lookup(
    env: &Env,
    cfg: &Config,
    client_id: &str,
) -> Result<Option<ClientRecord>, ApiError> {
    if !plausible_id(client_id) {
        return Ok(None);
    }
    let now = now();
    let hit = RECORDS.with(|m| {
        m.borrow()
            .get(client_id)
            .filter(|c| now.since(c.fetched_at) < ISOLATE_TTL)
            .map(|c| c.record.clone())
    });
    if let Some(record) = hit {
        return Ok(Some(record));
    }
    let kv = env.kv(KV_BINDING)?;
    match fetch_from_origin(env, cfg, client_id).await {
        Ok(Some(record)) => {
            remember(&record, now);
            let text =
                serde_json::to_string(&record).map_err(|e| ApiError::internal(e.to_string()))?;
            match kv.put(&kv_key(client_id), text) {
                Ok(put) => {
                    if let Err(e) = put.expiration_ttl(KV_TTL_SECONDS).execute().await {
                        log::error("kv_put_failed", &[("detail", json!(e.to_string()))]);
                    }
                }
                Err(e) => log::error("kv_put_failed", &[("detail", json!(e.to_string()))]),
            }
            Ok(Some(record))
        }
        Ok(None) => {
            RECORDS.with(|m| m.borrow_mut().remove(client_id));
            let _ = kv.delete(&kv_key(client_id)).await;
            Ok(None)
        }
        Err(origin_err) => match kv.get(&kv_key(client_id)).json::<ClientRecord>().await {
            Ok(Some(record)) => {
                log::warn(
                    "client_from_kv",
                    &[
                        ("client_id", json!(client_id)),
                        (
                            "detail",
                            json!(origin_err
                                .internal_message
                                .as_deref()
                                .unwrap_or(&origin_err.external_message)),
                        ),
                    ],
                );
                Ok(Some(record))
            }
            _ => Err(origin_err),
        },
    }
}

fn kv_key(client_id: &str) -> String {
    format!("client:{client_id}")
}

fn remember(record: &ClientRecord, now: UnixTime) {
    RECORDS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_CACHED {
            m.clear();
        }
        m.insert(
            record.client_id.clone(),
            Cached {
                record: record.clone(),
                fetched_at: now,
            },
        );
    });
}

async fn fetch_from_origin(
    env: &Env,
    cfg: &Config,
    client_id: &str,
) -> Result<Option<ClientRecord>, ApiError> {
    let path = format!("/internal/v1/clients/{client_id}");
    match origin_client::call(env, cfg, Method::Get, &path, None::<&()>).await {
        Ok(Reply::Answer(record)) => Ok(Some(record)),
        Ok(Reply::Refused(r)) if r.status == 404 => Ok(None),
        Ok(Reply::Refused(r)) => Err(ApiError::unavailable(
            Code::OriginUnavailable,
            "the origin cannot be reached",
            format!("GET {path} answered {} {}", r.status, r.body.error),
        )),
        Err(e) => Err(e.into_api(Code::OriginUnavailable, "the origin cannot be reached")),
    }
}

/// Check `presented` against `record`. Every failure is the same `invalid_client` from outside.
///
/// # Errors
/// `invalid_client` with the reason in the log only.
pub fn authenticate(record: &ClientRecord, presented: &str) -> Result<(), ApiError> {
    if record.disabled {
        return Err(ApiError::invalid_client(format!(
            "client {} is disabled",
            record.client_id
        )));
    }
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let remembered = ACCEPTED.with(|m| {
        m.borrow()
            .get(&record.client_id)
            .filter(|(hash, _)| *hash == record.secret_hash)
            .map(|(_, d)| bool::from(d.ct_eq(&digest)))
    });
    if remembered == Some(true) {
        return Ok(());
    }
    tessera_authn::verify_client_secret(presented.as_bytes(), &record.secret_hash)
        .map_err(|e| ApiError::invalid_client(format!("client {}: {e}", record.client_id)))?;
    ACCEPTED.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_CACHED {
            m.clear();
        }
        m.insert(
            record.client_id.clone(),
            (record.secret_hash.clone(), digest),
        );
    });
    Ok(())
}
