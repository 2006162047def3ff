//! The SM-SR's part of Profile Download (SGP.02 §3.1; ES3 §5.4.1–§5.4.3 as the SM-DP calls them), in the order
//! of the spec's sequence:
//!
//! 1. ES3.CreateISDP (§3.1.1): checks (EID known, ICCID new on this SM-SR, RequiredMemory within the EIS's
//!    RemainingMemory), then the next ISD-P instance AID of the eUICC (never given twice, also after deletions:
//!    a persisted counter), the profile recorded `InCreation` for the calling SM-DP and the MNO, the memory
//!    reserved, and an operation with ES5.CreateISDP to the ISD-R. PoR success → the profile is `Created` and
//!    the callback carries the AID; any failure (card refusal, PoR status, expiry) removes the profile again and
//!    gives the memory back.
//! 2. ES3.SendData (§3.1.2, §5.4.2): the SM-DP's ES8 command script for one of its ISD-Ps, routed through the
//!    ISD-R as ES3.UpdateConnectivityParameters is (wire-profile §5); the ISD-P's response script goes back as
//!    `EuiccResponseData`, SUCCESS only when every ES8 command answered `9000`/`61xx`.
//! 3. ES3.ProfileDownloadCompleted (§3.1.3, §5.4.3): the `Created` profile becomes `Disabled` with its
//!    subscription address, POL2 and profile type; an audit-trail record is written.
//!
//! The error sub-routine (ES3.DeleteISDP of the `Created` profile, §3.1.4) is [`crate::platform::delete_profile`];
//! a card that no longer holds the ISD-P (`6A88`) counts as deleted for a `Created` profile
//! ([`crate::procedure::delete::absent_isdp_counts_as_deleted`]). The CreateISDP operation's states are
//! [`crate::procedure::create_isdp`]'s, SendData's [`crate::procedure::routed`]'s.

use eis_store::AnyConnection;
use eis_store::eis::{self, AuditRecord, EuiccUpdate, ProfileInfo, ProfileState, ProfileUpdate};
use es_interfaces::isdr::Es5Command;
use es_interfaces::messages::es3::{CreateIsdpRequest, ProfileDownloadCompletedRequest};
use es_interfaces::routing;
use es_interfaces::status::{Reason, Status, Subject};
use es_interfaces::wire_profile;
use es_runtime::soap_endpoint::CallContext;

use crate::eis_map::Viewer;
use crate::error::SmsrError;
use crate::operation::{self, OpData, OperationKind, Start};
use crate::platform;
use crate::procedure::routed::RoutedReport;
use crate::service::Smsr;

/// Audit-trail operation type written when a download completes: `0100` CreateISDP (notes §1.8) [P: the
/// public code list has no separate code for the download; the profile's creation is recorded once it holds
/// a profile].
pub const AUDIT_PROFILE_CREATED: [u8; 2] = [0x01, 0x00];

/// How ES3.SendData reports a routed script (contract of issue 9): every failure on the eUICC is 8.4 / 4.2 —
/// an ES8 command answering other than `9000`/`61xx` (warnings included), or the routing INSTALL itself.
pub const SEND_DATA_REPORT: RoutedReport = RoutedReport {
    subject: Subject::ISD_R,
    isdp_unknown_reason: Reason::EXECUTION_ERROR,
    warnings_succeed: false,
};

/// The instance number of an ISD-P AID of wire-profile §1 (`…89000010 00` is 0, `…1100` is 1, …), or `None`
/// for any other AID (ISD-R, ECASD, an AID from elsewhere).
pub fn isd_p_index(aid: &[u8]) -> Option<u8> {
    let first = wire_profile::ISD_P_AID_FIRST;
    (aid.len() == first.len() && aid[..14] == first[..14] && aid[15] == first[15])
        .then(|| aid[14].checked_sub(first[14]))
        .flatten()
}

/// One past the highest ISD-P instance among `aids` (0 when there is none): the lowest index CreateISDP may
/// give on an eUICC holding them.
pub fn index_after<'a>(aids: impl IntoIterator<Item = &'a [u8]>) -> i64 {
    aids.into_iter()
        .filter_map(isd_p_index)
        .map(|i| i64::from(i) + 1)
        .max()
        .unwrap_or(0)
}

/// Checks of ES3.CreateISDP against the EIS, in the order the contract lists them: unknown EID (`remaining`
/// is `None`) 8.1.1/3.9, ICCID known on this SM-SR 8.2.1/3.3, RequiredMemory over RemainingMemory 8.1/3.8.
/// Returns the memory quota to send.
pub fn check_create(
    eid: &str,
    iccid: &str,
    iccid_known: bool,
    required: i64,
    remaining: Option<i64>,
) -> Result<u32, SmsrError> {
    let Some(remaining) = remaining else {
        return Err(SmsrError::UnknownEid {
            eid: eid.to_string(),
        });
    };
    if iccid_known {
        return Err(SmsrError::IccidInUse {
            iccid: iccid.to_string(),
        });
    }
    if required > remaining {
        return Err(SmsrError::InsufficientMemory {
            eid: eid.to_string(),
            required,
            remaining,
        });
    }
    u32::try_from(required).map_err(|_| SmsrError::Invalid {
        element: "RequiredMemory".to_string(),
        why: format!("{required} is not a memory size of 0 to 4,294,967,295 bytes"),
    })
}

/// ES3.CreateISDP (SGP.02 §3.1.1, §5.4.1), asynchronous: the checks, the AID, the profile `InCreation`, the
/// memory reserved and the ES5.CreateISDP operation.
pub fn create_isdp(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    r: &CreateIsdpRequest,
) -> Result<(), SmsrError> {
    let eid = r.eid.to_string();
    let iccid = r.iccid.as_str();
    let record = eis::get_eis_without_key_values(conn, &eid)?;
    let iccid_known = eis::get_profile(conn, iccid)?.is_some();
    let quota = check_create(
        &eid,
        iccid,
        iccid_known,
        r.required_memory,
        record.as_ref().map(|e| e.euicc.remaining_memory),
    )?;
    let settings = platform::es5(smsr, "CreateISDP")?;
    let Some(record) = record else {
        return Err(SmsrError::UnknownEid { eid });
    };
    let floor = index_after(record.profiles.iter().map(|p| p.info.isd_p_aid.as_slice()));
    let index = eis::take_isd_p_index(conn, &eid, floor)?;
    let aid = u8::try_from(index)
        .ok()
        .and_then(wire_profile::isd_p_aid)
        .ok_or_else(|| SmsrError::NoIsdpAidLeft { eid: eid.clone() })?
        .to_vec();
    let now = smsr.clock.now_millis();
    eis::insert_profile(
        conn,
        &eid,
        &ProfileInfo {
            iccid: iccid.to_string(),
            isd_p_aid: aid.clone(),
            mno_id: r.mno_id.as_str().to_string(),
            fallback: false,
            imsi: None,
            msisdn: None,
            state: ProfileState::InCreation,
            smdp_id: Some(ctx.caller.oid.clone()),
            profile_type: None,
            allocated_memory: r.required_memory,
            free_memory: None,
            pol2: Vec::new(),
        },
        now,
    )?;
    eis::update_euicc(
        conn,
        &eid,
        record.version,
        &EuiccUpdate {
            remaining_memory: Some(record.euicc.remaining_memory - r.required_memory),
            ..EuiccUpdate::default()
        },
        now,
    )?;
    operation::start(
        conn,
        smsr,
        Start {
            kind: OperationKind::CreateIsdp,
            eid: &eid,
            function_call_id: Some(ctx.call_id),
            requester_oid: &ctx.caller.oid,
            interface: ctx.endpoint.interface.name,
            iccid: Some(iccid),
            isd_p_aid: Some(&aid),
            deadline: platform::deadline(smsr, settings, ctx),
            data: OpData::default(),
            script: Some(operation::script(&[Es5Command::CreateIsdp {
                isd_p_aid: aid.clone(),
                memory_quota: Some(quota),
            }])?),
        },
        now,
    )?;
    tracing::info!(%eid, %iccid, aid = %hex::encode_upper(&aid), "ES3.CreateISDP accepted");
    Ok(())
}

/// Keeps the AID of a deleted ISD-P from being given again on its eUICC (wire-profile §1).
pub fn retire_isd_p_aid(conn: &mut AnyConnection, eid: &str, aid: &[u8]) -> Result<(), SmsrError> {
    if let Some(i) = isd_p_index(aid) {
        eis::raise_isd_p_index(conn, eid, i64::from(i) + 1)?;
    }
    Ok(())
}

/// ES3.SendData (SGP.02 §3.1.2, §5.4.2), asynchronous: `data` is the caller's ES8 command script for its ISD-P
/// `sd_aid`, routed through the ISD-R (wire-profile §5). The SM-SR neither decrypts nor keeps it beyond the
/// ES5 command.
pub fn send_data(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    eid: &str,
    sd_aid: &[u8],
    data: &[u8],
) -> Result<(), SmsrError> {
    if !eis::euicc_exists(conn, eid)? {
        return Err(SmsrError::UnknownEid {
            eid: eid.to_string(),
        });
    }
    let found = eis::profile_by_isd_p_aid(conn, eid, sd_aid)?;
    let p = send_data_target(&ctx.caller.oid, eid, sd_aid, found)?;
    let script = routing::routed_script(sd_aid, data)
        .and_then(|s| s.to_expanded().map_err(routing::RoutingError::from))
        .map_err(|e| SmsrError::Invalid {
            element: "Data".to_string(),
            why: e.to_string(),
        })?;
    let settings = platform::es5(smsr, "SendData")?;
    operation::start(
        conn,
        smsr,
        Start {
            kind: OperationKind::SendData,
            eid,
            function_call_id: Some(ctx.call_id),
            requester_oid: &ctx.caller.oid,
            interface: ctx.endpoint.interface.name,
            iccid: Some(&p.info.iccid),
            isd_p_aid: Some(sd_aid),
            deadline: platform::deadline(smsr, settings, ctx),
            data: OpData::default(),
            script: Some(script),
        },
        smsr.clock.now_millis(),
    )?;
    Ok(())
}

/// The ISD-P ES3.SendData may address (`found`: the profile in ISD-P `aid`, if any): one the EIS shows (not in
/// creation) 8.3.1/3.9, of a profile `caller` downloaded 8.3.1/1.2.
pub fn send_data_target(
    caller: &str,
    eid: &str,
    aid: &[u8],
    found: Option<eis::ProfileRecord>,
) -> Result<eis::ProfileRecord, SmsrError> {
    let p = found
        .filter(|p| p.info.state != ProfileState::InCreation)
        .ok_or_else(|| SmsrError::UnknownIsdp {
            aid: hex::encode_upper(aid),
            eid: eid.to_string(),
        })?;
    if p.info.smdp_id.as_deref() != Some(caller) {
        return Err(SmsrError::IsdpNotAllowed {
            caller: caller.to_string(),
            aid: hex::encode_upper(aid),
        });
    }
    Ok(p)
}

/// ES3.ProfileDownloadCompleted (SGP.02 §3.1.3, §5.4.3), synchronous: the caller's `Created` profile becomes
/// `Disabled` with the subscription address, POL2 and profile type given; the audit trail records it.
pub fn profile_download_completed(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    caller_oid: &str,
    r: &ProfileDownloadCompletedRequest,
) -> Result<(), SmsrError> {
    let eid = r.eid.to_string();
    let iccid = r.iccid.as_str();
    let p = platform::locate(conn, Viewer::SmDp(caller_oid), &eid, iccid)?;
    check_completion(&p.info)?;
    let now = smsr.clock.now_millis();
    let address = r.subscription_address.as_ref();
    let version = eis::update_profile(
        conn,
        iccid,
        p.version,
        &ProfileUpdate {
            state: Some(ProfileState::Disabled),
            imsi: address.map(|a| a.imsi.as_ref().map(|i| i.as_str().to_string())),
            msisdn: address.map(|a| a.msisdn.as_ref().map(|m| m.as_str().to_string())),
            profile_type: r.profile_type.as_ref().map(|t| Some(t.clone())),
            ..ProfileUpdate::default()
        },
        now,
    )?;
    if r.pol2.is_some() {
        eis::set_pol2(
            conn,
            iccid,
            version,
            &platform::pol2_rules(r.pol2.as_ref()),
            now,
        )?;
    }
    eis::append_audit(
        conn,
        &AuditRecord {
            eid: eid.clone(),
            smsr_id: smsr.identity.oid.clone(),
            operation_date: now,
            operation_type: AUDIT_PROFILE_CREATED,
            requester_id: Some(caller_oid.to_string()),
            execution_status: Some(Status::ExecutedSuccess.as_str().to_string()),
            isd_p_aid: Some(p.info.isd_p_aid.clone()),
            iccid: Some(iccid.to_string()),
            imei: None,
            meid: None,
        },
    )?;
    tracing::info!(%eid, %iccid, "ES3.ProfileDownloadCompleted: profile Disabled");
    Ok(())
}

/// ES3.ProfileDownloadCompleted applies to a `Created` profile only (8.2.1/3.8).
pub fn check_completion(p: &ProfileInfo) -> Result<(), SmsrError> {
    if p.state == ProfileState::Created {
        return Ok(());
    }
    Err(SmsrError::ProfileRefused {
        iccid: p.iccid.clone(),
        action: "completed as downloaded",
        why: format!("it is {}, not Created", p.state.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::Outcome;
    use eis_store::operations::Operation;
    use es_interfaces::apdu::{ResponseApdu, StatusWord};

    const EID: &str = "89049032123451234512345678901235";
    const DP: &str = "1.3.6.1.4.1.777";

    fn codes_of(e: &SmsrError) -> (String, String) {
        let d = e.status_code_data();
        (d.subject.code().to_string(), d.reason.code().to_string())
    }

    fn profile(state: ProfileState, smdp: Option<&str>) -> eis::ProfileRecord {
        eis::ProfileRecord {
            eid: EID.into(),
            info: ProfileInfo {
                iccid: "8988211000000000001".into(),
                isd_p_aid: aid(3),
                mno_id: "1.3.6.1.4.1.4242".into(),
                fallback: false,
                imsi: None,
                msisdn: None,
                state,
                smdp_id: smdp.map(str::to_string),
                profile_type: None,
                allocated_memory: 20_000,
                free_memory: None,
                pol2: Vec::new(),
            },
            version: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn create_isdp_checks_in_the_contracts_order() {
        let c = |known, required, remaining| {
            check_create(EID, "8988211000000000001", known, required, remaining)
        };
        assert_eq!(c(false, 70_000, Some(70_000)).expect("fits"), 70_000);
        assert_eq!(
            codes_of(&c(true, 1, None).expect_err("eid")),
            ("8.1.1".into(), "3.9".into())
        );
        assert_eq!(
            codes_of(&c(true, 1, Some(10)).expect_err("in use")),
            ("8.2.1".into(), "3.3".into())
        );
        assert_eq!(
            codes_of(&c(false, 11, Some(10)).expect_err("memory")),
            ("8.1".into(), "3.8".into())
        );
        assert_eq!(
            codes_of(&c(false, -1, Some(10)).expect_err("negative")),
            ("1.6".into(), "2.1".into())
        );
    }

    #[test]
    fn send_data_addresses_the_callers_isd_ps_only() {
        let t = |p| send_data_target(DP, EID, &aid(3), p);
        assert!(t(Some(profile(ProfileState::Created, Some(DP)))).is_ok());
        assert!(t(Some(profile(ProfileState::Disabled, Some(DP)))).is_ok());
        assert_eq!(
            codes_of(&t(None).expect_err("none")),
            ("8.3.1".into(), "3.9".into())
        );
        assert_eq!(
            codes_of(
                &t(Some(profile(ProfileState::InCreation, Some(DP)))).expect_err("in creation")
            ),
            ("8.3.1".into(), "3.9".into())
        );
        for other in [None, Some("1.3.6.1.4.1.778")] {
            assert_eq!(
                codes_of(&t(Some(profile(ProfileState::Created, other))).expect_err("not mine")),
                ("8.3.1".into(), "1.2".into())
            );
        }
    }

    #[test]
    fn only_a_created_profile_completes() {
        assert!(check_completion(&profile(ProfileState::Created, Some(DP)).info).is_ok());
        for s in [ProfileState::Disabled, ProfileState::Enabled] {
            assert_eq!(
                codes_of(&check_completion(&profile(s, Some(DP)).info).expect_err("refused")),
                ("8.2.1".into(), "3.8".into())
            );
        }
    }

    fn aid(n: u8) -> Vec<u8> {
        wire_profile::isd_p_aid(n).expect("aid").to_vec()
    }

    #[test]
    fn isd_p_instances_are_numbered_from_1000() {
        assert_eq!(isd_p_index(&aid(0)), Some(0));
        assert_eq!(isd_p_index(&aid(1)), Some(1));
        assert_eq!(isd_p_index(&aid(0xEF)), Some(0xEF));
        assert_eq!(isd_p_index(&wire_profile::ISD_R_AID), None);
        assert_eq!(isd_p_index(&wire_profile::ECASD_AID), None);
        assert_eq!(isd_p_index(&aid(0)[..15]), None);
        let mut other = aid(2);
        other[15] = 0x01;
        assert_eq!(isd_p_index(&other), None);
    }

    #[test]
    fn allocation_starts_past_the_highest_instance_held() {
        assert_eq!(index_after(std::iter::empty::<&[u8]>()), 0);
        let held = [aid(0), aid(3), wire_profile::ISD_R_AID.to_vec()];
        assert_eq!(index_after(held.iter().map(Vec::as_slice)), 4);
    }

    fn op() -> Operation {
        Operation {
            id: 7,
            eid: "89049032123451234512345678901235".into(),
            kind: OperationKind::SendData.as_str().into(),
            state: eis_store::operations::OperationState::Active,
            function_call_id: Some(1),
            requester_oid: "1.3.6.1.4.1.777".into(),
            interface: "ES3".into(),
            iccid: Some("8988211000000000001".into()),
            isd_p_aid: Some(aid(2)),
            deadline: 0,
            retry_at: None,
            data: "{}".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn r(sw: StatusWord, data: &[u8]) -> ResponseApdu {
        ResponseApdu::new(data.to_vec(), sw)
    }

    fn codes(o: &Outcome) -> Option<(String, String)> {
        o.status
            .status_code_data
            .as_ref()
            .map(|d| (d.subject.code().to_string(), d.reason.code().to_string()))
    }

    fn send(responses: Vec<ResponseApdu>, sent: usize) -> Outcome {
        crate::procedure::routed::routed_outcome(&op(), sent, responses, &SEND_DATA_REPORT)
            .expect("outcome")
    }

    #[test]
    fn routed_success_returns_the_isd_ps_response_script() {
        let o = send(
            vec![
                r(StatusWord::OK, &[]),
                r(StatusWord::OK, &[0x85, 0x01, 0xAA]),
                r(StatusWord(0x6110), &[]),
            ],
            2,
        );
        assert_eq!(o.status.status, Status::ExecutedSuccess);
        // The routing INSTALL's answer removed, the count adjusted (wire-profile §5).
        assert_eq!(
            hex::encode_upper(o.euicc_response_data.expect("data")),
            "AB0E80010223058501AA900023026110"
        );
    }

    #[test]
    fn an_es8_refusal_is_8_4_4_2_with_the_response_script() {
        let o = send(
            vec![r(StatusWord::OK, &[]), r(StatusWord::SECURITY_STATUS, &[])],
            2,
        );
        assert_eq!(o.status.status, Status::Failed);
        assert_eq!(codes(&o), Some(("8.4".into(), "4.2".into())));
        let data = o.euicc_response_data.expect("data");
        assert_eq!(hex::encode_upper(&data), "AB0780010123026982");
        let msg = o
            .status
            .status_code_data
            .and_then(|d| d.message)
            .expect("message");
        assert!(msg.contains("6982"), "{msg}");
    }

    #[test]
    fn a_warning_is_no_success_for_send_data() {
        let o = send(vec![r(StatusWord::OK, &[]), r(StatusWord(0x6310), &[])], 1);
        assert_eq!(codes(&o), Some(("8.4".into(), "4.2".into())));
    }

    #[test]
    fn a_script_stopped_early_fails() {
        let o = send(vec![r(StatusWord::OK, &[]), r(StatusWord::OK, &[])], 3);
        assert_eq!(codes(&o), Some(("8.4".into(), "4.2".into())));
    }

    #[test]
    fn a_failed_routing_install_names_its_status_word() {
        for sw in [
            StatusWord::REFERENCED_DATA_NOT_FOUND,
            StatusWord::SECURITY_STATUS,
        ] {
            let o = send(vec![r(sw, &[])], 2);
            assert_eq!(codes(&o), Some(("8.4".into(), "4.2".into())));
            assert_eq!(
                o.euicc_response_data,
                Some(r(sw, &[]).to_bytes()),
                "the INSTALL's R-APDU"
            );
            let msg = o
                .status
                .status_code_data
                .and_then(|d| d.message)
                .expect("message");
            assert!(msg.contains(&sw.to_string()), "{msg}");
        }
        let o = send(Vec::new(), 1);
        assert_eq!(codes(&o), Some(("8.4".into(), "4.2".into())));
    }
}
