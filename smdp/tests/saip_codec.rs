//! Profile package codec, validation and personalisation (TCA PEDefinitions v3.3.1; wire-profile §8):
//! byte-exact round trips, decode → personalise → decode, validation failures naming element and offset.

use smdp::saip::pe::{AlgoConfiguration, ProfileElement, mf_field, usim_field};
use smdp::saip::personalise::{Personaliser, personalise};
use smdp::saip::record::{AkaAlgorithm, OtaKeys, PersonalisationRecord, RecordText};
use smdp::saip::secret::SecretBytes;
use smdp::saip::{ElementRef, Limits, ProfilePackage, SaipError, bench, sample, validate};

/// A DER TLV written by hand (independent of the codec under test).
fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    match value.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(value);
    out
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn pe_header(id: u8) -> Vec<u8> {
    tlv(&[0xA0], &cat(&[tlv(&[0x80], &[]), tlv(&[0x81], &[id])]))
}

fn record() -> PersonalisationRecord {
    PersonalisationRecord {
        iccid: "89490012345678901234".into(),
        imsi: "262019876543210".into(),
        k: SecretBytes::new(vec![0xA5; 16]),
        opc: SecretBytes::new(vec![0x5A; 16]),
        algorithm: AkaAlgorithm::Milenage,
        pin1: SecretBytes::from_slice(b"4321\xFF\xFF\xFF\xFF"),
        pin2: SecretBytes::from_slice(b"8765\xFF\xFF\xFF\xFF"),
        puk1: SecretBytes::from_slice(b"13572468"),
        puk2: SecretBytes::from_slice(b"24681357"),
        adm1: SecretBytes::from_slice(b"99887766"),
        msisdn: Some("4915112345678".into()),
        ota_keys: Some(OtaKeys {
            kvn: 1,
            kic: SecretBytes::new(vec![0xC1; 16]),
            kid: SecretBytes::new(vec![0xD1; 16]),
            kik: SecretBytes::new(vec![0xE1; 16]),
        }),
    }
}

fn file_contents(e: &ProfileElement, field: u32) -> Vec<u8> {
    let (ProfileElement::Mf(p) | ProfileElement::Usim(p) | ProfileElement::OptUsim(p)) = e else {
        panic!("not a template PE: {}", e.kind());
    };
    p.file(field).and_then(|f| f.contents()).unwrap()
}

#[test]
fn committed_sample_template_equals_the_builder() {
    let committed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/sample-usim.der"
    ))
    .unwrap();
    assert!(
        committed == sample::usim_template_der(),
        "smdp/templates/sample-usim.der is stale: run `cargo run -p smdp --example sample_template`"
    );
    let package = validate::validate_bytes(&committed, &Limits::default()).unwrap();
    assert_eq!(package, sample::usim_template());
}

#[test]
fn untouched_packages_re_encode_byte_for_byte() {
    let template = sample::usim_template_der();
    assert_eq!(
        ProfilePackage::decode(&template).unwrap().encode(),
        template
    );

    // A hand-written package with fields the codec keeps raw: header pol and connectivityParameters, an
    // explicit DEFAULT pinAttributes, an AKA parameter with rotationConstants, sqnOptions and a full sqnInit
    // (32 x 6 bytes), a key with keyAccess and keyCounterValue, an rfm element and an unknown element.
    let header = tlv(
        &[0xA0],
        &cat(&[
            tlv(&[0x80], &[2]),
            tlv(&[0x81], &[3]),
            tlv(
                &[0x83],
                &[0x89, 0x49, 0x00, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34],
            ),
            tlv(&[0x84], &[0x01, 0x02]),
            tlv(&[0xA5], &tlv(&[0x84], &[])),
            tlv(&[0xA6], &[]),
            tlv(&[0x87], &[0xAB, 0xCD]),
        ]),
    );
    let mf = tlv(
        &[0xB0],
        &cat(&[
            pe_header(1),
            tlv(&[0x81], &[0x67, 0x81, 0x0F, 0x01, 0x02, 0x01]),
            tlv(&[0xA2], &[]),
            tlv(
                &[0xA4],
                &tlv(
                    &[0x83],
                    &[0x98, 0x94, 0x00, 0x21, 0x43, 0x65, 0x87, 0x09, 0x21, 0x43],
                ),
            ),
            tlv(&[0xA5], &[]),
            tlv(&[0xA6], &[]),
        ]),
    );
    let pins = tlv(
        &[0xA2],
        &cat(&[
            pe_header(2),
            tlv(
                &[0xA1],
                &tlv(
                    &[0xA0],
                    &tlv(
                        &[0x30],
                        &cat(&[
                            tlv(&[0x80], &[0x01]),
                            tlv(&[0x81], b"1234\xFF\xFF\xFF\xFF"),
                            tlv(&[0x83], &[0x07]),
                        ]),
                    ),
                ),
            ),
        ]),
    );
    let sqn_init: Vec<u8> = (0..32u8)
        .flat_map(|i| tlv(&[0x04], &[0, 0, 0, 0, 0, i]))
        .collect();
    let aka = tlv(
        &[0xA4],
        &cat(&[
            pe_header(3),
            tlv(
                &[0xA1],
                &tlv(
                    &[0xA1],
                    &cat(&[
                        tlv(&[0x80], &[0x01]),
                        tlv(&[0x81], &[0x00]),
                        tlv(&[0x82], &[0x11; 16]),
                        tlv(&[0x83], &[0x22; 16]),
                        tlv(&[0x84], &[0x40, 0x00, 0x20, 0x40, 0x60]),
                    ]),
                ),
            ),
            tlv(&[0x82], &[0x02]),
            tlv(&[0xA5], &sqn_init),
        ]),
    );
    let sd = tlv(
        &[0xA6],
        &cat(&[
            pe_header(4),
            tlv(&[0xA1], &tlv(&[0x4F], &[0xA0, 0, 0, 1, 0x51])),
            tlv(
                &[0xA2],
                &tlv(
                    &[0x30],
                    &cat(&[
                        tlv(&[0x95], &[0x18]),
                        tlv(&[0x96], &[0x00]),
                        tlv(&[0x82], &[0x01]),
                        tlv(&[0x83], &[0x01]),
                        tlv(&[0x85], &[0x00, 0x00, 0x01]),
                        tlv(
                            &[0x30],
                            &tlv(
                                &[0x30],
                                &cat(&[
                                    tlv(&[0x80], &[0x88]),
                                    tlv(&[0x86], &[0x33; 16]),
                                    tlv(&[0x87], &[0x08]),
                                ]),
                            ),
                        ),
                    ]),
                ),
            ),
        ]),
    );
    let rfm = tlv(
        &[0xA7],
        &cat(&[
            pe_header(5),
            tlv(&[0x4F], &[0xA0, 0, 0, 0, 0x87]),
            tlv(&[0x81], &[0x06]),
            tlv(&[0x04], &[0x00]),
            tlv(&[0x04], &[0x00]),
        ]),
    );
    let unknown = tlv(
        &[0xBF, 0x30],
        &cat(&[pe_header(6), tlv(&[0x81], &[1, 2, 3])]),
    );
    let end = tlv(&[0xAA], &pe_header(7));
    let package = cat(&[header, mf, pins, aka, sd, rfm, unknown, end]);
    let decoded = validate::validate_bytes(&package, &Limits::default()).unwrap();
    assert_eq!(decoded.encode(), package);
    let kinds: Vec<&str> = decoded.elements.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        [
            "header",
            "mf",
            "pinCodes",
            "akaParameter",
            "securityDomain",
            "rfm",
            "unknown",
            "end"
        ]
    );
    let ProfileElement::AkaParameter(a) = &decoded.elements[3] else {
        panic!()
    };
    let AlgoConfiguration::AlgoParameter(p) = &a.algo_configuration else {
        panic!()
    };
    assert_eq!(p.key.expose(), &[0x11; 16]);
    assert_eq!(p.opc.expose(), &[0x22; 16]);
    assert_eq!(a.other.len(), 2, "sqnOptions and sqnInit kept raw");
    let ProfileElement::SecurityDomain(s) = &decoded.elements[4] else {
        panic!()
    };
    let key = &s.key_list.as_ref().unwrap()[0];
    assert_eq!(
        (
            key.key_version_number,
            key.key_identifier,
            key.key_access,
            key.key_components[0].mac_length
        ),
        (1, 1, Some(0), Some(8))
    );
    assert_eq!(decoded.elements[6].identification(), Some(6));
}

#[test]
fn decode_personalise_decode_round_trip() {
    let template = ProfilePackage::decode(&sample::usim_template_der()).unwrap();
    let r = record();
    let bytes = personalise(&template, &r).unwrap();
    let package = validate::validate_bytes(&bytes, &Limits::default()).unwrap();
    assert_eq!(
        package.encode(),
        bytes,
        "personalised package re-encodes exactly"
    );

    let header = package.header().unwrap();
    assert_eq!(
        header.iccid,
        [0x89, 0x49, 0x00, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34]
    );
    assert_eq!(
        file_contents(&package.elements[1], mf_field::EF_ICCID),
        [0x98, 0x94, 0x00, 0x21, 0x43, 0x65, 0x87, 0x09, 0x21, 0x43]
    );
    let usim = &package.elements[6];
    assert_eq!(
        file_contents(usim, usim_field::EF_IMSI),
        [0x08, 0x29, 0x26, 0x10, 0x89, 0x67, 0x45, 0x23, 0x01]
    );
    assert_eq!(file_contents(usim, usim_field::EF_ACC), [0x00, 0x01]);
    let ProfileElement::AkaParameter(aka) = &package.elements[9] else {
        panic!()
    };
    let AlgoConfiguration::AlgoParameter(p) = &aka.algo_configuration else {
        panic!()
    };
    assert_eq!(
        (p.key.expose(), p.opc.expose()),
        (&[0xA5; 16][..], &[0x5A; 16][..])
    );

    // Everything that carries no personal value is untouched.
    for (i, (a, b)) in template.elements.iter().zip(&package.elements).enumerate() {
        if matches!(a, ProfileElement::Telecom(_) | ProfileElement::End(_)) {
            assert_eq!(a.encode(), b.encode(), "element {i}");
        }
    }
    // Personalising the decoded result again with the same record is a fixed point.
    assert_eq!(personalise(&package, &r).unwrap(), bytes);
}

#[test]
fn personalisation_errors_name_the_field_and_never_the_value() {
    let personaliser = Personaliser::new(&sample::usim_template_der(), Limits::default()).unwrap();

    let mut bad_luhn = record();
    bad_luhn.iccid = "89490012345678901235".into();
    let err = personaliser.personalise(&bad_luhn).unwrap_err();
    assert!(
        matches!(err, SaipError::Record { field: "ICCID", .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("8949001234"), "{err}");

    let mut short_k = record();
    short_k.k = SecretBytes::new(vec![0xA5; 15]);
    let err = personaliser.personalise(&short_k).unwrap_err();
    assert_eq!(err.to_string(), "record field K: not 16 bytes");

    // The template lists milenage: switching the AKA algorithm breaks its mandatory services.
    let mut test_algo = record();
    test_algo.algorithm = AkaAlgorithm::UsimTestAlgorithm;
    let err = personaliser.personalise(&test_algo).unwrap_err();
    assert!(err.to_string().contains("Milenage"), "{err}");

    // Without the opt-USIM element there is no EF.MSISDN to write.
    let mut no_opt = sample::usim_template();
    no_opt
        .elements
        .retain(|e| !matches!(e, ProfileElement::OptUsim(_)));
    let header = no_opt.elements[0].clone();
    if let ProfileElement::Header(mut h) = header {
        h.mandatory_gfste_list.pop();
        no_opt.elements[0] = ProfileElement::Header(h);
    }
    let err = personalise(&no_opt, &record()).unwrap_err();
    assert!(matches!(err, SaipError::Template(_)), "{err}");
    let mut without_msisdn = record();
    without_msisdn.msisdn = None;
    assert!(personalise(&no_opt, &without_msisdn).is_ok());
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let r = record();
    let package = ProfilePackage::decode(
        &Personaliser::new(&sample::usim_template_der(), Limits::default())
            .unwrap()
            .personalise(&r)
            .unwrap(),
    )
    .unwrap();
    for text in [format!("{r:?}"), format!("{package:?}")] {
        assert!(text.contains("[redacted]"));
        for secret in ["165, 165", "52, 51, 50, 49", "57, 57, 56, 56", "193, 193"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    let text = RecordText {
        iccid: "89490012345678901234",
        imsi: "262019876543210",
        k: "A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5",
        opc: "zz5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A",
        pin1: "12",
        puk1: "1234567",
        pin2: "1234",
        puk2: "12345678",
        adm1: "1234567890",
        msisdn: None,
        kic1: Some("00112233445566778899AABBCCDDEEFF"),
        kid1: None,
        kik1: None,
    };
    let shown = format!("{text:?}");
    assert!(
        !shown.contains("A5A5") && !shown.contains("0011223344"),
        "{shown}"
    );
    let errors = PersonalisationRecord::from_text(&text).unwrap_err();
    let columns: Vec<&str> = errors.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        columns,
        ["K", "OPC", "PIN1", "PUK1", "ADM1", "KID1", "KIK1"]
    );
}

fn expect_invalid(bytes: &[u8]) -> (ElementRef, String) {
    match validate::validate_bytes(bytes, &Limits::default()) {
        Err(SaipError::Invalid { element, reason }) => (element, reason),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn validation_failures_name_element_and_offset() {
    let template = sample::usim_template();
    let offsets = template.element_offsets();
    assert_eq!(offsets[1], 77);

    // Missing end: the last element (the MNO-SD) is named.
    let mut p = template.clone();
    p.elements.pop();
    let (element, reason) = expect_invalid(&p.encode());
    assert_eq!(
        (
            element.index,
            element.kind,
            element.identification,
            element.offset
        ),
        (10, "securityDomain", Some(10), offsets[10])
    );
    assert!(reason.contains("last element must be the end"), "{reason}");

    // Header not first.
    let mut p = template.clone();
    p.elements.swap(0, 1);
    let (element, reason) = expect_invalid(&p.encode());
    assert_eq!(
        (
            element.index,
            element.kind,
            element.identification,
            element.offset
        ),
        (0, "mf", Some(1), 0)
    );
    assert!(
        reason.contains("first element must be the header"),
        "{reason}"
    );

    // Duplicate identification: the end reuses the PIN codes' number 3.
    let mut p = template.clone();
    if let Some(ProfileElement::End(end)) = p.elements.last_mut() {
        end.header.identification = 3;
    }
    let (element, reason) = expect_invalid(&p.encode());
    assert_eq!(
        (
            element.index,
            element.kind,
            element.identification,
            element.offset
        ),
        (11, "end", Some(3), offsets[11])
    );
    assert_eq!(reason, "identification 3 used twice");

    // ICCID mismatch: the header says …05, EF.ICCID still holds the placeholder.
    let mut p = template.clone();
    if let ProfileElement::Header(h) = &mut p.elements[0] {
        h.iccid[9] = 0x05;
    }
    let (element, reason) = expect_invalid(&p.encode());
    assert_eq!(
        (
            element.index,
            element.kind,
            element.identification,
            element.offset
        ),
        (1, "mf", Some(1), 77)
    );
    assert!(reason.contains("EF.ICCID does not match"), "{reason}");

    // Bad IMSI coding: parity nibble 0xA.
    let mut bytes = template.encode();
    let at = bytes
        .windows(9)
        .position(|w| w == [0x08, 0x09, 0x10, 0x10, 0, 0, 0, 0, 0])
        .unwrap();
    bytes[at + 1] = 0x0A;
    let (element, reason) = expect_invalid(&bytes);
    assert_eq!((element.kind, element.offset), ("usim", offsets[6]));
    assert!(reason.contains("parity"), "{reason}");

    // Mandatory service without its element.
    let mut p = template.clone();
    if let ProfileElement::Header(h) = &mut p.elements[0] {
        h.mandatory_services.present.push(2);
    }
    let (element, reason) = expect_invalid(&p.encode());
    assert_eq!((element.index, element.kind), (0, "header"));
    assert!(reason.contains("Isim"), "{reason}");
}

#[test]
fn malformed_der_names_element_and_offset() {
    let bytes = sample::usim_template_der();
    let offsets = sample::usim_template().element_offsets();
    let sd = offsets[10];
    assert_eq!(&bytes[sd..sd + 3], &[0xA6, 0x81, 0xAB]);

    // Truncated inside the security domain.
    let err = ProfilePackage::decode(&bytes[..sd + 40]).unwrap_err();
    let SaipError::Malformed {
        element,
        offset,
        reason,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (
            element.index,
            element.kind,
            element.identification,
            element.offset
        ),
        (10, "securityDomain", Some(10), sd)
    );
    // The one TLV reader (certs::tlv) reports a truncated value where its bytes start (after `A6 81 AB`).
    assert_eq!(*offset, sd + 3);
    assert!(reason.contains("truncated"), "{reason}");
    assert!(err.to_string().contains(&format!("offset {sd}")), "{err}");

    // A length in long form where the short form fits (not DER), inside the MF.
    let mut bytes2 = bytes.clone();
    let mf = offsets[1];
    // The MF's first field is its PEHeader `A0 05`; rewrite it as `A0 81 05` (and fix the outer length).
    assert_eq!(&bytes2[mf..mf + 5], &[0xB0, 0x81, 0xAC, 0xA0, 0x05]);
    bytes2[mf + 2] += 1;
    bytes2.splice(mf + 4..mf + 5, [0x81, 0x05]);
    let err = ProfilePackage::decode(&bytes2).unwrap_err();
    let SaipError::Malformed {
        element, offset, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((element.index, element.kind, *offset), (1, "mf", mf + 4));

    // Limits.
    let limits = Limits {
        max_package_bytes: 1 << 20,
        max_elements: 5,
    };
    let err = ProfilePackage::decode_with_limits(&bytes, &limits).unwrap_err();
    assert_eq!(
        err,
        SaipError::Package {
            offset: offsets[5],
            reason: "more than 5 elements".into()
        }
    );
    let err = ProfilePackage::decode(&[]).map(|p| validate::validate(&p, &Limits::default()));
    assert!(matches!(err, Ok(Err(SaipError::Package { .. }))));
}

#[test]
fn synthetic_records_personalise() {
    let personaliser = Personaliser::new(&sample::usim_template_der(), Limits::default()).unwrap();
    let mut previous = Vec::new();
    for i in [0u64, 1, 999_999_999] {
        let r = bench::synthetic_record(i);
        r.check().unwrap();
        let p = personaliser.personalise(&r).unwrap();
        assert_ne!(p, previous);
        previous = p;
    }
}
