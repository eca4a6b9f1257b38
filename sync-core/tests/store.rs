//! The durable store: create/open/reopen, exclusive use, damaged and foreign
//! files, compaction and the acknowledgement bookkeeping.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use sync_core::replica::ReplicaError;
use sync_core::{
    Activity, ActivityId, ActivityPatch, Group, Journal, JournalId, NewStore, OpenError, Replica,
    Store, StoreError,
};

use common::{at, full, minimal};

const NEW: NewStore<'static> = NewStore {
    centre: "Kuldīgas novada kopienu centrs",
    device_name: "Līgas klēpjdators",
};

fn new_replica(dir: &Path) -> (PathBuf, Replica) {
    let path = dir.join("journal.redb");
    let replica = Replica::create(&path, NEW).expect("create store");
    (path, replica)
}

fn add(replica: &mut Replica, patch: &ActivityPatch, secs: i64) -> ActivityId {
    replica
        .add(ActivityId::new_random(), patch, at(secs))
        .expect("durable add")
}

fn title(t: &str) -> ActivityPatch {
    ActivityPatch {
        title: Some(t.to_owned()),
        ..ActivityPatch::default()
    }
}

/// Records that the relay acknowledged `heads`, as a sync session would.
fn acknowledge(r: &mut Replica, journal: JournalId, heads: &[ChangeHash]) {
    let current = r.journal().expect("journal").doc().fork();
    let current = Journal::from_doc(current).expect("a journal");
    r.store()
        .mark_acknowledged(journal, &current, heads)
        .expect("ack");
}

#[test]
fn create_add_reopen_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut r) = new_replica(dir.path());
    let a = add(
        &mut r,
        &full("Skolotāja loma vietējās kopienas attīstībā"),
        0,
    );
    let b = add(&mut r, &minimal("Vecāku sapulce"), 1);
    let c = add(&mut r, &minimal("Ēnu diena"), 2);
    assert!(
        r.edit(b, &title("Vecāku sapulce (pārcelta)"), at(3))
            .expect("edit")
    );
    assert!(r.set_deleted(c, true, at(4)).expect("delete"));
    let (activities, heads) = (
        r.activities().expect("read"),
        r.journal().expect("journal").heads(),
    );
    let (device, journal) = (r.store().device_id(), r.journal_id());
    drop(r);

    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(r.activities().expect("read"), activities);
    assert_eq!(r.journal().expect("journal").heads(), heads);
    assert_eq!(r.store().device_id(), device);
    assert_eq!(r.store().device_name(), NEW.device_name);
    assert_eq!(r.journal_id(), journal);
    assert_eq!(r.info().expect("info").centre, NEW.centre);
    let status = r.status().expect("status");
    assert_eq!(
        (status.activities, status.deleted, status.unsent),
        (2, 1, 3)
    );
    let got_a = r.get(a).expect("get").expect("a");
    assert_eq!(got_a.recorded_by, NEW.device_name);
    assert_eq!(got_a.counts.get(Group::Teachers), 12);
    assert_eq!(
        r.get(b).expect("get").expect("b").title,
        "Vecāku sapulce (pārcelta)"
    );
    assert!(r.get(c).expect("get").expect("c").deleted);
    // No temporary file is left behind by `create`; beside the store, only
    // the note of its last clean close.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["journal.redb", "journal.redb.closed"]);
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
    assert!(matches!(
        Replica::open(&missing),
        Err(ReplicaError::Open(OpenError::Missing(_)))
    ));
    assert!(!missing.exists(), "opening must not create the file");
}

/// redb locks the file; a second open, even from the same process, is refused.
#[test]
fn second_open_of_an_open_store_is_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut first) = new_replica(dir.path());
    add(&mut first, &minimal("Pirmā"), 0);
    for second in [
        Store::open(&path).map(drop),
        Replica::open(&path).map(drop).map_err(|e| match e {
            ReplicaError::Open(e) => e,
            other => panic!("expected an open error, got {other:?}"),
        }),
    ] {
        match second {
            Err(e @ OpenError::InUse(_)) => {
                assert!(
                    e.to_string().contains("already in use by another process"),
                    "{e}"
                )
            }
            other => panic!("expected InUse, got {other:?}"),
        }
    }
    // The first handle is unharmed and the lock goes with it.
    add(&mut first, &minimal("Otrā"), 1);
    drop(first);
    assert_eq!(
        Replica::open(&path)
            .expect("open after close")
            .activities()
            .expect("read")
            .len(),
        2
    );
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
        let home = store
            .home_journal()
            .ok_or_else(|| format!("{}: no home journal", path.display()))?;
        let journal = store
            .load_journal(home)
            .map_err(|e: StoreError| format!("load: {e}"))?;
        store
            .appended_count(home)
            .map_err(|e| format!("count: {e}"))?;
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
/// can land in either, as two images of its file:
/// - `crashed`: the bytes on disk right after the last durable add returned, as
///   a power cut or a killed process would leave them (the store is still open);
/// - `closed`: the bytes after the store was closed normally.
struct Images {
    crashed: Vec<u8>,
    closed: Vec<u8>,
    activities: Vec<Activity>,
    heads: Vec<ChangeHash>,
}

fn damage_fixture(dir: &Path) -> Images {
    let (path, mut r) = new_replica(dir);
    let items = (0..40)
        .map(|i| (ActivityId::new_random(), full(&format!("Seminārs nr. {i}"))))
        .collect();
    r.import(items, at(0)).expect("import");
    r.compact().expect("compact");
    for i in 0..6 {
        add(&mut r, &minimal(&format!("Pēc kompaktēšanas {i}")), 10 + i);
    }
    let crashed = std::fs::read(&path).expect("read file");
    let (activities, heads) = (
        r.activities().expect("read"),
        r.journal().expect("journal").heads(),
    );
    drop(r);
    let closed = std::fs::read(&path).expect("read file");
    Images {
        crashed,
        closed,
        activities,
        heads,
    }
}

/// Every damaged variant must be refused, or load exactly the original journal:
/// never a panic, never an empty or older journal. Returns (refused, intact).
fn check_damage(dir: &Path, variants: Vec<(String, Vec<u8>)>, images: &Images) -> (usize, usize) {
    let (mut refused, mut intact) = (0, 0);
    for (i, (what, bytes)) in variants.into_iter().enumerate() {
        let path = dir.join(format!("damaged-{i}.redb"));
        std::fs::write(&path, &bytes).expect("write damaged copy");
        match open_and_load(&path, &what) {
            Outcome::Refused(message) => {
                assert!(
                    message.contains("damaged-"),
                    "{what}: unclear message {message:?}"
                );
                refused += 1;
            }
            Outcome::Loaded(activities, heads) => {
                assert!(
                    activities == images.activities && heads == images.heads,
                    "{what}: the damaged store opened with a different journal \
                     ({} activities instead of {})",
                    activities.len(),
                    images.activities.len()
                );
                intact += 1;
            }
        }
        std::fs::remove_file(&path).expect("remove");
    }
    (refused, intact)
}

fn truncations(image: &[u8], name: &str) -> Vec<(String, Vec<u8>)> {
    let len = image.len();
    let mut lengths = vec![0, 1, 3, 8, 9, 100, 320, 512, 4095, 4096, 8192];
    lengths.extend([len / 4, len / 2, len - 8192, len - 4096, len - 1]);
    lengths.retain(|&n| n < len);
    lengths
        .into_iter()
        .map(|n| {
            (
                format!("{name} image truncated to {n} of {len} bytes"),
                image[..n].to_vec(),
            )
        })
        .collect()
}

/// One bit flipped at each offset, cycling through the bit positions.
fn bit_flips(
    image: &[u8],
    name: &str,
    offsets: impl IntoIterator<Item = usize>,
) -> Vec<(String, Vec<u8>)> {
    offsets
        .into_iter()
        .enumerate()
        .map(|(k, offset)| {
            let mut damaged = image.to_vec();
            damaged[offset] ^= 1 << (k % 8);
            (
                format!(
                    "{name} image, bit {} flipped at offset {offset} of {}",
                    k % 8,
                    image.len()
                ),
                damaged,
            )
        })
        .collect()
}

/// redb's page size (its default, which the store keeps).
const PAGE: usize = 4096;

fn evenly_spaced(len: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| k * (len - 1) / (n - 1))
}

#[test]
fn truncated_stores_are_refused_or_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = damage_fixture(dir.path());
    for (name, image) in [("closed", &images.closed), ("crashed", &images.crashed)] {
        let variants = truncations(image, name);
        let count = variants.len();
        let (refused, intact) = check_damage(dir.path(), variants, &images);
        eprintln!("{name} image truncated: {refused} refused, {intact} intact of {count}");
        assert!(
            refused >= 11,
            "files shorter than the first data pages must be refused"
        );
    }

    // A store cut short past redb's magic number that does not open is called
    // damaged: not foreign, and not an operating-system failure. (An empty file is damaged too: it was
    // most likely ours; a file holding only part of the magic is called foreign.)
    for (name, image) in [("closed", &images.closed), ("crashed", &images.crashed)] {
        for (what, bytes) in truncations(image, name) {
            let path = dir.path().join("cut.redb");
            std::fs::write(&path, &bytes).expect("write");
            match Store::open(&path) {
                Err(OpenError::Damaged { .. }) => {}
                Err(OpenError::Foreign { .. }) if (1..9).contains(&bytes.len()) => {}
                // Cutting only pages past the last commit's data leaves a store
                // that opens; `check_damage` above proved such opens intact.
                Ok(_) => {}
                other => panic!("{what}: expected Damaged, got {other:?}"),
            }
        }
    }
    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, b"").expect("write");
    match Store::open(&empty) {
        Err(e @ OpenError::Damaged { .. }) => assert!(e.to_string().contains("empty"), "{e}"),
        other => panic!("expected Damaged, got {other:?}"),
    }
}

#[test]
fn bit_flips_in_a_closed_store_are_refused_or_harmless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = damage_fixture(dir.path());
    let variants = bit_flips(
        &images.closed,
        "closed",
        evenly_spaced(images.closed.len(), 200),
    );
    let (refused, intact) = check_damage(dir.path(), variants, &images);
    eprintln!("closed image: {refused} bit flips refused, {intact} harmless");
    assert!(refused >= 20, "checksums must catch flips in live pages");
}

/// A store closed cleanly is trusted on its next open without the full check
/// (docs/STORAGE.md, "Opening") only while the file is exactly as it was left:
/// changed in place afterwards (same file, same length), it is checked again.
#[test]
fn a_store_changed_in_place_after_a_clean_close_is_checked_again() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let images = damage_fixture(dir.path());
    let path = dir.path().join("journal.redb");
    assert!(
        dir.path().join("journal.redb.closed").exists(),
        "a clean close leaves its marker"
    );
    let (mut refused, mut intact) = (0, 0);
    for k in 0..60 {
        std::fs::write(&path, &images.closed).expect("restore");
        // Let the store close cleanly once, so the marker matches this file
        // (the open may tidy the file: the damage goes to it as it is now).
        drop(Store::open(&path).expect("the undamaged store opens"));
        let closed = std::fs::read(&path).expect("read the closed file");
        let closed_at = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("modification time");
        // One byte near the start of a page past the header, where a page
        // keeps its entries (a page's end may be unused), a different
        // page and place each time.
        let pages = closed.len() / PAGE;
        let offset = (1 + k % (pages - 1)) * PAGE + 16 + (k * 37) % 480;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open in place");
        file.seek(SeekFrom::Start(offset as u64)).expect("seek");
        file.write_all(&[closed[offset] ^ 0x10]).expect("damage");
        // As a program writing the file a moment later would leave it: the
        // kernel's file clock advances only every few milliseconds, so a
        // write this soon after the close may keep its modification time
        // (docs/STORAGE.md, "Opening": caught by the scheduled check only).
        file.set_modified(closed_at + std::time::Duration::from_secs(1))
            .expect("set the modification time");
        drop(file);
        match open_and_load(&path, &format!("byte {offset} changed in place")) {
            Outcome::Refused(_) => refused += 1,
            Outcome::Loaded(activities, heads) => {
                assert!(
                    activities == images.activities && heads == images.heads,
                    "byte {offset} changed in place: a different journal loaded"
                );
                intact += 1;
            }
        }
    }
    eprintln!("changed in place: {refused} refused, {intact} harmless");
    assert!(
        refused >= 5,
        "the check ran: damage to live pages is refused"
    );
}

/// After a crash the newest commit was written with no clean shutdown after it.
/// redb's default one-phase commit takes damage to that commit for a torn write
/// and silently opens the previous one, losing an add that was reported saved;
/// the store commits in two phases so that this is refused instead. This test
/// failed (45 of 46 activities loaded) before that change.
///
/// Not covered, and not detectable by any check: the bit of redb's header byte 9
/// that selects which of its two commit slots is current. Flipping it selects the
/// previous commit, which is valid in every respect; none of the offsets below is 9.
#[test]
fn bit_flips_after_a_crash_are_refused_or_harmless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = damage_fixture(dir.path());
    // Evenly over the file, and every eighth byte of redb's two commit slots (bytes
    // 64..320). Every open commits and syncs, so the count is kept moderate.
    let offsets = evenly_spaced(images.crashed.len(), 100).chain((64..320).step_by(8));
    let variants = bit_flips(&images.crashed, "crashed", offsets);
    let (refused, intact) = check_damage(dir.path(), variants, &images);
    eprintln!("crashed image: {refused} bit flips refused, {intact} harmless");
    assert!(refused >= 20, "checksums must catch flips in live pages");
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
                assert!(
                    message.contains("is not a journal store of this program"),
                    "{message}"
                );
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
    foreign(
        "notes.txt",
        "Aktivitāšu žurnāls\n2026-05-14;Seminārs;12\n".as_bytes(),
    );
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
            meta.insert("format", b"someone-else".as_slice())
                .expect("insert");
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
        r.edit(
            *id,
            &ActivityPatch {
                counts: vec![(Group::Volunteers, i as u32)],
                ..Default::default()
            },
            at(100),
        )
        .expect("edit");
    }
    let items = (0..250)
        .map(|i| (ActivityId::new_random(), full(&format!("Imports {i}"))))
        .collect();
    r.import(items, at(200)).expect("import");
    let journal = r.journal_id();
    let appended = r.store().appended_count(journal).expect("count");
    assert_eq!(
        appended,
        60 + 8 + 3,
        "one change per add and real edit (the first sets 0 again), three per 250-row import"
    );
    assert!(
        !r.compact_if_needed().expect("compact if needed"),
        "below the threshold"
    );

    let (before, heads) = (
        r.activities().expect("read"),
        r.journal().expect("journal").heads(),
    );
    assert_eq!(before.len(), 310);
    r.compact().expect("compact");
    assert_eq!(r.store().appended_count(journal).expect("count"), 0);
    assert_eq!(r.activities().expect("read"), before);
    assert_eq!(r.journal().expect("journal").heads(), heads);
    drop(r);

    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(r.activities().expect("read"), before);
    assert_eq!(r.journal().expect("journal").heads(), heads);
    assert_eq!(r.store().appended_count(journal).expect("count"), 0);

    // Appending after a compaction, and compacting twice, still loads the same.
    let late = add(&mut r, &minimal("Pēc kompaktēšanas"), 300);
    assert_eq!(r.store().appended_count(journal).expect("count"), 1);
    r.compact().expect("compact again");
    r.compact().expect("compact with nothing appended");
    let (after, heads) = (
        r.activities().expect("read"),
        r.journal().expect("journal").heads(),
    );
    drop(r);
    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(r.activities().expect("read"), after);
    assert_eq!(r.journal().expect("journal").heads(), heads);
    assert!(r.get(late).expect("get").is_some());
}

/// A command that recorded without loading the journal leaves a due
/// compaction alone (it would load the whole document only for that);
/// `compact_due`, what `field-client run` calls when the store is quiet,
/// loads and compacts it.
#[test]
fn a_due_compaction_of_a_journal_not_in_memory_waits_for_compact_due() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    let adds = usize::try_from(sync_core::limits::COMPACT_AFTER_CHANGES).expect("small") + 1;
    for i in 0..adds {
        add(&mut r, &minimal(&format!("Nodarbība {i}")), i as i64);
    }
    drop(r);

    let mut r = Replica::open(&path).expect("reopen");
    add(&mut r, &minimal("Vēl viena"), 10_000);
    assert!(
        !r.holds_document(journal),
        "an add does not load the journal"
    );
    assert!(
        !r.compact_if_needed().expect("compact if needed"),
        "not compacted by a command that does not hold the document"
    );
    assert!(!r.holds_document(journal), "nor loaded for it");
    assert_eq!(
        r.store().appended_count(journal).expect("count"),
        adds as u64 + 1
    );

    assert_eq!(r.compact_due().expect("compact due"), 1, "one journal due");
    assert_eq!(r.store().appended_count(journal).expect("count"), 0);
    assert_eq!(r.compact_due().expect("compact due"), 0, "nothing left due");
    let listed = r.activities().expect("read");
    drop(r);
    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(r.activities().expect("read"), listed);
    assert_eq!(listed.len(), adds + 1);
}

/// Without `field-client run` nothing would compact a journal that only
/// `add`s touch: past `COMPACT_UNLOADED_AFTER_CHANGES` appended changes a
/// command compacts it whether or not it holds the document.
#[test]
fn adds_alone_compact_at_the_bound_for_journals_not_in_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    // The first add keeps the tip the next ones start from.
    add(&mut r, &minimal("Pirmā"), 0);
    drop(r);
    let mut r = Replica::open(&path).expect("reopen");
    let bound = sync_core::limits::COMPACT_UNLOADED_AFTER_CHANGES;
    for i in 2..bound {
        add(&mut r, &minimal(&format!("Nr. {i}")), i as i64);
    }
    assert_eq!(r.store().appended_count(journal).expect("count"), bound - 1);
    assert!(!r.holds_document(journal), "adds do not load the journal");
    assert!(!r.compact_if_needed().expect("compact if needed"));
    add(&mut r, &minimal("Pēdējā"), 0);
    assert!(!r.holds_document(journal));
    assert!(
        r.compact_if_needed().expect("compact if needed"),
        "compacted at the bound"
    );
    assert_eq!(r.store().appended_count(journal).expect("count"), 0);
    assert_eq!(r.activities().expect("read").len() as u64, bound);
}

/// A journal kept in memory while another process recorded into the store
/// (`field-client run` lending it to a command) counts what it caught up
/// with as appended: a large import made meanwhile makes a compaction due.
#[test]
fn changes_caught_up_after_a_lend_count_towards_compaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    add(&mut r, &minimal("Pirms"), 0);
    r.journal().expect("loaded");
    let detached = r.detach();

    let mut other = Replica::open(&path).expect("open beside");
    let rows = (0..3_000_u32)
        .map(|i| {
            let noise: Vec<String> = (0..32_u32)
                .map(|k| format!("{:08x}", (i * 64 + k).wrapping_mul(2_654_435_761)))
                .collect();
            let patch = ActivityPatch {
                description: Some(noise.join(" ")),
                ..full(&format!("Imports {i}"))
            };
            (ActivityId::new_random(), patch)
        })
        .collect();
    other.import(rows, at(100)).expect("import");
    let appended = other.store().appended(journal).expect("appended");
    assert!(appended.bytes >= sync_core::limits::COMPACT_AFTER_BYTES);
    drop(other);

    let mut r = Replica::open(&path).expect("reopen").reattach(detached);
    assert!(r.holds_document(journal), "caught up in memory");
    assert!(
        r.compact_if_needed().expect("compact if needed"),
        "the import caught up with is due"
    );
    assert_eq!(r.store().appended_count(journal).expect("count"), 0);
    assert_eq!(r.activities().expect("read").len(), 3_001);
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

/// A partial acknowledgement clears only the activities whose latest change
/// it covers: an activity edited after the acknowledged heads stays unsent
/// although its first change was acknowledged.
#[test]
fn a_partial_acknowledgement_keeps_an_activity_edited_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    let unsent = |r: &Replica| r.store().unsent_count(journal).expect("unsent");
    let a = add(&mut r, &minimal("A"), 0);
    add(&mut r, &minimal("B"), 1);
    let after_b = r.journal().expect("journal").heads();
    assert!(r.edit(a, &title("A, labota"), at(2)).expect("edit"));
    add(&mut r, &minimal("C"), 3);
    assert_eq!(unsent(&r), 3);
    acknowledge(&mut r, journal, &after_b);
    assert_eq!(unsent(&r), 2, "B leaves; A (edited since) and C stay");
    let everything = r.journal().expect("journal").heads();
    acknowledge(&mut r, journal, &everything);
    assert_eq!(unsent(&r), 0);
}

#[test]
fn acknowledgements_clear_unsent_activities() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    let unsent = |r: &Replica| r.store().unsent_count(journal).expect("unsent");
    assert_eq!(unsent(&r), 0);
    assert!(
        r.store()
            .acknowledged_heads(journal)
            .expect("acked")
            .is_empty()
    );

    let first = add(&mut r, &minimal("Pirmā"), 0);
    add(&mut r, &minimal("Otrā"), 1);
    let after_second = r.journal().expect("journal").heads();
    add(&mut r, &minimal("Trešā"), 2);
    assert_eq!(unsent(&r), 3);

    acknowledge(&mut r, journal, &after_second);
    assert_eq!(unsent(&r), 1);
    assert_eq!(
        r.store().acknowledged_heads(journal).expect("acked"),
        after_second
    );

    let current = r.journal().expect("journal").heads();
    acknowledge(&mut r, journal, &current);
    assert_eq!(unsent(&r), 0);

    assert!(r.edit(first, &title("Pirmā, labota"), at(3)).expect("edit"));
    assert_eq!(unsent(&r), 1);
    // Acknowledging old heads again does not clear the newer edit.
    acknowledge(&mut r, journal, &current);
    assert_eq!(unsent(&r), 1);
    // Heads the device does not know cover nothing.
    let unknown = [ChangeHash([7; 32])];
    acknowledge(&mut r, journal, &unknown);
    assert_eq!(unsent(&r), 1);

    // The bookkeeping is durable.
    drop(r);
    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(unsent(&r), 1);
    assert_eq!(
        r.store().acknowledged_heads(journal).expect("acked"),
        unknown
    );
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
    assert_eq!(
        r.get(existing).expect("get").expect("present").title,
        "Jau ir"
    );
    assert_eq!(r.get(fresh).expect("get").expect("present").title, "Jauna");

    // A row missing a required field refuses the whole import and leaves nothing behind.
    let heads = r.journal().expect("journal").heads();
    let bad = vec![
        (ActivityId::new_random(), minimal("Laba")),
        (
            ActivityId::new_random(),
            ActivityPatch {
                date: None,
                ..minimal("Bez datuma")
            },
        ),
    ];
    assert!(matches!(
        r.import(bad, at(3)),
        Err(ReplicaError::Journal(_))
    ));
    assert_eq!(r.journal().expect("journal").heads(), heads);
    drop(r);
    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(r.journal().expect("journal").heads(), heads);
    assert_eq!(r.activities().expect("read").len(), 2);
}

#[test]
fn adds_applied_later_are_seen_by_every_reader_and_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, mut r) = new_replica(dir.path());
    // More adds than may wait unapplied, so the bound is crossed too.
    let n = sync_core::limits::MAX_PENDING_CHANGES + 5;
    let ids: Vec<ActivityId> = (0..n)
        .map(|k| add(&mut r, &full(&format!("Nodarbība nr. {k}")), k as i64))
        .collect();
    let (_, listed) = r
        .store()
        .view(r.journal_id())
        .expect("view")
        .expect("built");
    assert_eq!(listed.len(), n, "the list view has every add at once");
    let a = r.get(ids[7]).expect("get").expect("present");
    assert_eq!(a.title, "Nodarbība nr. 7");
    assert_eq!(a.organisers, ["Anna Bērziņa", "Jānis Ozoliņš"]);
    // An edit after pending adds: the journal is settled first.
    assert!(
        r.edit(ids[0], &title("Labots: ģērbšanās"), at(10_000))
            .expect("edit")
    );
    let late = add(&mut r, &minimal("Pēc labojuma"), 10_001);
    let heads = r.journal().expect("journal").heads();
    let all = r.activities().expect("list");
    assert_eq!(all.len(), n + 1);
    assert_eq!(r.status().expect("status").unsent, n as u64 + 1);
    // The rows written from the patch read exactly as the document does.
    let (_, mut viewed) = r
        .store()
        .view(r.journal_id())
        .expect("view")
        .expect("built");
    sync_core::journal::sort_newest_first(&mut viewed);
    assert_eq!(viewed, all);
    drop(r);

    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(r.journal().expect("journal").heads(), heads);
    assert_eq!(r.activities().expect("list"), all);
    assert!(r.get(late).expect("get").is_some());
    assert_eq!(
        r.get(ids[0]).expect("get").expect("present").title,
        "Labots: ģērbšanās"
    );
}

#[test]
fn add_refuses_an_id_that_exists_even_before_it_is_applied() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_path, mut r) = new_replica(dir.path());
    let id = add(&mut r, &minimal("Pirmā"), 0);
    let again = r.add(id, &minimal("Otrreiz"), at(1));
    assert!(
        matches!(
            again,
            Err(ReplicaError::Journal(
                sync_core::JournalError::AlreadyExists(_)
            ))
        ),
        "{again:?}"
    );
    assert_eq!(r.activities().expect("list").len(), 1);
    assert_eq!(r.get(id).expect("get").expect("present").title, "Pirmā");
}

#[test]
fn adds_after_merging_remote_changes_depend_on_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    add(&mut r, &minimal("Vietējā 1"), 0);
    // Another device of the centre records something; it arrives by sync.
    let mut other = Journal::from_doc(
        r.journal()
            .expect("journal")
            .doc()
            .fork()
            .with_actor(automerge::ActorId::random()),
    )
    .expect("journal");
    add(&mut r, &minimal("Vietējā 2"), 1);
    let remote = other
        .create(
            ActivityId::new_random(),
            &minimal("No otras ierīces"),
            common::stamp("Otra", 2),
        )
        .expect("create");
    sync_core::sync::SyncStorage::apply_durably(&mut r, journal.0, vec![remote.clone()].into())
        .expect("apply");
    let after = add(&mut r, &minimal("Vietējā 3"), 3);
    let heads = r.journal().expect("journal").heads();
    assert_eq!(
        heads.len(),
        1,
        "the new add depends on everything before it"
    );
    assert_eq!(r.activities().expect("list").len(), 4);
    drop(r);
    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(r.journal().expect("journal").heads(), heads);
    assert!(r.get(after).expect("get").is_some());
    // The other device takes the local changes without a gap.
    let changes = r
        .journal()
        .expect("journal")
        .doc()
        .get_changes(&[remote.hash()]);
    other.doc_mut().apply_changes(changes).expect("apply");
    assert_eq!(other.heads(), heads);
    assert_eq!(other.len(), 4);
}

#[test]
fn compaction_gives_freed_pages_back_to_the_file_system() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, mut r) = new_replica(dir.path());
    for chunk in 0..5 {
        let items = (0..100)
            .map(|k| {
                let patch = full(&format!("Imports {chunk}/{k}: ģimeņu diena"));
                (ActivityId::new_random(), patch)
            })
            .collect();
        r.import(items, at(chunk)).expect("import");
    }
    let before = std::fs::metadata(&path).expect("size").len();
    r.compact().expect("compact");
    let after = std::fs::metadata(&path).expect("size").len();
    assert!(
        after < before,
        "the file did not shrink: {before} bytes before compaction, {after} after"
    );
    drop(r);
    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(r.activities().expect("list").len(), 500);
}

#[test]
fn the_relays_tags_are_kept_with_downloaded_changes_and_dropped_with_a_rewritten_journal() {
    use sync_core::sync::ClientStorage;
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    let mine = add(&mut r, &minimal("Vietējā"), 0);
    let mut other = Journal::from_doc(
        r.journal()
            .expect("journal")
            .doc()
            .fork()
            .with_actor(automerge::ActorId::random()),
    )
    .expect("journal");
    let remote = other
        .create(
            ActivityId::new_random(),
            &minimal("No kolēģa"),
            common::stamp("Kolēģis", 1),
        )
        .expect("create");
    let tag = [9; 16];
    r.apply_downloaded(
        journal.0,
        vec![remote.clone()].into(),
        &[(remote.hash(), tag)],
    )
    .expect("apply");
    drop(r);

    // Durable with the change, and asked for only by others' changes.
    let mut r = Replica::open(&path).expect("reopen");
    let doc = r.journal().expect("journal").doc().fork();
    let all: Vec<sync_core::sync::BatchChange> = doc
        .get_changes(&[])
        .iter()
        .map(|c| sync_core::sync::BatchChange {
            hash: c.hash(),
            author: c.actor_id().clone(),
            deps: c.deps().to_vec(),
        })
        .collect();
    assert_eq!(
        r.attestations(journal.0, &all).expect("tags"),
        vec![(remote.hash(), tag)]
    );
    // A rewritten journal (a new epoch) keeps no tag of the old one.
    let rewritten = Journal::from_doc(doc)
        .expect("journal")
        .rewritten_without(&[mine], automerge::ActorId::random(), chrono::Utc::now())
        .expect("rewrite");
    // (A device adopting the new journal keeps the relay's tags on it.)
    let new_tag = (rewritten.heads()[0], [7; 16]);
    let with = sync_core::store::Replacement {
        epoch: 1,
        attested: &[new_tag],
        ..Default::default()
    };
    r.store()
        .replace_journal(journal, &rewritten, with)
        .expect("replace");
    assert!(
        r.store()
            .attestations(journal, [remote.hash()])
            .expect("tags")
            .is_empty()
    );
    assert_eq!(
        r.store().attestations(journal, [new_tag.0]).expect("tags"),
        vec![new_tag]
    );
}

/// A streamed import puts its changes in the store's transaction as rows
/// come (three changes of 100 here before the last row), yet stores
/// nothing until it is finished: dropped, or stopped by a bad row in a
/// later change, it leaves the store as it was; finished, it is all there
/// after a reopen, in changes of 100.
#[test]
fn a_streamed_import_stores_nothing_until_it_is_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    let before = add(&mut r, &minimal("Pirms importa"), 0);
    let rows: Vec<(ActivityId, ActivityPatch)> = (0..350)
        .map(|k| (ActivityId::new_random(), full(&format!("Imports {k}"))))
        .collect();
    let nothing_added = |r: &Replica| {
        assert_eq!(r.store().appended_count(journal).expect("count"), 1);
        assert_eq!(r.store().unsent_count(journal).expect("unsent"), 1);
        let listed = r.list_view().activities(journal).expect("the view");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, before);
    };

    let mut import = r.begin_import(at(10), false).expect("begin");
    for (id, patch) in rows.iter().take(349) {
        import.push(*id, patch.clone()).expect("push");
    }
    drop(import);
    nothing_added(&r);

    let mut import = r.begin_import(at(11), false).expect("begin");
    for (id, patch) in rows.iter().take(320) {
        import.push(*id, patch.clone()).expect("push");
    }
    let no_date = ActivityPatch {
        date: None,
        ..minimal("Bez datuma")
    };
    import
        .push(ActivityId::new_random(), no_date)
        .expect("waits for its change");
    assert!(matches!(import.finish(), Err(ReplicaError::Journal(_))));
    nothing_added(&r);
    drop(r);
    let mut r = Replica::open(&path).expect("reopen");
    nothing_added(&r);

    let mut import = r.begin_import(at(12), false).expect("begin");
    for (id, patch) in &rows {
        import.push(*id, patch.clone()).expect("push");
    }
    let outcome = import.finish().expect("finish");
    assert_eq!((outcome.added, outcome.already_present), (350, 0));
    drop(r);
    let mut r = Replica::open(&path).expect("reopen");
    assert_eq!(
        r.store().appended_count(journal).expect("count"),
        5,
        "1 add + 4 changes of at most 100"
    );
    assert_eq!(r.store().unsent_count(journal).expect("unsent"), 351);
    assert_eq!(r.activities().expect("read").len(), 351);
    assert_eq!(
        r.list_view().activities(journal).expect("the view").len(),
        351
    );
}

#[test]
fn an_import_is_stored_without_loading_the_journal_and_compacts_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut r) = new_replica(dir.path());
    let journal = r.journal_id();
    let before = add(&mut r, &minimal("Pirms importa"), 0);
    let items: Vec<(ActivityId, _)> = (0..250)
        .map(|k| (ActivityId::new_random(), full(&format!("Imports {k}"))))
        .collect();
    let outcome = r.import(items.clone(), at(10)).expect("import");
    assert_eq!((outcome.added, outcome.already_present), (250, 0));
    assert_eq!(
        r.store().appended_count(journal).expect("count"),
        4,
        "1 add + 3 imports"
    );
    let again = r.import(items.clone(), at(20)).expect("import again");
    assert_eq!((again.added, again.already_present), (0, 250));
    drop(r);

    // A fresh process has loaded nothing; `compact` still folds everything in.
    let mut r = Replica::open(&path).expect("reopen");
    r.compact().expect("compact");
    assert_eq!(r.store().appended_count(journal).expect("count"), 0);
    let all = r.activities().expect("read");
    assert_eq!(all.len(), 251);
    assert!(r.get(before).expect("get").is_some());
    let listed = r.list_view().activities(journal).expect("the view");
    assert_eq!(listed.len(), 251);
    for (id, _) in &items {
        let one = r.get(*id).expect("get").expect("imported");
        assert_eq!(
            listed.iter().find(|a| a.id == *id),
            Some(&one),
            "the view shows it"
        );
    }
}
