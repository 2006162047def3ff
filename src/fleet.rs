//! `rsp fleet …`: the eUICC owner's command-line client of the ESM2M API (issue 12 items 1 and 6) — list the
//! owner's eUICCs, start a fleet switch from a file of EIDs, watch a fleet operation's progress, pause / resume /
//! cancel it, download its per-eUICC results as CSV, hand eUICCs to another owner. It speaks HTTPS to the SM-SR's
//! ESM2M listener with the owner's API token, as any other client of the API would.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::config::Config;

/// Environment variable holding the API token when `--token` is not given.
pub const TOKEN_ENV: &str = "RSP_ESM2M_TOKEN";

/// Options of every `rsp fleet` command.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// Base URL of the API (default: the configured `esm2m.public_url` + `/esm2m/v1/`).
    #[arg(long, global = true)]
    url: Option<String>,
    /// The owner's API token (default: $RSP_ESM2M_TOKEN).
    #[arg(long, global = true)]
    token: Option<String>,
    /// CA certificate (PEM) the SM-SR's TLS server certificate is checked against (default:
    /// `<var-dir>/pki/certs/tls-ca.pem`).
    #[arg(long, global = true)]
    cacert: Option<PathBuf>,
}

/// `rsp fleet …`
#[derive(Debug, clap::Subcommand)]
pub enum FleetCommand {
    /// Lists the owner's eUICCs (EID, enabled ICCID, MNO of the enabled profile), every page.
    Euiccs {
        /// Only those whose enabled profile belongs to this MNO (OID).
        #[arg(long)]
        enabled_mno: Option<String>,
    },
    /// Starts a fleet switch: on each eUICC of the file, enable its profile of MNO `--to-mno`.
    Switch {
        /// File with one EID per line, or a CSV whose first column is the EID (other lines are skipped).
        #[arg(long)]
        eids: PathBuf,
        /// The MNO (OID) whose profile is enabled.
        #[arg(long)]
        to_mno: String,
        /// Most starts per second.
        #[arg(long)]
        rate: Option<i64>,
        /// Most operations under way at once.
        #[arg(long)]
        max_in_flight: Option<i64>,
        /// Seconds during which targets are started.
        #[arg(long)]
        validity: Option<i64>,
        /// Idempotency-Key of the request (a repeat with the same key starts nothing new).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Watch its progress to the end.
        #[arg(long)]
        watch: bool,
    },
    /// Hands the eUICCs of the file to another eUICC owner (the token needs scope admin); all or nothing.
    Transfer {
        /// File with one EID per line, or a CSV whose first column is the EID (other lines are skipped).
        #[arg(long)]
        eids: PathBuf,
        /// The eUICC owner (OID) that receives them.
        #[arg(long)]
        to_owner: String,
        /// Idempotency-Key of the request (a repeat with the same key changes nothing more).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Shows a fleet operation's progress with a progress bar until nothing more will happen.
    Watch {
        /// The fleet operation's id.
        #[arg(long)]
        id: i64,
    },
    /// Stops starting targets.
    Pause {
        /// The fleet operation's id.
        #[arg(long)]
        id: i64,
    },
    /// Starts targets again.
    Resume {
        /// The fleet operation's id.
        #[arg(long)]
        id: i64,
    },
    /// Never starts the targets not yet started.
    Cancel {
        /// The fleet operation's id.
        #[arg(long)]
        id: i64,
    },
    /// Downloads the per-eUICC results as CSV.
    Results {
        /// The fleet operation's id.
        #[arg(long)]
        id: i64,
        /// Only targets in this state (pending, running, succeeded, failed, cancelled, expired).
        #[arg(long)]
        state: Option<String>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(config: &Config, c: &Connection) -> Result<Client, String> {
        let token = c
            .token
            .clone()
            .or_else(|| std::env::var(TOKEN_ENV).ok())
            .ok_or_else(|| format!("no API token: pass --token or set {TOKEN_ENV}"))?;
        let cacert = c
            .cacert
            .clone()
            .unwrap_or_else(|| config.var_dir.join("pki/certs/tls-ca.pem"));
        let pem = std::fs::read(&cacert)
            .map_err(|e| format!("cannot read the CA certificate {}: {e}", cacert.display()))?;
        let http = reqwest::Client::builder()
            .tls_backend_native()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| format!("{}: {e}", cacert.display()))?,
            )
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| e.to_string())?;
        let base = c
            .url
            .clone()
            .unwrap_or_else(|| config.esm2m.base_url())
            .trim_end_matches('/')
            .to_string();
        Ok(Client { http, base, token })
    }

    async fn answer(resp: reqwest::Response) -> Result<Value, String> {
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            Ok(v)
        } else {
            Err(format!(
                "{status}: {}",
                v.get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or(&v.to_string())
            ))
        }
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Self::answer(resp).await
    }

    async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Result<Value, String> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        Self::answer(req.send().await.map_err(|e| e.to_string())?).await
    }
}

/// The EIDs of a file: the first field of each line that is 32 digits (headers, blanks, comments skipped).
pub fn read_eids(path: &std::path::Path) -> Result<Vec<String>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let first = line
            .split([',', ';', '\t'])
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if first.len() == 32 && first.bytes().all(|b| b.is_ascii_digit()) {
            out.push(first.to_string());
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no EID found", path.display()));
    }
    Ok(out)
}

fn summary(v: &Value) -> String {
    let c = &v["counts"];
    format!(
        "fleet operation {}: {} — {} targets: {} pending, {} running, {} succeeded, {} failed, {} cancelled, {} expired",
        v["id"],
        v["state"].as_str().unwrap_or("?"),
        v["total"],
        c["pending"],
        c["running"],
        c["succeeded"],
        c["failed"],
        c["cancelled"],
        c["expired"]
    )
}

async fn watch(client: &Client, id: i64) -> Result<Value, String> {
    let path = format!("/fleet-operations/{id}");
    let first = client.get(&path).await?;
    let total = first["total"].as_u64().unwrap_or(0);
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} done ({per_sec}, {eta}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut v = first;
    loop {
        let c = &v["counts"];
        let done = ["succeeded", "failed", "cancelled", "expired"]
            .iter()
            .map(|k| c[k].as_u64().unwrap_or(0))
            .sum::<u64>();
        bar.set_position(done);
        bar.set_message(format!(
            "{} — {} running, {} failed",
            v["state"].as_str().unwrap_or("?"),
            c["running"],
            c["failed"]
        ));
        if v["finished"] == true {
            bar.finish();
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        v = client.get(&path).await?;
    }
}

async fn run_async(client: Client, command: FleetCommand) -> Result<(), String> {
    match command {
        FleetCommand::Euiccs { enabled_mno } => {
            let mut after: Option<String> = None;
            let mut out = std::io::stdout().lock();
            loop {
                let mut path = "/euiccs?limit=1000".to_string();
                if let Some(m) = &enabled_mno {
                    path.push_str(&format!("&enabledMno={m}"));
                }
                if let Some(a) = &after {
                    path.push_str(&format!("&after={a}"));
                }
                let page = client.get(&path).await?;
                for e in page["items"].as_array().into_iter().flatten() {
                    let enabled = e["enabledIccid"].as_str().unwrap_or("-");
                    let mno = e["profiles"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|p| p["state"] == "Enabled")
                        .and_then(|p| p["mnoId"].as_str())
                        .unwrap_or("-");
                    writeln!(
                        out,
                        "{}  {enabled}  {mno}",
                        e["eid"].as_str().unwrap_or("?")
                    )
                    .map_err(|e| e.to_string())?;
                }
                match page["next"].as_str() {
                    Some(n) => after = Some(n.to_string()),
                    None => return Ok(()),
                }
            }
        }
        FleetCommand::Switch {
            eids,
            to_mno,
            rate,
            max_in_flight,
            validity,
            idempotency_key,
            watch: follow,
        } => {
            let eids = read_eids(&eids)?;
            let mut body = json!({ "action": "enable", "profileMno": to_mno, "eids": eids });
            for (k, v) in [
                ("ratePerSecond", rate),
                ("maxInFlight", max_in_flight),
                ("validitySeconds", validity),
            ] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            let v = client
                .post("/fleet-operations", &body, idempotency_key.as_deref())
                .await?;
            println!("{}", summary(&v));
            if follow {
                let id = v["id"].as_i64().ok_or("no id in the answer")?;
                println!("{}", summary(&watch(&client, id).await?));
            }
            Ok(())
        }
        FleetCommand::Transfer {
            eids,
            to_owner,
            idempotency_key,
        } => {
            let eids = read_eids(&eids)?;
            let v = client
                .post(
                    "/euicc-transfers",
                    &json!({ "toOwner": to_owner, "eids": eids }),
                    idempotency_key.as_deref(),
                )
                .await?;
            println!(
                "{} eUICC(s) transferred from {} to {}",
                v["transferred"],
                v["fromOwner"].as_str().unwrap_or("?"),
                v["toOwner"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        FleetCommand::Watch { id } => {
            println!("{}", summary(&watch(&client, id).await?));
            Ok(())
        }
        FleetCommand::Pause { id } => command_on(&client, id, "pause").await,
        FleetCommand::Resume { id } => command_on(&client, id, "resume").await,
        FleetCommand::Cancel { id } => command_on(&client, id, "cancel").await,
        FleetCommand::Results { id, state, out } => {
            let mut path = format!("{}/fleet-operations/{id}/targets.csv", client.base);
            if let Some(s) = state {
                path.push_str(&format!("?state={s}"));
            }
            let mut resp = client
                .http
                .get(path)
                .bearer_auth(&client.token)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Client::answer(resp).await.map(|_| ());
            }
            let mut sink: Box<dyn Write> = match &out {
                Some(p) => {
                    Box::new(std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?)
                }
                None => Box::new(std::io::stdout().lock()),
            };
            while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
                sink.write_all(&chunk).map_err(|e| e.to_string())?;
            }
            sink.flush().map_err(|e| e.to_string())
        }
    }
}

async fn command_on(client: &Client, id: i64, word: &str) -> Result<(), String> {
    let v = client
        .post(&format!("/fleet-operations/{id}/{word}"), &json!({}), None)
        .await?;
    println!("{}", summary(&v));
    Ok(())
}

/// Runs `rsp fleet …`.
pub fn run(config: &Config, connection: &Connection, command: FleetCommand) -> Result<(), String> {
    let client = Client::new(config, connection)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(run_async(client, command))
}
