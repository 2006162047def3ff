//! `rsp bench smsr-change`: SM-SR change throughput and latency on this machine (SGP.02 §3.8; issue 13 item 6).
//! A lab with both SM-SRs, the test SMSC and the simulator; N eUICCs of the world registered at SM-SR 1 over ES1;
//! ES4.PrepareSMSRChange for each at SM-SR 2, then ES4.SMSRChange for each at SM-SR 1 with at most
//! `concurrency` changes under way, each an independent hand-over (ES7 HandoverEUICC, AuthenticateSMSR and
//! CreateAdditionalKeySet relayed over SMS, UpdateSMSRAddressingParameters and FinaliseISDRHandover under the new
//! key set). Prints handovers per second and the p50/p99 of one change, from the ES4 call to its callback.
//! Benchmarks print figures; nothing here asserts a time.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use es_interfaces::messages::es4;
use es_interfaces::status::Status;

use crate::config::Es5Config;
use crate::lab::{Lab, LabOptions, SecondSmsr};
use crate::platform_bench::runtime;

/// What `rsp bench smsr-change` runs.
#[derive(Debug, Clone)]
pub struct SmsrChangeOptions {
    /// eUICCs of the world handed over, one change each.
    pub euiccs: usize,
    /// Changes under way at once.
    pub concurrency: usize,
    /// Network attach delay of the simulated eUICCs, ms.
    pub attach_delay_ms: u64,
    /// SM-SR 2's database (default: SQLite in the bench directory).
    pub database_url: Option<String>,
}

/// `rsp bench smsr-change`: prints handovers per second and the p50/p99 latency of one change.
pub fn smsr_change(dir: &Path, opts: &SmsrChangeOptions) -> Result<(), String> {
    let rt = runtime(2)?;
    let system = actix_web::rt::System::with_tokio_rt(move || rt);
    system.block_on(run(dir, opts))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(dir: &Path, opts: &SmsrChangeOptions) -> Result<(), String> {
    let n = opts.euiccs.max(1);
    let setup = Instant::now();
    let mut lab_opts = LabOptions::small(dir, n);
    lab_opts.es5 = Es5Config {
        por_timeout_secs: 30,
        max_retry_interval_secs: 60,
        ..Es5Config::default()
    };
    lab_opts.simulator.attach_delay_ms = opts.attach_delay_ms;
    lab_opts.second_smsr = Some(SecondSmsr {
        database_url: opts.database_url.clone(),
        ..SecondSmsr::default()
    });
    let lab = Lab::start(lab_opts).await?;
    println!(
        "smsr-change bench: {n} eUICCs of the world registered at SM-SR 1 over ES1, both SM-SRs up in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let mno1 = lab.mno(0)?;
    let mno2 = lab.mno_at_smsr2(0)?;
    let sr1 = lab.world.manifest.sm_sr.oid.clone();
    let sr2 = lab.smsr2_oid().ok_or("SM-SR 2 did not start")?.to_string();
    let eids: Vec<String> = lab.world.euiccs.iter().map(|e| e.eid.clone()).collect();

    let start = Instant::now();
    for (i, eid) in eids.iter().enumerate() {
        let out = mno2
            .es4(&es4::PrepareSmsrChangeRequest {
                base: conformance::mno::base(&format!("bench-prepare-{i}"), Some(3600)),
                eid: eid.parse().map_err(|e| format!("{e}"))?,
                current_smsr_id: sr1.parse().map_err(|e| format!("{e}"))?,
            })
            .await
            .map_err(|e| e.to_string())?;
        if out.status().map(|s| s.status) != Some(Status::ExecutedSuccess) {
            return Err(format!("PrepareSMSRChange {eid}: {}", out.envelope));
        }
    }
    println!(
        "smsr-change bench: {n} ES4.PrepareSMSRChange at SM-SR 2 in {:.2} s",
        start.elapsed().as_secs_f64()
    );

    let receiver = lab.receivers.first().ok_or("no MNO receiver")?;
    const CALLBACK: &str = "ES4-SMSRChangeResponse";
    let concurrency = opts.concurrency.max(1) as u64;
    let mut started: HashMap<String, Instant> = HashMap::with_capacity(n);
    let start = Instant::now();
    for (i, eid) in eids.iter().enumerate() {
        while started.len() as u64 >= receiver.count(CALLBACK) + concurrency {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let req = es4::SmsrChangeRequest {
            base: conformance::mno::base(&format!("bench-change-{i}"), Some(3600)),
            eid: eid.parse().map_err(|e| format!("{e}"))?,
            target_smsr_id: sr2.parse().map_err(|e| format!("{e}"))?,
        };
        let t = Instant::now();
        let out = mno1.es4(&req).await.map_err(|e| e.to_string())?;
        if out.http_status != 202 {
            return Err(format!(
                "ES4.SMSRChange {eid}: HTTP {} {}",
                out.http_status, out.envelope
            ));
        }
        started.insert(out.message_id, t);
    }
    let answered = receiver
        .wait_count(CALLBACK, n as u64, Duration::from_secs(3600))
        .await;
    if answered < n as u64 {
        return Err(format!(
            "only {answered} of {n} SM-SR changes answered within an hour"
        ));
    }
    let mut latencies = Vec::with_capacity(n);
    let mut failed = 0;
    for r in receiver.received().iter().filter(|r| r.element == CALLBACK) {
        let Some(t) = r.relates_to.as_ref().and_then(|m| started.get(m)) else {
            continue;
        };
        latencies.push(r.received_at.saturating_duration_since(*t));
        if r.status().map(|s| s.status) != Some(Status::ExecutedSuccess) {
            failed += 1;
        }
    }
    let elapsed = latencies
        .iter()
        .max()
        .copied()
        .unwrap_or_default()
        .max(start.elapsed());
    latencies.sort_unstable();
    println!(
        "smsr-change bench: {n} SM-SR changes ({failed} failed) in {:.1} s = {:.1} handovers/s, concurrency {}; \
         one change (ES4.SMSRChange to its callback) p50 {:.0} ms, p99 {:.0} ms; {} SMS submitted",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64().max(1e-9),
        opts.concurrency.max(1),
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        lab.network.smsc().counters().submitted
    );
    lab.stop().await;
    Ok(())
}
