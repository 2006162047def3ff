//! ES1 cases against an SM-SR (SGP.02 §5.2.1 ES1.RegisterEIS), the suite playing the EUM of the peers.

use es_interfaces::messages::es4;
use es_interfaces::soap::action;
use es_interfaces::status::Status;
use es_interfaces::wsdl::Service;

use super::ctx::{Peer, expect, status_in};
use super::{Case, CaseFuture, Ctx, Finding, Need};
use crate::eum::build_eis;
use crate::mno::base;

/// The ES1 catalogue, in run order.
pub static CASES: &[Case] = &[
    Case {
        id: "ES1-RegisterEIS-01",
        interface: "ES1",
        section: "§5.2.1",
        title: "An EIS whose EumSignedInfo was altered after signing is refused; nothing is stored",
        needs: &[Need::Smsr],
        preconditions: "An eUICC of the peers that the SUT does not know yet (the suite finds it with ES4.GetEIS \
                        as MNO 1, from the last eUICC of the peers down).",
        steps: &[
            "EUM: ES1.RegisterEIS of that eUICC's EIS with PlatformVersion changed after the EUM signed it",
            "MNO 1: ES4.GetEIS of its EID",
        ],
        expected: "HTTP 200, FAILED 8.6/6.1 (EIS, verification failed); the GetEIS answers FAILED 8.1.1/3.9",
        note: "",
        run: register_tampered,
    },
    Case {
        id: "ES1-RegisterEIS-02",
        interface: "ES1",
        section: "§5.2.1",
        title: "A valid EIS signed by the EUM is registered and visible to the MNO",
        needs: &[Need::Smsr],
        preconditions: "The eUICC of ES1-RegisterEIS-01 is still unknown to the SUT.",
        steps: &[
            "EUM: ES1.RegisterEIS of the eUICC's EIS as the EUM built and signed it",
            "MNO 1: ES4.GetEIS of its EID",
        ],
        expected: "HTTP 200, EXECUTED_SUCCESS; the GetEIS answers EXECUTED_SUCCESS with that EID",
        note: "",
        run: register_valid,
    },
    Case {
        id: "ES1-RegisterEIS-03",
        interface: "ES1",
        section: "§5.2.1",
        title: "A second registration of a known EID is refused and changes nothing",
        needs: &[Need::Smsr],
        preconditions: "The peers' eUICC 1 is registered at the SUT.",
        steps: &["EUM: ES1.RegisterEIS of eUICC 1's EIS under a new FunctionCallIdentifier"],
        expected: "HTTP 200, FAILED 8.1.1/3.3 (EID, already in use)",
        note: "",
        run: register_duplicate,
    },
    Case {
        id: "ES1-RegisterEIS-04",
        interface: "ES1",
        section: "§5.2.1, §5.1.6.4",
        title: "An MNO may not call ES1 (wrong role)",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["MNO 1: ES1.RegisterEIS of eUICC 1's EIS with the MNO's TLS client certificate"],
        expected: "HTTP 200, FAILED 1.1/1.2 (function requester, not allowed)",
        note: "",
        run: register_wrong_role,
    },
    Case {
        id: "ES1-RegisterEIS-05",
        interface: "ES1",
        section: "§5.1.6.4, Annex B",
        title: "A request that is not well-formed XML is refused with a SOAP Fault",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["EUM: POST a truncated envelope to ES1"],
        expected: "HTTP 400, a SOAP Fault carrying FAILED 1.6/2.1 (function, invalid)",
        note: "SGP.02 gives the status codes, not the HTTP status: HTTP 400 with a SOAP 1.2 Sender fault is the \
               project's binding of a message it cannot parse (SOAP 1.2 Part 2 §7.5.1.2).",
        run: register_not_xml,
    },
    Case {
        id: "ES1-RegisterEIS-06",
        interface: "ES1",
        section: "§5.2.1, §5.1.6.4",
        title: "An EIS with an invalid ICCID value is refused naming the element",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["EUM: ES1.RegisterEIS of eUICC 1's EIS with its first ICCID replaced by 12345"],
        expected: "HTTP 200, FAILED 1.6/2.1 whose message names Iccid",
        note: "",
        run: register_bad_iccid,
    },
];

/// MNO 1's ES4.GetEIS of eUICC `i` of the peers: `Ok(true)` when the SUT knows it, `Ok(false)` on 8.1.1/3.9.
async fn known(ctx: &Ctx, i: usize, what: &str) -> Result<bool, Finding> {
    let eid = &ctx.world.euiccs[i].eid;
    let out = ctx
        .es4(
            0,
            &es4::GetEisRequest {
                base: base(&ctx.fci(&format!("{what}-{i}")), None),
                eid: eid
                    .parse()
                    .map_err(|e| Finding::Inconclusive(format!("EID {eid}: {e}")))?,
            },
        )
        .await?;
    if expect(
        out.http_status,
        &out.envelope,
        200,
        Status::ExecutedSuccess,
        None,
    )
    .is_ok()
    {
        return Ok(true);
    }
    expect(
        out.http_status,
        &out.envelope,
        200,
        Status::Failed,
        Some(("8.1.1", "3.9")),
    )
    .map(|_| false)
    .map_err(|f| match f {
        Finding::Fail(why) => Finding::Inconclusive(format!("ES4.GetEIS of {eid}: {why}")),
        f => f,
    })
}

/// The peers' eUICC the SUT does not know (memoised for the run).
async fn fresh_euicc(ctx: &Ctx) -> Result<usize, Finding> {
    if let Some(i) = ctx.recall("fresh-euicc").and_then(|s| s.parse().ok()) {
        return Ok(i);
    }
    for i in (0..ctx.world.euiccs.len()).rev() {
        if !known(ctx, i, "probe").await? {
            ctx.remember("fresh-euicc", i.to_string());
            return Ok(i);
        }
    }
    Err(Finding::Inconclusive(
        "precondition: the SUT knows every eUICC of the peers (leave the last one unregistered, or make a \
         new peers directory)"
            .into(),
    ))
}

async fn send_es1(ctx: &Ctx, who: Peer, envelope: String) -> Result<(u16, String), Finding> {
    ctx.post(
        who,
        Service::Es1SmSr,
        action::ES1_REGISTER_EIS.request,
        "ES1-RegisterEISRequest",
        envelope,
    )
    .await
}

/// As [`send_es1`] for an envelope the case made malformed on purpose.
async fn send_es1_malformed(ctx: &Ctx, envelope: String) -> Result<(u16, String), Finding> {
    ctx.post_malformed(
        Peer::Eum,
        Service::Es1SmSr,
        action::ES1_REGISTER_EIS.request,
        "ES1-RegisterEISRequest (malformed)",
        envelope,
    )
    .await
}

fn eis_of(ctx: &Ctx, i: usize) -> Result<es_interfaces::messages::eis::Eis, Finding> {
    build_eis(&ctx.world, i, time::OffsetDateTime::now_utc())
        .map_err(|e| Finding::Inconclusive(format!("cannot build the EIS of eUICC {}: {e}", i + 1)))
}

fn register_tampered(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let i = fresh_euicc(ctx).await?;
        let mut eis = eis_of(ctx, i)?;
        eis.eum_signed_info.platform_version = "9.9.9"
            .parse()
            .map_err(|e| Finding::Inconclusive(format!("version: {e}")))?;
        // The EumSignature stays the one over the original EumSignedInfo.
        let env = ctx.smsr()?.es1.envelope(&eis, &ctx.fci("tampered"));
        let (http, body) = send_es1(ctx, Peer::Eum, env).await?;
        let seen = expect(http, &body, 200, Status::Failed, Some(("8.6", "6.1")))?;
        if known(ctx, i, "after-tampered").await? {
            return Err(Finding::Fail(format!(
                "the refused EIS of {} was stored: ES4.GetEIS finds it",
                ctx.world.euiccs[i].eid
            )));
        }
        Ok(format!("{seen}; the EID stays unknown"))
    })
}

fn register_valid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let i = fresh_euicc(ctx).await?;
        let env = ctx
            .smsr()?
            .es1
            .envelope(&eis_of(ctx, i)?, &ctx.fci("register"));
        let (http, body) = send_es1(ctx, Peer::Eum, env).await?;
        let seen = expect(http, &body, 200, Status::ExecutedSuccess, None)?;
        if !known(ctx, i, "after-register").await? {
            return Err(Finding::Fail(format!(
                "registered, but ES4.GetEIS of {} answers unknown",
                ctx.world.euiccs[i].eid
            )));
        }
        Ok(format!("{seen}; MNO 1 reads the EIS"))
    })
}

fn register_duplicate(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        if !known(ctx, 0, "dup-pre").await? {
            return Err(Finding::Inconclusive(format!(
                "precondition: {} is not registered at the SUT",
                ctx.world.euiccs[0].eid
            )));
        }
        let env = ctx
            .smsr()?
            .es1
            .envelope(&eis_of(ctx, 0)?, &ctx.fci("duplicate"));
        let (http, body) = send_es1(ctx, Peer::Eum, env).await?;
        expect(http, &body, 200, Status::Failed, Some(("8.1.1", "3.3")))
    })
}

fn register_wrong_role(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let env = ctx
            .smsr()?
            .es1
            .envelope(&eis_of(ctx, 0)?, &ctx.fci("wrong-role"));
        let (http, body) = send_es1(ctx, Peer::Mno(0), env).await?;
        expect(http, &body, 200, Status::Failed, Some(("1.1", "1.2")))
    })
}

fn register_not_xml(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let env = ctx
            .smsr()?
            .es1
            .envelope(&eis_of(ctx, 0)?, &ctx.fci("not-xml"));
        let cut = env.len() / 2;
        let truncated = env
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| i >= cut)
            .map_or(env.clone(), |i| env[..i].to_string());
        let (http, body) = send_es1_malformed(ctx, truncated).await?;
        if !body.contains("Fault") {
            return Err(Finding::Fail(format!(
                "HTTP {http} without a SOAP Fault: {}",
                status_in(&body)
                    .map(|s| super::ctx::describe(&s))
                    .unwrap_or_default()
            )));
        }
        expect(http, &body, 400, Status::Failed, Some(("1.6", "2.1")))
    })
}

fn register_bad_iccid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eis = eis_of(ctx, 0)?;
        let iccid = eis
            .profile_info
            .first()
            .map(|p| p.iccid.to_string())
            .ok_or_else(|| Finding::Inconclusive("eUICC 1's EIS has no profile".into()))?;
        let good = ctx.smsr()?.es1.envelope(&eis, &ctx.fci("bad-iccid"));
        let bad = good.replacen(&format!(">{iccid}<"), ">12345<", 1);
        if bad == good {
            return Err(Finding::Inconclusive(
                "could not place the bad ICCID".into(),
            ));
        }
        let (http, body) = send_es1_malformed(ctx, bad).await?;
        let seen = expect(http, &body, 200, Status::Failed, Some(("1.6", "2.1")))?;
        if !body.contains("Iccid") {
            return Err(Finding::Fail(format!(
                "{seen}, but the answer does not name Iccid"
            )));
        }
        Ok(seen)
    })
}
