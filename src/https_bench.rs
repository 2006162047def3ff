//! `rsp bench https`: ES5 over HTTPS (SCP81, wire-profile §3) on this machine (a benchmark: it prints figures and
//! asserts no time). Four measurements in one run:
//!
//! - PSK-TLS handshake cost: full handshakes back to back on one thread, in memory (no sockets), with the admin
//!   server's own TLS configuration (`smsr::scp81::server::acceptor`, PSK from the cache filled from the store)
//!   and the simulated eUICC's client configuration, once per cipher suite of wire-profile §3; CPU time of the
//!   thread for each side, so that the rest of the machine does not inflate it.
//! - Admin sessions per second: N simulated eUICCs (seeded, HTTPS-capable, registered in the store) open their
//!   sessions against the real admin server and store, `--connecting` at once (each on a thread, the simulator's
//!   blocking PSK-TLS client), without push SMS (the bench connects them): first with nothing queued (handshake,
//!   opening POST, `204`), then with one queued script each (handshake, POST, `200` + script, run on the simulated
//!   card, POST of the response script, `204`).
//! - Script round trips per second: the same with `--scripts` K scripts queued per eUICC, K round trips (POST of
//!   a response script → `200` with the next script) in one session each. The scripts are ES5.SetFallbackAttribute
//!   operations moving the attribute between the eUICC's profiles: each response completes a real operation
//!   (EIS update, audit record) as a PoR would.
//! - End to end (unless `--no-switch`): `rsp bench switch` with every eUICC on HTTPS (push SMS, session, RAM
//!   over HTTP, notification), [`crate::platform_bench::switch`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conformance::euicc::https::{self, AdminTarget, CardCredentials, CutAt, client_builder};
use conformance::euicc::{Control, EuiccSecrets, SimulatorConfig};
use eis_store::eis::{self, ProfileState};
use eis_store::operations::{self as store_ops, OperationState};
use es_interfaces::isdr::Es5Command;
use es_interfaces::wire_profile;
use openssl::ssl::{HandshakeError, MidHandshakeSslStream, Ssl, SslAcceptor, SslStream};
use smsr::error::SmsrError;
use smsr::operation::{self, OpData, OperationKind, Start};
use smsr::scp81::psk::PskCache;
use smsr::service::Smsr;
use tokio::sync::mpsc;

use crate::bench::ThrowAwayPg;
use crate::config::Es5Config;
use crate::download_bench::process_cpu_time;
use crate::download_floor::thread_cpu_time;
use crate::lab::{FleetSource, Lab, LabOptions};
use crate::platform_bench::{self, SwitchOptions};

/// Seed of the session phases' fleet (the end-to-end phase uses seed 1, in a store of its own).
const SESSION_SEED: u64 = 2;
/// eUICCs whose operations are queued per transaction.
const ENQUEUE_CHUNK: usize = 200;

/// Options of `rsp bench https` (ES5 over HTTPS, wire-profile §3).
#[derive(Debug, Clone)]
pub struct HttpsOptions {
    /// eUICCs, binds and attach delay of both lab runs (`https` set for the end-to-end phase); `database_url`: a
    /// PostgreSQL server on which each run gets a throw-away SM-SR database (else SQLite, one per run).
    pub switch: SwitchOptions,
    /// Simulated eUICCs with a session under way at once.
    pub connecting: usize,
    /// Scripts queued per eUICC in the round-trip phase.
    pub scripts: usize,
    /// Handshakes per cipher suite in the handshake-cost measurement.
    pub handshakes: usize,
    /// Also run the end-to-end switch phase.
    pub end_to_end: bool,
}

/// `rsp bench https` (wire-profile §3): prints the handshake cost, admin sessions per second, script round trips
/// per second and (unless left out) complete enable-profile operations per second over HTTPS.
pub fn https(dir: &Path, opts: &HttpsOptions) -> Result<(), String> {
    let rt = platform_bench::runtime(2)?;
    let system = actix_web::rt::System::with_tokio_rt(move || rt);
    system.block_on(async {
        // The seeded EIDs depend on the index only: each phase has a store (and world) of its own.
        let pg = opts.switch.database_url.as_deref();
        let db = pg.map(ThrowAwayPg::create).transpose()?;
        sessions(
            &dir.join("sessions"),
            opts,
            db.as_ref().map(ThrowAwayPg::url),
        )
        .await?;
        drop(db);
        if opts.end_to_end {
            let db = pg.map(ThrowAwayPg::create).transpose()?;
            let switch = SwitchOptions {
                database_url: db.as_ref().map(ThrowAwayPg::url),
                ..opts.switch.clone()
            };
            platform_bench::switch_run(&dir.join("switch"), &switch).await?;
        }
        Ok(())
    })
}

/// The PSK-TLS credentials of seeded eUICC `index` (wire-profile §3: identity, PSK, `X-Admin-From`).
fn credentials(index: usize) -> Result<CardCredentials, String> {
    let secrets = EuiccSecrets::from_seed(SESSION_SEED, index).map_err(|e| e.to_string())?;
    CardCredentials::for_isd_r(secrets.eid, secrets.scp81_psk.expose(), secrets.scp81_kvn)
        .map_err(|e| e.to_string())
}

async fn sessions(
    dir: &Path,
    opts: &HttpsOptions,
    database_url: Option<String>,
) -> Result<(), String> {
    let n = opts.switch.euiccs.max(1);
    let setup = Instant::now();
    let mut es5 = Es5Config {
        por_timeout_secs: 60,
        max_retry_interval_secs: 120,
        smpp: crate::config::SmppConfig {
            binds: opts.switch.binds,
            window_size: 64,
            ..Default::default()
        },
        ..Es5Config::default()
    };
    es5.https.enabled = true;
    es5.https.listen = format!("127.0.0.1:{}", crate::lab::free_port()?);
    // No usable address to announce: no push SMS; the bench opens the sessions itself.
    es5.https.public_address = Some("bench".into());
    let lab = Lab::start(LabOptions {
        var_dir: dir.to_path_buf(),
        world_euiccs: 1,
        fleet: FleetSource::Seeded {
            seed: SESSION_SEED,
            count: n,
        },
        smsr_database_url: database_url,
        smdp_database_url: None,
        simulator: SimulatorConfig {
            attach_delay_ms: opts.switch.attach_delay_ms,
            notification_retry_interval_ms: 600_000,
            ..SimulatorConfig::default()
        },
        es5,
        receivers: None,
        pool_size: 8,
        workers: 2,
        smdp_profiles: Vec::new(),
        ecasd_faults: Vec::new(),
        second_smsr: None,
        external_smsc: None,
        https_share: 1.0,
        esm2m: crate::config::Esm2mConfig::default(),
    })
    .await?;
    let result = session_phases(&lab, n, opts, setup).await;
    lab.stop().await;
    result
}

async fn session_phases(
    lab: &Lab,
    n: usize,
    opts: &HttpsOptions,
    setup: Instant,
) -> Result<(), String> {
    let addr = lab.scp81_addr.ok_or("the admin server did not start")?;
    let target = AdminTarget {
        addr,
        host: "localhost".into(),
        admin_uri: lab.config.es5.https.admin_path.clone(),
    };
    let cards = Arc::new((0..n).map(credentials).collect::<Result<Vec<_>, _>>()?);
    let control = lab.network.simulator().control;
    // The admin server's PSK cache is filled in the background; the first eUICC retries until it is accepted.
    let warm = Instant::now();
    loop {
        let (c, t, k) = (control.clone(), target.clone(), cards.clone());
        let r = tokio::task::spawn_blocking(move || {
            https::run_session(&c, &t, &k[0], None, CutAt::Never)
        })
        .await
        .map_err(|e| e.to_string())?;
        match r {
            Ok(_) => break,
            Err(https::HttpsError::Tls(_)) if warm.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => return Err(format!("first admin session: {e}")),
        }
    }
    let db = if opts.switch.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "https bench: {n} simulated eUICCs (HTTPS-capable, seeded) registered, admin server up ({} HTTP workers, {db}) in {:.1} s",
        lab.config.smsr.workers,
        setup.elapsed().as_secs_f64()
    );

    let cache = Arc::new(PskCache::new());
    let psks = cache
        .reload(&lab.smsr.store, &lab.smsr.keyring)
        .map_err(|e| e.to_string())?;
    let acceptor = smsr::scp81::server::acceptor(cache)
        .map_err(|e| e.to_string())?
        .build();
    println!(
        "  PSK-TLS 1.2 handshake, in memory on one thread (the admin server's TLS configuration, {psks} PSKs cached), {} each:",
        opts.handshakes
    );
    let mut costs = Vec::new();
    for suite in wire_profile::SCP81_CIPHER_LIST.split(':') {
        let c = handshake_cost(&acceptor, &cards[0], suite, opts.handshakes.max(1))?;
        println!(
            "    {suite}: server {:.3} ms CPU, eUICC {:.3} ms CPU per handshake = {:.0} handshakes/s per core on the server, {:.0}/s both ends on one core",
            ms(c.server),
            ms(c.client),
            1.0 / c.server.as_secs_f64().max(1e-12),
            1.0 / (c.server + c.client).as_secs_f64().max(1e-12)
        );
        costs.push(c);
    }
    let gcm = costs.first().ok_or("no cipher suite")?;
    let connecting = opts.connecting.max(1);
    println!(
        "  admin sessions against the admin server, {connecting} eUICCs connecting at once (the simulator's PSK-TLS client, one thread each):"
    );
    let empty = run_phase(&control, &target, &cards, connecting, 0).await?;
    print_phase("nothing queued (handshake, POST → 204)", &empty, n, 0);
    let ops_before = done_operations(lab)?;
    enqueue(&lab.smsr, n, 1)?;
    let one = run_phase(&control, &target, &cards, connecting, 1).await?;
    print_phase(
        "1 script each (handshake, POST → 200 script, POST response → 204)",
        &one,
        n,
        1,
    );
    let k = opts.scripts.max(1);
    enqueue(&lab.smsr, n, k)?;
    let many = run_phase(&control, &target, &cards, connecting, k).await?;
    print_phase(
        &format!("{k} scripts each (POST response → 200 next script, the last → 204)"),
        &many,
        n,
        k,
    );
    let done = done_operations(lab)?.saturating_sub(ops_before);
    let expected = (n * (1 + k)) as i64;
    let open = open_operations(lab)?;
    if done != expected || open != 0 {
        return Err(format!(
            "{done} operations completed, {expected} expected; {open} still open"
        ));
    }
    println!(
        "  ({done} ES5.SetFallbackAttribute operations completed by response scripts, none left open)"
    );
    println!(
        "https bench: {:.0} admin sessions/s (1 script each), {:.0} script round trips/s ({k} per session), PSK-TLS handshake {:.3} ms server CPU ({})",
        rate(one.sessions, one.elapsed),
        rate(many.scripts, many.elapsed),
        ms(gcm.server),
        gcm.suite
    );
    Ok(())
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn done_operations(lab: &Lab) -> Result<i64, String> {
    let mut c = lab.smsr.store.conn().map_err(|e| e.to_string())?;
    let counts = store_ops::counts(&mut c).map_err(|e| e.to_string())?;
    Ok(counts
        .iter()
        .filter(|(s, _)| *s == OperationState::Done)
        .map(|(_, n)| n)
        .sum())
}

fn open_operations(lab: &Lab) -> Result<i64, String> {
    let mut c = lab.smsr.store.conn().map_err(|e| e.to_string())?;
    let counts = store_ops::counts(&mut c).map_err(|e| e.to_string())?;
    Ok(counts
        .iter()
        .filter(|(s, _)| !s.is_final())
        .map(|(_, n)| n)
        .sum())
}

/// Queues `per` ES5.SetFallbackAttribute operations on each of the first `n` seeded eUICCs, each moving the
/// attribute to the next profile (SGP.02 §5.7.7), as the SM-SR's own operations (no function call, no callback).
fn enqueue(smsr: &Smsr, n: usize, per: usize) -> Result<(), String> {
    let eids = (0..n)
        .map(|i| {
            EuiccSecrets::from_seed(SESSION_SEED, i)
                .map(|s| s.eid.to_string())
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    for chunk in eids.chunks(ENQUEUE_CHUNK) {
        smsr.store
            .tx(|c| {
                let now = smsr.clock.now_millis();
                for eid in chunk {
                    let profiles: Vec<_> = eis::profiles_of(c, eid)?
                        .into_iter()
                        .filter(|p| {
                            !matches!(
                                p.info.state,
                                ProfileState::Created | ProfileState::InCreation
                            )
                        })
                        .collect();
                    let current = profiles.iter().position(|p| p.info.fallback).unwrap_or(0);
                    for j in 0..per {
                        let Some(p) = profiles.get((current + 1 + j) % profiles.len().max(1))
                        else {
                            continue;
                        };
                        let aid = p.info.isd_p_aid.clone();
                        operation::start(
                            c,
                            smsr,
                            Start {
                                kind: OperationKind::SetFallbackAttribute,
                                eid,
                                function_call_id: None,
                                requester_oid: &p.info.mno_id,
                                interface: "ES4",
                                iccid: Some(p.info.iccid.as_str()),
                                isd_p_aid: Some(aid.as_slice()),
                                deadline: now + 3_600_000,
                                data: OpData::default(),
                                script: Some(operation::script(&[
                                    Es5Command::SetFallbackAttribute {
                                        isd_p_aid: aid.clone(),
                                    },
                                ])?),
                            },
                            now,
                        )?;
                    }
                }
                Ok::<_, SmsrError>(())
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What one session phase measured.
struct Phase {
    sessions: usize,
    scripts: usize,
    elapsed: Duration,
    cpu: Duration,
    latencies: Vec<Duration>,
}

/// One admin session per card, `connecting` at once; every session must run `per` scripts.
async fn run_phase(
    control: &mpsc::Sender<Control>,
    target: &AdminTarget,
    cards: &Arc<Vec<CardCredentials>>,
    connecting: usize,
    per: usize,
) -> Result<Phase, String> {
    let (control, target, cards) = (control.clone(), target.clone(), cards.clone());
    tokio::task::spawn_blocking(move || {
        let next = AtomicUsize::new(0);
        let cpu = process_cpu_time();
        let start = Instant::now();
        let results: Vec<Result<(usize, Vec<Duration>), String>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..connecting.min(cards.len()))
                .map(|_| {
                    s.spawn(|| {
                        let mut scripts = 0;
                        let mut latencies = Vec::new();
                        while let Some(card) = cards.get(next.fetch_add(1, Ordering::Relaxed)) {
                            let t = Instant::now();
                            let r = https::run_session(&control, &target, card, None, CutAt::Never)
                                .map_err(|e| format!("eUICC {}: {e}", card.eid))?;
                            latencies.push(t.elapsed());
                            if r.scripts != per {
                                return Err(format!(
                                    "eUICC {}: {} scripts in its session, {per} queued",
                                    card.eid, r.scripts
                                ));
                            }
                            scripts += r.scripts;
                        }
                        Ok((scripts, latencies))
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err("session thread panicked".into()))
                })
                .collect()
        });
        let elapsed = start.elapsed();
        let cpu = process_cpu_time().saturating_sub(cpu);
        let mut phase = Phase {
            sessions: 0,
            scripts: 0,
            elapsed,
            cpu,
            latencies: Vec::new(),
        };
        for r in results {
            let (scripts, latencies) = r?;
            phase.scripts += scripts;
            phase.sessions += latencies.len();
            phase.latencies.extend(latencies);
        }
        phase.latencies.sort();
        Ok(phase)
    })
    .await
    .map_err(|e| e.to_string())?
}

fn print_phase(what: &str, p: &Phase, n: usize, per: usize) {
    let pct = |q: f64| {
        let i = ((p.latencies.len() as f64 - 1.0) * q).round() as usize;
        p.latencies.get(i).copied().map(ms).unwrap_or(0.0)
    };
    let scripts = if per == 0 {
        String::new()
    } else {
        format!(
            ", {} scripts = {:.0} round trips/s",
            p.scripts,
            rate(p.scripts, p.elapsed)
        )
    };
    println!(
        "    {what}: {} sessions of {n} eUICCs in {:.2} s = {:.0} sessions/s{scripts}; session p50 {:.1} ms, p99 {:.1} ms; process CPU {:.2} ms per session",
        p.sessions,
        p.elapsed.as_secs_f64(),
        rate(p.sessions, p.elapsed),
        pct(0.5),
        pct(0.99),
        ms(p.cpu) / p.sessions.max(1) as f64
    );
}

/// One end of an in-memory duplex byte stream: reads what the other end wrote, `WouldBlock` when there is
/// nothing yet (the handshake then returns to the caller, which runs the other side).
#[derive(Debug)]
struct Pipe {
    rx: Rc<RefCell<VecDeque<u8>>>,
    tx: Rc<RefCell<VecDeque<u8>>>,
}

fn pipe_pair() -> (Pipe, Pipe) {
    let a = Rc::new(RefCell::new(VecDeque::new()));
    let b = Rc::new(RefCell::new(VecDeque::new()));
    (
        Pipe {
            rx: a.clone(),
            tx: b.clone(),
        },
        Pipe { rx: b, tx: a },
    )
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut q = self.rx.borrow_mut();
        if q.is_empty() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        q.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx.borrow_mut().extend(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A handshake side: under way, or done.
enum Side {
    Mid(MidHandshakeSslStream<Pipe>),
    Done(SslStream<Pipe>),
}

/// Runs `f` (a handshake step), adds its thread CPU time to `spent`, and says where the side is.
fn step(
    spent: &mut Duration,
    f: impl FnOnce() -> Result<SslStream<Pipe>, HandshakeError<Pipe>>,
) -> Result<Side, String> {
    let t = thread_cpu_time();
    let r = f();
    *spent += thread_cpu_time().saturating_sub(t);
    match r {
        Ok(s) => Ok(Side::Done(s)),
        Err(HandshakeError::WouldBlock(m)) => Ok(Side::Mid(m)),
        Err(e) => Err(format!("handshake: {e}")),
    }
}

fn advance(side: Side, spent: &mut Duration) -> Result<Side, String> {
    match side {
        Side::Mid(m) => step(spent, || m.handshake()),
        done => Ok(done),
    }
}

/// Handshake CPU per side, mean of `n` full PSK-TLS 1.2 handshakes with `suite` only offered by the client.
struct HandshakeCost {
    suite: String,
    server: Duration,
    client: Duration,
}

fn handshake_cost(
    acceptor: &SslAcceptor,
    card: &CardCredentials,
    suite: &str,
    n: usize,
) -> Result<HandshakeCost, String> {
    let mut b = client_builder(card).map_err(|e| e.to_string())?;
    b.set_cipher_list(suite).map_err(|e| e.to_string())?;
    let ctx = b.build();
    let (mut server, mut client) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..n {
        let (c_end, s_end) = pipe_pair();
        let ssl = Ssl::new(&ctx).map_err(|e| e.to_string())?;
        let mut c = step(&mut client, || ssl.connect(c_end))?;
        let mut s = step(&mut server, || acceptor.accept(s_end))?;
        let mut rounds = 0;
        let (c_done, s_done) = loop {
            match (c, s) {
                (Side::Done(c), Side::Done(s)) => break (c, s),
                (cs, ss) => {
                    rounds += 1;
                    if rounds > 16 {
                        return Err(format!("{suite}: the handshake does not finish"));
                    }
                    c = advance(cs, &mut client)?;
                    s = advance(ss, &mut server)?;
                }
            }
        };
        let negotiated = s_done.ssl().current_cipher().map(|c| c.name());
        if negotiated != Some(suite)
            || c_done.ssl().current_cipher().map(|c| c.name()) != negotiated
        {
            return Err(format!("{suite}: negotiated {negotiated:?}"));
        }
        smsr::scp81::server::handshake_done(s_done.ssl());
    }
    Ok(HandshakeCost {
        suite: suite.to_string(),
        server: server / n as u32,
        client: client / n as u32,
    })
}
