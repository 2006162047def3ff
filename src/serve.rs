//! `rsp serve`: both servers in one process, each with its own database and mutual-TLS listener (design §2),
//! stopped gracefully on Ctrl-C or SIGTERM (in-flight requests finish).

use std::sync::Arc;
use std::time::Duration;

use certs::secrets::MasterKeyring;
use certs::world::World;
use es_runtime::metrics::{Monitored, configure_metrics, configure_ready};
use es_runtime::outbox::{OutboxDispatcher, OutboxSettings};
use es_runtime::soap_endpoint::{configure, configure_receiver};

use crate::config::Config;
use crate::setup;

/// Outbox dispatch loops per server: each claims its own batch, so slow receivers do not hold the others.
const OUTBOX_DISPATCHERS: usize = 4;

/// The error of a command that needs the simulator or the test SMSC in a build without the `lab` feature
/// (`{what}` names the command).
pub const LAB_NEEDED: &str = "{what} is part of the test world (eUICC simulator, test SMSC, EUM test client): this rsp was built without the `lab` cargo feature (build with default features)";

/// Which server to start alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// The SM-SR only.
    Smsr,
    /// The SM-DP only.
    Smdp,
}

/// Background workers started with the servers: the outbox dispatchers and the SM-SR's ES5 workers.
pub struct Workers {
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    es5: Option<smsr::es5::runtime::Es5Runtime>,
}

impl Workers {
    /// Stops the workers (ES5 binds are unbound).
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        if let Some(es5) = self.es5 {
            es5.shutdown().await;
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Servers started by [`start`]: their listeners (not yet spawned) and what `rsp serve` prints.
pub struct Started {
    /// The listeners, to spawn on the actix system.
    pub servers: Vec<es_runtime::listener::RunningServer>,
    /// Endpoints and credentials, one line each.
    pub banner: Vec<String>,
    /// The SM-SR, when started.
    pub smsr: Option<Arc<smsr::service::Smsr>>,
    /// Address of the SM-SR's SCP81 admin server, when enabled.
    pub scp81_addr: Option<std::net::SocketAddr>,
    /// The SM-DP, when started.
    pub smdp: Option<Arc<smdp::service::Smdp>>,
    /// Address of the SM-SR's metrics listener (`smsr.metrics_listen`), when on.
    pub smsr_metrics: Option<std::net::SocketAddr>,
    /// Address of the SM-DP's metrics listener (`smdp.metrics_listen`), when on.
    pub smdp_metrics: Option<std::net::SocketAddr>,
    /// Their background workers.
    pub workers: Workers,
    /// Background workers of servers started beside them (`rsp serve --simulate --smsrs 2`: SM-SR 2's).
    pub more_workers: Vec<Workers>,
}

/// `rsp serve --smsrs 2` (SGP.02 §3.8 SM-SR change lab): what differs for SM-SR 2 from the defaults of
/// `lab::SecondSmsr`.
#[derive(Debug, Clone, Default)]
pub struct SecondSmsrArgs {
    /// SM-SR 2's database (default: SQLite `smsr2.db` under `var_dir`).
    pub database_url: Option<String>,
}

/// The port of a `host:port` listen address.
#[cfg(feature = "lab")]
fn port_of(listen: &str) -> Result<u16, String> {
    listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .ok_or_else(|| format!("listen address {listen} has no port"))
}

/// Opens the databases, registers the world's entities and binds the listeners. Must run inside an actix
/// system (the listeners start on it).
pub fn start(
    config: &Config,
    world: &World,
    keyring: Arc<MasterKeyring>,
    only: Option<Only>,
) -> Result<Started, String> {
    let mut servers = Vec::new();
    let mut banner = Vec::new();
    let m = &world.manifest;
    let mut smsr_out = None;
    let mut smdp_out = None;
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut es5 = None;
    let mut scp81_addr = None;
    let mut smsr_metrics = None;
    let mut smdp_metrics = None;
    let declared = crate::entity::prepare_config(config)?;
    if only != Some(Only::Smdp) {
        let me = setup::smsr_identity(world, config).map_err(|e| e.to_string())?;
        let store = setup::open_store(config, &config.smsr).map_err(|e| e.to_string())?;
        setup::seed_smsr_entities(&store, world, &config.smdp.public_url)
            .map_err(|e| e.to_string())?;
        let peers = setup::register_smsr_peers(&store, world, config).map_err(|e| e.to_string())?;
        applied(
            &mut banner,
            "SM-SR",
            crate::entity::apply(&store, crate::entity::Side::Smsr, &declared)?,
        );
        let smsr = Arc::new(
            setup::smsr(config, world, store, keyring.clone()).map_err(|e| e.to_string())?,
        );
        let max = config.smsr.max_body_bytes;
        let routes = {
            let smsr = smsr.clone();
            move |c: &mut actix_web::web::ServiceConfig| {
                configure(c, smsr.clone(), &smsr::functions::ENDPOINTS, max);
                configure_ready(c, smsr.clone());
                smsr::rest::configure(c, smsr.clone());
            }
        };
        let running = es_runtime::listener::start(
            routes,
            &setup::listener(&config.smsr, world, me.tls_server_files),
        )
        .map_err(|e| e.to_string())?;
        banner.push(format!(
            "SM-SR {} ({}, SM-SR {} of the world) listening on {:?}",
            me.entity.name, me.entity.oid, me.number, running.addrs
        ));
        for e in smsr::functions::ENDPOINTS {
            banner.push(format!(
                "  {:4} {}  (WSDL: ?wsdl)",
                e.interface.name,
                smsr.identity.service_url(e.service)
            ));
        }
        banner.push(format!(
            "  REST {}{}/  (MNO: ES4 as JSON; OpenAPI at openapi.json)",
            config.smsr.public_url.trim_end_matches('/'),
            smsr::rest::BASE_PATH
        ));
        for (name, es7) in peers {
            banner.push(format!(
                "  ES7  peer {name}: {}",
                es7.as_deref()
                    .unwrap_or("no ES7 endpoint (smsr.peers gives none)")
            ));
        }
        servers.push(running);
        if let Some(listen) = &config.smsr.metrics_listen {
            let running = metrics_listener(smsr.clone(), listen, "SM-SR", &mut banner)?;
            smsr_metrics = running.addrs.first().copied();
            servers.push(running);
        }
        let client = setup::soap_client(world, me.tls_client_files, config.outgoing.timeout())
            .map_err(|e| e.to_string())?;
        let webhooks = Arc::new(smsr::esm2m::webhooks::WebhookChannel::new(
            smsr.keyring.clone(),
            setup::webhook_client(config).map_err(|e| e.to_string())?,
        ));
        for _ in 0..OUTBOX_DISPATCHERS {
            let dispatcher = OutboxDispatcher::new(
                smsr.store.clone(),
                client.clone(),
                smsr.clock.clone(),
                OutboxSettings::default(),
                smsr.wake.outbox.clone(),
            )
            .with_channel(webhooks.clone())
            .with_response_sink(Arc::new(smsr::smsr_change::Es7Sink(smsr.clone())));
            tasks.push(tokio::spawn(dispatcher.run(shutdown_rx.clone())));
        }
        tasks.push(tokio::spawn(es_runtime::retention::run_purge(
            smsr.store.clone(),
            smsr.clock.clone(),
            Duration::from_secs(config.smsr.function_call_retention_secs),
            shutdown_rx.clone(),
        )));
        if config.es5.smpp.enabled {
            let runtime =
                smsr::es5::runtime::Es5Runtime::start(smsr.clone(), config.es5.smpp_client())
                    .map_err(|e| e.to_string())?;
            banner.push(format!(
                "  ES5  SMS via SMPP {}:{} as {} ({} bind(s)), SM-SR MSISDN {}",
                config.es5.smpp.host,
                config.es5.smpp.port,
                config.es5.smpp.system_id,
                config.es5.smpp.binds,
                config.es5.smsr_msisdn
            ));
            es5 = Some(runtime);
        } else {
            banner.push(
                "  ES5  off (no SMPP account in es5.smpp): enable/disable/delete/audit are refused"
                    .to_string(),
            );
        }
        if config.es5.https.enabled {
            let settings = config.es5.https.settings(config.smsr.workers);
            let cache = Arc::new(smsr::scp81::psk::PskCache::new());
            let running = smsr::scp81::server::start(smsr.clone(), settings.clone(), cache.clone())
                .map_err(|e| e.to_string())?;
            banner.push(format!(
                "  ES5  HTTPS admin server (SCP81: PSK-TLS 1.2, RAM over HTTP) on {:?}, admin URI {}",
                running.addrs, settings.admin_path
            ));
            banner.push(match &smsr.channels.trigger {
                Some(t) => format!(
                    "  ES5  push SMS tells HTTPS eUICCs to connect to {} (fall-back to SMS after {} push SMS)",
                    t.address, t.attempts
                ),
                None => "  ES5  no push SMS (es5.https.public_address is not an IPv4 address with a port)"
                    .to_string(),
            });
            scp81_addr = running.addrs.first().copied();
            servers.push(running);
            tasks.push(tokio::spawn(smsr::scp81::psk::run_refresh(
                cache,
                smsr.store.clone(),
                smsr.keyring.clone(),
                settings.psk_refresh,
                shutdown_rx.clone(),
            )));
        } else {
            banner.push("  ES5  HTTPS admin server off (es5.https.enabled)".to_string());
        }
        if config.esm2m.enabled {
            let routes = {
                let smsr = smsr.clone();
                move |c: &mut actix_web::web::ServiceConfig| smsr::esm2m::configure(c, smsr.clone())
            };
            let running = es_runtime::listener::start_server_tls(
                routes,
                &es_runtime::listener::ServerTlsConfig {
                    listen: config.esm2m.listen.clone(),
                    tls_cert: world.dir.join(&me.tls_server_files.cert),
                    tls_key: world.dir.join(&me.tls_server_files.key),
                    workers: config.esm2m.workers,
                },
            )
            .map_err(|e| format!("ESM2M listener: {e}"))?;
            banner.push(format!(
                "  ESM2M eUICC owner API (bearer tokens, no client certificate) on {:?}: {}",
                running.addrs,
                config.esm2m.base_url()
            ));
            servers.push(running);
            tasks.push(tokio::spawn(smsr::esm2m::fleet::run(
                smsr.clone(),
                shutdown_rx.clone(),
            )));
        } else {
            banner.push("  ESM2M eUICC owner API off (esm2m.enabled)".to_string());
        }
        smsr_out = Some(smsr);
    }
    if only != Some(Only::Smsr) {
        let store = setup::open_store(config, &config.smdp).map_err(|e| e.to_string())?;
        setup::seed_smdp_entities(&store, world, &config.smsr_urls()).map_err(|e| e.to_string())?;
        applied(
            &mut banner,
            "SM-DP",
            crate::entity::apply(&store, crate::entity::Side::Smdp, &declared)?,
        );
        let smdp = Arc::new(
            setup::smdp(config, world, store, keyring.clone()).map_err(|e| e.to_string())?,
        );
        let max = config.smdp.max_body_bytes;
        let rest = config.rest_config();
        let routes = {
            let smdp = smdp.clone();
            move |c: &mut actix_web::web::ServiceConfig| {
                configure(c, smdp.clone(), &[smdp::functions::ES2], max);
                configure_ready(c, smdp.clone());
                configure_receiver(c, smdp.clone(), &[smdp::functions::ES3], max);
                smdp::rest::configure(c, smdp.clone(), rest.clone());
            }
        };
        let running = es_runtime::listener::start(
            routes,
            &setup::listener(&config.smdp, world, &m.sm_dp_tls_server),
        )
        .map_err(|e| e.to_string())?;
        banner.push(format!(
            "SM-DP {} ({}) listening on {:?}",
            m.sm_dp.name, m.sm_dp.oid, running.addrs
        ));
        for e in [smdp::functions::ES2, smdp::functions::ES3] {
            banner.push(format!(
                "  {:4} {}  (WSDL: ?wsdl)",
                e.interface.name,
                smdp.identity.service_url(e.service)
            ));
        }
        banner.push(format!(
            "  REST {}/api/v1/  (MNO: ES2 as JSON, warehouse: profile types, orders, stock; OpenAPI at openapi.json)",
            config.smdp.public_url.trim_end_matches('/')
        ));
        servers.push(running);
        if let Some(listen) = &config.smdp.metrics_listen {
            let running = metrics_listener(smdp.clone(), listen, "SM-DP", &mut banner)?;
            smdp_metrics = running.addrs.first().copied();
            servers.push(running);
        }
        let client = setup::soap_client(world, &m.sm_dp_tls_client, config.outgoing.timeout())
            .map_err(|e| e.to_string())?;
        for _ in 0..OUTBOX_DISPATCHERS {
            let dispatcher = OutboxDispatcher::new(
                smdp.store.clone(),
                client.clone(),
                smdp.clock.clone(),
                OutboxSettings::default(),
                smdp.wake_outbox.clone(),
            )
            .with_response_sink(Arc::new(smdp::relay::RelaySink(smdp.clone())));
            tasks.push(tokio::spawn(dispatcher.run(shutdown_rx.clone())));
        }
        tasks.push(tokio::spawn(es_runtime::retention::run_purge(
            smdp.store.clone(),
            smdp.clock.clone(),
            Duration::from_secs(config.smdp.function_call_retention_secs),
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(smdp::download::driver::run(
            smdp.clone(),
            shutdown_rx.clone(),
        )));
        smdp_out = Some(smdp);
    }
    banner.push(format!("test PKI: {}", world.dir.display()));
    banner.push(format!(
        "  TLS CA (trust it):   {}",
        world.dir.join(&m.tls_ca.cert).display()
    ));
    banner.push(format!(
        "  EUM client (ES1):    {} + {}",
        world.dir.join(&m.eum_tls_client.cert).display(),
        world.dir.join(&m.eum_tls_client.key).display()
    ));
    for mno in &m.mnos {
        banner.push(format!(
            "  {} client (ES2/ES4): {} + {}",
            mno.entity.name,
            world.dir.join(&mno.tls_client.cert).display(),
            world.dir.join(&mno.tls_client.key).display()
        ));
        if let Some(server) = &mno.tls_server {
            banner.push(format!(
                "  {} callback server:  {} + {}",
                mno.entity.name,
                world.dir.join(&server.cert).display(),
                world.dir.join(&server.key).display()
            ));
        }
    }
    banner.push(format!(
        "  SM-DP client (ES3):  {} + {}",
        world.dir.join(&m.sm_dp_tls_client.cert).display(),
        world.dir.join(&m.sm_dp_tls_client.key).display()
    ));
    banner.push(format!(
        "  EIS documents:       {}",
        world.dir.join("eis").display()
    ));
    Ok(Started {
        servers,
        banner,
        smsr: smsr_out,
        scp81_addr,
        smdp: smdp_out,
        smsr_metrics,
        smdp_metrics,
        workers: Workers {
            shutdown,
            tasks,
            es5,
        },
        more_workers: Vec::new(),
    })
}

/// Binds `server`'s plain-HTTP metrics listener on `listen` (`/metrics`, `/health`, `/health/ready`) and says
/// where in the banner.
fn metrics_listener<M: Monitored>(
    server: Arc<M>,
    listen: &str,
    name: &str,
    banner: &mut Vec<String>,
) -> Result<es_runtime::listener::RunningServer, String> {
    let routes = move |c: &mut actix_web::web::ServiceConfig| configure_metrics(c, server.clone());
    let running = es_runtime::listener::start_plain(routes, listen)
        .map_err(|e| format!("{name} metrics listener: {e}"))?;
    for addr in &running.addrs {
        banner.push(format!(
            "  metrics http://{addr}/metrics (Prometheus text format; readiness at /health/ready)"
        ));
    }
    Ok(running)
}

/// Adds to the banner what applying the configuration's `entities:` did in one server's store.
fn applied(banner: &mut Vec<String>, server: &str, done: Vec<(String, crate::entity::Applied)>) {
    for (oid, what) in done {
        let what = format!("{what:?}").to_lowercase();
        banner.push(format!(
            "  entity {oid} (configuration): {what} in the {server}'s store"
        ));
    }
}

/// `rsp serve`: starts the servers, prints the endpoints and credentials, and runs until Ctrl-C or SIGTERM.
/// With `simulate`, the test SMSC and the eUICC simulator fleet for the world's eUICCs start too, the SM-SR's
/// ES5 goes to them and the world's EISs are registered over ES1: a lab in one command.
///
/// `second_smsr` (with `simulate`) starts the world's SM-SR 2 too (SGP.02 §3.8 SM-SR change): its own database
/// (default `smsr2.db`), listeners on the ports of `smsr.listen` and `esm2m.listen` plus 10, MSISDN and SMPP
/// account at the test SMSC, and the two SM-SRs registered at each other as ES7 peers.
pub fn run(
    config: Config,
    only: Option<Only>,
    simulate: bool,
    second_smsr: Option<SecondSmsrArgs>,
) -> Result<(), String> {
    #[cfg(feature = "lab")]
    let mut config = config;
    #[cfg(not(feature = "lab"))]
    if simulate {
        return Err(LAB_NEEDED.replace("{what}", "`rsp serve --simulate`"));
    }
    if second_smsr.is_some() && (!simulate || only == Some(Only::Smdp)) {
        return Err("--smsrs 2 starts SM-SR 2 beside SM-SR 1 in a simulated lab (--simulate, not --only smdp); \
                    to run two SM-SRs as separate processes, start `rsp serve --only smsr` twice with their own \
                    configuration (smsr.identity, smsr.peers, listeners, database, es5.smsr_msisdn)"
            .into());
    }
    std::fs::create_dir_all(&config.var_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.var_dir.display()))?;
    let world = setup::load_or_init_world(&config).map_err(|e| e.to_string())?;
    let keyring = Arc::new(setup::master_keyring(&world).map_err(|e| e.to_string())?);
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        #[cfg(feature = "lab")]
        let smdp_store = Arc::new(std::sync::OnceLock::new());
        #[cfg(feature = "lab")]
        let second = second_smsr.map(|a| crate::lab::SecondSmsr {
            database_url: a.database_url,
            ..crate::lab::SecondSmsr::default()
        });
        #[cfg(feature = "lab")]
        let network = if simulate && only != Some(Only::Smdp) {
            let mut subscribers = conformance::euicc::SubscriberDirectory::default();
            crate::lab::set_stock_lookup(&mut subscribers, smdp_store.clone());
            let fleet = conformance::euicc::Fleet::from_world(
                &world,
                conformance::euicc::SimulatorConfig {
                    smsr_address: config.es5.smsr_msisdn.clone(),
                    subscribers,
                    ..conformance::euicc::SimulatorConfig::default()
                },
            )
            .map_err(|e| e.to_string())?;
            let mut smsc = conformance::smsc::SmscConfig::loopback(
                &config.es5.smpp.system_id,
                &config.es5.smpp.password,
            );
            if let Some(second) = &second {
                smsc.accounts[0].addresses = vec![config.es5.smsr_msisdn.clone()];
                smsc.accounts.push(second.smsc_account());
            }
            let net = conformance::lab::SimulatedNetwork::start(fleet, smsc, None)
                .await
                .map_err(|e| e.to_string())?;
            config.es5.smpp.enabled = true;
            config.es5.smpp.host = "127.0.0.1".into();
            config.es5.smpp.port = net.smsc().local_addr().port();
            Some(net)
        } else {
            None
        };
        #[cfg(feature = "lab")]
        let config2 = match &second {
            Some(second) => {
                let listen = port_of(&config.smsr.listen)?.saturating_add(10);
                let esm2m = port_of(&config.esm2m.listen)?.saturating_add(10);
                Some(second.configure(&mut config, listen, esm2m)?)
            }
            None => None,
        };
        let mut started = start(&config, &world, keyring.clone(), only)?;
        #[cfg(feature = "lab")]
        if let Some(c) = &config2 {
            let s2 = start(c, &world, keyring, Some(Only::Smsr))?;
            started.banner.extend(s2.banner.into_iter().take_while(|l| !l.starts_with("test PKI:")));
            if let Some(smsr2) = &s2.smsr {
                for (name, url) in setup::register_mno_endpoints(&smsr2.store, &world, &config.mno, "ES4")
                    .map_err(|e| e.to_string())?
                {
                    started.banner.push(format!(
                        "  {name} ES4 endpoint at SM-SR 2 (`rsp mno` listens there): {url}"
                    ));
                }
            }
            started.servers.extend(s2.servers);
            started.more_workers.push(s2.workers);
        }
        #[cfg(feature = "lab")]
        if let Some(smdp) = &started.smdp {
            // The simulated network reads the MSISDNs of downloaded profiles from the SM-DP's stock.
            let _ = smdp_store.set(smdp.store.clone());
        }
        let mut endpoints = Vec::new();
        if let Some(smsr) = &started.smsr {
            endpoints.push(("ES4", setup::register_mno_endpoints(&smsr.store, &world, &config.mno, "ES4")));
        }
        if let Some(smdp) = &started.smdp {
            endpoints.push(("ES2", setup::register_mno_endpoints(&smdp.store, &world, &config.mno, "ES2")));
        }
        for (interface, registered) in endpoints {
            for (name, url) in registered.map_err(|e| e.to_string())? {
                started.banner.push(format!(
                    "  {name} {interface} endpoint (`rsp mno` listens there): {url}"
                ));
            }
        }
        let handles: Vec<_> = started.servers.iter().map(|s| s.handle.clone()).collect();
        let mut joins = Vec::new();
        for s in std::mem::take(&mut started.servers) {
            joins.push(actix_web::rt::spawn(s.server));
        }
        #[cfg(feature = "lab")]
        if let Some(net) = &network {
            let n = crate::lab::register_world_eis(&world, &config.smsr.public_url, &[], 0.0, true).await?;
            started.banner.push(format!(
                "simulated network: {} eUICC(s) behind the test SMSC on {} ({n} EIS registered now over ES1)",
                world.euiccs.len(),
                net.smsc().local_addr()
            ));
        }
        println!("{}", started.banner.join("\n"));
        println!("ready");
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        for h in &handles {
            h.stop(true).await;
        }
        for j in joins {
            let _ = j.await;
        }
        started.workers.shutdown().await;
        for w in started.more_workers {
            w.shutdown().await;
        }
        #[cfg(feature = "lab")]
        if let Some(net) = network {
            net.stop().await;
        }
        tracing::info!("stopped");
        Ok(())
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
