//! SM-SR change on the simulated ISD-R (SGP.02 §3.8; wire-profile §5b): SM-SR1 relays `3A01` and the `3A02` it
//! rebuilds from ES7.CreateAdditionalKeySet, SM-SR2's side is es_interfaces::isdr_key_set with the test world's
//! CERT.SR.ECDSA / SK.SR.ECDSA; then SM-SR2 works under the new key set (counter above the initial one), moves
//! the notifications to itself and deletes the old key set, after which SM-SR1's packets get PoR `06`. Each
//! refusal status word of §5b is driven too.

mod euicc_common;

use certs::ecc::{Curve, PrivateKey};
use certs::world::{World, WorldOptions};
use conformance::euicc::{EventKind, Fleet, Outputs};
use conformance::issuance;
use es_interfaces::apdu::{ResponseApdu, StatusWord};
use es_interfaces::isdr::{self, Es5Command, KeyAgreementResponse, SmsrAddressingParameters};
use es_interfaces::isdr_key_set::{self, Establishment};
use es_interfaces::messages::common::BaseRequest;
use es_interfaces::notification::NotificationType;
use es_interfaces::scp80::{self, Counter, Integrity, KeySet, PorStatus, SecretKey, Spi};
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::sms::Segment;
use es_interfaces::types::{Eid, HexBinary};
use es_interfaces::wire_profile::{self, CardProfile};
use euicc_common::*;

const OK: StatusWord = StatusWord::OK;
const NEW_KVN: u8 = 0x02;
const INITIAL_COUNTER: u64 = 100;
/// SM-SR2's MSISDN, `91 94 51 55 99 99` in the addressing parameters.
const SMSR2_MSISDN: &str = "4915559999";

struct Lab {
    world: World,
    fleet: Fleet,
    /// SM-SR1 with the issued key set.
    smsr1: SmSr,
    /// The MSISDNs of P1 (enabled) and P2.
    msisdns: [String; 2],
    now: u64,
    _dir: tempfile::TempDir,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = WorldOptions {
        seed: Some(13),
        ..WorldOptions::new(1, time::OffsetDateTime::now_utc())
    };
    let world = certs::world::generate(dir.path(), &opts).expect("world");
    let fleet = Fleet::from_world(&world, config()).expect("fleet");
    let k = &world.euiccs[0].scp80;
    let smsr1 = SmSr::new(
        KeySet {
            kic: SecretKey::new(k.kic.expose()),
            kid: SecretKey::new(k.kid.expose()),
        },
        k.kvn,
    );
    let p = issuance::profiles_for(0, &world.euiccs[0].msisdn, issuance::DEFAULT_MNO_OIDS)
        .expect("issuance");
    let msisdns = [p[0].msisdn.clone(), p[1].msisdn.clone()];
    Lab {
        world,
        fleet,
        smsr1,
        msisdns,
        now: 0,
        _dir: dir,
    }
}

/// Opens a PoR sent without security (no CC, clear), as for a key set the eUICC does not hold.
fn open_unsecured(smsr: &SmSr, out: &Outputs) -> scp80::ResponsePacket {
    assert_eq!(out.mo.len(), 1);
    let seg = Segment::parse(&out.mo[0].tp_ud).expect("segment");
    let h = smsr.header(1);
    let spi = Spi {
        por_ciphered: false,
        por_integrity: Integrity::None,
        ..h.spi
    };
    scp80::open_por(&seg.payload, &spi, h.kic, h.kid, &smsr.keys, h.tar).expect("unsecured PoR")
}

impl Lab {
    fn eid(&self) -> conformance::euicc::Eid {
        self.fleet.euiccs()[0].eid()
    }

    /// One command from `smsr` to the enabled profile's MSISDN; its R-APDU.
    fn one(&mut self, smsr: &mut SmSr, command: Es5Command) -> ResponseApdu {
        send(&mut self.fleet, &mut self.now, smsr, command)
    }

    /// One command from SM-SR1.
    fn one1(&mut self, command: Es5Command) -> ResponseApdu {
        send(&mut self.fleet, &mut self.now, &mut self.smsr1, command)
    }

    fn enabled_msisdn(&self) -> String {
        enabled_msisdn(&self.fleet)
    }

    fn kvns(&self) -> Vec<u8> {
        self.fleet.euiccs()[0].isd_r_kvns()
    }

    fn cert_sr(&self) -> Vec<u8> {
        self.world.sm_sr_gp.cert.encode()
    }

    /// SM-SR1 relays ES7.AuthenticateSMSR as `3A01`: the random challenge.
    fn challenge(&mut self) -> Vec<u8> {
        let r = self.one1(isdr_key_set::certificate_command(&self.cert_sr()));
        assert_eq!(r.sw, OK);
        let rc = isdr::parse_random_challenge_response(&r.data).expect("85");
        assert_eq!(rc.len(), 16);
        rc
    }

    /// SM-SR2's key agreement for `rc`, with ephemeral scalar `seed`.
    fn establishment(&self, rc: &[u8], kvn: u8, seed: u8) -> Establishment {
        let ecasd = &self.world.euiccs[0].ecasd.cert.body().public_key;
        isdr_key_set::establish(
            &self.world.sm_sr_gp.key,
            ecasd,
            rc,
            kvn,
            Counter::from_u64(INITIAL_COUNTER).expect("counter"),
            PrivateKey::from_scalar(ecasd.curve(), &[seed; 32]).expect("ephemeral"),
        )
        .expect("establish")
    }

    /// SM-SR1 relays ES7.CreateAdditionalKeySet as the `3A02` it rebuilds from the ES7 fields.
    fn relay(&mut self, est: &Establishment) -> ResponseApdu {
        let req = est
            .to_es7_request(
                BaseRequest::new("es7-create-additional-key-set"),
                Eid::from_bytes(self.eid().0),
                HexBinary::from_bytes(b"SM-SR2").expect("host id"),
            )
            .expect("ES7 request");
        let curve = self.world.euiccs[0].ecasd.cert.body().public_key.curve();
        let command = isdr_key_set::agreement_from_es7(&req, curve).expect("3A02 from ES7");
        assert_eq!(command, est.command());
        self.one1(command)
    }

    /// The whole establishment: SM-SR2 with the new key set, its counter at the initial one.
    fn establish(&mut self) -> SmSr {
        let rc = self.challenge();
        let est = self.establishment(&rc, NEW_KVN, 0x42);
        let r = self.relay(&est);
        assert_eq!(r.sw, OK);
        let answer = KeyAgreementResponse::parse(&r.data).expect("86");
        assert_eq!(answer.derivation_random, None);
        est.check_receipt(&answer.receipt).expect("receipt");
        let mut smsr2 = SmSr::new(est.key_set.scp80(), NEW_KVN);
        smsr2.counter = est.key_set.initial_counter.value();
        smsr2
    }
}

fn enabled_msisdn(fleet: &Fleet) -> String {
    fleet.euiccs()[0]
        .enabled_msisdn()
        .expect("enabled profile")
        .to_string()
}

/// One command from `smsr` to the enabled profile's MSISDN, 10 ms after the last; its R-APDU.
fn send(fleet: &mut Fleet, now: &mut u64, smsr: &mut SmSr, command: Es5Command) -> ResponseApdu {
    *now += 10;
    let to = enabled_msisdn(fleet);
    let (mut r, _) = smsr.run(fleet, &to, &[command], *now);
    assert_eq!(r.len(), 1);
    r.remove(0)
}

fn addressing() -> Es5Command {
    Es5Command::UpdateSmsrAddressingParameters(SmsrAddressingParameters {
        smsr_msisdn: vec![0x91, 0x94, 0x51, 0x55, 0x99, 0x99],
    })
}

#[test]
fn smsr2_takes_over_the_isd_r_and_the_old_key_set_is_refused_afterwards() {
    let mut lab = lab();
    let mut smsr2 = lab.establish();
    assert_eq!(lab.kvns(), vec![0x01, NEW_KVN]);
    let e = &lab.fleet.euiccs()[0];
    assert_eq!(e.received_counter_of(NEW_KVN), Some(INITIAL_COUNTER));

    // The new key set works at once: counter initial + 1 accepted, the PoR secured with the new keys.
    let r = lab.one(&mut smsr2, Es5Command::GetExtendedCardResources);
    assert_eq!(r.sw, OK);
    assert_eq!(smsr2.counter, INITIAL_COUNTER + 1);
    assert_eq!(
        lab.fleet.euiccs()[0].received_counter_of(NEW_KVN),
        Some(INITIAL_COUNTER + 1)
    );
    // The initial counter itself is a replay: PoR 02.
    let apdu = Es5Command::GetExtendedCardResources
        .to_apdu(&CardProfile::default())
        .expect("apdu");
    let sms = smsr2.apdu_sms(vec![apdu], INITIAL_COUNTER);
    let to = lab.enabled_msisdn();
    let out = deliver(&mut lab.fleet, &to, &sms, lab.now);
    assert_eq!(smsr2.por(&out.mo).status, PorStatus::CounterLow);
    // SM-SR1's key set still works too, with its own counter.
    assert_eq!(lab.one1(Es5Command::GetExtendedCardResources).sw, OK);

    // SM-SR2 moves the notifications to itself, then a profile switch notifies SM-SR2 under the new key set,
    // the eUICC's own counter for it starting at 1.
    assert_eq!(lab.one(&mut smsr2, addressing()).sw, OK);
    assert_eq!(lab.one(&mut smsr2, enable(1)).sw, OK);
    let out = lab.fleet.poll(lab.now + ATTACH);
    assert!(out.mo.iter().all(|m| m.to_address == SMSR2_MSISDN));
    let (from, counter, n) = smsr2.notification(&out.mo);
    assert_eq!(from, lab.msisdns[1]);
    assert_eq!(
        counter.value(),
        wire_profile::NEW_KEY_SET_NOTIFICATION_COUNTER + 1
    );
    assert_eq!(n.kind, NotificationType::ProfileChangeSucceeded);
    lab.now += ATTACH;
    assert_eq!(lab.one(&mut smsr2, confirm(n.sequence)).sw, OK);

    // FinaliseISDRHandover under the new key set deletes the old one.
    let r = lab.one(
        &mut smsr2,
        isdr_key_set::finalise_command(0x01).expect("finalise"),
    );
    assert_eq!(r.sw, OK);
    assert_eq!(lab.kvns(), vec![NEW_KVN]);
    assert_eq!(lab.fleet.euiccs()[0].received_counter(), smsr2.counter);

    // SM-SR1's packets now name a key set the eUICC does not hold: PoR 06 without CC, nothing runs.
    let sms = lab.smsr1.sms(&[enable(0)]);
    let to = lab.enabled_msisdn();
    let out = deliver(&mut lab.fleet, &to, &sms, lab.now + 10);
    assert_eq!(
        open_unsecured(&lab.smsr1, &out).status,
        PorStatus::UnidentifiedSecurityError
    );
    assert_eq!(executed(&out), 0);
    assert!(out.events.iter().any(|e| e.kind
        == EventKind::PacketRefused {
            status: PorStatus::UnidentifiedSecurityError
        }));
    // SM-SR2 goes on.
    assert_eq!(lab.one(&mut smsr2, enable(0)).sw, OK);
}

#[test]
fn a_certificate_other_than_a_ci_signed_cert_sr_is_6a80() {
    let mut lab = lab();
    // CERT.DP.ECDSA: signed by the CI, but not an SM-SR's.
    let dp = lab.world.sm_dp_gp.cert.encode();
    let r = lab.one1(isdr_key_set::certificate_command(&dp));
    assert_eq!(r.sw, StatusWord::INCORRECT_DATA);
    // CERT.SR.ECDSA with its signature broken.
    let mut sr = lab.cert_sr();
    let last = sr.len() - 1;
    sr[last] ^= 1;
    let r = lab.one1(isdr_key_set::certificate_command(&sr));
    assert_eq!(r.sw, StatusWord::INCORRECT_DATA);
    // Not a certificate at all.
    let r = lab.one1(isdr_key_set::certificate_command(&[0x7F, 0x21, 0x00]));
    assert_eq!(r.sw, StatusWord::INCORRECT_DATA);
    // And no challenge is pending: a 3A02 now is 6985.
    let est = lab.establishment(&[0; 16], NEW_KVN, 0x42);
    assert_eq!(
        lab.relay(&est).sw,
        wire_profile::ISD_R_AGREEMENT_WITHOUT_CHALLENGE
    );
    assert_eq!(lab.kvns(), vec![0x01]);
}

#[test]
fn each_3a02_refusal_and_the_challenge_is_used_once() {
    let mut lab = lab();
    // Without 3A01: 6985.
    let est = lab.establishment(&[0; 16], NEW_KVN, 0x42);
    assert_eq!(lab.relay(&est).sw, StatusWord::CONDITIONS_NOT_SATISFIED);

    // Signed over another challenge: 6982; the challenge is then gone, so the right one is 6985.
    let rc = lab.challenge();
    let mut wrong = rc.clone();
    wrong[0] ^= 1;
    assert_eq!(
        lab.relay(&lab.establishment(&wrong, NEW_KVN, 0x42)).sw,
        StatusWord::SECURITY_STATUS
    );
    assert_eq!(
        lab.relay(&lab.establishment(&rc, NEW_KVN, 0x42)).sw,
        StatusWord::CONDITIONS_NOT_SATISFIED
    );

    // A KVN the ISD-R holds (the issued 01): 6A80.
    let rc = lab.challenge();
    assert_eq!(
        lab.relay(&lab.establishment(&rc, 0x01, 0x42)).sw,
        StatusWord::INCORRECT_DATA
    );

    // A CRT for another key usage (the ISD-P's 5C), correctly signed: 6A80.
    let rc = lab.challenge();
    let mut est = lab.establishment(&rc, NEW_KVN, 0x42);
    est.agreement.crt.key_usage = wire_profile::KEY_USAGE_ISD_P_SCP03;
    let signed = est.agreement.signed_data(&rc).expect("signed");
    est.agreement.signature = lab.world.sm_sr_gp.key.sign(&signed).to_vec();
    assert_eq!(one_raw(&mut lab, &est), StatusWord::INCORRECT_DATA);

    // An ephemeral key announced on another curve than the ECASD's, correctly signed: 6A80.
    let rc = lab.challenge();
    let mut est = lab.establishment(&rc, NEW_KVN, 0x42);
    est.agreement.key_parameter_reference = Curve::BrainpoolP256r1.key_parameter_reference();
    let signed = est.agreement.signed_data(&rc).expect("signed");
    est.agreement.signature = lab.world.sm_sr_gp.key.sign(&signed).to_vec();
    assert_eq!(one_raw(&mut lab, &est), StatusWord::INCORRECT_DATA);
    assert_eq!(lab.kvns(), vec![0x01]);

    // After all that, a good exchange still works, and a second 3A02 for the same challenge is 6985.
    let rc = lab.challenge();
    let est = lab.establishment(&rc, NEW_KVN, 0x43);
    assert_eq!(lab.relay(&est).sw, OK);
    assert_eq!(lab.relay(&est).sw, StatusWord::CONDITIONS_NOT_SATISFIED);
    assert_eq!(lab.kvns(), vec![0x01, NEW_KVN]);
    // The same KVN again: now held, 6A80.
    let rc = lab.challenge();
    assert_eq!(
        lab.relay(&lab.establishment(&rc, NEW_KVN, 0x44)).sw,
        StatusWord::INCORRECT_DATA
    );
}

/// SM-SR1 sends `est`'s `3A02` as it is (not rebuilt from ES7 fields, which would undo the tampering).
fn one_raw(lab: &mut Lab, est: &Establishment) -> StatusWord {
    lab.one1(est.command()).sw
}

#[test]
fn finalise_refuses_an_unknown_kvn_the_carrier_and_the_last_key_set() {
    let mut lab = lab();
    let mut smsr2 = lab.establish();
    // A KVN the ISD-R does not hold: 6A88.
    let r = lab.one(
        &mut smsr2,
        isdr_key_set::finalise_command(0x0E).expect("finalise"),
    );
    assert_eq!(r.sw, StatusWord::REFERENCED_DATA_NOT_FOUND);
    // The key set that carries the command: 6985, from either side.
    let r = lab.one(
        &mut smsr2,
        isdr_key_set::finalise_command(NEW_KVN).expect("finalise"),
    );
    assert_eq!(r.sw, wire_profile::FINALISE_REFUSED);
    let r = lab.one1(isdr_key_set::finalise_command(0x01).expect("finalise"));
    assert_eq!(r.sw, wire_profile::FINALISE_REFUSED);
    assert_eq!(lab.kvns(), vec![0x01, NEW_KVN]);
    // Without UpdateSMSRAddressingParameters the notifications stayed with the issued key set; once it is
    // deleted they move to the key set that carried FinaliseISDRHandover.
    let r = lab.one(
        &mut smsr2,
        isdr_key_set::finalise_command(0x01).expect("finalise"),
    );
    assert_eq!(r.sw, OK);
    assert_eq!(lab.one(&mut smsr2, enable(1)).sw, OK);
    let out = lab.fleet.poll(lab.now + ATTACH);
    let (_, counter, _) = smsr2.notification(&out.mo);
    assert_eq!(counter.value(), 1);

    // The last key set left, over HTTPS where no SCP80 key set carries the command: 6985.
    let script = CommandScript::new(vec![
        isdr_key_set::finalise_command(NEW_KVN)
            .expect("finalise")
            .to_apdu(&CardProfile::default())
            .expect("apdu"),
    ])
    .to_expanded()
    .expect("script");
    let eid = lab.eid();
    let (r, _) = lab
        .fleet
        .run_https_script(&eid, &script, None, lab.now + ATTACH + 1)
        .expect("https");
    let answer = r.expect("script ran").expect("ISD-R");
    let answer = ResponseScript::parse_expanded(&answer).expect("AF");
    assert_eq!(answer.responses[0].sw, wire_profile::FINALISE_REFUSED);
    assert_eq!(lab.kvns(), vec![NEW_KVN]);
}

#[test]
fn the_es5_function_events_name_the_key_sets() {
    let mut lab = lab();
    let rc = lab.challenge();
    let est = lab.establishment(&rc, 0x0F, 0x45);
    let req = est
        .to_es7_request(
            BaseRequest::new("fci"),
            Eid::from_bytes(lab.eid().0),
            HexBinary::from_bytes(&[]).expect("host id"),
        )
        .expect("ES7");
    let curve = lab.world.euiccs[0].ecasd.cert.body().public_key.curve();
    let command = isdr_key_set::agreement_from_es7(&req, curve).expect("3A02");
    lab.now += 10;
    let to = lab.enabled_msisdn();
    let (r, out) = lab.smsr1.run(&mut lab.fleet, &to, &[command], lab.now);
    assert_eq!(r[0].sw, OK);
    assert!(out.events.iter().any(|e| e.kind
        == EventKind::IsdrKeySetCreated {
            kvn: 0x0F,
            initial_counter: INITIAL_COUNTER
        }));
    assert!(out.events.iter().any(|e| e.kind
        == EventKind::CommandExecuted {
            function: Some(isdr::Es5Function::EstablishIsdrKeySetAgreement),
            sw: OK
        }));
    let mut smsr2 = SmSr::new(est.key_set.scp80(), 0x0F);
    smsr2.counter = INITIAL_COUNTER;
    lab.now += 10;
    let (r, out) = smsr2.run(
        &mut lab.fleet,
        &to,
        &[isdr_key_set::finalise_command(0x01).expect("finalise")],
        lab.now,
    );
    assert_eq!(r[0].sw, OK);
    assert!(
        out.events
            .iter()
            .any(|e| e.kind == EventKind::IsdrKeySetDeleted { kvn: 0x01 })
    );
}
