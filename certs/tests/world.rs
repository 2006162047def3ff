//! Test world generation: files, permissions, determinism, reload, chain check of every certificate, and the
//! software key store over it.

use std::collections::BTreeSet;
use std::path::Path;

use certs::chain::ChainError;
use certs::ecc::{Curve, PrivateKey};
use certs::keystore::{KeyStore, KeyStoreError, SoftwareKeyStore, StoredCertificate};
use certs::secrets::MasterKeyring;
use certs::world::{
    CertSrFault, World, WorldError, WorldOptions, eid_is_valid, eid_with_check_digits, generate,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-03-01 10:00 UTC);

fn opts(seed: Option<u64>, n: usize) -> WorldOptions {
    WorldOptions {
        seed,
        ..WorldOptions::new(n, NOW)
    }
}

fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn generated_world_loads_and_every_certificate_passes_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let w = generate(dir.path(), &opts(Some(7), 3)).unwrap();
    assert_eq!(w.euiccs.len(), 3);
    w.check_all(NOW).unwrap();
    let again = World::load(dir.path()).unwrap();
    again.check_all(NOW + Duration::days(365)).unwrap();
    assert_eq!(again.manifest, w.manifest);
    assert_eq!(again.ci.cert, w.ci.cert);
    assert_eq!(again.euiccs[2].ecasd.cert, w.euiccs[2].ecasd.cert);
    assert_eq!(again.euiccs[1].scp80.kic, w.euiccs[1].scp80.kic);
    // Entities and identities.
    assert_eq!(w.manifest.sm_dp.oid, "1.3.6.1.4.1.99999.1");
    assert_eq!(w.manifest.mnos.len(), 2);
    // Seven server/client leaves (SM-DP, two SM-SRs, EUM) plus each MNO's client and callback server.
    assert_eq!(w.tls_leaves().len(), 11);
    assert_eq!(w.mno_tls_servers.len(), 2);
    for e in &w.euiccs {
        assert!(eid_is_valid(&e.eid), "{}", e.eid);
        assert_eq!(e.scp80.kvn, 0x01);
        assert_eq!(e.scp81_kvn, 0x40);
        assert_eq!(
            (
                e.scp80.kic.len(),
                e.scp80.kid.len(),
                e.scp80.kik.len(),
                e.scp81_psk.len()
            ),
            (16, 16, 16, 16)
        );
        assert!(e.msisdn.len() <= 15 && e.msisdn.bytes().all(|b| b.is_ascii_digit()));
    }
    assert_eq!(w.eum_transport_key.secret().len(), 16);
    assert_eq!(w.euicc_owner_token.len(), 64);
    // Server TLS certificates name localhost and 127.0.0.1 (checked from the DER with x509-parser).
    let (_, srv) = x509_parser::parse_x509_certificate(w.sm_sr_tls_server.cert.der()).unwrap();
    let san = srv
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        san.contains("DNSName(localhost)") && san.contains("IPAddress(7f:00:00:01)"),
        "{san}"
    );
    // The MNOs' callback servers name localhost too.
    let (_, mno_srv) =
        x509_parser::parse_x509_certificate(w.mno_tls_servers[1].cert.der()).unwrap();
    let san = format!(
        "{:?}",
        mno_srv.subject_alternative_name().unwrap().unwrap().value
    );
    assert!(
        san.contains("localhost") && san.contains("mno2.rsp.test"),
        "{san}"
    );
    // A manifest written before the MNO server certificates existed still loads.
    let manifest = dir.path().join("world.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    for m in json["mnos"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("tls_server");
    }
    std::fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    let old = World::load(dir.path()).unwrap();
    assert!(old.mno_tls_servers.is_empty() && old.manifest.mnos[0].tls_server.is_none());
    old.check_all(NOW).unwrap();
    // Secrets stay out of Debug output.
    let dbg = format!("{:?}", w.euiccs[0]);
    assert!(
        !dbg.contains(&hex::encode(w.euiccs[0].scp81_psk.expose())),
        "{dbg}"
    );
    assert!(!format!("{w:?}").contains(&hex::encode(w.euicc_owner_token.expose())));
}

/// SGP.02 §3.8: two SM-SRs with distinct identities and keys, both CERT.SR.ECDSA issued by the world's CI; a
/// world generated before the second existed still loads, with SM-SR 1 only.
#[test]
fn a_world_has_two_smsrs_and_an_older_one_loads_without_the_second() {
    let dir = tempfile::tempdir().unwrap();
    let w = generate(dir.path(), &opts(Some(21), 1)).unwrap();
    let (one, two) = (w.smsr(1).unwrap(), w.smsr(2).unwrap());
    assert!(w.smsr(0).is_none() && w.smsr(3).is_none());
    assert_eq!((one.number, two.number), (1, 2));
    assert_eq!(one.entity, &w.manifest.sm_sr);
    assert_eq!(two.entity.oid, "1.3.6.1.4.1.99999.8");
    assert_eq!(two.entity.name, "RSP Test SM-SR 2");
    assert_ne!(one.gp.cert, two.gp.cert);
    assert_ne!(one.gp.key.public_key(), two.gp.key.public_key());
    assert_ne!(one.tls_client.cert, two.tls_client.cert);
    assert_ne!(one.tls_server.cert, two.tls_server.cert);
    for sr in [one, two] {
        let c = certs::chain::check_smsr(&w.ci.cert, &sr.gp.cert.encode(), NOW).unwrap();
        assert_eq!(c.body().subject_id, sr.entity.oid.as_bytes());
        sr.tls_client.cert.verify_signed_by(&w.tls_ca.cert).unwrap();
        sr.tls_server.cert.verify_signed_by(&w.tls_ca.cert).unwrap();
        let (_, srv) = x509_parser::parse_x509_certificate(sr.tls_server.cert.der()).unwrap();
        let san = format!(
            "{:?}",
            srv.subject_alternative_name().unwrap().unwrap().value
        );
        assert!(san.contains("localhost"), "{san}");
        assert!(w.dir.join(&sr.gp_files.cert).is_file());
        assert!(w.dir.join(&sr.tls_server_files.key).is_file());
        assert!(w.dir.join(&sr.tls_client_files.cert).is_file());
    }
    assert_eq!(w.smsrs().len(), 2);
    w.check_all(NOW).unwrap();
    // The key store signs with SK.SR.ECDSA of SM-SR 2 by its label.
    let ks = w.key_store().unwrap();
    let sig = ks.sign(&two.gp.label, b"A6 .. 7F49 .. 85 10 RC").unwrap();
    two.gp
        .cert
        .body()
        .public_key
        .verify(b"A6 .. 7F49 .. 85 10 RC", &sig)
        .unwrap();
    // A manifest without the second SM-SR (as written before it existed) loads, and checks, with SM-SR 1 only.
    let manifest = dir.path().join("world.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("sm_sr2").unwrap();
    std::fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    let old = World::load(dir.path()).unwrap();
    assert!(old.sm_sr2.is_none() && old.manifest.sm_sr2.is_none());
    assert!(old.smsr(2).is_none());
    assert_eq!(old.smsr(1).unwrap().entity.oid, w.manifest.sm_sr.oid);
    assert_eq!(old.smsrs().len(), 1);
    old.check_all(NOW).unwrap();
    // A second SM-SR whose GP certificate is not CERT.SR.ECDSA of its OID fails the check.
    let mut json2 = json.clone();
    json2["sm_sr2"] = serde_json::json!({
        "entity": {"oid": "1.3.6.1.4.1.99999.9", "name": "wrong"},
        "gp": serde_json::to_value(&w.manifest.sm_sr2.as_ref().unwrap().gp).unwrap(),
        "tls_server": serde_json::to_value(&w.manifest.sm_sr2.as_ref().unwrap().tls_server).unwrap(),
        "tls_client": serde_json::to_value(&w.manifest.sm_sr2.as_ref().unwrap().tls_client).unwrap(),
    });
    std::fs::write(&manifest, serde_json::to_vec(&json2).unwrap()).unwrap();
    let wrong = World::load(dir.path()).unwrap();
    assert!(matches!(
        wrong.check_all(NOW),
        Err(WorldError::Invalid { ref label, .. }) if label == "sm-sr2"
    ));
}

/// SGP.02 §2.3.2, §3.8: a faulty CERT.SR.ECDSA over SM-SR 2's key — from a foreign CI (8.5.3 / 6.1) or the
/// world's CI but expired (8.5.3 / 6.3) — fails the CI check; SM-SR 2's own certificate still passes.
#[test]
fn faulty_cert_sr_from_a_foreign_ci_or_expired() {
    let dir = tempfile::tempdir().unwrap();
    // Made ten days ago: the CI is valid at the times checked.
    let made = WorldOptions {
        seed: Some(22),
        ..WorldOptions::new(1, NOW - Duration::days(10))
    };
    let w = generate(dir.path(), &made).unwrap();
    let two = w.smsr(2).unwrap();
    let pk = two.gp.key.public_key();
    for (fault, reason) in [
        (CertSrFault::ForeignCi, "6.1"),
        (CertSrFault::Expired, "6.3"),
    ] {
        let cert = w.issue_faulty_cert_sr(2, pk, fault, NOW).unwrap();
        assert_eq!(&cert.body().public_key, pk);
        assert_eq!(cert.body().subject_id, two.entity.oid.as_bytes());
        let bytes = cert.encode();
        let e = certs::chain::check_smsr(&w.ci.cert, &bytes, NOW).unwrap_err();
        let s = e.sgp02_status();
        assert_eq!(
            (s.subject_code, s.reason_code),
            ("8.5.3", reason),
            "{fault:?}: {e}"
        );
        match fault {
            CertSrFault::ForeignCi => assert!(matches!(e, ChainError::WrongIssuer { .. }), "{e}"),
            CertSrFault::Expired => {
                assert!(matches!(e, ChainError::Expired { .. }), "{e}");
                // Only its dates are wrong: two days before it expired it passed.
                certs::chain::check_smsr(&w.ci.cert, &bytes, NOW - Duration::days(2)).unwrap();
            }
        }
    }
    assert!(
        w.issue_faulty_cert_sr(3, pk, CertSrFault::Expired, NOW)
            .is_err()
    );
    certs::chain::check_smsr(&w.ci.cert, &two.gp.cert.encode(), NOW).unwrap();
}

#[test]
fn the_world_expires_and_is_not_valid_before_it_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let w = generate(dir.path(), &opts(Some(8), 1)).unwrap();
    match w.check_all(NOW + Duration::days(365 * 6)) {
        Err(WorldError::Chain {
            label,
            source: ChainError::Expired { .. },
        }) => assert_eq!(label, "sm-dp"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        w.check_all(NOW - Duration::days(2)),
        Err(WorldError::Chain { .. })
    ));
}

#[test]
fn manifest_lists_every_file_and_private_files_are_0600() {
    let dir = tempfile::tempdir().unwrap();
    let w = generate(dir.path(), &opts(Some(9), 2)).unwrap();
    let listed: BTreeSet<String> = w.manifest.files.iter().cloned().collect();
    assert_eq!(listed, files_under(dir.path()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in &w.manifest.files {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            let private = f.starts_with("keys/") || f.starts_with("secrets/") || f == "master.keys";
            assert_eq!(mode, if private { 0o600 } else { 0o644 }, "{f}");
        }
    }
    assert!(matches!(
        generate(dir.path(), &opts(Some(9), 2)),
        Err(WorldError::AlreadyExists(_))
    ));
}

#[test]
fn same_seed_same_bytes_other_seed_or_no_seed_differs() {
    let (a, b, c, d) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let wa = generate(a.path(), &opts(Some(11), 2)).unwrap();
    generate(b.path(), &opts(Some(11), 2)).unwrap();
    for f in &wa.manifest.files {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
    let wc = generate(c.path(), &opts(Some(12), 2)).unwrap();
    assert_ne!(wa.ci.cert, wc.ci.cert);
    let wd = generate(d.path(), &opts(None, 1)).unwrap();
    assert_ne!(wd.ci.cert, wa.ci.cert);
    assert_eq!(wd.manifest.seed, None);
    wd.check_all(NOW).unwrap();
    // EIDs depend on the index only, so they are stable across seeds.
    assert_eq!(wa.euiccs[1].eid, wc.euiccs[1].eid);
}

#[test]
fn brainpool_ecasd_world() {
    let dir = tempfile::tempdir().unwrap();
    let w = generate(
        dir.path(),
        &WorldOptions {
            ecasd_curve: Curve::BrainpoolP256r1,
            ..opts(Some(13), 2)
        },
    )
    .unwrap();
    w.check_all(NOW).unwrap();
    assert_eq!(
        w.euiccs[0].ecasd.cert.body().public_key.curve(),
        Curve::BrainpoolP256r1
    );
    assert_eq!(
        World::load(dir.path()).unwrap().euiccs[1].ecasd.key.curve(),
        Curve::BrainpoolP256r1
    );
}

#[test]
fn eid_check_digits() {
    assert_eq!(
        eid_with_check_digits("890490321234512345123456789012").unwrap(),
        "89049032123451234512345678901235"
    );
    assert!(eid_is_valid("89049032123451234512345678901235"));
    assert!(!eid_is_valid("89049032123451234512345678901236"));
    assert!(!eid_is_valid("8904903212345123451234567890123"));
    assert!(eid_with_check_digits("89049032123451234512345678901x").is_none());
}

#[test]
fn software_key_store_over_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let w = generate(dir.path(), &opts(Some(14), 1)).unwrap();
    let ks = w.key_store().unwrap();
    // Sign with SK.DP.ECDSA by label; CERT.DP.ECDSA's key verifies it.
    let sig = ks.sign("sm-dp", b"A6 ... 7F49 ... 85 10 RC").unwrap();
    match ks.certificate("sm-dp").unwrap() {
        Some(StoredCertificate::Gp(c)) => c
            .body()
            .public_key
            .verify(b"A6 ... 7F49 ... 85 10 RC", &sig)
            .unwrap(),
        other => panic!("{other:?}"),
    }
    // ECKA by label equals the other side's computation.
    let e = &w.euiccs[0];
    let eph = PrivateKey::generate(Curve::P256, &mut rand::rng());
    let ours = ks.ecka(&e.ecasd.label, eph.public_key()).unwrap();
    let theirs = eph.ecka(&ks.public_key(&e.ecasd.label).unwrap()).unwrap();
    assert_eq!(ours.as_bytes(), theirs.as_bytes());
    assert!(matches!(
        ks.certificate("ci").unwrap(),
        Some(StoredCertificate::X509(_))
    ));
    // Seal and open with the world's master key.
    let blob = ks
        .seal("scp81-psk", e.eid.as_bytes(), e.scp81_psk.expose())
        .unwrap();
    assert_eq!(
        ks.open("scp81-psk", e.eid.as_bytes(), &blob).unwrap(),
        e.scp81_psk
    );
    assert!(matches!(
        ks.sign("nope", b""),
        Err(KeyStoreError::Unknown { kind: "key", .. })
    ));
    assert!(matches!(
        ks.certificate("../ci"),
        Err(KeyStoreError::InvalidLabel(_))
    ));
    assert!(!format!("{ks:?}").contains(&hex::encode(*w.ci.key.to_scalar())));
    // A key file readable by others is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let f = dir.path().join("keys/ci.key.pem");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let master = MasterKeyring::from_file(&dir.path().join("master.keys")).unwrap();
        assert!(matches!(
            SoftwareKeyStore::load_dir(dir.path(), master),
            Err(KeyStoreError::InsecurePermissions { mode: 0o644, .. })
        ));
        assert!(World::load(dir.path()).is_err());
    }
}

#[test]
fn a_world_made_on_29_february_gets_valid_gp_expiry_dates() {
    let dir = tempfile::tempdir().unwrap();
    let leap = datetime!(2028-02-29 12:00 UTC);
    let w = generate(
        dir.path(),
        &WorldOptions {
            seed: Some(15),
            ..WorldOptions::new(1, leap)
        },
    )
    .unwrap();
    assert_eq!(
        w.sm_dp_gp.cert.body().expiration_date,
        time::macros::date!(2033 - 02 - 28)
    );
    w.check_all(leap + Duration::days(365 * 4)).unwrap();
}
