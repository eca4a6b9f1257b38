//! Every bound the relay's server keeps, each with its reason. The protocol's
//! own limits (frames, batches, heads) are in `sync_core::limits`; the QUIC
//! transport's (windows, streams, timeouts) in [`crate::tls`].

use std::time::Duration;

use sync_core::limits::MAX_FRAME_BYTES;

use crate::tls::{BULK_WINDOW, MAX_CONCURRENT_BIDI_STREAMS, RELAY_WINDOW};
use crate::transport::{MAX_READ_AHEAD_BYTES, READ_CHUNK_BYTES};

/// Connections at once, enrolled devices and strangers together. Ten centres
/// need a few dozen; a country's network of centres a few thousand. Each
/// connection costs at most [`WORST_CASE_BYTES_PER_CONNECTION`].
pub const MAX_CONNECTIONS: usize = 10_000;

/// The doors' limits as `relay serve` keeps them: the constants above by
/// default; a configuration file (`relay.toml`, `[limits]`) may lower them
/// (never raise them: [`WORST_CASE_CONNECTION_BYTES`] is checked against
/// the constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoorLimits {
    /// At most [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// At most [`MAX_UNENROLLED_CONNECTIONS`].
    pub max_unenrolled_connections: usize,
    /// At most [`MAX_UNENROLLED_PER_ADDRESS`].
    pub max_unenrolled_per_address: usize,
    /// Bytes of attached files one centre's journal may hold; unlike the
    /// others, it may be raised (it is disk, not memory).
    pub max_file_bytes_per_centre: u64,
}

impl Default for DoorLimits {
    fn default() -> Self {
        DoorLimits {
            max_connections: MAX_CONNECTIONS,
            max_unenrolled_connections: MAX_UNENROLLED_CONNECTIONS,
            max_unenrolled_per_address: MAX_UNENROLLED_PER_ADDRESS,
            max_file_bytes_per_centre: sync_core::limits::DEFAULT_MAX_JOURNAL_FILE_BYTES,
        }
    }
}

/// Connections at once from certificates the relay does not know (devices
/// enrolling, and strangers): TLS accepts any client certificate so that a
/// new device can enrol, so this cap, not the registry, keeps strangers from
/// taking the slots enrolled devices need. An office enrols a few laptops at
/// a time; a hundred at once is far beyond that.
pub const MAX_UNENROLLED_CONNECTIONS: usize = 100;

/// Unenrolled connections at once from one IP address. Low, because one
/// attacker's address should not fill [`MAX_UNENROLLED_CONNECTIONS`]; not 1,
/// because the laptops of one office enrol from behind one NAT address.
pub const MAX_UNENROLLED_PER_ADDRESS: usize = 8;

/// Time a connection from an unknown certificate has, from its first packet,
/// to complete enrolment (handshake, `Enrol`, `Enrolled`). Enrolling is one
/// round trip after the handshake; a minute covers a slow rural link many
/// times over, and a stranger that only holds the connection open (keep-alives
/// would otherwise keep it forever) is dropped after it.
pub const ENROLMENT_DEADLINE: Duration = Duration::from_secs(60);

/// Time a QUIC handshake may take before the connection is dropped, enrolled
/// device or not: a handshake is two round trips; 20 s is a stalled 3G link
/// several times over, and bounds how long a half-open connection holds a slot.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(20);

/// Frames larger than this are "large": a session receives the rest of one,
/// or builds one to send, only with a share of [`LARGE_TRANSFER_BUDGET_BYTES`].
/// Every frame of an everyday sync of a centre (a few records, heads,
/// acknowledgements: one activity is about 1 KB) is smaller, so everyday
/// syncs never wait for the budget.
pub const SMALL_FRAME_BYTES: usize = 8 * 1024;

/// A session's share of the budget while it moves large frames: one whole
/// frame, what it reads ahead of it ([`MAX_READ_AHEAD_BYTES`]), and its
/// connection's windows raised to [`BULK_WINDOW`] both ways.
pub const LARGE_TRANSFER_BYTES: usize =
    MAX_FRAME_BYTES + MAX_READ_AHEAD_BYTES + 2 * BULK_WINDOW as usize;

/// Bytes of large transfers all sessions together may hold at once: 64 at a
/// time (first syncs, office downloads); the others wait their turn, and
/// while a session waits it reads nothing, so QUIC's flow control makes its
/// device wait. 10,000 sessions cannot make the relay hold 10,000 × 2 MiB.
pub const LARGE_TRANSFER_BUDGET_BYTES: usize = 64 * LARGE_TRANSFER_BYTES;

/// Time a device has to send the rest of a large frame once it started: its
/// share of the budget is held meanwhile. A full frame takes about 45 s at
/// 384 kbit/s; three minutes covers a much slower link, and a device that
/// stalls longer loses the session (and gives its share back).
pub const LARGE_FRAME_DEADLINE: Duration = Duration::from_secs(180);

/// How long a session keeps its share of the budget between two frames of
/// one upload (the last batch said more follow). The next batch is usually
/// on its way already (a device keeps several in flight), and with the share
/// the relay reads it while it stores the one before, and unpacks it on a
/// second core (`sync_core::sync::ahead`); without, the connection's window
/// falls back and the next batch waits for a share. A device that sends
/// nothing for this long gives the share back to others.
pub const SHARE_KEPT_BETWEEN_FRAMES: Duration = Duration::from_secs(5);

/// What the relay's QUIC stack and sessions may hold per connection at most,
/// large transfers aside (counted in [`LARGE_TRANSFER_BUDGET_BYTES`]): bytes
/// received but not yet read (the receive window) and sent but not yet
/// acknowledged (the send window), on each stream the part of a frame
/// being assembled (a small frame, or one read of a large one before its
/// share is granted), and QUIC's and the session's own state.
pub const WORST_CASE_BYTES_PER_CONNECTION: usize = 2 * RELAY_WINDOW as usize
    + MAX_CONCURRENT_BIDI_STREAMS as usize * (SMALL_FRAME_BYTES + READ_CHUNK_BYTES)
    + CONNECTION_STATE_BYTES;

/// QUIC's and a session's own state per connection: 372 MB for 10,000 idle
/// devices was measured before this bound (37 KB each), rounded up.
const CONNECTION_STATE_BYTES: usize = 40 * 1024;

/// The most memory connections can make the relay hold, every slot taken and
/// every window and budget full: 1.89 GB, under 2 GB. Not counted: the
/// journals in memory ([`MAX_JOURNALS_IN_MEMORY`]), and the `Welcome` and
/// `Health` frames of office sessions (a few office devices, a frame each).
pub const WORST_CASE_CONNECTION_BYTES: usize =
    MAX_CONNECTIONS * WORST_CASE_BYTES_PER_CONNECTION + LARGE_TRANSFER_BUDGET_BYTES;
const _: () = assert!(WORST_CASE_CONNECTION_BYTES <= 2_000_000_000);

/// Journals kept loaded at once. Loading needs about 8× the memory the loaded
/// document keeps, and a 10,000-activity journal keeps ~12 MiB; 16 journals keep
/// the relay under ~200 MiB of documents however many centres it serves, while
/// a busy centre's journal stays loaded between its devices' sessions.
pub const MAX_JOURNALS_IN_MEMORY: usize = 16;

/// redb's page cache for each journal's file. The relay reads a journal's
/// file only when it loads it (the journal then lives in memory) and writes
/// appended changes: a small cache is enough, and 16 open files with redb's
/// default (1 GiB each) could hold gigabytes of pages the relay never reads
/// again.
pub const JOURNAL_FILE_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Times an erasure rebuilds a journal that kept changing while it rebuilt
/// (devices syncing meanwhile) before it gives up and says so: each rebuild
/// takes seconds at thousands of activities, and the office can ask again.
pub const MAX_ERASURE_ATTEMPTS: usize = 3;

/// How often sync-health bookkeeping (last contact, last successful sync,
/// unsent counts) is written to the registry. It is kept in memory between
/// writes, so syncs never wait for a disk flush for it; a crash loses at
/// most this much of it, which the next sync of each device restores.
pub const HEALTH_FLUSH_INTERVAL: Duration = Duration::from_secs(30);

/// Longest file name inside a backup file: the longest the relay writes is
/// `journals/<36-character id>.redb` (50 bytes); anything longer is damage.
pub const MAX_BACKUP_NAME_BYTES: usize = 256;

/// Largest table of contents (`manifest.json`) of a backup, read into memory
/// to restore: about 2 KB per journal, so room for thousands of centres.
pub const MAX_BACKUP_MANIFEST_BYTES: usize = 16 * 1024 * 1024;

/// How long a journal goes without a stored change before the relay compacts
/// it ([`crate::store::journals::Journals::maintain`]): longer than the gap
/// between the batches of one upload (milliseconds, up to a round trip on a
/// slow link), so a large upload is compacted once, after it, instead of
/// several times during it, with the CPU the upload needs.
pub const COMPACT_WHEN_QUIET_FOR: Duration = Duration::from_secs(2);

/// Appended changes at which a journal is compacted even while changes keep
/// coming (never quiet for [`COMPACT_WHEN_QUIET_FOR`]): eight times the usual
/// number of changes (`sync_core::limits::COMPACT_AFTER_CHANGES`), so a
/// journal that is never quiet still has its file and its load time bounded.
pub const COMPACT_WHILE_BUSY_AFTER_CHANGES: u64 = 8 * sync_core::limits::COMPACT_AFTER_CHANGES;

/// See [`COMPACT_WHILE_BUSY_AFTER_CHANGES`]: 64 MiB of appended changes,
/// about 90,000 activities as stored, so that the first sync of a large
/// centre's history (50,000 activities: 36 MB) is compacted once, after it.
pub const COMPACT_WHILE_BUSY_AFTER_BYTES: u64 = 64 * sync_core::limits::COMPACT_AFTER_BYTES;

/// True when a journal is compacted whether or not it is quiet.
pub fn compaction_overdue(appended: u64, appended_bytes: u64) -> bool {
    appended >= COMPACT_WHILE_BUSY_AFTER_CHANGES || appended_bytes >= COMPACT_WHILE_BUSY_AFTER_BYTES
}

/// Connections one relay process keeps to PostgreSQL at most
/// (`relay serve --store postgres://…`). Store work runs on blocking
/// threads and most of it is memory work on a loaded journal: more
/// connections than that gains nothing, and PostgreSQL's default of 100
/// connections must hold several relays and the operator's own tools.
pub const MAX_DATABASE_CONNECTIONS: usize = 16;

/// How long connecting to PostgreSQL may take before the database counts as
/// unreachable: devices are told so (and keep their records) rather than
/// wait on a database that does not answer.
pub const DATABASE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for one of the [`MAX_DATABASE_CONNECTIONS`] when all are in
/// use: far above a busy moment's wait (milliseconds), so reaching it means
/// the database stopped answering.
pub const DATABASE_POOL_WAIT: Duration = Duration::from_secs(30);

/// Longest a single statement may run in PostgreSQL (its
/// `statement_timeout`): the largest is a 10,000-activity journal's
/// snapshot and changes read at once, well under a second; a statement
/// stuck behind a lock that long is stopped and its session told.
pub const DATABASE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);

/// First wait before a relay listens again for other relays' news after
/// its listening connection to PostgreSQL dropped; it doubles at every
/// failure up to [`NEWS_RETRY_MAX`]. Meanwhile each round still reads the
/// database (`PgStore::state`): only the prompt push waits.
pub const NEWS_RETRY_FIRST: Duration = Duration::from_millis(500);

/// See [`NEWS_RETRY_FIRST`].
pub const NEWS_RETRY_MAX: Duration = Duration::from_secs(30);
