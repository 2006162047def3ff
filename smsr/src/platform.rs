//! Platform management functions of ES4 (MNO, SGP.02 §5.5) and ES3 (SM-DP, §5.4): the checks that refuse a
//! call at once (unknown EID 8.1.1, unknown ICCID 8.2.1 — also for another owner's profile, see [`locate`] —,
//! the caller's ICCID on another eUICC, profile state, POL2 8.2.3 — nothing is queued then), and the start of the operation that carries out an
//! accepted asynchronous call over ES5. The synchronous ones (UpdatePolicyRules, UpdateSubscriptionAddress)
//! change the EIS at once.

use eis_store::AnyConnection;
use eis_store::eis::{self, Pol2Rule, ProfileRecord, ProfileState, ProfileUpdate};
use eis_store::operations::Operation;
use eis_store::owners;
use es_interfaces::isdr::Es5Command;
use es_interfaces::messages::common::{Pol2, SubscriptionAddress};
use es_interfaces::routing;
use es_runtime::soap_endpoint::CallContext;

use crate::eis_map::Viewer;
use crate::error::SmsrError;
use crate::operation::{self, OpData, OperationKind, Start};
use crate::service::{Es5Settings, Smsr};

/// POL2 actions (A1 `POL2RuleActionType`).
pub const POL2_ENABLE: &str = "ENABLE";
/// POL2 action DISABLE.
pub const POL2_DISABLE: &str = "DISABLE";
/// POL2 action DELETE.
pub const POL2_DELETE: &str = "DELETE";

/// Who asks for a platform operation, and how its result is answered: an ES3/ES4 function call (its record
/// and ReplyTo, from the [`CallContext`]) or an eUICC owner over ESM2M (no function call; the result is kept for
/// the owner to read, [`crate::esm2m::operations`]).
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The requester's OID (the audit trail's RequesterId).
    pub oid: &'a str,
    /// The interface of the request ("ES3", "ES4", "ESM2M").
    pub interface: &'a str,
    /// The function call the operation answers, if any.
    pub function_call_id: Option<i64>,
    /// The request's validity deadline (unix ms), if it has one.
    pub valid_until: Option<i64>,
}

impl<'a> From<&'a CallContext<'_>> for Requester<'a> {
    fn from(ctx: &'a CallContext<'_>) -> Requester<'a> {
        Requester {
            oid: &ctx.caller.oid,
            interface: ctx.endpoint.interface.name,
            function_call_id: Some(ctx.call_id),
            valid_until: ctx.valid_until,
        }
    }
}

pub(crate) fn es5<'a>(smsr: &'a Smsr, function: &str) -> Result<&'a Es5Settings, SmsrError> {
    smsr.es5.as_ref().ok_or_else(|| SmsrError::NoEs5Transport {
        function: function.to_string(),
    })
}

/// Whether `viewer` may know of eUICC `eid` ([`Viewer::knows_euicc`]): false for an EID that does not exist.
pub fn euicc_known(
    conn: &mut AnyConnection,
    viewer: Viewer<'_>,
    eid: &str,
) -> Result<bool, SmsrError> {
    Ok(known_euicc_profiles(conn, viewer, eid)?.is_some())
}

/// The profiles of eUICC `eid` (ordered by ICCID) when `viewer` may know of it ([`euicc_known`]), else
/// `None`: one read of the profiles, whose rows also show that the eUICC exists (only an eUICC without
/// profiles is looked up besides).
pub fn known_euicc_profiles(
    conn: &mut AnyConnection,
    viewer: Viewer<'_>,
    eid: &str,
) -> Result<Option<Vec<ProfileRecord>>, SmsrError> {
    let profiles = eis::profiles_of(conn, eid)?;
    if profiles.is_empty() && !eis::euicc_exists(conn, eid)? {
        return Ok(None);
    }
    let known = match viewer {
        Viewer::SmDp(_) | Viewer::Smsr(_) => true,
        Viewer::Mno(_) => viewer.knows_euicc(profiles.iter().map(|p| &p.info)),
        Viewer::Owner(oid) => owners::owner_of(conn, eid)?.as_deref() == Some(oid),
    };
    Ok(known.then_some(profiles))
}

/// The profile `iccid` on eUICC `eid` as `viewer` may manage it, or the refusal. What the caller is told
/// depends only on what it may know (docs/architecture.md §8): 8.1.1 unknown EID when the eUICC does not exist
/// or the caller may not know of it ([`euicc_known`]); 8.2.1 unknown ICCID when the ICCID is not one of the
/// caller's profiles — whether it does not exist, is in creation, or is another owner's, on this eUICC or
/// another; 8.2.1 ICCID on another eUICC only for the caller's own profile.
pub fn locate(
    conn: &mut AnyConnection,
    viewer: Viewer<'_>,
    eid: &str,
    iccid: &str,
) -> Result<ProfileRecord, SmsrError> {
    Ok(locate_among(conn, viewer, eid, iccid)?.0)
}

/// [`locate`], with the eUICC's profiles as read for it (the checks of an enable or disable look at the
/// others).
fn locate_among(
    conn: &mut AnyConnection,
    viewer: Viewer<'_>,
    eid: &str,
    iccid: &str,
) -> Result<(ProfileRecord, Vec<ProfileRecord>), SmsrError> {
    let Some(profiles) = known_euicc_profiles(conn, viewer, eid)? else {
        return Err(SmsrError::UnknownEid {
            eid: eid.to_string(),
        });
    };
    if let Some(p) = profiles
        .iter()
        .find(|p| p.info.iccid == iccid && viewer.sees(&p.info))
    {
        return Ok((p.clone(), profiles));
    }
    match eis::get_profile(conn, iccid)?.filter(|p| viewer.sees(&p.info)) {
        Some(p) if p.eid == eid => Ok((p, profiles)),
        // An owner sees profiles on its own eUICCs only: elsewhere the ICCID is unknown to it.
        Some(_) if !matches!(viewer, Viewer::Owner(_)) => Err(SmsrError::IccidOnOtherEuicc {
            iccid: iccid.to_string(),
            eid: eid.to_string(),
        }),
        _ => Err(SmsrError::UnknownIccid {
            iccid: iccid.to_string(),
        }),
    }
}

/// Whether POL2 of `p` allows `action` (SGP.02 §2.4.5: a `Not-Allowed` rule on subject PROFILE forbids it).
pub fn pol2_allows(p: &eis::ProfileInfo, action: &str) -> bool {
    !p.pol2.iter().any(|r| {
        r.subject.eq_ignore_ascii_case("PROFILE")
            && r.action.eq_ignore_ascii_case(action)
            && r.qualification.eq_ignore_ascii_case("Not-Allowed")
    })
}

/// Whether POL2 of `p` asks for its deletion once it is disabled (SGP.02 §2.4.5, §3.3: rule PROFILE / DISABLE /
/// `Auto-Delete`); the fall-back profile is never deleted this way.
pub fn pol2_auto_deletes(p: &eis::ProfileInfo) -> bool {
    !p.fallback
        && p.pol2.iter().any(|r| {
            r.subject.eq_ignore_ascii_case("PROFILE")
                && r.action.eq_ignore_ascii_case(POL2_DISABLE)
                && r.qualification.eq_ignore_ascii_case("Auto-Delete")
        })
}

fn refused(iccid: &str, action: &'static str, why: &str) -> SmsrError {
    SmsrError::ProfileRefused {
        iccid: iccid.to_string(),
        action,
        why: why.to_string(),
    }
}

pub(crate) fn deadline(smsr: &Smsr, settings: &Es5Settings, ctx: &CallContext<'_>) -> i64 {
    deadline_until(smsr, settings, ctx.valid_until)
}

/// The deadline of an operation: the request's validity deadline, else the default validity from now.
pub(crate) fn deadline_until(smsr: &Smsr, settings: &Es5Settings, valid_until: Option<i64>) -> i64 {
    valid_until.unwrap_or_else(|| {
        smsr.clock.now_millis().saturating_add(
            i64::try_from(settings.default_validity.as_millis()).unwrap_or(i64::MAX),
        )
    })
}

/// Starts an operation of the requester on profile `p` with its first ES5 script.
fn start_for_profile(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    requester: Requester<'_>,
    kind: OperationKind,
    p: &ProfileRecord,
    script: Vec<u8>,
    settings: &Es5Settings,
) -> Result<Operation, SmsrError> {
    let now = smsr.clock.now_millis();
    operation::start(
        conn,
        smsr,
        Start {
            kind,
            eid: &p.eid,
            function_call_id: requester.function_call_id,
            requester_oid: requester.oid,
            interface: requester.interface,
            iccid: Some(&p.info.iccid),
            isd_p_aid: Some(&p.info.isd_p_aid),
            deadline: deadline_until(smsr, settings, requester.valid_until),
            data: OpData::default(),
            script: Some(script),
        },
        now,
    )
}

/// ES4/ES3.EnableProfile (SGP.02 §3.2, §5.5.5, §5.4.10): the target must be Disabled; POL2 of the target
/// (ENABLE) and of the enabled profile (DISABLE) must allow it.
pub fn enable_profile<'r>(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    requester: impl Into<Requester<'r>>,
    viewer: Viewer<'_>,
    eid: &str,
    iccid: &str,
) -> Result<Operation, SmsrError> {
    let requester = requester.into();
    let settings = es5(smsr, "EnableProfile")?;
    let (p, profiles) = locate_among(conn, viewer, eid, iccid)?;
    match p.info.state {
        ProfileState::Enabled => return Err(refused(iccid, "enabled", "it is already Enabled")),
        ProfileState::Created | ProfileState::InCreation => {
            return Err(refused(
                iccid,
                "enabled",
                "its ISD-P holds no profile yet (Created)",
            ));
        }
        ProfileState::Disabled => {}
    }
    if !pol2_allows(&p.info, POL2_ENABLE) {
        return Err(SmsrError::Pol2Refused {
            iccid: iccid.to_string(),
            action: POL2_ENABLE,
        });
    }
    if let Some(current) = profiles
        .into_iter()
        .find(|c| c.info.state == ProfileState::Enabled)
        && !pol2_allows(&current.info, POL2_DISABLE)
    {
        return Err(SmsrError::Pol2Refused {
            iccid: current.info.iccid,
            action: POL2_DISABLE,
        });
    }
    let aid = p.info.isd_p_aid.clone();
    start_for_profile(
        conn,
        smsr,
        requester,
        OperationKind::EnableProfile,
        &p,
        operation::script(&[Es5Command::EnableProfile { isd_p_aid: aid }])?,
        settings,
    )
}

/// ES4/ES3.DisableProfile (SGP.02 §3.3, §5.5.6, §5.4.11): the target must be Enabled, not the fall-back
/// profile, and a Disabled fall-back profile must be there to take over; POL2 (DISABLE) must allow it.
pub fn disable_profile<'r>(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    requester: impl Into<Requester<'r>>,
    viewer: Viewer<'_>,
    eid: &str,
    iccid: &str,
) -> Result<Operation, SmsrError> {
    let requester = requester.into();
    let settings = es5(smsr, "DisableProfile")?;
    let (p, profiles) = locate_among(conn, viewer, eid, iccid)?;
    if p.info.state != ProfileState::Enabled {
        return Err(refused(iccid, "disabled", "it is not Enabled"));
    }
    if p.info.fallback {
        return Err(refused(
            iccid,
            "disabled",
            "it carries the fall-back attribute",
        ));
    }
    if !profiles
        .iter()
        .any(|f| f.info.fallback && f.info.state == ProfileState::Disabled)
    {
        return Err(refused(
            iccid,
            "disabled",
            "no Disabled fall-back profile can take over",
        ));
    }
    if !pol2_allows(&p.info, POL2_DISABLE) {
        return Err(SmsrError::Pol2Refused {
            iccid: iccid.to_string(),
            action: POL2_DISABLE,
        });
    }
    let aid = p.info.isd_p_aid.clone();
    start_for_profile(
        conn,
        smsr,
        requester,
        OperationKind::DisableProfile,
        &p,
        operation::script(&[Es5Command::DisableProfile { isd_p_aid: aid }])?,
        settings,
    )
}

/// ES4.DeleteProfile / ES3.DeleteISDP (SGP.02 §3.4, §5.5.7, §5.4.12): not the enabled profile, not the
/// fall-back profile; POL2 (DELETE) must allow it.
pub fn delete_profile<'r>(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    requester: impl Into<Requester<'r>>,
    viewer: Viewer<'_>,
    eid: &str,
    iccid: &str,
) -> Result<Operation, SmsrError> {
    let requester = requester.into();
    let settings = es5(smsr, "DeleteProfile")?;
    let p = locate(conn, viewer, eid, iccid)?;
    if p.info.state == ProfileState::Enabled {
        return Err(refused(iccid, "deleted", "it is Enabled"));
    }
    if p.info.fallback {
        return Err(refused(
            iccid,
            "deleted",
            "it carries the fall-back attribute",
        ));
    }
    if !pol2_allows(&p.info, POL2_DELETE) {
        return Err(SmsrError::Pol2Refused {
            iccid: iccid.to_string(),
            action: POL2_DELETE,
        });
    }
    let aid = p.info.isd_p_aid.clone();
    start_for_profile(
        conn,
        smsr,
        requester,
        OperationKind::DeleteProfile,
        &p,
        operation::script(&[Es5Command::DeleteProfile { isd_p_aid: aid }])?,
        settings,
    )
}

/// SetFallBackAttribute (SGP.02 v4 §5.5.21; ES5 §5.7.7): moves the fall-back attribute to a profile that
/// holds one (Enabled or Disabled).
pub fn set_fallback_attribute<'r>(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    requester: impl Into<Requester<'r>>,
    viewer: Viewer<'_>,
    eid: &str,
    iccid: &str,
) -> Result<Operation, SmsrError> {
    let requester = requester.into();
    let settings = es5(smsr, "SetFallBackAttribute")?;
    let p = locate(conn, viewer, eid, iccid)?;
    if matches!(
        p.info.state,
        ProfileState::Created | ProfileState::InCreation
    ) {
        return Err(refused(
            iccid,
            "given the fall-back attribute",
            "its ISD-P holds no profile yet (Created)",
        ));
    }
    if p.info.fallback {
        return Err(refused(
            iccid,
            "given the fall-back attribute",
            "it already carries it",
        ));
    }
    let aid = p.info.isd_p_aid.clone();
    start_for_profile(
        conn,
        smsr,
        requester,
        OperationKind::SetFallbackAttribute,
        &p,
        operation::script(&[Es5Command::SetFallbackAttribute { isd_p_aid: aid }])?,
        settings,
    )
}

/// ES4/ES3.AuditEIS (SGP.02 §5.5.4, §5.4.7): every ICCID named must be the caller's; the eUICC reports its
/// ISD-Ps (GET STATUS) and free memory (GET DATA `FF21`), and the result is the caller's view of the updated
/// EIS.
pub fn audit_eis<'r>(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    requester: impl Into<Requester<'r>>,
    viewer: Viewer<'_>,
    eid: &str,
    iccids: &[String],
) -> Result<Operation, SmsrError> {
    let requester = requester.into();
    let settings = es5(smsr, "AuditEIS")?;
    if !euicc_known(conn, viewer, eid)? {
        return Err(SmsrError::UnknownEid {
            eid: eid.to_string(),
        });
    }
    for iccid in iccids {
        locate(conn, viewer, eid, iccid)?;
    }
    let now = smsr.clock.now_millis();
    operation::start(
        conn,
        smsr,
        Start {
            kind: OperationKind::AuditEis,
            eid,
            function_call_id: requester.function_call_id,
            requester_oid: requester.oid,
            interface: requester.interface,
            iccid: None,
            isd_p_aid: None,
            deadline: deadline_until(smsr, settings, requester.valid_until),
            data: OpData {
                audit_iccids: iccids.to_vec(),
                ..OpData::default()
            },
            script: Some(operation::script(&[
                Es5Command::AuditEis {
                    continuation: false,
                },
                Es5Command::GetExtendedCardResources,
            ])?),
        },
        now,
    )
}

/// ES3.UpdateConnectivityParameters (SGP.02 §3.12, §5.4.13): the SM-DP's ES8 data for the profile's ISD-P
/// (SCP03-secured, opaque to the SM-SR) routed over ES5 as wire-profile §5 says; the result carries the ISD-P's
/// response script as `EuiccResponseData`.
pub fn update_connectivity_parameters<'r>(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    requester: impl Into<Requester<'r>>,
    viewer: Viewer<'_>,
    eid: &str,
    iccid: &str,
    parameters: &[u8],
) -> Result<Operation, SmsrError> {
    let requester = requester.into();
    let p = locate(conn, viewer, eid, iccid)?;
    if p.info.state == ProfileState::Created {
        return Err(refused(
            iccid,
            "given connectivity parameters",
            "its ISD-P holds no profile yet (Created)",
        ));
    }
    let script = routing::routed_script(&p.info.isd_p_aid, parameters)
        .and_then(|s| s.to_expanded().map_err(routing::RoutingError::from))
        .map_err(|e| SmsrError::Invalid {
            element: "ConnectivityParameters".to_string(),
            why: e.to_string(),
        })?;
    // The parameters are checked before the transport, so that bad input is named as such (1.6/2.1).
    let settings = es5(smsr, "UpdateConnectivityParameters")?;
    start_for_profile(
        conn,
        smsr,
        requester,
        OperationKind::UpdateConnectivityParameters,
        &p,
        script,
        settings,
    )
}

/// ES4/ES3.UpdatePolicyRules (SGP.02 §3.11, §5.5.2, §5.4.8): replaces the POL2 of the profile (no `pol2` on
/// ES3 clears it). Rules must have subject PROFILE.
pub fn update_policy_rules(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    viewer: Viewer<'_>,
    eid: &str,
    iccid: &str,
    pol2: Option<&Pol2>,
) -> Result<(), SmsrError> {
    let p = locate(conn, viewer, eid, iccid)?;
    eis::set_pol2(
        conn,
        iccid,
        p.version,
        &pol2_rules(pol2),
        smsr.clock.now_millis(),
    )?;
    Ok(())
}

/// The stored form of a `pol2` element (A1 `POL2Type`; none: no rules).
pub(crate) fn pol2_rules(pol2: Option<&Pol2>) -> Vec<Pol2Rule> {
    pol2.map(|p| {
        p.rules
            .iter()
            .map(|r| Pol2Rule {
                subject: r.subject.as_str().to_string(),
                action: r.action.as_str().to_string(),
                qualification: r.qualification.as_str().to_string(),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// ES4/ES3.UpdateSubscriptionAddress (SGP.02 §5.5.3, §5.4.9): replaces the IMSI and MSISDN of the profile.
pub fn update_subscription_address(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    viewer: Viewer<'_>,
    eid: &str,
    iccid: &str,
    address: &SubscriptionAddress,
) -> Result<(), SmsrError> {
    let p = locate(conn, viewer, eid, iccid)?;
    eis::update_profile(
        conn,
        iccid,
        p.version,
        &ProfileUpdate {
            imsi: Some(address.imsi.as_ref().map(|i| i.as_str().to_string())),
            msisdn: Some(address.msisdn.as_ref().map(|m| m.as_str().to_string())),
            ..ProfileUpdate::default()
        },
        smsr.clock.now_millis(),
    )?;
    Ok(())
}
