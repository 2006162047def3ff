//! The crypto floor of one profile download (issue 9, `rsp bench download`): the ECDSA, ECDH and AES/CMAC work
//! both sides of one SGP.02 §3.1 download cannot avoid, done back to back on one core with the project's own
//! functions (certs, es-interfaces, the SM-SR's SCP80 securing), and timed per part in CPU time of the thread
//! (so that other processes on the machine do not inflate it). Nothing here touches a
//! network, a database or a thread pool: it is the lower bound of the CPU time of one download.
//!
//! One download, as wire-profile §5 and §7 and the download contract describe it:
//! - SM-DP: the ECASD chain CI → EUM → ECASD (2 ECDSA verifies; the CI is the trust anchor, its self-signature
//!   is not part of the floor), an ephemeral key pair and the ECDSA signature of `3A02`, ECDH with PK.ECASD.ECKA,
//!   the X9.63 KDF, the receipt CMAC, SCP03t: session keys and cryptograms, encryption and C-MAC of every
//!   segment of the personalised package, R-MAC check of every answer.
//! - eUICC (ISD-P): CERT.DP.ECDSA against PK.CI (1 verify), the `3A02` signature (1 verify), ECDH with
//!   SK.ECASD.ECKA, the X9.63 KDF, the receipt CMAC, SCP03t: session keys and cryptograms, C-MAC check and
//!   decryption of every segment, R-MAC of every answer.
//! - SCP80 over SMS (wire-profile §2): every ES5 command packet of the download (CreateISDP, one per
//!   ES3.SendData script — INSTALL [for personalization] first — EnableProfile and the confirmation of the
//!   eUICC's notification) secured by the SM-SR and opened by the card, its PoR built by the card and opened by
//!   the SM-SR; the card's notification secured by the card and opened by the SM-SR.
//!
//! ES3.SendData scripts are packed as the contract's default says: `[3A01] → [3A02] → [84] → [85, 86, …]`, as
//! many STORE DATA per script as fit in [`SCRIPT_BUDGET`] bytes of command script. The package is the sample
//! template personalised with a synthetic record (smdp::saip): the same template the bench stocks. Left out
//! (implementation choices, not protocol work): TLS of the HTTPS hops, sealing/unsealing of keys at rest, SAIP
//! encoding and validation.

use std::time::Duration;

use certs::ecc::{Curve, PrivateKey, PublicKey};
use certs::world::World;
use conformance::euicc::EuiccSecrets;
use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::isdr::{Es5Command, KeyAgreement};
use es_interfaces::scp03::scp03t::{self, CardPendingTlv, HostSession};
use es_interfaces::scp80::{self, Counter, Kic, Kid, PorStatus, ResponsePacket, Spi};
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::wire_profile::{self, CardProfile};
use es_interfaces::{es8, routing};
use smdp::saip::Limits;
use smdp::saip::bench::synthetic_record;
use smdp::saip::personalise::Personaliser;
use smdp::saip::sample;
use smsr::es5::security::{IsdrKeys, isd_r_tar, open_por, secure_command};

/// Bytes of command script per ES3.SendData (the download contract's default budget).
pub const SCRIPT_BUDGET: usize = 1_000;

/// The ISD-P key set version of key establishment (wire-profile §5: `83 01 30`).
const ISD_P_KVN: u8 = 0x30;

/// The timed parts of one download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    DpChain,
    DpSign,
    DpAgreement,
    DpScp03t,
    CardCertificate,
    CardSignature,
    CardAgreement,
    CardScp03t,
    Scp80Smsr,
    Scp80Card,
}

const PARTS: [(Part, &str); 10] = [
    (
        Part::DpChain,
        "SM-DP  ECASD chain CI→EUM→ECASD (2 ECDSA verify)",
    ),
    (Part::DpSign, "SM-DP  ephemeral key + ECDSA sign of 3A02"),
    (Part::DpAgreement, "SM-DP  ECDH + X9.63 + receipt CMAC"),
    (
        Part::DpScp03t,
        "SM-DP  SCP03t keys, encrypt + C-MAC, R-MAC check",
    ),
    (
        Part::CardCertificate,
        "eUICC  CERT.DP.ECDSA against PK.CI (ECDSA verify)",
    ),
    (Part::CardSignature, "eUICC  3A02 signature (ECDSA verify)"),
    (Part::CardAgreement, "eUICC  ECDH + X9.63 + receipt CMAC"),
    (
        Part::CardScp03t,
        "eUICC  SCP03t keys, C-MAC check + decrypt, R-MAC",
    ),
    (
        Part::Scp80Smsr,
        "SM-SR  SCP80 secure commands, open PoRs + notification",
    ),
    (
        Part::Scp80Card,
        "eUICC  SCP80 open commands, secure PoRs + notification",
    ),
];

/// The crypto floor of one download, measured.
#[derive(Debug, Clone)]
pub struct CryptoFloor {
    /// Time of all parts of one download, on one core.
    pub per_download: Duration,
    /// Each part's time per download, with its label.
    pub parts: Vec<(&'static str, Duration)>,
    /// Downloads computed for the average.
    pub iterations: usize,
    /// Size of the personalised package (bytes).
    pub package_bytes: usize,
    /// SCP03t segments (`86`) of the package.
    pub segments: usize,
    /// ES3.SendData scripts of one download.
    pub send_data_scripts: usize,
    /// SCP80 command packets of one download (each answered by a PoR), the notification not counted.
    pub command_packets: usize,
}

impl CryptoFloor {
    /// Downloads per second one core could do if it did nothing but this crypto.
    pub fn downloads_per_second(&self) -> f64 {
        1.0 / self.per_download.as_secs_f64().max(1e-12)
    }
}

/// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID): what the floor's work costs the core it runs on,
/// whatever else the machine runs meanwhile.
pub(crate) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one `struct timespec` into the pointer, which points to a valid one.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

struct Timer([Duration; PARTS.len()]);

impl Timer {
    fn run<T>(&mut self, part: Part, f: impl FnOnce() -> T) -> T {
        let started = thread_cpu_time();
        let out = f();
        self.0[part as usize] += thread_cpu_time().saturating_sub(started);
        out
    }
}

fn e(what: &str) -> impl Fn(String) -> String + '_ {
    move |why| format!("crypto floor, {what}: {why}")
}

/// One command packet of the download: the SM-SR's script and the card's response script (PoR data).
struct Packet {
    script: Vec<u8>,
    response: Vec<u8>,
}

/// The C-APDUs of one ES3.SendData script and the R-APDUs the ISD-P answers them with.
type SendDataScript = (Vec<CommandApdu>, Vec<ResponseApdu>);

fn response_script(answers: Vec<ResponseApdu>) -> Result<Vec<u8>, String> {
    ResponseScript::new(answers)
        .and_then(|s| s.to_expanded())
        .map_err(|x| x.to_string())
}

fn ok(data_len: usize) -> ResponseApdu {
    ResponseApdu::new(vec![0; data_len], StatusWord(0x9000))
}

/// The ES8 command scripts of one download as the SM-DP packs them, each with the R-APDUs the ISD-P answers
/// (data lengths of wire-profile §5, §7).
fn send_data_scripts(
    cert_dp: &[u8],
    agreement: &KeyAgreement,
    segments: &[Vec<u8>],
) -> Result<Vec<SendDataScript>, String> {
    let profile = CardProfile::default();
    let to_apdu = |c: Es5Command| c.to_apdu(&profile).map_err(|x| x.to_string());
    let mut scripts = vec![
        (
            vec![to_apdu(Es5Command::EstablishIsdrKeySetCertificate {
                certificate: cert_dp.to_vec(),
            })?],
            vec![ok(18)],
        ),
        (
            vec![to_apdu(Es5Command::EstablishIsdrKeySetAgreement(
                agreement.clone(),
            ))?],
            vec![ok(18)],
        ),
        (
            vec![scp03t::store_data(
                0,
                scp03t::initialize_update_tlv(ISD_P_KVN, 1, [0; 8]),
                false,
            )],
            vec![ok(32)],
        ),
    ];
    // [85, 86, …]: as many STORE DATA per script as fit in the budget.
    let mut tlvs = vec![vec![0u8; 19]];
    tlvs.extend(segments.iter().cloned());
    let count = tlvs.len();
    let mut current: SendDataScript = (Vec::new(), Vec::new());
    for (i, tlv) in tlvs.into_iter().enumerate() {
        let last = i + 1 == count;
        let answer = match (i, last) {
            (0, _) => ok(0),
            (_, true) => ok(9 + 8),
            _ => ok(8),
        };
        let apdu = scp03t::store_data((i + 1) as u8, tlv, last);
        let mut candidate = current.0.clone();
        candidate.push(apdu.clone());
        let size = CommandScript::new(candidate)
            .to_expanded()
            .map_err(|x| x.to_string())?
            .len();
        if size > SCRIPT_BUDGET && !current.0.is_empty() {
            scripts.push(std::mem::take(&mut current));
        }
        current.0.push(apdu);
        current.1.push(answer);
    }
    if !current.0.is_empty() {
        scripts.push(current);
    }
    Ok(scripts)
}

/// Measures the crypto floor of one download with the world's first eUICC and SM-DP, averaged over
/// `iterations` downloads (at least 1).
pub fn measure(world: &World, iterations: usize) -> Result<CryptoFloor, String> {
    let iterations = iterations.max(1);
    let euicc = world.euiccs.first().ok_or("the world has no eUICC")?;
    let ci = &world.ci.cert;
    let eum = &world.eum.cert;
    let ecasd = &euicc.ecasd;
    let dp = &world.sm_dp_gp;
    let cert_dp = dp.cert.encode();
    let secrets = EuiccSecrets::from_world(euicc).map_err(|x| e("eUICC keys")(x.to_string()))?;
    let kvn = secrets.isd_r.kvn();
    let key_byte = wire_profile::aes_kic_kid(kvn).ok_or("the ISD-R KVN is not an SCP80 KVN")?;
    let card_keys = secrets.isd_r.scp80();
    let smsr_keys = IsdrKeys {
        kvn,
        keys: secrets.isd_r.scp80(),
        key_byte,
    };
    let isd_p_aid = wire_profile::isd_p_aid(4).ok_or("ISD-P AID")?;
    let package = Personaliser::new(&sample::usim_template_der(), Limits::default())
        .and_then(|p| p.personalise(&synthetic_record(0)))
        .map_err(|x| e("package")(x.to_string()))?;
    let eid = euicc.eid.clone();
    let eid_bytes = hex::decode(&eid).map_err(|x| e("EID")(x.to_string()))?;
    let mut kdd = [0u8; 10];
    kdd.copy_from_slice(&eid_bytes[eid_bytes.len() - 10..]);
    let command_spi = Spi::from_bytes(wire_profile::ES5_COMMAND_SPI).map_err(|x| x.to_string())?;
    let notification_spi =
        Spi::from_bytes(wire_profile::NOTIFICATION_SPI).map_err(|x| x.to_string())?;
    let rng = &mut rand::rng();

    let mut timer = Timer([Duration::ZERO; PARTS.len()]);
    let mut layout = None;
    for n in 0..iterations {
        // Key establishment (wire-profile §5).
        timer
            .run(Part::DpChain, || {
                eum.verify_signed_by(ci).map_err(|x| x.to_string())?;
                ecasd
                    .cert
                    .verify_signature(eum.public_key())
                    .map_err(|x| x.to_string())
            })
            .map_err(e("ECASD chain"))?;
        timer
            .run(Part::CardCertificate, || {
                dp.cert.verify_signature(ci.public_key())
            })
            .map_err(|x| e("CERT.DP.ECDSA")(x.to_string()))?;
        let challenge: [u8; 16] = rand::random();
        let (ephemeral, agreement, signed) = timer
            .run(Part::DpSign, || {
                let ephemeral = PrivateKey::generate(Curve::P256, rng);
                let mut agreement = KeyAgreement {
                    crt: es8::isd_p_crt(ISD_P_KVN),
                    ephemeral_public_key: ephemeral.public_key().as_sec1_uncompressed().to_vec(),
                    key_parameter_reference: 0,
                    signature: Vec::new(),
                };
                let signed = agreement
                    .signed_data(&challenge)
                    .map_err(|x| x.to_string())?;
                agreement.signature = dp.key.sign(&signed).to_vec();
                Ok::<_, String>((ephemeral, agreement, signed))
            })
            .map_err(e("3A02"))?;
        let (card_data, receipt) = timer
            .run(Part::CardSignature, || {
                dp.cert
                    .body()
                    .public_key
                    .verify(&signed, &agreement.signature)
                    .map_err(|x| x.to_string())
            })
            .and_then(|()| {
                timer.run(Part::CardAgreement, || {
                    let peer = PublicKey::from_sec1(Curve::P256, &agreement.ephemeral_public_key)
                        .map_err(|x| x.to_string())?;
                    let shs = ecasd.key.ecka(&peer).map_err(|x| x.to_string())?;
                    let data = es8::derive_isd_p_keys(shs.as_bytes()).map_err(|x| x.to_string())?;
                    let receipt =
                        es8::receipt(&data.receipt_key, &agreement).map_err(|x| x.to_string())?;
                    Ok::<_, String>((data, receipt))
                })
            })
            .map_err(e("card key agreement"))?;
        let dp_data = timer
            .run(Part::DpAgreement, || {
                let shs = ephemeral
                    .ecka(&ecasd.cert.body().public_key)
                    .map_err(|x| x.to_string())?;
                let data = es8::derive_isd_p_keys(shs.as_bytes()).map_err(|x| x.to_string())?;
                let expected =
                    es8::receipt(&data.receipt_key, &agreement).map_err(|x| x.to_string())?;
                if expected != receipt {
                    return Err("receipt mismatch".to_string());
                }
                Ok(data)
            })
            .map_err(e("SM-DP key agreement"))?;

        // SCP03t (wire-profile §7).
        let host_challenge: [u8; 8] = rand::random();
        let counter = [0, 0, 1];
        let (pending, iu) = timer
            .run(Part::CardScp03t, || {
                CardPendingTlv::initialize_update(
                    &card_data.keys,
                    &scp03t::initialize_update_tlv(ISD_P_KVN, 1, host_challenge),
                    kdd,
                    counter,
                    &isd_p_aid,
                )
            })
            .map_err(|x| e("INITIALIZE UPDATE")(x.to_string()))?;
        let (mut host, ea) = timer
            .run(Part::DpScp03t, || {
                HostSession::open(&dp_data.keys, host_challenge, &iu)
            })
            .map_err(|x| e("SCP03t host")(x.to_string()))?;
        let mut card = timer
            .run(Part::CardScp03t, || pending.external_authenticate(&ea))
            .map_err(|x| e("EXTERNAL AUTHENTICATE")(x.to_string()))?;
        let segments = timer
            .run(Part::DpScp03t, || host.protect_package(&package))
            .map_err(|x| e("SCP03t protect")(x.to_string()))?;
        let installed = es8::EuiccResponse::success()
            .to_der()
            .map_err(|x| x.to_string())?;
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            let answer = timer
                .run(Part::CardScp03t, || {
                    card.open_segment(&seg.tlv)?;
                    card.respond(if last { &installed[..] } else { &[] }, StatusWord(0x9000))
                })
                .map_err(|x| e("SCP03t card")(x.to_string()))?;
            timer
                .run(Part::DpScp03t, || host.check_response(seg, &answer))
                .map_err(|x| e("R-MAC")(x.to_string()))?;
        }

        // The SCP80 packets of the download (wire-profile §2, §4): built once, secured and opened every time.
        if layout.is_none() {
            let tlvs: Vec<Vec<u8>> = segments.iter().map(|s| s.tlv.clone()).collect();
            let mut packets = vec![Packet {
                script: smsr::operation::script(&[Es5Command::CreateIsdp {
                    isd_p_aid: isd_p_aid.to_vec(),
                    memory_quota: None,
                }])
                .map_err(|x| x.to_string())?,
                response: response_script(vec![ok(0)])?,
            }];
            let scripts = send_data_scripts(&cert_dp, &agreement, &tlvs)?;
            let send_data = scripts.len();
            for (commands, mut answers) in scripts {
                let es8_script = CommandScript::new(commands)
                    .to_expanded()
                    .map_err(|x| x.to_string())?;
                let routed = routing::routed_script(&isd_p_aid, &es8_script)
                    .map_err(|x| x.to_string())?
                    .to_expanded()
                    .map_err(|x| x.to_string())?;
                answers.insert(0, ok(0));
                packets.push(Packet {
                    script: routed,
                    response: response_script(answers)?,
                });
            }
            for command in [
                Es5Command::EnableProfile {
                    isd_p_aid: isd_p_aid.to_vec(),
                },
                Es5Command::HandleNotificationConfirmation { sequence: 1 },
            ] {
                packets.push(Packet {
                    script: smsr::operation::script(&[command]).map_err(|x| x.to_string())?,
                    response: response_script(vec![ok(0)])?,
                });
            }
            layout = Some((packets, send_data, segments.len()));
        }
        let Some((packets, _, _)) = &layout else {
            return Err("crypto floor: no packet layout".into());
        };
        let base = (n as u64) * (packets.len() as u64 + 1);
        for (k, p) in packets.iter().enumerate() {
            let c = base + k as u64 + 1;
            let secured = timer
                .run(Part::Scp80Smsr, || {
                    secure_command(&eid, &smsr_keys, c, &p.script)
                })
                .map_err(|x| e("SCP80 command")(x.to_string()))?;
            let por = timer
                .run(Part::Scp80Card, || {
                    let opened = scp80::parse_command(&secured)?.open(&card_keys)?;
                    scp80::build_por(
                        &command_spi,
                        Kic(key_byte),
                        Kid(key_byte),
                        &card_keys,
                        &ResponsePacket {
                            tar: opened.header.tar,
                            counter: opened.header.counter,
                            status: PorStatus::Ok,
                            data: p.response.clone(),
                        },
                    )
                })
                .map_err(|x| e("SCP80 card")(x.to_string()))?;
            timer
                .run(Part::Scp80Smsr, || open_por(&eid, &smsr_keys, &por))
                .map_err(|x| e("SCP80 PoR")(x.to_string()))?;
        }
        // The eUICC's "profile enabled" notification (its size: EID, ISD-P AID, sequence number, TLVs).
        let notification = timer
            .run(Part::Scp80Card, || {
                let header = scp80::CommandHeader {
                    spi: notification_spi,
                    kic: Kic(key_byte),
                    kid: Kid(key_byte),
                    tar: isd_r_tar(),
                    counter: Counter::from_u64(n as u64 + 1).unwrap_or(Counter([0; 5])),
                };
                scp80::build_command(&header, &card_keys, &[0u8; 48])
            })
            .map_err(|x| e("notification")(x.to_string()))?;
        timer
            .run(Part::Scp80Smsr, || {
                scp80::parse_command(&notification)?.open(&card_keys)
            })
            .map_err(|x| e("notification open")(x.to_string()))?;
    }
    let Some((packets, send_data_scripts, segments)) = layout else {
        return Err("crypto floor: nothing measured".into());
    };
    let per = |d: Duration| d / iterations as u32;
    let parts: Vec<(&'static str, Duration)> = PARTS
        .iter()
        .map(|(p, label)| (*label, per(timer.0[*p as usize])))
        .collect();
    Ok(CryptoFloor {
        per_download: parts.iter().map(|(_, d)| *d).sum(),
        parts,
        iterations,
        package_bytes: package.len(),
        segments,
        send_data_scripts,
        command_packets: packets.len(),
    })
}
