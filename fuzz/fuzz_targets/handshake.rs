//! libFuzzer entry for the `handshake` target (logic in `src/lib.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wssession_fuzz::run("handshake", data));
