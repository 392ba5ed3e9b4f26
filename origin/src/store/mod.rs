//! The origin's database: SQLite (one file in the data directory, WAL, synchronous=FULL) is the embedded
//! default; PostgreSQL (`--database postgres://...`) serves production. Both sit behind [`Db`]: the SQL is
//! written once in the dialect both understand (`$N` parameters, `BIGINT`, `ON CONFLICT`, `RETURNING`)
//! and [`on_db!`] runs it against whichever pool is open, each arm compiled for its own driver. Queries are
//! plain runtime SQL, so builds need neither a live database nor an offline cache.

use std::path::Path;
use std::str::FromStr as _;
use tessera_proto::UnixTime;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tessera_proto::ClientRecord;

mod migrations;
pub mod retry;
pub mod sqlite_reads;

/// An open connection pool of either backend.
#[derive(Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$pool` bound to the concrete pool of `$db`: the body is compiled once per backend,
/// so every query is typed for its driver and nothing is dispatched dynamically per row.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    /// Which backend this is, for logs and errors.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// A small pool of its own on the same database, for background work (the region monitor), so that a
    /// busy request pool never makes the origin look dead to itself. SQLite: this pool.
    ///
    /// # Errors
    /// `url` is not a PostgreSQL URL while this is PostgreSQL.
    pub fn side_pool(&self, url: Option<&str>) -> Result<Self, String> {
        match (self, url) {
            (Self::Postgres(_), Some(url)) => {
                let opts = PgConnectOptions::from_str(url)
                    .map_err(|e| format!("--database is not a valid PostgreSQL URL: {e}"))?;
                Ok(Self::Postgres(
                    PgPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(std::time::Duration::from_secs(2))
                        .connect_lazy_with(opts),
                ))
            }
            _ => Ok(self.clone()),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Open the database named by `url` (`postgres://...` or `sqlite://PATH`), or with `None` the embedded
    /// default `data_dir/origin.sqlite3`, and bring its schema up to date.
    ///
    /// # Errors
    /// When the database cannot be reached, opened or migrated (the message names which, never a password).
    pub async fn connect(url: Option<&str>, data_dir: &Path) -> Result<Self, String> {
        match url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Self::open_postgres(u).await
            }
            Some(u) => match u.strip_prefix("sqlite://") {
                Some(path) => Self::open_sqlite(Path::new(path)).await,
                None => Err(
                    "--database must be a postgres://, postgresql:// or sqlite:// URL".to_owned(),
                ),
            },
            None => {
                std::fs::create_dir_all(data_dir)
                    .map_err(|e| format!("cannot create `{}`: {e}", data_dir.display()))?;
                Self::open_sqlite(&data_dir.join("origin.sqlite3")).await
            }
        }
    }

    /// Open (creating if needed) `data_dir/origin.sqlite3`.
    ///
    /// # Errors
    /// See [`Store::connect`].
    pub async fn open(data_dir: &Path) -> Result<Self, String> {
        Self::connect(None, data_dir).await
    }

    async fn open_sqlite(path: &Path) -> Result<Self, String> {
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| e.to_string())?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
        let store = Self {
            db: Db::Sqlite(pool),
        };
        store
            .migrate()
            .await
            .map_err(|e| format!("cannot migrate `{}`: {e}", path.display()))?;
        store.fill_username_keys().await?;
        Ok(store)
    }

    async fn open_postgres(url: &str) -> Result<Self, String> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| format!("--database is not a valid PostgreSQL URL: {e}"))?;
        let target = format!(
            "postgres database `{}` on {}:{}",
            opts.get_database().unwrap_or("(default)"),
            opts.get_host(),
            opts.get_port()
        );
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // A request waiting longer for a connection has failed anyway (the edge gives an origin 5 s);
            // and a dead database (a failover) must not hold requests for long.
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect_with(opts)
            .await
            .map_err(|e| format!("cannot connect to {target}: {e}"))?;
        let store = Self {
            db: Db::Postgres(pool),
        };
        if store
            .is_standby()
            .await
            .map_err(|e| format!("cannot ask {target} whether it is a standby: {e}"))?
        {
            // A hot standby is migrated by its primary: wait until it has replayed this binary's schema.
            store.await_schema(&target).await?;
            return Ok(store);
        }
        store
            .migrate()
            .await
            .map_err(|e| format!("cannot migrate {target}: {e}"))?;
        store.fill_username_keys().await?;
        Ok(store)
    }

    /// Whether the database is a PostgreSQL hot standby (read-only, replaying a primary).
    ///
    /// # Errors
    /// Database failures.
    pub async fn is_standby(&self) -> Result<bool, sqlx::Error> {
        match &self.db {
            Db::Sqlite(_) => Ok(false),
            Db::Postgres(pool) => {
                sqlx::query_scalar("SELECT pg_is_in_recovery()")
                    .fetch_one(pool)
                    .await
            }
        }
    }

    /// Wait (up to a minute) until a standby has replayed every migration this binary knows.
    async fn await_schema(&self, target: &str) -> Result<(), String> {
        let want = i64::try_from(self.db.migrations().len()).unwrap_or(i64::MAX);
        let mut have = 0;
        for attempt in 0..120 {
            have = self.schema_version().await;
            if have >= want {
                return Ok(());
            }
            if attempt % 10 == 0 {
                tracing::info!(have, want, "the standby has not replayed this origin's schema yet: waiting for the primary's origin to migrate");
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(format!(
            "{target} is a standby at schema version {have}, this origin needs {want}: start (or upgrade) the primary region's origin first"
        ))
    }

    /// Give every user from before [`USERNAME_KEY`] its key (idempotent; nothing to do once done).
    async fn fill_username_keys(&self) -> Result<(), String> {
        let missing: Vec<(String, String, String)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT tenant, user_id, username FROM users WHERE username_key IS NULL")
                .fetch_all(pool).await
        })
        .map_err(|e| format!("cannot read users: {e}"))?;
        for (tenant, user_id, username) in missing {
            let (key, t, u) = (
                &tessera_proto::ids::username_key(&username),
                &tenant,
                &user_id,
            );
            on_db!(&self.db, pool => retry::transaction(|| async move {
                sqlx::query("UPDATE users SET username_key = $1 WHERE tenant = $2 AND user_id = $3")
                    .bind(key).bind(t).bind(u)
                    .execute(pool).await.map(|_| ())
            }).await)
            .map_err(|e| format!(
                "tenant `{tenant}` holds two usernames that differ only in case (one is `{username}`): rename one, then start again ({e})"
            ))?;
        }
        Ok(())
    }

    /// # Errors
    /// Database failures.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(&self.db, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// # Errors
    /// Database failures, including a duplicate `client_id`.
    pub async fn insert_client(&self, c: &ClientRecord, now: UnixTime) -> Result<(), sqlx::Error> {
        on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query(
                "INSERT INTO oauth_clients (client_id, tenant, secret_hash, scopes, audiences, token_ttl, disabled, created_at, updated_at,
                     client_type, first_party, name, redirect_uris, post_logout_redirect_uris)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&c.client_id)
            .bind(&c.tenant)
            .bind(&c.secret_hash)
            .bind(serde_json::to_string(&c.scopes).unwrap_or_default())
            .bind(serde_json::to_string(&c.audiences).unwrap_or_default())
            .bind(i64::from(c.token_ttl))
            .bind(i64::from(c.disabled))
            .bind(now.as_secs())
            .bind(c.updated_at)
            .bind(c.kind.as_str())
            .bind(i64::from(c.first_party))
            .bind(&c.name)
            .bind(serde_json::to_string(&c.redirect_uris).unwrap_or_default())
            .bind(serde_json::to_string(&c.post_logout_redirect_uris).unwrap_or_default())
            .execute(pool)
            .await
            .map(|_| ())
        }).await)
    }

    /// # Errors
    /// Database failures or a corrupt row.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, sqlx::Error> {
        on_db!(&self.db, pool => {
            let row = sqlx::query("SELECT * FROM oauth_clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(pool)
                .await?;
            row.map(|r| row_to_client(&r)).transpose()
        })
    }

    /// The tenant's token roles (empty when none are named).
    ///
    /// # Errors
    /// Database failures or a corrupt row.
    pub async fn token_roles(&self, tenant: &str) -> Result<Vec<String>, sqlx::Error> {
        let text: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT roles FROM token_roles WHERE tenant = $1")
                .bind(tenant)
                .fetch_optional(pool)
                .await?
        });
        text.map_or(Ok(Vec::new()), |t| {
            serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e)))
        })
    }

    /// Replace the tenant's token roles (already validated by the caller).
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_token_roles(
        &self,
        tenant: &str,
        roles: &[String],
        now: UnixTime,
    ) -> Result<(), sqlx::Error> {
        let text = &serde_json::to_string(roles).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        on_db!(&self.db, pool => retry::transaction(|| async move {
            sqlx::query(
                "INSERT INTO token_roles (tenant, roles, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant) DO UPDATE SET roles = excluded.roles, updated_at = excluded.updated_at",
            )
            .bind(tenant)
            .bind(text)
            .bind(now.as_secs())
            .execute(pool)
            .await
            .map(|_| ())
        }).await)
    }

    /// # Errors
    /// Database failures or a corrupt row.
    pub async fn clients(&self, tenant: Option<&str>) -> Result<Vec<ClientRecord>, sqlx::Error> {
        on_db!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT * FROM oauth_clients WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $1) ORDER BY tenant, client_id",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?;
            rows.iter().map(row_to_client).collect()
        })
    }

    /// Disable a client; returns whether it existed.
    ///
    /// # Errors
    /// Database failures.
    pub async fn disable_client(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> Result<bool, sqlx::Error> {
        on_db!(&self.db, pool => retry::transaction(|| async move {
            let done = sqlx::query(
                "UPDATE oauth_clients SET disabled = 1, updated_at = $1 WHERE client_id = $2",
            )
            .bind(now.as_secs())
            .bind(client_id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        }).await)
    }

    /// The database, for the other stores that share it (see `authz_store`).
    #[must_use]
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub async fn close(&self) {
        on_db!(&self.db, pool => pool.close().await);
    }
}

fn row_to_client<R: sqlx::Row>(r: &R) -> Result<ClientRecord, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let json_list = |col: &str| -> Result<Vec<String>, sqlx::Error> {
        let text: String = r.try_get(col)?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    let ttl: i64 = r.try_get("token_ttl")?;
    Ok(ClientRecord {
        client_id: r.try_get("client_id")?,
        tenant: r.try_get("tenant")?,
        secret_hash: r.try_get("secret_hash")?,
        scopes: json_list("scopes")?,
        audiences: json_list("audiences")?,
        token_ttl: u32::try_from(ttl).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        updated_at: r.try_get("updated_at")?,
        token_roles: Vec::new(),
        kind: match r.try_get::<String, _>("client_type")?.as_str() {
            "public" => tessera_proto::ClientKind::Public,
            _ => tessera_proto::ClientKind::Confidential,
        },
        first_party: r.try_get::<i64, _>("first_party")? != 0,
        name: r.try_get("name")?,
        redirect_uris: json_list("redirect_uris")?,
        post_logout_redirect_uris: json_list("post_logout_redirect_uris")?,
    })
}
