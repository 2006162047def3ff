//! The XML codec behind every SGP.02 message type (SGP.02 Annex B document/literal binding of the v3 schema):
//! strict decoding with errors that name the element path, exact encoding with the `rps` prefix, and the XSD
//! description that [`crate::wsdl`] inlines.
//!
//! Each message is declared once with the [`xml_type!`](crate::messages::codec) macro: fields with their element
//! names (the first name is emitted, the others are accepted on input), cardinality and type. The macro
//! generates the struct, the decoder, the encoder and the schema fragment.

use std::collections::BTreeMap;
use std::fmt;

use crate::status::{FunctionExecutionStatus, Reason, StatusCodeData, Subject};
use crate::types::{self, InvalidValue};
use crate::xml::{Element, Node, XmlWriter, is_xml_whitespace};

/// The SGP.02 v3 message namespace (`euicc.root.xsd` targetNamespace; SGP.02 Annex B).
pub const RPS_NS: &str = "http://namespaces.gsma.org/esim-messaging/3";
/// The prefix we write for [`RPS_NS`] (as in SGP.02 Annex B examples and the GSMA WSDLs).
pub const RPS_PREFIX: &str = "rps";
/// The XML Schema instance namespace (XSD Part 1 §2.6), whose attributes may appear on any element.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// What is wrong with a message body (SGP.02 §5.1.6.4: 1.6/2.2 for a missing element, 1.6/2.1 otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// A mandatory element is absent; the path ends with the missing element's name.
    MissingElement,
    /// Fewer occurrences than the schema's `minOccurs`.
    TooFewOccurrences {
        /// The minimum.
        min: usize,
    },
    /// More occurrences than the schema's `maxOccurs`.
    TooManyOccurrences {
        /// The maximum.
        max: usize,
    },
    /// An element the schema does not allow at this place.
    UnexpectedElement,
    /// An element in another namespace than the schema's.
    WrongNamespace {
        /// The namespace found (`None`: no namespace).
        found: Option<String>,
        /// The namespace expected.
        expected: String,
    },
    /// A simple-type value that does not match its type.
    InvalidValue(InvalidValue),
    /// Character data where only elements are allowed.
    UnexpectedText,
    /// Child elements where only text is allowed.
    UnexpectedChildElement,
    /// A required attribute is absent.
    MissingAttribute,
    /// An attribute the schema does not define.
    UnexpectedAttribute,
    /// The body element is not one of this interface's elements.
    UnknownBodyElement,
}

/// A message that cannot be decoded, naming the element (SGP.02 §5.1.6.4 status codes 1.6/2.1 and 1.6/2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What is wrong.
    pub kind: DecodeErrorKind,
    /// Slash-separated path of the element concerned, from the body element (e.g.
    /// `ES4-GetEISResponse/Eis/EumSignedInfo/Eid`); attributes end with `/@name`.
    pub path: String,
    /// The body element's local name when it was recognised (e.g. `ES4-EnableProfileRequest`), so that the
    /// server can still answer with that function's response carrying FAILED.
    pub function: Option<String>,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.path;
        match &self.kind {
            DecodeErrorKind::MissingElement => write!(f, "mandatory element {p} is missing"),
            DecodeErrorKind::TooFewOccurrences { min } => {
                write!(f, "element {p} must occur at least {min} times")
            }
            DecodeErrorKind::TooManyOccurrences { max } => {
                write!(f, "element {p} may occur at most {max} times")
            }
            DecodeErrorKind::UnexpectedElement => write!(f, "unexpected element {p}"),
            DecodeErrorKind::WrongNamespace { found, expected } => write!(
                f,
                "element {p} is in namespace {} instead of {expected}",
                found.as_deref().unwrap_or("(none)")
            ),
            DecodeErrorKind::InvalidValue(e) => write!(f, "element {p}: {e}"),
            DecodeErrorKind::UnexpectedText => write!(f, "element {p} must not contain text"),
            DecodeErrorKind::UnexpectedChildElement => {
                write!(f, "element {p} must not contain child elements")
            }
            DecodeErrorKind::MissingAttribute => write!(f, "mandatory attribute {p} is missing"),
            DecodeErrorKind::UnexpectedAttribute => write!(f, "unexpected attribute {p}"),
            DecodeErrorKind::UnknownBodyElement => write!(f, "unknown body element {p}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// A new error at `path`.
    pub fn new(kind: DecodeErrorKind, path: impl Into<String>) -> Self {
        DecodeError {
            kind,
            path: path.into(),
            function: None,
        }
    }

    /// The local name of the element (or `@attribute`) concerned: the last path segment.
    pub fn element(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The status code for this error (SGP.02 §5.1.6.4): subject 1.6 Function, reason 2.2 Mandatory element
    /// missing or 2.1 Invalid; the message names the element.
    pub fn status_code_data(&self) -> StatusCodeData {
        let reason = match self.kind {
            DecodeErrorKind::MissingElement
            | DecodeErrorKind::TooFewOccurrences { .. }
            | DecodeErrorKind::MissingAttribute => Reason::MANDATORY_ELEMENT_MISSING,
            _ => Reason::INVALID,
        };
        StatusCodeData {
            subject: Subject::FUNCTION,
            reason,
            subject_identifier: None,
            message: Some(self.to_string()),
        }
    }

    /// `FAILED` with [`DecodeError::status_code_data`] (SGP.02 §5.1.6.2).
    pub fn function_execution_status(&self) -> FunctionExecutionStatus {
        FunctionExecutionStatus::failed(self.status_code_data())
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

/// Definitions collected for an inline XSD (`wsdl:types`), keyed by type name, each emitted once.
#[derive(Debug, Default)]
pub struct SchemaCollector {
    definitions: BTreeMap<String, Option<String>>,
}

impl SchemaCollector {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// True if `name` is defined or being defined.
    pub fn has(&self, name: &str) -> bool {
        self.definitions.contains_key(name)
    }

    /// Marks `name` as being defined (guards recursion).
    pub fn reserve(&mut self, name: &str) {
        self.definitions.entry(name.to_string()).or_insert(None);
    }

    /// Stores the XSD text defining `name`.
    pub fn define(&mut self, name: &str, xsd: String) {
        self.definitions.insert(name.to_string(), Some(xsd));
    }

    /// All definitions, sorted by name.
    pub fn definitions(&self) -> impl Iterator<Item = &str> {
        self.definitions.values().filter_map(|d| d.as_deref())
    }
}

/// Content of an element of some XSD type: decoded strictly, written exactly, described in XSD.
pub trait XmlContent: Sized {
    /// Decodes the element `el` found at `path`.
    fn decode_element(el: &Element, path: &str) -> Result<Self, DecodeError>;
    /// Writes the attributes of the element just opened.
    fn write_attributes(&self, _w: &mut XmlWriter) {}
    /// Writes the content (text or child elements).
    fn write_content(&self, w: &mut XmlWriter);
    /// Registers the XSD definitions this type needs and returns the QName for `type="…"`.
    fn schema_type(c: &mut SchemaCollector) -> String;
}

/// Writes `<rps:local>` with `v`'s attributes and content.
pub fn write_element<T: XmlContent>(v: &T, w: &mut XmlWriter, local: &str) {
    w.start(&format!("{RPS_PREFIX}:{local}"));
    v.write_attributes(w);
    v.write_content(w);
    w.end();
}

/// A simple type (XSD Part 2): text content only, parsed from its lexical form.
pub trait SimpleType: Sized {
    /// QName of the type in our schemas (`xs:…` for built-ins, `rps:…` for SGP.02 types).
    const XSD_TYPE: &'static str;
    /// The `<xs:simpleType name=…>` definition for `rps:` types, `None` for built-ins.
    fn schema_definition() -> Option<String> {
        None
    }
    /// Parses the lexical form.
    fn parse_text(s: &str) -> Result<Self, InvalidValue>;
    /// The canonical lexical form.
    fn to_text(&self) -> String;
}

/// Checks that `el` has no attributes other than those named in `allowed` (unqualified) and `xsi:type`.
pub fn check_attributes(el: &Element, path: &str, allowed: &[&str]) -> Result<(), DecodeError> {
    for a in el.attributes() {
        let ok = match a.name.namespace.as_deref() {
            None => allowed.contains(&a.name.local.as_str()),
            Some(ns) => ns == XSI_NS && a.name.local == "type",
        };
        if !ok {
            return Err(DecodeError::new(
                DecodeErrorKind::UnexpectedAttribute,
                join(path, &format!("@{}", a.name.local)),
            ));
        }
    }
    Ok(())
}

/// The text of a simple-content element, refusing child elements.
pub fn simple_text(el: &Element, path: &str) -> Result<String, DecodeError> {
    if el.child_elements().next().is_some() {
        return Err(DecodeError::new(
            DecodeErrorKind::UnexpectedChildElement,
            path,
        ));
    }
    Ok(el.text())
}

impl<T: SimpleType> XmlContent for T {
    fn decode_element(el: &Element, path: &str) -> Result<Self, DecodeError> {
        check_attributes(el, path, &[])?;
        let text = simple_text(el, path)?;
        T::parse_text(&text).map_err(|e| DecodeError::new(DecodeErrorKind::InvalidValue(e), path))
    }
    fn write_content(&self, w: &mut XmlWriter) {
        w.text(&self.to_text());
    }
    fn schema_type(c: &mut SchemaCollector) -> String {
        if let Some(name) = T::XSD_TYPE.strip_prefix("rps:")
            && !c.has(name)
            && let Some(def) = T::schema_definition()
        {
            c.define(name, def);
        }
        T::XSD_TYPE.to_string()
    }
}

macro_rules! simple_type {
    ($t:ty, builtin $xsd:literal) => {
        impl SimpleType for $t {
            const XSD_TYPE: &'static str = $xsd;
            fn parse_text(s: &str) -> Result<Self, InvalidValue> {
                s.parse()
            }
            fn to_text(&self) -> String {
                self.to_string()
            }
        }
    };
    ($t:ty, $name:literal, $restriction:literal) => {
        impl SimpleType for $t {
            const XSD_TYPE: &'static str = concat!("rps:", $name);
            fn schema_definition() -> Option<String> {
                Some(
                    concat!(
                        "<xs:simpleType name=\"",
                        $name,
                        "\">",
                        $restriction,
                        "</xs:simpleType>"
                    )
                    .to_string(),
                )
            }
            fn parse_text(s: &str) -> Result<Self, InvalidValue> {
                s.parse()
            }
            fn to_text(&self) -> String {
                self.to_string()
            }
        }
    };
}

simple_type!(
    types::Eid,
    "EIDType",
    "<xs:restriction base=\"xs:hexBinary\"><xs:length value=\"16\"/></xs:restriction>"
);
simple_type!(
    types::Iccid,
    "ICCIDType",
    "<xs:restriction base=\"xs:string\"><xs:pattern value=\"89[0-9fF]{4,18}\"/></xs:restriction>"
);
simple_type!(
    types::Oid,
    "ObjectIdentifierType",
    "<xs:restriction base=\"xs:string\"><xs:pattern value=\"([0-9]+[.])*[0-9]+\"/></xs:restriction>"
);
simple_type!(
    types::Msisdn,
    "MSISDNType",
    "<xs:restriction base=\"xs:string\"><xs:pattern value=\"[0-9]{3,15}\"/></xs:restriction>"
);
simple_type!(
    types::Imsi,
    "IMSIType",
    "<xs:restriction base=\"xs:string\"><xs:pattern value=\"[0-9]{0,15}\"/></xs:restriction>"
);
simple_type!(
    types::Aid,
    "AIDType",
    "<xs:restriction base=\"xs:hexBinary\"><xs:minLength value=\"5\"/><xs:maxLength value=\"16\"/></xs:restriction>"
);
simple_type!(
    types::Tar,
    "TARType",
    "<xs:restriction base=\"xs:hexBinary\"><xs:length value=\"3\"/></xs:restriction>"
);
simple_type!(
    types::ThreeDigitVersion,
    "ThreeDigitVersion",
    "<xs:restriction base=\"xs:string\"><xs:pattern value=\"[0-9]+[.][0-9]+[.][0-9]+\"/></xs:restriction>"
);
simple_type!(
    types::String100,
    "String100",
    "<xs:restriction base=\"xs:string\"><xs:maxLength value=\"100\"/></xs:restriction>"
);
simple_type!(
    types::HexBinary16,
    "hexBinary16",
    "<xs:restriction base=\"xs:hexBinary\"><xs:maxLength value=\"16\"/></xs:restriction>"
);
simple_type!(
    types::KeysetVersion,
    "KeysetVersionType",
    "<xs:restriction base=\"xs:integer\"><xs:minInclusive value=\"1\"/><xs:maxInclusive value=\"127\"/></xs:restriction>"
);
simple_type!(
    types::KeyIndex,
    "KeyIndexType",
    "<xs:restriction base=\"xs:integer\"><xs:minInclusive value=\"0\"/><xs:maxInclusive value=\"127\"/></xs:restriction>"
);
simple_type!(
    types::KeyTypeCoding,
    "KeyTypeCodingType",
    "<xs:restriction base=\"xs:hexBinary\"><xs:length value=\"1\"/></xs:restriction>"
);
simple_type!(
    types::OperationType,
    "OperationTypeType",
    "<xs:restriction base=\"xs:hexBinary\"><xs:length value=\"2\"/></xs:restriction>"
);
simple_type!(
    types::EccKeyLength,
    "ECCKeyLengthType",
    "<xs:restriction base=\"xs:string\"><xs:enumeration value=\"ECC-256\"/><xs:enumeration value=\"ECC-384\"/><xs:enumeration value=\"ECC-512\"/><xs:enumeration value=\"ECC-521\"/></xs:restriction>"
);
simple_type!(
    types::ProfileState,
    "ProfileStateType",
    "<xs:restriction base=\"xs:string\"><xs:enumeration value=\"Created\"/><xs:enumeration value=\"Disabled\"/><xs:enumeration value=\"Enabled\"/></xs:restriction>"
);
simple_type!(
    types::Pol2RuleSubject,
    "POL2RuleSubjectType",
    "<xs:restriction base=\"xs:string\"><xs:enumeration value=\"PROFILE\"/></xs:restriction>"
);
simple_type!(
    types::Pol2RuleAction,
    "POL2RuleActionType",
    "<xs:restriction base=\"xs:string\"><xs:enumeration value=\"ENABLE\"/><xs:enumeration value=\"DISABLE\"/><xs:enumeration value=\"DELETE\"/></xs:restriction>"
);
simple_type!(
    types::Pol2RuleQualification,
    "POL2RuleQualificationType",
    "<xs:restriction base=\"xs:string\"><xs:enumeration value=\"Not-Allowed\"/><xs:enumeration value=\"Auto-Delete\"/></xs:restriction>"
);
simple_type!(
    types::SdRole,
    "SDRoleType",
    "<xs:restriction base=\"xs:string\"><xs:enumeration value=\"ISD-R\"/><xs:enumeration value=\"ECASD\"/></xs:restriction>"
);
simple_type!(
    types::KeysetUsage,
    "KeysetUsageType",
    "<xs:restriction base=\"xs:string\"><xs:enumeration value=\"SCP03\"/><xs:enumeration value=\"SCP80\"/><xs:enumeration value=\"SCP81\"/><xs:enumeration value=\"TokenGeneration\"/><xs:enumeration value=\"ReceiptVerification\"/><xs:enumeration value=\"CA\"/></xs:restriction>"
);
simple_type!(types::HexBinary, builtin "xs:hexBinary");
simple_type!(types::PositiveInteger, builtin "xs:positiveInteger");
simple_type!(types::XsDateTime, builtin "xs:dateTime");

impl SimpleType for String {
    const XSD_TYPE: &'static str = "xs:string";
    fn parse_text(s: &str) -> Result<Self, InvalidValue> {
        Ok(s.to_string())
    }
    fn to_text(&self) -> String {
        self.clone()
    }
}

impl SimpleType for bool {
    const XSD_TYPE: &'static str = "xs:boolean";
    /// `xs:boolean` (XSD Part 2 §3.2.2): `true`, `false`, `1`, `0`.
    fn parse_text(s: &str) -> Result<Self, InvalidValue> {
        match s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(InvalidValue::new("boolean", "expected true, false, 1 or 0")),
        }
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl SimpleType for u64 {
    const XSD_TYPE: &'static str = "xs:nonNegativeInteger";
    fn parse_text(s: &str) -> Result<Self, InvalidValue> {
        types::parse_xs_integer("nonNegativeInteger", s)?
            .try_into()
            .map_err(|_| InvalidValue::new("nonNegativeInteger", "negative or out of range"))
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl SimpleType for i64 {
    const XSD_TYPE: &'static str = "xs:integer";
    fn parse_text(s: &str) -> Result<Self, InvalidValue> {
        types::parse_xs_integer("integer", s)?
            .try_into()
            .map_err(|_| InvalidValue::new("integer", "out of the supported 64-bit range"))
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl SimpleType for i8 {
    const XSD_TYPE: &'static str = "xs:byte";
    fn parse_text(s: &str) -> Result<Self, InvalidValue> {
        types::parse_xs_integer("byte", s)?
            .try_into()
            .map_err(|_| InvalidValue::new("byte", "expected -128 to 127"))
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

/// The item type of a field: `T` for `T`, `Option<T>` and `Vec<T>` (used by the schema generator).
pub trait FieldItem {
    /// The element content type.
    type Item;
}

impl<T> FieldItem for Option<T> {
    type Item = T;
}

impl<T> FieldItem for Vec<T> {
    type Item = T;
}

/// Writes `<xs:element name=… type=… minOccurs maxOccurs/>` for a field.
pub fn schema_element<T: XmlContent>(
    c: &mut SchemaCollector,
    out: &mut String,
    name: &str,
    min: usize,
    max: Option<usize>,
) {
    let ty = T::schema_type(c);
    out.push_str(&format!("<xs:element name=\"{name}\" type=\"{ty}\""));
    if min != 1 {
        out.push_str(&format!(" minOccurs=\"{min}\""));
    }
    match max {
        Some(1) => {}
        Some(m) => out.push_str(&format!(" maxOccurs=\"{m}\"")),
        None => out.push_str(" maxOccurs=\"unbounded\""),
    }
    out.push_str("/>");
}

/// A sequence of fields (an XSD `xs:sequence`), possibly the base part of a larger sequence.
pub trait XmlSequence: Sized {
    /// Decodes the fields from the cursor.
    fn decode_fields(cur: &mut Cursor<'_>) -> Result<Self, DecodeError>;
    /// Writes the fields' elements.
    fn write_fields(&self, w: &mut XmlWriter);
    /// Writes the fields' `xs:element` particles.
    fn schema_fields(c: &mut SchemaCollector, out: &mut String);
}

/// An XSD `xs:choice` between elements, repeated in a sequence.
pub trait XmlChoice: Sized {
    /// The element names of the alternatives.
    const NAMES: &'static [&'static str];
    /// Decodes one alternative from its element.
    fn decode_choice(el: &Element, path: &str) -> Result<Self, DecodeError>;
    /// Writes the alternative's element.
    fn write_choice(&self, w: &mut XmlWriter);
    /// Writes the alternatives' `xs:element` particles.
    fn schema_choice(c: &mut SchemaCollector, out: &mut String);
}

/// Walks the child elements of a complex-type element in order (the decoder of an `xs:sequence`).
pub struct Cursor<'a> {
    path: String,
    children: Vec<&'a Element>,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor over `el`'s children, refusing non-whitespace text (element-only content).
    pub fn new(el: &'a Element, path: &str) -> Result<Self, DecodeError> {
        let mut children = Vec::new();
        for n in el.children() {
            match n {
                Node::Element(e) => children.push(e),
                Node::Text(t) if is_xml_whitespace(t) => {}
                Node::Text(_) => {
                    return Err(DecodeError::new(DecodeErrorKind::UnexpectedText, path));
                }
            }
        }
        Ok(Cursor {
            path: path.to_string(),
            children,
            pos: 0,
        })
    }

    /// The path of the element being decoded.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next child if it is `rps:<one of names>`; a wrong namespace on a matching local name is an error.
    fn take_if(&mut self, names: &[&str]) -> Result<Option<&'a Element>, DecodeError> {
        let Some(el) = self.children.get(self.pos).copied() else {
            return Ok(None);
        };
        if !names.contains(&el.local_name()) {
            return Ok(None);
        }
        if el.namespace() != Some(RPS_NS) {
            return Err(DecodeError::new(
                DecodeErrorKind::WrongNamespace {
                    found: el.namespace().map(str::to_string),
                    expected: RPS_NS.to_string(),
                },
                join(&self.path, el.local_name()),
            ));
        }
        self.pos += 1;
        Ok(Some(el))
    }

    fn missing(&self, name: &str, kind: DecodeErrorKind) -> DecodeError {
        // If the expected element comes later, the element in the way is the problem.
        if let Some(next) = self.children.get(self.pos)
            && self.children[self.pos..]
                .iter()
                .any(|e| e.local_name() == name)
        {
            return self.unexpected(next);
        }
        DecodeError::new(kind, join(&self.path, name))
    }

    fn unexpected(&self, el: &Element) -> DecodeError {
        let path = join(&self.path, el.local_name());
        if el.namespace() != Some(RPS_NS) {
            return DecodeError::new(
                DecodeErrorKind::WrongNamespace {
                    found: el.namespace().map(str::to_string),
                    expected: RPS_NS.to_string(),
                },
                path,
            );
        }
        DecodeError::new(DecodeErrorKind::UnexpectedElement, path)
    }

    /// Exactly one element named by `names` (first = schema name, others accepted aliases).
    pub fn one<T: XmlContent>(&mut self, names: &[&str]) -> Result<T, DecodeError> {
        match self.take_if(names)? {
            Some(el) => T::decode_element(el, &join(&self.path, names[0])),
            None => Err(self.missing(names[0], DecodeErrorKind::MissingElement)),
        }
    }

    /// An optional element.
    pub fn opt<T: XmlContent>(&mut self, names: &[&str]) -> Result<Option<T>, DecodeError> {
        match self.take_if(names)? {
            Some(el) => Ok(Some(T::decode_element(el, &join(&self.path, names[0]))?)),
            None => Ok(None),
        }
    }

    /// A repeated element with `min..=max` occurrences (`max` `None`: unbounded).
    pub fn many<T: XmlContent>(
        &mut self,
        names: &[&str],
        min: usize,
        max: Option<usize>,
    ) -> Result<Vec<T>, DecodeError> {
        let mut out = Vec::new();
        while let Some(el) = self.take_if(names)? {
            let path = join(&self.path, names[0]);
            if let Some(max) = max
                && out.len() == max
            {
                return Err(DecodeError::new(
                    DecodeErrorKind::TooManyOccurrences { max },
                    path,
                ));
            }
            out.push(T::decode_element(el, &path)?);
        }
        if out.len() < min {
            let kind = if out.is_empty() {
                DecodeErrorKind::MissingElement
            } else {
                DecodeErrorKind::TooFewOccurrences { min }
            };
            return Err(self.missing(names[0], kind));
        }
        Ok(out)
    }

    /// A repeated choice with `min..=max` occurrences.
    pub fn choice<T: XmlChoice>(
        &mut self,
        min: usize,
        max: Option<usize>,
    ) -> Result<Vec<T>, DecodeError> {
        let mut out = Vec::new();
        while let Some(el) = self.take_if(T::NAMES)? {
            let path = join(&self.path, el.local_name());
            if let Some(max) = max
                && out.len() == max
            {
                return Err(DecodeError::new(
                    DecodeErrorKind::TooManyOccurrences { max },
                    path,
                ));
            }
            out.push(T::decode_choice(el, &path)?);
        }
        if out.len() < min {
            return Err(self.missing(T::NAMES[0], DecodeErrorKind::TooFewOccurrences { min }));
        }
        Ok(out)
    }

    /// Fails on any child element left over.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.children.get(self.pos) {
            Some(el) => Err(self.unexpected(el)),
            None => Ok(()),
        }
    }
}

/// Decodes a complex-type element whose content is the sequence `T`.
pub fn decode_sequence<T: XmlSequence>(el: &Element, path: &str) -> Result<T, DecodeError> {
    check_attributes(el, path, &[])?;
    let mut cur = Cursor::new(el, path)?;
    let v = T::decode_fields(&mut cur)?;
    cur.finish()?;
    Ok(v)
}

/// Registers a named complex type whose content is the sequence `T`; returns its QName.
pub fn schema_sequence<T: XmlSequence>(c: &mut SchemaCollector, name: &str) -> String {
    if !c.has(name) {
        c.reserve(name);
        let mut out = String::new();
        T::schema_fields(c, &mut out);
        c.define(
            name,
            format!(
                "<xs:complexType name=\"{name}\"><xs:sequence>{out}</xs:sequence></xs:complexType>"
            ),
        );
    }
    format!("{RPS_PREFIX}:{name}")
}

/// A message body element (SGP.02 Annex B: the single child of the SOAP Body).
pub trait BodyElement: XmlContent {
    /// The element's local name in [`RPS_NS`], e.g. `ES4-GetEISRequest`.
    const ELEMENT: &'static str;
    /// Name of the XSD complex type we generate for the element.
    const TYPE_NAME: &'static str;

    /// Decodes the body element, checking its name and namespace; errors carry [`DecodeError::function`].
    fn decode_body(el: &Element) -> Result<Self, DecodeError> {
        if el.local_name() != Self::ELEMENT {
            return Err(DecodeError::new(
                DecodeErrorKind::UnknownBodyElement,
                el.local_name(),
            ));
        }
        let with_function = |mut e: DecodeError| {
            e.function = Some(Self::ELEMENT.to_string());
            e
        };
        if el.namespace() != Some(RPS_NS) {
            return Err(with_function(DecodeError::new(
                DecodeErrorKind::WrongNamespace {
                    found: el.namespace().map(str::to_string),
                    expected: RPS_NS.to_string(),
                },
                Self::ELEMENT,
            )));
        }
        Self::decode_element(el, Self::ELEMENT).map_err(with_function)
    }

    /// Writes the element with the `rps` prefix, assuming `xmlns:rps` is declared by an ancestor.
    fn write_body(&self, w: &mut XmlWriter) {
        write_element(self, w, Self::ELEMENT);
    }

    /// The element as a standalone XML text declaring `xmlns:rps` on itself.
    fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.start(&format!("{RPS_PREFIX}:{}", Self::ELEMENT));
        w.attribute(&format!("xmlns:{RPS_PREFIX}"), RPS_NS);
        self.write_attributes(&mut w);
        self.write_content(&mut w);
        w.end();
        w.finish()
    }

    /// Registers the element's type and returns `<xs:element name=… type=…/>`.
    fn schema_element_declaration(c: &mut SchemaCollector) -> String {
        let ty = Self::schema_type(c);
        format!("<xs:element name=\"{}\" type=\"{ty}\"/>", Self::ELEMENT)
    }
}

/// Declares an SGP.02 complex type once: the struct, its decoder, encoder and XSD description.
///
/// Field kinds: `one "Name"`, `opt "Name"`, `many(min, max|unbounded) "Name"`, `choice(min, max|unbounded)`,
/// `flatten` (a base sequence such as `BaseRequestType`). Alternative names after `|` are accepted on input.
macro_rules! xml_type {
    (
        $(#[$sm:meta])*
        pub struct $name:ident : $xsd:literal $(, element $elem:literal)? {
            $(
                $(#[$fm:meta])*
                pub $field:ident : $fty:ty = $kind:ident $( ( $($karg:tt),* ) )? $( $ename:literal )|*
            ),* $(,)?
        }
    ) => {
        $(#[$sm])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fm])* pub $field: $fty, )*
        }

        impl $crate::messages::codec::XmlSequence for $name {
            fn decode_fields(
                cur: &mut $crate::messages::codec::Cursor<'_>,
            ) -> Result<Self, $crate::messages::codec::DecodeError> {
                $( let $field = $crate::messages::codec::xml_type!(@decode cur, $kind $( ( $($karg),* ) )?, [$($ename),*]); )*
                Ok($name { $($field),* })
            }
            fn write_fields(&self, w: &mut $crate::xml::XmlWriter) {
                let _ = &w;
                $( $crate::messages::codec::xml_type!(@write w, self.$field, $kind $( ( $($karg),* ) )?, [$($ename),*]); )*
            }
            fn schema_fields(c: &mut $crate::messages::codec::SchemaCollector, out: &mut String) {
                let _ = (&c, &out);
                $( $crate::messages::codec::xml_type!(@schema c, out, $fty, $kind $( ( $($karg),* ) )?, [$($ename),*]); )*
            }
        }

        impl $crate::messages::codec::XmlContent for $name {
            fn decode_element(
                el: &$crate::xml::Element,
                path: &str,
            ) -> Result<Self, $crate::messages::codec::DecodeError> {
                $crate::messages::codec::decode_sequence(el, path)
            }
            fn write_content(&self, w: &mut $crate::xml::XmlWriter) {
                $crate::messages::codec::XmlSequence::write_fields(self, w)
            }
            fn schema_type(c: &mut $crate::messages::codec::SchemaCollector) -> String {
                $crate::messages::codec::schema_sequence::<Self>(c, $xsd)
            }
        }

        $(
            impl $crate::messages::codec::BodyElement for $name {
                const ELEMENT: &'static str = $elem;
                const TYPE_NAME: &'static str = $xsd;
            }
        )?
    };

    (@decode $cur:ident, one, [$($n:literal),+]) => { $cur.one(&[$($n),+])? };
    (@decode $cur:ident, opt, [$($n:literal),+]) => { $cur.opt(&[$($n),+])? };
    (@decode $cur:ident, many($min:literal, $max:tt), [$($n:literal),+]) => {
        $cur.many(&[$($n),+], $min, $crate::messages::codec::xml_type!(@max $max))?
    };
    (@decode $cur:ident, choice($min:literal, $max:tt), []) => {
        $cur.choice($min, $crate::messages::codec::xml_type!(@max $max))?
    };
    (@decode $cur:ident, flatten, []) => { $crate::messages::codec::XmlSequence::decode_fields($cur)? };

    (@write $w:ident, $v:expr, one, [$first:literal $(, $rest:literal)*]) => {
        $crate::messages::codec::write_element(&$v, $w, $first)
    };
    (@write $w:ident, $v:expr, opt, [$first:literal $(, $rest:literal)*]) => {
        if let Some(v) = &$v { $crate::messages::codec::write_element(v, $w, $first) }
    };
    (@write $w:ident, $v:expr, many($min:literal, $max:tt), [$first:literal $(, $rest:literal)*]) => {
        for v in &$v { $crate::messages::codec::write_element(v, $w, $first) }
    };
    (@write $w:ident, $v:expr, choice($min:literal, $max:tt), []) => {
        for v in &$v { $crate::messages::codec::XmlChoice::write_choice(v, $w) }
    };
    (@write $w:ident, $v:expr, flatten, []) => {
        $crate::messages::codec::XmlSequence::write_fields(&$v, $w)
    };

    (@schema $c:ident, $out:ident, $fty:ty, one, [$first:literal $(, $rest:literal)*]) => {
        $crate::messages::codec::schema_element::<$fty>($c, $out, $first, 1, Some(1))
    };
    (@schema $c:ident, $out:ident, $fty:ty, opt, [$first:literal $(, $rest:literal)*]) => {
        $crate::messages::codec::schema_element::<<$fty as $crate::messages::codec::FieldItem>::Item>(
            $c, $out, $first, 0, Some(1),
        )
    };
    (@schema $c:ident, $out:ident, $fty:ty, many($min:literal, $max:tt), [$first:literal $(, $rest:literal)*]) => {
        $crate::messages::codec::schema_element::<<$fty as $crate::messages::codec::FieldItem>::Item>(
            $c, $out, $first, $min, $crate::messages::codec::xml_type!(@max $max),
        )
    };
    (@schema $c:ident, $out:ident, $fty:ty, choice($min:literal, $max:tt), []) => {{
        let mut alts = String::new();
        <<$fty as $crate::messages::codec::FieldItem>::Item as $crate::messages::codec::XmlChoice>::schema_choice(
            $c, &mut alts,
        );
        $out.push_str(&format!(
            "<xs:choice minOccurs=\"{}\" maxOccurs=\"{}\">{alts}</xs:choice>",
            $min,
            $crate::messages::codec::xml_type!(@max $max).map_or("unbounded".to_string(), |m: usize| m.to_string()),
        ));
    }};
    (@schema $c:ident, $out:ident, $fty:ty, flatten, []) => {
        <$fty as $crate::messages::codec::XmlSequence>::schema_fields($c, $out)
    };

    (@max unbounded) => { None };
    (@max $n:literal) => { Some($n) };
}

pub(crate) use xml_type;

/// Declares the enum of the body elements an interface exchanges, dispatching on the element name.
macro_rules! body_enum {
    (
        $(#[$m:meta])*
        pub enum $name:ident {
            $( $(#[$vm:meta])* $variant:ident($ty:ty) ),+ $(,)?
        }
    ) => {
        $(#[$m])*
        ///
        /// Variants are boxed: an EIS-carrying message is large, the others small.
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $( $(#[$vm])* $variant(Box<$ty>) ),+
        }

        impl $name {
            /// The body element names this enum covers.
            pub const ELEMENTS: &'static [&'static str] =
                &[$( <$ty as $crate::messages::codec::BodyElement>::ELEMENT ),+];

            /// Decodes a body element by its name; an unknown name is [`DecodeErrorKind::UnknownBodyElement`](
            /// $crate::messages::codec::DecodeErrorKind::UnknownBodyElement).
            pub fn decode(el: &$crate::xml::Element) -> Result<Self, $crate::messages::codec::DecodeError> {
                use $crate::messages::codec::BodyElement;
                $(
                    if el.local_name() == <$ty>::ELEMENT {
                        return <$ty>::decode_body(el).map(|m| $name::$variant(Box::new(m)));
                    }
                )+
                Err($crate::messages::codec::DecodeError::new(
                    $crate::messages::codec::DecodeErrorKind::UnknownBodyElement,
                    el.local_name(),
                ))
            }

            /// The body element's local name.
            pub fn element_name(&self) -> &'static str {
                use $crate::messages::codec::BodyElement;
                match self {
                    $( $name::$variant(_) => <$ty>::ELEMENT ),+
                }
            }

            /// Writes the body element (with `xmlns:rps` declared by an ancestor).
            pub fn write_body(&self, w: &mut $crate::xml::XmlWriter) {
                use $crate::messages::codec::BodyElement;
                match self {
                    $( $name::$variant(m) => m.write_body(w) ),+
                }
            }

            /// The body element as standalone XML.
            pub fn to_xml(&self) -> String {
                use $crate::messages::codec::BodyElement;
                match self {
                    $( $name::$variant(m) => m.to_xml() ),+
                }
            }
        }

        $(
            impl From<$ty> for $name {
                fn from(m: $ty) -> Self {
                    $name::$variant(Box::new(m))
                }
            }
        )+
    };
}

pub(crate) use body_enum;

/// Declares an interface's `Message` enum over its request, response and notification enums.
macro_rules! message_enum {
    (
        $(#[$m:meta])*
        pub enum $name:ident {
            $( $(#[$vm:meta])* $variant:ident($ty:ty) ),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $( $(#[$vm])* $variant($ty) ),+
        }

        impl $name {
            /// Decodes any body element of the interface, dispatching on its name.
            pub fn decode(el: &$crate::xml::Element) -> Result<Self, $crate::messages::codec::DecodeError> {
                $(
                    if <$ty>::ELEMENTS.contains(&el.local_name()) {
                        return <$ty>::decode(el).map($name::$variant);
                    }
                )+
                Err($crate::messages::codec::DecodeError::new(
                    $crate::messages::codec::DecodeErrorKind::UnknownBodyElement,
                    el.local_name(),
                ))
            }

            /// The body element's local name.
            pub fn element_name(&self) -> &'static str {
                match self {
                    $( $name::$variant(m) => m.element_name() ),+
                }
            }

            /// Writes the body element (with `xmlns:rps` declared by an ancestor).
            pub fn write_body(&self, w: &mut $crate::xml::XmlWriter) {
                match self {
                    $( $name::$variant(m) => m.write_body(w) ),+
                }
            }

            /// The body element as standalone XML.
            pub fn to_xml(&self) -> String {
                match self {
                    $( $name::$variant(m) => m.to_xml() ),+
                }
            }
        }
    };
}

pub(crate) use message_enum;

/// Declares `Response::failed`: the response of a function, carrying only a status, built from the request
/// element name (e.g. [`DecodeError::function`]).
macro_rules! failed_responses {
    ($resp:ident { $( $req:ty => $variant:ident($rty:ident { $($extra:ident: $val:expr),* }) ),+ $(,)? }) => {
        impl $resp {
            /// The response to the function whose request element is `request_element` (e.g. from
            /// [`DecodeError::function`](crate::messages::DecodeError::function)), carrying only `status` (SGP.02
            /// §5.1.3 BaseResponseType). `None` for an unknown element or a response that has other mandatory
            /// elements, which the caller then answers with a SOAP fault.
            pub fn failed(
                request_element: &str,
                status: $crate::status::FunctionExecutionStatus,
            ) -> Option<Self> {
                use $crate::messages::codec::BodyElement;
                let base = $crate::messages::common::BaseResponse::with_status(status);
                $(
                    if request_element == <$req>::ELEMENT {
                        return Some($resp::$variant(Box::new($rty { base, $($extra: $val),* })));
                    }
                )+
                None
            }
        }
    };
}

pub(crate) use failed_responses;
