//! The one BER-TLV reader of the workspace (ISO/IEC 8825-1 / ITU-T X.690 §8.1, ISO/IEC 7816-4 §5.2): the GP
//! certificates here (wire-profile §6), the ES5/ES8 codecs of `es_interfaces::tlv` (wire-profile §2–§5) and the
//! SAIP DER reader of the SM-DP (X.690 §10) all read through [`Reader`], each with its [`Rules`].
//!
//! One place holds what every caller relies on: a nesting limit ([`MAX_DEPTH`]; the indefinite form is scanned
//! without recursion and nested readers count their depth), error offsets from the start of the outermost input,
//! and the refusal of trailing bytes ([`Reader::finish`]).

/// How deep elements may nest, the outermost counting as 1 (ISO/IEC 8825-1 §8.1.1; a project limit: the deepest
/// legitimate structure, a SAIP profile element, nests about 8 levels).
pub const MAX_DEPTH: usize = 32;

/// A malformed TLV; offsets are from the start of the outermost input handed to the reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The input ends before the element is complete.
    #[error("TLV truncated at offset {offset}: {needed} byte(s) needed, {available} available")]
    Truncated {
        /// Offset where the missing bytes were expected.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// A tag is longer than the rules allow.
    #[error("BER-TLV tag at offset {offset} is too long")]
    TagTooLong {
        /// Offset of the tag.
        offset: usize,
    },
    /// A length byte is not one of the allowed forms (short, `81`…`8n` up to the rules' maximum, and `80` where
    /// indefinite is allowed).
    #[error("unsupported length byte {byte:#04x} at offset {offset}")]
    BadLength {
        /// Offset of the length.
        offset: usize,
        /// The first length byte.
        byte: u8,
    },
    /// A tag or length not in its shortest form where the rules require it (X.690 §10.1, GP certificates).
    #[error("{what} at offset {offset} is not in its shortest form")]
    NonMinimal {
        /// Offset of the tag or length.
        offset: usize,
        /// `"tag"` or `"length"`.
        what: &'static str,
    },
    /// Bytes remain after the last element where none are allowed.
    #[error("{count} unexpected trailing byte(s) at offset {offset}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
        /// Number of extra bytes.
        count: usize,
    },
    /// An indefinite-length element has no end-of-contents `00 00`.
    #[error("indefinite-length element at offset {offset} has no end-of-contents")]
    MissingEndOfContents {
        /// Offset of the element's tag.
        offset: usize,
    },
    /// Elements nest deeper than the limit.
    #[error("TLV element at offset {offset} nests deeper than {limit} levels")]
    TooDeep {
        /// Offset of the element that is one level too deep.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// A value is too long to be encoded.
    #[error("value of {len} bytes is too long for a TLV")]
    ValueTooLong {
        /// The value length.
        len: usize,
    },
    /// The tag is not a valid tag of the stated width (e.g. 0 or a multi-byte tag with wrong continuation bits).
    #[error("invalid tag {tag:#x}")]
    InvalidTag {
        /// The tag value.
        tag: u32,
    },
}

/// What a reader accepts (ISO/IEC 8825-1 §8.1 and its subsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Longest tag in bytes.
    pub max_tag_bytes: usize,
    /// Most octets after an `8n` long-form length byte.
    pub max_length_octets: usize,
    /// Whether the indefinite form `80 … 00 00` is allowed (at any level; ETSI TS 102 226 §5.2.1).
    pub indefinite: bool,
    /// Whether tags and lengths must be in their shortest form (X.690 §10.1).
    pub minimal: bool,
    /// Deepest nesting, the outermost element counting as 1.
    pub max_depth: usize,
}

impl Rules {
    /// ES5/ES8 BER-TLV (wire-profile §2): tags of 1–3 bytes, lengths up to `82 xxxx`, any length form.
    pub const BER: Rules = Rules {
        max_tag_bytes: 3,
        max_length_octets: 2,
        indefinite: false,
        minimal: false,
        max_depth: MAX_DEPTH,
    };
    /// GP certificates (wire-profile §6): tags of 1–2 bytes, shortest lengths up to `82 xxxx`.
    pub const GP: Rules = Rules {
        max_tag_bytes: 2,
        max_length_octets: 2,
        indefinite: false,
        minimal: true,
        max_depth: MAX_DEPTH,
    };
    /// DER (X.690 §10): tags of up to 5 bytes, shortest lengths of up to 4 octets.
    pub const DER: Rules = Rules {
        max_tag_bytes: 5,
        max_length_octets: 4,
        indefinite: false,
        minimal: true,
        max_depth: MAX_DEPTH,
    };

    /// The same rules with the indefinite form allowed (ETSI TS 102 226 §5.2.1).
    pub const fn with_indefinite(self) -> Rules {
        Rules {
            indefinite: true,
            ..self
        }
    }

    /// The same rules with another nesting limit.
    pub const fn with_max_depth(self, max_depth: usize) -> Rules {
        Rules { max_depth, ..self }
    }
}

/// The length of an element (ISO/IEC 8825-1 §8.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Definite: this many value bytes.
    Definite(usize),
    /// Indefinite: contents up to the matching `00 00`.
    Indefinite,
}

/// The identifier and length octets of an element (ISO/IEC 8825-1 §8.1.2, §8.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bytes of the tag.
    pub tag_len: usize,
    /// The length.
    pub length: Length,
    /// Bytes of tag and length together.
    pub header_len: usize,
}

fn need(input: &[u8], at: usize, n: usize, base: usize) -> Result<(), TlvError> {
    let available = input.len().saturating_sub(at);
    if available < n {
        Err(TlvError::Truncated {
            offset: base + at,
            needed: n,
            available,
        })
    } else {
        Ok(())
    }
}

/// Reads the header at `input[pos..]`, whose first byte is at `base + pos` in the outermost input
/// (ISO/IEC 8825-1 §8.1.2, §8.1.3); the value need not be present.
pub fn read_header(
    input: &[u8],
    pos: usize,
    base: usize,
    rules: &Rules,
) -> Result<Header, TlvError> {
    need(input, pos, 1, base)?;
    let first = input[pos];
    let mut p = pos + 1;
    if first & 0x1F == 0x1F {
        loop {
            need(input, p, 1, base)?;
            let b = input[p];
            if rules.minimal && p == pos + 1 && b == 0x80 {
                return Err(TlvError::NonMinimal {
                    offset: base + pos,
                    what: "tag",
                });
            }
            p += 1;
            if b & 0x80 == 0 {
                break;
            }
            if p - pos >= rules.max_tag_bytes {
                return Err(TlvError::TagTooLong { offset: base + pos });
            }
        }
        if rules.minimal && p == pos + 2 && input[pos + 1] < 0x1F {
            return Err(TlvError::NonMinimal {
                offset: base + pos,
                what: "tag",
            });
        }
    }
    let tag_len = p - pos;
    need(input, p, 1, base)?;
    let l0 = input[p];
    let at = p;
    p += 1;
    let length = match l0 {
        0x00..=0x7F => Length::Definite(usize::from(l0)),
        0x80 if rules.indefinite => Length::Indefinite,
        0x81..=0x88 if usize::from(l0 & 0x7F) <= rules.max_length_octets => {
            let n = usize::from(l0 & 0x7F);
            need(input, p, n, base)?;
            let bytes = &input[p..p + n];
            p += n;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            if rules.minimal && (bytes[0] == 0 || len < 0x80) {
                return Err(TlvError::NonMinimal {
                    offset: base + at,
                    what: "length",
                });
            }
            Length::Definite(len)
        }
        byte => {
            return Err(TlvError::BadLength {
                offset: base + at,
                byte,
            });
        }
    };
    Ok(Header {
        tag_len,
        length,
        header_len: p - pos,
    })
}

/// One element read by a [`Reader`], borrowing from the input (ISO/IEC 8825-1 §8.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The whole element: tag, length, value (and end-of-contents for the indefinite form).
    pub raw: &'a [u8],
    /// Bytes of the tag at the start of `raw`.
    pub tag_len: usize,
    /// The value (for an indefinite element: the contents without the end-of-contents).
    pub value: &'a [u8],
    /// Offset of the tag in the outermost input.
    pub offset: usize,
    /// Offset of the first value byte in the outermost input.
    pub value_offset: usize,
    /// Whether the element used the indefinite form.
    pub indefinite: bool,
    /// Nesting level, the outermost element being 1.
    pub depth: usize,
    rules: Rules,
}

impl<'a> Tlv<'a> {
    /// The tag bytes (ISO/IEC 8825-1 §8.1.2).
    pub fn tag_bytes(&self) -> &'a [u8] {
        &self.raw[..self.tag_len]
    }

    /// The tag as a big-endian number (meaningful for tags of up to 4 bytes; ISO/IEC 7816-4 §5.2.2.1).
    pub fn tag(&self) -> u32 {
        self.tag_bytes()
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
    }

    /// Whether the constructed bit (b6 of the first tag byte) is set (ISO/IEC 8825-1 §8.1.2.5).
    pub fn is_constructed(&self) -> bool {
        self.raw.first().is_some_and(|b| b & 0x20 != 0)
    }

    /// A reader over the value, one level deeper, with the same rules (ISO/IEC 8825-1 §8.1.1 constructed form);
    /// [`TlvError::TooDeep`] past the limit.
    pub fn children(&self) -> Result<Reader<'a>, TlvError> {
        Reader::nested(self.value, self.value_offset, self.rules, self.depth + 1)
    }
}

/// Reads consecutive elements from a buffer whose first byte sits at `base` in the outermost input
/// (ISO/IEC 8825-1 §8.1).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    base: usize,
    depth: usize,
    rules: Rules,
}

impl<'a> Reader<'a> {
    /// A reader of outermost elements (depth 1) over `input`, whose first byte is at `base`.
    pub fn new(input: &'a [u8], base: usize, rules: Rules) -> Self {
        Reader {
            input,
            pos: 0,
            base,
            depth: 1,
            rules,
        }
    }

    /// A reader of elements at nesting level `depth`; [`TlvError::TooDeep`] if that is past the limit.
    pub fn nested(
        input: &'a [u8],
        base: usize,
        rules: Rules,
        depth: usize,
    ) -> Result<Self, TlvError> {
        if depth > rules.max_depth {
            return Err(TlvError::TooDeep {
                offset: base,
                limit: rules.max_depth,
            });
        }
        Ok(Reader {
            input,
            pos: 0,
            base,
            depth,
            rules,
        })
    }

    /// Whether all input has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Offset (in the outermost input) of the next byte to read.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The header of the next element without consuming it (`None` at the end).
    pub fn peek(&self) -> Result<Option<Header>, TlvError> {
        if self.is_empty() {
            return Ok(None);
        }
        read_header(self.input, self.pos, self.base, &self.rules).map(Some)
    }

    /// The tag bytes of the next element without consuming it (`None` at the end).
    pub fn peek_tag_bytes(&self) -> Result<Option<&'a [u8]>, TlvError> {
        Ok(self
            .peek()?
            .map(|h| &self.input[self.pos..self.pos + h.tag_len]))
    }

    /// Reads the next element. The indefinite form is scanned without recursion, nested indefinite elements
    /// counting towards the depth limit (ETSI TS 102 226 §5.2.1).
    pub fn read(&mut self) -> Result<Tlv<'a>, TlvError> {
        let (input, base, start) = (self.input, self.base, self.pos);
        let h = read_header(input, start, base, &self.rules)?;
        let value_start = start + h.header_len;
        let (value_end, end) = match h.length {
            Length::Definite(n) => {
                need(input, value_start, n, base)?;
                (value_start + n, value_start + n)
            }
            Length::Indefinite => {
                // Offsets of the indefinite elements still open, innermost last (bounded by the depth limit).
                let mut open = vec![start];
                let mut q = value_start;
                loop {
                    let innermost = open.last().copied().unwrap_or(start);
                    if input.len() < q + 2 {
                        return Err(TlvError::MissingEndOfContents {
                            offset: base + innermost,
                        });
                    }
                    if input[q] == 0 && input[q + 1] == 0 {
                        open.pop();
                        q += 2;
                        if open.is_empty() {
                            break (q - 2, q);
                        }
                        continue;
                    }
                    let child = read_header(input, q, base, &self.rules)?;
                    match child.length {
                        Length::Definite(n) => {
                            need(input, q + child.header_len, n, base)?;
                            q += child.header_len + n;
                        }
                        Length::Indefinite => {
                            if self.depth + open.len() > self.rules.max_depth {
                                return Err(TlvError::TooDeep {
                                    offset: base + q,
                                    limit: self.rules.max_depth,
                                });
                            }
                            open.push(q);
                            q += child.header_len;
                        }
                    }
                }
            }
        };
        self.pos = end;
        Ok(Tlv {
            raw: &input[start..end],
            tag_len: h.tag_len,
            value: &input[value_start..value_end],
            offset: base + start,
            value_offset: base + value_start,
            indefinite: h.length == Length::Indefinite,
            depth: self.depth,
            rules: self.rules,
        })
    }

    /// Reads every remaining element.
    pub fn read_all(mut self) -> Result<Vec<Tlv<'a>>, TlvError> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.read()?);
        }
        Ok(out)
    }

    /// Refuses anything left unread: the one place where trailing bytes are an error.
    pub fn finish(&self) -> Result<(), TlvError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(TlvError::TrailingBytes {
                offset: self.offset(),
                count: self.input.len() - self.pos,
            })
        }
    }

    /// Reads exactly one element covering the whole input.
    pub fn single(mut self) -> Result<Tlv<'a>, TlvError> {
        let tlv = self.read()?;
        self.finish()?;
        Ok(tlv)
    }
}

/// Appends `tag ‖ BER length ‖ value` to `out` (ISO/IEC 8825-1 §8.1.3 definite form, shortest encoding); the
/// tag is written in as many bytes as its value needs (one for `93`, two for `7F21`).
pub fn encode(tag: u16, value: &[u8], out: &mut Vec<u8>) {
    if tag > 0xFF {
        out.extend_from_slice(&tag.to_be_bytes());
    } else {
        out.push(tag as u8);
    }
    write_length(value.len(), out);
    out.extend_from_slice(value);
}

/// Appends the shortest definite length of `len` (ISO/IEC 8825-1 §8.1.3, X.690 §10.1).
pub fn write_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `AE 80` nested `levels` times, closed by as many `00 00`.
    fn nested_indefinite(levels: usize) -> Vec<u8> {
        let mut b = [0xAE, 0x80].repeat(levels);
        b.extend(std::iter::repeat_n(0u8, 2 * levels));
        b
    }

    /// `A0 L` nested `levels` times (definite), innermost empty.
    fn nested_definite(levels: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for _ in 0..levels {
            let mut outer = vec![0xA0];
            write_length(b.len(), &mut outer);
            outer.extend_from_slice(&b);
            b = outer;
        }
        b
    }

    fn descend(t: Tlv<'_>) -> Result<usize, TlvError> {
        let mut t = t;
        let mut levels = 1;
        while !t.value.is_empty() {
            t = t.children()?.single()?;
            levels += 1;
        }
        Ok(levels)
    }

    #[test]
    fn indefinite_nesting_at_the_limit_is_read_and_past_it_refused() {
        let rules = Rules::BER.with_indefinite();
        let ok = nested_indefinite(MAX_DEPTH);
        let t = Reader::new(&ok, 0, rules).single().expect("at the limit");
        assert_eq!(t.value.len(), ok.len() - 4);
        let bad = nested_indefinite(MAX_DEPTH + 1);
        assert_eq!(
            Reader::new(&bad, 0, rules).single(),
            Err(TlvError::TooDeep {
                offset: 2 * MAX_DEPTH,
                limit: MAX_DEPTH
            })
        );
    }

    #[test]
    fn twenty_thousand_nested_indefinite_levels_are_refused_without_recursion() {
        let mut bad = [0xAE, 0x80].repeat(20_000);
        bad.extend_from_slice(&[0, 0]);
        let err = Reader::new(&bad, 0, Rules::BER.with_indefinite())
            .single()
            .unwrap_err();
        assert!(matches!(err, TlvError::TooDeep { .. }), "{err:?}");
    }

    #[test]
    fn definite_nesting_through_children_stops_at_the_limit() {
        for rules in [Rules::BER, Rules::GP, Rules::DER] {
            let ok = nested_definite(MAX_DEPTH);
            let t = Reader::new(&ok, 0, rules).single().expect("outer");
            assert_eq!(descend(t), Ok(MAX_DEPTH));
            let bad = nested_definite(MAX_DEPTH + 1);
            let t = Reader::new(&bad, 0, rules).single().expect("outer");
            assert!(
                matches!(descend(t), Err(TlvError::TooDeep { limit, .. }) if limit == MAX_DEPTH)
            );
        }
    }

    #[test]
    fn rules_differ_only_where_they_say() {
        // Non-minimal length: BER accepts, GP and DER refuse.
        let b = [0x04, 0x81, 0x01, 0xAA];
        assert!(Reader::new(&b, 0, Rules::BER).single().is_ok());
        for rules in [Rules::GP, Rules::DER] {
            assert_eq!(
                Reader::new(&b, 5, rules).single(),
                Err(TlvError::NonMinimal {
                    offset: 6,
                    what: "length"
                })
            );
        }
        // High-tag form for a low number.
        assert_eq!(
            Reader::new(&[0x9F, 0x05, 0x00], 0, Rules::DER).single(),
            Err(TlvError::NonMinimal {
                offset: 0,
                what: "tag"
            })
        );
        // Four length octets: DER only.
        let long = [&[0x04, 0x83, 0x00, 0x01, 0x00][..], &[0u8; 256]].concat();
        assert!(Reader::new(&long, 0, Rules::BER).single().is_err());
        // Indefinite only where allowed.
        let ind = [0xAE, 0x80, 0x00, 0x00];
        assert_eq!(
            Reader::new(&ind, 0, Rules::BER).single(),
            Err(TlvError::BadLength {
                offset: 1,
                byte: 0x80
            })
        );
        assert!(
            Reader::new(&ind, 0, Rules::BER.with_indefinite())
                .single()
                .is_ok()
        );
        // Three-byte tag: BER yes, GP no.
        let t3 = [0xBF, 0x81, 0x01, 0x00];
        assert_eq!(
            Reader::new(&t3, 0, Rules::BER).single().map(|t| t.tag()),
            Ok(0xBF8101)
        );
        assert_eq!(
            Reader::new(&t3, 0, Rules::GP).single(),
            Err(TlvError::TagTooLong { offset: 0 })
        );
    }

    #[test]
    fn trailing_bytes_and_truncation_carry_outer_offsets() {
        assert_eq!(
            Reader::new(&[0x4F, 0x01, 0xAA, 0xBB], 10, Rules::BER).single(),
            Err(TlvError::TrailingBytes {
                offset: 13,
                count: 1
            })
        );
        assert_eq!(
            Reader::new(&[0x04, 0x05, 1, 2], 7, Rules::DER).single(),
            Err(TlvError::Truncated {
                offset: 9,
                needed: 5,
                available: 2
            })
        );
    }
}
