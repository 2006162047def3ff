//! A whole test world in one process (SGP.02 roles on loopback): the SM-SR and SM-DP of `rsp serve`, the test
//! SMSC in front of the eUICC simulator fleet (ES5 over SMPP), the EISs registered (over ES1, or directly in the
//! store for large seeded fleets), and optionally one callback receiver per MNO registered as its "ES4" / "ES2"
//! endpoint; optionally a second SM-SR (the world's SM-SR 2, SGP.02 §3.8 SM-SR change) with its own database and
//! MSISDN behind the same test SMSC, the two registered at each other as ES7 peers. `rsp serve --simulate`,
//! `rsp bench switch` and the end-to-end tests drive it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use actix_web::dev::ServerHandle;
use certs::secrets::MasterKeyring;
use certs::world::{CertSrFault, World};
use conformance::euicc::{DriverEvent, EuiccSecrets, Fleet, SimulatorConfig, SubscriberDirectory};
use conformance::eum::EcasdFault;
use conformance::lab::SimulatedNetwork;
use conformance::mno::{MnoClient, MnoReceiver};
use conformance::smsc::SmscConfig;
use eis_store::Sealed;
use eis_store::eis::{self as store, NewEis};
use eis_store::entities;
use es_interfaces::messages::codec::RPS_NS;
use es_interfaces::messages::eis::Eis;
use es_interfaces::wire_profile;
use tokio::sync::mpsc;

use crate::config::{Config, Es5Config, Esm2mConfig, SmsrPeer};
use crate::serve::{self, Workers};
use crate::setup;

/// Where the simulated eUICCs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetSource {
    /// The eUICCs of the world (certs::world), registered over ES1 with their signed EIS documents.
    World,
    /// `count` eUICCs derived from `seed` (conformance::euicc::EuiccSecrets::from_seed), registered directly in the
    /// SM-SR's store (their EIS carries no EUM-signed part: ES3/ES4 GetEIS and AuditEIS are not available for
    /// them).
    Seeded {
        /// Seed.
        seed: u64,
        /// Number of eUICCs.
        count: usize,
    },
}

/// How to build a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Directory for the PKI and the SQLite databases (created).
    pub var_dir: PathBuf,
    /// eUICCs of the generated world (at least 1).
    pub world_euiccs: usize,
    /// The simulated fleet.
    pub fleet: FleetSource,
    /// SM-SR database (default: SQLite under `var_dir`).
    pub smsr_database_url: Option<String>,
    /// SM-DP database (default: SQLite under `var_dir`).
    pub smdp_database_url: Option<String>,
    /// Simulator settings (the SM-SR MSISDN is taken from `es5`).
    pub simulator: SimulatorConfig,
    /// ES5 settings; the SMPP host and port are set to the test SMSC.
    pub es5: Es5Config,
    /// Start one callback receiver per MNO; `Some(true)` keeps every message, `Some(false)` only counts.
    pub receivers: Option<bool>,
    /// Database connection pool size of each server.
    pub pool_size: u32,
    /// HTTP worker threads of each server.
    pub workers: usize,
    /// Profiles `(eUICC index, slot)` registered as downloaded by the world's SM-DP (`Smdp-id`), so that it
    /// manages them over ES3.
    pub smdp_profiles: Vec<(usize, usize)>,
    /// eUICCs of the world whose CERT.ECASD.ECKA the SM-DP must refuse (`conformance::eum::EcasdFault`): their
    /// EIS, with the certificate re-issued accordingly, is written directly into the SM-SR's store, as an EIS
    /// registered while the certificate was valid or by an EUM that SM-SR knows (its ES1 would refuse it now).
    pub ecasd_faults: Vec<(usize, EcasdFault)>,
    /// Share of the eUICCs (the first ones, of the world or of the seeded fleet) registered as HTTPS-capable
    /// (EIS `HttpSupport`).
    pub https_share: f64,
    /// The ESM2M settings (listener address and URL are the lab's; webhook targets are trusted when their
    /// certificate is issued by the world's TLS CA unless `webhook_ca_file` says otherwise).
    pub esm2m: Esm2mConfig,
    /// Also start the world's SM-SR 2 (SGP.02 §3.8), with an empty EIS repository.
    pub second_smsr: Option<SecondSmsr>,
    /// Bind the SM-SR's SMPP account to this SMSC instead of the lab's test SMSC (the conformance suite playing
    /// the SMSC, `rsp conformance run --smsc-listen`); the lab's network then runs unused by it.
    pub external_smsc: Option<std::net::SocketAddr>,
}

/// SM-SR 2 of a lab (SGP.02 §3.8 SM-SR change): the world's second SM-SR identity in the same process, bound to
/// the same test SMSC with an account of its own; the test SMSC hands it the MO SMS sent to its MSISDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondSmsr {
    /// Its database (default: SQLite `smsr2.db` under `var_dir`).
    pub database_url: Option<String>,
    /// Its MSISDN (ES5 source address, UpdateSMSRAddressingParameters); must differ from SM-SR 1's.
    pub msisdn: String,
    /// Its SMPP system_id (and password) at the test SMSC; must differ from SM-SR 1's.
    pub system_id: String,
    /// Give it, instead of the world's, a CERT.SR.ECDSA over its key that the current SM-SR and the ISD-R must
    /// refuse (SGP.02 §2.3.2, §3.8): see [`SecondSmsr::use_faulty_cert_sr`].
    pub cert_sr_fault: Option<CertSrFault>,
}

impl Default for SecondSmsr {
    fn default() -> Self {
        SecondSmsr {
            database_url: None,
            msisdn: "4915550002".into(),
            system_id: "smsr2".into(),
            cert_sr_fault: None,
        }
    }
}

impl SecondSmsr {
    /// The configuration of SM-SR 2 beside the SM-SR of `first` (SGP.02 §3.8): `smsr.identity` 2, its own database,
    /// listeners (`listen_port`, `esm2m_port`; metrics on a port picked when bound), MSISDN and SMPP account, ES5
    /// by SMS only (no SCP81 admin server), and SM-SR 1 as its ES7 peer; `first` gets SM-SR 2 as its peer.
    pub fn configure(
        &self,
        first: &mut Config,
        listen_port: u16,
        esm2m_port: u16,
    ) -> Result<Config, String> {
        if self.msisdn == first.es5.smsr_msisdn || self.system_id == first.es5.smpp.system_id {
            return Err(format!(
                "SM-SR 2 needs an MSISDN and an SMPP system_id of its own (SM-SR 1 has {} and {})",
                first.es5.smsr_msisdn, first.es5.smpp.system_id
            ));
        }
        let mut second = first.clone();
        second.smsr.identity = 2;
        second.smsr.listen = format!("127.0.0.1:{listen_port}");
        second.smsr.public_url = format!("https://localhost:{listen_port}");
        second.smsr.metrics_listen = Some("127.0.0.1:0".into());
        second.smsr.database_url = self
            .database_url
            .clone()
            .unwrap_or_else(|| "sqlite://smsr2.db".into());
        second.es5.smsr_msisdn = self.msisdn.clone();
        second.es5.smpp.system_id = self.system_id.clone();
        second.es5.smpp.password = self.system_id.clone();
        // ES5 over HTTPS stays SM-SR 1's: one admin server per address.
        second.es5.https.enabled = false;
        second.esm2m.listen = format!("127.0.0.1:{esm2m_port}");
        second.esm2m.public_url = format!("https://localhost:{esm2m_port}");
        second.smsr.peers = vec![SmsrPeer {
            identity: first.smsr.identity,
            url: Some(first.smsr.public_url.clone()),
        }];
        first.smsr.peers = vec![SmsrPeer {
            identity: 2,
            url: Some(second.smsr.public_url.clone()),
        }];
        Ok(second)
    }

    /// Makes SM-SR 2 of `config` present a CERT.SR.ECDSA faulty as `fault` says, issued over the world's SK.SR.ECDSA
    /// of SM-SR 2 (`World::issue_faulty_cert_sr`): written to `smsr2-cert-sr.gp.hex` in `var_dir` and set, with
    /// the world's key file, as `smsr.sr_ecdsa_certificate` and `smsr.sr_ecdsa_key` (both relative to `var_dir`).
    pub fn use_faulty_cert_sr(
        world: &World,
        fault: CertSrFault,
        config: &mut Config,
    ) -> Result<(), String> {
        let sr = world.smsr(2).ok_or("the world has no SM-SR 2")?;
        let cert = world
            .issue_faulty_cert_sr(
                2,
                sr.gp.key.public_key(),
                fault,
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| e.to_string())?;
        let file = PathBuf::from("smsr2-cert-sr.gp.hex");
        let path = config.var_dir.join(&file);
        std::fs::write(&path, format!("{}\n", hex::encode_upper(cert.encode())))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        config.smsr.sr_ecdsa_certificate = Some(file);
        config.smsr.sr_ecdsa_key = Some(config.pki_dir.join(&sr.gp_files.key));
        Ok(())
    }

    /// The test SMSC's account of SM-SR 2 (SMPP 3.4 §4.1; its system_id as password), serving its MSISDN.
    pub fn smsc_account(&self) -> conformance::smsc::SmscAccount {
        conformance::smsc::SmscAccount {
            system_id: self.system_id.clone(),
            password: es_interfaces::smpp::Password::new(self.system_id.clone()),
            addresses: vec![self.msisdn.clone()],
        }
    }
}

impl LabOptions {
    /// A small lab in `var_dir`: the world's eUICCs, SQLite, short timings, receivers keeping every message.
    pub fn small(var_dir: &Path, euiccs: usize) -> LabOptions {
        let es5 = Es5Config {
            por_timeout_secs: 2,
            max_retry_interval_secs: 4,
            ..Es5Config::default()
        };
        LabOptions {
            var_dir: var_dir.to_path_buf(),
            world_euiccs: euiccs.max(1),
            fleet: FleetSource::World,
            smsr_database_url: None,
            smdp_database_url: None,
            simulator: SimulatorConfig {
                attach_delay_ms: 200,
                notification_retry_interval_ms: 5_000,
                ..SimulatorConfig::default()
            },
            es5,
            receivers: Some(true),
            pool_size: 8,
            workers: 2,
            smdp_profiles: Vec::new(),
            ecasd_faults: Vec::new(),
            https_share: 0.0,
            esm2m: Esm2mConfig::default(),
            second_smsr: None,
            external_smsc: None,
        }
    }
}

/// A running lab.
pub struct Lab {
    /// The world (PKI, identities).
    pub world: World,
    /// The configuration the servers run with.
    pub config: Config,
    /// The SM-SR.
    pub smsr: Arc<smsr::service::Smsr>,
    /// The SM-DP.
    pub smdp: Arc<smdp::service::Smdp>,
    /// Address of the SM-SR's SCP81 admin server (`es5.https.enabled`).
    pub scp81_addr: Option<std::net::SocketAddr>,
    /// Address of the SM-SR's metrics listener (`/metrics`, `/health/ready`; a free port).
    pub smsr_metrics: Option<std::net::SocketAddr>,
    /// Address of the SM-DP's metrics listener.
    pub smdp_metrics: Option<std::net::SocketAddr>,
    /// SM-SR 2 with its configuration and metrics listener, when [`LabOptions::second_smsr`] asked for it.
    pub smsr2: Option<SecondSmsrRunning>,
    /// The SMSC and the simulator.
    pub network: SimulatedNetwork,
    /// One receiver per MNO of the world (empty without receivers).
    pub receivers: Vec<MnoReceiver>,
    /// The simulator's events, when asked for.
    pub events: Option<mpsc::UnboundedReceiver<DriverEvent>>,
    handles: Vec<ServerHandle>,
    workers: Vec<Workers>,
}

/// The running SM-SR 2 of a lab (SGP.02 §3.8).
pub struct SecondSmsrRunning {
    /// The SM-SR.
    pub smsr: Arc<smsr::service::Smsr>,
    /// The configuration it runs with (`smsr.identity` 2, its database, listeners, MSISDN, SMPP account).
    pub config: Config,
    /// Address of its metrics listener.
    pub metrics: Option<std::net::SocketAddr>,
    listeners: Vec<ServerHandle>,
}

impl SecondSmsrRunning {
    /// Stops its listeners (ES1/ES3/ES4/ES7, ESM2M, metrics): SM-SR 2 is down for the other servers while its
    /// workers and store stay (a test of SM-SR change with the new SM-SR unreachable, SGP.02 §3.8).
    pub async fn stop_listeners(&self) {
        for h in &self.listeners {
            h.stop(true).await;
        }
    }
}

/// Lowest port [`free_port`] hands out.
const FREE_PORT_FLOOR: u16 = 12_000;

/// A TCP port of 127.0.0.1 free at the time of the call, for a listener that must name its port beforehand
/// (the labs of tests running side by side). It is taken below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`), at random: a port the kernel gave away and took back (`bind` to port 0, or
/// the local end of an outgoing connection) would be handed out again to the next outgoing connection or
/// port-0 listener of any process before our listener binds it ("Address already in use"). A port is never
/// handed out twice by one process.
pub fn free_port() -> Result<u16, String> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let mut given = GIVEN
        .lock()
        .map_err(|_| "free_port: lock poisoned".to_string())?;
    if ephemeral_low > FREE_PORT_FLOOR + 1_000 {
        for _ in 0..1_000 {
            let port = rand::random_range(FREE_PORT_FLOOR..ephemeral_low);
            if given.contains(&port) {
                continue;
            }
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                given.push(port);
                return Ok(port);
            }
        }
    }
    // No room below the ephemeral range (or all of it busy): any free port.
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = l
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())?;
    given.push(port);
    Ok(port)
}

/// Makes `directory` find a downloaded profile's MSISDN in the SM-DP's stock (`store`, once set): the lab's
/// view of how the MNOs provision their networks from their order files (wire-profile §8: the package carries the
/// IMSI, the order row the MSISDN).
pub fn set_stock_lookup(
    directory: &mut SubscriberDirectory,
    store: Arc<OnceLock<Arc<eis_store::Store>>>,
) {
    directory.set_lookup(Arc::new(move |imsi: &str| {
        let mut c = store.get()?.conn().ok()?;
        eis_store::warehouse::msisdn_of_imsi(&mut c, imsi)
            .ok()
            .flatten()
    }));
}

impl Lab {
    /// Starts everything; must run inside an actix system (the listeners start on it).
    pub async fn start(opts: LabOptions) -> Result<Lab, String> {
        std::fs::create_dir_all(&opts.var_dir)
            .map_err(|e| format!("cannot create {}: {e}", opts.var_dir.display()))?;
        let mut config = Config {
            var_dir: opts.var_dir.clone(),
            test_euiccs: opts.world_euiccs,
            es5: opts.es5.clone(),
            ..Config::default()
        };
        let world = setup::load_or_init_world(&config).map_err(|e| e.to_string())?;
        let keyring = Arc::new(setup::master_keyring(&world).map_err(|e| e.to_string())?);
        // The simulated network knows the MSISDNs the MNOs ordered: a downloaded profile's IMSI is looked up in the
        // SM-DP's stock (once the SM-DP has started) unless the options provisioned it.
        let smdp_store: Arc<OnceLock<Arc<eis_store::Store>>> = Arc::new(OnceLock::new());
        let mut subscribers = opts.simulator.subscribers.clone();
        if !subscribers.has_lookup() {
            set_stock_lookup(&mut subscribers, smdp_store.clone());
        }
        let fleet_config = SimulatorConfig {
            smsr_address: config.es5.smsr_msisdn.clone(),
            subscribers,
            ..opts.simulator.clone()
        };
        let fleet = match opts.fleet {
            FleetSource::World => Fleet::from_world(&world, fleet_config),
            FleetSource::Seeded { seed, count } => Fleet::from_seed(seed, count, fleet_config),
        }
        .map_err(|e| e.to_string())?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let keep_events = matches!(opts.fleet, FleetSource::World);
        let mut smsc = SmscConfig::loopback(&config.es5.smpp.system_id, &config.es5.smpp.password);
        smsc.record = keep_events;
        if let Some(second) = &opts.second_smsr {
            // MO SMS go by destination address: the first account serves SM-SR 1's MSISDN.
            smsc.accounts[0].addresses = vec![config.es5.smsr_msisdn.clone()];
            smsc.accounts.push(second.smsc_account());
        }
        let network = SimulatedNetwork::start(fleet, smsc, keep_events.then_some(events_tx))
            .await
            .map_err(|e| e.to_string())?;
        config.es5.smpp.enabled = true;
        let smsc_addr = opts
            .external_smsc
            .unwrap_or_else(|| network.smsc().local_addr());
        config.es5.smpp.host = smsc_addr.ip().to_string();
        config.es5.smpp.port = smsc_addr.port();
        for (server, url) in [
            (&mut config.smsr, &opts.smsr_database_url),
            (&mut config.smdp, &opts.smdp_database_url),
        ] {
            let port = free_port()?;
            server.listen = format!("127.0.0.1:{port}");
            server.public_url = format!("https://localhost:{port}");
            server.pool_size = opts.pool_size;
            server.workers = opts.workers;
            // A port of its own, picked when bound (the lab reads it back).
            server.metrics_listen = Some("127.0.0.1:0".into());
            if let Some(u) = url {
                server.database_url = u.clone();
            }
        }
        config.esm2m = opts.esm2m.clone();
        if config.esm2m.webhook_ca_file.is_none() {
            config.esm2m.webhook_ca_file = Some(world.dir.join(&world.manifest.tls_ca.cert));
        }
        let port = free_port()?;
        config.esm2m.listen = format!("127.0.0.1:{port}");
        config.esm2m.public_url = format!("https://localhost:{port}");
        let config2 = match &opts.second_smsr {
            Some(second) => {
                let mut c = second.configure(&mut config, free_port()?, free_port()?)?;
                if let Some(fault) = second.cert_sr_fault {
                    SecondSmsr::use_faulty_cert_sr(&world, fault, &mut c)?;
                }
                c.smsr.pool_size = opts.pool_size;
                c.smsr.workers = opts.workers;
                Some(c)
            }
            None => None,
        };
        let started = serve::start(&config, &world, keyring.clone(), None)?;
        let mut handles: Vec<ServerHandle> =
            started.servers.iter().map(|s| s.handle.clone()).collect();
        for s in started.servers {
            tokio::spawn(s.server);
        }
        let smsr = started.smsr.ok_or("the SM-SR did not start")?;
        let smdp = started.smdp.ok_or("the SM-DP did not start")?;
        let mut workers = vec![started.workers];
        let smsr2 = match config2 {
            Some(c) => {
                let s2 = serve::start(&c, &world, keyring.clone(), Some(serve::Only::Smsr))?;
                handles.extend(s2.servers.iter().map(|s| s.handle.clone()));
                let listeners: Vec<ServerHandle> =
                    s2.servers.iter().map(|s| s.handle.clone()).collect();
                for s in s2.servers {
                    tokio::spawn(s.server);
                }
                workers.push(s2.workers);
                Some(SecondSmsrRunning {
                    smsr: s2.smsr.ok_or("SM-SR 2 did not start")?,
                    config: c,
                    metrics: s2.smsr_metrics,
                    listeners,
                })
            }
            None => None,
        };
        let _ = smdp_store.set(smdp.store.clone());
        let mut receivers = Vec::new();
        if let Some(keep) = opts.receivers {
            for mno in &world.manifest.mnos {
                let r =
                    MnoReceiver::start(&world, "127.0.0.1:0", keep).map_err(|e| e.to_string())?;
                for store in std::iter::once(&smsr.store).chain(smsr2.iter().map(|s| &s.smsr.store))
                {
                    set_endpoint(store, &mno.entity.oid, "ES4", &format!("{}/es4", r.url()))?;
                }
                set_endpoint(
                    &smdp.store,
                    &mno.entity.oid,
                    "ES2",
                    &format!("{}/es2", r.url()),
                )?;
                receivers.push(r);
            }
        }
        let lab = Lab {
            world,
            config,
            scp81_addr: started.scp81_addr,
            smsr_metrics: started.smsr_metrics,
            smdp_metrics: started.smdp_metrics,
            smsr,
            smdp,
            smsr2,
            network,
            receivers,
            events: keep_events.then_some(events_rx),
            handles,
            workers,
        };
        match opts.fleet {
            FleetSource::World => {
                lab.register_world(&opts.smdp_profiles, &opts.ecasd_faults, opts.https_share)
                    .await?
            }
            FleetSource::Seeded { seed, count } => register_seeded_eis(
                &lab.smsr.store,
                &keyring,
                &lab.world,
                seed,
                count,
                opts.https_share,
            )?,
        }
        Ok(lab)
    }

    /// Base URL of the SM-SR.
    pub fn smsr_url(&self) -> &str {
        &self.config.smsr.public_url
    }

    /// Base URL of the SM-DP.
    pub fn smdp_url(&self) -> &str {
        &self.config.smdp.public_url
    }

    /// Base URL of SM-SR 2 (SGP.02 §3.8), when the lab runs it.
    pub fn smsr2_url(&self) -> Option<&str> {
        self.smsr2
            .as_ref()
            .map(|s| s.config.smsr.public_url.as_str())
    }

    /// SM-SR 2's database URL (SGP.02 §3.8; relative SQLite paths resolved), when the lab runs it.
    pub fn smsr2_database_url(&self) -> Option<String> {
        self.smsr2
            .as_ref()
            .map(|s| s.config.resolve_database_url(&s.config.smsr.database_url))
    }

    /// SM-SR 2's entity identifier (OID; SGP.02 §3.8), when the lab runs it.
    pub fn smsr2_oid(&self) -> Option<&str> {
        self.smsr2.as_ref().map(|s| s.smsr.identity.oid.as_str())
    }

    /// The client of the world's MNO `i` with SM-SR 2 as its ES4 server (SGP.02 §5.5; its receiver as ReplyTo).
    pub fn mno_at_smsr2(&self, i: usize) -> Result<MnoClient, String> {
        let url = self.smsr2_url().ok_or("the lab runs no SM-SR 2")?;
        let c = MnoClient::new(&self.world, i, url, self.smdp_url()).map_err(|e| e.to_string())?;
        Ok(match self.receivers.get(i) {
            Some(r) => c.with_reply_to(format!("{}/es4", r.url())),
            None => c,
        })
    }

    /// The client of the world's MNO `i`, with its receiver as ReplyTo when there is one.
    pub fn mno(&self, i: usize) -> Result<MnoClient, String> {
        let c = MnoClient::new(&self.world, i, self.smsr_url(), self.smdp_url())
            .map_err(|e| e.to_string())?;
        Ok(match self.receivers.get(i) {
            Some(r) => c.with_reply_to(format!("{}/es4", r.url())),
            None => c,
        })
    }

    /// Serves `routes` over HTTPS on a free localhost port with the first MNO's server certificate (issued by the
    /// world's TLS CA, which the lab's SM-SR trusts for ESM2M webhooks): a webhook endpoint of a test or bench.
    /// Returns its base URL (`https://localhost:PORT`) and its handle.
    pub fn start_https_endpoint<F>(&self, routes: F) -> Result<(String, ServerHandle), String>
    where
        F: Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
    {
        let files = self
            .world
            .manifest
            .mnos
            .first()
            .and_then(|m| m.tls_server.clone())
            .ok_or("the world has no MNO server certificate (issued for localhost)")?;
        let running = es_runtime::listener::start_server_tls(
            routes,
            &es_runtime::listener::ServerTlsConfig {
                listen: "127.0.0.1:0".into(),
                tls_cert: self.world.dir.join(&files.cert),
                tls_key: self.world.dir.join(&files.key),
                workers: 1,
            },
        )
        .map_err(|e| e.to_string())?;
        let port = running.addrs.first().ok_or("no bound address")?.port();
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        Ok((format!("https://localhost:{port}"), handle))
    }

    /// Registers every eUICC of the world over ES1 (conformance::eum), the first `https_share` of them
    /// HTTPS-capable, except those of `ecasd_faults`, whose EIS goes directly into the SM-SR's store.
    async fn register_world(
        &self,
        smdp_profiles: &[(usize, usize)],
        ecasd_faults: &[(usize, EcasdFault)],
        https_share: f64,
    ) -> Result<(), String> {
        let skip: Vec<usize> = ecasd_faults.iter().map(|(i, _)| *i).collect();
        register_eis_over_es1(
            &self.world,
            self.smsr_url(),
            smdp_profiles,
            https_share,
            false,
            &skip,
        )
        .await?;
        let now = time::OffsetDateTime::now_utc();
        for (i, fault) in ecasd_faults {
            let eis = conformance::eum::build_faulty_eis(&self.world, *i, now, *fault)
                .map_err(|e| e.to_string())?;
            register_in_store(&self.smsr, &self.world, &eis)?;
        }
        Ok(())
    }

    /// Stops the servers, workers, receivers and the network.
    pub async fn stop(self) {
        for h in &self.handles {
            h.stop(true).await;
        }
        for w in self.workers {
            w.shutdown().await;
        }
        for r in self.receivers {
            r.stop().await;
        }
        self.network.stop().await;
    }
}

/// Registers every eUICC of `world` at the SM-SR at `smsr_url` over ES1 (conformance::eum), the profiles
/// `(eUICC index, slot)` of `smdp_profiles` marked as downloaded by the world's SM-DP, the first `https_share` of
/// the eUICCs HTTPS-capable; with `tolerate_known`, an EIS already registered (8.1.1 / 3.3) is skipped. Returns
/// how many were registered.
pub async fn register_world_eis(
    world: &World,
    smsr_url: &str,
    smdp_profiles: &[(usize, usize)],
    https_share: f64,
    tolerate_known: bool,
) -> Result<usize, String> {
    register_eis_over_es1(
        world,
        smsr_url,
        smdp_profiles,
        https_share,
        tolerate_known,
        &[],
    )
    .await
}

/// [`register_world_eis`] for every eUICC of `world` but those of `skip`.
async fn register_eis_over_es1(
    world: &World,
    smsr_url: &str,
    smdp_profiles: &[(usize, usize)],
    https_share: f64,
    tolerate_known: bool,
    skip: &[usize],
) -> Result<usize, String> {
    let client = conformance::eum::Es1Client::new(world, smsr_url).map_err(|e| e.to_string())?;
    let now = time::OffsetDateTime::now_utc();
    let smdp_oid: es_interfaces::types::Oid = world
        .manifest
        .sm_dp
        .oid
        .parse()
        .map_err(|e| format!("SM-DP OID: {e}"))?;
    let mut registered = 0;
    let https = (world.euiccs.len() as f64 * https_share.clamp(0.0, 1.0)).round() as usize;
    for i in (0..world.euiccs.len()).filter(|i| !skip.contains(i)) {
        let mut eis = conformance::eum::build_eis_with(world, i, now, i < https)
            .map_err(|e| e.to_string())?;
        for (_, slot) in smdp_profiles.iter().filter(|(e, _)| *e == i) {
            // ProfileInfo is outside EumSignedInfo: the EUM signature stays valid.
            if let Some(p) = eis.profile_info.get_mut(*slot) {
                p.smdp_id = Some(smdp_oid.clone());
            }
        }
        let r = client
            .register(&eis, &format!("register-{}-{i}", world.euiccs[i].eid))
            .await
            .map_err(|e| e.to_string())?;
        let status = &r.response.base.function_execution_status;
        let known = status
            .status_code_data
            .as_ref()
            .is_some_and(|d| d.subject.code() == "8.1.1" && d.reason.code() == "3.3");
        match status.status {
            es_interfaces::status::Status::ExecutedSuccess => registered += 1,
            _ if tolerate_known && known => {}
            s => return Err(format!("ES1.RegisterEIS of eUICC {i}: {s} {status:?}")),
        }
    }
    Ok(registered)
}

/// Stores `eis` in the SM-SR's store without the checks of ES1.RegisterEIS (SGP.02 §5.1.1.3 data, stored as
/// `smsr::es1` stores it: `EumSignedInfo` and `EumSignature` kept as standalone XML, ISD-R keys re-wrapped from
/// the world EUM's transport key).
fn register_in_store(smsr: &smsr::service::Smsr, world: &World, eis: &Eis) -> Result<(), String> {
    let doc = conformance::eum::eis_document(eis);
    let parsed = es_interfaces::xml::Document::parse(doc.as_bytes()).map_err(|e| e.to_string())?;
    let part = |local: &str| {
        parsed
            .root()
            .child(RPS_NS, local)
            .map(|e| e.standalone_source())
            .ok_or_else(|| format!("the EIS document has no {local}"))
    };
    let new = smsr::eis_map::to_new_eis(
        eis,
        part("EumSignedInfo")?,
        part("EumSignature")?,
        Some(&smsr::eis_map::KeyRewrap {
            transport: &world.eum_transport_key,
            keyring: &smsr.keyring,
        }),
    )
    .map_err(|e| e.to_string())?;
    let now = eis_store::now_millis();
    smsr.store
        .tx(|c| store::register_eis(c, &new, now))
        .map_err(|e| e.to_string())
}

/// Sets one endpoint of a registered entity (the SM-SR's or SM-DP's registry).
pub fn set_endpoint(
    store: &eis_store::Store,
    oid: &str,
    interface: &str,
    url: &str,
) -> Result<(), String> {
    let mut conn = store.conn().map_err(|e| e.to_string())?;
    let mut e = entities::get_entity(&mut conn, oid)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("entity {oid} is not registered"))?;
    e.endpoints.insert(interface.to_string(), url.to_string());
    entities::update_entity(&mut conn, &e, eis_store::now_millis()).map_err(|e| e.to_string())
}

/// Registers `count` seeded eUICCs (`Fleet::from_seed(seed, count, …)`) directly in the SM-SR's `store`
/// (SGP.02 §5.3 EIS without its EUM-signed part): ISD-R SCP80 key set (KIc, KID sealed under the master key), the
/// three issued profiles with the world's MNO OIDs.
pub fn register_seeded_eis(
    store: &eis_store::Store,
    keyring: &MasterKeyring,
    world: &World,
    seed: u64,
    count: usize,
    https_share: f64,
) -> Result<(), String> {
    let https = (count as f64 * https_share.clamp(0.0, 1.0)).round() as usize;
    let [m1, m2, ..] = world.manifest.mnos.as_slice() else {
        return Err("the world lists fewer than two MNOs".into());
    };
    let now = eis_store::now_millis();
    let chunk = 500;
    let mut start = 0;
    while start < count {
        let end = (start + chunk).min(count);
        let mut batch = Vec::with_capacity(end - start);
        for i in start..end {
            batch.push(seeded_eis(
                keyring,
                world,
                seed,
                i,
                [&m1.entity.oid, &m2.entity.oid],
                i < https,
            )?);
        }
        store
            .tx(|c| {
                for e in &batch {
                    store::register_eis(c, e, now)?;
                }
                Ok::<_, eis_store::StoreError>(())
            })
            .map_err(|e| e.to_string())?;
        start = end;
    }
    Ok(())
}

fn seeded_eis(
    keyring: &MasterKeyring,
    world: &World,
    seed: u64,
    index: usize,
    mnos: [&str; 2],
    http_support: bool,
) -> Result<NewEis, String> {
    let secrets = EuiccSecrets::from_seed(seed, index).map_err(|e| e.to_string())?;
    let profiles = conformance::issuance::profiles_for(index, &secrets.msisdn.to_string(), mnos)
        .map_err(|e| e.to_string())?;
    seeded_eis_of(
        keyring,
        world,
        &secrets.eid.to_string(),
        &secrets,
        &profiles,
        http_support,
    )
}

/// The stored EIS (SGP.02 §5.1.1.2.1) of an eUICC with EID `eid`, the ISD-R keys of `secrets` (SCP80 KIc and
/// KID, SCP81 PSK, each sealed under the master key for `eid`) and `profiles`; no EUM-signed part, no ECASD key
/// set, no audit trail.
pub(crate) fn seeded_eis_of(
    keyring: &MasterKeyring,
    world: &World,
    eid: &str,
    secrets: &EuiccSecrets,
    profiles: &[conformance::issuance::IssuedProfile],
    http_support: bool,
) -> Result<NewEis, String> {
    let eid = eid.to_string();
    let keys = secrets.isd_r.scp80();
    let kvn = secrets.isd_r.kvn();
    let mut sd_keys = Vec::new();
    for (index, key) in [(1u8, keys.kic.expose()), (2u8, keys.kid.expose())] {
        let blob = keyring
            .seal(
                smsr::eis_map::KEY_PURPOSE,
                &smsr::eis_map::key_aad(&eid, "ISD-R", kvn, index, 0),
                key,
            )
            .map_err(|e| e.to_string())?;
        sd_keys.push(store::SdKey {
            index,
            kcv: certs::kdf::kcv_aes(key)
                .map_err(|e| e.to_string())?
                .to_vec(),
            components: vec![store::KeyComponent {
                key_type: 0x88,
                value: Sealed {
                    key_id: keyring.current_key_id().to_string(),
                    ciphertext: blob.into_bytes(),
                },
            }],
        });
    }
    // The SCP81 PSK (wire-profile §3: key type 85 in key set 40), as the EUM's EIS carries it.
    let psk = secrets.scp81_psk.expose();
    let psk_blob = keyring
        .seal(
            smsr::eis_map::KEY_PURPOSE,
            &smsr::eis_map::key_aad(&eid, "ISD-R", secrets.scp81_kvn, 1, 0),
            psk,
        )
        .map_err(|e| e.to_string())?;
    let scp81 = store::Keyset {
        version: secrets.scp81_kvn,
        usage: Some("SCP81".into()),
        cntr: 0,
        keys: vec![store::SdKey {
            index: 1,
            kcv: certs::kdf::kcv_aes(psk)
                .map_err(|e| e.to_string())?
                .to_vec(),
            components: vec![store::KeyComponent {
                key_type: wire_profile::SCP81_KEY_TYPE_PSK,
                value: Sealed {
                    key_id: keyring.current_key_id().to_string(),
                    ciphertext: psk_blob.into_bytes(),
                },
            }],
        }],
        certificates: Vec::new(),
    };
    let sd = |aid: &[u8], id: u8, keysets: Vec<store::Keyset>| store::SecurityDomain {
        aid: aid.to_vec(),
        tars: Vec::new(),
        sin: vec![id],
        sdin: vec![id],
        keysets,
    };
    let remaining = conformance::issuance::remaining_memory_at_issuance(profiles);
    Ok(NewEis {
        euicc: store::EuiccInfo {
            eid: eid.clone(),
            eum_id: world.manifest.eum.oid.clone(),
            production_date: eis_store::now_millis(),
            platform_type: "rsp-simulated-euicc".into(),
            platform_version: "1.0.0".into(),
            isd_p_loadfile_aid: wire_profile::ISD_P_LOAD_FILE_AID.to_vec(),
            isd_p_module_aid: wire_profile::ISD_P_MODULE_AID.to_vec(),
            capabilities: store::EuiccCapabilities {
                cattp_support: false,
                cattp_version: None,
                http_support,
                http_version: http_support.then(|| "1.1.0".to_string()),
                secure_packet_version: "9.2.0".into(),
                remote_provisioning_version: "3.2.0".into(),
            },
            remaining_memory: i64::from(remaining),
            available_memory_for_profiles: i64::from(
                conformance::issuance::AVAILABLE_MEMORY_FOR_PROFILES,
            ),
            last_audit_date: None,
            smsr_id: world.manifest.sm_sr.oid.clone(),
            eum_signed_info_xml: String::new(),
            eum_signature_xml: String::new(),
        },
        isd_r: sd(
            &wire_profile::ISD_R_AID,
            1,
            vec![
                store::Keyset {
                    version: kvn,
                    usage: Some("SCP80".into()),
                    cntr: 0,
                    keys: sd_keys,
                    certificates: Vec::new(),
                },
                scp81,
            ],
        ),
        ecasd: sd(&wire_profile::ECASD_AID, 2, Vec::new()),
        profiles: profiles
            .iter()
            .map(|p| store::ProfileInfo {
                iccid: p.iccid.clone(),
                isd_p_aid: p.isd_p_aid.to_vec(),
                mno_id: p.mno_oid.clone(),
                fallback: p.fallback,
                imsi: Some(p.imsi.clone()),
                msisdn: Some(p.msisdn.clone()),
                state: match p.state {
                    conformance::issuance::ProfileState::Enabled => store::ProfileState::Enabled,
                    conformance::issuance::ProfileState::Disabled => store::ProfileState::Disabled,
                    conformance::issuance::ProfileState::Created => store::ProfileState::Created,
                },
                smdp_id: None,
                profile_type: Some(p.profile_type.clone()),
                allocated_memory: i64::from(p.allocated_memory),
                free_memory: None,
                pol2: Vec::new(),
            })
            .collect(),
        audit_trail: Vec::new(),
        additional_properties: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32_768);
        let ports: Vec<u16> = (0..64)
            .map(|_| super::free_port().expect("free port"))
            .collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for p in ports {
            if low > super::FREE_PORT_FLOOR + 1_000 {
                assert!(
                    (super::FREE_PORT_FLOOR..low).contains(&p),
                    "{p} (ephemeral from {low})"
                );
            }
            std::net::TcpListener::bind(("127.0.0.1", p)).expect("bindable");
        }
    }
}
