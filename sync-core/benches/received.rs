//! What checking received changes costs (`sync::apply_guarded` and
//! `check_received`): applying a full batch of received changes to a journal
//! of 5,000 activities with and without the checks, and the alternative of
//! checking that the whole journal saves and loads. Best of 5 runs.
//!
//! Run with `cargo bench -p sync-core --bench received`.

use automerge::{ActorId, Automerge, Change};
use sync_core::sync::apply_guarded;
use sync_core::sync::check_received;
use sync_core::{ActivityId, ActivityPatch, Journal, Kind, Stamp};
use uuid::Uuid;

const AUTHOR: [u8; 16] = [7; 16];

fn stamp() -> Stamp<'static> {
    Stamp {
        author: "Līga",
        now: chrono::DateTime::UNIX_EPOCH,
    }
}

fn main() {
    use std::time::{Duration, Instant};
    use sync_core::limits::MAX_CHANGES_PER_BATCH;

    let mut source = Journal::new(ActorId::from(AUTHOR));
    let patch = |k: usize| ActivityPatch {
        title: Some(format!("Ģimeņu diena Rēzeknē Nr. {k}")),
        kind: Some(Kind::Event),
        date: chrono::NaiveDate::from_ymd_opt(2026, 5, 1 + (k % 28) as u32),
        place: Some("Rēzeknes Kultūras un radošo industriju centrs".into()),
        organisers: Some(vec!["Anna Bērziņa".into(), "Jānis Ozols".into()]),
        institutions: Some(vec!["Rēzeknes 2. vidusskola".into()]),
        description: Some("Skolotāju loma vietējās kopienas attīstībā. ".repeat(4)),
        ..ActivityPatch::default()
    };
    // A journal that already holds many activities, then a full batch.
    let held = 5_000;
    let items: Vec<_> = (0..held)
        .map(|k| (ActivityId(Uuid::from_u128(k as u128 + 1)), patch(k)))
        .collect();
    source.create_many(&items, stamp()).expect("valid");
    let base_heads = source.heads();
    let batch: Vec<Change> = (held..held + MAX_CHANGES_PER_BATCH)
        .map(|k| {
            source
                .create(
                    ActivityId(Uuid::from_u128(k as u128 + 1)),
                    &patch(k),
                    stamp(),
                )
                .expect("valid")
        })
        .collect();
    let base = source.doc().fork_at(&base_heads).expect("fork");

    let runs = 5;
    let time = |f: &dyn Fn(&mut Automerge)| -> Duration {
        let mut best = Duration::MAX;
        for _ in 0..runs {
            let mut doc = base.fork();
            let start = Instant::now();
            f(&mut doc);
            best = best.min(start.elapsed());
        }
        best
    };
    let plain = time(&|doc| doc.apply_changes(batch.clone()).expect("applies"));
    // The whole received-batch path, before and after: with the checks made
    // before applying (`check_received`: canonical encoding, dependencies).
    let path_before = time(&|doc| {
        check_received(doc, batch.clone()).expect("passes");
        doc.apply_changes(batch.clone()).expect("applies");
    });
    let path_now = time(&|doc| {
        let checked = check_received(doc, batch.clone()).expect("passes");
        apply_guarded(doc, &checked).expect("accepted");
    });
    let one = time(&|doc| {
        let checked = check_received(doc, batch[..1].to_vec()).expect("passes");
        apply_guarded(doc, &checked).expect("accepted");
    });
    let one_plain = time(&|doc| doc.apply_changes(batch[..1].to_vec()).expect("applies"));
    // The alternative, checking that the whole journal saves and loads.
    let reload = time(&|doc| {
        doc.apply_changes(batch.clone()).expect("applies");
        let loaded = Automerge::load(&doc.save()).expect("loads");
        assert_eq!(loaded.get_heads(), doc.get_heads());
    });
    println!(
        "journal of {held} activities; batch of {} changes: apply_changes {plain:?}, \
         apply + load(save) {reload:?}; check_received + apply_changes {path_before:?}, \
         check_received + apply_guarded (every check) {path_now:?}; one change: \
         {one_plain:?} / {one:?}",
        batch.len()
    );
}
