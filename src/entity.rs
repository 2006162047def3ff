//! `rsp entity` and the `entities:` section of the configuration: the registry of the entities a server talks
//! to (SGP.02 §2.2 roles, §2.6 mutual authentication) — who they are, where the server calls them (an MNO's ES2
//! and ES4 endpoints, an SM-DP's or SM-SR's ES3 endpoint: the only destinations of callbacks and notifications
//! besides the configured allow list) and the TLS client certificates they authenticate with.
//!
//! Each command works on the SM-SR's and/or the SM-DP's store (`--server`). Everything given is checked first
//! (role, endpoint URLs, certificates, the entity's presence in every store concerned, certificates owned by
//! another entity): on an error nothing is stored in any store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use eis_store::Store;
use eis_store::entities::{self, Entity, EntityRole};
use serde::{Deserialize, Serialize};

use crate::config::{Config, ServerConfig};
use crate::setup;

/// Which server's registry a command or an `entities:` entry concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    /// The SM-SR's store.
    Smsr,
    /// The SM-DP's store.
    Smdp,
    /// Both stores.
    Both,
}

/// One of the two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The SM-SR.
    Smsr,
    /// The SM-DP.
    Smdp,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Smsr => "smsr",
            Side::Smdp => "smdp",
        }
    }

    fn store_name(self) -> &'static str {
        match self {
            Side::Smsr => "the SM-SR's store",
            Side::Smdp => "the SM-DP's store",
        }
    }
}

impl Server {
    /// The servers it names.
    pub fn sides(self) -> &'static [Side] {
        match self {
            Server::Smsr => &[Side::Smsr],
            Server::Smdp => &[Side::Smdp],
            Server::Both => &[Side::Smsr, Side::Smdp],
        }
    }
}

/// An entity as the configuration's `entities:` section declares it (`rsp entity add` takes the same). A field
/// left out keeps what the store has (for a new entity: none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    /// The entity's OID (SGP.02 A1 `ObjectIdentifierType`).
    pub oid: String,
    /// Its role: MNO, SM-DP, SM-SR, EUM or eUICC-owner (SGP.02 §2.2).
    pub role: String,
    /// Display name.
    pub name: String,
    /// Which server's store registers it (default: where its role calls, [`default_server`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Server>,
    /// Where the server calls it, interface (ES2, ES3, ES4, ES7, webhook) → https URL; given: exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<BTreeMap<String, String>>,
    /// Its TLS client certificates (PEM files; relative paths from `var_dir`); given: exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_certs: Option<Vec<PathBuf>>,
    /// Its GP certificate (an EUM's X.509 certificate, PEM), checked by ES1.RegisterEIS (SGP.02 §5.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gp_cert: Option<PathBuf>,
}

/// Options selecting the stores of every `rsp entity` command.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Whose registry: smsr, smdp or both (default: `add` where the role calls — MNO both, SM-SR the SM-DP's,
    /// the others the SM-SR's; `list` both; the others every store in which the entity is registered).
    #[arg(long, value_enum)]
    pub server: Option<Server>,
    /// Database of the SM-SR (default: the configured one).
    #[arg(long)]
    pub smsr_database_url: Option<String>,
    /// Database of the SM-DP (default: the configured one).
    #[arg(long)]
    pub smdp_database_url: Option<String>,
}

/// `rsp entity …`
#[derive(Debug, clap::Subcommand)]
pub enum EntityCommand {
    /// Registers a new entity (refused if its OID is already registered in a store concerned).
    Add {
        /// The entity's OID.
        #[arg(long)]
        oid: String,
        /// Its role: mno, sm-dp, sm-sr, eum, euicc-owner.
        #[arg(long)]
        role: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// An endpoint, `INTERFACE=https://…` (repeatable), e.g. `ES4=https://mno.example:8443/es4`.
        #[arg(long = "endpoint", value_name = "INTERFACE=URL")]
        endpoints: Vec<String>,
        /// A TLS client certificate the entity authenticates with (PEM; repeatable).
        #[arg(long = "tls-cert", value_name = "PEM")]
        tls_certs: Vec<PathBuf>,
        /// Its GP certificate (an EUM's X.509 certificate, PEM).
        #[arg(long, value_name = "PEM")]
        gp_cert: Option<PathBuf>,
        #[command(flatten)]
        stores: StoreArgs,
    },
    /// Lists the registered entities with their endpoints and certificate fingerprints.
    List {
        /// Only this role.
        #[arg(long)]
        role: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stores: StoreArgs,
    },
    /// Sets (or with --remove deletes) an entity's endpoint for one interface: where callbacks and
    /// notifications go, and the origin a wsa:ReplyTo of the entity may name.
    SetEndpoint {
        /// The entity's OID.
        #[arg(long)]
        oid: String,
        /// The interface: ES2, ES3, ES4, ES7 or webhook.
        #[arg(long)]
        interface: String,
        /// The https URL.
        #[arg(long, required_unless_present = "remove")]
        url: Option<String>,
        /// Delete the endpoint instead.
        #[arg(long, conflicts_with = "url")]
        remove: bool,
        #[command(flatten)]
        stores: StoreArgs,
    },
    /// Adds a TLS client certificate to an entity (certificate rollover).
    AddCert {
        /// The entity's OID.
        #[arg(long)]
        oid: String,
        /// The certificate (PEM).
        #[arg(long, value_name = "PEM")]
        cert: PathBuf,
        #[command(flatten)]
        stores: StoreArgs,
    },
    /// Revokes one of an entity's TLS client certificates: calls presenting it are refused as from an unknown
    /// requester once the server's caller cache no longer holds it.
    RevokeCert {
        /// The entity's OID.
        #[arg(long)]
        oid: String,
        /// The certificate (PEM).
        #[arg(long, value_name = "PEM", required_unless_present = "fingerprint")]
        cert: Option<PathBuf>,
        /// Its SHA-256 fingerprint (64 hex digits, colons allowed) as `rsp entity list` shows it.
        #[arg(long, conflicts_with = "cert")]
        fingerprint: Option<String>,
        #[command(flatten)]
        stores: StoreArgs,
    },
}

/// Parses a role as the commands and the configuration write it (case and dashes do not matter).
pub fn parse_role(s: &str) -> Result<EntityRole, String> {
    let key: String = s
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    Ok(match key.as_str() {
        "mno" => EntityRole::Mno,
        "smdp" => EntityRole::SmDp,
        "smsr" => EntityRole::SmSr,
        "eum" => EntityRole::Eum,
        "euiccowner" => EntityRole::EuiccOwner,
        _ => {
            return Err(format!(
                "unknown role {s:?} (mno, sm-dp, sm-sr, eum or euicc-owner)"
            ));
        }
    })
}

/// The interfaces on which an entity of `role` calls the server on `side` (SGP.02 §2.2, §5).
pub fn allowed_interfaces(side: Side, role: EntityRole) -> BTreeSet<String> {
    let names: &[&str] = match (side, role) {
        (Side::Smsr, EntityRole::Mno) => &["ES4"],
        (Side::Smsr, EntityRole::SmDp) => &["ES3"],
        (Side::Smsr, EntityRole::Eum) => &["ES1"],
        (Side::Smsr, EntityRole::SmSr) => &["ES7"],
        // ES2, and the warehouse's REST API (`REST`, es_runtime::caller: enforced per interface).
        (Side::Smdp, EntityRole::Mno) => &["ES2", "REST"],
        (Side::Smdp, EntityRole::SmSr) => &["ES3"],
        _ => &[],
    };
    names.iter().map(|s| s.to_string()).collect()
}

/// The stores an entity of `role` is registered in by default: those of the servers it calls (SGP.02 §2.2):
/// an MNO calls both (ES2, ES4), an SM-SR the SM-DP (ES3), an SM-DP (ES3), an EUM (ES1) and an eUICC owner the
/// SM-SR.
pub fn default_server(role: EntityRole) -> Server {
    match role {
        EntityRole::Mno => Server::Both,
        EntityRole::SmSr => Server::Smdp,
        EntityRole::SmDp | EntityRole::Eum | EntityRole::EuiccOwner => Server::Smsr,
    }
}

/// An interface name of an endpoint: `ES<n>` (any case) or `webhook` (the MNO's warehouse webhook).
fn interface_name(s: &str) -> Result<String, String> {
    let upper = s.to_ascii_uppercase();
    if upper.len() > 2 && upper.starts_with("ES") && upper[2..].bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(upper);
    }
    if s.eq_ignore_ascii_case(smdp::warehouse::stock::WEBHOOK_ENDPOINT) {
        return Ok(smdp::warehouse::stock::WEBHOOK_ENDPOINT.to_string());
    }
    Err(format!(
        "unknown interface {s:?} (ES2, ES3, ES4, ES7, … or webhook)"
    ))
}

/// Checks an endpoint URL: well-formed, `https`, no credentials (the rule of outgoing calls).
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("malformed URL {url:?}: {e}"))?;
    if parsed.scheme() != "https" {
        return Err(format!(
            "endpoint {url} is not https: the servers call only https endpoints"
        ));
    }
    es_runtime::destination::https_origin(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The SHA-256 fingerprint of a PEM certificate file.
pub fn cert_fingerprint(path: &Path) -> Result<[u8; 32], String> {
    Ok(read_cert(path)?.sha256_fingerprint())
}

fn read_cert(path: &Path) -> Result<certs::x509::X509Certificate, String> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read certificate {}: {e}", path.display()))?;
    certs::x509::X509Certificate::from_pem(&pem)
        .map_err(|e| format!("{} is not a PEM X.509 certificate: {e}", path.display()))
}

fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let clean: String = s.chars().filter(|c| *c != ':').collect();
    let bytes =
        hex_decode(&clean).ok_or_else(|| format!("fingerprint {s:?} is not 64 hex digits"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("fingerprint {s:?} is not 64 hex digits"))
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An [`EntitySpec`] checked and with its files read: what is to be stored.
#[derive(Debug, Clone)]
pub struct Prepared {
    oid: String,
    role: EntityRole,
    name: String,
    server: Server,
    endpoints: Option<BTreeMap<String, String>>,
    fingerprints: Option<BTreeSet<[u8; 32]>>,
    gp_certificate: Option<Vec<u8>>,
}

impl Prepared {
    /// Checks `spec` (relative file paths taken from `base`) and reads its certificates.
    pub fn new(spec: &EntitySpec, base: &Path) -> Result<Prepared, String> {
        let at = |e: String| format!("entity {}: {e}", spec.oid);
        if spec.oid.trim().is_empty() {
            return Err("an entity needs an OID".into());
        }
        spec.oid
            .parse::<es_interfaces::types::Oid>()
            .map_err(|e| at(format!("bad OID: {e}")))?;
        let role = parse_role(&spec.role).map_err(at)?;
        let endpoints = match &spec.endpoints {
            None => None,
            Some(map) => {
                let mut out = BTreeMap::new();
                for (k, v) in map {
                    let name = interface_name(k).map_err(at)?;
                    check_url(v).map_err(at)?;
                    out.insert(name, v.clone());
                }
                Some(out)
            }
        };
        let path = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        let fingerprints = match &spec.tls_certs {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|p| cert_fingerprint(&path(p)).map_err(at))
                    .collect::<Result<BTreeSet<_>, _>>()?,
            ),
        };
        let gp_certificate = match &spec.gp_cert {
            None => None,
            Some(p) => Some(read_cert(&path(p)).map_err(at)?.der().to_vec()),
        };
        Ok(Prepared {
            oid: spec.oid.clone(),
            role,
            name: spec.name.clone(),
            server: spec.server.unwrap_or_else(|| default_server(role)),
            endpoints,
            fingerprints,
            gp_certificate,
        })
    }

    /// The entity as it is to be stored on `side`, over what the store has (`known`).
    fn entity(&self, side: Side, known: Option<&Entity>) -> Entity {
        Entity {
            oid: self.oid.clone(),
            role: self.role,
            name: self.name.clone(),
            endpoints: self
                .endpoints
                .clone()
                .or_else(|| known.map(|k| k.endpoints.clone()))
                .unwrap_or_default(),
            allowed_interfaces: allowed_interfaces(side, self.role),
            gp_certificate: self
                .gp_certificate
                .clone()
                .or_else(|| known.and_then(|k| k.gp_certificate.clone())),
            fingerprints: self
                .fingerprints
                .clone()
                .or_else(|| known.map(|k| k.fingerprints.clone()))
                .unwrap_or_default(),
        }
    }
}

fn store_err(side: Side) -> impl Fn(eis_store::StoreError) -> String {
    move |e| format!("{}: {e}", side.store_name())
}

/// Fails if one of `fps` authenticates an entity other than `oid` in `store`.
fn check_fingerprints_free(
    store: &Store,
    side: Side,
    oid: &str,
    fps: &BTreeSet<[u8; 32]>,
) -> Result<(), String> {
    let mut conn = store.conn().map_err(store_err(side))?;
    for fp in fps {
        if let Some(owner) =
            entities::find_by_fingerprint(&mut conn, fp).map_err(store_err(side))?
            && owner.oid != oid
        {
            return Err(format!(
                "the certificate {} already authenticates {} ({}) in {}",
                hex(fp),
                owner.oid,
                owner.name,
                side.store_name()
            ));
        }
    }
    Ok(())
}

/// What [`apply`] did to one entity in one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Registered.
    Created,
    /// Changed to what the declaration says.
    Updated,
    /// Already as declared.
    Unchanged,
}

/// A failure inside the transaction of [`apply`], as its message.
struct Failed(String);

impl From<eis_store::StoreError> for Failed {
    fn from(e: eis_store::StoreError) -> Self {
        Failed(e.to_string())
    }
}

/// Makes the entities declared in the configuration's `entities:` section that concern `side` what the
/// declaration says in `store`: registered when absent, the declared fields replaced when they differ, left
/// alone when they are already so (idempotent). Every entity is checked before anything is written.
pub fn apply(
    store: &Store,
    side: Side,
    declared: &[Prepared],
) -> Result<Vec<(String, Applied)>, String> {
    let mine: Vec<&Prepared> = declared
        .iter()
        .filter(|p| p.server.sides().contains(&side))
        .collect();
    let mut plan = Vec::new();
    {
        let mut conn = store.conn().map_err(store_err(side))?;
        for p in &mine {
            let known = entities::get_entity(&mut conn, &p.oid).map_err(store_err(side))?;
            let want = p.entity(side, known.as_ref());
            let what = match &known {
                None => Applied::Created,
                Some(k) if *k == want => Applied::Unchanged,
                Some(_) => Applied::Updated,
            };
            plan.push((want, what));
        }
    }
    for (want, what) in &plan {
        if *what != Applied::Unchanged {
            check_fingerprints_free(store, side, &want.oid, &want.fingerprints)?;
        }
    }
    let mut conn = store.conn().map_err(store_err(side))?;
    let now = eis_store::now_millis();
    // One transaction per store: either every declared entity is applied there, or none.
    eis_store::savepoint(&mut conn, |c| {
        for (want, what) in &plan {
            match what {
                Applied::Created => entities::create_entity(c, want, now),
                Applied::Updated => entities::update_entity(c, want, now),
                Applied::Unchanged => Ok(()),
            }
            .map_err(|e| Failed(format!("entity {} in {}: {e}", want.oid, side.store_name())))?;
        }
        Ok::<_, Failed>(())
    })
    .map_err(|Failed(message)| message)?;
    Ok(plan
        .into_iter()
        .map(|(want, what)| (want.oid, what))
        .collect())
}

/// Checks every entry of the configuration's `entities:` section (relative paths from `var_dir`).
pub fn prepare_config(config: &Config) -> Result<Vec<Prepared>, String> {
    let mut seen = BTreeSet::new();
    let mut owners: BTreeMap<[u8; 32], String> = BTreeMap::new();
    let mut out = Vec::new();
    for spec in &config.entities {
        if !seen.insert(spec.oid.clone()) {
            return Err(format!(
                "configuration `entities`: {} is declared twice",
                spec.oid
            ));
        }
        let p = Prepared::new(spec, &config.var_dir)
            .map_err(|e| format!("configuration `entities`: {e}"))?;
        for fp in p.fingerprints.iter().flatten() {
            if let Some(other) = owners.insert(*fp, p.oid.clone()) {
                return Err(format!(
                    "configuration `entities`: the certificate {} is declared for {other} and {}",
                    hex(fp),
                    p.oid
                ));
            }
        }
        out.push(p);
    }
    Ok(out)
}

fn open(config: &Config, side: Side, stores: &StoreArgs) -> Result<Store, String> {
    let (server, url): (&ServerConfig, &Option<String>) = match side {
        Side::Smsr => (&config.smsr, &stores.smsr_database_url),
        Side::Smdp => (&config.smdp, &stores.smdp_database_url),
    };
    let mut server = server.clone();
    if let Some(url) = url {
        server.database_url = url.clone();
    }
    server.pool_size = server.pool_size.clamp(1, 2);
    setup::open_store(config, &server).map_err(|e| e.to_string())
}

/// The stores a command on `oid` concerns, opened, with the entity as each has it: the `--server` ones (the
/// entity must be registered in each) or, without `--server`, every store in which it is registered.
fn stores_of(
    config: &Config,
    stores: &StoreArgs,
    oid: &str,
) -> Result<Vec<(Side, Store, Entity)>, String> {
    let sides = stores.server.unwrap_or(Server::Both).sides();
    let mut out = Vec::new();
    for &side in sides {
        let store = open(config, side, stores)?;
        let known = {
            let mut conn = store.conn().map_err(store_err(side))?;
            entities::get_entity(&mut conn, oid).map_err(store_err(side))?
        };
        match known {
            Some(e) => out.push((side, store, e)),
            None if stores.server.is_some() => {
                return Err(format!(
                    "unknown entity {oid}: not registered in {}",
                    side.store_name()
                ));
            }
            None => {}
        }
    }
    if out.is_empty() {
        return Err(format!(
            "unknown entity {oid}: registered in neither the SM-SR's nor the SM-DP's store"
        ));
    }
    Ok(out)
}

/// Runs `rsp entity …`.
pub fn run(config: &Config, command: EntityCommand) -> Result<(), String> {
    match command {
        EntityCommand::Add {
            oid,
            role,
            name,
            endpoints,
            tls_certs,
            gp_cert,
            stores,
        } => {
            let mut map = BTreeMap::new();
            for e in &endpoints {
                let (k, v) = e
                    .split_once('=')
                    .ok_or_else(|| format!("--endpoint {e:?}: expected INTERFACE=URL"))?;
                map.insert(k.to_string(), v.to_string());
            }
            let spec = EntitySpec {
                oid: oid.clone(),
                role,
                name,
                server: stores.server,
                endpoints: Some(map),
                tls_certs: Some(tls_certs),
                gp_cert,
            };
            let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
            let p = Prepared::new(&spec, &cwd)?;
            let mut targets = Vec::new();
            for &side in p.server.sides() {
                let store = open(config, side, &stores)?;
                let known = {
                    let mut conn = store.conn().map_err(store_err(side))?;
                    entities::get_entity(&mut conn, &oid).map_err(store_err(side))?
                };
                if let Some(k) = known {
                    return Err(format!(
                        "entity {oid} is already registered in {} (as {} {:?}); change it with set-endpoint, add-cert or revoke-cert",
                        side.store_name(),
                        k.role.as_str(),
                        k.name
                    ));
                }
                let want = p.entity(side, None);
                check_fingerprints_free(&store, side, &oid, &want.fingerprints)?;
                targets.push((side, store, want));
            }
            for (side, store, want) in targets {
                let mut conn = store.conn().map_err(store_err(side))?;
                entities::create_entity(&mut conn, &want, eis_store::now_millis())
                    .map_err(store_err(side))?;
                println!(
                    "registered {} {} ({}) in {}",
                    want.role.as_str(),
                    want.oid,
                    want.name,
                    side.store_name()
                );
            }
            Ok(())
        }
        EntityCommand::List { role, json, stores } => {
            let role = role.as_deref().map(parse_role).transpose()?;
            let mut rows = Vec::new();
            for &side in stores.server.unwrap_or(Server::Both).sides() {
                let store = open(config, side, &stores)?;
                let mut conn = store.conn().map_err(store_err(side))?;
                for e in entities::list_entities(&mut conn, role).map_err(store_err(side))? {
                    rows.push((side, e));
                }
            }
            if json {
                let list: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(side, e)| {
                        serde_json::json!({
                            "server": side.label(),
                            "oid": e.oid,
                            "role": e.role.as_str(),
                            "name": e.name,
                            "endpoints": e.endpoints,
                            "allowed_interfaces": e.allowed_interfaces,
                            "tls_cert_sha256": e.fingerprints.iter().map(|f| hex(f)).collect::<Vec<_>>(),
                            "gp_certificate": e.gp_certificate.is_some(),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?
                );
            } else {
                for (side, e) in &rows {
                    println!(
                        "{} {} {} {:?}",
                        side.label(),
                        e.oid,
                        e.role.as_str(),
                        e.name
                    );
                    for (k, v) in &e.endpoints {
                        println!("  endpoint {k} {v}");
                    }
                    for f in &e.fingerprints {
                        println!("  tls-cert sha256 {}", hex(f));
                    }
                    if e.gp_certificate.is_some() {
                        println!("  gp-certificate registered");
                    }
                }
            }
            Ok(())
        }
        EntityCommand::SetEndpoint {
            oid,
            interface,
            url,
            remove,
            stores,
        } => {
            let interface = interface_name(&interface)?;
            if let Some(url) = &url {
                check_url(url)?;
            }
            let targets = stores_of(config, &stores, &oid)?;
            if remove
                && let Some((side, _, _)) = targets
                    .iter()
                    .find(|(_, _, e)| !e.endpoints.contains_key(&interface))
            {
                return Err(format!(
                    "entity {oid} has no {interface} endpoint in {}",
                    side.store_name()
                ));
            }
            for (side, store, mut e) in targets {
                match &url {
                    Some(url) if !remove => {
                        e.endpoints.insert(interface.clone(), url.clone());
                    }
                    _ => {
                        e.endpoints.remove(&interface);
                    }
                }
                let mut conn = store.conn().map_err(store_err(side))?;
                entities::update_entity(&mut conn, &e, eis_store::now_millis())
                    .map_err(store_err(side))?;
                match (&url, remove) {
                    (Some(url), false) => println!(
                        "{oid} {interface} endpoint set to {url} in {}",
                        side.store_name()
                    ),
                    _ => println!(
                        "{oid} {interface} endpoint removed in {}",
                        side.store_name()
                    ),
                }
            }
            Ok(())
        }
        EntityCommand::AddCert { oid, cert, stores } => {
            let fp = cert_fingerprint(&cert)?;
            let targets = stores_of(config, &stores, &oid)?;
            for (side, store, e) in &targets {
                if e.fingerprints.contains(&fp) {
                    return Err(format!(
                        "the certificate {} is already registered for {oid} in {}",
                        hex(&fp),
                        side.store_name()
                    ));
                }
                check_fingerprints_free(store, *side, &oid, &BTreeSet::from([fp]))?;
            }
            for (side, store, _) in targets {
                let mut conn = store.conn().map_err(store_err(side))?;
                entities::add_fingerprint(&mut conn, &oid, &fp).map_err(store_err(side))?;
                println!(
                    "certificate {} added to {oid} in {}",
                    hex(&fp),
                    side.store_name()
                );
            }
            Ok(())
        }
        EntityCommand::RevokeCert {
            oid,
            cert,
            fingerprint,
            stores,
        } => {
            let fp = match (&cert, &fingerprint) {
                (Some(path), _) => cert_fingerprint(path)?,
                (None, Some(f)) => parse_fingerprint(f)?,
                (None, None) => return Err("give --cert or --fingerprint".into()),
            };
            let mut targets = stores_of(config, &stores, &oid)?;
            if stores.server.is_some() {
                if let Some((side, _, _)) = targets
                    .iter()
                    .find(|(_, _, e)| !e.fingerprints.contains(&fp))
                {
                    return Err(format!(
                        "the certificate {} is not registered for {oid} in {}",
                        hex(&fp),
                        side.store_name()
                    ));
                }
            } else {
                targets.retain(|(_, _, e)| e.fingerprints.contains(&fp));
                if targets.is_empty() {
                    return Err(format!(
                        "the certificate {} is not registered for {oid}",
                        hex(&fp)
                    ));
                }
            }
            for (side, store, _) in targets {
                let mut conn = store.conn().map_err(store_err(side))?;
                entities::remove_fingerprint(&mut conn, &fp).map_err(store_err(side))?;
                println!(
                    "certificate {} of {oid} revoked in {} (a running server refuses it once its caller cache no longer holds it)",
                    hex(&fp),
                    side.store_name()
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_interfaces_urls_and_fingerprints_are_checked() {
        assert_eq!(parse_role("SM-DP"), Ok(EntityRole::SmDp));
        assert_eq!(parse_role("euicc-owner"), Ok(EntityRole::EuiccOwner));
        assert!(parse_role("operator").is_err());
        assert_eq!(interface_name("es4"), Ok("ES4".to_string()));
        assert_eq!(interface_name("Webhook"), Ok("webhook".to_string()));
        assert!(interface_name("ES").is_err());
        assert!(interface_name("http").is_err());
        assert!(check_url("https://mno.example:8443/es4").is_ok());
        assert!(check_url("not a url").unwrap_err().contains("malformed"));
        assert!(
            check_url("http://mno.example/es4")
                .unwrap_err()
                .contains("not https")
        );
        assert!(check_url("https://u:p@mno.example/").is_err());
        let fp = "ab".repeat(32);
        assert_eq!(parse_fingerprint(&fp), Ok([0xab; 32]));
        assert!(parse_fingerprint("ab:cd").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
        assert_eq!(
            allowed_interfaces(Side::Smdp, EntityRole::Mno),
            BTreeSet::from(["ES2".to_string(), "REST".to_string()])
        );
    }
}
