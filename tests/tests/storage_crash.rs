//! Power cuts at any point, on the crash-model disk (tests/src/crash_disk.rs):
//! a store records, edits, deletes, compacts and shrinks its file while the
//! power is cut after a random number of disk operations; the disk keeps only
//! what was synced plus a random, possibly torn, part of the rest; and
//! sometimes the power fails again while the store recovers. Every change the
//! store reported as saved must be there afterwards, and the store must open.
//!
//! Each scenario replays from its seed: a failure prints it. Quick run: part
//! of `cargo test`. Long run:
//! `STORAGE_CRASH_SCENARIOS=5000 cargo test --release -p tests --test storage_crash`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use sync_core::store::{DeviceId, JournalId, Store};
use sync_core::{ActivityId, ActivityInput, ActivityPatch, NewStore, Replica, ReplicaError};
use tests::crash_disk::CrashDisk;
use tests::{Rng, SeedReport, seeds_from_env};
use uuid::Uuid;

/// Scenarios in the normal test suite (each a few milliseconds).
const QUICK_SCENARIOS: u64 = 300;
/// Store operations per scenario.
const OPERATIONS: usize = 24;
const LABEL: &str = "crash-model disk";

/// What a saved operation promised about one activity.
#[derive(Clone, Debug, Default)]
struct Expected {
    /// Titles it may have: the last saved one, plus one whose save failed.
    titles: Vec<String>,
    /// `Some` when the deleted flag was saved (and not changed by a failed save).
    deleted: Option<bool>,
}

struct Workload {
    rng: Rng,
    clock: i64,
    saved: BTreeMap<ActivityId, Expected>,
}

impl Workload {
    fn now(&mut self) -> DateTime<Utc> {
        self.clock += 60;
        Utc.timestamp_opt(self.clock, 0)
            .single()
            .expect("a valid time")
    }

    fn title(&mut self) -> String {
        format!("Rokdarbi Aglonā nr. {}", self.rng.below(1_000_000))
    }

    fn patch(title: &str) -> ActivityPatch {
        ActivityInput {
            title: Some(title.to_owned()),
            kind: Some("workshop".into()),
            date: Some("2026-05-14".into()),
            counts: vec![("children_and_youth".into(), "14".into())],
            description: Some("Pinām grozus no vītoliem kopā ar vecmāmiņām. ".repeat(4)),
            ..ActivityInput::default()
        }
        .parse()
        .expect("a valid activity")
    }

    /// One random operation; an error means the power went off.
    fn step(&mut self, replica: &mut Replica) -> Result<(), ReplicaError> {
        let existing: Vec<ActivityId> = self.saved.keys().copied().collect();
        let pick = self.rng.below(100);
        if existing.is_empty() || pick < 60 {
            let id = ActivityId(Uuid::from_u128(u128::from(self.rng.next_u64())));
            let title = self.title();
            let now = self.now();
            replica.add(id, &Self::patch(&title), now)?;
            self.saved.insert(
                id,
                Expected {
                    titles: vec![title],
                    deleted: Some(false),
                },
            );
        } else if pick < 85 {
            let id = existing[self.rng.below(existing.len() as u64) as usize];
            let title = self.title();
            let patch = ActivityPatch {
                title: Some(title.clone()),
                ..ActivityPatch::default()
            };
            let now = self.now();
            // Until it is saved, either title may be on disk.
            let expected = self.saved.get_mut(&id).expect("known");
            expected.titles.push(title.clone());
            replica.edit(id, &patch, now)?;
            self.saved.get_mut(&id).expect("known").titles = vec![title];
        } else if pick < 95 {
            let id = existing[self.rng.below(existing.len() as u64) as usize];
            let expected = self.saved.get_mut(&id).expect("known");
            let to = !expected.deleted.unwrap_or(false);
            expected.deleted = None;
            let now = self.now();
            replica.set_deleted(id, to, now)?;
            self.saved.get_mut(&id).expect("known").deleted = Some(to);
        } else if pick < 98 {
            replica.compact()?;
        } else {
            replica.shrink_file()?;
        }
        Ok(())
    }

    /// Runs the workload until it ends or the power goes off.
    fn run(&mut self, replica: &mut Replica) {
        for _ in 0..OPERATIONS {
            if self.step(replica).is_err() {
                return;
            }
        }
    }
}

fn create(disk: &CrashDisk) -> Replica {
    let store = Store::create_on(
        Path::new(LABEL),
        disk.backend(),
        NewStore {
            centre: "Aglonas KRC",
            device_name: "Aglonas dators",
        },
        (DeviceId(Uuid::from_u128(1)), JournalId(Uuid::from_u128(2))),
    )
    .expect("a new store on the crash-model disk");
    Replica::on_store(store).expect("a replica")
}

fn open(disk: &CrashDisk) -> Result<Replica, ReplicaError> {
    let store = Store::open_on(Path::new(LABEL), disk.backend())?;
    Replica::on_store(store)
}

/// Disk operations the whole workload of `seed` takes without a power cut.
fn operations_without_cut(seed: u64) -> u64 {
    let disk = CrashDisk::new();
    let mut replica = create(&disk);
    let before = disk.ops();
    Workload {
        rng: Rng::new(seed),
        clock: 1_780_000_000,
        saved: BTreeMap::new(),
    }
    .run(&mut replica);
    disk.ops() - before
}

fn scenario(seed: u64) {
    let _report = SeedReport {
        var: "STORAGE_CRASH_SEED",
        seed,
    };
    let mut rng = Rng::new(seed ^ 0xC0DE);
    let total = operations_without_cut(seed);
    let disk = CrashDisk::new();
    let mut replica = create(&disk);
    let mut workload = Workload {
        rng: Rng::new(seed),
        clock: 1_780_000_000,
        saved: BTreeMap::new(),
    };
    disk.cut_after(rng.below(total + 1));
    workload.run(&mut replica);
    drop(replica);
    disk.restart(&mut rng);
    // Sometimes the power fails again while the store recovers.
    if rng.chance(0.5) {
        disk.cut_after(rng.below(200));
        if let Ok(mut replica) = open(&disk) {
            let _ = replica.compact();
        }
        disk.restart(&mut rng);
    }
    let mut replica = open(&disk).unwrap_or_else(|e| {
        panic!("after the power cut the store does not open: {e}");
    });
    for (id, expected) in &workload.saved {
        let activity = replica
            .get(*id)
            .expect("readable")
            .unwrap_or_else(|| panic!("saved activity {id} is gone after the power cut"));
        assert!(
            expected.titles.contains(&activity.title),
            "activity {id} has title {:?}, saved was {:?}",
            activity.title,
            expected.titles
        );
        if let Some(deleted) = expected.deleted {
            assert_eq!(activity.deleted, deleted, "activity {id}'s deleted flag");
        }
    }
    // The recovered store keeps working.
    let id = ActivityId(Uuid::from_u128(u128::from(seed) | 1 << 100));
    let now = workload.now();
    replica
        .add(id, &Workload::patch("Pēc strāvas pārrāvuma"), now)
        .expect("recording works after recovery");
}

#[test]
fn every_saved_change_survives_power_cuts_at_any_point() {
    for seed in seeds_from_env(
        "STORAGE_CRASH_SEED",
        "STORAGE_CRASH_SCENARIOS",
        QUICK_SCENARIOS,
    ) {
        scenario(seed);
    }
}
