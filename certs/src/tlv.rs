//! Minimal BER-TLV (ISO/IEC 8825-1 §8.1; GP Card Specification Annex B) for the GP certificate tags of
//! wire-profile §6: one- and two-byte tags, definite lengths in short form or `81 xx` / `82 xxxx`.

/// A malformed BER-TLV, with the byte offset where decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The input ends inside a tag, a length or a value.
    #[error("truncated TLV at offset {offset}")]
    Truncated {
        /// Offset of the TLV that is cut short.
        offset: usize,
    },
    /// A tag longer than two bytes, an indefinite length or a length form longer than `82 xxxx`.
    #[error("unsupported TLV encoding at offset {offset}: {reason}")]
    Unsupported {
        /// Offset of the offending byte.
        offset: usize,
        /// What was found.
        reason: &'static str,
    },
}

/// One decoded TLV borrowing its value from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag, one byte (`93`) or two (`7F21`).
    pub tag: u16,
    /// The value bytes.
    pub value: &'a [u8],
    /// Offset of the tag within the outermost input (for error messages).
    pub offset: usize,
}

/// Appends `tag ‖ BER length ‖ value` to `out` (ISO/IEC 8825-1 §8.1.3 definite form, shortest encoding).
pub fn encode(tag: u16, value: &[u8], out: &mut Vec<u8>) {
    if tag > 0xFF {
        out.extend_from_slice(&tag.to_be_bytes());
    } else {
        out.push(tag as u8);
    }
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}

/// Reads consecutive TLVs from `input`, whose first byte is at `base` in the outermost input.
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `input` (whose offset in the outermost input is `base`).
    pub fn new(input: &'a [u8], base: usize) -> Self {
        Reader {
            input,
            pos: 0,
            base,
        }
    }

    /// Whether all input has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Offset (in the outermost input) of the next byte to read.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The tag of the next TLV without consuming it.
    pub fn peek_tag(&self) -> Option<u16> {
        let first = *self.input.get(self.pos)?;
        if first & 0x1F == 0x1F {
            let second = *self.input.get(self.pos + 1)?;
            Some(u16::from_be_bytes([first, second]))
        } else {
            Some(u16::from(first))
        }
    }

    /// Reads the next TLV.
    pub fn next_tlv(&mut self) -> Result<Tlv<'a>, TlvError> {
        let start = self.pos;
        let offset = self.base + start;
        let byte = |i: usize| -> Result<u8, TlvError> {
            self.input
                .get(i)
                .copied()
                .ok_or(TlvError::Truncated { offset })
        };
        let first = byte(start)?;
        let mut p = start + 1;
        let tag = if first & 0x1F == 0x1F {
            let second = byte(p)?;
            if second & 0x80 != 0 {
                return Err(TlvError::Unsupported {
                    offset: self.base + p,
                    reason: "tag longer than two bytes",
                });
            }
            p += 1;
            u16::from_be_bytes([first, second])
        } else {
            u16::from(first)
        };
        let l0 = byte(p)?;
        p += 1;
        let len = match l0 {
            0x00..=0x7F => usize::from(l0),
            0x81 => {
                let l = byte(p)?;
                p += 1;
                if l < 0x80 {
                    return Err(TlvError::Unsupported {
                        offset: self.base + p - 2,
                        reason: "non-minimal length 81 xx below 128",
                    });
                }
                usize::from(l)
            }
            0x82 => {
                let l = u16::from_be_bytes([byte(p)?, byte(p + 1)?]);
                p += 2;
                if l < 0x100 {
                    return Err(TlvError::Unsupported {
                        offset: self.base + p - 3,
                        reason: "non-minimal length 82 xxxx below 256",
                    });
                }
                usize::from(l)
            }
            _ => {
                return Err(TlvError::Unsupported {
                    offset: self.base + p - 1,
                    reason: "indefinite or over-long length",
                });
            }
        };
        let end = p.checked_add(len).ok_or(TlvError::Truncated { offset })?;
        let value = self
            .input
            .get(p..end)
            .ok_or(TlvError::Truncated { offset })?;
        self.pos = end;
        Ok(Tlv { tag, value, offset })
    }

    /// The offset in the outermost input of the value of a TLV read from this reader.
    pub fn value_offset(&self, tlv: &Tlv<'_>) -> usize {
        // The value ends where the reader now stands.
        self.base + self.pos - tlv.value.len()
    }
}
