//! The download procedure driven through every phase without a network: a test PKI (certs::world), and a
//! simulated ISD-P that answers the SendData scripts with the card side of wire-profile §5 and §7
//! (es-interfaces' SCP03t card session), with faults to switch on.

use certs::ecc::{Curve, PrivateKey, PublicKey};
use certs::world::{self, World, WorldOptions};
use es_interfaces::apdu::{ResponseApdu, StatusWord};
use es_interfaces::isdr::{self, Es5Command, KeyAgreementResponse};
use es_interfaces::scp03::StaticKeys;
use es_interfaces::scp03::scp03t::{CardPendingTlv, CardSession};
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, StatusCodeData, Subject};
use es_interfaces::types::ProfileState;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use super::es8::KeyData;
use super::procedure::*;

const SMSR: &str = "1.3.6.1.4.1.99999.2";
const ISD_P: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00,
];

/// The ISD-P of the simulated eUICC and what it received.
#[derive(Default)]
struct Card {
    random_challenge: Vec<u8>,
    keys: Option<StaticKeys>,
    pending: Option<CardPendingTlv>,
    session: Option<CardSession>,
    package: Vec<u8>,
    installed: bool,
    wrong_receipt: bool,
    refuse_package: bool,
    corrupt_rmac: bool,
}

fn ok(data: Vec<u8>) -> ResponseApdu {
    ResponseApdu::new(data, StatusWord(0x9000))
}

impl Card {
    /// Runs an ES8 command script as the ISD-P does (wire-profile §5, §7); returns the response script.
    fn run(&mut self, w: &World, script: &[u8]) -> Vec<u8> {
        let commands = CommandScript::parse_expanded(script)
            .expect("command script")
            .commands;
        let mut out = Vec::new();
        for c in commands {
            let r = match c.data.first().copied() {
                Some(0x3A) if c.data[1] == 0x01 => {
                    let cert =
                        certs::gp_cert::GpCertificate::decode(&c.data[3..]).expect("3A01 cert");
                    cert.verify_signature(w.ci.cert.public_key())
                        .expect("CERT.DP.ECDSA signed by the CI");
                    let mut rc = [0u8; 16];
                    rand::rng().fill_bytes(&mut rc);
                    self.random_challenge = rc.to_vec();
                    ok(isdr::encode_random_challenge_response(&self.random_challenge).expect("85"))
                }
                Some(0x3A) => {
                    let Es5Command::EstablishIsdrKeySetAgreement(ka) =
                        Es5Command::from_apdu(&c).expect("3A02")
                    else {
                        panic!("not a key agreement");
                    };
                    let signed = ka.signed_data(&self.random_challenge).expect("signed data");
                    w.sm_dp_gp
                        .cert
                        .body()
                        .public_key
                        .verify(&signed, &ka.signature)
                        .expect("signature");
                    let epk =
                        PublicKey::from_sec1(Curve::P256, &ka.ephemeral_public_key).expect("ePK");
                    let shs = w.euiccs[0].ecasd.key.ecka(&epk).expect("ECKA");
                    let kd = es_interfaces::es8::derive_isd_p_keys(shs.as_bytes()).expect("KDF");
                    let mut receipt = es_interfaces::es8::receipt(&kd.receipt_key, &ka)
                        .expect("receipt")
                        .to_vec();
                    if self.wrong_receipt {
                        receipt[0] ^= 1;
                    }
                    self.keys = Some(kd.keys);
                    ok(KeyAgreementResponse {
                        derivation_random: None,
                        receipt,
                    }
                    .to_bytes()
                    .expect("86"))
                }
                Some(0x84) => {
                    let keys = self.keys.clone().expect("key set 30");
                    let (pending, answer) = CardPendingTlv::initialize_update(
                        &keys,
                        &c.data,
                        [0; 10],
                        [0, 0, 1],
                        &ISD_P,
                    )
                    .expect("84");
                    self.pending = Some(pending);
                    ok(answer.to_bytes())
                }
                Some(0x85) => {
                    let pending = self.pending.take().expect("84 first");
                    self.session = Some(pending.external_authenticate(&c.data).expect("85"));
                    ok(Vec::new())
                }
                Some(0x86) => {
                    let session = self.session.as_mut().expect("85 first");
                    self.package
                        .extend(session.open_segment(&c.data).expect("86"));
                    let last = c.p1 & 0x80 != 0;
                    let data = if !last {
                        Vec::new()
                    } else if self.refuse_package {
                        es_interfaces::es8::EuiccResponse::aborted(
                            es_interfaces::es8::pe_status::BAD_VALUES,
                            Some(2),
                        )
                        .to_der()
                        .expect("DER")
                    } else {
                        self.installed = true;
                        es_interfaces::es8::EuiccResponse::success()
                            .to_der()
                            .expect("DER")
                    };
                    let mut r = session.respond(&data, StatusWord(0x9000)).expect("R-MAC");
                    if self.corrupt_rmac {
                        let n = r.data.len();
                        r.data[n - 1] ^= 1;
                    }
                    r
                }
                other => panic!("unexpected ES8 command {other:?}"),
            };
            out.push(r);
        }
        ResponseScript::new(out)
            .expect("script")
            .to_expanded()
            .expect("encode")
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    world: World,
    identity: Es8Identity,
    procedure: Procedure,
    keys: Option<KeyData>,
    package: Vec<u8>,
    rng: StdRng,
    now: OffsetDateTime,
    card: Card,
    /// Drive `Loading` as the driver does with its cache: the load scripts computed once, then given in the
    /// context without the package.
    keep_scripts: bool,
    kept: Option<Vec<super::es8::LoadScript>>,
}

fn order(w: &World) -> Order {
    Order {
        eid: w.euiccs[0].eid.clone(),
        smsr_id: SMSR.into(),
        mno_id: "1.3.6.1.4.1.99999.5".into(),
        iccid: "8949000000000000018".into(),
        imsi: "262010000000018".into(),
        msisdn: None,
        profile_type: "m2m".into(),
        required_memory: 4096,
        target_platform: ANY_PLATFORM.into(),
        pol2: None,
        enable: true,
    }
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = OffsetDateTime::now_utc();
        let world = world::generate(
            dir.path(),
            &WorldOptions {
                seed: Some(9),
                ..WorldOptions::new(1, now)
            },
        )
        .expect("world");
        let identity = Es8Identity {
            smdp_oid: world.manifest.sm_dp.oid.clone(),
            cert_dp: world.sm_dp_gp.cert.encode(),
            sk_dp: PrivateKey::from_scalar(Curve::P256, world.sm_dp_gp.key.to_scalar().as_slice())
                .expect("key"),
            ci: world.ci.cert.clone(),
            eums: vec![world.eum.cert.clone()],
        };
        let mut rng = StdRng::seed_from_u64(1);
        let mut package = vec![0u8; 2_000];
        rng.fill_bytes(&mut package);
        Harness {
            procedure: Procedure::new(order(&world)),
            _dir: dir,
            world,
            identity,
            keys: None,
            package,
            rng,
            now,
            card: Card::default(),
            keep_scripts: false,
            kept: None,
        }
    }

    /// In `Loading` with `keep_scripts`: the kept load scripts (computed on first use).
    fn keep(&mut self) -> bool {
        if !self.keep_scripts || !matches!(self.procedure.phase, Phase::Loading { .. }) {
            self.kept = None;
            return false;
        }
        if self.kept.is_none() {
            let ctx = Context {
                identity: &self.identity,
                now: self.now,
                rng: &mut self.rng,
                keys: self.keys.as_ref(),
                package: Some(&self.package),
                scripts: None,
                budget: 1000,
            };
            self.kept = Some(self.procedure.load_scripts(&ctx).expect("load scripts"));
        }
        true
    }

    fn eis(&self) -> EisView {
        EisView {
            smsr_id: SMSR.into(),
            platform_type: "rsp-simulated-euicc".into(),
            remaining_memory: 100_000,
            ecasd_certificate: Some(self.world.euiccs[0].ecasd.cert.encode()),
            profiles: vec![("8949000000000000001".into(), ProfileState::Enabled, None)],
        }
    }

    /// The state as the driver stores and reloads it between steps (a restart at any step).
    fn reload(&mut self) {
        let json = serde_json::to_string(&self.procedure).expect("to JSON");
        self.procedure = serde_json::from_str(&json).expect("from JSON");
        if !self.procedure.phase.holds_keys() {
            self.keys = None;
        }
    }

    fn request(&mut self) -> Option<Es3Call> {
        let kept = self.keep();
        let ctx = Context {
            identity: &self.identity,
            now: self.now,
            rng: &mut self.rng,
            keys: self.keys.as_ref(),
            package: (!kept).then_some(self.package.as_slice()),
            scripts: self.kept.as_deref(),
            budget: 1000,
        };
        let a = self.procedure.request(&ctx).expect("request");
        let b = self.procedure.request(&ctx).expect("request");
        assert_eq!(a, b, "a retried step sends the same request");
        a
    }

    fn apply(&mut self, event: Event) -> Effects {
        let kept = self.keep();
        let mut ctx = Context {
            identity: &self.identity,
            now: self.now,
            rng: &mut self.rng,
            keys: self.keys.as_ref(),
            package: (!kept).then_some(self.package.as_slice()),
            scripts: self.kept.as_deref(),
            budget: 1000,
        };
        let mut effects = self.procedure.apply(event, &mut ctx).expect("apply");
        if let Some(k) = effects.keys.take() {
            self.keys = Some(k);
        }
        self.reload();
        effects
    }

    fn answer(&mut self, status: FunctionExecutionStatus) -> Effects {
        self.apply(Event::Answer(Box::new(Answer {
            status,
            eis: None,
            isd_p_aid: None,
            euicc_response_data: None,
        })))
    }

    /// Sends the current SendData script to the card and applies its answer.
    fn exchange(&mut self) -> Effects {
        let Some(Es3Call::SendData { sd_aid, script, .. }) = self.request() else {
            panic!("phase {:?} sends no script", self.procedure.phase);
        };
        assert_eq!(sd_aid, ISD_P);
        assert!(script.len() <= 1000, "script of {} bytes", script.len());
        let data = self.card.run(&self.world, &script);
        self.apply(Event::Answer(Box::new(Answer {
            status: FunctionExecutionStatus::success(),
            eis: None,
            isd_p_aid: None,
            euicc_response_data: Some(data),
        })))
    }

    fn eligible(&mut self) -> Effects {
        assert_eq!(self.request(), Some(Es3Call::GetEis));
        let eis = self.eis();
        self.apply(Event::Answer(Box::new(Answer {
            status: FunctionExecutionStatus::success(),
            eis: Some(eis),
            isd_p_aid: None,
            euicc_response_data: None,
        })))
    }

    fn created(&mut self) -> Effects {
        assert_eq!(self.request(), Some(Es3Call::CreateIsdp));
        self.apply(Event::Answer(Box::new(Answer {
            status: FunctionExecutionStatus::success(),
            eis: None,
            isd_p_aid: Some(ISD_P.to_vec()),
            euicc_response_data: None,
        })))
    }

    /// Eligibility, CreateISDP, key establishment and SCP03t up to the first load script.
    fn up_to_loading(&mut self) {
        assert_eq!(self.eligible().stock, Some(StockChange::StartDownload));
        self.created();
        assert_eq!(self.procedure.phase, Phase::SendingCertificate);
        let e = self.exchange();
        assert!(e.report.is_none());
        assert_eq!(self.procedure.phase, Phase::SendingKeyAgreement);
        self.exchange();
        assert_eq!(self.procedure.phase, Phase::OpeningScp03t);
        self.exchange();
        assert!(matches!(
            self.procedure.phase,
            Phase::Loading { script: 0, .. }
        ));
    }
}

fn code(e: &Effects) -> (String, Option<String>, Option<String>) {
    let r = e.report.as_ref().expect("a report");
    (r.status.clone(), r.subject.clone(), r.reason.clone())
}

fn failed(subject: &str, reason: &str) -> (String, Option<String>, Option<String>) {
    ("FAILED".into(), Some(subject.into()), Some(reason.into()))
}

#[test]
fn a_download_with_enable_goes_through_every_phase() {
    let mut h = Harness::new();
    h.up_to_loading();
    let Phase::Loading { scripts, .. } = h.procedure.phase else {
        unreachable!()
    };
    assert!(scripts >= 3, "2,000 bytes in 1,000-byte scripts: {scripts}");
    for i in 0..scripts {
        assert_eq!(h.procedure.phase, Phase::Loading { script: i, scripts });
        let Some(Es3Call::SendData { more_to_do, .. }) = h.request() else {
            panic!("no script")
        };
        assert_eq!(more_to_do, i + 1 < scripts);
        let e = h.exchange();
        assert!(e.report.is_none() && e.stock.is_none());
    }
    assert_eq!(
        h.card.package, h.package,
        "the ISD-P reassembled the package"
    );
    assert!(h.card.installed);
    assert_eq!(h.procedure.phase, Phase::Completing);
    assert!(
        h.keys.is_none(),
        "the key set is dropped once the package is loaded"
    );
    assert_eq!(h.request(), Some(Es3Call::ProfileDownloadCompleted));
    let e = h.answer(FunctionExecutionStatus::success());
    assert_eq!(e.stock, Some(StockChange::Installed));
    assert_eq!(h.procedure.phase, Phase::Enabling);
    assert_eq!(h.request(), Some(Es3Call::EnableProfile));
    let e = h.answer(FunctionExecutionStatus::success());
    assert_eq!(h.procedure.phase, Phase::Done);
    let r = e.report.expect("report");
    assert_eq!(r.status, "EXECUTED_SUCCESS");
    assert!(r.with_iccid);
    assert_eq!(h.request(), None);
    // A late or repeated answer once done changes nothing.
    let e = h.answer(FunctionExecutionStatus::success());
    assert!(e.report.is_none() && e.stock.is_none());
}

#[test]
fn kept_load_scripts_stand_in_for_the_package() {
    let mut plain = Harness::new();
    let mut kept = Harness::new();
    kept.keep_scripts = true;
    plain.up_to_loading();
    kept.up_to_loading();
    let Phase::Loading { scripts, .. } = kept.procedure.phase else {
        unreachable!()
    };
    for _ in 0..scripts {
        // The same seeded run: the kept scripts are the recomputed ones, sent and checked without the package.
        assert_eq!(kept.request(), plain.request());
        kept.exchange();
        plain.exchange();
    }
    assert_eq!(kept.card.package, kept.package);
    assert!(kept.card.installed);
    assert_eq!(kept.procedure.phase, Phase::Completing);
}

#[test]
fn kept_load_scripts_still_check_the_r_mac() {
    let mut h = Harness::new();
    h.keep_scripts = true;
    h.card.corrupt_rmac = true;
    h.up_to_loading();
    let e = h.exchange();
    assert_clean_up(&mut h, e, failed("8.3.1", "6.1"));
}

#[test]
fn without_enable_the_download_ends_after_profile_download_completed() {
    let mut h = Harness::new();
    h.procedure.order.enable = false;
    h.up_to_loading();
    while matches!(h.procedure.phase, Phase::Loading { .. }) {
        h.exchange();
    }
    let e = h.answer(FunctionExecutionStatus::success());
    assert_eq!(e.stock, Some(StockChange::Installed));
    assert_eq!(code(&e), ("EXECUTED_SUCCESS".into(), None, None));
    assert_eq!(h.procedure.phase, Phase::Done);
}

#[test]
fn a_failed_enable_is_a_warning_and_the_profile_stays_installed() {
    let mut h = Harness::new();
    h.up_to_loading();
    while matches!(h.procedure.phase, Phase::Loading { .. }) {
        h.exchange();
    }
    assert_eq!(
        h.answer(FunctionExecutionStatus::success()).stock,
        Some(StockChange::Installed)
    );
    let e = h.answer(FunctionExecutionStatus::failed(StatusCodeData::new(
        Subject::PROFILE_ICCID,
        Reason::REFUSED,
        None,
    )));
    assert_eq!(e.stock, None, "installed stays installed");
    assert_eq!(
        code(&e),
        (
            "EXECUTED_WITHWARNING".into(),
            Some("8.2.1".into()),
            Some("3.8".into())
        )
    );
    assert!(e.report.expect("report").with_iccid);
}

fn eligibility_with(edit: impl FnOnce(&mut EisView, &mut Harness)) -> Effects {
    let mut h = Harness::new();
    let mut eis = h.eis();
    edit(&mut eis, &mut h);
    let e = h.apply(Event::Answer(Box::new(Answer {
        status: FunctionExecutionStatus::success(),
        eis: Some(eis),
        isd_p_aid: None,
        euicc_response_data: None,
    })));
    if e.report.is_some() {
        assert_eq!(h.procedure.phase, Phase::Done);
        assert_eq!(
            e.stock,
            Some(StockChange::Release),
            "refused before CreateISDP: released"
        );
    }
    e
}

#[test]
fn eligibility_refusals_release_the_record() {
    let mut h = Harness::new();
    let e = h.apply(Event::Answer(Box::new(Answer {
        status: FunctionExecutionStatus::success(),
        eis: None,
        isd_p_aid: None,
        euicc_response_data: None,
    })));
    assert_eq!(code(&e), failed("8.1.1", "3.9"));
    assert_eq!(e.stock, Some(StockChange::Release));
    let mut h = Harness::new();
    let refused =
        FunctionExecutionStatus::failed(StatusCodeData::new(Subject::EID, Reason::UNKNOWN, None));
    assert_eq!(
        code(&h.answer(refused)),
        failed("8.1.1", "3.9"),
        "the SM-SR's refusal is passed on"
    );
    assert_eq!(
        code(&eligibility_with(
            |e, _| e.smsr_id = "1.3.6.1.4.1.99999.77".into()
        )),
        failed("8.7", "3.10")
    );
    assert_eq!(
        code(&eligibility_with(|e, _| e.remaining_memory = 4095)),
        failed("8.1", "3.8")
    );
    assert_eq!(
        code(&eligibility_with(|_, h| h
            .procedure
            .order
            .target_platform =
            "other-platform".into())),
        failed("8.1", "3.8")
    );
    assert!(
        eligibility_with(|_, h| h.procedure.order.target_platform = "rsp-simulated-euicc".into())
            .report
            .is_none()
    );
    assert_eq!(
        code(&eligibility_with(|_, h| h.identity.eums.clear())),
        failed("8.5.2", "6.1")
    );
    assert_eq!(
        code(&eligibility_with(
            |e, h| e.ecasd_certificate = Some(h.world.sm_dp_gp.cert.encode())
        )),
        failed("8.5.2", "6.1"),
        "a certificate that is not an ECASD's"
    );
    assert_eq!(
        code(&eligibility_with(|e, _| e.ecasd_certificate = None)),
        failed("8.5.2", "6.1")
    );
    assert_eq!(
        code(&eligibility_with(|e, h| e.profiles.push((
            h.procedure.order.iccid.clone(),
            ProfileState::Disabled,
            Some(h.identity.smdp_oid.clone())
        )))),
        failed("8.2.1", "3.3")
    );
}

#[test]
fn a_leftover_isd_p_in_created_is_deleted_first() {
    let mut h = Harness::new();
    let mut eis = h.eis();
    eis.profiles.push((
        h.procedure.order.iccid.clone(),
        ProfileState::Created,
        Some(h.identity.smdp_oid.clone()),
    ));
    let e = h.apply(Event::Answer(Box::new(Answer {
        status: FunctionExecutionStatus::success(),
        eis: Some(eis),
        isd_p_aid: None,
        euicc_response_data: None,
    })));
    assert!(e.report.is_none() && e.stock.is_none());
    assert_eq!(h.procedure.phase, Phase::DeletingLeftover);
    assert_eq!(h.request(), Some(Es3Call::DeleteIsdp));
    assert_eq!(
        h.answer(FunctionExecutionStatus::success()).stock,
        Some(StockChange::StartDownload)
    );
    assert_eq!(h.procedure.phase, Phase::CreatingIsdp);
}

#[test]
fn a_refused_create_isdp_releases_without_clean_up() {
    let mut h = Harness::new();
    h.eligible();
    let e = h.answer(FunctionExecutionStatus::failed(StatusCodeData::new(
        Subject::PROFILE_ICCID,
        Reason::ALREADY_IN_USE,
        None,
    )));
    assert_eq!(code(&e), failed("8.2.1", "3.3"));
    assert_eq!(e.stock, Some(StockChange::Release));
    assert_eq!(h.procedure.phase, Phase::Done);
}

/// After CreateISDP: the MNO is told at once, the ISD-P is deleted, and only then the record is released.
fn assert_clean_up(
    h: &mut Harness,
    e: Effects,
    expected: (String, Option<String>, Option<String>),
) {
    assert_eq!(code(&e), expected);
    assert_eq!(e.stock, None);
    assert_eq!(h.procedure.phase, Phase::CleaningUp);
    assert!(h.keys.is_none(), "no key set is kept for the clean-up");
    assert_eq!(h.request(), Some(Es3Call::DeleteIsdp));
    let e = h.answer(FunctionExecutionStatus::success());
    assert!(e.report.is_none(), "the MNO is answered once");
    assert_eq!(e.stock, Some(StockChange::Release));
    assert_eq!(h.procedure.phase, Phase::Done);
}

#[test]
fn a_wrong_receipt_runs_the_error_sub_routine() {
    let mut h = Harness::new();
    h.card.wrong_receipt = true;
    h.eligible();
    h.created();
    h.exchange();
    let e = h.exchange();
    assert_clean_up(&mut h, e, failed("8.3.1", "6.1"));
}

#[test]
fn a_wrong_r_mac_runs_the_error_sub_routine() {
    let mut h = Harness::new();
    h.card.corrupt_rmac = true;
    h.up_to_loading();
    let e = h.exchange();
    assert_clean_up(&mut h, e, failed("8.3.1", "6.1"));
}

#[test]
fn a_refused_package_runs_the_error_sub_routine() {
    let mut h = Harness::new();
    h.card.refuse_package = true;
    h.up_to_loading();
    let mut e = h.exchange();
    while matches!(h.procedure.phase, Phase::Loading { .. }) {
        e = h.exchange();
    }
    assert_clean_up(&mut h, e, failed("8.3.1", "4.2"));
}

#[test]
fn a_send_data_failure_of_the_sm_sr_is_passed_on() {
    let mut h = Harness::new();
    h.up_to_loading();
    let mac_failure = FunctionExecutionStatus::failed(StatusCodeData::new(
        Subject::ISD_R,
        Reason::EXECUTION_ERROR,
        Some("SW 6982".into()),
    ));
    let e = h.answer(mac_failure);
    assert_clean_up(&mut h, e, failed("8.4", "4.2"));
}

#[test]
fn the_end_of_the_validity_period() {
    let expired = (
        "EXPIRED".to_string(),
        Some("1.6".to_string()),
        Some("5.3".to_string()),
    );
    let mut h = Harness::new();
    let e = h.apply(Event::Expired);
    assert_eq!(code(&e), expired);
    assert_eq!(e.stock, Some(StockChange::Release));

    let mut h = Harness::new();
    h.up_to_loading();
    let e = h.apply(Event::Expired);
    assert_clean_up(&mut h, e, expired.clone());

    let mut h = Harness::new();
    h.eligible();
    let e = h.answer(FunctionExecutionStatus::expired(None));
    assert_clean_up(&mut h, e, expired.clone());

    let mut h = Harness::new();
    h.up_to_loading();
    while matches!(h.procedure.phase, Phase::Loading { .. }) {
        h.exchange();
    }
    h.answer(FunctionExecutionStatus::success());
    let e = h.apply(Event::Expired);
    assert_eq!(code(&e).0, "EXECUTED_WITHWARNING");
    assert_eq!(h.procedure.phase, Phase::Done);
    let e = h.apply(Event::Expired);
    assert!(e.report.is_none(), "once done, nothing more");
}

/// The validity period ends while ProfileDownloadCompleted is under way: the SM-DP asks the EIS whether the
/// SM-SR installed the profile before it runs the error management sub-routine.
#[test]
fn an_expiry_during_profile_download_completed_looks_at_the_eis_first() {
    let completing = || {
        let mut h = Harness::new();
        h.up_to_loading();
        while matches!(h.procedure.phase, Phase::Loading { .. }) {
            h.exchange();
        }
        assert_eq!(h.procedure.phase, Phase::Completing);
        let e = h.apply(Event::Expired);
        assert!(
            e.report.is_none() && e.stock.is_none(),
            "nothing decided yet"
        );
        assert_eq!(h.procedure.phase, Phase::Reconciling);
        assert!(
            h.apply(Event::Expired).report.is_none(),
            "a second expiry changes nothing"
        );
        assert_eq!(h.request(), Some(Es3Call::GetEis));
        h
    };
    let with_profile = |h: &Harness, state: ProfileState, smdp: Option<&str>| {
        let mut eis = h.eis();
        eis.profiles.push((
            h.procedure.order.iccid.clone(),
            state,
            smdp.map(str::to_string),
        ));
        Event::Answer(Box::new(Answer {
            status: FunctionExecutionStatus::success(),
            eis: Some(eis),
            isd_p_aid: None,
            euicc_response_data: None,
        }))
    };
    let ours = completing().identity.smdp_oid.clone();

    // Installed (the answer was lost): kept, a warning to the MNO, the record installed.
    let mut h = completing();
    let e = h.apply(with_profile(&h, ProfileState::Disabled, Some(&ours)));
    assert_eq!(
        code(&e),
        (
            "EXECUTED_WITHWARNING".into(),
            Some("1.2.1".into()),
            Some("6.3".into())
        )
    );
    assert!(e.report.as_ref().is_some_and(|r| r.with_iccid));
    assert_eq!(e.stock, Some(StockChange::Installed));
    assert_eq!(h.procedure.phase, Phase::Done);

    // Still Created, another SM-DP's profile, or GetEIS failed: the error management sub-routine.
    let expired = (
        "EXPIRED".to_string(),
        Some("1.6".to_string()),
        Some("5.3".to_string()),
    );
    let mut h = completing();
    let e = h.apply(with_profile(&h, ProfileState::Created, Some(&ours)));
    assert_clean_up(&mut h, e, expired.clone());
    let mut h = completing();
    let e = h.apply(with_profile(&h, ProfileState::Disabled, Some("1.2.3.4")));
    assert_clean_up(&mut h, e, expired.clone());
    let mut h = completing();
    let e = h.answer(FunctionExecutionStatus::failed(StatusCodeData::new(
        Subject::EID,
        Reason::UNKNOWN,
        None,
    )));
    assert_clean_up(&mut h, e, expired);
}

#[test]
fn a_failed_clean_up_is_tried_again_and_keeps_the_record_out_of_stock() {
    let mut h = Harness::new();
    h.up_to_loading();
    h.apply(Event::Expired);
    // Every failed DeleteISDP: the record stays downloading, the MNO is not told again, the deletion is tried
    // again after the next delay, with a new request.
    for (n, delay) in CLEANUP_RETRY_DELAYS.iter().enumerate() {
        assert_eq!(h.procedure.phase, Phase::CleaningUp);
        assert_eq!(h.request(), Some(Es3Call::DeleteIsdp));
        let e = h.answer(FunctionExecutionStatus::expired(None));
        assert!(e.report.is_none() && e.stock.is_none(), "attempt {n}");
        assert_eq!(e.retry_after, Some(*delay), "attempt {n}");
        assert_eq!(h.procedure.cleanup_failures, n as u32 + 1);
    }
    // The last attempt fails too: CleanupFailed, nothing more is sent, the record stays held.
    let refused = FunctionExecutionStatus::failed(StatusCodeData::new(
        Subject::EUICC,
        Reason::REFUSED,
        Some("card says no".into()),
    ));
    let e = h.answer(refused);
    assert_eq!(h.procedure.phase, Phase::CleanupFailed);
    assert!(h.procedure.phase.is_finished());
    assert!(e.report.is_none() && e.stock.is_none() && e.retry_after.is_none());
    assert_eq!(h.request(), None);
    let last = h.procedure.cleanup_error.clone().expect("last error kept");
    assert_eq!(
        (
            last.status.as_str(),
            last.subject.as_deref(),
            last.reason.as_deref()
        ),
        ("FAILED", Some("8.1"), Some("3.8"))
    );
    // An expiry or a late answer changes nothing now.
    let before = h.procedure.clone();
    h.apply(Event::Expired);
    h.answer(FunctionExecutionStatus::success());
    assert_eq!(h.procedure, before);
    // The operator has it tried again: CleaningUp with the attempts counted afresh; a success releases.
    assert!(h.procedure.retry_cleanup());
    assert!(!h.procedure.retry_cleanup(), "only from CleanupFailed");
    assert_eq!(
        (h.procedure.phase.clone(), h.procedure.cleanup_failures),
        (Phase::CleaningUp, 0)
    );
    assert_eq!(h.request(), Some(Es3Call::DeleteIsdp));
    let e = h.answer(FunctionExecutionStatus::success());
    assert_eq!(e.stock, Some(StockChange::Release));
    assert!(e.report.is_none(), "the MNO was answered once, long ago");
    assert_eq!(h.procedure.phase, Phase::Done);

    // A procedure recorded before these fields existed reads with no failures counted.
    let mut old = serde_json::to_value(&h.procedure).expect("json");
    let map = old.as_object_mut().expect("object");
    map.remove("cleanup_failures");
    map.remove("cleanup_error");
    let read: Procedure = serde_json::from_value(old).expect("old state");
    assert_eq!((read.cleanup_failures, read.cleanup_error), (0, None));

    // An ISD-P the SM-SR does not know is gone: released at once.
    let mut h = Harness::new();
    h.up_to_loading();
    h.apply(Event::Expired);
    let gone = FunctionExecutionStatus::failed(StatusCodeData::new(
        Subject::PROFILE_ICCID,
        Reason::UNKNOWN,
        None,
    ));
    assert_eq!(
        h.answer(gone).stock,
        Some(StockChange::Release),
        "an ISD-P the SM-SR does not know is gone"
    );
}

#[test]
fn report_status_round_trips() {
    let s = FunctionExecutionStatus::failed(StatusCodeData::new(
        Subject::ECASD_CERTIFICATE,
        Reason::EXPIRED,
        Some("m".into()),
    ));
    let mut h = Harness::new();
    let e = h.answer(s.clone());
    assert_eq!(e.report.expect("report").execution_status(), s);
    assert_eq!(Status::Failed, s.status);
}

#[test]
fn an_expired_ecasd_certificate_or_one_of_an_unknown_eum_is_refused() {
    let h = Harness::new();
    let mut body = h.world.euiccs[0].ecasd.cert.body().clone();
    let today = h.now.date();
    body.effective_date = today - time::Duration::days(400);
    body.expiration_date = today - time::Duration::days(1);
    let expired = body.clone().sign(&h.world.eum.key).encode();
    let e = eligibility_with(|e, _| e.ecasd_certificate = Some(expired));
    assert_eq!(code(&e), failed("8.5.2", "6.3"));
    let stranger = PrivateKey::generate(Curve::P256, &mut StdRng::seed_from_u64(3));
    body.expiration_date = today + time::Duration::days(400);
    let forged = body.sign(&stranger).encode();
    let e = eligibility_with(|e, _| e.ecasd_certificate = Some(forged));
    assert_eq!(code(&e), failed("8.5.2", "6.1"));
}
