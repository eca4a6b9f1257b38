//! Where a store keeps the bytes of its attached files (docs/STORAGE.md,
//! "Files"). A device keeps them beside its store, one file per attached
//! file (store layout 9); a relay keeps them in its journal files.
//!
//! Why beside: redb's page cache keeps the pages a transaction read or wrote,
//! up to its bound. A device's bound is 64 MB (`DEVICE_STORE_CACHE_BYTES`),
//! sized so that listing 100,000 activities reads its view from memory; a
//! 25 MB photo written or sent through it stayed in it, and the device's
//! peak memory grew with the photo (68 MB sending 25 MB, against 18 MB
//! sending 1 MB). Read and written as plain files, chunk by chunk, a file
//! costs one chunk of memory whatever its size, and the store's cache keeps
//! the records. A relay's journal file is read by `relay backup` while the
//! relay serves (as tables), and its cache is 4 MB: its files stay inside.
//!
//! The folder's invariants, for a file named by its hash:
//! - a `file-v1` row saying `chunks_held = n` is committed only after the
//!   first `n` chunks are durably in the file beside it;
//! - a file beside the store with no `file-v1` row is left over (a crash
//!   between a row's removal and the file's, or an interrupted `put`): it
//!   is wiped and removed ([`Folder::sweep`], at every open and every
//!   quiet-time compaction), like a file no record refers to;
//! - a removed file is overwritten with zeros, synced, then unlinked: what
//!   an erasure leaves of it is what the file system keeps of overwritten
//!   blocks (docs/ERASURE.md).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::files::FileHash;
use crate::limits::FILE_CHUNK_BYTES;

/// Where a store keeps its files' bytes.
#[derive(Clone, Debug)]
pub(crate) enum FileBytes {
    /// In `file_chunk-v1`, inside the store file: a relay's journal file
    /// (told by its having no home journal, however it is opened).
    InStore,
    /// One file per attached file in this folder (a device's store).
    Beside(PathBuf),
}

impl FileBytes {
    /// A device's: the folder `NAME.files` beside its store file `NAME`.
    pub(crate) fn beside(store: &Path) -> FileBytes {
        FileBytes::Beside(folder_of(store))
    }

    /// The folder, for a store that keeps its files beside it.
    pub(crate) fn folder(&self) -> Option<Folder<'_>> {
        match self {
            FileBytes::InStore => None,
            FileBytes::Beside(dir) => Some(Folder(dir)),
        }
    }
}

/// The folder of a device's files: `journal.redb.files` for `journal.redb`.
pub fn folder_of(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".files");
    PathBuf::from(name)
}

/// Suffix of a file being added whole ([`Folder::put_whole`]) before it is
/// renamed to its hash: never a name a hash has.
const ADDING_SUFFIX: &str = ".adding";

/// The folder of a device's files.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Folder<'a>(&'a Path);

impl Folder<'_> {
    fn path_of(&self, hash: FileHash) -> PathBuf {
        self.0.join(hash.to_string())
    }

    /// Whether the folder was ever made (the store held a file).
    pub(crate) fn exists(&self) -> bool {
        self.0.exists()
    }

    fn create(&self) -> std::io::Result<()> {
        if !self.0.exists() {
            std::fs::create_dir_all(self.0)?;
            super::erasure::sync_folder_of(self.0)?;
        }
        Ok(())
    }

    /// Writes chunk `number` of file `hash` in place and syncs it: durable
    /// when this returns. The first chunk also makes the file's name
    /// durable.
    pub(crate) fn write_chunk(
        &self,
        hash: FileHash,
        number: u64,
        chunk: &[u8],
    ) -> std::io::Result<()> {
        self.create()?;
        let path = self.path_of(hash);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.seek(SeekFrom::Start(number * FILE_CHUNK_BYTES as u64))?;
        file.write_all(chunk)?;
        file.sync_data()?;
        if number == 0 {
            super::erasure::sync_folder_of(&path)?;
        }
        Ok(())
    }

    /// Chunk `number`, `len` bytes, of file `hash`; `None` when the file
    /// beside the store is missing or shorter (damaged: its row says more).
    pub(crate) fn read_chunk(
        &self,
        hash: FileHash,
        number: u64,
        len: usize,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let mut file = match File::open(self.path_of(hash)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(number * FILE_CHUNK_BYTES as u64))?;
        let mut chunk = vec![0; len];
        match file.read_exact(&mut chunk) {
            Ok(()) => Ok(Some(chunk)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Starts writing file `hash` whole, under a name no reader uses: the
    /// file takes its hash's name only once it is complete
    /// ([`Adding::finish`]), replacing any part of it received before.
    pub(crate) fn put_whole(&self, hash: FileHash) -> std::io::Result<Adding> {
        self.create()?;
        let mut name = hash.to_string();
        name.push_str(ADDING_SUFFIX);
        let path = self.0.join(name);
        let file = File::create(&path)?;
        Ok(Adding {
            file,
            path,
            to: self.path_of(hash),
        })
    }

    /// Overwrites file `hash` with zeros, syncs it and removes it, durably;
    /// a file not there is skipped. Only under a write transaction that
    /// saw no row for it (a put of the same file waits for that).
    pub(crate) fn wipe(&self, hash: FileHash) -> std::io::Result<()> {
        let path = self.path_of(hash);
        if wipe_file(&path)? {
            super::erasure::sync_folder_of(&path)?;
        }
        Ok(())
    }

    /// Wipes every file of the folder whose name is not the hash of a file
    /// `keep` says the store holds: rows removed before their file (a
    /// crash), files added in part. True if it removed any. Only under a
    /// write transaction (whose rows `keep` reads): puts and received
    /// chunks write their files under one, before their rows commit.
    pub(crate) fn sweep(
        &self,
        mut keep: impl FnMut(FileHash) -> Result<bool, super::StoreError>,
    ) -> Result<bool, super::StoreError> {
        let io = super::erasure::io_error;
        let entries = match std::fs::read_dir(self.0) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io(e)),
        };
        let mut removed = None;
        for entry in entries {
            let path = entry.map_err(io)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let held = match FileHash::parse(name) {
                Some(hash) if hash.to_string() == name => keep(hash)?,
                _ => false,
            };
            if !held {
                wipe_file(&path).map_err(io)?;
                removed = Some(path);
            }
        }
        if let Some(path) = &removed {
            super::erasure::sync_folder_of(path).map_err(io)?;
        }
        Ok(removed.is_some())
    }
}

/// A file being added whole ([`Folder::put_whole`]).
pub(crate) struct Adding {
    file: File,
    path: PathBuf,
    to: PathBuf,
}

impl Adding {
    pub(crate) fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.file.write_all(chunk)
    }

    /// Syncs the file, gives it its hash's name and makes the name durable.
    pub(crate) fn finish(self) -> std::io::Result<()> {
        self.file.sync_all()?;
        drop(self.file);
        std::fs::rename(&self.path, &self.to)?;
        super::erasure::sync_folder_of(&self.to)
    }

    /// Removes what was written (the source changed while it was read).
    pub(crate) fn abandon(self) -> std::io::Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path)
    }
}

/// Zeros over the whole file, synced, then the file removed; false if
/// there was no file.
fn wipe_file(path: &Path) -> std::io::Result<bool> {
    let mut file = match OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let zeros = vec![0; FILE_CHUNK_BYTES];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_data()?;
    drop(file);
    std::fs::remove_file(path)?;
    Ok(true)
}
