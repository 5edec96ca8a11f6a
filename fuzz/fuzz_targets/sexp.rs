//! Fuzz target `sexp`: see `narherder::fuzzing::sexp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| narherder::fuzzing::sexp(data));
