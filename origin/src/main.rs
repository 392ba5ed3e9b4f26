//! `tessera-origin`: run the origin service, or manage it from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera_origin::clients::{self, NewClient, DEFAULT_TOKEN_TTL};
use tessera_origin::store::Store;
use tessera_origin::{http, unix_now, AppState, ServiceToken};

#[derive(Parser)]
#[command(
    name = "tessera-origin",
    version,
    about = "Tessera origin: authoritative identity and authorization data"
)]
struct Cli {
    /// Directory holding the SQLite database.
    #[arg(
        long,
        global = true,
        env = "TESSERA_DATA_DIR",
        default_value = ".data/origin"
    )]
    data_dir: PathBuf,
    /// The database: `postgres://user@host:port/db` (production) or `sqlite://PATH`. Unset: SQLite in
    /// `--data-dir`.
    #[arg(long, global = true, env = "TESSERA_DATABASE", hide_env_values = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        #[arg(long, env = "TESSERA_ORIGIN_LISTEN", default_value = "127.0.0.1:8788")]
        listen: SocketAddr,
        /// Bearer credential the edge presents (at least 32 characters).
        #[arg(long, env = "TESSERA_SERVICE_TOKEN", hide_env_values = true)]
        service_token: String,
        /// 32 bytes, base64url: the key zookies are minted with (derived from the service token if unset).
        #[arg(long, env = "TESSERA_ZOOKIE_KEY", hide_env_values = true)]
        zookie_key: Option<String>,
        /// 32 bytes, base64url: the key TOTP secrets are sealed under at rest (derived from the service
        /// token if unset; set it in production so the service token can rotate on its own).
        #[arg(long, env = "TESSERA_SECRETS_KEY", hide_env_values = true)]
        secrets_key: Option<String>,
        /// Nested steps a check may take before failing with `depth_exceeded` (SpiceDB's default is 50,
        /// OpenFGA's 25).
        #[arg(long, env = "TESSERA_AUTHZ_MAX_DEPTH", default_value_t = tessera_authz::engine::DEFAULT_MAX_DEPTH,
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        max_depth: u32,
    },
    /// Authorization data, in the spirit of SpiceDB's `zed`: schema, relationships, check.
    Authz {
        #[arg(long, global = true, default_value = "default")]
        tenant: String,
        /// Nested steps a check, expand or lookup may take before failing with `depth_exceeded` (as
        /// `serve --max-depth`).
        #[arg(long, global = true, env = "TESSERA_AUTHZ_MAX_DEPTH", default_value_t = tessera_authz::engine::DEFAULT_MAX_DEPTH,
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        max_depth: u32,
        #[command(subcommand)]
        command: AuthzCommand,
    },
    /// Manage OAuth 2.0 clients.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Generate random secrets for a local edge (`.dev.vars` format, printed to stdout).
    DevVars,
    /// Work with access tokens natively (pure-Rust p256): verify against a JWKS, or sign with a dev key.
    Jwt {
        #[command(subcommand)]
        command: JwtCommand,
    },
}

#[derive(Subcommand)]
enum AuthzCommand {
    /// `schema write FILE` or `schema read`.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// `relationship create|touch|delete REL...` or `relationship read TYPE[:ID] [RELATION]`.
    Relationship {
        #[command(subcommand)]
        command: RelationshipCommand,
    },
    /// Which RESOURCE_TYPE objects may SUBJECT access with PERMISSION? One id a line, all of them.
    LookupResources {
        resource_type: String,
        permission: String,
        subject: String,
    },
    /// Which subjects of SUBJECT_TYPE (or `type#relation` sets) have PERMISSION on RESOURCE? `type:*` =
    /// everyone, `type:* - {type:a, type:b}` = everyone but those.
    LookupSubjects {
        resource: String,
        permission: String,
        subject_type: String,
    },
    /// How PERMISSION on RESOURCE is computed, as a JSON tree.
    Expand {
        resource: String,
        permission: String,
    },
    /// Does SUBJECT have PERMISSION on RESOURCE? Prints `true` or `false`.
    Check {
        resource: String,
        permission: String,
        subject: String,
        /// Check at this revision instead of the newest.
        #[arg(long)]
        revision: Option<u64>,
        /// Also print why: the relationships that granted it, or what denied it.
        #[arg(long)]
        explain: bool,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    Write {
        file: PathBuf,
    },
    Read,
    /// Import an OpenFGA model (JSON, schema 1.1; `fga model transform` turns the DSL into it).
    ImportOpenfga {
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum RelationshipCommand {
    Create {
        relationships: Vec<String>,
    },
    Touch {
        relationships: Vec<String>,
    },
    Delete {
        relationships: Vec<String>,
    },
    /// Relationships of `TYPE` or `TYPE:ID`, optionally only `RELATION`.
    Read {
        resource: String,
        relation: Option<String>,
    },
}

#[derive(Subcommand)]
enum JwtCommand {
    /// Verify a token against a JWKS file; prints the claims, or the error code (exit status 1).
    Verify {
        #[arg(long)]
        jwks_file: PathBuf,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        audience: String,
        #[arg(long, default_value_t = 30)]
        leeway: i64,
        token: String,
    },
    /// Sign claims (a JSON file) as an `at+jwt` with a private JWK file. For development and tests only:
    /// production keys never leave the edge's sealed key ring.
    Sign {
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long)]
        claims_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// Register a client; its secret is printed once and only its hash is stored.
    Create {
        #[arg(long)]
        tenant: String,
        /// A scope the client may request (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// An audience the client may get tokens for; the first is the default (repeat for several).
        #[arg(long = "audience", required = true)]
        audiences: Vec<String>,
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

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::DevVars => return dev_vars(),
        Command::Jwt { command } => return jwt_cmd(command).await,
        _ => {}
    }
    let store = Store::connect(cli.database.as_deref(), &cli.data_dir).await?;
    match cli.command {
        Command::Serve {
            listen,
            service_token,
            zookie_key,
            secrets_key,
            max_depth,
        } => {
            let zookie_key = zookie_key
                .map(|k| key_32(&k, "TESSERA_ZOOKIE_KEY"))
                .transpose()?;
            let mut state =
                AppState::new(store.clone(), ServiceToken::new(service_token)?, zookie_key)
                    .with_max_depth(max_depth);
            if let Some(k) = secrets_key {
                state = state.with_secrets_key(key_32(&k, "TESSERA_SECRETS_KEY")?);
            }
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(%addr, database = store.db().kind(), "tessera-origin listening");
            axum::serve(listener, http::router(state))
                .with_graceful_shutdown(shutdown())
                .await
                .map_err(|e| e.to_string())?;
            store.close().await;
            Ok(())
        }
        Command::Clients { command } => clients_cmd(&store, command).await,
        Command::Authz {
            tenant,
            max_depth,
            command,
        } => authz_cmd(&store, &tenant, max_depth, command).await,
        Command::DevVars | Command::Jwt { .. } => Ok(()),
    }
}

fn random_b64<const N: usize>() -> Result<String, String> {
    use base64::Engine as _;
    let bytes: [u8; N] = tessera_origin::random_bytes().map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn dev_vars() -> Result<(), String> {
    println!("# Local development secrets for the edge (generated by `tessera-origin dev-vars`). Never commit.");
    println!("KEY_ENCRYPTION_KEY={}", random_b64::<32>()?);
    println!("ORIGIN_SERVICE_TOKEN={}", random_b64::<32>()?);
    println!("ADMIN_TOKEN={}", random_b64::<32>()?);
    Ok(())
}

async fn jwt_cmd(command: JwtCommand) -> Result<(), String> {
    use tessera_jose::{Jwks, P256Signer, P256Verifier, Secret, SigningKey, VerifyOptions};
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    match command {
        JwtCommand::Verify {
            jwks_file,
            issuer,
            audience,
            leeway,
            token,
        } => {
            let jwks = Jwks::from_json(&read(&jwks_file)?).map_err(|e| e.to_string())?;
            let opts = VerifyOptions {
                issuer: &issuer,
                audience: Some(&audience),
                leeway,
            };
            match tessera_jose::verify_token(token.trim(), &jwks, &P256Verifier, &opts, unix_now())
                .await
            {
                Ok(v) => {
                    println!(
                        "{}",
                        serde_json::json!({ "valid": true, "kid": v.kid(), "claims": v.claims() })
                    );
                    Ok(())
                }
                Err(e) => {
                    println!(
                        "{}",
                        serde_json::json!({ "valid": false, "error": e.code(), "message": e.to_string() })
                    );
                    Err(format!("token refused: {}", e.code()))
                }
            }
        }
        JwtCommand::Sign {
            key_file,
            claims_file,
        } => {
            let jwk: serde_json::Value =
                serde_json::from_str(&read(&key_file)?).map_err(|e| e.to_string())?;
            let d = jwk
                .get("d")
                .and_then(serde_json::Value::as_str)
                .ok_or("key file has no `d`")?;
            let d = Secret::new(tessera_jose::b64::decode(d).map_err(|()| "`d` is not base64url")?);
            let scalar: [u8; 32] = d
                .expose_secret()
                .as_slice()
                .try_into()
                .map_err(|_| "`d` is not 32 bytes")?;
            let key =
                SigningKey::from_scalar_bytes(&Secret::new(scalar)).map_err(|e| e.to_string())?;
            let claims =
                serde_json::from_str(&read(&claims_file)?).map_err(|e| format!("claims: {e}"))?;
            let token = tessera_jose::issue_access_token(&P256Signer::new(&key), &claims)
                .await
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
    }
}

/// The schema and a reader of `tenant` at `revision` (the newest when `None`), for an engine.
async fn engine_parts(
    authz: &tessera_origin::authz::store::AuthzStore,
    tenant: &str,
    revision: Option<u64>,
) -> Result<
    (
        std::sync::Arc<tessera_authz::Schema>,
        tessera_origin::authz::store::SnapshotReader,
    ),
    String,
> {
    let at = authz
        .snapshot(tenant, revision)
        .await
        .map_err(|e| e.to_string())?;
    let (_, _, schema) = authz
        .schema(tenant, Some(at))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no schema yet")?;
    Ok((std::sync::Arc::new(schema), authz.reader(tenant, at)))
}

async fn authz_cmd(
    store: &Store,
    tenant: &str,
    max_depth: u32,
    command: AuthzCommand,
) -> Result<(), String> {
    use tessera_authz::relationship::{ObjectRef, Relationship, SubjectRef};
    use tessera_origin::authz::engine_thread::with_engine;
    use tessera_origin::authz::store::{AuthzStore, Filter, Operation};
    let authz = AuthzStore::new(store.db().clone());
    match command {
        AuthzCommand::Schema {
            command: SchemaCommand::Write { file },
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
            let revision = authz
                .write_schema(tenant, &text)
                .await
                .map_err(|e| e.to_string())?;
            println!("schema written at revision {revision}");
        }
        AuthzCommand::Schema {
            command: SchemaCommand::ImportOpenfga { file },
        } => {
            let model = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
            let text = tessera_authz::openfga_to_schema(&model).map_err(|e| e.to_string())?;
            let revision = authz
                .write_schema(tenant, &text)
                .await
                .map_err(|e| e.to_string())?;
            println!("OpenFGA model imported at revision {revision} as:\n\n{text}");
        }
        AuthzCommand::Schema {
            command: SchemaCommand::Read,
        } => {
            let (revision, text, _) = authz
                .schema(tenant, None)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no schema yet")?;
            println!("// revision {revision}\n{}", text.trim_end());
        }
        AuthzCommand::Relationship {
            command: RelationshipCommand::Read { resource, relation },
        } => {
            let (ty, id) = match resource.split_once(':') {
                Some((t, i)) => (t.to_owned(), Some(i.to_owned())),
                None => (resource, None),
            };
            let filter = Filter {
                resource_type: ty,
                resource_id: id,
                relation,
                ..Filter::default()
            };
            let at = authz.head(tenant).await.map_err(|e| e.to_string())?;
            for r in authz
                .read(tenant, &filter, at)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("{r}");
            }
        }
        AuthzCommand::Relationship { command } => {
            let (op, texts) = match command {
                RelationshipCommand::Create { relationships } => (Operation::Create, relationships),
                RelationshipCommand::Touch { relationships } => (Operation::Touch, relationships),
                RelationshipCommand::Delete { relationships } => (Operation::Delete, relationships),
                RelationshipCommand::Read { .. } => return Ok(()),
            };
            if texts.is_empty() {
                return Err(
                    "give at least one relationship, e.g. `doc:1#viewer@user:ann`".to_owned(),
                );
            }
            let updates = texts
                .iter()
                .map(|t| {
                    t.parse::<Relationship>()
                        .map(|r| (op, r))
                        .map_err(|e| format!("`{t}`: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let revision = authz
                .write(tenant, &updates, &[])
                .await
                .map_err(|e| e.to_string())?;
            println!("written at revision {revision}");
        }
        AuthzCommand::LookupResources {
            resource_type,
            permission,
            subject,
        } => {
            let subject: SubjectRef = subject.parse().map_err(|e| format!("subject: {e}"))?;
            let (schema, reader) = engine_parts(&authz, tenant, None).await?;
            let rt = resource_type.clone();
            let (ids, _) = with_engine(schema, reader, max_depth, move |engine| {
                Box::pin(async move {
                    engine
                        .lookup_resources(&rt, &permission, &subject, None, usize::MAX)
                        .await
                })
            })
            .await?
            .map_err(|e| e.to_string())?;
            for id in ids {
                println!("{resource_type}:{id}");
            }
        }
        AuthzCommand::LookupSubjects {
            resource,
            permission,
            subject_type,
        } => {
            let resource: ObjectRef = resource.parse().map_err(|e| format!("resource: {e}"))?;
            let (st, sr) = match subject_type.split_once('#') {
                Some((t, r)) => (t.to_owned(), Some(r.to_owned())),
                None => (subject_type, None),
            };
            let (schema, reader) = engine_parts(&authz, tenant, None).await?;
            let (t, r) = (st.clone(), sr.clone());
            let found = with_engine(schema, reader, max_depth, move |engine| {
                Box::pin(async move {
                    engine
                        .lookup_subjects(&resource, &permission, &t, r.as_deref())
                        .await
                })
            })
            .await?
            .map_err(|e| e.to_string())?;
            for id in found.ids {
                match &sr {
                    Some(r) => println!("{st}:{id}#{r}"),
                    // The wildcard with the subjects it does not reach: `user:* - {user:bob, user:cy}`.
                    None if id == "*" && !found.excluded.is_empty() => {
                        let excluded: Vec<String> =
                            found.excluded.iter().map(|x| format!("{st}:{x}")).collect();
                        println!("{st}:* - {{{}}}", excluded.join(", "));
                    }
                    None => println!("{st}:{id}"),
                }
            }
        }
        AuthzCommand::Expand {
            resource,
            permission,
        } => {
            let resource: ObjectRef = resource.parse().map_err(|e| format!("resource: {e}"))?;
            let (schema, reader) = engine_parts(&authz, tenant, None).await?;
            // Printed on the engine's thread: the tree is as deep as the walk (see `engine_thread`).
            let text = with_engine(schema, reader, max_depth, move |engine| {
                Box::pin(async move {
                    let tree = engine.expand(&resource, &permission).await?;
                    Ok::<_, tessera_authz::CheckError>(serde_json::to_string_pretty(&tree))
                })
            })
            .await?
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            println!("{text}");
        }
        AuthzCommand::Check {
            resource,
            permission,
            subject,
            revision,
            explain,
        } => {
            let resource: ObjectRef = resource.parse().map_err(|e| format!("resource: {e}"))?;
            let subject: SubjectRef = subject.parse().map_err(|e| format!("subject: {e}"))?;
            let (schema, reader) = engine_parts(&authz, tenant, revision).await?;
            if explain {
                let why = with_engine(schema, reader, max_depth, move |engine| {
                    Box::pin(async move { engine.explain(&resource, &permission, &subject).await })
                })
                .await?
                .map_err(|e| e.to_string())?;
                println!("{}\n{}", why.allowed, why.reason);
                for r in &why.relationships {
                    println!("  {r}");
                }
                return Ok(());
            }
            let allowed = with_engine(schema, reader, max_depth, move |engine| {
                Box::pin(async move { engine.check(&resource, &permission, &subject).await })
            })
            .await?
            .map_err(|e| e.to_string())?;
            println!("{allowed}");
        }
    }
    Ok(())
}

async fn clients_cmd(store: &Store, command: ClientsCommand) -> Result<(), String> {
    match command {
        ClientsCommand::Create {
            tenant,
            scopes,
            audiences,
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
                },
                unix_now(),
            )
            .await?;
            let r = &created.record;
            if json {
                let out = serde_json::json!({
                    "client_id": r.client_id, "client_secret": created.client_secret, "tenant": r.tenant,
                    "scopes": r.scopes, "audiences": r.audiences, "token_ttl": r.token_ttl,
                });
                println!("{out}");
            } else {
                println!("client_id:     {}", r.client_id);
                println!("client_secret: {}", created.client_secret);
                println!("tenant:        {}", r.tenant);
                println!("scopes:        {}", r.scopes.join(" "));
                println!("audiences:     {}", r.audiences.join(" "));
                println!("token_ttl:     {}s", r.token_ttl);
                eprintln!("\nThe secret is shown only now: store it in your secret manager. Tessera keeps only its hash.");
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
            if store
                .disable_client(&client_id, unix_now())
                .await
                .map_err(|e| e.to_string())?
            {
                println!("disabled {client_id}");
                Ok(())
            } else {
                Err(format!("no client `{client_id}`"))
            }
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// A 32-byte key given as base64url (an env var or flag named `what`).
fn key_32(text: &str, what: &str) -> Result<[u8; 32], String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| format!("{what} is not base64url"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("{what} is not 32 bytes"))
}
