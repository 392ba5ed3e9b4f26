//! `tessera-origin`: run the origin service, or manage it from the command line (the subcommands live in
//! `cli/`: `audit`, `authz`, `clients`, `jwt`, `saml`, `scim`, `users`).

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::audit::{audit_cmd, AuditCommand};
use cli::authz::{authz_cmd, AuthzCommand};
use cli::clients::{clients_cmd, ClientsCommand};
use cli::jwt::{jwt_cmd, JwtCommand};
use cli::saml::{saml_cmd, SamlCommand};
use cli::scim::{scim_cmd, ScimCommand};
use cli::users::{users_cmd, UsersCommand};
use tessera_origin::store::Store;
use tessera_origin::{http, AppState, ServiceToken};

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

/// Running as one region of several (docs/OPERATIONS.md, "Regions").
#[derive(clap::Args)]
struct RegionArgs {
    /// This origin's region (a-z, 0-9, -).
    #[arg(long, env = "TESSERA_REGION", default_value = "local")]
    region: String,
    /// The other regions' origins, `name=URL` separated by commas (e.g.
    /// `eu=https://eu.origin.example,us=https://us.origin.example`). Writes go to whichever reports a
    /// primary database; this origin's own database may be a hot standby.
    #[arg(long, env = "TESSERA_PEERS", default_value = "")]
    peers: String,
    /// Past this replica lag (ms), `minimize_latency` reads are sent to the primary region (or refused
    /// with `503 replica_stale` when it cannot be reached) instead of answered from old data.
    #[arg(long, env = "TESSERA_MAX_LAG_MS", default_value_t = 5000)]
    max_lag_ms: u64,
    /// How long (ms) a read that needs a revision the replica has not replayed waits before it is sent
    /// to the primary region.
    #[arg(long, env = "TESSERA_REPLAY_WAIT_MS", default_value_t = 250)]
    replay_wait_ms: u64,
    /// How often (ms) the origin looks at its database and peers (and, on the primary, writes the
    /// heartbeat replicas measure their lag by).
    #[arg(long, env = "TESSERA_REGION_TICK_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    region_tick_ms: u64,
    /// The whole budget (ms) of a request forwarded to the primary region. Keep it below the edge's
    /// `timeout_ms` in ORIGINS (5000 by default), so that the edge hears whether a write was applied.
    #[arg(long, env = "TESSERA_FORWARD_TIMEOUT_MS", default_value_t = 4_000,
          value_parser = clap::value_parser!(u64).range(100..=120_000))]
    forward_timeout_ms: u64,
}

impl RegionArgs {
    fn settings(&self) -> Result<tessera_origin::region::RegionSettings, String> {
        use std::time::Duration;
        let name: tessera_origin::region::RegionName = self.region.parse()?;
        Ok(tessera_origin::region::RegionSettings {
            peers: tessera_origin::region::parse_peers(&self.peers, &name)?,
            name,
            max_lag: Duration::from_millis(self.max_lag_ms),
            replay_wait: Duration::from_millis(self.replay_wait_ms),
            tick: Duration::from_millis(self.region_tick_ms),
            forward_timeout: Duration::from_millis(self.forward_timeout_ms),
        })
    }
}

/// The audit trail (docs/OPERATIONS.md, "Audit").
#[derive(clap::Args)]
struct AuditArgs {
    /// Days a tenant's audit records are kept unless it set its own (`PUT /v1/tenants/{t}/audit/retention`).
    #[arg(long, env = "TESSERA_AUDIT_RETENTION_DAYS", default_value_t = 400,
          value_parser = clap::value_parser!(u32).range(1..=3660))]
    audit_retention_days: u32,
    /// The share (0 to 1) of allowed decisions recorded with their reason path; denials always are.
    #[arg(long, env = "TESSERA_AUDIT_EXPLAIN_ALLOWED", default_value_t = 0.01)]
    audit_explain_allowed: f64,
    /// The token operators sign in to the `/audit` dashboard with (at least 32 characters, not the service
    /// token); unset: the dashboard is off.
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Copy every audit record to ClickHouse over its HTTP interface (e.g. `http://127.0.0.1:8123`).
    #[arg(long, env = "TESSERA_CLICKHOUSE_URL")]
    clickhouse_url: Option<String>,
    #[arg(long, env = "TESSERA_CLICKHOUSE_DATABASE", default_value = "default")]
    clickhouse_database: String,
    #[arg(long, env = "TESSERA_CLICKHOUSE_TABLE", default_value = "audit_events")]
    clickhouse_table: String,
    #[arg(long, env = "TESSERA_CLICKHOUSE_USER")]
    clickhouse_user: Option<String>,
    #[arg(long, env = "TESSERA_CLICKHOUSE_PASSWORD", hide_env_values = true)]
    clickhouse_password: Option<String>,
    /// Days ClickHouse keeps a record (its table's TTL).
    #[arg(
        long,
        env = "TESSERA_CLICKHOUSE_RETENTION_DAYS",
        default_value_t = 1825
    )]
    clickhouse_retention_days: u32,
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
        /// Seconds between sweeps that end expired relationships (they count as deleted from their
        /// expiration on; the sweep ends them at a revision, visible to watchers).
        #[arg(long, env = "TESSERA_AUTHZ_EXPIRED_SWEEP_SECS", default_value_t = 60,
              value_parser = clap::value_parser!(u64).range(1..=86_400))]
        expired_sweep_secs: u64,
        /// The origin's public base URL (e.g. `https://id.example.com`), used in the absolute locations
        /// SCIM answers carry. Default: `http://` and the listen address.
        #[arg(long, env = "TESSERA_ORIGIN_PUBLIC_URL")]
        public_url: Option<String>,
        /// The edge's public base URL: a federated (SAML) sign-in finishes at its `/login`.
        #[arg(
            long,
            env = "TESSERA_EDGE_URL",
            default_value = "http://127.0.0.1:8787"
        )]
        edge_url: String,
        #[command(flatten)]
        region: RegionArgs,
        #[command(flatten)]
        audit: AuditArgs,
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
    /// People: deactivate (deprovision) and reactivate users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// SCIM provisioning: the tenants' bearer tokens.
    Scim {
        #[command(subcommand)]
        command: ScimCommand,
    },
    /// SAML: a tenant's connections to identity providers.
    Saml {
        /// The origin's public base URL, as `serve --public-url` (our entity IDs and ACS URLs hang off it).
        #[arg(
            long,
            env = "TESSERA_ORIGIN_PUBLIC_URL",
            default_value = "http://127.0.0.1:8788"
        )]
        public_url: String,
        #[command(subcommand)]
        command: SamlCommand,
    },
    /// The audit trail: query, follow, aggregate, verify, replay.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Generate random secrets for a local edge (`.dev.vars` format, printed to stdout).
    DevVars,
    /// Work with access tokens natively (pure-Rust p256): verify against a JWKS, or sign with a dev key.
    Jwt {
        #[command(subcommand)]
        command: JwtCommand,
    },
}

fn main() -> ExitCode {
    match tessera_origin::runtime() {
        Ok(rt) => rt.block_on(origin_main()),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn origin_main() -> ExitCode {
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
            expired_sweep_secs,
            public_url,
            edge_url,
            region,
            audit,
        } => {
            if !(0.0..=1.0).contains(&audit.audit_explain_allowed) {
                return Err("--audit-explain-allowed must be between 0 and 1".to_owned());
            }
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
            let public_url = public_url.unwrap_or_else(|| format!("http://{addr}"));
            check_public_url(&public_url)?;
            state = state.with_public_url(&public_url);
            check_public_url(&edge_url)?;
            state = state.with_edge_url(&edge_url);
            if let Some(token) = audit.admin_token.clone() {
                if state.service_token_is(&token) {
                    return Err("--admin-token must not be the service token: operators and the edge hold different credentials".to_owned());
                }
                state = state.with_admin_token(ServiceToken::new(token)?);
            }
            let settings = region.settings()?;
            let standby = store.is_standby().await.map_err(|e| e.to_string())?;
            if let tessera_origin::store::Db::Postgres(_) = store.db() {
                // Every PostgreSQL origin watches its region: a primary writes the heartbeat its
                // replicas measure their lag by, whether or not it names peers.
                if !standby {
                    let id: [u8; 16] = tessera_origin::random_bytes().map_err(|e| e.to_string())?;
                    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
                    tessera_origin::region::heartbeat::ensure_cluster(store.db(), &hex)
                        .await
                        .map_err(|e| format!("cannot write the cluster's identity: {e}"))?;
                }
                let regions = tessera_origin::region::Regions::new(settings)?;
                let monitor_db = store.db().side_pool(cli.database.as_deref())?;
                let bearer = state.service_bearer();
                let memory =
                    tessera_origin::region::monitor::first_tick(&regions, &monitor_db, &bearer)
                        .await;
                tessera_origin::region::monitor::spawn(regions.clone(), monitor_db, bearer, memory);
                state = state.with_regions(regions);
            } else if !settings.peers.is_empty() {
                return Err("--peers needs PostgreSQL (--database postgres://...): regions share one replicated database".to_owned());
            }
            let region_name = state.regions.name().to_owned();
            state = state.with_audit(tessera_origin::audit::AuditSettings {
                region: region_name,
                explain_allowed: audit.audit_explain_allowed,
                retention_days: audit.audit_retention_days,
            });
            tessera_origin::audit::retention::spawn(state.audit.clone(), state.regions.clone());
            tessera_origin::authz::sweep::spawn(
                state.authz.clone(),
                state.regions.clone(),
                std::time::Duration::from_secs(expired_sweep_secs),
            );
            if let Some(url) = audit.clickhouse_url.clone() {
                let settings = tessera_origin::audit::clickhouse::ClickHouseSettings {
                    url: url.trim_end_matches('/').to_owned(),
                    database: audit.clickhouse_database.clone(),
                    table: audit.clickhouse_table.clone(),
                    user: audit.clickhouse_user.clone(),
                    password: audit.clickhouse_password.clone(),
                    retention_days: audit.clickhouse_retention_days,
                };
                settings.check()?;
                let exporter =
                    tessera_origin::audit::clickhouse::Exporter::new(settings, store.db().clone())?;
                tessera_origin::audit::clickhouse::spawn(exporter, state.regions.clone());
            }
            tracing::info!(%addr, database = store.db().kind(), region = state.regions.name(), standby, "tessera-origin listening");
            let audit = state.audit.clone();
            axum::serve(
                listener,
                http::router(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|e| e.to_string())?;
            // Store the events still queued before the database closes.
            audit.close().await;
            store.close().await;
            Ok(())
        }
        Command::Clients { command } => clients_cmd(&store, command).await,
        Command::Audit { command } => audit_cmd(&store, command).await,
        Command::Users { command } => users_cmd(&store, command).await,
        Command::Scim { command } => scim_cmd(&store, command).await,
        Command::Saml {
            public_url,
            command,
        } => {
            check_public_url(&public_url)?;
            saml_cmd(&store, public_url.trim_end_matches('/'), command).await
        }
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

fn check_public_url(public_url: &str) -> Result<(), String> {
    if public_url.starts_with("https://") || public_url.starts_with("http://") {
        Ok(())
    } else {
        Err(format!(
            "--public-url `{public_url}` must be an http:// or https:// URL"
        ))
    }
}

/// A 32-byte key given as base64url (an env var or flag named `what`).
fn key_32(text: &str, what: &str) -> Result<[u8; 32], String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| format!("{what} is not base64url"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("{what} is not 32 bytes"))
}
