//! `tessera-origin clients ...`: register, list, show, disable OAuth clients.

use clap::Subcommand;
use tessera_origin::clients::{self, NewClient, DEFAULT_TOKEN_TTL};
use tessera_origin::now;
use tessera_origin::store::Store;
use tessera_proto::ClientKind;

#[derive(Subcommand)]
pub(crate) enum ClientsCommand {
    /// Register a client; a confidential client's secret is printed once and only its hash is stored.
    ///
    /// A client with audiences gets tokens for itself (client credentials); one with redirect URIs signs
    /// people in (authorization code with PKCE, OpenID Connect).
    Create {
        #[arg(long)]
        tenant: String,
        /// A scope the client may request (repeat for several); `openid`, `profile` and
        /// `offline_access` are there for every client with a redirect URI.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// An audience the client may get tokens for; the first is the default (repeat for several).
        /// A sign-in client's access tokens are for its first audience, else the login page's.
        #[arg(long = "audience")]
        audiences: Vec<String>,
        /// Where sign-in answers may go, compared exactly (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Where the browser may go after signing out (RP-initiated logout; repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A browser or native app: no secret, PKCE required.
        #[arg(long, conflicts_with = "confidential")]
        public: bool,
        /// A server-side app that keeps a secret (the default).
        #[arg(long)]
        confidential: bool,
        /// One of the platform's own apps: people are not asked for consent.
        #[arg(long)]
        first_party: bool,
        /// What the consent screen calls the client.
        #[arg(long, default_value = "")]
        name: String,
        /// Access token lifetime, seconds (30..=3600).
        #[arg(long, default_value_t = DEFAULT_TOKEN_TTL)]
        token_ttl: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List clients (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Disable a client: it can no longer get tokens.
    Disable { client_id: String },
}

pub(crate) async fn clients_cmd(store: &Store, command: ClientsCommand) -> Result<(), String> {
    match command {
        ClientsCommand::Create {
            tenant,
            scopes,
            audiences,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            confidential: _,
            first_party,
            name,
            token_ttl,
            json,
        } => {
            let created = clients::create(
                store,
                NewClient {
                    tenant,
                    scopes,
                    audiences,
                    token_ttl,
                    kind: if public {
                        ClientKind::Public
                    } else {
                        ClientKind::Confidential
                    },
                    first_party,
                    name,
                    redirect_uris,
                    post_logout_redirect_uris,
                },
                now(),
            )
            .await?;
            let r = &created.record;
            record(
                store,
                &r.tenant,
                tessera_proto::audit::kinds::CLIENT_CREATED,
                &r.client_id,
            )
            .await?;
            if json {
                let out = serde_json::json!({
                    "client_id": r.client_id, "client_secret": created.client_secret, "tenant": r.tenant,
                    "scopes": r.scopes, "audiences": r.audiences, "token_ttl": r.token_ttl,
                    "type": r.kind.as_str(), "first_party": r.first_party, "name": r.name,
                    "redirect_uris": r.redirect_uris, "post_logout_redirect_uris": r.post_logout_redirect_uris,
                });
                println!("{out}");
            } else {
                println!("client_id:     {}", r.client_id);
                if let Some(secret) = &created.client_secret {
                    println!("client_secret: {secret}");
                }
                println!("tenant:        {}", r.tenant);
                println!(
                    "type:          {}{}",
                    r.kind.as_str(),
                    if r.first_party { ", first-party" } else { "" }
                );
                if !r.name.is_empty() {
                    println!("name:          {}", r.name);
                }
                println!("scopes:        {}", r.scopes.join(" "));
                println!("audiences:     {}", r.audiences.join(" "));
                for u in &r.redirect_uris {
                    println!("redirect_uri:  {u}");
                }
                for u in &r.post_logout_redirect_uris {
                    println!("post_logout:   {u}");
                }
                println!("token_ttl:     {}s", r.token_ttl);
                if created.client_secret.is_some() {
                    eprintln!("\nThe secret is shown only now: store it in your secret manager. Tessera keeps only its hash.");
                }
            }
            Ok(())
        }
        ClientsCommand::List { tenant } => {
            for c in store
                .clients(tenant.as_deref())
                .await
                .map_err(|e| e.to_string())?
            {
                let state = if c.disabled { "disabled" } else { "active" };
                println!(
                    "{}\t{}\t{}\t{}\t{}s",
                    c.client_id,
                    c.tenant,
                    state,
                    c.scopes.join(" "),
                    c.token_ttl
                );
            }
            Ok(())
        }
        ClientsCommand::Disable { client_id } => {
            let tenant = store
                .client(&client_id)
                .await
                .map_err(|e| e.to_string())?
                .map(|c| c.tenant);
            if store
                .disable_client(&client_id, now())
                .await
                .map_err(|e| e.to_string())?
            {
                if let Some(tenant) = tenant {
                    record(
                        store,
                        &tenant,
                        tessera_proto::audit::kinds::CLIENT_DISABLED,
                        &client_id,
                    )
                    .await?;
                }
                println!("disabled {client_id}");
                Ok(())
            } else {
                Err(format!("no client `{client_id}`"))
            }
        }
    }
}

/// Record an operator's change to client `client_id` in the audit trail.
async fn record(store: &Store, tenant: &str, kind: &str, client_id: &str) -> Result<(), String> {
    use tessera_origin::audit::ActorExt as _;
    use tessera_proto::audit::{Actor, Outcome};
    let mut e = tessera_origin::audit::event(tenant, kind, Outcome::Success, Actor::operator());
    e.resource = format!("client:{client_id}");
    tessera_origin::audit::record_now(store.db(), e).await
}
