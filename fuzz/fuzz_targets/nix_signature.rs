//! Fuzz target `nix_signature`: see `narherder::fuzzing::nix_signature`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narherder::fuzzing::nix_signature(data));
