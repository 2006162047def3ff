//! The eUICC Information Set, `EISType` (SGP.02 §5.1.1.3; `euicc.common.types.xsd`), in schema order.
//!
//! `EumSignature` (an XML-DSig `ds:SignatureType`) is kept as the XML of its children, each standalone (with
//! the namespace declarations it uses), so that it is passed on unchanged. [`find_eum_signed_info`] gives the
//! received `EumSignedInfo` element, whose [`Element::standalone_source`] is what a signature check
//! canonicalises.

use crate::messages::codec::{
    Cursor, DecodeError, DecodeErrorKind, RPS_PREFIX, SchemaCollector, XmlChoice, XmlContent,
    check_attributes, schema_element, write_element, xml_type,
};
use crate::messages::common::{Pol2, SubscriptionAddress};
use crate::status::FunctionExecutionStatus;
use crate::types::{
    Aid, Eid, HexBinary, HexBinary16, Iccid, InvalidValue, KeyIndex, KeyTypeCoding, KeyValue,
    KeysetUsage, KeysetVersion, Oid, OperationType, ProfileState, SdRole, String100, Tar,
    ThreeDigitVersion, XsDateTime,
};
use crate::xml::{Document, Element, Node, XmlWriter, is_xml_whitespace};

/// The XML-DSig namespace (XML Signature Syntax and Processing §4).
pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

xml_type! {
    /// The eUICC Information Set, `EISType` (SGP.02 §5.1.1.3).
    pub struct Eis : "EISType" {
        /// The part signed by the EUM.
        pub eum_signed_info: EumSignedInfo = one "EumSignedInfo",
        /// The EUM's XML-DSig signature over [`Eis::eum_signed_info`].
        pub eum_signature: EumSignature = one "EumSignature",
        /// Memory left on the eUICC (bytes).
        pub remaining_memory: u64 = one "RemainingMemory",
        /// Memory available for new profiles (bytes).
        pub available_memory_for_profiles: u64 = one "AvailableMemoryForProfiles",
        /// Date of the last audit.
        pub last_audit_date: Option<XsDateTime> = opt "LastAuditDate",
        /// The SM-SR in charge of the eUICC.
        pub smsr_id: Oid = one "Smsr-id" | "SmSr-id",
        /// The profiles on the eUICC.
        pub profile_info: Vec<ProfileInfo> = many(0, unbounded) "ProfileInfo",
        /// The ISD-R.
        pub isd_r: SecurityDomain = one "Isd-r",
        /// The audit trail.
        pub audit_trail: Option<AuditTrail> = opt "AuditTrail",
        /// Additional properties.
        pub additional_properties: Option<AdditionalProperties> = opt "AdditionalProperties",
    }
}

xml_type! {
    /// The EUM-signed part of the EIS, `EISType/EumSignedInfo` (SGP.02 §5.1.1.3.1).
    pub struct EumSignedInfo : "EumSignedInfoType" {
        /// The eUICC identifier.
        pub eid: Eid = one "Eid",
        /// The EUM's OID.
        pub eum_id: Oid = one "Eum-id",
        /// Production date.
        pub production_date: XsDateTime = one "ProductionDate",
        /// Platform type.
        pub platform_type: String100 = one "PlatformType",
        /// Platform version.
        pub platform_version: ThreeDigitVersion = one "PlatformVersion",
        /// AID of the executable load file used to instantiate ISD-Ps.
        pub isd_p_loadfile_aid: Aid = one "Isd-p-loadfile-aid",
        /// AID of the executable module used to instantiate ISD-Ps.
        pub isd_p_module_aid: Aid = one "Isd-p-module-aid",
        /// The ECASD.
        pub ecasd: SecurityDomain = one "Ecasd",
        /// eUICC capabilities.
        pub euicc_capabilities: EuiccCapabilities = one "EuiccCapabilities",
    }
}

xml_type! {
    /// eUICC capabilities, `EumSignedInfo/EuiccCapabilities` (SGP.02 §5.1.1.3.1).
    pub struct EuiccCapabilities : "EuiccCapabilitiesType" {
        /// CAT_TP support.
        pub cattp_support: bool = one "CattpSupport",
        /// CAT_TP version.
        pub cattp_version: Option<ThreeDigitVersion> = opt "CattpVersion",
        /// HTTPS (SCP81) support.
        pub http_support: bool = one "HttpSupport",
        /// HTTP version.
        pub http_version: Option<ThreeDigitVersion> = opt "HttpVersion",
        /// Secure packet (ETSI TS 102 225) version.
        pub secure_packet_version: ThreeDigitVersion = one "SecurePacketVersion",
        /// Remote provisioning (SGP.02) version.
        pub remote_provisioning_version: ThreeDigitVersion = one "RemoteProvisioningVersion",
    }
}

xml_type! {
    /// A profile on the eUICC, `EISType/ProfileInfo` (SGP.02 §5.1.1.3.6).
    pub struct ProfileInfo : "ProfileInfoType" {
        /// The profile's ICCID.
        pub iccid: Iccid = one "Iccid",
        /// AID of its ISD-P (TAR = AID bytes 13–15).
        pub isd_p_aid: Aid = one "Isd-p-aid",
        /// The MNO owning the profile.
        pub mno_id: Oid = one "Mno-id",
        /// Whether the profile has the fall-back attribute.
        pub fallback_attribute: bool = one "FallbackAttribute",
        /// IMSI and MSISDN.
        pub subscription_address: SubscriptionAddress = one "SubscriptionAddress",
        /// Created, Disabled or Enabled.
        pub state: ProfileState = one "State",
        /// The SM-DP that downloaded it (absent for profiles loaded at issuance).
        pub smdp_id: Option<Oid> = opt "Smdp-id",
        /// The SM-DP's profile type reference.
        pub profile_type: Option<String100> = opt "ProfileType",
        /// Memory allocated to the ISD-P.
        pub allocated_memory: u64 = one "AllocatedMemory",
        /// Memory still free within the allocation (quota management).
        pub free_memory: Option<u64> = opt "FreeMemory",
        /// The POL2 rules.
        pub pol2: Pol2 = one "pol2",
    }
}

xml_type! {
    /// A security domain (ISD-R or ECASD), `SecurityDomainType` (SGP.02 §5.1.1.3.5).
    pub struct SecurityDomain : "SecurityDomainType" {
        /// Its AID.
        pub aid: Aid = one "Aid",
        /// Its TARs (default: AID bytes 13–15).
        pub tar: Vec<Tar> = many(0, unbounded) "Tar",
        /// Security domain image number.
        pub sin: HexBinary16 = one "Sin",
        /// Security domain issuer number.
        pub sdin: HexBinary16 = one "Sdin",
        /// ISD-R or ECASD.
        pub role: SdRole = one "Role",
        /// Its key sets (1 to 127).
        pub keysets: Vec<Keyset> = many(1, 127) "Keyset",
    }
}

xml_type! {
    /// A key set of a security domain, `SecurityDomainType/Keyset` (SGP.02 §5.1.1.3.5).
    pub struct Keyset : "KeysetType" {
        /// Key version number.
        pub version: KeysetVersion = one "Version",
        /// Usage of the key set.
        pub keyset_type: Option<KeysetUsage> = opt "Type",
        /// Counter (default 0).
        pub cntr: Option<u64> = opt "Cntr",
        /// Keys and certificates (up to 128).
        pub items: Vec<KeysetItem> = choice(0, 128),
    }
}

impl SecurityDomain {
    /// The security domain as an MNO sees it (SGP.02 Annex E, docs/architecture.md §8): its identity — AID,
    /// TARs, SIN, SDIN, role and the versions of its key sets — without key set usages, counters, keys or
    /// certificates. (`SecurityDomainType` requires at least one `Keyset` with its `Version`.)
    pub fn identity_only(&self) -> SecurityDomain {
        SecurityDomain {
            keysets: self
                .keysets
                .iter()
                .map(|k| Keyset {
                    version: k.version,
                    keyset_type: None,
                    cntr: None,
                    items: Vec::new(),
                })
                .collect(),
            ..self.clone()
        }
    }
}

impl Eis {
    /// The EIS as the MNO `mno` may see it (SGP.02 Annex E, docs/architecture.md §8): its own profiles, the
    /// audit records of those profiles, the ISD-R and the ECASD reduced to [`SecurityDomain::identity_only`];
    /// `None` when no profile of the EIS is the MNO's — the eUICC is then answered as unknown, as an EID that
    /// does not exist is.
    pub fn for_mno(mut self, mno: &str) -> Option<Eis> {
        self.profile_info.retain(|p| p.mno_id.as_str() == mno);
        if self.profile_info.is_empty() {
            return None;
        }
        let visible: Vec<Iccid> = self.profile_info.iter().map(|p| p.iccid.clone()).collect();
        if let Some(t) = self.audit_trail.as_mut() {
            t.records.retain(|r| {
                r.iccid.as_ref().is_some_and(|i| visible.contains(i))
                    || r.requester_id.as_ref().is_some_and(|o| o.as_str() == mno)
            });
        }
        if self
            .audit_trail
            .as_ref()
            .is_some_and(|t| t.records.is_empty())
        {
            self.audit_trail = None;
        }
        self.isd_r = self.isd_r.identity_only();
        self.eum_signed_info.ecasd = self.eum_signed_info.ecasd.identity_only();
        self.additional_properties = None;
        Some(self)
    }
}

/// A key or a certificate within a key set (`Keyset` choice; SGP.02 §5.1.1.3.5).
#[derive(Debug, Clone, PartialEq)]
pub enum KeysetItem {
    /// A key.
    Key(Key),
    /// A GlobalPlatform certificate.
    Certificate(GpCertificate),
}

impl XmlChoice for KeysetItem {
    const NAMES: &'static [&'static str] = &["Key", "Certificate"];
    fn decode_choice(el: &Element, path: &str) -> Result<Self, DecodeError> {
        if el.local_name() == "Key" {
            Ok(KeysetItem::Key(Key::decode_element(el, path)?))
        } else {
            Ok(KeysetItem::Certificate(GpCertificate::decode_element(
                el, path,
            )?))
        }
    }
    fn write_choice(&self, w: &mut XmlWriter) {
        match self {
            KeysetItem::Key(k) => write_element(k, w, "Key"),
            KeysetItem::Certificate(c) => write_element(c, w, "Certificate"),
        }
    }
    fn schema_choice(c: &mut SchemaCollector, out: &mut String) {
        schema_element::<Key>(c, out, "Key", 1, Some(1));
        schema_element::<GpCertificate>(c, out, "Certificate", 1, Some(1));
    }
}

xml_type! {
    /// A certificate in a key set, `GPCertificateType` (GP UICC Configuration 1.0.1 §9.2.1).
    pub struct GpCertificate : "GPCertificateType" {
        /// Key index.
        pub index: KeyIndex = one "Index",
        /// OID of the issuing certification authority.
        pub ca_id: Oid = one "CaId",
        /// The certificate.
        pub value: HexBinary = one "Value",
    }
}

/// A key of a key set, `KeyType` (SGP.02 §5.1.1.3.5; GP Card Spec §11.8.2.3): attribute `kcv`, then `Index`
/// and the key components.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Key check value.
    pub kcv: HexBinary,
    /// Key index.
    pub index: KeyIndex,
    /// The components (at least one).
    pub components: Vec<KeyComponent>,
}

fn attribute_value<T: std::str::FromStr<Err = InvalidValue>>(
    el: &Element,
    path: &str,
    name: &str,
) -> Result<T, DecodeError> {
    let apath = format!("{path}/@{name}");
    let v = el
        .attribute(None, name)
        .ok_or_else(|| DecodeError::new(DecodeErrorKind::MissingAttribute, apath.clone()))?;
    v.parse()
        .map_err(|e| DecodeError::new(DecodeErrorKind::InvalidValue(e), apath))
}

fn empty_content(el: &Element, path: &str) -> Result<(), DecodeError> {
    for n in el.children() {
        match n {
            Node::Text(t) if is_xml_whitespace(t) => {}
            Node::Text(_) => return Err(DecodeError::new(DecodeErrorKind::UnexpectedText, path)),
            Node::Element(e) => {
                return Err(DecodeError::new(
                    DecodeErrorKind::UnexpectedElement,
                    format!("{path}/{}", e.local_name()),
                ));
            }
        }
    }
    Ok(())
}

impl XmlContent for Key {
    fn decode_element(el: &Element, path: &str) -> Result<Self, DecodeError> {
        check_attributes(el, path, &["kcv"])?;
        let kcv = attribute_value(el, path, "kcv")?;
        let mut cur = Cursor::new(el, path)?;
        let index = cur.one(&["Index"])?;
        let components = cur.many(&["KeyComponents"], 1, None)?;
        cur.finish()?;
        Ok(Key {
            kcv,
            index,
            components,
        })
    }
    fn write_attributes(&self, w: &mut XmlWriter) {
        w.attribute("kcv", &self.kcv.to_string());
    }
    fn write_content(&self, w: &mut XmlWriter) {
        write_element(&self.index, w, "Index");
        for k in &self.components {
            write_element(k, w, "KeyComponents");
        }
    }
    fn schema_type(c: &mut SchemaCollector) -> String {
        if !c.has("KeyType") {
            c.reserve("KeyType");
            let mut seq = String::new();
            schema_element::<KeyIndex>(c, &mut seq, "Index", 1, Some(1));
            schema_element::<KeyComponent>(c, &mut seq, "KeyComponents", 1, None);
            c.define(
                "KeyType",
                format!(
                    "<xs:complexType name=\"KeyType\"><xs:sequence>{seq}</xs:sequence>\
                     <xs:attribute name=\"kcv\" type=\"xs:hexBinary\" use=\"required\"/></xs:complexType>"
                ),
            );
        }
        format!("{RPS_PREFIX}:KeyType")
    }
}

/// One component of a key, `KeyType/KeyComponents` (GP Card Spec §11.8.2.3): key type coding and value
/// (encrypted with the transport key at registration, SGP.02 §5.1.1.3.5).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyComponent {
    /// Key type coding (GP Card Spec §11.1.8), attribute `type`.
    pub key_type: KeyTypeCoding,
    /// The value, attribute `value`.
    pub value: KeyValue,
}

impl XmlContent for KeyComponent {
    fn decode_element(el: &Element, path: &str) -> Result<Self, DecodeError> {
        check_attributes(el, path, &["type", "value"])?;
        let key_type = attribute_value(el, path, "type")?;
        let value = attribute_value(el, path, "value")?;
        empty_content(el, path)?;
        Ok(KeyComponent { key_type, value })
    }
    fn write_attributes(&self, w: &mut XmlWriter) {
        w.attribute("type", &self.key_type.to_string());
        w.attribute("value", &self.value.to_string());
    }
    fn write_content(&self, _w: &mut XmlWriter) {}
    fn schema_type(c: &mut SchemaCollector) -> String {
        let kt = <KeyTypeCoding as XmlContent>::schema_type(c);
        c.define(
            "KeyComponentsType",
            format!(
                "<xs:complexType name=\"KeyComponentsType\">\
                 <xs:attribute name=\"type\" type=\"{kt}\" use=\"required\"/>\
                 <xs:attribute name=\"value\" type=\"xs:hexBinary\" use=\"required\"/></xs:complexType>"
            ),
        );
        format!("{RPS_PREFIX}:KeyComponentsType")
    }
}

xml_type! {
    /// The audit trail, `EISType/AuditTrail` (SGP.02 §5.1.1.3.12).
    pub struct AuditTrail : "AuditTrailType" {
        /// The records.
        pub records: Vec<AuditTrailRecord> = many(0, unbounded) "Record",
    }
}

xml_type! {
    /// One audit trail record, `AuditTrailRecordType` (SGP.02 §5.1.1.3.12).
    pub struct AuditTrailRecord : "AuditTrailRecordType" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The SM-SR that recorded the operation.
        pub smsr_id: Oid = one "Smsr-id" | "SmSr-id",
        /// When the operation took place.
        pub operation_date: XsDateTime = one "OperationDate",
        /// The operation (2 bytes, e.g. 0100 CreateISDP).
        pub operation_type: OperationType = one "OperationType",
        /// The requester (absent for notifications).
        pub requester_id: Option<Oid> = opt "RequesterId",
        /// The outcome.
        pub operation_execution_status: Option<FunctionExecutionStatus> = opt "OperationExecutionStatus",
        /// The ISD-P concerned.
        pub isd_p_aid: Option<Aid> = opt "Isd-p-aid",
        /// The profile concerned.
        pub iccid: Option<Iccid> = opt "Iccid",
        /// IMEI of the device (ETSI TS 102 223 §8.20).
        pub imei: Option<HexBinary> = opt "Imei",
        /// MEID of the device (ETSI TS 102 223 §8.81).
        pub meid: Option<HexBinary> = opt "Meid",
    }
}

xml_type! {
    /// Additional properties, `EISType/AdditionalProperties` (SGP.02 §5.1.1.3.13).
    pub struct AdditionalProperties : "AdditionalPropertiesType" {
        /// The properties (at least one).
        pub properties: Vec<Property> = many(1, unbounded) "Property",
    }
}

/// A key/value property, `PropertyType` (SGP.02 §5.1.1.3.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The key (non-empty), attribute `key`.
    pub key: String,
    /// The value, attribute `value`.
    pub value: String,
}

impl XmlContent for Property {
    fn decode_element(el: &Element, path: &str) -> Result<Self, DecodeError> {
        check_attributes(el, path, &["key", "value"])?;
        let key_path = format!("{path}/@key");
        let key = el
            .attribute(None, "key")
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::MissingAttribute, key_path.clone()))?;
        if key.is_empty() {
            return Err(DecodeError::new(
                DecodeErrorKind::InvalidValue(InvalidValue::new("PropertyType/@key", "empty")),
                key_path,
            ));
        }
        let value = el.attribute(None, "value").ok_or_else(|| {
            DecodeError::new(DecodeErrorKind::MissingAttribute, format!("{path}/@value"))
        })?;
        empty_content(el, path)?;
        Ok(Property {
            key: key.to_string(),
            value: value.to_string(),
        })
    }
    fn write_attributes(&self, w: &mut XmlWriter) {
        w.attribute("key", &self.key);
        w.attribute("value", &self.value);
    }
    fn write_content(&self, _w: &mut XmlWriter) {}
    fn schema_type(c: &mut SchemaCollector) -> String {
        c.define(
            "PropertyType",
            "<xs:complexType name=\"PropertyType\"><xs:attribute name=\"key\" use=\"required\">\
             <xs:simpleType><xs:restriction base=\"xs:string\"><xs:minLength value=\"1\"/></xs:restriction>\
             </xs:simpleType></xs:attribute><xs:attribute name=\"value\" type=\"xs:string\" use=\"required\"/>\
             </xs:complexType>"
                .to_string(),
        );
        format!("{RPS_PREFIX}:PropertyType")
    }
}

/// The EUM's signature over `EumSignedInfo`, `EISType/EumSignature` of type `ds:SignatureType` (XML-DSig §4.1;
/// SGP.02 §5.1.1.3.2), kept as XML: the optional `Id` attribute and each child (`ds:SignedInfo`,
/// `ds:SignatureValue`, `ds:KeyInfo`, `ds:Object`) as standalone source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EumSignature {
    id: Option<String>,
    children: Vec<String>,
}

/// The order XML-DSig §4.1 prescribes for the children of `ds:Signature`: (name, min, max).
const SIGNATURE_CHILDREN: &[(&str, usize, Option<usize>)] = &[
    ("SignedInfo", 1, Some(1)),
    ("SignatureValue", 1, Some(1)),
    ("KeyInfo", 0, Some(1)),
    ("Object", 0, None),
];

impl EumSignature {
    /// Parses the content of a `ds:Signature` (its child elements; each must declare or inherit from the
    /// fragment the namespaces it uses) and checks the XML-DSig child order.
    pub fn from_children_xml(id: Option<String>, xml: &str) -> Result<Self, DecodeError> {
        let wrapped = format!("<EumSignature>{xml}</EumSignature>");
        let doc = Document::parse(wrapped.as_bytes()).map_err(|e| {
            DecodeError::new(
                DecodeErrorKind::InvalidValue(InvalidValue::new("ds:SignatureType", e.to_string())),
                "EumSignature",
            )
        })?;
        let mut sig = Self::decode_children(doc.root(), "EumSignature")?;
        sig.id = id;
        Ok(sig)
    }

    /// The `Id` attribute.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The children as standalone XML, in order (`ds:SignedInfo` first).
    pub fn children_xml(&self) -> &[String] {
        &self.children
    }

    fn decode_children(el: &Element, path: &str) -> Result<Self, DecodeError> {
        let mut children = Vec::new();
        let mut slot = 0usize;
        let mut count = 0usize;
        for n in el.children() {
            let child = match n {
                Node::Text(t) if is_xml_whitespace(t) => continue,
                Node::Text(_) => {
                    return Err(DecodeError::new(DecodeErrorKind::UnexpectedText, path));
                }
                Node::Element(e) => e,
            };
            let cpath = format!("{path}/{}", child.local_name());
            if child.namespace() != Some(DS_NS) {
                return Err(DecodeError::new(
                    DecodeErrorKind::WrongNamespace {
                        found: child.namespace().map(str::to_string),
                        expected: DS_NS.to_string(),
                    },
                    cpath,
                ));
            }
            loop {
                let Some(&(name, min, max)) = SIGNATURE_CHILDREN.get(slot) else {
                    return Err(DecodeError::new(DecodeErrorKind::UnexpectedElement, cpath));
                };
                if child.local_name() == name {
                    if max.is_some_and(|m| count >= m) {
                        return Err(DecodeError::new(
                            DecodeErrorKind::TooManyOccurrences {
                                max: max.unwrap_or(1),
                            },
                            cpath,
                        ));
                    }
                    count += 1;
                    break;
                }
                if count < min {
                    return Err(DecodeError::new(
                        DecodeErrorKind::MissingElement,
                        format!("{path}/{name}"),
                    ));
                }
                slot += 1;
                count = 0;
            }
            children.push(child.standalone_source());
        }
        // Mandatory children after the last one seen.
        for &(name, min, _) in SIGNATURE_CHILDREN.iter().skip(slot) {
            let seen = if SIGNATURE_CHILDREN.get(slot).map(|s| s.0) == Some(name) {
                count
            } else {
                0
            };
            if seen < min {
                return Err(DecodeError::new(
                    DecodeErrorKind::MissingElement,
                    format!("{path}/{name}"),
                ));
            }
        }
        Ok(EumSignature { id: None, children })
    }
}

impl XmlContent for EumSignature {
    fn decode_element(el: &Element, path: &str) -> Result<Self, DecodeError> {
        check_attributes(el, path, &["Id"])?;
        let mut sig = Self::decode_children(el, path)?;
        sig.id = el.attribute(None, "Id").map(str::to_string);
        Ok(sig)
    }
    fn write_attributes(&self, w: &mut XmlWriter) {
        if let Some(id) = &self.id {
            w.attribute("Id", id);
        }
    }
    fn write_content(&self, w: &mut XmlWriter) {
        for c in &self.children {
            w.raw(c);
        }
    }
    /// Described as XML-DSig content without importing the XML-DSig schema (which clients would fetch).
    fn schema_type(c: &mut SchemaCollector) -> String {
        c.define(
            "EumSignatureType",
            format!(
                "<xs:complexType name=\"EumSignatureType\"><xs:sequence>\
                 <xs:any namespace=\"{DS_NS}\" processContents=\"lax\" minOccurs=\"2\" maxOccurs=\"unbounded\"/>\
                 </xs:sequence><xs:attribute name=\"Id\" type=\"xs:ID\" use=\"optional\"/></xs:complexType>"
            ),
        );
        format!("{RPS_PREFIX}:EumSignatureType")
    }
}

/// The first `rps:EumSignedInfo` element within `el` (e.g. a body element carrying an EIS), as received: its
/// [`Element::standalone_source`] is the input of the EUM signature check (SGP.02 §5.1.1.3.2).
pub fn find_eum_signed_info(el: &Element) -> Option<&Element> {
    find_descendant(el, crate::messages::codec::RPS_NS, "EumSignedInfo")
}

fn find_descendant<'a>(el: &'a Element, ns: &str, local: &str) -> Option<&'a Element> {
    if el.is(ns, local) {
        return Some(el);
    }
    el.child_elements()
        .find_map(|c| find_descendant(c, ns, local))
}
