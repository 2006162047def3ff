//! ES3 cases with a real profile (SGP.02 §3.1–§3.4 through ES3, §5.4): the suite, as the peers' SM-DP,
//! downloads a package personalised from the sample USIM template (smdp::saip::sample) onto eUICC 1 by driving
//! the SM-DP's own download procedure (smdp::download::procedure: GetEIS, CreateISDP, SendData with ES8 key
//! establishment and SCP03t, ProfileDownloadCompleted) with the SUT's ES3 answers, then enables, disables and
//! deletes it. The profile's IMSI is [`DOWNLOAD_IMSI`]: the network must give it [`DOWNLOAD_MSISDN`] for the
//! enabled profile to attach and notify (the suite's SMSC does; a SUT's lab provisions it).

use std::time::Duration;

use certs::ecc::{Curve, PrivateKey};
use es_interfaces::messages::common::SubscriptionAddress;
use es_interfaces::messages::es3;
use es_interfaces::soap::Envelope;
use es_interfaces::status::Status;
use es_interfaces::types::{Aid, ProfileState};
use es_interfaces::wire_profile;
use rand::rngs::ThreadRng;
use smdp::download::driver::answer_of;
use smdp::download::es8::KeyData;
use smdp::download::procedure::{
    ANY_PLATFORM, Answer, Context, Es3Call, Es8Identity, Event, Order, Procedure,
};
use smdp::saip::{bench::synthetic_record, sample};

use super::{
    Ctx, Finding, delete_req, disable_req, eid0, enable_req, hex_binary, own_iccid, own_mno,
    own_shown, parse, smdp_oid,
};
use crate::mno::{CallOutcome, base};
use crate::suite::CaseFuture;
use crate::suite::es4::accepted_then_success;

/// The IMSI of the suite's downloaded profile (SGP.02 §3.1; test network MCC 001, outside the issuance numbering).
pub const DOWNLOAD_IMSI: &str = "001028880000001";
/// The MSISDN the network gives [`DOWNLOAD_IMSI`] (SGP.02 §3.2 attach; outside the issuance numbering).
pub const DOWNLOAD_MSISDN: &str = "491788000001";
/// The ProfileType the suite completes its real download with.
const DOWNLOAD_PROFILE_TYPE: &str = "rsp conformance USIM";
/// Most ES3 requests one download may take (GetEIS, CreateISDP, 3 key-establishment steps, the load scripts,
/// ProfileDownloadCompleted, a clean-up).
const MAX_STEPS: usize = 64;
/// How long the enable case looks for the ES3 notification after the callback.
const NOTIFICATION_GRACE: Duration = Duration::from_secs(5);

fn internal(e: impl std::fmt::Display) -> Finding {
    Finding::Inconclusive(format!("the suite's SM-DP: {e}"))
}

/// The peers' SM-DP's ES8 identity and trust anchors (SGP.02 §2.3.2), from the peers' world.
fn identity(ctx: &Ctx) -> Result<Es8Identity, Finding> {
    let w = &ctx.world;
    Ok(Es8Identity {
        smdp_oid: smdp_oid(ctx),
        cert_dp: w.sm_dp_gp.cert.encode(),
        sk_dp: PrivateKey::from_scalar(Curve::P256, w.sm_dp_gp.key.to_scalar().as_slice())
            .map_err(internal)?,
        ci: w.ci.cert.clone(),
        eums: vec![w.eum.cert.clone()],
    })
}

/// The sample USIM template personalised with `iccid` and [`DOWNLOAD_IMSI`] (wire-profile §8).
fn package(iccid: &str) -> Result<Vec<u8>, Finding> {
    let mut record = synthetic_record(1);
    record.iccid = iccid.to_string();
    record.imsi = DOWNLOAD_IMSI.to_string();
    record.msisdn = Some(DOWNLOAD_MSISDN.to_string());
    smdp::warehouse::profile_types::prepare(&sample::usim_template_der())
        .map_err(internal)?
        .personalise(&record)
        .map_err(internal)
}

/// The ICCID of the suite's real profile (its own ICCID with `8` for `7`: see [`own_iccid`]).
fn download_iccid(ctx: &Ctx) -> Result<String, Finding> {
    own_iccid(ctx, 8)
}

/// Downloads a second copy of the suite's real profile onto eUICC 1 (its own ICCID with `9`, for MNO 2, Disabled)
/// for a case of another interface that needs a profile it may delete (ES4-DeleteProfile-02); its ICCID. A
/// download that does not complete makes that case INCONCLUSIVE: ES3-Download-01 judges the download.
pub(crate) async fn download_another(ctx: &Ctx) -> Result<String, Finding> {
    ctx.require_passed("ES3-Download-01")?;
    let iccid = own_iccid(ctx, 9)?;
    download(ctx, &iccid).await.map_err(|f| match f {
        Finding::Fail(why) => {
            Finding::Inconclusive(format!("precondition: the download of {iccid}: {why}"))
        }
        other => other,
    })?;
    Ok(iccid)
}

/// The ES3 request of `call` (SGP.02 §5.4.1–§5.4.3) for `o`, under FunctionCallIdentifier `fci`.
fn send(o: &Order, call: &Es3Call, fci: &str) -> Result<Request, Finding> {
    let b = base(fci, None);
    let eid = parse("EID", &o.eid)?;
    let iccid = parse("ICCID", &o.iccid)?;
    Ok(match call {
        Es3Call::GetEis => Request::GetEis(es3::GetEisRequest { base: b, eid }),
        Es3Call::CreateIsdp => Request::Create(es3::CreateIsdpRequest {
            base: b,
            eid,
            iccid,
            mno_id: parse("Mno-id", &o.mno_id)?,
            required_memory: o.required_memory,
            more_to_do: Some(true),
        }),
        Es3Call::SendData {
            sd_aid,
            script,
            more_to_do,
        } => Request::Send(es3::SendDataRequest {
            base: b,
            eid,
            sd_aid: Aid::from_bytes(sd_aid).map_err(internal)?,
            data: hex_binary(script)?,
            more_to_do: Some(*more_to_do),
        }),
        Es3Call::ProfileDownloadCompleted => {
            Request::Completed(es3::ProfileDownloadCompletedRequest {
                base: b,
                eid,
                iccid,
                profile_type: Some(o.profile_type.clone()),
                subscription_address: Some(SubscriptionAddress {
                    imsi: Some(parse("IMSI", &o.imsi)?),
                    msisdn: o
                        .msisdn
                        .as_deref()
                        .map(|m| parse("MSISDN", m))
                        .transpose()?,
                }),
                pol2: None,
            })
        }
        Es3Call::DeleteIsdp => Request::Delete(es3::DeleteIsdpRequest {
            base: b,
            eid,
            iccid,
        }),
        Es3Call::EnableProfile => Request::Enable(es3::EnableProfileRequest {
            base: b,
            eid,
            iccid,
        }),
    })
}

/// One ES3 request of the procedure, typed.
enum Request {
    GetEis(es3::GetEisRequest),
    Create(es3::CreateIsdpRequest),
    Send(es3::SendDataRequest),
    Completed(es3::ProfileDownloadCompletedRequest),
    Delete(es3::DeleteIsdpRequest),
    Enable(es3::EnableProfileRequest),
}

impl Request {
    async fn call(&self, ctx: &Ctx) -> Result<CallOutcome, Finding> {
        match self {
            Request::GetEis(r) => ctx.es3(r).await,
            Request::Create(r) => ctx.es3(r).await,
            Request::Send(r) => ctx.es3(r).await,
            Request::Completed(r) => ctx.es3(r).await,
            Request::Delete(r) => ctx.es3(r).await,
            Request::Enable(r) => ctx.es3(r).await,
        }
    }
}

/// An ES3 response envelope decoded (SGP.02 §5.4).
fn response(envelope: &str, what: &str) -> Result<es3::Response, Finding> {
    let env = Envelope::parse(envelope.as_bytes())
        .map_err(|e| Finding::Fail(format!("{what}: no SOAP envelope: {e}")))?;
    es3::Response::decode(env.body())
        .map_err(|e| Finding::Fail(format!("{what}: no ES3 response: {e}")))
}

/// Sends `call` and returns the SUT's answer: the HTTP 200 body, or after HTTP 202 (asynchronous functions)
/// the callback's.
async fn exchange(ctx: &Ctx, o: &Order, call: &Es3Call, step: usize) -> Result<Answer, Finding> {
    let out = send(o, call, &ctx.fci(&format!("es3-dl-{}-{step}", o.iccid)))?
        .call(ctx)
        .await?;
    let what = format!("step {step}");
    match out.http_status {
        200 => Ok(answer_of(&response(&out.envelope, &what)?)),
        202 if !call.is_synchronous() => {
            let cb = ctx.callback(&out).await?;
            Ok(answer_of(&response(&cb.envelope, &what)?))
        }
        s => Err(Finding::Fail(format!("{what} ({}): HTTP {s}", call.name()))),
    }
}

/// The inputs of a step of the procedure: the whole package each time (the load scripts are recomputed).
fn context<'a>(
    identity: &'a Es8Identity,
    package: &'a [u8],
    rng: &'a mut ThreadRng,
    keys: Option<&'a KeyData>,
) -> Context<'a, ThreadRng> {
    Context {
        identity,
        now: time::OffsetDateTime::now_utc(),
        rng,
        keys,
        package: Some(package),
        scripts: None,
        budget: wire_profile::SEND_DATA_SCRIPT_BUDGET,
    }
}

/// The download of the suite's real profile (SGP.02 §3.1): the procedure's requests sent to the SUT, its
/// answers applied, until the procedure is done (after a failure, its clean-up DeleteISDP included). Returns
/// a note on the requests sent; a procedure that ends other than EXECUTED_SUCCESS is a FAIL naming the phase.
async fn download(ctx: &Ctx, iccid: &str) -> Result<String, Finding> {
    let identity = identity(ctx)?;
    let package = package(iccid)?;
    let mut p = Procedure::new(Order {
        eid: eid0(ctx)?,
        smsr_id: ctx.world.manifest.sm_sr.oid.clone(),
        mno_id: own_mno(ctx)?,
        iccid: iccid.to_string(),
        imsi: DOWNLOAD_IMSI.into(),
        msisdn: Some(DOWNLOAD_MSISDN.into()),
        profile_type: DOWNLOAD_PROFILE_TYPE.into(),
        required_memory: i64::try_from(package.len()).map_err(internal)?,
        target_platform: ANY_PLATFORM.into(),
        pol2: None,
        enable: false,
    });
    let mut keys: Option<KeyData> = None;
    let mut sent: Vec<&'static str> = Vec::new();
    let mut decided_in = None;
    for step in 1..=MAX_STEPS {
        let call = {
            let mut rng = rand::rng();
            p.request(&context(&identity, &package, &mut rng, keys.as_ref()))
                .map_err(internal)?
        };
        let Some(call) = call else {
            break;
        };
        let answer = exchange(ctx, &p.order, &call, step).await?;
        sent.push(call.name());
        let phase = p.phase.name();
        let effects = {
            let mut rng = rand::rng();
            p.apply(
                Event::Answer(Box::new(answer)),
                &mut context(&identity, &package, &mut rng, keys.as_ref()),
            )
            .map_err(internal)?
        };
        if effects.report.is_some() && decided_in.is_none() {
            decided_in = Some(phase);
        }
        if let Some(k) = effects.keys {
            keys = Some(k);
        }
        if !p.phase.holds_keys() {
            keys = None;
        }
    }
    if !p.phase.is_finished() {
        return Err(Finding::Inconclusive(format!(
            "the download did not end within {MAX_STEPS} ES3 requests (phase {})",
            p.phase.name()
        )));
    }
    let report = p
        .report
        .as_ref()
        .ok_or_else(|| Finding::Inconclusive("the download ended without an outcome".into()))?;
    if report.status != Status::ExecutedSuccess.as_str() {
        return Err(Finding::Fail(format!(
            "the download failed in phase {}: {} {}/{} {} (last request: {})",
            decided_in.unwrap_or("?"),
            report.status,
            report.subject.as_deref().unwrap_or("-"),
            report.reason.as_deref().unwrap_or("-"),
            report.message.as_deref().unwrap_or(""),
            sent.last().copied().unwrap_or("-"),
        )));
    }
    let sends = sent.iter().filter(|s| **s == "ES3.SendData").count();
    Ok(format!(
        "{} ES3 requests ({sends} SendData: 3A01, 3A02, SCP03t 84 and {} load script(s) of a {}-byte package)",
        sent.len(),
        sends.saturating_sub(3),
        package.len()
    ))
}

/// The suite's real profile after case `after` passed (ES3-Download-01 must have).
fn downloaded(ctx: &Ctx, after: &str) -> Result<String, Finding> {
    ctx.require_passed("ES3-Download-01")?;
    ctx.require_passed(after)?;
    ctx.recall("es3-dl-iccid")
        .ok_or_else(|| Finding::Inconclusive("ES3-Download-01 left no profile".into()))
}

/// The state of `iccid` in the SM-DP's GetEIS of eUICC 1 (`None`: not shown).
async fn state(ctx: &Ctx, iccid: &str, what: &str) -> Result<Option<ProfileState>, Finding> {
    Ok(own_shown(ctx, iccid, what).await?.map(|p| p.state))
}

pub(super) fn download_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let iccid = download_iccid(ctx)?;
        let done = download(ctx, &iccid).await?;
        ctx.remember("es3-dl-iccid", iccid.clone());
        let shown = own_shown(ctx, &iccid, "es3-dl-view")
            .await?
            .ok_or_else(|| {
                Finding::Fail(format!(
                    "{done}, all successful, but the GetEIS does not show {iccid}"
                ))
            })?;
        let smdp = shown.smdp_id.as_ref().map(|o| o.to_string());
        if shown.state != ProfileState::Disabled || smdp.as_deref() != Some(smdp_oid(ctx).as_str())
        {
            return Err(Finding::Fail(format!(
                "{done}, but the GetEIS shows {iccid} {:?} with Smdp-id {smdp:?}",
                shown.state
            )));
        }
        Ok(format!("{done}; {iccid} shown Disabled, Smdp-id the SM-DP"))
    })
}

/// MNO 1's view of eUICC 1 (ES4.GetEIS): whether its fall-back profile P1 is enabled.
async fn fallback_enabled(ctx: &Ctx, what: &str) -> Result<bool, Finding> {
    let p1 = crate::issuance::profiles_at_issuance(&ctx.world, 0)
        .map_err(|e| Finding::Inconclusive(e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| Finding::Inconclusive("eUICC 1 has no issuance profile".into()))?;
    let eis = crate::suite::es4::view(ctx, 0, what).await?;
    Ok(eis
        .profile_info
        .iter()
        .any(|p| p.iccid.as_str() == p1.iccid && p.state == ProfileState::Enabled))
}

pub(super) fn enable_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let iccid = downloaded(ctx, "ES3-Download-01")?;
        let out = ctx.es3(&enable_req(ctx, &iccid, "es3-dl-enable")?).await?;
        accepted_then_success(ctx, &out, "ES3-EnableProfileResponse").await?;
        let now = state(ctx, &iccid, "es3-dl-enable-view").await?;
        if now != Some(ProfileState::Enabled) {
            return Err(Finding::Fail(format!(
                "callback EXECUTED_SUCCESS, but the GetEIS shows {iccid} {now:?}"
            )));
        }
        let notified = ctx
            .notification_within(
                "ES3-HandleProfileEnabledNotification",
                &iccid,
                NOTIFICATION_GRACE,
            )
            .await
            .is_some();
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS; {iccid} shown Enabled; ES3-HandleProfileEnabledNotification {}",
            if notified {
                "received"
            } else {
                "not at the suite's receiver (the SUT sends it to the SM-DP's registered ES3 endpoint)"
            }
        ))
    })
}

pub(super) fn disable_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let iccid = downloaded(ctx, "ES3-EnableProfile-04")?;
        let out = ctx
            .es3(&disable_req(ctx, &iccid, "es3-dl-disable")?)
            .await?;
        accepted_then_success(ctx, &out, "ES3-DisableProfileResponse").await?;
        let now = state(ctx, &iccid, "es3-dl-disable-view").await?;
        if now != Some(ProfileState::Disabled) {
            return Err(Finding::Fail(format!(
                "callback EXECUTED_SUCCESS, but the GetEIS shows {iccid} {now:?}"
            )));
        }
        if !fallback_enabled(ctx, "es3-dl-disable-fallback").await? {
            return Err(Finding::Fail(format!(
                "{iccid} shown Disabled, but MNO 1's GetEIS does not show its fall-back profile Enabled"
            )));
        }
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS; {iccid} shown Disabled, the fall-back profile Enabled"
        ))
    })
}

pub(super) fn delete_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let iccid = downloaded(ctx, "ES3-Download-01")?;
        if state(ctx, &iccid, "es3-dl-delete-pre").await? == Some(ProfileState::Enabled) {
            return Err(Finding::Inconclusive(format!(
                "precondition: {iccid} is still Enabled (ES3-DisableProfile-03 did not disable it)"
            )));
        }
        let out = ctx.es3(&delete_req(ctx, &iccid, "es3-dl-delete")?).await?;
        accepted_then_success(ctx, &out, "ES3-DeleteISDPResponse").await?;
        if let Some(s) = state(ctx, &iccid, "es3-dl-delete-view").await? {
            return Err(Finding::Fail(format!(
                "callback EXECUTED_SUCCESS, but the GetEIS still shows {iccid} {s:?}"
            )));
        }
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS; {iccid} no longer shown"
        ))
    })
}
