//! What a storage checks about changes received from a peer, before and
//! after applying them: every byte from the network is hostile until checked,
//! and Automerge accepts some changes it cannot hold (found by fuzzing). Used
//! by the devices' store, the relay's journals and the staging journal alike.

use std::collections::HashSet;

use automerge::{Automerge, Change, ChangeHash};

use super::{RefusedChanges, StorageFailure, catch_library_panic};

/// Received changes that passed [`check_received`] and that the document
/// did not hold yet: the only input [`apply_guarded`] takes, so no change
/// reaches a journal unchecked. It also keeps, from the one decoding the
/// checks made, where each operation writes ([`OpTarget`]): what a device
/// needs after applying to tell which activities changed
/// (`Journal::touched_by`), without decoding every change a second time
/// (decoding was about a tenth of an office's first download).
#[derive(Debug)]
pub struct Checked {
    changes: Vec<Change>,
    /// For each of `changes`, in order, its operations' targets, in order.
    targets: Vec<Vec<OpTarget>>,
}

/// Where one received operation writes: the object, the key in it, and
/// whether the operation makes a new object (which then sits there).
#[derive(Clone, Debug)]
pub struct OpTarget {
    pub obj: automerge::legacy::ObjectId,
    pub key: automerge::legacy::Key,
    pub makes: bool,
}

impl Checked {
    /// The changes, in the order received (each after its dependencies).
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Each change with its operations' targets, as the checks decoded them
    /// (the `n`th target is the operation numbered `start_op + n`).
    pub fn with_targets(&self) -> impl Iterator<Item = (&Change, &[OpTarget])> {
        self.changes
            .iter()
            .zip(self.targets.iter().map(Vec::as_slice))
    }

    pub fn into_changes(self) -> Vec<Change> {
        self.changes
    }
}

/// Changes as received from a peer, in the order received, each with the
/// outcome of its operations' checks (canonical encoding, no marks; see
/// [`check_received`]) when they were made ahead: a session checks the next
/// batch on a second core while it stores the one before (`sync::ahead`).
/// Those checks need no document, so they may run before the batch's turn.
#[derive(Debug)]
pub struct Received {
    changes: Vec<Change>,
    /// For each of `changes`, in order, when checked ahead.
    checked: Option<Vec<Result<Vec<OpTarget>, RefusedChanges>>>,
}

impl Received {
    /// Changes with their operations checked now (on this thread).
    pub fn checked_ahead(changes: Vec<Change>) -> Received {
        let checked = Some(changes.iter().map(check_operations).collect());
        Received { changes, checked }
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Changes not checked yet: [`check_received`] checks those it keeps.
impl From<Vec<Change>> for Received {
    fn from(changes: Vec<Change>) -> Received {
        Received {
            changes,
            checked: None,
        }
    }
}

/// Checks changes received for `doc` before anything is applied, and keeps
/// those it does not hold yet (a change with a held hash is that change:
/// the hash covers its bytes). Refuses the batch when a change
/// - depends on changes neither in the document nor earlier in the batch
///   (Automerge would hold such a change back silently, and it would be
///   acknowledged without being applied);
/// - is not the canonical encoding of its operations. Found by fuzzing:
///   Automerge accepts some damaged changes whose operations re-encode
///   differently, and a journal holding one no longer loads from its own
///   saved bytes ("mismatching heads") — compaction would refuse forever,
///   and every device receiving it would inherit it;
/// - holds rich-text mark operations, which a journal never makes (its text
///   is plain strings). Automerge applies marks in any order, anywhere, but a
///   saved document whose marks end before they begin does not load
///   (`InvalidMarkOrderDoc`; found by fuzzing: a mark end on a key of a map).
///
/// Each change is decoded once for both of the last two checks, here or
/// ahead ([`Received::checked_ahead`]).
pub fn check_received(
    doc: &Automerge,
    received: impl Into<Received>,
) -> Result<Checked, StorageFailure> {
    let Received { changes, checked } = received.into();
    let mut checked_ahead = checked.map(Vec::into_iter);
    let mut in_batch: HashSet<ChangeHash> = HashSet::new();
    let mut new = Vec::with_capacity(changes.len());
    let mut targets = Vec::with_capacity(changes.len());
    for change in changes {
        let ahead = checked_ahead.as_mut().and_then(Iterator::next);
        for dep in change.deps() {
            if !in_batch.contains(dep) && doc.get_change_meta_by_hash(dep).is_none() {
                return Err(RefusedChanges::DependencyMissing {
                    change: change.hash(),
                    dependency: *dep,
                }
                .into());
            }
        }
        in_batch.insert(change.hash());
        if doc.get_change_meta_by_hash(&change.hash()).is_none() {
            targets.push(ahead.unwrap_or_else(|| check_operations(&change))?);
            new.push(change);
        }
    }
    Ok(Checked {
        changes: new,
        targets,
    })
}

/// The canonical-encoding and no-marks checks of [`check_received`], on one
/// decoding of the change; the targets of its operations, from that decoding.
fn check_operations(change: &Change) -> Result<Vec<OpTarget>, RefusedChanges> {
    use automerge::legacy::OpType;
    let checked = catch_library_panic(|| {
        let decoded = change.decode();
        let marks = decoded
            .operations
            .iter()
            .any(|op| matches!(op.action, OpType::MarkBegin(_) | OpType::MarkEnd(_)));
        let targets: Vec<OpTarget> = decoded
            .operations
            .iter()
            .map(|op| OpTarget {
                obj: op.obj.clone(),
                key: op.key.clone(),
                makes: matches!(op.action, OpType::Make(_)),
            })
            .collect();
        (
            marks,
            Change::from(decoded).hash() == change.hash(),
            targets,
        )
    });
    match checked {
        Some((false, true, targets)) => Ok(targets),
        Some((true, _, _)) => Err(RefusedChanges::TextMarks(change.hash())),
        _ => Err(RefusedChanges::NotCanonical(change.hash())),
    }
}

/// Applies received changes to `doc`. Automerge panics on some damaged changes
/// (found by fuzzing: an unwrap in its op import); the panic becomes an error.
/// On `Err` the document may be half-changed: the caller must drop it and
/// reload it from its store.
///
/// Automerge also *accepts* some changes it cannot hold (found by fuzzing):
/// an operation that refers to something the document does not have (a list
/// element that does not exist, `HEAD` without inserting, a map key in a list,
/// an unknown predecessor) is dropped from the document, or loses its
/// predecessor, while the change is recorded as applied. Automerge 0.12
/// rebuilds every change it hands out from the document's operations, so
/// from then on such a journal cannot save and load (compaction refuses
/// forever), cannot send the change (`get_changes` and `get_change_by_hash`
/// panic, and its bundles do not decode), and its stored changes, reloaded
/// in one batch, can make the document library fail, so the store no longer
/// opens. So after applying, every new change must rebuild from the document
/// to exactly the change received (same hash); otherwise the batch is refused
/// before anything is stored (see `check_rebuilds`). Two kinds of change that
/// rebuild but still make a saved journal fail to load are refused before
/// applying: one not numbered right after its dependencies
/// (`check_counters`), one holding rich-text marks ([`check_received`]).
pub fn apply_guarded(
    doc: &mut automerge::Automerge,
    checked: &Checked,
) -> Result<(), StorageFailure> {
    let (before, received) = apply_unverified(doc, checked)?;
    check_rebuilds(doc, &before, &received)
}

/// [`apply_guarded`] on the document `holder` keeps (`doc`, `doc_mut` reach
/// it), running `alongside` on the holder, as changed, on this thread while
/// another makes the rebuild check (`check_rebuilds`, a pass over the new
/// operations). Both only read the document; a device reads the activities
/// the changes touched for its view meanwhile, so the check no longer adds
/// to a download's time when a second core is free. `alongside`'s result is
/// returned only when the check passes: on `Err` it is dropped, and the
/// document may be half-changed, as for [`apply_guarded`].
pub fn apply_guarded_alongside<H: Sync, T: Send>(
    holder: &mut H,
    (doc, doc_mut): DocOf<H>,
    checked: &Checked,
    alongside: impl FnOnce(&H) -> T,
) -> Result<T, StorageFailure> {
    let (before, received) = apply_unverified(doc_mut(holder), checked)?;
    let holder: &H = holder;
    std::thread::scope(|scope| {
        let rebuilt = std::thread::Builder::new()
            .spawn_scoped(scope, || check_rebuilds(doc(holder), &before, &received));
        let Ok(rebuilt) = rebuilt else {
            // No thread to be had: the check alone, then the rest.
            check_rebuilds(doc(holder), &before, &received)?;
            return Ok(alongside(holder));
        };
        let done = alongside(holder);
        match rebuilt.join() {
            Ok(Ok(())) => Ok(done),
            Ok(Err(e)) => Err(e),
            // `check_rebuilds` catches the library's panics; anything else
            // is refused like them.
            Err(_) => Err(RefusedChanges::LibraryPanicked.into()),
        }
    })
}

/// How [`apply_guarded_alongside`] reaches the document a holder keeps: to
/// read it, and to change it.
pub type DocOf<H> = (fn(&H) -> &Automerge, fn(&mut H) -> &mut Automerge);

/// What [`apply_guarded`] does before its rebuild check: the counter check
/// and the application. The heads before, and the hashes applied.
fn apply_unverified(
    doc: &mut Automerge,
    checked: &Checked,
) -> Result<(Vec<ChangeHash>, Vec<ChangeHash>), StorageFailure> {
    let changes = checked.changes();
    check_counters(doc, changes)?;
    let before = doc.get_heads();
    let received: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
    match catch_library_panic(|| doc.apply_changes(changes.iter().cloned())) {
        Some(Ok(())) => Ok((before, received)),
        Some(Err(e)) => Err(RefusedChanges::Library(e.to_string()).into()),
        None => Err(RefusedChanges::LibraryPanicked.into()),
    }
}

/// Refuses a change whose operations are not numbered right after those of
/// its dependencies: its `start_op` must be one more than the largest `max_op`
/// among them (1 without dependencies), as Automerge numbers every change it
/// makes. A saved document does not record where a change's operations
/// start: loading takes it from the dependencies, and so refuses a document
/// holding any other change (`InvalidMaxOp`, or `MissingOps`). Automerge
/// applies such a change, and rebuilds it, so only this check sees it (found
/// by fuzzing: an empty change numbered from 1 after the genesis). Reads only
/// change metadata, before anything is applied.
fn check_counters(doc: &automerge::Automerge, changes: &[Change]) -> Result<(), StorageFailure> {
    let in_batch: std::collections::HashMap<ChangeHash, u64> =
        changes.iter().map(|c| (c.hash(), c.max_op())).collect();
    for change in changes {
        let mut deps_max = 0;
        for dep in change.deps() {
            let max_op = match in_batch.get(dep) {
                Some(max_op) => Some(*max_op),
                None => catch_library_panic(|| doc.get_change_meta_by_hash(dep).map(|m| m.max_op))
                    .flatten(),
            };
            // A dependency neither held nor in the batch is refused by
            // [`check_received`]; Automerge would hold the change back.
            let Some(max_op) = max_op else {
                return Ok(());
            };
            deps_max = deps_max.max(max_op);
        }
        if change.start_op().get() != deps_max + 1 {
            return Err(RefusedChanges::MisNumbered {
                change: change.hash(),
                start_op: change.start_op().get(),
                deps_max,
            }
            .into());
        }
    }
    Ok(())
}

/// Checks that the changes `doc` gained since `before` (all of them among
/// `received`) rebuild from its operations to the changes received: what
/// saving, loading, bundling and `get_changes` all do. One pass over the
/// operations of the new changes' counter range, like sending them.
fn check_rebuilds(
    doc: &automerge::Automerge,
    before: &[ChangeHash],
    received: &[ChangeHash],
) -> Result<(), StorageFailure> {
    use automerge::ReadDoc;
    use std::collections::HashSet;
    let rebuilt = catch_library_panic(|| {
        doc.get_changes(before)
            .iter()
            .map(Change::hash)
            .collect::<HashSet<ChangeHash>>()
    });
    let expected: HashSet<&ChangeHash> = received.iter().collect();
    let holds_together = rebuilt.as_ref().is_some_and(|rebuilt| {
        rebuilt.iter().all(|h| expected.contains(h))
            && doc
                .get_heads()
                .iter()
                .all(|h| before.contains(h) || rebuilt.contains(h))
    });
    if holds_together {
        return Ok(());
    }
    // Refused: name the change (slower, but only for a refused batch).
    let rebuilds = |h: &ChangeHash| {
        catch_library_panic(|| doc.get_change_by_hash(h).map(|c| c.hash())).flatten() == Some(*h)
    };
    let culprit = received.iter().find(|h| !rebuilds(h));
    Err(RefusedChanges::Dangling(culprit.copied()).into())
}
