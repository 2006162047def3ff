//! cargo-fuzz target `c14n`: the body is `fuzz_corpus::c14n` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::c14n(data));
