//! cargo-fuzz target `notification`: the body is `fuzz_corpus::notification` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::notification(data));
