//! Numbered migrations of the relay's data folder.
//!
//! Layout 1 kept every journal in one file, `journals.redb`. Layout 2 keeps
//! each in a file of its own, `journals/<id>.redb`, so that centres never
//! wait for each other's disk writes, an erasure rewrites only one centre's
//! file, and a failed file holds up only its own centre.

use std::path::Path;

use sync_core::store::{JournalId, OpenError, Replacement, Store, StoreError};

use super::journals::journal_path;
use crate::limits::JOURNAL_FILE_CACHE_BYTES;

/// The layout-1 file of every journal.
pub(super) const LAYOUT_1_JOURNALS: &str = "journals.redb";

/// Suffix of a journal's file while the migration writes it.
const MIGRATING_SUFFIX: &str = "migrating";

/// Why the data folder could not be brought to the current layout.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot open the journals of the earlier layout ({file}): {source}")]
    Open {
        file: String,
        source: Box<OpenError>,
    },
    #[error("cannot move journal {journal} into a file of its own: {source}")]
    Journal {
        journal: JournalId,
        source: Box<StoreError>,
    },
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Layout 1 → 2: copies each journal of `data/journals.redb` into
/// `journals_dir/<id>.redb` (written under a temporary name, renamed when
/// complete), then removes the old file. Interrupted anywhere, it finishes
/// on the next start: journals already moved are skipped, and the old file
/// goes only once all are moved.
pub(super) fn journals_to_files(data: &Path, journals_dir: &Path) -> Result<(), MigrationError> {
    let old_path = data.join(LAYOUT_1_JOURNALS);
    if !old_path.exists() {
        return Ok(());
    }
    let io = |path: &Path, source| MigrationError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(journals_dir).map_err(|e| io(journals_dir, e))?;
    let old = Store::open(&old_path).map_err(|source| MigrationError::Open {
        file: old_path.display().to_string(),
        source: Box::new(source),
    })?;
    let infos = old.journals().map_err(|source| MigrationError::Journal {
        journal: JournalId(uuid::Uuid::nil()),
        source: Box::new(source),
    })?;
    for info in infos {
        let path = journal_path(journals_dir, info.id.0);
        if path.exists() {
            continue;
        }
        let moving = path.with_extension(format!("redb.{MIGRATING_SUFFIX}"));
        let _ = std::fs::remove_file(&moving);
        let journal_error = |source| MigrationError::Journal {
            journal: info.id,
            source: Box::new(source),
        };
        let journal = old.load_journal(info.id).map_err(journal_error)?;
        {
            let mut new = Store::create_relay(&moving, "relay", JOURNAL_FILE_CACHE_BYTES).map_err(
                |source| MigrationError::Open {
                    file: moving.display().to_string(),
                    source: Box::new(source),
                },
            )?;
            new.ensure_journal(&info).map_err(journal_error)?;
            let with = Replacement {
                epoch: info.epoch,
                ..Replacement::default()
            };
            new.replace_journal(info.id, &journal, with)
                .map_err(journal_error)?;
            // A replacement asks for the file to be rewritten (for an
            // erasure); a new file holds nothing to wipe: done at once while
            // it is small and not yet in use.
            new.rewrite_file().map_err(journal_error)?;
        }
        std::fs::rename(&moving, &path).map_err(|e| io(&path, e))?;
        sync_dir(journals_dir).map_err(|e| io(journals_dir, e))?;
    }
    drop(old);
    std::fs::remove_file(&old_path).map_err(|e| io(&old_path, e))?;
    sync_dir(data).map_err(|e| io(data, e))?;
    tracing::info!("moved every journal into a file of its own (data layout 2)");
    Ok(())
}

/// Makes renames and removals in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
