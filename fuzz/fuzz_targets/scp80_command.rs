//! cargo-fuzz target `scp80_command`: the body is `fuzz_corpus::scp80_command` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_corpus::scp80_command(data));
