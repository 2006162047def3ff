//! `rsp bench seed` (issue 14 item 3): a bulk-loaded EIS database reads back through the store's normal paths —
//! GetEIS gives each seeded eUICC the EIS it was built with, the SM-SR unseals its ISD-R keys for ES5 to the
//! simulator's keys — with the expected rows per table; a database holding eUICCs, or SQLite, is refused.

use conformance::euicc::EuiccSecrets;
use eis_store::Store;
use eis_store::eis;
use rsp::seed_bench::{self, SeedOptions};

const SEEDED: usize = 2_000;
const SEED: u64 = 3;

#[test]
fn a_seeded_database_reads_back_as_registered() {
    let pg = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("dir");
    let world = rsp::setup::init_world(&dir.path().join("pki"), 1, Some(7)).expect("world");
    let keyring = rsp::setup::master_keyring(&world).expect("keyring");
    let store = Store::open(pg.url(), 2).expect("store");
    rsp::setup::seed_smsr_entities(&store, &world, "https://localhost:1").expect("entities");
    let opts = SeedOptions {
        euiccs: SEEDED,
        database_url: pg.url().to_string(),
        profiles_per_euicc: 3,
        seed: SEED,
    };
    let figures = seed_bench::seed_store(&store, &world, &keyring, &opts).expect("seed");
    assert_eq!(figures.euiccs, SEEDED);

    // Per eUICC: ISD-R and ECASD; SCP80 (KIc, KID) and SCP81 (PSK) key sets, one component per key; the ECASD's
    // key set with CERT.ECASD.ECKA; three
    // profiles, POL2 on the two that are not the fall-back; two audit records, two properties.
    let rows: Vec<(&str, i64)> = figures.tables.iter().map(|t| (t.table, t.rows)).collect();
    let n = SEEDED as i64;
    assert_eq!(
        rows,
        vec![
            ("euiccs", n),
            ("security_domains", 2 * n),
            ("keysets", 3 * n),
            ("sd_keys", 3 * n),
            ("key_components", 3 * n),
            ("sd_certificates", n),
            ("profiles", 3 * n),
            ("pol2_rules", 2 * n),
            ("audit_records", 2 * n),
            ("additional_properties", 2 * n),
        ]
    );
    assert!(figures.tables.iter().all(|t| t.bytes > 0));
    assert!(
        figures.bytes_per_euicc() > 500.0,
        "{}",
        figures.bytes_per_euicc()
    );

    let template = seed_bench::template(&world).expect("template");
    let mut c = store.conn().expect("conn");
    // Template eUICCs (registered one by one) and bulk-copied ones, at random.
    let picks = [
        0,
        seed_bench::TEMPLATES - 1,
        seed_bench::TEMPLATES,
        SEEDED - 1,
    ]
    .into_iter()
    .chain((0..6).map(|_| rand::random_range(0..SEEDED)));
    for i in picks {
        let expected =
            seed_bench::seeded_eis(&keyring, &world, &template, SEED, i, 3).expect("expected");
        let eid = seed_bench::seeded_eid(i).expect("eid");
        assert_eq!(expected.euicc.eid, eid);
        let got = eis::get_eis_without_key_values(&mut c, &eid)
            .expect("get")
            .unwrap_or_else(|| panic!("seeded eUICC {i} ({eid}) is missing"));
        assert_eq!(
            got.euicc,
            eis::EuiccInfo {
                // The expected EIS is built from a template of its own, at another time.
                production_date: got.euicc.production_date,
                last_audit_date: got.euicc.last_audit_date,
                eum_signed_info_xml: got.euicc.eum_signed_info_xml.clone(),
                eum_signature_xml: got.euicc.eum_signature_xml.clone(),
                ..expected.euicc.clone()
            }
        );
        let infos: Vec<_> = got.profiles.iter().map(|p| p.info.clone()).collect();
        assert_eq!(infos, expected.profiles, "profiles of eUICC {i}");
        assert_eq!(
            infos
                .iter()
                .filter(|p| p.state == eis::ProfileState::Enabled)
                .count(),
            1
        );
        assert_eq!(got.additional_properties, expected.additional_properties);
        assert_eq!(got.audit_trail.len(), 2);
        assert_eq!(got.ecasd.aid, expected.ecasd.aid);
        // CERT.ECASD.ECKA: issued to this EID by the EUM, as the SM-DP checks it (CI → EUM → ECASD).
        let cert = &got.ecasd.keysets[0].certificates[0].value;
        let checked = certs::chain::check_ecasd(
            &world.ci.cert,
            &world.eum.cert,
            cert,
            time::OffsetDateTime::now_utc(),
        )
        .expect("ECASD certificate chain");
        assert_eq!(hex::encode(&checked.body().subject_id), eid);
        assert_eq!(got.isd_r.aid, expected.isd_r.aid);
        let kvns: Vec<_> = got.isd_r.keysets.iter().map(|k| k.version).collect();
        assert_eq!(kvns, vec![0x01, 0x40]);
        // ES4.GetEIS: the MNO's view of it, with an EumSignedInfo for this EID that the EUM's signature covers.
        let mno = smsr::eis_map::Viewer::Mno(&world.manifest.mnos[0].entity.oid);
        let view = smsr::eis_map::view(&got, mno).expect("view");
        assert_eq!(view.eum_signed_info.eid.to_string(), eid);
        assert_eq!(view.profile_info.len(), 2, "the first MNO's two profiles");
        certs::xmldsig::verify_eum_signature(
            &got.euicc.eum_signed_info_xml,
            &got.euicc.eum_signature_xml,
            &world.eum.cert,
        )
        .expect("EUM signature");

        // ES5: the SM-SR's own key loading unseals the simulator's KIc and KID for this EID.
        let secrets = EuiccSecrets::from_seed(SEED, i).expect("secrets");
        let keys = smsr::es5::security::load_scp80_keys(&mut c, &keyring, &eid).expect("keys");
        let sim = secrets.isd_r.scp80();
        assert_eq!(keys.keys.kic.expose(), sim.kic.expose(), "KIc of eUICC {i}");
        assert_eq!(keys.keys.kid.expose(), sim.kid.expose(), "KID of eUICC {i}");
    }

    let err = seed_bench::seed_store(&store, &world, &keyring, &opts).expect_err("non-empty");
    assert!(err.contains("already holds eUICCs"), "{err}");
}

#[test]
fn seeding_needs_postgresql() {
    let dir = tempfile::tempdir().expect("dir");
    let config = rsp::config::Config {
        var_dir: dir.path().to_path_buf(),
        ..rsp::config::Config::default()
    };
    let err = seed_bench::seed(
        &config,
        &SeedOptions {
            euiccs: 10,
            database_url: format!("sqlite://{}", dir.path().join("smsr.db").display()),
            profiles_per_euicc: 3,
            seed: 1,
        },
    )
    .expect_err("SQLite");
    assert!(err.contains("needs a PostgreSQL database"), "{err}");
}
