//! What is not yet sent: `unsent-v1` (the latest unacknowledged local change
//! of each activity) and its index by change, `unsent_by_change-v1`. Every
//! write to either goes through here, so the two agree.
//!
//! An acknowledgement covers whole changes: with the index it visits the
//! unsent changes (a few hundred at most, an import writes 100 activities per
//! change) instead of every unsent activity (50,000 after a large import),
//! which made a first sync cost O(batches × activities).

use std::collections::BTreeMap;

use automerge::ChangeHash;
use redb::{ReadableTable, WriteTransaction};

use super::tables::{UNSENT, UNSENT_BY_CHANGE};
use super::{JournalId, StoreError};
use crate::activity::ActivityId;

/// Bytes of one activity id in an index row.
const ID_BYTES: usize = 16;

/// Records `touched` (each activity with its latest local change) as unsent.
pub(super) fn record(
    tx: &WriteTransaction,
    journal: JournalId,
    touched: &[(ActivityId, ChangeHash)],
) -> Result<(), StoreError> {
    let j = journal.0.as_u128();
    let mut unsent = tx.open_table(UNSENT)?;
    let mut by_change: BTreeMap<ChangeHash, Vec<u8>> = BTreeMap::new();
    for (activity, hash) in touched {
        unsent.insert((j, activity.0.as_u128()), hash.0.as_slice())?;
        by_change
            .entry(*hash)
            .or_default()
            .extend_from_slice(activity.0.as_bytes());
    }
    let mut index = tx.open_table(UNSENT_BY_CHANGE)?;
    for (hash, ids) in by_change {
        let mut row = index
            .get((j, &hash.0))?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        row.extend_from_slice(&ids);
        index.insert((j, &hash.0), row.as_slice())?;
    }
    Ok(())
}

/// Everything of `journal` counts as sent.
pub(super) fn clear(tx: &WriteTransaction, journal: JournalId) -> Result<(), StoreError> {
    let j = journal.0.as_u128();
    tx.open_table(UNSENT)?
        .retain_in((j, 0)..=(j, u128::MAX), |_, _| false)?;
    tx.open_table(UNSENT_BY_CHANGE)?
        .retain_in((j, &[0; 32])..=(j, &[u8::MAX; 32]), |_, _| false)?;
    Ok(())
}

/// The changes of `journal` that some activity's unsent row named when it
/// was written (the index's keys).
pub(super) fn changes(
    tx: &WriteTransaction,
    journal: JournalId,
) -> Result<Vec<ChangeHash>, StoreError> {
    let j = journal.0.as_u128();
    let index = tx.open_table(UNSENT_BY_CHANGE)?;
    let mut hashes = Vec::new();
    for row in index.range((j, &[0; 32])..=(j, &[u8::MAX; 32]))? {
        hashes.push(ChangeHash(*row?.0.value().1));
    }
    Ok(hashes)
}

/// The relay holds the changes `covered` (among those [`changes`] named):
/// each activity whose unsent row still names one of them counts as sent.
pub(super) fn acknowledge(
    tx: &WriteTransaction,
    journal: JournalId,
    covered: &[ChangeHash],
) -> Result<(), StoreError> {
    let j = journal.0.as_u128();
    let mut unsent = tx.open_table(UNSENT)?;
    let mut index = tx.open_table(UNSENT_BY_CHANGE)?;
    for hash in covered {
        let Some(ids) = index.remove((j, &hash.0))? else {
            continue;
        };
        for id in ids.value().chunks_exact(ID_BYTES) {
            let activity = u128::from_be_bytes(id.try_into().map_err(|_| damaged(journal))?);
            // A later change of the activity may be the unsent one now.
            let names_this = unsent
                .get((j, activity))?
                .is_some_and(|v| v.value() == hash.0.as_slice());
            if names_this {
                unsent.remove((j, activity))?;
            }
        }
    }
    Ok(())
}

/// Moves the unsent rows of `from` to `to` (a journal given its new id).
pub(super) fn move_rows(
    tx: &WriteTransaction,
    from: JournalId,
    to: JournalId,
) -> Result<(), StoreError> {
    super::move_activity_rows(tx, UNSENT, from, to)?;
    let (f, t) = (from.0.as_u128(), to.0.as_u128());
    let mut index = tx.open_table(UNSENT_BY_CHANGE)?;
    let rows: Vec<([u8; 32], Vec<u8>)> = index
        .extract_from_if((f, &[0; 32])..=(f, &[u8::MAX; 32]), |_, _| true)?
        .map(|row| row.map(|(k, v)| (*k.value().1, v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    for (hash, ids) in rows {
        index.insert((t, &hash), ids.as_slice())?;
    }
    Ok(())
}

/// Builds the index from `unsent-v1` (migration to layout 5).
pub(super) fn build_index(tx: &WriteTransaction) -> Result<(), StoreError> {
    let unsent = tx.open_table(UNSENT)?;
    let mut by_change: BTreeMap<(u128, [u8; 32]), Vec<u8>> = BTreeMap::new();
    for row in unsent.iter()? {
        let (key, value) = row?;
        let (journal, activity) = key.value();
        let hash: [u8; 32] = value
            .value()
            .try_into()
            .map_err(|_| damaged(JournalId(uuid::Uuid::from_u128(journal))))?;
        by_change
            .entry((journal, hash))
            .or_default()
            .extend_from_slice(&activity.to_be_bytes());
    }
    let mut index = tx.open_table(UNSENT_BY_CHANGE)?;
    for ((journal, hash), ids) in by_change {
        index.insert((journal, &hash), ids.as_slice())?;
    }
    Ok(())
}

fn damaged(journal: JournalId) -> StoreError {
    StoreError::Damaged {
        journal,
        reason: "a row of what is not yet sent is unreadable".into(),
    }
}
