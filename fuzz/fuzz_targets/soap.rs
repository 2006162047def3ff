//! cargo-fuzz target `soap`: the body is `fuzz_corpus::soap` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::soap(data));
