//! The relay's disk fills up and empties again, with no restart: uploads are
//! answered in plain words ("the office server's disk is full; everything is
//! kept on this computer"), downloads go on, nothing acknowledged is lost,
//! and once space returns the same relay process takes the waiting records.
//!
//! The relay's data folder is on a small tmpfs the test mounts (as root, or
//! with `sudo -n`): a real file system really running out of space.

// Linux only: it mounts a tmpfs (as root or with `sudo -n`).
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Relay, by_id, device, enrol, sync_ok, unsent};

/// Size of the file system the relay's data lives on: room for the relay's
/// files, little enough to fill in a moment.
const FILE_SYSTEM_SIZE: &str = "8m";

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> SmallDisk {
        let dir = tempfile::tempdir().expect("a mount point");
        let options = format!("size={FILE_SYSTEM_SIZE}");
        let target = dir.path().to_str().expect("a UTF-8 path");
        let args = ["mount", "-t", "tmpfs", "-o", &options, "tmpfs", target];
        as_root(&args).unwrap_or_else(|why| {
            panic!(
                "this test mounts a {FILE_SYSTEM_SIZE} tmpfs for the relay's data and needs \
                 root (or passwordless sudo) to do so: {why}"
            )
        });
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system with one file; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("a filler file");
        let block = vec![0_u8; 64 * 1024];
        loop {
            match file.write_all(&block).and_then(|()| file.sync_all()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Some(target) = self.dir.path().to_str() {
            let _ = as_root(&["umount", "-l", target]);
        }
    }
}

/// Runs a command as root: directly when the test runs as root, else with
/// `sudo -n`.
fn as_root(args: &[&str]) -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut command = if root {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").args(args);
        c
    };
    let output = command.output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn record(cli: &tests::Cli, title: &str) -> String {
    // A long description, so a batch needs pages the full disk lacks.
    let description = "Sīkāks apraksts par nodarbību un tās dalībniekiem. ".repeat(60);
    cli.add([
        "--title",
        title,
        "--kind",
        "workshop",
        "--date",
        "2026-11-14",
        "--description",
        &description,
    ])
}

#[test]
fn a_full_disk_at_the_relay_is_survived_without_a_restart() {
    let disk = SmallDisk::mount();
    let mut relay = Relay::start_on(disk.path());
    let centre = relay.add_centre("Rugāju KRC");
    let (sender, reader) = (
        device("Rugāju KRC", "Rugāju dators"),
        device("Rugāju KRC", "Bibliotēkas dators"),
    );
    let before = record(&sender, "Pirms diska piepildīšanās");
    for cli in [&sender, &reader] {
        enrol(cli, &relay.centre_code(centre));
        sync_ok(cli);
    }
    sync_ok(&reader);

    // The disk fills up; volunteers go on recording.
    let filler = disk.fill();
    let during: Vec<String> = (1..=3)
        .map(|k| record(&sender, &format!("Kamēr disks pilns nr. {k}")))
        .collect();
    let run = sender.run(["sync"]);
    run.assert_plain_failure("a sync to a relay with a full disk");
    assert!(
        run.stderr
            .contains("the office server's disk is full; everything is kept on this computer"),
        "not said in plain words:\n{}",
        run.stderr
    );
    assert_eq!(unsent(&sender), 3, "the records wait on the device");
    let status = sender.status_json();
    assert_eq!(status["sync"]["relay_unavailable"], true, "{status}");
    // Downloads go on: another device reads what the relay holds.
    sync_ok(&reader);
    assert!(by_id(reader.list_json(&[])).contains_key(&before));

    // Space comes back: the same relay process takes the waiting records.
    std::fs::remove_file(filler).expect("free the space");
    sync_ok(&sender);
    assert_eq!(unsent(&sender), 0);
    sync_ok(&reader);
    let at_reader = by_id(reader.list_json(&[]));
    for id in std::iter::once(&before).chain(&during) {
        assert!(at_reader.contains_key(id), "{id} did not arrive");
    }
    assert!(relay.is_alive(), "the relay was restarted or died");
    assert!(
        relay.log().iter().any(|l| l.contains("disk is full")),
        "the relay's log does not say why"
    );
    drop(relay);
}
