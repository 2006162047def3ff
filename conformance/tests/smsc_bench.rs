//! The submit_sm throughput benchmark building block (conformance::smsc::bench) runs end to end and prints its
//! figures. No timing is asserted; for the reported figures run in release mode with more messages:
//! `RSP_BENCH_MESSAGES=50000 cargo test --release -p conformance --test smsc_bench -- --nocapture`.

use conformance::smsc::bench::submit_throughput;

fn messages() -> usize {
    std::env::var("RSP_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_throughput_with_one_and_four_binds() {
    for binds in [1, 4] {
        let figures = submit_throughput(binds, messages())
            .await
            .expect("benchmark run");
        assert_eq!((figures.binds, figures.messages), (binds, messages()));
        println!("{figures}");
    }
}
