//! The SIM-vendor `.out` order file (peers-and-profiles notes §4): a `*HEADER DESCRIPTION` block of
//! `Key: value` lines (with `Quantity`), an `*INPUT VARIABLES` block, then `OUTPUT VARIABLES`, a `var_out:` line
//! naming the columns separated by `/`, and one whitespace-separated row per card.

use std::io::BufRead;

use super::{BatchErrors, Columns, Problem, RawRow, RowSource, not_utf8, read_line, wrong_count};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Start,
    Header,
    Input,
    Output,
    Other,
}

/// A `.out` file being read.
pub(crate) struct OutSource<B: BufRead> {
    reader: B,
    max_line: usize,
    buf: Vec<u8>,
    line: u64,
    columns: Columns,
    quantity: (u64, u64),
    rows: u64,
}

fn fatal(line: u64, reason: impl Into<String>) -> BatchErrors {
    BatchErrors::single(Problem::file(line, reason))
}

/// `*…*` lines (comments) and `*NAME` lines (section headers, upper-case letters, digits and spaces).
fn section_of(line: &str) -> Option<Option<Section>> {
    let rest = line.strip_prefix('*')?;
    if rest.chars().all(|c| c == '*') {
        return Some(None);
    }
    if !rest
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ' || c == '*')
    {
        return None;
    }
    Some(Some(match rest.trim_matches(|c| c == '*' || c == ' ') {
        "HEADER DESCRIPTION" => Section::Header,
        "INPUT VARIABLES" | "INPUT VARIABLES DESCRIPTION" => Section::Input,
        "OUTPUT VARIABLES" => Section::Output,
        _ => Section::Other,
    }))
}

impl<B: BufRead> OutSource<B> {
    /// Reads everything up to and including the `var_out:` line.
    pub(crate) fn new(mut reader: B, max_line: usize) -> Result<Self, BatchErrors> {
        let mut buf = Vec::new();
        let mut line = 0u64;
        let mut section = Section::Start;
        let mut quantity: Option<(u64, u64)> = None;
        let mut seen_content = false;
        loop {
            if !read_line(&mut reader, &mut buf, max_line, line + 1).map_err(BatchErrors::single)? {
                return Err(fatal(
                    0,
                    if seen_content {
                        "no var_out line naming the columns"
                    } else {
                        "empty file"
                    },
                ));
            }
            line += 1;
            let text =
                std::str::from_utf8(&buf).map_err(|_| BatchErrors::single(not_utf8(line)))?;
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            seen_content = true;
            if let Some(s) = section_of(text) {
                if let Some(s) = s {
                    section = s;
                }
                continue;
            }
            if text == "OUTPUT VARIABLES" {
                section = Section::Output;
                continue;
            }
            match section {
                Section::Start => {
                    return Err(fatal(
                        line,
                        "not an .out file: no *HEADER DESCRIPTION block first",
                    ));
                }
                Section::Header => {
                    let Some((key, value)) = text.split_once(':') else {
                        return Err(fatal(line, "header line is not 'Key: value'"));
                    };
                    if key.trim().eq_ignore_ascii_case("Quantity") {
                        let q = value
                            .trim()
                            .parse::<u64>()
                            .map_err(|_| fatal(line, "Quantity is not a number"))?;
                        quantity = Some((q, line));
                    }
                }
                Section::Input | Section::Other => {}
                Section::Output => {
                    // `var_out:`, in any case, with or without spaces around the colon.
                    let Some(names) = text
                        .split_once(':')
                        .filter(|(key, _)| key.trim().eq_ignore_ascii_case("var_out"))
                        .map(|(_, names)| names)
                    else {
                        return Err(fatal(
                            line,
                            "expected the var_out line naming the columns ('var_out: ICCID/IMSI/…') before the card rows",
                        ));
                    };
                    let Some(quantity) = quantity else {
                        return Err(fatal(0, "the header has no Quantity"));
                    };
                    let columns = Columns::from_names(names.split('/'), line)?;
                    return Ok(OutSource {
                        reader,
                        max_line,
                        buf,
                        line,
                        columns,
                        quantity,
                        rows: 0,
                    });
                }
            }
        }
    }
}

impl<B: BufRead> RowSource for OutSource<B> {
    fn columns(&self) -> &Columns {
        &self.columns
    }

    fn next_row(&mut self, f: &mut dyn FnMut(RawRow<'_>)) -> Result<bool, Problem> {
        loop {
            if !read_line(
                &mut self.reader,
                &mut self.buf,
                self.max_line,
                self.line + 1,
            )? {
                return Ok(false);
            }
            self.line += 1;
            let line = self.line;
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                self.rows += 1;
                f(RawRow::Bad(not_utf8(line)));
                return Ok(true);
            };
            if text.trim().is_empty() {
                continue;
            }
            self.rows += 1;
            let fields: Vec<&str> = text.split_whitespace().collect();
            if fields.len() != self.columns.count {
                f(RawRow::Bad(wrong_count(
                    line,
                    fields.len(),
                    self.columns.count,
                )));
            } else {
                f(RawRow::Fields {
                    line,
                    fields: &fields,
                });
            }
            return Ok(true);
        }
    }

    fn finish(&mut self) -> Vec<Problem> {
        let (declared, line) = self.quantity;
        if declared == self.rows {
            return Vec::new();
        }
        vec![Problem {
            line,
            column: Some("Quantity".into()),
            reason: format!("declares {declared} cards, the file has {} rows", self.rows),
        }]
    }

    fn declared_quantity(&self) -> Option<u64> {
        Some(self.quantity.0)
    }
}
