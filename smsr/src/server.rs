//! Starting the SM-SR: its mutual-TLS listener (SGP.02 §2.6) with the routes of [`crate::http`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{App, HttpServer, dev::ServerHandle};
use es_runtime::tls::{MtlsFiles, mtls_acceptor};

use crate::service::Smsr;

/// Where and how the SM-SR listens.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Address of the ES listener.
    pub listen: String,
    /// Largest accepted request body (bytes).
    pub max_body_bytes: usize,
    /// Server certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// Server key (PEM).
    pub tls_key: PathBuf,
    /// CAs of the client certificates admitted (PEM bundle).
    pub client_ca: PathBuf,
    /// HTTP worker threads.
    pub workers: usize,
}

/// Errors while starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// TLS material could not be loaded.
    #[error(transparent)]
    Tls(#[from] es_runtime::tls::TlsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running SM-SR listener.
pub struct RunningServer {
    /// The bound addresses.
    pub addrs: Vec<SocketAddr>,
    /// Stops the server (gracefully: in-flight requests finish).
    pub handle: ServerHandle,
    /// Completes when the server has stopped.
    pub server: actix_web::dev::Server,
}

/// Binds the ES listener and returns the server future (not yet polled) with its handle. Signals are not
/// handled here: the process owner stops servers through their handles.
pub fn start(smsr: Arc<Smsr>, cfg: &ListenerConfig) -> Result<RunningServer, StartError> {
    let acceptor = mtls_acceptor(&MtlsFiles {
        cert_chain: &cfg.tls_cert,
        key: &cfg.tls_key,
        client_ca: &cfg.client_ca,
    })?;
    let max_body = cfg.max_body_bytes;
    let app_smsr = smsr.clone();
    let server = HttpServer::new(move || {
        App::new().configure(|c| crate::http::configure(c, app_smsr.clone(), max_body))
    })
    .on_connect(es_runtime::tls::on_connect)
    .workers(cfg.workers.max(1))
    .disable_signals()
    .shutdown_timeout(30)
    .bind_openssl(&cfg.listen, acceptor)
    .map_err(|source| StartError::Bind {
        addr: cfg.listen.clone(),
        source,
    })?;
    let addrs = server.addrs();
    let server = server.run();
    let handle = server.handle();
    Ok(RunningServer { addrs, handle, server })
}
