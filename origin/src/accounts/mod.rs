//! People and how they sign in: users, passkeys, TOTP secrets, sessions and refresh tokens.
//!
//! The edge runs the ceremonies (WebAuthn verification happens there); this store is authoritative for
//! what they need to remember:
//! - users (`user_id` is the opaque WebAuthn user handle; `username` is unique per tenant);
//! - passkeys with their signature counter, advanced by compare-and-set so two concurrent logins with one
//!   credential cannot both pass the clone check;
//! - TOTP secrets, sealed at rest (AES-256-GCM under the origin's secrets key, bound to tenant and user),
//!   verified here because the replay guard (the last accepted step) must have one writer;
//! - recovery codes, as keyed digests, each spent once within a failure budget (`recovery`);
//! - sessions (`sid`) with their `amr`/`acr`/`auth_time`, and single-use refresh tokens stored as SHA-256
//!   hashes: a token is spent on use and replaced; presenting a spent one revokes its whole session (the
//!   token family), so a stolen token and its thief's descendants die together.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tessera_authn::totp::TotpError;
use tessera_jose::Secret;
use tessera_proto::Code;
use tessera_proto::UnixTime;

pub use tessera_proto::accounts::{Passkey, Session, User};

use crate::store::retry::Retryable;
use crate::store::Db;

pub mod branding;
pub mod grants;
pub mod handoff;
pub mod http;
pub mod oauth_http;
mod people;
pub use people::set_active;
mod recovery;
mod sessions;
pub use sessions::Opening;
mod totp;

#[derive(Debug)]
pub enum AccountsError {
    UsernameTaken,
    CredentialExists,
    UnknownUser,
    TotpAlreadyEnrolled,
    TotpNotEnrolled,
    Totp(TotpError),
    /// Too many wrong codes: attempts are refused for `retry_after_secs`.
    TotpLocked {
        retry_after_secs: u64,
    },
    /// A recovery code that is not ten symbols of the alphabet (nothing was counted).
    RecoveryMalformed,
    /// A recovery code that is not one of the named user's unspent codes, or no such (active) user (why,
    /// for the log).
    RecoveryInvalid(&'static str),
    /// Too many wrong recovery codes: attempts are refused for `retry_after_secs`.
    RecoveryLocked {
        retry_after_secs: u64,
    },
    /// The refresh token is unknown or expired.
    RefreshInvalid,
    /// A person's only passkey cannot be removed (they could not sign in again).
    LastPasskey,
    /// No such passkey of the named user.
    UnknownCredential,
    /// A passkey name that is empty, longer than 64 characters, or holds control characters.
    BadPasskeyName,
    /// A spent refresh token was presented: its session was revoked.
    RefreshReused,
    SessionInactive,
    /// A hand-off code that is unknown, spent or expired (one answer for all three).
    HandoffInvalid,
    /// An authorization code that is unknown, expired, or presented with the wrong binding (why, for the
    /// log).
    CodeInvalid(&'static str),
    /// An authorization code presented again: what it was redeemed for has been revoked.
    CodeReused,
    /// A refresh asked for a scope its session was not granted (nothing was spent).
    ScopeNotGranted,
    Sealing(String),
    Database(sqlx::Error),
}

impl AccountsError {
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::UsernameTaken => Code::UsernameTaken,
            Self::CredentialExists => Code::CredentialExists,
            Self::UnknownUser => Code::UnknownUser,
            Self::TotpAlreadyEnrolled => Code::TotpAlreadyEnrolled,
            Self::TotpNotEnrolled => Code::TotpNotEnrolled,
            Self::Totp(e) => e.code(),
            Self::TotpLocked { .. } => Code::TotpLocked,
            Self::LastPasskey => Code::LastPasskey,
            Self::UnknownCredential => Code::UnknownCredential,
            Self::BadPasskeyName => Code::InvalidRequest,
            Self::RecoveryMalformed => Code::RecoveryMalformed,
            Self::RecoveryInvalid(_) => Code::RecoveryInvalid,
            Self::RecoveryLocked { .. } => Code::RecoveryLocked,
            Self::RefreshInvalid => Code::RefreshInvalid,
            Self::RefreshReused => Code::RefreshReused,
            Self::SessionInactive => Code::SessionInactive,
            Self::HandoffInvalid => Code::HandoffInvalid,
            Self::CodeInvalid(_) | Self::CodeReused => Code::InvalidGrant,
            Self::ScopeNotGranted => Code::InvalidScope,
            Self::Sealing(_) | Self::Database(_) => Code::InternalError,
        }
    }
}

impl std::fmt::Display for AccountsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UsernameTaken => f.write_str("that username is taken"),
            Self::CredentialExists => f.write_str("that passkey is already registered"),
            Self::UnknownUser => f.write_str("no such user"),
            Self::TotpAlreadyEnrolled => f.write_str("an authenticator app is already enrolled"),
            Self::TotpNotEnrolled => f.write_str("no authenticator app is enrolled"),
            Self::Totp(e) => write!(f, "{e}"),
            Self::TotpLocked { retry_after_secs } => {
                write!(f, "too many wrong codes; try again in {retry_after_secs} s")
            }
            Self::LastPasskey => {
                f.write_str("this is the account's only passkey; add another before removing it")
            }
            Self::UnknownCredential => f.write_str("no such passkey"),
            Self::BadPasskeyName => f.write_str(
                "a passkey name is 1 to 64 characters, without control or invisible formatting characters",
            ),
            Self::RecoveryMalformed => write!(f, "{}", tessera_authn::recovery::RecoveryError::Malformed),
            Self::RecoveryInvalid(why) => write!(f, "the recovery code is not valid: {why}"),
            Self::RecoveryLocked { retry_after_secs } => {
                write!(f, "too many wrong recovery codes; try again in {retry_after_secs} s")
            }
            Self::RefreshInvalid => f.write_str("the refresh token is not valid"),
            Self::RefreshReused => {
                f.write_str("the refresh token was already used; the session has been revoked")
            }
            Self::SessionInactive => f.write_str("the session has ended"),
            Self::HandoffInvalid => {
                f.write_str("the sign-in code is not valid (unknown, already used or expired)")
            }
            Self::CodeInvalid(why) => write!(f, "the authorization code is not valid: {why}"),
            Self::CodeReused => f.write_str(
                "the authorization code was already used; what it was redeemed for has been revoked",
            ),
            Self::ScopeNotGranted => f.write_str("a refresh cannot add scopes to the grant"),
            Self::Sealing(e) => write!(f, "sealing: {e}"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for AccountsError {}

impl From<sqlx::Error> for AccountsError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl Retryable for AccountsError {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Database(e) if e.is_retryable())
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A device description as stored: at most 64 characters, control and invisible formatting characters
/// dropped (the edge writes it from a `User-Agent`, which the caller controls).
fn device_label(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !invisible(*c))
        .take(64)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Characters that format text without showing: zero-width, bidirectional controls, BOM.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    b64(&Sha256::digest(token.as_bytes()))
}

fn random_b64<const N: usize>() -> Result<String, AccountsError> {
    crate::random_bytes::<N>()
        .map(|b| b64(&b))
        .map_err(|e| AccountsError::Sealing(format!("randomness: {e}")))
}

/// What [`Accounts::set_active`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveChange {
    pub active: bool,
    /// Sessions ended by a deactivation (0 when activating, or when none was live).
    pub sessions_ended: u64,
}

/// How long a session (and so its refresh tokens) lives, in seconds.
pub const SESSION_TTL: i64 = 30 * 24 * 3600;

#[derive(Clone)]
pub struct Accounts {
    db: Db,
    secrets_key: std::sync::Arc<Secret<[u8; 32]>>,
}

fn row_to_user<R: sqlx::Row>(r: &R) -> Result<User, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(User {
        user_id: r.try_get("user_id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        created_at: r.try_get("created_at")?,
    })
}

fn row_to_passkey<R: sqlx::Row>(r: &R) -> Result<Passkey, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let transports: String = r.try_get("transports")?;
    let count: i64 = r.try_get("sign_count")?;
    Ok(Passkey {
        credential_id: r.try_get("credential_id")?,
        user_id: r.try_get("user_id")?,
        public_key: r.try_get("public_key")?,
        sign_count: u32::try_from(count).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        backup_eligible: r.try_get::<i64, _>("backup_eligible")? != 0,
        backed_up: r.try_get::<i64, _>("backed_up")? != 0,
        aaguid: r.try_get("aaguid")?,
        transports: serde_json::from_str(&transports)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        name: r.try_get("name")?,
    })
}

fn row_to_session<R: sqlx::Row>(r: &R, now: UnixTime) -> Result<Session, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let amr: String = r.try_get("amr")?;
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    let expires_at: i64 = r.try_get("expires_at")?;
    Ok(Session {
        sid: r.try_get("sid")?,
        tenant: r.try_get("tenant")?,
        user_id: r.try_get("user_id")?,
        amr: serde_json::from_str(&amr).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        acr: r.try_get("acr")?,
        auth_time: r.try_get("auth_time")?,
        expires_at,
        active: revoked_at.is_none() && expires_at > now.as_secs(),
        revoked_reason: r.try_get("revoked_reason")?,
        client_id: r.try_get("client_id")?,
        scope: r.try_get("scope")?,
        device: r.try_get("device")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
    })
}

impl Accounts {
    #[must_use]
    pub fn new(db: Db, secrets_key: Secret<[u8; 32]>) -> Self {
        Self {
            db,
            secrets_key: std::sync::Arc::new(secrets_key),
        }
    }
}
