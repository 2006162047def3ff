//! `rsp bench api`: ES1.RegisterEIS and ES4.GetEIS throughput and latency over mutual TLS against both
//! servers started in this process on a fresh world and database (foundation issue). Prints figures; asserts
//! nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certs::world::World;
use conformance::eum::{Es1Client, build_eis};
use es_interfaces::soap::action;
use es_interfaces::wsdl::Service;

use crate::config::Config;

/// Options of `rsp bench api`.
#[derive(Debug, Clone)]
pub struct ApiBenchOptions {
    /// eUICCs to register (each a distinct signed EIS).
    pub registrations: usize,
    /// Concurrent callers during the registration burst.
    pub concurrency: usize,
    /// Target rate of ES4.GetEIS calls (open loop).
    pub get_rate: u32,
    /// Duration of the GetEIS phase.
    pub duration: Duration,
    /// SM-SR database: `None` for SQLite in a temporary directory, else a PostgreSQL server URL (a throw-away
    /// database is created on it and dropped afterwards).
    pub postgres: Option<String>,
    /// An existing SM-SR database filled by `rsp bench seed` with the world of the configuration: no
    /// registration phase; ES4.GetEIS of random seeded eUICCs. Overrides `postgres`.
    pub seeded_database: Option<String>,
}

/// Seconds of ES4.GetEIS at the offered rate before the measured phase, not counted: the client's pooled
/// connections are opened (one TLS handshake each) and the server's threads started.
const WARM_UP: Duration = Duration::from_secs(5);

/// A GetEIS slower than this counts as slow in the per-second line of [`api`] (the p99 target).
const SLOW: Duration = Duration::from_millis(10);

/// ES4.GetEIS calls of the fresh-connection phase of [`api`].
const FRESH_CONNECTION_CALLS: usize = 200;

/// Latency summary of one phase.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Calls completed successfully.
    pub ok: usize,
    /// Calls that failed.
    pub failed: usize,
    /// Completed calls per second over the phase.
    pub per_second: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} ok, {} failed)",
            self.per_second,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.ok,
            self.failed
        )
    }
}

fn figures(mut latencies: Vec<Duration>, failed: usize, elapsed: Duration) -> Figures {
    latencies.sort();
    let pick = |q: f64| {
        if latencies.is_empty() {
            Duration::ZERO
        } else {
            latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)]
        }
    };
    Figures {
        ok: latencies.len(),
        failed,
        per_second: latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

/// A mutual-TLS client keeping up to `idle` connections per host (0: a new connection for every call).
fn mtls_client(
    world: &World,
    cert: &str,
    key: &str,
    idle: usize,
) -> Result<reqwest::Client, String> {
    let read = |p: &str| std::fs::read(world.dir.join(p)).map_err(|e| format!("{p}: {e}"));
    let identity =
        reqwest::Identity::from_pkcs8_pem(&read(cert)?, &read(key)?).map_err(|e| e.to_string())?;
    let ca = reqwest::Certificate::from_pem(&read(&world.manifest.tls_ca.cert)?)
        .map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .tls_backend_native()
        .identity(identity)
        .add_root_certificate(ca)
        .pool_max_idle_per_host(idle)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())
}

/// A throw-away PostgreSQL database on `server` (a URL to any database of that server), dropped on drop.
pub(crate) struct ThrowAwayPg {
    server: String,
    name: String,
}

impl ThrowAwayPg {
    pub(crate) fn create(server: &str) -> Result<Self, String> {
        let name = format!("rsp_bench_{}", uuid::Uuid::new_v4().simple());
        let out = std::process::Command::new("psql")
            .arg(server)
            .args(["-q", "-c", &format!("CREATE DATABASE {name}")])
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot create a database: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(ThrowAwayPg {
            server: server.to_string(),
            name,
        })
    }

    pub(crate) fn url(&self) -> String {
        let base = self
            .server
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&self.server);
        format!("{base}/{}", self.name)
    }
}

impl Drop for ThrowAwayPg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .arg(&self.server)
            .args([
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// Runs the benchmark and prints the figures. `base` is the configuration whose world filled
/// `opts.seeded_database`.
pub fn api(base: &Config, opts: &ApiBenchOptions) -> Result<(Figures, Figures), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let pg = match (&opts.seeded_database, &opts.postgres) {
        (None, Some(server)) => Some(ThrowAwayPg::create(server)?),
        _ => None,
    };
    let mut config = Config {
        var_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let port = crate::lab::free_port()?;
    config.smsr.listen = format!("127.0.0.1:{port}");
    config.smsr.public_url = format!("https://localhost:{port}");
    config.smsr.workers = 2;
    config.smsr.pool_size = 8;
    config.smsr.metrics_listen = None;
    config.smdp.listen = format!("127.0.0.1:{}", crate::lab::free_port()?);
    config.esm2m.enabled = false;
    if let Some(pg) = &pg {
        config.smsr.database_url = pg.url();
    }
    let (world, registrations, seeded) = match &opts.seeded_database {
        Some(url) => {
            config.smsr.database_url = url.clone();
            let world = crate::setup::load_or_init_world(base).map_err(|e| e.to_string())?;
            let store = eis_store::Store::open(url, 1).map_err(|e| e.to_string())?;
            let mut conn = store.conn().map_err(|e| e.to_string())?;
            let n = eis_store::eis::count_euiccs(&mut conn).map_err(|e| e.to_string())?;
            let n = usize::try_from(n).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("{url} holds no eUICC: fill it with rsp bench seed"));
            }
            (world, 0, Some(n))
        }
        None => {
            eprintln!(
                "generating a world of {} eUICCs and their signed EISs …",
                opts.registrations
            );
            let world = crate::setup::init_world(&config.pki_path(), opts.registrations, None)
                .map_err(|e| e.to_string())?;
            (world, opts.registrations, None)
        }
    };
    let keyring = Arc::new(crate::setup::master_keyring(&world).map_err(|e| e.to_string())?);

    // The servers, on their own actix system in a thread.
    let (tx, rx) = std::sync::mpsc::channel::<Result<actix_web::dev::ServerHandle, String>>();
    let server_config = config.clone();
    let server_world_dir = world.dir.clone();
    let server_thread = std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let started = World::load(&server_world_dir)
                .map_err(|e| e.to_string())
                .and_then(|w| {
                    crate::serve::start(&server_config, &w, keyring, Some(crate::serve::Only::Smsr))
                });
            match started {
                Ok(s) => {
                    let mut servers = s.servers;
                    let server = servers.remove(0);
                    let _ = tx.send(Ok(server.handle.clone()));
                    let _ = server.server.await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    let handle = rx.recv().map_err(|e| e.to_string())??;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let es1 = Es1Client::new(&world, &config.smsr.public_url).map_err(|e| e.to_string())?;
    let now = time::OffsetDateTime::now_utc();
    let mut envelopes = Vec::with_capacity(registrations);
    for i in 0..registrations {
        let eis = build_eis(&world, i, now).map_err(|e| e.to_string())?;
        envelopes.push(es1.envelope(&eis, &format!("bench-{i}")));
    }
    let m = &world.manifest;
    let eum = mtls_client(&world, &m.eum_tls_client.cert, &m.eum_tls_client.key, 256)?;
    let mno = mtls_client(
        &world,
        &m.mnos[0].tls_client.cert,
        &m.mnos[0].tls_client.key,
        256,
    )?;
    let mno_unpooled = mtls_client(
        &world,
        &m.mnos[0].tls_client.cert,
        &m.mnos[0].tls_client.key,
        0,
    )?;
    let es1_url = format!(
        "{}{}",
        config.smsr.public_url,
        Service::Es1SmSr.default_path()
    );
    let es4_url = format!(
        "{}{}",
        config.smsr.public_url,
        Service::Es4SmSr.default_path()
    );
    // Each GetEIS asks for a random eUICC: of the whole seeded database, or of the registered ones.
    let eids: Vec<String> = world.euiccs.iter().map(|e| e.eid.clone()).collect();
    let random_eid = move || -> Result<String, String> {
        match seeded {
            Some(n) => crate::seed_bench::seeded_eid(rand::random_range(0..n)),
            None if eids.is_empty() => Err("the world has no eUICC".into()),
            None => Ok(eids[rand::random_range(0..eids.len())].clone()),
        }
    };

    let (registration, (get, slow_seconds), fresh) = runtime.block_on(async {
        // Phase 1: the registration burst, `concurrency` callers.
        let queue = Arc::new(tokio::sync::Mutex::new(envelopes.into_iter()));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..opts.concurrency.max(1) {
            let (queue, eum, url) = (queue.clone(), eum.clone(), es1_url.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut failed = 0;
                loop {
                    let Some(env) = queue.lock().await.next() else {
                        break;
                    };
                    let t = Instant::now();
                    match call(&eum, &url, action::ES1_REGISTER_EIS.request, env).await {
                        Ok(true) => lat.push(t.elapsed()),
                        _ => failed += 1,
                    }
                }
                (lat, failed)
            }));
        }
        let (mut lat, mut failed) = (Vec::new(), 0);
        for t in tasks {
            if let Ok((l, f)) = t.await {
                lat.extend(l);
                failed += f;
            }
        }
        let registration = figures(lat, failed, started.elapsed());

        // Phase 2: ES4.GetEIS at a fixed rate (open loop: a late answer does not slow the senders), after a
        // warm-up at the same rate that is not counted.
        open_loop(&mno, &es4_url, opts.get_rate, WARM_UP, "warm", &random_eid).await?;
        let get = open_loop(
            &mno,
            &es4_url,
            opts.get_rate,
            opts.duration,
            "get",
            &random_eid,
        )
        .await?;

        // Phase 3: ES4.GetEIS one after the other, each on a new TLS connection (handshake included): what a
        // caller without a connection pool sees.
        let started = Instant::now();
        let (mut lat, mut failed) = (Vec::new(), 0);
        for n in 0..FRESH_CONNECTION_CALLS {
            let body = get_eis_body(&format!("bench-fresh-{n}"), &random_eid()?);
            let t = Instant::now();
            let env = envelope(&es4_url, action::ES4_GET_EIS.request, &body);
            match call(&mno_unpooled, &es4_url, action::ES4_GET_EIS.request, env).await {
                Ok(true) => lat.push(t.elapsed()),
                _ => failed += 1,
            }
        }
        let fresh = figures(lat, failed, started.elapsed());
        Ok::<_, String>((registration, get, fresh))
    })?;
    runtime.block_on(handle.stop(true));
    let _ = server_thread.join();
    let backend = if opts.postgres.is_some() || opts.seeded_database.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "rsp bench api — SM-SR on {backend}, mutual TLS, {} workers",
        config.smsr.workers
    );
    match &seeded {
        Some(n) => println!(
            "  database seeded with {n} eUICCs; each GetEIS of a random one of them (no registration phase)"
        ),
        None => println!(
            "  ES1.RegisterEIS  {registration}   ({} callers)",
            opts.concurrency
        ),
    }
    println!(
        "  ES4.GetEIS       {get}   (offered {}/s for {:?}, after {:?} not counted)",
        opts.get_rate, opts.duration, WARM_UP
    );
    println!(
        "                   calls over {:?} in {} of those {} seconds{}",
        SLOW,
        slow_seconds.len(),
        opts.duration.as_secs(),
        if slow_seconds.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                slow_seconds
                    .iter()
                    .map(|(second, calls)| format!("+{second} s: {calls}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    println!("  ES4.GetEIS       {fresh}   (one at a time, each on a new TLS connection)");
    drop(pg);
    let _ = Path::new(dir.path());
    Ok((registration, get))
}

/// The body of an ES4.GetEIS request for `eid`.
fn get_eis_body(call_id: &str, eid: &str) -> String {
    format!(
        "<rps:ES4-GetEISRequest xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\">\
         <rps:FunctionCallIdentifier>{call_id}</rps:FunctionCallIdentifier><rps:Eid>{eid}</rps:Eid>\
         </rps:ES4-GetEISRequest>"
    )
}

/// ES4.GetEIS of random eUICCs at `rate` a second for `duration`, open loop (a late answer does not slow the
/// next call). Returns the figures and, for each second of the run in which some call took longer than
/// [`SLOW`], that second and how many calls did.
async fn open_loop(
    client: &reqwest::Client,
    url: &str,
    rate: u32,
    duration: Duration,
    tag: &str,
    random_eid: &impl Fn() -> Result<String, String>,
) -> Result<(Figures, Vec<(u64, usize)>), String> {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let total = (duration.as_secs_f64() * f64::from(rate)) as usize;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for n in 0..total {
        ticker.tick().await;
        let (client, url) = (client.clone(), url.to_string());
        let body = get_eis_body(&format!("bench-{tag}-{n}"), &random_eid()?);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let env = envelope(&url, action::ES4_GET_EIS.request, &body);
            let ok = call(&client, &url, action::ES4_GET_EIS.request, env)
                .await
                .unwrap_or(false);
            (ok, t.elapsed(), t.duration_since(started).as_secs())
        }));
    }
    let (mut lat, mut failed) = (Vec::new(), 0);
    let mut slow = std::collections::BTreeMap::<u64, usize>::new();
    for t in tasks {
        match t.await {
            Ok((true, d, second)) => {
                if d > SLOW {
                    *slow.entry(second).or_default() += 1;
                }
                lat.push(d);
            }
            _ => failed += 1,
        }
    }
    Ok((
        figures(lat, failed, started.elapsed()),
        slow.into_iter().collect(),
    ))
}

fn envelope(to: &str, action: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:wsa=\"http://www.w3.org/2005/08/addressing\"><env:Header><wsa:To>{to}</wsa:To>\
         <wsa:From><wsa:Address>http://bench.invalid/</wsa:Address></wsa:From><wsa:MessageID>urn:uuid:{}\
         </wsa:MessageID><wsa:Action>{action}</wsa:Action></env:Header><env:Body>{body}</env:Body></env:Envelope>",
        uuid::Uuid::new_v4()
    )
}

/// One SOAP call; `Ok(true)` when the function executed successfully.
async fn call(
    client: &reqwest::Client,
    url: &str,
    action: &str,
    envelope: String,
) -> Result<bool, String> {
    let r = client
        .post(url)
        .header(
            "Content-Type",
            format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
        )
        .body(envelope)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let ok = r.status().is_success();
    let body = r.text().await.map_err(|e| e.to_string())?;
    Ok(ok && body.contains("EXECUTED_SUCCESS"))
}
