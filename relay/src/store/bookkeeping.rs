//! Sync-health bookkeeping kept in memory between writes: when each device
//! was last in contact, last synced, and how much it said was unsent. Every
//! session notes these; writing each note with an fsync made every sync wait
//! for the disk (three durable commits per session). They are written
//! together every [`crate::limits::HEALTH_FLUSH_INTERVAL`] and at shutdown:
//! a crash loses at most that much, which each device's next sync restores.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use sync_core::sync::DeviceHealth;
use uuid::Uuid;

/// What was noted about one device since the last write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceNote {
    pub last_seen: Option<DateTime<Utc>>,
    pub last_synced: Option<DateTime<Utc>>,
    /// `Some(n)`: the device's unsent count changed to `n` (`None` = unknown).
    pub unsent: Option<Option<u32>>,
}

impl DeviceNote {
    /// `self` updated by a later note: the later value of each field wins.
    fn then(self, later: DeviceNote) -> DeviceNote {
        DeviceNote {
            last_seen: later.last_seen.or(self.last_seen),
            last_synced: later.last_synced.or(self.last_synced),
            unsent: later.unsent.or(self.unsent),
        }
    }
}

/// Notes not written yet.
#[derive(Debug, Default)]
pub struct Bookkeeping {
    notes: Mutex<HashMap<Uuid, DeviceNote>>,
}

impl Bookkeeping {
    /// The device was in contact at `at`.
    pub fn contact(&self, device: Uuid, at: DateTime<Utc>) {
        let note = DeviceNote {
            last_seen: Some(at),
            ..DeviceNote::default()
        };
        self.note(device, note);
    }

    /// The device said how many activities it has not sent (if it said).
    pub fn unsent(&self, device: Uuid, unsent: Option<u32>) {
        let note = DeviceNote {
            unsent: Some(unsent),
            ..DeviceNote::default()
        };
        self.note(device, note);
    }

    /// The device synced at `at`: the relay holds all it had, so nothing of
    /// it is unsent.
    pub fn synced(&self, device: Uuid, at: DateTime<Utc>) {
        let note = DeviceNote {
            last_synced: Some(at),
            unsent: Some(Some(0)),
            ..DeviceNote::default()
        };
        self.note(device, note);
    }

    /// Writes every note with `write`; notes it failed to write are kept
    /// for the next flush, under any noted meanwhile.
    pub fn flush<E>(
        &self,
        write: impl FnOnce(&HashMap<Uuid, DeviceNote>) -> Result<(), E>,
    ) -> Result<(), E> {
        let notes = self.take();
        if notes.is_empty() {
            return Ok(());
        }
        let written = write(&notes);
        if written.is_err() {
            self.restore(notes);
        }
        written
    }

    pub fn note(&self, device: Uuid, note: DeviceNote) {
        let mut notes = self.lock();
        let merged = notes.get(&device).copied().unwrap_or_default().then(note);
        notes.insert(device, merged);
    }

    /// Takes every note for writing.
    pub fn take(&self) -> HashMap<Uuid, DeviceNote> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back notes whose write failed, under any noted since.
    pub fn restore(&self, taken: HashMap<Uuid, DeviceNote>) {
        let mut notes = self.lock();
        for (device, older) in taken {
            let merged = match notes.get(&device) {
                Some(newer) => older.then(*newer),
                None => older,
            };
            notes.insert(device, merged);
        }
    }

    /// The registry's health rows with what was noted since the last write.
    pub fn overlay(&self, devices: &mut [DeviceHealth]) {
        let notes = self.lock();
        for device in devices {
            if let Some(note) = notes.get(&device.device) {
                device.last_contact = note.last_seen.or(device.last_contact);
                device.last_synced = note.last_synced.or(device.last_synced);
                if let Some(unsent) = note.unsent {
                    device.unsent = unsent;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, DeviceNote>> {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_notes_win_and_a_failed_write_keeps_newer_ones() {
        let book = Bookkeeping::default();
        let device = Uuid::from_u128(1);
        let (t1, t2) = (DateTime::UNIX_EPOCH, Utc::now());
        book.note(
            device,
            DeviceNote {
                last_seen: Some(t1),
                unsent: Some(Some(5)),
                ..DeviceNote::default()
            },
        );
        let taken = book.take();
        book.note(
            device,
            DeviceNote {
                last_seen: Some(t2),
                ..DeviceNote::default()
            },
        );
        book.restore(taken);
        let note = book.take()[&device];
        assert_eq!(note.last_seen, Some(t2), "the newer contact stays");
        assert_eq!(note.unsent, Some(Some(5)), "the older unsent count is kept");
    }
}
