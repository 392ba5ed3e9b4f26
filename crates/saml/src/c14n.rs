//! Exclusive XML canonicalisation of one element subtree, as XML-DSig uses it for SAML.
//!
//! Implements *Exclusive XML Canonicalization 1.0* (W3C Recommendation, 18 July 2002;
//! `http://www.w3.org/2001/10/xml-exc-c14n#`) **without comments**, with its `InclusiveNamespaces`
//! `PrefixList`, over the document subset "this element and all its descendants, minus one excluded
//! descendant" — the only subsets a SAML signature reference produces (`URI="#id"` followed by the
//! enveloped-signature transform). The `#WithComments` variant is not offered: the signature step refuses
//! it by its URI.
//!
//! The serialisation rules are those of *Canonical XML 1.0* §2.3 and §1.1 as exc-c14n §3 amends them:
//! - no XML declaration, no comments, no processing instructions (the reader refuses those anyway);
//!   nothing outside the subtree (not even the whitespace around it);
//! - an element is written `<qname` + namespace declarations + attributes + `>` ... `</qname>`, an empty
//!   element as a start/end tag pair; names keep the prefixes written in the source;
//! - namespace declarations sorted by prefix, the default namespace first; attributes sorted by
//!   namespace URI, then local name, unqualified attributes first (URI and name compared by code point);
//! - text: `&`, `<`, `>` and #xD escaped; CDATA sections become escaped text; attribute values (already
//!   normalised by the parser per XML 1.0 §3.3.3): `&`, `<`, `"`, #x9, #xA, #xD escaped;
//! - everything UTF-8 (the reader accepts UTF-8 documents only; character references are expanded).
//!
//! Namespace rendering (exc-c14n §3): a namespace node whose prefix is *not* in the `PrefixList` is
//! written on an element only when it is *visibly utilised* there — the element's own prefix (the default
//! namespace for an unprefixed element), or an attribute's prefix — and the nearest output ancestor has
//! not already put the same prefix with the same value in effect. A prefix that *is* in the `PrefixList`
//! (`#default` naming the default namespace) is treated as by inclusive c14n: written wherever it is in
//! scope and not already in effect with that value. `xmlns=""` is written on an element that has no
//! default namespace when the default namespace is visibly utilised (or listed as `#default`) and an
//! output ancestor put a non-empty one in effect. The `xml` namespace is never declared, and `xml:*`
//! attributes are *not* inherited from ancestors (unlike inclusive c14n). Namespace nodes are the
//! element's in-scope namespaces, so where the source declared them — redundantly or not — changes
//! nothing.
//!
//! A `PrefixList` entry naming a prefix not in scope is **not an error**: exc-c14n §3 only says the
//! listed prefixes are handled as in Canonical XML, and a prefix without a namespace node has nothing to
//! render (identity providers routinely list `xs` or `xsd` whether or not the signed element uses it). An
//! entry that is not an `NCName` or `#default` is refused ([`C14nError::InvalidPrefix`]): the schema of
//! `PrefixList` is `xsd:NMTOKENS`, and an entry such as `a:b` names no prefix, so a caller passing one
//! has misread the list.

use roxmltree::{Attribute, Node, NodeType};
use tessera_proto::Code;

use crate::reader::XmlElement;

/// Why a subtree could not be canonicalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum C14nError {
    /// An `InclusiveNamespaces` `PrefixList` entry that is neither an `NCName` nor `#default`.
    InvalidPrefix(String),
    /// The element to exclude is not a descendant of the element being canonicalised.
    ExcludedOutside,
    /// A name could not be read back from the document's text (not expected of a parsed document).
    NameUnreadable(String),
}

impl C14nError {
    /// The stable code for this refusal.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidPrefix(_) => Code::SamlC14nInvalidPrefix,
            Self::ExcludedOutside => Code::SamlC14nExcludedOutside,
            Self::NameUnreadable(_) => Code::SamlC14nNameUnreadable,
        }
    }
}

impl std::fmt::Display for C14nError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidPrefix(p) => write!(f, "`{p}` is not a namespace prefix or `#default`"),
            Self::ExcludedOutside => {
                f.write_str("the excluded element is not inside the canonicalised element")
            }
            Self::NameUnreadable(name) => write!(f, "the name of `{name}` cannot be read back"),
        }
    }
}

impl std::error::Error for C14nError {}

/// The `PrefixList` entries: prefixes treated as by inclusive c14n.
/// The most `PrefixList` entries accepted (identity providers list two or three; each entry costs a
/// look-up per namespace node of every element, so the list is bounded).
pub const MAX_PREFIX_LIST: usize = 16;

struct PrefixList<'p> {
    default: bool,
    prefixes: Vec<&'p str>,
}

impl<'p> PrefixList<'p> {
    fn new(entries: &[&'p str]) -> Result<Self, C14nError> {
        if entries.len() > MAX_PREFIX_LIST {
            return Err(C14nError::InvalidPrefix(format!(
                "{} entries, more than the {MAX_PREFIX_LIST} accepted",
                entries.len()
            )));
        }
        let mut list = Self {
            default: false,
            prefixes: Vec::new(),
        };
        for &entry in entries {
            if entry == "#default" {
                list.default = true;
            } else if is_ncname(entry) {
                list.prefixes.push(entry);
            } else {
                return Err(C14nError::InvalidPrefix(entry.to_owned()));
            }
        }
        Ok(list)
    }

    /// Whether `prefix` (`""` for the default namespace) is listed.
    fn contains(&self, prefix: &str) -> bool {
        if prefix.is_empty() {
            self.default
        } else {
            self.prefixes.contains(&prefix)
        }
    }
}

/// Whether `s` is an XML `NCName`, leniently for non-ASCII (any non-ASCII character is taken as a name
/// character: the parser has checked every name in the document, and a list entry only matches one).
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || !first.is_ascii())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || !c.is_ascii())
}

/// One step of the walk: open a node, or close an element (with its qualified name and the length the
/// in-effect namespace stack had before it).
enum Step<'a, 'input> {
    Open(Node<'a, 'input>),
    Close(&'input str, usize),
}

/// Canonicalises `element` and its descendants with exclusive c14n (without comments), leaving out
/// `exclude` (and its descendants) if given. `inclusive_prefixes` is the `InclusiveNamespaces`
/// `PrefixList`, already split on whitespace (`#default` for the default namespace).
///
/// The walk is iterative, so nesting depth costs heap, not stack.
pub fn exclusive_c14n<'a, 'input: 'a>(
    element: XmlElement<'a, 'input>,
    inclusive_prefixes: &[&str],
    exclude: Option<XmlElement<'a, 'input>>,
) -> Result<Vec<u8>, C14nError> {
    let list = PrefixList::new(inclusive_prefixes)?;
    let apex = element.node();
    let excluded = exclude.map(|e| e.node());
    if let Some(excluded) = excluded {
        let inside = excluded.ancestors().skip(1).any(|a| a == apex);
        if !inside {
            return Err(C14nError::ExcludedOutside);
        }
    }
    let text = apex.document().input_text();
    let mut out = Vec::with_capacity(apex.range().len());
    // (prefix, namespace URI) pairs in effect in the output, innermost last; `""` is the default.
    let mut in_effect: Vec<(&'a str, &'a str)> = Vec::new();
    let mut steps = vec![Step::Open(apex)];
    while let Some(step) = steps.pop() {
        match step {
            Step::Close(qname, depth) => {
                out.extend_from_slice(b"</");
                out.extend_from_slice(qname.as_bytes());
                out.push(b'>');
                in_effect.truncate(depth);
            }
            Step::Open(node) => match node.node_type() {
                NodeType::Element if Some(node) != excluded => {
                    let depth = in_effect.len();
                    let qname = start_tag(node, text, &list, &mut in_effect, &mut out)?;
                    steps.push(Step::Close(qname, depth));
                    steps.extend(node.children().rev().map(Step::Open));
                }
                NodeType::Text => escape_text(node.text().unwrap_or(""), &mut out),
                // The excluded element, comments, and processing instructions (refused by the reader).
                _ => {}
            },
        }
    }
    Ok(out)
}

/// Writes the start tag of `node`, pushes the namespaces it renders onto `in_effect`, and returns its
/// qualified name for the end tag.
fn start_tag<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    text: &'input str,
    list: &PrefixList<'_>,
    in_effect: &mut Vec<(&'a str, &'a str)>,
    out: &mut Vec<u8>,
) -> Result<&'input str, C14nError> {
    let (qname, prefix) = element_name(node, text)?;
    // Prefixes visibly utilised: the element's (`""`: the default namespace) and its attributes'.
    let mut utilised = vec![prefix];
    // (namespace URI, local name, qualified name, value), sorted below.
    let mut attributes = Vec::new();
    for attribute in node.attributes() {
        let (attr_qname, attr_prefix) = attribute_name(&attribute, text)?;
        if !attr_prefix.is_empty() {
            utilised.push(attr_prefix);
        }
        attributes.push((
            attribute.namespace().unwrap_or(""),
            attribute.name(),
            attr_qname,
            attribute.value(),
        ));
    }
    let current = |prefix: &str, in_effect: &[(&'a str, &'a str)]| {
        in_effect
            .iter()
            .rev()
            .find(|(p, _)| *p == prefix)
            .map(|(_, uri)| *uri)
    };
    let mut declarations: Vec<(&'a str, &'a str)> = Vec::new();
    let mut has_default = false;
    for namespace in node.namespaces() {
        let ns_prefix = namespace.name().unwrap_or("");
        let uri = namespace.uri();
        // `xml` is never declared; `xmlns=""` in scope means "no default namespace node".
        if ns_prefix == "xml" || (ns_prefix.is_empty() && uri.is_empty()) {
            continue;
        }
        has_default |= ns_prefix.is_empty();
        let wanted = list.contains(ns_prefix) || utilised.contains(&ns_prefix);
        if wanted && current(ns_prefix, in_effect) != Some(uri) {
            declarations.push((ns_prefix, uri));
        }
    }
    let default_wanted = prefix.is_empty() || list.default;
    if !has_default && default_wanted && current("", in_effect).is_some_and(|u| !u.is_empty()) {
        declarations.push(("", ""));
    }
    declarations.sort_unstable_by(|a, b| a.0.cmp(b.0));
    attributes.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

    out.push(b'<');
    out.extend_from_slice(qname.as_bytes());
    for &(ns_prefix, uri) in &declarations {
        if ns_prefix.is_empty() {
            out.extend_from_slice(b" xmlns=\"");
        } else {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(ns_prefix.as_bytes());
            out.extend_from_slice(b"=\"");
        }
        escape_attribute(uri, out);
        out.push(b'"');
    }
    for (_, _, attr_qname, value) in attributes {
        out.push(b' ');
        out.extend_from_slice(attr_qname.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attribute(value, out);
        out.push(b'"');
    }
    out.push(b'>');
    in_effect.extend(declarations);
    Ok(qname)
}

/// An element's qualified name as written, and its prefix (`""` if none): the text after `<` up to the
/// first whitespace, `/` or `>` (`roxmltree` keeps only the namespace URI and the local name).
fn element_name<'input>(
    node: Node<'_, 'input>,
    text: &'input str,
) -> Result<(&'input str, &'input str), C14nError> {
    let local = node.tag_name().name();
    let after_lt = text
        .get(node.range().start..)
        .and_then(|rest| rest.strip_prefix('<'));
    split_qname(after_lt, |c| c == '/' || c == '>', local)
}

/// An attribute's qualified name as written, and its prefix: the text of the attribute up to the first
/// whitespace or `=` (its full range is kept exactly, unlike `range_qname`, which is capped at 64 KiB).
fn attribute_name<'input>(
    attribute: &Attribute<'_, 'input>,
    text: &'input str,
) -> Result<(&'input str, &'input str), C14nError> {
    let rest = text.get(attribute.range().start..);
    split_qname(rest, |c| c == '=', attribute.name())
}

/// Cuts the qualified name at the start of `rest` and checks that it is `local` or `prefix:local`.
fn split_qname<'input>(
    rest: Option<&'input str>,
    stop: impl Fn(char) -> bool,
    local: &str,
) -> Result<(&'input str, &'input str), C14nError> {
    let unreadable = || C14nError::NameUnreadable(local.to_owned());
    let rest = rest.ok_or_else(unreadable)?;
    let end = rest
        .find(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r') || stop(c))
        .unwrap_or(rest.len());
    let qname = rest.get(..end).ok_or_else(unreadable)?;
    if qname == local {
        return Ok((qname, ""));
    }
    let prefix = qname
        .strip_suffix(local)
        .and_then(|p| p.strip_suffix(':'))
        .filter(|p| !p.is_empty() && !p.contains(':'))
        .ok_or_else(unreadable)?;
    Ok((qname, prefix))
}

/// Text content: `&` `<` `>` and #xD escaped (C14N 1.0 §2.3, text nodes).
fn escape_text(text: &str, out: &mut Vec<u8>) {
    escape(text, out, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\r' => Some("&#xD;"),
        _ => None,
    });
}

/// An attribute value or namespace URI: `&` `<` `"` #x9 #xA #xD escaped (C14N 1.0 §2.3, attribute nodes).
fn escape_attribute(value: &str, out: &mut Vec<u8>) {
    escape(value, out, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '"' => Some("&quot;"),
        '\t' => Some("&#x9;"),
        '\n' => Some("&#xA;"),
        '\r' => Some("&#xD;"),
        _ => None,
    });
}

/// Copies `s` into `out`, replacing the characters `replacement` names, in runs for speed.
fn escape(s: &str, out: &mut Vec<u8>, replacement: impl Fn(char) -> Option<&'static str>) {
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        if let Some(escaped) = replacement(c) {
            out.extend_from_slice(s.get(run_start..i).unwrap_or("").as_bytes());
            out.extend_from_slice(escaped.as_bytes());
            run_start = i + c.len_utf8();
        }
    }
    out.extend_from_slice(s.get(run_start..).unwrap_or("").as_bytes());
}
