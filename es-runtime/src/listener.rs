//! Starting a server's mutual-TLS listener (SGP.02 §2.6), a server-authenticated TLS listener (ESM2M), or the
//! plain-HTTP metrics listener, with the routes it configures.

use actix_web::web::ServiceConfig;
use actix_web::{App, HttpServer, dev::ServerHandle};
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::tls::{MtlsFiles, mtls_acceptor};

/// Where and how a server listens.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Address of the ES listener.
    pub listen: String,
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
    Tls(#[from] crate::tls::TlsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running listener.
pub struct RunningServer {
    /// The bound addresses.
    pub addrs: Vec<SocketAddr>,
    /// Stops the server (gracefully: in-flight requests finish).
    pub handle: ServerHandle,
    /// Completes when the server has stopped.
    pub server: actix_web::dev::Server,
}

/// Binds the listener with the routes `routes` configures and returns the server future (not yet polled) with
/// its handle. Signals are not handled here: the process owner stops servers through their handles.
pub fn start<F>(routes: F, cfg: &ListenerConfig) -> Result<RunningServer, StartError>
where
    F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
{
    let acceptor = mtls_acceptor(&MtlsFiles {
        cert_chain: &cfg.tls_cert,
        key: &cfg.tls_key,
        client_ca: &cfg.client_ca,
    })?;
    bind(routes, &cfg.listen, cfg.workers, acceptor)
}

/// Where and how a listener without client certificates listens (callers authenticate in HTTP).
#[derive(Debug, Clone)]
pub struct ServerTlsConfig {
    /// Address to bind.
    pub listen: String,
    /// Server certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// Server key (PEM).
    pub tls_key: PathBuf,
    /// HTTP worker threads.
    pub workers: usize,
}

/// Like [`start`], for a listener that asks for no client certificate (the ESM2M API, design §1: bearer
/// tokens).
pub fn start_server_tls<F>(routes: F, cfg: &ServerTlsConfig) -> Result<RunningServer, StartError>
where
    F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
{
    let acceptor = crate::tls::server_acceptor(&cfg.tls_cert, &cfg.tls_key)?;
    bind(routes, &cfg.listen, cfg.workers, acceptor)
}

/// Binds a plain-HTTP listener (no TLS) with the routes `routes` configures, on one worker: the metrics
/// listener (`/metrics`, `/health/ready`; issue 14 item 4), meant for an internal address that Prometheus
/// scrapes.
pub fn start_plain<F>(routes: F, listen: &str) -> Result<RunningServer, StartError>
where
    F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
{
    let server = HttpServer::new(move || App::new().configure(routes.clone()))
        .tcp_nodelay(true)
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .bind(listen)
        .map_err(|source| StartError::Bind {
            addr: listen.to_string(),
            source,
        })?;
    let addrs = server.addrs();
    let server = server.run();
    let handle = server.handle();
    Ok(RunningServer {
        addrs,
        handle,
        server,
    })
}

fn bind<F>(
    routes: F,
    listen: &str,
    workers: usize,
    acceptor: openssl::ssl::SslAcceptorBuilder,
) -> Result<RunningServer, StartError>
where
    F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
{
    let server = HttpServer::new(move || App::new().configure(routes.clone()))
        .on_connect(crate::tls::on_connect)
        .tcp_nodelay(true)
        .workers(workers.max(1))
        .disable_signals()
        .shutdown_timeout(30)
        .bind_openssl(listen, acceptor)
        .map_err(|source| StartError::Bind {
            addr: listen.to_string(),
            source,
        })?;
    let addrs = server.addrs();
    let server = server.run();
    let handle = server.handle();
    Ok(RunningServer {
        addrs,
        handle,
        server,
    })
}
