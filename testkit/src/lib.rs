//! Test harness for the workspace (dev-dependency only, never linked into `rsp`).
//!
//! - [`python`]: a virtualenv with the independent checkers (zeep, xmlschema, asn1tools, `cryptography`,
//!   pycryptodome, signxml) installed from PyPI on first use, pinned by `testkit/py/requirements.txt`.
//! - [`node_modules`]: npm packages (the `smpp` SMSC/ESME) installed on first use.
//! - [`promtool`] and [`promtool_check_metrics`]: Prometheus's `promtool` from Debian's `prometheus` package,
//!   extracted (not installed) on first use; [`xmllint`] likewise from `libxml2-utils`.
//! - [`chromium`] and [`chromium_headless`]: Debian's `chromium`, installed on first use (as root), to open the
//!   HTML reports headless.
//! - [`gsma_xsd_dir`] and [`validate_gsma_bodies`]: the GSMA SGP.02 v3 XSDs from `../shared`, or
//!   `RSP_GSMA_XSD_DIR`.
//! - [`PgTestDb`]: a throw-away PostgreSQL database per test, so that every storage test runs on both backends.
//!
//! Installs are guarded by a file lock, so parallel test processes (nextest) install once.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::{Connection, RunQueryDsl, pg::PgConnection};

/// The workspace root (the directory whose `Cargo.toml` has `[workspace]`), found at run time from the
/// `CARGO_MANIFEST_DIR` cargo gives the test process, so that a testkit built for one checkout never points
/// a test at another checkout's files.
pub fn workspace_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().expect("current dir"));
    let mut dir: &Path = &start;
    loop {
        let manifest = dir.join("Cargo.toml");
        if std::fs::read_to_string(&manifest).is_ok_and(|t| t.contains("[workspace]")) {
            return dir.to_path_buf();
        }
        dir = dir
            .parent()
            .unwrap_or_else(|| panic!("no workspace Cargo.toml above {}", start.display()));
    }
}

/// Where the harness keeps installed tools: `$CARGO_TARGET_DIR/testkit` or `<root>/target/testkit`.
pub fn tool_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("testkit");
    fs::create_dir_all(&dir).expect("create target/testkit");
    dir
}

/// Runs `f` while holding an exclusive lock on `<tool_dir>/<name>.lock`.
fn with_lock<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let path = tool_dir().join(format!("{name}.lock"));
    let file: File = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .expect("open lock file");
    file.lock().expect("lock");
    let out = f();
    file.unlock().expect("unlock");
    out
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Path of the Python interpreter of the checker virtualenv, creating and filling it on first use.
pub fn python() -> PathBuf {
    let req = workspace_root().join("testkit/py/requirements.txt");
    let wanted = fs::read_to_string(&req).expect("read requirements.txt");
    with_lock("venv", || {
        let venv = tool_dir().join("venv");
        let py = venv.join("bin/python");
        let stamp = venv.join("requirements.installed");
        if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && py.exists() {
            return py;
        }
        if !py.exists() {
            let python3 = std::env::var("RSP_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
            run(Command::new(python3).arg("-m").arg("venv").arg(&venv));
        }
        run(Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&req));
        fs::write(&stamp, &wanted).expect("write stamp");
        py
    })
}

/// A Python helper script shipped in `testkit/py/`.
pub fn py_script(name: &str) -> PathBuf {
    workspace_root().join("testkit/py").join(name)
}

/// Runs a Python checker script from the virtualenv; returns stdout, panicking with its output on failure.
pub fn run_python(script: &Path, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {:?} failed:\n{stdout}\n{}",
        script.display(),
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Directory holding `node_modules` with the given npm packages (`name@version`), installed on first use.
pub fn node_modules(packages: &[&str]) -> PathBuf {
    with_lock("npm", || {
        let dir = tool_dir().join("node");
        fs::create_dir_all(&dir).expect("create node dir");
        let stamp = dir.join("packages.installed");
        let wanted = packages.join("\n");
        if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
            return dir;
        }
        if !dir.join("package.json").exists() {
            fs::write(
                dir.join("package.json"),
                "{\"name\":\"rsp-testkit\",\"private\":true}\n",
            )
            .expect("package.json");
        }
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .args(packages)
            .current_dir(&dir));
        fs::write(&stamp, &wanted).expect("write stamp");
        dir
    })
}

/// Path of `promtool` (Prometheus's checker, from Debian's `prometheus` package): `RSP_TEST_PROMTOOL` if set,
/// else extracted on first use without root and without installing anything ([`extract_deb`]) and kept for
/// later runs.
pub fn promtool() -> PathBuf {
    if let Some(p) = std::env::var_os("RSP_TEST_PROMTOOL") {
        return PathBuf::from(p);
    }
    extract_deb("prometheus", "usr/bin/promtool")
}

/// Path of `xmllint` (libxml2's XML Schema validator, which `rsp conformance run` uses to check every message
/// against the GSMA XSDs): `RSP_TEST_XMLLINT` if set, else the `xmllint` on `PATH` if there is one, else
/// extracted from Debian's `libxml2-utils` package ([`extract_deb`]; its library, libxml2, is a dependency of
/// the toolchain's own packages).
pub fn xmllint() -> PathBuf {
    if let Some(p) = std::env::var_os("RSP_TEST_XMLLINT") {
        return PathBuf::from(p);
    }
    let on_path = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return PathBuf::from("xmllint");
    }
    extract_deb("libxml2-utils", "usr/bin/xmllint")
}

/// The file `path` (e.g. `usr/bin/promtool`) of Debian package `package`, extracted on first use without root
/// and without installing anything — `apt-get download` into `<tool_dir>/<package>/` (after an `apt-get update`
/// when the package lists are missing or stale) and `dpkg-deb -x` of the package there — and kept for later
/// runs.
pub fn extract_deb(package: &str, path: &str) -> PathBuf {
    with_lock(package, || {
        let dir = tool_dir().join(package);
        let bin = dir.join("root").join(path);
        if bin.exists() {
            return bin;
        }
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create package dir");
        apt_get(&["download", package], &dir);
        let deb = fs::read_dir(&dir)
            .expect("read package dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .unwrap_or_else(|| {
                panic!(
                    "apt-get download {package} left no .deb in {}",
                    dir.display()
                )
            });
        run(Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(dir.join("root")));
        let _ = fs::remove_file(&deb);
        assert!(bin.exists(), "{} has no {path}", deb.display());
        bin
    })
}

/// Runs `apt-get ARGS` in `dir`; when it fails, runs `apt-get update` (a fresh machine may have no package
/// lists, or old ones naming versions the mirror no longer has) and tries once more.
fn apt_get(args: &[&str], dir: &Path) {
    let attempt = || {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run apt-get: {e}"))
    };
    if attempt().status.success() {
        return;
    }
    run(Command::new("apt-get").args(["update", "-q"]));
    let out = attempt();
    assert!(
        out.status.success(),
        "apt-get {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Path of Chromium (Debian's `chromium` package), to open HTML reports headless: `RSP_TEST_CHROMIUM` if set,
/// else `/usr/bin/chromium`, installed on first use with `apt-get install -y --no-install-recommends chromium`
/// (the tests run as root, as CI does; a browser cannot be extracted on its own like promtool: it needs its
/// shared libraries installed).
pub fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("RSP_TEST_CHROMIUM") {
        return PathBuf::from(p);
    }
    let bin = PathBuf::from("/usr/bin/chromium");
    with_lock("chromium", || {
        if !bin.exists() {
            let started = std::time::Instant::now();
            apt_get(
                &["install", "-y", "-q", "--no-install-recommends", "chromium"],
                &tool_dir(),
            );
            eprintln!(
                "testkit: installed chromium in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
        assert!(
            bin.exists(),
            "apt-get installed chromium, but {} is absent",
            bin.display()
        );
        bin
    })
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom`, `--screenshot=PNG`, …) in a throw-away profile,
/// the window `width`×`height` pixels, no network beyond `url` (no sync, updates or background requests);
/// returns stdout (the rendered DOM for `--dump-dom`), panicking with Chromium's output on failure.
pub fn chromium_headless(url: &str, mode: &str, width: u32, height: u32) -> String {
    let profile = tempdir_in_tools("chromium-profile");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(mode)
        .arg(url)
        .output()
        .expect("run chromium");
    let _ = fs::remove_dir_all(&profile);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "chromium {mode} {url} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `promtool check metrics` on `text` (a `/metrics` answer): `Err` with promtool's report when it finds
/// the exposition invalid or a lint problem (e.g. a counter without `_total`, a metric without help).
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The GSMA SGP.02 v3 XSD directory: `RSP_GSMA_XSD_DIR` (which must then exist), else `../shared/specs/...`
/// beside the workspace, else `None` (the caller skips, saying so).
pub fn gsma_xsd_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RSP_GSMA_XSD_DIR") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("bodies.xsd").exists(),
            "RSP_GSMA_XSD_DIR={} has no bodies.xsd",
            dir.display()
        );
        return Some(dir);
    }
    let shared = workspace_root().join("../shared/specs/gsma-sgp02-v3-webservices/xsd");
    if shared.join("bodies.xsd").exists() {
        return Some(shared);
    }
    eprintln!(
        "SKIPPED: GSMA XSDs not found (no RSP_GSMA_XSD_DIR and no ../shared); XSD validation not run"
    );
    None
}

/// Validates SOAP envelopes or bare body elements against the GSMA XSDs (Python xmlschema, one process for all).
/// Returns `Err` with the checker's report if any body is invalid; `Ok(false)` if the XSDs are absent (skipped).
pub fn validate_gsma_bodies(documents: &[String]) -> Result<bool, String> {
    let Some(xsd) = gsma_xsd_dir() else {
        return Ok(false);
    };
    let dir = tempdir_in_tools("xsd");
    let mut files = Vec::new();
    for (i, doc) in documents.iter().enumerate() {
        let path = dir.join(format!("msg{i:04}.xml"));
        fs::write(&path, doc).expect("write message");
        files.push(path.to_string_lossy().into_owned());
    }
    let out = Command::new(python())
        .arg(py_script("xsd_validate.py"))
        .arg(&xsd)
        .args(&files)
        .output()
        .expect("run xsd_validate.py");
    let _ = fs::remove_dir_all(&dir);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(true)
    } else {
        Err(report)
    }
}

/// Asserts that a session's captured messages name each of `expected` body elements, then validates them and the
/// client's own requests (`sent`) against the GSMA XSDs ([`validate_gsma_bodies`]; skipped, saying so, when the
/// XSDs are absent). `what` names the session in the failure message.
pub fn assert_session_valid(
    what: &str,
    mut documents: Vec<String>,
    expected: &[&str],
    sent: Vec<String>,
) {
    let emitted = documents.len();
    for element in expected {
        assert!(
            documents.iter().any(|d| d.contains(&format!(":{element}"))),
            "{what}: no captured {element} among {emitted} messages"
        );
    }
    documents.extend(sent);
    match validate_gsma_bodies(&documents) {
        Ok(true) => {}
        Ok(false) => eprintln!("SKIPPED: GSMA XSDs absent"),
        Err(report) => {
            panic!("{what}: {emitted} emitted + client requests do not validate:\n{report}")
        }
    }
}

/// A fresh empty directory under the tool dir (removed by the caller).
pub fn tempdir_in_tools(prefix: &str) -> PathBuf {
    let dir = tool_dir()
        .join("tmp")
        .join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
    fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A PostgreSQL database created for one test and dropped afterwards.
///
/// The server is `RSP_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). A server that cannot
/// be reached fails the test: storage tests run on both backends, never silently on one.
pub struct PgTestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl PgTestDb {
    /// Creates a new, empty database.
    pub fn new() -> Self {
        let admin_url = std::env::var("RSP_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let name = format!("rsp_test_{}", uuid::Uuid::new_v4().simple());
        // Before libpq touches OpenSSL: no exit-time cleanup racing with connections (see eis-store).
        openssl::init();
        let mut conn = PgConnection::establish(&no_gss(&admin_url)).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {admin_url} is not reachable ({e}); start it (see .ci/run) or set RSP_TEST_PG_URL"
            )
        });
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create test database");
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        let url = format!("{base}/{name}");
        PgTestDb {
            admin_url,
            name,
            url,
        }
    }

    /// URL of the test database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Terminates every connection to the test database (`pg_terminate_backend`), as a restart of the server
    /// does to its clients; returns how many there were.
    pub fn terminate_connections(&self) -> usize {
        let mut conn = PgConnection::establish(&no_gss(&self.admin_url))
            .unwrap_or_else(|e| panic!("PostgreSQL at {} is not reachable ({e})", self.admin_url));
        #[derive(diesel::QueryableByName)]
        struct Terminated {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            terminated: bool,
        }
        let rows: Vec<Terminated> = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind::<diesel::sql_types::Text, _>(&self.name)
        .load(&mut conn)
        .expect("terminate the test database's connections");
        rows.iter().filter(|r| r.terminated).count()
    }
}

/// `url` without libpq's GSSAPI encryption attempt, which loads Kerberos and can abort a process with many
/// threads as it exits (as `eis_store::connection::without_gss_encryption` does for the servers).
fn no_gss(url: &str) -> String {
    if url.contains("gssencmode=") {
        return url.to_string();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}gssencmode=disable")
}

/// Empties the PostgreSQL database at `url` (every table, the migrations' record included), for a test that
/// starts again from scratch in the same database.
pub fn reset_pg_database(url: &str) {
    let mut conn = PgConnection::establish(&no_gss(url))
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is not reachable ({e})"));
    diesel::sql_query("DROP SCHEMA public CASCADE")
        .execute(&mut conn)
        .expect("drop schema");
    diesel::sql_query("CREATE SCHEMA public")
        .execute(&mut conn)
        .expect("create schema");
}

impl Default for PgTestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&no_gss(&self.admin_url)) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}
