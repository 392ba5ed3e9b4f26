//! [`Checker`]: permission checks at the edge (`POST /v1/check`), with a local cache keyed by revision.
//!
//! Every answer the edge gives carries the revision it was computed at (and that revision as a zookie).
//! The checker keeps answers by question and serves one again only when the asked consistency allows it:
//! - `minimize_latency`: an answer at most `max_staleness` behind the head (5 s by default, the edge's own
//!   bound), counting the staleness the edge reported with it; an answer the edge gave from its cache
//!   for a zookie says nothing of the head, so it never serves here;
//! - `at_least_as_fresh(zookie)`: an answer computed at the zookie's revision or later (read-your-writes:
//!   pass the zookie a write returned), and no older than `max_staleness`; otherwise the edge is asked,
//!   with the zookie;
//! - `fully_consistent`, `at_exact_snapshot`: always the edge.
//!
//! The checker authenticates with a bearer token: a fixed one, or a client's, obtained with client
//! credentials and renewed a minute before it expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::Deserialize;
use tessera_proto::check::{CheckRequest, CheckResponse, Consistency};
use tessera_proto::UnixTime;

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::transport::{HttpRequest, Transport};

const MAX_ENTRIES: usize = 10_000;
const DEFAULT_MAX_STALENESS_MS: i64 = 5_000;

/// How the checker authenticates to the edge.
pub enum Credentials {
    /// A bearer token the caller renews.
    Bearer(String),
    /// A confidential client: tokens from `/oauth2/token` (client credentials), renewed before expiry.
    Client {
        client_id: String,
        client_secret: tessera_jose::Secret<String>,
        scope: Option<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(..)"),
            Self::Client { client_id, .. } => write!(f, "Client({client_id}, ..)"),
        }
    }
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The revision the answer was computed at, and as a zookie.
    pub revision: u64,
    pub zookie: String,
    /// Served from this checker's cache.
    pub from_cache: bool,
    /// The answer depends on caveat parameters the question did not give (`allowed` is then false);
    /// ask again with them through [`Checker::check_with_context`]. Never cached.
    pub conditional: bool,
    /// When `conditional`: the parameters still missing.
    pub missing: Vec<String>,
    /// When the answer rests on a relationship that expires (RFC 3339): it holds until then, and this
    /// checker serves it from its cache only until then.
    pub valid_until: Option<String>,
}

#[derive(Clone)]
struct Entry {
    allowed: bool,
    revision: u64,
    zookie: String,
    /// No later than the moment the answer was known to be at most that far behind the head: its arrival
    /// less the edge's `staleness_ms`. `None` when the edge gave no such bound (an `at_least_as_fresh`
    /// answer from the edge's cache only promises to meet its zookie), so it never serves
    /// `minimize_latency`.
    fresh_as_of: Option<UnixTime>,
    /// The answer's `valid_until`, read (one that does not read as a moment is not kept at all).
    valid_until: Option<UnixTime>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

#[derive(Deserialize)]
struct Refusal {
    error: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Asks `edge`'s `/v1/check`.
pub struct Checker {
    edge: String,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    credentials: Credentials,
    max_staleness_ms: i64,
    cache: Mutex<HashMap<(String, String, String), Entry>>,
    token: tokio::sync::Mutex<Option<(String, UnixTime)>>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("edge", &self.edge)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

fn refused(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<Refusal>(body) {
        Ok(r) => Error::Refused {
            status,
            code: r.error,
            message: r.message.or(r.error_description).unwrap_or_default(),
        },
        Err(_) => Error::Refused {
            status,
            code: "unknown".into(),
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}

impl Checker {
    /// A checker for the edge at `edge` (its issuer URL).
    ///
    /// # Errors
    /// Only without the `reqwest` feature's transport: use [`Checker::with_transport`].
    #[cfg(feature = "reqwest")]
    pub fn new(edge: &str, credentials: Credentials) -> Result<Self, Error> {
        let transport = crate::transport::ReqwestTransport::new().map_err(Error::Transport)?;
        Ok(Self::with_transport(
            edge,
            credentials,
            Arc::new(transport),
            Arc::new(SystemClock),
        ))
    }

    #[must_use]
    pub fn with_transport(
        edge: &str,
        credentials: Credentials,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            edge: edge.trim_end_matches('/').to_owned(),
            transport,
            clock,
            credentials,
            max_staleness_ms: DEFAULT_MAX_STALENESS_MS,
            cache: Mutex::new(HashMap::new()),
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// How old a cached answer may be for `minimize_latency` (default 5 s; 0 turns the cache off for it).
    #[must_use]
    pub fn max_staleness_ms(mut self, ms: u32) -> Self {
        self.max_staleness_ms = i64::from(ms);
        self
    }

    /// May `subject` have `permission` on `resource`, as fresh as `consistency` asks?
    ///
    /// # Errors
    /// [`Error::Refused`] with the edge's code (`unknown_permission`, `forbidden_subject`,
    /// `zookie_invalid`, ...), [`Error::Transport`], [`Error::Check`].
    pub async fn check(
        &self,
        resource: &str,
        permission: &str,
        subject: &str,
        consistency: Consistency,
    ) -> Result<Decision, Error> {
        self.ask(
            resource,
            permission,
            subject,
            consistency,
            serde_json::Map::new(),
        )
        .await
    }

    /// [`check`](Self::check) with caveat `context` (parameter → value) for the caveats on the way: always
    /// asks the edge, which asks the origin (an answer for one context is not cached).
    ///
    /// # Errors
    /// As [`check`](Self::check), and the edge's `caveat_context_invalid` for a value of the wrong type.
    pub async fn check_with_context(
        &self,
        resource: &str,
        permission: &str,
        subject: &str,
        consistency: Consistency,
        context: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Decision, Error> {
        self.ask(resource, permission, subject, consistency, context)
            .await
    }

    async fn ask(
        &self,
        resource: &str,
        permission: &str,
        subject: &str,
        consistency: Consistency,
        context: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Decision, Error> {
        let key = (
            resource.to_owned(),
            permission.to_owned(),
            subject.to_owned(),
        );
        let cacheable = context.is_empty();
        if let Some(hit) = self.cached(&key, &consistency).filter(|_| cacheable) {
            return Ok(hit);
        }
        let body = serde_json::to_vec(&CheckRequest {
            resource: resource.to_owned(),
            permission: permission.to_owned(),
            subject: subject.to_owned(),
            consistency: consistency.clone(),
            context,
        })
        .map_err(|e| Error::Check(e.to_string()))?;
        let bearer = self.bearer().await?;
        let resp = self
            .transport
            .send(HttpRequest {
                method: "POST",
                url: format!("{}/v1/check", self.edge),
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("authorization".into(), format!("Bearer {bearer}")),
                ],
                body,
            })
            .await
            .map_err(Error::Transport)?;
        if resp.status == 401 {
            // The token may have been revoked or expired early: the next call gets a new one.
            *self.token.lock().await = None;
        }
        if resp.status != 200 {
            return Err(refused(resp.status, &resp.body));
        }
        let answer: CheckResponse =
            serde_json::from_slice(&resp.body).map_err(|e| Error::Check(e.to_string()))?;
        let entry = Entry {
            allowed: answer.allowed,
            revision: answer.at.revision,
            zookie: answer.at.zookie.clone(),
            fresh_as_of: fresh_as_of(&consistency, &answer, self.clock.now()),
            valid_until: answer
                .valid_until
                .as_deref()
                .and_then(tessera_proto::rfc3339::parse_unix_time),
        };
        let until_read = answer.valid_until.is_none() || entry.valid_until.is_some();
        if cacheable && !answer.conditional && until_read {
            self.remember(key, entry);
        }
        Ok(Decision {
            allowed: answer.allowed,
            revision: answer.at.revision,
            zookie: answer.at.zookie,
            from_cache: false,
            conditional: answer.conditional,
            missing: answer.missing,
            valid_until: answer.valid_until,
        })
    }

    fn cached(
        &self,
        key: &(String, String, String),
        consistency: &Consistency,
    ) -> Option<Decision> {
        let entry = self.cache.lock().ok()?.get(key).cloned()?;
        let now = self.clock.now().as_millis();
        let young = entry
            .fresh_as_of
            .is_some_and(|t| now.saturating_sub(t.as_millis()) <= self.max_staleness_ms);
        if entry.valid_until.is_some_and(|u| now >= u.as_millis()) {
            return None;
        }
        let usable = match consistency {
            Consistency::MinimizeLatency => young,
            // Fresh enough for the zookie, and no older than minimize_latency allows (the zookie's
            // revision is read unverified: an old or made-up one must not keep an answer alive).
            Consistency::AtLeastAsFresh(z) => {
                young
                    && tessera_authz::revision_unverified(z)
                        .is_ok_and(|wanted| entry.revision >= wanted)
            }
            Consistency::FullyConsistent | Consistency::AtExactSnapshot(_) => false,
        };
        usable.then_some(Decision {
            allowed: entry.allowed,
            revision: entry.revision,
            zookie: entry.zookie,
            from_cache: true,
            conditional: false,
            missing: Vec::new(),
            valid_until: entry
                .valid_until
                .map(tessera_authz::tuple::format_expiration),
        })
    }

    fn remember(&self, key: (String, String, String), entry: Entry) {
        if let Ok(mut cache) = self.cache.lock() {
            // Never replace an answer with one from an older revision, nor one known fresh with one at
            // the same revision whose freshness is unknown.
            if cache.get(&key).is_some_and(|old| {
                old.revision > entry.revision
                    || (old.revision == entry.revision
                        && old.fresh_as_of.is_some()
                        && entry.fresh_as_of.is_none())
            }) {
                return;
            }
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(key, entry);
        }
    }

    /// The bearer token to send: the fixed one, or a client-credentials token valid for another minute.
    async fn bearer(&self) -> Result<String, Error> {
        let (client_id, client_secret, scope) = match &self.credentials {
            Credentials::Bearer(t) => return Ok(t.clone()),
            Credentials::Client {
                client_id,
                client_secret,
                scope,
            } => (client_id, client_secret, scope),
        };
        let mut held = self.token.lock().await;
        let now = self.clock.now();
        if let Some((token, until)) = held.as_ref() {
            if now < *until {
                return Ok(token.clone());
            }
        }
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = scope {
            form.append_pair("scope", scope);
        }
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(client_id),
            enc(client_secret.expose_secret())
        ));
        let resp = self
            .transport
            .send(HttpRequest {
                method: "POST",
                url: format!("{}/oauth2/token", self.edge),
                headers: vec![
                    (
                        "content-type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ),
                    ("authorization".into(), format!("Basic {basic}")),
                ],
                body: form.finish().into_bytes(),
            })
            .await
            .map_err(Error::Transport)?;
        if resp.status != 200 {
            return Err(refused(resp.status, &resp.body));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&resp.body).map_err(|e| Error::Check(e.to_string()))?;
        let until = now.plus_secs(answer.expires_in.saturating_sub(60).max(0));
        *held = Some((answer.access_token.clone(), until));
        Ok(answer.access_token)
    }
}

/// When `answer` was last known to be within its staleness of the head (see [`Entry::fresh_as_of`]).
fn fresh_as_of(asked: &Consistency, answer: &CheckResponse, now: UnixTime) -> Option<UnixTime> {
    let behind_ms = match asked {
        // Met from the edge's cache: it only promises the zookie, not how far behind the head it is.
        Consistency::AtLeastAsFresh(_) if answer.at.cached => return None,
        // Computed by the origin for a zookie, possibly at a revision synced within the last
        // `RECENT_REVISION_MS` rather than at the head — as the edge itself dates such heads.
        Consistency::AtLeastAsFresh(_) => answer
            .at
            .staleness_ms
            .saturating_add(tessera_proto::check::RECENT_REVISION_MS),
        _ => answer.at.staleness_ms,
    };
    Some(UnixTime::from_millis(now.as_millis().saturating_sub(
        i64::try_from(behind_ms).unwrap_or(i64::MAX),
    )))
}
