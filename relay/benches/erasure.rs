//! How long the relay's erasure of one record takes with 10 centres × 5,000
//! activities, one change each, as volunteers record them: how long the
//! office waits for its answer. Nothing else waits for it (the journal is
//! rebuilt while it goes on serving; `cargo bench -p relay --bench load`
//! times other centres' syncs meanwhile). Timed with the journal holding
//! the record in memory (its centre synced lately) and with nothing in memory
//! (after a restart).
//!
//! `cargo bench -p relay --bench erasure` (set `BENCH_PER_CENTRE`, default 5000)

use std::time::{Duration, Instant};

use chrono::Utc;
use relay::registry::Registry;
use relay::store::{RedbStore, RelayStore};
use sync_core::journal::Stamp;
use sync_core::{ActivityId, ActivityInput, ActivityPatch, Journal};
use uuid::Uuid;

const CENTRES: usize = 10;
/// Erasures timed with the holder in memory; the median and the longest are
/// reported.
const RUNS: usize = 3;
/// Changes handed to the relay at once, as a session's batches would.
const CHANGES_PER_APPLY: usize = 500;

fn activity(i: usize) -> ActivityPatch {
    ActivityInput {
        title: Some(format!("Skolotāja loma kopienas attīstībā, nr. {i}")),
        kind: Some("seminar".into()),
        date: Some(format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
        hours: Some("2".into()),
        place: Some("Daugavpils, Smilšu iela 92".into()),
        institutions: Some(vec![format!("{}.PII", i % 60)]),
        counts: vec![("teachers".into(), format!("{}", i % 30))],
        description: Some("Dalībnieki apsprieda skolas un ģimenes sadarbību.".into()),
        ..ActivityInput::default()
    }
    .parse()
    .expect("valid")
}

/// Records `per_centre` activities in a centre's journal and hands them to the
/// relay; returns their ids.
fn fill(store: &RedbStore, centre: Uuid, per_centre: usize) -> Vec<ActivityId> {
    let mut journal = Journal::new(automerge::ActorId::random());
    let stamp = Stamp {
        author: "bench",
        now: Utc::now(),
    };
    let mut ids = Vec::with_capacity(per_centre);
    let mut changes = Vec::with_capacity(per_centre);
    for i in 0..per_centre {
        let id = ActivityId::new_random();
        changes.push(journal.create(id, &activity(i), stamp).expect("create"));
        ids.push(id);
    }
    for batch in changes.chunks(CHANGES_PER_APPLY) {
        store
            .apply_durably(centre, 0, batch.to_vec().into())
            .expect("relay stores the changes")
            .expect("epoch 0");
    }
    ids
}

fn main() {
    let per_centre: usize = std::env::var("BENCH_PER_CENTRE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let registry = Registry::open(dir.path()).expect("registry");
    let centres: Vec<Uuid> = (0..CENTRES)
        .map(|c| {
            let name = format!("Centrs {c}");
            registry.add_centre(&name, Utc::now()).expect("centre").id
        })
        .collect();
    drop(registry);
    let store = RedbStore::open(dir.path()).expect("store");
    let started = Instant::now();
    let ids: Vec<Vec<ActivityId>> = centres
        .iter()
        .map(|c| fill(&store, *c, per_centre))
        .collect();
    println!(
        "relay filled with {CENTRES} × {per_centre} activities in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let file = store.journals().path(centres[CENTRES - 1]);
    let size_mb = |f: &std::path::Path| std::fs::metadata(f).expect("size").len() as f64 / 1e6;
    println!("one centre's journal file before: {:.1} MB", size_mb(&file));
    // A centre that synced lately has its journal in memory: erase one record
    // of each of three such centres.
    let mut warm: Vec<Duration> = (0..RUNS)
        .map(|run| time_erasure(&store, ids[CENTRES - 1 - run][0]))
        .collect();
    // After a restart nothing is in memory: the relay loads journals one by
    // one until it finds the holder. Once per centre, so the holder is found
    // first, last and in between.
    let mut cold: Vec<Duration> = ids
        .iter()
        .map(|centre| {
            store.journals().reload_all();
            time_erasure(&store, centre[1])
        })
        .collect();
    println!("one centre's journal file after: {:.1} MB", size_mb(&file));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let report = |what: &str, times: &mut Vec<Duration>| {
        times.sort();
        println!(
            "erasure, {what}: median {:.0} ms, longest {:.0} ms over {}",
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1]),
            times.len()
        );
    };
    report("holder in memory", &mut warm);
    report("nothing in memory", &mut cold);
}

fn time_erasure(store: &RedbStore, target: ActivityId) -> Duration {
    let started = Instant::now();
    store
        .journals()
        .erase_activity(target, Utc::now())
        .expect("erased");
    started.elapsed()
}
