//! Caller resolution (SGP.02 §2.6; issue 10 item 3): `allowed_interfaces` is enforced, a revoked certificate or
//! a withdrawn interface is refused on the very next call, and a certificate registered after it was refused is
//! accepted once the short "unknown" time has passed. On SQLite and PostgreSQL.

use std::collections::BTreeSet;
use std::time::Duration;

use eis_store::Store;
use eis_store::entities::{self, Entity, EntityRole};
use es_runtime::caller::{CallerDirectory, CallerError, Interface, UNKNOWN_CALLER_TTL};
use es_runtime::tls::PeerCertificate;

const ES2: Interface = Interface {
    name: "ES2",
    role: EntityRole::Mno,
};
const REST: Interface = Interface {
    name: "REST",
    role: EntityRole::Mno,
};
const ES3: Interface = Interface {
    name: "ES3",
    role: EntityRole::SmDp,
};

fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("callers.db").display());
    let store = Store::open(&url, 2).expect("open SQLite store");
    (dir, store)
}

fn postgres() -> (testkit::PgTestDb, Store) {
    let db = testkit::PgTestDb::new();
    let store = Store::open(db.url(), 2).expect("open PostgreSQL store");
    (db, store)
}

fn cert(b: u8) -> PeerCertificate {
    PeerCertificate {
        sha256: [b; 32],
        subject: format!("CN=test {b}"),
    }
}

fn mno(oid: &str, interfaces: &[&str], fp: u8) -> Entity {
    Entity {
        oid: oid.into(),
        role: EntityRole::Mno,
        name: oid.into(),
        endpoints: Default::default(),
        allowed_interfaces: interfaces.iter().map(|s| s.to_string()).collect(),
        gp_certificate: None,
        fingerprints: BTreeSet::from([[fp; 32]]),
    }
}

fn status(e: &CallerError) -> (String, String) {
    let d = e.status_code_data();
    (d.subject.code().to_string(), d.reason.code().to_string())
}

fn not_allowed(r: Result<es_runtime::caller::Caller, CallerError>) -> bool {
    matches!(&r, Err(e @ CallerError::NotAllowed { .. }) if status(e) == ("1.1".into(), "1.2".into()))
}

fn unknown(r: Result<es_runtime::caller::Caller, CallerError>) -> bool {
    matches!(&r, Err(e @ CallerError::Unknown(_)) if status(e) == ("1.1".into(), "1.1".into()))
}

/// An interface the entity's `allowed_interfaces` does not list is refused 1.1/1.2, as is another role's.
fn allowed_interfaces_are_enforced(store: &Store) {
    let mut c = store.conn().expect("conn");
    entities::create_entity(&mut c, &mno("1.3.6.1.4.1.1", &["ES2"], 1), 1).expect("entity");
    drop(c);
    let dir = CallerDirectory::default();
    let ok = dir
        .resolve(store, Some(&cert(1)), ES2)
        .expect("ES2 is listed");
    assert_eq!(ok.oid, "1.3.6.1.4.1.1");
    assert!(not_allowed(dir.resolve(store, Some(&cert(1)), REST)));
    assert!(not_allowed(dir.resolve(store, Some(&cert(1)), ES3)));
}

/// Removing the certificate's fingerprint, or the interface, takes effect on the next call even with a
/// directory whose "unknown" time is long: known answers are never reused.
fn revocation_is_immediate(store: &Store) {
    let mut c = store.conn().expect("conn");
    entities::create_entity(&mut c, &mno("1.3.6.1.4.1.2", &["ES2", "REST"], 2), 1).expect("entity");
    let mut with_second = mno("1.3.6.1.4.1.3", &["ES2", "REST"], 3);
    with_second.fingerprints.insert([4; 32]);
    entities::create_entity(&mut c, &with_second, 1).expect("entity");
    drop(c);
    let dir = CallerDirectory::new(Duration::from_secs(30));
    dir.resolve(store, Some(&cert(2)), ES2).expect("known");
    dir.resolve(store, Some(&cert(3)), REST).expect("known");
    dir.resolve(store, Some(&cert(4)), ES2).expect("known");

    let mut c = store.conn().expect("conn");
    entities::remove_fingerprint(&mut c, &[2; 32]).expect("revoke");
    let mut e = entities::get_entity(&mut c, "1.3.6.1.4.1.3")
        .expect("read")
        .expect("registered");
    e.allowed_interfaces.remove("REST");
    e.fingerprints.remove(&[4; 32]);
    entities::update_entity(&mut c, &e, 2).expect("update");
    drop(c);

    assert!(unknown(dir.resolve(store, Some(&cert(2)), ES2)));
    assert!(not_allowed(dir.resolve(store, Some(&cert(3)), REST)));
    assert!(unknown(dir.resolve(store, Some(&cert(4)), ES2)));
    dir.resolve(store, Some(&cert(3)), ES2)
        .expect("the remaining certificate and interface still work");
}

/// A certificate refused as unknown is accepted once registered, at the latest after [`UNKNOWN_CALLER_TTL`].
fn new_certificate_is_seen_soon(store: &Store) {
    let dir = CallerDirectory::default();
    assert!(unknown(dir.resolve(store, Some(&cert(5)), ES2)));
    let mut c = store.conn().expect("conn");
    entities::create_entity(&mut c, &mno("1.3.6.1.4.1.5", &["ES2"], 5), 1).expect("entity");
    drop(c);
    std::thread::sleep(UNKNOWN_CALLER_TTL + Duration::from_millis(100));
    let caller = dir
        .resolve(store, Some(&cert(5)), ES2)
        .expect("registered meanwhile");
    assert_eq!(caller.oid, "1.3.6.1.4.1.5");
    assert!(UNKNOWN_CALLER_TTL <= Duration::from_secs(5));
    // And without a certificate at all: unknown.
    assert!(unknown(dir.resolve(store, None, ES2)));
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                let (_g, store) = super::sqlite();
                super::$name(&store);
            }
            #[test]
            fn postgres() {
                let (_g, store) = super::postgres();
                super::$name(&store);
            }
        }
    };
}

both!(allowed_interfaces_are_enforced);
both!(revocation_is_immediate);
both!(new_certificate_is_seen_soon);
