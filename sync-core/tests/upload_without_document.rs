//! Uploading without the journal's document: a device that recorded a few
//! activities since its journal's snapshot sends them from their stored
//! bytes, a device whose compaction folded unsent changes into the snapshot
//! sends the upload that compaction made ready (`StoredChanges`), and both
//! plan exactly what planning with the document would.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use automerge::{ChangeHash, ROOT, transaction::Transactable};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sync_core::journal;
use sync_core::store::ReadyUpload;
use sync_core::sync::memory::MemoryJournals;
use sync_core::sync::wire::Frame;
use sync_core::sync::{
    Access, Attestor, BatchChange, BatchEncoding, ClientSession, JournalGrant, Peer, RelaySession,
    StoredBatch, StoredChanges, SyncStorage, missing_from,
};
use sync_core::{ActivityId, NewStore, Replica, Store};

use common::{at, minimal};

const RELAY_KEY: [u8; 32] = [0x42; 32];
const MAX_STEPS: usize = 10_000;

fn create(path: &Path) -> Replica {
    Replica::create(
        path,
        NewStore {
            centre: "Ludzas novada kopienu centrs",
            device_name: "Ilzes dators",
        },
    )
    .expect("create store")
}

/// A new store whose journal holds `n` activities, compacted into a snapshot.
fn compacted_after(path: &Path, n: i64) -> Replica {
    let mut replica = create(path);
    for k in 0..n {
        let title = format!("Vecs {k}");
        replica
            .add(ActivityId::new_random(), &minimal(&title), at(k))
            .expect("add");
    }
    replica.compact().expect("compact");
    replica
}

/// One whole sync of `replica`'s home journal with `relay`; returns the
/// `Changes` frames the device sent.
fn sync(replica: &mut Replica, relay: &mut MemoryJournals) -> Vec<Frame> {
    let journal = replica.journal_id().0;
    let device = replica.store().device_id().0;
    let now = Instant::now();
    let grant = JournalGrant {
        journal,
        centre: "Ludzas novada kopienu centrs".into(),
        municipality: String::new(),
        access: Access::ReadWrite,
    };
    let peer = Peer {
        device,
        attestor: Attestor::new(RELAY_KEY),
    };
    let mut c = ClientSession::new(now, "test", vec![journal], replica).for_one_sync();
    let mut r = RelaySession::new(now, vec![grant], peer);
    let mut sent = Vec::new();
    for _ in 0..MAX_STEPS {
        let mut moved = false;
        while let Some(bytes) = c.poll_transmit() {
            let frame = Frame::decode(&bytes).expect("a valid frame");
            if matches!(frame, Frame::Changes { .. }) {
                sent.push(frame);
            }
            r.handle_bytes(now, &bytes, relay);
            moved = true;
        }
        while let Some(bytes) = r.poll_transmit_building(now, relay) {
            c.handle_bytes(now, &bytes, replica);
            moved = true;
        }
        if !moved {
            assert!(c.is_idle(), "the session ended before its sync did");
            return sent;
        }
    }
    panic!("the sessions kept talking for {MAX_STEPS} steps");
}

#[test]
fn new_activities_after_a_snapshot_go_from_their_stored_bytes_without_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let mut relay = MemoryJournals::default();
    let home;
    {
        let mut replica = create(&path);
        home = replica.journal_id();
        let items = (0..40)
            .map(|i| (ActivityId::new_random(), minimal(&format!("Imports {i}"))))
            .collect();
        replica.import(items, at(1)).expect("import");
        replica
            .add(
                ActivityId::new_random(),
                &minimal("Pirms sinhronizācijas"),
                at(2),
            )
            .expect("add");
        replica.compact().expect("compact");
        sync(&mut replica, &mut relay);
        assert_eq!(replica.store().unsent_count(home).expect("unsent"), 0);
    }
    let mut added = Vec::new();
    {
        // Another process records three activities (and leaves the journal unloaded).
        let mut replica = Replica::open(&path).expect("reopen");
        for k in 0..3 {
            added.push(
                replica
                    .add(
                        ActivityId::new_random(),
                        &minimal(&format!("Jauns {k}")),
                        at(10 + k),
                    )
                    .expect("add"),
            );
        }
    }
    let mut replica = Replica::open(&path).expect("reopen");
    let sent = sync(&mut replica, &mut relay);
    assert!(
        !replica.holds_document(home),
        "the sync loaded the whole journal to send three changes"
    );
    let counts: Vec<(u32, BatchEncoding)> = sent
        .iter()
        .filter_map(|f| match f {
            Frame::Changes {
                count, encoding, ..
            } if *count > 0 => Some((*count, *encoding)),
            _ => None,
        })
        .collect();
    assert_eq!(counts, [(3, BatchEncoding::ChangeList)]);
    assert_eq!(replica.store().unsent_count(home).expect("unsent"), 0);
    drop(replica);

    // The relay holds exactly the device's journal.
    let store = Store::open(&path).expect("open");
    let journal = store.load_journal(home).expect("load");
    assert_eq!(
        relay.heads(home.0).expect("relay heads"),
        journal.heads(),
        "the relay holds what the device holds"
    );
    for id in added {
        assert!(journal.get(id).expect("read").is_some());
    }
}

#[test]
fn a_relay_that_lacks_part_of_the_snapshot_gets_it_from_the_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let home;
    {
        let mut replica = compacted_after(&path, 5);
        home = replica.journal_id();
        replica
            .add(ActivityId::new_random(), &minimal("Jauns"), at(20))
            .expect("add");
    }
    // A relay restored from an old backup: it holds none of the snapshot.
    let mut relay = MemoryJournals::default();
    let mut replica = Replica::open(&path).expect("reopen");
    sync(&mut replica, &mut relay);
    assert_eq!(replica.store().unsent_count(home).expect("unsent"), 0);
    drop(replica);
    relay_holds_the_journal(&path, home, &mut relay);
}

/// A history of `n` changes by two writers from the genesis, some
/// concurrent, in an order Automerge accepts: the document and its changes.
fn history(n: usize, forks: &[bool]) -> (automerge::Automerge, Vec<automerge::Change>) {
    let mut a = journal::genesis().with_actor(automerge::ActorId::from([1_u8; 16]));
    let mut b = journal::genesis().with_actor(automerge::ActorId::from([2_u8; 16]));
    for i in 0..n {
        let writer = if forks.get(i).copied().unwrap_or(false) {
            &mut b
        } else {
            &mut a
        };
        let mut tx = writer.transaction();
        tx.put(ROOT, format!("k{i}"), i as i64).expect("put");
        tx.commit();
        // Merge now and then, so concurrent branches join again.
        if i % 3 == 2 {
            a.merge(&mut b).expect("merge");
            b.merge(&mut a).expect("merge");
        }
    }
    a.merge(&mut b).expect("merge");
    let genesis: HashSet<ChangeHash> = journal::genesis_heads().into_iter().collect();
    let changes = a
        .get_changes(&[])
        .into_iter()
        .filter(|c| !genesis.contains(&c.hash()))
        .collect();
    (a, changes)
}

/// Heads of the first `k` changes (taken in causal order).
fn heads_of_prefix(changes: &[automerge::Change], k: usize) -> Vec<ChangeHash> {
    let mut doc = journal::genesis();
    doc.apply_changes(changes[..k].iter().cloned())
        .expect("apply");
    doc.get_heads()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the relay holds, the plan made from the appended changes is
    /// the document's plan, in an order the relay can apply, or no answer.
    #[test]
    fn the_plan_from_appended_changes_is_the_documents(
        forks in prop::collection::vec(any::<bool>(), 12),
        split in 0_usize..12,
        relay_has in 0_usize..12,
        extra in prop::option::of(0_usize..12),
    ) {
        let (doc, changes) = history(12, &forks);
        let snapshot_heads = heads_of_prefix(&changes, split);
        let stored = StoredChanges::new(snapshot_heads.clone(), changes[split..].to_vec());
        let known = relay_heads(&changes, relay_has, extra);
        check_plan(&stored, (&doc, &changes), &known, (split, &snapshot_heads))?;
    }

    /// With an upload made ready of the changes between a base and the
    /// snapshot (what a compaction does for what the relay had not
    /// acknowledged), whatever the relay holds: the document's plan, in an
    /// order the relay can apply, or no answer; the ready batches go whole
    /// and in order, and a plan starting inside one is not answered.
    #[test]
    fn the_plan_with_a_ready_upload_is_the_documents(
        forks in prop::collection::vec(any::<bool>(), 12),
        (base_at, split) in (0_usize..12).prop_flat_map(|b| (Just(b), b..12)),
        batch_len in 1_usize..4,
        relay_has in 0_usize..12,
        extra in prop::option::of(0_usize..12),
    ) {
        let (doc, changes) = history(12, &forks);
        let snapshot_heads = heads_of_prefix(&changes, split);
        let base = heads_of_prefix(&changes, base_at);
        let ready = ReadyUpload {
            snapshot_heads: snapshot_heads.clone(),
            base: base.clone(),
            batches: changes[base_at..split]
                .chunks(batch_len)
                .map(|chunk| chunk.iter().map(batch_change).collect())
                .collect(),
        };
        let stored =
            StoredChanges::with_ready(snapshot_heads, Some(ready), changes[split..].to_vec());
        let known = relay_heads(&changes, relay_has, extra);
        let plan = check_plan(&stored, (&doc, &changes), &known, (base_at, &base))?;
        // From the base, the ready batches go whole and in order, then the
        // appended changes as a change list.
        let mut rest = plan.as_slice();
        for batch in changes[base_at..split].chunks(batch_len) {
            match stored.batch(rest, u64::MAX) {
                Some(StoredBatch::Ready { changes: sent, .. }) => {
                    let hashes: Vec<ChangeHash> = sent.iter().map(|c| c.hash).collect();
                    let wanted: Vec<ChangeHash> = batch.iter().map(|c| c.hash()).collect();
                    prop_assert_eq!(hashes, wanted);
                }
                other => prop_assert!(false, "not the ready batch: {:?}", other),
            }
            rest = &rest[batch.len()..];
        }
        if !rest.is_empty() {
            prop_assert!(matches!(stored.batch(rest, u64::MAX), Some(StoredBatch::Appended(_))));
        }
        if split - base_at > 1 && batch_len > 1 {
            prop_assert!(stored.batch(&plan[1..], u64::MAX).is_none());
        }
    }
}

/// The heads of a relay holding the first `has` changes, and change `extra`
/// if any (with what it depends on), and the genesis.
fn relay_heads(changes: &[automerge::Change], has: usize, extra: Option<usize>) -> Vec<ChangeHash> {
    let mut known = heads_of_prefix(changes, has);
    known.extend(extra.map(|e| changes[e].hash()));
    known.extend(journal::genesis_heads());
    known
}

/// Checks the plan `stored` makes for a relay holding `known` against the
/// document's: the same changes, each after those it depends on that the
/// relay lacks, none of them called held; or no answer, only when the
/// relay's heads do not show the base held (the first `base_at` changes,
/// whose heads are `base`) or name a change inside it. A relay holding the
/// base and nothing since is always answered: that plan is returned.
fn check_plan(
    stored: &StoredChanges,
    (doc, changes): (&automerge::Automerge, &[automerge::Change]),
    known: &[ChangeHash],
    (base_at, base): (usize, &[ChangeHash]),
) -> Result<Vec<ChangeHash>, TestCaseError> {
    let expected: HashSet<ChangeHash> = missing_from(doc, known, usize::MAX).into_iter().collect();
    match stored.missing(known, usize::MAX) {
        Some(plan) => {
            let planned: HashSet<ChangeHash> = plan.iter().copied().collect();
            prop_assert_eq!(planned.len(), plan.len(), "a change planned twice");
            prop_assert_eq!(&planned, &expected);
            // Causal: each change after its dependencies the relay lacks.
            let mut seen = HashSet::new();
            for hash in &plan {
                let change = changes
                    .iter()
                    .find(|c| c.hash() == *hash)
                    .expect("a change");
                for dep in change.deps() {
                    prop_assert!(!expected.contains(dep) || seen.contains(dep));
                }
                seen.insert(*hash);
            }
            let said = stored
                .held_among(known, &plan)
                .expect("answered as planned");
            prop_assert!(said.is_empty(), "a missing change called held: {:?}", said);
        }
        None => {
            let inside: HashSet<ChangeHash> = changes[..base_at].iter().map(|c| c.hash()).collect();
            let covers_base = inside.iter().all(|h| !expected.contains(h));
            let names_inside = known
                .iter()
                .any(|h| inside.contains(h) && !base.contains(h));
            prop_assert!(
                !covers_base || names_inside,
                "no answer where one was possible"
            );
        }
    }
    let mut at_base = base.to_vec();
    at_base.extend(journal::genesis_heads());
    let plan = stored.missing(&at_base, usize::MAX);
    prop_assert!(plan.is_some(), "a relay holding the base is not answered");
    let plan = plan.unwrap_or_default();
    let expected: HashSet<ChangeHash> = missing_from(doc, &at_base, usize::MAX)
        .into_iter()
        .collect();
    prop_assert_eq!(plan.iter().copied().collect::<HashSet<_>>(), expected);
    Ok(plan)
}

fn batch_change(change: &automerge::Change) -> BatchChange {
    BatchChange {
        hash: change.hash(),
        author: change.actor_id().clone(),
        deps: change.deps().to_vec(),
    }
}

#[test]
fn a_ready_upload_of_another_snapshot_is_ignored() {
    let (_, changes) = history(6, &[false, true, false, false, true, false]);
    let ready = ReadyUpload {
        snapshot_heads: heads_of_prefix(&changes, 3),
        base: journal::genesis_heads(),
        batches: vec![changes[..3].iter().map(batch_change).collect()],
    };
    // The snapshot now holds four changes: the ready upload describes an
    // older one, and the plan comes from the document.
    let stored = StoredChanges::with_ready(heads_of_prefix(&changes, 4), Some(ready), Vec::new());
    assert_eq!(stored.missing(&journal::genesis_heads(), usize::MAX), None);
}

#[test]
fn a_snapshot_whose_heads_are_unknown_has_them_kept_when_first_loaded() {
    use redb::{ReadableDatabase, TableDefinition};
    const SNAPSHOT_HEADS: TableDefinition<u128, &[u8]> = TableDefinition::new("snapshot_heads-v1");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let (home, at_snapshot) = {
        let mut replica = compacted_after(&path, 3);
        let heads = replica.journal().expect("journal").heads();
        replica
            .add(ActivityId::new_random(), &minimal("Pēc tam"), at(9))
            .expect("add");
        (replica.journal_id(), heads)
    };
    assert_eq!(
        Store::open(&path)
            .expect("open")
            .snapshot_heads(home)
            .expect("read"),
        Some(at_snapshot.clone()),
        "a compaction keeps its snapshot's heads"
    );
    // As a store whose snapshot predates layout 5 has it.
    {
        let db = redb::Database::open(&path).expect("a redb file");
        let tx = db.begin_write().expect("write");
        tx.open_table(SNAPSHOT_HEADS)
            .expect("table")
            .remove(home.0.as_u128())
            .expect("remove");
        tx.commit().expect("commit");
        let read = db.begin_read().expect("read");
        assert!(
            read.open_table(SNAPSHOT_HEADS)
                .expect("table")
                .get(home.0.as_u128())
                .expect("get")
                .is_none()
        );
    }
    let store = Store::open(&path).expect("open");
    assert_eq!(store.snapshot_heads(home).expect("read"), None);
    store.load_journal(home).expect("load");
    assert_eq!(store.snapshot_heads(home).expect("read"), Some(at_snapshot));
}

#[test]
fn an_upload_of_several_batches_is_acknowledged_batch_by_batch_without_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let mut relay = MemoryJournals::default();
    let home;
    {
        let mut replica = compacted_after(&path, 5);
        home = replica.journal_id();
        sync(&mut replica, &mut relay);
    }
    {
        // 30 changes of 100 activities: more than one upload batch holds.
        let mut replica = Replica::open(&path).expect("reopen");
        import(&mut replica, 3_000);
    }
    let mut replica = Replica::open(&path).expect("reopen");
    assert_eq!(replica.store().unsent_count(home).expect("unsent"), 3_000);
    let sent = sync(&mut replica, &mut relay);
    let batches = encodings(&sent);
    assert!(batches.len() > 1, "one batch: {batches:?}");
    assert!(batches.iter().all(|e| *e == BatchEncoding::ChangeList));
    assert!(
        !replica.holds_document(home),
        "an acknowledgement loaded the whole journal"
    );
    assert_eq!(replica.store().unsent_count(home).expect("unsent"), 0);
    drop(replica);
    relay_holds_the_journal(&path, home, &mut relay);
}

/// The device's journal, as stored at `path`, once the relay holds exactly it.
fn relay_holds_the_journal(
    path: &Path,
    journal: sync_core::JournalId,
    relay: &mut MemoryJournals,
) -> sync_core::Journal {
    let stored = Store::open(path)
        .expect("open")
        .load_journal(journal)
        .expect("load");
    assert_eq!(
        relay.heads(journal.0).expect("relay heads"),
        stored.heads(),
        "the relay holds what the device holds"
    );
    stored
}

/// The encodings of the `Changes` frames that carried changes.
fn encodings(sent: &[Frame]) -> Vec<BatchEncoding> {
    sent.iter()
        .filter_map(|f| match f {
            Frame::Changes {
                count, encoding, ..
            } if *count > 0 => Some(*encoding),
            _ => None,
        })
        .collect()
}

/// Activities imported into `replica`'s home journal, in one import.
fn import(replica: &mut Replica, n: usize) {
    let items = (0..n)
        .map(|i| (ActivityId::new_random(), minimal(&format!("Imports {i}"))))
        .collect();
    replica.import(items, at(30)).expect("import");
}

#[test]
fn a_first_sync_after_an_import_sends_the_upload_its_compaction_made_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let mut relay = MemoryJournals::default();
    let centre = sync_core::JournalId(uuid::Uuid::new_v4());
    {
        // 6,000 activities imported offline, then compacted (as `run` does
        // once the store is quiet), then enrolled: the journal takes the
        // centre's id.
        let mut replica = create(&path);
        import(&mut replica, 6_000);
        replica.compact().expect("compact");
        let local = replica.journal_id();
        let ready = replica.store().ready_upload(local).expect("read");
        let ready = ready.expect("the compaction made the upload ready");
        assert!(
            ready.batches.len() > 1,
            "one batch: {:?}",
            ready.batches.len()
        );
        replica
            .rekey_home(centre, "Ludzas novada kopienu centrs")
            .expect("rekey");
        assert!(replica.store().ready_upload(local).expect("read").is_none());
        assert!(
            replica
                .store()
                .ready_upload(centre)
                .expect("read")
                .is_some()
        );
    }
    let mut replica = Replica::open(&path).expect("reopen");
    assert_eq!(replica.journal_id(), centre);
    let sent = sync(&mut replica, &mut relay);
    assert!(
        !replica.holds_document(centre),
        "the first sync loaded the whole journal"
    );
    let batches = encodings(&sent);
    assert!(batches.len() > 1, "one batch: {batches:?}");
    assert!(batches.iter().all(|e| *e == BatchEncoding::Bundle));
    assert_eq!(replica.store().unsent_count(centre).expect("unsent"), 0);
    assert!(
        replica
            .store()
            .ready_upload(centre)
            .expect("read")
            .is_none(),
        "sent: the ready upload is gone"
    );
    drop(replica);
    let journal = relay_holds_the_journal(&path, centre, &mut relay);
    assert_eq!(journal.len(), 6_000);
}

#[test]
fn activities_recorded_after_the_compaction_follow_its_ready_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let mut relay = MemoryJournals::default();
    let home;
    let mut added = Vec::new();
    {
        let mut replica = create(&path);
        home = replica.journal_id();
        import(&mut replica, 1_500);
        replica.compact().expect("compact");
    }
    {
        let mut replica = Replica::open(&path).expect("reopen");
        for k in 0..2 {
            let id = ActivityId::new_random();
            replica
                .add(id, &minimal(&format!("Pēc tam {k}")), at(40 + k))
                .expect("add");
            added.push(id);
        }
    }
    let mut replica = Replica::open(&path).expect("reopen");
    let sent = sync(&mut replica, &mut relay);
    assert!(!replica.holds_document(home));
    let encodings = encodings(&sent);
    assert_eq!(encodings.last(), Some(&BatchEncoding::ChangeList));
    assert!(
        encodings[..encodings.len() - 1]
            .iter()
            .all(|e| *e == BatchEncoding::Bundle)
    );
    assert_eq!(replica.store().unsent_count(home).expect("unsent"), 0);
    drop(replica);
    let journal = relay_holds_the_journal(&path, home, &mut relay);
    for id in added {
        assert!(journal.get(id).expect("read").is_some());
    }
}

#[test]
fn a_ready_batch_is_read_only_for_the_changes_it_was_planned_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let mut replica = create(&path);
    let home = replica.journal_id();
    import(&mut replica, 200);
    replica.compact().expect("compact");
    let first = replica
        .store()
        .ready_upload(home)
        .expect("read")
        .expect("ready");
    let planned: Vec<ChangeHash> = first.batches[0].iter().map(|c| c.hash).collect();
    assert!(
        replica
            .store()
            .ready_batch(home, 0, &planned)
            .expect("read")
            .is_some()
    );
    // Another compaction after more activities: batch 0 now holds more.
    import(&mut replica, 200);
    replica.compact().expect("compact");
    let second = replica
        .store()
        .ready_upload(home)
        .expect("read")
        .expect("ready");
    assert_ne!(second.batches[0].len(), first.batches[0].len());
    assert!(
        replica
            .store()
            .ready_batch(home, 0, &planned)
            .expect("read")
            .is_none(),
        "a batch planned from the first ready upload read from the second"
    );
}

#[test]
fn a_compaction_with_nothing_unsent_makes_no_upload_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.redb");
    let mut relay = MemoryJournals::default();
    let mut replica = create(&path);
    let home = replica.journal_id();
    import(&mut replica, 300);
    sync(&mut replica, &mut relay);
    replica.compact().expect("compact");
    assert!(replica.store().ready_upload(home).expect("read").is_none());
}
