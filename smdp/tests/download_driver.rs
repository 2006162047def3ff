//! The download driver on both backends, without a network (SGP.02 §3.1): ES2.DownloadProfile reserves the
//! record and records the download with its first step in the job queue; an answer is applied once per step
//! (a repeated or late one changes nothing); a refusal before CreateISDP releases the record and answers the
//! MNO through the outbox; the expiry after CreateISDP answers EXPIRED and waits for the clean-up before
//! releasing.
mod common;

use std::sync::Arc;
use std::time::Duration;

use certs::ecc::PrivateKey;
use certs::world::WorldOptions;
use common::*;
use eis_store::downloads;
use eis_store::entities::{self, Entity, EntityRole};
use eis_store::function_calls::{self, Begin, NewFunctionCall};
use eis_store::jobs::{self, JobState};
use eis_store::warehouse::{self as wh, StockState};
use eis_store::{Store, outbox};
use es_interfaces::messages::es2;
use es_interfaces::soap::WsaHeaders;
use es_interfaces::status::{FunctionExecutionStatus, Reason, StatusCodeData, Subject};
use es_interfaces::types::ProfileState;
use es_runtime::caller::{Caller, CallerDirectory};
use es_runtime::clock::SystemClock;
use es_runtime::soap_endpoint::{CallContext, ServerIdentity};
use smdp::batch::BatchFormat;
use smdp::download::driver;
use smdp::download::procedure::{Answer, CLEANUP_RETRY_DELAYS, EisView, Event, Phase, Procedure};
use smdp::download::{DownloadSettings, Es8Identity};
use smdp::service::Smdp;
use smdp::warehouse::import;

const SMSR: &str = "1.3.6.1.4.1.99999.2";

fn smdp_with(store: Store, dir: &std::path::Path) -> (Smdp, certs::world::World) {
    let world = certs::world::generate(
        dir,
        &WorldOptions {
            seed: Some(11),
            ..WorldOptions::new(1, time::OffsetDateTime::now_utc())
        },
    )
    .expect("world");
    let mut c = store.conn().expect("conn");
    entities::create_entity(
        &mut c,
        &Entity {
            oid: SMSR.into(),
            role: EntityRole::SmSr,
            name: "SM-SR".into(),
            endpoints: [("ES3".to_string(), "https://127.0.0.1:9/es3".to_string())].into(),
            allowed_interfaces: Default::default(),
            gp_certificate: None,
            fingerprints: Default::default(),
        },
        1,
    )
    .expect("SM-SR");
    drop(c);
    let identity = Es8Identity {
        smdp_oid: world.manifest.sm_dp.oid.clone(),
        cert_dp: world.sm_dp_gp.cert.encode(),
        sk_dp: PrivateKey::from_scalar(
            world.sm_dp_gp.key.curve(),
            world.sm_dp_gp.key.to_scalar().as_slice(),
        )
        .expect("key"),
        ci: world.ci.cert.clone(),
        eums: vec![world.eum.cert.clone()],
    };
    let smdp = Smdp {
        identity: ServerIdentity {
            oid: world.manifest.sm_dp.oid.clone(),
            name: "SM-DP".into(),
            public_url: "https://localhost".into(),
        },
        store: Arc::new(store),
        keyring: Arc::new(keyring()),
        callers: CallerDirectory::new(Duration::from_secs(30)),
        clock: Arc::new(SystemClock),
        es3: None,
        outbox_give_up: Duration::from_secs(60),
        wake_outbox: Arc::new(tokio::sync::Notify::new()),
        outgoing: Default::default(),
        download: Some(Arc::new(DownloadSettings::new(identity))),
        wake_downloads: Arc::new(tokio::sync::Notify::new()),
        metrics: Arc::new(smdp::metrics::SmdpMetrics::new().expect("metrics")),
    };
    (smdp, world)
}

/// ES2.DownloadProfile of `fci` by profile type for the world's eUICC, as es-runtime runs it: the call record,
/// then the function in the same transaction. Returns the download row.
fn start(smdp: &Smdp, world: &certs::world::World, fci: &str) -> downloads::Download {
    let eid = world.euiccs[0].eid.clone();
    let body_xml = "<x/>";
    let doc = es_interfaces::xml::Document::parse(body_xml.as_bytes()).expect("xml");
    let caller = Caller {
        oid: MNO.into(),
        name: "MNO".into(),
        role: EntityRole::Mno,
    };
    let wsa = WsaHeaders::default();
    let request = es2::DownloadProfileRequest {
        base: es_interfaces::messages::common::BaseRequest::new(fci),
        eid: eid.parse().expect("eid"),
        smsr_id: SMSR.parse().expect("oid"),
        profile_type: Some("usim-sample".into()),
        iccid: None,
        enable_profile: true,
    };
    let now = eis_store::now_millis();
    smdp.store
        .tx(|c| {
            let Begin::New(call_id) = function_calls::begin_call(
                c,
                &NewFunctionCall {
                    caller_oid: MNO.into(),
                    interface: "ES2".into(),
                    function_name: "DownloadProfile".into(),
                    function_call_id: fci.into(),
                    message_id: Some(format!("urn:uuid:{fci}")),
                    reply_to: Some("https://127.0.0.1:9/mno".into()),
                    valid_until: Some(now + 600_000),
                    request_digest: fci.into(),
                },
                now,
            )?
            else {
                panic!("a new call");
            };
            let ctx = CallContext {
                caller: &caller,
                endpoint: smdp::functions::ES2,
                wsa: &wsa,
                version: es_interfaces::soap::SoapVersion::V1_2,
                call_id,
                valid_until: Some(now + 600_000),
                body: doc.root(),
                prepared: None,
            };
            let reply = driver::start(smdp, c, &ctx, &request)?;
            assert_eq!(reply.http_status, 202);
            Ok::<_, smdp::error::SmdpError>(
                downloads::by_call(c, call_id)?.expect("download recorded"),
            )
        })
        .expect("start")
}

fn eis_answer(world: &certs::world::World, smsr: &str) -> Event {
    Event::Answer(Box::new(Answer {
        status: FunctionExecutionStatus::success(),
        eis: Some(EisView {
            smsr_id: smsr.into(),
            platform_type: "rsp-sim".into(),
            remaining_memory: 1_000_000,
            ecasd_certificate: Some(world.euiccs[0].ecasd.cert.encode()),
            profiles: vec![("8949000000000000001".into(), ProfileState::Enabled, None)],
        }),
        isd_p_aid: None,
        euicc_response_data: None,
    }))
}

fn apply(smdp: &Smdp, id: i64, step: i64, event: Event) -> bool {
    smdp.store
        .tx(|c| driver::apply(smdp, c, id, step, event.clone()))
        .expect("apply")
}

fn state(smdp: &Smdp, iccid: &str) -> StockState {
    let mut c = smdp.store.conn().expect("conn");
    wh::get_stock(&mut c, iccid)
        .expect("stock")
        .expect("record")
        .state
}

fn row(smdp: &Smdp, id: i64) -> (downloads::Download, Procedure) {
    let mut c = smdp.store.conn().expect("conn");
    let r = downloads::get(&mut c, id).expect("get").expect("row");
    let p = serde_json::from_str(&r.data).expect("state");
    (r, p)
}

fn mno_answers(smdp: &Smdp) -> Vec<String> {
    let mut c = smdp.store.conn().expect("conn");
    outbox::claim_due(
        &mut c,
        "test",
        Duration::from_secs(60),
        100,
        eis_store::now_millis() + 1_000,
    )
    .expect("outbox")
    .into_iter()
    .filter(|m| m.destination_url.ends_with("/mno"))
    .map(|m| String::from_utf8_lossy(&m.body).into_owned())
    .collect()
}

/// The profile type `usim-sample` of the MNO with the records `range` of order `seed` in stock.
fn stock_usim_sample(smdp: &Smdp, seed: u32, range: std::ops::Range<u64>) {
    sample_type(&smdp.store, MNO, "usim-sample", 0);
    import::import_order(
        &smdp.store,
        &smdp.keyring,
        MNO,
        "usim-sample",
        &MemSource::new("order.csv", csv_file(seed, range)),
        BatchFormat::Csv,
        &mut |_| {},
    )
    .expect("import");
}

both_backends!(a_download_advances_once_per_step, 4, |db| {
    let dir = tempfile::tempdir().expect("dir");
    let (smdp, world) = smdp_with(db.store, dir.path());
    stock_usim_sample(&smdp, 7, 0..3);
    let d = start(&smdp, &world, "fci-1");
    assert_eq!((d.phase.as_str(), d.step), ("Eligibility", 1));
    assert_eq!(d.iccid, iccid(7, 0));
    assert_eq!(state(&smdp, &d.iccid), StockState::Reserved);
    {
        let mut c = smdp.store.conn().expect("conn");
        let [(JobState::Ready, ready), ..] = jobs::counts(&mut c, driver::QUEUE).expect("counts")
        else {
            panic!("counts")
        };
        assert_eq!(ready, 2, "the first step and the expiry");
    }
    // The GetEIS answer: eligible, CreateISDP next; the record is downloading.
    assert!(apply(&smdp, d.id, 1, eis_answer(&world, SMSR)));
    let (r, p) = row(&smdp, d.id);
    assert_eq!((p.phase.clone(), r.step), (Phase::CreatingIsdp, 2));
    assert_ne!(
        r.awaiting_message_id, d.awaiting_message_id,
        "a new MessageID per step"
    );
    assert_eq!(state(&smdp, &d.iccid), StockState::Downloading);
    // The same answer again (a repeated callback, a second worker): nothing changes.
    assert!(!apply(&smdp, d.id, 1, eis_answer(&world, SMSR)));
    assert_eq!(row(&smdp, d.id).0.step, 2);
    // A late callback to the first step's MessageID is recognised and changes nothing.
    let late = es_interfaces::messages::es3::Response::GetEis(Box::new(
        es_interfaces::messages::es3::GetEisResponse {
            base: es_interfaces::messages::common::BaseResponse::with_status(
                FunctionExecutionStatus::success(),
            ),
            eis: None,
        },
    ));
    let first = d.awaiting_message_id.clone().expect("message id");
    assert!(
        driver::on_callback(&smdp, &first, &late).expect("callback"),
        "recognised as the download's"
    );
    assert_eq!(row(&smdp, d.id).0.step, 2, "and ignored");
    assert!(!driver::on_callback(&smdp, "urn:uuid:other", &late).expect("callback"));
    // The validity ends while CreateISDP is awaited: EXPIRED to the MNO at once, the clean-up follows and the
    // record is released only when the ISD-P is gone.
    assert!(apply(&smdp, d.id, 2, Event::Expired));
    let (r, p) = row(&smdp, d.id);
    assert_eq!(p.phase, Phase::CleaningUp);
    assert_eq!(state(&smdp, &d.iccid), StockState::Downloading);
    let answers = mno_answers(&smdp);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(answers[0].contains("ES2-DownloadProfileResponse") && answers[0].contains("EXPIRED"));
    let gone = FunctionExecutionStatus::failed(StatusCodeData::new(
        Subject::PROFILE_ICCID,
        Reason::UNKNOWN,
        None,
    ));
    let done = Event::Answer(Box::new(Answer {
        status: gone,
        eis: None,
        isd_p_aid: None,
        euicc_response_data: None,
    }));
    assert!(apply(&smdp, d.id, r.step, done));
    assert_eq!(row(&smdp, d.id).1.phase, Phase::Done);
    assert_eq!(state(&smdp, &d.iccid), StockState::Available);
    assert!(row(&smdp, d.id).0.sealed_keys.is_none());

    // Another SM-SR in the EIS: refused before CreateISDP, released, FAILED 8.7/3.10 to the MNO.
    let d = start(&smdp, &world, "fci-2");
    assert_eq!(d.iccid, iccid(7, 0), "the released record is taken again");
    assert!(apply(
        &smdp,
        d.id,
        1,
        eis_answer(&world, "1.3.6.1.4.1.99999.77")
    ));
    assert_eq!(row(&smdp, d.id).1.phase, Phase::Done);
    assert_eq!(state(&smdp, &d.iccid), StockState::Available);
    let answers = mno_answers(&smdp);
    assert!(
        answers
            .iter()
            .any(|a| a.contains("FAILED") && a.contains("<rps:Subject>8.7</rps:Subject>")),
        "{answers:?}"
    );
});

/// The step jobs of download `id` due by `at` (claimed, so each is seen once), as (step, run_at).
fn due_steps(smdp: &Smdp, id: i64, at: i64) -> Vec<(i64, i64)> {
    let mut c = smdp.store.conn().expect("conn");
    jobs::claim(
        &mut c,
        driver::QUEUE,
        "test",
        Duration::from_secs(60),
        100,
        at,
    )
    .expect("claim")
    .into_iter()
    .filter(|j| j.kind == "step" && j.payload["download"] == id)
    .map(|j| (j.payload["step"].as_i64().expect("step"), j.run_at))
    .collect()
}

fn answer(status: FunctionExecutionStatus) -> Event {
    Event::Answer(Box::new(Answer {
        status,
        eis: None,
        isd_p_aid: None,
        euicc_response_data: None,
    }))
}

both_backends!(
    a_failed_clean_up_is_retried_then_held_until_the_operator_retries,
    4,
    |db| {
        let dir = tempfile::tempdir().expect("dir");
        let (smdp, world) = smdp_with(db.store, dir.path());
        stock_usim_sample(&smdp, 8, 0..1);
        let d = start(&smdp, &world, "fci-cleanup");
        assert!(apply(&smdp, d.id, 1, eis_answer(&world, SMSR)));
        assert!(apply(&smdp, d.id, 2, Event::Expired));
        assert_eq!(row(&smdp, d.id).1.phase, Phase::CleaningUp);
        // The steps sent so far (their jobs are due now), and the clean-up's first DeleteISDP.
        let steps: Vec<i64> = due_steps(&smdp, d.id, eis_store::now_millis() + 1_000)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(steps, vec![1, 2, 3]);
        // Each failed DeleteISDP: the next one is queued after the delay of its attempt, the record stays held.
        let mut step = 3;
        for delay in CLEANUP_RETRY_DELAYS {
            let before = eis_store::now_millis();
            assert!(apply(
                &smdp,
                d.id,
                step,
                answer(FunctionExecutionStatus::expired(None))
            ));
            step += 1;
            let after = eis_store::now_millis();
            let delay = i64::try_from(delay.as_millis()).expect("ms");
            assert!(
                due_steps(&smdp, d.id, before + delay - 1_000).is_empty(),
                "not before its delay"
            );
            let due = due_steps(&smdp, d.id, after + delay);
            assert_eq!(due.len(), 1, "{due:?}");
            assert_eq!(due[0].0, step);
            assert!((before + delay..=after + delay).contains(&due[0].1));
            assert_eq!(state(&smdp, &d.iccid), StockState::Downloading);
        }
        // The last attempt fails too: CleanupFailed, no more step, the record held, listed and counted.
        assert!(apply(
            &smdp,
            d.id,
            step,
            answer(FunctionExecutionStatus::expired(None))
        ));
        let (r, p) = row(&smdp, d.id);
        assert_eq!(
            (r.phase.as_str(), p.phase),
            ("CleanupFailed", Phase::CleanupFailed)
        );
        assert!(due_steps(&smdp, d.id, i64::MAX / 2).is_empty());
        assert_eq!(state(&smdp, &d.iccid), StockState::Downloading);
        {
            let mut c = smdp.store.conn().expect("conn");
            let listed = downloads::list(&mut c, Some("CleanupFailed"), 10).expect("list");
            assert_eq!(listed.iter().map(|d| d.id).collect::<Vec<_>>(), vec![d.id]);
            assert!(
                downloads::count_open_by_phase(&mut c)
                    .expect("count")
                    .contains(&("CleanupFailed".to_string(), 1))
            );
        }
        assert_eq!(mno_answers(&smdp).len(), 1, "the MNO was told EXPIRED once");
        // The operator has the clean-up tried again: a new step due at once; its success releases the record.
        let retried = smdp
            .store
            .tx(|c| driver::retry_cleanup(c, d.id, "urn:uuid:retry-1", eis_store::now_millis()))
            .expect("retry");
        assert!(retried);
        let again = smdp
            .store
            .tx(|c| driver::retry_cleanup(c, d.id, "urn:uuid:retry-2", eis_store::now_millis()))
            .expect("retry");
        assert!(!again, "only a download in CleanupFailed");
        let (r, p) = row(&smdp, d.id);
        assert_eq!((p.phase, p.cleanup_failures), (Phase::CleaningUp, 0));
        assert_eq!(r.awaiting_message_id.as_deref(), Some("urn:uuid:retry-1"));
        let due = due_steps(&smdp, d.id, eis_store::now_millis() + 1_000);
        assert_eq!(due.iter().map(|d| d.0).collect::<Vec<_>>(), vec![r.step]);
        let gone = FunctionExecutionStatus::failed(StatusCodeData::new(
            Subject::PROFILE_ICCID,
            Reason::UNKNOWN,
            None,
        ));
        assert!(apply(&smdp, d.id, r.step, answer(gone)));
        assert_eq!(row(&smdp, d.id).1.phase, Phase::Done);
        assert_eq!(state(&smdp, &d.iccid), StockState::Available);
        assert!(mno_answers(&smdp).is_empty(), "no second answer to the MNO");
    }
);
