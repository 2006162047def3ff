//! cargo-fuzz target `x509`: the body is `fuzz_corpus::x509` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::x509(data));
