//! The simulated eUICC's side of an SCP81 admin session (wire-profile §3; lab only): a PSK-TLS 1.2 client with
//! the openssl crate, GP Amd B RAM over HTTP as the card speaks it — first POST with an empty body, each script
//! run on the simulated card through the driver ([`Control::HttpsScript`]), its response script posted back
//! (chunked, 100-byte chunks, as a real card does) to the Next-URI verbatim, until `204`. A test can cut the
//! connection around a script ([`CutAt`]); a response that could not be delivered is posted first in the next
//! session with `X-Admin-Resume: true` ([`Resume`]) [P].
//!
//! Blocking I/O: run it on a thread of its own (e.g. `tokio::task::spawn_blocking`), never on the driver's.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use es_interfaces::scp81::{AdminFrom, PskIdentity, ScriptStatus, parse_aid_address};
use es_interfaces::wire_profile;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslStream, SslVerifyMode, SslVersion,
};
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

use super::driver::Control;
use super::ids::Eid;

/// Largest header block and body the client reads.
const MAX_MESSAGE: usize = 1 << 20;
/// Chunk size of the response scripts posted (the size a reference server used, notes §2.2).
const CHUNK: usize = 100;

/// Where the admin server is (the trigger's `3C`/`3E`, `8A` and `8C`, wire-profile §3).
#[derive(Debug, Clone)]
pub struct AdminTarget {
    /// Address to connect to.
    pub addr: SocketAddr,
    /// `Host:` header (`8A`).
    pub host: String,
    /// First POST target (`8C`).
    pub admin_uri: String,
}

/// What the eUICC authenticates with (wire-profile §3). No `Debug`: it holds the PSK.
pub struct CardCredentials {
    /// The eUICC in the simulator.
    pub eid: Eid,
    /// PSK identity as sent in TLS (hex text).
    pub identity: String,
    /// The PSK.
    pub psk: Zeroizing<Vec<u8>>,
    /// `X-Admin-From` (`8B`).
    pub agent_id: String,
}

impl CardCredentials {
    /// The credentials of eUICC `eid` whose ISD-R holds PSK `psk` as key 1 of SCP81 key set `kvn`: the PSK
    /// identity and `X-Admin-From` as wire-profile §3 builds them.
    pub fn for_isd_r(eid: Eid, psk: &[u8], kvn: u8) -> Result<CardCredentials, HttpsError> {
        let identity = PskIdentity {
            eid: eid.0,
            isd_r_aid: wire_profile::ISD_R_AID.to_vec(),
            key_id: 1,
            kvn,
        }
        .to_text()
        .map_err(|e| HttpsError::Credentials(format!("PSK identity: {e}")))?;
        let agent_id = AdminFrom {
            eid: eid.0,
            aid: wire_profile::ISD_R_AID.to_vec(),
        }
        .to_header()
        .ok_or_else(|| HttpsError::Credentials("X-Admin-From".into()))?;
        Ok(CardCredentials {
            eid,
            identity,
            psk: Zeroizing::new(psk.to_vec()),
            agent_id,
        })
    }
}

/// Where a test cuts the connection (the `n`-th script of the session, from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutAt {
    /// The session runs to its end.
    #[default]
    Never,
    /// The script is received, then the connection drops before the card runs it.
    BeforeRunning(usize),
    /// The card runs the script, then the connection drops before the response is posted.
    AfterRunning(usize),
}

/// A response script the card could not deliver: posted first, with `X-Admin-Resume: true`, to the Next-URI it
/// answers, when the next session opens [P].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The Next-URI of the script answered.
    pub next_uri: String,
    /// The response script.
    pub response: Vec<u8>,
}

/// One HTTP message of an admin session as it crossed (wire-profile §3), kept for the conformance suite's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminMessage {
    /// When it was written or read.
    pub at: Instant,
    /// A POST of the card (else the server's answer).
    pub from_card: bool,
    /// The request line or the status line.
    pub start_line: String,
    /// Its headers, in order.
    pub headers: Vec<(String, String)>,
    /// Its body (a chunked one reassembled).
    pub body: Vec<u8>,
}

impl AdminMessage {
    /// The first header `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status code of an answer (`None` for a POST or a bad status line).
    pub fn status(&self) -> Option<u16> {
        status_code(&self.start_line)
    }
}

/// What a session did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionReport {
    /// Scripts received.
    pub scripts: usize,
    /// Whether the session was cut by [`CutAt`].
    pub cut: bool,
    /// A response left to deliver in the next session.
    pub resume: Option<Resume>,
    /// The TLS version and cipher suite negotiated (OpenSSL names), once the handshake succeeded.
    pub tls: Option<(String, String)>,
    /// Every HTTP message of the session, in order.
    pub messages: Vec<AdminMessage>,
}

/// Why a session failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// The connection failed.
    #[error("admin session I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake or configuration failed.
    #[error("admin session TLS: {0}")]
    Tls(String),
    /// The server answered something the card does not accept.
    #[error("admin session HTTP: {0}")]
    Http(String),
    /// The simulator could not run the script.
    #[error("simulator: {0}")]
    Simulator(String),
    /// The card's PSK identity or agent id cannot be built.
    #[error("card credentials: {0}")]
    Credentials(String),
    /// The suite's own client cannot be configured as a probe asks ([`probe`]): not the server's doing.
    #[error("TLS client configuration: {0}")]
    Config(String),
}

fn status_code(status_line: &str) -> Option<u16> {
    status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
}

fn http(msg: impl Into<String>) -> HttpsError {
    HttpsError::Http(msg.into())
}

/// The card's TLS client configuration (wire-profile §3): TLS 1.2 only, the two PSK suites, the PSK and
/// identity of `card`, no certificate verification (PSK-TLS has none). No CA store either: loading the system's
/// (`SslConnector` does, on every build) costs the simulator ~20 ms CPU per session. The bench narrows the suites.
pub fn client_builder(card: &CardCredentials) -> Result<SslContextBuilder, HttpsError> {
    let tls = |e: openssl::error::ErrorStack| HttpsError::Tls(e.to_string());
    let mut b = SslContext::builder(SslMethod::tls_client()).map_err(tls)?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(tls)?;
    b.set_max_proto_version(Some(SslVersion::TLS1_2))
        .map_err(tls)?;
    b.set_cipher_list(wire_profile::SCP81_CIPHER_LIST)
        .map_err(tls)?;
    b.set_verify(SslVerifyMode::NONE);
    set_psk(&mut b, card.identity.clone().into_bytes(), card.psk.clone());
    Ok(b)
}

/// The client's PSK callback: `identity` (NUL-terminated in the handshake) and `psk` (wire-profile §3).
fn set_psk(b: &mut SslContextBuilder, identity: Vec<u8>, psk: Zeroizing<Vec<u8>>) {
    b.set_psk_client_callback(move |_ssl, _hint, id_out, psk_out| {
        if identity.len() >= id_out.len() || psk.len() > psk_out.len() {
            return Ok(0);
        }
        id_out[..identity.len()].copy_from_slice(&identity);
        id_out[identity.len()] = 0;
        psk_out[..psk.len()].copy_from_slice(&psk);
        Ok(psk.len())
    });
}

fn connect(
    target: &AdminTarget,
    card: &CardCredentials,
) -> Result<SslStream<TcpStream>, HttpsError> {
    handshake(target.addr, client_builder(card)?)
}

/// A TLS handshake with the server at `addr` under the client configuration `builder` (no SNI: the admin server is
/// addressed by IP, wire-profile §3).
fn handshake(
    addr: SocketAddr,
    builder: SslContextBuilder,
) -> Result<SslStream<TcpStream>, HttpsError> {
    let tls = |e: openssl::error::ErrorStack| HttpsError::Tls(e.to_string());
    let ctx = builder.build();
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ssl::new(&ctx)
        .map_err(tls)?
        .connect(tcp)
        .map_err(|e| HttpsError::Tls(e.to_string()))
}

/// The negotiated TLS version and cipher suite of `stream` (OpenSSL names).
fn negotiated(stream: &SslStream<TcpStream>) -> (String, String) {
    let ssl = stream.ssl();
    (
        ssl.version_str().to_string(),
        ssl.current_cipher()
            .map(|c| c.name().to_string())
            .unwrap_or_default(),
    )
}

/// What the conformance suite's own client offers in a handshake with an admin server (wire-profile §3 checks):
/// one TLS version and, for TLS 1.2, an OpenSSL cipher list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOffer {
    /// The only version offered.
    pub version: SslVersion,
    /// The TLS 1.2 cipher suites offered (OpenSSL cipher list).
    pub ciphers: String,
}

/// What a probe of the suite's own client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The TLS version and cipher suite negotiated.
    pub tls: (String, String),
    /// The server's answer to the request sent, if one was.
    pub answer: Option<AdminMessage>,
}

/// Connects to the admin server at `addr` as `identity` with `psk`, offering `offer` (wire-profile §3); sends
/// `request` (raw HTTP bytes) after the handshake if given and reads the answer. Blocking. A refused handshake is
/// [`HttpsError::Tls`].
pub fn probe(
    addr: SocketAddr,
    identity: &str,
    psk: &[u8],
    offer: &TlsOffer,
    request: Option<&[u8]>,
) -> Result<Probe, HttpsError> {
    let config = |e: openssl::error::ErrorStack| HttpsError::Config(e.to_string());
    let mut b = SslContext::builder(SslMethod::tls_client()).map_err(config)?;
    b.set_min_proto_version(Some(offer.version))
        .map_err(config)?;
    b.set_max_proto_version(Some(offer.version))
        .map_err(config)?;
    if offer.version != SslVersion::TLS1_3 {
        b.set_cipher_list(&offer.ciphers).map_err(config)?;
    }
    b.set_verify(SslVerifyMode::NONE);
    set_psk(
        &mut b,
        identity.as_bytes().to_vec(),
        Zeroizing::new(psk.to_vec()),
    );
    let mut stream = handshake(addr, b)?;
    let tls = negotiated(&stream);
    let answer = match request {
        None => None,
        Some(r) => {
            stream.write_all(r)?;
            stream.flush()?;
            let mut reader = BufReader::new(stream);
            let answer = read_response(&mut reader)?;
            stream = reader.into_inner();
            Some(answer)
        }
    };
    let _ = stream.shutdown();
    Ok(Probe { tls, answer })
}

/// Writes one POST: an empty body with `Content-Length: 0`, or a response script, chunked.
fn post(
    stream: &mut SslStream<TcpStream>,
    target: &AdminTarget,
    card: &CardCredentials,
    uri: &str,
    answer: Option<(ScriptStatus, &[u8])>,
    resume: bool,
) -> Result<AdminMessage, HttpsError> {
    let mut head = format!(
        "POST {uri} HTTP/1.1\r\nHost: {}\r\nX-Admin-Protocol: {}\r\nX-Admin-From: {}\r\n",
        target.host,
        wire_profile::ADMIN_PROTOCOL,
        card.agent_id
    );
    if resume {
        head.push_str("X-Admin-Resume: true\r\n");
    }
    let mut out = Vec::new();
    match answer {
        Some((status, body)) if !body.is_empty() => {
            head.push_str(&format!(
                "X-Admin-Script-Status: {}\r\nContent-Type: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
                status.as_str(),
                wire_profile::CONTENT_TYPE_RESPONSE
            ));
            out.extend_from_slice(head.as_bytes());
            for chunk in body.chunks(CHUNK) {
                out.extend_from_slice(format!("{:X}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        Some((status, _)) => {
            head.push_str(&format!(
                "X-Admin-Script-Status: {}\r\nContent-Length: 0\r\n\r\n",
                status.as_str()
            ));
            out.extend_from_slice(head.as_bytes());
        }
        None => {
            head.push_str("Content-Length: 0\r\n\r\n");
            out.extend_from_slice(head.as_bytes());
        }
    }
    stream.write_all(&out)?;
    stream.flush()?;
    let mut lines = head.lines();
    let start_line = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(AdminMessage {
        at: Instant::now(),
        from_card: true,
        start_line,
        headers,
        body: answer.map(|(_, b)| b.to_vec()).unwrap_or_default(),
    })
}

fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<String, HttpsError> {
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(http("the server closed the connection"));
    }
    *budget = budget
        .checked_sub(n)
        .ok_or_else(|| http("response too large"))?;
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| http("header line is not UTF-8"))
}

fn read_response(r: &mut impl BufRead) -> Result<AdminMessage, HttpsError> {
    let mut budget = MAX_MESSAGE;
    let status_line = read_line(r, &mut budget)?;
    if status_code(&status_line).is_none() {
        return Err(http(format!("bad status line {status_line:?}")));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut budget)?;
        if line.is_empty() {
            break;
        }
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| http(format!("bad header line {line:?}")))?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = AdminMessage {
        at: Instant::now(),
        from_card: false,
        start_line: status_line,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = resp.header("Content-Length") {
        let len: usize = len.parse().map_err(|_| http("bad Content-Length"))?;
        if len > budget {
            return Err(http("response too large"));
        }
        resp.body.resize(len, 0);
        r.read_exact(&mut resp.body)?;
    } else if resp
        .header("Transfer-Encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size = read_line(r, &mut budget)?;
            let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| http("bad chunk size"))?;
            if size == 0 {
                read_line(r, &mut budget)?;
                break;
            }
            budget = budget
                .checked_sub(size)
                .ok_or_else(|| http("response too large"))?;
            let start = resp.body.len();
            resp.body.resize(start + size, 0);
            r.read_exact(&mut resp.body[start..])?;
            read_line(r, &mut budget)?;
        }
    }
    Ok(resp)
}

fn run_on_card(
    control: &mpsc::Sender<Control>,
    eid: Eid,
    script: Vec<u8>,
    target: Option<Vec<u8>>,
) -> Result<Option<Vec<u8>>, HttpsError> {
    let (reply, rx) = oneshot::channel();
    control
        .blocking_send(Control::HttpsScript {
            eid,
            script,
            target,
            reply,
        })
        .map_err(|_| HttpsError::Simulator("the simulator has stopped".into()))?;
    rx.blocking_recv()
        .map_err(|_| HttpsError::Simulator("the simulator dropped the script".into()))?
        .map_err(HttpsError::Simulator)
}

/// Runs one admin session of `card` against `target` (wire-profile §3), the scripts run through the driver's
/// `control` input: `resume` is posted first when given; `cut` drops the connection where a test wants it.
/// Blocking.
pub fn run_session(
    control: &mpsc::Sender<Control>,
    target: &AdminTarget,
    card: &CardCredentials,
    resume: Option<Resume>,
    cut: CutAt,
) -> Result<SessionReport, HttpsError> {
    let (report, result) = run_session_recorded(control, target, card, resume, cut);
    result.map(|()| report)
}

/// As [`run_session`], but the report (TLS, every message so far) comes back whatever the outcome: the
/// conformance suite checks the messages of failed sessions too (wire-profile §3).
pub fn run_session_recorded(
    control: &mpsc::Sender<Control>,
    target: &AdminTarget,
    card: &CardCredentials,
    resume: Option<Resume>,
    cut: CutAt,
) -> (SessionReport, Result<(), HttpsError>) {
    let mut report = SessionReport::default();
    let result = session(control, target, card, resume, cut, &mut report);
    (report, result)
}

fn session(
    control: &mpsc::Sender<Control>,
    target: &AdminTarget,
    card: &CardCredentials,
    resume: Option<Resume>,
    cut: CutAt,
    report: &mut SessionReport,
) -> Result<(), HttpsError> {
    let mut stream = connect(target, card)?;
    report.tls = Some(negotiated(&stream));
    let first = match &resume {
        Some(r) => post(
            &mut stream,
            target,
            card,
            &r.next_uri,
            Some((ScriptStatus::Ok, &r.response)),
            true,
        )?,
        None => post(&mut stream, target, card, &target.admin_uri, None, false)?,
    };
    report.messages.push(first);
    let mut reader = BufReader::new(stream);
    loop {
        let resp = read_response(&mut reader)?;
        report.messages.push(resp.clone());
        match resp.status() {
            Some(204) => break,
            Some(200) => {}
            _ => {
                return Err(http(format!(
                    "{}: {}",
                    resp.start_line,
                    String::from_utf8_lossy(&resp.body)
                )));
            }
        }
        // A 200 without Next-URI is a protocol error: the card ends the session (wire-profile §3).
        let next_uri = resp
            .header("X-Admin-Next-URI")
            .ok_or_else(|| http("200 without X-Admin-Next-URI"))?
            .to_string();
        if resp.header("Content-Type") != Some(wire_profile::CONTENT_TYPE_SCRIPT) {
            return Err(http("a script of another content type"));
        }
        let target_aid = resp
            .header("X-Admin-Targeted-Application")
            .map(parse_aid_address)
            .transpose()
            .map_err(|e| http(e.to_string()))?;
        report.scripts += 1;
        if cut == CutAt::BeforeRunning(report.scripts) {
            report.cut = true;
            return Ok(());
        }
        let response = run_on_card(control, card.eid, resp.body, target_aid)?;
        let answer = match &response {
            Some(r) => (ScriptStatus::Ok, r.as_slice()),
            None => (ScriptStatus::UnknownApplication, &[][..]),
        };
        if cut == CutAt::AfterRunning(report.scripts) {
            report.cut = true;
            report.resume = response.map(|response| Resume { next_uri, response });
            return Ok(());
        }
        let sent = post(
            reader.get_mut(),
            target,
            card,
            &next_uri,
            Some(answer),
            false,
        )?;
        report.messages.push(sent);
    }
    // The card closes with close_notify (notes §2.2).
    let _ = reader.get_mut().shutdown();
    Ok(())
}
