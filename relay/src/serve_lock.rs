//! The lock `relay serve` holds on its data folder (`serve.lock`) while it
//! runs: a second relay on the same folder, or a restore into it, is refused
//! with a plain message instead of two processes writing the same journals.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// The lock file's name in the data folder.
pub const SERVE_LOCK_FILE: &str = "serve.lock";

/// Why the data folder could not be locked for serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeLockError {
    #[error("another relay is already serving from {0}")]
    Serving(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while `relay serve` runs; the lock goes with the process.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

/// Locks `dir` for serving (creating the lock file).
pub fn lock_for_serving(dir: &Path) -> Result<ServeLock, ServeLockError> {
    let path = dir.join(SERVE_LOCK_FILE);
    let io = |source| ServeLockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(ServeLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(ServeLockError::Serving(dir.to_owned())),
        Err(TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Whether a relay is serving from `dir` now.
pub fn is_serving(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join(SERVE_LOCK_FILE)) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}
