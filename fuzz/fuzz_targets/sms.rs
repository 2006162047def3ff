//! cargo-fuzz target `sms`: the body is `fuzz_corpus::sms` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::sms(data));
