//! [`RedbStore`]: the relay's storage in its data folder, as redb files.
//!
//! | file | what |
//! |---|---|
//! | `registry.redb` | centres, devices, enrolment codes (`crate::registry`) |
//! | `journals/<id>.redb` | one centre's journal (`sync_core::store::Store`) |
//!
//! The registry is shared with the admin commands (other processes); the
//! journal files belong to `relay serve` alone.

use std::path::Path;
use std::sync::Arc;

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use sync_core::ActivityId;
use sync_core::files::FileHash;
use sync_core::store::{FileDescription, ReceiveChunkError, StoredFile};
use sync_core::sync::{Batch, DeviceHealth, JournalGrant, Received, StorageFailure};
use uuid::Uuid;

use super::bookkeeping::Bookkeeping;
use super::copy::CopyError;
use super::journals::{DISK_FULL_MESSAGE, EraseError, Journals};
use super::migrate::{self, MigrationError};
use super::{EnrolRequest, RelayStore};
use crate::registry::{Centre, Device, Registry, RegistryError};
use crate::tls::Fingerprint;

/// Folder of the journal files in the data folder.
pub const JOURNALS_DIR: &str = "journals";

/// Why the relay's storage could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenStoreError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error(transparent)]
    Database(#[from] super::DbError),
    #[error(
        "this relay's key ({}) is not the key the other relays on this database serve with \
         ({}): copy relay.cert.der and relay.key.der from the first relay's data folder into \
         this one's (docs/OPERATIONS.md, \"Two relays\")",
        ours.short(), deployment.short()
    )]
    OtherKey {
        ours: Fingerprint,
        deployment: Fingerprint,
    },
    #[error(
        "this relay's data folder holds no key, and the relays on this database serve with key \
         {}: copy relay.cert.der and relay.key.der from the first relay's data folder into \
         this one's (docs/OPERATIONS.md, \"Two relays\")",
        deployment.short()
    )]
    MissingKey { deployment: Fingerprint },
    #[error(
        "the relay of {0} keeps its data in PostgreSQL: give the same --store as `relay \
         serve` (or RELAY_STORE, or --config with its relay.toml)"
    )]
    StoreNotGiven(std::path::PathBuf),
}

/// The relay's storage in a data folder.
#[derive(Debug)]
pub struct RedbStore {
    registry: Arc<Registry>,
    journals: Journals,
    notes: Bookkeeping,
}

impl RedbStore {
    /// Opens the data folder `dir` (creating what is missing), first moving
    /// journals of an earlier layout into files of their own.
    pub fn open(dir: &Path) -> Result<RedbStore, OpenStoreError> {
        let registry = Arc::new(Registry::open(dir)?);
        let journals_dir = dir.join(JOURNALS_DIR);
        migrate::journals_to_files(dir, &journals_dir)?;
        Ok(RedbStore {
            journals: Journals::new(&journals_dir, registry.clone()),
            registry,
            notes: Bookkeeping::default(),
        })
    }

    /// The journals (for tests, benches and the erasure's own API).
    pub fn journals(&self) -> &Journals {
        &self.journals
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs a registry operation; after an I/O error (redb refuses all later
    /// work until the file is reopened) reopens it and tries once more.
    fn registry_op<T>(
        &self,
        op: impl Fn(&Registry) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        match op(&self.registry) {
            Err(e) if e.needs_reopen() => {
                tracing::warn!(error = %e, "the registry failed a disk operation; reopening it");
                self.registry.reopen()?;
                op(&self.registry)
            }
            other => other,
        }
    }
}

impl super::copy::StoreCopy for RedbStore {
    fn registry_rows(&self) -> Result<crate::registry::RegistryRows, CopyError> {
        Ok(self.registry.rows()?)
    }

    fn put_registry_rows(&self, rows: &crate::registry::RegistryRows) -> Result<(), CopyError> {
        Ok(self.registry.put_rows(rows)?)
    }

    fn journal_ids(&self) -> Result<Vec<Uuid>, CopyError> {
        Ok(self
            .journals
            .journal_files()
            .map_err(StorageFailure::local)?)
    }

    fn journal_copy(&self, journal: Uuid) -> Result<(u32, sync_core::Journal), CopyError> {
        let epoch = self.journals.state(journal)?.0;
        Ok((epoch, self.journals.copy_of(journal)?))
    }

    fn put_journal_copy(
        &self,
        journal: Uuid,
        epoch: u32,
        copy: &sync_core::Journal,
    ) -> Result<(), CopyError> {
        Ok(self.journals.put_copy(journal, epoch, copy)?)
    }

    fn files_of(&self, journal: Uuid) -> Result<Vec<StoredFile>, CopyError> {
        Ok(self.journals.files(journal)?)
    }

    fn is_empty(&self) -> Result<bool, CopyError> {
        let rows = self.registry.rows()?;
        let only_office = rows.centres.iter().all(|c| c.id == rows.office_centre);
        Ok(only_office
            && rows.devices.is_empty()
            && rows.codes.is_empty()
            && self.journal_ids()?.is_empty())
    }
}

impl RelayStore for RedbStore {
    fn state(&self, journal: Uuid) -> Result<(u32, Vec<ChangeHash>), StorageFailure> {
        self.journals.state(journal)
    }

    fn contains_all(&self, journal: Uuid, hashes: &[ChangeHash]) -> Result<bool, StorageFailure> {
        self.journals.contains_all(journal, hashes)
    }

    fn missing(
        &self,
        journal: Uuid,
        epoch: u32,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        self.journals.missing(journal, epoch, known, limit)
    }

    fn batch(
        &self,
        journal: Uuid,
        epoch: u32,
        plan: &[ChangeHash],
    ) -> Result<Option<Batch>, StorageFailure> {
        self.journals.batch(journal, epoch, plan)
    }

    fn apply_durably(
        &self,
        journal: Uuid,
        epoch: u32,
        changes: Received,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        let (count, started) = (changes.len(), std::time::Instant::now());
        let stored = self.journals.apply_durably(journal, epoch, changes)?;
        if stored.is_some() {
            crate::telemetry::stored(count, started.elapsed());
        }
        Ok(stored)
    }

    fn attachment_bytes(
        &self,
        journal: Uuid,
        activity: ActivityId,
        file: FileHash,
    ) -> Result<Option<u64>, StorageFailure> {
        self.journals.attachment_bytes(journal, activity, file)
    }

    fn held_file(
        &self,
        journal: Uuid,
        hash: FileHash,
    ) -> Result<Option<StoredFile>, StorageFailure> {
        self.journals.held_file(journal, hash)
    }

    fn file_bytes(&self, journal: Uuid) -> Result<u64, StorageFailure> {
        self.journals.file_bytes(journal)
    }

    fn receive_file_chunk(
        &self,
        journal: Uuid,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<Result<StoredFile, ReceiveChunkError>, StorageFailure> {
        self.journals
            .receive_file_chunk(journal, file, number, chunk)
    }

    fn file_chunk(
        &self,
        journal: Uuid,
        hash: FileHash,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageFailure> {
        self.journals.file_chunk(journal, hash, number)
    }

    fn erase(&self, activity: Uuid) -> Result<Option<(Uuid, u32)>, StorageFailure> {
        match self
            .journals
            .erase_activity(ActivityId(activity), Utc::now())
        {
            Ok((journal, epoch)) => {
                tracing::info!(%activity, %journal, epoch, "erased");
                Ok(Some((journal, epoch)))
            }
            Err(EraseError::NotFound(_)) => Ok(None),
            Err(EraseError::Storage(e)) => Err(e),
            Err(EraseError::Store(e)) if e.is_disk_full() => {
                Err(StorageFailure::Unavailable(DISK_FULL_MESSAGE))
            }
            Err(e) => Err(StorageFailure::local(e)),
        }
    }

    fn maintain(&self, journal: Uuid) {
        self.journals.maintain(journal);
    }

    fn maintain_all(&self) -> usize {
        self.journals.compact_those_due()
    }

    fn device_by_cert(&self, cert: &Fingerprint) -> Result<Option<Device>, RegistryError> {
        self.registry_op(|r| r.device_by_cert(cert))
    }

    fn grants_for(&self, device: &Device) -> Result<Vec<JournalGrant>, RegistryError> {
        self.registry_op(|r| r.grants_for(device))
    }

    fn enrol(&self, request: EnrolRequest<'_>) -> Result<(Device, Centre), RegistryError> {
        self.registry_op(|r| {
            let device = r.enrol(
                request.secret,
                request.device,
                request.name,
                request.cert,
                request.now,
            )?;
            let centre = r.centre(device.centre)?;
            Ok((device, centre))
        })
    }

    fn enrolled_with(
        &self,
        secret: &[u8; 32],
        device: Uuid,
    ) -> Result<Option<(Device, Centre)>, RegistryError> {
        self.registry_op(|r| match r.redeemed_by(secret, device)? {
            Some(device) => {
                let centre = r.centre(device.centre)?;
                Ok(Some((device, centre)))
            }
            None => Ok(None),
        })
    }

    fn health(&self) -> Result<Vec<DeviceHealth>, RegistryError> {
        let mut devices = self.registry_op(|r| r.health())?;
        self.notes.overlay(&mut devices);
        Ok(devices)
    }

    fn note_contact(&self, device: Uuid, at: DateTime<Utc>) {
        self.notes.contact(device, at);
    }

    fn note_unsent(&self, device: Uuid, unsent: Option<u32>) {
        self.notes.unsent(device, unsent);
    }

    fn note_synced(&self, device: Uuid, at: DateTime<Utc>) {
        self.notes.synced(device, at);
    }

    fn flush_notes(&self) -> Result<(), RegistryError> {
        self.notes
            .flush(|notes| self.registry_op(|r| r.apply_notes(notes)))
    }
}
