//! The relay under load, with the real `relay` binary (release build) and
//! devices over QUIC on loopback, on this machine's two cores:
//!
//! 1. **Erasure.** Ten centres, `BENCH_PER_CENTRE` (5,000) activities each.
//!    One device of each of nine centres records an activity and syncs, again
//!    and again, while the office has the tenth centre's 5,000-activity
//!    journal erased: the one-activity syncs that overlap the erasure, p50
//!    and p99 (target: p99 ≤ 100 ms), and how long the erasure took.
//! 2. **A big journal.** One centre with `BENCH_BIG` (50,000) activities, in
//!    memory at the relay: a device records 100 new activities and syncs;
//!    time from its first frame to the relay's `Ack`, five times (target
//!    ≤ 100 ms), and the relay's peak memory.
//!
//! `cargo bench -p relay --bench load` (`BENCH_ONLY=erasure|big` runs one)

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use relay::registry::Registry;
use relay::store::{RedbStore, RelayStore};
use relay::tls::Identity;
use relay::transport;
use sync_core::Journal;
use sync_core::sync::ClientEvent;
use sync_core::sync::memory::MemoryJournals;
use uuid::Uuid;

use common::{RelayProcess, Timed, connect, ms, percentile, record, register, session};

const CENTRES: usize = 10;
/// Changes handed to the relay's store at once while filling it.
const FILL_BATCH: usize = 500;
/// Pause between one device's syncs in the erasure scenario: nine devices
/// syncing several times a second between them, far busier than ten real
/// centres.
const SYNC_EVERY: Duration = Duration::from_millis(50);
/// Times the big-journal upload is repeated.
const BIG_RUNS: usize = 5;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Fills `centre`'s journal at the relay with `n` activities written by a
/// device that synced long ago; returns that journal, as every device of the
/// centre holds it.
fn fill(store: &RedbStore, centre: Uuid, n: usize) -> Journal {
    let mut journal = Journal::new(automerge::ActorId::random());
    let changes = record(&mut journal, n, 0);
    for batch in changes.chunks(FILL_BATCH) {
        store
            .apply_durably(centre, 0, batch.to_vec().into())
            .expect("stored")
            .expect("epoch 0");
        store.maintain(centre);
    }
    journal
}

/// A device's storage holding its centre's journal as it is.
fn holding(centre: Uuid, journal: &Journal) -> MemoryJournals {
    let mut storage = MemoryJournals::default();
    storage.docs.insert(centre, journal.doc().fork());
    storage.acked.insert(centre, journal.heads());
    storage
}

/// Records one activity as `device` in its storage, as a volunteer would.
fn record_one(storage: &mut MemoryJournals, centre: Uuid, device: Uuid, i: usize) {
    let doc = storage
        .doc(centre)
        .fork()
        .with_actor(automerge::ActorId::from(device.as_bytes()));
    let mut journal = Journal::from_doc(doc).expect("journal");
    let changes = record(&mut journal, 1, i);
    storage.record_local(centre, changes[0].hash());
    storage
        .doc(centre)
        .apply_changes(changes)
        .expect("apply own change");
}

fn erasure(per_centre: usize) {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let dir = tmp.path();
    common::relay_identity(dir);
    let registry = Registry::open(dir).expect("registry");
    let centres: Vec<Uuid> = (0..CENTRES)
        .map(|c| {
            let name = format!("Centrs {c}");
            registry.add_centre(&name, Utc::now()).expect("centre").id
        })
        .collect();
    let devices: Vec<(Uuid, Identity)> = centres
        .iter()
        .map(|c| register(&registry, Some(*c), "bench device"))
        .collect();
    let office = register(&registry, None, "bench office");
    drop(registry);
    let started = Instant::now();
    let store = RedbStore::open(dir).expect("store");
    let journals: Vec<Journal> = centres
        .iter()
        .map(|c| fill(&store, *c, per_centre))
        .collect();
    drop(store);
    println!(
        "erasure: relay filled with {CENTRES} × {per_centre} activities in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let target = {
        let erased = journals[0].activities().expect("read");
        erased[erased.len() / 2].id
    };
    let relay = RelayProcess::start(dir);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (mut during, erasure_time) = runtime.block_on(async {
        let endpoint =
            transport::client_endpoint("127.0.0.1:0".parse().expect("bind")).expect("endpoint");
        let erasing = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        // Nine centres sync on and on; each load its journal at the relay once.
        let syncing: Vec<_> = (1..CENTRES)
            .map(|c| {
                let (endpoint, erasing, done) = (endpoint.clone(), erasing.clone(), done.clone());
                let (device, identity) = (devices[c].0, devices[c].1.clone());
                let (centre, mut storage) = (centres[c], holding(centres[c], &journals[c]));
                let at = relay.at();
                tokio::spawn(async move {
                    let conn = connect(&endpoint, &identity, at).await;
                    session(&conn, &mut storage, vec![centre], |_| false).await;
                    let mut overlapping = Vec::new();
                    let mut i = 1_000_000;
                    while !done.load(Ordering::Acquire) {
                        record_one(&mut storage, centre, device, i);
                        i += 1;
                        let during = erasing.load(Ordering::Acquire);
                        let timed = session(&conn, &mut storage, vec![centre], |_| false).await;
                        if during && erasing.load(Ordering::Acquire) {
                            overlapping.push(timed.total);
                        }
                        tokio::time::sleep(SYNC_EVERY).await;
                    }
                    overlapping
                })
            })
            .collect();
        // The office asks for the erasure once everyone is syncing.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let conn = connect(&endpoint, &office.1, relay.at()).await;
        let mut storage = MemoryJournals {
            erasures_requested: vec![target.0],
            ..MemoryJournals::default()
        };
        erasing.store(true, Ordering::Release);
        let timed: Timed = session(&conn, &mut storage, vec![], |event| {
            matches!(event, ClientEvent::Erased { .. })
        })
        .await;
        erasing.store(false, Ordering::Release);
        done.store(true, Ordering::Release);
        assert!(
            matches!(storage.erasures_answered.as_slice(), [(_, Some(_))]),
            "the erasure was made"
        );
        let mut during = Vec::new();
        for task in syncing {
            during.extend(task.await.expect("a centre's device"));
        }
        (during, timed.total)
    });
    println!(
        "erasure of one record of a {per_centre}-activity journal: {:.0} ms (the office's wait)",
        ms(erasure_time)
    );
    println!(
        "one-activity syncs of 9 other centres meanwhile: {} syncs, p50 {:.1} ms, p99 {:.1} ms, longest {:.1} ms",
        during.len(),
        ms(percentile(&mut during, 50)),
        ms(percentile(&mut during, 99)),
        ms(percentile(&mut during, 100)),
    );
}

fn big(n: usize) {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let dir: &Path = tmp.path();
    common::relay_identity(dir);
    let registry = Registry::open(dir).expect("registry");
    let centre = registry
        .add_centre("Lielais centrs", Utc::now())
        .expect("centre")
        .id;
    let (device, identity) = register(&registry, Some(centre), "bench device");
    drop(registry);
    let started = Instant::now();
    let store = RedbStore::open(dir).expect("store");
    let journal = fill(&store, centre, n);
    drop(store);
    println!(
        "big journal: relay filled with {n} activities in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let relay = RelayProcess::start(dir);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut to_ack: Vec<Duration> = runtime.block_on(async {
        let endpoint =
            transport::client_endpoint("127.0.0.1:0".parse().expect("bind")).expect("endpoint");
        let conn = connect(&endpoint, &identity, relay.at()).await;
        let mut storage = holding(centre, &journal);
        // The centre synced lately: its journal is in memory at the relay.
        session(&conn, &mut storage, vec![centre], |_| false).await;
        let mut times = Vec::new();
        for run in 0..BIG_RUNS {
            for k in 0..100 {
                record_one(&mut storage, centre, device, 10_000_000 + run * 100 + k);
            }
            let timed = session(&conn, &mut storage, vec![centre], |_| false).await;
            times.push(timed.to_ack.expect("an Ack"));
        }
        times
    });
    let (_, peak) = relay.memory_kib();
    println!(
        "100 new activities into a {n}-activity journal, first frame to Ack: median {:.1} ms, longest {:.1} ms over {BIG_RUNS}",
        ms(percentile(&mut to_ack, 50)),
        ms(percentile(&mut to_ack, 100)),
    );
    println!("relay peak resident memory: {:.0} MB", peak as f64 / 1024.0);
}

fn main() {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "erasure" {
        erasure(env_number("BENCH_PER_CENTRE", 5_000));
    }
    if only.is_empty() || only == "big" {
        big(env_number("BENCH_BIG", 50_000));
    }
}
