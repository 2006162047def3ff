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

    /// POSTs a SOAP envelope to `url` with the given Action.
    pub async fn post(
        &self,
        url: &str,
        version: SoapVersion,
        action: &str,
        envelope: String,
    ) -> Result<SoapReply, ClientError> {
        let req = self.http.post(url);
        let req = match version {
            SoapVersion::V12 => req.header(
                reqwest::header::CONTENT_TYPE,
                format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
            ),
            SoapVersion::V11 => req
                .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
                .header("SOAPAction", format!("\"{action}\"")),
        };
        send(url, req.body(envelope)).await
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

/// Sends a prepared request and reads the whole answer.
async fn send(url: &str, req: reqwest::RequestBuilder) -> Result<SoapReply, ClientError> {
    let transport = |e: reqwest::Error| ClientError::Transport {
        url: url.to_string(),
        reason: error_chain(&e),
    };
    let resp = req.send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(transport)?;
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
