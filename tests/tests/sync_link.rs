//! Sync over an emulated rural link (tests/src/link.rs): real `relay` and
//! `field-client` processes, with packet loss, duplication, reordering, jitter,
//! a bandwidth cap and an outage in the middle of a transfer. Every sync ends
//! by itself, and nothing recorded is missing at the office afterwards.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tests::link::{Impairments, LinkEmulator};
use tests::{Rng, SeedReport};
use uuid::Uuid;

use common::{Relay, by_id, device, enrol, import_many, sync_ok, sync_until_ok, unsent};

/// Attempts allowed for a sync to succeed over a bad link.
const ATTEMPTS: usize = 4;

/// 384 kbit/s, the slow end of a rural mobile link.
const RURAL_BYTES_PER_SECOND: u64 = 48_000;

/// A code for a device of `centre` that reaches the relay through `link`.
fn code_via(relay: &Relay, centre: Uuid, link: SocketAddr) -> String {
    relay.admin([
        "enrol-code",
        "--centre",
        &centre.to_string(),
        "--address",
        &link.to_string(),
    ])
}

/// Packets the link has dropped so far.
fn dropped(link: &LinkEmulator) -> u64 {
    link.counters
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// The office, enrolled directly, holds exactly `ids` for the centre.
fn office_has(relay: &Relay, ids: &BTreeSet<String>) {
    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    let at_office: BTreeSet<String> = by_id(office.list_json(&["--all-centres"]))
        .into_keys()
        .collect();
    assert_eq!(&at_office, ids, "the office lacks or adds activities");
}

#[test]
fn sync_over_a_lossy_reordering_duplicating_slow_link_converges() {
    let seed = Rng::seed_from_env("LINK_SEED");
    let _report = SeedReport {
        var: "LINK_SEED",
        seed,
    };
    let relay = Relay::start();
    let centre = relay.add_centre("Krāslavas KRC");
    let bad = Impairments {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        reorder_by: Duration::from_millis(40),
        // Besides the random 5%: a short sync may otherwise lose nothing.
        drop_packets: vec![3, 6, 10],
        ..Impairments::rural(RURAL_BYTES_PER_SECOND, Duration::from_millis(300), 0.05)
    };
    let link = LinkEmulator::start(relay.addr(), bad.clone(), bad, seed);
    let cli = device("Krāslavas KRC", "Krāslavas dators");
    let ids = import_many(&cli, 120, "Krāslava");
    enrol(&cli, &code_via(&relay, centre, link.addr()));
    sync_until_ok(&cli, ATTEMPTS);
    assert_eq!(unsent(&cli), 0);
    assert!(
        dropped(&link) > 0,
        "the link dropped nothing: the test did not test loss"
    );
    office_has(&relay, &ids);
}

#[test]
fn an_outage_in_the_middle_of_a_transfer_is_survived() {
    let relay = Relay::start();
    let centre = relay.add_centre("Preiļu KRC");
    // Slow enough that the transfer is still running when the link goes down.
    let slow = Impairments::rural(16_000, Duration::from_millis(200), 0.0);
    let link = LinkEmulator::start(relay.addr(), slow.clone(), slow, 7);
    let cli = device("Preiļu KRC", "Preiļu dators");
    let ids = import_many(&cli, 600, "Preiļi");
    enrol(&cli, &code_via(&relay, centre, link.addr()));
    // Down for 5 s, starting 2 s into the sync.
    link.outage(Duration::from_secs(2), Duration::from_secs(5));
    let first = cli.run(["sync"]);
    assert!(
        first.code.is_some() && first.code != Some(101) && !first.stderr.contains("panicked"),
        "sync crashed: {}",
        first.stderr
    );
    assert!(
        dropped(&link) > 0,
        "the outage hit no packet: the transfer ended before it"
    );
    if first.code != Some(0) {
        sync_until_ok(&cli, ATTEMPTS);
    }
    assert_eq!(unsent(&cli), 0);
    office_has(&relay, &ids);
}
