//! Runs every storage test on both backends: a temporary SQLite file and a throw-away PostgreSQL database
//! (`testkit::PgTestDb`; an unreachable PostgreSQL fails the test).
#![allow(dead_code)]

use eis_store::Store;

/// A store on a fresh SQLite file; the directory lives as long as the returned guard.
pub fn sqlite_store(pool: u32) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = Store::open(&url, pool).expect("open SQLite store");
    (dir, store)
}

/// A store on a fresh PostgreSQL database; the database lives as long as the returned guard.
pub fn pg_store(pool: u32) -> (testkit::PgTestDb, Store) {
    let db = testkit::PgTestDb::new();
    let store = Store::open(db.url(), pool).expect("open PostgreSQL store");
    (db, store)
}

/// `both_backends!(name, pool_size, |store| { body })` defines `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $pool:expr, |$store:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let (_guard, store) = $crate::common::sqlite_store($pool);
                let $store: &eis_store::Store = &store;
                $body
            }

            #[test]
            fn postgres() {
                let (_guard, store) = $crate::common::pg_store($pool);
                {
                    let $store: &eis_store::Store = &store;
                    $body
                }
                drop(store);
            }
        }
    };
}

use std::collections::BTreeMap;

use eis_store::Sealed;
use eis_store::eis::{
    AuditRecord, EuiccCapabilities, EuiccInfo, KeyComponent, Keyset, NewEis, Pol2Rule, ProfileInfo,
    ProfileState, SdCertificate, SdKey, SecurityDomain,
};

/// A profile of the sample EIS.
pub fn profile(iccid: &str, aid_last: u8, state: ProfileState) -> ProfileInfo {
    ProfileInfo {
        iccid: iccid.into(),
        isd_p_aid: vec![
            0xA0, 0, 0, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0, 0x00, 0x10,
            aid_last,
        ],
        mno_id: "1.3.6.1.4.1.4242".into(),
        fallback: aid_last == 1,
        imsi: Some("001010123456789".into()),
        msisdn: None,
        state,
        smdp_id: Some("1.3.6.1.4.1.777".into()),
        profile_type: Some("3G_16K".into()),
        allocated_memory: 16_384,
        free_memory: Some(2_048),
        pol2: vec![Pol2Rule {
            subject: "PROFILE".into(),
            action: "DISABLE".into(),
            qualification: "Not-Allowed".into(),
        }],
    }
}

/// An EIS as an EUM would register it: ISD-R with SCP80 and SCP81 key sets, ECASD with a certificate, one
/// profile loaded at issuance, one audit record, two additional properties.
pub fn sample_eis(eid: &str, iccid: &str) -> NewEis {
    let key = |index: u8, fill: u8| SdKey {
        index,
        kcv: vec![fill, fill, fill],
        components: vec![KeyComponent {
            key_type: 0x88,
            value: Sealed {
                key_id: "master-1".into(),
                ciphertext: vec![fill; 44],
            },
        }],
    };
    NewEis {
        euicc: EuiccInfo {
            eid: eid.into(),
            eum_id: "1.3.6.1.4.1.9999".into(),
            production_date: 1_700_000_000_000,
            platform_type: "rsp-sim".into(),
            platform_version: "1.0.0".into(),
            isd_p_loadfile_aid: vec![0xA0, 0, 0, 0x05, 0x59, 0x10, 0x10],
            isd_p_module_aid: vec![0xA0, 0, 0, 0x05, 0x59, 0x10, 0x10, 0x01],
            capabilities: EuiccCapabilities {
                cattp_support: false,
                cattp_version: None,
                http_support: true,
                http_version: Some("1.1.0".into()),
                secure_packet_version: "13.0.0".into(),
                remote_provisioning_version: "3.2.0".into(),
            },
            remaining_memory: 400_000,
            available_memory_for_profiles: 350_000,
            last_audit_date: None,
            smsr_id: "1.3.6.1.4.1.555".into(),
            eum_signed_info_xml: format!("<EumSignedInfo><Eid>{eid}</Eid></EumSignedInfo>"),
            eum_signature_xml: "<ds:Signature>…</ds:Signature>".into(),
        },
        isd_r: SecurityDomain {
            aid: vec![
                0xA0, 0, 0, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0, 0, 0x01, 0x00,
            ],
            tars: vec![[0x00, 0x00, 0x01], [0xB0, 0x00, 0x01]],
            sin: vec![0x01, 0x02],
            sdin: vec![0x03, 0x04],
            keysets: vec![
                Keyset {
                    version: 1,
                    usage: Some("SCP80".into()),
                    cntr: 5,
                    keys: vec![key(1, 0x11), key(2, 0x12), key(3, 0x13)],
                    certificates: vec![],
                },
                Keyset {
                    version: 0x40,
                    usage: Some("SCP81".into()),
                    cntr: 0,
                    keys: vec![key(1, 0x21)],
                    certificates: vec![],
                },
            ],
        },
        ecasd: SecurityDomain {
            aid: vec![
                0xA0, 0, 0, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0, 0, 0x02, 0x00,
            ],
            tars: vec![],
            sin: vec![0x05],
            sdin: vec![0x06],
            keysets: vec![Keyset {
                version: 0x73,
                usage: Some("CA".into()),
                cntr: 0,
                keys: vec![],
                certificates: vec![SdCertificate {
                    index: 1,
                    ca_id: "1.3.6.1.4.1.31746".into(),
                    value: vec![0x7F, 0x21, 0x81, 0xD5],
                }],
            }],
        },
        profiles: vec![profile(iccid, 1, ProfileState::Enabled)],
        audit_trail: vec![AuditRecord {
            eid: eid.into(),
            smsr_id: "1.3.6.1.4.1.555".into(),
            operation_date: 1_700_000_100_000,
            operation_type: [0x01, 0x00],
            requester_id: Some("1.3.6.1.4.1.9999".into()),
            execution_status: Some("Executed-Success".into()),
            isd_p_aid: None,
            iccid: None,
            imei: None,
            meid: None,
        }],
        additional_properties: BTreeMap::from([
            ("batch".to_string(), "B-17".to_string()),
            ("form-factor".to_string(), "MFF2".to_string()),
        ]),
    }
}
