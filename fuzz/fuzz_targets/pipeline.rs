//! Spec text (files split on `//--file--` lines) through load, check, diagnostics, render and
//! `route`: nothing may panic. The body is `edgeplan::fuzzing::load_bytes`, shared with the suite.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgeplan::fuzzing::load_bytes(data));
