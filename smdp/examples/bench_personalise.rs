//! Runs the personalisation benchmark (`smdp::saip::bench::personalise`, as `rsp bench personalise` does).
//!
//! `cargo run --release -p smdp --example bench_personalise -- [count]`

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    if let Err(e) = smdp::saip::bench::personalise(n) {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}
