//! A disk that loses power: a redb storage backend for tests that keeps only
//! what was synced (`sync_data`) for certain, and at a power cut keeps an
//! arbitrary subset of the writes made since, the last of them possibly torn.
//!
//! The running process sees every write at once (as through an OS page cache).
//! [`CrashDisk::cut_after`] arms a power cut after a number of backend
//! operations; from then on every operation fails, as if the machine had
//! stopped. [`CrashDisk::restart`] then decides what the platters kept and
//! hands the next "process" that image:
//! - every byte synced before the cut survives;
//! - each write since the last sync survives or not, independently (a disk
//!   may write its cache in any order);
//! - a surviving write may be torn: only its first sectors reached the disk
//!   (sectors of [`SECTOR_BYTES`] are written whole or not at all).

use std::sync::{Arc, Mutex};

use crate::Rng;

/// The unit a disk writes atomically.
pub const SECTOR_BYTES: usize = 512;

#[derive(Debug)]
enum Unsynced {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct DiskState {
    /// The bytes as of the last completed sync: what survives any power cut.
    durable: Vec<u8>,
    /// What the running process sees.
    current: Vec<u8>,
    /// Changes since the last sync, in order.
    unsynced: Vec<Unsynced>,
    /// Backend operations left before the power cut; `None`: no cut armed.
    ops_until_cut: Option<u64>,
    /// The power is off: every operation fails until [`CrashDisk::restart`].
    cut: bool,
    /// Backend operations so far (to choose cut points within a workload).
    ops: u64,
    /// Writes (and syncs) still to fail with an I/O error, changing nothing.
    failing_writes: u32,
}

/// The disk, shared by the test and the backends it hands out.
#[derive(Clone, Debug, Default)]
pub struct CrashDisk(Arc<Mutex<DiskState>>);

impl CrashDisk {
    pub fn new() -> CrashDisk {
        CrashDisk::default()
    }

    /// A backend for a process that starts now (hand it to redb).
    pub fn backend(&self) -> CrashBackend {
        CrashBackend(self.clone())
    }

    /// Cuts the power after `ops` more backend operations.
    pub fn cut_after(&self, ops: u64) {
        self.state().ops_until_cut = Some(ops);
    }

    /// The next `n` writes, syncs or length changes fail with an I/O error
    /// and change nothing: a disk write error, with the power on.
    pub fn fail_next_writes(&self, n: u32) {
        self.state().failing_writes = n;
    }

    /// True once the power was cut.
    pub fn is_cut(&self) -> bool {
        self.state().cut
    }

    /// Backend operations since the disk was made.
    pub fn ops(&self) -> u64 {
        self.state().ops
    }

    /// Bytes on the disk as the running process sees them.
    pub fn contents(&self) -> Vec<u8> {
        self.state().current.clone()
    }

    /// The power comes back (cutting it first if it was still on): the disk
    /// holds what it synced plus whatever `rng` decides survived of the rest.
    pub fn restart(&self, rng: &mut Rng) {
        let mut s = self.state();
        let mut image = s.durable.clone();
        for change in std::mem::take(&mut s.unsynced) {
            if !rng.chance(0.5) {
                continue;
            }
            match change {
                Unsynced::SetLen(len) => image.resize(len as usize, 0),
                Unsynced::Write { offset, data } => {
                    let sectors = data.len().div_ceil(SECTOR_BYTES);
                    let kept = if rng.chance(0.25) {
                        rng.below(sectors as u64 + 1) as usize * SECTOR_BYTES
                    } else {
                        data.len()
                    };
                    write_at(&mut image, offset, &data[..kept.min(data.len())]);
                }
            }
        }
        s.durable = image.clone();
        s.current = image;
        s.cut = false;
        s.ops_until_cut = None;
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DiskState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn write_at(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let end = offset as usize + data.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[offset as usize..end].copy_from_slice(data);
}

/// One process's handle on the disk.
#[derive(Debug)]
pub struct CrashBackend(CrashDisk);

impl CrashBackend {
    /// Counts one operation; fails once the power is (or just went) off.
    fn operate(&self) -> Result<std::sync::MutexGuard<'_, DiskState>, std::io::Error> {
        let mut s = self.0.state();
        if let Some(left) = s.ops_until_cut {
            if left == 0 {
                s.cut = true;
            } else {
                s.ops_until_cut = Some(left - 1);
            }
        }
        if s.cut {
            return Err(std::io::Error::other("the power is off"));
        }
        s.ops += 1;
        Ok(s)
    }

    /// Like [`CrashBackend::operate`], for operations that change the disk.
    fn modify(&self) -> Result<std::sync::MutexGuard<'_, DiskState>, std::io::Error> {
        let mut s = self.operate()?;
        if s.failing_writes > 0 {
            s.failing_writes -= 1;
            return Err(std::io::Error::other("disk write error"));
        }
        Ok(s)
    }
}

impl redb::StorageBackend for CrashBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.operate()?.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let s = self.operate()?;
        let end = offset as usize + out.len();
        let Some(bytes) = s.current.get(offset as usize..end) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "read past the end of the disk",
            ));
        };
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        let mut s = self.modify()?;
        s.current.resize(len as usize, 0);
        s.unsynced.push(Unsynced::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        let mut s = self.modify()?;
        // The durable bytes catch up with the process's view (applied change by
        // change: cheaper than copying the whole disk on every sync).
        let DiskState {
            durable, unsynced, ..
        } = &mut *s;
        for change in unsynced.drain(..) {
            match change {
                Unsynced::SetLen(len) => durable.resize(len as usize, 0),
                Unsynced::Write { offset, data } => write_at(durable, offset, &data),
            }
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut s = self.modify()?;
        write_at(&mut s.current, offset, data);
        s.unsynced.push(Unsynced::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }
}
