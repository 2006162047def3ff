//! CSV order files (RFC 4180) with a header row, read record by record.

use std::io::Read;

use super::{BatchErrors, Columns, Problem, RawRow, RowSource, not_utf8, wrong_count};

/// A CSV file being read.
pub(crate) struct CsvSource<R: Read> {
    reader: csv::Reader<R>,
    record: csv::ByteRecord,
    columns: Columns,
}

fn csv_problem(e: &csv::Error) -> Problem {
    let line = e.position().map_or(0, csv::Position::line);
    let reason = match e.kind() {
        csv::ErrorKind::Io(io) => format!("read error: {}", io.kind()),
        _ => "malformed CSV".to_string(),
    };
    Problem::file(line, reason)
}

impl<R: Read> CsvSource<R> {
    /// Reads the header row.
    pub(crate) fn new(reader: R) -> Result<Self, BatchErrors> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let mut record = csv::ByteRecord::new();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Err(BatchErrors::single(Problem::file(0, "empty file"))),
            Err(e) => return Err(BatchErrors::single(csv_problem(&e))),
        }
        let line = record.position().map_or(1, csv::Position::line);
        let mut names = Vec::with_capacity(record.len());
        for (i, field) in record.iter().enumerate() {
            let field = if i == 0 {
                field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
            } else {
                field
            };
            match std::str::from_utf8(field) {
                Ok(s) => names.push(s),
                Err(_) => return Err(BatchErrors::single(not_utf8(line))),
            }
        }
        let columns = Columns::from_names(names.into_iter(), line)?;
        Ok(CsvSource {
            reader,
            record,
            columns,
        })
    }
}

impl<R: Read> RowSource for CsvSource<R> {
    fn columns(&self) -> &Columns {
        &self.columns
    }

    fn next_row(&mut self, f: &mut dyn FnMut(RawRow<'_>)) -> Result<bool, Problem> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => Ok(false),
            Err(e) => Err(csv_problem(&e)),
            Ok(true) => {
                let line = self.record.position().map_or(0, csv::Position::line);
                if self.record.len() != self.columns.count {
                    f(RawRow::Bad(wrong_count(
                        line,
                        self.record.len(),
                        self.columns.count,
                    )));
                    return Ok(true);
                }
                let mut fields = Vec::with_capacity(self.record.len());
                for b in self.record.iter() {
                    match std::str::from_utf8(b) {
                        Ok(s) => fields.push(s),
                        Err(_) => {
                            f(RawRow::Bad(not_utf8(line)));
                            return Ok(true);
                        }
                    }
                }
                f(RawRow::Fields {
                    line,
                    fields: &fields,
                });
                Ok(true)
            }
        }
    }

    fn finish(&mut self) -> Vec<Problem> {
        Vec::new()
    }

    fn declared_quantity(&self) -> Option<u64> {
        None
    }
}
