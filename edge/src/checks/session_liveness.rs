//! Is a person's session still alive? What `/v1/check` asks of every user token, remembered per isolate
//! for at most the decision staleness bound (`CHECK_MAX_STALENESS_MS`), so that checks stay at the edge
//! while a logout still stops them: at once on the isolate that ended the session, within the bound
//! everywhere else.

use std::cell::RefCell;
use std::collections::HashMap;
use tessera_proto::Code;
use tessera_proto::UnixTime;

use crate::config::Config;
use crate::error::ApiError;
use crate::origin::accounts as origin_api;
use worker::Env;

thread_local! {
    /// sid → (tenant, user, active, when the origin said so): what `/v1/check` knows of sessions.
    static SESSIONS_SEEN: RefCell<HashMap<String, (String, String, bool, UnixTime)>> = RefCell::new(HashMap::new());
}

/// For permission checks: is the session a user token names still active? Asked of the origin at most once
/// per `CHECK_MAX_STALENESS_MS` per isolate (the bound every check answer already has), so a logout stops
/// a token's checks at once on the isolate that ended it and within that bound everywhere else. While the
/// origin is unreachable, a remembered end stands and a remembered "active" for at most twice the bound;
/// beyond that the check cannot be answered.
///
/// # Errors
/// `503 consistency_unavailable` when the origin is needed and unreachable.
pub async fn active_for_checks(
    env: &Env,
    cfg: &Config,
    tenant: &str,
    user_id: &str,
    sid: &str,
) -> Result<bool, ApiError> {
    let now = crate::now();
    let bound = cfg.checks.bounds.max_staleness_ms;
    let seen = SESSIONS_SEEN.with(|m| m.borrow().get(sid).cloned());
    if let Some((t, u, active, at)) = &seen {
        if now.millis_since(*at) < bound {
            return Ok(*active && t == tenant && u == user_id);
        }
    }
    match origin_api::session(env, cfg, tenant, sid).await {
        Ok(found) => {
            let active = found
                .as_ref()
                .is_some_and(|s| s.active && s.user_id == user_id);
            SESSIONS_SEEN.with(|m| {
                let mut m = m.borrow_mut();
                if m.len() >= 50_000 {
                    m.clear();
                }
                m.insert(
                    sid.to_owned(),
                    (tenant.to_owned(), user_id.to_owned(), active, now),
                );
            });
            Ok(active)
        }
        // Origin unreachable: a remembered "ended" still stands (that fails closed); a remembered
        // "active" only while it is within twice the bound, so a session ended elsewhere stops passing
        // checks even while the origin is down; otherwise no guess.
        Err(e) if e.status >= 500 => match seen {
            Some((t, u, false, _)) if t == tenant && u == user_id => Ok(false),
            Some((t, u, true, at))
                if t == tenant
                    && u == user_id
                    && now.millis_since(at) < bound.saturating_mul(2) =>
            {
                Ok(true)
            }
            _ => Err(ApiError {
                internal_message: e.internal_message,
                ..ApiError::new(
                    503,
                    Code::ConsistencyUnavailable,
                    "the session behind this token cannot be confirmed right now",
                )
            }),
        },
        Err(e) => Err(e),
    }
}

/// This isolate forgets what it knew of the sessions `ended` names (a logout here is seen here at once).
pub fn forget(ended: impl Fn(&str, &str, &str) -> bool) {
    SESSIONS_SEEN.with(|m| {
        m.borrow_mut()
            .retain(|sid, (tenant, user, _, _)| !ended(sid, tenant, user));
    });
}
