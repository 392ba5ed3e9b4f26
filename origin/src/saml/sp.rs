//! Who we are towards one identity provider, and our SAML metadata (`saml-metadata-2.0-os` §2.4.4
//! `SPSSODescriptor`).
//!
//! Each connection is its own service provider: entity ID `{public_url}/saml/{tenant}/{connection}/metadata`
//! (the URL where our metadata is, as Okta and Entra ID suggest), assertion consumer service
//! `{public_url}/saml/{tenant}/{connection}/acs`, and a key of its own. So two tenants trusting one IdP
//! (or one tenant trusting it twice) never accept each other's assertions: the IdP addresses each
//! assertion to one audience.

use base64::Engine as _;
use tessera_proto::saml::ConnectionId;
use tessera_proto::TenantId;
use tessera_saml::metadata::SAML2_PROTOCOL;
use tessera_saml::{ns, Binding, Certificate};

use super::connection::NameIdFormat;
use super::xml_escape;

/// The media type of SAML metadata (`saml-metadata-2.0-os` appendix A).
pub const METADATA_MEDIA_TYPE: &str = "application/samlmetadata+xml";

/// Block ciphers and key transport we accept in `EncryptedAssertion`s, strongest first (XML Encryption
/// 1.1): what our metadata advertises. No CBC (XML Encryption 1.0's `aes*-cbc` are padding oracles).
pub const ENCRYPTION_METHODS: [&str; 3] = [
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
];

/// Our identity towards one IdP: every URL it knows us by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpIdentity {
    /// Our `entityID`: the `Audience` of every assertion we accept, the `Issuer` of our requests.
    pub entity_id: String,
    /// Where the IdP posts responses (HTTP-POST): their `Destination` and `Recipient`.
    pub acs_url: String,
    /// Where our metadata is (the same as the entity ID).
    pub metadata_url: String,
    /// Where a browser starts an SP-initiated sign-in.
    pub login_url: String,
}

impl SpIdentity {
    #[must_use]
    pub fn new(public_url: &str, tenant: &TenantId, connection: &ConnectionId) -> Self {
        let base = format!(
            "{}/saml/{}/{}",
            public_url.trim_end_matches('/'),
            tenant.as_str(),
            connection.as_str()
        );
        Self {
            entity_id: format!("{base}/metadata"),
            acs_url: format!("{base}/acs"),
            metadata_url: format!("{base}/metadata"),
            login_url: format!("{base}/login"),
        }
    }
}

/// Our metadata for one connection: an `EntityDescriptor` with one `SPSSODescriptor` — SAML 2.0,
/// `AuthnRequestsSigned` when the IdP wants signed requests (we then sign them), `WantAssertionsSigned`
/// always; our certificate for signing and for encryption (with the [`ENCRYPTION_METHODS`]); the NameID
/// formats we take, the one we ask for first; one assertion consumer service over HTTP-POST.
#[must_use]
pub fn metadata_xml(
    sp: &SpIdentity,
    certificate: &Certificate,
    authn_requests_signed: bool,
    name_id_format: NameIdFormat,
) -> String {
    let cert = base64::engine::general_purpose::STANDARD.encode(certificate.der());
    let key_info = format!(
        "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
    );
    let methods: String = ENCRYPTION_METHODS
        .iter()
        .map(|m| format!("<md:EncryptionMethod Algorithm=\"{m}\"/>"))
        .collect();
    let mut formats = vec![name_id_format];
    for f in [
        NameIdFormat::Persistent,
        NameIdFormat::Email,
        NameIdFormat::Unspecified,
    ] {
        if !formats.contains(&f) {
            formats.push(f);
        }
    }
    let formats: String = formats
        .iter()
        .map(|f| format!("<md:NameIDFormat>{}</md:NameIDFormat>", f.uri()))
        .collect();
    format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<md:EntityDescriptor xmlns:md=\"{md}\" xmlns:ds=\"{ds}\" entityID=\"{entity}\">",
            "<md:SPSSODescriptor protocolSupportEnumeration=\"{protocol}\" AuthnRequestsSigned=\"{signed}\" WantAssertionsSigned=\"true\">",
            "<md:KeyDescriptor use=\"signing\">{key_info}</md:KeyDescriptor>",
            "<md:KeyDescriptor use=\"encryption\">{key_info}{methods}</md:KeyDescriptor>",
            "{formats}",
            "<md:AssertionConsumerService Binding=\"{post}\" Location=\"{acs}\" index=\"0\" isDefault=\"true\"/>",
            "</md:SPSSODescriptor>",
            "</md:EntityDescriptor>\n"
        ),
        md = ns::MD,
        ds = ns::DS,
        entity = xml_escape(&sp.entity_id),
        protocol = SAML2_PROTOCOL,
        signed = authn_requests_signed,
        key_info = key_info,
        methods = methods,
        formats = formats,
        post = Binding::HttpPost.uri(),
        acs = xml_escape(&sp.acs_url),
    )
}
