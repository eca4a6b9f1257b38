//! A journal bound to its store: the one place where local edits are made.
//!
//! Every method that changes the journal appends the resulting Automerge
//! change to the store durably before it returns `Ok`. If the append fails,
//! the in-memory journal is reloaded from the store, so memory never holds a
//! change that the disk does not (such a change could otherwise be synced
//! and then lost, or its sequence number reused).

use std::path::Path;

use automerge::Change;
use chrono::{DateTime, Utc};

use crate::activity::{Activity, ActivityId, ActivityPatch};
use crate::journal::{Journal, JournalError, Stamp};
use crate::limits::COMPACT_AFTER_CHANGES;
use crate::store::{DeviceId, JournalId, JournalInfo, NewStore, OpenError, Store, StoreError};

/// Errors from a local edit or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Outcome of [`Replica::import`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Activities added.
    pub added: usize,
    /// Rows skipped because an activity with that id already exists.
    pub already_present: usize,
}

/// Plain-figures status of the home journal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    pub centre: String,
    pub journal_id: JournalId,
    pub device_id: DeviceId,
    pub device_name: String,
    /// Activities that are not deleted.
    pub activities: usize,
    /// Deleted activities (kept as tombstones, restorable).
    pub deleted: usize,
    /// Activities with local changes the relay has not durably acknowledged.
    pub unsent: u64,
}

/// The home journal of a device, open for reading and durable writing.
#[derive(Debug)]
pub struct Replica {
    store: Store,
    journal_id: JournalId,
    journal: Journal,
    /// Changes appended since the last snapshot, to know when to compact.
    appended: u64,
}

impl Replica {
    /// Creates a new store with an empty journal for `centre`.
    pub fn create(path: &Path, new: NewStore<'_>) -> Result<Replica, ReplicaError> {
        Replica::from_store(Store::create(path, new)?)
    }

    /// Opens an existing store and loads its home journal.
    pub fn open(path: &Path) -> Result<Replica, ReplicaError> {
        Replica::from_store(Store::open(path)?)
    }

    fn from_store(store: Store) -> Result<Replica, ReplicaError> {
        let journal_id = store.home_journal();
        let journal = store.load_journal(journal_id)?;
        let appended = store.appended_count(journal_id)?;
        Ok(Replica {
            store,
            journal_id,
            journal,
            appended,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn journal_id(&self) -> JournalId {
        self.journal_id
    }

    pub fn info(&self) -> Result<JournalInfo, ReplicaError> {
        Ok(self.store.journal_info(self.journal_id)?)
    }

    /// Records a new activity; returns once it is durable.
    pub fn add(
        &mut self,
        id: ActivityId,
        patch: &ActivityPatch,
        now: DateTime<Utc>,
    ) -> Result<ActivityId, ReplicaError> {
        let stamp = Stamp {
            author: self.store.device_name(),
            now,
        };
        let change = self.journal.create(id, patch, stamp)?;
        self.persist(vec![change], &[id])?;
        Ok(id)
    }

    /// Changes the given fields; returns false when nothing differed.
    pub fn edit(
        &mut self,
        id: ActivityId,
        patch: &ActivityPatch,
        now: DateTime<Utc>,
    ) -> Result<bool, ReplicaError> {
        let stamp = Stamp {
            author: self.store.device_name(),
            now,
        };
        match self.journal.update(id, patch, stamp)? {
            Some(change) => self.persist(vec![change], &[id]).map(|()| true),
            None => Ok(false),
        }
    }

    /// Marks an activity deleted (`true`) or restores it (`false`); returns
    /// false when it already was in that state.
    pub fn set_deleted(
        &mut self,
        id: ActivityId,
        deleted: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, ReplicaError> {
        let stamp = Stamp {
            author: self.store.device_name(),
            now,
        };
        match self.journal.set_deleted(id, deleted, stamp)? {
            Some(change) => self.persist(vec![change], &[id]).map(|()| true),
            None => Ok(false),
        }
    }

    /// Adds many activities in one durable transaction. Items whose id already
    /// exists are skipped (so importing the same file twice adds nothing).
    pub fn import(
        &mut self,
        items: Vec<(ActivityId, ActivityPatch)>,
        now: DateTime<Utc>,
    ) -> Result<ImportOutcome, ReplicaError> {
        let mut new = Vec::with_capacity(items.len());
        let mut outcome = ImportOutcome::default();
        for (id, patch) in items {
            if self.journal.contains(id)? || new.iter().any(|(n, _)| *n == id) {
                outcome.already_present += 1;
            } else {
                new.push((id, patch));
            }
        }
        if new.is_empty() {
            return Ok(outcome);
        }
        let stamp = Stamp {
            author: self.store.device_name(),
            now,
        };
        let changes = match self.journal.create_many(&new, stamp) {
            Ok(changes) => changes,
            Err(e) => {
                self.reload()?;
                return Err(e.into());
            }
        };
        let ids: Vec<ActivityId> = new.iter().map(|(id, _)| *id).collect();
        self.persist(changes, &ids)?;
        outcome.added = ids.len();
        Ok(outcome)
    }

    pub fn get(&self, id: ActivityId) -> Result<Option<Activity>, ReplicaError> {
        Ok(self.journal.get(id)?)
    }

    /// Every activity, newest first, deleted ones included.
    pub fn activities(&self) -> Result<Vec<Activity>, ReplicaError> {
        Ok(self.journal.activities()?)
    }

    pub fn status(&self) -> Result<Status, ReplicaError> {
        let all = self.journal.activities()?;
        let deleted = all.iter().filter(|a| a.deleted).count();
        Ok(Status {
            centre: self.info()?.centre,
            journal_id: self.journal_id,
            device_id: self.store.device_id(),
            device_name: self.store.device_name().to_owned(),
            activities: all.len() - deleted,
            deleted,
            unsent: self.store.unsent_count(self.journal_id)?,
        })
    }

    /// Folds appended changes into a snapshot when there are many of them.
    /// Returns true if it compacted. Safe to skip: data is durable either way.
    pub fn compact_if_needed(&mut self) -> Result<bool, ReplicaError> {
        if self.appended < COMPACT_AFTER_CHANGES {
            return Ok(false);
        }
        self.compact()?;
        Ok(true)
    }

    /// Folds every appended change into a new snapshot now.
    pub fn compact(&mut self) -> Result<(), ReplicaError> {
        self.store.compact(self.journal_id, &self.journal)?;
        self.appended = 0;
        Ok(())
    }

    /// Appends changes durably; on failure, drops them from memory too.
    fn persist(
        &mut self,
        mut changes: Vec<Change>,
        ids: &[ActivityId],
    ) -> Result<(), ReplicaError> {
        let last = changes
            .last()
            .map(Change::hash)
            .expect("persist is given at least one change");
        let touched: Vec<_> = ids.iter().map(|id| (*id, last)).collect();
        match self
            .store
            .append_local(self.journal_id, &mut changes, &touched)
        {
            Ok(()) => {
                self.appended += changes.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.reload()?;
                Err(e.into())
            }
        }
    }

    fn reload(&mut self) -> Result<(), ReplicaError> {
        self.journal = self.store.load_journal(self.journal_id)?;
        self.appended = self.store.appended_count(self.journal_id)?;
        Ok(())
    }
}
