//! The redb table layout. Every table name carries its layout version; a change
//! of key or value encoding gets a new name and a numbered migration in
//! [`super::migrate`].
//!
//! Ids are stored as `u128` (the UUID's 16 bytes, big-endian), change hashes as
//! their 32 raw bytes.

use redb::TableDefinition;

/// Key: setting name / Value: setting bytes.
///
/// | key            | value                                                  |
/// |----------------|--------------------------------------------------------|
/// | `format`       | [`FORMAT_MARKER`]: tells our stores from other redb files |
/// | `store_version`| u32 little-endian: layout version, see [`super::STORE_VERSION`] |
/// | `device_id`    | 16 bytes: this device's id, also its Automerge actor id |
/// | `device_name`  | UTF-8: the name shown as "recorded by"                  |
/// | `home_journal` | 16 bytes: id of the journal this device records into    |
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta-v1");

/// Key: journal id / Value: JSON of [`super::JournalInfo`] (centre name, ...).
pub(crate) const JOURNALS: TableDefinition<u128, &[u8]> = TableDefinition::new("journals-v1");

/// Key: journal id / Value: `Automerge::save()` bytes of the journal as of the
/// last compaction. Absent until the first compaction: the journal is then the
/// shared genesis plus the appended changes.
pub(crate) const SNAPSHOTS: TableDefinition<u128, &[u8]> = TableDefinition::new("snapshots-v1");

/// Key: (journal id, append sequence number) / Value: the raw bytes of one
/// Automerge change not yet folded into the snapshot. Sequence numbers only grow.
pub(crate) const CHANGES: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("changes-v1");

/// Key: (journal id, activity id) / Value: 32-byte hash of the latest local change
/// to that activity that the relay has not yet durably acknowledged. An activity
/// leaves this table once the relay's acknowledged heads include that change.
pub(crate) const UNSENT: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("unsent-v1");

/// Key: journal id / Value: concatenated 32-byte change hashes: the heads of this
/// journal that the relay has confirmed it stored durably.
pub(crate) const ACKED_HEADS: TableDefinition<u128, &[u8]> = TableDefinition::new("acked_heads-v1");

/// Written to `meta-v1/format` when a store is created.
pub(crate) const FORMAT_MARKER: &[u8] = b"krc-field-journal-store";

/// Key: setting name / Value: JSON. Enrolment (`enrolment`: relay address, relay
/// key fingerprint, centre, role), sync status (`sync_status`: last success,
/// last failure and why), the data plan (`data_plan`, `data_used`) and, on
/// office devices, the relay's latest sync-health report (`sync_health`).
pub(crate) const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings-v1");

/// Key: (journal id, activity id) / Value: the activity as the journal's stored
/// heads show it, in the compact row format of `view_row` (a format byte, then
/// postcard): a materialized view, so that listing, showing and exporting never
/// load the Automerge document. Written in the same transaction as every change
/// that touches the activity.
pub(crate) const ACTIVITY_VIEW: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("activity_view-v2");

/// Layouts 1 to 3: the same rows as JSON. Read only by the migration to
/// layout 4, which deletes it.
pub(crate) const ACTIVITY_VIEW_JSON: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("activity_view-v1");

/// Key: journal id / Value: concatenated 32-byte hashes: the heads the view of
/// that journal reflects. Absent when the view was never built (then it is
/// built from the document on first read).
pub(crate) const VIEW_HEADS: TableDefinition<u128, &[u8]> = TableDefinition::new("view_heads-v1");

/// Key: (journal id, 32-byte change hash) / Value: the relay's 16-byte tag on
/// that change (`sync::attest`): kept for every change written by another
/// device that this device received from the relay, so that it can send the
/// change back should the relay lose it (restored from a backup). Written
/// in the same transaction as the change. Added in layout 2.
pub(crate) const ATTESTATIONS: TableDefinition<(u128, &[u8; 32]), &[u8]> =
    TableDefinition::new("attestations-v1");

/// Key: journal id / Value: [`crate::journal::Tip::to_bytes`]: the journal's
/// heads, highest operation counter, this device's last sequence number and
/// the activities map, as of the last change stored: what `add` needs to make
/// the next change without loading the document. Written in the same
/// transaction as every change a device stores; removed by any write that
/// cannot compute it (the journal is then loaded once and the tip written
/// again). Added in layout 3.
pub(crate) const JOURNAL_TIPS: TableDefinition<u128, &[u8]> =
    TableDefinition::new("journal_tip-v1");

/// Key: journal id / Value: concatenated 32-byte change hashes: the heads of
/// the journal's snapshot (`snapshots-v1`), or the genesis heads while it has
/// none. Written in the same transaction as every snapshot; absent only for
/// a journal whose snapshot predates layout 5 (written the first time that
/// journal is loaded). Lets a sync tell, from the appended changes alone,
/// what the relay lacks (`crate::appended`). Added in layout 5.
pub(crate) const SNAPSHOT_HEADS: TableDefinition<u128, &[u8]> =
    TableDefinition::new("snapshot_heads-v1");

/// Key: (journal id, 32-byte change hash) / Value: concatenated 16-byte ids
/// of the activities whose `unsent-v1` row named that change when it was
/// written: an index of `unsent-v1` by change, so that an acknowledgement
/// visits the changes it covers instead of every unsent activity. A row may
/// name an activity whose `unsent-v1` row has moved on to a later change;
/// such names are skipped. Added in layout 5.
pub(crate) const UNSENT_BY_CHANGE: TableDefinition<(u128, &[u8; 32]), &[u8]> =
    TableDefinition::new("unsent_by_change-v1");

/// Key: journal id / Value: postcard of `ready_upload::Header`: the upload a
/// compaction made ready of the journal's changes the relay had not
/// acknowledged: the snapshot's heads it was made from, the acknowledged
/// heads it builds on, and each batch's changes (hash, author,
/// dependencies), in the order they are sent. Written in the same
/// transaction as the snapshot; removed with the batches when everything
/// counts as sent, when the journal is rewritten (erasure) or compacted
/// again, and when it merges into another at enrolment. A first sync sends
/// these batches as they are, without loading the document
/// (`sync::stored`). Added in layout 6.
pub(crate) const READY_UPLOADS: TableDefinition<u128, &[u8]> =
    TableDefinition::new("ready_upload-v1");

/// Key: (journal id, batch number from 0) / Value: postcard of
/// `ready_upload::ReadyBundle`: the batch's Automerge bundle and, for a
/// batch small enough to travel as a change list, its changes' bytes.
/// Written and removed with its `ready_upload-v1` row. Added in layout 6.
pub(crate) const READY_BATCHES: TableDefinition<(u128, u32), &[u8]> =
    TableDefinition::new("ready_batch-v1");

/// Key: 32-byte SHA-256 of a file attached to an activity / Value: postcard
/// of `files::FileRow`: the file's size in bytes, its media type (1 JPEG,
/// 2 PNG, 3 PDF; 0 while it arrives: told from its bytes once whole) and how
/// many of its chunks the store holds, from the first (all of them once it
/// is whole). Written in the same transaction as its
/// chunks. Added in layout 7 (docs/ATTACHMENTS.md).
pub(crate) const FILES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("file-v1");

/// Key: (file hash, chunk number from 0) / Value: that chunk of the file's
/// bytes, [`crate::limits::FILE_CHUNK_BYTES`] long (the last one shorter).
/// Added in layout 7.
pub(crate) const FILE_CHUNKS: TableDefinition<(&[u8; 32], u64), &[u8]> =
    TableDefinition::new("file_chunk-v1");

/// Key: (journal id, 32-byte file hash) / Value: 16-byte id of the activity
/// whose record refers to the file: a file attached on this device that the
/// relay does not hold whole yet, in the journal it goes to. Written in the
/// same transaction as the file's bytes (before the record's reference:
/// a row whose file no record refers to is dropped when the relay refuses
/// it); removed once the relay says it holds every chunk and checked the
/// file's hash. Added in layout 8.
pub(crate) const FILE_UPLOADS: TableDefinition<(u128, &[u8; 32]), &[u8]> =
    TableDefinition::new("file_upload-v1");
