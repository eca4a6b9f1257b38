//! Stores written by earlier layouts open, migrate in place, and keep every
//! record. Each layout's file is committed under `tests/fixtures/`, made by
//! that layout's program (`field-client init`, `add`, `edit`, `enrol`, `sync`).

use std::path::PathBuf;

use automerge::ChangeHash;
use sync_core::{ActivityId, Group, Replica, Store};

/// Layout 1 (before the relay's attestations): one enrolled device's store
/// holding one activity, edited once, and sent.
const LAYOUT_1: &str = "tests/fixtures/store-layout-1.redb";
const LAYOUT_1_ACTIVITY: &str = "2535965c-31a6-4878-8bbb-d7400b9108dc";

fn copy_of(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(fixture),
        &path,
    )
    .expect("copy the fixture");
    (dir, path)
}

#[test]
fn a_layout_1_store_opens_keeps_its_records_and_gains_attestations() {
    let (_dir, path) = copy_of(LAYOUT_1);
    let id: ActivityId = LAYOUT_1_ACTIVITY.parse().expect("an id");
    {
        let mut replica = Replica::open(&path).expect("a layout-1 store opens");
        let activity = replica
            .get(id)
            .expect("read")
            .expect("the activity is kept");
        assert_eq!(activity.title, "Skolotāja loma kopienā");
        assert_eq!(activity.counts.get(Group::Teachers), 19);
        let home = replica.store().home_journal().expect("a home journal");
        assert_eq!(replica.store().unsent_count(home).expect("unsent"), 0);
        assert!(
            !replica
                .store()
                .acknowledged_heads(home)
                .expect("acknowledged heads")
                .is_empty(),
            "what the relay acknowledged is kept"
        );
        // The new table exists (reading it would fail otherwise).
        let none = replica
            .store()
            .attestations(home, [ChangeHash([1; 32])])
            .expect("the attestations table");
        assert!(none.is_empty());
    }
    // Migrated once: it opens again as the current layout, unchanged.
    let store = Store::open(&path).expect("reopens");
    let home = store.home_journal().expect("a home journal");
    assert_eq!(store.journals().expect("journals").len(), 1);
    assert!(
        store
            .attestations(home, [ChangeHash([1; 32])])
            .expect("read")
            .is_empty()
    );
}
