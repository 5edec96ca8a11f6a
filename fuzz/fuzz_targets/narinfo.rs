//! Fuzz target `narinfo`: see `narherder::fuzzing::narinfo`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narherder::fuzzing::narinfo(data));
