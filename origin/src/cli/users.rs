//! `tessera-origin users ...`: deactivate and reactivate people (deprovisioning by hand, as SCIM does it).

use clap::Subcommand;
use tessera_origin::accounts::set_active;
use tessera_origin::now;
use tessera_origin::store::Store;
use tessera_proto::TenantId;

#[derive(Subcommand)]
pub(crate) enum UsersCommand {
    /// Deactivate a user: every session ends now (refresh tokens are refused, the edge reports access
    /// tokens inactive) and the user cannot sign in until reactivated.
    Deactivate {
        #[arg(long)]
        tenant: TenantId,
        /// The user's id (the `sub` of their tokens; it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        user_id: String,
    },
    /// Reactivate a user: the user can sign in again (ended sessions stay ended).
    Activate {
        #[arg(long)]
        tenant: TenantId,
        #[arg(allow_hyphen_values = true)]
        user_id: String,
    },
}

pub(crate) async fn users_cmd(store: &Store, command: UsersCommand) -> Result<(), String> {
    let (tenant, user_id, active) = match command {
        UsersCommand::Deactivate { tenant, user_id } => (tenant, user_id, false),
        UsersCommand::Activate { tenant, user_id } => (tenant, user_id, true),
    };
    let change = set_active(store.db(), tenant.as_str(), &user_id, active, now())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user `{user_id}` in tenant `{}`", tenant.as_str()))?;
    {
        use tessera_origin::audit::ActorExt as _;
        use tessera_proto::audit::{kinds, Actor, Outcome};
        let mut e = tessera_origin::audit::event(
            tenant.as_str(),
            kinds::USER_STATUS,
            Outcome::Success,
            Actor::operator(),
        );
        e.subject = format!("user:{user_id}");
        e.detail.insert("active".into(), change.active.into());
        e.detail
            .insert("sessions_ended".into(), change.sessions_ended.into());
        tessera_origin::audit::record_now(store.db(), e).await?;
    }
    if change.active {
        println!("activated {user_id}");
    } else {
        println!(
            "deactivated {user_id}: {} session(s) ended",
            change.sessions_ended
        );
    }
    Ok(())
}
