//! A new activity's change built without the document (`prepare_create`, the
//! fast path of a durable add) is byte for byte the change an Automerge
//! transaction makes (`create`), reads back as `new_record` says, and chains:
//! several prepared changes in a row apply in order.

mod common;

use chrono::NaiveTime;
use proptest::prelude::*;
use sync_core::journal::new_record;
use sync_core::{ActivityId, ActivityPatch, Group, Journal, Kind};

use common::{actor, date, full, minimal, stamp};

/// Two replicas with the same actor and the same history: one to commit
/// through a transaction, one to prepare changes for.
fn twins(existing: usize) -> (Journal, Journal) {
    let mut a = Journal::new(actor(7));
    for k in 0..existing {
        a.create(
            ActivityId::new_random(),
            &full(&format!("Esošā {k}")),
            stamp("Līga", k as i64),
        )
        .expect("create");
    }
    let mut b = Journal::new(actor(7));
    b.doc_mut().merge(a.doc_mut()).expect("merge");
    (a, b)
}

fn names() -> impl Strategy<Value = Option<Vec<String>>> {
    proptest::option::of(proptest::collection::vec(
        prop_oneof!["Anna Bērziņa", "Jānis Ozoliņš", "20.PII", "Ķ", ""].prop_map(String::from),
        0..4,
    ))
}

fn text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[a-zāčēģīķļņšūž ]{0,12}")
}

prop_compose! {
    fn patches()(
        title in "[A-Za-zāčēģīķļņšūž ]{1,20}",
        kind in 0..Kind::ALL.len(),
        day in 1u32..28,
        start in proptest::option::of(proptest::option::of((0u32..24, 0u32..60))),
        hours in proptest::option::of(proptest::option::of(0.0f64..12.0)),
        place in text(),
        description in text(),
        notes in text(),
        organisers in names(),
        institutions in names(),
        counts in proptest::collection::vec((0..Group::ALL.len(), 0u32..50), 0..6),
    ) -> ActivityPatch {
        ActivityPatch {
            title: Some(title),
            kind: Some(Kind::ALL[kind]),
            date: Some(date(2026, 5, day)),
            start: start.map(|s| s.and_then(|(h, m)| NaiveTime::from_hms_opt(h, m, 0))),
            hours,
            place,
            organisers,
            institutions,
            counts: counts.into_iter().map(|(g, n)| (Group::ALL[g], n)).collect(),
            description,
            notes,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prepared_change_equals_the_transactions_and_reads_back_as_new_record(
        patch in patches(),
        existing in 0usize..4,
    ) {
        let (mut a, mut b) = twins(existing);
        let id = ActivityId::new_random();
        let when = stamp("Līga Kalniņa", 1_000);
        let made = a.create(id, &patch, when).expect("create");
        let (prepared, tip) = { let tip = b.tip(); Journal::prepare_create(b.doc().get_actor(), &tip, id, &patch, when) }.expect("prepare");
        prop_assert_eq!(prepared.hash(), made.hash());
        prop_assert_eq!(prepared.raw_bytes(), made.raw_bytes());

        b.apply_own(vec![prepared]).expect("apply");
        prop_assert_eq!(b.heads(), a.heads());
        prop_assert_eq!(&b.tip(), &tip);
        let read = b.get(id).expect("read").expect("present");
        prop_assert_eq!(read, new_record(id, &patch, when));
    }
}

#[test]
fn prepared_changes_chain_and_then_transactions_continue() {
    let (mut a, mut b) = twins(2);
    let mut tip = b.tip();
    let mut prepared = Vec::new();
    for k in 0..5 {
        let id = ActivityId::new_random();
        let when = stamp("Līga", 100 + k);
        let (change, next) = Journal::prepare_create(
            b.doc().get_actor(),
            &tip,
            id,
            &minimal(&format!("Nr. {k}")),
            when,
        )
        .expect("prepare");
        let made = a
            .create(id, &minimal(&format!("Nr. {k}")), when)
            .expect("create");
        assert_eq!(change.hash(), made.hash(), "change {k}");
        prepared.push(change);
        tip = next;
    }
    b.apply_own(prepared).expect("apply in order");
    assert_eq!(b.heads(), a.heads());
    assert_eq!(b.len(), 7);
    // A transaction after prepared changes continues the same sequence.
    let id = ActivityId::new_random();
    let next_a = a
        .create(id, &full("Pēc tam"), stamp("Līga", 200))
        .expect("create");
    let next_b = b
        .create(id, &full("Pēc tam"), stamp("Līga", 200))
        .expect("create");
    assert_eq!(next_a.hash(), next_b.hash());
    assert_eq!(b.doc().get_last_local_change().map(|c| c.seq()), Some(8));
}

#[test]
fn an_incomplete_patch_is_refused_without_a_change() {
    let (_, mut b) = twins(1);
    let mut patch = minimal("Bez datuma");
    patch.date = None;
    let tip = b.tip();
    let refused = Journal::prepare_create(
        b.doc().get_actor(),
        &tip,
        ActivityId::new_random(),
        &patch,
        stamp("Līga", 1),
    );
    assert!(refused.is_err());
}

#[test]
fn prepared_changes_of_an_import_equal_the_transactions() {
    let (mut a, mut b) = twins(1);
    let items: Vec<(ActivityId, ActivityPatch)> = (0..250)
        .map(|k| {
            let patch = if k % 3 == 0 {
                full(&format!("Imports {k}"))
            } else {
                minimal(&format!("Imports {k}"))
            };
            (ActivityId::new_random(), patch)
        })
        .collect();
    let when = stamp("Līga", 300);
    let made = a.create_many(&items, when).expect("create many");
    let tip = b.tip();
    let (prepared, next) =
        Journal::prepare_create_many(b.doc().get_actor(), &tip, &items, when).expect("prepare");
    assert_eq!(prepared.len(), 3, "100 activities per change");
    let hashes =
        |changes: &[automerge::Change]| changes.iter().map(|c| c.hash()).collect::<Vec<_>>();
    assert_eq!(hashes(&prepared), hashes(&made));
    b.apply_own(prepared).expect("apply in order");
    assert_eq!(b.heads(), a.heads());
    assert_eq!(b.tip(), next);
    for (id, patch) in &items {
        assert_eq!(
            b.get(*id).expect("read"),
            Some(new_record(*id, patch, when))
        );
    }
}
