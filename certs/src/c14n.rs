//! Exclusive XML Canonicalization 1.0 without comments (W3C REC xml-exc-c14n-20020718,
//! `http://www.w3.org/2001/10/xml-exc-c14n#`) over quick-xml, for the XML the EIS signature handles:
//! elements, attributes, namespaces and text. Processing instructions and DTDs are refused; comments are
//! dropped; no InclusiveNamespaces prefix list.
//!
//! [`parse`] reads one standalone element (its in-scope namespace declarations on its start tag) into a small
//! tree with resolved namespaces; [`Element::canonicalize`] renders an element and its descendants as the apex
//! of a document subset, with the namespace context it had in the parsed document.

use std::collections::BTreeMap;
use std::fmt::Write;

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// The namespace of the `xml:` prefix (Namespaces in XML 1.0 §3), never declared.
pub const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

const MAX_DEPTH: usize = 256;

/// Errors reading XML for canonicalization, with the byte offset where the reader stood.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// quick-xml refused the input (ill-formed XML).
    #[error("ill-formed XML at byte {offset}: {reason}")]
    Syntax {
        /// Byte offset in the input.
        offset: u64,
        /// Parser's reason.
        reason: String,
    },
    /// A construct outside the handled subset (DTD, processing instruction, unknown entity).
    #[error("unsupported XML at byte {offset}: {what}")]
    Unsupported {
        /// Byte offset in the input.
        offset: u64,
        /// What was found.
        what: String,
    },
    /// A prefix without an in-scope declaration (Namespaces in XML 1.0 §5).
    #[error("undeclared namespace prefix {prefix:?} at byte {offset}")]
    UndeclaredPrefix {
        /// Byte offset in the input.
        offset: u64,
        /// The prefix.
        prefix: String,
    },
    /// No root element, more than one, or non-whitespace text outside it.
    #[error("XML input must be exactly one element: {0}")]
    NotOneElement(&'static str),
}

/// An attribute with its resolved namespace (none for unprefixed attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Prefix as written, if any.
    pub prefix: Option<String>,
    /// Local name.
    pub local: String,
    /// Namespace URI (`None` for an unprefixed attribute).
    pub namespace: Option<String>,
    /// Normalized value (XML 1.0 §3.3.3), references resolved.
    pub value: String,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (text and CDATA sections), line ends normalized (XML 1.0 §2.11).
    Text(String),
}

/// An element with resolved namespaces and its in-scope namespace context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Prefix as written, if any.
    pub prefix: Option<String>,
    /// Local name.
    pub local: String,
    /// Namespace URI (`None`: no namespace).
    pub namespace: Option<String>,
    /// Attributes other than namespace declarations, in document order.
    pub attributes: Vec<Attribute>,
    /// In-scope namespaces: prefix (`None` = default) → URI (`""` undeclares the default).
    pub in_scope: BTreeMap<Option<String>, String>,
    /// Children in document order.
    pub children: Vec<Node>,
}

impl Element {
    /// The first child element with this namespace and local name.
    pub fn child(&self, namespace: &str, local: &str) -> Option<&Element> {
        self.child_elements()
            .find(|e| e.namespace.as_deref() == Some(namespace) && e.local == local)
    }

    /// Child elements in document order.
    pub fn child_elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Whether the element has non-whitespace text children.
    pub fn has_text(&self) -> bool {
        self.children
            .iter()
            .any(|n| matches!(n, Node::Text(t) if !t.chars().all(char::is_whitespace)))
    }

    /// The concatenated text children.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }

    /// The value of the unprefixed attribute `local`.
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.namespace.is_none() && a.local == local)
            .map(|a| a.value.as_str())
    }

    fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }

    /// Exclusive canonical form of this element as the apex of the node-set (xml-exc-c14n §3), without comments.
    pub fn canonicalize(&self) -> String {
        let mut out = String::new();
        render(self, &BTreeMap::new(), &mut out);
        out
    }
}

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// Renders `e` given the namespace values rendered by its output ancestors (prefix → URI).
fn render(e: &Element, rendered: &BTreeMap<Option<String>, String>, out: &mut String) {
    // Visibly utilized prefixes (xml-exc-c14n §3): the element's own prefix (None = default) and the prefixes
    // of its attributes; `xml` is never declared.
    let mut utilized: Vec<Option<String>> = vec![e.prefix.clone()];
    for a in &e.attributes {
        if let Some(p) = &a.prefix
            && p != "xml"
        {
            utilized.push(Some(p.clone()));
        }
    }
    utilized.sort();
    utilized.dedup();
    let mut mine = rendered.clone();
    let mut decls: Vec<(Option<String>, String)> = Vec::new();
    for p in utilized {
        let uri = e.in_scope.get(&p).cloned().unwrap_or_default();
        let before = rendered.get(&p).map(String::as_str).unwrap_or("");
        if before != uri {
            decls.push((p.clone(), uri.clone()));
            mine.insert(p, uri);
        }
    }
    out.push('<');
    out.push_str(&e.qname());
    // Namespace nodes first, by prefix with the default first (`None` sorts first).
    for (p, uri) in &decls {
        match p {
            Some(p) => {
                let _ = write!(out, " xmlns:{p}=\"");
            }
            None => out.push_str(" xmlns=\""),
        }
        escape_attr(uri, out);
        out.push('"');
    }
    // Attributes by (namespace URI, local name); no namespace sorts first.
    let mut attrs: Vec<&Attribute> = e.attributes.iter().collect();
    attrs.sort_by(|a, b| {
        (a.namespace.as_deref().unwrap_or(""), a.local.as_str())
            .cmp(&(b.namespace.as_deref().unwrap_or(""), b.local.as_str()))
    });
    for a in attrs {
        out.push(' ');
        if let Some(p) = &a.prefix {
            out.push_str(p);
            out.push(':');
        }
        out.push_str(&a.local);
        out.push_str("=\"");
        escape_attr(&a.value, out);
        out.push('"');
    }
    out.push('>');
    for child in &e.children {
        match child {
            Node::Element(c) => render(c, &mine, out),
            Node::Text(t) => escape_text(t, out),
        }
    }
    out.push_str("</");
    out.push_str(&e.qname());
    out.push('>');
}

fn split_qname(raw: &str) -> (Option<String>, String) {
    match raw.split_once(':') {
        Some((p, l)) => (Some(p.to_string()), l.to_string()),
        None => (None, raw.to_string()),
    }
}

/// Refuses an element or attribute name that is not an XML Name (XML 1.0 §2.3, ASCII part checked exactly,
/// other characters accepted): quick-xml splits names on whitespace only, so `<a"b=…>` would otherwise be read
/// as an element named `a"b=…`, whose canonical form is not well-formed.
fn check_name(name: &str, offset: u64) -> Result<(), XmlError> {
    let ascii_ok = |c: char, first: bool| {
        c.is_ascii_alphabetic()
            || c == '_'
            || c == ':'
            || (!first && (c.is_ascii_digit() || c == '-' || c == '.'))
    };
    let mut chars = name.chars();
    let valid = match chars.next() {
        None => false,
        Some(c) => {
            (!c.is_ascii() || ascii_ok(c, true))
                && chars.all(|c| !c.is_ascii() || ascii_ok(c, false))
        }
    };
    if valid {
        Ok(())
    } else {
        Err(XmlError::Syntax {
            offset,
            reason: format!("{name:?} is not an XML name"),
        })
    }
}

/// Parses a standalone XML element (optionally after an XML declaration) into a tree with resolved namespaces.
pub fn parse(xml: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let offset = reader.buffer_position();
        let syntax = |e: quick_xml::Error| XmlError::Syntax {
            offset,
            reason: e.to_string(),
        };
        let event = reader.read_event().map_err(syntax)?;
        match event {
            Event::Eof => break,
            Event::Decl(_) if stack.is_empty() && root.is_none() => {}
            Event::Decl(_) => {
                return Err(XmlError::Unsupported {
                    offset,
                    what: "misplaced XML declaration".into(),
                });
            }
            Event::DocType(_) => {
                return Err(XmlError::Unsupported {
                    offset,
                    what: "document type declaration".into(),
                });
            }
            Event::PI(_) => {
                return Err(XmlError::Unsupported {
                    offset,
                    what: "processing instruction".into(),
                });
            }
            Event::Comment(_) => {}
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::NotOneElement("a second root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::Unsupported {
                        offset,
                        what: format!("nesting deeper than {MAX_DEPTH}"),
                    });
                }
                let raw_name: String = start.name().as_ref().to_string();
                check_name(&raw_name, offset)?;
                let mut in_scope = stack.last().map(|p| p.in_scope.clone()).unwrap_or_default();
                let mut raw_attrs: Vec<(String, String)> = Vec::new();
                for attr in start.attributes().with_checks(true) {
                    let attr = attr.map_err(|e| XmlError::Syntax {
                        offset,
                        reason: e.to_string(),
                    })?;
                    let key: String = attr.key.as_ref().to_string();
                    check_name(&key, offset)?;
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(syntax)?
                        .into_owned();
                    if key == "xmlns" {
                        in_scope.insert(None, value);
                    } else if let Some(p) = key.strip_prefix("xmlns:") {
                        if value.is_empty() {
                            return Err(XmlError::Unsupported {
                                offset,
                                what: format!("undeclaring prefix {p:?} (Namespaces in XML 1.1)"),
                            });
                        }
                        in_scope.insert(Some(p.to_string()), value);
                    } else {
                        raw_attrs.push((key, value));
                    }
                }
                let resolve = |prefix: &Option<String>| -> Result<Option<String>, XmlError> {
                    match prefix.as_deref() {
                        Some("xml") => Ok(Some(XML_NAMESPACE.to_string())),
                        Some(p) => in_scope.get(prefix).cloned().map(Some).ok_or_else(|| {
                            XmlError::UndeclaredPrefix {
                                offset,
                                prefix: p.to_string(),
                            }
                        }),
                        None => Ok(in_scope.get(&None).filter(|u| !u.is_empty()).cloned()),
                    }
                };
                let (prefix, local) = split_qname(&raw_name);
                let namespace = resolve(&prefix)?;
                let mut attributes = Vec::with_capacity(raw_attrs.len());
                for (key, value) in raw_attrs {
                    let (prefix, local) = split_qname(&key);
                    let namespace = match prefix {
                        Some(_) => resolve(&prefix)?,
                        None => None,
                    };
                    attributes.push(Attribute {
                        prefix,
                        local,
                        namespace,
                        value,
                    });
                }
                stack.push(Element {
                    prefix,
                    local,
                    namespace,
                    attributes,
                    in_scope,
                    children: Vec::new(),
                });
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or(XmlError::NotOneElement("end tag without start"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => root = Some(done),
                }
            }
            Event::Empty(_) => {
                // `expand_empty_elements` turns `<a/>` into Start + End.
                return Err(XmlError::Unsupported {
                    offset,
                    what: "unexpanded empty element".into(),
                });
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                push_text(&mut stack, &text)?;
            }
            Event::CData(c) => {
                let text = c.xml10_content();
                push_text(&mut stack, &text)?;
            }
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref().map_err(syntax)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name: String = r.as_ref().to_string();
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError::Unsupported {
                                offset,
                                what: format!("entity reference &{name};"),
                            })?
                            .to_string()
                    }
                };
                if stack.is_empty() {
                    return Err(XmlError::NotOneElement("reference outside the element"));
                }
                push_text(&mut stack, &text)?;
            }
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::NotOneElement("unclosed element"));
    }
    root.ok_or(XmlError::NotOneElement("no element"))
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(text);
            } else {
                parent.children.push(Node::Text(text.to_string()));
            }
            Ok(())
        }
        None if text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) => Ok(()),
        None => Err(XmlError::NotOneElement("text outside the element")),
    }
}

/// Parses `xml` and returns the exclusive canonical form of its element (xml-exc-c14n, without comments).
pub fn canonicalize(xml: &str) -> Result<String, XmlError> {
    Ok(parse(xml)?.canonicalize())
}
