//! Uploading recent changes without the journal's document: a device that
//! recorded a few activities since its journal's snapshot sends them from
//! their stored bytes (`AppendedChanges`), and plans exactly what planning
//! with the document would.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use automerge::{ChangeHash, ROOT, transaction::Transactable};
use proptest::prelude::*;
use sync_core::journal;
use sync_core::sync::memory::MemoryJournals;
use sync_core::sync::wire::Frame;
use sync_core::sync::{
    Access, AppendedChanges, Attestor, BatchEncoding, ClientSession, JournalGrant, Peer,
    RelaySession, SyncStorage, missing_from,
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
    drop(replica);
    let store = Store::open(&path).expect("open");
    let journal = store.load_journal(home).expect("load");
    assert_eq!(relay.heads(home.0).expect("relay heads"), journal.heads());
    assert_eq!(store.unsent_count(home).expect("unsent"), 0);
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
        let appended = AppendedChanges::new(snapshot_heads.clone(), changes[split..].to_vec());
        let mut known = heads_of_prefix(&changes, relay_has);
        if let Some(e) = extra {
            known.push(changes[e].hash());
        }
        known.extend(journal::genesis_heads());
        let expected: HashSet<ChangeHash> = missing_from(&doc, &known, usize::MAX).into_iter().collect();
        match appended.missing(&known, usize::MAX) {
            Some(plan) => {
                let planned: HashSet<ChangeHash> = plan.iter().copied().collect();
                prop_assert_eq!(planned.len(), plan.len(), "a change planned twice");
                prop_assert_eq!(&planned, &expected);
                // Causal: each change after its dependencies the relay lacks.
                let mut seen = HashSet::new();
                for hash in &plan {
                    let change = changes.iter().find(|c| c.hash() == *hash).expect("a change");
                    for dep in change.deps() {
                        prop_assert!(!expected.contains(dep) || seen.contains(dep));
                    }
                    seen.insert(*hash);
                }
            }
            None => {
                // No answer only when the relay's heads do not show the
                // snapshot held, or name a change inside it.
                let snapshot: HashSet<ChangeHash> =
                    changes[..split].iter().map(|c| c.hash()).collect();
                let covers_snapshot = snapshot.iter().all(|h| !expected.contains(h));
                let names_inside = known.iter().any(|h| snapshot.contains(h) && !snapshot_heads.contains(h));
                prop_assert!(!covers_snapshot || names_inside, "no answer where one was possible");
            }
        }
        // A relay holding the snapshot and nothing since: always answered.
        let mut at_snapshot = snapshot_heads.clone();
        at_snapshot.extend(journal::genesis_heads());
        let plan = appended.missing(&at_snapshot, usize::MAX);
        prop_assert!(plan.is_some());
        let expected: HashSet<ChangeHash> =
            missing_from(&doc, &at_snapshot, usize::MAX).into_iter().collect();
        prop_assert_eq!(plan.unwrap_or_default().into_iter().collect::<HashSet<_>>(), expected);
    }
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
        let items = (0..3_000)
            .map(|i| (ActivityId::new_random(), minimal(&format!("Imports {i}"))))
            .collect();
        replica.import(items, at(30)).expect("import");
    }
    let mut replica = Replica::open(&path).expect("reopen");
    assert_eq!(replica.store().unsent_count(home).expect("unsent"), 3_000);
    let sent = sync(&mut replica, &mut relay);
    let batches: Vec<BatchEncoding> = sent
        .iter()
        .filter_map(|f| match f {
            Frame::Changes {
                count, encoding, ..
            } if *count > 0 => Some(*encoding),
            _ => None,
        })
        .collect();
    assert!(batches.len() > 1, "one batch: {batches:?}");
    assert!(batches.iter().all(|e| *e == BatchEncoding::ChangeList));
    assert!(
        !replica.holds_document(home),
        "an acknowledgement loaded the whole journal"
    );
    assert_eq!(replica.store().unsent_count(home).expect("unsent"), 0);
    drop(replica);
    let store = Store::open(&path).expect("open");
    let journal = store.load_journal(home).expect("load");
    assert_eq!(relay.heads(home.0).expect("relay heads"), journal.heads());
}
