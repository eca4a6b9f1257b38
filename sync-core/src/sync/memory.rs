//! In-memory journals implementing the storage traits, for deterministic tests
//! and simulations. "Durable" here means "in this struct": a simulated crash
//! is modelled by the test keeping or discarding the whole struct.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::{ActorId, Automerge, ChangeHash};
use uuid::Uuid;

use super::{
    AttestationTag, Batch, ClientStorage, Received, RelayStorage, StorageFailure, SyncStorage,
    batch_from, check_received, missing_from,
};
use crate::activity::ActivityId;
use crate::journal::{Journal, genesis};
use crate::limits::{MAX_DOWNLOAD_BATCH_OPS, MAX_UPLOAD_BATCH_OPS};
use chrono::DateTime;

/// Journals held in memory, with the acknowledged heads a client keeps.
#[derive(Debug, Default)]
pub struct MemoryJournals {
    pub docs: BTreeMap<Uuid, Automerge>,
    pub acked: BTreeMap<Uuid, Vec<ChangeHash>>,
    /// Hashes of local changes not yet covered by an acknowledgement.
    pub unsent: BTreeMap<Uuid, HashSet<ChangeHash>>,
    /// For a client: the relay's tags on other devices' changes it holds.
    pub attestations: BTreeMap<Uuid, HashMap<ChangeHash, AttestationTag>>,
    /// Each journal's epoch (absent: 0).
    pub epochs: BTreeMap<Uuid, u32>,
    /// For an office client: activities it asked to erase, not yet answered.
    pub erasures_requested: Vec<Uuid>,
    /// For an office client: the relay's answers, in order.
    pub erasures_answered: Vec<(Uuid, Option<(Uuid, u32)>)>,
}

impl MemoryJournals {
    /// The document of `journal`, created from the shared genesis if new.
    pub fn doc(&mut self, journal: Uuid) -> &mut Automerge {
        self.docs.entry(journal).or_insert_with(genesis)
    }

    /// Records a change made locally (so it counts as unsent until acknowledged).
    pub fn record_local(&mut self, journal: Uuid, hash: ChangeHash) {
        self.unsent.entry(journal).or_default().insert(hash);
    }
}

impl SyncStorage for MemoryJournals {
    fn epoch(&mut self, journal: Uuid) -> Result<u32, StorageFailure> {
        Ok(self.epochs.get(&journal).copied().unwrap_or(0))
    }

    fn heads(&mut self, journal: Uuid) -> Result<Vec<ChangeHash>, StorageFailure> {
        Ok(self.doc(journal).get_heads())
    }

    fn contains_all(
        &mut self,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure> {
        Ok(super::holds_all(self.doc(journal), hashes))
    }

    fn missing(
        &mut self,
        journal: Uuid,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        Ok(missing_from(self.doc(journal), known, limit))
    }

    fn apply_durably(
        &mut self,
        journal: Uuid,
        changes: Received,
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        let doc = self.doc(journal);
        let checked = check_received(doc, changes)?;
        // "Reloading from the store" for memory: the state before this batch.
        let before = doc.fork();
        if let Err(e) = super::apply_guarded(doc, &checked) {
            *doc = before;
            return Err(e);
        }
        Ok(doc.get_heads())
    }

    fn batch(&mut self, journal: Uuid, plan: &[ChangeHash]) -> Result<Batch, StorageFailure> {
        batch_from(self.doc(journal), plan, MAX_UPLOAD_BATCH_OPS)
    }
}

/// The bundle of `hashes` (all held by `doc`), as bytes for the wire.
pub fn bundle_bytes(doc: &Automerge, hashes: &[ChangeHash]) -> Result<Vec<u8>, StorageFailure> {
    doc.bundle(hashes.iter().copied())
        .map(|b| b.bytes().to_vec())
        .map_err(StorageFailure::local)
}

impl ClientStorage for MemoryJournals {
    fn acked_heads(&mut self, journal: Uuid) -> Result<Vec<ChangeHash>, StorageFailure> {
        Ok(self.acked.get(&journal).cloned().unwrap_or_default())
    }

    fn mark_acknowledged(
        &mut self,
        journal: Uuid,
        covered: &[ChangeHash],
    ) -> Result<(), StorageFailure> {
        let doc = self.doc(journal);
        let known: Vec<ChangeHash> = covered
            .iter()
            .copied()
            .filter(|h| doc.get_change_meta_by_hash(h).is_some())
            .collect();
        let not_covered: HashSet<ChangeHash> = doc
            .get_changes_meta(&known)
            .into_iter()
            .map(|meta| meta.hash)
            .collect();
        if let Some(unsent) = self.unsent.get_mut(&journal) {
            unsent.retain(|h| not_covered.contains(h));
        }
        self.acked.insert(journal, known);
        Ok(())
    }

    fn ensure_journal(&mut self, grant: &super::JournalGrant) -> Result<(), StorageFailure> {
        self.doc(grant.journal);
        Ok(())
    }

    /// Changes here, not activities: a memory journal has no activity index.
    fn unsent(&mut self) -> Result<u32, StorageFailure> {
        let n: usize = self.unsent.values().map(|u| u.len()).sum();
        Ok(u32::try_from(n).unwrap_or(u32::MAX - 1))
    }

    fn attestations(
        &mut self,
        journal: Uuid,
        batch: &[super::BatchChange],
    ) -> Result<Vec<(ChangeHash, AttestationTag)>, StorageFailure> {
        let Some(kept) = self.attestations.get(&journal) else {
            return Ok(Vec::new());
        };
        Ok(batch
            .iter()
            .filter_map(|c| Some((c.hash, *kept.get(&c.hash)?)))
            .collect())
    }

    fn apply_downloaded(
        &mut self,
        journal: Uuid,
        changes: Received,
        attested: &[(ChangeHash, AttestationTag)],
    ) -> Result<Vec<ChangeHash>, StorageFailure> {
        let heads = SyncStorage::apply_durably(self, journal, changes)?;
        self.attestations
            .entry(journal)
            .or_default()
            .extend(attested.iter().copied());
        Ok(heads)
    }

    fn erasures_requested(&mut self) -> Result<Vec<Uuid>, StorageFailure> {
        Ok(self.erasures_requested.clone())
    }

    fn erasure_answered(
        &mut self,
        activity: Uuid,
        rewritten: Option<(Uuid, u32)>,
    ) -> Result<(), StorageFailure> {
        self.erasures_requested.retain(|a| *a != activity);
        self.erasures_answered.push((activity, rewritten));
        Ok(())
    }
}

impl RelayStorage for MemoryJournals {
    fn state(&mut self, journal: Uuid) -> Result<(u32, Vec<ChangeHash>), StorageFailure> {
        Ok((
            SyncStorage::epoch(self, journal)?,
            self.doc(journal).get_heads(),
        ))
    }

    fn contains_all(
        &mut self,
        journal: Uuid,
        hashes: &[ChangeHash],
    ) -> Result<bool, StorageFailure> {
        SyncStorage::contains_all(self, journal, hashes)
    }

    fn missing(
        &mut self,
        journal: Uuid,
        epoch: u32,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        if SyncStorage::epoch(self, journal)? != epoch {
            return Ok(None);
        }
        Ok(Some(missing_from(self.doc(journal), known, limit)))
    }

    fn batch(
        &mut self,
        journal: Uuid,
        epoch: u32,
        plan: &[ChangeHash],
    ) -> Result<Option<Batch>, StorageFailure> {
        if SyncStorage::epoch(self, journal)? != epoch {
            return Ok(None);
        }
        batch_from(self.doc(journal), plan, MAX_DOWNLOAD_BATCH_OPS).map(Some)
    }

    fn apply_durably(
        &mut self,
        journal: Uuid,
        epoch: u32,
        changes: Received,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        if SyncStorage::epoch(self, journal)? != epoch {
            return Ok(None);
        }
        SyncStorage::apply_durably(self, journal, changes).map(Some)
    }
    /// Rewrites with a fixed actor and time: memory journals serve
    /// deterministic tests.
    fn erase(&mut self, activity: Uuid) -> Result<Option<(Uuid, u32)>, StorageFailure> {
        let id = ActivityId(activity);
        let failure = |e: crate::JournalError| StorageFailure::local(e);
        for (journal, doc) in &mut self.docs {
            let old = Journal::from_doc(doc.clone()).map_err(failure)?;
            if !old.contains(id).map_err(failure)? {
                continue;
            }
            let actor = ActorId::from(MEMORY_RELAY_ACTOR);
            let new = old
                .rewritten_without(&[id], actor, DateTime::UNIX_EPOCH)
                .map_err(failure)?;
            *doc = new.doc().clone();
            let epoch = self.epochs.entry(*journal).or_insert(0);
            *epoch += 1;
            return Ok(Some((*journal, *epoch)));
        }
        Ok(None)
    }
}

/// The Automerge actor of a memory relay's rewrites.
const MEMORY_RELAY_ACTOR: &[u8] = b"memory relay";
