//! The bodies of the fuzz targets (issue 10 item 11): one function per parser that takes bytes from outside.
//!
//! Each body must never panic on any input; where an encoder exists it checks that decode → encode → decode
//! gives the same value. The cargo-fuzz targets in `fuzz/fuzz_targets/` call these functions, and the stable
//! test `fuzz-corpus/tests/corpus.rs` runs every file of `fuzz/corpus/<target>/` through them, so a crash found
//! once stays fixed. See `fuzz/README.md`.

use std::sync::OnceLock;

use certs::x509::X509Certificate;
use es_interfaces::xml::{Document, Element};

/// A fuzz target: its name (the cargo-fuzz target and the corpus folder) and its body.
pub struct Target {
    /// Name of the cargo-fuzz target and of its folder under `fuzz/corpus/`.
    pub name: &'static str,
    /// The body: must not panic whatever `data` is.
    pub run: fn(&[u8]),
}

/// Every fuzz target, in the order of `fuzz/Cargo.toml`.
pub const TARGETS: &[Target] = &[
    Target {
        name: "tlv",
        run: tlv,
    },
    Target {
        name: "xml",
        run: xml,
    },
    Target {
        name: "soap",
        run: soap,
    },
    Target {
        name: "scp80_command",
        run: scp80_command,
    },
    Target {
        name: "scp80_por",
        run: scp80_por,
    },
    Target {
        name: "sms",
        run: sms,
    },
    Target {
        name: "smpp",
        run: smpp,
    },
    Target {
        name: "apdu",
        run: apdu,
    },
    Target {
        name: "script",
        run: script,
    },
    Target {
        name: "notification",
        run: notification,
    },
    Target {
        name: "euicc_response",
        run: euicc_response,
    },
    #[cfg(feature = "smdp")]
    Target {
        name: "saip",
        run: saip,
    },
    Target {
        name: "gp_cert",
        run: gp_cert,
    },
    Target {
        name: "x509",
        run: x509,
    },
    Target {
        name: "xmldsig",
        run: xmldsig,
    },
    Target {
        name: "c14n",
        run: c14n,
    },
    #[cfg(feature = "smdp")]
    Target {
        name: "order_csv",
        run: order_csv,
    },
    #[cfg(feature = "smdp")]
    Target {
        name: "order_out",
        run: order_out,
    },
    Target {
        name: "scp81",
        run: scp81,
    },
];

/// The body of the target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

// ---------------------------------------------------------------------------------------------------------------
// TLV (ISO/IEC 7816-4 §5.2, ETSI TS 102 226 §5.2.1, GP DGI, DER)

fn walk_es_tlv(t: &es_interfaces::tlv::Tlv<'_>) {
    if t.tag.is_constructed()
        && let Ok(children) = t.children()
    {
        for c in &children {
            walk_es_tlv(c);
        }
    }
}

fn walk_certs_tlv(t: &certs::tlv::Tlv<'_>) {
    if t.is_constructed()
        && let Ok(reader) = t.children()
        && let Ok(children) = reader.read_all()
    {
        for c in &children {
            walk_certs_tlv(c);
        }
    }
}

/// The BER-TLV readers, definite and indefinite, the DGI reader and the shared reader under each rule set.
pub fn tlv(data: &[u8]) {
    use es_interfaces::tlv;
    if let Ok(tlvs) = tlv::parse_all(data) {
        let mut out = Vec::new();
        for t in &tlvs {
            walk_es_tlv(t);
            tlv::encode_into(t.tag, t.value, &mut out).expect("a parsed TLV re-encodes");
        }
        let again = tlv::parse_all(&out).expect("an encoded TLV sequence parses");
        assert_eq!(again.len(), tlvs.len());
        for (a, b) in again.iter().zip(&tlvs) {
            assert_eq!((a.tag, a.value), (b.tag, b.value));
        }
    }
    if let Ok(tlvs) = tlv::parse_all_indefinite(data) {
        for t in &tlvs {
            walk_es_tlv(t);
        }
    }
    let _ = tlv::parse_first(data);
    let _ = tlv::parse_single(data);
    let _ = tlv::parse_indefinite(data);
    if let Ok(dgis) = tlv::parse_dgis(data) {
        let mut out = Vec::new();
        for d in &dgis {
            out.extend(tlv::encode_dgi(d.tag, d.value).expect("a parsed DGI re-encodes"));
        }
        let again = tlv::parse_dgis(&out).expect("an encoded DGI sequence parses");
        assert_eq!(again.len(), dgis.len());
        for (a, b) in again.iter().zip(&dgis) {
            assert_eq!((a.tag, a.value), (b.tag, b.value));
        }
    }
    use certs::tlv::{Reader, Rules};
    for rules in [
        Rules::BER,
        Rules::BER.with_indefinite(),
        Rules::GP,
        Rules::DER,
    ] {
        if let Ok(tlvs) = Reader::new(data, 0, rules).read_all() {
            for t in &tlvs {
                walk_certs_tlv(t);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// XML, SOAP and the SGP.02 message decoders

fn walk_xml(el: &Element) {
    let _ = el.text();
    let _ = el.has_non_whitespace_text();
    for c in el.child_elements() {
        walk_xml(c);
    }
}

/// Decodes `el` with `decode`; if it decodes, its standalone XML must parse and decode to the same value.
fn message_round_trip<T: PartialEq + std::fmt::Debug>(
    el: &Element,
    decode: fn(&Element) -> Result<T, es_interfaces::messages::codec::DecodeError>,
    to_xml: fn(&T) -> String,
) {
    if let Ok(m) = decode(el) {
        let text = to_xml(&m);
        let doc = Document::parse(text.as_bytes()).expect("an encoded message parses");
        let again = decode(doc.root()).expect("an encoded message decodes");
        assert_eq!(again, m);
    }
}

/// Every SGP.02 body decoder on `el`.
fn decode_messages(el: &Element) {
    use es_interfaces::messages::{es1, es2, es3, es4, es4v4, es7};
    message_round_trip(el, es1::Message::decode, es1::Message::to_xml);
    message_round_trip(el, es2::Message::decode, es2::Message::to_xml);
    message_round_trip(el, es3::Message::decode, es3::Message::to_xml);
    message_round_trip(el, es4::Message::decode, es4::Message::to_xml);
    message_round_trip(el, es4v4::Request::decode, es4v4::Request::to_xml);
    message_round_trip(el, es4v4::Response::decode, es4v4::Response::to_xml);
    message_round_trip(el, es7::Message::decode, es7::Message::to_xml);
}

/// The XML reader, and every message decoder on the root element.
pub fn xml(data: &[u8]) {
    if let Ok(doc) = Document::parse(data) {
        walk_xml(doc.root());
        decode_messages(doc.root());
    }
}

/// The SOAP envelope reader (headers, fault, body) and the message decoders on the body's elements.
pub fn soap(data: &[u8]) {
    use es_interfaces::soap::Envelope;
    if let Ok(env) = Envelope::parse(data) {
        let _ = env.wsa();
        let _ = env.header_blocks();
        if env.is_fault() {
            let _ = env.fault();
        }
        for el in env.body().child_elements() {
            decode_messages(el);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// SCP80 (ETSI TS 102 225)

/// The SCP80 keys the SCP80 targets open packets with (KIc and KID of the AES test vector).
pub fn scp80_keys() -> es_interfaces::scp80::KeySet {
    use es_interfaces::scp80::{KeySet, SecretKey};
    KeySet {
        kic: SecretKey::new(&hex_key("200102030405060708090a0b0c0d0e0f")),
        kid: SecretKey::new(&hex_key("201102030405060708090a0b0c0d0e0f")),
    }
}

fn hex_key(h: &str) -> Vec<u8> {
    hex::decode(h).expect("a constant key")
}

/// A command packet (from CPL on) read and opened with the fixed test keys; an opened packet rebuilt from its
/// header and data must open to the same.
pub fn scp80_command(data: &[u8]) {
    use es_interfaces::scp80::{build_command, parse_command};
    let keys = scp80_keys();
    let Ok(packet) = parse_command(data) else {
        return;
    };
    let Ok(opened) = packet.open(&keys) else {
        return;
    };
    let rebuilt =
        build_command(&opened.header, &keys, &opened.data).expect("an opened command rebuilds");
    let again = parse_command(&rebuilt)
        .expect("a built command parses")
        .open(&keys)
        .expect("a built command opens");
    assert_eq!((again.header, &again.data), (opened.header, &opened.data));
}

/// A PoR: `SPI(2) KIc KID TAR(3)` of the command it answers, then the PoR from RPL on, opened with the fixed
/// keys; an opened PoR rebuilt must open to the same.
pub fn scp80_por(data: &[u8]) {
    use es_interfaces::scp80::{Kic, Kid, Spi, build_por, open_por};
    let [s1, s2, kic, kid, t1, t2, t3, packet @ ..] = data else {
        return;
    };
    let Ok(spi) = Spi::from_bytes([*s1, *s2]) else {
        return;
    };
    let (kic, kid, tar) = (Kic(*kic), Kid(*kid), [*t1, *t2, *t3]);
    let keys = scp80_keys();
    let Ok(por) = open_por(packet, &spi, kic, kid, &keys, tar) else {
        return;
    };
    let rebuilt = build_por(&spi, kic, kid, &keys, &por).expect("an opened PoR rebuilds");
    let again = open_por(&rebuilt, &spi, kic, kid, &keys, tar).expect("a built PoR opens");
    assert_eq!(again, por);
}

// ---------------------------------------------------------------------------------------------------------------
// SMS (3GPP TS 23.040, 31.115) and SMPP 3.4

/// TP-UD parsing and re-encoding, and the reassembler fed with `len source tp-ud` chunks; a packet it completes
/// must come back whole through `to_tp_uds` and a fresh reassembler.
pub fn sms(data: &[u8]) {
    use es_interfaces::sms::{PushOutcome, Reassembler, Segment, UserData, to_tp_uds};
    if let Ok(ud) = UserData::parse(data)
        && let Ok(bytes) = ud.to_bytes()
    {
        let again = UserData::parse(&bytes).expect("an encoded TP-UD parses");
        assert_eq!(again, ud);
    }
    let _ = Segment::parse(data);
    let mut r: Reassembler<u8> = Reassembler::new(8, 16);
    let mut rest = data;
    while let [len, source, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        if let Ok(PushOutcome::Complete(a)) = r.push(*source % 4, &tail[..n])
            && let Ok(tp_uds) = to_tp_uds(a.kind, &a.packet, 7)
        {
            let mut fresh: Reassembler<u8> = Reassembler::new(255, 4);
            let mut done = None;
            for ud in &tp_uds {
                match fresh
                    .push(0, ud)
                    .expect("a segment of to_tp_uds is accepted")
                {
                    PushOutcome::Complete(b) => done = Some(b),
                    PushOutcome::Pending { .. } => {}
                    other => panic!("unexpected outcome {other:?}"),
                }
            }
            assert_eq!(done.as_ref(), Some(&a));
        }
        rest = &tail[n..];
    }
}

/// One SMPP PDU decoded, re-encoded and decoded again; the stream framer and the delivery-receipt text.
///
/// A response with an error status is decoded with or without its body but always encoded without it
/// (SMPP 3.4 §4.4.2, see `Pdu::encode`): for those only the second encoding must equal the first.
pub fn smpp(data: &[u8]) {
    use es_interfaces::smpp::{DeliveryReceipt, FrameDecoder, Pdu};
    if let Ok(pdu) = Pdu::decode(data) {
        let bytes = pdu.encode().expect("a decoded PDU re-encodes");
        let again = Pdu::decode(&bytes).expect("an encoded PDU decodes");
        if pdu.command_id().is_response() && !pdu.command_status.is_ok() {
            assert_eq!(again.encode().expect("re-encodes"), bytes);
        } else {
            assert_eq!(again, pdu);
        }
    }
    let mut framer = FrameDecoder::new(4096);
    framer.extend(data);
    while let Ok(Some(frame)) = framer.next_frame() {
        let frame = frame.to_vec();
        let _ = Pdu::decode(&frame);
    }
    let _ = DeliveryReceipt::parse(data);
}

// ---------------------------------------------------------------------------------------------------------------
// APDUs, remote command scripts, notifications and the eUICC's answers

/// Command and response APDUs, INSTALL data and the STORE DATA P1 (ISO/IEC 7816-4 §5.1, GP §11).
pub fn apdu(data: &[u8]) {
    use es_interfaces::apdu::{CommandApdu, InstallData, ResponseApdu, StoreDataP1};
    if let Ok(c) = CommandApdu::parse(data) {
        let bytes = c.to_bytes().expect("a parsed command APDU re-encodes");
        assert_eq!(
            CommandApdu::parse(&bytes).expect("an encoded APDU parses"),
            c
        );
    }
    if let Ok(r) = ResponseApdu::parse(data) {
        assert_eq!(r.to_bytes(), data);
    }
    let _ = InstallData::parse(data);
    if let Some(b) = data.first()
        && let Ok(p1) = StoreDataP1::from_byte(*b)
    {
        assert_eq!(StoreDataP1::from_byte(p1.to_byte()), Ok(p1));
    }
}

/// Expanded (definite and indefinite) and compact command and response scripts (ETSI TS 102 226 §5.2).
pub fn script(data: &[u8]) {
    use es_interfaces::script::{CommandScript, CompactResponse, ResponseScript};
    if let Ok(s) = CommandScript::parse_expanded(data) {
        for bytes in [s.to_expanded(), s.to_expanded_indefinite()] {
            let bytes = bytes.expect("a parsed script re-encodes");
            assert_eq!(CommandScript::parse_expanded(&bytes).expect("re-parses"), s);
        }
    }
    if let Ok(s) = CommandScript::parse_compact(data) {
        let bytes = s.to_compact().expect("a parsed compact script re-encodes");
        assert_eq!(CommandScript::parse_compact(&bytes).expect("re-parses"), s);
    }
    if let Ok(s) = ResponseScript::parse_expanded(data) {
        for bytes in [s.to_expanded(), s.to_expanded_indefinite()] {
            let bytes = bytes.expect("a parsed response script re-encodes");
            assert_eq!(
                ResponseScript::parse_expanded(&bytes).expect("re-parses"),
                s
            );
        }
    }
    if let Ok(r) = CompactResponse::parse(data) {
        assert_eq!(CompactResponse::parse(&r.to_bytes()).expect("re-parses"), r);
    }
}

/// An eUICC notification (SGP.02 §4.1.1.11).
pub fn notification(data: &[u8]) {
    use es_interfaces::notification::Notification;
    if let Ok(n) = Notification::parse(data) {
        let bytes = n.to_bytes().expect("a parsed notification re-encodes");
        assert_eq!(Notification::parse(&bytes).expect("re-parses"), n);
    }
}

/// The ISD-R, ES8 and SCP03 answers of an eUICC (SGP.02 §4.1, §5.5; GP Amendment D).
pub fn euicc_response(data: &[u8]) {
    use es_interfaces::isdr;
    let _ = isdr::parse_notification_confirmation_response(data);
    let _ = isdr::parse_audit_response(data);
    let _ = isdr::ExtendedCardResources::parse(data);
    let _ = isdr::parse_random_challenge_response(data);
    let _ = isdr::KeyAgreementResponse::parse(data);
    let _ = isdr::KeyAgreement::parse(data);
    let _ = es_interfaces::es8::EuiccResponse::parse(data);
    let _ = es_interfaces::scp03::InitializeUpdateResponse::parse(data);
}

/// The SCP81 texts and bytes an eUICC sends or the SM-SR reads (wire-profile §3): PSK identity, X-Admin-From,
/// application address, Next-URI, script status, session trigger; round trips where an encoder exists.
pub fn scp81(data: &[u8]) {
    use es_interfaces::scp81::{
        AdminFrom, NextUri, PskIdentity, ScriptStatus, SessionTrigger, parse_aid_address,
    };
    if let Ok(id) = PskIdentity::parse_text(data) {
        let text = id.to_text().expect("a parsed identity re-encodes");
        assert_eq!(
            PskIdentity::parse_text(text.as_bytes()).expect("re-parses"),
            id
        );
    }
    if let Ok(t) = SessionTrigger::parse(data) {
        let bytes = t.to_bytes().expect("a parsed trigger re-encodes");
        assert_eq!(SessionTrigger::parse(&bytes).expect("re-parses"), t);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = AdminFrom::parse(text)
        && let Some(h) = f.to_header()
    {
        assert_eq!(AdminFrom::parse(&h).expect("re-parses"), f);
    }
    if let Ok(n) = NextUri::parse(text) {
        let h = n.to_header().expect("a parsed Next-URI re-encodes");
        assert_eq!(NextUri::parse(&h).expect("re-parses"), n);
    }
    if let Ok(s) = ScriptStatus::parse(text) {
        assert_eq!(ScriptStatus::parse(s.as_str()).expect("re-parses"), s);
    }
    let _ = parse_aid_address(text);
}

// ---------------------------------------------------------------------------------------------------------------
// SAIP, certificates and the EIS signature

#[cfg(feature = "smdp")]
/// A SAIP profile package (TCA PEDefinitions v3.3.1) and the DER reader walked on its own.
pub fn saip(data: &[u8]) {
    use smdp::saip::ProfilePackage;
    if let Ok(p) = ProfilePackage::decode(data) {
        let bytes = p.encode();
        assert_eq!(
            ProfilePackage::decode(&bytes).expect("an encoded package decodes"),
            p
        );
    }
    walk_der(smdp::saip::der::Reader::new(data, 0), 0);
}

#[cfg(feature = "smdp")]
fn walk_der(mut reader: smdp::saip::der::Reader<'_>, depth: usize) {
    while let Ok(t) = reader.read() {
        let _ = t.uint();
        if depth < 64
            && let Ok(children) = t.children()
        {
            walk_der(children, depth + 1);
        }
    }
}

/// A GlobalPlatform 7F21 certificate (GP Amendment E; SGP.02 §2.3.2).
pub fn gp_cert(data: &[u8]) {
    use certs::gp_cert::GpCertificate;
    if let Ok(c) = GpCertificate::decode(data) {
        let bytes = c.encode();
        assert_eq!(
            GpCertificate::decode(&bytes).expect("an encoded certificate decodes"),
            c
        );
        let _ = (c.body().not_before(), c.body().not_after());
    }
}

/// An X.509 certificate, DER and PEM (RFC 5280).
pub fn x509(data: &[u8]) {
    if let Ok(c) = X509Certificate::from_der(data) {
        let again =
            X509Certificate::from_pem(&c.to_pem()).expect("a PEM of a parsed certificate parses");
        assert_eq!(again.der(), c.der());
        let _ = (
            c.subject_key_id(),
            c.authority_key_id(),
            c.key_usage(),
            c.is_ca(),
        );
        let _ = c.verify_signed_by(&c);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = X509Certificate::from_pem(text);
    }
}

/// The EUM key and self-signed certificate the `xmldsig` target verifies against (fixed seed).
pub fn eum_identity() -> &'static (certs::ecc::PrivateKey, X509Certificate) {
    static EUM: OnceLock<(certs::ecc::PrivateKey, X509Certificate)> = OnceLock::new();
    EUM.get_or_init(|| {
        use certs::ecc::{Curve, PrivateKey};
        use certs::x509::{X509Params, X509Profile, issue_self_signed};
        use rand::SeedableRng;
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(11);
        let key = PrivateKey::generate(Curve::P256, &mut rng);
        let now = time::OffsetDateTime::now_utc();
        let params = X509Params {
            common_name: "fuzz EUM".into(),
            organization: "RSP fuzz".into(),
            entity_oid: None,
            serial: vec![1],
            not_before: now - time::Duration::days(1),
            not_after: now + time::Duration::days(365),
            profile: X509Profile::CiRoot,
        };
        let cert = issue_self_signed(&params, &key).expect("a fuzz certificate");
        (key, cert)
    })
}

/// The EIS EUM signature check (XML-DSig, exclusive C14N): `EumSignedInfo` XML, a zero byte, the signature
/// XML; verified against a fixed certificate.
pub fn xmldsig(data: &[u8]) {
    let (info, signature) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(info), Ok(signature)) = (std::str::from_utf8(info), std::str::from_utf8(signature))
    else {
        return;
    };
    let _ = certs::xmldsig::signature_content(signature);
    let _ = certs::xmldsig::verify_eum_signature(info, signature, &eum_identity().1);
}

/// Exclusive XML canonicalisation (W3C xml-exc-c14n): the canonical form of a canonical form is itself.
pub fn c14n(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(el) = certs::c14n::parse(text) {
        let _ = el.text();
    }
    if let Ok(canonical) = certs::c14n::canonicalize(text) {
        let again = certs::c14n::canonicalize(&canonical).expect("a canonical form parses");
        assert_eq!(again, canonical);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Order files

#[cfg(feature = "smdp")]
fn order_file(data: &[u8], format: smdp::batch::BatchFormat) {
    use smdp::batch::{Limits, rows_with, validate_file_with};
    let limits = Limits {
        max_record_bytes: 4096,
    };
    let _ = validate_file_with(data, format, &limits, &mut |_| {});
    if let Ok(rows) = rows_with(data, format, &limits) {
        for row in rows.take(10_000) {
            let _ = row;
        }
    }
}

#[cfg(feature = "smdp")]
/// A CSV order file: validation pass and row pass.
pub fn order_csv(data: &[u8]) {
    order_file(data, smdp::batch::BatchFormat::Csv);
}

#[cfg(feature = "smdp")]
/// A `.out` order file: validation pass and row pass.
pub fn order_out(data: &[u8]) {
    order_file(data, smdp::batch::BatchFormat::Out);
}
