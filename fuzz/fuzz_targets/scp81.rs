//! cargo-fuzz target `scp81`: the body is `fuzz_corpus::scp81` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::scp81(data));
