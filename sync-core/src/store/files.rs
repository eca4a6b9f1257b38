//! Attached files in the store (docs/ATTACHMENTS.md): content-addressed by
//! the SHA-256 of their bytes, with a `file-v1` row saying what the file is
//! and how many of its chunks of [`FILE_CHUNK_BYTES`] are held (all of them
//! once it is whole; fewer while it arrives). The bytes are beside a
//! device's store, in `file_chunk-v1` of a relay's journal file
//! ([`super::file_bytes::FileBytes`]). A file is written and read chunk by chunk.

use std::io::{Read, Seek, SeekFrom, Write};

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::JournalId;
use super::file_bytes::Folder;
use super::tables::{FILE_CHUNKS, FILE_UPLOADS, FILES};
use super::{Store, StoreError, begin_durable, erasure::io_error};
use crate::activity::{ActivityId, Attachment};
use crate::files::{FileCheck, FileHash, FileProblem, MediaType, chunk_count};
use crate::limits::FILE_CHUNK_BYTES;
use crate::sync::StorageFailure;

/// A `file-v1` row's media type while the file arrives (told from its
/// bytes once whole).
const MEDIA_TYPE_NOT_KNOWN: u8 = 0;

/// A `file-v1` row.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct FileRow {
    bytes: u64,
    media_type: u8,
    chunks_held: u64,
}

/// A file the store holds, whole or in part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredFile {
    pub hash: FileHash,
    pub bytes: u64,
    /// Told from its bytes once it is whole; `None` while it arrives.
    pub media_type: Option<MediaType>,
    /// Chunks held, from the first: all of them once the file is whole.
    pub chunks_held: u64,
}

impl StoredFile {
    pub fn is_whole(&self) -> bool {
        self.chunks_held == chunk_count(self.bytes)
    }
}

/// What waits to be sent ([`Store::files_waiting`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilesWaiting {
    /// Photos and scans (their thumbnails not counted).
    pub files: u64,
    /// Bytes of them all, thumbnails too.
    pub bytes: u64,
}

/// A file waiting to be sent to the relay ([`Store::files_to_send`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileToSend {
    pub hash: FileHash,
    /// The activity whose record refers to it (what the relay checks).
    pub activity: ActivityId,
    pub bytes: u64,
}

/// Why [`Store::put_file`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutFileError {
    #[error(transparent)]
    Problem(#[from] FileProblem),
    #[error("the file could not be read: {0}")]
    Read(std::io::Error),
    #[error("the file changed while it was being read; nothing was stored, try again")]
    ChangedWhileRead,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why [`Store::read_file`] did not write a whole file.
#[derive(Debug, thiserror::Error)]
pub enum ReadFileError {
    #[error("this computer holds no file {0}")]
    NotHeld(FileHash),
    #[error("this computer holds only part of file {0} so far")]
    NotWhole(FileHash),
    #[error("the stored file {0} is damaged: its bytes no longer match it")]
    Damaged(FileHash),
    #[error("the file could not be written: {0}")]
    Write(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A file as the record that refers to it describes it: what a chunk
/// received for it is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileDescription {
    pub hash: FileHash,
    pub bytes: u64,
}

/// Why [`Store::receive_file_chunk`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveChunkError {
    #[error("the file is said to be {bytes} bytes; at most {max} can be attached")]
    TooLarge { bytes: u64, max: u64 },
    /// The store holds (part of) this file under another size: one of the
    /// two descriptions is false, and what is held is not thrown away for it.
    #[error("the file is said to be {said} bytes, but {held} were said before")]
    SizeDiffers { said: u64, held: u64 },
    #[error("chunk {got} came while chunk {expected} was awaited")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("chunk {number} is {got} bytes, not {expected}")]
    WrongSize {
        number: u64,
        expected: u64,
        got: u64,
    },
    /// The whole file did not hash to its name, or is not a file that may be
    /// attached: every chunk of it was removed.
    #[error("the file received is not the file {0} it was said to be; nothing of it was kept")]
    NotTheFile(FileHash),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Stores chunk `number` of the file `file` describes, durably, when it
    /// is the next one lacking and exactly as long as the file's size makes
    /// it; a chunk held already changes nothing (it came again after its
    /// acknowledgement was lost). With its last chunk the whole file is read
    /// back, chunk by chunk, hashed and checked as [`Store::put_file`]
    /// checks a file; one that fails is removed whole, in the same
    /// transaction. What the store holds after: resuming starts from its
    /// `chunks_held`.
    pub fn receive_file_chunk(
        &self,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<StoredFile, ReceiveChunkError> {
        check_said_size(file)?;
        // Read and written in one transaction: nothing comes between.
        let tx = begin_durable(self.db.get()?)?;
        let held = held_in(&tx, file.hash)?;
        if let ChunkStep::Held(held) = next_chunk_step(file, held, number, chunk)? {
            return Ok(held);
        }
        let count = chunk_count(file.bytes);
        match self.file_bytes.folder() {
            Some(folder) => folder
                .write_chunk(file.hash, number, chunk)
                .map_err(io_error)?,
            None => {
                tx.open_table(FILE_CHUNKS)
                    .map_err(StoreError::from)?
                    .insert((&file.hash.0, number), chunk)
                    .map_err(StoreError::from)?;
            }
        }
        let media_type = match number + 1 == count {
            true => self.whole_file_check(&tx, file).map(Some),
            // Told once the file is whole.
            false => Ok(None),
        };
        let media_type = match media_type {
            Ok(media_type) => media_type,
            // Not the file named: nothing of it is kept.
            Err(ReceiveChunkError::NotTheFile(hash)) => {
                delete_file(&tx, hash)?;
                tx.commit().map_err(StoreError::from)?;
                self.wipe_unheld(&[hash])?;
                return Err(ReceiveChunkError::NotTheFile(hash));
            }
            // The store failed: the transaction is dropped, nothing changes.
            Err(e) => return Err(e),
        };
        let stored = StoredFile {
            hash: file.hash,
            bytes: file.bytes,
            media_type,
            chunks_held: number + 1,
        };
        write_row(&tx, &stored)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(stored)
    }

    /// Checks the file `source` holds ([`FileCheck`]) and stores it, whole,
    /// in one durable transaction; a file held already is not written again.
    /// Reads `source` twice (to learn its hash, then to store it), one chunk
    /// at a time, and refuses a file whose bytes changed in between.
    pub fn put_file(&self, source: impl Read + Seek) -> Result<StoredFile, PutFileError> {
        self.put_file_with(source, None)
    }

    /// [`Store::put_file`] for a file attached here to an activity of
    /// `journal`: in the same transaction it is queued to be sent to the
    /// relay ([`Store::files_to_send`]).
    pub fn put_file_to_send(
        &self,
        source: impl Read + Seek,
        (journal, activity): (JournalId, ActivityId),
    ) -> Result<StoredFile, PutFileError> {
        self.put_file_with(source, Some((journal, activity)))
    }

    fn put_file_with(
        &self,
        mut source: impl Read + Seek,
        send: Option<(JournalId, ActivityId)>,
    ) -> Result<StoredFile, PutFileError> {
        let mut check = FileCheck::new();
        let hash = hash_chunks(&mut source, |chunk| {
            check.feed(chunk);
            Ok(())
        })?;
        let media_type = check.finish()?;
        let file = StoredFile {
            hash,
            bytes: check.bytes(),
            media_type: Some(media_type),
            chunks_held: chunk_count(check.bytes()),
        };
        let tx = begin_durable(self.db.get()?).map_err(PutFileError::Store)?;
        if let Some((journal, activity)) = send {
            queue_upload(&tx, journal, hash, activity)?;
        }
        if held_in(&tx, hash)?.is_some_and(|held| held.is_whole()) {
            tx.commit().map_err(StoreError::from)?;
            return Ok(file);
        }
        source
            .seek(SeekFrom::Start(0))
            .map_err(PutFileError::Read)?;
        match self.file_bytes.folder() {
            Some(folder) => put_beside(folder, &mut source, &file)?,
            None => put_in_store(&tx, &mut source, &file)?,
        }
        write_row(&tx, &file)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(file)
    }

    /// Files attached here to activities of `journal` that the relay does not
    /// hold whole yet, with the activity referring to each, smallest first:
    /// thumbnails before the photos, a scan before a large photo.
    pub fn files_to_send(&self, journal: JournalId) -> Result<Vec<FileToSend>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let queue = tx.open_table(FILE_UPLOADS)?;
        let files = tx.open_table(FILES)?;
        let j = journal.0.as_u128();
        let mut out = Vec::new();
        for row in queue.range((j, &[0; 32])..=(j, &[0xFF; 32]))? {
            let (key, value) = row?;
            let hash = FileHash(*key.value().1);
            let activity = <[u8; 16]>::try_from(value.value())
                .map(|id| ActivityId(uuid::Uuid::from_bytes(id)))
                .map_err(|_| StoreError::DamagedFile(hash))?;
            // A queued file the store lacks (removed since) has nothing to send.
            let Some(row) = files.get(&hash.0)? else {
                continue;
            };
            let held = decode_row(hash, row.value())?;
            out.push(FileToSend {
                hash,
                activity,
                bytes: held.bytes,
            });
        }
        out.sort_by_key(|f| (f.bytes, f.hash.0));
        Ok(out)
    }

    /// What waits to be sent, in every journal: how many photos and scans
    /// (a thumbnail goes with its photo and is not counted; a file whose
    /// record is not in the view yet is) and the bytes of all of them. Reads
    /// the queue and, per file waiting, its record's view row.
    pub fn files_waiting(&self) -> Result<FilesWaiting, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let (queue, files) = (tx.open_table(FILE_UPLOADS)?, tx.open_table(FILES)?);
        let view = tx.open_table(super::tables::ACTIVITY_VIEW)?;
        let mut waiting = FilesWaiting::default();
        for row in queue.iter()? {
            let (key, value) = row?;
            let (journal, hash) = (key.value().0, FileHash(*key.value().1));
            let Some(file) = files.get(&hash.0)? else {
                continue;
            };
            waiting.bytes += decode_row(hash, file.value())?.bytes;
            let activity = <[u8; 16]>::try_from(value.value())
                .map(|id| ActivityId(uuid::Uuid::from_bytes(id)))
                .map_err(|_| StoreError::DamagedFile(hash))?;
            let is_thumbnail = match view.get((journal, activity.0.as_u128()))? {
                Some(row) => super::view_row::decode(activity, row.value())
                    .map(|a| {
                        a.attachments
                            .iter()
                            .any(|f| f.thumbnail.is_some_and(|t| t.file == hash))
                    })
                    .map_err(|reason| StoreError::Damaged {
                        journal: JournalId(uuid::Uuid::from_u128(journal)),
                        reason,
                    })?,
                None => false,
            };
            waiting.files += u64::from(!is_thumbnail);
        }
        Ok(waiting)
    }

    /// The relay holds file `hash` of `journal` whole (or will never take
    /// it): it no longer waits to be sent. False when it was not waiting.
    pub fn file_sent(&self, journal: JournalId, hash: FileHash) -> Result<bool, StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        let removed = tx
            .open_table(FILE_UPLOADS)?
            .remove((journal.0.as_u128(), &hash.0))?
            .is_some();
        tx.commit()?;
        Ok(removed)
    }

    /// After the relay refused file `hash` of `journal`: it stops waiting
    /// when the activity it was queued for no longer refers to it here
    /// (detached, or never referred to: a crash between storing the bytes
    /// and the record's reference). True when it stopped waiting. One that
    /// is still referred to waits for a later round (its record may not
    /// have reached the relay, or the centre's file limit may be raised).
    pub fn forget_upload_unless_referenced(
        &self,
        journal: JournalId,
        hash: FileHash,
    ) -> Result<bool, StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        let j = journal.0.as_u128();
        let activity = {
            let queue = tx.open_table(FILE_UPLOADS)?;
            let Some(row) = queue.get((j, &hash.0))? else {
                return Ok(false);
            };
            <[u8; 16]>::try_from(row.value())
                .map(|id| ActivityId(uuid::Uuid::from_bytes(id)))
                .map_err(|_| StoreError::DamagedFile(hash))?
        };
        let referred = {
            let view = tx.open_table(super::tables::ACTIVITY_VIEW)?;
            let row = view.get((j, activity.0.as_u128()))?;
            match row {
                Some(row) => super::view_row::decode(activity, row.value())
                    .map(|a| {
                        a.attachments
                            .iter()
                            .flat_map(Attachment::files)
                            .any(|(f, _)| f == hash)
                    })
                    .map_err(|reason| StoreError::Damaged { journal, reason })?,
                None => false,
            }
        };
        if referred {
            return Ok(false);
        }
        tx.open_table(FILE_UPLOADS)?.remove((j, &hash.0))?;
        tx.commit()?;
        Ok(true)
    }

    /// Removes every file no record refers to any more (detached, or its
    /// record erased), durably: what the quiet-time compaction of `run`
    /// does. Costs a read of every view row, and nothing when the store
    /// holds no file.
    pub fn drop_unreferenced_files(&self) -> Result<(), StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        let removed = drop_unreferenced(&tx, None)?;
        tx.commit()?;
        self.wipe_unheld(&removed)?;
        self.sweep_files()
    }

    /// Removes every file of this store that `referred`, all the files the
    /// records of `journal` refer to, does not name, nor a record of another
    /// journal of the store (a relay's journal file holds one journal: the
    /// quiet-time compaction drops what was detached). The files removed.
    pub fn drop_files_not_referred(
        &self,
        journal: JournalId,
        referred: &std::collections::BTreeSet<FileHash>,
    ) -> Result<Vec<FileHash>, StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        let removed = drop_unreferenced(&tx, Some((journal, referred)))?;
        tx.commit()?;
        self.wipe_unheld(&removed)?;
        Ok(removed)
    }

    /// Wipes each of `hashes` beside the store that the store no longer
    /// holds, under a write transaction (a put of the same file waits): after
    /// the commit that removed their rows.
    pub(super) fn wipe_unheld(&self, hashes: &[FileHash]) -> Result<(), StoreError> {
        let Some(folder) = self.file_bytes.folder().filter(|_| !hashes.is_empty()) else {
            return Ok(());
        };
        let tx = begin_durable(self.db.get()?)?;
        for &hash in hashes {
            if held_in(&tx, hash)?.is_none() {
                folder.wipe(hash).map_err(io_error)?;
            }
        }
        Ok(())
    }

    /// Wipes what is left beside the store of files it does not hold (see
    /// [`Folder::sweep`]); at open and at the quiet-time compaction.
    pub(super) fn sweep_files(&self) -> Result<(), StoreError> {
        // Most stores never had a file: no folder, no transaction at open.
        let Some(folder) = self.file_bytes.folder().filter(Folder::exists) else {
            return Ok(());
        };
        let tx = begin_durable(self.db.get()?)?;
        folder.sweep(|hash| Ok(held_in(&tx, hash)?.is_some()))?;
        Ok(())
    }

    /// The file `hash`, if the store holds any of it.
    pub fn file(&self, hash: FileHash) -> Result<Option<StoredFile>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(FILES)?;
        let Some(row) = table.get(&hash.0)? else {
            return Ok(None);
        };
        decode_row(hash, row.value()).map(Some)
    }

    /// Every file the store holds, whole or in part.
    pub fn files(&self) -> Result<Vec<StoredFile>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let table = tx.open_table(FILES)?;
        let mut files = Vec::new();
        for row in table.iter()? {
            let (key, value) = row?;
            files.push(decode_row(FileHash(*key.value()), value.value())?);
        }
        Ok(files)
    }

    /// Chunk `number` (from 0) of file `hash`, if held.
    pub fn file_chunk(&self, hash: FileHash, number: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.get()?.begin_read()?;
        let Some(row) = tx.open_table(FILES)?.get(&hash.0)? else {
            return Ok(None);
        };
        let file = decode_row(hash, row.value())?;
        if number >= file.chunks_held {
            return Ok(None);
        }
        let chunks = tx.open_table(FILE_CHUNKS)?;
        match self.stored_chunk(&chunks, &file, number)? {
            Some(chunk) => Ok(Some(chunk)),
            None => Err(StoreError::DamagedFile(hash)),
        }
    }

    /// Chunk `number` of `file`, from `chunks` (the store's table) or beside
    /// the store; `None` if missing.
    fn stored_chunk(
        &self,
        chunks: &impl ReadableTable<(&'static [u8; 32], u64), &'static [u8]>,
        file: &StoredFile,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self.file_bytes.folder() {
            Some(folder) => folder
                .read_chunk(file.hash, number, chunk_len(file.bytes, number))
                .map_err(io_error),
            None => Ok(chunks
                .get((&file.hash.0, number))?
                .map(|v| v.value().to_vec())),
        }
    }

    /// Writes the whole file `hash` to `out`, chunk by chunk from one read
    /// transaction, checking that its bytes still hash to it (`out` may
    /// have received part of it when that fails).
    pub fn read_file(&self, hash: FileHash, out: &mut impl Write) -> Result<u64, ReadFileError> {
        let db = self.db.get()?;
        let tx = db.begin_read().map_err(StoreError::from)?;
        let row = tx.open_table(FILES).map_err(StoreError::from)?;
        let file = match row.get(&hash.0).map_err(StoreError::from)? {
            Some(value) => decode_row(hash, value.value())?,
            None => return Err(ReadFileError::NotHeld(hash)),
        };
        if !file.is_whole() {
            return Err(ReadFileError::NotWhole(hash));
        }
        let chunks = tx.open_table(FILE_CHUNKS).map_err(StoreError::from)?;
        let mut hasher = Sha256::new();
        let mut written = 0;
        for number in 0..file.chunks_held {
            let chunk = self
                .stored_chunk(&chunks, &file, number)?
                .ok_or(ReadFileError::Damaged(hash))?;
            hasher.update(&chunk);
            out.write_all(&chunk).map_err(ReadFileError::Write)?;
            written += chunk.len() as u64;
        }
        if written != file.bytes || FileHash(hasher.finalize().into()) != hash {
            return Err(ReadFileError::Damaged(hash));
        }
        Ok(written)
    }

    /// Removes file `hash` and every chunk of it, durably; false if the
    /// store held none of it.
    pub fn remove_file(&self, hash: FileHash) -> Result<bool, StoreError> {
        let tx = begin_durable(self.db.get()?)?;
        let held = delete_file(&tx, hash)?;
        tx.commit()?;
        self.wipe_unheld(&[hash])?;
        Ok(held)
    }

    /// The file `file` describes, as `tx` holds it whole: its type, if its
    /// bytes hash to its name and pass [`FileCheck`].
    fn whole_file_check(
        &self,
        tx: &redb::WriteTransaction,
        file: FileDescription,
    ) -> Result<MediaType, ReceiveChunkError> {
        let chunks = tx.open_table(FILE_CHUNKS).map_err(StoreError::from)?;
        let whole = StoredFile {
            hash: file.hash,
            bytes: file.bytes,
            media_type: None,
            chunks_held: chunk_count(file.bytes),
        };
        let mut check = WholeFileCheck::new(file);
        for number in 0..whole.chunks_held {
            let chunk = self.stored_chunk(&chunks, &whole, number)?;
            check.feed(chunk.as_deref())?;
        }
        check.finish()
    }
}

/// Refuses a file said to be empty or larger than may be attached, before
/// anything of it is read or stored.
pub fn check_said_size(file: FileDescription) -> Result<(), ReceiveChunkError> {
    if file.bytes == 0 || file.bytes > crate::limits::MAX_FILE_BYTES {
        return Err(ReceiveChunkError::TooLarge {
            bytes: file.bytes,
            max: crate::limits::MAX_FILE_BYTES,
        });
    }
    Ok(())
}

/// What to do with a chunk received ([`next_chunk_step`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkStep {
    /// Held already (it came again after its acknowledgement was lost):
    /// nothing changes, this is what is held.
    Held(StoredFile),
    /// The next chunk lacking, of the right size: store it; with the last
    /// one, check the whole file ([`WholeFileCheck`]).
    Store { last: bool },
}

/// The rules every store applies to chunk `number` of `file` given what it
/// `held` of it (`Store::receive_file_chunk`, and the relay's PostgreSQL
/// store): a file's size never changes, chunks come in order, each exactly
/// as long as the file's size makes it.
pub fn next_chunk_step(
    file: FileDescription,
    held: Option<StoredFile>,
    number: u64,
    chunk: &[u8],
) -> Result<ChunkStep, ReceiveChunkError> {
    if let Some(held) = held.filter(|held| held.bytes != file.bytes) {
        return Err(ReceiveChunkError::SizeDiffers {
            said: file.bytes,
            held: held.bytes,
        });
    }
    let held_chunks = held.map_or(0, |f| f.chunks_held);
    if let Some(held) = held.filter(|_| number < held_chunks) {
        return Ok(ChunkStep::Held(held));
    }
    if number != held_chunks {
        return Err(ReceiveChunkError::OutOfOrder {
            expected: held_chunks,
            got: number,
        });
    }
    let count = chunk_count(file.bytes);
    let expected = chunk_len(file.bytes, number) as u64;
    if chunk.len() as u64 != expected {
        return Err(ReceiveChunkError::WrongSize {
            number,
            expected,
            got: chunk.len() as u64,
        });
    }
    Ok(ChunkStep::Store {
        last: number + 1 == count,
    })
}

/// The check of a file received whole, fed its chunks in order: they must
/// hash to its name, add up to its size and be a file that may be attached.
#[derive(Debug)]
pub struct WholeFileCheck {
    file: FileDescription,
    hasher: Sha256,
    check: FileCheck,
}

impl WholeFileCheck {
    pub fn new(file: FileDescription) -> WholeFileCheck {
        WholeFileCheck {
            file,
            hasher: Sha256::new(),
            check: FileCheck::new(),
        }
    }

    /// The next chunk; `None` for one the store lacks (the file is not it).
    pub fn feed(&mut self, chunk: Option<&[u8]>) -> Result<(), ReceiveChunkError> {
        let chunk = chunk.ok_or(ReceiveChunkError::NotTheFile(self.file.hash))?;
        self.hasher.update(chunk);
        self.check.feed(chunk);
        Ok(())
    }

    /// The file's type once every chunk was fed, or
    /// [`ReceiveChunkError::NotTheFile`].
    pub fn finish(self) -> Result<MediaType, ReceiveChunkError> {
        let not_it = || ReceiveChunkError::NotTheFile(self.file.hash);
        let hash = FileHash(self.hasher.finalize().into());
        if hash != self.file.hash || self.check.bytes() != self.file.bytes {
            return Err(not_it());
        }
        self.check.finish().map_err(|_| not_it())
    }
}

/// Length of chunk `number` of a file of `bytes` bytes.
fn chunk_len(bytes: u64, number: u64) -> usize {
    (bytes - number * FILE_CHUNK_BYTES as u64).min(FILE_CHUNK_BYTES as u64) as usize
}

/// Writes `source` whole beside the store, checking it is still `file`.
fn put_beside(
    folder: Folder<'_>,
    source: &mut impl Read,
    file: &StoredFile,
) -> Result<(), PutFileError> {
    let io = |e| PutFileError::Store(io_error(e));
    let mut adding = folder.put_whole(file.hash).map_err(io)?;
    let mut number = 0;
    let again = hash_chunks(source, |chunk| {
        number += 1;
        adding.write(chunk).map_err(io_error)
    });
    match again {
        Ok(again) if again == file.hash && number == file.chunks_held => {
            adding.finish().map_err(io)
        }
        Ok(_) => {
            adding.abandon().map_err(io)?;
            Err(PutFileError::ChangedWhileRead)
        }
        Err(e) => {
            // The sweep removes it should this fail too.
            let _ = adding.abandon();
            Err(e)
        }
    }
}

/// Writes `source` whole into `file_chunk-v1` in `tx`, checking it is
/// still `file`.
fn put_in_store(
    tx: &redb::WriteTransaction,
    source: &mut impl Read,
    file: &StoredFile,
) -> Result<(), PutFileError> {
    let mut chunks = tx.open_table(FILE_CHUNKS).map_err(StoreError::from)?;
    let mut number = 0;
    let again = hash_chunks(source, |chunk| {
        chunks.insert((&file.hash.0, number), chunk)?;
        number += 1;
        Ok(())
    })?;
    if again != file.hash || number != file.chunks_held {
        return Err(PutFileError::ChangedWhileRead);
    }
    Ok(())
}

/// File `hash` as `tx` sees it.
fn held_in(tx: &redb::WriteTransaction, hash: FileHash) -> Result<Option<StoredFile>, StoreError> {
    let table = tx.open_table(FILES)?;
    let row = table.get(&hash.0)?;
    row.map(|value| decode_row(hash, value.value())).transpose()
}

/// Deletes file `hash`'s row and every chunk of it in `tx`; false if there
/// was no row. Its bytes beside the store are wiped once `tx` commits
/// ([`Store::wipe_unheld`]).
fn delete_file(tx: &redb::WriteTransaction, hash: FileHash) -> Result<bool, StoreError> {
    let held = tx.open_table(FILES)?.remove(&hash.0)?.is_some();
    tx.open_table(FILE_CHUNKS)?
        .retain_in((&hash.0, 0)..=(&hash.0, u64::MAX), |_, _| false)?;
    Ok(held)
}

/// Reads `source` to its end in pieces of [`FILE_CHUNK_BYTES`] (the last one
/// shorter), handing each to `each`; the SHA-256 of all of them.
fn hash_chunks(
    source: &mut impl Read,
    mut each: impl FnMut(&[u8]) -> Result<(), StoreError>,
) -> Result<FileHash, PutFileError> {
    let mut hasher = Sha256::new();
    let mut chunk = vec![0; FILE_CHUNK_BYTES];
    loop {
        let filled = fill(source, &mut chunk).map_err(PutFileError::Read)?;
        if filled == 0 {
            break;
        }
        hasher.update(&chunk[..filled]);
        each(&chunk[..filled])?;
        if filled < chunk.len() {
            break;
        }
    }
    Ok(FileHash(hasher.finalize().into()))
}

/// Reads until `buf` is full or the source ends; how much was read.
fn fill(source: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn write_row(tx: &redb::WriteTransaction, file: &StoredFile) -> Result<(), StoreError> {
    let row = FileRow {
        bytes: file.bytes,
        media_type: file
            .media_type
            .map_or(MEDIA_TYPE_NOT_KNOWN, MediaType::code),
        chunks_held: file.chunks_held,
    };
    let bytes = postcard::to_allocvec(&row).map_err(|e| io_error(std::io::Error::other(e)))?;
    tx.open_table(FILES)?
        .insert(&file.hash.0, bytes.as_slice())?;
    Ok(())
}

fn decode_row(hash: FileHash, bytes: &[u8]) -> Result<StoredFile, StoreError> {
    let damaged = || StoreError::DamagedFile(hash);
    let row: FileRow = postcard::from_bytes(bytes).map_err(|_| damaged())?;
    let whole = row.chunks_held == chunk_count(row.bytes);
    let media_type = match (whole, row.media_type) {
        (false, MEDIA_TYPE_NOT_KNOWN) => None,
        (true, code) => Some(MediaType::from_code(code).ok_or_else(damaged)?),
        (false, _) => return Err(damaged()),
    };
    if row.chunks_held > chunk_count(row.bytes) {
        return Err(damaged());
    }
    Ok(StoredFile {
        hash,
        bytes: row.bytes,
        media_type,
        chunks_held: row.chunks_held,
    })
}

/// Removes, in `tx`, every file no record refers to: the records of a
/// journal being replaced refer to the files `replacing` names, and those
/// of every other journal of the store to what their view rows name. A
/// store with a journal whose view was never built cannot tell: it removes
/// nothing. A removed file stops waiting to be sent. Reads no row when the
/// store holds no file. The files removed: to wipe once `tx` commits.
pub(super) fn drop_unreferenced(
    tx: &redb::WriteTransaction,
    replacing: Option<(JournalId, &std::collections::BTreeSet<FileHash>)>,
) -> Result<Vec<FileHash>, StoreError> {
    if tx.open_table(FILES)?.is_empty()? {
        return Ok(Vec::new());
    }
    let (journal, mut referred) = match replacing {
        Some((journal, kept)) => (Some(journal.0.as_u128()), kept.clone()),
        None => (None, Default::default()),
    };
    let journals: Vec<u128> = tx
        .open_table(super::tables::JOURNALS)?
        .iter()?
        .map(|row| row.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    let view_heads = tx.open_table(super::tables::VIEW_HEADS)?;
    let view = tx.open_table(super::tables::ACTIVITY_VIEW)?;
    for j in journals.into_iter().filter(|j| Some(*j) != journal) {
        if view_heads.get(j)?.is_none() {
            return Ok(Vec::new());
        }
        for row in view.range((j, 0)..=(j, u128::MAX))? {
            let (key, value) = row?;
            let id = ActivityId(uuid::Uuid::from_u128(key.value().1));
            let activity = super::view_row::decode(id, value.value()).map_err(|reason| {
                StoreError::Damaged {
                    journal: JournalId(uuid::Uuid::from_u128(j)),
                    reason,
                }
            })?;
            referred.extend(
                activity
                    .attachments
                    .iter()
                    .flat_map(Attachment::files)
                    .map(|(f, _)| f),
            );
        }
    }
    let held: Vec<FileHash> = tx
        .open_table(FILES)?
        .iter()?
        .map(|row| row.map(|(k, _)| FileHash(*k.value())))
        .collect::<Result<_, _>>()?;
    let mut queue = tx.open_table(FILE_UPLOADS)?;
    let removed: Vec<FileHash> = held.into_iter().filter(|h| !referred.contains(h)).collect();
    for &hash in &removed {
        delete_file(tx, hash)?;
        queue.retain(|(_, file), _| *file != hash.0)?;
    }
    Ok(removed)
}

/// Layout 8 to 9 ([`super::migrate_8_to_9`]): writes every chunk held in
/// `file_chunk-v1` beside the store, synced, one chunk in memory at a time.
pub(super) fn copy_chunks_out(db: &redb::Database, folder: Folder<'_>) -> Result<(), StoreError> {
    let tx = db.begin_read()?;
    let files = tx.open_table(FILES)?;
    let chunks = tx.open_table(FILE_CHUNKS)?;
    for row in files.iter()? {
        let (key, value) = row?;
        let file = decode_row(FileHash(*key.value()), value.value())?;
        for number in 0..file.chunks_held {
            let chunk = chunks
                .get((&file.hash.0, number))?
                .ok_or(StoreError::DamagedFile(file.hash))?;
            folder
                .write_chunk(file.hash, number, chunk.value())
                .map_err(io_error)?;
        }
    }
    Ok(())
}

/// Files waiting to be sent to `from` wait for `to` instead (the home
/// journal renamed at enrolment).
pub(super) fn move_uploads(
    tx: &redb::WriteTransaction,
    from: JournalId,
    to: JournalId,
) -> Result<(), StoreError> {
    let (f, t) = (from.0.as_u128(), to.0.as_u128());
    let mut queue = tx.open_table(FILE_UPLOADS)?;
    let moved: Vec<([u8; 32], Vec<u8>)> = queue
        .extract_from_if((f, &[0; 32])..=(f, &[0xFF; 32]), |_, _| true)?
        .map(|row| row.map(|(k, v)| (*k.value().1, v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    for (hash, activity) in moved {
        queue.insert((t, &hash), activity.as_slice())?;
    }
    Ok(())
}

/// Queues file `hash` of `journal` to be sent, for `activity`.
fn queue_upload(
    tx: &redb::WriteTransaction,
    journal: JournalId,
    hash: FileHash,
    activity: ActivityId,
) -> Result<(), StoreError> {
    tx.open_table(FILE_UPLOADS)?.insert(
        (journal.0.as_u128(), &hash.0),
        activity.0.as_bytes().as_slice(),
    )?;
    Ok(())
}

/// A device's files, as its file stream reaches them.
impl crate::sync::files::DeviceFiles for &Store {
    fn file_chunk(
        &mut self,
        hash: FileHash,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageFailure> {
        Store::file_chunk(self, hash, number).map_err(StorageFailure::local)
    }

    fn file_sent(&mut self, journal: uuid::Uuid, hash: FileHash) -> Result<(), StorageFailure> {
        Store::file_sent(self, JournalId(journal), hash)
            .map(drop)
            .map_err(StorageFailure::local)
    }

    fn held_file(&mut self, hash: FileHash) -> Result<Option<StoredFile>, StorageFailure> {
        self.file(hash).map_err(StorageFailure::local)
    }

    fn receive_file_chunk(
        &mut self,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<StoredFile, ReceiveChunkError> {
        Store::receive_file_chunk(self, file, number, chunk)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::store::NewStore;

    const NEW: NewStore<'static> = NewStore {
        centre: "Ludzas KRC",
        device_name: "Bibliotēka",
    };

    /// A PDF of `bytes` bytes (a scanned sheet, as far as the checks go).
    fn pdf(bytes: usize) -> Vec<u8> {
        let mut file = b"%PDF-1.7\n".to_vec();
        file.extend((0..bytes.saturating_sub(16)).map(|i| (i * 7 % 251) as u8));
        file.extend_from_slice(b"\n%%EOF\n");
        file
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::create(&dir.path().join("journal.redb"), NEW).expect("create");
        (dir, store)
    }

    #[test]
    fn a_file_is_stored_in_chunks_and_read_back_whole() {
        let (_dir, store) = store();
        let bytes = pdf(3 * FILE_CHUNK_BYTES + 100);
        let stored = store.put_file(Cursor::new(&bytes)).expect("stored");
        assert_eq!(stored.hash, FileHash::of(&bytes));
        assert_eq!(stored.media_type, Some(MediaType::Pdf));
        assert_eq!(stored.chunks_held, 4);
        assert!(stored.is_whole());
        assert_eq!(store.file(stored.hash).expect("read"), Some(stored));
        let last = store
            .file_chunk(stored.hash, 3)
            .expect("read")
            .expect("held");
        assert_eq!(last.len(), bytes.len() - 3 * FILE_CHUNK_BYTES);
        let mut out = Vec::new();
        let written = store.read_file(stored.hash, &mut out).expect("read back");
        assert_eq!(written, bytes.len() as u64);
        assert_eq!(out, bytes);
    }

    #[test]
    fn the_same_file_twice_is_kept_once() {
        let (_dir, store) = store();
        let bytes = pdf(FILE_CHUNK_BYTES * 2);
        let first = store.put_file(Cursor::new(&bytes)).expect("stored");
        let again = store.put_file(Cursor::new(&bytes)).expect("stored");
        assert_eq!(first, again);
        assert_eq!(store.files().expect("files"), vec![first]);
    }

    #[test]
    fn a_refused_file_stores_nothing() {
        let (_dir, store) = store();
        let mut cut = pdf(FILE_CHUNK_BYTES + 5);
        cut.truncate(cut.len() - 7);
        let refused = store.put_file(Cursor::new(&cut)).unwrap_err();
        assert!(
            matches!(
                refused,
                PutFileError::Problem(FileProblem::Damaged(MediaType::Pdf))
            ),
            "{refused}"
        );
        assert!(store.files().expect("files").is_empty());
        let hash = FileHash::of(&cut);
        assert_eq!(store.file_chunk(hash, 0).expect("read"), None);
    }

    /// A source whose bytes differ the second time it is read, as a file
    /// being overwritten while it is attached.
    struct Changing {
        reads: u32,
        inner: Cursor<Vec<u8>>,
    }

    impl Read for Changing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            if self.reads > 0 && n > 20 {
                buf[20] ^= 1;
            }
            Ok(n)
        }
    }

    impl Seek for Changing {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.reads += 1;
            self.inner.seek(to)
        }
    }

    #[test]
    fn a_file_that_changes_while_read_is_refused() {
        let (_dir, store) = store();
        let source = Changing {
            reads: 0,
            inner: Cursor::new(pdf(FILE_CHUNK_BYTES + 10)),
        };
        let refused = store.put_file(source).unwrap_err();
        assert!(
            matches!(refused, PutFileError::ChangedWhileRead),
            "{refused}"
        );
        assert!(store.files().expect("files").is_empty());
    }

    #[test]
    fn a_removed_file_leaves_no_chunk() {
        let (_dir, store) = store();
        let stored = store
            .put_file(Cursor::new(pdf(2 * FILE_CHUNK_BYTES)))
            .expect("stored");
        assert!(store.remove_file(stored.hash).expect("removed"));
        assert!(!store.remove_file(stored.hash).expect("removed"));
        assert_eq!(store.file(stored.hash).expect("read"), None);
        assert_eq!(store.file_chunk(stored.hash, 0).expect("read"), None);
        let refused = store.read_file(stored.hash, &mut Vec::new()).unwrap_err();
        assert!(matches!(refused, ReadFileError::NotHeld(_)), "{refused}");
    }

    /// The file `bytes` are, as a record describes it.
    fn described(bytes: &[u8]) -> FileDescription {
        FileDescription {
            hash: FileHash::of(bytes),
            bytes: bytes.len() as u64,
        }
    }

    /// The chunks of `bytes`, as a sender cuts them.
    fn chunks_of(bytes: &[u8]) -> Vec<&[u8]> {
        bytes.chunks(FILE_CHUNK_BYTES).collect()
    }

    #[test]
    fn a_file_received_chunk_by_chunk_resumes_where_it_stopped() {
        let (_dir, store) = store();
        let bytes = pdf(3 * FILE_CHUNK_BYTES + 40);
        let file = described(&bytes);
        let chunks = chunks_of(&bytes);
        for (number, chunk) in chunks.iter().enumerate().take(2) {
            store
                .receive_file_chunk(file, number as u64, chunk)
                .expect("stored");
        }
        // Interrupted: the store says where to resume.
        let part = store.file(file.hash).expect("read").expect("held in part");
        assert_eq!(part.chunks_held, 2);
        assert_eq!(part.media_type, None, "told once whole");
        assert!(!part.is_whole());
        let refused = store.read_file(file.hash, &mut Vec::new()).unwrap_err();
        assert!(matches!(refused, ReadFileError::NotWhole(_)), "{refused}");
        // A chunk sent again after a lost acknowledgement changes nothing;
        // one from further on is refused.
        assert_eq!(
            store.receive_file_chunk(file, 1, chunks[1]).expect("again"),
            part
        );
        let skipped = store.receive_file_chunk(file, 3, chunks[3]).unwrap_err();
        assert!(matches!(
            skipped,
            ReceiveChunkError::OutOfOrder {
                expected: 2,
                got: 3
            }
        ));
        for (number, chunk) in chunks.iter().enumerate().skip(2) {
            store
                .receive_file_chunk(file, number as u64, chunk)
                .expect("stored");
        }
        let whole = store.file(file.hash).expect("read").expect("held");
        assert!(whole.is_whole());
        assert_eq!(whole.media_type, Some(MediaType::Pdf));
        let mut back = Vec::new();
        store.read_file(file.hash, &mut back).expect("read back");
        assert_eq!(back, bytes);
    }

    #[test]
    fn forged_chunks_are_refused_and_a_forged_file_leaves_nothing() {
        let (_dir, store) = store();
        let bytes = pdf(2 * FILE_CHUNK_BYTES + 10);
        let file = described(&bytes);
        let chunks = chunks_of(&bytes);
        let short = store
            .receive_file_chunk(file, 0, &chunks[0][1..])
            .unwrap_err();
        assert!(
            matches!(short, ReceiveChunkError::WrongSize { .. }),
            "{short}"
        );
        let huge = FileDescription {
            bytes: crate::limits::MAX_FILE_BYTES + 1,
            ..file
        };
        let refused = store.receive_file_chunk(huge, 0, chunks[0]).unwrap_err();
        assert!(
            matches!(refused, ReceiveChunkError::TooLarge { .. }),
            "{refused}"
        );
        assert!(store.files().expect("files").is_empty());
        // Right sizes, other bytes: refused at the end, and nothing kept.
        store
            .receive_file_chunk(file, 0, chunks[0])
            .expect("stored");
        store
            .receive_file_chunk(file, 1, chunks[1])
            .expect("stored");
        let lying = FileDescription {
            bytes: file.bytes + 1,
            ..file
        };
        let refused = store.receive_file_chunk(lying, 2, chunks[2]).unwrap_err();
        assert!(
            matches!(refused, ReceiveChunkError::SizeDiffers { .. }),
            "{refused}"
        );
        assert_eq!(
            store.file(file.hash).expect("read").map(|f| f.chunks_held),
            Some(2)
        );
        let mut forged = chunks[2].to_vec();
        forged[0] ^= 1;
        let refused = store.receive_file_chunk(file, 2, &forged).unwrap_err();
        assert!(
            matches!(refused, ReceiveChunkError::NotTheFile(_)),
            "{refused}"
        );
        assert!(store.files().expect("files").is_empty());
        assert_eq!(store.file_chunk(file.hash, 0).expect("read"), None);
    }

    #[test]
    fn bytes_that_hash_right_but_are_no_photo_or_scan_are_refused() {
        let (_dir, store) = store();
        let bytes = b"MZ an executable, named sheet.pdf".to_vec();
        let file = described(&bytes);
        let refused = store.receive_file_chunk(file, 0, &bytes).unwrap_err();
        assert!(
            matches!(refused, ReceiveChunkError::NotTheFile(_)),
            "{refused}"
        );
        assert!(store.files().expect("files").is_empty());
    }

    #[test]
    fn a_chunk_changed_in_the_file_is_told_as_damage() {
        let (_dir, store) = store();
        let stored = store
            .put_file(Cursor::new(pdf(2 * FILE_CHUNK_BYTES)))
            .expect("stored");
        let beside = beside(&store, stored.hash);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&beside)
            .expect("the file beside the store");
        file.seek(SeekFrom::Start(FILE_CHUNK_BYTES as u64 + 7))
            .expect("seek");
        file.write_all(b"not what was stored").expect("write");
        drop(file);
        let refused = store.read_file(stored.hash, &mut Vec::new()).unwrap_err();
        assert!(matches!(refused, ReadFileError::Damaged(_)), "{refused}");
        // Cut short, or gone: damaged too, never a panic or short bytes.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&beside)
            .and_then(|f| f.set_len(FILE_CHUNK_BYTES as u64))
            .expect("truncate");
        let refused = store.read_file(stored.hash, &mut Vec::new()).unwrap_err();
        assert!(matches!(refused, ReadFileError::Damaged(_)), "{refused}");
        assert!(matches!(
            store.file_chunk(stored.hash, 1),
            Err(StoreError::DamagedFile(_))
        ));
        std::fs::remove_file(&beside).expect("remove");
        let refused = store.read_file(stored.hash, &mut Vec::new()).unwrap_err();
        assert!(matches!(refused, ReadFileError::Damaged(_)), "{refused}");
    }

    /// Where a device's store keeps file `hash`.
    fn beside(store: &Store, hash: FileHash) -> std::path::PathBuf {
        crate::store::file_bytes::folder_of(store.path()).join(hash.to_string())
    }

    /// Rows of `file_chunk-v1`: a device's store keeps none.
    fn chunks_in_store(store: &Store) -> u64 {
        let tx = store.db.get().expect("db").begin_read().expect("read");
        tx.open_table(FILE_CHUNKS)
            .expect("table")
            .len()
            .expect("len")
    }

    #[test]
    fn a_devices_file_is_kept_beside_its_store_and_wiped_when_removed() {
        let (_dir, store) = store();
        let bytes = pdf(2 * FILE_CHUNK_BYTES + 5);
        let stored = store.put_file(Cursor::new(&bytes)).expect("stored");
        assert_eq!(chunks_in_store(&store), 0, "no chunk in the store file");
        assert_eq!(
            std::fs::read(beside(&store, stored.hash)).expect("beside"),
            bytes
        );
        // Received chunk by chunk: written in place, beside the store too.
        let other = pdf(FILE_CHUNK_BYTES + 9);
        let file = described(&other);
        for (number, chunk) in chunks_of(&other).into_iter().enumerate() {
            store
                .receive_file_chunk(file, number as u64, chunk)
                .expect("stored");
        }
        assert_eq!(chunks_in_store(&store), 0);
        assert_eq!(
            std::fs::read(beside(&store, file.hash)).expect("beside"),
            other
        );
        assert!(store.remove_file(stored.hash).expect("removed"));
        assert!(!beside(&store, stored.hash).exists(), "wiped and removed");
        assert!(beside(&store, file.hash).exists(), "the other file is kept");
    }

    #[test]
    fn a_relays_journal_file_keeps_its_files_inside_however_it_is_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.redb");
        let store = Store::create_relay(&path, "relay", 1 << 20).expect("create");
        let bytes = pdf(FILE_CHUNK_BYTES + 3);
        let stored = store.put_file(Cursor::new(&bytes)).expect("stored");
        assert_eq!(chunks_in_store(&store), 2);
        drop(store);
        // Opened as a device's store is: still read from inside, and
        // nothing moved out.
        let store = Store::open(&path).expect("opens");
        let mut back = Vec::new();
        store.read_file(stored.hash, &mut back).expect("whole");
        assert_eq!(back, bytes);
        assert!(!crate::store::file_bytes::folder_of(&path).exists());
    }

    #[test]
    fn what_a_crash_leaves_beside_the_store_is_removed_at_open() {
        let (dir, store) = store();
        let kept = store.put_file(Cursor::new(pdf(300))).expect("stored");
        let folder = crate::store::file_bytes::folder_of(store.path());
        let path = store.path().to_owned();
        drop(store);
        // A file whose row was removed (a crash before its wipe), and one
        // added in part.
        let stray = FileHash::of(b"a file no row names");
        std::fs::write(folder.join(stray.to_string()), b"erased bytes").expect("write");
        std::fs::write(folder.join(format!("{}.adding", kept.hash)), b"part").expect("write");
        let store = Store::open(&path).expect("opens");
        let mut left: Vec<String> = std::fs::read_dir(&folder)
            .expect("folder")
            .map(|e| e.expect("entry").file_name().into_string().expect("name"))
            .collect();
        left.sort();
        assert_eq!(left, [kept.hash.to_string()]);
        let mut back = Vec::new();
        store.read_file(kept.hash, &mut back).expect("whole");
        drop(dir);
    }
}
