//! The upload a compaction makes ready (`ready_upload-v1`, `ready_batch-v1`).
//!
//! A first sync after a large import (50,000 activities) spent its first
//! second loading the journal's document only to bundle what the relay
//! lacked, while the relay waited. A compaction holds that document anyway:
//! it also bundles the changes the relay has not acknowledged, batch by
//! batch as a sync would, and keeps the batches beside the snapshot, in the
//! same transaction. A sync then sends them as they are
//! (`sync::StoredChanges`) and loads nothing.
//!
//! The rows describe one snapshot: they are removed whenever it is replaced
//! (compaction writes new ones, an erasure's rewrite none), when the journal
//! merges into another at enrolment, and once everything counts as sent.

use automerge::{ActorId, Automerge, Change, ChangeHash};
use redb::{ReadTransaction, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::tables::{READY_BATCHES, READY_UPLOADS};
use super::{JournalId, StoreError};
use crate::limits::MAX_UPLOAD_BATCH_OPS;
use crate::sync::{Batch, BatchChange, batch_digest, batch_from, missing_from};

/// An upload made ready by a compaction.
#[derive(Clone, Debug)]
pub struct ReadyUpload {
    /// Heads of the snapshot it was made from: it describes that one only.
    pub snapshot_heads: Vec<ChangeHash>,
    /// What the batches build on: the genesis heads and the heads the relay
    /// had acknowledged (those the journal held).
    pub base: Vec<ChangeHash>,
    /// Each batch's changes, in the order they go (causal order).
    pub batches: Vec<Vec<BatchChange>>,
}

/// A batch's bytes, as kept: its bundle, and its changes when it travels as
/// a change list (see `Batch::listed`).
pub type ReadyBytes = (Vec<u8>, Option<Vec<Change>>);

/// `ready_upload-v1`'s value.
#[derive(Serialize, Deserialize)]
struct Header {
    snapshot: Vec<[u8; 32]>,
    base: Vec<[u8; 32]>,
    /// Per batch, per change: hash, author's actor bytes, dependencies.
    batches: Vec<Vec<StoredChange>>,
}

/// One change of a ready batch: hash, author's actor bytes, dependencies.
type StoredChange = ([u8; 32], Vec<u8>, Vec<[u8; 32]>);

/// zstd level of a kept bundle. Bundles keep strings as they are (frames
/// are compressed only when sent); at level 3 (zstd's default) the ready
/// upload of 50,000 activities took 7 MB beside a 39 MB store, for a
/// fraction of what bundling costs the compaction.
const READY_ZSTD_LEVEL: i32 = 3;

/// Largest bundle read back: no batch larger goes into a frame.
const MAX_READY_BUNDLE_BYTES: usize = crate::limits::MAX_FRAME_PAYLOAD_BYTES;

/// `ready_batch-v1`'s value.
#[derive(Serialize, Deserialize)]
struct ReadyBundle {
    /// `sync::batch_digest` of the batch's changes: a read for other
    /// changes (of a ready upload written since) finds none.
    digest: Vec<u8>,
    /// zstd-compressed.
    bundle: Vec<u8>,
    listed: Option<Vec<Vec<u8>>>,
}

/// An upload made ready, with its batches' rows encoded (bundles
/// compressed): what a compaction writes. Each batch is encoded as soon as
/// it is made, so a compaction holds one plain bundle at a time.
#[derive(Debug)]
pub(super) struct ReadyRows {
    upload: ReadyUpload,
    rows: Vec<Vec<u8>>,
}

/// The upload of the changes of `doc` (a journal's snapshot) beyond `base`,
/// in batches as a sync makes them ([`batch_from`] with
/// [`MAX_UPLOAD_BATCH_OPS`]); `None` when there are none, or when a batch
/// cannot be made (the sync then makes it, and says why).
pub(super) fn make(
    doc: &Automerge,
    base: Vec<ChangeHash>,
    journal: JournalId,
) -> Result<Option<ReadyRows>, StoreError> {
    let plan = missing_from(doc, &base, usize::MAX);
    let (mut batches, mut rows) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at < plan.len() {
        let Ok(batch) = batch_from(doc, &plan[at..], MAX_UPLOAD_BATCH_OPS) else {
            return Ok(None);
        };
        at += batch.changes.len();
        rows.push(encode_batch(&batch, journal)?);
        batches.push(batch.changes);
    }
    if batches.is_empty() {
        return Ok(None);
    }
    let upload = ReadyUpload {
        snapshot_heads: doc.get_heads(),
        base,
        batches,
    };
    Ok(Some(ReadyRows { upload, rows }))
}

/// One batch's `ready_batch-v1` value.
fn encode_batch(batch: &Batch, journal: JournalId) -> Result<Vec<u8>, StoreError> {
    let hashes: Vec<ChangeHash> = batch.changes.iter().map(|c| c.hash).collect();
    let plain = batch.bundle.as_deref().unwrap_or_default();
    let value = ReadyBundle {
        digest: batch_digest(&hashes).to_vec(),
        bundle: zstd::bulk::compress(plain, READY_ZSTD_LEVEL).map_err(|e| StoreError::Damaged {
            journal,
            reason: format!("the upload made ready could not be compressed: {e}"),
        })?,
        listed: batch
            .listed
            .as_ref()
            .map(|l| l.iter().map(|c| c.raw_bytes().to_vec()).collect()),
    };
    encode(&value, journal)
}

/// Replaces the ready upload of `journal` by `ready`, or by none.
pub(super) fn write(
    tx: &WriteTransaction,
    journal: JournalId,
    ready: Option<&ReadyRows>,
) -> Result<(), StoreError> {
    clear(tx, journal)?;
    let Some(ReadyRows {
        upload: ready,
        rows,
    }) = ready
    else {
        return Ok(());
    };
    let raw = |hashes: &[ChangeHash]| hashes.iter().map(|h| h.0).collect::<Vec<_>>();
    let header = Header {
        snapshot: raw(&ready.snapshot_heads),
        base: raw(&ready.base),
        batches: ready
            .batches
            .iter()
            .map(|batch| {
                batch
                    .iter()
                    .map(|c| (c.hash.0, c.author.to_bytes().to_vec(), raw(&c.deps)))
                    .collect()
            })
            .collect(),
    };
    let j = journal.0.as_u128();
    tx.open_table(READY_UPLOADS)?
        .insert(j, encode(&header, journal)?.as_slice())?;
    let mut table = tx.open_table(READY_BATCHES)?;
    for (n, row) in (0_u32..).zip(rows) {
        table.insert((j, n), row.as_slice())?;
    }
    Ok(())
}

/// Removes the ready upload of `journal`, if any.
pub(super) fn clear(tx: &WriteTransaction, journal: JournalId) -> Result<(), StoreError> {
    let j = journal.0.as_u128();
    tx.open_table(READY_UPLOADS)?.remove(j)?;
    tx.open_table(READY_BATCHES)?
        .retain_in((j, 0)..=(j, u32::MAX), |_, _| false)?;
    Ok(())
}

/// Moves the ready upload of `from` to `to` (a journal given its new id,
/// unchanged).
pub(super) fn move_rows(
    tx: &WriteTransaction,
    from: JournalId,
    to: JournalId,
) -> Result<(), StoreError> {
    let (f, t) = (from.0.as_u128(), to.0.as_u128());
    let header = tx
        .open_table(READY_UPLOADS)?
        .remove(f)?
        .map(|v| v.value().to_vec());
    if let Some(header) = header {
        tx.open_table(READY_UPLOADS)?.insert(t, header.as_slice())?;
    }
    let mut table = tx.open_table(READY_BATCHES)?;
    let rows: Vec<(u32, Vec<u8>)> = table
        .extract_from_if((f, 0)..=(f, u32::MAX), |_, _| true)?
        .map(|row| row.map(|(k, v)| (k.value().1, v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    for (n, value) in rows {
        table.insert((t, n), value.as_slice())?;
    }
    Ok(())
}

/// The ready upload of `journal`, if one is kept.
pub(super) fn read(
    tx: &ReadTransaction,
    journal: JournalId,
) -> Result<Option<ReadyUpload>, StoreError> {
    let Some(value) = tx.open_table(READY_UPLOADS)?.get(journal.0.as_u128())? else {
        return Ok(None);
    };
    let header: Header = postcard::from_bytes(value.value()).map_err(|_| damaged(journal))?;
    let hashes = |raw: Vec<[u8; 32]>| raw.into_iter().map(ChangeHash).collect::<Vec<_>>();
    let mut batches = Vec::with_capacity(header.batches.len());
    for batch in header.batches {
        let mut changes = Vec::with_capacity(batch.len());
        for (hash, author, deps) in batch {
            changes.push(BatchChange {
                hash: ChangeHash(hash),
                author: ActorId::from(author),
                deps: hashes(deps),
            });
        }
        batches.push(changes);
    }
    Ok(Some(ReadyUpload {
        snapshot_heads: hashes(header.snapshot),
        base: hashes(header.base),
        batches,
    }))
}

/// The bytes of batch `number` of the ready upload of `journal`, when that
/// batch holds the changes `hashes`.
pub(super) fn read_batch(
    tx: &ReadTransaction,
    journal: JournalId,
    (number, hashes): (u32, &[ChangeHash]),
) -> Result<Option<ReadyBytes>, StoreError> {
    let table = tx.open_table(READY_BATCHES)?;
    let Some(value) = table.get((journal.0.as_u128(), number))? else {
        return Ok(None);
    };
    let ready: ReadyBundle = postcard::from_bytes(value.value()).map_err(|_| damaged(journal))?;
    if ready.digest != batch_digest(hashes) {
        return Ok(None);
    }
    let bundle = zstd::bulk::decompress(&ready.bundle, MAX_READY_BUNDLE_BYTES)
        .map_err(|_| damaged(journal))?;
    let listed = match ready.listed {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|bytes| crate::sync::decode_change(bytes))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| damaged(journal))?,
        ),
    };
    Ok(Some((bundle, listed)))
}

/// postcard of plain vectors and bytes: it fails only for types it cannot
/// represent, which these are not.
fn encode(value: &impl Serialize, journal: JournalId) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Damaged {
        journal,
        reason: format!("the upload made ready could not be encoded: {e}"),
    })
}

fn damaged(journal: JournalId) -> StoreError {
    StoreError::Damaged {
        journal,
        reason: "the upload made ready by the last compaction is unreadable".into(),
    }
}
