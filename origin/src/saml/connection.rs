//! A connection: one tenant's trust in one identity provider, and how we present ourselves to it.
//!
//! [`NewConnection::check`] turns an operator's request (API body or CLI flags, one type:
//! [`CreateConnectionRequest`]) into a connection that can be stored, or says which rule it broke. The
//! IdP metadata is read by [`IdpMetadata::parse`] (strict; no signing certificate is a refusal,
//! `saml_metadata_no_signing_key`) and kept as uploaded, so that what the IdP published can always be
//! shown again. [`Connection`] is a stored connection, its metadata read again on every load.

use tessera_jose::Secret;
use tessera_proto::saml::{
    AttributeMap, ConnectionId, CreateConnectionRequest, EmailDomain, IdpSummary, SignedPart,
    SpSummary,
};
use tessera_proto::{Code, TenantId, UnixTime};
use tessera_saml::{Binding, Certificate, IdpMetadata, MetadataOptions};

use super::sp::SpIdentity;
use super::sp_key::SpKey;
use super::{hex, relay_state, SamlError};

/// The most email domains one connection may claim.
pub const MAX_EMAIL_DOMAINS: usize = 100;
/// The most absolute URLs in one RelayState allow-list.
pub const MAX_RELAY_ALLOW_LIST: usize = 50;
/// Display names are for people: at most this many characters, no control characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// The `Format` of the `NameIDPolicy` we ask the IdP for (SAML core §8.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NameIdFormat {
    /// The IdP chooses.
    #[default]
    Unspecified,
    Email,
    Persistent,
    Transient,
}

impl NameIdFormat {
    const ALL: [Self; 4] = [
        Self::Unspecified,
        Self::Email,
        Self::Persistent,
        Self::Transient,
    ];

    /// The format's URI.
    #[must_use]
    pub const fn uri(self) -> &'static str {
        match self {
            Self::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            Self::Email => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            Self::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            Self::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        }
    }

    const fn short(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Email => "email",
            Self::Persistent => "persistent",
            Self::Transient => "transient",
        }
    }

    /// A short name (`persistent`, `email`, `transient`, `unspecified`) or one of the URIs.
    ///
    /// # Errors
    /// Anything else (`saml_name_id_format_invalid`).
    pub fn parse(text: &str) -> Result<Self, SamlError> {
        Self::ALL
            .into_iter()
            .find(|f| f.short() == text || f.uri() == text)
            .ok_or_else(|| {
                SamlError::invalid(
                    Code::SamlNameIdFormatInvalid,
                    format!(
                        "NameID format `{}` must be persistent, email, transient, unspecified or one of their URIs",
                        text.escape_debug()
                    ),
                )
            })
    }
}

/// A checked request to create a connection: every field within its rule.
pub struct NewConnection {
    pub id: ConnectionId,
    pub display_name: String,
    pub idp: IdpMetadata,
    /// The metadata as uploaded.
    pub idp_metadata_xml: String,
    pub allow_idp_initiated: bool,
    pub signed_part: SignedPart,
    pub attribute_map: AttributeMap,
    /// Lower-cased, each once.
    pub email_domains: Vec<EmailDomain>,
    pub relay_state_allow_list: Vec<String>,
    pub name_id_format: NameIdFormat,
}

impl NewConnection {
    /// Check `request` against every rule.
    ///
    /// # Errors
    /// The first rule broken: the name, the display name, the metadata (its own code; none of our
    /// bindings; an IdP wanting signed requests over HTTP-POST only, which we cannot sign yet), the
    /// attribute map, an email domain, an allow-list URL, the NameID format.
    pub fn check(request: CreateConnectionRequest) -> Result<Self, SamlError> {
        let id: ConnectionId = request
            .name
            .parse()
            .map_err(|e: tessera_proto::IdError| SamlError::invalid(e.code, e.message))?;
        let display_name = request
            .display_name
            .unwrap_or_else(|| id.as_str().to_owned());
        if display_name.trim().is_empty()
            || display_name.chars().count() > MAX_DISPLAY_NAME_CHARS
            || display_name.chars().any(char::is_control)
        {
            return Err(SamlError::invalid(
                Code::InvalidDisplayName,
                format!("a display name is 1 to {MAX_DISPLAY_NAME_CHARS} characters without control characters"),
            ));
        }
        let idp = IdpMetadata::parse(request.idp_metadata.as_bytes(), MetadataOptions::default())?;
        if idp.want_authn_requests_signed && idp.sso_redirect.is_none() {
            return Err(SamlError::invalid(
                Code::SamlPostSigningUnsupported,
                "the identity provider wants signed AuthnRequests and offers only HTTP-POST; Tessera signs requests over HTTP-Redirect only",
            ));
        }
        // Re-check what deserialisation allowed (the CLI builds the map through `set`, the API through
        // serde, which checks keys but not names).
        let mut attribute_map = AttributeMap::default();
        for (key, name) in request.attribute_map.entries() {
            attribute_map
                .set(key, name)
                .map_err(|e| SamlError::invalid(Code::SamlAttributeMapInvalid, e))?;
        }
        if request.email_domains.len() > MAX_EMAIL_DOMAINS {
            return Err(SamlError::invalid(
                Code::SamlDomainInvalid,
                format!("a connection claims at most {MAX_EMAIL_DOMAINS} email domains"),
            ));
        }
        let mut email_domains: Vec<EmailDomain> = Vec::new();
        for text in &request.email_domains {
            let domain: EmailDomain = text
                .parse()
                .map_err(|e: tessera_proto::IdError| SamlError::invalid(e.code, e.message))?;
            if !email_domains.contains(&domain) {
                email_domains.push(domain);
            }
        }
        if request.relay_state_allow_list.len() > MAX_RELAY_ALLOW_LIST {
            return Err(SamlError::invalid(
                Code::SamlRelayAllowListInvalid,
                format!("a RelayState allow-list holds at most {MAX_RELAY_ALLOW_LIST} URLs"),
            ));
        }
        let mut relay_state_allow_list: Vec<String> = Vec::new();
        for url in &request.relay_state_allow_list {
            let url = relay_state::allow_list_entry(url)?;
            if !relay_state_allow_list.contains(&url) {
                relay_state_allow_list.push(url);
            }
        }
        let name_id_format = request
            .name_id_format
            .as_deref()
            .map_or(Ok(NameIdFormat::Unspecified), NameIdFormat::parse)?;
        Ok(Self {
            id,
            display_name,
            idp,
            idp_metadata_xml: request.idp_metadata,
            allow_idp_initiated: request.allow_idp_initiated,
            signed_part: request.signed_part,
            attribute_map,
            email_domains,
            relay_state_allow_list,
            name_id_format,
        })
    }
}

/// A stored connection. Its SP key stays sealed until [`Connection::sp_key`] opens it.
pub struct Connection {
    pub tenant: TenantId,
    pub id: ConnectionId,
    pub display_name: String,
    /// The IdP, as its metadata (read again at load) says.
    pub idp: IdpMetadata,
    /// The metadata as uploaded.
    pub idp_metadata_xml: String,
    pub allow_idp_initiated: bool,
    pub signed_part: SignedPart,
    pub attribute_map: AttributeMap,
    pub email_domains: Vec<EmailDomain>,
    pub relay_state_allow_list: Vec<String>,
    pub name_id_format: NameIdFormat,
    /// Our certificate for this connection (public: it is in our metadata).
    pub sp_certificate: Certificate,
    pub(crate) sealed_sp_key: String,
    pub created_at: UnixTime,
}

impl Connection {
    /// The IdP's signing certificates (several during a rollover), never empty: a response must be
    /// signed by one of them.
    #[must_use]
    pub fn idp_signing_certificates(&self) -> &[Certificate] {
        &self.idp.signing_certificates
    }

    /// Who we are towards this IdP, under the origin's public URL.
    #[must_use]
    pub fn sp(&self, public_url: &str) -> SpIdentity {
        SpIdentity::new(public_url, &self.tenant, &self.id)
    }

    /// Where we send AuthnRequests: HTTP-Redirect when the IdP offers it, else HTTP-POST (`None` never
    /// happens: [`IdpMetadata::parse`] refuses metadata with neither).
    #[must_use]
    pub fn sso_binding(&self) -> Option<(Binding, &str)> {
        match (&self.idp.sso_redirect, &self.idp.sso_post) {
            (Some(url), _) => Some((Binding::HttpRedirect, url)),
            (None, Some(url)) => Some((Binding::HttpPost, url)),
            (None, None) => None,
        }
    }

    /// Our private key for this connection (to sign AuthnRequests, and to decrypt assertions).
    ///
    /// # Errors
    /// [`SamlError::SpKey`] when it does not open under `secrets_key` (sealed by an origin with another
    /// secrets key), or does not match our certificate.
    pub fn sp_key(&self, secrets_key: &Secret<[u8; 32]>) -> Result<SpKey, SamlError> {
        SpKey::open(
            secrets_key,
            &self.tenant,
            &self.id,
            &self.sealed_sp_key,
            self.sp_certificate.clone(),
        )
    }

    /// The connection as the API answers it.
    #[must_use]
    pub fn to_wire(&self, public_url: &str) -> tessera_proto::saml::Connection {
        let sp = self.sp(public_url);
        tessera_proto::saml::Connection {
            tenant: self.tenant.as_str().to_owned(),
            connection: self.id.as_str().to_owned(),
            display_name: self.display_name.clone(),
            idp: IdpSummary {
                entity_id: self.idp.entity_id.clone(),
                sso_redirect: self.idp.sso_redirect.clone(),
                sso_post: self.idp.sso_post.clone(),
                signing_certificates_sha256: self
                    .idp
                    .signing_certificates
                    .iter()
                    .map(|c| hex(&c.sha256_fingerprint()))
                    .collect(),
                want_authn_requests_signed: self.idp.want_authn_requests_signed,
            },
            sp: SpSummary {
                entity_id: sp.entity_id,
                acs_url: sp.acs_url,
                metadata_url: sp.metadata_url,
                login_url: sp.login_url,
                certificate_sha256: hex(&self.sp_certificate.sha256_fingerprint()),
                certificate: {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.encode(self.sp_certificate.der())
                },
            },
            allow_idp_initiated: self.allow_idp_initiated,
            signed_part: self.signed_part,
            attribute_map: self.attribute_map.clone(),
            email_domains: self
                .email_domains
                .iter()
                .map(|d| d.as_str().to_owned())
                .collect(),
            relay_state_allow_list: self.relay_state_allow_list.clone(),
            name_id_format: self.name_id_format.uri().to_owned(),
            created_at: self.created_at.as_secs(),
        }
    }
}
