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
