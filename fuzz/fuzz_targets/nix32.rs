//! Fuzz target `nix32`: see `narherder::fuzzing::nix32`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narherder::fuzzing::nix32(data));
