//! `rsp bench download` (issue 9 item 6): complete profile downloads (SGP.02 §3.1) per second end to end with N
//! simulated eUICCs, everything in this process: both servers of `rsp serve` on a fresh world and databases, the
//! test SMSC in front of the eUICC simulator fleet, and the MNO's client and callback receiver.
//!
//! The bench stocks an order of N records of a profile type (the sample template, smdp::saip::sample) in the
//! SM-DP's warehouse, provisions their IMSI → MSISDN in the simulated network's subscriber directory, sends one
//! ES2.DownloadProfile (ProfileType, EnableProfile true) per eUICC with at most `concurrency` calls in flight,
//! and waits for every result. It prints what it measured and asserts nothing:
//! - complete downloads per second: results EXECUTED_SUCCESS or EXECUTED_WITHWARNING divided by the time from
//!   the first call to the last of those results;
//! - latency p50/p95/p99: from sending the call to the arrival of its result (callback with RelatesTo = the
//!   call's MessageID; a synchronous refusal counts at its answer);
//! - CPU seconds per download: user + system CPU time of this whole process (getrusage RUSAGE_SELF: servers,
//!   simulator, SMSC and MNO together) over the download phase, divided by the complete downloads;
//! - SMS per download: submit_sm (mobile-terminated) and mobile-originated SMS counted by the test SMSC;
//! - the crypto floor of one download measured in the same run ([`crate::download_floor`]) and the ratio
//!   (defined where it is printed).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::euicc::{Control, SimulatorConfig};
use conformance::mno::{MnoClient, Received};
use es_interfaces::messages::es2;
use es_interfaces::status::{FunctionExecutionStatus, Status};
use smdp::batch::BatchFormat;
use smdp::saip::sample;
use smdp::warehouse::import::{self, OrderSource};
use smdp::warehouse::profile_types::{self, ProfileTypeSpec};

use crate::bench::ThrowAwayPg;
use crate::config::Es5Config;
use crate::download_floor::{self, CryptoFloor};
use crate::lab::{FleetSource, Lab, LabOptions};

/// The profile type the bench stocks.
pub const PROFILE_TYPE: &str = "bench-usim";
/// Memory a profile of the bench's type needs on the eUICC (ES3.CreateISDP `RequiredMemory`).
pub const REQUIRED_MEMORY: i64 = 32_768;
/// The series of the bench order's ICCIDs and IMSIs (apart from the world's issued profiles).
const SERIES: u8 = 90;
/// The ES2 result element.
const RESULT: &str = "ES2-DownloadProfileResponse";

/// Options of `rsp bench download`.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Simulated eUICCs, one download each.
    pub euiccs: usize,
    /// ES2 calls in flight at once.
    pub concurrency: usize,
    /// SMPP binds of the SM-SR.
    pub binds: usize,
    /// Network attach delay of the simulated eUICCs, ms.
    pub attach_delay_ms: u64,
    /// ValidityPeriod of each ES2.DownloadProfile, seconds (the bench waits this long plus a minute at most).
    pub validity_secs: u64,
    /// A PostgreSQL server (`postgres://…/any-db`): both servers get a throw-away database on it, dropped
    /// afterwards. Default: SQLite files in the bench directory.
    pub database_url: Option<String>,
    /// Downloads computed for the crypto floor's average.
    pub floor_iterations: usize,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    /// Calls sent.
    pub calls: usize,
    /// Results EXECUTED_SUCCESS.
    pub succeeded: usize,
    /// Results EXECUTED_WITHWARNING (downloaded, enable failed).
    pub with_warning: usize,
    /// Failed results by `status subject/reason`.
    pub failed: Vec<(String, usize)>,
    /// Calls without a result in time, or whose call failed in transport.
    pub unanswered: usize,
    /// Results received more than once for the same call.
    pub duplicates: usize,
    /// Complete downloads per second.
    pub per_second: f64,
    /// Latency percentiles p50, p95, p99 of complete downloads (of every result when none completed).
    pub latency: [Duration; 3],
    /// CPU seconds of the process per complete download (per call when none completed).
    pub cpu_per_download: f64,
    /// MT and MO SMS per complete download (per call when none completed).
    pub sms_per_download: (f64, f64),
    /// The crypto floor.
    pub floor: CryptoFloor,
}

/// User + system CPU time of this process so far (getrusage RUSAGE_SELF).
pub fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `struct rusage` into the pointer it is given; the buffer is a zeroed rusage of
    // the right size, and it is read only when the call reports success.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: initialised by the successful call above (and zeroed before it).
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// One row of the bench order: ICCID, IMSI and MSISDN (the subscriber directory's entry) with its CSV line.
pub struct OrderRow {
    /// ICCID (19 digits with the Luhn digit).
    pub iccid: String,
    /// IMSI.
    pub imsi: String,
    /// MSISDN.
    pub msisdn: String,
    line: String,
}

/// Row `i` of the bench order (synthetic test data, the layout of `rsp order generate`).
pub fn order_row(i: u64) -> OrderRow {
    let body = format!("8988{SERIES:02}{i:013}");
    let check = smdp::saip::coding::luhn_check_digit(&body).unwrap_or(0);
    let n = u128::from(i) | (u128::from(SERIES) << 64);
    let imsi = format!("00101{SERIES:02}{:08}", i % 100_000_000);
    let msisdn = format!("4477{SERIES:02}{:08}", i % 100_000_000);
    let line = format!(
        "{body}{check},{imsi},{:032X},{:032X},1234,12345678,5678,87654321,{:08},{msisdn},{:032X},{:032X},{:032X}",
        n | (0x4B << 120),
        n | (0x4F << 120),
        i % 100_000_000,
        n | (0xC1 << 120),
        n | (0xD1 << 120),
        n | (0xE1 << 120),
    );
    OrderRow {
        iccid: format!("{body}{check}"),
        imsi,
        msisdn,
        line,
    }
}

/// An order file held in memory.
struct MemOrder(Vec<u8>);

impl OrderSource for MemOrder {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(&self.0[..]))
    }
    fn name(&self) -> String {
        "bench-download.csv".into()
    }
    fn size(&self) -> Option<u64> {
        Some(self.0.len() as u64)
    }
}

/// Adds the bench's profile type for `mno_oid` and imports an order of `n` records into the SM-DP's warehouse;
/// returns the (IMSI, MSISDN) of each record for the subscriber directory.
pub fn stock(
    store: &eis_store::Store,
    keyring: &certs::secrets::MasterKeyring,
    mno_oid: &str,
    n: usize,
) -> Result<Vec<(String, String)>, String> {
    {
        let mut c = store.conn().map_err(|e| e.to_string())?;
        profile_types::add(
            &mut c,
            &ProfileTypeSpec {
                mno_oid: mno_oid.to_string(),
                name: PROFILE_TYPE.into(),
                template: sample::usim_template_der(),
                required_memory: REQUIRED_MEMORY,
                target_platform: "rsp-simulated-euicc".into(),
                low_stock_threshold: 0,
                pol2: None,
            },
            eis_store::now_millis(),
        )
        .map_err(|e| format!("profile type: {e}"))?;
    }
    let mut csv = String::from("ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1,MSISDN,KIC1,KID1,KIK1\n");
    let mut subscribers = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let row = order_row(i);
        csv.push_str(&row.line);
        csv.push('\n');
        subscribers.push((row.imsi, row.msisdn));
    }
    import::import_order(
        store,
        keyring,
        mno_oid,
        PROFILE_TYPE,
        &MemOrder(csv.into_bytes()),
        BatchFormat::Csv,
        &mut |_| {},
    )
    .map_err(|e| format!("order import: {e}"))?;
    Ok(subscribers)
}

/// Provisions IMSI → MSISDN in the simulated network's subscriber directory (the MNO's HLR after an order), so
/// that a downloaded profile gets its MSISDN and is reachable by SMS once enabled.
pub async fn provision_subscribers(
    network: &conformance::lab::SimulatedNetwork,
    subscribers: &[(String, String)],
) -> Result<(), String> {
    for (imsi, msisdn) in subscribers {
        network
            .control(Control::ProvisionSubscriber {
                imsi: imsi.clone(),
                msisdn: msisdn.clone(),
            })
            .await
            .map_err(|e| format!("subscriber directory: {e}"))?;
    }
    Ok(())
}

/// The ES2.DownloadProfile of call `i` for `eid`.
pub fn download_request(
    fci: &str,
    eid: &str,
    smsr_oid: &str,
    validity_secs: u64,
) -> Result<es2::DownloadProfileRequest, String> {
    Ok(es2::DownloadProfileRequest {
        base: conformance::mno::base(fci, Some(validity_secs)),
        eid: eid.parse().map_err(|e| format!("EID {eid}: {e}"))?,
        smsr_id: smsr_oid
            .parse()
            .map_err(|e| format!("SM-SR OID {smsr_oid}: {e}"))?,
        profile_type: Some(PROFILE_TYPE.into()),
        iccid: None,
        enable_profile: true,
    })
}

/// How one call ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Answered synchronously with a final status (a refusal, or a repeated call answered from the record).
    Answered(FunctionExecutionStatus, Instant),
    /// Accepted (202): the result comes as a callback with RelatesTo = `message_id`.
    Accepted {
        /// The call's MessageID.
        message_id: String,
    },
    /// The call failed in transport.
    Lost(String),
}

/// Sends one ES2.DownloadProfile and classifies the answer.
pub async fn send(mno: &MnoClient, request: &es2::DownloadProfileRequest) -> Outcome {
    match mno.es2(request).await {
        Ok(out) if out.http_status == 202 => Outcome::Accepted {
            message_id: out.message_id,
        },
        Ok(out) => match out.status() {
            Some(s) => Outcome::Answered(s, Instant::now()),
            None => Outcome::Lost(format!("HTTP {} without a status", out.http_status)),
        },
        Err(e) => Outcome::Lost(e.to_string()),
    }
}

/// `STATUS subject/reason` of a status, for grouping.
pub fn status_key(s: &FunctionExecutionStatus) -> String {
    match &s.status_code_data {
        Some(d) => format!(
            "{} {}/{}",
            s.status.as_str(),
            d.subject.code(),
            d.reason.code()
        ),
        None => s.status.as_str().to_string(),
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// `rsp bench download`: runs the bench in `dir` and prints its figures.
pub fn download(dir: &Path, opts: &DownloadOptions) -> Result<DownloadReport, String> {
    let rt = runtime(2)?;
    let system = actix_web::rt::System::with_tokio_rt(move || rt);
    system.block_on(download_run(dir, opts))
}

async fn download_run(dir: &Path, opts: &DownloadOptions) -> Result<DownloadReport, String> {
    let n = opts.euiccs.max(1);
    let setup = Instant::now();
    let pg = match &opts.database_url {
        Some(server) => Some((ThrowAwayPg::create(server)?, ThrowAwayPg::create(server)?)),
        None => None,
    };
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
        world_euiccs: n,
        fleet: FleetSource::World,
        smsr_database_url: pg.as_ref().map(|(s, _)| s.url()),
        smdp_database_url: pg.as_ref().map(|(_, d)| d.url()),
        simulator: SimulatorConfig {
            attach_delay_ms: opts.attach_delay_ms,
            notification_retry_interval_ms: 60_000,
            ..SimulatorConfig::default()
        },
        es5,
        receivers: Some(true),
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
    let result = run_on(&lab, opts, n, setup).await;
    lab.stop().await;
    drop(pg);
    result
}

async fn run_on(
    lab: &Lab,
    opts: &DownloadOptions,
    n: usize,
    setup: Instant,
) -> Result<DownloadReport, String> {
    let keyring = crate::setup::master_keyring(&lab.world).map_err(|e| e.to_string())?;
    let mno_oid = lab
        .world
        .manifest
        .mnos
        .first()
        .ok_or("the world has no MNO")?
        .entity
        .oid
        .clone();
    let smsr_oid = lab.world.manifest.sm_sr.oid.clone();
    let subscribers = stock(&lab.smdp.store, &keyring, &mno_oid, n)?;
    provision_subscribers(&lab.network, &subscribers).await?;
    // The crypto floor first, while nothing else runs (a profiler attached after the next line sees only the
    // downloads).
    let floor = download_floor::measure(&lab.world, opts.floor_iterations)?;
    let backend = if opts.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "download bench: {n} simulated eUICCs registered over ES1, {n} profiles of type {PROFILE_TYPE} stocked, servers on {backend}, up in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let mno = Arc::new(lab.mno(0)?);
    let receiver = lab.receivers.first().ok_or("no MNO receiver")?;
    let mut requests = Vec::with_capacity(n);
    for (i, e) in lab.world.euiccs.iter().enumerate().take(n) {
        requests.push(download_request(
            &format!("bench-download-{i}"),
            &e.eid,
            &smsr_oid,
            opts.validity_secs,
        )?);
    }

    let sms_before = lab.network.smsc().counters();
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, req) in requests.into_iter().enumerate() {
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let mno = mno.clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let outcome = send(&mno, &req).await;
            drop(permit);
            (i, sent, outcome)
        });
    }
    let mut calls: Vec<Option<(Instant, Outcome)>> = vec![None; n];
    while let Some(done) = tasks.join_next().await {
        let (i, sent, outcome) = done.map_err(|e| e.to_string())?;
        calls[i] = Some((sent, outcome));
    }
    let accepted = calls
        .iter()
        .filter(|c| matches!(c, Some((_, Outcome::Accepted { .. }))))
        .count() as u64;
    println!(
        "download bench: {n} ES2.DownloadProfile sent in {:.1} s ({accepted} accepted with 202)",
        start.elapsed().as_secs_f64()
    );
    // Wait for every accepted call's result.
    let deadline = Duration::from_secs(opts.validity_secs + 60);
    let mut last_print = Instant::now();
    loop {
        let got = receiver
            .wait_count(RESULT, accepted, Duration::from_secs(10))
            .await;
        if got >= accepted {
            break;
        }
        if start.elapsed() > deadline {
            eprintln!(
                "download bench: only {got} of {accepted} results within the validity period"
            );
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(10) {
            println!(
                "  … {got} of {accepted} results after {:.0} s",
                start.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
    }
    let cpu = process_cpu_time().saturating_sub(cpu_before);
    let sms_after = lab.network.smsc().counters();
    let all_results: Vec<Received> = receiver
        .received()
        .into_iter()
        .filter(|r| r.element == RESULT)
        .collect();
    let received_results = all_results.len();
    // The first result per call; a second one would be a duplicate (the MNO told twice).
    let mut results: HashMap<String, Received> = HashMap::new();
    for r in all_results {
        if let Some(id) = r.relates_to.clone() {
            results.entry(id).or_insert(r);
        }
    }
    let duplicates = received_results - results.len();

    let (mut succeeded, mut with_warning, mut unanswered) = (0usize, 0usize, 0usize);
    let mut failed: HashMap<String, usize> = HashMap::new();
    let mut complete_latency = Vec::new();
    let mut all_latency = Vec::new();
    let mut last_complete = start;
    for call in &calls {
        let Some((sent, outcome)) = call else {
            unanswered += 1;
            continue;
        };
        let (status, at) = match outcome {
            Outcome::Answered(s, at) => (s.clone(), *at),
            Outcome::Accepted { message_id } => match results.get(message_id) {
                Some(r) => match r.status() {
                    Some(s) => (s, r.received_at),
                    None => {
                        unanswered += 1;
                        continue;
                    }
                },
                None => {
                    unanswered += 1;
                    continue;
                }
            },
            Outcome::Lost(_) => {
                unanswered += 1;
                continue;
            }
        };
        let latency = at.saturating_duration_since(*sent);
        all_latency.push(latency);
        match status.status {
            Status::ExecutedSuccess | Status::ExecutedWithWarning => {
                if status.status == Status::ExecutedSuccess {
                    succeeded += 1;
                } else {
                    with_warning += 1;
                }
                complete_latency.push(latency);
                last_complete = last_complete.max(at);
            }
            _ => *failed.entry(status_key(&status)).or_default() += 1,
        }
    }
    let complete = succeeded + with_warning;
    let mut latency = if complete > 0 {
        complete_latency
    } else {
        all_latency
    };
    latency.sort();
    let per = |x: f64| x / (complete.max(1) as f64);
    let per_call = |x: f64| {
        if complete > 0 { per(x) } else { x / n as f64 }
    };
    let elapsed = last_complete.saturating_duration_since(start);
    let mut failed: Vec<(String, usize)> = failed.into_iter().collect();
    failed.sort();
    let report = DownloadReport {
        calls: n,
        succeeded,
        with_warning,
        failed,
        unanswered,
        duplicates,
        per_second: complete as f64 / elapsed.as_secs_f64().max(1e-9),
        latency: [
            percentile(&latency, 0.50),
            percentile(&latency, 0.95),
            percentile(&latency, 0.99),
        ],
        cpu_per_download: per_call(cpu.as_secs_f64()),
        sms_per_download: (
            per_call((sms_after.submitted - sms_before.submitted) as f64),
            per_call((sms_after.mo_sent - sms_before.mo_sent) as f64),
        ),
        floor,
    };
    print_report(&report, backend, opts, cpu);
    Ok(report)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn print_report(r: &DownloadReport, backend: &str, opts: &DownloadOptions, cpu: Duration) {
    let complete = r.succeeded + r.with_warning;
    println!(
        "rsp bench download — {} eUICCs, {} calls in flight at most, SM-SR and SM-DP on {backend}, {} SMPP bind(s), attach delay {} ms",
        r.calls, opts.concurrency, opts.binds, opts.attach_delay_ms
    );
    println!(
        "  results: {} EXECUTED_SUCCESS, {} EXECUTED_WITHWARNING, {} failed, {} without a result, {} duplicate results",
        r.succeeded,
        r.with_warning,
        r.failed.iter().map(|(_, c)| c).sum::<usize>(),
        r.unanswered,
        r.duplicates
    );
    for (key, count) in &r.failed {
        println!("    {count:>6} × {key}");
    }
    let basis = if complete > 0 {
        "per complete download"
    } else {
        "per call (no download completed)"
    };
    println!("  complete downloads per second: {:.2}", r.per_second);
    println!(
        "  latency (call to result): p50 {:.0} ms  p95 {:.0} ms  p99 {:.0} ms",
        ms(r.latency[0]),
        ms(r.latency[1]),
        ms(r.latency[2])
    );
    println!(
        "  CPU seconds {basis}: {:.4} s (process total {:.2} s, getrusage)",
        r.cpu_per_download,
        cpu.as_secs_f64()
    );
    println!(
        "  SMS {basis}: {:.1} MT (submit_sm) + {:.1} MO",
        r.sms_per_download.0, r.sms_per_download.1
    );
    let f = &r.floor;
    println!(
        "  crypto floor of one download (one core, back to back, thread CPU time, mean of {}): {:.3} ms = {:.1} downloads/s",
        f.iterations,
        ms(f.per_download),
        f.downloads_per_second()
    );
    println!(
        "    package {} bytes, {} SCP03t segments, {} ES3.SendData scripts (≤ {} bytes), {} SCP80 command packets + PoRs, 1 notification",
        f.package_bytes,
        f.segments,
        f.send_data_scripts,
        download_floor::SCRIPT_BUDGET,
        f.command_packets
    );
    for (label, d) in &f.parts {
        println!("    {label:<58} {:>8.3} ms", ms(*d));
    }
    let ratio = r.per_second / f.downloads_per_second();
    let cpu_share = f.per_download.as_secs_f64() / r.cpu_per_download.max(1e-12);
    println!(
        "  ratio = complete downloads per second / crypto-floor downloads per second on one core = {:.2} / {:.1} = {ratio:.3} (issue 9 target ≥ 0.5)",
        r.per_second,
        f.downloads_per_second()
    );
    println!(
        "  crypto share of CPU = crypto floor time / CPU seconds {basis} = {:.4} / {:.4} = {cpu_share:.3}",
        f.per_download.as_secs_f64(),
        r.cpu_per_download
    );
}
