//! The journal document: shared genesis, merging replicas, field-level edits,
//! validation of creates and updates, and refusal of foreign or newer documents.

mod common;

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc};
use sync_core::activity::Field;
use sync_core::files::{FileHash, MediaType};
use sync_core::journal::{SCHEMA_VERSION, genesis};
use sync_core::limits::MAX_FILES_PER_ACTIVITY;
use sync_core::{ActivityId, ActivityPatch, Group, Journal, JournalError, Kind, NewAttachment};

use common::{actor, date, full, minimal, stamp};

/// Merges `from` into `into` (one direction only).
fn merge(into: &mut Journal, from: &mut Journal) {
    into.doc_mut().merge(from.doc_mut()).expect("merge");
}

/// Merges both ways, so both replicas end up with every change.
fn sync(a: &mut Journal, b: &mut Journal) {
    merge(a, b);
    merge(b, a);
}

/// A replica that starts as a copy of `source` (as a second device would after
/// its first sync), with its own actor.
fn replica_of(source: &mut Journal, n: u8) -> Journal {
    let mut copy = Journal::new(actor(n));
    merge(&mut copy, source);
    copy
}

/// Keys of `ROOT.activities` as an Automerge reader sees them: the winning
/// `activities` object only. Used on journals and on plain documents alike, so
/// the contrast test shows this very check catches the root-container pitfall.
fn visible_activity_keys(doc: &Automerge) -> BTreeSet<String> {
    let (_, activities) = doc
        .get(ROOT, "activities")
        .expect("get")
        .expect("an activities object");
    doc.keys(&activities).collect()
}

fn create(j: &mut Journal, title: &str, who: &str, secs: i64) -> ActivityId {
    let id = ActivityId::new_random();
    j.create(id, &minimal(title), stamp(who, secs))
        .expect("create");
    id
}

#[test]
fn genesis_is_deterministic() {
    let (one, two) = (genesis(), genesis());
    assert!(!one.get_heads().is_empty());
    assert_eq!(one.get_heads(), two.get_heads());
    assert_eq!(one.save(), two.save());
    // Journals started by different devices share that genesis exactly.
    let (a, b) = (Journal::new(actor(1)), Journal::new(actor(2)));
    assert_eq!(a.heads(), one.get_heads());
    assert_eq!(b.heads(), one.get_heads());
    assert!(a.is_empty() && b.is_empty());
}

/// THE pitfall: a device starts its journal offline, the relay starts its own
/// copy elsewhere; neither has seen the other. After merging, every activity of
/// both must be visible on both.
#[test]
fn journals_started_apart_keep_both_sides_after_merge() {
    let mut device = Journal::new(actor(1));
    let device_ids: Vec<_> = ["Skolotāja loma", "Vecāku sapulce", "Ēnu diena"]
        .iter()
        .enumerate()
        .map(|(i, t)| create(&mut device, t, "Laptop", i as i64))
        .collect();
    let mut relay = Journal::new(actor(2));
    let relay_ids: Vec<_> = ["Ziemassvētku pasākums", "Šūšanas darbnīca"]
        .iter()
        .enumerate()
        .map(|(i, t)| create(&mut relay, t, "Relay", i as i64))
        .collect();

    sync(&mut device, &mut relay);

    assert_eq!(device.heads(), relay.heads());
    let all: BTreeSet<String> = device_ids
        .iter()
        .chain(&relay_ids)
        .map(|id| id.to_string())
        .collect();
    assert_eq!(all.len(), 5);
    for side in [&device, &relay] {
        assert_eq!(visible_activity_keys(side.doc()), all);
        for id in device_ids.iter().chain(&relay_ids) {
            assert!(
                side.get(*id).expect("get").is_some(),
                "{id} missing after merge"
            );
        }
        assert_eq!(side.len(), 5);
    }
    assert_eq!(
        device.activities().expect("read"),
        relay.activities().expect("read")
    );
}

/// The contrast that proves the test above can fail: two plain documents that
/// each create `activities` themselves get two different objects, and after a
/// merge a reader sees only one of them, so one side's records vanish from view.
#[test]
fn independently_created_root_maps_hide_one_side_after_merge() {
    fn plain(actor: ActorId, keys: &[&str]) -> Automerge {
        let mut doc = Automerge::new().with_actor(actor);
        let mut tx = doc.transaction();
        let map = tx
            .put_object(ROOT, "activities", ObjType::Map)
            .expect("put_object");
        for key in keys {
            let obj = tx.put_object(&map, *key, ObjType::Map).expect("put_object");
            tx.put(&obj, "title", *key).expect("put");
        }
        tx.commit();
        doc
    }
    let a_keys: BTreeSet<String> = ["a1", "a2", "a3"].map(String::from).into();
    let b_keys: BTreeSet<String> = ["b1", "b2"].map(String::from).into();
    let mut a = plain(actor(1), &["a1", "a2", "a3"]);
    let mut b = plain(actor(2), &["b1", "b2"]);
    a.merge(&mut b).expect("merge");
    b.merge(&mut a).expect("merge");

    assert_eq!(
        a.get_heads(),
        b.get_heads(),
        "the documents themselves did converge"
    );
    assert_eq!(
        a.get_all(ROOT, "activities").expect("get_all").len(),
        2,
        "two rival objects"
    );
    let seen = visible_activity_keys(&a);
    assert_eq!(seen, visible_activity_keys(&b));
    assert!(
        seen == a_keys || seen == b_keys,
        "exactly one side visible, saw {seen:?}"
    );
    assert!(
        seen.len() < a_keys.len() + b_keys.len(),
        "entries were lost from view"
    );
}

#[test]
fn concurrent_edits_of_different_fields_all_survive() {
    let mut a = Journal::new(actor(1));
    let id = ActivityId::new_random();
    a.create(id, &full("Skolotāja loma kopienā"), stamp("A", 0))
        .expect("create");
    let mut b = replica_of(&mut a, 2);
    let mut c = replica_of(&mut a, 3);

    let title = ActivityPatch {
        title: Some("Skolotāja loma vietējā kopienā".into()),
        ..Default::default()
    };
    let counts = ActivityPatch {
        counts: vec![(Group::Teachers, 17)],
        ..Default::default()
    };
    let place = ActivityPatch {
        place: Some("Talsu tautas nams".into()),
        ..Default::default()
    };
    let other_group = ActivityPatch {
        counts: vec![(Group::ChildrenAndYouth, 30)],
        ..Default::default()
    };
    assert!(
        a.update(id, &title, stamp("A", 10))
            .expect("update")
            .is_some()
    );
    assert!(
        b.update(id, &counts, stamp("B", 11))
            .expect("update")
            .is_some()
    );
    assert!(
        c.update(id, &place, stamp("C", 12))
            .expect("update")
            .is_some()
    );
    assert!(
        c.update(id, &other_group, stamp("C", 13))
            .expect("update")
            .is_some()
    );

    sync(&mut a, &mut b);
    sync(&mut b, &mut c);
    sync(&mut a, &mut b);

    assert_eq!(a.heads(), b.heads());
    assert_eq!(b.heads(), c.heads());
    for j in [&a, &b, &c] {
        let got = j.get(id).expect("get").expect("present");
        assert_eq!(got.title, "Skolotāja loma vietējā kopienā");
        assert_eq!(got.counts.get(Group::Teachers), 17);
        assert_eq!(got.counts.get(Group::ChildrenAndYouth), 30);
        assert_eq!(got.counts.get(Group::Parents), 4, "untouched group kept");
        assert_eq!(got.place, "Talsu tautas nams");
        assert_eq!(got.total_participants, 17 + 30 + 4);
        assert_eq!(got.organisers, vec!["Anna Bērziņa", "Jānis Ozoliņš"]);
    }
    assert_eq!(a.activities().expect("read"), c.activities().expect("read"));
}

#[test]
fn concurrent_edits_of_the_same_field_converge_to_one_value() {
    let mut a = Journal::new(actor(1));
    let id = ActivityId::new_random();
    a.create(id, &full("Sākotnējais nosaukums"), stamp("A", 0))
        .expect("create");
    let mut b = replica_of(&mut a, 2);

    let on_a = ActivityPatch {
        title: Some("Nosaukums no A".into()),
        counts: vec![(Group::Media, 2)],
        ..Default::default()
    };
    let on_b = ActivityPatch {
        title: Some("Nosaukums no B".into()),
        counts: vec![(Group::Media, 5)],
        ..Default::default()
    };
    a.update(id, &on_a, stamp("A", 5)).expect("update");
    b.update(id, &on_b, stamp("B", 5)).expect("update");
    sync(&mut a, &mut b);

    let (ga, gb) = (
        a.get(id).expect("get").expect("a"),
        b.get(id).expect("get").expect("b"),
    );
    assert_eq!(ga, gb);
    assert!(
        ["Nosaukums no A", "Nosaukums no B"].contains(&ga.title.as_str()),
        "{}",
        ga.title
    );
    assert!([2, 5].contains(&ga.counts.get(Group::Media)));
}

#[test]
fn delete_then_restore_keeps_the_record() {
    let mut j = Journal::new(actor(1));
    let id = ActivityId::new_random();
    j.create(id, &full("Rudens seminārs"), stamp("A", 0))
        .expect("create");
    let before = j.get(id).expect("get").expect("present");

    assert!(
        j.set_deleted(id, true, stamp("B", 60))
            .expect("delete")
            .is_some()
    );
    let deleted = j
        .get(id)
        .expect("get")
        .expect("a tombstone is still readable");
    assert!(deleted.deleted);
    assert_eq!(deleted.updated_by, "B");
    assert_eq!(j.len(), 1, "tombstones stay in the journal");
    let heads = j.heads();
    assert!(
        j.set_deleted(id, true, stamp("B", 61))
            .expect("delete again")
            .is_none()
    );
    assert_eq!(j.heads(), heads, "deleting twice makes no change");

    assert!(
        j.set_deleted(id, false, stamp("C", 120))
            .expect("restore")
            .is_some()
    );
    let restored = j.get(id).expect("get").expect("present");
    assert!(!restored.deleted);
    assert_eq!(restored.updated_by, "C");
    assert_eq!(restored.updated_at, common::at(120));
    let strip = |a: &sync_core::Activity| {
        let mut a = a.clone();
        a.updated_by.clear();
        a.updated_at = chrono::DateTime::UNIX_EPOCH;
        a
    };
    assert_eq!(
        strip(&restored),
        strip(&before),
        "every field back as it was"
    );

    let missing = ActivityId::new_random();
    assert!(
        matches!(j.set_deleted(missing, true, stamp("A", 1)), Err(JournalError::NotFound(x)) if x == missing)
    );
}

#[test]
fn update_with_identical_values_changes_nothing() {
    let mut j = Journal::new(actor(1));
    let id = ActivityId::new_random();
    let patch = full("Vecāku skola");
    j.create(id, &patch, stamp("A", 0)).expect("create");
    let heads = j.heads();
    let before = j.get(id).expect("get");

    assert!(
        j.update(id, &patch, stamp("B", 100))
            .expect("update")
            .is_none()
    );
    assert!(
        j.update(id, &ActivityPatch::default(), stamp("B", 100))
            .expect("update")
            .is_none()
    );
    assert_eq!(j.heads(), heads);
    assert_eq!(
        j.get(id).expect("get"),
        before,
        "not even updated_by/updated_at changed"
    );

    // One real difference is a change, and it restamps the record.
    let one = ActivityPatch {
        hours: Some(None),
        ..Default::default()
    };
    assert!(
        j.update(id, &one, stamp("B", 100))
            .expect("update")
            .is_some()
    );
    let after = j.get(id).expect("get").expect("present");
    assert_eq!(after.hours, None);
    assert_eq!(after.updated_by, "B");

    let missing = ActivityId::new_random();
    assert!(
        matches!(j.update(missing, &one, stamp("A", 1)), Err(JournalError::NotFound(x)) if x == missing)
    );
}

#[test]
fn create_with_a_duplicate_id_is_refused() {
    let mut j = Journal::new(actor(1));
    let id = ActivityId::new_random();
    j.create(id, &minimal("Pirmais"), stamp("A", 0))
        .expect("create");
    let heads = j.heads();
    match j.create(id, &minimal("Otrais"), stamp("A", 1)) {
        Err(JournalError::AlreadyExists(x)) => assert_eq!(x, id),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(j.heads(), heads);
    assert_eq!(j.get(id).expect("get").expect("present").title, "Pirmais");
    // The import path refuses it too, before writing anything of its chunk.
    let batch = vec![
        (ActivityId::new_random(), minimal("Jauns")),
        (id, minimal("Otrais")),
    ];
    assert!(
        matches!(j.create_many(&batch, stamp("A", 2)), Err(JournalError::AlreadyExists(x)) if x == id)
    );
    assert_eq!(j.heads(), heads);
    assert_eq!(j.len(), 1);
}

#[test]
fn create_without_title_kind_or_date_is_refused_naming_the_field() {
    let mut j = Journal::new(actor(1));
    let cases: [(ActivityPatch, Field, &str); 3] = [
        (
            ActivityPatch {
                title: None,
                ..minimal("x")
            },
            Field::Title,
            "title: is required",
        ),
        (
            ActivityPatch {
                kind: None,
                ..minimal("x")
            },
            Field::Kind,
            "kind: is required",
        ),
        (
            ActivityPatch {
                date: None,
                ..minimal("x")
            },
            Field::Date,
            "date: is required",
        ),
    ];
    for (patch, field, message) in cases {
        match j.create(ActivityId::new_random(), &patch, stamp("A", 0)) {
            Err(JournalError::Incomplete(errors)) => {
                assert_eq!(errors.0.len(), 1, "{errors}");
                assert_eq!(errors.0[0].field, field);
                assert_eq!(errors.to_string(), message);
            }
            other => panic!("expected Incomplete naming {field}, got {other:?}"),
        }
    }
    match j.create(
        ActivityId::new_random(),
        &ActivityPatch::default(),
        stamp("A", 0),
    ) {
        Err(e @ JournalError::Incomplete(_)) => {
            assert_eq!(
                e.to_string(),
                "title: is required; kind: is required; date: is required"
            )
        }
        other => panic!("expected Incomplete, got {other:?}"),
    }
    assert!(j.is_empty());
    assert_eq!(j.heads(), genesis().get_heads(), "nothing was written");
}

#[test]
fn newer_schema_is_refused() {
    let mut doc = genesis().with_actor(actor(9));
    let mut tx = doc.transaction();
    tx.put(ROOT, "schema_version", SCHEMA_VERSION + 1)
        .expect("put");
    tx.commit();
    match Journal::from_doc(doc) {
        Err(e @ JournalError::NewerSchema { found }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert!(e.to_string().contains("newer version"), "{e}");
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    // The current version, including after a save/load round trip, is accepted.
    let mut j = Journal::new(actor(1));
    let id = ActivityId::new_random();
    j.create(id, &full("Glabāšana"), stamp("A", 0))
        .expect("create");
    let loaded = Automerge::load(&j.doc().save()).expect("load");
    let back = Journal::from_doc(loaded).expect("a journal");
    assert_eq!(
        back.activities().expect("read"),
        j.activities().expect("read")
    );
    assert_eq!(back.heads(), j.heads());
}

#[test]
fn documents_without_the_journal_layout_are_not_journals() {
    let not_journal = |doc: Automerge| match Journal::from_doc(doc) {
        Err(e @ JournalError::NotAJournal(_)) => e.to_string(),
        other => panic!("expected NotAJournal, got {other:?}"),
    };
    assert!(not_journal(Automerge::new()).contains("no schema version"));

    let mut text_version = Automerge::new();
    let mut tx = text_version.transaction();
    tx.put(ROOT, "schema_version", "1").expect("put");
    tx.put_object(ROOT, "activities", ObjType::Map)
        .expect("put_object");
    tx.commit();
    assert!(not_journal(text_version).contains("not a number"));

    let mut no_map = Automerge::new();
    let mut tx = no_map.transaction();
    tx.put(ROOT, "schema_version", SCHEMA_VERSION).expect("put");
    tx.put(ROOT, "activities", "none").expect("put");
    tx.commit();
    assert!(not_journal(no_map).contains("no activities map"));

    let mut list = Automerge::new();
    let mut tx = list.transaction();
    tx.put(ROOT, "schema_version", SCHEMA_VERSION).expect("put");
    tx.put_object(ROOT, "activities", ObjType::List)
        .expect("put_object");
    tx.commit();
    assert!(not_journal(list).contains("no activities map"));
}

#[test]
fn concurrent_additions_to_organisers_are_both_kept() {
    let mut a = Journal::new(actor(1));
    let id = ActivityId::new_random();
    let start = ActivityPatch {
        organisers: Some(vec!["Anna Bērziņa".into()]),
        ..minimal("Talka")
    };
    a.create(id, &start, stamp("A", 0)).expect("create");
    let mut b = replica_of(&mut a, 2);

    let names = |list: &[&str]| ActivityPatch {
        organisers: Some(list.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    a.update(
        id,
        &names(&["Anna Bērziņa", "Jānis Ozoliņš"]),
        stamp("A", 1),
    )
    .expect("update");
    b.update(id, &names(&["Anna Bērziņa", "Līga Kalniņa"]), stamp("B", 1))
        .expect("update");
    sync(&mut a, &mut b);

    let (ga, gb) = (
        a.get(id).expect("get").expect("a"),
        b.get(id).expect("get").expect("b"),
    );
    assert_eq!(ga.organisers, gb.organisers, "same order on both");
    let got: BTreeSet<&str> = ga.organisers.iter().map(String::as_str).collect();
    assert_eq!(
        got,
        BTreeSet::from(["Anna Bērziņa", "Jānis Ozoliņš", "Līga Kalniņa"])
    );
    assert_eq!(ga.organisers.len(), 3, "{:?}", ga.organisers);
    assert_eq!(
        ga.organisers[0], "Anna Bērziņa",
        "the existing name keeps its place"
    );

    // A removal on one side and an addition on the other both take effect.
    a.update(
        id,
        &names(&["Jānis Ozoliņš", "Līga Kalniņa"]),
        stamp("A", 2),
    )
    .expect("update");
    let mut all = gb.organisers.clone();
    all.push("Ēriks Šmits".into());
    b.update(
        id,
        &ActivityPatch {
            organisers: Some(all),
            ..Default::default()
        },
        stamp("B", 2),
    )
    .expect("update");
    sync(&mut a, &mut b);
    let (ga, gb) = (
        a.get(id).expect("get").expect("a"),
        b.get(id).expect("get").expect("b"),
    );
    assert_eq!(ga, gb);
    let got: BTreeSet<&str> = ga.organisers.iter().map(String::as_str).collect();
    assert_eq!(
        got,
        BTreeSet::from(["Jānis Ozoliņš", "Līga Kalniņa", "Ēriks Šmits"])
    );
}

#[test]
fn kinds_and_groups_round_trip_through_the_document() {
    // Every kind and every group is written and read back under its own key.
    let mut j = Journal::new(actor(1));
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let id = ActivityId::new_random();
        let group = Group::ALL[i % Group::ALL.len()];
        let patch = ActivityPatch {
            kind: Some(kind),
            date: Some(date(2025, 1 + i as u32, 1)),
            counts: vec![(group, 7 + i as u32)],
            ..minimal("Veids")
        };
        j.create(id, &patch, stamp("A", i as i64)).expect("create");
        let got = j.get(id).expect("get").expect("present");
        assert_eq!(got.kind, kind);
        assert_eq!(got.counts.get(group), 7 + i as u32);
        assert_eq!(got.total_participants, u64::from(7 + i as u32));
    }
    // Newest first.
    let dates: Vec<_> = j
        .activities()
        .expect("read")
        .iter()
        .map(|a| a.date)
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(dates, sorted);
}

/// Two volunteers who both add the same organiser offline must not make the
/// name appear twice once their edits merge; later edits still remove names.
#[test]
fn concurrent_additions_of_the_same_name_show_it_once() {
    let mut a = Journal::new(actor(1));
    let id = ActivityId::new_random();
    let start = ActivityPatch {
        organisers: Some(vec!["Anna Bērziņa".into()]),
        ..minimal("Talka")
    };
    a.create(id, &start, stamp("A", 0)).expect("create");
    let mut b = replica_of(&mut a, 2);
    let both = ActivityPatch {
        organisers: Some(vec!["Anna Bērziņa".into(), "Jānis Ozoliņš".into()]),
        ..Default::default()
    };
    a.update(id, &both, stamp("A", 1)).expect("update");
    b.update(id, &both, stamp("B", 1)).expect("update");
    sync(&mut a, &mut b);
    for j in [&a, &b] {
        let got = j.get(id).expect("get").expect("present");
        assert_eq!(got.organisers, vec!["Anna Bērziņa", "Jānis Ozoliņš"]);
    }
    // Same list again: nothing to change.
    assert!(
        a.update(id, &both, stamp("A", 2))
            .expect("update")
            .is_none()
    );
    // Removing the duplicated name removes every copy of it.
    let only_anna = ActivityPatch {
        organisers: Some(vec!["Anna Bērziņa".into()]),
        ..Default::default()
    };
    assert!(
        a.update(id, &only_anna, stamp("A", 3))
            .expect("update")
            .is_some()
    );
    assert_eq!(
        a.get(id).expect("get").expect("a").organisers,
        vec!["Anna Bērziņa"]
    );
    // Removing the other one, on the other replica, works as well.
    let only_janis = ActivityPatch {
        organisers: Some(vec!["Jānis Ozoliņš".into()]),
        ..Default::default()
    };
    assert!(
        b.update(id, &only_janis, stamp("B", 3))
            .expect("update")
            .is_some()
    );
    assert_eq!(
        b.get(id).expect("get").expect("b").organisers,
        vec!["Jānis Ozoliņš"]
    );
}

/// A list entry that is not text (written by other software) is skipped when
/// reading, and must not shift which entry an edit removes.
#[test]
fn list_edits_remove_the_right_entry_next_to_foreign_values() {
    let mut j = Journal::new(actor(1));
    let id = ActivityId::new_random();
    let start = ActivityPatch {
        institutions: Some(vec!["20.PII".into(), "Kuldīgas 1. vsk.".into()]),
        ..minimal("Seminārs")
    };
    j.create(id, &start, stamp("A", 0)).expect("create");
    {
        let doc = j.doc_mut();
        let (_, activities) = doc.get(ROOT, "activities").expect("get").expect("map");
        let (_, record) = doc
            .get(&activities, id.to_string())
            .expect("get")
            .expect("record");
        let (_, list) = doc
            .get(&record, "institutions")
            .expect("get")
            .expect("list");
        let mut tx = doc.transaction();
        tx.insert(&list, 0, 42_i64).expect("insert");
        tx.commit();
    }
    let got = j.get(id).expect("get").expect("present");
    assert_eq!(got.institutions, vec!["20.PII", "Kuldīgas 1. vsk."]);
    let keep_second = ActivityPatch {
        institutions: Some(vec!["Kuldīgas 1. vsk.".into()]),
        ..Default::default()
    };
    j.update(id, &keep_second, stamp("A", 1)).expect("update");
    let got = j.get(id).expect("get").expect("present");
    assert_eq!(got.institutions, vec!["Kuldīgas 1. vsk."]);
}

/// Lists keep the order of names already in them (so that concurrent additions
/// are kept); giving the same names in another order is therefore no change, and
/// must not produce an empty change that would be stored and synced.
#[test]
fn reordering_names_alone_is_no_change() {
    let mut j = Journal::new(actor(1));
    let id = ActivityId::new_random();
    let patch = full("Vecāku skola");
    j.create(id, &patch, stamp("A", 0)).expect("create");
    let heads = j.heads();
    let mut organisers = patch.organisers.clone().expect("organisers");
    organisers.reverse();
    let reordered = ActivityPatch {
        organisers: Some(organisers),
        ..Default::default()
    };
    assert!(
        j.update(id, &reordered, stamp("B", 1))
            .expect("update")
            .is_none()
    );
    assert_eq!(j.heads(), heads);
    assert_eq!(
        j.get(id).expect("get").expect("present").organisers,
        patch.organisers.expect("organisers")
    );
}

#[test]
fn history_says_who_changed_which_field_from_what_to_what_across_devices() {
    let mut centre = Journal::new(actor(1));
    let id = ActivityId::new_random();
    centre
        .create(
            id,
            &minimal("Skolotāja loma"),
            stamp("Daugavpils laptop", 0),
        )
        .expect("create");
    let mut office = replica_of(&mut centre, 2);
    let title = ActivityPatch {
        title: Some("Skolotāja loma kopienā".into()),
        ..Default::default()
    };
    office
        .update(id, &title, stamp("office", 60))
        .expect("update");
    let counts = ActivityPatch {
        counts: vec![(Group::Teachers, 19)],
        ..Default::default()
    };
    centre
        .update(id, &counts, stamp("Daugavpils laptop", 120))
        .expect("update");
    centre
        .set_deleted(id, true, stamp("Daugavpils laptop", 180))
        .expect("delete");
    // An unrelated activity's changes are not part of this one's history.
    create(&mut centre, "Cita aktivitāte", "Daugavpils laptop", 200);
    sync(&mut centre, &mut office);

    let history = office.history(id).expect("history");
    assert_eq!(history.len(), 4, "{history:#?}");
    assert!(history[0].created);
    assert_eq!(history[0].by, "Daugavpils laptop");
    assert!(
        history[0]
            .fields
            .iter()
            .any(|(f, _, after)| f == "title" && after == "Skolotāja loma")
    );
    let by_office = history
        .iter()
        .find(|e| e.by == "office")
        .expect("the office's edit");
    assert_eq!(
        by_office.fields,
        [(
            "title".to_owned(),
            "Skolotāja loma".to_owned(),
            "Skolotāja loma kopienā".to_owned()
        )],
        "only the field it changed"
    );
    assert_eq!(by_office.at, stamp("office", 60).now);
    let counted = history
        .iter()
        .find(|e| e.fields.iter().any(|(f, ..)| f == "counts.teachers"))
        .expect("the count");
    assert_eq!(counted.fields[0].2, "19");
    let deleted = history.last().expect("entries");
    assert_eq!(
        deleted.fields,
        [("deleted".to_owned(), "false".to_owned(), "true".to_owned())]
    );
    assert_eq!(
        centre.history(id).expect("history"),
        history,
        "the same on every replica"
    );
}

fn attachment(bytes: &[u8], name: &str) -> NewAttachment {
    NewAttachment {
        file: FileHash::of(bytes),
        name: name.into(),
        media_type: MediaType::Jpeg,
        bytes: bytes.len() as u64,
        thumbnail: None,
    }
}

#[test]
fn a_photos_thumbnail_is_referred_to_with_it_and_merges_with_it() {
    let mut centre = Journal::new(actor(1));
    let id = create(&mut centre, "Seminārs", "A", 0);
    let mut photo = attachment(b"photo", "seminārs.jpg");
    let thumbnail = sync_core::activity::Thumbnail {
        file: FileHash::of(b"its thumbnail"),
        bytes: 13,
    };
    photo.thumbnail = Some(thumbnail);
    centre.attach(id, &photo, stamp("B", 60)).expect("attach");
    let scan = attachment(b"scan", "lapa.pdf");
    centre.attach(id, &scan, stamp("B", 70)).expect("attach");
    // What the relay checks a file offered or asked for against.
    assert_eq!(centre.referred_file(id, photo.file).expect("read"), Some(5));
    assert_eq!(
        centre.referred_file(id, thumbnail.file).expect("read"),
        Some(13)
    );
    assert_eq!(centre.referred_file(id, scan.file).expect("read"), Some(4));
    let stranger = FileHash::of(b"no record's");
    assert_eq!(centre.referred_file(id, stranger).expect("read"), None);
    assert_eq!(
        centre
            .referred_file(ActivityId::new_random(), thumbnail.file)
            .expect("read"),
        None
    );
    // Another replica reads it back after a merge, thumbnail and all.
    let mut office = Journal::new(actor(2));
    merge(&mut office, &mut centre);
    let a = office.get(id).expect("get").expect("present");
    assert_eq!(a.attachments[0].thumbnail, Some(thumbnail));
    assert_eq!(a.attachments[1].thumbnail, None);
    // Detached, the photo and its thumbnail are referred to no more.
    centre
        .detach(id, photo.file, stamp("C", 90))
        .expect("detach");
    assert_eq!(
        centre.referred_file(id, thumbnail.file).expect("read"),
        None
    );
}

#[test]
fn a_file_attached_reads_back_with_who_and_when_and_detaching_removes_only_it() {
    let mut j = Journal::new(actor(1));
    let id = create(&mut j, "Seminārs", "A", 0);
    let photo = attachment(b"photo", "seminārs.jpg");
    let sheet = attachment(b"sheet", "saraksts.jpg");
    assert!(
        j.attach(id, &photo, stamp("B", 60))
            .expect("attach")
            .is_some()
    );
    assert!(
        j.attach(id, &sheet, stamp("C", 120))
            .expect("attach")
            .is_some()
    );
    let heads = j.heads();
    let again = attachment(b"photo", "the same bytes, another name.jpg");
    assert!(
        j.attach(id, &again, stamp("C", 130))
            .expect("attach")
            .is_none()
    );
    assert_eq!(j.heads(), heads, "the same bytes are one file");

    let a = j.get(id).expect("get").expect("present");
    let names: Vec<_> = a.attachments.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["seminārs.jpg", "saraksts.jpg"], "oldest first");
    assert_eq!(a.attachments[0].file, photo.file);
    assert_eq!(a.attachments[0].bytes, 5);
    assert_eq!(a.attachments[0].media_type, MediaType::Jpeg);
    assert_eq!(a.attachments[0].added_by, "B");
    assert_eq!(a.attachments[0].added_at, common::at(60));
    assert_eq!(
        (a.updated_by.as_str(), a.updated_at),
        ("C", common::at(120))
    );

    assert!(
        j.detach(id, photo.file, stamp("D", 180))
            .expect("detach")
            .is_some()
    );
    assert!(
        j.detach(id, photo.file, stamp("D", 181))
            .expect("detach")
            .is_none()
    );
    let a = j.get(id).expect("get").expect("present");
    assert_eq!(a.attachments.len(), 1);
    assert_eq!(a.attachments[0].file, sheet.file);
    let missing = ActivityId::new_random();
    assert!(matches!(
        j.attach(missing, &photo, stamp("A", 1)),
        Err(JournalError::NotFound(_))
    ));
}

#[test]
fn files_attached_and_detached_on_two_devices_all_hold_after_a_merge() {
    let mut a = Journal::new(actor(1));
    let id = create(&mut a, "Seminārs", "A", 0);
    let first = attachment(b"first", "1.jpg");
    a.attach(id, &first, stamp("A", 10)).expect("attach");
    let mut b = replica_of(&mut a, 2);
    // Offline on both: A detaches the first and adds a photo, B adds the
    // same photo and a sheet.
    let photo = attachment(b"photo", "foto.jpg");
    let sheet = attachment(b"sheet", "lapa.jpg");
    a.detach(id, first.file, stamp("A", 20)).expect("detach");
    a.attach(id, &photo, stamp("A", 30)).expect("attach");
    b.attach(id, &photo, stamp("B", 31)).expect("attach");
    b.attach(id, &sheet, stamp("B", 40)).expect("attach");
    sync(&mut a, &mut b);
    let on_a = a.get(id).expect("get").expect("present");
    assert_eq!(on_a, b.get(id).expect("get").expect("present"));
    let mut files: Vec<_> = on_a.attachments.iter().map(|f| f.file).collect();
    files.sort();
    let mut expected = vec![photo.file, sheet.file];
    expected.sort();
    assert_eq!(
        files, expected,
        "one photo, the sheet, not the detached file"
    );
}

#[test]
fn an_activity_holds_at_most_its_files_limit() {
    let mut j = Journal::new(actor(1));
    let id = create(&mut j, "Seminārs", "A", 0);
    for n in 0..MAX_FILES_PER_ACTIVITY {
        let file = attachment(format!("photo {n}").as_bytes(), "foto.jpg");
        j.attach(id, &file, stamp("A", 1)).expect("attach");
    }
    let heads = j.heads();
    let one_more = attachment(b"one more", "foto.jpg");
    assert!(matches!(
        j.attach(id, &one_more, stamp("A", 2)),
        Err(JournalError::TooManyFiles {
            max: MAX_FILES_PER_ACTIVITY,
            ..
        })
    ));
    assert_eq!(j.heads(), heads, "nothing changed");
}

#[test]
fn history_says_which_files_were_attached_and_detached() {
    let mut j = Journal::new(actor(1));
    let id = create(&mut j, "Seminārs", "A", 0);
    let photo = attachment(b"photo", "foto.jpg");
    j.attach(id, &photo, stamp("B", 60)).expect("attach");
    j.detach(id, photo.file, stamp("C", 120)).expect("detach");
    let history = j.history(id).expect("history");
    let files: Vec<_> = history
        .iter()
        .flat_map(|e| e.fields.iter().filter(|f| f.0 == "attachments"))
        .map(|(_, before, after)| (before.as_str(), after.as_str()))
        .collect();
    assert_eq!(files, [("", "foto.jpg"), ("foto.jpg", "")]);
}
