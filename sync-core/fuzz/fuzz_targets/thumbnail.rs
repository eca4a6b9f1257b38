#![no_main]
//! See `sync_core::fuzzing::thumbnail`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sync_core::fuzzing::abort_only_on_uncaught_panics();
    sync_core::fuzzing::thumbnail(data);
});
