//! ES5 byte checks against wire-profile §2 and §4 (SGP.02 §5.6, §5.7), the suite playing the SUT's SMSC and the
//! peers' eUICCs ([`super::smsc`]). Each case drives an ES4 function as MNO 1 on the peers' eUICC 1, then reads
//! what crossed the SMSC with the decoders of es_interfaces (UDH, SCP80 command and response packets, scripts,
//! notifications) and the eUICC's keys from the peers.

use std::collections::HashMap;
use std::time::Instant;

use es_interfaces::messages::es4;
use es_interfaces::scp80::{self, CounterMode, KeySet, OpenedCommand, PorStatus, SecretKey};
use es_interfaces::sms::{self, PacketKind, Segment};
use es_interfaces::status::Status;
use es_interfaces::tlv::{self, Tag};
use es_interfaces::types::ProfileState;
use es_interfaces::{notification::Notification, wire_profile};

use super::ctx::{describe, expect, status_in};
use super::es4::{eid0, parse, view};
use super::{Case, CaseFuture, Ctx, Finding, Need};
use crate::lab::LoggedSms;
use crate::mno::{CallOutcome, Received, base};

/// The C-APDU of ES5.AuditEIS, wire-profile §4: GET STATUS of all ISD-Ps with the tag list `4F 9F70 53`.
pub(super) const AUDIT_GET_STATUS: [u8; 14] = [
    0x80, 0xF2, 0x40, 0x02, 0x08, 0x4F, 0x00, 0x5C, 0x04, 0x4F, 0x9F, 0x70, 0x53, 0x00,
];
/// The C-APDU of GET DATA `FF21` (extended card resources), wire-profile §4.
const GET_DATA_FF21: [u8; 5] = [0x80, 0xCA, 0xFF, 0x21, 0x00];

/// The ES5 catalogue, in run order.
pub static CASES: &[Case] = &[
    Case {
        id: "ES5-SMPP-01",
        interface: "ES5",
        section: "§5.6, §2.4.4; wire-profile §2",
        title: "submit_sm carries a binary (U)SIM data download SMS to the enabled profile's MSISDN",
        needs: &[Need::Smsr, Need::SuiteSmsc],
        preconditions: "The SUT's SM-SR has bound its SMPP account to the suite's SMSC; eUICC 1 is registered.",
        steps: &[
            "MNO 1: ES4.AuditEIS of eUICC 1; wait for the callback",
            "Read every submit_sm the SMSC received during the case",
        ],
        expected: "esm_class 0x40 (UDHI), protocol_id 0x7F, data_coding 0xF6, registered_delivery 0x01, user data \
                   of at most 140 bytes, each destination the MSISDN of the profile enabled on that eUICC",
        note: "The source address is not checked: wire-profile §2 says nothing of it (the project sends its MSISDN).",
        run: smpp_fields,
    },
    Case {
        id: "ES5-SCP80-01",
        interface: "ES5",
        section: "§5.6, §2.4.4; wire-profile §2",
        title: "Command packets travel with the UDH of wire-profile §2 (IEI 70, concatenation)",
        needs: &[Need::Smsr, Need::SuiteSmsc],
        preconditions: "As ES5-SMPP-01.",
        steps: &[
            "MNO 1: ES4.AuditEIS of eUICC 1; wait for the callback",
            "Read the TP-UD of every MT SMS of the case",
        ],
        expected: "One SMS: UDH 02 70 00. Longer: first segment 07 70 00 00 03 <ref> <n> 01, next ones \
                   05 00 03 <ref> <n> <i>, 140 bytes of TP-UD in every segment but the last",
        note: "",
        run: udh,
    },
    Case {
        id: "ES5-SCP80-02",
        interface: "ES5",
        section: "§5.6, §2.4.4; wire-profile §1, §2",
        title: "Command header: CPL, CHL, SPI 16 39, KIc/KID of the ISD-R key set, ISD-R TAR",
        needs: &[Need::Smsr, Need::SuiteSmsc],
        preconditions: "As ES5-SMPP-01.",
        steps: &[
            "MNO 1: ES4.AuditEIS of eUICC 1; wait for the callback",
            "Reassemble each command packet and read its clear header",
        ],
        expected: "CPL = length from CHL to the end, CHL = 0x15, SPI = 16 39, KIc = KID = (KVN << 4) | 2 with the \
                   KVN of the eUICC's ISD-R key set, TAR = bytes 13–15 of the ISD-R AID (00 00 01)",
        note: "",
        run: header,
    },
    Case {
        id: "ES5-SCP80-03",
        interface: "ES5",
        section: "§5.6, §5.7.5; wire-profile §2, §4",
        title: "The CC verifies, the packet deciphers, the padding is minimal and the script is wire-profile's",
        needs: &[Need::Smsr, Need::SuiteSmsc],
        preconditions: "As ES5-SMPP-01.",
        steps: &[
            "MNO 1: ES4.AuditEIS of eUICC 1; wait for the callback",
            "Open each command packet with eUICC 1's KIc and KID (AES-CBC zero IV, AES-CMAC over CPL…data+padding)",
        ],
        expected: "The CC verifies; PCNTR = the 00 bytes that pad CNTR…data to 16; the secured data is an expanded \
                   script AA L { 22 L … } whose first C-APDU is 80 F2 40 02 08 4F 00 5C 04 4F 9F 70 53 00 (and any \
                   other one GET DATA 80 CA FF 21 00)",
        note: "",
        run: secured_data,
    },
    Case {
        id: "ES5-SCP80-04",
        interface: "ES5",
        section: "§5.6, §2.4.4; wire-profile §2",
        title: "The counter rises with every command packet of a key set and the SPI asks for a higher counter",
        needs: &[Need::Smsr, Need::SuiteSmsc],
        preconditions: "As ES5-SMPP-01. Later in the run than the other ES5 cases: it reads every command packet \
                        of the run.",
        steps: &[
            "MNO 1: ES4.AuditEIS of eUICC 1 twice; wait for the callbacks",
            "Open every command packet of the run and list its counter per eUICC and key set",
        ],
        expected: "SPI counter mode 10 (higher) in every packet; per eUICC and key set the counters strictly \
                   increase in sending order (a retransmission too gets a new counter)",
        note: "Packets under a key set the peers' world does not hold — the one the SUT established with eUICC 2 \
               in ES7-HandoverEUICC-05 — cannot be opened and are left out.",
        run: counters,
    },
    Case {
        id: "ES5-PoR-01",
        interface: "ES5",
        section: "§5.6, §5.7.5; wire-profile §2",
        title: "A correct PoR is taken: the command is not sent again and the function completes",
        needs: &[Need::Smsr, Need::SuiteSmsc],
        preconditions: "As ES5-SMPP-01.",
        steps: &[
            "MNO 1: ES4.AuditEIS of eUICC 1",
            "The eUICC answers with its PoR (02 71 00, status 00, CC, ciphered, response script)",
            "Wait for the callback",
        ],
        expected: "No command answered by a PoR with status 00 is sent again; callback ES4-AuditEISResponse \
                   EXECUTED_SUCCESS",
        note: "",
        run: por_ok,
    },
    Case {
        id: "ES5-PoR-02",
        interface: "ES5",
        section: "§5.6, §5.1.6.4; wire-profile §2",
        title: "A PoR whose CC does not verify is refused",
        needs: &[Need::Smsr, Need::SuiteSmsc],
        preconditions: "As ES5-SMPP-01. The callback time-out exceeds the SUT's PoR time-out (the command is to be \
                        sent again).",
        steps: &[
            "The suite's network inverts the last byte of the next PoR's first segment (its CC no longer verifies)",
            "MNO 1: ES4.AuditEIS of eUICC 1",
            "Wait for the callback",
        ],
        expected: "The SUT does not complete the function on the altered PoR: either it sends the command again \
                   (with a new counter) and completes on the next, correct PoR, or the callback is FAILED; a \
                   callback EXECUTED_SUCCESS with no command sent after the altered PoR is a FAIL",
        note: "wire-profile §2 does not say what a receiver does with a PoR whose CC fails; the project drops it and \
               sends the command again after its PoR time-out.",
        run: por_bad_cc,
    },
    Case {
        id: "ES5-Notification-01",
        interface: "ES5",
        section: "§5.7.11, §3.2, §3.3; wire-profile §4",
        title: "eUICC notifications are confirmed with HandleNotificationConfirmation of their sequence number",
        needs: &[Need::Smsr, Need::SuiteSmsc],
        preconditions: "eUICC 1 carries a disabled profile of MNO 1 and its enabled profile is the fall-back \
                        profile (the state ES4-DisableProfile-01 leaves).",
        steps: &[
            "MNO 1: ES4.EnableProfile of the disabled profile; the eUICC switches and sends notification 02",
            "Wait for the callback and HandleProfileEnabledNotification",
            "MNO 1: ES4.DisableProfile of it (back to the fall-back profile); wait for its callback and \
             HandleProfileDisabledNotification",
        ],
        expected: "For every notification (MO SMS, SPI 16 00, E1 {…, 4E 02 <seq>}) a command packet to the ISD-R \
                   TAR whose script holds 80 E2 89 00 07 3A 08 04 4E 02 <seq>; the MNO's notification arrives \
                   after that command was sent",
        note: "wire-profile §4 says the SM-SR updates the EIS and notifies the owners only after confirming; this \
               case checks the MNO's notification comes after the confirmation was sent, not after its PoR.",
        run: notification_confirmed,
    },
    Case {
        id: "ES5-HTTPS-01",
        interface: "ES5",
        section: "§2.4.4, §5.6; wire-profile §3, §2",
        title: "The push SMS that opens an admin session: SCP80 to the ISD-R TAR, bare 81 triggering TLV, concatenated",
        needs: &[Need::Smsr, Need::SuiteSmsc, Need::Https],
        preconditions: "As ES5-SMPP-01; the SUT reaches the eUICC of --https-euicc over HTTPS (admin server on, push \
                        SMS on).",
        steps: &[
            "MNO 1: ES4.AuditEIS of the HTTPS eUICC; wait for the callback",
            "Open every command packet to that eUICC with its keys; read the ones whose secured data starts with 81",
            "The simulated eUICC answers each with a PoR and connects to the address it names",
        ],
        expected: "At least one push SMS; each an SCP80 command (SPI 16 39) to the ISD-R TAR in concatenated SMS \
                   (cut as wire-profile §2 cuts: 07 70 00 00 03 …, then 05 00 03 …, 140-byte TP-UDs) whose secured data is exactly 81 L { 83 L { 84 { 35 …, 39 02 …, 3C 03 02 <port>, 3E 05 21 <IPv4> }, \
                   85 { L, the eUICC's PSK identity in upper-case hex, 02 <its SCP81 KVN> <key id> }, 86 { counter, \
                   25 03 hh mm ss }, 89 { 8A host, 8B the X-Admin-From value, 8C an absolute path } } } (minimal \
                   lengths, nothing else); PoR 00 without data; an admin session with a script follows",
        note: "wire-profile §3 says the trigger needs two concatenated SMS, but with the 90-character PSK identity \
               and the ~90-character agent id its secured packet is about 280 bytes, more than two segments carry \
               (132 + 134 bytes): the case checks the concatenation, not the count of two, and reports the count. \
               wire-profile §3 gives no bearer (35) or buffer size (39) value and no retry policy: they are reported, \
               not checked. The PoR is the simulated eUICC's: checked as a precondition (INCONCLUSIVE if absent).",
        run: super::es5_https::push_sms,
    },
    Case {
        id: "ES5-HTTPS-02",
        interface: "ES5",
        section: "§2.4.4, §5.6, §5.5.4; wire-profile §3, §4",
        title: "An ES4 function over HTTPS: the admin server's answers, 204 ends, the result and the EIS after it",
        needs: &[Need::Smsr, Need::SuiteSmsc, Need::Https],
        preconditions: "As ES5-HTTPS-01.",
        steps: &[
            "MNO 1: ES4.AuditEIS of the HTTPS eUICC; the eUICC opens its session after the push SMS, posts, runs \
             each script and posts its response; wait for the callback",
            "Read every HTTP message of the eUICC's sessions during the case",
            "MNO 1: ES4.GetEIS of the eUICC",
        ],
        expected: "Every answer carries X-Admin-Protocol: globalplatform-remote-admin/1.0; each 200 has Content-Type \
                   application/vnd.globalplatform.card-content-mgt;version=1.0, a relative X-Admin-Next-URI with a \
                   query, no X-Admin-Targeted-Application (the script is for the ISD-R) and the body \
                   AE 80 { 22 L <C-APDU> … } 00 00 (one script starting with the GET STATUS of wire-profile §4); \
                   each session ends with 204 without Next-URI or body; no command goes by SMS; callback \
                   EXECUTED_SUCCESS; GetEIS after it shows the profiles in the states the audit reported",
        note: "X-Admin-Targeted-Application is checked absent only: AuditEIS has no ISD-P target (wire-profile §3 \
               asks for it with ISD-P targets; ES3 SendData over HTTPS would show it). wire-profile §3 leaves the \
               Next-URI's query to the server ([P] session and seq): only its relative form with a query is checked.",
        run: super::es5_https::dialogue,
    },
    Case {
        id: "ES5-HTTPS-03",
        interface: "ES5",
        section: "§2.4.4; wire-profile §3",
        title: "PSK-TLS: TLS 1.2 only, the two PSK suites of wire-profile §3 only",
        needs: &[Need::Smsr, Need::SuiteSmsc, Need::Https],
        preconditions: "A push SMS to the HTTPS eUICC earlier in the run names the admin server (ES5-HTTPS-01).",
        steps: &[
            "Read the TLS version and suite of every admin session of the HTTPS eUICC in the run",
            "The suite's own client (OpenSSL) connects with the eUICC's PSK identity and PSK offering only TLS 1.2 \
             and PSK-AES128-GCM-SHA256, then only PSK-AES128-CBC-SHA256",
            "It connects offering TLS 1.2 with other PSK suites only (AES256-GCM, AES256-CBC, CHACHA20, AES128-CBC-SHA)",
            "It connects offering TLS 1.3 only",
        ],
        expected: "Every eUICC session on TLSv1.2 with one of the two suites; each of the two suites offered alone \
                   is accepted and chosen; the other PSK suites and TLS 1.3 are refused in the handshake",
        note: "Resumption (wire-profile §3: none) is not checked. The simulated eUICC offers the two suites only, so \
               its sessions show what the server accepts, not what it prefers.",
        run: super::es5_https::tls,
    },
    Case {
        id: "ES5-HTTPS-04",
        interface: "ES5",
        section: "§2.4.4; wire-profile §3",
        title: "A wrong PSK and an unknown PSK identity are refused in the handshake",
        needs: &[Need::Smsr, Need::SuiteSmsc, Need::Https],
        preconditions: "As ES5-HTTPS-03.",
        steps: &[
            "The suite's client connects with the HTTPS eUICC's identity and its PSK with one bit changed, then with \
             the identity of an EID no eUICC has (the eUICC's PSK); each would POST the opening request",
            "It connects with the eUICC's identity and PSK",
        ],
        expected: "Both handshakes fail (no HTTP exchange, nothing run); the eUICC's own key connects",
        note: "wire-profile §3 does not say which alert the server sends (the project: bad_record_mac for a wrong \
               key, unknown_psk_identity for an unknown identity); any refusal in the handshake passes.",
        run: super::es5_https::wrong_psk,
    },
    Case {
        id: "ES5-HTTPS-05",
        interface: "ES5",
        section: "§2.4.4; wire-profile §3",
        title: "A response posted to a Next-URI of an earlier session, without X-Admin-Resume, is refused",
        needs: &[Need::Smsr, Need::SuiteSmsc, Need::Https],
        preconditions: "An admin session of the HTTPS eUICC ended earlier in the run (ES5-HTTPS-02).",
        steps: &[
            "The suite's client connects as the HTTPS eUICC and POSTs a response script AF 80 23 02 90 00 00 00 \
             (X-Admin-Script-Status: ok) to the last Next-URI that session got, without X-Admin-Resume",
        ],
        expected: "A 4xx answer: the server takes no response for a script this session did not send",
        note: "wire-profile §3 does not say how a server answers a POST to a Next-URI it is not waiting for; the \
               project answers 400. A 200/204 (taken as an opening POST or applied) is a FAIL.",
        run: super::es5_https::stale_next_uri,
    },
    Case {
        id: "ES5-HTTPS-06",
        interface: "ES5",
        section: "§2.4.4, §5.6; wire-profile §3",
        title: "X-Admin-Resume: a response the card could not deliver is taken in the next session, not run again",
        needs: &[Need::Smsr, Need::SuiteSmsc, Need::Https],
        preconditions: "As ES5-HTTPS-01; the SUT asks the eUICC to connect again (push SMS) within the callback \
                        time-out when a response does not come.",
        steps: &[
            "The simulated HTTPS eUICC will drop its next session after running the first script, before posting \
             the response",
            "MNO 1: ES4.AuditEIS of the eUICC; the card runs the GET STATUS, the connection drops",
            "At the SUT's next push SMS the card connects and first POSTs the undelivered response to its Next-URI \
             with X-Admin-Resume: true; wait for the callback",
        ],
        expected: "The resumed POST is answered 200 or 204; the script the card ran is sent once in the case; no \
                   command goes by SMS; callback EXECUTED_SUCCESS",
        note: "X-Admin-Resume is the project's [P] rule in wire-profile §3, which does not say when the SM-SR asks a \
               cut eUICC to connect again (the project: a push SMS after es5.https.connect_timeout_secs).",
        run: super::es5_https::resume,
    },
];

/// Fails as INCONCLUSIVE unless the SUT is bound to the suite's SMSC.
pub(super) async fn bound(ctx: &Ctx) -> Result<(), Finding> {
    let smsc = ctx.smsc()?;
    if smsc.wait_bound(ctx.callback_timeout).await {
        Ok(())
    } else {
        Err(Finding::Inconclusive(format!(
            "the SUT did not bind to the suite's SMSC at {} within {} s",
            smsc.addr,
            ctx.callback_timeout.as_secs()
        )))
    }
}

/// Expects HTTP 202 and a callback `element`; returns the callback (its status is the caller's to check).
pub(super) async fn accepted(
    ctx: &Ctx,
    out: &CallOutcome,
    element: &str,
) -> Result<Received, Finding> {
    if out.http_status != 202 {
        let st = status_in(&out.envelope)
            .map(|s| describe(&s))
            .unwrap_or_default();
        return Err(Finding::Inconclusive(format!(
            "precondition: expected HTTP 202, got HTTP {} {st}",
            out.http_status
        )));
    }
    let cb = ctx.callback(out).await?;
    if cb.element != element {
        return Err(Finding::Fail(format!(
            "the callback is {}, expected {element}",
            cb.element
        )));
    }
    Ok(cb)
}

/// MNO 1: ES4.AuditEIS of eUICC 1 and its callback (whatever its status).
async fn audit(ctx: &Ctx, what: &str) -> Result<Received, Finding> {
    let out = ctx
        .es4(
            0,
            &es4::AuditEisRequest {
                base: base(&ctx.fci(what), None),
                eid: parse("EID", &eid0(ctx)?)?,
                iccids: Vec::new(),
            },
        )
        .await?;
    accepted(ctx, &out, "ES4-AuditEISResponse").await
}

/// MNO 1: ES4.AuditEIS of eUICC 1 completing with EXECUTED_SUCCESS (a precondition step of the byte checks).
async fn audit_ok(ctx: &Ctx, what: &str) -> Result<(), Finding> {
    let cb = audit(ctx, what).await?;
    expect(200, &cb.envelope, 200, Status::ExecutedSuccess, None)
        .map(|_| ())
        .map_err(|f| match f {
            Finding::Fail(why) => Finding::Inconclusive(format!("precondition: AuditEIS: {why}")),
            f => f,
        })
}

/// One SCP80 packet reassembled from its SMS (wire-profile §2).
pub(super) struct Packet {
    /// When its last SMS crossed.
    pub(super) at: Instant,
    /// The handset's MSISDN.
    pub(super) msisdn: String,
    /// Command (IEI 70) or response (IEI 71).
    pub(super) kind: PacketKind,
    /// The TP-UDs it came in, in order.
    pub(super) tp_uds: Vec<Vec<u8>>,
    /// The packet from CPL / RPL on.
    pub(super) bytes: Vec<u8>,
}

/// The TP-UDs of one concatenated SMS received so far, by segment index.
type SegmentsByIndex = std::collections::BTreeMap<u8, Vec<u8>>;

/// Reassembles the SMS of `log` going one way into packets with the one reassembler of es-interfaces (the
/// SM-SR's), keeping each packet's TP-UDs in segment order; an SMS that is no SCP80 packet or segment, or
/// segments that contradict each other, are an error naming them.
pub(super) fn packets(log: &[LoggedSms], mobile_terminated: bool) -> Result<Vec<Packet>, String> {
    let mut out = Vec::new();
    let mut reassembler: sms::Reassembler<String> = sms::Reassembler::new(u8::MAX, usize::MAX);
    // The TP-UDs of each incomplete message, by originator/recipient and reference.
    let mut tp_uds: HashMap<(String, u16), SegmentsByIndex> = HashMap::new();
    for m in log
        .iter()
        .filter(|s| s.mobile_terminated == mobile_terminated)
    {
        let named = |e: &dyn std::fmt::Display| {
            format!("SMS {} ({}): {e}", hex::encode_upper(&m.tp_ud), m.msisdn)
        };
        let seg = Segment::parse(&m.tp_ud).map_err(|e| named(&e))?;
        let outcome = reassembler
            .push(m.msisdn.clone(), &m.tp_ud)
            .map_err(|e| named(&e))?;
        let uds = match seg.concatenation {
            None => vec![m.tp_ud.clone()],
            Some(c) => {
                tp_uds
                    .entry((m.msisdn.clone(), c.reference))
                    .or_default()
                    .entry(c.index)
                    .or_insert_with(|| m.tp_ud.clone());
                if !matches!(outcome, sms::PushOutcome::Complete(_)) {
                    continue;
                }
                tp_uds
                    .remove(&(m.msisdn.clone(), c.reference))
                    .unwrap_or_default()
                    .into_values()
                    .collect()
            }
        };
        if let sms::PushOutcome::Complete(done) = outcome {
            out.push(Packet {
                at: m.at,
                msisdn: m.msisdn.clone(),
                kind: done.kind,
                tp_uds: uds,
                bytes: done.packet,
            });
        }
    }
    Ok(out)
}

/// The command packets the SUT sent during this case (at least one, else INCONCLUSIVE).
fn case_commands(ctx: &Ctx) -> Result<Vec<Packet>, Finding> {
    let start = ctx.case_started();
    let log: Vec<LoggedSms> = ctx
        .smsc()?
        .sms_log()
        .into_iter()
        .filter(|s| s.at >= start)
        .collect();
    let all = packets(&log, true).map_err(Finding::Fail)?;
    if let Some(p) = all.iter().find(|p| p.kind != PacketKind::Command) {
        return Err(Finding::Fail(format!(
            "the SUT sent a response packet (IEI 71) to {}",
            p.msisdn
        )));
    }
    if all.is_empty() {
        return Err(Finding::Inconclusive(
            "no command packet crossed the SMSC during the case".into(),
        ));
    }
    Ok(all)
}

/// eUICC `i`'s ISD-R key set from the peers (KVN, keys).
pub(super) fn keys_of(ctx: &Ctx, i: usize) -> Result<(u8, KeySet), Finding> {
    let e = ctx
        .world
        .euiccs
        .get(i)
        .ok_or_else(|| Finding::Inconclusive(format!("the peers have no eUICC {}", i + 1)))?;
    Ok((
        e.scp80.kvn,
        KeySet {
            kic: SecretKey::new(e.scp80.kic.expose()),
            kid: SecretKey::new(e.scp80.kid.expose()),
        },
    ))
}

/// The peers' eUICC a packet went to or came from.
pub(super) fn euicc_of(ctx: &Ctx, p: &Packet) -> Result<usize, Finding> {
    ctx.smsc()?.euicc_of(&p.msisdn).ok_or_else(|| {
        Finding::Fail(format!(
            "a packet went to {}, the MSISDN of no eUICC of the peers",
            p.msisdn
        ))
    })
}

/// Opens a command packet with the keys of the eUICC it went to (wire-profile §2): the header read, the CC
/// verified, the padding checked and removed.
pub(super) fn open(ctx: &Ctx, p: &Packet) -> Result<(usize, OpenedCommand), Finding> {
    let i = euicc_of(ctx, p)?;
    let (_, keys) = keys_of(ctx, i)?;
    let parsed = scp80::parse_command(&p.bytes).map_err(|e| {
        Finding::Fail(format!(
            "command packet {} to {}: {e}",
            hex::encode_upper(&p.bytes),
            p.msisdn
        ))
    })?;
    let opened = parsed.open(&keys).map_err(|e| {
        Finding::Fail(format!(
            "command packet to {} does not open with eUICC {}'s keys: {e}",
            p.msisdn,
            i + 1
        ))
    })?;
    Ok((i, opened))
}

/// The C-APDUs of an expanded remote command script `AA L { 22 L <C-APDU> … }` (wire-profile §2), as bytes.
fn script_apdus(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let outer = tlv::parse_single(data).map_err(|e| format!("the secured data is no TLV: {e}"))?;
    if outer.tag != Tag::byte(0xAA) || outer.value_offset + outer.value.len() != data.len() {
        return Err(format!(
            "the secured data {} is no expanded definite script AA L {{ … }}",
            hex::encode_upper(data)
        ));
    }
    outer
        .children()
        .map_err(|e| format!("script: {e}"))?
        .into_iter()
        .map(|c| {
            if c.tag == Tag::byte(0x22) {
                Ok(c.value.to_vec())
            } else {
                Err(format!(
                    "script element with tag {:?} (only 22 C-APDUs expected)",
                    c.tag
                ))
            }
        })
        .collect()
}

fn smpp_fields(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        let smsc = ctx.smsc()?;
        let before = smsc.submits().len();
        let undelivered_before = smsc.undelivered().len();
        audit_ok(ctx, "es5-smpp").await?;
        let submits: Vec<_> = smsc.submits().into_iter().skip(before).collect();
        if submits.is_empty() {
            return Err(Finding::Inconclusive(
                "AuditEIS completed with no submit_sm at the suite's SMSC".into(),
            ));
        }
        for s in &submits {
            let b = &s.body;
            let seen = [
                ("esm_class", b.esm_class.0, wire_profile::SMPP_ESM_CLASS),
                ("protocol_id", b.protocol_id, wire_profile::SMPP_PROTOCOL_ID),
                ("data_coding", b.data_coding, wire_profile::SMPP_DATA_CODING),
                (
                    "registered_delivery",
                    b.registered_delivery,
                    wire_profile::SMPP_REGISTERED_DELIVERY,
                ),
            ];
            for (field, got, want) in seen {
                if got != want {
                    return Err(Finding::Fail(format!(
                        "submit_sm {} to {}: {field} {got:#04x}, wire-profile §2 says {want:#04x}",
                        s.message_id, b.destination_addr
                    )));
                }
            }
            if b.user_data().len() > wire_profile::TP_UD_MAX {
                return Err(Finding::Fail(format!(
                    "submit_sm {}: {} bytes of user data (at most 140)",
                    s.message_id,
                    b.user_data().len()
                )));
            }
        }
        let undelivered: Vec<String> = smsc
            .undelivered()
            .into_iter()
            .skip(undelivered_before)
            .collect();
        if !undelivered.is_empty() {
            return Err(Finding::Fail(format!(
                "MT SMS to an MSISDN no enabled profile has: {}",
                undelivered.join("; ")
            )));
        }
        Ok(format!(
            "{} submit_sm: esm_class 0x40, protocol_id 0x7F, data_coding 0xF6, registered_delivery 1, each to \
             an enabled profile's MSISDN",
            submits.len()
        ))
    })
}

fn udh(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        audit_ok(ctx, "es5-udh").await?;
        let commands = case_commands(ctx)?;
        let mut segments = 0;
        for p in &commands {
            let n = p.tp_uds.len();
            segments += n;
            for (i, ud) in p.tp_uds.iter().enumerate() {
                let ok = if n == 1 {
                    ud.starts_with(&[0x02, 0x70, 0x00])
                } else {
                    let (count, index) = (n as u8, i as u8 + 1);
                    let reference = ud.get(if i == 0 { 5 } else { 3 }).copied().unwrap_or(0);
                    let want: Vec<u8> = if i == 0 {
                        vec![0x07, 0x70, 0x00, 0x00, 0x03, reference, count, 0x01]
                    } else {
                        vec![0x05, 0x00, 0x03, reference, count, index]
                    };
                    ud.starts_with(&want) && (i + 1 == n || ud.len() == wire_profile::TP_UD_MAX)
                };
                if !ok {
                    return Err(Finding::Fail(format!(
                        "segment {} of {n} to {}: TP-UD {} does not start as wire-profile §2 says{}",
                        i + 1,
                        p.msisdn,
                        hex::encode_upper(ud),
                        if n > 1 && i + 1 < n {
                            " (or is not 140 bytes long)"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
        Ok(format!(
            "{} command packet(s) in {segments} SMS, UDH as wire-profile §2",
            commands.len()
        ))
    })
}

fn header(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        audit_ok(ctx, "es5-header").await?;
        let commands = case_commands(ctx)?;
        let tar = wire_profile::default_tar(&wire_profile::ISD_R_AID)
            .ok_or_else(|| Finding::Inconclusive("no TAR for the ISD-R AID".into()))?;
        for p in &commands {
            let i = euicc_of(ctx, p)?;
            let (kvn, _) = keys_of(ctx, i)?;
            let b = &p.bytes;
            let cpl = b
                .get(..2)
                .map(|c| usize::from(u16::from_be_bytes([c[0], c[1]])));
            let fail = |what: String| {
                Finding::Fail(format!(
                    "command packet to {} ({}): {what}",
                    p.msisdn,
                    hex::encode_upper(b)
                ))
            };
            if cpl != Some(b.len().saturating_sub(2)) {
                return Err(fail(format!(
                    "CPL {cpl:?}, the packet has {} bytes after it",
                    b.len().saturating_sub(2)
                )));
            }
            let h = b
                .get(2..10)
                .ok_or_else(|| fail("truncated header".into()))?;
            let kic_kid = wire_profile::aes_kic_kid(kvn)
                .ok_or_else(|| Finding::Inconclusive(format!("KVN {kvn:#04x} is no SCP80 KVN")))?;
            let checks = [
                ("CHL", vec![h[0]], vec![0x15]),
                (
                    "SPI",
                    h[1..3].to_vec(),
                    wire_profile::ES5_COMMAND_SPI.to_vec(),
                ),
                ("KIc", vec![h[3]], vec![kic_kid]),
                ("KID", vec![h[4]], vec![kic_kid]),
                ("TAR", h[5..8].to_vec(), tar.to_vec()),
            ];
            for (field, got, want) in checks {
                if got != want {
                    return Err(fail(format!(
                        "{field} {}, expected {}",
                        hex::encode_upper(&got),
                        hex::encode_upper(&want)
                    )));
                }
            }
        }
        Ok(format!(
            "{} command packet(s): CHL 15, SPI 1639, KIc = KID = (KVN << 4) | 2, TAR 000001",
            commands.len()
        ))
    })
}

fn secured_data(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        audit_ok(ctx, "es5-cc").await?;
        let commands = case_commands(ctx)?;
        let mut audits = 0;
        for p in &commands {
            let (_, opened) = open(ctx, p)?;
            // CNTR(5) PCNTR(1) CC(8) data padded to the AES block.
            let want_pad = (16 - (5 + 1 + 8 + opened.data.len()) % 16) % 16;
            if usize::from(opened.pcntr) != want_pad {
                return Err(Finding::Fail(format!(
                    "command packet to {}: PCNTR {}, the padding to 16 is {want_pad}",
                    p.msisdn, opened.pcntr
                )));
            }
            let apdus = script_apdus(&opened.data).map_err(Finding::Fail)?;
            let first = apdus
                .first()
                .ok_or_else(|| Finding::Fail("an empty script".into()))?;
            if first.as_slice() == AUDIT_GET_STATUS {
                audits += 1;
                if let Some(other) = apdus.iter().skip(1).find(|a| a.as_slice() != GET_DATA_FF21) {
                    return Err(Finding::Fail(format!(
                        "the AuditEIS script also holds {}",
                        hex::encode_upper(other)
                    )));
                }
            }
        }
        if audits == 0 {
            return Err(Finding::Fail(format!(
                "no command packet of the case carries the GET STATUS {} of wire-profile §4",
                hex::encode_upper(AUDIT_GET_STATUS)
            )));
        }
        Ok(format!(
            "{} command packet(s) open with eUICC 1's keys (CC, AES-CBC, padding); {audits} AuditEIS script(s) \
             as wire-profile §4",
            commands.len()
        ))
    })
}

fn counters(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        audit_ok(ctx, "es5-counter-1").await?;
        audit_ok(ctx, "es5-counter-2").await?;
        let all = packets(&ctx.smsc()?.sms_log(), true).map_err(Finding::Fail)?;
        let mut last: HashMap<(usize, u8), u64> = HashMap::new();
        let (mut n, mut foreign) = (0, 0);
        for p in all.iter().filter(|p| p.kind == PacketKind::Command) {
            // A key set an SM-SR change gave the card (ES7-HandoverEUICC-05: the SUT's own) is not the peers'.
            let (kvn, _) = keys_of(ctx, euicc_of(ctx, p)?)?;
            if scp80::parse_command(&p.bytes).is_ok_and(|c| c.kic.kvn() != kvn) {
                foreign += 1;
                continue;
            }
            let (i, opened) = open(ctx, p)?;
            let h = opened.header;
            if h.spi.counter != CounterMode::Higher {
                return Err(Finding::Fail(format!(
                    "command packet to {}: SPI {} asks for counter mode {:?}, wire-profile §2 for Higher",
                    p.msisdn,
                    hex::encode_upper(h.spi.to_bytes()),
                    h.spi.counter
                )));
            }
            let counter = h.counter.value();
            let key = (i, h.kic.kvn());
            if let Some(prev) = last.get(&key)
                && counter <= *prev
            {
                return Err(Finding::Fail(format!(
                    "eUICC {} key set {:02X}: counter {counter} sent after {prev} (it must be higher)",
                    i + 1,
                    key.1
                )));
            }
            last.insert(key, counter);
            n += 1;
        }
        if n < 2 {
            return Err(Finding::Inconclusive(format!(
                "{n} command packet(s) in the run: too few to compare counters"
            )));
        }
        Ok(format!(
            "{n} command packet(s) in the run, counters strictly increasing per key set ({} key set(s)); \
             {foreign} under a key set the peers do not hold (from an SM-SR change) not opened",
            last.len()
        ))
    })
}

/// The PoRs (response packets) the eUICCs sent during the case, opened with the keys of the command they
/// answer (the command SPI of wire-profile §2): (eUICC, counter, status, time).
fn case_pors(ctx: &Ctx) -> Result<Vec<(usize, u64, PorStatus, Instant)>, Finding> {
    let start = ctx.case_started();
    let log: Vec<LoggedSms> = ctx
        .smsc()?
        .sms_log()
        .into_iter()
        .filter(|s| s.at >= start && !s.altered)
        .collect();
    let spi = scp80::Spi::from_bytes(wire_profile::ES5_COMMAND_SPI)
        .map_err(|e| Finding::Inconclusive(e.to_string()))?;
    let tar = wire_profile::default_tar(&wire_profile::ISD_R_AID)
        .ok_or_else(|| Finding::Inconclusive("no TAR for the ISD-R AID".into()))?;
    let mut out = Vec::new();
    for p in packets(&log, false)
        .map_err(|e| Finding::Inconclusive(format!("the suite's own MO SMS: {e}")))?
        .into_iter()
        .filter(|p| p.kind == PacketKind::Response)
    {
        let i = euicc_of(ctx, &p)?;
        let (kvn, keys) = keys_of(ctx, i)?;
        let k = wire_profile::aes_kic_kid(kvn).unwrap_or_default();
        // A PoR sent without security (TAR or key set unknown, CC failed) does not open: not a status-00 one.
        if let Ok(r) = scp80::open_por(&p.bytes, &spi, scp80::Kic(k), scp80::Kid(k), &keys, tar) {
            out.push((i, r.counter.value(), r.status, p.at));
        }
    }
    Ok(out)
}

fn por_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        let cb = audit(ctx, "es5-por").await?;
        let seen = expect(200, &cb.envelope, 200, Status::ExecutedSuccess, None)?;
        let commands = case_commands(ctx)?;
        let pors = case_pors(ctx)?;
        let mut opened = Vec::new();
        for p in &commands {
            let (i, o) = open(ctx, p)?;
            opened.push((i, o.header.counter.value(), o.data, p.at));
        }
        let mut answered = 0;
        for (i, counter, status, at) in &pors {
            if *status != PorStatus::Ok {
                continue;
            }
            let Some((_, _, data, _)) = opened.iter().find(|o| o.0 == *i && o.1 == *counter) else {
                continue;
            };
            answered += 1;
            if let Some(again) = opened
                .iter()
                .find(|o| o.0 == *i && o.2 == *data && o.3 > *at)
            {
                return Err(Finding::Fail(format!(
                    "the command answered by the PoR of counter {counter} (status 00) was sent again with \
                     counter {}",
                    again.1
                )));
            }
        }
        if answered == 0 {
            return Err(Finding::Inconclusive(
                "no PoR with status 00 answered a command of the case".into(),
            ));
        }
        Ok(format!(
            "{answered} PoR(s) with status 00 taken, no command sent again; callback {seen}"
        ))
    })
}

fn por_bad_cc(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        let smsc = ctx.smsc()?;
        smsc.corrupt_next_por(1);
        let result = audit(ctx, "es5-por-cc").await;
        smsc.corrupt_next_por(0);
        let cb = result?;
        let start = ctx.case_started();
        let log: Vec<LoggedSms> = smsc
            .sms_log()
            .into_iter()
            .filter(|s| s.at >= start)
            .collect();
        let altered_at = log
            .iter()
            .find(|s| s.altered)
            .map(|s| s.at)
            .ok_or_else(|| {
                Finding::Inconclusive("no PoR crossed the suite's network to be altered".into())
            })?;
        let commands = case_commands(ctx)?;
        let resent = commands.iter().filter(|p| p.at > altered_at).count();
        let status = status_in(&cb.envelope);
        match status.as_ref().map(|s| s.status) {
            Some(Status::ExecutedSuccess) if resent == 0 => Err(Finding::Fail(
                "callback EXECUTED_SUCCESS with no command sent after the PoR whose CC does not verify: the SUT \
                 took it"
                    .into(),
            )),
            Some(Status::ExecutedSuccess) => Ok(format!(
                "the altered PoR was not taken: {resent} command packet(s) sent after it, then callback \
                 EXECUTED_SUCCESS"
            )),
            Some(Status::Failed) => Ok(format!(
                "the altered PoR was not taken as success: callback {}",
                status.as_ref().map(describe).unwrap_or_default()
            )),
            _ => Err(Finding::Fail(format!(
                "callback with {}",
                status
                    .as_ref()
                    .map(describe)
                    .unwrap_or_else(|| "no FunctionExecutionStatus".into())
            ))),
        }
    })
}

/// The notifications eUICC `i` sent during the case (wire-profile §4): (sequence number, time).
fn case_notifications(ctx: &Ctx, i: usize) -> Result<Vec<(u16, Instant)>, Finding> {
    let start = ctx.case_started();
    let log: Vec<LoggedSms> = ctx
        .smsc()?
        .sms_log()
        .into_iter()
        .filter(|s| s.at >= start)
        .collect();
    let (_, keys) = keys_of(ctx, i)?;
    let mut out = Vec::new();
    for p in packets(&log, false)
        .map_err(|e| Finding::Inconclusive(format!("the suite's own MO SMS: {e}")))?
        .into_iter()
        .filter(|p| p.kind == PacketKind::Command)
    {
        if euicc_of(ctx, &p)? != i {
            continue;
        }
        let opened = scp80::parse_command(&p.bytes)
            .and_then(|c| c.open(&keys))
            .map_err(|e| Finding::Inconclusive(format!("the eUICC's own notification: {e}")))?;
        let n = Notification::parse(&opened.data)
            .map_err(|e| Finding::Inconclusive(format!("the eUICC's own notification: {e}")))?;
        out.push((n.sequence, p.at));
    }
    Ok(out)
}

/// Checks that each notification of eUICC `i` in the case was confirmed (wire-profile §4) before `notified`
/// (when the MNO got its ES4 notification); returns how many.
fn check_confirmations(ctx: &Ctx, i: usize, notified: Instant) -> Result<usize, Finding> {
    let notes = case_notifications(ctx, i)?;
    if notes.is_empty() {
        return Err(Finding::Inconclusive(format!(
            "eUICC {} sent no notification during the case",
            i + 1
        )));
    }
    let tar = wire_profile::default_tar(&wire_profile::ISD_R_AID)
        .ok_or_else(|| Finding::Inconclusive("no TAR for the ISD-R AID".into()))?;
    let mut confirmations = Vec::new();
    for p in case_commands(ctx)? {
        let (to, opened) = open(ctx, &p)?;
        if to != i || opened.header.tar != tar {
            continue;
        }
        for apdu in script_apdus(&opened.data).map_err(Finding::Fail)? {
            if let [
                0x80,
                0xE2,
                0x89,
                0x00,
                0x07,
                0x3A,
                0x08,
                0x04,
                0x4E,
                0x02,
                s1,
                s2,
            ] = apdu[..]
            {
                confirmations.push((u16::from_be_bytes([s1, s2]), p.at));
            }
        }
    }
    let mut seqs: Vec<u16> = notes.iter().map(|n| n.0).collect();
    seqs.dedup();
    for seq in &seqs {
        let Some((_, at)) = confirmations.iter().find(|c| c.0 == *seq) else {
            return Err(Finding::Fail(format!(
                "notification {seq} of eUICC {} was not confirmed with 80 E2 89 00 07 3A 08 04 4E 02 {:04X} \
                 (confirmations seen: {:?})",
                i + 1,
                seq,
                confirmations.iter().map(|c| c.0).collect::<Vec<_>>()
            )));
        };
        if *at > notified {
            return Err(Finding::Fail(format!(
                "the MNO was notified before notification {seq} was confirmed"
            )));
        }
    }
    Ok(seqs.len())
}

fn notification_confirmed(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        let eid = eid0(ctx)?;
        let eis = view(ctx, 0, "es5-note-pre").await?;
        let enabled_is_fallback = eis
            .profile_info
            .iter()
            .any(|p| p.state == ProfileState::Enabled && p.fallback_attribute);
        let iccid = eis
            .profile_info
            .iter()
            .find(|p| p.state == ProfileState::Disabled)
            .map(|p| p.iccid.to_string())
            .filter(|_| enabled_is_fallback)
            .ok_or_else(|| {
                Finding::Inconclusive(
                    "precondition: MNO 1 has no disabled profile on eUICC 1 beside an enabled fall-back one"
                        .into(),
                )
            })?;
        let enable = es4::EnableProfileRequest {
            base: base(&ctx.fci("es5-note-enable"), None),
            eid: parse("EID", &eid)?,
            iccid: parse("ICCID", &iccid)?,
        };
        let out = ctx.es4(0, &enable).await?;
        let cb = accepted(ctx, &out, "ES4-EnableProfileResponse").await?;
        expect(200, &cb.envelope, 200, Status::ExecutedSuccess, None)?;
        let enabled = ctx
            .notification("ES4-HandleProfileEnabledNotification", &iccid)
            .await?;
        let first = check_confirmations(ctx, 0, enabled.received_at)?;
        // Back to the fall-back profile, as the case found it.
        let disable = es4::DisableProfileRequest {
            base: base(&ctx.fci("es5-note-disable"), None),
            eid: parse("EID", &eid)?,
            iccid: parse("ICCID", &iccid)?,
        };
        let out = ctx.es4(0, &disable).await?;
        let cb = accepted(ctx, &out, "ES4-DisableProfileResponse").await?;
        expect(200, &cb.envelope, 200, Status::ExecutedSuccess, None)?;
        let disabled = ctx
            .notification("ES4-HandleProfileDisabledNotification", &iccid)
            .await?;
        let all = check_confirmations(ctx, 0, disabled.received_at)?;
        Ok(format!(
            "{all} notification(s) confirmed by sequence number ({first} before HandleProfileEnabledNotification), \
             each before the MNO's notification"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use es_interfaces::sms;

    fn logged(tp_ud: Vec<u8>) -> LoggedSms {
        LoggedSms {
            at: Instant::now(),
            mobile_terminated: true,
            msisdn: "491709900001".into(),
            address: "4915550000".into(),
            tp_ud,
            altered: false,
        }
    }

    /// wire-profile §2: a packet cut into segments comes back whole, with its TP-UDs; an SMS without IEI 70/71 is
    /// named.
    #[test]
    fn segments_are_reassembled_into_packets() {
        let packet: Vec<u8> = (0..=199u8).collect();
        let uds = sms::to_tp_uds(PacketKind::Command, &packet, 7).expect("segments");
        assert_eq!(uds.len(), 2);
        let mut log: Vec<LoggedSms> = uds.iter().cloned().map(logged).collect();
        log.insert(0, logged(vec![0x02, 0x70, 0x00, 0xAA, 0xBB]));
        let got = packets(&log, true).expect("packets");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].bytes, [0xAA, 0xBB]);
        assert_eq!(got[1].bytes, packet);
        assert_eq!(got[1].tp_uds, uds);
        assert_eq!(got[1].kind, PacketKind::Command);
        assert!(packets(&log, false).expect("none").is_empty());
        let err = packets(&[logged(vec![0x00, 0x01])], true)
            .err()
            .expect("refused");
        assert!(
            err.starts_with("SMS 0001 (") && err.contains("no command/response packet identifier"),
            "{err}"
        );
    }

    /// wire-profile §2: the expanded definite script `AA L { 22 L … }`, nothing after it, nothing but C-APDUs.
    #[test]
    fn scripts_give_their_c_apdus() {
        let script = [0xAA, 0x07, 0x22, 0x05, 0x80, 0xCA, 0xFF, 0x21, 0x00];
        assert_eq!(script_apdus(&script), Ok(vec![GET_DATA_FF21.to_vec()]));
        let mut trailing = script.to_vec();
        trailing.push(0x00);
        assert!(script_apdus(&trailing).is_err());
        assert!(script_apdus(&[0xAB, 0x03, 0x80, 0x01, 0x01]).is_err());
        assert!(script_apdus(&[0xAA, 0x03, 0x80, 0x01, 0x01]).is_err());
    }
}
