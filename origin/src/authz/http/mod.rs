//! The authorization HTTP API (JSON, service credential), under `/v1/tenants/{tenant}/`:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `PUT schema` | the schema text | `{revision, zookie}` |
//! | `GET schema` | — | `{schema, revision, zookie}` |
//! | `POST relationships/write` | `{updates: [{operation, relationship}], preconditions?}` | `{zookie}` |
//! | `POST relationships/delete` | `{filter}` | `{zookie, deleted}` |
//! | `POST relationships/read` | `{filter, consistency?}` | `{relationships, zookie}` |
//! | `POST check` | `{resource, permission, subject, consistency?}` | `{allowed, zookie, revision, schema_revision}` |
//! | `POST check/bulk` | `{items: [{resource, permission, subject}], consistency?}` | `{results, zookie, revision, schema_revision}` |
//! | `GET watch?since=<zookie>` | — | `{changes, zookie}` |
//! | `GET head` | — | `{revision, schema_revision, zookie}` |
//! | `PUT token-roles` | `{roles: ["type:id#permission"]}` | `{roles}` |
//! | `GET token-roles` | — | `{roles}` |
//! | `POST expand` | `{resource, permission, consistency?}` | `{tree, zookie}` |
//! | `POST lookup/resources` | `{resource_type, permission, subject, limit?, cursor?, consistency?}` | `{resources, cursor, zookie}` |
//! | `POST lookup/subjects` | `{resource, permission, subject_type, subject_relation?, consistency?}` | `{subjects, excluded, zookie}` |
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

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_authz::relationship::{ObjectRef, Relationship, SubjectRef};
use tessera_authz::{CheckError, Engine};

use crate::authz::store::{
    AuthzStoreError, Filter, Operation, Precondition, PreconditionOp, SnapshotReader,
};
use crate::error::HttpError;
use crate::http::extract::{RawBody, ServiceTenant, TextBody, MAX_BODY_BYTES};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tenants/{tenant}/schema",
            get(read_schema).put(write_schema),
        )
        .route(
            "/v1/tenants/{tenant}/schema/openfga",
            axum::routing::put(import_openfga),
        )
        .route("/v1/tenants/{tenant}/relationships/write", post(write))
        .route("/v1/tenants/{tenant}/relationships/delete", post(delete))
        .route("/v1/tenants/{tenant}/relationships/read", post(read))
        .route("/v1/tenants/{tenant}/check", post(check))
        .route("/v1/tenants/{tenant}/check/bulk", post(check_bulk))
        .route("/v1/tenants/{tenant}/watch", get(watch))
        .route("/v1/tenants/{tenant}/head", get(head))
        .route(
            "/v1/tenants/{tenant}/token-roles",
            get(read_token_roles).put(write_token_roles),
        )
        .route("/v1/tenants/{tenant}/expand", post(expand))
        .route(
            "/v1/tenants/{tenant}/lookup/resources",
            post(lookup_resources),
        )
        .route(
            "/v1/tenants/{tenant}/lookup/subjects",
            post(lookup_subjects),
        )
        // Bodies are read by `RawBody`/`TextBody`, which answer a larger one with JSON `413 body_too_large`.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

impl From<AuthzStoreError> for HttpError {
    fn from(e: AuthzStoreError) -> Self {
        let (status, code) = match &e {
            AuthzStoreError::NoSchema => (StatusCode::CONFLICT, "no_schema"),
            AuthzStoreError::Schema(s) => (StatusCode::BAD_REQUEST, s.code()),
            AuthzStoreError::Relationship(r) => (StatusCode::BAD_REQUEST, r.code()),
            AuthzStoreError::SchemaBreaksData(_) => {
                (StatusCode::CONFLICT, "schema_breaks_relationships")
            }
            AuthzStoreError::AlreadyExists(_) => (StatusCode::CONFLICT, "relationship_exists"),
            AuthzStoreError::DuplicateUpdate(_) => (StatusCode::BAD_REQUEST, "duplicate_update"),
            AuthzStoreError::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            AuthzStoreError::RevisionUnavailable(_) => {
                (StatusCode::BAD_REQUEST, "revision_unavailable")
            }
            AuthzStoreError::Database(_) => return HttpError::internal(e.to_string()),
        };
        HttpError::new(status, code, e.to_string())
    }
}

impl From<tessera_authz::RelationshipError> for HttpError {
    fn from(e: tessera_authz::RelationshipError) -> Self {
        bad(e.code(), e.to_string())
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> HttpError {
    HttpError::new(StatusCode::BAD_REQUEST, code, message)
}

/// Parse a JSON body with a clear error (axum's own rejection text is not ours).
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], shape: &str) -> Result<T, HttpError> {
    serde_json::from_slice(bytes)
        .map_err(|e| bad("invalid_request", format!("body must be {shape}: {e}")))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum ConsistencyJson {
    #[default]
    MinimizeLatency,
    FullyConsistent,
    AtLeastAsFresh(String),
    AtExactSnapshot(String),
}

/// The revision a read runs at, from its consistency request.
async fn revision_for(
    state: &AppState,
    tenant: &str,
    c: Option<ConsistencyJson>,
) -> Result<u64, HttpError> {
    let open = |z: &str| {
        state
            .zookies
            .open(tenant, z)
            .map_err(|e| bad(e.code(), e.to_string()))
    };
    Ok(match c.unwrap_or_default() {
        // The revision the cache last synced to, if that was within the last second; else the head.
        ConsistencyJson::MinimizeLatency => state.authz.recent(tenant).await?,
        ConsistencyJson::FullyConsistent => state.authz.snapshot(tenant, None).await?,
        ConsistencyJson::AtLeastAsFresh(z) => {
            // The head is at least as fresh as any revision we issued; a zookie from the future is refused.
            let want = open(&z)?;
            let head = state.authz.snapshot(tenant, None).await?;
            if want > head {
                return Err(AuthzStoreError::RevisionUnavailable(want).into());
            }
            head
        }
        ConsistencyJson::AtExactSnapshot(z) => {
            state.authz.snapshot(tenant, Some(open(&z)?)).await?
        }
    })
}

async fn write_schema(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    TextBody(text): TextBody,
) -> Result<Json<Value>, HttpError> {
    let revision = state.authz.write_schema(&tenant, &text).await?;
    Ok(Json(
        json!({ "revision": revision, "zookie": state.zookies.mint(&tenant, revision) }),
    ))
}

/// Import an OpenFGA model (JSON, schema 1.1) as the tenant's schema; answers with the schema text it became.
async fn import_openfga(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    TextBody(model): TextBody,
) -> Result<Json<Value>, HttpError> {
    let text = tessera_authz::openfga_to_schema(&model)
        .map_err(|e| HttpError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let revision = state.authz.write_schema(&tenant, &text).await?;
    Ok(Json(json!({
        "revision": revision,
        "zookie": state.zookies.mint(&tenant, revision),
        "schema": text,
    })))
}

async fn read_schema(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<Value>, HttpError> {
    let (revision, text, _) = state
        .authz
        .schema(&tenant, None)
        .await?
        .ok_or(AuthzStoreError::NoSchema)?;
    let head = state.authz.head(&tenant).await?;
    Ok(Json(
        json!({ "schema": text, "revision": revision, "zookie": state.zookies.mint(&tenant, head) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateJson {
    operation: Operation,
    relationship: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreconditionJson {
    operation: PreconditionOp,
    filter: Filter,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteJson {
    updates: Vec<UpdateJson>,
    #[serde(default)]
    preconditions: Vec<PreconditionJson>,
}

const MAX_BATCH: usize = 1000;

async fn write(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawBody(raw): RawBody,
) -> Result<Json<Value>, HttpError> {
    let req: WriteJson = body(
        &raw,
        r#"{"updates": [{"operation": "create|touch|delete", "relationship": "doc:1#viewer@user:a"}], "preconditions"?: [...]}"#,
    )?;
    if req.updates.is_empty() || req.updates.len() > MAX_BATCH {
        return Err(bad(
            "invalid_request",
            format!("a write carries 1 to {MAX_BATCH} updates"),
        ));
    }
    let mut updates = Vec::with_capacity(req.updates.len());
    for u in req.updates {
        let r: Relationship = u.relationship.parse().map_err(HttpError::from)?;
        updates.push((u.operation, r));
    }
    let pre: Vec<Precondition> = req
        .preconditions
        .into_iter()
        .map(|p| Precondition {
            operation: p.operation,
            filter: p.filter,
        })
        .collect();
    let revision = state.authz.write(&tenant, &updates, &pre).await?;
    Ok(Json(
        json!({ "zookie": state.zookies.mint(&tenant, revision), "revision": revision }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterJson {
    filter: Filter,
    #[serde(default)]
    consistency: Option<ConsistencyJson>,
}

async fn delete(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawBody(raw): RawBody,
) -> Result<Json<Value>, HttpError> {
    let req: FilterJson = body(&raw, r#"{"filter": {"resource_type": "...", ...}}"#)?;
    let (revision, deleted) = state.authz.delete_matching(&tenant, &req.filter).await?;
    Ok(Json(
        json!({ "zookie": state.zookies.mint(&tenant, revision), "revision": revision, "deleted": deleted }),
    ))
}

async fn read(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawBody(raw): RawBody,
) -> Result<Json<Value>, HttpError> {
    let req: FilterJson = body(
        &raw,
        r#"{"filter": {"resource_type": "...", ...}, "consistency"?: ...}"#,
    )?;
    let at = revision_for(&state, &tenant, req.consistency).await?;
    let rels = state.authz.read(&tenant, &req.filter, at).await?;
    let rels: Vec<String> = rels.iter().map(ToString::to_string).collect();
    Ok(Json(
        json!({ "relationships": rels, "zookie": state.zookies.mint(&tenant, at) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckItem {
    resource: String,
    permission: String,
    subject: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckJson {
    resource: String,
    permission: String,
    subject: String,
    #[serde(default)]
    consistency: Option<ConsistencyJson>,
    #[serde(default)]
    context_relationships: Vec<String>,
    /// Answer with `why`: the relationships that granted, or what denied.
    #[serde(default)]
    explain: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkJson {
    items: Vec<CheckItem>,
    #[serde(default)]
    consistency: Option<ConsistencyJson>,
    #[serde(default)]
    context_relationships: Vec<String>,
}

fn check_error(e: &CheckError) -> HttpError {
    match e {
        CheckError::Store(_) => HttpError::internal(e.to_string()),
        CheckError::DepthExceeded(_) => {
            HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
        }
        _ => bad(e.code(), e.to_string()),
    }
}

/// Run checks at one revision.
async fn run_checks(
    state: &AppState,
    tenant: &str,
    at: u64,
    items: Vec<(ObjectRef, String, SubjectRef)>,
    context: &[String],
) -> Result<Vec<Result<bool, CheckError>>, HttpError> {
    on_engine(state, tenant, at, context, move |engine| {
        Box::pin(async move {
            let mut out = Vec::with_capacity(items.len());
            for (resource, permission, subject) in &items {
                out.push(engine.check(resource, permission, subject).await);
            }
            out
        })
    })
    .await
}

use crate::authz::engine_thread::EngineFuture;

/// At most this many contextual relationships per request.
const MAX_CONTEXT: usize = 100;

/// Run `f` with an engine at `tenant`'s revision `at`, seeing the stored relationships plus `context`
/// (contextual relationships: this request only, validated against the schema, never stored). The
/// engine runs on a thread of its own whose stack holds the depth limit (see `engine_thread`).
async fn on_engine<T, F>(
    state: &AppState,
    tenant: &str,
    at: u64,
    context: &[String],
    f: F,
) -> Result<T, HttpError>
where
    T: Send + 'static,
    F: for<'e> FnOnce(&'e Engine<'e, SnapshotReader>) -> EngineFuture<'e, T> + Send + 'static,
{
    let (_, schema) = state
        .authz
        .schema_at(tenant, at)
        .await?
        .ok_or(AuthzStoreError::NoSchema)?;
    if context.len() > MAX_CONTEXT {
        return Err(bad(
            "invalid_request",
            format!("at most {MAX_CONTEXT} context_relationships"),
        ));
    }
    let mut extra = Vec::with_capacity(context.len());
    for text in context {
        let r: tessera_authz::Relationship = text.parse().map_err(HttpError::from)?;
        r.validate(&schema).map_err(HttpError::from)?;
        extra.push(r);
    }
    let reader = state.authz.reader(tenant, at).with_context(extra);
    crate::authz::engine_thread::with_engine(schema, reader, state.max_depth, f)
        .await
        .map_err(HttpError::internal)
}

fn parse_item(resource: &str, subject: &str) -> Result<(ObjectRef, SubjectRef), HttpError> {
    let r = resource.parse().map_err(HttpError::from)?;
    let s = subject.parse().map_err(HttpError::from)?;
    Ok((r, s))
}

/// `Server-Timing: app;dur=<ms>`: how long the origin spent on a request, so clients and benchmarks can
/// tell its time from the network's.
fn timed(started: std::time::Instant, body: Value) -> impl axum::response::IntoResponse {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    (
        [(
            axum::http::header::HeaderName::from_static("server-timing"),
            format!("app;dur={ms:.3}"),
        )],
        Json(body),
    )
}

async fn check(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawBody(raw): RawBody,
) -> Result<impl axum::response::IntoResponse, HttpError> {
    let started = crate::monotonic();
    let req: CheckJson = body(
        &raw,
        r#"{"resource": "doc:1", "permission": "view", "subject": "user:a", "consistency"?: ...}"#,
    )?;
    let (resource, subject) = parse_item(&req.resource, &req.subject)?;
    let at = revision_for(&state, &tenant, req.consistency).await?;
    if req.explain {
        // The same decision with its reasons (the granting path, or what denied it), for audit.
        let permission = req.permission;
        let why = on_engine(
            &state,
            &tenant,
            at,
            &req.context_relationships,
            move |engine| {
                Box::pin(async move { engine.explain(&resource, &permission, &subject).await })
            },
        )
        .await?
        .map_err(|e| check_error(&e))?;
        return Ok(timed(
            started,
            json!({ "allowed": why.allowed, "why": why, "zookie": state.zookies.mint(&tenant, at), "revision": at }),
        ));
    }
    let mut results = run_checks(
        &state,
        &tenant,
        at,
        vec![(resource, req.permission, subject)],
        &req.context_relationships,
    )
    .await?;
    let allowed = results
        .pop()
        .unwrap_or(Ok(false))
        .map_err(|e| check_error(&e))?;
    let schema_revision = schema_revision_at(&state, &tenant, at).await?;
    Ok(timed(
        started,
        json!({ "allowed": allowed, "zookie": state.zookies.mint(&tenant, at), "revision": at, "schema_revision": schema_revision }),
    ))
}

async fn check_bulk(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawBody(raw): RawBody,
) -> Result<impl axum::response::IntoResponse, HttpError> {
    let started = crate::monotonic();
    let req: BulkJson = body(
        &raw,
        r#"{"items": [{"resource", "permission", "subject"}], "consistency"?: ...}"#,
    )?;
    if req.items.is_empty() || req.items.len() > MAX_BATCH {
        return Err(bad(
            "invalid_request",
            format!("a bulk check carries 1 to {MAX_BATCH} items"),
        ));
    }
    let mut items = Vec::with_capacity(req.items.len());
    for i in req.items {
        let (r, s) = parse_item(&i.resource, &i.subject)?;
        items.push((r, i.permission, s));
    }
    let at = revision_for(&state, &tenant, req.consistency).await?;
    let results: Vec<Value> = run_checks(&state, &tenant, at, items, &req.context_relationships)
        .await?
        .into_iter()
        .map(|r| match r {
            Ok(allowed) => json!({ "allowed": allowed }),
            Err(e) => json!({ "error": e.code(), "message": e.to_string() }),
        })
        .collect();
    let schema_revision = schema_revision_at(&state, &tenant, at).await?;
    Ok(timed(
        started,
        json!({ "results": results, "zookie": state.zookies.mint(&tenant, at), "revision": at, "schema_revision": schema_revision }),
    ))
}

/// The revision of the schema in force at `at` (0: none yet). Cached by the store, so cheap.
async fn schema_revision_at(state: &AppState, tenant: &str, at: u64) -> Result<u64, HttpError> {
    Ok(state
        .authz
        .schema_at(tenant, at)
        .await?
        .map_or(0, |(revision, _)| revision))
}

/// The tenant's head: the newest revision and the schema revision in force there. The edge polls this
/// (through one Durable Object per tenant) to know how fresh its cached decisions are.
async fn head(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<Value>, HttpError> {
    let revision = state.authz.head(&tenant).await?;
    let schema_revision = schema_revision_at(&state, &tenant, revision).await?;
    Ok(Json(json!({
        "revision": revision,
        "schema_revision": schema_revision,
        "zookie": state.zookies.mint(&tenant, revision),
    })))
}

/// At most this many token roles per tenant: each is a check at every token issue.
const MAX_TOKEN_ROLES: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRolesJson {
    roles: Vec<String>,
}

async fn read_token_roles(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<Value>, HttpError> {
    let roles = state.store.token_roles(&tenant).await?;
    Ok(Json(json!({ "roles": roles })))
}

/// Name the permissions (`type:id#permission`) whose results go into the tenant's access tokens as the
/// `roles` claim. Each must name a type and a relation or permission of the current schema.
async fn write_token_roles(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawBody(raw): RawBody,
) -> Result<Json<Value>, HttpError> {
    let req: TokenRolesJson = body(&raw, r#"{"roles": ["org:acme#admin"]}"#)?;
    if req.roles.len() > MAX_TOKEN_ROLES {
        return Err(bad(
            "invalid_request",
            format!("at most {MAX_TOKEN_ROLES} token roles"),
        ));
    }
    let head = state.authz.head(&tenant).await?;
    let schema = state.authz.schema_at(&tenant, head).await?;
    let mut roles: Vec<String> = Vec::with_capacity(req.roles.len());
    for role in req.roles {
        let (resource, permission) = role.split_once('#').ok_or_else(|| {
            bad(
                "invalid_role",
                format!("role `{role}` must be `type:id#permission`"),
            )
        })?;
        let resource: ObjectRef = resource.parse().map_err(|_| {
            bad(
                "invalid_role",
                format!("role `{role}` must be `type:id#permission`"),
            )
        })?;
        let known = schema.as_ref().is_some_and(|(_, s)| {
            s.definition(&resource.object_type)
                .is_some_and(|d| d.has(permission))
        });
        if !known {
            return Err(bad(
                "invalid_role",
                format!(
                    "role `{role}`: the schema has no `{permission}` on type `{}`",
                    resource.object_type
                ),
            ));
        }
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    state
        .store
        .set_token_roles(&tenant, &roles, crate::now())
        .await?;
    Ok(Json(json!({ "roles": roles })))
}

#[derive(Deserialize)]
struct WatchQuery {
    since: Option<String>,
    limit: Option<u32>,
}

async fn watch(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Query(q): Query<WatchQuery>,
) -> Result<Json<Value>, HttpError> {
    let since = match q.since.as_deref() {
        None => 0,
        Some(z) => state
            .zookies
            .open(&tenant, z)
            .map_err(|e| bad(e.code(), e.to_string()))?,
    };
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let mut changes = state.authz.watch(&tenant, since, limit).await?;
    let full_page = u32::try_from(changes.len()).unwrap_or(u32::MAX) >= limit;
    let (first, last) = (
        changes.first().map(|c| c.revision),
        changes.last().map(|c| c.revision),
    );
    let upto = match (full_page, first, last) {
        // A full page may have cut its last revision short: end the page before it.
        (true, Some(f), Some(l)) if f < l => {
            changes.retain(|c| c.revision < l);
            l - 1
        }
        // One revision larger than the page: return all of it.
        (true, Some(_), Some(l)) => {
            changes = state.authz.watch(&tenant, since, u32::MAX).await?;
            changes.retain(|c| c.revision <= l);
            l
        }
        (_, _, Some(l)) => l,
        (_, _, None) => state.authz.head(&tenant).await?.max(since),
    };
    // The caller resumes from this zookie: every change up to it was delivered.
    Ok(Json(
        json!({ "changes": changes, "zookie": state.zookies.mint(&tenant, upto), "revision": upto }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpandJson {
    resource: String,
    permission: String,
    #[serde(default)]
    consistency: Option<ConsistencyJson>,
}

/// The answer of `expand`, serialised where the tree was built.
#[derive(serde::Serialize)]
struct ExpandAnswer<'a> {
    tree: &'a tessera_authz::ExpandNode,
    zookie: &'a str,
    revision: u64,
}

async fn expand(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawBody(raw): RawBody,
) -> Result<impl axum::response::IntoResponse, HttpError> {
    let req: ExpandJson = body(
        &raw,
        r#"{"resource": "doc:1", "permission": "view", "consistency"?: ...}"#,
    )?;
    let resource: ObjectRef = req.resource.parse().map_err(HttpError::from)?;
    let at = revision_for(&state, &tenant, req.consistency).await?;
    let permission = req.permission;
    let zookie = state.zookies.mint(&tenant, at);
    // The tree is as deep as the walk that built it (up to the depth limit): it is serialised, and
    // dropped, on the engine's thread, whose stack is sized for that depth, not on a runtime worker's.
    let json = on_engine(&state, &tenant, at, &[], move |engine| {
        Box::pin(async move {
            let tree = engine.expand(&resource, &permission).await?;
            Ok::<_, CheckError>(serde_json::to_vec(&ExpandAnswer {
                tree: &tree,
                zookie: &zookie,
                revision: at,
            }))
        })
    })
    .await?
    .map_err(|e| check_error(&e))?
    .map_err(HttpError::internal)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        json,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupResourcesJson {
    resource_type: String,
    permission: String,
    subject: String,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    consistency: Option<ConsistencyJson>,
    #[serde(default)]
    context_relationships: Vec<String>,
}

async fn lookup_resources(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawBody(raw): RawBody,
) -> Result<impl axum::response::IntoResponse, HttpError> {
    use base64::Engine as _;
    let started = crate::monotonic();
    let req: LookupResourcesJson = body(
        &raw,
        r#"{"resource_type": "doc", "permission": "view", "subject": "user:a", "limit"?: 1000, "cursor"?: "..."}"#,
    )?;
    let subject: SubjectRef = req.subject.parse().map_err(HttpError::from)?;
    let limit = req.limit.unwrap_or(1000).clamp(1, 10_000);
    // A cursor is `<zookie>.<base64url(last id)>`: later pages read the first page's revision.
    let (at, after) = match req.cursor.as_deref() {
        Some(c) => {
            let (z, last) = c
                .rsplit_once('.')
                .ok_or_else(|| bad("invalid_cursor", "malformed cursor"))?;
            let at = state
                .zookies
                .open(&tenant, z)
                .map_err(|_| bad("invalid_cursor", "cursor was not issued for this tenant"))?;
            let last = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(last)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| bad("invalid_cursor", "malformed cursor"))?;
            (state.authz.snapshot(&tenant, Some(at)).await?, Some(last))
        }
        None => (revision_for(&state, &tenant, req.consistency).await?, None),
    };
    let (rt, perm) = (req.resource_type, req.permission);
    let (resources, next) = on_engine(
        &state,
        &tenant,
        at,
        &req.context_relationships,
        move |engine| {
            Box::pin(async move {
                engine
                    .lookup_resources(&rt, &perm, &subject, after.as_deref(), limit)
                    .await
            })
        },
    )
    .await?
    .map_err(|e| check_error(&e))?;
    let zookie = state.zookies.mint(&tenant, at);
    let cursor = next.map(|last| {
        format!(
            "{zookie}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
        )
    });
    Ok(timed(
        started,
        json!({ "resources": resources, "cursor": cursor, "zookie": zookie, "revision": at }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupSubjectsJson {
    resource: String,
    permission: String,
    subject_type: String,
    #[serde(default)]
    subject_relation: Option<String>,
    #[serde(default)]
    consistency: Option<ConsistencyJson>,
    #[serde(default)]
    context_relationships: Vec<String>,
}

async fn lookup_subjects(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    RawBody(raw): RawBody,
) -> Result<Json<Value>, HttpError> {
    let req: LookupSubjectsJson = body(
        &raw,
        r#"{"resource": "doc:1", "permission": "view", "subject_type": "user", "subject_relation"?: "..."}"#,
    )?;
    let resource: ObjectRef = req.resource.parse().map_err(HttpError::from)?;
    let at = revision_for(&state, &tenant, req.consistency).await?;
    let (perm, st, sr) = (req.permission, req.subject_type, req.subject_relation);
    let found = on_engine(
        &state,
        &tenant,
        at,
        &req.context_relationships,
        move |engine| {
            Box::pin(async move {
                engine
                    .lookup_subjects(&resource, &perm, &st, sr.as_deref())
                    .await
            })
        },
    )
    .await?
    .map_err(|e| check_error(&e))?;
    Ok(Json(
        json!({ "subjects": found.ids, "excluded": found.excluded, "zookie": state.zookies.mint(&tenant, at), "revision": at }),
    ))
}
