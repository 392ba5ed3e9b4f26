//! A tenant's branding on the login page (`tessera_proto::branding`): `GET` and `PUT
//! /v1/tenants/{tenant}/branding` (service credential). A `PUT` replaces the whole branding, checked by
//! [`Branding::check`]; `{}` goes back to the edge's defaults. The edge reads it for every tenant's page
//! and keeps it a minute.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use tessera_proto::branding::Branding;
use tessera_proto::{Code, UnixTime};

use super::{Accounts, AccountsError};
use crate::error::HttpError;
use crate::http::extract::{JsonBody, ServiceTenant};
use crate::store::retry;
use crate::{now, on_db, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/tenants/{tenant}/branding",
        get(read_branding).put(write_branding),
    )
}

impl Accounts {
    /// The tenant's branding (empty when none was set).
    ///
    /// # Errors
    /// The database, or a stored branding that no longer reads.
    pub async fn branding(&self, tenant: &str) -> Result<Branding, AccountsError> {
        let text: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT branding FROM tenant_branding WHERE tenant = $1")
                .bind(tenant)
                .fetch_optional(pool).await?
        });
        text.map_or(Ok(Branding::default()), |t| {
            serde_json::from_str(&t)
                .map_err(|e| AccountsError::Sealing(format!("stored branding: {e}")))
        })
    }

    /// Replace the tenant's branding (checked by the caller).
    ///
    /// # Errors
    /// The database.
    pub async fn set_branding(
        &self,
        tenant: &str,
        branding: &Branding,
        now: UnixTime,
    ) -> Result<(), AccountsError> {
        let text =
            &serde_json::to_string(branding).map_err(|e| AccountsError::Sealing(e.to_string()))?;
        on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query(
                "INSERT INTO tenant_branding (tenant, branding, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant) DO UPDATE SET branding = excluded.branding, updated_at = excluded.updated_at",
            )
            .bind(tenant).bind(text).bind(now.as_secs())
            .execute(pool).await.map(|_| ())
        }).await)?;
        Ok(())
    }
}

async fn read_branding(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
) -> Result<Json<Branding>, HttpError> {
    Ok(Json(state.accounts.branding(&tenant).await?))
}

async fn write_branding(
    State(state): State<AppState>,
    ServiceTenant(tenant): ServiceTenant,
    JsonBody(asked): JsonBody<Branding>,
) -> Result<Json<Branding>, HttpError> {
    let branding = asked
        .check()
        .map_err(|e| HttpError::new(StatusCode::BAD_REQUEST, Code::InvalidRequest, e.0))?;
    state
        .accounts
        .set_branding(&tenant, &branding, now())
        .await?;
    tracing::info!(tenant = %tenant.as_str(), "branding replaced");
    Ok(Json(branding))
}
