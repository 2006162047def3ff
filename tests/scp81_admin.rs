//! The SM-SR's SCP81 admin server against the command-line `openssl s_client` (wire-profile §3): a PSK-TLS 1.2
//! handshake with an eUICC's identity and PSK from the EIS, then a POST with the X-Admin headers (also chunked);
//! a wrong key, an unknown identity, TLS 1.3, a certificate suite and a PSK suite outside the two of §3 are
//! refused in the handshake; X-Admin headers that do not match the identity are refused. SQLite and PostgreSQL.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use es_interfaces::scp81::{AdminFrom, PskIdentity};
use es_interfaces::wire_profile::ISD_R_AID;
use support::*;

struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn http_status(&self) -> Option<u16> {
        let line = self.stdout.lines().find(|l| l.starts_with("HTTP/1.1 "))?;
        line.get(9..12)?.parse().ok()
    }
}

/// Runs `openssl s_client` against `addr` with `args`, writes `request`, reads until the server closes.
async fn s_client(addr: std::net::SocketAddr, args: Vec<String>, request: String) -> Outcome {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &addr.to_string(), "-quiet"])
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl s_client");
        // The handshake may already have failed and closed stdin.
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(request.as_bytes());
        let out = child.wait_with_output().expect("s_client output");
        Outcome {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("s_client thread")
}

fn identity(eid: &str, kvn: u8) -> String {
    PskIdentity {
        eid: hex::decode(eid)
            .expect("eid hex")
            .try_into()
            .expect("16 bytes"),
        isd_r_aid: ISD_R_AID.to_vec(),
        key_id: 1,
        kvn,
    }
    .to_text()
    .expect("identity")
}

fn admin_from(eid: &str) -> String {
    AdminFrom {
        eid: hex::decode(eid)
            .expect("eid hex")
            .try_into()
            .expect("16 bytes"),
        aid: ISD_R_AID.to_vec(),
    }
    .to_header()
    .expect("X-Admin-From")
}

fn psk_args(identity: &str, psk: &[u8], tls: &str, cipher: &str) -> Vec<String> {
    vec![
        tls.into(),
        "-cipher".into(),
        cipher.into(),
        "-psk".into(),
        hex::encode(psk),
        "-psk_identity".into(),
        identity.into(),
    ]
}

/// The first POST of a session (wire-profile §3: empty body), closing the connection after the answer.
fn first_post(from: &str, protocol: Option<&str>, chunked: bool) -> String {
    let mut r = String::from("POST /gp/ram HTTP/1.1\r\nHost: localhost\r\n");
    if let Some(p) = protocol {
        r.push_str(&format!("X-Admin-Protocol: {p}\r\n"));
    }
    r.push_str(&format!("X-Admin-From: {from}\r\nConnection: close\r\n"));
    if chunked {
        r.push_str("Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    } else {
        r.push_str("Content-Length: 0\r\n\r\n");
    }
    r
}

const PROTOCOL: &str = "globalplatform-remote-admin/1.0";

async fn admin_server_checks(lab: &rsp::lab::Lab) {
    let addr = lab.scp81_addr.expect("the SCP81 admin server runs");
    let euicc = &lab.world.euiccs[0];
    let (eid, psk) = (euicc.eid.clone(), euicc.scp81_psk.expose().to_vec());
    let id = identity(&eid, euicc.scp81_kvn);
    let from = admin_from(&eid);

    // The PSK cache learns the registered eUICC after an unknown identity asked for a reload: the eUICC's retry.
    let mut first = None;
    for _ in 0..50 {
        let o = s_client(
            addr,
            psk_args(&id, &psk, "-tls1_2", "PSK-AES128-GCM-SHA256"),
            first_post(&from, Some(PROTOCOL), false),
        )
        .await;
        if o.http_status().is_some() {
            first = Some(o);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first = first.expect("a PSK-TLS handshake with the eUICC's identity succeeds");
    assert_eq!(first.http_status(), Some(204), "{}", first.stdout);
    assert!(
        first
            .stdout
            .to_ascii_lowercase()
            .contains(&format!("x-admin-protocol: {PROTOCOL}")),
        "{}",
        first.stdout
    );

    // The other suite of §3, and a chunked request body.
    let cbc = s_client(
        addr,
        psk_args(&id, &psk, "-tls1_2", "PSK-AES128-CBC-SHA256"),
        first_post(&from, Some(PROTOCOL), true),
    )
    .await;
    assert_eq!(
        cbc.http_status(),
        Some(204),
        "{} {}",
        cbc.stdout,
        cbc.stderr
    );

    // The identity in lower case is accepted too.
    let lower = s_client(
        addr,
        psk_args(
            &id.to_ascii_lowercase(),
            &psk,
            "-tls1_2",
            "PSK-AES128-GCM-SHA256",
        ),
        first_post(&from, Some(PROTOCOL), false),
    )
    .await;
    assert_eq!(lower.http_status(), Some(204), "{}", lower.stderr);

    // X-Admin headers: a missing protocol, another eUICC's X-Admin-From.
    let no_protocol = s_client(
        addr,
        psk_args(&id, &psk, "-tls1_2", "PSK-AES128-GCM-SHA256"),
        first_post(&from, None, false),
    )
    .await;
    assert_eq!(
        no_protocol.http_status(),
        Some(400),
        "{}",
        no_protocol.stdout
    );
    let other = admin_from(&lab.world.euiccs[1].eid);
    let spoofed = s_client(
        addr,
        psk_args(&id, &psk, "-tls1_2", "PSK-AES128-GCM-SHA256"),
        first_post(&other, Some(PROTOCOL), false),
    )
    .await;
    assert_eq!(spoofed.http_status(), Some(403), "{}", spoofed.stdout);

    // Refused in the handshake: no HTTP exchange at all.
    let mut wrong_key = psk.clone();
    wrong_key[0] ^= 0x01;
    let unknown = identity("89049032123451234512345678909999", 0x40);
    // (what, s_client arguments, the server's alert as s_client reports it)
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "wrong key",
            psk_args(&id, &wrong_key, "-tls1_2", "PSK-AES128-GCM-SHA256"),
            "bad record mac",
        ),
        (
            "unknown identity",
            psk_args(&unknown, &psk, "-tls1_2", "PSK-AES128-GCM-SHA256"),
            "unknown psk identity",
        ),
        (
            "another key set version",
            psk_args(
                &identity(&eid, 0x41),
                &psk,
                "-tls1_2",
                "PSK-AES128-GCM-SHA256",
            ),
            "unknown psk identity",
        ),
        (
            "TLS 1.3",
            vec![
                "-tls1_3".into(),
                "-psk".into(),
                hex::encode(&psk),
                "-psk_identity".into(),
                id.clone(),
            ],
            "protocol version",
        ),
        (
            "a PSK suite outside §3",
            psk_args(&id, &psk, "-tls1_2", "PSK-AES256-GCM-SHA384"),
            "handshake failure",
        ),
        (
            "a certificate suite",
            vec![
                "-tls1_2".into(),
                "-cipher".into(),
                "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256".into(),
            ],
            "handshake failure",
        ),
    ];
    for (what, args, alert) in cases {
        let o = s_client(addr, args, first_post(&from, Some(PROTOCOL), false)).await;
        assert!(
            !o.ok && o.http_status().is_none() && o.stderr.contains(&format!("alert {alert}")),
            "{what} must be refused in the handshake: {} {}",
            o.stdout,
            o.stderr
        );
    }
}

#[actix_web::test]
async fn admin_server_psk_tls_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.es5.https.enabled = true;
        o.es5.https.listen = "127.0.0.1:0".into();
    })
    .await;
    admin_server_checks(&lab).await;
    lab.stop().await;
}

#[actix_web::test]
async fn admin_server_psk_tls_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
        o.es5.https.enabled = true;
        o.es5.https.listen = "127.0.0.1:0".into();
    })
    .await;
    admin_server_checks(&lab).await;
    lab.stop().await;
}
