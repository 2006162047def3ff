//! `rsp entity` and the configuration's `entities:` section as an operator uses them, on SQLite and PostgreSQL:
//! registering an MNO in both servers' stores, its endpoint (which is what lets its wsa:ReplyTo through), adding
//! and revoking TLS client certificates (a revoked one no longer resolves to a caller), refusals of bad input
//! that leave the stores unchanged, and the declarative section applied idempotently by `rsp serve`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use eis_store::Store;
use eis_store::entities::{self, EntityRole};
use es_runtime::caller::{CallerDirectory, CallerError, Interface};
use es_runtime::destination::OutgoingPolicy;
use es_runtime::tls::PeerCertificate;
use serde_json::Value;

const MNO: &str = "1.3.6.1.4.1.4242.77";

struct Env {
    dir: tempfile::TempDir,
    smsr_url: String,
    smdp_url: String,
    _pg: Vec<testkit::PgTestDb>,
}

impl Env {
    fn sqlite() -> Env {
        let dir = tempfile::tempdir().expect("dir");
        let smsr_url = format!("sqlite://{}", dir.path().join("smsr.db").display());
        let smdp_url = format!("sqlite://{}", dir.path().join("smdp.db").display());
        Env::with(dir, smsr_url, smdp_url, Vec::new())
    }

    fn postgres() -> Env {
        let (a, b) = (testkit::PgTestDb::new(), testkit::PgTestDb::new());
        let (smsr_url, smdp_url) = (a.url().to_owned(), b.url().to_owned());
        Env::with(
            tempfile::tempdir().expect("dir"),
            smsr_url,
            smdp_url,
            vec![a, b],
        )
    }

    fn with(
        dir: tempfile::TempDir,
        smsr_url: String,
        smdp_url: String,
        pg: Vec<testkit::PgTestDb>,
    ) -> Env {
        let env = Env {
            dir,
            smsr_url,
            smdp_url,
            _pg: pg,
        };
        let init = env
            .cmd(&["pki", "init", "--euiccs", "1", "--seed", "7", "--out"])
            .arg(env.pki())
            .output()
            .expect("rsp pki init");
        assert!(init.status.success(), "{init:?}");
        env
    }

    fn var(&self) -> PathBuf {
        self.dir.path().join("var")
    }

    fn pki(&self) -> PathBuf {
        self.var().join("pki")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rsp"));
        c.arg("--var-dir")
            .arg(self.var())
            .args(args)
            .env_remove("RSP_CONFIG")
            .env("RUST_LOG", "warn");
        c
    }

    /// `rsp entity args` on this environment's two databases.
    fn entity(&self, args: &[&str]) -> Output {
        let mut all = vec!["entity"];
        all.extend_from_slice(args);
        all.extend([
            "--smsr-database-url",
            &self.smsr_url,
            "--smdp-database-url",
            &self.smdp_url,
        ]);
        self.cmd(&all).output().expect("run rsp entity")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.entity(args);
        assert!(
            out.status.success(),
            "rsp entity {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    /// Runs a command that must fail; returns its error output.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.entity(args);
        assert!(!out.status.success(), "rsp entity {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn list(&self) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.ok(&["list", "--json"])).expect("JSON");
        v.as_array().expect("array").clone()
    }

    /// The world's certificate file of MNO `i`'s callback server: a certificate no seeded entity uses.
    fn cert(&self, i: usize) -> String {
        let world = certs::world::World::load(&self.pki()).expect("world");
        let rel = &world.manifest.mnos[i]
            .tls_server
            .as_ref()
            .expect("MNO server certificate")
            .cert;
        self.pki().join(rel).display().to_string()
    }

    fn store(&self, url: &str) -> Store {
        Store::open(url, 1).expect("open store")
    }
}

fn fingerprint(path: &str) -> [u8; 32] {
    let pem = std::fs::read_to_string(path).expect("read cert");
    certs::x509::X509Certificate::from_pem(&pem)
        .expect("cert")
        .sha256_fingerprint()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn rows_of<'a>(list: &'a [Value], oid: &str) -> Vec<&'a Value> {
    list.iter().filter(|e| e["oid"] == oid).collect()
}

/// Who the SM-SR's registry says presents `fp` on ES4 (no cache).
fn resolve(store: &Store, fp: [u8; 32]) -> Result<String, CallerError> {
    let cert = PeerCertificate {
        sha256: fp,
        subject: "CN=test".into(),
    };
    CallerDirectory::new(Duration::ZERO)
        .resolve(
            store,
            Some(&cert),
            Interface {
                name: "ES4",
                role: EntityRole::Mno,
            },
        )
        .map(|c| c.oid)
}

fn commands(env: &Env) {
    let (a, b) = (env.cert(0), env.cert(1));
    let (fa, fb) = (fingerprint(&a), fingerprint(&b));
    let before = env.list();

    // Bad input: nothing is stored.
    let err = env.refused(&[
        "add",
        "--oid",
        MNO,
        "--role",
        "mno",
        "--name",
        "Op",
        "--endpoint",
        "ES4=http://mno.example/es4",
        "--tls-cert",
        &a,
    ]);
    assert!(err.contains("is not https"), "{err}");
    let err = env.refused(&[
        "add",
        "--oid",
        MNO,
        "--role",
        "mno",
        "--name",
        "Op",
        "--endpoint",
        "ES4=https://mno.example:8443/es4",
        "--tls-cert",
        "/nonexistent.pem",
    ]);
    assert!(
        err.contains("cannot read certificate /nonexistent.pem"),
        "{err}"
    );
    let garbage = env.dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let garbage = garbage.display().to_string();
    let err = env.refused(&[
        "add",
        "--oid",
        MNO,
        "--role",
        "mno",
        "--name",
        "Op",
        "--tls-cert",
        &garbage,
    ]);
    assert!(err.contains("is not a PEM X.509 certificate"), "{err}");
    let err = env.refused(&["add", "--oid", MNO, "--role", "operator", "--name", "Op"]);
    assert!(err.contains("unknown role"), "{err}");
    assert_eq!(env.list(), before);

    // An MNO in both stores, with its ES4 endpoint and one certificate.
    let out = env.ok(&[
        "add",
        "--oid",
        MNO,
        "--role",
        "mno",
        "--name",
        "Operator 77",
        "--endpoint",
        "ES4=https://mno77.example:8443/es4",
        "--tls-cert",
        &a,
    ]);
    assert!(
        out.contains("in the SM-SR's store") && out.contains("in the SM-DP's store"),
        "{out}"
    );
    let list = env.list();
    let rows = rows_of(&list, MNO);
    assert_eq!(rows.len(), 2, "{list:?}");
    for r in &rows {
        assert_eq!(r["role"], "MNO");
        assert_eq!(r["endpoints"]["ES4"], "https://mno77.example:8443/es4");
        assert_eq!(r["tls_cert_sha256"], serde_json::json!([hex(&fa)]));
    }
    let allowed: Vec<&Value> = rows.iter().map(|r| &r["allowed_interfaces"][0]).collect();
    assert_eq!(allowed, [&Value::from("ES4"), &Value::from("ES2")]);

    // Registered twice, or a certificate another entity owns: refused, nothing stored.
    let err = env.refused(&["add", "--oid", MNO, "--role", "mno", "--name", "Again"]);
    assert!(err.contains("already registered"), "{err}");
    let err = env.refused(&[
        "add",
        "--oid",
        "1.3.6.1.4.1.4242.78",
        "--role",
        "sm-dp",
        "--name",
        "DP",
        "--server",
        "smsr",
        "--tls-cert",
        &a,
    ]);
    assert!(
        err.contains("already authenticates 1.3.6.1.4.1.4242.77"),
        "{err}"
    );
    assert!(rows_of(&env.list(), "1.3.6.1.4.1.4242.78").is_empty());

    // Endpoints: unknown entity, malformed or cleartext URL refused; nothing changes.
    let err = env.refused(&[
        "set-endpoint",
        "--oid",
        "1.2.3.4",
        "--interface",
        "ES4",
        "--url",
        "https://x.example/",
    ]);
    assert!(err.contains("unknown entity 1.2.3.4"), "{err}");
    let err = env.refused(&[
        "set-endpoint",
        "--oid",
        MNO,
        "--interface",
        "ES4",
        "--url",
        "mno77 es4",
    ]);
    assert!(err.contains("malformed URL"), "{err}");
    let err = env.refused(&[
        "set-endpoint",
        "--oid",
        MNO,
        "--interface",
        "ES4",
        "--url",
        "http://mno77.example/es4",
    ]);
    assert!(err.contains("not https"), "{err}");
    let err = env.refused(&[
        "set-endpoint",
        "--oid",
        MNO,
        "--interface",
        "ES9x",
        "--url",
        "https://mno77.example/",
    ]);
    assert!(err.contains("unknown interface"), "{err}");
    assert_eq!(env.list(), list);

    // set-endpoint is what makes a ReplyTo at the new origin allowed (es_runtime::destination).
    let smsr = env.store(&env.smsr_url);
    let reply_to = "https://hooks.mno77.example/results";
    let registered = |store: &Store| {
        let mut conn = store.conn().expect("conn");
        entities::get_entity(&mut conn, MNO)
            .expect("get")
            .expect("registered")
            .endpoints
    };
    let policy = OutgoingPolicy::new(&[]).expect("policy");
    assert!(
        policy
            .check_reply_to(MNO, Some(reply_to), &registered(&smsr))
            .is_err()
    );
    env.ok(&[
        "set-endpoint",
        "--oid",
        MNO,
        "--interface",
        "es4",
        "--url",
        "https://hooks.mno77.example/es4",
        "--server",
        "smsr",
    ]);
    assert!(
        policy
            .check_reply_to(MNO, Some(reply_to), &registered(&smsr))
            .is_ok()
    );
    let smdp = env.store(&env.smdp_url);
    assert_eq!(
        registered(&smdp).get("ES4").map(String::as_str),
        Some("https://mno77.example:8443/es4"),
        "--server smsr leaves the SM-DP's store alone"
    );
    env.ok(&[
        "set-endpoint",
        "--oid",
        MNO,
        "--interface",
        "ES2",
        "--url",
        "https://mno77.example:8443/es2",
        "--server",
        "smdp",
    ]);
    assert_eq!(
        registered(&smdp).get("ES2").map(String::as_str),
        Some("https://mno77.example:8443/es2")
    );
    env.ok(&[
        "set-endpoint",
        "--oid",
        MNO,
        "--interface",
        "ES2",
        "--remove",
        "--server",
        "smdp",
    ]);
    assert!(!registered(&smdp).contains_key("ES2"));

    // Certificates: rollover, then revocation of the old one.
    let err = env.refused(&["add-cert", "--oid", MNO, "--cert", &garbage]);
    assert!(err.contains("is not a PEM X.509 certificate"), "{err}");
    let err = env.refused(&["add-cert", "--oid", MNO, "--cert", &a]);
    assert!(err.contains("already registered"), "{err}");
    env.ok(&["add-cert", "--oid", MNO, "--cert", &b]);
    assert_eq!(resolve(&smsr, fa).expect("known"), MNO);
    assert_eq!(resolve(&smsr, fb).expect("known"), MNO);
    let err = env.refused(&["revoke-cert", "--oid", MNO, "--fingerprint", "00"]);
    assert!(err.contains("not 64 hex digits"), "{err}");
    let err = env.refused(&["revoke-cert", "--oid", "1.2.3.4", "--cert", &a]);
    assert!(err.contains("unknown entity"), "{err}");
    let out = env.ok(&["revoke-cert", "--oid", MNO, "--fingerprint", &hex(&fa)]);
    assert!(out.contains("revoked in the SM-SR's store"), "{out}");
    assert!(matches!(resolve(&smsr, fa), Err(CallerError::Unknown(_))));
    assert_eq!(resolve(&smsr, fb).expect("still known"), MNO);
    for r in rows_of(&env.list(), MNO) {
        assert_eq!(r["tls_cert_sha256"], serde_json::json!([hex(&fb)]));
    }
    let err = env.refused(&["revoke-cert", "--oid", MNO, "--cert", &a]);
    assert!(err.contains("is not registered for"), "{err}");

    // By default an SM-DP goes to the SM-SR's store only, an SM-SR to the SM-DP's.
    env.ok(&[
        "add",
        "--oid",
        "1.3.6.1.4.1.4242.81",
        "--role",
        "sm-dp",
        "--name",
        "DP 81",
    ]);
    env.ok(&[
        "add",
        "--oid",
        "1.3.6.1.4.1.4242.82",
        "--role",
        "SM-SR",
        "--name",
        "SR 82",
    ]);
    let list = env.list();
    assert_eq!(
        rows_of(&list, "1.3.6.1.4.1.4242.81")
            .iter()
            .map(|r| &r["server"])
            .collect::<Vec<_>>(),
        [&Value::from("smsr")]
    );
    assert_eq!(
        rows_of(&list, "1.3.6.1.4.1.4242.82")
            .iter()
            .map(|r| &r["server"])
            .collect::<Vec<_>>(),
        [&Value::from("smdp")]
    );

    // An EUM only in the SM-SR's store: the other commands find it there without --server.
    env.ok(&[
        "add",
        "--oid",
        "1.3.6.1.4.1.4242.79",
        "--role",
        "EUM",
        "--name",
        "EUM 79",
        "--server",
        "smsr",
        "--gp-cert",
        &a,
    ]);
    env.ok(&["add-cert", "--oid", "1.3.6.1.4.1.4242.79", "--cert", &a]);
    let list = env.list();
    let eum = rows_of(&list, "1.3.6.1.4.1.4242.79");
    assert_eq!(eum.len(), 1);
    assert_eq!(
        (&eum[0]["server"], &eum[0]["gp_certificate"]),
        (&Value::from("smsr"), &Value::from(true))
    );
    let err = env.refused(&[
        "add-cert",
        "--oid",
        "1.3.6.1.4.1.4242.79",
        "--cert",
        &b,
        "--server",
        "both",
    ]);
    assert!(err.contains("not registered in the SM-DP's store"), "{err}");
    assert_eq!(env.list(), list);
}

fn free_port() -> u16 {
    rsp::lab::free_port().expect("a free port")
}

/// `rsp serve` with `config` until it is ready; returns its banner (or its error output if it exited).
fn serve(env: &Env, config: &Path) -> Result<Vec<String>, String> {
    let (smsr, smdp) = (free_port(), free_port());
    let mut child = env
        .cmd(&[
            "--config",
            &config.display().to_string(),
            "serve",
            "--smsr-database-url",
            &env.smsr_url,
            "--smdp-database-url",
            &env.smdp_url,
        ])
        .env("RSP_SMSR__LISTEN", format!("127.0.0.1:{smsr}"))
        .env("RSP_SMDP__LISTEN", format!("127.0.0.1:{smdp}"))
        .env("RSP_ESM2M__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("RSP_SMSR__METRICS_LISTEN", "127.0.0.1:0")
        .env("RSP_SMDP__METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rsp serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut banner = Vec::new();
    let mut ready = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if line == "ready" {
            ready = true;
            break;
        }
        banner.push(line);
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    if ready {
        Ok(banner)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn declarative(env: &Env) {
    let a = env.cert(0);
    let config = env.dir.path().join("rsp.yaml");
    let write = |endpoint: &str| {
        std::fs::write(
            &config,
            format!(
                "entities:\n  - oid: \"{MNO}\"\n    role: MNO\n    name: Operator 77\n    endpoints:\n      ES4: {endpoint}\n      ES2: https://mno77.example:8443/es2\n    tls_certs: [\"{a}\"]\n"
            ),
        )
        .expect("write config")
    };

    // A bad declaration stops the start before anything is stored.
    std::fs::write(
        &config,
        format!(
            "entities:\n  - {{oid: \"{MNO}\", role: MNO, name: A, tls_certs: [\"{a}\"]}}\n  - {{oid: \"1.3.6.1.4.1.4242.80\", role: MNO, name: B, tls_certs: [\"{a}\"]}}\n"
        ),
    )
    .expect("write config");
    let err = serve(env, &config).expect_err("refused");
    assert!(err.contains("is declared for"), "{err}");
    write("http://mno77.example/es4");
    let err = serve(env, &config).expect_err("refused");
    assert!(
        err.contains("configuration `entities`") && err.contains("is not https"),
        "{err}"
    );
    assert!(rows_of(&env.list(), MNO).is_empty());

    write("https://mno77.example:8443/es4");
    let banner = serve(env, &config).expect("serve").join("\n");
    assert!(
        banner.contains(&format!(
            "entity {MNO} (configuration): created in the SM-SR's store"
        )),
        "{banner}"
    );
    assert!(
        banner.contains(&format!(
            "entity {MNO} (configuration): created in the SM-DP's store"
        )),
        "{banner}"
    );
    let again = serve(env, &config).expect("serve").join("\n");
    assert!(
        again.contains(&format!(
            "entity {MNO} (configuration): unchanged in the SM-SR's store"
        )),
        "{again}"
    );
    assert!(
        again.contains(&format!(
            "entity {MNO} (configuration): unchanged in the SM-DP's store"
        )),
        "{again}"
    );
    let list = env.list();
    let rows = rows_of(&list, MNO);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["endpoints"]["ES4"],
        "https://mno77.example:8443/es4"
    );
    assert_eq!(
        rows[0]["tls_cert_sha256"],
        serde_json::json!([hex(&fingerprint(&a))])
    );

    // A changed declaration replaces what the store has.
    write("https://new.mno77.example/es4");
    let changed = serve(env, &config).expect("serve").join("\n");
    assert!(
        changed.contains(&format!(
            "entity {MNO} (configuration): updated in the SM-SR's store"
        )),
        "{changed}"
    );
    for r in rows_of(&env.list(), MNO) {
        assert_eq!(r["endpoints"]["ES4"], "https://new.mno77.example/es4");
    }
}

#[test]
fn entity_commands_on_sqlite() {
    commands(&Env::sqlite());
}

#[test]
fn entity_commands_on_postgres() {
    commands(&Env::postgres());
}

#[test]
fn declared_entities_on_sqlite() {
    declarative(&Env::sqlite());
}

#[test]
fn declared_entities_on_postgres() {
    declarative(&Env::postgres());
}
