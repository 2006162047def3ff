//! `rsp bench sms` and `rsp bench switch`: ES5 and platform-management throughput on this machine (benchmarks print figures; nothing here asserts a time).
//!
//! - `sms`: SCP80-secured submit_sm per second through the test SMSC — each message is an ES5.EnableProfile
//!   script secured as the SM-SR secures it (wire-profile §2: AES-CMAC and AES-CBC with the ISD-R key set, a
//!   fresh counter), put in its TP-UD and submitted over SMPP; with one bind and with four.
//! - `switch`: complete enable-profile operations per second end to end with N simulated eUICCs — from the
//!   first ES4.EnableProfile call to the last ES4 HandleProfileEnabledNotification at the MNO's receiver, through
//!   SMPP, the simulator, the notification and its confirmation.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use conformance::euicc::{EuiccSecrets, SimulatorConfig};
use conformance::smsc::{DeliverAll, SmscConfig, TestSmsc};
use es_interfaces::isdr::Es5Command;
use es_interfaces::messages::es4;
use es_interfaces::smpp::Password;
use es_interfaces::sms::{self, PacketKind};
use es_interfaces::wire_profile;
use smsr::es5::security::{IsdrKeys, secure_command};
use smsr::smpp::{SmppClient, SmppClientConfig, Submit};

use crate::config::Es5Config;
use crate::lab::{FleetSource, Lab, LabOptions};

/// Times an ES4 call answered 408 (Request Timeout), or failed in transport (e.g. its connection closed under
/// it), is sent again.
const RESEND_LIMIT: usize = 3;

pub(crate) fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// `rsp bench sms`: prints SCP80-secured submit_sm per second for each bind count in `binds`.
pub fn sms(binds: &[usize], messages: usize) -> Result<(), String> {
    let rt = runtime(2)?;
    rt.block_on(async {
        for &b in binds {
            let (elapsed, n) = sms_run(b, messages).await?;
            println!(
                "SCP80-secured submit_sm through the test SMSC: {b} bind(s), window 64, {n} messages in {:.3} s = {:.0} submit_sm/s",
                elapsed.as_secs_f64(),
                n as f64 / elapsed.as_secs_f64().max(1e-9)
            );
        }
        Ok(())
    })
}

async fn sms_run(binds: usize, messages: usize) -> Result<(Duration, usize), String> {
    let mut smsc_config = SmscConfig::loopback("bench", "bench");
    smsc_config.receipts = false;
    smsc_config.record = false;
    let smsc = TestSmsc::start(smsc_config, Arc::new(DeliverAll))
        .await
        .map_err(|e| e.to_string())?;
    let addr = smsc.local_addr();
    let mut config = SmppClientConfig::new(
        addr.ip().to_string(),
        addr.port(),
        "bench",
        Password::new("bench"),
    );
    config.binds = binds;
    config.window_size = 64;
    config.profile.registered_delivery = 0;
    let (handle, events) = SmppClient::start(config).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.bound_binds() < binds {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {binds} binds came up",
                handle.bound_binds()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secrets = EuiccSecrets::from_seed(1, 0).map_err(|e| e.to_string())?;
    let kvn = secrets.isd_r.kvn();
    let keys = Arc::new(IsdrKeys {
        kvn,
        keys: secrets.isd_r.scp80(),
        key_byte: wire_profile::aes_kic_kid(kvn).ok_or("KVN")?,
    });
    let script = Arc::new(
        smsr::operation::script(&[Es5Command::EnableProfile {
            isd_p_aid: wire_profile::isd_p_aid(1).ok_or("AID")?.to_vec(),
        }])
        .map_err(|e| e.to_string())?,
    );
    let counter = Arc::new(AtomicU64::new(0));
    let eid = secrets.eid.to_string();
    let sem = Arc::new(tokio::sync::Semaphore::new(binds * 64 * 4));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..messages {
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (handle, keys, script, counter, eid) = (
            handle.clone(),
            keys.clone(),
            script.clone(),
            counter.clone(),
            eid.clone(),
        );
        tasks.spawn(async move {
            let _permit = permit;
            let c = counter.fetch_add(1, Ordering::Relaxed) + 1;
            let packet = secure_command(&eid, &keys, c, &script).map_err(|e| e.to_string())?;
            let tp_uds =
                sms::to_tp_uds(PacketKind::Command, &packet, c as u8).map_err(|e| e.to_string())?;
            for tp_ud in tp_uds {
                handle
                    .submit(Submit::new(format!("49170{i:07}"), tp_ud))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        });
        while let Some(done) = tasks.try_join_next() {
            done.map_err(|e| e.to_string())??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let elapsed = start.elapsed();
    handle.shutdown().await;
    drop(events);
    let counted = smsc.counters().submitted;
    smsc.shutdown().await;
    if counted != messages as u64 {
        return Err(format!(
            "the SMSC counted {counted} submit_sm, expected {messages}"
        ));
    }
    Ok((elapsed, messages))
}

/// Options of `rsp bench switch`.
#[derive(Debug, Clone)]
pub struct SwitchOptions {
    /// Simulated eUICCs (each gets one enable).
    pub euiccs: usize,
    /// ES4 calls in flight at once.
    pub concurrency: usize,
    /// SMPP binds of the SM-SR.
    pub binds: usize,
    /// Network attach delay of the simulated eUICCs, ms.
    pub attach_delay_ms: u64,
    /// SM-SR database (default: SQLite under the bench directory).
    pub database_url: Option<String>,
    /// Every eUICC on HTTPS (SCP81: push SMS, PSK-TLS admin sessions; `rsp bench https`) instead of SMS.
    pub https: bool,
    /// SM-SR processes on the one database (more than 1 needs PostgreSQL): this one and `nodes - 1` child
    /// `rsp serve --only smsr` processes; the ES4 calls go to them in turn (issue 14 item 2).
    pub nodes: usize,
}

/// An extra SM-SR node of `rsp bench switch --nodes`: a child `rsp serve --only smsr`, killed when dropped.
struct ExtraNode(std::process::Child);

impl Drop for ExtraNode {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts SM-SR node `k` beside the lab's SM-SR: its configuration with its own listener and var dir, the same
/// database, PKI and SMPP account; the MNO callback endpoints it registers at start are the lab's receivers'.
/// Returns the node and its base URL once it printed `ready`.
fn start_extra_node(lab: &Lab, dir: &Path, k: usize) -> Result<(ExtraNode, String), String> {
    use std::io::BufRead;
    let mut c = lab.config.clone();
    let port = crate::lab::free_port()?;
    c.var_dir = dir.join(format!("node{k}"));
    c.pki_dir = lab.world.dir.clone();
    c.smsr.listen = format!("127.0.0.1:{port}");
    c.smsr.public_url = format!("https://localhost:{port}");
    c.smsr.metrics_listen = Some("127.0.0.1:0".into());
    c.esm2m.enabled = false;
    c.es5.https.enabled = false;
    let receiver = lab.receivers.first().ok_or("no MNO receiver")?;
    let (host, receiver_port) = receiver
        .url()
        .trim_start_matches("https://")
        .rsplit_once(':')
        .ok_or("receiver URL")?;
    c.mno.public_host = host.to_string();
    c.mno.first_port = receiver_port
        .parse()
        .map_err(|e| format!("receiver port: {e}"))?;
    let path = dir.join(format!("node{k}.yaml"));
    let yaml = serde_norway::to_string(&c).map_err(|e| e.to_string())?;
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(exe)
        .arg("--config")
        .arg(&path)
        .args(["serve", "--only", "smsr"])
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("node {k}: {e}"))?;
    let stdout = child.stdout.take().ok_or("node stdout")?;
    let node = ExtraNode(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line == "ready" => break,
            Some(Ok(_)) => {}
            _ => return Err(format!("SM-SR node {k} exited before it was ready")),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok((node, c.smsr.public_url))
}

/// `rsp bench switch` / `rsp bench https`: prints complete enable-profile operations per second with N simulated
/// eUICCs, over SMS or (all of them) over HTTPS.
pub fn switch(dir: &Path, opts: &SwitchOptions) -> Result<(), String> {
    let rt = runtime(2)?;
    let system = actix_web::rt::System::with_tokio_rt(move || rt);
    system.block_on(switch_run(dir, opts))
}

pub(crate) async fn switch_run(dir: &Path, opts: &SwitchOptions) -> Result<(), String> {
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
    let mut es5 = es5;
    if opts.https {
        es5.https.enabled = true;
        es5.https.listen = format!("127.0.0.1:{}", crate::lab::free_port()?);
        es5.https.card_retry_secs = 1;
        es5.https.card_retries = 10;
    }
    let what = if opts.https { "https" } else { "switch" };
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
        https_share: if opts.https { 1.0 } else { 0.0 },
        esm2m: crate::config::Esm2mConfig::default(),
    })
    .await?;
    println!(
        "{what} bench: {n} simulated eUICCs registered and servers up in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let nodes = opts.nodes.max(1);
    if nodes > 1
        && !opts
            .database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres"))
    {
        return Err(
            "--nodes above 1 needs --database-url postgres://…: the nodes share one database"
                .into(),
        );
    }
    let mut extra = Vec::with_capacity(nodes - 1);
    let mut clients = vec![Arc::new(lab.mno(0)?)];
    for k in 1..nodes {
        let (node, url) = start_extra_node(&lab, dir, k)?;
        extra.push(node);
        let reply_to = format!("{}/es4", lab.receivers[0].url());
        clients.push(Arc::new(
            conformance::mno::MnoClient::new(&lab.world, 0, &url, lab.smdp_url())
                .map_err(|e| e.to_string())?
                .with_reply_to(reply_to),
        ));
    }
    if nodes > 1 {
        println!("{what} bench: {nodes} SM-SR nodes on one database, ES4 calls to them in turn");
    }
    if lab.smsr.store.autovacuum_off() {
        println!(
            "{what} bench: PostgreSQL autovacuum is off on this server: dead row versions of the queue tables \
             pile up, so the figures fall as the run goes on"
        );
    }
    if lab.smsr.store.tls_on_loopback() {
        println!(
            "{what} bench: the database connections are TLS-encrypted (libpq's sslmode=prefer): on one machine a \
             Unix socket (postgres://user@/db?host=/var/run/postgresql) or sslmode=disable is faster"
        );
    }
    let mnos = &lab.world.manifest.mnos;
    if mnos.first().map(|m| m.entity.oid.as_str())
        != Some(conformance::issuance::DEFAULT_MNO_OIDS[0])
    {
        return Err("the world's MNO 1 does not own the seeded profiles".into());
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let resent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let secrets = EuiccSecrets::from_seed(1, i).map_err(|e| e.to_string())?;
        let p2 = conformance::issuance::profiles_for(
            i,
            &secrets.msisdn.to_string(),
            conformance::issuance::DEFAULT_MNO_OIDS,
        )
        .map_err(|e| e.to_string())?[1]
            .iccid
            .clone();
        let req = es4::EnableProfileRequest {
            base: conformance::mno::base(&format!("bench-enable-{i}"), Some(3600)),
            eid: secrets
                .eid
                .to_string()
                .parse()
                .map_err(|e| format!("{e}"))?,
            iccid: p2.parse().map_err(|e| format!("{e}"))?,
        };
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let mno = clients[i % nodes].clone();
        let resent = resent.clone();
        tasks.spawn(async move {
            let _permit = permit;
            // Sent again, as an MNO would, under the same FunctionCallIdentifier (a call that did run is
            // answered from its record): a 408 (the server closed the connection before the request arrived
            // whole: the simulated world shares these two cores with the servers) or a transport error (a
            // pooled connection closed under the request).
            let mut out = mno.es4(&req).await;
            for _ in 0..RESEND_LIMIT {
                if matches!(&out, Ok(o) if o.http_status != 408) {
                    break;
                }
                resent.fetch_add(1, Ordering::Relaxed);
                out = mno.es4(&req).await;
            }
            let out = out.map_err(|e| e.to_string())?;
            if out.http_status != 202 {
                return Err(format!(
                    "ES4.EnableProfile {i}: HTTP {} {}",
                    out.http_status, out.envelope
                ));
            }
            Ok::<_, String>(())
        });
        while let Some(done) = tasks.try_join_next() {
            done.map_err(|e| e.to_string())??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let accepted = start.elapsed();
    println!(
        "{what} bench: {n} ES4.EnableProfile accepted (202) in {:.1} s = {:.0} calls/s",
        accepted.as_secs_f64(),
        n as f64 / accepted.as_secs_f64().max(1e-9)
    );
    let resent = resent.load(Ordering::Relaxed);
    if resent > 0 {
        println!(
            "{what} bench: {resent} ES4 calls sent again (answered 408 Request Timeout, or a transport error)"
        );
    }
    let receiver = &lab.receivers[0];
    let mut last = 0;
    let mut last_print = Instant::now();
    loop {
        let done = receiver.count("ES4-HandleProfileEnabledNotification");
        if done >= n as u64 {
            break;
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            println!(
                "  … {done} notified, {} callbacks after {:.0} s",
                receiver.count("ES4-EnableProfileResponse"),
                start.elapsed().as_secs_f64()
            );
            if done == last {
                let ops = {
                    let mut c = lab.smsr.store.conn().map_err(|e| e.to_string())?;
                    eis_store::operations::counts(&mut c).map_err(|e| e.to_string())?
                };
                println!("  … operations by state: {ops:?}");
            }
            last = done;
            last_print = Instant::now();
        }
        if start.elapsed() > Duration::from_secs(3600) {
            return Err(format!(
                "only {done} of {n} switches completed within an hour"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = start.elapsed();
    let callbacks = receiver
        .wait_count(
            "ES4-EnableProfileResponse",
            n as u64,
            Duration::from_secs(60),
        )
        .await;
    println!(
        "{what} bench: {n} enable-profile operations complete end to end (ES4 call to MNO notification) in {:.1} s = {:.0} switches/s ({callbacks} callbacks, {} SMS submitted)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64().max(1e-9),
        lab.network.smsc().counters().submitted
    );
    drop(extra);
    lab.stop().await;
    Ok(())
}
