//! `relay check`: an integrity check of the registry and every journal file,
//! for cron (docs/OPERATIONS.md). Every problem is reported in plain words;
//! the command exits non-zero when there is one.
//!
//! - The registry: redb's full check (every page's checksum), also while
//!   `relay serve` runs (the file is shared in multi-writer mode; the check
//!   holds the writer lock for its length).
//! - A journal file, the relay stopped: redb's full check, then the journal
//!   loaded (Automerge checks its own chunks' checksums on load).
//! - A journal file while `relay serve` holds it (one writer only): a
//!   consistent copy from one read transaction (every row read), loaded as
//!   above. Pages redb no longer reaches, and checksums of pages whose
//!   rows read back, are checked only by the full check: stop the relay for it.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase};
use sync_core::store::backup::copy_store;
use sync_core::store::{JournalId, SHARED_MODE, Store};

use crate::backup::journal_files;
use crate::limits::JOURNAL_FILE_CACHE_BYTES;
use crate::registry::REGISTRY_FILE;
use crate::serve_lock;
use crate::store::JOURNALS_DIR;

/// Name of the scratch file a journal is copied to while the relay serves.
const CHECK_COPY: &str = "check-copy.redb";

/// How the journal files were checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// redb's full check of every file.
    Full,
    /// The relay was serving: journals through a consistent copy.
    ReadThrough,
}

/// What `relay check` found.
#[derive(Debug)]
pub struct Report {
    pub depth: Depth,
    /// Files checked.
    pub checked: Vec<PathBuf>,
    /// (file, what is wrong) for every file that is not whole.
    pub problems: Vec<(PathBuf, String)>,
}

/// Checks the relay's data in `dir`.
pub fn check(dir: &Path) -> Report {
    let depth = if serve_lock::is_serving(dir) {
        Depth::ReadThrough
    } else {
        Depth::Full
    };
    let mut report = Report {
        depth,
        checked: Vec::new(),
        problems: Vec::new(),
    };
    let registry = dir.join(REGISTRY_FILE);
    if let Err(what) = check_registry(&registry) {
        report.problems.push((registry.clone(), what));
    }
    report.checked.push(registry);
    let journals = match journal_files(&dir.join(JOURNALS_DIR)) {
        Ok(files) => files,
        Err(e) => {
            report
                .problems
                .push((dir.join(JOURNALS_DIR), e.to_string()));
            return report;
        }
    };
    for (id, path) in journals {
        let checked = match depth {
            Depth::Full => check_journal_stopped(&path, id),
            Depth::ReadThrough => check_journal_serving(dir, &path, id),
        };
        if let Err(what) = checked {
            report.problems.push((path.clone(), what));
        }
        report.checked.push(path);
    }
    report
}

fn check_registry(path: &Path) -> Result<(), String> {
    if !path.exists() {
        return Err("it is missing (is this a relay's data folder?)".into());
    }
    let mut db = Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .open(path)
        .map_err(|e| format!("it does not open: {e}"))?;
    whole(db.check_integrity())
}

fn whole(checked: Result<bool, redb::DatabaseError>) -> Result<(), String> {
    match checked {
        Ok(true) => Ok(()),
        Ok(false) => Err(
            "it was damaged; redb repaired what it could: restore it from a \
             backup if anything is missing"
                .into(),
        ),
        Err(e) => Err(format!("it is damaged: {e}")),
    }
}

fn check_journal_stopped(path: &Path, id: uuid::Uuid) -> Result<(), String> {
    let mut store = Store::open_with_cache(path, JOURNAL_FILE_CACHE_BYTES)
        .map_err(|e| format!("it does not open: {e}"))?;
    match store.check_integrity() {
        Ok(true) => {}
        Ok(false) => {
            return Err(
                "it was damaged; redb repaired what it could: restore it from a \
                 backup if anything is missing"
                    .into(),
            );
        }
        Err(e) => return Err(format!("it is damaged: {e}")),
    }
    load(&store, id)
}

fn check_journal_serving(dir: &Path, path: &Path, id: uuid::Uuid) -> Result<(), String> {
    let copy = dir.join(CHECK_COPY);
    let _ = std::fs::remove_file(&copy);
    let checked = (|| {
        let source = Database::builder()
            .set_concurrency_mode(SHARED_MODE)
            .open_read_only(path)
            .map_err(|e| format!("it does not open: {e}"))?;
        let tx = source
            .begin_read()
            .map_err(|e| format!("it does not read: {e}"))?;
        copy_store(&tx, &copy).map_err(|e| format!("it does not read: {e}"))?;
        drop(tx);
        drop(source);
        let store = Store::open(&copy).map_err(|e| format!("it does not read back: {e}"))?;
        load(&store, id)
    })();
    let _ = sync_core::store::Store::remove_new(&copy);
    let _ = std::fs::remove_file(&copy);
    checked
}

/// Loads the journal (Automerge checks its chunks' checksums).
fn load(store: &Store, id: uuid::Uuid) -> Result<(), String> {
    store
        .load_journal(JournalId(id))
        .map(drop)
        .map_err(|e| format!("its journal does not load: {e}"))
}
