//! Journals and their files in PostgreSQL (`krc_journal`,
//! `krc_journal_change`, `krc_file`, `krc_file_chunk`), each loaded journal
//! kept in memory behind its own lock, as the redb store keeps them.
//!
//! How several relays share a journal:
//! - Storing changes locks the journal's row (`SELECT … FOR UPDATE`) for the
//!   transaction, reads what other relays stored since this relay last read
//!   (changes numbered from the relay's `next_seq` on), checks the new
//!   changes against the journal so completed, and appends them under the
//!   next numbers. Numbers are therefore given in commit order: a relay that
//!   read every change below N has read all of them.
//! - Each round of a session starts with [`PgJournals::state`], which reads
//!   the row's numbers and the changes after what this relay holds, in one
//!   repeatable-read transaction.
//! - An erasure (on any relay) raises the epoch: a relay seeing a new epoch
//!   loads the journal afresh. So does one that finds changes it lacked
//!   folded into a snapshot by another relay's compaction.
//! - A journal whose memory may differ from the tables (a failed write, a
//!   panic) is dropped from memory and loads again on next use.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use automerge::{ActorId, Automerge, ChangeHash};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use sync_core::files::{FileHash, MediaType, chunk_count};
use sync_core::journal::{self, Journal};
use sync_core::limits::{LOAD_APPENDED_BYTES_AT_ONCE, MAX_DOWNLOAD_BATCH_OPS, compaction_due};
use sync_core::store::{
    ChunkStep, FileDescription, ReceiveChunkError, Snapshot, StoredFile, WholeFileCheck,
    check_said_size, next_chunk_step,
};
use sync_core::sync::{
    Batch, Received, StorageFailure, apply_guarded, batch_from, catch_library_panic,
    check_received, holds_all, missing_from,
};
use sync_core::{ActivityId, DeviceId};
use tokio_postgres::IsolationLevel;
use uuid::Uuid;

use super::{Db, DbError, news};
use crate::limits::{COMPACT_WHEN_QUIET_FOR, MAX_ERASURE_ATTEMPTS, compaction_overdue};
use crate::store::slots::{Recency, lock, read_slot, write_slot};

/// A journal loaded from the tables.
struct Loaded {
    journal: Journal,
    epoch: u32,
    /// Every change numbered below this is in `journal`.
    next_seq: i64,
    /// The relay's actor in this journal (it writes only erasures).
    actor: ActorId,
    /// Changes and their bytes appended after the snapshot, and the
    /// snapshot's size ([`compaction_due`]).
    appended: u64,
    appended_bytes: u64,
    snapshot_bytes: u64,
    /// When this relay last stored a change into it.
    last_stored: Option<Instant>,
}

/// Where a journal's row stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Position {
    epoch: u32,
    snapshot_seq: i64,
    next_seq: i64,
}

type Slot = std::sync::Arc<RwLock<Option<Loaded>>>;

/// The journals this relay has loaded.
#[derive(Default)]
pub(super) struct PgJournals {
    slots: Mutex<HashMap<Uuid, Slot>>,
    /// Loaded journals, least recently used first.
    recency: Recency,
    /// Journals a compaction of this relay is running for.
    compacting: Mutex<HashSet<Uuid>>,
}

/// Why a write failed, and whether memory still matches the tables.
enum WriteFailure {
    Kept(StorageFailure),
    Reload(StorageFailure),
}

impl From<DbError> for WriteFailure {
    fn from(e: DbError) -> Self {
        // The transaction did not commit; memory changed only if the write
        // says so (`Reload`), so a database failure keeps the journal.
        WriteFailure::Kept(e.failure())
    }
}

impl From<tokio_postgres::Error> for WriteFailure {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError::from(e).into()
    }
}

impl PgJournals {
    /// The journal's epoch and heads, after reading what other relays
    /// stored into it since.
    pub(super) fn state(
        &self,
        db: &Db,
        journal: Uuid,
    ) -> Result<(u32, Vec<ChangeHash>), StorageFailure> {
        self.write(db, journal, |loaded| {
            db.block_on(async move {
                let mut client = db.client().await?;
                let tx = read_snapshot(&mut client).await?;
                let position = position(&tx, journal, false).await?;
                catch_up(&tx, journal, loaded, position).await?;
                Ok((loaded.epoch, loaded.journal.heads()))
            })
        })
    }

    pub(super) fn contains_all(
        &self,
        db: &Db,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure> {
        self.read(db, journal, |l| Ok(holds_all(l.journal.doc(), hashes)))
    }

    pub(super) fn missing(
        &self,
        db: &Db,
        journal: Uuid,
        epoch: u32,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        self.read(db, journal, |l| {
            Ok((l.epoch == epoch).then(|| missing_from(l.journal.doc(), known, limit)))
        })
    }

    pub(super) fn batch(
        &self,
        db: &Db,
        journal: Uuid,
        epoch: u32,
        plan: &[ChangeHash],
    ) -> Result<Option<Batch>, StorageFailure> {
        self.read(db, journal, |l| {
            if l.epoch != epoch {
                return Ok(None);
            }
            batch_from(l.journal.doc(), plan, MAX_DOWNLOAD_BATCH_OPS).map(Some)
        })
    }

    pub(super) fn attachment_bytes(
        &self,
        db: &Db,
        journal: Uuid,
        activity: ActivityId,
        file: FileHash,
    ) -> Result<Option<u64>, StorageFailure> {
        self.read(db, journal, |l| {
            l.journal
                .referred_file(activity, file)
                .map_err(StorageFailure::local)
        })
    }

    /// Checks and stores received changes in one transaction with the
    /// journal's row locked; `Ack` is sent only after it committed.
    pub(super) fn apply_durably(
        &self,
        db: &Db,
        instance: Uuid,
        (journal, epoch): (Uuid, u32),
        changes: Received,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        self.write(db, journal, |loaded| {
            db.block_on(async move {
                let mut client = db.client().await?;
                let tx = client.transaction().await?;
                let position = position(&tx, journal, true).await?;
                catch_up(&tx, journal, loaded, position).await?;
                if loaded.epoch != epoch {
                    return Ok(None);
                }
                let checked =
                    check_received(loaded.journal.doc(), changes).map_err(WriteFailure::Kept)?;
                if checked.is_empty() {
                    return Ok(Some(loaded.journal.heads()));
                }
                apply_guarded(loaded.journal.doc_mut(), &checked).map_err(WriteFailure::Reload)?;
                // From here memory is ahead of the tables until the commit.
                let reload =
                    |e: tokio_postgres::Error| WriteFailure::Reload(DbError::from(e).failure());
                let bytes: Vec<Vec<u8>> = checked
                    .into_changes()
                    .iter()
                    .map(|c| c.raw_bytes().to_vec())
                    .collect();
                let count = bytes.len() as i64;
                let total: u64 = bytes.iter().map(|b| b.len() as u64).sum();
                let append = tx
                    .prepare_cached(
                        "INSERT INTO krc_journal_change (journal, seq, change) \
                         SELECT $1, $2 + n - 1, c FROM unnest($3::bytea[]) \
                         WITH ORDINALITY AS t(c, n)",
                    )
                    .await
                    .map_err(reload)?;
                tx.execute(&append, &[&journal, &loaded.next_seq, &bytes])
                    .await
                    .map_err(reload)?;
                let next_seq = loaded.next_seq + count;
                set_next_seq(&tx, journal, next_seq).await.map_err(reload)?;
                news::notify(&tx, journal, instance).await.map_err(reload)?;
                tx.commit().await.map_err(reload)?;
                loaded.next_seq = next_seq;
                loaded.appended += count as u64;
                loaded.appended_bytes += total;
                loaded.last_stored = Some(Instant::now());
                Ok(Some(loaded.journal.heads()))
            })
        })
    }

    /// Folds appended changes into a new snapshot, under the same rules as
    /// the redb store (`crate::store::Journals::maintain`).
    pub(super) fn maintain(&self, db: &Db, journal: Uuid) {
        let due = self.peek(journal, |l| {
            let quiet = l
                .last_stored
                .is_none_or(|at| at.elapsed() >= COMPACT_WHEN_QUIET_FOR);
            compaction_due(l.appended, l.appended_bytes, l.snapshot_bytes) && quiet
                || compaction_overdue(l.appended, l.appended_bytes)
        });
        if due == Some(true) {
            self.compact(db, journal);
        }
    }

    /// Compacts, once, every journal whose appended changes make it due, as
    /// the tables say: the relay starts with them folded.
    pub(super) fn compact_those_due(&self, db: &Db) -> usize {
        let due = db.block_on(async {
            let client = db.client().await?;
            let rows = client
                .query(
                    "SELECT j.id, count(c.seq), COALESCE(sum(length(c.change)), 0)::bigint, \
                     COALESCE(length(j.snapshot), 0)::bigint \
                     FROM krc_journal j JOIN krc_journal_change c \
                     ON c.journal = j.id AND c.seq > j.snapshot_seq \
                     GROUP BY j.id, j.snapshot",
                    &[],
                )
                .await?;
            let mut due = Vec::new();
            for row in rows {
                let (id, changes, bytes, snapshot): (Uuid, i64, i64, i64) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                if compaction_due(changes as u64, bytes as u64, snapshot as u64) {
                    due.push(id);
                }
            }
            Ok::<_, DbError>(due)
        });
        match due {
            Ok(due) => due
                .into_iter()
                .filter(|journal| self.compact(db, *journal))
                .count(),
            Err(e) => {
                tracing::warn!(error = %e, "could not list the journals to compact");
                0
            }
        }
    }

    /// Saves the loaded journal as a new snapshot and deletes the changes it
    /// holds; then the files no record refers to. Uploads wait only while
    /// the journal is copied.
    fn compact(&self, db: &Db, journal: Uuid) -> bool {
        if !lock(&self.compacting).insert(journal) {
            return false;
        }
        let compacted = self.compact_running(db, journal);
        lock(&self.compacting).remove(&journal);
        match compacted {
            Ok(true) => {
                tracing::info!(%journal, "journal compacted");
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::debug!(%journal, error = %e, "compaction put off");
                false
            }
        }
    }

    fn compact_running(&self, db: &Db, journal: Uuid) -> Result<bool, StorageFailure> {
        let (doc, heads, made_at, epoch) = self.read(db, journal, |l| {
            Ok((
                l.journal.doc().clone(),
                l.journal.heads(),
                l.next_seq,
                l.epoch,
            ))
        })?;
        let snapshot = Snapshot::check(doc.save(), &heads).map_err(StorageFailure::local)?;
        drop(doc);
        let written = db.block_on(async {
            let mut client = db.client().await?;
            let tx = client.transaction().await?;
            let now = position(&tx, journal, true).await?;
            if now.epoch != epoch || now.snapshot_seq >= made_at - 1 {
                return Ok::<_, DbError>(false);
            }
            tx.execute(
                "UPDATE krc_journal SET snapshot = $2, snapshot_seq = $3 WHERE id = $1",
                &[&journal, &snapshot.bytes(), &(made_at - 1)],
            )
            .await?;
            tx.execute(
                "DELETE FROM krc_journal_change WHERE journal = $1 AND seq < $2",
                &[&journal, &made_at],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        });
        if !written.map_err(DbError::failure)? {
            return Ok(false);
        }
        self.peek_mut(journal, |l| {
            if l.epoch == epoch {
                l.appended = (l.next_seq - made_at).max(0) as u64;
                l.appended_bytes = 0;
                l.snapshot_bytes = snapshot.len() as u64;
            }
        });
        self.drop_unreferenced_files(db, journal);
        Ok(true)
    }

    /// After a compaction: removes the files no record refers to, only if
    /// no change came in meanwhile (one may attach a file again).
    fn drop_unreferenced_files(&self, db: &Db, journal: Uuid) {
        let Ok((referred, next_seq, epoch)) = self.read(db, journal, |l| {
            Ok((l.journal.referred_files(), l.next_seq, l.epoch))
        }) else {
            return;
        };
        let dropped = db.block_on(async {
            let mut client = db.client().await?;
            let tx = client.transaction().await?;
            let now = position(&tx, journal, true).await?;
            if now.next_seq != next_seq || now.epoch != epoch {
                return Ok::<_, DbError>(0);
            }
            let dropped = delete_files_not_in(&tx, journal, &referred).await?;
            tx.commit().await?;
            Ok(dropped)
        });
        match dropped {
            Ok(0) => {}
            Ok(files) => tracing::info!(%journal, files, "files no record refers to removed"),
            Err(e) => tracing::debug!(%journal, error = %e, "unreferenced files kept"),
        }
    }

    /// Erases `activity` from the journal holding it (docs/ERASURE.md): the
    /// journal is rebuilt without it while it goes on serving, then swapped
    /// in under the next epoch if no relay stored anything meanwhile. The
    /// changes are deleted and the tables vacuumed (docs/POSTGRES.md says
    /// what PostgreSQL keeps after that).
    pub(super) fn erase_activity(
        &self,
        db: &Db,
        instance: Uuid,
        activity: ActivityId,
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, u32)>, StorageFailure> {
        let Some(holder) = self.holder_of(db, activity)? else {
            return Ok(None);
        };
        for _ in 0..MAX_ERASURE_ATTEMPTS {
            self.state(db, holder)?;
            let (epoch, next_seq, doc, actor) = self.read(db, holder, |l| {
                Ok((l.epoch, l.next_seq, l.journal.doc().fork(), l.actor.clone()))
            })?;
            // The costly part, holding nothing: other sessions go on.
            let rebuilt = Journal::from_doc(doc)
                .and_then(|j| j.rewritten_without(&[activity], actor, now))
                .map_err(StorageFailure::local)?;
            let snapshot = Snapshot::check(rebuilt.doc().save(), &rebuilt.heads())
                .map_err(StorageFailure::local)?;
            let referred = rebuilt.referred_files();
            let swapped = self.write(db, holder, |loaded| {
                db.block_on(async move {
                    let mut client = db.client().await?;
                    let tx = client.transaction().await?;
                    let now = position(&tx, holder, true).await?;
                    if now.epoch != epoch || now.next_seq != next_seq {
                        return Ok(false);
                    }
                    replace_journal(&tx, holder, &snapshot, (epoch + 1, next_seq)).await?;
                    delete_files_not_in(&tx, holder, &referred).await?;
                    news::notify(&tx, holder, instance).await?;
                    tx.commit().await?;
                    loaded.journal = rebuilt;
                    loaded.epoch = epoch + 1;
                    loaded.appended = 0;
                    loaded.appended_bytes = 0;
                    loaded.snapshot_bytes = snapshot.len() as u64;
                    Ok(true)
                })
            })?;
            if swapped {
                vacuum(db);
                return Ok(Some((holder, epoch + 1)));
            }
        }
        Err(StorageFailure::local(format!(
            "the journal holding activity {activity} kept changing while it was rebuilt \
             without it ({MAX_ERASURE_ATTEMPTS} times); ask again when its devices are quieter"
        )))
    }

    /// The journal holding `activity`: loaded ones first, then the others.
    fn holder_of(&self, db: &Db, activity: ActivityId) -> Result<Option<Uuid>, StorageFailure> {
        let loaded = self.recency.most_recent_first();
        let all = db
            .block_on(async {
                let client = db.client().await?;
                let rows = client
                    .query("SELECT id FROM krc_journal ORDER BY id", &[])
                    .await?;
                rows.iter()
                    .map(|r| r.try_get::<_, Uuid>(0).map_err(DbError::from))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(DbError::failure)?;
        let others = all.into_iter().filter(|j| !loaded.contains(j));
        for journal in loaded.iter().copied().chain(others) {
            self.state(db, journal)?;
            let holds = self.read(db, journal, |l| {
                l.journal.contains(activity).map_err(StorageFailure::local)
            })?;
            if holds {
                return Ok(Some(journal));
            }
        }
        Ok(None)
    }

    fn slot(&self, journal: Uuid) -> Slot {
        lock(&self.slots).entry(journal).or_default().clone()
    }

    /// Runs `f` on the loaded journal, if loaded (loads nothing).
    fn peek<T>(&self, journal: Uuid, f: impl FnOnce(&Loaded) -> T) -> Option<T> {
        let slot = self.slot(journal);
        let guard = read_slot(&slot);
        guard.as_ref().map(f)
    }

    fn peek_mut(&self, journal: Uuid, f: impl FnOnce(&mut Loaded)) {
        let slot = self.slot(journal);
        let mut guard = write_slot(&slot);
        if let Some(loaded) = guard.as_mut() {
            f(loaded);
        }
    }

    /// Runs `f` on the loaded journal, shared, loading it first if needed.
    fn read<T>(
        &self,
        db: &Db,
        journal: Uuid,
        f: impl FnOnce(&Loaded) -> Result<T, StorageFailure>,
    ) -> Result<T, StorageFailure> {
        let slot = self.slot(journal);
        {
            let guard = read_slot(&slot);
            if let Some(loaded) = guard.as_ref() {
                self.touch(journal);
                return f(loaded);
            }
        }
        let mut guard = write_slot(&slot);
        if guard.is_none() {
            *guard = Some(db.block_on(load_fresh(db, journal))?);
            self.loaded(journal);
        }
        match guard.as_ref() {
            Some(loaded) => f(loaded),
            None => Err(StorageFailure::local("the journal did not load")),
        }
    }

    /// Runs `f` (database work) on the loaded journal alone, loading it
    /// first if needed; a [`WriteFailure::Reload`] drops it from memory.
    fn write<T>(
        &self,
        db: &Db,
        journal: Uuid,
        f: impl FnOnce(&mut Loaded) -> Result<T, WriteFailure>,
    ) -> Result<T, StorageFailure> {
        let slot = self.slot(journal);
        let mut guard = write_slot(&slot);
        if guard.is_none() {
            *guard = Some(db.block_on(load_fresh(db, journal))?);
            self.loaded(journal);
        } else {
            self.touch(journal);
        }
        let Some(loaded) = guard.as_mut() else {
            return Err(StorageFailure::local("the journal did not load"));
        };
        match f(loaded) {
            Ok(value) => Ok(value),
            Err(WriteFailure::Kept(e)) => Err(e),
            Err(WriteFailure::Reload(e)) => {
                *guard = None;
                self.recency.forget(journal);
                Err(e)
            }
        }
    }

    fn touch(&self, journal: Uuid) {
        self.recency.touch(journal);
    }

    /// `journal` was loaded: past the limit, the least recently used idle
    /// journals are dropped from memory (a busy one stays).
    fn loaded(&self, journal: Uuid) {
        self.recency.loaded(journal, |old| {
            let slot = self.slot(old);
            let dropped = slot.try_write().map(|mut guard| *guard = None);
            dropped.is_ok()
        });
    }
}

/// A read-only transaction that sees one moment of the tables.
async fn read_snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, DbError> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

/// The journal's row; `lock` holds it for the transaction (writers).
async fn position(
    client: &impl GenericClient,
    journal: Uuid,
    lock: bool,
) -> Result<Position, DbError> {
    let sql = if lock {
        "SELECT epoch, snapshot_seq, next_seq FROM krc_journal WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT epoch, snapshot_seq, next_seq FROM krc_journal WHERE id = $1"
    };
    let statement = client.prepare_cached(sql).await?;
    let row = client
        .query_opt(&statement, &[&journal])
        .await?
        .ok_or_else(|| DbError::Damaged(format!("journal {journal} has no row")))?;
    Ok(Position {
        epoch: epoch_of(row.try_get(0)?)?,
        snapshot_seq: row.try_get(1)?,
        next_seq: row.try_get(2)?,
    })
}

fn epoch_of(stored: i32) -> Result<u32, DbError> {
    u32::try_from(stored).map_err(|_| DbError::Damaged(format!("epoch {stored}")))
}

async fn set_next_seq(
    client: &impl GenericClient,
    journal: Uuid,
    next_seq: i64,
) -> Result<(), tokio_postgres::Error> {
    let statement = client
        .prepare_cached("UPDATE krc_journal SET next_seq = $2 WHERE id = $1")
        .await?;
    client.execute(&statement, &[&journal, &next_seq]).await?;
    Ok(())
}

/// Brings `loaded` to `position`: what other relays stored since, or the
/// whole journal again after an erasure or a compaction past it.
async fn catch_up(
    client: &impl GenericClient,
    journal: Uuid,
    loaded: &mut Loaded,
    position: Position,
) -> Result<(), WriteFailure> {
    if position.epoch != loaded.epoch || position.snapshot_seq >= loaded.next_seq {
        *loaded = load(client, journal).await.map_err(WriteFailure::Reload)?;
        return Ok(());
    }
    if position.next_seq == loaded.next_seq {
        return Ok(());
    }
    let statement = client
        .prepare_cached(
            "SELECT change FROM krc_journal_change \
             WHERE journal = $1 AND seq >= $2 AND seq < $3 ORDER BY seq",
        )
        .await?;
    let rows = client
        .query(
            &statement,
            &[&journal, &loaded.next_seq, &position.next_seq],
        )
        .await?;
    let mut bytes = 0;
    let changes: Vec<Vec<u8>> = rows
        .iter()
        .map(|row| row.try_get::<_, Vec<u8>>(0))
        .collect::<Result<_, _>>()?;
    for change in &changes {
        bytes += change.len() as u64;
    }
    load_changes(loaded.journal.doc_mut(), &changes).map_err(WriteFailure::Reload)?;
    loaded.appended += changes.len() as u64;
    loaded.appended_bytes += bytes;
    loaded.next_seq = position.next_seq;
    Ok(())
}

/// Loads a journal in a transaction of its own, making its row on first use
/// (only for a centre the registry knows).
async fn load_fresh(db: &Db, journal: Uuid) -> Result<Loaded, StorageFailure> {
    let mut client = db.client().await.map_err(DbError::failure)?;
    let made = client
        .execute(
            "INSERT INTO krc_journal (id, epoch, snapshot, snapshot_seq, next_seq, actor) \
             SELECT id, 0, NULL, 0, 1, $2 FROM krc_centre WHERE id = $1 \
             ON CONFLICT (id) DO NOTHING",
            &[&journal, &Uuid::new_v4()],
        )
        .await
        .map_err(|e| DbError::from(e).failure())?;
    if made == 0 {
        let known = client
            .query_opt("SELECT 1 FROM krc_journal WHERE id = $1", &[&journal])
            .await
            .map_err(|e| DbError::from(e).failure())?;
        if known.is_none() {
            return Err(StorageFailure::local(format!(
                "no centre with id {journal}"
            )));
        }
    }
    let tx = read_snapshot(&mut client).await.map_err(DbError::failure)?;
    load(&tx, journal).await
}

/// The journal as the tables hold it: its snapshot, then every change
/// appended after it.
async fn load(client: &impl GenericClient, journal: Uuid) -> Result<Loaded, StorageFailure> {
    let failed = |e: tokio_postgres::Error| DbError::from(e).failure();
    let statement = client
        .prepare_cached(
            "SELECT epoch, snapshot, snapshot_seq, next_seq, actor FROM krc_journal WHERE id = $1",
        )
        .await
        .map_err(failed)?;
    let row = client
        .query_opt(&statement, &[&journal])
        .await
        .map_err(failed)?
        .ok_or_else(|| StorageFailure::local(format!("journal {journal} has no row")))?;
    let snapshot: Option<Vec<u8>> = row.try_get(1).map_err(failed)?;
    let snapshot_seq: i64 = row.try_get(2).map_err(failed)?;
    let actor = DeviceId(row.try_get(4).map_err(failed)?).actor();
    let damaged = |why: &str| StorageFailure::local(format!("journal {journal}: {why}"));
    let mut doc = match snapshot.as_deref() {
        Some(bytes) => catch_library_panic(|| Automerge::load(bytes))
            .and_then(Result::ok)
            .ok_or_else(|| damaged("its snapshot does not load"))?,
        None => journal::genesis(),
    };
    let statement = client
        .prepare_cached(
            "SELECT change FROM krc_journal_change WHERE journal = $1 AND seq > $2 ORDER BY seq",
        )
        .await
        .map_err(failed)?;
    let rows = client
        .query(&statement, &[&journal, &snapshot_seq])
        .await
        .map_err(failed)?;
    let changes: Vec<Vec<u8>> = rows
        .iter()
        .map(|row| row.try_get::<_, Vec<u8>>(0))
        .collect::<Result<_, _>>()
        .map_err(failed)?;
    load_changes(&mut doc, &changes)?;
    let journal_loaded =
        Journal::from_doc(doc.with_actor(actor.clone())).map_err(StorageFailure::local)?;
    Ok(Loaded {
        journal: journal_loaded,
        epoch: epoch_of(row.try_get(0).map_err(failed)?).map_err(DbError::failure)?,
        next_seq: row.try_get(3).map_err(failed)?,
        actor,
        appended: changes.len() as u64,
        appended_bytes: changes.iter().map(|c| c.len() as u64).sum(),
        snapshot_bytes: snapshot.map_or(0, |s| s.len() as u64),
        last_stored: None,
    })
}

/// Applies stored changes, a few megabytes at a time (Automerge's
/// intermediate form of a batch is many times its bytes).
fn load_changes(doc: &mut Automerge, changes: &[Vec<u8>]) -> Result<(), StorageFailure> {
    let mut pending = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        pending.extend_from_slice(change);
        if pending.len() >= LOAD_APPENDED_BYTES_AT_ONCE || i + 1 == changes.len() {
            catch_library_panic(|| doc.load_incremental(&pending))
                .and_then(Result::ok)
                .ok_or_else(|| StorageFailure::local("a stored change does not load"))?;
            pending.clear();
        }
    }
    Ok(())
}

/// Writes an erasure's rebuilt journal: a new epoch, its snapshot, and no
/// appended change (numbers go on from `next_seq`).
async fn replace_journal(
    client: &impl GenericClient,
    journal: Uuid,
    snapshot: &Snapshot,
    (epoch, next_seq): (u32, i64),
) -> Result<(), DbError> {
    let epoch = i32::try_from(epoch).map_err(|_| DbError::Damaged("epoch overflow".into()))?;
    client
        .execute(
            "UPDATE krc_journal SET epoch = $2, snapshot = $3, snapshot_seq = $4 WHERE id = $1",
            &[&journal, &epoch, &snapshot.bytes(), &(next_seq - 1)],
        )
        .await?;
    client
        .execute(
            "DELETE FROM krc_journal_change WHERE journal = $1",
            &[&journal],
        )
        .await?;
    Ok(())
}

/// Removes the journal's files (and their chunks) not in `referred`.
async fn delete_files_not_in(
    client: &impl GenericClient,
    journal: Uuid,
    referred: &BTreeSet<FileHash>,
) -> Result<u64, DbError> {
    let kept: Vec<&[u8]> = referred.iter().map(|h| h.0.as_slice()).collect();
    Ok(client
        .execute(
            "DELETE FROM krc_file WHERE journal = $1 AND NOT (hash = ANY($2))",
            &[&journal, &kept],
        )
        .await?)
}

/// After an erasure: deleted rows are cleared from the tables' pages now,
/// not at autovacuum's next pass. Housekeeping: a failure is logged.
fn vacuum(db: &Db) {
    let vacuumed = db.block_on(async {
        let client = db.client().await?;
        client
            .batch_execute("VACUUM krc_journal, krc_journal_change, krc_file, krc_file_chunk")
            .await?;
        Ok::<_, DbError>(())
    });
    if let Err(e) = vacuumed {
        tracing::warn!(error = %e, "the tables were not vacuumed after an erasure");
    }
}

fn stored_file(
    hash: FileHash,
    (bytes, media_type, chunks_held): (i64, Option<i16>, i64),
) -> Result<StoredFile, DbError> {
    let damaged = || DbError::Damaged(format!("file {hash}"));
    let bytes = u64::try_from(bytes).map_err(|_| damaged())?;
    let chunks_held = u64::try_from(chunks_held).map_err(|_| damaged())?;
    if chunks_held > chunk_count(bytes) {
        return Err(damaged());
    }
    let whole = chunks_held == chunk_count(bytes);
    let media_type = match (whole, media_type) {
        (false, None) => None,
        (true, Some(code)) => Some(
            u8::try_from(code)
                .ok()
                .and_then(MediaType::from_code)
                .ok_or_else(damaged)?,
        ),
        _ => return Err(damaged()),
    };
    Ok(StoredFile {
        hash,
        bytes,
        media_type,
        chunks_held,
    })
}

async fn held_in(
    client: &impl GenericClient,
    journal: Uuid,
    hash: FileHash,
    lock: bool,
) -> Result<Option<StoredFile>, DbError> {
    let sql = if lock {
        "SELECT bytes, media_type, chunks_held FROM krc_file \
         WHERE journal = $1 AND hash = $2 FOR UPDATE"
    } else {
        "SELECT bytes, media_type, chunks_held FROM krc_file WHERE journal = $1 AND hash = $2"
    };
    let statement = client.prepare_cached(sql).await?;
    let row = client
        .query_opt(&statement, &[&journal, &hash.0.as_slice()])
        .await?;
    match row {
        Some(row) => Ok(Some(stored_file(
            hash,
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
        )?)),
        None => Ok(None),
    }
}

pub(super) async fn held_file(
    db: &Db,
    journal: Uuid,
    hash: FileHash,
) -> Result<Option<StoredFile>, DbError> {
    let client = db.client().await?;
    held_in(&client, journal, hash, false).await
}

pub(super) async fn file_bytes(db: &Db, journal: Uuid) -> Result<u64, DbError> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached("SELECT COALESCE(sum(bytes), 0)::bigint FROM krc_file WHERE journal = $1")
        .await?;
    let total: i64 = client
        .query_one(&statement, &[&journal])
        .await?
        .try_get(0)?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// Stores chunk `number` of `file` durably under the rules every store
/// applies (`sync_core::store::next_chunk_step`), the file's row locked: two
/// relays receiving the same file at once store each chunk once. With the
/// last chunk the whole file is read back and checked; one that fails is
/// removed whole in the same transaction.
pub(super) async fn receive_file_chunk(
    db: &Db,
    journal: Uuid,
    file: FileDescription,
    number: u64,
    chunk: &[u8],
) -> Result<Result<StoredFile, ReceiveChunkError>, DbError> {
    if let Err(e) = check_said_size(file) {
        return Ok(Err(e));
    }
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let (hash, bytes) = (file.hash.0.as_slice(), file.bytes as i64);
    let insert = tx
        .prepare_cached(
            "INSERT INTO krc_file (journal, hash, bytes, media_type, chunks_held) \
             VALUES ($1, $2, $3, NULL, 0) ON CONFLICT (journal, hash) DO NOTHING",
        )
        .await?;
    tx.execute(&insert, &[&journal, &hash, &bytes]).await?;
    // A refused chunk rolls the row back with the transaction.
    let held = held_in(&tx, journal, file.hash, true).await?;
    let last = match next_chunk_step(file, held, number, chunk) {
        Ok(ChunkStep::Held(held)) => return Ok(Ok(held)),
        Ok(ChunkStep::Store { last }) => last,
        Err(e) => return Ok(Err(e)),
    };
    let put = tx
        .prepare_cached(
            "INSERT INTO krc_file_chunk (journal, hash, number, chunk) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    tx.execute(&put, &[&journal, &hash, &(number as i64), &chunk])
        .await?;
    let media_type = if last {
        match whole_file_check(&tx, journal, file).await? {
            Ok(media_type) => Some(media_type),
            Err(e) => {
                tx.execute(
                    "DELETE FROM krc_file WHERE journal = $1 AND hash = $2",
                    &[&journal, &hash],
                )
                .await?;
                tx.commit().await?;
                return Ok(Err(e));
            }
        }
    } else {
        None
    };
    let code = media_type.map(|t| i16::from(t.code()));
    tx.execute(
        "UPDATE krc_file SET chunks_held = $3, media_type = $4 WHERE journal = $1 AND hash = $2",
        &[&journal, &hash, &(number as i64 + 1), &code],
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(StoredFile {
        hash: file.hash,
        bytes: file.bytes,
        media_type,
        chunks_held: number + 1,
    }))
}

/// Reads the whole file back, one chunk at a time, and checks it.
async fn whole_file_check(
    client: &impl GenericClient,
    journal: Uuid,
    file: FileDescription,
) -> Result<Result<MediaType, ReceiveChunkError>, DbError> {
    let statement = client
        .prepare_cached(
            "SELECT chunk FROM krc_file_chunk WHERE journal = $1 AND hash = $2 AND number = $3",
        )
        .await?;
    let mut check = WholeFileCheck::new(file);
    for number in 0..chunk_count(file.bytes) {
        let row = client
            .query_opt(
                &statement,
                &[&journal, &file.hash.0.as_slice(), &(number as i64)],
            )
            .await?;
        let chunk: Option<Vec<u8>> = row.map(|r| r.try_get(0)).transpose()?;
        if let Err(e) = check.feed(chunk.as_deref()) {
            return Ok(Err(e));
        }
    }
    Ok(check.finish())
}

pub(super) async fn file_chunk(
    db: &Db,
    journal: Uuid,
    hash: FileHash,
    number: u64,
) -> Result<Option<Vec<u8>>, DbError> {
    let client = db.client().await?;
    let Some(file) = held_in(&client, journal, hash, false).await? else {
        return Ok(None);
    };
    if number >= file.chunks_held {
        return Ok(None);
    }
    let statement = client
        .prepare_cached(
            "SELECT chunk FROM krc_file_chunk WHERE journal = $1 AND hash = $2 AND number = $3",
        )
        .await?;
    let row = client
        .query_opt(
            &statement,
            &[&journal, &hash.0.as_slice(), &(number as i64)],
        )
        .await?
        .ok_or_else(|| DbError::Damaged(format!("chunk {number} of file {hash} is missing")))?;
    Ok(Some(row.try_get(0)?))
}

impl PgJournals {
    /// The journal whole, as the tables hold it now, and its epoch.
    pub(super) fn copy_of(&self, db: &Db, journal: Uuid) -> Result<(u32, Journal), StorageFailure> {
        self.state(db, journal)?;
        self.read(db, journal, |l| {
            let whole = Journal::from_doc(l.journal.doc().fork()).map_err(StorageFailure::local)?;
            Ok((l.epoch, whole))
        })
    }
}

/// Every journal the tables hold, by id.
pub(super) async fn journal_ids(db: &Db) -> Result<Vec<Uuid>, DbError> {
    let client = db.client().await?;
    let rows = client
        .query("SELECT id FROM krc_journal ORDER BY id", &[])
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// Writes `copy` as a new journal row, its whole content a snapshot under
/// `epoch` (`relay migrate-store`, into an empty database).
pub(super) async fn put_copy(
    db: &Db,
    journal: Uuid,
    epoch: u32,
    copy: &Journal,
) -> Result<(), DbError> {
    let snapshot = Snapshot::check(copy.doc().save(), &copy.heads())
        .map_err(|e| DbError::Damaged(e.to_string()))?;
    let epoch = i32::try_from(epoch).map_err(|_| DbError::Damaged("epoch overflow".into()))?;
    let client = db.client().await?;
    client
        .execute(
            "INSERT INTO krc_journal (id, epoch, snapshot, snapshot_seq, next_seq, actor) \
             VALUES ($1, $2, $3, 0, 1, $4)",
            &[&journal, &epoch, &snapshot.bytes(), &Uuid::new_v4()],
        )
        .await?;
    Ok(())
}

/// Every file of a journal, whole or in part, by hash.
pub(super) async fn files_of(db: &Db, journal: Uuid) -> Result<Vec<StoredFile>, DbError> {
    let client = db.client().await?;
    let rows = client
        .query(
            "SELECT hash, bytes, media_type, chunks_held FROM krc_file \
             WHERE journal = $1 ORDER BY hash",
            &[&journal],
        )
        .await?;
    let mut files = Vec::new();
    for row in rows {
        let hash: Vec<u8> = row.try_get(0)?;
        let hash = FileHash(
            hash.try_into()
                .map_err(|_| DbError::Damaged("a file's hash".into()))?,
        );
        files.push(stored_file(
            hash,
            (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?),
        )?);
    }
    Ok(files)
}
