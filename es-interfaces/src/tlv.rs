//! BER-TLV (ISO/IEC 7816-4 §5.2, ETSI TS 101 220 §7.1) and GlobalPlatform DGI TLV (GP Card Specification
//! §11.11.3.2), as used on ES5 and ES8 (wire-profile §2, §4, §5).
//!
//! BER-TLV: tags of 1–3 bytes, definite lengths `xx` (< 128), `81 xx`, `82 xxxx`; the indefinite form
//! `80 … 00 00` is accepted by [`parse_indefinite`] only (for expanded remote scripts, ETSI TS 102 226 §5.2).
//! DGI: 2-byte tag, length one byte up to 254, else `FF` and two bytes. Encoders always write the shortest
//! length; parsers refuse truncated input, trailing bytes and lengths beyond 65535. BER parsing goes through the
//! workspace's one reader (`certs::tlv::Reader`, `Rules::BER`), which limits nesting to [`MAX_DEPTH`] levels.

/// Errors of the TLV codecs: the workspace's one TLV error (offsets from the start of the buffer handed to
/// the parser), defined with the one reader in `certs::tlv`.
pub use certs::tlv::{MAX_DEPTH, TlvError};

use certs::tlv::{Reader, Rules};

/// A BER-TLV tag of 1–3 bytes (ISO/IEC 7816-4 §5.2.2.1), held as its big-endian value (`0x9F70`, `0x4F`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(u32);

impl Tag {
    /// A tag from its big-endian value, checked for a valid 1–3 byte BER encoding (ISO/IEC 7816-4 §5.2.2.1).
    pub fn new(value: u32) -> Result<Tag, TlvError> {
        let tag = Tag(value);
        let bytes = tag.to_bytes();
        let invalid = || TlvError::InvalidTag { tag: value };
        if value == 0 {
            return Err(invalid());
        }
        let first = *bytes.first().ok_or_else(invalid)?;
        match bytes.len() {
            1 if first & 0x1F != 0x1F => Ok(tag),
            n if n > 1 && first & 0x1F == 0x1F => {
                let (last, middle) = bytes[1..].split_last().ok_or_else(invalid)?;
                if last & 0x80 == 0 && middle.iter().all(|b| b & 0x80 != 0) {
                    Ok(tag)
                } else {
                    Err(invalid())
                }
            }
            _ => Err(invalid()),
        }
    }

    /// A one-byte tag known at compile time; not checked (ISO/IEC 7816-4 §5.2.2.1).
    pub const fn byte(value: u8) -> Tag {
        Tag(value as u32)
    }

    /// A two-byte tag known at compile time; not checked (ISO/IEC 7816-4 §5.2.2.1).
    pub const fn two(value: u16) -> Tag {
        Tag(value as u32)
    }

    /// The big-endian value of the tag (ISO/IEC 7816-4 §5.2.2.1).
    pub fn value(self) -> u32 {
        self.0
    }

    /// Whether the constructed bit (b6 of the first byte) is set (ISO/IEC 7816-4 §5.2.2.1).
    pub fn is_constructed(self) -> bool {
        self.to_bytes().first().is_some_and(|b| b & 0x20 != 0)
    }

    /// The encoded tag bytes (1–3; a zero tag encodes as one `00` byte) (ISO/IEC 7816-4 §5.2.2.1).
    pub fn to_bytes(self) -> Vec<u8> {
        let b = self.0.to_be_bytes();
        let skip = b.iter().take(3).take_while(|x| **x == 0).count();
        b[skip..].to_vec()
    }
}

impl core::fmt::Display for Tag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.to_bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// One parsed BER-TLV element borrowing its value from the input (ISO/IEC 7816-4 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value bytes (for an indefinite element: the contents without the end-of-contents).
    pub value: &'a [u8],
    /// Offset of the tag in the parsed buffer.
    pub offset: usize,
    /// Offset of the first value byte in the parsed buffer.
    pub value_offset: usize,
    /// Nesting level (1 for an outermost element), for the depth limit.
    depth: usize,
}

impl<'a> Tlv<'a> {
    /// Parses the value of this (constructed) element as a sequence of definite BER-TLVs, offsets relative to the
    /// outer buffer, one level deeper ([`TlvError::TooDeep`] past [`MAX_DEPTH`]) (ISO/IEC 7816-4 §5.2.5).
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, TlvError> {
        read_all(Reader::nested(
            self.value,
            self.value_offset,
            Rules::BER,
            self.depth + 1,
        )?)
    }

    fn from_read(t: certs::tlv::Tlv<'a>) -> Self {
        Tlv {
            tag: Tag(t.tag()),
            value: t.value,
            offset: t.offset,
            value_offset: t.value_offset,
            depth: t.depth,
        }
    }
}

fn read_all(reader: Reader<'_>) -> Result<Vec<Tlv<'_>>, TlvError> {
    Ok(reader.read_all()?.into_iter().map(Tlv::from_read).collect())
}

/// Appends the BER definite length of `len` (`xx`, `81 xx`, `82 xxxx`) (ISO/IEC 7816-4 §5.2.2.2).
pub fn encode_length(len: usize, out: &mut Vec<u8>) -> Result<(), TlvError> {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => {
            out.push(0x82);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => return Err(TlvError::ValueTooLong { len }),
    }
    Ok(())
}

/// Appends the BER-TLV `tag | length | value` to `out` (ISO/IEC 7816-4 §5.2).
pub fn encode_into(tag: Tag, value: &[u8], out: &mut Vec<u8>) -> Result<(), TlvError> {
    out.extend_from_slice(&tag.to_bytes());
    encode_length(value.len(), out)?;
    out.extend_from_slice(value);
    Ok(())
}

/// The BER-TLV `tag | length | value` as a new buffer (ISO/IEC 7816-4 §5.2).
pub fn encode(tag: Tag, value: &[u8]) -> Result<Vec<u8>, TlvError> {
    let mut out = Vec::with_capacity(value.len() + 5);
    encode_into(tag, value, &mut out)?;
    Ok(out)
}

fn need(input: &[u8], at: usize, n: usize) -> Result<(), TlvError> {
    let available = input.len().saturating_sub(at);
    if available < n {
        Err(TlvError::Truncated {
            offset: at,
            needed: n,
            available,
        })
    } else {
        Ok(())
    }
}

/// Parses the first definite BER-TLV of `input`; returns it and the remaining bytes (ISO/IEC 7816-4 §5.2).
pub fn parse_first(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), TlvError> {
    let mut reader = Reader::new(input, 0, Rules::BER);
    let tlv = reader.read()?;
    Ok((Tlv::from_read(tlv), &input[reader.offset()..]))
}

/// Parses `input` as exactly one definite BER-TLV; trailing bytes are an error (ISO/IEC 7816-4 §5.2).
pub fn parse_single(input: &[u8]) -> Result<Tlv<'_>, TlvError> {
    Reader::new(input, 0, Rules::BER)
        .single()
        .map(Tlv::from_read)
}

/// Parses `input` as exactly one BER-TLV that may use the indefinite form `80 … 00 00` at any level, nested at
/// most [`MAX_DEPTH`] levels (ETSI TS 102 226 §5.2.1); the returned value excludes the end-of-contents.
pub fn parse_indefinite(input: &[u8]) -> Result<Tlv<'_>, TlvError> {
    Reader::new(input, 0, Rules::BER.with_indefinite())
        .single()
        .map(Tlv::from_read)
}

/// Parses `input` as a sequence of definite BER-TLVs covering it exactly (ISO/IEC 7816-4 §5.2).
pub fn parse_all(input: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    read_all(Reader::new(input, 0, Rules::BER))
}

/// Parses a sequence of BER-TLVs of which some may use the indefinite form (ETSI TS 102 226 §5.2.1).
pub fn parse_all_indefinite(input: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    read_all(Reader::new(input, 0, Rules::BER.with_indefinite()))
}

/// One parsed GlobalPlatform DGI element borrowing its value (GP Card Specification §11.11.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dgi<'a> {
    /// The 2-byte DGI tag (`3A03`).
    pub tag: u16,
    /// The value bytes.
    pub value: &'a [u8],
    /// Offset of the tag in the parsed buffer.
    pub offset: usize,
}

/// Appends the DGI length: one byte up to 254, else `FF` and two bytes (GP Card Specification §11.11.3.2).
pub fn encode_dgi_length(len: usize, out: &mut Vec<u8>) -> Result<(), TlvError> {
    match len {
        0..=0xFE => out.push(len as u8),
        0xFF..=0xFFFF => {
            out.push(0xFF);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => return Err(TlvError::ValueTooLong { len }),
    }
    Ok(())
}

/// The DGI `tag(2) | length | value` as a new buffer (GP Card Specification §11.11.3.2).
pub fn encode_dgi(tag: u16, value: &[u8]) -> Result<Vec<u8>, TlvError> {
    let mut out = Vec::with_capacity(value.len() + 5);
    out.extend_from_slice(&tag.to_be_bytes());
    encode_dgi_length(value.len(), &mut out)?;
    out.extend_from_slice(value);
    Ok(out)
}

fn parse_dgi_at(input: &[u8], pos: usize) -> Result<(Dgi<'_>, usize), TlvError> {
    need(input, pos, 3)?;
    let tag = u16::from_be_bytes([input[pos], input[pos + 1]]);
    let (len, p) = if input[pos + 2] == 0xFF {
        need(input, pos + 3, 2)?;
        (
            usize::from(u16::from_be_bytes([input[pos + 3], input[pos + 4]])),
            pos + 5,
        )
    } else {
        (usize::from(input[pos + 2]), pos + 3)
    };
    need(input, p, len)?;
    Ok((
        Dgi {
            tag,
            value: &input[p..p + len],
            offset: pos,
        },
        p + len,
    ))
}

/// Parses `input` as exactly one DGI element (GP Card Specification §11.11.3.2).
pub fn parse_dgi(input: &[u8]) -> Result<Dgi<'_>, TlvError> {
    let (dgi, end) = parse_dgi_at(input, 0)?;
    if end != input.len() {
        return Err(TlvError::TrailingBytes {
            offset: end,
            count: input.len() - end,
        });
    }
    Ok(dgi)
}

/// Parses `input` as a sequence of DGI elements covering it exactly (GP Card Specification §11.11.3.2).
pub fn parse_dgis(input: &[u8]) -> Result<Vec<Dgi<'_>>, TlvError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let (dgi, end) = parse_dgi_at(input, pos)?;
        out.push(dgi);
        pos = end;
    }
    Ok(out)
}
