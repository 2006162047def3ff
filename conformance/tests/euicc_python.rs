//! The simulator against an SM-SR written independently in Python (tests/py/smsr_oracle.py, pycryptodome): it
//! derives the eUICC's keys from the documented "rsp-sim/v1" formula, builds the ES5 SMS of wire-profile §2/§4
//! itself, and opens the simulator's PoRs and notifications.

mod euicc_common;

use std::path::Path;

use euicc_common::*;
use serde_json::Value;

fn oracle(args: &[&str]) -> String {
    testkit::run_python(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/smsr_oracle.py"),
        args,
    )
}

fn open(index: usize, mo: &[conformance::euicc::MoSms]) -> Vec<Value> {
    let seed = SEED.to_string();
    let index = index.to_string();
    let hexes: Vec<String> = mo.iter().map(|m| hex::encode(&m.tp_ud)).collect();
    let mut args = vec!["open", seed.as_str(), index.as_str()];
    args.extend(hexes.iter().map(String::as_str));
    oracle(&args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn command(index: usize, counter: u64, ops: &[&str]) -> Vec<u8> {
    let (seed, index, counter) = (SEED.to_string(), index.to_string(), counter.to_string());
    let mut args = vec!["command", seed.as_str(), index.as_str(), counter.as_str()];
    args.extend_from_slice(ops);
    hex::decode(oracle(&args).trim()).expect("hex")
}

#[test]
fn python_smsr_enables_p2_and_confirms_the_notification() {
    let index = 1;
    let mut fleet = seeded(2);
    let m = msisdns(index);
    let p2 = hex::encode_upper(aid(1));

    let enable = format!("enable:{p2}");
    let out = deliver(&mut fleet, &m[0], &[command(index, 1, &[&enable])], 0);
    assert_eq!(out.mo[0].from_msisdn, m[0]);
    let por = &open(index, &out.mo)[0];
    assert_eq!(por["kind"], "por");
    assert_eq!(
        (por["status"].as_u64(), por["counter"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(por["tar"], "000001");
    assert_eq!(por["r_apdus"], serde_json::json!(["9000"]));

    let out = fleet.poll(ATTACH);
    assert_eq!(out.mo[0].from_msisdn, m[1]);
    let n = &open(index, &out.mo)[0];
    assert_eq!(n["kind"], "notification");
    assert_eq!(
        (n["spi"].as_str(), n["kic"].as_u64()),
        (Some("1600"), Some(0x12))
    );
    assert_eq!(n["tar"], "000001");
    assert_eq!(n["eid_ok"], true);
    assert_eq!(
        (n["type"].as_u64(), n["sequence"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(n["aid"].as_str(), Some(p2.as_str()));
    assert_eq!(n["counter"].as_u64(), Some(1));

    let out = deliver(
        &mut fleet,
        &m[1],
        &[command(index, 2, &["confirm:1"])],
        ATTACH + 1,
    );
    let por = &open(index, &out.mo)[0];
    assert_eq!(por["status"].as_u64(), Some(0));
    assert_eq!(por["r_apdus"], serde_json::json!(["9000"]));
    assert!(
        fleet
            .euicc(&eid(index))
            .expect("e")
            .pending_notifications()
            .is_empty()
    );

    // The same command again (counter 2): counter low, no response data.
    let out = deliver(
        &mut fleet,
        &m[1],
        &[command(index, 2, &["confirm:1"])],
        ATTACH + 2,
    );
    let por = &open(index, &out.mo)[0];
    assert_eq!(por["status"].as_u64(), Some(2));
    assert_eq!(por["r_apdus"], serde_json::json!([]));
}
