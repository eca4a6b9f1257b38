//! The backup file's format: named files one after the other, each with its
//! SHA-256, so that damage anywhere is found before anything is restored.
//!
//! ```text
//! "KRC-RELAY-BACKUP"            16 bytes
//! format version                u32 little-endian (FORMAT_VERSION)
//! then, for each file:
//!   name length                 u16 little-endian
//!   name                        UTF-8 ("registry.redb", "journals/<id>.redb", ...)
//!   data length                 u64 little-endian
//!   data
//!   SHA-256 of data             32 bytes
//! the last file is "manifest.json" (what every other file holds);
//! "KRC-BACKUP-END\0\0"          16 bytes
//! ```

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sync_core::store::backup::hex;

use crate::limits::MAX_BACKUP_NAME_BYTES;

const MAGIC: &[u8; 16] = b"KRC-RELAY-BACKUP";
const END: &[u8; 16] = b"KRC-BACKUP-END\0\0";
/// Version of this format; a newer one is refused with a plain message.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes copied at a time between files (files are streamed, never held whole).
const COPY_CHUNK_BYTES: usize = 64 * 1024;

/// Why a backup file could not be read (nothing was restored).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a relay backup file")]
    NotABackup(PathBuf),
    #[error("{path} was made by a newer version of the relay (backup format {found})")]
    Newer { path: PathBuf, found: u32 },
    #[error("the backup file {path} is cut short (it was not written to its end)")]
    CutShort { path: PathBuf },
    #[error("the backup file {path} is damaged: {what}")]
    Damaged { path: PathBuf, what: String },
}

/// Writes a backup file, one named file after another.
#[derive(Debug)]
pub(super) struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Writer {
    /// Creates (truncating) the file at `path`.
    pub(super) fn create(path: &Path) -> Result<Writer, ContainerError> {
        let file = create_private(path).map_err(|source| write_err(path, source))?;
        let mut writer = Writer {
            path: path.to_owned(),
            out: BufWriter::new(file),
        };
        writer.put(MAGIC)?;
        writer.put(&FORMAT_VERSION.to_le_bytes())?;
        Ok(writer)
    }

    /// Appends the file at `from` under `name`; returns its SHA-256 (hex) and size.
    pub(super) fn add_file(
        &mut self,
        name: &str,
        from: &Path,
    ) -> Result<(String, u64), ContainerError> {
        let file = File::open(from).map_err(|source| read_err(from, source))?;
        let len = file
            .metadata()
            .map_err(|source| read_err(from, source))?
            .len();
        self.header(name, len)?;
        let mut digest = Sha256::new();
        let mut reader = BufReader::new(file).take(len);
        let mut buf = vec![0; COPY_CHUNK_BYTES];
        let mut copied = 0;
        loop {
            let n = reader.read(&mut buf).map_err(|s| read_err(from, s))?;
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
            self.put(&buf[..n])?;
            copied += n as u64;
        }
        if copied != len {
            return Err(read_err(
                from,
                std::io::Error::other("the file changed size while it was copied"),
            ));
        }
        let sum = digest.finalize();
        self.put(&sum)?;
        Ok((hex(&sum), len))
    }

    /// Appends `data` under `name`; returns its SHA-256 (hex).
    pub(super) fn add_bytes(&mut self, name: &str, data: &[u8]) -> Result<String, ContainerError> {
        self.header(name, data.len() as u64)?;
        self.put(data)?;
        let sum = Sha256::digest(data);
        self.put(&sum)?;
        Ok(hex(&sum))
    }

    /// Writes the end marker and makes the whole file durable.
    pub(super) fn finish(mut self) -> Result<(), ContainerError> {
        self.put(END)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| write_err(&self.path, e.into_error()))?;
        file.sync_all()
            .map_err(|source| write_err(&self.path, source))
    }

    fn header(&mut self, name: &str, len: u64) -> Result<(), ContainerError> {
        assert!(
            name.len() <= MAX_BACKUP_NAME_BYTES,
            "backup entry names are ours and short"
        );
        self.put(&(name.len() as u16).to_le_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&len.to_le_bytes())
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), ContainerError> {
        self.out
            .write_all(bytes)
            .map_err(|source| write_err(&self.path, source))
    }
}

/// Reads a backup file one named file at a time.
#[derive(Debug)]
pub(super) struct Reader {
    path: PathBuf,
    input: BufReader<File>,
}

impl Reader {
    /// Opens the file at `path` and checks its header.
    pub(super) fn open(path: &Path) -> Result<Reader, ContainerError> {
        let file = File::open(path).map_err(|source| read_err(path, source))?;
        let mut reader = Reader {
            path: path.to_owned(),
            input: BufReader::new(file),
        };
        let mut magic = [0; 16];
        if reader.fill(&mut magic).is_err() || &magic != MAGIC {
            return Err(ContainerError::NotABackup(path.to_owned()));
        }
        let version = u32::from_le_bytes(reader.array()?);
        if version > FORMAT_VERSION {
            return Err(ContainerError::Newer {
                path: path.to_owned(),
                found: version,
            });
        }
        Ok(reader)
    }

    /// The next file's name, or `None` at the end marker.
    pub(super) fn next_name(&mut self) -> Result<Option<String>, ContainerError> {
        let first: [u8; 2] = self.array()?;
        if first == END[..2] {
            let mut rest = [0; 14];
            self.fill(&mut rest)?;
            if rest != END[2..] {
                return Err(self.damaged("its end marker is wrong"));
            }
            return Ok(None);
        }
        let len = usize::from(u16::from_le_bytes(first));
        if len == 0 || len > MAX_BACKUP_NAME_BYTES {
            return Err(self.damaged("a file name's length is impossible"));
        }
        let mut name = vec![0; len];
        self.fill(&mut name)?;
        String::from_utf8(name)
            .map(Some)
            .map_err(|_| self.damaged("a file name is not text"))
    }

    /// Copies the current file's data to `to` (made durable) and checks its
    /// SHA-256; returns the hex SHA-256.
    pub(super) fn copy_to(&mut self, name: &str, to: &Path) -> Result<String, ContainerError> {
        let len = u64::from_le_bytes(self.array()?);
        let file = create_private(to).map_err(|source| write_err(to, source))?;
        let mut out = BufWriter::new(file);
        let mut digest = Sha256::new();
        let mut left = len;
        let mut buf = vec![0; COPY_CHUNK_BYTES];
        while left > 0 {
            let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
            self.fill(&mut buf[..n])?;
            digest.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|source| write_err(to, source))?;
            left -= n as u64;
        }
        let stored: [u8; 32] = self.array()?;
        let sum = digest.finalize();
        if sum[..] != stored {
            return Err(self.damaged(&format!("{name} fails its checksum")));
        }
        let file = out
            .into_inner()
            .map_err(|e| write_err(to, e.into_error()))?;
        file.sync_all().map_err(|source| write_err(to, source))?;
        Ok(hex(&sum))
    }

    /// Reads the current file's data into memory, at most `max` bytes, and
    /// checks its SHA-256.
    pub(super) fn read_small(&mut self, name: &str, max: usize) -> Result<Vec<u8>, ContainerError> {
        let len = u64::from_le_bytes(self.array()?);
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| self.damaged(&format!("{name} is larger than it can be")))?;
        let mut data = vec![0; len];
        self.fill(&mut data)?;
        let stored: [u8; 32] = self.array()?;
        if Sha256::digest(&data)[..] != stored {
            return Err(self.damaged(&format!("{name} fails its checksum")));
        }
        Ok(data)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ContainerError> {
        let mut bytes = [0; N];
        self.fill(&mut bytes)?;
        Ok(bytes)
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), ContainerError> {
        self.input.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ContainerError::CutShort {
                    path: self.path.clone(),
                }
            } else {
                read_err(&self.path, e)
            }
        })
    }

    fn damaged(&self, what: &str) -> ContainerError {
        ContainerError::Damaged {
            path: self.path.clone(),
            what: what.to_owned(),
        }
    }
}

/// Creates (truncating) a file only its owner may read: a backup holds the
/// relay's private key.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn read_err(path: &Path, source: std::io::Error) -> ContainerError {
    ContainerError::Read {
        path: path.to_owned(),
        source,
    }
}

fn write_err(path: &Path, source: std::io::Error) -> ContainerError {
    ContainerError::Write {
        path: path.to_owned(),
        source,
    }
}
