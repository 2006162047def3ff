//! cargo-fuzz target `smpp`: the body is `fuzz_corpus::smpp` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::smpp(data));
