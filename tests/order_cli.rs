//! `rsp profile-type`, `rsp order` and `rsp stock` as a user runs them, on both backends: the sample template, a
//! generated order, a refused file, the output file; and a crash (SIGKILL) in the middle of an import leaves
//! nothing behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const MNO: &str = "1.3.6.1.4.1.4242.7";

struct Env {
    dir: tempfile::TempDir,
    url: String,
    _pg: Option<testkit::PgTestDb>,
}

impl Env {
    fn sqlite() -> Env {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("smdp.db").display());
        Env {
            dir,
            url,
            _pg: None,
        }
    }

    fn postgres() -> Env {
        let pg = testkit::PgTestDb::new();
        Env {
            dir: tempfile::tempdir().expect("dir"),
            url: pg.url().to_owned(),
            _pg: Some(pg),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rsp"));
        c.arg("--var-dir")
            .arg(self.dir.path().join("var"))
            .args(args)
            .env(
                "RSP_MASTER_KEY",
                "mk-cli:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            )
            .env_remove("RSP_CONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        if !matches!(args.first(), Some(&"bench")) && args.get(1) != Some(&"generate") {
            all.extend(["--database-url", &self.url]);
        }
        self.cmd(&all).output().expect("run rsp")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rsp {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn stock(&self) -> Value {
        serde_json::from_str(&self.ok(&["stock", "--mno", MNO, "--json"])).expect("stock JSON")
    }
}

fn add_type(env: &Env) {
    let out = env.ok(&[
        "profile-type",
        "add",
        "--mno",
        MNO,
        "--name",
        "usim",
        "--sample-template",
        "--required-memory",
        "32768",
        "--low-stock",
        "5",
    ]);
    assert!(out.contains("profile type \"usim\""), "{out}");
}

fn walkthrough(env: &Env) {
    add_type(env);
    let list = env.ok(&["profile-type", "list", "--mno", MNO]);
    assert!(
        list.lines().nth(1).is_some_and(|l| l.starts_with("usim")),
        "{list}"
    );

    let file = env.path("order.csv");
    env.ok(&[
        "order", "generate", "--rows", "1500", "--series", "3", "-o", &file,
    ]);
    let out = env.ok(&[
        "order",
        "import",
        "--mno",
        MNO,
        "--profile-type",
        "usim",
        &file,
    ]);
    assert!(
        out.starts_with("imported 1500 rows from") && out.contains("rows/s"),
        "{out}"
    );
    assert_eq!(env.stock()[0]["available"], 1500);

    // The same file again: every row is already in stock; refused, rows named, nothing added.
    let again = env.run(&[
        "order",
        "import",
        "--mno",
        MNO,
        "--profile-type",
        "usim",
        &file,
    ]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    // Its ICCID and its IMSI of every row are in stock.
    assert!(err.contains("3000 problem(s) on 1500 line(s)"), "{err}");
    assert!(
        err.contains("line 2, column ICCID: already in stock"),
        "{err}"
    );
    // Only 100 are detailed; the report file the message names lists all 3000.
    let report = err
        .split_once("every problem is listed in ")
        .map(|(_, p)| p.lines().next().unwrap_or(p).trim().to_owned())
        .unwrap_or_else(|| panic!("no report file named: {err}"));
    let listed = std::fs::read_to_string(&report).expect("report file");
    assert_eq!(listed.lines().count(), 3000, "{report}");
    assert!(listed.contains("line 1501, column IMSI: already in stock"));

    // A file with a bad Luhn digit on line 3.
    let text = std::fs::read_to_string(&file).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let second = &mut lines[2];
    let last = second.as_bytes()[19];
    second.replace_range(
        19..20,
        &char::from(b'0' + (last - b'0' + 1) % 10).to_string(),
    );
    std::fs::write(env.path("bad.csv"), lines[..4].join("\n")).expect("write");
    let bad = env.run(&[
        "order",
        "import",
        "--mno",
        MNO,
        "--profile-type",
        "usim",
        &env.path("bad.csv"),
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("line 3, column ICCID: bad Luhn check digit"),
        "{err}"
    );
    assert_eq!(env.stock()[0]["available"], 1500);

    // Nothing installed yet: the output file is the header only.
    let out = env.ok(&["order", "export", "--mno", MNO, "--profile-type", "usim"]);
    assert_eq!(
        out.trim(),
        "ICCID,IMSI,MSISDN,EID,STATE,ORDER_ID,CREATED_AT,RESERVED_AT,DOWNLOADING_AT,INSTALLED_AT"
    );

    // A profile type with a POL2: a rule the SM-SR would not act on is refused and nothing is added; a valid
    // one is stored in its canonical spelling and listed.
    let pol2_type = |pol2: &str| {
        env.run(&[
            "profile-type",
            "add",
            "--mno",
            MNO,
            "--name",
            "usim-pol2",
            "--sample-template",
            "--required-memory",
            "32768",
            "--pol2",
            pol2,
        ])
    };
    let bad = pol2_type("DELETE:Auto-Delete");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("invalid POL2: Auto-Delete applies to DISABLE only, not to DELETE"),
        "{err}"
    );
    let list = env.ok(&["profile-type", "list", "--mno", MNO]);
    assert!(!list.contains("usim-pol2"), "{list}");
    let good = pol2_type("disable:not-allowed, DELETE:Not-Allowed");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let list = env.ok(&["profile-type", "list", "--mno", MNO]);
    assert!(
        list.lines().any(|l| l.starts_with("usim-pol2")
            && l.ends_with(" DISABLE:Not-Allowed,DELETE:Not-Allowed")),
        "{list}"
    );
}

#[test]
fn walkthrough_sqlite() {
    walkthrough(&Env::sqlite());
}

#[test]
fn walkthrough_postgres() {
    walkthrough(&Env::postgres());
}

/// Starts an import of a large file, waits until its first chunk is stored (uncommitted), kills the process,
/// and checks that nothing was imported and that the database takes the import afterwards.
fn killed_import(env: &Env) {
    add_type(env);
    let file = env.path("big.csv");
    env.ok(&[
        "order", "generate", "--rows", "300000", "--series", "4", "-o", &file,
    ]);
    let mut child = env
        .cmd(&[
            "order",
            "import",
            "--mno",
            MNO,
            "--profile-type",
            "usim",
            &file,
            "--database-url",
            &env.url,
        ])
        .env("RUST_LOG", "info,rsp=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut stored = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("line");
        if line.contains("order rows stored (uncommitted)") {
            stored = true;
            break;
        }
        assert!(
            !line.contains("order imported"),
            "the import finished before it was killed"
        );
    }
    assert!(stored, "the import never stored a chunk");
    child.kill().expect("kill");
    let status = child.wait().expect("wait");
    assert!(!status.success());

    let s = env.stock();
    assert_eq!(s[0]["available"], 0, "{s}");
    assert_eq!(s[0]["reserved"], 0, "{s}");

    // The database is consistent and unlocked: a small import goes through.
    let small = env.path("small.csv");
    env.ok(&[
        "order", "generate", "--rows", "10", "--series", "5", "-o", &small,
    ]);
    env.ok(&[
        "order",
        "import",
        "--mno",
        MNO,
        "--profile-type",
        "usim",
        &small,
    ]);
    assert_eq!(env.stock()[0]["available"], 10);
}

#[test]
fn killed_import_leaves_nothing_sqlite() {
    killed_import(&Env::sqlite());
}

#[test]
fn killed_import_leaves_nothing_postgres() {
    killed_import(&Env::postgres());
}

#[test]
fn bench_personalise_prints_a_rate() {
    let env = Env::sqlite();
    let out = env.ok(&["bench", "personalise", "--count", "200"]);
    assert!(
        out.starts_with("200 packages of ") && out.contains("packages/s"),
        "{out}"
    );
}

/// `rsp download list` and `rsp download retry-cleanup` on a download whose clean-up failed (SGP.02 §3.1.4).
fn download_cleanup(env: &Env) {
    use smdp::download::procedure::{Order, Phase, Procedure};
    // The database as `rsp` makes it, then a download in CleanupFailed as the SM-DP leaves one.
    assert_eq!(env.stock(), serde_json::json!([]));
    let store = eis_store::Store::open(&env.url, 1).expect("store");
    let mut p = Procedure::new(Order {
        eid: "89049032123451234512345678901235".into(),
        smsr_id: "1.3.6.1.4.1.99999.2".into(),
        mno_id: MNO.into(),
        iccid: "89880000000000000017".into(),
        imsi: "001010000000017".into(),
        msisdn: None,
        profile_type: "usim".into(),
        required_memory: 32768,
        target_platform: "generic".into(),
        pol2: None,
        enable: true,
    });
    p.phase = Phase::CleanupFailed;
    p.cleanup_failures = 8;
    let id = {
        let mut c = store.conn().expect("conn");
        eis_store::downloads::create(
            &mut c,
            &eis_store::downloads::NewDownload {
                es2_call_id: 1,
                mno_oid: MNO,
                eid: &p.order.eid,
                iccid: &p.order.iccid,
                phase: p.phase.name(),
                step: 9,
                awaiting_message_id: None,
                deadline: 1,
                data: &serde_json::to_string(&p).expect("json"),
            },
            eis_store::now_millis(),
        )
        .expect("download")
    };
    let listed: Value =
        serde_json::from_str(&env.ok(&["download", "list", "--json"])).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["phase"], "CleanupFailed");
    assert_eq!(listed[0]["cleanupFailures"], 8);
    let table = env.ok(&["download", "list", "--phase", "CleanupFailed"]);
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("89880000000000000017")),
        "{table}"
    );
    let out = env.ok(&["download", "retry-cleanup", "--id", &id.to_string()]);
    assert!(out.contains("clean-up queued"), "{out}");
    let listed: Value =
        serde_json::from_str(&env.ok(&["download", "list", "--json"])).expect("JSON");
    assert_eq!(listed[0]["phase"], "CleaningUp", "{listed}");
    assert_eq!(listed[0]["step"], 10);
    // A second retry is refused with a clear message, and an unknown id too.
    for id in [id.to_string(), "999".to_string()] {
        let out = env.run(&["download", "retry-cleanup", "--id", &id]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not in phase CleanupFailed"), "{err}");
    }
    let none = env.ok(&["download", "list", "--phase", "CleanupFailed", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&none).expect("JSON"),
        serde_json::json!([])
    );
}

#[test]
fn download_cleanup_sqlite() {
    download_cleanup(&Env::sqlite());
}

#[test]
fn download_cleanup_postgres() {
    download_cleanup(&Env::postgres());
}
