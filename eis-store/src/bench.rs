//! Storage benchmarks for `rsp bench` (performance is shown by figures, never asserted in tests).

use std::time::Instant;

use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;

use crate::Sealed;
use crate::connection::{AnyConnection, Backend, Store, now_millis};
use crate::error::StoreError;
use crate::warehouse::{self, NewProfileType, NewStockRecord};

/// Records generated and inserted per [`warehouse::insert_stock_chunk`] call (what an importer streams).
const CHUNK: u64 = 10_000;
/// Size of the sealed secrets of one synthetic record (K, OPc, PIN/PUK/ADM, OTA keys plus AEAD overhead).
const SECRETS_LEN: usize = 160;

/// Figures of one [`warehouse_import`] run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImportFigures {
    /// Backend measured.
    pub backend: Backend,
    /// Records imported.
    pub rows: u64,
    /// Seconds from the start of the import transaction to its commit.
    pub import_seconds: f64,
    /// Records per second imported.
    pub import_rows_per_second: f64,
    /// Seconds to look all imported ICCIDs up again ([`warehouse::existing_iccids`], the pre-import check).
    pub duplicate_check_seconds: f64,
    /// ICCIDs per second checked.
    pub duplicate_check_rows_per_second: f64,
}

fn record(run: u64, i: u64, seed: &mut u64) -> NewStockRecord {
    let mut secrets = vec![0u8; SECRETS_LEN];
    for b in secrets.iter_mut() {
        // xorshift64: incompressible-looking filler standing in for ciphertext.
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *b = (*seed >> 24) as u8;
    }
    NewStockRecord {
        iccid: format!("89{run:08}{i:09}"),
        imsi: format!("00101{i:010}"),
        msisdn: Some(format!("4917{i:09}")),
        secrets: Sealed {
            key_id: "bench-master".into(),
            ciphertext: secrets,
        },
    }
}

/// Imports `rows` synthetic personalisation records as one order, in one transaction streamed in chunks of
/// 10,000 (as `rsp order import` does), into the database at `url`; then checks them all for duplicates;
/// prints and returns the figures, and deletes what it imported.
pub fn warehouse_import(url: &str, rows: u64) -> Result<ImportFigures, StoreError> {
    let store = Store::open(url, 2)?;
    let run = u64::try_from(now_millis()).unwrap_or(0) % 100_000_000;
    let type_id = {
        let mut c = store.conn()?;
        warehouse::create_profile_type(
            &mut c,
            &NewProfileType {
                mno_oid: "1.3.6.1.4.1.99999.1".into(),
                name: format!("bench-{run}"),
                template: vec![0xA0; 4_096],
                required_memory: 65_536,
                target_platform: "bench".into(),
                low_stock_threshold: 0,
                pol2: None,
            },
            now_millis(),
        )?
    };

    let start = Instant::now();
    let order_id = store.tx(|c| {
        let order = warehouse::create_order(c, type_id, "bench.csv", now_millis())?;
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut i = 0;
        while i < rows {
            let n = CHUNK.min(rows - i);
            let chunk: Vec<NewStockRecord> =
                (i..i + n).map(|k| record(run, k, &mut seed)).collect();
            warehouse::insert_stock_chunk(c, order, &chunk, now_millis())?;
            i += n;
        }
        Ok::<i64, StoreError>(order)
    })?;
    let import_seconds = start.elapsed().as_secs_f64();

    let iccids: Vec<String> = (0..rows).map(|i| format!("89{run:08}{i:09}")).collect();
    let start = Instant::now();
    let found = {
        let mut c = store.conn()?;
        warehouse::existing_iccids(&mut c, &iccids)?.len()
    };
    let duplicate_check_seconds = start.elapsed().as_secs_f64();
    if found as u64 != rows {
        return Err(StoreError::Backend(format!(
            "benchmark found {found} of {rows} imported ICCIDs"
        )));
    }

    store.tx(|c| {
        warehouse::delete_available_of_order(c, order_id)?;
        warehouse::delete_profile_type(c, type_id)
    })?;

    let per_second = |secs: f64| {
        if secs > 0.0 {
            rows as f64 / secs
        } else {
            f64::INFINITY
        }
    };
    let figures = ImportFigures {
        backend: store.backend(),
        rows,
        import_seconds,
        import_rows_per_second: per_second(import_seconds),
        duplicate_check_seconds,
        duplicate_check_rows_per_second: per_second(duplicate_check_seconds),
    };
    println!(
        "warehouse import on {:?}: {} rows in {:.2} s = {:.0} rows/s; duplicate check {:.2} s = {:.0} rows/s",
        figures.backend,
        figures.rows,
        figures.import_seconds,
        figures.import_rows_per_second,
        figures.duplicate_check_seconds,
        figures.duplicate_check_rows_per_second
    );
    Ok(figures)
}

/// The tables an EIS spans (SGP.02 A1 `EISType`, docs/architecture.md §3): eUICC, ISD-R and ECASD, their key
/// sets, keys, key components and certificates, profiles, POL2 rules, audit trail, additional properties.
pub const EIS_TABLES: [&str; 10] = [
    "euiccs",
    "security_domains",
    "keysets",
    "sd_keys",
    "key_components",
    "sd_certificates",
    "profiles",
    "pol2_rules",
    "audit_records",
    "additional_properties",
];

/// Rows and bytes on disk of one table (`pg_total_relation_size`: heap, indexes and TOAST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFootprint {
    /// Table name (one of [`EIS_TABLES`]).
    pub table: &'static str,
    /// Rows.
    pub rows: i64,
    /// Bytes on disk.
    pub bytes: i64,
}

#[derive(diesel::QueryableByName)]
struct Footprint {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

/// Runs VACUUM (FREEZE, ANALYZE) on the EIS tables after a bulk load — planner statistics, and rows marked
/// committed and frozen so that the first reads of each page do not set hint bits and write the page back — and
/// returns the rows and bytes on disk of each ([`EIS_TABLES`]). PostgreSQL only: SQLite has no per-table size;
/// `conn` must not be in a transaction (VACUUM cannot run in one).
pub fn eis_footprint(conn: &mut AnyConnection) -> Result<Vec<TableFootprint>, StoreError> {
    let AnyConnection::Pg(c) = conn else {
        return Err(StoreError::invalid_argument(
            "database",
            "table sizes need PostgreSQL",
        ));
    };
    diesel::sql_query(format!(
        "VACUUM (FREEZE, ANALYZE) {}",
        EIS_TABLES.join(", ")
    ))
    .execute(c)?;
    EIS_TABLES
        .iter()
        .map(|&table| {
            // The names are the constants above, never input.
            let f: Footprint = diesel::sql_query(format!(
                "SELECT (SELECT count(*) FROM {table}) AS rows, pg_total_relation_size('{table}') AS bytes"
            ))
            .get_result(c)?;
            Ok(TableFootprint {
                table,
                rows: f.rows,
                bytes: f.bytes,
            })
        })
        .collect()
}
