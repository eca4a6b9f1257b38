//! An upload planned from a journal's appended changes alone, without its
//! Automerge document.
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
//! Whenever the appended changes cannot tell (a head the relay names that is
//! neither appended nor the snapshot's, a snapshot head not shown held,
//! appended rows out of causal order), the answer is `None` and the caller
//! loads the document: never a guess.

use std::collections::{HashMap, HashSet};

use automerge::{Change, ChangeHash};

use super::{Batch, BatchChange};
use crate::limits::{MAX_BATCH_BYTES, MAX_CHANGES_PER_BATCH};

/// A journal's snapshot heads and the changes appended after its snapshot.
#[derive(Debug)]
pub struct AppendedChanges {
    snapshot_heads: Vec<ChangeHash>,
    changes: Vec<Change>,
    /// Each appended change's place in `changes`.
    index: HashMap<ChangeHash, usize>,
}

impl AppendedChanges {
    /// `changes` in the order they were appended; `snapshot_heads` are the
    /// heads of the snapshot they were appended to (the genesis heads while
    /// the journal has none).
    pub fn new(snapshot_heads: Vec<ChangeHash>, appended: Vec<Change>) -> AppendedChanges {
        let mut index = HashMap::new();
        let mut changes = Vec::new();
        // A change stored twice counts once, where it first came.
        for change in appended {
            if let std::collections::hash_map::Entry::Vacant(place) = index.entry(change.hash()) {
                place.insert(changes.len());
                changes.push(change);
            }
        }
        AppendedChanges {
            snapshot_heads,
            changes,
            index,
        }
    }

    /// The heads of the snapshot the changes were appended to.
    pub fn snapshot_heads(&self) -> &[ChangeHash] {
        &self.snapshot_heads
    }

    /// Up to `limit` hashes of the appended changes the holder of `known`
    /// lacks, in causal order, as [`super::missing_from`] would answer with
    /// the document; `None` when the appended changes cannot tell.
    pub fn missing(&self, known: &[ChangeHash], limit: usize) -> Option<Vec<ChangeHash>> {
        let held = self.held_by(known)?;
        let mut emitted: HashSet<ChangeHash> = HashSet::new();
        let mut plan = Vec::new();
        for (i, change) in self.changes.iter().enumerate() {
            let hash = change.hash();
            if held.contains(&i) {
                continue;
            }
            // Each change must come after what it depends on, as appended
            // changes always do; if not, the document orders them.
            let ordered = change.deps().iter().all(|dep| match self.index.get(dep) {
                Some(d) => held.contains(d) || emitted.contains(dep),
                None => true,
            });
            if !ordered {
                return None;
            }
            emitted.insert(hash);
            if plan.len() < limit {
                plan.push(hash);
            }
        }
        Some(plan)
    }

    /// Which of `hashes` (changes of this journal) the holder of `known`
    /// holds: appended ones it holds, and any other (inside the snapshot,
    /// which it holds whole); `None` when the appended changes cannot tell.
    pub fn held_among(
        &self,
        known: &[ChangeHash],
        hashes: &[ChangeHash],
    ) -> Option<Vec<ChangeHash>> {
        let held = self.held_by(known)?;
        let holds = |h: &ChangeHash| self.index.get(h).is_none_or(|i| held.contains(i));
        Some(hashes.iter().copied().filter(|h| holds(h)).collect())
    }

    /// The appended changes the holder of `known` holds (their places), when
    /// it is sure to hold the whole snapshot; `None` otherwise.
    fn held_by(&self, known: &[ChangeHash]) -> Option<HashSet<usize>> {
        let genesis = crate::journal::genesis_heads();
        let mut held = HashSet::new();
        let mut reached_in_snapshot: HashSet<ChangeHash> = HashSet::new();
        let mut stack = Vec::new();
        for hash in known {
            match self.index.get(hash) {
                Some(&i) => stack.push(i),
                None if self.snapshot_heads.contains(hash) || genesis.contains(hash) => {
                    reached_in_snapshot.insert(*hash);
                }
                // Inside the snapshot, or not in this journal: what it
                // implies is known only to the document.
                None => return None,
            }
        }
        while let Some(i) = stack.pop() {
            if !held.insert(i) {
                continue;
            }
            for dep in self.changes[i].deps() {
                match self.index.get(dep) {
                    Some(&d) => stack.push(d),
                    None => {
                        reached_in_snapshot.insert(*dep);
                    }
                }
            }
        }
        // A snapshot head has no descendant inside the snapshot: it is held
        // only if named or reached from a held appended change.
        let whole_snapshot = self
            .snapshot_heads
            .iter()
            .all(|h| genesis.contains(h) || reached_in_snapshot.contains(h));
        whole_snapshot.then_some(held)
    }

    /// The first changes of `plan` (appended changes, in causal order) that
    /// fit one upload batch of at most `max_ops` operations, as a change
    /// list; `None` when one is not appended here.
    pub fn batch(&self, plan: &[ChangeHash], max_ops: u64) -> Option<Batch> {
        let mut changes = Vec::new();
        let mut listed = Vec::new();
        let (mut ops, mut bytes) = (0_u64, 0_usize);
        for hash in plan.iter().take(MAX_CHANGES_PER_BATCH) {
            let change = &self.changes[*self.index.get(hash)?];
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
        Some(Batch {
            changes,
            bundle: None,
            listed: Some(listed),
        })
    }
}
