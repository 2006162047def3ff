//! cargo-fuzz target `xmldsig`: the body is `fuzz_corpus::xmldsig` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::xmldsig(data));
