//! Erasure in the store: a journal's contents replaced by a rewritten journal
//! ([`Journal::rewritten_without`]) in one transaction, and the whole file
//! rewritten so that no page of it still holds the erased content.
//!
//! redb frees the pages of deleted rows for reuse but does not overwrite
//! them, and [`Store::shrink_file`] only moves pages towards the start: bytes
//! of an erased activity could stay in the file until reused. Copying every
//! table into a fresh file, then putting that file in the old one's place,
//! leaves none behind (what the disk itself keeps of the old file's blocks
//! is out of reach of any program; docs/ERASURE.md says so).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use automerge::{Automerge, ChangeHash};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
};

use super::tables::{
    ACKED_HEADS, ACTIVITY_VIEW, ATTESTATIONS, CHANGES, FILE_CHUNKS, FILE_UPLOADS, FILES,
    JOURNAL_TIPS, JOURNALS, META, READY_BATCHES, READY_UPLOADS, SETTINGS, SNAPSHOT_HEADS,
    SNAPSHOTS, UNSENT, UNSENT_BY_CHANGE, VIEW_HEADS,
};
use super::{
    JournalId, OpenError, Store, StoreError, ViewUpdate, begin_durable, decode_info, insert_info,
    journal_range, write_view,
};
use crate::activity::ActivityId;
use crate::files::FileHash;
use crate::journal::Journal;
use crate::limits::DEVICE_STORE_CACHE_BYTES;
use crate::sync::AttestationTag;
use chrono::{DateTime, Utc};

/// What a rewritten journal brings besides its contents.
#[derive(Clone, Copy, Debug, Default)]
pub struct Replacement<'a> {
    /// The journal's new epoch.
    pub epoch: u32,
    /// Heads of the new journal the relay holds (none at the relay itself).
    pub acked: &'a [ChangeHash],
    /// Activities changed here and not yet sent, with their latest change.
    pub unsent: &'a [(ActivityId, ChangeHash)],
    /// The relay's tags on changes of the new journal written by others.
    pub attested: &'a [(ChangeHash, AttestationTag)],
}

/// A rewritten journal made ready to replace a stored one: saved, checked to
/// load back to the same heads, and its view rows built. The costly part of
/// a replacement (seconds at tens of thousands of activities), done without
/// the store, so a relay can do it while the journal goes on serving.
#[derive(Debug)]
pub struct PreparedJournal {
    snapshot: Vec<u8>,
    /// The snapshot's heads (checked on reload).
    heads: Vec<ChangeHash>,
    view: Option<ViewUpdate>,
    /// Every file a record of the new journal refers to: a file only the
    /// erased records referred to is erased with them.
    files: BTreeSet<FileHash>,
}

impl PreparedJournal {
    /// Prepares `journal`; `with_view` when the store keeps a view of it
    /// (devices do, the relay does not).
    pub fn of(journal: &Journal, with_view: bool) -> Result<PreparedJournal, StoreError> {
        let snapshot = journal.doc().save();
        let reloaded = Automerge::load(&snapshot)
            .map_err(|e| StoreError::CompactionMismatch(format!("snapshot does not load: {e}")))?;
        if reloaded.get_heads() != journal.heads() {
            return Err(StoreError::CompactionMismatch(
                "heads differ after reload".into(),
            ));
        }
        let view = with_view.then(|| ViewUpdate::full(journal)).transpose()?;
        let files = journal.referred_files();
        Ok(PreparedJournal {
            snapshot,
            heads: journal.heads(),
            view,
            files,
        })
    }
}

/// Suffix of the fresh file while [`Store::rewrite_file`] writes it.
const REWRITING_SUFFIX: &str = "rewriting";

/// Settings key written in the transaction that replaces a journal and absent
/// from the rewritten file: when a store opens with it, the process stopped
/// between the two (a crash, a power cut) and freed pages may still hold an
/// erased record, so the file is rewritten then.
const REWRITE_PENDING_KEY: &str = "file_rewrite_pending";

/// Settings key of the last failed attempt to rewrite the file while
/// [`REWRITE_PENDING_KEY`] is set; absent from the rewritten file.
const REWRITE_FAILED_KEY: &str = "file_rewrite_failed";

/// A rewrite owed to an erasure that failed, kept in the store so that it is
/// told, and not tried again silently at every open.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RewriteFailure {
    /// Failed attempts since the erasure.
    pub attempts: u32,
    /// The last attempt's error, in words.
    pub error: String,
}

impl Store {
    /// Replaces everything stored for journal `id` by `journal` (a rewrite of
    /// it): its snapshot, appended changes, epoch, unsent marks and
    /// acknowledged heads (as `with` says), and its materialized view where
    /// this store keeps one. One durable transaction; the new snapshot is
    /// checked to load back to the same heads first.
    pub fn replace_journal(
        &self,
        id: JournalId,
        journal: &Journal,
        with: Replacement<'_>,
    ) -> Result<(), StoreError> {
        let has_view = self.view_heads(id)?.is_some();
        let prepared = PreparedJournal::of(journal, has_view)?;
        self.replace_prepared(id, &prepared, with)
    }

    /// [`Store::replace_journal`] with the new journal prepared beforehand
    /// (see [`PreparedJournal`]): only the transaction.
    pub fn replace_prepared(
        &self,
        id: JournalId,
        prepared: &PreparedJournal,
        with: Replacement<'_>,
    ) -> Result<(), StoreError> {
        let (bytes, view) = (&prepared.snapshot, &prepared.view);
        let j = id.0.as_u128();
        let tx = begin_durable(self.db.get()?)?;
        {
            let mut journals = tx.open_table(JOURNALS)?;
            let mut info = match journals.get(j)? {
                Some(v) => decode_info(v.value())?,
                None => return Err(StoreError::UnknownJournal(id)),
            };
            info.epoch = with.epoch;
            insert_info(&mut journals, &info)?;
        }
        tx.open_table(SNAPSHOTS)?.insert(j, bytes.as_slice())?;
        super::write_snapshot_heads(&tx, id, &prepared.heads)?;
        tx.open_table(CHANGES)?
            .retain_in(journal_range(id), |_, _| false)?;
        super::unsent::clear(&tx, id)?;
        super::unsent::record(&tx, id, with.unsent)?;
        // Made of the old journal: it may hold what is erased.
        super::ready_upload::clear(&tx, id)?;
        let acked: Vec<u8> = with.acked.iter().flat_map(|h| h.0).collect();
        if acked.is_empty() {
            tx.open_table(ACKED_HEADS)?.remove(j)?;
        } else {
            tx.open_table(ACKED_HEADS)?.insert(j, acked.as_slice())?;
        }
        // The new journal's tip is written when it is next loaded.
        super::write_tip(&tx, id, None)?;
        // The relay's tags name the old epoch: they vouch for nothing now.
        {
            let mut tags = tx.open_table(ATTESTATIONS)?;
            tags.retain_in((j, &[0; 32])..=(j, &[u8::MAX; 32]), |_, _| false)?;
            for (hash, tag) in with.attested {
                tags.insert((j, &hash.0), tag.as_slice())?;
            }
        }
        if let Some(view) = view {
            write_view(&tx, id, view, true)?;
        }
        // The file rewrite that follows leaves no page of them.
        let removed = super::files::drop_unreferenced(&tx, Some((id, &prepared.files)))?;
        tx.open_table(SETTINGS)?
            .insert(REWRITE_PENDING_KEY, b"true".as_slice())?;
        tx.commit()?;
        // Beside a device's store: wiped now (the sweep at the next open
        // finishes it after a crash).
        self.wipe_unheld(&removed)
    }

    /// At open: finishes a file rewrite that a crash interrupted (see
    /// [`REWRITE_PENDING_KEY`]), unless one already failed: a failure is
    /// recorded ([`Store::rewrite_failure`]) and not tried again at every
    /// open, only on command or on the daemon's daily check
    /// ([`Store::finish_pending_rewrite`]).
    pub(super) fn finish_interrupted_rewrite(&mut self) -> Result<(), StoreError> {
        if self.rewrite_failure()?.is_some() {
            return Ok(());
        }
        self.finish_pending_rewrite().map(|_| ())
    }

    /// Rewrites the file if a journal was replaced (an erasure) and the file
    /// was not rewritten since (a crash, or a rewrite that failed); true if
    /// it did. For `field-client check` and the daemon's daily check.
    pub fn finish_pending_rewrite(&mut self) -> Result<bool, StoreError> {
        if self.setting::<bool>(REWRITE_PENDING_KEY)?.is_none() {
            return Ok(false);
        }
        self.rewrite_file()?;
        Ok(true)
    }

    /// Why the rewrite of a file after an erasure failed, while it is still
    /// to be done (freed pages may hold the erased record).
    pub fn rewrite_failure(&self) -> Result<Option<RewriteFailure>, StoreError> {
        if self.setting::<bool>(REWRITE_PENDING_KEY)?.is_none() {
            return Ok(None);
        }
        self.setting(REWRITE_FAILED_KEY)
    }

    /// Copies every table into a fresh file and puts it in this file's place,
    /// so that no freed page of the old file remains; the store goes on on
    /// the new file. On an error the old file stays, whole, and when the
    /// rewrite was owed to an erasure the failure is recorded.
    pub fn rewrite_file(&mut self) -> Result<(), StoreError> {
        self.rewrite_with(&mut FileSystem)
    }

    /// [`Store::rewrite_file`] with the file-system steps of `steps`, for
    /// tests that watch or fail them.
    #[cfg(feature = "test-support")]
    pub fn rewrite_file_with(&mut self, steps: &mut dyn RewriteSteps) -> Result<(), StoreError> {
        self.rewrite_with(steps)
    }

    fn rewrite_with(&mut self, steps: &mut dyn RewriteSteps) -> Result<(), StoreError> {
        let outcome = self.rewrite_file_once(steps);
        if let Err(e) = &outcome {
            // Best effort: the error is returned either way.
            let _ = self.note_rewrite_failure(e);
        }
        outcome
    }

    fn note_rewrite_failure(&self, e: &StoreError) -> Result<(), StoreError> {
        if self.setting::<bool>(REWRITE_PENDING_KEY)?.is_none() {
            return Ok(());
        }
        let attempts = self
            .setting::<RewriteFailure>(REWRITE_FAILED_KEY)?
            .map_or(0, |f| f.attempts);
        let failure = RewriteFailure {
            attempts: attempts.saturating_add(1),
            error: e.to_string(),
        };
        self.set_setting(REWRITE_FAILED_KEY, &failure)
    }

    fn rewrite_file_once(&mut self, steps: &mut dyn RewriteSteps) -> Result<(), StoreError> {
        let fresh_path = rewriting_path(&self.path);
        // A leftover of an interrupted rewrite is incomplete: start again.
        remove_if_present(&fresh_path)?;
        // With the store's own cache bound: the copy is one transaction, and
        // redb's default cache would hold up to 512 MB of it until the commit.
        let fresh = Database::builder()
            .set_cache_size(self.cache_bytes.unwrap_or(DEVICE_STORE_CACHE_BYTES))
            .set_concurrency_mode(self.mode)
            .create(&fresh_path)?;
        {
            let from = self.db.get()?.begin_read()?;
            check_known_tables(&from)?;
            let to = begin_durable(&fresh)?;
            copy_all(&from, &to)?;
            let mut settings = to.open_table(SETTINGS)?;
            settings.remove(REWRITE_PENDING_KEY)?;
            settings.remove(REWRITE_FAILED_KEY)?;
            drop(settings);
            to.commit()?;
        }
        // Complete and durable; closed, as a file being renamed must be on
        // Windows.
        drop(fresh);
        self.swap_in(&fresh_path, steps)
    }

    /// Puts the complete `fresh` file in this store's place: closes this
    /// file (Windows renames no file over one that is open), renames, syncs
    /// the folder and opens the store's path again, whichever file the
    /// rename left there (both are whole). Meanwhile [`SwapLock`] tells other
    /// processes the store is in use, as its own lock does when it is open.
    fn swap_in(&mut self, fresh: &Path, steps: &mut dyn RewriteSteps) -> Result<(), StoreError> {
        let _lock = SwapLock::hold(&self.path)?;
        self.db.close_for_swap();
        let renamed = steps
            .rename(fresh, &self.path)
            .map_err(io_error)
            .and_then(|()| sync_parent_dir(&self.path));
        let (path, cache, mode) = (self.path.clone(), self.cache_bytes, self.mode);
        let reopened = Store::open_db(&path, false, |builder| {
            builder.set_cache_size(cache.unwrap_or(DEVICE_STORE_CACHE_BYTES));
            // As it was opened: a relay's journal stays readable by backups.
            builder.set_concurrency_mode(mode).open(&path)
        });
        match reopened {
            Ok(db) => self.db.replace(db),
            // The store answers `Closed` from now on: no panic, nothing lost.
            Err(_) => return Err(StoreError::Closed),
        }
        renamed
    }
}

/// The file-system steps of a rewrite that tests watch or fail (see
/// [`Store::rewrite_file_with`]).
pub trait RewriteSteps {
    /// Puts `fresh` in the place of `store`. Called while neither file is
    /// open in this process.
    fn rename(&mut self, fresh: &Path, store: &Path) -> std::io::Result<()>;
}

/// The real file system.
struct FileSystem;

impl RewriteSteps for FileSystem {
    fn rename(&mut self, fresh: &Path, store: &Path) -> std::io::Result<()> {
        std::fs::rename(fresh, store)
    }
}

/// An exclusive lock on `<store>.swap-lock`, held while a rewrite has the
/// store's file closed. Dropping it removes the file, then releases the lock
/// (an opener still holding the removed file finds the store's own lock).
struct SwapLock {
    file: Option<std::fs::File>,
    path: PathBuf,
}

impl SwapLock {
    fn hold(store: &Path) -> Result<SwapLock, StoreError> {
        let path = swap_lock_path(store);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error)?;
        // Waits only for an opener between its check and its own open,
        // which fails at once: the store's file is still locked by us.
        file.lock().map_err(io_error)?;
        Ok(SwapLock {
            file: Some(file),
            path,
        })
    }
}

impl Drop for SwapLock {
    fn drop(&mut self) {
        // Best effort: a lock file left behind only makes openers check it.
        let _ = std::fs::remove_file(&self.path);
        drop(self.file.take());
    }
}

/// For an open: a shared lock on the swap lock file, held until the store's
/// own lock is taken; `InUse` while a rewrite swaps the file (see
/// [`SwapLock`]). `None` when no rewrite ever ran, or the file system has no
/// locks (redb's own lock still keeps two processes apart).
pub(super) fn no_swap_under_way(store: &Path) -> Result<Option<std::fs::File>, OpenError> {
    let Ok(file) = std::fs::File::open(swap_lock_path(store)) else {
        return Ok(None);
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::InUse(store.to_owned())),
        Err(std::fs::TryLockError::Error(_)) => Ok(None),
    }
}

fn swap_lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".swap-lock");
    PathBuf::from(name)
}

fn rewriting_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(REWRITING_SUFFIX);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(e)),
        _ => Ok(()),
    }
}

pub(super) fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Storage(redb::Error::Io(e))
}

/// Makes a rename in `path`'s folder durable (the directory entry is on
/// disk).
fn sync_parent_dir(path: &Path) -> Result<(), StoreError> {
    sync_folder_of(path).map_err(io_error)
}

/// Syncs the folder holding `path`. Unix only: elsewhere (Windows) a folder
/// cannot be opened as a file to sync it, and a rename is durable once the
/// call that made it returns.
pub(super) fn sync_folder_of(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Something done to each table of this layout, whatever its key type.
pub(super) trait EachTable {
    fn table<K: redb::Key + 'static>(
        &mut self,
        table: TableDefinition<K, &[u8]>,
    ) -> Result<(), StoreError>;
}

/// Runs `visit` on every table this layout has: the one list of them that
/// rewriting (copy everything, refuse what it does not know) and measuring
/// the content go by.
pub(super) fn each_table(visit: &mut impl EachTable) -> Result<(), StoreError> {
    visit.table(META)?;
    visit.table(JOURNALS)?;
    visit.table(SNAPSHOTS)?;
    visit.table(CHANGES)?;
    visit.table(UNSENT)?;
    visit.table(ACKED_HEADS)?;
    visit.table(SETTINGS)?;
    visit.table(ACTIVITY_VIEW)?;
    visit.table(VIEW_HEADS)?;
    visit.table(ATTESTATIONS)?;
    visit.table(JOURNAL_TIPS)?;
    visit.table(SNAPSHOT_HEADS)?;
    visit.table(UNSENT_BY_CHANGE)?;
    visit.table(READY_UPLOADS)?;
    visit.table(READY_BATCHES)?;
    visit.table(FILES)?;
    visit.table(FILE_CHUNKS)?;
    visit.table(FILE_UPLOADS)
}

/// Refuses to rewrite a file holding a table this code does not know (from
/// a newer version): copying would silently drop it.
pub(super) fn check_known_tables(from: &ReadTransaction) -> Result<(), StoreError> {
    struct Names(Vec<String>);
    impl EachTable for Names {
        fn table<K: redb::Key + 'static>(
            &mut self,
            table: TableDefinition<K, &[u8]>,
        ) -> Result<(), StoreError> {
            self.0.push(table.name().to_owned());
            Ok(())
        }
    }
    let mut known = Names(Vec::new());
    each_table(&mut known)?;
    for table in from.list_tables()? {
        if !known.0.iter().any(|name| name == table.name()) {
            return Err(StoreError::Storage(redb::Error::Io(std::io::Error::other(
                format!(
                    "the store holds a table this version does not know ({}); not rewritten",
                    table.name()
                ),
            ))));
        }
    }
    Ok(())
}

fn copy_all(from: &ReadTransaction, to: &redb::WriteTransaction) -> Result<(), StoreError> {
    struct Copy<'a>(&'a ReadTransaction, &'a redb::WriteTransaction);
    impl EachTable for Copy<'_> {
        fn table<K: redb::Key + 'static>(
            &mut self,
            table: TableDefinition<K, &[u8]>,
        ) -> Result<(), StoreError> {
            copy(self.0, self.1, table)
        }
    }
    each_table(&mut Copy(from, to))
}

/// Bytes the store's tables take as redb counts them (stored, metadata and
/// fragmentation): what a fresh copy of the file would hold.
pub(super) fn content_bytes(from: &ReadTransaction) -> Result<u64, StoreError> {
    struct Content<'a>(&'a ReadTransaction, u64);
    impl EachTable for Content<'_> {
        fn table<K: redb::Key + 'static>(
            &mut self,
            table: TableDefinition<K, &[u8]>,
        ) -> Result<(), StoreError> {
            use redb::ReadableTableMetadata;
            let stats = match self.0.open_table(table) {
                Ok(source) => source.stats()?,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            self.1 += stats.stored_bytes() + stats.metadata_bytes() + stats.fragmented_bytes();
            Ok(())
        }
    }
    let mut content = Content(from, 0);
    each_table(&mut content)?;
    Ok(content.1)
}

/// Copies one table's rows (a table the old file never had is skipped).
fn copy<K: redb::Key + 'static>(
    from: &ReadTransaction,
    to: &redb::WriteTransaction,
    table: TableDefinition<K, &[u8]>,
) -> Result<(), StoreError> {
    let source = match from.open_table(table) {
        Ok(source) => source,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut target = to.open_table(table)?;
    for row in source.iter()? {
        let (key, value) = row?;
        target.insert(key.value(), value.value())?;
    }
    Ok(())
}

/// Settings key of the office's erasure requests (docs/STORAGE.md).
const ERASURE_REQUESTS_KEY: &str = "erasure_requests";

/// Erasure requests kept: the office erases a record a few times a year, so
/// a hundred waiting means something else is wrong; answered ones beyond it
/// are forgotten oldest first.
pub const MAX_ERASURE_REQUESTS: usize = 100;

/// An erasure the office asked for, kept until the relay answers (and a while
/// after, to show the answer).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErasureRequest {
    /// Only the id: the request must not keep any of the record's content
    /// (an erased record's title here would outlive the erasure).
    pub activity: ActivityId,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
    /// `None` while waiting for the relay.
    pub answer: Option<ErasureAnswer>,
}

/// The relay's answer to an erasure request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ErasureAnswer {
    /// The journal was rewritten without the record.
    Erased { at: DateTime<Utc>, epoch: u32 },
    /// No journal at the relay holds the record (already erased, or never sent).
    NotFound { at: DateTime<Utc> },
}

impl Store {
    /// Every erasure request kept, oldest first.
    pub fn erasure_requests(&self) -> Result<Vec<ErasureRequest>, StoreError> {
        Ok(self.setting(ERASURE_REQUESTS_KEY)?.unwrap_or_default())
    }

    /// Records a request durably (asking again for a waiting one changes
    /// nothing; asking again after an answer asks anew).
    pub fn request_erasure(&self, request: ErasureRequest) -> Result<(), StoreError> {
        let mut all = self.erasure_requests()?;
        let waiting = |r: &ErasureRequest| r.answer.is_none();
        if all
            .iter()
            .any(|r| waiting(r) && r.activity == request.activity)
        {
            return Ok(());
        }
        all.retain(|r| r.activity != request.activity);
        while all.len() >= MAX_ERASURE_REQUESTS {
            let answered = all.iter().position(|r| !waiting(r));
            all.remove(answered.ok_or(StoreError::TooManyErasureRequests)?);
        }
        all.push(request);
        self.set_setting(ERASURE_REQUESTS_KEY, &all)
    }

    /// Records the relay's answer to the waiting request for `activity`, durably.
    pub fn answer_erasure(
        &self,
        activity: ActivityId,
        answer: ErasureAnswer,
    ) -> Result<(), StoreError> {
        let mut all = self.erasure_requests()?;
        for request in all.iter_mut().filter(|r| r.activity == activity) {
            request.answer.get_or_insert(answer);
        }
        self.set_setting(ERASURE_REQUESTS_KEY, &all)
    }
}
