//! Issue 13's import figure alone: `field-client import` of a CSV of
//! realistic activities (the scale bench's rows) into a fresh store, as a
//! whole process: its time, its peak resident memory (sampled from /proc,
//! Linux) and the store's bytes per activity right after it. Then, apart,
//! the compaction that `field-client run` does once the store is quiet (an
//! import does not compact: it would load the whole journal), as
//! `field-client compact`: its time, peak memory and the bytes after it.
//!
//! `cargo bench -p tests --bench import [-- ROWS...]` (default: 10000,
//! 50000 and 100000; the target is 10 s and 200 MB at 100000).

use std::path::Path;

mod common;
use common::{Took, activities_csv, init_centre_device, report, sizes_from_args, took};

fn main() {
    let sizes = sizes_from_args(&[10_000, 50_000, 100_000]);
    let fc = tests::field_client_bin();
    for rows in sizes {
        let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let csv = root.path().join("activities.csv");
        std::fs::write(&csv, activities_csv(0, rows)).expect("write CSV");
        let device = root.path().join("device");
        init_centre_device(&fc, &device);
        let csv = csv.to_str().expect("UTF-8");
        let import = took(&fc, &device, &["import", csv]);
        report_step(&format!("import {rows} CSV rows"), &device, rows, &import);
        let compaction = took(&fc, &device, &["compact"]);
        report_step(
            "  then its compaction (by `run`)",
            &device,
            rows,
            &compaction,
        );
    }
}

fn report_step(what: &str, device: &Path, rows: usize, took: &Took) {
    let store = std::fs::metadata(device.join("journal.redb")).map_or(0, |m| m.len());
    report(
        what,
        took.wall,
        &format!(
            "CPU {:.2} s, peak {:.0} MB, store {:.0} B per activity",
            took.cpu.as_secs_f64(),
            took.peak as f64 / 1e6,
            store as f64 / rows as f64
        ),
    );
}
