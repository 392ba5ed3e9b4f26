//! `POST expand`, `POST lookup/resources`, `POST lookup/subjects`.

use axum::extract::State;
use axum::Json;
use base64::Engine as _;
use tessera_authz::relationship::{ObjectRef, SubjectRef};
use tessera_authz::CheckError;
use tessera_proto::authz::{
    ConditionalResource, ExpandRequest, Expanded, LookupResourcesRequest, LookupSubjectsRequest,
    ResourcesFound, SubjectsFound,
};
use tessera_proto::Code;

use super::engine::on_engine;
use super::{bad, revision_for, timed, Body, Shaped};
use crate::error::HttpError;
use crate::http::extract::ServiceTenant;
use crate::AppState;

impl Shaped for ExpandRequest {
    const SHAPE: &'static str =
        r#"{"resource": "doc:1", "permission": "view", "consistency"?: ...}"#;
}

impl Shaped for LookupResourcesRequest {
    const SHAPE: &'static str = r#"{"resource_type": "doc", "permission": "view", "subject": "user:a", "limit"?: 1000, "cursor"?: "...", "context"?: {...}}"#;
}

impl Shaped for LookupSubjectsRequest {
    const SHAPE: &'static str = r#"{"resource": "doc:1", "permission": "view", "subject_type": "user", "subject_relation"?: "..."}"#;
}

pub(super) async fn expand(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Body(req): Body<ExpandRequest>,
) -> Result<impl axum::response::IntoResponse, HttpError> {
    let resource: ObjectRef = req.resource.parse().map_err(HttpError::from)?;
    let at = revision_for(&state, &tenant, req.consistency).await?;
    let permission = req.permission;
    let zookie = state.zookies.mint(&tenant, at);
    // The tree is as deep as the walk that built it (up to the depth limit): it is serialised, and
    // dropped, on the engine's thread, whose stack is sized for that depth, not on a runtime worker's.
    let json = on_engine(&state, &tenant, at, &[], move |engine| {
        Box::pin(async move {
            let tree = engine.expand(&resource, &permission).await?;
            Ok::<_, CheckError>(serde_json::to_vec(&Expanded {
                tree: &tree,
                zookie,
                revision: at,
            }))
        })
    })
    .await?
    .map_err(HttpError::internal)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        json,
    ))
}

/// A cursor is `<zookie>.<base64url(last id)>`: later pages read the first page's revision.
fn next_cursor(zookie: &str, last: &str) -> String {
    format!(
        "{zookie}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
    )
}

/// The revision and the last id of the previous page, from a cursor of this tenant.
async fn open_cursor(
    state: &AppState,
    tenant: &str,
    cursor: &str,
) -> Result<(u64, String), HttpError> {
    let malformed = || bad(Code::InvalidCursor, "malformed cursor");
    let (z, last) = cursor.rsplit_once('.').ok_or_else(malformed)?;
    let at = state
        .zookies
        .open(tenant, z)
        .map_err(|_| bad(Code::InvalidCursor, "cursor was not issued for this tenant"))?;
    let last = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(last)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(malformed)?;
    Ok((state.authz.snapshot(tenant, Some(at)).await?, last))
}

pub(super) async fn lookup_resources(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Body(req): Body<LookupResourcesRequest>,
) -> Result<impl axum::response::IntoResponse, HttpError> {
    let started = crate::monotonic();
    let subject: SubjectRef = req.subject.parse().map_err(HttpError::from)?;
    let limit = req.limit.unwrap_or(1000).clamp(1, 10_000);
    let (at, after) = match req.cursor.as_deref() {
        Some(c) => {
            let (at, last) = open_cursor(&state, &tenant, c).await?;
            (at, Some(last))
        }
        None => (revision_for(&state, &tenant, req.consistency).await?, None),
    };
    let (rt, perm, context) = (req.resource_type, req.permission, req.context);
    let page = on_engine(
        &state,
        &tenant,
        at,
        &req.context_relationships,
        move |engine| {
            Box::pin(async move {
                engine
                    .lookup_resources_with_context(
                        &rt,
                        &perm,
                        &subject,
                        after.as_deref(),
                        limit,
                        Some(&context),
                    )
                    .await
            })
        },
    )
    .await?;
    let zookie = state.zookies.mint(&tenant, at);
    let answer = ResourcesFound {
        resources: page.ids,
        conditional: page
            .conditional
            .into_iter()
            .map(|(id, missing)| ConditionalResource {
                id,
                missing: missing.into_iter().collect(),
            })
            .collect(),
        cursor: page.cursor.map(|last| next_cursor(&zookie, &last)),
        zookie,
        revision: at,
    };
    Ok(timed(started, answer))
}

pub(super) async fn lookup_subjects(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Body(req): Body<LookupSubjectsRequest>,
) -> Result<Json<SubjectsFound>, HttpError> {
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
    .await?;
    Ok(Json(SubjectsFound {
        subjects: found.ids,
        excluded: found.excluded,
        zookie: state.zookies.mint(&tenant, at),
        revision: at,
    }))
}
