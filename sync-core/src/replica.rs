//! A device's journals bound to its store: the one place where edits are made.
//!
//! Every method that changes a journal appends the resulting Automerge change
//! to the store durably before it returns `Ok`. If the append fails, the
//! in-memory journal is reloaded from the store, so memory never holds a change
//! that the disk does not (such a change could otherwise be synced and then
//! lost, or its sequence number reused).
//!
//! A device records into its *home* journal (its centre's). An office device
//! also holds every centre's journal, loaded on first use. [`Replica`]
//! implements [`ClientStorage`], so a sync session reads and writes journals
//! through the same durable path.

mod epoch;
mod erasure;

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Read, Seek};
use std::path::Path;

use automerge::{Change, ChangeHash};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::activity::{Activity, ActivityId, ActivityPatch, Attachment, Thumbnail};
use crate::files::{self, FileHash, MediaType};
use crate::journal::{Journal, JournalError, NewAttachment, Stamp, Tip, new_record};
use crate::limits::{
    COMPACT_AFTER_CHANGES, COMPACT_UNLOADED_AFTER_CHANGES, IMPORT_ACTIVITIES_PER_CHANGE,
    MAX_FILES_PER_ACTIVITY, MAX_PENDING_CHANGES, MAX_UPLOAD_BATCH_OPS, compaction_due,
};
use crate::store::{
    AppendPosition, AppendSession, DeviceId, JournalId, JournalInfo, NewStore, OpenError,
    PutFileError, Store, StoreError, ViewUpdate,
};
use crate::sync::{
    AttestationTag, Batch, BatchChange, ClientStorage, StorageFailure, StoredBatch, StoredChanges,
    SyncStorage, apply_guarded_alongside, batch_from, missing_from,
};
use crate::sync::{Checked, Received, check_received};
use crate::thumbnail;

/// Errors from a local edit or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaError {
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Boxed: redb's errors are large, and this error travels through every call.
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The store belongs to a relay, not to a device.
    #[error("this store has no journal of its own (is it the relay's?)")]
    NoHomeJournal,
    /// A file offered for attaching was refused or could not be stored
    /// (boxed: it may hold a store error).
    #[error(transparent)]
    File(Box<PutFileError>),
    /// A stored file could not be read back whole (boxed, as above).
    #[error(transparent)]
    ReadFile(Box<crate::store::ReadFileError>),
}

impl From<crate::store::ReadFileError> for ReplicaError {
    fn from(e: crate::store::ReadFileError) -> Self {
        match e {
            crate::store::ReadFileError::Store(e) => e.into(),
            e => ReplicaError::ReadFile(Box::new(e)),
        }
    }
}

impl From<PutFileError> for ReplicaError {
    fn from(e: PutFileError) -> Self {
        match e {
            PutFileError::Store(e) => e.into(),
            e => ReplicaError::File(Box::new(e)),
        }
    }
}

impl From<StoreError> for ReplicaError {
    fn from(e: StoreError) -> Self {
        ReplicaError::Store(Box::new(e))
    }
}

/// Outcome of [`Replica::import`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Activities added.
    pub added: usize,
    /// Rows skipped because an activity with that id already exists.
    pub already_present: usize,
    /// Among those, the ones whose content differs from the activity held
    /// (changed here or in the file since): left as they are unless asked
    /// to update ([`Replica::import_updating`]).
    pub differing: Vec<ActivityId>,
    /// Activities updated from the file.
    pub updated: usize,
}

/// An import under way (see [`Replica::begin_import`]): the rows pushed so
/// far that are new sit in the store's open transaction, but for the last
/// few (less than one change's worth); none is stored until
/// [`Import::finish`], and dropping the import stores none.
#[derive(Debug)]
pub struct Import<'r> {
    replica: &'r mut Replica,
    way: ImportWay,
    now: DateTime<Utc>,
    author: String,
    actor: automerge::ActorId,
    updating: bool,
    /// Ids pushed so far: a repeat is skipped as already present.
    seen: HashSet<ActivityId>,
    outcome: ImportOutcome,
    /// What the rows whose id is held would change, kept only when updating.
    updates: Vec<(ActivityId, ActivityPatch)>,
}

/// How an import stores its rows.
#[derive(Debug)]
enum ImportWay {
    /// Built from the journal's tip without loading it, a change at a time.
    Streamed {
        /// Boxed: redb's write transaction is large.
        session: Box<AppendSession>,
        /// The activities held before the import, from the view.
        listed: HashSet<ActivityId>,
        /// Where the next change starts.
        tip: Tip,
        /// New rows not yet in a change (fewer than
        /// [`IMPORT_ACTIVITIES_PER_CHANGE`]).
        group: Vec<(ActivityId, ActivityPatch)>,
        /// Changes appended, and their bytes (see [`compaction_due`]).
        appended: (u64, u64),
    },
    /// A store without a view (from before it existed): the rows are held
    /// and go through the loaded journal at the end.
    ThroughJournal(Vec<(ActivityId, ActivityPatch)>),
}

impl Import<'_> {
    /// Takes one row: a new activity, or one whose id is already held or
    /// was pushed before (counted as already present).
    pub fn push(&mut self, id: ActivityId, patch: ActivityPatch) -> Result<(), ReplicaError> {
        let group_full = match &mut self.way {
            ImportWay::ThroughJournal(items) => {
                items.push((id, patch));
                false
            }
            ImportWay::Streamed { listed, group, .. } => {
                if !self.seen.insert(id) {
                    self.outcome.already_present += 1;
                } else if listed.contains(&id) {
                    self.outcome.already_present += 1;
                    let held = self.replica.list_view().get(id)?;
                    let change = held.map(|(_, a)| patch.changes_to(&a));
                    if let Some(change) = change.filter(|c| !c.is_empty()) {
                        self.outcome.differing.push(id);
                        if self.updating {
                            self.updates.push((id, change));
                        }
                    }
                } else {
                    group.push((id, patch));
                }
                group.len() >= IMPORT_ACTIVITIES_PER_CHANGE
            }
        };
        if group_full {
            self.store_group()?;
        }
        Ok(())
    }

    /// Builds the change of the rows waiting (from the tip, as `add` does: a
    /// transaction per activity would cost tens of microseconds per
    /// operation) and puts it in the store's transaction.
    fn store_group(&mut self) -> Result<(), ReplicaError> {
        let ImportWay::Streamed {
            session,
            tip,
            group,
            appended,
            ..
        } = &mut self.way
        else {
            return Ok(());
        };
        if group.is_empty() {
            return Ok(());
        }
        let stamp = Stamp {
            author: &self.author,
            now: self.now,
        };
        let (mut changes, next) = Journal::prepare_create_many(&self.actor, tip, group, stamp)?;
        let rows = new_rows(group.iter().map(|(id, patch)| (*id, patch)), stamp);
        let touched: Vec<(ActivityId, ChangeHash)> = group
            .chunks(IMPORT_ACTIVITIES_PER_CHANGE)
            .zip(&changes)
            .flat_map(|(chunk, change)| chunk.iter().map(|(id, _)| (*id, change.hash())))
            .collect();
        session.append(&mut changes, &touched, &rows)?;
        count_appended((&mut appended.0, &mut appended.1), &changes);
        self.outcome.added += group.len();
        *tip = next;
        group.clear();
        Ok(())
    }

    /// Stores every new row durably, in one transaction, then (when
    /// updating) edits the activities whose rows differ.
    pub fn finish(mut self) -> Result<ImportOutcome, ReplicaError> {
        self.store_group()?;
        let Import {
            replica,
            way,
            now,
            mut outcome,
            updates,
            ..
        } = self;
        match way {
            ImportWay::ThroughJournal(items) => return replica.import_through_journal(items, now),
            ImportWay::Streamed {
                session,
                tip,
                appended,
                ..
            } => {
                // With nothing new, the session ends unused: nothing is written.
                if outcome.added > 0 {
                    session.commit(tip.heads(), &tip)?;
                    // A document this process held is behind the store now: it
                    // loads again, from the store, when next needed (the tip is
                    // known).
                    let loaded = replica.known(replica.home)?;
                    loaded.journal = None;
                    loaded.pending.clear();
                    loaded.appended += appended.0;
                    loaded.appended_bytes += appended.1;
                    loaded.tip = Some(tip);
                }
            }
        }
        for (id, patch) in updates {
            replica.edit(id, &patch, now)?;
            outcome.updated += 1;
        }
        Ok(outcome)
    }
}

/// Plain-figures status of the home journal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    pub centre: String,
    /// The centre's municipality, as the relay last told it (for reports).
    pub municipality: Option<String>,
    pub journal_id: JournalId,
    pub device_id: DeviceId,
    pub device_name: String,
    /// Activities that are not deleted.
    pub activities: usize,
    /// Deleted activities (kept as tombstones, restorable).
    pub deleted: usize,
    /// Activities (in any journal) with local changes the relay has not durably acknowledged.
    pub unsent: u64,
    /// Files attached here that the relay does not hold whole yet (their
    /// thumbnails not counted), and their bytes (thumbnails counted).
    pub files_waiting: u64,
    pub file_bytes_waiting: u64,
}

/// What this process knows of one journal it has used.
#[derive(Debug)]
struct Loaded {
    /// The Automerge document, loaded from the store on first read: recording
    /// a new activity does not need it (see [`Replica::add`]).
    journal: Option<Journal>,
    /// Changes appended since the last snapshot, to know when to compact.
    appended: u64,
    /// Bytes of the changes appended since the last compaction, as the
    /// store held them when this process first used the journal plus what it
    /// appended since (see [`compaction_due`]).
    appended_bytes: u64,
    /// Size of the journal's snapshot, as of loading or the last compaction;
    /// `None` until either (reading it means reading the whole snapshot,
    /// which recording one activity must not cost).
    snapshot_bytes: Option<u64>,
    /// New-activity changes already durable in the store but not yet applied to
    /// `journal` (see [`Replica::add`]); applied before anything reads it.
    /// Empty while `journal` is not loaded (loading reads them from the store).
    pending: Vec<Change>,
    /// Where the next change [`Replica::add`] prepares starts. `Some` only while
    /// nothing but `add` has changed the journal since it was computed.
    tip: Option<Tip>,
}

/// A journal whose document is loaded and current (every pending change applied).
#[derive(Debug)]
struct Settled<'a> {
    journal: &'a mut Journal,
    appended: &'a mut u64,
    appended_bytes: &'a mut u64,
}

impl Settled<'_> {
    /// Counts changes just appended to the store.
    fn appended_now(&mut self, changes: &[Change]) {
        count_appended((self.appended, self.appended_bytes), changes);
    }
}

impl Loaded {
    /// Whether the appended changes are due to be compacted; with the
    /// snapshot's size not known, by their number alone.
    fn compaction_due(&self) -> bool {
        match self.snapshot_bytes {
            Some(snapshot) => compaction_due(self.appended, self.appended_bytes, snapshot),
            None => self.appended >= COMPACT_AFTER_CHANGES,
        }
    }

    /// New activities' changes made from the tip were just appended to the
    /// store (`add`, `import`): `next` is the tip after them.
    fn recorded_from_tip(&mut self, changes: &[Change], next: Tip) {
        count_appended((&mut self.appended, &mut self.appended_bytes), changes);
        self.tip = Some(next);
    }
}

/// Adds `changes` to a journal's count of appended changes and their bytes.
fn count_appended((appended, bytes): (&mut u64, &mut u64), changes: &[Change]) {
    *appended += changes.len() as u64;
    *bytes += changes
        .iter()
        .map(|c| c.raw_bytes().len() as u64)
        .sum::<u64>();
}

/// The view rows of new activities recorded from the tip, as `new_record`
/// reads them back.
fn new_rows<'a>(
    items: impl IntoIterator<Item = (ActivityId, &'a ActivityPatch)>,
    stamp: Stamp<'_>,
) -> Vec<(ActivityId, Vec<u8>)> {
    items
        .into_iter()
        .map(|(id, patch)| {
            (
                id,
                crate::store::view_row::encode(&new_record(id, patch, stamp)),
            )
        })
        .collect()
}

/// A device's journals, open for reading and durable writing.
#[derive(Debug)]
pub struct Replica {
    store: Store,
    home: JournalId,
    loaded: BTreeMap<JournalId, Loaded>,
    /// The stored changes an upload without the document was last planned
    /// from (see [`Replica::unloaded_stored`]), kept while the store shows
    /// the same ones: an upload asks for them at every batch and every
    /// acknowledgement, and decoding them costs what they weigh.
    stored_cache: Option<CachedStored>,
}

/// [`StoredChanges`] of one journal, and where the next change would be
/// appended when they were read. Any append moves that; a new epoch changes
/// the snapshot's heads, compared too. A compaction, a new id or forgetting
/// the journal may write another ready upload: they drop the cache (and a
/// ready batch is read only if it holds the changes planned).
#[derive(Debug)]
struct CachedStored {
    journal: JournalId,
    end: u64,
    stored: std::sync::Arc<StoredChanges>,
}

/// Settings key of the name written with this device's changes (see
/// [`Replica::recording_as`]).
const RECORDING_AS_KEY: &str = "recording_as";

impl Replica {
    /// Creates a new store with an empty journal for `centre`.
    pub fn create(path: &Path, new: NewStore<'_>) -> Result<Replica, ReplicaError> {
        Replica::from_store(Store::create(path, new)?)
    }

    /// Opens an existing store. Journals are loaded when first read: opening
    /// and recording a new activity never load the whole journal.
    pub fn open(path: &Path) -> Result<Replica, ReplicaError> {
        Replica::from_store(Store::open(path)?)
    }

    /// Opens a replica on an already opened store (one on the crash-model
    /// disk of the tests, for example).
    pub fn on_store(store: Store) -> Result<Replica, ReplicaError> {
        Replica::from_store(store)
    }

    fn from_store(store: Store) -> Result<Replica, ReplicaError> {
        let home = store.home_journal().ok_or(ReplicaError::NoHomeJournal)?;
        Ok(Replica {
            store,
            home,
            loaded: BTreeMap::new(),
            stored_cache: None,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The home journal.
    pub fn journal(&mut self) -> Result<&Journal, ReplicaError> {
        Ok(self.settled(self.home)?.journal)
    }

    /// The home journal's id.
    pub fn journal_id(&self) -> JournalId {
        self.home
    }

    pub fn info(&self) -> Result<JournalInfo, ReplicaError> {
        Ok(self.store.journal_info(self.home)?)
    }

    /// A journal, loaded from the store on first use.
    pub fn journal_by_id(&mut self, id: JournalId) -> Result<&Journal, ReplicaError> {
        Ok(self.settled(id)?.journal)
    }

    /// Whether this process holds `journal`'s Automerge document in memory
    /// (it is loaded on first read; recording a new activity does not load it).
    pub fn holds_document(&self, journal: JournalId) -> bool {
        self.loaded
            .get(&journal)
            .is_some_and(|loaded| loaded.journal.is_some())
    }

    /// Gives the home journal a new id (the centre's, learnt at enrolment).
    pub fn rekey_home(&mut self, to: JournalId, centre: &str) -> Result<(), ReplicaError> {
        self.store.rekey_home(to, centre)?;
        self.loaded.clear();
        self.stored_cache = None;
        self.home = to;
        // Every row moved: give the pages of the old ones back to the file
        // system. Failing that, the file is only larger than it needs to be.
        let _ = self.store.shrink_file();
        Ok(())
    }

    /// Records a new activity in the home journal; returns once it is durable.
    pub fn add(
        &mut self,
        id: ActivityId,
        patch: &ActivityPatch,
        now: DateTime<Utc>,
    ) -> Result<ActivityId, ReplicaError> {
        let home = self.home;
        match self.store.view_contains(home, id)? {
            Some(true) => return Err(JournalError::AlreadyExists(id).into()),
            Some(false) => {}
            // No view to check against (a store from before it existed): the
            // ordinary path, which checks the document.
            None => {
                self.mutate_at(home, &[id], now, |journal, stamp| {
                    Ok(vec![journal.create(id, patch, stamp)?])
                })?;
                return Ok(id);
            }
        }
        if self.known(home)?.pending.len() >= MAX_PENDING_CHANGES {
            self.settled(home)?;
        }
        let tip = self.tip(home)?;
        let author = self.recording_as()?;
        let stamp = Stamp {
            author: &author,
            now,
        };
        let actor = self.store.device_id().actor();
        let (change, next) = Journal::prepare_create(&actor, &tip, id, patch, stamp)?;
        let view = ViewUpdate {
            rows: new_rows([(id, patch)], stamp),
            heads: next.heads().to_vec(),
        };
        let mut changes = [change];
        let touched = [(id, changes[0].hash())];
        // The document is untouched so far: if the append fails, there is
        // nothing to undo.
        self.store
            .append_local(home, &mut changes, &touched, (Some(&view), Some(&next)))?;
        let loaded = self.known(home)?;
        loaded.recorded_from_tip(&changes, next);
        if loaded.journal.is_some() {
            let [change] = changes;
            loaded.pending.push(change);
        }
        Ok(id)
    }

    /// Where the next new activity's change starts: known in memory after an
    /// `add`, else kept in the store, else computed from the loaded document.
    fn tip(&mut self, id: JournalId) -> Result<Tip, ReplicaError> {
        let loaded = self.known(id)?;
        if let Some(tip) = &loaded.tip {
            return Ok(tip.clone());
        }
        if loaded.journal.is_none()
            && let Some(tip) = self.store.tip(id)?
        {
            return Ok(tip);
        }
        Ok(self.settled(id)?.journal.tip())
    }

    /// Changes the given fields of an activity in whichever journal holds it;
    /// returns false when nothing differed.
    pub fn edit(
        &mut self,
        id: ActivityId,
        patch: &ActivityPatch,
        now: DateTime<Utc>,
    ) -> Result<bool, ReplicaError> {
        let journal = self.journal_holding(id)?;
        self.mutate_at(journal, &[id], now, |j, stamp| {
            Ok(j.update(id, patch, stamp)?.into_iter().collect())
        })
    }

    /// Marks an activity deleted (`true`) or restores it (`false`); returns
    /// false when it already was in that state.
    pub fn set_deleted(
        &mut self,
        id: ActivityId,
        deleted: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, ReplicaError> {
        let journal = self.journal_holding(id)?;
        self.mutate_at(journal, &[id], now, |j, stamp| {
            Ok(j.set_deleted(id, deleted, stamp)?.into_iter().collect())
        })
    }

    /// Attaches the file `source` holds to an activity, in whichever journal
    /// holds it, under `name` (shortened to a plain file name,
    /// [`files::file_name`]). The bytes are checked and stored durably
    /// first, then the record's reference: a reference never points to
    /// bytes the store lacks, and a failure between leaves only bytes no
    /// record refers to, which compaction removes. Returns the attachment,
    /// or `None` when the activity holds that file already (under any
    /// name). A refused file (wrong type, damaged, too large, one too many)
    /// changes nothing.
    pub fn attach_file(
        &mut self,
        id: ActivityId,
        source: impl Read + Seek,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Attachment>, ReplicaError> {
        let journal = self.journal_holding(id)?;
        let held = self.journal_by_id(journal)?.get(id)?;
        let held = held.ok_or(JournalError::NotFound(id))?.attachments;
        if held.len() >= MAX_FILES_PER_ACTIVITY {
            let max = MAX_FILES_PER_ACTIVITY;
            return Err(JournalError::TooManyFiles { id, max }.into());
        }
        let mut source = source;
        let stored = self.store.put_file_to_send(&mut source, (journal, id))?;
        if held.iter().any(|a| a.file == stored.hash) {
            return Ok(None);
        }
        let media_type = stored.media_type.unwrap_or(MediaType::Jpeg);
        let file = NewAttachment {
            file: stored.hash,
            name: files::file_name(name, stored.media_type),
            media_type,
            bytes: stored.bytes,
            thumbnail: self.store_thumbnail(&mut source, media_type, (journal, id))?,
        };
        self.mutate_at(journal, &[id], now, |j, stamp| {
            Ok(j.attach(id, &file, stamp)?.into_iter().collect())
        })?;
        let after = self.journal_by_id(journal)?.get(id)?.into_iter();
        Ok(after
            .flat_map(|a| a.attachments)
            .find(|a| a.file == file.file))
    }

    /// Makes the thumbnail of the photo `source` holds and stores it, to be
    /// sent (before the photo: smaller files go first); `None` for a PDF or
    /// a photo that cannot be shrunk in bounded memory.
    fn store_thumbnail(
        &self,
        source: &mut (impl Read + Seek),
        media_type: MediaType,
        send: (JournalId, ActivityId),
    ) -> Result<Option<Thumbnail>, ReplicaError> {
        source
            .seek(std::io::SeekFrom::Start(0))
            .map_err(crate::store::PutFileError::Read)?;
        let Some(jpeg) = thumbnail::make(std::io::BufReader::new(source), media_type) else {
            return Ok(None);
        };
        let stored = self
            .store
            .put_file_to_send(std::io::Cursor::new(&jpeg), send)?;
        Ok(Some(Thumbnail {
            file: stored.hash,
            bytes: stored.bytes,
        }))
    }

    /// Removes a file from an activity; false when it was not attached. The
    /// bytes stay while any record (in any journal, deleted or not) refers
    /// to them.
    pub fn detach_file(
        &mut self,
        id: ActivityId,
        file: FileHash,
        now: DateTime<Utc>,
    ) -> Result<bool, ReplicaError> {
        let journal = self.journal_holding(id)?;
        self.mutate_at(journal, &[id], now, |j, stamp| {
            Ok(j.detach(id, file, stamp)?.into_iter().collect())
        })
    }

    /// Adds many activities to the home journal in one durable transaction.
    /// Items whose id already exists are skipped (so importing the same file
    /// twice adds nothing).
    pub fn import(
        &mut self,
        items: Vec<(ActivityId, ActivityPatch)>,
        now: DateTime<Utc>,
    ) -> Result<ImportOutcome, ReplicaError> {
        let mut import = self.begin_import(now, false)?;
        for (id, patch) in items {
            import.push(id, patch)?;
        }
        import.finish()
    }

    /// [`Replica::import`], and the rows whose id is held with different
    /// content update their activity (what differs only, as an edit).
    pub fn import_updating(
        &mut self,
        items: Vec<(ActivityId, ActivityPatch)>,
        now: DateTime<Utc>,
    ) -> Result<ImportOutcome, ReplicaError> {
        let mut import = self.begin_import(now, true)?;
        for (id, patch) in items {
            import.push(id, patch)?;
        }
        import.finish()
    }

    /// Starts an import into the home journal that takes its rows one at a
    /// time ([`Import::push`]), so that a large file need not be held in
    /// memory: the new activities go into the store's transaction a change
    /// at a time, and [`Import::finish`] commits them all at once (durable
    /// when it returns; nothing is stored if it is not called). With
    /// `updating`, rows whose id is held with different content then update
    /// their activity, as [`Replica::import_updating`].
    pub fn begin_import(
        &mut self,
        now: DateTime<Utc>,
        updating: bool,
    ) -> Result<Import<'_>, ReplicaError> {
        let home = self.home;
        let way = match self.store.view_ids(home)? {
            Some(listed) => {
                let tip = self.tip(home)?;
                ImportWay::Streamed {
                    session: Box::new(self.store.begin_append(home)?),
                    listed,
                    tip,
                    group: Vec::with_capacity(IMPORT_ACTIVITIES_PER_CHANGE),
                    appended: (0, 0),
                }
            }
            // No view to check against (a store from before it existed).
            None => ImportWay::ThroughJournal(Vec::new()),
        };
        let author = self.recording_as()?;
        let actor = self.store.device_id().actor();
        Ok(Import {
            replica: self,
            way,
            now,
            author,
            actor,
            updating,
            seen: HashSet::new(),
            outcome: ImportOutcome::default(),
            updates: Vec::new(),
        })
    }

    /// [`Replica::import`] through the loaded journal, for a store without a view.
    fn import_through_journal(
        &mut self,
        items: Vec<(ActivityId, ActivityPatch)>,
        now: DateTime<Utc>,
    ) -> Result<ImportOutcome, ReplicaError> {
        let mut new = Vec::with_capacity(items.len());
        let mut outcome = ImportOutcome::default();
        let mut seen = HashSet::new();
        for (id, patch) in items {
            if self.journal()?.contains(id)? || !seen.insert(id) {
                outcome.already_present += 1;
            } else {
                new.push((id, patch));
            }
        }
        if new.is_empty() {
            return Ok(outcome);
        }
        let ids: Vec<ActivityId> = new.iter().map(|(id, _)| *id).collect();
        self.mutate_at(self.home, &ids, now, |journal, stamp| {
            Ok(journal.create_many(&new, stamp)?)
        })?;
        outcome.added = ids.len();
        Ok(outcome)
    }

    /// The name written with this device's changes (`recorded_by`,
    /// `updated_by`, the history): whom the program said is recording on
    /// this computer now ([`Replica::set_recording_as`]), else the device's
    /// name. Read from the store at every write, so a command run beside
    /// the app writes the same name.
    pub fn recording_as(&self) -> Result<String, ReplicaError> {
        // Kept as JSON: a name, or `null` once set back to the device's.
        let chosen: Option<Option<String>> = self.store.setting(RECORDING_AS_KEY)?;
        Ok(chosen
            .flatten()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| self.store.device_name().to_owned()))
    }

    /// Sets (durably) the name written with this device's changes from now
    /// on; `None` goes back to the device's name.
    pub fn set_recording_as(&self, name: Option<&str>) -> Result<(), ReplicaError> {
        Ok(self.store.set_setting(RECORDING_AS_KEY, &name)?)
    }

    /// An activity from the home journal or any other loaded journal.
    pub fn get(&mut self, id: ActivityId) -> Result<Option<Activity>, ReplicaError> {
        self.settled(self.home)?;
        let ids: Vec<JournalId> = self.loaded.keys().copied().collect();
        for journal in ids {
            if let Some(a) = self.settled(journal)?.journal.get(id)? {
                return Ok(Some(a));
            }
        }
        Ok(None)
    }

    /// Every activity of the home journal, newest first, deleted ones included.
    pub fn activities(&mut self) -> Result<Vec<Activity>, ReplicaError> {
        Ok(self.journal()?.activities()?)
    }

    /// Every activity of every journal in the store, with its journal.
    pub fn all_activities(&mut self) -> Result<Vec<(JournalInfo, Activity)>, ReplicaError> {
        let mut all = Vec::new();
        for info in self.store.journals()? {
            let journal = self.journal_by_id(info.id)?;
            for activity in journal.activities()? {
                all.push((info.clone(), activity));
            }
        }
        all.sort_by(|(_, a), (_, b)| {
            (b.date, b.start, b.created_at).cmp(&(a.date, a.start, a.created_at))
        });
        Ok(all)
    }

    /// The home journal's figures, read from the materialized view (the
    /// document is not loaded for them).
    pub fn status(&mut self) -> Result<Status, ReplicaError> {
        self.list_view().status()
    }

    /// Activities (in any journal) with local changes the relay has not
    /// durably acknowledged.
    pub fn unsent_total(&self) -> Result<u64, ReplicaError> {
        self.list_view().unsent_total()
    }

    /// Folds appended changes into snapshots where there are many of them,
    /// in the journals whose document this process holds (saving one it
    /// holds is cheap next to loading one: a journal not in memory is left
    /// to [`Replica::compact_due`], unless it has
    /// [`COMPACT_UNLOADED_AFTER_CHANGES`]). Returns true if it compacted.
    /// Safe to skip: data is durable either way.
    pub fn compact_if_needed(&mut self) -> Result<bool, ReplicaError> {
        let due: Vec<JournalId> = self
            .loaded
            .iter()
            .filter(|(_, l)| {
                (l.journal.is_some() && l.compaction_due())
                    || l.appended >= COMPACT_UNLOADED_AFTER_CHANGES
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.compact_journal(*id)?;
        }
        Ok(!due.is_empty())
    }

    /// Folds appended changes into snapshots in every journal where there are
    /// many of them, loading those not in memory: what `field-client run`
    /// does once the store has been quiet a while. An import of 100,000
    /// activities needs no document, but this does (hundreds of megabytes
    /// for a moment). Returns how many journals it compacted.
    pub fn compact_due(&mut self) -> Result<usize, ReplicaError> {
        let mut due = Vec::new();
        for info in self.store.journals()? {
            let loaded = known_in(&mut self.loaded, &self.store, info.id)?;
            if loaded.snapshot_bytes.is_none() {
                // Once, when the store is quiet: the snapshot read whole.
                loaded.snapshot_bytes = Some(self.store.snapshot_len(info.id)?);
            }
            if loaded.compaction_due() {
                due.push(info.id);
            }
        }
        for id in &due {
            self.compact_journal(*id)?;
        }
        // Files detached since (or whose record was erased) go too.
        self.store.drop_unreferenced_files()?;
        Ok(due.len())
    }

    /// Verifies every page checksum of the store file (see
    /// [`Store::check_integrity`]); true when it was whole.
    pub fn check_integrity(&mut self) -> Result<bool, ReplicaError> {
        Ok(self.store.check_integrity()?)
    }

    /// Rewrites the file if an erasure's rewrite is still owed (see
    /// [`Store::finish_pending_rewrite`]); true if it did.
    pub fn finish_pending_rewrite(&mut self) -> Result<bool, ReplicaError> {
        Ok(self.store.finish_pending_rewrite()?)
    }

    /// Returns the file's free pages to the file system (see [`Store::shrink_file`]).
    pub fn shrink_file(&mut self) -> Result<bool, ReplicaError> {
        Ok(self.store.shrink_file()?)
    }

    /// Folds every appended change of every journal into snapshots now,
    /// loading those that have any (`field-client compact`).
    pub fn compact(&mut self) -> Result<(), ReplicaError> {
        let mut ids = Vec::new();
        for info in self.store.journals()? {
            if self.store.appended_count(info.id)? > 0 || self.loaded.contains_key(&info.id) {
                ids.push(info.id);
            }
        }
        ids.into_iter()
            .try_for_each(|id| self.compact_journal(id))?;
        self.store.shrink_file()?;
        Ok(())
    }

    fn compact_journal(&mut self, id: JournalId) -> Result<(), ReplicaError> {
        settled_in(&mut self.loaded, &self.store, id)?;
        // Taken out of memory while it is compacted: the snapshot loaded
        // back comes in its place. On an error it loads again when needed.
        let Some(journal) = known_in(&mut self.loaded, &self.store, id)?.journal.take() else {
            return Ok(());
        };
        self.stored_cache = None;
        let compacted = self.store.compact_owned(id, journal)?;
        let loaded = known_in(&mut self.loaded, &self.store, id)?;
        loaded.journal = Some(compacted.journal);
        loaded.appended = compacted.kept.changes;
        loaded.appended_bytes = compacted.kept.bytes;
        loaded.snapshot_bytes = Some(compacted.snapshot_bytes);
        // The snapshot is durable; the pages it freed go back to the file system
        // (milliseconds). Failing that, the file is only larger than it needs to be.
        let _ = self.store.shrink_file();
        Ok(())
    }

    /// What this process knows of a journal, without loading its document.
    fn known(&mut self, id: JournalId) -> Result<&mut Loaded, ReplicaError> {
        known_in(&mut self.loaded, &self.store, id)
    }

    /// A journal, loaded, with every pending change applied: what every reader
    /// and every other kind of change needs. Clears the tip, since whatever
    /// follows may change the journal in other ways than `add`.
    fn settled(&mut self, id: JournalId) -> Result<Settled<'_>, ReplicaError> {
        settled_in(&mut self.loaded, &self.store, id)
    }

    /// Who changed which field of an activity, and when (see [`Journal::history`]).
    pub fn history(&mut self, id: ActivityId) -> Result<Vec<crate::HistoryEntry>, ReplicaError> {
        let journal = self.journal_holding(id)?;
        Ok(self.journal_by_id(journal)?.history(id)?)
    }

    /// The journal holding `id`: the home journal first, then every other.
    fn journal_holding(&mut self, id: ActivityId) -> Result<JournalId, ReplicaError> {
        if self.journal()?.contains(id)? {
            return Ok(self.home);
        }
        for info in self.store.journals()? {
            if self.journal_by_id(info.id)?.contains(id)? {
                return Ok(info.id);
            }
        }
        Err(JournalError::NotFound(id).into())
    }

    /// Runs `edit` on a journal and persists the changes it made; on any
    /// failure the journal is dropped from memory (it is loaded again from the
    /// store when next needed). Returns true if `edit` made at least one change.
    fn mutate_at(
        &mut self,
        id: JournalId,
        ids: &[ActivityId],
        now: DateTime<Utc>,
        edit: impl FnOnce(&mut Journal, Stamp<'_>) -> Result<Vec<Change>, ReplicaError>,
    ) -> Result<bool, ReplicaError> {
        let author = self.recording_as()?;
        let stamp = Stamp {
            author: &author,
            now,
        };
        let made = self.mutate_settled(id, ids, stamp, edit);
        if made.is_err() {
            self.forget(id);
        }
        made
    }

    fn mutate_settled(
        &mut self,
        id: JournalId,
        ids: &[ActivityId],
        stamp: Stamp<'_>,
        edit: impl FnOnce(&mut Journal, Stamp<'_>) -> Result<Vec<Change>, ReplicaError>,
    ) -> Result<bool, ReplicaError> {
        let store = &self.store;
        let mut settled = settled_in(&mut self.loaded, store, id)?;
        let mut changes = edit(settled.journal, stamp)?;
        let Some(last) = changes.last().map(Change::hash) else {
            return Ok(false);
        };
        let touched: Vec<_> = ids.iter().map(|a| (*a, last)).collect();
        let view = ViewUpdate::of(settled.journal, ids.iter().copied())?;
        let tip = settled.journal.tip();
        store.append_local(id, &mut changes, &touched, (Some(&view), Some(&tip)))?;
        settled.appended_now(&changes);
        Ok(true)
    }

    /// Drops every journal from memory (after a failure that may have left a
    /// document half-changed); each is loaded again from the store when needed.
    pub fn reload_all(&mut self) -> Result<(), ReplicaError> {
        self.loaded.clear();
        Ok(())
    }

    /// Drops a journal from memory; it is loaded again from the store when needed.
    fn forget(&mut self, id: JournalId) {
        self.loaded.remove(&id);
        self.stored_cache = None;
    }

    fn loaded_doc(&mut self, journal: Uuid) -> Result<&mut Journal, StorageFailure> {
        self.settled(JournalId(journal))
            .map(|settled| settled.journal)
            .map_err(StorageFailure::local)
    }
}

/// What this process knows of a journal (see [`Loaded`]), without loading its document.
fn known_in<'a>(
    loaded: &'a mut BTreeMap<JournalId, Loaded>,
    store: &Store,
    id: JournalId,
) -> Result<&'a mut Loaded, ReplicaError> {
    Ok(match loaded.entry(id) {
        std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
        std::collections::btree_map::Entry::Vacant(entry) => {
            let appended = store.appended(id)?;
            entry.insert(Loaded {
                journal: None,
                appended: appended.changes,
                appended_bytes: appended.bytes,
                snapshot_bytes: None,
                pending: Vec::new(),
                tip: None,
            })
        }
    })
}

/// [`Replica::settled`] over the replica's fields, so that the store stays
/// usable while the journal is borrowed.
fn settled_in<'a>(
    loaded: &'a mut BTreeMap<JournalId, Loaded>,
    store: &Store,
    id: JournalId,
) -> Result<Settled<'a>, ReplicaError> {
    let loaded = known_in(loaded, store, id)?;
    loaded.tip = None;
    let pending = std::mem::take(&mut loaded.pending);
    let mut kept = loaded.journal.take();
    if let Some(journal) = kept.as_mut()
        && !pending.is_empty()
        && journal.apply_own(pending).is_err()
    {
        kept = None;
    }
    let journal = match kept {
        Some(journal) => journal,
        // Not loaded yet, or a pending change did not apply: either way the
        // store holds every change durably.
        None => {
            let (mut journal, snapshot_bytes) = store.load_journal_sized(id)?;
            loaded.snapshot_bytes = Some(snapshot_bytes);
            if store.tip(id)?.is_none() {
                // Kept from now on (every write updates it), so that the next
                // process records and syncs without loading the journal.
                store.set_tip(id, &journal.tip())?;
            }
            journal
        }
    };
    Ok(Settled {
        journal: loaded.journal.insert(journal),
        appended: &mut loaded.appended,
        appended_bytes: &mut loaded.appended_bytes,
    })
}

/// A replica whose store was closed (lent to another process), its loaded
/// journals kept in memory with where each stood in the store, so that
/// [`Replica::reattach`] need not load them again.
#[derive(Debug)]
pub struct Detached {
    home: JournalId,
    journals: Vec<(JournalId, Loaded, AppendPosition)>,
}

impl Replica {
    /// Closes the store, keeping the loaded journals (their pending changes
    /// applied) for [`Replica::reattach`].
    pub fn detach(mut self) -> Detached {
        let ids: Vec<JournalId> = self.loaded.keys().copied().collect();
        let mut journals = Vec::new();
        for id in ids {
            let has_document = self.holds_document(id);
            // A journal that does not settle or whose position cannot be
            // read is simply loaded again after the lend.
            if !has_document || self.settled(id).is_err() {
                continue;
            }
            let (Some(loaded), Ok(position)) =
                (self.loaded.remove(&id), self.store.append_position(id))
            else {
                continue;
            };
            journals.push((id, loaded, position));
        }
        Detached {
            home: self.home,
            journals,
        }
    }

    /// Takes back the journals of `detached` on this newly opened replica of
    /// the same store: each catches up with the changes another process
    /// appended meanwhile (read from the store, not the whole journal); one
    /// that was compacted, replaced or rekeyed meanwhile is dropped, to be
    /// loaded again when needed.
    pub fn reattach(mut self, detached: Detached) -> Replica {
        if detached.home != self.home {
            return self;
        }
        for (id, mut loaded, before) in detached.journals {
            if let Ok(true) = catch_up(&self.store, id, &mut loaded, before) {
                loaded.tip = None;
                self.loaded.insert(id, loaded);
            }
        }
        self
    }
}

/// Applies to `loaded` the changes appended to journal `id` since `before`,
/// counting them as appended (see [`compaction_due`]); false when the
/// journal changed otherwise (compacted, replaced): then `loaded` is stale.
fn catch_up(
    store: &Store,
    id: JournalId,
    loaded: &mut Loaded,
    before: AppendPosition,
) -> Result<bool, ReplicaError> {
    let now = store.append_position(id)?;
    let Some(journal) = loaded.journal.as_mut() else {
        return Ok(false);
    };
    if now == before {
        return Ok(true);
    }
    if now.snapshot_heads != before.snapshot_heads || now.next < before.next {
        return Ok(false);
    }
    let mut new = store.appended_since(id, before.next.saturating_sub(1))?;
    if before.next > 0 {
        // The last change known before must still be where it was.
        if new.first().map(Change::hash) != before.last {
            return Ok(false);
        }
        new.remove(0);
    }
    count_appended((&mut loaded.appended, &mut loaded.appended_bytes), &new);
    match crate::sync::catch_library_panic(|| journal.apply_own(new)) {
        Some(Ok(())) => Ok(true),
        _ => Ok(false),
    }
}

/// The activities the received changes (now applied) may have changed:
/// from a bare genesis (a first download) every activity; otherwise those
/// the changes' operations write to ([`Journal::touched_by`]), or, if one
/// cannot be placed, those Automerge's diff shows (which walks the whole
/// document, so it is only the fallback).
fn touched_activities(
    journal: &Journal,
    before: &[ChangeHash],
    received: &Checked,
) -> BTreeSet<ActivityId> {
    if before == crate::journal::genesis_heads().as_slice() {
        return journal.ids().into_iter().collect();
    }
    if let Some(ids) = journal.touched_by(received) {
        return ids;
    }
    diff_touched(journal, before)
}

/// The activities a diff of the journal from `before` shows changed: what
/// [`Journal::touched_by`] finds, walking the whole document.
fn diff_touched(journal: &Journal, before: &[ChangeHash]) -> BTreeSet<ActivityId> {
    use automerge::{PatchAction, Prop};
    let doc = journal.doc();
    let mut ids = BTreeSet::new();
    for patch in doc.diff(before, &doc.get_heads()) {
        let key = match (patch.path.get(1), &patch.action) {
            (Some((_, Prop::Map(key))), _) => Some(key.as_str()),
            (None, PatchAction::PutMap { key, .. }) if patch.path.len() == 1 => Some(key.as_str()),
            _ => None,
        };
        if let Some(id) = key.and_then(|k| k.parse::<ActivityId>().ok()) {
            ids.insert(id);
        }
    }
    ids
}

impl Replica {
    /// The journal's heads from the tip kept in the store, while its document
    /// is not loaded: enough to tell "nothing to do" without loading it.
    fn unloaded_heads(&mut self, journal: Uuid) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        let local = |e: ReplicaError| StorageFailure::local(e);
        let id = JournalId(journal);
        let loaded = self.known(id).map_err(local)?;
        if loaded.journal.is_some() {
            return Ok(None);
        }
        if let Some(tip) = &loaded.tip {
            return Ok(Some(tip.heads().to_vec()));
        }
        let tip = self.store.tip(id).map_err(|e| local(e.into()))?;
        Ok(tip.map(|tip| tip.heads().to_vec()))
    }

    /// The journal's appended changes, the upload its last compaction made
    /// ready and its snapshot's heads, read from the store, while its
    /// document is not loaded: enough to plan and send an upload without
    /// loading it ([`StoredChanges`]). `None` when the document is loaded (it
    /// answers better) or the store cannot tell.
    fn unloaded_stored(
        &mut self,
        journal: Uuid,
    ) -> Result<Option<std::sync::Arc<StoredChanges>>, StorageFailure> {
        let local = |e: crate::store::StoreError| StorageFailure::local(e);
        let id = JournalId(journal);
        if self
            .known(id)
            .map_err(StorageFailure::local)?
            .journal
            .is_some()
        {
            return Ok(None);
        }
        let Some(snapshot_heads) = self.store.snapshot_heads(id).map_err(local)? else {
            return Ok(None);
        };
        let end = self.store.append_end(id).map_err(local)?;
        if let Some(cached) = &self.stored_cache
            && cached.journal == id
            && cached.end == end
            && cached.stored.snapshot_heads() == snapshot_heads.as_slice()
        {
            return Ok(Some(cached.stored.clone()));
        }
        let Some(changes) = self.store.appended_changes(id).map_err(local)? else {
            return Ok(None);
        };
        let ready = self.store.ready_upload(id).map_err(local)?;
        let stored = std::sync::Arc::new(StoredChanges::with_ready(snapshot_heads, ready, changes));
        self.stored_cache = Some(CachedStored {
            journal: id,
            end,
            stored: stored.clone(),
        });
        Ok(Some(stored))
    }
}

impl SyncStorage for Replica {
    fn heads(&mut self, journal: Uuid) -> Result<Vec<ChangeHash>, StorageFailure> {
        if let Some(heads) = self.unloaded_heads(journal)? {
            return Ok(heads);
        }
        Ok(self.loaded_doc(journal)?.heads())
    }

    fn epoch(&mut self, journal: Uuid) -> Result<u32, StorageFailure> {
        self.store
            .epoch(JournalId(journal))
            .map_err(StorageFailure::local)
    }

    fn contains_all(
        &mut self,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure> {
        if let Some(heads) = self.unloaded_heads(journal)? {
            let genesis = crate::journal::genesis_heads();
            if hashes
                .iter()
                .all(|h| heads.contains(h) || genesis.contains(h))
            {
                return Ok(true);
            }
        }
        Ok(crate::sync::holds_all(
            self.loaded_doc(journal)?.doc(),
            hashes,
        ))
    }

    fn missing(
        &mut self,
        journal: Uuid,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        if let Some(heads) = self.unloaded_heads(journal)?
            && heads.iter().all(|h| known.contains(h))
        {
            return Ok(Vec::new());
        }
        if let Some(stored) = self.unloaded_stored(journal)?
            && let Some(plan) = stored.missing(known, limit)
        {
            return Ok(plan);
        }
        Ok(missing_from(self.loaded_doc(journal)?.doc(), known, limit))
    }

    fn apply_durably(
        &mut self,
        journal: Uuid,
        changes: Received,
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        self.apply_received(journal, changes, &[])
    }

    fn batch(&mut self, journal: Uuid, plan: &[ChangeHash]) -> Result<Batch, StorageFailure> {
        let stored = self.unloaded_stored(journal)?;
        match stored.and_then(|s| s.batch(plan, MAX_UPLOAD_BATCH_OPS)) {
            Some(StoredBatch::Appended(batch)) => return Ok(batch),
            Some(StoredBatch::Ready { number, changes }) => {
                let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash).collect();
                let bytes = self.store.ready_batch(JournalId(journal), number, &hashes);
                if let Some((bundle, listed)) = bytes.map_err(StorageFailure::local)? {
                    return Ok(Batch {
                        changes,
                        bundle: Some(bundle),
                        listed,
                    });
                }
            }
            None => {}
        }
        batch_from(self.loaded_doc(journal)?.doc(), plan, MAX_UPLOAD_BATCH_OPS)
    }
}

impl Replica {
    /// Applies received changes to the journal and appends them durably,
    /// with the relay's tags on some of them, in one transaction.
    fn apply_received(
        &mut self,
        journal: Uuid,
        changes: Received,
        attested: &[(ChangeHash, AttestationTag)],
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        let id = JournalId(journal);
        let persisted = self.append_received(id, changes, attested);
        if persisted.is_err() {
            self.forget(id);
        }
        persisted
    }

    fn append_received(
        &mut self,
        id: JournalId,
        changes: Received,
        attested: &[(ChangeHash, AttestationTag)],
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        let store = &self.store;
        let mut settled = settled_in(&mut self.loaded, store, id).map_err(StorageFailure::local)?;
        let journal = &mut *settled.journal;
        let checked = check_received(journal.doc(), changes)?;
        if checked.is_empty() {
            return Ok(journal.heads());
        }
        let before = journal.heads();
        // The view's rows are read while the rebuild check runs beside.
        let view = apply_guarded_alongside(
            journal,
            (Journal::doc, Journal::doc_mut),
            &checked,
            |journal| ViewUpdate::of(journal, touched_activities(journal, &before, &checked)),
        )?
        .map_err(StorageFailure::local)?;
        let mut new = checked.into_changes();
        let tip = journal.tip();
        let heads = journal.heads();
        store
            .append_remote(id, &mut new, (Some(&view), Some(&tip)), attested)
            .map_err(StorageFailure::local)?;
        settled.appended_now(&new);
        Ok(heads)
    }
}

impl ClientStorage for Replica {
    fn acked_heads(&mut self, journal: Uuid) -> Result<Vec<ChangeHash>, StorageFailure> {
        self.store
            .acknowledged_heads(JournalId(journal))
            .map_err(StorageFailure::local)
    }

    fn mark_acknowledged(
        &mut self,
        journal: Uuid,
        covered: &[ChangeHash],
    ) -> Result<(), StorageFailure> {
        let id = JournalId(journal);
        if let Some(heads) = self.unloaded_heads(journal)?
            && heads.iter().all(|h| covered.contains(h))
        {
            // The relay holds everything here: no need to load the journal
            // to tell which activities that covers.
            let genesis = crate::journal::genesis_heads();
            let known: Vec<ChangeHash> = covered
                .iter()
                .copied()
                .filter(|h| heads.contains(h) || genesis.contains(h))
                .collect();
            return self
                .store
                .mark_all_acknowledged(id, &known)
                .map_err(StorageFailure::local);
        }
        if let Some(stored) = self.unloaded_stored(journal)?
            && stored.held_among(covered, &[]).is_some()
        {
            // Part of an upload made from the stored changes: what this
            // acknowledgement covers is told by them too.
            return self
                .store
                .mark_acknowledged_by(id, covered, |named| {
                    stored.held_among(covered, named).unwrap_or_default()
                })
                .map_err(StorageFailure::local);
        }
        let store = &self.store;
        let journal = settled_in(&mut self.loaded, store, id)
            .map_err(StorageFailure::local)?
            .journal;
        let doc = journal.doc();
        let known: Vec<ChangeHash> = covered
            .iter()
            .copied()
            .filter(|h| doc.get_change_meta_by_hash(h).is_some())
            .collect();
        store
            .mark_acknowledged(id, journal, &known)
            .map_err(StorageFailure::local)
    }

    fn ensure_journal(&mut self, grant: &crate::sync::JournalGrant) -> Result<(), StorageFailure> {
        let info = JournalInfo {
            id: JournalId(grant.journal),
            centre: grant.centre.clone(),
            municipality: Some(grant.municipality.clone()).filter(|m| !m.is_empty()),
            epoch: 0,
        };
        self.store
            .ensure_journal(&info)
            .map_err(StorageFailure::local)
    }

    fn unsent(&mut self) -> Result<u32, StorageFailure> {
        let local = |e: crate::store::StoreError| StorageFailure::local(e);
        let mut unsent = 0;
        for info in self.store.journals().map_err(local)? {
            unsent += self.store.unsent_count(info.id).map_err(local)?;
        }
        // u32::MAX means "unknown" on the wire.
        Ok(u32::try_from(unsent)
            .unwrap_or(u32::MAX - 1)
            .min(u32::MAX - 1))
    }

    fn attestations(
        &mut self,
        journal: Uuid,
        batch: &[BatchChange],
    ) -> Result<Vec<(ChangeHash, AttestationTag)>, StorageFailure> {
        // This device's own changes never carry a tag: look up only others'.
        let own = self.store.device_id().actor();
        let others = batch.iter().filter(|c| c.author != own).map(|c| c.hash);
        self.store
            .attestations(JournalId(journal), others)
            .map_err(StorageFailure::local)
    }

    fn apply_downloaded(
        &mut self,
        journal: Uuid,
        changes: Received,
        attested: &[(ChangeHash, AttestationTag)],
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        self.apply_received(journal, changes, attested)
    }

    fn erasures_requested(&mut self) -> Result<Vec<Uuid>, StorageFailure> {
        self.waiting_erasures()
    }

    fn erasure_answered(
        &mut self,
        activity: Uuid,
        rewritten: Option<(Uuid, u32)>,
    ) -> Result<(), StorageFailure> {
        self.record_erasure_answer(activity, rewritten)
    }
}

/// Read access for listing, showing and exporting: reads the materialized view
/// kept beside the journals (see `activity_view-v2`), so it never loads an
/// Automerge document — unless a journal's view was never built, in which case
/// it builds and stores it once.
///
/// Owns its store when opened on its own ([`ListView::open`]), or borrows a
/// replica's ([`Replica::list_view`]).
#[derive(Debug)]
pub struct ListView<S: Borrow<Store> = Store> {
    store: S,
}

impl ListView {
    pub fn open(path: &Path) -> Result<ListView, ReplicaError> {
        let store = Store::open(path)?;
        if store.home_journal().is_none() {
            return Err(ReplicaError::NoHomeJournal);
        }
        Ok(ListView { store })
    }
}

impl Replica {
    /// Reading through the materialized view, on this replica's open store.
    pub fn list_view(&self) -> ListView<&Store> {
        ListView { store: &self.store }
    }
}

impl<S: Borrow<Store>> ListView<S> {
    pub fn store(&self) -> &Store {
        self.store.borrow()
    }

    /// The journal this device records into.
    pub fn home(&self) -> Result<JournalInfo, ReplicaError> {
        let id = self
            .store()
            .home_journal()
            .ok_or(ReplicaError::NoHomeJournal)?;
        Ok(self.store().journal_info(id)?)
    }

    /// Every activity of a journal, newest first, deleted ones included.
    pub fn activities(&self, journal: JournalId) -> Result<Vec<Activity>, ReplicaError> {
        let mut activities = match self.store().view(journal)? {
            Some((_, activities)) => activities,
            None => {
                let loaded = self.store().load_journal(journal)?;
                let view = ViewUpdate::full(&loaded)?;
                self.store().rebuild_view(journal, &view)?;
                loaded.activities()?
            }
        };
        crate::journal::sort_newest_first(&mut activities);
        Ok(activities)
    }

    /// Every activity of every journal in the store, newest first.
    pub fn all_activities(&self) -> Result<Vec<(JournalInfo, Activity)>, ReplicaError> {
        let mut all = Vec::new();
        for info in self.store().journals()? {
            for activity in self.activities(info.id)? {
                all.push((info.clone(), activity));
            }
        }
        all.sort_by(|(_, a), (_, b)| {
            (b.date, b.start, b.created_at).cmp(&(a.date, a.start, a.created_at))
        });
        Ok(all)
    }

    /// One activity from any journal, with its journal.
    pub fn get(&self, id: ActivityId) -> Result<Option<(JournalInfo, Activity)>, ReplicaError> {
        let home = self.home()?;
        if let Some(a) = self.activities(home.id)?.into_iter().find(|a| a.id == id) {
            return Ok(Some((home, a)));
        }
        Ok(self.all_activities()?.into_iter().find(|(_, a)| a.id == id))
    }

    /// Activities (in any journal) with local changes the relay has not
    /// durably acknowledged.
    pub fn unsent_total(&self) -> Result<u64, ReplicaError> {
        let mut unsent = 0;
        for info in self.store().journals()? {
            unsent += self.store().unsent_count(info.id)?;
        }
        Ok(unsent)
    }

    pub fn status(&self) -> Result<Status, ReplicaError> {
        let home = self.home()?;
        let all = self.activities(home.id)?;
        let deleted = all.iter().filter(|a| a.deleted).count();
        let unsent = self.unsent_total()?;
        let files = self.store().files_waiting()?;
        Ok(Status {
            centre: home.centre,
            municipality: home.municipality,
            journal_id: home.id,
            device_id: self.store().device_id(),
            device_name: self.store().device_name().to_owned(),
            activities: all.len() - deleted,
            deleted,
            unsent,
            files_waiting: files.files,
            file_bytes_waiting: files.bytes,
        })
    }
}
