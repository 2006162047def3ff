//! A small namespace-aware XML DOM for the SGP.02 SOAP binding (SGP.02 Annex B; XML 1.0 5th ed.; Namespaces in
//! XML 1.0 3rd ed.), built on quick-xml's `NsReader`, and an escaping writer.
//!
//! Security: a document type declaration (DTD) is refused, as is any entity reference other than the five
//! predefined ones (`&lt;` `&gt;` `&amp;` `&apos;` `&quot;`) and character references, so no entity expansion
//! ("billion laughs") and no external entity (XXE) is possible. Nesting depth and element count are limited
//! ([`ParseLimits`]). Processing instructions are refused (SOAP 1.2 Part 1 §5 forbids them in envelopes).
//!
//! Every [`Element`] knows the byte span of its source text; [`Element::standalone_source`] returns that text
//! with the namespace declarations it inherits added to its start tag, so that XML-DSig code can canonicalise a
//! received subtree (e.g. `EumSignedInfo`) exactly as it was sent.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::events::attributes::Attribute as QxAttribute;
use quick_xml::name::{PrefixDeclaration, ResolveResult};
use quick_xml::reader::NsReader;

/// The namespace bound to the `xml` prefix by definition (Namespaces in XML 1.0 §3).
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Limits applied while parsing untrusted input (denial-of-service protection; OWASP XML Security).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Maximum element nesting depth (the root element is depth 1).
    pub max_depth: usize,
    /// Maximum number of elements in the document.
    pub max_elements: usize,
}

impl Default for ParseLimits {
    /// 64 levels and 100 000 elements: far above any SGP.02 message (a full EIS is below 20 levels).
    fn default() -> Self {
        ParseLimits {
            max_depth: 64,
            max_elements: 100_000,
        }
    }
}

/// What went wrong while parsing XML (XML 1.0 well-formedness, Namespaces in XML, or a security rule).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlErrorKind {
    /// The input is not UTF-8 (the only encoding accepted; SGP.02 Annex B uses UTF-8).
    #[error("input is not valid UTF-8")]
    NotUtf8,
    /// The XML declaration names an encoding other than UTF-8.
    #[error("unsupported encoding {0:?} (only UTF-8 is accepted)")]
    UnsupportedEncoding(String),
    /// The document is not well-formed XML.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// A document type declaration was found (refused: DTDs enable entity expansion and XXE).
    #[error("DOCTYPE/DTD is not allowed")]
    DoctypeForbidden,
    /// A processing instruction other than the XML declaration was found.
    #[error("processing instruction <?{0}?> is not allowed")]
    ProcessingInstructionForbidden(String),
    /// An entity reference other than the five predefined entities.
    #[error(
        "entity reference &{0}; is not allowed (only the predefined entities and character references)"
    )]
    UnknownEntity(String),
    /// A character reference that is malformed or names a character XML does not allow.
    #[error("invalid character reference &{0};")]
    InvalidCharacterReference(String),
    /// A character that XML 1.0 does not allow (e.g. a control character).
    #[error("character U+{0:04X} is not allowed in XML 1.0")]
    InvalidCharacter(u32),
    /// A prefix is used that no namespace declaration in scope binds.
    #[error("namespace prefix {0:?} is not declared")]
    UnboundPrefix(String),
    /// A namespace declaration is not allowed (e.g. rebinding `xml` or `xmlns`).
    #[error("invalid namespace declaration: {0}")]
    InvalidNamespaceDeclaration(String),
    /// The same attribute (by expanded name) appears twice on one element.
    #[error("duplicate attribute {0:?}")]
    DuplicateAttribute(String),
    /// Elements nest deeper than [`ParseLimits::max_depth`].
    #[error("element nesting deeper than {0} levels")]
    TooDeep(usize),
    /// More elements than [`ParseLimits::max_elements`].
    #[error("more than {0} elements")]
    TooManyElements(usize),
    /// There is no root element.
    #[error("no root element")]
    NoRootElement,
    /// Markup or text other than comments and whitespace outside the root element.
    #[error("content after or before the root element")]
    ContentOutsideRoot,
    /// The input ended inside an element.
    #[error("unexpected end of input inside element {0:?}")]
    UnexpectedEof(String),
}

/// An XML parse error with its position in the input (XML 1.0 §2.1 well-formedness).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("XML error at line {line}, column {column} (byte {offset}): {kind}")]
pub struct XmlError {
    /// What went wrong.
    pub kind: XmlErrorKind,
    /// Byte offset in the input (after a UTF-8 byte order mark, if any).
    pub offset: usize,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

/// An expanded element or attribute name with the prefix it was written with (Namespaces in XML 1.0 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// Namespace name, `None` if the name is in no namespace.
    pub namespace: Option<String>,
    /// Local part.
    pub local: String,
    /// Prefix as written in the source, `None` if unprefixed.
    pub prefix: Option<String>,
}

impl Name {
    /// The qualified name as written (`prefix:local` or `local`).
    pub fn qualified(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }
}

impl fmt::Display for Name {
    /// Clark notation `{namespace}local`, or `local` when in no namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{{{ns}}}{}", self.local),
            None => f.write_str(&self.local),
        }
    }
}

/// An attribute other than a namespace declaration (XML 1.0 §3.1), its value normalised (§3.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Expanded name (unprefixed attributes are in no namespace).
    pub name: Name,
    /// Value after entity/character reference replacement and attribute-value normalisation.
    pub value: String,
}

/// A namespace declaration `xmlns="…"` or `xmlns:p="…"` as written on an element (Namespaces in XML 1.0 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDeclaration {
    /// Declared prefix; `None` for the default namespace.
    pub prefix: Option<String>,
    /// Namespace name; empty for an undeclaration of the default namespace (`xmlns=""`).
    pub uri: String,
}

/// A child of an element (XML 1.0 §3.1 content).
#[derive(Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (text, CDATA sections and references, already replaced; adjacent pieces merged).
    Text(String),
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Element(e) => e.fmt(f),
            Node::Text(t) => write!(f, "Text({t:?})"),
        }
    }
}

/// An element of a parsed document (XML 1.0 §3), knowing the span of its source text.
#[derive(Clone)]
pub struct Element {
    name: Name,
    attributes: Vec<Attribute>,
    namespace_declarations: Vec<NamespaceDeclaration>,
    children: Vec<Node>,
    span: Range<usize>,
    start_tag_name_end: usize,
    line: usize,
    source: Arc<str>,
}

impl PartialEq for Element {
    /// Structural equality: names, attributes, declarations and children (not source positions).
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.attributes == other.attributes
            && self.namespace_declarations == other.namespace_declarations
            && self.children == other.children
    }
}

impl Eq for Element {}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element")
            .field("name", &self.name.to_string())
            .field("attributes", &self.attributes)
            .field("children", &self.children)
            .finish()
    }
}

impl Element {
    /// The element's expanded name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Namespace name, `None` if the element is in no namespace.
    pub fn namespace(&self) -> Option<&str> {
        self.name.namespace.as_deref()
    }

    /// Local part of the name.
    pub fn local_name(&self) -> &str {
        &self.name.local
    }

    /// True if the element has this namespace and local name.
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.namespace() == Some(namespace) && self.local_name() == local
    }

    /// Attributes other than namespace declarations, in source order.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The value of the attribute with this expanded name (`namespace` `None` for unprefixed attributes).
    pub fn attribute(&self, namespace: Option<&str>, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.namespace.as_deref() == namespace && a.name.local == local)
            .map(|a| a.value.as_str())
    }

    /// Namespace declarations written on this element's start tag.
    pub fn namespace_declarations(&self) -> &[NamespaceDeclaration] {
        &self.namespace_declarations
    }

    /// Child nodes in document order.
    pub fn children(&self) -> &[Node] {
        &self.children
    }

    /// Child elements in document order.
    pub fn child_elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this namespace and local name.
    pub fn child(&self, namespace: &str, local: &str) -> Option<&Element> {
        self.child_elements().find(|e| e.is(namespace, local))
    }

    /// The concatenated character data of the direct text children.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// True if some direct text child has a non-whitespace character (XML 1.0 §2.3 `S`).
    pub fn has_non_whitespace_text(&self) -> bool {
        self.children.iter().any(|n| match n {
            Node::Text(t) => !is_xml_whitespace(t),
            Node::Element(_) => false,
        })
    }

    /// Byte range of the element's source text (start tag to end tag inclusive) in [`Document::source`].
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// 1-based line of the element's start tag.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The element's source text exactly as received.
    pub fn source_text(&self) -> &str {
        self.source.get(self.span.clone()).unwrap_or("")
    }

    /// The element's source text with every namespace declaration it or its descendants use but inherit from
    /// outside the element added to its start tag (Exclusive XML Canonicalization 1.0 §3 "visibly utilized"
    /// bindings), so the subtree can be parsed and canonicalised on its own.
    pub fn standalone_source(&self) -> String {
        let mut needed: BTreeMap<Option<String>, String> = BTreeMap::new();
        let mut declared: Vec<Option<String>> = Vec::new();
        self.collect_inherited(&mut declared, &mut needed);
        let src = self.source_text();
        let cut = self.start_tag_name_end.saturating_sub(self.span.start);
        let (head, tail) = src.split_at(cut.min(src.len()));
        let mut out = String::with_capacity(src.len() + 64 * needed.len());
        out.push_str(head);
        for (prefix, uri) in &needed {
            match prefix {
                Some(p) => {
                    out.push_str(" xmlns:");
                    out.push_str(p);
                }
                None => out.push_str(" xmlns"),
            }
            out.push_str("=\"");
            out.push_str(&escape_attribute(uri));
            out.push('"');
        }
        out.push_str(tail);
        out
    }

    /// Walks the subtree; `declared` holds the prefixes declared on the path from `self` down to the current
    /// element. A prefix used but not declared on that path is inherited from outside and recorded in `needed`.
    fn collect_inherited(
        &self,
        declared: &mut Vec<Option<String>>,
        needed: &mut BTreeMap<Option<String>, String>,
    ) {
        let mark = declared.len();
        declared.extend(self.namespace_declarations.iter().map(|d| d.prefix.clone()));
        let mut uses: Vec<(Option<String>, Option<&str>)> =
            vec![(self.name.prefix.clone(), self.name.namespace.as_deref())];
        for a in &self.attributes {
            if a.name.prefix.is_some() {
                uses.push((a.name.prefix.clone(), a.name.namespace.as_deref()));
            }
        }
        for (prefix, ns) in uses {
            if prefix.as_deref() == Some("xml") || declared.contains(&prefix) {
                continue;
            }
            if let Some(ns) = ns {
                needed.entry(prefix).or_insert_with(|| ns.to_string());
            }
        }
        for child in self.child_elements() {
            child.collect_inherited(declared, needed);
        }
        declared.truncate(mark);
    }
}

/// A parsed XML document (XML 1.0 §2.1): its source text and root element.
#[derive(Debug, Clone)]
pub struct Document {
    source: Arc<str>,
    root: Element,
}

impl Document {
    /// Parses UTF-8 input with the default [`ParseLimits`].
    pub fn parse(input: &[u8]) -> Result<Document, XmlError> {
        Self::parse_with_limits(input, ParseLimits::default())
    }

    /// Parses UTF-8 input with explicit limits.
    pub fn parse_with_limits(input: &[u8], limits: ParseLimits) -> Result<Document, XmlError> {
        let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let text = std::str::from_utf8(input).map_err(|e| {
            let src = String::from_utf8_lossy(input);
            make_error(&src, e.valid_up_to(), XmlErrorKind::NotUtf8)
        })?;
        let source: Arc<str> = Arc::from(text);
        let root = Parser::new(source.clone(), limits).run()?;
        Ok(Document { source, root })
    }

    /// The document's source text (without a byte order mark).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The root element.
    pub fn root(&self) -> &Element {
        &self.root
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn position(source: &str, offset: usize) -> (usize, usize) {
    let mut cut = offset.min(source.len());
    while cut > 0 && !source.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &source[..cut];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

fn line_of(source: &str, offset: usize) -> usize {
    position(source, offset).0
}

fn make_error(source: &str, offset: usize, kind: XmlErrorKind) -> XmlError {
    let offset = offset.min(source.len());
    let (line, column) = position(source, offset);
    XmlError {
        kind,
        offset,
        line,
        column,
    }
}

/// True if the string consists only of XML whitespace (XML 1.0 §2.3 production `S`).
pub fn is_xml_whitespace(s: &str) -> bool {
    s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// True if `c` is allowed in an XML 1.0 document (XML 1.0 §2.2 production `Char`).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn check_chars(s: &str) -> Result<(), XmlErrorKind> {
    match s.chars().find(|&c| !is_xml_char(c)) {
        Some(c) => Err(XmlErrorKind::InvalidCharacter(c as u32)),
        None => Ok(()),
    }
}

struct Parser {
    source: Arc<str>,
    limits: ParseLimits,
    stack: Vec<Element>,
    root: Option<Element>,
    elements: usize,
}

impl Parser {
    fn new(source: Arc<str>, limits: ParseLimits) -> Self {
        Parser {
            source,
            limits,
            stack: Vec::new(),
            root: None,
            elements: 0,
        }
    }

    fn err(&self, offset: usize, kind: XmlErrorKind) -> XmlError {
        make_error(&self.source, offset, kind)
    }

    fn run(mut self) -> Result<Element, XmlError> {
        let source = self.source.clone();
        let mut reader = NsReader::from_str(&source);
        reader.config_mut().check_end_names = true;
        reader.config_mut().trim_text(false);
        reader.config_mut().expand_empty_elements = false;
        let mut seen_any = false;
        loop {
            let before = reader.buffer_position() as usize;
            let (resolved, event) = match reader.read_resolved_event() {
                Ok((r, e)) => (owned_resolve(r), e),
                Err(e) => {
                    let at = reader.error_position() as usize;
                    return Err(self.err(at, map_qx_error(&e)));
                }
            };
            let after = reader.buffer_position() as usize;
            match event {
                Event::Decl(decl) => {
                    if seen_any {
                        return Err(self.err(
                            before,
                            XmlErrorKind::Malformed(
                                "XML declaration not at the start of the document".into(),
                            ),
                        ));
                    }
                    if let Some(enc) = decl.encoding() {
                        let enc = enc.map_err(|e| {
                            self.err(before, XmlErrorKind::Malformed(e.to_string()))
                        })?;
                        if !enc.eq_ignore_ascii_case("utf-8") {
                            return Err(self
                                .err(before, XmlErrorKind::UnsupportedEncoding(enc.into_owned())));
                        }
                    }
                }
                Event::DocType(_) => return Err(self.err(before, XmlErrorKind::DoctypeForbidden)),
                Event::PI(pi) => {
                    return Err(self.err(
                        before,
                        XmlErrorKind::ProcessingInstructionForbidden(pi.target().to_string()),
                    ));
                }
                Event::Comment(_) => {}
                Event::Start(start) => {
                    let element = self.open_element(&reader, &start, resolved, before)?;
                    self.stack.push(element);
                }
                Event::Empty(start) => {
                    let element = self.open_element(&reader, &start, resolved, before)?;
                    self.close_element(element, after)?;
                }
                Event::End(_) => {
                    let Some(open) = self.stack.pop() else {
                        return Err(self.err(
                            before,
                            XmlErrorKind::Malformed("end tag without start tag".into()),
                        ));
                    };
                    self.close_element(open, after)?;
                }
                Event::Text(t) => {
                    let content = t.xml_content(XmlVersion::Implicit1_0);
                    check_chars(&content).map_err(|k| self.err(before, k))?;
                    self.text(&content, before)?;
                }
                Event::CData(c) => {
                    let content = c.xml_content(XmlVersion::Implicit1_0);
                    check_chars(&content).map_err(|k| self.err(before, k))?;
                    if self.stack.is_empty() {
                        return Err(self.err(before, XmlErrorKind::ContentOutsideRoot));
                    }
                    self.text(&content, before)?;
                }
                Event::GeneralRef(r) => {
                    let name: &str = &r;
                    let replacement: String = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) if is_xml_char(c) => c.to_string(),
                            _ => {
                                return Err(self.err(
                                    before,
                                    XmlErrorKind::InvalidCharacterReference(name.to_string()),
                                ));
                            }
                        }
                    } else {
                        match name {
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "amp" => "&".into(),
                            "apos" => "'".into(),
                            "quot" => "\"".into(),
                            other => {
                                return Err(self
                                    .err(before, XmlErrorKind::UnknownEntity(other.to_string())));
                            }
                        }
                    };
                    if self.stack.is_empty() {
                        return Err(self.err(before, XmlErrorKind::ContentOutsideRoot));
                    }
                    self.text(&replacement, before)?;
                }
                Event::Eof => {
                    if let Some(open) = self.stack.last() {
                        return Err(self.err(
                            source.len(),
                            XmlErrorKind::UnexpectedEof(open.name.qualified()),
                        ));
                    }
                    return self.root.ok_or_else(|| {
                        make_error(&source, source.len(), XmlErrorKind::NoRootElement)
                    });
                }
            }
            seen_any = true;
        }
    }

    fn text(&mut self, content: &str, at: usize) -> Result<(), XmlError> {
        match self.stack.last_mut() {
            None => {
                if is_xml_whitespace(content) {
                    Ok(())
                } else {
                    Err(self.err(at, XmlErrorKind::ContentOutsideRoot))
                }
            }
            Some(open) => {
                match open.children.last_mut() {
                    Some(Node::Text(t)) => t.push_str(content),
                    _ => open.children.push(Node::Text(content.to_string())),
                }
                Ok(())
            }
        }
    }

    fn open_element(
        &mut self,
        reader: &NsReader<&[u8]>,
        start: &quick_xml::events::BytesStart<'_>,
        resolved: Option<Option<String>>,
        before: usize,
    ) -> Result<Element, XmlError> {
        if self.root.is_some() && self.stack.is_empty() {
            return Err(self.err(before, XmlErrorKind::ContentOutsideRoot));
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(self.err(
                before,
                XmlErrorKind::TooManyElements(self.limits.max_elements),
            ));
        }
        if self.stack.len() + 1 > self.limits.max_depth {
            return Err(self.err(before, XmlErrorKind::TooDeep(self.limits.max_depth)));
        }
        let qname = start.name();
        let (local, prefix) = qname.decompose();
        let prefix = prefix.map(|p| p.as_ref().to_string());
        let namespace = match resolved {
            Some(ns) => ns,
            None => {
                return Err(self.err(
                    before,
                    XmlErrorKind::UnboundPrefix(prefix.clone().unwrap_or_default()),
                ));
            }
        };
        let name = Name {
            namespace,
            local: local.as_ref().to_string(),
            prefix,
        };
        let mut attributes = Vec::new();
        let mut namespace_declarations = Vec::new();
        let mut attrs = start.attributes();
        attrs.with_checks(false);
        let mut raw_names: Vec<String> = Vec::new();
        for attr in attrs {
            let attr: QxAttribute<'_> =
                attr.map_err(|e| self.err(before, XmlErrorKind::Malformed(e.to_string())))?;
            let raw = attr.key.as_ref().to_string();
            if raw_names.contains(&raw) {
                return Err(self.err(before, XmlErrorKind::DuplicateAttribute(raw)));
            }
            raw_names.push(raw);
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| self.err(before, map_qx_error(&e)))?;
            check_chars(&value).map_err(|k| self.err(before, k))?;
            let key = attr.key;
            if let Some(decl) = key.as_namespace_binding() {
                namespace_declarations.push(NamespaceDeclaration {
                    prefix: match decl {
                        PrefixDeclaration::Default => None,
                        PrefixDeclaration::Named(p) => Some(p.to_string()),
                    },
                    uri: value.into_owned(),
                });
                continue;
            }
            let (res, alocal) = reader.resolver().resolve_attribute(key);
            let aprefix = key.prefix().map(|p| p.as_ref().to_string());
            let anamespace = match res {
                ResolveResult::Unbound => None,
                ResolveResult::Bound(ns) => Some(ns.as_ref().to_string()),
                ResolveResult::Unknown(p) => {
                    return Err(self.err(before, XmlErrorKind::UnboundPrefix(p)));
                }
            };
            let aname = Name {
                namespace: anamespace,
                local: alocal.as_ref().to_string(),
                prefix: aprefix,
            };
            if attributes.iter().any(|a: &Attribute| {
                a.name.namespace == aname.namespace && a.name.local == aname.local
            }) {
                return Err(self.err(before, XmlErrorKind::DuplicateAttribute(aname.to_string())));
            }
            attributes.push(Attribute {
                name: aname,
                value: value.into_owned(),
            });
        }
        let start_tag_name_end = before + 1 + qname.as_ref().len();
        let line = line_of(&self.source, before);
        Ok(Element {
            name,
            attributes,
            namespace_declarations,
            children: Vec::new(),
            span: before..before,
            start_tag_name_end,
            line,
            source: self.source.clone(),
        })
    }

    fn close_element(&mut self, mut element: Element, end: usize) -> Result<(), XmlError> {
        element.span.end = end;
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(Node::Element(element)),
            None => {
                if self.root.is_some() {
                    return Err(self.err(element.span.start, XmlErrorKind::ContentOutsideRoot));
                }
                self.root = Some(element);
            }
        }
        Ok(())
    }
}

/// Converts a resolver result to owned data: `Some(ns)` when resolved (ns `None` = no namespace), `None` when the
/// prefix is not bound.
fn owned_resolve(r: ResolveResult<'_>) -> Option<Option<String>> {
    match r {
        ResolveResult::Unbound => Some(None),
        ResolveResult::Bound(ns) => Some(Some(ns.as_ref().to_string())),
        ResolveResult::Unknown(_) => None,
    }
}

fn map_qx_error(e: &quick_xml::Error) -> XmlErrorKind {
    use quick_xml::Error as E;
    use quick_xml::escape::EscapeError;
    use quick_xml::name::NamespaceError;
    match e {
        E::Escape(EscapeError::UnrecognizedEntity(_, name)) => {
            XmlErrorKind::UnknownEntity(name.clone())
        }
        E::Escape(EscapeError::InvalidCharRef(r)) => {
            XmlErrorKind::InvalidCharacterReference(r.to_string())
        }
        E::Namespace(NamespaceError::UnknownPrefix(p)) => XmlErrorKind::UnboundPrefix(p.clone()),
        E::Namespace(other) => XmlErrorKind::InvalidNamespaceDeclaration(other.to_string()),
        E::Encoding(_) => XmlErrorKind::NotUtf8,
        other => XmlErrorKind::Malformed(other.to_string()),
    }
}

/// Escapes character data for element content (XML 1.0 §2.4): `&`, `<`, `>` and CR as references; characters
/// XML 1.0 cannot carry are replaced by U+FFFD.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Escapes an attribute value for a double-quoted attribute (XML 1.0 §2.3, §3.3.3): `&`, `<`, `>`, `"` and
/// TAB/LF/CR as references so that attribute-value normalisation leaves them intact.
pub fn escape_attribute(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> Cow<'_, str> {
    let needs = s.chars().any(|c| {
        matches!(c, '&' | '<' | '>' | '\r')
            || (attribute && matches!(c, '"' | '\t' | '\n'))
            || !is_xml_char(c)
    });
    if !needs {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            c if !is_xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// An XML writer that escapes text and attribute values and closes elements in order (XML 1.0 §3.1).
///
/// Names are written as given (`prefix:local`); the caller declares the prefixes it uses with
/// [`XmlWriter::attribute`] (`xmlns:p`).
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    open: Vec<String>,
    in_start_tag: bool,
}

impl XmlWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the XML declaration `<?xml version="1.0" encoding="UTF-8"?>`.
    pub fn declaration(&mut self) {
        self.out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    }

    fn close_start_tag(&mut self) {
        if self.in_start_tag {
            self.out.push('>');
            self.in_start_tag = false;
        }
    }

    /// Opens an element.
    pub fn start(&mut self, qname: &str) {
        self.close_start_tag();
        self.out.push('<');
        self.out.push_str(qname);
        self.open.push(qname.to_string());
        self.in_start_tag = true;
    }

    /// Adds an attribute to the element just opened (ignored if content was already written).
    pub fn attribute(&mut self, qname: &str, value: &str) {
        if !self.in_start_tag {
            return;
        }
        self.out.push(' ');
        self.out.push_str(qname);
        self.out.push_str("=\"");
        self.out.push_str(&escape_attribute(value));
        self.out.push('"');
    }

    /// Writes escaped character data.
    pub fn text(&mut self, text: &str) {
        self.close_start_tag();
        self.out.push_str(&escape_text(text));
    }

    /// Writes already well-formed XML verbatim (e.g. a subtree kept from the input).
    pub fn raw(&mut self, xml: &str) {
        self.close_start_tag();
        self.out.push_str(xml);
    }

    /// Closes the innermost open element (`<a/>` if it has no content).
    pub fn end(&mut self) {
        let Some(name) = self.open.pop() else {
            return;
        };
        if self.in_start_tag {
            self.out.push_str("/>");
            self.in_start_tag = false;
        } else {
            self.out.push_str("</");
            self.out.push_str(&name);
            self.out.push('>');
        }
    }

    /// Writes `<qname>text</qname>`.
    pub fn leaf(&mut self, qname: &str, text: &str) {
        self.start(qname);
        self.text(text);
        self.end();
    }

    /// Closes any open elements and returns the text.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }
}
