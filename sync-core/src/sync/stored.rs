//! An upload planned from what the store keeps beside a journal's snapshot,
//! without its Automerge document.
//!
//! Loading the document is what a one-shot `sync` of a few new activities
//! paid for: 94 % of its time at 50,000 activities. But a store keeps a
//! journal as a snapshot plus the changes appended since, and it keeps the
//! snapshot's heads (`snapshot_heads-v1`). When the relay's heads show that
//! it holds the whole snapshot, what it lacks can only be among the appended
//! changes, and their own dependencies tell which: a change is held when it
//! is one of the relay's heads or an ancestor of one. The changes then
//! travel as they are stored, as a change list (a bundle needs the document).
//!
//! A compaction that folded changes the relay lacked into the snapshot also
//! made their upload ready (`store::ReadyUpload`): its batches, bundled, and
//! the heads they build on (what the relay had acknowledged). Those changes
//! then come first, and that base takes the snapshot's place: a first sync
//! after an import sends the batches as they are, with no document loaded.
//!
//! Whenever the stored changes cannot tell (a head the relay names that is
//! neither among them nor the base, a base head not shown held, changes out
//! of causal order, a plan that starts inside a ready batch), the answer is
//! `None` and the caller loads the document: never a guess.

use std::collections::{HashMap, HashSet};

use automerge::{Change, ChangeHash};

use super::{Batch, BatchChange};
use crate::limits::{MAX_BATCH_BYTES, MAX_CHANGES_PER_BATCH};
use crate::store::ReadyUpload;

/// A journal's changes beyond a base the relay is known to have held, as
/// the store keeps them: a ready upload's batches, then the changes
/// appended after the snapshot.
#[derive(Debug)]
pub struct StoredChanges {
    snapshot_heads: Vec<ChangeHash>,
    /// What every change here builds on: the ready upload's base, or the
    /// snapshot's heads without one.
    base: Vec<ChangeHash>,
    /// The ready upload's batches (empty without one).
    ready: Vec<Vec<BatchChange>>,
    appended: Vec<Change>,
    /// Every change's hash and dependencies, in order: ready, then appended.
    order: Vec<(ChangeHash, Vec<ChangeHash>)>,
    /// Each change's place in `order`, and where its bytes are.
    index: HashMap<ChangeHash, (usize, Place)>,
}

/// Where a stored change's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// In ready batch `.0`, at position `.1`.
    Ready(usize, usize),
    /// In `appended`, at this position.
    Appended(usize),
}

/// The next batch of a plan, from the stored changes.
#[derive(Debug)]
pub enum StoredBatch {
    /// Made of appended changes: ready to send.
    Appended(Batch),
    /// Ready batch `number`, whole: its bytes are in the store.
    Ready {
        number: u32,
        changes: Vec<BatchChange>,
    },
}

impl StoredChanges {
    /// `appended` in the order they were appended; `snapshot_heads` are the
    /// heads of the snapshot they were appended to (the genesis heads while
    /// the journal has none).
    pub fn new(snapshot_heads: Vec<ChangeHash>, appended: Vec<Change>) -> StoredChanges {
        StoredChanges::with_ready(snapshot_heads, None, appended)
    }

    /// [`StoredChanges::new`] after the upload a compaction made ready of
    /// this snapshot, when one is kept: its changes come first, and its base
    /// takes the snapshot's place. One made of another snapshot is ignored.
    pub fn with_ready(
        snapshot_heads: Vec<ChangeHash>,
        ready: Option<ReadyUpload>,
        appended: Vec<Change>,
    ) -> StoredChanges {
        let ready = ready.filter(|r| r.snapshot_heads == snapshot_heads);
        let mut stored = StoredChanges {
            base: ready
                .as_ref()
                .map_or_else(|| snapshot_heads.clone(), |r| r.base.clone()),
            snapshot_heads,
            ready: Vec::new(),
            appended: Vec::new(),
            order: Vec::new(),
            index: HashMap::new(),
        };
        for (b, batch) in ready
            .map(|r| r.batches)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            for (i, change) in batch.iter().enumerate() {
                stored.add(change.hash, &change.deps, Place::Ready(b, i));
            }
            stored.ready.push(batch);
        }
        for change in appended {
            let place = Place::Appended(stored.appended.len());
            // A change stored twice counts once, where it first came.
            if stored.add(change.hash(), change.deps(), place) {
                stored.appended.push(change);
            }
        }
        stored
    }

    /// Adds a change to the order unless it is there; true if added.
    fn add(&mut self, hash: ChangeHash, deps: &[ChangeHash], place: Place) -> bool {
        if self.index.contains_key(&hash) {
            return false;
        }
        self.index.insert(hash, (self.order.len(), place));
        self.order.push((hash, deps.to_vec()));
        true
    }

    /// The heads of the snapshot the changes were appended to.
    pub fn snapshot_heads(&self) -> &[ChangeHash] {
        &self.snapshot_heads
    }

    /// Up to `limit` hashes of the stored changes the holder of `known`
    /// lacks, in causal order, as [`super::missing_from`] would answer with
    /// the document; `None` when the stored changes cannot tell.
    pub fn missing(&self, known: &[ChangeHash], limit: usize) -> Option<Vec<ChangeHash>> {
        let held = self.held_by(known)?;
        let mut emitted: HashSet<ChangeHash> = HashSet::new();
        let mut plan = Vec::new();
        for (i, (hash, deps)) in self.order.iter().enumerate() {
            if held.contains(&i) {
                continue;
            }
            // Each change must come after what it depends on, as stored
            // changes always do; if not, the document orders them.
            let ordered = deps.iter().all(|dep| match self.index.get(dep) {
                Some((d, _)) => held.contains(d) || emitted.contains(dep),
                None => true,
            });
            if !ordered {
                return None;
            }
            emitted.insert(*hash);
            if plan.len() < limit {
                plan.push(*hash);
            }
        }
        Some(plan)
    }

    /// Which of `hashes` (changes of this journal) the holder of `known`
    /// holds: stored ones it holds, and any other (inside the base, which
    /// it holds whole); `None` when the stored changes cannot tell.
    pub fn held_among(
        &self,
        known: &[ChangeHash],
        hashes: &[ChangeHash],
    ) -> Option<Vec<ChangeHash>> {
        let held = self.held_by(known)?;
        let holds = |h: &ChangeHash| self.index.get(h).is_none_or(|(i, _)| held.contains(i));
        Some(hashes.iter().copied().filter(|h| holds(h)).collect())
    }

    /// The stored changes the holder of `known` holds (their places in
    /// `order`), when it is sure to hold the whole base; `None` otherwise.
    fn held_by(&self, known: &[ChangeHash]) -> Option<HashSet<usize>> {
        let genesis = crate::journal::genesis_heads();
        let mut held = HashSet::new();
        let mut reached_in_base: HashSet<ChangeHash> = HashSet::new();
        let mut stack = Vec::new();
        for hash in known {
            match self.index.get(hash) {
                Some((i, _)) => stack.push(*i),
                None if self.base.contains(hash) || genesis.contains(hash) => {
                    reached_in_base.insert(*hash);
                }
                // Inside the base, or not in this journal: what it implies
                // is known only to the document.
                None => return None,
            }
        }
        while let Some(i) = stack.pop() {
            if !held.insert(i) {
                continue;
            }
            for dep in &self.order[i].1 {
                match self.index.get(dep) {
                    Some((d, _)) => stack.push(*d),
                    None => {
                        reached_in_base.insert(*dep);
                    }
                }
            }
        }
        // A base head has no descendant inside the base: it is held only if
        // named or reached from a held stored change.
        let whole_base = self
            .base
            .iter()
            .all(|h| genesis.contains(h) || reached_in_base.contains(h));
        whole_base.then_some(held)
    }

    /// The first changes of `plan` (stored changes, in causal order) that
    /// make one upload batch: the whole ready batch it starts with, or the
    /// appended changes it starts with that fit one batch of at most
    /// `max_ops` operations, as a change list. `None` when the plan starts
    /// with a change not stored here, or inside a ready batch, or with a
    /// ready batch it does not hold whole.
    pub fn batch(&self, plan: &[ChangeHash], max_ops: u64) -> Option<StoredBatch> {
        match self.index.get(plan.first()?)?.1 {
            Place::Ready(number, 0) => {
                let changes = &self.ready[number];
                let whole = plan.len() >= changes.len()
                    && changes.iter().zip(plan).all(|(c, h)| c.hash == *h);
                whole.then(|| StoredBatch::Ready {
                    number: u32::try_from(number).unwrap_or(u32::MAX),
                    changes: changes.clone(),
                })
            }
            Place::Ready(..) => None,
            Place::Appended(_) => Some(StoredBatch::Appended(self.appended_batch(plan, max_ops))),
        }
    }

    /// The appended changes `plan` starts with that fit one batch.
    fn appended_batch(&self, plan: &[ChangeHash], max_ops: u64) -> Batch {
        let mut changes = Vec::new();
        let mut listed = Vec::new();
        let (mut ops, mut bytes) = (0_u64, 0_usize);
        for hash in plan.iter().take(MAX_CHANGES_PER_BATCH) {
            let Some((_, Place::Appended(i))) = self.index.get(hash) else {
                break;
            };
            let change = &self.appended[*i];
            let (n, size) = (change.len() as u64, change.raw_bytes().len());
            if !changes.is_empty() && (ops + n > max_ops || bytes + size > MAX_BATCH_BYTES) {
                break;
            }
            ops += n;
            bytes += size;
            changes.push(BatchChange {
                hash: *hash,
                author: change.actor_id().clone(),
                deps: change.deps().to_vec(),
            });
            listed.push(change.clone());
        }
        Batch {
            changes,
            bundle: None,
            listed: Some(listed),
        }
    }
}
