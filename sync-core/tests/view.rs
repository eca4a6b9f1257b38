//! The materialized list view (`activity_view-v2`) always equals what the
//! journal document shows, after local edits, imports and received changes.

use automerge::ActorId;
use chrono::{TimeZone, Utc};
use sync_core::activity::{ActivityInput, Group};
use sync_core::journal::{Journal, Stamp};
use sync_core::replica::ListView;
use sync_core::sync::SyncStorage;
use sync_core::{ActivityId, ActivityPatch, NewStore, Replica};

fn patch(i: usize) -> ActivityPatch {
    ActivityInput {
        title: Some(format!("Kopienas iniciatīva nr. {i} — ģimenes")),
        kind: Some("community_initiative".into()),
        date: Some(format!("2026-0{}-1{}", 1 + i % 9, i % 10)),
        counts: vec![("parents".into(), format!("{i}"))],
        ..Default::default()
    }
    .parse()
    .expect("valid")
}

fn now(n: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + n, 0)
        .single()
        .expect("valid time")
}

#[test]
fn view_matches_the_journal_after_local_and_remote_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("journal.redb");
    let new = NewStore {
        centre: "Preiļu KRC",
        device_name: "klēpjdators",
    };
    let mut replica = Replica::create(&path, new).expect("create");
    let ids: Vec<ActivityId> = (0..5)
        .map(|i| {
            replica
                .add(ActivityId::new_random(), &patch(i), now(i as i64))
                .expect("add")
        })
        .collect();
    let retitle = ActivityInput {
        title: Some("Labots nosaukums".into()),
        ..Default::default()
    };
    replica
        .edit(ids[1], &retitle.parse().expect("valid"), now(10))
        .expect("edit");
    replica.set_deleted(ids[2], true, now(11)).expect("delete");
    let imported: Vec<_> = (10..30)
        .map(|i| (ActivityId::new_random(), patch(i)))
        .collect();
    replica.import(imported, now(12)).expect("import");

    // Another device edits one of ours and records two of its own; we receive it.
    let home = replica.journal_id();
    let doc = replica
        .journal()
        .expect("journal")
        .doc()
        .fork()
        .with_actor(ActorId::random());
    let mut other = Journal::from_doc(doc).expect("journal");
    let counts = ActivityPatch {
        counts: vec![(Group::Teachers, 17)],
        ..Default::default()
    };
    let stamp = Stamp {
        author: "birojs",
        now: now(20),
    };
    other.update(ids[0], &counts, stamp).expect("remote edit");
    other
        .create(ActivityId::new_random(), &patch(100), stamp)
        .expect("remote add");
    other
        .create(ActivityId::new_random(), &patch(101), stamp)
        .expect("remote add");
    let changes = other
        .doc()
        .get_changes(&replica.journal().expect("journal").heads());
    replica
        .apply_durably(home.0, changes.into())
        .expect("apply");

    let expected = replica.activities().expect("read");
    assert_eq!(expected.len(), 27);
    drop(replica);
    let view = ListView::open(&path).expect("open view");
    assert_eq!(view.activities(home).expect("view"), expected);
    let status = view.status().expect("status");
    assert_eq!((status.activities, status.deleted), (26, 1));
}
