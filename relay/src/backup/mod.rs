//! `relay backup` and `relay restore`: a consistent copy of the relay's data
//! folder in one file, made while `relay serve` runs, and put back into a new
//! folder.
//!
//! - **Consistent**: each database is copied row by row from one read
//!   transaction of it (the registry first, then each journal file), into a
//!   fresh redb file; writers go on meanwhile. The registry is shared with
//!   `relay serve` in redb's multi-writer mode, the journal files in
//!   [`SHARED_MODE`] (one writer, readers in other processes).
//! - **Verified**: the written file is read back, every file's SHA-256
//!   checked, every database reopened and its rows compared with what was
//!   copied, and every journal loaded and its heads compared.
//! - **Restored only into a new folder**: never over a relay's data, never
//!   half: the file is unpacked and verified beside the folder, then moved
//!   into place in one rename.
//!
//! The file holds the relay's private key: whoever has it can pose as the
//! relay (docs/OPERATIONS.md).

mod container;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use redb::{Database, Durability, ReadableDatabase};
use serde::{Deserialize, Serialize};
use sync_core::store::backup::{TableContents, copy_store, store_contents};
use sync_core::store::{OpenError, SHARED_MODE, Store, StoreError};
use uuid::Uuid;

pub use container::{ContainerError, FORMAT_VERSION};
use container::{Reader, Writer};

use crate::limits::MAX_BACKUP_MANIFEST_BYTES;
use crate::registry::{self, REGISTRY_FILE, RegistryError};
use crate::serve_lock;
use crate::server::RELAY_IDENTITY_STEM;
use crate::store::JOURNALS_DIR;
use crate::tls::Identity;

/// The file in the data folder holding the address devices reach the relay at.
pub const PUBLIC_ADDRESS_FILE: &str = "public-address";
/// The backup's table of contents, the last file in it.
const MANIFEST: &str = "manifest.json";

/// Why a backup or a restore was not made. Nothing was changed: a backup
/// leaves no file at its path, a restore no folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("there is no relay in {0}: it has no key (start `relay serve` there once first)")]
    NoRelay(PathBuf),
    #[error("the relay's key in {path} cannot be read: {reason}")]
    Identity { path: PathBuf, reason: String },
    #[error("the registry: {0}")]
    Registry(#[from] RegistryError),
    #[error("cannot read {path}: {source}")]
    Database { path: PathBuf, source: redb::Error },
    #[error("{path}: {source}")]
    Store {
        path: PathBuf,
        source: Box<StoreError>,
    },
    #[error("{0}")]
    Open(Box<OpenError>),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the backup file {path} is damaged: {what}")]
    Damaged { path: PathBuf, what: String },
    /// The table of contents could not be written (it would be too large
    /// for a restore to read).
    #[error("the backup was not made: {0}")]
    Manifest(String),
    #[error(
        "a relay is serving from {0}: stop it first; restore only into a new, empty folder \
         and start the relay on that folder"
    )]
    RelayServing(PathBuf),
    #[error("{0} is not empty: restore only into a new, empty folder (nothing there was changed)")]
    NotEmpty(PathBuf),
}

/// What a backup holds (its last file, `manifest.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub made_at: DateTime<Utc>,
    /// The relay's key fingerprint (devices are enrolled with it).
    pub relay_fingerprint: String,
    /// Every other file: name, size, SHA-256.
    pub files: Vec<FileEntry>,
    /// The registry's tables as copied.
    pub registry: Vec<TableContents>,
    /// Each journal file as copied.
    pub journals: Vec<JournalEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// One journal file of the backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The centre's id (the file's name).
    pub id: Uuid,
    pub epoch: u32,
    /// The journal's heads (hex change hashes, sorted).
    pub heads: Vec<String>,
    pub tables: Vec<TableContents>,
}

/// Backs up the relay in `data_dir` into `out` (replacing a file there only
/// once the new one is complete and verified), while `relay serve` may run.
pub fn back_up(data_dir: &Path, out: &Path) -> Result<Manifest, BackupError> {
    let making = sibling(out, "making");
    let partial = sibling(out, "partial");
    let result = make(data_dir, out, &making, &partial);
    let _ = std::fs::remove_dir_all(&making);
    let _ = std::fs::remove_file(&partial);
    let manifest = result?;
    let verifying = sibling(out, "verifying");
    let read_back = unpack(out, &verifying);
    let _ = std::fs::remove_dir_all(&verifying);
    match read_back {
        Ok(back) if back == manifest => Ok(manifest),
        Ok(_) => Err(BackupError::Damaged {
            path: out.to_owned(),
            what: "it does not read back as it was written".into(),
        }),
        Err(e) => Err(e),
    }
}

fn make(
    data_dir: &Path,
    out: &Path,
    making: &Path,
    partial: &Path,
) -> Result<Manifest, BackupError> {
    let identity = match Identity::load(data_dir, RELAY_IDENTITY_STEM) {
        Ok(identity) => identity,
        Err(crate::tls::TlsError::Missing { .. }) => {
            return Err(BackupError::NoRelay(data_dir.to_owned()));
        }
        Err(e) => {
            return Err(BackupError::Identity {
                path: data_dir.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    let _ = std::fs::remove_dir_all(making);
    create_dir(&making.join(JOURNALS_DIR))?;
    let registry = copy_registry(&data_dir.join(REGISTRY_FILE), &making.join(REGISTRY_FILE))?;
    let mut journals = Vec::new();
    for (id, path) in journal_files(&data_dir.join(JOURNALS_DIR))? {
        let tables = copy_journal(&path, &making.join(journal_name(id)))?;
        journals.push(JournalEntry {
            id,
            epoch: 0,
            heads: Vec::new(),
            tables,
        });
    }
    let mut writer = Writer::create(partial)?;
    let mut files = Vec::new();
    let mut names: Vec<String> = vec![REGISTRY_FILE.to_owned()];
    names.extend(journals.iter().map(|j| journal_name(j.id)));
    for name in names {
        let (sha256, bytes) = writer.add_file(&name, &making.join(&name))?;
        files.push(FileEntry {
            name,
            bytes,
            sha256,
        });
    }
    // Loading a journal may bring its file to this version's layout: only
    // once it is packed as copied.
    for journal in &mut journals {
        (journal.epoch, journal.heads) =
            journal_state(&making.join(journal_name(journal.id)), journal.id)?;
    }
    let cert = format!("{RELAY_IDENTITY_STEM}.cert.der");
    let key = format!("{RELAY_IDENTITY_STEM}.key.der");
    for name in [cert.as_str(), key.as_str(), PUBLIC_ADDRESS_FILE] {
        let path = data_dir.join(name);
        if name == PUBLIC_ADDRESS_FILE && !path.exists() {
            continue;
        }
        let (sha256, bytes) = writer.add_file(name, &path)?;
        files.push(FileEntry {
            name: name.to_owned(),
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT_VERSION,
        made_at: Utc::now(),
        relay_fingerprint: identity.fingerprint().to_string(),
        files,
        registry,
        journals,
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Manifest(e.to_string()))?;
    if json.len() > MAX_BACKUP_MANIFEST_BYTES {
        // A restore would refuse it: better no backup than one that cannot
        // be restored.
        return Err(BackupError::Manifest(format!(
            "its table of contents is {} bytes, over the {MAX_BACKUP_MANIFEST_BYTES} a              restore reads",
            json.len()
        )));
    }
    writer.add_bytes(MANIFEST, &json)?;
    writer.finish()?;
    std::fs::rename(partial, out).map_err(|source| BackupError::Io {
        what: "write",
        path: out.to_owned(),
        source,
    })?;
    sync_parent(out)?;
    Ok(manifest)
}

/// Copies the registry from one read transaction into a fresh file.
fn copy_registry(from: &Path, to: &Path) -> Result<Vec<TableContents>, BackupError> {
    let db_err = |source: redb::Error| BackupError::Database {
        path: from.to_owned(),
        source,
    };
    let source = registry::open_read_only(from).map_err(|e| db_err(e.into()))?;
    let tx = source.begin_read().map_err(|e| db_err(e.into()))?;
    let to_err = |source: redb::Error| BackupError::Database {
        path: to.to_owned(),
        source,
    };
    let fresh = Database::create(to).map_err(|e| to_err(e.into()))?;
    let mut write = fresh.begin_write().map_err(|e| to_err(e.into()))?;
    write
        .set_durability(Durability::Immediate)
        .map_err(|e| to_err(e.into()))?;
    let tables = registry::copy_tables(&tx, Some(&write))?;
    write.commit().map_err(|e| to_err(e.into()))?;
    Ok(tables)
}

/// Copies a journal file from one read transaction into a fresh file.
fn copy_journal(from: &Path, to: &Path) -> Result<Vec<TableContents>, BackupError> {
    let db_err = |source: redb::Error| BackupError::Database {
        path: from.to_owned(),
        source,
    };
    let source = Database::builder()
        .set_concurrency_mode(SHARED_MODE)
        .open_read_only(from)
        .map_err(|e| db_err(e.into()))?;
    let tx = source.begin_read().map_err(|e| db_err(e.into()))?;
    copy_store(&tx, to).map_err(|source| BackupError::Store {
        path: from.to_owned(),
        source: Box::new(source),
    })
}

/// The epoch and heads (sorted hex) of journal `id` in the file at `path`.
fn journal_state(path: &Path, id: Uuid) -> Result<(u32, Vec<String>), BackupError> {
    let store = Store::open(path).map_err(|e| BackupError::Open(Box::new(e)))?;
    let store_err = |source| BackupError::Store {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let journal = sync_core::store::JournalId(id);
    let epoch = store.epoch(journal).map_err(store_err)?;
    let loaded = store.load_journal(journal).map_err(store_err)?;
    let mut heads: Vec<String> = loaded.heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    Ok((epoch, heads))
}

/// The journal files in `dir` (`<id>.redb`), by id; other files are not journals.
pub(crate) fn journal_files(dir: &Path) -> Result<BTreeMap<Uuid, PathBuf>, BackupError> {
    let mut files = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(source) => {
            return Err(BackupError::Io {
                what: "read",
                path: dir.to_owned(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| BackupError::Io {
            what: "read",
            path: dir.to_owned(),
            source,
        })?;
        let name = entry.file_name();
        let id = name
            .to_str()
            .and_then(|n| n.strip_suffix(".redb"))
            .and_then(|stem| Uuid::parse_str(stem).ok());
        if let Some(id) = id {
            files.insert(id, entry.path());
        }
    }
    Ok(files)
}

fn journal_name(id: Uuid) -> String {
    format!("{JOURNALS_DIR}/{}.redb", id.hyphenated())
}

/// Restores the backup `file` into `dir`, which must not exist or be empty
/// (and no relay may be serving from it). On any error nothing is left.
pub fn restore(file: &Path, dir: &Path) -> Result<Manifest, BackupError> {
    check_target(dir)?;
    let restoring = sibling(dir, "restoring");
    let _ = std::fs::remove_dir_all(&restoring);
    let manifest = match unpack(file, &restoring) {
        Ok(manifest) => manifest,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&restoring);
            return Err(e);
        }
    };
    // Checked again: a relay may have started meanwhile.
    check_target(dir)?;
    if dir.exists() {
        std::fs::remove_dir(dir).map_err(|source| BackupError::Io {
            what: "replace the empty folder",
            path: dir.to_owned(),
            source,
        })?;
    }
    std::fs::rename(&restoring, dir).map_err(|source| BackupError::Io {
        what: "move the restored data to",
        path: dir.to_owned(),
        source,
    })?;
    sync_parent(dir)?;
    Ok(manifest)
}

/// Refuses a folder a relay serves from, or one that holds anything.
fn check_target(dir: &Path) -> Result<(), BackupError> {
    if serve_lock::is_serving(dir) {
        return Err(BackupError::RelayServing(dir.to_owned()));
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(BackupError::NotEmpty(dir.to_owned())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BackupError::Io {
            what: "read",
            path: dir.to_owned(),
            source,
        }),
    }
}

/// Unpacks the backup `file` into the new folder `into`, checking every
/// file's SHA-256, every database's rows and every journal's heads against
/// its manifest; the manifest.
fn unpack(file: &Path, into: &Path) -> Result<Manifest, BackupError> {
    create_dir(&into.join(JOURNALS_DIR))?;
    let mut reader = Reader::open(file)?;
    let damaged = |what: String| BackupError::Damaged {
        path: file.to_owned(),
        what,
    };
    let mut unpacked = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    while let Some(name) = reader.next_name()? {
        if manifest.is_some() {
            return Err(damaged(format!("{name} comes after the manifest")));
        }
        if name == MANIFEST {
            let json = reader.read_small(MANIFEST, MAX_BACKUP_MANIFEST_BYTES)?;
            let parsed = serde_json::from_slice(&json)
                .map_err(|e| damaged(format!("its manifest does not read: {e}")))?;
            manifest = Some(parsed);
            continue;
        }
        if !is_backup_file_name(&name) || unpacked.contains_key(&name) {
            return Err(damaged(format!("it holds an unexpected file {name:?}")));
        }
        let sha = reader.copy_to(&name, &into.join(&name))?;
        unpacked.insert(name, sha);
    }
    let manifest = manifest.ok_or_else(|| damaged("it has no manifest".into()))?;
    let listed: BTreeMap<String, String> = manifest
        .files
        .iter()
        .map(|f| (f.name.clone(), f.sha256.clone()))
        .collect();
    if listed != unpacked {
        return Err(damaged("its files are not those its manifest lists".into()));
    }
    check_databases(into, &manifest).map_err(damaged)?;
    Ok(manifest)
}

/// Reopens every unpacked database and compares it with the manifest.
fn check_databases(dir: &Path, manifest: &Manifest) -> Result<(), String> {
    let registry_path = dir.join(REGISTRY_FILE);
    let registry = redb::ReadOnlyDatabase::open(&registry_path)
        .map_err(|e| format!("its registry does not open: {e}"))?;
    let tx = registry
        .begin_read()
        .map_err(|e| format!("its registry does not read: {e}"))?;
    let tables = registry::copy_tables(&tx, None).map_err(|e| e.to_string())?;
    if tables != manifest.registry {
        return Err("its registry does not hold what was copied".into());
    }
    drop(tx);
    drop(registry);
    for journal in &manifest.journals {
        let path = dir.join(journal_name(journal.id));
        let db = redb::ReadOnlyDatabase::open(&path)
            .map_err(|e| format!("journal {} does not open: {e}", journal.id))?;
        let tx = db.begin_read().map_err(|e| e.to_string())?;
        let tables = store_contents(&tx).map_err(|e| e.to_string())?;
        if tables != journal.tables {
            return Err(format!(
                "journal {} does not hold what was copied",
                journal.id
            ));
        }
        drop(tx);
        drop(db);
        let (epoch, heads) = journal_state(&path, journal.id).map_err(|e| e.to_string())?;
        if (epoch, &heads) != (journal.epoch, &journal.heads) {
            return Err(format!("journal {} does not load to its heads", journal.id));
        }
    }
    Ok(())
}

/// The names a backup may hold (never a path outside the folder).
fn is_backup_file_name(name: &str) -> bool {
    let fixed = [
        REGISTRY_FILE.to_owned(),
        format!("{RELAY_IDENTITY_STEM}.cert.der"),
        format!("{RELAY_IDENTITY_STEM}.key.der"),
        PUBLIC_ADDRESS_FILE.to_owned(),
    ];
    fixed.iter().any(|f| f == name)
        || name
            .strip_prefix(&format!("{JOURNALS_DIR}/"))
            .and_then(|n| n.strip_suffix(".redb"))
            .and_then(|stem| Uuid::parse_str(stem).ok())
            .is_some_and(|id| journal_name(id) == name)
}

/// `path` with `.suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn create_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::create_dir_all(dir).map_err(|source| BackupError::Io {
        what: "create",
        path: dir.to_owned(),
        source,
    })
}

/// Makes a rename in `path`'s folder durable (Unix; Windows cannot open a
/// folder as a file, and a rename there is durable once the call returns).
fn sync_parent(path: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|source| BackupError::Io {
                what: "make durable",
                path: parent.to_owned(),
                source,
            })?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
