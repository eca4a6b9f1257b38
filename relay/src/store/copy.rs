//! `relay migrate-store --from SOURCE --to TARGET`: copies everything a
//! relay keeps from one store into another, empty one (a data folder to
//! PostgreSQL, or back), then reads the target back and checks it.
//!
//! - The registry goes row for row (centres, devices with their sync
//!   health, enrolment codes by their hashes), the office's centre id with
//!   it: devices know their journals by id.
//! - Each journal goes as a snapshot of its whole document, under the same
//!   epoch: its heads do not change, so devices see nothing new.
//! - Each file goes chunk by chunk, through the target's own chunk rules
//!   (a whole file is hashed and checked again as it lands).
//! - Neither side may be served meanwhile: a data folder is locked as
//!   `relay serve` locks it, and a database with a running relay's
//!   connection is refused.

use std::path::PathBuf;

use sync_core::Journal;
use sync_core::store::{FileDescription, StoredFile};
use sync_core::sync::StorageFailure;
use uuid::Uuid;

use super::{OpenStoreError, PgStore, RedbStore, RelayStore};
use crate::registry::{RegistryError, RegistryRows};
use crate::serve_lock::{ServeLock, ServeLockError};

/// Why a copy was not made, or not confirmed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    #[error(transparent)]
    Open(#[from] OpenStoreError),
    #[error(transparent)]
    Serving(#[from] ServeLockError),
    #[error(
        "a relay is serving from the database {0}: stop every relay using it first (a copy \
         made while devices sync would miss what they send)"
    )]
    DatabaseServed(String),
    #[error("{0} is not empty: a copy goes only into a new data folder or an empty database")]
    NotEmpty(String),
    #[error("there is no data folder at {0}")]
    NoSource(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Storage(#[from] StorageFailure),
    #[error("a file of journal {journal} was refused by the target: {reason}")]
    FileRefused { journal: Uuid, reason: String },
    #[error("the copy differs from its source: {0}")]
    Differs(String),
}

/// What a store must do to be copied from and into ([`copy`]).
pub trait StoreCopy: RelayStore {
    /// Every registry row.
    fn registry_rows(&self) -> Result<RegistryRows, CopyError>;
    /// Writes a registry's rows into this (new) store's registry.
    fn put_registry_rows(&self, rows: &RegistryRows) -> Result<(), CopyError>;
    /// Every journal held, by id.
    fn journal_ids(&self) -> Result<Vec<Uuid>, CopyError>;
    /// A journal whole, and its epoch.
    fn journal_copy(&self, journal: Uuid) -> Result<(u32, Journal), CopyError>;
    /// Writes `copy` as the journal's whole content, under `epoch`.
    fn put_journal_copy(&self, journal: Uuid, epoch: u32, copy: &Journal) -> Result<(), CopyError>;
    /// Every file of a journal, whole or in part, by hash.
    fn files_of(&self, journal: Uuid) -> Result<Vec<StoredFile>, CopyError>;
    /// True when it holds no device, journal, code nor centre but the office's.
    fn is_empty(&self) -> Result<bool, CopyError>;
}

/// One side of a copy, as the command names it.
#[derive(Clone, Debug)]
pub enum Side {
    Folder(PathBuf),
    /// Never printed: it may hold a password.
    Database(String),
}

impl Side {
    /// A `postgres://` address, else a data folder's path.
    pub fn parse(text: &str) -> Side {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Side::Database(text.to_owned())
        } else {
            Side::Folder(PathBuf::from(text))
        }
    }

    /// How messages name it (a database by its host and name only).
    pub fn describe(&self) -> String {
        match self {
            Side::Folder(path) => path.display().to_string(),
            Side::Database(url) => {
                let after_at = url.rsplit('@').next().unwrap_or(url);
                let host_and_name = after_at.split('?').next().unwrap_or(after_at);
                format!("the database {host_and_name}")
            }
        }
    }
}

/// A side opened for the copy, held unserved until dropped.
struct Opened {
    store: Box<dyn StoreCopy>,
    _lock: Option<ServeLock>,
}

fn open(side: &Side) -> Result<Opened, CopyError> {
    match side {
        Side::Folder(dir) => {
            let lock = crate::serve_lock::lock_for_serving(dir)?;
            let store = RedbStore::open(dir)?;
            Ok(Opened {
                store: Box::new(store),
                _lock: Some(lock),
            })
        }
        Side::Database(url) => {
            let store = PgStore::connect_tool(url)?;
            if store.relays_connected().map_err(OpenStoreError::from)? > 0 {
                return Err(CopyError::DatabaseServed(side.describe()));
            }
            Ok(Opened {
                store: Box::new(store),
                _lock: None,
            })
        }
    }
}

/// What a copy moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub centres: usize,
    pub devices: usize,
    pub codes: usize,
    pub journals: usize,
    pub files: usize,
    pub file_bytes: u64,
}

/// Copies everything from `from` into the empty `to`, then reads `to`
/// back, afresh, and checks it against `from`.
pub fn copy(from: &Side, to: &Side) -> Result<Copied, CopyError> {
    if let Side::Folder(dir) = from
        && !dir.join(crate::registry::REGISTRY_FILE).exists()
    {
        return Err(CopyError::NoSource(from.describe()));
    }
    let source = open(from)?;
    let target = open(to)?;
    if !target.store.is_empty()? {
        return Err(CopyError::NotEmpty(to.describe()));
    }
    let (source, target) = (&*source.store, target);
    let rows = source.registry_rows()?;
    target.store.put_registry_rows(&rows)?;
    let mut copied = Copied {
        centres: rows.centres.len(),
        devices: rows.devices.len(),
        codes: rows.codes.len(),
        ..Copied::default()
    };
    for journal in source.journal_ids()? {
        let (epoch, whole) = source.journal_copy(journal)?;
        target.store.put_journal_copy(journal, epoch, &whole)?;
        drop(whole);
        for file in source.files_of(journal)? {
            copy_file(source, &*target.store, journal, file)?;
            copied.files += 1;
            copied.file_bytes += file.bytes;
        }
        copied.journals += 1;
    }
    // Read back through a store opened afresh: nothing from memory.
    drop(target);
    let target = open(to)?;
    check(source, &*target.store, &rows)?;
    Ok(copied)
}

/// The chunks `file` holds, from `source` into `target`.
fn copy_file(
    source: &dyn StoreCopy,
    target: &dyn StoreCopy,
    journal: Uuid,
    file: StoredFile,
) -> Result<(), CopyError> {
    let description = FileDescription {
        hash: file.hash,
        bytes: file.bytes,
    };
    for number in 0..file.chunks_held {
        let chunk = source
            .file_chunk(journal, file.hash, number)?
            .ok_or_else(|| {
                CopyError::Differs(format!("chunk {number} of {} is missing", file.hash))
            })?;
        target
            .receive_file_chunk(journal, description, number, &chunk)?
            .map_err(|e| CopyError::FileRefused {
                journal,
                reason: e.to_string(),
            })?;
    }
    Ok(())
}

/// Checks the registry row for row, and every journal's epoch, heads and
/// files.
fn check(
    source: &dyn StoreCopy,
    target: &dyn StoreCopy,
    rows: &RegistryRows,
) -> Result<(), CopyError> {
    let differs = |what: String| Err(CopyError::Differs(what));
    if target.registry_rows()?.comparable() != rows.clone().comparable() {
        return differs("the registry's rows".into());
    }
    let journals = source.journal_ids()?;
    if target.journal_ids()? != journals {
        return differs("the list of journals".into());
    }
    for journal in journals {
        if target.state(journal)? != source.state(journal)? {
            return differs(format!("journal {journal}'s epoch or heads"));
        }
        if target.files_of(journal)? != source.files_of(journal)? {
            return differs(format!("journal {journal}'s files"));
        }
    }
    Ok(())
}
