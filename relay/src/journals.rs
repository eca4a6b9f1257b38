//! The relay's journals: every centre's journal in one redb store
//! (`journals.redb`, the same store code the devices use), with a bounded
//! number loaded in memory at once.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use automerge::{Change, ChangeHash, ReadDoc};
use chrono::{DateTime, Utc};
use sync_core::journal::Journal;
use sync_core::limits::COMPACT_AFTER_CHANGES;
use sync_core::store::{JournalId, JournalInfo, OpenError, Replacement, Store, StoreError};
use sync_core::sync::memory::check_received;
use sync_core::sync::{RelayStorage, StorageFailure, SyncStorage};
use sync_core::{ActivityId, JournalError};
use uuid::Uuid;

use crate::registry::Registry;

/// Journals kept loaded at once. Loading needs about 8× the memory the loaded
/// document keeps, and a 10,000-activity journal keeps ~12 MiB; 16 journals keep
/// the relay under ~200 MiB of documents however many centres it serves, while
/// a busy centre's journal stays loaded between its devices' sessions.
pub const MAX_JOURNALS_IN_MEMORY: usize = 16;

#[derive(Debug)]
struct Loaded {
    journal: Journal,
    appended: u64,
}

/// Why an erasure was not made (nothing was changed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EraseError {
    #[error("no centre's journal holds activity {0}")]
    NotFound(ActivityId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The relay's journal storage.
#[derive(Debug)]
pub struct RelayJournals {
    store: Store,
    registry: Registry,
    loaded: HashMap<Uuid, Loaded>,
    /// Least recently used first.
    recency: VecDeque<Uuid>,
}

impl RelayJournals {
    /// Opens (creating if needed) `journals.redb` in `dir`.
    pub fn open(dir: &Path, registry: Registry) -> Result<RelayJournals, OpenError> {
        let path = dir.join("journals.redb");
        let store = match Store::open(&path) {
            Err(OpenError::Missing(_)) => Store::create_relay(&path, "relay")?,
            other => other?,
        };
        Ok(RelayJournals {
            store,
            registry,
            loaded: HashMap::new(),
            recency: VecDeque::new(),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Drops every loaded journal; they reload from the store on next use.
    /// Called after a session panicked, when a document may be half-changed.
    pub fn evict_all(&mut self) {
        self.loaded.clear();
        self.recency.clear();
    }

    /// Erases `activity` from the journal holding it (docs/ERASURE.md): that
    /// journal is rewritten without it under the next epoch, then the whole
    /// journals file is rewritten so no page keeps it. Devices adopt the new
    /// journal at their next sync. Returns the journal as it now is.
    pub fn erase_activity(
        &mut self,
        activity: ActivityId,
        now: DateTime<Utc>,
    ) -> Result<JournalInfo, EraseError> {
        let actor = self.store.device_id().actor();
        let (mut info, rewritten) = match self.loaded_holder(activity)? {
            Some((info, loaded)) => (info, loaded.rewritten_without(&[activity], actor, now)?),
            None => {
                let (info, stored) = self.stored_holder(activity)?;
                (info, stored.rewritten_without(&[activity], actor, now)?)
            }
        };
        // The copy in memory, if any, is about to be replaced.
        self.evict(info.id.0);
        info.epoch += 1;
        let with = Replacement {
            epoch: info.epoch,
            ..Replacement::default()
        };
        self.store.replace_journal(info.id, &rewritten, with)?;
        self.store.rewrite_file()?;
        Ok(info)
    }

    /// The loaded journal holding `activity`: a centre that synced lately is
    /// in memory, and looking there costs no loading (measured with
    /// `cargo bench -p relay --bench erasure`).
    fn loaded_holder(
        &self,
        activity: ActivityId,
    ) -> Result<Option<(JournalInfo, &Journal)>, EraseError> {
        for (id, loaded) in &self.loaded {
            if loaded.journal.contains(activity)? {
                let info = self.store.journal_info(JournalId(*id))?;
                return Ok(Some((info, &loaded.journal)));
            }
        }
        Ok(None)
    }

    /// Loads the journals not in memory one by one until one holds `activity`.
    fn stored_holder(&self, activity: ActivityId) -> Result<(JournalInfo, Journal), EraseError> {
        for info in self.store.journals()? {
            if self.loaded.contains_key(&info.id.0) {
                continue;
            }
            let journal = self.store.load_journal(info.id)?;
            if journal.contains(activity)? {
                return Ok((info, journal));
            }
        }
        Err(EraseError::NotFound(activity))
    }

    fn evict(&mut self, journal: Uuid) {
        self.loaded.remove(&journal);
        self.recency.retain(|j| *j != journal);
    }

    /// Number of journals loaded now (for tests and metrics).
    pub fn loaded_count(&self) -> usize {
        self.loaded.len()
    }

    fn get(&mut self, journal: Uuid) -> Result<&mut Loaded, StorageFailure> {
        if !self.loaded.contains_key(&journal) {
            self.load(journal)?;
        }
        self.recency.retain(|j| *j != journal);
        self.recency.push_back(journal);
        Ok(self.loaded.get_mut(&journal).expect("loaded above"))
    }

    fn load(&mut self, journal: Uuid) -> Result<(), StorageFailure> {
        let local = |e: &dyn std::fmt::Display| StorageFailure::local(e.to_string());
        let id = JournalId(journal);
        let centre = self.registry.centre(journal).map_err(|e| local(&e))?;
        self.store
            .ensure_journal(&JournalInfo {
                id,
                centre: centre.name,
                municipality: centre.municipality,
                epoch: 0,
            })
            .map_err(|e| local(&e))?;
        let loaded = Loaded {
            journal: self.store.load_journal(id).map_err(|e| local(&e))?,
            appended: self.store.appended_count(id).map_err(|e| local(&e))?,
        };
        while self.loaded.len() >= MAX_JOURNALS_IN_MEMORY {
            match self.recency.pop_front() {
                Some(old) => self.loaded.remove(&old),
                None => break,
            };
        }
        self.loaded.insert(journal, loaded);
        Ok(())
    }

    fn compact_if_needed(&mut self, journal: Uuid) {
        let Some(loaded) = self.loaded.get_mut(&journal) else {
            return;
        };
        if loaded.appended < COMPACT_AFTER_CHANGES {
            return;
        }
        match self.store.compact(JournalId(journal), &loaded.journal) {
            Ok(()) => loaded.appended = 0,
            // Housekeeping only: the changes stay durable as appended rows.
            Err(e) => tracing::warn!(%journal, error = %e, "compaction failed"),
        }
    }
}

impl SyncStorage for RelayJournals {
    fn heads(&mut self, journal: Uuid) -> Result<Vec<ChangeHash>, StorageFailure> {
        Ok(self.get(journal)?.journal.heads())
    }

    fn epoch(&mut self, journal: Uuid) -> Result<u32, StorageFailure> {
        self.get(journal)?;
        self.store
            .epoch(JournalId(journal))
            .map_err(|e| StorageFailure::local(e.to_string()))
    }

    fn contains_all(
        &mut self,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure> {
        let doc = self.get(journal)?.journal.doc();
        Ok(hashes.iter().all(|h| doc.get_change_by_hash(h).is_some()))
    }

    fn changes_since(
        &mut self,
        journal: Uuid,
        known: &[ChangeHash],
    ) -> Result<Vec<Change>, StorageFailure> {
        let doc = self.get(journal)?.journal.doc();
        let known: Vec<ChangeHash> = known
            .iter()
            .copied()
            .filter(|h| doc.get_change_by_hash(h).is_some())
            .collect();
        Ok(doc.get_changes(&known))
    }

    fn apply_durably(
        &mut self,
        journal: Uuid,
        changes: Vec<Change>,
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        let loaded = self.get(journal)?;
        check_received(loaded.journal.doc(), &changes)?;
        let mut new: Vec<Change> = changes
            .into_iter()
            .filter(|c| loaded.journal.doc().get_change_by_hash(&c.hash()).is_none())
            .collect();
        if new.is_empty() {
            return Ok(loaded.journal.heads());
        }
        // Into memory, then onto disk; if the disk write fails the journal is
        // dropped from memory. The `Ack` is sent only after this returns Ok, so
        // the heads it names are always on disk.
        let result = sync_core::sync::apply_guarded(loaded.journal.doc_mut(), new.clone())
            .and_then(|()| {
                self.store
                    .append_remote(JournalId(journal), &mut new, None, &[])
                    .map_err(|e| StorageFailure::local(e.to_string()))
            });
        match result {
            Ok(()) => {
                let loaded = self.loaded.get_mut(&journal).expect("loaded above");
                loaded.appended += new.len() as u64;
                let heads = loaded.journal.heads();
                self.compact_if_needed(journal);
                Ok(heads)
            }
            Err(e) => {
                self.loaded.remove(&journal);
                Err(e)
            }
        }
    }

    fn bundle(&mut self, journal: Uuid, hashes: &[ChangeHash]) -> Result<Vec<u8>, StorageFailure> {
        sync_core::sync::memory::bundle_bytes(self.get(journal)?.journal.doc(), hashes)
    }
}

impl RelayStorage for RelayJournals {
    fn erase(&mut self, activity: Uuid) -> Result<Option<(Uuid, u32)>, StorageFailure> {
        match self.erase_activity(ActivityId(activity), Utc::now()) {
            Ok(info) => {
                tracing::info!(%activity, journal = %info.id.0, epoch = info.epoch, "erased");
                Ok(Some((info.id.0, info.epoch)))
            }
            Err(EraseError::NotFound(_)) => Ok(None),
            Err(e) => Err(StorageFailure::local(e.to_string())),
        }
    }
}
