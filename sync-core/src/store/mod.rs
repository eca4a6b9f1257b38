//! The durable local store: journals in one redb file.
//!
//! A journal is kept as a snapshot (`Automerge::save`) plus the changes appended
//! since. Every change is appended in a redb transaction with
//! [`Durability::Immediate`] before the caller is told it succeeded, so a
//! change that was reported as saved survives a power cut. Compaction folds the
//! appended changes into a new snapshot in one transaction, after checking that
//! the snapshot loads back to exactly the same heads.
//!
//! The table layout is in [`tables`]; docs/STORAGE.md describes it for people.

pub mod backup;
mod clean_close;
mod erasure;
pub mod file_bytes;
mod files;
mod ready_upload;
mod tables;
mod unsent;
pub(crate) mod view_row;

pub use erasure::{
    ErasureAnswer, ErasureRequest, MAX_ERASURE_REQUESTS, PreparedJournal, Replacement,
    RewriteFailure, RewriteSteps,
};

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use automerge::{ActorId, Automerge, Change, ChangeHash};
use clean_close::OpenDb;
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::activity::{Activity, ActivityId};
use crate::journal::{self, Journal, JournalError, Tip};
use crate::limits::{DEVICE_STORE_CACHE_BYTES, LOAD_APPENDED_BYTES_AT_ONCE};
use crate::sync::{AttestationTag, catch_library_panic};
use file_bytes::FileBytes;
pub use files::{
    ChunkStep, FileDescription, FileToSend, FilesWaiting, PutFileError, ReadFileError,
    ReceiveChunkError, StoredFile, WholeFileCheck, check_said_size, next_chunk_step,
};
use ready_upload::ReadyRows;
pub use ready_upload::{ReadyBytes, ReadyUpload};
use tables::{
    ACKED_HEADS, ACTIVITY_VIEW, ACTIVITY_VIEW_JSON, ATTESTATIONS, CHANGES, FILE_CHUNKS,
    FILE_UPLOADS, FILES, FORMAT_MARKER, JOURNAL_TIPS, JOURNALS, META, READY_BATCHES, READY_UPLOADS,
    SETTINGS, SNAPSHOT_HEADS, SNAPSHOTS, UNSENT, VIEW_HEADS,
};

/// Layout version written by this code. Older stores are migrated on open by
/// the numbered steps in [`migrate`]; newer ones are refused.
pub const STORE_VERSION: u32 = 9;

/// Identity of a device: random, made when its store is created, never reused.
/// Its 16 bytes are also the device's Automerge actor id, so every change can be
/// traced to the device that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(pub Uuid);

impl DeviceId {
    pub fn actor(self) -> ActorId {
        ActorId::from(self.0.as_bytes())
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Identity of a journal (one per centre).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JournalId(pub Uuid);

impl std::fmt::Display for JournalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// What the store knows about a journal besides its contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalInfo {
    pub id: JournalId,
    /// The centre's name, as given at `init` (or by the relay at enrolment).
    pub centre: String,
    /// The centre's municipality, as the relay last said (for reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
    /// Raised by each erasure, which rewrites the journal (docs/ERASURE.md);
    /// absent (0) until the first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Errors opening or creating a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// No store exists at the path.
    #[error("no journal store at {0}")]
    Missing(PathBuf),
    /// A store already exists where a new one was to be created.
    #[error("a journal store already exists at {0}")]
    AlreadyExists(PathBuf),
    /// Another process holds the store open.
    #[error("the journal store {0} is already in use by another process")]
    InUse(PathBuf),
    /// The file exists but is not one of our stores.
    #[error("{path} is not a journal store of this program ({reason})")]
    Foreign { path: PathBuf, reason: String },
    /// The file is one of ours but damaged.
    #[error("the journal store {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    /// Written by a newer program.
    #[error(
        "the journal store {path} was written by a newer version of the program (layout {found}, this program reads up to {STORE_VERSION}); please update"
    )]
    Newer { path: PathBuf, found: u32 },
    /// The operating system refused to read or write the file.
    #[error("cannot open the journal store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Errors reading or writing an open store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// redb reported an error (disk full, I/O failure, corruption).
    #[error("the journal store could not be read or written: {0}")]
    Storage(#[from] redb::Error),
    /// Stored journal bytes do not load.
    #[error("the stored journal {journal} is damaged: {reason}")]
    Damaged { journal: JournalId, reason: String },
    /// The stored document is not a journal this program can read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// No journal with this id in the store.
    #[error("no journal {0} in this store")]
    UnknownJournal(JournalId),
    /// The snapshot did not load back to the same heads; nothing was deleted.
    #[error("compaction stopped: the new snapshot would not load back identically ({0})")]
    CompactionMismatch(String),
    /// [`MAX_ERASURE_REQUESTS`] requests wait for the relay already.
    #[error(
        "{MAX_ERASURE_REQUESTS} erasures are already waiting for the office server; \
         let this device sync before asking for more"
    )]
    TooManyErasureRequests,
    /// The file was closed to be replaced by its rewrite and could not be
    /// opened again (the disk went away?): nothing more can be read or
    /// written until the program starts again. The file is whole.
    #[error(
        "the journal store was closed for a rewrite and could not be opened again; close the \
         program and start it again (nothing saved is lost)"
    )]
    Closed,
    /// A stored file's row does not read (see `file-v1`).
    #[error("the stored file {0} is damaged")]
    DamagedFile(crate::files::FileHash),
}

impl StoreError {
    /// The disk (or the user's quota) is full: the same work succeeds once
    /// there is space again.
    pub fn is_disk_full(&self) -> bool {
        use std::io::ErrorKind;
        matches!(self, StoreError::Storage(redb::Error::Io(e))
            if matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded))
    }

    /// An I/O operation failed: redb refuses all later work on the file
    /// ("previous I/O error") until it is closed and opened again; or the
    /// file is closed already ([`StoreError::Closed`]).
    pub fn needs_reopen(&self) -> bool {
        matches!(
            self,
            StoreError::Storage(redb::Error::Io(_) | redb::Error::PreviousIo) | StoreError::Closed
        )
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Storage(e.into()) }
        }
    )*};
}
storage_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
    redb::CompactionError,
    redb::DatabaseError
);

/// Most redb compaction passes one [`Store::shrink_file`] runs.
const MAX_SHRINK_PASSES: usize = 8;

/// A file larger than this many times what its tables hold, after shrinking,
/// is rewritten into a fresh copy ([`Store::shrink_file`]): a copy costs a
/// pass over the content, so only for a file mostly empty.
const REWRITE_WHEN_FILE_TIMES_CONTENT: u64 = 2;

/// Room a file may keep beyond that before it is rewritten: a small store's
/// fixed pages (redb's header, allocator state) are most of it.
const REWRITE_SLACK_BYTES: u64 = 4 * 1024 * 1024;

/// An open store. Holds redb's exclusive file lock until dropped (a relay's
/// journal file: the writer's lock, shared with readers; see [`SHARED_MODE`]).
#[derive(Debug)]
pub struct Store {
    db: OpenDb,
    path: PathBuf,
    /// redb's page cache as opened with (a rewrite opens the file again).
    cache_bytes: Option<usize>,
    device: DeviceId,
    device_name: String,
    home: Option<JournalId>,
    /// How the file is shared with other processes: a relay's journal files
    /// are opened in [`SHARED_MODE`], a device's store alone.
    mode: redb::ConcurrencyMode,
    /// Where the bytes of attached files are: beside a device's store, in
    /// a relay's journal file.
    file_bytes: FileBytes,
}

/// How a relay's journal files are opened: one process (`relay serve`)
/// writes, and others (`relay backup`) may open the file read-only at the
/// same time and read a consistent transaction of it. redb then requires
/// two-phase commits (so that a reader never follows a commit whose pages
/// are not yet on disk), which every write of the store makes anyway
/// (`begin_durable`): the mode costs the relay no extra flush.
pub const SHARED_MODE: redb::ConcurrencyMode = redb::ConcurrencyMode::SingleWriter;

/// See [`Store::append_position`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendPosition {
    pub next: u64,
    pub last: Option<ChangeHash>,
    /// Which snapshot the changes follow (see [`Store::snapshot_heads`]).
    pub snapshot_heads: Option<Vec<ChangeHash>>,
}

/// What [`Store::compact_owned`] leaves: the changes it kept appended, the
/// journal loaded back from the snapshot, and the snapshot's size.
#[derive(Debug)]
pub struct Compacted {
    pub kept: Appended,
    pub journal: Journal,
    pub snapshot_bytes: u64,
}

/// Parameters for a new store.
#[derive(Clone, Debug)]
pub struct NewStore<'a> {
    pub centre: &'a str,
    pub device_name: &'a str,
}

impl Store {
    /// Creates a store with one empty journal for `centre`. The file appears
    /// atomically: it is written under a temporary name and renamed when
    /// complete, so a crash during `init` never leaves a half-made store.
    pub fn create(path: &Path, new: NewStore<'_>) -> Result<Store, OpenError> {
        Store::create_with(path, new.device_name, Some(new.centre), None)
    }

    /// Creates a store with no home journal (the relay's): it holds journals
    /// that arrive from devices. `cache_bytes` as in [`Store::open_with_cache`].
    pub fn create_relay(path: &Path, name: &str, cache_bytes: usize) -> Result<Store, OpenError> {
        Store::create_with(path, name, None, Some(cache_bytes))
    }

    fn create_with(
        path: &Path,
        device_name: &str,
        centre: Option<&str>,
        cache_bytes: Option<usize>,
    ) -> Result<Store, OpenError> {
        if path.exists() {
            return Err(OpenError::AlreadyExists(path.to_owned()));
        }
        let io = |source| OpenError::Io {
            path: path.to_owned(),
            source,
        };
        let tmp = path.with_extension("creating");
        let _ = std::fs::remove_file(&tmp);
        {
            let db = Database::create(&tmp).map_err(|e| open_error(&tmp, e))?;
            let ids = (DeviceId(Uuid::new_v4()), JournalId(Uuid::new_v4()));
            write_new_store(&db, device_name, centre, ids).map_err(|e| OpenError::Damaged {
                path: tmp.clone(),
                reason: e.to_string(),
            })?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        // Make the rename itself durable.
        erasure::sync_folder_of(path).map_err(io)?;
        Store::open_cached(path, cache_bytes)
    }

    /// Removes the files of a closed store made moments ago whose purpose
    /// failed (a first-run enrolment the office server refused): only for a
    /// store that holds nothing yet.
    pub fn remove_new(path: &Path) -> std::io::Result<()> {
        clean_close::remove_store_files(path)
    }

    /// Opens an existing store, verifying every page checksum, that it is one of
    /// ours and that its layout version is readable.
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        Store::open_cached(path, None)
    }

    /// [`Store::open`] with redb's page cache bounded to `cache_bytes` (a
    /// relay keeps many stores open, and their journals in memory anyway),
    /// for a relay's journal file: opened in [`SHARED_MODE`], so that its
    /// backup can read it while the relay serves.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Store, OpenError> {
        Store::open_cached(path, Some(cache_bytes))
    }

    fn open_cached(path: &Path, cache_bytes: Option<usize>) -> Result<Store, OpenError> {
        // A bounded cache is asked for by the relay only, whose journal
        // files are read by its backup while it serves.
        let mode = match cache_bytes {
            Some(_) => SHARED_MODE,
            None => redb::ConcurrencyMode::ExclusiveWriter,
        };
        if !path.exists() {
            return Err(OpenError::Missing(path.to_owned()));
        }
        check_file_kind(path)?;
        // Held until the store's own lock is taken: a rewrite swapping the
        // file in another process makes this `InUse`.
        let no_swap = erasure::no_swap_under_way(path)?;
        let check = !clean_close::closed_cleanly(path);
        let mut store = Store::open_checked(path, check, |builder| {
            builder.set_cache_size(cache_bytes.unwrap_or(DEVICE_STORE_CACHE_BYTES));
            builder.set_concurrency_mode(mode).open(path)
        })?;
        // Released before a rewrite below takes it exclusively.
        drop(no_swap);
        store.cache_bytes = cache_bytes;
        store.mode = mode;
        // Best effort: the store is whole either way, and refusing to open
        // would stop all recording. A failure is recorded in the store
        // (`rewrite_failure`, told by `status`) and tried again on command
        // or by the daemon's daily check, not at every open.
        let _ = store.finish_interrupted_rewrite();
        // Left over beside the store by a crash: wiped before anything reads.
        store
            .sweep_files()
            .map_err(|e| damaged(path, &e.to_string()))?;
        Ok(store)
    }

    /// Creates a store like [`Store::create`] on storage other than a file
    /// (the crash-model disk of the tests), with the given device and home
    /// journal ids (so a simulation replays exactly); `label` names it in errors.
    pub fn create_on(
        label: &Path,
        backend: impl redb::StorageBackend,
        new: NewStore<'_>,
        ids: (DeviceId, JournalId),
    ) -> Result<Store, OpenError> {
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|e| open_error(label, e))?;
        write_new_store(&db, new.device_name, Some(new.centre), ids).map_err(|e| {
            OpenError::Damaged {
                path: label.to_owned(),
                reason: e.to_string(),
            }
        })?;
        Store::from_db(label, OpenDb::new(db, None))
    }

    /// Opens a store like [`Store::open`] on storage other than a file. Its
    /// attached files are kept beside `label`, as a file store's are.
    pub fn open_on(label: &Path, backend: impl redb::StorageBackend) -> Result<Store, OpenError> {
        let db = Store::open_db(label, true, |builder| builder.create_with_backend(backend))?;
        Store::from_db(label, OpenDb::new(db, None))
    }

    /// Opens the file, with redb's full integrity check when `check` (see
    /// [`clean_close`]); notes a clean close beside it when dropped.
    fn open_checked(
        path: &Path,
        check: bool,
        open: impl FnOnce(&mut redb::Builder) -> Result<Database, redb::DatabaseError>,
    ) -> Result<Store, OpenError> {
        let db = Store::open_db(path, check, open)?;
        Store::from_db(path, OpenDb::new(db, Some(path)))
    }

    fn open_db(
        path: &Path,
        check: bool,
        open: impl FnOnce(&mut redb::Builder) -> Result<Database, redb::DatabaseError>,
    ) -> Result<Database, OpenError> {
        let opened = catch_unwind(AssertUnwindSafe(|| {
            open(Database::builder().set_check_integrity_on_open(check))
        }));
        match opened {
            Ok(Ok(db)) => Ok(db),
            Ok(Err(e)) => Err(open_error(path, e)),
            Err(_) => Err(damaged(path, "the file structure is inconsistent")),
        }
    }

    /// Verifies the checksum of every page of the file (redb's integrity
    /// check), repairing what redb can. `Ok(true)` when the file was whole;
    /// a file that cannot be repaired is [`StoreError::Storage`] (corrupted).
    pub fn check_integrity(&mut self) -> Result<bool, StoreError> {
        let db = self.db.get_mut()?;
        let checked = catch_unwind(AssertUnwindSafe(|| db.check_integrity()));
        match checked {
            Ok(result) => Ok(result?),
            Err(_) => Err(StoreError::Storage(redb::Error::Corrupted(
                "the file structure is inconsistent".into(),
            ))),
        }
    }

    fn from_db(path: &Path, db: OpenDb) -> Result<Store, OpenError> {
        let opened = db.get().expect("a database just opened is open");
        let meta = read_meta(opened).map_err(|reason| damaged(path, &reason))?;
        let Some(meta) = meta else {
            return Err(OpenError::Foreign {
                path: path.to_owned(),
                reason: "it has no journal store header".into(),
            });
        };
        if meta.version > STORE_VERSION {
            return Err(OpenError::Newer {
                path: path.to_owned(),
                found: meta.version,
            });
        }
        // A relay's journal file has no home journal, and keeps its files
        // (whichever way it is opened: a migration must not move them out).
        let file_bytes = match meta.home {
            Some(_) => FileBytes::beside(path),
            None => FileBytes::InStore,
        };
        migrate(opened, meta.version, &file_bytes).map_err(|e| damaged(path, &e.to_string()))?;
        Ok(Store {
            db,
            path: path.to_owned(),
            device: meta.device,
            device_name: meta.device_name,
            home: meta.home,
            cache_bytes: None,
            mode: redb::ConcurrencyMode::ExclusiveWriter,
            file_bytes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn device_id(&self) -> DeviceId {
        self.device
    }

    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// The journal this device records into (`None` for a relay's store).
    pub fn home_journal(&self) -> Option<JournalId> {
        self.home
    }

    /// Every journal in the store.
    pub fn journals(&self) -> Result<Vec<JournalInfo>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(JOURNALS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (_, value) = row?;
            out.push(decode_info(value.value())?);
        }
        Ok(out)
    }

    pub fn journal_info(&self, id: JournalId) -> Result<JournalInfo, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(JOURNALS)?;
        let value = table
            .get(id.0.as_u128())?
            .ok_or(StoreError::UnknownJournal(id))?;
        decode_info(value.value())
    }

    /// The journal's epoch (0 for a journal not held: every journal starts at 0).
    pub fn epoch(&self, id: JournalId) -> Result<u32, StoreError> {
        match self.journal_info(id) {
            Ok(info) => Ok(info.epoch),
            Err(StoreError::UnknownJournal(_)) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Loads a journal: its snapshot (or the genesis) plus every appended change.
    /// Local changes made on the result carry this device's actor id.
    pub fn load_journal(&self, id: JournalId) -> Result<Journal, StoreError> {
        Ok(self.load_journal_sized(id)?.0)
    }

    /// [`Store::load_journal`], and the size of the snapshot it loaded from
    /// (known here for free; read on its own it costs reading the snapshot).
    pub fn load_journal_sized(&self, id: JournalId) -> Result<(Journal, u64), StoreError> {
        let tx = self.db.get()?.begin_read()?;
        if tx.open_table(JOURNALS)?.get(id.0.as_u128())?.is_none() {
            return Err(StoreError::UnknownJournal(id));
        }
        let damaged = |reason: String| StoreError::Damaged {
            journal: id,
            reason,
        };
        let failed = || damaged("the journal's bytes made the document library fail".into());
        let snapshot = tx.open_table(SNAPSHOTS)?.get(id.0.as_u128())?;
        let bytes = snapshot.as_ref().map(|v| v.value());
        let snapshot_bytes = bytes.map_or(0, |b| b.len() as u64);
        let mut doc = catch_library_panic(|| load_document(bytes, &[]))
            .ok_or_else(failed)?
            .map_err(|e| damaged(e.to_string()))?;
        drop(snapshot);
        let snapshot_heads_unknown = tx
            .open_table(SNAPSHOT_HEADS)?
            .get(id.0.as_u128())?
            .is_none();
        let snapshot_heads = doc.get_heads();
        // The appended changes go in a few megabytes at a time: Automerge's
        // intermediate form of a batch is many times its bytes.
        let mut appended = Vec::new();
        let mut rows = tx.open_table(CHANGES)?.range(journal_range(id))?.peekable();
        while let Some(row) = rows.next() {
            appended.extend_from_slice(row?.1.value());
            if appended.len() >= LOAD_APPENDED_BYTES_AT_ONCE || rows.peek().is_none() {
                catch_library_panic(|| doc.load_incremental(&appended))
                    .ok_or_else(failed)?
                    .map_err(|e| damaged(e.to_string()))?;
                appended.clear();
            }
        }
        drop(rows);
        drop(tx);
        if snapshot_heads_unknown {
            self.keep_snapshot_heads(id, &snapshot_heads)?;
        }
        let journal = Journal::from_doc(doc.with_actor(self.device.actor()))?;
        Ok((journal, snapshot_bytes))
    }

    /// Writes the heads of a snapshot that predates layout 5, found by
    /// loading it, unless a snapshot written since recorded its own (every
    /// snapshot write records its heads, so a row present is current).
    fn keep_snapshot_heads(&self, id: JournalId, heads: &[ChangeHash]) -> Result<(), StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        let absent = tx
            .open_table(SNAPSHOT_HEADS)?
            .get(id.0.as_u128())?
            .is_none();
        let known = tx.open_table(JOURNALS)?.get(id.0.as_u128())?.is_some();
        if absent && known {
            write_snapshot_heads(&tx, id, heads)?;
            tx.commit()?;
        } else {
            tx.abort()?;
        }
        Ok(())
    }

    /// The heads of the journal's snapshot (the genesis heads while it has
    /// none); `None` when not known yet (see `snapshot_heads-v1`).
    pub fn snapshot_heads(
        &self,
        journal: JournalId,
    ) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(SNAPSHOT_HEADS)?;
        let Some(value) = table.get(journal.0.as_u128())? else {
            return Ok(None);
        };
        decode_heads(value.value())
            .map(Some)
            .ok_or_else(|| StoreError::Damaged {
                journal,
                reason: "the snapshot's heads are not a list of hashes".into(),
            })
    }

    /// Every change appended to the journal since its snapshot, in order;
    /// `None` when a row is not one change (a journal merged in at
    /// enrolment keeps its snapshot there as appended bytes).
    pub fn appended_changes(&self, journal: JournalId) -> Result<Option<Vec<Change>>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(CHANGES)?;
        let mut changes = Vec::new();
        for row in table.range(journal_range(journal))? {
            match crate::sync::decode_change(row?.1.value()) {
                Ok(change) => changes.push(change),
                Err(_) => return Ok(None),
            }
        }
        Ok(Some(changes))
    }

    /// Durably appends changes to a journal, and records which activities they
    /// touched as not yet sent. Returns only after the data is on disk.
    /// `tip` is the journal's tip after them (see [`Store::tip`]), or `None`
    /// when the caller does not know it.
    pub fn append_local(
        &self,
        journal: JournalId,
        changes: &mut [Change],
        touched: &[(ActivityId, ChangeHash)],
        (view, tip): (Option<&ViewUpdate>, Option<&Tip>),
    ) -> Result<(), StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        append_in(&tx, journal, changes, touched, (view, tip))?;
        tx.commit()?;
        Ok(())
    }

    /// Starts appending local changes to `journal` in groups, all in one
    /// durable transaction (an import): nothing is stored until
    /// [`AppendSession::commit`] returns, and dropping the session stores
    /// nothing. Each group goes into the transaction as it comes, so the
    /// caller need hold only the group it is building (redb writes pages
    /// beyond its write buffer to the file before the commit).
    pub fn begin_append(&self, journal: JournalId) -> Result<AppendSession, StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        let next = next_seq(&tx.open_table(CHANGES)?, journal)?;
        Ok(AppendSession { tx, journal, next })
    }

    /// The materialized view of a journal: the heads it reflects and every
    /// activity (unsorted). `None` when it was never built.
    pub fn view(&self, journal: JournalId) -> Result<Option<StoredView>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let Some(heads) = tx.open_table(VIEW_HEADS)?.get(journal.0.as_u128())? else {
            return Ok(None);
        };
        let damaged = |reason: String| StoreError::Damaged { journal, reason };
        let heads =
            decode_heads(heads.value()).ok_or_else(|| damaged("view heads unreadable".into()))?;
        let table = tx.open_table(ACTIVITY_VIEW)?;
        let range = (journal.0.as_u128(), 0)..=(journal.0.as_u128(), u128::MAX);
        let mut activities = Vec::new();
        for row in table.range(range)? {
            let (key, value) = row?;
            let id = ActivityId(Uuid::from_u128(key.value().1));
            let activity = view_row::decode(id, value.value())
                .map_err(|e| damaged(format!("a listed activity is unreadable: {e}")))?;
            activities.push(activity);
        }
        Ok(Some((heads, activities)))
    }

    /// The heads the journal's view reflects, without reading the view: a
    /// reader can keep the activities it read while these stay the same (every
    /// change to the view rewrites them in the same transaction).
    pub fn view_heads(&self, journal: JournalId) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let Some(heads) = tx.open_table(VIEW_HEADS)?.get(journal.0.as_u128())? else {
            return Ok(None);
        };
        let heads = decode_heads(heads.value()).ok_or_else(|| StoreError::Damaged {
            journal,
            reason: "view heads unreadable".into(),
        })?;
        Ok(Some(heads))
    }

    /// Replaces the whole view of a journal (building it for the first time).
    pub fn rebuild_view(&self, journal: JournalId, view: &ViewUpdate) -> Result<(), StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        write_view(&tx, journal, view, true)?;
        tx.commit()?;
        Ok(())
    }

    /// The journal's tip as of its last stored change (see [`Tip`]): `None`
    /// when it was never written, or a write that could not compute it
    /// removed it (then it comes from the loaded journal).
    pub fn tip(&self, journal: JournalId) -> Result<Option<Tip>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let Some(bytes) = tx.open_table(JOURNAL_TIPS)?.get(journal.0.as_u128())? else {
            return Ok(None);
        };
        Tip::from_bytes(bytes.value())
            .map(Some)
            .ok_or_else(|| StoreError::Damaged {
                journal,
                reason: "the journal's tip is unreadable".into(),
            })
    }

    /// Writes the tip of a journal loaded from this store (see [`Store::tip`]).
    pub fn set_tip(&self, journal: JournalId, tip: &Tip) -> Result<(), StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        write_tip(&tx, journal, Some(tip))?;
        tx.commit()?;
        Ok(())
    }

    /// Where the journal's appended changes stand: the next append sequence
    /// number, the hash of the last appended change, and the snapshot's
    /// heads. Appends by another process move the first two only; a
    /// compaction or a new epoch deletes the rows the last hash names and
    /// writes a snapshot of other heads. (Not the snapshot's size: reading
    /// it reads the whole snapshot.)
    pub fn append_position(&self, journal: JournalId) -> Result<AppendPosition, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(CHANGES)?;
        let last = table
            .range(journal_range(journal))?
            .next_back()
            .transpose()?;
        let (next, last) = match last {
            None => (0, None),
            Some((key, bytes)) => {
                let change =
                    crate::sync::decode_change(bytes.value()).map_err(|e| StoreError::Damaged {
                        journal,
                        reason: format!("an appended change does not decode: {e}"),
                    })?;
                (key.value().1 + 1, Some(change.hash()))
            }
        };
        drop(table);
        drop(tx);
        Ok(AppendPosition {
            next,
            last,
            snapshot_heads: self.snapshot_heads(journal)?,
        })
    }

    /// The changes appended to the journal from sequence number `from` on,
    /// in order.
    pub fn appended_since(&self, journal: JournalId, from: u64) -> Result<Vec<Change>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(CHANGES)?;
        let mut changes = Vec::new();
        for row in table.range((journal.0.as_u128(), from)..=(journal.0.as_u128(), u64::MAX))? {
            let (_, bytes) = row?;
            let change =
                crate::sync::decode_change(bytes.value()).map_err(|e| StoreError::Damaged {
                    journal,
                    reason: format!("an appended change does not decode: {e}"),
                })?;
            changes.push(change);
        }
        Ok(changes)
    }

    /// Size of the journal's snapshot in bytes (0 before the first compaction).
    pub fn snapshot_len(&self, journal: JournalId) -> Result<u64, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(SNAPSHOTS)?;
        Ok(table
            .get(journal.0.as_u128())?
            .map_or(0, |v| v.value().len() as u64))
    }

    /// Number of appended changes not yet folded into the snapshot.
    pub fn appended_count(&self, journal: JournalId) -> Result<u64, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(CHANGES)?;
        count_rows(table.range(journal_range(journal))?)
    }

    /// The changes appended to `journal` and not yet folded into its
    /// snapshot: their number and bytes.
    pub fn appended(&self, journal: JournalId) -> Result<Appended, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(CHANGES)?;
        let mut appended = Appended::default();
        for row in table.range(journal_range(journal))? {
            appended.changes += 1;
            appended.bytes += row?.1.value().len() as u64;
        }
        Ok(appended)
    }

    /// Folds every appended change of `journal` into a new snapshot. `current`
    /// must be the journal as loaded from this store plus the changes appended
    /// since; the snapshot is checked to load back to the same heads before any
    /// appended change is deleted, all in one transaction.
    pub fn compact(&self, id: JournalId, current: &Journal) -> Result<Appended, StoreError> {
        let snapshot = Snapshot::check(current.doc().save(), &current.heads())?;
        let ready = self.ready_upload_of(id, &snapshot.doc)?;
        self.compact_with(id, &snapshot, u64::MAX, ready.as_ref())
    }

    /// [`Store::compact`] of a journal handed over: it is dropped once saved,
    /// and the snapshot loaded back for the check becomes the journal
    /// returned (the same changes, with this device's actor), so that one
    /// document is in memory at a time, not two (a document of 100,000
    /// activities takes hundreds of megabytes). On an error the journal is
    /// gone: load it again from the store, which holds every change.
    pub fn compact_owned(&self, id: JournalId, current: Journal) -> Result<Compacted, StoreError> {
        let heads = current.heads();
        let bytes = current.doc().save();
        drop(current);
        let snapshot = Snapshot::check(bytes, &heads)?;
        let ready = self.ready_upload_of(id, &snapshot.doc)?;
        let kept = self.compact_with(id, &snapshot, u64::MAX, ready.as_ref())?;
        let snapshot_bytes = snapshot.bytes.len() as u64;
        let journal = Journal::from_doc(snapshot.doc.with_actor(self.device.actor()))?;
        Ok(Compacted {
            kept,
            journal,
            snapshot_bytes,
        })
    }

    /// Compaction with a snapshot made earlier (see [`Snapshot`]) of the
    /// journal as it stood when the next change would have been appended at
    /// `made_at` ([`Store::append_end`]). The changes appended before that
    /// are deleted; those appended since stay (a relay compacts while uploads
    /// go on). Refused, changing nothing, when the snapshot lacks one of the
    /// changes appended before `made_at` (it was not made from this journal).
    pub fn compact_to(
        &self,
        id: JournalId,
        snapshot: &Snapshot,
        made_at: u64,
    ) -> Result<Appended, StoreError> {
        self.compact_with(id, snapshot, made_at, None)
    }

    /// [`Store::compact_to`], keeping `ready` (an upload made ready from
    /// the snapshot, see [`Store::ready_upload_of`]) in its place.
    fn compact_with(
        &self,
        id: JournalId,
        snapshot: &Snapshot,
        made_at: u64,
        ready: Option<&ReadyRows>,
    ) -> Result<Appended, StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        let (folded, kept) = split_appended(&tx, id, &snapshot.doc, made_at)?;
        tx.open_table(SNAPSHOTS)?
            .insert(id.0.as_u128(), snapshot.bytes.as_slice())?;
        write_snapshot_heads(&tx, id, &snapshot.doc.get_heads())?;
        ready_upload::write(&tx, id, ready)?;
        let mut changes = tx.open_table(CHANGES)?;
        for seq in folded {
            changes.remove((id.0.as_u128(), seq))?;
        }
        drop(changes);
        tx.commit()?;
        Ok(kept)
    }

    /// The upload to make ready with a compaction of `id` into the snapshot
    /// `doc` (see `ready_upload`): the changes the relay has not
    /// acknowledged, in batches as a sync makes them. `None` when nothing
    /// is unsent.
    fn ready_upload_of(
        &self,
        id: JournalId,
        doc: &Automerge,
    ) -> Result<Option<ReadyRows>, StoreError> {
        if self.unsent_count(id)? == 0 {
            return Ok(None);
        }
        let mut base = journal::genesis_heads();
        for head in self.acknowledged_heads(id)? {
            if !base.contains(&head) && doc.get_change_meta_by_hash(&head).is_some() {
                base.push(head);
            }
        }
        ready_upload::make(doc, base, id)
    }

    /// The upload the last compaction of `journal` made ready, if any is
    /// kept (see `ready_upload`).
    pub fn ready_upload(&self, journal: JournalId) -> Result<Option<ReadyUpload>, StoreError> {
        ready_upload::read(&self.db.get()?.begin_read()?, journal)
    }

    /// The bytes of batch `number` of the upload made ready for `journal`,
    /// when it holds the changes `hashes` (none when another ready upload
    /// replaced the one they were planned from).
    pub fn ready_batch(
        &self,
        journal: JournalId,
        number: u32,
        hashes: &[ChangeHash],
    ) -> Result<Option<ReadyBytes>, StoreError> {
        ready_upload::read_batch(&self.db.get()?.begin_read()?, journal, (number, hashes))
    }

    /// Where the next change appended to `journal` will go: a snapshot made
    /// now holds every change appended before it ([`Store::compact_to`]).
    pub fn append_end(&self, journal: JournalId) -> Result<u64, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        next_seq(&tx.open_table(CHANGES)?, journal)
    }

    /// Gives the pages freed by snapshots and imports back to the file system
    /// (redb keeps them in the file for reuse otherwise). Crash-safe: redb
    /// compacts in two-phase durable transactions. True if the file shrank.
    pub fn shrink_file(&mut self) -> Result<bool, StoreError> {
        let mut shrank = self.compact_file()?;
        // redb cannot always move pages back (measured: a 100 MB file holding
        // 34 MB after a 50,000-activity download and its compaction, which
        // `compact` left as it was); a fresh copy, compacted, holds only the
        // content (the copy alone keeps redb's growth room).
        let file = std::fs::metadata(&self.path)
            .map_err(erasure::io_error)?
            .len();
        let content = erasure::content_bytes(&self.db.get()?.begin_read()?)?;
        if file > content.saturating_mul(REWRITE_WHEN_FILE_TIMES_CONTENT) + REWRITE_SLACK_BYTES {
            self.rewrite_file()?;
            self.compact_file()?;
            shrank = true;
        }
        Ok(shrank)
    }

    /// redb's compaction: moves pages towards the start of the file and
    /// truncates it. True if it did anything.
    fn compact_file(&mut self) -> Result<bool, StoreError> {
        let mut shrank = false;
        // Each pass moves what it can towards the start of the file; a few
        // passes reach the end (bounded, in case one keeps finding work).
        for _ in 0..MAX_SHRINK_PASSES {
            if !self.db.get_mut()?.compact()? {
                break;
            }
            shrank = true;
        }
        Ok(shrank)
    }

    /// Whether the materialized view of `journal` lists activity `id`; `None`
    /// when that view was never built. The view is written in the same
    /// transaction as every change, so it knows every stored activity.
    pub fn view_contains(
        &self,
        journal: JournalId,
        id: ActivityId,
    ) -> Result<Option<bool>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let j = journal.0.as_u128();
        if tx.open_table(VIEW_HEADS)?.get(j)?.is_none() {
            return Ok(None);
        }
        let row = tx.open_table(ACTIVITY_VIEW)?.get((j, id.0.as_u128()))?;
        Ok(Some(row.is_some()))
    }

    /// The ids the view of `journal` lists (every stored activity); `None`
    /// when that view was never built. Reads the keys only.
    pub fn view_ids(
        &self,
        journal: JournalId,
    ) -> Result<Option<std::collections::HashSet<ActivityId>>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let j = journal.0.as_u128();
        if tx.open_table(VIEW_HEADS)?.get(j)?.is_none() {
            return Ok(None);
        }
        let table = tx.open_table(ACTIVITY_VIEW)?;
        let mut ids = std::collections::HashSet::new();
        for row in table.range((j, 0)..=(j, u128::MAX))? {
            ids.insert(ActivityId(Uuid::from_u128(row?.0.value().1)));
        }
        Ok(Some(ids))
    }

    /// Number of activities with local changes the relay has not acknowledged.
    pub fn unsent_count(&self, journal: JournalId) -> Result<u64, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(UNSENT)?;
        let range = (journal.0.as_u128(), 0)..=(journal.0.as_u128(), u128::MAX);
        count_rows(table.range(range)?)
    }

    /// The activities of `journal` changed here and not yet acknowledged.
    pub fn unsent_activities(&self, journal: JournalId) -> Result<Vec<ActivityId>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(UNSENT)?;
        let range = (journal.0.as_u128(), 0)..=(journal.0.as_u128(), u128::MAX);
        let mut ids = Vec::new();
        for row in table.range(range)? {
            ids.push(ActivityId(Uuid::from_u128(row?.0.value().1)));
        }
        Ok(ids)
    }

    /// Heads the relay has durably acknowledged for this journal (empty if none).
    pub fn acknowledged_heads(&self, journal: JournalId) -> Result<Vec<ChangeHash>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(ACKED_HEADS)?;
        let Some(value) = table.get(journal.0.as_u128())? else {
            return Ok(Vec::new());
        };
        decode_heads(value.value()).ok_or_else(|| StoreError::Damaged {
            journal,
            reason: "acknowledged heads are not a list of hashes".into(),
        })
    }

    /// Records that the relay durably stored `journal` up to `heads`: every
    /// activity whose latest local change is covered by `heads` counts as sent.
    pub fn mark_acknowledged(
        &self,
        id: JournalId,
        current: &Journal,
        heads: &[ChangeHash],
    ) -> Result<(), StoreError> {
        self.mark_acknowledged_by(id, heads, |named| {
            // Metadata only: Automerge would rebuild every change it hands out.
            let doc = current.doc();
            let not_covered: HashSet<ChangeHash> = doc
                .get_changes_meta(heads)
                .into_iter()
                .map(|meta| meta.hash)
                .collect();
            named
                .iter()
                .copied()
                .filter(|h| !not_covered.contains(h) && doc.get_change_meta_by_hash(h).is_some())
                .collect()
        })
    }

    /// [`Store::mark_acknowledged`] with what `heads` cover told by `covered`:
    /// given the changes that unsent rows name, those the relay now holds.
    pub fn mark_acknowledged_by(
        &self,
        id: JournalId,
        heads: &[ChangeHash],
        covered: impl FnOnce(&[ChangeHash]) -> Vec<ChangeHash>,
    ) -> Result<(), StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        let named = unsent::changes(&tx, id)?;
        if !named.is_empty() {
            let covered = covered(&named);
            unsent::acknowledge(&tx, id, &covered)?;
            // Each covered change leaves the index: when all it named are
            // covered, the last unsent change is sent, and so is the upload
            // made ready.
            let covered: HashSet<&ChangeHash> = covered.iter().collect();
            if named.iter().all(|h| covered.contains(h)) {
                ready_upload::clear(&tx, id)?;
            }
        }
        write_acked_heads(&tx, id, heads)?;
        tx.commit()?;
        Ok(())
    }

    /// [`Store::mark_acknowledged`] when the relay holds everything the
    /// journal holds (its heads are among `heads`): every activity counts as
    /// sent. Writes nothing when that is recorded already.
    pub fn mark_all_acknowledged(
        &self,
        id: JournalId,
        heads: &[ChangeHash],
    ) -> Result<(), StoreError> {
        if self.unsent_count(id)? == 0 && self.acknowledged_heads(id)? == heads {
            return Ok(());
        }
        let tx = begin_durable(self.db.get()?)?;
        unsent::clear(&tx, id)?;
        // Nothing is left to send: the upload made ready is sent, or moot.
        ready_upload::clear(&tx, id)?;
        write_acked_heads(&tx, id, heads)?;
        tx.commit()?;
        Ok(())
    }

    /// Durably appends changes received from the relay or a device (they are
    /// not local, so nothing becomes "unsent"), with the relay's tags on
    /// some of them (`attested`), in one transaction.
    pub fn append_remote(
        &self,
        journal: JournalId,
        changes: &mut [Change],
        (view, tip): (Option<&ViewUpdate>, Option<&Tip>),
        attested: &[(ChangeHash, AttestationTag)],
    ) -> Result<(), StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        append_in(&tx, journal, changes, &[], (view, tip))?;
        if !attested.is_empty() {
            let mut table = tx.open_table(ATTESTATIONS)?;
            for (hash, tag) in attested {
                table.insert((journal.0.as_u128(), &hash.0), tag.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The relay's tags kept for these changes of `journal` (those that have one).
    pub fn attestations(
        &self,
        journal: JournalId,
        hashes: impl IntoIterator<Item = ChangeHash>,
    ) -> Result<Vec<(ChangeHash, AttestationTag)>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(ATTESTATIONS)?;
        let mut out = Vec::new();
        for hash in hashes {
            if let Some(tag) = table.get((journal.0.as_u128(), &hash.0))? {
                let tag =
                    AttestationTag::try_from(tag.value()).map_err(|_| StoreError::Damaged {
                        journal,
                        reason: "a relay attestation is not 16 bytes".into(),
                    })?;
                out.push((hash, tag));
            }
        }
        Ok(out)
    }

    /// Adds a journal (empty: the genesis) unless it exists; updates the centre name.
    pub fn ensure_journal(&self, info: &JournalInfo) -> Result<(), StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        {
            let mut table = tx.open_table(JOURNALS)?;
            let current = table
                .get(info.id.0.as_u128())?
                .map(|v| decode_info(v.value()))
                .transpose()?;
            // The epoch is the store's own (the relay tells it in `Heads`).
            let info = JournalInfo {
                epoch: current.as_ref().map_or(0, |c| c.epoch),
                ..info.clone()
            };
            if current.as_ref() != Some(&info) {
                insert_info(&mut table, &info)?;
            }
            if current.is_none() {
                drop(table);
                write_snapshot_heads(&tx, info.id, &journal::genesis_heads())?;
                if self.home.is_some() {
                    write_empty_view(&tx, info.id)?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Moves the home journal's contents to a new id (the centre's id, learnt
    /// at enrolment), in one transaction. Its changes merge with the centre's
    /// journal at the relay thanks to the shared genesis.
    pub fn rekey_home(&mut self, to: JournalId, centre: &str) -> Result<(), StoreError> {
        let Some(from) = self.home else {
            return Err(StoreError::UnknownJournal(to));
        };
        let tx = begin_durable(self.db.get()?)?;
        if from != to {
            move_rows(&tx, from, to)?;
        }
        insert_info(
            &mut tx.open_table(JOURNALS)?,
            &JournalInfo {
                id: to,
                centre: centre.to_owned(),
                municipality: None,
                epoch: 0,
            },
        )?;
        tx.open_table(META)?
            .insert("home_journal", to.0.as_bytes().as_slice())?;
        tx.commit()?;
        self.home = Some(to);
        Ok(())
    }

    /// A small setting (JSON) kept beside the journals: enrolment, sync status.
    pub fn setting<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(SETTINGS)?;
        let Some(value) = table.get(key)? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(|e| StoreError::Damaged {
                journal: JournalId(Uuid::nil()),
                reason: format!("setting {key} unreadable: {e}"),
            })
    }

    /// Stores a setting durably.
    pub fn set_setting<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).expect("settings serialize");
        let tx = begin_durable(self.db.get()?)?;
        tx.open_table(SETTINGS)?.insert(key, bytes.as_slice())?;
        tx.commit()?;
        Ok(())
    }
}

/// A write transaction that is on disk when `commit` returns, committed in two
/// phases. With redb's default one-phase commit, a damaged latest commit slot or
/// page is taken for a torn write and the store silently opens at the previous
/// commit, losing a change that was reported as saved; with two phases, such
/// damage is reported instead (tests/store.rs, `bit_flips_*`).
fn begin_durable(db: &Database) -> Result<redb::WriteTransaction, StoreError> {
    let mut tx = db.begin_write()?;
    tx.set_durability(Durability::Immediate)?;
    tx.set_two_phase_commit(true);
    Ok(tx)
}

/// Local changes going into one journal in groups, in one durable write
/// transaction (see [`Store::begin_append`]).
pub struct AppendSession {
    tx: redb::WriteTransaction,
    journal: JournalId,
    /// Sequence number of the next appended change.
    next: u64,
}

impl std::fmt::Debug for AppendSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendSession")
            .field("journal", &self.journal)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl AppendSession {
    /// Adds a group of changes, the activities they touched (unsent until
    /// acknowledged) and those activities' view rows. Not stored before
    /// [`AppendSession::commit`].
    pub fn append(
        &mut self,
        changes: &mut [Change],
        touched: &[(ActivityId, ChangeHash)],
        rows: &[(ActivityId, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let j = self.journal.0.as_u128();
        let mut view = self.tx.open_table(ACTIVITY_VIEW)?;
        for (id, row) in rows {
            view.insert((j, id.0.as_u128()), row.as_slice())?;
        }
        drop(view);
        let mut table = self.tx.open_table(CHANGES)?;
        for change in changes.iter_mut() {
            table.insert((j, self.next), change.raw_bytes())?;
            self.next += 1;
        }
        drop(table);
        unsent::record(&self.tx, self.journal, touched)
    }

    /// Stores every group durably, with the view's heads and the journal's
    /// tip after them; returns once it is on disk.
    pub fn commit(self, heads: &[ChangeHash], tip: &Tip) -> Result<(), StoreError> {
        let bytes: Vec<u8> = heads.iter().flat_map(|h| h.0).collect();
        self.tx
            .open_table(VIEW_HEADS)?
            .insert(self.journal.0.as_u128(), bytes.as_slice())?;
        write_tip(&self.tx, self.journal, Some(tip))?;
        self.tx.commit()?;
        Ok(())
    }
}

/// A journal's materialized view as stored: the heads it reflects, and every
/// activity (unsorted).
pub type StoredView = (Vec<ChangeHash>, Vec<Activity>);

/// Changes appended to a journal and not folded into its snapshot: how many,
/// and their bytes (what compaction weighs, [`crate::limits::compaction_due`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    pub changes: u64,
    pub bytes: u64,
}

/// A journal saved (`Automerge::save`) and checked to load back to the same
/// heads: what compaction writes. Saving needs the journal; the check, the
/// costly part at tens of thousands of activities, does not, so a relay
/// makes it without holding the journal.
#[derive(Debug)]
pub struct Snapshot {
    bytes: Vec<u8>,
    /// The snapshot loaded back.
    doc: Automerge,
}

impl Snapshot {
    /// Checks `bytes` (a save of a journal whose heads were `heads`).
    pub fn check(bytes: Vec<u8>, heads: &[ChangeHash]) -> Result<Snapshot, StoreError> {
        let doc = catch_library_panic(|| Automerge::load(&bytes))
            .ok_or_else(|| StoreError::CompactionMismatch("snapshot does not load".into()))?
            .map_err(|e| StoreError::CompactionMismatch(format!("snapshot does not load: {e}")))?;
        if doc.get_heads() != heads {
            return Err(StoreError::CompactionMismatch(
                "heads differ after reload".into(),
            ));
        }
        Ok(Snapshot { bytes, doc })
    }

    /// The snapshot's bytes, as saved.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes of the snapshot.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Rows of the materialized view to write with a change, and the heads after it.
#[derive(Clone, Debug, Default)]
pub struct ViewUpdate {
    pub rows: Vec<(ActivityId, Vec<u8>)>,
    pub heads: Vec<ChangeHash>,
}

impl ViewUpdate {
    /// The rows for `ids` as `journal` now shows them.
    pub fn of(
        journal: &Journal,
        ids: impl IntoIterator<Item = ActivityId>,
    ) -> Result<ViewUpdate, JournalError> {
        let mut rows = Vec::new();
        for id in ids {
            if let Some(activity) = journal.get(id)? {
                rows.push((id, view_row::encode(&activity)));
            }
        }
        Ok(ViewUpdate {
            rows,
            heads: journal.heads(),
        })
    }

    /// Every activity of `journal`.
    pub fn full(journal: &Journal) -> Result<ViewUpdate, JournalError> {
        let rows = journal
            .activities()?
            .into_iter()
            .map(|a| (a.id, view_row::encode(&a)))
            .collect();
        Ok(ViewUpdate {
            rows,
            heads: journal.heads(),
        })
    }
}

/// The view of a journal that holds only the genesis: no activities.
fn write_empty_view(tx: &redb::WriteTransaction, journal: JournalId) -> Result<(), StoreError> {
    let view = ViewUpdate {
        rows: Vec::new(),
        heads: journal::genesis_heads(),
    };
    write_view(tx, journal, &view, true)
}

fn write_view(
    tx: &redb::WriteTransaction,
    journal: JournalId,
    view: &ViewUpdate,
    replace_all: bool,
) -> Result<(), StoreError> {
    let j = journal.0.as_u128();
    let mut table = tx.open_table(ACTIVITY_VIEW)?;
    if replace_all {
        table.retain_in((j, 0)..=(j, u128::MAX), |_, _| false)?;
    }
    for (id, json) in &view.rows {
        table.insert((j, id.0.as_u128()), json.as_slice())?;
    }
    let heads: Vec<u8> = view.heads.iter().flat_map(|h| h.0).collect();
    tx.open_table(VIEW_HEADS)?.insert(j, heads.as_slice())?;
    Ok(())
}

/// Writes the journal's tip, or removes it when unknown (a tip left from
/// before this write would be wrong).
pub(crate) fn write_tip(
    tx: &redb::WriteTransaction,
    journal: JournalId,
    tip: Option<&Tip>,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(JOURNAL_TIPS)?;
    match tip {
        Some(tip) => table.insert(journal.0.as_u128(), tip.to_bytes().as_slice())?,
        None => table.remove(journal.0.as_u128())?,
    };
    Ok(())
}

/// Records the heads of the snapshot written for `journal` in `tx`.
pub(crate) fn write_snapshot_heads(
    tx: &redb::WriteTransaction,
    journal: JournalId,
    heads: &[ChangeHash],
) -> Result<(), StoreError> {
    write_heads(tx, SNAPSHOT_HEADS, journal, heads)
}

/// Records the heads the relay acknowledged for `journal` in `tx`.
fn write_acked_heads(
    tx: &redb::WriteTransaction,
    journal: JournalId,
    heads: &[ChangeHash],
) -> Result<(), StoreError> {
    write_heads(tx, ACKED_HEADS, journal, heads)
}

/// Writes `heads` as a row of one of the tables of heads (32-byte hashes, concatenated).
fn write_heads(
    tx: &redb::WriteTransaction,
    table: redb::TableDefinition<u128, &[u8]>,
    journal: JournalId,
    heads: &[ChangeHash],
) -> Result<(), StoreError> {
    let encoded: Vec<u8> = heads.iter().flat_map(|h| h.0).collect();
    tx.open_table(table)?
        .insert(journal.0.as_u128(), encoded.as_slice())?;
    Ok(())
}

/// Moves every row of journal `from` to journal `to` (used by [`Store::rekey_home`]).
fn move_rows(
    tx: &redb::WriteTransaction,
    from: JournalId,
    to: JournalId,
) -> Result<(), StoreError> {
    let (f, t) = (from.0.as_u128(), to.0.as_u128());
    let mut changes = tx.open_table(CHANGES)?;
    let mut seq = next_seq(&changes, to)?;
    let target_empty = seq == 0 && tx.open_table(SNAPSHOTS)?.get(t)?.is_none();
    let moved: Vec<Vec<u8>> = changes
        .extract_from_if(journal_range(from), |_, _| true)?
        .map(|row| row.map(|(_, v)| v.value().to_vec()))
        .collect::<Result<_, _>>()?;
    for bytes in moved {
        changes.insert((t, seq), bytes.as_slice())?;
        seq += 1;
    }
    let mut snapshots = tx.open_table(SNAPSHOTS)?;
    let mut snapshot_heads = tx.open_table(SNAPSHOT_HEADS)?;
    let snapshot = snapshots.remove(f)?.map(|v| v.value().to_vec());
    let moved_heads = snapshot_heads.remove(f)?.map(|v| v.value().to_vec());
    if target_empty {
        // The target holds nothing yet (a new centre, the usual case): the
        // snapshot stays a snapshot (loading one is fast; replaying it as
        // appended changes is not), followed by the moved changes.
        if let Some(bytes) = snapshot {
            snapshots.insert(t, bytes.as_slice())?;
        }
        match moved_heads {
            Some(heads) => snapshot_heads.insert(t, heads.as_slice())?,
            None => snapshot_heads.remove(t)?,
        };
    } else if let Some(bytes) = snapshot {
        // Both histories are kept: the snapshot moves as appended bytes
        // (the target's own snapshot, and its heads, stay).
        changes.insert((t, seq), bytes.as_slice())?;
    }
    drop((changes, snapshots, snapshot_heads));
    unsent::move_rows(tx, from, to)?;
    move_activity_rows(tx, ACTIVITY_VIEW, from, to)?;
    files::move_uploads(tx, from, to)?;
    if target_empty {
        // The same journal under a new id: its heads, tip, view and ready
        // upload hold as they were, so the first sync after enrolment
        // needs no document.
        move_row(tx, VIEW_HEADS, from, to)?;
        move_row(tx, JOURNAL_TIPS, from, to)?;
        ready_upload::move_rows(tx, from, to)?;
    } else {
        // The merged journal's heads are only known once it is loaded again:
        // drop the heads so the view is rebuilt from the document on next
        // read, and the tip so it is computed again.
        tx.open_table(VIEW_HEADS)?.remove(f)?;
        tx.open_table(VIEW_HEADS)?.remove(t)?;
        write_tip(tx, from, None)?;
        write_tip(tx, to, None)?;
        ready_upload::clear(tx, from)?;
        ready_upload::clear(tx, to)?;
    }
    tx.open_table(ACKED_HEADS)?.remove(f)?;
    tx.open_table(JOURNALS)?.remove(f)?;
    Ok(())
}

/// Moves the row of journal `from` in a table keyed by journal id to `to`
/// (removing any `to` had).
fn move_row(
    tx: &redb::WriteTransaction,
    table: redb::TableDefinition<u128, &[u8]>,
    from: JournalId,
    to: JournalId,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(table)?;
    let row = table.remove(from.0.as_u128())?.map(|v| v.value().to_vec());
    match row {
        Some(row) => table.insert(to.0.as_u128(), row.as_slice())?,
        None => table.remove(to.0.as_u128())?,
    };
    Ok(())
}

/// Moves the rows of journal `from` in a table keyed by (journal, activity)
/// to journal `to`, replacing any `to` holds for the same activity.
pub(crate) fn move_activity_rows(
    tx: &redb::WriteTransaction,
    table: redb::TableDefinition<(u128, u128), &[u8]>,
    from: JournalId,
    to: JournalId,
) -> Result<(), StoreError> {
    let (f, t) = (from.0.as_u128(), to.0.as_u128());
    let mut table = tx.open_table(table)?;
    let rows: Vec<(u128, Vec<u8>)> = table
        .extract_from_if((f, 0)..=(f, u128::MAX), |_, _| true)?
        .map(|row| row.map(|(k, v)| (k.value().1, v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    for (activity, value) in rows {
        table.insert((t, activity), value.as_slice())?;
    }
    Ok(())
}

/// Refuses compaction unless every appended change of the journal is in
/// `current`: the new snapshot replaces them, so a missing one would be lost.
/// The appended changes of `id` a snapshot folds in (their sequence numbers),
/// and what stays appended after it: those from `made_at` on.
fn split_appended(
    tx: &redb::WriteTransaction,
    id: JournalId,
    snapshot: &Automerge,
    made_at: u64,
) -> Result<(Vec<u64>, Appended), StoreError> {
    let changes = tx.open_table(CHANGES)?;
    let mut folded = Vec::new();
    let mut kept = Appended::default();
    for row in changes.range(journal_range(id))? {
        let (key, bytes) = row?;
        let seq = key.value().1;
        if seq >= made_at {
            kept.changes += 1;
            kept.bytes += bytes.value().len() as u64;
            continue;
        }
        let change =
            crate::sync::decode_change(bytes.value()).map_err(|e| StoreError::Damaged {
                journal: id,
                reason: format!("an appended change does not decode: {e}"),
            })?;
        if snapshot.get_change_meta_by_hash(&change.hash()).is_none() {
            return Err(StoreError::CompactionMismatch(
                "the snapshot lacks a stored change".into(),
            ));
        }
        folded.push(seq);
    }
    Ok((folded, kept))
}

fn load_document(snapshot: Option<&[u8]>, appended: &[u8]) -> Result<Automerge, JournalError> {
    let mut doc = match snapshot {
        Some(bytes) => Automerge::load(bytes)?,
        None => journal::genesis(),
    };
    if !appended.is_empty() {
        doc.load_incremental(appended)?;
    }
    Ok(doc)
}

/// Counts a range's rows, stopping at the first error: redb's iterator can
/// go on returning the same read error forever (a disk failing under it),
/// and `Iterator::count` would count those without end.
fn count_rows<K: redb::Key + 'static, V: redb::Value + 'static>(
    rows: redb::Range<'_, K, V>,
) -> Result<u64, StoreError> {
    let mut n = 0;
    for row in rows {
        row?;
        n += 1;
    }
    Ok(n)
}

fn journal_range(id: JournalId) -> std::ops::RangeInclusive<(u128, u64)> {
    (id.0.as_u128(), 0)..=(id.0.as_u128(), u64::MAX)
}

fn next_seq(
    table: &impl redb::ReadableTable<(u128, u64), &'static [u8]>,
    journal: JournalId,
) -> Result<u64, StoreError> {
    let last = table
        .range(journal_range(journal))?
        .next_back()
        .transpose()?;
    Ok(last.map_or(0, |(key, _)| key.value().1 + 1))
}

fn decode_info(bytes: &[u8]) -> Result<JournalInfo, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Damaged {
        journal: JournalId(Uuid::nil()),
        reason: format!("journal description unreadable: {e}"),
    })
}

fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes
        .chunks(32)
        .map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

struct Meta {
    version: u32,
    device: DeviceId,
    device_name: String,
    home: Option<JournalId>,
}

/// Reads the header. `Ok(None)` means the file has no header at all (foreign).
fn read_meta(db: &Database) -> Result<Option<Meta>, String> {
    let tx = db.begin_read().map_err(|e| e.to_string())?;
    let table = match tx.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let get = |key: &str| -> Result<Option<Vec<u8>>, String> {
        Ok(table
            .get(key)
            .map_err(|e| e.to_string())?
            .map(|v| v.value().to_vec()))
    };
    if get("format")?.as_deref() != Some(FORMAT_MARKER) {
        return Ok(None);
    }
    let version = get("store_version")?
        .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
        .map(u32::from_le_bytes)
        .ok_or("the layout version is missing")?;
    let uuid = |key: &str| -> Result<Uuid, String> {
        get(key)?
            .and_then(|v| Uuid::from_slice(&v).ok())
            .ok_or_else(|| format!("the {key} is missing"))
    };
    let device_name = String::from_utf8(get("device_name")?.unwrap_or_default())
        .map_err(|_| "the device name is not text")?;
    Ok(Some(Meta {
        version,
        device: DeviceId(uuid("device_id")?),
        device_name,
        home: match get("home_journal")? {
            None => None,
            Some(_) => Some(JournalId(uuid("home_journal")?)),
        },
    }))
}

fn write_new_store(
    db: &Database,
    device_name: &str,
    centre: Option<&str>,
    (DeviceId(device), home): (DeviceId, JournalId),
) -> Result<(), StoreError> {
    let tx = begin_durable(db)?;
    {
        let mut meta = tx.open_table(META)?;
        meta.insert("format", FORMAT_MARKER)?;
        meta.insert("store_version", STORE_VERSION.to_le_bytes().as_slice())?;
        meta.insert("device_id", device.as_bytes().as_slice())?;
        meta.insert("device_name", device_name.as_bytes())?;
        if let Some(centre) = centre {
            meta.insert("home_journal", home.0.as_bytes().as_slice())?;
            insert_info(
                &mut tx.open_table(JOURNALS)?,
                &JournalInfo {
                    id: home,
                    centre: centre.to_owned(),
                    municipality: None,
                    epoch: 0,
                },
            )?;
            write_empty_view(&tx, home)?;
            write_snapshot_heads(&tx, home, &journal::genesis_heads())?;
        }
    }
    // Create the remaining tables so readers never meet a missing one.
    erasure::each_table(&mut CreateIn(&tx))?;
    tx.commit()?;
    Ok(())
}

/// Appends changes (and their view rows, and what becomes unsent) in `tx`.
fn append_in(
    tx: &redb::WriteTransaction,
    journal: JournalId,
    changes: &mut [Change],
    touched: &[(ActivityId, ChangeHash)],
    (view, tip): (Option<&ViewUpdate>, Option<&Tip>),
) -> Result<(), StoreError> {
    if let Some(view) = view {
        write_view(tx, journal, view, false)?;
    }
    write_tip(tx, journal, tip)?;
    let mut table = tx.open_table(CHANGES)?;
    let first = next_seq(&table, journal)?;
    for (seq, change) in (first..).zip(changes.iter_mut()) {
        table.insert((journal.0.as_u128(), seq), change.raw_bytes())?;
    }
    unsent::record(tx, journal, touched)
}

fn insert_info(
    table: &mut redb::Table<'_, u128, &[u8]>,
    info: &JournalInfo,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(info).expect("JournalInfo serializes");
    table.insert(info.id.0.as_u128(), bytes.as_slice())?;
    Ok(())
}

/// Numbered migrations: step `n` upgrades layout `n` to `n + 1`. Each layout
/// adds one here and a test that opens a committed store file of the
/// previous layout (`sync-core/tests/fixtures/`).
fn migrate(db: &Database, from: u32, file_bytes: &FileBytes) -> Result<(), StoreError> {
    let steps: [MigrationStep; 7] = [
        migrate_1_to_2,
        migrate_2_to_3,
        migrate_3_to_4,
        migrate_4_to_5,
        migrate_5_to_6,
        migrate_6_to_7,
        migrate_7_to_8,
    ];
    for step in steps.iter().skip(from as usize - 1) {
        step(db)?;
    }
    if from < 9 {
        migrate_8_to_9(db, file_bytes)?;
    }
    Ok(())
}

/// Layout 2 adds `attestations-v1` (the relay's tags on other devices'
/// changes). Changes received before have no tag: they can be sent back
/// only to a relay that still holds them.
fn migrate_1_to_2(db: &Database) -> Result<(), StoreError> {
    let tx = begin_durable(db)?;
    tx.open_table(ATTESTATIONS)?;
    tx.open_table(META)?
        .insert("store_version", 2_u32.to_le_bytes().as_slice())?;
    tx.commit()?;
    Ok(())
}

/// Layout 3 adds `journal_tip-v1`; each journal's tip is written the first
/// time the journal is loaded (nothing to compute here).
fn migrate_2_to_3(db: &Database) -> Result<(), StoreError> {
    let tx = begin_durable(db)?;
    tx.open_table(JOURNAL_TIPS)?;
    tx.open_table(META)?
        .insert("store_version", 3_u32.to_le_bytes().as_slice())?;
    tx.commit()?;
    Ok(())
}

/// Layout 4 stores the view's rows compactly (`activity_view-v2`, see
/// `view_row`): every JSON row of `activity_view-v1` is rewritten, and that
/// table deleted.
fn migrate_3_to_4(db: &Database) -> Result<(), StoreError> {
    let tx = begin_durable(db)?;
    {
        let old = tx.open_table(ACTIVITY_VIEW_JSON)?;
        let mut new = tx.open_table(ACTIVITY_VIEW)?;
        for row in old.iter()? {
            let (key, value) = row?;
            let (journal, id) = key.value();
            let activity: Activity =
                serde_json::from_slice(value.value()).map_err(|e| StoreError::Damaged {
                    journal: JournalId(Uuid::from_u128(journal)),
                    reason: format!("a listed activity is unreadable: {e}"),
                })?;
            new.insert((journal, id), view_row::encode(&activity).as_slice())?;
        }
    }
    tx.delete_table(ACTIVITY_VIEW_JSON)?;
    tx.open_table(META)?
        .insert("store_version", 4_u32.to_le_bytes().as_slice())?;
    tx.commit()?;
    Ok(())
}

/// Layout 5 adds `snapshot_heads-v1` (the genesis heads for each journal
/// without a snapshot; a snapshot's heads are written when its journal is
/// next loaded) and `unsent_by_change-v1`, built from `unsent-v1`.
fn migrate_4_to_5(db: &Database) -> Result<(), StoreError> {
    let tx = begin_durable(db)?;
    {
        let journals: Vec<u128> = tx
            .open_table(JOURNALS)?
            .iter()?
            .map(|row| row.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()?;
        let snapshots = tx.open_table(SNAPSHOTS)?;
        for j in journals {
            if snapshots.get(j)?.is_none() {
                write_snapshot_heads(
                    &tx,
                    JournalId(Uuid::from_u128(j)),
                    &journal::genesis_heads(),
                )?;
            }
        }
    }
    unsent::build_index(&tx)?;
    tx.open_table(META)?
        .insert("store_version", 5_u32.to_le_bytes().as_slice())?;
    tx.commit()?;
    Ok(())
}

/// Layout 6 adds `ready_upload-v1` and `ready_batch-v1`, empty: the next
/// compaction of a journal with unsent changes fills them.
fn migrate_5_to_6(db: &Database) -> Result<(), StoreError> {
    let tx = begin_durable(db)?;
    tx.open_table(READY_UPLOADS)?;
    tx.open_table(READY_BATCHES)?;
    tx.open_table(META)?
        .insert("store_version", 6_u32.to_le_bytes().as_slice())?;
    tx.commit()?;
    Ok(())
}

/// Creates every table of the layout that does not exist yet.
struct CreateIn<'a>(&'a redb::WriteTransaction);

impl erasure::EachTable for CreateIn<'_> {
    fn table<K: redb::Key + 'static>(
        &mut self,
        table: redb::TableDefinition<K, &[u8]>,
    ) -> Result<(), StoreError> {
        self.0.open_table(table)?;
        Ok(())
    }
}

/// Layout 7 adds `file-v1` and `file_chunk-v1` (files attached to
/// activities), empty.
fn migrate_6_to_7(db: &Database) -> Result<(), StoreError> {
    let tx = begin_durable(db)?;
    tx.open_table(FILES)?;
    tx.open_table(FILE_CHUNKS)?;
    tx.open_table(META)?
        .insert("store_version", 7_u32.to_le_bytes().as_slice())?;
    tx.commit()?;
    Ok(())
}

/// Layout 8 adds `file_upload-v1` (files waiting to be sent), empty: no
/// store of layout 7 had a way to attach a file.
fn migrate_7_to_8(db: &Database) -> Result<(), StoreError> {
    let tx = begin_durable(db)?;
    tx.open_table(FILE_UPLOADS)?;
    tx.open_table(META)?
        .insert("store_version", 8_u32.to_le_bytes().as_slice())?;
    tx.commit()?;
    Ok(())
}

/// Layout 9 keeps a device's file bytes beside its store
/// ([`file_bytes`]): each file's chunks are copied out of `file_chunk-v1`
/// and synced, then, in one transaction, removed from it. A crash before
/// that commit runs the copy again. A relay's journal file keeps them.
fn migrate_8_to_9(db: &Database, file_bytes: &FileBytes) -> Result<(), StoreError> {
    if let Some(folder) = file_bytes.folder() {
        files::copy_chunks_out(db, folder)?;
    }
    let tx = begin_durable(db)?;
    if file_bytes.folder().is_some() {
        tx.open_table(FILE_CHUNKS)?.retain(|_, _| false)?;
    }
    tx.open_table(META)?
        .insert("store_version", 9_u32.to_le_bytes().as_slice())?;
    tx.commit()?;
    Ok(())
}

/// One numbered migration: upgrades the layout in place, in one transaction.
type MigrationStep = fn(&Database) -> Result<(), StoreError>;

/// Tells an empty or foreign file from a redb file before redb parses it.
fn check_file_kind(path: &Path) -> Result<(), OpenError> {
    use std::io::Read;
    let mut head = [0_u8; REDB_MAGIC.len()];
    let mut file = std::fs::File::open(path).map_err(|source| OpenError::Io {
        path: path.to_owned(),
        source,
    })?;
    let n = file.read(&mut head).map_err(|source| OpenError::Io {
        path: path.to_owned(),
        source,
    })?;
    if n == 0 {
        return Err(damaged(path, "the file is empty"));
    }
    if n < head.len() || head != REDB_MAGIC {
        return Err(OpenError::Foreign {
            path: path.to_owned(),
            reason: "it is not a database file".into(),
        });
    }
    Ok(())
}

/// The first bytes of every redb file: its whole magic number, so that a file that
/// merely starts with "redb" is called foreign here rather than an I/O error by redb.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

fn open_error(path: &Path, e: redb::DatabaseError) -> OpenError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen | redb::DatabaseError::LockProtocolMismatch => {
            OpenError::InUse(path.to_owned())
        }
        // redb reads a whole header: a file cut short inside it is damaged,
        // not an operating-system failure.
        redb::DatabaseError::Storage(redb::StorageError::Io(source))
            if source.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            damaged(path, "the file is cut short (truncated)")
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(source)) => OpenError::Io {
            path: path.to_owned(),
            source,
        },
        redb::DatabaseError::UpgradeRequired(_) => OpenError::Foreign {
            path: path.to_owned(),
            reason: "it was written by an old, unsupported database format".into(),
        },
        other => damaged(path, &other.to_string()),
    }
}

fn damaged(path: &Path, reason: &str) -> OpenError {
    OpenError::Damaged {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}
