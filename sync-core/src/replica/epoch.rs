//! Adopting a newer epoch of a journal: the relay rewrote it to erase a
//! record (docs/ERASURE.md), and this device's copy — old changes that may
//! hold the erased record — must be replaced by the relay's.

use automerge::{Automerge, ChangeHash};
use uuid::Uuid;

use super::{Replica, ReplicaError};
use crate::activity::{Activity, ActivityId};
use crate::journal::{Journal, Stamp, full_patch};
use crate::store::{JournalId, Replacement};
use crate::sync::AttestationTag;

impl Replica {
    /// Replaces `journal` by `downloaded`, the relay's complete copy of its
    /// epoch `epoch`. Activities changed here and not yet sent are carried
    /// over as new local changes (still to be sent), except erased ones; the
    /// journal is replaced in one transaction (with `attested`, the relay's
    /// tags on its changes written by others), then the whole file is
    /// rewritten so that nothing of the old journal stays in it.
    pub fn adopt_epoch(
        &mut self,
        journal: Uuid,
        epoch: u32,
        (downloaded, attested): (Automerge, &[(ChangeHash, AttestationTag)]),
    ) -> Result<(), ReplicaError> {
        let id = JournalId(journal);
        let carried = self.unsent_records(id)?;
        let actor = self.store.device_id().actor();
        let mut new = Journal::from_doc(downloaded.with_actor(actor))?;
        let acked = new.heads();
        let erased = new.erased()?;
        let mut unsent: Vec<(ActivityId, ChangeHash)> = Vec::new();
        for record in carried.iter().filter(|a| !erased.contains(&a.id)) {
            if let Some(hash) = carry(&mut new, record)? {
                unsent.push((record.id, hash));
            }
        }
        let with = Replacement {
            epoch,
            acked: &acked,
            unsent: &unsent,
            attested,
        };
        self.store.replace_journal(id, &new, with)?;
        self.forget(id);
        self.store.rewrite_file()?;
        Ok(())
    }

    /// The activities of `journal` with changes not yet sent, as they read here.
    fn unsent_records(&mut self, id: JournalId) -> Result<Vec<Activity>, ReplicaError> {
        let ids = self.store.unsent_activities(id)?;
        let journal = self.journal_by_id(id)?;
        let mut records = Vec::new();
        for activity in ids {
            records.extend(journal.get(activity)?);
        }
        Ok(records)
    }
}

/// Writes `record` into `journal` as local changes (created, or updated to
/// read as it does here); the last change's hash, if anything changed.
fn carry(journal: &mut Journal, record: &Activity) -> Result<Option<ChangeHash>, ReplicaError> {
    let updated = Stamp {
        author: &record.updated_by,
        now: record.updated_at,
    };
    let mut last = if journal.contains(record.id)? {
        journal.update(record.id, &full_patch(record), updated)?
    } else {
        let created = Stamp {
            author: &record.recorded_by,
            now: record.created_at,
        };
        Some(journal.create(record.id, &full_patch(record), created)?)
    };
    if let Some(change) = journal.set_deleted(record.id, record.deleted, updated)? {
        last = Some(change);
    }
    Ok(last.map(|c| c.hash()))
}
