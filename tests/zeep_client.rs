//! An independent SOAP client, Python zeep (installed from PyPI by the test harness), loads the WSDLs the
//! SM-SR serves and calls ES1.RegisterEIS and ES4.GetEIS over mutual TLS; zeep parses the answers.

mod common;

use common::{Db, Lab};
use es_interfaces::wsdl::Service;

#[test]
fn zeep_registers_and_reads_an_eis_over_mutual_tls() {
    let mut lab = Lab::new(1, Db::Sqlite);
    lab.start();
    let m = &lab.world.manifest;
    let pki = &lab.world.dir;
    let path = |rel: &str| pki.join(rel).to_string_lossy().into_owned();
    let eid = lab.world.euiccs[0].eid.clone();
    let profiles = conformance::issuance::profiles_at_issuance(&lab.world, 0).expect("issuance");
    let spec = serde_json::json!({
        "ca": path(&m.tls_ca.cert),
        "eum_cert": path(&m.eum_tls_client.cert),
        "eum_key": path(&m.eum_tls_client.key),
        "mno_cert": path(&m.mnos[0].tls_client.cert),
        "mno_key": path(&m.mnos[0].tls_client.key),
        "es1_wsdl": format!("{}?wsdl", common::service_url(&lab.smsr_url, Service::Es1SmSr)),
        "es4_wsdl": format!("{}?wsdl", common::service_url(&lab.smsr_url, Service::Es4SmSr)),
        "eis_file": common::eis_path(&lab.world, 0).to_string_lossy(),
        "eid": eid,
    });
    let spec_file = lab.dir.path().join("zeep.json");
    std::fs::write(&spec_file, spec.to_string()).expect("write spec");
    let script = testkit::workspace_root().join("tests/py/zeep_mtls.py");
    let out = testkit::run_python(&script, &[spec_file.to_str().expect("utf-8 path")]);
    let line = out.lines().last().expect("zeep printed nothing");
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON from zeep");
    assert_eq!(v["register_status"], "EXECUTED_SUCCESS", "{out}");
    assert_eq!(v["get_status"], "EXECUTED_SUCCESS", "{out}");
    assert_eq!(
        v["eid"].as_str().map(str::to_ascii_uppercase),
        Some(eid.clone()),
        "{out}"
    );
    let iccids: Vec<String> = v["iccids"]
        .as_array()
        .expect("iccids")
        .iter()
        .map(|i| i.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        iccids,
        vec![profiles[0].iccid.clone(), profiles[1].iccid.clone()],
        "{out}"
    );
    common::assert_captured_valid(&lab);
}
