//! Building the SM-SR and SM-DP from the configuration and a PKI directory: the test PKI is generated on the
//! first start, the databases are opened (migrations run), and the entities of the world are registered.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use certs::secrets::MasterKeyring;
use certs::world::{SmsrIdentityRef, World, WorldOptions};
use eis_store::Store;
use eis_store::entities::{self, Entity, EntityRole};
use es_interfaces::wsdl::Service;
use es_runtime::caller::CallerDirectory;
use es_runtime::clock::{Clock, SystemClock};
use es_runtime::listener::ListenerConfig;
use es_runtime::soap_endpoint::ServerIdentity;

use crate::config::{Config, ServerConfig};

/// Errors while setting up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The PKI could not be generated or loaded.
    #[error("PKI in {dir}: {message}")]
    Pki {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A database could not be opened or seeded.
    #[error("database {url}: {source}")]
    Store {
        /// Its URL (without credentials).
        url: String,
        /// The cause.
        source: eis_store::StoreError,
    },
    /// A directory could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The master key could not be loaded.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A configuration value is not usable.
    #[error("configuration: {0}")]
    Config(String),
}

fn pki_err(dir: &Path, e: impl std::fmt::Display) -> SetupError {
    SetupError::Pki {
        dir: dir.to_path_buf(),
        message: e.to_string(),
    }
}

/// Generates a complete test world (PKI, identities, and with the `lab` feature the EUM-signed EIS documents)
/// into `dir` (`rsp pki init`).
pub fn init_world(dir: &Path, euiccs: usize, seed: Option<u64>) -> Result<World, SetupError> {
    let now = SystemClock.now();
    let opts = WorldOptions {
        seed,
        ..WorldOptions::new(euiccs, now)
    };
    let world = certs::world::generate(dir, &opts).map_err(|e| pki_err(dir, e))?;
    #[cfg(feature = "lab")]
    conformance::eum::write_eis_documents(&world, now).map_err(|e| pki_err(dir, e))?;
    Ok(world)
}

/// Loads the world in the configured PKI directory, generating it first when the directory holds none.
pub fn load_or_init_world(config: &Config) -> Result<World, SetupError> {
    let dir = config.pki_path();
    if !dir.join("world.json").exists() {
        tracing::info!(dir = %dir.display(), euiccs = config.test_euiccs, "generating the test PKI");
        init_world(&dir, config.test_euiccs, None)?;
    }
    World::load(&dir).map_err(|e| pki_err(&dir, e))
}

/// The master key ring: `RSP_MASTER_KEY` when set (never from the database), else the world's key file.
pub fn master_keyring(world: &World) -> Result<MasterKeyring, SetupError> {
    if std::env::var_os("RSP_MASTER_KEY").is_some() {
        return MasterKeyring::from_env("RSP_MASTER_KEY")
            .map_err(|e| SetupError::MasterKey(e.to_string()));
    }
    let path = world.dir.join(&world.manifest.master_key_file);
    MasterKeyring::from_file(&path).map_err(|e| SetupError::MasterKey(e.to_string()))
}

/// Opens a server's database (creating the directory of a SQLite file), running the migrations.
pub fn open_store(config: &Config, server: &ServerConfig) -> Result<Store, SetupError> {
    let url = config.resolve_database_url(&server.database_url);
    if let Some(path) = url.strip_prefix("sqlite://")
        && let Some(parent) = Path::new(path).parent()
    {
        std::fs::create_dir_all(parent).map_err(|source| SetupError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let store = Store::open(&url, server.pool_size).map_err(|source| SetupError::Store {
        url: redact(&url),
        source,
    })?;
    if store.autovacuum_off() {
        tracing::warn!(database = %redact(&url), "PostgreSQL autovacuum is off: the dead row versions of the queue \
            tables (outbox, ES5 commands, operations) pile up and every queue scan reads them; turn it on \
            (docs/operations.md)");
    }
    if store.tls_on_loopback() {
        tracing::warn!(database = %redact(&url), "PostgreSQL on this host is reached over TCP with TLS (libpq's \
            sslmode=prefer): every statement pays a TLS record each way; a Unix socket \
            (postgres://user@/db?host=/var/run/postgresql) is faster (docs/operations.md)");
    }
    Ok(store)
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

fn fingerprint(world: &World, rel_cert: &str) -> Result<[u8; 32], SetupError> {
    let pem =
        std::fs::read_to_string(world.dir.join(rel_cert)).map_err(|e| pki_err(&world.dir, e))?;
    let cert = certs::x509::X509Certificate::from_pem(&pem).map_err(|e| pki_err(&world.dir, e))?;
    Ok(cert.sha256_fingerprint())
}

fn entity(
    oid: &str,
    name: &str,
    role: EntityRole,
    interfaces: &[&str],
    fingerprints: &[[u8; 32]],
    certificate: Option<Vec<u8>>,
    endpoints: &[(&str, String)],
) -> Entity {
    Entity {
        oid: oid.to_string(),
        role,
        name: name.to_string(),
        endpoints: endpoints
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        allowed_interfaces: interfaces
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        gp_certificate: certificate,
        fingerprints: fingerprints.iter().copied().collect(),
    }
}

/// Registers entities that are not registered yet (an operator's later changes are kept).
fn seed(store: &Store, entities_: Vec<Entity>) -> Result<(), SetupError> {
    let mut conn = store.conn().map_err(|source| SetupError::Store {
        url: "registry".into(),
        source,
    })?;
    for e in entities_ {
        let known =
            entities::get_entity(&mut conn, &e.oid).map_err(|source| SetupError::Store {
                url: "registry".into(),
                source,
            })?;
        if known.is_none() {
            entities::create_entity(&mut conn, &e, eis_store::now_millis()).map_err(|source| {
                SetupError::Store {
                    url: "registry".into(),
                    source,
                }
            })?;
        }
    }
    Ok(())
}

/// The entities the SM-SR knows in the test world: the EUM (ES1), the MNOs (ES4) and the SM-DP (ES3).
pub fn seed_smsr_entities(store: &Store, world: &World, smdp_url: &str) -> Result<(), SetupError> {
    let m = &world.manifest;
    let mut list = vec![
        entity(
            &m.eum.oid,
            &m.eum.name,
            EntityRole::Eum,
            &["ES1"],
            &[fingerprint(world, &m.eum_tls_client.cert)?],
            Some(world.eum.cert.der().to_vec()),
            &[],
        ),
        entity(
            &m.sm_dp.oid,
            &m.sm_dp.name,
            EntityRole::SmDp,
            &["ES3"],
            &[fingerprint(world, &m.sm_dp_tls_client.cert)?],
            Some(world.sm_dp_gp.cert.encode()),
            &[(
                "ES3",
                format!(
                    "{}{}",
                    smdp_url.trim_end_matches('/'),
                    Service::Es3SmDp.default_path()
                ),
            )],
        ),
    ];
    for mno in &m.mnos {
        list.push(entity(
            &mno.entity.oid,
            &mno.entity.name,
            EntityRole::Mno,
            &["ES4"],
            &[fingerprint(world, &mno.tls_client.cert)?],
            None,
            &[],
        ));
    }
    seed(store, list)
}

/// The entities the SM-DP knows in the test world: the MNOs (ES2) and every SM-SR of the world (ES3 callers),
/// each with its ES3 endpoint when `smsr_urls` (`Config::smsr_urls`: SM-SR number, ES base URL) names it.
pub fn seed_smdp_entities(
    store: &Store,
    world: &World,
    smsr_urls: &[(u8, Option<String>)],
) -> Result<(), SetupError> {
    let m = &world.manifest;
    let mut list = Vec::new();
    for sr in world.smsrs() {
        let url = smsr_urls
            .iter()
            .find(|(n, _)| *n == sr.number)
            .and_then(|(_, url)| url.as_deref());
        let endpoints: Vec<(&str, String)> = url
            .map(|u| {
                (
                    "ES3",
                    format!(
                        "{}{}",
                        u.trim_end_matches('/'),
                        Service::Es3SmSr.default_path()
                    ),
                )
            })
            .into_iter()
            .collect();
        list.push(smsr_entity(world, sr, "ES3", &endpoints)?);
    }
    for mno in &m.mnos {
        list.push(entity(
            &mno.entity.oid,
            &mno.entity.name,
            EntityRole::Mno,
            &["ES2", "REST"],
            &[fingerprint(world, &mno.tls_client.cert)?],
            None,
            &[],
        ));
    }
    seed(store, list)
}

/// SM-SR `sr` as an entity of role SM-SR calling on `interface`: its TLS client certificate (caller resolution)
/// and CERT.SR.ECDSA.
fn smsr_entity(
    world: &World,
    sr: SmsrIdentityRef<'_>,
    interface: &str,
    endpoints: &[(&str, String)],
) -> Result<Entity, SetupError> {
    Ok(entity(
        &sr.entity.oid,
        &sr.entity.name,
        EntityRole::SmSr,
        &[interface],
        &[fingerprint(world, &sr.tls_client_files.cert)?],
        Some(sr.gp.cert.encode()),
        endpoints,
    ))
}

/// The SM-SR of the world this configuration runs (`smsr.identity`, SGP.02 §3.8): OID, name, CERT.SR.ECDSA and
/// SK.SR.ECDSA, TLS server and client certificates.
pub fn smsr_identity<'w>(
    world: &'w World,
    config: &Config,
) -> Result<SmsrIdentityRef<'w>, SetupError> {
    world.smsr(config.smsr.identity).ok_or_else(|| {
        pki_err(
            &world.dir,
            format!(
                "the world has no SM-SR {} (smsr.identity); a world from `rsp pki init` has two",
                config.smsr.identity
            ),
        )
    })
}

/// Registers at the SM-SR of `config` every other SM-SR of the world as an ES7 peer (SGP.02 §5.7): role SM-SR,
/// its TLS client certificate and CERT.SR.ECDSA, and the ES7 endpoint under its URL from `smsr.peers` (set
/// when the configuration names one, otherwise a registered endpoint is kept). Returns each peer's name and ES7
/// endpoint.
pub fn register_smsr_peers(
    store: &Store,
    world: &World,
    config: &Config,
) -> Result<Vec<(String, Option<String>)>, SetupError> {
    let store_err = |source| SetupError::Store {
        url: "registry".into(),
        source,
    };
    let mut out = Vec::new();
    for sr in world
        .smsrs()
        .into_iter()
        .filter(|sr| sr.number != config.smsr.identity)
    {
        let url = config
            .smsr
            .peers
            .iter()
            .find(|p| p.identity == sr.number)
            .and_then(|p| p.url.as_deref())
            .map(|u| {
                format!(
                    "{}{}",
                    u.trim_end_matches('/'),
                    Service::Es7SmSr.default_path()
                )
            });
        let mut conn = store.conn().map_err(store_err)?;
        let endpoint = match entities::get_entity(&mut conn, &sr.entity.oid).map_err(store_err)? {
            None => {
                let endpoints: Vec<(&str, String)> =
                    url.iter().map(|u| ("ES7", u.clone())).collect();
                let e = smsr_entity(world, sr, "ES7", &endpoints)?;
                entities::create_entity(&mut conn, &e, eis_store::now_millis())
                    .map_err(store_err)?;
                url
            }
            Some(mut e) => {
                if let Some(u) = &url
                    && e.endpoints.get("ES7") != Some(u)
                {
                    e.endpoints.insert("ES7".into(), u.clone());
                    entities::update_entity(&mut conn, &e, eis_store::now_millis())
                        .map_err(store_err)?;
                }
                e.endpoints.get("ES7").cloned()
            }
        };
        out.push((sr.entity.name.clone(), endpoint));
    }
    Ok(out)
}

/// The listener of a server, with the world's TLS files.
pub fn listener(
    server: &ServerConfig,
    world: &World,
    tls_server: &certs::world::KeyCertFiles,
) -> ListenerConfig {
    ListenerConfig {
        listen: server.listen.clone(),
        tls_cert: world.dir.join(&tls_server.cert),
        tls_key: world.dir.join(&tls_server.key),
        client_ca: world.dir.join(&world.manifest.tls_ca.cert),
        workers: server.workers,
    }
}

/// The SM-SR of the world that `smsr.identity` names (SGP.02 §3.8: [`smsr_identity`]).
pub fn smsr(
    config: &Config,
    world: &World,
    store: Store,
    keyring: Arc<MasterKeyring>,
) -> Result<smsr::service::Smsr, SetupError> {
    let m = &world.manifest;
    let me = smsr_identity(world, config)?;
    let mut transport = std::collections::HashMap::new();
    let key = certs::secrets::Secret::new(world.eum_transport_key.secret().expose().to_vec());
    transport.insert(
        m.eum.oid.clone(),
        certs::secrets::TransportKey::new(key).map_err(|e| pki_err(&world.dir, e))?,
    );
    Ok(smsr::service::Smsr {
        identity: ServerIdentity {
            oid: me.entity.oid.clone(),
            name: me.entity.name.clone(),
            public_url: config.smsr.public_url.clone(),
        },
        store: Arc::new(store),
        keyring,
        trust: smsr::service::Trust {
            ci: world.ci.cert.clone(),
            eum_transport_keys: transport,
        },
        callers: CallerDirectory::default(),
        clock: Arc::new(SystemClock),
        // ES5 over HTTPS needs the SMS too (push SMS, notifications): `Config::load` refuses it alone.
        es5: config
            .es5
            .smpp
            .enabled
            .then(|| config.es5.settings(&config.limits)),
        channels: config.es5.https.channels(),
        outbox_give_up: Duration::from_secs(config.es5.callback_give_up_secs.max(1)),
        webhook_give_up: Duration::from_secs(config.esm2m.webhook_retry_secs.max(1)),
        outgoing: outgoing_policy(config)?,
        wake: Arc::new(smsr::service::Wake::default()),
        metrics: Arc::new(
            smsr::metrics::SmsrMetrics::new().map_err(|e| SetupError::Config(e.to_string()))?,
        ),
        sr_ecdsa: Some(sr_ecdsa(config, world, me)?),
        #[cfg(feature = "lab")]
        faults: Default::default(),
    })
}

/// CERT.SR.ECDSA and SK.SR.ECDSA of the SM-SR `me` (SGP.02 §2.3.2, §3.8): from the files of
/// `smsr.sr_ecdsa_certificate` and `smsr.sr_ecdsa_key` when set, else the world's. The start fails when a file
/// cannot be read, the certificate is not an SM-SR's GP certificate or the key is not its private key; a
/// certificate that does not chain to the world's CI or is not valid now is logged (the SM-SR serves its eUICCs
/// all the same, but the current SM-SR of an SM-SR change will refuse it, 8.5.3).
pub fn sr_ecdsa(
    config: &Config,
    world: &World,
    me: SmsrIdentityRef<'_>,
) -> Result<smsr::service::SrIdentity, SetupError> {
    let s = &config.smsr;
    let (cert, key) = match (&s.sr_ecdsa_certificate, &s.sr_ecdsa_key) {
        (Some(cert_file), Some(key_file)) => {
            let (cert_path, key_path) = (
                config.var_dir.join(cert_file),
                config.var_dir.join(key_file),
            );
            let bad = |key: &str, path: &Path, why: String| {
                SetupError::Config(format!("smsr.{key} ({}): {why}", path.display()))
            };
            let text = std::fs::read_to_string(&cert_path)
                .map_err(|e| bad("sr_ecdsa_certificate", &cert_path, e.to_string()))?;
            let cert = certs::keystore::read_gp_hex(&text).map_err(|why| {
                bad(
                    "sr_ecdsa_certificate",
                    &cert_path,
                    format!("not a GP certificate in hex: {why}"),
                )
            })?;
            if cert.body().entity_type != certs::gp_cert::EntityType::SmSr {
                return Err(bad(
                    "sr_ecdsa_certificate",
                    &cert_path,
                    format!(
                        "entity type {:?}, not an SM-SR's CERT.SR.ECDSA",
                        cert.body().entity_type
                    ),
                ));
            }
            certs::keystore::check_private_file_mode(&key_path)
                .map_err(|e| bad("sr_ecdsa_key", &key_path, e.to_string()))?;
            let pem = zeroize::Zeroizing::new(
                std::fs::read_to_string(&key_path)
                    .map_err(|e| bad("sr_ecdsa_key", &key_path, e.to_string()))?,
            );
            let key = certs::ecc::PrivateKey::from_pkcs8_pem(&pem).map_err(|e| {
                bad(
                    "sr_ecdsa_key",
                    &key_path,
                    format!("not a PKCS#8 PEM private key: {e}"),
                )
            })?;
            if key.public_key() != &cert.body().public_key {
                return Err(bad(
                    "sr_ecdsa_key",
                    &key_path,
                    format!(
                        "not the private key of the CERT.SR.ECDSA in {}",
                        cert_path.display()
                    ),
                ));
            }
            (cert, key)
        }
        (None, None) => (
            me.gp.cert.clone(),
            certs::ecc::PrivateKey::from_scalar(me.gp.key.curve(), &me.gp.key.to_scalar()[..])
                .map_err(|e| pki_err(&world.dir, e))?,
        ),
        _ => {
            return Err(SetupError::Config(
                "set both smsr.sr_ecdsa_certificate and smsr.sr_ecdsa_key, or neither".into(),
            ));
        }
    };
    let certificate = cert.encode();
    if let Err(e) = certs::chain::check_smsr(&world.ci.cert, &certificate, SystemClock.now()) {
        tracing::warn!(
            error = %e,
            "CERT.SR.ECDSA does not verify against the CI: the current SM-SR of an SM-SR change will refuse it (8.5.3)"
        );
    }
    if cert.body().subject_id != me.entity.oid.as_bytes() {
        tracing::warn!(
            oid = %me.entity.oid,
            subject = %String::from_utf8_lossy(&cert.body().subject_id),
            "CERT.SR.ECDSA names another subject than this SM-SR's OID"
        );
    }
    Ok(smsr::service::SrIdentity { certificate, key })
}

/// The destination rule of outgoing calls (configuration `outgoing.allow_list`).
fn outgoing_policy(config: &Config) -> Result<es_runtime::destination::OutgoingPolicy, SetupError> {
    config
        .outgoing
        .policy()
        .map_err(|e| SetupError::Config(e.to_string()))
}

/// The SOAP client a server uses for callbacks and notifications: its TLS client certificate, the world's TLS
/// CA as the only trust anchor, `timeout` per exchange.
pub fn soap_client(
    world: &World,
    client: &certs::world::KeyCertFiles,
    timeout: Duration,
) -> Result<es_runtime::client::SoapClient, SetupError> {
    let read = |rel: &str| std::fs::read(world.dir.join(rel)).map_err(|e| pki_err(&world.dir, e));
    es_runtime::client::SoapClient::new(
        &read(&client.cert)?,
        &read(&client.key)?,
        &read(&world.manifest.tls_ca.cert)?,
        timeout,
    )
    .map_err(|e| pki_err(&world.dir, e))
}

/// The client of the ESM2M webhooks: no client certificate, the system's roots and `esm2m.webhook_ca_file`.
pub fn webhook_client(config: &Config) -> Result<es_runtime::client::SoapClient, SetupError> {
    let extra = match &config.esm2m.webhook_ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|source| SetupError::Io {
            path: path.clone(),
            source,
        })?),
        None => None,
    };
    es_runtime::client::SoapClient::public(extra.as_deref(), config.outgoing.timeout())
        .map_err(|e| SetupError::Config(format!("esm2m.webhook_ca_file: {e}")))
}

/// The SM-DP of the world, with its ES3 client (the SM-DP's TLS client certificate) for relayed functions.
pub fn smdp(
    config: &Config,
    world: &World,
    store: Store,
    keyring: Arc<MasterKeyring>,
) -> Result<smdp::service::Smdp, SetupError> {
    let m = &world.manifest;
    let client = soap_client(world, &m.sm_dp_tls_client, config.outgoing.timeout())?;
    let es3 = smdp::relay::Es3Client::start(client, Duration::from_secs(60)).map_err(|source| {
        SetupError::Io {
            path: PathBuf::from("smdp-es3-client thread"),
            source,
        }
    })?;
    let sk_dp = certs::ecc::PrivateKey::from_scalar(
        world.sm_dp_gp.key.curve(),
        world.sm_dp_gp.key.to_scalar().as_slice(),
    )
    .map_err(|e| pki_err(&world.dir, e))?;
    Ok(smdp::service::Smdp {
        identity: ServerIdentity {
            oid: m.sm_dp.oid.clone(),
            name: m.sm_dp.name.clone(),
            public_url: config.smdp.public_url.clone(),
        },
        store: Arc::new(store),
        keyring,
        callers: CallerDirectory::default(),
        clock: Arc::new(SystemClock),
        es3: Some(es3),
        outbox_give_up: Duration::from_secs(config.es5.callback_give_up_secs.max(1)),
        outgoing: outgoing_policy(config)?,
        wake_outbox: Arc::new(tokio::sync::Notify::new()),
        download: Some(Arc::new(smdp::download::DownloadSettings::new(
            smdp::download::Es8Identity {
                smdp_oid: m.sm_dp.oid.clone(),
                cert_dp: world.sm_dp_gp.cert.encode(),
                sk_dp,
                ci: world.ci.cert.clone(),
                eums: vec![world.eum.cert.clone()],
            },
        ))),
        wake_downloads: Arc::new(tokio::sync::Notify::new()),
        metrics: Arc::new(
            smdp::metrics::SmdpMetrics::new().map_err(|e| SetupError::Config(e.to_string()))?,
        ),
    })
}

/// Registers, for each MNO of the world that has no `interface` endpoint yet, the callback endpoint `rsp mno`
/// listens on (`mno.endpoint`), so that results and notifications (SGP.02 Annex B `wsa:ReplyTo`, §5.3/§5.5
/// notifications) reach it; an endpoint an operator registered is kept. Returns each MNO's name and the URL
/// registered for it.
pub fn register_mno_endpoints(
    store: &Store,
    world: &World,
    mno: &crate::config::MnoConfig,
    interface: &str,
) -> Result<Vec<(String, String)>, SetupError> {
    let store_err = |source| SetupError::Store {
        url: "registry".into(),
        source,
    };
    let mut conn = store.conn().map_err(store_err)?;
    let mut out = Vec::new();
    for (i, m) in world.manifest.mnos.iter().enumerate() {
        let Some(mut e) = entities::get_entity(&mut conn, &m.entity.oid).map_err(store_err)? else {
            continue;
        };
        let url = match e.endpoints.get(interface) {
            Some(url) => url.clone(),
            None => {
                let url = mno.endpoint(i, interface);
                e.endpoints.insert(interface.to_string(), url.clone());
                entities::update_entity(&mut conn, &e, eis_store::now_millis())
                    .map_err(store_err)?;
                url
            }
        };
        out.push((m.entity.name.clone(), url));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SGP.02 §2.3.2: CERT.SR.ECDSA and SK.SR.ECDSA from the configured files, the world's without them; a key
    /// that is not the certificate's, a key file readable by others, a half configuration or a certificate that is
    /// not an SM-SR's stop the start with the key named; a faulty but well-formed certificate is loaded.
    #[test]
    fn sr_ecdsa_from_the_configured_files_or_the_world() {
        let dir = tempfile::tempdir().unwrap();
        let world = certs::world::generate(
            &dir.path().join("pki"),
            &WorldOptions {
                seed: Some(31),
                ..WorldOptions::new(1, SystemClock.now())
            },
        )
        .unwrap();
        let (one, two) = (world.smsr(1).unwrap(), world.smsr(2).unwrap());
        let config = |cert: Option<&str>, key: Option<&str>| {
            let mut c = Config {
                var_dir: dir.path().to_path_buf(),
                ..Config::default()
            };
            c.smsr.identity = 2;
            c.smsr.sr_ecdsa_certificate = cert.map(PathBuf::from);
            c.smsr.sr_ecdsa_key = key.map(PathBuf::from);
            c
        };
        let in_pki = |rel: &str| format!("pki/{rel}");
        let (cert2, key1, key2) = (
            in_pki(&two.gp_files.cert),
            in_pki(&one.gp_files.key),
            in_pki(&two.gp_files.key),
        );

        let world_default = sr_ecdsa(&config(None, None), &world, two).unwrap();
        assert_eq!(world_default.certificate, two.gp.cert.encode());
        let files = sr_ecdsa(&config(Some(&cert2), Some(&key2)), &world, two).unwrap();
        assert_eq!(files.certificate, two.gp.cert.encode());
        assert_eq!(files.key.public_key(), two.gp.key.public_key());

        let refused =
            |cert: Option<&str>, key: Option<&str>| match sr_ecdsa(&config(cert, key), &world, two)
            {
                Err(SetupError::Config(m)) => m,
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("accepted {cert:?} {key:?}"),
            };
        let m = refused(Some(&cert2), Some(&key1));
        assert!(
            m.contains("smsr.sr_ecdsa_key") && m.contains("not the private key"),
            "{m}"
        );
        assert!(refused(Some(&cert2), None).contains("both"));
        // CERT.DP.ECDSA is not an SM-SR's certificate.
        let m = refused(
            Some(&in_pki(&world.manifest.sm_dp_gp.cert)),
            Some(&in_pki(&world.manifest.sm_dp_gp.key)),
        );
        assert!(m.contains("smsr.sr_ecdsa_certificate"), "{m}");
        // Not hex.
        std::fs::write(dir.path().join("bad.gp.hex"), "7F21 zz\n").unwrap();
        assert!(refused(Some("bad.gp.hex"), Some(&key2)).contains("not a GP certificate"));
        // A key file others may read.
        let open_key = dir.path().join("open.key.pem");
        std::fs::copy(dir.path().join(&key2), &open_key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(refused(Some(&cert2), Some("open.key.pem")).contains("0600"));
        }
        // An expired certificate over the right key: loaded (logged at start), refused by the peers.
        let expired = world
            .issue_faulty_cert_sr(
                2,
                two.gp.key.public_key(),
                certs::world::CertSrFault::Expired,
                SystemClock.now(),
            )
            .unwrap();
        std::fs::write(
            dir.path().join("expired.gp.hex"),
            hex::encode_upper(expired.encode()),
        )
        .unwrap();
        let loaded = sr_ecdsa(&config(Some("expired.gp.hex"), Some(&key2)), &world, two).unwrap();
        assert_eq!(loaded.certificate, expired.encode());
    }
}
