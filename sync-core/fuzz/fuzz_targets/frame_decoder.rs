#![no_main]
//! See `sync_core::fuzzing::frame_decoder`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sync_core::fuzzing::abort_only_on_uncaught_panics();
    sync_core::fuzzing::frame_decoder(data);
});
