//! Stores written by earlier layouts open, migrate in place, and keep every
//! record. Each layout's file is committed under `tests/fixtures/`, made by
//! that layout's program (`field-client init`, `add`, `edit`, `enrol`, `sync`).

mod common;

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

/// Layout 2 (before the kept journal tip): an enrolled device's store made by
/// that program with `init`, `add`, `enrol`, `sync`, then `edit` and another
/// `add` not yet sent.
const LAYOUT_2: &str = "tests/fixtures/store-layout-2.redb";
const LAYOUT_2_SENT: &str = "d35c2782-a183-4d5e-86f0-6e0129602000";
const LAYOUT_2_UNSENT: &str = "2f1e9cc8-2ecb-482a-b89d-8debd6a88087";

#[test]
fn a_layout_2_store_opens_keeps_its_records_and_gains_a_kept_tip() {
    let (_dir, path) = copy_of(LAYOUT_2);
    let sent: ActivityId = LAYOUT_2_SENT.parse().expect("an id");
    let unsent: ActivityId = LAYOUT_2_UNSENT.parse().expect("an id");
    let added;
    {
        let mut replica = Replica::open(&path).expect("a layout-2 store opens");
        let home = replica.journal_id();
        assert_eq!(replica.store().tip(home).expect("the tip table"), None);
        assert_eq!(replica.store().unsent_count(home).expect("unsent"), 2);
        assert!(
            !replica
                .store()
                .acknowledged_heads(home)
                .expect("acknowledged heads")
                .is_empty()
        );
        // The first add finds no kept tip: it loads the journal once and keeps one.
        added = replica
            .add(
                ActivityId::new_random(),
                &common::minimal("Pēc atjaunināšanas"),
                common::at(5),
            )
            .expect("add");
    }
    let store = Store::open(&path).expect("reopens");
    let home = store.home_journal().expect("a home journal");
    let tip = store.tip(home).expect("read").expect("a tip is kept");
    let mut journal = store.load_journal(home).expect("load");
    assert_eq!(tip, journal.tip());
    let one = journal.get(sent).expect("read").expect("kept");
    assert_eq!(one.title, "Skolotāja loma kopienā");
    assert_eq!(one.counts.get(Group::Teachers), 19);
    assert_eq!(one.counts.get(Group::Parents), 4, "the edit is kept");
    let two = journal.get(unsent).expect("read").expect("kept");
    assert_eq!(two.title, "Darbnīca vecākiem");
    assert!(journal.get(added).expect("read").is_some());
    assert_eq!(store.unsent_count(home).expect("unsent"), 3);
}

/// Layout 3 (view rows as JSON): a device's store with two activities made
/// by `add`, one edited and one deleted, never enrolled.
const LAYOUT_3: &str = "tests/fixtures/store-layout-3.redb";
const LAYOUT_3_EDITED: &str = "d7c8ccd2-c076-40f1-a272-0e2d3e242697";
const LAYOUT_3_DELETED: &str = "bc8d25f0-783c-4b0d-a4f3-2a2416157ed3";

#[test]
fn a_layout_3_store_opens_with_its_view_rows_rewritten_compactly() {
    use redb::{ReadableDatabase, TableHandle};
    let (_dir, path) = copy_of(LAYOUT_3);
    let edited: ActivityId = LAYOUT_3_EDITED.parse().expect("an id");
    let deleted: ActivityId = LAYOUT_3_DELETED.parse().expect("an id");
    let from_view = {
        let store = Store::open(&path).expect("a layout-3 store opens");
        let home = store.home_journal().expect("a home journal");
        let (_, mut listed) = store.view(home).expect("read").expect("the view is kept");
        listed.sort_by_key(|a| a.title.clone());
        let journal = store.load_journal(home).expect("load");
        let mut from_journal = journal.activities().expect("read");
        from_journal.sort_by_key(|a| a.title.clone());
        assert_eq!(listed, from_journal, "the view still shows the journal");
        listed
    };
    let one = from_view.iter().find(|a| a.id == edited).expect("listed");
    assert_eq!(one.title, "Rokdarbu vakars senioriem");
    assert_eq!(
        one.start.map(|t| t.to_string()).as_deref(),
        Some("17:30:00")
    );
    assert_eq!(one.hours, Some(2.0));
    assert_eq!(one.counts.get(Group::Volunteers), 16, "the edit is kept");
    assert_eq!(one.notes, "Nākamreiz vairāk dzijas");
    assert!(from_view.iter().any(|a| a.id == deleted && a.deleted));

    let db = redb::Database::open(&path).expect("a redb file");
    let tables: Vec<String> = db
        .begin_read()
        .expect("read")
        .list_tables()
        .expect("tables")
        .map(|t| t.name().to_owned())
        .collect();
    assert!(tables.iter().any(|t| t == "activity_view-v2"));
    assert!(
        !tables.iter().any(|t| t == "activity_view-v1"),
        "{tables:?}"
    );
}

/// Layout 4 (before the snapshot's heads and the index of unsent rows): the
/// centre device's store of `tests/fixtures/protocol-5-store-4` (made by that
/// release's programs), enrolled and synced, then with three activities
/// changed offline: one deleted, one edited, one recorded.
const LAYOUT_4: &str = "tests/fixtures/store-layout-4.redb";
const LAYOUT_4_UNSENT: [&str; 3] = [
    "086ea2d2-e96f-4a4e-993f-0510cdbf206a",
    "fef028a6-107b-421d-ada6-a768df9ed9ba",
    "d7465572-de64-4b85-9bc8-436124df6a76",
];

#[test]
fn a_layout_4_store_opens_with_its_unsent_rows_indexed_and_its_snapshot_heads_known() {
    let (_dir, path) = copy_of(LAYOUT_4);
    let store = Store::open(&path).expect("a layout-4 store opens");
    let home = store.home_journal().expect("a home journal");
    let mut unsent = store.unsent_activities(home).expect("unsent");
    unsent.sort();
    let mut expected: Vec<ActivityId> = LAYOUT_4_UNSENT
        .iter()
        .map(|id| id.parse().expect("an id"))
        .collect();
    expected.sort();
    assert_eq!(unsent, expected, "what was not sent stays not sent");
    let journal = store.load_journal(home).expect("load");
    let heads = store
        .snapshot_heads(home)
        .expect("read")
        .expect("known once the journal was loaded");
    if store.snapshot_len(home).expect("read") == 0 {
        assert_eq!(heads, sync_core::journal::genesis_heads());
    }
    // The index built from the old rows: acknowledging the journal's heads
    // marks every activity sent.
    store
        .mark_acknowledged(home, &journal, &journal.heads())
        .expect("acknowledged");
    assert_eq!(store.unsent_count(home).expect("unsent"), 0);
}

/// Layout 5 (before the upload a compaction makes ready): the centre
/// device's store of `tests/fixtures/protocol-5-store-5` (made by that
/// release's programs), enrolled and synced, then with three activities
/// changed offline.
const LAYOUT_5: &str = "tests/fixtures/store-layout-5.redb";

#[test]
fn a_layout_5_store_opens_and_its_next_compaction_makes_its_unsent_changes_ready() {
    let (_dir, path) = copy_of(LAYOUT_5);
    let mut replica = Replica::open(&path).expect("a layout-5 store opens");
    let home = replica.store().home_journal().expect("a home journal");
    assert_eq!(replica.activities().expect("list").len(), 4);
    assert_eq!(replica.store().unsent_count(home).expect("unsent"), 3);
    // The new tables exist, empty.
    assert!(replica.store().ready_upload(home).expect("read").is_none());
    replica.compact().expect("compact");
    let ready = replica
        .store()
        .ready_upload(home)
        .expect("read")
        .expect("the three unsent changes made ready");
    let changes: usize = ready.batches.iter().map(Vec::len).sum();
    assert_eq!(changes, 3, "{:?}", ready.batches);
    drop(replica);
    // Migrated once: it opens again as the current layout, unchanged.
    let store = Store::open(&path).expect("reopens");
    assert_eq!(store.unsent_count(home).expect("unsent"), 3);
    assert!(store.ready_upload(home).expect("read").is_some());
}

/// Layout 6 (before attached files): the centre device's store of
/// `tests/fixtures/protocol-5-store-6` (made by that release's programs).
const LAYOUT_6: &str = "tests/fixtures/store-layout-6.redb";

#[test]
fn a_layout_6_store_opens_keeps_its_records_and_can_hold_files() {
    let (_dir, path) = copy_of(LAYOUT_6);
    let before = {
        let mut replica = Replica::open(&path).expect("a layout-6 store opens");
        let activities = replica.activities().expect("list");
        assert!(!activities.is_empty(), "the fixture's records are kept");
        // The new tables exist, empty, and take a file.
        assert!(replica.store().files().expect("files").is_empty());
        let scan = b"%PDF-1.4\nan attendance sheet\n%%EOF\n".to_vec();
        let stored = replica
            .store()
            .put_file(std::io::Cursor::new(&scan))
            .expect("a file is stored");
        let mut back = Vec::new();
        replica
            .store()
            .read_file(stored.hash, &mut back)
            .expect("read back");
        assert_eq!(back, scan);
        activities.len()
    };
    // Migrated once: it opens again as the current layout, unchanged.
    let mut replica = Replica::open(&path).expect("reopens");
    assert_eq!(replica.activities().expect("list").len(), before);
    assert_eq!(replica.store().files().expect("files").len(), 1);
}

/// Layout 7 (files, no upload queue): the centre device's store of
/// `tests/fixtures/protocol-5-store-7` (made by that release's programs).
const LAYOUT_7: &str = "tests/fixtures/store-layout-7.redb";

#[test]
fn a_layout_7_store_opens_keeps_its_records_and_queues_a_file_attached_to_send() {
    let (_dir, path) = copy_of(LAYOUT_7);
    let (before, id, hash) = {
        let mut replica = Replica::open(&path).expect("a layout-7 store opens");
        let activities = replica.activities().expect("list");
        assert!(!activities.is_empty(), "the fixture's records are kept");
        let home = replica.journal_id();
        assert!(
            replica
                .store()
                .files_to_send(home)
                .expect("queue")
                .is_empty()
        );
        let scan = b"%PDF-1.4\nan attendance sheet\n%%EOF\n".to_vec();
        let id = activities[0].id;
        let attached = replica
            .attach_file(
                id,
                std::io::Cursor::new(&scan),
                "lapa.pdf",
                chrono::Utc::now(),
            )
            .expect("a file is attached")
            .expect("new to the activity");
        let queued = replica.store().files_to_send(home).expect("queue");
        assert_eq!(queued.len(), 1);
        assert_eq!((queued[0].hash, queued[0].activity), (attached.file, id));
        (activities.len(), id, attached.file)
    };
    // Migrated once: it opens again as the current layout, unchanged.
    let mut replica = Replica::open(&path).expect("reopens");
    assert_eq!(replica.activities().expect("list").len(), before);
    let activity = replica.get(id).expect("get").expect("present");
    assert_eq!(activity.attachments.len(), 1);
    assert_eq!(activity.attachments[0].file, hash);
    let home = replica.journal_id();
    assert_eq!(replica.store().files_to_send(home).expect("queue").len(), 1);
}

/// Layout 8 (file bytes inside the store): the centre device's store of
/// `tests/fixtures/protocol-6-store-8`, which holds a 96-byte scan attached
/// to one activity, sent.
const LAYOUT_8: &str = "tests/fixtures/store-layout-8.redb";

/// The scan's hash and bytes, read through the store after the migration.
fn the_scan(replica: &mut Replica) -> (ActivityId, sync_core::files::FileHash, Vec<u8>) {
    let activities = replica.activities().expect("list");
    let with_file: Vec<_> = activities
        .iter()
        .filter(|a| !a.attachments.is_empty())
        .collect();
    assert_eq!(with_file.len(), 1, "one activity has the scan");
    let hash = with_file[0].attachments[0].file;
    let mut bytes = Vec::new();
    replica
        .store()
        .read_file(hash, &mut bytes)
        .expect("the scan reads back whole");
    assert_eq!(sync_core::files::FileHash::of(&bytes), hash);
    assert!(bytes.starts_with(b"%PDF-"));
    (with_file[0].id, hash, bytes)
}

#[test]
fn a_layout_8_store_opens_and_its_files_move_beside_it() {
    let (_dir, path) = copy_of(LAYOUT_8);
    let folder = sync_core::store::file_bytes::folder_of(&path);
    assert!(!folder.exists());
    let (before, hash, bytes) = {
        let mut replica = Replica::open(&path).expect("a layout-8 store opens");
        let (_, hash, bytes) = the_scan(&mut replica);
        (replica.activities().expect("list").len(), hash, bytes)
    };
    assert_eq!(
        std::fs::read(folder.join(hash.to_string())).expect("the scan is beside the store"),
        bytes
    );
    // Migrated once: it opens again as the current layout, unchanged.
    let mut replica = Replica::open(&path).expect("reopens");
    assert_eq!(replica.activities().expect("list").len(), before);
    assert_eq!(the_scan(&mut replica).1, hash);
}

#[test]
fn a_layout_8_migration_cut_short_runs_again() {
    let (_dir, path) = copy_of(LAYOUT_8);
    let hash = {
        let mut replica = Replica::open(&path).expect("opens");
        the_scan(&mut replica).1
    };
    // As if the copy out had been cut after writing half a file, before its
    // transaction: a layout-8 store again, with part of the file beside it.
    let (_dir2, again) = copy_of(LAYOUT_8);
    let folder = sync_core::store::file_bytes::folder_of(&again);
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::write(folder.join(hash.to_string()), b"%PDF-1.7\ncut").expect("write");
    let mut replica = Replica::open(&again).expect("the migration runs again");
    assert_eq!(the_scan(&mut replica).1, hash);
}
