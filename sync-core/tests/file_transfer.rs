//! The file stream's two state machines against each other, in memory, with
//! real stores: a device sends the files attached there and the relay takes
//! them chunk by chunk, resuming after a cut; the office fetches one; every
//! forged or unauthorised frame is refused and stores nothing.

mod common;

use std::collections::HashMap;
use std::io::Cursor;
use std::time::Instant;

use sync_core::files::FileHash;
use sync_core::limits::{FILE_CHUNK_BYTES, MAX_FILE_CHUNKS_IN_FLIGHT, SESSION_REPLY_TIMEOUT};
use sync_core::store::{FileDescription, ReceiveChunkError, StoredFile};
use sync_core::sync::files::{
    FileEvent, FileService, FileServiceEvent, FileTransfer, FileWanted, RelayFiles,
};
use sync_core::sync::{Access, ErrorCode, Frame, JournalGrant, SessionError, StorageFailure};
use sync_core::{ActivityId, Journal, NewStore, Replica, Store};
use uuid::Uuid;

use common::minimal;

/// A photo-shaped file of `bytes` bytes, different per `seed`.
fn photo(bytes: usize, seed: u8) -> Vec<u8> {
    let mut file = vec![0xFF, 0xD8, 0xFF, 0xE0];
    file.extend((0..bytes - 6).map(|i| ((i as u64 * 31 + u64::from(seed)) % 251) as u8));
    file.extend_from_slice(&[0xFF, 0xD9]);
    file
}

/// A real photo, `width` × `height`, as a phone's camera writes it
/// (baseline JPEG): one a thumbnail is made of.
fn real_photo(width: u16, height: u16) -> Vec<u8> {
    let pixels: Vec<u8> = (0..u32::from(height))
        .flat_map(|y| {
            (0..u32::from(width)).flat_map(move |x| [(x % 256) as u8, (y % 256) as u8, 90])
        })
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encodes");
    out
}

/// The relay's side: each journal's records and its own file store.
struct Relay {
    journals: HashMap<Uuid, (Journal, Store)>,
    _dir: tempfile::TempDir,
}

impl Relay {
    fn new() -> Relay {
        Relay {
            journals: HashMap::new(),
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The relay now holds `device`'s records of its home journal.
    fn take_records(&mut self, device: &mut Replica) {
        let id = device.journal_id().0;
        let doc = device.journal().expect("journal").doc().clone();
        let path = self._dir.path().join(format!("{id}.redb"));
        let entry = self.journals.entry(id).or_insert_with(|| {
            let store = Store::create_relay(&path, "relay", 1 << 20).expect("relay store");
            (
                Journal::from_doc(sync_core::journal::genesis()).expect("genesis"),
                store,
            )
        });
        entry.0 = Journal::from_doc(doc).expect("a journal");
    }

    fn store(&self, journal: Uuid) -> &Store {
        &self.journals[&journal].1
    }
}

impl RelayFiles for Relay {
    fn attachment_bytes(
        &mut self,
        journal: Uuid,
        activity: ActivityId,
        file: FileHash,
    ) -> Result<Option<u64>, StorageFailure> {
        let Some((j, _)) = self.journals.get(&journal) else {
            return Ok(None);
        };
        j.referred_file(activity, file)
            .map_err(StorageFailure::local)
    }

    fn held_file(
        &mut self,
        journal: Uuid,
        hash: FileHash,
    ) -> Result<Option<StoredFile>, StorageFailure> {
        self.store(journal)
            .file(hash)
            .map_err(StorageFailure::local)
    }

    fn file_bytes(&mut self, journal: Uuid) -> Result<u64, StorageFailure> {
        let files = self.store(journal).files().map_err(StorageFailure::local)?;
        Ok(files.iter().map(|f| f.bytes).sum())
    }

    fn receive_file_chunk(
        &mut self,
        journal: Uuid,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<Result<StoredFile, ReceiveChunkError>, StorageFailure> {
        Ok(self.store(journal).receive_file_chunk(file, number, chunk))
    }

    fn file_chunk(
        &mut self,
        journal: Uuid,
        hash: FileHash,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageFailure> {
        self.store(journal)
            .file_chunk(hash, number)
            .map_err(StorageFailure::local)
    }
}

struct Device {
    replica: Replica,
    _dir: tempfile::TempDir,
}

fn device(centre: &str) -> Device {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("journal.redb");
    let new = NewStore {
        centre,
        device_name: "Ilzes dators",
    };
    Device {
        replica: Replica::create(&path, new).expect("a store"),
        _dir: dir,
    }
}

impl Device {
    /// Records an activity and attaches `file` to it.
    fn attach(&mut self, file: &[u8]) -> (ActivityId, FileHash) {
        let id = ActivityId::new_random();
        let now = common::at(0);
        self.replica
            .add(id, &minimal("Seminārs"), now)
            .expect("add");
        let attached = self
            .replica
            .attach_file(id, Cursor::new(file), "foto.jpg", now)
            .expect("attach")
            .expect("new");
        (id, attached.file)
    }

    fn journal(&self) -> Uuid {
        self.replica.journal_id().0
    }

    /// A file stream with every file waiting queued.
    fn transfer(&self, now: Instant) -> FileTransfer {
        let mut transfer = FileTransfer::new(now);
        let journal = self.replica.journal_id();
        let waiting = self.replica.store().files_to_send(journal).expect("queue");
        transfer.send(now, journal.0, waiting);
        transfer
    }
}

fn grant(journal: Uuid, access: Access) -> JournalGrant {
    JournalGrant {
        journal,
        centre: "Daugavpils KRC".into(),
        municipality: String::new(),
        access,
    }
}

/// What moved between the two sides.
#[derive(Default, Debug)]
struct Moved {
    chunks_up: u64,
    chunks_down: u64,
    events: Vec<FileEvent>,
    relay_events: Vec<FileServiceEvent>,
}

/// Moves frames both ways until neither side has anything to say, or
/// until `cut_after` frames went from the device (the connection drops).
fn pump(
    device: &Device,
    transfer: &mut FileTransfer,
    service: &mut FileService,
    relay: &mut Relay,
    cut_after: Option<u64>,
) -> Moved {
    let now = Instant::now();
    let mut moved = Moved::default();
    let mut sent = 0;
    let mut store = device.replica.store();
    loop {
        let mut progress = false;
        while let Some(bytes) = transfer.poll_transmit(now, &mut store) {
            if cut_after.is_some_and(|cut| sent >= cut) {
                break;
            }
            sent += 1;
            if matches!(Frame::decode(&bytes), Ok(Frame::FileChunk { .. })) {
                moved.chunks_up += 1;
            }
            service.handle_bytes(&bytes, relay);
            progress = true;
        }
        while let Some(bytes) = service.poll_transmit(relay) {
            if matches!(Frame::decode(&bytes), Ok(Frame::FileChunk { .. })) {
                moved.chunks_down += 1;
            }
            transfer.handle_bytes(now, &bytes, &mut store);
            progress = true;
        }
        moved
            .events
            .extend(std::iter::from_fn(|| transfer.poll_event()));
        moved
            .relay_events
            .extend(std::iter::from_fn(|| service.poll_event()));
        if !progress || cut_after.is_some_and(|cut| sent >= cut) {
            return moved;
        }
    }
}

fn read(store: &Store, hash: FileHash) -> Vec<u8> {
    let mut out = Vec::new();
    store.read_file(hash, &mut out).expect("the whole file");
    out
}

const MAX: u64 = 1 << 30;

#[test]
fn a_file_goes_chunk_by_chunk_and_counts_as_sent_once_whole_at_the_relay() {
    let mut device = device("Daugavpils KRC");
    let bytes = photo(5 * FILE_CHUNK_BYTES + 1000, 1);
    let (_, hash) = device.attach(&bytes);
    let mut relay = Relay::new();
    relay.take_records(&mut device.replica);
    let journal = device.journal();
    let mut transfer = device.transfer(Instant::now());
    let mut service = FileService::new(vec![grant(journal, Access::ReadWrite)], MAX);

    let moved = pump(&device, &mut transfer, &mut service, &mut relay, None);
    assert_eq!(moved.chunks_up, 6);
    assert!(
        moved.events.contains(&FileEvent::Sent { journal, hash }),
        "{moved:?}"
    );
    assert_eq!(
        moved.relay_events,
        [FileServiceEvent::Stored { journal, hash }]
    );
    assert_eq!(read(relay.store(journal), hash), bytes);
    let waiting = device
        .replica
        .store()
        .files_to_send(device.replica.journal_id());
    assert!(
        waiting.expect("queue").is_empty(),
        "sent: no longer waiting"
    );
    assert!(transfer.is_idle());
}

#[test]
fn a_transfer_cut_anywhere_resumes_from_the_last_chunk_the_relay_holds() {
    let mut device = device("Daugavpils KRC");
    let bytes = photo(20 * FILE_CHUNK_BYTES, 2);
    let (_, hash) = device.attach(&bytes);
    let mut relay = Relay::new();
    relay.take_records(&mut device.replica);
    let journal = device.journal();
    let grants = vec![grant(journal, Access::ReadWrite)];
    let mut total_up = 0;
    // Cut after the offer and a few chunks, again and again.
    for cut in [1, 4, 7, 3, 9] {
        let mut transfer = device.transfer(Instant::now());
        let mut service = FileService::new(grants.clone(), MAX);
        let moved = pump(&device, &mut transfer, &mut service, &mut relay, Some(cut));
        total_up += moved.chunks_up;
        let held = relay
            .store(journal)
            .file(hash)
            .expect("file")
            .map_or(0, |f| f.chunks_held);
        assert_eq!(held, total_up, "every chunk sent was stored, none twice");
    }
    let mut transfer = device.transfer(Instant::now());
    let mut service = FileService::new(grants, MAX);
    let moved = pump(&device, &mut transfer, &mut service, &mut relay, None);
    total_up += moved.chunks_up;
    assert_eq!(total_up, 20, "no chunk went twice");
    assert!(moved.events.contains(&FileEvent::Sent { journal, hash }));
    assert_eq!(read(relay.store(journal), hash), bytes);
}

#[test]
fn at_most_a_window_of_chunks_is_unanswered() {
    let mut device = device("Daugavpils KRC");
    let (_, _) = device.attach(&photo(30 * FILE_CHUNK_BYTES, 3));
    let mut relay = Relay::new();
    relay.take_records(&mut device.replica);
    let now = Instant::now();
    let mut transfer = device.transfer(now);
    let mut store = device.replica.store();
    let offer = transfer.poll_transmit(now, &mut store).expect("the offer");
    let mut service = FileService::new(vec![grant(device.journal(), Access::ReadWrite)], MAX);
    service.handle_bytes(&offer, &mut relay);
    let held = service.poll_transmit(&mut relay).expect("the answer");
    transfer.handle_bytes(now, &held, &mut store);
    let mut chunks = 0;
    while transfer.poll_transmit(now, &mut store).is_some() {
        chunks += 1;
    }
    assert_eq!(chunks, MAX_FILE_CHUNKS_IN_FLIGHT);
    // No answer: the stream times out, and says so.
    transfer.handle_timeout(now + SESSION_REPLY_TIMEOUT);
    assert!(transfer.is_closed());
    let closed = std::iter::from_fn(|| transfer.poll_event()).last();
    assert_eq!(
        closed,
        Some(FileEvent::Closed {
            reason: SessionError::TimedOut
        })
    );
}

#[test]
fn a_file_no_record_refers_to_is_refused_and_the_next_one_still_goes() {
    let mut device = device("Daugavpils KRC");
    let (_, first) = device.attach(&photo(1000, 4));
    let mut relay = Relay::new();
    // The relay has the first record only: the second is not there yet.
    relay.take_records(&mut device.replica);
    let (_, second) = device.attach(&photo(2000, 5));
    let journal = device.journal();
    let mut transfer = device.transfer(Instant::now());
    let mut service = FileService::new(vec![grant(journal, Access::ReadWrite)], MAX);
    let moved = pump(&device, &mut transfer, &mut service, &mut relay, None);
    assert!(moved.events.contains(&FileEvent::Sent {
        journal,
        hash: first
    }));
    let refused = moved.events.iter().find_map(|e| match e {
        FileEvent::Refused {
            hash,
            code,
            message,
        } if *hash == second => Some((*code, message)),
        _ => None,
    });
    let (code, message) = refused.expect("the second file is refused");
    assert_eq!(code, ErrorCode::NotAllowed);
    assert!(message.contains("refers to no file"), "{message}");
    assert!(relay.store(journal).file(second).expect("file").is_none());
    assert!(
        !transfer.is_closed(),
        "one refused file does not end the stream"
    );
}

#[test]
fn a_centre_over_its_file_limit_is_refused_with_the_reason() {
    let mut device = device("Daugavpils KRC");
    let (_, hash) = device.attach(&photo(3 * FILE_CHUNK_BYTES, 6));
    let mut relay = Relay::new();
    relay.take_records(&mut device.replica);
    let journal = device.journal();
    let mut transfer = device.transfer(Instant::now());
    let limit = 2 * FILE_CHUNK_BYTES as u64;
    let mut service = FileService::new(vec![grant(journal, Access::ReadWrite)], limit);
    let moved = pump(&device, &mut transfer, &mut service, &mut relay, None);
    assert_eq!(moved.chunks_up, 0);
    assert!(moved.events.iter().any(|e| matches!(
        e,
        FileEvent::Refused { hash: h, code: ErrorCode::LimitReached, .. } if *h == hash
    )));
    assert!(relay.store(journal).files().expect("files").is_empty());
}

/// Sends raw frames to a relay's file service, as a hostile device would.
fn forge(service: &mut FileService, relay: &mut Relay, frames: &[Frame]) -> Vec<Frame> {
    for frame in frames {
        service.handle_bytes(&frame.encode().expect("encode"), relay);
    }
    std::iter::from_fn(|| service.poll_transmit(relay))
        .map(|bytes| Frame::decode(&bytes).expect("a frame"))
        .collect()
}

fn ends_with_error(answers: &[Frame], code: ErrorCode) -> bool {
    matches!(answers.last(), Some(Frame::Error { code: c, .. }) if *c == code)
}

#[test]
fn forged_chunks_are_refused_and_nothing_of_them_is_kept() {
    let mut device = device("Daugavpils KRC");
    let bytes = photo(2 * FILE_CHUNK_BYTES + 10, 7);
    let (activity, hash) = device.attach(&bytes);
    let mut relay = Relay::new();
    relay.take_records(&mut device.replica);
    let journal = device.journal();
    let grants = vec![grant(journal, Access::ReadWrite)];
    let offer = Frame::FileOffer {
        journal,
        activity: activity.0,
        file: hash,
        bytes: bytes.len() as u64,
    };
    let chunk = |number: u64, bytes: Vec<u8>| Frame::FileChunk {
        file: hash,
        number,
        bytes,
    };
    let first = bytes[..FILE_CHUNK_BYTES].to_vec();
    let cases: Vec<(&str, Vec<Frame>, ErrorCode)> = vec![
        (
            "a chunk never offered",
            vec![chunk(0, first.clone())],
            ErrorCode::Malformed,
        ),
        (
            "a chunk too short",
            vec![offer.clone(), chunk(0, vec![1; 100])],
            ErrorCode::Malformed,
        ),
        (
            "a chunk out of order",
            vec![offer.clone(), chunk(1, first.clone())],
            ErrorCode::Malformed,
        ),
        (
            "bytes that are not the file",
            vec![
                offer.clone(),
                chunk(0, first.clone()),
                chunk(1, vec![0; FILE_CHUNK_BYTES]),
                chunk(2, vec![0; 10]),
            ],
            ErrorCode::Malformed,
        ),
        (
            "a file said to be larger than its record says",
            vec![Frame::FileOffer {
                journal,
                activity: activity.0,
                file: hash,
                bytes: bytes.len() as u64 + 1,
            }],
            ErrorCode::NotAllowed,
        ),
    ];
    for (what, frames, code) in cases {
        let mut service = FileService::new(grants.clone(), MAX);
        let answers = forge(&mut service, &mut relay, &frames);
        let refused = ends_with_error(&answers, code)
            || answers
                .iter()
                .any(|f| matches!(f, Frame::FileRefused { code: c, .. } if *c == code));
        assert!(refused, "{what}: {answers:?}");
        assert!(
            relay.store(journal).file(hash).expect("file").is_none(),
            "{what}: nothing of the file is kept"
        );
    }
}

#[test]
fn a_device_cannot_write_or_read_another_centres_files() {
    let mut ours = device("Daugavpils KRC");
    let mut theirs = device("Rēzeknes KRC");
    let bytes = photo(1000, 8);
    let (activity, hash) = theirs.attach(&bytes);
    let mut relay = Relay::new();
    relay.take_records(&mut theirs.replica);
    relay.take_records(&mut ours.replica);
    let their_journal = theirs.journal();
    // Our device may only sync its own journal.
    let grants = vec![grant(ours.journal(), Access::ReadWrite)];
    let offer = Frame::FileOffer {
        journal: their_journal,
        activity: activity.0,
        file: hash,
        bytes: 1000,
    };
    let mut service = FileService::new(grants.clone(), MAX);
    let answers = forge(&mut service, &mut relay, &[offer]);
    assert!(
        ends_with_error(&answers, ErrorCode::NotAllowed),
        "{answers:?}"
    );
    // Their file reached the relay; our device asks for it.
    let mut transfer = theirs.transfer(Instant::now());
    let their_grants = vec![grant(their_journal, Access::ReadWrite)];
    let mut their_service = FileService::new(their_grants, MAX);
    pump(&theirs, &mut transfer, &mut their_service, &mut relay, None);
    assert!(
        relay
            .store(their_journal)
            .file(hash)
            .expect("file")
            .is_some()
    );
    let want = Frame::FileWant {
        journal: their_journal,
        activity: activity.0,
        file: hash,
        from: 0,
    };
    let mut service = FileService::new(grants, MAX);
    let answers = forge(&mut service, &mut relay, &[want]);
    assert!(
        ends_with_error(&answers, ErrorCode::NotAllowed),
        "{answers:?}"
    );
    assert!(!answers.iter().any(|f| matches!(f, Frame::FileChunk { .. })));
}

#[test]
fn the_office_fetches_a_file_and_a_fetch_cut_short_resumes() {
    let mut centre = device("Daugavpils KRC");
    let bytes = photo(6 * FILE_CHUNK_BYTES + 5, 9);
    let (activity, hash) = centre.attach(&bytes);
    let mut relay = Relay::new();
    relay.take_records(&mut centre.replica);
    let journal = centre.journal();
    let grants = vec![grant(journal, Access::ReadWrite)];
    let mut transfer = centre.transfer(Instant::now());
    let mut service = FileService::new(grants, MAX);
    pump(&centre, &mut transfer, &mut service, &mut relay, None);

    let office = device("Birojs");
    let wanted = FileWanted {
        journal,
        activity,
        file: FileDescription {
            hash,
            bytes: bytes.len() as u64,
        },
    };
    let office_grants = vec![grant(journal, Access::ReadWrite)];
    // The first fetch stops after the request and three chunks came.
    let now = Instant::now();
    let mut transfer = FileTransfer::new(now);
    assert!(transfer.fetch(now, wanted));
    let mut service = FileService::new(office_grants.clone(), MAX);
    let mut store = office.replica.store();
    let want = transfer
        .poll_transmit(now, &mut store)
        .expect("the request");
    service.handle_bytes(&want, &mut relay);
    for _ in 0..4 {
        let bytes = service
            .poll_transmit(&mut relay)
            .expect("answer and chunks");
        transfer.handle_bytes(now, &bytes, &mut store);
    }
    assert_eq!(
        store.file(hash).expect("file").map(|f| f.chunks_held),
        Some(3)
    );
    // A new stream asks from chunk 3 and gets the rest only.
    let mut transfer = FileTransfer::new(now);
    transfer.fetch(now, wanted);
    let mut service = FileService::new(office_grants, MAX);
    let moved = pump(&office, &mut transfer, &mut service, &mut relay, None);
    assert_eq!(moved.chunks_down, 4);
    assert!(moved.events.contains(&FileEvent::Fetched { hash }));
    assert_eq!(read(office.replica.store(), hash), bytes);
}

#[test]
fn a_file_the_relay_does_not_hold_whole_yet_is_said_so() {
    let mut centre = device("Daugavpils KRC");
    let bytes = photo(3000, 10);
    let (activity, hash) = centre.attach(&bytes);
    let mut relay = Relay::new();
    relay.take_records(&mut centre.replica);
    let journal = centre.journal();
    let office = device("Birojs");
    let now = Instant::now();
    let mut transfer = FileTransfer::new(now);
    let wanted = FileWanted {
        journal,
        activity,
        file: FileDescription { hash, bytes: 3000 },
    };
    transfer.fetch(now, wanted);
    let mut service = FileService::new(vec![grant(journal, Access::ReadWrite)], MAX);
    let moved = pump(&office, &mut transfer, &mut service, &mut relay, None);
    assert_eq!(
        moved.events,
        [FileEvent::NotYetAtRelay {
            hash,
            chunks_held: 0
        }]
    );
    assert!(transfer.is_idle());
}

#[test]
fn a_file_held_whole_already_is_fetched_without_asking() {
    let mut centre = device("Daugavpils KRC");
    let bytes = photo(2000, 11);
    let (activity, hash) = centre.attach(&bytes);
    let now = Instant::now();
    let mut transfer = FileTransfer::new(now);
    transfer.fetch(
        now,
        FileWanted {
            journal: centre.journal(),
            activity,
            file: FileDescription { hash, bytes: 2000 },
        },
    );
    let mut store = centre.replica.store();
    assert_eq!(
        transfer.poll_transmit(now, &mut store),
        None,
        "nothing to ask"
    );
    assert_eq!(transfer.poll_event(), Some(FileEvent::Fetched { hash }));
    assert!(transfer.is_idle());
}

#[test]
fn a_photos_thumbnail_goes_first_and_the_office_fetches_only_it() {
    let mut centre = device("Daugavpils KRC");
    let bytes = real_photo(1600, 1200);
    let (activity, hash) = centre.attach(&bytes);
    let attached = centre
        .replica
        .get(activity)
        .expect("read")
        .expect("present")
        .attachments
        .remove(0);
    let thumbnail = attached.thumbnail.expect("a photo has a thumbnail");
    assert!(thumbnail.bytes < bytes.len() as u64 / 4);
    let journal = centre.journal();
    let waiting: Vec<FileHash> = centre
        .replica
        .store()
        .files_to_send(centre.replica.journal_id())
        .expect("queue")
        .into_iter()
        .map(|f| f.hash)
        .collect();
    assert_eq!(waiting, [thumbnail.file, hash], "the thumbnail first");
    let status = centre.replica.status().expect("status");
    assert_eq!(status.files_waiting, 1, "one photo, its thumbnail with it");
    assert_eq!(
        status.file_bytes_waiting,
        bytes.len() as u64 + thumbnail.bytes
    );

    // The relay takes the thumbnail as the record refers to it, first.
    let mut relay = Relay::new();
    relay.take_records(&mut centre.replica);
    let mut transfer = centre.transfer(Instant::now());
    let mut service = FileService::new(vec![grant(journal, Access::ReadWrite)], MAX);
    let moved = pump(&centre, &mut transfer, &mut service, &mut relay, None);
    let sent: Vec<FileHash> = moved
        .events
        .iter()
        .filter_map(|e| match e {
            FileEvent::Sent { hash, .. } => Some(*hash),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [thumbnail.file, hash]);

    // The office asks for the thumbnail only, and holds only it.
    let office = device("Birojs");
    let now = Instant::now();
    let mut transfer = FileTransfer::new(now);
    assert!(transfer.fetch(now, FileWanted::thumbnail_of(journal, activity, thumbnail)));
    let mut service = FileService::new(vec![grant(journal, Access::ReadWrite)], MAX);
    let moved = pump(&office, &mut transfer, &mut service, &mut relay, None);
    assert!(moved.events.contains(&FileEvent::Fetched {
        hash: thumbnail.file
    }));
    let small = read(office.replica.store(), thumbnail.file);
    assert_eq!(small.len() as u64, thumbnail.bytes);
    assert!(small.starts_with(&[0xFF, 0xD8]), "a JPEG");
    assert_eq!(office.replica.store().file(hash).expect("read"), None);
}
