//! The sans-IO sync protocol of docs/PROTOCOL.md.
//!
//! [`ClientSession`] and [`RelaySession`] are plain state machines: the shell
//! feeds them received bytes with [`ClientSession::handle_bytes`] and the
//! current time with `handle_timeout`, and takes bytes to send from
//! `poll_transmit`, events from `poll_event` and the next deadline from
//! `poll_timeout`. Journals are reached through the [`SyncStorage`] trait, so
//! tests can run sessions against in-memory or fault-injecting stores, with
//! simulated time, and no sockets.

mod ahead;
pub mod attest;
mod bundle_check;
mod client;
mod error;
pub mod files;
#[cfg(feature = "test-support")]
pub mod memory;
mod received;
mod relay;
mod staging;
mod stored;
pub mod wire;

use automerge::{ActorId, Change, ChangeHash};
use uuid::Uuid;

pub use attest::{AttestationTag, Attestor};
pub use client::{ClientEvent, ClientSession};
pub use error::{
    DamagedChanges, LocalFailure, NotAllowed, ProtocolError, RefusedChanges, SessionError,
    StorageFailure, Update, VersionMismatch,
};
pub use received::{
    Checked, DocOf, OpTarget, Received, apply_guarded, apply_guarded_alongside, check_received,
};
pub use relay::{Peer, RelayEvent, RelaySession};
pub use staging::StagingJournal;
pub use stored::{StoredBatch, StoredChanges};
pub use wire::{
    Access, BATCH_DIGEST_BYTES, BatchAttestation, BatchDigest, BatchEncoding, DeviceHealth,
    EnrolRefusal, ErrorCode, Frame, JournalGrant, PROTOCOL_VERSION, Role,
};

use crate::limits::{MAX_BATCH_BYTES, MAX_CHANGES_PER_BATCH};

/// Journals as a session sees them. Every method that stores must return only
/// once the data is durable.
pub trait SyncStorage {
    /// Current heads of a journal (the genesis heads for a journal not held yet).
    fn heads(&mut self, journal: Uuid) -> Result<Vec<ChangeHash>, StorageFailure>;
    /// True when every hash is a change held in the journal.
    fn contains_all(
        &mut self,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure>;
    /// Up to `limit` hashes of the changes the holder of `known` lacks, in
    /// causal order (each after its dependencies). Hashes in `known` that
    /// this journal does not hold are ignored. (See [`missing_from`].)
    fn missing(
        &mut self,
        journal: Uuid,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Vec<ChangeHash>, StorageFailure>;
    /// Applies received changes and commits them durably; returns the new heads.
    /// Refuses (changing nothing) a batch whose changes depend on changes
    /// neither held nor earlier in the batch.
    fn apply_durably(
        &mut self,
        journal: Uuid,
        changes: Received,
    ) -> Result<Vec<ChangeHash>, StorageFailure>;
    /// The first changes of `plan` (all held, in causal order) that fit one
    /// batch, with their bundle: the compact columnar form that travels in
    /// `Changes` frames. (See [`batch_from`].)
    fn batch(&mut self, journal: Uuid, plan: &[ChangeHash]) -> Result<Batch, StorageFailure>;
    /// The journal's epoch: 0, raised by each erasure (docs/ERASURE.md). Two
    /// copies of a journal on different epochs share nothing but the genesis.
    fn epoch(&mut self, journal: Uuid) -> Result<u32, StorageFailure>;
}

/// What the client side additionally stores: what the relay acknowledged.
pub trait ClientStorage: SyncStorage {
    /// Heads of `journal` the relay last durably acknowledged.
    fn acked_heads(&mut self, journal: Uuid) -> Result<Vec<ChangeHash>, StorageFailure>;
    /// Records that the relay durably holds `covered` and all their ancestors.
    fn mark_acknowledged(
        &mut self,
        journal: Uuid,
        covered: &[ChangeHash],
    ) -> Result<(), StorageFailure>;
    /// Makes sure a journal offered by the relay exists locally, with the
    /// centre's name and municipality as the relay says.
    fn ensure_journal(&mut self, grant: &JournalGrant) -> Result<(), StorageFailure>;
    /// Activities recorded here and not yet acknowledged by the relay, told
    /// to the relay in `Hello` for the office's sync-health table.
    fn unsent(&mut self) -> Result<u32, StorageFailure>;
    /// The relay's tags this device keeps for changes of `batch` written by
    /// other devices (see [`attest`]): sent along when the relay lacks them.
    fn attestations(
        &mut self,
        journal: Uuid,
        batch: &[BatchChange],
    ) -> Result<Vec<(ChangeHash, AttestationTag)>, StorageFailure>;
    /// Applies changes downloaded from the relay, like
    /// [`SyncStorage::apply_durably`], keeping the relay's tags on them in
    /// the same durable commit.
    fn apply_downloaded(
        &mut self,
        journal: Uuid,
        changes: Received,
        attested: &[(ChangeHash, AttestationTag)],
    ) -> Result<Vec<ChangeHash>, StorageFailure>;
    /// Activities this (office) device asked to erase that the relay has not
    /// answered yet, oldest first (docs/ERASURE.md).
    fn erasures_requested(&mut self) -> Result<Vec<Uuid>, StorageFailure>;
    /// Records, durably, the relay's answer to an erasure request: the
    /// journal rewritten and its new epoch, or `None` when no journal held
    /// the activity. The request is no longer waiting.
    fn erasure_answered(
        &mut self,
        activity: Uuid,
        rewritten: Option<(Uuid, u32)>,
    ) -> Result<(), StorageFailure>;
}

/// Journals as a relay session sees them. Every call stands alone: a relay
/// serves many sessions at once, so a journal may change (or be rewritten
/// under a new epoch by an erasure) between two calls. Calls that depend on
/// the epoch take the one the session saw and answer `None` when the
/// journal is no longer at it; nothing is stored then.
pub trait RelayStorage {
    /// The journal's epoch and heads, read together (the genesis heads for a
    /// journal not held yet).
    fn state(&mut self, journal: Uuid) -> Result<(u32, Vec<ChangeHash>), StorageFailure>;
    /// True when every hash is a change held in the journal.
    fn contains_all(
        &mut self,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure>;
    /// Up to `limit` hashes of the changes the holder of `known` lacks, in
    /// causal order (each after its dependencies); hashes in `known` the
    /// journal does not hold are ignored.
    fn missing(
        &mut self,
        journal: Uuid,
        epoch: u32,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure>;
    /// The first changes of `plan` (all held, in causal order) that fit one
    /// download batch ([`MAX_BATCH_BYTES`], [`MAX_CHANGES_PER_BATCH`]; at
    /// least one), with their bundle.
    fn batch(
        &mut self,
        journal: Uuid,
        epoch: u32,
        plan: &[ChangeHash],
    ) -> Result<Option<Batch>, StorageFailure>;
    /// Applies received changes and commits them durably; returns the new
    /// heads. Refuses (changing nothing) a batch whose changes depend on
    /// changes neither held nor earlier in the batch.
    fn apply_durably(
        &mut self,
        journal: Uuid,
        epoch: u32,
        changes: Received,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure>;
    /// Erases `activity` for privacy: rewrites the journal holding it without
    /// it under the next epoch, durably (docs/ERASURE.md). Returns that
    /// journal and its new epoch; `None` when no journal holds the activity.
    fn erase(&mut self, activity: Uuid) -> Result<Option<(Uuid, u32)>, StorageFailure>;
}

/// One batch: what the receiver needs of each change (in causal order), the
/// changes as one Automerge bundle, and, for a batch small enough to travel
/// as a change list, the changes themselves.
#[derive(Debug)]
pub struct Batch {
    pub changes: Vec<BatchChange>,
    /// `None` for a batch taken from stored changes without the document
    /// (see [`StoredChanges`]): it travels as a change list.
    pub bundle: Option<Vec<u8>>,
    /// The changes, when at most [`CHANGE_LIST_MAX_CHANGES`] or without a
    /// bundle.
    pub listed: Option<Vec<Change>>,
}

/// A change of a download batch, as its metadata says.
#[derive(Clone, Debug)]
pub struct BatchChange {
    pub hash: ChangeHash,
    /// Who wrote it (its Automerge actor).
    pub author: ActorId,
    pub deps: Vec<ChangeHash>,
}

/// The first changes of `plan` that fit one batch, taken from `doc` (which
/// holds them all), with their bundle: what a relay storage's
/// [`RelayStorage::batch`] answers.
///
/// Automerge 0.12 rebuilds every change it hands out from the document's
/// operations: asking for a batch's changes one by one costs a pass over
/// the operations each, and even decoding them back from a bundle costs.
/// So the batch is chosen from change metadata (at most `max_ops` operations:
/// [`crate::limits::MAX_DOWNLOAD_BATCH_OPS`] for a download,
/// [`crate::limits::MAX_UPLOAD_BATCH_OPS`] for an upload), built as one
/// bundle in one pass, and its changes decoded only for a batch small enough
/// to travel as a change list.
pub fn batch_from(
    doc: &automerge::Automerge,
    plan: &[ChangeHash],
    max_ops: u64,
) -> Result<Batch, StorageFailure> {
    let mut changes = Vec::new();
    let mut ops = 0;
    for hash in plan.iter().take(MAX_CHANGES_PER_BATCH) {
        let meta = doc
            .get_change_meta_by_hash(hash)
            .ok_or(StorageFailure::NotHeld(*hash))?;
        let n = (meta.max_op + 1).saturating_sub(meta.start_op);
        if !changes.is_empty() && ops + n > max_ops {
            break;
        }
        ops += n;
        changes.push(BatchChange {
            hash: *hash,
            author: meta.actor.into_owned(),
            deps: meta.deps,
        });
    }
    loop {
        let listing = changes.len() <= CHANGE_LIST_MAX_CHANGES;
        let built = catch_library_panic(|| {
            let bundle = doc.bundle(changes.iter().map(|c| c.hash)).ok()?;
            let listed = match listing {
                true => Some(bundle.to_changes().ok()?),
                false => None,
            };
            Some((bundle.bytes().to_vec(), listed))
        })
        .flatten();
        let Some((bundle, listed)) = built else {
            return Err(StorageFailure::CannotBundle);
        };
        if bundle.len() <= MAX_BATCH_BYTES || changes.len() == 1 {
            return Ok(Batch {
                changes,
                bundle: Some(bundle),
                listed,
            });
        }
        // Changes far larger than usual: half as many (still a causal prefix).
        changes.truncate(changes.len() / 2);
    }
}

/// True when `doc` holds every change of `hashes`: what every storage's
/// `contains_all` answers once it has the document. Reads metadata only.
pub fn holds_all(doc: &automerge::Automerge, hashes: &[ChangeHash]) -> bool {
    hashes
        .iter()
        .all(|h| doc.get_change_meta_by_hash(h).is_some())
}

/// Up to `limit` hashes of the changes in `doc` that the holder of `known`
/// lacks, in causal order: what a relay storage's [`RelayStorage::missing`]
/// answers. Reads change metadata only (Automerge rebuilds a whole change
/// from the document's operations, which is what costs in a download).
pub fn missing_from(
    doc: &automerge::Automerge,
    known: &[ChangeHash],
    limit: usize,
) -> Vec<ChangeHash> {
    let known: Vec<ChangeHash> = known
        .iter()
        .copied()
        .filter(|h| doc.get_change_meta_by_hash(h).is_some())
        .collect();
    doc.get_changes_meta(&known)
        .into_iter()
        .take(limit)
        .map(|meta| meta.hash)
        .collect()
}

/// Splits changes into batches bounded by [`MAX_BATCH_BYTES`] and
/// [`MAX_CHANGES_PER_BATCH`]; a change is never split.
pub fn into_batches(changes: Vec<Change>) -> Vec<Vec<Change>> {
    let mut batches = Vec::new();
    let mut current: Vec<Change> = Vec::new();
    let mut bytes = 0;
    for change in changes {
        let size = change.raw_bytes().len();
        if !current.is_empty()
            && (bytes + size > MAX_BATCH_BYTES || current.len() >= MAX_CHANGES_PER_BATCH)
        {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(change);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// SHA-256 over the sorted hashes of a batch, truncated to
/// [`BATCH_DIGEST_BYTES`]: carried with every batch and echoed in its `Ack`, so
/// that both sides agree on exactly which changes a bundle held without
/// sending 32 bytes per change.
pub fn batch_digest(hashes: &[ChangeHash]) -> BatchDigest {
    use sha2::Digest;
    let mut sorted = hashes.to_vec();
    sorted.sort_unstable();
    let mut hasher = sha2::Sha256::new();
    sorted.iter().for_each(|h| hasher.update(h.0));
    let full: [u8; 32] = hasher.finalize().into();
    let mut digest = [0; BATCH_DIGEST_BYTES];
    digest.copy_from_slice(&full[..BATCH_DIGEST_BYTES]);
    digest
}

/// Batches of at most this many changes are also tried as a change list (each
/// change's own bytes, for the frame dictionary): measured on one activity,
/// 820 B of change → ~530 B, against ~755 B as a bundle. With more changes the
/// bundle's columnar form wins, so larger batches skip the second encoding.
const CHANGE_LIST_MAX_CHANGES: usize = 4;

/// Builds the `Changes` frame for one batch of the changes `hashes`, in
/// whichever encoding makes the smaller frame: `bundle` (the batch as one
/// Automerge bundle) or, for a few changes, `listed` (the changes
/// themselves); as a change list when there is no bundle; with the tags
/// `attested` on some of its changes.
fn batch_frame(
    journal: Uuid,
    (hashes, bundle, listed): (&[ChangeHash], Option<Vec<u8>>, Option<&[Change]>),
    (more, sent_before_heads): (bool, bool),
    attested: &[(ChangeHash, AttestationTag)],
) -> Frame {
    let attested = attestation_positions(hashes, attested);
    let frame = |encoding, bundle| Frame::Changes {
        journal,
        more,
        sent_before_heads,
        count: hashes.len() as u32,
        digest: batch_digest(hashes),
        encoding,
        bundle,
        attested: attested.clone(),
    };
    if hashes.is_empty() {
        return frame(BatchEncoding::Bundle, Vec::new());
    }
    let Some(bundle) = bundle else {
        let listed = listed.map(change_list).unwrap_or_default();
        return frame(BatchEncoding::ChangeList, listed);
    };
    let bundled = frame(BatchEncoding::Bundle, bundle);
    let Some(listed) = listed.filter(|l| l.len() <= CHANGE_LIST_MAX_CHANGES) else {
        return bundled;
    };
    let listed = frame(BatchEncoding::ChangeList, change_list(listed));
    let size = |f: &Frame| f.encode().map_or(usize::MAX, |bytes| bytes.len());
    if size(&listed) < size(&bundled) {
        listed
    } else {
        bundled
    }
}

/// The tags of `attested` (those on changes of the batch) by their changes'
/// places among the batch's hashes in ascending order.
fn attestation_positions(
    hashes: &[ChangeHash],
    attested: &[(ChangeHash, AttestationTag)],
) -> Vec<BatchAttestation> {
    if attested.is_empty() {
        return Vec::new();
    }
    let tags: std::collections::HashMap<&ChangeHash, &AttestationTag> =
        attested.iter().map(|(h, t)| (h, t)).collect();
    let mut sorted = hashes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
        .iter()
        .enumerate()
        .filter_map(|(position, hash)| {
            let tag = tags.get(hash)?;
            Some(BatchAttestation {
                position: u16::try_from(position).ok()?,
                tag: **tag,
            })
        })
        .collect()
}

/// The tags of a received batch by the hashes of the changes they name.
fn attested_hashes(
    changes: &[Change],
    attested: &[BatchAttestation],
) -> Vec<(ChangeHash, AttestationTag)> {
    if attested.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
    sorted.sort_unstable();
    sorted.dedup();
    attested
        .iter()
        .filter_map(|a| Some((*sorted.get(usize::from(a.position))?, a.tag)))
        .collect()
}

/// Each change's uncompressed bytes, as `u32` length and bytes.
pub(crate) fn change_list(batch: &[Change]) -> Vec<u8> {
    let mut out = Vec::new();
    for change in batch {
        let bytes = change.raw_bytes();
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// The changes of a change list received from the network.
fn decode_change_list(mut list: &[u8], count: u32) -> Result<Vec<Change>, DamagedChanges> {
    let mut changes = Vec::new();
    for _ in 0..count {
        let Some((length, rest)) = list.split_first_chunk::<4>() else {
            return Err(DamagedChanges::LengthCutOff);
        };
        let length = u32::from_be_bytes(*length) as usize;
        if rest.len() < length {
            return Err(DamagedChanges::CutOff);
        }
        let (bytes, rest) = rest.split_at(length);
        changes.push(decode_change(bytes)?);
        list = rest;
    }
    if !list.is_empty() {
        return Err(DamagedChanges::LeftOver);
    }
    Ok(changes)
}

std::thread_local! {
    /// How deep this thread is in [`catch_library_panic`].
    static CATCHING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs document-library code that can panic on damaged input (Automerge 0.12
/// has such panics, found by fuzzing; the image decoders of `thumbnail` read a
/// volunteer's photos); a panic becomes `None`. The one place
/// such panics are caught, so [`panic_is_caught`] can tell a panic hook.
pub fn catch_library_panic<T>(f: impl FnOnce() -> T) -> Option<T> {
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    CATCHING.with(|c| c.set(c.get() - 1));
    result
}

/// True while [`catch_library_panic`] runs on this thread: a panic now becomes
/// an error, so a panic hook that aborts (a fuzzer's) or prints (the default)
/// can leave it alone.
pub fn panic_is_caught() -> bool {
    CATCHING.with(|c| c.get() > 0)
}

/// Wraps the current panic hook (once per process) so that it skips panics
/// [`catch_library_panic`] turns into errors: the default hook would print
/// them as if the program had crashed, a fuzzer's would abort. Every other
/// panic still reaches the hook.
pub fn hide_caught_library_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !panic_is_caught() {
                previous(info);
            }
        }));
    });
}

/// The changes in an Automerge bundle received from the network. Automerge's
/// parser panics on some damaged bundles (found by fuzzing: a slice index out of
/// range in its column decoder); that panic becomes an error here, so a damaged
/// batch fails like any other malformed frame. (The shells also catch panics,
/// closing only the session, for whatever else might still panic.)
///
/// It also trusts the sizes a bundle declares, and a failed allocation aborts
/// the process rather than panicking (found by fuzzing: 582 bytes claiming
/// 10^11 operations made it allocate 8 GiB): `bundle_check::check` first
/// refuses a bundle that claims more than a batch may hold.
pub fn decode_bundle(bundle: &[u8]) -> Result<Vec<Change>, DamagedChanges> {
    expect_chunk(bundle, CHUNK_BUNDLE, "a bundle")?;
    bundle_check::check(bundle).map_err(DamagedChanges::OverLimits)?;
    let library = |e: &dyn std::fmt::Display| DamagedChanges::Library(e.to_string());
    let parse = || {
        automerge::Bundle::try_from(bundle)
            .map_err(|e| library(&e))?
            .to_changes()
            .map_err(|e| library(&e))
    };
    catch_library_panic(parse).unwrap_or(Err(DamagedChanges::LibraryPanicked))
}

/// One change from its bytes; a panic in Automerge's parser (it has some on
/// damaged input, found by fuzzing) becomes an error.
pub fn decode_change(bytes: &[u8]) -> Result<Change, DamagedChanges> {
    // `Change::from_bytes` also parses other kinds of chunk, bundles among
    // them, whose decoder a crafted 582-byte input makes allocate 8 GiB (found
    // by fuzzing): only a plain change gets that far.
    expect_chunk(bytes, CHUNK_CHANGE, "a change")?;
    catch_library_panic(|| {
        Change::from_bytes(bytes.to_vec()).map_err(|e| DamagedChanges::Library(e.to_string()))
    })
    .unwrap_or(Err(DamagedChanges::LibraryPanicked))
}

/// Automerge's chunk header: magic bytes, a 4-byte checksum, the chunk type.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_CHANGE: u8 = 1;
const CHUNK_BUNDLE: u8 = 3;

/// Checks the chunk header says `kind` before Automerge parses the rest.
fn expect_chunk(bytes: &[u8], kind: u8, what: &'static str) -> Result<(), DamagedChanges> {
    match bytes {
        [m0, m1, m2, m3, _, _, _, _, chunk_type, ..]
            if [*m0, *m1, *m2, *m3] == CHUNK_MAGIC && *chunk_type == kind =>
        {
            Ok(())
        }
        _ => Err(DamagedChanges::WrongChunk(what)),
    }
}

/// Unpacks a received batch, checking it holds exactly the changes announced.
fn unpack_batch(
    count: u32,
    digest: &BatchDigest,
    encoding: BatchEncoding,
    bundle: &[u8],
) -> Result<Vec<Change>, SessionError> {
    let bad = |why: DamagedChanges| SessionError::Protocol(why.into());
    let changes = match encoding {
        _ if count == 0 && bundle.is_empty() => Vec::new(),
        BatchEncoding::Bundle => decode_bundle(bundle).map_err(bad)?,
        BatchEncoding::ChangeList => decode_change_list(bundle, count).map_err(bad)?,
    };
    let hashes: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
    if hashes.len() != count as usize || batch_digest(&hashes) != *digest {
        return Err(bad(DamagedChanges::NotAsAnnounced));
    }
    Ok(changes)
}

/// Both session kinds end the same way on a decode error: tell the peer, close.
fn error_frame(code: ErrorCode, message: &str) -> Option<Vec<u8>> {
    Frame::Error {
        code,
        message: message.to_owned(),
    }
    .encode()
    .ok()
}

/// The id of a journal as the session knows it.
pub fn journal_uuid(id: crate::store::JournalId) -> Uuid {
    id.0
}
