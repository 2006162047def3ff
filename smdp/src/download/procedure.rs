//! ES2.DownloadProfile as a pure state machine (SGP.02 §3.1): the persisted [`Procedure`] takes an [`Event`] —
//! the answer to the ES3 request of its current phase, or the end of the validity period — and returns the
//! [`Effects`] the driver applies in the same transaction (stock record, answer to the MNO); [`Procedure::request`]
//! is the ES3 request of the current phase. No I/O, no clock, no randomness of its own: a test drives it through
//! every phase with a simulated card.
//!
//! Phases, in the order of SGP.02 §3.1 (notes §4.2):
//! - [`Phase::Eligibility`] (§3.1.1): ES3.GetEIS at the named SM-SR; eUICC known, SM-SR the one named, platform
//!   and free memory fit the profile type, CI → EUM → ECASD chain valid, ICCID not already on the eUICC.
//! - [`Phase::DeletingLeftover`] (§3.1.1): an ISD-P of this SM-DP left in `Created` for the ICCID is deleted.
//! - [`Phase::CreatingIsdp`] (§3.1.1): ES3.CreateISDP; the stock record goes reserved → downloading.
//! - [`Phase::SendingCertificate`], [`Phase::SendingKeyAgreement`] (§3.1.2, wire-profile §5): `3A01` with
//!   CERT.DP.ECDSA → random challenge; `3A02` → receipt, checked.
//! - [`Phase::OpeningScp03t`], [`Phase::Loading`] (§3.1.3, wire-profile §7): `84` → card challenge and
//!   cryptogram; then `85` and the package in `86` segments, script by script, every R-APDU checked.
//! - [`Phase::Completing`] (§3.1.3): ES3.ProfileDownloadCompleted; the stock record is installed.
//! - [`Phase::Enabling`] (§3.1.3 / §3.3): ES3.EnableProfile when asked; a failure is a warning.
//! - [`Phase::CleaningUp`] (§3.1.4, error management sub-routine): ES3.DeleteISDP after a failure once the
//!   ISD-P may exist; the stock record is released when the deletion is confirmed. A deletion that fails is
//!   tried again after each delay of [`CLEANUP_RETRY_DELAYS`]; after the last, [`Phase::CleanupFailed`].
//! - [`Phase::Done`], or [`Phase::CleanupFailed`]: the ISD-P may still be on the eUICC, so the stock record stays
//!   downloading (never handed out again) until an operator has the clean-up tried again
//!   ([`Procedure::retry_cleanup`]).
//!
//! The MNO is answered once, when the outcome is decided: success after ProfileDownloadCompleted (and the
//! enable, if asked); FAILED or EXPIRED when a step fails (before the clean-up, which may wait for the eUICC).

use certs::chain;
use certs::ecc::{Curve, PrivateKey, PublicKey};
use certs::gp_cert::GpCertificate;
use certs::x509::X509Certificate;
use es_interfaces::isdr::KeyAgreement;
use es_interfaces::messages::eis::{Eis, KeysetItem};
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, StatusCodeData, Subject};
use es_interfaces::types::ProfileState;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

use super::es8::{self, Es8Error, KeyData};

/// The delays before each new attempt of a clean-up ES3.DeleteISDP that failed (SGP.02 §3.1.4 says nothing of
/// retries; [decision]): 1 minute, 10 minutes, 1 hour, 6 hours, then daily — eight attempts in all, each of
/// which the SM-SR may hold for the clean-up validity (7 days) while the eUICC is unreachable.
pub const CLEANUP_RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(60),
    Duration::from_secs(600),
    Duration::from_secs(3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(24 * 3600),
    Duration::from_secs(24 * 3600),
    Duration::from_secs(24 * 3600),
];

/// A profile type's `target_platform` that fits every eUICC platform.
pub const ANY_PLATFORM: &str = "generic";

/// What the download is about: the MNO's request and the reserved stock record. Fixed for the whole procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The eUICC (32 hex digits).
    pub eid: String,
    /// The SM-SR the MNO named (`SmSr-id`).
    pub smsr_id: String,
    /// The MNO (`Mno-id` of CreateISDP).
    pub mno_id: String,
    /// The reserved stock record.
    pub iccid: String,
    /// Its IMSI (subscription address).
    pub imsi: String,
    /// Its MSISDN, if any (subscription address).
    pub msisdn: Option<String>,
    /// The profile type.
    pub profile_type: String,
    /// Memory the profile needs (CreateISDP `RequiredMemory`).
    pub required_memory: i64,
    /// The profile type's target platform ([`ANY_PLATFORM`] fits all).
    pub target_platform: String,
    /// The profile type's POL2 in its stored text form, sent in ProfileDownloadCompleted (§3.1.3; none: no
    /// `pol2`); absent in procedures recorded before profile types had one.
    #[serde(default)]
    pub pol2: Option<String>,
    /// EnableProfile of the ES2 request.
    pub enable: bool,
}

/// The phase of the procedure; each but `Done` waits for the answer to one ES3 request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase")]
pub enum Phase {
    /// ES3.GetEIS and the eligibility check (§3.1.1).
    Eligibility,
    /// ES3.DeleteISDP of a leftover ISD-P in `Created` (§3.1.1).
    DeletingLeftover,
    /// ES3.CreateISDP (§3.1.1).
    CreatingIsdp,
    /// ES3.SendData with `3A01` (§3.1.2).
    SendingCertificate,
    /// ES3.SendData with `3A02` (§3.1.2).
    SendingKeyAgreement,
    /// ES3.SendData with SCP03t `84` (§3.1.3).
    OpeningScp03t,
    /// ES3.SendData with load script `script` of `scripts` (§3.1.3).
    Loading {
        /// Index of the script sent.
        script: u32,
        /// Number of scripts.
        scripts: u32,
    },
    /// ES3.ProfileDownloadCompleted (§3.1.3).
    Completing,
    /// ES3.EnableProfile (§3.1.3).
    Enabling,
    /// ES3.GetEIS after the validity period ended while ProfileDownloadCompleted was under way (§3.1.3): its
    /// answer may have been lost after the SM-SR installed the profile, which the error management sub-routine
    /// must then not delete.
    Reconciling,
    /// ES3.DeleteISDP of the error management sub-routine (§3.1.4).
    CleaningUp,
    /// Finished.
    Done,
    /// Finished without the clean-up: every attempt of ES3.DeleteISDP failed, the ISD-P may still be on the
    /// eUICC and the stock record stays downloading (§3.1.4).
    CleanupFailed,
}

impl Phase {
    /// Name stored in the `phase` column.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Eligibility => "Eligibility",
            Phase::DeletingLeftover => "DeletingLeftover",
            Phase::CreatingIsdp => "CreatingIsdp",
            Phase::SendingCertificate => "SendingCertificate",
            Phase::SendingKeyAgreement => "SendingKeyAgreement",
            Phase::OpeningScp03t => "OpeningScp03t",
            Phase::Loading { .. } => "Loading",
            Phase::Completing => "Completing",
            Phase::Enabling => "Enabling",
            Phase::Reconciling => "Reconciling",
            Phase::CleaningUp => "CleaningUp",
            Phase::Done => "Done",
            Phase::CleanupFailed => "CleanupFailed",
        }
    }

    /// Whether the procedure has ended ([`Phase::Done`] or [`Phase::CleanupFailed`]): no request is sent.
    pub fn is_finished(&self) -> bool {
        matches!(self, Phase::Done | Phase::CleanupFailed)
    }

    /// Phases that hold the ISD-P's key set (sealed beside the state).
    pub fn holds_keys(&self) -> bool {
        matches!(
            self,
            Phase::SendingKeyAgreement | Phase::OpeningScp03t | Phase::Loading { .. }
        )
    }
}

/// The answer the MNO gets (ES2-DownloadProfileResponse), kept in the state once decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `EXECUTED_SUCCESS`, `EXECUTED_WITHWARNING`, `FAILED` or `EXPIRED`.
    pub status: String,
    /// Subject code, for a status other than success.
    pub subject: Option<String>,
    /// Reason code.
    pub reason: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// Whether the response carries the ICCID (success and warning).
    pub with_iccid: bool,
}

impl Report {
    fn from_status(s: &FunctionExecutionStatus, with_iccid: bool) -> Report {
        let d = s.status_code_data.as_ref();
        Report {
            status: s.status.as_str().to_string(),
            subject: d.map(|d| d.subject.code().to_string()),
            reason: d.map(|d| d.reason.code().to_string()),
            message: d.and_then(|d| d.message.clone()),
            with_iccid,
        }
    }

    /// The FunctionExecutionStatus of the report.
    pub fn execution_status(&self) -> FunctionExecutionStatus {
        let status = self.status.parse().unwrap_or(Status::Failed);
        let data = match (&self.subject, &self.reason) {
            (Some(s), Some(r)) => Some(StatusCodeData {
                subject: s.parse().unwrap_or(Subject::FUNCTION_PROVIDER),
                reason: r.parse().unwrap_or(Reason::EXECUTION_ERROR),
                subject_identifier: None,
                message: self.message.clone(),
            }),
            _ => None,
        };
        FunctionExecutionStatus {
            status,
            status_code_data: data,
        }
    }
}

/// The persisted state of one download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    /// What is downloaded where.
    pub order: Order,
    /// Where the procedure is.
    pub phase: Phase,
    /// PK.ECASD.ECKA from the checked certificate (SEC1 hex), for the key agreement.
    pub ecasd_public_key: Option<String>,
    /// The ISD-P's AID (hex) from CreateISDP.
    pub isd_p_aid: Option<String>,
    /// The `3A02` data sent (hex; public), to resend it unchanged and check the receipt.
    pub key_agreement: Option<String>,
    /// The SCP03t host challenge (hex).
    pub host_challenge: Option<String>,
    /// The card's INITIALIZE UPDATE answer data (hex).
    pub card_answer: Option<String>,
    /// The answer given to the MNO, once decided.
    pub report: Option<Report>,
    /// Clean-up ES3.DeleteISDP attempts that failed since the clean-up (or its last retry) began.
    #[serde(default)]
    pub cleanup_failures: u32,
    /// The status of the last failed clean-up attempt.
    #[serde(default)]
    pub cleanup_error: Option<Report>,
}

/// What eligibility looks at in the EIS of GetEIS (SGP.02 §3.1.1; the SM-DP's view, notes §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EisView {
    /// `Smsr-id`.
    pub smsr_id: String,
    /// `EumSignedInfo/PlatformType`.
    pub platform_type: String,
    /// `RemainingMemory`.
    pub remaining_memory: u64,
    /// CERT.ECASD.ECKA from the ECASD security domain, if present.
    pub ecasd_certificate: Option<Vec<u8>>,
    /// The profiles the SM-DP sees: ICCID, state, the SM-DP that downloaded it.
    pub profiles: Vec<(String, ProfileState, Option<String>)>,
}

impl EisView {
    /// The view of an EIS.
    pub fn of(eis: &Eis) -> EisView {
        EisView {
            smsr_id: eis.smsr_id.as_str().to_string(),
            platform_type: eis.eum_signed_info.platform_type.as_str().to_string(),
            remaining_memory: eis.remaining_memory,
            ecasd_certificate: eis
                .eum_signed_info
                .ecasd
                .keysets
                .iter()
                .flat_map(|k| k.items.iter())
                .find_map(|i| match i {
                    KeysetItem::Certificate(c) => Some(c.value.as_bytes().to_vec()),
                    KeysetItem::Key(_) => None,
                }),
            profiles: eis
                .profile_info
                .iter()
                .map(|p| {
                    (
                        p.iccid.as_str().to_string(),
                        p.state,
                        p.smdp_id.as_ref().map(|s| s.as_str().to_string()),
                    )
                })
                .collect(),
        }
    }
}

/// What the SM-SR answered to the request of the current phase (synchronously or by callback).
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its FunctionExecutionStatus.
    pub status: FunctionExecutionStatus,
    /// The EIS of GetEIS.
    pub eis: Option<EisView>,
    /// `Isd-p-aid` of CreateISDP.
    pub isd_p_aid: Option<Vec<u8>>,
    /// `EuiccResponseData`.
    pub euicc_response_data: Option<Vec<u8>>,
}

/// An input of the procedure.
#[derive(Debug, Clone)]
pub enum Event {
    /// The answer to the current phase's request.
    Answer(Box<Answer>),
    /// The ES2 call's validity period ended.
    Expired,
}

/// A change of the stock record, applied by the driver in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    /// Reserved → downloading.
    StartDownload,
    /// Downloading → installed.
    Installed,
    /// Back to available.
    Release,
}

/// What a transition asks the driver to do besides storing the new state.
#[derive(Debug, Default)]
pub struct Effects {
    /// A stock record change.
    pub stock: Option<StockChange>,
    /// The answer to send to the MNO (completes the ES2 call).
    pub report: Option<Report>,
    /// New key data to seal beside the state.
    pub keys: Option<KeyData>,
    /// Send the next request only after this delay (a clean-up attempt that failed).
    pub retry_after: Option<Duration>,
}

/// What the SM-DP brings to the procedure: its ES8 identity and trust anchors (SGP.02 §2.3.2).
pub struct Es8Identity {
    /// The SM-DP's OID.
    pub smdp_oid: String,
    /// CERT.DP.ECDSA (`7F21 …`).
    pub cert_dp: Vec<u8>,
    /// SK.DP.ECDSA.
    pub sk_dp: PrivateKey,
    /// The CI root certificate.
    pub ci: X509Certificate,
    /// The EUM certificates the SM-DP trusts, found by their key identifier (`42` of CERT.ECASD.ECKA).
    pub eums: Vec<X509Certificate>,
}

impl std::fmt::Debug for Es8Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es8Identity")
            .field("smdp_oid", &self.smdp_oid)
            .field("eums", &self.eums.len())
            .finish_non_exhaustive()
    }
}

/// The inputs of a transition besides the event.
pub struct Context<'a, R: CryptoRng + ?Sized> {
    /// The SM-DP's identity.
    pub identity: &'a Es8Identity,
    /// Now (certificate validity).
    pub now: OffsetDateTime,
    /// Randomness (ephemeral key, host challenge).
    pub rng: &'a mut R,
    /// The key data, unsealed, in the phases that hold it.
    pub keys: Option<&'a KeyData>,
    /// The personalised package, in `OpeningScp03t` and `Loading` (in `Loading` only when `scripts` is `None`).
    pub package: Option<&'a [u8]>,
    /// The SCP03t load scripts of this session, when the driver kept them from an earlier step: what
    /// [`Procedure::load_scripts`] computes from the same persisted inputs (`None`: they are recomputed).
    pub scripts: Option<&'a [es8::LoadScript]>,
    /// Byte budget of a SendData script.
    pub budget: usize,
}

/// The ES3 request of a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Es3Call {
    /// ES3.GetEIS (synchronous).
    GetEis,
    /// ES3.DeleteISDP of the ICCID.
    DeleteIsdp,
    /// ES3.CreateISDP.
    CreateIsdp,
    /// ES3.SendData of a command script to the ISD-P.
    SendData {
        /// The ISD-P.
        sd_aid: Vec<u8>,
        /// The expanded command script.
        script: Vec<u8>,
        /// More scripts follow.
        more_to_do: bool,
    },
    /// ES3.ProfileDownloadCompleted (synchronous).
    ProfileDownloadCompleted,
    /// ES3.EnableProfile.
    EnableProfile,
}

impl Es3Call {
    /// The ES3 function, as in logs and errors (SGP.02 §5.4).
    pub fn name(&self) -> &'static str {
        match self {
            Es3Call::GetEis => "ES3.GetEIS",
            Es3Call::DeleteIsdp => "ES3.DeleteISDP",
            Es3Call::CreateIsdp => "ES3.CreateISDP",
            Es3Call::SendData { .. } => "ES3.SendData",
            Es3Call::ProfileDownloadCompleted => "ES3.ProfileDownloadCompleted",
            Es3Call::EnableProfile => "ES3.EnableProfile",
        }
    }

    /// Whether the SM-SR answers this function in the HTTP response (else by callback).
    pub fn is_synchronous(&self) -> bool {
        matches!(self, Es3Call::GetEis | Es3Call::ProfileDownloadCompleted)
    }
}

/// Why a transition could not run (the driver's inputs were missing or inconsistent: an internal error).
#[derive(Debug, thiserror::Error)]
pub enum ProcedureError {
    /// An input the phase needs was not given or not stored.
    #[error("download procedure in phase {phase}: {what} missing")]
    Missing {
        /// The phase.
        phase: &'static str,
        /// What.
        what: &'static str,
    },
    /// Building our own ES8 data failed.
    #[error(transparent)]
    Es8(#[from] Es8Error),
}

fn failed(subject: Subject, reason: Reason, message: impl Into<String>) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed(StatusCodeData::new(subject, reason, Some(message.into())))
}

/// A card answer that does not check: 8.3.1 ISD-P with 6.1 when a MAC or receipt does not verify, else 4.2.
fn es8_failure(e: &Es8Error) -> FunctionExecutionStatus {
    match e {
        Es8Error::Verification(_) => {
            failed(Subject::ISD_P, Reason::VERIFICATION_FAILED, e.to_string())
        }
        Es8Error::Refused(_) | Es8Error::Answer(_) => {
            failed(Subject::ISD_P, Reason::EXECUTION_ERROR, e.to_string())
        }
        Es8Error::Encode(_) => failed(
            Subject::FUNCTION_PROVIDER,
            Reason::EXECUTION_ERROR,
            e.to_string(),
        ),
    }
}

fn hex_of(
    s: &Option<String>,
    phase: &'static str,
    what: &'static str,
) -> Result<Vec<u8>, ProcedureError> {
    s.as_deref()
        .and_then(|h| hex::decode(h).ok())
        .ok_or(ProcedureError::Missing { phase, what })
}

impl Procedure {
    /// A new procedure for `order`, in [`Phase::Eligibility`].
    pub fn new(order: Order) -> Procedure {
        Procedure {
            order,
            phase: Phase::Eligibility,
            ecasd_public_key: None,
            isd_p_aid: None,
            key_agreement: None,
            host_challenge: None,
            card_answer: None,
            report: None,
            cleanup_failures: 0,
            cleanup_error: None,
        }
    }

    /// An operator's retry of a clean-up that failed: [`Phase::CleanupFailed`] → [`Phase::CleaningUp`], the
    /// attempts counted afresh (§3.1.4). `false` (nothing changed) in any other phase.
    pub fn retry_cleanup(&mut self) -> bool {
        if self.phase != Phase::CleanupFailed {
            return false;
        }
        self.phase = Phase::CleaningUp;
        self.cleanup_failures = 0;
        true
    }

    fn missing(&self, what: &'static str) -> ProcedureError {
        ProcedureError::Missing {
            phase: self.phase.name(),
            what,
        }
    }

    fn agreement(&self) -> Result<KeyAgreement, ProcedureError> {
        let bytes = hex_of(&self.key_agreement, self.phase.name(), "3A02 data")?;
        KeyAgreement::parse(&bytes)
            .map_err(|e| ProcedureError::Es8(Es8Error::Encode(e.to_string())))
    }

    fn host_challenge(&self) -> Result<[u8; 8], ProcedureError> {
        let b = hex_of(&self.host_challenge, self.phase.name(), "host challenge")?;
        <[u8; 8]>::try_from(b.as_slice()).map_err(|_| self.missing("host challenge"))
    }

    fn isd_p(&self) -> Result<Vec<u8>, ProcedureError> {
        hex_of(&self.isd_p_aid, self.phase.name(), "ISD-P AID")
    }

    /// The SCP03t load scripts of this procedure, recomputed from the persisted inputs.
    pub fn load_scripts<R: CryptoRng + ?Sized>(
        &self,
        ctx: &Context<'_, R>,
    ) -> Result<Vec<es8::LoadScript>, ProcedureError> {
        let keys = ctx.keys.ok_or_else(|| self.missing("key data"))?;
        let package = ctx.package.ok_or_else(|| self.missing("profile package"))?;
        let card = hex_of(
            &self.card_answer,
            self.phase.name(),
            "INITIALIZE UPDATE answer",
        )?;
        Ok(es8::load_scripts(
            keys,
            self.host_challenge()?,
            &card,
            package,
            ctx.budget,
        )?)
    }

    /// Runs `f` on the load scripts of this session: the ones the driver kept ([`Context::scripts`]), else
    /// recomputed.
    fn with_scripts<R: CryptoRng + ?Sized, T>(
        &self,
        ctx: &Context<'_, R>,
        f: impl FnOnce(&[es8::LoadScript]) -> Result<T, ProcedureError>,
    ) -> Result<T, ProcedureError> {
        match ctx.scripts {
            Some(kept) => f(kept),
            None => f(&self.load_scripts(ctx)?),
        }
    }

    /// The ES3 request of the current phase (`None` when done). Deterministic: a retried step sends the same.
    pub fn request<R: CryptoRng + ?Sized>(
        &self,
        ctx: &Context<'_, R>,
    ) -> Result<Option<Es3Call>, ProcedureError> {
        let send = |script: Vec<u8>, more_to_do: bool| -> Result<Option<Es3Call>, ProcedureError> {
            Ok(Some(Es3Call::SendData {
                sd_aid: self.isd_p()?,
                script,
                more_to_do,
            }))
        };
        match &self.phase {
            Phase::Eligibility | Phase::Reconciling => Ok(Some(Es3Call::GetEis)),
            Phase::DeletingLeftover | Phase::CleaningUp => Ok(Some(Es3Call::DeleteIsdp)),
            Phase::CreatingIsdp => Ok(Some(Es3Call::CreateIsdp)),
            Phase::SendingCertificate => {
                send(es8::certificate_script(&ctx.identity.cert_dp)?, true)
            }
            Phase::SendingKeyAgreement => {
                send(es8::key_agreement_script(&self.agreement()?)?, true)
            }
            Phase::OpeningScp03t => {
                send(es8::initialize_update_script(self.host_challenge()?)?, true)
            }
            Phase::Loading { script, scripts } => {
                let this = self.with_scripts(ctx, |all| {
                    all.get(*script as usize)
                        .map(|s| s.script.clone())
                        .ok_or_else(|| self.missing("load script"))
                })?;
                send(this, script + 1 < *scripts)
            }
            Phase::Completing => Ok(Some(Es3Call::ProfileDownloadCompleted)),
            Phase::Enabling => Ok(Some(Es3Call::EnableProfile)),
            Phase::Done | Phase::CleanupFailed => Ok(None),
        }
    }

    /// Applies `event` to the current phase and returns what the driver must do (SGP.02 §3.1).
    pub fn apply<R: CryptoRng + ?Sized>(
        &mut self,
        event: Event,
        ctx: &mut Context<'_, R>,
    ) -> Result<Effects, ProcedureError> {
        let answer = match event {
            Event::Expired => return Ok(self.expired()),
            Event::Answer(a) => *a,
        };
        let ok = answer.status.status == Status::ExecutedSuccess;
        match self.phase.clone() {
            Phase::Eligibility => {
                if !ok {
                    return Ok(self.fail_before_create(answer.status));
                }
                match self.eligibility(answer.eis.as_ref(), ctx) {
                    Err(status) => Ok(self.fail_before_create(status)),
                    Ok(true) => {
                        self.phase = Phase::DeletingLeftover;
                        Ok(Effects::default())
                    }
                    Ok(false) => Ok(self.create()),
                }
            }
            Phase::DeletingLeftover => {
                if ok || is_unknown_iccid(&answer.status) {
                    Ok(self.create())
                } else {
                    Ok(self.fail_before_create(answer.status))
                }
            }
            Phase::CreatingIsdp => match (ok, answer.isd_p_aid) {
                (true, Some(aid)) => {
                    self.isd_p_aid = Some(hex::encode_upper(aid));
                    self.phase = Phase::SendingCertificate;
                    Ok(Effects::default())
                }
                (true, None) => Ok(self.fail_after_create(failed(
                    Subject::FUNCTION_PROVIDER,
                    Reason::EXECUTION_ERROR,
                    "ES3.CreateISDP succeeded without an Isd-p-aid",
                ))),
                // A refusal or failure of CreateISDP leaves no ISD-P (the SM-SR removes its `Created` row);
                // only an expiry may leave one behind.
                (false, _) if answer.status.status == Status::Expired => {
                    Ok(self.fail_after_create(answer.status))
                }
                (false, _) => Ok(self.fail_before_create(answer.status)),
            },
            Phase::SendingCertificate => {
                let Some(data) = answer.euicc_response_data.filter(|_| ok) else {
                    return Ok(self.fail_after_create(self.not_ok(answer.status, "3A01")));
                };
                let rc = match es8::random_challenge(&data) {
                    Ok(rc) => rc,
                    Err(e) => return Ok(self.fail_after_create(es8_failure(&e))),
                };
                let pk = hex_of(
                    &self.ecasd_public_key,
                    "SendingCertificate",
                    "PK.ECASD.ECKA",
                )?;
                let pk = PublicKey::from_sec1(Curve::P256, &pk)
                    .map_err(|e| ProcedureError::Es8(Es8Error::Encode(e.to_string())))?;
                let (agreement, keys) = es8::key_agreement(&ctx.identity.sk_dp, &pk, &rc, ctx.rng)?;
                let bytes = agreement
                    .to_bytes()
                    .map_err(|e| ProcedureError::Es8(Es8Error::Encode(e.to_string())))?;
                self.key_agreement = Some(hex::encode_upper(bytes));
                self.phase = Phase::SendingKeyAgreement;
                Ok(Effects {
                    keys: Some(keys),
                    ..Effects::default()
                })
            }
            Phase::SendingKeyAgreement => {
                let Some(data) = answer.euicc_response_data.filter(|_| ok) else {
                    return Ok(self.fail_after_create(self.not_ok(answer.status, "3A02")));
                };
                let keys = ctx.keys.ok_or_else(|| self.missing("key data"))?;
                if let Err(e) = es8::check_receipt(&data, keys, &self.agreement()?) {
                    return Ok(self.fail_after_create(es8_failure(&e)));
                }
                let mut challenge = [0u8; 8];
                ctx.rng.fill_bytes(&mut challenge);
                self.host_challenge = Some(hex::encode_upper(challenge));
                self.phase = Phase::OpeningScp03t;
                Ok(Effects::default())
            }
            Phase::OpeningScp03t => {
                let Some(data) = answer.euicc_response_data.filter(|_| ok) else {
                    return Ok(self.fail_after_create(self.not_ok(answer.status, "84")));
                };
                let card = match es8::single_answer(&data, "84") {
                    Ok(c) => c,
                    Err(e) => return Ok(self.fail_after_create(es8_failure(&e))),
                };
                self.card_answer = Some(hex::encode_upper(&card));
                match self.load_scripts(ctx) {
                    Ok(scripts) => {
                        self.phase = Phase::Loading {
                            script: 0,
                            scripts: u32::try_from(scripts.len()).unwrap_or(u32::MAX),
                        };
                        Ok(Effects::default())
                    }
                    Err(ProcedureError::Es8(e)) => Ok(self.fail_after_create(es8_failure(&e))),
                    Err(e) => Err(e),
                }
            }
            Phase::Loading { script, scripts } => {
                let Some(data) = answer.euicc_response_data.filter(|_| ok) else {
                    return Ok(self.fail_after_create(self.not_ok(answer.status, "SCP03t")));
                };
                let keys = ctx.keys.ok_or_else(|| self.missing("key data"))?;
                let card = hex_of(&self.card_answer, "Loading", "INITIALIZE UPDATE answer")?;
                let checked = self.with_scripts(ctx, |all| {
                    let this = all
                        .get(script as usize)
                        .ok_or_else(|| self.missing("load script"))?;
                    Ok(es8::check_load_answer(
                        keys,
                        self.host_challenge()?,
                        &card,
                        this,
                        &data,
                    ))
                })?;
                if let Err(e) = checked {
                    return Ok(self.fail_after_create(es8_failure(&e)));
                }
                self.phase = if script + 1 < scripts {
                    Phase::Loading {
                        script: script + 1,
                        scripts,
                    }
                } else {
                    Phase::Completing
                };
                Ok(Effects::default())
            }
            Phase::Completing => {
                if !ok {
                    return Ok(self.fail_after_create(answer.status));
                }
                if self.order.enable {
                    self.phase = Phase::Enabling;
                    Ok(Effects {
                        stock: Some(StockChange::Installed),
                        ..Effects::default()
                    })
                } else {
                    Ok(self.succeed(
                        FunctionExecutionStatus::success(),
                        Some(StockChange::Installed),
                    ))
                }
            }
            Phase::Enabling => {
                if ok {
                    Ok(self.succeed(FunctionExecutionStatus::success(), None))
                } else {
                    Ok(self.succeed(warning(&answer.status), None))
                }
            }
            Phase::Reconciling => {
                let installed = answer.eis.as_ref().filter(|_| ok).is_some_and(|eis| {
                    eis.profiles.iter().any(|(iccid, state, smdp)| {
                        *iccid == self.order.iccid
                            && matches!(state, ProfileState::Disabled | ProfileState::Enabled)
                            && smdp.as_deref() == Some(ctx.identity.smdp_oid.as_str())
                    })
                });
                if installed {
                    Ok(self.succeed(
                        FunctionExecutionStatus {
                            status: Status::ExecutedWithWarning,
                            status_code_data: Some(StatusCodeData::new(
                                Subject::VALIDITY_PERIOD,
                                Reason::EXPIRED,
                                Some(
                                    "the profile is installed on the eUICC (found in the EIS after the \
                                     validity period ended during ES3.ProfileDownloadCompleted); not enabled"
                                        .into(),
                                ),
                            )),
                        },
                        Some(StockChange::Installed),
                    ))
                } else {
                    Ok(self.fail_after_create(expired_status()))
                }
            }
            Phase::CleaningUp => {
                if ok || is_unknown_iccid(&answer.status) {
                    self.phase = Phase::Done;
                    return Ok(Effects {
                        stock: Some(StockChange::Release),
                        ..Effects::default()
                    });
                }
                // The ISD-P could not be deleted: the record stays downloading, never handed out again while a
                // profile with its ICCID may be on the eUICC; the deletion is tried again later.
                self.cleanup_error = Some(Report::from_status(&answer.status, false));
                let delay = CLEANUP_RETRY_DELAYS
                    .get(self.cleanup_failures as usize)
                    .copied();
                self.cleanup_failures = self.cleanup_failures.saturating_add(1);
                match delay {
                    Some(delay) => Ok(Effects {
                        retry_after: Some(delay),
                        ..Effects::default()
                    }),
                    None => {
                        self.phase = Phase::CleanupFailed;
                        Ok(Effects::default())
                    }
                }
            }
            Phase::Done | Phase::CleanupFailed => Ok(Effects::default()),
        }
    }

    /// A SendData answer without the data expected: the SM-SR's status if it is not success, else 8.3.1/4.2.
    fn not_ok(&self, status: FunctionExecutionStatus, step: &str) -> FunctionExecutionStatus {
        if status.status == Status::ExecutedSuccess {
            failed(
                Subject::ISD_P,
                Reason::EXECUTION_ERROR,
                format!("{step}: ES3.SendData succeeded without EuiccResponseData"),
            )
        } else {
            status
        }
    }

    fn expired(&mut self) -> Effects {
        let status = expired_status();
        match self.phase {
            Phase::Eligibility | Phase::DeletingLeftover => self.fail_before_create(status),
            Phase::CreatingIsdp
            | Phase::SendingCertificate
            | Phase::SendingKeyAgreement
            | Phase::OpeningScp03t
            | Phase::Loading { .. } => self.fail_after_create(status),
            // Whether the SM-SR installed the profile is unknown until its EIS says (no answer to the MNO yet).
            Phase::Completing => {
                self.phase = Phase::Reconciling;
                Effects::default()
            }
            Phase::Enabling => self.succeed(warning(&status), None),
            Phase::Reconciling | Phase::CleaningUp | Phase::Done | Phase::CleanupFailed => {
                Effects::default()
            }
        }
    }

    fn create(&mut self) -> Effects {
        self.phase = Phase::CreatingIsdp;
        Effects {
            stock: Some(StockChange::StartDownload),
            ..Effects::default()
        }
    }

    fn fail_before_create(&mut self, status: FunctionExecutionStatus) -> Effects {
        self.phase = Phase::Done;
        let report = Report::from_status(&status, false);
        self.report = Some(report.clone());
        Effects {
            stock: Some(StockChange::Release),
            report: Some(report),
            ..Effects::default()
        }
    }

    fn fail_after_create(&mut self, status: FunctionExecutionStatus) -> Effects {
        self.phase = Phase::CleaningUp;
        let report = Report::from_status(&status, false);
        self.report = Some(report.clone());
        Effects {
            report: Some(report),
            ..Effects::default()
        }
    }

    fn succeed(&mut self, status: FunctionExecutionStatus, stock: Option<StockChange>) -> Effects {
        self.phase = Phase::Done;
        let report = Report::from_status(&status, true);
        self.report = Some(report.clone());
        Effects {
            stock,
            report: Some(report),
            ..Effects::default()
        }
    }

    /// The eligibility check of §3.1.1 on the EIS the SM-SR returned; `Ok(true)` when a leftover ISD-P of this
    /// SM-DP in `Created` must be deleted first. Records PK.ECASD.ECKA.
    fn eligibility<R: CryptoRng + ?Sized>(
        &mut self,
        eis: Option<&EisView>,
        ctx: &Context<'_, R>,
    ) -> Result<bool, FunctionExecutionStatus> {
        let o = &self.order;
        let Some(eis) = eis else {
            return Err(failed(
                Subject::EID,
                Reason::UNKNOWN,
                format!("eUICC {} is unknown to the SM-SR", o.eid),
            ));
        };
        if eis.smsr_id != o.smsr_id {
            return Err(failed(
                Subject::SM_SR,
                Reason::INVALID_DESTINATION,
                format!(
                    "eUICC {} is managed by SM-SR {}, not {}",
                    o.eid, eis.smsr_id, o.smsr_id
                ),
            ));
        }
        let platform = eis.platform_type.as_str();
        if o.target_platform != ANY_PLATFORM && o.target_platform != platform {
            return Err(failed(
                Subject::EUICC,
                Reason::REFUSED,
                format!(
                    "profile type {} is for platform {}, the eUICC is {platform}",
                    o.profile_type, o.target_platform
                ),
            ));
        }
        let free = i128::from(eis.remaining_memory);
        if free < i128::from(o.required_memory) {
            return Err(failed(
                Subject::EUICC,
                Reason::REFUSED,
                format!(
                    "insufficient memory: profile type {} needs {} bytes, the eUICC has {free}",
                    o.profile_type, o.required_memory
                ),
            ));
        }
        let ecasd = check_ecasd(eis, &o.eid, ctx)?;
        self.ecasd_public_key = Some(hex::encode_upper(
            ecasd.body().public_key.as_sec1_uncompressed(),
        ));
        let mut leftover = false;
        for (_, state, smdp) in eis.profiles.iter().filter(|p| p.0 == o.iccid) {
            let ours = smdp.as_deref() == Some(ctx.identity.smdp_oid.as_str());
            if *state == ProfileState::Created && ours {
                leftover = true;
            } else {
                return Err(failed(
                    Subject::PROFILE_ICCID,
                    Reason::ALREADY_IN_USE,
                    format!("ICCID {} is already on eUICC {}", o.iccid, o.eid),
                ));
            }
        }
        Ok(leftover)
    }
}

/// CERT.ECASD.ECKA of the EIS checked through CI → EUM → ECASD, with the EID as its subject (SGP.02 §2.3.2).
fn check_ecasd<R: CryptoRng + ?Sized>(
    eis: &EisView,
    eid: &str,
    ctx: &Context<'_, R>,
) -> Result<GpCertificate, FunctionExecutionStatus> {
    let cert_failure =
        |m: String| failed(Subject::ECASD_CERTIFICATE, Reason::VERIFICATION_FAILED, m);
    let bytes = eis
        .ecasd_certificate
        .clone()
        .ok_or_else(|| cert_failure("the EIS carries no CERT.ECASD.ECKA".into()))?;
    let cert =
        GpCertificate::decode(&bytes).map_err(|e| cert_failure(format!("CERT.ECASD.ECKA: {e}")))?;
    let eum = ctx
        .identity
        .eums
        .iter()
        .find(|e| e.subject_key_id() == Some(cert.body().ca_id.as_slice()))
        .ok_or_else(|| {
            cert_failure("CERT.ECASD.ECKA is signed by an EUM this SM-DP does not know".into())
        })?;
    let checked = chain::check_ecasd(&ctx.identity.ci, eum, &bytes, ctx.now).map_err(|e| {
        let s = e.sgp02_status();
        FunctionExecutionStatus::failed(StatusCodeData::new(
            s.subject_code.parse().unwrap_or(Subject::ECASD_CERTIFICATE),
            s.reason_code.parse().unwrap_or(Reason::VERIFICATION_FAILED),
            Some(s.message),
        ))
    })?;
    if !hex::encode_upper(&checked.body().subject_id).eq_ignore_ascii_case(eid) {
        return Err(cert_failure(format!(
            "CERT.ECASD.ECKA is not the certificate of eUICC {eid}"
        )));
    }
    Ok(checked)
}

fn expired_status() -> FunctionExecutionStatus {
    FunctionExecutionStatus::expired(Some(
        "the validity period of ES2.DownloadProfile ended".into(),
    ))
}

fn is_unknown_iccid(s: &FunctionExecutionStatus) -> bool {
    s.status == Status::Failed
        && s.status_code_data
            .as_ref()
            .is_some_and(|d| d.subject == Subject::PROFILE_ICCID && d.reason == Reason::UNKNOWN)
}

/// An enable that failed after a good download: EXECUTED_WITHWARNING with the enable's status code data.
fn warning(s: &FunctionExecutionStatus) -> FunctionExecutionStatus {
    FunctionExecutionStatus {
        status: Status::ExecutedWithWarning,
        status_code_data: Some(s.status_code_data.clone().unwrap_or_else(|| {
            StatusCodeData::new(
                Subject::FUNCTION_PROVIDER,
                Reason::EXECUTION_ERROR,
                Some("ES3.EnableProfile did not succeed".into()),
            )
        })),
    }
}
