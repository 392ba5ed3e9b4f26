//! SCIM `Groups` (RFC 7644 §3.3–3.6) under `/scim/v2/{tenant}/Groups`, over `scim_groups` rows whose
//! members are relationships `group:{id}#member@user:{id}` in the tenant's relationship store
//! (`super::group_store`):
//!
//! | route | answer |
//! |---|---|
//! | `POST Groups` | `201`, `Location`, `ETag`; `409 uniqueness` for a taken `externalId`; `displayName` required |
//! | `GET Groups`, `POST Groups/.search` | a `ListResponse`: filter (`id`, `externalId`, `displayName` equalities found by index), sort, page, projection |
//! | `GET Groups/{id}` | the group with its members at the head; `304` for `If-None-Match` naming its version |
//! | `PUT Groups/{id}` | replace, members included; `412` when `If-Match` names another version |
//! | `PATCH Groups/{id}` | `tessera_scim::plan_group_patch`: member changes touch only the members named; `204`, or `200` with the group when `attributes`/`excludedAttributes` ask for it |
//! | `DELETE Groups/{id}` | `204`; its memberships end |
//!
//! Every write answers `Tessera-Zookie`: the zookie of the authz revision its member changes were written
//! at (or of the head, when it changed none), so that `/v1/tenants/{tenant}/check` with
//! `{"at_least_as_fresh": zookie}` reads the write. Members must be users of the tenant (`400
//! invalidValue` otherwise, nothing written); nested groups are not supported (`invalidValue`). A
//! member list is read only when the answer carries it (`excludedAttributes=members` skips it).

use axum::extract::{Path, State};
use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tessera_scim::{list_response, MemberChanges, Projection, Pushdown, ScimType};

use super::group_resource::{
    from_body, refuse_nested_in_patch, to_resource, to_write, wants_members, GROUP_TYPE,
};
use super::group_store::{
    Candidates, Decision, GroupChange, GroupRow, GroupStoreError, Member, ScimGroups, Written,
};
use super::http::{base, method_not_allowed, ScimJson, ScimRefusal, ScimTenant};
use super::user_list::{search_params, ListParams, ListRequest};
use super::user_resource::{etag, log_corrections, names_version, refusal};
use super::users::{Query, ScimBody};
use crate::AppState;

/// The response header carrying the zookie of a write's authz revision.
pub const ZOOKIE_HEADER: HeaderName = HeaderName::from_static("tessera-zookie");

pub fn routes() -> Router<AppState> {
    let t = "/scim/v2/{tenant}";
    Router::new()
        .route(
            &format!("{t}/Groups"),
            get(list).post(create).fallback(method_not_allowed),
        )
        .route(
            &format!("{t}/Groups/.search"),
            post(search).fallback(method_not_allowed),
        )
        .route(
            &format!("{t}/Groups/{{id}}"),
            get(read)
                .put(replace)
                .patch(patch)
                .delete(delete)
                .fallback(method_not_allowed),
        )
}

fn store(state: &AppState) -> ScimGroups {
    ScimGroups::new(state.store.db().clone(), state.authz.clone())
}

fn store_failure(e: GroupStoreError) -> ScimRefusal {
    match e {
        GroupStoreError::NotFound => ScimRefusal::not_found("no such group"),
        GroupStoreError::ExternalIdTaken => ScimRefusal::new(
            StatusCode::CONFLICT,
            Some(ScimType::Uniqueness),
            "another group of this tenant has that `externalId`",
        ),
        GroupStoreError::UnknownMembers(ids) => ScimRefusal::new(
            StatusCode::BAD_REQUEST,
            Some(ScimType::InvalidValue),
            format!(
                "members must be users of this tenant; unknown: {}",
                ids.iter()
                    .take(10)
                    .map(|i| format!("`{i}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        GroupStoreError::Authz(e) => ScimRefusal {
            internal: Some(e.to_string()),
            ..ScimRefusal::new(
                StatusCode::BAD_REQUEST,
                Some(ScimType::InvalidValue),
                "the tenant's relationship schema must define `group` with `relation member: user` before groups have members",
            )
        },
        GroupStoreError::Contended => ScimRefusal::new(
            StatusCode::CONFLICT,
            None,
            "the group changed while this request was applied; try again",
        ),
        GroupStoreError::Database(e) => ScimRefusal::internal(format!("database: {e}")),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"))
}

fn check_if_match(if_match: Option<&str>, row: &GroupRow) -> Result<(), ScimRefusal> {
    match if_match {
        Some(h) if !names_version(h, row.version) => Err(ScimRefusal::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            "the group has changed: `If-Match` names another version",
        )),
        _ => Ok(()),
    }
}

fn projection(q: &Query) -> Result<Projection, ScimRefusal> {
    Projection::parse(
        q.get("attributes"),
        q.get("excludedAttributes"),
        &GROUP_TYPE,
    )
    .map_err(|e| refusal(&e))
}

async fn members_of(
    state: &AppState,
    tenant: &str,
    group_id: &str,
    projection: &Projection,
) -> Result<Option<Vec<Member>>, ScimRefusal> {
    if !wants_members(projection) {
        return Ok(None);
    }
    let found = store(state)
        .members(tenant, Some(group_id))
        .await
        .map_err(store_failure)?;
    Ok(Some(found.into_iter().map(|(_, m)| m).collect()))
}

/// The zookie of `revision`, or of the tenant's head when the write changed no member.
async fn zookie(
    state: &AppState,
    tenant: &str,
    revision: Option<u64>,
) -> Result<String, ScimRefusal> {
    let revision = match revision {
        Some(r) => r,
        None => state
            .authz
            .head(tenant)
            .await
            .map_err(|e| ScimRefusal::internal(e.to_string()))?,
    };
    Ok(state.zookies.mint(tenant, revision))
}

/// One group's answer: the projected resource (or none: `204`), `ETag`, `Location` on creation and the
/// zookie of a write.
async fn single(
    state: &AppState,
    tenant: &str,
    written: &Written,
    projection: Option<&Projection>,
    status: StatusCode,
    with_zookie: bool,
) -> Result<Response, ScimRefusal> {
    let row = &written.row;
    let base = base(state, tenant);
    let mut r = match projection {
        Some(p) => {
            let members = members_of(state, tenant, &row.group_id, p).await?;
            let resource = to_resource(row, members.as_deref(), &base);
            ScimJson(status, p.apply(&resource, &GROUP_TYPE)).into_response()
        }
        None => StatusCode::NO_CONTENT.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&etag(row.version)) {
        r.headers_mut().insert(ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&format!("{base}/Groups/{}", row.group_id)) {
            r.headers_mut().insert(LOCATION, v);
        }
    }
    if with_zookie {
        if let Ok(v) = HeaderValue::from_str(&zookie(state, tenant, written.revision).await?) {
            r.headers_mut().insert(ZOOKIE_HEADER, v);
        }
    }
    Ok(r)
}

async fn create(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    uri: Uri,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimRefusal> {
    let projection = projection(&Query::from_uri(&uri)?)?;
    let (write, members) = from_body(&body)?;
    let group_id = crate::random_bytes::<16>()
        .map(|b| URL_SAFE_NO_PAD.encode(b))
        .map_err(|e| ScimRefusal::internal(format!("randomness: {e}")))?;
    let written = store(&state)
        .create(tenant.as_str(), &group_id, &write, &members, crate::now())
        .await
        .map_err(store_failure)?;
    tracing::info!(
        tenant = tenant.as_str(),
        group_id,
        members = members.len(),
        "scim group created"
    );
    single(
        &state,
        tenant.as_str(),
        &written,
        Some(&projection),
        StatusCode::CREATED,
        true,
    )
    .await
}

async fn read(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ScimRefusal> {
    let projection = projection(&Query::from_uri(&uri)?)?;
    let row = store(&state)
        .get(tenant.as_str(), &id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| ScimRefusal::not_found("no such group"))?;
    if header(&headers, &IF_NONE_MATCH).is_some_and(|h| names_version(h, row.version)) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag(row.version)) {
            r.headers_mut().insert(ETAG, v);
        }
        return Ok(r);
    }
    let written = Written {
        row,
        revision: None,
    };
    single(
        &state,
        tenant.as_str(),
        &written,
        Some(&projection),
        StatusCode::OK,
        false,
    )
    .await
}

async fn replace(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimRefusal> {
    let projection = projection(&Query::from_uri(&uri)?)?;
    let (write, members) = from_body(&body)?;
    let if_match = header(&headers, &IF_MATCH);
    let written = store(&state)
        .modify(tenant.as_str(), &id, crate::now(), |row| {
            check_if_match(if_match, row)?;
            Ok::<_, ScimRefusal>(Decision::Write(GroupChange {
                row: Some(write.clone()),
                members: MemberChanges {
                    replace_all: Some(members.clone()),
                    ..MemberChanges::default()
                },
                pinned: true,
            }))
        })
        .await
        .map_err(store_failure)??;
    single(
        &state,
        tenant.as_str(),
        &written,
        Some(&projection),
        StatusCode::OK,
        true,
    )
    .await
}

async fn patch(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimRefusal> {
    let q = Query::from_uri(&uri)?;
    let projection = projection(&q)?;
    // The group is answered only when asked for: the default answer would list every member.
    let answer = (q.get("attributes").is_some() || q.get("excludedAttributes").is_some())
        .then_some(&projection);
    let request = tessera_scim::parse_patch(&body).map_err(|e| refusal(&e))?;
    refuse_nested_in_patch(&request)?;
    let plan = tessera_scim::plan_group_patch(&request, &GROUP_TYPE).map_err(|e| refusal(&e))?;
    log_corrections(tenant.as_str(), &id, &plan.corrections);
    let if_match = header(&headers, &IF_MATCH);
    let base = base(&state, tenant.as_str());
    let written = store(&state)
        .modify(tenant.as_str(), &id, crate::now(), |row| {
            check_if_match(if_match, row)?;
            let mut new_row = None;
            if !plan.other.operations.is_empty() {
                let outcome = tessera_scim::apply_patch(
                    &to_resource(row, None, &base),
                    &plan.other,
                    &GROUP_TYPE,
                )
                .map_err(|e| refusal(&e))?;
                log_corrections(tenant.as_str(), &row.group_id, &outcome.corrections);
                let w = to_write(&outcome.resource)?;
                if w.display_name != row.display_name || w.external_id != row.external_id {
                    new_row = Some(w);
                }
            }
            if new_row.is_none() && plan.members.is_empty() {
                return Ok(Decision::Keep);
            }
            Ok::<_, ScimRefusal>(Decision::Write(GroupChange {
                row: new_row,
                members: plan.members.clone(),
                pinned: if_match.is_some(),
            }))
        })
        .await
        .map_err(store_failure)??;
    tracing::info!(
        tenant = tenant.as_str(),
        group_id = id,
        added = plan.members.add.len(),
        removed = plan.members.remove.len(),
        replaced = plan.members.replace_all.as_ref().map(Vec::len),
        "scim group patched"
    );
    single(
        &state,
        tenant.as_str(),
        &written,
        answer,
        StatusCode::OK,
        true,
    )
    .await
}

async fn delete(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ScimRefusal> {
    let if_match = header(&headers, &IF_MATCH);
    let revision = store(&state)
        .delete(tenant.as_str(), &id, |row| check_if_match(if_match, row))
        .await
        .map_err(store_failure)??;
    tracing::info!(
        tenant = tenant.as_str(),
        group_id = id,
        "scim group deleted"
    );
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&state.zookies.mint(tenant.as_str(), revision)) {
        r.headers_mut().insert(ZOOKIE_HEADER, v);
    }
    Ok(r)
}

async fn list(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    uri: Uri,
) -> Result<ScimJson, ScimRefusal> {
    let params = ListParams::from_query(&Query::from_uri(&uri)?);
    run_list(&state, tenant.as_str(), &params).await
}

async fn search(
    State(state): State<AppState>,
    ScimTenant(tenant): ScimTenant,
    ScimBody(body): ScimBody,
) -> Result<ScimJson, ScimRefusal> {
    let params = search_params(&body)?;
    run_list(&state, tenant.as_str(), &params).await
}

/// Where the store finds a filter's candidates: an `id`, `externalId` or (ASCII) `displayName` equality.
fn candidates(pushdown: &Pushdown) -> Candidates {
    if let Some(e) = pushdown.on("id") {
        return Candidates::Id(e.value.clone());
    }
    if let Some(e) = pushdown.on("externalId") {
        return Candidates::ExternalId(e.value.clone());
    }
    match pushdown.on("displayName") {
        Some(e) if e.value.is_ascii() => Candidates::DisplayNameLower(e.value.to_ascii_lowercase()),
        _ => Candidates::All,
    }
}

async fn run_list(
    state: &AppState,
    tenant: &str,
    params: &ListParams,
) -> Result<ScimJson, ScimRefusal> {
    let rt = &*GROUP_TYPE;
    let ListRequest {
        filter,
        sort,
        page,
        projection,
    } = params.parse(rt)?;
    let from = filter
        .as_ref()
        .map_or(Candidates::All, |f| candidates(&f.pushdown()));
    let groups = store(state);
    let rows = groups.list(tenant, &from).await.map_err(store_failure)?;
    // Members are read (one query for the candidates) only when the answer, a filter or a sort may need
    // them: `excludedAttributes=members` without a filter costs no membership read at all.
    let need_members = wants_members(&projection) || filter.is_some() || sort.is_some();
    let mut members: std::collections::HashMap<String, Vec<Member>> =
        std::collections::HashMap::new();
    if need_members && !rows.is_empty() {
        // One candidate (an `id` or `externalId` equality): its members only; else the tenant's.
        let one = match rows.as_slice() {
            [only] => Some(only.group_id.as_str()),
            _ => None,
        };
        for (g, m) in groups.members(tenant, one).await.map_err(store_failure)? {
            members.entry(g).or_default().push(m);
        }
    }
    let base = base(state, tenant);
    let mut matches: Vec<Value> = rows
        .iter()
        .map(|row| {
            let m = need_members.then(|| members.get(&row.group_id).map_or(&[][..], Vec::as_slice));
            to_resource(row, m, &base)
        })
        .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
        .collect();
    if let Some(sort) = &sort {
        matches.sort_by(|a, b| sort.compare(a, b));
    }
    let resources = page
        .window(&matches)
        .iter()
        .map(|r| projection.apply(r, rt))
        .collect();
    Ok(ScimJson(
        StatusCode::OK,
        list_response(matches.len() as u64, &page, resources),
    ))
}
