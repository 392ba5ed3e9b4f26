//! The browser- and IdP-facing SAML routes, under `/saml/{tenant}/{connection}/` (no credential: they
//! are public by nature):
//!
//! | route | answer |
//! |---|---|
//! | `GET metadata` | our SP metadata for this connection (`application/samlmetadata+xml`) |
//! | `GET login?relay_state=…` (or `RelayState=…`) `&binding=…[&force_authn=1]` | an SP-initiated sign-in: `303` to the IdP (HTTP-Redirect), or an auto-submitting form (HTTP-POST); `binding` (required: the login page's SHA-256 of its verifier) ties the finished sign-in to the page that started it |
//!
//! An unknown tenant or connection, or a malformed name, is `404 saml_connection_not_found`; a refused
//! return address is `400 saml_relay_state_refused` (the log says which rule).

use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tessera_proto::saml::ConnectionId;
use tessera_proto::{Code, TenantId};
use tessera_saml::Binding;

use super::acs::decode_component;
use super::authn_request::{post_form_csp, post_form_html, redirect_url, AuthnRequest};
use super::connection::Connection;
use super::sp::{metadata_xml, METADATA_MEDIA_TYPE};
use super::{relay_state, SamlError, SamlStore};
use crate::error::HttpError;
use crate::{now, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/saml/{tenant}/{connection}/metadata", get(metadata))
        .route("/saml/{tenant}/{connection}/login", get(login))
}

/// The connection a path names, or `404 saml_connection_not_found` (also for names that break the
/// rules: no such connection can exist).
pub(crate) async fn load(
    state: &AppState,
    tenant: &str,
    connection: &str,
) -> Result<Connection, HttpError> {
    let (Ok(tenant), Ok(connection)) = (
        tenant.parse::<TenantId>(),
        connection.parse::<ConnectionId>(),
    ) else {
        return Err(SamlError::NotFound.into());
    };
    SamlStore::new(state.store.db().clone())
        .get(&tenant, &connection)
        .await?
        .ok_or_else(|| SamlError::NotFound.into())
}

async fn metadata(
    State(state): State<AppState>,
    Path((tenant, connection)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let conn = load(&state, &tenant, &connection).await?;
    let xml = metadata_xml(
        &conn.sp(state.public_url()),
        &conn.sp_certificate,
        conn.idp.want_authn_requests_signed,
        conn.name_id_format,
    );
    Ok((
        [
            (CONTENT_TYPE, METADATA_MEDIA_TYPE),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        xml,
    )
        .into_response())
}

/// What a login query may carry: the return address (`relay_state`, or SAML's own `RelayState`) and the
/// login page's `binding`, each at most once.
#[derive(Default)]
struct LoginQuery {
    relay_state: Option<String>,
    binding: Option<String>,
    /// `force_authn=1`: ask the IdP to authenticate the person again (an application asked for a fresh
    /// sign-in: `prompt=login`, `max_age`).
    force_authn: Option<String>,
}

impl LoginQuery {
    fn parse(query: Option<&str>) -> Result<Self, HttpError> {
        let bad = |why: &str| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidRequest,
                format!("the query is malformed: {why}"),
            )
        };
        let mut parsed = Self::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_component(name).map_err(|e| bad(&e.to_string()))?;
            let slot = match name.as_str() {
                "relay_state" | "RelayState" => &mut parsed.relay_state,
                "binding" => &mut parsed.binding,
                "force_authn" => &mut parsed.force_authn,
                _ => continue,
            };
            if slot.is_some() {
                return Err(bad(&format!("`{}` is given twice", name.escape_debug())));
            }
            *slot = Some(decode_component(value).map_err(|e| bad(&e.to_string()))?);
        }
        if let Some(binding) = &parsed.binding {
            // base64url of a SHA-256: 43 characters.
            let ok = binding.len() == 43
                && binding
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(bad("`binding` is not a base64url SHA-256"));
            }
        }
        if parsed.force_authn.as_deref().is_some_and(|f| f != "1") {
            return Err(bad("`force_authn` is `1` or absent"));
        }
        Ok(parsed)
    }
}

async fn login(
    State(state): State<AppState>,
    Path((tenant, connection)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let conn = load(&state, &tenant, &connection).await?;
    let LoginQuery {
        relay_state: relay,
        binding: page_binding,
        force_authn,
    } = LoginQuery::parse(query.as_deref())?;
    let force_authn = force_authn.is_some();
    // A sign-in nobody's page can finish would be a login-CSRF kit: someone starts it, answers it at the
    // IdP as themselves, and posts the response from a victim's browser. The login page binds every one.
    let Some(page_binding) = page_binding else {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidRequest,
            "a sign-in starts at the login page (`binding` is missing)",
        ));
    };
    if let Some(relay) = &relay {
        if let Err(refused) = relay_state::check(relay, &conn.relay_state_allow_list) {
            tracing::info!(
                tenant = conn.tenant.as_str(),
                connection = conn.id.as_str(),
                reason = %refused,
                relay_state = %relay.chars().take(100).collect::<String>().escape_debug(),
                "saml login refused a return address"
            );
            return Err(HttpError::new(
                StatusCode::BAD_REQUEST,
                refused.code(),
                "the return address must be a relative path or an allow-listed URL",
            ));
        }
    }
    let Some((binding, sso_url)) = conn.sso_binding() else {
        return Err(HttpError::internal(
            "a stored connection without an SSO location",
        ));
    };
    let now = now();
    let issued = SamlStore::new(state.store.db().clone())
        .issue_request(
            &conn.tenant,
            &conn.id,
            relay.as_deref(),
            Some(&page_binding),
            force_authn,
            now,
        )
        .await?;
    let sp = conn.sp(state.public_url());
    let xml = AuthnRequest {
        id: &issued.request_id,
        issue_instant: now,
        destination: sso_url,
        sp: &sp,
        name_id_format: conn.name_id_format,
        force_authn,
    }
    .to_xml();
    match binding {
        Binding::HttpRedirect => {
            let key = if conn.idp.want_authn_requests_signed {
                Some(conn.sp_key(state.secrets_key())?)
            } else {
                None
            };
            let url = redirect_url(sso_url, &xml, issued.relay_token.as_deref(), key.as_ref())?;
            Ok((
                StatusCode::SEE_OTHER,
                [(LOCATION, url), (CACHE_CONTROL, "no-store".to_owned())],
            )
                .into_response())
        }
        Binding::HttpPost => {
            let nonce = crate::random_bytes::<16>()
                .map(|b| URL_SAFE_NO_PAD.encode(b))
                .map_err(|e| HttpError::internal(format!("randomness: {e}")))?;
            Ok((
                [
                    (CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                    (CACHE_CONTROL, "no-store".to_owned()),
                    (CONTENT_SECURITY_POLICY, post_form_csp(&nonce)),
                ],
                post_form_html(sso_url, &xml, issued.relay_token.as_deref(), &nonce),
            )
                .into_response())
        }
    }
}
