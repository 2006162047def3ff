//! `rsp profile-type`, `rsp order`, `rsp stock`, `rsp download` and `rsp bench personalise`: the SM-DP warehouse
//! from the command line (DESIGN §4 "Warehouse"), on the SM-DP's database (`--database-url`, else the
//! configured one).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use certs::ecc::PrivateKey;
use certs::secrets::MasterKeyring;
use clap::{Args, Subcommand, ValueEnum};
use eis_store::{Store, now_millis};
use es_interfaces::messages::common::Pol2;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smdp::batch::BatchFormat;
use smdp::saip::coding::luhn_check_digit;
use smdp::warehouse::export::{self, ExportRequest};
use smdp::warehouse::import::{self, FileSource, Progress};
use smdp::warehouse::profile_types::{self, ProfileTypeSpec};
use smdp::warehouse::stock;

use crate::config::Config;
use crate::setup;

/// The SM-DP database to work on.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database of the SM-DP (`sqlite://path` or `postgres://…`; default: the configured one).
    #[arg(long)]
    database_url: Option<String>,
}

/// `rsp profile-type …`
#[derive(Debug, Subcommand)]
pub enum ProfileTypeCommand {
    /// Adds a profile type (its SAIP template is validated first).
    Add {
        /// OID of the MNO owning it.
        #[arg(long)]
        mno: String,
        /// Name (the ProfileType of ES2.DownloadProfile).
        #[arg(long)]
        name: String,
        /// The SAIP template (DER profile package).
        #[arg(
            long,
            required_unless_present = "sample_template",
            conflicts_with = "sample_template"
        )]
        template: Option<PathBuf>,
        /// Use the project's own sample USIM template (no third-party data needed).
        #[arg(long)]
        sample_template: bool,
        /// Memory the installed profile needs on the eUICC, in bytes.
        #[arg(long)]
        required_memory: i64,
        /// Target eUICC platform.
        #[arg(long, default_value = "generic")]
        target_platform: String,
        /// Available records below which the type is reported low (0: never).
        #[arg(long, default_value_t = 0)]
        low_stock: i64,
        /// POL2 of every profile downloaded from the type (SGP.02 §2.4.5), sent to the SM-SR in
        /// ES3.ProfileDownloadCompleted: `ACTION:Qualification` rules separated by commas, actions ENABLE,
        /// DISABLE, DELETE, qualifications Not-Allowed, Auto-Delete (DISABLE only), e.g.
        /// `DISABLE:Not-Allowed,DELETE:Not-Allowed`. Without it the profiles get no POL2.
        #[arg(long, value_name = "RULES", value_parser = parse_pol2)]
        pol2: Option<Pol2>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Lists an MNO's profile types.
    List {
        /// OID of the MNO.
        #[arg(long)]
        mno: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Layout of an order file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// From the extension (`.out`) or the first bytes.
    Auto,
    /// CSV with a header row.
    Csv,
    /// The SIM-vendor `.out` layout.
    Out,
}

/// `rsp order …`
#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Imports an order file (CSV or `.out`) into a profile type's stock: all rows or none.
    Import {
        /// OID of the MNO.
        #[arg(long)]
        mno: String,
        /// The MNO's profile type to stock.
        #[arg(long)]
        profile_type: String,
        /// Layout of the file.
        #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
        format: FormatArg,
        /// The order file.
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Writes the output file of installed records (CSV), optionally with secrets encrypted for the MNO.
    Export {
        /// OID of the MNO.
        #[arg(long)]
        mno: String,
        /// The MNO's profile type.
        #[arg(long)]
        profile_type: String,
        /// Only the records of this order.
        #[arg(long)]
        order: Option<i64>,
        /// Add the secrets, encrypted for the MNO's certificate (`--recipient-cert`).
        #[arg(long, requires = "recipient_cert")]
        with_secrets: bool,
        /// The MNO's certificate (PEM, P-256 key) the secrets are encrypted for.
        #[arg(long)]
        recipient_cert: Option<PathBuf>,
        /// Output file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Decrypts the secrets of an output file with the MNO's private key (PKCS#8 PEM).
    Decrypt {
        /// The MNO's private key.
        #[arg(long)]
        key: PathBuf,
        /// The output file with `SECRETS_EPK` and `SECRETS` columns.
        file: PathBuf,
        /// Where to write the clear file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Writes a synthetic order file (test data: valid ICCIDs, distinct IMSIs and keys).
    Generate {
        /// Number of rows.
        #[arg(long)]
        rows: u64,
        /// Two-digit series in the ICCIDs (8988 + series + 13 digits + Luhn), to make distinct files.
        #[arg(long, default_value_t = 0)]
        series: u8,
        /// Output file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `rsp stock`
#[derive(Debug, Args)]
pub struct StockArgs {
    /// OID of the MNO.
    #[arg(long)]
    mno: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// `rsp download …`: the SM-DP's ES2.DownloadProfile procedures (SGP.02 §3.1).
#[derive(Debug, Subcommand)]
pub enum DownloadCommand {
    /// Lists the downloads not done (under way, cleaning up, or whose clean-up failed), oldest first.
    List {
        /// Only the downloads in this phase (e.g. `CleanupFailed`, `Done`).
        #[arg(long)]
        phase: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Has the clean-up (ES3.DeleteISDP) of a download in phase CleanupFailed tried again (SGP.02 §3.1.4): a
    /// running SM-DP takes it within a second; its stock record is released when the ISD-P is gone.
    RetryCleanup {
        /// The download's id (`rsp download list`).
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// One line of `rsp download list --json`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DownloadLine {
    id: i64,
    mno: String,
    eid: String,
    iccid: String,
    phase: String,
    step: i64,
    updated_at: String,
    cleanup_failures: u32,
    cleanup_error: Option<String>,
}

/// Runs `rsp download …`.
pub fn download(config: &Config, command: DownloadCommand) -> Result<(), String> {
    match command {
        DownloadCommand::List {
            phase,
            limit,
            json,
            db,
        } => {
            let store = open_store(config, &db)?;
            let mut c = store.conn().map_err(|e| e.to_string())?;
            let rows = eis_store::downloads::list(&mut c, phase.as_deref(), limit.max(1))
                .map_err(|e| e.to_string())?;
            let mut lines = Vec::with_capacity(rows.len());
            for r in rows {
                let p: smdp::download::procedure::Procedure =
                    serde_json::from_str(&r.data).map_err(|e| format!("download {}: {e}", r.id))?;
                lines.push(DownloadLine {
                    id: r.id,
                    mno: r.mno_oid,
                    eid: r.eid,
                    iccid: r.iccid,
                    phase: r.phase,
                    step: r.step,
                    updated_at: export::time_text(Some(r.updated_at)),
                    cleanup_failures: p.cleanup_failures,
                    cleanup_error: p.cleanup_error.map(|e| {
                        let code = match (e.subject, e.reason) {
                            (Some(s), Some(r)) => format!(" {s}/{r}"),
                            _ => String::new(),
                        };
                        format!("{}{code} {}", e.status, e.message.unwrap_or_default())
                            .trim_end()
                            .to_string()
                    }),
                });
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&lines).map_err(|e| e.to_string())?
                );
                return Ok(());
            }
            println!(
                "{:>6} {:<32} {:<20} {:<20} {:<20} {:>8}  last clean-up error",
                "id", "eid", "iccid", "phase", "updated", "failures"
            );
            for l in lines {
                println!(
                    "{:>6} {:<32} {:<20} {:<20} {:<20} {:>8}  {}",
                    l.id,
                    l.eid,
                    l.iccid,
                    l.phase,
                    l.updated_at,
                    l.cleanup_failures,
                    l.cleanup_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        DownloadCommand::RetryCleanup { id, db } => {
            let world = setup::load_or_init_world(config).map_err(|e| e.to_string())?;
            let identity = es_runtime::soap_endpoint::ServerIdentity {
                oid: world.manifest.sm_dp.oid.clone(),
                name: world.manifest.sm_dp.name.clone(),
                public_url: config.smdp.public_url.clone(),
            };
            let store = open_store(config, &db)?;
            let now = time::OffsetDateTime::now_utc();
            let message_id = identity.new_message_id(now);
            let retried = store
                .tx(|c| smdp::download::driver::retry_cleanup(c, id, &message_id, now_millis()))
                .map_err(|e| e.to_string())?;
            if !retried {
                return Err(format!(
                    "download {id} is not in phase CleanupFailed (rsp download list --phase CleanupFailed)"
                ));
            }
            println!("download {id}: clean-up queued (ES3.DeleteISDP)");
            Ok(())
        }
    }
}

/// `rsp bench personalise`
#[derive(Debug, Args)]
pub struct BenchPersonaliseArgs {
    /// Packages to personalise and validate.
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    /// Template (default: the sample template).
    #[arg(long)]
    template: Option<PathBuf>,
}

fn open_store(config: &Config, db: &DbArgs) -> Result<Store, String> {
    let mut server = config.smdp.clone();
    if let Some(url) = &db.database_url {
        server.database_url = url.clone();
    }
    server.pool_size = server.pool_size.clamp(1, 4);
    setup::open_store(config, &server).map_err(|e| e.to_string())
}

/// The master key ring: `RSP_MASTER_KEY`, else the PKI's key file (generated on first use, as `rsp serve` does).
fn keyring(config: &Config) -> Result<MasterKeyring, String> {
    if std::env::var_os("RSP_MASTER_KEY").is_some() {
        return MasterKeyring::from_env("RSP_MASTER_KEY").map_err(|e| e.to_string());
    }
    let world = setup::load_or_init_world(config).map_err(|e| e.to_string())?;
    setup::master_keyring(&world).map_err(|e| e.to_string())
}

fn output(path: Option<&Path>) -> Result<Box<dyn Write>, String> {
    Ok(match path {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

/// Reads `--pol2` (SGP.02 §2.4.5; the text form of `smdp::warehouse::profile_types::parse_pol2`).
fn parse_pol2(text: &str) -> Result<Pol2, String> {
    profile_types::parse_pol2(text).map_err(|e| e.to_string())
}

/// Runs `rsp profile-type …`.
pub fn profile_type(config: &Config, command: ProfileTypeCommand) -> Result<(), String> {
    match command {
        ProfileTypeCommand::Add {
            mno,
            name,
            template,
            sample_template,
            required_memory,
            target_platform,
            low_stock,
            pol2,
            db,
        } => {
            let template = match (template, sample_template) {
                (Some(path), _) => {
                    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?
                }
                (None, _) => smdp::saip::sample::usim_template_der(),
            };
            let store = open_store(config, &db)?;
            let mut c = store.conn().map_err(|e| e.to_string())?;
            let info = profile_types::add(
                &mut c,
                &ProfileTypeSpec {
                    mno_oid: mno,
                    name,
                    template,
                    required_memory,
                    target_platform,
                    low_stock_threshold: low_stock,
                    pol2,
                },
                now_millis(),
            )
            .map_err(|e| e.to_string())?;
            println!(
                "profile type {:?} of MNO {} added (id {}, template {} bytes, {} bytes of memory, low-stock threshold {}, POL2 {})",
                info.name,
                info.mno_oid,
                info.id,
                info.template_bytes,
                info.required_memory,
                info.low_stock_threshold,
                info.pol2.as_deref().unwrap_or("none")
            );
            Ok(())
        }
        ProfileTypeCommand::List { mno, db } => {
            let store = open_store(config, &db)?;
            let mut c = store.conn().map_err(|e| e.to_string())?;
            let list = profile_types::list(&mut c, &mno).map_err(|e| e.to_string())?;
            println!(
                "{:<24} {:>10} {:>10} {:>10}  {:<20} pol2",
                "name", "memory", "template", "low-stock", "platform"
            );
            for t in list {
                println!(
                    "{:<24} {:>10} {:>10} {:>10}  {:<20} {}",
                    t.name,
                    t.required_memory,
                    t.template_bytes,
                    t.low_stock_threshold,
                    t.target_platform,
                    t.pol2.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
    }
}

fn format_of(arg: FormatArg, path: &Path) -> Result<BatchFormat, String> {
    Ok(match arg {
        FormatArg::Csv => BatchFormat::Csv,
        FormatArg::Out => BatchFormat::Out,
        FormatArg::Auto => {
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("out"))
            {
                BatchFormat::Out
            } else {
                let mut start = [0u8; 256];
                let n = std::fs::File::open(path)
                    .and_then(|mut f| std::io::Read::read(&mut f, &mut start))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                import::sniff_format(&start[..n])
            }
        }
    })
}

/// A progress bar on a terminal (hidden when standard error is not one): bytes while validating, rows while
/// checking against the stock and while storing.
struct Bar {
    bar: ProgressBar,
    phase: u8,
}

impl Bar {
    fn new() -> Bar {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar { bar, phase: 0 }
    }

    fn update(&mut self, p: Progress) {
        match p {
            Progress::Validating { bytes, total } => {
                if self.phase != 1 {
                    self.phase = 1;
                    if let Some(t) = total {
                        self.bar.set_length(t);
                    }
                    self.bar.set_style(
                        ProgressStyle::with_template(
                            "validating {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                }
                self.bar.set_position(bytes);
            }
            Progress::Checking { rows, total } => {
                if self.phase != 2 {
                    self.phase = 2;
                    self.bar.reset();
                    self.bar.set_length(total);
                    self.bar.set_style(
                        ProgressStyle::with_template(
                            "checking   {bar:40} {human_pos}/{human_len} rows against the stock ({per_sec})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                }
                self.bar.set_position(rows);
            }
            Progress::Storing { rows, total } => {
                if self.phase != 3 {
                    self.phase = 3;
                    self.bar.reset();
                    self.bar.set_length(total);
                    self.bar.set_style(
                        ProgressStyle::with_template(
                            "storing    {bar:40} {human_pos}/{human_len} rows ({per_sec}, {eta})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                }
                self.bar.set_position(rows);
                tracing::debug!(rows, total, "order rows stored (uncommitted)");
            }
        }
    }
}

/// Runs `rsp order …`.
pub fn order(config: &Config, command: OrderCommand) -> Result<(), String> {
    match command {
        OrderCommand::Import {
            mno,
            profile_type,
            format,
            file,
            db,
        } => {
            let format = format_of(format, &file)?;
            let keys = keyring(config)?;
            let store = open_store(config, &db)?;
            let mut bar = Bar::new();
            let result = import::import_order_with(
                &store,
                &keys,
                &mno,
                &profile_type,
                &FileSource { path: file.clone() },
                format,
                &config.import_options(),
                &mut |p| bar.update(p),
            );
            bar.bar.finish_and_clear();
            let r = result.map_err(|e| e.to_string())?;
            println!(
                "imported {} rows from {} into order {} of profile type {:?}: {:.0} rows/s ({:.2} s checking, {:.2} s storing)",
                r.rows,
                file.display(),
                r.order_id,
                r.profile_type,
                r.rows_per_second,
                r.validate_seconds,
                r.store_seconds
            );
            Ok(())
        }
        OrderCommand::Export {
            mno,
            profile_type,
            order,
            with_secrets,
            recipient_cert,
            output: out_path,
            db,
        } => {
            let store = open_store(config, &db)?;
            let keys = keyring(config)?;
            let mut c = store.conn().map_err(|e| e.to_string())?;
            let recipient = match (with_secrets, recipient_cert) {
                (true, Some(path)) => {
                    let pem = std::fs::read_to_string(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    Some(export::recipient_key(&mut c, &mno, &pem).map_err(|e| e.to_string())?)
                }
                _ => None,
            };
            let n = export::export_installed(
                &mut c,
                &keys,
                &mno,
                &ExportRequest {
                    profile_type: &profile_type,
                    order,
                    secrets_for: recipient.as_ref(),
                },
                output(out_path.as_deref())?,
            )
            .map_err(|e| e.to_string())?;
            eprintln!("{n} installed record(s) exported");
            Ok(())
        }
        OrderCommand::Decrypt {
            key,
            file,
            output: out_path,
        } => {
            let pem = zeroize::Zeroizing::new(
                std::fs::read_to_string(&key).map_err(|e| format!("{}: {e}", key.display()))?,
            );
            let key = PrivateKey::from_pkcs8_pem(&pem).map_err(|e| e.to_string())?;
            let input =
                std::fs::File::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let n = export::decrypt(input, &key, output(out_path.as_deref())?)
                .map_err(|e| e.to_string())?;
            eprintln!("{n} row(s) decrypted");
            Ok(())
        }
        OrderCommand::Generate {
            rows,
            series,
            output: out_path,
        } => generate(rows, series, out_path.as_deref()),
    }
}

/// Writes a synthetic CSV order file: ICCID `8988` + series + 13 digits + Luhn digit, IMSI `001` `01` + series +
/// 8 digits, K/OPc/OTA keys derived from the row number (test data only).
fn generate(rows: u64, series: u8, path: Option<&Path>) -> Result<(), String> {
    if series > 99 || rows > 10_000_000_000_000 {
        return Err("series must be 0 to 99 and rows below 10^13".into());
    }
    let mut w = output(path)?;
    let io = |e: std::io::Error| e.to_string();
    writeln!(
        w,
        "ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1,MSISDN,KIC1,KID1,KIK1"
    )
    .map_err(io)?;
    for i in 0..rows {
        let body = format!("8988{series:02}{i:013}");
        let check = luhn_check_digit(&body).unwrap_or(0);
        let n = u128::from(i) | (u128::from(series) << 64);
        writeln!(
            w,
            "{body}{check},00101{series:02}{:08},{:032X},{:032X},1234,12345678,5678,87654321,{:08},4477{:08},{:032X},{:032X},{:032X}",
            i % 100_000_000,
            n | (0x4B << 120),
            n | (0x4F << 120),
            i % 100_000_000,
            i % 100_000_000,
            n | (0xC1 << 120),
            n | (0xD1 << 120),
            n | (0xE1 << 120),
        )
        .map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Runs `rsp stock`.
pub fn stock_levels(config: &Config, args: StockArgs) -> Result<(), String> {
    let store = open_store(config, &args.db)?;
    let mut c = store.conn().map_err(|e| e.to_string())?;
    let levels = stock::levels(&mut c, &args.mno).map_err(|e| e.to_string())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&levels).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "{:<24} {:>10} {:>10} {:>11} {:>10} {:>10}",
        "profile type", "available", "reserved", "downloading", "installed", "low-stock"
    );
    for l in levels {
        println!(
            "{:<24} {:>10} {:>10} {:>11} {:>10} {:>10}{}",
            l.profile_type,
            l.available,
            l.reserved,
            l.downloading,
            l.installed,
            l.low_stock_threshold,
            if l.low { "  LOW" } else { "" }
        );
    }
    Ok(())
}

/// Runs `rsp bench personalise`.
pub fn bench_personalise(args: BenchPersonaliseArgs) -> Result<(), String> {
    let figures = match args.template {
        Some(path) => {
            let template = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            smdp::saip::bench::personalise_template(&template, args.count)
        }
        None => smdp::saip::bench::personalise(args.count),
    };
    figures.map(|_| ()).map_err(|e| e.to_string())
}
