//! What both stores' caches of loaded journals share (`journals.rs` for
//! redb, `postgres/journals.rs`): a lock per journal that recovers from a
//! panic by dropping what it held, and the order in which journals were
//! used, which decides which to drop past `MAX_JOURNALS_IN_MEMORY`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use uuid::Uuid;

use crate::limits::MAX_JOURNALS_IN_MEMORY;

/// A journal's slot for reading. A panic while it was held for writing
/// (Automerge can panic on some inputs) may have left the journal
/// half-changed: it is dropped and loads again from its store.
pub(crate) fn read_slot<T>(slot: &RwLock<Option<T>>) -> RwLockReadGuard<'_, Option<T>> {
    if slot.is_poisoned() {
        drop(write_slot(slot));
    }
    slot.read().unwrap_or_else(PoisonError::into_inner)
}

/// A journal's slot alone; after a panic while it was held, emptied.
pub(crate) fn write_slot<T>(slot: &RwLock<Option<T>>) -> RwLockWriteGuard<'_, Option<T>> {
    match slot.write() {
        Ok(guard) => guard,
        Err(poisoned) => {
            let mut guard = poisoned.into_inner();
            *guard = None;
            slot.clear_poison();
            guard
        }
    }
}

/// A plain mutex of bookkeeping (ids, counters): a panic elsewhere never
/// leaves it inconsistent, so a poisoned one is used as is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Loaded journals, least recently used first.
#[derive(Debug, Default)]
pub(crate) struct Recency(Mutex<VecDeque<Uuid>>);

impl Recency {
    /// `journal` was used now.
    pub(crate) fn touch(&self, journal: Uuid) {
        let mut recency = lock(&self.0);
        if recency.back() != Some(&journal) {
            recency.retain(|j| *j != journal);
            recency.push_back(journal);
        }
    }

    /// `journal` was loaded: past [`MAX_JOURNALS_IN_MEMORY`], the least
    /// recently used ones are dropped by `drop_if_idle`, which drops one
    /// and says true unless it is in use (a busy one stays; the next load
    /// tries again).
    pub(crate) fn loaded(&self, journal: Uuid, drop_if_idle: impl Fn(Uuid) -> bool) {
        let candidates: Vec<Uuid> = {
            let mut recency = lock(&self.0);
            recency.retain(|j| *j != journal);
            recency.push_back(journal);
            let excess = recency.len().saturating_sub(MAX_JOURNALS_IN_MEMORY);
            recency.iter().take(excess).copied().collect()
        };
        for old in candidates {
            if drop_if_idle(old) {
                self.forget(old);
            }
        }
    }

    /// `journal` is no longer loaded.
    pub(crate) fn forget(&self, journal: Uuid) {
        lock(&self.0).retain(|j| *j != journal);
    }

    pub(crate) fn clear(&self) {
        lock(&self.0).clear();
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// The loaded journals, most recently used first.
    pub(crate) fn most_recent_first(&self) -> Vec<Uuid> {
        lock(&self.0).iter().rev().copied().collect()
    }
}
