//! Erasure: a journal rewritten without some activities' content.
//!
//! Automerge keeps every change ever made: deleting an activity (the
//! tombstone) or overwriting a field adds operations, and the earlier values
//! stay in the document's history, in every saved copy and in every store
//! that holds its changes. Removing a record for privacy therefore means a
//! new document that never contained it: [`Journal::rewritten_without`]
//! builds one from the shared genesis, with every other activity exactly as
//! it reads now, and the erased ids listed (so that an edit of an erased
//! activity made offline is recognised and dropped, never re-created). The
//! price is the history of the other activities: it starts again at the
//! rewrite (who recorded each one and when, and who changed it last, stay in
//! the record). See docs/ERASURE.md.

use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ROOT, ReadDoc, ScalarValue};
use chrono::{DateTime, Utc};

use super::{
    Journal, JournalError, Stamp, TxWriter, commit_options, stamp_update, write_attachment,
    write_new,
};
use crate::activity::{Activity, ActivityId, ActivityPatch};
use crate::limits::IMPORT_ACTIVITIES_PER_CHANGE;

/// Root key of the map of erased activities (id → when it was erased). Only a
/// rewrite writes it, once, in the first change after the genesis, so no two
/// replicas ever create it independently.
const KEY_ERASED: &str = "erased";

/// Author of the rewrite's changes, as the history shows it.
const REWRITE_AUTHOR: &str = "erasure";

impl Journal {
    /// The activities erased from this journal: their content is in none of its
    /// changes.
    pub fn erased(&self) -> Result<Vec<ActivityId>, JournalError> {
        let Some((automerge::Value::Object(ObjType::Map), map)) = self.doc.get(ROOT, KEY_ERASED)?
        else {
            return Ok(Vec::new());
        };
        Ok(self
            .doc
            .keys(&map)
            .filter_map(|key| key.parse().ok())
            .collect())
    }

    /// A new journal from the shared genesis, with `actor`, holding every
    /// activity of this one as it reads now except those in `erase` (and
    /// those erased before), which are only listed as erased.
    pub fn rewritten_without(
        &self,
        erase: &[ActivityId],
        actor: ActorId,
        now: DateTime<Utc>,
    ) -> Result<Journal, JournalError> {
        let mut erased = self.erased()?;
        for id in erase {
            if self.object_of(*id)?.is_none() && !erased.contains(id) {
                return Err(JournalError::NotFound(*id));
            }
            if !erased.contains(id) {
                erased.push(*id);
            }
        }
        let kept: Vec<Activity> = self
            .activities()?
            .into_iter()
            .filter(|a| !erased.contains(&a.id))
            .collect();
        let mut journal = Journal::new(actor);
        journal.write_erased_list(&erased, now)?;
        for chunk in kept.chunks(IMPORT_ACTIVITIES_PER_CHANGE) {
            journal.write_verbatim(chunk, now)?;
        }
        Ok(journal)
    }

    fn write_erased_list(
        &mut self,
        erased: &[ActivityId],
        now: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let stamp = Stamp {
            author: REWRITE_AUTHOR,
            now,
        };
        let mut tx = self.doc.transaction();
        let map = tx.put_object(ROOT, KEY_ERASED, ObjType::Map)?;
        for id in erased {
            tx.put(
                &map,
                id.to_string(),
                ScalarValue::Timestamp(now.timestamp_millis()),
            )?;
        }
        tx.commit_with(commit_options(stamp).with_message("erasure"));
        Ok(())
    }

    /// Writes `activities` in one change, each reading back exactly as given.
    fn write_verbatim(
        &mut self,
        activities: &[Activity],
        now: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let mut tx = self.doc.transaction();
        for a in activities {
            let created = Stamp {
                author: &a.recorded_by,
                now: a.created_at,
            };
            write_new(
                &mut TxWriter(&mut tx),
                &self.activities,
                a.id,
                &full_patch(a),
                created,
            )?;
            let obj = match tx.get(&self.activities, a.id.to_string())? {
                Some((_, obj)) => obj,
                None => return Err(JournalError::NotFound(a.id)),
            };
            if (a.updated_by.as_str(), a.updated_at) != (a.recorded_by.as_str(), a.created_at) {
                let updated = Stamp {
                    author: &a.updated_by,
                    now: a.updated_at,
                };
                stamp_update(&mut tx, &obj, updated)?;
            }
            if a.deleted {
                tx.put(&obj, "deleted", true)?;
            }
            for file in &a.attachments {
                write_attachment(&mut tx, &obj, file)?;
            }
        }
        let stamp = Stamp {
            author: REWRITE_AUTHOR,
            now,
        };
        tx.commit_with(commit_options(stamp).with_message("erasure"));
        Ok(())
    }
}

/// Every field of `a` as a patch (for writing it anew).
pub fn full_patch(a: &Activity) -> ActivityPatch {
    ActivityPatch {
        title: Some(a.title.clone()),
        kind: Some(a.kind),
        date: Some(a.date),
        start: Some(a.start),
        hours: Some(a.hours),
        place: Some(a.place.clone()),
        organisers: Some(a.organisers.clone()),
        institutions: Some(a.institutions.clone()),
        // Every group, zeros too: an update with this patch must also clear a
        // count the record no longer has.
        counts: crate::activity::Group::ALL
            .iter()
            .map(|g| (*g, a.counts.get(*g)))
            .collect(),
        description: Some(a.description.clone()),
        notes: Some(a.notes.clone()),
    }
}
