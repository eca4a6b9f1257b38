//! When to pay for the full integrity check.
//!
//! redb verifies every page checksum when it recovers a file that was not
//! closed cleanly (a crash, a power cut), but it trusts a file it closed
//! cleanly, and reading a page damaged since (by another program, a copy
//! gone wrong, the disk) can then panic or return wrong bytes. Checking every
//! page on every open costs about 20 ms per 10,000 activities.
//!
//! So each store notes, when it closes cleanly, what the file looked like
//! right after (its length, modification time and, on Unix, inode) in a
//! marker file beside it, `<store>.closed`. An open whose file still looks
//! exactly like that trusts it; any other open (no marker, a marker that does
//! not match because anything wrote the file since, a new copy) runs the full
//! check. The daemon also checks on start and once a day, and
//! `field-client check` does on demand (docs/STORAGE.md).

use std::path::{Path, PathBuf};

use redb::Database;

use super::StoreError;

/// The open database; notes a clean close in the marker when dropped.
pub(crate) struct OpenDb {
    /// `Some` until dropped.
    db: Option<Database>,
    /// The marker to write on a clean close; `None` for storage other than a file.
    marker: Option<PathBuf>,
}

impl OpenDb {
    pub(crate) fn new(db: Database, file: Option<&Path>) -> OpenDb {
        OpenDb {
            db: Some(db),
            marker: file.map(marker_path),
        }
    }

    /// The database; an error while its file is closed because reopening
    /// it after a rewrite failed.
    pub(crate) fn get(&self) -> Result<&Database, StoreError> {
        self.db.as_ref().ok_or(StoreError::Closed)
    }

    pub(crate) fn get_mut(&mut self) -> Result<&mut Database, StoreError> {
        self.db.as_mut().ok_or(StoreError::Closed)
    }

    /// Closes the file for a rewrite to put another in its place (no clean
    /// close noted: the file is about to be replaced).
    pub(crate) fn close_for_swap(&mut self) {
        drop(self.db.take());
    }

    /// Goes on with another database on the same file (a rewrite of it).
    pub(crate) fn replace(&mut self, db: Database) {
        self.db = Some(db);
    }
}

impl std::fmt::Debug for OpenDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenDb")
            .field("marker", &self.marker)
            .finish()
    }
}

impl Drop for OpenDb {
    fn drop(&mut self) {
        let (Some(db), Some(marker)) = (self.db.take(), &self.marker) else {
            return;
        };
        // Only a close that redb reports as clean earns the marker. Not
        // synced: a marker lost or torn by a power cut only means one more
        // full check.
        if db.close().is_ok()
            && let Some(look) = fingerprint(&stored_path(marker))
        {
            let _ = std::fs::write(marker, look);
        }
    }
}

/// True when the file looks exactly as it did when a store last closed it
/// cleanly: it can be opened without the full check.
pub(crate) fn closed_cleanly(path: &Path) -> bool {
    match (std::fs::read(marker_path(path)), fingerprint(path)) {
        (Ok(noted), Some(now)) => noted == now.as_bytes(),
        _ => false,
    }
}

/// Removes a store's file and its marker (a store made moments ago for a
/// purpose that failed: it holds nothing).
pub(crate) fn remove_store_files(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(marker_path(path)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::remove_file(path)?;
    match std::fs::remove_dir_all(super::file_bytes::folder_of(path)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn marker_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".closed");
    PathBuf::from(name)
}

fn stored_path(marker: &Path) -> PathBuf {
    marker.with_extension("")
}

/// Length, modification time (to the nanosecond where the file system keeps
/// it) and, on Unix, device and inode: any write, truncation or replacement
/// of the file changes it.
fn fingerprint(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    #[cfg(unix)]
    let identity = {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", meta.dev(), meta.ino())
    };
    #[cfg(not(unix))]
    let identity = "-";
    Some(format!(
        "krc-store-closed v1 {} {}.{:09} {identity}\n",
        meta.len(),
        modified.as_secs(),
        modified.subsec_nanos()
    ))
}
