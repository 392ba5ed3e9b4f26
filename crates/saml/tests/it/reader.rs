//! The strict reader: limits, refusals with their codes, and the value accessors.

use proptest::prelude::*;
use tessera_saml::{ns, Limits, ReadError, UntrustedXml};

fn parse(xml: &str) -> Result<UntrustedXml<'_>, ReadError> {
    UntrustedXml::parse(xml.as_bytes(), Limits::MESSAGE)
}

fn code(xml: &str) -> String {
    match parse(xml) {
        Ok(_) => "accepted".into(),
        Err(e) => e.code().as_str().into(),
    }
}

const RESPONSE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment before the root is fine -->
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0">
  <saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://idp.example.com</saml:Issuer>
  <saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1">
    <saml:Subject><saml:NameID>alice@example.com</saml:NameID></saml:Subject>
  </saml:Assertion>
</samlp:Response>"#;

#[test]
fn reads_elements_by_namespace_and_ids() {
    let doc = parse(RESPONSE).unwrap();
    let root = doc.root();
    assert!(root.is(ns::SAMLP, "Response"));
    assert_eq!(root.attribute("ID"), Some("_r1"));
    assert_eq!(
        root.only_child(ns::SAML, "Issuer").unwrap().text().unwrap(),
        "https://idp.example.com"
    );
    // Same local name, other namespace: not found.
    assert!(root.optional_child(ns::SAMLP, "Issuer").unwrap().is_none());
    let assertion = doc.element_by_id("_a1").unwrap();
    assert!(assertion.is(ns::SAML, "Assertion"));
    assert_eq!(assertion.parent().unwrap().local_name(), "Response");
    let name_id = assertion
        .only_child(ns::SAML, "Subject")
        .unwrap()
        .only_child(ns::SAML, "NameID")
        .unwrap();
    assert_eq!(name_id.text().unwrap(), "alice@example.com");
    assert!(doc.element_by_id("_nope").is_none());
    assert_eq!(
        assertion.required_attribute("Version").unwrap_err().code(),
        "saml_missing_attribute"
    );
}

#[test]
fn size_limit_counts_bytes_before_parsing() {
    let limits = Limits {
        max_bytes: 64,
        ..Limits::MESSAGE
    };
    let err = UntrustedXml::parse(RESPONSE.as_bytes(), limits).unwrap_err();
    assert_eq!(
        err,
        ReadError::TooLarge {
            len: RESPONSE.len(),
            max: 64
        }
    );
    assert_eq!(err.code(), "saml_too_large");
}

#[test]
fn encodings_other_than_utf8_are_refused() {
    assert_eq!(
        code("<?xml version='1.0' encoding='utf-8'?><a/>"),
        "accepted"
    );
    assert_eq!(code("\u{feff}<a/>"), "accepted");
    assert_eq!(
        code("<?xml version='1.0' encoding='ISO-8859-1'?><a/>"),
        "saml_unsupported_encoding"
    );
    assert_eq!(
        code("<?xml version=\"1.0\" encoding = \"UTF-16\"?><a/>"),
        "saml_unsupported_encoding"
    );
    let latin1 = b"<a>caf\xe9</a>";
    let err = UntrustedXml::parse(latin1, Limits::MESSAGE).unwrap_err();
    assert_eq!(err.code(), "saml_unsupported_encoding");
}

// XXE, billion laughs and a bare DOCTYPE (which roxmltree alone would accept): all refused.
#[test]
fn doctype_is_refused_in_every_form() {
    let bare = "<!DOCTYPE Response><Response/>";
    let xxe =
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
    let laughs = r#"<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
        <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><r>&c;</r>"#;
    let after_comment = "<!-- x --><!DOCTYPE r><r/>";
    for xml in [bare, xxe, laughs, after_comment] {
        assert_eq!(code(xml), "saml_doctype", "{xml}");
    }
    // An undeclared entity is simply malformed.
    assert_eq!(code("<r>&x;</r>"), "saml_malformed_xml");
}

#[test]
fn processing_instructions_are_refused() {
    assert_eq!(
        code("<?xml-stylesheet href='x'?><a/>"),
        "saml_processing_instruction"
    );
    assert_eq!(
        code("<a><?php echo 1; ?></a>"),
        "saml_processing_instruction"
    );
    assert_eq!(code("<a/><?trailer?>"), "saml_processing_instruction");
}

#[test]
fn node_and_depth_limits() {
    let many = format!("<a>{}</a>", "<b/>".repeat(100));
    let limits = Limits {
        max_nodes: 50,
        ..Limits::MESSAGE
    };
    let err = UntrustedXml::parse(many.as_bytes(), limits).unwrap_err();
    assert_eq!(err.code(), "saml_too_many_nodes");

    let deep = format!("{}{}", "<a>".repeat(33), "</a>".repeat(33));
    assert_eq!(code(&deep), "saml_too_deep");
    let ok = format!("{}{}", "<a>".repeat(32), "</a>".repeat(32));
    assert_eq!(code(&ok), "accepted");
}

#[test]
fn malformed_xml_is_refused() {
    for xml in [
        "",
        "<a>",
        "<a></b>",
        "<a x='1' x='2'/>",
        "<p:a/>",
        "text",
        "<a/><b/>",
    ] {
        assert_eq!(code(xml), "saml_malformed_xml", "{xml}");
    }
}

// Signature wrapping moves a copy of the signed element elsewhere with the same ID: refused at parse.
#[test]
fn duplicate_ids_are_refused() {
    assert_eq!(code("<r ID='x'><a ID='x'/></r>"), "saml_duplicate_id");
    assert_eq!(code("<r ID='x'><a Id='x'/></r>"), "saml_duplicate_id");
    assert_eq!(code("<r ID='x'><a id='x'/></r>"), "saml_duplicate_id");
    assert_eq!(code("<r ID='x'><a xml:id='x'/></r>"), "saml_duplicate_id");
    assert_eq!(code("<r ID='x'><a ID='y'/><b Id='z'/></r>"), "accepted");
    // Other attributes may repeat values freely.
    assert_eq!(code("<r ID='x'><a Name='x'/></r>"), "accepted");
    let err = parse("<r ID='x'><e:a xmlns:e='urn:e' ID='x'/></r>").unwrap_err();
    assert_eq!(err, ReadError::DuplicateId("x".into()));
}

// CVE-2017-11428: `alice@evil.com<!---->.example.com` must not read as `alice@evil.com`.
#[test]
fn a_value_with_a_comment_or_element_inside_is_refused() {
    let doc = parse(
        "<r><n>alice@evil.com<!---->.example.com</n><m>a<b/>c</m><e/><c><![CDATA[x<y]]></c></r>",
    )
    .unwrap();
    let root = doc.root();
    let n = root.children().find(|c| c.local_name() == "n").unwrap();
    assert_eq!(n.text().unwrap_err().code(), "saml_value_not_text");
    let m = root.children().find(|c| c.local_name() == "m").unwrap();
    assert_eq!(m.text().unwrap_err().code(), "saml_value_not_text");
    let e = root.children().find(|c| c.local_name() == "e").unwrap();
    assert_eq!(e.text().unwrap(), "");
    let c = root.children().find(|c| c.local_name() == "c").unwrap();
    assert_eq!(c.text().unwrap(), "x<y");
    // Entities and character references are part of the one text node.
    let doc = parse("<n>a&amp;b&#x41;</n>").unwrap();
    assert_eq!(doc.root().text().unwrap(), "a&bA");
}

#[test]
fn optional_and_only_child_count_their_matches() {
    let doc = parse("<r xmlns='urn:x'><a/><a/><b/></r>").unwrap();
    let root = doc.root();
    assert_eq!(
        root.optional_child("urn:x", "a").unwrap_err().code(),
        "saml_duplicate_element"
    );
    assert_eq!(
        root.only_child("urn:x", "c").unwrap_err().code(),
        "saml_missing_element"
    );
    assert!(root.only_child("urn:x", "b").is_ok());
    assert_eq!(root.children_named("urn:x", "a").count(), 2);
}

#[test]
fn a_prefix_bound_to_the_empty_name_is_refused() {
    // XML Namespaces 1.0 §3 forbids `xmlns:p=""`; only the default namespace can be undeclared.
    assert_eq!(code(r#"<p:e xmlns:p=""/>"#), "saml_malformed_xml");
    assert_eq!(
        code(r#"<r xmlns:p="urn:x"><p:e><q xmlns:p=""/></p:e></r>"#),
        "saml_malformed_xml"
    );
    assert!(parse(r#"<r xmlns="urn:x"><e xmlns=""/></r>"#).is_ok());
}

proptest! {
    // Hostile input: arbitrary bytes, and arbitrary text around an element, never panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = UntrustedXml::parse(&bytes, Limits::MESSAGE);
    }

    #[test]
    fn arbitrary_markup_never_panics(s in "[<>?!/a-z:='\" &;#x-]{0,200}") {
        if let Ok(doc) = UntrustedXml::parse(s.as_bytes(), Limits::MESSAGE) {
            for e in doc.root().children() {
                let _ = e.text();
            }
        }
    }
}

#[test]
fn what_the_parser_and_canonicaliser_compare_pairwise_is_bounded() {
    // Namespace declarations, counted before parsing.
    let declarations: String = (0..300).map(|i| format!(" xmlns:a{i}=\"u\"")).collect();
    let many = format!("<r{declarations}/>");
    assert!(matches!(
        parse(&many),
        Err(ReadError::TooManyDeclarations(_))
    ));
    assert_eq!(code(&many), "saml_too_many_nodes");
    // Attributes, counted before parsing.
    let attributes: String = (0..4100).map(|i| format!(" a{i}='v'")).collect();
    assert!(matches!(
        parse(&format!("<r{attributes}/>")),
        Err(ReadError::TooManyDeclarations(_))
    ));
    // Namespaces in scope on one element.
    let scope: String = (0..30).map(|i| format!(" xmlns:a{i}=\"u{i}\"")).collect();
    assert!(matches!(
        parse(&format!("<r{scope}><c/></r>")),
        Err(ReadError::TooManyDeclarations(_))
    ));
    // An ordinary response is far from every bound.
    assert!(parse(RESPONSE).is_ok());
}
