//! The durable store: create/open/reopen, exclusive use, damaged and foreign
//! files, compaction and the acknowledgement bookkeeping.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use sync_core::replica::ReplicaError;
use sync_core::{
    Activity, ActivityId, ActivityPatch, Group, NewStore, OpenError, Replica, Store, StoreError,
};

use common::{at, full, minimal};

const NEW: NewStore<'static> = NewStore { centre: "Kuldīgas novada kopienu centrs", device_name: "Līgas klēpjdators" };

fn new_replica(dir: &Path) -> (PathBuf, Replica) {
    let path = dir.join("journal.redb");
    let replica = Replica::create(&path, NEW).expect("create store");
    (path, replica)
}

fn add(replica: &mut Replica, patch: &ActivityPatch, secs: i64) -> ActivityId {
    replica.add(ActivityId::new_random(), patch, at(secs)).expect("durable add")
}

fn title(t: &str) -> ActivityPatch {
    ActivityPatch { title: Some(t.to_owned()), ..ActivityPatch::default() }
}

#[test]
fn create_add_reopen_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut r) = new_replica(dir.path());
    let a = add(&mut r, &full("Skolotāja loma vietējās kopienas attīstībā"), 0);
    let b = add(&mut r, &minimal("Vecāku sapulce"), 1);
    let c = add(&mut r, &minimal("Ēnu diena"), 2);
    assert!(r.edit(b, &title("Vecāku sapulce (pārcelta)"), at(3)).expect("edit"));
    assert!(r.set_deleted(c, true, at(4)).expect("delete"));
    let (activities, heads) = (r.activities().expect("read"), r.journal().heads());
    let (device, journal) = (r.store().device_id(), r.journal_id());
    drop(r);

    let r = Replica::open(&path).expect("reopen");
    assert_eq!(r.activities().expect("read"), activities);
    assert_eq!(r.journal().heads(), heads);
    assert_eq!(r.store().device_id(), device);
    assert_eq!(r.store().device_name(), NEW.device_name);
    assert_eq!(r.journal_id(), journal);
    assert_eq!(r.info().expect("info").centre, NEW.centre);
    let status = r.status().expect("status");
    assert_eq!((status.activities, status.deleted, status.unsent), (2, 1, 3));
    let got_a = r.get(a).expect("get").expect("a");
    assert_eq!(got_a.recorded_by, NEW.device_name);
    assert_eq!(got_a.counts.get(Group::Teachers), 12);
    assert_eq!(r.get(b).expect("get").expect("b").title, "Vecāku sapulce (pārcelta)");
    assert!(r.get(c).expect("get").expect("c").deleted);
    // No temporary file is left behind by `create`.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec!["journal.redb"]);
}

#[test]
fn create_on_an_existing_path_and_open_of_a_missing_one_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, r) = new_replica(dir.path());
    drop(r);
    match Store::create(&path, NEW) {
        Err(OpenError::AlreadyExists(p)) => assert_eq!(p, path),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // Refusing did not touch the existing store.
    Store::open(&path).expect("still opens");

    let missing = dir.path().join("nav.redb");
    match Store::open(&missing) {
        Err(e @ OpenError::Missing(_)) => assert!(e.to_string().contains("nav.redb"), "{e}"),
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!(matches!(Replica::open(&missing), Err(ReplicaError::Open(OpenError::Missing(_)))));
    assert!(!missing.exists(), "opening must not create the file");
}

/// redb locks the file; a second open, even from the same process, is refused.
#[test]
fn second_open_of_an_open_store_is_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut first) = new_replica(dir.path());
    add(&mut first, &minimal("Pirmā"), 0);
    for second in [Store::open(&path).map(drop), Replica::open(&path).map(drop).map_err(|e| match e {
        ReplicaError::Open(e) => e,
        other => panic!("expected an open error, got {other:?}"),
    })] {
        match second {
            Err(e @ OpenError::InUse(_)) => {
                assert!(e.to_string().contains("already in use by another process"), "{e}")
            }
            other => panic!("expected InUse, got {other:?}"),
        }
    }
    // The first handle is unharmed and the lock goes with it.
    add(&mut first, &minimal("Otrā"), 1);
    drop(first);
    assert_eq!(Replica::open(&path).expect("open after close").activities().expect("read").len(), 2);
}

/// What opening a (possibly damaged) store and loading its journal gave.
#[derive(Debug)]
enum Outcome {
    Refused(String),
    Loaded(Vec<Activity>, Vec<ChangeHash>),
}

/// Opens and loads, turning any error into `Refused`; fails the test on a panic.
fn open_and_load(path: &Path, what: &str) -> Outcome {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<_, String> {
        let store = Store::open(path).map_err(|e| format!("open: {e}"))?;
        let journal = store
            .load_journal(store.home_journal())
            .map_err(|e: StoreError| format!("load: {e}"))?;
        store.appended_count(store.home_journal()).map_err(|e| format!("count: {e}"))?;
        let activities = journal.activities().map_err(|e| format!("read: {e}"))?;
        Ok((activities, journal.heads()))
    }));
    match result {
        Ok(Ok((activities, heads))) => Outcome::Loaded(activities, heads),
        Ok(Err(message)) => Outcome::Refused(message),
        Err(_) => panic!("{what}: opening the damaged store panicked"),
    }
}

/// A store with a compacted snapshot and appended changes after it, so damage
/// can land in either. Returns its bytes, activities and heads.
fn damaged_store_fixture(dir: &Path) -> (Vec<u8>, Vec<Activity>, Vec<ChangeHash>) {
    let (path, mut r) = new_replica(dir);
    let items = (0..40).map(|i| (ActivityId::new_random(), full(&format!("Seminārs nr. {i}")))).collect();
    r.import(items, at(0)).expect("import");
    r.compact().expect("compact");
    for i in 0..6 {
        add(&mut r, &minimal(&format!("Pēc kompaktēšanas {i}")), 10 + i);
    }
    let expected = (r.activities().expect("read"), r.journal().heads());
    drop(r);
    (std::fs::read(&path).expect("read file"), expected.0, expected.1)
}

/// Every damaged variant must be refused, or load exactly the original journal.
fn check_damage(dir: &Path, variants: Vec<(String, Vec<u8>)>, original: &(Vec<Activity>, Vec<ChangeHash>)) -> (usize, usize) {
    let (mut refused, mut loaded) = (0, 0);
    for (i, (what, bytes)) in variants.into_iter().enumerate() {
        let path = dir.join(format!("damaged-{i}.redb"));
        std::fs::write(&path, &bytes).expect("write damaged copy");
        match open_and_load(&path, &what) {
            Outcome::Refused(message) => {
                assert!(!message.trim().is_empty(), "{what}: empty message");
                refused += 1;
            }
            Outcome::Loaded(activities, heads) => {
                assert!(
                    activities == original.0 && heads == original.1,
                    "{what}: the damaged store opened with a different journal ({} activities instead of {})",
                    activities.len(),
                    original.0.len()
                );
                loaded += 1;
            }
        }
        std::fs::remove_file(&path).expect("remove");
    }
    (refused, loaded)
}

#[test]
fn truncated_stores_are_refused_or_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, activities, heads) = damaged_store_fixture(dir.path());
    let len = bytes.len();
    let mut lengths = vec![0, 1, 3, 4, 100, 512, 4095, 4096, len / 4, len / 2, len - 4096, len - 1];
    lengths.retain(|&n| n < len);
    let variants = lengths
        .into_iter()
        .map(|n| (format!("truncated to {n} of {len} bytes"), bytes[..n].to_vec()))
        .collect();
    let (refused, loaded) = check_damage(dir.path(), variants, &(activities, heads));
    eprintln!("truncation: {refused} refused, {loaded} loaded intact");
    assert!(refused >= 8, "short files must be refused");

    // An empty file is called damaged, not foreign: it was most likely ours.
    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, b"").expect("write");
    match Store::open(&empty) {
        Err(e @ OpenError::Damaged { .. }) => assert!(e.to_string().contains("empty"), "{e}"),
        other => panic!("expected Damaged, got {other:?}"),
    }
}

#[test]
fn bit_flips_are_refused_or_harmless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, activities, heads) = damaged_store_fixture(dir.path());
    let len = bytes.len();
    let n: usize = std::env::var("FLIPS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let offsets: Vec<usize> = (0..n).map(|k| k * (len - 1) / (n - 1)).collect();
    let variants = offsets
        .into_iter()
        .enumerate()
        .map(|(k, at)| {
            let mut damaged = bytes.clone();
            damaged[at] ^= 1 << (k % 8);
            (format!("bit {} flipped at offset {at} of {len}", k % 8), damaged)
        })
        .collect();
    let (refused, loaded) = check_damage(dir.path(), variants, &(activities, heads));
    eprintln!("bit flips: {refused} refused, {loaded} loaded intact (file of {len} bytes)");
    assert!(refused > 0, "checksums must catch some of the flips");
}

#[test]
fn foreign_files_are_recognised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let foreign = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        match Store::open(&path) {
            Err(e @ OpenError::Foreign { .. }) => {
                let message = e.to_string();
                assert!(message.contains("is not a journal store of this program"), "{message}");
                assert!(message.contains(name), "{message}");
                message
            }
            other => panic!("{name}: expected Foreign, got {other:?}"),
        }
    };
    // Pseudo-random bytes from a fixed seed (xorshift), so the test is repeatable.
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_ne!(&noise[..4], b"redb");
    foreign("noise.bin", &noise);
    foreign("notes.txt", "Aktivitāšu žurnāls\n2026-05-14;Seminārs;12\n".as_bytes());
    foreign("x", b"ab");

    // A real, empty redb database, and one with our header table but another marker.
    let empty_db = dir.path().join("empty-db.redb");
    drop(redb::Database::create(&empty_db).expect("redb create"));
    let message = foreign("empty-db.redb", &std::fs::read(&empty_db).expect("read"));
    assert!(message.contains("no journal store header"), "{message}");
    let other_app = dir.path().join("other-app.redb");
    {
        let db = redb::Database::create(&other_app).expect("redb create");
        let tx = db.begin_write().expect("begin");
        {
            let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta-v1");
            let mut meta = tx.open_table(def).expect("table");
            meta.insert("format", b"someone-else".as_slice()).expect("insert");
        }
        tx.commit().expect("commit");
    }
    let message = foreign("other-app.redb", &std::fs::read(&other_app).expect("read"));
    assert!(message.contains("no journal store header"), "{message}");

    // The redb magic followed by garbage: damaged or foreign, never a panic.
    let mut fake = b"redb".to_vec();
    fake.extend_from_slice(&noise);
    let path = dir.path().join("fake.redb");
    std::fs::write(&path, &fake).expect("write");
    match catch_unwind(|| Store::open(&path)) {
        Ok(Err(e @ (OpenError::Damaged { .. } | OpenError::Foreign { .. }))) => {
            assert!(e.to_string().contains("fake.redb"), "{e}")
        }
        Ok(other) => panic!("expected Damaged or Foreign, got {other:?}"),
        Err(_) => panic!("opening a fake redb file panicked"),
    }
}

#[test]
fn compaction_keeps_everything_and_empties_the_change_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut r) = new_replica(dir.path());
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(add(&mut r, &minimal(&format!("Nodarbība {i}")), i));
    }
    for (i, id) in ids.iter().enumerate().step_by(7) {
        r.edit(*id, &ActivityPatch { counts: vec![(Group::Volunteers, i as u32)], ..Default::default() }, at(100))
            .expect("edit");
    }
    let items = (0..250).map(|i| (ActivityId::new_random(), full(&format!("Imports {i}")))).collect();
    r.import(items, at(200)).expect("import");
    let journal = r.journal_id();
    let appended = r.store().appended_count(journal).expect("count");
    assert_eq!(appended, 60 + 8 + 3, "one change per add and real edit (the first sets 0 again), three per 250-row import");
    assert!(!r.compact_if_needed().expect("compact if needed"), "below the threshold");

    let (before, heads) = (r.activities().expect("read"), r.journal().heads());
    assert_eq!(before.len(), 310);
    r.compact().expect("compact");
    assert_eq!(r.store().appended_count(journal).expect("count"), 0);
    assert_eq!(r.activities().expect("read"), before);
    assert_eq!(r.journal().heads(), heads);
    drop(r);

    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(r.activities().expect("read"), before);
    assert_eq!(r.journal().heads(), heads);
    assert_eq!(r.store().appended_count(journal).expect("count"), 0);

    // Appending after a compaction, and compacting twice, still loads the same.
    let late = add(&mut r, &minimal("Pēc kompaktēšanas"), 300);
    assert_eq!(r.store().appended_count(journal).expect("count"), 1);
    r.compact().expect("compact again");
    r.compact().expect("compact with nothing appended");
    let (after, heads) = (r.activities().expect("read"), r.journal().heads());
    drop(r);
    let r = Replica::open(&path).expect("reopen");
    assert_eq!(r.activities().expect("read"), after);
    assert_eq!(r.journal().heads(), heads);
    assert!(r.get(late).expect("get").is_some());
}

#[test]
fn compaction_is_refused_for_a_journal_missing_stored_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_path, mut r) = new_replica(dir.path());
    add(&mut r, &minimal("Saglabāta"), 0);
    // A journal that lacks the appended change must not replace the log.
    let stale = sync_core::Journal::new(r.store().device_id().actor());
    match r.store().compact(r.journal_id(), &stale) {
        Err(StoreError::CompactionMismatch(_)) => {}
        other => panic!("expected CompactionMismatch, got {other:?}"),
    }
    assert_eq!(r.store().appended_count(r.journal_id()).expect("count"), 1);
}

#[test]
fn acknowledgements_clear_unsent_activities() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    let unsent = |r: &Replica| r.store().unsent_count(journal).expect("unsent");
    assert_eq!(unsent(&r), 0);
    assert!(r.store().acknowledged_heads(journal).expect("acked").is_empty());

    let first = add(&mut r, &minimal("Pirmā"), 0);
    add(&mut r, &minimal("Otrā"), 1);
    let after_second = r.journal().heads();
    add(&mut r, &minimal("Trešā"), 2);
    assert_eq!(unsent(&r), 3);

    r.store().mark_acknowledged(journal, r.journal(), &after_second).expect("ack");
    assert_eq!(unsent(&r), 1);
    assert_eq!(r.store().acknowledged_heads(journal).expect("acked"), after_second);

    let current = r.journal().heads();
    r.store().mark_acknowledged(journal, r.journal(), &current).expect("ack");
    assert_eq!(unsent(&r), 0);

    assert!(r.edit(first, &title("Pirmā, labota"), at(3)).expect("edit"));
    assert_eq!(unsent(&r), 1);
    // Acknowledging old heads again does not clear the newer edit.
    r.store().mark_acknowledged(journal, r.journal(), &current).expect("ack");
    assert_eq!(unsent(&r), 1);
    // Heads the device does not know cover nothing.
    let unknown = [ChangeHash([7; 32])];
    r.store().mark_acknowledged(journal, r.journal(), &unknown).expect("ack");
    assert_eq!(unsent(&r), 1);

    // The bookkeeping is durable.
    drop(r);
    let r = Replica::open(&path).expect("reopen");
    assert_eq!(unsent(&r), 1);
    assert_eq!(r.store().acknowledged_heads(journal).expect("acked"), unknown);
    assert_eq!(r.status().expect("status").unsent, 1);
}

#[test]
fn import_skips_existing_ids_and_duplicates_within_the_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut r) = new_replica(dir.path());
    let existing = add(&mut r, &minimal("Jau ir"), 0);
    let fresh = ActivityId::new_random();
    let items = vec![
        (existing, minimal("Jau ir (vēlreiz)")),
        (fresh, full("Jauna")),
        (fresh, full("Jauna (dublikāts)")),
    ];
    let outcome = r.import(items.clone(), at(1)).expect("import");
    assert_eq!((outcome.added, outcome.already_present), (1, 2));
    let again = r.import(items, at(2)).expect("import again");
    assert_eq!((again.added, again.already_present), (0, 3));
    assert_eq!(r.get(existing).expect("get").expect("present").title, "Jau ir");
    assert_eq!(r.get(fresh).expect("get").expect("present").title, "Jauna");

    // A row missing a required field refuses the whole import and leaves nothing behind.
    let heads = r.journal().heads();
    let bad = vec![
        (ActivityId::new_random(), minimal("Laba")),
        (ActivityId::new_random(), ActivityPatch { date: None, ..minimal("Bez datuma") }),
    ];
    assert!(matches!(r.import(bad, at(3)), Err(ReplicaError::Journal(_))));
    assert_eq!(r.journal().heads(), heads);
    drop(r);
    let r = Replica::open(&path).expect("reopen");
    assert_eq!(r.journal().heads(), heads);
    assert_eq!(r.activities().expect("read").len(), 2);
}
