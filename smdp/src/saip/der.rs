//! A minimal DER reader and writer (ITU-T X.690 §8 and §10) for the TCA profile package. Reading goes through
//! the workspace's one TLV reader (`certs::tlv::Reader` with `Rules::DER`), which checks the forms, the nesting
//! depth and the offsets; this module adds the class/number view of tags and the DER faults.
//!
//! Only what DER allows is accepted: definite lengths in their shortest form, tag numbers in their shortest
//! form, and non-negative INTEGERs in their shortest two's-complement form. Because DER has exactly one
//! encoding per value, a value decoded by this reader and written back by this writer gives the same bytes.

use std::fmt;

use certs::tlv::{self as ber, Rules, TlvError};

/// The class of a tag (X.690 §8.1.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// UNIVERSAL (`00`).
    Universal,
    /// APPLICATION (`01`).
    Application,
    /// Context-specific (`10`).
    Context,
    /// PRIVATE (`11`).
    Private,
}

/// A BER/DER identifier: class, primitive or constructed, and tag number (X.690 §8.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tag {
    /// The tag class.
    pub class: Class,
    /// Whether the encoding is constructed (bit 6 of the first identifier octet).
    pub constructed: bool,
    /// The tag number.
    pub number: u32,
}

impl Tag {
    /// UNIVERSAL 16, constructed: SEQUENCE and SEQUENCE OF (X.690 §8.9).
    pub const SEQUENCE: Tag = Tag {
        class: Class::Universal,
        constructed: true,
        number: 16,
    };

    /// A primitive context-specific tag `[n]` (X.680 §31.2).
    pub const fn context(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: false,
            number,
        }
    }

    /// A constructed context-specific tag `[n]` (X.680 §31.2).
    pub const fn context_constructed(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: true,
            number,
        }
    }

    /// Whether this is a context-specific tag `[n]`, primitive or constructed.
    pub fn is_context(&self, number: u32) -> bool {
        self.class == Class::Context && self.number == number
    }

    /// Writes the identifier octets (X.690 §8.1.2), using the high-tag-number form from 31 upward.
    pub fn write(&self, out: &mut Vec<u8>) {
        let class_bits = match self.class {
            Class::Universal => 0x00,
            Class::Application => 0x40,
            Class::Context => 0x80,
            Class::Private => 0xC0,
        };
        let first = class_bits | if self.constructed { 0x20 } else { 0 };
        if self.number < 31 {
            out.push(first | self.number as u8);
            return;
        }
        out.push(first | 0x1F);
        let mut groups = [0u8; 5];
        let mut n = self.number;
        let mut count = 0;
        loop {
            groups[count] = (n & 0x7F) as u8;
            count += 1;
            n >>= 7;
            if n == 0 {
                break;
            }
        }
        for i in (0..count).rev() {
            let more = if i > 0 { 0x80 } else { 0 };
            out.push(groups[i] | more);
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(3);
        self.write(&mut bytes);
        for b in bytes {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// What is wrong with a DER encoding (X.690 §8.1 and §10.1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DerFault {
    /// The data ends inside an identifier or length, or the value is longer than what remains.
    #[error("truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the encoding announces.
        needed: usize,
        /// Bytes actually left.
        available: usize,
    },
    /// The indefinite length form (`80`), not allowed in DER (X.690 §10.1).
    #[error("indefinite length, not allowed in DER")]
    IndefiniteLength,
    /// A length in a longer form than needed (X.690 §10.1).
    #[error("length not in its shortest form")]
    NonMinimalLength,
    /// A length of more than four octets.
    #[error("length too large")]
    LengthTooLarge,
    /// A tag number in the high-tag-number form that fits the low form, or with a leading `80` octet.
    #[error("tag number not in its shortest form")]
    NonMinimalTag,
    /// A tag number above 2^28.
    #[error("tag number too large")]
    TagTooLarge,
    /// An INTEGER that is empty, negative, not minimal, or too large for the field.
    #[error("bad INTEGER: {0}")]
    BadInteger(&'static str),
    /// A primitive value where a constructed one is required, or the reverse.
    #[error("wrong form (primitive/constructed) for tag {0}")]
    WrongForm(Tag),
    /// Elements nest deeper than `certs::tlv::MAX_DEPTH` levels.
    #[error("nested deeper than {0} levels")]
    TooDeep(usize),
    /// Bytes after the last element where none are allowed.
    #[error("{0} trailing byte(s)")]
    TrailingBytes(usize),
    /// Any other malformation reported by the TLV reader.
    #[error("{0}")]
    Other(String),
}

impl From<TlvError> for DerError {
    fn from(e: TlvError) -> DerError {
        let (offset, fault) = match e {
            TlvError::Truncated {
                offset,
                needed,
                available,
            } => (offset, DerFault::Truncated { needed, available }),
            TlvError::BadLength { offset, byte: 0x80 } => (offset, DerFault::IndefiniteLength),
            TlvError::BadLength { offset, .. } => (offset, DerFault::LengthTooLarge),
            TlvError::NonMinimal {
                offset,
                what: "tag",
            } => (offset, DerFault::NonMinimalTag),
            TlvError::NonMinimal { offset, .. } => (offset, DerFault::NonMinimalLength),
            TlvError::TagTooLong { offset } => (offset, DerFault::TagTooLarge),
            TlvError::TooDeep { offset, limit } => (offset, DerFault::TooDeep(limit)),
            TlvError::TrailingBytes { offset, count } => (offset, DerFault::TrailingBytes(count)),
            // Not produced when reading under `Rules::DER` (definite lengths only, nothing encoded).
            e @ (TlvError::MissingEndOfContents { .. }
            | TlvError::ValueTooLong { .. }
            | TlvError::InvalidTag { .. }) => (0, DerFault::Other(e.to_string())),
        };
        DerError { offset, fault }
    }
}

/// A DER fault at an absolute byte offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{fault} at offset {offset}")]
pub struct DerError {
    /// Absolute offset of the first byte of the faulty identifier, length or value.
    pub offset: usize,
    /// What is wrong.
    pub fault: DerFault,
}

/// One TLV read from a buffer, with its absolute position (X.690 §8.1.1).
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    /// The identifier.
    pub tag: Tag,
    /// Absolute offset of the identifier's first octet.
    pub offset: usize,
    /// The whole TLV: identifier, length and value octets.
    pub raw: &'a [u8],
    /// The value (contents) octets.
    pub value: &'a [u8],
    /// The element as the one TLV reader read it (for its depth).
    ber: ber::Tlv<'a>,
}

impl<'a> Tlv<'a> {
    /// Absolute offset of the first value octet.
    pub fn value_offset(&self) -> usize {
        self.offset + (self.raw.len() - self.value.len())
    }

    /// A reader over the contents of a constructed TLV (X.690 §8.1.1.1, constructed form).
    pub fn children(&self) -> Result<Reader<'a>, DerError> {
        if !self.tag.constructed {
            return Err(DerError {
                offset: self.offset,
                fault: DerFault::WrongForm(self.tag),
            });
        }
        Ok(Reader {
            inner: self.ber.children()?,
        })
    }

    /// Checks that the TLV is primitive and returns its value.
    pub fn primitive(&self) -> Result<&'a [u8], DerError> {
        if self.tag.constructed {
            return Err(DerError {
                offset: self.offset,
                fault: DerFault::WrongForm(self.tag),
            });
        }
        Ok(self.value)
    }

    /// Decodes a primitive non-negative INTEGER that fits `u64` (X.690 §8.3).
    pub fn uint(&self) -> Result<u64, DerError> {
        let v = self.primitive()?;
        decode_uint(v).map_err(|fault| DerError {
            offset: self.value_offset(),
            fault,
        })
    }
}

/// Decodes the contents of a non-negative INTEGER in its shortest form (X.690 §8.3.2).
pub fn decode_uint(v: &[u8]) -> Result<u64, DerFault> {
    match v {
        [] => Err(DerFault::BadInteger("empty")),
        [b, ..] if b & 0x80 != 0 => Err(DerFault::BadInteger("negative")),
        [0, b, ..] if b & 0x80 == 0 => Err(DerFault::BadInteger("leading zero octet")),
        _ if v.len() > 9 || (v.len() == 9 && v[0] != 0) => Err(DerFault::BadInteger("too large")),
        _ => Ok(v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))),
    }
}

/// A cursor over a sequence of TLVs that knows the absolute offset of its first byte and its nesting depth.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    inner: ber::Reader<'a>,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, whose first byte sits at absolute offset `base`.
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Reader {
            inner: ber::Reader::new(buf, base, Rules::DER),
        }
    }

    /// Whether every TLV has been read.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Absolute offset of the next byte to read.
    pub fn offset(&self) -> usize {
        self.inner.offset()
    }

    /// Reads the identifier of the next TLV without consuming it.
    pub fn peek_tag(&self) -> Result<Option<Tag>, DerError> {
        Ok(self.inner.peek_tag_bytes()?.map(tag_of))
    }

    /// Reads the next TLV (X.690 §8.1), checking DER length and tag forms.
    pub fn read(&mut self) -> Result<Tlv<'a>, DerError> {
        let t = self.inner.read()?;
        Ok(Tlv {
            tag: tag_of(t.tag_bytes()),
            offset: t.offset,
            raw: t.raw,
            value: t.value,
            ber: t,
        })
    }

    /// Refuses anything left unread (X.690 §8.1.1).
    pub fn finish(&self) -> Result<(), DerError> {
        Ok(self.inner.finish()?)
    }
}

/// Reads the identifier and length octets at the start of `b` without requiring the value to be present:
/// returns the tag, the header length and the announced value length.
pub fn read_header(b: &[u8], offset: usize) -> Result<(Tag, usize, usize), DerError> {
    let h = ber::read_header(b, 0, offset, &Rules::DER)?;
    match h.length {
        ber::Length::Definite(len) => Ok((tag_of(&b[..h.tag_len]), h.header_len, len)),
        ber::Length::Indefinite => Err(DerError {
            offset: offset + h.tag_len,
            fault: DerFault::IndefiniteLength,
        }),
    }
}

/// The class, form and number of identifier octets already checked by the reader (X.690 §8.1.2).
fn tag_of(b: &[u8]) -> Tag {
    let first = b.first().copied().unwrap_or(0);
    let class = match first >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let number = match b {
        [f] => u32::from(f & 0x1F),
        [_, rest @ ..] => rest
            .iter()
            .fold(0u32, |acc, x| (acc << 7) | u32::from(x & 0x7F)),
        [] => 0,
    };
    Tag {
        class,
        constructed: first & 0x20 != 0,
        number,
    }
}

/// Writes a DER length (X.690 §10.1: shortest form).
pub fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Writes a whole TLV (X.690 §8.1).
pub fn write_tlv(out: &mut Vec<u8>, tag: Tag, value: &[u8]) {
    tag.write(out);
    write_len(out, value.len());
    out.extend_from_slice(value);
}

/// Writes a constructed TLV whose contents `f` writes (X.690 §8.1.1.1).
pub fn write_constructed(out: &mut Vec<u8>, tag: Tag, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    write_tlv(out, tag, &inner);
}

/// The shortest contents of a non-negative INTEGER (X.690 §8.3.2).
pub fn uint_bytes(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut out = Vec::with_capacity(9);
    if bytes[skip] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// Writes a non-negative INTEGER TLV with the given tag (X.690 §8.3).
pub fn write_uint(out: &mut Vec<u8>, tag: Tag, v: u64) {
    write_tlv(out, tag, &uint_bytes(v));
}

/// An OBJECT IDENTIFIER kept as its contents octets (X.690 §8.19).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ObjectIdentifier(pub Vec<u8>);

impl ObjectIdentifier {
    /// Encodes the arcs (at least two; X.690 §8.19.4: the first two arcs share the first subidentifier).
    pub fn from_arcs(arcs: &[u64]) -> ObjectIdentifier {
        let mut out = Vec::new();
        let mut subids = Vec::with_capacity(arcs.len());
        match arcs {
            [a, b, rest @ ..] => {
                subids.push(a * 40 + b);
                subids.extend_from_slice(rest);
            }
            [a] => subids.push(a * 40),
            [] => {}
        }
        for s in subids {
            let mut groups = Vec::new();
            let mut n = s;
            loop {
                groups.push((n & 0x7F) as u8);
                n >>= 7;
                if n == 0 {
                    break;
                }
            }
            for (i, g) in groups.iter().enumerate().rev() {
                out.push(if i > 0 { g | 0x80 } else { *g });
            }
        }
        ObjectIdentifier(out)
    }

    /// The arcs, or `None` if the contents are not a valid OBJECT IDENTIFIER encoding.
    pub fn arcs(&self) -> Option<Vec<u64>> {
        let mut subids = Vec::new();
        let mut n: u64 = 0;
        let mut fresh = true;
        for b in &self.0 {
            if fresh && *b == 0x80 {
                return None;
            }
            n = n.checked_mul(128)? | u64::from(b & 0x7F);
            fresh = b & 0x80 == 0;
            if fresh {
                subids.push(n);
                n = 0;
            }
        }
        if !fresh || subids.is_empty() {
            return None;
        }
        let first = subids[0];
        let (a, b) = if first < 80 {
            (first / 40, first % 40)
        } else {
            (2, first - 80)
        };
        let mut arcs = vec![a, b];
        arcs.extend_from_slice(&subids[1..]);
        Some(arcs)
    }
}

impl fmt::Display for ObjectIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.arcs() {
            Some(arcs) => {
                let text: Vec<String> = arcs.iter().map(u64::to_string).collect();
                f.write_str(&text.join("."))
            }
            None => f.write_str("<invalid OID>"),
        }
    }
}

impl fmt::Debug for ObjectIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OID({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_including_high_numbers() {
        for (tag, bytes) in [
            (Tag::context_constructed(31), vec![0xBF, 0x1F]),
            (Tag::context_constructed(0), vec![0xA0]),
            (
                Tag {
                    class: Class::Private,
                    constructed: false,
                    number: 6,
                },
                vec![0xC6],
            ),
            (
                Tag {
                    class: Class::Application,
                    constructed: false,
                    number: 15,
                },
                vec![0x4F],
            ),
            (Tag::context(200), vec![0x9F, 0x81, 0x48]),
        ] {
            let mut out = Vec::new();
            tag.write(&mut out);
            assert_eq!(out, bytes);
            let mut tlv = bytes.clone();
            tlv.push(0);
            let read = Reader::new(&tlv, 0).read().unwrap();
            assert_eq!(read.tag, tag);
        }
    }

    #[test]
    fn rejects_non_der_forms() {
        let cases: [(&[u8], DerFault); 5] = [
            (&[0x04, 0x80, 0x00, 0x00], DerFault::IndefiniteLength),
            (
                &[0x04, 0x81, 0x05, 1, 2, 3, 4, 5],
                DerFault::NonMinimalLength,
            ),
            (&[0x04, 0x82, 0x00, 0x90], DerFault::NonMinimalLength),
            (&[0x9F, 0x05, 0x00], DerFault::NonMinimalTag),
            (&[0x9F, 0x80, 0x20, 0x00], DerFault::NonMinimalTag),
        ];
        for (bytes, fault) in cases {
            let err = Reader::new(bytes, 10).read().unwrap_err();
            assert_eq!(err.fault, fault, "{bytes:02X?}");
        }
        let err = Reader::new(&[0x04, 0x05, 1, 2], 7).read().unwrap_err();
        // The one TLV reader reports a truncated value at the offset of the first missing value byte's run.
        assert_eq!(err.offset, 9);
        assert!(matches!(
            err.fault,
            DerFault::Truncated {
                needed: 5,
                available: 2
            }
        ));
    }

    #[test]
    fn lengths_and_integers_are_minimal() {
        for (len, bytes) in [
            (0usize, vec![0x00]),
            (127, vec![0x7F]),
            (128, vec![0x81, 0x80]),
            (256, vec![0x82, 0x01, 0x00]),
        ] {
            let mut out = Vec::new();
            write_len(&mut out, len);
            assert_eq!(out, bytes);
        }
        assert_eq!(uint_bytes(0), vec![0]);
        assert_eq!(uint_bytes(127), vec![0x7F]);
        assert_eq!(uint_bytes(129), vec![0x00, 0x81]);
        assert_eq!(uint_bytes(170), vec![0x00, 0xAA]);
        assert_eq!(uint_bytes(32767), vec![0x7F, 0xFF]);
        assert_eq!(decode_uint(&[0x00, 0x81]), Ok(129));
        assert!(decode_uint(&[0x00, 0x01]).is_err());
        assert!(decode_uint(&[0x81]).is_err());
        assert!(decode_uint(&[]).is_err());
    }

    #[test]
    fn oid_arcs() {
        let oid = ObjectIdentifier::from_arcs(&[2, 23, 143, 1, 2, 1]);
        assert_eq!(oid.0, vec![0x67, 0x81, 0x0F, 0x01, 0x02, 0x01]);
        assert_eq!(oid.to_string(), "2.23.143.1.2.1");
        assert_eq!(ObjectIdentifier(vec![0x81]).arcs(), None);
    }
}
