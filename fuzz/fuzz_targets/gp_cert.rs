//! cargo-fuzz target `gp_cert`: the body is `fuzz_corpus::gp_cert` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::gp_cert(data));
