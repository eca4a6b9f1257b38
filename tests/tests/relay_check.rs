//! `relay check` (docs/OPERATIONS.md): whole data passes, while the relay
//! serves and after it stopped; a damaged copy of a journal or of the
//! registry fails with exit 1 naming the file, and the original is untouched.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Relay, device, enrol, sync_ok};

const TITLE: &str = "Ķirbju ģimeņu diena Ludzā";

fn check(dir: &Path) -> Output {
    std::process::Command::new(tests::relay_bin())
        .arg("--data-dir")
        .arg(dir)
        .arg("check")
        .env_remove("RELAY_DATA_DIR")
        .output()
        .expect("cannot run relay check")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Flips a byte in every place `text` is written in the file at `path`
/// (live pages and freed ones alike); how many.
fn damage(path: &Path, text: &str) -> usize {
    let mut bytes = std::fs::read(path).expect("read the file");
    let needle = text.as_bytes();
    let starts: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    for &at in &starts {
        bytes[at + needle.len() / 2] ^= 0x20;
    }
    std::fs::write(path, bytes).expect("write the damaged file");
    starts.len()
}

// Stops the relay with SIGTERM (`Relay::stop`): Unix only.
#[cfg(unix)]
#[test]
fn whole_data_passes_and_a_damaged_copy_fails_naming_the_file() {
    let mut relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let laptop = device("Ludzas KRC", "Ludzas dators");
    enrol(&laptop, &relay.centre_code(centre));
    laptop.add(["--title", TITLE, "--kind", "event", "--date", "2026-11-20"]);
    sync_ok(&laptop);

    let serving = check(relay.data_dir());
    assert!(serving.status.success(), "{}", stderr(&serving));
    assert!(
        stderr(&serving).contains("while the relay serves"),
        "{}",
        stderr(&serving)
    );

    relay.stop();
    let stopped = check(relay.data_dir());
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    assert!(
        stderr(&stopped).contains("every page's checksum"),
        "{}",
        stderr(&stopped)
    );

    let journal = relay.journal_file(centre);
    let name = journal.file_name().expect("a file name").to_owned();
    for (file, text) in [
        (Path::new("journals").join(&name), TITLE),
        (Path::new("registry.redb").to_owned(), "Ludzas KRC"),
    ] {
        let copy = tempfile::tempdir().expect("a folder");
        relay.back_up(copy.path());
        assert!(
            damage(&copy.path().join(&file), text) > 0,
            "{text} not in {file:?}"
        );
        let damaged = check(copy.path());
        assert_eq!(damaged.status.code(), Some(1), "{}", stderr(&damaged));
        let told = stderr(&damaged);
        assert!(told.contains(&file.display().to_string()), "{told}");
        assert!(
            told.contains("damaged") || told.contains("does not"),
            "{told}"
        );
        assert!(!told.contains("panicked"), "{told}");
    }

    let again = check(relay.data_dir());
    assert!(again.status.success(), "the original: {}", stderr(&again));
}
