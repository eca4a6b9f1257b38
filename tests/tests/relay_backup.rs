//! `relay backup` while `relay serve` runs and devices sync, and `relay
//! restore` into a new folder (docs/OPERATIONS.md): everything acknowledged
//! before the backup is in it; what was acknowledged after comes back from
//! the devices; a serving relay's folder, a folder that is not empty and a
//! damaged backup are refused in plain words and change nothing.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{Relay, by_id, device, enrol, sync_ok, sync_until_ok, unsent};
use tests::Cli;

/// `field-client sync` attempts a device makes to reach a restarted relay.
const ATTEMPTS: usize = 4;

/// Backups tried at most until one overlaps a device's sync.
const MAX_BACKUPS: usize = 20;

/// Records the devices have acknowledged, under load, before backups begin:
/// so that the backup has load-time records to lose.
const ACKED_BEFORE_BACKUPS: usize = 8;

/// One record a device made, and when its sync started and was acknowledged.
#[derive(Clone, Debug)]
struct Acked {
    id: String,
    sync_started: Instant,
    acked: Instant,
}

/// What the devices got acknowledged, and a signal each time it grows.
#[derive(Default)]
struct AckLog {
    entries: Mutex<Vec<Acked>>,
    grew: Condvar,
}

impl AckLog {
    fn push(&self, acked: Acked) {
        self.entries.lock().expect("log lock").push(acked);
        self.grew.notify_all();
    }

    /// Waits (at most `within`) until `n` records are acknowledged.
    fn wait_for(&self, n: usize, within: Duration) -> bool {
        let entries = self.entries.lock().expect("log lock");
        let (entries, _) = self
            .grew
            .wait_timeout_while(entries, within, |e| e.len() < n)
            .expect("log lock");
        entries.len() >= n
    }

    fn entries(&self) -> Vec<Acked> {
        self.entries.lock().expect("log lock").clone()
    }
}

fn record(cli: &Cli, title: &str) -> String {
    cli.add([
        "--title",
        title,
        "--kind",
        "event",
        "--date",
        "2026-11-20",
        "--count",
        "volunteers=3",
    ])
}

/// Records and syncs on `cli` until `stop`; every record acknowledged.
fn keep_recording(cli: &Cli, name: &str, stop: &AtomicBool, log: &AckLog) {
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        let id = record(cli, &format!("{name} {n}: darbnīca"));
        let sync_started = Instant::now();
        sync_ok(cli);
        log.push(Acked {
            id,
            sync_started,
            acked: Instant::now(),
        });
        n += 1;
    }
}

/// `relay restore FILE` into `dir`: the process output.
fn restore(file: &Path, dir: &Path) -> std::process::Output {
    std::process::Command::new(tests::relay_bin())
        .arg("--data-dir")
        .arg(dir)
        .arg("restore")
        .arg(file)
        .env_remove("RELAY_DATA_DIR")
        .output()
        .expect("cannot run relay restore")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// Stops the relay with SIGTERM (`Relay::stop`): Unix only.
#[cfg(unix)]
#[test]
fn a_backup_made_while_devices_sync_restores_and_the_devices_fill_in_the_rest() {
    let mut relay = Relay::start();
    let ludza = relay.add_centre("Ludzas KRC");
    let balvi = relay.add_centre("Balvu KRC");
    let at_ludza = device("Ludzas KRC", "Ludzas dators");
    let at_balvi = device("Balvu KRC", "Balvu dators");
    let office = device("Birojs", "Biroja dators");
    enrol(&at_ludza, &relay.centre_code(ludza));
    enrol(&at_balvi, &relay.centre_code(balvi));
    enrol(&office, &relay.office_code());
    let before = [
        record(&at_ludza, "Ludza pirms"),
        record(&at_balvi, "Balvi pirms"),
    ];
    for cli in [&at_ludza, &at_balvi, &office] {
        sync_ok(cli);
    }

    // Both centres record and sync without a pause while the office backs up.
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(AckLog::default());
    let workers: Vec<_> = [(at_ludza, "Ludza"), (at_balvi, "Balvi")]
        .into_iter()
        .map(|(cli, name)| {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                keep_recording(&cli, name, &stop, &log);
                cli
            })
        })
        .collect();
    assert!(
        log.wait_for(ACKED_BEFORE_BACKUPS, common::LINE_TIMEOUT),
        "the devices do not sync"
    );
    let backups = tempfile::tempdir().expect("a folder for backups");
    let file = backups.path().join("relay.krcbackup");
    let mut window = None;
    for made in 1..=MAX_BACKUPS {
        let started = Instant::now();
        relay.admin(["backup", "--out", file.to_str().expect("a UTF-8 path")]);
        let ended = Instant::now();
        let overlapped = log
            .entries()
            .iter()
            .any(|a| a.sync_started < ended && a.acked > started);
        if overlapped {
            window = Some((started, made));
            break;
        }
    }
    let (backup_started, made) = window.expect("no backup overlapped a device's sync");
    stop.store(true, Ordering::Release);
    let devices: Vec<Cli> = workers
        .into_iter()
        .map(|w| w.join().expect("a device thread"))
        .collect();
    let [at_ludza, at_balvi] = <[Cli; 2]>::try_from(devices).expect("two devices");
    sync_ok(&office);
    let acked = log.entries();
    let before_backup: BTreeSet<String> = acked
        .iter()
        .filter(|a| a.acked < backup_started)
        .map(|a| a.id.clone())
        .chain(before.iter().cloned())
        .collect();
    let everything: BTreeSet<String> = acked
        .iter()
        .map(|a| a.id.clone())
        .chain(before.iter().cloned())
        .collect();
    assert!(
        everything.len() > before_backup.len(),
        "some records were acknowledged only after the backup"
    );
    assert!(
        before_backup.len() >= ACKED_BEFORE_BACKUPS,
        "{before_backup:?}"
    );
    eprintln!(
        "backup {made} overlapped a sync; {} records acknowledged, {} before it began",
        everything.len(),
        before_backup.len()
    );

    // The server is lost; the backup is restored into a new folder and
    // served on the same address, with the same key.
    relay.stop();
    let restored = tempfile::tempdir().expect("a new data folder");
    let output = restore(&file, restored.path());
    assert!(output.status.success(), "restore: {}", stderr(&output));
    relay.use_dir(restored);
    relay.restart();

    // A new office laptop sees what the backup holds, before any device
    // gives anything back: everything acknowledged before it began.
    let new_office = device("Birojs", "Jaunais biroja dators");
    enrol(&new_office, &relay.office_code());
    sync_ok(&new_office);
    let in_backup: BTreeSet<String> = by_id(new_office.list_json(&["--all-centres", "--all"]))
        .into_keys()
        .collect();
    let missing: Vec<_> = before_backup.difference(&in_backup).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, not in it: {missing:?}"
    );

    // The devices give back what the restored relay lacks.
    for _ in 0..2 {
        for cli in [&at_ludza, &at_balvi, &office, &new_office] {
            sync_until_ok(cli, ATTEMPTS);
        }
    }
    for cli in [&office, &new_office] {
        let at_office: BTreeSet<String> = by_id(cli.list_json(&["--all-centres", "--all"]))
            .into_keys()
            .collect();
        assert_eq!(at_office, everything, "the office after the restore");
    }
    for cli in [&at_ludza, &at_balvi, &office] {
        assert_eq!(unsent(cli), 0, "unsent after the restore");
    }
}

#[test]
fn restore_refuses_a_serving_relays_folder_and_a_folder_that_is_not_empty_and_so_does_serve() {
    let relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let backups = tempfile::tempdir().expect("a folder for backups");
    let file = backups.path().join("relay.krcbackup");
    relay.admin(["backup", "--out", file.to_str().expect("a UTF-8 path")]);

    // The backup holds the relay's private key: only its owner may read it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("the backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the backup's mode is {mode:o}");
    }

    // A second relay on a served folder is refused.
    let second = std::process::Command::new(tests::relay_bin())
        .arg("--data-dir")
        .arg(relay.data_dir())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("RELAY_DATA_DIR")
        .output()
        .expect("run a second relay");
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("another relay is already serving from"),
        "{}",
        stderr(&second)
    );

    let registry = relay.data_dir().join("registry.redb");
    let registry_before = std::fs::read(&registry).expect("the registry");
    let output = restore(&file, relay.data_dir());
    assert!(!output.status.success());
    let told = stderr(&output);
    assert!(told.contains("a relay is serving from"), "{told}");
    assert!(!told.contains("panicked"), "{told}");
    assert_eq!(
        std::fs::read(&registry).expect("the registry"),
        registry_before,
        "the serving relay's registry was touched"
    );
    assert!(
        relay
            .admin(["centre", "list"])
            .contains(&centre.to_string())
    );

    let full = tempfile::tempdir().expect("a folder");
    std::fs::write(full.path().join("notes.txt"), "kept").expect("a file");
    let output = restore(&file, full.path());
    assert!(!output.status.success());
    let told = stderr(&output);
    assert!(told.contains("is not empty"), "{told}");
    let left: Vec<_> = std::fs::read_dir(full.path())
        .expect("the folder")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(left, ["notes.txt"], "the folder was changed");
}

#[test]
fn a_damaged_or_cut_backup_is_refused_and_nothing_is_restored() {
    let relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let at_ludza = device("Ludzas KRC", "Ludzas dators");
    enrol(&at_ludza, &relay.centre_code(centre));
    record(&at_ludza, "Ludza");
    sync_ok(&at_ludza);
    let backups = tempfile::tempdir().expect("a folder for backups");
    let file = backups.path().join("relay.krcbackup");
    relay.admin(["backup", "--out", file.to_str().expect("a UTF-8 path")]);
    let good = std::fs::read(&file).expect("the backup");

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x5a;
    let cut = good[..good.len() - 40].to_vec();
    for (bytes, expected) in [
        (flipped, "is damaged"),
        (cut, "is cut short"),
        (b"not a backup".to_vec(), "is not a relay backup file"),
    ] {
        let bad = backups.path().join("bad.krcbackup");
        std::fs::write(&bad, &bytes).expect("write a bad backup");
        let parent = tempfile::tempdir().expect("a folder");
        let target = parent.path().join("relay-data");
        let output = restore(&bad, &target);
        assert!(!output.status.success(), "restored from a bad backup");
        let told = stderr(&output);
        assert!(told.contains(expected), "expected {expected:?}: {told}");
        assert!(!told.contains("panicked"), "{told}");
        let left: Vec<_> = std::fs::read_dir(parent.path())
            .expect("the folder")
            .collect();
        assert!(left.is_empty(), "a bad restore left {left:?}");
    }

    // The good one restores.
    let parent = tempfile::tempdir().expect("a folder");
    let target = parent.path().join("relay-data");
    let output = restore(&file, &target);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(target.join("registry.redb").exists());
}

/// What docs/OPERATIONS.md says of a backup made before an erasure: the
/// erased centre's devices and the office stop with a plain message and
/// keep everything they hold; other centres sync on.
// Stops the relay with SIGTERM (`Relay::stop`): Unix only.
#[cfg(unix)]
#[test]
fn a_relay_restored_from_before_an_erasure_stops_that_centre_and_the_office_plainly() {
    let mut relay = Relay::start();
    let ludza = relay.add_centre("Ludzas KRC");
    let balvi = relay.add_centre("Balvu KRC");
    let at_ludza = device("Ludzas KRC", "Ludzas dators");
    let at_balvi = device("Balvu KRC", "Balvu dators");
    let office = device("Birojs", "Biroja dators");
    enrol(&at_ludza, &relay.centre_code(ludza));
    enrol(&at_balvi, &relay.centre_code(balvi));
    enrol(&office, &relay.office_code());
    let secret = record(&at_ludza, "Konsultācija Zanei Kalniņai");
    record(&at_ludza, "Vecāku sapulce");
    record(&at_balvi, "Balvu darbnīca");
    for cli in [&at_ludza, &at_balvi, &office] {
        sync_ok(cli);
    }
    let backups = tempfile::tempdir().expect("a folder for backups");
    let file = backups.path().join("relay.krcbackup");
    relay.admin(["backup", "--out", file.to_str().expect("a UTF-8 path")]);

    office.ok(["erase", &secret]);
    sync_ok(&office);
    sync_ok(&at_ludza);
    record(&at_ludza, "Pēc dzēšanas");
    sync_ok(&at_ludza);
    let ludza_before = by_id(at_ludza.list_json(&["--all"]));
    let office_before = by_id(office.list_json(&["--all-centres", "--all"]));
    assert!(!ludza_before.contains_key(&secret));

    relay.stop();
    let restored = tempfile::tempdir().expect("a new data folder");
    let output = restore(&file, restored.path());
    assert!(output.status.success(), "restore: {}", stderr(&output));
    relay.use_dir(restored);
    relay.restart();

    let newer_offline = record(&at_ludza, "Bez savienojuma");
    for cli in [&at_ludza, &office] {
        let run = cli.run(["sync"]);
        assert_ne!(run.code, Some(0), "synced with a relay behind an erasure");
        assert!(
            run.stderr
                .contains("it was restored from a backup made before an erasure"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    let mut ludza_now = by_id(at_ludza.list_json(&["--all"]));
    assert!(ludza_now.remove(&newer_offline).is_some());
    assert_eq!(ludza_now, ludza_before, "the centre's device changed");
    assert_eq!(unsent(&at_ludza), 1, "the offline record waits");
    assert_eq!(
        by_id(office.list_json(&["--all-centres", "--all"])),
        office_before,
        "the office changed"
    );
    // Another centre syncs on.
    record(&at_balvi, "Balvi pēc atjaunošanas");
    sync_ok(&at_balvi);
    assert_eq!(unsent(&at_balvi), 0);
}
