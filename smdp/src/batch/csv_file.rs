//! CSV order files (RFC 4180: comma-separated, `"` quoting with `""` escapes, quoted fields may span lines) with a
//! header row, read line by line with exact line numbers. Whitespace around fields is ignored, blank lines are
//! skipped, a UTF-8 byte order mark before the header is dropped.
//!
//! Reading is linear in the file: each byte is looked at a bounded number of times (whether a quoted field is
//! still open is kept as a parity updated with each new line, not recounted over the record), and a record
//! (one line, or several while a quote is open) longer than the limit stops the file with a clear problem
//! instead of growing without bound.

use std::io::BufRead;
use std::ops::Range;

use super::{BatchErrors, Columns, Problem, RawRow, RowSource, append_line, not_utf8, wrong_count};

/// A CSV file being read.
pub(crate) struct CsvSource<B: BufRead> {
    reader: B,
    max_record: usize,
    /// Bytes looked at by the quote-parity scan (a test checks that it stays linear).
    scanned: u64,
    buf: Vec<u8>,
    line: u64,
    columns: Columns,
    text: String,
    bounds: Vec<Range<usize>>,
}

/// Splits one record into fields (unquoted, trimmed) written to `text`, with their ranges in `bounds`.
fn split_record(
    record: &str,
    text: &mut String,
    bounds: &mut Vec<Range<usize>>,
) -> Result<(), &'static str> {
    text.clear();
    bounds.clear();
    let record = record.trim_end_matches(['\n', '\r']);
    if !record.contains('"') {
        // Fast path: no quoting, the fields are the comma-separated pieces, trimmed.
        text.push_str(record);
        let mut at = 0;
        for piece in record.split(',') {
            let lead = piece.len() - piece.trim_start_matches([' ', '\t']).len();
            let value = piece.trim_matches([' ', '\t']);
            bounds.push(at + lead..at + lead + value.len());
            at += piece.len() + 1;
        }
        return Ok(());
    }
    let mut chars = record.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let start = text.len();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => text.push('"'),
                    Some('"') => break,
                    Some(c) => text.push(c),
                    None => return Err("unterminated quoted field"),
                }
            }
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            bounds.push(start..text.len());
            match chars.next() {
                Some(',') => continue,
                None => return Ok(()),
                Some(_) => return Err("text after a closing quote"),
            }
        }
        let mut end = start;
        let mut more = false;
        loop {
            match chars.next() {
                Some(',') => {
                    more = true;
                    break;
                }
                None => break,
                Some('"') => return Err("quote inside an unquoted field"),
                Some(c) => {
                    text.push(c);
                    if c != ' ' && c != '\t' {
                        end = text.len();
                    }
                }
            }
        }
        text.truncate(end);
        bounds.push(start..end);
        if !more {
            return Ok(());
        }
    }
}

impl<B: BufRead> CsvSource<B> {
    /// Reads the header row.
    pub(crate) fn new(reader: B, max_record: usize) -> Result<Self, BatchErrors> {
        let mut source = CsvSource {
            reader,
            max_record,
            scanned: 0,
            buf: Vec::new(),
            line: 0,
            columns: Columns::default(),
            text: String::new(),
            bounds: Vec::new(),
        };
        let Some(line) = source.next_record().map_err(BatchErrors::single)? else {
            return Err(BatchErrors::single(Problem::file(0, "empty file")));
        };
        let bytes = source
            .buf
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&source.buf);
        let header = std::str::from_utf8(bytes).map_err(|_| BatchErrors::single(not_utf8(line)))?;
        split_record(header, &mut source.text, &mut source.bounds)
            .map_err(|reason| BatchErrors::single(Problem::file(line, reason)))?;
        let names = source.bounds.iter().map(|r| &source.text[r.clone()]);
        source.columns = Columns::from_names(names, line)?;
        Ok(source)
    }

    /// Reads the next non-blank record (one line, or more while a quoted field is open) into `buf`; returns
    /// the line number of its first line.
    fn next_record(&mut self) -> Result<Option<u64>, Problem> {
        self.buf.clear();
        let first = loop {
            if !append_line(
                &mut self.reader,
                &mut self.buf,
                self.max_record,
                self.line + 1,
            )? {
                return Ok(None);
            }
            self.line += 1;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                self.buf.clear();
                continue;
            }
            break self.line;
        };
        // Quotes seen so far in the record: odd while a quoted field is open. Only the new line is scanned.
        let mut scanned_to = 0;
        let mut open = false;
        loop {
            let new = &self.buf[scanned_to..];
            self.scanned += new.len() as u64;
            open ^= new.iter().filter(|b| **b == b'"').count() % 2 == 1;
            scanned_to = self.buf.len();
            if !open || !append_line(&mut self.reader, &mut self.buf, self.max_record, first)? {
                break;
            }
            self.line += 1;
        }
        Ok(Some(first))
    }
}

impl<B: BufRead> CsvSource<B> {
    /// Bytes the quote-parity scan has looked at so far.
    #[cfg(test)]
    fn scanned(&self) -> u64 {
        self.scanned
    }
}

impl<B: BufRead> RowSource for CsvSource<B> {
    fn columns(&self) -> &Columns {
        &self.columns
    }

    fn next_row(&mut self, f: &mut dyn FnMut(RawRow<'_>)) -> Result<bool, Problem> {
        let Some(line) = self.next_record()? else {
            return Ok(false);
        };
        let Ok(record) = std::str::from_utf8(&self.buf) else {
            f(RawRow::Bad(not_utf8(line)));
            return Ok(true);
        };
        if let Err(reason) = split_record(record, &mut self.text, &mut self.bounds) {
            f(RawRow::Bad(Problem::file(line, reason)));
            return Ok(true);
        }
        if self.bounds.len() != self.columns.count {
            f(RawRow::Bad(wrong_count(
                line,
                self.bounds.len(),
                self.columns.count,
            )));
            return Ok(true);
        }
        let fields: Vec<&str> = self.bounds.iter().map(|r| &self.text[r.clone()]).collect();
        f(RawRow::Fields {
            line,
            fields: &fields,
        });
        Ok(true)
    }

    fn finish(&mut self) -> Vec<Problem> {
        Vec::new()
    }

    fn declared_quantity(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Result<Vec<String>, &'static str> {
        let (mut text, mut bounds) = (String::new(), Vec::new());
        split_record(s, &mut text, &mut bounds)?;
        Ok(bounds.iter().map(|r| text[r.clone()].to_string()).collect())
    }

    /// A stray quote near the start of a 10 MB file keeps a quoted field open to the end: each byte is scanned
    /// once (a rescan per line, as before, looked at ~5·10¹¹ bytes and took minutes), and the file ends with
    /// an unterminated field.
    #[test]
    fn stray_quote_is_read_in_linear_time() {
        let header = "ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1\n";
        let row = "89490000000000000001,262010000000001,000102030405060708090A0B0C0D0E0F,000102030405060708090A0B0C0D0E0F,1234,12345678,1234,12345678,12345678\n";
        let mut file = String::from(header);
        file.push_str(&row.replacen(',', ",\"", 1));
        while file.len() < 10 << 20 {
            file.push_str(row);
        }
        let mut source = CsvSource::new(std::io::Cursor::new(file.as_bytes()), 32 << 20).unwrap();
        let mut bad = Vec::new();
        while source
            .next_row(&mut |r| {
                if let RawRow::Bad(p) = r {
                    bad.push(p)
                }
            })
            .unwrap()
        {}
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].line, 2);
        assert!(bad[0].reason.contains("unterminated"), "{bad:?}");
        assert!(
            source.scanned() <= file.len() as u64,
            "{} bytes scanned for a file of {}",
            source.scanned(),
            file.len()
        );
    }

    /// A record longer than the limit stops the file without being held whole: one long line, and a quoted
    /// field running on over many lines.
    #[test]
    fn records_longer_than_the_limit_are_refused() {
        let header = "ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1\n";
        let long_line = format!("{header}{}\n", "1".repeat(100_000));
        let mut source = CsvSource::new(std::io::Cursor::new(long_line.as_bytes()), 1024).unwrap();
        let e = source.next_row(&mut |_| {}).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("longer than 1024 bytes"), "{e}");
        let spanning = format!("{header}\"x{}\n", "\n".repeat(5000));
        let mut source = CsvSource::new(std::io::Cursor::new(spanning.as_bytes()), 1024).unwrap();
        let e = source.next_row(&mut |_| {}).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(source.buf.len() <= 1024);
    }

    #[test]
    fn fields_quotes_and_whitespace() {
        assert_eq!(split("a,b,c\r\n").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split(" a , \"b, \"\"q\"\"\" ,c").unwrap(),
            ["a", "b, \"q\"", "c"]
        );
        assert_eq!(split("a,,\n").unwrap(), ["a", "", ""]);
        assert_eq!(split("\"x\ny\",z\n").unwrap(), ["x\ny", "z"]);
        assert_eq!(split("a b,c").unwrap(), ["a b", "c"]);
        assert_eq!(split("\"a\",").unwrap(), ["a", ""]);
        assert_eq!(split("").unwrap(), [""]);
        assert!(split("\"a\"b,c").is_err());
        assert!(split("a\"b,c").is_err());
        assert!(split("\"ab,c").is_err());
    }
}
