//! The SM-SR side for the simulator tests, written with es-interfaces' own encoders and decoders only: builds
//! ES5 command scripts in SCP80 packets cut into SMS, reassembles the eUICC's MO SMS and opens PoRs and
//! notifications with the ISD-R keys, checking the notification counter as the SM-SR must (wire-profile §2, §4).
#![allow(dead_code)]

use conformance::euicc::{Eid, EuiccSecrets, EventKind, Fleet, MoSms, Outputs, SimulatorConfig};
use conformance::issuance::{self, IssuedProfile};
use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::isdr::Es5Command;
use es_interfaces::notification::Notification;
use es_interfaces::scp80::{
    self, CommandHeader, Counter, KeySet, Kic, Kid, PorStatus, ResponsePacket, Spi,
};
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::sms::{self, PacketKind, PushOutcome, Reassembler};
use es_interfaces::wire_profile::{self, CardProfile};

pub const SEED: u64 = 0x5EED_0001;
pub const ATTACH: u64 = 2_000;
pub const RETRY: u64 = 10_000;

pub fn aid(slot: u8) -> Vec<u8> {
    wire_profile::isd_p_aid(slot).expect("aid").to_vec()
}

pub fn config() -> SimulatorConfig {
    SimulatorConfig {
        attach_delay_ms: ATTACH,
        notification_retry_interval_ms: RETRY,
        notification_max_attempts: 3,
        ..SimulatorConfig::default()
    }
}

/// The three MSISDNs of seeded eUICC `index` (P1, P2, P3), from the issuance fixture.
pub fn msisdns(index: usize) -> [String; 3] {
    let p = issuance::profiles_for(
        index,
        &issuance::world_msisdn(index).expect("msisdn"),
        issuance::DEFAULT_MNO_OIDS,
    )
    .expect("issuance");
    [
        p[0].msisdn.clone(),
        p[1].msisdn.clone(),
        p[2].msisdn.clone(),
    ]
}

pub fn seeded(n: usize) -> Fleet {
    Fleet::from_seed(SEED, n, config()).expect("fleet")
}

/// A one-eUICC fleet whose issued profiles `edit` changed.
pub fn custom(edit: impl FnOnce(&mut Vec<IssuedProfile>)) -> Fleet {
    let secrets = EuiccSecrets::from_seed(SEED, 0).expect("secrets");
    let mut profiles =
        issuance::profiles_for(0, &secrets.msisdn.to_string(), issuance::DEFAULT_MNO_OIDS)
            .expect("issuance");
    edit(&mut profiles);
    let mut fleet = Fleet::new(config());
    fleet
        .insert(conformance::euicc::Euicc::new(&secrets, &profiles).expect("euicc"))
        .expect("insert");
    fleet
}

pub fn eid(index: usize) -> Eid {
    EuiccSecrets::from_seed(SEED, index).expect("secrets").eid
}

#[derive(Debug)]
pub enum FromEuicc {
    Por(ResponsePacket),
    Notification {
        from: String,
        counter: Counter,
        notification: Notification,
    },
}

/// The SM-SR's view of one eUICC.
pub struct SmSr {
    pub keys: KeySet,
    pub kvn: u8,
    pub counter: u64,
    pub last_notification_counter: Counter,
    pub profile: CardProfile,
    reassembler: Reassembler<String>,
    next_reference: u8,
}

impl SmSr {
    pub fn for_seeded(index: usize) -> SmSr {
        let s = EuiccSecrets::from_seed(SEED, index).expect("secrets");
        SmSr::new(s.isd_r.scp80(), s.isd_r.kvn())
    }

    pub fn new(keys: KeySet, kvn: u8) -> SmSr {
        SmSr {
            keys,
            kvn,
            counter: 0,
            last_notification_counter: Counter([0; 5]),
            profile: CardProfile::default(),
            reassembler: Reassembler::new(32, 8),
            next_reference: 0x40,
        }
    }

    pub fn header(&self, counter: u64) -> CommandHeader {
        let b = wire_profile::aes_kic_kid(self.kvn).expect("kic");
        CommandHeader {
            spi: Spi::from_bytes(self.profile.command_spi).expect("spi"),
            kic: Kic(b),
            kid: Kid(b),
            tar: wire_profile::default_tar(&wire_profile::ISD_R_AID).expect("tar"),
            counter: Counter::from_u64(counter).expect("counter"),
        }
    }

    /// The SMS of a script of ES5 commands with the next counter.
    pub fn sms(&mut self, commands: &[Es5Command]) -> Vec<Vec<u8>> {
        let apdus = commands
            .iter()
            .map(|c| c.to_apdu(&self.profile).expect("apdu"))
            .collect();
        self.counter += 1;
        self.apdu_sms(apdus, self.counter)
    }

    /// The SMS of a script of raw C-APDUs with a chosen counter.
    pub fn apdu_sms(&mut self, apdus: Vec<CommandApdu>, counter: u64) -> Vec<Vec<u8>> {
        let script = CommandScript::new(apdus).to_expanded().expect("script");
        self.packet_sms(&self.header(counter), &script)
    }

    pub fn packet_sms(&mut self, header: &CommandHeader, data: &[u8]) -> Vec<Vec<u8>> {
        let packet = scp80::build_command(header, &self.keys, data).expect("secure");
        self.next_reference = self.next_reference.wrapping_add(1);
        sms::to_tp_uds(PacketKind::Command, &packet, self.next_reference).expect("sms")
    }

    /// Reassembles and opens everything the eUICC sent; notifications must carry a counter higher than the
    /// last one accepted.
    pub fn receive(&mut self, mo: &[MoSms]) -> Vec<FromEuicc> {
        let mut out = Vec::new();
        for m in mo {
            assert!(m.tp_ud.len() <= 140);
            let PushOutcome::Complete(a) = self
                .reassembler
                .push(m.from_msisdn.clone(), &m.tp_ud)
                .expect("segment")
            else {
                continue;
            };
            match a.kind {
                PacketKind::Response => {
                    let h = self.header(1);
                    out.push(FromEuicc::Por(
                        scp80::open_por(&a.packet, &h.spi, h.kic, h.kid, &self.keys, h.tar)
                            .expect("open PoR"),
                    ));
                }
                PacketKind::Command => {
                    let p = scp80::parse_command(&a.packet).expect("notification header");
                    assert_eq!(p.spi.to_bytes(), wire_profile::NOTIFICATION_SPI);
                    assert_eq!(p.tar, [0, 0, 1]);
                    let opened = p.open(&self.keys).expect("open notification");
                    let next = scp80::check_counter(
                        p.spi.counter,
                        opened.header.counter,
                        self.last_notification_counter,
                    )
                    .expect("notification counter is higher")
                    .expect("counter checked");
                    self.last_notification_counter = next;
                    out.push(FromEuicc::Notification {
                        from: m.from_msisdn.clone(),
                        counter: next,
                        notification: Notification::parse(&opened.data).expect("E1"),
                    });
                }
            }
        }
        out
    }

    /// The single PoR among `mo`.
    pub fn por(&mut self, mo: &[MoSms]) -> ResponsePacket {
        let mut got = self.receive(mo);
        assert_eq!(got.len(), 1, "one PoR expected: {got:?}");
        match got.pop() {
            Some(FromEuicc::Por(p)) => p,
            other => panic!("expected a PoR, got {other:?}"),
        }
    }

    /// The single notification among `mo`: sender, counter, notification.
    pub fn notification(&mut self, mo: &[MoSms]) -> (String, Counter, Notification) {
        let mut got = self.receive(mo);
        assert_eq!(got.len(), 1, "one notification expected: {got:?}");
        match got.pop() {
            Some(FromEuicc::Notification {
                from,
                counter,
                notification,
            }) => (from, counter, notification),
            other => panic!("expected a notification, got {other:?}"),
        }
    }

    /// Sends `commands` to `msisdn` at `now`; returns the R-APDUs of the PoR (status must be OK) and the
    /// outputs.
    pub fn run(
        &mut self,
        fleet: &mut Fleet,
        msisdn: &str,
        commands: &[Es5Command],
        now: u64,
    ) -> (Vec<ResponseApdu>, Outputs) {
        let sms = self.sms(commands);
        let out = deliver(fleet, msisdn, &sms, now);
        let por = self.por(&out.mo);
        assert_eq!(por.status, PorStatus::Ok);
        let script = ResponseScript::parse_expanded(&por.data).expect("response script");
        assert_eq!(usize::from(script.executed), script.responses.len());
        (script.responses, out)
    }

    /// Sends one command and returns its status word.
    pub fn sw(
        &mut self,
        fleet: &mut Fleet,
        msisdn: &str,
        command: Es5Command,
        now: u64,
    ) -> StatusWord {
        let (r, _) = self.run(fleet, msisdn, &[command], now);
        assert_eq!(r.len(), 1);
        r[0].sw
    }
}

/// Delivers every segment; all must reach an eUICC.
pub fn deliver(fleet: &mut Fleet, msisdn: &str, sms: &[Vec<u8>], now: u64) -> Outputs {
    let mut all = Outputs::default();
    for s in sms {
        let o = fleet.deliver_mt(msisdn, s, now).expect("delivered");
        all.mo.extend(o.mo);
        all.events.extend(o.events);
    }
    all
}

pub fn executed(out: &Outputs) -> usize {
    out.events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::CommandExecuted { .. }))
        .count()
}

pub fn enable(slot: u8) -> Es5Command {
    Es5Command::EnableProfile {
        isd_p_aid: aid(slot),
    }
}

pub fn disable(slot: u8) -> Es5Command {
    Es5Command::DisableProfile {
        isd_p_aid: aid(slot),
    }
}

pub fn delete(slot: u8) -> Es5Command {
    Es5Command::DeleteProfile {
        isd_p_aid: aid(slot),
    }
}

pub fn confirm(sequence: u16) -> Es5Command {
    Es5Command::HandleNotificationConfirmation { sequence }
}
