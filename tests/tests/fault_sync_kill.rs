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

#[test]
fn a_device_killed_during_sync_loses_nothing_and_resumes() {
    let (seed, _report) = SeedReport::from_env("KILL_SEED");
    let mut rng = Rng::new(seed);
    let relay = Relay::start();
    let centre = relay.add_centre("Viļānu KRC");
    let cli = device("Viļānu KRC", "Viļānu dators");
    let mut saved = BTreeSet::new();
    // Many changes, so a sync moves several batches.
    for k in 0..8 {
        saved.extend(import_many(&cli, 250, &format!("Viļāni {k}")));
    }
    enrol(&cli, &relay.centre_code(centre));
    let mut killed_mid_sync = 0;
    for round in 0..kills(CLIENT_KILLS) {
        // Volunteers record between syncs: there is always something to send.
        saved.extend(import_many(
            &cli,
            20,
            &format!("Starp nogalināšanām {round}"),
        ));
        let before = unsent(&cli);
        let mut child = spawn_sync(&cli);
        spin(&mut rng, Duration::from_millis(800));
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
    assert!(
        killed_mid_sync >= kills(CLIENT_KILLS) / 4,
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
