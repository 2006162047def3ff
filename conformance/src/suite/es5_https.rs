//! ES5 over HTTPS byte checks against wire-profile §3 (SCP81: GP Amd B RAM over HTTP with PSK-TLS 1.2; SGP.02
//! §2.4.4, §5.6), the suite playing the SUT's SMSC and the peers' eUICCs ([`super::smsc`]): the SUT reaches the
//! eUICC of `--https-euicc` over HTTPS, opening each session with a push SMS. Each case drives ES4.AuditEIS of
//! that eUICC as MNO 1 (a command to the card that changes nothing), then reads the push SMS that crossed the
//! SMSC and the HTTP messages of the simulated card's sessions with the decoders of es_interfaces (SCP80,
//! session trigger, scripts); the TLS checks connect the suite's own PSK-TLS client (openssl) to the admin server
//! the push SMS names.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use es_interfaces::messages::es4;
use es_interfaces::scp80::{self, OpenedCommand, PorStatus};
use es_interfaces::scp81::{AdminFrom, PskIdentity, SessionTrigger};
use es_interfaces::script::CommandScript;
use es_interfaces::sms::{self, PacketKind};
use es_interfaces::status::Status;
use es_interfaces::types::ProfileState;
use es_interfaces::wire_profile;
use openssl::ssl::SslVersion;

use super::ctx::expect;
use super::es4::{decode, parse};
use super::es5::{AUDIT_GET_STATUS, Packet, accepted, bound, euicc_of, keys_of, open, packets};
use super::smsc::LoggedSession;
use super::{CaseFuture, Ctx, Finding};
use crate::euicc::Control;
use crate::euicc::https::{self, AdminMessage, CutAt, HttpsError, Probe, TlsOffer};
use crate::lab::LoggedSms;
use crate::mno::{Received, base};

/// The two TLS 1.2 PSK cipher suites of wire-profile §3, OpenSSL names.
const SUITES: [&str; 2] = ["PSK-AES128-GCM-SHA256", "PSK-AES128-CBC-SHA256"];
/// PSK suites outside wire-profile §3 the suite offers to see them refused.
const OTHER_PSK_SUITES: &str =
    "PSK-AES256-GCM-SHA384:PSK-AES256-CBC-SHA384:PSK-CHACHA20-POLY1305:PSK-AES128-CBC-SHA";
/// An EID no peers' eUICC has (SGP.02 §2.2.2 form), for an unknown PSK identity.
const UNKNOWN_EID: &str = "89049032123451234512345678909999";

/// The peers' eUICC the SUT reaches over HTTPS and its EID (`--https-euicc`).
fn https_euicc(ctx: &Ctx) -> Result<(usize, String), Finding> {
    let i = ctx
        .https_euicc()
        .ok_or_else(|| Finding::Inconclusive("the run names no eUICC reached over HTTPS".into()))?;
    let e = ctx.world.euiccs.get(i).ok_or_else(|| {
        Finding::Inconclusive(format!("the peers have no eUICC {} (--https-euicc)", i + 1))
    })?;
    Ok((i, e.eid.clone()))
}

/// MNO 1: ES4.AuditEIS of eUICC `eid` and its callback (whatever its status).
async fn audit_of(ctx: &Ctx, eid: &str, what: &str) -> Result<Received, Finding> {
    let out = ctx
        .es4(
            0,
            &es4::AuditEisRequest {
                base: base(&ctx.fci(what), None),
                eid: parse("EID", eid)?,
                iccids: Vec::new(),
            },
        )
        .await?;
    accepted(ctx, &out, "ES4-AuditEISResponse").await
}

/// The SMS of the run since `since`.
fn sms_since(ctx: &Ctx, since: Option<Instant>) -> Result<Vec<LoggedSms>, Finding> {
    Ok(ctx
        .smsc()?
        .sms_log()
        .into_iter()
        .filter(|s| since.is_none_or(|t| s.at >= t))
        .collect())
}

/// A push SMS to eUICC `i`: the packet, opened, and its triggering TLV (wire-profile §3).
struct Push {
    packet: Packet,
    opened: OpenedCommand,
    trigger: Result<SessionTrigger, String>,
}

/// The command packets to eUICC `i` since `since` (the whole run when `None`), split into push SMS (secured data
/// starting with the trigger tag `81`) and the others (commands sent by SMS).
fn commands_to(
    ctx: &Ctx,
    i: usize,
    since: Option<Instant>,
) -> Result<(Vec<Push>, Vec<Packet>), Finding> {
    let mut pushes = Vec::new();
    let mut others = Vec::new();
    for p in packets(&sms_since(ctx, since)?, true).map_err(Finding::Fail)? {
        if p.kind != PacketKind::Command || euicc_of(ctx, &p)? != i {
            continue;
        }
        let (_, opened) = open(ctx, &p)?;
        if opened.data.first() == Some(&wire_profile::SESSION_TRIGGER_TAG) {
            let trigger = SessionTrigger::parse(&opened.data).map_err(|e| e.to_string());
            pushes.push(Push {
                packet: p,
                opened,
                trigger,
            });
        } else {
            others.push(p);
        }
    }
    Ok((pushes, others))
}

/// The admin server the last push SMS to eUICC `i` in the run names (wire-profile §3: `3E`, `3C`).
fn admin_address(ctx: &Ctx, i: usize) -> Result<SocketAddr, Finding> {
    let (pushes, _) = commands_to(ctx, i, None)?;
    pushes
        .iter()
        .rev()
        .find_map(|p| p.trigger.as_ref().ok())
        .map(|t| SocketAddr::from((t.connection.ipv4, t.connection.port)))
        .ok_or_else(|| {
            Finding::Inconclusive(
                "no push SMS to the HTTPS eUICC in the run names the admin server (ES5-HTTPS-01 first)".into(),
            )
        })
}

/// The admin sessions of eUICC `eid` that ended since `since`.
fn sessions_of(ctx: &Ctx, eid: &str, since: Instant) -> Result<Vec<LoggedSession>, Finding> {
    Ok(ctx
        .smsc()?
        .sessions()
        .into_iter()
        .filter(|s| s.at >= since && s.eid.eq_ignore_ascii_case(eid))
        .collect())
}

/// How long a case waits, after its callback, for the eUICC's session to end (the callback may come before the
/// card has read the closing `204`).
const SESSION_END_WAIT: Duration = Duration::from_secs(10);

/// The admin sessions of eUICC `eid` ended since `since`, once `enough` holds for them (polled up to
/// [`SESSION_END_WAIT`]; then as they are).
async fn sessions_when(
    ctx: &Ctx,
    eid: &str,
    since: Instant,
    enough: impl Fn(&[LoggedSession]) -> bool,
) -> Result<Vec<LoggedSession>, Finding> {
    let until = Instant::now() + SESSION_END_WAIT;
    loop {
        let sessions = sessions_of(ctx, eid, since)?;
        if enough(&sessions) || Instant::now() >= until {
            return Ok(sessions);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether one of `sessions` ended normally with a script delivered.
fn delivered(sessions: &[LoggedSession]) -> bool {
    sessions
        .iter()
        .any(|s| s.error.is_none() && !s.report.cut && s.report.scripts > 0)
}

/// eUICC `i`'s PSK identity text and PSK (wire-profile §3: key 1 of its SCP81 key set).
fn credentials(ctx: &Ctx, i: usize) -> Result<(String, Vec<u8>), Finding> {
    let e = ctx
        .world
        .euiccs
        .get(i)
        .ok_or_else(|| Finding::Inconclusive(format!("the peers have no eUICC {}", i + 1)))?;
    let identity = identity_of(&e.eid, e.scp81_kvn)?
        .to_text()
        .map_err(|e| Finding::Inconclusive(format!("PSK identity: {e}")))?;
    Ok((identity, e.scp81_psk.expose().to_vec()))
}

fn identity_of(eid: &str, kvn: u8) -> Result<PskIdentity, Finding> {
    let eid: [u8; 16] = hex::decode(eid)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Finding::Inconclusive(format!("EID {eid} is not 32 digits")))?;
    Ok(PskIdentity {
        eid,
        isd_r_aid: wire_profile::ISD_R_AID.to_vec(),
        key_id: 1,
        kvn,
    })
}

/// Runs [`https::probe`] on a blocking thread.
async fn probe(
    addr: SocketAddr,
    identity: String,
    psk: Vec<u8>,
    offer: TlsOffer,
    request: Option<Vec<u8>>,
) -> Result<Probe, Finding> {
    tokio::task::spawn_blocking(move || {
        https::probe(addr, &identity, &psk, &offer, request.as_deref())
    })
    .await
    .map_err(|e| Finding::Inconclusive(format!("the suite's TLS client: {e}")))?
    .map_err(|e| match e {
        HttpsError::Tls(why) => Finding::Fail(why),
        e => Finding::Inconclusive(format!("the suite's TLS client: {e}")),
    })
}

/// Expects the handshake offering `offer` to be refused; `what` names the attempt.
async fn refused(
    addr: SocketAddr,
    identity: String,
    psk: Vec<u8>,
    offer: TlsOffer,
    what: &str,
) -> Result<String, Finding> {
    match probe(addr, identity, psk, offer, None).await {
        Ok(p) => Err(Finding::Fail(format!(
            "{what}: the handshake succeeded ({} {})",
            p.tls.0, p.tls.1
        ))),
        Err(Finding::Fail(why)) => Ok(why),
        Err(f) => Err(f),
    }
}

fn tls12(ciphers: &str) -> TlsOffer {
    TlsOffer {
        version: SslVersion::TLS1_2,
        ciphers: ciphers.into(),
    }
}

/// Checks that a push SMS is concatenated and cut exactly as wire-profile §2 cuts a command packet (the one
/// segmenter of es-interfaces with the packet's own reference number): `07 70 00 00 03 ref n 01`, then
/// `05 00 03 ref n i`, 140-byte TP-UDs but the last. Returns the number of SMS.
fn concatenated(p: &Packet) -> Result<usize, String> {
    let reference = p
        .tp_uds
        .first()
        .and_then(|ud| ud.get(5))
        .copied()
        .unwrap_or(0);
    let want = sms::to_tp_uds(PacketKind::Command, &p.bytes, reference)
        .map_err(|e| format!("the packet cannot be cut into SMS: {e}"))?;
    if p.tp_uds.len() < 2 || p.tp_uds != want {
        return Err(format!(
            "the {}-byte packet came in {} SMS ({}), wire-profile §2/§3 say concatenated SMS cut as {}",
            p.bytes.len(),
            p.tp_uds.len(),
            p.tp_uds
                .iter()
                .map(hex::encode_upper)
                .collect::<Vec<_>>()
                .join(" / "),
            want.iter()
                .map(hex::encode_upper)
                .collect::<Vec<_>>()
                .join(" / ")
        ));
    }
    Ok(p.tp_uds.len())
}

/// Checks one push SMS to eUICC `i` byte by byte against wire-profile §3; returns a summary.
fn check_push(ctx: &Ctx, i: usize, p: &Push) -> Result<String, Finding> {
    let e = &ctx.world.euiccs[i];
    let fail = |why: String| Finding::Fail(format!("push SMS to {}: {why}", p.packet.msisdn));
    let tar = wire_profile::default_tar(&wire_profile::ISD_R_AID)
        .ok_or_else(|| Finding::Inconclusive("no TAR for the ISD-R AID".into()))?;
    let h = &p.opened.header;
    if h.tar != tar || h.spi.to_bytes() != wire_profile::ES5_COMMAND_SPI {
        return Err(fail(format!(
            "TAR {} SPI {}, wire-profile §3 says an SCP80 command to the ISD-R TAR {} (SPI {})",
            hex::encode_upper(h.tar),
            hex::encode_upper(h.spi.to_bytes()),
            hex::encode_upper(tar),
            hex::encode_upper(wire_profile::ES5_COMMAND_SPI)
        )));
    }
    let data = &p.opened.data;
    let t = p.trigger.as_ref().map_err(|why| {
        fail(format!(
            "the secured data {} is no triggering TLV of wire-profile §3: {why}",
            hex::encode_upper(data)
        ))
    })?;
    // The one encoder of es-interfaces gives the same bytes back: minimal lengths, upper-case identity, nothing
    // else in the secured data.
    let again = t
        .to_bytes()
        .map_err(|e| fail(format!("the trigger does not encode again: {e}")))?;
    if &again != data {
        return Err(fail(format!(
            "the secured data {} is not the canonical triggering TLV {} (lengths, identity case, trailing bytes)",
            hex::encode_upper(data),
            hex::encode_upper(&again)
        )));
    }
    let want = identity_of(&e.eid, e.scp81_kvn)?;
    let id = &t.identity;
    if id.eid != want.eid || id.isd_r_aid != want.isd_r_aid || id.kvn != want.kvn {
        return Err(fail(format!(
            "85 names EID {} ISD-R {} KVN {:02X}, expected the eUICC's EID, ISD-R AID {} and SCP81 KVN {:02X}",
            id.eid_text(),
            hex::encode_upper(&id.isd_r_aid),
            id.kvn,
            hex::encode_upper(wire_profile::ISD_R_AID),
            e.scp81_kvn
        )));
    }
    let agent = AdminFrom {
        eid: want.eid,
        aid: wire_profile::ISD_R_AID.to_vec(),
    }
    .to_header()
    .ok_or_else(|| Finding::Inconclusive("X-Admin-From of the ISD-R".into()))?;
    if t.agent_id != agent {
        return Err(fail(format!(
            "8B agent id {:?}, wire-profile §3 says the X-Admin-From value {agent:?}",
            t.agent_id
        )));
    }
    let c = &t.connection;
    if c.port == 0 || !t.admin_uri.starts_with('/') || t.host.is_empty() {
        return Err(fail(format!(
            "84/89: port {}, host {:?}, admin URI {:?} (a TCP port, a host and an absolute path expected)",
            c.port, t.host, t.admin_uri
        )));
    }
    let n = concatenated(&p.packet).map_err(fail)?;
    Ok(format!(
        "SPI/TAR of the ISD-R, {}-byte packet in {n} concatenated SMS, 81 {{ 83 {{ 84 (bearer {}, buffer {}, TCP {}, IPv4 {}), 85 (identity of the \
         eUICC, KVN {:02X}, key {}), 86 (retries {}, timer {:02}:{:02}:{:02}), 89 (host {:?}, agent id, URI {:?}) }} }}",
        p.packet.bytes.len(),
        hex::encode_upper(&c.bearer),
        c.buffer_size,
        c.port,
        std::net::Ipv4Addr::from(c.ipv4),
        id.kvn,
        id.key_id,
        t.retry.counter,
        t.retry.timer[0],
        t.retry.timer[1],
        t.retry.timer[2],
        t.host,
        t.admin_uri
    ))
}

/// The PoRs eUICC `i` sent during the case to the command of counter `counter`: (status, data).
fn pors_to(ctx: &Ctx, i: usize, counter: u64) -> Result<Vec<(PorStatus, Vec<u8>)>, Finding> {
    let log = sms_since(ctx, Some(ctx.case_started()))?;
    let spi = scp80::Spi::from_bytes(wire_profile::ES5_COMMAND_SPI)
        .map_err(|e| Finding::Inconclusive(e.to_string()))?;
    let tar = wire_profile::default_tar(&wire_profile::ISD_R_AID)
        .ok_or_else(|| Finding::Inconclusive("no TAR for the ISD-R AID".into()))?;
    let (kvn, keys) = keys_of(ctx, i)?;
    let k = wire_profile::aes_kic_kid(kvn).unwrap_or_default();
    let mut out = Vec::new();
    for p in packets(&log, false)
        .map_err(|e| Finding::Inconclusive(format!("the suite's own MO SMS: {e}")))?
        .into_iter()
        .filter(|p| p.kind == PacketKind::Response)
    {
        if euicc_of(ctx, &p)? != i {
            continue;
        }
        if let Ok(r) = scp80::open_por(&p.bytes, &spi, scp80::Kic(k), scp80::Kid(k), &keys, tar)
            && r.counter.value() == counter
        {
            out.push((r.status, r.data));
        }
    }
    Ok(out)
}

/// ES5-HTTPS-01: the push SMS byte by byte, its PoR, the session after it (wire-profile §3).
pub(super) fn push_sms(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        let (i, eid) = https_euicc(ctx)?;
        let cb = audit_of(ctx, &eid, "https-push").await?;
        expect(200, &cb.envelope, 200, Status::ExecutedSuccess, None).map_err(|f| match f {
            Finding::Fail(why) => Finding::Inconclusive(format!("precondition: AuditEIS: {why}")),
            f => f,
        })?;
        let (pushes, _) = commands_to(ctx, i, Some(ctx.case_started()))?;
        let first = pushes.first().ok_or_else(|| {
            Finding::Fail(format!(
                "no push SMS (secured data 81 …) reached eUICC {} during the case",
                i + 1
            ))
        })?;
        let mut summary = String::new();
        let mut answered = 0;
        for p in &pushes {
            summary = check_push(ctx, i, p)?;
            let pors = pors_to(ctx, i, p.opened.header.counter.value())?;
            if pors
                .iter()
                .any(|(s, d)| *s == PorStatus::Ok && d.is_empty())
            {
                answered += 1;
            }
        }
        if answered == 0 {
            return Err(Finding::Inconclusive(
                "the simulated eUICC answered no push SMS with PoR 00 and no data".into(),
            ));
        }
        let sessions = sessions_when(ctx, &eid, first.packet.at, delivered).await?;
        if !delivered(&sessions) {
            return Err(Finding::Fail(format!(
                "no admin session with a script followed the push SMS (sessions: {:?})",
                sessions.iter().map(|s| &s.error).collect::<Vec<_>>()
            )));
        }
        Ok(format!(
            "{} push SMS, each: {summary}; {answered} answered by PoR 00 without data; the eUICC connected and got \
             its script",
            pushes.len()
        ))
    })
}

/// Checks one answer of the admin server against wire-profile §3: `X-Admin-Protocol`; `200` with the script
/// content type, a relative Next-URI with a query, no `X-Admin-Targeted-Application` (the AuditEIS script targets
/// the ISD-R) and an `AE 80 … 00 00` body, or `204` without Next-URI and body. Returns the script.
fn check_answer(m: &AdminMessage) -> Result<Option<CommandScript>, String> {
    if m.header("X-Admin-Protocol") != Some(wire_profile::ADMIN_PROTOCOL) {
        return Err(format!(
            "{:?}: X-Admin-Protocol {:?}, wire-profile §3 says {:?} on every answer",
            m.start_line,
            m.header("X-Admin-Protocol"),
            wire_profile::ADMIN_PROTOCOL
        ));
    }
    match m.status() {
        Some(204) => {
            if m.header("X-Admin-Next-URI").is_some() || !m.body.is_empty() {
                return Err("the 204 carries a Next-URI or a body".into());
            }
            Ok(None)
        }
        Some(200) => {
            if m.header("Content-Type") != Some(wire_profile::CONTENT_TYPE_SCRIPT) {
                return Err(format!(
                    "Content-Type {:?}, wire-profile §3 says {:?}",
                    m.header("Content-Type"),
                    wire_profile::CONTENT_TYPE_SCRIPT
                ));
            }
            let next = m.header("X-Admin-Next-URI").unwrap_or_default();
            if !next.starts_with('/') || next.starts_with("//") || !next.contains('?') {
                return Err(format!(
                    "X-Admin-Next-URI {next:?}: wire-profile §3 says a relative URI with a query"
                ));
            }
            if let Some(t) = m.header("X-Admin-Targeted-Application") {
                return Err(format!(
                    "X-Admin-Targeted-Application {t:?} on a script for the ISD-R (only ISD-P targets carry it)"
                ));
            }
            let script = CommandScript::parse_expanded(&m.body)
                .map_err(|e| format!("body {}: {e}", hex::encode_upper(&m.body)))?;
            let again = script.to_expanded_indefinite().map_err(|e| e.to_string())?;
            if again != m.body {
                return Err(format!(
                    "body {} is not AE 80 {{ 22 L <C-APDU> … }} 00 00",
                    hex::encode_upper(&m.body)
                ));
            }
            Ok(Some(script))
        }
        _ => Err(format!(
            "the server answered {:?} (200 or 204 expected)",
            m.start_line
        )),
    }
}

/// The profiles of an EIS as (ICCID, state), sorted.
fn states(eis: &es_interfaces::messages::eis::Eis) -> Vec<(String, ProfileState)> {
    let mut v: Vec<_> = eis
        .profile_info
        .iter()
        .map(|p| (p.iccid.to_string(), p.state))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// ES5-HTTPS-02: the admin server's answers during AuditEIS over HTTPS, the result and the EIS after it.
pub(super) fn dialogue(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        let (i, eid) = https_euicc(ctx)?;
        let start = ctx.case_started();
        let cb = audit_of(ctx, &eid, "https-dialogue").await?;
        let seen = expect(200, &cb.envelope, 200, Status::ExecutedSuccess, None)?;
        let (_, by_sms) = commands_to(ctx, i, Some(start))?;
        if !by_sms.is_empty() {
            return Err(Finding::Fail(format!(
                "{} command packet(s) went to the HTTPS eUICC by SMS during the case",
                by_sms.len()
            )));
        }
        let sessions: Vec<LoggedSession> = sessions_when(ctx, &eid, start, delivered)
            .await?
            .into_iter()
            .filter(|s| s.error.is_none() && s.report.scripts > 0)
            .collect();
        if sessions.is_empty() {
            return Err(Finding::Fail(
                "no admin session delivered a script during the case".into(),
            ));
        }
        let (mut answers, mut audits) = (0, 0);
        for s in &sessions {
            let last = s.report.messages.last();
            if last.is_none_or(|m| m.from_card || m.status() != Some(204)) {
                return Err(Finding::Fail(format!(
                    "the session did not end with 204 (last: {:?})",
                    last.map(|m| &m.start_line)
                )));
            }
            for m in s.report.messages.iter().filter(|m| !m.from_card) {
                answers += 1;
                let script = check_answer(m).map_err(Finding::Fail)?;
                if let Some(first) = script.as_ref().and_then(|s| s.commands.first()) {
                    let bytes = first
                        .to_bytes()
                        .map_err(|e| Finding::Fail(format!("C-APDU: {e}")))?;
                    if bytes == AUDIT_GET_STATUS {
                        audits += 1;
                    }
                }
            }
        }
        if audits == 0 {
            return Err(Finding::Fail(format!(
                "no script of the case starts with the GET STATUS {} of wire-profile §4",
                hex::encode_upper(AUDIT_GET_STATUS)
            )));
        }
        let audited = decode::<es4::AuditEisResponse>(&cb.envelope)?
            .eis
            .ok_or_else(|| Finding::Fail("the AuditEIS callback has no Eis".into()))?;
        let out = ctx
            .es4(
                0,
                &es4::GetEisRequest {
                    base: base(&ctx.fci("https-dialogue-eis"), None),
                    eid: parse("EID", &eid)?,
                },
            )
            .await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let after = decode::<es4::GetEisResponse>(&out.envelope)?
            .eis
            .ok_or_else(|| Finding::Fail("the GetEIS answer has no Eis".into()))?;
        if states(&audited) != states(&after) {
            return Err(Finding::Fail(format!(
                "the EIS after the audit {:?} differs from what the audit reported {:?}",
                states(&after),
                states(&audited)
            )));
        }
        Ok(format!(
            "{} session(s), {answers} answer(s) as wire-profile §3 (X-Admin-Protocol, content type, relative \
             Next-URI, no targeted application for the ISD-R, AE 80 … 00 00, 204 ends), the GET STATUS of AuditEIS \
             over HTTPS; callback {seen}; the EIS after it agrees ({} profile(s))",
            sessions.len(),
            states(&after).len()
        ))
    })
}

/// ES5-HTTPS-03: TLS 1.2 only, the two PSK suites only (wire-profile §3).
pub(super) fn tls(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (i, eid) = https_euicc(ctx)?;
        let addr = admin_address(ctx, i)?;
        let run_start = ctx.run_started();
        let negotiated: Vec<(String, String)> = sessions_of(ctx, &eid, run_start)?
            .into_iter()
            .filter_map(|s| s.report.tls)
            .collect();
        if negotiated.is_empty() {
            return Err(Finding::Inconclusive(
                "no admin session of the HTTPS eUICC completed a handshake in the run".into(),
            ));
        }
        if let Some(bad) = negotiated
            .iter()
            .find(|(v, c)| v != "TLSv1.2" || !SUITES.contains(&c.as_str()))
        {
            return Err(Finding::Fail(format!(
                "an eUICC session negotiated {} {}",
                bad.0, bad.1
            )));
        }
        let (identity, psk) = credentials(ctx, i)?;
        for suite in SUITES {
            let p = probe(addr, identity.clone(), psk.clone(), tls12(suite), None)
                .await
                .map_err(|f| match f {
                    Finding::Fail(why) => Finding::Fail(format!(
                        "TLS 1.2 offering only {suite}: the handshake failed: {why}"
                    )),
                    f => f,
                })?;
            if p.tls != ("TLSv1.2".to_string(), suite.to_string()) {
                return Err(Finding::Fail(format!(
                    "offering only TLS 1.2 {suite}, the server chose {} {}",
                    p.tls.0, p.tls.1
                )));
            }
        }
        refused(
            addr,
            identity.clone(),
            psk.clone(),
            tls12(OTHER_PSK_SUITES),
            "TLS 1.2 with PSK suites outside wire-profile §3",
        )
        .await?;
        refused(
            addr,
            identity,
            psk,
            TlsOffer {
                version: SslVersion::TLS1_3,
                ciphers: String::new(),
            },
            "TLS 1.3 only",
        )
        .await?;
        Ok(format!(
            "{} eUICC session(s) on TLS 1.2 with a suite of §3; the suite's client: TLS 1.2 with each of {} accepted, \
             other PSK suites and TLS 1.3 refused in the handshake",
            negotiated.len(),
            SUITES.join(" and ")
        ))
    })
}

/// ES5-HTTPS-04: a wrong PSK and an unknown identity refused in the handshake (wire-profile §3).
pub(super) fn wrong_psk(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (i, _) = https_euicc(ctx)?;
        let addr = admin_address(ctx, i)?;
        let (identity, psk) = credentials(ctx, i)?;
        let mut wrong = psk.clone();
        if let Some(b) = wrong.first_mut() {
            *b ^= 0x01;
        }
        let kvn = ctx.world.euiccs[i].scp81_kvn;
        let unknown = identity_of(UNKNOWN_EID, kvn)?
            .to_text()
            .map_err(|e| Finding::Inconclusive(format!("PSK identity: {e}")))?;
        let request = first_post(ctx, i)?;
        let mut seen = Vec::new();
        for (what, id, key) in [
            ("a wrong PSK", identity.clone(), wrong),
            ("an unknown PSK identity", unknown, psk.clone()),
        ] {
            match probe(
                addr,
                id,
                key,
                tls12(wire_profile::SCP81_CIPHER_LIST),
                Some(request.clone()),
            )
            .await
            {
                Ok(p) => {
                    return Err(Finding::Fail(format!(
                        "{what}: the handshake succeeded and the POST was answered {:?}",
                        p.answer.map(|a| a.start_line)
                    )));
                }
                Err(Finding::Fail(why)) => seen.push(format!("{what}: {why}")),
                Err(f) => return Err(f),
            }
        }
        // The same connection with the right key succeeds: the refusals were the key's and the identity's.
        probe(
            addr,
            identity,
            psk,
            tls12(wire_profile::SCP81_CIPHER_LIST),
            None,
        )
        .await
        .map_err(|f| match f {
            Finding::Fail(why) => Finding::Inconclusive(format!(
                "the handshake with the eUICC's own PSK fails too: {why}"
            )),
            f => f,
        })?;
        Ok(format!(
            "refused in the handshake, no HTTP exchange: {}; the eUICC's own key connects",
            seen.join("; ")
        ))
    })
}

/// The opening POST of a session of eUICC `i` (wire-profile §3: empty body), closing after the answer.
fn first_post(ctx: &Ctx, i: usize) -> Result<Vec<u8>, Finding> {
    let from = admin_from(ctx, i)?;
    Ok(format!(
        "POST /gp/ram HTTP/1.1\r\nHost: localhost\r\nX-Admin-Protocol: {}\r\nX-Admin-From: {from}\r\n\
         Connection: close\r\nContent-Length: 0\r\n\r\n",
        wire_profile::ADMIN_PROTOCOL
    )
    .into_bytes())
}

fn admin_from(ctx: &Ctx, i: usize) -> Result<String, Finding> {
    let id = identity_of(&ctx.world.euiccs[i].eid, 0)?;
    AdminFrom {
        eid: id.eid,
        aid: wire_profile::ISD_R_AID.to_vec(),
    }
    .to_header()
    .ok_or_else(|| Finding::Inconclusive("X-Admin-From of the ISD-R".into()))
}

/// ES5-HTTPS-05: a response to another session's Next-URI without X-Admin-Resume refused (wire-profile §3).
pub(super) fn stale_next_uri(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (i, eid) = https_euicc(ctx)?;
        let addr = admin_address(ctx, i)?;
        let next = sessions_of(ctx, &eid, ctx.run_started())?
            .into_iter()
            .filter(|s| s.error.is_none() && !s.report.cut)
            .flat_map(|s| s.report.messages)
            .filter_map(|m| m.header("X-Admin-Next-URI").map(str::to_string))
            .next_back()
            .ok_or_else(|| {
                Finding::Inconclusive(
                    "no Next-URI of an ended session of the HTTPS eUICC in the run (ES5-HTTPS-02 first)".into(),
                )
            })?;
        let (identity, psk) = credentials(ctx, i)?;
        let body = [0xAF, 0x80, 0x23, 0x02, 0x90, 0x00, 0x00, 0x00];
        let mut request = format!(
            "POST {next} HTTP/1.1\r\nHost: localhost\r\nX-Admin-Protocol: {}\r\nX-Admin-From: {}\r\n\
             X-Admin-Script-Status: ok\r\nContent-Type: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            wire_profile::ADMIN_PROTOCOL,
            admin_from(ctx, i)?,
            wire_profile::CONTENT_TYPE_RESPONSE,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let p = probe(
            addr,
            identity,
            psk,
            tls12(wire_profile::SCP81_CIPHER_LIST),
            Some(request),
        )
        .await
        .map_err(|f| match f {
            Finding::Fail(why) => Finding::Inconclusive(format!(
                "the handshake with the eUICC's own PSK failed: {why}"
            )),
            f => f,
        })?;
        let answer = p
            .answer
            .ok_or_else(|| Finding::Inconclusive("no answer to the POST".into()))?;
        match answer.status() {
            Some(s) if (400..500).contains(&s) => Ok(format!(
                "a response script posted to the earlier session's Next-URI {next} (no X-Admin-Resume) is refused: \
                 {}",
                answer.start_line
            )),
            _ => Err(Finding::Fail(format!(
                "a response script posted to the earlier session's Next-URI {next} without X-Admin-Resume was \
                 answered {:?} (a refusal, 4xx, expected)",
                answer.start_line
            ))),
        }
    })
}

/// The start lines of each session's messages, for a finding.
fn session_lines(sessions: &[LoggedSession]) -> String {
    sessions
        .iter()
        .map(|s| {
            let lines: Vec<String> = s
                .report
                .messages
                .iter()
                .map(|m| match m.header("X-Admin-Resume") {
                    Some(r) => format!("{} (X-Admin-Resume: {r})", m.start_line),
                    None => m.start_line.clone(),
                })
                .collect();
            format!(
                "[{}{}]",
                lines.join(", "),
                s.error
                    .as_ref()
                    .map(|e| format!("; failed: {e}"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// ES5-HTTPS-06: X-Admin-Resume takes the undelivered response; the script is not sent again (wire-profile §3).
pub(super) fn resume(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        bound(ctx).await?;
        let (i, eid) = https_euicc(ctx)?;
        let start = ctx.case_started();
        let sim_eid = crate::euicc::Eid::parse(&eid)
            .map_err(|e| Finding::Inconclusive(format!("EID {eid}: {e}")))?;
        if !ctx
            .smsc()?
            .control(Control::CutNextSession {
                eid: sim_eid,
                cut: CutAt::AfterRunning(1),
            })
            .await
        {
            return Err(Finding::Inconclusive(
                "the simulated eUICCs have stopped".into(),
            ));
        }
        let cb = audit_of(ctx, &eid, "https-resume").await?;
        let seen = expect(200, &cb.envelope, 200, Status::ExecutedSuccess, None)?;
        // The resumed session, or a normal one after the cut, once it has ended.
        let sessions = sessions_when(ctx, &eid, start, |all| {
            all.iter().position(|s| s.report.cut).is_some_and(|c| {
                delivered(&all[c + 1..]) || all[c + 1..].iter().any(|s| s.error.is_none())
            })
        })
        .await?;
        let cut = sessions
            .iter()
            .find(|s| s.report.cut)
            .ok_or_else(|| Finding::Inconclusive("no session of the case was cut".into()))?;
        let undelivered = cut.report.resume.clone().ok_or_else(|| {
            Finding::Inconclusive("the cut session left no response to deliver".into())
        })?;
        let ran = cut
            .report
            .messages
            .iter()
            .rev()
            .find(|m| !m.from_card && m.status() == Some(200))
            .map(|m| m.body.clone())
            .ok_or_else(|| Finding::Inconclusive("the cut session received no script".into()))?;
        let resumed = sessions
            .iter()
            .filter(|s| s.at > cut.at)
            .find_map(|s| {
                let first = s.report.messages.first()?;
                (first.from_card
                    && first.header("X-Admin-Resume") == Some("true")
                    && first.start_line.contains(&undelivered.next_uri))
                .then(|| s.report.messages.get(1).cloned())
            })
            .ok_or_else(|| {
                Finding::Fail(format!(
                    "the eUICC never posted its undelivered response to {} with X-Admin-Resume: the SUT did not ask \
                     it to connect again (sessions of the case: {})",
                    undelivered.next_uri,
                    session_lines(&sessions)
                ))
            })?;
        let answer = resumed
            .ok_or_else(|| Finding::Fail("the POST with X-Admin-Resume got no answer".into()))?;
        if !matches!(answer.status(), Some(200 | 204)) {
            return Err(Finding::Fail(format!(
                "the response posted with X-Admin-Resume was answered {:?}",
                answer.start_line
            )));
        }
        let again = sessions
            .iter()
            .flat_map(|s| &s.report.messages)
            .filter(|m| !m.from_card && m.status() == Some(200) && m.body == ran)
            .count();
        if again != 1 {
            return Err(Finding::Fail(format!(
                "the script the card ran before the cut was sent {again} times (sessions of the case: {})",
                session_lines(&sessions)
            )));
        }
        let (_, by_sms) = commands_to(ctx, i, Some(start))?;
        if !by_sms.is_empty() {
            return Err(Finding::Fail(format!(
                "{} command packet(s) went to the eUICC by SMS after the cut",
                by_sms.len()
            )));
        }
        Ok(format!(
            "the session was cut after the card ran the script; the SUT asked it to connect again, took the \
             response posted with X-Admin-Resume ({}) and did not send the script again; callback {seen}",
            answer.start_line
        ))
    })
}
