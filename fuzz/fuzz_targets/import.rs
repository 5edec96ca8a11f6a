//! Fuzz target `import`: see `narherder::fuzzing::import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narherder::fuzzing::import(data));
