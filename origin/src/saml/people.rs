//! Who a verified SAML sign-in is: the tenant user it is linked to, found or created just in time, with
//! its groups written to the relationship store in the same transaction.
//!
//! **The stable key.** A person is known to a connection by one key that the identity provider never
//! reassigns: the attribute the connection maps as `external_id` when there is one, otherwise the
//! `NameID` when its format is `persistent`. Email addresses and transient IDs are not keys (an address
//! is reassigned when someone leaves; a transient ID changes every time), so a connection with neither
//! is refused at sign-in ([`PersonError::NoStableKey`]).
//!
//! **Finding the user** (first sign-in of a key; later ones follow the link in `saml_identities`):
//! 1. the tenant user whose SCIM `externalId` is the key (provisioned over SCIM by the same IdP: a
//!    connection is trusted to name the tenant's SCIM users, as it is trusted to create users);
//! 2. otherwise a new user: username the email address when its domain is one the connection claims
//!    and the name is free, else `{connection}-{12 hex digits of the key's SHA-256}`; display name from
//!    the mapped attributes (control characters dropped, at most 256 characters).
//!
//! Never by email or username alone: an account someone made by passkey sign-up under `cfo@corp.example`
//! proves nothing about who owns that address, and linking the company's CFO to it on their first SSO
//! sign-in would hand their IdP groups to whoever made it. (The origin also refuses passkey sign-up
//! names in a domain a connection claims: those people sign in with their company.)
//!
//! A deactivated user (SCIM `active: false`, or an operator's hold) is refused ([`PersonError::Inactive`]).
//!
//! **Groups.** With `groups` mapped, the attribute's values are the person's groups *from this
//! connection*: `group:{name}#member@user:{id}` is written for each new one and deleted for each one the
//! previous sign-in brought and this one no longer does (memberships written by anyone else are left
//! alone). Names that are not valid object ids (`[a-zA-Z0-9/_|=+-]`, e.g. with spaces) are skipped and
//! logged. The writes go through the relationship store's own write path in the transaction that links
//! the user; a tenant whose schema cannot hold them refuses the sign-in ([`PersonError::Groups`]) rather
//! than sign someone in without the memberships their IdP vouched for.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use tessera_proto::ids::username_key;
use tessera_proto::{Code, UnixTime, Username};
use tessera_saml::VerifiedLogin;

use super::connection::Connection;
use crate::authz::store::{AuthzStoreError, Operation};
use crate::authz::{AuthzStore, WriteTx};
use crate::on_db;
use crate::scim::group_store::membership;
use crate::store::retry::{self, Retryable};
use crate::store::Db;

/// `urn:oasis:names:tc:SAML:2.0:nameid-format:persistent`.
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// The most groups one sign-in may bring (more is refused, not truncated).
pub const MAX_GROUPS: usize = 1000;

/// What a verified sign-in says about the person, read through the connection's attribute map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub key: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `None` when the connection maps no groups (then memberships are not touched).
    pub groups: Option<BTreeSet<String>>,
    /// Group names that are not valid object ids, left out (for the log).
    pub skipped_groups: Vec<String>,
    /// The username to give a new user, in order of preference.
    username_hint: Option<String>,
}

/// Why a sign-in could not be matched to an active user.
#[derive(Debug)]
pub enum PersonError {
    /// Neither a mapped `external_id` attribute nor a persistent NameID.
    NoStableKey,
    /// More groups than [`MAX_GROUPS`].
    TooManyGroups(usize),
    /// The user is deactivated.
    Inactive,
    /// The memberships could not be written (no schema, no `group#member` of users, ...).
    Groups(AuthzStoreError),
    Randomness(String),
    Database(sqlx::Error),
}

impl PersonError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::NoStableKey => Code::SamlNoStableKey,
            Self::TooManyGroups(_) => Code::SamlTooManyGroups,
            Self::Inactive => Code::SamlUserInactive,
            Self::Groups(_) => Code::SamlGroupsUnwritable,
            Self::Randomness(_) | Self::Database(_) => Code::InternalError,
        }
    }
}

impl std::fmt::Display for PersonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoStableKey => f.write_str(
                "the identity provider sent no stable identifier (a persistent NameID, or the attribute the connection maps as external_id)",
            ),
            Self::TooManyGroups(n) => write!(f, "{n} groups, more than the {MAX_GROUPS} accepted"),
            Self::Inactive => f.write_str("this account is deactivated"),
            Self::Groups(e) => write!(f, "the group memberships could not be written: {e}"),
            Self::Randomness(e) => write!(f, "randomness: {e}"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for PersonError {}

impl Retryable for PersonError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Database(e) => e.is_retryable(),
            Self::Groups(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for PersonError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<AuthzStoreError> for PersonError {
    fn from(e: AuthzStoreError) -> Self {
        match e {
            AuthzStoreError::Database(e) => Self::Database(e),
            AuthzStoreError::SqliteRead(e) => Self::Database(sqlx::Error::Protocol(e.to_string())),
            other => Self::Groups(other),
        }
    }
}

/// The first value of the attribute the map names for a key, trimmed, if any.
fn mapped<'a>(login: &'a VerifiedLogin, name: Option<&String>) -> Option<&'a str> {
    let values = login.attribute(name?)?;
    values.iter().map(|v| v.trim()).find(|v| !v.is_empty())
}

impl Person {
    /// Reads `login` through `conn`'s attribute map.
    ///
    /// # Errors
    /// [`PersonError::NoStableKey`], [`PersonError::TooManyGroups`].
    pub fn from_login(login: &VerifiedLogin, conn: &Connection) -> Result<Self, PersonError> {
        let map = &conn.attribute_map;
        let key = match (&map.external_id, login.name_id_format.as_deref()) {
            (Some(_), _) => mapped(login, map.external_id.as_ref()).map(str::to_owned),
            (None, Some(NAMEID_PERSISTENT)) => Some(login.name_id.clone()),
            (None, _) => None,
        }
        .ok_or(PersonError::NoStableKey)?;
        let email = mapped(login, map.email.as_ref()).map(str::to_owned);
        let display_name = mapped(login, map.display_name.as_ref())
            .map(str::to_owned)
            .or_else(|| {
                let given = mapped(login, map.given_name.as_ref());
                let family = mapped(login, map.family_name.as_ref());
                match (given, family) {
                    (Some(g), Some(f)) => Some(format!("{g} {f}")),
                    (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
                    (None, None) => None,
                }
            });
        let display_name = display_name
            .map(|n| clean_display_name(&n))
            .filter(|n| !n.is_empty());
        let (groups, skipped_groups) = match &map.groups {
            None => (None, Vec::new()),
            Some(name) => {
                let values = login.attribute(name).unwrap_or_default();
                if values.len() > MAX_GROUPS {
                    return Err(PersonError::TooManyGroups(values.len()));
                }
                let (valid, skipped): (Vec<&String>, Vec<&String>) = values
                    .iter()
                    .partition(|g| tessera_authz::relationship::valid_id(g));
                (
                    Some(valid.into_iter().cloned().collect()),
                    skipped.into_iter().cloned().collect(),
                )
            }
        };
        let username_hint = email.clone().or_else(|| {
            login
                .name_id_format
                .as_deref()
                .is_some_and(|f| f.ends_with(":emailAddress"))
                .then(|| login.name_id.clone())
        });
        Ok(Self {
            key,
            email,
            display_name,
            groups,
            skipped_groups,
            username_hint,
        })
    }
}

/// The longest display name kept, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;

/// A display name an IdP sent, made fit to show: control characters dropped, trimmed, at most
/// [`MAX_DISPLAY_NAME_CHARS`].
fn clean_display_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_DISPLAY_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The user a sign-in is, and the revision its group memberships were written at (`None`: unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedInPerson {
    pub user_id: String,
    /// Whether the user was created by this sign-in.
    pub created: bool,
    pub revision: Option<u64>,
}

/// The users SAML sign-ins find, create and link.
#[derive(Clone)]
pub struct SamlPeople {
    db: Db,
    authz: AuthzStore,
}

impl SamlPeople {
    #[must_use]
    pub fn new(db: Db, authz: AuthzStore) -> Self {
        Self { db, authz }
    }

    /// Finds or creates the user `person` is for `conn`, checks it is active, writes its groups; all in
    /// one transaction (retried once when a concurrent first sign-in of the same key linked it first).
    ///
    /// # Errors
    /// See [`PersonError`].
    pub async fn sign_in(
        &self,
        conn: &Connection,
        person: &Person,
        now: UnixTime,
    ) -> Result<SignedInPerson, PersonError> {
        let fresh_id = crate::random_bytes::<16>()
            .map(|b| URL_SAFE_NO_PAD.encode(b))
            .map_err(|e| PersonError::Randomness(e.to_string()))?;
        for _ in 0..2 {
            if let Some(done) = self.attempt(conn, person, &fresh_id, now).await? {
                if let Some(revision) = done.revision {
                    self.authz.written(conn.tenant.as_str(), revision).await?;
                }
                return Ok(done);
            }
        }
        Err(PersonError::Database(sqlx::Error::Protocol(
            "the identity link kept changing under this sign-in".into(),
        )))
    }

    /// One transaction; `None` when a concurrent sign-in linked the key first (the caller retries).
    async fn attempt(
        &self,
        conn: &Connection,
        person: &Person,
        fresh_id: &str,
        now: UnixTime,
    ) -> Result<Option<SignedInPerson>, PersonError> {
        let tenant = conn.tenant.as_str();
        let connection = conn.id.as_str();
        let domains = &conn
            .email_domains
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<&str>>();
        on_db!(&self.db, pool => {
            retry::transaction(|| async move {
                let mut tx = pool.begin().await?;
                let linked = sqlx::query(
                    "SELECT user_id, groups FROM saml_identities
                     WHERE tenant = $1 AND connection_id = $2 AND subject_key = $3",
                )
                .bind(tenant).bind(connection).bind(&person.key)
                .fetch_optional(&mut *tx).await?;
                let (user_id, previous_groups, created) = match linked {
                    Some(row) => {
                        let groups: String = row.try_get("groups")?;
                        let previous: BTreeSet<String> = serde_json::from_str(&groups).unwrap_or_default();
                        (row.try_get::<String, _>("user_id")?, previous, false)
                    }
                    None => {
                        let by_external: Option<String> = sqlx::query_scalar(
                            "SELECT user_id FROM users WHERE tenant = $1 AND external_id = $2",
                        )
                        .bind(tenant).bind(&person.key)
                        .fetch_optional(&mut *tx).await?;
                        let (user_id, created) = match by_external {
                            Some(id) => (id, false),
                            None => {
                                // The email address when its domain is claimed by this connection and
                                // the name is valid and free, else `{connection}-{12 hex of SHA-256(key)}`.
                                let hint = person.username_hint.as_deref().filter(|h| {
                                    h.parse::<Username>().is_ok()
                                        && h.rsplit_once('@').is_some_and(|(_, d)| domains.iter().any(|c| c.eq_ignore_ascii_case(d)))
                                });
                                let taken: Option<String> = match hint {
                                    Some(h) => sqlx::query_scalar(
                                        "SELECT user_id FROM users WHERE tenant = $1 AND username_key = $2",
                                    )
                                    .bind(tenant).bind(username_key(h))
                                    .fetch_optional(&mut *tx).await?,
                                    None => None,
                                };
                                let username = match (hint, taken) {
                                    (Some(h), None) => h.to_owned(),
                                    _ => {
                                        let digest = Sha256::digest(person.key.as_bytes());
                                        format!("{connection}-{}", super::hex(digest.get(..6).unwrap_or_default()))
                                    }
                                };
                                let display = person.display_name.clone().unwrap_or_else(|| username.clone());
                                sqlx::query(
                                    "INSERT INTO users (tenant, user_id, username, display_name, created_at, updated_at, username_key)
                                     VALUES ($1, $2, $3, $4, $5, $5, $6)",
                                )
                                .bind(tenant).bind(fresh_id).bind(&username).bind(&display)
                                .bind(now.as_secs()).bind(username_key(&username))
                                .execute(&mut *tx).await?;
                                (fresh_id.to_owned(), true)
                            }
                        };
                        let linked_now = sqlx::query(
                            "INSERT INTO saml_identities (tenant, connection_id, subject_key, user_id, groups, created_at, last_sign_in_at)
                             VALUES ($1, $2, $3, $4, '[]', $5, $5)
                             ON CONFLICT (tenant, connection_id, subject_key) DO NOTHING",
                        )
                        .bind(tenant).bind(connection).bind(&person.key).bind(&user_id).bind(now.as_secs())
                        .execute(&mut *tx).await?
                        .rows_affected();
                        if linked_now != 1 {
                            tx.rollback().await?;
                            return Ok(None);
                        }
                        (user_id, BTreeSet::new(), created)
                    }
                };
                // The user's row lock first (as sessions take it): a deactivation running now either
                // finishes first (and this sees it) or waits for this sign-in and then ends its session.
                let active: Option<i64> = sqlx::query_scalar(
                    "UPDATE users SET active = active WHERE tenant = $1 AND user_id = $2
                     RETURNING (CASE WHEN held = 0 THEN active ELSE 0 END)",
                )
                .bind(tenant).bind(&user_id)
                .fetch_optional(&mut *tx).await?;
                if active != Some(1) {
                    return Err(PersonError::Inactive);
                }
                if let (Some(name), false) = (&person.display_name, created) {
                    // Only for users no SCIM client manages (SCIM's writes carry versions and ETags).
                    sqlx::query(
                        "UPDATE users SET display_name = $1, updated_at = $2
                         WHERE tenant = $3 AND user_id = $4 AND external_id IS NULL AND display_name <> $1",
                    )
                    .bind(name).bind(now.as_secs()).bind(tenant).bind(&user_id)
                    .execute(&mut *tx).await?;
                }
                let mut revision = None;
                if let Some(wanted) = &person.groups {
                    let current: BTreeSet<String> = sqlx::query_scalar::<_, String>(
                        "SELECT resource_id FROM authz_relationships WHERE tenant = $1 AND resource_type = 'group'
                         AND relation = 'member' AND subject_type = 'user' AND subject_id = $2
                         AND subject_relation = '' AND caveat_name = '' AND deleted_rev IS NULL",
                    )
                    .bind(tenant).bind(&user_id)
                    .fetch_all(&mut *tx).await?
                    .into_iter()
                    .collect();
                    let updates: Vec<_> = wanted
                        .difference(&current)
                        .map(|g| (Operation::Touch, membership(g, &user_id)))
                        .chain(
                            previous_groups
                                .difference(wanted)
                                .filter(|g| current.contains(*g))
                                .map(|g| (Operation::Delete, membership(g, &user_id))),
                        )
                        .collect();
                    if !updates.is_empty() {
                        let at = AuthzStore::begin_revision(WriteTx::from(&mut *tx), tenant).await?;
                        self.authz
                            .apply_updates(WriteTx::from(&mut *tx), tenant, at, &crate::scim::group_store::tuples(updates), &[])
                            .await?;
                        revision = Some(at);
                    }
                }
                let groups = match &person.groups {
                    Some(g) => serde_json::to_string(g).unwrap_or_else(|_| "[]".into()),
                    None => serde_json::to_string(&previous_groups).unwrap_or_else(|_| "[]".into()),
                };
                sqlx::query(
                    "UPDATE saml_identities SET groups = $1, last_sign_in_at = $2
                     WHERE tenant = $3 AND connection_id = $4 AND subject_key = $5",
                )
                .bind(&groups).bind(now.as_secs()).bind(tenant).bind(connection).bind(&person.key)
                .execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Some(SignedInPerson { user_id, created, revision }))
            })
            .await
        })
    }
}
