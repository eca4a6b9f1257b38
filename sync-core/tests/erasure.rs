//! Erasure: a journal rewritten without an activity keeps every other one
//! exactly, holds the erased one's content in none of its changes, and the
//! store file it is written to keeps no trace of it.

mod common;

use automerge::{ActorId, ReadDoc};
use sync_core::{ActivityId, ActivityPatch, Journal, JournalError, NewStore, Replica, Store};

use common::{actor, at, full, minimal, stamp};

/// Text only the erased activity holds (short, so Automerge stores it as is
/// and a byte search of the file finds it).
const SECRET_TITLE: &str = "Zane Slepenā ārsta vizīte";
const SECRET_NOTES: &str = "tālrunis 2911 2233";

fn secret() -> ActivityPatch {
    ActivityPatch {
        notes: Some(SECRET_NOTES.to_owned()),
        ..minimal(SECRET_TITLE)
    }
}

/// Whether any change of `journal` writes `text` (whatever the encoding).
fn history_mentions(journal: &Journal, text: &str) -> bool {
    journal
        .doc()
        .get_changes(&[])
        .iter()
        .flat_map(|c| c.decode().operations)
        .any(|op| format!("{:?}", op.action).contains(text))
}

/// A new store of a centre's laptop in `dir`, and its path.
fn centre_device(dir: &tempfile::TempDir) -> (std::path::PathBuf, Replica) {
    let path = dir.path().join("journal.redb");
    let new = NewStore {
        centre: "Rēzeknes KRC",
        device_name: "Līgas klēpjdators",
    };
    let replica = Replica::create(&path, new).expect("create");
    (path, replica)
}

/// The office's erasure as a store takes it: `home` rewritten without
/// `erase` and put in its place, at epoch 1 (the file not yet rewritten).
fn erase_from_store(store: &Store, home: sync_core::store::JournalId, erase: ActivityId) {
    let rewritten = store
        .load_journal(home)
        .expect("loads")
        .rewritten_without(&[erase], actor(7), at(10))
        .expect("rewrites");
    let with = sync_core::store::Replacement {
        epoch: 1,
        ..Default::default()
    };
    store
        .replace_journal(home, &rewritten, with)
        .expect("replaces");
}

/// Every byte a store keeps: its file, and the files beside it.
fn everything_kept(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("read the store");
    let folder = sync_core::store::file_bytes::folder_of(path);
    if let Ok(entries) = std::fs::read_dir(folder) {
        for entry in entries {
            bytes.extend(std::fs::read(entry.expect("an entry").path()).expect("read"));
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_rewritten_journal_reads_the_same_without_the_erased_activity() {
    let mut journal = Journal::new(actor(1));
    let keep = ActivityId::new_random();
    let erase = ActivityId::new_random();
    let deleted = ActivityId::new_random();
    journal
        .create(keep, &full("Ģimeņu diena"), stamp("Līga", 0))
        .expect("valid");
    journal
        .create(erase, &secret(), stamp("Līga", 1))
        .expect("valid");
    journal
        .create(deleted, &minimal("Atcelts"), stamp("Līga", 2))
        .expect("valid");
    journal
        .update(keep, &minimal("Ģimeņu diena Rēzeknē"), stamp("Birojs", 3))
        .expect("valid");
    journal
        .set_deleted(deleted, true, stamp("Jānis", 4))
        .expect("valid");
    assert!(
        history_mentions(&journal, SECRET_NOTES),
        "the check can fail"
    );

    let rewritten = journal
        .rewritten_without(&[erase], ActorId::from([9; 16]), at(10))
        .expect("rewrites");
    let mut before = journal.activities().expect("reads");
    before.retain(|a| a.id != erase);
    assert_eq!(rewritten.activities().expect("reads"), before);
    assert_eq!(rewritten.get(erase).expect("reads"), None);
    assert_eq!(rewritten.erased().expect("reads"), [erase]);
    assert!(!history_mentions(&rewritten, SECRET_TITLE));
    assert!(!history_mentions(&rewritten, SECRET_NOTES));
    // A journal that starts from the genesis: it merges with none of the old
    // changes (which would bring the erased activity back).
    assert!(
        rewritten.doc().get_changes(&[]).iter().all(|c| journal
            .doc()
            .get_change_by_hash(&c.hash())
            .is_none()
            || sync_core::journal::genesis_heads().contains(&c.hash()))
    );

    // A second erasure keeps the first in the list.
    let again = rewritten
        .rewritten_without(&[deleted], ActorId::from([9; 16]), at(20))
        .expect("rewrites");
    let mut erased = again.erased().expect("reads");
    erased.sort();
    let mut want = vec![erase, deleted];
    want.sort();
    assert_eq!(erased, want);
    assert_eq!(again.activities().expect("reads").len(), 1);
}

#[test]
fn erasing_an_unknown_activity_is_refused() {
    let journal = Journal::new(actor(1));
    let unknown = ActivityId::new_random();
    assert!(matches!(
        journal.rewritten_without(&[unknown], actor(2), at(0)),
        Err(JournalError::NotFound(id)) if id == unknown
    ));
}

#[test]
fn the_store_file_keeps_no_trace_of_an_erased_activity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut replica) = centre_device(&dir);
    let kept = replica
        .add(ActivityId::new_random(), &full("Ģimeņu diena"), at(0))
        .expect("durable");
    let erase = replica
        .add(ActivityId::new_random(), &secret(), at(1))
        .expect("durable");
    replica
        .edit(erase, &minimal("Zane Slepenā vizīte (labots)"), at(2))
        .expect("durable");
    // Some of it in the snapshot, some in appended changes.
    let home = replica.info().expect("home").id;
    replica.compact().expect("compacts");
    replica
        .add(ActivityId::new_random(), &minimal("Pēc tam"), at(3))
        .expect("durable");
    let before = replica.activities().expect("reads");
    drop(replica);
    let bytes = std::fs::read(&path).expect("read the file");
    assert!(contains(&bytes, SECRET_NOTES), "the check can fail");

    let store = Store::open(&path).expect("opens");
    // The compaction made the unsent records' upload ready: the secret is
    // there too, compressed, where no byte search finds it.
    assert!(store.ready_upload(home).expect("read").is_some());
    erase_from_store(&store, home, erase);
    assert!(
        store.ready_upload(home).expect("read").is_none(),
        "the upload made ready of the old journal survived its erasure"
    );
    let mut store = store;
    store.rewrite_file().expect("rewrites the file");
    drop(store);

    let bytes = std::fs::read(&path).expect("read the file");
    for secret in [SECRET_TITLE, SECRET_NOTES, "Zane Slepenā"] {
        assert!(!contains(&bytes, secret), "{secret:?} is still in the file");
    }
    // Besides the store, only the clean-close marker (length, time, inode).
    let mut leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    leftovers.sort();
    assert_eq!(leftovers, ["journal.redb", "journal.redb.closed"]);
    let marker = std::fs::read(dir.path().join("journal.redb.closed")).expect("marker");
    assert!(marker.len() < 100 && !contains(&marker, SECRET_TITLE));

    let mut replica = Replica::open(&path).expect("the store opens");
    let mut want = before;
    want.retain(|a| a.id != erase);
    assert_eq!(replica.activities().expect("reads"), want);
    assert!(replica.get(kept).expect("reads").is_some());
    assert_eq!(replica.get(erase).expect("reads"), None);
    // It goes on working: a new record, a reopen.
    replica
        .add(ActivityId::new_random(), &minimal("Vēl viena"), at(20))
        .expect("durable");
    drop(replica);
    let mut replica = Replica::open(&path).expect("reopens");
    assert_eq!(replica.activities().expect("reads").len(), want.len() + 1);
}

#[test]
fn a_device_adopts_the_new_epoch_and_keeps_what_it_had_not_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut device) = centre_device(&dir);
    let home = device.info().expect("home").id;
    let erase = device
        .add(ActivityId::new_random(), &secret(), at(0))
        .expect("durable");
    let edited = device
        .add(ActivityId::new_random(), &full("Ģimeņu diena"), at(1))
        .expect("durable");
    let untouched = device
        .add(ActivityId::new_random(), &minimal("Vecāku sapulce"), at(2))
        .expect("durable");
    // The relay stores all three (as a sync would record it).
    let sent = device.journal().expect("journal").doc().fork();
    let sent = Journal::from_doc(sent).expect("journal");
    device
        .store()
        .mark_acknowledged(home, &sent, &sent.heads())
        .expect("ack");
    // Offline: a new record, an edit, and an edit of the record the office
    // is about to erase — none of them sent yet.
    let added = device
        .add(ActivityId::new_random(), &minimal("Jauna darbnīca"), at(3))
        .expect("durable");
    device
        .edit(edited, &minimal("Ģimeņu diena Rēzeknē"), at(4))
        .expect("durable");
    device
        .edit(erase, &minimal("Zane Slepenā (vēl viens labojums)"), at(5))
        .expect("durable");
    assert_eq!(device.status().expect("status").unsent, 3);

    // Meanwhile the relay erases the record: epoch 1.
    let at_relay = sent
        .rewritten_without(&[erase], actor(9), at(6))
        .expect("rewrites");
    let downloaded = automerge::Automerge::load(&at_relay.doc().save()).expect("loads");
    let wanted_before = device.activities().expect("reads");
    device
        .adopt_epoch(home.0, 1, (downloaded, &[]))
        .expect("adopts the new epoch");

    assert_eq!(device.store().epoch(home).expect("epoch"), 1);
    assert_eq!(device.get(erase).expect("reads"), None);
    let mut want = wanted_before;
    want.retain(|a| a.id != erase);
    assert_eq!(
        device.activities().expect("reads"),
        want,
        "nothing else lost"
    );
    let mut unsent = device.store().unsent_activities(home).expect("unsent");
    unsent.sort();
    let mut carried = vec![added, edited];
    carried.sort();
    assert_eq!(unsent, carried, "the erased record's edit is dropped");
    assert!(!unsent.contains(&untouched));
    // What the relay acknowledged is its own new journal's heads.
    assert_eq!(
        device.store().acknowledged_heads(home).expect("acked"),
        at_relay.heads()
    );
    let journal = device.journal().expect("journal");
    assert!(!history_mentions(journal, SECRET_NOTES));
    drop(device);
    let bytes = std::fs::read(&path).expect("read the file");
    for secret in [SECRET_TITLE, SECRET_NOTES, "Zane Slepenā"] {
        assert!(!contains(&bytes, secret), "{secret:?} is still in the file");
    }
    let mut device = Replica::open(&path).expect("reopens");
    assert_eq!(device.activities().expect("reads"), want);
}

#[test]
fn an_erasure_request_is_kept_once_hides_the_record_and_is_bounded() {
    use sync_core::store::{ErasureAnswer, MAX_ERASURE_REQUESTS, StoreError};
    use sync_core::sync::ClientStorage;

    let dir = tempfile::tempdir().expect("tempdir");
    let new = NewStore {
        centre: "IIC birojs",
        device_name: "Biroja dators",
    };
    let mut office = Replica::create(&dir.path().join("journal.redb"), new).expect("create");
    let id = office
        .add(ActivityId::new_random(), &secret(), at(0))
        .expect("durable");
    let unknown = ActivityId::new_random();
    assert!(matches!(
        office.request_erasure(unknown, at(1)),
        Err(sync_core::ReplicaError::Journal(JournalError::NotFound(_)))
    ));
    office.request_erasure(id, at(1)).expect("durable");
    office.request_erasure(id, at(2)).expect("asking again");
    assert!(office.get(id).expect("read").expect("kept").deleted);
    assert_eq!(office.erasures_requested(), Ok(vec![id.0]));
    let kept =
        serde_json::to_string(&office.store().erasure_requests().expect("read")).expect("json");
    assert!(
        !kept.contains(SECRET_TITLE) && !kept.contains(SECRET_NOTES),
        "{kept}"
    );

    office
        .erasure_answered(id.0, Some((office.journal_id().0, 1)))
        .expect("durable");
    assert_eq!(office.erasures_requested(), Ok(vec![]));
    let answered = office.store().erasure_requests().expect("read");
    assert!(matches!(
        answered[0].answer,
        Some(ErasureAnswer::Erased { epoch: 1, .. })
    ));

    // Waiting requests are bounded; answered ones make room first.
    for i in 1..MAX_ERASURE_REQUESTS {
        let other = office
            .add(ActivityId::new_random(), &minimal("Cits"), at(i as i64))
            .expect("durable");
        office.request_erasure(other, at(i as i64)).expect("room");
    }
    let one_more = office
        .add(ActivityId::new_random(), &minimal("Vēl viens"), at(0))
        .expect("durable");
    office
        .request_erasure(one_more, at(0))
        .expect("the answered one made room");
    let over = office
        .add(ActivityId::new_random(), &minimal("Par daudz"), at(0))
        .expect("durable");
    let refused = office
        .request_erasure(over, at(0))
        .expect_err("over the limit");
    assert!(
        matches!(&refused, sync_core::ReplicaError::Store(e) if matches!(**e, StoreError::TooManyErasureRequests)),
        "{refused}"
    );
    assert_eq!(
        office.erasures_requested().expect("read").len(),
        MAX_ERASURE_REQUESTS
    );
    assert!(
        !office.get(over).expect("read").expect("kept").deleted,
        "nothing changed"
    );
}

#[cfg(unix)]
// Unix: it tells a rewritten file by its inode.
#[cfg(unix)]
#[test]
fn a_file_rewrite_cut_short_by_a_crash_is_finished_at_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut replica) = centre_device(&dir);
    let home = replica.info().expect("home").id;
    let erase = replica
        .add(ActivityId::new_random(), &secret(), at(0))
        .expect("durable");
    replica
        .add(ActivityId::new_random(), &full("Ģimeņu diena"), at(1))
        .expect("durable");
    drop(replica);

    // The journal is replaced, then the process dies before the file rewrite.
    let store = Store::open(&path).expect("opens");
    erase_from_store(&store, home, erase);
    drop(store);
    let bytes = std::fs::read(&path).expect("read the file");
    assert!(
        contains(&bytes, SECRET_NOTES),
        "freed pages still hold it (the check can fail)"
    );

    // A rewrite puts a new file in the old one's place (a new inode).
    let file_id = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&path).expect("metadata").ino()
    };
    let crashed = file_id();
    let mut replica = Replica::open(&path).expect("the store opens");
    let bytes = std::fs::read(&path).expect("read the file");
    assert!(!contains(&bytes, SECRET_NOTES) && !contains(&bytes, SECRET_TITLE));
    assert_eq!(replica.activities().expect("reads").len(), 1);
    drop(replica);
    let rewritten = file_id();
    assert_ne!(rewritten, crashed);
    Replica::open(&path).expect("opens again");
    assert_eq!(file_id(), rewritten, "rewritten once, not at every open");
}

/// A store in `dir` whose journal was replaced without the secret activity
/// (an erasure) and whose file was not rewritten yet: its freed pages still
/// hold the secret.
fn replaced_but_not_rewritten(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let (path, mut replica) = centre_device(dir);
    let home = replica.info().expect("home").id;
    let erase = replica
        .add(ActivityId::new_random(), &secret(), at(0))
        .expect("durable");
    replica
        .add(ActivityId::new_random(), &full("Ģimeņu diena"), at(1))
        .expect("durable");
    drop(replica);
    let store = Store::open(&path).expect("opens");
    erase_from_store(&store, home, erase);
    drop(store);
    assert!(contains(&std::fs::read(&path).expect("read"), SECRET_NOTES));
    path
}

#[test]
fn a_failed_file_rewrite_is_recorded_told_and_not_tried_again_at_every_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = replaced_but_not_rewritten(&dir);
    // Something the rewrite cannot clear away sits where it writes the fresh
    // file (a folder, say a backup tool's).
    let blocker = dir.path().join("journal.redb.rewriting");
    std::fs::create_dir(&blocker).expect("a folder");
    std::fs::write(blocker.join("kept.txt"), "x").expect("a file in it");

    // The open tries once (a crash left it owed), fails, records why, and
    // opens all the same: recording goes on.
    let store = Store::open(&path).expect("the store opens");
    let failure = store
        .rewrite_failure()
        .expect("read")
        .expect("the failure is recorded");
    assert_eq!(failure.attempts, 1);
    assert!(!failure.error.is_empty());
    drop(store);

    // Later opens do not try again by themselves, even once the obstacle is
    // gone: the failure stays told until a rewrite on command succeeds.
    for _ in 0..3 {
        let store = Store::open(&path).expect("opens");
        let failure = store.rewrite_failure().expect("read").expect("still told");
        assert_eq!(failure.attempts, 1, "not tried again at open");
    }
    std::fs::remove_dir_all(&blocker).expect("remove the folder");
    // (A retry would have cleared the failure, or counted a second one.)
    let mut store = Store::open(&path).expect("opens");
    assert_eq!(
        store.rewrite_failure().expect("read").map(|f| f.attempts),
        Some(1),
        "not tried again behind anyone's back"
    );

    // On command (the daemon's start and daily check): done, and forgotten.
    assert!(store.finish_pending_rewrite().expect("rewrites"));
    assert_eq!(store.rewrite_failure().expect("read"), None);
    assert!(!store.finish_pending_rewrite().expect("nothing owed"));
    drop(store);
    let bytes = std::fs::read(&path).expect("read");
    assert!(!contains(&bytes, SECRET_NOTES) && !contains(&bytes, SECRET_TITLE));
    let store = Store::open(&path).expect("opens");
    assert_eq!(store.rewrite_failure().expect("read"), None);
}

#[test]
fn a_rewrite_on_command_that_fails_again_counts_its_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = replaced_but_not_rewritten(&dir);
    let blocker = dir.path().join("journal.redb.rewriting");
    std::fs::create_dir(&blocker).expect("a folder");
    std::fs::write(blocker.join("kept.txt"), "x").expect("a file in it");
    let mut store = Store::open(&path).expect("opens");
    for attempt in 2..=4 {
        assert!(store.finish_pending_rewrite().is_err());
        let failure = store.rewrite_failure().expect("read").expect("told");
        assert_eq!(failure.attempts, attempt);
    }
    // The store keeps working meanwhile.
    assert_eq!(
        Replica::on_store(store)
            .expect("a replica")
            .activities()
            .expect("reads")
            .len(),
        1
    );
}

/// An open store whose journal was just replaced without the secret
/// activity: the file rewrite is owed.
fn replaced_and_open(dir: &tempfile::TempDir) -> (std::path::PathBuf, Store) {
    let (path, mut replica) = centre_device(dir);
    let home = replica.info().expect("home").id;
    let erase = replica
        .add(ActivityId::new_random(), &secret(), at(0))
        .expect("durable");
    replica
        .add(ActivityId::new_random(), &full("Ģimeņu diena"), at(1))
        .expect("durable");
    drop(replica);
    let store = Store::open(&path).expect("opens");
    erase_from_store(&store, home, erase);
    (path, store)
}

/// Watches the rename of a rewrite: what was open at that moment, and
/// what another opener was told; then renames, or fails as told.
#[derive(Default)]
struct WatchedRename {
    renames: usize,
    /// Each file could be locked by someone else (nobody held it open).
    fresh_closed: bool,
    store_closed: bool,
    /// What `Store::open` of the store's path said meanwhile.
    other_open_in_use: bool,
    fail: bool,
}

/// True when nobody holds `path` open with a lock (redb locks what it opens).
fn nobody_holds(path: &std::path::Path) -> bool {
    std::fs::File::open(path).is_ok_and(|f| f.try_lock().is_ok())
}

impl sync_core::store::RewriteSteps for WatchedRename {
    fn rename(&mut self, fresh: &std::path::Path, store: &std::path::Path) -> std::io::Result<()> {
        self.renames += 1;
        self.fresh_closed = nobody_holds(fresh);
        self.store_closed = nobody_holds(store);
        self.other_open_in_use = matches!(Store::open(store), Err(sync_core::OpenError::InUse(_)));
        if self.fail {
            return Err(std::io::Error::other("the file system refused the rename"));
        }
        std::fs::rename(fresh, store)
    }
}

#[test]
fn a_rewrite_renames_only_closed_files_and_keeps_other_openers_out_meanwhile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut store) = replaced_and_open(&dir);
    assert!(!nobody_holds(&path), "the open store holds its file");
    let mut steps = WatchedRename::default();
    store.rewrite_file_with(&mut steps).expect("rewrites");
    assert_eq!(steps.renames, 1);
    assert!(
        steps.fresh_closed,
        "the fresh file was still open at the rename"
    );
    assert!(
        steps.store_closed,
        "the store's file was still open at the rename (Windows refuses that)"
    );
    assert!(
        steps.other_open_in_use,
        "another process could open the store while its file was closed"
    );
    // The store goes on, on the new file, and holds it again.
    assert!(!nobody_holds(&path));
    assert_eq!(store.rewrite_failure().expect("read"), None);
    store.set_setting("after_rewrite", &1).expect("writes");
    drop(store);
    let bytes = std::fs::read(&path).expect("read");
    assert!(!contains(&bytes, SECRET_NOTES) && !contains(&bytes, SECRET_TITLE));
    let mut replica = Replica::open(&path).expect("opens");
    assert_eq!(replica.activities().expect("reads").len(), 1);
}

#[test]
fn a_refused_rename_leaves_the_store_working_on_its_old_file_and_is_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut store) = replaced_and_open(&dir);
    let mut steps = WatchedRename {
        fail: true,
        ..Default::default()
    };
    let error = store
        .rewrite_file_with(&mut steps)
        .expect_err("the rename failed");
    assert!(error.to_string().contains("refused the rename"), "{error}");
    assert!(steps.store_closed, "closed before the rename");
    // Opened again: it reads, writes, and tells the failure.
    assert!(!nobody_holds(&path), "the store holds its file again");
    let failure = store.rewrite_failure().expect("read").expect("recorded");
    assert_eq!(failure.attempts, 1);
    assert!(failure.error.contains("refused the rename"));
    store.set_setting("after_failure", &1).expect("writes");
    drop(store);
    let mut replica = Replica::open(&path).expect("opens");
    assert_eq!(replica.activities().expect("reads").len(), 1);
}

/// A file's bytes as a device attaches it: a PDF with text a byte search
/// can find (`marker`), padded to several chunks.
fn scan(marker: &str) -> Vec<u8> {
    let mut bytes = format!("%PDF-1.4\n{marker}\n").into_bytes();
    bytes.resize(3 * sync_core::limits::FILE_CHUNK_BYTES, b' ');
    bytes.extend_from_slice(format!("\n{marker}\n%%EOF\n").as_bytes());
    bytes
}

#[test]
fn erasing_an_activity_erases_the_files_only_it_referred_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut replica) = centre_device(&dir);
    let kept = replica
        .add(ActivityId::new_random(), &full("Ģimeņu diena"), at(0))
        .expect("durable");
    let erase = replica
        .add(ActivityId::new_random(), &secret(), at(1))
        .expect("durable");
    let own = scan("ZANES-PARAKSTU-LAPA");
    let shared = scan("KOPIGA-FOTO");
    let attach = |replica: &mut Replica, id, bytes: &[u8]| {
        replica
            .attach_file(id, std::io::Cursor::new(bytes), "lapa.pdf", at(2))
            .expect("attached")
            .expect("new")
            .file
    };
    let own_hash = attach(&mut replica, erase, &own);
    let shared_hash = attach(&mut replica, erase, &shared);
    attach(&mut replica, kept, &shared);
    let home = replica.info().expect("home").id;
    assert_eq!(replica.store().files_to_send(home).expect("queue").len(), 2);
    drop(replica);
    assert!(contains(&everything_kept(&path), "ZANES-PARAKSTU-LAPA"));

    let store = Store::open(&path).expect("opens");
    erase_from_store(&store, home, erase);
    assert!(
        store.file(own_hash).expect("read").is_none(),
        "erased with its record"
    );
    assert!(
        store.file(shared_hash).expect("read").is_some(),
        "another record refers to it"
    );
    let waiting: Vec<_> = store
        .files_to_send(home)
        .expect("queue")
        .into_iter()
        .map(|f| f.hash)
        .collect();
    assert_eq!(
        waiting,
        [shared_hash],
        "the erased file no longer waits to be sent"
    );
    let mut store = store;
    store.rewrite_file().expect("rewrites the file");
    drop(store);
    let bytes = everything_kept(&path);
    assert!(
        !contains(&bytes, "ZANES-PARAKSTU-LAPA"),
        "the erased file's bytes are still there"
    );
    assert!(contains(&bytes, "KOPIGA-FOTO"), "the check can fail");
}

#[test]
fn a_detached_file_goes_at_the_quiet_compaction_and_a_deleted_records_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut replica) = centre_device(&dir);
    let detached_from = replica
        .add(ActivityId::new_random(), &minimal("Seminārs"), at(0))
        .expect("durable");
    let deleted = replica
        .add(ActivityId::new_random(), &minimal("Atcelts"), at(1))
        .expect("durable");
    let attach = |replica: &mut Replica, id, marker: &str| {
        replica
            .attach_file(id, std::io::Cursor::new(scan(marker)), "lapa.pdf", at(2))
            .expect("attached")
            .expect("new")
            .file
    };
    let gone = attach(&mut replica, detached_from, "DETACHED");
    let stays = attach(&mut replica, deleted, "DELETED");
    replica
        .detach_file(detached_from, gone, at(3))
        .expect("detached");
    replica.set_deleted(deleted, true, at(4)).expect("deleted");
    assert!(
        replica.store().file(gone).expect("read").is_some(),
        "kept until compaction"
    );
    replica.compact_due().expect("the quiet compaction");
    assert!(replica.store().file(gone).expect("read").is_none());
    assert!(
        replica.store().file(stays).expect("read").is_some(),
        "a deleted record can be restored with its files"
    );
    let kept = everything_kept(&path);
    assert!(
        !contains(&kept, "DETACHED"),
        "its bytes beside the store too"
    );
    assert!(contains(&kept, "DELETED"));
}
