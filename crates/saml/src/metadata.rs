//! One identity provider's SAML 2.0 metadata (`saml-metadata-2.0-os` §2.3 `EntityDescriptor`, §2.4.3
//! `IDPSSODescriptor`), read strictly into what a service provider needs.
//!
//! Accepted: an `md:EntityDescriptor` with exactly one `md:IDPSSODescriptor` whose
//! `protocolSupportEnumeration` names SAML 2.0, or an `md:EntitiesDescriptor` (nested or not) holding
//! exactly one such entity (others, e.g. service providers, are ignored). Read from the IdP role only —
//! never from the WS-Federation `RoleDescriptor`s Entra ID also publishes:
//! - `entityID` (required, non-empty);
//! - `SingleSignOnService` `Location` for HTTP-Redirect and HTTP-POST (the first of each; other bindings
//!   ignored); at least one is required, and each must be an absolute `https://` URL unless
//!   [`MetadataOptions::danger_allow_http_sso`];
//! - `KeyDescriptor`s with `use="signing"` or no `use`, each with exactly one `ds:X509Certificate`, read
//!   into a [`Certificate`] (duplicates kept once). None at all is refused: a library that "verifies"
//!   against no key verifies nothing;
//! - `WantAuthnRequestsSigned` (`xs:boolean`, default false) and the `NameIDFormat`s.

use tessera_proto::Code;

use crate::keys::{Certificate, KeyError};
use crate::reader::{ns, Limits, ReadError, UntrustedXml, XmlElement};

/// `protocolSupportEnumeration` must list this.
pub const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// A SAML binding we send requests over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// `urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect`
    HttpRedirect,
    /// `urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST`
    HttpPost,
}

impl Binding {
    /// The binding's URI.
    #[must_use]
    pub const fn uri(self) -> &'static str {
        match self {
            Self::HttpRedirect => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            Self::HttpPost => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        }
    }

    fn from_uri(uri: &str) -> Option<Self> {
        [Self::HttpRedirect, Self::HttpPost]
            .into_iter()
            .find(|b| b.uri() == uri)
    }
}

/// How to read metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataOptions {
    /// Bounds on the document.
    pub limits: Limits,
    /// Accept `http://` SSO locations. For tests against a local IdP only: a browser would carry the
    /// AuthnRequest in clear.
    pub danger_allow_http_sso: bool,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        Self {
            limits: Limits::METADATA,
            danger_allow_http_sso: false,
        }
    }
}

/// Why metadata was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataError {
    /// The document itself (see [`ReadError`]).
    Read(ReadError),
    /// A signing certificate (see [`KeyError`]).
    Key(KeyError),
    /// The root is neither `md:EntityDescriptor` nor `md:EntitiesDescriptor`.
    NotMetadata { root: String },
    /// No identity provider role (e.g. a service provider's metadata).
    NotIdp,
    /// More than one identity provider (entities, or IdP roles in one entity).
    SeveralIdps { count: usize },
    /// The IdP role does not list SAML 2.0 in `protocolSupportEnumeration`.
    NotSaml2,
    /// `entityID` is absent or empty.
    MissingEntityId,
    /// No `SingleSignOnService` with HTTP-Redirect or HTTP-POST.
    NoSsoService,
    /// An SSO `Location` that is not an absolute http(s) URL.
    InvalidUrl(String),
    /// An `http://` SSO `Location` without [`MetadataOptions::danger_allow_http_sso`].
    InsecureUrl(String),
    /// An attribute value outside its type (`WantAuthnRequestsSigned`, `use`).
    InvalidValue { name: &'static str, value: String },
    /// A signing `KeyDescriptor` without exactly one `ds:X509Certificate` (`found` of them).
    KeyDescriptor { found: usize },
    /// Not one signing certificate.
    NoSigningKey,
}

impl MetadataError {
    /// The stable code for this refusal.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::Read(e) => e.code(),
            Self::Key(e) => e.code(),
            Self::NotMetadata { .. } => Code::SamlMetadataNotMetadata,
            Self::NotIdp => Code::SamlMetadataNotIdp,
            Self::SeveralIdps { .. } => Code::SamlMetadataSeveralIdps,
            Self::NotSaml2 => Code::SamlMetadataNotSaml2,
            Self::MissingEntityId => Code::SamlMetadataMissingEntityId,
            Self::NoSsoService => Code::SamlMetadataNoSsoService,
            Self::InvalidUrl(_) => Code::SamlMetadataInvalidUrl,
            Self::InsecureUrl(_) => Code::SamlMetadataInsecureUrl,
            Self::InvalidValue { .. } => Code::SamlMetadataInvalidValue,
            Self::KeyDescriptor { .. } => Code::SamlMetadataKeyDescriptor,
            Self::NoSigningKey => Code::SamlMetadataNoSigningKey,
        }
    }
}

impl std::fmt::Display for MetadataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(e) => e.fmt(f),
            Self::Key(e) => e.fmt(f),
            Self::NotMetadata { root } => {
                write!(f, "`{root}` is not SAML metadata (EntityDescriptor or EntitiesDescriptor)")
            }
            Self::NotIdp => f.write_str("metadata describes no identity provider (IDPSSODescriptor)"),
            Self::SeveralIdps { count } => {
                write!(f, "metadata describes {count} identity providers; give exactly one")
            }
            Self::NotSaml2 => f.write_str("the identity provider does not support SAML 2.0"),
            Self::MissingEntityId => f.write_str("entityID is missing or empty"),
            Self::NoSsoService => {
                f.write_str("no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")
            }
            Self::InvalidUrl(url) => write!(f, "SSO location `{url}` is not an absolute URL"),
            Self::InsecureUrl(url) => write!(f, "SSO location `{url}` is not https"),
            Self::InvalidValue { name, value } => write!(f, "`{name}` has invalid value `{value}`"),
            Self::KeyDescriptor { found } => write!(
                f,
                "a signing KeyDescriptor has {found} X509Certificate elements; exactly one is required"
            ),
            Self::NoSigningKey => f.write_str("metadata has no signing certificate"),
        }
    }
}

impl std::error::Error for MetadataError {}

impl From<ReadError> for MetadataError {
    fn from(e: ReadError) -> Self {
        Self::Read(e)
    }
}

impl From<KeyError> for MetadataError {
    fn from(e: KeyError) -> Self {
        Self::Key(e)
    }
}

/// What a service provider keeps of an identity provider's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpMetadata {
    /// The IdP's `entityID`: every response's `Issuer` must equal it.
    pub entity_id: String,
    /// `SingleSignOnService` for HTTP-Redirect.
    pub sso_redirect: Option<String>,
    /// `SingleSignOnService` for HTTP-POST.
    pub sso_post: Option<String>,
    /// Signing certificates, in document order, never empty.
    pub signing_certificates: Vec<Certificate>,
    /// `WantAuthnRequestsSigned`.
    pub want_authn_requests_signed: bool,
    /// `NameIDFormat`s, in document order.
    pub name_id_formats: Vec<String>,
}

impl IdpMetadata {
    /// Reads one identity provider's metadata; see the module documentation for the rules.
    pub fn parse(bytes: &[u8], options: MetadataOptions) -> Result<Self, MetadataError> {
        let doc = UntrustedXml::parse(bytes, options.limits)?;
        let entity = the_idp_entity(doc.root())?;
        let entity_id = entity.attribute("entityID").unwrap_or("").trim();
        if entity_id.is_empty() {
            return Err(MetadataError::MissingEntityId);
        }
        let mut roles = entity.children_named(ns::MD, "IDPSSODescriptor");
        let role = roles.next().ok_or(MetadataError::NotIdp)?;
        let extra = roles.count();
        if extra > 0 {
            return Err(MetadataError::SeveralIdps { count: extra + 1 });
        }
        let protocols = role.required_attribute("protocolSupportEnumeration")?;
        if !protocols
            .split_ascii_whitespace()
            .any(|p| p == SAML2_PROTOCOL)
        {
            return Err(MetadataError::NotSaml2);
        }

        let (mut sso_redirect, mut sso_post) = (None, None);
        for service in role.children_named(ns::MD, "SingleSignOnService") {
            let Some(binding) = Binding::from_uri(service.required_attribute("Binding")?) else {
                continue;
            };
            let location = sso_location(service.required_attribute("Location")?, options)?;
            let slot = match binding {
                Binding::HttpRedirect => &mut sso_redirect,
                Binding::HttpPost => &mut sso_post,
            };
            slot.get_or_insert(location);
        }
        if sso_redirect.is_none() && sso_post.is_none() {
            return Err(MetadataError::NoSsoService);
        }

        let signing_certificates = signing_certificates(role)?;
        let want_authn_requests_signed = match role.attribute("WantAuthnRequestsSigned") {
            None => false,
            Some(value) => xs_boolean(value).ok_or_else(|| MetadataError::InvalidValue {
                name: "WantAuthnRequestsSigned",
                value: value.to_owned(),
            })?,
        };
        let name_id_formats = role
            .children_named(ns::MD, "NameIDFormat")
            .map(|f| f.text().map(|t| t.trim().to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            entity_id: entity_id.to_owned(),
            sso_redirect,
            sso_post,
            signing_certificates,
            want_authn_requests_signed,
            name_id_formats,
        })
    }

    /// The SSO location for `binding`, if the IdP offers it.
    #[must_use]
    pub fn sso_location(&self, binding: Binding) -> Option<&str> {
        match binding {
            Binding::HttpRedirect => self.sso_redirect.as_deref(),
            Binding::HttpPost => self.sso_post.as_deref(),
        }
    }
}

/// The one entity with an IdP role: the root itself, or the only such one in an `EntitiesDescriptor`.
fn the_idp_entity<'a, 'i>(root: XmlElement<'a, 'i>) -> Result<XmlElement<'a, 'i>, MetadataError> {
    if root.is(ns::MD, "EntityDescriptor") {
        return Ok(root);
    }
    if !root.is(ns::MD, "EntitiesDescriptor") {
        return Err(MetadataError::NotMetadata {
            root: root.local_name().to_owned(),
        });
    }
    let mut idps = Vec::new();
    let mut groups = vec![root];
    while let Some(group) = groups.pop() {
        for child in group.children() {
            if child.is(ns::MD, "EntitiesDescriptor") {
                groups.push(child);
            } else if child.is(ns::MD, "EntityDescriptor")
                && child
                    .children_named(ns::MD, "IDPSSODescriptor")
                    .next()
                    .is_some()
            {
                idps.push(child);
            }
        }
    }
    match idps.as_slice() {
        [] => Err(MetadataError::NotIdp),
        [one] => Ok(*one),
        many => Err(MetadataError::SeveralIdps { count: many.len() }),
    }
}

/// An SSO `Location`: absolute `https://` (or `http://` when allowed) with a host, no whitespace.
fn sso_location(raw: &str, options: MetadataOptions) -> Result<String, MetadataError> {
    let url = raw.trim();
    let invalid = || MetadataError::InvalidUrl(url.to_owned());
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let scheme_end = url.find("://").ok_or_else(invalid)?;
    let (scheme, rest) = url.split_at(scheme_end);
    let host = rest
        .get(3..)
        .and_then(|r| r.split(['/', '?', '#']).next())
        .unwrap_or("");
    if host.is_empty() || host.starts_with(':') || host.contains('@') {
        return Err(invalid());
    }
    if scheme.eq_ignore_ascii_case("https") {
        Ok(url.to_owned())
    } else if scheme.eq_ignore_ascii_case("http") {
        if options.danger_allow_http_sso {
            Ok(url.to_owned())
        } else {
            Err(MetadataError::InsecureUrl(url.to_owned()))
        }
    } else {
        Err(invalid())
    }
}

/// The IdP role's signing certificates (`use="signing"` or no `use`), each exactly one per descriptor.
fn signing_certificates(role: XmlElement<'_, '_>) -> Result<Vec<Certificate>, MetadataError> {
    let mut certificates: Vec<Certificate> = Vec::new();
    for descriptor in role.children_named(ns::MD, "KeyDescriptor") {
        match descriptor.attribute("use") {
            None | Some("signing") => {}
            Some("encryption") => continue,
            Some(other) => {
                return Err(MetadataError::InvalidValue {
                    name: "use",
                    value: other.to_owned(),
                })
            }
        }
        let key_info = descriptor.only_child(ns::DS, "KeyInfo")?;
        let mut found = key_info
            .children_named(ns::DS, "X509Data")
            .flat_map(|data| data.children_named(ns::DS, "X509Certificate"));
        let (Some(element), None) = (found.next(), found.next()) else {
            let count = key_info
                .children_named(ns::DS, "X509Data")
                .flat_map(|data| data.children_named(ns::DS, "X509Certificate"))
                .count();
            return Err(MetadataError::KeyDescriptor { found: count });
        };
        let certificate = Certificate::from_base64(element.text()?)?;
        if !certificates.iter().any(|c| c.der() == certificate.der()) {
            certificates.push(certificate);
        }
    }
    if certificates.is_empty() {
        return Err(MetadataError::NoSigningKey);
    }
    Ok(certificates)
}

/// `xs:boolean`: `true`, `false`, `1`, `0` (whitespace collapsed).
fn xs_boolean(value: &str) -> Option<bool> {
    match value.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}
