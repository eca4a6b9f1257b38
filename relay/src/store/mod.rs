//! The relay's storage boundary: everything sessions and the server keep or
//! read (journals, who may sync what, sync-health bookkeeping) goes through
//! [`RelayStore`]. Two implementations: [`RedbStore`] (redb files in the
//! data folder, the default) and [`PgStore`] (PostgreSQL, shared by several
//! relay processes); sessions do not know which they use.
//!
//! Every method may block (disk, fsync, loading a journal): callers on the
//! async runtime run them on blocking threads (`tokio::task::spawn_blocking`).
//! Methods take `&self`: implementations lock what they touch, each journal
//! on its own, so sessions of different centres never wait for each other.

mod bookkeeping;
pub mod copy;
mod journals;
mod migrate;
mod postgres;
mod redb_store;
mod slots;

pub use bookkeeping::{Bookkeeping, DeviceNote};
pub use journals::{CompactionCopy, DISK_FULL_MESSAGE, EraseError, Journals};
pub use migrate::MigrationError;
pub use postgres::{
    DATABASE_UNREACHABLE_MESSAGE, DbError, FROM_ANOTHER_RELAY, LATEST_SCHEMA_VERSION, PgStore,
};
pub use redb_store::{JOURNALS_DIR, OpenStoreError, RedbStore};

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use sync_core::ActivityId;
use sync_core::files::FileHash;
use sync_core::store::{FileDescription, ReceiveChunkError, StoredFile};
use sync_core::sync::files::RelayFiles;
use sync_core::sync::{Batch, DeviceHealth, JournalGrant, Received, RelayStorage, StorageFailure};
use uuid::Uuid;

use crate::registry::{Centre, Device, RegistryError};
use crate::tls::Fingerprint;

/// Where the relay keeps its data (`--store`, `store` in relay.toml).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum StoreLocation {
    /// redb files in the data folder: the default, one relay process.
    #[default]
    DataDir,
    /// A PostgreSQL database (`postgres://…`), which several relay
    /// processes may share.
    Postgres(String),
}

impl StoreLocation {
    /// Opens the store of the admin commands: the registry as they change it.
    pub fn open_registry(
        &self,
        data_dir: &std::path::Path,
    ) -> Result<Box<dyn crate::registry::RegistryAdmin>, OpenStoreError> {
        Ok(match self {
            StoreLocation::DataDir => Box::new(crate::registry::Registry::open(data_dir)?),
            StoreLocation::Postgres(url) => Box::new(PgStore::connect_tool(url)?),
        })
    }
}

/// File in the data folder of a relay serving from PostgreSQL, naming no
/// more than that (no address: it may hold a password). An admin command
/// given no store on such a folder refuses instead of using the folder's
/// own registry, which no relay serves.
pub const STORE_MARKER_FILE: &str = "store-is-postgresql";

/// Marks `data_dir` as the folder of a relay serving from `store` (or
/// unmarks it for the data folder's own store).
pub fn mark_store_of(data_dir: &std::path::Path, store: &StoreLocation) -> std::io::Result<()> {
    let marker = data_dir.join(STORE_MARKER_FILE);
    match store {
        StoreLocation::Postgres(_) => std::fs::write(
            marker,
            "This relay keeps its data in PostgreSQL (docs/POSTGRES.md).\n",
        ),
        StoreLocation::DataDir => match std::fs::remove_file(marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// Refuses the data folder's own store for a folder a relay serves from
/// PostgreSQL ([`STORE_MARKER_FILE`]).
pub fn check_store_of(
    data_dir: &std::path::Path,
    store: &StoreLocation,
) -> Result<(), OpenStoreError> {
    if *store == StoreLocation::DataDir && data_dir.join(STORE_MARKER_FILE).exists() {
        return Err(OpenStoreError::StoreNotGiven(data_dir.to_owned()));
    }
    Ok(())
}

/// Never prints the database address: it may hold a password.
impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::DataDir => f.write_str("DataDir"),
            StoreLocation::Postgres(_) => f.write_str("Postgres(…)"),
        }
    }
}

impl std::str::FromStr for StoreLocation {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text == "data-dir" {
            Ok(StoreLocation::DataDir)
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres(text.to_owned()))
        } else {
            Err(
                "a store is data-dir (the data folder, the default) or a PostgreSQL address, \
                 postgres://user:password@host/database"
                    .into(),
            )
        }
    }
}

/// What a device sends to enrol, checked against the registry.
#[derive(Debug)]
pub struct EnrolRequest<'a> {
    pub secret: &'a [u8; 32],
    pub device: Uuid,
    pub name: &'a str,
    pub cert: Fingerprint,
    pub now: DateTime<Utc>,
}

/// The relay's storage, as sessions and the server use it.
pub trait RelayStore: Send + Sync + 'static {
    // ---- journals (see `sync_core::sync::RelayStorage` for each) ----

    fn state(&self, journal: Uuid) -> Result<(u32, Vec<ChangeHash>), StorageFailure>;
    fn contains_all(&self, journal: Uuid, hashes: &[ChangeHash]) -> Result<bool, StorageFailure>;
    fn missing(
        &self,
        journal: Uuid,
        epoch: u32,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure>;
    fn batch(
        &self,
        journal: Uuid,
        epoch: u32,
        plan: &[ChangeHash],
    ) -> Result<Option<Batch>, StorageFailure>;
    fn apply_durably(
        &self,
        journal: Uuid,
        epoch: u32,
        changes: Received,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure>;
    fn erase(&self, activity: Uuid) -> Result<Option<(Uuid, u32)>, StorageFailure>;
    /// Housekeeping a journal may need after changes were stored (folding
    /// appended changes into a snapshot), done off the sync path.
    fn maintain(&self, journal: Uuid);
    /// The same for every journal that needs it, once, as the relay starts
    /// (a relay stopped before a quiet-time compaction); how many it folded.
    fn maintain_all(&self) -> usize;
    /// Starts telling `news` of changes other relay processes store into
    /// this store, as `(journal, FROM_ANOTHER_RELAY)`: a store several
    /// relays share does; one file's store has no other relay.
    fn follow_other_relays(&self, news: tokio::sync::broadcast::Sender<(Uuid, u64)>) {
        let _ = news;
    }

    // ---- files attached to records (see `sync_core::sync::files::RelayFiles`) ----

    fn attachment_bytes(
        &self,
        journal: Uuid,
        activity: ActivityId,
        file: FileHash,
    ) -> Result<Option<u64>, StorageFailure>;
    fn held_file(
        &self,
        journal: Uuid,
        hash: FileHash,
    ) -> Result<Option<StoredFile>, StorageFailure>;
    fn file_bytes(&self, journal: Uuid) -> Result<u64, StorageFailure>;
    fn receive_file_chunk(
        &self,
        journal: Uuid,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<Result<StoredFile, ReceiveChunkError>, StorageFailure>;
    fn file_chunk(
        &self,
        journal: Uuid,
        hash: FileHash,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageFailure>;

    // ---- who may sync what ----

    /// The device presenting this certificate, if enrolled.
    fn device_by_cert(&self, cert: &Fingerprint) -> Result<Option<Device>, RegistryError>;
    /// The journals `device` may sync.
    fn grants_for(&self, device: &Device) -> Result<Vec<JournalGrant>, RegistryError>;
    /// Redeems an enrolment secret (durably); the device and its centre.
    fn enrol(&self, request: EnrolRequest<'_>) -> Result<(Device, Centre), RegistryError>;
    /// The enrolment `device` made with `secret` (the device and its centre),
    /// for a device that lost the answer; `None` if it did not redeem it.
    fn enrolled_with(
        &self,
        secret: &[u8; 32],
        device: Uuid,
    ) -> Result<Option<(Device, Centre)>, RegistryError>;

    // ---- sync health: kept in memory, written every so often ----

    /// Every device's sync health, with what was noted since the last flush.
    fn health(&self) -> Result<Vec<DeviceHealth>, RegistryError>;
    fn note_contact(&self, device: Uuid, at: DateTime<Utc>);
    fn note_unsent(&self, device: Uuid, unsent: Option<u32>);
    fn note_synced(&self, device: Uuid, at: DateTime<Utc>);
    /// Writes what was noted to durable storage.
    fn flush_notes(&self) -> Result<(), RegistryError>;
}

/// A [`RelayStore`] as a sans-IO [`sync_core::sync::RelaySession`] needs it.
#[derive(Debug)]
pub struct SessionStorage<'a, S: ?Sized>(pub &'a S);

impl<S: RelayStore + ?Sized> RelayStorage for SessionStorage<'_, S> {
    fn state(&mut self, journal: Uuid) -> Result<(u32, Vec<ChangeHash>), StorageFailure> {
        self.0.state(journal)
    }

    fn contains_all(
        &mut self,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure> {
        self.0.contains_all(journal, hashes)
    }

    fn missing(
        &mut self,
        journal: Uuid,
        epoch: u32,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        self.0.missing(journal, epoch, known, limit)
    }

    fn batch(
        &mut self,
        journal: Uuid,
        epoch: u32,
        plan: &[ChangeHash],
    ) -> Result<Option<Batch>, StorageFailure> {
        self.0.batch(journal, epoch, plan)
    }

    fn apply_durably(
        &mut self,
        journal: Uuid,
        epoch: u32,
        changes: Received,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        self.0.apply_durably(journal, epoch, changes)
    }

    fn erase(&mut self, activity: Uuid) -> Result<Option<(Uuid, u32)>, StorageFailure> {
        self.0.erase(activity)
    }
}

impl<S: RelayStore + ?Sized> RelayFiles for SessionStorage<'_, S> {
    fn attachment_bytes(
        &mut self,
        journal: Uuid,
        activity: ActivityId,
        file: FileHash,
    ) -> Result<Option<u64>, StorageFailure> {
        self.0.attachment_bytes(journal, activity, file)
    }

    fn held_file(
        &mut self,
        journal: Uuid,
        hash: FileHash,
    ) -> Result<Option<StoredFile>, StorageFailure> {
        self.0.held_file(journal, hash)
    }

    fn file_bytes(&mut self, journal: Uuid) -> Result<u64, StorageFailure> {
        self.0.file_bytes(journal)
    }

    fn receive_file_chunk(
        &mut self,
        journal: Uuid,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<Result<StoredFile, ReceiveChunkError>, StorageFailure> {
        self.0.receive_file_chunk(journal, file, number, chunk)
    }

    fn file_chunk(
        &mut self,
        journal: Uuid,
        hash: FileHash,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageFailure> {
        self.0.file_chunk(journal, hash, number)
    }
}
