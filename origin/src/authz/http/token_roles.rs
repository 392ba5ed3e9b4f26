//! `GET token-roles`, `PUT token-roles`: the permissions whose results go into the tenant's access tokens.

use axum::extract::State;
use axum::Json;
use tessera_authz::relationship::ObjectRef;
use tessera_proto::authz::{TokenRoles, TokenRolesRequest};
use tessera_proto::Code;

use super::{bad, Body, Shaped};
use crate::error::HttpError;
use crate::http::extract::ServiceTenant;
use crate::AppState;

/// At most this many token roles per tenant: each is a check at every token issue.
const MAX_TOKEN_ROLES: usize = 32;

impl Shaped for TokenRolesRequest {
    const SHAPE: &'static str = r#"{"roles": ["org:acme#admin"]}"#;
}

pub(super) async fn read_token_roles(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<TokenRoles>, HttpError> {
    let roles = state.store.token_roles(&tenant).await?;
    Ok(Json(TokenRoles { roles }))
}

/// Name the permissions (`type:id#permission`) whose results go into the tenant's access tokens as the
/// `roles` claim. Each must name a type and a relation or permission of the current schema.
pub(super) async fn write_token_roles(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    Body(req): Body<TokenRolesRequest>,
) -> Result<Json<TokenRoles>, HttpError> {
    if req.roles.len() > MAX_TOKEN_ROLES {
        return Err(bad(
            Code::InvalidRequest,
            format!("at most {MAX_TOKEN_ROLES} token roles"),
        ));
    }
    let head = state.authz.head(&tenant).await?;
    let schema = state.authz.schema_at(&tenant, head).await?;
    let mut roles: Vec<String> = Vec::with_capacity(req.roles.len());
    for role in req.roles {
        let malformed = || {
            bad(
                Code::InvalidRole,
                format!("role `{role}` must be `type:id#permission`"),
            )
        };
        let (resource, permission) = role.split_once('#').ok_or_else(malformed)?;
        let resource: ObjectRef = resource.parse().map_err(|_| malformed())?;
        let known = schema.as_ref().is_some_and(|(_, s)| {
            s.definition(&resource.object_type)
                .is_some_and(|d| d.has(permission))
        });
        if !known {
            return Err(bad(
                Code::InvalidRole,
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
    Ok(Json(TokenRoles { roles }))
}
