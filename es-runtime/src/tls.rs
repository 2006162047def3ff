//! Mutual TLS for the ES1–ES4 and ES7 listeners (SGP.02 §2.6: the SM-DP/SM-SR links are mutually authenticated).
//!
//! The listener demands a client certificate issued by a configured CA; the certificate's SHA-256 fingerprint is
//! put into the connection's extensions by [`on_connect`], where handlers read it as a [`PeerCertificate`] and
//! resolve the registered entity that owns it.

use std::any::Any;
use std::path::Path;

use actix_tls::accept::openssl::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use openssl::hash::MessageDigest;
use openssl::ssl::{
    SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod, SslVerifyMode, SslVersion,
};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;

/// Errors while loading TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// OpenSSL refused the material (bad PEM, key not matching the certificate, …).
    #[error("TLS configuration of {what}: {source}")]
    OpenSsl {
        /// What was being configured.
        what: &'static str,
        /// The cause.
        source: openssl::error::ErrorStack,
    },
}

fn ossl<T>(what: &'static str, r: Result<T, openssl::error::ErrorStack>) -> Result<T, TlsError> {
    r.map_err(|source| TlsError::OpenSsl { what, source })
}

/// Files of a mutual-TLS listener: the server's certificate chain and key, and the CAs whose clients it admits.
#[derive(Debug, Clone)]
pub struct MtlsFiles<'a> {
    /// PEM certificate chain of the server (leaf first).
    pub cert_chain: &'a Path,
    /// PEM private key of the server.
    pub key: &'a Path,
    /// PEM bundle of the CAs that issue client certificates.
    pub client_ca: &'a Path,
}

/// Builds an acceptor that authenticates the server only, asking for no client certificate (TLS 1.2 and 1.3):
/// the listener of an API whose callers authenticate in HTTP (ESM2M bearer tokens, design §3 step 1).
pub fn server_acceptor(cert_chain: &Path, key: &Path) -> Result<SslAcceptorBuilder, TlsError> {
    let mut b = ossl(
        "acceptor",
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()),
    )?;
    ossl(
        "minimum protocol version",
        b.set_min_proto_version(Some(SslVersion::TLS1_2)),
    )?;
    ossl(
        "server certificate chain",
        b.set_certificate_chain_file(cert_chain),
    )?;
    ossl(
        "server private key",
        b.set_private_key_file(key, SslFiletype::PEM),
    )?;
    ossl("server key pair", b.check_private_key())?;
    Ok(b)
}

/// Builds an acceptor that requires a client certificate from `client_ca` (TLS 1.2 and 1.3).
pub fn mtls_acceptor(files: &MtlsFiles<'_>) -> Result<SslAcceptorBuilder, TlsError> {
    let mut b = server_acceptor(files.cert_chain, files.key)?;
    let ca_pem = std::fs::read(files.client_ca).map_err(|source| TlsError::Read {
        path: files.client_ca.display().to_string(),
        source,
    })?;
    let cas = ossl("client CA bundle", X509::stack_from_pem(&ca_pem))?;
    let mut store = ossl("client CA store", X509StoreBuilder::new())?;
    for ca in cas {
        ossl("client CA", store.add_cert(ca))?;
    }
    ossl("client CA store", b.set_verify_cert_store(store.build()))?;
    b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    Ok(b)
}

/// The certificate a caller presented on this connection (verified against the client CAs by the handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// SHA-256 over the DER certificate, as registered for the entity.
    pub sha256: [u8; 32],
    /// The subject, for logs.
    pub subject: String,
}

impl PeerCertificate {
    /// The fingerprint as lower-case hex.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// SHA-256 fingerprint of a DER certificate (the form entities are registered with).
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(d) = openssl::hash::hash(MessageDigest::sha256(), der) {
        out.copy_from_slice(&d);
    }
    out
}

/// `HttpServer::on_connect` callback: records the peer certificate of a TLS connection in its extensions.
pub fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    let Some(tls) = conn.downcast_ref::<TlsStream<TcpStream>>() else {
        return;
    };
    let Some(cert) = tls.ssl().peer_certificate() else {
        return;
    };
    let Ok(der) = cert.to_der() else { return };
    let subject = cert
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(",");
    ext.insert(PeerCertificate {
        sha256: fingerprint(&der),
        subject,
    });
}
