//! The SM-SR's SMPP client against an independent SMSC: a server scripted with the npm `smpp` package
//! (node-smpp 0.5.1, tests/js/npm_smsc.js). The script checks the bind (interface_version 0x34) and the binary
//! submit_sm fields of docs/wire-profile.md §2, answers, and sends a delivery receipt, an MO deliver_sm and an
//! enquire_link, which our client must receive and answer.

use std::process::Stdio;
use std::time::Duration;

use es_interfaces::smpp::{Password, ReceiptStat};
use serde_json::Value;
use smsr::smpp::{MessageId, SmppClient, SmppClientConfig, SmppEvent, Submit};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

const DEST: &str = "491701234567";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_binds_submits_and_receives_from_the_npm_smsc() {
    let modules = testkit::node_modules(&["smpp@0.5.1"]).join("node_modules");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/npm_smsc.js");
    let tp_ud = hex::decode("027000001e151639121200000100000000000001a1b2c3d4e5f60718293a4b5c")
        .expect("hex");
    let mo = hex::decode("027100000e0a000001000000000001aabbcc").expect("hex");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(hex::encode(&tp_ud))
        .arg(DEST)
        .arg(hex::encode(&mo))
        .env("NODE_PATH", &modules)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first: Value = serde_json::from_str(
        &timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("node starts")
            .expect("read")
            .expect("a line"),
    )
    .expect("JSON");
    assert_eq!(first["event"], "listening");
    let port = first["port"].as_u64().expect("port") as u16;

    let mut cfg = SmppClientConfig::new("127.0.0.1", port, "smsr", Password::new("secret"));
    cfg.profile.source_addr = "4477009".into();
    let (handle, mut events) = SmppClient::start(cfg).expect("client");
    let id = timeout(
        Duration::from_secs(20),
        handle.submit(Submit::new(DEST, tp_ud.clone())),
    )
    .await
    .expect("in time")
    .expect("submit accepted by the npm SMSC");
    assert_eq!(id, MessageId("npm-0001".into()));

    let (mut receipt, mut mo_seen) = (None, None);
    while receipt.is_none() || mo_seen.is_none() {
        match timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("event in time")
            .expect("stream open")
        {
            SmppEvent::DeliveryReceipt(r) => receipt = Some(r),
            SmppEvent::MoSms(m) => {
                m.ack.stored();
                mo_seen = Some(m)
            }
            _ => {}
        }
    }
    let receipt = receipt.expect("receipt");
    assert_eq!(receipt.message_id, id);
    assert_eq!(receipt.stat, ReceiptStat::Delivered);
    assert_eq!(receipt.err, "000");
    let mo_seen = mo_seen.expect("MO");
    assert_eq!(mo_seen.tp_ud, mo);
    assert_eq!(mo_seen.source_addr, DEST);
    assert!(mo_seen.esm_class.udhi());

    // Give the enquire_link round trip time to finish before unbinding.
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|v: &Value| v["event"] == "enquire_link_resp")
    {
        let line = timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("line in time")
            .expect("read")
            .expect("node still running");
        seen.push(serde_json::from_str(&line).expect("JSON"));
    }
    handle.shutdown().await;
    while let Some(line) = timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("line in time")
        .expect("read")
    {
        seen.push(serde_json::from_str(&line).expect("JSON"));
    }
    let status = timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("node exits")
        .expect("wait");
    assert!(status.success(), "npm SMSC checks failed: {seen:?}");

    let find =
        |event: &str| -> Vec<&Value> { seen.iter().filter(|v| v["event"] == event).collect() };
    let bind = find("bind");
    assert_eq!(bind.len(), 1, "{seen:?}");
    assert_eq!(bind[0]["interface_version"], 0x34);
    assert_eq!(bind[0]["system_id"], "smsr");
    let submit = find("submit_sm");
    assert_eq!(submit.len(), 1);
    assert_eq!(submit[0]["esm_class"], 0x40);
    assert_eq!(submit[0]["protocol_id"], 0x7F);
    assert_eq!(submit[0]["data_coding"], 0xF6);
    assert_eq!(submit[0]["registered_delivery"], 1);
    assert_eq!(submit[0]["source_addr"], "4477009");
    assert_eq!(submit[0]["short_message"], hex::encode(&tp_ud));
    let resps = find("deliver_sm_resp");
    assert_eq!(resps.len(), 2, "{seen:?}");
    assert!(resps.iter().all(|v| v["command_status"] == 0), "{resps:?}");
    assert_eq!(find("enquire_link_resp")[0]["command_status"], 0);
    assert_eq!(find("unbind").len(), 1, "our shutdown unbinds: {seen:?}");
    assert!(find("error").is_empty(), "{seen:?}");
}
