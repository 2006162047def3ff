//! Profile download on the simulated eUICC (SGP.02 §3.1; wire-profile §5, §7): an SM-DP side built from
//! es-interfaces' host pieces (3A01/3A02 codecs, es8 key data and receipt, scp03t::HostSession, routing) and the
//! test world's SM-DP key drives an ISD-P through the SM-SR's SMS path, without a network.

mod euicc_common;

use certs::ecc::{Curve, PrivateKey};
use certs::world::{World, WorldOptions};
use conformance::euicc::{DownloadFaults, EventKind, Fleet, Outputs};
use conformance::issuance::ProfileState;
use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::es8::{self, EuiccResponse};
use es_interfaces::isdr::{self, Es5Command, IsdpState, KeyAgreement, KeyAgreementResponse};
use es_interfaces::routing::{self, RoutedResponse};
use es_interfaces::scp03::scp03t::{self, HostSession};
use es_interfaces::scp03::{InitializeUpdateResponse, StaticKeys};
use es_interfaces::scp80::{KeySet, PorStatus, SecretKey};
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::wire_profile::CardProfile;
use euicc_common::*;
use smdp::saip::bench::synthetic_record;
use smdp::saip::personalise::personalise;
use smdp::saip::sample::usim_template;

const SLOT: u8 = 5;
const OK: StatusWord = StatusWord::OK;

struct Lab {
    world: World,
    fleet: Fleet,
    smsr: SmSr,
    msisdn: String,
    now: u64,
    _dir: tempfile::TempDir,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = WorldOptions {
        seed: Some(11),
        ..WorldOptions::new(1, time::OffsetDateTime::now_utc())
    };
    let world = certs::world::generate(dir.path(), &opts).expect("world");
    let fleet = Fleet::from_world(&world, config()).expect("fleet");
    let k = &world.euiccs[0].scp80;
    let smsr = SmSr::new(
        KeySet {
            kic: SecretKey::new(k.kic.expose()),
            kid: SecretKey::new(k.kid.expose()),
        },
        k.kvn,
    );
    let msisdn = world.euiccs[0].msisdn.clone();
    let mut lab = Lab {
        world,
        fleet,
        smsr,
        msisdn,
        now: 0,
        _dir: dir,
    };
    let create = Es5Command::CreateIsdp {
        isd_p_aid: aid(SLOT),
        memory_quota: Some(20_000),
    };
    let (r, _) = lab.smsr.run(&mut lab.fleet, &lab.msisdn, &[create], 0);
    assert_eq!(r[0].sw, OK);
    lab
}

fn apdu(c: Es5Command) -> CommandApdu {
    c.to_apdu(&CardProfile::default()).expect("apdu")
}

impl Lab {
    /// Sends ES8 C-APDUs to the ISD-P as ES3.SendData would have the SM-SR do (INSTALL [for personalization]
    /// first), returns the ISD-P's R-APDUs and the outputs.
    fn send(&mut self, apdus: Vec<CommandApdu>) -> (Vec<ResponseApdu>, Outputs) {
        let es8_script = CommandScript::new(apdus).to_expanded().expect("script");
        let routed = routing::routed_script(&aid(SLOT), &es8_script).expect("routed");
        self.smsr.counter += 1;
        let header = self.smsr.header(self.smsr.counter);
        let sms = self
            .smsr
            .packet_sms(&header, &routed.to_expanded().expect("expanded"));
        self.now += 10;
        let out = deliver(&mut self.fleet, &self.msisdn, &sms, self.now);
        let por = self.smsr.por(&out.mo);
        assert_eq!(por.status, PorStatus::Ok);
        let script = ResponseScript::parse_expanded(&por.data).expect("AB");
        match routing::unroute(script) {
            RoutedResponse::Routed(r) => (r.responses, out),
            RoutedResponse::NotRouted(r) => panic!("not routed: {r:?}"),
        }
    }

    fn one(&mut self, c: CommandApdu) -> ResponseApdu {
        let (mut r, _) = self.send(vec![c]);
        assert_eq!(r.len(), 1);
        r.remove(0)
    }

    fn isdp_state(&self) -> (ProfileState, Option<String>) {
        let e = &self.fleet.euiccs()[0];
        let i = e.isd_p(&aid(SLOT)).expect("isd-p");
        (i.state(), i.iccid().map(|c| c.to_string()))
    }

    fn certificate(&self) -> Vec<u8> {
        self.world.sm_dp_gp.cert.encode()
    }

    /// `3A01` with `cert`: the random challenge.
    fn challenge(&mut self, cert: Vec<u8>) -> Vec<u8> {
        let r = self.one(apdu(Es5Command::EstablishIsdrKeySetCertificate {
            certificate: cert,
        }));
        assert_eq!(r.sw, OK);
        let rc = isdr::parse_random_challenge_response(&r.data).expect("85");
        assert_eq!(rc.len(), 16);
        rc
    }

    /// A signed `3A02` for challenge `rc` and a fresh ephemeral key.
    fn agreement(&self, rc: &[u8], signer: &PrivateKey) -> (KeyAgreement, PrivateKey) {
        let eph = PrivateKey::generate(Curve::P256, &mut rand::rng());
        let mut ka = KeyAgreement {
            crt: es8::isd_p_crt(0x30),
            ephemeral_public_key: eph.public_key().to_sec1_uncompressed().to_vec(),
            key_parameter_reference: 0x00,
            signature: Vec::new(),
        };
        ka.signature = signer.sign(&ka.signed_data(rc).expect("signed")).to_vec();
        (ka, eph)
    }

    /// Key establishment as the SM-DP runs it; returns the key set and whether the receipt matched.
    fn establish(&mut self) -> (StaticKeys, bool) {
        let rc = self.challenge(self.certificate());
        let key = copy(&self.world.sm_dp_gp.key);
        let (ka, eph) = self.agreement(&rc, &key);
        let r = self.one(apdu(Es5Command::EstablishIsdrKeySetAgreement(ka.clone())));
        assert_eq!(r.sw, OK);
        let receipt = KeyAgreementResponse::parse(&r.data).expect("86").receipt;
        let ecasd = &self.world.euiccs[0].ecasd.cert.body().public_key;
        let shs = eph.ecka(ecasd).expect("ecka");
        let data = es8::derive_isd_p_keys(shs.as_bytes()).expect("kdf");
        let expected = es8::receipt(&data.receipt_key, &ka).expect("receipt");
        (data.keys, receipt == expected)
    }

    /// `84` and `85`: the open host session and the sequence counter the card announced.
    fn open(&mut self, keys: &StaticKeys) -> (HostSession, [u8; 3]) {
        let hc = [1, 2, 3, 4, 5, 6, 7, 8];
        let r = self.one(scp03t::store_data(
            0,
            scp03t::initialize_update_tlv(0x30, 0x01, hc),
            false,
        ));
        assert_eq!(r.sw, OK);
        let iu = InitializeUpdateResponse::parse(&r.data).expect("84 answer");
        assert_eq!(iu.kvn, 0x30);
        let (host, ea) = HostSession::open(keys, hc, &iu).expect("card cryptogram");
        let r = self.one(scp03t::store_data(1, ea, false));
        assert_eq!(r, ResponseApdu::new(Vec::new(), OK));
        (host, iu.sequence_counter.expect("counter"))
    }

    /// Sends the package segment by segment (block numbers from 2); returns the checked answer to the last.
    fn download(&mut self, host: &mut HostSession, package: &[u8]) -> EuiccResponse {
        let segments = host.protect_package(package).expect("protect");
        let n = segments.len();
        let mut last = None;
        for (i, seg) in segments.iter().enumerate() {
            let block = (2 + i) as u8;
            let r = self.one(scp03t::store_data(block, seg.tlv.clone(), i + 1 == n));
            assert_eq!(r.sw, OK, "segment {i}");
            let plain = host.check_response(seg, &r).expect("R-MAC");
            if i + 1 < n {
                assert!(plain.data.is_empty());
            }
            last = Some(plain.data);
        }
        EuiccResponse::parse(&last.expect("a segment")).expect("EUICCResponse")
    }
}

fn copy(k: &PrivateKey) -> PrivateKey {
    PrivateKey::from_scalar(k.curve(), k.to_scalar().as_slice()).expect("key")
}

fn package(i: u64) -> (Vec<u8>, String, String) {
    let record = synthetic_record(i);
    let bytes = personalise(&usim_template(), &record).expect("package");
    (bytes, record.iccid.clone(), record.imsi.clone())
}

#[test]
fn a_full_download_installs_the_profile_which_then_enables_by_its_msisdn() {
    let mut lab = lab();
    let (pkg, iccid, imsi) = package(42);
    lab.fleet
        .provision_subscriber(&imsi, "4917012345678")
        .expect("subscriber");
    assert_eq!(lab.isdp_state().0, ProfileState::Created);

    let (keys, receipt_ok) = lab.establish();
    assert!(receipt_ok);
    let (mut host, counter) = lab.open(&keys);
    assert_eq!(counter, [0, 0, 1]);
    let r = lab.download(&mut host, &pkg);
    assert_eq!(r, EuiccResponse::success());
    assert_eq!(
        lab.isdp_state(),
        (ProfileState::Disabled, Some(iccid.clone()))
    );
    let e = &lab.fleet.euiccs()[0];
    let i = e.isd_p(&aid(SLOT)).expect("isd-p");
    assert_eq!(i.imsi().map(|x| x.to_string()), Some(imsi));
    assert_eq!(
        i.msisdn().map(|x| x.to_string()),
        Some("4917012345678".into())
    );
    assert_eq!(i.scp03_counter(), Some(1));
    assert!(e.next_deadline().is_none());

    // Audit shows it 1F; enable works and the notification comes from the downloaded profile's MSISDN.
    let (r, _) = lab.smsr.run(
        &mut lab.fleet,
        &lab.msisdn.clone(),
        &[Es5Command::AuditEis {
            continuation: false,
        }],
        lab.now + 1,
    );
    let audit = isdr::parse_audit_response(&r[0].data).expect("audit");
    let entry = audit.iter().find(|s| s.aid == aid(SLOT)).expect("entry");
    assert_eq!(entry.state, IsdpState::Disabled);

    let now = lab.now + 10;
    let msisdn = lab.msisdn.clone();
    assert_eq!(lab.smsr.sw(&mut lab.fleet, &msisdn, enable(SLOT), now), OK);
    let out = lab.fleet.poll(now + ATTACH);
    let (from, _, n) = lab.smsr.notification(&out.mo);
    assert_eq!(from, "4917012345678");
    assert_eq!(n.isd_p_aid, aid(SLOT));
    let (r, _) = lab.smsr.run(
        &mut lab.fleet,
        &from,
        &[confirm(n.sequence)],
        now + ATTACH + 1,
    );
    assert_eq!(r[0].sw, OK);
    // The ISD-R is now reachable through the downloaded profile's MSISDN only.
    assert!(
        lab.fleet
            .deliver_mt(&msisdn, &[0], now + ATTACH + 2)
            .is_err()
    );
    assert_eq!(
        lab.fleet.euiccs()[0]
            .enabled()
            .map(|i| i.aid().as_bytes().to_vec()),
        Some(aid(SLOT))
    );
    // Back to P1, then the downloaded profile can be deleted.
    let t = now + ATTACH + 10;
    assert_eq!(lab.smsr.sw(&mut lab.fleet, &from, enable(0), t), OK);
    let out = lab.fleet.poll(t + ATTACH);
    let (from, _, n) = lab.smsr.notification(&out.mo);
    assert_eq!(from, msisdn);
    lab.smsr.run(
        &mut lab.fleet,
        &from,
        &[confirm(n.sequence)],
        t + ATTACH + 1,
    );
    assert_eq!(
        lab.smsr
            .sw(&mut lab.fleet, &from, delete(SLOT), t + ATTACH + 2),
        OK
    );
    assert!(lab.fleet.euiccs()[0].isd_p(&aid(SLOT)).is_none());
}

#[test]
fn certificates_not_from_the_ci_answer_6a80() {
    let mut lab = lab();
    let mut tampered = lab.certificate();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let sr = lab.world.sm_sr_gp.cert.encode();
    for cert in [tampered, sr, vec![0x7F, 0x21, 0x00]] {
        let r = lab.one(apdu(Es5Command::EstablishIsdrKeySetCertificate {
            certificate: cert,
        }));
        assert_eq!(r.sw, StatusWord::INCORRECT_DATA);
    }
    // Without a challenge, 3A02 is out of sequence.
    let key = copy(&lab.world.sm_dp_gp.key);
    let (ka, _) = lab.agreement(&[0; 16], &key);
    let mut c = apdu(Es5Command::EstablishIsdrKeySetAgreement(ka));
    assert_eq!(lab.one(c.clone()).sw, StatusWord::INCORRECT_P1P2);
    c.p2 = 0;
    assert_eq!(lab.one(c).sw, StatusWord::CONDITIONS_NOT_SATISFIED);
    // A fleet without a CI refuses every certificate.
    let mut bare = lab::bare(&lab);
    let cert = lab.certificate();
    let r = bare.one(apdu(Es5Command::EstablishIsdrKeySetCertificate {
        certificate: cert,
    }));
    assert_eq!(r.sw, StatusWord::INCORRECT_DATA);
}

mod lab {
    use super::*;

    /// The same world's eUICC in a fleet that trusts no CI.
    pub fn bare(l: &Lab) -> Lab {
        let mut cfg = config();
        cfg.ci = None;
        let mut fleet = Fleet::new(cfg);
        let secrets =
            conformance::euicc::EuiccSecrets::from_world(&l.world.euiccs[0]).expect("secrets");
        let profiles = conformance::issuance::profiles_at_issuance(&l.world, 0).expect("issuance");
        fleet
            .insert(conformance::euicc::Euicc::new(&secrets, &profiles).expect("euicc"))
            .expect("insert");
        let k = &l.world.euiccs[0].scp80;
        let mut smsr = SmSr::new(
            KeySet {
                kic: SecretKey::new(k.kic.expose()),
                kid: SecretKey::new(k.kid.expose()),
            },
            k.kvn,
        );
        let create = Es5Command::CreateIsdp {
            isd_p_aid: aid(SLOT),
            memory_quota: None,
        };
        let (r, _) = smsr.run(&mut fleet, &l.msisdn, &[create], 0);
        assert_eq!(r[0].sw, OK);
        let dir = tempfile::tempdir().expect("tmp");
        Lab {
            world: certs::world::generate(
                dir.path(),
                &WorldOptions {
                    seed: Some(11),
                    ..WorldOptions::new(1, time::OffsetDateTime::now_utc())
                },
            )
            .expect("world"),
            fleet,
            smsr,
            msisdn: l.msisdn.clone(),
            now: 0,
            _dir: dir,
        }
    }
}

#[test]
fn a_signature_not_by_the_certified_key_answers_6982_and_a_wrong_crt_6a80() {
    let mut lab = lab();
    let rc = lab.challenge(lab.certificate());
    let other = copy(&lab.world.sm_sr_gp.key);
    let (ka, _) = lab.agreement(&rc, &other);
    let r = lab.one(apdu(Es5Command::EstablishIsdrKeySetAgreement(ka)));
    assert_eq!(r.sw, StatusWord::SECURITY_STATUS);
    // The challenge is used up: a correctly signed 3A02 now is out of sequence.
    let key = copy(&lab.world.sm_dp_gp.key);
    let (ka, _) = lab.agreement(&rc, &key);
    let mut c = apdu(Es5Command::EstablishIsdrKeySetAgreement(ka));
    c.p2 = 0;
    assert_eq!(lab.one(c).sw, StatusWord::CONDITIONS_NOT_SATISFIED);
    // A CRT for another key usage.
    let rc = lab.challenge(lab.certificate());
    let (mut ka, _) = lab.agreement(&rc, &key);
    ka.crt.key_usage = 0x10;
    ka.signature = key.sign(&ka.signed_data(&rc).expect("signed")).to_vec();
    let r = lab.one(apdu(Es5Command::EstablishIsdrKeySetAgreement(ka)));
    assert_eq!(r.sw, StatusWord::INCORRECT_DATA);
    assert_eq!(
        lab.fleet.euiccs()[0]
            .isd_p(&aid(SLOT))
            .expect("isd-p")
            .scp03_counter(),
        None
    );
}

#[test]
fn wrong_block_numbers_answer_6a86() {
    let mut lab = lab();
    let mut c = apdu(Es5Command::EstablishIsdrKeySetCertificate {
        certificate: lab.certificate(),
    });
    c.p2 = 1;
    assert_eq!(lab.one(c).sw, StatusWord::INCORRECT_P1P2);
    let rc = lab.challenge(lab.certificate());
    let key = copy(&lab.world.sm_dp_gp.key);
    let (ka, _) = lab.agreement(&rc, &key);
    let mut c = apdu(Es5Command::EstablishIsdrKeySetAgreement(ka));
    c.p2 = 2;
    assert_eq!(lab.one(c.clone()).sw, StatusWord::INCORRECT_P1P2);
    // The right block still works after a wrong one.
    c.p2 = 1;
    assert_eq!(lab.one(c).sw, OK);

    // SCP03t: a segment repeated with its block number.
    let (keys, _) = lab.establish();
    let (mut host, _) = lab.open(&keys);
    let (pkg, _, _) = package(7);
    let segs = host.protect_package(&pkg).expect("protect");
    assert!(segs.len() >= 3);
    let r = lab.one(scp03t::store_data(2, segs[0].tlv.clone(), false));
    assert_eq!(r.sw, OK);
    let r = lab.one(scp03t::store_data(2, segs[0].tlv.clone(), false));
    assert_eq!(r.sw, StatusWord::INCORRECT_P1P2);
}

#[test]
fn mac_failures_and_out_of_order_segments_answer_6982_and_end_the_session() {
    let mut lab = lab();
    let (keys, _) = lab.establish();
    let (pkg, _, _) = package(8);

    // A segment whose ciphertext was altered.
    let (mut host, counter) = lab.open(&keys);
    assert_eq!(counter, [0, 0, 1]);
    let segs = host.protect_package(&pkg).expect("protect");
    let mut bad = segs[0].tlv.clone();
    bad[5] ^= 0x01;
    assert_eq!(
        lab.one(scp03t::store_data(2, bad, false)).sw,
        StatusWord::SECURITY_STATUS
    );
    // The session is gone and the block numbers restart: the next segment is out of sequence.
    assert_eq!(
        lab.one(scp03t::store_data(3, segs[1].tlv.clone(), false))
            .sw,
        StatusWord::INCORRECT_P1P2
    );
    assert_eq!(
        lab.one(scp03t::store_data(0, segs[1].tlv.clone(), false))
            .sw,
        StatusWord::CONDITIONS_NOT_SATISFIED
    );

    // A second session (counter 2): the second segment sent in the first one's place.
    let (mut host, counter) = lab.open(&keys);
    assert_eq!(counter, [0, 0, 2]);
    let segs = host.protect_package(&pkg).expect("protect");
    assert_eq!(
        lab.one(scp03t::store_data(2, segs[1].tlv.clone(), false))
            .sw,
        StatusWord::SECURITY_STATUS
    );

    // A security level other than 13.
    let hc = [9; 8];
    let r = lab.one(scp03t::store_data(
        0,
        scp03t::initialize_update_tlv(0x30, 1, hc),
        false,
    ));
    let iu = InitializeUpdateResponse::parse(&r.data).expect("84");
    let (_, mut ea) = HostSession::open(&keys, hc, &iu).expect("open");
    ea[2] = 0x33;
    assert_eq!(
        lab.one(scp03t::store_data(1, ea, false)).sw,
        StatusWord::INCORRECT_DATA
    );

    // An unknown key set.
    let r = lab.one(scp03t::store_data(
        0,
        scp03t::initialize_update_tlv(0x31, 1, hc),
        false,
    ));
    assert_eq!(r.sw, StatusWord::REFERENCED_DATA_NOT_FOUND);
    assert_eq!(lab.isdp_state().0, ProfileState::Created);

    // A complete download still works afterwards.
    let (mut host, counter) = lab.open(&keys);
    assert_eq!(counter, [0, 0, 4]);
    assert!(lab.download(&mut host, &pkg).is_success());
}

#[test]
fn scp03t_without_key_establishment_answers_6a88() {
    let mut lab = lab();
    let r = lab.one(scp03t::store_data(
        0,
        scp03t::initialize_update_tlv(0x30, 1, [0; 8]),
        false,
    ));
    assert_eq!(r.sw, StatusWord::REFERENCED_DATA_NOT_FOUND);
}

#[test]
fn a_malformed_package_is_refused_with_profile_installation_aborted() {
    let mut lab = lab();
    let (keys, _) = lab.establish();
    let (mut pkg, _, _) = package(9);
    pkg.truncate(pkg.len() - 3);
    let (mut host, _) = lab.open(&keys);
    let (r, out) = {
        let segments = host.protect_package(&pkg).expect("protect");
        let n = segments.len();
        let mut last = None;
        let mut all = Outputs::default();
        for (i, seg) in segments.iter().enumerate() {
            let (mut rs, o) = lab.send(vec![scp03t::store_data(
                (2 + i) as u8,
                seg.tlv.clone(),
                i + 1 == n,
            )]);
            all.events.extend(o.events);
            let r = rs.remove(0);
            assert_eq!(r.sw, OK);
            last = Some(host.check_response(seg, &r).expect("R-MAC").data);
        }
        (
            EuiccResponse::parse(&last.expect("last")).expect("EUICCResponse"),
            all,
        )
    };
    assert!(r.profile_installation_aborted);
    assert!(!r.is_success());
    assert_eq!(lab.isdp_state(), (ProfileState::Created, None));
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::PackageRefused { .. }))
    );
    // The same ISD-P accepts a good package in a new session.
    let (good, iccid, _) = package(10);
    let (mut host, _) = lab.open(&keys);
    assert!(lab.download(&mut host, &good).is_success());
    assert_eq!(lab.isdp_state(), (ProfileState::Disabled, Some(iccid)));
    // An installed ISD-P refuses a new download.
    let r = lab.one(scp03t::store_data(
        0,
        scp03t::initialize_update_tlv(0x30, 1, [0; 8]),
        false,
    ));
    assert_eq!(r.sw, StatusWord::CONDITIONS_NOT_SATISFIED);
}

#[test]
fn test_faults_give_a_wrong_receipt_a_cmac_failure_and_a_refused_package() {
    let mut lab = lab();
    let eid = lab.fleet.euiccs()[0].eid();
    let (pkg, _, _) = package(11);

    lab.fleet
        .set_download_faults(
            &eid,
            DownloadFaults {
                wrong_receipt: true,
                ..DownloadFaults::default()
            },
        )
        .expect("faults");
    let (_, receipt_ok) = lab.establish();
    assert!(!receipt_ok);

    lab.fleet
        .set_download_faults(
            &eid,
            DownloadFaults {
                cmac_failure: true,
                ..DownloadFaults::default()
            },
        )
        .expect("faults");
    let (keys, receipt_ok) = lab.establish();
    assert!(receipt_ok);
    let (mut host, _) = lab.open(&keys);
    let segs = host.protect_package(&pkg).expect("protect");
    assert_eq!(
        lab.one(scp03t::store_data(2, segs[0].tlv.clone(), false))
            .sw,
        StatusWord::SECURITY_STATUS
    );

    let refuse = DownloadFaults {
        refuse_package: true,
        ..DownloadFaults::default()
    };
    lab.fleet.set_download_faults(&eid, refuse).expect("faults");
    assert_eq!(lab.fleet.euiccs()[0].download_faults(), refuse);
    let (mut host, _) = lab.open(&keys);
    let r = lab.download(&mut host, &pkg);
    assert!(r.profile_installation_aborted);
    assert_eq!(lab.isdp_state().0, ProfileState::Created);

    lab.fleet
        .set_download_faults(&eid, DownloadFaults::default())
        .expect("faults");
    let (mut host, _) = lab.open(&keys);
    assert!(lab.download(&mut host, &pkg).is_success());
    // Without a subscriber entry the profile has no MSISDN.
    let i = lab.fleet.euiccs()[0]
        .isd_p(&aid(SLOT))
        .expect("isd-p")
        .clone();
    assert_eq!(i.msisdn(), None);
    assert!(i.imsi().is_some());
}
