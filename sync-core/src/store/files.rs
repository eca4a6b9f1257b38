//! Attached files in the store (docs/ATTACHMENTS.md): content-addressed by
//! the SHA-256 of their bytes, kept in chunks of [`FILE_CHUNK_BYTES`] in
//! `file_chunk-v1`, with a `file-v1` row saying what the file is and how
//! many of its chunks are held (all of them once it is whole; fewer while
//! it arrives). A file is written and read chunk by chunk: memory stays
//! bounded by one chunk whatever the file's size.

use std::io::{Read, Seek, SeekFrom, Write};

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::tables::{FILE_CHUNKS, FILES};
use super::{Store, StoreError, begin_durable, erasure::io_error};
use crate::files::{FileCheck, FileHash, FileProblem, MediaType, chunk_count};
use crate::limits::FILE_CHUNK_BYTES;

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
    pub media_type: MediaType,
    /// Chunks held, from the first: all of them once the file is whole.
    pub chunks_held: u64,
}

impl StoredFile {
    pub fn is_whole(&self) -> bool {
        self.chunks_held == chunk_count(self.bytes)
    }
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

impl Store {
    /// Checks the file `source` holds ([`FileCheck`]) and stores it, whole,
    /// in one durable transaction; a file held already is not written again.
    /// Reads `source` twice (to learn its hash, then to store it), one chunk
    /// at a time, and refuses a file whose bytes changed in between.
    pub fn put_file(&self, mut source: impl Read + Seek) -> Result<StoredFile, PutFileError> {
        let mut check = FileCheck::new();
        let hash = hash_chunks(&mut source, |chunk| {
            check.feed(chunk);
            Ok(())
        })?;
        let media_type = check.finish()?;
        let file = StoredFile {
            hash,
            bytes: check.bytes(),
            media_type,
            chunks_held: chunk_count(check.bytes()),
        };
        if self.file(hash)?.is_some_and(|held| held.is_whole()) {
            return Ok(file);
        }
        source
            .seek(SeekFrom::Start(0))
            .map_err(PutFileError::Read)?;
        let tx = begin_durable(self.db.get()?).map_err(PutFileError::Store)?;
        {
            let mut chunks = tx.open_table(FILE_CHUNKS).map_err(StoreError::from)?;
            let mut number = 0;
            let again = hash_chunks(&mut source, |chunk| {
                chunks.insert((&hash.0, number), chunk)?;
                number += 1;
                Ok(())
            })?;
            if again != hash || number != file.chunks_held {
                return Err(PutFileError::ChangedWhileRead);
            }
            write_row(&tx, &file)?;
        }
        tx.commit().map_err(StoreError::from)?;
        Ok(file)
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
        let table = tx.open_table(FILE_CHUNKS)?;
        Ok(table.get((&hash.0, number))?.map(|v| v.value().to_vec()))
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
            let chunk = chunks
                .get((&hash.0, number))
                .map_err(StoreError::from)?
                .ok_or(ReadFileError::Damaged(hash))?;
            hasher.update(chunk.value());
            out.write_all(chunk.value()).map_err(ReadFileError::Write)?;
            written += chunk.value().len() as u64;
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
        let held = tx.open_table(FILES)?.remove(&hash.0)?.is_some();
        {
            let mut chunks = tx.open_table(FILE_CHUNKS)?;
            chunks.retain_in((&hash.0, 0)..=(&hash.0, u64::MAX), |_, _| false)?;
        }
        tx.commit()?;
        Ok(held)
    }
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
        media_type: file.media_type.code(),
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
    let media_type = MediaType::from_code(row.media_type).ok_or_else(damaged)?;
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
        assert_eq!(stored.media_type, MediaType::Pdf);
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

    #[test]
    fn a_chunk_changed_in_the_file_is_told_as_damage() {
        let (_dir, store) = store();
        let stored = store
            .put_file(Cursor::new(pdf(2 * FILE_CHUNK_BYTES)))
            .expect("stored");
        let tx = begin_durable(store.db.get().expect("db")).expect("write");
        tx.open_table(FILE_CHUNKS)
            .expect("table")
            .insert((&stored.hash.0, 1), b"not what was stored".as_slice())
            .expect("insert");
        tx.commit().expect("commit");
        let refused = store.read_file(stored.hash, &mut Vec::new()).unwrap_err();
        assert!(matches!(refused, ReadFileError::Damaged(_)), "{refused}");
    }
}
