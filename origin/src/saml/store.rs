//! The SQL of SAML connections: the row, its claimed email domains, loading and deleting them. The
//! requests and assertions of a connection are in `super::requests`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sqlx::Row as _;
use tessera_proto::saml::{ConnectionId, EmailDomain};
use tessera_proto::{TenantId, UnixTime};
use tessera_saml::{Certificate, IdpMetadata, MetadataOptions};

use super::connection::{Connection, NameIdFormat, NewConnection};
use super::SamlError;
use crate::on_db;
use crate::store::retry;
use crate::store::Db;

/// SAML connections and their requests and assertions, over the origin's database.
#[derive(Clone)]
pub struct SamlStore {
    pub(super) db: Db,
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
        let (attribute_map, allow_list) = (&attribute_map, &allow_list);
        on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO saml_connections (tenant, connection_id, display_name, idp_entity_id, idp_metadata,
                    allow_idp_initiated, signed_part, attribute_map, relay_state_allow_list, name_id_format,
                    sp_key_sealed, sp_certificate, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(tenant.as_str()).bind(new.id.as_str()).bind(&new.display_name)
            .bind(&new.idp.entity_id).bind(&new.idp_metadata_xml).bind(i64::from(new.allow_idp_initiated))
            .bind(new.signed_part.as_str()).bind(attribute_map).bind(allow_list)
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
            Ok::<_, SamlError>(())
        }).await)
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
        let deleted = on_db!(&self.db, pool => retry::transaction(|| async move {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM saml_connections WHERE tenant = $1 AND connection_id = $2")
                .bind(tenant.as_str()).bind(connection.as_str())
                .execute(&mut *tx).await?
                .rows_affected();
            for sql in [
                "DELETE FROM saml_email_domains WHERE tenant = $1 AND connection_id = $2",
                "DELETE FROM saml_requests WHERE tenant = $1 AND connection_id = $2",
                // The links of its people go with it: a connection created again under the name, perhaps
                // to another IdP, must not inherit who its subject keys were. The replay cache stays
                // until its rows expire, so a re-created connection refuses assertions already used.
                "DELETE FROM saml_identities WHERE tenant = $1 AND connection_id = $2",
            ] {
                sqlx::query(sql).bind(tenant.as_str()).bind(connection.as_str()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(deleted)
        }).await?);
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
