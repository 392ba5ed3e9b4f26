//! TEST-ONLY SAML material: IdP metadata whose signing certificates are made at each run (with the
//! origin's own SP key generator: an RSA-2048 key and a self-signed certificate, kept only in memory).

use base64::Engine as _;
use tessera_origin::saml::SpKey;
use tessera_proto::saml::CreateConnectionRequest;
use tessera_proto::UnixTime;

pub const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// A fresh certificate's base64 DER.
pub fn certificate(name: &str) -> String {
    let key = SpKey::generate(name, UnixTime::from_secs(1_700_000_000)).unwrap();
    base64::engine::general_purpose::STANDARD.encode(key.certificate().der())
}

/// What the IdP's metadata offers.
pub struct Idp<'a> {
    pub entity_id: &'a str,
    pub sso_redirect: Option<&'a str>,
    pub sso_post: Option<&'a str>,
    pub want_signed: bool,
    pub certificates: usize,
}

impl Default for Idp<'_> {
    fn default() -> Self {
        Self {
            entity_id: "https://idp.example/entity",
            sso_redirect: Some("https://idp.example/sso/redirect"),
            sso_post: Some("https://idp.example/sso/post"),
            want_signed: false,
            certificates: 1,
        }
    }
}

impl Idp<'_> {
    pub fn metadata(&self) -> String {
        let keys: String = (0..self.certificates)
            .map(|i| {
                format!(
                    "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
                    certificate(&format!("idp signing {i}"))
                )
            })
            .collect();
        let mut services = String::new();
        if let Some(url) = self.sso_redirect {
            services.push_str(&format!(
                "<md:SingleSignOnService Binding=\"{REDIRECT}\" Location=\"{}\"/>",
                tessera_origin::saml::xml_escape(url)
            ));
        }
        if let Some(url) = self.sso_post {
            services.push_str(&format!(
                "<md:SingleSignOnService Binding=\"{POST}\" Location=\"{}\"/>",
                tessera_origin::saml::xml_escape(url)
            ));
        }
        format!(
            "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{}\">\
             <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\" WantAuthnRequestsSigned=\"{}\">\
             {keys}{services}</md:IDPSSODescriptor></md:EntityDescriptor>",
            self.entity_id, self.want_signed
        )
    }
}

/// A request to create connection `name` to the default IdP.
pub fn request(name: &str) -> CreateConnectionRequest {
    CreateConnectionRequest {
        name: name.to_owned(),
        display_name: None,
        idp_metadata: Idp::default().metadata(),
        allow_idp_initiated: false,
        signed_part: Default::default(),
        attribute_map: Default::default(),
        email_domains: Vec::new(),
        relay_state_allow_list: Vec::new(),
        name_id_format: None,
    }
}
