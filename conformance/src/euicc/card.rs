//! One simulated eUICC: the ISD-R receiving SCP80 command packets and executing ES5 commands, its ISD-Ps, and
//! the profile switch, roll-back, fall-back and notification procedures (SGP.02 §3.2–§3.5, §5.7; wire-profile
//! §2, §4).

use certs::ecc::PublicKey;
use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::isdr::{
    self, Es5Command, Es5Function, ExtendedCardResources, IsdpStatus, KeyAgreement,
    KeyAgreementResponse,
};
use es_interfaces::isdr_key_set;
use es_interfaces::notification::{Notification, NotificationType};
use es_interfaces::routing;
use es_interfaces::scp80::{
    self, CommandHeader, Counter, CounterMode, Integrity, Kic, Kid, PorRequest, PorStatus,
    ResponsePacket, SecretKey, Spi,
};
use es_interfaces::scp81::SessionTrigger;
use es_interfaces::script::{CommandScript, CompactResponse, ResponseScript, ScriptError};
use es_interfaces::sms::{self, PacketKind, PushOutcome, Reassembler};
use es_interfaces::wire_profile::{self, ScriptForm};

use super::download::{self, Download, IsdpKeySet};
use super::ids::{Aid, Eid, Iccid, Imsi, Msisdn};
use super::keys::{EcasdKey, EuiccSecrets, IsdRKeySet, KeySets, KeySlot};
use super::{DownloadFaults, EuiccError, Event, HttpsTrigger, MoSms, Outputs, SimulatorConfig};
use crate::issuance::{self, IssuedProfile, Pol1, ProfileState};

/// Largest R-APDU data of a short response (ISO/IEC 7816-4 §5.1: Le up to 256), the limit for one GET STATUS
/// answer before `6310`.
const MAX_RESPONSE_DATA: usize = 256;
/// How many undone profile changes an eUICC remembers ([`Euicc::confirm`]).
const UNDONE_KEPT: usize = 8;

const FLAG_FALLBACK: u8 = 0x01;
const FLAG_DISABLE_NOT_ALLOWED: u8 = 0x02;
const FLAG_DELETE_NOT_ALLOWED: u8 = 0x04;
const FLAG_DELETE_WHEN_DISABLED: u8 = 0x08;
const FLAG_NO_COVERAGE: u8 = 0x10;

/// One ISD-P and its profile as the eUICC holds it (SGP.02 §2.2.1.2; EIS `ProfileInfo`).
#[derive(Debug, Clone)]
pub struct Isdp {
    aid: Aid,
    iccid: Option<Iccid>,
    msisdn: Option<Msisdn>,
    memory: u32,
    state: ProfileState,
    flags: u8,
    /// The profile's IMSI, known for a downloaded profile only.
    imsi: Option<Imsi>,
    /// SCP03 key set `30` from ES8 key establishment (wire-profile §5), boxed so that an ISD-P without one costs
    /// a pointer.
    keys: Option<Box<IsdpKeySet>>,
}

impl Isdp {
    /// The ISD-P AID (wire-profile §1).
    pub fn aid(&self) -> Aid {
        self.aid
    }

    /// The ICCID of its profile; `None` for an ISD-P created by CreateISDP without a profile.
    pub fn iccid(&self) -> Option<Iccid> {
        self.iccid
    }

    /// The MSISDN of its profile's subscription; `None` without a profile.
    pub fn msisdn(&self) -> Option<Msisdn> {
        self.msisdn
    }

    /// The IMSI of a profile installed by download (from its package's EF.IMSI).
    pub fn imsi(&self) -> Option<Imsi> {
        self.imsi
    }

    /// Whether ES8 key establishment gave it a key set, and that key set's SCP03 sequence counter
    /// (wire-profile §5, §7).
    pub fn scp03_counter(&self) -> Option<u32> {
        self.keys.as_ref().map(|k| k.counter())
    }

    /// Allocated memory in bytes (EIS `AllocatedMemory`).
    pub fn allocated_memory(&self) -> u32 {
        self.memory
    }

    /// Life-cycle state (SGP.02 §2.2.1.2; `9F70` of wire-profile §4).
    pub fn state(&self) -> ProfileState {
        self.state
    }

    /// Whether it carries the fall-back attribute (SGP.02 §3.5 / ES5.SetFallbackAttribute).
    pub fn fallback(&self) -> bool {
        self.flags & FLAG_FALLBACK != 0
    }

    /// Its POL1 rules (notes sgp02-interfaces §4.7).
    pub fn pol1(&self) -> Pol1 {
        Pol1 {
            disable_not_allowed: self.flags & FLAG_DISABLE_NOT_ALLOWED != 0,
            delete_not_allowed: self.flags & FLAG_DELETE_NOT_ALLOWED != 0,
            delete_when_disabled: self.flags & FLAG_DELETE_WHEN_DISABLED != 0,
        }
    }

    /// Whether its network can be attached to (the simulator's connectivity input).
    pub fn covered(&self) -> bool {
        self.flags & FLAG_NO_COVERAGE == 0
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    fn lifecycle(&self) -> isdr::IsdpState {
        match self.state {
            ProfileState::Created => isdr::IsdpState::Selectable,
            ProfileState::Disabled => isdr::IsdpState::Disabled,
            ProfileState::Enabled => isdr::IsdpState::Enabled,
        }
    }
}

/// What happened inside an eUICC (the simulator's observable side effects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// An MT SMS was dropped before any command ran (unparsable, not a command packet, reassembly failed or
    /// timed out).
    SmsDropped {
        /// Why.
        reason: String,
    },
    /// The secured data is not a remote command script; the PoR carries a Bad Format TLV (ETSI TS 102 226
    /// §5.2.2).
    ScriptRejected {
        /// Why.
        reason: String,
    },
    /// A command packet was refused before its script ran; the PoR status says why (ETSI TS 102 225 §5.1.5).
    PacketRefused {
        /// The PoR status.
        status: PorStatus,
    },
    /// One C-APDU of a script was executed (`function` is `None` for a command that is not ES5).
    CommandExecuted {
        /// The ES5 function.
        function: Option<Es5Function>,
        /// Its status word.
        sw: StatusWord,
    },
    /// An ISD-P changed state.
    ProfileStateChanged {
        /// The ISD-P.
        aid: Aid,
        /// Its new state.
        state: ProfileState,
    },
    /// The fall-back attribute moved to an ISD-P.
    FallbackAttributeSet {
        /// The ISD-P now carrying it.
        aid: Aid,
    },
    /// A profile package was installed in an ISD-P by download (wire-profile §7).
    ProfileInstalled {
        /// The ISD-P, now `Disabled`.
        aid: Aid,
        /// The package's ICCID.
        iccid: Iccid,
    },
    /// A downloaded profile package was refused with `profileInstallationAborted` (wire-profile §7).
    PackageRefused {
        /// The ISD-P, still `07`.
        aid: Aid,
        /// Why.
        reason: String,
    },
    /// An ISD-P was created by CreateISDP.
    ProfileCreated {
        /// The ISD-P.
        aid: Aid,
    },
    /// An ISD-P was deleted (by DeleteProfile, MasterDelete or POL1).
    ProfileDeleted {
        /// The ISD-P.
        aid: Aid,
        /// Whether POL1 "deletion mandatory when disabled" deleted it.
        by_pol1: bool,
    },
    /// The network attach with the enabled profile failed.
    AttachFailed {
        /// The ISD-P that could not attach.
        aid: Aid,
    },
    /// A notification was sent (or re-sent).
    NotificationSent {
        /// Its sequence number.
        sequence: u16,
        /// Its type.
        kind: NotificationType,
        /// 1 for the first send.
        attempt: u8,
    },
    /// A notification was due but the enabled profile has no coverage; the attempt counts.
    NotificationNotSent {
        /// Its sequence number.
        sequence: u16,
    },
    /// The SM-SR confirmed a notification.
    NotificationConfirmed {
        /// Its sequence number.
        sequence: u16,
    },
    /// A notification was never confirmed and the eUICC gave up.
    NotificationAbandoned {
        /// Its sequence number.
        sequence: u16,
    },
    /// EstablishISDRKeySet created a new ISD-R SCP80 key set (wire-profile §5b).
    IsdrKeySetCreated {
        /// Its key version number.
        kvn: u8,
        /// Its initial counter.
        initial_counter: u64,
    },
    /// FinaliseISDRHandover deleted an ISD-R SCP80 key set (wire-profile §5b step 5).
    IsdrKeySetDeleted {
        /// Its key version number.
        kvn: u8,
    },
    /// UpdateSMSRAddressingParameters changed where MO SMS go.
    SmsrAddressUpdated {
        /// The new SM-SR address.
        msisdn: Msisdn,
    },
    /// A PoR was not sent: the test fault [`DownloadFaults::lose_finalise_por`] lost it.
    PorLost,
    /// Encoding an outgoing packet failed (a bug; nothing was sent).
    InternalError {
        /// What failed.
        reason: String,
    },
}

/// Why a profile switch is under way (SGP.02 §3.2 enable, §3.3 disable, §3.2.2 roll-back, §3.5 fall-back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SwitchKind {
    Enable,
    Disable,
    Rollback,
    Fallback,
}

/// A switch waiting for the network attach outcome.
#[derive(Debug, Clone)]
struct Switch {
    kind: SwitchKind,
    target: Aid,
    previous: Aid,
    attach_at: u64,
}

/// A notification waiting for HandleNotificationConfirmation (SGP.02 §3.2, §5.7.11).
#[derive(Debug, Clone)]
struct PendingNotification {
    sequence: u16,
    kind: NotificationType,
    aid: Aid,
    /// The ISD-P the change disabled, to which POL1 "deletion mandatory when disabled" applies on confirmation.
    disabled: Option<Aid>,
    /// The profile to re-enable if the notification is never confirmed.
    rollback_to: Option<Aid>,
    attempts: u8,
    next_at: u64,
}

/// The ISD-R between `3A01` and `3A02` of SM-SR change: the new SM-SR's key from CERT.SR.ECDSA and the random
/// challenge it must sign (wire-profile §5b step 1).
#[derive(Debug)]
struct IsdrChallenge {
    sm_sr: PublicKey,
    challenge: [u8; 16],
}

#[derive(Debug)]
struct Reassembly {
    reassembler: Reassembler<()>,
    expires_at: u64,
}

/// Transient state, allocated only while something is under way, so an idle eUICC stays small.
#[derive(Debug, Default)]
struct Session {
    reassembly: Option<Reassembly>,
    switch: Option<Switch>,
    notifications: Vec<PendingNotification>,
    audit_cursor: Option<usize>,
    download: Option<Box<Download>>,
    isdr_challenge: Option<Box<IsdrChallenge>>,
}

impl Session {
    fn is_idle(&self) -> bool {
        self.reassembly.is_none()
            && self.switch.is_none()
            && self.notifications.is_empty()
            && self.audit_cursor.is_none()
            && self.download.is_none()
            && self.isdr_challenge.is_none()
    }

    fn next_deadline(&self) -> Option<u64> {
        let r = self.reassembly.as_ref().map(|r| r.expires_at);
        let s = self.switch.as_ref().map(|s| s.attach_at);
        let n = self.notifications.iter().map(|n| n.next_at).min();
        [r, s, n].into_iter().flatten().min()
    }
}

/// One simulated eUICC (SGP.02 §2.2.1): ISD-R with its SCP80 key set and counters, ECASD key, ISD-Ps.
#[derive(Debug)]
pub struct Euicc {
    eid: Eid,
    /// The ISD-R's SCP80 key sets, their counters and which one secures the notifications
    /// ([`wire_profile::NOTIFICATIONS_FOLLOW_ADDRESSING`]; several only during an SM-SR change, wire-profile §5b).
    key_sets: KeySets,
    scp81_kvn: u8,
    scp81_psk: SecretKey,
    ecasd: EcasdKey,
    tar: [u8; 3],
    next_sequence: u16,
    /// The sequence numbers of the last [`UNDONE_KEPT`] profile-change notifications (`02`) whose change this
    /// eUICC undid by rolling back for want of a confirmation: a late confirmation of one is refused.
    undone: Vec<u16>,
    next_sms_reference: u8,
    smsr_msisdn: Option<Msisdn>,
    isdps: Vec<Isdp>,
    faults: u8,
    session: Option<Box<Session>>,
}

/// Where a packet's PoR goes and how it is secured.
struct PorContext {
    spi: Spi,
    kic: Kic,
    kid: Kid,
    tar: [u8; 3],
    counter: Counter,
    from: Option<Msisdn>,
}

fn sw_ok(sw: StatusWord) -> bool {
    sw.is_success() || sw.is_warning()
}

fn respond(sw: StatusWord) -> ResponseApdu {
    ResponseApdu::new(Vec::new(), sw)
}

/// Decodes a TS 24.008 §10.5.4.7 address (TON/NPI byte, then swapped BCD with `F` filler) into an MSISDN.
fn decode_address(bytes: &[u8]) -> Option<Msisdn> {
    let (_ton_npi, digits) = bytes.split_first()?;
    let mut text = String::new();
    for b in digits {
        for nibble in [b & 0x0F, b >> 4] {
            match nibble {
                0..=9 => text.push(char::from(b'0' + nibble)),
                0x0F => {}
                _ => return None,
            }
        }
    }
    Msisdn::parse(&text).ok()
}

/// TS 102 226 §5.2.2 Bad Format type of a script that cannot be parsed: `01` unknown tag, `02` wrong length.
fn bad_format_code(e: &ScriptError) -> u8 {
    match e {
        ScriptError::WrongTemplate { .. } | ScriptError::UnexpectedTag { .. } => 0x01,
        _ => 0x02,
    }
}

impl Euicc {
    /// A factory-fresh eUICC with `secrets` and the `profiles` of [`crate::issuance`] (exactly one Enabled, at
    /// most one with the fall-back attribute) (SGP.02 §2.2.1; EIS at ES1.RegisterEIS).
    pub fn new(secrets: &EuiccSecrets, profiles: &[IssuedProfile]) -> Result<Euicc, EuiccError> {
        let bad = |reason| EuiccError::BadIssuance {
            eid: secrets.eid.to_string(),
            reason,
        };
        let mut isdps = Vec::with_capacity(profiles.len());
        for p in profiles {
            let aid = Aid::new(&p.isd_p_aid)?;
            if isdps.iter().any(|i: &Isdp| i.aid == aid) {
                return Err(bad("two profiles share an ISD-P AID"));
            }
            let mut flags = 0;
            for (on, flag) in [
                (p.fallback, FLAG_FALLBACK),
                (p.pol1.disable_not_allowed, FLAG_DISABLE_NOT_ALLOWED),
                (p.pol1.delete_not_allowed, FLAG_DELETE_NOT_ALLOWED),
                (p.pol1.delete_when_disabled, FLAG_DELETE_WHEN_DISABLED),
            ] {
                if on {
                    flags |= flag;
                }
            }
            isdps.push(Isdp {
                aid,
                iccid: Some(Iccid::parse(&p.iccid)?),
                msisdn: Some(Msisdn::parse(&p.msisdn)?),
                memory: p.allocated_memory,
                state: p.state,
                flags,
                imsi: None,
                keys: None,
            });
        }
        let count = |f: &dyn Fn(&Isdp) -> bool| isdps.iter().filter(|i| f(i)).count();
        if count(&|i| i.state == ProfileState::Enabled) != 1 {
            return Err(bad("exactly one profile must be Enabled"));
        }
        if count(&|i| i.fallback()) > 1 {
            return Err(bad("more than one profile has the fall-back attribute"));
        }
        let tar = wire_profile::default_tar(&wire_profile::ISD_R_AID)
            .ok_or(bad("the ISD-R AID has no TAR"))?;
        Ok(Euicc {
            eid: secrets.eid,
            key_sets: KeySets::new(secrets.isd_r.clone()),
            scp81_kvn: secrets.scp81_kvn,
            scp81_psk: secrets.scp81_psk.clone(),
            ecasd: secrets.ecasd.clone(),
            tar,
            next_sequence: 1,
            undone: Vec::new(),
            next_sms_reference: 0,
            smsr_msisdn: None,
            isdps,
            faults: 0,
            session: None,
        })
    }

    /// The EID (SGP.02 §2.2.2).
    pub fn eid(&self) -> Eid {
        self.eid
    }

    /// SK.ECASD.ECKA (SGP.02 §2.2.1.3).
    pub fn ecasd(&self) -> &EcasdKey {
        &self.ecasd
    }

    /// The SCP81 PSK of the ISD-R (wire-profile §3), for the card's PSK-TLS client.
    pub fn scp81_psk(&self) -> &[u8] {
        self.scp81_psk.expose()
    }

    /// The ISD-Ps in creation order (SGP.02 §2.2.1.2).
    pub fn isd_ps(&self) -> &[Isdp] {
        &self.isdps
    }

    /// The ISD-P with this AID (wire-profile §1).
    pub fn isd_p(&self, aid: &[u8]) -> Option<&Isdp> {
        self.isdps.iter().find(|i| i.aid.as_bytes() == aid)
    }

    /// The enabled ISD-P (SGP.02 §2.2.1.2: at most one).
    pub fn enabled(&self) -> Option<&Isdp> {
        self.isdps.iter().find(|i| i.state == ProfileState::Enabled)
    }

    /// The MSISDN through which the eUICC is reachable: the enabled profile's.
    pub fn enabled_msisdn(&self) -> Option<Msisdn> {
        self.enabled().and_then(|i| i.msisdn)
    }

    /// The last counter the ISD-R accepted from the SM-SR under the key set of its notifications, the current
    /// SM-SR's (ETSI TS 102 225 §5.1.1 CNTR).
    pub fn received_counter(&self) -> u64 {
        Counter(self.notification_key_set().received).value()
    }

    /// The counter of the ISD-R's last notification packet (wire-profile §4).
    pub fn sent_counter(&self) -> u64 {
        Counter(self.notification_key_set().sent).value()
    }

    /// The versions of the ISD-R's SCP80 key sets, oldest first (wire-profile §5b: two during an SM-SR change).
    pub fn isd_r_kvns(&self) -> Vec<u8> {
        self.key_sets.iter().map(|k| k.keys.kvn()).collect()
    }

    /// The last counter accepted from the SM-SR under key set `kvn`, if the ISD-R holds it (ETSI TS 102 225
    /// §5.1.1).
    pub fn received_counter_of(&self, kvn: u8) -> Option<u64> {
        self.key_sets.get(kvn).map(|k| Counter(k.received).value())
    }

    /// The key set the ISD-R's notifications are secured with (module keys; wire-profile §5b).
    fn notification_key_set(&self) -> &KeySlot {
        self.key_sets.notifying()
    }

    /// Sequence numbers and types of the notifications not yet confirmed (SGP.02 §5.7.11).
    pub fn pending_notifications(&self) -> Vec<(u16, NotificationType)> {
        self.session
            .as_ref()
            .map(|s| {
                s.notifications
                    .iter()
                    .map(|n| (n.sequence, n.kind))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a profile switch is waiting for its network attach outcome (SGP.02 §3.2).
    pub fn switch_in_progress(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.switch.is_some())
    }

    /// Where PoRs and notifications go: the address set by UpdateSMSRAddressingParameters, else the configured
    /// one (SGP.02 §5.7.10).
    pub fn smsr_address(&self, cfg: &SimulatorConfig) -> String {
        self.smsr_msisdn
            .map(|m| m.to_string())
            .unwrap_or_else(|| cfg.smsr_address.clone())
    }

    /// The earliest instant (ms) at which [`Euicc::poll`] has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        self.session.as_ref().and_then(|s| s.next_deadline())
    }

    fn take_session(&mut self) -> Session {
        self.session.take().map(|b| *b).unwrap_or_default()
    }

    fn put_session(&mut self, s: Session) {
        self.session = (!s.is_idle()).then(|| Box::new(s));
    }

    fn event(&self, out: &mut Outputs, kind: EventKind) {
        out.events.push(Event {
            eid: self.eid,
            kind,
        });
    }

    fn index_of(&self, aid: &[u8]) -> Option<usize> {
        self.isdps.iter().position(|i| i.aid.as_bytes() == aid)
    }

    fn enabled_index(&self) -> Option<usize> {
        self.isdps
            .iter()
            .position(|i| i.state == ProfileState::Enabled)
    }

    fn fallback_index(&self) -> Option<usize> {
        self.isdps.iter().position(|i| i.fallback())
    }

    fn set_state(&mut self, index: usize, state: ProfileState, out: &mut Outputs) {
        if let Some(i) = self.isdps.get_mut(index) {
            i.state = state;
            let aid = i.aid;
            self.event(out, EventKind::ProfileStateChanged { aid, state });
        }
    }

    /// Disables `from`, enables `to` and waits until `attach_at` for the attach outcome (SGP.02 §3.2: REFRESH
    /// and network attach after the switch).
    fn switch(
        &mut self,
        s: &mut Session,
        kind: SwitchKind,
        from: usize,
        to: usize,
        attach_at: u64,
        out: &mut Outputs,
    ) {
        self.set_state(from, ProfileState::Disabled, out);
        self.set_state(to, ProfileState::Enabled, out);
        s.switch = Some(Switch {
            kind,
            target: self.isdps[to].aid,
            previous: self.isdps[from].aid,
            attach_at,
        });
    }

    // -----------------------------------------------------------------------------------------------------------
    // Inputs
    // -----------------------------------------------------------------------------------------------------------

    /// Handles the TP-UD of one MT SMS delivered to this eUICC at `now` (ms): reassembly, SCP80 (TAR, CC,
    /// counter), script execution, PoR (3GPP TS 31.115 §4; ETSI TS 102 225 §5; wire-profile §2, §4).
    pub fn receive_sms(
        &mut self,
        cfg: &SimulatorConfig,
        tp_ud: &[u8],
        now: u64,
        out: &mut Outputs,
    ) {
        let mut s = self.take_session();
        let from = self.enabled_msisdn();
        let assembled = match sms::Segment::parse(tp_ud) {
            Err(e) => Err(e.to_string()),
            Ok(seg) if seg.concatenation.is_none() => match seg.kind {
                Some(kind) => Ok(Some((kind, seg.payload))),
                None => Err("no command packet identifier in the UDH".to_string()),
            },
            Ok(_) => {
                let r = s.reassembly.get_or_insert_with(|| Reassembly {
                    reassembler: Reassembler::new(cfg.max_concatenated_parts, 4),
                    expires_at: now.saturating_add(cfg.reassembly_timeout_ms),
                });
                match r.reassembler.push((), tp_ud) {
                    Err(e) => Err(e.to_string()),
                    Ok(PushOutcome::Complete(a)) => Ok(Some((a.kind, a.packet))),
                    Ok(PushOutcome::Pending { .. } | PushOutcome::Duplicate { .. }) => Ok(None),
                }
            }
        };
        if s.reassembly
            .as_ref()
            .is_some_and(|r| r.reassembler.pending_len() == 0)
        {
            s.reassembly = None;
        }
        match assembled {
            Err(reason) => self.event(out, EventKind::SmsDropped { reason }),
            Ok(None) => {}
            Ok(Some((PacketKind::Response, _))) => self.event(
                out,
                EventKind::SmsDropped {
                    reason: "a response packet is not for the eUICC".to_string(),
                },
            ),
            Ok(Some((PacketKind::Command, packet))) => {
                self.process_packet(&mut s, cfg, &packet, from, now, out)
            }
        }
        self.put_session(s);
    }

    /// Runs what is due at `now` (ms): reassembly timeouts, network attach outcomes, notification (re)sends.
    pub fn poll(&mut self, cfg: &SimulatorConfig, now: u64, out: &mut Outputs) {
        let mut s = self.take_session();
        if s.reassembly.as_ref().is_some_and(|r| r.expires_at <= now) {
            s.reassembly = None;
            self.event(
                out,
                EventKind::SmsDropped {
                    reason: "concatenated SMS incomplete at the reassembly timeout".to_string(),
                },
            );
        }
        if let Some(sw) = s.switch.take_if(|sw| sw.attach_at <= now) {
            self.attach_outcome(&mut s, cfg, sw, now, out);
        }
        let due: Vec<u16> = s
            .notifications
            .iter()
            .filter(|n| n.next_at <= now)
            .map(|n| n.sequence)
            .collect();
        for sequence in due {
            self.notification_due(&mut s, cfg, sequence, now, out);
        }
        self.put_session(s);
    }

    /// The download faults switched on ([`DownloadFaults`]).
    pub fn download_faults(&self) -> DownloadFaults {
        DownloadFaults::from_bits(self.faults)
    }

    /// Switches download faults on or off for the ISD-Ps of this eUICC (wire-profile §5, §7; test input).
    pub fn set_download_faults(&mut self, faults: DownloadFaults) {
        self.faults = faults.to_bits();
    }

    /// Sets whether the profile in ISD-P `aid` has network coverage. Losing it on the enabled profile starts
    /// the fall-back mechanism, POL1 of the failing profile notwithstanding (SGP.02 §3.5; notes §4.5).
    /// Returns `false` if there is no such ISD-P.
    pub fn set_coverage(
        &mut self,
        cfg: &SimulatorConfig,
        aid: &[u8],
        covered: bool,
        now: u64,
        out: &mut Outputs,
    ) -> bool {
        let Some(index) = self.index_of(aid) else {
            return false;
        };
        self.isdps[index].set_flag(FLAG_NO_COVERAGE, !covered);
        let mut s = self.take_session();
        if !covered
            && s.switch.is_none()
            && self.isdps[index].state == ProfileState::Enabled
            && !self.isdps[index].fallback()
            && let Some(fb) = self
                .fallback_index()
                .filter(|f| self.isdps[*f].state == ProfileState::Disabled)
        {
            self.switch(
                &mut s,
                SwitchKind::Fallback,
                index,
                fb,
                now.saturating_add(cfg.attach_delay_ms),
                out,
            );
        }
        self.put_session(s);
        true
    }

    // -----------------------------------------------------------------------------------------------------------
    // SCP80
    // -----------------------------------------------------------------------------------------------------------

    fn process_packet(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        packet: &[u8],
        from: Option<Msisdn>,
        now: u64,
        out: &mut Outputs,
    ) {
        let p = match scp80::parse_command(packet) {
            Ok(p) => p,
            Err(e) => {
                self.event(
                    out,
                    EventKind::SmsDropped {
                        reason: format!("command packet header: {e}"),
                    },
                );
                return;
            }
        };
        let ctx = PorContext {
            spi: p.spi,
            kic: p.kic,
            kid: p.kid,
            tar: p.tar,
            counter: Counter([0; 5]),
            from,
        };
        // KIc and KID name one key set the ISD-R holds, else status `06` (wire-profile §5b step 4).
        let kvn = p.kic.kvn();
        let keys = self
            .key_sets
            .get(kvn)
            .filter(|_| p.kid.kvn() == kvn)
            .map(|k| k.keys.scp80());
        let keys = match keys {
            _ if p.tar != self.tar => Err(PorStatus::TarUnknown),
            None => Err(PorStatus::UnidentifiedSecurityError),
            Some(_)
                if !(p.spi.ciphering
                    && p.spi.integrity == Integrity::CryptographicChecksum
                    && matches!(p.spi.counter, CounterMode::Higher | CounterMode::OneHigher)) =>
            {
                Err(PorStatus::InsufficientSecurityLevel)
            }
            Some(keys) => Ok(keys),
        };
        let keys = match keys {
            Ok(keys) => keys,
            Err(status) => {
                self.event(out, EventKind::PacketRefused { status });
                self.send_por(cfg, &ctx, status, Vec::new(), false, out);
                return;
            }
        };
        let opened = match p.open(&keys) {
            Ok(o) => o,
            Err(e) => {
                let status = e.por_status();
                self.event(out, EventKind::PacketRefused { status });
                self.send_por(cfg, &ctx, status, Vec::new(), false, out);
                return;
            }
        };
        let ctx = PorContext {
            counter: opened.header.counter,
            ..ctx
        };
        let Some(slot) = self.key_sets.get_mut(kvn) else {
            return;
        };
        match scp80::check_counter(p.spi.counter, opened.header.counter, Counter(slot.received)) {
            Ok(next) => {
                if let Some(c) = next {
                    slot.received = c.0;
                }
            }
            Err(status) => {
                self.event(out, EventKind::PacketRefused { status });
                self.send_por(cfg, &ctx, status, Vec::new(), true, out);
                return;
            }
        }
        if opened.data.first() == Some(&wire_profile::SESSION_TRIGGER_TAG) {
            // The administration-session trigger (wire-profile §3): PoR 00 without data, then the card connects.
            let trigger = SessionTrigger::parse(&opened.data)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    if t.identity.eid == self.eid.0 && t.identity.kvn == self.scp81_kvn {
                        Ok(t)
                    } else {
                        Err("the trigger names another eUICC or key set".to_string())
                    }
                });
            match trigger {
                Ok(trigger) => out.https.push(HttpsTrigger {
                    eid: self.eid,
                    trigger,
                }),
                Err(reason) => self.event(out, EventKind::ScriptRejected { reason }),
            }
            self.send_por(cfg, &ctx, PorStatus::Ok, Vec::new(), true, out);
            return;
        }
        let data = self.run_script(s, cfg, &opened.data, kvn, now, out);
        if self.download_faults().lose_finalise_por && holds_finalise(cfg, &opened.data) {
            self.event(out, EventKind::PorLost);
            return;
        }
        self.send_por(cfg, &ctx, PorStatus::Ok, data, true, out);
    }

    /// Builds and sends the PoR as the SPI asks; `secured = false` answers without CC or ciphering, which the
    /// simulator does when the keys could not be used (ETSI TS 102 225 §5.2).
    fn send_por(
        &mut self,
        cfg: &SimulatorConfig,
        ctx: &PorContext,
        status: PorStatus,
        data: Vec<u8>,
        secured: bool,
        out: &mut Outputs,
    ) {
        let wanted = match ctx.spi.por {
            PorRequest::None => false,
            PorRequest::Always => true,
            PorRequest::OnError => status != PorStatus::Ok,
        };
        let Some(from) = ctx.from else {
            return;
        };
        if !wanted {
            return;
        }
        let spi = if secured {
            ctx.spi
        } else {
            Spi {
                por_ciphered: false,
                por_integrity: Integrity::None,
                ..ctx.spi
            }
        };
        let por = ResponsePacket {
            tar: ctx.tar,
            counter: ctx.counter,
            status,
            data,
        };
        // The key set of the command packet; an unsecured PoR (unknown key set) uses no key.
        let keys = self
            .key_sets
            .get(ctx.kic.kvn())
            .unwrap_or(self.key_sets.first())
            .keys
            .scp80();
        let built = scp80::build_por(&spi, ctx.kic, ctx.kid, &keys, &por)
            .map_err(|e| e.to_string())
            .and_then(|packet| self.segments(PacketKind::Response, &packet));
        match built {
            Ok(tp_uds) => self.emit_mo(cfg, from, tp_uds, out),
            Err(reason) => self.event(
                out,
                EventKind::InternalError {
                    reason: format!("PoR: {reason}"),
                },
            ),
        }
    }

    fn segments(&mut self, kind: PacketKind, packet: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let reference = self.next_sms_reference;
        let tp_uds = sms::to_tp_uds(kind, packet, reference).map_err(|e| e.to_string())?;
        if tp_uds.len() > 1 {
            self.next_sms_reference = reference.wrapping_add(1);
        }
        Ok(tp_uds)
    }

    fn emit_mo(
        &self,
        cfg: &SimulatorConfig,
        from: Msisdn,
        tp_uds: Vec<Vec<u8>>,
        out: &mut Outputs,
    ) {
        let from_msisdn = from.to_string();
        let to_address = self.smsr_address(cfg);
        out.mo.extend(tp_uds.into_iter().map(|tp_ud| MoSms {
            from_msisdn: from_msisdn.clone(),
            to_address: to_address.clone(),
            tp_ud,
        }));
    }

    // -----------------------------------------------------------------------------------------------------------
    // Remote command script (ETSI TS 102 226 §5)
    // -----------------------------------------------------------------------------------------------------------

    /// Executes the script and encodes the response in the card profile's form; execution stops after the
    /// first command whose status word is neither success nor warning (ETSI TS 102 226 §5.1.2, §5.2.2).
    fn run_script(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        data: &[u8],
        carrier: u8,
        now: u64,
        out: &mut Outputs,
    ) -> Vec<u8> {
        let form = cfg.card_profile.script_form;
        let script = match form {
            ScriptForm::Expanded => CommandScript::parse_expanded(data),
            ScriptForm::Compact => CommandScript::parse_compact(data),
        };
        let script = match script {
            Ok(script) => script,
            Err(e) => {
                self.event(
                    out,
                    EventKind::ScriptRejected {
                        reason: e.to_string(),
                    },
                );
                return match form {
                    ScriptForm::Expanded => ResponseScript {
                        executed: 0,
                        responses: Vec::new(),
                        bad_format: Some(vec![bad_format_code(&e)]),
                    }
                    .to_expanded()
                    .unwrap_or_default(),
                    ScriptForm::Compact => CompactResponse {
                        executed: 0,
                        sw: StatusWord::INCORRECT_DATA,
                        data: Vec::new(),
                    }
                    .to_bytes(),
                };
            }
        };
        let mut responses =
            self.run_commands(s, cfg, &script.commands, None, Some(carrier), now, out);
        match form {
            ScriptForm::Expanded => ResponseScript::new(responses)
                .and_then(|r| r.to_expanded())
                .unwrap_or_default(),
            ScriptForm::Compact => {
                let executed = responses.len() as u8;
                let last = responses
                    .pop()
                    .unwrap_or_else(|| ResponseApdu::new(Vec::new(), StatusWord::OK));
                CompactResponse {
                    executed,
                    sw: last.sw,
                    data: last.data,
                }
                .to_bytes()
            }
        }
    }

    /// Runs a script of an SCP81 admin session (wire-profile §3): `AE 80 … 00 00` for the ISD-R, or for the
    /// ISD-P `target` (`X-Admin-Targeted-Application`). Answers the `AF 80 … 00 00` response script, `Ok(None)`
    /// for a target the card does not have (`unknown-application`), or why the script is unreadable.
    pub fn run_https_script(
        &mut self,
        cfg: &SimulatorConfig,
        script: &[u8],
        target: Option<&[u8]>,
        now: u64,
        out: &mut Outputs,
    ) -> Result<Option<Vec<u8>>, String> {
        let routed = match target {
            None => None,
            Some(aid) if self.index_of(aid).is_some() => {
                Some(Aid::new(aid).map_err(|e| e.to_string())?)
            }
            Some(_) => return Ok(None),
        };
        let script = CommandScript::parse_expanded(script).map_err(|e| e.to_string())?;
        let mut s = self.take_session();
        let responses = self.run_commands(&mut s, cfg, &script.commands, routed, None, now, out);
        self.put_session(s);
        ResponseScript::new(responses)
            .and_then(|r| r.to_expanded_indefinite())
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// Executes `commands` in order, to the ISD-P `routed` or else the ISD-R, and stops after the first whose
    /// status word is neither success nor warning (ETSI TS 102 226 §5.2.2). `carrier` is the KVN of the SCP80
    /// key set of the command packet, `None` over SCP81.
    #[allow(clippy::too_many_arguments)]
    fn run_commands(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        commands: &[CommandApdu],
        mut routed: Option<Aid>,
        carrier: Option<u8>,
        now: u64,
        out: &mut Outputs,
    ) -> Vec<ResponseApdu> {
        let mut responses = Vec::new();
        // After INSTALL [for personalization] the rest of the script goes to that ISD-P (wire-profile §5).
        for c in commands.iter().take(usize::from(u8::MAX)) {
            let r = if let Some(aid) = routed {
                self.execute_for_isdp(s, cfg, aid, c, out)
            } else if let Some(aid) = routing::personalization_target(c) {
                let found = self.index_of(&aid).is_some();
                routed = Aid::new(&aid).ok().filter(|_| found);
                let r = respond(if found {
                    StatusWord::OK
                } else {
                    StatusWord::REFERENCED_DATA_NOT_FOUND
                });
                self.event(
                    out,
                    EventKind::CommandExecuted {
                        function: None,
                        sw: r.sw,
                    },
                );
                r
            } else {
                self.execute(s, cfg, c, carrier, now, out)
            };
            let stop = !sw_ok(r.sw);
            responses.push(r);
            if stop {
                break;
            }
        }
        responses
    }

    fn execute(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        c: &CommandApdu,
        carrier: Option<u8>,
        now: u64,
        out: &mut Outputs,
    ) -> ResponseApdu {
        let (function, r) = match Es5Command::from_apdu(c) {
            Err(isdr::IsdrError::NotEs5Command { cla, .. }) => (
                None,
                respond(if cla == es_interfaces::apdu::CLA_GP {
                    StatusWord::INS_NOT_SUPPORTED
                } else {
                    StatusWord::CLA_NOT_SUPPORTED
                }),
            ),
            Err(_) => (None, respond(StatusWord::INCORRECT_DATA)),
            Ok(cmd) => (
                Some(cmd.function()),
                self.execute_es5(s, cfg, cmd, carrier, now, out),
            ),
        };
        self.event(out, EventKind::CommandExecuted { function, sw: r.sw });
        r
    }

    /// A command routed to the ISD-P `aid` (ES8, wire-profile §5, §7): STORE DATA runs the download of
    /// [`download`]; any other instruction answers `6D00`. An installed package makes the ISD-P `Disabled` with
    /// the package's ICCID, IMSI and the subscriber directory's MSISDN.
    fn execute_for_isdp(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        aid: Aid,
        c: &CommandApdu,
        out: &mut Outputs,
    ) -> ResponseApdu {
        let r = match self.index_of(aid.as_bytes()) {
            Some(index)
                if c.cla == es_interfaces::apdu::CLA_GP
                    && c.ins == es_interfaces::apdu::INS_STORE_DATA =>
            {
                self.download_step(s, cfg, index, c, out)
            }
            Some(_) => respond(StatusWord::INS_NOT_SUPPORTED),
            None => respond(StatusWord::REFERENCED_DATA_NOT_FOUND),
        };
        self.event(
            out,
            EventKind::CommandExecuted {
                function: None,
                sw: r.sw,
            },
        );
        r
    }

    /// One STORE DATA of a download on ISD-P `index` (wire-profile §5, §7).
    fn download_step(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        index: usize,
        c: &CommandApdu,
        out: &mut Outputs,
    ) -> ResponseApdu {
        let aid = self.isdps[index].aid;
        let mut dl = s
            .download
            .take()
            .filter(|d| d.aid() == aid)
            .unwrap_or_else(|| Box::new(Download::new(aid)));
        let mut keys = self.isdps[index].keys.take();
        let isdps = &self.isdps;
        let in_use = |iccid: Iccid| isdps.iter().any(|i| i.iccid == Some(iccid));
        let ctx = download::Context {
            cfg,
            eid: self.eid,
            ecasd: &self.ecasd,
            faults: DownloadFaults::from_bits(self.faults),
            selectable: isdps[index].state == ProfileState::Created && isdps[index].iccid.is_none(),
            iccid_in_use: &in_use,
        };
        let outcome = dl.store_data(&ctx, &mut keys, c);
        self.isdps[index].keys = keys;
        if !dl.is_idle() {
            s.download = Some(dl);
        }
        if let Some(reason) = outcome.refused {
            self.event(out, EventKind::PackageRefused { aid, reason });
        }
        if let Some(installed) = outcome.installed {
            let isdp = &mut self.isdps[index];
            isdp.iccid = Some(installed.iccid);
            isdp.imsi = installed.imsi;
            isdp.msisdn = installed.imsi.and_then(|i| cfg.subscribers.msisdn(i));
            self.event(
                out,
                EventKind::ProfileInstalled {
                    aid,
                    iccid: installed.iccid,
                },
            );
            self.set_state(index, ProfileState::Disabled, out);
        }
        outcome.response
    }

    fn execute_es5(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        cmd: Es5Command,
        carrier: Option<u8>,
        now: u64,
        out: &mut Outputs,
    ) -> ResponseApdu {
        match cmd {
            Es5Command::EnableProfile { isd_p_aid } => {
                respond(self.enable(s, cfg, &isd_p_aid, now, out))
            }
            Es5Command::DisableProfile { isd_p_aid } => {
                respond(self.disable(s, cfg, &isd_p_aid, now, out))
            }
            Es5Command::SetFallbackAttribute { isd_p_aid } => {
                respond(self.set_fallback(&isd_p_aid, out))
            }
            Es5Command::UpdateSmsrAddressingParameters(p) => {
                let sw = match decode_address(&p.smsr_msisdn) {
                    None => StatusWord::INCORRECT_DATA,
                    Some(msisdn) => {
                        self.smsr_msisdn = Some(msisdn);
                        self.event(out, EventKind::SmsrAddressUpdated { msisdn });
                        StatusWord::OK
                    }
                };
                if sw == StatusWord::OK
                    && wire_profile::NOTIFICATIONS_FOLLOW_ADDRESSING
                    && let Some(kvn) = carrier
                {
                    self.key_sets.set_notifying(kvn);
                }
                respond(sw)
            }
            Es5Command::HandleNotificationConfirmation { sequence } => {
                self.confirm(s, sequence, out)
            }
            Es5Command::DeleteProfile { isd_p_aid } => {
                respond(self.delete(&isd_p_aid, None, carrier, out))
            }
            Es5Command::MasterDelete { isd_p_aid, token } => {
                respond(self.delete(&isd_p_aid, Some(&token), carrier, out))
            }
            Es5Command::AuditEis { continuation } => self.audit(s, continuation),
            Es5Command::GetExtendedCardResources => {
                let used: u32 = self.isdps.iter().map(|i| i.memory).sum();
                let resources = ExtendedCardResources {
                    installed_applications: self.isdps.len() as u32,
                    free_non_volatile_memory: issuance::AVAILABLE_MEMORY_FOR_PROFILES
                        .saturating_sub(used),
                    free_volatile_memory: cfg.free_volatile_memory,
                };
                match resources.to_bytes() {
                    Ok(data) => ResponseApdu::new(data, StatusWord::OK),
                    Err(_) => respond(StatusWord::INCORRECT_DATA),
                }
            }
            Es5Command::CreateIsdp {
                isd_p_aid,
                memory_quota,
            } => self.create(&isd_p_aid, memory_quota, out),
            Es5Command::EstablishIsdrKeySetCertificate { certificate } => {
                self.isdr_certificate(s, cfg, &certificate)
            }
            Es5Command::EstablishIsdrKeySetAgreement(ka) => self.isdr_agreement(s, &ka, out),
            Es5Command::FinaliseIsdrHandover { old_kvn } => {
                respond(self.finalise_handover(old_kvn, carrier, out))
            }
        }
    }

    /// ES5.EnableProfile (SGP.02 §5.7.2, §3.2): `6A88` unknown ISD-P; `6985` when a switch is under way, the
    /// target is enabled or has no profile, or POL1 of the enabled profile forbids disabling it.
    fn enable(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        aid: &[u8],
        now: u64,
        out: &mut Outputs,
    ) -> StatusWord {
        let Some(target) = self.index_of(aid) else {
            return StatusWord::REFERENCED_DATA_NOT_FOUND;
        };
        let Some(current) = self.enabled_index() else {
            return StatusWord::CONDITIONS_NOT_SATISFIED;
        };
        if s.switch.is_some()
            || self.isdps[target].state != ProfileState::Disabled
            || self.isdps[current].pol1().disable_not_allowed
        {
            return StatusWord::CONDITIONS_NOT_SATISFIED;
        }
        self.switch(
            s,
            SwitchKind::Enable,
            current,
            target,
            now.saturating_add(cfg.attach_delay_ms),
            out,
        );
        StatusWord::OK
    }

    /// ES5.DisableProfile (SGP.02 §5.7.3, §3.3): disables the enabled profile and enables the fall-back one;
    /// `6A88` unknown ISD-P; `6985` when the target is not enabled, carries the fall-back attribute, is protected
    /// by POL1, no fall-back profile can be enabled, or a switch is under way.
    fn disable(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        aid: &[u8],
        now: u64,
        out: &mut Outputs,
    ) -> StatusWord {
        let Some(target) = self.index_of(aid) else {
            return StatusWord::REFERENCED_DATA_NOT_FOUND;
        };
        let t = &self.isdps[target];
        let fallback = self
            .fallback_index()
            .filter(|f| self.isdps[*f].state == ProfileState::Disabled);
        match fallback {
            Some(fb)
                if s.switch.is_none()
                    && t.state == ProfileState::Enabled
                    && !t.fallback()
                    && !t.pol1().disable_not_allowed =>
            {
                self.switch(
                    s,
                    SwitchKind::Disable,
                    target,
                    fb,
                    now.saturating_add(cfg.attach_delay_ms),
                    out,
                );
                StatusWord::OK
            }
            _ => StatusWord::CONDITIONS_NOT_SATISFIED,
        }
    }

    /// ES5.SetFallbackAttribute (SGP.02 §5.7.7): moves the attribute to the target; `6A88` unknown ISD-P, `6985`
    /// for an ISD-P without a profile.
    fn set_fallback(&mut self, aid: &[u8], out: &mut Outputs) -> StatusWord {
        let Some(target) = self.index_of(aid) else {
            return StatusWord::REFERENCED_DATA_NOT_FOUND;
        };
        if self.isdps[target].state == ProfileState::Created {
            return StatusWord::CONDITIONS_NOT_SATISFIED;
        }
        for (i, isdp) in self.isdps.iter_mut().enumerate() {
            isdp.set_flag(FLAG_FALLBACK, i == target);
        }
        let aid = self.isdps[target].aid;
        self.event(out, EventKind::FallbackAttributeSet { aid });
        StatusWord::OK
    }

    /// ES5.DeleteProfile / ES5.MasterDelete (SGP.02 §5.7.4, §5.7.6; wire-profile §4): `6A88` unknown ISD-P;
    /// `6982` wrong delete token; `6985` for the enabled or fall-back profile, or POL1 "deletion not allowed"
    /// (which MasterDelete overrides). The token key comes from the key set `carrier` of the command packet (the
    /// notifications' key set over SCP81).
    fn delete(
        &mut self,
        aid: &[u8],
        token: Option<&[u8]>,
        carrier: Option<u8>,
        out: &mut Outputs,
    ) -> StatusWord {
        let Some(target) = self.index_of(aid) else {
            return StatusWord::REFERENCED_DATA_NOT_FOUND;
        };
        if let Some(token) = token {
            let slot = carrier
                .and_then(|kvn| self.key_sets.get(kvn))
                .unwrap_or(self.notification_key_set());
            let key = slot.keys.token_key(aid);
            if !matches!(isdr::verify_master_delete_token(&key, aid, token), Ok(true)) {
                return StatusWord::SECURITY_STATUS;
            }
        }
        let t = &self.isdps[target];
        if t.state == ProfileState::Enabled
            || t.fallback()
            || (token.is_none() && t.pol1().delete_not_allowed)
        {
            return StatusWord::CONDITIONS_NOT_SATISFIED;
        }
        let removed = self.isdps.remove(target);
        self.event(
            out,
            EventKind::ProfileDeleted {
                aid: removed.aid,
                by_pol1: false,
            },
        );
        StatusWord::OK
    }

    /// ES5.EstablishISDRKeySet `3A01` (SGP.02 §5.7.8; wire-profile §5b step 1): CERT.SR.ECDSA checked against the
    /// CI of [`SimulatorConfig::ci`] (`6A80` otherwise, and without a CI), then `85 10 <random challenge>`. The
    /// validity is checked against the host's clock, as for CERT.DP.ECDSA.
    fn isdr_certificate(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        certificate: &[u8],
    ) -> ResponseApdu {
        s.isdr_challenge = None;
        let Some(ci) = cfg.ci.as_ref() else {
            return respond(StatusWord::INCORRECT_DATA);
        };
        let Ok(cert) = certs::chain::check_smsr(ci, certificate, time::OffsetDateTime::now_utc())
        else {
            return respond(StatusWord::INCORRECT_DATA);
        };
        let challenge: [u8; 16] = rand::random();
        let Ok(data) = isdr::encode_random_challenge_response(&challenge) else {
            return respond(StatusWord::INCORRECT_DATA);
        };
        s.isdr_challenge = Some(Box::new(IsdrChallenge {
            sm_sr: cert.body().public_key.clone(),
            challenge,
        }));
        ResponseApdu::new(data, StatusWord::OK)
    }

    /// ES5.EstablishISDRKeySet `3A02` (SGP.02 §5.7.8; wire-profile §5b steps 2–4), checked in the order of
    /// [`wire_profile::ISD_R_AGREEMENT_WITHOUT_CHALLENGE`]: no `3A01` before it `6985`; a CRT other than that
    /// of a new key set, a KVN the ISD-R holds or an ephemeral key not on the ECASD's curve `6A80`; a signature
    /// that does not verify with CERT.SR.ECDSA's key `6982`. Then ECKA with SK.ECASD.ECKA gives the new key set
    /// (usable at once, counter = the initial counter) and `86 10 <receipt>` (its first byte inverted under the
    /// test fault [`DownloadFaults::wrong_receipt`]).
    fn isdr_agreement(
        &mut self,
        s: &mut Session,
        ka: &KeyAgreement,
        out: &mut Outputs,
    ) -> ResponseApdu {
        let Some(challenge) = s.isdr_challenge.take() else {
            return respond(wire_profile::ISD_R_AGREEMENT_WITHOUT_CHALLENGE);
        };
        let crt = isdr_key_set::check_crt(&ka.crt)
            .filter(|(kvn, _)| self.key_sets.get(*kvn).is_none())
            .filter(|_| ka.key_parameter_reference == self.ecasd.curve().key_parameter_reference());
        if crt.is_none() {
            return respond(StatusWord::INCORRECT_DATA);
        }
        let verified = ka
            .signed_data(&challenge.challenge)
            .ok()
            .is_some_and(|m| challenge.sm_sr.verify(&m, &ka.signature).is_ok());
        if !verified {
            return respond(StatusWord::SECURITY_STATUS);
        }
        let wrong_receipt = self.download_faults().wrong_receipt;
        let derived = PublicKey::from_sec1(self.ecasd.curve(), &ka.ephemeral_public_key)
            .ok()
            .and_then(|eph| self.ecasd.private_key().ok()?.ecka(&eph).ok())
            .and_then(|shs| isdr_key_set::key_set_and_receipt(shs.as_bytes(), ka).ok())
            .and_then(|(set, receipt)| {
                let keys = IsdRKeySet::new(
                    set.kvn,
                    set.kic.expose(),
                    set.kid.expose(),
                    set.kik.expose(),
                )
                .ok()?;
                let mut receipt = receipt.to_vec();
                if wrong_receipt {
                    receipt[0] ^= 0xFF;
                }
                let answer = KeyAgreementResponse {
                    derivation_random: None,
                    receipt,
                }
                .to_bytes()
                .ok()?;
                Some((keys, set.initial_counter, answer))
            });
        let Some((keys, initial_counter, answer)) = derived else {
            return respond(StatusWord::INCORRECT_DATA);
        };
        let kvn = keys.kvn();
        self.key_sets.push(KeySlot {
            keys,
            received: initial_counter.0,
            notifies: false,
            sent: Counter::from_u64(wire_profile::NEW_KEY_SET_NOTIFICATION_COUNTER)
                .unwrap_or(Counter([0; 5]))
                .0,
        });
        self.event(
            out,
            EventKind::IsdrKeySetCreated {
                kvn,
                initial_counter: initial_counter.value(),
            },
        );
        ResponseApdu::new(answer, StatusWord::OK)
    }

    /// ES5.FinaliseISDRHandover (SGP.02 §5.7.9; wire-profile §5b step 5): deletes key ids 1–3 of `old_kvn`, i.e.
    /// that key set; `6A88` for a KVN the ISD-R does not hold, [`wire_profile::FINALISE_REFUSED`] for the key set
    /// `carrier` of the command packet or the last one left. When the deleted key set secured the notifications,
    /// the carrier's takes over.
    fn finalise_handover(
        &mut self,
        old_kvn: u8,
        carrier: Option<u8>,
        out: &mut Outputs,
    ) -> StatusWord {
        let Some(notified) = self.key_sets.get(old_kvn).map(|k| k.notifies) else {
            return StatusWord::REFERENCED_DATA_NOT_FOUND;
        };
        if carrier == Some(old_kvn) || !self.key_sets.remove(old_kvn) {
            return wire_profile::FINALISE_REFUSED;
        }
        if notified {
            let next = carrier.unwrap_or(self.key_sets.first().keys.kvn());
            self.key_sets.set_notifying(next);
        }
        self.event(out, EventKind::IsdrKeySetDeleted { kvn: old_kvn });
        StatusWord::OK
    }

    /// ES5.CreateISDP (SGP.02 §5.7.1; GP Card Specification §11.5): `6A80` when the AID exists, `6A84` when the
    /// quota exceeds the free memory; answers `00` as INSTALL does.
    fn create(&mut self, aid: &[u8], quota: Option<u32>, out: &mut Outputs) -> ResponseApdu {
        let Ok(new_aid) = Aid::new(aid) else {
            return respond(StatusWord::INCORRECT_DATA);
        };
        if self.index_of(aid).is_some() {
            return respond(StatusWord::INCORRECT_DATA);
        }
        let used: u32 = self.isdps.iter().map(|i| i.memory).sum();
        let memory = quota.unwrap_or(0);
        if used.saturating_add(memory) > issuance::AVAILABLE_MEMORY_FOR_PROFILES {
            return respond(StatusWord::NOT_ENOUGH_MEMORY);
        }
        self.isdps.push(Isdp {
            aid: new_aid,
            iccid: None,
            msisdn: None,
            memory,
            state: ProfileState::Created,
            flags: 0,
            imsi: None,
            keys: None,
        });
        self.event(out, EventKind::ProfileCreated { aid: new_aid });
        ResponseApdu::new(vec![0x00], StatusWord::OK)
    }

    /// ES5.AuditEIS GET STATUS (SGP.02 §5.7.5; GP Card Specification §11.4): `E3` entries up to 256 bytes per
    /// answer, `6310` when more follow; a continuation without a preceding `6310` answers `6985`.
    fn audit(&mut self, s: &mut Session, continuation: bool) -> ResponseApdu {
        let start = match (continuation, s.audit_cursor) {
            (false, _) => 0,
            (true, Some(c)) => c,
            (true, None) => return respond(StatusWord::CONDITIONS_NOT_SATISFIED),
        };
        s.audit_cursor = None;
        let mut data = Vec::new();
        for (i, isdp) in self.isdps.iter().enumerate().skip(start) {
            let entry = match isdr::encode_audit_response(&[IsdpStatus {
                aid: isdp.aid.as_bytes().to_vec(),
                state: isdp.lifecycle(),
                fallback: isdp.fallback(),
            }]) {
                Ok(e) => e,
                Err(_) => return respond(StatusWord::INCORRECT_DATA),
            };
            if data.len() + entry.len() > MAX_RESPONSE_DATA {
                s.audit_cursor = Some(i);
                return ResponseApdu::new(data, StatusWord::MORE_DATA);
            }
            data.extend_from_slice(&entry);
        }
        ResponseApdu::new(data, StatusWord::OK)
    }

    /// ES5.HandleNotificationConfirmation (SGP.02 §5.7.11): stops the retries and, for a profile change,
    /// applies POL1 "deletion mandatory when disabled" to the now disabled profile unless it carries the
    /// fall-back attribute, listing it in the response (notes sgp02-interfaces §4.3). A sequence number already
    /// confirmed, or abandoned without undoing anything, answers `9000` with no data (a retransmitted
    /// confirmation whose PoR was lost); one never issued, or a profile change this eUICC rolled back for want
    /// of the confirmation, `6A88`: the confirmation cannot be verified any more, and a `9000` would tell the
    /// SM-SR that a change the card undid stands [P: wire-profile is silent on late confirmations].
    fn confirm(&mut self, s: &mut Session, sequence: u16, out: &mut Outputs) -> ResponseApdu {
        let Some(pos) = s.notifications.iter().position(|n| n.sequence == sequence) else {
            let issued =
                sequence != 0 && sequence < self.next_sequence && !self.undone.contains(&sequence);
            return respond(if issued {
                StatusWord::OK
            } else {
                StatusWord::REFERENCED_DATA_NOT_FOUND
            });
        };
        let n = s.notifications.remove(pos);
        self.event(out, EventKind::NotificationConfirmed { sequence });
        let mut deleted = Vec::new();
        if let Some(index) = n.disabled.and_then(|a| self.index_of(a.as_bytes())) {
            let isdp = &self.isdps[index];
            if isdp.state == ProfileState::Disabled
                && isdp.pol1().delete_when_disabled
                && !isdp.fallback()
            {
                let removed = self.isdps.remove(index);
                deleted.push(removed.aid.as_bytes().to_vec());
                self.event(
                    out,
                    EventKind::ProfileDeleted {
                        aid: removed.aid,
                        by_pol1: true,
                    },
                );
            }
        }
        match isdr::encode_notification_confirmation_response(&deleted) {
            Ok(data) => ResponseApdu::new(data, StatusWord::OK),
            Err(_) => respond(StatusWord::INCORRECT_DATA),
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // Attach outcome and notifications
    // -----------------------------------------------------------------------------------------------------------

    /// The network attach after a switch (SGP.02 §3.2.2): success sends the notification; failure rolls back to
    /// the previous profile (`03` when that one attaches), and a failed roll-back falls back to the fall-back
    /// profile (`05`).
    fn attach_outcome(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        sw: Switch,
        now: u64,
        out: &mut Outputs,
    ) {
        let (Some(target), Some(previous)) = (
            self.index_of(sw.target.as_bytes()),
            self.index_of(sw.previous.as_bytes()),
        ) else {
            return;
        };
        if self.isdps[target].state != ProfileState::Enabled {
            return;
        }
        if self.isdps[target].covered() {
            let (kind, disabled, rollback_to) = match sw.kind {
                SwitchKind::Enable | SwitchKind::Disable => (
                    NotificationType::ProfileChangeSucceeded,
                    Some(sw.previous),
                    Some(sw.previous),
                ),
                SwitchKind::Rollback => (
                    NotificationType::ProfileChangeFailedRollback,
                    Some(sw.previous),
                    None,
                ),
                // No POL1 deletion after a fall-back (notes sgp02-interfaces §4.5).
                SwitchKind::Fallback => (NotificationType::ProfileChangeAfterFallback, None, None),
            };
            let sequence = self.next_sequence;
            self.next_sequence = match self.next_sequence.wrapping_add(1) {
                0 => 1,
                n => n,
            };
            let mut n = PendingNotification {
                sequence,
                kind,
                aid: sw.target,
                disabled,
                rollback_to,
                attempts: 0,
                next_at: now,
            };
            self.send_notification(cfg, &mut n, now, out);
            // Usually the only one: no spare capacity per eUICC.
            s.notifications.reserve_exact(1);
            s.notifications.push(n);
            return;
        }
        self.event(out, EventKind::AttachFailed { aid: sw.target });
        match sw.kind {
            SwitchKind::Enable | SwitchKind::Disable => {
                if self.isdps[previous].state == ProfileState::Disabled {
                    self.switch(
                        s,
                        SwitchKind::Rollback,
                        target,
                        previous,
                        now.saturating_add(cfg.attach_delay_ms),
                        out,
                    );
                }
            }
            SwitchKind::Rollback => {
                if let Some(fb) = self
                    .fallback_index()
                    .filter(|f| *f != target && self.isdps[*f].state == ProfileState::Disabled)
                {
                    self.switch(
                        s,
                        SwitchKind::Fallback,
                        target,
                        fb,
                        now.saturating_add(cfg.attach_delay_ms),
                        out,
                    );
                }
            }
            SwitchKind::Fallback => {}
        }
    }

    /// Sends the notification as an SCP80 command packet of the ISD-R (SPI of the card profile, ISD-R key set
    /// and TAR, the eUICC's next counter, secured data `E1 …`) from the enabled profile's MSISDN (wire-profile
    /// §4). Each send, retries included, uses a fresh counter so the SM-SR's replay check accepts it.
    fn send_notification(
        &mut self,
        cfg: &SimulatorConfig,
        n: &mut PendingNotification,
        now: u64,
        out: &mut Outputs,
    ) {
        n.attempts = n.attempts.saturating_add(1);
        n.next_at = now.saturating_add(cfg.notification_retry_interval_ms);
        let from = self
            .enabled()
            .filter(|i| i.covered())
            .and_then(|i| i.msisdn);
        let Some(from) = from else {
            self.event(
                out,
                EventKind::NotificationNotSent {
                    sequence: n.sequence,
                },
            );
            return;
        };
        let built = self.notification_packet(cfg, n);
        match built {
            Ok(tp_uds) => {
                self.emit_mo(cfg, from, tp_uds, out);
                self.event(
                    out,
                    EventKind::NotificationSent {
                        sequence: n.sequence,
                        kind: n.kind,
                        attempt: n.attempts,
                    },
                );
            }
            Err(reason) => self.event(
                out,
                EventKind::InternalError {
                    reason: format!("notification {}: {reason}", n.sequence),
                },
            ),
        }
    }

    fn notification_packet(
        &mut self,
        cfg: &SimulatorConfig,
        n: &PendingNotification,
    ) -> Result<Vec<Vec<u8>>, String> {
        let data = Notification {
            eid: self.eid.0,
            kind: n.kind,
            isd_p_aid: n.aid.as_bytes().to_vec(),
            imei: None,
            meid: None,
            sequence: n.sequence,
        }
        .to_bytes()
        .map_err(|e| e.to_string())?;
        let slot = self.notification_key_set();
        let kvn = slot.keys.kvn();
        let key_byte = wire_profile::aes_kic_kid(kvn)
            .ok_or_else(|| format!("KVN {kvn:02X} is not an SCP80 KVN"))?;
        let counter = Counter(slot.sent)
            .next()
            .ok_or_else(|| "notification counter exhausted".to_string())?;
        let header = CommandHeader {
            spi: Spi::from_bytes(cfg.card_profile.notification_spi).map_err(|e| e.to_string())?,
            kic: Kic(key_byte),
            kid: Kid(key_byte),
            tar: self.tar,
            counter,
        };
        let packet =
            scp80::build_command(&header, &slot.keys.scp80(), &data).map_err(|e| e.to_string())?;
        if let Some(slot) = self.key_sets.get_mut(kvn) {
            slot.sent = counter.0;
        }
        self.segments(PacketKind::Command, &packet)
    }

    /// A notification's retry time has come: re-send it, or give up after `notification_max_attempts` sends
    /// and, for an unconfirmed profile change, roll back to the previous profile (notes sgp02-interfaces §4.3:
    /// without the confirmation the ISD-R "SHALL consider this as an error").
    fn notification_due(
        &mut self,
        s: &mut Session,
        cfg: &SimulatorConfig,
        sequence: u16,
        now: u64,
        out: &mut Outputs,
    ) {
        let Some(pos) = s.notifications.iter().position(|n| n.sequence == sequence) else {
            return;
        };
        if s.notifications[pos].attempts < cfg.notification_max_attempts {
            let mut n = s.notifications[pos].clone();
            self.send_notification(cfg, &mut n, now, out);
            s.notifications[pos] = n;
            return;
        }
        let n = s.notifications.remove(pos);
        self.event(out, EventKind::NotificationAbandoned { sequence });
        if !cfg.rollback_when_unconfirmed || s.switch.is_some() {
            return;
        }
        let target = self
            .index_of(n.aid.as_bytes())
            .filter(|t| self.isdps[*t].state == ProfileState::Enabled);
        let previous = n
            .rollback_to
            .and_then(|a| self.index_of(a.as_bytes()))
            .filter(|p| self.isdps[*p].state == ProfileState::Disabled);
        if let (Some(t), Some(p)) = (target, previous) {
            if self.undone.len() == UNDONE_KEPT {
                self.undone.remove(0);
            }
            self.undone.push(sequence);
            self.switch(
                s,
                SwitchKind::Rollback,
                t,
                p,
                now.saturating_add(cfg.attach_delay_ms),
                out,
            );
        }
    }
}

/// Whether the command script `data` holds FinaliseISDRHandover (test fault [`DownloadFaults::lose_finalise_por`]).
fn holds_finalise(cfg: &SimulatorConfig, data: &[u8]) -> bool {
    let script = match cfg.card_profile.script_form {
        ScriptForm::Expanded => CommandScript::parse_expanded(data),
        ScriptForm::Compact => CommandScript::parse_compact(data),
    };
    script.is_ok_and(|s| {
        s.commands.iter().any(|c| {
            matches!(
                Es5Command::from_apdu(c),
                Ok(Es5Command::FinaliseIsdrHandover { .. })
            )
        })
    })
}
