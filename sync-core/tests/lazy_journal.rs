//! Recording without the document: `add` makes its change from the tip kept
//! in the store (`journal_tip-v1`), and the journal it leaves is exactly the
//! one the document would have made, whatever wrote the store before
//! (adds, edits, deletes, changes received from another device, imports).

mod common;

use std::path::Path;

use sync_core::sync::SyncStorage;
use sync_core::{ActivityId, NewStore, Replica, Store};

use common::{at, full, minimal};

fn create(path: &Path, device: &str) -> Replica {
    Replica::create(
        path,
        NewStore {
            centre: "Preiļu novada kopienu centrs",
            device_name: device,
        },
    )
    .expect("create store")
}

/// The tip kept in the store equals the one the loaded document gives.
fn assert_tip_matches_document(path: &Path) {
    let store = Store::open(path).expect("open");
    let home = store.home_journal().expect("home journal");
    let stored = store.tip(home).expect("read tip").expect("a tip is kept");
    let mut journal = store.load_journal(home).expect("load");
    assert_eq!(stored, journal.tip(), "the stored tip is the document's");
}

#[test]
fn adds_after_every_kind_of_write_need_no_document_and_chain_correctly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let (first, edited, deleted);
    {
        let mut replica = create(&path, "Ilzes dators");
        let items = (0..30)
            .map(|i| (ActivityId::new_random(), minimal(&format!("Imports {i}"))))
            .collect();
        replica.import(items, at(10)).expect("import");
        first = replica
            .add(ActivityId::new_random(), &full("Pilns ieraksts"), at(20))
            .expect("add");
        edited = replica
            .add(ActivityId::new_random(), &minimal("Labos"), at(21))
            .expect("add");
        deleted = replica
            .add(ActivityId::new_random(), &minimal("Dzēsīs"), at(22))
            .expect("add");
    }
    assert_tip_matches_document(&path);
    let mut added = Vec::new();
    for round in 0..3 {
        let mut replica = Replica::open(&path).expect("reopen");
        let home = replica.journal_id();
        for k in 0..4 {
            let title = format!("Kārta {round}, nr. {k}");
            added.push(
                replica
                    .add(ActivityId::new_random(), &minimal(&title), at(100 + k))
                    .expect("add"),
            );
        }
        assert!(
            !replica.holds_document(home),
            "recording a new activity loaded the whole journal"
        );
        drop(replica);
        assert_tip_matches_document(&path);
        // Other kinds of write, each in its own process, between the rounds.
        let mut replica = Replica::open(&path).expect("reopen");
        match round {
            0 => assert!(
                replica
                    .edit(edited, &minimal("Labots"), at(200))
                    .expect("edit")
            ),
            1 => assert!(replica.set_deleted(deleted, true, at(201)).expect("delete")),
            _ => replica.compact().expect("compact"),
        }
        drop(replica);
        assert_tip_matches_document(&path);
    }
    let mut replica = Replica::open(&path).expect("reopen");
    let activities = replica.activities().expect("read");
    assert_eq!(activities.len(), 30 + 3 + added.len());
    for id in added.iter().chain([&first]) {
        assert!(replica.get(*id).expect("get").is_some(), "{id} is kept");
    }
    let edited = replica.get(edited).expect("get").expect("kept");
    assert_eq!(edited.title, "Labots");
    assert!(replica.get(deleted).expect("get").expect("kept").deleted);
    assert_eq!(replica.journal().expect("journal").heads().len(), 1);
}

#[test]
fn adds_after_changes_received_from_another_device_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ours, theirs) = (dir.path().join("a.redb"), dir.path().join("b.redb"));
    let mut a = create(&ours, "Ilzes dators");
    let home = a.journal_id();
    a.add(ActivityId::new_random(), &minimal("Mūsu"), at(1))
        .expect("add");
    // Another device of the same centre (same genesis), with its own changes.
    let mut b = create(&theirs, "Jāņa dators");
    b.rekey_home(home, "Preiļu novada kopienu centrs")
        .expect("same journal");
    for k in 0..3 {
        b.add(
            ActivityId::new_random(),
            &minimal(&format!("Viņu {k}")),
            at(2 + k),
        )
        .expect("add");
    }
    let theirs_changes = b.journal().expect("journal").doc().get_changes(&[]);
    a.apply_durably(home.0, theirs_changes.into())
        .expect("received");
    drop(a);
    assert_tip_matches_document(&ours);
    let mut a = Replica::open(&ours).expect("reopen");
    let after = a
        .add(ActivityId::new_random(), &minimal("Pēc tam"), at(10))
        .expect("add");
    assert!(!a.holds_document(home));
    drop(a);
    assert_tip_matches_document(&ours);
    let mut a = Replica::open(&ours).expect("reopen");
    assert_eq!(a.activities().expect("read").len(), 5);
    assert!(a.get(after).expect("get").is_some());
    assert_eq!(
        a.journal().expect("journal").heads().len(),
        1,
        "the new change depends on both devices' changes"
    );
}

/// A journal kept in memory while another process used the store
/// (`Replica::detach`, as `field-client run` lends its store to a command)
/// catches up with what that process appended, without loading the whole
/// journal again; one compacted meanwhile is dropped and loaded afresh.
#[test]
fn a_detached_journal_catches_up_with_what_another_process_appended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let mut owner = create(&path, "Ilzes dators");
    let home = owner.journal_id();
    let edited = owner
        .add(ActivityId::new_random(), &minimal("Pirms"), at(1))
        .expect("add");
    assert_eq!(owner.activities().expect("read").len(), 1);
    for compact_meanwhile in [false, true] {
        let detached = owner.detach();
        let mut borrower = Replica::open(&path).expect("the store is free");
        for k in 0..3 {
            borrower
                .add(
                    ActivityId::new_random(),
                    &minimal(&format!("Aizņēmējs {k}")),
                    at(10 + k),
                )
                .expect("add");
        }
        assert!(
            borrower
                .edit(
                    edited,
                    &minimal(&format!("Labots {compact_meanwhile}")),
                    at(20)
                )
                .expect("edit")
        );
        if compact_meanwhile {
            borrower.compact().expect("compact");
        }
        drop(borrower);
        owner = Replica::open(&path).expect("reopen").reattach(detached);
        assert_eq!(
            owner.holds_document(home),
            !compact_meanwhile,
            "kept only while nothing but appends happened"
        );
        let activities = owner.activities().expect("read");
        assert_eq!(activities.len(), if compact_meanwhile { 8 } else { 4 });
        let title = owner.get(edited).expect("get").expect("kept").title;
        assert_eq!(title, format!("Labots {compact_meanwhile}"));
        // It goes on recording on top of what the other process wrote.
        owner
            .add(ActivityId::new_random(), &minimal("Pēc tam"), at(30))
            .expect("add");
        assert_eq!(owner.journal().expect("journal").heads().len(), 1);
    }
    drop(owner);
    assert_tip_matches_document(&path);
    let mut again = Replica::open(&path).expect("reopen");
    assert_eq!(again.activities().expect("read").len(), 9);
}
