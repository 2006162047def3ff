//! The stock side of the warehouse on both backends: a personalised package of a reserved record read back by an
//! independent decoder (Python asn1tools), no secret readable in the database files, the state transitions with
//! release and the low-stock event, per-MNO visibility, and the output file decrypted by an independent
//! implementation of the documented scheme (Python `cryptography`).
mod common;

use std::path::PathBuf;

use certs::ecc::{Curve, PrivateKey};
use common::*;
use eis_store::entities::{self, Entity, EntityRole};
use eis_store::{Store, outbox};
use serde_json::Value;
use smdp::batch::BatchFormat;
use smdp::warehouse::WarehouseError;
use smdp::warehouse::export::{self, ExportRequest};
use smdp::warehouse::import;
use smdp::warehouse::stock::{self, Selector};

fn asn_dir() -> PathBuf {
    let dir = std::env::var_os("RSP_SAIP_ASN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| testkit::workspace_root().join("../shared/specs/tca-saip"));
    assert!(
        dir.join("PE_Definitions-3.3.1.asn").exists(),
        "PE_Definitions-3.3.1.asn not found in {} (set RSP_SAIP_ASN_DIR)",
        dir.display()
    );
    dir
}

fn py(script: &str, args: &[&str]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    serde_json::from_str(&testkit::run_python(&script, args)).expect("JSON from the script")
}

fn import_csv(store: &Store, keys: &certs::secrets::MasterKeyring, mno: &str, bytes: Vec<u8>) {
    import::import_order(
        store,
        keys,
        mno,
        "usim-sample",
        &MemSource::new("order.csv", bytes),
        BatchFormat::Csv,
        &mut |_| {},
    )
    .expect("import");
}

/// The fields of generated row `i` of a series, by column name.
fn fields(series: u32, i: u64) -> std::collections::HashMap<&'static str, String> {
    HEADER
        .split(',')
        .zip(row(series, i).split(',').map(str::to_owned))
        .collect()
}

both_backends!(personalised_package_decodes_with_asn1tools, 2, |db| {
    let store = &db.store;
    let keys = keyring();
    sample_type(store, MNO, "usim-sample", 0);
    import_csv(store, &keys, MNO, csv_file(5, 0..3));
    let mut c = store.conn().expect("conn");
    // Row 1 by ICCID, then the next by profile type (row 0).
    let r1 =
        stock::reserve(&mut c, MNO, Selector::Iccid(&iccid(5, 1)), &eid(1), 10).expect("by ICCID");
    let r0 = stock::reserve(
        &mut c,
        MNO,
        Selector::ProfileType("usim-sample"),
        &eid(2),
        11,
    )
    .expect("by type");
    assert_eq!(
        (r1.iccid.as_str(), r0.iccid.as_str()),
        (iccid(5, 1).as_str(), iccid(5, 0).as_str())
    );
    assert_eq!(r0.required_memory, 32_768);

    for (i, r) in [(1u64, &r1), (0, &r0)] {
        let pkg = stock::personalise(&mut c, &keys, &r.iccid, &r.eid).expect("personalise");
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), pkg.package.expose()).expect("write");
        let v = py(
            "package_values.py",
            &[asn_dir().to_str().unwrap(), file.path().to_str().unwrap()],
        );
        let want = fields(5, i);
        assert_eq!(v["header_iccid"], want["ICCID"]);
        assert_eq!(v["ef_iccid"], want["ICCID"]);
        assert_eq!(v["imsi"], want["IMSI"]);
        assert_eq!(v["aka"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["aka"][0]["algorithmID"], 1);
        assert_eq!(v["aka"][0]["key"], want["K"]);
        assert_eq!(v["aka"][0]["opc"], want["OPC"]);
    }
    // Only for the EID it is reserved for.
    assert!(matches!(
        stock::personalise(&mut c, &keys, &r1.iccid, &eid(2)),
        Err(WarehouseError::WrongState { .. })
    ));
});

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

both_backends!(no_secret_is_readable_in_the_database, 2, |db| {
    let store = &db.store;
    let keys = keyring();
    sample_type(store, MNO, "usim-sample", 0);
    const K: &str = "5EC2E7A1B2C3D4E5F60718293A4B5C6D";
    const OPC: &str = "0FC0FFEE0FC0FFEE0FC0FFEE0FC0FFEE";
    const KIC: &str = "C1C1C1C1A5A5A5A5C1C1C1C1A5A5A5A5";
    const KID: &str = "D1D1D1D1A5A5A5A5D1D1D1D1A5A5A5A5";
    const KIK: &str = "E1E1E1E1A5A5A5A5E1E1E1E1A5A5A5A5";
    let line = format!(
        "{},001019999999999,{K},{OPC},7391,73917391,8264,82648264,57135713,447700900123,{KIC},{KID},{KIK}",
        iccid(6, 42)
    );
    import_csv(
        store,
        &keys,
        MNO,
        format!("{HEADER}\n{line}\n").into_bytes(),
    );

    let k = hex::decode(K).unwrap();
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("K raw".into(), k.clone()),
        ("K hex".into(), K.as_bytes().to_vec()),
        ("K hex lower".into(), K.to_lowercase().into_bytes()),
        ("OPc raw".into(), hex::decode(OPC).unwrap()),
        ("OPc hex lower".into(), OPC.to_lowercase().into_bytes()),
        ("KIc raw".into(), hex::decode(KIC).unwrap()),
        ("PUK1".into(), b"73917391".to_vec()),
        ("ADM1".into(), b"57135713".to_vec()),
    ];
    // Base64 of K at each alignment would also reveal it.
    for shift in 0..3 {
        let mut padded = vec![0u8; shift];
        padded.extend_from_slice(&k);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&padded);
        needles.push((
            format!("K base64 shift {shift}"),
            b64.as_bytes()[4..16].to_vec(),
        ));
    }
    let dump: Vec<u8> = if let Some(path) = &db.sqlite_path {
        drop(store.conn().expect("conn"));
        let mut all = std::fs::read(path).expect("db file");
        for ext in ["-wal", "-journal"] {
            let side = PathBuf::from(format!("{}{ext}", path.display()));
            if let Ok(more) = std::fs::read(side) {
                all.extend(more);
            }
        }
        all
    } else {
        let url = db.pg_url.as_deref().expect("url");
        let out = std::process::Command::new("pg_dump")
            .args(["--data-only", "--dbname", url])
            .output()
            .expect("run pg_dump");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    // The search works: the ICCID is stored in clear and is found.
    assert!(
        contains(&dump, iccid(6, 42).as_bytes()),
        "the ICCID should be in the dump"
    );
    for (what, needle) in &needles {
        assert!(
            !contains(&dump, needle),
            "{what} is readable in the database"
        );
    }
    // And the secrets are there, sealed: the record still personalises with the key ring.
    let mut c = store.conn().expect("conn");
    let r = stock::reserve(
        &mut c,
        MNO,
        Selector::ProfileType("usim-sample"),
        &eid(9),
        1,
    )
    .expect("reserve");
    let pkg = stock::personalise(&mut c, &keys, &r.iccid, &r.eid).expect("personalise");
    assert!(contains(pkg.package.expose(), &k));
});

both_backends!(transitions_release_low_stock_and_visibility, 2, |db| {
    let store = &db.store;
    let keys = keyring();
    sample_type(store, MNO, "usim-sample", 3);
    sample_type(store, MNO2, "usim-sample", 0);
    {
        let mut c = store.conn().expect("conn");
        entities::create_entity(
            &mut c,
            &Entity {
                oid: MNO.into(),
                role: EntityRole::Mno,
                name: "MNO one".into(),
                endpoints: [(
                    stock::WEBHOOK_ENDPOINT.to_owned(),
                    "https://mno.test/hooks".to_owned(),
                )]
                .into(),
                allowed_interfaces: ["ES2".to_owned()].into(),
                gp_certificate: None,
                fingerprints: Default::default(),
            },
            1,
        )
        .expect("entity");
    }
    import_csv(store, &keys, MNO, csv_file(7, 0..5));
    import_csv(store, &keys, MNO2, csv_file(8, 0..2));
    let mut c = store.conn().expect("conn");
    let type_id = eis_store::warehouse::profile_type_by_name(&mut c, MNO, "usim-sample")
        .expect("type")
        .expect("some")
        .id;
    let events = |c: &mut eis_store::AnyConnection| {
        outbox::by_correlation(c, &format!("low-stock:{type_id}")).expect("outbox")
    };

    // 5 available, threshold 3: the third reservation takes it from 3 to 2, and only that one raises the event.
    let mut crossed = Vec::new();
    let mut held = Vec::new();
    for i in 0..4 {
        let r = stock::reserve(
            &mut c,
            MNO,
            Selector::ProfileType("usim-sample"),
            &eid(i),
            100 + i as i64,
        )
        .expect("reserve");
        crossed.push(r.crossed_low_stock);
        held.push(r);
    }
    assert_eq!(crossed, [false, false, true, false]);
    let ev = events(&mut c);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].destination_url, "https://mno.test/hooks");
    let body: Value = serde_json::from_slice(&ev[0].body).expect("json");
    assert_eq!(body["event"], "low-stock");
    assert_eq!(body["profileType"], "usim-sample");
    assert_eq!(body["available"], 2);
    let level = &stock::levels(&mut c, MNO).expect("levels")[0];
    assert_eq!((level.available, level.reserved, level.low), (1, 4, true));

    // Reserved → downloading → installed; the wrong EID or order of steps is refused.
    let a = &held[0];
    assert!(matches!(
        stock::mark_installed(&mut c, &a.iccid, &a.eid, 200),
        Err(WarehouseError::WrongState { .. })
    ));
    assert!(matches!(
        stock::start_download(&mut c, &a.iccid, &eid(99), 200),
        Err(WarehouseError::WrongState { .. })
    ));
    stock::start_download(&mut c, &a.iccid, &a.eid, 201).expect("downloading");
    stock::mark_installed(&mut c, &a.iccid, &a.eid, 202).expect("installed");
    assert!(matches!(
        stock::release(&mut c, &a.iccid, &a.eid, 203),
        Err(WarehouseError::WrongState { .. })
    ));

    // A personalisation that fails (here: secrets sealed under another master key) leaves the record reserved;
    // releasing it puts it back, and it is the next one handed out.
    let b = &held[1];
    let other_keys = keyring();
    assert!(matches!(
        stock::personalise(&mut c, &other_keys, &b.iccid, &b.eid),
        Err(WarehouseError::Secrets { .. })
    ));
    stock::release(&mut c, &b.iccid, &b.eid, 300).expect("release");
    let d = &held[2];
    stock::start_download(&mut c, &d.iccid, &d.eid, 301).expect("downloading");
    stock::release(&mut c, &d.iccid, &d.eid, 302).expect("release while downloading");
    let again = stock::reserve(
        &mut c,
        MNO,
        Selector::ProfileType("usim-sample"),
        &eid(50),
        400,
    )
    .expect("reserve");
    assert_eq!(again.iccid, b.iccid);
    let level = &stock::levels(&mut c, MNO).expect("levels")[0];
    assert_eq!(
        (
            level.available,
            level.reserved,
            level.downloading,
            level.installed
        ),
        (2, 2, 0, 1)
    );

    // Out of stock, then each MNO sees only its own.
    stock::reserve(
        &mut c,
        MNO,
        Selector::ProfileType("usim-sample"),
        &eid(51),
        401,
    )
    .expect("reserve");
    stock::reserve(
        &mut c,
        MNO,
        Selector::ProfileType("usim-sample"),
        &eid(52),
        402,
    )
    .expect("reserve");
    assert!(matches!(
        stock::reserve(
            &mut c,
            MNO,
            Selector::ProfileType("usim-sample"),
            &eid(53),
            403
        ),
        Err(WarehouseError::OutOfStock { .. })
    ));
    assert!(matches!(
        stock::reserve(&mut c, MNO, Selector::Iccid(&iccid(8, 0)), &eid(54), 404),
        Err(WarehouseError::UnknownIccid { .. })
    ));
    assert!(matches!(
        stock::reserve(&mut c, MNO2, Selector::Iccid(&iccid(7, 0)), &eid(54), 404),
        Err(WarehouseError::UnknownIccid { .. })
    ));
    assert!(matches!(
        stock::reserve(&mut c, MNO, Selector::Iccid(&a.iccid), &eid(54), 404),
        Err(WarehouseError::WrongState { .. })
    ));
    assert!(matches!(
        stock::reserve(
            &mut c,
            MNO,
            Selector::ProfileType("usim-sample"),
            "not-an-eid",
            404
        ),
        Err(WarehouseError::Invalid { field: "EID", .. })
    ));
    let other = stock::levels(&mut c, MNO2).expect("levels");
    assert_eq!((other.len(), other[0].available), (1, 2));
    assert!(matches!(
        stock::order(&mut c, MNO2, 1),
        Err(WarehouseError::UnknownOrder { .. })
    ));
    assert_eq!(stock::order(&mut c, MNO, 1).expect("order").rows, 5);
});

both_backends!(output_file_with_secrets_decrypts_independently, 2, |db| {
    let store = &db.store;
    let keys = keyring();
    sample_type(store, MNO, "usim-sample", 0);
    import_csv(store, &keys, MNO, csv_file(9, 0..4));
    let mut c = store.conn().expect("conn");
    for i in 0..3u64 {
        let r = stock::reserve(
            &mut c,
            MNO,
            Selector::ProfileType("usim-sample"),
            &eid(i),
            10,
        )
        .expect("reserve");
        stock::start_download(&mut c, &r.iccid, &r.eid, 11).expect("downloading");
        if i < 2 {
            stock::mark_installed(&mut c, &r.iccid, &r.eid, 1_700_000_000_000).expect("installed");
        }
    }
    // Without secrets: the two installed records, with EID, state and times.
    let mut plain = Vec::new();
    let n = export::export_installed(
        &mut c,
        &keys,
        MNO,
        &ExportRequest {
            profile_type: "usim-sample",
            order: None,
            secrets_for: None,
        },
        &mut plain,
    )
    .expect("export");
    assert_eq!(n, 2);
    let text = String::from_utf8(plain).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "ICCID,IMSI,MSISDN,EID,STATE,ORDER_ID,CREATED_AT,RESERVED_AT,DOWNLOADING_AT,INSTALLED_AT"
    );
    let f0 = fields(9, 0);
    assert!(
        lines[1].starts_with(&format!(
            "{},{},{},{},Installed,1,",
            f0["ICCID"],
            f0["IMSI"],
            f0["MSISDN"],
            eid(0)
        )),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with(",2023-11-14T22:13:20Z"), "{}", lines[1]);
    assert!(!text.contains(&f0["K"]));

    // With secrets, for the MNO's key: decrypted by Python `cryptography` from the documented scheme.
    let mno_key = PrivateKey::generate(Curve::P256, &mut rand::rng());
    let mut sealed = Vec::new();
    export::export_installed(
        &mut c,
        &keys,
        MNO,
        &ExportRequest {
            profile_type: "usim-sample",
            order: Some(1),
            secrets_for: Some(mno_key.public_key()),
        },
        &mut sealed,
    )
    .expect("export");
    let sealed_text = String::from_utf8(sealed.clone()).expect("utf8");
    assert!(!sealed_text.contains(&f0["K"]) && !sealed_text.contains(&f0["OPC"]));
    let dir = tempfile::tempdir().expect("dir");
    let key_file = dir.path().join("mno.key.pem");
    std::fs::write(&key_file, mno_key.to_pkcs8_pem().expect("pem").as_bytes()).expect("write");
    let csv_file_path = dir.path().join("out.csv");
    std::fs::write(&csv_file_path, &sealed).expect("write");
    let v = py(
        "export_decrypt.py",
        &[key_file.to_str().unwrap(), csv_file_path.to_str().unwrap()],
    );
    assert_eq!(v.as_object().map(|m| m.len()), Some(2));
    for i in 0..2 {
        let want = fields(9, i);
        let got = &v[&want["ICCID"]];
        for col in [
            "K", "OPC", "PIN1", "PUK1", "PIN2", "PUK2", "ADM1", "KIC1", "KID1", "KIK1",
        ] {
            assert_eq!(got[col], want[col], "{col} of row {i}");
        }
        assert_eq!(got["ALGORITHM"], "milenage");
        assert_eq!(got["KVN"], "01");
    }

    // The same file opened by a script written only from README.md's "Decrypting an output file" (the section
    // must exist and name every step the script relies on).
    let readme =
        std::fs::read_to_string(testkit::workspace_root().join("README.md")).expect("README");
    let section = readme
        .split_once("### Decrypting an output file")
        .map(|(_, s)| s.split("\n## ").next().unwrap_or(s))
        .expect("README section 'Decrypting an output file'");
    for needed in [
        "rsp-order-export-v1",
        "SECRETS_EPK",
        "00 00 00 01",
        "associated data",
        "00 00 00 00 ‖ n",
        "`KIC1`",
        "`ALGORITHM`",
    ] {
        assert!(
            section.contains(needed),
            "the README section does not say {needed:?}"
        );
    }
    let from_readme = py(
        "readme_decrypt.py",
        &[key_file.to_str().unwrap(), csv_file_path.to_str().unwrap()],
    );
    for i in 0..2u64 {
        let want = fields(9, i);
        let got = &from_readme[&want["ICCID"]];
        assert_eq!(got["row"], i + 1);
        for col in [
            "K", "OPC", "PIN1", "PUK1", "PIN2", "PUK2", "ADM1", "KIC1", "KID1", "KIK1",
        ] {
            assert_eq!(got[col], want[col], "{col} of row {i} (README decryption)");
        }
        assert_eq!(got["ALGORITHM"], "milenage");
        assert_eq!(got["KVN"], "01");
    }

    // `rsp order decrypt`'s function gives the same clear columns; another key does not open the file.
    let mut clear = Vec::new();
    assert_eq!(
        export::decrypt(&sealed[..], &mno_key, &mut clear).expect("decrypt"),
        2
    );
    let clear = String::from_utf8(clear).expect("utf8");
    let mut r = csv::Reader::from_reader(clear.as_bytes());
    let header = r.headers().expect("header").clone();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    assert_eq!(&rows[1][col("ICCID")], fields(9, 1)["ICCID"]);
    assert_eq!(&rows[1][col("K")], fields(9, 1)["K"]);
    assert_eq!(&rows[1][col("EID")], eid(1));
    let stranger = PrivateKey::generate(Curve::P256, &mut rand::rng());
    assert!(matches!(
        export::decrypt(&sealed[..], &stranger, &mut Vec::new()),
        Err(WarehouseError::Export(_))
    ));
    // Another MNO cannot export this MNO's profile type.
    assert!(matches!(
        export::export_installed(
            &mut c,
            &keys,
            MNO2,
            &ExportRequest {
                profile_type: "usim-sample",
                order: None,
                secrets_for: None
            },
            &mut Vec::new()
        ),
        Err(WarehouseError::UnknownProfileType { .. })
    ));
});

both_backends!(
    profile_type_pol2_is_stored_as_given_or_not_at_all,
    2,
    |db| {
        use smdp::warehouse::profile_types::{self, ProfileTypeSpec};
        let store = &db.store;
        let mut c = store.conn().expect("conn");
        let spec = |name: &str, pol2: &str| ProfileTypeSpec {
            mno_oid: MNO.into(),
            name: name.into(),
            template: smdp::saip::sample::usim_template_der(),
            required_memory: 32_768,
            target_platform: "generic".into(),
            low_stock_threshold: 0,
            pol2: Some(profile_types::parse_pol2(pol2).expect("valid text")),
        };
        let added = profile_types::add(
            &mut c,
            &spec("with-pol2", "disable:auto-delete, DELETE:Not-Allowed"),
            1,
        )
        .expect("add");
        assert_eq!(
            added.pol2.as_deref(),
            Some("DISABLE:Auto-Delete,DELETE:Not-Allowed")
        );
        let stored = profile_types::get(&mut c, MNO, "with-pol2").expect("get");
        let text = stored.profile_type.pol2.expect("stored POL2");
        assert_eq!(
            profile_types::parse_pol2(&text).expect("reads back"),
            spec("with-pol2", "DISABLE:Auto-Delete,DELETE:Not-Allowed")
                .pol2
                .expect("pol2"),
        );
        // A POL2 built in code is checked too: Auto-Delete on DELETE is refused and nothing is stored.
        let mut bad = spec("bad-pol2", "DELETE:Not-Allowed");
        if let Some(p) = bad.pol2.as_mut() {
            p.rules[0].qualification = es_interfaces::types::Pol2RuleQualification::AutoDelete;
        }
        let err = profile_types::add(&mut c, &bad, 1).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "invalid POL2: Auto-Delete applies to DISABLE only, not to DELETE"
        );
        let names: Vec<String> = profile_types::list(&mut c, MNO)
            .expect("list")
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, vec!["with-pol2".to_string()]);
    }
);
