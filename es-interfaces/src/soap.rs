//! The SGP.02 SOAP binding (SGP.02 Annex B; SOAP 1.2 Part 1, SOAP 1.1; WS-Addressing 1.0 Core and SOAP Binding,
//! namespace 2005/08): envelope parsing with WS-Addressing headers and the SGP.02 query parameters carried in
//! their URIs, envelope and fault emission, and the `wsa:Action` URIs of the GSMA WSDLs ([`action`]).
//!
//! Dispatch is on the body element name ([`Envelope::body`]); `wsa:Action` is advisory, since peers are known
//! to send misspelt Actions.

use std::fmt;

use crate::messages::codec::{BodyElement, RPS_NS, RPS_PREFIX, XmlContent, write_element};
use crate::status::{FunctionExecutionStatus, Reason, StatusCodeData, Subject};
use crate::types::XsDateTime;
use crate::xml::{Document, Element, Node, ParseLimits, XmlError, XmlWriter};

/// SOAP 1.2 envelope namespace (SOAP 1.2 Part 1 §5).
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// SOAP 1.1 envelope namespace (SOAP 1.1 §4).
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Addressing 1.0 namespace (WS-Addressing Core §1.2).
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
/// The anonymous address: reply on the same HTTP connection (WS-Addressing Core §2.1).
pub const WSA_ANONYMOUS: &str = "http://www.w3.org/2005/08/addressing/anonymous";
/// Action of a SOAP fault message (WS-Addressing SOAP Binding §6).
pub const WSA_FAULT_ACTION: &str = "http://www.w3.org/2005/08/addressing/soap/fault";
/// The SOAP 1.2 "none" role: header blocks targeted at it are never processed (SOAP 1.2 Part 1 §2.2).
const SOAP12_ROLE_NONE: &str = "http://www.w3.org/2003/05/soap-envelope/role/none";

/// SOAP version of an envelope (SGP.02 Annex B uses SOAP 1.2; SOAP 1.1 is accepted from older peers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoapVersion {
    /// SOAP 1.2, media type `application/soap+xml`.
    V1_2,
    /// SOAP 1.1, media type `text/xml`.
    V1_1,
}

impl SoapVersion {
    /// The envelope namespace.
    pub fn namespace(self) -> &'static str {
        match self {
            SoapVersion::V1_2 => SOAP12_NS,
            SoapVersion::V1_1 => SOAP11_NS,
        }
    }

    /// The media type without parameters.
    pub fn media_type(self) -> &'static str {
        match self {
            SoapVersion::V1_2 => "application/soap+xml",
            SoapVersion::V1_1 => "text/xml",
        }
    }

    /// The HTTP `Content-Type` for a message with this Action: SOAP 1.2 carries it as the `action` parameter
    /// (RFC 3902); for SOAP 1.1 the caller sends it in the `SOAPAction` header instead.
    pub fn content_type(self, action: &str) -> String {
        match self {
            SoapVersion::V1_2 => {
                format!("application/soap+xml; charset=utf-8; action=\"{action}\"")
            }
            SoapVersion::V1_1 => "text/xml; charset=utf-8".to_string(),
        }
    }

    /// The version a `Content-Type` header announces, `None` for anything else.
    pub fn from_content_type(content_type: &str) -> Option<SoapVersion> {
        let media = content_type.split(';').next()?.trim();
        if media.eq_ignore_ascii_case("application/soap+xml") {
            Some(SoapVersion::V1_2)
        } else if media.eq_ignore_ascii_case("text/xml") {
            Some(SoapVersion::V1_1)
        } else {
            None
        }
    }
}

/// The separator between query parameters of an SGP.02 WS-Addressing URI: `&` (v3.x peers, e.g. gSOAP) or `?`
/// (standardised from SGP.02 v4; KPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuerySeparator {
    /// `uri?A=1&B=2` (SGP.02 v3 style).
    Ampersand,
    /// `uri?A=1?B=2` (SGP.02 v4 style).
    Question,
}

/// A WS-Addressing URI carrying SGP.02 query parameters (SGP.02 Annex B: `EntityId`, `EntityName`,
/// `TransactionId`, `ContextId`, `MessageDate`), e.g. `http://smdp.example?EntityId=1.3.6.1.4.1.20`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgpUri {
    raw: String,
    base: String,
    params: Vec<(String, String)>,
    separator: Option<QuerySeparator>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/@!$'()*+,;".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl SgpUri {
    /// Parses a URI, splitting query parameters at both `?` and `&`; values are percent-decoded.
    pub fn parse(uri: &str) -> SgpUri {
        let raw = uri.trim().to_string();
        let (base, query) = match raw.split_once('?') {
            Some((b, q)) => (b.to_string(), q),
            None => (raw.clone(), ""),
        };
        let separator = if query.contains('&') {
            Some(QuerySeparator::Ampersand)
        } else if query.contains('?') {
            Some(QuerySeparator::Question)
        } else {
            None
        };
        let params = query
            .split(['&', '?'])
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(p), String::new()),
            })
            .collect();
        SgpUri {
            raw,
            base,
            params,
            separator,
        }
    }

    /// A URI with no parameters yet.
    pub fn new(base: &str) -> SgpUri {
        SgpUri {
            raw: base.to_string(),
            base: base.to_string(),
            params: Vec::new(),
            separator: None,
        }
    }

    /// Adds a parameter (builder style).
    pub fn with(mut self, name: &str, value: &str) -> SgpUri {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// The URI as received (or as built, without parameters).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The part before the first `?`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// All query parameters in order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The separator seen between parameters (`None` with fewer than two parameters).
    pub fn separator(&self) -> Option<QuerySeparator> {
        self.separator
    }

    /// The first parameter with one of these names (exact match).
    pub fn param(&self, names: &[&str]) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
    }

    /// `EntityId`: OID of the sending or receiving entity (SGP.02 Annex B).
    pub fn entity_id(&self) -> Option<&str> {
        self.param(&["EntityId", "EntityID"])
    }

    /// `EntityName` (SGP.02 Annex B).
    pub fn entity_name(&self) -> Option<&str> {
        self.param(&["EntityName"])
    }

    /// `TransactionID` (Annex B spelling) or `TransactionId` (seen on the wire).
    pub fn transaction_id(&self) -> Option<&str> {
        self.param(&["TransactionID", "TransactionId"])
    }

    /// `ContextID` (Annex B spelling) or `ContextId`.
    pub fn context_id(&self) -> Option<&str> {
        self.param(&["ContextID", "ContextId"])
    }

    /// `MessageDate` as written.
    pub fn message_date(&self) -> Option<&str> {
        self.param(&["MessageDate"])
    }

    /// The URI text with the parameters joined by `separator` (values percent-encoded where needed).
    pub fn to_uri(&self, separator: QuerySeparator) -> String {
        let mut out = self.base.clone();
        for (i, (k, v)) in self.params.iter().enumerate() {
            out.push(match (i, separator) {
                (0, _) | (_, QuerySeparator::Question) => '?',
                (_, QuerySeparator::Ampersand) => '&',
            });
            out.push_str(&percent_encode(k));
            out.push('=');
            out.push_str(&percent_encode(v));
        }
        out
    }
}

impl fmt::Display for SgpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Builds a `wsa:MessageID` per SGP.02 Annex B: the RPS `MessageId` followed by the optional query
/// parameters `TransactionID`, `ContextID` and `MessageDate`.
pub fn message_id(
    message_id: &str,
    transaction_id: Option<&str>,
    context_id: Option<&str>,
    message_date: Option<&XsDateTime>,
    separator: QuerySeparator,
) -> String {
    let mut uri = SgpUri::new(message_id);
    if let Some(t) = transaction_id {
        uri = uri.with("TransactionID", t);
    }
    if let Some(c) = context_id {
        uri = uri.with("ContextID", c);
    }
    if let Some(d) = message_date {
        uri = uri.with("MessageDate", &d.to_string());
    }
    uri.to_uri(separator)
}

/// Builds an endpoint address with `EntityId` and optional `EntityName` (SGP.02 Annex B `wsa:From`,
/// `wsa:ReplyTo`, `wsa:To`).
pub fn entity_address(
    endpoint: &str,
    entity_id: &str,
    entity_name: Option<&str>,
    separator: QuerySeparator,
) -> String {
    let mut uri = SgpUri::new(endpoint).with("EntityId", entity_id);
    if let Some(n) = entity_name {
        uri = uri.with("EntityName", n);
    }
    uri.to_uri(separator)
}

/// The WS-Addressing message addressing properties of a received envelope (WS-Addressing Core §3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WsaHeaders {
    /// `wsa:To`.
    pub to: Option<SgpUri>,
    /// `wsa:From/wsa:Address`.
    pub from: Option<SgpUri>,
    /// `wsa:ReplyTo/wsa:Address`.
    pub reply_to: Option<SgpUri>,
    /// `wsa:FaultTo/wsa:Address`.
    pub fault_to: Option<SgpUri>,
    /// `wsa:MessageID`.
    pub message_id: Option<SgpUri>,
    /// `wsa:Action`.
    pub action: Option<String>,
    /// `wsa:RelatesTo` (reply relationship).
    pub relates_to: Option<String>,
}

/// Which message exchange role a message plays (SGP.02 Annex B header requirements).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A function call.
    Request,
    /// A synchronous response or an asynchronous callback.
    Response,
    /// A notification.
    Notification,
}

impl WsaHeaders {
    /// The headers the GSMA WSDL bindings mark required but that are absent: `From`, `To`, `MessageID`,
    /// `Action`, plus `RelatesTo` for responses.
    pub fn missing_required(&self, kind: MessageKind) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.from.is_none() {
            out.push("From");
        }
        if self.to.is_none() {
            out.push("To");
        }
        if self.message_id.is_none() {
            out.push("MessageID");
        }
        if self.action.is_none() {
            out.push("Action");
        }
        if kind == MessageKind::Response && self.relates_to.is_none() {
            out.push("RelatesTo");
        }
        out
    }

    /// Where a reply should go: `ReplyTo`, else `From` (SGP.02 Annex B), `None` if neither is present.
    pub fn reply_address(&self) -> Option<&SgpUri> {
        self.reply_to.as_ref().or(self.from.as_ref())
    }
}

/// Why an envelope cannot be processed (SOAP 1.2 Part 1 §5.4.6 fault codes; SGP.02 Annex B).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    /// The XML is not well-formed or breaks a security rule.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The root element is an `Envelope` in an unknown namespace (VersionMismatch).
    #[error("envelope namespace {0:?} is neither SOAP 1.2 nor SOAP 1.1")]
    VersionMismatch(String),
    /// The root element is not a SOAP envelope.
    #[error("root element {0} is not a SOAP Envelope")]
    NotAnEnvelope(String),
    /// The envelope has no Body.
    #[error("the envelope has no Body")]
    MissingBody,
    /// The envelope contains something other than an optional Header followed by the Body.
    #[error("unexpected {0} in the envelope")]
    UnexpectedEnvelopeContent(String),
    /// The Body does not contain exactly one element.
    #[error("the Body must contain exactly one element, found {0}")]
    BodyElementCount(usize),
    /// A header block marked mustUnderstand that we do not process.
    #[error("header {0} must be understood but is not supported")]
    MustUnderstand(String),
    /// A WS-Addressing header that is repeated or malformed.
    #[error("invalid WS-Addressing header {name}: {reason}")]
    InvalidHeader {
        /// The header's local name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl SoapError {
    /// The fault code to answer with (SOAP 1.2 Part 1 §5.4.6).
    pub fn fault_code(&self) -> FaultCode {
        match self {
            SoapError::VersionMismatch(_) => FaultCode::VersionMismatch,
            SoapError::MustUnderstand(_) => FaultCode::MustUnderstand,
            _ => FaultCode::Sender,
        }
    }

    /// The status code data for the fault detail (SGP.02 §5.1.6.4): 1.6/2.2 for a missing Body, 1.6/2.1
    /// otherwise; the message says what is wrong.
    pub fn status_code_data(&self) -> StatusCodeData {
        let reason = match self {
            SoapError::MissingBody | SoapError::BodyElementCount(0) => {
                Reason::MANDATORY_ELEMENT_MISSING
            }
            _ => Reason::INVALID,
        };
        StatusCodeData::new(Subject::FUNCTION, reason, Some(self.to_string()))
    }

    /// A complete fault envelope for this error, in `version` (SOAP 1.2 for a version mismatch).
    pub fn to_fault(&self, version: SoapVersion, headers: Option<&OutgoingHeaders>) -> String {
        let version = if matches!(self, SoapError::VersionMismatch(_)) {
            SoapVersion::V1_2
        } else {
            version
        };
        let status = FunctionExecutionStatus::failed(self.status_code_data());
        fault_envelope(
            version,
            self.fault_code(),
            &self.to_string(),
            Some(&status),
            headers,
        )
    }
}

/// A parsed SOAP envelope (SOAP 1.2 Part 1 §5; SGP.02 Annex B).
#[derive(Debug, Clone)]
pub struct Envelope {
    version: SoapVersion,
    wsa: WsaHeaders,
    document: Document,
    header_index: Option<usize>,
    body_index: usize,
    body_child_index: usize,
}

/// Header blocks, other than WS-Addressing ones, that the caller processes itself (e.g. WS-Security), as
/// (namespace, local name); `mustUnderstand` on any other block is a fault.
pub type UnderstoodHeaders<'a> = &'a [(&'a str, &'a str)];

fn element_children(el: &Element) -> Vec<(usize, &Element)> {
    el.children()
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match n {
            Node::Element(e) => Some((i, e)),
            Node::Text(_) => None,
        })
        .collect()
}

fn only_whitespace_text(el: &Element) -> Result<(), SoapError> {
    if el.has_non_whitespace_text() {
        return Err(SoapError::UnexpectedEnvelopeContent(format!(
            "text in {}",
            el.local_name()
        )));
    }
    Ok(())
}

impl Envelope {
    /// Parses an envelope with the default XML limits, understanding only WS-Addressing headers.
    pub fn parse(input: &[u8]) -> Result<Envelope, SoapError> {
        Self::parse_with(input, ParseLimits::default(), &[])
    }

    /// Parses an envelope with explicit limits and extra understood header blocks.
    pub fn parse_with(
        input: &[u8],
        limits: ParseLimits,
        understood: UnderstoodHeaders<'_>,
    ) -> Result<Envelope, SoapError> {
        let document = Document::parse_with_limits(input, limits)?;
        let root = document.root();
        if root.local_name() != "Envelope" {
            return Err(SoapError::NotAnEnvelope(root.name().to_string()));
        }
        let version = match root.namespace() {
            Some(SOAP12_NS) => SoapVersion::V1_2,
            Some(SOAP11_NS) => SoapVersion::V1_1,
            other => return Err(SoapError::VersionMismatch(other.unwrap_or("").to_string())),
        };
        let env_ns = version.namespace();
        only_whitespace_text(root)?;
        let children = element_children(root);
        let mut header_index = None;
        let mut body_index = None;
        for (pos, (i, el)) in children.iter().enumerate() {
            if el.namespace() == Some(env_ns) && el.local_name() == "Header" && pos == 0 {
                header_index = Some(*i);
            } else if el.namespace() == Some(env_ns)
                && el.local_name() == "Body"
                && body_index.is_none()
                && pos <= 1
            {
                body_index = Some(*i);
            } else if body_index.is_some() && version == SoapVersion::V1_1 {
                // SOAP 1.1 §4.3 allows further elements after the Body; they carry nothing for us.
                continue;
            } else {
                return Err(SoapError::UnexpectedEnvelopeContent(el.name().to_string()));
            }
        }
        let body_index = body_index.ok_or(SoapError::MissingBody)?;
        let body = match &root.children()[body_index] {
            Node::Element(e) => e,
            Node::Text(_) => return Err(SoapError::MissingBody),
        };
        only_whitespace_text(body)?;
        let body_children = element_children(body);
        if body_children.len() != 1 {
            return Err(SoapError::BodyElementCount(body_children.len()));
        }
        let body_child_index = body_children[0].0;
        let mut wsa = WsaHeaders::default();
        if let Some(h) = header_index
            && let Node::Element(header) = &root.children()[h]
        {
            only_whitespace_text(header)?;
            for block in header.child_elements() {
                if block.namespace() == Some(WSA_NS) {
                    read_wsa_header(&mut wsa, block)?;
                } else if must_understand(block, version)
                    && !understood.iter().any(|(ns, local)| {
                        block.namespace() == Some(*ns) && block.local_name() == *local
                    })
                {
                    return Err(SoapError::MustUnderstand(block.name().to_string()));
                }
            }
        }
        Ok(Envelope {
            version,
            wsa,
            document,
            header_index,
            body_index,
            body_child_index,
        })
    }

    /// The SOAP version of the envelope.
    pub fn version(&self) -> SoapVersion {
        self.version
    }

    /// The WS-Addressing headers.
    pub fn wsa(&self) -> &WsaHeaders {
        &self.wsa
    }

    /// The parsed document (e.g. for signature checks over the source text).
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// All header blocks (WS-Addressing and others), in order.
    pub fn header_blocks(&self) -> Vec<&Element> {
        match self
            .header_index
            .map(|i| &self.document.root().children()[i])
        {
            Some(Node::Element(h)) => h.child_elements().collect(),
            _ => Vec::new(),
        }
    }

    /// The Body's single child element: the message to dispatch on.
    pub fn body(&self) -> &Element {
        let root = self.document.root();
        match &root.children()[self.body_index] {
            Node::Element(body) => match &body.children()[self.body_child_index] {
                Node::Element(child) => child,
                Node::Text(_) => root,
            },
            Node::Text(_) => root,
        }
    }

    /// True if the body is a SOAP Fault.
    pub fn is_fault(&self) -> bool {
        let b = self.body();
        b.namespace() == Some(self.version.namespace()) && b.local_name() == "Fault"
    }

    /// The fault carried by the body, if it is one.
    pub fn fault(&self) -> Option<Fault> {
        if !self.is_fault() {
            return None;
        }
        Some(Fault::read(self.body(), self.version))
    }
}

fn must_understand(block: &Element, version: SoapVersion) -> bool {
    let ns = version.namespace();
    if version == SoapVersion::V1_2 && block.attribute(Some(ns), "role") == Some(SOAP12_ROLE_NONE) {
        return false;
    }
    matches!(
        block.attribute(Some(ns), "mustUnderstand").map(str::trim),
        Some("true") | Some("1")
    )
}

fn read_wsa_header(wsa: &mut WsaHeaders, block: &Element) -> Result<(), SoapError> {
    let name = block.local_name().to_string();
    let invalid = |reason: &str| SoapError::InvalidHeader {
        name: name.clone(),
        reason: reason.to_string(),
    };
    let text_value = |el: &Element| -> Result<String, SoapError> {
        if el.child_elements().next().is_some() {
            return Err(invalid("must contain text only"));
        }
        let t = el.text().trim().to_string();
        if t.is_empty() {
            return Err(invalid("is empty"));
        }
        Ok(t)
    };
    let address = |el: &Element| -> Result<SgpUri, SoapError> {
        let mut found = None;
        for c in el.child_elements() {
            if c.is(WSA_NS, "Address") {
                if found.is_some() {
                    return Err(invalid("has more than one Address"));
                }
                found = Some(SgpUri::parse(&text_value(c)?));
            }
        }
        found.ok_or_else(|| invalid("has no Address"))
    };
    fn set<T>(slot: &mut Option<T>, v: T, err: SoapError) -> Result<(), SoapError> {
        if slot.is_some() {
            return Err(err);
        }
        *slot = Some(v);
        Ok(())
    }
    let dup = invalid("appears more than once");
    match block.local_name() {
        "To" => set(&mut wsa.to, SgpUri::parse(&text_value(block)?), dup),
        "From" => set(&mut wsa.from, address(block)?, dup),
        "ReplyTo" => set(&mut wsa.reply_to, address(block)?, dup),
        "FaultTo" => set(&mut wsa.fault_to, address(block)?, dup),
        "MessageID" => set(&mut wsa.message_id, SgpUri::parse(&text_value(block)?), dup),
        "Action" => set(&mut wsa.action, text_value(block)?, dup),
        "RelatesTo" => {
            let reply = "http://www.w3.org/2005/08/addressing/reply";
            match block.attribute(None, "RelationshipType") {
                None => {}
                Some(t) if t.trim() == reply => {}
                // Other relationship types carry nothing SGP.02 uses.
                Some(_) => return Ok(()),
            }
            set(&mut wsa.relates_to, text_value(block)?, dup)
        }
        _ => Err(invalid(
            "is not a WS-Addressing 1.0 message addressing property",
        )),
    }
}

/// SOAP fault codes (SOAP 1.2 Part 1 §5.4.6; SOAP 1.1 §4.4.1 equivalents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultCode {
    /// The message was incorrectly formed or lacked information (SOAP 1.1: Client).
    Sender,
    /// Processing failed for reasons not due to the message (SOAP 1.1: Server).
    Receiver,
    /// A mandatory header block was not understood.
    MustUnderstand,
    /// The envelope namespace is not supported.
    VersionMismatch,
}

impl FaultCode {
    /// The local name of the code value in `version`.
    pub fn local_name(self, version: SoapVersion) -> &'static str {
        match (self, version) {
            (FaultCode::Sender, SoapVersion::V1_2) => "Sender",
            (FaultCode::Sender, SoapVersion::V1_1) => "Client",
            (FaultCode::Receiver, SoapVersion::V1_2) => "Receiver",
            (FaultCode::Receiver, SoapVersion::V1_1) => "Server",
            (FaultCode::MustUnderstand, _) => "MustUnderstand",
            (FaultCode::VersionMismatch, _) => "VersionMismatch",
        }
    }

    fn from_local_name(name: &str) -> Option<FaultCode> {
        match name {
            "Sender" | "Client" => Some(FaultCode::Sender),
            "Receiver" | "Server" => Some(FaultCode::Receiver),
            "MustUnderstand" => Some(FaultCode::MustUnderstand),
            "VersionMismatch" => Some(FaultCode::VersionMismatch),
            _ => None,
        }
    }
}

/// A received SOAP fault (SOAP 1.2 Part 1 §5.4; SOAP 1.1 §4.4) with the SGP.02 status in its detail, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// The fault code, if it is one of the standard ones.
    pub code: Option<FaultCode>,
    /// The code value as written (e.g. `env:Sender`).
    pub code_text: String,
    /// The reason text.
    pub reason: String,
    /// `rps:FunctionExecutionStatus` from the detail, when present and valid.
    pub status: Option<FunctionExecutionStatus>,
}

impl Fault {
    fn read(el: &Element, version: SoapVersion) -> Fault {
        let ns = version.namespace();
        let (code_text, reason, detail) = match version {
            SoapVersion::V1_2 => (
                el.child(ns, "Code")
                    .and_then(|c| c.child(ns, "Value"))
                    .map(|v| v.text().trim().to_string()),
                el.child(ns, "Reason")
                    .and_then(|r| r.child(ns, "Text"))
                    .map(|t| t.text()),
                el.child(ns, "Detail"),
            ),
            SoapVersion::V1_1 => {
                let plain = |name: &str| {
                    el.child_elements()
                        .find(|c| c.namespace().is_none() && c.local_name() == name)
                };
                (
                    plain("faultcode").map(|c| c.text().trim().to_string()),
                    plain("faultstring").map(|t| t.text()),
                    plain("detail"),
                )
            }
        };
        let code_text = code_text.unwrap_or_default();
        let local = code_text.rsplit(':').next().unwrap_or("");
        let status = detail
            .and_then(|d| d.child(RPS_NS, "FunctionExecutionStatus"))
            .and_then(|s| {
                FunctionExecutionStatus::decode_element(s, "FunctionExecutionStatus").ok()
            });
        Fault {
            code: FaultCode::from_local_name(local),
            code_text,
            reason: reason.unwrap_or_default(),
            status,
        }
    }
}

/// The WS-Addressing headers of an outgoing message (SGP.02 Annex B): `To` and `Action` are written with
/// `mustUnderstand`, as on the wire of deployed SGP.02 platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingHeaders {
    /// `wsa:To`.
    pub to: String,
    /// `wsa:From/wsa:Address`.
    pub from: Option<String>,
    /// `wsa:ReplyTo/wsa:Address` (requests to be answered asynchronously).
    pub reply_to: Option<String>,
    /// `wsa:MessageID` (see [`message_id`]).
    pub message_id: String,
    /// `wsa:Action` (see [`action`]).
    pub action: String,
    /// `wsa:RelatesTo`: the request's MessageID, for responses and callbacks.
    pub relates_to: Option<String>,
}

impl OutgoingHeaders {
    /// Headers for a response or callback to `request`: `To` = its ReplyTo, else its From, else anonymous;
    /// `RelatesTo` = its MessageID.
    pub fn reply(request: &WsaHeaders, from: &str, message_id: String, action: &str) -> Self {
        OutgoingHeaders {
            to: request
                .reply_address()
                .map(|u| u.as_str().to_string())
                .unwrap_or_else(|| WSA_ANONYMOUS.to_string()),
            from: Some(from.to_string()),
            reply_to: None,
            message_id,
            action: action.to_string(),
            relates_to: request.message_id.as_ref().map(|m| m.as_str().to_string()),
        }
    }
}

fn write_headers(w: &mut XmlWriter, version: SoapVersion, h: &OutgoingHeaders) {
    let must = match version {
        SoapVersion::V1_2 => "true",
        SoapVersion::V1_1 => "1",
    };
    w.start("env:Header");
    w.start("wsa:To");
    w.attribute("env:mustUnderstand", must);
    w.text(&h.to);
    w.end();
    if let Some(from) = &h.from {
        w.start("wsa:From");
        w.leaf("wsa:Address", from);
        w.end();
    }
    if let Some(reply_to) = &h.reply_to {
        w.start("wsa:ReplyTo");
        w.leaf("wsa:Address", reply_to);
        w.end();
    }
    w.leaf("wsa:MessageID", &h.message_id);
    w.start("wsa:Action");
    w.attribute("env:mustUnderstand", must);
    w.text(&h.action);
    w.end();
    if let Some(r) = &h.relates_to {
        w.leaf("wsa:RelatesTo", r);
    }
    w.end();
}

fn start_envelope(w: &mut XmlWriter, version: SoapVersion, headers: Option<&OutgoingHeaders>) {
    w.declaration();
    w.start("env:Envelope");
    w.attribute("xmlns:env", version.namespace());
    w.attribute("xmlns:wsa", WSA_NS);
    w.attribute(&format!("xmlns:{RPS_PREFIX}"), RPS_NS);
    if let Some(h) = headers {
        write_headers(w, version, h);
    }
    w.start("env:Body");
}

/// The fault answering a request that lacks mandatory message addressing headers (`missing`: local names such as
/// `MessageID`): WS-Addressing 1.0 SOAP Binding §6.4.3 — SOAP 1.2 `Sender` with subcode
/// `wsa:MessageAddressingHeaderRequired` (SOAP 1.1: that faultcode), `wsa:ProblemHeaderQName` of the first
/// missing header in the detail — and, for SGP.02 peers, FAILED 1.6/2.2 "Mandatory Element Missing" naming it.
pub fn addressing_header_required_fault(version: SoapVersion, missing: &[&str]) -> String {
    let first = format!("wsa:{}", missing.first().copied().unwrap_or("MessageID"));
    let reason = format!(
        "A required header representing a Message Addressing Property is not present: wsa:{}",
        missing.join(", wsa:")
    );
    let status = FunctionExecutionStatus::failed(StatusCodeData {
        subject: Subject::FUNCTION,
        reason: Reason::MANDATORY_ELEMENT_MISSING,
        subject_identifier: Some(first.clone()),
        message: Some(reason.clone()),
    });
    let subcode = "wsa:MessageAddressingHeaderRequired";
    let mut w = XmlWriter::new();
    w.declaration();
    w.start("env:Envelope");
    w.attribute("xmlns:env", version.namespace());
    w.attribute("xmlns:wsa", WSA_NS);
    w.attribute(&format!("xmlns:{RPS_PREFIX}"), RPS_NS);
    w.start("env:Header");
    w.leaf("wsa:Action", WSA_FAULT_ACTION);
    w.end();
    w.start("env:Body");
    w.start("env:Fault");
    let detail = |w: &mut XmlWriter| {
        w.leaf("wsa:ProblemHeaderQName", &first);
        write_element(&status, w, "FunctionExecutionStatus");
    };
    match version {
        SoapVersion::V1_2 => {
            w.start("env:Code");
            w.leaf("env:Value", "env:Sender");
            w.start("env:Subcode");
            w.leaf("env:Value", subcode);
            w.end();
            w.end();
            w.start("env:Reason");
            w.start("env:Text");
            w.attribute("xml:lang", "en");
            w.text(&reason);
            w.end();
            w.end();
            w.start("env:Detail");
            detail(&mut w);
            w.end();
        }
        SoapVersion::V1_1 => {
            w.leaf("faultcode", subcode);
            w.leaf("faultstring", &reason);
            w.start("detail");
            detail(&mut w);
            w.end();
        }
    }
    w.finish()
}

/// A complete envelope (prefixes `env`, `wsa`, `rps`) whose body is written by `body`.
pub fn envelope(
    version: SoapVersion,
    headers: &OutgoingHeaders,
    body: impl FnOnce(&mut XmlWriter),
) -> String {
    let mut w = XmlWriter::new();
    start_envelope(&mut w, version, Some(headers));
    body(&mut w);
    w.finish()
}

/// A complete envelope carrying one message.
pub fn envelope_for<T: BodyElement>(
    version: SoapVersion,
    headers: &OutgoingHeaders,
    message: &T,
) -> String {
    envelope(version, headers, |w| message.write_body(w))
}

/// A fault envelope (SOAP 1.2 Part 1 §5.4 / SOAP 1.1 §4.4) whose detail carries `rps:FunctionExecutionStatus`
/// (SGP.02 Annex B), for requests that cannot be mapped to a function.
pub fn fault_envelope(
    version: SoapVersion,
    code: FaultCode,
    reason: &str,
    status: Option<&FunctionExecutionStatus>,
    headers: Option<&OutgoingHeaders>,
) -> String {
    let mut w = XmlWriter::new();
    start_envelope(&mut w, version, headers);
    w.start("env:Fault");
    let code_value = format!("env:{}", code.local_name(version));
    match version {
        SoapVersion::V1_2 => {
            w.start("env:Code");
            w.leaf("env:Value", &code_value);
            w.end();
            w.start("env:Reason");
            w.start("env:Text");
            w.attribute("xml:lang", "en");
            w.text(reason);
            w.end();
            w.end();
            if let Some(s) = status {
                w.start("env:Detail");
                write_element(s, &mut w, "FunctionExecutionStatus");
                w.end();
            }
        }
        SoapVersion::V1_1 => {
            w.leaf("faultcode", &code_value);
            w.leaf("faultstring", reason);
            if let Some(s) = status {
                w.start("detail");
                write_element(s, &mut w, "FunctionExecutionStatus");
                w.end();
            }
        }
    }
    w.finish()
}

/// A Sender fault for a body that cannot be mapped to a function (unknown body element, wrong namespace, or
/// a request that cannot carry its function's response), its detail carrying the decode error's status
/// (SGP.02 §5.1.6.4: 1.6/2.1 or 1.6/2.2).
pub fn decode_error_fault(
    version: SoapVersion,
    error: &crate::messages::DecodeError,
    headers: Option<&OutgoingHeaders>,
) -> String {
    fault_envelope(
        version,
        FaultCode::Sender,
        &error.to_string(),
        Some(&error.function_execution_status()),
        headers,
    )
}

/// `wsa:Action` URIs of the GSMA SGP.02 v3 WSDLs, per function (SGP.02 Annex B; notes §2.3).
///
/// `request` is the provider WSDL's input Action, `response` its output Action (or the requester WSDL's for
/// functions the provider WSDL declares one-way), `callback` the requester/callback WSDL's Action for an
/// asynchronous result. The bundle's own spellings are kept (`ES3-ProfileDownloadedCompleted…`, the mixed
/// `ProfileManagement`/`PlatformManagement`/`eUICCManagement` segments). The bundle has no Action for the ES2
/// and ES4 notifications; we use the ES3 pattern (`…/PlatformManagement/ESn-Handle…Notification`).
pub mod action {
    /// The Actions of one function or notification.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Actions {
        /// Function name, e.g. `ES4-EnableProfile`, or the notification element name.
        pub function: &'static str,
        /// Action of the request (or of the notification).
        pub request: &'static str,
        /// Action of a synchronous response (`None` for notifications).
        pub response: Option<&'static str>,
        /// Action of an asynchronous callback carrying the response, where the bundle defines one.
        pub callback: Option<&'static str>,
    }

    macro_rules! actions {
        ($( $(#[$m:meta])* $konst:ident = $f:literal, $req:literal, $resp:expr, $cb:expr; )+) => {
            $( $(#[$m])* pub const $konst: Actions = Actions { function: $f, request: $req, response: $resp, callback: $cb }; )+
            /// Every function and notification, for lookup.
            pub const ALL: &[Actions] = &[$($konst),+];
        };
    }

    actions! {
        /// ES1.RegisterEIS (ES1_SMSR.wsdl).
        ES1_REGISTER_EIS = "ES1-RegisterEIS", "http://gsma.com/ES1/eUICCManagement/ES1-RegisterEISRequest", Some("http://gsma.com/ES1/eUICCManagement/ES1-RegisterEISResponse"), None;
        /// ES2.GetEIS (ES2_SMDP.wsdl).
        ES2_GET_EIS = "ES2-GetEIS", "http://gsma.com/ES2/DataPreparation/ES2-GetEISRequest", Some("http://gsma.com/ES2/DataPreparation/ES2-GetEISResponse"), None;
        /// ES2.DownloadProfile (ES2_SMDP.wsdl; response from ES2_MNO.wsdl).
        ES2_DOWNLOAD_PROFILE = "ES2-DownloadProfile", "http://gsma.com/ES2/ProfileManagement/ES2-DownloadProfile", Some("http://gsma.com/ES2/PlatformManagement/ES2-DownloadProfileResponse"), Some("http://gsma.com/ES2/PlatformManagement/ES2-DownloadProfileResponse");
        /// ES2.UpdatePolicyRules (ES2_SMDP.wsdl).
        ES2_UPDATE_POLICY_RULES = "ES2-UpdatePolicyRules", "http://gsma.com/ES2/ProfileManagement/ES2-UpdatePolicyRulesRequest", Some("http://gsma.com/ES2/ProfileManagement/ES2-UpdatePolicyRulesResponse"), None;
        /// ES2.UpdateSubscriptionAddress (ES2_SMDP.wsdl).
        ES2_UPDATE_SUBSCRIPTION_ADDRESS = "ES2-UpdateSubscriptionAddress", "http://gsma.com/ES2/ProfileManagement/ES2-UpdateSubscriptionAddressRequest", Some("http://gsma.com/ES2/ProfileManagement/ES2-UpdateSubscriptionAddressResponse"), None;
        /// ES2.EnableProfile (ES2_SMDP.wsdl; response from ES2_MNO.wsdl).
        ES2_ENABLE_PROFILE = "ES2-EnableProfile", "http://gsma.com/ES2/PlatformManagement/ES2-EnableProfile", Some("http://gsma.com/ES2/PlatformManagement/ES2-EnableProfileResponse"), Some("http://gsma.com/ES2/PlatformManagement/ES2-EnableProfileResponse");
        /// ES2.DisableProfile (ES2_SMDP.wsdl; response from ES2_MNO.wsdl).
        ES2_DISABLE_PROFILE = "ES2-DisableProfile", "http://gsma.com/ES2/PlatformManagement/ES2-DisableProfile", Some("http://gsma.com/ES2/PlatformManagement/ES2-DisableProfileResponse"), Some("http://gsma.com/ES2/PlatformManagement/ES2-DisableProfileResponse");
        /// ES2.DeleteProfile (ES2_SMDP.wsdl; response from ES2_MNO.wsdl).
        ES2_DELETE_PROFILE = "ES2-DeleteProfile", "http://gsma.com/ES2/PlatformManagement/ES2-DeleteProfile", Some("http://gsma.com/ES2/PlatformManagement/ES2-DeleteProfileResponse"), Some("http://gsma.com/ES2/PlatformManagement/ES2-DeleteProfileResponse");
        /// ES2.HandleProfileDisabledNotification (not in the bundle; ES3 pattern).
        ES2_HANDLE_PROFILE_DISABLED_NOTIFICATION = "ES2-HandleProfileDisabledNotification", "http://gsma.com/ES2/PlatformManagement/ES2-HandleProfileDisabledNotification", None, None;
        /// ES2.HandleProfileEnabledNotification (not in the bundle; ES3 pattern).
        ES2_HANDLE_PROFILE_ENABLED_NOTIFICATION = "ES2-HandleProfileEnabledNotification", "http://gsma.com/ES2/PlatformManagement/ES2-HandleProfileEnabledNotification", None, None;
        /// ES2.HandleProfileDeletedNotification (not in the bundle; ES3 pattern).
        ES2_HANDLE_PROFILE_DELETED_NOTIFICATION = "ES2-HandleProfileDeletedNotification", "http://gsma.com/ES2/PlatformManagement/ES2-HandleProfileDeletedNotification", None, None;
        /// ES2.HandleSMSRChangeNotification (not in the bundle; ES3 pattern).
        ES2_HANDLE_SMSR_CHANGE_NOTIFICATION = "ES2-HandleSMSRChangeNotification", "http://gsma.com/ES2/PlatformManagement/ES2-HandleSMSRChangeNotification", None, None;
        /// ES3.GetEIS (ES3_SMSR.wsdl).
        ES3_GET_EIS = "ES3-GetEIS", "http://gsma.com/ES3/ProfileManagement/ES3-GetEISRequest", Some("http://gsma.com/ES3/ProfileManagement/ES3-GetEISResponse"), None;
        /// ES3.AuditEIS (ES3_SMSR.wsdl; callback ES3_SMDP.wsdl).
        ES3_AUDIT_EIS = "ES3-AuditEIS", "http://gsma.com/ES3/ProfileManagement/ES3-AuditEISRequest", Some("http://gsma.com/ES3/ProfileManagement/ES3-AuditEISResponse"), Some("http://gsma.com/ES3/ProfileManagementCallBack/ES3-AuditEIS");
        /// ES3.CreateISDP (ES3_SMSR.wsdl; callback ES3_SMDP.wsdl).
        ES3_CREATE_ISDP = "ES3-CreateISDP", "http://gsma.com/ES3/ProfileManagement/ES3-CreateISDPRequest", Some("http://gsma.com/ES3/ProfileManagement/ES3-CreateISDPResponse"), Some("http://gsma.com/ES3/ProfileManagementCallBack/ES3-CreateISDP");
        /// ES3.SendData (ES3_SMSR.wsdl; callback ES3_SMDP.wsdl).
        ES3_SEND_DATA = "ES3-SendData", "http://gsma.com/ES3/ProfileManagement/ES3-SendDataRequest", Some("http://gsma.com/ES3/ProfileManagement/ES3-SendDataResponse"), Some("http://gsma.com/ES3/ProfileManagementCallBack/ES3-SendData");
        /// ES3.ProfileDownloadCompleted (ES3_SMSR.wsdl, which spells `ProfileDownloadedCompleted`).
        ES3_PROFILE_DOWNLOAD_COMPLETED = "ES3-ProfileDownloadCompleted", "http://gsma.com/ES3/ProfileManagement/ES3-ProfileDownloadedCompletedRequest", Some("http://gsma.com/ES3/ProfileManagement/ES3-ProfileDownloadedCompletedResponse"), None;
        /// ES3.UpdatePolicyRules (ES3_SMSR.wsdl).
        ES3_UPDATE_POLICY_RULES = "ES3-UpdatePolicyRules", "http://gsma.com/ES3/ProfileManagement/ES3-UpdatePolicyRulesRequest", Some("http://gsma.com/ES3/ProfileManagement/ES3-UpdatePolicyRulesResponse"), None;
        /// ES3.UpdateSubscriptionAddress (ES3_SMSR.wsdl, response under `PlatformManagement`).
        ES3_UPDATE_SUBSCRIPTION_ADDRESS = "ES3-UpdateSubscriptionAddress", "http://gsma.com/ES3/ProfileManagement/ES3-UpdateSubscriptionAddressRequest", Some("http://gsma.com/ES3/PlatformManagement/ES3-UpdateSubscriptionAddressResponse"), None;
        /// ES3.EnableProfile (ES3_SMSR.wsdl; callback ES3_SMDP.wsdl).
        ES3_ENABLE_PROFILE = "ES3-EnableProfile", "http://gsma.com/ES3/PlatformManagement/ES3-EnableProfileRequest", Some("http://gsma.com/ES3/PlatformManagement/ES3-EnableProfileResponse"), Some("http://gsma.com/ES3/PlatformManagementCallBack/ES3-EnableProfile");
        /// ES3.DisableProfile (ES3_SMSR.wsdl; callback ES3_SMDP.wsdl).
        ES3_DISABLE_PROFILE = "ES3-DisableProfile", "http://gsma.com/ES3/PlatformManagement/ES3-DisableProfileRequest", Some("http://gsma.com/ES3/PlatformManagement/ES3-DisableProfileResponse"), Some("http://gsma.com/ES3/PlatformManagementCallBack/ES3-DisableProfile");
        /// ES3.DeleteISDP (ES3_SMSR.wsdl; callback ES3_SMDP.wsdl).
        ES3_DELETE_ISDP = "ES3-DeleteISDP", "http://gsma.com/ES3/PlatformManagement/ES3-DeleteISDPRequest", Some("http://gsma.com/ES3/PlatformManagement/ES3-DeleteISDPResponse"), Some("http://gsma.com/ES3/PlatformManagementCallBack/ES3-DeleteISDP");
        /// ES3.UpdateConnectivityParameters (ES3_SMSR.wsdl; callback ES3_SMDP.wsdl).
        ES3_UPDATE_CONNECTIVITY_PARAMETERS = "ES3-UpdateConnectivityParameters", "http://gsma.com/ES3/PlatformManagement/ES3-UpdateConnectivityParametersRequest", Some("http://gsma.com/ES3/PlatformManagement/ES3-UpdateConnectivityParametersResponse"), Some("http://gsma.com/ES3/PlatformManagementCallBack/ES3-UpdateConnectivityParameters");
        /// ES3.HandleProfileDisabledNotification (ES3_SMDP.wsdl).
        ES3_HANDLE_PROFILE_DISABLED_NOTIFICATION = "ES3-HandleProfileDisabledNotification", "http://gsma.com/ES3/PlatformManagement/ES3-HandleProfileDisabledNotification", None, None;
        /// ES3.HandleProfileEnabledNotification (ES3_SMDP.wsdl).
        ES3_HANDLE_PROFILE_ENABLED_NOTIFICATION = "ES3-HandleProfileEnabledNotification", "http://gsma.com/ES3/PlatformManagement/ES3-HandleProfileEnabledNotification", None, None;
        /// ES3.HandleProfileDeletedNotification (ES3_SMDP.wsdl).
        ES3_HANDLE_PROFILE_DELETED_NOTIFICATION = "ES3-HandleProfileDeletedNotification", "http://gsma.com/ES3/PlatformManagement/ES3-HandleProfileDeletedNotification", None, None;
        /// ES3.HandleSMSRChangeNotification (ES3_SMDP.wsdl).
        ES3_HANDLE_SMSR_CHANGE_NOTIFICATION = "ES3-HandleSMSRChangeNotification", "http://gsma.com/ES3/PlatformManagement/ES3-HandleSMSRChangeNotification", None, None;
        /// ES4.GetEIS (ES4_SMSR.wsdl).
        ES4_GET_EIS = "ES4-GetEIS", "http://gsma.com/ES4/ProfileManagement/ES4-GetEISRequest", Some("http://gsma.com/ES4/ProfileManagement/ES4-GetEISResponse"), None;
        /// ES4.AuditEIS (ES4_SMSR.wsdl; response from ES4_MNO.wsdl).
        ES4_AUDIT_EIS = "ES4-AuditEIS", "http://gsma.com/ES4/ProfileManagement/ES4-AuditEIS", Some("http://gsma.com/ES4/eUICCManagement/ES4-AuditEISResponse"), Some("http://gsma.com/ES4/eUICCManagement/ES4-AuditEISResponse");
        /// ES4.UpdatePolicyRules (ES4_SMSR.wsdl).
        ES4_UPDATE_POLICY_RULES = "ES4-UpdatePolicyRules", "http://gsma.com/ES4/ProfileManagement/ES4-UpdatePolicyRulesRequest", Some("http://gsma.com/ES4/ProfileManagement/ES4-UpdatePolicyRulesResponse"), None;
        /// ES4.UpdateSubscriptionAddress (ES4_SMSR.wsdl).
        ES4_UPDATE_SUBSCRIPTION_ADDRESS = "ES4-UpdateSubscriptionAddress", "http://gsma.com/ES4/ProfileManagement/ES4-UpdateSubscriptionAddressRequest", Some("http://gsma.com/ES4/ProfileManagement/ES4-UpdateSubscriptionAddressResponse"), None;
        /// ES4.EnableProfile (ES4_SMSR.wsdl; response from ES4_MNO.wsdl).
        ES4_ENABLE_PROFILE = "ES4-EnableProfile", "http://gsma.com/ES4/PlatformManagement/ES4-EnableProfile", Some("http://gsma.com/ES4/eUICCManagement/ES4-EnableProfileResponse"), Some("http://gsma.com/ES4/eUICCManagement/ES4-EnableProfileResponse");
        /// ES4.DisableProfile (ES4_SMSR.wsdl; response from ES4_MNO.wsdl).
        ES4_DISABLE_PROFILE = "ES4-DisableProfile", "http://gsma.com/ES4/PlatformManagement/ES4-DisableProfile", Some("http://gsma.com/ES4/eUICCManagement/ES4-DisableProfileResponse"), Some("http://gsma.com/ES4/eUICCManagement/ES4-DisableProfileResponse");
        /// ES4.DeleteProfile (ES4_SMSR.wsdl; response from ES4_MNO.wsdl).
        ES4_DELETE_PROFILE = "ES4-DeleteProfile", "http://gsma.com/ES4/PlatformManagement/ES4-DeleteProfile", Some("http://gsma.com/ES4/eUICCManagement/ES4-DeleteProfileResponse"), Some("http://gsma.com/ES4/eUICCManagement/ES4-DeleteProfileResponse");
        /// ES4.PrepareSMSRChange (ES4_SMSR.wsdl; response from ES4_MNO.wsdl).
        ES4_PREPARE_SMSR_CHANGE = "ES4-PrepareSMSRChange", "http://gsma.com/ES4/eUICCManagement/ES4-PrepareSMSRChange", Some("http://gsma.com/ES4/eUICCManagement/ES4-PrepareSMSRChangeResponse"), Some("http://gsma.com/ES4/eUICCManagement/ES4-PrepareSMSRChangeResponse");
        /// ES4.SMSRChange (ES4_SMSR.wsdl; response from ES4_MNO.wsdl).
        ES4_SMSR_CHANGE = "ES4-SMSRChange", "http://gsma.com/ES4/eUICCManagement/ES4-SMSRChange", Some("http://gsma.com/ES4/eUICCManagement/ES4-SMSRChangeResponse"), Some("http://gsma.com/ES4/eUICCManagement/ES4-SMSRChangeResponse");
        /// ES4.HandleProfileDisabledNotification (not in the bundle; ES3 pattern).
        ES4_HANDLE_PROFILE_DISABLED_NOTIFICATION = "ES4-HandleProfileDisabledNotification", "http://gsma.com/ES4/PlatformManagement/ES4-HandleProfileDisabledNotification", None, None;
        /// ES4.HandleProfileEnabledNotification (not in the bundle; ES3 pattern).
        ES4_HANDLE_PROFILE_ENABLED_NOTIFICATION = "ES4-HandleProfileEnabledNotification", "http://gsma.com/ES4/PlatformManagement/ES4-HandleProfileEnabledNotification", None, None;
        /// ES4.HandleProfileDeletedNotification (not in the bundle; ES3 pattern).
        ES4_HANDLE_PROFILE_DELETED_NOTIFICATION = "ES4-HandleProfileDeletedNotification", "http://gsma.com/ES4/PlatformManagement/ES4-HandleProfileDeletedNotification", None, None;
        /// ES4.HandleSMSRChangeNotification (not in the bundle; ES3 pattern).
        ES4_HANDLE_SMSR_CHANGE_NOTIFICATION = "ES4-HandleSMSRChangeNotification", "http://gsma.com/ES4/PlatformManagement/ES4-HandleSMSRChangeNotification", None, None;
        /// ES7.HandoverEUICC (ES7_SMSR_Provider.wsdl; response ES7_SMSR.wsdl; callback ES7_SMSR_Requester.wsdl).
        ES7_HANDOVER_EUICC = "ES7-HandoverEUICC", "http://gsma.com/ES7/eUICCManagement/ES7-HandoverEUICC", Some("http://gsma.com/ES7/eUICCManagement/ES7-HandoverEUICCResponse"), Some("http://gsma.com/ES7/eUICCManagementCallBack/ES7-HandoverEUICC");
        /// ES7.AuthenticateSMSR (ES7_SMSR_Provider.wsdl; response ES7_SMSR.wsdl; callback ES7_SMSR_Requester.wsdl).
        ES7_AUTHENTICATE_SMSR = "ES7-AuthenticateSMSR", "http://gsma.com/ES7/eUICCManagement/ES7-AuthenticateSMSR", Some("http://gsma.com/ES7/eUICCManagement/ES7-AuthenticateSMSRResponse"), Some("http://gsma.com/ES7/eUICCManagementCallBack/ES7-AuthenticateSMSR");
        /// ES7.CreateAdditionalKeySet (ES7_SMSR_Provider.wsdl; response ES7_SMSR.wsdl; callback ES7_SMSR_Requester.wsdl).
        ES7_CREATE_ADDITIONAL_KEY_SET = "ES7-CreateAdditionalKeySet", "http://gsma.com/ES7/eUICCManagement/ES7-CreateAdditionalKeySet", Some("http://gsma.com/ES7/eUICCManagement/ES7-CreateAdditionalKeySetResponse"), Some("http://gsma.com/ES7/eUICCManagementCallBack/ES7-CreateAdditionalKeySet");
        /// ES7.HandleSMSRChangeNotification (ES7_SMSR.wsdl).
        ES7_HANDLE_SMSR_CHANGE_NOTIFICATION = "ES7-HandleSMSRChangeNotification", "http://gsma.com/ES7/eUICCManagement/ES7-HandleSMSRChangeNotification", None, None;
    }

    /// The Actions of the function a body element belongs to: `ES4-EnableProfileRequest`,
    /// `ES4-EnableProfileResponse` and `ES4-EnableProfile` all give [`ES4_ENABLE_PROFILE`].
    pub fn for_element(element: &str) -> Option<&'static Actions> {
        let function = element
            .strip_suffix("Request")
            .or_else(|| element.strip_suffix("Response"))
            .unwrap_or(element);
        ALL.iter().find(|a| a.function == function)
    }
}
