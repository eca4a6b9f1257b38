//! Sync over an emulated rural link (tests/src/link.rs): real `relay` and
//! `field-client` processes, with packet loss, duplication, reordering, jitter,
//! a bandwidth cap and an outage in the middle of a transfer. Every sync ends
//! by itself, and nothing recorded is missing at the office afterwards.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use tests::SeedReport;
use tests::link::{Impairments, LinkEmulator};
use uuid::Uuid;

use common::{Relay, by_id, device, enrol, import_many, sync_ok, sync_until_ok, unsent};

/// Attempts allowed for a sync to succeed over a bad link.
const ATTEMPTS: usize = 4;

/// 384 kbit/s, the slow end of a rural mobile link.
const RURAL_BYTES_PER_SECOND: u64 = 48_000;

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
    let (seed, _report) = SeedReport::from_env("LINK_SEED");
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
    enrol(&cli, &relay.centre_code_via(centre, link.addr()));
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
    enrol(&cli, &relay.centre_code_via(centre, link.addr()));
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

/// Centres in the very-bad-link test, and activities each records.
const BAD_LINK_CENTRES: usize = 10;
const BAD_LINK_ACTIVITIES: usize = 500;
/// Sync attempts a centre may need over the very bad link.
const BAD_LINK_ATTEMPTS: usize = 30;

/// 30 % loss, 10 % duplication, 25 % reordering, 300 ± 200 ms one way (the
/// outages come from [`outages_from_now`]).
fn very_bad_link() -> Impairments {
    Impairments {
        loss: 0.30,
        duplicate: 0.10,
        reorder: 0.25,
        reorder_by: Duration::from_millis(150),
        delay: Duration::from_millis(100),
        jitter: Duration::from_millis(400),
        ..Impairments::default()
    }
}

/// The link goes fully down for 30 s out of every 2 minutes, starting 10 s
/// from now (so the sync about to start meets an outage).
fn outages_from_now(link: &LinkEmulator) {
    for k in 0..10 {
        link.outage(Duration::from_secs(10 + 120 * k), Duration::from_secs(30));
    }
}

/// Enrols through the very bad link (a few attempts: the handshake itself may
/// time out at 30 % loss).
fn enrol_through(cli: &tests::Cli, code: &str, centre: &str) {
    for _ in 0..BAD_LINK_ATTEMPTS {
        let run = cli.run(["enrol", code]);
        if run.code == Some(0) {
            return;
        }
        assert!(
            !run.stderr.contains("panicked"),
            "{centre}: enrol crashed: {}",
            run.stderr
        );
    }
    panic!("{centre}: enrolment did not succeed in {BAD_LINK_ATTEMPTS} attempts");
}

/// Syncs until it succeeds; every attempt must end within the session's
/// reply timeout (plus the time to connect): a session that waited longer
/// for any answer has hung. (A dead connection ends sooner, at the idle
/// timeout; a slow one that makes progress may take this long.)
fn sync_without_stalls(cli: &tests::Cli, centre: &str) {
    let longest = sync_core::limits::SESSION_REPLY_TIMEOUT + field_client::net::CONNECT_TIMEOUT;
    for attempt in 0..BAD_LINK_ATTEMPTS {
        let started = std::time::Instant::now();
        let run = cli.run(["sync"]);
        let took = started.elapsed();
        assert!(
            took <= longest,
            "{centre}: sync attempt {attempt} stalled for {took:?}"
        );
        assert!(
            run.code.is_some() && run.code != Some(101) && !run.stderr.contains("panicked"),
            "{centre}: sync crashed: {}",
            run.stderr
        );
        if run.code == Some(0) {
            return;
        }
    }
    panic!("{centre}: no sync succeeded in {BAD_LINK_ATTEMPTS} attempts");
}

// Unix: it stops the relay with SIGTERM (`Relay::stop`).
#[cfg(unix)]
#[test]
fn ten_centres_converge_through_a_very_bad_link() {
    let (seed, _report) = SeedReport::from_env("LINK_SEED");
    let mut relay = Relay::start();
    let centres: Vec<(String, Uuid)> = (0..BAD_LINK_CENTRES)
        .map(|k| {
            let name = format!("Centrs {k}");
            let id = relay.add_centre(&name);
            (name, id)
        })
        .collect();
    let links: Vec<LinkEmulator> = (0..BAD_LINK_CENTRES)
        .map(|k| {
            let (up, down) = (very_bad_link(), very_bad_link());
            LinkEmulator::start(relay.addr(), up, down, seed.wrapping_add(k as u64))
        })
        .collect();
    let codes: Vec<String> = centres
        .iter()
        .zip(&links)
        .map(|((_, id), link)| relay.centre_code_via(*id, link.addr()))
        .collect();
    // Each centre, at once: record offline, enrol and sync through its own
    // very bad link.
    let devices: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = centres
            .iter()
            .zip(&codes)
            .zip(&links)
            .map(|(((name, _), code), link)| {
                scope.spawn(move || {
                    let cli = device(name, &format!("{name} dators"));
                    let mut ids = BTreeSet::new();
                    for part in 0..5 {
                        let title = format!("{name}/{part}");
                        ids.extend(import_many(&cli, BAD_LINK_ACTIVITIES / 5, &title));
                    }
                    enrol_through(&cli, code, name);
                    outages_from_now(link);
                    sync_without_stalls(&cli, name);
                    (cli, ids)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a centre's thread"))
            .collect()
    });
    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    relay.stop();
    let mut office_replica =
        sync_core::Replica::open(&office.store_path()).expect("the office's store opens");
    for ((name, id), (cli, ids)) in centres.iter().zip(&devices) {
        assert_eq!(unsent(cli), 0, "{name}: something is not sent");
        let journal = sync_core::JournalId(*id);
        let at_relay = relay.heads_of(*id);
        let at_device = sync_core::Replica::open(&cli.store_path())
            .expect("device store")
            .journal()
            .expect("device journal")
            .heads();
        let at_office = office_replica
            .journal_by_id(journal)
            .expect("office journal")
            .heads();
        assert_eq!(at_device, at_relay, "{name}: device and relay differ");
        assert_eq!(at_office, at_relay, "{name}: office and relay differ");
        let listed: BTreeSet<String> = by_id(cli.list_json(&[])).into_keys().collect();
        assert_eq!(&listed, ids, "{name}: activities lost or added");
    }
}
