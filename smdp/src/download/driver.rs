//! The I/O around the download [`procedure`](super::procedure) (SGP.02 §3.1; design §3): the ES2 function, the
//! worker that sends each step's ES3 request, and the ES3 callbacks.
//!
//! - [`start`] runs inside the ES2 call's transaction: it reserves the stock record (by ICCID or ProfileType),
//!   records the download (`smdp_downloads`) in phase Eligibility and queues its first step and its expiry in
//!   the job queue ([`eis_store::jobs`]), then answers 202.
//! - The worker ([`run`]) claims step jobs with a lease and, outside any transaction, sends the step's ES3
//!   request to the SM-SR with the SM-DP's own FunctionCallIdentifier and MessageID (retries send the same, so
//!   the SM-SR answers a repeat from its record). A synchronous answer is applied at once; an asynchronous one
//!   arrives as a callback ([`on_callback`], matched by `wsa:RelatesTo` to the awaited MessageID).
//! - [`apply`] applies an answer or the expiry in one transaction: the new state (only if the download is still
//!   at the step answered, so a late or repeated callback changes nothing), the stock record, the answer to the
//!   MNO (function-call record and callback through the outbox) and the next step's job.
//!
//! Key material (the ISD-P's key data) is sealed with the master key ring (purpose [`KEYS_PURPOSE`], associated
//! data = the download id) and held only by the phases that need it; the personalised package is rebuilt from
//! the stock record when a step needs it and never stored. The SCP03t load scripts (the package encrypted and
//! MACed for the session) are kept in memory between the `Loading` steps of a download ([`LoadCache`]): a
//! step that finds none (the first, or any after a restart) rebuilds them from the persisted inputs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eis_store::downloads::{self, Download, DownloadUpdate, NewDownload};
use eis_store::jobs::{self, Backoff, Job, NewJob};
use eis_store::{AnyConnection, StoreError, warehouse};
use es_interfaces::messages::common::{BaseRequest, BaseResponse, SubscriptionAddress};
use es_interfaces::messages::{es2, es3};
use es_interfaces::soap::Envelope;
use es_interfaces::types::{Aid, Eid, HexBinary, Iccid, Oid, PositiveInteger};
use es_interfaces::wsdl::Service;
use es_runtime::soap_endpoint::{CallContext, Reply};
use serde::{Deserialize, Serialize};

use super::DownloadSettings;
use super::es8::{KeyData, LoadScript};
use super::procedure::{
    Answer, Context, EisView, Es3Call, Event, Order, Phase, Procedure, Report, StockChange,
};
use crate::error::SmdpError;
use crate::relay;
use crate::service::Smdp;
use crate::warehouse::WarehouseError;
use crate::warehouse::profile_types;
use crate::warehouse::stock::{self, Selector};

/// Job queue of the download steps.
pub const QUEUE: &str = "smdp-download";
/// Job kind: send the ES3 request of a step.
const KIND_STEP: &str = "step";
/// Job kind: the ES2 call's validity period ends.
const KIND_EXPIRE: &str = "expire";
/// Purpose of the sealed key data (certs::secrets).
pub const KEYS_PURPOSE: &str = "smdp-download-keys";
/// Lease of a claimed step (longer than the ES3 client's timeout).
const LEASE: Duration = Duration::from_secs(120);
/// Backoff between attempts of a step whose ES3 request could not be delivered.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    max: Duration::from_secs(60),
};
/// Attempts of a step job: the download's deadline, not the count, ends the retries.
const MAX_ATTEMPTS: u32 = 1_000_000;

/// Downloads whose load scripts a [`LoadCache`] keeps at most (the oldest download's are dropped first).
const LOAD_CACHE_MAX: usize = 1024;

/// The SCP03t load scripts of downloads in `Loading`, kept in memory between their steps (wire-profile §7), so
/// a step neither personalises the package nor protects it again: each entry is what
/// [`Procedure::load_scripts`] computes from the persisted inputs, tagged with the session (host challenge and
/// card answer) it belongs to. A miss recomputes them, so the cache changes nothing a restart could observe.
#[derive(Default)]
pub struct LoadCache {
    kept: Mutex<BTreeMap<i64, Arc<KeptScripts>>>,
}

struct KeptScripts {
    session: (String, String),
    scripts: Vec<LoadScript>,
}

impl std::fmt::Debug for LoadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadCache")
            .field("downloads", &self.len())
            .finish()
    }
}

fn session_of(p: &Procedure) -> Option<(String, String)> {
    Some((p.host_challenge.clone()?, p.card_answer.clone()?))
}

impl LoadCache {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Arc<KeptScripts>>> {
        // A panic while holding the lock leaves a consistent map (every change is one insert or remove).
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Downloads with kept scripts.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no scripts are kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, id: i64, p: &Procedure) -> Option<Arc<KeptScripts>> {
        let session = session_of(p)?;
        self.map()
            .get(&id)
            .filter(|k| k.session == session)
            .cloned()
    }

    fn put(&self, id: i64, p: &Procedure, scripts: Vec<LoadScript>) -> Option<Arc<KeptScripts>> {
        let kept = Arc::new(KeptScripts {
            session: session_of(p)?,
            scripts,
        });
        let mut map = self.map();
        while map.len() >= LOAD_CACHE_MAX {
            map.pop_first();
        }
        map.insert(id, kept.clone());
        Some(kept)
    }

    fn forget(&self, id: i64) {
        self.map().remove(&id);
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StepJob {
    download: i64,
    step: i64,
}

fn internal(e: impl std::fmt::Display) -> SmdpError {
    SmdpError::internal(std::io::Error::other(e.to_string()))
}

fn settings(smdp: &Smdp) -> Result<&Arc<DownloadSettings>, SmdpError> {
    smdp.download
        .as_ref()
        .ok_or_else(|| SmdpError::NotSupported {
            function: "ES2-DownloadProfile (no ES8 identity configured)".into(),
        })
}

/// The SGP.02 status of a reservation that failed (SGP.02 §5.3.2).
fn reservation_error(e: WarehouseError) -> SmdpError {
    use es_interfaces::status::{FunctionExecutionStatus, Reason, StatusCodeData, Subject};
    let (subject, reason) = match &e {
        WarehouseError::UnknownProfileType { .. } => (Subject::PROFILE_TYPE, Reason::UNKNOWN),
        // [P] no stock left of the profile type: "Refused"; SGP.02's code for it was not available.
        WarehouseError::OutOfStock { .. } => (Subject::PROFILE_TYPE, Reason::REFUSED),
        WarehouseError::UnknownIccid { .. } => (Subject::PROFILE_ICCID, Reason::UNKNOWN),
        WarehouseError::WrongState { .. } => (Subject::PROFILE_ICCID, Reason::ALREADY_IN_USE),
        WarehouseError::Invalid { .. } => (Subject::FUNCTION, Reason::INVALID),
        WarehouseError::Store(_) => return SmdpError::internal(e),
        _ => return SmdpError::internal(e),
    };
    let message = e.to_string();
    SmdpError::DownloadRefused {
        status: Box::new(FunctionExecutionStatus::failed(StatusCodeData::new(
            subject,
            reason,
            Some(message.clone()),
        ))),
        message,
    }
}

fn step_job(id: i64, step: i64, run_at: i64) -> NewJob {
    NewJob {
        queue: QUEUE.into(),
        kind: KIND_STEP.into(),
        payload: serde_json::json!(StepJob { download: id, step }),
        run_at,
        max_attempts: MAX_ATTEMPTS,
        dedup_key: Some(format!("download-{id}-step-{step}")),
    }
}

/// ES2.DownloadProfile (SGP.02 §5.3.2) in the call's transaction: reserves the stock record, records the
/// download in phase Eligibility, queues its first step and its expiry, and answers 202.
pub fn start(
    smdp: &Smdp,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    r: &es2::DownloadProfileRequest,
) -> Result<Reply, SmdpError> {
    let settings = settings(smdp)?;
    let now = smdp.clock.now_millis();
    let selector = match (&r.iccid, &r.profile_type) {
        (Some(iccid), _) => Selector::Iccid(iccid.as_str()),
        (None, Some(t)) => Selector::ProfileType(t),
        (None, None) => {
            return Err(SmdpError::Invalid {
                element: "ProfileType".into(),
                why: "ES2-DownloadProfile needs a ProfileType or an Iccid".into(),
            });
        }
    };
    // The named SM-SR must be one this SM-DP can reach (8.7 / 3.9), before anything is reserved.
    relay::es3_url(conn, r.smsr_id.as_str())?;
    let eid = r.eid.to_string();
    let reserved =
        stock::reserve(conn, &ctx.caller.oid, selector, &eid, now).map_err(reservation_error)?;
    let pt = warehouse::get_profile_type(conn, reserved.profile_type_id)?
        .ok_or_else(|| internal("the reserved record's profile type is missing"))?;
    let order = Order {
        eid: reserved.eid.clone(),
        smsr_id: r.smsr_id.as_str().to_string(),
        mno_id: ctx.caller.oid.clone(),
        iccid: reserved.iccid.clone(),
        imsi: reserved.imsi.clone(),
        msisdn: reserved.msisdn.clone(),
        profile_type: reserved.profile_type.clone(),
        required_memory: reserved.required_memory,
        target_platform: pt.profile_type.target_platform.clone(),
        pol2: pt.profile_type.pol2.clone(),
        enable: r.enable_profile,
    };
    let default_ms = i64::try_from(settings.default_validity.as_millis()).unwrap_or(i64::MAX);
    let deadline = ctx.valid_until.unwrap_or(now.saturating_add(default_ms));
    let procedure = Procedure::new(order);
    let data = serde_json::to_string(&procedure).map_err(internal)?;
    let message_id = smdp.identity.new_message_id(smdp.clock.now());
    let id = downloads::create(
        conn,
        &NewDownload {
            es2_call_id: ctx.call_id,
            mno_oid: &ctx.caller.oid,
            eid: &reserved.eid,
            iccid: &reserved.iccid,
            phase: procedure.phase.name(),
            step: 1,
            awaiting_message_id: Some(&message_id),
            deadline,
            data: &data,
        },
        now,
    )?;
    downloads::record_message(conn, &message_id, id, 1)?;
    jobs::enqueue(conn, &step_job(id, 1, now), now)?;
    jobs::enqueue(
        conn,
        &NewJob {
            queue: QUEUE.into(),
            kind: KIND_EXPIRE.into(),
            payload: serde_json::json!({ "download": id }),
            run_at: deadline,
            max_attempts: MAX_ATTEMPTS,
            dedup_key: Some(format!("download-{id}-expire")),
        },
        now,
    )?;
    tracing::info!(download = id, iccid = %reserved.iccid, eid = %reserved.eid, "download started");
    smdp.wake_downloads.notify_one();
    Ok(Reply::accepted())
}

/// The key data of a download, unsealed.
fn unseal(smdp: &Smdp, row: &Download) -> Result<Option<KeyData>, SmdpError> {
    let Some(blob) = row.sealed_keys.as_deref() else {
        return Ok(None);
    };
    let secret = smdp
        .keyring
        .open(KEYS_PURPOSE, row.id.to_string().as_bytes(), blob)
        .map_err(SmdpError::internal)?;
    Ok(Some(
        KeyData::from_bytes(secret.expose().to_vec()).map_err(SmdpError::internal)?,
    ))
}

/// What a step of `procedure` needs besides the event: the key data, and in `OpeningScp03t` and `Loading` the
/// personalised package or (in `Loading`) the kept load scripts.
struct StepInputs {
    keys: Option<KeyData>,
    package: Option<stock::PersonalisedPackage>,
    kept: Option<Arc<KeptScripts>>,
}

impl StepInputs {
    fn context<'a, R: rand_core::CryptoRng + ?Sized>(
        &'a self,
        settings: &'a DownloadSettings,
        now: time::OffsetDateTime,
        rng: &'a mut R,
    ) -> Context<'a, R> {
        Context {
            identity: &settings.identity,
            now,
            rng,
            keys: self.keys.as_ref(),
            package: self.package.as_ref().map(|p| p.package.expose()),
            scripts: self.kept.as_ref().map(|k| k.scripts.as_slice()),
            budget: settings.script_budget,
        }
    }
}

/// The inputs of the next step of download `row`: in `Loading`, the kept scripts, else the package is
/// personalised and the scripts are computed and kept (a session whose scripts cannot be built is left to the
/// procedure, which reports why).
fn step_inputs(
    smdp: &Smdp,
    settings: &DownloadSettings,
    conn: &mut AnyConnection,
    row: &Download,
    p: &Procedure,
) -> Result<StepInputs, SmdpError> {
    let mut inputs = StepInputs {
        keys: unseal(smdp, row)?,
        package: None,
        kept: None,
    };
    if !matches!(p.phase, Phase::OpeningScp03t | Phase::Loading { .. }) {
        return Ok(inputs);
    }
    if matches!(p.phase, Phase::Loading { .. }) {
        inputs.kept = settings.load_cache.get(row.id, p);
        if inputs.kept.is_some() {
            return Ok(inputs);
        }
    }
    inputs.package = Some(
        stock::personalise(conn, &smdp.keyring, &p.order.iccid, &p.order.eid)
            .map_err(SmdpError::internal)?,
    );
    if matches!(p.phase, Phase::Loading { .. }) {
        let scripts = p.load_scripts(&inputs.context(settings, smdp.clock.now(), &mut rand::rng()));
        if let Ok(scripts) = scripts {
            inputs.kept = settings.load_cache.put(row.id, p, scripts);
            inputs.package = None;
        }
    }
    Ok(inputs)
}

/// Applies `event` to download `id` if it is still at `step` (SGP.02 §3.1): new state, stock record, answer to
/// the MNO and next step, in the caller's transaction. Returns whether the download advanced.
pub fn apply(
    smdp: &Smdp,
    conn: &mut AnyConnection,
    id: i64,
    step: i64,
    event: Event,
) -> Result<bool, SmdpError> {
    let settings = settings(smdp)?;
    let Some(row) = downloads::get(conn, id)? else {
        return Ok(false);
    };
    if row.step != step {
        return Ok(false);
    }
    let mut procedure: Procedure = serde_json::from_str(&row.data).map_err(internal)?;
    if procedure.phase.is_finished() {
        return Ok(false);
    }
    let inputs = step_inputs(smdp, settings, conn, &row, &procedure)?;
    let mut rng = rand::rng();
    let effects = {
        let mut ctx = inputs.context(settings, smdp.clock.now(), &mut rng);
        procedure.apply(event, &mut ctx).map_err(internal)?
    };
    drop(inputs);
    let sealed = if procedure.phase.holds_keys() {
        match &effects.keys {
            Some(k) => Some(
                smdp.keyring
                    .seal(KEYS_PURPOSE, id.to_string().as_bytes(), k.expose())
                    .map_err(SmdpError::internal)?,
            ),
            None => row.sealed_keys.clone(),
        }
    } else {
        None
    };
    let now = smdp.clock.now_millis();
    let done = procedure.phase.is_finished();
    let next = step + 1;
    let message_id = (!done).then(|| smdp.identity.new_message_id(smdp.clock.now()));
    let data = serde_json::to_string(&procedure).map_err(internal)?;
    let advanced = downloads::advance(
        conn,
        id,
        step,
        &DownloadUpdate {
            phase: procedure.phase.name(),
            step: next,
            awaiting_message_id: message_id.as_deref(),
            data: &data,
            sealed_keys: sealed.as_deref(),
        },
        now,
    )?;
    if !advanced {
        return Ok(false);
    }
    if !matches!(procedure.phase, Phase::Loading { .. }) {
        settings.load_cache.forget(id);
    }
    let o = &procedure.order;
    match effects.stock {
        Some(StockChange::StartDownload) => stock::start_download(conn, &o.iccid, &o.eid, now),
        Some(StockChange::Installed) => stock::mark_installed(conn, &o.iccid, &o.eid, now),
        Some(StockChange::Release) => stock::release(conn, &o.iccid, &o.eid, now),
        None => Ok(()),
    }
    .map_err(SmdpError::internal)?;
    if let Some(report) = &effects.report {
        answer_mno(smdp, conn, &row, o, report)?;
    }
    if let Some(m) = &message_id {
        downloads::record_message(conn, m, id, next)?;
    }
    if !done {
        let delay = effects
            .retry_after
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        jobs::enqueue(conn, &step_job(id, next, now.saturating_add(delay)), now)?;
        smdp.wake_downloads.notify_one();
    }
    if procedure.phase == Phase::CleanupFailed {
        tracing::warn!(
            download = id,
            iccid = %o.iccid,
            eid = %o.eid,
            attempts = procedure.cleanup_failures,
            "clean-up ES3.DeleteISDP failed at every attempt; the stock record stays downloading \
             (rsp download retry-cleanup)"
        );
    }
    tracing::info!(
        download = id,
        step = next,
        phase = procedure.phase.name(),
        "download advanced"
    );
    Ok(true)
}

/// An operator's retry of a download whose clean-up failed (SGP.02 §3.1.4; `rsp download retry-cleanup`):
/// [`Phase::CleanupFailed`] → [`Phase::CleaningUp`] with a new step whose ES3.DeleteISDP (MessageID
/// `message_id`) is due at once. Returns `false`, changing nothing, if download `id` is not in CleanupFailed.
pub fn retry_cleanup(
    conn: &mut AnyConnection,
    id: i64,
    message_id: &str,
    now: i64,
) -> Result<bool, SmdpError> {
    let Some(row) = downloads::get(conn, id)? else {
        return Ok(false);
    };
    let mut procedure: Procedure = serde_json::from_str(&row.data).map_err(internal)?;
    if !procedure.retry_cleanup() {
        return Ok(false);
    }
    let next = row.step + 1;
    let data = serde_json::to_string(&procedure).map_err(internal)?;
    let update = DownloadUpdate {
        phase: procedure.phase.name(),
        step: next,
        awaiting_message_id: Some(message_id),
        data: &data,
        sealed_keys: None,
    };
    if !downloads::advance(conn, id, row.step, &update, now)? {
        return Ok(false);
    }
    downloads::record_message(conn, message_id, id, next)?;
    jobs::enqueue(conn, &step_job(id, next, now), now)?;
    tracing::info!(
        download = id,
        step = next,
        "clean-up retried by the operator"
    );
    Ok(true)
}

/// The ES2-DownloadProfileResponse to the MNO (SGP.02 §5.3.2), with the ICCID on success and warning.
fn answer_mno(
    smdp: &Smdp,
    conn: &mut AnyConnection,
    row: &Download,
    o: &Order,
    report: &Report,
) -> Result<(), SmdpError> {
    let iccid = if report.with_iccid {
        Some(o.iccid.parse::<Iccid>().map_err(internal)?)
    } else {
        None
    };
    let response: es2::Response = es2::DownloadProfileResponse {
        base: BaseResponse::with_status(report.execution_status()),
        iccid,
    }
    .into();
    tracing::info!(download = row.id, status = %report.status, reason = ?report.reason, "download answered");
    relay::answer_es2_call(
        smdp,
        conn,
        row.es2_call_id,
        "ES2-DownloadProfileResponse",
        response.to_xml(),
    )
}

/// The answer carried by any ES3 response.
pub fn answer_of(r: &es3::Response) -> Answer {
    let mut a = Answer {
        status: crate::functions::response_status(r),
        eis: None,
        isd_p_aid: None,
        euicc_response_data: None,
    };
    match r {
        es3::Response::GetEis(m) => a.eis = m.eis.as_ref().map(EisView::of),
        es3::Response::CreateIsdp(m) => {
            a.isd_p_aid = Some(m.isd_p_aid.as_bytes().to_vec());
            a.euicc_response_data = m
                .euicc_response_data
                .as_ref()
                .map(|d| d.as_bytes().to_vec());
        }
        es3::Response::SendData(m) => {
            a.euicc_response_data = m
                .euicc_response_data
                .as_ref()
                .map(|d| d.as_bytes().to_vec())
        }
        es3::Response::DeleteIsdp(m) => {
            a.euicc_response_data = m
                .euicc_response_data
                .as_ref()
                .map(|d| d.as_bytes().to_vec())
        }
        es3::Response::EnableProfile(m) => {
            a.euicc_response_data = m
                .euicc_response_data
                .as_ref()
                .map(|d| d.as_bytes().to_vec())
        }
        _ => {}
    }
    a
}

/// An ES3 callback (`wsa:RelatesTo` = `relates_to`): applied to the download whose current step sent that
/// MessageID; a late or repeated answer to an older step of a download is accepted and ignored. `false` when
/// no download sent it (a relayed call's callback).
pub fn on_callback(smdp: &Smdp, relates_to: &str, r: &es3::Response) -> Result<bool, SmdpError> {
    let answer = answer_of(r);
    smdp.store.tx(|c| {
        let Some((id, step)) = downloads::message_owner(c, relates_to)? else {
            return Ok(false);
        };
        if !apply(smdp, c, id, step, Event::Answer(Box::new(answer.clone())))? {
            tracing::info!(download = id, step, "late or repeated ES3 answer ignored");
        }
        Ok(true)
    })
}

fn parse_oid(s: &str) -> Result<Oid, SmdpError> {
    s.parse().map_err(internal)
}

/// The ES3 request of `call`, with the SM-DP's FunctionCallIdentifier `fci` and the validity left.
fn es3_request(
    smdp: &Smdp,
    url: &str,
    o: &Order,
    call: &Es3Call,
    base: BaseRequest,
    message_id: &str,
) -> Result<(&'static str, String), SmdpError> {
    let eid: Eid = o.eid.parse().map_err(internal)?;
    let iccid: Iccid = o.iccid.parse().map_err(internal)?;
    let reply_to = Some(smdp.identity.service_url(Service::Es3SmDp));
    match call {
        Es3Call::GetEis => relay::es3_envelope_with_id(
            smdp,
            url,
            &es3::GetEisRequest { base, eid },
            None,
            message_id,
        ),
        Es3Call::DeleteIsdp => relay::es3_envelope_with_id(
            smdp,
            url,
            &es3::DeleteIsdpRequest { base, eid, iccid },
            reply_to,
            message_id,
        ),
        Es3Call::CreateIsdp => relay::es3_envelope_with_id(
            smdp,
            url,
            &es3::CreateIsdpRequest {
                base,
                eid,
                iccid,
                mno_id: parse_oid(&o.mno_id)?,
                required_memory: o.required_memory,
                more_to_do: Some(true),
            },
            reply_to,
            message_id,
        ),
        Es3Call::SendData {
            sd_aid,
            script,
            more_to_do,
        } => relay::es3_envelope_with_id(
            smdp,
            url,
            &es3::SendDataRequest {
                base,
                eid,
                sd_aid: Aid::from_bytes(sd_aid).map_err(internal)?,
                data: HexBinary::from_bytes(script).map_err(internal)?,
                more_to_do: Some(*more_to_do),
            },
            reply_to,
            message_id,
        ),
        Es3Call::ProfileDownloadCompleted => relay::es3_envelope_with_id(
            smdp,
            url,
            &es3::ProfileDownloadCompletedRequest {
                base,
                eid,
                iccid,
                profile_type: Some(o.profile_type.clone()),
                subscription_address: Some(SubscriptionAddress {
                    imsi: Some(o.imsi.parse().map_err(internal)?),
                    msisdn: o
                        .msisdn
                        .as_deref()
                        .map(str::parse)
                        .transpose()
                        .map_err(internal)?,
                }),
                pol2: o
                    .pol2
                    .as_deref()
                    .map(profile_types::parse_pol2)
                    .transpose()
                    .map_err(internal)?,
            },
            None,
            message_id,
        ),
        Es3Call::EnableProfile => relay::es3_envelope_with_id(
            smdp,
            url,
            &es3::EnableProfileRequest { base, eid, iccid },
            reply_to,
            message_id,
        ),
    }
}

/// Sends the ES3 request of the step named by `job` (outside any transaction) and applies a synchronous answer.
fn run_step(smdp: &Smdp, job: &Job) -> Result<(), SmdpError> {
    let settings = settings(smdp)?;
    let p: StepJob = serde_json::from_value(job.payload.clone()).map_err(internal)?;
    let mut conn = smdp.store.conn()?;
    let Some(row) = downloads::get(&mut conn, p.download)? else {
        return Ok(());
    };
    if row.step != p.step {
        return Ok(());
    }
    let procedure: Procedure = serde_json::from_str(&row.data).map_err(internal)?;
    if procedure.phase.is_finished() {
        return Ok(());
    }
    let now = smdp.clock.now_millis();
    let after_validity = matches!(procedure.phase, Phase::Reconciling | Phase::CleaningUp);
    if !after_validity && now >= row.deadline {
        drop(conn);
        smdp.store
            .tx(|c| apply(smdp, c, row.id, row.step, Event::Expired))?;
        return Ok(());
    }
    let inputs = step_inputs(smdp, settings, &mut conn, &row, &procedure)?;
    let url = relay::es3_url(&mut conn, &procedure.order.smsr_id)?;
    drop(conn);
    let mut rng = rand::rng();
    let ctx = inputs.context(settings, smdp.clock.now(), &mut rng);
    let Some(call) = procedure.request(&ctx).map_err(internal)? else {
        return Ok(());
    };
    drop(inputs);
    // The validity left when the step began (not when this attempt runs): a retried step sends the very same
    // request, which the SM-SR answers from its record (it refuses a different request under the same
    // FunctionCallIdentifier).
    let validity_ms = if after_validity {
        i64::try_from(settings.cleanup_validity.as_millis()).unwrap_or(i64::MAX)
    } else {
        row.deadline - row.updated_at
    };
    let validity = u64::try_from(validity_ms / 1000).unwrap_or(1).max(1);
    let base = BaseRequest {
        function_call_identifier: format!("download-{}-{}-{}", row.id, row.created_at, row.step),
        validity_period: Some(PositiveInteger::new(validity).map_err(internal)?),
    };
    let message_id = row
        .awaiting_message_id
        .clone()
        .ok_or_else(|| internal("a download step without a MessageID"))?;
    let (action, envelope) = es3_request(smdp, &url, &procedure.order, &call, base, &message_id)?;
    es_runtime::capture::emitted(&envelope);
    let reply = relay::es3_client(smdp)?.call_blocking(&url, action, envelope)?;
    match reply.status {
        202 if !call.is_synchronous() => Ok(()),
        200 => {
            let env = Envelope::parse(reply.body.as_bytes())
                .map_err(|e| SmdpError::Es3Call(format!("HTTP 200: {e}")))?;
            if let Some(f) = env.fault() {
                return Err(SmdpError::Es3Call(format!("fault {f:?}")));
            }
            let response = es3::Response::decode(env.body())
                .map_err(|e| SmdpError::Es3Call(format!("ES3 answer: {e}")))?;
            let answer = answer_of(&response);
            smdp.store.tx(|c| {
                apply(
                    smdp,
                    c,
                    row.id,
                    row.step,
                    Event::Answer(Box::new(answer.clone())),
                )
            })?;
            Ok(())
        }
        s => Err(SmdpError::Es3Call(format!(
            "{} answered HTTP {s}",
            call.name()
        ))),
    }
}

/// The end of the ES2 call's validity: the procedure ends EXPIRED unless it is done or cleaning up.
fn run_expire(smdp: &Smdp, job: &Job) -> Result<(), SmdpError> {
    let id = job
        .payload
        .get("download")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| internal("expire job without a download"))?;
    smdp.store.tx(|c| {
        let Some(row) = downloads::get(c, id)? else {
            return Ok(());
        };
        apply(smdp, c, row.id, row.step, Event::Expired)?;
        Ok(())
    })
}

fn run_job(smdp: &Smdp, worker_id: &str, job: &Job) {
    let r = match job.kind.as_str() {
        KIND_STEP => run_step(smdp, job),
        KIND_EXPIRE => run_expire(smdp, job),
        other => Err(internal(format!("unknown download job kind {other}"))),
    };
    let now = smdp.clock.now_millis();
    let done = match &r {
        Ok(()) => smdp
            .store
            .tx(|c| jobs::complete(c, job.id, worker_id, now).map(|_| ())),
        Err(e) => {
            tracing::warn!(job = job.id, error = %e, "download step failed; retried");
            smdp.store
                .tx(|c| jobs::fail(c, job.id, worker_id, &e.to_string(), &BACKOFF, now).map(|_| ()))
        }
    };
    match done {
        Ok(()) | Err(StoreError::Conflict { .. }) => {}
        Err(e) => tracing::warn!(job = job.id, error = %e, "download job not recorded"),
    }
}

/// Claims due download jobs and runs them (each in a thread of its own); returns how many ran.
pub fn work_once(smdp: &Smdp, worker_id: &str) -> usize {
    let Some(settings) = smdp.download.as_ref() else {
        return 0;
    };
    let now = smdp.clock.now_millis();
    let limit = u32::try_from(settings.parallel_steps.max(1)).unwrap_or(16);
    let claimed = smdp.store.tx(|c| {
        jobs::recover_expired_leases(c, now)?;
        jobs::claim(c, QUEUE, worker_id, LEASE, limit, now)
    });
    let claimed: Vec<Job> = match claimed {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!(error = %e, "download jobs not claimed");
            return 0;
        }
    };
    let n = claimed.len();
    std::thread::scope(|s| {
        for job in &claimed {
            s.spawn(move || run_job(smdp, worker_id, job));
        }
    });
    n
}

/// The start of the lease holder id of the download workers of process `pid` (design §3 step 3): several
/// SM-DP processes share the job queue, and `eis_store::jobs::held_by` with this prefix lists what one holds.
pub fn worker_prefix(pid: u32) -> String {
    format!("smdp-download-{pid}-")
}

/// The download worker: runs due steps until `shutdown` turns true, woken by [`Smdp::wake_downloads`] or
/// every 250 ms.
pub async fn run(smdp: Arc<Smdp>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let worker_id = format!(
        "{}{}",
        worker_prefix(std::process::id()),
        uuid::Uuid::new_v4()
    );
    loop {
        if *shutdown.borrow() {
            break;
        }
        let s = smdp.clone();
        let w = worker_id.clone();
        let ran = tokio::task::spawn_blocking(move || work_once(&s, &w))
            .await
            .unwrap_or(0);
        if ran == 0 {
            tokio::select! {
                _ = smdp.wake_downloads.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
