//! `POST /saml/{tenant}/{connection}/acs`: the assertion consumer service, where a sign-in at the
//! company's identity provider comes back, and the only place a SAML sign-in can finish.
//!
//! In order, the first refusal ends it:
//! 1. the form ([`AcsForm::parse`]: at most [`MAX_FORM_BYTES`], `SAMLResponse` base64);
//! 2. the response, judged by `tessera-saml` ([`tessera_saml::verify_encrypted_response`]: signature
//!    under the connection's pinned certificates, no wrapping, issuer, destination, recipient,
//!    audience, times; an `EncryptedAssertion` decrypted with the connection's SP key);
//! 3. the request it answers: `InResponseTo` spends a request we issued, once, before it expired, with
//!    the RelayState token we sent; without `InResponseTo` only a connection that allows IdP-initiated
//!    sign-in goes on (`saml_unsolicited`), and its RelayState must be a relative path or allow-listed;
//! 4. the replay cache: the assertion ID, remembered in the database until the assertion could no
//!    longer be accepted (`saml_assertion_replayed`);
//! 5. the person (`people`): found or created, active, groups written;
//! 6. a single-use hand-off code (`accounts::handoff`, bound to the login page that started the sign-in)
//!    and a `303` to the edge's login page with the code in the URL fragment.
//!
//! A refusal answers a small HTML page saying what went wrong in words, with the stable code (also in
//! the `Tessera-Error-Code` header); the log says which check failed with the detail (attacker-supplied
//! text escaped and cut short). Decryption failures are one uniform refusal outward.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tessera_proto::Code;
use tessera_saml::{verify_encrypted_response, Expectations, DEFAULT_CLOCK_SKEW_SECS};

use super::acs::{AcsForm, MAX_FORM_BYTES};
use super::http::load;
use super::people::{Person, SamlPeople};
use super::requests::SpentRequest;
use super::{relay_state, xml_escape, SamlError, SamlStore};
use crate::accounts::handoff::PendingSignIn;
use crate::error::HttpError;
use crate::{now, AppState, OsRng};

/// Clock skew allowed between an IdP's `AuthnInstant` and our request when we asked for `ForceAuthn`.
const FORCE_AUTHN_SKEW_SECS: i64 = 60;

/// `amr` of a federated sign-in (the value Entra ID and others use; RFC 8176 has none for it).
pub const AMR_FEDERATED: &str = "fed";
/// `acr` of a federated sign-in. Not the identity provider's `AuthnContextClassRef`: that is any text the
/// IdP chooses (`phr`, Tessera's own phishing-resistant value, included); it goes to the log.
pub const ACR_FEDERATED: &str = "urn:tessera:acr:federated";

pub fn routes() -> Router<AppState> {
    Router::new().route("/saml/{tenant}/{connection}/acs", post(acs))
}

/// A refused sign-in: what the person reads, the stable code, and what the log keeps.
struct Refusal {
    status: StatusCode,
    code: Code,
    message: String,
    detail: String,
}

impl Refusal {
    fn new(
        status: StatusCode,
        code: Code,
        message: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: detail.into(),
        }
    }
}

impl From<HttpError> for Refusal {
    fn from(e: HttpError) -> Self {
        let detail = e.internal_message.clone().unwrap_or_default();
        Self::new(e.status, e.code, e.external_message, detail)
    }
}

impl From<SamlError> for Refusal {
    fn from(e: SamlError) -> Self {
        HttpError::from(e).into()
    }
}

/// Text an attacker may have chosen, made safe for one log line.
fn for_log(text: &str) -> String {
    text.chars()
        .take(300)
        .collect::<String>()
        .escape_debug()
        .to_string()
}

async fn acs(
    State(state): State<AppState>,
    Path((tenant, connection)): Path<(String, String)>,
    body: Body,
) -> Response {
    match consume(&state, &tenant, &connection, body).await {
        Ok(location) => (
            StatusCode::SEE_OTHER,
            [(LOCATION, location), (CACHE_CONTROL, "no-store".to_owned())],
        )
            .into_response(),
        Err(refusal) => {
            tracing::warn!(
                tenant = %for_log(&tenant),
                connection = %for_log(&connection),
                code = refusal.code.as_str(),
                detail = %for_log(&refusal.detail),
                "saml sign-in refused"
            );
            record_refusal(&state, &tenant, &connection, &refusal).await;
            failure_page(&state, &refusal)
        }
    }
}

/// A refused sign-in at an existing connection, in the tenant's audit trail: sampled (anyone can post
/// to an ACS), with the stable code only (the detail may quote the response). The edge records the
/// sign-ins that succeed, when it hands out the session.
async fn record_refusal(state: &AppState, tenant: &str, connection: &str, refusal: &Refusal) {
    use tessera_proto::audit::{kinds, Actor, ActorKind, Outcome};
    if refusal.code == Code::SamlConnectionNotFound
        || tenant.parse::<tessera_proto::TenantId>().is_err()
    {
        return;
    }
    let Some(skipped) = state.audit.sample(tenant, kinds::SAML_SIGN_IN) else {
        return;
    };
    let mut e = crate::audit::event(
        tenant,
        kinds::SAML_SIGN_IN,
        Outcome::Failure,
        Actor {
            kind: ActorKind::Anonymous,
            id: String::new(),
        },
    );
    e.code = refusal.code.as_str().to_owned();
    e.resource = format!("saml_connection:{connection}");
    e.detail.insert("skipped_before".into(), skipped.into());
    state.audit.record(e).await;
}

/// Every step of the module documentation; the edge location to send the browser to.
async fn consume(
    state: &AppState,
    tenant: &str,
    connection: &str,
    body: Body,
) -> Result<String, Refusal> {
    let conn = load(state, tenant, connection).await?;
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::SamlTooLarge,
                format!("the sign-in response is larger than {MAX_FORM_BYTES} bytes"),
                "form over the limit",
            )
        })?;
    let form = AcsForm::parse(&bytes).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            e.code(),
            e.to_string(),
            e.to_string(),
        )
    })?;

    let now = now();
    let login = verify(state, &conn, form.saml_response, now).await?;

    let saml = SamlStore::new(state.store.db().clone());
    let spent = match &login.in_response_to {
        Some(request_id) => {
            saml.spend_request(
                &conn.tenant,
                &conn.id,
                request_id,
                form.relay_state.as_deref(),
                now,
            )
            .await?
        }
        None if !conn.allow_idp_initiated => return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            Code::SamlUnsolicited,
            "this connection accepts only sign-ins started here, not at the identity provider",
            "unsolicited response (no InResponseTo) on a connection without IdP-initiated sign-in",
        )),
        None => {
            if let Some(relay) = &form.relay_state {
                relay_state::check(relay, &conn.relay_state_allow_list).map_err(|refused| {
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        refused.code(),
                        "the return address must be a relative path or an allow-listed URL",
                        format!("{refused}: {}", for_log(relay)),
                    )
                })?;
            }
            SpentRequest {
                relay_state: form.relay_state.clone(),
                binding: None,
                forced_since: None,
            }
        }
    };
    // Asked to authenticate the person again (an application wanted a fresh sign-in): an assertion
    // from before the request (a minute of clock skew aside) answered from the IdP's session instead.
    if let Some(since) = spent.forced_since {
        if login.authn_instant < since.plus_secs(-FORCE_AUTHN_SKEW_SECS) {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                Code::SamlNotReauthenticated,
                "your company did not ask you to sign in again, which this application needs; try again or ask your administrator",
                format!(
                    "ForceAuthn asked at {}, AuthnInstant {}",
                    since.as_secs(),
                    login.authn_instant.as_secs()
                ),
            ));
        }
    }
    let fresh = saml
        .remember_assertion(
            &conn.tenant,
            &conn.id,
            &login.assertion_id,
            login.replay_until,
            now,
        )
        .await?;
    if !fresh {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            Code::SamlAssertionReplayed,
            "this sign-in response was already used",
            format!("assertion {} presented again", for_log(&login.assertion_id)),
        ));
    }

    let person = Person::from_login(&login, &conn).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            e.code(),
            e.to_string(),
            e.to_string(),
        )
    })?;
    let people = SamlPeople::new(state.store.db().clone(), state.authz.clone());
    let signed_in = people.sign_in(&conn, &person, now).await.map_err(|e| {
        let status = match e.code() {
            Code::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Code::SamlUserInactive => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let outward = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "the sign-in could not be completed; try again".to_owned()
        } else {
            e.to_string()
        };
        Refusal::new(status, e.code(), outward, e.to_string())
    })?;
    if !person.skipped_groups.is_empty() {
        tracing::warn!(
            tenant = conn.tenant.as_str(),
            connection = conn.id.as_str(),
            skipped = %for_log(&person.skipped_groups.join(", ")),
            "saml groups that are not valid object ids were not written"
        );
    }
    let pending = PendingSignIn {
        user_id: signed_in.user_id.clone(),
        amr: vec![AMR_FEDERATED.to_owned()],
        acr: ACR_FEDERATED.to_owned(),
        relay_state: spent.relay_state,
        binding: spent.binding,
        auth_time: Some(login.authn_instant),
    };
    let code = state
        .accounts
        .issue_handoff(conn.tenant.as_str(), &pending, now)
        .await
        .map_err(|e| HttpError::internal(e.to_string()))?;
    tracing::info!(
        tenant = conn.tenant.as_str(),
        connection = conn.id.as_str(),
        user_id = signed_in.user_id,
        created = signed_in.created,
        revision = ?signed_in.revision,
        idp_initiated = login.in_response_to.is_none(),
        authn_context = %for_log(login.authn_context_class.as_deref().unwrap_or("")),
        "saml sign-in"
    );
    Ok(format!("{}/login#sso_code={code}", state.edge_url()))
}

/// At most this many responses are verified at once (each is CPU work off the async workers: parsing,
/// canonicalisation, RSA): a flood of posts queues here instead of starving every other route.
const CONCURRENT_VERIFICATIONS: usize = 4;

fn verifications() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(CONCURRENT_VERIFICATIONS))
}

/// Step 2: the response judged by `tessera-saml`, on a blocking thread. The SP key is unsealed only
/// for a response that holds an `EncryptedAssertion`.
async fn verify(
    state: &AppState,
    conn: &super::Connection,
    response: Vec<u8>,
    now: tessera_proto::UnixTime,
) -> Result<tessera_saml::VerifiedLogin, Refusal> {
    let sp = conn.sp(state.public_url());
    let encrypted = response
        .windows(b"EncryptedAssertion".len())
        .any(|w| w == b"EncryptedAssertion");
    let sp_key = if encrypted {
        Some(conn.sp_key(state.secrets_key())?)
    } else {
        None
    };
    let certificates = conn.idp_signing_certificates().to_vec();
    let (idp_entity_id, signed_part) = (conn.idp.entity_id.clone(), conn.signed_part);
    let _permit = verifications()
        .acquire()
        .await
        .map_err(|e| HttpError::internal(format!("verification permits: {e}")))?;
    let judged = tokio::task::spawn_blocking(move || {
        let expect = Expectations {
            sp_entity_id: &sp.entity_id,
            acs_url: &sp.acs_url,
            idp_entity_id: &idp_entity_id,
            certificates: &certificates,
            signed_part,
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
        };
        verify_encrypted_response(
            &response,
            &expect,
            || {
                sp_key
                    .as_ref()
                    .map(super::SpKey::expose_private_key)
                    .ok_or("no EncryptedAssertion was seen, so no key was unsealed")
            },
            &mut OsRng,
            now,
        )
    })
    .await
    .map_err(|e| HttpError::internal(format!("verification task: {e}")))?;
    judged.map_err(|e| {
        // The person reads a fixed sentence; what the response said (attacker-chosen text) goes to
        // the log only.
        Refusal::new(
            StatusCode::BAD_REQUEST,
            e.code(),
            "the sign-in response from your identity provider was not accepted",
            e.log_detail(),
        )
    })
}

/// The page a refused sign-in answers: the words, the code, the way back.
fn failure_page(state: &AppState, refusal: &Refusal) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Sign-in failed</title>\n\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f}}\
         code{{background:#f5f5f7;padding:.1rem .3rem;border-radius:4px}}</style>\n</head>\n<body>\n<main>\n\
         <h1>We could not sign you in with your company</h1>\n<p id=\"error-message\">{message}</p>\n\
         <p>If this keeps happening, give your administrator this code: <code id=\"error-code\">{code}</code></p>\n\
         <p><a href=\"{edge}/login\">Back to sign-in</a></p>\n</main>\n</body>\n</html>\n",
        message = xml_escape(&sentence(&refusal.message)),
        code = refusal.code.as_str(),
        edge = xml_escape(state.edge_url()),
    );
    (
        refusal.status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (
                CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
            ),
            (HeaderName::from_static("tessera-error-code"), refusal.code.as_str()),
        ],
        html,
    )
        .into_response()
}

/// `message` as a sentence: a capital first letter and a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
