//! The MNO of the test world (SGP.02 §5.3, §5.5, the operator's side): es_runtime::mno's caller with the
//! world's MNO TLS client certificate, and its callback receiver with a TLS server certificate issued by the
//! world's TLS CA at start; tests register [`MnoReceiver::url`] as the MNO entity's "ES4" / "ES2" endpoint. The
//! same client stands in for the world's SM-DP as an ES3 caller of the SM-SR ([`MnoClient::sm_dp`]).

use std::ops::Deref;
use std::time::Duration;

use certs::ecc::{Curve, PrivateKey};
use certs::world::World;
use certs::x509::{X509Params, X509Profile};
use es_interfaces::wsdl::Service;
use es_runtime::client::SoapClient;
use es_runtime::mno::{CallbackReceiver, OperatorClient, OperatorEndpoints, ReceiverConfig};

pub use es_runtime::mno::{CallOutcome, Received, base, status_of};

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

/// The MNO's SOAP client for ES4 (SM-SR) and ES2 (SM-DP): [`OperatorClient`] with the world's credentials.
pub struct MnoClient(OperatorClient);

impl Deref for MnoClient {
    type Target = OperatorClient;
    fn deref(&self) -> &OperatorClient {
        &self.0
    }
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
        Ok(MnoClient(OperatorClient::new(
            client,
            &entity.oid,
            Some(&entity.name),
            OperatorEndpoints {
                es4: url(smsr_base_url, Service::Es4SmSr),
                es2: url(smdp_base_url, Service::Es2SmDp),
                es3: url(smsr_base_url, Service::Es3SmSr),
            },
        )))
    }

    /// Asks for asynchronous results at `url` (`wsa:ReplyTo`).
    pub fn with_reply_to(self, url: impl Into<String>) -> MnoClient {
        MnoClient(self.0.with_reply_to(url))
    }
}

/// The MNO's callback and notification receiver ([`CallbackReceiver`]) with a fresh TLS server certificate.
pub struct MnoReceiver {
    url: String,
    inner: CallbackReceiver,
}

impl Deref for MnoReceiver {
    type Target = CallbackReceiver;
    fn deref(&self) -> &CallbackReceiver {
        &self.inner
    }
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
        let inner = CallbackReceiver::start(&ReceiverConfig {
            listen: listen.to_string(),
            tls_cert: cert_path,
            tls_key: key_path,
            client_ca: world.dir.join(&world.manifest.tls_ca.cert),
            keep,
        })
        .map_err(|e| MnoError::Listener(e.to_string()))?;
        Ok(MnoReceiver {
            url: format!("https://127.0.0.1:{}", inner.port()),
            inner,
        })
    }

    /// The receiver's base URL; register `<url>/es4` and `<url>/es2` (any path is accepted).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the receiver.
    pub async fn stop(self) {
        self.inner.stop().await;
    }
}
