//! `rsp`: the GSMA SGP.02 SM-DP and SM-SR in one binary, with the tools around them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use rsp::config::Config;
#[cfg(feature = "lab")]
use rsp::{
    bench, conformance, download_bench, euicc, fleet_bench, https_bench, platform_bench,
    seed_bench, smsr_change_bench,
};
use rsp::{entity, fleet, keys, mno, order, owner, serve, setup};

/// An open-source GSMA SGP.02 SM-DP and SM-SR.
#[derive(Debug, Parser)]
#[command(name = "rsp", version, about)]
struct Cli {
    /// YAML configuration file (defaults, then this file, then RSP_<SECTION>__<KEY> variables, then flags).
    #[arg(long, global = true, env = "RSP_CONFIG")]
    config: Option<PathBuf>,
    /// Directory for databases and the generated PKI.
    #[arg(long, global = true)]
    var_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Starts the SM-SR and the SM-DP (generating the test PKI on the first start).
    Serve {
        /// Database of the SM-SR (`sqlite://path` or `postgres://…`).
        #[arg(long)]
        smsr_database_url: Option<String>,
        /// Database of the SM-DP (`sqlite://path` or `postgres://…`).
        #[arg(long)]
        smdp_database_url: Option<String>,
        /// Start only one of the servers.
        #[arg(long, value_enum)]
        only: Option<serve::Only>,
        /// Also start the test SMSC and the eUICC simulator for the world's eUICCs, route ES5 to them and
        /// register the world's EISs: a lab in one command.
        #[arg(long)]
        simulate: bool,
        /// With --simulate: how many of the world's SM-SRs to start (2: SM-SR 2 too, for the SM-SR change of
        /// SGP.02 §3.8, behind the same test SMSC, the two registered at each other as ES7 peers).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        smsrs: u8,
        /// Database of SM-SR 2 with --smsrs 2 (default: SQLite `smsr2.db` under the var dir).
        #[arg(long)]
        smsr2_database_url: Option<String>,
    },
    /// PKI tools.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// eUICC tools (the EUM side of ES1).
    Euicc {
        #[command(subcommand)]
        command: EuiccCommand,
    },
    /// The MNO's client: ES2 (SM-DP) and ES4 (SM-SR) calls with the MNO's certificate; waits for the
    /// asynchronous result on the MNO's registered endpoint and prints it (exit 1 on FAILED/EXPIRED).
    Mno {
        #[command(subcommand)]
        command: Box<mno::MnoCommand>,
    },
    /// SM-DP profile types (SAIP templates).
    ProfileType {
        #[command(subcommand)]
        command: order::ProfileTypeCommand,
    },
    /// SM-DP orders: import input files, export output files.
    Order {
        #[command(subcommand)]
        command: order::OrderCommand,
    },
    /// SM-DP stock levels per profile type.
    Stock(order::StockArgs),
    /// SM-DP profile downloads (ES2.DownloadProfile): the ones not done, and a retry of a failed clean-up.
    Download {
        #[command(subcommand)]
        command: order::DownloadCommand,
    },
    /// The registry of entities (MNOs, SM-DP, SM-SR, EUMs): endpoints and TLS client certificates, in the
    /// SM-SR's and/or the SM-DP's store.
    Entity {
        #[command(subcommand)]
        command: entity::EntityCommand,
    },
    /// eUICC owners of the SM-SR (ESM2M): the eUICCs each owns and their API tokens.
    Owner {
        #[command(subcommand)]
        command: owner::OwnerCommand,
    },
    /// The eUICC owner's client of the ESM2M API: its eUICCs, fleet switches, progress, results.
    Fleet {
        #[command(flatten)]
        connection: fleet::Connection,
        #[command(subcommand)]
        command: fleet::FleetCommand,
    },
    /// Master keys of the secrets at rest.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Benchmarks (they print figures).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The conformance suite (SGP.11 style): plays the peers of an SM-SR under test (EUM on ES1, SM-DP on ES3,
    /// MNOs on ES4, the SMSC and eUICCs on ES5) and of an SM-DP (MNOs on ES2), runs a catalogue of cases and
    /// writes JSON, JUnit XML and HTML reports.
    Conformance {
        #[command(subcommand)]
        command: ConformanceCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConformanceCommand {
    /// Prints the catalogue: each case's id, SGP.02 section, applicability, title and expected result.
    List {
        /// Print JSON (with preconditions and steps).
        #[arg(long)]
        json: bool,
    },
    /// Makes a peers directory (the suite's EUM, MNOs, SM-DP and eUICCs; kept if it exists) and prints what
    /// the SUT's operator must register.
    Init {
        /// The peers directory.
        #[arg(long)]
        peers: PathBuf,
        /// eUICCs of a new peers directory (at least 3: eUICC 2 is the ES2 cases', the last one is left for ES1).
        #[arg(long, default_value_t = 3)]
        euiccs: usize,
        /// Where the suite's MNO callback receiver will listen (host:port), for the endpoints to register.
        #[arg(long, default_value = "127.0.0.1:9444")]
        callback_listen: String,
        /// Where the suite's SMSC will listen (host:port), for the SUT's SMPP account (ES5 byte checks).
        #[arg(long)]
        smsc_listen: Option<String>,
        /// Where the suite will play the peers' SM-SR on ES3 (host:port), for an SM-DP under test to register.
        #[arg(long)]
        play_smsr: Option<String>,
    },
    /// Runs the catalogue (or the cases of --cases) against the SUT; exit 1 if a case fails or is inconclusive.
    Run {
        /// The servers under test: `smsr=https://HOST:PORT[,smdp=https://HOST:PORT]` (base URLs; services at the
        /// WSDL default paths).
        #[arg(long)]
        sut: String,
        /// The peers directory (`rsp conformance init`).
        #[arg(long)]
        peers: PathBuf,
        /// Comma-separated case id globs, e.g. `ES4-*,ES1-RegisterEIS-02`.
        #[arg(long)]
        cases: Option<String>,
        /// Directory for report.json, junit.xml and report.html.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Where the MNOs' callback receiver listens (its https://HOST:PORT/es4 registered at an SM-SR under test,
        /// https://HOST:PORT/es2 at an SM-DP).
        #[arg(long, default_value = "127.0.0.1:9444")]
        callback_listen: String,
        /// Features of the SUT that cases need: `es5` (it reaches the peers' eUICCs over ES5).
        #[arg(long = "feature", value_delimiter = ',')]
        features: Vec<String>,
        /// How long to wait for a callback or notification, seconds.
        #[arg(long, default_value_t = 60)]
        callback_timeout_secs: u64,
        /// The GSMA SGP.02 v3 XSD directory every message is validated against (without it: not validated,
        /// and the report says so).
        #[arg(long, env = "RSP_GSMA_XSD_DIR")]
        xsd: Option<PathBuf>,
        /// libxml2's xmllint (Debian: libxml2-utils), the XSD validator.
        #[arg(long, env = "RSP_XMLLINT", default_value = "xmllint")]
        xmllint: PathBuf,
        /// The suite as the SUT's SMSC (boxed: the largest options of the command).
        #[command(flatten)]
        smsc: Box<SmscRunArgs>,
        /// The suite plays the peers' SM-SR on ES3 here (host:port), with the peers' eUICCs simulated behind it
        /// (feature `play-smsr`: the ES3-Caller cases, and the ES2 cases' ES5 through it); the SUT's SM-DP
        /// registers https://HOST:PORT/esim-messaging/3/ES3/ES3SmSrService as the peers' SM-SR's ES3 endpoint.
        #[arg(long)]
        play_smsr: Option<String>,
    },
}

/// `rsp conformance run`'s options of the suite as the SUT's SMSC and of the eUICCs behind it (wire-profile §2, §3).
#[derive(Debug, clap::Args)]
struct SmscRunArgs {
    /// The suite plays the SUT's SMSC here (host:port) with the peers' eUICCs behind it (feature `smsc`: the
    /// ES5 cases); the SUT's SM-SR binds its SMPP account to it.
    #[arg(long)]
    smsc_listen: Option<String>,
    /// The SMPP system_id the suite's SMSC accepts (the SUT's `es5.smpp.system_id`).
    #[arg(long, default_value = "smsr")]
    smsc_system_id: String,
    /// The SMPP password the suite's SMSC accepts (the SUT's `es5.smpp.password`).
    #[arg(
        long,
        env = "RSP_CONFORMANCE_SMSC_PASSWORD",
        default_value = "smsr",
        hide_env_values = true
    )]
    smsc_password: String,
    /// The SUT reaches the peers' eUICC N (from 1) over HTTPS (wire-profile §3: its SM-SR's admin server on,
    /// HTTPS as that eUICC's channel, push SMS on): feature `https`, the ES5-HTTPS cases. Needs --smsc-listen.
    #[arg(long, value_name = "N")]
    https_euicc: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// SCP80-secured submit_sm per second through the test SMSC, with each bind count given.
    Sms {
        /// Bind counts to measure, one run each.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4])]
        binds: Vec<usize>,
        /// Messages per run.
        #[arg(long, default_value_t = 50_000)]
        messages: usize,
    },
    /// Complete enable-profile operations per second end to end (ES4 call to MNO notification) with N
    /// simulated eUICCs (registered directly in the SM-SR's store).
    Switch {
        /// Simulated eUICCs, one enable each.
        #[arg(long, default_value_t = 1_000)]
        euiccs: usize,
        /// ES4 calls in flight at once.
        #[arg(long, default_value_t = 128)]
        concurrency: usize,
        /// SMPP binds of the SM-SR.
        #[arg(long, default_value_t = 4)]
        binds: usize,
        /// Network attach delay of the simulated eUICCs, ms.
        #[arg(long, default_value_t = 100)]
        attach_delay_ms: u64,
        /// SM-SR database (`postgres://…`; default: SQLite in the bench directory).
        #[arg(long)]
        database_url: Option<String>,
        /// SM-SR processes sharing the database (above 1: PostgreSQL; the ES4 calls go to them in turn).
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// Directory for the bench world and databases (default: a fresh one under the var dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// SM-SR changes per second and the latency of one (ES4.SMSRChange to its callback) with N eUICCs of the
    /// world handed over from SM-SR 1 to SM-SR 2, each an independent hand-over.
    SmsrChange {
        /// eUICCs handed over (a world of that many is generated and registered over ES1).
        #[arg(long, default_value_t = 200)]
        euiccs: usize,
        /// Changes under way at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Network attach delay of the simulated eUICCs, ms.
        #[arg(long, default_value_t = 100)]
        attach_delay_ms: u64,
        /// SM-SR 2's database (`postgres://…`; default: SQLite in the bench directory).
        #[arg(long)]
        database_url: Option<String>,
        /// Directory for the bench world and databases (default: a fresh one under the var dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// An ESM2M fleet switch of N simulated eUICCs started with one API call: operations per second end to
    /// end and the latency of progress reads while it runs.
    Fleet {
        /// Simulated eUICCs (each one target).
        #[arg(long, default_value_t = 1_000)]
        euiccs: usize,
        /// The fleet operation's rate per second.
        #[arg(long, default_value_t = 10_000)]
        rate: i64,
        /// The fleet operation's maximum in flight.
        #[arg(long, default_value_t = 4_096)]
        max_in_flight: i64,
        /// SMPP binds of the SM-SR.
        #[arg(long, default_value_t = 4)]
        binds: usize,
        /// Network attach delay of the simulated eUICCs, ms.
        #[arg(long, default_value_t = 100)]
        attach_delay_ms: u64,
        /// SM-SR database (`postgres://…`; default: SQLite in the bench directory).
        #[arg(long)]
        database_url: Option<String>,
        /// Directory for the bench world and databases (default: a fresh one under the var dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// ES5 over HTTPS (SCP81): PSK-TLS handshake cost, admin sessions per second and script round trips per
    /// second with N simulated eUICCs against the admin server, then `switch` with every eUICC on HTTPS.
    Https {
        /// Simulated eUICCs (one session each per phase; one enable each end to end).
        #[arg(long, default_value_t = 200)]
        euiccs: usize,
        /// Simulated eUICCs with an admin session under way at once.
        #[arg(long, default_value_t = 32)]
        connecting: usize,
        /// Scripts queued per eUICC in the round-trip phase (one session each).
        #[arg(long, default_value_t = 10)]
        scripts: usize,
        /// Handshakes per cipher suite in the handshake-cost measurement.
        #[arg(long, default_value_t = 2000)]
        handshakes: usize,
        /// Leave out the end-to-end switch phase.
        #[arg(long)]
        no_switch: bool,
        /// ES4 calls in flight at once (end-to-end phase).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// SMPP binds of the SM-SR (push SMS and notifications).
        #[arg(long, default_value_t = 4)]
        binds: usize,
        /// Network attach delay of the simulated eUICCs, ms.
        #[arg(long, default_value_t = 100)]
        attach_delay_ms: u64,
        /// A PostgreSQL server (`postgres://…/postgres`): each phase gets a throw-away SM-SR database on it
        /// (default: SQLite in the bench directory).
        #[arg(long)]
        database_url: Option<String>,
        /// Directory for the bench world and databases (default: a fresh one under the var dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Complete profile downloads per second end to end (ES2.DownloadProfile with EnableProfile to the MNO's
    /// result) with N simulated eUICCs, latency, CPU and SMS per download, and the crypto floor of one download.
    Download {
        /// Simulated eUICCs, one download each.
        #[arg(long, default_value_t = 200)]
        euiccs: usize,
        /// ES2 calls in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// SMPP binds of the SM-SR.
        #[arg(long, default_value_t = 4)]
        binds: usize,
        /// Network attach delay of the simulated eUICCs, ms.
        #[arg(long, default_value_t = 100)]
        attach_delay_ms: u64,
        /// ValidityPeriod of each download, seconds.
        #[arg(long, default_value_t = 1800)]
        validity_secs: u64,
        /// Downloads computed for the crypto floor's mean.
        #[arg(long, default_value_t = 200)]
        floor_iterations: usize,
        /// A PostgreSQL server (`postgres://…/postgres`): both servers get a throw-away database on it
        /// (default: SQLite in the bench directory).
        #[arg(long)]
        database_url: Option<String>,
        /// Directory for the bench world and databases (default: a fresh one under the var dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Personalises and validates profile packages; prints packages per second.
    Personalise(order::BenchPersonaliseArgs),
    /// Fills an empty SM-SR database (PostgreSQL) with N eUICCs by COPY — security domains, sealed ISD-R keys,
    /// profiles, POL2, audit records, properties — and prints rows per table, eUICCs/s and bytes per eUICC.
    Seed {
        /// eUICCs to store.
        #[arg(long)]
        euiccs: usize,
        /// The SM-SR database (`postgres://…`), migrated if needed and holding no eUICC yet.
        #[arg(long)]
        database_url: String,
        /// Profiles per eUICC (1–3; the first enabled).
        #[arg(long, default_value_t = 3)]
        profiles_per_euicc: usize,
        /// Seed of the simulated fleet whose keys the eUICCs get (`Fleet::from_seed`).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// ES1.RegisterEIS and ES4.GetEIS per second with p50/p99 latency over mutual TLS (SM-SR in this process).
    Api {
        /// eUICCs to register.
        #[arg(long, default_value_t = 2000)]
        registrations: usize,
        /// Concurrent callers of the registration burst.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Offered rate of ES4.GetEIS calls per second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// Duration of the GetEIS phase in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Use PostgreSQL (a throw-away database on this server) instead of SQLite.
        #[arg(long, num_args = 0..=1, default_missing_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres: Option<String>,
        /// An existing SM-SR database filled by `rsp bench seed` (same configuration): no registration phase,
        /// ES4.GetEIS of random seeded eUICCs.
        #[arg(long, conflicts_with = "postgres")]
        database_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Re-wraps every secret at rest under the current master key (resumable: run it again after an
    /// interruption). With --generate, first adds a new key as current to the key file.
    Rotate {
        /// Generate a new master key and make it current before re-wrapping.
        #[arg(long)]
        generate: bool,
        /// Stop after this many values (the rest is done by the next run).
        #[arg(long)]
        limit: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Creates a complete test world: CI, EUM, SM-DP, two SM-SRs (for the SM-SR change), MNOs, eUICC owner, TLS
    /// CA and client certificates, and N eUICC identities with their signed EIS documents (eis/<EID>.xml).
    Init {
        /// Output directory (must not already hold a world).
        #[arg(long)]
        out: PathBuf,
        /// Number of eUICC identities.
        #[arg(long, default_value_t = 3)]
        euiccs: usize,
        /// Seed for a reproducible world (tests only: keys derived from a seed are not secret).
        #[arg(long)]
        seed: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum EuiccCommand {
    /// Registers EIS documents at an SM-SR over ES1 (ES1.RegisterEIS), as the world's EUM.
    Register {
        /// The world directory (EUM TLS client certificate, TLS CA).
        #[arg(long)]
        pki: PathBuf,
        /// Base URL of the SM-SR's ES listener.
        #[arg(long, default_value = "https://localhost:8443")]
        smsr: String,
        /// EIS documents (default: every eis/*.xml of the world).
        eis: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    // OpenSSL first, without an exit-time cleanup (libpq would register one that races with pooled
    // connections at exit).
    openssl::init();
    let cli = Cli::parse();
    init_logging();
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut config = match Config::load(cli.config.as_deref(), env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rsp: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = cli.var_dir {
        config.var_dir = dir;
    }
    let result = match cli.command {
        Command::Serve {
            smsr_database_url,
            smdp_database_url,
            only,
            simulate,
            smsrs,
            smsr2_database_url,
        } => {
            if let Some(url) = smsr_database_url {
                config.smsr.database_url = url;
            }
            if let Some(url) = smdp_database_url {
                config.smdp.database_url = url;
            }
            let second = (smsrs == 2).then_some(serve::SecondSmsrArgs {
                database_url: smsr2_database_url,
            });
            serve::run(config, only, simulate, second)
        }
        Command::Pki {
            command: PkiCommand::Init { out, euiccs, seed },
        } => setup::init_world(&out, euiccs, seed)
            .map(|w| {
                let eis = if cfg!(feature = "lab") {
                    "EIS documents: eis/"
                } else {
                    "no EIS documents: built without the `lab` feature"
                };
                println!(
                    "test world with {} eUICC(s) written to {} (manifest: world.json, {eis})",
                    w.euiccs.len(),
                    out.display()
                );
                for sr in w.smsrs() {
                    println!(
                        "SM-SR {}: {} ({}), CERT.SR.ECDSA {}, TLS server {}, TLS client {} (smsr.identity: {})",
                        sr.number,
                        sr.entity.name,
                        sr.entity.oid,
                        sr.gp_files.cert,
                        sr.tls_server_files.cert,
                        sr.tls_client_files.cert,
                        sr.number
                    );
                }
            })
            .map_err(|e| e.to_string()),
        Command::Euicc {
            command: EuiccCommand::Register { pki, smsr, eis },
        } => euicc_register(&pki, &smsr, eis),
        Command::Entity { command } => entity::run(&config, command),
        Command::Owner { command } => owner::run(&config, command),
        Command::Fleet {
            connection,
            command,
        } => fleet::run(&config, &connection, command),
        Command::Mno { command } => mno::run(&config, *command),
        Command::Keys {
            command: KeysCommand::Rotate { generate, limit },
        } => keys::rotate_command(&config, generate, limit),
        Command::ProfileType { command } => order::profile_type(&config, command),
        Command::Order { command } => order::order(&config, command),
        Command::Stock(args) => order::stock_levels(&config, args),
        Command::Download { command } => order::download(&config, command),
        Command::Bench {
            command: BenchCommand::Personalise(args),
        } => order::bench_personalise(args),
        Command::Bench { command } => bench_command(&config, command),
        Command::Conformance { command } => conformance_command(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rsp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `rsp bench sms|switch|api` (they drive the simulator and the test SMSC).
#[cfg(feature = "lab")]
fn bench_command(config: &Config, command: BenchCommand) -> Result<(), String> {
    match command {
        BenchCommand::Api {
            registrations,
            concurrency,
            rate,
            seconds,
            postgres,
            database_url,
        } => bench::api(
            config,
            &bench::ApiBenchOptions {
                registrations,
                concurrency,
                get_rate: rate,
                duration: std::time::Duration::from_secs(seconds),
                postgres,
                seeded_database: database_url,
            },
        )
        .map(|_| ()),
        BenchCommand::Sms { binds, messages } => platform_bench::sms(&binds, messages),
        BenchCommand::Fleet {
            euiccs,
            rate,
            max_in_flight,
            binds,
            attach_delay_ms,
            database_url,
            dir,
        } => fleet_bench::fleet(
            &bench_dir(config, dir, "fleet"),
            &fleet_bench::FleetBenchOptions {
                euiccs,
                rate,
                max_in_flight,
                binds,
                attach_delay_ms,
                database_url,
            },
        ),
        BenchCommand::Switch {
            euiccs,
            concurrency,
            binds,
            attach_delay_ms,
            database_url,
            nodes,
            dir,
        } => platform_bench::switch(
            &bench_dir(config, dir, "switch"),
            &platform_bench::SwitchOptions {
                euiccs,
                concurrency,
                binds,
                attach_delay_ms,
                database_url,
                https: false,
                nodes,
            },
        ),
        BenchCommand::SmsrChange {
            euiccs,
            concurrency,
            attach_delay_ms,
            database_url,
            dir,
        } => smsr_change_bench::smsr_change(
            &bench_dir(config, dir, "smsr-change"),
            &smsr_change_bench::SmsrChangeOptions {
                euiccs,
                concurrency,
                attach_delay_ms,
                database_url,
            },
        ),
        BenchCommand::Https {
            euiccs,
            connecting,
            scripts,
            handshakes,
            no_switch,
            concurrency,
            binds,
            attach_delay_ms,
            database_url,
            dir,
        } => https_bench::https(
            &bench_dir(config, dir, "https"),
            &https_bench::HttpsOptions {
                switch: platform_bench::SwitchOptions {
                    euiccs,
                    concurrency,
                    binds,
                    attach_delay_ms,
                    database_url,
                    https: true,
                    nodes: 1,
                },
                connecting,
                scripts,
                handshakes,
                end_to_end: !no_switch,
            },
        ),
        BenchCommand::Download {
            euiccs,
            concurrency,
            binds,
            attach_delay_ms,
            validity_secs,
            floor_iterations,
            database_url,
            dir,
        } => {
            let dir = dir.unwrap_or_else(|| {
                config
                    .var_dir
                    .join(format!("bench-download-{}", std::process::id()))
            });
            download_bench::download(
                &dir,
                &download_bench::DownloadOptions {
                    euiccs,
                    concurrency,
                    binds,
                    attach_delay_ms,
                    validity_secs,
                    database_url,
                    floor_iterations,
                },
            )
            .map(|_| ())
        }
        BenchCommand::Personalise(args) => order::bench_personalise(args),
        BenchCommand::Seed {
            euiccs,
            database_url,
            profiles_per_euicc,
            seed,
        } => seed_bench::seed(
            config,
            &seed_bench::SeedOptions {
                euiccs,
                database_url,
                profiles_per_euicc,
                seed,
            },
        )
        .map(|_| ()),
    }
}

/// The directory of a bench run: `dir`, else a fresh `bench-<name>-<pid>` under the var dir.
#[cfg(feature = "lab")]
fn bench_dir(config: &Config, dir: Option<PathBuf>, name: &str) -> PathBuf {
    dir.unwrap_or_else(|| {
        config
            .var_dir
            .join(format!("bench-{name}-{}", std::process::id()))
    })
}

/// `rsp bench sms|switch|api` in a build without the simulator.
#[cfg(not(feature = "lab"))]
fn bench_command(_: &Config, _: BenchCommand) -> Result<(), String> {
    Err(serve::LAB_NEEDED.replace("{what}", "`rsp bench`"))
}

/// `rsp conformance list|init|run`.
#[cfg(feature = "lab")]
fn conformance_command(command: ConformanceCommand) -> Result<(), String> {
    match command {
        ConformanceCommand::List { json } => conformance::list(json),
        ConformanceCommand::Init {
            peers,
            euiccs,
            callback_listen,
            smsc_listen,
            play_smsr,
        } => conformance::init(
            &peers,
            euiccs,
            &callback_listen,
            smsc_listen.as_deref(),
            play_smsr.as_deref(),
        ),
        ConformanceCommand::Run {
            sut,
            peers,
            cases,
            report,
            callback_listen,
            features,
            callback_timeout_secs,
            xsd,
            xmllint,
            smsc,
            play_smsr,
        } => conformance::run(conformance::RunArgs {
            sut,
            peers,
            cases,
            report,
            callback_listen,
            features,
            callback_timeout_secs,
            xsd,
            xmllint,
            smsc_listen: smsc.smsc_listen,
            smsc_system_id: smsc.smsc_system_id,
            smsc_password: smsc.smsc_password,
            play_smsr,
            https_euicc: smsc.https_euicc,
        }),
    }
}

/// `rsp conformance` in a build without the conformance suite.
#[cfg(not(feature = "lab"))]
fn conformance_command(_: ConformanceCommand) -> Result<(), String> {
    Err(serve::LAB_NEEDED.replace("{what}", "`rsp conformance`"))
}

/// `rsp euicc register` (the EUM's ES1 client of the test world).
#[cfg(feature = "lab")]
fn euicc_register(pki: &std::path::Path, smsr: &str, eis: Vec<PathBuf>) -> Result<(), String> {
    euicc::register(pki, smsr, eis)
}

/// `rsp euicc register` in a build without the test world's EUM client.
#[cfg(not(feature = "lab"))]
fn euicc_register(_: &std::path::Path, _: &str, _: Vec<PathBuf>) -> Result<(), String> {
    Err(serve::LAB_NEEDED.replace("{what}", "`rsp euicc register`"))
}

/// Logs with `tracing`: human-readable on a terminal, JSON otherwise; level from `RUST_LOG` (default info).
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}
