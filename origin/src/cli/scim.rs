//! `tessera-origin scim token ...`: the bearer tokens a tenant's identity provider presents to SCIM.

use clap::Subcommand;
use tessera_origin::now;
use tessera_origin::scim::tokens::{ScimTokens, TOKEN_PREFIX};
use tessera_origin::store::Store;
use tessera_proto::TenantId;

#[derive(Subcommand)]
pub(crate) enum ScimCommand {
    /// SCIM bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token for a tenant; it is printed once and only its hash is stored.
    Create {
        #[arg(long)]
        tenant: TenantId,
        /// Who holds it, e.g. "Entra ID production".
        #[arg(long, default_value = "")]
        label: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        tenant: Option<TenantId>,
    },
    /// Revoke a token by its id (`st_...`): the identity provider holding it is refused from now on.
    Revoke { token_id: String },
}

pub(crate) async fn scim_cmd(store: &Store, command: ScimCommand) -> Result<(), String> {
    let tokens = ScimTokens::new(store.db().clone());
    let ScimCommand::Token { command } = command;
    match command {
        TokenCommand::Create {
            tenant,
            label,
            json,
        } => {
            let created = tokens
                .create(&tenant, &label, now())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                let out = serde_json::json!({
                    "token": created.token, "token_id": created.info.token_id,
                    "tenant": created.info.tenant, "label": created.info.label,
                });
                println!("{out}");
            } else {
                println!("token:    {}", created.token);
                println!("token_id: {}", created.info.token_id);
                println!("tenant:   {}", created.info.tenant);
                eprintln!("\nThe token ({TOKEN_PREFIX}...) is shown only now: give it to the identity provider. Tessera keeps only its hash.");
            }
            Ok(())
        }
        TokenCommand::List { tenant } => {
            for t in tokens
                .list(tenant.as_ref())
                .await
                .map_err(|e| e.to_string())?
            {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{}", t.token_id, t.tenant, state, t.label);
            }
            Ok(())
        }
        TokenCommand::Revoke { token_id } => {
            if tokens
                .revoke(&token_id, now())
                .await
                .map_err(|e| e.to_string())?
            {
                println!("revoked {token_id}");
                Ok(())
            } else {
                Err(format!("no live token `{token_id}`"))
            }
        }
    }
}
