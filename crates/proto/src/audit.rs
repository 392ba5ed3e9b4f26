//! The audit trail's wire types: one [`AuditEvent`] per authentication or authorization event, as the edge
//! and the origin record it, and what the origin's audit API answers ([`AuditPage`], [`AuditStats`]).
//!
//! An event names what happened (`kind`, one of [`kinds`]), to whom and by whom (`tenant`, `actor`), how it
//! ended (`outcome`, and a stable `code` when it failed), and where (`source`, `region`, `request_id`, the
//! id the edge gives a request and the origin sees again in `Tessera-Request-Id`). Decisions add the
//! question and its answer (`resource`, `permission`, `subject`, `revision`, `consistency`, `tier`,
//! `latency_us`); anything else is in `detail`, a JSON object.
//!
//! What an event never holds: a token, a refresh token, a code, a secret, a TOTP code, a passkey's
//! signature. The recorders put identifiers there (a token's `jti`, a client's id, a credential's id).

use serde::{Deserialize, Serialize};

/// The kinds of event Tessera records: stable names, `area.what`.
pub mod kinds {
    /// An access token was issued (`detail`: grant, client, scopes, jti).
    pub const TOKEN_ISSUED: &str = "token.issued";
    /// A token request was refused (`code`: the OAuth error; `detail`: grant, reason).
    pub const TOKEN_REFUSED: &str = "token.refused";
    /// A token was introspected (RFC 7662; `detail.active`).
    pub const TOKEN_INTROSPECTED: &str = "token.introspected";
    /// A token failed verification (sampled: at most a few per isolate and minute, see `detail.sampled`).
    pub const TOKEN_VERIFY_FAILED: &str = "token.verify_failed";
    /// A refresh token was exchanged for a new one.
    pub const REFRESH_ROTATED: &str = "refresh.rotated";
    /// A spent refresh token was presented again: its whole family was revoked.
    pub const REFRESH_REUSED: &str = "refresh.reused";
    /// A person signed out (one session or all).
    pub const SESSION_LOGOUT: &str = "session.logout";
    /// A passkey was registered, or its registration refused (`code`: the check that failed).
    pub const PASSKEY_REGISTERED: &str = "passkey.registered";
    /// A person renamed one of their passkeys (`detail.credential_id`).
    pub const PASSKEY_RENAMED: &str = "passkey.renamed";
    /// A person removed one of their passkeys (`detail.credential_id`), or was refused (`code`).
    pub const PASSKEY_REMOVED: &str = "passkey.removed";
    /// A person signed in with a passkey, or was refused (`code`: the check that failed).
    pub const PASSKEY_SIGN_IN: &str = "passkey.sign_in";
    /// An authenticator app was enrolled.
    pub const TOTP_ENROLLED: &str = "totp.enrolled";
    /// A TOTP code was checked for a step-up (`outcome`: success or failure; `code` on failure).
    pub const TOTP_STEP_UP: &str = "totp.step_up";
    /// The TOTP failure budget ran out: codes are refused until `detail.locked_until`.
    pub const TOTP_LOCKED: &str = "totp.locked";
    /// A new set of recovery codes was issued (at sign-up, or asked for; the earlier set stops working).
    pub const RECOVERY_CODES_ISSUED: &str = "recovery.codes_issued";
    /// A person signed in with a recovery code (`detail.codes_left`), or was refused (`code`).
    pub const RECOVERY_SIGN_IN: &str = "recovery.sign_in";
    /// The recovery-code failure budget ran out: codes are refused for a while.
    pub const RECOVERY_LOCKED: &str = "recovery.locked";
    /// A federated (SAML) sign-in was accepted or refused.
    pub const SAML_SIGN_IN: &str = "saml.sign_in";
    /// A SCIM client created, changed or removed a user or a group (`detail.operation`).
    pub const SCIM_CHANGE: &str = "scim.change";
    /// The signing-key ring took one rotation step (`detail.step`).
    pub const KEY_ROTATED: &str = "key.rotated";
    /// An OAuth client was created.
    pub const CLIENT_CREATED: &str = "client.created";
    /// An OAuth client was disabled.
    pub const CLIENT_DISABLED: &str = "client.disabled";
    /// Relationships were written (`detail`: counts and the changes; `zookie` the revision it made).
    pub const RELATIONSHIPS_WRITTEN: &str = "relationships.written";
    /// Relationships were deleted by filter.
    pub const RELATIONSHIPS_DELETED: &str = "relationships.deleted";
    /// The schema was replaced.
    pub const SCHEMA_WRITTEN: &str = "schema.written";
    /// A permission was checked (`outcome` allowed or denied; `tier` where the answer came from).
    pub const CHECK_DECISION: &str = "check.decision";
    /// Users were deactivated or reactivated by an operator.
    pub const USER_STATUS: &str = "user.status";
    /// The tenant's audit retention was changed (`detail.days`), or applied (`detail.removed` records up
    /// to `detail.anchor_seq`).
    pub const AUDIT_RETENTION: &str = "audit.retention";
    /// An authorization request was answered with a code, or refused (`code`: the error sent to the
    /// client; `detail`: client, scope).
    pub const AUTHORIZATION: &str = "oauth.authorization";
    /// A person consented to a client's scopes.
    pub const CONSENT_GRANTED: &str = "consent.granted";
    /// A person withdrew a client's consent (`detail.sessions_ended`).
    pub const CONSENT_REVOKED: &str = "consent.revoked";
    /// A client revoked a token (RFC 7009; `detail.revoked` sessions ended).
    pub const TOKEN_REVOKED: &str = "token.revoked";
}

/// How an event ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A decision that granted.
    Allowed,
    /// A decision that refused.
    Denied,
    /// Anything else that did what was asked.
    Success,
    /// Refused: bad input, a failed check, a spent credential (`code` says which).
    Failure,
    /// It could not be done (a failure of ours, not the caller's).
    Error,
}

impl Outcome {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
        }
    }

    /// Every outcome, in the order tables show them.
    pub const ALL: [Self; 5] = [
        Self::Allowed,
        Self::Denied,
        Self::Success,
        Self::Failure,
        Self::Error,
    ];

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// Who acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// An OAuth client (its `client_id`).
    Client,
    /// A person (their user id).
    User,
    /// A caller holding the service credential (the edge, an admin tool).
    Service,
    /// An operator at the origin's command line.
    Operator,
    /// Nobody known yet (a sign-in that failed before a user was found).
    Anonymous,
}

impl ActorKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::User => "user",
            Self::Service => "service",
            Self::Operator => "operator",
            Self::Anonymous => "anonymous",
        }
    }

    pub const ALL: [Self; 5] = [
        Self::Client,
        Self::User,
        Self::Service,
        Self::Operator,
        Self::Anonymous,
    ];

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// Who acted, and their id within the tenant (empty for `anonymous`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    #[serde(default)]
    pub id: String,
}

/// Which part of Tessera recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Edge,
    Origin,
}

impl Source {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Edge => "edge",
            Self::Origin => "origin",
        }
    }

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Edge, Self::Origin]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// One recorded event. Empty strings and `None` stand for "does not apply".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// 32 lower-case hex digits (128 random bits), chosen by the recorder: the same event delivered twice
    /// is stored once.
    pub id: String,
    /// When it happened, milliseconds since the epoch (the recorder's clock).
    pub at_ms: i64,
    pub tenant: String,
    /// One of [`kinds`].
    pub kind: String,
    pub outcome: Outcome,
    /// The stable error code when it failed (`invalid_grant`, `totp_replayed`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    pub source: Source,
    /// Decisions: who was asked about (`user:alice`); sign-ins: the user.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Decisions: the object (`doc:readme`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub permission: String,
    /// The revision a decision was computed at, or a write made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub zookie: String,
    /// `minimize_latency`, `at_least_as_fresh`, `fully_consistent`, `at_exact_snapshot`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    /// Where a decision's answer came from: `isolate`, `kv`, `origin`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tier: String,
    /// How long the recorder took to answer, microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// Everything else, a JSON object (for decisions that carry one: `why`, the reason path).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl AuditEvent {
    /// An event of `tenant` recorded by `source` at `at_ms`: what happened (`kind`, `outcome`) and who
    /// acted; everything else empty, for the recorder to fill in (the id too).
    #[must_use]
    pub fn new(
        tenant: &str,
        kind: &str,
        outcome: Outcome,
        actor: Actor,
        source: Source,
        at_ms: i64,
    ) -> Self {
        Self {
            id: String::new(),
            at_ms,
            tenant: tenant.to_owned(),
            kind: kind.to_owned(),
            outcome,
            code: String::new(),
            actor,
            request_id: String::new(),
            region: String::new(),
            source,
            subject: String::new(),
            resource: String::new(),
            permission: String::new(),
            revision: None,
            zookie: String::new(),
            consistency: String::new(),
            tier: String::new(),
            latency_us: None,
            detail: serde_json::Map::new(),
        }
    }

    /// Note a decision's caveat context (or, larger than [`MAX_CAVEAT_CONTEXT_BYTES`], only its size)
    /// and, for a conditional answer, the caveat parameters it lacked. The edge's events and the
    /// origin's say it the same way; explaining the decision later uses that context.
    pub fn note_caveat(
        &mut self,
        context: &serde_json::Map<String, serde_json::Value>,
        missing: &[String],
    ) {
        if !context.is_empty() {
            let value = serde_json::Value::Object(context.clone());
            let bytes = value.to_string().len();
            if bytes <= MAX_CAVEAT_CONTEXT_BYTES {
                self.detail.insert("caveat_context".into(), value);
            } else {
                self.detail
                    .insert("caveat_context_bytes".into(), bytes.into());
            }
        }
        if !missing.is_empty() {
            self.detail
                .insert("conditional".into(), serde_json::Value::from(missing));
        }
    }
}

/// The largest caveat context an event keeps whole (the size a stored relationship's context may take).
pub const MAX_CAVEAT_CONTEXT_BYTES: usize = 4 * 1024;

/// `POST /internal/v1/audit/events`: a batch from the edge.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditBatch {
    pub events: Vec<AuditEvent>,
}

/// What became of each event of a batch, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIngested {
    /// Stored now.
    pub stored: usize,
    /// Already stored (a redelivery): left as they were.
    pub duplicates: usize,
    /// Refused, with why; never stored (a redelivery would be refused again).
    pub refused: Vec<AuditRefusal>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRefusal {
    /// The event's position in the batch.
    pub index: usize,
    pub message: String,
}

/// A stored event: the event, its place in its tenant's chain, and the chain's hash through it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Its number in the tenant's chain (1, 2, ...).
    pub seq: u64,
    /// When the origin stored it, milliseconds since the epoch.
    pub stored_at_ms: i64,
    /// SHA-256 over the previous record's hash and this record, lower-case hex.
    pub hash: String,
}

/// `GET /v1/tenants/{t}/audit`: newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditRecord>,
    /// Pass back as `cursor` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `GET /v1/tenants/{t}/audit/stats`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AuditStats {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Decisions and sign-ins per minute by outcome, oldest first; minutes without events are left out.
    pub per_minute: Vec<MinuteCounts>,
    /// Check latency by cache tier (each figure the upper bound of a logarithmic bucket: at most 19%
    /// above the true one).
    pub latency: Vec<TierLatency>,
    /// The permissions denied most often.
    pub top_denied: Vec<DeniedCount>,
    /// Events by kind and outcome.
    pub by_kind: Vec<KindCount>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCounts {
    /// The minute's start, milliseconds since the epoch.
    pub minute_ms: i64,
    pub allowed: u64,
    pub denied: u64,
    /// Sign-ins that succeeded (passkey, SAML) in that minute.
    pub sign_ins: u64,
    /// Authentication failures (refused tokens and sign-ins, failed TOTP) in that minute.
    pub auth_failures: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierLatency {
    pub tier: String,
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeniedCount {
    pub permission: String,
    /// The resource's type (`doc` of `doc:readme`).
    pub resource_type: String,
    pub count: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    pub kind: String,
    pub outcome: String,
    pub count: u64,
}

/// `tessera-origin audit verify` and `GET /v1/tenants/{t}/audit/verify`: whether the tenant's chain is whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    pub tenant: String,
    /// Records read.
    pub records: u64,
    /// The first seq present (after retention removed older days), and the last.
    pub first_seq: u64,
    pub last_seq: u64,
    /// Empty when the chain is whole; otherwise each break found, first ones first (at most 100).
    pub breaks: Vec<ChainBreak>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    pub seq: u64,
    /// `edited` (the record's hash is not what its content gives), `missing` (a seq is absent),
    /// `relinked` (its chain link names another predecessor), `head` (the newest record is not the one
    /// the head names: records after it were removed).
    pub problem: String,
    pub message: String,
}

/// `GET/PUT /v1/tenants/{t}/audit/retention`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRetention {
    /// Whole days kept (the day an event was stored counts as one).
    pub days: u32,
}

/// The request header the edge sends its request id in, for the origin's events of the same request.
pub const REQUEST_ID_HEADER: &str = "tessera-request-id";
/// The request header of a caller that records the decision itself (the edge): the origin does not
/// record it again.
pub const RECORDED_BY_HEADER: &str = "tessera-audit-recorded-by";
