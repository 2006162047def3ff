//! MNO order input files (DESIGN §4 "Warehouse": stock of personalisation records; peers-and-profiles notes §4):
//! streaming parsers for CSV and the classic SIM-vendor `.out` layout, row validation, and the two passes an
//! import makes: [`validate_file`] (refuses the whole file if any row is bad, listing every bad row) and
//! [`rows`] (yields the records to store).
//!
//! Columns (names case-insensitive, any order):
//!
//! | column | required | content |
//! |---|---|---|
//! | `ICCID` | yes | 19–20 digits, starts `89`, Luhn check digit; a trailing `F` filler is stripped |
//! | `IMSI` | yes | 6–15 digits |
//! | `K` (or `KI`) | yes | 32 hex digits |
//! | `OPC` | yes | 32 hex digits |
//! | `PIN1`, `PIN2` | yes | 4–8 digits |
//! | `PUK1`, `PUK2` | yes | 8 digits |
//! | `ADM1` | yes | 8 digits or 16 hex digits |
//! | `MSISDN` | no | 1–15 digits, international without `+` (empty = none) |
//! | `KIC1`, `KID1`, `KIK1` | no, all three or none | 32 hex digits each: the MNO-SD SCP80 key set, version 01 |
//!
//! Other columns are ignored. Files are read row by row and never held in memory; duplicate detection keeps
//! 16 bytes per row for ICCIDs and 16 for IMSIs (about 32 MB for a 1,000,000-row file). Error messages carry
//! line numbers, column names and reasons, never a value.

mod csv_file;
mod out_file;

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use crate::saip::record::{PersonalisationRecord, RecordText};

/// How many problems [`validate_file`] reports in detail (the total is always given).
pub const MAX_DETAILED_PROBLEMS: usize = 100;

/// The layout of an order file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchFormat {
    /// CSV (RFC 4180) with a header row naming the columns.
    Csv,
    /// The SIM-vendor `.out` layout: `*HEADER DESCRIPTION` (with `Quantity`), `*INPUT VARIABLES`,
    /// `var_out:` naming the columns separated by `/`, then one space-separated row per card.
    Out,
}

/// One problem found in an order file: line (from 1; 0 for the file as a whole), column and reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Problem {
    /// Line number in the file, from 1; 0 when the problem is about the whole file.
    pub line: u64,
    /// The column, when the problem is about one field.
    pub column: Option<String>,
    /// What is wrong (never the value).
    pub reason: String,
}

impl Problem {
    fn describe(&self) -> String {
        let place = if self.line == 0 {
            "file".to_string()
        } else {
            format!("line {}", self.line)
        };
        match &self.column {
            Some(c) => format!("{place}, column {c}: {}", self.reason),
            None => format!("{place}: {}", self.reason),
        }
    }

    fn file(line: u64, reason: impl Into<String>) -> Problem {
        Problem {
            line,
            column: None,
            reason: reason.into(),
        }
    }
}

/// Why an order file is refused: the first [`MAX_DETAILED_PROBLEMS`] problems in detail, plus totals, and
/// when there are more, the report file listing every one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchErrors {
    /// Problems in detail, by line.
    pub problems: Vec<Problem>,
    /// How many problems there are in all.
    pub total_problems: u64,
    /// How many distinct lines have a problem.
    pub bad_lines: u64,
    /// The file listing every problem, when they are more than the detailed ones (written by an import).
    pub report: Option<std::path::PathBuf>,
}

impl BatchErrors {
    fn single(p: Problem) -> BatchErrors {
        BatchErrors {
            problems: vec![p],
            total_problems: 1,
            bad_lines: 1,
            report: None,
        }
    }
}

impl fmt::Display for BatchErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "order file refused: {} problem(s) on {} line(s)",
            self.total_problems, self.bad_lines
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        let hidden = self
            .total_problems
            .saturating_sub(self.problems.len() as u64);
        if hidden > 0 {
            write!(f, "\n  … and {hidden} more")?;
        }
        if let Some(report) = &self.report {
            write!(f, "\n  every problem is listed in {}", report.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for BatchErrors {}

/// What a valid order file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Number of card rows.
    pub rows: u64,
    /// Whether an MSISDN column is present.
    pub has_msisdn: bool,
    /// Whether the OTA key columns are present.
    pub has_ota_keys: bool,
    /// The `.out` header's `Quantity` (checked against `rows`).
    pub declared_quantity: Option<u64>,
}

/// One card of an order file, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRow {
    /// Line number in the file.
    pub line: u64,
    /// The record.
    pub record: PersonalisationRecord,
}

/// Where each known column is in a row.
#[derive(Clone, Debug, Default)]
pub(crate) struct Columns {
    count: usize,
    iccid: usize,
    imsi: usize,
    k: usize,
    opc: usize,
    pin1: usize,
    puk1: usize,
    pin2: usize,
    puk2: usize,
    adm1: usize,
    msisdn: Option<usize>,
    kic1: Option<usize>,
    kid1: Option<usize>,
    kik1: Option<usize>,
}

impl Columns {
    /// Maps header names (case-insensitive) to positions; the error lists every missing or repeated column.
    pub(crate) fn from_names<'a>(
        names: impl Iterator<Item = &'a str>,
        line: u64,
    ) -> Result<Columns, BatchErrors> {
        const KNOWN: [&str; 14] = [
            "ICCID", "IMSI", "K", "KI", "OPC", "PIN1", "PUK1", "PIN2", "PUK2", "ADM1", "MSISDN",
            "KIC1", "KID1", "KIK1",
        ];
        let mut at: [Option<usize>; 14] = [None; 14];
        let mut problems = Vec::new();
        let mut count = 0;
        for (i, name) in names.enumerate() {
            count = i + 1;
            let upper = name.trim().to_ascii_uppercase();
            if let Some(k) = KNOWN.iter().position(|n| *n == upper) {
                if at[k].is_some() {
                    problems.push(Problem {
                        line,
                        column: Some(upper.clone()),
                        reason: "column named twice".into(),
                    });
                }
                at[k] = Some(i);
            }
        }
        if at[2].is_some() && at[3].is_some() {
            problems.push(Problem {
                line,
                column: Some("K".into()),
                reason: "both K and KI columns".into(),
            });
        }
        let k = at[2].or(at[3]);
        let mut need = |idx: Option<usize>, name: &str| {
            if idx.is_none() {
                problems.push(Problem {
                    line,
                    column: Some(name.into()),
                    reason: "required column missing".into(),
                });
            }
            idx
        };
        let cols = (
            need(at[0], "ICCID"),
            need(at[1], "IMSI"),
            need(k, "K"),
            need(at[4], "OPC"),
            need(at[5], "PIN1"),
            need(at[6], "PUK1"),
            need(at[7], "PIN2"),
            need(at[8], "PUK2"),
            need(at[9], "ADM1"),
        );
        let ota = [at[11], at[12], at[13]];
        let ota_count = ota.iter().filter(|o| o.is_some()).count();
        if ota_count != 0 && ota_count != 3 {
            problems.push(Problem {
                line,
                column: Some("KIC1/KID1/KIK1".into()),
                reason: "the OTA key columns must all be present or all absent".into(),
            });
        }
        match cols {
            (
                Some(iccid),
                Some(imsi),
                Some(k),
                Some(opc),
                Some(pin1),
                Some(puk1),
                Some(pin2),
                Some(puk2),
                Some(adm1),
            ) if problems.is_empty() => Ok(Columns {
                count,
                iccid,
                imsi,
                k,
                opc,
                pin1,
                puk1,
                pin2,
                puk2,
                adm1,
                msisdn: at[10],
                kic1: at[11],
                kid1: at[12],
                kik1: at[13],
            }),
            _ => {
                let total = problems.len() as u64;
                Err(BatchErrors {
                    problems,
                    total_problems: total,
                    bad_lines: 1,
                    report: None,
                })
            }
        }
    }

    /// Builds the record of one row whose field count has been checked.
    fn record(&self, fields: &[&str], line: u64) -> Result<PersonalisationRecord, Vec<Problem>> {
        let get = |i: usize| fields.get(i).copied().unwrap_or_default();
        let text = RecordText {
            iccid: get(self.iccid),
            imsi: get(self.imsi),
            k: get(self.k),
            opc: get(self.opc),
            pin1: get(self.pin1),
            puk1: get(self.puk1),
            pin2: get(self.pin2),
            puk2: get(self.puk2),
            adm1: get(self.adm1),
            msisdn: self.msisdn.map(get),
            kic1: self.kic1.map(get),
            kid1: self.kid1.map(get),
            kik1: self.kik1.map(get),
        };
        PersonalisationRecord::from_text(&text).map_err(|errs| {
            errs.into_iter()
                .map(|(column, reason)| Problem {
                    line,
                    column: Some(column.into()),
                    reason: reason.into(),
                })
                .collect()
        })
    }
}

/// One raw row: line number and fields, or a problem that makes the row unreadable.
pub(crate) enum RawRow<'a> {
    Fields { line: u64, fields: &'a [&'a str] },
    Bad(Problem),
}

/// A source of raw rows (one per format).
pub(crate) trait RowSource {
    /// The column map from the header.
    fn columns(&self) -> &Columns;
    /// Calls `f` with the next raw row; `Ok(false)` at the end of the file.
    fn next_row(&mut self, f: &mut dyn FnMut(RawRow<'_>)) -> Result<bool, Problem>;
    /// Problems found once the whole file is read (e.g. the `.out` Quantity check).
    fn finish(&mut self) -> Vec<Problem>;
    /// The declared quantity, if the format has one.
    fn declared_quantity(&self) -> Option<u64>;
}

/// Limits of the readers, so that no file makes them hold more than this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest record, bytes: a line, or for CSV the lines of a quoted field spanning several.
    pub max_record_bytes: usize,
}

impl Default for Limits {
    /// 64 KiB records (a card row is about 200 bytes).
    fn default() -> Self {
        Limits {
            max_record_bytes: 64 << 10,
        }
    }
}

fn open<'r, R: Read + 'r>(
    reader: R,
    format: BatchFormat,
    limits: &Limits,
) -> Result<Box<dyn RowSource + 'r>, BatchErrors> {
    let max = limits.max_record_bytes.max(1);
    Ok(match format {
        BatchFormat::Csv => Box::new(csv_file::CsvSource::new(BufReader::new(reader), max)?),
        BatchFormat::Out => Box::new(out_file::OutSource::new(BufReader::new(reader), max)?),
    })
}

/// Keys for duplicate detection: the ICCID without its check digit and the IMSI with its length, as integers.
fn iccid_key(iccid: &str) -> u64 {
    let body = &iccid[..iccid.len().saturating_sub(1)];
    body.bytes().fold(0u64, |acc, b| {
        acc.wrapping_mul(10).wrapping_add(u64::from(b - b'0'))
    })
}

fn imsi_key(imsi: &str) -> u64 {
    let v = imsi
        .bytes()
        .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
    v + (imsi.len() as u64) * 1_000_000_000_000_000
}

/// First pass of an import: reads the whole file as a stream and checks every row (fields, column count,
/// UTF-8, duplicate ICCIDs and IMSIs inside the file, `.out` Quantity). Refuses the file if anything is wrong,
/// listing the problems (the first [`MAX_DETAILED_PROBLEMS`] in detail).
pub fn validate_file<R: Read>(reader: R, format: BatchFormat) -> Result<Summary, BatchErrors> {
    validate_file_with(reader, format, &Limits::default(), &mut |_| {})
}

/// [`validate_file`] with another cap on detailed problems.
pub fn validate_file_capped<R: Read>(
    reader: R,
    format: BatchFormat,
    cap: usize,
) -> Result<Summary, BatchErrors> {
    validate(reader, format, &Limits::default(), cap, &mut |_| {})
}

/// [`validate_file`] with `limits`, handing every problem found (not only the detailed ones) to `every`, in
/// the order found.
pub fn validate_file_with<R: Read>(
    reader: R,
    format: BatchFormat,
    limits: &Limits,
    every: &mut dyn FnMut(&Problem),
) -> Result<Summary, BatchErrors> {
    validate(reader, format, limits, MAX_DETAILED_PROBLEMS, every)
}

fn validate<R: Read>(
    reader: R,
    format: BatchFormat,
    limits: &Limits,
    cap: usize,
    every: &mut dyn FnMut(&Problem),
) -> Result<Summary, BatchErrors> {
    let mut source = match open(reader, format, limits) {
        Ok(s) => s,
        Err(e) => {
            e.problems.iter().for_each(&mut *every);
            return Err(e);
        }
    };
    let columns = source.columns().clone();
    let mut found = Collector {
        cap,
        every,
        problems: Vec::new(),
        total: 0,
        bad_lines: Vec::new(),
    };
    let mut iccids: Vec<(u64, u64)> = Vec::new();
    let mut imsis: Vec<(u64, u64)> = Vec::new();
    let mut rows: u64 = 0;
    loop {
        let mut row_problems: Vec<Problem> = Vec::new();
        let more = source.next_row(&mut |raw| {
            rows += 1;
            match raw {
                RawRow::Bad(p) => row_problems.push(p),
                RawRow::Fields { line, fields } => match columns.record(fields, line) {
                    Ok(r) => {
                        iccids.push((iccid_key(&r.iccid), line));
                        imsis.push((imsi_key(&r.imsi), line));
                    }
                    Err(ps) => row_problems.extend(ps),
                },
            }
        });
        row_problems.into_iter().for_each(|p| found.note(p));
        match more {
            Ok(true) => {}
            Ok(false) => break,
            Err(fatal) => {
                found.note(fatal);
                break;
            }
        }
    }
    source.finish().into_iter().for_each(|p| found.note(p));
    for (list, column) in [(&mut iccids, "ICCID"), (&mut imsis, "IMSI")] {
        list.sort_unstable();
        let mut run_start = 0;
        for i in 1..list.len() {
            if list[i].0 != list[run_start].0 {
                run_start = i;
                continue;
            }
            // Sorted by key, then line: the run's first entry is the first occurrence.
            found.note(Problem {
                line: list[i].1,
                column: Some(column.into()),
                reason: format!("duplicate of line {}", list[run_start].1),
            });
        }
        list.clear();
        list.shrink_to_fit();
    }
    if rows == 0 && found.total == 0 {
        found.note(Problem::file(0, "no card rows"));
    }
    if found.total > 0 {
        let Collector {
            mut problems,
            total,
            mut bad_lines,
            ..
        } = found;
        // Every problem went to `every` as found; `problems` holds the first `cap` of them.
        problems.sort_by_key(|p| p.line);
        bad_lines.sort_unstable();
        bad_lines.dedup();
        return Err(BatchErrors {
            problems,
            total_problems: total,
            bad_lines: bad_lines.len() as u64,
            report: None,
        });
    }
    Ok(Summary {
        rows,
        has_msisdn: columns.msisdn.is_some(),
        has_ota_keys: columns.kic1.is_some(),
        declared_quantity: source.declared_quantity(),
    })
}

/// Problems gathered by [`validate_file`]: the first `cap` in detail, all counted and handed to `every`,
/// their lines.
struct Collector<'e> {
    cap: usize,
    every: &'e mut dyn FnMut(&Problem),
    problems: Vec<Problem>,
    total: u64,
    bad_lines: Vec<u64>,
}

impl Collector<'_> {
    fn note(&mut self, p: Problem) {
        (self.every)(&p);
        self.total += 1;
        if self.bad_lines.last() != Some(&p.line) {
            self.bad_lines.push(p.line);
        }
        if self.problems.len() < self.cap {
            self.problems.push(p);
        }
    }
}

/// Second pass of an import: the validated records, one at a time (run [`validate_file`] first; this pass
/// does not look for duplicates).
pub fn rows<'r, R: Read + 'r>(reader: R, format: BatchFormat) -> Result<Rows<'r>, BatchErrors> {
    rows_with(reader, format, &Limits::default())
}

/// [`rows`] with `limits`.
pub fn rows_with<'r, R: Read + 'r>(
    reader: R,
    format: BatchFormat,
    limits: &Limits,
) -> Result<Rows<'r>, BatchErrors> {
    Ok(Rows {
        source: open(reader, format, limits)?,
        done: false,
    })
}

/// Iterator over the records of an order file (see [`rows`]).
pub struct Rows<'r> {
    source: Box<dyn RowSource + 'r>,
    done: bool,
}

impl Iterator for Rows<'_> {
    type Item = Result<BatchRow, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let columns = self.source.columns().clone();
        let mut out = None;
        match self.source.next_row(&mut |raw| {
            out = Some(match raw {
                RawRow::Bad(p) => Err(p),
                RawRow::Fields { line, fields } => columns
                    .record(fields, line)
                    .map(|record| BatchRow { line, record })
                    .map_err(|mut ps| ps.remove(0)),
            })
        }) {
            Ok(true) => out,
            Ok(false) => {
                self.done = true;
                self.source.finish().into_iter().next().map(Err)
            }
            Err(p) => {
                self.done = true;
                Some(Err(p))
            }
        }
    }
}

fn not_utf8(line: u64) -> Problem {
    Problem::file(line, "not valid UTF-8")
}

fn wrong_count(line: u64, got: usize, want: usize) -> Problem {
    Problem::file(line, format!("{got} fields, the header names {want}"))
}

/// Reads one line into `buf` (cleared first); `Ok(false)` at the end of input. A line longer than `max` bytes
/// is a problem of the file at `line` (the rest of the file is not read), found without holding more than `max`
/// bytes.
fn read_line<B: BufRead>(
    r: &mut B,
    buf: &mut Vec<u8>,
    max: usize,
    line: u64,
) -> Result<bool, Problem> {
    buf.clear();
    append_line(r, buf, max, line)
}

/// Appends one line (up to and including its `\n`) to `buf`, which may then hold at most `max` bytes;
/// `Ok(false)` at the end of input with nothing appended.
fn append_line<B: BufRead>(
    r: &mut B,
    buf: &mut Vec<u8>,
    max: usize,
    line: u64,
) -> Result<bool, Problem> {
    let start = buf.len();
    loop {
        let available = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Problem::file(0, format!("read error: {}", e.kind()))),
        };
        if available.is_empty() {
            return Ok(buf.len() > start);
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + take > max {
            return Err(too_long(line, max));
        }
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

fn too_long(line: u64, max: usize) -> Problem {
    Problem::file(
        line,
        format!(
            "record longer than {max} bytes (limits.max_order_record_bytes; an unclosed quote makes a CSV record run on): the rest of the file is not read"
        ),
    )
}
