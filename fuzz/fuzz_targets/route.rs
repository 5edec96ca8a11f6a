//! Fuzz target `route`: see `narherder::fuzzing::route`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narherder::fuzzing::route(data));
