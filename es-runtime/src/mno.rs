//! The operator's side of ES2 and ES4 (SGP.02 §5.3, §5.5): a SOAP caller that sends function calls with the
//! MNO's TLS client certificate and a `wsa:ReplyTo`, and an HTTPS (mutual TLS) receiver that records the
//! callbacks (`ES4-…Response` / `ES2-…Response` with `wsa:RelatesTo`) and notifications the servers send to the
//! endpoint registered for the MNO. `rsp mno` and the test world's MNO (conformance::mno) are built on them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{HttpResponse, web};
use es_interfaces::messages::codec::{BodyElement, XmlContent};
use es_interfaces::messages::common::BaseRequest;
use es_interfaces::soap::{self, Envelope, OutgoingHeaders, QuerySeparator, SoapVersion, action};
use es_interfaces::status::FunctionExecutionStatus;
use es_interfaces::types::{PositiveInteger, XsDateTime};
use tokio::sync::Notify;

use crate::client::{SoapClient, SoapVersion as ClientVersion};
use crate::listener::{ListenerConfig, RunningServer};

/// Errors of the operator's caller and receiver.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The function has no SOAP Action (not a request element of ES2, ES3 or ES4).
    #[error("no wsa:Action for {0}")]
    NoAction(String),
    /// The call failed before an HTTP answer arrived.
    #[error(transparent)]
    Call(#[from] crate::client::ClientError),
    /// The receiver could not start.
    #[error("receiver: {0}")]
    Listener(#[from] crate::listener::StartError),
    /// The receiver bound no address.
    #[error("receiver: no address bound")]
    NoAddress,
}

/// A request header with this FunctionCallIdentifier and, optionally, a ValidityPeriod in seconds (SGP.02
/// §5.1.1 `BaseRequestType`).
pub fn base(function_call_id: &str, validity_secs: Option<u64>) -> BaseRequest {
    BaseRequest {
        function_call_identifier: function_call_id.to_string(),
        validity_period: validity_secs.and_then(|v| PositiveInteger::new(v).ok()),
    }
}

/// The HTTP answer to one call (SGP.02 Annex B: 200 with the response, or 202 when the result follows as a
/// callback).
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// HTTP status (200 response, 202 accepted, 4xx/5xx with a SOAP Fault).
    pub http_status: u16,
    /// `wsa:MessageID` of the request (callbacks carry it in `wsa:RelatesTo`).
    pub message_id: String,
    /// The answer envelope (empty for 202).
    pub envelope: String,
}

impl CallOutcome {
    /// The `FunctionExecutionStatus` of a synchronous response, if the answer carries one.
    pub fn status(&self) -> Option<FunctionExecutionStatus> {
        status_of(&self.envelope)
    }
}

/// The `FunctionExecutionStatus` inside an envelope's body element (any response element), if any
/// (SGP.02 §5.1.6.1).
pub fn status_of(envelope: &str) -> Option<FunctionExecutionStatus> {
    let env = Envelope::parse(envelope.as_bytes()).ok()?;
    let el = env
        .body()
        .child_elements()
        .find(|c| c.local_name() == "FunctionExecutionStatus")?;
    FunctionExecutionStatus::decode_element(el, "FunctionExecutionStatus").ok()
}

/// Where an operator's calls go: the SM-SR's ES4 (and ES3) services and the SM-DP's ES2 service.
#[derive(Debug, Clone)]
pub struct OperatorEndpoints {
    /// ES4 service URL of the SM-SR.
    pub es4: String,
    /// ES2 service URL of the SM-DP.
    pub es2: String,
    /// ES3 service URL of the SM-SR (when the caller stands in for an SM-DP).
    pub es3: String,
}

/// An operator's SOAP caller for ES2 (SM-DP) and ES4 (SM-SR), SGP.02 §5.3 and §5.5.
pub struct OperatorClient {
    client: SoapClient,
    oid: String,
    from: String,
    reply_to: Option<String>,
    endpoints: OperatorEndpoints,
    sent: Mutex<Vec<String>>,
}

impl OperatorClient {
    /// A caller with the TLS `client` (the entity's client certificate), identified as entity `oid` named
    /// `name` in `wsa:From`.
    pub fn new(
        client: SoapClient,
        oid: &str,
        name: Option<&str>,
        endpoints: OperatorEndpoints,
    ) -> OperatorClient {
        OperatorClient {
            client,
            oid: oid.to_string(),
            from: soap::entity_address(
                "https://mno.test.invalid/",
                oid,
                name,
                QuerySeparator::Ampersand,
            ),
            reply_to: None,
            endpoints,
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Asks for asynchronous results at `url` (`wsa:ReplyTo`).
    pub fn with_reply_to(mut self, url: impl Into<String>) -> OperatorClient {
        self.reply_to = Some(url.into());
        self
    }

    /// Changes the `wsa:ReplyTo` of the following calls.
    pub fn set_reply_to(&mut self, url: Option<String>) {
        self.reply_to = url;
    }

    /// The entity's OID.
    pub fn oid(&self) -> &str {
        &self.oid
    }

    /// Every request envelope sent so far.
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sends an ES4 request to the SM-SR.
    pub async fn es4<T: BodyElement>(&self, request: &T) -> Result<CallOutcome, OperatorError> {
        self.call(&self.endpoints.es4, request).await
    }

    /// Sends an ES3 request to the SM-SR (when the caller's certificate is an SM-DP's).
    pub async fn es3<T: BodyElement>(&self, request: &T) -> Result<CallOutcome, OperatorError> {
        self.call(&self.endpoints.es3, request).await
    }

    /// Sends an ES2 request to the SM-DP.
    pub async fn es2<T: BodyElement>(&self, request: &T) -> Result<CallOutcome, OperatorError> {
        self.call(&self.endpoints.es2, request).await
    }

    async fn call<T: BodyElement>(
        &self,
        url: &str,
        request: &T,
    ) -> Result<CallOutcome, OperatorError> {
        let request_action = action::for_element(T::ELEMENT)
            .map(|a| a.request)
            .or_else(|| es_interfaces::messages::es4v4::actions(T::ELEMENT).map(|(r, _)| r))
            .ok_or_else(|| OperatorError::NoAction(T::ELEMENT.to_string()))?;
        let message_id = soap::message_id(
            &format!("//{}/urn:uuid:{}", self.oid, uuid::Uuid::new_v4()),
            None,
            None,
            Some(&XsDateTime::utc(time::OffsetDateTime::now_utc())),
            QuerySeparator::Ampersand,
        );
        let headers = OutgoingHeaders {
            to: url.to_string(),
            from: Some(self.from.clone()),
            reply_to: self.reply_to.clone(),
            message_id: message_id.clone(),
            action: request_action.to_string(),
            relates_to: None,
        };
        let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| request.write_body(w));
        if let Ok(mut s) = self.sent.lock() {
            s.push(envelope.clone());
        }
        let reply = self
            .client
            .post(url, ClientVersion::V12, request_action, envelope)
            .await?;
        Ok(CallOutcome {
            http_status: reply.status,
            message_id,
            envelope: reply.body,
        })
    }
}

/// One message the receiver got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The body element's local name, e.g. `ES4-EnableProfileResponse`.
    pub element: String,
    /// `wsa:Action`.
    pub action: Option<String>,
    /// `wsa:RelatesTo` (callbacks).
    pub relates_to: Option<String>,
    /// `wsa:MessageID`.
    pub message_id: Option<String>,
    /// The whole envelope.
    pub envelope: String,
    /// When it arrived (latency measurements).
    pub received_at: std::time::Instant,
}

impl Received {
    /// The `FunctionExecutionStatus` of a callback.
    pub fn status(&self) -> Option<FunctionExecutionStatus> {
        status_of(&self.envelope)
    }

    /// The text of a child element of the body, e.g. `Iccid`.
    pub fn field(&self, name: &str) -> Option<String> {
        let env = Envelope::parse(self.envelope.as_bytes()).ok()?;
        env.body()
            .child_elements()
            .find(|c| c.local_name() == name)
            .map(|c| c.text().trim().to_string())
    }
}

#[derive(Default)]
struct Records {
    keep: bool,
    list: Vec<Received>,
    counts: BTreeMap<String, u64>,
}

struct ReceiverState {
    records: Mutex<Records>,
    notify: Notify,
}

/// TLS files and address of a [`CallbackReceiver`].
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Address to bind, e.g. `127.0.0.1:8601` (port 0: any free port).
    pub listen: String,
    /// The receiver's TLS server certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// Its private key (PEM).
    pub tls_key: PathBuf,
    /// CAs of the servers' client certificates admitted (PEM bundle).
    pub client_ca: PathBuf,
    /// Keep every message (true) or only count them per element (load runs).
    pub keep: bool,
}

/// The operator's callback and notification receiver: HTTPS with mutual TLS, answering `202 Accepted` to every
/// well-formed SOAP message on any path (SGP.02 Annex B; notes §2.4).
pub struct CallbackReceiver {
    port: u16,
    state: Arc<ReceiverState>,
    handle: ServerHandle,
}

async fn receive(body: web::Bytes, state: web::Data<ReceiverState>) -> HttpResponse {
    let Ok(env) = Envelope::parse(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let wsa = env.wsa();
    let element = env.body().local_name().to_string();
    if let Ok(mut r) = state.records.lock() {
        *r.counts.entry(element.clone()).or_default() += 1;
        if r.keep {
            let rec = Received {
                element,
                action: wsa.action.clone(),
                relates_to: wsa.relates_to.clone(),
                message_id: wsa.message_id.as_ref().map(|m| m.as_str().to_string()),
                envelope: String::from_utf8_lossy(&body).into_owned(),
                received_at: std::time::Instant::now(),
            };
            r.list.push(rec);
        }
    }
    state.notify.notify_waiters();
    HttpResponse::Accepted().finish()
}

impl CallbackReceiver {
    /// Binds the receiver and runs it on the current actix system / tokio runtime until
    /// [`CallbackReceiver::stop`].
    pub fn start(cfg: &ReceiverConfig) -> Result<CallbackReceiver, OperatorError> {
        let state = Arc::new(ReceiverState {
            records: Mutex::new(Records {
                keep: cfg.keep,
                ..Records::default()
            }),
            notify: Notify::new(),
        });
        let data = web::Data::from(state.clone());
        let routes = move |c: &mut web::ServiceConfig| {
            c.app_data(data.clone())
                .app_data(web::PayloadConfig::new(4 << 20))
                .default_service(web::post().to(receive));
        };
        let running: RunningServer = crate::listener::start(
            routes,
            &ListenerConfig {
                listen: cfg.listen.clone(),
                tls_cert: cfg.tls_cert.clone(),
                tls_key: cfg.tls_key.clone(),
                client_ca: cfg.client_ca.clone(),
                workers: 2,
            },
        )?;
        let port = running
            .addrs
            .first()
            .map(|a| a.port())
            .ok_or(OperatorError::NoAddress)?;
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        Ok(CallbackReceiver {
            port,
            state,
            handle,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message kept so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .records
            .lock()
            .map(|r| r.list.clone())
            .unwrap_or_default()
    }

    /// How many messages with body element `element` arrived.
    pub fn count(&self, element: &str) -> u64 {
        self.state
            .records
            .lock()
            .map(|r| r.counts.get(element).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Waits until a kept message satisfies `pred`, at most `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.notify.notified();
            if let Some(r) = self.received().into_iter().find(|r| pred(r)) {
                return Some(r);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.received().into_iter().find(|r| pred(r));
            }
        }
    }

    /// Waits for the callback answering the call whose `wsa:MessageID` is `message_id` (its `wsa:RelatesTo`).
    pub async fn wait_for_callback(&self, message_id: &str, timeout: Duration) -> Option<Received> {
        self.wait_for(timeout, |r| r.relates_to.as_deref() == Some(message_id))
            .await
    }

    /// Waits until `count(element) >= n`, at most `timeout`; returns the count reached.
    pub async fn wait_count(&self, element: &str, n: u64, timeout: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.notify.notified();
            let c = self.count(element);
            if c >= n {
                return c;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count(element);
            }
        }
    }

    /// Stops the receiver.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
