//! Exclusive XML canonicalisation. Vectors from *Exclusive XML Canonicalization 1.0* (W3C REC 2002)
//! §2.2 and *Canonical XML 1.0* (W3C REC 2001) §3.2–§3.4 and §3.6, adapted where noted (no DTD: the
//! reader refuses one; exclusive, not inclusive, namespace rendering); then SAML shapes, ordering,
//! escaping, refusals, and a property test. Outputs marked "lxml" were also produced, byte for byte, by
//! `lxml.etree.tostring(el, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=...)`
//! (lxml 6.1.3, libxml2), and checked by hand against the specification.

use proptest::prelude::*;
use tessera_saml::{exclusive_c14n, C14nError, Limits, UntrustedXml, XmlElement};

fn parse(xml: &str) -> UntrustedXml<'_> {
    UntrustedXml::parse(xml.as_bytes(), Limits::MESSAGE).unwrap()
}

/// The first element named `local` in document order.
fn find<'a, 'i>(element: XmlElement<'a, 'i>, local: &str) -> Option<XmlElement<'a, 'i>> {
    if element.local_name() == local {
        return Some(element);
    }
    element.children().find_map(|c| find(c, local))
}

/// Canonicalises the first element named `local`, with the given `PrefixList`.
fn c14n_of(xml: &str, local: &str, prefixes: &[&str]) -> String {
    let doc = parse(xml);
    let element = find(doc.root(), local).unwrap();
    String::from_utf8(exclusive_c14n(element, prefixes, None).unwrap()).unwrap()
}

fn c14n(xml: &str) -> String {
    let doc = parse(xml);
    String::from_utf8(exclusive_c14n(doc.root(), &[], None).unwrap()).unwrap()
}

// --- Exclusive XML Canonicalization 1.0 §2.2 ---

const EXC_EXAMPLE_1: &str = r#"<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org">
   <n1:elem2 xmlns:n1="http://example.net" xml:lang="en">
       <n3:stuff xmlns:n3="ftp://example.org"/>
   </n1:elem2>
</n0:local>"#;

const EXC_EXAMPLE_2: &str = r#"<n2:pdu xmlns:n1="http://example.com"
           xmlns:n2="http://foo.example"
           xml:lang="fr"
           xml:space="retain">
   <n1:elem2 xmlns:n1="http://example.net" xml:lang="en">
       <n3:stuff xmlns:n3="ftp://example.org"/>
   </n1:elem2>
</n2:pdu>"#;

/// §2.2: the same `n1:elem2` in two contexts canonicalises to the same bytes, with none of the
/// apex's namespaces (`n0`, `n2`) and no inherited `xml:space`. lxml.
const EXC_ELEM2: &str = r#"<n1:elem2 xmlns:n1="http://example.net" xml:lang="en">
       <n3:stuff xmlns:n3="ftp://example.org"></n3:stuff>
   </n1:elem2>"#;

#[test]
fn exc_c14n_2_2_subtree_is_independent_of_its_context() {
    assert_eq!(c14n_of(EXC_EXAMPLE_1, "elem2", &[]), EXC_ELEM2);
    assert_eq!(c14n_of(EXC_EXAMPLE_2, "elem2", &[]), EXC_ELEM2);
}

#[test]
fn exc_c14n_2_2_prefix_list_renders_an_unused_prefix_in_scope() {
    // `n0` is in scope on elem2 in the first context only; `n3` is in scope in the first context on
    // elem2 (from the apex), so it is rendered there and not again on n3:stuff. lxml.
    assert_eq!(
        c14n_of(EXC_EXAMPLE_1, "elem2", &["n0", "n3"]),
        r#"<n1:elem2 xmlns:n0="foo:bar" xmlns:n1="http://example.net" xmlns:n3="ftp://example.org" xml:lang="en">
       <n3:stuff></n3:stuff>
   </n1:elem2>"#
    );
    // Listed but not in scope: nothing to render, and no error.
    assert_eq!(c14n_of(EXC_EXAMPLE_2, "elem2", &["n0"]), EXC_ELEM2);
}

// --- Canonical XML 1.0 §3 ---

/// §3.2 Whitespace in Document Content: output equals input (there was nothing to change).
#[test]
fn c14n_3_2_whitespace_in_content_is_kept() {
    let input = "<doc>\n   <clean>   </clean>\n   <dirty>   A   B   </dirty>\n   <mixed>\n      A\n      \
                 <clean>   </clean>\n      B\n      <dirty>   A   B   </dirty>\n      C\n   </mixed>\n</doc>";
    assert_eq!(c14n(input), input);
    // ... and whitespace outside the document element is not output.
    assert_eq!(
        c14n(&format!("<?xml version=\"1.0\"?>\n\n{input}\n\n")),
        input
    );
}

/// §3.3 Start and End Tags, without the DTD (so `e9` gets no defaulted `attr`), with exclusive namespace
/// rendering: `xmlns:a` on e6/e8/e9 is not visibly utilised, so it is dropped; `xmlns=""` on e8 undoes
/// e7's default, the redundant one on e9 is not repeated. lxml.
#[test]
fn c14n_3_3_start_and_end_tags() {
    let input = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
    let exclusive = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6>
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
    assert_eq!(c14n(input), exclusive);
    // With `a` listed it renders as in the specification's (inclusive) output. lxml.
    let doc = parse(input);
    let listed = String::from_utf8(exclusive_c14n(doc.root(), &["a"], None).unwrap()).unwrap();
    assert_eq!(
        listed,
        exclusive
            .replace("<e6>", r#"<e6 xmlns:a="http://www.w3.org">"#)
            .replace("<e9>", r#"<e9 xmlns:a="http://www.ietf.org">"#)
    );
}

/// §3.4 Character Modifications and Character References, without the DTD: `normNames` and `normId`
/// are then CDATA attributes, normalised like `norm`.
#[test]
fn c14n_3_4_character_modifications() {
    let input = r#"<doc>
   <text>First line&#x0d;&#10;Second line</text>
   <value>&#x32;</value>
   <compute><![CDATA[value>"0" && value<"10" ?"valid":"error"]]></compute>
   <compute expr='value>"0" &amp;&amp; value&lt;"10" ?"valid":"error"'>valid</compute>
   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>
   <normNames attr='   A   &#x20;&#13;&#xa;&#9;   B   '/>
   <normId id=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>
</doc>"#;
    let expected = r#"<doc>
   <text>First line&#xD;
Second line</text>
   <value>2</value>
   <compute>value&gt;"0" &amp;&amp; value&lt;"10" ?"valid":"error"</compute>
   <compute expr="value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;">valid</compute>
   <norm attr=" '    &#xD;&#xA;&#x9;   ' "></norm>
   <normNames attr="   A    &#xD;&#xA;&#x9;   B   "></normNames>
   <normId id=" '    &#xD;&#xA;&#x9;   ' "></normId>
</doc>"#;
    assert_eq!(c14n(input), expected);
}

/// §3.6 UTF-8 Encoding: a character reference comes out as UTF-8 (the reader accepts UTF-8 input only,
/// so the specification's ISO-8859-1 declaration is left out).
#[test]
fn c14n_3_6_utf8_output() {
    assert_eq!(c14n("<doc>&#169;</doc>").as_bytes(), b"<doc>\xC2\xA9</doc>");
}

// --- SAML shapes ---

const SIGNED_RESPONSE: &str = r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0">
  <saml:Issuer>https://idp.example.com</saml:Issuer>
  <saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_a1" Version="2.0">
    <saml:Issuer>https://idp.example.com</saml:Issuer>
    <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:Reference URI="#_a1"/></ds:SignedInfo></ds:Signature>
    <saml:Subject><saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">alice@example.com</saml:NameID></saml:Subject>
    <saml:AttributeStatement>
      <saml:Attribute Name="mail"><saml:AttributeValue xsi:type="xs:string">alice@example.com</saml:AttributeValue></saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>"##;

/// The assertion as a signature over it covers: only `saml` on the Assertion (`samlp` is the
/// Response's), no redundant `saml` on NameID, `xsi` where the attribute uses it, `xs` (used only in an
/// attribute *value*) dropped without a PrefixList, and the enveloped `ds:Signature` gone with its
/// namespace. lxml (with the Signature removed from the tree first).
#[test]
fn saml_assertion_inside_a_response_with_enveloped_signature_excluded() {
    let doc = parse(SIGNED_RESPONSE);
    let assertion = doc.element_by_id("_a1").unwrap();
    let signature = find(assertion, "Signature").unwrap();
    let out = exclusive_c14n(assertion, &[], Some(signature)).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0">
    <saml:Issuer>https://idp.example.com</saml:Issuer>
    
    <saml:Subject><saml:NameID>alice@example.com</saml:NameID></saml:Subject>
    <saml:AttributeStatement>
      <saml:Attribute Name="mail"><saml:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">alice@example.com</saml:AttributeValue></saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>"#
    );
    // The PrefixList `xs` (what IdPs send) keeps the prefix the attribute value names, on the apex. lxml.
    let out = exclusive_c14n(assertion, &["xs"], Some(signature)).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="_a1" Version="2.0">"#
    ));
    assert_eq!(out.matches("xmlns:xs=").count(), 1);
    // Without the exclusion the Signature is there, with its own `ds`.
    let out = exclusive_c14n(assertion, &[], None).unwrap();
    assert!(String::from_utf8(out).unwrap().contains(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:Reference URI="#_a1"></ds:Reference></ds:SignedInfo></ds:Signature>"##
    ));
}

#[test]
fn the_whole_response_renders_both_prefixes_once() {
    let doc = parse(SIGNED_RESPONSE);
    let out = String::from_utf8(exclusive_c14n(doc.root(), &[], None).unwrap()).unwrap();
    assert!(out.starts_with(r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0">
  <saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">"#));
    // Not inherited from an output ancestor that did not render it: each sibling renders `saml`.
    assert!(out.contains(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1""#
    ));
}

#[test]
fn default_namespace_and_its_undeclaration() {
    // A default namespace is rendered where an unprefixed element uses it, not where a prefixed one
    // sits; `xmlns=""` only where an output ancestor rendered a non-empty default. lxml.
    let xml =
        r#"<a xmlns="urn:d" xmlns:p="urn:p"><p:b><c/><d xmlns=""><e/></d></p:b><f xmlns=""/></a>"#;
    assert_eq!(
        c14n(xml),
        r#"<a xmlns="urn:d"><p:b xmlns:p="urn:p"><c></c><d xmlns=""><e></e></d></p:b><f xmlns=""></f></a>"#
    );
    // The subtree at p:b: the default is in scope but not rendered on p:b; c renders it. lxml.
    assert_eq!(
        c14n_of(xml, "b", &[]),
        r#"<p:b xmlns:p="urn:p"><c xmlns="urn:d"></c><d><e></e></d></p:b>"#
    );
    // `#default` listed: rendered on p:b itself, as inclusive c14n would; then `xmlns=""` on d, whose
    // output ancestor has a default in effect. lxml, given the prefix as `""` (through lxml,
    // `"#default"` changed nothing).
    assert_eq!(
        c14n_of(xml, "b", &["#default"]),
        r#"<p:b xmlns="urn:d" xmlns:p="urn:p"><c></c><d xmlns=""><e></e></d></p:b>"#
    );
    // An apex without a default namespace gets no `xmlns=""`.
    assert_eq!(c14n_of(xml, "d", &[]), "<d><e></e></d>");
}

#[test]
fn a_prefix_rebound_below_is_rendered_again() {
    let xml = r#"<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:2"><p:c xmlns:p="urn:1"/></p:b></p:a>"#;
    assert_eq!(
        c14n(xml),
        r#"<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:2"><p:c xmlns:p="urn:1"></p:c></p:b></p:a>"#
    );
}

// --- Ordering and escaping ---

#[test]
fn namespaces_by_prefix_then_attributes_by_uri_and_local_name() {
    // Attributes by (URI, local name), unqualified first: `xml:lang` (its URI starts `http:`) before
    // `z:a` (`urn:a`) before `b:b` and `b:c` (`urn:b`), whatever the prefixes say. Declarations by
    // prefix, the default first. lxml.
    let xml = r#"<e xmlns:z="urn:a" b:c="3" xmlns="urn:d" z:a="2" xml:lang="en" b:b="1" y="0" x="0" xmlns:b="urn:b"/>"#;
    assert_eq!(
        c14n(xml),
        r#"<e xmlns="urn:d" xmlns:b="urn:b" xmlns:z="urn:a" x="0" y="0" xml:lang="en" z:a="2" b:b="1" b:c="3"></e>"#
    );
}

#[test]
fn every_special_character_is_escaped() {
    let xml = "<e a=\"&amp;&lt;&gt;&quot;&apos;&#9;&#10;&#13;\">&amp;&lt;&gt;\"'&#9;&#10;&#13;</e>";
    assert_eq!(
        c14n(xml),
        "<e a=\"&amp;&lt;>&quot;'&#x9;&#xA;&#xD;\">&amp;&lt;&gt;\"'\t\n&#xD;</e>"
    );
    // Literal whitespace in an attribute value is normalised to spaces by the parser (XML 1.0 §3.3.3).
    assert_eq!(c14n("<e a=\"x\ty\nz\"/>"), "<e a=\"x y z\"></e>");
    // A namespace URI is escaped like an attribute value.
    assert_eq!(
        c14n(r#"<p:e xmlns:p="urn:a&amp;b&quot;c"/>"#),
        r#"<p:e xmlns:p="urn:a&amp;b&quot;c"></p:e>"#
    );
}

#[test]
fn non_ascii_passes_through_as_utf8_and_comments_go() {
    let xml = "<n\u{e9}:\u{e9}l\u{e8}ve xmlns:n\u{e9}=\"urn:\u{e9}\" \u{fc}=\"\u{1f600}\"><!-- gone -->caf\u{e9} \u{65e5}\u{672c}<![CDATA[<\u{e9}>]]></n\u{e9}:\u{e9}l\u{e8}ve>";
    assert_eq!(
        c14n(xml),
        "<n\u{e9}:\u{e9}l\u{e8}ve xmlns:n\u{e9}=\"urn:\u{e9}\" \u{fc}=\"\u{1f600}\">caf\u{e9} \u{65e5}\u{672c}&lt;\u{e9}&gt;</n\u{e9}:\u{e9}l\u{e8}ve>"
    );
}

#[test]
fn whitespace_in_tags_and_single_quotes_are_normalised() {
    assert_eq!(
        c14n("<p:e\n\txmlns:p='urn:p'\r\n  p:a = 'v' ></p:e\n>"),
        r#"<p:e xmlns:p="urn:p" p:a="v"></p:e>"#
    );
}

// --- Refusals ---

#[test]
fn refusals_have_codes() {
    let doc = parse(SIGNED_RESPONSE);
    let assertion = doc.element_by_id("_a1").unwrap();
    for bad in ["a:b", "", "1x", "#Default", "x y"] {
        let err = exclusive_c14n(assertion, &[bad], None).unwrap_err();
        assert_eq!(err, C14nError::InvalidPrefix(bad.into()));
        assert_eq!(err.code(), "saml_c14n_invalid_prefix");
    }
    // The element to exclude must be inside: a sibling, the apex itself, or an ancestor are refused.
    let issuer = find(doc.root(), "Issuer").unwrap();
    for outside in [issuer, assertion, doc.root()] {
        let err = exclusive_c14n(assertion, &[], Some(outside)).unwrap_err();
        assert_eq!(err.code(), "saml_c14n_excluded_outside");
    }
    // An element of another document is not inside either.
    let other = parse(SIGNED_RESPONSE);
    let foreign = find(other.root(), "Signature").unwrap();
    let err = exclusive_c14n(doc.root(), &[], Some(foreign)).unwrap_err();
    assert_eq!(err, C14nError::ExcludedOutside);
}

// --- Properties ---

/// A generated element: a name prefix index (0 = none), namespace declarations, attributes, children.
#[derive(Clone, Debug)]
struct Gen {
    prefix: usize,
    declarations: Vec<(usize, usize)>,
    attributes: Vec<(usize, usize, String)>,
    children: Vec<Child>,
}

#[derive(Clone, Debug)]
enum Child {
    Element(Gen),
    Text(String),
    Cdata(String),
    Comment,
}

const PREFIXES: [&str; 4] = ["", "a", "b", "\u{e9}"];
const URIS: [&str; 4] = ["urn:x", "urn:y", "http://e.example/?q=1&amp;r=&quot;", ""];
const LOCALS: [&str; 3] = ["k", "l", "m"];

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z \t\n\r&<>\"'\u{e9}\u{1f600}]{0,8}").unwrap()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
        .replace('\n', "&#10;")
}

fn element() -> impl Strategy<Value = Gen> {
    let leaf = (
        0..4usize,
        prop::collection::vec((0..4usize, 0..4usize), 0..3),
        prop::collection::vec((0..4usize, 0..3usize, text()), 0..3),
    )
        .prop_map(|(prefix, declarations, attributes)| Gen {
            prefix,
            declarations,
            attributes,
            children: Vec::new(),
        });
    leaf.prop_recursive(4, 24, 4, |inner| {
        (
            0..4usize,
            prop::collection::vec((0..4usize, 0..4usize), 0..3),
            prop::collection::vec((0..4usize, 0..3usize, text()), 0..3),
            prop::collection::vec(
                prop_oneof![
                    inner.prop_map(Child::Element),
                    text().prop_map(Child::Text),
                    text().prop_map(|t| Child::Cdata(t.replace("]]>", ""))),
                    Just(Child::Comment),
                ],
                0..4,
            ),
        )
            .prop_map(|(prefix, declarations, attributes, children)| Gen {
                prefix,
                declarations,
                attributes,
                children,
            })
    })
}

/// Writes `g` as well-formed XML (declaring a used prefix that is not in scope); `scope` is the set of
/// prefixes declared by ancestors.
fn write(g: &Gen, scope: &[usize], out: &mut String) {
    let mut declared: Vec<usize> = Vec::new();
    let mut decls = String::new();
    for &(p, u) in &g.declarations {
        // A prefixed declaration with an empty URI is not namespace-well-formed; skip it.
        if declared.contains(&p) || (p != 0 && URIS[u].is_empty()) {
            continue;
        }
        declared.push(p);
        let name = if p == 0 {
            "xmlns".to_owned()
        } else {
            format!("xmlns:{}", PREFIXES[p])
        };
        decls.push_str(&format!(" {name}=\"{}\"", URIS[u]));
    }
    let mut used = vec![g.prefix];
    used.extend(g.attributes.iter().map(|a| a.0).filter(|&p| p != 0));
    for p in used {
        if p != 0 && !declared.contains(&p) && !scope.contains(&p) {
            declared.push(p);
            decls.push_str(&format!(" xmlns:{}=\"urn:x\"", PREFIXES[p]));
        }
    }
    let qname = |p: usize, l: &str| {
        if p == 0 {
            l.to_owned()
        } else {
            format!("{}:{l}", PREFIXES[p])
        }
    };
    let name = qname(g.prefix, "e");
    out.push_str(&format!("<{name}{decls}"));
    let mut seen = Vec::new();
    for (p, l, v) in &g.attributes {
        if seen.contains(&(*p, *l)) {
            continue;
        }
        seen.push((*p, *l));
        out.push_str(&format!(" {}=\"{}\"", qname(*p, LOCALS[*l]), escape(v)));
    }
    out.push('>');
    let inner: Vec<usize> = scope.iter().chain(&declared).copied().collect();
    for child in &g.children {
        match child {
            Child::Element(e) => write(e, &inner, out),
            Child::Text(t) => out.push_str(&escape(t)),
            Child::Cdata(t) => out.push_str(&format!("<![CDATA[{t}]]>")),
            Child::Comment => out.push_str("<!-- c -->"),
        }
    }
    out.push_str(&format!("</{name}>"));
}

/// `element` and its descendants, in document order.
fn elements<'a, 'i>(element: XmlElement<'a, 'i>) -> Vec<XmlElement<'a, 'i>> {
    let mut all = vec![element];
    for child in element.children() {
        all.extend(elements(child));
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Never panics; canonicalising the parse of the output (from its root) gives the same bytes, for
    /// any apex, any PrefixList and any excluded descendant.
    #[test]
    fn canonical_output_is_a_fixed_point(
        g in element(),
        pick in any::<prop::sample::Index>(),
        drop in any::<prop::sample::Index>(),
        list in prop::sample::subsequence(vec!["a", "b", "\u{e9}", "#default", "zz"], 0..3),
    ) {
        let mut xml = String::new();
        write(&g, &[], &mut xml);
        // Two attributes can still collide once prefixes are resolved (a:k and b:k bound to one URI).
        let Ok(doc) = UntrustedXml::parse(xml.as_bytes(), Limits::MESSAGE) else { return Ok(()) };
        let all = elements(doc.root());
        let apex = all[pick.index(all.len())];
        // Any element strictly below the apex, or none.
        let below = elements(apex);
        let excluded = below.get(1..).filter(|b| !b.is_empty()).map(|b| b[drop.index(b.len())]);
        let once = exclusive_c14n(apex, &list, excluded).unwrap();
        let again_doc = UntrustedXml::parse(&once, Limits::MESSAGE).unwrap();
        let twice = exclusive_c14n(again_doc.root(), &list, None).unwrap();
        prop_assert_eq!(String::from_utf8(once).unwrap(), String::from_utf8(twice).unwrap());
    }
}

#[test]
fn a_prefix_list_is_bounded() {
    let xml = r#"<a xmlns:p="u"><p:b/></a>"#;
    let doc = parse(xml);
    let seventeen: Vec<String> = (0..17).map(|i| format!("p{i}")).collect();
    let list: Vec<&str> = seventeen.iter().map(String::as_str).collect();
    let e = tessera_saml::exclusive_c14n(doc.root(), &list, None).unwrap_err();
    assert_eq!(e.code().as_str(), "saml_c14n_invalid_prefix");
    assert!(tessera_saml::exclusive_c14n(doc.root(), list.get(..16).unwrap(), None).is_ok());
}
