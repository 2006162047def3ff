//! The SCP81 admin server (wire-profile §3; GP Amd B): TLS 1.2 only, the two PSK suites, no session
//! resumption, no certificate; the PSK comes from the identity the eUICC offers, through the [`PskCache`]. An
//! unknown or malformed identity is refused in the handshake (alert `unknown_psk_identity`), a wrong key fails it
//! (`bad_record_mac`); both are logged with the EID, never with a key. Then the eUICC POSTs with the X-Admin
//! headers, which must name the EID and ISD-R of its PSK identity, and the dialogue runs: each answer carries the
//! next script of the eUICC's ES5 queue (`200`, `X-Admin-Next-URI` naming session and sequence) or ends the
//! session (`204`); each POST after the first carries the response script of the one before ([`session`]).

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use actix_tls::accept::openssl::TlsStream;
use actix_web::dev::Extensions;
use actix_web::http::StatusCode;
use actix_web::rt::net::TcpStream;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use es_interfaces::scp81::{AdminFrom, NextUri, PskIdentity, ScriptStatus, aid_address};
use es_interfaces::wire_profile;
use es_runtime::listener::RunningServer;
use openssl::ex_data::Index;
use openssl::ssl::{
    Ssl, SslAcceptor, SslAcceptorBuilder, SslMethod, SslOptions, SslRef, SslSessionCacheMode,
    SslVersion,
};

use super::psk::PskCache;
use super::session::{self, Applied, Script};
use super::{AdminError, AdminSettings};
use crate::error::SmsrError;
use crate::service::Smsr;

/// Header names of GP Amd B (wire-profile §3).
pub mod header {
    /// `X-Admin-Protocol`.
    pub const PROTOCOL: &str = "X-Admin-Protocol";
    /// `X-Admin-From`.
    pub const FROM: &str = "X-Admin-From";
    /// `X-Admin-Next-URI`.
    pub const NEXT_URI: &str = "X-Admin-Next-URI";
    /// `X-Admin-Targeted-Application`.
    pub const TARGETED_APPLICATION: &str = "X-Admin-Targeted-Application";
    /// `X-Admin-Script-Status`.
    pub const SCRIPT_STATUS: &str = "X-Admin-Script-Status";
    /// `X-Admin-Resume`.
    pub const RESUME: &str = "X-Admin-Resume";
}

/// A PSK handshake under way, kept in the `Ssl`: dropped without being marked done, it logs the failure (wrong
/// key, or the client gave up) with the EID.
struct HandshakeWatch {
    eid: String,
    kvn: u8,
    done: AtomicBool,
}

impl Drop for HandshakeWatch {
    fn drop(&mut self) {
        if !self.done.load(Ordering::Relaxed) {
            tracing::warn!(eid = %self.eid, kvn = self.kvn,
                "SCP81 PSK-TLS handshake failed after the identity was accepted (wrong key, or the client gave up)");
        }
    }
}

fn watch_index() -> Option<Index<Ssl, HandshakeWatch>> {
    static INDEX: OnceLock<Option<Index<Ssl, HandshakeWatch>>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().ok())
}

/// The eUICC on a connection: its PSK identity and the session (put into the connection's extensions by
/// [`on_connect`]; one connection is one admin session, wire-profile §3).
#[derive(Debug, Clone)]
pub struct AdminPeer {
    /// The identity the handshake used.
    pub identity: PskIdentity,
    /// The session's id and the script it waits an answer for.
    session: Arc<Mutex<SessionState>>,
}

#[derive(Debug)]
struct SessionState {
    /// Session id named in every Next-URI of this connection.
    id: String,
    /// Sequence number of the script sent and not yet answered.
    awaiting: Option<u64>,
}

/// The TLS configuration of the admin server (wire-profile §3): TLS 1.2 only, `PSK-AES128-GCM-SHA256` and
/// `PSK-AES128-CBC-SHA256`, no tickets and no session cache (no resumption), PSK from `cache`.
pub fn acceptor(cache: Arc<PskCache>) -> Result<SslAcceptorBuilder, AdminError> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_cipher_list(wire_profile::SCP81_CIPHER_LIST)?;
    b.set_options(SslOptions::NO_TICKET);
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    let index = watch_index();
    b.set_psk_server_callback(move |ssl, identity, out| {
        let Some(raw) = identity else {
            tracing::warn!("SCP81 handshake refused: no PSK identity");
            return Ok(0);
        };
        let id = match PskIdentity::parse_text(raw) {
            Ok(id) => id,
            Err(e) => {
                let shown: String = String::from_utf8_lossy(raw).chars().take(120).collect();
                tracing::warn!(identity = %shown, error = %e, "SCP81 handshake refused: malformed PSK identity");
                return Ok(0);
            }
        };
        match cache.lookup(&id) {
            Some(psk) if !psk.is_empty() && psk.len() <= out.len() => {
                out[..psk.len()].copy_from_slice(&psk);
                if let Some(i) = index {
                    ssl.set_ex_data(
                        i,
                        HandshakeWatch {
                            eid: id.eid_text(),
                            kvn: id.kvn,
                            done: AtomicBool::new(false),
                        },
                    );
                }
                Ok(psk.len())
            }
            _ => {
                tracing::warn!(eid = %id.eid_text(), kvn = id.kvn, key_id = id.key_id,
                    "SCP81 handshake refused: unknown PSK identity");
                cache.request_reload();
                Ok(0)
            }
        }
    });
    Ok(b)
}

/// Marks the PSK handshake of `ssl` (an [`acceptor`] connection) completed, so that dropping it is not logged as a
/// failed handshake (wire-profile §3); the admin server calls it on connect, `rsp bench https` after each
/// handshake it measures.
pub fn handshake_done(ssl: &SslRef) {
    if let Some(w) = watch_index().and_then(|i| ssl.ex_data(i)) {
        w.done.store(true, Ordering::Relaxed);
    }
}

/// `HttpServer::on_connect` of the admin server: marks the handshake done and records the eUICC's identity.
fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    let Some(tls) = conn.downcast_ref::<TlsStream<TcpStream>>() else {
        return;
    };
    let ssl = tls.ssl();
    handshake_done(ssl);
    let Some(identity) = ssl
        .psk_identity()
        .and_then(|raw| PskIdentity::parse_text(raw).ok())
    else {
        return;
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    tracing::info!(eid = %identity.eid_text(), kvn = identity.kvn, session = %id, "SCP81 admin session connected");
    ext.insert(AdminPeer {
        identity,
        session: Arc::new(Mutex::new(SessionState { id, awaiting: None })),
    });
}

/// A response of the admin server: every one carries `X-Admin-Protocol` (wire-profile §3).
fn reply(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::build(status);
    r.insert_header((header::PROTOCOL, wire_profile::ADMIN_PROTOCOL));
    r
}

fn refuse(status: StatusCode, eid: &str, why: &str) -> HttpResponse {
    tracing::warn!(%eid, %why, "SCP81 request refused");
    reply(status)
        .content_type("text/plain")
        .body(why.to_string())
}

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Checks the X-Admin headers of a POST against the connection's PSK identity (wire-profile §3): the status and
/// reason of a refusal.
fn check_headers(req: &HttpRequest, peer: &AdminPeer) -> Result<(), (StatusCode, &'static str)> {
    if header_str(req, header::PROTOCOL).map(str::trim) != Some(wire_profile::ADMIN_PROTOCOL) {
        return Err((
            StatusCode::BAD_REQUEST,
            "X-Admin-Protocol must be globalplatform-remote-admin/1.0",
        ));
    }
    let from = header_str(req, header::FROM)
        .ok_or("X-Admin-From is missing")
        .and_then(|v| AdminFrom::parse(v).map_err(|_| "X-Admin-From is malformed"))
        .map_err(|why| (StatusCode::BAD_REQUEST, why))?;
    if from.eid != peer.identity.eid || from.aid != peer.identity.isd_r_aid {
        return Err((
            StatusCode::FORBIDDEN,
            "X-Admin-From names another eUICC or security domain than the PSK identity",
        ));
    }
    Ok(())
}

/// What the handlers share.
struct AdminState {
    smsr: Arc<Smsr>,
    admin_path: String,
}

/// Which script a POST answers, from its URI and headers (wire-profile §3): none for the opening POST to the
/// admin path; the sequence of this session's Next-URI; or, with `X-Admin-Resume: true`, the Next-URI of an
/// earlier session (the store decides whether that command is still in flight).
fn answered(
    req: &HttpRequest,
    state: &AdminState,
    peer: &AdminPeer,
) -> Result<Option<u64>, &'static str> {
    let Some(target) = req.uri().path_and_query() else {
        return Err("no request target");
    };
    if req.uri().query().is_none() {
        return Ok(None);
    }
    #[cfg(feature = "test-faults")]
    if header_str(req, header::RESUME).is_some()
        && state
            .smsr
            .faults
            .ignore_admin_resume
            .load(std::sync::atomic::Ordering::SeqCst)
    {
        return Ok(None);
    }
    let next = NextUri::parse(target.as_str()).map_err(|_| "not a Next-URI of this server")?;
    if next.path != state.admin_path {
        return Err("not a Next-URI of this server");
    }
    let session = peer
        .session
        .lock()
        .map_err(|_| "session state unavailable")?;
    if next.session == session.id {
        return match session.awaiting {
            Some(s) if s == next.sequence => Ok(Some(s)),
            _ => Err("the Next-URI names a script this session is not waiting for"),
        };
    }
    let resume =
        header_str(req, header::RESUME).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if resume && session.awaiting.is_none() {
        Ok(Some(next.sequence))
    } else {
        Err("the Next-URI names another session")
    }
}

/// The status of an answer, and its response script (wire-profile §3).
fn script_status(req: &HttpRequest, body: &[u8]) -> Result<ScriptStatus, &'static str> {
    let status = header_str(req, header::SCRIPT_STATUS)
        .ok_or("X-Admin-Script-Status is missing")
        .and_then(|v| {
            ScriptStatus::parse(v).map_err(|_| "X-Admin-Script-Status is not a known value")
        })?;
    if status == ScriptStatus::Ok {
        let ct = header_str(req, "Content-Type").map(str::trim);
        if ct != Some(wire_profile::CONTENT_TYPE_RESPONSE) {
            return Err(
                "the response script must be application/vnd.globalplatform.card-content-mgt-response;version=1.0",
            );
        }
        if body.is_empty() {
            return Err("X-Admin-Script-Status ok without a response script");
        }
    }
    Ok(status)
}

async fn admin_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AdminState>,
) -> HttpResponse {
    let Some(peer) = req.conn_data::<AdminPeer>().cloned() else {
        return reply(StatusCode::FORBIDDEN).finish();
    };
    let eid = peer.identity.eid_text();
    if let Err((status, why)) = check_headers(&req, &peer) {
        return refuse(status, &eid, why);
    }
    let answer = match answered(&req, &state, &peer) {
        Ok(a) => a,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, &eid, why),
    };
    let status = match answer.map(|_| script_status(&req, &body)).transpose() {
        Ok(s) => s,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, &eid, why),
    };
    let smsr = state.smsr.clone();
    let e = eid.clone();
    let work = web::block(move || -> Result<Option<Script>, SmsrError> {
        if let (Some(sequence), Some(status)) = (answer, status) {
            let now = smsr.clock.now_millis();
            let applied = smsr
                .store
                .tx(|c| session::apply_response(c, &smsr, &e, sequence, status, &body, now))?;
            if let Applied::Ignored(why) = applied {
                tracing::warn!(eid = %e, sequence, %why, "SCP81 response script ignored");
            }
            // No wake-up of the SMS delivery loop: this session takes the eUICC's next command itself, and the
            // loop's own tick sends the push SMS if the session is cut. Waking it per response made it rescan
            // every HTTPS eUICC waiting for its session, under the store's write lock, after each round trip.
        }
        let now = smsr.clock.now_millis();
        let retrigger_at = smsr.channels.trigger.as_ref().map(|t| {
            now.saturating_add(i64::try_from(t.connect_timeout.as_millis()).unwrap_or(i64::MAX))
        });
        smsr.store
            .tx(|c| session::next_script(c, &e, retrigger_at, now))
    })
    .await;
    let next = match work {
        Ok(Ok(n)) => n,
        Ok(Err(err)) => {
            tracing::error!(%eid, error = %err, "SCP81 session step failed");
            return reply(StatusCode::INTERNAL_SERVER_ERROR).finish();
        }
        Err(err) => {
            tracing::error!(%eid, error = %err, "SCP81 session step did not run");
            return reply(StatusCode::INTERNAL_SERVER_ERROR).finish();
        }
    };
    let Ok(mut session) = peer.session.lock() else {
        return reply(StatusCode::INTERNAL_SERVER_ERROR).finish();
    };
    let Some(script) = next else {
        session.awaiting = None;
        // Nothing to send: the session ends (wire-profile §3: 204 without Next-URI).
        return reply(StatusCode::NO_CONTENT).finish();
    };
    let next_uri = NextUri {
        path: state.admin_path.clone(),
        session: session.id.clone(),
        sequence: script.sequence,
    }
    .to_header();
    let Some(next_uri) = next_uri else {
        return reply(StatusCode::INTERNAL_SERVER_ERROR).finish();
    };
    session.awaiting = Some(script.sequence);
    let mut r = reply(StatusCode::OK);
    r.insert_header((header::NEXT_URI, next_uri))
        .content_type(wire_profile::CONTENT_TYPE_SCRIPT);
    if let Some(address) = script.target.as_deref().and_then(aid_address) {
        r.insert_header((header::TARGETED_APPLICATION, address));
    }
    r.body(script.body)
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let eid = req
        .conn_data::<AdminPeer>()
        .map(|p| p.identity.eid_text())
        .unwrap_or_default();
    refuse(StatusCode::NOT_FOUND, &eid, "not the admin URI")
}

/// Binds the admin server of `smsr` with `settings` and the PSK `cache` (wire-profile §3). The returned server
/// is not yet polled; the cache is filled by [`super::psk::run_refresh`].
pub fn start(
    smsr: Arc<Smsr>,
    settings: AdminSettings,
    cache: Arc<PskCache>,
) -> Result<RunningServer, AdminError> {
    let path = settings.admin_path.clone();
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err(AdminError::AdminPath(path));
    }
    let builder = acceptor(cache)?;
    let state = web::Data::new(AdminState {
        smsr,
        admin_path: path.clone(),
    });
    let max = settings.max_body_bytes;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(max))
            .route(&path, web::post().to(admin_post))
            .default_service(web::to(not_found))
    })
    .on_connect(on_connect)
    .tcp_nodelay(true)
    .workers(settings.workers.max(1))
    .disable_signals()
    .shutdown_timeout(5)
    .bind_openssl(&settings.listen, builder)
    .map_err(|source| AdminError::Bind {
        addr: settings.listen.clone(),
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
