//! `tessera-origin saml ...`: a tenant's SAML connections to identity providers.
//!
//! `create` draws the connection's SP key and seals it under the origin's secrets key, so it needs the
//! key the server uses: `TESSERA_SECRETS_KEY`, or `TESSERA_SERVICE_TOKEN` when the server derives its
//! secrets key from that. Our URLs (entity ID, ACS) hang off `--public-url`, as `serve`'s do.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tessera_origin::saml::{create_connection, Connection, SamlStore};
use tessera_origin::store::Store;
use tessera_origin::{derive_secrets_key, now, ServiceToken};
use tessera_proto::saml::{AttributeMap, ConnectionId, CreateConnectionRequest, SignedPart};
use tessera_proto::TenantId;

#[derive(Subcommand)]
pub(crate) enum SamlCommand {
    /// Create a connection to an identity provider from its metadata (refused without a signing
    /// certificate in it).
    Create {
        #[arg(long)]
        tenant: TenantId,
        /// The connection's name in URLs: 1-64 characters of a-z, 0-9, `-`, `_`.
        #[arg(long)]
        name: String,
        /// The identity provider's metadata XML.
        #[arg(long, value_name = "FILE")]
        idp_metadata: PathBuf,
        /// For people (the login page's button); defaults to the name.
        #[arg(long)]
        display_name: Option<String>,
        /// Accept responses that answer no request of ours (IdP-initiated sign-in).
        #[arg(long)]
        allow_idp_initiated: bool,
        /// Which signature a response needs: on the assertion, on the response, or either.
        #[arg(
            long,
            default_value = "assertion",
            value_name = "assertion|response|either"
        )]
        signed_part: SignedPart,
        /// Which SAML attribute gives what: `email=ATTR,display_name=ATTR,given_name=ATTR,
        /// family_name=ATTR,groups=ATTR,external_id=ATTR` (repeatable).
        #[arg(long = "attribute-map", value_name = "KEY=ATTR,...")]
        attribute_map: Vec<String>,
        /// An email domain whose people sign in here (repeatable; unique across all tenants).
        #[arg(long = "email-domain", value_name = "DOMAIN")]
        email_domains: Vec<String>,
        /// An absolute URL a sign-in may return to, besides relative paths (repeatable).
        #[arg(long = "relay-allow", value_name = "URL")]
        relay_allow: Vec<String>,
        /// The NameID format to ask for: persistent, email, transient, unspecified (default).
        #[arg(long)]
        name_id_format: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        secrets: SecretsArgs,
    },
    /// List connections (of one tenant, or all).
    List {
        #[arg(long)]
        tenant: Option<TenantId>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one connection: its IdP, our URLs for it, the certificates' fingerprints.
    Show {
        #[arg(long)]
        tenant: TenantId,
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a connection, its email domains, pending sign-ins and remembered assertions.
    Delete {
        #[arg(long)]
        tenant: TenantId,
        name: String,
    },
}

/// The key SP keys are sealed under: the server's.
#[derive(Args)]
pub(crate) struct SecretsArgs {
    /// 32 bytes, base64url: the server's TESSERA_SECRETS_KEY.
    #[arg(long, env = "TESSERA_SECRETS_KEY", hide_env_values = true)]
    secrets_key: Option<String>,
    /// The server's service token, when it derives its secrets key from it (no TESSERA_SECRETS_KEY).
    #[arg(long, env = "TESSERA_SERVICE_TOKEN", hide_env_values = true)]
    service_token: Option<String>,
}

impl SecretsArgs {
    fn key(self) -> Result<tessera_jose::Secret<[u8; 32]>, String> {
        match (self.secrets_key, self.service_token) {
            (Some(k), _) => crate::key_32(&k, "TESSERA_SECRETS_KEY").map(tessera_jose::Secret::new),
            (None, Some(token)) => Ok(tessera_jose::Secret::new(derive_secrets_key(
                &ServiceToken::new(token)?,
            ))),
            (None, None) => Err(
                "creating a connection seals its key under the server's secrets key: set TESSERA_SECRETS_KEY (or TESSERA_SERVICE_TOKEN, when the server derives its key from it)"
                    .to_owned(),
            ),
        }
    }
}

pub(crate) async fn saml_cmd(
    store: &Store,
    public_url: &str,
    command: SamlCommand,
) -> Result<(), String> {
    let saml = SamlStore::new(store.db().clone());
    match command {
        SamlCommand::Create {
            tenant,
            name,
            idp_metadata,
            display_name,
            allow_idp_initiated,
            signed_part,
            attribute_map,
            email_domains,
            relay_allow,
            name_id_format,
            json,
            secrets,
        } => {
            let key = secrets.key()?;
            let metadata = std::fs::read_to_string(&idp_metadata)
                .map_err(|e| format!("cannot read `{}`: {e}", idp_metadata.display()))?;
            let mut map = AttributeMap::default();
            for text in &attribute_map {
                map.add_pairs(text)?;
            }
            let request = CreateConnectionRequest {
                name,
                display_name,
                idp_metadata: metadata,
                allow_idp_initiated,
                signed_part,
                attribute_map: map,
                email_domains,
                relay_state_allow_list: relay_allow,
                name_id_format,
            };
            let created = create_connection(&saml, &key, public_url, &tenant, request, now())
                .await
                .map_err(|e| format!("{e} ({})", e.code()))?;
            print(&created, public_url, json)
        }
        SamlCommand::List { tenant, json } => {
            let all = saml
                .list(tenant.as_ref())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                let wire: Vec<_> = all.iter().map(|c| c.to_wire(public_url)).collect();
                println!(
                    "{}",
                    serde_json::to_string(&wire).map_err(|e| e.to_string())?
                );
            } else {
                for c in &all {
                    println!(
                        "{}\t{}\t{}\t{}",
                        c.tenant, c.id, c.idp.entity_id, c.display_name
                    );
                }
            }
            Ok(())
        }
        SamlCommand::Show { tenant, name, json } => {
            let id = connection_id(&name)?;
            let found = saml
                .get(&tenant, &id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("tenant `{tenant}` has no SAML connection `{id}`"))?;
            print(&found, public_url, json)
        }
        SamlCommand::Delete { tenant, name } => {
            let id = connection_id(&name)?;
            if saml.delete(&tenant, &id).await.map_err(|e| e.to_string())? {
                println!("deleted {tenant}/{id}");
                Ok(())
            } else {
                Err(format!("tenant `{tenant}` has no SAML connection `{id}`"))
            }
        }
    }
}

fn connection_id(name: &str) -> Result<ConnectionId, String> {
    name.parse().map_err(|e: tessera_proto::IdError| e.message)
}

fn print(c: &Connection, public_url: &str, json: bool) -> Result<(), String> {
    let w = c.to_wire(public_url);
    if json {
        println!("{}", serde_json::to_string(&w).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!("connection:            {}/{}", w.tenant, w.connection);
    println!("display name:          {}", w.display_name);
    println!("idp entity id:         {}", w.idp.entity_id);
    if let Some(url) = &w.idp.sso_redirect {
        println!("idp sso (redirect):    {url}");
    }
    if let Some(url) = &w.idp.sso_post {
        println!("idp sso (post):        {url}");
    }
    for fp in &w.idp.signing_certificates_sha256 {
        println!("idp signing cert:      sha256 {fp}");
    }
    println!(
        "idp wants signed reqs: {}",
        yes_no(w.idp.want_authn_requests_signed)
    );
    println!("sp entity id:          {}", w.sp.entity_id);
    println!("sp acs url:            {}", w.sp.acs_url);
    println!("sp metadata url:       {}", w.sp.metadata_url);
    println!("sp login url:          {}", w.sp.login_url);
    println!("sp certificate:        sha256 {}", w.sp.certificate_sha256);
    println!("idp-initiated:         {}", yes_no(w.allow_idp_initiated));
    println!("signed part:           {}", w.signed_part);
    println!("name id format:        {}", w.name_id_format);
    for (key, attr) in w.attribute_map.entries() {
        println!("attribute:             {key} = {attr}");
    }
    for d in &w.email_domains {
        println!("email domain:          {d}");
    }
    for u in &w.relay_state_allow_list {
        println!("relay allow:           {u}");
    }
    Ok(())
}
