//! cargo-fuzz target `script`: the body is `fuzz_corpus::script` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::script(data));
