//! ES7 cases against an SM-SR (SGP.02 §5.7): the suite has no SM-SR identity of its own, so it only checks that
//! callers which are no SM-SR are refused. They use the peers' eUICC 1 (index 0), registered at the SUT.

use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::es7;
use es_interfaces::soap::action;
use es_interfaces::status::Status;
use es_interfaces::wsdl::Service;

use super::ctx::{Peer, expect};
use super::es4::eid0;
use super::{Case, CaseFuture, Ctx, Finding, Need};
use crate::eum::build_eis;
use crate::mno::base;

/// The ES7 catalogue, in run order.
pub static CASES: &[Case] = &[
    Case {
        id: "ES7-HandoverEUICC-01",
        interface: "ES7",
        section: "§5.7, §5.1.6.4",
        title: "An MNO may not call ES7 (wrong role)",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &[
            "MNO 1: ES7.HandoverEUICC with the EIS of eUICC 1 and MNO 1's TLS client certificate",
        ],
        expected: "HTTP 200, FAILED 1.1/1.2 (function requester, not allowed); no SM-SR change starts",
        note: "ES7 is between SM-SRs only (§5.7); the SUT refuses the role before reading the EIS.",
        run: handover_by_mno,
    },
    Case {
        id: "ES7-HandoverEUICC-02",
        interface: "ES7",
        section: "§5.7, §5.1.6.4",
        title: "A caller no registered entity owns the certificate of may not call ES7",
        needs: &[Need::Smsr],
        preconditions: "The SUT trusts the peers' TLS CA for client certificates.",
        steps: &[
            "The suite issues a TLS client certificate from the peers' TLS CA for no entity",
            "ES7.HandoverEUICC with the EIS of eUICC 1 with it",
        ],
        expected: "HTTP 200, FAILED 1.1/1.1 (function requester, unknown)",
        note: "See ES4-GetEIS-06.",
        run: handover_by_stranger,
    },
];

fn handover_by_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(handover_as(ctx, Peer::Mno(0), "es7-mno", ("1.1", "1.2")))
}

fn handover_by_stranger(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(handover_as(
        ctx,
        Peer::Stranger,
        "es7-stranger",
        ("1.1", "1.1"),
    ))
}

/// ES7.HandoverEUICC of eUICC 1 sent by `peer`, which is no SM-SR: FAILED with `codes`.
async fn handover_as(
    ctx: &Ctx,
    peer: Peer,
    label: &str,
    codes: (&str, &str),
) -> Result<String, Finding> {
    eid0(ctx)?;
    let eis = build_eis(&ctx.world, 0, time::OffsetDateTime::now_utc())
        .map_err(|e| Finding::Inconclusive(format!("cannot build the EIS of eUICC 1: {e}")))?;
    let body = es7::HandoverEuiccRequest {
        base: base(&ctx.fci(label), None),
        eis,
    }
    .to_xml();
    let env = ctx.es7_envelope(peer, action::ES7_HANDOVER_EUICC.request, &body)?;
    let (http, answer) = ctx
        .post(
            peer,
            Service::Es7SmSr,
            action::ES7_HANDOVER_EUICC.request,
            "ES7-HandoverEUICCRequest",
            env,
        )
        .await?;
    expect(http, &answer, 200, Status::Failed, Some(codes))
}
