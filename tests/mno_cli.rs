//! `rsp mno` as an MNO runs it against `rsp serve --simulate`: GetEIS, enable, disable and audit of a simulated
//! eUICC's profile over ES4 (results waited for on the MNO's endpoint that `rsp serve` registers), a FAILED call
//! with its code and a non-zero exit, and ES2.DownloadProfile refused by the SM-DP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn free_port() -> u16 {
    rsp::lab::free_port().expect("a free port")
}

/// `rsp serve --simulate` in a temporary directory, with the settings every `rsp` command of the test shares.
struct Served {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    child: Child,
    banner: Vec<String>,
}

impl Served {
    fn var_dir(dir: &Path) -> PathBuf {
        dir.join("var")
    }

    fn start() -> Served {
        let dir = tempfile::tempdir().expect("temp dir");
        let var = Self::var_dir(dir.path());
        let (smsr, smdp, mno) = (free_port(), free_port(), free_port());
        let env: Vec<(String, String)> = [
            ("RSP_VAR_DIR", var.display().to_string()),
            ("RSP_SMSR__LISTEN", format!("127.0.0.1:{smsr}")),
            ("RSP_SMSR__PUBLIC_URL", format!("https://localhost:{smsr}")),
            ("RSP_SMDP__LISTEN", format!("127.0.0.1:{smdp}")),
            ("RSP_SMDP__PUBLIC_URL", format!("https://localhost:{smdp}")),
            ("RSP_ESM2M__LISTEN", format!("127.0.0.1:{}", free_port())),
            ("RSP_SMSR__METRICS_LISTEN", "127.0.0.1:0".to_string()),
            ("RSP_SMDP__METRICS_LISTEN", "127.0.0.1:0".to_string()),
            ("RSP_MNO__FIRST_PORT", mno.to_string()),
            ("RSP_ES5__POR_TIMEOUT_SECS", "2".to_string()),
            ("RUST_LOG", "warn".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let init = Command::new(env!("CARGO_BIN_EXE_rsp"))
            .args(["pki", "init", "--euiccs", "2", "--out"])
            .arg(var.join("pki"))
            .env_remove("RSP_CONFIG")
            .output()
            .expect("rsp pki init");
        assert!(init.status.success(), "{init:?}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_rsp"))
            .args(["serve", "--simulate"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("RSP_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rsp serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) if line == "ready" => break,
                Some(Ok(line)) => banner.push(line),
                _ => {
                    let _ = child.kill();
                    panic!(
                        "rsp serve exited before it was ready:\n{}",
                        banner.join("\n")
                    );
                }
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Served {
            dir,
            env,
            child,
            banner,
        }
    }

    fn mno(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rsp"))
            .arg("mno")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("RSP_CONFIG")
            .output()
            .expect("run rsp mno")
    }

    fn world(&self) -> certs::world::World {
        certs::world::World::load(&Self::var_dir(self.dir.path()).join("pki")).expect("world")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `rsp mno args`, asserting success; returns stdout.
fn ok(served: &Served, args: &[&str]) -> String {
    let out = served.mno(args);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "rsp mno {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("status: EXECUTED_SUCCESS"), "{stdout}");
    stdout
}

/// The profile line of `iccid` in a printed EIS summary.
fn profile_line<'a>(summary: &'a str, iccid: &str) -> &'a str {
    summary
        .lines()
        .find(|l| l.trim_start().starts_with(iccid))
        .unwrap_or_else(|| panic!("no profile {iccid} in:\n{summary}"))
}

#[test]
fn mno_commands_against_rsp_serve() {
    let served = Served::start();
    let world = served.world();
    let mno1 = &world.manifest.mnos[0].entity;
    let port: u16 = served
        .env
        .iter()
        .find(|(k, _)| k == "RSP_MNO__FIRST_PORT")
        .and_then(|(_, v)| v.parse().ok())
        .expect("port");
    // `rsp serve` registered MNO 1's endpoints where `rsp mno` listens by default, and says so.
    let banner = served.banner.join("\n");
    for interface in ["es4", "es2"] {
        let line = format!(
            "{} {} endpoint (`rsp mno` listens there): https://localhost:{port}/{interface}",
            mno1.name,
            interface.to_uppercase()
        );
        assert!(banner.contains(&line), "{line} not in:\n{banner}");
    }
    assert!(banner.contains("callback server:"), "{banner}");

    let eid = world.euiccs[0].eid.clone();
    let profiles = conformance::issuance::profiles_for(
        0,
        &world.euiccs[0].msisdn,
        [&mno1.oid, &world.manifest.mnos[1].entity.oid],
    )
    .expect("issued profiles");
    let (fallback, target) = (&profiles[0].iccid, &profiles[1].iccid);

    // GetEIS (synchronous): a readable summary with the MNO's profiles.
    let eis = ok(&served, &["get-eis", "--eid", &eid]);
    assert!(eis.contains("function: ES4.GetEIS"), "{eis}");
    assert!(eis.contains(&format!("eUICC: {eid}")), "{eis}");
    assert!(profile_line(&eis, fallback).contains("Enabled"), "{eis}");
    assert!(profile_line(&eis, target).contains("Disabled"), "{eis}");
    // --xml: the raw answer.
    let out = served.mno(&["get-eis", "--eid", &eid, "--xml"]);
    let (raw, _) = text(&out);
    assert!(out.status.success(), "{raw}");
    assert!(
        raw.contains("ES4-GetEISResponse") && raw.contains(target.as_str()),
        "{raw}"
    );

    // Explicit credentials instead of a world.
    let empty = tempfile::tempdir().expect("dir");
    let file = |rel: &str| world.dir.join(rel).display().to_string();
    let m = &world.manifest.mnos[0];
    let eis = ok(
        &served,
        &[
            "get-eis",
            "--eid",
            &eid,
            "--pki",
            &empty.path().display().to_string(),
            "--cert",
            &file(&m.tls_client.cert),
            "--key",
            &file(&m.tls_client.key),
            "--ca",
            &file(&world.manifest.tls_ca.cert),
            "--mno-oid",
            &mno1.oid,
        ],
    );
    assert!(profile_line(&eis, target).contains("Disabled"), "{eis}");

    // EnableProfile: accepted, the result comes to the registered endpoint.
    let fci = "mno-cli-enable-1";
    let out = ok(
        &served,
        &[
            "enable",
            "--eid",
            &eid,
            "--iccid",
            target,
            "--function-call-id",
            fci,
            "--validity",
            "300",
            "--timeout",
            "90",
        ],
    );
    assert!(out.contains("function: ES4.EnableProfile"), "{out}");
    assert!(
        out.contains(&format!("function call identifier: {fci}")),
        "{out}"
    );
    let eis = ok(&served, &["get-eis", "--eid", &eid]);
    assert!(profile_line(&eis, target).contains("Enabled"), "{eis}");
    assert!(profile_line(&eis, fallback).contains("Disabled"), "{eis}");

    // DisableProfile of the enabled profile.
    let out = ok(
        &served,
        &[
            "disable",
            "--eid",
            &eid,
            "--iccid",
            target,
            "--timeout",
            "90",
        ],
    );
    assert!(out.contains("function: ES4.DisableProfile"), "{out}");
    let eis = ok(&served, &["get-eis", "--eid", &eid]);
    assert!(profile_line(&eis, target).contains("Disabled"), "{eis}");

    // AuditEIS: the EIS read back from the eUICC.
    let out = ok(&served, &["audit", "--eid", &eid, "--timeout", "90"]);
    assert!(out.contains("function: ES4.AuditEIS"), "{out}");
    assert!(out.contains(&format!("eUICC: {eid}")), "{out}");
    assert!(profile_line(&out, target).contains("Disabled"), "{out}");

    // The same through the SM-DP (ES2): the MNO knows an eUICC there only while it carries a profile of the MNO
    // that this SM-DP downloaded (docs/architecture.md §8, "What each caller sees"); the world's pre-installed
    // profiles are not, so GetEIS and an enable are refused as unknown, with the code printed.
    let out = served.mno(&["get-eis", "--eid", &eid, "--interface", "es2"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("function: ES2.GetEIS"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("subject: 8.1.1"), "{stdout}");
    let out = served.mno(&[
        "enable",
        "--eid",
        &eid,
        "--iccid",
        target,
        "--interface",
        "es2",
        "--timeout",
        "60",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("function: ES2.EnableProfile"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("status: FAILED"), "{stdout}\n{stderr}");
    assert!(stdout.contains("subject: 8.1.1"), "{stdout}");

    // An unknown eUICC: FAILED with its code printed, non-zero exit.
    let unknown =
        certs::world::eid_with_check_digits("890499990010000000999999999999").expect("EID");
    let out = served.mno(&["enable", "--eid", &unknown, "--iccid", target]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("status: FAILED"), "{stdout}\n{stderr}");
    assert!(stdout.contains("subject: 8.1.1"), "{stdout}");
    assert!(
        stderr.contains("ES4.EnableProfile ended FAILED 8.1.1/"),
        "{stderr}"
    );

    // ES2.DownloadProfile of a profile type the SM-DP does not stock: the server's refusal, non-zero exit.
    let out = served.mno(&[
        "download",
        "--eid",
        &eid,
        "--profile-type",
        "no-such-type",
        "--enable",
        "--timeout",
        "60",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("function: ES2.DownloadProfile"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("status: FAILED"), "{stdout}\n{stderr}");
    assert!(stdout.contains("subject: "), "{stdout}");
}

#[test]
fn explicit_credentials_and_missing_world() {
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_rsp"))
        .args([
            "mno",
            "get-eis",
            "--eid",
            "89049999001000000000000000000012",
        ])
        .arg("--pki")
        .arg(dir.path())
        .env_remove("RSP_CONFIG")
        .output()
        .expect("run rsp mno");
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--cert and --key: no test world in"),
        "{stderr}"
    );
}
