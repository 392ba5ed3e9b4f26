//! The region gate: one middleware in front of every route that decides whether this origin answers a
//! request itself or sends it to the primary region, by the route's kind ([`kind`]: one table; a route it
//! does not name is a write, so a new route is safe before anyone classifies it) and, for the
//! authorization reads, by the consistency the request asks for.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts as _, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use tessera_proto::authz::Consistency;
use tessera_proto::regions::{
    RegionRole, FORWARDED_HEADER, REGION_HEADER, REGION_HEAD_HEADER, REPLICA_LAG_HEADER,
};
use tessera_proto::Code;

use super::forward::{forward, refuse};
use super::{Count, PrimaryTarget, Regions, Snapshot};
use crate::error::HttpError;
use crate::http::extract::{Service, ServiceTenant, MAX_BODY_BYTES};
use crate::AppState;

/// What a route does, for the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Health and region status: always answered here, whatever the database.
    Here,
    /// Reads the database: answered here while the replica is within its lag bound.
    Read,
    /// An authorization read with a `consistency` in its body: answered here at a revision the replica
    /// has replayed, when that satisfies the request.
    AuthzRead,
    /// Writes (or may write), and reads that must see the latest write: answered by the primary region.
    Primary,
}

/// The routes a replica may answer. Not here, so answered by the primary: every write, and the reads that
/// must see the latest write — a session's liveness and a user's state (a logout or a deprovisioning
/// takes effect at once), SCIM (an identity provider reads what it just wrote, by ETag and filter), and
/// the administration reads (a schema or connection just written).
const READS: &[(&str, &str, Kind)] = &[
    ("GET", "/healthz", Kind::Here),
    ("GET", "/v1/regions", Kind::Here),
    ("GET", "/internal/v1/region", Kind::Here),
    ("GET", "/metrics", Kind::Here),
    ("POST", "/v1/tenants/{tenant}/check", Kind::AuthzRead),
    ("POST", "/v1/tenants/{tenant}/check/bulk", Kind::AuthzRead),
    ("POST", "/v1/tenants/{tenant}/expand", Kind::AuthzRead),
    (
        "POST",
        "/v1/tenants/{tenant}/lookup/resources",
        Kind::AuthzRead,
    ),
    (
        "POST",
        "/v1/tenants/{tenant}/lookup/subjects",
        Kind::AuthzRead,
    ),
    (
        "POST",
        "/v1/tenants/{tenant}/relationships/read",
        Kind::AuthzRead,
    ),
    ("GET", "/v1/tenants/{tenant}/head", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/watch", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/token-roles", Kind::Read),
    ("GET", "/internal/v1/clients/{client_id}", Kind::Read),
    ("GET", "/internal/v1/saml/domains/{domain}", Kind::Read),
    (
        "GET",
        "/internal/v1/tenants/{tenant}/users/by-name/{username}",
        Kind::Read,
    ),
    (
        "GET",
        "/internal/v1/tenants/{tenant}/passkeys/{credential_id}",
        Kind::Read,
    ),
    ("GET", "/saml/{tenant}/{connection}/metadata", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/audit", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/audit/events/{id}", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/audit/stats", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/audit/verify", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/audit/retention", Kind::Read),
    ("GET", "/audit", Kind::Here),
    ("GET", "/audit/login", Kind::Here),
    ("POST", "/audit/login", Kind::Here),
    ("POST", "/audit/logout", Kind::Here),
    ("GET", "/audit/assets/{file}", Kind::Here),
    // Answered by whichever origin the browser reached, from its own database (a lagging replica's
    // figures lag too): never forwarded, since these requests carry a cookie, not the service credential.
    ("GET", "/audit/data/stats", Kind::Here),
];

/// The kind of the route `path` (the matched template, e.g. `/v1/tenants/{tenant}/check`) for `method`.
#[must_use]
pub fn kind(method: &Method, path: &str) -> Kind {
    READS
        .iter()
        .find(|(m, p, _)| *p == path && method.as_str() == *m)
        .map_or(Kind::Primary, |(_, _, k)| *k)
}

/// What the gate saw when it decided: the snapshot, and this replica's lag at that moment.
struct Seen {
    snap: Snapshot,
    lag_ms: Option<u64>,
}

impl Seen {
    fn now(regions: &Regions) -> Self {
        let snap = regions.snapshot();
        let lag_ms = snap.lag_ms(super::heartbeat::now_ms(), regions.stale_after_ms());
        Self { snap, lag_ms }
    }

    /// Whether this origin may answer a plain read itself: its database is the primary, or a replica
    /// within its lag bound.
    fn reads_here(&self, max_lag: Duration) -> bool {
        match self.snap.role {
            RegionRole::Primary => true,
            RegionRole::Replica => self
                .lag_ms
                .is_some_and(|lag| u128::from(lag) <= max_lag.as_millis()),
            RegionRole::Fenced | RegionRole::Unavailable => false,
        }
    }
}

/// The audit trail's ingest route (see [`gate`]).
const AUDIT_INGEST: &str = "/internal/v1/audit/events";

/// Routes under these prefixes take the service credential: the gate checks it before it buffers,
/// waits or forwards anything, so that nobody else can make an origin do either.
fn takes_service_credential(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/internal/")
}

/// The middleware (a `route_layer`, so the matched route is known).
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let regions = state.regions.clone();
    // Every route passes here with its template; one without is treated as a write, to be safe.
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let kind = kind(req.method(), &path);
    if kind == Kind::Here {
        return here(&regions, next.run(req).await, None);
    }
    let seen = Seen::now(&regions);
    if seen.snap.primary == PrimaryTarget::Here {
        if path == AUDIT_INGEST {
            // Audit batches (the edge's, a replica's own events) are counted apart: they are the
            // trail's traffic, not the answers these counters say where they were made.
            regions.count(Count::AuditBatch);
            return here(&regions, next.run(req).await, None);
        }
        return answer_here(&regions, next.run(req).await, None);
    }
    let (mut parts, body) = req.into_parts();
    if takes_service_credential(&path)
        && Service::from_request_parts(&mut parts, &state)
            .await
            .is_err()
    {
        return HttpError::unauthorized().into_response();
    }
    let req = Request::from_parts(parts, body);
    let forwarded_in = req.headers().contains_key(FORWARDED_HEADER);
    match kind {
        Kind::Here => here(&regions, next.run(req).await, None),
        Kind::Primary => {
            to_primary(
                &regions,
                &seen,
                req,
                forwarded_in,
                Count::ForwardedToPrimary,
            )
            .await
        }
        Kind::Read => {
            if seen.reads_here(regions.settings().max_lag) {
                answer_here(&regions, next.run(req).await, Some(&seen))
            } else {
                to_primary(
                    &regions,
                    &seen,
                    req,
                    forwarded_in,
                    Count::ForwardedStaleRead,
                )
                .await
            }
        }
        Kind::AuthzRead => authz_read(&state, &seen, req, next, forwarded_in).await,
    }
}

/// Tag an answer computed here: the region, and a replica's lag as the gate saw it when it decided (so
/// that the edge dates what it learns; `unknown` when the replica could not tell).
fn here(regions: &Regions, mut response: Response, seen: Option<&Seen>) -> Response {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(regions.name()) {
        headers.insert(HeaderName::from_static(REGION_HEADER), v);
    }
    if let Some(seen) = seen.filter(|s| s.snap.role == RegionRole::Replica) {
        let value = seen
            .lag_ms
            .map_or_else(|| HeaderValue::from_static("unknown"), HeaderValue::from);
        headers.insert(HeaderName::from_static(REPLICA_LAG_HEADER), value);
    }
    response
}

fn answer_here(regions: &Regions, response: Response, seen: Option<&Seen>) -> Response {
    regions.count(Count::AnsweredHere);
    here(regions, response, seen)
}

/// Read a request's body whole (within [`MAX_BODY_BYTES`]).
async fn buffer(req: Request) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(_) => Err(HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::BodyTooLarge,
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )
        .into_response()),
    }
}

/// Send `req` to the primary region, counting it as `why`; refuse when there is none to send it to.
async fn to_primary(
    regions: &Regions,
    seen: &Seen,
    req: Request,
    forwarded_in: bool,
    why: Count,
) -> Response {
    let (parts, body) = match buffer(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    forward_buffered(regions, seen, &parts, body, forwarded_in, why).await
}

async fn forward_buffered(
    regions: &Regions,
    seen: &Seen,
    parts: &Parts,
    body: Bytes,
    forwarded_in: bool,
    why: Count,
) -> Response {
    let write = matches!(why, Count::ForwardedToPrimary);
    let peer = match seen.snap.primary {
        PrimaryTarget::Peer(i) if !forwarded_in => regions.peer(i),
        _ => None,
    };
    // Bounded: a primary region that answers slowly must not pile up every request here.
    let permit = regions.forwards().try_acquire();
    let (Some(peer), Ok(_permit)) = (peer, permit) else {
        regions.count(Count::Refused);
        return if write || seen.snap.role != RegionRole::Replica {
            refuse(
                Code::PrimaryUnavailable,
                "no primary region can be reached; try again",
                write.then_some(true),
            )
        } else {
            refuse(
                Code::ReplicaStale,
                "this region's replica is further behind than its bound and no primary region can be reached",
                None,
            )
        };
    };
    regions.count(why);
    forward(regions, peer, parts, body).await
}

/// The part of an authorization read the gate looks at.
#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    consistency: Option<Consistency>,
}

/// An authorization read: here when the replica has what the consistency asks for (waiting up to
/// `replay_wait` for a zookie's revision), else at the primary region.
async fn authz_read(
    state: &AppState,
    seen: &Seen,
    req: Request,
    next: Next,
    forwarded_in: bool,
) -> Response {
    let regions = &state.regions;
    let (mut parts, body) = match buffer(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // The credential was checked by the gate; a malformed tenant is the handler's to refuse.
    let Ok(tenant) = ServiceTenant::from_request_parts(&mut parts, state).await else {
        return answer_here(
            regions,
            next.run(Request::from_parts(parts, Body::from(body))).await,
            Some(seen),
        );
    };
    let consistency = serde_json::from_slice::<Peek>(&body)
        .ok()
        .and_then(|p| p.consistency);
    let decision = match consistency {
        // A body that is not what the route takes: the handler refuses it here.
        None | Some(Consistency::MinimizeLatency) => {
            if seen.reads_here(regions.settings().max_lag) {
                Decision::Here
            } else {
                Decision::Forward(Count::ForwardedStaleRead)
            }
        }
        // The edge filling its cache accepts this region's head within the lag bound (it dates it by
        // the lag); anyone else's fully_consistent is the primary's.
        Some(Consistency::FullyConsistent)
            if parts
                .headers
                .get(REGION_HEAD_HEADER)
                .is_some_and(|v| v == "accept")
                && seen.reads_here(regions.settings().max_lag) =>
        {
            Decision::Here
        }
        Some(Consistency::FullyConsistent) => Decision::Forward(Count::ForwardedFreshRead),
        Some(Consistency::AtLeastAsFresh(z) | Consistency::AtExactSnapshot(z)) => {
            match state.zookies.open(tenant.as_str(), &z) {
                // A bad zookie is the handler's to refuse.
                Err(_) => Decision::Here,
                Ok(want) => replayed(state, seen, tenant.as_str(), want).await,
            }
        }
    };
    let run = |parts, body: Bytes| next.run(Request::from_parts(parts, Body::from(body)));
    match decision {
        Decision::Here => answer_here(regions, run(parts, body).await, Some(seen)),
        Decision::Waited => {
            regions.count(Count::WaitedForReplay);
            answer_here(regions, run(parts, body).await, Some(seen))
        }
        Decision::Forward(why) => {
            forward_buffered(regions, seen, &parts, body, forwarded_in, why).await
        }
    }
}

enum Decision {
    Here,
    Waited,
    Forward(Count),
}

/// Whether this region's database has replayed the tenant's revision `want`, waiting up to
/// `replay_wait` for it (at most [`super::MAX_REPLAY_WAITERS`] requests wait at once; others go to the
/// primary region without waiting).
async fn replayed(state: &AppState, seen: &Seen, tenant: &str, want: u64) -> Decision {
    if seen.snap.role != RegionRole::Replica {
        return Decision::Forward(Count::ForwardedFreshRead);
    }
    match state.authz.head(tenant).await {
        Ok(head) if head >= want => return Decision::Here,
        Ok(_) => {}
        Err(_) => return Decision::Forward(Count::ForwardedFreshRead),
    }
    let Ok(_permit) = state.regions.waiters().try_acquire() else {
        return Decision::Forward(Count::ForwardedFreshRead);
    };
    let deadline = tokio::time::Instant::now() + state.regions.settings().replay_wait;
    loop {
        if tokio::time::Instant::now() >= deadline {
            return Decision::Forward(Count::ForwardedFreshRead);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        match state.authz.head(tenant).await {
            Ok(head) if head >= want => return Decision::Waited,
            Ok(_) => {}
            Err(_) => return Decision::Forward(Count::ForwardedFreshRead),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_not_named_are_answered_by_the_primary() {
        assert_eq!(
            kind(&Method::POST, "/v1/tenants/{tenant}/check"),
            Kind::AuthzRead
        );
        assert_eq!(kind(&Method::GET, "/v1/tenants/{tenant}/head"), Kind::Read);
        assert_eq!(
            kind(&Method::GET, "/scim/v2/{tenant}/Users/{id}"),
            Kind::Primary
        );
        assert_eq!(
            kind(&Method::GET, "/internal/v1/tenants/{tenant}/sessions/{sid}"),
            Kind::Primary
        );
        assert_eq!(
            kind(
                &Method::GET,
                "/internal/v1/tenants/{tenant}/passkeys/{credential_id}"
            ),
            Kind::Read
        );
        assert_eq!(
            kind(&Method::GET, "/saml/{tenant}/{connection}/login"),
            Kind::Primary
        );
        assert_eq!(
            kind(&Method::PUT, "/v1/tenants/{tenant}/schema"),
            Kind::Primary
        );
        assert_eq!(
            kind(&Method::POST, "/v1/tenants/{tenant}/anything-new"),
            Kind::Primary
        );
        assert_eq!(kind(&Method::GET, ""), Kind::Primary);
    }
}
