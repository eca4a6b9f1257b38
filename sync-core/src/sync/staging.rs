//! A journal downloaded into memory before it replaces the stored copy: how a
//! device adopts a journal an erasure rewrote (docs/ERASURE.md). The download
//! runs in a session of its own against this storage; only once it holds all
//! of it does the device swap it in. "Durable" here means "held until
//! adopted": a lost connection drops it, and the next sync starts again.

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash};
use uuid::Uuid;

use super::{
    AttestationTag, Batch, BatchChange, ClientStorage, JournalGrant, Received, StorageFailure,
    SyncStorage, apply_guarded, batch_from, check_received, holds_all, missing_from,
};
use crate::journal::genesis;
use crate::limits::MAX_UPLOAD_BATCH_OPS;

/// One journal at one epoch, downloaded into memory.
#[derive(Debug)]
pub struct StagingJournal {
    journal: Uuid,
    epoch: u32,
    doc: Automerge,
    /// The relay's tags on the downloaded changes, kept with the journal.
    attested: HashMap<ChangeHash, AttestationTag>,
}

impl StagingJournal {
    /// An empty copy (the shared genesis) of `journal` at `epoch`.
    pub fn new(journal: Uuid, epoch: u32) -> StagingJournal {
        StagingJournal {
            journal,
            epoch,
            doc: genesis(),
            attested: HashMap::new(),
        }
    }

    /// What was downloaded: the document and the relay's tags.
    pub fn into_parts(self) -> (Automerge, Vec<(ChangeHash, AttestationTag)>) {
        (self.doc, self.attested.into_iter().collect())
    }

    /// The document, if `journal` is the one staged.
    fn doc(&mut self, journal: Uuid) -> Result<&mut Automerge, StorageFailure> {
        if journal != self.journal {
            return Err(StorageFailure::NoJournal(journal));
        }
        Ok(&mut self.doc)
    }
}

impl SyncStorage for StagingJournal {
    fn heads(&mut self, journal: Uuid) -> Result<Vec<ChangeHash>, StorageFailure> {
        Ok(self.doc(journal)?.get_heads())
    }

    fn contains_all(
        &mut self,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure> {
        Ok(holds_all(self.doc(journal)?, hashes))
    }

    fn missing(
        &mut self,
        journal: Uuid,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        Ok(missing_from(self.doc(journal)?, known, limit))
    }

    /// A batch that fails its checks fails the whole download (nothing of it
    /// is kept), so nothing needs undoing here.
    fn apply_durably(
        &mut self,
        journal: Uuid,
        changes: Received,
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        let doc = self.doc(journal)?;
        let checked = check_received(doc, changes)?;
        apply_guarded(doc, &checked)?;
        Ok(doc.get_heads())
    }

    fn batch(&mut self, journal: Uuid, plan: &[ChangeHash]) -> Result<Batch, StorageFailure> {
        batch_from(self.doc(journal)?, plan, MAX_UPLOAD_BATCH_OPS)
    }

    fn epoch(&mut self, journal: Uuid) -> Result<u32, StorageFailure> {
        self.doc(journal)?;
        Ok(self.epoch)
    }
}

impl ClientStorage for StagingJournal {
    /// Nothing of this copy was acknowledged: it starts from the genesis.
    fn acked_heads(&mut self, _journal: Uuid) -> Result<Vec<ChangeHash>, StorageFailure> {
        Ok(Vec::new())
    }

    fn mark_acknowledged(
        &mut self,
        _journal: Uuid,
        _covered: &[ChangeHash],
    ) -> Result<(), StorageFailure> {
        Ok(())
    }

    fn ensure_journal(&mut self, grant: &JournalGrant) -> Result<(), StorageFailure> {
        self.doc(grant.journal).map(|_| ())
    }

    /// What is unsent lives in the stored copy, not in this one.
    fn unsent(&mut self) -> Result<u32, StorageFailure> {
        Ok(0)
    }

    fn attestations(
        &mut self,
        _journal: Uuid,
        _batch: &[BatchChange],
    ) -> Result<Vec<(ChangeHash, AttestationTag)>, StorageFailure> {
        Ok(Vec::new())
    }

    fn apply_downloaded(
        &mut self,
        journal: Uuid,
        changes: Received,
        attested: &[(ChangeHash, AttestationTag)],
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        let heads = self.apply_durably(journal, changes)?;
        self.attested.extend(attested.iter().copied());
        Ok(heads)
    }

    fn erasures_requested(&mut self) -> Result<Vec<Uuid>, StorageFailure> {
        Ok(Vec::new())
    }

    fn erasure_answered(
        &mut self,
        _activity: Uuid,
        _rewritten: Option<(Uuid, u32)>,
    ) -> Result<(), StorageFailure> {
        Ok(())
    }
}
