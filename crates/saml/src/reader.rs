//! The strict reader: one parse of an untrusted SAML document, with limits, and the only way the rest
//! of the crate reads values from it.
//!
//! [`UntrustedXml::parse`] refuses, before and while parsing with `roxmltree`: documents over
//! [`Limits::max_bytes`]; input that is not UTF-8 or whose XML declaration names another encoding; any
//! `DOCTYPE` (so no entities: no XXE, no billion laughs — `roxmltree` is also run with DTDs disallowed);
//! processing instructions (the XML declaration is not one); more than [`Limits::max_nodes`] nodes or
//! elements nested deeper than [`Limits::max_depth`]; and two identifier attributes with the same value
//! anywhere in the document (`ID`, `Id`, `id` and `xml:id` together: a signature reference must point at
//! exactly one element, whichever attribute another tool would resolve).
//!
//! Values are read through [`XmlElement::text`], which accepts only an element whose content is a single
//! text node (or nothing): a comment or a child element inside a value is refused rather than skipped,
//! which closes the NameID comment-truncation class (CVE-2017-11428: `user@evil.com<!---->.example.com`
//! read as `user@evil.com` by one parser and signed as the whole by another).

use std::collections::{HashMap, HashSet};

use roxmltree::{Document, Node, NodeId, NodeType, ParsingOptions};
use tessera_proto::Code;

/// Namespace names used by SAML 2.0 documents.
pub mod ns {
    /// SAML 2.0 metadata (`md:`).
    pub const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
    /// SAML 2.0 assertions (`saml:`).
    pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    /// SAML 2.0 protocol (`samlp:`).
    pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
    /// XML Signature (`ds:`).
    pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    /// The `xml:` prefix's namespace.
    pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
    /// Exclusive XML canonicalisation (its `InclusiveNamespaces` element lives in this namespace).
    pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    /// XML Encryption 1.0.
    pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
    /// XML Schema instance (`xsi:nil`, `xsi:type`).
    pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
}

/// Bounds on one document. Exceeding any is a refusal, never a truncation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The document's size in bytes.
    pub max_bytes: usize,
    /// Nodes of every kind (elements, attributes' owners, text, comments), as `roxmltree` counts them.
    pub max_nodes: u32,
    /// Elements nested inside one another (the root element is depth 1).
    pub max_depth: u32,
}

/// The most namespace declarations (`xmlns` in the text) a document may hold: Okta's responses, which
/// declare `xs` on every attribute value, hold about a hundred. The parser resolves every element's
/// prefixes against all those in scope, so their number is bounded before parsing.
pub const MAX_NAMESPACE_DECLARATIONS: usize = 256;
/// The most attribute values (`="` or `='` in the text) a document may hold; duplicate attributes are
/// found by comparing an element's attributes pairwise, so their number is bounded before parsing.
pub const MAX_ATTRIBUTES: usize = 4096;
/// The most namespaces in scope on one element (a SAML response uses six to eight: every canonical
/// form looks each one up).
pub const MAX_NAMESPACES_IN_SCOPE: usize = 24;

impl Limits {
    /// For a SAML protocol message (a `Response` with a signed assertion and a few dozen attributes is
    /// 10–30 KB and a few hundred nodes).
    pub const MESSAGE: Limits = Limits {
        max_bytes: 256 * 1024,
        max_nodes: 10_000,
        max_depth: 32,
    };
    /// For one identity provider's metadata (Entra ID's, with its WS-Federation roles, is ~25 KB).
    pub const METADATA: Limits = Limits {
        max_bytes: 1024 * 1024,
        max_nodes: 50_000,
        max_depth: 32,
    };
}

/// Why a document or a value in it was refused by the reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The document has more bytes than allowed.
    TooLarge { len: usize, max: usize },
    /// Not UTF-8, or the XML declaration names another encoding.
    Encoding(String),
    /// A `DOCTYPE` (document type declaration) is present.
    Doctype,
    /// A processing instruction other than the XML declaration is present.
    ProcessingInstruction,
    /// More nodes than allowed.
    TooManyNodes { max: u32 },
    /// More namespace declarations, attributes, or namespaces in scope than allowed (what costs the
    /// parser and the canonicaliser work per pair).
    TooManyDeclarations(String),
    /// Elements nested deeper than allowed.
    TooDeep { max: u32 },
    /// Not well-formed XML (or namespaces used wrongly); `roxmltree`'s description.
    Malformed(String),
    /// Two identifier attributes carry this value.
    DuplicateId(String),
    /// A required child element is absent.
    MissingElement { parent: String, name: &'static str },
    /// A child element that may appear once appears more often.
    DuplicateElement { parent: String, name: &'static str },
    /// A required attribute is absent.
    MissingAttribute { element: String, name: &'static str },
    /// A value holds something other than a single text node (a comment, a child element).
    ValueNotText { element: String },
}

impl ReadError {
    /// The stable code for this refusal.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::TooLarge { .. } => Code::SamlTooLarge,
            Self::Encoding(_) => Code::SamlUnsupportedEncoding,
            Self::Doctype => Code::SamlDoctype,
            Self::ProcessingInstruction => Code::SamlProcessingInstruction,
            Self::TooManyNodes { .. } | Self::TooManyDeclarations(_) => Code::SamlTooManyNodes,
            Self::TooDeep { .. } => Code::SamlTooDeep,
            Self::Malformed(_) => Code::SamlMalformedXml,
            Self::DuplicateId(_) => Code::SamlDuplicateId,
            Self::MissingElement { .. } => Code::SamlMissingElement,
            Self::DuplicateElement { .. } => Code::SamlDuplicateElement,
            Self::MissingAttribute { .. } => Code::SamlMissingAttribute,
            Self::ValueNotText { .. } => Code::SamlValueNotText,
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(f, "document is {len} bytes, more than the {max} allowed")
            }
            Self::Encoding(why) => write!(f, "unsupported encoding: {why}"),
            Self::Doctype => f.write_str("document type declarations (DOCTYPE) are not accepted"),
            Self::ProcessingInstruction => f.write_str("processing instructions are not accepted"),
            Self::TooManyNodes { max } => write!(f, "document has more than {max} nodes"),
            Self::TooManyDeclarations(what) => write!(f, "document has too many {what}"),
            Self::TooDeep { max } => write!(f, "elements are nested deeper than {max}"),
            Self::Malformed(why) => write!(f, "malformed XML: {why}"),
            Self::DuplicateId(id) => write!(f, "identifier `{id}` appears more than once"),
            Self::MissingElement { parent, name } => write!(f, "`{parent}` has no `{name}`"),
            Self::DuplicateElement { parent, name } => {
                write!(f, "`{parent}` has more than one `{name}`")
            }
            Self::MissingAttribute { element, name } => {
                write!(f, "`{element}` has no `{name}` attribute")
            }
            Self::ValueNotText { element } => write!(
                f,
                "the value of `{element}` is not plain text (a comment or an element is inside)"
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// A parsed document whose content nobody has vouched for yet. Parsing checked its shape and limits
/// only; trusting any of it is for the signature check.
pub struct UntrustedXml<'input> {
    doc: Document<'input>,
    /// Elements by their `ID` attribute (the one SAML's `Reference URI="#..."` names).
    ids: HashMap<String, NodeId>,
}

impl std::fmt::Debug for UntrustedXml<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UntrustedXml")
            .field("root", &self.root().local_name())
            .field("ids", &self.ids.len())
            .finish()
    }
}

impl<'input> UntrustedXml<'input> {
    /// Parses `bytes` under `limits`; see the module documentation for what is refused.
    pub fn parse(bytes: &'input [u8], limits: Limits) -> Result<Self, ReadError> {
        if bytes.len() > limits.max_bytes {
            return Err(ReadError::TooLarge {
                len: bytes.len(),
                max: limits.max_bytes,
            });
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ReadError::Encoding(format!("not UTF-8 ({e})")))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        check_prolog(text)?;
        check_counts(text)?;
        let options = ParsingOptions {
            allow_dtd: false,
            nodes_limit: limits.max_nodes,
            ..ParsingOptions::default()
        };
        let doc = Document::parse_with_options(text, options).map_err(|e| match e {
            roxmltree::Error::DtdDetected => ReadError::Doctype,
            roxmltree::Error::NodesLimitReached => ReadError::TooManyNodes {
                max: limits.max_nodes,
            },
            other => ReadError::Malformed(other.to_string()),
        })?;
        let ids = check_tree(&doc, limits)?;
        Ok(Self { doc, ids })
    }

    /// The document element.
    #[must_use]
    pub fn root(&self) -> XmlElement<'_, 'input> {
        XmlElement(self.doc.root_element())
    }

    /// The document's text (what positions and ranges index).
    #[must_use]
    pub fn text(&self) -> &'input str {
        self.doc.input_text()
    }

    /// The element whose `ID` attribute is `id` (unique: duplicates were refused at parse).
    #[must_use]
    pub fn element_by_id(&self, id: &str) -> Option<XmlElement<'_, 'input>> {
        let node = self.doc.get_node(*self.ids.get(id)?)?;
        Some(XmlElement(node))
    }
}

/// Checks what `roxmltree` lets through: a declared encoding other than UTF-8, and a `DOCTYPE` without
/// an internal subset (which `roxmltree` accepts even with DTDs disallowed).
fn check_prolog(text: &str) -> Result<(), ReadError> {
    let mut rest = text;
    if let Some(after) = rest.strip_prefix("<?xml") {
        if after.starts_with(|c: char| c.is_ascii_whitespace()) {
            let end = after
                .find("?>")
                .ok_or_else(|| ReadError::Malformed("unterminated XML declaration".into()))?;
            let (decl, tail) = after.split_at(end);
            if let Some(encoding) = declared_encoding(decl) {
                if !encoding.eq_ignore_ascii_case("UTF-8") {
                    return Err(ReadError::Encoding(format!("declared as `{encoding}`")));
                }
            }
            rest = tail.get(2..).unwrap_or("");
        }
    }
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if let Some(comment) = rest.strip_prefix("<!--") {
            let end = comment
                .find("-->")
                .ok_or_else(|| ReadError::Malformed("unterminated comment".into()))?;
            rest = comment.get(end + 3..).unwrap_or("");
        } else if rest.starts_with("<?") {
            return Err(ReadError::ProcessingInstruction);
        } else if rest.starts_with("<!DOCTYPE") {
            return Err(ReadError::Doctype);
        } else {
            return Ok(());
        }
    }
}

/// Bounds what the parser compares pairwise, before it runs: namespace declarations and attributes
/// (counted in the text, so a count is an upper bound: text that merely looks like one counts too).
fn check_counts(text: &str) -> Result<(), ReadError> {
    let declarations = text.matches("xmlns").count();
    if declarations > MAX_NAMESPACE_DECLARATIONS {
        return Err(ReadError::TooManyDeclarations(format!(
            "namespace declarations ({declarations}, at most {MAX_NAMESPACE_DECLARATIONS})"
        )));
    }
    let attributes = text.matches("=\"").count() + text.matches("='").count();
    if attributes > MAX_ATTRIBUTES {
        return Err(ReadError::TooManyDeclarations(format!(
            "attributes ({attributes}, at most {MAX_ATTRIBUTES})"
        )));
    }
    Ok(())
}

/// The `encoding` pseudo-attribute of an XML declaration's body, if present.
fn declared_encoding(decl: &str) -> Option<&str> {
    let after = decl.get(decl.find("encoding")? + "encoding".len()..)?;
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = after.get(1..)?;
    value.get(..value.find(quote)?)
}

/// Walks the tree once, in document order: depth (each element's is its parent's plus one, kept by
/// node index, so a deep document costs no more than a wide one), processing instructions, identifier
/// uniqueness.
fn check_tree(doc: &Document<'_>, limits: Limits) -> Result<HashMap<String, NodeId>, ReadError> {
    let mut depths: HashMap<NodeId, u32> = HashMap::new();
    let mut seen = HashSet::new();
    let mut ids = HashMap::new();
    for node in doc.root().descendants() {
        if node.node_type() == NodeType::PI {
            return Err(ReadError::ProcessingInstruction);
        }
        if !node.is_element() {
            continue;
        }
        let parent_depth = node
            .parent()
            .and_then(|p| depths.get(&p.id()).copied())
            .unwrap_or(0);
        let depth = parent_depth + 1;
        if depth > limits.max_depth {
            return Err(ReadError::TooDeep {
                max: limits.max_depth,
            });
        }
        depths.insert(node.id(), depth);
        let in_scope = node.namespaces().len();
        if in_scope > MAX_NAMESPACES_IN_SCOPE {
            return Err(ReadError::TooManyDeclarations(format!(
                "namespaces in scope on `{}` ({in_scope}, at most {MAX_NAMESPACES_IN_SCOPE})",
                node.tag_name().name()
            )));
        }
        // XML Namespaces 1.0 §3: a prefix cannot be bound to the empty name (`xmlns:p=""`; only the
        // default namespace can be undeclared). `roxmltree` accepts it; a canonical form of it would be
        // a document no other parser reads the same way.
        if let Some(prefix) = node
            .namespaces()
            .find(|n| n.name().is_some() && n.uri().is_empty())
            .and_then(|n| n.name())
        {
            return Err(ReadError::Malformed(format!(
                "the prefix `{prefix}` is bound to an empty namespace name"
            )));
        }
        for attr in node.attributes() {
            let is_id = match attr.namespace() {
                None => matches!(attr.name(), "ID" | "Id" | "id"),
                Some(namespace) => namespace == ns::XML && attr.name() == "id",
            };
            if !is_id {
                continue;
            }
            if !seen.insert(attr.value()) {
                return Err(ReadError::DuplicateId(attr.value().to_owned()));
            }
            if attr.namespace().is_none() && attr.name() == "ID" {
                ids.insert(attr.value().to_owned(), node.id());
            }
        }
    }
    Ok(ids)
}

/// The bytes of an XML base64 value (`ds:X509Certificate`, `DigestValue`, `SignatureValue`,
/// `CipherValue`): XML whitespace inside is allowed and dropped, as XML Schema's `base64Binary` allows.
/// `None` when it is not base64.
pub(crate) fn base64_text(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()
}

/// An element of an [`UntrustedXml`] document, with the strict accessors. Two are equal when they are
/// the same node of the same document.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct XmlElement<'a, 'input>(Node<'a, 'input>);

impl std::fmt::Debug for XmlElement<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "XmlElement({})", self.0.tag_name().name())
    }
}

impl<'a, 'input: 'a> XmlElement<'a, 'input> {
    /// The local name (without prefix).
    #[must_use]
    pub fn local_name(&self) -> &'a str {
        self.0.tag_name().name()
    }

    /// The namespace name, if any.
    #[must_use]
    pub fn namespace(&self) -> Option<&'a str> {
        self.0.tag_name().namespace()
    }

    /// Whether this element is `{namespace}local`.
    #[must_use]
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.namespace() == Some(namespace) && self.local_name() == local
    }

    /// An attribute without a namespace (`ID`, `entityID`, `Location`, ...).
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&'a str> {
        self.0
            .attributes()
            .find(|a| a.namespace().is_none() && a.name() == name)
            .map(|a| a.value())
    }

    /// An attribute in a namespace (`xsi:nil`).
    #[must_use]
    pub fn attribute_ns(&self, namespace: &str, name: &str) -> Option<&'a str> {
        self.0
            .attributes()
            .find(|a| a.namespace() == Some(namespace) && a.name() == name)
            .map(|a| a.value())
    }

    /// An attribute that must be present.
    pub fn required_attribute(&self, name: &'static str) -> Result<&'a str, ReadError> {
        self.attribute(name)
            .ok_or_else(|| ReadError::MissingAttribute {
                element: self.local_name().to_owned(),
                name,
            })
    }

    /// The parent element, if this is not the document element.
    #[must_use]
    pub fn parent(&self) -> Option<Self> {
        self.0.parent_element().map(XmlElement)
    }

    /// The child elements, in document order.
    pub fn children(&self) -> impl Iterator<Item = XmlElement<'a, 'input>> + 'a {
        self.0.children().filter(Node::is_element).map(XmlElement)
    }

    /// Every element below this one (not this one), in document order.
    pub fn descendants(&self) -> impl Iterator<Item = XmlElement<'a, 'input>> + 'a {
        self.0
            .descendants()
            .skip(1)
            .filter(Node::is_element)
            .map(XmlElement)
    }

    /// The byte range of this element in the document's text (start tag to end tag).
    #[must_use]
    pub fn range(&self) -> core::ops::Range<usize> {
        self.0.range()
    }

    /// The child elements named `{namespace}local`, in document order.
    pub fn children_named(
        &self,
        namespace: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = XmlElement<'a, 'input>> + 'a {
        self.children().filter(move |c| c.is(namespace, local))
    }

    /// The one child named `{namespace}local`, if any; two or more are refused.
    pub fn optional_child(
        &self,
        namespace: &'a str,
        local: &'static str,
    ) -> Result<Option<XmlElement<'a, 'input>>, ReadError> {
        let mut found = self.children_named(namespace, local);
        let first = found.next();
        if found.next().is_some() {
            return Err(ReadError::DuplicateElement {
                parent: self.local_name().to_owned(),
                name: local,
            });
        }
        Ok(first)
    }

    /// The one child named `{namespace}local`; none, or two or more, are refused.
    pub fn only_child(
        &self,
        namespace: &'a str,
        local: &'static str,
    ) -> Result<XmlElement<'a, 'input>, ReadError> {
        self.optional_child(namespace, local)?
            .ok_or_else(|| ReadError::MissingElement {
                parent: self.local_name().to_owned(),
                name: local,
            })
    }

    /// The element's value: its single text node (CDATA included), or `""` when it is empty. A comment,
    /// a child element or several text nodes inside are refused (see the module documentation).
    pub fn text(&self) -> Result<&'a str, ReadError> {
        let mut children = self.0.children();
        let value = match children.next() {
            None => "",
            Some(node) if node.is_text() => node.text().unwrap_or(""),
            Some(_) => return Err(self.not_text()),
        };
        if children.next().is_some() {
            return Err(self.not_text());
        }
        Ok(value)
    }

    /// The underlying node, for the canonicaliser (which needs prefixes and in-scope namespaces).
    pub(crate) fn node(&self) -> Node<'a, 'input> {
        self.0
    }

    fn not_text(&self) -> ReadError {
        ReadError::ValueNotText {
            element: self.local_name().to_owned(),
        }
    }
}
