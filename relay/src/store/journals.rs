//! Every centre's journal in a redb file of its own, `journals/<id>.redb`
//! (the same [`Store`] the devices use), each behind its own lock.
//!
//! - Sessions of different centres never wait for each other: each journal
//!   has its own read-write lock and its own file, so one centre's upload
//!   (an fsync), download or erasure does not touch another's.
//! - Readers (heads, downloads) share a journal; an upload takes it alone
//!   for the moment it applies and commits its batch.
//! - At most [`MAX_JOURNALS_IN_MEMORY`] journals stay loaded: the least
//!   recently used idle one is closed when another loads.
//! - A journal whose in-memory document may differ from its file (a failed
//!   write, a panic mid-change) is dropped from memory and reloaded from the
//!   file on next use: memory never holds a change the disk lacks.
//! - An erasure rebuilds the journal without holding it and swaps the
//!   rebuilt journal in only if nothing changed meanwhile.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use sync_core::files::FileHash;
use sync_core::journal::Journal;
use sync_core::limits::{MAX_DOWNLOAD_BATCH_OPS, compaction_due};
use sync_core::store::{
    FileDescription, JournalId, JournalInfo, OpenError, PreparedJournal, ReceiveChunkError,
    Replacement, Snapshot, Store, StoreError, StoredFile,
};
use sync_core::sync::{Batch, StorageFailure, apply_guarded, batch_from, holds_all, missing_from};
use sync_core::sync::{Received, check_received};
use sync_core::{ActivityId, JournalError};
use uuid::Uuid;

use super::slots::{self, Recency, lock};
use crate::limits::{
    COMPACT_WHEN_QUIET_FOR, JOURNAL_FILE_CACHE_BYTES, MAX_ERASURE_ATTEMPTS, compaction_overdue,
};
use crate::registry::Registry;

/// What devices read when the relay cannot store now.
pub const DISK_FULL_MESSAGE: &str = "the office server's disk is full; everything is kept on \
     this computer and will be sent later, by itself";

/// Why an erasure was not made (nothing was changed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EraseError {
    #[error("no centre's journal holds activity {0}")]
    NotFound(ActivityId),
    #[error(
        "the journal holding activity {0} kept changing while it was rebuilt without it \
         ({MAX_ERASURE_ATTEMPTS} times); ask again when its devices are quieter"
    )]
    KeptChanging(ActivityId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Storage(StorageFailure),
}

/// A journal loaded from its file.
#[derive(Debug)]
struct Open {
    store: Store,
    journal: Journal,
    epoch: u32,
    /// Changes appended since the last snapshot (compaction folds them in).
    appended: AtomicU64,
    /// Bytes of the changes appended since the last compaction
    /// ([`compaction_due`]).
    appended_bytes: AtomicU64,
    /// Size of its snapshot, as of opening or the last compaction.
    snapshot_bytes: AtomicU64,
    /// When changes were last stored (`None`: not since it was loaded), so
    /// that compaction waits for a quiet moment ([`Journals::maintain`]).
    last_stored: Mutex<Option<Instant>>,
}

/// One journal's place: loaded or not, behind its own lock.
#[derive(Debug, Default)]
struct Slot {
    open: RwLock<Option<Open>>,
    /// A compaction of this journal is running ([`Journals::maintain`]).
    compacting: AtomicBool,
}

/// Marks the one running compaction of a journal; ends when dropped.
#[derive(Debug)]
struct Compacting(Arc<Slot>);

impl Drop for Compacting {
    fn drop(&mut self) {
        self.0.compacting.store(false, Ordering::Release);
    }
}

/// A journal copied for compaction ([`Journals::start_compaction`]); no other
/// compaction of it starts while this exists.
#[derive(Debug)]
pub struct CompactionCopy {
    journal: Uuid,
    doc: automerge::Automerge,
    heads: Vec<ChangeHash>,
    /// Where the next appended change went when the copy was made.
    made_at: u64,
    epoch: u32,
    _running: Compacting,
}

/// How a write to a loaded journal failed.
enum WriteFailure {
    /// Nothing changed; the journal stays loaded.
    Kept(StorageFailure),
    /// Memory may hold what the file does not (or the file must be reopened):
    /// the journal is dropped and reloads from its file.
    Reload(StorageFailure),
}

/// Every journal of the relay.
#[derive(Debug)]
pub struct Journals {
    dir: PathBuf,
    registry: Arc<Registry>,
    /// One slot per journal ever used since start; slots are never removed,
    /// so a journal's file is never opened twice.
    slots: Mutex<HashMap<Uuid, Arc<Slot>>>,
    /// Loaded journals, least recently used first.
    recency: Recency,
}

impl Journals {
    /// The journals in `dir` (one file each), named by the centres of `registry`.
    pub fn new(dir: &Path, registry: Arc<Registry>) -> Journals {
        Journals {
            dir: dir.to_owned(),
            registry,
            slots: Mutex::new(HashMap::new()),
            recency: Recency::default(),
        }
    }

    /// The file of `journal`.
    pub fn path(&self, journal: Uuid) -> PathBuf {
        journal_path(&self.dir, journal)
    }

    /// Number of journals loaded now (for tests and metrics).
    pub fn loaded_count(&self) -> usize {
        self.recency.len()
    }

    /// Drops every loaded journal; each reloads from its file on next use.
    pub fn reload_all(&self) {
        let slots: Vec<Arc<Slot>> = lock(&self.slots).values().cloned().collect();
        for slot in slots {
            *write_slot(&slot) = None;
        }
        self.recency.clear();
    }

    /// A copy of the journal as it is now (for tests, benches and tools).
    pub fn copy_of(&self, journal: Uuid) -> Result<Journal, StorageFailure> {
        self.read(journal, |open| {
            Journal::from_doc(open.journal.doc().fork()).map_err(StorageFailure::local)
        })
    }

    pub fn state(&self, journal: Uuid) -> Result<(u32, Vec<ChangeHash>), StorageFailure> {
        self.read(journal, |open| Ok((open.epoch, open.journal.heads())))
    }

    pub fn contains_all(
        &self,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure> {
        self.read(journal, |open| Ok(holds_all(open.journal.doc(), hashes)))
    }

    pub fn missing(
        &self,
        journal: Uuid,
        epoch: u32,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        self.read(journal, |open| {
            Ok((open.epoch == epoch).then(|| missing_from(open.journal.doc(), known, limit)))
        })
    }

    pub fn batch(
        &self,
        journal: Uuid,
        epoch: u32,
        plan: &[ChangeHash],
    ) -> Result<Option<Batch>, StorageFailure> {
        self.read(journal, |open| {
            if open.epoch != epoch {
                return Ok(None);
            }
            batch_from(open.journal.doc(), plan, MAX_DOWNLOAD_BATCH_OPS).map(Some)
        })
    }

    /// The size the record of `activity` states for `file`, if it refers to
    /// it: one lookup in the loaded journal.
    pub fn attachment_bytes(
        &self,
        journal: Uuid,
        activity: ActivityId,
        file: FileHash,
    ) -> Result<Option<u64>, StorageFailure> {
        self.read(journal, |open| {
            let found = open.journal.referred_file(activity, file);
            found.map_err(StorageFailure::local)
        })
    }

    pub fn held_file(
        &self,
        journal: Uuid,
        hash: FileHash,
    ) -> Result<Option<StoredFile>, StorageFailure> {
        self.read(journal, |open| open.store.file(hash).map_err(failure))
    }

    /// Every file the journal's file holds, whole or in part, by hash.
    pub fn files(&self, journal: Uuid) -> Result<Vec<StoredFile>, StorageFailure> {
        let mut files = self.read(journal, |open| open.store.files().map_err(failure))?;
        files.sort_by_key(|f| f.hash.0);
        Ok(files)
    }

    /// Makes `copy` the journal's whole content under `epoch` (a journal
    /// copied from another store: `relay migrate-store`), in one durable
    /// transaction.
    pub fn put_copy(
        &self,
        journal: Uuid,
        epoch: u32,
        copy: &Journal,
    ) -> Result<(), StorageFailure> {
        let prepared = PreparedJournal::of(copy, false).map_err(failure)?;
        let whole = Journal::from_doc(copy.doc().fork()).map_err(StorageFailure::local)?;
        self.write(journal, |open| {
            let with = Replacement {
                epoch,
                ..Replacement::default()
            };
            let id = JournalId(journal);
            let reload = |e: StoreError| WriteFailure::Reload(failure(e));
            open.store
                .replace_prepared(id, &prepared, with)
                .map_err(reload)?;
            open.journal = whole;
            open.epoch = epoch;
            open.appended.store(0, Ordering::Relaxed);
            open.appended_bytes.store(0, Ordering::Relaxed);
            let snapshot = open.store.snapshot_len(id).map_err(reload)?;
            open.snapshot_bytes.store(snapshot, Ordering::Relaxed);
            Ok(())
        })
    }

    /// Bytes of every file the journal's file holds, whole or in part.
    pub fn file_bytes(&self, journal: Uuid) -> Result<u64, StorageFailure> {
        self.read(journal, |open| {
            let files = open.store.files().map_err(failure)?;
            Ok(files.iter().map(|f| f.bytes).sum())
        })
    }

    /// Stores a chunk of a file durably. Under the journal's shared lock:
    /// an erasure's swap, which rewrites the file, holds it alone, so no
    /// chunk lands between its copy and its swap.
    pub fn receive_file_chunk(
        &self,
        journal: Uuid,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<Result<StoredFile, ReceiveChunkError>, StorageFailure> {
        self.read(journal, |open| {
            match open.store.receive_file_chunk(file, number, chunk) {
                Err(ReceiveChunkError::Store(e)) => Err(failure(e)),
                other => Ok(other),
            }
        })
    }

    pub fn file_chunk(
        &self,
        journal: Uuid,
        hash: FileHash,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageFailure> {
        self.read(journal, |open| {
            open.store.file_chunk(hash, number).map_err(failure)
        })
    }

    /// Applies received changes, in memory then on disk; `Ack` is sent only
    /// after this returns, so the heads it names are always on disk.
    pub fn apply_durably(
        &self,
        journal: Uuid,
        epoch: u32,
        changes: Received,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        self.write(journal, |open| {
            if open.epoch != epoch {
                return Ok(None);
            }
            let checked =
                check_received(open.journal.doc(), changes).map_err(WriteFailure::Kept)?;
            if checked.is_empty() {
                return Ok(Some(open.journal.heads()));
            }
            apply_guarded(open.journal.doc_mut(), &checked).map_err(WriteFailure::Reload)?;
            let mut new = checked.into_changes();
            open.store
                .append_remote(JournalId(journal), &mut new, (None, None), &[])
                .map_err(|e| WriteFailure::Reload(failure(e)))?;
            open.appended.fetch_add(new.len() as u64, Ordering::Relaxed);
            let bytes = new.iter().map(|c| c.raw_bytes().len() as u64).sum();
            open.appended_bytes.fetch_add(bytes, Ordering::Relaxed);
            *lock(&open.last_stored) = Some(Instant::now());
            Ok(Some(open.journal.heads()))
        })
    }

    /// Folds the journal's appended changes into a new snapshot once there
    /// are enough of them ([`compaction_due`]) and no change was stored for
    /// [`COMPACT_WHEN_QUIET_FOR`], or at once when far more are appended
    /// ([`compaction_overdue`]). Every stored batch asks, at once and again
    /// after that quiet time: a compaction saves and reloads the whole
    /// journal, which during a large upload took the CPU the upload needed
    /// (45 % of the relay's time in a 50,000-activity first sync). One
    /// compaction per journal runs at a time; a call meanwhile returns at once.
    pub fn maintain(&self, journal: Uuid) {
        self.maintain_at(journal, Instant::now());
    }

    /// [`Journals::maintain`] as if it were `now`; true when it compacted.
    pub fn maintain_at(&self, journal: Uuid, now: Instant) -> bool {
        let due = self.read(journal, |open| {
            let (appended, bytes, snapshot) = (
                open.appended.load(Ordering::Relaxed),
                open.appended_bytes.load(Ordering::Relaxed),
                open.snapshot_bytes.load(Ordering::Relaxed),
            );
            let quiet = lock(&open.last_stored)
                .is_none_or(|at| now.saturating_duration_since(at) >= COMPACT_WHEN_QUIET_FOR);
            Ok(compaction_due(appended, bytes, snapshot) && quiet
                || compaction_overdue(appended, bytes))
        });
        if due != Ok(true) {
            return false;
        }
        self.start_compaction(journal)
            .is_some_and(|copy| self.finish_compaction(copy))
    }

    /// Compacts, one at a time, every journal whose file holds enough
    /// appended changes to be due ([`compaction_due`]); `serve` runs it once
    /// as it starts. A relay stopped before a journal's quiet-time compaction
    /// would otherwise fold those changes only after a device next stores
    /// something, and replay them one by one at every load meanwhile (an
    /// office's first download waited for that). A journal not due is not
    /// loaded: its counts are read from its file. Returns how many compacted.
    pub fn compact_those_due(&self) -> usize {
        let journals = match self.journal_files() {
            Ok(journals) => journals,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the journals to compact");
                return 0;
            }
        };
        journals
            .into_iter()
            .filter(|journal| {
                self.due_by_file(*journal) && self.maintain_at(*journal, Instant::now())
            })
            .count()
    }

    /// True when `journal`'s appended changes make a compaction due, as its
    /// file says (or its memory, when loaded); false when it cannot tell.
    fn due_by_file(&self, journal: Uuid) -> bool {
        let slot = self.slot(journal);
        // Held while the file is open here, so nothing else opens it meanwhile.
        let guard = write_slot(&slot);
        if let Some(open) = guard.as_ref() {
            return compaction_due(
                open.appended.load(Ordering::Relaxed),
                open.appended_bytes.load(Ordering::Relaxed),
                open.snapshot_bytes.load(Ordering::Relaxed),
            );
        }
        let Ok(store) = Store::open_with_cache(&self.path(journal), JOURNAL_FILE_CACHE_BYTES)
        else {
            return false;
        };
        let id = JournalId(journal);
        match (store.appended(id), store.snapshot_len(id)) {
            (Ok(appended), Ok(snapshot)) => {
                compaction_due(appended.changes, appended.bytes, snapshot)
            }
            _ => false,
        }
    }

    /// Copies the journal for a compaction: uploads wait only for the copy
    /// (milliseconds), not for saving and checking it. `None` when one is
    /// already under way (or the journal does not load).
    pub fn start_compaction(&self, journal: Uuid) -> Option<CompactionCopy> {
        let slot = self.slot(journal);
        if slot.compacting.swap(true, Ordering::AcqRel) {
            return None;
        }
        let running = Compacting(slot);
        let copied = self.read(journal, |open| {
            let made_at = open.store.append_end(JournalId(journal)).map_err(failure)?;
            Ok((
                open.journal.doc().clone(),
                open.journal.heads(),
                made_at,
                open.epoch,
            ))
        });
        let (doc, heads, made_at, epoch) = copied.ok()?;
        Some(CompactionCopy {
            journal,
            doc,
            heads,
            made_at,
            epoch,
            _running: running,
        })
    }

    /// Saves and checks the copy while uploads go on, then writes it as the
    /// journal's snapshot: the changes appended since the copy stay appended.
    /// Put off (changing nothing) if an erasure replaced the journal since.
    /// Returns whether the snapshot was written.
    pub fn finish_compaction(&self, copy: CompactionCopy) -> bool {
        let CompactionCopy {
            journal,
            doc,
            heads,
            made_at,
            epoch,
            _running,
        } = copy;
        let written = Snapshot::check(doc.save(), &heads).and_then(|snapshot| {
            drop(doc);
            let compacted = self.read(journal, |open| {
                if open.epoch != epoch {
                    return Err(StorageFailure::local(
                        "the journal was erased from meanwhile",
                    ));
                }
                let kept = open
                    .store
                    .compact_to(JournalId(journal), &snapshot, made_at)
                    .map_err(failure)?;
                open.appended.store(kept.changes, Ordering::Relaxed);
                open.appended_bytes.store(kept.bytes, Ordering::Relaxed);
                open.snapshot_bytes
                    .store(snapshot.len() as u64, Ordering::Relaxed);
                Ok(())
            });
            compacted.map_err(|e| StoreError::CompactionMismatch(e.to_string()))
        });
        if let Err(e) = written {
            // Housekeeping only: the changes stay durable as appended rows.
            tracing::debug!(%journal, error = %e, "compaction put off");
            return false;
        }
        tracing::info!(%journal, "journal compacted");
        // The pages of the deleted changes go back to the file system (a few
        // milliseconds, uploads to this journal waiting); failing that, the
        // file is only larger than it needs to be.
        let shrunk = self.write(journal, |open| {
            open.store
                .shrink_file()
                .map_err(|e| WriteFailure::Kept(failure(e)))
        });
        if let Err(e) = shrunk {
            tracing::debug!(%journal, error = %e, "file not shrunk");
        }
        self.drop_unreferenced_files(journal);
        true
    }

    /// After a compaction: removes the files no record of the journal refers
    /// to any more (detached, or a thumbnail whose photo was). Which files
    /// the records name is read with the journal shared (a pass over its
    /// records' file entries), then the files go with it alone, only if no
    /// change came in between (one that attached a file again would still
    /// need it; the next compaction tries again). Nothing is read when the
    /// file holds no file. Housekeeping: a failure only keeps the files.
    fn drop_unreferenced_files(&self, journal: Uuid) {
        let seen = self.read(journal, |open| {
            if open.store.files().map_err(failure)?.is_empty() {
                return Ok(None);
            }
            Ok(Some((open.journal.heads(), open.journal.referred_files())))
        });
        let Ok(Some((heads, referred))) = seen else {
            return;
        };
        let dropped = self.write(journal, |open| {
            if open.journal.heads() != heads {
                return Ok(Vec::new());
            }
            open.store
                .drop_files_not_referred(JournalId(journal), &referred)
                .map_err(|e| WriteFailure::Kept(failure(e)))
        });
        match dropped {
            Ok(files) if !files.is_empty() => {
                tracing::info!(%journal, files = files.len(), "files no record refers to removed");
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(%journal, error = %e, "unreferenced files kept"),
        }
    }

    /// Erases `activity` from the journal holding it (docs/ERASURE.md): the
    /// journal is rebuilt without it while it goes on serving, then, if it
    /// did not change meanwhile, swapped in under the next epoch and its file
    /// rewritten so no page keeps the record. Devices adopt the new journal
    /// at their next sync. Returns the journal and its new epoch.
    pub fn erase_activity(
        &self,
        activity: ActivityId,
        now: DateTime<Utc>,
    ) -> Result<(Uuid, u32), EraseError> {
        let holder = self.holder_of(activity)?;
        for _ in 0..MAX_ERASURE_ATTEMPTS {
            let (epoch, heads, doc, actor) = self
                .read(holder, |open| {
                    let actor = open.store.device_id().actor();
                    Ok((
                        open.epoch,
                        open.journal.heads(),
                        open.journal.doc().fork(),
                        actor,
                    ))
                })
                .map_err(EraseError::Storage)?;
            // The costly part, holding nothing: other sessions go on.
            let rebuilt = Journal::from_doc(doc)?.rewritten_without(&[activity], actor, now)?;
            let prepared = PreparedJournal::of(&rebuilt, false)?;
            let swapped = self
                .write(holder, |open| {
                    if open.epoch != epoch || open.journal.heads() != heads {
                        return Ok(false);
                    }
                    let with = Replacement {
                        epoch: epoch + 1,
                        ..Replacement::default()
                    };
                    let id = JournalId(holder);
                    // A failure from here on leaves the file as it is (one
                    // transaction, then a rewrite that replaces the file only
                    // once complete): reload from it.
                    let reload = |e: StoreError| WriteFailure::Reload(failure(e));
                    open.store
                        .replace_prepared(id, &prepared, with)
                        .map_err(reload)?;
                    open.store.rewrite_file().map_err(reload)?;
                    open.journal = rebuilt;
                    open.epoch = epoch + 1;
                    open.appended.store(0, Ordering::Relaxed);
                    open.appended_bytes.store(0, Ordering::Relaxed);
                    let snapshot = open.store.snapshot_len(id).map_err(reload)?;
                    open.snapshot_bytes.store(snapshot, Ordering::Relaxed);
                    Ok(true)
                })
                .map_err(EraseError::Storage)?;
            if swapped {
                return Ok((holder, epoch + 1));
            }
        }
        Err(EraseError::KeptChanging(activity))
    }

    /// The journal holding `activity`: loaded ones first (a centre that
    /// synced lately is in memory and costs no loading), then the others
    /// from their files.
    fn holder_of(&self, activity: ActivityId) -> Result<Uuid, EraseError> {
        let loaded = self.recency.most_recent_first();
        let on_disk = self
            .journal_files()?
            .into_iter()
            .filter(|j| !loaded.contains(j));
        for journal in loaded.iter().copied().chain(on_disk) {
            let holds = self
                .read(journal, |open| {
                    open.journal
                        .contains(activity)
                        .map_err(StorageFailure::local)
                })
                .map_err(EraseError::Storage)?;
            if holds {
                return Ok(journal);
            }
        }
        Err(EraseError::NotFound(activity))
    }

    /// Every journal that has a file.
    pub fn journal_files(&self) -> Result<Vec<Uuid>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::Storage(redb::Error::Io(e))),
        };
        let mut journals = Vec::new();
        for entry in entries {
            let name = entry
                .map_err(|e| StoreError::Storage(redb::Error::Io(e)))?
                .file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".redb").and_then(|s| s.parse().ok()) {
                journals.push(id);
            }
        }
        journals.sort_unstable();
        Ok(journals)
    }

    fn slot(&self, journal: Uuid) -> Arc<Slot> {
        lock(&self.slots).entry(journal).or_default().clone()
    }

    /// Runs `f` on the loaded journal, loading it first if needed.
    fn read<T>(
        &self,
        journal: Uuid,
        f: impl FnOnce(&Open) -> Result<T, StorageFailure>,
    ) -> Result<T, StorageFailure> {
        let slot = self.slot(journal);
        // Loading takes the slot alone; then readers share it. An eviction
        // in between makes the next try load again (bounded).
        for _ in 0..MAX_LOAD_TRIES {
            {
                let guard = read_slot(&slot);
                if let Some(open) = guard.as_ref() {
                    self.touch(journal);
                    return f(open);
                }
            }
            let mut guard = write_slot(&slot);
            if guard.is_none() {
                *guard = Some(self.load(journal)?);
                self.loaded(journal);
            }
        }
        Err(StorageFailure::local(format!(
            "journal {journal} could not be kept loaded (too many journals in use at once)"
        )))
    }

    /// Runs `f` on the loaded journal alone, loading it first if needed; a
    /// [`WriteFailure::Reload`] drops it from memory.
    fn write<T>(
        &self,
        journal: Uuid,
        f: impl FnOnce(&mut Open) -> Result<T, WriteFailure>,
    ) -> Result<T, StorageFailure> {
        let slot = self.slot(journal);
        let mut guard = write_slot(&slot);
        let open = match guard.take() {
            Some(open) => guard.insert(open),
            None => {
                let open = self.load(journal)?;
                self.loaded(journal);
                guard.insert(open)
            }
        };
        self.touch(journal);
        match f(open) {
            Ok(value) => Ok(value),
            Err(WriteFailure::Kept(e)) => Err(e),
            Err(WriteFailure::Reload(e)) => {
                *guard = None;
                self.recency.forget(journal);
                Err(e)
            }
        }
    }

    /// Opens (creating if needed) the journal's file and loads the journal.
    fn load(&self, journal: Uuid) -> Result<Open, StorageFailure> {
        let path = self.path(journal);
        let store = match Store::open_with_cache(&path, JOURNAL_FILE_CACHE_BYTES) {
            Err(OpenError::Missing(_)) => self.create(journal, &path)?,
            other => other.map_err(open_failure)?,
        };
        let id = JournalId(journal);
        let loaded = store.load_journal(id).map_err(failure)?;
        let appended = store.appended(id).map_err(failure)?;
        Ok(Open {
            epoch: store.epoch(id).map_err(failure)?,
            appended: AtomicU64::new(appended.changes),
            appended_bytes: AtomicU64::new(appended.bytes),
            snapshot_bytes: AtomicU64::new(store.snapshot_len(id).map_err(failure)?),
            last_stored: Mutex::new(None),
            journal: loaded,
            store,
        })
    }

    /// The file of a journal the relay holds nothing of yet: only a centre
    /// the registry knows gets one.
    fn create(&self, journal: Uuid, path: &Path) -> Result<Store, StorageFailure> {
        let centre = self
            .registry
            .centre(journal)
            .map_err(StorageFailure::local)?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| failure(StoreError::Storage(redb::Error::Io(e))))?;
        let store =
            Store::create_relay(path, "relay", JOURNAL_FILE_CACHE_BYTES).map_err(open_failure)?;
        store
            .ensure_journal(&JournalInfo {
                id: JournalId(journal),
                centre: centre.name,
                municipality: centre.municipality,
                epoch: 0,
            })
            .map_err(failure)?;
        Ok(store)
    }

    fn touch(&self, journal: Uuid) {
        self.recency.touch(journal);
    }

    /// `journal` was loaded: past the limit, the least recently used idle
    /// journals are closed (a busy one stays; the next load tries again).
    fn loaded(&self, journal: Uuid) {
        self.recency.loaded(journal, |old| {
            let slot = self.slot(old);
            let dropped = slot.open.try_write().map(|mut guard| *guard = None);
            dropped.is_ok()
        });
    }
}

/// How often a read retries loading a journal that an eviction closed again
/// between its load and its read: only under a storm of loads.
const MAX_LOAD_TRIES: usize = 4;

/// The file of `journal` in `dir`.
pub(crate) fn journal_path(dir: &Path, journal: Uuid) -> PathBuf {
    dir.join(format!("{}.redb", journal.hyphenated()))
}

/// A store error as sessions see it: a full disk in plain words, with the
/// promise devices rely on; anything else as an internal failure.
fn failure(e: StoreError) -> StorageFailure {
    if e.is_disk_full() {
        StorageFailure::Unavailable(DISK_FULL_MESSAGE)
    } else {
        StorageFailure::local(e)
    }
}

fn open_failure(e: OpenError) -> StorageFailure {
    match e {
        OpenError::Io { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) =>
        {
            StorageFailure::Unavailable(DISK_FULL_MESSAGE)
        }
        other => StorageFailure::local(other),
    }
}

/// The slot's lock for reading ([`slots::read_slot`]).
fn read_slot(slot: &Slot) -> RwLockReadGuard<'_, Option<Open>> {
    slots::read_slot(&slot.open)
}

/// The slot's lock alone ([`slots::write_slot`]).
fn write_slot(slot: &Slot) -> RwLockWriteGuard<'_, Option<Open>> {
    slots::write_slot(&slot.open)
}
