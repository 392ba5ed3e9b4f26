//! `POST relationships/write`, `POST relationships/delete`, `POST relationships/read`.

use axum::extract::State;
use axum::Json;
use tessera_authz::Tuple;
use tessera_proto::authz::{
    FilterRequest, RelationshipsAnswer, WriteRelationshipsRequest, Written,
};

use super::{recorded, revision_for, within_batch, Body, Shaped};
use crate::audit::Caller;
use crate::error::HttpError;
use crate::http::extract::ServiceTenant;
use crate::AppState;

impl Shaped for WriteRelationshipsRequest {
    const SHAPE: &'static str = r#"{"updates": [{"operation": "create|touch|delete", "relationship": "doc:1#viewer@user:a[caveat:{...}]?"}], "preconditions"?: [...]}"#;
}

/// Read and delete share a body; each names the shape it expects.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(super) struct DeleteBody(FilterRequest);

#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(super) struct ReadBody(FilterRequest);

impl Shaped for DeleteBody {
    const SHAPE: &'static str = r#"{"filter": {"resource_type": "...", ...}}"#;
}

impl Shaped for ReadBody {
    const SHAPE: &'static str = r#"{"filter": {"resource_type": "...", ...}, "consistency"?: ...}"#;
}

pub(super) async fn write(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    caller: Caller,
    Body(req): Body<WriteRelationshipsRequest>,
) -> Result<Json<Written>, HttpError> {
    let detail = recorded::changes(
        req.updates
            .iter()
            .map(|u| (operation_name(&u.operation), u.relationship.clone())),
        req.preconditions.len(),
    );
    let result = apply_write(&state, &tenant, req).await;
    recorded::write(
        &state,
        &caller,
        &tenant,
        tessera_proto::audit::kinds::RELATIONSHIPS_WRITTEN,
        &result,
        |w| w.revision,
        detail,
    )
    .await;
    result.map(Json)
}

fn operation_name(op: &tessera_proto::authz::Operation) -> &'static str {
    use tessera_proto::authz::Operation;
    match op {
        Operation::Create => "create",
        Operation::Touch => "touch",
        Operation::Delete => "delete",
    }
}

async fn apply_write(
    state: &AppState,
    tenant: &str,
    req: WriteRelationshipsRequest,
) -> Result<Written, HttpError> {
    within_batch(req.updates.len(), "a write carries", "updates")?;
    let mut updates = Vec::with_capacity(req.updates.len());
    for u in req.updates {
        let r: Tuple = u.relationship.parse().map_err(HttpError::from)?;
        updates.push((u.operation, r));
    }
    let revision = state
        .authz
        .write(tenant, &updates, &req.preconditions)
        .await?;
    Ok(Written {
        zookie: state.zookies.mint(tenant, revision),
        revision,
        deleted: None,
    })
}

pub(super) async fn delete(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    caller: Caller,
    Body(DeleteBody(req)): Body<DeleteBody>,
) -> Result<Json<Written>, HttpError> {
    let mut detail = serde_json::Map::new();
    detail.insert(
        "filter".into(),
        serde_json::to_value(&req.filter).unwrap_or_default(),
    );
    let result = state
        .authz
        .delete_matching(&tenant, &req.filter)
        .await
        .map_err(HttpError::from);
    if let Ok((_, deleted)) = &result {
        detail.insert("deleted".into(), serde_json::Value::from(*deleted));
    }
    recorded::write(
        &state,
        &caller,
        &tenant,
        tessera_proto::audit::kinds::RELATIONSHIPS_DELETED,
        &result,
        |(revision, _)| *revision,
        detail,
    )
    .await;
    let (revision, deleted) = result?;
    Ok(Json(Written {
        zookie: state.zookies.mint(&tenant, revision),
        revision,
        deleted: Some(deleted),
    }))
}

pub(super) async fn read(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Body(ReadBody(req)): Body<ReadBody>,
) -> Result<Json<RelationshipsAnswer>, HttpError> {
    let at = revision_for(&state, &tenant, req.consistency).await?;
    let rels = state.authz.read(&tenant, &req.filter, at).await?;
    Ok(Json(RelationshipsAnswer {
        relationships: rels.iter().map(ToString::to_string).collect(),
        zookie: state.zookies.mint(&tenant, at),
    }))
}
