//! `rsp bench fleet`: an ESM2M fleet switch of N simulated eUICCs started with one API call (issue 12 item 7):
//! every eUICC's enabled profile of MNO 1 → its MNO 2 profile, through the fleet worker, SMPP, the simulator,
//! the notification and its confirmation. Prints operations per second from the POST to the fleet operation's
//! end, the latency of the progress reads (`GET /fleet-operations/{id}`, every 100 ms) while it runs, and the
//! webhook deliveries per second: the owner registers an HTTPS endpoint (served by the bench) for every event
//! type, and the bench counts the signed POSTs that reach it until every event of the owner's feed has arrived.
//! It asserts nothing.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};

use conformance::euicc::SimulatorConfig;
use eis_store::entities::{self, Entity, EntityRole};
use serde_json::{Value, json};
use smsr::esm2m::ApiToken;

use crate::config::Es5Config;
use crate::lab::{FleetSource, Lab, LabOptions};

/// The benchmark's owner.
const OWNER: &str = "1.3.6.1.4.1.4242.99.1";

/// Options of `rsp bench fleet`.
#[derive(Debug, Clone)]
pub struct FleetBenchOptions {
    /// Simulated eUICCs (each is one target).
    pub euiccs: usize,
    /// The fleet operation's rate per second.
    pub rate: i64,
    /// The fleet operation's maximum in flight.
    pub max_in_flight: i64,
    /// SMPP binds of the SM-SR.
    pub binds: usize,
    /// Network attach delay of the simulated eUICCs, ms.
    pub attach_delay_ms: u64,
    /// SM-SR database (default: SQLite under the bench directory).
    pub database_url: Option<String>,
}

/// Runs `rsp bench fleet` in `dir`.
pub fn fleet(dir: &Path, opts: &FleetBenchOptions) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let system = actix_web::rt::System::with_tokio_rt(move || rt);
    system.block_on(run(dir, opts))
}

/// What the bench's webhook endpoint received: distinct `webhook-id`s, POSTs, and when the last one came.
#[derive(Default)]
struct Deliveries {
    ids: HashSet<String>,
    posts: u64,
    last: Option<Instant>,
}

/// Reads the body as every receiver does (to check the signature): actix answers a request whose body was left
/// unread with `Connection: close`, which would make each delivery a new TLS connection.
async fn receive(
    req: HttpRequest,
    _body: web::Bytes,
    got: web::Data<Mutex<Deliveries>>,
) -> HttpResponse {
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Ok(mut g) = got.lock() {
        g.ids.insert(id);
        g.posts += 1;
        g.last = Some(Instant::now());
    }
    HttpResponse::NoContent().finish()
}

/// The number of events in `OWNER`'s feed.
fn feed_len(store: &eis_store::Store) -> Result<usize, String> {
    let mut c = store.conn().map_err(|e| e.to_string())?;
    let (mut n, mut after) = (0, 0);
    loop {
        let page =
            eis_store::events::after(&mut c, OWNER, after, 10_000).map_err(|e| e.to_string())?;
        let Some(last) = page.last() else {
            return Ok(n);
        };
        after = last.seq;
        n += page.len();
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// An HTTPS client of the API trusting the world's TLS CA `ca` (PEM).
fn client(ca: &[u8]) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .tls_backend_native()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).map_err(|e| e.to_string())?)
        .build()
        .map_err(|e| e.to_string())
}

/// Reads the fleet operation at `url` every 100 ms until it has finished: the latency of each read, and the
/// last answer.
async fn poll_progress(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<(Vec<Duration>, Value), String> {
    let mut reads = Vec::new();
    loop {
        let t0 = Instant::now();
        let v: Value = http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        reads.push(t0.elapsed());
        if v["finished"] == true {
            return Ok((reads, v));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run(dir: &Path, opts: &FleetBenchOptions) -> Result<(), String> {
    let n = opts.euiccs;
    let setup = Instant::now();
    let es5 = Es5Config {
        por_timeout_secs: 60,
        max_retry_interval_secs: 120,
        batch: 512,
        smpp: crate::config::SmppConfig {
            binds: opts.binds,
            window_size: 64,
            ..Default::default()
        },
        ..Es5Config::default()
    };
    let lab = Lab::start(LabOptions {
        var_dir: dir.to_path_buf(),
        world_euiccs: 1,
        fleet: FleetSource::Seeded { seed: 1, count: n },
        smsr_database_url: opts.database_url.clone(),
        smdp_database_url: None,
        simulator: SimulatorConfig {
            attach_delay_ms: opts.attach_delay_ms,
            notification_retry_interval_ms: 600_000,
            ..SimulatorConfig::default()
        },
        es5,
        receivers: Some(false),
        pool_size: 8,
        workers: 2,
        smdp_profiles: Vec::new(),
        ecasd_faults: Vec::new(),
        second_smsr: None,
        external_smsc: None,
        https_share: 0.0,
        esm2m: crate::config::Esm2mConfig::default(),
    })
    .await?;
    let store = &lab.smsr.store;
    let token = ApiToken::generate().map_err(|e| e.to_string())?;
    let eids = {
        let mut c = store.conn().map_err(|e| e.to_string())?;
        let eids = eis_store::eis::list_eids(&mut c, None, i64::try_from(n).unwrap_or(i64::MAX))
            .map_err(|e| e.to_string())?;
        entities::create_entity(
            &mut c,
            &Entity {
                oid: OWNER.into(),
                role: EntityRole::EuiccOwner,
                name: "Bench fleet".into(),
                endpoints: Default::default(),
                allowed_interfaces: Default::default(),
                gp_certificate: None,
                fingerprints: Default::default(),
            },
            1,
        )
        .map_err(|e| e.to_string())?;
        let now = eis_store::now_millis();
        eis_store::owners::create_token(
            &mut c,
            OWNER,
            &token.hash(),
            "read,operate,admin",
            now + 86_400_000,
            now,
        )
        .map_err(|e| e.to_string())?;
        eids
    };
    store
        .tx(|c| eis_store::owners::assign_euiccs(c, OWNER, &eids, 1))
        .map_err(|e| e.to_string())?;
    let token = token.text().to_string();
    let ca = std::fs::read(lab.world.dir.join(&lab.world.manifest.tls_ca.cert))
        .map_err(|e| e.to_string())?;
    let http = client(&ca)?;
    let base = format!("{}/esm2m/v1", lab.config.esm2m.public_url);
    let mnos = &lab.world.manifest.mnos;
    let (mno1, mno2) = match mnos.as_slice() {
        [a, b, ..] => (a.entity.oid.clone(), b.entity.oid.clone()),
        _ => return Err("the world lists fewer than two MNOs".into()),
    };
    let got = Arc::new(Mutex::new(Deliveries::default()));
    let data = web::Data::from(got.clone());
    let (hook_url, hook) = lab.start_https_endpoint(move |c: &mut web::ServiceConfig| {
        c.app_data(data.clone())
            .default_service(web::post().to(receive));
    })?;
    let resp = http
        .post(format!("{base}/webhooks"))
        .bearer_auth(&token)
        .json(&json!({ "url": format!("{hook_url}/hook") }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status().as_u16() != 201 {
        return Err(format!(
            "POST /webhooks: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        ));
    }
    println!(
        "fleet bench: {n} simulated eUICCs registered and servers up in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let resp = http
        .post(format!("{base}/fleet-operations"))
        .bearer_auth(&token)
        .json(&json!({
            "action": "enable",
            "profileMno": mno2,
            "selector": { "enabledMno": mno1 },
            "ratePerSecond": opts.rate,
            "maxInFlight": opts.max_in_flight,
            "validitySeconds": 86_400,
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let created_in = start.elapsed();
    let status = resp.status();
    let created: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status.as_u16() != 202 {
        return Err(format!("POST /fleet-operations: {status} {created}"));
    }
    let id = created["id"].as_i64().ok_or("no id")?;
    // The owner's application reads progress from a thread and runtime of its own: on the bench's runtime its
    // answers queued behind the simulated network's tasks (the SM-SR's handler took p99 10 ms where the reads
    // measured on that runtime showed 53 ms).
    // Its own client too: a connection is driven by the runtime that opened it.
    let url = format!("{base}/fleet-operations/{id}");
    let reader = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let http = client(&ca)?;
        rt.block_on(poll_progress(&http, &url, &token))
    });
    let (mut reads, end) = tokio::task::spawn_blocking(move || reader.join())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the progress reader panicked")??;
    let secs = start.elapsed().as_secs_f64();
    reads.sort();
    let c = &end["counts"];
    println!(
        "fleet bench: {} targets in {secs:.1} s: {:.1} operations/s end to end (POST answered in {:?}); \
         {} succeeded, {} failed",
        end["total"],
        end["total"].as_f64().unwrap_or(0.0) / secs,
        created_in,
        c["succeeded"],
        c["failed"]
    );
    println!(
        "fleet bench: {} progress reads during the run: p50 {:?}, p99 {:?}, max {:?}",
        reads.len(),
        quantile(&reads, 0.5),
        quantile(&reads, 0.99),
        reads.last().copied().unwrap_or_default()
    );
    // Every event of the owner's feed at the webhook endpoint (or none new for 60 s).
    let events = feed_len(store)?;
    let (mut seen, mut since) = (0, Instant::now());
    let (delivered, posts, last) = loop {
        let (delivered, posts, last) = {
            let g = got.lock().map_err(|_| "poisoned")?;
            (g.ids.len(), g.posts, g.last)
        };
        if delivered >= events || since.elapsed() > Duration::from_secs(60) {
            break (delivered, posts, last);
        }
        if delivered > seen {
            (seen, since) = (delivered, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let span = last.map_or(0.0, |t| t.duration_since(start).as_secs_f64());
    println!(
        "fleet bench: webhook deliveries: {delivered} of {events} events ({posts} POSTs) in {span:.1} s: \
         {:.1} deliveries/s; the last {:.1} s after the fleet operation ended",
        delivered as f64 / span.max(f64::EPSILON),
        (span - secs).max(0.0)
    );
    hook.stop(true).await;
    lab.stop().await;
    Ok(())
}
