//! The sync layer's errors. Each says in plain words what happened (its
//! `Display`, which a relay also sends to the device in its `Error` frame)
//! and carries in its variant what a caller decides on: whose fault it was,
//! whether to retry, which change or journal it concerns.

use std::sync::Arc;

use automerge::{ActorId, ChangeHash};
use uuid::Uuid;

use super::PROTOCOL_VERSION;
use super::wire::{DecodeError, EncodeError, ErrorCode};

/// Why a session ended. Every variant leaves durable state consistent: the
/// next session starts from what was acknowledged and resumes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("the other side sent something invalid: {0}")]
    Protocol(#[from] ProtocolError),
    /// The device asked for something it may not do (the relay says what).
    #[error("{0}")]
    NotAllowed(#[from] NotAllowed),
    /// The other side ended the session with an `Error` frame, in its words.
    #[error("the other side refused: {message}")]
    Refused { code: ErrorCode, message: String },
    /// The relay's copy of a journal is older than this device's: it was
    /// restored from a backup made before an erasure (docs/ERASURE.md).
    #[error(
        "the office server's copy of journal {journal} is older than this device's (epoch \
         {relay_epoch}, not {ours}): it was restored from a backup made before an erasure; the \
         office must restore a backup made after it (docs/OPERATIONS.md)"
    )]
    RelayBehind {
        journal: Uuid,
        relay_epoch: u32,
        ours: u32,
    },
    #[error("no answer within the time limit")]
    TimedOut,
    #[error("the exchange made no progress; starting over")]
    NoProgress,
    #[error("local storage failed: {0}")]
    Storage(StorageFailure),
    /// The relay cannot store now (its disk is full) and says so in words
    /// for the volunteer; everything stays on the device for later.
    #[error("{0}")]
    Unavailable(&'static str),
    /// A frame this side made is over a wire limit (a bug here, not the
    /// peer's fault).
    #[error("cannot encode a frame: {0}")]
    Encode(#[from] EncodeError),
    #[error("the session was closed")]
    Closed,
    /// The two sides speak different versions of the protocol: one of the
    /// programs must be updated (which one, when it can be told).
    #[error(transparent)]
    Version(#[from] VersionMismatch),
}

/// How a storage failure ends a session: refused changes are the peer's
/// fault, a full disk is told as such, anything else is ours.
impl From<StorageFailure> for SessionError {
    fn from(e: StorageFailure) -> Self {
        match e {
            StorageFailure::Refused(refused) => SessionError::Protocol(refused.into()),
            StorageFailure::Unavailable(words) => SessionError::Unavailable(words),
            other => SessionError::Storage(other),
        }
    }
}

/// The peer broke the protocol: an unreadable frame, a frame out of turn,
/// damaged or refused changes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error(transparent)]
    Unreadable(#[from] DecodeError),
    #[error("unexpected frame {0}")]
    UnexpectedFrame(&'static str),
    /// A device spoke another protocol version to this relay; the words
    /// are the `Error` frame's message (see [`VersionMismatch::relay_words`]).
    #[error("{}", VersionMismatch::relay_words(*.0))]
    DeviceVersion(u16),
    /// A frame that is well formed but makes no sense now (what, in words).
    #[error("{0}")]
    OutOfTurn(&'static str),
    #[error("a batch of changes is damaged: {0}")]
    DamagedBatch(#[from] DamagedChanges),
    #[error(transparent)]
    Refused(#[from] RefusedChanges),
}

/// Something a device may not do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAllowed {
    #[error("this device may not sync journal {0}")]
    Sync(Uuid),
    #[error("this device may not write journal {0}")]
    Write(Uuid),
    #[error("only the office may erase records")]
    Erase,
    /// The device sent a change another device wrote, which the relay
    /// neither holds nor vouched for: it may be forged.
    #[error(
        "this device sent a change written by another device ({0}) that this office server \
         never stored; a device may send only its own changes. Nothing of the batch was stored"
    )]
    ForeignChange(ActorId),
    /// An enrolled device sent `Enrol` with a code it did not redeem (or as
    /// another device): it is enrolled already, and stays as it was.
    #[error(
        "this device is enrolled already, and not with this code; ask the office to revoke it \
         first to enrol it again"
    )]
    EnrolAgain,
}

/// Bytes that should hold changes and do not.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DamagedChanges {
    /// The chunk header names another kind of chunk ("a change", "a bundle").
    #[error("it is not {0}")]
    WrongChunk(&'static str),
    /// A bundle claims more than a batch may hold (checked before Automerge
    /// trusts its sizes), in words naming what.
    #[error("{0}")]
    OverLimits(&'static str),
    /// The document library refused the bytes, in its own words.
    #[error("{0}")]
    Library(String),
    #[error("the document library could not parse it")]
    LibraryPanicked,
    #[error("a change's length is cut off")]
    LengthCutOff,
    #[error("a change is cut off")]
    CutOff,
    #[error("bytes left over after the last change")]
    LeftOver,
    #[error("it does not hold the changes it announces")]
    NotAsAnnounced,
}

/// Received changes a journal refuses (docs/PROTOCOL.md, "What a receiver
/// checks"); nothing of their batch is stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefusedChanges {
    #[error("change {0} is damaged: its operations do not encode to its bytes")]
    NotCanonical(ChangeHash),
    #[error("change {change} depends on {dependency}, which was not sent before it")]
    DependencyMissing {
        change: ChangeHash,
        dependency: ChangeHash,
    },
    #[error(
        "changes refused: change {change} numbers its operations from {start_op}, but its \
         dependencies end at {deps_max}"
    )]
    MisNumbered {
        change: ChangeHash,
        start_op: u64,
        deps_max: u64,
    },
    #[error("changes refused: change {0} holds text marks, which a journal never holds")]
    TextMarks(ChangeHash),
    /// Automerge would drop part of the change (`None`: it could not say
    /// which change), and the journal could no longer be saved.
    #[error(
        "changes refused: {} refers to something the journal does not hold (the document \
         library would drop part of it and could not save the journal)",
        .0.map_or_else(|| "a change".to_owned(), |h| format!("change {h}"))
    )]
    Dangling(Option<ChangeHash>),
    /// The document library refused them, in its own words.
    #[error("changes refused: {0}")]
    Library(String),
    #[error("changes refused: the document library failed on them")]
    LibraryPanicked,
}

/// A storage operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageFailure {
    /// The peer's changes were refused: the peer's fault, nothing stored.
    #[error(transparent)]
    Refused(#[from] RefusedChanges),
    /// The storage cannot store anything now but will later by itself (its
    /// disk is full): the peer should keep its data and retry. The words are
    /// for the volunteer.
    #[error("{0}")]
    Unavailable(&'static str),
    /// A change the session was told is held is not (the storage changed
    /// under the session, or contradicts itself).
    #[error("change {0} is not held")]
    NotHeld(ChangeHash),
    /// The session asked for a journal this storage does not hold.
    #[error("journal {0} is not held here")]
    NoJournal(Uuid),
    /// The document library failed (panicked) bundling changes it holds.
    #[error("the document library could not bundle changes it holds")]
    CannotBundle,
    /// Our own storage failed: a disk error, damaged data. Keeps its cause.
    #[error(transparent)]
    Local(LocalFailure),
}

impl StorageFailure {
    /// Our own storage failed with `cause` (an error, or words).
    pub fn local(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Local(LocalFailure(Arc::from(cause.into())))
    }
}

/// The cause of a failure of our own storage, shared (a session's end is
/// told to several listeners). Two are equal when they are the same failure.
#[derive(Clone, Debug, thiserror::Error)]
#[error(transparent)]
pub struct LocalFailure(Arc<dyn std::error::Error + Send + Sync>);

impl PartialEq for LocalFailure {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LocalFailure {}

/// The device and the relay speak different protocol versions.
///
/// The relay's `Error` frame with code 1 (unsupported version) starts its
/// message with `protocol N:`, `N` the version the relay speaks, so that a
/// device of any version can tell which program is the older one
/// (docs/PROTOCOL.md, "Versioning").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionMismatch {
    /// This device's program is older than the relay's.
    #[error(
        "this program is older than the office server (it speaks sync protocol {ours}, the \
         server {relay}): update field-client on this computer to sync again; everything \
         recorded stays saved on this computer meanwhile"
    )]
    UpdateThisProgram { ours: u16, relay: u16 },
    /// The relay's program is older than this device's.
    #[error(
        "the office server is older than this program (it speaks sync protocol {relay}, this \
         program {ours}): the office must update the office server (relay) to sync again; \
         everything recorded stays saved on this computer meanwhile"
    )]
    UpdateServer { ours: u16, relay: u16 },
    /// The relay refused this version without saying its own.
    #[error(
        "the office server does not speak this program's sync protocol ({ours}): update \
         field-client on this computer, or the office its server; everything recorded stays \
         saved on this computer meanwhile (the server said: {message})"
    )]
    UpdateEither { ours: u16, message: String },
}

/// The start of an unsupported-version message: `protocol N:`.
const VERSION_PREFIX: &str = "protocol ";

impl VersionMismatch {
    /// The relay speaks `relay`; this program [`PROTOCOL_VERSION`].
    pub fn with_relay(relay: u16) -> VersionMismatch {
        let ours = PROTOCOL_VERSION;
        if relay > ours {
            VersionMismatch::UpdateThisProgram { ours, relay }
        } else {
            VersionMismatch::UpdateServer { ours, relay }
        }
    }

    /// What a device makes of a relay's refusal with code 1.
    pub fn from_refusal(message: &str) -> VersionMismatch {
        let relay = message
            .strip_prefix(VERSION_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .and_then(|(n, _)| n.trim().parse::<u16>().ok());
        match relay {
            Some(relay) if relay != PROTOCOL_VERSION => VersionMismatch::with_relay(relay),
            _ => VersionMismatch::UpdateEither {
                ours: PROTOCOL_VERSION,
                message: message.to_owned(),
            },
        }
    }

    /// The relay's message to a device speaking `device`: its own version
    /// first (`protocol N:`), then which program must be updated.
    pub fn relay_words(device: u16) -> String {
        let which = if device > PROTOCOL_VERSION {
            "the office must update the office server (relay); the device keeps its records"
        } else {
            "update field-client on the device; it keeps its records meanwhile"
        };
        format!(
            "{VERSION_PREFIX}{PROTOCOL_VERSION}: this office server speaks sync protocol \
             {PROTOCOL_VERSION} and the device {device}: {which}"
        )
    }

    /// Which program must be updated, for a status line.
    pub fn update(&self) -> Update {
        match self {
            VersionMismatch::UpdateThisProgram { .. } => Update::ThisProgram,
            VersionMismatch::UpdateServer { .. } => Update::Server,
            VersionMismatch::UpdateEither { .. } => Update::Either,
        }
    }
}

/// Which program must be updated after a [`VersionMismatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Update {
    ThisProgram,
    Server,
    Either,
}
