//! SCIM `Users` (RFC 7644 §3.3–3.6) under `/scim/v2/{tenant}/Users`, over the tenant's `users` rows —
//! the same users that sign in with passkeys:
//!
//! | route | answer |
//! |---|---|
//! | `POST Users` | `201`, `Location`, `ETag`; `409 uniqueness` for a taken `userName` (any case) or `externalId` |
//! | `GET Users` (`super::user_list`) | a `ListResponse`: `filter`, `sortBy`/`sortOrder`, `startIndex`/`count`, `attributes`/`excludedAttributes` |
//! | `POST Users/.search` | the same, the parameters in a `SearchRequest` body (RFC 7644 §3.4.3) |
//! | `GET Users/{id}` | the user; `304` when `If-None-Match` names its version |
//! | `PUT Users/{id}` | replace (§3.5.1); `412` when `If-Match` names another version |
//! | `PATCH Users/{id}` | `tessera_scim::apply_patch`; corrections logged with their codes |
//! | `DELETE Users/{id}` | `204`; passkeys, TOTP secret and the row go, every session ends |
//!
//! `active: false` (PUT or PATCH) ends every session of the user in the transaction that writes it, as
//! `tessera-origin users deactivate` does; `active: true` lets them sign in again. Bodies are JSON
//! (`application/scim+json` or `application/json`) within the origin's body limit.

use axum::extract::{FromRequest, Path, State};
use axum::http::header::{CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tessera_scim::{Projection, ScimType};

use super::http::{base, method_not_allowed, ScimJson, ScimRefusal, ScimTenant};
use super::user_resource::{
    current_write, etag, from_body, log_corrections, names_version, refusal, to_resource, to_write,
    USER_TYPE,
};
use super::user_store::{Change, Modified, ScimUsers, Unique, UserRow, UserStoreError, UserWrite};
use crate::http::extract::MAX_BODY_BYTES;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    let t = "/scim/v2/{tenant}";
    Router::new()
        .route(
            &format!("{t}/Users"),
            get(super::user_list::list)
                .post(create)
                .fallback(method_not_allowed),
        )
        // The root search (RFC 7644 §3.4.3) covers every resource type: Users are the only one served.
        .route(
            &format!("{t}/.search"),
            post(super::user_list::search).fallback(method_not_allowed),
        )
        .route(
            &format!("{t}/Users/.search"),
            post(super::user_list::search).fallback(method_not_allowed),
        )
        .route(
            &format!("{t}/Users/{{id}}"),
            get(read)
                .put(replace)
                .patch(patch)
                .delete(delete)
                .fallback(method_not_allowed),
        )
}

/// A SCIM request body: JSON (`application/scim+json` or `application/json`; no `Content-Type` is
/// read as JSON) within [`MAX_BODY_BYTES`].
pub struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimRefusal;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ScimRefusal> {
        if let Some(ct) = req.headers().get(CONTENT_TYPE) {
            let media = ct
                .to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if media != "application/scim+json" && media != "application/json" {
                return Err(ScimRefusal::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    None,
                    "a SCIM body is application/scim+json or application/json",
                ));
            }
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ScimRefusal::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        None,
                        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                    )
                } else {
                    ScimRefusal::new(
                        StatusCode::BAD_REQUEST,
                        Some(ScimType::InvalidSyntax),
                        "the request body could not be read",
                    )
                }
            })?;
        serde_json::from_slice(&bytes).map(Self).map_err(|e| {
            ScimRefusal::new(
                StatusCode::BAD_REQUEST,
                Some(ScimType::InvalidSyntax),
                format!("the body is not JSON: {e}"),
            )
        })
    }
}

pub(super) fn store_failure(e: UserStoreError) -> ScimRefusal {
    match e {
        UserStoreError::NotFound => ScimRefusal::not_found("no such user"),
        UserStoreError::Taken(which) => ScimRefusal::new(
            StatusCode::CONFLICT,
            Some(ScimType::Uniqueness),
            match which {
                Unique::UserName => {
                    "another user of this tenant has that `userName` (ignoring case)"
                }
                Unique::ExternalId => "another user of this tenant has that `externalId`",
            },
        ),
        UserStoreError::Contended => ScimRefusal::new(
            StatusCode::CONFLICT,
            None,
            "the user changed while this request was applied; try again",
        ),
        UserStoreError::Database(e) => ScimRefusal::internal(format!("database: {e}")),
    }
}

fn precondition_failed() -> ScimRefusal {
    ScimRefusal::new(
        StatusCode::PRECONDITION_FAILED,
        None,
        "the user has changed: `If-Match` names another version",
    )
}

/// The `If-Match` precondition (RFC 7232 §3.1) against the row's version.
fn check_if_match(if_match: Option<&str>, row: &UserRow) -> Result<(), ScimRefusal> {
    match if_match {
        Some(h) if !names_version(h, row.version) => Err(precondition_failed()),
        _ => Ok(()),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &axum::http::HeaderName) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// The query's parameters (names matched case-insensitively, the last of a repeated one wins).
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn from_uri(uri: &axum::http::Uri) -> Result<Self, ScimRefusal> {
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| Self(q.0))
            .map_err(|_| {
                ScimRefusal::new(
                    StatusCode::BAD_REQUEST,
                    Some(ScimType::InvalidSyntax),
                    "the query string cannot be read",
                )
            })
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn projection(&self) -> Result<Projection, ScimRefusal> {
        Projection::parse(
            self.get("attributes"),
            self.get("excludedAttributes"),
            &USER_TYPE,
        )
        .map_err(|e| refusal(&e))
    }
}

/// One user's answer: the projected resource, `ETag`, and `Location` on creation.
fn single(
    state: &AppState,
    tenant: &str,
    row: &UserRow,
    projection: &Projection,
    status: StatusCode,
) -> Response {
    let resource = to_resource(row, &base(state, tenant));
    let location = format!("{}/Users/{}", base(state, tenant), row.user_id);
    let mut r = ScimJson(status, projection.apply(&resource, &USER_TYPE)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(row.version)) {
        r.headers_mut().insert(ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(LOCATION, v);
        }
    }
    r
}

async fn create(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    uri: Uri,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimRefusal> {
    let projection = Query::from_uri(&uri)?.projection()?;
    let (write, corrections) = from_body(&body, None)?;
    let user_id = crate::random_bytes::<16>()
        .map(|b| URL_SAFE_NO_PAD.encode(b))
        .map_err(|e| ScimRefusal::internal(format!("randomness: {e}")))?;
    log_corrections(tenant.as_str(), &user_id, &corrections);
    let row = ScimUsers::new(state.store.db().clone())
        .create(tenant.as_str(), &user_id, &write, crate::now())
        .await
        .map_err(store_failure)?;
    tracing::info!(tenant = tenant.as_str(), user_id, "scim user created");
    Ok(single(
        &state,
        tenant.as_str(),
        &row,
        &projection,
        StatusCode::CREATED,
    ))
}

async fn read(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ScimRefusal> {
    let projection = Query::from_uri(&uri)?.projection()?;
    let row = ScimUsers::new(state.store.db().clone())
        .get(tenant.as_str(), &id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| ScimRefusal::not_found("no such user"))?;
    if header(&headers, &IF_NONE_MATCH).is_some_and(|h| names_version(h, row.version)) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag(row.version)) {
            r.headers_mut().insert(ETAG, v);
        }
        return Ok(r);
    }
    Ok(single(
        &state,
        tenant.as_str(),
        &row,
        &projection,
        StatusCode::OK,
    ))
}

async fn replace(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimRefusal> {
    let projection = Query::from_uri(&uri)?.projection()?;
    let if_match = header(&headers, &IF_MATCH);
    let base = base(&state, tenant.as_str());
    let done = ScimUsers::new(state.store.db().clone())
        .modify(tenant.as_str(), &id, crate::now(), |row| {
            check_if_match(if_match, row)?;
            let (write, corrections) = from_body(&body, Some(&to_resource(row, &base)))?;
            log_corrections(tenant.as_str(), &row.user_id, &corrections);
            Ok(change_to(write, row))
        })
        .await
        .map_err(store_failure)??;
    Ok(modified(&state, tenant.as_str(), &id, &done, &projection))
}

async fn patch(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimRefusal> {
    let projection = Query::from_uri(&uri)?.projection()?;
    let request = tessera_scim::parse_patch(&body).map_err(|e| refusal(&e))?;
    let if_match = header(&headers, &IF_MATCH);
    let base = base(&state, tenant.as_str());
    let done = ScimUsers::new(state.store.db().clone())
        .modify(tenant.as_str(), &id, crate::now(), |row| {
            check_if_match(if_match, row)?;
            let outcome = tessera_scim::apply_patch(&to_resource(row, &base), &request, &USER_TYPE)
                .map_err(|e| refusal(&e))?;
            log_corrections(tenant.as_str(), &row.user_id, &outcome.corrections);
            if !outcome.changed {
                return Ok(Change::Keep);
            }
            let write = to_write(&outcome.resource)?;
            Ok(change_to(write, row))
        })
        .await
        .map_err(store_failure)??;
    Ok(modified(&state, tenant.as_str(), &id, &done, &projection))
}

async fn delete(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ScimRefusal> {
    let if_match = header(&headers, &IF_MATCH);
    let ended = ScimUsers::new(state.store.db().clone())
        .delete(tenant.as_str(), &id, crate::now(), |row| {
            check_if_match(if_match, row)
        })
        .await
        .map_err(store_failure)??;
    tracing::info!(
        tenant = tenant.as_str(),
        user_id = id,
        sessions_ended = ended,
        "scim user deleted"
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A write when it changes something.
fn change_to(write: UserWrite, row: &UserRow) -> Change {
    if write == current_write(row) {
        Change::Keep
    } else {
        Change::Write(write)
    }
}

/// The answer to a PUT or PATCH, after logging a deactivation it made.
fn modified(
    state: &AppState,
    tenant: &str,
    id: &str,
    done: &Modified,
    projection: &Projection,
) -> Response {
    if done.sessions_ended > 0 {
        tracing::info!(
            tenant,
            user_id = id,
            sessions_ended = done.sessions_ended,
            "scim user deactivated"
        );
    }
    single(state, tenant, &done.row, projection, StatusCode::OK)
}
