//! Deterministic simulation of the whole system in one process: three field
//! clients (real `Replica` stores on the crash-model disk of
//! tests/src/crash_disk.rs) and the relay (in-memory journals with injected
//! write errors), connected by the sans-IO sessions over a simulated network,
//! on a simulated clock. A seeded generator drives everything:
//!
//! - frames dropped, duplicated, delayed and reordered; links partitioned;
//! - clients' processes crashing (their journal reopens from disk), power cuts
//!   (the disk keeps only what was synced plus a random, possibly torn, part of
//!   the rest), disk write errors; the relay crashing and failing writes;
//! - volunteers recording and editing all the while.
//!
//! Then the faults stop and every client syncs. Every activity whose `add`
//! returned is on every device and at the relay, all journals have identical
//! heads, and healing needs a bounded number of rounds (no livelock).
//!
//! A failure prints its seed; `SIM_SEED=<seed> cargo test -p tests --test
//! simulation` replays exactly that run. Quick run: `QUICK_SEEDS` seeds in the
//! normal suite. Long run:
//! `SIM_SEEDS=5000 cargo test --release -p tests --test simulation`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use chrono::{DateTime, TimeZone, Utc};
use sync_core::store::{DeviceId, JournalId, Store};
use sync_core::sync::memory::MemoryJournals;
use sync_core::sync::{
    Access, Attestor, Batch, ClientEvent, ClientSession, JournalGrant, Peer, RelayEvent,
    RelaySession, RelayStorage, SessionError, StorageFailure,
};
use sync_core::{ActivityId, ActivityInput, ActivityPatch, NewStore, Replica};
use tests::crash_disk::CrashDisk;
use tests::{Rng, SeedReport, seeds_from_env};
use uuid::Uuid;

/// Seeds in the normal test suite.
const QUICK_SEEDS: u64 = 200;
/// Actions (with faults) per run, before healing.
const FAULTY_STEPS: usize = 250;
/// Sync rounds (every client connects and settles) healing may take.
const MAX_HEALING_ROUNDS: usize = 6;
/// Pump iterations one healing round may take before it counts as a livelock.
const MAX_STEPS_PER_ROUND: usize = 5_000;
const CLIENTS: usize = 3;
const JOURNAL: Uuid = Uuid::from_u128(0x00C0_FFEE_0000_0000_0000_0000_0000_0001);
const CENTRE: &str = "Rēzeknes KRC";
/// The simulated relay's attestation key (fixed: a simulation replays exactly).
const RELAY_ATTESTATION_KEY: [u8; 32] = [0x5a; 32];

/// Chances of each fault while faults are on.
#[derive(Clone, Copy, Debug)]
struct Faults {
    drop: f64,
    duplicate: f64,
    reorder: f64,
    /// Most a frame is delayed, in milliseconds.
    max_delay_ms: u64,
}

const FAULTY: Faults = Faults {
    drop: 0.03,
    duplicate: 0.03,
    reorder: 0.02,
    max_delay_ms: 3_000,
};
const CLEAN: Faults = Faults {
    drop: 0.0,
    duplicate: 0.0,
    reorder: 0.0,
    max_delay_ms: 50,
};

/// The relay's journals, failing the next writes when told to (changing
/// nothing, as a failed durable commit does).
#[derive(Debug, Default)]
struct RelayStore {
    journals: MemoryJournals,
    failing_writes: u32,
}

impl RelayStorage for RelayStore {
    fn state(&mut self, journal: Uuid) -> Result<(u32, Vec<ChangeHash>), StorageFailure> {
        self.journals.state(journal)
    }
    fn contains_all(&mut self, j: Uuid, hashes: &[ChangeHash]) -> Result<bool, StorageFailure> {
        RelayStorage::contains_all(&mut self.journals, j, hashes)
    }
    fn missing(
        &mut self,
        j: Uuid,
        epoch: u32,
        known: &[ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        self.journals.missing(j, epoch, known, limit)
    }
    fn batch(
        &mut self,
        j: Uuid,
        epoch: u32,
        plan: &[ChangeHash],
    ) -> Result<Option<Batch>, StorageFailure> {
        self.journals.batch(j, epoch, plan)
    }
    fn apply_durably(
        &mut self,
        journal: Uuid,
        epoch: u32,
        changes: sync_core::sync::Received,
    ) -> Result<Option<Vec<ChangeHash>>, StorageFailure> {
        if self.failing_writes > 0 {
            self.failing_writes -= 1;
            return Err(StorageFailure::local("disk write error"));
        }
        RelayStorage::apply_durably(&mut self.journals, journal, epoch, changes)
    }
    fn erase(&mut self, activity: Uuid) -> Result<Option<(Uuid, u32)>, StorageFailure> {
        self.journals.erase(activity)
    }
}

/// One connection: the client's session and the relay's for it.
struct Conn {
    id: u64,
    client: ClientSession,
    relay: RelaySession,
}

struct Client {
    disk: CrashDisk,
    label: String,
    /// `None` while the process is down (or its store could not be opened yet).
    replica: Option<Replica>,
    conn: Option<Conn>,
    /// Frames to or from this client are lost until this time (ms).
    partitioned_until: u64,
}

/// A frame on its way.
struct InFlight {
    at: u64,
    seq: u64,
    conn: u64,
    to_relay: bool,
    bytes: Vec<u8>,
}

struct Sim {
    rng: Rng,
    base: Instant,
    now_ms: u64,
    faults: Faults,
    clients: Vec<Client>,
    relay: RelayStore,
    in_flight: Vec<InFlight>,
    next_conn: u64,
    next_seq: u64,
    /// Every activity whose `add` returned: it must end up everywhere.
    saved: BTreeSet<ActivityId>,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let clients = (0..CLIENTS)
            .map(|k| {
                let disk = CrashDisk::new();
                let label = format!("device {k}");
                let store = Store::create_on(
                    Path::new(&label),
                    disk.backend(),
                    NewStore {
                        centre: CENTRE,
                        device_name: &label,
                    },
                    (DeviceId(Uuid::from_u128(k as u128 + 1)), JournalId(JOURNAL)),
                )
                .expect("a store on the crash-model disk");
                Client {
                    disk,
                    label,
                    replica: Some(Replica::on_store(store).expect("a replica")),
                    conn: None,
                    partitioned_until: 0,
                }
            })
            .collect();
        Sim {
            rng: Rng::new(seed),
            base: Instant::now(),
            now_ms: 0,
            faults: FAULTY,
            clients,
            relay: RelayStore::default(),
            in_flight: Vec::new(),
            next_conn: 1,
            next_seq: 0,
            saved: BTreeSet::new(),
        }
    }

    fn now(&self) -> Instant {
        self.base + Duration::from_millis(self.now_ms)
    }

    fn wall_clock(&self) -> DateTime<Utc> {
        let seconds = 1_780_000_000 + (self.now_ms / 1000) as i64;
        Utc.timestamp_opt(seconds, 0)
            .single()
            .expect("a valid time")
    }

    fn patch(title: &str) -> ActivityPatch {
        ActivityInput {
            title: Some(title.to_owned()),
            kind: Some("workshop".into()),
            date: Some("2026-03-08".into()),
            counts: vec![("parents".into(), "6".into())],
            description: Some("Rokdarbi un sarunas par vietējām tradīcijām.".into()),
            ..ActivityInput::default()
        }
        .parse()
        .expect("a valid activity")
    }

    /// One random action of the faulty phase.
    fn act(&mut self) {
        let k = self.rng.below(CLIENTS as u64) as usize;
        match self.rng.below(1000) {
            0..150 => self.record(k),
            150..200 => self.edit(k),
            200..300 => self.connect(k),
            300..330 => self.request_sync(k),
            330..340 => self.crash_process(k),
            340..348 => self.power_cut(k),
            348..352 => self.arm_power_cut(k),
            352..360 => self.clients[k]
                .disk
                .fail_next_writes(1 + self.rng.below(3) as u32),
            360..365 => self.crash_relay(),
            365..372 => self.relay.failing_writes = 1 + self.rng.below(2) as u32,
            372..380 => {
                let until = self.now_ms + self.rng.below(300_000);
                self.clients[k].partitioned_until = until;
            }
            _ => {}
        }
    }

    fn record(&mut self, k: usize) {
        let id = ActivityId(Uuid::from_u128(u128::from(self.rng.next_u64())));
        let title = format!("Darbnīca nr. {}", self.rng.below(10_000));
        let now = self.wall_clock();
        let Some(replica) = self.clients[k].replica.as_mut() else {
            return;
        };
        match replica.add(id, &Self::patch(&title), now) {
            Ok(_) => {
                self.saved.insert(id);
            }
            Err(_) => self.crash_process(k),
        }
    }

    fn edit(&mut self, k: usize) {
        let title = format!("Labots nr. {}", self.rng.below(10_000));
        let pick = self.rng.next_u64();
        let now = self.wall_clock();
        let Some(replica) = self.clients[k].replica.as_mut() else {
            return;
        };
        let Ok(activities) = replica.activities() else {
            return self.crash_process(k);
        };
        if activities.is_empty() {
            return;
        }
        let id = activities[(pick % activities.len() as u64) as usize].id;
        let patch = ActivityPatch {
            title: Some(title),
            ..ActivityPatch::default()
        };
        if replica.edit(id, &patch, now).is_err() {
            self.crash_process(k);
        }
    }

    fn connect(&mut self, k: usize) {
        let now = self.now();
        let client = &mut self.clients[k];
        if client.conn.is_some() || client.replica.is_none() {
            return;
        }
        let grant = JournalGrant {
            journal: JOURNAL,
            centre: CENTRE.into(),
            municipality: String::new(),
            access: Access::ReadWrite,
        };
        let Some(replica) = client.replica.as_mut() else {
            return;
        };
        let peer = Peer {
            device: replica.store().device_id().0,
            attestor: Attestor::new(RELAY_ATTESTATION_KEY),
        };
        client.conn = Some(Conn {
            id: self.next_conn,
            client: ClientSession::new(now, "simulation", vec![JOURNAL], replica),
            relay: RelaySession::new(now, vec![grant], peer),
        });
        self.next_conn += 1;
    }

    fn request_sync(&mut self, k: usize) {
        let now = self.now();
        let client = &mut self.clients[k];
        if let (Some(conn), Some(replica)) = (client.conn.as_mut(), client.replica.as_mut())
            && conn.client.is_idle()
        {
            conn.client.request_sync_all(now, replica);
        }
    }

    /// The process dies and starts again: what the OS had is still on disk.
    fn crash_process(&mut self, k: usize) {
        let client = &mut self.clients[k];
        client.conn = None;
        client.replica = None;
        if client.disk.is_cut() {
            client.disk.restart(&mut self.rng);
        }
        self.reopen(k);
    }

    /// The power goes off now: unsynced writes may be lost or torn.
    fn power_cut(&mut self, k: usize) {
        let client = &mut self.clients[k];
        client.conn = None;
        client.replica = None;
        client.disk.restart(&mut self.rng);
        self.reopen(k);
    }

    /// The power will go off after a few more disk operations.
    fn arm_power_cut(&mut self, k: usize) {
        let ops = self.rng.below(60);
        self.clients[k].disk.cut_after(ops);
    }

    fn reopen(&mut self, k: usize) {
        let client = &mut self.clients[k];
        let opened = Store::open_on(Path::new(&client.label), client.disk.backend())
            .map_err(|e| e.to_string())
            .and_then(|s| Replica::on_store(s).map_err(|e| e.to_string()));
        match opened {
            Ok(replica) => client.replica = Some(replica),
            Err(e) if client.disk.is_cut() => {
                // The power went off while opening: it comes back later.
                let _ = e;
                client.disk.restart(&mut self.rng);
            }
            Err(e) => {
                // A write error while repairing: try again on a later step,
                // but a store that cannot open at all is a failure.
                assert!(
                    e.contains("write error") || e.contains("I/O"),
                    "{}: the store does not open after a crash: {e}",
                    client.label
                );
            }
        }
    }

    fn crash_relay(&mut self) {
        // Its journals are durable (in memory here); its sessions are gone,
        // and every device sees its connection end.
        for client in &mut self.clients {
            client.conn = None;
        }
        self.in_flight.clear();
    }

    fn send(&mut self, conn: u64, to_relay: bool, bytes: Vec<u8>, partitioned: bool) {
        let f = self.faults;
        if partitioned || self.rng.chance(f.drop) {
            return;
        }
        let copies = if self.rng.chance(f.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = 1 + self.rng.below(f.max_delay_ms.max(1));
            // A stream keeps order unless the fault says otherwise.
            let last = self
                .in_flight
                .iter()
                .filter(|m| m.conn == conn && m.to_relay == to_relay)
                .map(|m| m.at)
                .max()
                .unwrap_or(0);
            let at = if self.rng.chance(f.reorder) {
                self.now_ms + delay
            } else {
                (self.now_ms + delay).max(last)
            };
            self.in_flight.push(InFlight {
                at,
                seq: self.next_seq,
                conn,
                to_relay,
                bytes: bytes.clone(),
            });
            self.next_seq += 1;
        }
    }

    /// Moves frames out of the sessions, handles events, delivers what is
    /// due; returns whether anything happened.
    fn pump(&mut self) -> bool {
        let mut moved = false;
        let mut stored = Vec::new();
        let now = self.now();
        for k in 0..CLIENTS {
            let partitioned = self.clients[k].partitioned_until > self.now_ms;
            let Some(conn) = self.clients[k].conn.as_mut() else {
                continue;
            };
            let id = conn.id;
            let mut out = Vec::new();
            while let Some(b) = conn.client.poll_transmit() {
                out.push((true, b));
            }
            while let Some(b) = conn.relay.poll_transmit_building(now, &mut self.relay) {
                out.push((false, b));
            }
            let mut closed = conn.client.is_closed();
            let mut storage_failed = false;
            while let Some(event) = conn.client.poll_event() {
                if let ClientEvent::Closed { reason } = event {
                    closed = true;
                    storage_failed |= matches!(reason, SessionError::Storage(_));
                }
            }
            while let Some(event) = conn.relay.poll_event() {
                match event {
                    RelayEvent::Stored { journal, .. } => stored.push((id, journal)),
                    RelayEvent::Closed { .. } => conn.client.handle_stream_closed(),
                    _ => {}
                }
            }
            moved |= !out.is_empty();
            for (to_relay, bytes) in out {
                self.send(id, to_relay, bytes, partitioned);
            }
            if closed {
                self.clients[k].conn = None;
                moved = true;
                if storage_failed {
                    self.crash_process(k);
                }
            }
        }
        for (from, journal) in stored {
            for client in &mut self.clients {
                if let Some(conn) = client.conn.as_mut().filter(|c| c.id != from) {
                    conn.relay.notify_changed(journal);
                }
            }
        }
        moved | self.deliver_due()
    }

    fn deliver_due(&mut self) -> bool {
        let Some(pos) = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, m)| m.at <= self.now_ms)
            .min_by_key(|(_, m)| (m.at, m.seq))
            .map(|(i, _)| i)
        else {
            return false;
        };
        let frame = self.in_flight.swap_remove(pos);
        let now = self.now();
        let Some(k) = self
            .clients
            .iter()
            .position(|c| c.conn.as_ref().is_some_and(|conn| conn.id == frame.conn))
        else {
            return true; // the connection is gone
        };
        if self.clients[k].partitioned_until > self.now_ms {
            return true;
        }
        let client = &mut self.clients[k];
        let conn = client.conn.as_mut().expect("found above");
        if frame.to_relay {
            conn.relay.handle_bytes(now, &frame.bytes, &mut self.relay);
        } else if let Some(replica) = client.replica.as_mut() {
            conn.client.handle_bytes(now, &frame.bytes, replica);
        }
        true
    }

    /// Moves the clock to the next moment something happens (at most `cap`
    /// ahead), and fires the timeouts that are due.
    fn advance(&mut self, cap: u64) {
        let mut next = self.now_ms + cap;
        for m in &self.in_flight {
            next = next.min(m.at.max(self.now_ms));
        }
        for conn in self.clients.iter().filter_map(|c| c.conn.as_ref()) {
            for deadline in [conn.client.poll_timeout(), conn.relay.poll_timeout()]
                .into_iter()
                .flatten()
            {
                let at = deadline.saturating_duration_since(self.base).as_millis() as u64;
                next = next.min(at.max(self.now_ms));
            }
        }
        self.now_ms = next.max(self.now_ms);
        let now = self.now();
        for conn in self.clients.iter_mut().filter_map(|c| c.conn.as_mut()) {
            conn.client.handle_timeout(now);
            conn.relay.handle_timeout(now);
        }
    }

    fn run_faulty(&mut self) {
        for _ in 0..FAULTY_STEPS {
            self.act();
            while self.pump() {}
            let cap = 1 + self.rng.below(2_000);
            self.advance(cap);
        }
    }

    /// Faults stop; every client syncs until all agree.
    fn heal(&mut self) {
        self.faults = CLEAN;
        for k in 0..CLIENTS {
            self.clients[k].partitioned_until = 0;
            self.clients[k].disk.fail_next_writes(0);
            if self.clients[k].disk.is_cut() || self.clients[k].replica.is_none() {
                self.crash_process(k);
            }
            self.clients[k].disk.cut_after(u64::MAX);
        }
        self.relay.failing_writes = 0;
        for round in 0..MAX_HEALING_ROUNDS {
            for k in 0..CLIENTS {
                if self.clients[k].replica.is_none() {
                    self.reopen(k);
                }
                self.connect(k);
                self.request_sync(k);
            }
            self.settle(round);
            if self.converged() {
                return;
            }
        }
        panic!(
            "after {MAX_HEALING_ROUNDS} healing rounds the journals still differ: {}",
            self.describe()
        );
    }

    /// Runs until every connection is idle; a round that never gets there is a livelock.
    fn settle(&mut self, round: usize) {
        for _ in 0..MAX_STEPS_PER_ROUND {
            while self.pump() {}
            let idle = self.in_flight.is_empty()
                && self
                    .clients
                    .iter()
                    .all(|c| c.conn.as_ref().is_none_or(|conn| conn.client.is_idle()));
            if idle {
                return;
            }
            self.advance(1_000);
        }
        panic!(
            "healing round {round} did not settle in {MAX_STEPS_PER_ROUND} steps: {}",
            self.describe()
        );
    }

    fn converged(&mut self) -> bool {
        let relay_heads = self.relay.journals.doc(JOURNAL).get_heads();
        self.clients.iter_mut().all(|c| {
            c.replica.as_mut().is_some_and(|r| {
                r.journal().is_ok_and(|j| j.heads() == relay_heads)
                    && r.status().is_ok_and(|s| s.unsent == 0)
            })
        })
    }

    fn describe(&mut self) -> String {
        let relay = self.relay.journals.doc(JOURNAL).get_heads().len();
        let clients: Vec<String> = self
            .clients
            .iter_mut()
            .map(|c| match c.replica.as_mut() {
                Some(r) => format!(
                    "{}: {} heads, {:?} unsent, connected {}",
                    c.label,
                    r.journal().map_or(0, |j| j.heads().len()),
                    r.status().map(|s| s.unsent).ok(),
                    c.conn.is_some()
                ),
                None => format!("{}: not running", c.label),
            })
            .collect();
        format!("relay {relay} heads; {}", clients.join("; "))
    }

    /// Every saved activity is on every device and at the relay.
    fn check_nothing_lost(&mut self) {
        let at_relay = sync_core::Journal::from_doc(self.relay.journals.doc(JOURNAL).clone())
            .expect("the relay's journal reads");
        for id in &self.saved {
            assert!(
                at_relay.contains(*id).expect("readable"),
                "activity {id} was saved but the relay lacks it"
            );
            for client in &mut self.clients {
                let replica = client.replica.as_mut().expect("running after healing");
                assert!(
                    replica.get(*id).expect("readable").is_some(),
                    "activity {id} was saved but {} lacks it",
                    client.label
                );
            }
        }
    }
}

/// Runs one seed; returns what it ended with (saved ids, the relay's heads).
fn run(seed: u64) -> (BTreeSet<ActivityId>, Vec<ChangeHash>) {
    let _report = SeedReport {
        var: "SIM_SEED",
        seed,
    };
    let mut sim = Sim::new(seed);
    sim.run_faulty();
    sim.heal();
    sim.check_nothing_lost();
    let heads = sim.relay.journals.doc(JOURNAL).get_heads();
    (sim.saved, heads)
}

#[test]
fn the_whole_system_converges_and_loses_nothing_under_seeded_faults() {
    for seed in seeds_from_env("SIM_SEED", "SIM_SEEDS", QUICK_SEEDS) {
        run(seed);
    }
}

#[test]
fn a_run_replays_exactly_from_its_seed() {
    let seed = Rng::seed_from_env("SIM_SEED");
    let (saved, heads) = run(seed);
    assert!(!saved.is_empty(), "the run recorded something");
    assert_eq!(run(seed), (saved, heads), "the same seed gave another run");
}
