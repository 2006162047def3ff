//! The JSON side of the REST twins of ES2/ES4 (design §1: every function also offered as REST/JSON): a request
//! element built from the JSON members of a REST call, to be decoded by the same strict decoder as a SOAP body,
//! and a response element shown as JSON. No second codec: the request is written with [`XmlWriter`] and read
//! back by [`crate::messages`]; the JSON of a response is a generic view of its decoded XML tree.
//!
//! JSON view of an element (SGP.02 element names kept, so a reader with the XSD finds each member): an element
//! with neither attributes nor child elements is its text; any other is an object whose members are its
//! attributes and child elements by local name; a child the XSD lets repeat in its parent's type (`maxOccurs`
//! other than 1) is always an array, as is any name that occurs more than once ([`XsdShape`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::messages::codec::{RPS_NS, RPS_PREFIX};
use crate::wsdl::Service;
use crate::xml::{Element, XmlWriter};

/// Builds a body element `<rps:NAME>` with child elements in the order given (the XSD sequence order).
#[derive(Debug)]
pub struct RequestElement {
    w: XmlWriter,
}

impl RequestElement {
    /// Starts element `element` (e.g. `ES4-EnableProfileRequest`) with its `FunctionCallIdentifier` and
    /// optional `ValidityPeriod` (SGP.02 §5.1.6 BaseRequestType).
    pub fn new(
        element: &str,
        function_call_identifier: &str,
        validity_period: Option<u64>,
    ) -> Self {
        let mut w = XmlWriter::new();
        w.start(&format!("{RPS_PREFIX}:{element}"));
        w.attribute(&format!("xmlns:{RPS_PREFIX}"), RPS_NS);
        let mut r = RequestElement { w };
        r = r.field("FunctionCallIdentifier", function_call_identifier);
        if let Some(v) = validity_period {
            r = r.field("ValidityPeriod", &v.to_string());
        }
        r
    }

    /// Adds a child element with text content.
    pub fn field(mut self, name: &str, text: &str) -> Self {
        self.w.start(&format!("{RPS_PREFIX}:{name}"));
        self.w.text(text);
        self.w.end();
        self
    }

    /// Opens a child element with element content (closed by [`RequestElement::close`]).
    pub fn open(mut self, name: &str) -> Self {
        self.w.start(&format!("{RPS_PREFIX}:{name}"));
        self
    }

    /// Closes the element opened last.
    pub fn close(mut self) -> Self {
        self.w.end();
        self
    }

    /// Adds a child element if `text` is given.
    pub fn opt(self, name: &str, text: Option<&str>) -> Self {
        match text {
            Some(t) => self.field(name, t),
            None => self,
        }
    }

    /// The element as standalone XML.
    pub fn finish(mut self) -> String {
        self.w.end();
        self.w.finish()
    }
}

/// What the XSD inlined in the services' WSDLs says about element shapes: the type of each top-level element,
/// and for each complex type the type of each child element and whether it may repeat (`maxOccurs` ≠ 1).
#[derive(Debug, Clone, Default)]
pub struct XsdShape {
    /// Top-level element name → its type.
    elements: BTreeMap<String, String>,
    /// (complex type, child element name) → (child type, repeatable).
    children: BTreeMap<(String, String), (String, bool)>,
}

impl XsdShape {
    /// The shapes of every message of `services`.
    pub fn of(services: &[Service]) -> Self {
        let mut shape = XsdShape::default();
        for service in services {
            shape.add(&service.wsdl("https://localhost/"));
        }
        shape
    }

    fn add(&mut self, xsd: &str) {
        let mut current: Option<String> = None;
        let mut rest = xsd;
        while let Some(at) = rest.find('<') {
            rest = &rest[at..];
            let tag = rest.split('>').next().unwrap_or("");
            if tag.starts_with("<xs:complexType") {
                current = attribute_value(tag, "name").map(str::to_string);
            } else if tag.starts_with("</xs:complexType") {
                current = None;
            } else if tag.starts_with("<xs:element ")
                && let (Some(name), Some(ty)) =
                    (attribute_value(tag, "name"), attribute_value(tag, "type"))
            {
                let ty = unprefixed(ty).to_string();
                match &current {
                    Some(parent) => {
                        let repeatable =
                            attribute_value(tag, "maxOccurs").is_some_and(|m| m != "1");
                        self.children
                            .entry((parent.clone(), name.to_string()))
                            .or_insert((ty, repeatable));
                    }
                    None => {
                        self.elements.entry(name.to_string()).or_insert(ty);
                    }
                }
            }
            rest = &rest[1..];
        }
    }

    /// The JSON view of `el` (see the module documentation); `skip` names child elements left out.
    pub fn to_json(&self, el: &Element, skip: &[&str]) -> Value {
        let ty = self.elements.get(el.local_name()).map(String::as_str);
        self.convert(el, ty, skip)
    }

    fn convert(&self, el: &Element, ty: Option<&str>, skip: &[&str]) -> Value {
        let mut children: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        let mut order: Vec<&str> = Vec::new();
        for c in el.child_elements() {
            let name = c.local_name();
            if skip.contains(&name) {
                continue;
            }
            if !children.contains_key(name) {
                order.push(name);
            }
            let child_ty = ty
                .and_then(|t| self.child(t, name))
                .map(|(t, _)| t.as_str());
            children
                .entry(name)
                .or_default()
                .push(self.convert(c, child_ty, &[]));
        }
        if el.attributes().is_empty() && order.is_empty() {
            return Value::String(el.text().trim().to_string());
        }
        let mut map = Map::new();
        for a in el.attributes() {
            map.insert(a.name.local.clone(), Value::String(a.value.clone()));
        }
        for name in order {
            let mut values = children.remove(name).unwrap_or_default();
            let repeatable = ty
                .and_then(|t| self.child(t, name))
                .is_some_and(|(_, r)| *r);
            let v = if values.len() == 1 && !repeatable {
                values.pop().unwrap_or(Value::Null)
            } else {
                Value::Array(values)
            };
            map.insert(name.to_string(), v);
        }
        Value::Object(map)
    }

    fn child(&self, ty: &str, name: &str) -> Option<&(String, bool)> {
        self.children.get(&(ty.to_string(), name.to_string()))
    }
}

fn unprefixed(qname: &str) -> &str {
    qname.split_once(':').map_or(qname, |(_, l)| l)
}

fn attribute_value<'a>(decl: &'a str, name: &str) -> Option<&'a str> {
    let start = decl.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = decl[start..].find('"')?;
    Some(&decl[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::codec::BodyElement;
    use crate::messages::es4;
    use crate::xml::Document;

    #[test]
    fn a_request_element_decodes_with_the_soap_decoder() {
        let xml = RequestElement::new("ES4-AuditEISRequest", "fci-1", Some(60))
            .field("Eid", "89049999001000000000000000000143")
            .field("Iccid", "8949990000000000028")
            .finish();
        let doc = Document::parse(xml.as_bytes()).expect("parses");
        let r = es4::AuditEisRequest::decode_body(doc.root()).expect("decodes");
        assert_eq!(r.base.function_call_identifier, "fci-1");
        assert_eq!(r.base.validity_period.map(|v| v.get()), Some(60));
        assert_eq!(r.iccids.len(), 1);
        // What the SOAP encoder writes for the same request is what was built.
        assert_eq!(r.to_xml(), xml);
    }

    #[test]
    fn text_is_escaped() {
        let xml = RequestElement::new("ES4-GetEISRequest", "<&>", None)
            .field("Eid", "x")
            .finish();
        assert!(xml.contains("&lt;&amp;&gt;"), "{xml}");
    }

    #[test]
    fn repeatable_elements_are_arrays() {
        let shape = XsdShape::of(&[Service::Es4SmSr]);
        assert_eq!(
            shape
                .child("ES4-AuditEISRequestType", "Iccid")
                .map(|(_, repeatable)| *repeatable),
            Some(true),
            "{shape:?}"
        );
        let doc = Document::parse(
            b"<ES4-AuditEISRequest a=\"1\"><Eid>E</Eid><Iccid>1</Iccid><Skip>s</Skip><X><Y>2</Y><Y>3</Y></X></ES4-AuditEISRequest>",
        )
        .expect("parses");
        let v = shape.to_json(doc.root(), &["Skip"]);
        assert_eq!(
            v,
            serde_json::json!({"a": "1", "Eid": "E", "Iccid": ["1"], "X": {"Y": ["2", "3"]}})
        );
        // In a type where Iccid occurs once, it is a string.
        let doc = Document::parse(
            b"<ES4-EnableProfileRequest><Eid>E</Eid><Iccid>1</Iccid></ES4-EnableProfileRequest>",
        )
        .expect("parses");
        assert_eq!(
            shape.to_json(doc.root(), &[]),
            serde_json::json!({"Eid": "E", "Iccid": "1"})
        );
    }
}
