//! ES1.RegisterEIS and ES3/ES4.GetEIS end to end over mutual TLS against `rsp serve` (issues: foundation, PKI):
//! signature and chain checks, duplicate EIDs, callers and roles, per-caller views, FunctionCallIdentifier
//! replay, keys never readable in the database, every emitted message valid against the GSMA XSDs.

mod common;

use common::{Db, Lab, block_on, envelope, post, service_url, status_of};
use conformance::eum::{Es1Client, build_eis, read_eis_document};
use es_interfaces::soap::action;
use es_interfaces::wsdl::Service;

fn get_eis_body(es: &str, fci: &str, eid: &str) -> String {
    format!(
        "<rps:{es}-GetEISRequest xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\">\
         <rps:FunctionCallIdentifier>{fci}</rps:FunctionCallIdentifier><rps:Eid>{eid}</rps:Eid></rps:{es}-GetEISRequest>"
    )
}

fn register_first(lab: &Lab, n: usize) {
    let client = Es1Client::new(&lab.world, &lab.smsr_url).expect("ES1 client");
    for i in 0..n {
        let eis = read_eis_document(&common::eis_path(&lab.world, i)).expect("EIS document");
        let r = block_on(client.register(&eis, &format!("reg-{i}"))).expect("register");
        let st = &r.response.base.function_execution_status;
        assert_eq!(
            st.status.as_str(),
            "EXECUTED_SUCCESS",
            "{:?}",
            st.status_code_data
        );
    }
}

fn registration_scenario(db: Db) {
    // Five eUICCs: three registered, the fourth used for refused registrations and then registered with an
    // owner that is not registered, the fifth registered with its owner.
    let mut lab = Lab::new(5, db);
    lab.start();
    register_first(&lab, 3);
    let eid0 = lab.world.euiccs[0].eid.clone();
    let es4 = service_url(&lab.smsr_url, Service::Es4SmSr);
    let es1 = service_url(&lab.smsr_url, Service::Es1SmSr);

    // The MNO's view: its own profiles (P1, P2 for MNO1; P3 for MNO2), no key values, no counters.
    let before = block_on(post(
        &lab.mno(0),
        &es4,
        envelope(
            &es4,
            action::ES4_GET_EIS.request,
            &get_eis_body("ES4", "get-1", &eid0),
        ),
    ));
    assert_eq!(before.0, 200, "{}", before.1);
    assert_eq!(status_of(&before.1).0, "EXECUTED_SUCCESS", "{}", before.1);
    let profiles = conformance::issuance::profiles_at_issuance(&lab.world, 0).expect("issuance");
    assert!(
        before.1.contains(&profiles[0].iccid) && before.1.contains(&profiles[1].iccid),
        "{}",
        before.1
    );
    assert!(
        !before.1.contains(&profiles[2].iccid),
        "MNO1 sees MNO2's profile: {}",
        before.1
    );
    assert!(
        !before.1.contains("KeyComponents") && !before.1.contains("<rps:Cntr>"),
        "{}",
        before.1
    );
    let mno2 = block_on(post(
        &lab.mno(1),
        &es4,
        envelope(
            &es4,
            action::ES4_GET_EIS.request,
            &get_eis_body("ES4", "get-2", &eid0),
        ),
    ));
    assert!(
        mno2.1.contains(&profiles[2].iccid) && !mno2.1.contains(&profiles[0].iccid),
        "{}",
        mno2.1
    );

    // The same FunctionCallIdentifier again: answered from the record (the same body), not run twice.
    let again = block_on(post(
        &lab.mno(0),
        &es4,
        envelope(
            &es4,
            action::ES4_GET_EIS.request,
            &get_eis_body("ES4", "get-1", &eid0),
        ),
    ));
    let body_of = |x: &str| x[x.find("<rps:ES4-GetEISResponse").expect("response")..].to_string();
    assert_eq!(body_of(&again.1), body_of(&before.1));

    // A second registration of a known EID fails naming the EID; the stored EIS is unchanged.
    let client = Es1Client::new(&lab.world, &lab.smsr_url).expect("ES1 client");
    let eis0 = read_eis_document(&common::eis_path(&lab.world, 0)).expect("EIS");
    let dup = block_on(client.register(&eis0, "reg-again")).expect("register");
    let st = &dup.response.base.function_execution_status;
    assert_eq!(st.status.as_str(), "FAILED");
    let data = st.status_code_data.as_ref().expect("status code data");
    assert_eq!((data.subject.code(), data.reason.code()), ("8.1.1", "3.3"));
    assert!(data.message.as_deref().unwrap_or("").contains(&eid0));
    // The earlier FunctionCallIdentifier of the first registration is answered from its record: success.
    let replay = block_on(client.register(&eis0, "reg-0")).expect("register");
    assert_eq!(
        replay
            .response
            .base
            .function_execution_status
            .status
            .as_str(),
        "EXECUTED_SUCCESS"
    );
    let after = block_on(post(
        &lab.mno(0),
        &es4,
        envelope(
            &es4,
            action::ES4_GET_EIS.request,
            &get_eis_body("ES4", "get-3", &eid0),
        ),
    ));
    assert_eq!(
        body_of(&after.1),
        body_of(&before.1),
        "the stored EIS changed"
    );

    // A fourth EIS whose signed part was altered after signing: refused, nothing stored.
    let extra = tempfile::tempdir().expect("dir");
    let other =
        rsp::setup::init_world(&extra.path().join("pki"), 1, Some(99)).expect("second world");
    let mut tampered = build_eis(&lab.world, 3, time::OffsetDateTime::now_utc()).expect("eis");
    tampered.eum_signed_info.platform_version = "9.9.9".parse().expect("version");
    let r = block_on(client.register(&tampered, "reg-tampered")).expect("register");
    let st = r.response.base.function_execution_status;
    assert_eq!(st.status.as_str(), "FAILED");
    assert_eq!(
        st.status_code_data
            .as_ref()
            .map(|d| (d.subject.code().to_string(), d.reason.code().to_string())),
        Some(("8.6".into(), "6.1".into())),
        "{:?}",
        st.status_code_data
    );
    // An EIS signed by another EUM (a second world's EUM, same OID, other key): refused.
    // (Worlds number their eUICCs alike: the other world's eUICC 0 has the EID of this world's eUICC 0, so
    // take this world's unregistered eUICC 3 and sign it with the other EUM.)
    let mut foreign = build_eis(&lab.world, 3, time::OffsetDateTime::now_utc()).expect("eis");
    let si = conformance::eum::standalone_eum_signed_info(&foreign.eum_signed_info);
    let sig =
        certs::xmldsig::sign_eum_signed_info(&si, &other.eum.key, &other.eum.cert).expect("sign");
    foreign.eum_signature = es_interfaces::messages::eis::EumSignature::from_children_xml(
        None,
        &certs::xmldsig::signature_content(&sig).expect("content"),
    )
    .expect("signature");
    let r = block_on(client.register(&foreign, "reg-foreign")).expect("register");
    let st = r.response.base.function_execution_status;
    assert_eq!(st.status.as_str(), "FAILED");
    assert_eq!(
        st.status_code_data.map(|d| d.subject.code().to_string()),
        Some("8.6".to_string())
    );
    // Neither refused EIS was stored.
    {
        let eid = lab.world.euiccs[3].eid.as_str();
        let g = block_on(post(
            &lab.mno(0),
            &es4,
            envelope(
                &es4,
                action::ES4_GET_EIS.request,
                &get_eis_body("ES4", &format!("get-{eid}"), eid),
            ),
        ));
        let s = status_of(&g.1);
        assert_eq!(
            (s.0.as_str(), s.1.as_deref(), s.2.as_deref()),
            ("FAILED", Some("8.1.1"), Some("3.9")),
            "{}",
            g.1
        );
    }
    // The owner named in the EIS's additional properties (`esm2m.owner`): assigned at registration when it is a
    // registered eUICC owner; otherwise the eUICC is registered without one and the answer is a warning.
    let owner = "1.3.6.1.4.1.4242.94.1";
    let store = lab.smsr_store();
    {
        let mut c = store.conn().expect("conn");
        eis_store::entities::create_entity(
            &mut c,
            &eis_store::entities::Entity {
                oid: owner.into(),
                role: eis_store::entities::EntityRole::EuiccOwner,
                name: "Fleet at registration".into(),
                endpoints: Default::default(),
                allowed_interfaces: Default::default(),
                gp_certificate: None,
                fingerprints: Default::default(),
            },
            1,
        )
        .expect("owner");
    }
    let with_owner = |i: usize, oid: &str| {
        let mut eis = read_eis_document(&common::eis_path(&lab.world, i)).expect("EIS document");
        eis.additional_properties = Some(es_interfaces::messages::eis::AdditionalProperties {
            properties: vec![
                es_interfaces::messages::eis::Property {
                    key: "batch".into(),
                    value: "2026-12".into(),
                },
                es_interfaces::messages::eis::Property {
                    key: smsr::es1::OWNER_PROPERTY.into(),
                    value: oid.into(),
                },
            ],
        });
        eis
    };
    let (eid3, eid4) = (
        lab.world.euiccs[3].eid.clone(),
        lab.world.euiccs[4].eid.clone(),
    );
    let r = block_on(client.register(
        &with_owner(3, "1.3.6.1.4.1.4242.94.404"),
        "reg-owner-unknown",
    ))
    .expect("register");
    let st = r.response.base.function_execution_status;
    assert_eq!(st.status.as_str(), "EXECUTED_WITHWARNING");
    let d = st.status_code_data.expect("status code data");
    assert_eq!((d.subject.code(), d.reason.code()), ("8.6", "3.9"), "{d:?}");
    let r = block_on(client.register(&with_owner(4, owner), "reg-owner")).expect("register");
    assert_eq!(
        r.response.base.function_execution_status.status.as_str(),
        "EXECUTED_SUCCESS"
    );
    {
        let mut c = store.conn().expect("conn");
        for eid in [&eid3, &eid4] {
            assert!(
                eis_store::eis::get_eis(&mut c, eid)
                    .expect("read")
                    .is_some(),
                "{eid} registered"
            );
        }
        assert_eq!(
            eis_store::owners::owner_of(&mut c, &eid3).expect("owner"),
            None
        );
        assert_eq!(
            eis_store::owners::owner_of(&mut c, &eid4).expect("owner"),
            Some(owner.to_string())
        );
    }

    // An EUM of another PKI (its TLS CA is not trusted here): the TLS handshake itself fails.
    let stranger = Es1Client::new(&other, &lab.smsr_url);
    assert!(
        stranger.is_err() || {
            let c = stranger.expect("client");
            block_on(c.register(&foreign, "x")).is_err()
        }
    );

    // A certificate from the trusted TLS CA that no registered entity owns: 1.1 / 1.1.
    let stranger_key = certs::ecc::PrivateKey::generate(certs::ecc::Curve::P256, &mut rand::rng());
    let now = time::OffsetDateTime::now_utc();
    let stranger_cert = certs::x509::issue(
        &certs::x509::X509Params {
            common_name: "unregistered caller".into(),
            organization: "nobody".into(),
            entity_oid: None,
            serial: vec![0x42, 0x17],
            not_before: now - time::Duration::hours(1),
            not_after: now + time::Duration::days(1),
            profile: certs::x509::X509Profile::TlsClient,
        },
        stranger_key.public_key(),
        &lab.world.tls_ca.cert,
        &lab.world.tls_ca.key,
    )
    .expect("issue");
    let dir = lab.dir.path().join("stranger");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("c.pem"), stranger_cert.to_pem()).expect("write");
    std::fs::write(
        dir.join("k.pem"),
        stranger_key.to_pkcs8_pem().expect("pem").as_bytes(),
    )
    .expect("write");
    let unknown = lab.http_client(
        &dir.join("c.pem").to_string_lossy(),
        &dir.join("k.pem").to_string_lossy(),
    );
    let r = block_on(post(
        &unknown,
        &es4,
        envelope(
            &es4,
            action::ES4_GET_EIS.request,
            &get_eis_body("ES4", "who", &eid0),
        ),
    ));
    let s = status_of(&r.1);
    assert_eq!(
        (s.0.as_str(), s.1.as_deref(), s.2.as_deref()),
        ("FAILED", Some("1.1"), Some("1.1")),
        "{}",
        r.1
    );

    // Roles: an MNO on ES1 gets 1.1/1.2; the SM-DP on ES3.GetEIS sees no MNO profile of issuance.
    let wrong = block_on(post(
        &lab.mno(0),
        &es1,
        client.envelope(&eis0, "wrong-role"),
    ));
    let s = status_of(&wrong.1);
    assert_eq!(
        (s.0.as_str(), s.1.as_deref(), s.2.as_deref()),
        ("FAILED", Some("1.1"), Some("1.2")),
        "{}",
        wrong.1
    );
    let es3 = service_url(&lab.smsr_url, Service::Es3SmSr);
    let dp = block_on(post(
        &lab.smdp_client(),
        &es3,
        envelope(
            &es3,
            action::ES3_GET_EIS.request,
            &get_eis_body("ES3", "dp-1", &eid0),
        ),
    ));
    assert_eq!(status_of(&dp.1).0, "EXECUTED_SUCCESS", "{}", dp.1);
    assert!(
        !dp.1.contains("<rps:ProfileInfo>"),
        "the SM-DP sees profiles it did not download: {}",
        dp.1
    );

    // No key value is readable in the database.
    let kic = lab.world.euiccs[0].scp80.kic.expose().to_vec();
    let psk = lab.world.euiccs[0].scp81_psk.expose().to_vec();
    let dump: Vec<u8> = match db {
        Db::Sqlite => {
            lab.stop();
            let mut bytes = std::fs::read(lab.smsr_sqlite()).expect("read db");
            if let Ok(wal) = std::fs::read(lab.var_dir().join("smsr.db-wal")) {
                bytes.extend(wal);
            }
            bytes
        }
        Db::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .args(["--data-only", "--inserts", lab.smsr_db_url()])
                .output()
                .expect("pg_dump");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    };
    for key in [&kic, &psk] {
        let hex_lower = hex::encode(key);
        let hex_upper = hex::encode_upper(key);
        assert!(
            !contains(&dump, key),
            "a key value is readable in the database"
        );
        assert!(
            !contains(&dump, hex_lower.as_bytes()) && !contains(&dump, hex_upper.as_bytes()),
            "a key value is readable (hex) in the database"
        );
    }
    assert!(
        contains(&dump, eid0.as_bytes()),
        "the dump does not even hold the EID: wrong file?"
    );

    common::assert_captured_valid(&lab);
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn registration_and_views_sqlite() {
    registration_scenario(Db::Sqlite);
}

#[test]
fn registration_and_views_postgres() {
    registration_scenario(Db::Postgres);
}
