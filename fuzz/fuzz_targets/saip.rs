//! cargo-fuzz target `saip`: the body is `fuzz_corpus::saip` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::saip(data));
