//! A relay compacts a journal while uploads to it go on: the changes stored
//! after its copy stay, an erasure meanwhile wins, and one compaction of a
//! journal runs at a time.

mod common;

use chrono::Utc;
use common::{PER_CENTRE, at_relay, record};
use relay::registry::Registry;
use relay::store::{RedbStore, RelayStore};
use uuid::Uuid;

fn relay_with_centre(dir: &std::path::Path) -> (RedbStore, Uuid) {
    let registry = Registry::open(dir).expect("registry");
    let centre = registry
        .add_centre("Centrs", Utc::now())
        .expect("centre")
        .id;
    drop(registry);
    (RedbStore::open(dir).expect("store"), centre)
}

#[test]
fn changes_stored_after_the_copy_stay_and_one_compaction_runs_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, centre) = relay_with_centre(dir.path());
    let journals = store.journals();
    let before = record(&store, centre);

    let copy = journals.start_compaction(centre).expect("a copy");
    assert!(
        journals.start_compaction(centre).is_none(),
        "a second compaction waits for the first"
    );
    let during = record(&store, centre);
    assert!(journals.finish_compaction(copy), "the snapshot is written");
    assert!(
        journals.start_compaction(centre).is_some(),
        "the next one may start"
    );

    journals.reload_all();
    let reloaded = at_relay(&store, centre);
    for id in before.iter().chain(&during) {
        assert!(reloaded.contains(*id).expect("read"), "{id:?} kept");
    }
    assert_eq!(reloaded.activities().expect("read").len(), 2 * PER_CENTRE);
}

#[test]
fn a_compaction_copied_before_an_erasure_does_not_bring_the_record_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, centre) = relay_with_centre(dir.path());
    let journals = store.journals();
    let ids = record(&store, centre);

    let copy = journals.start_compaction(centre).expect("a copy");
    let erased = journals.erase_activity(ids[0], Utc::now()).expect("erased");
    assert_eq!(erased, (centre, 1));
    assert!(
        !journals.finish_compaction(copy),
        "the copy holds the erased record: put off"
    );

    journals.reload_all();
    let reloaded = at_relay(&store, centre);
    assert!(!reloaded.contains(ids[0]).expect("read"), "stays erased");
    assert!(reloaded.contains(ids[1]).expect("read"), "the others kept");
    assert_eq!(store.state(centre).expect("state").0, 1);
}

#[test]
fn a_journal_is_compacted_once_quiet_not_between_the_batches_of_an_upload() {
    use relay::limits::COMPACT_WHEN_QUIET_FOR;
    use std::time::Instant;
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, centre) = relay_with_centre(dir.path());
    let journals = store.journals();
    // Enough stored changes for a compaction to be due.
    let batches = sync_core::limits::COMPACT_AFTER_CHANGES as usize / PER_CENTRE + 1;
    let mut ids = Vec::new();
    for _ in 0..batches {
        ids.extend(record(&store, centre));
    }
    let last_stored = Instant::now();
    assert!(
        !journals.maintain_at(centre, last_stored),
        "compacted while the upload may still be going on"
    );
    assert!(
        !journals.maintain_at(centre, last_stored + COMPACT_WHEN_QUIET_FOR / 2),
        "compacted before the journal was quiet"
    );
    assert!(
        journals.maintain_at(centre, last_stored + COMPACT_WHEN_QUIET_FOR),
        "not compacted once quiet"
    );
    assert!(
        !journals.maintain_at(centre, last_stored + 2 * COMPACT_WHEN_QUIET_FOR),
        "compacted again with nothing appended"
    );
    journals.reload_all();
    let reloaded = at_relay(&store, centre);
    assert_eq!(reloaded.activities().expect("read").len(), ids.len());
}

/// Appended changes of `centre`'s journal in the relay's file.
fn appended_in_file(path: &std::path::Path, centre: Uuid) -> u64 {
    let store = sync_core::store::Store::open(path).expect("the journal's file");
    store
        .appended(sync_core::store::JournalId(centre))
        .expect("counts")
        .changes
}

#[test]
fn a_relay_stopped_before_a_due_compaction_compacts_as_it_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, centre) = relay_with_centre(dir.path());
    let batches = sync_core::limits::COMPACT_AFTER_CHANGES as usize / PER_CENTRE + 1;
    for _ in 0..batches {
        record(&store, centre);
    }
    let path = store.journals().path(centre);
    // Stopped before the journal was quiet long enough to compact.
    drop(store);
    assert!(appended_in_file(&path, centre) >= sync_core::limits::COMPACT_AFTER_CHANGES);

    let store = RedbStore::open(dir.path()).expect("store");
    assert_eq!(store.maintain_all(), 1, "the due journal is compacted");
    assert_eq!(store.maintain_all(), 0, "and then nothing is due");
    assert_eq!(
        at_relay(&store, centre).activities().expect("read").len(),
        batches * PER_CENTRE
    );
    drop(store);
    assert_eq!(appended_in_file(&path, centre), 0);
}

#[test]
fn a_journal_not_due_is_neither_compacted_nor_loaded_as_the_relay_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, centre) = relay_with_centre(dir.path());
    record(&store, centre);
    let path = store.journals().path(centre);
    drop(store);
    let store = RedbStore::open(dir.path()).expect("store");
    assert_eq!(store.maintain_all(), 0);
    assert_eq!(store.journals().loaded_count(), 0, "its file was only read");
    drop(store);
    assert_eq!(appended_in_file(&path, centre), PER_CENTRE as u64);
}

#[test]
fn a_compaction_drops_the_files_no_record_refers_to_any_more() {
    use sync_core::activity::Thumbnail;
    use sync_core::files::{FileHash, MediaType};
    use sync_core::store::FileDescription;
    use sync_core::{ActivityId, Journal, NewAttachment};
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, centre) = relay_with_centre(dir.path());
    let journals = store.journals();
    let jpeg = |seed: u8| [&[0xFF, 0xD8, 0xFF, 0xE0, seed][..], &[0xFF, 0xD9]].concat();
    let (photo, thumbnail) = (jpeg(1), jpeg(2));
    let scan = b"%PDF-1.4\nsaraksts\n%%EOF\n".to_vec();
    let attachment = |bytes: &[u8], name: &str, media_type| NewAttachment {
        file: FileHash::of(bytes),
        name: name.into(),
        media_type,
        bytes: bytes.len() as u64,
        thumbnail: None,
    };
    let mut with_thumbnail = attachment(&photo, "foto.jpg", MediaType::Jpeg);
    with_thumbnail.thumbnail = Some(Thumbnail {
        file: FileHash::of(&thumbnail),
        bytes: thumbnail.len() as u64,
    });

    // A record with a photo (and its thumbnail) and a scan, and their
    // bytes, as a centre's device sent them.
    let mut journal = Journal::new(automerge::ActorId::random());
    let stamp = sync_core::journal::Stamp {
        author: "test",
        now: Utc::now(),
    };
    let id = ActivityId::new_random();
    let patch = sync_core::ActivityInput {
        title: Some("Seminārs".into()),
        kind: Some("seminar".into()),
        date: Some("2026-05-14".into()),
        ..Default::default()
    }
    .parse()
    .expect("valid");
    let mut changes = vec![journal.create(id, &patch, stamp).expect("create")];
    changes.extend(journal.attach(id, &with_thumbnail, stamp).expect("attach"));
    let scan_entry = attachment(&scan, "lapa.pdf", MediaType::Pdf);
    changes.extend(journal.attach(id, &scan_entry, stamp).expect("attach"));
    store
        .apply_durably(centre, 0, changes.into())
        .expect("stored")
        .expect("the same epoch");
    for bytes in [&photo, &thumbnail, &scan] {
        let file = FileDescription {
            hash: FileHash::of(bytes),
            bytes: bytes.len() as u64,
        };
        journals
            .receive_file_chunk(centre, file, 0, bytes)
            .expect("storage")
            .expect("a whole file");
    }
    let held = |bytes: &[u8]| {
        journals
            .held_file(centre, FileHash::of(bytes))
            .expect("read")
            .is_some()
    };

    // Detached on the device: the next compaction drops the photo and its
    // thumbnail, and keeps the scan its record still names.
    let detach = journal
        .detach(id, FileHash::of(&photo), stamp)
        .expect("detach");
    store
        .apply_durably(centre, 0, detach.into_iter().collect::<Vec<_>>().into())
        .expect("stored")
        .expect("the same epoch");
    assert!(
        held(&photo) && held(&thumbnail),
        "kept until the compaction"
    );
    let copy = journals.start_compaction(centre).expect("a copy");
    assert!(journals.finish_compaction(copy));
    assert!(!held(&photo), "the detached photo is dropped");
    assert!(!held(&thumbnail), "and its thumbnail");
    assert!(held(&scan), "a file a record names stays");
}
