//! Shared helpers of the warehouse tests: a store on each backend, generated order files, an in-memory order
//! source that can fail on purpose, and the sample profile type.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use certs::secrets::MasterKeyring;
use eis_store::Store;
use smdp::saip::coding::luhn_check_digit;
use smdp::saip::sample;
use smdp::warehouse::import::OrderSource;
use smdp::warehouse::profile_types::{self, ProfileTypeSpec};

/// The MNOs of the tests.
pub const MNO: &str = "1.3.6.1.4.1.4242.1";
pub const MNO2: &str = "1.3.6.1.4.1.4242.2";

/// A store on one backend, with what a test needs to look at the raw database.
pub struct Db {
    pub store: Store,
    /// The SQLite file, on SQLite.
    pub sqlite_path: Option<PathBuf>,
    /// The database URL, on PostgreSQL.
    pub pg_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<testkit::PgTestDb>,
}

pub fn sqlite_db(pool: u32) -> Db {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("smdp.db");
    let store = Store::open(&format!("sqlite://{}", path.display()), pool).expect("open SQLite");
    Db {
        store,
        sqlite_path: Some(path),
        pg_url: None,
        _dir: Some(dir),
        _pg: None,
    }
}

pub fn pg_db(pool: u32) -> Db {
    let pg = testkit::PgTestDb::new();
    let store = Store::open(pg.url(), pool).expect("open PostgreSQL");
    Db {
        store,
        sqlite_path: None,
        pg_url: Some(pg.url().to_owned()),
        _dir: None,
        _pg: Some(pg),
    }
}

/// `both_backends!(name, pool, |db| { body })` defines `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $pool:expr, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let $db = $crate::common::sqlite_db($pool);
                $body
            }

            #[test]
            fn postgres() {
                let $db = $crate::common::pg_db($pool);
                $body
            }
        }
    };
}

/// A fresh master key ring.
pub fn keyring() -> MasterKeyring {
    MasterKeyring::generate("mk-test", &mut rand::rng())
        .expect("key ring")
        .0
}

/// A valid ICCID number `i` of series `series` (2 digits): `8988` + series + 13 digits + Luhn.
pub fn iccid(series: u32, i: u64) -> String {
    let body = format!("8988{series:02}{i:013}");
    let check = luhn_check_digit(&body).expect("digits");
    format!("{body}{check}")
}

/// The CSV header of generated files.
pub const HEADER: &str = "ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1,MSISDN,KIC1,KID1,KIK1";

/// Generated row `i` of series `series` (fields distinct per row).
pub fn row(series: u32, i: u64) -> String {
    format!(
        "{},{},{:032X},{:032X},1234,12345678,5678,87654321,{:08},4477{:08},{:032X},{:032X},{:032X}",
        iccid(series, i),
        format_args!("00101{series:02}{i:08}"),
        (u128::from(series) << 64) | u128::from(i),
        (u128::from(series) << 64) | u128::from(i) | (1 << 127),
        i % 100_000_000,
        i % 100_000_000,
        0xC1u128 << 120 | u128::from(i),
        0xD1u128 << 120 | u128::from(i),
        0xE1u128 << 120 | u128::from(i),
    )
}

/// A CSV order file of rows `range` of a series.
pub fn csv_file(series: u32, range: std::ops::Range<u64>) -> Vec<u8> {
    let mut out = String::with_capacity((range.end - range.start) as usize * 190 + 100);
    out.push_str(HEADER);
    out.push('\n');
    for i in range {
        out.push_str(&row(series, i));
        out.push('\n');
    }
    out.into_bytes()
}

/// An order file held in memory; the third opening (the storing pass) can be made to fail after `fail_after`
/// bytes, as a read error or a dropped upload would.
pub struct MemSource {
    pub name: String,
    pub bytes: Vec<u8>,
    pub fail_after: Option<usize>,
    opens: AtomicUsize,
}

impl MemSource {
    pub fn new(name: &str, bytes: Vec<u8>) -> Self {
        MemSource {
            name: name.into(),
            bytes,
            fail_after: None,
            opens: AtomicUsize::new(0),
        }
    }
}

struct Failing<'a> {
    data: &'a [u8],
    at: usize,
    fail_after: Option<usize>,
}

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(limit) = self.fail_after
            && self.at >= limit
        {
            return Err(std::io::Error::other("injected read failure"));
        }
        let end = self
            .fail_after
            .unwrap_or(self.data.len())
            .min(self.data.len())
            .min(self.at + buf.len());
        let n = end - self.at;
        buf[..n].copy_from_slice(&self.data[self.at..end]);
        self.at = end;
        Ok(n)
    }
}

impl OrderSource for MemSource {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        let n = self.opens.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(Failing {
            data: &self.bytes,
            at: 0,
            fail_after: if n >= 2 { self.fail_after } else { None },
        }))
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn size(&self) -> Option<u64> {
        Some(self.bytes.len() as u64)
    }
}

/// Adds the profile type `name` with the sample template for `mno`.
pub fn sample_type(store: &Store, mno: &str, name: &str, low_stock: i64) {
    let mut c = store.conn().expect("conn");
    profile_types::add(
        &mut c,
        &ProfileTypeSpec {
            mno_oid: mno.into(),
            name: name.into(),
            template: sample::usim_template_der(),
            required_memory: 32_768,
            target_platform: "rsp-sim".into(),
            low_stock_threshold: low_stock,
            pol2: None,
        },
        1,
    )
    .expect("add profile type");
}

/// An EID for thread/record `i` (32 digits).
pub fn eid(i: u64) -> String {
    format!("890490320000000000000000{i:08}")
}
