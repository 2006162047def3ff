//! The MNO of the test world (SGP.02 §5.3, §5.5, the operator's side): calls ES4 functions at the SM-SR and ES2
//! functions at the SM-DP with the MNO's TLS client certificate, and runs an HTTPS (mutual TLS) receiver that
//! records the callbacks (`ES4-…Response` / `ES2-…Response` with `wsa:RelatesTo`) and notifications
//! (`…Handle…Notification`) the servers send it. Its TLS server certificate is issued by the world's TLS CA at
//! start; tests register [`MnoReceiver::url`] as the MNO entity's "ES4" / "ES2" endpoint. The same client
//! stands in for the world's SM-DP as an ES3 caller of the SM-SR ([`MnoClient::sm_dp`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web;
use actix_web::{HttpResponse, dev::ServerHandle};
use certs::ecc::{Curve, PrivateKey};
use certs::world::World;
use certs::x509::{X509Params, X509Profile};
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::BaseRequest;
use es_interfaces::soap::{self, Envelope, OutgoingHeaders, QuerySeparator, SoapVersion, action};
use es_interfaces::status::FunctionExecutionStatus;
use es_interfaces::types::{PositiveInteger, XsDateTime};
use es_interfaces::wsdl::Service;
use es_runtime::client::{SoapClient, SoapVersion as ClientVersion};
use tokio::sync::Notify;

/// Errors of the MNO test client.
#[derive(Debug, thiserror::Error)]
pub enum MnoError {
    /// The world lacks this MNO.
    #[error("the world has no MNO {0}")]
    NoSuchMno(usize),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// TLS material could not be made or loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The call failed or its answer could not be read.
    #[error("call: {0}")]
    Call(String),
    /// The receiver could not start.
    #[error("receiver: {0}")]
    Listener(String),
}

/// A request header with this FunctionCallIdentifier and, optionally, a ValidityPeriod in seconds.
pub fn base(function_call_id: &str, validity_secs: Option<u64>) -> BaseRequest {
    BaseRequest {
        function_call_identifier: function_call_id.to_string(),
        validity_period: validity_secs.and_then(|v| PositiveInteger::new(v).ok()),
    }
}

/// The answer to one call.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// HTTP status (200 response, 202 accepted).
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

/// The `FunctionExecutionStatus` inside an envelope's body (any response element), if any.
pub fn status_of(envelope: &str) -> Option<FunctionExecutionStatus> {
    let env = Envelope::parse(envelope.as_bytes()).ok()?;
    let el = env
        .body()
        .child_elements()
        .find(|c| c.local_name() == "FunctionExecutionStatus")?;
    <FunctionExecutionStatus as es_interfaces::messages::codec::XmlContent>::decode_element(
        el,
        "FunctionExecutionStatus",
    )
    .ok()
}

/// The MNO's SOAP client for ES4 (SM-SR) and ES2 (SM-DP).
pub struct MnoClient {
    client: SoapClient,
    oid: String,
    from: String,
    reply_to: Option<String>,
    es4_url: String,
    es2_url: String,
    es3_url: String,
    sent: Mutex<Vec<String>>,
    counter: AtomicU64,
}

impl MnoClient {
    /// The client of the world's MNO `mno_index` (0-based), calling the SM-SR at `smsr_base_url` and the SM-DP
    /// at `smdp_base_url`.
    pub fn new(
        world: &World,
        mno_index: usize,
        smsr_base_url: &str,
        smdp_base_url: &str,
    ) -> Result<MnoClient, MnoError> {
        let mno = world
            .manifest
            .mnos
            .get(mno_index)
            .ok_or(MnoError::NoSuchMno(mno_index))?;
        Self::as_entity(
            world,
            &mno.entity,
            &mno.tls_client,
            smsr_base_url,
            smdp_base_url,
        )
    }

    /// The world's SM-DP as an ES3 caller of the SM-SR at `smsr_base_url` (SGP.02 §5.4), for testing the
    /// SM-SR's ES3 functions without the SM-DP server.
    pub fn sm_dp(world: &World, smsr_base_url: &str) -> Result<MnoClient, MnoError> {
        let m = &world.manifest;
        Self::as_entity(
            world,
            &m.sm_dp,
            &m.sm_dp_tls_client,
            smsr_base_url,
            smsr_base_url,
        )
    }

    fn as_entity(
        world: &World,
        entity: &certs::world::EntityEntry,
        tls_client: &certs::world::KeyCertFiles,
        smsr_base_url: &str,
        smdp_base_url: &str,
    ) -> Result<MnoClient, MnoError> {
        let read = |rel: &str| {
            let path = world.dir.join(rel);
            std::fs::read(&path).map_err(|source| MnoError::Io { path, source })
        };
        let client = SoapClient::new(
            &read(&tls_client.cert)?,
            &read(&tls_client.key)?,
            &read(&world.manifest.tls_ca.cert)?,
            Duration::from_secs(60),
        )
        .map_err(|e| MnoError::Tls(e.to_string()))?;
        let url = |base: &str, service: Service| {
            format!("{}{}", base.trim_end_matches('/'), service.default_path())
        };
        Ok(MnoClient {
            client,
            oid: entity.oid.clone(),
            from: soap::entity_address(
                "https://mno.test.invalid/",
                &entity.oid,
                Some(&entity.name),
                QuerySeparator::Ampersand,
            ),
            reply_to: None,
            es4_url: url(smsr_base_url, Service::Es4SmSr),
            es2_url: url(smdp_base_url, Service::Es2SmDp),
            es3_url: url(smsr_base_url, Service::Es3SmSr),
            sent: Mutex::new(Vec::new()),
            counter: AtomicU64::new(1),
        })
    }

    /// Asks for asynchronous results at `url` (`wsa:ReplyTo`).
    pub fn with_reply_to(mut self, url: impl Into<String>) -> MnoClient {
        self.reply_to = Some(url.into());
        self
    }

    /// The MNO's OID.
    pub fn oid(&self) -> &str {
        &self.oid
    }

    /// Every request envelope sent so far.
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sends an ES4 request to the SM-SR.
    pub async fn es4<T: BodyElement>(&self, request: &T) -> Result<CallOutcome, MnoError> {
        let url = self.es4_url.clone();
        self.call(&url, request).await
    }

    /// Sends an ES3 request to the SM-SR (as the SM-DP: [`MnoClient::sm_dp`]).
    pub async fn es3<T: BodyElement>(&self, request: &T) -> Result<CallOutcome, MnoError> {
        let url = self.es3_url.clone();
        self.call(&url, request).await
    }

    /// Sends an ES2 request to the SM-DP.
    pub async fn es2<T: BodyElement>(&self, request: &T) -> Result<CallOutcome, MnoError> {
        let url = self.es2_url.clone();
        self.call(&url, request).await
    }

    async fn call<T: BodyElement>(&self, url: &str, request: &T) -> Result<CallOutcome, MnoError> {
        let request_action = action::for_element(T::ELEMENT)
            .map(|a| a.request)
            .or_else(|| es_interfaces::messages::es4v4::actions(T::ELEMENT).map(|(r, _)| r))
            .ok_or_else(|| MnoError::Call(format!("no Action for {}", T::ELEMENT)))?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let message_id = soap::message_id(
            &format!("//{}/urn:uuid:mno-{}-{n}", self.oid, std::process::id()),
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
            .await
            .map_err(|e| MnoError::Call(e.to_string()))?;
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
    /// The whole envelope (empty when the receiver only counts).
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

/// The MNO's callback and notification receiver: HTTPS with mutual TLS (client certificates from the world's
/// TLS CA), answering `202 Accepted` to every well-formed SOAP message (SGP.02 Annex B, notes §2.4).
pub struct MnoReceiver {
    url: String,
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

impl MnoReceiver {
    /// Starts a receiver on `listen` (e.g. `127.0.0.1:0`) with a fresh TLS server certificate for `localhost`
    /// / `127.0.0.1` from the world's TLS CA (written under `<world>/mno-receiver/`). With `keep` false it only
    /// counts messages per element (for load runs). Must run inside an actix system / tokio runtime; the
    /// server runs until [`MnoReceiver::stop`].
    pub fn start(world: &World, listen: &str, keep: bool) -> Result<MnoReceiver, MnoError> {
        let dir = world.dir.join("mno-receiver");
        std::fs::create_dir_all(&dir).map_err(|source| MnoError::Io {
            path: dir.clone(),
            source,
        })?;
        let key = PrivateKey::generate(Curve::P256, &mut rand::rng());
        let now = time::OffsetDateTime::now_utc();
        let serial: [u8; 8] = rand::random();
        let cert = certs::x509::issue(
            &X509Params {
                common_name: "MNO callback receiver".into(),
                organization: "rsp test world".into(),
                entity_oid: None,
                serial: [&[0x01u8][..], &serial].concat(),
                not_before: now - time::Duration::hours(1),
                not_after: now + time::Duration::days(30),
                profile: X509Profile::TlsServer {
                    dns_names: vec!["localhost".into()],
                    ip_addresses: vec![std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)],
                },
            },
            key.public_key(),
            &world.tls_ca.cert,
            &world.tls_ca.key,
        )
        .map_err(|e| MnoError::Tls(e.to_string()))?;
        let tag = format!("{}-{}", std::process::id(), hex::encode(serial));
        let cert_path = dir.join(format!("{tag}.crt.pem"));
        let key_path = dir.join(format!("{tag}.key.pem"));
        let write = |path: &std::path::Path, text: &str| {
            std::fs::write(path, text).map_err(|source| MnoError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        write(&cert_path, &cert.to_pem())?;
        write(
            &key_path,
            &key.to_pkcs8_pem()
                .map_err(|e| MnoError::Tls(e.to_string()))?,
        )?;
        let state = Arc::new(ReceiverState {
            records: Mutex::new(Records {
                keep,
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
        let running = es_runtime::listener::start(
            routes,
            &es_runtime::listener::ListenerConfig {
                listen: listen.to_string(),
                tls_cert: cert_path,
                tls_key: key_path,
                client_ca: world.dir.join(&world.manifest.tls_ca.cert),
                workers: 2,
            },
        )
        .map_err(|e| MnoError::Listener(e.to_string()))?;
        let addr = running
            .addrs
            .first()
            .copied()
            .ok_or_else(|| MnoError::Listener("no address bound".into()))?;
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        Ok(MnoReceiver {
            url: format!("https://127.0.0.1:{}", addr.port()),
            state,
            handle,
        })
    }

    /// The receiver's base URL; register `<url>/es4` and `<url>/es2` (any path is accepted).
    pub fn url(&self) -> &str {
        &self.url
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
