//! A 1,000,000-row order file, generated on the fly through a reader (never written to disk), is validated
//! as a stream: peak memory grows by far less than the file's size. Alone in its test binary so that the
//! process's peak resident set measures this test only.

use std::io::Read;

use smdp::batch::{self, BatchFormat};

const ROWS: u64 = 1_000_000;

/// Produces a CSV order file row by row.
struct Generated {
    next: u64,
    line: Vec<u8>,
    pos: usize,
    produced: u64,
}

fn luhn(body: &str) -> u32 {
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap_or(0);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

impl Generated {
    fn new() -> Self {
        Generated {
            next: 0,
            line: b"ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1,MSISDN,KIC1,KID1,KIK1\n".to_vec(),
            pos: 0,
            produced: 0,
        }
    }
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.line.len() {
            if self.next == ROWS {
                return Ok(0);
            }
            let i = self.next;
            self.next += 1;
            let body = format!("8944{i:015}");
            self.line = format!(
                "{body}{},00101{i:010},{i:032X},{:032X},1234,12345678,5678,87654321,12345678,4477{i:08},{:032X},{:032X},{:032X}\n",
                luhn(&body),
                i ^ 0xFFFF,
                i + 1,
                i + 2,
                i + 3,
            )
            .into_bytes();
            self.pos = 0;
        }
        let n = out.len().min(self.line.len() - self.pos);
        out[..n].copy_from_slice(&self.line[self.pos..self.pos + n]);
        self.pos += n;
        self.produced += n as u64;
        Ok(n)
    }
}

/// Peak resident set size of this process, in kB (Linux `/proc/self/status` `VmHWM`).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_million_rows_validate_with_flat_memory() {
    let before = peak_rss_kb();
    let mut file = Generated::new();
    let summary = batch::validate_file(&mut file, BatchFormat::Csv).unwrap();
    let grown_mb = (peak_rss_kb() - before) / 1024;
    let file_mb = file.produced / (1 << 20);
    println!(
        "validated {} rows ({file_mb} MB); peak memory grew by {grown_mb} MB",
        summary.rows
    );
    assert_eq!(summary.rows, ROWS);
    assert!(summary.has_ota_keys && summary.has_msisdn);
    assert!(file_mb > 200, "the generated file is {file_mb} MB");
    // The duplicate index needs 32 bytes per row (about 31 MB here, 2x while a vector grows); nothing
    // else grows with the file.
    assert!(
        grown_mb < 96,
        "peak memory grew by {grown_mb} MB for a {file_mb} MB file"
    );
}
