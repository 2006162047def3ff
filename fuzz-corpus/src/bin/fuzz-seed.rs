//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/seed-*` from the test vectors
//! (testdata/vectors/*.json), the XML of the repository's tests and values built with the project's encoders.
//! Run from the workspace root: `cargo run -p fuzz-corpus --bin fuzz-seed`. Existing files are overwritten,
//! others (found crashes, minimised inputs) are left alone.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[path = "../../../es-interfaces/tests/messages_support/mod.rs"]
mod messages_support;

use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::notification::{Notification, NotificationType};
use es_interfaces::scp80::{
    self, CommandHeader, Counter, Kic, Kid, PorStatus, ResponsePacket, Spi,
};
use es_interfaces::script::{CommandScript, CompactResponse, ResponseScript};
use es_interfaces::sms::{PacketKind, to_tp_uds};

/// At most this many seeds per target.
const MAX_SEEDS: usize = 40;

type Seeds = BTreeMap<&'static str, Vec<(String, Vec<u8>)>>;

fn add(seeds: &mut Seeds, target: &'static str, name: impl Into<String>, bytes: Vec<u8>) {
    let list = seeds.entry(target).or_default();
    if list.len() < MAX_SEEDS && !list.iter().any(|(_, b)| *b == bytes) {
        list.push((name.into(), bytes));
    }
}

fn hex_strings(value: &serde_json::Value, out: &mut Vec<(String, Vec<u8>)>, path: &str) {
    match value {
        serde_json::Value::String(s) if s.len() >= 4 && s.len() % 2 == 0 => {
            if let Ok(b) = hex::decode(s) {
                out.push((path.to_string(), b));
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                hex_strings(v, out, &format!("{path}{i}-"));
            }
        }
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                hex_strings(v, out, &format!("{path}{k}-"));
            }
        }
        _ => {}
    }
}

fn vectors(root: &Path, file: &str) -> Vec<(String, Vec<u8>)> {
    let text = fs::read(root.join("testdata/vectors").join(file)).expect("a test vector file");
    let value: serde_json::Value = serde_json::from_slice(&text).expect("JSON test vectors");
    let mut out = Vec::new();
    hex_strings(&value, &mut out, "");
    out
}

/// The `r#"…"#` literals of a Rust source file.
fn raw_literals(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).expect("a test source file");
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("r#\"") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("\"#") else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 2..];
    }
    out
}

fn luhn(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

fn iccid(i: u32) -> String {
    let body = format!("894400000000{i:07}");
    format!("{body}{}", luhn(&body))
}

fn smpp_pdu(command_id: u32, sequence: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(u32::try_from(16 + body.len()).expect("short").to_be_bytes());
    out.extend(command_id.to_be_bytes());
    out.extend(0u32.to_be_bytes());
    out.extend(sequence.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seeds = Seeds::new();

    // TLV and eUICC answers: every hex value of the vectors.
    for file in ["scp80.json", "scp03.json", "es8.json", "x963.json"] {
        for (name, bytes) in vectors(&root, file) {
            let stem = file.trim_end_matches(".json");
            add(
                &mut seeds,
                "tlv",
                format!("seed-{stem}-{name}"),
                bytes.clone(),
            );
            if file != "x963.json" {
                add(
                    &mut seeds,
                    "euicc_response",
                    format!("seed-{stem}-{name}"),
                    bytes,
                );
            }
        }
    }
    for (name, h) in [
        ("indefinite", "ae80ae808001aa00000000"),
        ("indefinite-in-definite", "3006ae8081000000"),
        ("dgi", "3a0203010203a0060003aabbcc"),
        ("long-length", "8181"),
        ("multi-byte-tag", "bf2203810100"),
    ] {
        add(
            &mut seeds,
            "tlv",
            format!("seed-{name}"),
            hex::decode(h).expect("hex"),
        );
    }

    // SCP80 command packets of the vectors, and PoRs built for them.
    let keys = fuzz_corpus::scp80_keys();
    for (name, bytes) in vectors(&root, "scp80.json") {
        if name.ends_with("packet-") {
            add(
                &mut seeds,
                "scp80_command",
                format!("seed-vector-{name}"),
                bytes.clone(),
            );
            let pushed = to_tp_uds(PacketKind::Command, &bytes, 1).expect("TP-UDs");
            for (i, ud) in pushed.iter().enumerate() {
                add(&mut seeds, "sms", format!("seed-{name}{i}"), ud.clone());
            }
        }
    }
    let script = CommandScript::new(vec![
        CommandApdu::new(0x80, 0xe2, 0x89, 0x00).with_data(vec![0x3a, 0x07, 0x01, 0x00]),
        CommandApdu::new(0x00, 0xa4, 0x04, 0x00).with_data(vec![0xa0, 0, 0, 5, 0x59, 0x10, 0x10]),
    ]);
    let expanded = script.to_expanded().expect("script");
    for (spi, kic, kid) in [
        ([0x16, 0x39], 0x12, 0x12),
        ([0x06, 0x19], 0x22, 0x22),
        ([0x12, 0x21], 0x00, 0x22),
        ([0x00, 0x00], 0x00, 0x00),
    ] {
        let spi_v = Spi::from_bytes(spi).expect("SPI");
        let header = CommandHeader {
            spi: spi_v,
            kic: Kic(kic),
            kid: Kid(kid),
            tar: [0, 0, 0],
            counter: Counter::from_u64(5).expect("counter"),
        };
        let tag = hex::encode([spi[0], spi[1], kic, kid]);
        if let Ok(cmd) = scp80::build_command(&header, &keys, &expanded) {
            add(
                &mut seeds,
                "scp80_command",
                format!("seed-built-{tag}"),
                cmd.clone(),
            );
            if let Ok(uds) = to_tp_uds(PacketKind::Command, &cmd, 9) {
                let mut framed = Vec::new();
                for ud in &uds {
                    framed.push(u8::try_from(ud.len()).expect("TP-UD fits a byte"));
                    framed.push(1);
                    framed.extend_from_slice(ud);
                }
                add(&mut seeds, "sms", format!("seed-framed-{tag}"), framed);
            }
        }
        let por = ResponsePacket {
            tar: [0, 0, 0],
            counter: Counter::from_u64(5).expect("counter"),
            status: PorStatus::from_byte(0).expect("PoR OK"),
            data: ResponseScript::new(vec![ResponseApdu::new(vec![1, 2], StatusWord(0x9000))])
                .and_then(|r| r.to_expanded())
                .expect("response script"),
        };
        if let Ok(p) = scp80::build_por(&spi_v, Kic(kic), Kid(kid), &keys, &por) {
            let mut seed = vec![spi[0], spi[1], kic, kid, 0, 0, 0];
            seed.extend(&p);
            add(&mut seeds, "scp80_por", format!("seed-built-{tag}"), seed);
            if let Ok(uds) = to_tp_uds(PacketKind::Response, &p, 3) {
                add(&mut seeds, "sms", format!("seed-por-{tag}"), uds[0].clone());
            }
        }
    }

    // APDUs and scripts.
    for c in &script.commands {
        let bytes = c.to_bytes().expect("APDU");
        add(
            &mut seeds,
            "apdu",
            format!("seed-command-{}", hex::encode(&bytes[..4])),
            bytes,
        );
    }
    add(
        &mut seeds,
        "apdu",
        "seed-response",
        hex::decode("01029000").expect("hex"),
    );
    add(
        &mut seeds,
        "apdu",
        "seed-install",
        hex::decode("10a0000005591010ffffffff8900000d00").expect("hex"),
    );
    add(&mut seeds, "script", "seed-expanded", expanded);
    add(
        &mut seeds,
        "script",
        "seed-expanded-indefinite",
        script.to_expanded_indefinite().expect("script"),
    );
    add(
        &mut seeds,
        "script",
        "seed-compact",
        script.to_compact().expect("script"),
    );
    let responses = ResponseScript::new(vec![
        ResponseApdu::new(vec![], StatusWord(0x9000)),
        ResponseApdu::new(vec![0xe3, 0x00], StatusWord(0x6a88)),
    ])
    .expect("responses");
    add(
        &mut seeds,
        "script",
        "seed-response-expanded",
        responses.to_expanded().expect("script"),
    );
    add(
        &mut seeds,
        "script",
        "seed-response-indefinite",
        responses.to_expanded_indefinite().expect("script"),
    );
    if let Ok(r) = CompactResponse::parse(&hex::decode("0100029000").expect("hex")) {
        add(&mut seeds, "script", "seed-compact-response", r.to_bytes());
    }

    // Notifications.
    for (i, kind) in [
        NotificationType::FirstAttach,
        NotificationType::ProfileChangeSucceeded,
        NotificationType::ProfileChangeFailedRollback,
        NotificationType::ProfileChangeAfterFallback,
    ]
    .into_iter()
    .enumerate()
    {
        let n = Notification {
            eid: [0x89; 16],
            kind,
            isd_p_aid: hex::decode("a0000005591010ffffffff8900001000").expect("hex"),
            imei: (i % 2 == 0).then(|| vec![0x35, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x30]),
            meid: (i == 3).then(|| vec![0xa1; 7]),
            sequence: u16::try_from(i).expect("small") * 300,
        };
        add(
            &mut seeds,
            "notification",
            format!("seed-{i}"),
            n.to_bytes().expect("notification"),
        );
    }

    // SMPP PDUs.
    let receipt = b"id:1 sub:001 dlvrd:001 submit date:2612042200 done date:2612042201 stat:DELIVRD err:000 text:";
    let mut submit = vec![0, 1, 1];
    submit.extend(b"123\0");
    submit.extend([1, 1]);
    submit.extend(b"456\0");
    submit.extend([
        0x40, 0x7f, 0, 0, 0, 1, 0, 0xf6, 0, 5, 0x02, 0x70, 0x00, 0xaa, 0xbb,
    ]);
    let mut deliver = submit.clone();
    deliver[11] = 0x04;
    let n = deliver.len();
    deliver.truncate(n - 6);
    deliver.push(u8::try_from(receipt.len()).expect("short"));
    deliver.extend(receipt);
    let mut deliver_tlv = submit.clone();
    deliver_tlv.extend([0x04, 0x27, 0, 1, 2]);
    for (name, pdu) in [
        ("enquire-link", smpp_pdu(0x15, 1, &[])),
        ("enquire-link-resp", smpp_pdu(0x8000_0015, 1, &[])),
        ("unbind", smpp_pdu(0x06, 2, &[])),
        ("generic-nack", smpp_pdu(0x8000_0000, 3, &[])),
        (
            "bind-transceiver",
            smpp_pdu(0x09, 1, b"smsr\0pw\0\0\x34\0\0\0"),
        ),
        ("bind-transceiver-resp", smpp_pdu(0x8000_0009, 1, b"smsc\0")),
        ("submit-sm", smpp_pdu(0x04, 4, &submit)),
        ("submit-sm-resp", smpp_pdu(0x8000_0004, 4, b"abc\0")),
        ("deliver-sm-receipt", smpp_pdu(0x05, 5, &deliver)),
        ("deliver-sm-tlv", smpp_pdu(0x05, 6, &deliver_tlv)),
        ("deliver-sm-resp", smpp_pdu(0x8000_0005, 5, b"\0")),
    ] {
        add(&mut seeds, "smpp", format!("seed-{name}"), pdu);
    }
    add(&mut seeds, "smpp", "seed-receipt-text", receipt.to_vec());

    // SOAP, XML, C14N: the XML literals of the repository's tests.
    for file in [
        "es-interfaces/tests/soap_envelope.rs",
        "es-interfaces/tests/soap_xml.rs",
        "tests/bad_input.rs",
        "certs/tests/c14n.rs",
        "certs/tests/xmldsig.rs",
    ] {
        for (i, lit) in raw_literals(&root.join(file)).into_iter().enumerate() {
            if !lit.trim_start().starts_with('<') || lit.len() > 8192 {
                continue;
            }
            let stem = Path::new(file)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("xml");
            let name = format!("seed-{stem}-{i}");
            if lit.contains("Envelope") {
                add(&mut seeds, "soap", name.clone(), lit.clone().into_bytes());
            }
            if file.starts_with("certs") {
                add(&mut seeds, "c14n", name.clone(), lit.clone().into_bytes());
            }
            add(&mut seeds, "xml", name, lit.into_bytes());
        }
    }

    // SOAP and XML: every sample message of the message tests, standalone and in an envelope.
    for (i, sample) in messages_support::all_samples().iter().enumerate() {
        let name = sample.element_name();
        let Some(actions) = es_interfaces::soap::action::for_element(name) else {
            continue;
        };
        let headers = es_interfaces::soap::OutgoingHeaders {
            to: "https://peer.example/es?EntityId=1.3.6.1.4.1.31746.4".into(),
            from: Some("https://smsr.example/es?EntityId=1.3.6.1.4.1.31746.2".into()),
            reply_to: Some("https://smsr.example/cb".into()),
            message_id: format!("//1.3.6.1.4.1.31746.2/urn:uuid:{i}?TransactionId=T{i}"),
            action: actions.request.into(),
            relates_to: (i % 2 == 1).then(|| "urn:uuid:req".into()),
        };
        let version = if i % 5 == 0 {
            es_interfaces::soap::SoapVersion::V1_1
        } else {
            es_interfaces::soap::SoapVersion::V1_2
        };
        let xml = es_interfaces::soap::envelope(version, &headers, |w| sample.write_body(w));
        add(
            &mut seeds,
            "soap",
            format!("seed-{i}-{name}"),
            xml.into_bytes(),
        );
        add(
            &mut seeds,
            "xml",
            format!("seed-{i}-{name}"),
            sample.to_xml().into_bytes(),
        );
    }

    // SAIP: the sample template.
    add(
        &mut seeds,
        "saip",
        "seed-usim-template",
        smdp::saip::sample::usim_template_der(),
    );

    // Certificates: a generated PKI world (X.509 PEM → DER, GP 7F21 hex).
    let dir = std::env::temp_dir().join(format!("fuzz-seed-world-{}", std::process::id()));
    let mut opts = certs::world::WorldOptions::new(1, time::OffsetDateTime::now_utc());
    opts.seed = Some(7);
    certs::world::generate(&dir, &opts).expect("a PKI world");
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("certs"))
        .expect("certs dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("cert")
            .to_string();
        let text = fs::read_to_string(&path).expect("a certificate file");
        if name.ends_with(".gp.hex") {
            let der = hex::decode(text.trim()).expect("GP hex");
            add(&mut seeds, "gp_cert", format!("seed-{name}"), der);
        } else if name.ends_with(".pem")
            && let Ok(c) = certs::x509::X509Certificate::from_pem(&text)
        {
            add(&mut seeds, "x509", format!("seed-{name}"), c.der().to_vec());
        }
    }
    let _ = fs::remove_dir_all(&dir);

    // EIS signature: an EumSignedInfo signed with the fuzz EUM key.
    let (key, cert) = fuzz_corpus::eum_identity();
    add(&mut seeds, "x509", "seed-fuzz-eum", cert.der().to_vec());
    let info = "<rps:EumSignedInfo xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\">\
        <rps:Eid>89001012012341234012345678901224</rps:Eid><rps:Eum-id>1.3.6.1.4.1.99999.3</rps:Eum-id>\
        <rps:ProductionDate>2026-01-01T00:00:00Z</rps:ProductionDate><rps:PlatformType>T</rps:PlatformType>\
        <rps:PlatformVersion>1.0.0</rps:PlatformVersion>\
        <rps:Isd-p-loadfile-aid>A0000005591010FFFFFFFF8900000D00</rps:Isd-p-loadfile-aid>\
        </rps:EumSignedInfo>";
    let signature = certs::xmldsig::sign_eum_signed_info(info, key, cert).expect("a signature");
    let mut seed = info.as_bytes().to_vec();
    seed.push(0);
    seed.extend(signature.as_bytes());
    add(&mut seeds, "xmldsig", "seed-signed", seed);
    add(&mut seeds, "c14n", "seed-signature", signature.into_bytes());

    // Order files.
    const K: &str = "000102030405060708090A0B0C0D0E0F";
    const OPC: &str = "F0E0D0C0B0A090807060504030201000";
    let mut csv = String::from("ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1\n");
    for i in 0..3 {
        csv.push_str(&format!(
            "{},00101{i:010},{K},{OPC},1234,12345678,5678,87654321,0011223344556677\n",
            iccid(i)
        ));
    }
    add(
        &mut seeds,
        "order_csv",
        "seed-valid",
        csv.clone().into_bytes(),
    );
    add(
        &mut seeds,
        "order_csv",
        "seed-quoted",
        csv.replace(",1234,", ",\"12\"\"34\",").into_bytes(),
    );
    let mut out = String::from(
        "***************************************\n*          HEADER DESCRIPTION\n\
         ***************************************\nCustomer:        Example Telecom\nQuantity:        2\n\
         Type:            EXAMPLE_STANDARD\n*\nTransport_key:   11\n*\nPO_ref_number:   010748\n\
         ***************************************\n*          INPUT VARIABLES DESCRIPTION\n\
         ***************************************\nVar_In_List: \nIMSI:001010000000001\n\nOUTPUT VARIABLES\n\
         var_out:ICCID/IMSI/PIN1/PUK1/PIN2/PUK2/ADM1/KI/OPC/Access_Control/Code Retailer\n",
    );
    for i in 0..2 {
        out.push_str(&format!(
            "{}F 00101{i:010} 1234 12345678 1234 12345678 12345678 {K} {OPC} 0001 11\n",
            iccid(i)
        ));
    }
    add(&mut seeds, "order_out", "seed-valid", out.into_bytes());

    // SCP81 (wire-profile §3): identity, X-Admin-From, Next-URI, trigger, script status.
    {
        use es_interfaces::scp81::{
            AdminFrom, ConnectionParameters, NextUri, PskIdentity, RetryPolicy, ScriptStatus,
            SessionTrigger,
        };
        let eid: [u8; 16] = hex::decode("89049032123451234512345678901235")
            .expect("hex")
            .try_into()
            .expect("16 bytes");
        let aid = es_interfaces::wire_profile::ISD_R_AID.to_vec();
        let identity = PskIdentity {
            eid,
            isd_r_aid: aid.clone(),
            key_id: 1,
            kvn: 0x40,
        };
        let from = AdminFrom { eid, aid }.to_header().expect("X-Admin-From");
        let next = NextUri {
            path: "/gp/ram".into(),
            session: "3f2a9".into(),
            sequence: 7,
        }
        .to_header()
        .expect("Next-URI");
        let trigger = SessionTrigger {
            connection: ConnectionParameters {
                bearer: vec![0x03],
                buffer_size: 1500,
                port: 4443,
                ipv4: [127, 0, 0, 1],
            },
            identity: identity.clone(),
            retry: RetryPolicy {
                counter: 3,
                timer: [0, 10, 0],
            },
            host: "localhost".into(),
            agent_id: from.clone(),
            admin_uri: "/gp/ram".into(),
        }
        .to_bytes()
        .expect("trigger");
        for (i, bytes) in [
            identity.to_text().expect("identity").into_bytes(),
            from.into_bytes(),
            next.into_bytes(),
            trigger,
            ScriptStatus::UnknownApplication
                .as_str()
                .as_bytes()
                .to_vec(),
        ]
        .into_iter()
        .enumerate()
        {
            add(&mut seeds, "scp81", format!("seed-{i}"), bytes);
        }
    }

    let corpus = root.join("fuzz/corpus");
    for target in fuzz_corpus::TARGETS {
        let dir = corpus.join(target.name);
        fs::create_dir_all(&dir).expect("a corpus folder");
        for (name, bytes) in seeds.get(target.name).into_iter().flatten() {
            fs::write(dir.join(name), bytes).expect("a seed file");
            (target.run)(bytes);
        }
        println!(
            "{}: {} seeds",
            target.name,
            seeds.get(target.name).map_or(0, Vec::len)
        );
    }
}
