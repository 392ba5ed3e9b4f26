//! `verify_response`: every rule of the module documentation, one test or more each, with the code the
//! refusal carries. Responses are built and signed by `signed` (keys generated at each run).

use proptest::prelude::*;
use tessera_proto::rfc3339::parse_unix_time;
use tessera_proto::{Code, UnixTime};
use tessera_saml::{
    verify_response, Certificate, Expectations, ResponseError, SignedPart, VerifiedLogin,
    DEFAULT_CLOCK_SKEW_SECS,
};

use crate::fixtures;
use crate::signed::{sign, signature_template, Key, Shape, ACS, IDP, NOW, REQUEST, SP};

fn now() -> UnixTime {
    parse_unix_time(NOW).unwrap()
}

fn judge_with(
    xml: &str,
    certificates: &[Certificate],
    signed_part: SignedPart,
    now: UnixTime,
) -> Result<VerifiedLogin, ResponseError> {
    let expect = Expectations {
        sp_entity_id: SP,
        acs_url: ACS,
        idp_entity_id: IDP,
        certificates,
        signed_part,
        clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
    };
    verify_response(xml.as_bytes(), &expect, now)
}

fn judge(xml: &str) -> Result<VerifiedLogin, ResponseError> {
    judge_with(
        xml,
        &[Key::okta().certificate()],
        SignedPart::Assertion,
        now(),
    )
}

#[track_caller]
fn refused(xml: &str, code: Code) {
    match judge(xml) {
        Ok(login) => panic!("accepted, expected {code}: {login:?}"),
        Err(e) => assert_eq!(e.code(), code, "{e}"),
    }
}

#[test]
fn a_signed_assertion_is_accepted_and_its_values_read() {
    let login = judge(&Shape::default().build()).unwrap();
    assert_eq!(login.name_id, "00u1ab2cd3EF4gh5i6j7");
    assert_eq!(
        login.name_id_format.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
    );
    assert_eq!(login.assertion_id, "_asrt3b9e4d17");
    assert_eq!(login.in_response_to.as_deref(), Some(REQUEST));
    assert_eq!(login.session_index.as_deref(), Some("_sess61d0"));
    assert_eq!(
        login.authn_context_class.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
    );
    assert_eq!(login.attribute("email").unwrap(), ["ada@corp.example"]);
    // By Name or by FriendlyName; the xsi:nil value is left out.
    assert_eq!(
        login.attribute("Groups").unwrap(),
        ["engineering", "admins"]
    );
    assert_eq!(
        login.authn_instant,
        parse_unix_time("2026-11-30T09:59:57Z").unwrap()
    );
    // Remembered until the latest NotOnOrAfter plus the skew.
    assert_eq!(
        login.replay_until,
        parse_unix_time("2026-11-30T10:05:00Z")
            .unwrap()
            .plus_secs(DEFAULT_CLOCK_SKEW_SECS)
    );
    let by = login.assertion_signed_by.unwrap();
    assert_eq!(
        by.certificate_sha256,
        Key::okta().certificate().sha256_fingerprint()
    );
    assert!(login.response_signed_by.is_none());
}

#[test]
fn ecdsa_p256_signatures_are_accepted() {
    let xml = Shape {
        sign_assertion: Some(Key::ec()),
        ..Shape::default()
    }
    .build();
    let login = judge_with(
        &xml,
        &[Key::ec().certificate()],
        SignedPart::Assertion,
        now(),
    )
    .unwrap();
    assert_eq!(
        login.assertion_signed_by.unwrap().algorithm,
        tessera_saml::SignatureAlgorithm::EcdsaSha256
    );
}

#[test]
fn during_a_rollover_any_pinned_certificate_verifies() {
    let xml = Shape::default().build();
    let next = Certificate::from_der(fixtures::ENTRA_NEXT.der.clone()).unwrap();
    let both = [next, Key::okta().certificate()];
    assert!(judge_with(&xml, &both, SignedPart::Assertion, now()).is_ok());
}

#[test]
fn the_signed_part_follows_the_connection_policy() {
    let response_only = Shape {
        sign_assertion: None,
        sign_response: Some(Key::okta()),
        ..Shape::default()
    }
    .build();
    let certs = [Key::okta().certificate()];
    let judge = |xml: &str, part| judge_with(xml, &certs, part, now());
    assert_eq!(
        judge(&response_only, SignedPart::Assertion)
            .unwrap_err()
            .code(),
        Code::SamlSignatureMissing
    );
    assert!(judge(&response_only, SignedPart::Response).is_ok());
    assert!(judge(&response_only, SignedPart::Either).is_ok());

    let assertion_only = Shape::default().build();
    assert_eq!(
        judge(&assertion_only, SignedPart::Response)
            .unwrap_err()
            .code(),
        Code::SamlSignatureMissing
    );
    assert!(judge(&assertion_only, SignedPart::Either).is_ok());

    let both = Shape {
        sign_response: Some(Key::okta()),
        ..Shape::default()
    }
    .build();
    for part in [
        SignedPart::Assertion,
        SignedPart::Response,
        SignedPart::Either,
    ] {
        let login = judge(&both, part).unwrap();
        assert!(login.response_signed_by.is_some() && login.assertion_signed_by.is_some());
    }
}

#[test]
fn unsigned_is_refused_under_every_policy() {
    let xml = Shape {
        sign_assertion: None,
        ..Shape::default()
    }
    .build();
    for part in [
        SignedPart::Assertion,
        SignedPart::Response,
        SignedPart::Either,
    ] {
        let e = judge_with(&xml, &[Key::okta().certificate()], part, now()).unwrap_err();
        assert_eq!(e.code(), Code::SamlSignatureMissing);
    }
}

#[test]
fn a_bad_response_signature_is_not_excused_by_a_good_assertion_signature() {
    let xml = Shape {
        sign_response: Some(Key::okta()),
        ..Shape::default()
    }
    .build();
    // Change the response after signing, outside the assertion.
    let xml = xml.replacen(
        "IssueInstant=\"2026-11-30T09:59:58Z\"",
        "IssueInstant=\"2026-11-30T09:59:59Z\"",
        1,
    );
    refused(&xml, Code::SamlDigestMismatch);
}

#[test]
fn another_key_is_refused_even_with_its_certificate_in_key_info() {
    // The attacker signs with Entra's key and puts Entra's certificate in KeyInfo; the connection pins
    // Okta's. KeyInfo is never read.
    let attacker = Key::Rsa(&fixtures::ENTRA_CURRENT);
    let xml = Shape {
        sign_assertion: Some(attacker),
        ..Shape::default()
    }
    .build();
    refused(&xml, Code::SamlSignatureInvalid);
}

#[test]
fn an_algorithm_for_the_other_key_type_never_verifies() {
    // ECDSA named in SignatureMethod, signed with the RSA key: refused, not confused.
    let xml = Shape::default().template().replace(
        tessera_saml::dsig::alg::RSA_SHA256,
        tessera_saml::dsig::alg::ECDSA_SHA256,
    );
    let xml = sign(&xml, "_asrt3b9e4d17", Key::okta());
    refused(&xml, Code::SamlSignatureInvalid);
}

#[test]
fn a_change_after_signing_is_a_digest_mismatch() {
    let xml = Shape::default()
        .build()
        .replace("ada@corp.example", "root@corp.example");
    refused(&xml, Code::SamlDigestMismatch);
}

#[test]
fn a_comment_in_the_name_id_is_refused_though_the_signature_still_verifies() {
    // CVE-2017-11428: canonicalisation drops comments, so the digest is unchanged; a reader taking the
    // first text node would see `00u1ab2cd3`. Ours refuses a value that is not one text node.
    let xml = Shape::default()
        .build()
        .replace("00u1ab2cd3EF4gh5i6j7", "00u1ab2cd3<!---->EF4gh5i6j7");
    refused(&xml, Code::SamlValueNotText);
}

#[test]
fn sha1_is_refused_for_signatures_and_digests() {
    let template = Shape::default().template();
    let rsa_sha1 = template.replace(
        tessera_saml::dsig::alg::RSA_SHA256,
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    );
    refused(
        &sign(&rsa_sha1, "_asrt3b9e4d17", Key::okta()),
        Code::SamlAlgorithmRefused,
    );
    let sha1_digest = template.replace(
        tessera_saml::dsig::alg::SHA256,
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    refused(
        &sign(&sha1_digest, "_asrt3b9e4d17", Key::okta()),
        Code::SamlAlgorithmRefused,
    );
}

#[test]
fn canonicalisation_with_comments_or_inclusive_is_refused() {
    let template = Shape::default().template();
    let with_comments = template.replacen(
        r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
        r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#WithComments"/>"#,
        1,
    );
    refused(
        &sign(&with_comments, "_asrt3b9e4d17", Key::okta()),
        Code::SamlAlgorithmRefused,
    );
    let inclusive = template.replacen(
        r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">"#,
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315">"#,
        1,
    );
    refused(
        &sign(&inclusive, "_asrt3b9e4d17", Key::okta()),
        Code::SamlTransformRefused,
    );
}

#[test]
fn transforms_are_exactly_enveloped_then_exclusive_c14n() {
    let template = Shape::default().template();
    let enveloped =
        r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#;
    let xpath = r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"#;
    let extra = template.replacen(enveloped, &format!("{enveloped}{xpath}"), 1);
    refused(&extra, Code::SamlTransformRefused);
    let only_enveloped = template.replacen(
        r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform>"#,
        "",
        1,
    );
    refused(&only_enveloped, Code::SamlTransformRefused);
    let swapped = template.replacen(enveloped, "", 1).replacen(
        "</ds:Transform></ds:Transforms>",
        &format!("</ds:Transform>{enveloped}</ds:Transforms>"),
        1,
    );
    refused(&swapped, Code::SamlTransformRefused);
}

#[test]
fn the_reference_must_name_the_signed_element() {
    let template = Shape::default().template();
    let empty = template.replacen(r##"URI="#_asrt3b9e4d17""##, r#"URI="""#, 1);
    refused(
        &sign(&empty, "_asrt3b9e4d17", Key::okta()),
        Code::SamlReferenceInvalid,
    );
    let other = template.replacen(r##"URI="#_asrt3b9e4d17""##, r##"URI="#_resp8f2a61c0""##, 1);
    refused(&other, Code::SamlReferenceInvalid);
    let xpointer = template.replacen(
        r##"URI="#_asrt3b9e4d17""##,
        r##"URI="#xpointer(id('_asrt3b9e4d17'))""##,
        1,
    );
    refused(&xpointer, Code::SamlReferenceInvalid);
}

#[test]
fn two_references_are_refused() {
    let xml = Shape::default().build();
    let start = xml.find("<ds:Reference ").unwrap();
    let end = xml.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
    let reference = xml.get(start..end).unwrap().to_owned();
    let doubled = xml.replacen(&reference, &format!("{reference}{reference}"), 1);
    refused(&doubled, Code::SamlReferenceInvalid);
}

#[test]
fn ds_object_inside_the_signature_is_wrapping() {
    let xml = Shape::default().build().replacen(
        "</ds:KeyInfo>",
        r#"</ds:KeyInfo><ds:Object><x/></ds:Object>"#,
        1,
    );
    refused(&xml, Code::SamlWrapping);
}

#[test]
fn a_signature_out_of_its_place_is_wrapping() {
    // Moved after the Subject: not the place the schema gives it.
    let xml = Shape::default().build();
    let start = xml.find("<ds:Signature").unwrap();
    let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = xml.get(start..end).unwrap().to_owned();
    let moved = xml.replacen(&signature, "", 1).replacen(
        "</saml2:Subject>",
        &format!("</saml2:Subject>{signature}"),
        1,
    );
    refused(&moved, Code::SamlWrapping);
}

/// The signed assertion as it stands in a valid response, for moving into wrapping positions.
fn signed_assertion() -> String {
    let xml = Shape::default().build();
    let start = xml.find("<saml2:Assertion").unwrap();
    let end = xml.find("</saml2:Assertion>").unwrap() + "</saml2:Assertion>".len();
    xml.get(start..end).unwrap().to_owned()
}

/// An unsigned assertion for the attacker, with a fresh ID.
fn evil_assertion() -> String {
    Shape {
        assertion_id: "_evil",
        name_id: "admin",
        sign_assertion: None,
        ..Shape::default()
    }
    .assertion()
}

#[test]
fn signature_wrapping_moves_are_refused() {
    let original = Shape::default().build();
    let signed = signed_assertion();
    let evil = evil_assertion();
    let cases = [
        // An evil assertion beside the signed one, before and after it (XSW3, XSW4 order).
        (
            "evil first",
            original.replacen(&signed, &format!("{evil}{signed}"), 1),
            Code::SamlWrapping,
        ),
        (
            "evil after",
            original.replacen(&signed, &format!("{signed}{evil}"), 1),
            Code::SamlWrapping,
        ),
        // The signed assertion hidden inside the evil one (XSW4/XSW5 style).
        (
            "signed inside evil",
            original.replacen(
                &signed,
                &evil.replacen("</saml2:Subject>", &format!("</saml2:Subject>{signed}"), 1),
                1,
            ),
            Code::SamlWrapping,
        ),
        // The signed assertion in the response's Extensions, evil in its place (XSW7 style).
        (
            "signed in extensions",
            original.replacen(&signed, &evil, 1).replacen(
                "<saml2p:Status>",
                &format!("<saml2p:Extensions>{signed}</saml2p:Extensions><saml2p:Status>"),
                1,
            ),
            Code::SamlWrapping,
        ),
        // The signed assertion in place and an unsigned one earlier in document order, in Extensions,
        // for a reader that takes the first assertion it finds.
        (
            "evil in extensions",
            original.replacen(
                "<saml2p:Status>",
                &format!("<saml2p:Extensions>{evil}</saml2p:Extensions><saml2p:Status>"),
                1,
            ),
            Code::SamlWrapping,
        ),
        // The signed assertion inside its own signature's Object (XSW8 style).
        (
            "signed in object",
            original.replacen(
                &signed,
                &evil.replacen(
                    "<saml2:Subject>",
                    &format!(
                        "{}<saml2:Subject>",
                        signature_template("_evil", Key::okta()).replacen(
                            "</ds:KeyInfo>",
                            &format!("</ds:KeyInfo><ds:Object>{signed}</ds:Object>"),
                            1
                        )
                    ),
                    1,
                ),
                1,
            ),
            Code::SamlWrapping,
        ),
        // A whole evil response wrapping the original (XSW1/XSW2 style).
        (
            "response in response",
            original.replacen(
                "<saml2p:Status>",
                &format!(
                    "{}<saml2p:Status>",
                    original
                        .replacen(r#"<?xml version="1.0" encoding="UTF-8"?>"#, "", 1)
                        .replace("_resp8f2a61c0", "_inner")
                        .replace("_asrt3b9e4d17", "_inner_a")
                ),
                1,
            ),
            Code::SamlWrapping,
        ),
        // The same ID twice: the reference would be ambiguous.
        (
            "duplicate id",
            original.replacen(
                &signed,
                &format!("{signed}{}", evil.replace("_evil", "_asrt3b9e4d17")),
                1,
            ),
            Code::SamlDuplicateId,
        ),
    ];
    for (name, xml, code) in cases {
        match judge(&xml) {
            Ok(login) => panic!("{name}: accepted as {}", login.name_id),
            Err(e) => assert_eq!(e.code(), code, "{name}: {e}"),
        }
    }
}

#[test]
fn a_doctype_is_refused_before_anything_else() {
    let xml = Shape::default().build().replacen(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>"#,
        1,
    );
    refused(&xml, Code::SamlDoctype);
}

#[test]
fn issuers_must_be_the_identity_provider() {
    refused(
        &Shape {
            assertion_issuer: "https://evil.example/idp",
            ..Shape::default()
        }
        .build(),
        Code::SamlIssuerMismatch,
    );
    refused(
        &Shape {
            response_issuer: Some("https://evil.example/idp"),
            ..Shape::default()
        }
        .build(),
        Code::SamlIssuerMismatch,
    );
    // The response's Issuer is optional.
    assert!(judge(
        &Shape {
            response_issuer: None,
            ..Shape::default()
        }
        .build()
    )
    .is_ok());
}

#[test]
fn destination_and_recipient_must_be_our_acs() {
    refused(
        &Shape {
            destination: Some("https://evil.example/acs"),
            ..Shape::default()
        }
        .build(),
        Code::SamlDestinationMismatch,
    );
    refused(
        &Shape {
            recipient: "https://evil.example/acs",
            ..Shape::default()
        }
        .build(),
        Code::SamlRecipientMismatch,
    );
    // Destination may be absent on an unsigned response, not on a signed one.
    assert!(judge(
        &Shape {
            destination: None,
            ..Shape::default()
        }
        .build()
    )
    .is_ok());
    let signed_without = Shape {
        destination: None,
        sign_response: Some(Key::okta()),
        ..Shape::default()
    }
    .build();
    refused(&signed_without, Code::SamlDestinationMismatch);
}

#[test]
fn the_audience_must_be_us() {
    refused(
        &Shape {
            audience: "https://other-sp.example/metadata",
            ..Shape::default()
        }
        .build(),
        Code::SamlAudienceMismatch,
    );
    let no_restriction = Shape::default().template();
    let start = no_restriction.find("<saml2:AudienceRestriction>").unwrap();
    let end = no_restriction.find("</saml2:AudienceRestriction>").unwrap()
        + "</saml2:AudienceRestriction>".len();
    let restriction = no_restriction.get(start..end).unwrap().to_owned();
    let without = no_restriction.replacen(&restriction, "", 1);
    refused(
        &sign(&without, "_asrt3b9e4d17", Key::okta()),
        Code::SamlAudienceMismatch,
    );
    // A second restriction that does not name us fails even though the first does.
    let second = no_restriction.replacen(
        &restriction,
        &format!("{restriction}<saml2:AudienceRestriction><saml2:Audience>https://other.example</saml2:Audience></saml2:AudienceRestriction>"),
        1,
    );
    refused(
        &sign(&second, "_asrt3b9e4d17", Key::okta()),
        Code::SamlAudienceMismatch,
    );
}

#[test]
fn times_hold_with_a_small_skew() {
    let xml = Shape::default().build();
    let at = |t: &str| parse_unix_time(t).unwrap();
    let certs = [Key::okta().certificate()];
    let judge_at = |t| judge_with(&xml, &certs, SignedPart::Assertion, at(t));
    // NotOnOrAfter 10:05:00 plus 90 s of skew.
    assert!(judge_at("2026-11-30T10:06:29Z").is_ok());
    assert_eq!(
        judge_at("2026-11-30T10:06:30Z").unwrap_err().code(),
        Code::SamlExpired
    );
    // NotBefore 09:55:00 minus 90 s.
    assert!(judge_at("2026-11-30T09:53:30Z").is_ok());
    assert_eq!(
        judge_at("2026-11-30T09:53:29Z").unwrap_err().code(),
        Code::SamlNotYetValid
    );
    // The confirmation expires on its own.
    refused(
        &Shape {
            confirmation_not_on_or_after: "2026-11-30T09:58:00Z",
            ..Shape::default()
        }
        .build(),
        Code::SamlExpired,
    );
    refused(
        &Shape {
            not_on_or_after: "not a time",
            ..Shape::default()
        }
        .build(),
        Code::SamlMalformed,
    );
}

#[test]
fn in_response_to_must_agree_and_is_reported() {
    refused(
        &Shape {
            confirmation_in_response_to: Some("_other"),
            ..Shape::default()
        }
        .build(),
        Code::SamlInResponseToMismatch,
    );
    refused(
        &Shape {
            in_response_to: None,
            ..Shape::default()
        }
        .build(),
        Code::SamlInResponseToMismatch,
    );
    // Unsolicited: neither names a request; the caller decides whether the connection allows it.
    let login = judge(
        &Shape {
            in_response_to: None,
            confirmation_in_response_to: None,
            ..Shape::default()
        }
        .build(),
    )
    .unwrap();
    assert_eq!(login.in_response_to, None);
}

#[test]
fn an_error_status_is_refused_with_its_codes() {
    let xml = Shape {
        status: "urn:oasis:names:tc:SAML:2.0:status:Responder",
        ..Shape::default()
    }
    .build();
    let e = judge(&xml).unwrap_err();
    assert_eq!(e.code(), Code::SamlStatusNotSuccess);
    assert!(e.to_string().contains("status:Responder"), "{e}");
}

#[test]
fn not_a_response_is_malformed() {
    refused(&signed_assertion(), Code::SamlMalformed);
    refused("<a/>", Code::SamlMalformed);
    refused("not xml", Code::SamlMalformedXml);
    let v1 = Shape::default()
        .build()
        .replacen(r#"Version="2.0""#, r#"Version="1.1""#, 1);
    refused(&v1, Code::SamlMalformed);
}

#[test]
fn an_encrypted_assertion_is_not_read_as_plain() {
    let xml = Shape::default().build().replacen(
        "</saml2p:Status>",
        r#"</saml2p:Status><saml2:EncryptedAssertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"/>"#,
        1,
    );
    refused(&xml, Code::SamlEncryptedUnsupported);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Changing any one byte of a signed response either gets it refused or leaves what it vouches for
    /// unchanged (a byte of insignificant whitespace, of the signature's base64 padding...).
    #[test]
    fn one_changed_byte_never_changes_what_is_vouched_for(at in 0usize..4000, byte in any::<u8>()) {
        let original = Shape::default().build();
        let good = judge(&original).unwrap();
        let mut bytes = original.into_bytes();
        let len = bytes.len();
        if let Some(b) = bytes.get_mut(at % len) {
            *b = byte;
        }
        let expect = Expectations {
            sp_entity_id: SP,
            acs_url: ACS,
            idp_entity_id: IDP,
            certificates: &[Key::okta().certificate()],
            signed_part: SignedPart::Assertion,
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
        };
        if let Ok(login) = verify_response(&bytes, &expect, now()) {
            prop_assert_eq!(login, good);
        }
    }
}
