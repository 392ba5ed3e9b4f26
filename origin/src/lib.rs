//! The Tessera origin: the regional, authoritative service.
//!
//! It holds the authoritative relationship store and serves checks over it (`authz`), people's
//! accounts (`accounts`: users, passkeys, TOTP, sessions), the OAuth 2.0 client registry (created by an operator with `tessera-origin clients
//! create`, read by the edge over a service credential), SCIM provisioning (`scim`) and SAML
//! service-provider connections (`saml`), and answers health checks. It is a thin shell:
//! protocol logic lives in the cores (`tessera-authn`, `tessera-jose`, `tessera-proto`); this crate owns
//! the HTTP surface, the database and the clock/RNG.

pub mod accounts;
pub mod audit;
pub mod authz;
pub mod clients;
pub mod error;
pub mod http;
pub mod region;
pub mod saml;
pub mod scim;
pub mod store;

use std::sync::Arc;

use subtle::ConstantTimeEq as _;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: store::Store,
    pub authz: authz::AuthzStore,
    pub zookies: Arc<tessera_authz::ZookieKey>,
    /// Users, passkeys, TOTP secrets, sessions.
    pub accounts: accounts::Accounts,
    /// How many nested steps a check may take before it fails with `depth_exceeded`.
    pub max_depth: u32,
    service_token: Arc<ServiceToken>,
    /// This origin's public base URL (no trailing slash), for the absolute locations SCIM answers carry.
    public_url: Arc<str>,
    /// The key secrets are sealed under at rest (TOTP secrets, SAML SP keys).
    secrets_key: Arc<tessera_jose::Secret<[u8; 32]>>,
    /// The edge's public base URL (no trailing slash): where a finished federated sign-in sends the
    /// browser (`/login`).
    edge_url: Arc<str>,
    /// This origin's region, its peers and where writes go (one region unless configured).
    pub regions: region::Regions,
    /// The audit trail: the origin's own events, the edge's batches, queries.
    pub audit: audit::Audit,
    /// Who may sign in to the `/audit` page.
    pub dashboard: audit::dashboard::Dashboard,
}

/// The bearer credential the edge presents. Compared in constant time; never printed.
pub struct ServiceToken(String);

impl ServiceToken {
    /// # Errors
    /// When the token is shorter than 32 characters (a guessable service credential is refused).
    pub fn new(token: String) -> Result<Self, String> {
        if token.len() < 32 {
            return Err("service token must be at least 32 characters".to_owned());
        }
        Ok(Self(token))
    }

    #[must_use]
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// The token itself, to derive keys from (never to print).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl AppState {
    pub(crate) fn service_token_matches(&self, presented: &str) -> bool {
        self.service_token.matches(presented)
    }

    /// Whether `token` is the service token (an admin token must be another).
    #[must_use]
    pub fn service_token_is(&self, token: &str) -> bool {
        self.service_token.matches(token)
    }

    /// `zookie_key`: the key zookies are minted with; when `None` it is derived from the service token
    /// (domain-separated SHA-256), so one secret suffices locally. Production sets its own.
    #[must_use]
    pub fn new(
        store: store::Store,
        service_token: ServiceToken,
        zookie_key: Option<[u8; 32]>,
    ) -> Self {
        let key =
            zookie_key.unwrap_or_else(|| derive_key(b"tessera-zookie-key-v1\0", &service_token));
        // TOTP secrets and SAML SP keys are sealed under a key derived the same way (production sets its
        // own with `with_secrets_key`, so that rotating the service token does not orphan them).
        let secrets_key = derive_secrets_key(&service_token);
        let store_db = store.db().clone();
        let dashboard = audit::dashboard::Dashboard::new(None, false);
        Self {
            accounts: accounts::Accounts::new(
                store.db().clone(),
                tessera_jose::Secret::new(secrets_key),
            ),
            authz: authz::AuthzStore::new(store.db().clone()),
            store,
            zookies: Arc::new(tessera_authz::ZookieKey::new(key)),
            max_depth: tessera_authz::engine::DEFAULT_MAX_DEPTH,
            service_token: Arc::new(service_token),
            public_url: Arc::from("http://127.0.0.1:8788"),
            edge_url: Arc::from("http://127.0.0.1:8787"),
            secrets_key: Arc::new(tessera_jose::Secret::new(secrets_key)),
            regions: region::Regions::single(),
            audit: audit::Audit::start(store_db, audit::AuditSettings::default(), None),
            dashboard,
        }
    }

    /// Serve as one region of several (`regions` from `serve --region/--peers`).
    #[must_use]
    pub fn with_regions(mut self, regions: region::Regions) -> Self {
        self.regions = regions;
        let settings = audit::AuditSettings {
            region: self.regions.name().to_owned(),
            ..self.audit.settings().clone()
        };
        self.with_audit(settings)
    }

    /// Record audit events with `settings` (the writer started before is replaced; it stops once the
    /// old handle is dropped, after storing what it holds).
    #[must_use]
    pub fn with_audit(mut self, settings: audit::AuditSettings) -> Self {
        let route = audit::Route {
            regions: self.regions.clone(),
            bearer: self.service_bearer(),
        };
        self.audit = audit::Audit::start(self.store.db().clone(), settings, Some(route));
        self
    }

    /// The service credential, for calls to peer origins (which accept the same one).
    #[must_use]
    pub fn service_bearer(&self) -> Arc<str> {
        Arc::from(self.service_token.0.as_str())
    }

    /// Seal TOTP secrets and SAML SP keys under `key` (32 bytes) instead of one derived from the
    /// service token.
    #[must_use]
    pub fn with_secrets_key(mut self, key: [u8; 32]) -> Self {
        self.accounts =
            accounts::Accounts::new(self.store.db().clone(), tessera_jose::Secret::new(key));
        self.secrets_key = Arc::new(tessera_jose::Secret::new(key));
        self
    }

    /// The key secrets are sealed under at rest.
    #[must_use]
    pub fn secrets_key(&self) -> &tessera_jose::Secret<[u8; 32]> {
        &self.secrets_key
    }

    /// The public base URL (scheme, host and port, as clients reach this origin).
    #[must_use]
    pub fn with_public_url(mut self, url: &str) -> Self {
        self.public_url = Arc::from(url.trim_end_matches('/'));
        self.dashboard = self.dashboard.with_secure(url.starts_with("https://"));
        self
    }

    /// Turn the `/audit` page on: operators sign in with `token`.
    #[must_use]
    pub fn with_admin_token(mut self, token: ServiceToken) -> Self {
        let secure = self.public_url.starts_with("https://");
        self.dashboard = audit::dashboard::Dashboard::new(Some(token), secure);
        self
    }

    #[must_use]
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The edge's public base URL (its login page is `{edge_url}/login`).
    #[must_use]
    pub fn with_edge_url(mut self, url: &str) -> Self {
        self.edge_url = Arc::from(url.trim_end_matches('/'));
        self
    }

    #[must_use]
    pub fn edge_url(&self) -> &str {
        &self.edge_url
    }

    /// Change the check depth limit (default [`tessera_authz::engine::DEFAULT_MAX_DEPTH`], SpiceDB's 50).
    #[must_use]
    pub fn with_max_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }
}

/// The origin's runtime: multi-threaded, each thread's stack reserved for single checks to run where
/// their request is (see [`authz::engine_thread`]).
///
/// # Errors
/// When the runtime cannot start its threads.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    use authz::engine_thread::{note_thread_stack, RUNTIME_STACK};
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(RUNTIME_STACK)
        .on_thread_start(|| note_thread_stack(RUNTIME_STACK))
        .build()
}

/// The secrets key an origin started with `service_token` and no `TESSERA_SECRETS_KEY` uses (the CLI
/// derives the same one, so that what it seals the server can open).
#[must_use]
pub fn derive_secrets_key(service_token: &ServiceToken) -> [u8; 32] {
    derive_key(b"tessera-secrets-key-v1\0", service_token)
}

/// A 32-byte key derived from the service token under a domain label (local default for keys an operator
/// did not set).
fn derive_key(label: &[u8], token: &ServiceToken) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(label);
    h.update(token.0.as_bytes());
    h.finalize().into()
}

/// The system clock: the one place the origin reads the time of day.
#[must_use]
pub fn now() -> tessera_proto::UnixTime {
    #[allow(
        clippy::disallowed_methods,
        reason = "the origin shell is the clock source"
    )]
    let now = std::time::SystemTime::now();
    now.into()
}

/// A monotonic instant, for the `Server-Timing` of answers: the one place the origin reads that clock.
#[must_use]
pub fn monotonic() -> std::time::Instant {
    #[allow(
        clippy::disallowed_methods,
        reason = "the origin shell is the clock source"
    )]
    std::time::Instant::now()
}

/// `n` bytes from the operating system's CSPRNG: the one place the origin draws randomness.
///
/// # Errors
/// When the OS refuses (never expected on Linux).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf)?;
    Ok(buf)
}

/// The operating system's CSPRNG as a `rand_core` 0.10 generator (what `rsa` draws keys with), over the
/// same source as [`random_bytes`].
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRng;

/// The OS refused randomness.
#[derive(Debug)]
pub struct OsRngError(getrandom::Error);

impl std::fmt::Display for OsRngError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "randomness: {}", self.0)
    }
}

impl std::error::Error for OsRngError {}

impl rsa::rand_core::TryRng for OsRng {
    type Error = OsRngError;

    fn try_next_u32(&mut self) -> Result<u32, OsRngError> {
        random_bytes::<4>()
            .map(u32::from_le_bytes)
            .map_err(OsRngError)
    }

    fn try_next_u64(&mut self) -> Result<u64, OsRngError> {
        random_bytes::<8>()
            .map(u64::from_le_bytes)
            .map_err(OsRngError)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), OsRngError> {
        getrandom::getrandom(dst).map_err(OsRngError)
    }
}

impl rsa::rand_core::TryCryptoRng for OsRng {}
