//! The SOAP client of outgoing calls (SGP.02 §2.6, Annex B): only https, only the configured CAs (not the
//! system's roots, here simulated with `SSL_CERT_FILE`), no redirects. One test in this binary, because it sets
//! a process-wide environment variable.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use es_runtime::client::{SoapClient, SoapVersion};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A certificate for `cn` signed by `issuer` (self-signed when `None`); a CA when `ca`.
fn cert(cn: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>, ca: bool) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(rand_serial())
        .unwrap()
        .to_asn1_integer()
        .unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))
        .unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    } else {
        let san = SubjectAlternativeName::new()
            .dns("localhost")
            .build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None))
            .unwrap();
        b.append_extension(san).unwrap();
    }
    b.sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())
        .unwrap();
    b.build()
}

fn rand_serial() -> u32 {
    let mut b = [0u8; 4];
    openssl::rand::rand_bytes(&mut b).unwrap();
    u32::from_be_bytes(b) >> 1
}

/// A TLS server on localhost answering every request with `answer`; sends each request's first line.
fn tls_server(
    cert: &X509,
    key: &PKey<Private>,
    answer: &'static str,
) -> (u16, mpsc::Receiver<String>) {
    let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    acc.set_certificate(cert).unwrap();
    acc.set_private_key(key).unwrap();
    let acc = acc.build();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let Ok(mut tls) = acc.accept(s) else { continue };
            let mut head = Vec::new();
            {
                let mut r = BufReader::new(&mut tls);
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    head.push(line.clone());
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
            }
            let _ = tx.send(head.first().cloned().unwrap_or_default());
            let _ = tls.write_all(answer.as_bytes());
        }
    });
    (port, rx)
}

#[tokio::test]
async fn only_https_only_configured_cas_no_redirects() {
    let dir = tempfile::tempdir().unwrap();
    // Our CA issues the server certificate the client trusts; a second CA plays the system's roots.
    let (ca_key, other_ca_key, leaf_key, other_leaf_key, client_key) =
        (key(), key(), key(), key(), key());
    let ca = cert("configured CA", &ca_key, None, true);
    let other_ca = cert("system CA", &other_ca_key, None, true);
    let leaf = cert("localhost", &leaf_key, Some((&ca, &ca_key)), false);
    let other_leaf = cert(
        "localhost",
        &other_leaf_key,
        Some((&other_ca, &other_ca_key)),
        false,
    );
    let client_cert = cert("client", &client_key, Some((&ca, &ca_key)), false);
    let system_roots = dir.path().join("system-roots.pem");
    std::fs::write(&system_roots, other_ca.to_pem().unwrap()).unwrap();
    // SAFETY: the only test of this binary; set before any TLS context is created.
    unsafe {
        std::env::set_var("SSL_CERT_FILE", &system_roots);
        std::env::remove_var("SSL_CERT_DIR");
    }
    let client = SoapClient::new(
        &client_cert.to_pem().unwrap(),
        &client_key.private_key_to_pem_pkcs8().unwrap(),
        &ca.to_pem().unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();

    // A server of the configured CA answers.
    let (port, seen) = tls_server(
        &leaf,
        &leaf_key,
        "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
    );
    let r = client
        .post(
            &format!("https://localhost:{port}/cb"),
            SoapVersion::V12,
            "urn:a",
            "<x/>".into(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    assert!(seen.recv().unwrap().starts_with("POST /cb "));

    // A server whose certificate only the system's roots trust is refused.
    let (port, seen_other) = tls_server(
        &other_leaf,
        &other_leaf_key,
        "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
    );
    let r = client
        .post(
            &format!("https://localhost:{port}/cb"),
            SoapVersion::V12,
            "urn:a",
            "<x/>".into(),
        )
        .await;
    assert!(
        r.is_err(),
        "a certificate of a CA outside the configured bundle was accepted: {r:?}"
    );
    assert!(
        seen_other.try_recv().is_err(),
        "the request reached the server"
    );

    // A redirect is an answer, not followed.
    let (target, seen_target) = tls_server(
        &leaf,
        &leaf_key,
        "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
    );
    let redirect: &'static str = Box::leak(
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://localhost:{target}/elsewhere\r\nContent-Length: 0\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let (port, seen) = tls_server(&leaf, &leaf_key, redirect);
    let r = client
        .post(
            &format!("https://localhost:{port}/cb"),
            SoapVersion::V12,
            "urn:a",
            "<x/>".into(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 307);
    assert!(seen.recv().unwrap().starts_with("POST /cb "));
    assert!(
        seen_target
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "the redirect was followed"
    );

    // Cleartext is refused before anything is sent.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    plain.set_nonblocking(true).unwrap();
    let port = plain.local_addr().unwrap().port();
    let r = client
        .post(
            &format!("http://127.0.0.1:{port}/cb"),
            SoapVersion::V12,
            "urn:a",
            "<x/>".into(),
        )
        .await;
    assert!(r.is_err(), "an http URL was called: {r:?}");
    assert!(plain.accept().is_err(), "a cleartext connection was opened");
}
