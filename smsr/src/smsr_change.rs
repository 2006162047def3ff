//! SM-SR change between two SM-SRs (SGP.02 §3.8; notes §4.6; wire-profile §5b): the ES4 and ES7 functions,
//! the ES7 requests one SM-SR sends the other and their answers. The states are in
//! [`crate::procedure::smsr_change`].
//!
//! 1. MNO → new SM-SR (SM-SR2): ES4.PrepareSMSRChange records the expectation ([`prepare_smsr_change`]).
//! 2. MNO → current SM-SR (SM-SR1): ES4.SMSRChange locks the eUICC and sends ES7.HandoverEUICC with the EIS
//!    (no key values) to SM-SR2 ([`smsr_change`]).
//! 3. SM-SR2 checks the expectation, the EUM signature and the ECASD chain, stores the EIS locked, and sends
//!    ES7.AuthenticateSMSR with CERT.SR.ECDSA ([`handover_euicc`]); SM-SR1 relays `3A01` to the ISD-R and
//!    answers the random challenge ([`authenticate_smsr`], [`on_relay_executed`]).
//! 4. SM-SR2 signs the key agreement and sends ES7.CreateAdditionalKeySet; SM-SR1 relays `3A02` and answers the
//!    receipt ([`create_additional_key_set`]). SM-SR2 verifies it — the commit point — and stores the new key
//!    set ([`on_answer`]).
//! 5. SM-SR2, under the new key set, sends UpdateSMSRAddressingParameters and FinaliseISDRHandover; on their
//!    PoR it takes the eUICC over, answers HandoverEUICC and notifies the MNOs and SM-DPs ([`on_finalised`],
//!    [`on_finished`]); SM-SR1 then deletes its EIS and answers ES4.SMSRChange.
//!
//! An ES7 request goes through the outbox with this SM-SR's ES7 address as `wsa:ReplyTo`; its answer comes as a
//! callback on the ES7 endpoint, or synchronously ([`Es7Sink`]), and is matched by its MessageID
//! ([`eis_store::smsr_change::take_answer`]). The operations' deadlines nest: each side gives the other a
//! validity period shorter than its own, so the callee ends first and its answer arrives before the caller
//! gives up.

use std::sync::Arc;

use certs::ecc::{Curve, PrivateKey};
use certs::gp_cert::GpCertificate;
use eis_store::eis::{self, EuiccLock, KeyComponent, Keyset, SdKey, SdRole};
use eis_store::operations::{self, Operation, OperationState};
use eis_store::outbox::OutboxMessage;
use eis_store::smsr_change::{self as store, Expectation};
use eis_store::{AnyConnection, Sealed, entities};
use es_interfaces::isdr::{self, Es5Command, KeyAgreementResponse, SmsrAddressingParameters};
use es_interfaces::isdr_key_set;
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::{BaseRequest, BaseResponse};
use es_interfaces::messages::eis::{Eis, KeysetItem};
use es_interfaces::messages::{es3, es4, es7};
use es_interfaces::scp80::Counter;
use es_interfaces::soap::{Envelope, WsaHeaders, action};
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, StatusCodeData, Subject};
use es_interfaces::types::{HexBinary, PositiveInteger};
use es_interfaces::wire_profile;
use es_interfaces::wsdl::Service;
use es_interfaces::xml::Element;
use es_runtime::caller::Caller;
use es_runtime::outbox::ResponseSink;
use es_runtime::soap_endpoint::CallContext;
use serde::{Deserialize, Serialize};

use crate::eis_map::{self, KEY_PURPOSE, Viewer, key_aad, view};
use crate::error::SmsrError;
use crate::operation::{self, OpData, OperationKind, Outcome, Start, internal};
use crate::outgoing::{self, NotificationMessage};
use crate::platform;
use crate::procedure::smsr_change::{
    Action, CHANGE_TRANSITIONS, FINALISE_TRANSITIONS, HANDOVER_TRANSITIONS, Phase, PhaseEvent,
    RELAY_TRANSITIONS, next_phase,
};
use crate::procedure::{self, Completion, Event, ignored, step};
use crate::service::Smsr;

/// Purpose label of the new key set sealed in a hand-over's data between CreateAdditionalKeySet and its
/// receipt (certs::secrets AAD binding).
const PENDING_KEYS_PURPOSE: &str = "smsr-change-keys";
/// The share of its own remaining validity an SM-SR gives the other as ValidityPeriod, so that the callee
/// ends first and its answer arrives before the caller gives up.
const CALLEE_SHARE: (i64, i64) = (9, 10);

/// What an SM-SR change operation keeps ([`OpData::smsr_change`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeData {
    /// The other SM-SR: the new one at SM-SR1, the current one at SM-SR2.
    pub peer: String,
    /// SM-SR2: the phase of the hand-over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// SM-SR2: the KVN of SM-SR1's SCP80 key set, deleted by FinaliseISDRHandover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_kvn: Option<u8>,
    /// SM-SR2: the new key set and the receipt expected, sealed, between CreateAdditionalKeySet and its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingKeySet>,
}

/// SM-SR2's new ISD-R key set before the receipt verified it (wire-profile §5b step 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingKeySet {
    /// Key version number.
    pub kvn: u8,
    /// Initial sequence counter.
    pub initial_counter: u64,
    /// KIc ‖ KID ‖ KIK ‖ expected receipt, sealed with the master key ring.
    pub sealed: String,
}

fn refused(subject: Subject, reason: Reason, message: String) -> SmsrError {
    SmsrError::SmsrChangeRefused {
        subject,
        reason,
        message,
    }
}

fn change_data(op: &Operation) -> Result<(OpData, ChangeData), SmsrError> {
    let data = OpData::parse(&op.data)?;
    let change = data
        .smsr_change
        .clone()
        .ok_or_else(|| internal(format!("operation {} has no SM-SR change data", op.id)))?;
    Ok((data, change))
}

/// The ES7 service URL of the registered SM-SR `oid` (its "ES7" endpoint): 8.7 / 3.9 when there is none.
fn peer_url(conn: &mut AnyConnection, oid: &str) -> Result<String, SmsrError> {
    entities::get_entity(conn, oid)?
        .filter(|e| e.role == entities::EntityRole::SmSr)
        .and_then(|e| e.endpoints.get("ES7").cloned())
        .ok_or_else(|| {
            refused(
                Subject::SM_SR,
                Reason::UNKNOWN,
                format!("{oid} is not an SM-SR registered here with an ES7 endpoint"),
            )
        })
}

/// The ValidityPeriod given to the other SM-SR for an operation ending at `deadline` (whole seconds, at least 1).
fn callee_base(deadline: i64, now: i64) -> Result<BaseRequest, SmsrError> {
    let ms = deadline.saturating_sub(now).max(0) * CALLEE_SHARE.0 / CALLEE_SHARE.1;
    let seconds = u64::try_from(ms / 1000).unwrap_or(0).max(1);
    Ok(BaseRequest {
        validity_period: Some(PositiveInteger::new(seconds).map_err(SmsrError::internal)?),
        ..BaseRequest::new(uuid::Uuid::new_v4().to_string())
    })
}

/// Sends ES7 request `xml` (element `element`) of `op` to the SM-SR at `url` and records it for its answer.
fn send(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    url: &str,
    element: &str,
    xml: &str,
    now: i64,
) -> Result<(), SmsrError> {
    let message_id = outgoing::queue_request(
        conn,
        smsr,
        outgoing::Request {
            url,
            service: Service::Es7SmSr,
            element,
            xml,
            correlation: format!("op:{}", op.id),
            give_up_at: op.deadline,
        },
        now,
    )?;
    let function = action::for_element(element)
        .map(|a| a.function)
        .unwrap_or(element);
    store::record_request(conn, &message_id, op.id, function, now)?;
    Ok(())
}

fn default_deadline(smsr: &Smsr, valid_until: Option<i64>) -> i64 {
    valid_until.unwrap_or_else(|| {
        let validity = smsr
            .es5
            .as_ref()
            .map(|s| s.default_validity)
            .unwrap_or_else(|| crate::service::Es5Settings::default().default_validity);
        smsr.clock
            .now_millis()
            .saturating_add(i64::try_from(validity.as_millis()).unwrap_or(i64::MAX))
    })
}

// ---------------------------------------------------------------------------------------------------------------
// The new SM-SR (SM-SR2)
// ---------------------------------------------------------------------------------------------------------------

/// ES4.PrepareSMSRChange at the new SM-SR (SGP.02 §3.8 step 1, §5.5): the eUICC must not be here yet and the
/// current SM-SR must be a registered SM-SR; the expectation holds until the request's validity ends (or the
/// default validity). A second call replaces the first.
pub fn prepare_smsr_change(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    req: &es4::PrepareSmsrChangeRequest,
) -> Result<es4::PrepareSmsrChangeResponse, SmsrError> {
    let eid = req.eid.to_string();
    if eis::euicc_exists(conn, &eid)? {
        return Err(refused(
            Subject::EID,
            Reason::ALREADY_IN_USE,
            format!("the eUICC {eid} is already managed by this SM-SR"),
        ));
    }
    let current = req.current_smsr_id.as_str();
    if current == smsr.identity.oid {
        return Err(refused(
            Subject::SM_SR,
            Reason::INVALID,
            format!("CurrentSMSRid {current} is this SM-SR"),
        ));
    }
    peer_url(conn, current)?;
    let now = smsr.clock.now_millis();
    store::expect(
        conn,
        &Expectation {
            eid,
            current_smsr_oid: current.to_string(),
            requester_oid: ctx.caller.oid.clone(),
            expires_at: default_deadline(smsr, ctx.valid_until),
            created_at: now,
        },
    )?;
    Ok(es4::PrepareSmsrChangeResponse {
        base: BaseResponse::with_status(FunctionExecutionStatus::success()),
    })
}

/// The highest SCP80 key set version of the ISD-R in an EIS received (wire-profile §2: `01`–`0F`).
fn scp80_kvn(eis: &Eis) -> Option<u8> {
    eis.isd_r
        .keysets
        .iter()
        .map(|k| {
            (
                k.version.get(),
                k.keyset_type.map(|t| t.as_str().to_string()),
            )
        })
        .filter(|(v, t)| {
            wire_profile::KVN_SCP80.contains(v) && t.as_deref().is_none_or(|t| t == "SCP80")
        })
        .map(|(v, _)| v)
        .max()
}

/// The EIS handed over without any key value (an SM-SR's keys never leave it; SGP.02 §3.8).
fn without_key_values(eis: &Eis) -> Eis {
    let mut e = eis.clone();
    for ks in e
        .isd_r
        .keysets
        .iter_mut()
        .chain(e.eum_signed_info.ecasd.keysets.iter_mut())
    {
        ks.items.retain(|i| matches!(i, KeysetItem::Certificate(_)));
        ks.cntr = None;
    }
    e
}

/// ES7.HandoverEUICC at the new SM-SR (SGP.02 §3.8 step 3, §5.7): refused without a matching
/// ES4.PrepareSMSRChange (8.1.1 / 1.2 [P]), for an eUICC already here, an EIS whose EUM signature or ECASD chain
/// does not verify, or when this SM-SR has no CERT.SR.ECDSA or no ES5. Stores the EIS (without SM-SR1's key
/// values) locked for the hand-over and sends ES7.AuthenticateSMSR; the answer comes when the hand-over ends.
pub fn handover_euicc(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    req: &es7::HandoverEuiccRequest,
) -> Result<(), SmsrError> {
    let caller = ctx.caller;
    let eid = req.eis.eum_signed_info.eid.to_string();
    let sr = smsr.sr_ecdsa.as_ref().ok_or_else(|| {
        refused(
            Subject::FUNCTION_PROVIDER,
            Reason::REFUSED,
            "this SM-SR has no CERT.SR.ECDSA configured and cannot take eUICCs over".into(),
        )
    })?;
    platform::es5(smsr, "ES7-HandoverEUICC")?;
    if eis::euicc_exists(conn, &eid)? {
        return Err(refused(
            Subject::EID,
            Reason::ALREADY_IN_USE,
            format!("the eUICC {eid} is already managed by this SM-SR"),
        ));
    }
    let now = smsr.clock.now_millis();
    store::expectation(conn, &eid, now)?
        .filter(|e| e.current_smsr_oid == caller.oid)
        .ok_or_else(|| {
            refused(
                Subject::EID,
                Reason::NOT_ALLOWED,
                format!(
                    "no ES4.PrepareSMSRChange announced the hand-over of {eid} from {}",
                    caller.oid
                ),
            )
        })?;
    if req.eis.smsr_id.as_str() != caller.oid {
        return Err(SmsrError::Invalid {
            element: "Eis/Smsr-id".into(),
            why: format!(
                "{} is not the SM-SR handing over ({})",
                req.eis.smsr_id, caller.oid
            ),
        });
    }
    let old_kvn = scp80_kvn(&req.eis).ok_or_else(|| SmsrError::Invalid {
        element: "Eis/Isd-r/Keyset".into(),
        why: "the ISD-R has no SCP80 key set (01-0F)".into(),
    })?;
    let (signed_info_xml, signature_xml) =
        crate::es1::verify_signed_eis(smsr, conn, caller, ctx.body, &req.eis, smsr.clock.now())?;
    let stripped = without_key_values(&req.eis);
    let mut new = eis_map::to_new_eis(&stripped, signed_info_xml, signature_xml, None)?;
    new.euicc.smsr_id = smsr.identity.oid.clone();
    eis::register_eis(conn, &new, now)?;
    let url = peer_url(conn, &caller.oid)?;
    let op = operation::start(
        conn,
        smsr,
        Start {
            kind: OperationKind::HandoverEuicc,
            eid: &eid,
            function_call_id: Some(ctx.call_id),
            requester_oid: &caller.oid,
            interface: "ES7",
            iccid: None,
            isd_p_aid: None,
            deadline: default_deadline(smsr, ctx.valid_until),
            data: OpData {
                smsr_change: Some(ChangeData {
                    peer: caller.oid.clone(),
                    phase: Some(Phase::Authenticating),
                    old_kvn: Some(old_kvn),
                    pending: None,
                }),
                ..OpData::default()
            },
            script: None,
        },
        now,
    )?;
    lock(
        conn,
        &eid,
        EuiccLock::SmsrChangeIncoming {
            operation: op.id.to_string(),
        },
        now,
    )?;
    let request = es7::AuthenticateSmsrRequest {
        base: callee_base(op.deadline, now)?,
        eis: stripped,
        smsr_certificate: HexBinary::from_bytes(&sr.certificate).map_err(SmsrError::internal)?,
    };
    send(
        conn,
        smsr,
        &op,
        &url,
        es7::AuthenticateSmsrRequest::ELEMENT,
        &request.to_xml(),
        now,
    )?;
    tracing::info!(op = op.id, %eid, from = %caller.oid, "SM-SR change: hand-over accepted, AuthenticateSMSR sent");
    Ok(())
}

fn lock(conn: &mut AnyConnection, eid: &str, l: EuiccLock, now: i64) -> Result<(), SmsrError> {
    let (_, version) = eis::lock_of(conn, eid)?.ok_or_else(|| SmsrError::UnknownEid {
        eid: eid.to_string(),
    })?;
    eis::set_lock(conn, eid, version, &l, now)?;
    Ok(())
}

/// PK.ECASD.ECKA of a stored eUICC (from CERT.ECASD.ECKA in its EIS).
fn ecasd_certificate(conn: &mut AnyConnection, eid: &str) -> Result<GpCertificate, SmsrError> {
    let record =
        eis::get_eis_without_key_values(conn, eid)?.ok_or_else(|| SmsrError::UnknownEid {
            eid: eid.to_string(),
        })?;
    let cert = record
        .ecasd
        .keysets
        .iter()
        .flat_map(|k| k.certificates.iter())
        .next()
        .ok_or_else(|| internal(format!("the EIS of {eid} has no CERT.ECASD.ECKA")))?;
    GpCertificate::decode(&cert.value).map_err(SmsrError::internal)
}

fn pending_aad(eid: &str, op: i64) -> Vec<u8> {
    format!("{eid}/{op}").into_bytes()
}

/// SM-SR2, phase Authenticating: SM-SR1 answered ES7.AuthenticateSMSR with the random challenge: sign the key
/// agreement, keep the new key set sealed, send ES7.CreateAdditionalKeySet (wire-profile §5b step 2).
fn on_random_challenge(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    random_challenge: &[u8],
    now: i64,
) -> Result<(), SmsrError> {
    let (mut data, mut change) = change_data(op)?;
    let Some(next) = change
        .phase
        .and_then(|p| next_phase(p, PhaseEvent::RandomChallenge))
    else {
        tracing::info!(
            op = op.id,
            "SM-SR change: random challenge not awaited, ignored"
        );
        return Ok(());
    };
    let sr = smsr
        .sr_ecdsa
        .as_ref()
        .ok_or_else(|| internal("no CERT.SR.ECDSA".into()))?;
    let ecasd = ecasd_certificate(conn, &op.eid)?;
    let pk = &ecasd.body().public_key;
    let old_kvn = change.old_kvn.unwrap_or(1);
    let kvn = wire_profile::smsr_change_new_kvn(old_kvn);
    let initial = Counter::from_u64(wire_profile::SMSR_CHANGE_INITIAL_COUNTER)
        .ok_or_else(|| internal("counter".into()))?;
    let ephemeral = PrivateKey::generate(pk.curve(), &mut rand::rng());
    let est = match isdr_key_set::establish(&sr.key, pk, random_challenge, kvn, initial, ephemeral)
    {
        Ok(e) => e,
        Err(e) => {
            let d = StatusCodeData::new(
                Subject::ISD_R,
                Reason::EXECUTION_ERROR,
                Some(format!(
                    "key establishment with the random challenge received: {e}"
                )),
            );
            operation::finish(conn, smsr, op, Outcome::failed(d), now)?;
            return Ok(());
        }
    };
    let mut clear = zeroize::Zeroizing::new(Vec::with_capacity(64));
    for k in [&est.key_set.kic, &est.key_set.kid, &est.key_set.kik] {
        clear.extend_from_slice(k.expose());
    }
    clear.extend_from_slice(est.expected_receipt());
    let sealed = smsr
        .keyring
        .seal(PENDING_KEYS_PURPOSE, &pending_aad(&op.eid, op.id), &clear)
        .map_err(SmsrError::internal)?;
    change.phase = Some(next);
    change.pending = Some(PendingKeySet {
        kvn,
        initial_counter: initial.value(),
        sealed,
    });
    data.smsr_change = Some(change.clone());
    operation::save_data(conn, op, &data, now)?;
    let eid = op.eid.parse().map_err(SmsrError::internal)?;
    let host_id = HexBinary::from_bytes(&wire_profile::smsr_change_host_id(&smsr.identity.oid))
        .map_err(SmsrError::internal)?;
    let request = est
        .to_es7_request(callee_base(op.deadline, now)?, eid, host_id)
        .map_err(SmsrError::internal)?;
    let url = peer_url(conn, &change.peer)?;
    send(
        conn,
        smsr,
        op,
        &url,
        es7::CreateAdditionalKeySetRequest::ELEMENT,
        &request.to_xml(),
        now,
    )?;
    tracing::info!(op = op.id, eid = %op.eid, kvn, "SM-SR change: CreateAdditionalKeySet sent");
    Ok(())
}

/// SM-SR2, phase EstablishingKeySet: SM-SR1 answered ES7.CreateAdditionalKeySet with the eUICC's receipt. A
/// receipt equal to the one computed here is the commit point: the new key set is stored, SM-SR1's key set
/// versions are forgotten, and UpdateSMSRAddressingParameters and FinaliseISDRHandover are queued under the
/// new key set (wire-profile §5b steps 3–5). Any other receipt fails the hand-over (8.4 / 6.1).
fn on_receipt(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    receipt: &[u8],
    now: i64,
) -> Result<(), SmsrError> {
    let (mut data, mut change) = change_data(op)?;
    let (Some(next), Some(pending)) = (
        change
            .phase
            .and_then(|p| next_phase(p, PhaseEvent::ReceiptVerified)),
        change.pending.take(),
    ) else {
        tracing::info!(op = op.id, "SM-SR change: receipt not awaited, ignored");
        return Ok(());
    };
    let clear = smsr
        .keyring
        .open(
            PENDING_KEYS_PURPOSE,
            &pending_aad(&op.eid, op.id),
            &pending.sealed,
        )
        .map_err(SmsrError::internal)?;
    let clear = clear.expose();
    if clear.len() != 64 {
        return Err(internal("sealed key set of the wrong length".into()));
    }
    if !es_interfaces::constant_time_eq(receipt, &clear[48..]) {
        let d = StatusCodeData::new(
            Subject::ISD_R,
            Reason::VERIFICATION_FAILED,
            Some("the receipt of the new ISD-R key set does not verify".into()),
        );
        operation::finish(conn, smsr, op, Outcome::failed(d), now)?;
        return Ok(());
    }
    let msisdn = own_msisdn(smsr)?;
    let mut keys = Vec::with_capacity(3);
    for (i, key) in clear[..48].chunks(16).enumerate() {
        let index = i as u8 + 1;
        let blob = smsr
            .keyring
            .seal(
                KEY_PURPOSE,
                &key_aad(&op.eid, SdRole::IsdR.as_str(), pending.kvn, index, 0),
                key,
            )
            .map_err(SmsrError::internal)?;
        keys.push(SdKey {
            index,
            kcv: certs::kdf::kcv_aes(key)
                .map_err(SmsrError::internal)?
                .to_vec(),
            components: vec![KeyComponent {
                key_type: wire_profile::KEY_TYPE_AES,
                value: Sealed {
                    key_id: smsr.keyring.current_key_id().to_string(),
                    ciphertext: blob.into_bytes(),
                },
            }],
        });
    }
    let record =
        eis::get_eis_without_key_values(conn, &op.eid)?.ok_or_else(|| SmsrError::UnknownEid {
            eid: op.eid.clone(),
        })?;
    for ks in &record.isd_r.keysets {
        eis::delete_keyset(conn, &op.eid, SdRole::IsdR, ks.version)?;
    }
    eis::put_keyset(
        conn,
        &op.eid,
        SdRole::IsdR,
        &Keyset {
            version: pending.kvn,
            usage: Some("SCP80".into()),
            cntr: pending.initial_counter,
            keys,
            certificates: Vec::new(),
        },
    )?;
    let commands = finalise_commands(msisdn, change.old_kvn)?;
    change.phase = Some(next);
    data.smsr_change = Some(change);
    operation::save_data(conn, op, &data, now)?;
    operation::enqueue_commands(conn, op, &commands, now)?;
    smsr.wake.delivery.notify_one();
    tracing::info!(op = op.id, eid = %op.eid, kvn = pending.kvn, "SM-SR change: receipt verified, new key set stored");
    Ok(())
}

/// This SM-SR's MSISDN, which the eUICC is given in UpdateSMSRAddressingParameters (`es5.smsr_msisdn`).
fn own_msisdn(smsr: &Smsr) -> Result<&str, SmsrError> {
    platform::es5(smsr, "ES7-HandoverEUICC")?
        .smsr_msisdn
        .as_deref()
        .ok_or_else(|| {
            internal(
                "es5.smsr_msisdn is not configured: the eUICC could not reach this SM-SR".into(),
            )
        })
}

/// UpdateSMSRAddressingParameters (this SM-SR's MSISDN) and FinaliseISDRHandover (SM-SR1's key set `old_kvn`)
/// under the new key set (wire-profile §5b steps 4–5).
fn finalise_commands(msisdn: &str, old_kvn: Option<u8>) -> Result<[Es5Command; 2], SmsrError> {
    Ok([
        Es5Command::UpdateSmsrAddressingParameters(
            SmsrAddressingParameters::international(msisdn).map_err(SmsrError::internal)?,
        ),
        isdr_key_set::finalise_command(old_kvn.unwrap_or(1)).map_err(SmsrError::internal)?,
    ])
}

/// SM-SR2, when the validity period of a hand-over ends (called for every overdue operation before it expires):
/// past the commit point the hand-over is done all the same and the finalisation goes to the eUICC again in an
/// operation of its own ([`HANDOVER_TRANSITIONS`], `CommittedAtDeadline`). Returns whether it took `op`.
pub fn on_deadline(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    now: i64,
) -> Result<bool, SmsrError> {
    if OperationKind::parse(&op.kind)? != OperationKind::HandoverEuicc {
        return Ok(false);
    }
    let (_, change) = change_data(op)?;
    if change.phase != Some(Phase::Finalising) {
        return Ok(false);
    }
    let Some(t) = step(HANDOVER_TRANSITIONS, op.state, Event::CommittedAtDeadline) else {
        return Ok(false);
    };
    // Finish and TakeOver are those of a hand-over the eUICC finalised in time (on_finished, Executed's row).
    if !operation::finish(conn, smsr, op, Outcome::success(), now)? {
        return Ok(true);
    }
    if t.actions.contains(&Action::FinaliseLater) {
        let commands = finalise_commands(own_msisdn(smsr)?, change.old_kvn)?;
        let again = operation::start(
            conn,
            smsr,
            Start {
                kind: OperationKind::FinaliseIsdrHandover,
                eid: &op.eid,
                function_call_id: None,
                requester_oid: &smsr.identity.oid,
                interface: "ES5",
                iccid: None,
                isd_p_aid: None,
                deadline: default_deadline(smsr, None),
                data: OpData::default(),
                script: Some(operation::script(&commands)?),
            },
            now,
        )?;
        tracing::warn!(op = op.id, again = again.id, eid = %op.eid,
            "SM-SR change: validity period ended after the commit point; eUICC taken over, finalisation sent again");
    }
    Ok(true)
}

/// SM-SR2: the eUICC executed the finalisation sent again after the deadline ([`FINALISE_TRANSITIONS`]).
pub fn on_finalised_later(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    now: i64,
) -> Result<(), SmsrError> {
    match step(FINALISE_TRANSITIONS, op.state, Event::Executed) {
        Some(_) => {
            operation::finish(conn, smsr, op, Outcome::success(), now)?;
            tracing::info!(op = op.id, eid = %op.eid, "SM-SR change: finalised after the deadline");
        }
        None => ignored(op, Event::Executed),
    }
    Ok(())
}

/// SM-SR2: the eUICC executed UpdateSMSRAddressingParameters and FinaliseISDRHandover under the new key set:
/// the hand-over is done ([`HANDOVER_TRANSITIONS`]).
pub fn on_finalised(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    now: i64,
) -> Result<(), SmsrError> {
    let (_, change) = change_data(op)?;
    if change.phase != Some(Phase::Finalising) {
        ignored(op, Event::Executed);
        return Ok(());
    }
    match step(HANDOVER_TRANSITIONS, op.state, Event::Executed) {
        Some(_) => {
            operation::finish(conn, smsr, op, Outcome::success(), now)?;
        }
        None => ignored(op, Event::Executed),
    }
    Ok(())
}

/// SM-SR2 takes the eUICC over: lock lifted, expectation fulfilled, the MNOs of its profiles told over ES4, the
/// SM-DPs that downloaded them over ES3 and SM-SR1 over ES7 (HandleSMSRChangeNotification, SGP.02 §3.8 step 6).
fn take_over(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    now: i64,
) -> Result<(), SmsrError> {
    lock(conn, &op.eid, EuiccLock::Free, now)?;
    store::fulfil(conn, &op.eid)?;
    let record =
        eis::get_eis_without_key_values(conn, &op.eid)?.ok_or_else(|| SmsrError::UnknownEid {
            eid: op.eid.clone(),
        })?;
    let ts = outgoing::xs_date_time(now)?;
    let correlation = format!("eid:{}", op.eid);
    let mut mnos: Vec<&str> = record
        .profiles
        .iter()
        .map(|p| p.info.mno_id.as_str())
        .collect();
    mnos.sort_unstable();
    mnos.dedup();
    for mno in mnos {
        let url = entities::get_entity(conn, mno)?.and_then(|e| e.endpoints.get("ES4").cloned());
        let Some(url) = url else {
            tracing::info!(%mno, eid = %op.eid, "the MNO has no ES4 endpoint registered: SM-SR change not notified");
            continue;
        };
        let body_xml = es4::HandleSmsrChangeNotification {
            eis: view(&record, Viewer::Mno(mno))?,
            completion_timestamp: ts,
        }
        .to_xml();
        let m = NotificationMessage {
            url: &url,
            service: Service::Es4SmSr,
            action: action::ES4_HANDLE_SMSR_CHANGE_NOTIFICATION.request,
            body_xml,
        };
        outgoing::queue_notification(conn, smsr, m, correlation.clone(), now)?;
    }
    let mut smdps: Vec<(&str, &str)> = record
        .profiles
        .iter()
        .filter_map(|p| Some((p.info.smdp_id.as_deref()?, p.info.mno_id.as_str())))
        .collect();
    smdps.sort_unstable();
    smdps.dedup();
    for (smdp, mno) in smdps {
        let url = entities::get_entity(conn, smdp)?.and_then(|e| e.endpoints.get("ES3").cloned());
        let Some(url) = url else {
            tracing::info!(%smdp, eid = %op.eid, "the SM-DP has no ES3 endpoint registered: SM-SR change not notified");
            continue;
        };
        let body_xml = es3::HandleSmsrChangeNotification {
            eis: view(&record, Viewer::SmDp(smdp))?,
            mno_id: mno.parse().map_err(SmsrError::internal)?,
            completion_timestamp: ts,
        }
        .to_xml();
        let m = NotificationMessage {
            url: &url,
            service: Service::Es3SmSr,
            action: action::ES3_HANDLE_SMSR_CHANGE_NOTIFICATION.request,
            body_xml,
        };
        outgoing::queue_notification(conn, smsr, m, correlation.clone(), now)?;
    }
    // And the SM-SR that handed it over (ES7, SGP.02 §5.7).
    let url = peer_url(conn, &op.requester_oid)?;
    let body_xml = es7::HandleSmsrChangeNotification {
        eis: view(&record, Viewer::Smsr(&op.requester_oid))?,
        completion_timestamp: ts,
    }
    .to_xml();
    let m = NotificationMessage {
        url: &url,
        service: Service::Es7SmSr,
        action: action::ES7_HANDLE_SMSR_CHANGE_NOTIFICATION.request,
        body_xml,
    };
    outgoing::queue_notification(conn, smsr, m, correlation, now)?;
    smsr.wake.outbox.notify_one();
    tracing::info!(op = op.id, eid = %op.eid, from = %op.requester_oid, "SM-SR change: eUICC taken over");
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// The current SM-SR (SM-SR1)
// ---------------------------------------------------------------------------------------------------------------

/// ES4.SMSRChange at the current SM-SR (SGP.02 §3.8 step 2, §5.5): only the MNO of the enabled profile may
/// change the eUICC's SM-SR; the target must be another registered SM-SR with an ES7 endpoint; the eUICC must
/// have no operation under way. Locks the eUICC and sends ES7.HandoverEUICC with the EIS (no key values); the
/// answer comes when the new SM-SR has taken the eUICC over, or failed to.
pub fn smsr_change(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    req: &es4::SmsrChangeRequest,
) -> Result<(), SmsrError> {
    let caller = &ctx.caller.oid;
    let eid = req.eid.to_string();
    platform::es5(smsr, "ES4-SMSRChange")?;
    let record = eis::get_eis_without_key_values(conn, &eid)?
        .filter(|r| Viewer::Mno(caller).knows_euicc(r.profiles.iter().map(|p| &p.info)))
        .ok_or_else(|| SmsrError::UnknownEid { eid: eid.clone() })?;
    let enabled_mno = record
        .profiles
        .iter()
        .find(|p| p.info.state == eis::ProfileState::Enabled)
        .map(|p| p.info.mno_id.as_str());
    if enabled_mno != Some(caller.as_str()) {
        return Err(SmsrError::EisNotAllowed {
            caller: caller.clone(),
            eid,
            why: "only the MNO of the enabled profile may change the eUICC's SM-SR".into(),
        });
    }
    let target = req.target_smsr_id.as_str();
    if target == smsr.identity.oid {
        return Err(refused(
            Subject::SM_SR,
            Reason::INVALID,
            format!("Target-Smsr-id {target} is this SM-SR"),
        ));
    }
    let url = peer_url(conn, target)?;
    if record.lock != EuiccLock::Free {
        return Err(SmsrError::EuiccLocked { eid });
    }
    let open = operations::open_of(conn, &eid)?;
    if let Some(o) = open.first() {
        return Err(refused(
            Subject::EID,
            Reason::REFUSED,
            format!(
                "the eUICC {eid} has operations under way ({} and {} more); try again when they end",
                o.kind,
                open.len() - 1
            ),
        ));
    }
    let now = smsr.clock.now_millis();
    let op = operation::start(
        conn,
        smsr,
        Start {
            kind: OperationKind::SmsrChange,
            eid: &eid,
            function_call_id: Some(ctx.call_id),
            requester_oid: caller,
            interface: "ES4",
            iccid: None,
            isd_p_aid: None,
            deadline: default_deadline(smsr, ctx.valid_until),
            data: OpData {
                smsr_change: Some(ChangeData {
                    peer: target.to_string(),
                    ..ChangeData::default()
                }),
                ..OpData::default()
            },
            script: None,
        },
        now,
    )?;
    eis::set_lock(
        conn,
        &eid,
        record.version,
        &EuiccLock::SmsrChangeOutgoing {
            operation: op.id.to_string(),
        },
        now,
    )?;
    let request = es7::HandoverEuiccRequest {
        base: callee_base(op.deadline, now)?,
        eis: view(&record, Viewer::Smsr(target))?,
    };
    send(
        conn,
        smsr,
        &op,
        &url,
        es7::HandoverEuiccRequest::ELEMENT,
        &request.to_xml(),
        now,
    )?;
    tracing::info!(op = op.id, %eid, to = %target, "SM-SR change: HandoverEUICC sent");
    Ok(())
}

/// The SM-SR change of `eid` under way here towards `caller` (the lock names it): the relays of SGP.02 §3.8
/// steps 4–5 run only for it (8.1.1 / 1.2 otherwise).
fn outgoing_change_to(
    conn: &mut AnyConnection,
    eid: &str,
    caller: &str,
) -> Result<Operation, SmsrError> {
    let not_allowed = || {
        refused(
            Subject::EID,
            Reason::NOT_ALLOWED,
            format!("no SM-SR change of the eUICC {eid} to {caller} is under way here"),
        )
    };
    let Some((EuiccLock::SmsrChangeOutgoing { operation }, _)) = eis::lock_of(conn, eid)? else {
        return Err(not_allowed());
    };
    let id: i64 = operation.parse().map_err(|_| not_allowed())?;
    let op = operations::get(conn, id)?
        .filter(|o| !o.state.is_final())
        .ok_or_else(not_allowed)?;
    let (_, change) = change_data(&op)?;
    if change.peer != caller {
        return Err(not_allowed());
    }
    Ok(op)
}

/// A relay of SM-SR1 for the new SM-SR: one ES5 command to the ISD-R, answered when the eUICC did.
fn start_relay(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    kind: OperationKind,
    eid: &str,
    command: Es5Command,
) -> Result<(), SmsrError> {
    let settings = platform::es5(smsr, kind.as_str())?;
    let change = outgoing_change_to(conn, eid, &ctx.caller.oid)?;
    // The relay ends before the change that carries it.
    let deadline = platform::deadline(smsr, settings, ctx).min(change.deadline);
    operation::start(
        conn,
        smsr,
        Start {
            kind,
            eid,
            function_call_id: Some(ctx.call_id),
            requester_oid: &ctx.caller.oid,
            interface: "ES7",
            iccid: None,
            isd_p_aid: None,
            deadline,
            data: OpData::default(),
            script: Some(operation::script(&[command])?),
        },
        smsr.clock.now_millis(),
    )?;
    Ok(())
}

/// ES7.AuthenticateSMSR at the current SM-SR (SGP.02 §3.8 step 4; wire-profile §5b step 1): CERT.SR.ECDSA must
/// chain to the CI (8.5.3 otherwise, before the eUICC is bothered); `3A01` goes to the ISD-R.
pub fn authenticate_smsr(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    req: &es7::AuthenticateSmsrRequest,
) -> Result<(), SmsrError> {
    let eid = req.eis.eum_signed_info.eid.to_string();
    outgoing_change_to(conn, &eid, &ctx.caller.oid)?;
    let cert = req.smsr_certificate.as_bytes();
    certs::chain::check_smsr(&smsr.trust.ci, cert, smsr.clock.now())?;
    start_relay(
        smsr,
        conn,
        ctx,
        OperationKind::AuthenticateSmsr,
        &eid,
        isdr_key_set::certificate_command(cert),
    )
}

/// ES7.CreateAdditionalKeySet at the current SM-SR (SGP.02 §3.8 step 5; wire-profile §5b step 2): `3A02` rebuilt
/// from the request on the curve of the eUICC's CERT.ECASD.ECKA goes to the ISD-R.
pub fn create_additional_key_set(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    req: &es7::CreateAdditionalKeySetRequest,
) -> Result<(), SmsrError> {
    let eid = req.eid.to_string();
    outgoing_change_to(conn, &eid, &ctx.caller.oid)?;
    let curve: Curve = ecasd_certificate(conn, &eid)?.body().public_key.curve();
    let command = isdr_key_set::agreement_from_es7(req, curve).map_err(|e| SmsrError::Invalid {
        element: es7::CreateAdditionalKeySetRequest::ELEMENT.into(),
        why: e.to_string(),
    })?;
    start_relay(
        smsr,
        conn,
        ctx,
        OperationKind::CreateAdditionalKeySet,
        &eid,
        command,
    )
}

/// SM-SR1: the eUICC answered the relayed `3A01` (`85 10 <RC>`) or `3A02` (`86 10 <receipt>`); the value goes
/// back in the ES7 response ([`RELAY_TRANSITIONS`]).
pub fn on_relay_executed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    kind: OperationKind,
    completions: &[Completion],
    now: i64,
) -> Result<(), SmsrError> {
    let data = completions.first().map(|(_, _, r)| r.data.as_slice());
    let value = match (kind, data) {
        (OperationKind::AuthenticateSmsr, Some(d)) => isdr::parse_random_challenge_response(d),
        (_, Some(d)) => KeyAgreementResponse::parse(d).map(|r| r.receipt.to_vec()),
        (_, None) => return Err(internal("a relay without its command".into())),
    };
    let outcome = match value {
        Ok(v) => Outcome {
            result: Some(v),
            ..Outcome::success()
        },
        Err(e) => Outcome::failed(StatusCodeData::new(
            Subject::ISD_R,
            Reason::EXECUTION_ERROR,
            Some(format!("the eUICC's answer to {}: {e}", op.kind)),
        )),
    };
    let event = if outcome.state == OperationState::Done {
        Event::Executed
    } else {
        Event::Failed
    };
    match step(RELAY_TRANSITIONS, op.state, event) {
        Some(_) => {
            operation::finish(conn, smsr, op, outcome, now)?;
        }
        None => ignored(op, event),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Answers of the other SM-SR, and the endings
// ---------------------------------------------------------------------------------------------------------------

/// The outcome of an operation whose peer answered with the failure `status` (EXPIRED stays EXPIRED).
fn peer_failure(status: FunctionExecutionStatus, function: &str) -> Outcome {
    let state = if status.status == Status::Expired {
        OperationState::Expired
    } else {
        OperationState::Failed
    };
    let mut status = status;
    if let Some(d) = status.status_code_data.as_mut() {
        let said = d.message.clone().unwrap_or_default();
        d.message = Some(format!("the other SM-SR answered {function}: {said}"));
    }
    Outcome {
        state,
        status,
        ..Outcome::success()
    }
}

fn status_of(r: &es7::Response) -> FunctionExecutionStatus {
    match r {
        es7::Response::HandoverEuicc(m) => m.base.function_execution_status.clone(),
        es7::Response::AuthenticateSmsr(m) => m.base.function_execution_status.clone(),
        es7::Response::CreateAdditionalKeySet(m) => m.base.function_execution_status.clone(),
    }
}

/// The answer `response` of `caller` to the ES7 request whose MessageID was `relates_to` (a callback, or a
/// synchronous answer): it moves the operation that sent it. A repeated answer, or one for an operation that
/// ended, changes nothing.
pub fn on_answer(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    caller: &str,
    relates_to: &str,
    response: &es7::Response,
) -> Result<(), SmsrError> {
    let Some(sent) = store::take_answer(conn, relates_to)? else {
        tracing::info!(%relates_to, "ES7 answer to no request awaiting one: ignored");
        return Ok(());
    };
    let Some(op) = operations::get(conn, sent.operation_id)? else {
        return Ok(());
    };
    if op.state.is_final() {
        return on_late_answer(conn, caller, &op, response);
    }
    let (_, change) = change_data(&op)?;
    if change.peer != caller {
        return Err(SmsrError::EisNotAllowed {
            caller: caller.to_string(),
            eid: op.eid.clone(),
            why: "the answer comes from another SM-SR than the one asked".into(),
        });
    }
    let now = smsr.clock.now_millis();
    let status = status_of(response);
    let ok = matches!(
        status.status,
        Status::ExecutedSuccess | Status::ExecutedWithWarning
    );
    let kind = OperationKind::parse(&op.kind)?;
    match (kind, response) {
        (OperationKind::SmsrChange, es7::Response::HandoverEuicc(_)) if ok => {
            match step(CHANGE_TRANSITIONS, op.state, Event::HandedOver) {
                Some(_) => {
                    operation::finish(conn, smsr, &op, Outcome::success(), now)?;
                }
                None => ignored(&op, Event::HandedOver),
            }
        }
        (OperationKind::HandoverEuicc, es7::Response::AuthenticateSmsr(r)) if ok => {
            on_random_challenge(conn, smsr, &op, r.random_challenge.as_bytes(), now)?
        }
        (OperationKind::HandoverEuicc, es7::Response::CreateAdditionalKeySet(r)) if ok => {
            on_receipt(conn, smsr, &op, r.receipt.as_bytes(), now)?
        }
        (OperationKind::SmsrChange | OperationKind::HandoverEuicc, _) if !ok => {
            operation::finish(conn, smsr, &op, peer_failure(status, &sent.function), now)?;
        }
        _ => {
            tracing::info!(op = op.id, function = %sent.function, "ES7 answer of the wrong kind: ignored")
        }
    }
    Ok(())
}

/// SM-SR1: the new SM-SR answered HandoverEUICC with success after the change had ended here (its validity period
/// ran out while the answer was on its way, e.g. with this SM-SR down). Past the commit point the new SM-SR manages
/// the eUICC (SGP.02 §3.8 step 5): unless a newer change holds it, this SM-SR's copy is deleted, so that one SM-SR
/// manages it [decision]. Any other late answer is ignored.
fn on_late_answer(
    conn: &mut AnyConnection,
    caller: &str,
    op: &Operation,
    response: &es7::Response,
) -> Result<(), SmsrError> {
    let handed_over = matches!(response, es7::Response::HandoverEuicc(_))
        && matches!(
            status_of(response).status,
            Status::ExecutedSuccess | Status::ExecutedWithWarning
        )
        && OperationKind::parse(&op.kind)? == OperationKind::SmsrChange
        && op.state != OperationState::Done
        && change_data(op)?.1.peer == caller;
    if !handed_over {
        tracing::info!(op = op.id, "ES7 answer after the operation ended: ignored");
        return Ok(());
    }
    match eis::lock_of(conn, &op.eid)? {
        Some((EuiccLock::Free, _)) => {
            eis::delete_eis(conn, &op.eid)?;
            tracing::warn!(op = op.id, eid = %op.eid, new_smsr = %caller,
                "SM-SR change: the new SM-SR took the eUICC over after the change had ended here; EIS deleted here");
        }
        lock => {
            tracing::warn!(op = op.id, eid = %op.eid, ?lock,
                "SM-SR change: late hand-over success while the eUICC is locked or gone here: EIS kept");
        }
    }
    Ok(())
}

/// A callback or notification of the other SM-SR on this SM-SR's ES7 endpoint (SGP.02 §5.7).
pub fn receive(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    caller: &Caller,
    wsa: &WsaHeaders,
    body: &Element,
) -> Result<(), SmsrError> {
    let message = es7::Message::decode(body).map_err(|e| SmsrError::Invalid {
        element: e.path.clone(),
        why: e.to_string(),
    })?;
    match message {
        es7::Message::Response(r) => {
            let relates_to = wsa
                .relates_to
                .as_deref()
                .ok_or_else(|| SmsrError::Invalid {
                    element: "wsa:RelatesTo".into(),
                    why: "a callback must name the request it answers".into(),
                })?;
            on_answer(conn, smsr, &caller.oid, relates_to, &r)
        }
        // The change it confirms was already answered by HandoverEUICC, which ended it here (SGP.02 §3.8 step 6).
        es7::Message::Notification(es7::Notification::SmsrChange(n)) => {
            tracing::info!(caller = %caller.oid, eid = %n.eis.eum_signed_info.eid, "ES7.HandleSMSRChangeNotification received");
            Ok(())
        }
        es7::Message::Request(r) => Err(SmsrError::Invalid {
            element: r.element_name().into(),
            why: "a request is not a callback".into(),
        }),
    }
}

/// The synchronous answers to this SM-SR's ES7 requests, handed over by the outbox dispatcher (a function the
/// other SM-SR refused at once answers with its FAILED response instead of a callback).
pub struct Es7Sink(pub Arc<Smsr>);

impl ResponseSink for Es7Sink {
    fn on_response(
        &self,
        conn: &mut AnyConnection,
        message: &OutboxMessage,
        status: u16,
        body: &str,
    ) -> Result<(), eis_store::StoreError> {
        if status != 200
            || !message
                .correlation_id
                .as_deref()
                .is_some_and(|c| c.starts_with("op:"))
        {
            return Ok(());
        }
        let Some(message_id) = message.message_id.as_deref() else {
            return Ok(());
        };
        let Ok(env) = Envelope::parse(body.as_bytes()) else {
            return Ok(());
        };
        let Ok(es7::Message::Response(r)) = es7::Message::decode(env.body()) else {
            return Ok(());
        };
        // The outbox only talks to the SM-SR the request was sent to: the answer is that peer's.
        // A savepoint: an answer that cannot be applied leaves nothing of it behind.
        let applied = eis_store::savepoint(conn, |c| match peer_of(c, message_id)? {
            Some(peer) => on_answer(c, &self.0, &peer, message_id, &r),
            None => Ok(()),
        });
        match applied {
            Ok(()) => Ok(()),
            Err(SmsrError::Store(e)) => Err(e),
            Err(e) => {
                tracing::warn!(%message_id, error = %e, "synchronous ES7 answer not applied");
                Ok(())
            }
        }
    }
}

/// The SM-SR that the ES7 request `message_id` was sent to.
fn peer_of(conn: &mut AnyConnection, message_id: &str) -> Result<Option<String>, SmsrError> {
    let Some(sent) = store::request(conn, message_id)? else {
        return Ok(None);
    };
    let Some(op) = operations::get(conn, sent.operation_id)? else {
        return Ok(None);
    };
    Ok(Some(change_data(&op)?.1.peer))
}

/// What an SM-SR change operation does when it ends ([`crate::operation::finish`] calls this for every
/// operation): the actions of its table row other than `Finish`.
pub fn on_finished(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    kind: OperationKind,
    ended: OperationState,
    now: i64,
) -> Result<(), SmsrError> {
    let (table, done) = match kind {
        OperationKind::SmsrChange => (CHANGE_TRANSITIONS, Event::HandedOver),
        OperationKind::HandoverEuicc => (HANDOVER_TRANSITIONS, Event::Executed),
        _ => return Ok(()),
    };
    let event = Event::of_ending(ended).unwrap_or(done);
    let Some(t) = procedure::step(table, op.state, event) else {
        return Ok(());
    };
    let holds_lock = |conn: &mut AnyConnection| -> Result<bool, SmsrError> {
        Ok(match eis::lock_of(conn, &op.eid)? {
            Some((EuiccLock::SmsrChangeOutgoing { operation }, _))
            | Some((EuiccLock::SmsrChangeIncoming { operation }, _)) => {
                operation == op.id.to_string()
            }
            _ => false,
        })
    };
    for action in t.actions {
        match action {
            Action::Finish => {}
            Action::ReleaseEis => {
                eis::delete_eis(conn, &op.eid)?;
                tracing::info!(op = op.id, eid = %op.eid, "SM-SR change: eUICC handed over, EIS deleted here");
            }
            Action::Unlock => {
                if holds_lock(conn)? {
                    lock(conn, &op.eid, EuiccLock::Free, now)?;
                }
            }
            Action::TakeOver => take_over(conn, smsr, op, now)?,
            // Started by on_deadline once the hand-over has ended.
            Action::FinaliseLater => {}
            Action::DropEis => {
                if holds_lock(conn)? {
                    eis::delete_eis(conn, &op.eid)?;
                    tracing::info!(op = op.id, eid = %op.eid, ?ended, "SM-SR change: hand-over not completed, EIS received deleted");
                }
            }
        }
    }
    Ok(())
}
