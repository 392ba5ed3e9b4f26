//! The origin's database. SQLite (one file in the data directory, WAL, synchronous=FULL) is the embedded
//! default. Queries are plain runtime SQL, so builds need neither a live database nor an offline cache.

use std::path::Path;
use std::str::FromStr as _;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row as _, SqlitePool};
use tessera_proto::ClientRecord;

/// Ordered schema migrations; the index + 1 is the version recorded in `schema_version`.
/// Compile-time constants only: the one place raw SQL runs (`AssertSqlSafe` below).
const MIGRATIONS: &[&str] = &["CREATE TABLE oauth_clients (
        client_id   TEXT PRIMARY KEY NOT NULL,
        tenant      TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        scopes      TEXT NOT NULL,
        audiences   TEXT NOT NULL,
        token_ttl   INTEGER NOT NULL,
        disabled    INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE INDEX oauth_clients_tenant ON oauth_clients (tenant);",
    // Authorization: per-tenant revisions, versioned schemas, relationships with MVCC revisions.
    "CREATE TABLE authz_tenants (tenant TEXT PRIMARY KEY NOT NULL, head INTEGER NOT NULL);
    CREATE TABLE authz_schemas (
        tenant TEXT NOT NULL, revision INTEGER NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY (tenant, revision)
    );
    CREATE TABLE authz_relationships (
        tenant           TEXT NOT NULL,
        resource_type    TEXT NOT NULL,
        resource_id      TEXT NOT NULL,
        relation         TEXT NOT NULL,
        subject_type     TEXT NOT NULL,
        subject_id       TEXT NOT NULL,
        subject_relation TEXT NOT NULL DEFAULT '',
        created_rev      INTEGER NOT NULL,
        deleted_rev      INTEGER
    );
    CREATE INDEX authz_rel_resource ON authz_relationships (tenant, resource_type, resource_id, relation);
    CREATE INDEX authz_rel_subject ON authz_relationships (tenant, subject_type, subject_id, subject_relation);
    CREATE INDEX authz_rel_created ON authz_relationships (tenant, created_rev);
    CREATE INDEX authz_rel_deleted ON authz_relationships (tenant, deleted_rev);
    CREATE UNIQUE INDEX authz_rel_live ON authz_relationships
        (tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
        WHERE deleted_rev IS NULL;",
];

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Open (creating if needed) `data_dir/origin.sqlite3` and bring its schema up to date.
    ///
    /// # Errors
    /// When the directory cannot be created or the database cannot be opened or migrated.
    pub async fn open(data_dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create `{}`: {e}", data_dir.display()))?;
        let path = data_dir.join("origin.sqlite3");
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
        let store = Self { pool };
        store
            .migrate()
            .await
            .map_err(|e| format!("cannot migrate `{}`: {e}", path.display()))?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .execute(&mut *tx)
            .await?;
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
            .fetch_one(&mut *tx)
            .await?
            .try_get("v")?;
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let version = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
            if version > current {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await
    }

    /// # Errors
    /// Database failures.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// # Errors
    /// Database failures, including a duplicate `client_id`.
    pub async fn insert_client(&self, c: &ClientRecord, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO oauth_clients (client_id, tenant, secret_hash, scopes, audiences, token_ttl, disabled, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.client_id)
        .bind(&c.tenant)
        .bind(&c.secret_hash)
        .bind(serde_json::to_string(&c.scopes).unwrap_or_default())
        .bind(serde_json::to_string(&c.audiences).unwrap_or_default())
        .bind(i64::from(c.token_ttl))
        .bind(c.disabled)
        .bind(now)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// # Errors
    /// Database failures or a corrupt row.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, sqlx::Error> {
        let row = sqlx::query("SELECT * FROM oauth_clients WHERE client_id = ?")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| row_to_client(&r)).transpose()
    }

    /// # Errors
    /// Database failures or a corrupt row.
    pub async fn clients(&self, tenant: Option<&str>) -> Result<Vec<ClientRecord>, sqlx::Error> {
        let rows = sqlx::query("SELECT * FROM oauth_clients WHERE (?1 IS NULL OR tenant = ?1) ORDER BY tenant, client_id")
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_client).collect()
    }

    /// Disable a client; returns whether it existed.
    ///
    /// # Errors
    /// Database failures.
    pub async fn disable_client(&self, client_id: &str, now: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE oauth_clients SET disabled = 1, updated_at = ? WHERE client_id = ?",
        )
        .bind(now)
        .bind(client_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The connection pool, for the other stores of this database (see `authz_store`).
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn row_to_client(r: &sqlx::sqlite::SqliteRow) -> Result<ClientRecord, sqlx::Error> {
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
        disabled: r.try_get("disabled")?,
        updated_at: r.try_get("updated_at")?,
    })
}
