//! Spec text (files split on `//--file--` lines) through the loader and validator: nothing may
//! panic. The body is `edgeplan::fuzzing::check_bytes`, shared with the suite.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgeplan::fuzzing::check_bytes(data));
