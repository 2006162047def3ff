//! BER-TLV and DGI codecs: round trips at every length boundary, hand-computed encodings (ISO/IEC 7816-4 §5.2,
//! GP Card Specification §11.11.3.2) and refusal of truncated, overlong and malformed input.

use es_interfaces::tlv::{self, Tag, TlvError};

#[test]
fn ber_lengths_are_minimal_at_each_boundary() {
    for (len, header) in [
        (0usize, "4f00"),
        (127, "4f7f"),
        (128, "4f8180"),
        (255, "4f81ff"),
        (256, "4f820100"),
        (65535, "4f82ffff"),
    ] {
        let value = vec![0x5A; len];
        let enc = tlv::encode(Tag::byte(0x4F), &value).expect("encode");
        assert_eq!(hex::encode(&enc[..header.len() / 2]), header, "len {len}");
        let t = tlv::parse_single(&enc).expect("parse");
        assert_eq!((t.tag, t.value.len()), (Tag::byte(0x4F), len));
    }
    assert_eq!(
        tlv::encode(Tag::byte(0x4F), &vec![0; 65536]),
        Err(TlvError::ValueTooLong { len: 65536 })
    );
}

#[test]
fn multi_byte_tags_round_trip() {
    for (tag, hex_tag) in [
        (0x9F70u32, "9f70"),
        (0x7F49, "7f49"),
        (0x5F37, "5f37"),
        (0xFF21, "ff21"),
        (0xBF8101, "bf8101"),
    ] {
        let t = Tag::new(tag).expect("valid tag");
        let enc = tlv::encode(t, &[1, 2]).expect("encode");
        assert_eq!(hex::encode(&enc), format!("{hex_tag}020102"));
        let p = tlv::parse_single(&enc).expect("parse");
        assert_eq!(p.tag, t);
        assert_eq!(p.value, &[1, 2]);
        assert_eq!(p.value_offset, hex_tag.len() / 2 + 1);
    }
    assert!(Tag::new(0x9F).is_err(), "9F announces a second byte");
    assert!(Tag::new(0x9F81).is_err(), "last tag byte must have b8 = 0");
    assert!(Tag::new(0).is_err());
    assert!(Tag::byte(0xE3).is_constructed());
    assert!(!Tag::byte(0x4F).is_constructed());
}

#[test]
fn nested_children_carry_absolute_offsets() {
    let bytes = hex::decode("e30c4f03a000019f70013f530101").expect("hex");
    let e3 = tlv::parse_single(&bytes).expect("parse");
    let kids = e3.children().expect("children");
    assert_eq!(kids.len(), 3);
    assert_eq!(kids[1].tag, Tag::two(0x9F70));
    assert_eq!(kids[1].offset, 7);
    assert_eq!(kids[2].value, &[1]);
}

#[test]
fn truncated_and_overlong_input_is_refused_with_offsets() {
    assert_eq!(
        tlv::parse_single(&hex::decode("4f05a0000005").expect("hex")),
        Err(TlvError::Truncated {
            offset: 2,
            needed: 5,
            available: 4
        })
    );
    assert!(matches!(
        tlv::parse_single(&hex::decode("4f81").expect("hex")),
        Err(TlvError::Truncated { offset: 2, .. })
    ));
    assert!(matches!(
        tlv::parse_single(&[0x9F]),
        Err(TlvError::Truncated { offset: 1, .. })
    ));
    assert_eq!(
        tlv::parse_single(&hex::decode("4f01aabb").expect("hex")),
        Err(TlvError::TrailingBytes {
            offset: 3,
            count: 1
        })
    );
    assert_eq!(
        tlv::parse_single(&hex::decode("4f830000").expect("hex")),
        Err(TlvError::BadLength {
            offset: 1,
            byte: 0x83
        })
    );
    assert_eq!(
        tlv::parse_single(&hex::decode("9f818101").expect("hex")),
        Err(TlvError::TagTooLong { offset: 0 })
    );
    // Indefinite length is refused where only definite is allowed …
    assert!(matches!(
        tlv::parse_single(&hex::decode("ae80220100000000").expect("hex")),
        Err(TlvError::BadLength { byte: 0x80, .. })
    ));
    // … and an error inside a child reports the offset in the outer buffer.
    let bad = hex::decode("e3054f03a000").expect("hex");
    let outer = tlv::parse_first(&bad);
    assert!(outer.is_err());
    let bad_child = hex::decode("e3034f05a0").expect("hex");
    let e3 = tlv::parse_single(&bad_child).expect("outer fine");
    assert!(matches!(
        e3.children(),
        Err(TlvError::Truncated { offset: 4, .. })
    ));
}

#[test]
fn indefinite_form_parses_nested_and_requires_end_of_contents() {
    // Real-card trace (security-and-transport notes §1.3): AE 80 22 05 80CA008500 00 00.
    let bytes = hex::decode("ae80220580ca0085000000").expect("hex");
    let t = tlv::parse_indefinite(&bytes).expect("parse");
    assert_eq!(t.tag, Tag::byte(0xAE));
    assert_eq!(hex::encode(t.value), "220580ca008500");
    // Nested indefinite element inside an indefinite one.
    let nested = hex::decode("ae80a2800101ff0000220100 0000".replace(' ', "")).expect("hex");
    let t = tlv::parse_indefinite(&nested).expect("nested");
    assert_eq!(hex::encode(t.value), "a2800101ff0000220100");
    assert_eq!(
        tlv::parse_indefinite(&hex::decode("ae8022020102").expect("hex")),
        Err(TlvError::MissingEndOfContents { offset: 0 })
    );
    let seq = hex::decode("ae8000004f0101").expect("hex");
    let all = tlv::parse_all_indefinite(&seq).expect("seq");
    assert_eq!(all.len(), 2);
}

#[test]
fn dgi_lengths_switch_to_ff_after_254() {
    for (len, header) in [
        (0usize, "3a0300"),
        (254, "3a03fe"),
        (255, "3a03ff00ff"),
        (256, "3a03ff0100"),
        (65535, "3a03ffffff"),
    ] {
        let value = vec![0x11; len];
        let enc = tlv::encode_dgi(0x3A03, &value).expect("encode");
        assert_eq!(hex::encode(&enc[..header.len() / 2]), header, "len {len}");
        let d = tlv::parse_dgi(&enc).expect("parse");
        assert_eq!((d.tag, d.value.len()), (0x3A03, len));
    }
    let two = [
        tlv::encode_dgi(0x3A01, &[1; 3]).expect("a"),
        tlv::encode_dgi(0x3A02, &[2; 300]).expect("b"),
    ]
    .concat();
    let dgis = tlv::parse_dgis(&two).expect("seq");
    assert_eq!(dgis.len(), 2);
    assert_eq!(dgis[1].offset, 6);
    assert!(matches!(
        tlv::parse_dgi(&hex::decode("3a03ff01").expect("hex")),
        Err(TlvError::Truncated { offset: 3, .. })
    ));
    assert!(matches!(
        tlv::parse_dgi(&hex::decode("3a0303aabb").expect("hex")),
        Err(TlvError::Truncated { offset: 3, .. })
    ));
    assert!(matches!(
        tlv::parse_dgi(&hex::decode("3a0301aabb").expect("hex")),
        Err(TlvError::TrailingBytes {
            offset: 4,
            count: 1
        })
    ));
}

/// `AE 80` nested `levels` times (an expanded remote script inside itself), closed by as many `00 00`.
fn nested_indefinite_scripts(levels: usize) -> Vec<u8> {
    let mut b = [0xAE, 0x80].repeat(levels);
    b.extend(std::iter::repeat_n(0u8, 2 * levels));
    b
}

#[test]
fn indefinite_nesting_is_limited_at_max_depth() {
    let at_limit = nested_indefinite_scripts(tlv::MAX_DEPTH);
    assert!(tlv::parse_indefinite(&at_limit).is_ok());
    assert_eq!(
        tlv::parse_indefinite(&nested_indefinite_scripts(tlv::MAX_DEPTH + 1)),
        Err(TlvError::TooDeep {
            offset: 2 * tlv::MAX_DEPTH,
            limit: tlv::MAX_DEPTH
        })
    );
    // The 80 KB body of issue 10 (20,000 levels, unterminated) is refused, not followed down the stack.
    let hostile = [0xAE, 0x80].repeat(20_000);
    assert!(matches!(
        tlv::parse_indefinite(&hostile),
        Err(TlvError::TooDeep { .. })
    ));
    assert!(matches!(
        tlv::parse_all_indefinite(&hostile),
        Err(TlvError::TooDeep { .. })
    ));
}

#[test]
fn children_count_their_depth() {
    // A0 nested MAX_DEPTH + 1 times: the outermost reads, descending through children() stops at the limit.
    let mut b: Vec<u8> = Vec::new();
    for _ in 0..=tlv::MAX_DEPTH {
        b = tlv::encode(Tag::byte(0xA0), &b).expect("encode");
    }
    let mut t = tlv::parse_single(&b).expect("outer");
    let mut levels = 1;
    let err = loop {
        match t.children() {
            Ok(kids) => {
                t = kids[0];
                levels += 1;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(levels, tlv::MAX_DEPTH);
    assert!(matches!(err, TlvError::TooDeep { limit, .. } if limit == tlv::MAX_DEPTH));
}
