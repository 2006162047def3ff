//! A minimal DER reader and writer (ITU-T X.690 §8 and §10) for the TCA profile package.
//!
//! Only what DER allows is accepted: definite lengths in their shortest form, tag numbers in their shortest
//! form, and non-negative INTEGERs in their shortest two's-complement form. Because DER has exactly one
//! encoding per value, a value decoded by this reader and written back by this writer gives the same bytes.

use std::fmt;

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
        Ok(Reader::new(self.value, self.value_offset()))
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

/// A cursor over a sequence of TLVs that knows the absolute offset of its first byte.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, whose first byte sits at absolute offset `base`.
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Whether every TLV has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Absolute offset of the next byte to read.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Reads the identifier of the next TLV without consuming it.
    pub fn peek_tag(&self) -> Result<Option<Tag>, DerError> {
        if self.is_empty() {
            return Ok(None);
        }
        let (tag, _) = read_tag(&self.buf[self.pos..], self.offset())?;
        Ok(Some(tag))
    }

    /// Reads the next TLV (X.690 §8.1), checking DER length and tag forms.
    pub fn read(&mut self) -> Result<Tlv<'a>, DerError> {
        let start = self.pos;
        let offset = self.offset();
        let rest = &self.buf[start..];
        let (tag, tag_len) = read_tag(rest, offset)?;
        let (len, len_len) = read_len(&rest[tag_len..], offset + tag_len)?;
        let header = tag_len + len_len;
        let available = rest.len() - header;
        if len > available {
            return Err(DerError {
                offset: offset + tag_len,
                fault: DerFault::Truncated {
                    needed: len,
                    available,
                },
            });
        }
        let raw = &rest[..header + len];
        self.pos += header + len;
        Ok(Tlv {
            tag,
            offset,
            raw,
            value: &raw[header..],
        })
    }
}

/// Reads the identifier and length octets at the start of `b` without requiring the value to be present:
/// returns the tag, the header length and the announced value length.
pub fn read_header(b: &[u8], offset: usize) -> Result<(Tag, usize, usize), DerError> {
    let (tag, tag_len) = read_tag(b, offset)?;
    let (len, len_len) = read_len(&b[tag_len..], offset + tag_len)?;
    Ok((tag, tag_len + len_len, len))
}

fn read_tag(b: &[u8], offset: usize) -> Result<(Tag, usize), DerError> {
    let truncated = |needed, available| DerError {
        offset,
        fault: DerFault::Truncated { needed, available },
    };
    let first = *b.first().ok_or(truncated(1, 0))?;
    let class = match first >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let constructed = first & 0x20 != 0;
    if first & 0x1F != 0x1F {
        return Ok((
            Tag {
                class,
                constructed,
                number: u32::from(first & 0x1F),
            },
            1,
        ));
    }
    let mut number: u32 = 0;
    let mut i = 1;
    loop {
        let byte = *b.get(i).ok_or(truncated(i + 1, b.len()))?;
        if i == 1 && byte == 0x80 {
            return Err(DerError {
                offset,
                fault: DerFault::NonMinimalTag,
            });
        }
        if i > 4 {
            return Err(DerError {
                offset,
                fault: DerFault::TagTooLarge,
            });
        }
        number = (number << 7) | u32::from(byte & 0x7F);
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
    }
    if number < 31 {
        return Err(DerError {
            offset,
            fault: DerFault::NonMinimalTag,
        });
    }
    Ok((
        Tag {
            class,
            constructed,
            number,
        },
        i,
    ))
}

fn read_len(b: &[u8], offset: usize) -> Result<(usize, usize), DerError> {
    let err = |fault| DerError { offset, fault };
    let first = *b.first().ok_or(err(DerFault::Truncated {
        needed: 1,
        available: 0,
    }))?;
    if first < 0x80 {
        return Ok((usize::from(first), 1));
    }
    if first == 0x80 {
        return Err(err(DerFault::IndefiniteLength));
    }
    let n = usize::from(first & 0x7F);
    if n > 4 {
        return Err(err(DerFault::LengthTooLarge));
    }
    let bytes = b.get(1..1 + n).ok_or(err(DerFault::Truncated {
        needed: 1 + n,
        available: b.len(),
    }))?;
    if bytes[0] == 0 {
        return Err(err(DerFault::NonMinimalLength));
    }
    let len = bytes
        .iter()
        .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
    if len < 0x80 {
        return Err(err(DerFault::NonMinimalLength));
    }
    Ok((len, 1 + n))
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
        assert_eq!(err.offset, 8);
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
