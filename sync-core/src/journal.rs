//! A centre's journal: one Automerge document holding every activity of the centre.
//!
//! # Document layout (schema version 1)
//!
//! ```text
//! ROOT
//! ├─ schema_version : uint            written once by the genesis change
//! └─ activities     : map             written once by the genesis change
//!    └─ "<uuid>"    : map             created by the device that recorded it
//!       ├─ title, kind, date ("YYYY-MM-DD"), start ("HH:MM", absent if unknown),
//!       │  place, description, notes, recorded_by, updated_by : str
//!       ├─ hours                      : f64 (absent if unknown)
//!       ├─ organisers, institutions   : list of str
//!       ├─ counts                     : map group key → uint (absent = 0)
//!       ├─ created_at, updated_at     : timestamp (ms since the Unix epoch)
//!       ├─ deleted                    : bool (a tombstone; absent = false)
//!       └─ "file:<sha-256 hex>" : map one per attached file (absent when none)
//!          ├─ name, type (a media type), added_by : str
//!          ├─ bytes                   : uint
//!          ├─ added_at                : timestamp
//!          └─ thumbnail : str (sha-256 hex), thumbnail_bytes : uint
//!                                       (a photo's thumbnail; absent for a PDF)
//!
//! `updated_by`/`updated_at` are absent until the first edit (they read as the
//! creation stamp): a new record writes only the fields it has. An attached
//! file is a key of the record itself, named by the file's content: two
//! devices attaching the same photo make one key, attaching and detaching
//! different files concurrently all hold after a merge, and no container
//! needs creating first (which two devices could do concurrently).
//! ```
//!
//! Every field is its own map key, so concurrent edits to different fields of one
//! activity all survive a merge; only concurrent edits of the *same* field pick one
//! winner. Free text is stored as plain strings, not `Text` objects (much faster to
//! load; collaborative character-level editing of a title is not needed).
//!
//! # The shared genesis
//!
//! Two replicas that each create `activities` with `put_object` would create two
//! different objects, and after a merge one replica's records would vanish behind
//! the conflict. So every journal, on every device and on the relay, starts from
//! the same *genesis change*: made by a fixed actor, at time 0, with the same
//! operations, so its bytes and its hash are identical everywhere. Nobody ever
//! creates a root container again.

mod erasure;

pub use erasure::full_patch;

use automerge::legacy;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue,
};
use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use std::collections::{BTreeSet, HashMap};

use crate::activity::{
    Activity, ActivityId, ActivityPatch, Attachment, Counts, Group, Kind, Thumbnail,
};
use crate::files::{FileHash, MediaType};
use crate::limits::{IMPORT_ACTIVITIES_PER_CHANGE, MAX_FILES_PER_ACTIVITY};
use crate::sync::Checked;

/// The schema this code writes. Journals with a lower version are read (and
/// upgraded by [`Journal::from_doc`] when a migration exists); higher versions
/// are refused, because their meaning is unknown to this program.
pub const SCHEMA_VERSION: u64 = 1;

/// Actor of the genesis change. Never used for anything else.
const GENESIS_ACTOR: [u8; 16] = *b"krc-genesis-v1\0\0";

const KEY_SCHEMA: &str = "schema_version";
const KEY_ACTIVITIES: &str = "activities";

/// Errors reading or changing a journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The document does not have the journal layout at all.
    #[error("this is not an activity journal ({0})")]
    NotAJournal(&'static str),
    /// Written by a newer program version.
    #[error(
        "this journal was written by a newer version of the program (schema {found}, this program reads up to {SCHEMA_VERSION}); please update"
    )]
    NewerSchema { found: u64 },
    /// No activity has this id.
    #[error("no activity with id {0}")]
    NotFound(ActivityId),
    /// An activity with this id already exists.
    #[error("an activity with id {0} already exists")]
    AlreadyExists(ActivityId),
    /// A stored activity could not be read (damaged or written by faulty software).
    #[error("activity {id} cannot be read: {problem}")]
    Unreadable { id: String, problem: String },
    /// The patch is missing fields a new activity needs.
    #[error("{0}")]
    Incomplete(#[from] crate::activity::FieldErrors),
    /// The activity holds as many files as one may.
    #[error("activity {id} already holds {max} files, the most one activity may")]
    TooManyFiles { id: ActivityId, max: usize },
    /// Automerge refused an operation or the bytes given to it.
    #[error("the journal document is damaged: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// Who made a change, and when; stamped on every activity it touches.
#[derive(Clone, Copy, Debug)]
pub struct Stamp<'a> {
    pub author: &'a str,
    pub now: DateTime<Utc>,
}

/// What a change built outside the document needs to know about it: the
/// heads it depends on, the highest operation counter so far, the sequence
/// number of this device's last change, and which map holds the activities.
/// Kept in the store beside the journal (`journal_tip-v1`), so that `add`
/// needs neither the document nor a walk over the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tip {
    heads: Vec<ChangeHash>,
    max_op: u64,
    seq: u64,
    /// The activities map: the operation that made it (counter, actor).
    activities: (u64, ActorId),
}

impl Tip {
    /// The journal's heads at this tip.
    pub fn heads(&self) -> &[ChangeHash] {
        &self.heads
    }

    /// Encoded as: max_op u64 LE, seq u64 LE, the activities map's counter
    /// u64 LE, its actor's length (u8) and bytes, then the 32-byte heads.
    pub fn to_bytes(&self) -> Vec<u8> {
        let actor = self.activities.1.to_bytes();
        let mut out = Vec::with_capacity(25 + actor.len() + 32 * self.heads.len());
        out.extend_from_slice(&self.max_op.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.activities.0.to_le_bytes());
        // Actor ids are at most a UUID here; a longer one cannot be encoded.
        out.push(u8::try_from(actor.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&actor[..actor.len().min(usize::from(u8::MAX))]);
        for head in &self.heads {
            out.extend_from_slice(&head.0);
        }
        out
    }

    /// Reads [`Tip::to_bytes`]; `None` when the bytes are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Tip> {
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        let (max_op, seq, counter) = (u64_at(0)?, u64_at(8)?, u64_at(16)?);
        let actor_len = usize::from(*bytes.get(24)?);
        let actor = bytes.get(25..25 + actor_len)?;
        let heads = bytes.get(25 + actor_len..)?;
        if heads.is_empty() || !heads.len().is_multiple_of(32) {
            return None;
        }
        let heads = heads
            .chunks(32)
            .map(|c| ChangeHash::try_from(c).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Tip {
            heads,
            max_op,
            seq,
            activities: (counter, ActorId::from(actor)),
        })
    }
}

/// One centre's journal document, with typed accessors.
#[derive(Debug)]
pub struct Journal {
    doc: Automerge,
    activities: ObjId,
}

/// True for the actor of the shared genesis change, which every journal holds
/// and anyone may (re)send.
pub fn is_genesis_actor(actor: &ActorId) -> bool {
    actor.to_bytes() == GENESIS_ACTOR
}

/// Heads of the shared genesis: every journal holds this change, so no peer
/// ever needs to send it.
pub fn genesis_heads() -> Vec<ChangeHash> {
    static HEADS: std::sync::OnceLock<Vec<ChangeHash>> = std::sync::OnceLock::new();
    HEADS.get_or_init(|| genesis().get_heads()).clone()
}

/// The genesis document every journal starts from (see the module docs).
pub fn genesis() -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::from(GENESIS_ACTOR));
    let mut tx = doc.transaction();
    // Infallible on a fresh document: the root map always accepts these puts.
    tx.put(ROOT, KEY_SCHEMA, SCHEMA_VERSION)
        .expect("put on root of a new document");
    tx.put_object(ROOT, KEY_ACTIVITIES, ObjType::Map)
        .expect("put_object on root of a new document");
    tx.commit_with(
        CommitOptions::default()
            .with_time(0)
            .with_message("genesis"),
    );
    doc
}

impl Journal {
    /// A new, empty journal whose local changes will carry `actor`.
    pub fn new(actor: ActorId) -> Journal {
        let doc = genesis().with_actor(actor);
        Journal::from_doc(doc).expect("the genesis document is a valid journal")
    }

    /// Wraps a loaded document, checking that it is a journal this code can read.
    pub fn from_doc(doc: Automerge) -> Result<Journal, JournalError> {
        let version = match doc.get(ROOT, KEY_SCHEMA)? {
            Some((automerge::Value::Scalar(v), _)) => match v.as_ref() {
                ScalarValue::Uint(n) => *n,
                ScalarValue::Int(n) if *n >= 0 => *n as u64,
                _ => return Err(JournalError::NotAJournal("schema version is not a number")),
            },
            _ => return Err(JournalError::NotAJournal("no schema version")),
        };
        if version > SCHEMA_VERSION {
            return Err(JournalError::NewerSchema { found: version });
        }
        // Version 1 is the first schema; later versions add their upgrade steps here,
        // one numbered function per version, applied in order.
        let activities = match doc.get(ROOT, KEY_ACTIVITIES)? {
            Some((automerge::Value::Object(ObjType::Map), id)) => id,
            _ => return Err(JournalError::NotAJournal("no activities map")),
        };
        Ok(Journal { doc, activities })
    }

    /// The underlying document (for storage and sync).
    pub fn doc(&self) -> &Automerge {
        &self.doc
    }

    /// Who changed which field of an activity, and when, by time: one
    /// entry per change to it in the journal's history (its own changes and
    /// those merged from other devices), each compared with the activity just
    /// before that change. Costs two historical reads per entry (Automerge
    /// rebuilds the document at those heads): meant for one activity at a time.
    pub fn history(&self, id: ActivityId) -> Result<Vec<HistoryEntry>, JournalError> {
        let key = id.to_string();
        let Some((_, obj)) = self.doc.get(&self.activities, key.as_str())? else {
            return Err(JournalError::NotFound(id));
        };
        let (obj, activities) = (obj.to_string(), self.activities.to_string());
        let mut entries = Vec::new();
        for change in self.doc.get_changes(&[]) {
            let touches = change.decode().operations.iter().any(|op| {
                let on = op.obj.to_string();
                on == obj
                    || (on == activities
                        && matches!(&op.key, automerge::legacy::Key::Map(k) if k.as_str() == key))
            });
            if !touches {
                continue;
            }
            let before = self.activity_at(id, change.deps())?;
            let Some(after) = self.activity_at(id, &[change.hash()])? else {
                continue;
            };
            let entry = HistoryEntry {
                created: before.is_none(),
                fields: changed_fields(before.as_ref(), &after),
                by: after.updated_by,
                at: after.updated_at,
            };
            entries.push((entry.at, change.hash(), entry));
        }
        // By time as people wrote it: the same order on every replica, which
        // the causal order of concurrent changes is not.
        entries.sort_by_key(|(at, hash, _)| (*at, *hash));
        Ok(entries.into_iter().map(|(_, _, entry)| entry).collect())
    }

    /// The activity as it was at `heads` (`None` if it did not exist yet).
    fn activity_at(
        &self,
        id: ActivityId,
        heads: &[ChangeHash],
    ) -> Result<Option<Activity>, JournalError> {
        if heads.is_empty() {
            return Ok(None);
        }
        let then = self.doc.fork_at(heads)?;
        let Some((_, activities)) = then.get(ROOT, KEY_ACTIVITIES)? else {
            return Ok(None);
        };
        let Some((_, obj)) = then.get(&activities, id.to_string())? else {
            return Ok(None);
        };
        read_activity(&then, id, &obj).map(Some)
    }

    /// Mutable access for merging received changes.
    pub fn doc_mut(&mut self) -> &mut Automerge {
        &mut self.doc
    }

    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Records a new activity; returns the change to store.
    pub fn create(
        &mut self,
        id: ActivityId,
        patch: &ActivityPatch,
        stamp: Stamp<'_>,
    ) -> Result<Change, JournalError> {
        patch.check_complete()?;
        if self.object_of(id)?.is_some() {
            return Err(JournalError::AlreadyExists(id));
        }
        let mut tx = self.doc.transaction();
        write_new(&mut TxWriter(&mut tx), &self.activities, id, patch, stamp)?;
        tx.commit_with(commit_options(stamp));
        Ok(self.last_local_change())
    }

    /// Where this journal's next local change starts.
    pub fn tip(&mut self) -> Tip {
        // Automerge finds this device's last change only once the actor is known
        // to the document; setting it again after changes were merged makes it so.
        let actor = self.doc.get_actor().clone();
        self.doc.set_actor(actor);
        let heads = self.doc.get_heads();
        let max_op = heads
            .iter()
            .filter_map(|h| self.doc.get_change_meta_by_hash(h))
            .map(|meta| meta.max_op)
            .max()
            .unwrap_or(0);
        let seq = self.doc.get_last_local_change().map_or(0, |c| c.seq());
        let activities = match &self.activities {
            ObjId::Id(counter, actor, _) => (*counter, actor.clone()),
            // `from_doc` finds the activities map under the root, never the root itself.
            ObjId::Root => (0, ActorId::from(GENESIS_ACTOR)),
        };
        Tip {
            heads,
            max_op,
            seq,
            activities,
        }
    }

    /// The change [`Journal::create`] would make at `tip`, built without
    /// touching the document (which makes it fast: about a microsecond per
    /// operation instead of tens), with the tip after it. The caller stores the
    /// change durably, then hands it to [`Journal::apply_own`] — before any
    /// other change, since it depends on `tip`. The caller also makes sure `id` is new.
    pub fn prepare_create(
        actor: &ActorId,
        tip: &Tip,
        id: ActivityId,
        patch: &ActivityPatch,
        stamp: Stamp<'_>,
    ) -> Result<(Change, Tip), JournalError> {
        prepare_change(actor, tip, &[(id, patch)], stamp)
    }

    /// The changes [`Journal::create_many`] would make at `tip` (one per
    /// [`IMPORT_ACTIVITIES_PER_CHANGE`] activities), built without touching
    /// the document, with the tip after the last. As for
    /// [`Journal::prepare_create`], the caller makes sure every id is new.
    pub fn prepare_create_many(
        actor: &ActorId,
        tip: &Tip,
        items: &[(ActivityId, ActivityPatch)],
        stamp: Stamp<'_>,
    ) -> Result<(Vec<Change>, Tip), JournalError> {
        let mut changes = Vec::with_capacity(items.len().div_ceil(IMPORT_ACTIVITIES_PER_CHANGE));
        let mut tip = tip.clone();
        for chunk in items.chunks(IMPORT_ACTIVITIES_PER_CHANGE) {
            let chunk: Vec<(ActivityId, &ActivityPatch)> =
                chunk.iter().map(|(id, patch)| (*id, patch)).collect();
            let (change, next) = prepare_change(actor, &tip, &chunk, stamp)?;
            changes.push(change);
            tip = next;
        }
        Ok((changes, tip))
    }

    /// Applies this journal's own changes made by [`Journal::prepare_create`], in order.
    pub fn apply_own(&mut self, changes: Vec<Change>) -> Result<(), JournalError> {
        Ok(self.doc.apply_changes(changes)?)
    }

    /// Records many new activities (an import), committing them in changes of at
    /// most [`IMPORT_ACTIVITIES_PER_CHANGE`] activities each.
    pub fn create_many(
        &mut self,
        items: &[(ActivityId, ActivityPatch)],
        stamp: Stamp<'_>,
    ) -> Result<Vec<Change>, JournalError> {
        let mut changes = Vec::new();
        for chunk in items.chunks(IMPORT_ACTIVITIES_PER_CHANGE) {
            for (id, patch) in chunk {
                patch.check_complete()?;
                if self.object_of(*id)?.is_some() {
                    return Err(JournalError::AlreadyExists(*id));
                }
            }
            let mut tx = self.doc.transaction();
            for (id, patch) in chunk {
                write_new(&mut TxWriter(&mut tx), &self.activities, *id, patch, stamp)?;
            }
            tx.commit_with(commit_options(stamp));
            changes.push(self.last_local_change());
        }
        Ok(changes)
    }

    /// Changes the fields set in `patch`. Returns `None` when every given value
    /// already equals the stored one (nothing to store, nothing to sync).
    pub fn update(
        &mut self,
        id: ActivityId,
        patch: &ActivityPatch,
        stamp: Stamp<'_>,
    ) -> Result<Option<Change>, JournalError> {
        let current = self.get(id)?.ok_or(JournalError::NotFound(id))?;
        let obj = self.object_of(id)?.ok_or(JournalError::NotFound(id))?;
        let mut tx = self.doc.transaction();
        let changed = write_patch(&mut tx, &obj, &current, patch)?;
        if !changed {
            tx.rollback();
            return Ok(None);
        }
        stamp_update(&mut tx, &obj, stamp)?;
        tx.commit_with(commit_options(stamp));
        Ok(Some(self.last_local_change()))
    }

    /// Sets or clears the tombstone. Returns `None` if it already had that value.
    pub fn set_deleted(
        &mut self,
        id: ActivityId,
        deleted: bool,
        stamp: Stamp<'_>,
    ) -> Result<Option<Change>, JournalError> {
        let current = self.get(id)?.ok_or(JournalError::NotFound(id))?;
        if current.deleted == deleted {
            return Ok(None);
        }
        let obj = self.object_of(id)?.ok_or(JournalError::NotFound(id))?;
        let mut tx = self.doc.transaction();
        tx.put(&obj, "deleted", deleted)?;
        stamp_update(&mut tx, &obj, stamp)?;
        tx.commit_with(commit_options(stamp));
        Ok(Some(self.last_local_change()))
    }

    /// Attaches a file to an activity (deleted or not). Returns `None`
    /// when that file is attached already: the same bytes under another
    /// name are one file.
    pub fn attach(
        &mut self,
        id: ActivityId,
        file: &NewAttachment,
        stamp: Stamp<'_>,
    ) -> Result<Option<Change>, JournalError> {
        let current = self.get(id)?.ok_or(JournalError::NotFound(id))?;
        if current.attachments.iter().any(|a| a.file == file.file) {
            return Ok(None);
        }
        if current.attachments.len() >= MAX_FILES_PER_ACTIVITY {
            return Err(JournalError::TooManyFiles {
                id,
                max: MAX_FILES_PER_ACTIVITY,
            });
        }
        let obj = self.object_of(id)?.ok_or(JournalError::NotFound(id))?;
        let attachment = Attachment {
            file: file.file,
            name: file.name.clone(),
            media_type: file.media_type,
            bytes: file.bytes,
            added_by: stamp.author.to_owned(),
            added_at: stamp.now,
            thumbnail: file.thumbnail,
        };
        let mut tx = self.doc.transaction();
        write_attachment(&mut tx, &obj, &attachment)?;
        stamp_update(&mut tx, &obj, stamp)?;
        tx.commit_with(commit_options(stamp));
        Ok(Some(self.last_local_change()))
    }

    /// Removes a file from an activity. Returns `None` when it was not
    /// attached. The bytes stay in the store while any record refers to them.
    pub fn detach(
        &mut self,
        id: ActivityId,
        file: FileHash,
        stamp: Stamp<'_>,
    ) -> Result<Option<Change>, JournalError> {
        let obj = self.object_of(id)?.ok_or(JournalError::NotFound(id))?;
        let key = attachment_key(file);
        if self.doc.get(&obj, key.as_str())?.is_none() {
            return Ok(None);
        }
        let mut tx = self.doc.transaction();
        tx.delete(&obj, key.as_str())?;
        stamp_update(&mut tx, &obj, stamp)?;
        tx.commit_with(commit_options(stamp));
        Ok(Some(self.last_local_change()))
    }

    /// The file `file` as the activity `id` refers to it, if it does: one
    /// lookup, whatever the journal's size (what a relay checks a file
    /// offered or asked for against).
    pub fn attachment(
        &self,
        id: ActivityId,
        file: FileHash,
    ) -> Result<Option<Attachment>, JournalError> {
        let Some(obj) = self.object_of(id)? else {
            return Ok(None);
        };
        let key = attachment_key(file);
        match self.doc.get(&obj, key.as_str())? {
            Some((automerge::Value::Object(ObjType::Map), entry)) => {
                Ok(read_attachment(&self.doc, &key, &entry))
            }
            _ => Ok(None),
        }
    }

    /// The size of file `file` if activity `id` refers to it, as an
    /// attached file or as the thumbnail of one: what a relay checks a file
    /// offered or asked for against. At most [`MAX_FILES_PER_ACTIVITY`]
    /// entries read, whatever the journal's size.
    pub fn referred_file(
        &self,
        id: ActivityId,
        file: FileHash,
    ) -> Result<Option<u64>, JournalError> {
        if let Some(a) = self.attachment(id, file)? {
            return Ok(Some(a.bytes));
        }
        let Some(activity) = self.get(id)? else {
            return Ok(None);
        };
        Ok(activity
            .attachments
            .iter()
            .flat_map(Attachment::files)
            .find(|(hash, _)| *hash == file)
            .map(|(_, bytes)| bytes))
    }

    /// One activity, deleted or not.
    pub fn get(&self, id: ActivityId) -> Result<Option<Activity>, JournalError> {
        match self.object_of(id)? {
            Some(obj) => read_activity(&self.doc, id, &obj).map(Some),
            None => Ok(None),
        }
    }

    /// True when an activity with this id exists (deleted or not).
    pub fn contains(&self, id: ActivityId) -> Result<bool, JournalError> {
        Ok(self.object_of(id)?.is_some())
    }

    /// Every activity (including deleted ones), newest first: by date, then start
    /// time, then creation time.
    pub fn activities(&self) -> Result<Vec<Activity>, JournalError> {
        let mut all = Vec::with_capacity(self.doc.length(&self.activities));
        for item in self.doc.map_range(&self.activities, ..) {
            let id = item
                .key
                .parse::<ActivityId>()
                .map_err(|_| JournalError::Unreadable {
                    id: item.key.to_string(),
                    problem: "its key is not an activity id".into(),
                })?;
            all.push(read_activity(&self.doc, id, &item.id())?);
        }
        sort_newest_first(&mut all);
        Ok(all)
    }

    /// Every file a record refers to (deleted records too, which may be
    /// restored): attached files and their thumbnails. Reads only the
    /// records' file entries (a key range of each record), not their fields.
    pub fn referred_files(&self) -> BTreeSet<FileHash> {
        let mut files = BTreeSet::new();
        let range = ATTACHMENT_KEY_PREFIX.to_owned()..ATTACHMENT_KEY_END.to_owned();
        for record in self.doc.map_range(&self.activities, ..) {
            for entry in self.doc.map_range(record.id(), range.clone()) {
                if let Some(a) = read_attachment(&self.doc, &entry.key, &entry.id()) {
                    files.extend(a.files().map(|(hash, _)| hash));
                }
            }
        }
        files
    }

    /// The id of every activity record (including deleted ones), without
    /// reading them.
    pub fn ids(&self) -> Vec<ActivityId> {
        self.doc
            .keys(&self.activities)
            .filter_map(|key| key.parse().ok())
            .collect()
    }

    /// The activities that the `checked` changes, already applied to this
    /// journal, write to: the key of each operation on the activities map,
    /// and for one inside an activity (at any depth) the activity holding it.
    /// Objects the changes create are placed as they go; any other object
    /// costs one parent lookup, so this costs what the changes hold, whatever
    /// the journal's size. Reads the operations' targets the checks kept
    /// ([`Checked::with_targets`]) rather than decoding the changes again.
    /// `None` when an operation names an object the journal cannot place.
    pub fn touched_by(&self, checked: &Checked) -> Option<BTreeSet<ActivityId>> {
        let automerge::ObjId::Id(counter, actor, _) = &self.activities else {
            return None;
        };
        let activities = legacy::OpId(*counter, actor.clone());
        let mut ids = BTreeSet::new();
        let mut placed: HashMap<legacy::OpId, Option<ActivityId>> = HashMap::new();
        for (change, targets) in checked.with_targets() {
            for (op, counter) in targets.iter().zip(change.start_op().get()..) {
                let legacy::ObjectId::Id(obj) = &op.obj else {
                    continue; // the root: schema, containers, erasure marks
                };
                let id = if *obj == activities {
                    match &op.key {
                        legacy::Key::Map(key) => key.parse().ok(),
                        legacy::Key::Seq(_) => None,
                    }
                } else if let Some(id) = placed.get(obj) {
                    *id
                } else {
                    let id = self.activity_holding(obj)?;
                    placed.insert(obj.clone(), id);
                    id
                };
                if op.makes {
                    // The object this operation makes sits where it was made.
                    placed.insert(legacy::OpId(counter, change.actor_id().clone()), id);
                }
                ids.extend(id);
            }
        }
        Some(ids)
    }

    /// The activity whose record holds object `obj` (`Some(None)`: none does).
    fn activity_holding(&self, obj: &legacy::OpId) -> Option<Option<ActivityId>> {
        let obj = self.doc.import_obj(&obj.to_string()).ok()?;
        for parent in self.doc.parents(&obj).ok()? {
            if parent.obj == self.activities {
                return Some(match parent.prop {
                    automerge::Prop::Map(key) => key.parse().ok(),
                    automerge::Prop::Seq(_) => None,
                });
            }
        }
        Some(None)
    }

    /// Number of activity records (including deleted ones), without reading them.
    pub fn len(&self) -> usize {
        self.doc.length(&self.activities)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn object_of(&self, id: ActivityId) -> Result<Option<ObjId>, JournalError> {
        match self.doc.get(&self.activities, id.to_string())? {
            Some((automerge::Value::Object(ObjType::Map), obj)) => Ok(Some(obj)),
            Some(_) => Err(JournalError::Unreadable {
                id: id.to_string(),
                problem: "it is not a record".into(),
            }),
            None => Ok(None),
        }
    }

    fn last_local_change(&self) -> Change {
        self.doc
            .get_last_local_change()
            .expect("a commit with operations was just made by this actor")
    }
}

/// Sorts activities newest first: date, then start time, then creation time.
pub fn sort_newest_first(activities: &mut [Activity]) {
    activities.sort_by(|a, b| {
        (b.date, b.start, b.created_at, b.id).cmp(&(a.date, a.start, a.created_at, a.id))
    });
}

fn commit_options(stamp: Stamp<'_>) -> CommitOptions {
    CommitOptions::default().with_time(stamp.now.timestamp_millis())
}

/// The few writes a new record needs. One function, [`write_new`], lays out a new
/// record through this trait, both in an Automerge transaction and in a change
/// built without touching the document ([`Journal::prepare_create`]), so the two
/// paths cannot drift apart.
trait RecordWriter {
    type Obj;
    fn put(&mut self, obj: &Self::Obj, key: &str, value: ScalarValue) -> Result<(), JournalError>;
    fn make(
        &mut self,
        obj: &Self::Obj,
        key: &str,
        kind: ObjType,
    ) -> Result<Self::Obj, JournalError>;
    /// Appends to a list this same writer made (`index` = its length so far).
    fn append(&mut self, list: &Self::Obj, index: usize, value: &str) -> Result<(), JournalError>;
}

/// Writes through an Automerge transaction.
struct TxWriter<'a, T>(&'a mut T);

impl<T: Transactable> RecordWriter for TxWriter<'_, T> {
    type Obj = ObjId;

    fn put(&mut self, obj: &ObjId, key: &str, value: ScalarValue) -> Result<(), JournalError> {
        Ok(self.0.put(obj, key, value)?)
    }

    fn make(&mut self, obj: &ObjId, key: &str, kind: ObjType) -> Result<ObjId, JournalError> {
        Ok(self.0.put_object(obj, key, kind)?)
    }

    fn append(&mut self, list: &ObjId, index: usize, value: &str) -> Result<(), JournalError> {
        Ok(self.0.insert(list, index, value)?)
    }
}

/// One change recording `items` as new activities, numbered on from `tip`,
/// built as an Automerge transaction would build it (see
/// [`Journal::prepare_create`]), with the tip after it.
fn prepare_change(
    actor: &ActorId,
    tip: &Tip,
    items: &[(ActivityId, &ActivityPatch)],
    stamp: Stamp<'_>,
) -> Result<(Change, Tip), JournalError> {
    for (_, patch) in items {
        patch.check_complete()?;
    }
    if tip.activities.0 == 0 {
        return Err(JournalError::NotAJournal("the activities map is the root"));
    }
    let activities = legacy::OpId(tip.activities.0, tip.activities.1.clone());
    // Counters come from every change the journal holds, received ones
    // included: a peer's absurdly high counter must not overflow here.
    let exhausted = || JournalError::NotAJournal("its operation counter is exhausted");
    let start_op = tip
        .max_op
        .checked_add(1)
        .and_then(std::num::NonZeroU64::new)
        .ok_or_else(exhausted)?;
    let mut builder = ChangeBuilder {
        actor: actor.clone(),
        start_op: start_op.get(),
        ops: Vec::new(),
        last_elements: Vec::new(),
    };
    for (id, patch) in items {
        write_new(&mut builder, &activities, *id, patch, stamp)?;
    }
    let max_op = start_op
        .get()
        .checked_add((builder.ops.len() as u64).saturating_sub(1))
        .ok_or_else(exhausted)?;
    let mut deps = tip.heads.clone();
    deps.sort();
    let change = Change::from(automerge::ExpandedChange {
        operations: builder.ops,
        actor_id: builder.actor,
        hash: None,
        seq: tip.seq + 1,
        start_op,
        time: stamp.now.timestamp_millis(),
        message: None,
        deps,
        extra_bytes: Vec::new(),
        author: None,
    });
    let next = Tip {
        heads: vec![change.hash()],
        max_op,
        seq: tip.seq + 1,
        activities: tip.activities.clone(),
    };
    Ok((change, next))
}

/// Builds a change op by op, without a document: what a transaction would
/// record, for operations that only create (no op here overwrites another, so
/// none has predecessors).
struct ChangeBuilder {
    actor: ActorId,
    start_op: u64,
    ops: Vec<legacy::Op>,
    /// The last element appended to each list made here: (list, element).
    last_elements: Vec<(legacy::OpId, legacy::OpId)>,
}

impl ChangeBuilder {
    fn push(
        &mut self,
        action: legacy::OpType,
        obj: &legacy::OpId,
        key: legacy::Key,
    ) -> legacy::OpId {
        let id = legacy::OpId(self.start_op + self.ops.len() as u64, self.actor.clone());
        self.ops.push(legacy::Op {
            action,
            obj: legacy::ObjectId::Id(obj.clone()),
            insert: matches!(key, legacy::Key::Seq(_)),
            key,
            pred: legacy::SortedVec::new(),
        });
        id
    }
}

impl RecordWriter for ChangeBuilder {
    type Obj = legacy::OpId;

    fn put(&mut self, obj: &Self::Obj, key: &str, value: ScalarValue) -> Result<(), JournalError> {
        self.push(
            legacy::OpType::Put(value),
            obj,
            legacy::Key::Map(key.into()),
        );
        Ok(())
    }

    fn make(
        &mut self,
        obj: &Self::Obj,
        key: &str,
        kind: ObjType,
    ) -> Result<Self::Obj, JournalError> {
        Ok(self.push(
            legacy::OpType::Make(kind),
            obj,
            legacy::Key::Map(key.into()),
        ))
    }

    fn append(&mut self, list: &Self::Obj, index: usize, value: &str) -> Result<(), JournalError> {
        let previous = self.last_elements.iter().position(|(l, _)| l == list);
        let after = match previous {
            Some(at) if index > 0 => legacy::ElementId::Id(self.last_elements.swap_remove(at).1),
            None if index == 0 => legacy::ElementId::Head,
            _ => return Err(JournalError::NotAJournal("list appends out of order")),
        };
        let element = self.push(
            legacy::OpType::Put(value.into()),
            list,
            legacy::Key::Seq(after),
        );
        self.last_elements.push((list.clone(), element));
        Ok(())
    }
}

/// Lays out a new record: the record map, its required fields, its (empty)
/// lists and counts map, who recorded it and when, then every optional field the
/// patch sets. Reads nothing: every operation costs time in a large journal.
/// Absent counts read as 0, an absent `deleted` as false and absent `updated_*`
/// as the creation stamp, so a new record writes only what it has.
fn write_new<W: RecordWriter>(
    w: &mut W,
    activities: &W::Obj,
    id: ActivityId,
    patch: &ActivityPatch,
    stamp: Stamp<'_>,
) -> Result<(), JournalError> {
    // `check_complete` guaranteed these three.
    let (Some(title), Some(kind), Some(date)) = (&patch.title, patch.kind, patch.date) else {
        return Err(patch.check_complete().err().unwrap_or_default().into());
    };
    let obj = w.make(activities, &id.to_string(), ObjType::Map)?;
    w.put(&obj, "title", title.as_str().into())?;
    w.put(&obj, "kind", kind.key().into())?;
    w.put(&obj, "date", date.format("%Y-%m-%d").to_string().into())?;
    // The containers exist from the start, so that two devices adding the first
    // organiser concurrently add to one list instead of creating two.
    let organisers = w.make(&obj, "organisers", ObjType::List)?;
    let institutions = w.make(&obj, "institutions", ObjType::List)?;
    let counts = w.make(&obj, "counts", ObjType::Map)?;
    w.put(&obj, "recorded_by", stamp.author.into())?;
    let created = ScalarValue::Timestamp(stamp.now.timestamp_millis());
    w.put(&obj, "created_at", created)?;
    for (key, text) in [
        ("place", &patch.place),
        ("description", &patch.description),
        ("notes", &patch.notes),
    ] {
        if let Some(text) = text.as_deref().filter(|t| !t.is_empty()) {
            w.put(&obj, key, text.into())?;
        }
    }
    if let Some(Some(start)) = patch.start {
        w.put(&obj, "start", start.format("%H:%M").to_string().into())?;
    }
    if let Some(Some(hours)) = patch.hours {
        w.put(&obj, "hours", hours.into())?;
    }
    for (list, names) in [
        (&organisers, &patch.organisers),
        (&institutions, &patch.institutions),
    ] {
        for (index, name) in names.iter().flatten().enumerate() {
            w.append(list, index, name)?;
        }
    }
    // One write per group (a group given twice takes its last count): a second
    // write to the same key would overwrite the first, which only a document can track.
    for (group, n) in new_counts(patch).iter().filter(|(_, n)| *n != 0) {
        w.put(&counts, group.key(), u64::from(n).into())?;
    }
    Ok(())
}

/// The activity a new record reads back as (what [`write_new`] writes, seen
/// through [`read_activity`]), built without the document.
pub fn new_record(id: ActivityId, patch: &ActivityPatch, stamp: Stamp<'_>) -> Activity {
    let created = millis_to_time(stamp.now.timestamp_millis());
    let mut a = blank_activity(
        id,
        Stamp {
            author: stamp.author,
            now: created,
        },
    );
    a.title = patch.title.clone().unwrap_or_default();
    a.kind = patch.kind.unwrap_or(Kind::Other);
    a.date = patch.date.unwrap_or(NaiveDate::MIN);
    a.place = patch.place.clone().unwrap_or_default();
    a.description = patch.description.clone().unwrap_or_default();
    a.notes = patch.notes.clone().unwrap_or_default();
    // Stored at minute and f64 precision, as `write_new` writes them.
    a.start = patch
        .start
        .flatten()
        .and_then(|t| NaiveTime::from_hms_opt(t.hour(), t.minute(), 0));
    a.hours = patch.hours.flatten();
    a.organisers = distinct(patch.organisers.iter().flatten());
    a.institutions = distinct(patch.institutions.iter().flatten());
    a.counts = new_counts(patch);
    a.total_participants = a.counts.total();
    a
}

/// The counts of a new record: each group's last count in the patch.
fn new_counts(patch: &ActivityPatch) -> Counts {
    let mut counts = Counts::default();
    for (group, n) in &patch.counts {
        counts.set(*group, *n);
    }
    counts
}

/// Each name once, in first-seen order (as [`read_names`] reads a list).
fn distinct<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

fn blank_activity(id: ActivityId, stamp: Stamp<'_>) -> Activity {
    Activity {
        id,
        title: String::new(),
        kind: Kind::Other,
        date: NaiveDate::MIN,
        start: None,
        hours: None,
        place: String::new(),
        organisers: Vec::new(),
        institutions: Vec::new(),
        counts: Counts::default(),
        total_participants: 0,
        description: String::new(),
        notes: String::new(),
        recorded_by: stamp.author.to_owned(),
        created_at: stamp.now,
        updated_by: stamp.author.to_owned(),
        updated_at: stamp.now,
        deleted: false,
        attachments: Vec::new(),
    }
}

fn stamp_update(
    tx: &mut impl Transactable,
    obj: &ObjId,
    stamp: Stamp<'_>,
) -> Result<(), JournalError> {
    tx.put(obj, "updated_by", stamp.author)?;
    tx.put(
        obj,
        "updated_at",
        ScalarValue::Timestamp(stamp.now.timestamp_millis()),
    )?;
    Ok(())
}

/// Writes each field of `patch` that differs from `current`; true if any did.
/// Writing only real differences keeps concurrent edits of other fields intact.
fn write_patch(
    tx: &mut impl Transactable,
    obj: &ObjId,
    current: &Activity,
    patch: &ActivityPatch,
) -> Result<bool, JournalError> {
    let date = patch.date.map(|d| d.format("%Y-%m-%d").to_string());
    let old_date = current.date.format("%Y-%m-%d").to_string();
    let mut changed = false;
    for (key, new, old) in [
        ("title", patch.title.as_deref(), current.title.as_str()),
        ("kind", patch.kind.map(Kind::key), current.kind.key()),
        ("date", date.as_deref(), old_date.as_str()),
        ("place", patch.place.as_deref(), current.place.as_str()),
        (
            "description",
            patch.description.as_deref(),
            current.description.as_str(),
        ),
        ("notes", patch.notes.as_deref(), current.notes.as_str()),
    ] {
        if let Some(new) = new.filter(|n| *n != old) {
            tx.put(obj, key, new)?;
            changed = true;
        }
    }
    changed |= write_optional(tx, obj, current, patch)?;
    changed |= write_list(
        tx,
        obj,
        "organisers",
        &current.organisers,
        &patch.organisers,
    )?;
    changed |= write_list(
        tx,
        obj,
        "institutions",
        &current.institutions,
        &patch.institutions,
    )?;
    changed |= write_counts(tx, obj, current, patch)?;
    Ok(changed)
}

/// Start time and duration: absent in the document when unknown.
fn write_optional(
    tx: &mut impl Transactable,
    obj: &ObjId,
    current: &Activity,
    patch: &ActivityPatch,
) -> Result<bool, JournalError> {
    let mut changed = false;
    if let Some(start) = patch.start.filter(|s| *s != current.start) {
        match start {
            Some(t) => tx.put(obj, "start", t.format("%H:%M").to_string())?,
            None => tx.delete(obj, "start")?,
        }
        changed = true;
    }
    if let Some(hours) = patch.hours.filter(|h| *h != current.hours) {
        match hours {
            Some(h) => tx.put(obj, "hours", h)?,
            None => tx.delete(obj, "hours")?,
        }
        changed = true;
    }
    Ok(changed)
}

/// Updates a list of names in place: removes names no longer wanted and appends
/// new ones, so that concurrent additions on two replicas are both kept. Names
/// already present keep their order, so a reordering alone changes nothing.
fn write_list(
    tx: &mut impl Transactable,
    obj: &ObjId,
    key: &str,
    current: &[String],
    wanted: &Option<Vec<String>>,
) -> Result<bool, JournalError> {
    let Some(wanted) = wanted else {
        return Ok(false);
    };
    if wanted.as_slice() == current {
        return Ok(false);
    }
    let list = match tx.get(obj, key)? {
        Some((automerge::Value::Object(ObjType::List), list)) => list,
        _ => tx.put_object(obj, key, ObjType::List)?,
    };
    // Work on the stored entries, not on `current`: readers skip entries that are
    // not text and show a name once even when concurrent additions stored it twice,
    // so `current` indexes do not always match the list's.
    let stored: Vec<Option<String>> = tx
        .list_range(&list, ..)
        .map(|item| text_of(&item.value))
        .collect();
    let mut kept: Vec<&String> = Vec::new();
    let mut keep = vec![false; stored.len()];
    for (index, name) in stored.iter().enumerate() {
        if let Some(name) = name
            .as_ref()
            .filter(|n| wanted.contains(n) && !kept.contains(n))
        {
            kept.push(name);
            keep[index] = true;
        }
    }
    let mut changed = false;
    // Delete from the end so that deletions do not shift the indexes still to visit.
    for index in (0..stored.len()).rev().filter(|i| !keep[*i]) {
        tx.delete(&list, index)?;
        changed = true;
    }
    for name in wanted.iter().filter(|n| !kept.contains(n)) {
        let at = tx.length(&list);
        tx.insert(&list, at, name.as_str())?;
        changed = true;
    }
    Ok(changed)
}

fn write_counts(
    tx: &mut impl Transactable,
    obj: &ObjId,
    current: &Activity,
    patch: &ActivityPatch,
) -> Result<bool, JournalError> {
    let changes: Vec<_> = patch
        .counts
        .iter()
        .filter(|(g, n)| current.counts.get(*g) != *n)
        .collect();
    if changes.is_empty() {
        return Ok(false);
    }
    let counts = match tx.get(obj, "counts")? {
        Some((automerge::Value::Object(ObjType::Map), counts)) => counts,
        _ => tx.put_object(obj, "counts", ObjType::Map)?,
    };
    for (group, n) in changes {
        tx.put(&counts, group.key(), u64::from(*n))?;
    }
    Ok(true)
}

/// One change to an activity: who, when, and each field's value before and
/// after (as text; empty when there was none).
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    /// The name written with the change (the device's, e.g. "office").
    pub by: String,
    pub at: DateTime<Utc>,
    /// The change recorded the activity.
    pub created: bool,
    /// (field, before, after): the field's key as in `Activity`'s JSON
    /// (`title`, `place`, `counts.teachers`, `deleted`, …).
    pub fields: Vec<(String, String, String)>,
}

/// The fields that differ between two versions of an activity.
fn changed_fields(before: Option<&Activity>, after: &Activity) -> Vec<(String, String, String)> {
    let text = |a: &Activity| -> Vec<(String, String)> {
        let mut fields = vec![
            ("title".to_owned(), a.title.clone()),
            ("kind".to_owned(), a.kind.key().to_owned()),
            ("date".to_owned(), a.date.to_string()),
            (
                "start".to_owned(),
                a.start
                    .map(|t| t.format("%H:%M").to_string())
                    .unwrap_or_default(),
            ),
            (
                "hours".to_owned(),
                a.hours.map(|h| h.to_string()).unwrap_or_default(),
            ),
            ("place".to_owned(), a.place.clone()),
            ("organisers".to_owned(), a.organisers.join(", ")),
            ("institutions".to_owned(), a.institutions.join(", ")),
        ];
        fields.extend(
            a.counts
                .iter()
                .map(|(g, n)| (format!("counts.{}", g.key()), n.to_string())),
        );
        fields.extend([
            ("description".to_owned(), a.description.clone()),
            ("notes".to_owned(), a.notes.clone()),
            ("deleted".to_owned(), a.deleted.to_string()),
            (
                "attachments".to_owned(),
                a.attachments
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ]);
        fields
    };
    let old = before.map(text).unwrap_or_default();
    text(after)
        .into_iter()
        .filter_map(|(field, now)| {
            let was = old
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, v)| v.clone());
            let was = was.unwrap_or_default();
            let new_zero = before.is_none() && (now.is_empty() || now == "0" || now == "false");
            (was != now && !new_zero).then_some((field, was, now))
        })
        .collect()
}

/// What attaching a file writes into a record (the rest is the stamp).
#[derive(Clone, Debug, PartialEq)]
pub struct NewAttachment {
    pub file: FileHash,
    pub name: String,
    pub media_type: MediaType,
    pub bytes: u64,
    pub thumbnail: Option<Thumbnail>,
}

/// Prefix of the record key of an attached file.
const ATTACHMENT_KEY_PREFIX: &str = "file:";
/// The first key past every attached file's (`;` follows `:`).
const ATTACHMENT_KEY_END: &str = "file;";

fn attachment_key(file: FileHash) -> String {
    format!("{ATTACHMENT_KEY_PREFIX}{file}")
}

/// Writes an attached file's entry into the record `obj` (what attaching
/// writes, and what an erasure's rewrite writes again for the records it keeps).
fn write_attachment(
    tx: &mut impl Transactable,
    obj: &ObjId,
    a: &Attachment,
) -> Result<(), JournalError> {
    let entry = tx.put_object(obj, attachment_key(a.file), ObjType::Map)?;
    tx.put(&entry, "name", a.name.as_str())?;
    tx.put(&entry, "type", a.media_type.mime())?;
    tx.put(&entry, "bytes", a.bytes)?;
    tx.put(&entry, "added_by", a.added_by.as_str())?;
    let added = ScalarValue::Timestamp(a.added_at.timestamp_millis());
    tx.put(&entry, "added_at", added)?;
    if let Some(thumbnail) = a.thumbnail {
        tx.put(&entry, "thumbnail", thumbnail.file.to_string())?;
        tx.put(&entry, "thumbnail_bytes", thumbnail.bytes)?;
    }
    Ok(())
}

/// An attached file's entry; `None` when it is not one this version reads
/// (a damaged or foreign entry is skipped, never an error for the record).
fn read_attachment(doc: &Automerge, key: &str, entry: &ObjId) -> Option<Attachment> {
    use automerge::ScalarValueRef as S;
    let file = FileHash::parse(key.strip_prefix(ATTACHMENT_KEY_PREFIX)?)?;
    let (mut name, mut media_type, mut bytes) = (None, None, None);
    let (mut added_by, mut added_at) = (String::new(), DateTime::<Utc>::UNIX_EPOCH);
    let (mut thumbnail, mut thumbnail_bytes) = (None, None);
    for item in doc.map_range(entry, ..) {
        let automerge::ValueRef::Scalar(value) = &item.value else {
            continue;
        };
        match (item.key.as_ref(), value) {
            ("name", S::Str(s)) => name = Some(s.to_string()),
            ("type", S::Str(s)) => media_type = MediaType::from_mime(s),
            ("bytes", S::Uint(n)) => bytes = Some(*n),
            ("added_by", S::Str(s)) => added_by = s.to_string(),
            ("added_at", S::Timestamp(ms)) => added_at = millis_to_time(*ms),
            ("thumbnail", S::Str(s)) => thumbnail = FileHash::parse(s),
            ("thumbnail_bytes", S::Uint(n)) => thumbnail_bytes = Some(*n),
            _ => {}
        }
    }
    Some(Attachment {
        file,
        name: name?,
        media_type: media_type?,
        bytes: bytes?,
        added_by,
        added_at,
        thumbnail: thumbnail
            .zip(thumbnail_bytes)
            .map(|(file, bytes)| Thumbnail { file, bytes }),
    })
}

/// Oldest first, as they were attached; equal times by name.
fn sort_attachments(attachments: &mut [Attachment]) {
    attachments.sort_by(|a, b| (a.added_at, &a.name, a.file).cmp(&(b.added_at, &b.name, b.file)));
}

/// Reads one activity object. Unknown keys (from newer versions) are ignored;
/// missing optional keys read as empty.
fn read_activity(doc: &Automerge, id: ActivityId, obj: &ObjId) -> Result<Activity, JournalError> {
    let unreadable = |problem: String| JournalError::Unreadable {
        id: id.to_string(),
        problem,
    };
    let mut a = blank_activity(
        id,
        Stamp {
            author: "",
            now: DateTime::<Utc>::UNIX_EPOCH,
        },
    );
    let mut kind = None;
    let mut date = None;
    let mut updated_seen = false;
    for item in doc.map_range(obj, ..) {
        let key = item.key.as_ref();
        updated_seen |= key == "updated_at";
        match (key, &item.value) {
            ("organisers" | "institutions", automerge::ValueRef::Object(ObjType::List)) => {
                let names = read_names(doc, &item.id());
                if key == "organisers" {
                    a.organisers = names
                } else {
                    a.institutions = names
                }
            }
            ("counts", automerge::ValueRef::Object(ObjType::Map)) => {
                a.counts = read_counts(doc, &item.id());
            }
            (_, automerge::ValueRef::Object(ObjType::Map))
                if key.starts_with(ATTACHMENT_KEY_PREFIX) =>
            {
                a.attachments.extend(read_attachment(doc, key, &item.id()));
            }
            (_, automerge::ValueRef::Scalar(value)) => {
                read_scalar(&mut a, key, value, &mut kind, &mut date).map_err(unreadable)?;
            }
            _ => {}
        }
    }
    a.kind = Kind::parse(kind.as_deref().unwrap_or_default())
        .ok_or_else(|| unreadable(format!("unknown kind {kind:?}")))?;
    a.date = date.ok_or_else(|| unreadable("no valid date".into()))?;
    if !updated_seen {
        a.updated_by = a.recorded_by.clone();
        a.updated_at = a.created_at;
    }
    a.total_participants = a.counts.total();
    sort_attachments(&mut a.attachments);
    Ok(a)
}

fn read_scalar(
    a: &mut Activity,
    key: &str,
    value: &automerge::ScalarValueRef<'_>,
    kind: &mut Option<String>,
    date: &mut Option<NaiveDate>,
) -> Result<(), String> {
    use automerge::ScalarValueRef as S;
    match (key, value) {
        ("title", S::Str(s)) => a.title = s.to_string(),
        ("kind", S::Str(s)) => *kind = Some(s.to_string()),
        ("date", S::Str(s)) => *date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
        ("start", S::Str(s)) => {
            a.start = Some(
                NaiveTime::parse_from_str(s, "%H:%M")
                    .map_err(|_| format!("bad start time {s:?}"))?,
            )
        }
        ("hours", S::F64(h)) => a.hours = Some(*h),
        ("hours", S::Uint(h)) => a.hours = Some(*h as f64),
        ("hours", S::Int(h)) => a.hours = Some(*h as f64),
        ("place", S::Str(s)) => a.place = s.to_string(),
        ("description", S::Str(s)) => a.description = s.to_string(),
        ("notes", S::Str(s)) => a.notes = s.to_string(),
        ("recorded_by", S::Str(s)) => a.recorded_by = s.to_string(),
        ("updated_by", S::Str(s)) => a.updated_by = s.to_string(),
        ("created_at", S::Timestamp(ms)) => a.created_at = millis_to_time(*ms),
        ("updated_at", S::Timestamp(ms)) => a.updated_at = millis_to_time(*ms),
        ("deleted", S::Boolean(d)) => a.deleted = *d,
        _ => {}
    }
    Ok(())
}

/// The text entries of a list of names, each name once (two replicas adding the
/// same name concurrently store it twice).
fn read_names(doc: &Automerge, list: &ObjId) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in doc
        .list_range(list, ..)
        .filter_map(|item| text_of(&item.value))
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn text_of(value: &automerge::ValueRef<'_>) -> Option<String> {
    match value {
        automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) => Some(s.to_string()),
        _ => None,
    }
}

fn read_counts(doc: &Automerge, map: &ObjId) -> Counts {
    let mut counts = Counts::default();
    for item in doc.map_range(map, ..) {
        let Some(group) = Group::parse(&item.key) else {
            continue;
        };
        let n = match item.value {
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Uint(n)) => n,
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Int(n)) => n.max(0) as u64,
            _ => 0,
        };
        counts.set(group, u32::try_from(n).unwrap_or(u32::MAX));
    }
    counts
}

fn millis_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}
