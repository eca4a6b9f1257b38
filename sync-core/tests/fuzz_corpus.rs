//! Replays the fuzz corpus (`fuzz/corpus/<target>`), every kept crasher
//! (`fuzz/regressions/<target>`) and the built-in seeds through the fuzz entry
//! points, so that a fixed crash stays fixed without a nightly compiler.
//!
//! `FUZZ_WRITE_SEEDS=1 cargo test -p sync-core --test fuzz_corpus` also writes
//! the seeds into `fuzz/corpus` (see docs/FUZZING.md).

use std::path::{Path, PathBuf};

use sync_core::fuzzing;

/// A fuzz entry point: takes any bytes, must not panic.
type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("frame_decoder", fuzzing::frame_decoder),
    ("handshake", fuzzing::handshake),
    ("journal_changes", fuzzing::journal_changes),
    ("thumbnail", fuzzing::thumbnail),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every file under `fuzz/<kind>/<target>`, sorted, with its bytes.
fn saved_inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable corpus folder").path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("a readable corpus file");
            (p, bytes)
        })
        .collect()
}

/// Seeds of an earlier format would linger under numbers no longer written.
fn remove_old_seeds() {
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with("seed-") {
                std::fs::remove_file(entry.path()).expect("remove an old seed");
            }
        }
    }
}

#[test]
fn seeds_corpus_and_kept_crashers_run_clean() {
    let seeds = fuzzing::seeds();
    if std::env::var_os("FUZZ_WRITE_SEEDS").is_some() {
        remove_old_seeds();
        for (k, (target, bytes)) in seeds.iter().enumerate() {
            let dir = fuzz_dir().join("corpus").join(target);
            std::fs::create_dir_all(&dir).expect("corpus folder");
            std::fs::write(dir.join(format!("seed-{k:02}")), bytes).expect("write seed");
        }
    }
    for (target, run) in TARGETS {
        let mine: Vec<&Vec<u8>> = seeds
            .iter()
            .filter(|(t, _)| *t == target)
            .map(|(_, b)| b)
            .collect();
        assert!(!mine.is_empty(), "no seeds for {target}");
        mine.into_iter().for_each(|bytes| run(bytes));
        for kind in ["corpus", "regressions"] {
            for (path, bytes) in saved_inputs(kind, target) {
                let outcome = std::panic::catch_unwind(|| run(&bytes));
                assert!(outcome.is_ok(), "{target} panicked on {}", path.display());
            }
        }
    }
}

#[test]
fn truncations_and_bit_flips_of_the_seeds_run_clean() {
    for (target, bytes) in fuzzing::seeds() {
        let run = TARGETS
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, run)| run)
            .expect("a known target");
        for cut in (0..bytes.len()).step_by(7) {
            run(&bytes[..cut]);
        }
        for at in (0..bytes.len()).step_by(11) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5A;
            run(&flipped);
        }
    }
}

/// The kept bundle crashers of `journal_changes` (chunk type 3): through the
/// change path (change lists) they are refused by their header, before
/// Automerge's bundle decoder sees them (through the bundle path, see
/// `tests/bundle_limits.rs` and `tests/received_changes.rs`).
#[test]
fn a_bundle_is_never_decoded_as_a_change() {
    let dir = fuzz_dir().join("regressions").join("journal_changes");
    let mut checked = 0;
    for (_, bytes) in saved_inputs("regressions", "journal_changes") {
        if bytes.get(8) != Some(&3) {
            continue;
        }
        let refused = sync_core::sync::decode_change(&bytes).expect_err("not a change");
        assert_eq!(
            refused,
            sync_core::sync::DamagedChanges::WrongChunk("a change")
        );
        checked += 1;
    }
    assert!(checked >= 4, "bundle crashers missing in {}", dir.display());
}
