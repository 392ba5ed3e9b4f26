//! The authorization HTTP API (JSON, service credential), under `/v1/tenants/{tenant}/`. Every body is a
//! type of [`tessera_proto::authz`], the one contract for this API:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `PUT schema` | the schema text | `{revision, zookie}` |
//! | `PUT schema/openfga` | an OpenFGA model (JSON, schema 1.1) | `{revision, zookie, schema}` |
//! | `GET schema` | — | `{schema, revision, zookie}` |
//! | `POST relationships/write` | `{updates: [{operation, relationship}], preconditions?}` | `{zookie, revision}` |
//! | `POST relationships/delete` | `{filter}` | `{zookie, revision, deleted}` |
//! | `POST relationships/read` | `{filter, consistency?}` | `{relationships, zookie}` |
//! | `POST check` | `{resource, permission, subject, consistency?, context_relationships?, explain?}` | `{allowed, zookie, revision, schema_revision}`; with `explain`: `{allowed, why, zookie, revision}` |
//! | `POST check/bulk` | `{items: [{resource, permission, subject}], consistency?, context_relationships?}` | `{results, zookie, revision, schema_revision}` |
//! | `GET watch?since=<zookie>&limit=<n>` | — | `{changes, zookie, revision}` |
//! | `GET head` | — | `{revision, schema_revision, zookie}` |
//! | `PUT token-roles` | `{roles: ["type:id#permission"]}` | `{roles}` |
//! | `GET token-roles` | — | `{roles}` |
//! | `POST expand` | `{resource, permission, consistency?}` | `{tree, zookie, revision}` |
//! | `POST lookup/resources` | `{resource_type, permission, subject, limit?, cursor?, consistency?, context_relationships?}` | `{resources, cursor, zookie, revision}` |
//! | `POST lookup/subjects` | `{resource, permission, subject_type, subject_relation?, consistency?, context_relationships?}` | `{subjects, excluded, zookie, revision}` |
//!
//! The handlers, by route group: `schema` (schema, OpenFGA import), `relationships` (write, delete,
//! read), `check` (check, bulk check, head), `lookup` (expand, lookups), `watch`, `token_roles`;
//! `engine` runs the check engine for them.
//!
//! Lookup subjects: `subjects` lists ids, with `*` first when a wildcard grants the permission to every
//! object of the type; then `excluded` lists the ids the wildcard does not reach (e.g. `viewer - banned`
//! with `viewer: user:*`), as SpiceDB's wildcard subject carries `excluded_subjects`. Without `*`,
//! `excluded` is empty. A subject has the permission when it is listed, or `*` is and it is not excluded.
//!
//! Lookup pages: `cursor` is `null` on the last page; otherwise pass it back to get the next page, which is
//! read at the same revision as the first (the cursor carries the zookie).
//!
//! Errors are JSON `{error, message}` with a stable `error` code, including a body over 2 MiB
//! (`413 body_too_large`) and one that cannot be read (`400 invalid_body`).
//!
//! `consistency` is `"minimize_latency"`, `"fully_consistent"`, `{"at_least_as_fresh": zookie}` or
//! `{"at_exact_snapshot": zookie}`; every answer carries the zookie of the revision it was computed at.

mod check;
mod engine;
mod lookup;
pub(crate) mod recorded;
mod relationships;
mod schema;
mod token_roles;
mod watch;

use axum::extract::FromRequest;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use tessera_proto::authz::Consistency;
use tessera_proto::Code;

use crate::authz::store::AuthzStoreError;
use crate::error::HttpError;
use crate::http::extract::{RawBody, MAX_BODY_BYTES};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tenants/{tenant}/schema",
            get(schema::read_schema).put(schema::write_schema),
        )
        .route(
            "/v1/tenants/{tenant}/schema/openfga",
            put(schema::import_openfga),
        )
        .route(
            "/v1/tenants/{tenant}/relationships/write",
            post(relationships::write),
        )
        .route(
            "/v1/tenants/{tenant}/relationships/delete",
            post(relationships::delete),
        )
        .route(
            "/v1/tenants/{tenant}/relationships/read",
            post(relationships::read),
        )
        .route("/v1/tenants/{tenant}/check", post(check::check))
        .route("/v1/tenants/{tenant}/check/bulk", post(check::check_bulk))
        .route("/v1/tenants/{tenant}/watch", get(watch::watch))
        .route("/v1/tenants/{tenant}/head", get(check::head))
        .route(
            "/v1/tenants/{tenant}/token-roles",
            get(token_roles::read_token_roles).put(token_roles::write_token_roles),
        )
        .route("/v1/tenants/{tenant}/expand", post(lookup::expand))
        .route(
            "/v1/tenants/{tenant}/lookup/resources",
            post(lookup::lookup_resources),
        )
        .route(
            "/v1/tenants/{tenant}/lookup/subjects",
            post(lookup::lookup_subjects),
        )
        // Bodies are read by `RawBody`/`TextBody`, which answer a larger one with JSON `413 body_too_large`.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

impl From<AuthzStoreError> for HttpError {
    fn from(e: AuthzStoreError) -> Self {
        let (status, code) = match &e {
            AuthzStoreError::NoSchema => (StatusCode::CONFLICT, Code::NoSchema),
            AuthzStoreError::Schema(s) => (StatusCode::BAD_REQUEST, s.code()),
            AuthzStoreError::Relationship(r) => (StatusCode::BAD_REQUEST, r.code()),
            AuthzStoreError::SchemaBreaksData(_) => {
                (StatusCode::CONFLICT, Code::SchemaBreaksRelationships)
            }
            AuthzStoreError::AlreadyExists(_) => (StatusCode::CONFLICT, Code::RelationshipExists),
            AuthzStoreError::DuplicateUpdate(_) => (StatusCode::BAD_REQUEST, Code::DuplicateUpdate),
            AuthzStoreError::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, Code::PreconditionFailed)
            }
            AuthzStoreError::RevisionUnavailable(_) => {
                (StatusCode::BAD_REQUEST, Code::RevisionUnavailable)
            }
            AuthzStoreError::Database(_) | AuthzStoreError::SqliteRead(_) => {
                return HttpError::internal(e.to_string())
            }
        };
        HttpError::new(status, code, e.to_string())
    }
}

impl From<tessera_authz::RelationshipError> for HttpError {
    fn from(e: tessera_authz::RelationshipError) -> Self {
        bad(e.code(), e.to_string())
    }
}

fn bad(code: Code, message: impl Into<String>) -> HttpError {
    HttpError::new(StatusCode::BAD_REQUEST, code, message)
}

/// A request body of this API, and the shape a refusal shows the caller.
trait Shaped: serde::de::DeserializeOwned {
    /// An example of the body, quoted by `400 invalid_request`.
    const SHAPE: &'static str;
}

/// A JSON request body of type `T`, read as [`RawBody`] is; one that is not a `T` is `400 invalid_request`
/// `body must be <T::SHAPE>: <why>` (axum's own rejection text is not ours).
struct Body<T>(T);

impl<T: Shaped, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, HttpError> {
        let RawBody(raw) = RawBody::from_request(req, state).await?;
        serde_json::from_slice(&raw).map(Self).map_err(|e| {
            bad(
                Code::InvalidRequest,
                format!("body must be {}: {e}", T::SHAPE),
            )
        })
    }
}

/// At most this many updates in a write, or items in a bulk check.
const MAX_BATCH: usize = 1000;

/// Refuse a batch of `len` (`what`: "a write carries", `unit`: "updates") outside 1 to [`MAX_BATCH`].
fn within_batch(len: usize, what: &str, unit: &str) -> Result<(), HttpError> {
    if len == 0 || len > MAX_BATCH {
        return Err(bad(
            Code::InvalidRequest,
            format!("{what} 1 to {MAX_BATCH} {unit}"),
        ));
    }
    Ok(())
}

/// Open a zookie of `tenant`; a bad one is refused with its own code.
fn open_zookie(state: &AppState, tenant: &str, zookie: &str) -> Result<u64, HttpError> {
    state
        .zookies
        .open(tenant, zookie)
        .map_err(|e| bad(e.code(), e.to_string()))
}

/// The revision a read runs at, from its consistency request.
async fn revision_for(
    state: &AppState,
    tenant: &str,
    c: Option<Consistency>,
) -> Result<u64, HttpError> {
    Ok(match c.unwrap_or_default() {
        // The revision the cache last synced to, if that was within the last second; else the head.
        Consistency::MinimizeLatency => state.authz.recent(tenant).await?,
        Consistency::FullyConsistent => state.authz.snapshot(tenant, None).await?,
        // A recent revision already at the zookie's, else the head; a zookie from the future is refused.
        Consistency::AtLeastAsFresh(z) => {
            let want = open_zookie(state, tenant, &z)?;
            state.authz.at_least(tenant, want).await?
        }
        Consistency::AtExactSnapshot(z) => {
            let at = open_zookie(state, tenant, &z)?;
            state.authz.snapshot(tenant, Some(at)).await?
        }
    })
}

/// `Server-Timing: app;dur=<ms>`: how long the origin spent on a request, so clients and benchmarks can
/// tell its time from the network's.
fn timed<T: serde::Serialize>(
    started: std::time::Instant,
    body: T,
) -> impl axum::response::IntoResponse {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    (
        [(
            axum::http::header::HeaderName::from_static("server-timing"),
            format!("app;dur={ms:.3}"),
        )],
        Json(body),
    )
}
