//! SIGKILL during sync, many times over, with real processes: a device's
//! `field-client sync` killed at random points (connecting, uploading in
//! batches, downloading, committing), while volunteers keep recording between
//! kills; and the relay killed at random points of devices' syncs and
//! restarted. After every kill the store opens; at the end one more sync
//! brings everything to the office, and nothing saved is missing.
//!
//! Seeded: a failure prints `KILL_SEED=<seed>`; `SYNC_KILLS=<n>` runs longer.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{Relay, by_id, device, enrol, import_many, sync_until_ok, unsent};
use tests::{Cli, Rng, SeedReport, spin};

/// Client kills in the normal suite.
const CLIENT_KILLS: u64 = 40;
/// Relay kills in the normal suite.
const RELAY_KILLS: u64 = 12;
/// Attempts the final sync may need (the last kill may have left a batch half-sent).
const FINAL_ATTEMPTS: usize = 3;

fn kills(default: u64) -> u64 {
    std::env::var("SYNC_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn spawn_sync(cli: &Cli) -> Child {
    cli.command(["sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start field-client sync")
}

/// The office, enrolled directly, holds every one of `ids` of the centre.
fn office_has_all(relay: &Relay, ids: &BTreeSet<String>) {
    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_until_ok(&office, FINAL_ATTEMPTS);
    let at_office: BTreeSet<String> = by_id(office.list_json(&["--all-centres"]))
        .into_keys()
        .collect();
    let missing: Vec<_> = ids.difference(&at_office).collect();
    assert!(
        missing.is_empty(),
        "saved but not at the office: {missing:?}"
    );
}

/// Imports (of 250 activities) before the first sync: several batches.
const FIRST_IMPORTS: usize = 8;
/// Activities recorded before each later sync.
const LATER_IMPORT: usize = 20;

/// How long a whole first sync and a later sync take on this machine, measured
/// on a twin device of another centre with the same workload, so that kills
/// land at random points *within* syncs however fast the machine is.
fn sync_durations(relay: &Relay) -> (Duration, Duration) {
    let centre = relay.add_centre("Mēraparāta KRC");
    let twin = device("Mēraparāta KRC", "Mēraparāta dators");
    for k in 0..FIRST_IMPORTS {
        import_many(&twin, 250, &format!("Mērījums {k}"));
    }
    enrol(&twin, &relay.centre_code(centre));
    let timed = || {
        let started = std::time::Instant::now();
        sync_until_ok(&twin, 1);
        started.elapsed()
    };
    let first = timed();
    import_many(&twin, LATER_IMPORT, "Mērījums vēlāk");
    (first, timed())
}

#[test]
fn a_device_killed_during_sync_loses_nothing_and_resumes() {
    let (seed, _report) = SeedReport::from_env("KILL_SEED");
    let mut rng = Rng::new(seed);
    let relay = Relay::start();
    let (first_sync, later_sync) = sync_durations(&relay);
    let centre = relay.add_centre("Viļānu KRC");
    let cli = device("Viļānu KRC", "Viļānu dators");
    let mut saved = BTreeSet::new();
    for k in 0..FIRST_IMPORTS {
        saved.extend(import_many(&cli, 250, &format!("Viļāni {k}")));
    }
    enrol(&cli, &relay.centre_code(centre));
    let mut killed_mid_sync = 0;
    for round in 0..kills(CLIENT_KILLS) {
        // Volunteers record between syncs: there is always something to send.
        let title = format!("Starp nogalināšanām {round}");
        saved.extend(import_many(&cli, LATER_IMPORT, &title));
        let before = unsent(&cli);
        let mut child = spawn_sync(&cli);
        // A random point of a sync as long as this machine takes for one.
        spin(&mut rng, if round == 0 { first_sync } else { later_sync });
        if child.try_wait().expect("sync's state").is_none() {
            killed_mid_sync += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        // The store opens, and never forgets what is not sent.
        let after = unsent(&cli);
        assert!(
            after <= before,
            "round {round}: unsent went from {before} to {after}"
        );
    }
    eprintln!(
        "{killed_mid_sync} of {} kills landed while a sync ran",
        kills(CLIENT_KILLS)
    );
    assert!(
        killed_mid_sync >= kills(CLIENT_KILLS) / 5,
        "only {killed_mid_sync} kills landed while a sync ran: the test hardly tested"
    );
    sync_until_ok(&cli, FINAL_ATTEMPTS);
    assert_eq!(unsent(&cli), 0);
    office_has_all(&relay, &saved);
}

#[test]
fn the_relay_killed_during_syncs_loses_nothing_acknowledged() {
    let (seed, _report) = SeedReport::from_env("KILL_SEED");
    let mut rng = Rng::new(seed ^ 0x5E1A);
    let mut relay = Relay::start();
    let centre = relay.add_centre("Kārsavas KRC");
    let cli = device("Kārsavas KRC", "Kārsavas dators");
    enrol(&cli, &relay.centre_code(centre));
    let mut saved = BTreeSet::new();
    for round in 0..kills(RELAY_KILLS) {
        saved.extend(import_many(&cli, 150, &format!("Kārsava {round}")));
        let mut child = spawn_sync(&cli);
        spin(&mut rng, Duration::from_millis(1_500));
        relay.kill();
        relay.restart();
        // The device's sync ends by itself (failed or done), never hangs.
        let status = child.wait().expect("wait for sync");
        assert!(status.code().is_some(), "sync died of a signal: {status}");
    }
    sync_until_ok(&cli, FINAL_ATTEMPTS);
    assert_eq!(unsent(&cli), 0);
    office_has_all(&relay, &saved);
}
