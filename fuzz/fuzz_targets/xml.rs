//! cargo-fuzz target `xml`: the body is `fuzz_corpus::xml` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::xml(data));
