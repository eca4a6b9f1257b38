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

use std::path::{Path, PathBuf};

use automerge::{Automerge, ChangeHash};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
};

use super::tables::{
    ACKED_HEADS, ACTIVITY_VIEW, ATTESTATIONS, CHANGES, JOURNAL_TIPS, JOURNALS, META, SETTINGS,
    SNAPSHOTS, UNSENT, VIEW_HEADS,
};
use super::{
    JournalId, Store, StoreError, ViewUpdate, begin_durable, decode_info, insert_info,
    journal_range, write_view,
};
use crate::activity::ActivityId;
use crate::journal::Journal;
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
    view: Option<ViewUpdate>,
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
        Ok(PreparedJournal { snapshot, view })
    }
}

/// Suffix of the fresh file while [`Store::rewrite_file`] writes it.
const REWRITING_SUFFIX: &str = "rewriting";

/// Settings key written in the transaction that replaces a journal and absent
/// from the rewritten file: when a store opens with it, the process stopped
/// between the two (a crash, a power cut) and freed pages may still hold an
/// erased record, so the file is rewritten then.
const REWRITE_PENDING_KEY: &str = "file_rewrite_pending";

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
        let tx = begin_durable(&self.db)?;
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
        tx.open_table(CHANGES)?
            .retain_in(journal_range(id), |_, _| false)?;
        {
            let mut unsent = tx.open_table(UNSENT)?;
            unsent.retain_in((j, 0)..=(j, u128::MAX), |_, _| false)?;
            for (activity, hash) in with.unsent {
                unsent.insert((j, activity.0.as_u128()), hash.0.as_slice())?;
            }
        }
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
        tx.open_table(SETTINGS)?
            .insert(REWRITE_PENDING_KEY, b"true".as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// Finishes a file rewrite that a crash interrupted (see
    /// [`REWRITE_PENDING_KEY`]); nothing to do otherwise.
    pub(super) fn finish_interrupted_rewrite(&mut self) -> Result<(), StoreError> {
        if self.setting::<bool>(REWRITE_PENDING_KEY)?.is_some() {
            self.rewrite_file()?;
        }
        Ok(())
    }

    /// Copies every table into a fresh file and puts it in this file's place,
    /// so that no freed page of the old file remains; the store goes on on
    /// the new file. On an error the old file stays, whole.
    pub fn rewrite_file(&mut self) -> Result<(), StoreError> {
        let fresh_path = rewriting_path(&self.path);
        // A leftover of an interrupted rewrite is incomplete: start again.
        remove_if_present(&fresh_path)?;
        let fresh = Database::builder()
            .set_concurrency_mode(self.mode)
            .create(&fresh_path)?;
        {
            let from = self.db.begin_read()?;
            check_known_tables(&from)?;
            let to = begin_durable(&fresh)?;
            copy_all(&from, &to)?;
            to.open_table(SETTINGS)?.remove(REWRITE_PENDING_KEY)?;
            to.commit()?;
        }
        // The fresh file is complete and durable: it takes the old one's name
        // (atomically on the same file system) while both are open and
        // locked, so no other process ever opens a half-made store.
        std::fs::rename(&fresh_path, &self.path).map_err(io_error)?;
        sync_parent_dir(&self.path)?;
        // Closing the old file lets the file system free its blocks.
        self.db.replace(fresh);
        Ok(())
    }
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

/// Makes the rename durable (the directory entry is on disk).
fn sync_parent_dir(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error)?;
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
    visit.table(JOURNAL_TIPS)
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
