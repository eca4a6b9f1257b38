//! Deterministic tests of the sans-IO sync sessions: a client and a relay
//! connected by a simulated link with virtual time. Faults (dropped,
//! duplicated, delayed frames) must end every session in convergence or in a
//! clean reset — never a loop, never a panic — and later sessions converge.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use automerge::{ActorId, ReadDoc};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use sync_core::activity::{ActivityId, ActivityPatch, Group, Kind};
use sync_core::journal::{Journal, Stamp};
use sync_core::limits::{MAX_BATCHES_IN_FLIGHT, MAX_ROUNDS_WITHOUT_PROGRESS};
use sync_core::sync::memory::MemoryJournals;
use sync_core::sync::wire::Frame;
use sync_core::sync::{
    Access, Attestor, BatchEncoding, ClientEvent, ClientSession, DeviceHealth, ErrorCode,
    JournalGrant, PROTOCOL_VERSION, Peer, RelayEvent, RelaySession, RelayStorage, Role,
    SessionError, StorageFailure, SyncStorage,
};
use uuid::Uuid;

/// Steps one session may take before the test calls it a loop.
const MAX_STEPS_PER_SESSION: usize = 20_000;
/// Sessions a faulty scenario may need before a clean one; then one clean one.
const MAX_SESSIONS: usize = 12;

const JOURNAL: Uuid = Uuid::from_u128(0xC0FFEE);
/// The device (and Automerge actor) the tests' client is: the relay sessions
/// serve it, and store only changes it wrote (or that the relay held before).
const CLIENT_DEVICE: [u8; 16] = [3; 16];
/// The test relay's attestation key.
const RELAY_KEY: [u8; 32] = [0x42; 32];

fn client_actor() -> ActorId {
    ActorId::from(CLIENT_DEVICE)
}

fn peer() -> Peer {
    Peer {
        device: Uuid::from_bytes(CLIENT_DEVICE),
        attestor: Attestor::new(RELAY_KEY),
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    drop_per_mille: u32,
    dup_per_mille: u32,
    max_delay_ms: u64,
}

/// Tiny deterministic generator (xorshift64*), so scenarios replay from a seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, per_mille: u32) -> bool {
        (self.next() % 1000) < u64::from(per_mille)
    }
}

/// One direction of the link: frames in order, each with its arrival time.
#[derive(Default)]
struct Wire {
    queue: VecDeque<(Instant, Vec<u8>)>,
}

impl Wire {
    fn push(&mut self, now: Instant, bytes: Vec<u8>, faults: Faults, rng: &mut Rng) {
        if rng.chance(faults.drop_per_mille) {
            return;
        }
        let delay = if faults.max_delay_ms > 0 {
            rng.next() % faults.max_delay_ms
        } else {
            0
        };
        // A stream keeps order: a frame never arrives before the one sent earlier.
        let earliest = self.queue.back().map_or(now, |(t, _)| *t);
        let at = (now + Duration::from_millis(delay)).max(earliest);
        if rng.chance(faults.dup_per_mille) {
            self.queue.push_back((at, bytes.clone()));
        }
        self.queue.push_back((at, bytes));
    }

    fn due(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.queue.front() {
            Some((t, _)) if *t <= now => self.queue.pop_front().map(|(_, b)| b),
            _ => None,
        }
    }
}

fn grant(access: Access) -> JournalGrant {
    JournalGrant {
        journal: JOURNAL,
        centre: "Rēzeknes KRC".into(),
        municipality: String::new(),
        access,
    }
}

/// Runs one session to its end; returns how it ended and the final clock.
fn run_session(
    client: &mut MemoryJournals,
    relay: &mut MemoryJournals,
    start: Instant,
    faults: Faults,
    rng: &mut Rng,
) -> (Result<(), SessionError>, Instant) {
    let mut now = start;
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let (mut up, mut down) = (Wire::default(), Wire::default());
    for _ in 0..MAX_STEPS_PER_SESSION {
        while let Some(b) = c.poll_transmit() {
            up.push(now, b, faults, rng);
        }
        while let Some(b) = r.poll_transmit_building(now, relay) {
            down.push(now, b, faults, rng);
        }
        if let Some(b) = up.due(now) {
            r.handle_bytes(now, &b, relay);
            continue;
        }
        if let Some(b) = down.due(now) {
            c.handle_bytes(now, &b, client);
            continue;
        }
        while let Some(ev) = c.poll_event() {
            if let ClientEvent::Closed { reason } = ev {
                return (Err(reason), now);
            }
        }
        if c.is_idle() && up.queue.is_empty() && down.queue.is_empty() {
            return (Ok(()), now);
        }
        if r.is_closed() && up.queue.is_empty() && down.queue.is_empty() {
            c.handle_stream_closed();
            continue;
        }
        // Nothing to deliver now: jump to the next moment something happens.
        let next = [
            up.queue.front().map(|x| x.0),
            down.queue.front().map(|x| x.0),
            c.poll_timeout(),
            r.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) => {
                now = now.max(t);
                c.handle_timeout(now);
                r.handle_timeout(now);
            }
            None => panic!("session stuck: nothing in flight, no deadline, client not idle"),
        }
    }
    panic!("session did not end within {MAX_STEPS_PER_SESSION} steps: a loop");
}

fn stamp(n: i64) -> Stamp<'static> {
    Stamp {
        author: "tester",
        now: Utc.timestamp_opt(1_780_000_000 + n, 0).unwrap(),
    }
}

fn patch(i: usize) -> ActivityPatch {
    ActivityPatch {
        title: Some(format!("Seminārs nr. {i} — ģimene un skola")),
        kind: Some(Kind::Seminar),
        date: chrono::NaiveDate::from_ymd_opt(2026, 1 + (i % 12) as u32, 1 + (i % 28) as u32),
        counts: vec![(Group::Teachers, i as u32 % 40), (Group::Parents, 3)],
        description: Some("Apraksts ".repeat(i % 20)),
        ..Default::default()
    }
}

/// Records `n` activities with `actor` into `store`'s journal, as local changes.
fn record(store: &mut MemoryJournals, actor: &ActorId, n: usize, offset: usize) -> Vec<ActivityId> {
    let doc = store.doc(JOURNAL).fork().with_actor(actor.clone());
    let mut journal = Journal::from_doc(doc).unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = ActivityId(Uuid::from_u128((offset + i) as u128 + 1));
        let change = journal
            .create(id, &patch(offset + i), stamp(i as i64))
            .unwrap();
        store.record_local(JOURNAL, change.hash());
        ids.push(id);
    }
    let changes = journal.doc().get_changes(&store.doc(JOURNAL).get_heads());
    store.doc(JOURNAL).apply_changes(changes).unwrap();
    ids
}

fn converged(client: &mut MemoryJournals, relay: &mut MemoryJournals) -> bool {
    client.doc(JOURNAL).get_heads() == relay.doc(JOURNAL).get_heads()
        && client.unsent.get(&JOURNAL).is_none_or(|u| u.is_empty())
}

/// Runs faulty sessions, then clean ones, and asserts convergence.
fn check(seed: u64, faults: Faults, client: &mut MemoryJournals, relay: &mut MemoryJournals) {
    let mut rng = Rng(seed | 1);
    let mut now = Instant::now();
    for _ in 0..MAX_SESSIONS {
        let (_, end) = run_session(client, relay, now, faults, &mut rng);
        now = end + Duration::from_secs(1);
    }
    let (outcome, _) = run_session(client, relay, now, Faults::default(), &mut rng);
    assert_eq!(
        outcome,
        Ok(()),
        "seed {seed}: a clean session after faults must succeed"
    );
    assert!(
        converged(client, relay),
        "seed {seed}: not converged after a clean session"
    );
}

#[test]
fn clean_session_uploads_and_downloads_both_ways() {
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let mine = record(&mut client, &client_actor(), 30, 0);
    let theirs = record(&mut relay, &ActorId::random(), 20, 1_000);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(7),
    );
    assert_eq!(outcome, Ok(()));
    assert!(converged(&mut client, &mut relay));
    let journal = Journal::from_doc(client.doc(JOURNAL).clone()).unwrap();
    for id in mine.iter().chain(&theirs) {
        assert!(journal.contains(*id).unwrap(), "{id} missing on the client");
    }
}

#[test]
fn large_first_sync_moves_in_bounded_batches_and_resumes() {
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    record(&mut client, &client_actor(), 1_500, 0);
    // Drop everything after the first few frames: the session must time out,
    // and what the relay acknowledged before must not be sent again.
    let mut rng = Rng(11);
    let (first, end) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults {
            drop_per_mille: 300,
            ..Default::default()
        },
        &mut rng,
    );
    let stored_after_first = relay.doc(JOURNAL).get_changes(&[]).len();
    let acked_after_first = client.acked.get(&JOURNAL).cloned().unwrap_or_default();
    assert!(first.is_err() || converged(&mut client, &mut relay));
    let (second, _) = run_session(
        &mut client,
        &mut relay,
        end + Duration::from_secs(5),
        Faults::default(),
        &mut rng,
    );
    assert_eq!(second, Ok(()));
    assert!(converged(&mut client, &mut relay));
    assert!(stored_after_first <= relay.doc(JOURNAL).get_changes(&[]).len());
    // Everything the relay acknowledged in the first session is an ancestor of its heads.
    for h in acked_after_first {
        assert!(relay.doc(JOURNAL).get_change_by_hash(&h).is_some());
    }
}

#[test]
fn frame_over_the_limit_closes_only_that_session() {
    let mut relay = MemoryJournals::default();
    let mut r = RelaySession::new(Instant::now(), vec![grant(Access::ReadWrite)], peer());
    let mut bytes = ((sync_core::limits::MAX_FRAME_BYTES + 1) as u32)
        .to_be_bytes()
        .to_vec();
    bytes.extend([5, 0, 0, 0]);
    r.handle_bytes(Instant::now(), &bytes, &mut relay);
    assert!(r.is_closed());
    let reply = Frame::decode(&r.poll_transmit().expect("an error frame")).unwrap();
    assert!(
        matches!(
            reply,
            Frame::Error {
                code: ErrorCode::TooLarge,
                ..
            }
        ),
        "{reply:?}"
    );
    // Another session on the same relay storage is unaffected.
    let (mut client, mut relay2) = (MemoryJournals::default(), relay);
    record(&mut client, &client_actor(), 3, 0);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay2,
        Instant::now(),
        Faults::default(),
        &mut Rng(3),
    );
    assert_eq!(outcome, Ok(()));
}

#[test]
fn relay_refuses_journals_not_granted() {
    let mut relay = MemoryJournals::default();
    let other = Uuid::from_u128(42);
    let mut r = RelaySession::new(Instant::now(), vec![grant(Access::ReadWrite)], peer());
    let hello = Frame::Hello {
        version: PROTOCOL_VERSION,
        software: "x".into(),
        unsent: None,
        journals: vec![other],
    };
    r.handle_bytes(Instant::now(), &hello.encode().unwrap(), &mut relay);
    assert!(r.is_closed());
    let reply = Frame::decode(&r.poll_transmit().unwrap()).unwrap();
    assert!(
        matches!(
            reply,
            Frame::Error {
                code: ErrorCode::NotAllowed,
                ..
            }
        ),
        "{reply:?}"
    );
}

#[test]
fn relay_stores_no_change_written_by_another_device() {
    // A colleague's actor, the office's, a revoked device's: to the relay
    // all are "not this device", and it never stored their changes.
    for (who, author) in [
        ("a colleague", ActorId::from([4_u8; 16])),
        ("the office", ActorId::from([5_u8; 16])),
    ] {
        let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
        record(&mut client, &client_actor(), 2, 0);
        record(&mut client, &author, 1, 100);
        let (outcome, _) = run_session(
            &mut client,
            &mut relay,
            Instant::now(),
            Faults::default(),
            &mut Rng(5),
        );
        assert!(
            matches!(
                &outcome,
                Err(SessionError::Refused {
                    code: ErrorCode::NotAllowed,
                    message,
                }) if message.contains("written by another device")
            ),
            "{who}: {outcome:?}"
        );
        // The whole batch was refused: not even this device's own changes.
        assert_eq!(
            relay.doc(JOURNAL).get_changes(&[]).len(),
            1,
            "{who}: only the genesis"
        );
    }
}

#[test]
fn a_forged_author_is_reported_and_the_batch_refused_whole() {
    let now = Instant::now();
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    record(&mut client, &client_actor(), 3, 0);
    let colleague = ActorId::from([4_u8; 16]);
    record(&mut client, &colleague, 1, 100);
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let (_, relay_events) = pump(&mut c, &mut client, &mut r, &mut relay, now);
    assert!(
        relay_events.contains(&RelayEvent::ForgedAuthor {
            journal: JOURNAL,
            author: colleague,
        }),
        "{relay_events:?}"
    );
    assert!(
        !relay_events
            .iter()
            .any(|e| matches!(e, RelayEvent::Stored { .. })),
        "{relay_events:?}"
    );
    assert!(r.is_closed());
}

#[test]
fn a_colleagues_change_goes_back_to_a_relay_restored_from_a_backup() {
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let backup = relay.doc(JOURNAL).clone();
    // A colleague's records reach this device through the relay, with the
    // relay's tags; this device records on top of them.
    let colleague = ActorId::from([4_u8; 16]);
    let theirs = record(&mut relay, &colleague, 3, 1_000);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(8),
    );
    assert_eq!(outcome, Ok(()));
    assert_eq!(client.attestations[&JOURNAL].len(), 3, "a tag per change");
    let mine = record(&mut client, &client_actor(), 2, 0);

    // The relay is restored from a backup made before the colleague's
    // records: this device sends them back, and its own on top.
    relay.docs.insert(JOURNAL, backup);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(8),
    );
    assert_eq!(outcome, Ok(()));
    assert!(converged(&mut client, &mut relay));
    let journal = Journal::from_doc(relay.doc(JOURNAL).clone()).unwrap();
    for id in theirs.iter().chain(&mine) {
        assert!(journal.contains(*id).unwrap(), "{id} missing at the relay");
    }
}

#[test]
fn a_tag_not_made_by_this_relay_for_this_epoch_vouches_for_nothing() {
    let colleague = ActorId::from([4_u8; 16]);
    // (which, the key, the epoch, the journal) each tag is made with.
    let forgeries = [
        ("another relay's", Attestor::new([0x17; 32]), 0, JOURNAL),
        ("another epoch's", Attestor::new(RELAY_KEY), 1, JOURNAL),
        (
            "another journal's",
            Attestor::new(RELAY_KEY),
            0,
            Uuid::nil(),
        ),
    ];
    for (which, attestor, epoch, journal) in forgeries {
        let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
        record(&mut client, &colleague, 2, 0);
        let tags = client
            .doc(JOURNAL)
            .get_changes(&[])
            .iter()
            .map(|c| (c.hash(), attestor.tag(journal, epoch, &c.hash())))
            .collect();
        client.attestations.insert(JOURNAL, tags);
        let (outcome, _) = run_session(
            &mut client,
            &mut relay,
            Instant::now(),
            Faults::default(),
            &mut Rng(9),
        );
        assert!(
            matches!(
                outcome,
                Err(SessionError::Refused {
                    code: ErrorCode::NotAllowed,
                    ..
                })
            ),
            "{which} tag: {outcome:?}"
        );
        assert_eq!(
            relay.doc(JOURNAL).get_changes(&[]).len(),
            1,
            "{which} tag: only the genesis"
        );
    }
}

#[test]
fn relay_restored_from_old_backup_reconverges() {
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    record(&mut client, &client_actor(), 10, 0);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(1),
    );
    assert_eq!(outcome, Ok(()));
    let backup = relay.doc(JOURNAL).clone();
    record(&mut client, &client_actor(), 10, 100);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(1),
    );
    assert_eq!(outcome, Ok(()));
    // The relay loses everything after the backup; the client believes it was acknowledged.
    relay.docs.insert(JOURNAL, backup);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(1),
    );
    assert_eq!(outcome, Ok(()));
    assert!(converged(&mut client, &mut relay));
}

/// Moves everything `from` has to send to `to`; returns the frames moved.
fn flight<F, T>(from: &mut F, to: &mut T) -> Vec<Frame>
where
    F: FnMut() -> Option<Vec<u8>>,
    T: FnMut(&[u8]),
{
    let mut frames = Vec::new();
    while let Some(bytes) = from() {
        frames.push(Frame::decode(&bytes).expect("a valid frame"));
        to(&bytes);
    }
    frames
}

fn frame_names(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f {
            Frame::Changes {
                sent_before_heads: true,
                count,
                ..
            } => format!("Changes(early, {count})"),
            Frame::Changes { count, .. } => format!("Changes({count})"),
            other => format!("{other:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or("")
                .to_owned(),
        })
        .collect()
}

#[test]
fn an_upload_after_an_acknowledged_one_takes_one_round_trip_with_the_greeting() {
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let actor = client_actor();
    record(&mut client, &actor, 3, 0);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(3),
    );
    assert_eq!(outcome, Ok(()));
    record(&mut client, &actor, 1, 10);

    let now = Instant::now();
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    // The client's first flight: Hello, then Open and the new change right behind it.
    let up = flight(&mut || c.poll_transmit(), &mut |b| {
        r.handle_bytes(now, b, &mut relay)
    });
    assert_eq!(frame_names(&up), ["Hello", "Open", "Changes(early, 1)"]);
    assert!(
        matches!(
            up[2],
            Frame::Changes {
                encoding: BatchEncoding::ChangeList,
                ..
            }
        ),
        "one change travels as a change list (smaller than a bundle)"
    );
    // The relay's answer holds everything: Welcome, its heads, the Ack, the (empty) download.
    let down = flight(
        &mut || r.poll_transmit_building(now, &mut relay),
        &mut |b| c.handle_bytes(now, b, &mut client),
    );
    assert_eq!(
        frame_names(&down),
        ["Welcome", "Heads", "Ack", "Changes(0)"]
    );
    assert!(c.is_idle(), "one round trip ends the round");
    assert!(c.poll_transmit().is_none());
    assert!(converged(&mut client, &mut relay));
}

#[test]
fn an_upload_keeps_a_bounded_number_of_batches_in_flight() {
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let recorded = 8_000;
    record(&mut client, &client_actor(), recorded, 0);
    let now = Instant::now();
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let up = flight(&mut || c.poll_transmit(), &mut |b| {
        r.handle_bytes(now, b, &mut relay)
    });
    assert_eq!(
        frame_names(&up),
        ["Hello", "Open"],
        "nothing acknowledged yet"
    );
    let down = flight(
        &mut || r.poll_transmit_building(now, &mut relay),
        &mut |b| c.handle_bytes(now, b, &mut client),
    );
    assert_eq!(frame_names(&down), ["Welcome", "Heads"]);

    // After the relay's heads, batches go without waiting for each Ack, but
    // never more than the bound; each Ack lets one more go.
    let mut waiting: VecDeque<Vec<u8>> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(waiting.len(), MAX_BATCHES_IN_FLIGHT);
    let mut sent = waiting.len();
    let mut uploaded = 0;
    while let Some(batch) = waiting.pop_front() {
        let Frame::Changes { count, .. } = Frame::decode(&batch).expect("a frame") else {
            panic!("only batches go up while uploading");
        };
        uploaded += count as usize;
        r.handle_bytes(now, &batch, &mut relay);
        flight(
            &mut || r.poll_transmit_building(now, &mut relay),
            &mut |b| c.handle_bytes(now, b, &mut client),
        );
        let before = waiting.len();
        waiting.extend(std::iter::from_fn(|| c.poll_transmit()));
        sent += waiting.len() - before;
        assert!(
            waiting.len() <= MAX_BATCHES_IN_FLIGHT,
            "{} in flight",
            waiting.len()
        );
    }
    assert_eq!(uploaded, recorded);
    assert!(
        sent > MAX_BATCHES_IN_FLIGHT,
        "{sent} batches: the upload needs more than the bound"
    );
    assert!(c.is_idle(), "every batch acknowledged ends the round");
    assert!(converged(&mut client, &mut relay));
}

#[test]
fn a_batch_sent_before_heads_to_a_relay_restored_from_backup_is_sent_again() {
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let actor = client_actor();
    record(&mut client, &actor, 5, 0);
    let backup = relay.doc(JOURNAL).clone();
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(4),
    );
    assert_eq!(outcome, Ok(()));
    // The relay loses what it acknowledged; the client records more.
    relay.docs.insert(JOURNAL, backup);
    record(&mut client, &actor, 2, 10);

    let now = Instant::now();
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let mut flights = Vec::new();
    flights.push(flight(&mut || c.poll_transmit(), &mut |b| {
        r.handle_bytes(now, b, &mut relay)
    }));
    flights.push(flight(
        &mut || r.poll_transmit_building(now, &mut relay),
        &mut |b| c.handle_bytes(now, b, &mut client),
    ));
    assert_eq!(
        frame_names(&flights[0]),
        ["Hello", "Open", "Changes(early, 2)"]
    );
    assert_eq!(
        frame_names(&flights[1]),
        ["Welcome", "Heads"],
        "the relay drops a batch built on heads it no longer holds"
    );
    let up = flight(&mut || c.poll_transmit(), &mut |b| {
        r.handle_bytes(now, b, &mut relay)
    });
    assert_eq!(
        frame_names(&up),
        ["Changes(7)"],
        "after Heads said the acknowledged heads are gone, everything is sent again"
    );
    flight(
        &mut || r.poll_transmit_building(now, &mut relay),
        &mut |b| c.handle_bytes(now, b, &mut client),
    );
    assert!(c.is_idle());
    assert!(!r.is_closed());
    assert!(converged(&mut client, &mut relay));
}

#[test]
fn wiped_client_reconverges() {
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    record(&mut client, &client_actor(), 25, 0);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(2),
    );
    assert_eq!(outcome, Ok(()));
    let mut wiped = MemoryJournals::default();
    let (outcome, _) = run_session(
        &mut wiped,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(2),
    );
    assert_eq!(outcome, Ok(()));
    assert!(converged(&mut wiped, &mut relay));
}

/// Cases of the faulty-link property: 48 in the normal suite, `PROPTEST_CASES`
/// for a long run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn faulty_links_end_in_convergence_or_clean_reset(
        seed in any::<u64>(),
        drop_per_mille in 0u32..300,
        dup_per_mille in 0u32..200,
        max_delay_ms in 0u64..5_000,
        local in 0usize..60,
        remote in 0usize..60,
    ) {
        let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
        record(&mut client, &client_actor(), local, 0);
        record(&mut relay, &ActorId::random(), remote, 10_000);
        check(seed, Faults { drop_per_mille, dup_per_mille, max_delay_ms }, &mut client, &mut relay);
        let doc = client.doc(JOURNAL).clone();
        let journal = Journal::from_doc(doc).unwrap();
        prop_assert_eq!(journal.len(), local + remote);
    }
}

/// The session closed for a reason that says `why`.
fn closed_because(events: &[ClientEvent], why: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ClientEvent::Closed { reason } if reason.to_string().contains(why)))
}

/// Delivers every frame both ways until neither side has anything to send;
/// returns the events of both sides.
fn pump(
    c: &mut ClientSession,
    client: &mut MemoryJournals,
    r: &mut RelaySession,
    relay: &mut MemoryJournals,
    now: Instant,
) -> (Vec<ClientEvent>, Vec<RelayEvent>) {
    let (mut client_events, mut relay_events) = (Vec::new(), Vec::new());
    for _ in 0..MAX_STEPS_PER_SESSION {
        let mut moved = false;
        while let Some(b) = c.poll_transmit() {
            r.handle_bytes(now, &b, relay);
            moved = true;
        }
        while let Some(b) = r.poll_transmit_building(now, relay) {
            c.handle_bytes(now, &b, client);
            moved = true;
        }
        client_events.extend(std::iter::from_fn(|| c.poll_event()));
        relay_events.extend(std::iter::from_fn(|| r.poll_event()));
        if !moved {
            return (client_events, relay_events);
        }
    }
    panic!("the sessions kept talking for {MAX_STEPS_PER_SESSION} steps");
}

#[test]
fn the_relay_learns_unsent_counts_and_successful_syncs_and_tells_the_office() {
    let now = Instant::now();
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    record(&mut client, &ActorId::from([3; 16]), 2, 0);
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let (_, relay_events) = pump(&mut c, &mut client, &mut r, &mut relay, now);
    assert_eq!(
        relay_events[0],
        RelayEvent::Welcomed {
            journals: vec![JOURNAL],
            unsent: Some(2)
        }
    );
    // Only once the relay holds the device's changes is the sync a success.
    let holds_all = relay_events
        .iter()
        .position(|e| *e == RelayEvent::HoldsAll { journal: JOURNAL })
        .expect("a HoldsAll event");
    let stored = relay_events
        .iter()
        .position(|e| matches!(e, RelayEvent::Stored { changes: 2, .. }))
        .expect("the upload was stored");
    assert!(stored < holds_all, "{relay_events:?}");
    assert!(converged(&mut client, &mut relay));

    // An office session: the health the shell hands over reaches the office.
    let health = vec![DeviceHealth {
        device: Uuid::from_u128(3),
        centre: JOURNAL,
        name: "Rēzeknes klēpjdators".into(),
        role: Role::Centre,
        revoked: false,
        enrolled_at: Utc.timestamp_opt(1_780_000_000, 0).unwrap(),
        last_contact: Some(Utc.timestamp_opt(1_780_000_500, 0).unwrap()),
        last_synced: Some(Utc.timestamp_opt(1_780_000_501, 0).unwrap()),
        unsent: Some(0),
    }];
    let mut office = MemoryJournals::default();
    let mut c = ClientSession::new(now, "office", vec![], &mut office);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    r.send_health(health.clone());
    let (early, _) = pump(&mut c, &mut office, &mut r, &mut relay, now);
    assert!(
        !early
            .iter()
            .any(|e| matches!(e, ClientEvent::Health { .. })),
        "nothing is sent before Welcome: {early:?}"
    );
    r.send_health(health.clone());
    let (events, _) = pump(&mut c, &mut office, &mut r, &mut relay, now);
    assert!(
        events.contains(&ClientEvent::Health { devices: health }),
        "{events:?}"
    );
}

#[test]
fn a_device_on_an_old_epoch_sends_nothing_and_learns_the_new_one() {
    let now = Instant::now();
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    record(&mut relay, &ActorId::from([4; 16]), 3, 0);
    relay.epochs.insert(JOURNAL, 1);
    let relay_heads = relay.doc(JOURNAL).get_heads();
    // The device recorded offline on the old epoch, and the relay once
    // acknowledged something: its Open carries an early batch.
    record(&mut client, &ActorId::from([3; 16]), 2, 10);
    client
        .acked
        .insert(JOURNAL, sync_core::journal::genesis_heads());
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let (events, relay_events) = pump(&mut c, &mut client, &mut r, &mut relay, now);
    assert!(
        events.contains(&ClientEvent::NewEpoch {
            journal: JOURNAL,
            epoch: 1
        }),
        "{events:?}"
    );
    assert!(c.is_idle() && !c.is_closed(), "the session goes on");
    assert_eq!(
        relay.doc(JOURNAL).get_heads(),
        relay_heads,
        "nothing stored"
    );
    assert!(
        !relay_events
            .iter()
            .any(|e| matches!(e, RelayEvent::Stored { .. } | RelayEvent::Sent { .. })),
        "{relay_events:?}"
    );

    // A fresh copy on the new epoch downloads the relay's journal.
    let mut staging = MemoryJournals::default();
    staging.epochs.insert(JOURNAL, 1);
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut staging);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let (events, _) = pump(&mut c, &mut staging, &mut r, &mut relay, now);
    assert!(
        events.contains(&ClientEvent::Synced { journal: JOURNAL }),
        "{events:?}"
    );
    assert_eq!(staging.doc(JOURNAL).get_heads(), relay_heads);

    // A device on a newer epoch than the relay's (restored from an old
    // backup) is told so and syncs nothing.
    let mut newer = MemoryJournals::default();
    newer.epochs.insert(JOURNAL, 2);
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut newer);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let (events, _) = pump(&mut c, &mut newer, &mut r, &mut relay, now);
    assert!(
        closed_because(&events, "restored from a backup"),
        "{events:?}"
    );
    assert_eq!(relay.doc(JOURNAL).get_heads(), relay_heads);
}

#[test]
fn the_office_asks_for_an_erasure_and_learns_the_new_epoch() {
    let now = Instant::now();
    let mut relay = MemoryJournals::default();
    let ids = record(&mut relay, &ActorId::from([4; 16]), 3, 0);
    let mut office = MemoryJournals::default();
    let unknown = Uuid::from_u128(0xDEAD);
    office.erasures_requested = vec![ids[1].0, unknown];

    // A centre's device may not ask.
    let mut centre = MemoryJournals {
        erasures_requested: vec![ids[1].0],
        ..MemoryJournals::default()
    };
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut centre);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let (events, _) = pump(&mut c, &mut centre, &mut r, &mut relay, now);
    assert!(closed_because(&events, "only the office"), "{events:?}");
    assert_eq!(relay.epoch(JOURNAL), Ok(0), "nothing erased");

    let mut c = ClientSession::new(now, "test", vec![], &mut office);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    r.permit_erasure();
    let (events, relay_events) = pump(&mut c, &mut office, &mut r, &mut relay, now);
    let rewritten = Some((JOURNAL, 1));
    assert!(
        events.ends_with(&[
            ClientEvent::Erased {
                activity: ids[1].0,
                rewritten
            },
            ClientEvent::NewEpoch {
                journal: JOURNAL,
                epoch: 1
            }
        ]),
        "nothing else starts before the new journal is adopted: {events:?}"
    );
    // The shell adopts the new journal and asks for its round; the next
    // erasure goes first.
    office.docs.insert(JOURNAL, relay.doc(JOURNAL).clone());
    office.epochs.insert(JOURNAL, 1);
    c.request_sync(now, JOURNAL, &mut office);
    let (events, _) = pump(&mut c, &mut office, &mut r, &mut relay, now);
    assert!(
        events.contains(&ClientEvent::Erased {
            activity: unknown,
            rewritten: None
        }) && events.contains(&ClientEvent::Synced { journal: JOURNAL }),
        "{events:?}"
    );
    assert_eq!(
        office.erasures_answered,
        vec![(ids[1].0, rewritten), (unknown, None)]
    );
    assert!(office.erasures_requested.is_empty());
    assert!(relay_events.contains(&RelayEvent::Erased {
        activity: ids[1].0,
        journal: JOURNAL,
        epoch: 1
    }));
    let journal = Journal::from_doc(relay.doc(JOURNAL).clone()).unwrap();
    assert!(!journal.contains(ids[1]).unwrap() && journal.contains(ids[0]).unwrap());
    assert!(c.is_idle() && !c.is_closed(), "the session goes on");
}

#[test]
fn an_upload_under_way_when_the_journal_is_rewritten_is_not_stored() {
    let now = Instant::now();
    let mut relay = MemoryJournals::default();
    let ids = record(&mut relay, &ActorId::from([4; 16]), 2, 0);
    let mut client = MemoryJournals::default();
    record(&mut client, &ActorId::from([3; 16]), 3, 10);
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    // Hello and Open reach the relay; the relay answers Welcome and Heads.
    flight(&mut || c.poll_transmit(), &mut |b| {
        r.handle_bytes(now, b, &mut relay)
    });
    flight(
        &mut || r.poll_transmit_building(now, &mut relay),
        &mut |b| c.handle_bytes(now, b, &mut client),
    );
    // Meanwhile another session erases a record: the journal is rewritten.
    assert_eq!(relay.erase(ids[0].0), Ok(Some((JOURNAL, 1))));
    let rewritten_heads = relay.doc(JOURNAL).get_heads();
    let (events, relay_events) = pump(&mut c, &mut client, &mut r, &mut relay, now);
    assert!(
        events.contains(&ClientEvent::NewEpoch {
            journal: JOURNAL,
            epoch: 1
        }),
        "{events:?}"
    );
    assert!(
        !relay_events
            .iter()
            .any(|e| matches!(e, RelayEvent::Stored { .. })),
        "{relay_events:?}"
    );
    assert_eq!(relay.doc(JOURNAL).get_heads(), rewritten_heads);
    assert!(c.is_idle() && !c.is_closed(), "the session goes on");
}

// ---- Many devices of one centre: notifications, and the no-progress limit ----

/// Another device of the centre stores `n` new changes at the relay (through
/// a session of its own): the relay's storage holds them, and the server
/// notifies every other session following the journal.
fn another_device_stores(relay: &mut MemoryJournals, n: usize, offset: usize) {
    record(relay, &ActorId::from([9_u8; 16]), n, offset);
}

/// Opens the client sent, among `frames`.
fn opens(frames: &[Frame]) -> usize {
    frames
        .iter()
        .filter(|f| matches!(f, Frame::Open { .. }))
        .count()
}

/// One session between `c` and `r` in which, at moments a seeded generator
/// picks between single frames, other devices store and the relay notifies
/// this session (`notifications` times; one in three brings new changes, the
/// rest announce changes an earlier download brought, as they do when many
/// devices store at once). Returns every frame the client sent and every
/// event it reported, once nothing is left to deliver.
fn session_under_notifications(
    (c, client): (&mut ClientSession, &mut MemoryJournals),
    (r, relay): (&mut RelaySession, &mut MemoryJournals),
    notifications: usize,
    seed: u64,
) -> (Vec<Frame>, Vec<ClientEvent>) {
    let now = Instant::now();
    let mut rng = Rng(seed | 1);
    let (mut up, mut down) = (VecDeque::new(), VecDeque::new());
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    let mut left = notifications;
    for _ in 0..MAX_STEPS_PER_SESSION {
        while let Some(b) = c.poll_transmit() {
            sent.push(Frame::decode(&b).expect("a valid frame"));
            up.push_back(b);
        }
        while let Some(b) = r.poll_transmit_building(now, relay) {
            down.push_back(b);
        }
        events.extend(std::iter::from_fn(|| c.poll_event()));
        if up.is_empty() && down.is_empty() && left == 0 {
            return (sent, events);
        }
        match rng.next() % 4 {
            0 if left > 0 && r.follows(JOURNAL) => {
                left -= 1;
                if rng.chance(333) {
                    another_device_stores(relay, 1, 50_000 + left);
                }
                r.notify_changed(JOURNAL);
            }
            1 | 2 if !down.is_empty() => {
                let b = down.pop_front().expect("checked");
                c.handle_bytes(now, &b, client);
            }
            _ => {
                if let Some(b) = up.pop_front() {
                    r.handle_bytes(now, &b, relay);
                } else if let Some(b) = down.pop_front() {
                    c.handle_bytes(now, &b, client);
                } else if left > 0 && !r.follows(JOURNAL) {
                    panic!("the relay session is not following the journal: {events:?}");
                }
            }
        }
    }
    panic!("the session did not end within {MAX_STEPS_PER_SESSION} steps");
}

#[test]
fn notifications_of_many_devices_storing_never_end_a_session_as_no_progress() {
    // Fifty devices of one centre store at once: this device hears of each
    // store, at every moment of its rounds. Many of those rounds move nothing
    // (an earlier download brought the changes); none is a failure.
    for seed in 1..=20 {
        let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
        record(&mut client, &client_actor(), 3, 0);
        let now = Instant::now();
        let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
        let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
        let (sent, events) =
            session_under_notifications((&mut c, &mut client), (&mut r, &mut relay), 200, seed);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ClientEvent::Closed { .. })),
            "seed {seed}: {events:?}"
        );
        assert!(c.is_idle(), "seed {seed}: the session ends idle");
        assert!(
            converged(&mut client, &mut relay),
            "seed {seed}: every change here and there"
        );
        // Each notification asks for at most one round (several coalesce).
        assert!(opens(&sent) <= 1 + 200, "seed {seed}");
        assert!(
            opens(&sent) > 1 + MAX_ROUNDS_WITHOUT_PROGRESS as usize,
            "seed {seed}: the scenario must have more rounds than the limit ({} opens)",
            opens(&sent)
        );
    }
}

#[test]
fn a_one_sync_session_takes_no_round_for_notifications_and_ends_in_sync() {
    for seed in 1..=20 {
        let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
        record(&mut client, &client_actor(), 3, 0);
        let now = Instant::now();
        let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client).for_one_sync();
        let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
        let (sent, events) =
            session_under_notifications((&mut c, &mut client), (&mut r, &mut relay), 100, seed);
        assert_eq!(opens(&sent), 1, "seed {seed}: one round, {events:?}");
        assert!(c.is_idle() && !c.is_closed(), "seed {seed}: {events:?}");
        assert!(client.unsent[&JOURNAL].is_empty(), "seed {seed}: all sent");
        let relay_doc = relay.doc(JOURNAL).clone();
        for h in client.doc(JOURNAL).get_heads() {
            assert!(
                relay_doc.get_change_by_hash(&h).is_some(),
                "seed {seed}: the relay holds everything this device has"
            );
        }
    }
}

/// Delivers the relay's frames to the client one at a time until `stop` says
/// so (true for the frame just delivered); returns those delivered.
fn deliver_down_until(
    (r, relay): (&mut RelaySession, &mut MemoryJournals),
    c: &mut ClientSession,
    client: &mut MemoryJournals,
    stop: impl Fn(&Frame) -> bool,
) -> Vec<Frame> {
    let now = Instant::now();
    let mut delivered = Vec::new();
    while let Some(b) = r.poll_transmit_building(now, relay) {
        let frame = Frame::decode(&b).expect("a valid frame");
        c.handle_bytes(now, &b, client);
        let done = stop(&frame);
        delivered.push(frame);
        if done {
            break;
        }
    }
    delivered
}

#[test]
fn notifications_before_a_rounds_heads_take_no_round_and_after_it_one() {
    let now = Instant::now();
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    record(&mut client, &client_actor(), 2, 0);
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let (events, _) = pump(&mut c, &mut client, &mut r, &mut relay, now);
    assert!(c.is_idle(), "{events:?}");

    // Five devices store while this device's next round is on its way: the
    // relay stored and notified before it read the `Open`, so that round's
    // download brings all five stores, and no other round follows.
    c.request_sync(now, JOURNAL, &mut client);
    let open = c.poll_transmit().expect("an Open");
    for k in 0..5 {
        another_device_stores(&mut relay, 1, 100 + k);
        r.notify_changed(JOURNAL);
    }
    r.handle_bytes(now, &open, &mut relay);
    let down = deliver_down_until((&mut r, &mut relay), &mut c, &mut client, |_| false);
    assert_eq!(
        frame_names(&down),
        [
            "Notify",
            "Notify",
            "Notify",
            "Notify",
            "Notify",
            "Heads",
            "Changes(5)"
        ]
    );
    assert!(c.is_idle(), "no other round");
    assert!(c.poll_transmit().is_none());
    assert!(converged(&mut client, &mut relay));

    // Five more notifications after the next round's `Heads`: the changes
    // may have been stored after its download was made, so one more round
    // follows — one, not five.
    c.request_sync(now, JOURNAL, &mut client);
    let open = c.poll_transmit().expect("an Open");
    r.handle_bytes(now, &open, &mut relay);
    deliver_down_until((&mut r, &mut relay), &mut c, &mut client, |f| {
        matches!(f, Frame::Heads { .. })
    });
    for k in 0..5 {
        if k == 2 {
            another_device_stores(&mut relay, 1, 200);
        }
        r.notify_changed(JOURNAL);
    }
    let mut up = Vec::new();
    for _ in 0..MAX_STEPS_PER_SESSION {
        let moved_up = flight(&mut || c.poll_transmit(), &mut |b| {
            r.handle_bytes(now, b, &mut relay)
        });
        let moved_down = deliver_down_until((&mut r, &mut relay), &mut c, &mut client, |_| false);
        if moved_up.is_empty() && moved_down.is_empty() {
            break;
        }
        up.extend(moved_up);
    }
    assert_eq!(opens(&up), 1, "one more round: {:?}", frame_names(&up));
    assert!(c.is_idle() && converged(&mut client, &mut relay));
    let closed =
        std::iter::from_fn(|| c.poll_event()).any(|e| matches!(e, ClientEvent::Closed { .. }));
    assert!(!closed);
}

/// A relay that answers every frame and never holds this device's changes:
/// it acknowledges each batch without storing it, and claims to hold every
/// head a device names, so it starts each round's download at once.
struct Forgetful(MemoryJournals);

impl RelayStorage for Forgetful {
    fn state(
        &mut self,
        journal: Uuid,
    ) -> Result<(u32, Vec<automerge::ChangeHash>), StorageFailure> {
        self.0.state(journal)
    }
    fn contains_all(
        &mut self,
        _journal: Uuid,
        _hashes: &[automerge::ChangeHash],
    ) -> Result<bool, StorageFailure> {
        Ok(true)
    }
    fn missing(
        &mut self,
        journal: Uuid,
        epoch: u32,
        known: &[automerge::ChangeHash],
        limit: usize,
    ) -> Result<Option<Vec<automerge::ChangeHash>>, StorageFailure> {
        RelayStorage::missing(&mut self.0, journal, epoch, known, limit)
    }
    fn batch(
        &mut self,
        journal: Uuid,
        epoch: u32,
        plan: &[automerge::ChangeHash],
    ) -> Result<Option<sync_core::sync::Batch>, StorageFailure> {
        RelayStorage::batch(&mut self.0, journal, epoch, plan)
    }
    fn apply_durably(
        &mut self,
        journal: Uuid,
        _epoch: u32,
        _changes: sync_core::sync::Received,
    ) -> Result<Option<Vec<automerge::ChangeHash>>, StorageFailure> {
        Ok(Some(self.0.doc(journal).get_heads()))
    }
    fn erase(&mut self, activity: Uuid) -> Result<Option<(Uuid, u32)>, StorageFailure> {
        self.0.erase(activity)
    }
}

#[test]
fn a_relay_that_never_holds_this_devices_changes_ends_the_session_as_no_progress() {
    let now = Instant::now();
    let mut client = MemoryJournals::default();
    record(&mut client, &client_actor(), 3, 0);
    let mut relay = Forgetful(MemoryJournals::default());
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let mut opens_sent = 0;
    let mut events = Vec::new();
    for _ in 0..MAX_STEPS_PER_SESSION {
        let up = flight(&mut || c.poll_transmit(), &mut |b| {
            r.handle_bytes(now, b, &mut relay)
        });
        opens_sent += opens(&up);
        let down = flight(
            &mut || r.poll_transmit_building(now, &mut relay),
            &mut |b| c.handle_bytes(now, b, &mut client),
        );
        events.extend(std::iter::from_fn(|| c.poll_event()));
        if up.is_empty() && down.is_empty() {
            break;
        }
    }
    assert_eq!(
        events.last(),
        Some(&ClientEvent::Closed {
            reason: SessionError::NoProgress
        }),
        "{events:?}"
    );
    // Every round ended without the relay holding the changes; the session
    // tried again by itself, and stopped past the limit.
    assert_eq!(opens_sent, MAX_ROUNDS_WITHOUT_PROGRESS as usize + 1);
    assert!(
        !events.contains(&ClientEvent::Synced { journal: JOURNAL }),
        "never reported in sync: {events:?}"
    );
}

#[test]
fn a_relay_that_loses_what_it_acknowledged_each_round_ends_the_session_as_no_progress() {
    // The relay stores and acknowledges, then loses it all again before the
    // next round, which its own notifications keep starting: every round
    // uploads the same changes again. That is no progress, however much moves.
    let now = Instant::now();
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    record(&mut client, &client_actor(), 3, 0);
    let empty = relay.doc(JOURNAL).clone();
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let mut rounds = 0;
    let mut events = Vec::new();
    while !c.is_closed() && rounds < 20 {
        rounds += 1;
        let (more, _) = pump(&mut c, &mut client, &mut r, &mut relay, now);
        events.extend(more);
        relay.docs.insert(JOURNAL, empty.clone());
        r.notify_changed(JOURNAL);
    }
    assert_eq!(
        events.last(),
        Some(&ClientEvent::Closed {
            reason: SessionError::NoProgress
        }),
        "{events:?}"
    );
    // The first round was good; then the limit's worth of lost ones, and one more.
    assert_eq!(rounds, MAX_ROUNDS_WITHOUT_PROGRESS as usize + 2);
}

#[test]
fn a_download_larger_than_a_plan_streams_batch_by_batch_and_refills() {
    use sync_core::limits::{MAX_CHANGES_PER_BATCH, MAX_DOWNLOAD_PLAN_CHANGES};
    let now = Instant::now();
    // More changes than one plan holds, from two devices that recorded
    // concurrently (so what the client holds has two heads midway).
    let n = MAX_DOWNLOAD_PLAN_CHANGES + 500;
    let (mut a, mut b) = (MemoryJournals::default(), MemoryJournals::default());
    record(&mut a, &ActorId::from([4; 16]), n / 2, 0);
    record(&mut b, &ActorId::from([5; 16]), n - n / 2, 100_000);
    let mut relay = MemoryJournals::default();
    for other in [&mut a, &mut b] {
        let changes = other.doc(JOURNAL).get_changes(&[]);
        relay.doc(JOURNAL).apply_changes(changes).unwrap();
    }
    assert_eq!(relay.doc(JOURNAL).get_heads().len(), 2);
    let mut client = MemoryJournals::default();
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    flight(&mut || c.poll_transmit(), &mut |b| {
        r.handle_bytes(now, b, &mut relay)
    });
    // The relay builds a batch only when asked: nothing is queued ahead.
    let mut batches = 0;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 1_000, "the download did not end");
        while let Some(b) = r.poll_transmit() {
            let frame = Frame::decode(&b).unwrap();
            if let Frame::Changes { count, .. } = frame {
                assert!(count as usize <= MAX_CHANGES_PER_BATCH);
                batches += 1;
            }
            c.handle_bytes(now, &b, &mut client);
        }
        assert!(r.poll_transmit().is_none());
        if !r.wants_to_send() {
            break;
        }
        r.handle_send_ready(now, &mut relay);
    }
    assert!(
        c.is_idle(),
        "{:?}",
        std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>()
    );
    assert_eq!(
        client.doc(JOURNAL).get_heads(),
        relay.doc(JOURNAL).get_heads()
    );
    assert_eq!(client.doc(JOURNAL).get_changes(&[]).len(), n + 1);
    assert!(
        batches >= n.div_ceil(MAX_CHANGES_PER_BATCH),
        "{batches} batches"
    );
    assert!(!r.is_closed());
}

#[test]
fn a_download_under_way_when_the_journal_is_rewritten_ends_with_the_new_epoch() {
    let now = Instant::now();
    let mut relay = MemoryJournals::default();
    // Enough for several batches.
    let ids = record(&mut relay, &ActorId::from([4; 16]), 5_000, 0);
    let mut client = MemoryJournals::default();
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    flight(&mut || c.poll_transmit(), &mut |b| {
        r.handle_bytes(now, b, &mut relay)
    });
    // The first batch goes out; then another session erases a record.
    r.handle_send_ready(now, &mut relay);
    flight(&mut || r.poll_transmit(), &mut |b| {
        c.handle_bytes(now, b, &mut client)
    });
    assert!(r.wants_to_send(), "more than one batch");
    assert_eq!(relay.erase(ids[0].0), Ok(Some((JOURNAL, 1))));
    let (events, _) = pump(&mut c, &mut client, &mut r, &mut relay, now);
    assert!(
        events.contains(&ClientEvent::NewEpoch {
            journal: JOURNAL,
            epoch: 1
        }),
        "{events:?}"
    );
    // Nothing of the new epoch reached the client's old journal.
    let old = Journal::from_doc(client.doc(JOURNAL).clone()).unwrap();
    assert!(old.len() < 5_000, "the download stopped");
    assert!(!r.wants_to_send() && !r.is_closed());
}

#[test]
fn a_batch_of_more_changes_than_an_open_names_heads_is_acknowledged_by_its_heads() {
    // One batch of 1,100 small changes: recording each of its hashes as
    // "acknowledged heads" would make the next Open name more than MAX_HEADS
    // and fail to encode, so this device could never sync again.
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let n = sync_core::limits::MAX_HEADS + 76;
    record_small(&mut client, n);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(12),
    );
    assert_eq!(outcome, Ok(()));
    assert!(client.acked[&JOURNAL].len() <= 2, "{:?}", client.acked);
    record(&mut client, &client_actor(), 1, 5_000);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(12),
    );
    assert_eq!(outcome, Ok(()));
    assert!(converged(&mut client, &mut relay));

    // A store that recorded such a list before still syncs: its Open names
    // no acknowledged heads, and the round records the relay's.
    let all: Vec<_> = client
        .doc(JOURNAL)
        .get_changes(&[])
        .iter()
        .map(|c| c.hash())
        .collect();
    client.acked.insert(JOURNAL, all);
    record(&mut client, &client_actor(), 1, 6_000);
    let (outcome, _) = run_session(
        &mut client,
        &mut relay,
        Instant::now(),
        Faults::default(),
        &mut Rng(12),
    );
    assert_eq!(outcome, Ok(()));
    assert!(converged(&mut client, &mut relay));
    assert!(client.acked[&JOURNAL].len() <= 2, "{:?}", client.acked);
}

/// Records `n` activities with a title only (small changes: over a thousand
/// fit one batch) as this device's local changes.
fn record_small(store: &mut MemoryJournals, n: usize) {
    let doc = store.doc(JOURNAL).fork().with_actor(client_actor());
    let mut journal = Journal::from_doc(doc).unwrap();
    for i in 0..n {
        let id = ActivityId(Uuid::from_u128(0xABC0_0000 + i as u128));
        let patch = ActivityPatch {
            title: Some(format!("Nr. {i}")),
            kind: Some(Kind::Seminar),
            date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
            ..Default::default()
        };
        let change = journal.create(id, &patch, stamp(i as i64)).unwrap();
        store.record_local(JOURNAL, change.hash());
    }
    let changes = journal.doc().get_changes(&store.doc(JOURNAL).get_heads());
    store.doc(JOURNAL).apply_changes(changes).unwrap();
}

// ---- Frames that arrive together: the next batch unpacked beside (`sync::ahead`) ----

/// A session whose client recorded `recorded` activities, past the greeting
/// and the relay's heads: the first upload batches are waiting to be sent.
fn upload_under_way(
    client: &mut MemoryJournals,
    relay: &mut MemoryJournals,
    recorded: usize,
    now: Instant,
) -> (ClientSession, RelaySession, Vec<Vec<u8>>) {
    record(client, &client_actor(), recorded, 0);
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], client);
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    flight(&mut || c.poll_transmit(), &mut |b| {
        r.handle_bytes(now, b, relay)
    });
    flight(&mut || r.poll_transmit_building(now, relay), &mut |b| {
        c.handle_bytes(now, b, client)
    });
    let batches: Vec<Vec<u8>> = std::iter::from_fn(|| c.poll_transmit()).collect();
    (c, r, batches)
}

/// The count and digest of a `Changes` or `Ack` frame.
fn batch_id(frame: &Frame) -> Option<(u32, sync_core::sync::BatchDigest)> {
    match frame {
        Frame::Changes { count, digest, .. } | Frame::Ack { count, digest, .. } => {
            Some((*count, *digest))
        }
        _ => None,
    }
}

/// `bytes` (one `Changes` frame) with its batch cut in half: the frame
/// decodes, its batch does not unpack.
fn with_damaged_batch(bytes: &[u8]) -> Vec<u8> {
    let mut frame = Frame::decode(bytes).expect("a frame");
    let Frame::Changes { bundle, .. } = &mut frame else {
        panic!("a batch");
    };
    bundle.truncate(bundle.len() / 2);
    frame.encode().expect("encodes")
}

#[test]
fn upload_batches_that_arrive_together_are_each_stored_and_acknowledged_in_order() {
    let now = Instant::now();
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let (mut c, mut r, batches) = upload_under_way(&mut client, &mut relay, 5_000, now);
    assert_eq!(batches.len(), MAX_BATCHES_IN_FLIGHT);
    r.handle_bytes(now, &batches.concat(), &mut relay);
    let answers: Vec<Frame> = std::iter::from_fn(|| r.poll_transmit())
        .map(|b| Frame::decode(&b).expect("a frame"))
        .collect();
    let acked: Vec<_> = answers.iter().filter_map(batch_id).collect();
    let sent: Vec<_> = batches
        .iter()
        .map(|b| batch_id(&Frame::decode(b).expect("a frame")).expect("a batch"))
        .collect();
    assert_eq!(acked, sent, "one Ack per batch, in the order sent");
    let stored = std::iter::from_fn(|| r.poll_event())
        .filter(|e| matches!(e, RelayEvent::Stored { .. }))
        .count();
    assert_eq!(stored, MAX_BATCHES_IN_FLIGHT);
    for answer in &answers {
        c.handle_bytes(now, &answer.encode().expect("encodes"), &mut client);
    }
    let (events, _) = pump(&mut c, &mut client, &mut r, &mut relay, now);
    assert!(c.is_idle(), "{events:?}");
    assert!(converged(&mut client, &mut relay));
}

#[test]
fn a_damaged_batch_behind_a_good_one_is_refused_after_the_good_one_is_stored() {
    let now = Instant::now();
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let (_c, mut r, batches) = upload_under_way(&mut client, &mut relay, 5_000, now);
    let together = [batches[0].clone(), with_damaged_batch(&batches[1])].concat();
    r.handle_bytes(now, &together, &mut relay);
    let answers: Vec<Frame> = std::iter::from_fn(|| r.poll_transmit())
        .map(|b| Frame::decode(&b).expect("a frame"))
        .collect();
    let [Frame::Ack { heads, .. }, Frame::Error { code, .. }] = answers.as_slice() else {
        panic!("an Ack for the first batch, then a refusal: {answers:?}");
    };
    assert_eq!(*code, ErrorCode::Malformed);
    assert!(r.is_closed());
    assert_eq!(
        &relay.doc(JOURNAL).get_heads(),
        heads,
        "the first batch is stored, nothing of the second"
    );
}

#[test]
fn an_unreadable_frame_behind_a_good_batch_closes_the_session_after_the_batch_is_stored() {
    let now = Instant::now();
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let (_c, mut r, batches) = upload_under_way(&mut client, &mut relay, 5_000, now);
    // A frame of five bytes of no known kind.
    let unreadable = [0, 0, 0, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    r.handle_bytes(now, &[&batches[0][..], &unreadable].concat(), &mut relay);
    let answers: Vec<Frame> = std::iter::from_fn(|| r.poll_transmit())
        .map(|b| Frame::decode(&b).expect("a frame"))
        .collect();
    let [Frame::Ack { heads, .. }, Frame::Error { code, .. }] = answers.as_slice() else {
        panic!("an Ack for the batch, then a refusal: {answers:?}");
    };
    assert_eq!(*code, ErrorCode::Malformed);
    assert!(r.is_closed());
    assert_eq!(&relay.doc(JOURNAL).get_heads(), heads);
}

#[test]
fn a_forged_batch_behind_a_good_one_is_refused_whole_though_unpacked_ahead() {
    let now = Instant::now();
    let (mut client, mut relay) = (MemoryJournals::default(), MemoryJournals::default());
    let (_c, mut r, batches) = upload_under_way(&mut client, &mut relay, 5_000, now);
    // The second batch as a colleague would have written it.
    let mut colleagues = MemoryJournals::default();
    colleagues
        .doc(JOURNAL)
        .apply_changes(client.doc(JOURNAL).get_changes(&[]))
        .unwrap();
    let colleague = ActorId::from([4_u8; 16]);
    record(&mut colleagues, &colleague, 3, 100_000);
    let new = colleagues
        .doc(JOURNAL)
        .get_changes(&client.doc(JOURNAL).get_heads());
    let hashes: Vec<_> = new.iter().map(|c| c.hash()).collect();
    let bundle = sync_core::sync::batch_from(colleagues.doc(JOURNAL), &hashes, u64::MAX)
        .expect("a batch")
        .bundle
        .expect("a bundle");
    let forged = Frame::Changes {
        journal: JOURNAL,
        more: true,
        sent_before_heads: false,
        count: hashes.len() as u32,
        digest: sync_core::sync::batch_digest(&hashes),
        encoding: BatchEncoding::Bundle,
        bundle,
        attested: Vec::new(),
    }
    .encode()
    .expect("encodes");
    r.handle_bytes(now, &[batches[0].clone(), forged].concat(), &mut relay);
    let events: Vec<RelayEvent> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(
        events.contains(&RelayEvent::ForgedAuthor {
            journal: JOURNAL,
            author: colleague,
        }),
        "{events:?}"
    );
    let stored = events
        .iter()
        .filter(|e| matches!(e, RelayEvent::Stored { .. }))
        .count();
    assert_eq!(stored, 1, "only the good batch: {events:?}");
    assert!(r.is_closed());
    for hash in hashes {
        assert!(relay.doc(JOURNAL).get_change_by_hash(&hash).is_none());
    }
}

#[test]
fn download_batches_that_arrive_together_are_applied_in_order_until_a_damaged_one() {
    let now = Instant::now();
    let mut relay = MemoryJournals::default();
    another_device_stores(&mut relay, 5_000, 0);
    let mut client = MemoryJournals::default();
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    let mut r = RelaySession::new(now, vec![grant(Access::Read)], peer());
    flight(&mut || c.poll_transmit(), &mut |b| {
        r.handle_bytes(now, b, &mut relay)
    });
    let down: Vec<Vec<u8>> =
        std::iter::from_fn(|| r.poll_transmit_building(now, &mut relay)).collect();
    let batches: Vec<usize> = (0..down.len())
        .filter(|i| matches!(Frame::decode(&down[*i]), Ok(Frame::Changes { .. })))
        .collect();
    assert!(batches.len() >= 3, "{} batches", batches.len());
    // All together, the second batch damaged.
    let mut together = down.clone();
    together[batches[1]] = with_damaged_batch(&down[batches[1]]);
    c.handle_bytes(now, &together.concat(), &mut client);
    let events: Vec<ClientEvent> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(closed_because(&events, "damaged"), "{events:?}");
    let Frame::Changes { count, .. } = Frame::decode(&down[batches[0]]).expect("a frame") else {
        panic!("a batch");
    };
    assert_eq!(
        client.doc(JOURNAL).get_changes(&[]).len(),
        1 + count as usize,
        "the genesis and the first batch, nothing of the others"
    );

    // Undamaged and together, the whole download is applied in order.
    let mut client = MemoryJournals::default();
    let mut c = ClientSession::new(now, "test", vec![JOURNAL], &mut client);
    flight(&mut || c.poll_transmit(), &mut |_| {});
    c.handle_bytes(now, &down.concat(), &mut client);
    assert!(c.is_idle());
    assert_eq!(
        client.doc(JOURNAL).get_heads(),
        relay.doc(JOURNAL).get_heads()
    );
}

#[test]
fn an_enrol_sent_again_waits_for_the_shells_answer_and_nothing_else_is_taken() {
    use sync_core::sync::Role;
    let now = Instant::now();
    let mut relay = MemoryJournals::default();
    let enrol = |device: Uuid| {
        Frame::Enrol {
            secret: [9; 32],
            device,
            device_name: "Pirmais".into(),
            software: "test".into(),
        }
        .encode()
        .expect("encodes")
    };
    let answers = |r: &mut RelaySession| -> Vec<Frame> {
        std::iter::from_fn(|| r.poll_transmit())
            .map(|b| Frame::decode(&b).expect("a frame"))
            .collect()
    };
    // Told again what it was granted; the session ends.
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    r.handle_bytes(now, &enrol(peer().device), &mut relay);
    assert_eq!(
        r.poll_event(),
        Some(RelayEvent::EnrolAgain { secret: [9; 32] })
    );
    assert!(
        answers(&mut r).is_empty(),
        "nothing before the shell answers"
    );
    r.answer_enrolment(Some((JOURNAL, "Rēzeknes KRC".into(), Role::Centre)));
    assert!(matches!(
        answers(&mut r).as_slice(),
        [Frame::Enrolled { journal, .. }] if *journal == JOURNAL
    ));
    assert!(r.is_closed());
    // Not its code: refused.
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    r.handle_bytes(now, &enrol(peer().device), &mut relay);
    r.answer_enrolment(None);
    assert!(matches!(
        answers(&mut r).as_slice(),
        [Frame::Error {
            code: ErrorCode::NotAllowed,
            ..
        }]
    ));
    // A `Hello` behind it, before the answer: refused, nothing granted.
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    let hello = Frame::Hello {
        version: PROTOCOL_VERSION,
        software: "test".into(),
        journals: vec![],
        unsent: None,
    }
    .encode()
    .expect("encodes");
    r.handle_bytes(now, &[enrol(peer().device), hello].concat(), &mut relay);
    assert!(matches!(
        answers(&mut r).as_slice(),
        [Frame::Error {
            code: ErrorCode::Malformed,
            ..
        }]
    ));
    assert!(r.is_closed());
    // As another device: refused at once.
    let mut r = RelaySession::new(now, vec![grant(Access::ReadWrite)], peer());
    r.handle_bytes(now, &enrol(Uuid::from_u128(77)), &mut relay);
    assert!(matches!(
        answers(&mut r).as_slice(),
        [Frame::Error {
            code: ErrorCode::NotAllowed,
            ..
        }]
    ));
    assert!(r.is_closed());
}
