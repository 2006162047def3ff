//! Configuration of `rsp`: built-in defaults, then a YAML file (`--config`), then environment overrides
//! (`RSP_<SECTION>__<KEY>=value`, e.g. `RSP_SMSR__DATABASE_URL=postgres://…`), then command-line flags.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_norway::Value;

/// Errors while loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file or an override is not valid YAML for the configuration.
    #[error("invalid configuration ({origin}): {message}")]
    Invalid {
        /// Where the bad value came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration of one `rsp` process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for state: SQLite databases, the generated test PKI, logs.
    pub var_dir: PathBuf,
    /// The PKI directory (created by `rsp pki init`, or on the first `rsp serve` when absent).
    /// Relative paths are taken from `var_dir`.
    pub pki_dir: PathBuf,
    /// How many test eUICC identities the first start generates.
    pub test_euiccs: usize,
    /// The SM-SR.
    pub smsr: ServerConfig,
    /// The SM-DP.
    pub smdp: ServerConfig,
    /// ES5 delivery of the SM-SR (SMS through an SMSC over SMPP).
    pub es5: Es5Config,
    /// The SM-SR's ESM2M listener: the eUICC owners' REST API (bearer tokens, no client certificate).
    pub esm2m: Esm2mConfig,
    /// The test world's MNOs as `rsp mno` plays them: where their callback listeners are.
    pub mno: MnoConfig,
    /// Outgoing calls of both servers (callbacks, notifications, relayed requests).
    pub outgoing: OutgoingConfig,
    /// Limits on what callers may make the servers hold (uploads, lines, SMS segments).
    pub limits: LimitsConfig,
    /// Entities of a fixed deployment (MNOs, SM-DP, SM-SR, EUMs: endpoints and certificates), applied to the
    /// stores at each `rsp serve` start (see `rsp entity` and the README).
    pub entities: Vec<crate::entity::EntitySpec>,
}

/// The SM-SR's listener of the eUICC owners' REST API (ESM2M, design §1): TLS with the SM-SR's server
/// certificate, no client certificate (owners authenticate with bearer tokens).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Esm2mConfig {
    /// Whether the SM-SR opens the listener.
    pub enabled: bool,
    /// Address it listens on.
    pub listen: String,
    /// URL under which owners reach it (the API is under `<public_url>/esm2m/v1/`).
    pub public_url: String,
    /// HTTP worker threads.
    pub workers: usize,
    /// How long a webhook delivery is retried (with backoff) before it is given up, in seconds (default one
    /// day).
    pub webhook_retry_secs: u64,
    /// PEM file of CA certificates trusted for webhook targets besides the system's root CAs (a lab's test CA;
    /// relative to the working directory). Unset: the system's roots only.
    pub webhook_ca_file: Option<PathBuf>,
}

impl Default for Esm2mConfig {
    fn default() -> Self {
        Esm2mConfig {
            enabled: true,
            listen: "127.0.0.1:8445".into(),
            public_url: "https://localhost:8445".into(),
            workers: 2,
            webhook_retry_secs: 24 * 3600,
            webhook_ca_file: None,
        }
    }
}

impl Esm2mConfig {
    /// The base URL of the API (`<public_url>/esm2m/v1/`).
    pub fn base_url(&self) -> String {
        format!(
            "{}{}/",
            self.public_url.trim_end_matches('/'),
            smsr::esm2m::BASE_PATH
        )
    }
}

/// Outgoing calls (SGP.02 §2.6): https only, to the endpoints registered for an entity or to the origins
/// listed here, trusting only the PKI's TLS CA, no redirects, bounded in time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutgoingConfig {
    /// Origins (`https://host[:port]`) a caller may name as `wsa:ReplyTo` besides its registered endpoints.
    pub allow_list: Vec<String>,
    /// Longest exchange of one outgoing call, seconds (connection set-up: at most 10 s of it).
    pub timeout_secs: u64,
}

impl Default for OutgoingConfig {
    fn default() -> Self {
        OutgoingConfig {
            allow_list: Vec::new(),
            timeout_secs: 30,
        }
    }
}

impl OutgoingConfig {
    /// The destination rule of both servers.
    pub fn policy(
        &self,
    ) -> Result<es_runtime::destination::OutgoingPolicy, es_runtime::destination::DestinationError>
    {
        es_runtime::destination::OutgoingPolicy::new(&self.allow_list)
    }

    /// The bound of one outgoing exchange.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.clamp(1, 600))
    }
}

/// The callback listeners of the test world's MNOs: `rsp serve` registers them as each MNO's ES2 and ES4
/// endpoints, `rsp mno` listens there for the asynchronous results (SGP.02 Annex B, `wsa:ReplyTo`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MnoConfig {
    /// Port of the world's MNO 1; MNO n listens on `first_port + n - 1`.
    pub first_port: u16,
    /// Address the listeners bind.
    pub listen_host: String,
    /// Host name in the registered URLs (the MNO server certificates name `localhost`).
    pub public_host: String,
}

impl Default for MnoConfig {
    fn default() -> Self {
        MnoConfig {
            first_port: 8601,
            listen_host: "127.0.0.1".into(),
            public_host: "localhost".into(),
        }
    }
}

impl MnoConfig {
    /// The port of the world's MNO `index` (0-based).
    pub fn port(&self, index: usize) -> u16 {
        let offset = u16::try_from(index).unwrap_or(u16::MAX);
        self.first_port.saturating_add(offset)
    }

    /// The address the listener of the world's MNO `index` (0-based) binds.
    pub fn listen(&self, index: usize) -> String {
        format!("{}:{}", self.listen_host, self.port(index))
    }

    /// The endpoint URL registered for the world's MNO `index` (0-based) on `interface` ("ES2" or "ES4").
    pub fn endpoint(&self, index: usize, interface: &str) -> String {
        endpoint_url(&self.public_host, self.port(index), interface)
    }
}

/// `https://host:port/es2` or `…/es4`: an MNO's callback endpoint for `interface`.
pub fn endpoint_url(host: &str, port: u16, interface: &str) -> String {
    format!("https://{host}:{port}/{}", interface.to_ascii_lowercase())
}

/// ES5 of the SM-SR: the SMPP account towards the SMSC (off by default: ES5 functions then fail with 1.2/3.8
/// saying so) and the delivery timings (SGP.02 §2.4.4; wire-profile §2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Es5Config {
    /// The SMSC account.
    pub smpp: SmppConfig,
    /// The SM-SR's MSISDN: source address of ES5 SMS, destination of PoRs and eUICC notifications.
    pub smsr_msisdn: String,
    /// First retransmission of a command without PoR after this many seconds (then doubling).
    pub por_timeout_secs: u64,
    /// Largest pause between retransmissions, seconds.
    pub max_retry_interval_secs: u64,
    /// Validity of an operation whose call has no ValidityPeriod, seconds.
    pub default_validity_secs: u64,
    /// Validity of the confirmation of an eUICC notification, seconds.
    pub notification_validity_secs: u64,
    /// Commands secured per delivery round.
    pub batch: usize,
    /// Most commands awaiting their PoR at once, over all eUICCs (flow control).
    pub max_in_flight: usize,
    /// Callbacks and notifications are retried for this many seconds.
    pub callback_give_up_secs: u64,
    /// ES5 over HTTPS: the SCP81 admin server (PSK-TLS 1.2, RAM over HTTP).
    pub https: HttpsConfig,
}

/// The SCP81 admin server of the SM-SR (wire-profile §3): its own port, off unless enabled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpsConfig {
    /// Start the admin server.
    pub enabled: bool,
    /// Address it listens on (PSK-TLS only, no certificate).
    pub listen: String,
    /// The admin URI path (first POST of a session; path of every Next-URI).
    pub admin_path: String,
    /// The PSK cache is read again from the store this often, seconds (and soon after an unknown identity).
    pub psk_refresh_secs: u64,
    /// Largest request body (a response script), bytes.
    pub max_body_bytes: usize,
    /// Per-eUICC channel (EID → `sms` or `https`), before the EIS capability `HttpSupport`.
    pub channel_overrides: std::collections::BTreeMap<String, smsr::scp81::channel::Channel>,
    /// IPv4 address and port the eUICCs are told to connect to (push SMS); default: `listen`. Without a usable
    /// one (a host name, port 0) no push SMS is sent.
    pub public_address: Option<String>,
    /// `Host:` the eUICCs are told to send.
    pub public_host: String,
    /// Push SMS per operation before its commands fall back to SMS.
    pub trigger_attempts: u32,
    /// Seconds the SM-SR waits for the session after each push SMS.
    pub connect_timeout_secs: u64,
    /// The eUICC's own connection retries (trigger retry policy).
    pub card_retries: u16,
    /// Seconds between the eUICC's own retries.
    pub card_retry_secs: u64,
}

impl Default for HttpsConfig {
    fn default() -> Self {
        let d = smsr::scp81::AdminSettings::default();
        HttpsConfig {
            enabled: false,
            listen: d.listen,
            admin_path: d.admin_path,
            psk_refresh_secs: d.psk_refresh.as_secs(),
            max_body_bytes: d.max_body_bytes,
            channel_overrides: Default::default(),
            public_address: None,
            public_host: "localhost".into(),
            trigger_attempts: 3,
            connect_timeout_secs: 60,
            card_retries: 2,
            card_retry_secs: 10,
        }
    }
}

impl HttpsConfig {
    /// The SM-SR's channel rule: HTTPS for the eUICCs that support it (or are set to it) when enabled.
    pub fn channels(&self) -> smsr::scp81::channel::ChannelPolicy {
        smsr::scp81::channel::ChannelPolicy {
            https_enabled: self.enabled,
            overrides: self
                .channel_overrides
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            trigger: self.trigger(),
        }
    }

    /// The push-SMS settings, when the address to announce is an IPv4 address with a port.
    fn trigger(&self) -> Option<smsr::scp81::channel::TriggerSettings> {
        let address: std::net::SocketAddrV4 = self
            .public_address
            .as_deref()
            .unwrap_or(&self.listen)
            .parse()
            .ok()
            .filter(|a: &std::net::SocketAddrV4| a.port() != 0)?;
        Some(smsr::scp81::channel::TriggerSettings {
            address,
            host: self.public_host.clone(),
            admin_path: self.admin_path.clone(),
            card_retries: self.card_retries,
            card_retry_interval: std::time::Duration::from_secs(self.card_retry_secs.max(1)),
            attempts: self.trigger_attempts.max(1),
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout_secs.max(1)),
        })
    }

    /// The admin server's settings, with `workers` HTTP worker threads.
    pub fn settings(&self, workers: usize) -> smsr::scp81::AdminSettings {
        smsr::scp81::AdminSettings {
            listen: self.listen.clone(),
            admin_path: self.admin_path.clone(),
            psk_refresh: std::time::Duration::from_secs(self.psk_refresh_secs.max(1)),
            max_body_bytes: self.max_body_bytes.max(1024),
            workers: workers.max(1),
        }
    }
}

/// The SMPP 3.4 account of the SM-SR at its SMSC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmppConfig {
    /// Connect to the SMSC (false: no ES5 transport).
    pub enabled: bool,
    /// SMSC host.
    pub host: String,
    /// SMSC port.
    pub port: u16,
    /// system_id of the account.
    pub system_id: String,
    /// password of the account.
    pub password: String,
    /// Number of transceiver binds.
    pub binds: usize,
    /// Outstanding submit_sm per bind.
    pub window_size: usize,
    /// submit_sm per second per bind (none: unpaced).
    pub throughput_per_bind: Option<f64>,
    /// submit_sm per second of the account shared by every SM-SR process on the database (none: no shared
    /// budget); each live process takes an equal share.
    pub throughput_total: Option<f64>,
    /// Carry the TP-UD in message_payload instead of short_message.
    pub use_message_payload: bool,
}

impl Default for SmppConfig {
    fn default() -> Self {
        SmppConfig {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 2775,
            system_id: "smsr".into(),
            password: "smsr".into(),
            binds: 1,
            window_size: 10,
            throughput_per_bind: None,
            throughput_total: None,
            use_message_payload: false,
        }
    }
}

impl Default for Es5Config {
    fn default() -> Self {
        Es5Config {
            smpp: SmppConfig::default(),
            smsr_msisdn: "4915550000".into(),
            por_timeout_secs: 30,
            max_retry_interval_secs: 600,
            default_validity_secs: 24 * 3600,
            notification_validity_secs: 3600,
            batch: 256,
            max_in_flight: 4096,
            callback_give_up_secs: 24 * 3600,
            https: HttpsConfig::default(),
        }
    }
}

impl Es5Config {
    /// The SM-SR's ES5 settings.
    pub fn settings(&self, limits: &LimitsConfig) -> smsr::service::Es5Settings {
        use std::time::Duration;
        smsr::service::Es5Settings {
            por_timeout: Duration::from_secs(self.por_timeout_secs.max(1)),
            max_retry_interval: Duration::from_secs(self.max_retry_interval_secs.max(1)),
            default_validity: Duration::from_secs(self.default_validity_secs.max(1)),
            notification_validity: Duration::from_secs(self.notification_validity_secs.max(1)),
            counter_skip: smsr::service::Es5Settings::default().counter_skip,
            batch: self.batch.max(1),
            max_in_flight: self.max_in_flight.max(1),
            reassembly_pending: limits.sms_pending_messages.max(1),
            reassembly_per_sender: limits.sms_pending_per_sender.max(1),
            smsr_msisdn: Some(self.smsr_msisdn.clone()),
        }
    }

    /// The SMPP client configuration (wire-profile §2 submit_sm fields, the SM-SR's MSISDN as source).
    pub fn smpp_client(&self) -> smsr::smpp::SmppClientConfig {
        let s = &self.smpp;
        let mut c = smsr::smpp::SmppClientConfig::new(
            s.host.clone(),
            s.port,
            s.system_id.clone(),
            es_interfaces::smpp::Password::new(s.password.clone()),
        );
        c.binds = s.binds.max(1);
        c.window_size = s.window_size.max(1);
        c.throughput_per_bind = s.throughput_per_bind;
        c.throughput_total = s.throughput_total;
        c.profile.source_addr = self.smsr_msisdn.clone();
        c.profile.use_message_payload = s.use_message_payload;
        c
    }
}

/// Limits on what one caller or one source can make the servers hold (disk, memory), each refused with a clear
/// error when exceeded: problem+json on REST, a refused order file, a dropped SMS segment (logged).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest order file uploaded over REST, bytes (413 beyond).
    pub max_upload_bytes: u64,
    /// Uploads one MNO may have spooling or importing at once (429 beyond).
    pub max_uploads_per_mno: usize,
    /// Bytes all uploads together may hold in the spool directory (507 beyond).
    pub max_spool_bytes: u64,
    /// Longest record of an order file (a line, or the lines of a quoted field spanning several), bytes.
    pub max_order_record_bytes: usize,
    /// Incomplete concatenated MO SMS held at once (in the database), over all senders.
    pub sms_pending_messages: usize,
    /// Incomplete concatenated MO SMS held at once (in the database) for one sender (MSISDN).
    pub sms_pending_per_sender: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_upload_bytes: 1 << 30,
            max_uploads_per_mno: 2,
            max_spool_bytes: 4 << 30,
            max_order_record_bytes: 64 << 10,
            sms_pending_messages: 10_000,
            sms_pending_per_sender: 8,
        }
    }
}

/// One server's listener and database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `sqlite://path`, a plain path, or `postgres://…`. Relative SQLite paths are taken from `var_dir`.
    pub database_url: String,
    /// Address of the mutual-TLS listener of the ES interfaces.
    pub listen: String,
    /// URL under which peers reach this server (used in wsa:From, ReplyTo and the WSDLs).
    pub public_url: String,
    /// Largest accepted request body; bigger ones get 413.
    pub max_body_bytes: usize,
    /// Database connection pool size.
    pub pool_size: u32,
    /// HTTP worker threads of the listener.
    pub workers: usize,
    /// How long a completed function call is kept so that a repeated FunctionCallIdentifier gets its answer
    /// (seconds; default 7 days); older ones are purged in the background. Read-only calls are never kept.
    pub function_call_retention_secs: u64,
    /// Address of the plain-HTTP metrics listener (`/metrics` in the Prometheus text format, `/health`,
    /// `/health/ready`); `null` turns it off. Meant for an internal address that Prometheus scrapes.
    pub metrics_listen: Option<String>,
    /// SM-SR only: which SM-SR of the world this server is (1 or 2; SGP.02 §3.8 SM-SR change): its OID, name,
    /// TLS server and client certificates and CERT.SR.ECDSA. Must stay 1 under `smdp`.
    pub identity: u8,
    /// SM-SR only: the other SM-SRs of the world and where their ES7 is reached (SGP.02 §5.7); each is registered
    /// at start as an entity of role SM-SR. Must stay empty under `smdp`.
    pub peers: Vec<SmsrPeer>,
    /// SM-SR only: file of this SM-SR's CERT.SR.ECDSA as the CI issued it (SGP.02 §2.3.2; sent in
    /// ES7.AuthenticateSMSR when it takes an eUICC over, §3.8): the GP certificate `7F21 …` as hex text,
    /// whitespace ignored (the format of the PKI directory's `certs/*.gp.hex`). Relative to `var_dir`. Set together
    /// with `sr_ecdsa_key`; unset: the world's CERT.SR.ECDSA of `identity`.
    pub sr_ecdsa_certificate: Option<PathBuf>,
    /// SM-SR only: file of SK.SR.ECDSA, the private key of `sr_ecdsa_certificate`: PKCS#8 PEM, mode 0600 (the
    /// format of the PKI directory's `keys/*.key.pem`). Relative to `var_dir`. A key that does not match the
    /// certificate's public key stops the start.
    pub sr_ecdsa_key: Option<PathBuf>,
}

/// Another SM-SR of the world, as an ES7 peer of this one (SGP.02 §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsrPeer {
    /// Its number in the world (1 or 2).
    pub identity: u8,
    /// Base URL of its ES listener (`https://host:port`); `null`: registered without an ES7 endpoint.
    #[serde(default)]
    pub url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            var_dir: PathBuf::from("var"),
            pki_dir: PathBuf::from("pki"),
            test_euiccs: 3,
            smsr: ServerConfig {
                database_url: "sqlite://smsr.db".into(),
                listen: "127.0.0.1:8443".into(),
                public_url: "https://localhost:8443".into(),
                max_body_bytes: 1 << 20,
                pool_size: 8,
                workers: 2,
                function_call_retention_secs: es_runtime::retention::DEFAULT_RETENTION.as_secs(),
                metrics_listen: Some("127.0.0.1:8490".into()),
                identity: 1,
                peers: Vec::new(),
                sr_ecdsa_certificate: None,
                sr_ecdsa_key: None,
            },
            smdp: ServerConfig {
                database_url: "sqlite://smdp.db".into(),
                listen: "127.0.0.1:9443".into(),
                public_url: "https://localhost:9443".into(),
                max_body_bytes: 1 << 20,
                pool_size: 8,
                workers: 2,
                function_call_retention_secs: es_runtime::retention::DEFAULT_RETENTION.as_secs(),
                metrics_listen: Some("127.0.0.1:9490".into()),
                identity: 1,
                peers: Vec::new(),
                sr_ecdsa_certificate: None,
                sr_ecdsa_key: None,
            },
            es5: Es5Config::default(),
            esm2m: Esm2mConfig::default(),
            mno: MnoConfig::default(),
            outgoing: OutgoingConfig::default(),
            limits: LimitsConfig::default(),
            entities: Vec::new(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Config::default().smsr
    }
}

impl Config {
    /// Defaults, overlaid with `file` (if any) and then with `RSP_…` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree =
            serde_norway::to_value(Config::default()).map_err(|e| ConfigError::Invalid {
                origin: "defaults".into(),
                message: e.to_string(),
            })?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let overlay: Value =
                serde_norway::from_str(&text).map_err(|e| ConfigError::Invalid {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                })?;
            merge(&mut tree, overlay);
        }
        for (key, value) in env {
            let Some(path) = key.strip_prefix("RSP_") else {
                continue;
            };
            if !path.contains("__") && !TOP_LEVEL_KEYS.contains(&path.to_ascii_lowercase().as_str())
            {
                continue;
            }
            let segments: Vec<String> = path.split("__").map(|s| s.to_ascii_lowercase()).collect();
            let scalar: Value =
                serde_norway::from_str(&value).unwrap_or(Value::String(value.clone()));
            set_path(&mut tree, &segments, scalar).map_err(|message| ConfigError::Invalid {
                origin: key.clone(),
                message,
            })?;
        }
        let config: Config = serde_norway::from_value(tree).map_err(|e| ConfigError::Invalid {
            origin: "merged configuration".into(),
            message: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// Settings that are valid one by one but not together.
    fn check(&self) -> Result<(), ConfigError> {
        if self.es5.https.enabled && !self.es5.smpp.enabled {
            return Err(ConfigError::Invalid {
                origin: "es5.https.enabled".into(),
                message: "ES5 over HTTPS needs an SMPP account (es5.smpp.enabled): the push SMS that opens an \
                          admin session, the fall-back to SMS and the eUICC's notifications go by SMS \
                          (wire-profile §3)"
                    .into(),
            });
        }
        let invalid = |origin: &str, message: String| ConfigError::Invalid {
            origin: origin.into(),
            message,
        };
        if self.smdp.identity != 1
            || !self.smdp.peers.is_empty()
            || self.smdp.sr_ecdsa_certificate.is_some()
            || self.smdp.sr_ecdsa_key.is_some()
        {
            return Err(invalid(
                "smdp",
                "identity, peers, sr_ecdsa_certificate and sr_ecdsa_key are SM-SR settings (smsr.…)".into(),
            ));
        }
        if self.smsr.sr_ecdsa_certificate.is_some() != self.smsr.sr_ecdsa_key.is_some() {
            return Err(invalid(
                "smsr.sr_ecdsa_certificate",
                "CERT.SR.ECDSA and SK.SR.ECDSA come together: set both smsr.sr_ecdsa_certificate and \
                 smsr.sr_ecdsa_key, or neither (the world's)"
                    .into(),
            ));
        }
        if !(1..=2).contains(&self.smsr.identity) {
            return Err(invalid(
                "smsr.identity",
                format!(
                    "{} is not an SM-SR of the world (1 or 2)",
                    self.smsr.identity
                ),
            ));
        }
        let mut seen = vec![self.smsr.identity];
        for p in &self.smsr.peers {
            if !(1..=2).contains(&p.identity) || seen.contains(&p.identity) {
                return Err(invalid(
                    "smsr.peers",
                    format!(
                        "SM-SR {} is not another SM-SR of the world (1 or 2, not this one, once)",
                        p.identity
                    ),
                ));
            }
            seen.push(p.identity);
        }
        Ok(())
    }

    /// The world's SM-SRs this configuration knows the ES base URL of: this one (`smsr.identity` at
    /// `smsr.public_url`) first, then `smsr.peers` (SGP.02 §3.8).
    pub fn smsr_urls(&self) -> Vec<(u8, Option<String>)> {
        let mut v = vec![(self.smsr.identity, Some(self.smsr.public_url.clone()))];
        v.extend(self.smsr.peers.iter().map(|p| (p.identity, p.url.clone())));
        v
    }

    /// Reader limits of order files and where the report of a long refusal goes (`<var_dir>/order-reports`).
    pub fn import_options(&self) -> smdp::warehouse::import::ImportOptions {
        smdp::warehouse::import::ImportOptions {
            limits: smdp::batch::Limits {
                max_record_bytes: self.limits.max_order_record_bytes.max(1),
            },
            report_dir: Some(self.var_dir.join("order-reports")),
        }
    }

    /// The limits of the SM-DP's REST API.
    pub fn rest_config(&self) -> smdp::rest::RestConfig {
        smdp::rest::RestConfig {
            max_upload_bytes: self.limits.max_upload_bytes,
            max_uploads_per_mno: self.limits.max_uploads_per_mno.max(1),
            max_spool_bytes: self.limits.max_spool_bytes,
            spool_dir: None,
            import: self.import_options(),
        }
    }

    /// `pki_dir` resolved against `var_dir`.
    pub fn pki_path(&self) -> PathBuf {
        self.var_dir.join(&self.pki_dir)
    }

    /// A database URL with a relative SQLite path resolved against `var_dir`.
    pub fn resolve_database_url(&self, url: &str) -> String {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return url.to_string();
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let path = Path::new(path);
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.var_dir.join(path)
        };
        format!("sqlite://{}", full.display())
    }
}

/// Environment variables without `__` that name a top-level key.
const TOP_LEVEL_KEYS: &[&str] = &["var_dir", "pki_dir", "test_euiccs"];

fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn set_path(tree: &mut Value, segments: &[String], value: Value) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        return Err("empty key".into());
    };
    let Value::Mapping(map) = tree else {
        return Err(format!("`{first}` is not inside a section"));
    };
    let key = Value::String(first.clone());
    let Some(slot) = map.get_mut(&key) else {
        return Err(format!("unknown configuration key `{first}`"));
    };
    if rest.is_empty() {
        *slot = value;
        Ok(())
    } else {
        set_path(slot, rest, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_without_smpp_is_refused() {
        let env = |smpp: &str| {
            vec![
                ("RSP_ES5__HTTPS__ENABLED".to_string(), "true".to_string()),
                ("RSP_ES5__SMPP__ENABLED".to_string(), smpp.to_string()),
            ]
        };
        match Config::load(None, env("false")) {
            Err(ConfigError::Invalid { origin, message }) => {
                assert_eq!(origin, "es5.https.enabled");
                assert!(message.contains("es5.smpp.enabled"), "{message}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let config = Config::load(None, env("true")).expect("HTTPS with SMPP");
        assert!(config.es5.https.enabled && config.es5.smpp.enabled);
    }

    #[test]
    fn defaults_file_env_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rsp.yaml");
        std::fs::write(
            &file,
            "smsr:\n  listen: 0.0.0.0:1000\n  max_body_bytes: 4096\nvar_dir: /srv/rsp\n",
        )
        .unwrap();
        let env = vec![
            ("RSP_SMSR__LISTEN".to_string(), "0.0.0.0:2000".to_string()),
            (
                "RSP_SMDP__DATABASE_URL".to_string(),
                "postgres://db/smdp".to_string(),
            ),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.smsr.listen, "0.0.0.0:2000");
        assert_eq!(c.smsr.max_body_bytes, 4096);
        assert_eq!(c.smdp.database_url, "postgres://db/smdp");
        assert_eq!(c.var_dir, PathBuf::from("/srv/rsp"));
        assert_eq!(c.smdp.listen, "127.0.0.1:9443");
        assert_eq!(
            c.resolve_database_url(&c.smsr.database_url),
            "sqlite:///srv/rsp/smsr.db"
        );
        assert_eq!(c.resolve_database_url("postgres://x/y"), "postgres://x/y");
    }

    /// `metrics_listen` has a default per server, is set by file or environment, and `null` turns it off.
    #[test]
    fn metrics_listener_is_configurable() {
        let d = Config::load(None, Vec::new()).unwrap();
        assert_eq!(d.smsr.metrics_listen.as_deref(), Some("127.0.0.1:8490"));
        assert_eq!(d.smdp.metrics_listen.as_deref(), Some("127.0.0.1:9490"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rsp.yaml");
        std::fs::write(&file, "smdp:\n  metrics_listen: null\n").unwrap();
        let env = vec![(
            "RSP_SMSR__METRICS_LISTEN".to_string(),
            "0.0.0.0:9100".to_string(),
        )];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.smsr.metrics_listen.as_deref(), Some("0.0.0.0:9100"));
        assert_eq!(c.smdp.metrics_listen, None);
    }

    #[test]
    fn esm2m_listener_is_configurable() {
        let d = Config::load(None, Vec::new()).unwrap();
        assert!(d.esm2m.enabled);
        assert_eq!(d.esm2m.listen, "127.0.0.1:8445");
        assert_eq!(d.esm2m.base_url(), "https://localhost:8445/esm2m/v1/");
        let c = Config::load(
            None,
            vec![
                ("RSP_ESM2M__LISTEN".into(), "0.0.0.0:7000".into()),
                (
                    "RSP_ESM2M__PUBLIC_URL".into(),
                    "https://owners.example/".into(),
                ),
                ("RSP_ESM2M__ENABLED".into(), "false".into()),
                ("RSP_ESM2M__WEBHOOK_RETRY_SECS".into(), "600".into()),
                ("RSP_ESM2M__WEBHOOK_CA_FILE".into(), "lab-ca.pem".into()),
            ],
        )
        .unwrap();
        assert_eq!(d.esm2m.webhook_retry_secs, 86_400);
        assert_eq!(d.esm2m.webhook_ca_file, None);
        assert_eq!(c.esm2m.webhook_retry_secs, 600);
        assert_eq!(
            c.esm2m.webhook_ca_file.as_deref(),
            Some(Path::new("lab-ca.pem"))
        );
        assert_eq!(c.esm2m.listen, "0.0.0.0:7000");
        assert!(!c.esm2m.enabled);
        assert_eq!(c.esm2m.base_url(), "https://owners.example/esm2m/v1/");
    }

    #[test]
    fn mno_endpoints_follow_the_first_port() {
        let c = Config::load(None, vec![("RSP_MNO__FIRST_PORT".into(), "9000".into())]).unwrap();
        assert_eq!(c.mno.listen(1), "127.0.0.1:9001");
        assert_eq!(c.mno.endpoint(0, "ES4"), "https://localhost:9000/es4");
        assert_eq!(c.mno.endpoint(1, "ES2"), "https://localhost:9001/es2");
    }

    #[test]
    fn limits_and_outgoing_are_configurable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rsp.yaml");
        std::fs::write(
            &file,
            "outgoing:\n  allow_list: [\"https://hooks.example:8443\"]\nlimits:\n  max_uploads_per_mno: 1\n",
        )
        .unwrap();
        let env = vec![(
            "RSP_LIMITS__SMS_PENDING_PER_SENDER".to_string(),
            "3".to_string(),
        )];
        let c = Config::load(Some(&file), env).unwrap();
        assert!(c.outgoing.policy().is_ok());
        assert_eq!(c.rest_config().max_uploads_per_mno, 1);
        assert_eq!(c.es5.settings(&c.limits).reassembly_per_sender, 3);
        assert_eq!(
            c.import_options().limits.max_record_bytes,
            LimitsConfig::default().max_order_record_bytes
        );
        let bad = Config {
            outgoing: OutgoingConfig {
                allow_list: vec!["http://cleartext.example".into()],
                ..OutgoingConfig::default()
            },
            ..Config::default()
        };
        assert!(bad.outgoing.policy().is_err());
    }

    /// SGP.02 §3.8: which SM-SR of the world this is and its ES7 peers, by file or environment; nonsense refused.
    #[test]
    fn smsr_identity_and_peers() {
        let d = Config::load(None, Vec::new()).unwrap();
        assert_eq!((d.smsr.identity, d.smsr.peers.len()), (1, 0));
        assert_eq!(
            d.smsr_urls(),
            vec![(1, Some("https://localhost:8443".to_string()))]
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rsp.yaml");
        std::fs::write(
            &file,
            "smsr:\n  peers:\n    - identity: 1\n      url: https://localhost:8443\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), vec![("RSP_SMSR__IDENTITY".into(), "2".into())]).unwrap();
        assert_eq!(c.smsr.identity, 2);
        assert_eq!(
            c.smsr_urls(),
            vec![
                (2, Some("https://localhost:8443".to_string())),
                (1, Some("https://localhost:8443".to_string()))
            ]
        );
        for env in [
            vec![("RSP_SMSR__IDENTITY".to_string(), "3".to_string())],
            vec![("RSP_SMDP__IDENTITY".to_string(), "2".to_string())],
            vec![("RSP_SMSR__PEERS".to_string(), "[{identity: 1}]".to_string())],
        ] {
            assert!(Config::load(None, env.clone()).is_err(), "{env:?}");
        }
        let peer = Config::load(
            None,
            vec![("RSP_SMSR__PEERS".into(), "[{identity: 2}]".into())],
        )
        .unwrap();
        assert_eq!(peer.smsr_urls()[1], (2, None));
    }

    /// SGP.02 §2.3.2: the SM-SR's own CERT.SR.ECDSA and SK.SR.ECDSA files, by file or environment, both or none,
    /// and only under `smsr`.
    #[test]
    fn sr_ecdsa_files_come_together() {
        let d = Config::load(None, Vec::new()).unwrap();
        assert_eq!(
            (d.smsr.sr_ecdsa_certificate, d.smsr.sr_ecdsa_key),
            (None, None)
        );
        let both = vec![
            (
                "RSP_SMSR__SR_ECDSA_CERTIFICATE".to_string(),
                "/etc/rsp/cert-sr.gp.hex".to_string(),
            ),
            (
                "RSP_SMSR__SR_ECDSA_KEY".to_string(),
                "sk-sr.key.pem".to_string(),
            ),
        ];
        let c = Config::load(None, both.clone()).unwrap();
        assert_eq!(
            c.smsr.sr_ecdsa_certificate.as_deref(),
            Some(Path::new("/etc/rsp/cert-sr.gp.hex"))
        );
        assert_eq!(
            c.smsr.sr_ecdsa_key.as_deref(),
            Some(Path::new("sk-sr.key.pem"))
        );
        for env in [
            vec![both[0].clone()],
            vec![both[1].clone()],
            vec![(
                "RSP_SMDP__SR_ECDSA_KEY".to_string(),
                "sk-sr.key.pem".to_string(),
            )],
        ] {
            assert!(Config::load(None, env.clone()).is_err(), "{env:?}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rsp.yaml");
        std::fs::write(&file, "smsr:\n  lissen: 0.0.0.0:1000\n").unwrap();
        let err = Config::load(Some(&file), Vec::new()).unwrap_err();
        assert!(err.to_string().contains("lissen"), "{err}");
        let err = Config::load(None, vec![("RSP_SMSR__NOPE".into(), "1".into())]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
