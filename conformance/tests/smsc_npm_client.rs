//! The test SMSC against an independent ESME: a client scripted with the npm `smpp` package (node-smpp 0.5.1,
//! tests/js/npm_esme.js) binds, submits a binary SMS, receives the delivery receipt and an MO deliver_sm, sends
//! enquire_link and unbinds. Shows that the test SMSC speaks SMPP 3.4 to a peer that shares none of our code.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use conformance::smsc::{HandsetRouter, SmscAccount, SmscConfig, TestSmsc};
use es_interfaces::smpp::{EsmClass, Password};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

const DEST: &str = "491709876543";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_esme_binds_submits_and_receives_receipt_and_mo() {
    let modules = testkit::node_modules(&["smpp@0.5.1"]).join("node_modules");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/npm_esme.js");
    let router = Arc::new(HandsetRouter::new());
    let mut handset = router.register(DEST);
    let mut cfg = SmscConfig::loopback("smsr", "secret");
    cfg.accounts.push(SmscAccount {
        system_id: "esme".into(),
        password: Password::new("pw"),
        addresses: Vec::new(),
    });
    let smsc = TestSmsc::start(cfg, router).await.expect("SMSC");
    let tp_ud = hex::decode("027000001e151639121200000100000000000001deadbeef").expect("hex");
    let mo = hex::decode("027100000e0a0000010000000000010102").expect("hex");

    let mut child = Command::new("node")
        .arg(&script)
        .arg(smsc.local_addr().port().to_string())
        .arg(hex::encode(&tp_ud))
        .arg(DEST)
        .env("NODE_PATH", &modules)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen: Vec<Value> = Vec::new();
    while let Some(line) = timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("line in time")
        .expect("read")
    {
        let v: Value = serde_json::from_str(&line).expect("JSON");
        if v["event"] == "ready_for_mo" {
            smsc.send_mo(DEST, "4477009", &mo)
                .await
                .expect("npm ESME accepts the MO");
        }
        seen.push(v);
    }
    let status = timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("node exits")
        .expect("wait");
    assert!(status.success(), "npm ESME failed: {seen:?}");

    let find =
        |event: &str| -> Vec<&Value> { seen.iter().filter(|v| v["event"] == event).collect() };
    let bind = find("bind_resp");
    assert_eq!(bind.len(), 1, "{seen:?}");
    assert_eq!(bind[0]["command_status"], 0);
    assert_eq!(bind[0]["system_id"], "TESTSMSC");
    assert_eq!(bind[0]["sc_interface_version"], 0x34);

    let binds = smsc.binds();
    assert_eq!(binds[0].interface_version, 0x34);
    assert_eq!(
        (binds[0].command, binds[0].system_type.as_str()),
        ("bind_transceiver", "NODE")
    );

    let submits = smsc.submits();
    assert_eq!(submits.len(), 1);
    let sm = &submits[0].body;
    assert_eq!(
        (
            sm.esm_class,
            sm.protocol_id,
            sm.data_coding,
            sm.registered_delivery
        ),
        (EsmClass(0x40), 0x7F, 0xF6, 1)
    );
    assert_eq!(sm.short_message, tp_ud);
    let resp = find("submit_sm_resp");
    assert_eq!(resp[0]["command_status"], 0);
    assert_eq!(resp[0]["message_id"], submits[0].message_id.as_str());

    let mt = handset.recv().await.expect("MT delivered to the handset");
    assert_eq!(mt.tp_ud, tp_ud);

    let receipt = find("receipt");
    assert_eq!(receipt.len(), 1, "{seen:?}");
    assert_eq!(
        receipt[0]["receipted_message_id"],
        submits[0].message_id.as_str()
    );
    assert_eq!(receipt[0]["message_state"], 2);
    assert_eq!(receipt[0]["source_addr"], DEST);
    let text = receipt[0]["text"].as_str().expect("text");
    assert!(
        text.starts_with(&format!(
            "id:{} sub:001 dlvrd:001 submit date:",
            submits[0].message_id
        )),
        "{text}"
    );
    assert!(text.contains(" stat:DELIVRD err:000 "), "{text}");

    let mo_seen = find("mo");
    assert_eq!(mo_seen.len(), 1, "{seen:?}");
    assert_eq!(mo_seen[0]["short_message"], hex::encode(&mo));
    assert_eq!(mo_seen[0]["esm_class"], 0x40);
    assert_eq!(mo_seen[0]["protocol_id"], 0x7F);
    assert_eq!(mo_seen[0]["data_coding"], 0xF6);
    assert_eq!(mo_seen[0]["source_addr"], DEST);
    assert_eq!(find("enquire_link_resp")[0]["command_status"], 0);
    assert_eq!(find("unbind_resp")[0]["command_status"], 0);
    assert!(find("error").is_empty(), "{seen:?}");
    let c = smsc.counters();
    assert_eq!(
        (c.submitted, c.delivered, c.receipts_sent, c.mo_sent),
        (1, 1, 1, 1)
    );
    assert_eq!(c.enquire_links_received, 1);
    smsc.shutdown().await;
}
