//! SMPP 3.4 §3.1 parameter types (Integer, C-Octet String, Octet String) read from and written to PDU bodies.

use super::PduError;

/// Reads SMPP 3.4 §3.1 parameter types from one PDU, tracking the offset for error messages.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    command: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over a whole PDU positioned at `pos` (16 after the header).
    pub(crate) fn new(buf: &'a [u8], pos: usize, command: &'static str) -> Self {
        Reader { buf, pos, command }
    }

    pub(crate) fn command(&self) -> &'static str {
        self.command
    }

    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn octets(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], PduError> {
        if self.remaining() < n {
            return Err(PduError::UnexpectedEnd {
                command: self.command,
                field,
                offset: self.pos,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, PduError> {
        Ok(self.octets(field, 1)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, PduError> {
        let b = self.octets(field, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A C-Octet String of at most `max` octets including its NUL (§3.1).
    pub(crate) fn c_octet_string(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<String, PduError> {
        let start = self.pos;
        let rest = &self.buf[start.min(self.buf.len())..];
        if rest.is_empty() {
            return Err(PduError::UnexpectedEnd {
                command: self.command,
                field,
                offset: start,
            });
        }
        let window = &rest[..rest.len().min(max)];
        let Some(nul) = window.iter().position(|&b| b == 0) else {
            return Err(PduError::Unterminated {
                command: self.command,
                field,
                offset: start,
                max,
            });
        };
        let text = &window[..nul];
        if !text.is_ascii() {
            return Err(PduError::NotAscii {
                command: self.command,
                field,
                offset: start,
            });
        }
        self.pos = start + nul + 1;
        // ASCII is valid UTF-8.
        Ok(text.iter().map(|&b| b as char).collect())
    }
}

/// Appends a C-Octet String of at most `max` octets including its NUL (§3.1).
pub(crate) fn put_c_octet_string(
    out: &mut Vec<u8>,
    command: &'static str,
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), PduError> {
    check_c_octet_string(command, field, value, max)?;
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    Ok(())
}

/// Checks a C-Octet String value without writing it: ASCII, no NUL, at most `max - 1` characters (§3.1).
pub(crate) fn check_c_octet_string(
    command: &'static str,
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), PduError> {
    if !value.is_ascii() {
        return Err(PduError::NotAscii {
            command,
            field,
            offset: 0,
        });
    }
    if value.as_bytes().contains(&0) {
        return Err(PduError::ContainsNul { command, field });
    }
    if value.len() + 1 > max {
        return Err(PduError::TooLong {
            command,
            field,
            len: value.len() + 1,
            max,
        });
    }
    Ok(())
}
