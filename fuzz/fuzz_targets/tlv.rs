//! cargo-fuzz target `tlv`: the body is `fuzz_corpus::tlv` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::tlv(data));
