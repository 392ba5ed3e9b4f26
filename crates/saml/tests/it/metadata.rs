//! IdP metadata: documents shaped like Okta's, Microsoft Entra ID's and Keycloak's (hand-written, with
//! test-only certificates generated at each run: see `fixtures`), rollover, and every refusal's code.

use proptest::prelude::*;
use tessera_saml::{Binding, IdpMetadata, Limits, MetadataOptions, PublicKey};

use crate::fixtures::{self, b64, b64_wrapped};

const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

fn parse(xml: &str) -> Result<IdpMetadata, String> {
    IdpMetadata::parse(xml.as_bytes(), MetadataOptions::default()).map_err(|e| {
        // Every refusal has a message as well as a code.
        assert!(!e.to_string().is_empty());
        e.code().as_str().to_owned()
    })
}

/// Okta's shape: `md:` prefix, one line, an `http://www.okta.com/...` entityID, one signing key.
fn okta(cert: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://www.okta.com/exk1fcia6d6EMsf331d8"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="{POST}" Location="https://dev-123456.okta.com/app/dev-123456_tessera_1/exk1fcia6d6EMsf331d8/sso/saml"/><md:SingleSignOnService Binding="{REDIRECT}" Location="https://dev-123456.okta.com/app/dev-123456_tessera_1/exk1fcia6d6EMsf331d8/sso/saml"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// Entra ID's shape: default namespace, an `ID`, an enveloped metadata signature, WS-Federation roles
/// with keys of their own (never read), and two signing certificates during a rollover.
fn entra(current: &str, next: &str, ws_fed: &str) -> String {
    format!(
        r##"<?xml version="1.0" encoding="utf-8"?><EntityDescriptor ID="_3c1fa4a8-5a0f-4a4e-8b7b-8b5f0b6c2d11" entityID="https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/" xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#" /><SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" /><Reference URI="#_3c1fa4a8-5a0f-4a4e-8b7b-8b5f0b6c2d11"><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature" /><Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#" /></Transforms><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256" /><DigestValue>bm90IGEgcmVhbCBkaWdlc3Q=</DigestValue></Reference></SignedInfo><SignatureValue>bm90IGEgcmVhbCBzaWduYXR1cmU=</SignatureValue><KeyInfo><X509Data><X509Certificate>{current}</X509Certificate></X509Data></KeyInfo></Signature><RoleDescriptor xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706"><KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{ws_fed}</X509Certificate></X509Data></KeyInfo></KeyDescriptor><fed:PassiveRequestorEndpoint><EndpointReference xmlns="http://www.w3.org/2005/08/addressing"><Address>https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/wsfed</Address></EndpointReference></fed:PassiveRequestorEndpoint></RoleDescriptor><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{current}</X509Certificate></X509Data></KeyInfo></KeyDescriptor><KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{next}</X509Certificate></X509Data></KeyInfo></KeyDescriptor><SingleLogoutService Binding="{REDIRECT}" Location="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/saml2" /><SingleSignOnService Binding="{REDIRECT}" Location="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/saml2" /><SingleSignOnService Binding="{POST}" Location="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/saml2" /></IDPSSODescriptor></EntityDescriptor>"##
    )
}

/// Keycloak's shape: an `EntitiesDescriptor`, pretty-printed, wrapped base64 with a `ds:KeyName`, an
/// RSA and an ECDSA realm key, an encryption key, and bindings we do not use.
fn keycloak(rsa: &str, ec: &str, encryption: &str) -> String {
    format!(
        r#"<md:EntitiesDescriptor Name="urn:keycloak" xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <md:EntityDescriptor entityID="https://sso.example.com/realms/tessera">
    <md:IDPSSODescriptor WantAuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
      <md:KeyDescriptor use="signing">
        <ds:KeyInfo>
          <ds:KeyName>pXzP3Xcq6tqdMkhSAUq0u5lJ3Jpq8ZPyPU6d0zAm8xo</ds:KeyName>
          <ds:X509Data>
            <ds:X509Certificate>{rsa}</ds:X509Certificate>
          </ds:X509Data>
        </ds:KeyInfo>
      </md:KeyDescriptor>
      <md:KeyDescriptor>
        <ds:KeyInfo>
          <ds:KeyName>Q1w5yXh6fQ4jXkT0W3cR2s8vN7bL9pE6aD1uC3iG5kM</ds:KeyName>
          <ds:X509Data>
            <ds:X509Certificate>{ec}</ds:X509Certificate>
          </ds:X509Data>
        </ds:KeyInfo>
      </md:KeyDescriptor>
      <md:KeyDescriptor use="encryption">
        <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{encryption}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
      </md:KeyDescriptor>
      <md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sso.example.com/realms/tessera/protocol/saml/resolve" index="0"/>
      <md:SingleLogoutService Binding="{POST}" Location="https://sso.example.com/realms/tessera/protocol/saml"/>
      <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
      <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
      <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
      <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
      <md:SingleSignOnService Binding="{POST}" Location="https://sso.example.com/realms/tessera/protocol/saml"/>
      <md:SingleSignOnService Binding="{REDIRECT}" Location="https://sso.example.com/realms/tessera/protocol/saml"/>
      <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sso.example.com/realms/tessera/protocol/saml"/>
      <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sso.example.com/realms/tessera/protocol/saml"/>
    </md:IDPSSODescriptor>
  </md:EntityDescriptor>
</md:EntitiesDescriptor>
"#
    )
}

fn okta_doc() -> String {
    okta(&b64(&fixtures::OKTA.der))
}

#[test]
fn okta_metadata() {
    let md = parse(&okta_doc()).unwrap();
    assert_eq!(md.entity_id, "http://www.okta.com/exk1fcia6d6EMsf331d8");
    let sso = "https://dev-123456.okta.com/app/dev-123456_tessera_1/exk1fcia6d6EMsf331d8/sso/saml";
    assert_eq!(md.sso_location(Binding::HttpRedirect), Some(sso));
    assert_eq!(md.sso_location(Binding::HttpPost), Some(sso));
    assert!(!md.want_authn_requests_signed);
    assert_eq!(md.name_id_formats.len(), 2);
    assert_eq!(md.signing_certificates.len(), 1);
    let cert = &md.signing_certificates[0];
    assert_eq!(cert.der(), fixtures::OKTA.der.as_slice());
    assert!(matches!(cert.public_key(), PublicKey::Rsa(_)));
    assert_eq!(cert.public_key().describe(), "RSA-2048");
}

#[test]
fn entra_metadata_with_two_certificates_for_rollover() {
    let (current, next) = (&fixtures::ENTRA_CURRENT.der, &fixtures::ENTRA_NEXT.der);
    let xml = entra(&b64(current), &b64(next), &b64(&fixtures::KEYCLOAK.der));
    let md = parse(&xml).unwrap();
    assert_eq!(
        md.entity_id,
        "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"
    );
    assert_eq!(
        md.sso_location(Binding::HttpPost),
        Some("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/saml2")
    );
    assert!(md.sso_redirect.is_some());
    // Both IdP keys, in order; the WS-Federation role's key is not an IdP key.
    let ders: Vec<&[u8]> = md.signing_certificates.iter().map(|c| c.der()).collect();
    assert_eq!(ders, vec![current.as_slice(), next.as_slice()]);
    assert!(md.name_id_formats.is_empty());
}

#[test]
fn keycloak_metadata_inside_entities_descriptor_with_an_ecdsa_key() {
    let (ec_public, ec_der) = &*fixtures::KEYCLOAK_EC;
    let xml = keycloak(
        &b64_wrapped(&fixtures::KEYCLOAK.der),
        &b64_wrapped(ec_der),
        &b64(&fixtures::OKTA.der),
    );
    let md = parse(&xml).unwrap();
    assert_eq!(md.entity_id, "https://sso.example.com/realms/tessera");
    assert!(md.want_authn_requests_signed);
    assert_eq!(
        md.name_id_formats[0],
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    );
    assert_eq!(
        md.signing_certificates.len(),
        2,
        "the encryption key is not a signing key"
    );
    assert_eq!(
        md.signing_certificates[0].der(),
        fixtures::KEYCLOAK.der.as_slice()
    );
    assert_eq!(
        md.signing_certificates[1].public_key(),
        &PublicKey::P256(*ec_public)
    );
    assert_eq!(md.signing_certificates[1].public_key().describe(), "P-256");
}

#[test]
fn the_same_certificate_twice_is_kept_once() {
    let cert = b64(&fixtures::ENTRA_CURRENT.der);
    let md = parse(&entra(&cert, &cert, &cert)).unwrap();
    assert_eq!(md.signing_certificates.len(), 1);
}

#[test]
fn one_idp_among_service_providers_in_an_entities_descriptor() {
    let idp = okta_doc().replace(r#"<?xml version="1.0" encoding="UTF-8"?>"#, "");
    let xml = format!(
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:EntitiesDescriptor>{idp}</md:EntitiesDescriptor>{SP}</md:EntitiesDescriptor>"#
    );
    assert_eq!(
        parse(&xml).unwrap().entity_id,
        "http://www.okta.com/exk1fcia6d6EMsf331d8"
    );
    let two = xml.replace(SP, &idp.replace("exk1fcia6d6EMsf331d8", "other"));
    assert_eq!(parse(&two).unwrap_err(), "saml_metadata_several_idps");
}

const SP: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.com"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#;

// Some SAML libraries accept any unsigned response when the IdP metadata has no certificate.
#[test]
fn metadata_without_a_signing_certificate_is_refused() {
    let cert = b64(&fixtures::OKTA.der);
    let no_key = okta(&cert).replace(
        &format!(r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#),
        "",
    );
    assert_eq!(parse(&no_key).unwrap_err(), "saml_metadata_no_signing_key");
    let encryption_only = okta(&cert).replace(r#"use="signing""#, r#"use="encryption""#);
    assert_eq!(
        parse(&encryption_only).unwrap_err(),
        "saml_metadata_no_signing_key"
    );
}

#[test]
fn refusals_of_the_document() {
    let doc = okta_doc();
    let doctype = doc.replace(
        "?><md:EntityDescriptor",
        "?><!DOCTYPE md:EntityDescriptor><md:EntityDescriptor",
    );
    assert_eq!(parse(&doctype).unwrap_err(), "saml_doctype");
    let oversize = format!("{doc}<!--{}-->", "x".repeat(Limits::METADATA.max_bytes));
    assert_eq!(parse(&oversize).unwrap_err(), "saml_too_large");
    let duplicate_id = doc
        .replace("<md:EntityDescriptor ", r#"<md:EntityDescriptor ID="_m" "#)
        .replace("<md:IDPSSODescriptor ", r#"<md:IDPSSODescriptor ID="_m" "#);
    assert_eq!(parse(&duplicate_id).unwrap_err(), "saml_duplicate_id");
    assert_eq!(
        parse("<EntityDescriptor/>").unwrap_err(),
        "saml_metadata_not_metadata"
    );
    let response = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"#;
    assert_eq!(parse(response).unwrap_err(), "saml_metadata_not_metadata");
    // A NameID-style comment inside the certificate: refused, not skipped.
    let commented = doc.replace("</ds:X509Certificate>", "<!-- -->A</ds:X509Certificate>");
    assert_eq!(parse(&commented).unwrap_err(), "saml_value_not_text");
}

#[test]
fn refusals_of_the_identity_provider() {
    let doc = okta_doc();
    assert_eq!(parse(SP).unwrap_err(), "saml_metadata_not_idp");
    let wrapped_sp = format!(
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{SP}</md:EntitiesDescriptor>"#
    );
    assert_eq!(parse(&wrapped_sp).unwrap_err(), "saml_metadata_not_idp");
    let two_roles = doc.replace("</md:EntityDescriptor>", "")
        + &doc[doc.find("<md:IDPSSODescriptor").unwrap()..];
    assert_eq!(parse(&two_roles).unwrap_err(), "saml_metadata_several_idps");
    let saml1 = doc.replace(
        r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol""#,
        r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol""#,
    );
    assert_eq!(parse(&saml1).unwrap_err(), "saml_metadata_not_saml2");
    let no_protocols = doc.replace(
        r#" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol""#,
        "",
    );
    assert_eq!(parse(&no_protocols).unwrap_err(), "saml_missing_attribute");
    let no_entity_id = doc.replace(
        r#"entityID="http://www.okta.com/exk1fcia6d6EMsf331d8""#,
        r#"entityID=" ""#,
    );
    assert_eq!(
        parse(&no_entity_id).unwrap_err(),
        "saml_metadata_missing_entity_id"
    );
    let bad_bool = doc.replace(
        r#"WantAuthnRequestsSigned="false""#,
        r#"WantAuthnRequestsSigned="no""#,
    );
    assert_eq!(parse(&bad_bool).unwrap_err(), "saml_metadata_invalid_value");
    let bad_use = doc.replace(r#"use="signing""#, r#"use="sign""#);
    assert_eq!(parse(&bad_use).unwrap_err(), "saml_metadata_invalid_value");
}

#[test]
fn refusals_of_the_sso_service() {
    let doc = okta_doc();
    let soap_only = doc
        .replace(POST, "urn:oasis:names:tc:SAML:2.0:bindings:SOAP")
        .replace(REDIRECT, "urn:oasis:names:tc:SAML:2.0:bindings:SOAP");
    assert_eq!(
        parse(&soap_only).unwrap_err(),
        "saml_metadata_no_sso_service"
    );
    let http = doc.replace("https://dev-123456", "http://dev-123456");
    assert_eq!(parse(&http).unwrap_err(), "saml_metadata_insecure_url");
    let allowed = MetadataOptions {
        danger_allow_http_sso: true,
        ..MetadataOptions::default()
    };
    let md = IdpMetadata::parse(http.as_bytes(), allowed).unwrap();
    assert!(md
        .sso_post
        .unwrap()
        .starts_with("http://dev-123456.okta.com/"));
    for bad in [
        "javascript:alert(1)",
        "/relative/sso",
        "https://",
        "https://user@evil.example/",
        "https://a b/",
    ] {
        let xml = doc.replace(
            "https://dev-123456.okta.com/app/dev-123456_tessera_1/exk1fcia6d6EMsf331d8/sso/saml",
            bad,
        );
        assert_eq!(
            parse(&xml).unwrap_err(),
            "saml_metadata_invalid_url",
            "{bad}"
        );
    }
}

#[test]
fn refusals_of_certificates() {
    let with = |cert: &str| parse(&okta(cert)).unwrap_err();
    assert_eq!(with(&b64(&fixtures::SMALL.der)), "saml_key_too_small");
    assert_eq!(
        with(&b64(&fixtures::ed25519_certificate())),
        "saml_key_unsupported"
    );
    assert_eq!(
        with(&b64(&fixtures::p384_certificate())),
        "saml_key_unsupported"
    );
    assert_eq!(with("not base64!"), "saml_certificate_malformed");
    assert_eq!(
        with(&b64(b"not a certificate")),
        "saml_certificate_malformed"
    );
    assert_eq!(with(""), "saml_certificate_malformed");
    // Two certificates in one descriptor (a chain): which one signs is ambiguous, so refused.
    let cert = b64(&fixtures::OKTA.der);
    let chain = okta(&format!(
        "{cert}</ds:X509Certificate><ds:X509Certificate>{cert}"
    ));
    assert_eq!(parse(&chain).unwrap_err(), "saml_metadata_key_descriptor");
    let no_cert = okta(&cert).replace(
        &format!("<ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data>"),
        "<ds:KeyName>k</ds:KeyName>",
    );
    assert_eq!(parse(&no_cert).unwrap_err(), "saml_metadata_key_descriptor");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = IdpMetadata::parse(&bytes, MetadataOptions::default());
    }

    // Real metadata with a few bytes changed: reaches deep into the reader and the key parsing.
    #[test]
    fn mutated_metadata_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = okta_doc().into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = IdpMetadata::parse(&bytes, MetadataOptions::default());
    }
}
