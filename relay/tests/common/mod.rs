//! What the relay's store tests share: journals recorded at a relay.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use chrono::Utc;
use relay::store::{RedbStore, RelayStore};
use sync_core::journal::Stamp;
use sync_core::{ActivityId, ActivityInput, Journal};
use uuid::Uuid;

pub(crate) const PER_CENTRE: usize = 3;

/// Records `PER_CENTRE` activities in `centre`'s journal at the relay.
pub(crate) fn record(store: &dyn RelayStore, centre: Uuid) -> Vec<ActivityId> {
    let mut journal = Journal::new(automerge::ActorId::random());
    let stamp = Stamp {
        author: "test",
        now: Utc::now(),
    };
    let mut changes = Vec::new();
    let ids: Vec<ActivityId> = (0..PER_CENTRE)
        .map(|i| {
            let id = ActivityId::new_random();
            let patch = ActivityInput {
                title: Some(format!("Privāts ieraksts {i}")),
                kind: Some("seminar".into()),
                date: Some("2026-05-14".into()),
                ..ActivityInput::default()
            }
            .parse()
            .expect("valid");
            changes.push(journal.create(id, &patch, stamp).expect("create"));
            id
        })
        .collect();
    let epoch = store.state(centre).expect("state").0;
    store
        .apply_durably(centre, epoch, changes.into())
        .expect("stored")
        .expect("the same epoch");
    ids
}

/// The relay's copy of `centre`'s journal.
pub(crate) fn at_relay(store: &RedbStore, centre: Uuid) -> Journal {
    store.journals().copy_of(centre).expect("the journal")
}
