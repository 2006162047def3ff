//! The SOAP client of both servers (SGP.02 Annex B): HTTPS POST with a client certificate, SOAP 1.2 media type
//! with the `action` parameter, used for outgoing function calls, callbacks to ReplyTo and notifications.
//!
//! It calls `https` URLs only, trusts only the configured CAs (never the system's roots), follows no redirect
//! (a 3xx is an answer like any other, which the outbox treats as a failure), and bounds the connection set-up
//! and the whole exchange in time. Which destinations are allowed at all is [`crate::destination`]'s rule.

use std::time::Duration;

/// Longest TCP + TLS connection set-up of an outgoing call.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of an outgoing SOAP call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TLS identity or CA could not be loaded.
    #[error("TLS material for the SOAP client: {0}")]
    Tls(String),
    /// The request failed before an HTTP answer arrived (connect, TLS, timeout).
    #[error("SOAP call to {url} failed: {reason}")]
    Transport {
        /// Destination.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// An HTTP answer to a SOAP call.
#[derive(Debug, Clone)]
pub struct SoapReply {
    /// HTTP status (200 with a response body, 202 for an accepted asynchronous call or a callback).
    pub status: u16,
    /// The body, possibly empty.
    pub body: String,
}

/// Which SOAP version an outgoing message uses; decides the Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    /// SOAP 1.2 (`application/soap+xml; action=…`), the SGP.02 binding.
    V12,
    /// SOAP 1.1 (`text/xml` and a `SOAPAction` header), for peers that only speak 1.1.
    V11,
}

/// A SOAP-over-HTTPS client with a client certificate (mutual TLS).
#[derive(Clone)]
pub struct SoapClient {
    http: reqwest::Client,
}

impl SoapClient {
    /// A client presenting `cert_pem` + `key_pem` (PKCS#8) and trusting only the CAs in `ca_pem`; `timeout`
    /// bounds each exchange, and the TCP + TLS set-up takes at most [`CONNECT_TIMEOUT`] of it.
    pub fn new(
        cert_pem: &[u8],
        key_pem: &[u8],
        ca_pem: &[u8],
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let identity = reqwest::Identity::from_pkcs8_pem(cert_pem, key_pem)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let cas = reqwest::Certificate::from_pem_bundle(ca_pem)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        if cas.is_empty() {
            return Err(ClientError::Tls(
                "the CA bundle holds no certificate".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .tls_backend_native()
            .identity(identity)
            .tls_certs_only(cas)
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        Ok(SoapClient { http })
    }

    /// A client without a client certificate for HTTPS endpoints outside the PKI (the ESM2M webhooks): it
    /// trusts the system's root CAs plus those in `extra_ca_pem` (a lab's test CA), calls `https` URLs only and
    /// follows no redirect; `timeout` bounds each exchange.
    pub fn public(extra_ca_pem: Option<&[u8]>, timeout: Duration) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder().tls_backend_native();
        if let Some(pem) = extra_ca_pem {
            let cas = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Tls(e.to_string()))?;
            if cas.is_empty() {
                return Err(ClientError::Tls(
                    "the extra CA bundle holds no certificate".into(),
                ));
            }
            for ca in cas {
                builder = builder.add_root_certificate(ca);
            }
        }
        let http = builder
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .build()
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        Ok(SoapClient { http })
    }

    /// POSTs a SOAP envelope to `url` with the given Action.
    pub async fn post(
        &self,
        url: &str,
        version: SoapVersion,
        action: &str,
        envelope: String,
    ) -> Result<SoapReply, ClientError> {
        send(url, self.request(url, version, action).body(envelope)).await
    }

    /// POSTs an idempotent request (one whose repeat the peer answers from its record, e.g. under the same
    /// FunctionCallIdentifier): when the attempt fails before any answer for another reason than its time-out
    /// — typically a pooled keep-alive connection the peer had just closed — it is sent once more, on a fresh
    /// connection (the failed one is dropped from the pool).
    pub async fn post_idempotent(
        &self,
        url: &str,
        version: SoapVersion,
        action: &str,
        envelope: String,
    ) -> Result<SoapReply, ClientError> {
        let first = self
            .request(url, version, action)
            .body(envelope.clone())
            .send()
            .await;
        match first {
            Ok(resp) => read(url, resp).await,
            Err(e) if !e.is_timeout() => {
                tracing::info!(url, error = %error_chain(&e), "idempotent SOAP call retried once");
                self.post(url, version, action, envelope).await
            }
            Err(e) => Err(transport(url, &e)),
        }
    }

    fn request(&self, url: &str, version: SoapVersion, action: &str) -> reqwest::RequestBuilder {
        let req = self.http.post(url);
        match version {
            SoapVersion::V12 => req.header(
                reqwest::header::CONTENT_TYPE,
                format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
            ),
            SoapVersion::V11 => req
                .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
                .header("SOAPAction", format!("\"{action}\"")),
        }
    }
}

impl SoapClient {
    /// POSTs a prepared body with its Content-Type and extra headers (the outbox stores messages this way).
    pub async fn post_raw(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<SoapReply, ClientError> {
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        send(url, req.body(body)).await
    }
}

fn transport(url: &str, e: &reqwest::Error) -> ClientError {
    ClientError::Transport {
        url: url.to_string(),
        reason: error_chain(e),
    }
}

/// Sends a prepared request and reads the whole answer.
async fn send(url: &str, req: reqwest::RequestBuilder) -> Result<SoapReply, ClientError> {
    let resp = req.send().await.map_err(|e| transport(url, &e))?;
    read(url, resp).await
}

async fn read(url: &str, resp: reqwest::Response) -> Result<SoapReply, ClientError> {
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| transport(url, &e))?;
    Ok(SoapReply { status, body })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use openssl::pkey::PKey;
    use openssl::ssl::{SslAcceptor, SslMethod};
    use openssl::x509::X509;

    /// A self-signed P-256 certificate for `127.0.0.1` with its key (PEM): the test peer's TLS identity, the
    /// client's trust anchor and the client's own identity (the peer never asks for it).
    fn identity() -> (Vec<u8>, Vec<u8>) {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::nid::Nid;
        use openssl::x509::X509NameBuilder;
        use openssl::x509::extension::SubjectAlternativeName;
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
        let key = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "127.0.0.1").expect("cn");
        let name = name.build();
        let mut b = X509::builder().expect("builder");
        b.set_version(2).expect("version");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&key).expect("pubkey");
        let now = openssl::asn1::Asn1Time::days_from_now(0).expect("time");
        let later = openssl::asn1::Asn1Time::days_from_now(1).expect("time");
        b.set_not_before(&now).expect("nb");
        b.set_not_after(&later).expect("na");
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .build(&b.x509v3_context(None, None))
            .expect("san");
        b.append_extension(san).expect("extension");
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("sign");
        let cert = b.build().to_pem().expect("pem");
        (cert, key.private_key_to_pem_pkcs8().expect("pkcs8"))
    }

    /// Reads one HTTP/1.1 request (headers and a Content-Length body); `false` at end of stream.
    fn read_request(s: &mut impl Read) -> bool {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => buf.push(byte[0]),
                _ => return false,
            }
        }
        let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).is_ok()
    }

    fn answer(s: &mut impl Write, body: &str) {
        let r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
            body.len()
        );
        s.write_all(r.as_bytes()).expect("write");
        s.flush().expect("flush");
    }

    /// An HTTPS peer whose first connection answers one request, then reads the next one and closes without an
    /// answer (as a server does that closes an idle keep-alive connection just as it is reused); later
    /// connections answer normally. Returns its URL and a client that trusts it.
    fn closing_peer() -> (String, SoapClient) {
        let (cert, key) = identity();
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
        acceptor
            .set_private_key(&PKey::private_key_from_pem(&key).expect("key"))
            .expect("set key");
        acceptor
            .set_certificate(&X509::from_pem(&cert).expect("cert"))
            .expect("set cert");
        let acceptor = acceptor.build();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("https://{}/es3", l.local_addr().expect("addr"));
        std::thread::spawn(move || {
            let Ok((tcp, _)) = l.accept() else { return };
            let Ok(mut first) = acceptor.accept(tcp) else {
                return;
            };
            assert!(read_request(&mut first));
            answer(&mut first, "one");
            read_request(&mut first);
            drop(first);
            for tcp in l.incoming().flatten() {
                let acceptor = acceptor.clone();
                std::thread::spawn(move || {
                    let Ok(mut s) = acceptor.accept(tcp) else {
                        return;
                    };
                    while read_request(&mut s) {
                        answer(&mut s, "fresh");
                    }
                });
            }
        });
        let client = SoapClient::new(&cert, &key, &cert, Duration::from_secs(10)).expect("client");
        (url, client)
    }

    #[tokio::test]
    async fn an_idempotent_call_is_retried_once_on_a_fresh_connection() {
        let (url, c) = closing_peer();
        let first = c.post(&url, SoapVersion::V12, "urn:a", "<a/>".into()).await;
        assert_eq!(first.expect("first").body, "one");
        let again = c
            .post_idempotent(&url, SoapVersion::V12, "urn:a", "<a/>".into())
            .await
            .expect("retried on a fresh connection");
        assert_eq!(again.body, "fresh");
    }

    #[tokio::test]
    async fn a_plain_call_on_the_closed_connection_fails() {
        // What the SM-DP saw before (issue 10 item 2: ES2 relayed over ES3 failed 1.2/4.2).
        let (url, c) = closing_peer();
        c.post(&url, SoapVersion::V12, "urn:a", "<a/>".into())
            .await
            .expect("first");
        assert!(matches!(
            c.post(&url, SoapVersion::V12, "urn:a", "<a/>".into()).await,
            Err(ClientError::Transport { .. })
        ));
    }
}
