//! A test lab: a generated world and the `rsp serve` binary running on free loopback ports, with mTLS clients
//! for each role, restartable (and killable with SIGKILL) between steps.

#![allow(dead_code)]

pub mod crash;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use certs::world::World;

/// Which database backend a lab's servers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// SQLite files under the lab's var dir.
    Sqlite,
    /// Fresh PostgreSQL databases (dropped with the lab).
    Postgres,
}

/// A running (or stopped) pair of servers with their world.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub world: World,
    pub smsr_url: String,
    pub smdp_url: String,
    /// Where the ESM2M listener is reached (`https://localhost:<port>`).
    pub esm2m_url: String,
    pub capture_dir: PathBuf,
    smsr_port: u16,
    smdp_port: u16,
    esm2m_port: u16,
    db_urls: (String, String),
    _pg: Vec<testkit::PgTestDb>,
    child: Option<Child>,
    pub max_body: usize,
    /// More environment for `rsp serve` (e.g. `RSP_ES5__SMPP__PORT` of a test SMSC).
    pub extra_env: Vec<(String, String)>,
}

fn free_port() -> u16 {
    rsp::lab::free_port().expect("a free port")
}

impl Lab {
    /// A lab with a world of `euiccs` eUICCs (seeded, so fast and reproducible), not started.
    pub fn new(euiccs: usize, db: Db) -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = dir.path().join("var/pki");
        let world = rsp::setup::init_world(&pki, euiccs, Some(7)).expect("generate the test world");
        let capture_dir = dir.path().join("capture");
        std::fs::create_dir_all(&capture_dir).expect("capture dir");
        let (smsr_port, smdp_port, esm2m_port) = (free_port(), free_port(), free_port());
        let mut pg = Vec::new();
        let db_urls = match db {
            Db::Sqlite => (
                "sqlite://smsr.db".to_string(),
                "sqlite://smdp.db".to_string(),
            ),
            Db::Postgres => {
                let a = testkit::PgTestDb::new();
                let b = testkit::PgTestDb::new();
                let urls = (a.url().to_string(), b.url().to_string());
                pg.push(a);
                pg.push(b);
                urls
            }
        };
        Lab {
            smsr_url: format!("https://localhost:{smsr_port}"),
            smdp_url: format!("https://localhost:{smdp_port}"),
            esm2m_url: format!("https://localhost:{esm2m_port}"),
            esm2m_port,
            dir,
            world,
            capture_dir,
            smsr_port,
            smdp_port,
            db_urls,
            _pg: pg,
            child: None,
            max_body: 1 << 20,
            extra_env: Vec::new(),
        }
    }

    /// The var dir (databases, PKI).
    pub fn var_dir(&self) -> PathBuf {
        self.dir.path().join("var")
    }

    /// An `rsp` command configured like this lab's servers.
    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rsp"));
        c.env("RSP_VAR_DIR", self.var_dir())
            .env("RSP_SMSR__DATABASE_URL", &self.db_urls.0)
            .env("RSP_SMDP__DATABASE_URL", &self.db_urls.1)
            .env("RUST_LOG", "warn");
        c
    }

    /// Starts `rsp serve` and waits until it prints `ready`.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(env!("CARGO_BIN_EXE_rsp"))
            .arg("serve")
            .env("RSP_VAR_DIR", self.var_dir())
            .env("RSP_SMSR__LISTEN", format!("127.0.0.1:{}", self.smsr_port))
            .env("RSP_SMSR__PUBLIC_URL", &self.smsr_url)
            .env("RSP_SMSR__DATABASE_URL", &self.db_urls.0)
            .env("RSP_SMSR__MAX_BODY_BYTES", self.max_body.to_string())
            .env("RSP_SMDP__LISTEN", format!("127.0.0.1:{}", self.smdp_port))
            .env("RSP_SMDP__PUBLIC_URL", &self.smdp_url)
            .env("RSP_SMDP__DATABASE_URL", &self.db_urls.1)
            .env(
                "RSP_ESM2M__LISTEN",
                format!("127.0.0.1:{}", self.esm2m_port),
            )
            .env("RSP_ESM2M__PUBLIC_URL", &self.esm2m_url)
            // Metrics listeners on ports picked when bound, so that parallel labs do not collide.
            .env("RSP_SMSR__METRICS_LISTEN", "127.0.0.1:0")
            .env("RSP_SMDP__METRICS_LISTEN", "127.0.0.1:0")
            .env("RSP_CAPTURE_SOAP_DIR", &self.capture_dir)
            .env("RUST_LOG", "warn")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rsp serve");
        wait_until_ready(&mut child);
        self.child = Some(child);
    }

    /// Stops the servers gracefully (SIGTERM) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// Kills the servers with SIGKILL (no chance to clean up).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// An mTLS HTTP client presenting the given certificate and key (paths relative to the PKI dir).
    pub fn http_client(&self, cert_rel: &str, key_rel: &str) -> reqwest::Client {
        let pki = &self.world.dir;
        let read = |p: &str| std::fs::read(pki.join(p)).expect("read PKI file");
        let identity =
            reqwest::Identity::from_pkcs8_pem(&read(cert_rel), &read(key_rel)).expect("identity");
        let ca =
            reqwest::Certificate::from_pem(&read(&self.world.manifest.tls_ca.cert)).expect("CA");
        reqwest::Client::builder()
            .tls_backend_native()
            .identity(identity)
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }

    /// The EUM's client (ES1).
    pub fn eum(&self) -> reqwest::Client {
        let m = &self.world.manifest;
        self.http_client(&m.eum_tls_client.cert, &m.eum_tls_client.key)
    }

    /// MNO `i`'s client (ES2/ES4).
    pub fn mno(&self, i: usize) -> reqwest::Client {
        let m = &self.world.manifest.mnos[i];
        self.http_client(&m.tls_client.cert, &m.tls_client.key)
    }

    /// The SM-DP's client (ES3).
    pub fn smdp_client(&self) -> reqwest::Client {
        let m = &self.world.manifest;
        self.http_client(&m.sm_dp_tls_client.cert, &m.sm_dp_tls_client.key)
    }

    /// Every SOAP envelope the servers emitted so far.
    pub fn captured(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.capture_dir) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                out.push(std::fs::read_to_string(&p).expect("read captured message"));
            }
        }
        out
    }

    /// The SM-SR's SQLite file.
    pub fn smsr_sqlite(&self) -> PathBuf {
        self.var_dir().join("smsr.db")
    }

    /// The SM-SR database URL.
    pub fn smsr_db_url(&self) -> &str {
        &self.db_urls.0
    }

    /// The SM-SR's database, opened from the test process (SQLite paths resolved against the var dir).
    pub fn smsr_store(&self) -> eis_store::Store {
        self.open_store(&self.db_urls.0)
    }

    /// The SM-DP's database, opened from the test process.
    pub fn smdp_store(&self) -> eis_store::Store {
        self.open_store(&self.db_urls.1)
    }

    fn open_store(&self, url: &str) -> eis_store::Store {
        let config = rsp::config::Config {
            var_dir: self.var_dir(),
            ..rsp::config::Config::default()
        };
        eis_store::Store::open(&config.resolve_database_url(url), 4).expect("open the database")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits until `rsp serve` (spawned with stdout piped) prints `ready`, then keeps draining its stdout so that it
/// never blocks on a full pipe; kills it and panics with what it printed when it exits first.
pub fn wait_until_ready(child: &mut Child) {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) if line == "ready" => break,
            Some(Ok(line)) => seen.push(line),
            _ => {
                let _ = child.kill();
                panic!("rsp serve exited before it was ready:\n{}", seen.join("\n"));
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
}

/// Posts a SOAP 1.2 envelope and returns (status, body).
pub async fn post(client: &reqwest::Client, url: &str, envelope: String) -> (u16, String) {
    let r = client
        .post(url)
        .header("Content-Type", "application/soap+xml; charset=utf-8")
        .body(envelope)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// A SOAP 1.2 envelope around a body element with the WS-Addressing headers SGP.02 requires of a request
/// (To, From, MessageID, Action).
pub fn envelope(to: &str, action: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">\
         <env:Header><wsa:To>{to}</wsa:To><wsa:From><wsa:Address>http://caller.invalid/</wsa:Address></wsa:From>\
         <wsa:MessageID>urn:uuid:{}</wsa:MessageID><wsa:Action>{action}</wsa:Action></env:Header>\
         <env:Body>{body}</env:Body></env:Envelope>",
        uuid::Uuid::new_v4()
    )
}

/// The URL of a service of a server.
pub fn service_url(base: &str, service: es_interfaces::wsdl::Service) -> String {
    format!("{}{}", base, service.default_path())
}

/// `(Status, Subject, Reason, Message)` of the first FunctionExecutionStatus in a SOAP answer.
pub fn status_of(xml: &str) -> (String, Option<String>, Option<String>, Option<String>) {
    let pick = |tag: &str| -> Option<String> {
        let open = format!("<rps:{tag}>");
        let start = xml.find(&open)? + open.len();
        let end = xml[start..].find("</")? + start;
        Some(xml[start..end].to_string())
    };
    (
        pick("Status").unwrap_or_default(),
        pick("Subject"),
        pick("Reason"),
        pick("Message"),
    )
}

/// Reads an EIS document of the world.
pub fn eis_path(world: &World, i: usize) -> PathBuf {
    conformance::eum::eis_document_path(&world.dir, &world.euiccs[i].eid)
}

/// Validates every captured message against the GSMA XSDs (skips, saying so, when they are absent).
pub fn assert_captured_valid(lab: &Lab) {
    let captured = lab.captured();
    assert!(!captured.is_empty(), "nothing was captured");
    match testkit::validate_gsma_bodies(&captured) {
        Ok(_) => {}
        Err(report) => {
            panic!("emitted SOAP messages are not valid against the GSMA XSDs:\n{report}")
        }
    }
}

/// Runs a future on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The path of a file relative to the world dir, as a string.
pub fn rel(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
