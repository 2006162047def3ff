//! Profile elements of the TCA eUICC Profile Package v3.3.1 (module `PEDefinitions`, tca-saip/PE_Definitions-3.3.1.asn):
//! typed where personalisation and validation need them, exact bytes everywhere else.
//!
//! Every typed SEQUENCE keeps the fields it does not interpret as [`RawTlv`]s and writes all fields back in the
//! order of the ASN.1 definition, so decoding and encoding an untouched package gives back the same bytes.
//! Fields with a DEFAULT are kept as `Option`: `None` when absent from the encoding, `Some` when present,
//! whatever the value, so that an encoder which wrote a default value explicitly is reproduced too.
//! `sqnInit` (whose DEFAULT is ill-typed in the module) is never interpreted: it stays raw.

use std::fmt;
use std::ops::Range;

use super::der::{self, DerError, ObjectIdentifier, Reader, Tag, Tlv};
use super::secret::SecretBytes;

/// A field or element kept as its exact DER bytes (identifier, length and value).
#[derive(Clone, PartialEq, Eq)]
pub struct RawTlv {
    /// The identifier.
    pub tag: Tag,
    /// The whole TLV.
    pub bytes: Vec<u8>,
}

impl RawTlv {
    /// Builds a TLV from a tag and value.
    pub fn new(tag: Tag, value: &[u8]) -> RawTlv {
        let mut bytes = Vec::with_capacity(value.len() + 4);
        der::write_tlv(&mut bytes, tag, value);
        RawTlv { tag, bytes }
    }

    fn from_tlv(tlv: &Tlv<'_>) -> RawTlv {
        RawTlv {
            tag: tlv.tag,
            bytes: tlv.raw.to_vec(),
        }
    }
}

impl fmt::Debug for RawTlv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes may hold secrets this codec does not know about: only the tag and size are shown.
        write!(f, "RawTlv({}, {} bytes)", self.tag, self.bytes.len())
    }
}

/// The CHOICE alternative names of `ProfileElement`, indexed by context tag number (PEDefinitions v3.3.1).
pub const ELEMENT_NAMES: [&str; 34] = [
    "header",
    "genericFileManagement",
    "pinCodes",
    "pukCodes",
    "akaParameter",
    "cdmaParameter",
    "securityDomain",
    "rfm",
    "application",
    "nonStandard",
    "end",
    "rfu1",
    "rfu2",
    "rfu3",
    "rfu4",
    "rfu5",
    "mf",
    "cd",
    "telecom",
    "usim",
    "opt-usim",
    "isim",
    "opt-isim",
    "phonebook",
    "gsm-access",
    "csim",
    "opt-csim",
    "eap",
    "df-5gs",
    "df-saip",
    "df-snpn",
    "df-5gprose",
    "iot",
    "opt-iot",
];

/// The `ProfileElement` CHOICE name for a context tag number, or `"unknown"` (PEDefinitions v3.3.1).
pub fn element_name(number: u32) -> &'static str {
    ELEMENT_NAMES
        .get(number as usize)
        .copied()
        .unwrap_or("unknown")
}

/// `ProfileElement` context tag numbers used by this codec (PEDefinitions v3.3.1, automatic tags).
pub mod tag_number {
    /// `header`.
    pub const HEADER: u32 = 0;
    /// `pinCodes`.
    pub const PIN_CODES: u32 = 2;
    /// `pukCodes`.
    pub const PUK_CODES: u32 = 3;
    /// `akaParameter`.
    pub const AKA_PARAMETER: u32 = 4;
    /// `cdmaParameter`.
    pub const CDMA_PARAMETER: u32 = 5;
    /// `securityDomain`.
    pub const SECURITY_DOMAIN: u32 = 6;
    /// `end`.
    pub const END: u32 = 10;
    /// `mf`.
    pub const MF: u32 = 16;
    /// `telecom`.
    pub const TELECOM: u32 = 18;
    /// `usim`.
    pub const USIM: u32 = 19;
    /// `opt-usim`.
    pub const OPT_USIM: u32 = 20;
    /// `isim`.
    pub const ISIM: u32 = 21;
    /// `csim`.
    pub const CSIM: u32 = 25;
}

/// Field numbers (automatic tags) of the files in `PE-MF` (PEDefinitions v3.3.1).
pub mod mf_field {
    /// `mf`.
    pub const MF: u32 = 2;
    /// `ef-pl`.
    pub const EF_PL: u32 = 3;
    /// `ef-iccid`.
    pub const EF_ICCID: u32 = 4;
    /// `ef-dir`.
    pub const EF_DIR: u32 = 5;
    /// `ef-arr`.
    pub const EF_ARR: u32 = 6;
}

/// Field numbers (automatic tags) of the files in `PE-TELECOM` (PEDefinitions v3.3.1).
pub mod telecom_field {
    /// `df-telecom`.
    pub const DF_TELECOM: u32 = 2;
    /// `ef-arr`.
    pub const EF_ARR: u32 = 3;
}

/// Field numbers (automatic tags) of the files in `PE-USIM` (PEDefinitions v3.3.1).
pub mod usim_field {
    /// `adf-usim`.
    pub const ADF_USIM: u32 = 2;
    /// `ef-imsi`.
    pub const EF_IMSI: u32 = 3;
    /// `ef-arr`.
    pub const EF_ARR: u32 = 4;
    /// `ef-ust`.
    pub const EF_UST: u32 = 8;
    /// `ef-spn`.
    pub const EF_SPN: u32 = 13;
    /// `ef-est`.
    pub const EF_EST: u32 = 14;
    /// `ef-acc`.
    pub const EF_ACC: u32 = 18;
    /// `ef-ecc`.
    pub const EF_ECC: u32 = 22;
}

/// Field numbers (automatic tags) of the files in `PE-OPT-USIM` (PEDefinitions v3.3.1).
pub mod opt_usim_field {
    /// `ef-msisdn`.
    pub const EF_MSISDN: u32 = 7;
}

/// `PEHeader` (PEDefinitions v3.3.1): mandated flag and identification number of a PE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeHeader {
    /// `mandated NULL OPTIONAL`.
    pub mandated: bool,
    /// `identification UInt15`.
    pub identification: u16,
}

/// A service of `ServicesList` (PEDefinitions v3.3.1), by its automatic tag number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Service {
    /// `contactless`.
    Contactless = 0,
    /// `usim`.
    Usim = 1,
    /// `isim`.
    Isim = 2,
    /// `csim`.
    Csim = 3,
    /// `milenage`.
    Milenage = 4,
    /// `tuak128`.
    Tuak128 = 5,
    /// `cave`.
    Cave = 6,
    /// `gba-usim`.
    GbaUsim = 7,
    /// `gba-isim`.
    GbaIsim = 8,
    /// `mbms`.
    Mbms = 9,
    /// `eap`.
    Eap = 10,
    /// `javacard`.
    Javacard = 11,
    /// `multos`.
    Multos = 12,
    /// `multiple-usim`.
    MultipleUsim = 13,
    /// `multiple-isim`.
    MultipleIsim = 14,
    /// `multiple-csim`.
    MultipleCsim = 15,
    /// `tuak256`.
    Tuak256 = 16,
    /// `usim-test-algorithm`.
    UsimTestAlgorithm = 17,
    /// `ber-tlv`.
    BerTlv = 18,
}

/// `ServicesList` (PEDefinitions v3.3.1): the tag numbers of the services present, ascending (unknown
/// extension services kept by number).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServicesList {
    /// Tag numbers present, ascending.
    pub present: Vec<u32>,
}

impl ServicesList {
    /// A list holding the given services.
    pub fn of(services: &[Service]) -> ServicesList {
        let mut present: Vec<u32> = services.iter().map(|s| *s as u32).collect();
        present.sort_unstable();
        present.dedup();
        ServicesList { present }
    }

    /// Whether the service is listed.
    pub fn contains(&self, service: Service) -> bool {
        self.present.contains(&(service as u32))
    }
}

/// `ProfileHeader` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileHeader {
    /// `major-version`.
    pub major_version: u8,
    /// `minor-version`.
    pub minor_version: u8,
    /// `profileType`.
    pub profile_type: Option<String>,
    /// `iccid`: 10 octets of plain BCD.
    pub iccid: [u8; 10],
    /// `eUICC-Mandatory-services`.
    pub mandatory_services: ServicesList,
    /// `eUICC-Mandatory-GFSTEList`: template OIDs.
    pub mandatory_gfste_list: Vec<ObjectIdentifier>,
    /// Other fields (`pol`, `connectivityParameters`, `eUICC-Mandatory-AIDs`, `iotOptions`, extensions).
    pub other: Vec<RawTlv>,
}

/// One entry of a `File` (PEDefinitions v3.3.1 `File ::= SEQUENCE OF CHOICE {...}`).
#[derive(Clone, PartialEq, Eq)]
pub enum FileItem {
    /// `doNotCreate`.
    DoNotCreate,
    /// `fileDescriptor Fcp`, kept as the contents of the `[1]` TLV.
    FileDescriptor(Vec<u8>),
    /// `fillFileOffset`.
    FillFileOffset(u16),
    /// `fillFileContent`.
    FillFileContent(Vec<u8>),
}

impl fmt::Debug for FileItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileItem::DoNotCreate => f.write_str("DoNotCreate"),
            FileItem::FileDescriptor(b) => write!(f, "FileDescriptor({} bytes)", b.len()),
            FileItem::FillFileOffset(o) => write!(f, "FillFileOffset({o})"),
            FileItem::FillFileContent(b) => write!(f, "FillFileContent({} bytes)", b.len()),
        }
    }
}

/// A named `File` field of a file-system template PE: its automatic tag number and its items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateFile {
    /// The field's tag number in the PE (e.g. [`mf_field::EF_ICCID`]).
    pub field: u32,
    /// The file's entries.
    pub items: Vec<FileItem>,
}

impl TemplateFile {
    /// The concatenated `fillFileContent`s when the file has no `fillFileOffset` (contents from offset 0).
    pub fn contents(&self) -> Option<Vec<u8>> {
        if self
            .items
            .iter()
            .any(|i| matches!(i, FileItem::FillFileOffset(_)))
        {
            return None;
        }
        let mut out = Vec::new();
        let mut any = false;
        for item in &self.items {
            if let FileItem::FillFileContent(c) = item {
                out.extend_from_slice(c);
                any = true;
            }
        }
        any.then_some(out)
    }
}

/// A file-system PE built on a TCA template (`PE-MF`, `PE-TELECOM`, `PE-USIM`, `PE-OPT-USIM`; PEDefinitions
/// v3.3.1 §8.3): header, template OID, then `File` fields by tag number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplatePe {
    /// The `PEHeader`.
    pub header: PeHeader,
    /// `templateID`.
    pub template_id: ObjectIdentifier,
    /// The `File` fields present, ascending by field number.
    pub files: Vec<TemplateFile>,
}

impl TemplatePe {
    /// The file with the given field number.
    pub fn file(&self, field: u32) -> Option<&TemplateFile> {
        self.files.iter().find(|f| f.field == field)
    }
}

/// `PINConfiguration` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinConfiguration {
    /// `keyReference` (`PINKeyReferenceValue`: 01 PIN1, 0A ADM1, 81 second PIN of the application…).
    pub key_reference: u8,
    /// `pinValue`: 8 octets, ASCII digits padded with FF.
    pub pin_value: SecretBytes,
    /// `unblockingPINReference`.
    pub unblocking_pin_reference: Option<u8>,
    /// `pinAttributes` (DEFAULT 7), `None` when absent.
    pub pin_attributes: Option<u8>,
    /// `maxNumOfAttemps-retryNumLeft` (DEFAULT 51), `None` when absent.
    pub max_attempts_retry_left: Option<u8>,
    /// Extension fields.
    pub other: Vec<RawTlv>,
}

/// `pinCodes` CHOICE of `PE-PINCodes` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinCodes {
    /// `pinconfig`.
    PinConfig(Vec<PinConfiguration>),
    /// `filePath`: PINs shared with another DF/ADF.
    FilePath(Vec<u8>),
}

/// `PE-PINCodes` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PePinCodes {
    /// `pin-Header`.
    pub header: PeHeader,
    /// `pinCodes`.
    pub pin_codes: PinCodes,
    /// Extension fields.
    pub other: Vec<RawTlv>,
}

/// `PUKConfiguration` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PukConfiguration {
    /// `keyReference` (01 PUK1, 81 PUK2…).
    pub key_reference: u8,
    /// `pukValue`: 8 octets, ASCII digits.
    pub puk_value: SecretBytes,
    /// `maxNumOfAttemps-retryNumLeft` (DEFAULT 170), `None` when absent.
    pub max_attempts_retry_left: Option<u8>,
    /// Extension fields.
    pub other: Vec<RawTlv>,
}

/// `PE-PUKCodes` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PePukCodes {
    /// `puk-Header`.
    pub header: PeHeader,
    /// `pukCodes`.
    pub puk_codes: Vec<PukConfiguration>,
    /// Extension fields.
    pub other: Vec<RawTlv>,
}

/// `AlgoParameter` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlgoParameter {
    /// `algorithmID`: 1 milenage, 2 tuak, 3 usim-test-algorithm.
    pub algorithm_id: u8,
    /// `algorithmOptions`.
    pub algorithm_options: u8,
    /// `key` (K).
    pub key: SecretBytes,
    /// `opc` (OPc; TOPc for TUAK).
    pub opc: SecretBytes,
    /// Other fields (`rotationConstants`, `xoringConstants`, `authCounterMax`, `numberOfKeccak`, extensions).
    pub other: Vec<RawTlv>,
}

/// `algoConfiguration` CHOICE of `PE-AKAParameter` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlgoConfiguration {
    /// `mappingParameter`, kept raw (its `[0]` TLV).
    MappingParameter(RawTlv),
    /// `algoParameter`.
    AlgoParameter(AlgoParameter),
}

/// `PE-AKAParameter` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeAkaParameter {
    /// `aka-header`.
    pub header: PeHeader,
    /// `algoConfiguration`.
    pub algo_configuration: AlgoConfiguration,
    /// Other fields (`sqnOptions`, `sqnDelta`, `sqnAgeLimit`, `sqnInit`, extensions), never interpreted.
    pub other: Vec<RawTlv>,
}

/// One element of `keyComponents` in `KeyObject` (PEDefinitions v3.3.1; GP Card Spec §11.1.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyComponent {
    /// `keyType` (`80` DES, `88` AES, `85` PSK…).
    pub key_type: Vec<u8>,
    /// `keyData`.
    pub key_data: SecretBytes,
    /// `macLength` (DEFAULT 8), `None` when absent.
    pub mac_length: Option<u8>,
    /// Extension fields.
    pub other: Vec<RawTlv>,
}

/// `KeyObject` (PEDefinitions v3.3.1 §8.6.3; GP Card Spec §11.1.9 key usage qualifier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyObject {
    /// `keyUsageQualifier`.
    pub key_usage_qualifier: Vec<u8>,
    /// `keyAccess` (DEFAULT `00`), `None` when absent.
    pub key_access: Option<u8>,
    /// `keyIdentifier`.
    pub key_identifier: u8,
    /// `keyVersionNumber`.
    pub key_version_number: u8,
    /// `keyCounterValue`.
    pub key_counter_value: Option<Vec<u8>>,
    /// `keyComponents`.
    pub key_components: Vec<KeyComponent>,
    /// Extension fields.
    pub other: Vec<RawTlv>,
}

/// `PE-SecurityDomain` (PEDefinitions v3.3.1 §8.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeSecurityDomain {
    /// `sd-Header`.
    pub header: PeHeader,
    /// `instance` (`ApplicationInstance`), kept raw (its `[1]` TLV).
    pub instance: RawTlv,
    /// `keyList`.
    pub key_list: Option<Vec<KeyObject>>,
    /// Other fields (`sdPersoData`, `openPersoData`, `catTpParameters`, extensions).
    pub other: Vec<RawTlv>,
}

/// `PE-End` (PEDefinitions v3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeEnd {
    /// `end-header`.
    pub header: PeHeader,
    /// Extension fields.
    pub other: Vec<RawTlv>,
}

/// A profile element this codec does not interpret, kept as its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherElement {
    /// The element's TLV.
    pub raw: RawTlv,
    /// `PEHeader.identification` when the first field is a readable `PEHeader`.
    pub identification: Option<u16>,
}

/// `ProfileElement` (PEDefinitions v3.3.1): one element of the package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileElement {
    /// `header`.
    Header(ProfileHeader),
    /// `mf`.
    Mf(TemplatePe),
    /// `telecom`.
    Telecom(TemplatePe),
    /// `usim`.
    Usim(TemplatePe),
    /// `opt-usim`.
    OptUsim(TemplatePe),
    /// `pinCodes`.
    PinCodes(PePinCodes),
    /// `pukCodes`.
    PukCodes(PePukCodes),
    /// `akaParameter`.
    AkaParameter(PeAkaParameter),
    /// `securityDomain`.
    SecurityDomain(PeSecurityDomain),
    /// `end`.
    End(PeEnd),
    /// Any other element, as exact bytes.
    Other(OtherElement),
}

impl ProfileElement {
    /// The context tag number of the CHOICE alternative.
    pub fn tag_number(&self) -> u32 {
        match self {
            ProfileElement::Header(_) => tag_number::HEADER,
            ProfileElement::Mf(_) => tag_number::MF,
            ProfileElement::Telecom(_) => tag_number::TELECOM,
            ProfileElement::Usim(_) => tag_number::USIM,
            ProfileElement::OptUsim(_) => tag_number::OPT_USIM,
            ProfileElement::PinCodes(_) => tag_number::PIN_CODES,
            ProfileElement::PukCodes(_) => tag_number::PUK_CODES,
            ProfileElement::AkaParameter(_) => tag_number::AKA_PARAMETER,
            ProfileElement::SecurityDomain(_) => tag_number::SECURITY_DOMAIN,
            ProfileElement::End(_) => tag_number::END,
            ProfileElement::Other(o) => o.raw.tag.number,
        }
    }

    /// The CHOICE alternative name (`"akaParameter"`, …).
    pub fn kind(&self) -> &'static str {
        element_name(self.tag_number())
    }

    /// `PEHeader.identification` (none for the header).
    pub fn identification(&self) -> Option<u16> {
        match self {
            ProfileElement::Header(_) => None,
            ProfileElement::Mf(p)
            | ProfileElement::Telecom(p)
            | ProfileElement::Usim(p)
            | ProfileElement::OptUsim(p) => Some(p.header.identification),
            ProfileElement::PinCodes(p) => Some(p.header.identification),
            ProfileElement::PukCodes(p) => Some(p.header.identification),
            ProfileElement::AkaParameter(p) => Some(p.header.identification),
            ProfileElement::SecurityDomain(p) => Some(p.header.identification),
            ProfileElement::End(p) => Some(p.header.identification),
            ProfileElement::Other(o) => o.identification,
        }
    }

    /// The element's DER encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the element's DER encoding.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        if let ProfileElement::Other(o) = self {
            out.extend_from_slice(&o.raw.bytes);
            return;
        }
        let mut content = Fields::default();
        match self {
            ProfileElement::Header(h) => h.encode_fields(&mut content),
            ProfileElement::Mf(p)
            | ProfileElement::Telecom(p)
            | ProfileElement::Usim(p)
            | ProfileElement::OptUsim(p) => p.encode_fields(&mut content),
            ProfileElement::PinCodes(p) => p.encode_fields(&mut content),
            ProfileElement::PukCodes(p) => p.encode_fields(&mut content),
            ProfileElement::AkaParameter(p) => p.encode_fields(&mut content),
            ProfileElement::SecurityDomain(p) => p.encode_fields(&mut content),
            ProfileElement::End(p) => {
                content.push(0, encode_pe_header(&p.header));
                content.extend_raw(&p.other, context_rank);
            }
            ProfileElement::Other(_) => {}
        }
        der::write_tlv(
            out,
            Tag::context_constructed(self.tag_number()),
            &content.finish(),
        );
    }
}

/// Where a personalisable value sits in an encoded package (absolute byte range of the value octets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `ProfileHeader.iccid`.
    HeaderIccid,
    /// A `fillFileContent` of a template PE file.
    FileContent { element: usize, field: u32 },
    /// `AlgoParameter.algorithmID`.
    AkaAlgorithmId { element: usize },
    /// `AlgoParameter.key`.
    AkaKey { element: usize },
    /// `AlgoParameter.opc`.
    AkaOpc { element: usize },
    /// `PINConfiguration.pinValue`.
    PinValue { key_reference: u8 },
    /// `PUKConfiguration.pukValue`.
    PukValue { key_reference: u8 },
    /// `keyData` of a `KeyObject` in a security domain (`sd` counts security domain PEs from 0).
    KeyData { sd: usize, kvn: u8, key_id: u8 },
}

/// The byte ranges of every personalisable value, gathered while decoding.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layout {
    pub(crate) slots: Vec<(Slot, Range<usize>)>,
    pub(crate) element_offsets: Vec<usize>,
}

/// A decoding fault inside an element: absolute offset and reason (no value bytes).
#[derive(Debug)]
pub(crate) struct FieldError {
    pub(crate) offset: usize,
    pub(crate) reason: String,
}

impl From<DerError> for FieldError {
    fn from(e: DerError) -> Self {
        FieldError {
            offset: e.offset,
            reason: e.fault.to_string(),
        }
    }
}

fn fault(offset: usize, reason: impl Into<String>) -> FieldError {
    FieldError {
        offset,
        reason: reason.into(),
    }
}

/// Collects encoded fields with their rank in the ASN.1 component order, then writes them in that order.
#[derive(Default)]
struct Fields {
    items: Vec<(u32, Vec<u8>)>,
}

impl Fields {
    fn push(&mut self, rank: u32, bytes: Vec<u8>) {
        self.items.push((rank, bytes));
    }

    fn tlv(&mut self, rank: u32, tag: Tag, value: &[u8]) {
        let mut b = Vec::with_capacity(value.len() + 4);
        der::write_tlv(&mut b, tag, value);
        self.push(rank, b);
    }

    fn extend_raw(&mut self, raw: &[RawTlv], rank_of: fn(&Tag) -> Option<u32>) {
        for r in raw {
            self.push(rank_of(&r.tag).unwrap_or(u32::MAX), r.bytes.clone());
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.items.sort_by_key(|(rank, _)| *rank);
        self.items.into_iter().flat_map(|(_, b)| b).collect()
    }
}

/// Rank of a field in an automatically tagged SEQUENCE: its context tag number.
fn context_rank(tag: &Tag) -> Option<u32> {
    (tag.class == der::Class::Context).then_some(tag.number)
}

/// Rank of a field in `KeyObject` (explicit tags, component order 21, 22, 2, 3, 5, SEQUENCE).
fn key_object_rank(tag: &Tag) -> Option<u32> {
    if *tag == Tag::SEQUENCE {
        return Some(5);
    }
    if tag.class != der::Class::Context {
        return None;
    }
    match tag.number {
        21 => Some(0),
        22 => Some(1),
        2 => Some(2),
        3 => Some(3),
        5 => Some(4),
        _ => None,
    }
}

/// Rank of a field in the `keyComponents` SEQUENCE (explicit tags 0, 6, 7).
fn key_component_rank(tag: &Tag) -> Option<u32> {
    if tag.class != der::Class::Context {
        return None;
    }
    match tag.number {
        0 => Some(0),
        6 => Some(1),
        7 => Some(2),
        _ => None,
    }
}

/// Walks the fields of a constructed TLV in order, checking that known fields come in component order and
/// at most once and that unknown (extension) fields come last. `f` returns `true` when it took the field;
/// other fields are kept raw.
fn walk<'a>(
    tlv: &Tlv<'a>,
    rank_of: fn(&Tag) -> Option<u32>,
    raw: &mut Vec<RawTlv>,
    mut f: impl FnMut(Tlv<'a>) -> Result<bool, FieldError>,
) -> Result<(), FieldError> {
    let mut r = tlv.children()?;
    let mut last: Option<u32> = None;
    while !r.is_empty() {
        let field = r.read()?;
        let rank = rank_of(&field.tag).unwrap_or(u32::MAX);
        if let Some(l) = last
            && (rank < l || (rank == l && rank != u32::MAX))
        {
            return Err(fault(
                field.offset,
                format!("field {} out of order or repeated", field.tag),
            ));
        }
        last = Some(rank);
        if rank == u32::MAX || !f(field)? {
            raw.push(RawTlv::from_tlv(&field));
        }
    }
    Ok(())
}

fn uint_field(t: &Tlv<'_>, max: u64, what: &str) -> Result<u64, FieldError> {
    let v = t.uint()?;
    if v > max {
        return Err(fault(t.value_offset(), format!("{what} above {max}")));
    }
    Ok(v)
}

fn octet(t: &Tlv<'_>, what: &str) -> Result<u8, FieldError> {
    match t.primitive()? {
        [b] => Ok(*b),
        _ => Err(fault(t.value_offset(), format!("{what} is not one octet"))),
    }
}

fn require<T>(v: Option<T>, offset: usize, what: &str) -> Result<T, FieldError> {
    v.ok_or_else(|| fault(offset, format!("mandatory field {what} missing")))
}

fn value_range(t: &Tlv<'_>) -> Range<usize> {
    t.value_offset()..t.value_offset() + t.value.len()
}

fn decode_pe_header(t: &Tlv<'_>) -> Result<PeHeader, FieldError> {
    if !t.tag.is_context(0) {
        return Err(fault(t.offset, "first field is not a [0] PEHeader"));
    }
    let mut mandated = false;
    let mut identification = None;
    let mut unknown = Vec::new();
    walk(t, context_rank, &mut unknown, |f| {
        match f.tag.number {
            0 if !f.tag.constructed && f.tag.class == der::Class::Context => {
                if !f.value.is_empty() {
                    return Err(fault(f.offset, "mandated is not an empty NULL"));
                }
                mandated = true;
            }
            1 if f.tag.class == der::Class::Context => {
                identification = Some(uint_field(&f, 32767, "identification")? as u16)
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if let Some(u) = unknown.first() {
        return Err(fault(
            t.value_offset(),
            format!("unexpected field {} in PEHeader", u.tag),
        ));
    }
    Ok(PeHeader {
        mandated,
        identification: require(identification, t.offset, "identification")?,
    })
}

fn encode_pe_header(h: &PeHeader) -> Vec<u8> {
    let mut inner = Vec::with_capacity(8);
    if h.mandated {
        der::write_tlv(&mut inner, Tag::context(0), &[]);
    }
    der::write_uint(&mut inner, Tag::context(1), u64::from(h.identification));
    let mut out = Vec::with_capacity(inner.len() + 2);
    der::write_tlv(&mut out, Tag::context_constructed(0), &inner);
    out
}

/// Best-effort identification of an element from its first bytes (used in error messages, also for
/// truncated elements).
pub(crate) fn peek_identification(bytes: &[u8], offset: usize) -> Option<u16> {
    let (_, header_len, _) = der::read_header(bytes, offset).ok()?;
    let first = Reader::new(bytes.get(header_len..)?, offset + header_len)
        .read()
        .ok()?;
    decode_pe_header(&first).ok().map(|h| h.identification)
}

impl ProfileHeader {
    fn decode(t: &Tlv<'_>, layout: &mut Layout) -> Result<ProfileHeader, FieldError> {
        let (mut major, mut minor, mut profile_type, mut iccid, mut services, mut gfste) =
            (None, None, None, None, None, None);
        let mut other = Vec::new();
        walk(t, context_rank, &mut other, |f| {
            match f.tag.number {
                0 => major = Some(uint_field(&f, 255, "major-version")? as u8),
                1 => minor = Some(uint_field(&f, 255, "minor-version")? as u8),
                2 => {
                    let s = std::str::from_utf8(f.primitive()?)
                        .map_err(|_| fault(f.value_offset(), "profileType is not UTF-8"))?;
                    profile_type = Some(s.to_owned());
                }
                3 => {
                    let v: [u8; 10] = f
                        .primitive()?
                        .try_into()
                        .map_err(|_| fault(f.value_offset(), "iccid is not 10 octets"))?;
                    layout.slots.push((Slot::HeaderIccid, value_range(&f)));
                    iccid = Some(v);
                }
                5 => {
                    let mut list = ServicesList::default();
                    let mut unknown = Vec::new();
                    walk(&f, context_rank, &mut unknown, |s| {
                        if s.tag.constructed || !s.value.is_empty() {
                            return Err(fault(s.offset, "service is not an empty NULL"));
                        }
                        list.present.push(s.tag.number);
                        Ok(true)
                    })?;
                    if let Some(u) = unknown.first() {
                        return Err(fault(f.offset, format!("unexpected service tag {}", u.tag)));
                    }
                    services = Some(list);
                }
                6 => {
                    let mut oids = Vec::new();
                    let mut r = f.children()?;
                    while !r.is_empty() {
                        let o = r.read()?;
                        if o.tag.number != 6 || o.tag.class != der::Class::Universal {
                            return Err(fault(
                                o.offset,
                                "GFSTE list entry is not an OBJECT IDENTIFIER",
                            ));
                        }
                        oids.push(ObjectIdentifier(o.primitive()?.to_vec()));
                    }
                    gfste = Some(oids);
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(ProfileHeader {
            major_version: require(major, t.offset, "major-version")?,
            minor_version: require(minor, t.offset, "minor-version")?,
            profile_type,
            iccid: require(iccid, t.offset, "iccid")?,
            mandatory_services: require(services, t.offset, "eUICC-Mandatory-services")?,
            mandatory_gfste_list: require(gfste, t.offset, "eUICC-Mandatory-GFSTEList")?,
            other,
        })
    }

    fn encode_fields(&self, out: &mut Fields) {
        out.tlv(
            0,
            Tag::context(0),
            &der::uint_bytes(u64::from(self.major_version)),
        );
        out.tlv(
            1,
            Tag::context(1),
            &der::uint_bytes(u64::from(self.minor_version)),
        );
        if let Some(p) = &self.profile_type {
            out.tlv(2, Tag::context(2), p.as_bytes());
        }
        out.tlv(3, Tag::context(3), &self.iccid);
        let mut services = Vec::new();
        let mut present = self.mandatory_services.present.clone();
        present.sort_unstable();
        present.dedup();
        for n in &present {
            der::write_tlv(&mut services, Tag::context(*n), &[]);
        }
        out.tlv(5, Tag::context_constructed(5), &services);
        let mut oids = Vec::new();
        for o in &self.mandatory_gfste_list {
            der::write_tlv(
                &mut oids,
                Tag {
                    class: der::Class::Universal,
                    constructed: false,
                    number: 6,
                },
                &o.0,
            );
        }
        out.tlv(6, Tag::context_constructed(6), &oids);
        out.extend_raw(&self.other, context_rank);
    }
}

impl TemplatePe {
    fn decode(t: &Tlv<'_>, element: usize, layout: &mut Layout) -> Result<TemplatePe, FieldError> {
        let mut header = None;
        let mut template_id = None;
        let mut files = Vec::new();
        let mut unknown = Vec::new();
        walk(t, context_rank, &mut unknown, |f| {
            match f.tag.number {
                0 => header = Some(decode_pe_header(&f)?),
                1 => template_id = Some(ObjectIdentifier(f.primitive()?.to_vec())),
                n => {
                    let mut items = Vec::new();
                    let mut r = f.children()?;
                    while !r.is_empty() {
                        let i = r.read()?;
                        if i.tag.class != der::Class::Context {
                            return Err(fault(
                                i.offset,
                                format!("unexpected file entry {}", i.tag),
                            ));
                        }
                        items.push(match (i.tag.number, i.tag.constructed) {
                            (0, false) if i.value.is_empty() => FileItem::DoNotCreate,
                            (1, true) => FileItem::FileDescriptor(i.value.to_vec()),
                            (2, false) => {
                                FileItem::FillFileOffset(
                                    uint_field(&i, 65535, "fillFileOffset")? as u16
                                )
                            }
                            (3, false) => {
                                layout.slots.push((
                                    Slot::FileContent { element, field: n },
                                    value_range(&i),
                                ));
                                FileItem::FillFileContent(i.value.to_vec())
                            }
                            _ => {
                                return Err(fault(
                                    i.offset,
                                    format!("unexpected file entry {}", i.tag),
                                ));
                            }
                        });
                    }
                    files.push(TemplateFile { field: n, items });
                }
            }
            Ok(true)
        })?;
        if let Some(u) = unknown.first() {
            return Err(fault(t.offset, format!("unexpected field {}", u.tag)));
        }
        Ok(TemplatePe {
            header: require(header, t.offset, "PEHeader")?,
            template_id: require(template_id, t.offset, "templateID")?,
            files,
        })
    }

    fn encode_fields(&self, out: &mut Fields) {
        out.push(0, encode_pe_header(&self.header));
        out.tlv(1, Tag::context(1), &self.template_id.0);
        for file in &self.files {
            let mut inner = Vec::new();
            for item in &file.items {
                match item {
                    FileItem::DoNotCreate => der::write_tlv(&mut inner, Tag::context(0), &[]),
                    FileItem::FileDescriptor(fcp) => {
                        der::write_tlv(&mut inner, Tag::context_constructed(1), fcp)
                    }
                    FileItem::FillFileOffset(o) => {
                        der::write_uint(&mut inner, Tag::context(2), u64::from(*o))
                    }
                    FileItem::FillFileContent(c) => der::write_tlv(&mut inner, Tag::context(3), c),
                }
            }
            out.tlv(file.field, Tag::context_constructed(file.field), &inner);
        }
    }
}

impl PePinCodes {
    fn decode(t: &Tlv<'_>, layout: &mut Layout) -> Result<PePinCodes, FieldError> {
        let mut header = None;
        let mut pin_codes = None;
        let mut other = Vec::new();
        walk(t, context_rank, &mut other, |f| {
            match f.tag.number {
                0 => header = Some(decode_pe_header(&f)?),
                1 => {
                    let mut r = f.children()?;
                    let choice = r.read()?;
                    if !r.is_empty() {
                        return Err(fault(r.offset(), "more than one pinCodes alternative"));
                    }
                    pin_codes = Some(match (choice.tag.number, choice.tag.constructed) {
                        (0, true) => {
                            let mut list = Vec::new();
                            let mut items = choice.children()?;
                            while !items.is_empty() {
                                list.push(decode_pin_configuration(&items.read()?, layout)?);
                            }
                            PinCodes::PinConfig(list)
                        }
                        (1, false) => PinCodes::FilePath(choice.value.to_vec()),
                        _ => return Err(fault(choice.offset, "unknown pinCodes alternative")),
                    });
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(PePinCodes {
            header: require(header, t.offset, "PEHeader")?,
            pin_codes: require(pin_codes, t.offset, "pinCodes")?,
            other,
        })
    }

    fn encode_fields(&self, out: &mut Fields) {
        out.push(0, encode_pe_header(&self.header));
        let mut choice = Vec::new();
        match &self.pin_codes {
            PinCodes::PinConfig(list) => {
                let mut seq = Vec::new();
                for p in list {
                    let mut f = Fields::default();
                    f.tlv(
                        0,
                        Tag::context(0),
                        &der::uint_bytes(u64::from(p.key_reference)),
                    );
                    f.tlv(1, Tag::context(1), p.pin_value.expose());
                    if let Some(u) = p.unblocking_pin_reference {
                        f.tlv(2, Tag::context(2), &der::uint_bytes(u64::from(u)));
                    }
                    if let Some(a) = p.pin_attributes {
                        f.tlv(3, Tag::context(3), &der::uint_bytes(u64::from(a)));
                    }
                    if let Some(m) = p.max_attempts_retry_left {
                        f.tlv(4, Tag::context(4), &der::uint_bytes(u64::from(m)));
                    }
                    f.extend_raw(&p.other, context_rank);
                    der::write_tlv(&mut seq, Tag::SEQUENCE, &f.finish());
                }
                der::write_tlv(&mut choice, Tag::context_constructed(0), &seq);
            }
            PinCodes::FilePath(p) => der::write_tlv(&mut choice, Tag::context(1), p),
        }
        out.tlv(1, Tag::context_constructed(1), &choice);
        out.extend_raw(&self.other, context_rank);
    }
}

fn decode_pin_configuration(
    t: &Tlv<'_>,
    layout: &mut Layout,
) -> Result<PinConfiguration, FieldError> {
    if t.tag != Tag::SEQUENCE {
        return Err(fault(t.offset, "PINConfiguration is not a SEQUENCE"));
    }
    let (mut key_reference, mut value, mut unblocking, mut attributes, mut max) =
        (None, None, None, None, None);
    let mut value_at = 0..0;
    let mut other = Vec::new();
    walk(t, context_rank, &mut other, |f| {
        match f.tag.number {
            0 => key_reference = Some(uint_field(&f, 255, "keyReference")? as u8),
            1 => {
                if f.primitive()?.len() != 8 {
                    return Err(fault(f.value_offset(), "pinValue is not 8 octets"));
                }
                value_at = value_range(&f);
                value = Some(SecretBytes::from_slice(f.value));
            }
            2 => unblocking = Some(uint_field(&f, 255, "unblockingPINReference")? as u8),
            3 => attributes = Some(uint_field(&f, 255, "pinAttributes")? as u8),
            4 => max = Some(uint_field(&f, 255, "maxNumOfAttemps-retryNumLeft")? as u8),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let key_reference = require(key_reference, t.offset, "keyReference")?;
    layout
        .slots
        .push((Slot::PinValue { key_reference }, value_at));
    Ok(PinConfiguration {
        key_reference,
        pin_value: require(value, t.offset, "pinValue")?,
        unblocking_pin_reference: unblocking,
        pin_attributes: attributes,
        max_attempts_retry_left: max,
        other,
    })
}

impl PePukCodes {
    fn decode(t: &Tlv<'_>, layout: &mut Layout) -> Result<PePukCodes, FieldError> {
        let mut header = None;
        let mut puk_codes = None;
        let mut other = Vec::new();
        walk(t, context_rank, &mut other, |f| {
            match f.tag.number {
                0 => header = Some(decode_pe_header(&f)?),
                1 => {
                    let mut list = Vec::new();
                    let mut items = f.children()?;
                    while !items.is_empty() {
                        let item = items.read()?;
                        if item.tag != Tag::SEQUENCE {
                            return Err(fault(item.offset, "PUKConfiguration is not a SEQUENCE"));
                        }
                        let (mut key_reference, mut value, mut max) = (None, None, None);
                        let mut value_at = 0..0;
                        let mut extra = Vec::new();
                        walk(&item, context_rank, &mut extra, |p| {
                            match p.tag.number {
                                0 => {
                                    key_reference = Some(uint_field(&p, 255, "keyReference")? as u8)
                                }
                                1 => {
                                    if p.primitive()?.len() != 8 {
                                        return Err(fault(
                                            p.value_offset(),
                                            "pukValue is not 8 octets",
                                        ));
                                    }
                                    value_at = value_range(&p);
                                    value = Some(SecretBytes::from_slice(p.value));
                                }
                                2 => {
                                    max =
                                        Some(uint_field(&p, 255, "maxNumOfAttemps-retryNumLeft")?
                                            as u8)
                                }
                                _ => return Ok(false),
                            }
                            Ok(true)
                        })?;
                        let key_reference = require(key_reference, item.offset, "keyReference")?;
                        layout
                            .slots
                            .push((Slot::PukValue { key_reference }, value_at));
                        list.push(PukConfiguration {
                            key_reference,
                            puk_value: require(value, item.offset, "pukValue")?,
                            max_attempts_retry_left: max,
                            other: extra,
                        });
                    }
                    puk_codes = Some(list);
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(PePukCodes {
            header: require(header, t.offset, "PEHeader")?,
            puk_codes: require(puk_codes, t.offset, "pukCodes")?,
            other,
        })
    }

    fn encode_fields(&self, out: &mut Fields) {
        out.push(0, encode_pe_header(&self.header));
        let mut seq = Vec::new();
        for p in &self.puk_codes {
            let mut f = Fields::default();
            f.tlv(
                0,
                Tag::context(0),
                &der::uint_bytes(u64::from(p.key_reference)),
            );
            f.tlv(1, Tag::context(1), p.puk_value.expose());
            if let Some(m) = p.max_attempts_retry_left {
                f.tlv(2, Tag::context(2), &der::uint_bytes(u64::from(m)));
            }
            f.extend_raw(&p.other, context_rank);
            der::write_tlv(&mut seq, Tag::SEQUENCE, &f.finish());
        }
        out.tlv(1, Tag::context_constructed(1), &seq);
        out.extend_raw(&self.other, context_rank);
    }
}

impl PeAkaParameter {
    fn decode(
        t: &Tlv<'_>,
        element: usize,
        layout: &mut Layout,
    ) -> Result<PeAkaParameter, FieldError> {
        let mut header = None;
        let mut algo = None;
        let mut other = Vec::new();
        walk(t, context_rank, &mut other, |f| {
            match f.tag.number {
                0 => header = Some(decode_pe_header(&f)?),
                1 => {
                    let mut r = f.children()?;
                    let choice = r.read()?;
                    if !r.is_empty() {
                        return Err(fault(
                            r.offset(),
                            "more than one algoConfiguration alternative",
                        ));
                    }
                    algo = Some(match (choice.tag.number, choice.tag.constructed) {
                        (0, true) => AlgoConfiguration::MappingParameter(RawTlv::from_tlv(&choice)),
                        (1, true) => AlgoConfiguration::AlgoParameter(decode_algo_parameter(
                            &choice, element, layout,
                        )?),
                        _ => {
                            return Err(fault(
                                choice.offset,
                                "unknown algoConfiguration alternative",
                            ));
                        }
                    });
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(PeAkaParameter {
            header: require(header, t.offset, "PEHeader")?,
            algo_configuration: require(algo, t.offset, "algoConfiguration")?,
            other,
        })
    }

    fn encode_fields(&self, out: &mut Fields) {
        out.push(0, encode_pe_header(&self.header));
        let mut choice = Vec::new();
        match &self.algo_configuration {
            AlgoConfiguration::MappingParameter(raw) => choice.extend_from_slice(&raw.bytes),
            AlgoConfiguration::AlgoParameter(a) => {
                let mut f = Fields::default();
                f.tlv(
                    0,
                    Tag::context(0),
                    &der::uint_bytes(u64::from(a.algorithm_id)),
                );
                f.tlv(1, Tag::context(1), &[a.algorithm_options]);
                f.tlv(2, Tag::context(2), a.key.expose());
                f.tlv(3, Tag::context(3), a.opc.expose());
                f.extend_raw(&a.other, context_rank);
                der::write_tlv(&mut choice, Tag::context_constructed(1), &f.finish());
            }
        }
        out.tlv(1, Tag::context_constructed(1), &choice);
        out.extend_raw(&self.other, context_rank);
    }
}

fn decode_algo_parameter(
    t: &Tlv<'_>,
    element: usize,
    layout: &mut Layout,
) -> Result<AlgoParameter, FieldError> {
    let (mut id, mut options, mut key, mut opc) = (None, None, None, None);
    let mut other = Vec::new();
    walk(t, context_rank, &mut other, |f| {
        match f.tag.number {
            0 => {
                id = Some(uint_field(&f, 255, "algorithmID")? as u8);
                layout
                    .slots
                    .push((Slot::AkaAlgorithmId { element }, value_range(&f)));
            }
            1 => options = Some(octet(&f, "algorithmOptions")?),
            2 => {
                key = Some(SecretBytes::from_slice(f.primitive()?));
                layout
                    .slots
                    .push((Slot::AkaKey { element }, value_range(&f)));
            }
            3 => {
                opc = Some(SecretBytes::from_slice(f.primitive()?));
                layout
                    .slots
                    .push((Slot::AkaOpc { element }, value_range(&f)));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(AlgoParameter {
        algorithm_id: require(id, t.offset, "algorithmID")?,
        algorithm_options: require(options, t.offset, "algorithmOptions")?,
        key: require(key, t.offset, "key")?,
        opc: require(opc, t.offset, "opc")?,
        other,
    })
}

impl PeSecurityDomain {
    fn decode(t: &Tlv<'_>, sd: usize, layout: &mut Layout) -> Result<PeSecurityDomain, FieldError> {
        let mut header = None;
        let mut instance = None;
        let mut key_list = None;
        let mut other = Vec::new();
        walk(t, context_rank, &mut other, |f| {
            match f.tag.number {
                0 => header = Some(decode_pe_header(&f)?),
                1 => instance = Some(RawTlv::from_tlv(&f)),
                2 => {
                    let mut keys = Vec::new();
                    let mut r = f.children()?;
                    while !r.is_empty() {
                        keys.push(decode_key_object(&r.read()?, sd, layout)?);
                    }
                    key_list = Some(keys);
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(PeSecurityDomain {
            header: require(header, t.offset, "PEHeader")?,
            instance: require(instance, t.offset, "instance")?,
            key_list,
            other,
        })
    }

    fn encode_fields(&self, out: &mut Fields) {
        out.push(0, encode_pe_header(&self.header));
        out.push(1, self.instance.bytes.clone());
        if let Some(keys) = &self.key_list {
            let mut list = Vec::new();
            for k in keys {
                let mut f = Fields::default();
                f.tlv(0, Tag::context(21), &k.key_usage_qualifier);
                if let Some(a) = k.key_access {
                    f.tlv(1, Tag::context(22), &[a]);
                }
                f.tlv(2, Tag::context(2), &[k.key_identifier]);
                f.tlv(3, Tag::context(3), &[k.key_version_number]);
                if let Some(c) = &k.key_counter_value {
                    f.tlv(4, Tag::context(5), c);
                }
                let mut comps = Vec::new();
                for c in &k.key_components {
                    let mut cf = Fields::default();
                    cf.tlv(0, Tag::context(0), &c.key_type);
                    cf.tlv(1, Tag::context(6), c.key_data.expose());
                    if let Some(m) = c.mac_length {
                        cf.tlv(2, Tag::context(7), &der::uint_bytes(u64::from(m)));
                    }
                    cf.extend_raw(&c.other, key_component_rank);
                    der::write_tlv(&mut comps, Tag::SEQUENCE, &cf.finish());
                }
                f.tlv(5, Tag::SEQUENCE, &comps);
                f.extend_raw(&k.other, key_object_rank);
                der::write_tlv(&mut list, Tag::SEQUENCE, &f.finish());
            }
            out.tlv(2, Tag::context_constructed(2), &list);
        }
        out.extend_raw(&self.other, context_rank);
    }
}

fn decode_key_object(t: &Tlv<'_>, sd: usize, layout: &mut Layout) -> Result<KeyObject, FieldError> {
    if t.tag != Tag::SEQUENCE {
        return Err(fault(t.offset, "KeyObject is not a SEQUENCE"));
    }
    let (mut kuq, mut access, mut kid, mut kvn, mut counter, mut comps) =
        (None, None, None, None, None, None);
    let mut data_ranges = Vec::new();
    let mut other = Vec::new();
    walk(t, key_object_rank, &mut other, |f| {
        match key_object_rank(&f.tag) {
            Some(0) => kuq = Some(f.primitive()?.to_vec()),
            Some(1) => access = Some(octet(&f, "keyAccess")?),
            Some(2) => kid = Some(octet(&f, "keyIdentifier")?),
            Some(3) => kvn = Some(octet(&f, "keyVersionNumber")?),
            Some(4) => counter = Some(f.primitive()?.to_vec()),
            Some(5) => {
                let mut list = Vec::new();
                let mut r = f.children()?;
                while !r.is_empty() {
                    let c = r.read()?;
                    if c.tag != Tag::SEQUENCE {
                        return Err(fault(c.offset, "key component is not a SEQUENCE"));
                    }
                    let (mut key_type, mut key_data, mut mac) = (None, None, None);
                    let mut extra = Vec::new();
                    walk(&c, key_component_rank, &mut extra, |k| {
                        match key_component_rank(&k.tag) {
                            Some(0) => key_type = Some(k.primitive()?.to_vec()),
                            Some(1) => {
                                key_data = Some(SecretBytes::from_slice(k.primitive()?));
                                data_ranges.push(value_range(&k));
                            }
                            Some(2) => mac = Some(uint_field(&k, 255, "macLength")? as u8),
                            _ => return Ok(false),
                        }
                        Ok(true)
                    })?;
                    list.push(KeyComponent {
                        key_type: require(key_type, c.offset, "keyType")?,
                        key_data: require(key_data, c.offset, "keyData")?,
                        mac_length: mac,
                        other: extra,
                    });
                }
                comps = Some(list);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let key = KeyObject {
        key_usage_qualifier: require(kuq, t.offset, "keyUsageQualifier")?,
        key_access: access,
        key_identifier: require(kid, t.offset, "keyIdentifier")?,
        key_version_number: require(kvn, t.offset, "keyVersionNumber")?,
        key_counter_value: counter,
        key_components: require(comps, t.offset, "keyComponents")?,
        other,
    };
    for range in data_ranges {
        layout.slots.push((
            Slot::KeyData {
                sd,
                kvn: key.key_version_number,
                key_id: key.key_identifier,
            },
            range,
        ));
    }
    Ok(key)
}

/// Decodes one element TLV; `element` is its index, `sd` the number of security domains before it.
pub(crate) fn decode_element(
    tlv: &Tlv<'_>,
    element: usize,
    sd: usize,
    layout: &mut Layout,
) -> Result<ProfileElement, FieldError> {
    if tlv.tag.class != der::Class::Context || !tlv.tag.constructed {
        return Err(fault(
            tlv.offset,
            format!("{} is not a ProfileElement alternative", tlv.tag),
        ));
    }
    Ok(match tlv.tag.number {
        tag_number::HEADER => ProfileElement::Header(ProfileHeader::decode(tlv, layout)?),
        tag_number::MF => ProfileElement::Mf(TemplatePe::decode(tlv, element, layout)?),
        tag_number::TELECOM => ProfileElement::Telecom(TemplatePe::decode(tlv, element, layout)?),
        tag_number::USIM => ProfileElement::Usim(TemplatePe::decode(tlv, element, layout)?),
        tag_number::OPT_USIM => ProfileElement::OptUsim(TemplatePe::decode(tlv, element, layout)?),
        tag_number::PIN_CODES => ProfileElement::PinCodes(PePinCodes::decode(tlv, layout)?),
        tag_number::PUK_CODES => ProfileElement::PukCodes(PePukCodes::decode(tlv, layout)?),
        tag_number::AKA_PARAMETER => {
            ProfileElement::AkaParameter(PeAkaParameter::decode(tlv, element, layout)?)
        }
        tag_number::SECURITY_DOMAIN => {
            ProfileElement::SecurityDomain(PeSecurityDomain::decode(tlv, sd, layout)?)
        }
        tag_number::END => {
            let mut header = None;
            let mut other = Vec::new();
            walk(tlv, context_rank, &mut other, |f| {
                if f.tag.number == 0 {
                    header = Some(decode_pe_header(&f)?);
                    return Ok(true);
                }
                Ok(false)
            })?;
            ProfileElement::End(PeEnd {
                header: require(header, tlv.offset, "PEHeader")?,
                other,
            })
        }
        _ => {
            let identification = match tlv.children()?.read() {
                Ok(first) if first.tag.is_context(0) && first.tag.constructed => {
                    Some(decode_pe_header(&first)?.identification)
                }
                _ => None,
            };
            ProfileElement::Other(OtherElement {
                raw: RawTlv::from_tlv(tlv),
                identification,
            })
        }
    })
}
