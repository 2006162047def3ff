//! ES3 cases against an SM-DP as the caller (SGP.02 §5.4), which only the suite's own SM-SR makes possible
//! ([`super::smsr_peer`], `--play-smsr`): the MNOs call the SUT over ES2 as in [`super::es2`], and the suite,
//! as the peers' SM-SR, sees which ES3 functions the SM-DP calls, in what order, under what identity, and how
//! it takes a refusal. They use eUICC 2 and MNO 1's profile type [`PROFILE_TYPE`], like the ES2 cases, and run
//! after them.

use es_interfaces::messages::es2;
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, StatusCodeData, Subject};

use super::es2::{PROFILE_TYPE, Pick, delete_req, download, eid, expect_final, get_eis};
use super::es4::{accepted_then_success, decode};
use super::smsr_peer::Es3Request;
use super::{Case, CaseFuture, Ctx, Finding, Need};

const GET_EIS: &str = "ES3-GetEISRequest";
const CREATE_ISDP: &str = "ES3-CreateISDPRequest";
const SEND_DATA: &str = "ES3-SendDataRequest";
const COMPLETED: &str = "ES3-ProfileDownloadCompletedRequest";
const DELETE_ISDP: &str = "ES3-DeleteISDPRequest";

/// The ES3-as-caller catalogue, in run order.
pub static CASES: &[Case] = &[
    Case {
        id: "ES3-Caller-GetEIS-01",
        interface: "ES3",
        section: "§5.4.4, §5.3.1",
        title: "ES2.GetEIS makes the SM-DP call ES3.GetEIS at the SM-SR it names, as itself",
        needs: &[Need::Smdp, Need::SuiteSmsr],
        preconditions: "The SUT's SM-DP has the suite's SM-SR as the peers' SM-SR (its ES3 endpoint).",
        steps: &[
            "MNO 1: ES2.GetEIS of eUICC 2",
            "The suite's SM-SR answers the ES3.GetEIS it receives",
        ],
        expected: "ES2 EXECUTED_SUCCESS; the suite's SM-SR received ES3-GetEISRequest for eUICC 2 from the SM-DP \
                   (an OID in wsa:From, its own client certificate, a FunctionCallIdentifier not the MNO's), \
                   valid against the GSMA XSDs",
        note: "",
        run: get_eis_relayed,
    },
    Case {
        id: "ES3-Caller-DownloadProfile-01",
        interface: "ES3",
        section: "§3.1, §5.4.1–§5.4.4",
        title: "ES2.DownloadProfile makes the SM-DP call GetEIS, CreateISDP, SendData…, ProfileDownloadCompleted \
                in order",
        needs: &[Need::Smdp, Need::SuiteSmsr],
        preconditions: "MNO 1 has the profile type `conformance` in stock at the SUT; the suite's simulated eUICC 2 \
                        has room for it.",
        steps: &[
            "MNO 1: ES2.DownloadProfile to eUICC 2, ProfileType conformance",
            "The suite's SM-SR runs each ES3 function on the simulated eUICC 2 and answers synchronously",
            "Wait for the ES2 callback",
        ],
        expected: "ES2 callback EXECUTED_SUCCESS with an Iccid; the ES3 requests for eUICC 2 were GetEIS, \
                   CreateISDP naming that ICCID, SendData (one or more), ProfileDownloadCompleted naming it, in \
                   that order, every one from the same SM-DP OID with FunctionCallIdentifiers of its own and valid \
                   against the GSMA XSDs; the simulated eUICC holds an ISD-P with the ICCID",
        note: "SGP.02 §3.1 lets the SM-DP call ES3.GetEIS before the download (eligibility); the project's does, \
               and the case requires it.",
        run: download_sequence,
    },
    Case {
        id: "ES3-Caller-DownloadProfile-02",
        interface: "ES3",
        section: "§3.1.1, §5.4.1, §5.1.6.4",
        title: "An ES3.CreateISDP refusal ends the download FAILED with the SM-SR's status",
        needs: &[Need::Smdp, Need::SuiteSmsr],
        preconditions: "As ES3-Caller-DownloadProfile-01, one more stock record.",
        steps: &[
            "The suite's SM-SR is set to refuse the next ES3.CreateISDP with FAILED 8.1/3.8 (eUICC, refused)",
            "MNO 1: ES2.DownloadProfile to eUICC 2, ProfileType conformance",
            "Wait for the ES2 callback",
        ],
        expected: "ES2 callback FAILED 8.1/3.8, the SM-SR's status relayed; no ES3.SendData or \
                   ProfileDownloadCompleted follows the refused CreateISDP",
        note: "That the SM-DP relays the SM-SR's status unchanged is the project's reading of §5.3.2 (the ES2 \
               status codes of DownloadProfile include the ES3 ones).",
        run: download_create_refused,
    },
    Case {
        id: "ES3-Caller-DownloadProfile-03",
        interface: "ES3",
        section: "§3.1.2, §3.1.4, §5.4.2, §5.4.11",
        title: "An ES3.SendData failure ends the download FAILED and the SM-DP deletes the ISD-P it created",
        needs: &[Need::Smdp, Need::SuiteSmsr],
        preconditions: "As ES3-Caller-DownloadProfile-01, one more stock record.",
        steps: &[
            "The suite's SM-SR is set to answer the next ES3.SendData FAILED 8.4/4.2 (ISD-R, execution error)",
            "MNO 1: ES2.DownloadProfile to eUICC 2, ProfileType conformance",
            "Wait for the ES2 callback, then for the SM-DP's ES3.DeleteISDP of the ICCID CreateISDP named",
        ],
        expected: "ES2 callback FAILED 8.4/4.2, the SM-SR's status relayed; after the failed SendData the SM-DP \
                   sends ES3.DeleteISDP of that ICCID (the error sub-routine of §3.1.4), no \
                   ProfileDownloadCompleted; the simulated eUICC no longer holds the ISD-P",
        note: "",
        run: download_send_data_failed,
    },
    Case {
        id: "ES3-Caller-DeleteISDP-01",
        interface: "ES3",
        section: "§5.4.11, §5.4.16, §5.3.7",
        title: "ES2.DeleteProfile makes the SM-DP call ES3.DeleteISDP once and forward the notification",
        needs: &[Need::Smdp, Need::SuiteSmsr],
        preconditions: "ES3-Caller-DownloadProfile-01 passed in this run; its profile is disabled.",
        steps: &[
            "MNO 1: ES2.DeleteProfile of the ICCID ES3-Caller-DownloadProfile-01 installed",
            "The suite's SM-SR deletes the ISD-P on the simulated eUICC, answers, then sends \
             ES3-HandleProfileDeletedNotification to the SM-DP",
            "Wait for the ES2 callback and ES2-HandleProfileDeletedNotification",
        ],
        expected: "HTTP 202; callback ES2-DeleteProfileResponse EXECUTED_SUCCESS; \
                   ES2-HandleProfileDeletedNotification for the ICCID; exactly one ES3-DeleteISDPRequest naming \
                   it; the simulated eUICC no longer holds it",
        note: "",
        run: delete_isdp,
    },
];

/// The ES3 requests the suite's SM-SR received during this case for eUICC 2.
fn received(ctx: &Ctx) -> Result<Vec<Es3Request>, Finding> {
    let eid = eid(ctx)?;
    Ok(ctx
        .suite_smsr()?
        .requests_since(ctx.case_started())
        .into_iter()
        .filter(|r| r.eid == eid)
        .collect())
}

/// Checks that every request came from one SM-DP OID, with its own client certificate and identifiers that
/// are not the MNO's (`mno_fci`); returns that OID.
fn same_caller(requests: &[Es3Request], mno_fci: &str) -> Result<String, Finding> {
    let mut oid: Option<&str> = None;
    for r in requests {
        if let Some(who) = &r.other_peer {
            return Err(Finding::Fail(format!(
                "{} came with the client certificate of {who}",
                r.element
            )));
        }
        let Some(from) = r.from_oid.as_deref() else {
            return Err(Finding::Fail(format!(
                "{} has no EntityId in wsa:From",
                r.element
            )));
        };
        match oid {
            Some(o) if o != from => {
                return Err(Finding::Fail(format!(
                    "{} came from {from}, an earlier request from {o}",
                    r.element
                )));
            }
            _ => oid = Some(from),
        }
        if r.function_call_id == mno_fci {
            return Err(Finding::Fail(format!(
                "{} carries the MNO's FunctionCallIdentifier {mno_fci}",
                r.element
            )));
        }
    }
    oid.map(str::to_string)
        .ok_or_else(|| Finding::Fail("the SM-DP called no ES3 function".into()))
}

/// The elements in order, repeats of the same function folded.
fn folded(requests: &[Es3Request]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for r in requests {
        if out.last() != Some(&r.element.as_str()) {
            out.push(&r.element);
        }
    }
    out
}

fn get_eis_relayed(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let req = get_eis(ctx, &eid(ctx)?, "peer-get")?;
        let fci = req.base.function_call_identifier.clone();
        let out = ctx.es2(0, &req).await?;
        let seen = expect_final(
            ctx,
            &out,
            "ES2-GetEISResponse",
            Status::ExecutedSuccess,
            None,
        )
        .await?;
        let requests = received(ctx)?;
        let oid = same_caller(&requests, &fci)?;
        let calls: Vec<&Es3Request> = requests.iter().filter(|r| r.element == GET_EIS).collect();
        if calls.is_empty() || calls.len() != requests.len() {
            return Err(Finding::Fail(format!(
                "{seen}, but the SM-SR received {:?}, expected ES3-GetEISRequest only",
                folded(&requests)
            )));
        }
        Ok(format!(
            "{seen}; {} ES3-GetEISRequest from {oid}",
            calls.len()
        ))
    })
}

fn download_sequence(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let fci = ctx.fci("peer-download");
        let eid = eid(ctx)?;
        let req = download(ctx, &eid, Pick::ProfileType(PROFILE_TYPE), &fci, None)?;
        let out = ctx.es2(0, &req).await?;
        let cb = accepted_then_success(ctx, &out, "ES2-DownloadProfileResponse").await?;
        let iccid = decode::<es2::DownloadProfileResponse>(&cb.envelope)?
            .iccid
            .map(|i| i.to_string())
            .ok_or_else(|| Finding::Fail("the callback carries no Iccid".into()))?;
        ctx.remember("peer-download-iccid", iccid.clone());
        let requests = received(ctx)?;
        let oid = same_caller(&requests, &fci)?;
        let order = folded(&requests);
        if order != [GET_EIS, CREATE_ISDP, SEND_DATA, COMPLETED] {
            return Err(Finding::Fail(format!(
                "the ES3 requests were {order:?}, expected GetEIS, CreateISDP, SendData…, \
                 ProfileDownloadCompleted"
            )));
        }
        for r in &requests {
            if let Some(named) = &r.iccid
                && *named != iccid
            {
                return Err(Finding::Fail(format!(
                    "{} names {named}, the download's ICCID is {iccid}",
                    r.element
                )));
            }
            if r.answered.status != Status::ExecutedSuccess {
                return Err(Finding::Inconclusive(format!(
                    "the suite's SM-SR answered {} with {:?}",
                    r.element, r.answered
                )));
            }
        }
        let on_card = ctx
            .suite_smsr()?
            .card_isd_ps(&eid)
            .into_iter()
            .any(|(_, i)| i.as_deref() == Some(iccid.as_str()));
        if !on_card {
            return Err(Finding::Fail(format!(
                "the callback names {iccid}, which the simulated eUICC 2 does not hold"
            )));
        }
        let sends = requests.iter().filter(|r| r.element == SEND_DATA).count();
        Ok(format!(
            "callback EXECUTED_SUCCESS with Iccid {iccid}; ES3 from {oid}: GetEIS, CreateISDP, SendData ×{sends}, \
             ProfileDownloadCompleted; the eUICC holds {iccid}"
        ))
    })
}

/// MNO 1's ES2.DownloadProfile with the suite's SM-SR failing the next ES3 `function` with `refusal`: the
/// download must end FAILED with `expected` (subject, reason) code; returns what was seen and the call's
/// FunctionCallIdentifier.
async fn download_refused(
    ctx: &Ctx,
    function: &'static str,
    refusal: StatusCodeData,
    what: &str,
    expected: (&str, &str),
) -> Result<(String, String), Finding> {
    let smsr = ctx.suite_smsr()?;
    smsr.refuse_next(function, FunctionExecutionStatus::failed(refusal));
    let fci = ctx.fci(what);
    let seen = match download(ctx, &eid(ctx)?, Pick::ProfileType(PROFILE_TYPE), &fci, None) {
        Ok(req) => match ctx.es2(0, &req).await {
            Ok(out) => {
                expect_final(
                    ctx,
                    &out,
                    "ES2-DownloadProfileResponse",
                    Status::Failed,
                    Some(expected),
                )
                .await
            }
            Err(f) => Err(f),
        },
        Err(f) => Err(f),
    };
    smsr.clear_refusal();
    Ok((seen?, fci))
}

fn download_create_refused(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (seen, fci) = download_refused(
            ctx,
            CREATE_ISDP,
            StatusCodeData::new(
                Subject::EUICC,
                Reason::REFUSED,
                Some("refused by the conformance suite (ES3-Caller-DownloadProfile-02)".into()),
            ),
            "peer-download-refused",
            ("8.1", "3.8"),
        )
        .await?;
        let requests = received(ctx)?;
        same_caller(&requests, &fci)?;
        let order = folded(&requests);
        match order.iter().position(|e| *e == CREATE_ISDP) {
            None => Err(Finding::Fail(format!(
                "{seen}, but the SM-DP called no ES3.CreateISDP ({order:?})"
            ))),
            Some(i)
                if order[i + 1..]
                    .iter()
                    .any(|e| *e == SEND_DATA || *e == COMPLETED) =>
            {
                Err(Finding::Fail(format!(
                    "{seen}, but the SM-DP went on after the refused CreateISDP: {order:?}"
                )))
            }
            Some(_) => Ok(format!("{seen}; ES3 requests {order:?}")),
        }
    })
}

fn download_send_data_failed(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (seen, fci) = download_refused(
            ctx,
            SEND_DATA,
            StatusCodeData::new(
                Subject::ISD_R,
                Reason::EXECUTION_ERROR,
                Some("failed by the conformance suite (ES3-Caller-DownloadProfile-03)".into()),
            ),
            "peer-download-send-failed",
            ("8.4", "4.2"),
        )
        .await?;
        // The clean-up may follow the callback: wait for the DeleteISDP.
        let until = std::time::Instant::now() + ctx.callback_timeout;
        let (requests, created) = loop {
            let requests = received(ctx)?;
            let created = requests
                .iter()
                .find(|r| r.element == CREATE_ISDP)
                .and_then(|r| r.iccid.clone())
                .ok_or_else(|| {
                    Finding::Fail(format!("{seen}, but the SM-DP called no CreateISDP"))
                })?;
            let deleted = requests
                .iter()
                .any(|r| r.element == DELETE_ISDP && r.iccid.as_deref() == Some(created.as_str()));
            if deleted || std::time::Instant::now() >= until {
                break (requests, created);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        same_caller(&requests, &fci)?;
        let order = folded(&requests);
        let send = order.iter().position(|e| *e == SEND_DATA);
        let delete = order.iter().position(|e| *e == DELETE_ISDP);
        match (send, delete) {
            (Some(s), Some(d)) if s < d && !order.contains(&COMPLETED) => {}
            _ => {
                return Err(Finding::Fail(format!(
                    "{seen}, but the ES3 requests were {order:?}: expected SendData, then DeleteISDP of \
                     {created}, no ProfileDownloadCompleted"
                )));
            }
        }
        let still = ctx
            .suite_smsr()?
            .card_isd_ps(&eid(ctx)?)
            .into_iter()
            .any(|(_, i)| i.as_deref() == Some(created.as_str()));
        if still {
            return Err(Finding::Fail(format!(
                "the simulated eUICC 2 still holds the ISD-P of {created}"
            )));
        }
        Ok(format!(
            "{seen}; ES3 requests {order:?}; the ISD-P of {created} deleted"
        ))
    })
}

fn delete_isdp(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        ctx.require_passed("ES3-Caller-DownloadProfile-01")?;
        let iccid = ctx.recall("peer-download-iccid").ok_or_else(|| {
            Finding::Inconclusive("ES3-Caller-DownloadProfile-01 left no ICCID".into())
        })?;
        let req = delete_req(ctx, &iccid, "peer-delete")?;
        let fci = req.base.function_call_identifier.clone();
        let out = ctx.es2(0, &req).await?;
        accepted_then_success(ctx, &out, "ES2-DeleteProfileResponse").await?;
        ctx.notification("ES2-HandleProfileDeletedNotification", &iccid)
            .await?;
        let requests = received(ctx)?;
        let oid = same_caller(&requests, &fci)?;
        let deletes: Vec<&Es3Request> = requests
            .iter()
            .filter(|r| r.element == DELETE_ISDP)
            .collect();
        if deletes.len() != 1 || deletes[0].iccid.as_deref() != Some(iccid.as_str()) {
            return Err(Finding::Fail(format!(
                "expected one ES3-DeleteISDPRequest for {iccid}, the SM-SR received {:?}",
                deletes.iter().map(|r| &r.iccid).collect::<Vec<_>>()
            )));
        }
        let still = ctx
            .suite_smsr()?
            .card_isd_ps(&eid(ctx)?)
            .into_iter()
            .any(|(_, i)| i.as_deref() == Some(iccid.as_str()));
        if still {
            return Err(Finding::Fail(format!(
                "the simulated eUICC 2 still holds {iccid}"
            )));
        }
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS; one ES3-DeleteISDPRequest from {oid}; \
             ES2-HandleProfileDeletedNotification for {iccid}; gone from the eUICC"
        ))
    })
}
