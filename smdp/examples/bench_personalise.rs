//! Runs the personalisation benchmark (`smdp::saip::bench::personalise`, as `rsp bench personalise` does).
//!
//! `cargo run --release -p smdp --example bench_personalise -- [count] [template.der]`

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let result = match std::env::args().nth(2) {
        Some(path) => match std::fs::read(&path) {
            Ok(template) => smdp::saip::bench::personalise_template(&template, n),
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        },
        None => smdp::saip::bench::personalise(n),
    };
    if let Err(e) = result {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}
