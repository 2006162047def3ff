//! ES7 cases against an SM-SR (SGP.02 §3.8, §5.7). ES7-HandoverEUICC-01/02 check that callers which are no
//! SM-SR are refused (eUICC 1, index 0). With the suite playing the peers' SM-SR 2 on ES7 ([`super::smsr_es7`],
//! `--play-smsr`) the other cases run the SM-SR change: callers that may not relay are refused (eUICC 1), then,
//! with the suite's SMSC in front of the cards, eUICC 2 (index 1, which no other SM-SR case uses) goes from the
//! SUT to the suite's SM-SR (the SUT as SM-SR1: ES7.AuthenticateSMSR and CreateAdditionalKeySet at the SUT) and
//! back (the SUT as SM-SR2: its HandoverEUICC, and the relays it asks of the suite), which leaves it as it was.

use std::time::Instant;

use certs::ecc::PrivateKey;
use es_interfaces::isdr::{Es5Command, SmsrAddressingParameters};
use es_interfaces::isdr_key_set;
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::BaseResponse;
use es_interfaces::messages::eis::{Eis, KeysetItem};
use es_interfaces::messages::{es4, es7};
use es_interfaces::scp80::Counter;
use es_interfaces::soap::{Envelope, action};
use es_interfaces::status::{FunctionExecutionStatus, Status};
use es_interfaces::types::{HexBinary, KeysetVersion};
use es_interfaces::wire_profile;
use es_interfaces::wsdl::Service;
use es_interfaces::xml::Element;

use super::ctx::{Peer, describe, expect, status_in};
use super::es4::{eid0, parse};
use super::smsr_es7::{SUITE_SMSR_MSISDN, SuiteEs7};
use super::{Case, CaseFuture, Ctx, Finding, Need};
use crate::eum::build_eis;
use crate::issuance;
use crate::mno::base;

/// The ES7 catalogue, in run order.
pub static CASES: &[Case] = &[
    Case {
        id: "ES7-HandoverEUICC-01",
        interface: "ES7",
        section: "§5.7, §5.1.6.4",
        title: "An MNO may not call ES7 (wrong role)",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &[
            "MNO 1: ES7.HandoverEUICC with the EIS of eUICC 1 and MNO 1's TLS client certificate",
        ],
        expected: "HTTP 200, FAILED 1.1/1.2 (function requester, not allowed); no SM-SR change starts",
        note: "ES7 is between SM-SRs only (§5.7); the SUT refuses the role before reading the EIS.",
        run: handover_by_mno,
    },
    Case {
        id: "ES7-HandoverEUICC-02",
        interface: "ES7",
        section: "§5.7, §5.1.6.4",
        title: "A caller no registered entity owns the certificate of may not call ES7",
        needs: &[Need::Smsr],
        preconditions: "The SUT trusts the peers' TLS CA for client certificates.",
        steps: &[
            "The suite issues a TLS client certificate from the peers' TLS CA for no entity",
            "ES7.HandoverEUICC with the EIS of eUICC 1 with it",
        ],
        expected: "HTTP 200, FAILED 1.1/1.1 (function requester, unknown)",
        note: "See ES4-GetEIS-06.",
        run: handover_by_stranger,
    },
    Case {
        id: "ES7-AuthenticateSMSR-01",
        interface: "ES7",
        section: "§5.7, §3.8",
        title: "AuthenticateSMSR for an eUICC not being handed over to the caller is refused",
        needs: &[Need::Smsr, Need::SuiteSmsr],
        preconditions: "eUICC 1 is registered, no SM-SR change of it is under way; the SUT registers the peers' \
                        SM-SR 2 (the suite) as an SM-SR.",
        steps: &[
            "SM-SR 2 (suite): ES7.AuthenticateSMSR with the EIS of eUICC 1 (no key values) and its CERT.SR.ECDSA",
        ],
        expected: "HTTP 200, FAILED 8.1.1/1.2 (EID, not allowed); nothing is sent to the eUICC",
        note: "SGP.02 §5.7 lists no status code for this; 8.1.1/1.2 is the project's SM-SR's answer to a relay for \
               an eUICC that no SM-SR change to the caller concerns.",
        run: authenticate_not_handed_over,
    },
    Case {
        id: "ES7-CreateAdditionalKeySet-01",
        interface: "ES7",
        section: "§5.7, §3.8",
        title: "CreateAdditionalKeySet before any AuthenticateSMSR is refused",
        needs: &[Need::Smsr, Need::SuiteSmsr],
        preconditions: "As ES7-AuthenticateSMSR-01.",
        steps: &[
            "SM-SR 2 (suite): ES7.CreateAdditionalKeySet for eUICC 1, a key agreement signed with SK.SR.ECDSA over a \
             random challenge of its own (wire-profile §5b step 2)",
        ],
        expected: "HTTP 200, FAILED 8.1.1/1.2 (EID, not allowed); nothing is sent to the eUICC",
        note: "As ES7-AuthenticateSMSR-01: SGP.02 §5.7 lists no status code for it.",
        run: key_set_not_authenticated,
    },
    Case {
        id: "ES7-HandoverEUICC-03",
        interface: "ES7",
        section: "§3.8, §5.7, §5.5",
        title: "The SUT as the current SM-SR hands an eUICC over to the suite's SM-SR",
        needs: &[Need::Smsr, Need::SuiteSmsr, Need::SuiteSmsc],
        preconditions: "eUICC 2 is registered with its issuance profiles and reachable through the suite's SMSC; \
                        the SUT registers the peers' SM-SR 2 as an SM-SR with the suite's ES7 endpoint.",
        steps: &[
            "MNO of eUICC 2's enabled profile: ES4.SMSRChange of eUICC 2, Target-Smsr-id = SM-SR 2",
            "SM-SR 2 (suite): takes the SUT's ES7.HandoverEUICC (HTTP 202), checks the EIS (EID, EUM signature, no \
             key values, an SCP80 key set version)",
            "SM-SR 2: ES7.AuthenticateSMSR with CERT.SR.ECDSA → random challenge; ES7.CreateAdditionalKeySet with the \
             signed key agreement (wire-profile §5b) → receipt, checked against the key set the suite computed",
            "SM-SR 2: UpdateSMSRAddressingParameters and FinaliseISDRHandover applied to the card, then the \
             HandoverEUICC response (SUCCESS) as a callback",
            "MNO: ES4.GetEIS of eUICC 2",
        ],
        expected: "SMSRChange accepted (HTTP 202) and answered SUCCESS by callback; AuthenticateSMSR and \
                   CreateAdditionalKeySet SUCCESS with a random challenge and the receipt of the suite's key set; \
                   then GetEIS FAILED 8.1.1/3.9 (the SUT no longer holds the eUICC)",
        note: "SGP.02 §3.8 has SM-SR2 finalise the ISD-R over ES5 under the new key set; the suite owns the \
               simulated card and applies those commands to it directly.",
        run: handover_to_the_suite,
    },
    Case {
        id: "ES7-HandoverEUICC-04",
        interface: "ES7",
        section: "§3.8, §5.7",
        title: "HandoverEUICC without a prior PrepareSMSRChange is refused",
        needs: &[Need::Smsr, Need::SuiteSmsr, Need::SuiteSmsc],
        preconditions: "ES7-HandoverEUICC-03 passed: eUICC 2 is with the suite's SM-SR, no PrepareSMSRChange for it \
                        at the SUT.",
        steps: &[
            "SM-SR 2 (suite): ES7.HandoverEUICC of eUICC 2 with its EUM-signed EIS and the suite's key set version",
        ],
        expected: "HTTP 200, FAILED 8.1.1/1.2 (EID, not allowed); the SUT does not call AuthenticateSMSR",
        note: "SGP.02 §3.8 step 1 makes PrepareSMSRChange the precondition but §5.7 gives no code; 8.1.1/1.2 is \
               the project's SM-SR's.",
        run: handover_without_prepare,
    },
    Case {
        id: "ES7-CreateAdditionalKeySet-02",
        interface: "ES7",
        section: "§3.8, §5.7; wire-profile §5b",
        title: "The SUT as the new SM-SR does not take an eUICC over on a receipt that does not verify",
        needs: &[Need::Smsr, Need::SuiteSmsr, Need::SuiteSmsc],
        preconditions: "ES7-HandoverEUICC-03 passed: eUICC 2 is with the suite's SM-SR.",
        steps: &[
            "MNO of eUICC 2's enabled profile: ES4.PrepareSMSRChange of eUICC 2, CurrentSMSRid = SM-SR 2",
            "SM-SR 2 (suite): ES7.HandoverEUICC as in ES7-HandoverEUICC-05; relays the SUT's AuthenticateSMSR and \
             CreateAdditionalKeySet, but answers the receipt with one bit flipped",
            "SM-SR 2: deletes the key set the card created for the SUT (FinaliseISDRHandover of its version)",
            "MNO: ES4.GetEIS of eUICC 2",
        ],
        expected: "HandoverEUICC FAILED 8.4/6.1 (ISD-R, verification failed); GetEIS FAILED 8.1.1/3.9 (the SUT did \
                   not take the eUICC over)",
        note: "SGP.02 §5.7 gives no status code for a receipt that does not verify; 8.4/6.1 is the project's \
               SM-SR's. The card keeps the key set the key agreement created: the suite deletes it again.",
        run: wrong_receipt,
    },
    Case {
        id: "ES7-HandoverEUICC-05",
        interface: "ES7",
        section: "§3.8, §5.7, §5.5",
        title: "The SUT as the new SM-SR takes an eUICC over from the suite's SM-SR",
        needs: &[Need::Smsr, Need::SuiteSmsr, Need::SuiteSmsc],
        preconditions: "ES7-HandoverEUICC-03 passed: eUICC 2 is with the suite's SM-SR under the suite's key set. \
                        This case gives it back to the SUT, as it was before ES7-HandoverEUICC-03.",
        steps: &[
            "MNO of eUICC 2's enabled profile: ES4.PrepareSMSRChange of eUICC 2, CurrentSMSRid = SM-SR 2",
            "SM-SR 2 (suite): ES7.HandoverEUICC with the EUM-signed EIS of the card's state (profiles as the SUT \
             handed them over, the suite's SCP80 key set version, no key values)",
            "SM-SR 2: relays the SUT's ES7.AuthenticateSMSR (3A01) and CreateAdditionalKeySet (3A02) to the card and \
             answers the random challenge and the receipt",
            "The SUT sends UpdateSMSRAddressingParameters and FinaliseISDRHandover to the card over SMS",
            "SM-SR 2: waits for the SUT's ES7.HandleSMSRChangeNotification of eUICC 2",
            "MNO: ES4.GetEIS of eUICC 2",
        ],
        expected: "PrepareSMSRChange SUCCESS; HandoverEUICC SUCCESS (by callback); the SUT asked for both relays; \
                   the card's ISD-R holds the SUT's new SCP80 key set and no longer the suite's; the SUT notifies \
                   the SM-SR that handed the eUICC over (ES7.HandleSMSRChangeNotification naming its EID) within \
                   30 s; GetEIS SUCCESS",
        note: "",
        run: handover_to_the_sut,
    },
];

fn handover_by_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(handover_as(ctx, Peer::Mno(0), "es7-mno", ("1.1", "1.2")))
}

fn handover_by_stranger(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(handover_as(
        ctx,
        Peer::Stranger,
        "es7-stranger",
        ("1.1", "1.1"),
    ))
}

/// ES7.HandoverEUICC of eUICC 1 sent by `peer`, which is no SM-SR: FAILED with `codes`.
async fn handover_as(
    ctx: &Ctx,
    peer: Peer,
    label: &str,
    codes: (&str, &str),
) -> Result<String, Finding> {
    eid0(ctx)?;
    let eis = build_eis(&ctx.world, 0, time::OffsetDateTime::now_utc())
        .map_err(|e| Finding::Inconclusive(format!("cannot build the EIS of eUICC 1: {e}")))?;
    let body = es7::HandoverEuiccRequest {
        base: base(&ctx.fci(label), None),
        eis,
    }
    .to_xml();
    let env = ctx.es7_envelope(peer, action::ES7_HANDOVER_EUICC.request, &body)?;
    let (http, answer) = ctx
        .post(
            peer,
            Service::Es7SmSr,
            action::ES7_HANDOVER_EUICC.request,
            "ES7-HandoverEUICCRequest",
            env,
        )
        .await?;
    expect(http, &answer, 200, Status::Failed, Some(codes))
}

/// The eUICC the SM-SR change cases move: eUICC 2 (index 1), which no other SM-SR case uses.
const MOVED: usize = 1;

/// How long the new SM-SR has to notify the previous one once it answered HandoverEUICC (SGP.02 §3.8 step 6).
const NOTIFICATION_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The case that moves eUICC 2 to the suite's SM-SR; the cases after it rely on it.
const TO_THE_SUITE: &str = "ES7-HandoverEUICC-03";

/// Memo keys: the HandoverEUICC envelope the SUT sent, and the version of the suite's key set on the card.
const MEMO_HANDOVER: &str = "es7-handover";
const MEMO_KVN: &str = "es7-kvn";

/// The EID of eUICC 2 and the MNO (index) of its enabled profile at issuance.
fn moved(ctx: &Ctx) -> Result<(String, usize), Finding> {
    let eid = ctx
        .world
        .euiccs
        .get(MOVED)
        .map(|e| e.eid.clone())
        .ok_or_else(|| Finding::Inconclusive("the peers have no eUICC 2".into()))?;
    let profiles = issuance::profiles_at_issuance(&ctx.world, MOVED)
        .map_err(|e| Finding::Inconclusive(format!("eUICC 2 at issuance: {e}")))?;
    let mno = profiles
        .iter()
        .find(|p| p.state == issuance::ProfileState::Enabled)
        .and_then(|p| {
            ctx.world
                .manifest
                .mnos
                .iter()
                .position(|m| m.entity.oid == p.mno_oid)
        })
        .ok_or_else(|| {
            Finding::Inconclusive("eUICC 2 has no enabled profile of an MNO of the peers".into())
        })?;
    Ok((eid, mno))
}

/// The EIS of the world's eUICC `index` with no key values (what one SM-SR gives another, SGP.02 §3.8).
fn eis_without_keys(ctx: &Ctx, index: usize) -> Result<Eis, Finding> {
    let mut eis = build_eis(&ctx.world, index, time::OffsetDateTime::now_utc()).map_err(|e| {
        Finding::Inconclusive(format!("cannot build the EIS of eUICC {}: {e}", index + 1))
    })?;
    for ks in eis.isd_r.keysets.iter_mut() {
        ks.items.retain(|i| matches!(i, KeysetItem::Certificate(_)));
        ks.cntr = None;
    }
    Ok(eis)
}

/// The suite's SM-SR 2: its ES7 endpoint, CERT.SR.ECDSA and SK.SR.ECDSA.
fn suite_smsr(ctx: &Ctx) -> Result<(&SuiteEs7, certs::world::SmsrIdentityRef<'_>), Finding> {
    let peer = ctx.es7_peer()?;
    let sr = ctx
        .world
        .smsr(2)
        .ok_or_else(|| Finding::Inconclusive("the peers have no SM-SR 2".into()))?;
    Ok((peer, sr))
}

fn hex(b: &[u8]) -> Result<HexBinary, Finding> {
    HexBinary::from_bytes(b).map_err(|e| Finding::Inconclusive(e.to_string()))
}

/// Sends ES7 request `req` from the suite's SM-SR to the SUT and returns the response envelope: the HTTP
/// answer, or the callback relating to it (SGP.02 Annex B).
async fn es7_result<T: BodyElement>(
    ctx: &Ctx,
    peer: &SuiteEs7,
    req: &T,
) -> Result<(u16, String), Finding> {
    let since = Instant::now();
    let (http, body, message_id) = peer
        .call(T::ELEMENT, &req.to_xml())
        .await
        .map_err(Finding::Inconclusive)?;
    match http {
        202 => peer
            .wait_for(since, ctx.callback_timeout, |m| {
                m.relates_to.as_deref() == Some(message_id.as_str())
            })
            .await
            .map(|m| (http, m.envelope))
            .ok_or_else(|| {
                Finding::Fail(format!(
                    "{} accepted, no callback within {} s",
                    T::ELEMENT,
                    ctx.callback_timeout.as_secs()
                ))
            }),
        _ => Ok((http, body)),
    }
}

/// The body of a SUCCESS answer `envelope` to `what`, decoded; a FAILED one is a FAIL.
fn success<T: BodyElement>(what: &str, envelope: &str) -> Result<T, Finding> {
    let status = status_in(envelope);
    if status.as_ref().map(|s| s.status) != Some(Status::ExecutedSuccess) {
        return Err(Finding::Fail(format!(
            "{what} answered {}",
            status
                .as_ref()
                .map(describe)
                .unwrap_or_else(|| "no FunctionExecutionStatus".into())
        )));
    }
    let env = Envelope::parse(envelope.as_bytes())
        .map_err(|e| Finding::Fail(format!("{what}: the answer is no SOAP envelope: {e}")))?;
    T::decode_body(env.body())
        .map_err(|e| Finding::Fail(format!("{what}: the answer does not decode: {e}")))
}

/// The highest SCP80 key set version (`01`–`0F`) of the ISD-R in `eis` (wire-profile §2).
fn scp80_kvn(eis: &Eis) -> Option<u8> {
    eis.isd_r
        .keysets
        .iter()
        .filter(|k| k.keyset_type.as_ref().is_none_or(|t| t.as_str() == "SCP80"))
        .map(|k| k.version.get())
        .filter(|v| wire_profile::KVN_SCP80.contains(v))
        .max()
}

/// The first element `local` in the GSMA namespace under `el`.
fn find<'a>(el: &'a Element, local: &str) -> Option<&'a Element> {
    if el.local_name() == local && el.namespace() == Some(es_interfaces::messages::codec::RPS_NS) {
        return Some(el);
    }
    el.child_elements().find_map(|c| find(c, local))
}

/// The checks of the EIS the SUT hands over (SGP.02 §3.8 step 2): the eUICC asked for, the EUM signature over
/// EumSignedInfo as received, no key value; its SCP80 key set version.
fn check_handed_eis(ctx: &Ctx, body: &Element, eis: &Eis, eid: &str) -> Result<u8, Finding> {
    if eis.eum_signed_info.eid.to_string() != eid {
        return Err(Finding::Fail(format!(
            "HandoverEUICC carries the EIS of {}, not of {eid}",
            eis.eum_signed_info.eid
        )));
    }
    let (Some(info), Some(signature)) = (find(body, "EumSignedInfo"), find(body, "EumSignature"))
    else {
        return Err(Finding::Fail(
            "the EIS handed over has no EumSignedInfo or EumSignature".into(),
        ));
    };
    certs::xmldsig::verify_eum_signature(
        &info.standalone_source(),
        &signature.standalone_source(),
        &ctx.world.eum.cert,
    )
    .map_err(|e| Finding::Fail(format!("the EUM signature of the EIS handed over: {e}")))?;
    let keys = eis
        .isd_r
        .keysets
        .iter()
        .chain(eis.eum_signed_info.ecasd.keysets.iter())
        .flat_map(|k| k.items.iter())
        .filter(|i| matches!(i, KeysetItem::Key(_)))
        .count();
    if keys > 0 {
        return Err(Finding::Fail(format!(
            "the EIS handed over carries {keys} key(s): an SM-SR's keys never leave it (§3.8)"
        )));
    }
    scp80_kvn(eis).ok_or_else(|| {
        Finding::Fail("the EIS handed over names no SCP80 key set (01-0F) of the ISD-R".into())
    })
}

fn authenticate_not_handed_over(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (peer, sr) = suite_smsr(ctx)?;
        eid0(ctx)?;
        let req = es7::AuthenticateSmsrRequest {
            base: base(&ctx.fci("es7-auth-none"), None),
            eis: eis_without_keys(ctx, 0)?,
            smsr_certificate: hex(&sr.gp.cert.encode())?,
        };
        let (http, answer, _) = peer
            .call(es7::AuthenticateSmsrRequest::ELEMENT, &req.to_xml())
            .await
            .map_err(Finding::Inconclusive)?;
        expect(http, &answer, 200, Status::Failed, Some(("8.1.1", "1.2")))
    })
}

fn key_set_not_authenticated(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (peer, sr) = suite_smsr(ctx)?;
        let eid = eid0(ctx)?;
        let pk = ctx.world.euiccs[0].ecasd.cert.body().public_key.clone();
        let challenge: [u8; 16] = rand::random();
        let est = isdr_key_set::establish(
            &sr.gp.key,
            &pk,
            &challenge,
            wire_profile::smsr_change_new_kvn(ctx.world.euiccs[0].scp80.kvn),
            initial_counter()?,
            PrivateKey::generate(pk.curve(), &mut rand::rng()),
        )
        .map_err(|e| Finding::Inconclusive(format!("key agreement: {e}")))?;
        let req = est
            .to_es7_request(
                base(&ctx.fci("es7-keyset-none"), None),
                parse("EID", &eid)?,
                hex(&wire_profile::smsr_change_host_id(peer.oid()))?,
            )
            .map_err(|e| Finding::Inconclusive(format!("key agreement: {e}")))?;
        let (http, answer, _) = peer
            .call(es7::CreateAdditionalKeySetRequest::ELEMENT, &req.to_xml())
            .await
            .map_err(Finding::Inconclusive)?;
        expect(http, &answer, 200, Status::Failed, Some(("8.1.1", "1.2")))
    })
}

fn initial_counter() -> Result<Counter, Finding> {
    Counter::from_u64(wire_profile::SMSR_CHANGE_INITIAL_COUNTER)
        .ok_or_else(|| Finding::Inconclusive("initial counter".into()))
}

fn handover_to_the_suite(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (peer, sr) = suite_smsr(ctx)?;
        let (eid, mno) = moved(ctx)?;
        let since = Instant::now();
        let change = es4::SmsrChangeRequest {
            base: base(&ctx.fci("es7-change"), None),
            eid: parse("EID", &eid)?,
            target_smsr_id: parse("OID", peer.oid())?,
        };
        let call = ctx.es4(mno, &change).await?;
        if call.http_status != 202 {
            return Err(Finding::Fail(format!(
                "ES4.SMSRChange: expected HTTP 202, got HTTP {} with {}",
                call.http_status,
                status_in(&call.envelope)
                    .as_ref()
                    .map(describe)
                    .unwrap_or_else(|| "no FunctionExecutionStatus".into())
            )));
        }
        // SGP.02 §3.8 step 2: the SUT hands the EIS over.
        let handover = peer
            .wait_for(since, ctx.callback_timeout, |m| {
                m.element == es7::HandoverEuiccRequest::ELEMENT
            })
            .await
            .ok_or_else(|| {
                Finding::Fail(format!(
                    "no ES7.HandoverEUICC within {} s",
                    ctx.callback_timeout.as_secs()
                ))
            })?;
        let env = handover.parsed().map_err(Finding::Fail)?;
        let req = es7::HandoverEuiccRequest::decode_body(env.body())
            .map_err(|e| Finding::Fail(format!("ES7.HandoverEUICC does not decode: {e}")))?;
        let old_kvn = check_handed_eis(ctx, env.body(), &req.eis, &eid)?;
        // Step 4: CERT.SR.ECDSA to the eUICC through the SUT, the random challenge back.
        let auth = es7::AuthenticateSmsrRequest {
            base: base(&ctx.fci("es7-auth"), None),
            eis: req.eis.clone(),
            smsr_certificate: hex(&sr.gp.cert.encode())?,
        };
        let (_, answer) = es7_result(ctx, peer, &auth).await?;
        let rc = success::<es7::AuthenticateSmsrResponse>("ES7.AuthenticateSMSR", &answer)?
            .random_challenge;
        // Step 5: the signed key agreement; the receipt must be that of the key set the suite computed.
        let kvn = wire_profile::smsr_change_new_kvn(old_kvn);
        let pk = ctx.world.euiccs[MOVED].ecasd.cert.body().public_key.clone();
        let est = isdr_key_set::establish(
            &sr.gp.key,
            &pk,
            rc.as_bytes(),
            kvn,
            initial_counter()?,
            PrivateKey::generate(pk.curve(), &mut rand::rng()),
        )
        .map_err(|e| Finding::Fail(format!("key agreement with the random challenge: {e}")))?;
        let create = est
            .to_es7_request(
                base(&ctx.fci("es7-keyset"), None),
                parse("EID", &eid)?,
                hex(&wire_profile::smsr_change_host_id(peer.oid()))?,
            )
            .map_err(|e| Finding::Inconclusive(format!("key agreement: {e}")))?;
        let (_, answer) = es7_result(ctx, peer, &create).await?;
        let receipt =
            success::<es7::CreateAdditionalKeySetResponse>("ES7.CreateAdditionalKeySet", &answer)?
                .receipt;
        est.check_receipt(receipt.as_bytes()).map_err(|_| {
            Finding::Fail(
                "the receipt relayed is not that of the key set the suite established (wire-profile §5b step 3)"
                    .into(),
            )
        })?;
        // The finalisation the suite's SM-SR owes the card, then the answer to HandoverEUICC.
        let finalise = isdr_key_set::finalise_command(old_kvn)
            .map_err(|e| Finding::Inconclusive(e.to_string()))?;
        let address = SmsrAddressingParameters::international(SUITE_SMSR_MSISDN)
            .map_err(|e| Finding::Inconclusive(e.to_string()))?;
        let done = peer
            .run_on_card(
                &eid,
                &[
                    Es5Command::UpdateSmsrAddressingParameters(address),
                    finalise,
                ],
            )
            .await
            .map_err(Finding::Inconclusive)?;
        if done.responses.len() != 2 || done.responses.iter().any(|r| !r.sw.is_success()) {
            return Err(Finding::Inconclusive(format!(
                "the card did not take the suite's finalisation: {:?}",
                done.responses.iter().map(|r| r.sw).collect::<Vec<_>>()
            )));
        }
        let response = es7::HandoverEuiccResponse {
            base: BaseResponse::with_status(FunctionExecutionStatus::success()),
        };
        let ack = peer
            .callback(
                &handover,
                es7::HandoverEuiccResponse::ELEMENT,
                &response.to_xml(),
            )
            .await
            .map_err(Finding::Inconclusive)?;
        if !(200..300).contains(&ack) {
            return Err(Finding::Fail(format!(
                "the HandoverEUICC callback was answered HTTP {ack}"
            )));
        }
        ctx.remember(MEMO_HANDOVER, handover.envelope.clone());
        ctx.remember(MEMO_KVN, kvn.to_string());
        // Steps 5–6 at SM-SR1: SMSRChange SUCCESS, the EIS gone.
        let cb = ctx.callback(&call).await?;
        let status = cb.status();
        if status.as_ref().map(|s| s.status) != Some(Status::ExecutedSuccess) {
            return Err(Finding::Fail(format!(
                "ES4.SMSRChange answered {}",
                status
                    .as_ref()
                    .map(describe)
                    .unwrap_or_else(|| "no FunctionExecutionStatus".into())
            )));
        }
        let gone = unknown_at_sut(ctx, &eid, mno, "after the hand-over").await?;
        Ok(format!(
            "SMSRChange accepted; HandoverEUICC with a signed EIS without keys (SCP80 KVN {old_kvn:02X}); random \
             challenge and receipt of key set {kvn:02X} relayed; SMSRChange SUCCESS; GetEIS after: {gone}"
        ))
    })
}

/// The EIS the suite's SM-SR hands back (SGP.02 §3.8 step 2): EumSignedInfo signed by the EUM now, the profiles
/// and memory as the SUT handed them over, the suite as SM-SR, the ISD-R with the suite's key set version.
fn eis_to_hand_back(ctx: &Ctx, suite_oid: &str) -> Result<Eis, Finding> {
    let (handed, kvn) = match (ctx.recall(MEMO_HANDOVER), ctx.recall(MEMO_KVN)) {
        (Some(h), Some(k)) => (h, k),
        _ => {
            return Err(Finding::Inconclusive(format!(
                "{TO_THE_SUITE} left no hand-over"
            )));
        }
    };
    let kvn: u8 = parse("KVN", &kvn)?;
    let env =
        Envelope::parse(handed.as_bytes()).map_err(|e| Finding::Inconclusive(e.to_string()))?;
    let before = es7::HandoverEuiccRequest::decode_body(env.body())
        .map_err(|e| Finding::Inconclusive(e.to_string()))?
        .eis;
    let old = scp80_kvn(&before);
    let mut eis = eis_without_keys(ctx, MOVED)?;
    eis.smsr_id = parse("OID", suite_oid)?;
    eis.profile_info = before.profile_info;
    eis.remaining_memory = before.remaining_memory;
    eis.isd_r = before.isd_r;
    for ks in eis
        .isd_r
        .keysets
        .iter_mut()
        .filter(|k| Some(k.version.get()) == old)
    {
        ks.version = KeysetVersion::new(kvn).map_err(|e| Finding::Inconclusive(e.to_string()))?;
    }
    Ok(eis)
}

fn handover_without_prepare(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        ctx.require_passed(TO_THE_SUITE)?;
        let (peer, _) = suite_smsr(ctx)?;
        let since = Instant::now();
        let req = es7::HandoverEuiccRequest {
            base: base(&ctx.fci("es7-handover-unprepared"), None),
            eis: eis_to_hand_back(ctx, peer.oid())?,
        };
        let (http, answer, _) = peer
            .call(es7::HandoverEuiccRequest::ELEMENT, &req.to_xml())
            .await
            .map_err(Finding::Inconclusive)?;
        let seen = expect(http, &answer, 200, Status::Failed, Some(("8.1.1", "1.2")))?;
        let asked = peer
            .wait_for(since, std::time::Duration::from_millis(500), |m| {
                m.element == es7::AuthenticateSmsrRequest::ELEMENT
            })
            .await;
        if asked.is_some() {
            return Err(Finding::Fail(
                "the SUT refused HandoverEUICC but called AuthenticateSMSR".into(),
            ));
        }
        Ok(seen)
    })
}

/// ES4.PrepareSMSRChange of `eid` by MNO `mno` at the SUT, naming the suite's SM-SR as the current one: SUCCESS
/// or a FAIL (SGP.02 §3.8 step 1).
async fn prepare_at_sut(
    ctx: &Ctx,
    peer: &SuiteEs7,
    eid: &str,
    mno: usize,
    label: &str,
) -> Result<(), Finding> {
    let prepare = es4::PrepareSmsrChangeRequest {
        base: base(&ctx.fci(label), None),
        eid: parse("EID", eid)?,
        current_smsr_id: parse("OID", peer.oid())?,
    };
    let out = ctx.es4(mno, &prepare).await?;
    expect(
        out.http_status,
        &out.envelope,
        200,
        Status::ExecutedSuccess,
        None,
    )
    .map(|_| ())
    .map_err(|f| match f {
        Finding::Fail(why) => Finding::Fail(format!("ES4.PrepareSMSRChange: {why}")),
        other => other,
    })
}

/// ES4.GetEIS of `eid` by MNO `mno`: FAILED 8.1.1/3.9 (unknown) or a FAIL saying `when`.
async fn unknown_at_sut(ctx: &Ctx, eid: &str, mno: usize, when: &str) -> Result<String, Finding> {
    let get = es4::GetEisRequest {
        base: base(
            &ctx.fci(&format!(
                "es7-get-{}",
                hex::encode(rand::random::<[u8; 4]>())
            )),
            None,
        ),
        eid: parse("EID", eid)?,
    };
    let out = ctx.es4(mno, &get).await?;
    expect(
        out.http_status,
        &out.envelope,
        200,
        Status::Failed,
        Some(("8.1.1", "3.9")),
    )
    .map_err(|f| match f {
        Finding::Fail(why) => Finding::Fail(format!("{when}, ES4.GetEIS of {eid}: {why}")),
        other => other,
    })
}

fn wrong_receipt(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        ctx.require_passed(TO_THE_SUITE)?;
        let (peer, _) = suite_smsr(ctx)?;
        let (eid, mno) = moved(ctx)?;
        prepare_at_sut(ctx, peer, &eid, mno, "es7-prepare-fault").await?;
        let req = es7::HandoverEuiccRequest {
            base: base(&ctx.fci("es7-handover-fault"), None),
            eis: eis_to_hand_back(ctx, peer.oid())?,
        };
        let since = Instant::now();
        peer.hand_back(&eid, true);
        peer.corrupt_next_receipt();
        let result = es7_result(ctx, peer, &req).await;
        peer.hand_back(&eid, false);
        // The key agreement created a key set on the card for the SUT: the suite's SM-SR deletes it again.
        let relayed = peer
            .wait_for(since, std::time::Duration::ZERO, |m| {
                m.element == es7::CreateAdditionalKeySetRequest::ELEMENT
            })
            .await
            .ok_or_else(|| Finding::Fail("the SUT did not call CreateAdditionalKeySet".into()))?;
        let env = relayed.parsed().map_err(Finding::Inconclusive)?;
        let stray = es7::CreateAdditionalKeySetRequest::decode_body(env.body())
            .map_err(|e| Finding::Inconclusive(e.to_string()))?
            .key_version_number
            .get();
        let delete = isdr_key_set::finalise_command(stray)
            .map_err(|e| Finding::Inconclusive(e.to_string()))?;
        let cleaned = peer
            .run_on_card(&eid, &[delete])
            .await
            .map_err(Finding::Inconclusive)?;
        if cleaned.responses.iter().any(|r| !r.sw.is_success()) {
            return Err(Finding::Inconclusive(format!(
                "the suite could not delete key set {stray:02X} from the card"
            )));
        }
        let (_, answer) = result?;
        let refused = expect(200, &answer, 200, Status::Failed, Some(("8.4", "6.1"))).map_err(
            |f| match f {
                Finding::Fail(why) => {
                    Finding::Fail(format!("HandoverEUICC with a wrong receipt: {why}"))
                }
                other => other,
            },
        )?;
        let gone = unknown_at_sut(ctx, &eid, mno, "after the refused hand-over").await?;
        Ok(format!(
            "HandoverEUICC {refused}; key set {stray:02X} deleted from the card again; GetEIS: {gone}"
        ))
    })
}

fn handover_to_the_sut(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        ctx.require_passed(TO_THE_SUITE)?;
        let (peer, _) = suite_smsr(ctx)?;
        let (eid, mno) = moved(ctx)?;
        prepare_at_sut(ctx, peer, &eid, mno, "es7-prepare").await?;
        let eis = eis_to_hand_back(ctx, peer.oid())?;
        let suite_kvn = scp80_kvn(&eis);
        let since = Instant::now();
        peer.hand_back(&eid, true);
        let req = es7::HandoverEuiccRequest {
            base: base(&ctx.fci("es7-handover"), None),
            eis,
        };
        let result = es7_result(ctx, peer, &req).await;
        peer.hand_back(&eid, false);
        let (_, answer) = result?;
        success::<es7::HandoverEuiccResponse>("ES7.HandoverEUICC", &answer)?;
        for element in [
            es7::AuthenticateSmsrRequest::ELEMENT,
            es7::CreateAdditionalKeySetRequest::ELEMENT,
        ] {
            let asked = peer
                .wait_for(since, std::time::Duration::ZERO, |m| m.element == element)
                .await;
            if asked.is_none() {
                return Err(Finding::Fail(format!(
                    "the SUT took the eUICC over without {element}"
                )));
            }
        }
        let notified = peer
            .wait_for(since, NOTIFICATION_WAIT, |m| {
                m.element == es7::HandleSmsrChangeNotification::ELEMENT && m.envelope.contains(&eid)
            })
            .await;
        if notified.is_none() {
            return Err(Finding::Fail(format!(
                "the SUT took eUICC {eid} over but sent no ES7.HandleSMSRChangeNotification naming it to the \
                 SM-SR that handed it over within {} s (SGP.02 §3.8 step 6)",
                NOTIFICATION_WAIT.as_secs()
            )));
        }
        let views =
            ctx.smsc()?.inspect().await.ok_or_else(|| {
                Finding::Inconclusive("the simulator did not show the cards".into())
            })?;
        let card = views
            .iter()
            .find(|v| v.eid.to_string() == eid)
            .ok_or_else(|| Finding::Inconclusive(format!("no card {eid}")))?;
        let expected_kvn = suite_kvn.map(wire_profile::smsr_change_new_kvn);
        if suite_kvn.is_some_and(|k| card.isd_r_kvns.contains(&k))
            || expected_kvn.is_none_or(|k| !card.isd_r_kvns.contains(&k))
        {
            return Err(Finding::Fail(format!(
                "after the hand-over the ISD-R holds SCP80 key sets {:02X?}: expected the SUT's new one ({:02X?}) \
                 and not the suite's ({:02X?})",
                card.isd_r_kvns, expected_kvn, suite_kvn
            )));
        }
        let get = es4::GetEisRequest {
            base: base(&ctx.fci("es7-get-back"), None),
            eid: parse("EID", &eid)?,
        };
        let out = ctx.es4(mno, &get).await?;
        let back = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )
        .map_err(|f| match f {
            Finding::Fail(why) => Finding::Fail(format!("ES4.GetEIS after the hand-over: {why}")),
            other => other,
        })?;
        Ok(format!(
            "PrepareSMSRChange SUCCESS; HandoverEUICC SUCCESS after the SUT's AuthenticateSMSR and \
             CreateAdditionalKeySet; the ISD-R holds key sets {:02X?}; HandleSMSRChangeNotification received; \
             GetEIS: {back}",
            card.isd_r_kvns
        ))
    })
}
