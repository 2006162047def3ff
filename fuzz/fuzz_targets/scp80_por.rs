//! cargo-fuzz target `scp80_por`: the body is `fuzz_corpus::scp80_por` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::scp80_por(data));
