//! Order import (DESIGN §4 "Warehouse": orders and stock of personalisation records; peers-and-profiles notes §4):
//! an MNO's input file becomes available stock of one of its profile types, all or nothing. The file is read three
//! times as a stream:
//!
//! 1. [`crate::batch::validate_file`] checks every row (Luhn, lengths, hex, column count, UTF-8, duplicates inside
//!    the file).
//! 2. A reader thread parses the rows again while the importing thread checks each chunk of [`CHUNK_ROWS`]
//!    ICCIDs and IMSIs against the committed stock, and each row against what the profile type's template can take (an
//!    MSISDN, OTA keys). Any problem of pass 1 or 2 refuses the file and nothing is stored: the refusal details
//!    the first [`MAX_DETAILED_PROBLEMS`] problems, and when there are more, every one is written (in the order
//!    found) to a report file in [`ImportOptions::report_dir`], whose path the refusal gives. (The stock is checked before the import transaction: inside it, PostgreSQL would plan the lookups
//!    against a table growing with the uncommitted rows and fall back to sequential scans.)
//! 3. Inside ONE transaction, the reader thread parses the rows once more and seals each record's secrets with
//!    the master key ([`super::secrets`]); the importing thread inserts each chunk (COPY on PostgreSQL). An ICCID
//!    stocked meanwhile by another import (the primary key), or any failure, rolls the whole order back: a crash
//!    midway leaves nothing half-imported.
//!
//! Memory stays flat: the file is never held whole (pass 1 keeps 32 bytes per row for duplicate detection, the
//! others at most three chunks).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use certs::secrets::MasterKeyring;
use eis_store::warehouse::{self, NewStockRecord};
use eis_store::{AnyConnection, Sealed, Store, StoreError, now_millis};
use serde::Serialize;

use super::profile_types::{self, TemplateCapabilities};
use super::{WarehouseError, secrets};
use crate::batch::{self, BatchErrors, BatchFormat, MAX_DETAILED_PROBLEMS, Problem};

/// Records per chunk: one duplicate lookup and one COPY / multi-row INSERT each.
pub const CHUNK_ROWS: usize = 10_000;

/// How often the first pass reports progress, in bytes read.
const PROGRESS_BYTES: u64 = 1 << 20;

/// Where an order file comes from; opened once per pass.
pub trait OrderSource: Sync {
    /// The file from its first byte.
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>>;
    /// The file's name, recorded with the order.
    fn name(&self) -> String;
    /// Its size in bytes, when known (for progress).
    fn size(&self) -> Option<u64>;
}

/// An order file on disk.
#[derive(Clone, Debug)]
pub struct FileSource {
    /// The path.
    pub path: PathBuf,
}

impl OrderSource for FileSource {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(std::fs::File::open(&self.path)?))
    }
    fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
    fn size(&self) -> Option<u64> {
        std::fs::metadata(&self.path).ok().map(|m| m.len())
    }
}

/// Guesses the layout of an order file from its first bytes: the `.out` layout starts (after blank lines) with
/// a `*` section or comment line, a CSV file with its header row.
pub fn sniff_format(start: &[u8]) -> BatchFormat {
    let start = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
    match start.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'*') => BatchFormat::Out,
        _ => BatchFormat::Csv,
    }
}

/// How far an import has come (for a progress bar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// First pass: bytes of the file validated so far, of `total` when known.
    Validating {
        /// Bytes read.
        bytes: u64,
        /// File size.
        total: Option<u64>,
    },
    /// Second pass: records checked against the stock so far, of `total` (0 when the first pass failed).
    Checking {
        /// Records checked.
        rows: u64,
        /// Records in the file.
        total: u64,
    },
    /// Third pass: records stored so far, of `total`.
    Storing {
        /// Records inserted.
        rows: u64,
        /// Records in the file.
        total: u64,
    },
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// The new order.
    pub order_id: i64,
    /// The profile type it stocks.
    pub profile_type: String,
    /// Records imported.
    pub rows: u64,
    /// Seconds of the two checking passes.
    pub validate_seconds: f64,
    /// Seconds of the storing pass, from the start of the transaction to its commit.
    pub store_seconds: f64,
    /// Records per second over both passes.
    pub rows_per_second: f64,
}

/// One parsed record on its way to the store.
struct Item {
    line: u64,
    iccid: String,
    imsi: String,
    msisdn: Option<String>,
    secrets: Option<Sealed>,
}

/// What the reader thread sends.
enum Msg {
    Chunk(Vec<Item>),
    /// A row that does not parse (already reported by the first pass when that one failed).
    Unreadable(Problem),
    /// A row the profile type's template cannot take.
    Unfit(Problem),
    Fatal(WarehouseError),
}

/// Limits and where a long refusal is written.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Limits of the order-file readers.
    pub limits: batch::Limits,
    /// Where the report listing every problem of a refused file goes when they are more than
    /// [`MAX_DETAILED_PROBLEMS`] (default: the system's temporary directory).
    pub report_dir: Option<PathBuf>,
}

/// Every problem of a refused file, written to a report file once they are more than the detailed ones (the
/// first are held until then, so that a short refusal writes no file).
struct FullReport {
    dir: PathBuf,
    stem: String,
    held: Vec<Problem>,
    file: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    failed: bool,
}

impl FullReport {
    fn new(options: &ImportOptions, mno: &str, file_name: &str) -> FullReport {
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(80)
                .collect()
        };
        FullReport {
            dir: options
                .report_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir),
            stem: format!(
                "order-refused-{}-{}-{}",
                safe(mno),
                safe(file_name),
                now_millis()
            ),
            held: Vec::new(),
            file: None,
            failed: false,
        }
    }

    fn note(&mut self, p: &Problem) {
        if self.failed {
            return;
        }
        if self.file.is_none() && self.held.len() < MAX_DETAILED_PROBLEMS {
            self.held.push(p.clone());
            return;
        }
        if let Err(e) = self.write(p) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "report of a refused order file not written");
            self.failed = true;
            self.file = None;
        }
    }

    fn write(&mut self, p: &Problem) -> std::io::Result<()> {
        if self.file.is_none() {
            std::fs::create_dir_all(&self.dir)?;
            let path = Path::new(&self.dir).join(format!("{}.txt", self.stem));
            let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
            for h in self.held.drain(..) {
                writeln!(w, "{h}")?;
            }
            self.file = Some((path, w));
        }
        if let Some((_, w)) = self.file.as_mut() {
            writeln!(w, "{p}")?;
        }
        Ok(())
    }

    /// The report's path, when one was written.
    fn finish(self) -> Option<PathBuf> {
        let (path, mut w) = self.file?;
        match w.flush() {
            Ok(()) => Some(path),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "report of a refused order file not written");
                None
            }
        }
    }
}

/// Problems found in the second pass: the first [`MAX_DETAILED_PROBLEMS`] in detail, every line counted, every
/// problem handed to the report.
#[derive(Default)]
struct Found {
    problems: Vec<Problem>,
    total: u64,
    lines: HashSet<u64>,
    report: Option<FullReport>,
}

impl Found {
    fn note(&mut self, p: Problem) {
        if let Some(r) = self.report.as_mut() {
            r.note(&p);
        }
        self.total += 1;
        self.lines.insert(p.line);
        if self.problems.len() < MAX_DETAILED_PROBLEMS {
            self.problems.push(p);
        }
    }

    /// Adds these problems to those of the first pass (lines already counted there are not counted again when
    /// they are among its detailed problems).
    fn merged_into(mut self, mut first: BatchErrors) -> BatchErrors {
        first.report = self.report.take().and_then(FullReport::finish);
        let known: HashSet<u64> = first.problems.iter().map(|p| p.line).collect();
        first.bad_lines += self.lines.iter().filter(|l| !known.contains(l)).count() as u64;
        first.total_problems += self.total;
        first.problems.extend(self.problems);
        first.problems.sort_by_key(|p| p.line);
        first.problems.truncate(MAX_DETAILED_PROBLEMS);
        first
    }

    fn into_errors(self) -> BatchErrors {
        let mut problems = self.problems;
        problems.sort_by_key(|p| p.line);
        BatchErrors {
            problems,
            total_problems: self.total,
            bad_lines: self.lines.len() as u64,
            report: self.report.and_then(FullReport::finish),
        }
    }
}

/// A reader that reports how many bytes went through it.
struct Counting<'p, R> {
    inner: R,
    bytes: u64,
    reported: u64,
    total: Option<u64>,
    progress: &'p mut dyn FnMut(Progress),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes - self.reported >= PROGRESS_BYTES || n == 0 {
            self.reported = self.bytes;
            (self.progress)(Progress::Validating {
                bytes: self.bytes,
                total: self.total,
            });
        }
        Ok(n)
    }
}

/// Imports an order file for the MNO's profile type `profile_type`: validates every row, then stores all of it in
/// one transaction or nothing. A refused file gives [`WarehouseError::Refused`] listing the bad rows.
pub fn import_order(
    store: &Store,
    keyring: &MasterKeyring,
    mno_oid: &str,
    profile_type: &str,
    source: &dyn OrderSource,
    format: BatchFormat,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport, WarehouseError> {
    import_order_with(
        store,
        keyring,
        mno_oid,
        profile_type,
        source,
        format,
        &ImportOptions::default(),
        progress,
    )
}

/// [`import_order`] with `options` (reader limits, where a long refusal is written).
#[allow(clippy::too_many_arguments)]
pub fn import_order_with(
    store: &Store,
    keyring: &MasterKeyring,
    mno_oid: &str,
    profile_type: &str,
    source: &dyn OrderSource,
    format: BatchFormat,
    options: &ImportOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport, WarehouseError> {
    let started = Instant::now();
    let pt = {
        let mut c = store.conn()?;
        profile_types::get(&mut c, mno_oid, profile_type)?
    };
    let personaliser = profile_types::prepare(&pt.profile_type.template)?;
    let caps = profile_types::capabilities(&personaliser).map_err(WarehouseError::Template)?;
    let name = source.name();

    let reader = source
        .open()
        .map_err(|e| WarehouseError::io(name.clone(), e))?;
    let mut report = FullReport::new(options, mno_oid, &name);
    let validated = batch::validate_file_with(
        Counting {
            inner: reader,
            bytes: 0,
            reported: 0,
            total: source.size(),
            progress,
        },
        format,
        &options.limits,
        &mut |p| report.note(p),
    );
    let total = validated.as_ref().map_or(0, |s| s.rows);
    // Second pass, outside the import transaction: the rows against the committed stock and the template.
    let limits = options.limits;
    let checked = {
        let mut c = store.conn()?;
        second_pass(
            &mut c,
            None,
            Pass {
                mno: mno_oid,
                source,
                format,
                limits,
                caps,
                report: Some(report),
            },
            None,
            &mut |rows| progress(Progress::Checking { rows, total }),
        )
    };
    let summary = match (validated, checked) {
        (Ok(s), Ok(found)) if found.total == 0 => s,
        (Ok(_), Ok(found)) => return Err(WarehouseError::Refused(found.into_errors())),
        (Ok(_), Err(e)) => return Err(e),
        // The parse problems of the second pass are those of the first: add only the others.
        (Err(first), Ok(found)) => return Err(WarehouseError::Refused(found.merged_into(first))),
        (Err(first), Err(e)) => {
            tracing::debug!(error = %e, "stock check of a refused order file stopped");
            return Err(WarehouseError::Refused(first));
        }
    };
    let validate_seconds = started.elapsed().as_secs_f64();

    // Third pass, in one transaction: seal and insert.
    let store_started = Instant::now();
    let (order_id, rows) = store.tx(|c| {
        let now = now_millis();
        let order_id = warehouse::create_order(c, pt.id, &name, now)?;
        let mut stored = 0u64;
        let found = second_pass(
            c,
            Some(keyring),
            Pass {
                mno: mno_oid,
                source,
                format,
                limits,
                caps,
                report: None,
            },
            Some(order_id),
            &mut |rows| {
                stored = rows;
                progress(Progress::Storing {
                    rows,
                    total: summary.rows,
                })
            },
        )?;
        if found.total > 0 {
            return Err(WarehouseError::Refused(found.into_errors()));
        }
        if stored != summary.rows {
            return Err(WarehouseError::Refused(BatchErrors {
                problems: vec![Problem {
                    line: 0,
                    column: None,
                    reason: format!(
                        "the file changed during the import ({} rows validated, {stored} read)",
                        summary.rows
                    ),
                }],
                total_problems: 1,
                bad_lines: 1,
                report: None,
            }));
        }
        Ok::<_, WarehouseError>((order_id, stored))
    })?;
    let store_seconds = store_started.elapsed().as_secs_f64();
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        mno = mno_oid,
        profile_type,
        order_id,
        rows,
        seconds,
        "order imported"
    );
    Ok(ImportReport {
        order_id,
        profile_type: profile_type.to_owned(),
        rows,
        validate_seconds,
        store_seconds,
        rows_per_second: if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        },
    })
}

/// What a pass reads and where its problems go.
struct Pass<'s> {
    /// The importing MNO: its own records are named as such, another MNO's are not (see [`consume`]).
    mno: &'s str,
    source: &'s dyn OrderSource,
    format: BatchFormat,
    limits: batch::Limits,
    caps: TemplateCapabilities,
    report: Option<FullReport>,
}

/// Reads the file again on a reader thread. Without `order`: checks each chunk's ICCIDs and IMSIs against the
/// (committed) stock and each row against the template's capabilities. With `order` (and the keyring): seals and
/// inserts each chunk into that order until the first problem. Returns the problems found; `progress` gets the
/// rows done.
fn second_pass(
    conn: &mut AnyConnection,
    keyring: Option<&MasterKeyring>,
    pass: Pass<'_>,
    order: Option<i64>,
    stored: &mut dyn FnMut(u64),
) -> Result<Found, WarehouseError> {
    let Pass {
        mno,
        source,
        format,
        limits,
        caps,
        report,
    } = pass;
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Msg>(2);
        s.spawn(move || read_rows(source, format, &limits, caps, keyring, &tx));
        let found = Found {
            report,
            ..Found::default()
        };
        consume(conn, rx, mno, order, found, stored)
    })
}

/// The reader thread: parses rows, checks them against the template's capabilities, seals their secrets.
fn read_rows(
    source: &dyn OrderSource,
    format: BatchFormat,
    limits: &batch::Limits,
    caps: TemplateCapabilities,
    keyring: Option<&MasterKeyring>,
    tx: &SyncSender<Msg>,
) {
    let reader = match source.open() {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Msg::Fatal(WarehouseError::io(source.name(), e)));
            return;
        }
    };
    let rows = match batch::rows_with(reader, format, limits) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Msg::Fatal(WarehouseError::Refused(e)));
            return;
        }
    };
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    for row in rows {
        let msg = match row {
            Err(p) => Some(Msg::Unreadable(p)),
            Ok(row) => {
                let r = &row.record;
                let unfit = if r.msisdn.is_some() && !caps.msisdn {
                    Some(("MSISDN", "the profile type's template has no EF.MSISDN"))
                } else if r.ota_keys.is_some() && !caps.ota_keys {
                    Some((
                        "KIC1",
                        "the profile type's template has no MNO-SD key set 01 for OTA keys",
                    ))
                } else {
                    None
                };
                match (unfit, keyring) {
                    (Some((column, reason)), _) => Some(Msg::Unfit(Problem {
                        line: row.line,
                        column: Some(column.into()),
                        reason: reason.into(),
                    })),
                    (None, Some(k)) => match secrets::seal(k, r) {
                        Ok(sealed) => {
                            chunk.push(item(&row, Some(sealed)));
                            None
                        }
                        Err(e) => Some(Msg::Fatal(e)),
                    },
                    (None, None) => {
                        chunk.push(item(&row, None));
                        None
                    }
                }
            }
        };
        if chunk.len() == CHUNK_ROWS
            && tx
                .send(Msg::Chunk(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(CHUNK_ROWS),
                )))
                .is_err()
        {
            return;
        }
        if let Some(m) = msg {
            let fatal = matches!(m, Msg::Fatal(_));
            if tx.send(m).is_err() || fatal {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Msg::Chunk(chunk));
    }
}

fn item(row: &batch::BatchRow, secrets: Option<Sealed>) -> Item {
    Item {
        line: row.line,
        iccid: row.record.iccid.clone(),
        imsi: row.record.imsi.clone(),
        msisdn: row.record.msisdn.clone(),
        secrets,
    }
}

/// Why an ICCID or IMSI held by another MNO is refused. The importing MNO is not told that, nor whose it is: the
/// stock cannot hold an ICCID twice, so the row is refused, in words that name no stock and no owner
/// (docs/architecture.md §8).
const NOT_AVAILABLE: &str = "not available for import";

/// The importing side: duplicate check and insert per chunk. An ICCID or IMSI already in the importing MNO's
/// stock is refused as such; one in another MNO's as [`NOT_AVAILABLE`].
fn consume(
    conn: &mut AnyConnection,
    rx: Receiver<Msg>,
    mno: &str,
    order: Option<i64>,
    mut found: Found,
    progress: &mut dyn FnMut(u64),
) -> Result<Found, WarehouseError> {
    let mut done = 0u64;
    for msg in rx {
        let chunk = match msg {
            Msg::Fatal(e) => return Err(e),
            Msg::Unreadable(p) => {
                if order.is_some() {
                    found.note(p);
                }
                continue;
            }
            Msg::Unfit(p) => {
                found.note(p);
                continue;
            }
            Msg::Chunk(c) => c,
        };
        let Some(order_id) = order else {
            let iccids: Vec<&str> = chunk.iter().map(|i| i.iccid.as_str()).collect();
            let iccid_owners = warehouse::stock_owners(conn, &iccids)?;
            let imsis: Vec<&str> = chunk.iter().map(|i| i.imsi.as_str()).collect();
            let imsi_owners = warehouse::imsi_owners(conn, &imsis)?;
            for i in &chunk {
                for (column, value, owner) in [
                    ("ICCID", &i.iccid, iccid_owners.get(&i.iccid)),
                    ("IMSI", &i.imsi, imsi_owners.get(&i.imsi)),
                ] {
                    let Some(owner) = owner else { continue };
                    let reason = if owner == mno {
                        "already in stock".to_string()
                    } else {
                        tracing::warn!(
                            importer = mno,
                            owner = owner.as_str(),
                            column,
                            value = value.as_str(),
                            "an order names a value another MNO stocks; refused without saying so"
                        );
                        format!("this {column} is {NOT_AVAILABLE}")
                    };
                    found.note(Problem {
                        line: i.line,
                        column: Some(column.into()),
                        reason,
                    });
                }
            }
            done += chunk.len() as u64;
            progress(done);
            continue;
        };
        if found.total > 0 {
            continue;
        }
        let first_line = chunk.first().map_or(0, |i| i.line);
        let records: Vec<NewStockRecord> = chunk
            .into_iter()
            .filter_map(|i| {
                i.secrets.map(|secrets| NewStockRecord {
                    iccid: i.iccid,
                    imsi: i.imsi,
                    msisdn: i.msisdn,
                    secrets,
                })
            })
            .collect();
        match warehouse::insert_stock_chunk(conn, order_id, &records, now_millis()) {
            Ok(n) => done += n as u64,
            // Checked before the transaction: another import stocked one of these ICCIDs meanwhile.
            Err(StoreError::AlreadyExists { .. }) => found.note(Problem {
                line: first_line,
                column: Some("ICCID".into()),
                reason: format!(
                    "an ICCID of the {} rows from this line on was taken meanwhile: this ICCID is {NOT_AVAILABLE}",
                    records.len()
                ),
            }),
            Err(e) => return Err(e.into()),
        }
        progress(done);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_tells_out_files_from_csv() {
        assert_eq!(sniff_format(b"\n*HEADER DESCRIPTION\n"), BatchFormat::Out);
        assert_eq!(sniff_format(b"\xEF\xBB\xBF***\n"), BatchFormat::Out);
        assert_eq!(sniff_format(b"ICCID,IMSI\n"), BatchFormat::Csv);
        assert_eq!(sniff_format(b""), BatchFormat::Csv);
    }
}
