//! cargo-fuzz target `euicc_response`: the body is `fuzz_corpus::euicc_response` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::euicc_response(data));
