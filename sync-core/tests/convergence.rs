//! Convergence of journal replicas under random edits and partial syncs.
//!
//! Each scenario runs 2–5 replicas (each `Journal::new` with its own actor) through
//! random creates, updates, deletes, restores and one-way merges, then merges all
//! of them in a random order; every replica must end with the same heads and the
//! same activities. A second property checks that edits to *different* fields of
//! one activity, made concurrently on different replicas, all survive.

mod common;

use automerge::{ActorId, Automerge};
use chrono::{NaiveDate, NaiveTime};
use proptest::prelude::*;
use proptest::sample::Index;
use sync_core::sync::{apply_guarded, check_received};
use sync_core::{ActivityId, ActivityPatch, Group, Journal, Kind};
use uuid::Uuid;

use common::stamp;

const MAX_REPLICAS: usize = 5;

/// Letters for generated text: plain Latin plus every Latvian diacritic.
const LETTERS: &str = "[a-zA-ZāčēģīķļņšūžĀČĒĢĪĶĻŅŠŪŽ]";

const NAMES: [&str; 5] = [
    "Anna Bērziņa",
    "Jānis Ozoliņš",
    "Līga Kalniņa",
    "Ēriks Šmits",
    "Žanna Ķēniņa",
];
const INSTITUTIONS: [&str; 4] = [
    "20.PII",
    "Kuldīgas 1. vsk.",
    "Talsu novada dome",
    "NVO „Gaisma”",
];

#[derive(Clone, Debug)]
enum Op {
    Create {
        on: Index,
        patch: ActivityPatch,
    },
    Update {
        on: Index,
        which: Index,
        patch: ActivityPatch,
    },
    Delete {
        on: Index,
        which: Index,
    },
    Restore {
        on: Index,
        which: Index,
    },
    /// Merge replica `from` into replica `to` (one direction, like one sync leg).
    Sync {
        from: Index,
        to: Index,
    },
}

#[derive(Clone, Debug)]
struct Scenario {
    replicas: usize,
    actor_seed: [u8; 15],
    ops: Vec<Op>,
    /// A permutation of 0..MAX_REPLICAS; indexes beyond `replicas` are skipped.
    merge_order: Vec<usize>,
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("{LETTERS}({LETTERS}| ){{0,{max}}}"))
        .expect("valid regex")
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (0_u64..730)
        .prop_map(|d| NaiveDate::from_ymd_opt(2025, 1, 1).expect("date") + chrono::Days::new(d))
}

fn start() -> impl Strategy<Value = Option<NaiveTime>> {
    prop::option::of((8_u32..20, prop::sample::select(vec![0_u32, 15, 30, 45])))
        .prop_map(|t| t.and_then(|(h, m)| NaiveTime::from_hms_opt(h, m, 0)))
}

fn hours() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(prop::sample::select(vec![0.5, 1.0, 1.5, 2.0, 36.0]))
}

fn group() -> impl Strategy<Value = Group> {
    prop::sample::select(Group::ALL.to_vec())
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::ALL.to_vec())
}

fn names(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(pool.to_vec(), 0..=pool.len())
        .prop_shuffle()
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

fn counts() -> impl Strategy<Value = Vec<(Group, u32)>> {
    prop::collection::vec((group(), 0_u32..60), 0..4)
}

/// A complete patch for a new activity (title, kind and date always set).
fn new_patch() -> impl Strategy<Value = ActivityPatch> {
    (
        (text(40), kind(), date(), start(), hours()),
        (text(20), names(&NAMES), names(&INSTITUTIONS), counts()),
        (text(60), text(30)),
    )
        .prop_map(
            |((title, kind, date, start, hours), (place, org, inst, counts), (desc, notes))| {
                ActivityPatch {
                    title: Some(title),
                    kind: Some(kind),
                    date: Some(date),
                    start: Some(start),
                    hours: Some(hours),
                    place: Some(place),
                    organisers: Some(org),
                    institutions: Some(inst),
                    counts,
                    description: Some(desc),
                    notes: Some(notes),
                }
            },
        )
}

/// A patch touching a random subset of fields.
fn update_patch() -> impl Strategy<Value = ActivityPatch> {
    use prop::option::weighted as maybe;
    (
        (maybe(0.3, text(40)), maybe(0.2, kind()), maybe(0.2, date())),
        (
            maybe(0.2, start()),
            maybe(0.2, hours()),
            maybe(0.3, text(20)),
        ),
        (
            maybe(0.3, names(&NAMES)),
            maybe(0.2, names(&INSTITUTIONS)),
            counts(),
        ),
        (maybe(0.2, text(60)), maybe(0.2, text(30))),
    )
        .prop_map(
            |((title, kind, date), (start, hours, place), (org, inst, counts), (desc, notes))| {
                ActivityPatch {
                    title,
                    kind,
                    date,
                    start,
                    hours,
                    place,
                    organisers: org,
                    institutions: inst,
                    counts,
                    description: desc,
                    notes,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let i = any::<Index>;
    prop_oneof![
        3 => (i(), new_patch()).prop_map(|(on, patch)| Op::Create { on, patch }),
        4 => (i(), i(), update_patch()).prop_map(|(on, which, patch)| Op::Update { on, which, patch }),
        1 => (i(), i()).prop_map(|(on, which)| Op::Delete { on, which }),
        1 => (i(), i()).prop_map(|(on, which)| Op::Restore { on, which }),
        3 => (i(), i()).prop_map(|(from, to)| Op::Sync { from, to }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        2..=MAX_REPLICAS,
        any::<[u8; 15]>(),
        prop::collection::vec(op(), 0..40),
        Just((0..MAX_REPLICAS).collect::<Vec<_>>()).prop_shuffle(),
    )
        .prop_map(|(replicas, actor_seed, ops, merge_order)| Scenario {
            replicas,
            actor_seed,
            ops,
            merge_order,
        })
}

/// Replica `i`'s actor: the random seed with `i` as last byte, so actors are
/// random yet always distinct, even while proptest shrinks the seed.
fn replicas(count: usize, seed: [u8; 15]) -> Vec<Journal> {
    (0..count)
        .map(|i| {
            let mut bytes = [0_u8; 16];
            bytes[..15].copy_from_slice(&seed);
            bytes[15] = i as u8;
            Journal::new(ActorId::from(bytes))
        })
        .collect()
}

/// Merges replica `from` into `to`, checking that [`Journal::touched_by`]
/// names every activity the merge changed (and only activities).
fn merge_into(replicas: &mut [Journal], to: usize, from: usize) -> Result<(), TestCaseError> {
    if to == from {
        return Ok(());
    }
    let before = replicas[to].activities().expect("read");
    let added = replicas[to].doc().get_changes_added(replicas[from].doc());
    let received = causal_order(replicas[to].doc(), added);
    // As a device receives them (each after its dependencies): checked, then applied with every guard; the
    // targets the check kept name what changed.
    let checked = check_received(replicas[to].doc(), received).expect("honest changes pass");
    apply_guarded(replicas[to].doc_mut(), &checked).expect("honest changes apply");
    let after = replicas[to].activities().expect("read");
    let touched = replicas[to].touched_by(&checked).expect("placed");
    for activity in &after {
        if !before.contains(activity) {
            prop_assert!(touched.contains(&activity.id), "{} changed", activity.id);
        }
    }
    for id in &touched {
        prop_assert!(after.iter().any(|a| a.id == *id), "{id} is no activity");
    }
    Ok(())
}

/// `changes` (missing from `doc`) reordered so that each comes after those
/// of its dependencies `doc` lacks, as a relay sends them.
fn causal_order(doc: &Automerge, mut changes: Vec<automerge::Change>) -> Vec<automerge::Change> {
    let mut held: std::collections::HashSet<automerge::ChangeHash> = Default::default();
    let mut ordered = Vec::with_capacity(changes.len());
    while !changes.is_empty() {
        let ready = |c: &automerge::Change| {
            c.deps()
                .iter()
                .all(|d| held.contains(d) || doc.get_change_meta_by_hash(d).is_some())
        };
        let (now, later): (Vec<_>, Vec<_>) = changes.into_iter().partition(|c| ready(c));
        assert!(!now.is_empty(), "changes whose dependencies are missing");
        held.extend(now.iter().map(automerge::Change::hash));
        ordered.extend(now);
        changes = later;
    }
    ordered
}

/// Picks one of the activities replica `on` knows, if it knows any.
fn known(journal: &Journal, which: &Index) -> Option<ActivityId> {
    let all = journal.activities().expect("read");
    (!all.is_empty()).then(|| all[which.index(all.len())].id)
}

/// Runs the scenario, merges everything, and checks that all replicas converged.
fn check(s: &Scenario) -> Result<(), TestCaseError> {
    let mut js = replicas(s.replicas, s.actor_seed);
    let mut created = Vec::new();
    let authors: Vec<String> = (0..s.replicas).map(|i| format!("ierīce-{i}")).collect();
    for (step, op) in s.ops.iter().enumerate() {
        let secs = step as i64 * 60;
        match op {
            Op::Create { on, patch } => {
                let on = on.index(s.replicas);
                // Ids from a counter: unique, and stable while proptest shrinks.
                let id = ActivityId(Uuid::from_u128(0xA000 + created.len() as u128));
                js[on]
                    .create(id, patch, stamp(&authors[on], secs))
                    .expect("create");
                created.push(id);
            }
            Op::Update { on, which, patch } => {
                let on = on.index(s.replicas);
                if let Some(id) = known(&js[on], which) {
                    let before = js[on].get(id).expect("get").expect("known");
                    let changed = js[on]
                        .update(id, patch, stamp(&authors[on], secs))
                        .expect("update");
                    let after = js[on].get(id).expect("get").expect("known");
                    // An update reports a change exactly when the record changed.
                    prop_assert_eq!(changed.is_some(), before != after);
                }
            }
            Op::Delete { on, which } | Op::Restore { on, which } => {
                let on = on.index(s.replicas);
                let deleted = matches!(op, Op::Delete { .. });
                if let Some(id) = known(&js[on], which) {
                    js[on]
                        .set_deleted(id, deleted, stamp(&authors[on], secs))
                        .expect("set_deleted");
                    prop_assert_eq!(
                        js[on].get(id).expect("get").expect("known").deleted,
                        deleted
                    );
                }
            }
            Op::Sync { from, to } => {
                merge_into(&mut js, to.index(s.replicas), from.index(s.replicas))?;
            }
        }
    }

    // Merge along the random order and back, so every replica gets everything.
    let order: Vec<usize> = s
        .merge_order
        .iter()
        .copied()
        .filter(|&i| i < s.replicas)
        .collect();
    for pair in order.windows(2) {
        merge_into(&mut js, pair[1], pair[0])?;
    }
    for pair in order.windows(2).rev() {
        merge_into(&mut js, pair[0], pair[1])?;
    }

    let heads = js[0].heads();
    let activities = js[0].activities().expect("read");
    prop_assert_eq!(
        activities.len(),
        created.len(),
        "every created activity is present"
    );
    for id in &created {
        prop_assert!(activities.iter().any(|a| a.id == *id), "{} missing", id);
    }
    for (i, j) in js.iter().enumerate().skip(1) {
        prop_assert_eq!(&j.heads(), &heads, "heads of replica {} differ", i);
        prop_assert_eq!(
            &j.activities().expect("read"),
            &activities,
            "replica {} differs",
            i
        );
    }
    // What is saved loads back to the same journal.
    let reloaded =
        Journal::from_doc(Automerge::load(&js[0].doc().save()).expect("load")).expect("a journal");
    prop_assert_eq!(reloaded.activities().expect("read"), activities);
    Ok(())
}

/// One field of an activity, with the value an edit gives it.
#[derive(Clone, Debug)]
enum Edit {
    Title(String),
    Kind(Kind),
    Date(NaiveDate),
    Start(Option<NaiveTime>),
    Hours(Option<f64>),
    Place(String),
    Description(String),
    Notes(String),
    Organisers(Vec<String>),
    Institutions(Vec<String>),
    Count(Group, u32),
}

impl Edit {
    /// Which field it edits; two edits of one field are not "different fields".
    fn field(&self) -> String {
        match self {
            Edit::Count(g, _) => format!("count:{}", g.key()),
            other => format!("{other:?}")
                .split('(')
                .next()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    fn patch(&self) -> ActivityPatch {
        let mut p = ActivityPatch::default();
        match self.clone() {
            Edit::Title(v) => p.title = Some(v),
            Edit::Kind(v) => p.kind = Some(v),
            Edit::Date(v) => p.date = Some(v),
            Edit::Start(v) => p.start = Some(v),
            Edit::Hours(v) => p.hours = Some(v),
            Edit::Place(v) => p.place = Some(v),
            Edit::Description(v) => p.description = Some(v),
            Edit::Notes(v) => p.notes = Some(v),
            Edit::Organisers(v) => p.organisers = Some(v),
            Edit::Institutions(v) => p.institutions = Some(v),
            Edit::Count(g, n) => p.counts = vec![(g, n)],
        }
        p
    }

    fn holds_in(&self, a: &sync_core::Activity) -> bool {
        match self {
            Edit::Title(v) => a.title == *v,
            Edit::Kind(v) => a.kind == *v,
            Edit::Date(v) => a.date == *v,
            Edit::Start(v) => a.start == *v,
            Edit::Hours(v) => a.hours == *v,
            Edit::Place(v) => a.place == *v,
            Edit::Description(v) => a.description == *v,
            Edit::Notes(v) => a.notes == *v,
            // Names already in a list keep their order (reordering is not an edit),
            // so compare the names, not their order.
            Edit::Organisers(v) => sorted(&a.organisers) == sorted(v),
            Edit::Institutions(v) => sorted(&a.institutions) == sorted(v),
            Edit::Count(g, n) => a.counts.get(*g) == *n,
        }
    }
}

fn sorted(names: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = names.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        text(40).prop_map(Edit::Title),
        kind().prop_map(Edit::Kind),
        date().prop_map(Edit::Date),
        start().prop_map(Edit::Start),
        hours().prop_map(Edit::Hours),
        text(20).prop_map(Edit::Place),
        text(60).prop_map(Edit::Description),
        text(30).prop_map(Edit::Notes),
        names(&NAMES).prop_map(Edit::Organisers),
        names(&INSTITUTIONS).prop_map(Edit::Institutions),
        (group(), 0_u32..500).prop_map(|(g, n)| Edit::Count(g, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replicas_converge(s in scenario()) {
        check(&s)?;
    }

    /// Edits to different fields of one activity, made concurrently on different
    /// replicas, all survive every merge order.
    #[test]
    fn edits_to_different_fields_all_survive(
        count in 2..=MAX_REPLICAS,
        seed in any::<[u8; 15]>(),
        base in new_patch(),
        edits in prop::collection::vec((edit(), any::<Index>()), 1..10),
        order in Just((0..MAX_REPLICAS).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let mut js = replicas(count, seed);
        let id = ActivityId(Uuid::from_u128(0xB000));
        js[0].create(id, &base, stamp("ierīce-0", 0)).expect("create");
        for to in 1..count {
            merge_into(&mut js, to, 0)?;
        }
        // Keep the first edit of each field; the rest would edit a field twice.
        let mut seen = Vec::new();
        let edits: Vec<_> = edits.into_iter().filter(|(e, _)| {
            let field = e.field();
            let first = !seen.contains(&field);
            seen.push(field);
            first
        }).collect();
        for (secs, (edit, on)) in edits.iter().enumerate() {
            let on = on.index(count);
            js[on].update(id, &edit.patch(), stamp("ierīce", secs as i64 + 1)).expect("update");
        }
        let order: Vec<usize> = order.into_iter().filter(|&i| i < count).collect();
        for pair in order.windows(2) {
            merge_into(&mut js, pair[1], pair[0])?;
        }
        for pair in order.windows(2).rev() {
            merge_into(&mut js, pair[0], pair[1])?;
        }
        for (i, j) in js.iter().enumerate() {
            let got = j.get(id).expect("get").expect("present");
            for (edit, _) in &edits {
                prop_assert!(edit.holds_in(&got), "replica {}: {:?} lost, got {:?}", i, edit, got);
            }
            prop_assert_eq!(&j.heads(), &js[0].heads());
        }
    }
}
