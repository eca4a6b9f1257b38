//! `sync-core`: the activity model, the journal document and its durable store.
//!
//! - [`activity`]: typed activity records, parsing and validation of what people type;
//! - [`files`]: files attached to activities, told from their bytes, content-addressed
//!   (docs/ATTACHMENTS.md; the store and the wire for them are being built);
//! - [`journal`]: one centre's journal as an Automerge document with a shared genesis;
//! - [`store`]: the redb file holding journals durably (snapshot + appended changes);
//! - [`replica`]: a journal bound to its store: every change is durable before it returns;
//! - [`sync`]: the sans-IO sync protocol (docs/PROTOCOL.md): sessions fed bytes and time;
//! - [`limits`]: every bound, named, with its reason;
//! - `fuzzing` (feature `test-support`): entry points shared by the fuzz targets and the
//!   corpus replay tests; `sync::memory` (same feature): in-memory journals for tests.
//!
//! Invariants: this crate does no network I/O and reads no clock (time is passed in);
//! a change is reported as saved only after the store committed it with
//! `Durability::Immediate`.

pub mod activity;
pub mod files;
#[cfg(feature = "test-support")]
pub mod fuzzing;
pub mod journal;
pub mod limits;
pub mod replica;
pub mod store;
pub mod sync;
pub mod thumbnail;

pub use activity::{
    Activity, ActivityId, ActivityInput, ActivityPatch, Attachment, Counts, Field, FieldError,
    FieldErrors, Group, Kind, Problem,
};
pub use journal::{HistoryEntry, Journal, JournalError, NewAttachment, Stamp};
pub use replica::{Replica, ReplicaError};
pub use store::{DeviceId, JournalId, JournalInfo, NewStore, OpenError, Store, StoreError};
