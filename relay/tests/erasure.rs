//! The relay's side of an erasure (docs/ERASURE.md): the record is found
//! whether its journal is in memory or only on disk, and other journals stay
//! loaded.

mod common;

use chrono::Utc;
use common::{at_relay, record};
use relay::registry::Registry;
use relay::store::{EraseError, RedbStore, RelayStore};
use sync_core::ActivityId;

#[test]
fn an_erasure_finds_the_record_in_memory_or_on_disk_and_leaves_other_journals_loaded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = Registry::open(dir.path()).expect("registry");
    let a = registry.add_centre("Centrs A", Utc::now()).expect("A").id;
    let b = registry.add_centre("Centrs B", Utc::now()).expect("B").id;
    drop(registry);
    let store = RedbStore::open(dir.path()).expect("store");
    let journals = store.journals();
    let in_a = record(&store, a);
    let in_b = record(&store, b);
    assert_eq!(journals.loaded_count(), 2);

    // B's journal is in memory: only it is dropped from memory (it changed).
    let erased = journals
        .erase_activity(in_b[0], Utc::now())
        .expect("erased");
    assert_eq!(erased, (b, 1));
    assert_eq!(journals.loaded_count(), 2, "both stay loaded");
    let b_now = at_relay(&store, b);
    assert!(!b_now.contains(in_b[0]).expect("read"), "erased");
    assert!(b_now.contains(in_b[1]).expect("read"), "the others kept");
    assert!(b_now.erased().expect("read").contains(&in_b[0]));

    // Nothing in memory (a restarted relay): found by loading from disk.
    journals.reload_all();
    assert_eq!(journals.loaded_count(), 0);
    let erased = journals
        .erase_activity(in_a[2], Utc::now())
        .expect("erased");
    assert_eq!(erased, (a, 1));
    let a_now = at_relay(&store, a);
    assert!(!a_now.contains(in_a[2]).expect("read"), "erased");
    assert!(a_now.contains(in_a[0]).expect("read"), "the others kept");

    // An id no journal holds changes nothing.
    let unknown = ActivityId::new_random();
    assert!(matches!(
        journals.erase_activity(unknown, Utc::now()),
        Err(EraseError::NotFound(id)) if id == unknown
    ));
    assert_eq!(store.state(a).expect("state").0, 1);
    assert_eq!(store.state(b).expect("state").0, 1);
}
