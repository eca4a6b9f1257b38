//! Received changes that Automerge 0.12 accepts but cannot hold are refused
//! before they are stored (`sync::apply_guarded`).
//!
//! Found by fuzzing (`fuzz/regressions/journal_changes/
//! bundle-accepted-change-does-not-reload`): an operation that refers to
//! something the document does not have — here a `put` on a list at `HEAD`
//! without inserting — is dropped by `apply_changes` while its change is
//! recorded as applied. Automerge rebuilds every change it hands out from the
//! document's operations, so such a journal could no longer be saved and
//! loaded (compaction refused forever), `get_changes` and
//! `get_change_by_hash` panicked (no device could be sent anything after it),
//! and its stored changes, reloaded in one batch with the change that made the
//! list, made the document library fail: the store no longer opened.
//!
//! Two more kinds the fuzzer then found apply and rebuild, but a saved
//! journal holding them does not load: a change not numbered right after its
//! dependencies, and a rich-text mark that ends before it begins.

use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ExpandedChange, ObjType, ReadDoc};
use sync_core::store::{JournalId, JournalInfo, NewStore, Store};
use sync_core::sync::check_received;
use sync_core::sync::memory::MemoryJournals;
use sync_core::sync::{
    RefusedChanges, StorageFailure, SyncStorage, apply_guarded, apply_guarded_alongside,
    decode_bundle,
};
use sync_core::{ActivityId, ActivityPatch, Journal, Kind, Replica, Stamp};
use uuid::Uuid;

const REFUSED: &str = "refers to something the journal does not hold";

fn regression(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/fuzz/regressions/journal_changes/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn crasher() -> Vec<u8> {
    regression("bundle-accepted-change-does-not-reload")
}

/// The journal of the fuzz target (`fuzzing::journal_changes`).
const FUZZ_JOURNAL: Uuid = Uuid::from_u128(0x6b72_632d_6675_7a7a_0000_0000_0000_0001);

fn assert_saves_and_loads(doc: &Automerge) {
    let reloaded = Automerge::load(&doc.save()).expect("the journal saves and loads");
    assert_eq!(reloaded.get_heads(), doc.get_heads());
}

#[test]
fn the_fuzzers_bundle_is_refused_and_the_journal_is_unchanged() {
    let bytes = crasher();
    // The fuzz target's whole path: no panic (it asserted that the journal
    // saves and loads, and failed, before the fix).
    sync_core::fuzzing::journal_changes(&bytes);

    // The same path step by step. The bundle itself is well formed: two
    // changes of one author, each the canonical encoding of its operations.
    let changes = decode_bundle(&bytes).expect("the bundle decodes");
    assert_eq!(changes.len(), 2);
    let bad = changes[1].hash();
    let mut store = MemoryJournals::default();
    let doc = store.doc(FUZZ_JOURNAL);
    *doc = std::mem::take(doc).with_actor(ActorId::from([7_u8; 16]));
    let before = doc.get_heads();
    let refused = store
        .apply_durably(FUZZ_JOURNAL, changes.into())
        .expect_err("the batch is refused");
    assert_eq!(refused, RefusedChanges::Dangling(Some(bad)).into());
    assert_eq!(
        refused.to_string(),
        format!(
            "changes refused: change {bad} {REFUSED} (the document library would drop part \
             of it and could not save the journal)"
        )
    );
    let doc = store.doc(FUZZ_JOURNAL);
    assert_eq!(doc.get_heads(), before);
    assert_eq!(before, sync_core::journal::genesis_heads());
    assert_saves_and_loads(doc);
}

/// The relay's path (`relay/src/store/journals.rs`): check, apply, append the
/// received bytes to the store. Refused before the append: the store holds
/// nothing of the batch and loads as before; compaction still works.
#[test]
fn the_relay_path_stores_nothing_of_the_refused_batch() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("journals.redb");
    let store = Store::create_relay(&path, "relay", 4 << 20).expect("a relay store");
    let id = JournalId(FUZZ_JOURNAL);
    store
        .ensure_journal(&JournalInfo {
            id,
            centre: "Rēzeknes KRC".into(),
            municipality: None,
            epoch: 0,
        })
        .expect("a journal");
    let mut journal = store.load_journal(id).expect("loads");
    let changes = decode_bundle(&crasher()).expect("the bundle decodes");
    let checked =
        check_received(journal.doc(), changes).expect("passes the checks before applying");
    let refused = apply_guarded(journal.doc_mut(), &checked).expect_err("refused");
    assert!(
        matches!(
            refused,
            StorageFailure::Refused(RefusedChanges::Dangling(_))
        ),
        "{refused}"
    );
    // The relay drops its copy and loads the journal again: as before.
    drop(journal);
    assert_eq!(store.appended_count(id).expect("counts"), 0);
    drop(store);
    let store = Store::open(&path).expect("the store opens");
    let journal = store.load_journal(id).expect("the journal loads");
    assert_eq!(journal.heads(), sync_core::journal::genesis_heads());
    store.compact(id, &journal).expect("compaction works");
}

/// Found by the fuzzer with the check above in place: an empty change of a
/// new author, depending on the genesis (operations 1 and 2) but numbered
/// from 1. Automerge applies it and rebuilds it, but a saved document holding
/// it does not load (`InvalidMaxOp`): the document format does not record
/// where a change's operations start, loading takes it from the
/// dependencies.
#[test]
fn the_fuzzers_change_numbered_before_its_dependency_is_refused() {
    let bytes = regression("change-numbered-before-its-dependency");
    sync_core::fuzzing::journal_changes(&bytes);
    let change = sync_core::sync::decode_change(&bytes).expect("a well-formed change");
    assert_eq!((change.start_op().get(), change.len()), (1, 0));
    let mut store = MemoryJournals::default();
    let refused = store
        .apply_durably(FUZZ_JOURNAL, vec![change.clone()].into())
        .expect_err("refused");
    assert_eq!(
        refused,
        RefusedChanges::MisNumbered {
            change: change.hash(),
            start_op: 1,
            deps_max: 2
        }
        .into()
    );
    assert_eq!(
        refused.to_string(),
        format!(
            "changes refused: change {} numbers its operations from 1, but its dependencies \
             end at 2",
            change.hash()
        )
    );
    let doc = store.doc(FUZZ_JOURNAL);
    assert_eq!(doc.get_heads(), sync_core::journal::genesis_heads());
    assert_saves_and_loads(doc);
}

/// Found by the fuzzer with the checks above in place: two changes making an
/// activity, the second with a rich-text mark end on a key of a map, which
/// Automerge applies; a saved document holding it does not load ("mark end
/// occurs before mark begin"). A journal never holds marks (its text is plain
/// strings): refused.
#[test]
fn the_fuzzers_mark_end_before_begin_is_refused() {
    let bytes = regression("bundle-mark-end-before-begin");
    sync_core::fuzzing::journal_changes(&bytes);
    let changes = decode_bundle(&bytes).expect("the bundle decodes");
    let marked = changes[1].hash();
    let mut store = MemoryJournals::default();
    let refused = store
        .apply_durably(FUZZ_JOURNAL, changes.into())
        .expect_err("refused");
    assert_eq!(refused, RefusedChanges::TextMarks(marked).into());
    assert_eq!(
        refused.to_string(),
        format!("changes refused: change {marked} holds text marks, which a journal never holds")
    );
    let doc = store.doc(FUZZ_JOURNAL);
    assert_eq!(doc.get_heads(), sync_core::journal::genesis_heads());
    assert_saves_and_loads(doc);
}

/// A session checks the next batch's changes ahead, on another core, while it
/// stores the one before (`sync::ahead`): a change refused there is refused
/// in its turn with the same words, and nothing of its batch is applied. A
/// change checked ahead that the journal already holds is not refused.
#[test]
fn a_refusal_found_ahead_is_the_refusal_found_in_turn() {
    use sync_core::sync::Received;
    let changes = decode_bundle(&regression("bundle-mark-end-before-begin")).expect("decodes");
    let marked = changes[1].hash();
    let mut in_turn = MemoryJournals::default();
    let refused_in_turn = in_turn
        .apply_durably(FUZZ_JOURNAL, changes.clone().into())
        .expect_err("refused");
    let mut ahead = MemoryJournals::default();
    let refused_ahead = ahead
        .apply_durably(FUZZ_JOURNAL, Received::checked_ahead(changes.clone()))
        .expect_err("refused");
    assert_eq!(refused_ahead, RefusedChanges::TextMarks(marked).into());
    assert_eq!(refused_ahead.to_string(), refused_in_turn.to_string());
    assert_eq!(
        ahead.doc(FUZZ_JOURNAL).get_heads(),
        sync_core::journal::genesis_heads(),
        "nothing of the batch applied"
    );
    // Only the first change, good, checked ahead: stored; sent again with
    // the marked one, the held one passes and the marked one is refused.
    let first = vec![changes[0].clone()];
    ahead
        .apply_durably(FUZZ_JOURNAL, Received::checked_ahead(first))
        .expect("a good change checked ahead is stored");
    assert_eq!(ahead.doc(FUZZ_JOURNAL).get_heads(), vec![changes[0].hash()]);
    let again = ahead
        .apply_durably(FUZZ_JOURNAL, Received::checked_ahead(changes))
        .expect_err("refused");
    assert_eq!(again, RefusedChanges::TextMarks(marked).into());
}

// ---- Crafted changes: each kind of reference Automerge does not check ----

const AUTHOR: [u8; 16] = [7; 16];

fn stamp() -> Stamp<'static> {
    Stamp {
        author: "Līga",
        now: chrono::DateTime::UNIX_EPOCH,
    }
}

fn activity() -> ActivityId {
    ActivityId(Uuid::from_u128(1))
}

/// A journal holding one activity with one organiser, and the id of the
/// activity's organiser list.
fn journal_with_a_list() -> (Journal, OpId) {
    let mut journal = Journal::new(ActorId::from(AUTHOR));
    let patch = ActivityPatch {
        title: Some("Ģimeņu diena Rēzeknē".into()),
        kind: Some(Kind::Event),
        date: chrono::NaiveDate::from_ymd_opt(2026, 5, 14),
        organisers: Some(vec!["Anna Bērziņa".into()]),
        ..ActivityPatch::default()
    };
    journal.create(activity(), &patch, stamp()).expect("valid");
    let doc = journal.doc();
    let (_, activities) = doc
        .get(automerge::ROOT, "activities")
        .expect("read")
        .expect("the activities map");
    let (_, record) = doc
        .get(&activities, activity().0.to_string())
        .expect("read")
        .expect("the activity");
    let (_, list) = doc
        .get(&record, "organisers")
        .expect("read")
        .expect("the list");
    assert_eq!(doc.object_type(&list).expect("an object"), ObjType::List);
    let (counter, actor) = list
        .to_string()
        .split_once('@')
        .map(|(c, a)| (c.parse().expect("a counter"), a.to_owned()))
        .expect("an operation id");
    assert_eq!(actor, hex(&AUTHOR));
    (journal, OpId(counter, ActorId::from(AUTHOR)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The next change of [`AUTHOR`] on `doc`, holding `ops` (properly encoded:
/// it passes the canonical check).
fn craft(doc: &Automerge, ops: Vec<Op>) -> Change {
    craft_numbered(doc, ops, 1)
}

/// The same, its operations numbered from the dependencies' last plus `step`
/// (Automerge's own changes: 1).
fn craft_numbered(doc: &Automerge, ops: Vec<Op>, step: i64) -> Change {
    let mine: Vec<Change> = doc
        .get_changes(&[])
        .into_iter()
        .filter(|c| c.actor_id().to_bytes() == AUTHOR)
        .collect();
    let max_op = doc
        .get_changes(&[])
        .iter()
        .map(Change::max_op)
        .max()
        .expect("changes");
    Change::from(ExpandedChange {
        operations: ops,
        actor_id: ActorId::from(AUTHOR),
        hash: None,
        seq: mine.len() as u64 + 1,
        start_op: std::num::NonZeroU64::new(max_op.checked_add_signed(step).expect("in range"))
            .expect("not zero"),
        time: 0,
        message: None,
        deps: doc.get_heads(),
        extra_bytes: Vec::new(),
        author: None,
    })
}

fn put_in_list(list: &OpId, key: Key, insert: bool, pred: Vec<OpId>) -> Op {
    Op {
        action: OpType::Put("Jānis".into()),
        obj: ObjectId::Id(list.clone()),
        key,
        pred: pred.into(),
        insert,
    }
}

/// Each kind of dangling reference `apply_changes` accepted: the operation
/// was dropped (or lost its predecessor), and the journal then failed to save
/// and load. Now each is refused, naming the change, and the journal is as
/// before; a proper insert made the same way is accepted.
#[test]
fn every_kind_of_dangling_reference_is_refused() {
    let (_, list) = journal_with_a_list();
    let unknown = OpId(9_999, ActorId::from(AUTHOR));
    let cases: Vec<(&str, Op)> = vec![
        (
            "a put at HEAD without inserting (the fuzzer's)",
            put_in_list(&list, Key::Seq(ElementId::Head), false, vec![]),
        ),
        (
            "a put on a list element that does not exist",
            put_in_list(
                &list,
                Key::Seq(ElementId::Id(unknown.clone())),
                false,
                vec![],
            ),
        ),
        (
            "a map key in a list",
            put_in_list(&list, Key::Map("title".into()), false, vec![]),
        ),
        (
            "a predecessor that does not exist",
            put_in_list(&list, Key::Seq(ElementId::Head), true, vec![unknown]),
        ),
    ];
    for (what, op) in cases {
        // (On a refusal the caller drops this journal and loads it again
        // from its store: see the storage-level tests.)
        let (mut journal, _) = journal_with_a_list();
        let change = craft(journal.doc(), vec![op]);
        let hash = change.hash();
        let checked = check_received(journal.doc(), vec![change])
            .unwrap_or_else(|e| panic!("{what}: refused before applying: {e}"));
        let refused = apply_guarded(journal.doc_mut(), &checked).expect_err(what);
        assert_eq!(
            refused,
            RefusedChanges::Dangling(Some(hash)).into(),
            "{what}: {refused}"
        );
    }
    let (mut journal, list) = journal_with_a_list();
    let good = craft(
        journal.doc(),
        vec![put_in_list(&list, Key::Seq(ElementId::Head), true, vec![])],
    );
    let hash = good.hash();
    let checked = check_received(journal.doc(), vec![good]).expect("passes the checks");
    apply_guarded(journal.doc_mut(), &checked).expect("a proper insert is accepted");
    assert_eq!(journal.heads(), vec![hash]);
    let organisers = journal
        .get(activity())
        .expect("reads")
        .expect("held")
        .organisers;
    assert_eq!(organisers, ["Jānis", "Anna Bērziņa"]);
    assert_saves_and_loads(journal.doc());
}

/// A device's path reads the view's rows while the rebuild check runs beside
/// (`apply_guarded_alongside`): the same crafted changes are refused, the
/// reading's result is never handed back for them, and for a proper change
/// the operations' targets the checks kept name the activity it touched.
#[test]
fn dangling_references_are_refused_beside_the_views_reading() {
    let (_, list) = journal_with_a_list();
    let unknown = OpId(9_999, ActorId::from(AUTHOR));
    let cases = [
        put_in_list(&list, Key::Seq(ElementId::Head), false, vec![]),
        put_in_list(
            &list,
            Key::Seq(ElementId::Id(unknown.clone())),
            false,
            vec![],
        ),
        put_in_list(&list, Key::Map("title".into()), false, vec![]),
        put_in_list(&list, Key::Seq(ElementId::Head), true, vec![unknown]),
    ];
    for op in cases {
        let (mut journal, _) = journal_with_a_list();
        let change = craft(journal.doc(), vec![op]);
        let hash = change.hash();
        let checked = check_received(journal.doc(), vec![change]).expect("passes before");
        let mut read = false;
        let refused = apply_guarded_alongside(
            &mut journal,
            (Journal::doc, Journal::doc_mut),
            &checked,
            |_| read = true,
        )
        .expect_err("refused");
        assert_eq!(refused, RefusedChanges::Dangling(Some(hash)).into());
        assert!(read, "the reading ran beside the check");
    }
    let (mut journal, list) = journal_with_a_list();
    let good = craft(
        journal.doc(),
        vec![put_in_list(&list, Key::Seq(ElementId::Head), true, vec![])],
    );
    let checked = check_received(journal.doc(), vec![good]).expect("passes the checks");
    let touched = apply_guarded_alongside(
        &mut journal,
        (Journal::doc, Journal::doc_mut),
        &checked,
        |journal| journal.touched_by(&checked),
    )
    .expect("a proper insert is accepted");
    assert_eq!(touched, Some([activity()].into()));
    assert_saves_and_loads(journal.doc());
}

/// Numbered over its dependencies' operations, or leaving a gap after them
/// (with operations or without): refused before applying. Loading a saved
/// document holding such a change failed ("missing ops", `InvalidMaxOp`).
#[test]
fn changes_not_numbered_right_after_their_dependencies_are_refused() {
    for (what, step, ops) in [
        ("overlapping, with an operation", 0, 1),
        ("overlapping, empty", 0, 0),
        ("leaving a gap, with an operation", 5, 1),
        ("leaving a gap, empty", 5, 0),
    ] {
        let (mut journal, list) = journal_with_a_list();
        let before = journal.heads();
        let ops = vec![put_in_list(&list, Key::Seq(ElementId::Head), true, vec![]); ops];
        let change = craft_numbered(journal.doc(), ops, step);
        let checked = check_received(journal.doc(), vec![change]).expect("passes the checks");
        let refused = apply_guarded(journal.doc_mut(), &checked).expect_err(what);
        assert!(
            matches!(
                refused,
                StorageFailure::Refused(RefusedChanges::MisNumbered { .. })
            ),
            "{what}: {refused}"
        );
        // Refused before anything was applied.
        assert_eq!(journal.heads(), before, "{what}");
    }
}

/// A device's path (`Replica::apply_durably`). Before the fix this change
/// was stored, and the store then failed to open: its two appended changes,
/// loaded in one batch, made the document library fail ("the journal's bytes
/// made the document library fail"). Now the batch is refused, nothing is
/// stored, and the journal in memory and on disk is as before.
#[test]
fn a_device_refuses_the_batch_and_its_store_still_opens() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("journal.redb");
    let mut replica = Replica::create(
        &path,
        NewStore {
            centre: "Rēzeknes KRC",
            device_name: "Līgas dators",
        },
    )
    .expect("a store");
    let home = replica.journal_id();
    let (source, list) = journal_with_a_list();
    let good = source
        .doc()
        .get_changes(&sync_core::journal::genesis_heads());
    let heads = replica
        .apply_durably(home.0, good.into())
        .expect("accepted");
    let appended = replica.store().appended_count(home).expect("counts");
    assert_eq!(appended, 1);

    let bad = craft(
        source.doc(),
        vec![put_in_list(&list, Key::Seq(ElementId::Head), false, vec![])],
    );
    let refused = replica
        .apply_durably(home.0, vec![bad.clone()].into())
        .expect_err("refused");
    assert_eq!(refused, RefusedChanges::Dangling(Some(bad.hash())).into());
    assert_eq!(replica.store().appended_count(home).expect("counts"), 1);
    assert_eq!(replica.journal().expect("loaded").heads(), heads);
    assert!(
        !replica
            .contains_all(home.0, &[bad.hash()])
            .expect("answers")
    );
    // The journal can still send everything it holds.
    assert_eq!(
        replica
            .missing(home.0, &sync_core::journal::genesis_heads(), usize::MAX)
            .expect("changes")
            .len(),
        1
    );
    drop(replica);

    let mut replica = Replica::open(&path).expect("the store opens");
    assert_eq!(replica.journal().expect("loads").heads(), heads);
    replica.compact().expect("compaction works");
    let organisers = replica
        .get(activity())
        .expect("reads")
        .expect("held")
        .organisers;
    assert_eq!(organisers, ["Anna Bērziņa"]);
}
