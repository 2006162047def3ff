//! cargo-fuzz target `order_out`: the body is `fuzz_corpus::order_out` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::order_out(data));
