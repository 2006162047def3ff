//! cargo-fuzz target `order_csv`: the body is `fuzz_corpus::order_csv` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::order_csv(data));
