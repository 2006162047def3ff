//! Runs the warehouse import benchmark: `cargo run --release -p eis-store --example warehouse_bench -- URL ROWS`.

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite://bench.db".into());
    let rows = args
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    if let Err(e) = eis_store::bench::warehouse_import(&url, rows) {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}
