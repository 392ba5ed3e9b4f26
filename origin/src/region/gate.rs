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
use crate::http::extract::{ServiceTenant, MAX_BODY_BYTES};
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
    /// Writes (or may write): answered by the primary region.
    Write,
}

/// The routes that are not writes. `/scim/v2/{tenant}/...` reads are every `GET` under it.
const READS: &[(&str, &str, Kind)] = &[
    ("GET", "/healthz", Kind::Here),
    ("GET", "/v1/regions", Kind::Here),
    ("GET", "/internal/v1/region", Kind::Here),
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
    ("GET", "/v1/tenants/{tenant}/schema", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/head", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/watch", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/token-roles", Kind::Read),
    ("GET", "/v1/tenants/{tenant}/saml/connections", Kind::Read),
    (
        "GET",
        "/v1/tenants/{tenant}/saml/connections/{connection}",
        Kind::Read,
    ),
    ("GET", "/internal/v1/clients/{client_id}", Kind::Read),
    ("GET", "/internal/v1/saml/domains/{domain}", Kind::Read),
    (
        "GET",
        "/internal/v1/tenants/{tenant}/users/by-name/{username}",
        Kind::Read,
    ),
    (
        "GET",
        "/internal/v1/tenants/{tenant}/users/{user_id}",
        Kind::Read,
    ),
    (
        "GET",
        "/internal/v1/tenants/{tenant}/passkeys/{credential_id}",
        Kind::Read,
    ),
    (
        "GET",
        "/internal/v1/tenants/{tenant}/sessions/{sid}",
        Kind::Read,
    ),
    ("GET", "/saml/{tenant}/{connection}/metadata", Kind::Read),
];

/// The kind of the route `path` (the matched template, e.g. `/v1/tenants/{tenant}/check`) for `method`.
#[must_use]
pub fn kind(method: &Method, path: &str) -> Kind {
    if let Some((_, _, k)) = READS
        .iter()
        .find(|(m, p, _)| *p == path && method.as_str() == *m)
    {
        return *k;
    }
    if (method == Method::GET || method == Method::HEAD) && path.starts_with("/scim/v2/{tenant}/") {
        return Kind::Read;
    }
    Kind::Write
}

/// Whether this origin may answer a plain read itself: its database is the primary, or a replica within
/// its lag bound.
fn reads_here(snap: &Snapshot, max_lag: Duration) -> bool {
    match snap.own.role {
        RegionRole::Primary => true,
        RegionRole::Replica => snap
            .own
            .lag_ms
            .is_some_and(|lag| u128::from(lag) <= max_lag.as_millis()),
        RegionRole::Fenced | RegionRole::Unavailable => false,
    }
}

/// The middleware (a `route_layer`, so the matched route is known).
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let regions = state.regions.clone();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let Some(path) = path else {
        return next.run(req).await;
    };
    let kind = kind(req.method(), &path);
    if kind == Kind::Here {
        return here(&regions, next.run(req).await);
    }
    let snap = regions.snapshot();
    let forwarded_in = req.headers().contains_key(FORWARDED_HEADER);
    match kind {
        Kind::Here => here(&regions, next.run(req).await),
        Kind::Write => {
            if snap.primary == PrimaryTarget::Here {
                answer_here(&regions, next.run(req).await)
            } else {
                to_primary(&regions, &snap, req, forwarded_in, Count::ForwardedWrite).await
            }
        }
        Kind::Read => {
            if reads_here(&snap, regions.settings().max_lag) {
                answer_here(&regions, next.run(req).await)
            } else {
                to_primary(
                    &regions,
                    &snap,
                    req,
                    forwarded_in,
                    Count::ForwardedStaleRead,
                )
                .await
            }
        }
        Kind::AuthzRead => authz_read(&state, &snap, req, next, forwarded_in).await,
    }
}

/// Tag an answer computed here: the region, and a replica's lag (so that the edge dates what it learns).
fn here(regions: &Regions, mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(regions.name()) {
        headers.insert(HeaderName::from_static(REGION_HEADER), v);
    }
    let own = regions.snapshot().own;
    if let (RegionRole::Replica, Some(lag)) = (own.role, own.lag_ms) {
        headers.insert(HeaderName::from_static(REPLICA_LAG_HEADER), lag.into());
    }
    response
}

fn answer_here(regions: &Regions, response: Response) -> Response {
    regions.count(Count::AnsweredHere);
    here(regions, response)
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
    snap: &Snapshot,
    req: Request,
    forwarded_in: bool,
    why: Count,
) -> Response {
    let (parts, body) = match buffer(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    forward_buffered(regions, snap, &parts, body, forwarded_in, why).await
}

async fn forward_buffered(
    regions: &Regions,
    snap: &Snapshot,
    parts: &Parts,
    body: Bytes,
    forwarded_in: bool,
    why: Count,
) -> Response {
    let write = matches!(why, Count::ForwardedWrite);
    let peer = match snap.primary {
        PrimaryTarget::Peer(i) if !forwarded_in => regions.peer(i),
        _ => None,
    };
    let Some(peer) = peer else {
        regions.count(Count::Refused);
        return if write || snap.own.role != RegionRole::Replica {
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
    snap: &Snapshot,
    req: Request,
    next: Next,
    forwarded_in: bool,
) -> Response {
    let regions = &state.regions;
    if snap.primary == PrimaryTarget::Here {
        return answer_here(regions, next.run(req).await);
    }
    let (mut parts, body) = match buffer(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Only the service credential's holder may make this origin wait or forward; anyone else gets the
    // handler's own refusal.
    let Ok(tenant) = ServiceTenant::from_request_parts(&mut parts, state).await else {
        return answer_here(
            regions,
            next.run(Request::from_parts(parts, Body::from(body))).await,
        );
    };
    let consistency = serde_json::from_slice::<Peek>(&body)
        .ok()
        .and_then(|p| p.consistency);
    let decision = match consistency {
        // A body that is not what the route takes: the handler refuses it here.
        None | Some(Consistency::MinimizeLatency) => {
            if reads_here(snap, regions.settings().max_lag) {
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
                && reads_here(snap, regions.settings().max_lag) =>
        {
            Decision::Here
        }
        Some(Consistency::FullyConsistent) => Decision::Forward(Count::ForwardedFreshRead),
        Some(Consistency::AtLeastAsFresh(z) | Consistency::AtExactSnapshot(z)) => {
            match state.zookies.open(tenant.as_str(), &z) {
                // A bad zookie is the handler's to refuse.
                Err(_) => Decision::Here,
                Ok(want) => replayed(state, snap, tenant.as_str(), want).await,
            }
        }
    };
    match decision {
        Decision::Here => answer_here(
            regions,
            next.run(Request::from_parts(parts, Body::from(body))).await,
        ),
        Decision::Waited => {
            regions.count(Count::WaitedForReplay);
            answer_here(
                regions,
                next.run(Request::from_parts(parts, Body::from(body))).await,
            )
        }
        Decision::Forward(why) => {
            forward_buffered(regions, snap, &parts, body, forwarded_in, why).await
        }
    }
}

enum Decision {
    Here,
    Waited,
    Forward(Count),
}

/// Whether this region's database has replayed the tenant's revision `want`, waiting up to
/// `replay_wait` for it.
async fn replayed(state: &AppState, snap: &Snapshot, tenant: &str, want: u64) -> Decision {
    if !matches!(snap.own.role, RegionRole::Replica) {
        return Decision::Forward(Count::ForwardedFreshRead);
    }
    let settings = state.regions.settings();
    let deadline = tokio::time::Instant::now() + settings.replay_wait;
    let mut waited = false;
    loop {
        match state.authz.head(tenant).await {
            Ok(head) if head >= want => {
                return if waited {
                    Decision::Waited
                } else {
                    Decision::Here
                };
            }
            Ok(_) => {}
            Err(_) => return Decision::Forward(Count::ForwardedFreshRead),
        }
        if tokio::time::Instant::now() >= deadline {
            return Decision::Forward(Count::ForwardedFreshRead);
        }
        waited = true;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_not_named_are_writes() {
        assert_eq!(
            kind(&Method::POST, "/v1/tenants/{tenant}/check"),
            Kind::AuthzRead
        );
        assert_eq!(kind(&Method::GET, "/v1/tenants/{tenant}/head"), Kind::Read);
        assert_eq!(
            kind(&Method::GET, "/scim/v2/{tenant}/Users/{id}"),
            Kind::Read
        );
        assert_eq!(
            kind(&Method::PUT, "/scim/v2/{tenant}/Users/{id}"),
            Kind::Write
        );
        assert_eq!(
            kind(&Method::GET, "/saml/{tenant}/{connection}/login"),
            Kind::Write
        );
        assert_eq!(
            kind(&Method::PUT, "/v1/tenants/{tenant}/schema"),
            Kind::Write
        );
        assert_eq!(
            kind(&Method::POST, "/v1/tenants/{tenant}/anything-new"),
            Kind::Write
        );
    }
}
