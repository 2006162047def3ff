//! The ISD-P's side of ES8 (SGP.02 §3.1.2–§3.1.3; wire-profile §5, §7): key establishment (`3A01`, `3A02`),
//! then the SCP03t session that carries the profile package (`84`, `85`, `86`…), the package decoded with the
//! project's SAIP decoder on the last segment.
//!
//! States of one download ([`Phase`]): `Idle` (expects `3A01` or `84`) → `Challenge` after `3A01` (expects
//! `3A02`) → `Idle` with key set `30` stored in the ISD-P → `Pending` after `84` (expects `85`) → `Open` after
//! `85` (expects `86`…) → done on the segment with P1 `91`. Block numbers run from `00` and restart after a
//! command whose P1 has the last-block bit; a wrong one answers `6A86` and changes nothing. Any other error
//! status word (`6A80`, `6982`, `6985`, `6A88`…) ends what was under way (a security failure discards the
//! SCP03t session, the key set stays) and the block numbers restart at `00` [P: wire-profile §7 is silent].
//!
//! Simplifications: one download at a time per eUICC (a `3A01` or `84` for another ISD-P starts over); the
//! validity of CERT.DP.ECDSA is checked against the host's clock, since the simulated card's millisecond clock
//! has no calendar.

use certs::ecc::{Curve, PublicKey};
use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord, StoreDataP1, StoreDataStructure};
use es_interfaces::es8::{self, EuiccResponse, pe_status};
use es_interfaces::isdr::{self, Es5Command, KeyAgreementResponse};
use es_interfaces::scp03::Scp03Error;
use es_interfaces::scp03::StaticKeys;
use es_interfaces::scp03::scp03t::{CardPendingTlv, CardSession};
use es_interfaces::scp80::SecretKey;
use es_interfaces::wire_profile;
use smdp::saip::pe::{ProfileElement, usim_field};
use smdp::saip::{Limits, SaipError, coding, validate};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::ids::{Aid, Eid, Iccid, Imsi};
use super::keys::EcasdKey;
use super::{DownloadFaults, SimulatorConfig};

/// The ISD-P's SCP03 key set `30` from key establishment and its sequence counter (wire-profile §5 step 3, §7).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(super) struct IsdpKeySet {
    enc: [u8; 16],
    mac: [u8; 16],
    dek: [u8; 16],
    counter: u32,
}

impl core::fmt::Debug for IsdpKeySet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "IsdpKeySet {{ kvn: 30, counter: {}, keys: [redacted] }}",
            self.counter
        )
    }
}

impl IsdpKeySet {
    fn from_static(keys: &StaticKeys) -> Option<IsdpKeySet> {
        Some(IsdpKeySet {
            enc: keys.enc.expose().try_into().ok()?,
            mac: keys.mac.expose().try_into().ok()?,
            dek: keys.dek.expose().try_into().ok()?,
            counter: 0,
        })
    }

    fn static_keys(&self) -> StaticKeys {
        StaticKeys {
            enc: SecretKey::new(&self.enc),
            mac: SecretKey::new(&self.mac),
            dek: SecretKey::new(&self.dek),
        }
    }

    /// The SCP03 sequence counter: sessions opened so far (wire-profile §7).
    pub(super) fn counter(&self) -> u32 {
        self.counter
    }
}

/// Where a download stands (module documentation).
enum Phase {
    Idle,
    Challenge {
        dp_key: PublicKey,
        challenge: [u8; 16],
    },
    Pending(CardPendingTlv),
    Open {
        session: CardSession,
        /// The deciphered package so far (it holds the profile's secrets: wiped when dropped).
        package: Zeroizing<Vec<u8>>,
    },
}

/// One download in progress on one ISD-P, kept in the eUICC's transient session.
pub(super) struct Download {
    aid: Aid,
    block: u8,
    phase: Phase,
}

impl core::fmt::Debug for Download {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let phase = match self.phase {
            Phase::Idle => "idle",
            Phase::Challenge { .. } => "challenge sent",
            Phase::Pending(_) => "SCP03t initialised",
            Phase::Open { .. } => "SCP03t open",
        };
        write!(
            f,
            "Download {{ aid: {:?}, block: {}, {phase} }}",
            self.aid, self.block
        )
    }
}

/// What the eUICC around the ISD-P provides to a STORE DATA.
pub(super) struct Context<'a> {
    /// Shared settings (the CI).
    pub cfg: &'a SimulatorConfig,
    /// The EID (key diversification data of INITIALIZE UPDATE).
    pub eid: Eid,
    /// SK.ECASD.ECKA.
    pub ecasd: &'a EcasdKey,
    /// The test faults switched on.
    pub faults: DownloadFaults,
    /// Whether the ISD-P is still `07` (no profile installed).
    pub selectable: bool,
    /// Whether an ICCID is already installed on the eUICC.
    pub iccid_in_use: &'a dyn Fn(Iccid) -> bool,
}

/// A package installed by the last segment.
pub(super) struct Installed {
    /// The header's ICCID.
    pub iccid: Iccid,
    /// The USIM's EF.IMSI, if any.
    pub imsi: Option<Imsi>,
}

/// The answer to one STORE DATA and what it changed.
pub(super) struct Outcome {
    /// The R-APDU.
    pub response: ResponseApdu,
    /// The installed package, on success of the last segment.
    pub installed: Option<Installed>,
    /// Why the package was refused, when it was.
    pub refused: Option<String>,
}

fn answer(sw: StatusWord) -> Outcome {
    Outcome {
        response: ResponseApdu::new(Vec::new(), sw),
        installed: None,
        refused: None,
    }
}

impl Download {
    /// A download on `aid` with nothing received yet.
    pub(super) fn new(aid: Aid) -> Download {
        Download {
            aid,
            block: 0,
            phase: Phase::Idle,
        }
    }

    /// The ISD-P concerned.
    pub(super) fn aid(&self) -> Aid {
        self.aid
    }

    /// Whether nothing is under way (the download can be dropped).
    pub(super) fn is_idle(&self) -> bool {
        self.block == 0 && matches!(self.phase, Phase::Idle)
    }

    /// Executes one STORE DATA routed to the ISD-P (wire-profile §5, §7); `keys` is the ISD-P's key set.
    pub(super) fn store_data(
        &mut self,
        ctx: &Context<'_>,
        keys: &mut Option<Box<IsdpKeySet>>,
        c: &CommandApdu,
    ) -> Outcome {
        let Ok(p1) = StoreDataP1::from_byte(c.p1) else {
            return answer(StatusWord::INCORRECT_P1P2);
        };
        if c.p2 != self.block {
            return answer(StatusWord::INCORRECT_P1P2);
        }
        self.block = if p1.last_block {
            0
        } else {
            self.block.wrapping_add(1)
        };
        let outcome = match p1.structure {
            StoreDataStructure::Dgi => self.key_establishment(ctx, keys, c),
            StoreDataStructure::BerTlv => self.scp03t(ctx, keys, c, p1.last_block),
            _ => answer(StatusWord::INCORRECT_P1P2),
        };
        let sw = outcome.response.sw;
        if !(sw.is_success() || sw.is_warning()) {
            // The SM-DP abandons the sequence (error sub-routine or a new attempt from 3A01 / 84, block 00).
            self.block = 0;
            self.phase = Phase::Idle;
        }
        outcome
    }

    /// `3A01` and `3A02` (wire-profile §5); another DGI in clear is `6982`.
    fn key_establishment(
        &mut self,
        ctx: &Context<'_>,
        keys: &mut Option<Box<IsdpKeySet>>,
        c: &CommandApdu,
    ) -> Outcome {
        let command = Es5Command::from_apdu(c);
        let key_establishment = matches!(
            command,
            Ok(Es5Command::EstablishIsdrKeySetCertificate { .. }
                | Es5Command::EstablishIsdrKeySetAgreement(_))
        );
        if key_establishment && !ctx.selectable {
            self.phase = Phase::Idle;
            return answer(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        match command {
            Ok(Es5Command::EstablishIsdrKeySetCertificate { certificate }) => {
                self.phase = Phase::Idle;
                let Some(ci) = ctx.cfg.ci.as_ref() else {
                    return answer(StatusWord::INCORRECT_DATA);
                };
                let Ok(cert) =
                    certs::chain::check_smdp(ci, &certificate, time::OffsetDateTime::now_utc())
                else {
                    return answer(StatusWord::INCORRECT_DATA);
                };
                let challenge: [u8; 16] = rand::random();
                let Ok(data) = isdr::encode_random_challenge_response(&challenge) else {
                    return answer(StatusWord::INCORRECT_DATA);
                };
                self.phase = Phase::Challenge {
                    dp_key: cert.body().public_key.clone(),
                    challenge,
                };
                Outcome {
                    response: ResponseApdu::new(data, StatusWord::OK),
                    installed: None,
                    refused: None,
                }
            }
            Ok(Es5Command::EstablishIsdrKeySetAgreement(ka)) => {
                let Phase::Challenge { dp_key, challenge } =
                    std::mem::replace(&mut self.phase, Phase::Idle)
                else {
                    return answer(StatusWord::CONDITIONS_NOT_SATISFIED);
                };
                if !es8::is_isd_p_crt(&ka.crt) || ka.crt.kvn != wire_profile::ES8_ISD_P_KVN {
                    return answer(StatusWord::INCORRECT_DATA);
                }
                let verified = ka
                    .signed_data(&challenge)
                    .ok()
                    .is_some_and(|m| dp_key.verify(&m, &ka.signature).is_ok());
                if !verified {
                    return answer(StatusWord::SECURITY_STATUS);
                }
                let receipt = Curve::from_key_parameter_reference(ka.key_parameter_reference)
                    .ok()
                    .filter(|curve| *curve == ctx.ecasd.curve())
                    .and_then(|curve| PublicKey::from_sec1(curve, &ka.ephemeral_public_key).ok())
                    .and_then(|eph| ctx.ecasd.private_key().ok()?.ecka(&eph).ok())
                    .and_then(|shs| es8::derive_isd_p_keys(shs.as_bytes()).ok())
                    .and_then(|data| {
                        let set = IsdpKeySet::from_static(&data.keys)?;
                        let receipt = es8::receipt(&data.receipt_key, &ka).ok()?;
                        Some((set, receipt))
                    });
                let Some((set, mut receipt)) = receipt else {
                    return answer(StatusWord::INCORRECT_DATA);
                };
                *keys = Some(Box::new(set));
                if ctx.faults.wrong_receipt {
                    receipt[0] ^= 0xFF;
                }
                match (KeyAgreementResponse {
                    derivation_random: None,
                    receipt: receipt.to_vec(),
                })
                .to_bytes()
                {
                    Ok(data) => Outcome {
                        response: ResponseApdu::new(data, StatusWord::OK),
                        installed: None,
                        refused: None,
                    },
                    Err(_) => answer(StatusWord::INCORRECT_DATA),
                }
            }
            // Any other DGI (e.g. `3A07` connectivity parameters) needs an SCP03 session the ISD-P does not
            // have for it: refused as an unauthenticated command.
            Ok(_) | Err(isdr::IsdrError::NotEs5Command { .. }) => {
                self.phase = Phase::Idle;
                answer(StatusWord::SECURITY_STATUS)
            }
            Err(_) => {
                self.phase = Phase::Idle;
                answer(StatusWord::INCORRECT_DATA)
            }
        }
    }

    /// `84`, `85` and `86` (wire-profile §7).
    fn scp03t(
        &mut self,
        ctx: &Context<'_>,
        keys: &mut Option<Box<IsdpKeySet>>,
        c: &CommandApdu,
        last: bool,
    ) -> Outcome {
        let phase = std::mem::replace(&mut self.phase, Phase::Idle);
        match (c.data.first(), phase) {
            (Some(0x84), _) => {
                let Some(set) = keys.as_deref_mut() else {
                    return answer(StatusWord::REFERENCED_DATA_NOT_FOUND);
                };
                if c.data.get(2) != Some(&wire_profile::ES8_ISD_P_KVN) {
                    return answer(StatusWord::REFERENCED_DATA_NOT_FOUND);
                }
                if !ctx.selectable {
                    return answer(StatusWord::CONDITIONS_NOT_SATISFIED);
                }
                let counter = set.counter.saturating_add(1);
                if counter > 0x00FF_FFFF {
                    return answer(StatusWord::CONDITIONS_NOT_SATISFIED);
                }
                let mut seq = [0u8; 3];
                seq.copy_from_slice(&counter.to_be_bytes()[1..]);
                let mut div = [0u8; 10];
                div.copy_from_slice(&ctx.eid.0[6..]);
                match CardPendingTlv::initialize_update(
                    &set.static_keys(),
                    &c.data,
                    div,
                    seq,
                    self.aid.as_bytes(),
                ) {
                    Ok((pending, response)) => {
                        set.counter = counter;
                        self.phase = Phase::Pending(pending);
                        Outcome {
                            response: ResponseApdu::new(response.to_bytes(), StatusWord::OK),
                            installed: None,
                            refused: None,
                        }
                    }
                    Err(_) => answer(StatusWord::INCORRECT_DATA),
                }
            }
            (Some(0x85), Phase::Pending(pending)) => match pending.external_authenticate(&c.data) {
                Ok(session) => {
                    self.phase = Phase::Open {
                        session,
                        package: Zeroizing::new(Vec::new()),
                    };
                    answer(StatusWord::OK)
                }
                Err(Scp03Error::SecurityLevel(_)) => answer(StatusWord::INCORRECT_DATA),
                Err(_) => answer(StatusWord::SECURITY_STATUS),
            },
            (
                Some(0x86),
                Phase::Open {
                    mut session,
                    mut package,
                },
            ) => {
                if ctx.faults.cmac_failure {
                    return answer(StatusWord::SECURITY_STATUS);
                }
                let Ok(mut segment) = session.open_segment(&c.data) else {
                    return answer(StatusWord::SECURITY_STATUS);
                };
                if package.len() + segment.len() > Limits::default().max_package_bytes {
                    return answer(StatusWord::NOT_ENOUGH_MEMORY);
                }
                package.extend_from_slice(&segment);
                segment.zeroize();
                if !last {
                    let response = session.respond(&[], StatusWord::OK);
                    self.phase = Phase::Open { session, package };
                    return match response {
                        Ok(r) => Outcome {
                            response: r,
                            installed: None,
                            refused: None,
                        },
                        Err(_) => answer(StatusWord::SECURITY_STATUS),
                    };
                }
                let (result, installed, refused) = install(ctx, &package);
                drop(package);
                let response = result
                    .to_der()
                    .ok()
                    .and_then(|der: Vec<u8>| session.respond(&der, StatusWord::OK).ok());
                match response {
                    Some(response) => Outcome {
                        response,
                        installed,
                        refused,
                    },
                    None => answer(StatusWord::INCORRECT_DATA),
                }
            }
            _ => answer(StatusWord::CONDITIONS_NOT_SATISFIED),
        }
    }
}

/// Decodes and checks the package (TCA PEDefinitions v3.3.1 via smdp::saip; wire-profile §8): the answer, the
/// installed profile or why it was refused.
fn install(
    ctx: &Context<'_>,
    package: &[u8],
) -> (EuiccResponse, Option<Installed>, Option<String>) {
    if ctx.faults.refuse_package {
        return (
            EuiccResponse::aborted(pe_status::BAD_VALUES, None),
            None,
            Some("refused by the test fault switch".into()),
        );
    }
    let decoded = validate::validate_bytes(package, &Limits::default());
    let p = match decoded {
        Ok(p) => p,
        Err(e) => {
            let (status, id) = match &e {
                SaipError::Malformed { element, .. } => {
                    (pe_status::INVALID_REQUEST_FORMAT, element.identification)
                }
                SaipError::Package { .. } => (pe_status::INVALID_REQUEST_FORMAT, None),
                SaipError::Invalid { element, .. } => {
                    (pe_status::BAD_VALUES, element.identification)
                }
                SaipError::Template(_) | SaipError::Record { .. } => (pe_status::BAD_VALUES, None),
            };
            return (
                EuiccResponse::aborted(status, id),
                None,
                Some(e.to_string()),
            );
        }
    };
    let iccid = p.elements.iter().find_map(|e| match e {
        ProfileElement::Header(h) => coding::iccid_from_header_bcd(&h.iccid),
        _ => None,
    });
    let Some(iccid) = iccid.and_then(|t| Iccid::parse(&t).ok()) else {
        return (
            EuiccResponse::aborted(pe_status::BAD_VALUES, None),
            None,
            Some("the header ICCID is not a valid ICCID".into()),
        );
    };
    if (ctx.iccid_in_use)(iccid) {
        return (
            EuiccResponse::aborted(pe_status::INVALID_PARAMETER, None),
            None,
            Some(format!("ICCID {iccid} is already installed")),
        );
    }
    let imsi = p.elements.iter().find_map(|e| match e {
        ProfileElement::Usim(u) => u
            .file(usim_field::EF_IMSI)
            .and_then(|f| f.contents())
            .and_then(|ef| coding::imsi_from_ef(&ef).ok())
            .and_then(|t| Imsi::parse(&t).ok()),
        _ => None,
    });
    (
        EuiccResponse::success(),
        Some(Installed { iccid, imsi }),
        None,
    )
}
