//! `rsp bench fleet`: an ESM2M fleet switch of N simulated eUICCs started with one API call (issue 12 item 7):
//! every eUICC's enabled profile of MNO 1 → its MNO 2 profile, through the fleet worker, SMPP, the simulator,
//! the notification and its confirmation. Prints operations per second from the POST to the fleet operation's
//! end, and the latency of the progress reads (`GET /fleet-operations/{id}`, every 100 ms) while it runs.
//! Webhook deliveries are not measured (webhooks do not exist yet). It asserts nothing.

use std::path::Path;
use std::time::{Duration, Instant};

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

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
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
            "read,operate",
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
    let http = reqwest::Client::builder()
        .tls_backend_native()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).map_err(|e| e.to_string())?)
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("{}/esm2m/v1", lab.config.esm2m.public_url);
    let mnos = &lab.world.manifest.mnos;
    let (mno1, mno2) = match mnos.as_slice() {
        [a, b, ..] => (a.entity.oid.clone(), b.entity.oid.clone()),
        _ => return Err("the world lists fewer than two MNOs".into()),
    };
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
    let mut reads = Vec::new();
    let end = loop {
        let t0 = Instant::now();
        let v: Value = http
            .get(format!("{base}/fleet-operations/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        reads.push(t0.elapsed());
        if v["finished"] == true {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
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
    lab.stop().await;
    Ok(())
}
