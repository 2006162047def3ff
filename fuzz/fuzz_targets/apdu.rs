//! cargo-fuzz target `apdu`: the body is `fuzz_corpus::apdu` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::apdu(data));
