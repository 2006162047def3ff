//! `rsp bench download` runs end to end with a tiny fleet and prints every figure it promises (issue 9 item 6);
//! the figures themselves are not judged (benchmarks assert nothing).

use std::process::Command;

#[test]
fn bench_download_prints_its_figures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_rsp"))
        .args(["--var-dir"])
        .arg(dir.path())
        .args([
            "bench",
            "download",
            "--euiccs",
            "2",
            "--floor-iterations",
            "3",
            "--validity-secs",
            "300",
        ])
        .env("RUST_LOG", "error")
        .output()
        .expect("run rsp bench download");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rsp bench download failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for figure in [
        "results: ",
        "complete downloads per second: ",
        "latency (call to result): p50 ",
        "CPU seconds per ",
        "SMS per ",
        "crypto floor of one download",
        "SM-DP  ECASD chain",
        "eUICC  SCP03t",
        "SM-SR  SCP80",
        "ratio = complete downloads per second / crypto-floor downloads per second",
    ] {
        assert!(stdout.contains(figure), "no `{figure}` in:\n{stdout}");
    }
}
