//! The office's side of an erasure (docs/ERASURE.md): the request, kept
//! durably until the relay answers, and the record hidden at once.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Replica, ReplicaError};
use crate::activity::ActivityId;
use crate::store::{ErasureAnswer, ErasureRequest};
use crate::sync::StorageFailure;

impl Replica {
    /// Asks the relay, at the next sync, to erase activity `id` from every
    /// store. Until then the record is marked deleted here, so nobody sees
    /// it; the request is durable when this returns.
    pub fn request_erasure(
        &mut self,
        id: ActivityId,
        now: DateTime<Utc>,
    ) -> Result<(), ReplicaError> {
        self.journal_holding(id)?;
        let request = ErasureRequest {
            activity: id,
            requested_at: now,
            requested_by: self.store.device_name().to_owned(),
            answer: None,
        };
        // The request first: refused (too many waiting), nothing changes.
        self.store.request_erasure(request)?;
        self.set_deleted(id, true, now)?;
        Ok(())
    }

    /// Activities whose erasure waits for the relay (for the sync session).
    pub(super) fn waiting_erasures(&self) -> Result<Vec<Uuid>, StorageFailure> {
        let requests = self.store.erasure_requests().map_err(local)?;
        Ok(requests
            .iter()
            .filter(|r| r.answer.is_none())
            .map(|r| r.activity.0)
            .collect())
    }

    /// Records the relay's answer (for the sync session).
    pub(super) fn record_erasure_answer(
        &mut self,
        activity: Uuid,
        rewritten: Option<(Uuid, u32)>,
    ) -> Result<(), StorageFailure> {
        let at = Utc::now();
        let answer = match rewritten {
            Some((_, epoch)) => ErasureAnswer::Erased { at, epoch },
            None => ErasureAnswer::NotFound { at },
        };
        self.store
            .answer_erasure(ActivityId(activity), answer)
            .map_err(local)
    }
}

fn local(e: crate::store::StoreError) -> StorageFailure {
    StorageFailure::local(e)
}
