//! Fuzz target `guix_signature`: see `narherder::fuzzing::guix_signature`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narherder::fuzzing::guix_signature(data));
