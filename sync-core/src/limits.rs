//! Every bound the core enforces, in one place, each with the reason for its value.
//!
//! Limits are checked where data enters: when a volunteer types it, when a file is
//! imported, and (later) when bytes arrive from the network.

/// Longest title, in characters. Real titles are one line ("Skolotāja loma vietējās
/// kopienas attīstībā"); anything longer is almost certainly a pasted document.
pub const MAX_TITLE_CHARS: usize = 300;

/// Longest place, organiser or institution name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Longest description or outcome note, in characters: a few pages of text, enough for
/// any report paragraph while keeping one activity well under a sync batch.
pub const MAX_LONG_TEXT_CHARS: usize = 20_000;

/// Most organisers or partner institutions on one activity. A symposium may gather
/// dozens of schools; hundreds would be a data-entry mistake.
pub const MAX_NAMES_PER_LIST: usize = 200;

/// Largest participant count for one group in one activity. The largest events in
/// the region gather hundreds; a million is a typo.
pub const MAX_PARTICIPANTS_PER_GROUP: u32 = 100_000;

/// Longest duration of one activity, in hours. A seminar series is recorded as one
/// activity of up to 36 hours; a whole-year programme stays well below this.
pub const MAX_ACTIVITY_HOURS: f64 = 2_000.0;

/// Number of appended changes after which the store folds them into a snapshot.
/// Opening a journal replays every appended change; a few hundred small changes add
/// a few milliseconds, while compaction rewrites the whole journal (about 100 ms at
/// 10,000 activities), so it should not run after every add.
pub const COMPACT_AFTER_CHANGES: u64 = 500;

/// Appended changes after which a command compacts a journal even though it
/// does not hold its document (see `Replica::compact_if_needed`): without
/// `field-client run`, which compacts when quiet, adds alone would append
/// forever, and every open and upload reads every appended change. Counted
/// in changes, not bytes, so that an import (100 activities per change: a
/// thousand changes for 100,000 rows) never loads the journal for it.
pub const COMPACT_UNLOADED_AFTER_CHANGES: u64 = 8 * COMPACT_AFTER_CHANGES;

/// Bytes of changes appended (since a journal was loaded or compacted) after
/// which the store folds them into a snapshot, whatever their number: an
/// import or a large download appends tens of kilobytes per change, stored
/// as written (about 730 bytes per activity, against 180 in a snapshot), and
/// the file would keep them until 500 changes had come.
pub const COMPACT_AFTER_BYTES: u64 = 1024 * 1024;

/// Appended change bytes per snapshot byte at which a journal is compacted
/// whatever its size: changes as written take about four times their size in
/// a snapshot, so this is when the journal has about doubled since.
pub const COMPACT_WHEN_APPENDED_PER_SNAPSHOT_BYTE: u64 = 4;

/// Whether a journal's appended changes are due to be folded into a new
/// snapshot: after [`COMPACT_AFTER_CHANGES`] of them, or once their bytes
/// reach [`COMPACT_AFTER_BYTES`] and [`COMPACT_WHEN_APPENDED_PER_SNAPSHOT_BYTE`]
/// times the snapshot's size. A compaction saves and reloads the whole
/// journal (a second at 50,000 activities) while uploads to it wait, so it
/// waits until the journal has about doubled: over a large upload its work
/// adds up to about twice one compaction of the result, not one per
/// megabyte.
pub fn compaction_due(appended: u64, appended_bytes: u64, snapshot_bytes: u64) -> bool {
    let by_size = snapshot_bytes.saturating_mul(COMPACT_WHEN_APPENDED_PER_SNAPSHOT_BYTE);
    appended >= COMPACT_AFTER_CHANGES || appended_bytes >= COMPACT_AFTER_BYTES.max(by_size)
}

/// Bytes of appended changes handed to Automerge at once when a journal loads:
/// its intermediate form of a batch takes many times the batch's bytes (an
/// import of 100,000 rows appends 73 MB, which loaded at once took 1.6 GB),
/// while each call also costs a pass over the document, so not too small.
pub const LOAD_APPENDED_BYTES_AT_ONCE: usize = 4 * 1024 * 1024;

/// New activities durably stored but not yet applied to the in-memory journal
/// (a durable add returns before Automerge's slow per-operation insert; applying
/// a batch later costs about a fifth per change of applying each one alone). The
/// bound caps that catch-up work, paid by the next read, sync or add past it, at
/// about 30 ms.
pub const MAX_PENDING_CHANGES: usize = 256;

/// redb's page cache on a device (a relay bounds each journal file's cache
/// itself). redb's default, 1 GiB, lets a large write transaction keep up
/// to half of that in memory until it commits: an import of 100,000 rows
/// (a single transaction of about 100 MB) took 290 MB, against 200 MB for
/// the whole import. With this bound the pages beyond it go to the file
/// before the commit (still all-or-nothing), while the view of 100,000
/// activities (about 30 MB, what listing reads again and again) still fits.
pub const DEVICE_STORE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Activities committed together in one Automerge change during an import. Keeps each
/// change small (tens of kilobytes) so that sync can later move it in bounded batches,
/// while 10,000 rows still need only 100 changes.
pub const IMPORT_ACTIVITIES_PER_CHANGE: usize = 100;

/// Most rows one import may bring in: ten years of a busy centre's activities. A
/// bigger file is refused when its row past the limit is read (rows are stored as
/// they are read, in a transaction that is then dropped: nothing is stored).
pub const MAX_IMPORT_ROWS: usize = 200_000;

// ---- Sync protocol (docs/PROTOCOL.md) ----

/// Largest frame on the wire (after the 4-byte length). A batch of
/// [`MAX_BATCH_BYTES`] of changes always fits, uncompressed, with room for the
/// frame header; anything larger is refused before it is read into memory.
pub const MAX_FRAME_BYTES: usize = 2 * 1024 * 1024;

/// Largest payload after decompression: bounds the memory a small, highly
/// compressible frame (a "zip bomb") can make the receiver allocate.
pub const MAX_FRAME_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;

/// Raw change bytes per `Changes` frame. About 500 activities; at 384 kbit/s,
/// compressed, a few seconds of transfer — so a dropped connection loses at most
/// a few seconds of work, while a 10,000-activity first sync needs ~20 batches.
pub const MAX_BATCH_BYTES: usize = 512 * 1024;

/// Changes per `Changes` frame: bounds per-batch work (one durable commit each)
/// even when changes are tiny.
pub const MAX_CHANGES_PER_BATCH: usize = 2_000;

/// Operations in one received batch, and references from its operations to
/// the values they replace. Automerge's bundle decoder trusts the counts a
/// bundle declares (a run-length column claims any number of items in a few
/// bytes) and allocates for them, so a bundle claiming more is refused before
/// Automerge decodes it. No bound in bytes can replace this one: the most a
/// real batch holds, [`MAX_CHANGES_PER_BATCH`] edits each emptying both name
/// lists of an activity ([`MAX_NAMES_PER_LIST`] deletions each), is 804,000
/// operations in a bundle of 1.4 KB (measured; Automerge decodes it in 0.6 s
/// and 20 MB). The bound is 2.6 times that.
pub const MAX_OPS_PER_BATCH: usize = 1 << 21;

/// Bytes a received bundle's compressed (DEFLATE) columns may inflate to:
/// DEFLATE expands up to 1,000-fold, so a 4 MiB payload could otherwise make
/// Automerge inflate 4 GiB. A real bundle inflates to about the size of its
/// changes (measured: 485 KB for a batch of 482 KB), at most
/// [`MAX_BATCH_BYTES`], or one larger change whose bundle still fits a frame;
/// eight frame payloads cover that with room.
pub const MAX_BUNDLE_INFLATED_BYTES: usize = 8 * MAX_FRAME_PAYLOAD_BYTES;

/// Largest single Automerge change accepted from the network. Must fit a frame;
/// imports split their changes well below this.
pub const MAX_CHANGE_BYTES: usize = MAX_BATCH_BYTES;

/// Changes a relay session plans ahead in a download: the hashes of the next
/// changes to send (32 bytes each, so 256 KiB per downloading session),
/// refilled from what the device holds so far when they run out. Bounds a
/// session's memory whatever the journal's size, while a 50,000-change first
/// download needs only seven refills (each a pass over the journal's change
/// metadata).
pub const MAX_DOWNLOAD_PLAN_CHANGES: usize = 8_192;

/// Changes a client session plans ahead in one round's upload: the same
/// bound for the same reason (each batch is built when it is sent, from the
/// plan's hashes); a device holding more unsent changes sends the rest in
/// the next round.
pub const MAX_PLAN_CHANGES: usize = MAX_DOWNLOAD_PLAN_CHANGES;

/// Operations in one download batch the relay builds: bounds the work of
/// building one (a pass over the operations of its changes) and keeps every
/// batch far below what a receiver accepts ([`MAX_OPS_PER_BATCH`]). Single
/// activities take a few dozen operations, so a batch still holds up to
/// [`MAX_CHANGES_PER_BATCH`] of them; imported changes of 100 activities
/// each go a few dozen to a batch.
pub const MAX_DOWNLOAD_BATCH_OPS: u64 = 65_536;

/// Operations in one upload batch (chosen the same way, from metadata). Half
/// a download's: a device's link is the slow one, and a dropped connection
/// loses the batch in flight, so an upload batch stays at 1,000–1,300
/// activities (70–90 KB on the wire, about 2 s at 384 kbit/s). Not less:
/// Automerge's apply walks the journal's operations once per batch, so at
/// 50,000 activities every upload batch costs the relay about 9 ms before
/// its changes (measured: a quarter of a download's made a first sync of
/// 49,900 activities 12 % slower, a sixteenth twice as slow).
pub const MAX_UPLOAD_BATCH_OPS: u64 = MAX_DOWNLOAD_BATCH_OPS / 2;

/// Heads in one list. Heads count concurrent branches; even ten devices editing
/// offline for a month produce a handful. More means a broken or hostile peer.
pub const MAX_HEADS: usize = 1_024;

/// Journals in one session: every centre of a country-wide network, for an
/// office device, with room to spare.
pub const MAX_JOURNALS_PER_SESSION: usize = 4_096;

/// Devices in one `Health` frame (the office's sync-health table). Ten
/// centres with a handful of devices each need a few dozen; at the longest
/// names (`MAX_TEXT_BYTES`) this many entries still fit one frame.
pub const MAX_HEALTH_DEVICES: usize = 256;

/// Longest text field on the wire (names, versions, error messages), in bytes.
pub const MAX_TEXT_BYTES: usize = 4 * 1024;

/// Sync rounds of one journal in a row, in one session, that made no progress:
/// that did not end in sync (the relay's download ended, yet the heads it stated
/// do not cover this device's), or in which the relay no longer held what it
/// had acknowledged earlier in the session. A round that ends in sync is
/// progress even when it moves nothing (as after a notification whose changes
/// an earlier download brought: with many devices storing at once, most are).
/// An honest relay never makes a round without progress; a few in a row mean a
/// lost or confused exchange, so the session is reset instead of looping.
pub const MAX_ROUNDS_WITHOUT_PROGRESS: u32 = 3;

/// Time allowed from opening a session to a completed `Hello`/`Welcome`; a peer
/// that says nothing for this long is holding a slot for nothing.
pub const SESSION_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Upload batches a device sends before the first of them is acknowledged:
/// while the relay stores one, the next is already on the link and a third
/// is being built, so neither side waits for the other. Bounded so that a
/// dropped connection sends at most this many batches again, and the relay
/// never has more than this waiting in the stream's flow-control window.
pub const MAX_BATCHES_IN_FLIGHT: usize = 3;

/// Time a session waits for any answer to a request (`Heads`, `Ack`, a download
/// batch). A rural link can stall for tens of seconds; longer means the answer is
/// lost and the session is reset (the next one resumes from durable state).
pub const SESSION_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Payloads smaller than this are sent uncompressed: zstd's frame overhead would
/// make them bigger.
pub const COMPRESS_MIN_BYTES: usize = 256;

/// Bytes of one chunk of an attached file (docs/ATTACHMENTS.md): a file is
/// hashed, stored and sent chunk by chunk, so memory stays bounded by this
/// whatever the file's size; one chunk travels in one frame, far below
/// [`MAX_FRAME_BYTES`], in about 1.4 s at 384 kbit/s, so a dropped
/// connection costs at most that.
pub const FILE_CHUNK_BYTES: usize = 64 * 1024;

/// Largest file that can be attached: a phone's photo is 2–8 MB, a scanned
/// multi-page attendance sheet up to about 20 MB.
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;

/// Most files one activity may hold: a seminar's photos and its sign-in
/// sheets; more is a folder, not evidence, and every reference is carried
/// by every copy of the record.
pub const MAX_FILES_PER_ACTIVITY: usize = 20;

/// Longest name an attached file keeps, in characters (a longer one is
/// shortened, its extension kept): names are shown in lists and reports.
pub const MAX_FILE_NAME_CHARS: usize = 120;

/// Chunks of a file sent and not yet acknowledged, at most. The relay
/// answers a chunk once it is durable; with one in flight the link would
/// idle a round trip and an fsync per chunk (a fifth of a 3G link's time
/// at 300 ms). Eight keep a 100 Mbit/s link busy across 30 ms, and
/// what waits in QUIC's buffers stays at half a megabyte.
pub const MAX_FILE_CHUNKS_IN_FLIGHT: u64 = 8;

/// Files asked for on one file stream and not yet begun: an office opening
/// a page of photos asks for a few at a time; more is a misbehaving peer.
pub const MAX_FILE_REQUESTS_QUEUED: usize = 64;

/// Bytes of files one centre's journal may hold at the relay, unless the
/// relay's `relay.toml` says otherwise: a year of evidence of an active
/// centre (a few hundred photos and scans); the relay's disk is the office's.
pub const DEFAULT_MAX_JOURNAL_FILE_BYTES: u64 = 2_000_000_000;
