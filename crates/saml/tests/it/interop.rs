//! Agreement with xmlsec1: responses whose assertion xmlsec1 signed (`tests/vectors/xmlsec1/`, see its
//! README) verify here, and the same responses changed by one value do not.

use tessera_proto::rfc3339::parse_unix_time;
use tessera_proto::Code;
use tessera_saml::{
    verify_response, Certificate, Expectations, SignatureAlgorithm, SignedPart,
    DEFAULT_CLOCK_SKEW_SECS,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/xmlsec1");

fn certificate(name: &str) -> Certificate {
    let pem = std::fs::read_to_string(format!("{DIR}/{name}")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Certificate::from_base64(&body).unwrap()
}

fn judge(xml: &[u8], cert: &Certificate) -> Result<tessera_saml::VerifiedLogin, Code> {
    let expect = Expectations {
        sp_entity_id: "https://origin.example/saml/acme/okta/metadata",
        acs_url: "https://origin.example/saml/acme/okta/acs",
        idp_entity_id: "http://www.okta.com/exk1fcia6d6EMsf331d8",
        certificates: std::slice::from_ref(cert),
        signed_part: SignedPart::Assertion,
        clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
    };
    let now = parse_unix_time("2026-11-30T10:00:00Z").unwrap();
    verify_response(xml, &expect, now).map_err(|e| e.code())
}

#[test]
fn xmlsec1_signatures_verify_rsa_and_ecdsa() {
    for (file, cert, algorithm) in [
        ("signed-rsa.xml", "rsa.crt", SignatureAlgorithm::RsaSha256),
        ("signed-ec.xml", "ec.crt", SignatureAlgorithm::EcdsaSha256),
    ] {
        let xml = std::fs::read(format!("{DIR}/{file}")).unwrap();
        let login = judge(&xml, &certificate(cert)).unwrap_or_else(|c| panic!("{file}: {c}"));
        assert_eq!(login.name_id, "ada@corp.example");
        assert_eq!(login.attribute("name").unwrap(), ["Ada Lovelace & co. <é>"]);
        assert_eq!(
            login.attribute("groups").unwrap(),
            ["engineering", "admins"]
        );
        assert_eq!(login.assertion_signed_by.unwrap().algorithm, algorithm);
        // The other file's certificate does not verify it.
        let other = if cert == "rsa.crt" {
            "ec.crt"
        } else {
            "rsa.crt"
        };
        assert_eq!(
            judge(&xml, &certificate(other)).unwrap_err(),
            Code::SamlSignatureInvalid
        );
        // One value changed after signing.
        let text = String::from_utf8(xml).unwrap();
        let changed = text.replacen(">admins<", ">owners<", 1);
        assert_eq!(
            judge(changed.as_bytes(), &certificate(cert)).unwrap_err(),
            Code::SamlDigestMismatch
        );
    }
}
