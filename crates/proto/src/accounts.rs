//! The accounts API between edge and origin (`/internal/v1/tenants/{tenant}/...`, service credential): the
//! one definition of every body both sides serialise. The origin answers with these types (`Json<T>`), the
//! edge reads them; requests refuse unknown fields.
//!
//! Bodies that carry a secret (a TOTP secret or code, a refresh token) derive no `Debug`, so they cannot be
//! printed by accident.

use serde::{Deserialize, Serialize};

/// A person. `user_id` is the opaque WebAuthn user handle (base64url); `username` is unique per tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    /// Unix seconds; absent in a sign-up request (the origin sets it).
    #[serde(default)]
    pub created_at: i64,
}

/// A stored passkey. Binary fields are base64url.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passkey {
    pub credential_id: String,
    pub user_id: String,
    /// The COSE_Key, base64url.
    pub public_key: String,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backed_up: bool,
    /// AAGUID, base64url.
    pub aaguid: String,
    #[serde(default)]
    pub transports: Vec<String>,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub last_used_at: Option<i64>,
    /// What its owner calls it (at first, the browser and system it was made on: "Chrome on macOS").
    #[serde(default)]
    pub name: String,
}

/// A session: how and when its user authenticated, and whether it is still alive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub sid: String,
    pub tenant: String,
    pub user_id: String,
    /// RFC 8176 methods, in the order they were used.
    pub amr: Vec<String>,
    pub acr: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    /// The OAuth client the session was granted to (an authorization code's); `None` for the login page's
    /// own sessions. A client's session is refreshed only by that client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// A client's session: the scopes granted (space-separated), which its refreshed tokens carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The browser and system it was opened on ("Firefox on Windows"; empty: not known).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
    /// When it was last used (a refresh, a step-up), unix seconds; `None`: not since it was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<i64>,
}

/// `POST signup`: a new user and their first passkey, together or not at all.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    pub user: NewUser,
    pub passkey: Passkey,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
}

/// The answer to `POST signup`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserAnswer {
    pub user: User,
}

/// `GET users/by-name/{username}`, `GET users/{user_id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserWithPasskeys {
    pub user: User,
    pub passkeys: Vec<Passkey>,
    /// Whether a TOTP authenticator is confirmed.
    #[serde(default)]
    pub totp: bool,
    /// Recovery codes not yet spent.
    #[serde(default)]
    pub recovery_codes: u32,
}

/// `GET passkeys/{credential_id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PasskeyWithUser {
    pub passkey: Passkey,
    pub user: User,
}

/// `POST passkeys/{credential_id}/counter`: move the counter from `from` to `to` if nobody moved it first.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterRequest {
    pub from: u32,
    pub to: u32,
    pub backed_up: bool,
}

/// The answer to `POST users/{user_id}/totp`: the new secret in base32, shown once.
#[derive(Serialize, Deserialize)]
pub struct TotpSecretAnswer {
    pub secret: String,
}

/// `POST users/{user_id}/totp/verify`: a code typed by a person (`confirm`: the first, which confirms).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpCheckRequest {
    pub code: String,
    #[serde(default)]
    pub confirm: bool,
}

/// The answer to `POST users/{user_id}/recovery-codes`: a new set, shown once (`xxxxx-xxxxx`); the
/// earlier set no longer works.
#[derive(Serialize, Deserialize)]
pub struct RecoveryCodesAnswer {
    pub codes: Vec<String>,
}

/// `POST recovery/redeem`: a recovery code typed by a person, with the username they gave.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRedeemRequest {
    pub username: String,
    pub code: String,
    /// The browser and system the person signed in on, as the edge describes it.
    #[serde(default)]
    pub device: String,
}

/// `POST users/{user_id}/passkeys/{credential_id}/name`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyName {
    pub name: String,
}

/// `GET users/{user_id}/sessions`: the user's live sessions, newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

/// The answer to `POST recovery/redeem`: the code is spent and a recovery session is open — `acr`
/// [`RECOVERY_ACR`], `amr` `[`[`RECOVERY_AMR`]`]`, [`RECOVERY_SESSION_TTL`] seconds, no refresh token —
/// in which the person must add a passkey before anything else; `codes_left` are still unspent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecoveryRedeemAnswer {
    pub session: Session,
    pub codes_left: u32,
}

/// The `acr` of a session opened with a recovery code.
pub const RECOVERY_ACR: &str = "recovery";
/// The `amr` of a session opened with a recovery code (not an RFC 8176 value: none fits).
pub const RECOVERY_AMR: &str = "rec";
/// How long a recovery session lives, in seconds: long enough to add a passkey.
pub const RECOVERY_SESSION_TTL: i64 = 15 * 60;

/// `POST sessions`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSessionRequest {
    pub user_id: String,
    pub amr: Vec<String>,
    pub acr: String,
    /// The browser and system the person signed in on, as the edge describes it.
    #[serde(default)]
    pub device: String,
}

/// The answer to `POST sessions` and `POST sessions/refresh`.
#[derive(Serialize, Deserialize)]
pub struct SessionWithRefresh {
    pub session: Session,
    pub refresh_token: String,
}

/// `POST sso/exchange`: a hand-off code from a federated sign-in, spent once.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    pub code: String,
    /// What the login page kept when it started the sign-in (see the origin's `accounts::handoff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<String>,
    /// The browser and system the person signed in on, as the edge describes it.
    #[serde(default)]
    pub device: String,
}

/// The answer to `POST sso/exchange`: the new session, its refresh token, and where the person wanted
/// to go (a relative path or an allow-listed URL, already checked).
#[derive(Serialize, Deserialize)]
pub struct HandoffAnswer {
    pub session: Session,
    pub refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_state: Option<String>,
}

/// `POST sessions/refresh`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
    /// The client presenting it (authenticated by the edge); `None` for the login page. A token of
    /// another client's session is unknown to this one, and is not spent.
    #[serde(default)]
    pub client_id: Option<String>,
    /// A narrower scope asked for (space-separated): refused, before the token is spent, when it names a
    /// scope the session was not granted.
    #[serde(default)]
    pub scope: Option<String>,
}

/// `GET sessions/{sid}`, `POST sessions/{sid}/step-up`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionAnswer {
    pub session: Session,
}

/// `POST sessions/{sid}/step-up`: add `method` to the session's `amr`, with the new `acr`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpRequest {
    pub method: String,
    pub acr: String,
}

/// `POST sessions/{sid}/revoke` (0 or 1), `POST users/{user_id}/sessions/revoke` (how many).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: u64,
}

/// An answer with nothing to say (`{}`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Done {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_refuse_unknown_fields_and_answers_keep_their_shape() {
        assert!(serde_json::from_str::<CounterRequest>(
            r#"{"from":1,"to":2,"backed_up":false,"x":1}"#
        )
        .is_err());
        assert!(
            serde_json::from_str::<TotpCheckRequest>(r#"{"code":"123456"}"#)
                .is_ok_and(|r| !r.confirm)
        );
        assert_eq!(serde_json::to_string(&Done {}).unwrap(), "{}");
        let s = Session {
            sid: "s".into(),
            tenant: "t".into(),
            user_id: "u".into(),
            amr: vec!["hwk".into()],
            acr: "phr".into(),
            auth_time: 1,
            expires_at: 2,
            active: true,
            revoked_reason: None,
            client_id: None,
            scope: None,
            device: String::new(),
            created_at: 1,
            last_seen_at: None,
        };
        let text = serde_json::to_string(&SessionAnswer { session: s.clone() }).unwrap();
        assert!(!text.contains("revoked_reason") && !text.contains("device"));
        assert_eq!(
            serde_json::from_str::<SessionAnswer>(&text)
                .unwrap()
                .session,
            s
        );
    }
}
