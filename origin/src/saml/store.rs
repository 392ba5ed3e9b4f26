//! The SQL of SAML connections, of the sign-in requests we sent and of the assertions we accepted.
//!
//! Both single-use properties are one statement each, so that any number of origins on one database
//! agree on them without locks of ours:
//! - a request is spent by `UPDATE … SET spent_at WHERE … AND spent_at IS NULL AND expires_at > now …
//!   RETURNING relay_state`: SQLite runs writers one at a time, PostgreSQL re-checks the row after
//!   waiting for a concurrent writer, so of concurrent spends exactly one sees its row;
//! - an assertion ID is remembered by `INSERT … ON CONFLICT DO NOTHING`: the primary key admits one.
//!
//! Expired rows are deleted [`PRUNE_BATCH`] at a time whenever a new row of their table is written.

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use sqlx::Row as _;
use tessera_proto::saml::{ConnectionId, EmailDomain};
use tessera_proto::{TenantId, UnixTime};
use tessera_saml::{Certificate, IdpMetadata, MetadataOptions};

use super::connection::{Connection, NameIdFormat, NewConnection};
use super::{hex, SamlError};
use crate::on_db;
use crate::store::Db;

/// How long a sign-in request may be answered.
pub const REQUEST_TTL: Duration = Duration::from_secs(600);
/// The most expired rows one write deletes.
pub const PRUNE_BATCH: i64 = 100;

/// A sign-in request we are about to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedRequest {
    /// The AuthnRequest's `ID`: `_` and 64 hex digits (256 random bits).
    pub request_id: String,
    /// The RelayState to send the IdP (22 base64url characters, bound to the request), when the
    /// sign-in has somewhere to return to.
    pub relay_token: Option<String>,
    pub expires_at: UnixTime,
}

/// Why a request could not be spent: for the log only (outward it is one refusal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestRefusal {
    /// No such request for this connection.
    Unknown,
    /// Already answered once.
    Spent,
    Expired,
    /// The response came back with a RelayState other than the one we sent with this request.
    RelayStateMismatch,
}

impl std::fmt::Display for RequestRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unknown => "no such request for this connection",
            Self::Spent => "the request was already answered",
            Self::Expired => "the request expired",
            Self::RelayStateMismatch => "the RelayState is not the one sent with the request",
        })
    }
}

/// SAML connections and their requests and assertions, over the origin's database.
#[derive(Clone)]
pub struct SamlStore {
    db: Db,
}

impl SamlStore {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Store a connection, its sealed SP key and certificate, and claim its email domains, in one
    /// transaction.
    ///
    /// # Errors
    /// [`SamlError::Exists`], [`SamlError::DomainTaken`] (nothing is stored then), the database.
    pub async fn create(
        &self,
        tenant: &TenantId,
        new: &NewConnection,
        sealed_sp_key: &str,
        sp_certificate: &Certificate,
        now: UnixTime,
    ) -> Result<(), SamlError> {
        let attribute_map = serde_json::to_string(&new.attribute_map)
            .map_err(|e| SamlError::Database(sqlx::Error::Encode(Box::new(e))))?;
        let allow_list = serde_json::to_string(&new.relay_state_allow_list)
            .map_err(|e| SamlError::Database(sqlx::Error::Encode(Box::new(e))))?;
        let taken = |e: sqlx::Error, what: SamlError| {
            if matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation()) {
                what
            } else {
                SamlError::Database(e)
            }
        };
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO saml_connections (tenant, connection_id, display_name, idp_entity_id, idp_metadata,
                    allow_idp_initiated, signed_part, attribute_map, relay_state_allow_list, name_id_format,
                    sp_key_sealed, sp_certificate, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(tenant.as_str()).bind(new.id.as_str()).bind(&new.display_name)
            .bind(&new.idp.entity_id).bind(&new.idp_metadata_xml).bind(i64::from(new.allow_idp_initiated))
            .bind(new.signed_part.as_str()).bind(&attribute_map).bind(&allow_list)
            .bind(new.name_id_format.uri()).bind(sealed_sp_key).bind(STANDARD.encode(sp_certificate.der()))
            .bind(now.as_secs())
            .execute(&mut *tx).await
            .map_err(|e| taken(e, SamlError::Exists))?;
            for domain in &new.email_domains {
                sqlx::query("INSERT INTO saml_email_domains (domain, tenant, connection_id) VALUES ($1, $2, $3)")
                    .bind(domain.as_str()).bind(tenant.as_str()).bind(new.id.as_str())
                    .execute(&mut *tx).await
                    .map_err(|e| taken(e, SamlError::DomainTaken(domain.as_str().to_owned())))?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// One connection.
    ///
    /// # Errors
    /// The database, or a stored row that no longer reads (its metadata, its certificate).
    pub async fn get(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<Connection>, SamlError> {
        let mut found = self.load(Some(tenant), Some(connection)).await?;
        Ok(found.pop())
    }

    /// Every connection (of one tenant, or all), by tenant then name.
    ///
    /// # Errors
    /// As [`SamlStore::get`].
    pub async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<Connection>, SamlError> {
        self.load(tenant, None).await
    }

    async fn load(
        &self,
        tenant: Option<&TenantId>,
        connection: Option<&ConnectionId>,
    ) -> Result<Vec<Connection>, SamlError> {
        let tenant = tenant.map(TenantId::as_str);
        let connection = connection.map(ConnectionId::as_str);
        let (rows, domains) = on_db!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT * FROM saml_connections
                 WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $1) AND (CAST($2 AS TEXT) IS NULL OR connection_id = $2)",
            )
            .bind(tenant).bind(connection)
            .fetch_all(pool).await?
            .iter()
            .map(|r| -> Result<StoredRow, sqlx::Error> {
                Ok(StoredRow {
                    tenant: r.try_get("tenant")?,
                    connection_id: r.try_get("connection_id")?,
                    display_name: r.try_get("display_name")?,
                    idp_metadata: r.try_get("idp_metadata")?,
                    allow_idp_initiated: r.try_get("allow_idp_initiated")?,
                    signed_part: r.try_get("signed_part")?,
                    attribute_map: r.try_get("attribute_map")?,
                    relay_state_allow_list: r.try_get("relay_state_allow_list")?,
                    name_id_format: r.try_get("name_id_format")?,
                    sp_key_sealed: r.try_get("sp_key_sealed")?,
                    sp_certificate: r.try_get("sp_certificate")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
            let domains: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT tenant, connection_id, domain FROM saml_email_domains
                 WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $1) AND (CAST($2 AS TEXT) IS NULL OR connection_id = $2)",
            )
            .bind(tenant).bind(connection)
            .fetch_all(pool).await?;
            (rows, domains)
        });
        let mut out = rows
            .into_iter()
            .map(|row| row.read(&domains))
            .collect::<Result<Vec<_>, _>>()?;
        // In Rust, so both databases give one order whatever their collation.
        out.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
        Ok(out)
    }

    /// Delete a connection with its email domains, pending requests and remembered assertions;
    /// `false` when there was none.
    ///
    /// # Errors
    /// The database.
    pub async fn delete(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<bool, SamlError> {
        let deleted = on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM saml_connections WHERE tenant = $1 AND connection_id = $2")
                .bind(tenant.as_str()).bind(connection.as_str())
                .execute(&mut *tx).await?
                .rows_affected();
            for sql in [
                "DELETE FROM saml_email_domains WHERE tenant = $1 AND connection_id = $2",
                "DELETE FROM saml_requests WHERE tenant = $1 AND connection_id = $2",
                "DELETE FROM saml_seen_assertions WHERE tenant = $1 AND connection_id = $2",
            ] {
                sqlx::query(sql).bind(tenant.as_str()).bind(connection.as_str()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            deleted
        });
        Ok(deleted == 1)
    }

    /// The connection that claims `domain`, if any: `(tenant, connection)`.
    ///
    /// # Errors
    /// The database, or a corrupt row.
    pub async fn by_domain(
        &self,
        domain: &EmailDomain,
    ) -> Result<Option<(TenantId, ConnectionId)>, SamlError> {
        let found: Option<(String, String)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT tenant, connection_id FROM saml_email_domains WHERE domain = $1")
                .bind(domain.as_str())
                .fetch_optional(pool).await?
        });
        found
            .map(|(t, c)| Ok((t.parse().map_err(corrupt)?, c.parse().map_err(corrupt)?)))
            .transpose()
    }

    /// Remember a sign-in request for [`REQUEST_TTL`], with where it returns to (`relay_state`, already
    /// checked by the caller); expired requests are pruned on the way.
    ///
    /// # Errors
    /// Randomness, the database.
    pub async fn issue_request(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        relay_state: Option<&str>,
        now: UnixTime,
    ) -> Result<IssuedRequest, SamlError> {
        let random = |e: getrandom::Error| SamlError::Randomness(e.to_string());
        let request_id = format!("_{}", hex(&crate::random_bytes::<32>().map_err(random)?));
        let relay_token = relay_state
            .map(|_| crate::random_bytes::<16>().map(|b| URL_SAFE_NO_PAD.encode(b)))
            .transpose()
            .map_err(random)?;
        let expires_at = now.plus(REQUEST_TTL);
        on_db!(&self.db, pool => {
            sqlx::query(
                "DELETE FROM saml_requests WHERE request_id IN
                    (SELECT request_id FROM saml_requests WHERE expires_at <= $1 LIMIT $2)",
            )
            .bind(now.as_secs()).bind(PRUNE_BATCH)
            .execute(pool).await?;
            sqlx::query(
                "INSERT INTO saml_requests (request_id, tenant, connection_id, relay_state, relay_token, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&request_id).bind(tenant.as_str()).bind(connection.as_str())
            .bind(relay_state).bind(relay_token.as_deref())
            .bind(now.as_secs()).bind(expires_at.as_secs())
            .execute(pool).await?;
        });
        Ok(IssuedRequest {
            request_id,
            relay_token,
            expires_at,
        })
    }

    /// Spend the request a response answers (`InResponseTo`), presented with `relay_token` (the
    /// RelayState the IdP posted back, if any): at most once, before it expires, for this connection
    /// only. Returns where the sign-in returns to.
    ///
    /// # Errors
    /// [`SamlError::RequestRefused`] (which check failed, for the log), the database.
    pub async fn spend_request(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        request_id: &str,
        relay_token: Option<&str>,
        now: UnixTime,
    ) -> Result<Option<String>, SamlError> {
        let spent: Option<Option<String>> = on_db!(&self.db, pool => {
            sqlx::query_scalar(
                "UPDATE saml_requests SET spent_at = $1
                 WHERE request_id = $2 AND tenant = $3 AND connection_id = $4
                   AND spent_at IS NULL AND expires_at > $1
                   AND ((relay_token IS NULL AND CAST($5 AS TEXT) IS NULL) OR relay_token = $5)
                 RETURNING relay_state",
            )
            .bind(now.as_secs()).bind(request_id).bind(tenant.as_str()).bind(connection.as_str())
            .bind(relay_token)
            .fetch_optional(pool).await?
        });
        if let Some(relay_state) = spent {
            return Ok(relay_state);
        }
        // Why, for the log: the row as it is now.
        let row: Option<(Option<i64>, i64, Option<String>)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT spent_at, expires_at, relay_token FROM saml_requests
                 WHERE request_id = $1 AND tenant = $2 AND connection_id = $3",
            )
            .bind(request_id).bind(tenant.as_str()).bind(connection.as_str())
            .fetch_optional(pool).await?
        });
        let reason = match row {
            None => RequestRefusal::Unknown,
            Some((Some(_), _, _)) => RequestRefusal::Spent,
            Some((None, expires_at, _)) if expires_at <= now.as_secs() => RequestRefusal::Expired,
            Some(_) => RequestRefusal::RelayStateMismatch,
        };
        Err(SamlError::RequestRefused(reason))
    }

    /// Remember an accepted assertion's `ID` until `expires_at` (the last moment it could be accepted:
    /// its `NotOnOrAfter` plus any clock-skew allowance). `true` when it was new; `false` when it was
    /// already remembered: a replay. Call it after checking the assertion's validity window with the
    /// same `now` (an expired row may already be pruned).
    ///
    /// # Errors
    /// The database.
    pub async fn remember_assertion(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        assertion_id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, SamlError> {
        let inserted = on_db!(&self.db, pool => {
            sqlx::query(
                "DELETE FROM saml_seen_assertions WHERE (tenant, connection_id, assertion_id) IN
                    (SELECT tenant, connection_id, assertion_id FROM saml_seen_assertions WHERE expires_at < $1 LIMIT $2)",
            )
            .bind(now.as_secs()).bind(PRUNE_BATCH)
            .execute(pool).await?;
            sqlx::query(
                "INSERT INTO saml_seen_assertions (tenant, connection_id, assertion_id, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, connection_id, assertion_id) DO NOTHING",
            )
            .bind(tenant.as_str()).bind(connection.as_str()).bind(assertion_id).bind(expires_at.as_secs())
            .execute(pool).await?
            .rows_affected()
        });
        Ok(inserted == 1)
    }
}

fn corrupt(e: impl std::error::Error + Send + Sync + 'static) -> SamlError {
    SamlError::Database(sqlx::Error::Decode(Box::new(e)))
}

/// A `saml_connections` row as read, before its columns are parsed.
struct StoredRow {
    tenant: String,
    connection_id: String,
    display_name: String,
    idp_metadata: String,
    allow_idp_initiated: i64,
    signed_part: String,
    attribute_map: String,
    relay_state_allow_list: String,
    name_id_format: String,
    sp_key_sealed: String,
    sp_certificate: String,
    created_at: i64,
}

impl StoredRow {
    fn read(self, domains: &[(String, String, String)]) -> Result<Connection, SamlError> {
        let label = format!("{}/{}", self.tenant, self.connection_id);
        let text_error = |what: &str, e: &dyn std::fmt::Display| {
            corrupt(std::io::Error::other(format!(
                "saml connection `{label}`: {what}: {e}"
            )))
        };
        let idp = IdpMetadata::parse(self.idp_metadata.as_bytes(), MetadataOptions::default())
            .map_err(|e| text_error("metadata", &e))?;
        let der = STANDARD
            .decode(self.sp_certificate.as_bytes())
            .map_err(|e| text_error("certificate", &e))?;
        let mut email_domains: Vec<EmailDomain> = domains
            .iter()
            .filter(|(t, c, _)| *t == self.tenant && *c == self.connection_id)
            .map(|(_, _, d)| d.parse().map_err(corrupt))
            .collect::<Result<_, _>>()?;
        email_domains.sort();
        Ok(Connection {
            tenant: self.tenant.parse().map_err(corrupt)?,
            id: self.connection_id.parse().map_err(corrupt)?,
            display_name: self.display_name,
            idp,
            allow_idp_initiated: self.allow_idp_initiated != 0,
            signed_part: self
                .signed_part
                .parse()
                .map_err(|e: String| text_error("signed part", &e))?,
            attribute_map: serde_json::from_str(&self.attribute_map)
                .map_err(|e| text_error("attribute map", &e))?,
            email_domains,
            relay_state_allow_list: serde_json::from_str(&self.relay_state_allow_list)
                .map_err(|e| text_error("allow-list", &e))?,
            name_id_format: NameIdFormat::parse(&self.name_id_format)
                .map_err(|e| text_error("NameID format", &e))?,
            sp_certificate: Certificate::from_der(der)
                .map_err(|e| text_error("certificate", &e))?,
            sealed_sp_key: self.sp_key_sealed,
            idp_metadata_xml: self.idp_metadata,
            created_at: UnixTime::from_secs(self.created_at),
        })
    }
}
