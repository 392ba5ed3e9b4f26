//! The schema: the ordered migrations of each backend, and applying them ([`Store::migrate`]).

use sqlx::Row as _;

use super::retry::{self, Retryable as _};
use super::{Db, Store};
use crate::on_db;

impl Db {
    pub(super) fn migrations(&self) -> &'static [&'static str] {
        match self {
            Self::Sqlite(_) => SQLITE_MIGRATIONS,
            Self::Postgres(_) => POSTGRES_MIGRATIONS,
        }
    }
}

/// Ordered schema migrations for SQLite; the index + 1 is the version recorded in `schema_version`.
/// Compile-time constants only: the one place raw SQL runs (`AssertSqlSafe` below).
const SQLITE_MIGRATIONS: &[&str] = &[
    "CREATE TABLE oauth_clients (
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
    AUTHZ_TABLES,
    TOKEN_ROLES_TABLE,
    ACCOUNTS_TABLES,
    TOTP_BUDGET_COLUMNS,
    PROVISIONING_TABLES,
    USERNAME_CASE_INDEX,
    USERNAME_KEY,
    SAML_TABLES,
    REGION_TABLES,
    AUDIT_TABLES_SQLITE,
    OIDC_TABLES,
    CAVEAT_COLUMNS,
    EXPIRATION_COLUMNS,
    RECOVERY_TABLES,
    DEVICE_COLUMNS,
    BRANDING_TABLE,
];

/// The same tables for PostgreSQL (64-bit integers where SQLite's INTEGER already is one).
const POSTGRES_MIGRATIONS: &[&str] = &["CREATE TABLE oauth_clients (
        client_id   TEXT PRIMARY KEY NOT NULL,
        tenant      TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        scopes      TEXT NOT NULL,
        audiences   TEXT NOT NULL,
        token_ttl   BIGINT NOT NULL,
        disabled    BIGINT NOT NULL DEFAULT 0,
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL
    );
    CREATE INDEX oauth_clients_tenant ON oauth_clients (tenant);",
    AUTHZ_TABLES,
    // Byte order for identifiers, as in SQLite, whatever the database's default collation.
    "ALTER TABLE authz_relationships
        ALTER COLUMN resource_type TYPE TEXT COLLATE \"C\", ALTER COLUMN resource_id TYPE TEXT COLLATE \"C\",
        ALTER COLUMN relation TYPE TEXT COLLATE \"C\", ALTER COLUMN subject_type TYPE TEXT COLLATE \"C\",
        ALTER COLUMN subject_id TYPE TEXT COLLATE \"C\", ALTER COLUMN subject_relation TYPE TEXT COLLATE \"C\";
    ALTER TABLE oauth_clients ALTER COLUMN tenant TYPE TEXT COLLATE \"C\", ALTER COLUMN client_id TYPE TEXT COLLATE \"C\";",
    TOKEN_ROLES_TABLE,
    ACCOUNTS_TABLES,
    TOTP_BUDGET_COLUMNS,
    PROVISIONING_TABLES,
    USERNAME_CASE_INDEX,
    USERNAME_KEY,
    SAML_TABLES,
    REGION_TABLES,
    PRIMARY_KEYS,
    AUDIT_TABLES_POSTGRES,
    OIDC_TABLES,
    CAVEAT_COLUMNS,
    EXPIRATION_COLUMNS,
    RECOVERY_TABLES,
    DEVICE_COLUMNS,
    BRANDING_TABLE,
];

/// Every table has a primary key (PostgreSQL only: SQLite's rows have their `rowid`). Distributed
/// databases want one — CockroachDB otherwise adds a hidden `rowid` that spreads nothing well, and
/// logical replication needs one — and `schema_version`'s makes a second migrator's `INSERT` of a
/// version collide (see [`Store::migrate`]). A relationship's key with the revision that created it is
/// unique: a write creates each relationship at most once (a batch naming one twice is refused), at the
/// revision only it holds, and not while a live copy exists (`authz_rel_live`).
const PRIMARY_KEYS: &str = "ALTER TABLE authz_relationships ADD PRIMARY KEY
        (tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, created_rev);
    ALTER TABLE schema_version ADD PRIMARY KEY (version);";

/// Users, passkeys, TOTP secrets (sealed), sessions and refresh tokens (`accounts.rs`). Booleans are
/// BIGINT 0/1 and binary values base64url text, in the DDL both backends accept.
const ACCOUNTS_TABLES: &str = "CREATE TABLE users (
        tenant TEXT NOT NULL, user_id TEXT NOT NULL, username TEXT NOT NULL, display_name TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, user_id)
    );
    CREATE UNIQUE INDEX users_username ON users (tenant, username);
    CREATE TABLE passkeys (
        tenant TEXT NOT NULL, credential_id TEXT NOT NULL, user_id TEXT NOT NULL, public_key TEXT NOT NULL,
        sign_count BIGINT NOT NULL, backup_eligible BIGINT NOT NULL, backed_up BIGINT NOT NULL,
        aaguid TEXT NOT NULL, transports TEXT NOT NULL, created_at BIGINT NOT NULL, last_used_at BIGINT,
        PRIMARY KEY (tenant, credential_id)
    );
    CREATE INDEX passkeys_user ON passkeys (tenant, user_id);
    CREATE TABLE totp_secrets (
        tenant TEXT NOT NULL, user_id TEXT NOT NULL, sealed TEXT NOT NULL, confirmed BIGINT NOT NULL,
        last_step BIGINT, created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, user_id)
    );
    CREATE TABLE sessions (
        sid TEXT PRIMARY KEY NOT NULL, tenant TEXT NOT NULL, user_id TEXT NOT NULL, amr TEXT NOT NULL,
        acr TEXT NOT NULL, auth_time BIGINT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
        revoked_at BIGINT, revoked_reason TEXT
    );
    CREATE INDEX sessions_user ON sessions (tenant, user_id);
    CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY NOT NULL, sid TEXT NOT NULL, created_at BIGINT NOT NULL, used_at BIGINT
    );
    CREATE INDEX refresh_tokens_sid ON refresh_tokens (sid);";

/// Account recovery codes (`accounts/recovery.rs`): each a keyed digest (`tessera_authn::recovery`),
/// spent once (`used_at`); and each user's failure budget for them, as for TOTP codes.
const RECOVERY_TABLES: &str = "CREATE TABLE recovery_codes (
        tenant TEXT NOT NULL, user_id TEXT NOT NULL, code_hash TEXT NOT NULL, created_at BIGINT NOT NULL,
        used_at BIGINT,
        PRIMARY KEY (tenant, user_id, code_hash)
    );
    CREATE TABLE recovery_attempts (
        tenant TEXT NOT NULL, user_id TEXT NOT NULL, failures BIGINT NOT NULL DEFAULT 0, locked_until BIGINT,
        PRIMARY KEY (tenant, user_id)
    );";

/// What the account page shows of passkeys and sessions: a passkey's name (at first the browser and
/// system it was made on), and a session's device and when it was last used (a refresh, a step-up).
const DEVICE_COLUMNS: &str = "ALTER TABLE passkeys ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;";

/// Each tenant's login-page branding (`tessera_proto::branding::Branding`, JSON).
const BRANDING_TABLE: &str = "CREATE TABLE tenant_branding (
        tenant TEXT PRIMARY KEY NOT NULL, branding TEXT NOT NULL, updated_at BIGINT NOT NULL
    );";

/// The TOTP failure budget (`tessera_authn::budget`): consecutive wrong codes and until when attempts are
/// refused.
const TOTP_BUDGET_COLUMNS: &str =
    "ALTER TABLE totp_secrets ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE totp_secrets ADD COLUMN locked_until BIGINT;";

/// Provisioning (SCIM) and deprovisioning: a user can be deactivated (its sessions end, it cannot sign in
/// until reactivated) and carries its SCIM attributes (`scim`, a JSON object), an `external_id` unique per
/// tenant and a `version` for ETags; groups (their members are relationships, `group:{id}#member@user:{id}`);
/// the tenants' SCIM bearer tokens, stored as SHA-256 hashes.
const PROVISIONING_TABLES: &str = "ALTER TABLE users ADD COLUMN active BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE users ADD COLUMN external_id TEXT;
    ALTER TABLE users ADD COLUMN scim TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE users ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX users_external_id ON users (tenant, external_id) WHERE external_id IS NOT NULL;
    CREATE TABLE scim_groups (
        tenant TEXT NOT NULL, group_id TEXT NOT NULL, display_name TEXT NOT NULL, external_id TEXT,
        scim TEXT NOT NULL DEFAULT '{}', version BIGINT NOT NULL DEFAULT 1, created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, group_id)
    );
    CREATE UNIQUE INDEX scim_groups_external_id ON scim_groups (tenant, external_id) WHERE external_id IS NOT NULL;
    CREATE TABLE scim_tokens (
        token_hash TEXT PRIMARY KEY NOT NULL, token_id TEXT NOT NULL, tenant TEXT NOT NULL,
        label TEXT NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT
    );
    CREATE UNIQUE INDEX scim_tokens_id ON scim_tokens (token_id);
    CREATE INDEX scim_tokens_tenant ON scim_tokens (tenant);";

/// SCIM's `userName` is `caseExact: false` (RFC 7643 §4.1.1), and it is the name people sign in with: a
/// tenant cannot hold `Alice` and `alice`. `lower()` folds ASCII in SQLite; PostgreSQL folds by the
/// database's locale (all of Unicode in a UTF-8 locale). The migration fails (and the origin does not
/// start) if a tenant already holds two names that differ only in case: see docs/OPERATIONS.md.
const USERNAME_CASE_INDEX: &str =
    "CREATE UNIQUE INDEX users_username_ci ON users (tenant, lower(username));";

/// Uniqueness of names by Unicode's case folding, the same in both databases: `username_key` holds
/// `tessera_proto::Username::key` (computed by the origin, never by the database, whose `lower()` folds
/// ASCII only in SQLite and by locale in PostgreSQL). Rows from before this migration are filled in at
/// start-up ([`Store::connect`]); the origin refuses to start if two of a tenant's names fold to one.
///
/// `held`: an operator's deactivation (`tessera-origin users deactivate`), which the identity provider's
/// SCIM writes cannot lift (only `users activate` does): a user is active when `active = 1 AND held = 0`.
const USERNAME_KEY: &str = "DROP INDEX users_username_ci;
    ALTER TABLE users ADD COLUMN username_key TEXT;
    CREATE UNIQUE INDEX users_username_key ON users (tenant, username_key);
    ALTER TABLE users ADD COLUMN held BIGINT NOT NULL DEFAULT 0;";

/// SAML service-provider connections (`crate::saml`): one row per connection, with the IdP metadata as
/// uploaded, our SP key sealed like TOTP secrets and its certificate (base64 DER); the email domains
/// connections claim (a domain is one connection's, across all tenants: the primary key says so); the
/// AuthnRequests we sent, spent at most once before they expire, with the RelayState kept here (the IdP
/// sees only `relay_token`); and the assertion IDs already accepted, kept until the assertion expires,
/// in the database so that every origin shares one replay cache. Expired requests and assertions are
/// deleted a bounded batch at a time when new ones are written. A request started by the login page
/// carries its `binding` (see `accounts::handoff`). `saml_identities` links a connection's stable
/// subject key to a tenant user (just-in-time sign-up) with the groups last written for it;
/// `sso_handoffs` holds the single-use codes that carry a finished sign-in to the edge, stored hashed.
const SAML_TABLES: &str = "CREATE TABLE saml_connections (
        tenant TEXT NOT NULL, connection_id TEXT NOT NULL, display_name TEXT NOT NULL,
        idp_entity_id TEXT NOT NULL, idp_metadata TEXT NOT NULL, allow_idp_initiated BIGINT NOT NULL,
        signed_part TEXT NOT NULL, attribute_map TEXT NOT NULL, relay_state_allow_list TEXT NOT NULL,
        name_id_format TEXT NOT NULL, sp_key_sealed TEXT NOT NULL, sp_certificate TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, connection_id)
    );
    CREATE TABLE saml_email_domains (
        domain TEXT PRIMARY KEY NOT NULL, tenant TEXT NOT NULL, connection_id TEXT NOT NULL
    );
    CREATE INDEX saml_email_domains_connection ON saml_email_domains (tenant, connection_id);
    CREATE TABLE saml_requests (
        request_id TEXT PRIMARY KEY NOT NULL, tenant TEXT NOT NULL, connection_id TEXT NOT NULL,
        relay_state TEXT, relay_token TEXT, binding TEXT, created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL, spent_at BIGINT
    );
    CREATE INDEX saml_requests_expiry ON saml_requests (expires_at);
    CREATE INDEX saml_requests_connection ON saml_requests (tenant, connection_id);
    CREATE TABLE saml_seen_assertions (
        tenant TEXT NOT NULL, connection_id TEXT NOT NULL, assertion_id TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, connection_id, assertion_id)
    );
    CREATE INDEX saml_seen_assertions_expiry ON saml_seen_assertions (expires_at);
    CREATE TABLE saml_identities (
        tenant TEXT NOT NULL, connection_id TEXT NOT NULL, subject_key TEXT NOT NULL, user_id TEXT NOT NULL,
        groups TEXT NOT NULL DEFAULT '[]', created_at BIGINT NOT NULL, last_sign_in_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, connection_id, subject_key)
    );
    CREATE INDEX saml_identities_user ON saml_identities (tenant, user_id);
    CREATE TABLE sso_handoffs (
        code_hash TEXT PRIMARY KEY NOT NULL, tenant TEXT NOT NULL, user_id TEXT NOT NULL, amr TEXT NOT NULL,
        acr TEXT NOT NULL, relay_state TEXT, binding TEXT, expires_at BIGINT NOT NULL, spent_at BIGINT
    );
    CREATE INDEX sso_handoffs_expiry ON sso_handoffs (expires_at);";

/// Regions (`crate::region::heartbeat`): the heartbeat the primary's origins write every tick, whose
/// replayed age is a replica's lag, and the cluster's identity. One row each.
const REGION_TABLES: &str = "CREATE TABLE region_heartbeat (
        id BIGINT PRIMARY KEY NOT NULL, region TEXT NOT NULL, timeline BIGINT NOT NULL, at_ms BIGINT NOT NULL
    );
    CREATE TABLE region_cluster (id BIGINT PRIMARY KEY NOT NULL, cluster TEXT NOT NULL);";
/// The audit trail (`crate::audit::store`): records (never updated: a trigger refuses it), each tenant's
/// chain head, the link retention left, per-tenant retention, how far the ClickHouse export got, and the
/// rollups statistics read (counts per minute, latency histograms, denials per hour). The columns of `audit_events` are the same on
/// both backends; PostgreSQL partitions the table by `day`.
const AUDIT_TABLES_SQLITE: &str = "CREATE TABLE audit_events (
        tenant TEXT NOT NULL, day BIGINT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL,
        at_ms BIGINT NOT NULL, stored_at_ms BIGINT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL,
        code TEXT NOT NULL, actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL, request_id TEXT NOT NULL,
        region TEXT NOT NULL, source TEXT NOT NULL, subject TEXT NOT NULL, resource TEXT NOT NULL,
        resource_type TEXT NOT NULL, permission TEXT NOT NULL, revision BIGINT, zookie TEXT NOT NULL,
        consistency TEXT NOT NULL, tier TEXT NOT NULL, latency_us BIGINT, detail TEXT NOT NULL, hash TEXT NOT NULL,
        PRIMARY KEY (tenant, day, seq)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX audit_events_id ON audit_events (id, day);
    CREATE INDEX audit_events_time ON audit_events (tenant, at_ms);
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
    CREATE TABLE audit_heads (
        tenant TEXT PRIMARY KEY NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL, day BIGINT NOT NULL, stored_at_ms BIGINT NOT NULL
    );
    CREATE TABLE audit_anchors (tenant TEXT PRIMARY KEY NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL, day BIGINT NOT NULL);
    CREATE TABLE audit_retention (tenant TEXT PRIMARY KEY NOT NULL, days BIGINT NOT NULL);
    CREATE TABLE audit_exports (tenant TEXT PRIMARY KEY NOT NULL, seq BIGINT NOT NULL);
    CREATE TABLE audit_minutes (
        tenant TEXT NOT NULL, minute BIGINT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL, count BIGINT NOT NULL,
        PRIMARY KEY (tenant, minute, kind, outcome)
    );
    CREATE TABLE audit_latency (
        tenant TEXT NOT NULL, minute BIGINT NOT NULL, tier TEXT NOT NULL, bucket BIGINT NOT NULL, count BIGINT NOT NULL,
        PRIMARY KEY (tenant, minute, tier, bucket)
    );
    CREATE TABLE audit_denied (
        tenant TEXT NOT NULL, hour BIGINT NOT NULL, resource_type TEXT NOT NULL, permission TEXT NOT NULL, count BIGINT NOT NULL,
        PRIMARY KEY (tenant, hour, resource_type, permission)
    );
    CREATE INDEX audit_events_subject ON audit_events (tenant, subject);";

const AUDIT_TABLES_POSTGRES: &str = "CREATE TABLE audit_events (
        tenant TEXT COLLATE \"C\" NOT NULL, day BIGINT NOT NULL, seq BIGINT NOT NULL, id TEXT COLLATE \"C\" NOT NULL,
        at_ms BIGINT NOT NULL, stored_at_ms BIGINT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL,
        code TEXT NOT NULL, actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL, request_id TEXT NOT NULL,
        region TEXT NOT NULL, source TEXT NOT NULL, subject TEXT NOT NULL, resource TEXT NOT NULL,
        resource_type TEXT NOT NULL, permission TEXT NOT NULL, revision BIGINT, zookie TEXT NOT NULL,
        consistency TEXT NOT NULL, tier TEXT NOT NULL, latency_us BIGINT, detail TEXT NOT NULL, hash TEXT NOT NULL,
        PRIMARY KEY (tenant, day, seq)
    ) PARTITION BY RANGE (day);
    CREATE UNIQUE INDEX audit_events_id ON audit_events (id, day);
    CREATE INDEX audit_events_time ON audit_events (tenant, at_ms);
    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$;
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
    CREATE TABLE audit_heads (
        tenant TEXT COLLATE \"C\" PRIMARY KEY NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL, day BIGINT NOT NULL, stored_at_ms BIGINT NOT NULL
    );
    CREATE TABLE audit_anchors (tenant TEXT COLLATE \"C\" PRIMARY KEY NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL, day BIGINT NOT NULL);
    CREATE TABLE audit_retention (tenant TEXT COLLATE \"C\" PRIMARY KEY NOT NULL, days BIGINT NOT NULL);
    CREATE TABLE audit_exports (tenant TEXT COLLATE \"C\" PRIMARY KEY NOT NULL, seq BIGINT NOT NULL);
    CREATE TABLE audit_minutes (
        tenant TEXT NOT NULL, minute BIGINT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL, count BIGINT NOT NULL,
        PRIMARY KEY (tenant, minute, kind, outcome)
    );
    CREATE TABLE audit_latency (
        tenant TEXT NOT NULL, minute BIGINT NOT NULL, tier TEXT NOT NULL, bucket BIGINT NOT NULL, count BIGINT NOT NULL,
        PRIMARY KEY (tenant, minute, tier, bucket)
    );
    CREATE TABLE audit_denied (
        tenant TEXT NOT NULL, hour BIGINT NOT NULL, resource_type TEXT NOT NULL, permission TEXT NOT NULL, count BIGINT NOT NULL,
        PRIMARY KEY (tenant, hour, resource_type, permission)
    );
    CREATE INDEX audit_events_subject ON audit_events (tenant, subject);";

/// OpenID Connect (`crate::accounts::grants`): clients that use the authorization endpoint (their type,
/// whether first-party, name, redirect URIs), sessions granted to a client (an authorization code's: its
/// own refresh family, ended with the browser session it came from unless it is offline access),
/// single-use authorization codes (SHA-256 hashes) and the consents people gave clients; sign-in requests
/// to a company that asked it to authenticate the person again (`ForceAuthn`), and when a company sign-in
/// actually authenticated (`sso_handoffs.auth_time`, from the assertion's `AuthnInstant`).
const OIDC_TABLES: &str =
    "ALTER TABLE oauth_clients ADD COLUMN client_type TEXT NOT NULL DEFAULT 'confidential';
    ALTER TABLE oauth_clients ADD COLUMN first_party BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE oauth_clients ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE oauth_clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE oauth_clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE sessions ADD COLUMN client_id TEXT;
    ALTER TABLE sessions ADD COLUMN parent_sid TEXT;
    ALTER TABLE sessions ADD COLUMN scope TEXT;
    CREATE INDEX sessions_parent ON sessions (parent_sid);
    CREATE TABLE oauth_codes (
        code_hash TEXT PRIMARY KEY NOT NULL, tenant TEXT NOT NULL, client_id TEXT NOT NULL,
        redirect_uri TEXT NOT NULL, code_challenge TEXT, nonce TEXT, scopes TEXT NOT NULL,
        user_id TEXT NOT NULL, sid TEXT NOT NULL, acr TEXT NOT NULL, created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL, spent_at BIGINT, issued_sid TEXT
    );
    CREATE INDEX oauth_codes_expiry ON oauth_codes (expires_at);
    ALTER TABLE saml_requests ADD COLUMN force_authn BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE sso_handoffs ADD COLUMN auth_time BIGINT;
    CREATE TABLE oauth_consents (
        tenant TEXT NOT NULL, user_id TEXT NOT NULL, client_id TEXT NOT NULL, scopes TEXT NOT NULL,
        granted_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, user_id, client_id)
    );";

/// Per tenant, the permissions (`type:id#permission`, a JSON array) whose results go into access tokens as
/// the `roles` claim.
const TOKEN_ROLES_TABLE: &str = "CREATE TABLE token_roles (
        tenant TEXT PRIMARY KEY NOT NULL, roles TEXT NOT NULL, updated_at BIGINT NOT NULL
    );";

/// A relationship's caveat: its name (empty: none) and the context written with it, canonical JSON
/// (`tessera_authz::Tuple::context_json`; empty: none). Not part of the relationship's identity: a
/// touch with another caveat replaces the live row.
/// A relationship's expiration, milliseconds since the epoch (NULL: none): from then on it counts as
/// deleted, and the background sweep ends it at a revision of its own (indexed for that sweep).
const EXPIRATION_COLUMNS: &str = "ALTER TABLE authz_relationships ADD COLUMN expires_at BIGINT;
    CREATE INDEX authz_rel_expiring ON authz_relationships (expires_at)
        WHERE expires_at IS NOT NULL AND deleted_rev IS NULL;";

const CAVEAT_COLUMNS: &str =
    "ALTER TABLE authz_relationships ADD COLUMN caveat_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE authz_relationships ADD COLUMN caveat_context TEXT NOT NULL DEFAULT '';";

/// Authorization: per-tenant revisions, versioned schemas, relationships with MVCC revisions. Written in
/// the DDL both backends accept.
const AUTHZ_TABLES: &str = "CREATE TABLE authz_tenants (tenant TEXT PRIMARY KEY NOT NULL, head BIGINT NOT NULL);
    CREATE TABLE authz_schemas (
        tenant TEXT NOT NULL, revision BIGINT NOT NULL, text TEXT NOT NULL,
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
        created_rev      BIGINT NOT NULL,
        deleted_rev      BIGINT
    );
    CREATE INDEX authz_rel_resource ON authz_relationships (tenant, resource_type, resource_id, relation);
    CREATE INDEX authz_rel_subject ON authz_relationships (tenant, subject_type, subject_id, subject_relation);
    CREATE INDEX authz_rel_created ON authz_relationships (tenant, created_rev);
    CREATE INDEX authz_rel_deleted ON authz_relationships (tenant, deleted_rev);
    CREATE UNIQUE INDEX authz_rel_live ON authz_relationships
        (tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
        WHERE deleted_rev IS NULL;";

impl Store {
    /// Bring the schema up to this binary's version. Origins starting at once on one database may all
    /// try: on PostgreSQL they queue on an advisory lock, but correctness does not rest on it (CockroachDB
    /// takes the call and locks nothing; YugabyteDB may not implement it). A migrator that loses a race
    /// fails — its DDL finds the tables made, or its `INSERT` into `schema_version` collides with the
    /// primary key — and its transaction rolls back whole; if the version moved on meanwhile, someone
    /// else migrated, and it runs again from the version it now reads (usually: nothing left to do).
    pub(super) async fn migrate(&self) -> Result<(), sqlx::Error> {
        loop {
            let before = self.schema_version().await;
            match retry::transaction(|| self.migrate_once()).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let now = self.schema_version().await;
                    if now <= before {
                        return Err(e);
                    }
                    tracing::info!(before, now, "another origin migrated this database meanwhile: reading its version again ({e})");
                }
            }
        }
    }

    /// The newest migration applied (0 before the first, or when it cannot be read).
    pub(super) async fn schema_version(&self) -> i64 {
        on_db!(&self.db, pool => {
            sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                .fetch_one(pool)
                .await
        })
        .unwrap_or(0)
    }

    /// One transaction applying every migration newer than the version it reads.
    async fn migrate_once(&self) -> Result<(), sqlx::Error> {
        let migrations = self.db.migrations();
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            if let Db::Postgres(_) = &self.db {
                // Read committed, whatever the database's default: a migrator that waited for the lock
                // then reads the version the one before it committed, not a snapshot from before it.
                sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED").execute(&mut *tx).await?;
                // In a savepoint, so that a database without advisory locks carries on without one.
                let mut lock = sqlx::Acquire::begin(&mut tx).await?;
                match sqlx::query("SELECT pg_advisory_xact_lock(7316291)").execute(&mut *lock).await {
                    Ok(_) => lock.commit().await?,
                    Err(e) if !e.is_retryable() => {
                        tracing::debug!("migrating without an advisory lock: {e}");
                        lock.rollback().await?;
                    }
                    Err(e) => return Err(e),
                }
            }
            sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
                .execute(&mut *tx)
                .await?;
            let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
                .fetch_one(&mut *tx)
                .await?
                .try_get("v")?;
            for (i, sql) in migrations.iter().enumerate() {
                let version = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
                if version > current {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await
        })
    }
}
