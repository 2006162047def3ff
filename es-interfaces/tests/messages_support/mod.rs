//! Realistic sample values of every ES1/ES2/ES3/ES4/ES7 message, shared by the message, SOAP and WSDL tests.
#![allow(dead_code)]

use es_interfaces::messages::common::{
    BaseRequest, BaseResponse, Pol2, Pol2Rule, SubscriptionAddress,
};
use es_interfaces::messages::eis::{
    AdditionalProperties, AuditTrail, AuditTrailRecord, Eis, EuiccCapabilities, EumSignature,
    EumSignedInfo, GpCertificate, Key, KeyComponent, Keyset, KeysetItem, ProfileInfo, Property,
    SecurityDomain,
};
use es_interfaces::messages::{es1, es2, es3, es4, es7};
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, StatusCodeData, Subject};
use es_interfaces::types::*;

pub const EID: &str = "89049032123451234512345678901235";
pub const ICCID: &str = "8944110012345678901";
pub const ICCID2: &str = "894411001234567891F";
pub const EUM_ID: &str = "1.3.6.1.4.1.31746.1";
pub const SMSR_ID: &str = "1.3.6.1.4.1.31746.2";
pub const MNO_ID: &str = "1.3.6.1.4.1.31746.3";
pub const SMDP_ID: &str = "1.3.6.1.4.1.31746.4";
pub const SMSR2_ID: &str = "1.3.6.1.4.1.31746.5";
pub const ISD_R_AID: &str = "A0000005591010FFFFFFFF8900000100";
pub const ECASD_AID: &str = "A0000005591010FFFFFFFF8900000200";
pub const ISD_P_AID: &str = "A0000005591010FFFFFFFF8900001000";
pub const ISD_P_AID2: &str = "A0000005591010FFFFFFFF8900001100";

pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

pub fn p<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

pub fn ts(s: &str) -> XsDateTime {
    p(s)
}

pub fn signature_children_xml() -> String {
    format!(
        "<ds:SignedInfo xmlns:ds=\"{DS}\">\
<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"/>\
<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>\
<ds:DigestValue>2LChiCedSPTLL62xF97+FmaEgRigjDjfG7hfLGWv7bI=</ds:DigestValue></ds:Reference></ds:SignedInfo>\
<ds:SignatureValue xmlns:ds=\"{DS}\">AHPsJm1PtK2/PRBKpxT58RAy/Yq22IKfxAtSyG9khdeSjMLr1GRvP+PzdL4R2QW/S+J1+obziJ2CqffcXkHdMjBFAiEA5NsN</ds:SignatureValue>\
<ds:KeyInfo xmlns:ds=\"{DS}\"><ds:KeyName>EUM-ACME-2024</ds:KeyName></ds:KeyInfo>"
    )
}

pub fn eum_signature() -> EumSignature {
    EumSignature::from_children_xml(None, &signature_children_xml()).unwrap()
}

fn key(index: u8, kcv: &str, values: &[(&str, &str)]) -> KeysetItem {
    KeysetItem::Key(Key {
        kcv: p(kcv),
        index: KeyIndex::new(index).unwrap(),
        components: values
            .iter()
            .map(|(t, v)| KeyComponent {
                key_type: p(t),
                value: p(v),
            })
            .collect(),
    })
}

pub fn ecasd() -> SecurityDomain {
    SecurityDomain {
        aid: p(ECASD_AID),
        tar: vec![],
        sin: p("0102030405"),
        sdin: p("A1B2C3"),
        role: SdRole::Ecasd,
        keysets: vec![Keyset {
            version: KeysetVersion::new(115).unwrap(),
            keyset_type: Some(KeysetUsage::Ca),
            cntr: None,
            items: vec![KeysetItem::Certificate(GpCertificate {
                index: KeyIndex::new(1).unwrap(),
                ca_id: p("1.3.6.1.4.1.31746.100"),
                value: p("7F2181E89301015F200C45434153442D3030303031"),
            })],
        }],
    }
}

pub fn isd_r() -> SecurityDomain {
    SecurityDomain {
        aid: p(ISD_R_AID),
        tar: vec![p("000001"), p("000002")],
        sin: p("0102030405060708"),
        sdin: p("4D4E4F"),
        role: SdRole::IsdR,
        keysets: vec![
            Keyset {
                version: KeysetVersion::new(1).unwrap(),
                keyset_type: Some(KeysetUsage::Scp80),
                cntr: Some(42),
                items: vec![
                    key(1, "A1B2C3", &[("88", "00112233445566778899AABBCCDDEEFF")]),
                    key(2, "D4E5F6", &[("88", "FFEEDDCCBBAA99887766554433221100")]),
                    key(3, "0A0B0C", &[("88", "0123456789ABCDEF0123456789ABCDEF")]),
                ],
            },
            Keyset {
                version: KeysetVersion::new(64).unwrap(),
                keyset_type: Some(KeysetUsage::Scp81),
                cntr: None,
                items: vec![key(
                    1,
                    "112233",
                    &[
                        ("85", "6C6162707370726B6579"),
                        ("88", "101112131415161718191A1B1C1D1E1F"),
                    ],
                )],
            },
        ],
    }
}

pub fn pol2() -> Pol2 {
    Pol2 {
        rules: vec![Pol2Rule {
            subject: Pol2RuleSubject::Profile,
            action: Pol2RuleAction::Disable,
            qualification: Pol2RuleQualification::NotAllowed,
        }],
    }
}

pub fn subscription_address() -> SubscriptionAddress {
    SubscriptionAddress {
        imsi: Some(p("234150123456789")),
        msisdn: Some(p("447700900123")),
    }
}

/// A full EIS: both security domains with key sets, two profiles, audit trail and additional properties.
pub fn full_eis() -> Eis {
    Eis {
        eum_signed_info: EumSignedInfo {
            eid: p(EID),
            eum_id: p(EUM_ID),
            production_date: ts("2024-03-01T08:15:00Z"),
            platform_type: p("ACME M2M eUICC"),
            platform_version: p("3.2.0"),
            isd_p_loadfile_aid: p("A0000005591010FFFFFFFF8900000D00"),
            isd_p_module_aid: p("A0000005591010FFFFFFFF8900000E00"),
            ecasd: ecasd(),
            euicc_capabilities: EuiccCapabilities {
                cattp_support: false,
                cattp_version: None,
                http_support: true,
                http_version: Some(p("1.1.0")),
                secure_packet_version: p("13.1.0"),
                remote_provisioning_version: p("3.2.0"),
            },
        },
        eum_signature: eum_signature(),
        remaining_memory: 512_000,
        available_memory_for_profiles: 480_000,
        last_audit_date: Some(ts("2025-01-15T10:00:00.250Z")),
        smsr_id: p(SMSR_ID),
        profile_info: vec![
            ProfileInfo {
                iccid: p(ICCID),
                isd_p_aid: p(ISD_P_AID),
                mno_id: p(MNO_ID),
                fallback_attribute: true,
                subscription_address: subscription_address(),
                state: ProfileState::Enabled,
                smdp_id: None,
                profile_type: Some(p("Bootstrap")),
                allocated_memory: 64_000,
                free_memory: Some(12_000),
                // zeep reads an empty <pol2/> as "absent" and then refuses to re-render it, so the shared
                // samples carry rules; the empty case is covered in messages_decode.rs.
                pol2: Pol2 {
                    rules: vec![Pol2Rule {
                        subject: Pol2RuleSubject::Profile,
                        action: Pol2RuleAction::Delete,
                        qualification: Pol2RuleQualification::AutoDelete,
                    }],
                },
            },
            ProfileInfo {
                iccid: p(ICCID2),
                isd_p_aid: p(ISD_P_AID2),
                mno_id: p(MNO_ID),
                fallback_attribute: false,
                subscription_address: SubscriptionAddress {
                    imsi: Some(p("234150123456780")),
                    msisdn: None,
                },
                state: ProfileState::Disabled,
                smdp_id: Some(p(SMDP_ID)),
                profile_type: Some(p("3G_16K")),
                allocated_memory: 16_000,
                free_memory: None,
                pol2: pol2(),
            },
        ],
        isd_r: isd_r(),
        audit_trail: Some(AuditTrail {
            records: vec![
                AuditTrailRecord {
                    eid: p(EID),
                    smsr_id: p(SMSR_ID),
                    operation_date: ts("2025-01-10T09:00:00Z"),
                    operation_type: p("0100"),
                    requester_id: Some(p(SMDP_ID)),
                    operation_execution_status: Some(FunctionExecutionStatus::success()),
                    isd_p_aid: Some(p(ISD_P_AID2)),
                    iccid: Some(p(ICCID2)),
                    imei: None,
                    meid: None,
                },
                AuditTrailRecord {
                    eid: p(EID),
                    smsr_id: p(SMSR_ID),
                    operation_date: ts("2025-01-11T09:30:00+01:00"),
                    operation_type: p("0200"),
                    requester_id: None,
                    operation_execution_status: None,
                    isd_p_aid: Some(p(ISD_P_AID)),
                    iccid: Some(p(ICCID)),
                    imei: Some(p("3534900698733190")),
                    meid: None,
                },
            ],
        }),
        additional_properties: Some(AdditionalProperties {
            properties: vec![
                Property {
                    key: "device.model".into(),
                    value: "Tracker <T1> & \"friends\"".into(),
                },
                Property {
                    key: "fleet".into(),
                    value: "".into(),
                },
            ],
        }),
    }
}

/// A minimal EIS (what a notification to an MNO carries): no optional parts, no profiles.
pub fn minimal_eis() -> Eis {
    let mut eis = full_eis();
    eis.last_audit_date = None;
    eis.profile_info.clear();
    eis.audit_trail = None;
    eis.additional_properties = None;
    eis
}

pub fn req(id: &str) -> BaseRequest {
    BaseRequest {
        function_call_identifier: id.to_string(),
        validity_period: Some(PositiveInteger::new(86_400).unwrap()),
    }
}

pub fn ok() -> BaseResponse {
    BaseResponse {
        processing_start: Some(ts("2025-02-01T12:00:00Z")),
        processing_end: Some(ts("2025-02-01T12:00:01.5Z")),
        acceptable_validity_period: None,
        function_execution_status: FunctionExecutionStatus::success(),
    }
}

pub fn failed(subject: Subject, reason: Reason) -> BaseResponse {
    BaseResponse {
        processing_start: None,
        processing_end: None,
        acceptable_validity_period: Some(PositiveInteger::new(3600).unwrap()),
        function_execution_status: FunctionExecutionStatus {
            status: Status::Failed,
            status_code_data: Some(StatusCodeData {
                subject,
                reason,
                subject_identifier: Some(EID.to_string()),
                message: Some("eUICC unknown to the SM-SR".into()),
            }),
        },
    }
}

pub fn es1_samples() -> Vec<es1::Message> {
    vec![
        es1::Message::Request(
            es1::RegisterEisRequest {
                base: req("EUM-REG-0001"),
                eis: full_eis(),
            }
            .into(),
        ),
        es1::Message::Response(es1::RegisterEisResponse { base: ok() }.into()),
        es1::Message::Response(
            es1::RegisterEisResponse {
                base: failed(Subject::EIS, Reason::NOT_ALLOWED),
            }
            .into(),
        ),
    ]
}

pub fn es2_samples() -> Vec<es2::Message> {
    use es2::*;
    let eid: Eid = p(EID);
    let iccid: Iccid = p(ICCID);
    vec![
        Message::Request(
            GetEisRequest {
                base: req("MNO-1"),
                eid,
                smsr_id: p(SMSR_ID),
            }
            .into(),
        ),
        Message::Request(
            DownloadProfileRequest {
                base: BaseRequest::new("MNO-2"),
                eid,
                smsr_id: p(SMSR_ID),
                profile_type: Some("3G_16K".into()),
                iccid: Some(iccid.clone()),
                enable_profile: true,
            }
            .into(),
        ),
        Message::Request(
            UpdatePolicyRulesRequest {
                base: req("MNO-3"),
                eid,
                iccid: iccid.clone(),
                smsr_id: p(SMSR_ID),
                pol2: Some(pol2()),
            }
            .into(),
        ),
        Message::Request(
            UpdateSubscriptionAddressRequest {
                base: req("MNO-4"),
                eid,
                smsr_id: p(SMSR_ID),
                iccid: iccid.clone(),
                new_subscription_address: subscription_address(),
            }
            .into(),
        ),
        Message::Request(
            EnableProfileRequest {
                base: req("MNO-5"),
                eid,
                smsr_id: p(SMSR_ID),
                iccid: iccid.clone(),
            }
            .into(),
        ),
        Message::Request(
            DisableProfileRequest {
                base: req("MNO-6"),
                eid,
                smsr_id: p(SMSR_ID),
                iccid: iccid.clone(),
            }
            .into(),
        ),
        Message::Request(
            DeleteProfileRequest {
                base: req("MNO-7"),
                eid,
                iccid: iccid.clone(),
                smsr_id: p(SMSR_ID),
            }
            .into(),
        ),
        Message::Response(
            GetEisResponse {
                base: ok(),
                eis: Some(full_eis()),
            }
            .into(),
        ),
        Message::Response(
            GetEisResponse {
                base: failed(Subject::EID, Reason::UNKNOWN),
                eis: None,
            }
            .into(),
        ),
        Message::Response(
            DownloadProfileResponse {
                base: ok(),
                iccid: Some(iccid.clone()),
            }
            .into(),
        ),
        Message::Response(UpdatePolicyRulesResponse { base: ok() }.into()),
        Message::Response(UpdateSubscriptionAddressResponse { base: ok() }.into()),
        Message::Response(EnableProfileResponse { base: ok() }.into()),
        Message::Response(
            DisableProfileResponse {
                base: failed(Subject::PROFILE_ICCID, Reason::NOT_ALLOWED),
            }
            .into(),
        ),
        Message::Response(DeleteProfileResponse { base: ok() }.into()),
        Message::Notification(
            HandleProfileDisabledNotification {
                eid,
                iccid: iccid.clone(),
                completion_timestamp: ts("2025-02-02T10:00:00Z"),
            }
            .into(),
        ),
        Message::Notification(
            HandleProfileEnabledNotification {
                eid,
                iccid: iccid.clone(),
                completion_timestamp: ts("2025-02-02T10:00:00Z"),
            }
            .into(),
        ),
        Message::Notification(
            HandleSmsrChangeNotification {
                eis: minimal_eis(),
                completion_timestamp: ts("2025-02-03T11:00:00Z"),
            }
            .into(),
        ),
        Message::Notification(
            HandleProfileDeletedNotification {
                eid,
                iccid,
                completion_timestamp: ts("2025-02-04T12:00:00Z"),
            }
            .into(),
        ),
    ]
}

pub fn es3_samples() -> Vec<es3::Message> {
    use es3::*;
    let eid: Eid = p(EID);
    let iccid: Iccid = p(ICCID);
    let erd = Some(p::<HexBinary>("6A80"));
    vec![
        Message::Request(
            GetEisRequest {
                base: req("DP-1"),
                eid,
            }
            .into(),
        ),
        Message::Request(
            AuditEisRequest {
                base: req("DP-2"),
                eid,
                iccids: vec![iccid.clone(), p(ICCID2)],
            }
            .into(),
        ),
        Message::Request(
            CreateIsdpRequest {
                base: req("DP-3"),
                eid,
                iccid: iccid.clone(),
                mno_id: p(MNO_ID),
                required_memory: 65_536,
                more_to_do: Some(true),
            }
            .into(),
        ),
        Message::Request(
            SendDataRequest {
                base: req("DP-4"),
                eid,
                sd_aid: p(ISD_P_AID),
                data: p("80E2910006BF3E035C015A"),
                more_to_do: Some(false),
            }
            .into(),
        ),
        Message::Request(
            ProfileDownloadCompletedRequest {
                base: req("DP-5"),
                eid,
                iccid: iccid.clone(),
                profile_type: Some("3G_16K".into()),
                subscription_address: Some(subscription_address()),
                pol2: Some(pol2()),
            }
            .into(),
        ),
        Message::Request(
            UpdatePolicyRulesRequest {
                base: req("DP-6"),
                eid,
                iccid: iccid.clone(),
                pol2: None,
            }
            .into(),
        ),
        Message::Request(
            UpdateSubscriptionAddressRequest {
                base: req("DP-7"),
                eid,
                iccid: iccid.clone(),
                new_subscription_address: SubscriptionAddress {
                    imsi: None,
                    msisdn: Some(p("447700900124")),
                },
            }
            .into(),
        ),
        Message::Request(
            EnableProfileRequest {
                base: req("DP-8"),
                eid,
                iccid: iccid.clone(),
            }
            .into(),
        ),
        Message::Request(
            DisableProfileRequest {
                base: req("DP-9"),
                eid,
                iccid: iccid.clone(),
            }
            .into(),
        ),
        Message::Request(
            DeleteIsdpRequest {
                base: req("DP-10"),
                eid,
                iccid: iccid.clone(),
            }
            .into(),
        ),
        Message::Request(
            UpdateConnectivityParametersRequest {
                base: req("DP-11"),
                eid,
                iccid: iccid.clone(),
                connectivity_parameters: p("A00D800B8101018202000083010A"),
            }
            .into(),
        ),
        Message::Response(
            GetEisResponse {
                base: ok(),
                eis: Some(full_eis()),
            }
            .into(),
        ),
        Message::Response(
            AuditEisResponse {
                base: ok(),
                eis: Some(full_eis()),
            }
            .into(),
        ),
        Message::Response(
            CreateIsdpResponse {
                base: ok(),
                isd_p_aid: p(ISD_P_AID),
                euicc_response_data: None,
            }
            .into(),
        ),
        Message::Response(
            SendDataResponse {
                base: ok(),
                euicc_response_data: Some(p("9000")),
            }
            .into(),
        ),
        Message::Response(ProfileDownloadCompletedResponse { base: ok() }.into()),
        Message::Response(UpdatePolicyRulesResponse { base: ok() }.into()),
        Message::Response(UpdateSubscriptionAddressResponse { base: ok() }.into()),
        Message::Response(
            EnableProfileResponse {
                base: ok(),
                euicc_response_data: None,
            }
            .into(),
        ),
        Message::Response(
            DisableProfileResponse {
                base: failed(Subject::PROFILE_ICCID, Reason::EXECUTION_ERROR),
                euicc_response_data: erd.clone(),
            }
            .into(),
        ),
        Message::Response(
            DeleteIsdpResponse {
                base: ok(),
                euicc_response_data: None,
            }
            .into(),
        ),
        Message::Response(
            UpdateConnectivityParametersResponse {
                base: ok(),
                euicc_response_data: erd,
            }
            .into(),
        ),
        Message::Notification(
            HandleProfileDisabledNotification {
                eid,
                iccid: iccid.clone(),
                mno_id: p(MNO_ID),
                completion_timestamp: ts("2025-02-02T10:00:00Z"),
            }
            .into(),
        ),
        Message::Notification(
            HandleProfileEnabledNotification {
                eid,
                iccid: iccid.clone(),
                mno_id: p(MNO_ID),
                completion_timestamp: ts("2025-02-02T10:00:00Z"),
            }
            .into(),
        ),
        Message::Notification(
            HandleSmsrChangeNotification {
                eis: minimal_eis(),
                mno_id: p(MNO_ID),
                completion_timestamp: ts("2025-02-03T11:00:00Z"),
            }
            .into(),
        ),
        Message::Notification(
            HandleProfileDeletedNotification {
                eid,
                iccid,
                mno_id: p(MNO_ID),
                completion_timestamp: ts("2025-02-04T12:00:00Z"),
            }
            .into(),
        ),
    ]
}

pub fn es4_samples() -> Vec<es4::Message> {
    use es4::*;
    let eid: Eid = p(EID);
    let iccid: Iccid = p(ICCID);
    vec![
        Message::Request(
            GetEisRequest {
                base: req("MNO-41"),
                eid,
            }
            .into(),
        ),
        Message::Request(
            AuditEisRequest {
                base: req("MNO-42"),
                eid,
                iccids: vec![],
            }
            .into(),
        ),
        Message::Request(
            UpdatePolicyRulesRequest {
                base: req("MNO-43"),
                eid,
                iccid: iccid.clone(),
                pol2: pol2(),
            }
            .into(),
        ),
        Message::Request(
            UpdateSubscriptionAddressRequest {
                base: req("MNO-44"),
                eid,
                iccid: iccid.clone(),
                new_subscription_address: subscription_address(),
            }
            .into(),
        ),
        Message::Request(
            EnableProfileRequest {
                base: req("MNO-45"),
                eid,
                iccid: iccid.clone(),
            }
            .into(),
        ),
        Message::Request(
            DisableProfileRequest {
                base: req("MNO-46"),
                eid,
                iccid: iccid.clone(),
            }
            .into(),
        ),
        Message::Request(
            DeleteProfileRequest {
                base: req("MNO-47"),
                eid,
                iccid: iccid.clone(),
            }
            .into(),
        ),
        Message::Request(
            PrepareSmsrChangeRequest {
                base: req("MNO-48"),
                eid,
                current_smsr_id: p(SMSR_ID),
            }
            .into(),
        ),
        Message::Request(
            SmsrChangeRequest {
                base: req("MNO-49"),
                eid,
                target_smsr_id: p(SMSR2_ID),
            }
            .into(),
        ),
        Message::Response(
            GetEisResponse {
                base: ok(),
                eis: Some(full_eis()),
            }
            .into(),
        ),
        Message::Response(
            AuditEisResponse {
                base: ok(),
                eis: Some(minimal_eis()),
            }
            .into(),
        ),
        Message::Response(
            UpdatePolicyRulesResponse {
                base: failed(Subject::POL2, Reason::INVALID),
            }
            .into(),
        ),
        Message::Response(UpdateSubscriptionAddressResponse { base: ok() }.into()),
        Message::Response(
            EnableProfileResponse {
                base: ok(),
                euicc_response_data: None,
            }
            .into(),
        ),
        Message::Response(
            DisableProfileResponse {
                base: ok(),
                euicc_response_data: Some(p("6985")),
            }
            .into(),
        ),
        Message::Response(
            DeleteProfileResponse {
                base: ok(),
                euicc_response_data: None,
            }
            .into(),
        ),
        Message::Response(PrepareSmsrChangeResponse { base: ok() }.into()),
        Message::Response(
            SmsrChangeResponse {
                base: failed(Subject::SM_SR, Reason::UNKNOWN),
            }
            .into(),
        ),
        Message::Notification(
            HandleProfileDisabledNotification {
                eid,
                iccid: iccid.clone(),
                completion_timestamp: ts("2025-02-02T10:00:00Z"),
            }
            .into(),
        ),
        Message::Notification(
            HandleProfileEnabledNotification {
                eid,
                iccid: iccid.clone(),
                completion_timestamp: ts("2025-02-02T10:00:00Z"),
            }
            .into(),
        ),
        Message::Notification(
            HandleSmsrChangeNotification {
                eis: minimal_eis(),
                completion_timestamp: ts("2025-02-03T11:00:00Z"),
            }
            .into(),
        ),
        Message::Notification(
            HandleProfileDeletedNotification {
                eid,
                iccid,
                completion_timestamp: ts("2025-02-04T12:00:00Z"),
            }
            .into(),
        ),
    ]
}

pub fn es7_samples() -> Vec<es7::Message> {
    use es7::*;
    vec![
        Message::Request(
            HandoverEuiccRequest {
                base: req("SR-1"),
                eis: full_eis(),
            }
            .into(),
        ),
        Message::Request(
            AuthenticateSmsrRequest {
                base: req("SR-2"),
                eis: minimal_eis(),
                smsr_certificate: p("7F2181F59301025F200C534D2D53522D3030303032"),
            }
            .into(),
        ),
        Message::Request(
            CreateAdditionalKeySetRequest {
                base: req("SR-3"),
                eid: p(EID),
                key_version_number: KeysetVersion::new(2).unwrap(),
                initial_sequence_counter: 0,
                ecc_key_length: EccKeyLength::Ecc256,
                scenario_parameter: 0x09,
                host_id: p("534D53522D32"),
                ephemeral_public_key: p("04AABBCCDD"),
                signature: p("3045022100FF"),
            }
            .into(),
        ),
        Message::Response(HandoverEuiccResponse { base: ok() }.into()),
        Message::Response(
            AuthenticateSmsrResponse {
                base: ok(),
                random_challenge: p("0102030405060708"),
            }
            .into(),
        ),
        Message::Response(
            CreateAdditionalKeySetResponse {
                base: ok(),
                derivation_random: p("A1A2A3A4A5A6A7A8A9AAABACADAEAFB0"),
                receipt: p("B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0"),
            }
            .into(),
        ),
        Message::Notification(
            HandleSmsrChangeNotification {
                eis: minimal_eis(),
                completion_timestamp: ts("2025-02-05T13:00:00Z"),
            }
            .into(),
        ),
    ]
}

/// A message of any interface (for tests that iterate over all of them).
#[derive(Debug, Clone, PartialEq)]
pub enum Any {
    Es1(es1::Message),
    Es2(es2::Message),
    Es3(es3::Message),
    Es4(es4::Message),
    Es7(es7::Message),
}

impl Any {
    pub fn element_name(&self) -> &'static str {
        match self {
            Any::Es1(m) => m.element_name(),
            Any::Es2(m) => m.element_name(),
            Any::Es3(m) => m.element_name(),
            Any::Es4(m) => m.element_name(),
            Any::Es7(m) => m.element_name(),
        }
    }

    pub fn to_xml(&self) -> String {
        match self {
            Any::Es1(m) => m.to_xml(),
            Any::Es2(m) => m.to_xml(),
            Any::Es3(m) => m.to_xml(),
            Any::Es4(m) => m.to_xml(),
            Any::Es7(m) => m.to_xml(),
        }
    }

    pub fn write_body(&self, w: &mut es_interfaces::xml::XmlWriter) {
        match self {
            Any::Es1(m) => m.write_body(w),
            Any::Es2(m) => m.write_body(w),
            Any::Es3(m) => m.write_body(w),
            Any::Es4(m) => m.write_body(w),
            Any::Es7(m) => m.write_body(w),
        }
    }

    /// Decodes `el` with the decoder of this message's interface.
    pub fn decode_like(
        &self,
        el: &es_interfaces::xml::Element,
    ) -> Result<Any, es_interfaces::messages::DecodeError> {
        Ok(match self {
            Any::Es1(_) => Any::Es1(es1::Message::decode(el)?),
            Any::Es2(_) => Any::Es2(es2::Message::decode(el)?),
            Any::Es3(_) => Any::Es3(es3::Message::decode(el)?),
            Any::Es4(_) => Any::Es4(es4::Message::decode(el)?),
            Any::Es7(_) => Any::Es7(es7::Message::decode(el)?),
        })
    }
}

pub fn all_samples() -> Vec<Any> {
    let mut out: Vec<Any> = Vec::new();
    out.extend(es1_samples().into_iter().map(Any::Es1));
    out.extend(es2_samples().into_iter().map(Any::Es2));
    out.extend(es3_samples().into_iter().map(Any::Es3));
    out.extend(es4_samples().into_iter().map(Any::Es4));
    out.extend(es7_samples().into_iter().map(Any::Es7));
    out
}
