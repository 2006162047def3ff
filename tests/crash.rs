//! SIGKILL of the server during a burst of ES1.RegisterEIS calls (foundation issue): no acknowledged
//! registration is lost and no EIS is left partial, on SQLite and on PostgreSQL; afterwards every eUICC can
//! be registered exactly once.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Db, Lab, block_on, envelope, post, service_url, status_of};
use conformance::eum::{Es1Client, read_eis_document};
use es_interfaces::soap::action;
use es_interfaces::wsdl::Service;

const EUICCS: usize = 60;

fn get_eis(eid: &str) -> String {
    format!(
        "<rps:ES4-GetEISRequest xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\">\
         <rps:FunctionCallIdentifier>{}</rps:FunctionCallIdentifier><rps:Eid>{eid}</rps:Eid></rps:ES4-GetEISRequest>",
        uuid::Uuid::new_v4()
    )
}

fn crash_scenario(db: Db) {
    let mut lab = Lab::new(EUICCS, db);
    lab.start();
    let documents: Vec<_> = (0..EUICCS)
        .map(|i| read_eis_document(&common::eis_path(&lab.world, i)).expect("EIS"))
        .collect();
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let client = Arc::new(Es1Client::new(&lab.world, &lab.smsr_url).expect("client"));

    // A burst from 6 concurrent callers; the server is killed with SIGKILL while it runs.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let documents = Arc::new(documents);
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let (client, docs, ack) = (client.clone(), documents.clone(), acknowledged.clone());
        tasks.push(runtime.spawn(async move {
            for i in (worker..EUICCS).step_by(6) {
                let eid = docs[i].eum_signed_info.eid.to_string();
                match client.register(&docs[i], &format!("burst-{i}")).await {
                    Ok(r)
                        if r.response.base.function_execution_status.status.as_str()
                            == "EXECUTED_SUCCESS" =>
                    {
                        ack.lock().expect("lock").insert(eid);
                    }
                    Ok(r) => panic!("registration of {eid} refused: {:?}", r.response),
                    Err(_) => {} // The server died under this call: not acknowledged.
                }
            }
        }));
    }
    // Let a part of the burst through, then kill.
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if acknowledged.lock().expect("lock").len() >= EUICCS / 4 {
            break;
        }
    }
    lab.kill9();
    for t in tasks {
        runtime.block_on(t).expect("burst task");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() < EUICCS,
        "the burst finished before the kill; the test proves nothing"
    );

    lab.start();
    let es4 = service_url(&lab.smsr_url, Service::Es4SmSr);
    let mno = lab.mno(0);
    let mut registered = BTreeSet::new();
    for e in &lab.world.euiccs {
        let (_, body) = block_on(post(
            &mno,
            &es4,
            envelope(&es4, action::ES4_GET_EIS.request, &get_eis(&e.eid)),
        ));
        match status_of(&body).0.as_str() {
            "EXECUTED_SUCCESS" => {
                // Complete: both MNO1 profiles and both ISD-R key sets are there.
                assert_eq!(
                    body.matches("<rps:ProfileInfo>").count(),
                    2,
                    "partial EIS for {}: {body}",
                    e.eid
                );
                assert_eq!(
                    body.matches("<rps:Keyset>").count(),
                    3,
                    "partial EIS for {}: {body}",
                    e.eid
                );
                registered.insert(e.eid.clone());
            }
            _ => assert_eq!(status_of(&body).1.as_deref(), Some("8.1.1"), "{body}"),
        }
    }
    let lost: Vec<_> = acknowledged.difference(&registered).collect();
    assert!(
        lost.is_empty(),
        "acknowledged registrations lost after SIGKILL: {lost:?}"
    );

    // Registering everything again: the registered ones are refused as known (8.1.1/3.3), the rest succeed.
    for (i, doc) in documents.iter().enumerate() {
        let eid = doc.eum_signed_info.eid.to_string();
        let r = block_on(client.register(doc, &format!("after-{i}"))).expect("register");
        let st = &r.response.base.function_execution_status;
        if registered.contains(&eid) {
            assert_eq!(
                st.status_code_data
                    .as_ref()
                    .map(|d| d.reason.code().to_string()),
                Some("3.3".into())
            );
        } else {
            assert_eq!(
                st.status.as_str(),
                "EXECUTED_SUCCESS",
                "{:?}",
                st.status_code_data
            );
        }
    }
}

#[test]
fn sigkill_during_registrations_sqlite() {
    crash_scenario(Db::Sqlite);
}

#[test]
fn sigkill_during_registrations_postgres() {
    crash_scenario(Db::Postgres);
}
