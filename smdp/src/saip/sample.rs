//! The project's sample template: a minimal USIM profile built by this encoder (TCA eUICC Profile Package v3.3.1;
//! structure modelled on the GSMA TS.48 generic test profile, values are placeholders).
//!
//! Elements: header (SAIP 2.3, services `usim` + `milenage`) → MF (EF.ICCID, EF.DIR, EF.ARR) → PUK codes →
//! PIN codes (PIN1, ADM1, ADM2) → telecom → PIN codes (PIN2) → USIM (EF.IMSI, EF.SPN, EF.ACC) → opt-USIM
//! (EF.MSISDN) → PIN codes (PIN2 in the USIM) → AKA parameter (Milenage) → MNO-SD (SCP80 key set 01, AES) → end.
//! A copy is committed at `smdp/templates/sample-usim.der` (regenerate with
//! `cargo run -p smdp --example sample_template`).

use super::der::{self, ObjectIdentifier, Tag};
use super::pe::{
    AlgoConfiguration, AlgoParameter, FileItem, KeyComponent, KeyObject, PeAkaParameter, PeEnd,
    PeHeader, PePinCodes, PePukCodes, PeSecurityDomain, PinCodes, PinConfiguration, ProfileElement,
    ProfileHeader, PukConfiguration, RawTlv, Service, ServicesList, TemplateFile, TemplatePe,
    mf_field, opt_usim_field, telecom_field, usim_field,
};
use super::secret::SecretBytes;
use super::{ProfilePackage, coding};

/// Placeholder ICCID of the sample template (Luhn-valid).
pub const PLACEHOLDER_ICCID: &str = "89000000000000000004";
/// Placeholder IMSI of the sample template (test PLMN 001-01).
pub const PLACEHOLDER_IMSI: &str = "001010000000000";
/// The USIM application identifier used in ADF.USIM and EF.DIR (ETSI TS 101 220 RID `A000000087`, app `1002`).
pub const USIM_AID: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x49, 0xFF, 0x05, 0x89,
];

/// TCA file-system template OIDs `2.23.143.1.2.n` (TCA PEDefinitions v3.3.1 Annex A).
fn template_oid(n: u64) -> ObjectIdentifier {
    ObjectIdentifier::from_arcs(&[2, 23, 143, 1, 2, n])
}

/// An `Fcp` (TCA PEDefinitions v3.3.1) from its fields, in component order.
fn fcp(fields: &[(Tag, &[u8])]) -> FileItem {
    let mut out = Vec::new();
    for (tag, value) in fields {
        der::write_tlv(&mut out, *tag, value);
    }
    FileItem::FileDescriptor(out)
}

const FILE_DESCRIPTOR: Tag = Tag::context(2);
const FILE_ID: Tag = Tag::context(3);
const DF_NAME: Tag = Tag::context(4);
const SECURITY_ATTRIBUTES_REFERENCED: Tag = Tag::context(11);
const EF_FILE_SIZE: Tag = Tag::context(0);
const PIN_STATUS_TEMPLATE_DO: Tag = Tag {
    class: der::Class::Private,
    constructed: false,
    number: 6,
};

fn header(id: u16) -> PeHeader {
    PeHeader {
        mandated: true,
        identification: id,
    }
}

fn file(field: u32, items: Vec<FileItem>) -> TemplateFile {
    TemplateFile { field, items }
}

fn content(bytes: &[u8]) -> FileItem {
    FileItem::FillFileContent(bytes.to_vec())
}

fn pin(
    key_reference: u8,
    digits: &str,
    unblocking: Option<u8>,
    attributes: u8,
    max: Option<u8>,
) -> PinConfiguration {
    let mut value = vec![0xFF; 8];
    value[..digits.len()].copy_from_slice(digits.as_bytes());
    PinConfiguration {
        key_reference,
        pin_value: SecretBytes::new(value),
        unblocking_pin_reference: unblocking,
        pin_attributes: Some(attributes),
        max_attempts_retry_left: max,
        other: Vec::new(),
    }
}

fn key(kvn: u8, key_id: u8, usage: u8, fill: u8) -> KeyObject {
    KeyObject {
        key_usage_qualifier: vec![usage],
        key_access: None,
        key_identifier: key_id,
        key_version_number: kvn,
        key_counter_value: None,
        key_components: vec![KeyComponent {
            key_type: vec![0x88],
            key_data: SecretBytes::new(vec![fill; 16]),
            mac_length: None,
            other: Vec::new(),
        }],
        other: Vec::new(),
    }
}

/// The MNO-SD `ApplicationInstance` (GP Card Spec §11.5 INSTALL parameters; TS.48 values).
fn mno_sd_instance() -> RawTlv {
    let app = |n| Tag {
        class: der::Class::Application,
        constructed: false,
        number: n,
    };
    let mut v = Vec::new();
    der::write_tlv(&mut v, app(15), &[0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50]);
    der::write_tlv(
        &mut v,
        app(15),
        &[0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50, 0x41],
    );
    der::write_tlv(
        &mut v,
        app(15),
        &[0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00],
    );
    der::write_tlv(&mut v, Tag::context(2), &[0x82, 0xDC, 0x00]);
    der::write_tlv(&mut v, Tag::context(3), &[0x0F]);
    der::write_tlv(
        &mut v,
        Tag {
            class: der::Class::Private,
            constructed: false,
            number: 9,
        },
        &[
            0x81, 0x02, 0x80, 0x00, 0x82, 0x01, 0xF0, 0x83, 0x01, 0xF0, 0x87, 0x01, 0xF0,
        ],
    );
    RawTlv::new(Tag::context_constructed(1), &v)
}

/// Builds the sample USIM template (see the module documentation).
pub fn usim_template() -> ProfilePackage {
    let iccid_bcd = coding::iccid_header_bcd(PLACEHOLDER_ICCID).unwrap_or([0xFF; 10]);
    let imsi_ef = coding::imsi_ef(PLACEHOLDER_IMSI).unwrap_or([0xFF; 9]);
    let acc = coding::acc_for_imsi(PLACEHOLDER_IMSI).unwrap_or([0, 1]);
    let mut ef_dir_record = vec![0x61, 0x14, 0x4F, 0x0C];
    ef_dir_record.extend_from_slice(&USIM_AID);
    ef_dir_record.extend_from_slice(&[0x50, 0x04, b'U', b'S', b'I', b'M']);
    let mut spn = vec![0x01];
    spn.extend_from_slice(b"RSP sample");
    spn.resize(17, 0xFF);
    let elements = vec![
        ProfileElement::Header(ProfileHeader {
            major_version: 2,
            minor_version: 3,
            profile_type: Some("rsp sample USIM".into()),
            iccid: iccid_bcd,
            mandatory_services: ServicesList::of(&[Service::Usim, Service::Milenage]),
            mandatory_gfste_list: vec![
                template_oid(1),
                template_oid(3),
                template_oid(4),
                template_oid(5),
            ],
            other: Vec::new(),
        }),
        ProfileElement::Mf(TemplatePe {
            header: header(1),
            template_id: template_oid(1),
            files: vec![
                file(
                    mf_field::MF,
                    vec![fcp(&[
                        (SECURITY_ATTRIBUTES_REFERENCED, &[0x2F, 0x06, 0x01]),
                        (PIN_STATUS_TEMPLATE_DO, &[0x01, 0x0A, 0x0B]),
                    ])],
                ),
                file(
                    mf_field::EF_ICCID,
                    vec![content(&iccid_bcd.map(|b| b.rotate_left(4)))],
                ),
                file(
                    mf_field::EF_DIR,
                    vec![
                        fcp(&[
                            (FILE_DESCRIPTOR, &[0x42, 0x21, 0x00, 0x20]),
                            (FILE_ID, &[0x2F, 0x00]),
                            (SECURITY_ATTRIBUTES_REFERENCED, &[0x2F, 0x06, 0x02]),
                            (EF_FILE_SIZE, &[0x20]),
                        ]),
                        content(&ef_dir_record),
                    ],
                ),
                file(
                    mf_field::EF_ARR,
                    vec![
                        fcp(&[
                            (FILE_DESCRIPTOR, &[0x42, 0x21, 0x00, 0x18]),
                            (FILE_ID, &[0x2F, 0x06]),
                            (SECURITY_ATTRIBUTES_REFERENCED, &[0x2F, 0x06, 0x02]),
                            (EF_FILE_SIZE, &[0x48]),
                        ]),
                        // 1: read always, update ADM1.
                        content(&[
                            0x80, 0x01, 0x01, 0x90, 0x00, 0x80, 0x01, 0x5A, 0xA4, 0x06, 0x83, 0x01,
                            0x0A, 0x95, 0x01, 0x08,
                        ]),
                        FileItem::FillFileOffset(8),
                        // 2: read PIN1, update ADM1.
                        content(&[
                            0x80, 0x01, 0x01, 0xA4, 0x06, 0x83, 0x01, 0x01, 0x95, 0x01, 0x08, 0x80,
                            0x01, 0x5A, 0xA4, 0x06, 0x83, 0x01, 0x0A, 0x95, 0x01, 0x08,
                        ]),
                        FileItem::FillFileOffset(2),
                        // 3: everything ADM1.
                        content(&[
                            0x80, 0x01, 0x5B, 0xA4, 0x06, 0x83, 0x01, 0x0A, 0x95, 0x01, 0x08,
                        ]),
                    ],
                ),
            ],
        }),
        ProfileElement::PukCodes(PePukCodes {
            header: header(2),
            puk_codes: [0x01, 0x81]
                .into_iter()
                .map(|key_reference| PukConfiguration {
                    key_reference,
                    puk_value: SecretBytes::from_slice(b"00000000"),
                    max_attempts_retry_left: None,
                    other: Vec::new(),
                })
                .collect(),
            other: Vec::new(),
        }),
        ProfileElement::PinCodes(PePinCodes {
            header: header(3),
            pin_codes: PinCodes::PinConfig(vec![
                pin(0x01, "0000", Some(0x01), 0x06, None),
                pin(0x0A, "00000000", None, 0x03, Some(0xAA)),
                pin(0x0B, "00000000", None, 0x03, Some(0xAA)),
            ]),
            other: Vec::new(),
        }),
        ProfileElement::Telecom(TemplatePe {
            header: header(4),
            template_id: template_oid(3),
            files: vec![file(
                telecom_field::DF_TELECOM,
                vec![fcp(&[
                    (FILE_ID, &[0x7F, 0x10]),
                    (SECURITY_ATTRIBUTES_REFERENCED, &[0x2F, 0x06, 0x01]),
                    (PIN_STATUS_TEMPLATE_DO, &[0x81, 0x01, 0x0A, 0x0B]),
                ])],
            )],
        }),
        ProfileElement::PinCodes(PePinCodes {
            header: header(5),
            pin_codes: PinCodes::PinConfig(vec![pin(0x81, "0000", Some(0x81), 0x03, None)]),
            other: Vec::new(),
        }),
        ProfileElement::Usim(TemplatePe {
            header: header(6),
            template_id: template_oid(4),
            files: vec![
                file(
                    usim_field::ADF_USIM,
                    vec![fcp(&[
                        (FILE_ID, &[0x7F, 0xD0]),
                        (DF_NAME, &USIM_AID),
                        (SECURITY_ATTRIBUTES_REFERENCED, &[0x2F, 0x06, 0x01]),
                        (PIN_STATUS_TEMPLATE_DO, &[0x81, 0x01, 0x0A, 0x0B]),
                    ])],
                ),
                file(usim_field::EF_IMSI, vec![content(&imsi_ef)]),
                file(usim_field::EF_ARR, Vec::new()),
                file(usim_field::EF_UST, Vec::new()),
                file(usim_field::EF_SPN, vec![content(&spn)]),
                file(usim_field::EF_EST, Vec::new()),
                file(usim_field::EF_ACC, vec![content(&acc)]),
                file(usim_field::EF_ECC, Vec::new()),
            ],
        }),
        ProfileElement::OptUsim(TemplatePe {
            header: header(7),
            template_id: template_oid(5),
            files: vec![file(
                opt_usim_field::EF_MSISDN,
                vec![
                    fcp(&[
                        (FILE_DESCRIPTOR, &[0x42, 0x21, 0x00, 0x0E]),
                        (EF_FILE_SIZE, &[0x0E]),
                    ]),
                    content(&[0xFF; 14]),
                ],
            )],
        }),
        ProfileElement::PinCodes(PePinCodes {
            header: header(8),
            pin_codes: PinCodes::PinConfig(vec![pin(0x81, "0000", Some(0x81), 0x03, None)]),
            other: Vec::new(),
        }),
        ProfileElement::AkaParameter(PeAkaParameter {
            header: header(9),
            algo_configuration: AlgoConfiguration::AlgoParameter(AlgoParameter {
                algorithm_id: 1,
                algorithm_options: 0x00,
                key: SecretBytes::new((0u8..16).collect()),
                opc: SecretBytes::new(vec![0; 16]),
                other: Vec::new(),
            }),
            other: Vec::new(),
        }),
        ProfileElement::SecurityDomain(PeSecurityDomain {
            header: header(10),
            instance: mno_sd_instance(),
            key_list: Some(vec![
                key(0x01, 0x01, 0x18, 0x11),
                key(0x01, 0x02, 0x14, 0x22),
                key(0x01, 0x03, 0x48, 0x33),
            ]),
            other: Vec::new(),
        }),
        ProfileElement::End(PeEnd {
            header: header(11),
            other: Vec::new(),
        }),
    ];
    ProfilePackage { elements }
}

/// The DER of [`usim_template`].
pub fn usim_template_der() -> Vec<u8> {
    usim_template().encode()
}
