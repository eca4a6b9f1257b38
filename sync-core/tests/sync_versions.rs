//! A device and a relay of different protocol versions: the relay refuses
//! with error code 1 and its own version first in the message; the device
//! understands which program must be updated, answers nothing more, and
//! keeps every unsent change (docs/PROTOCOL.md, "Versioning").

use std::time::Instant;

use chrono::{TimeZone, Utc};
use sync_core::activity::{ActivityId, ActivityPatch, Kind};
use sync_core::journal::{Journal, Stamp};
use sync_core::sync::memory::MemoryJournals;
use sync_core::sync::wire::Frame;
use sync_core::sync::{
    Access, Attestor, ClientEvent, ClientSession, ErrorCode, JournalGrant, PROTOCOL_VERSION, Peer,
    RelaySession, SessionError, Update, VersionMismatch,
};
use uuid::Uuid;

const JOURNAL: Uuid = Uuid::from_u128(0xC0FFEE);
const DEVICE: [u8; 16] = [3; 16];

fn grant() -> JournalGrant {
    JournalGrant {
        journal: JOURNAL,
        centre: "Rēzeknes KRC".into(),
        municipality: String::new(),
        access: Access::ReadWrite,
    }
}

fn relay_session(now: Instant) -> RelaySession {
    RelaySession::new(
        now,
        vec![grant()],
        Peer {
            device: Uuid::from_bytes(DEVICE),
            attestor: Attestor::new([0x42; 32]),
        },
    )
}

/// A device with two activities recorded and not sent.
fn device_with_unsent() -> MemoryJournals {
    let mut store = MemoryJournals::default();
    let doc = store
        .doc(JOURNAL)
        .fork()
        .with_actor(automerge::ActorId::from(DEVICE));
    let mut journal = Journal::from_doc(doc).expect("journal");
    for i in 0..2_u128 {
        let patch = ActivityPatch {
            title: Some(format!("Seminārs {i}")),
            kind: Some(Kind::Seminar),
            date: chrono::NaiveDate::from_ymd_opt(2026, 12, 1),
            ..Default::default()
        };
        let stamp = Stamp {
            author: "Anna",
            now: Utc.timestamp_opt(1_780_000_000, 0).unwrap(),
        };
        let change = journal
            .create(ActivityId(Uuid::from_u128(i + 1)), &patch, stamp)
            .expect("create");
        store.record_local(JOURNAL, change.hash());
    }
    let changes = journal.doc().get_changes(&store.doc(JOURNAL).get_heads());
    store.doc(JOURNAL).apply_changes(changes).expect("apply");
    store
}

/// Every frame the session wants to send.
fn sent(frames: impl FnMut() -> Option<Vec<u8>>) -> Vec<Frame> {
    std::iter::from_fn(frames)
        .map(|b| Frame::decode(&b).expect("a frame"))
        .collect()
}

/// The relay's answer to a `Hello` of `version`.
fn relay_answer(version: u16) -> (Vec<Frame>, RelaySession) {
    let now = Instant::now();
    let mut relay = relay_session(now);
    let mut storage = MemoryJournals::default();
    let hello = Frame::Hello {
        version,
        software: "field-client 9.9.9".into(),
        unsent: Some(2),
        journals: vec![JOURNAL],
    };
    relay.handle_bytes(now, &hello.encode().expect("encode"), &mut storage);
    (sent(|| relay.poll_transmit()), relay)
}

#[test]
fn the_relay_refuses_an_older_and_a_newer_device_saying_which_program_to_update() {
    for (device, words) in [
        (PROTOCOL_VERSION - 1, "update field-client on the device"),
        (
            PROTOCOL_VERSION + 1,
            "the office must update the office server",
        ),
    ] {
        let (frames, relay) = relay_answer(device);
        assert!(relay.is_closed(), "version {device}: the session ends");
        let [
            Frame::Error {
                code: ErrorCode::UnsupportedVersion,
                message,
            },
        ] = frames.as_slice()
        else {
            panic!("version {device}: the relay answered {frames:?}")
        };
        assert!(
            message.starts_with(&format!("protocol {PROTOCOL_VERSION}:")),
            "its own version first: {message}"
        );
        assert!(message.contains(words), "version {device}: {message}");
    }
}

/// A client that sent its `Hello` (and `Open` with its early batch), then
/// reads `answer` from the relay: how its session ended and what it sent
/// after reading it.
fn client_reading(answer: &Frame) -> (SessionError, Vec<Frame>, MemoryJournals) {
    let now = Instant::now();
    let mut storage = device_with_unsent();
    let mut client = ClientSession::new(now, "field-client", vec![JOURNAL], &mut storage);
    let hello = sent(|| client.poll_transmit());
    assert!(matches!(hello.first(), Some(Frame::Hello { .. })));
    client.handle_bytes(now, &answer.encode().expect("encode"), &mut storage);
    assert!(client.is_closed());
    let reason = std::iter::from_fn(|| client.poll_event())
        .find_map(|e| match e {
            ClientEvent::Closed { reason } => Some(reason),
            _ => None,
        })
        .expect("the session says why it closed");
    (reason, sent(|| client.poll_transmit()), storage)
}

fn refusal_from_relay_of(version: u16) -> Frame {
    Frame::Error {
        code: ErrorCode::UnsupportedVersion,
        message: format!("protocol {version}: this office server speaks sync protocol {version}"),
    }
}

#[test]
fn a_device_refused_by_a_newer_relay_is_told_to_update_itself_and_keeps_its_records() {
    let (reason, answered, storage) = client_reading(&refusal_from_relay_of(PROTOCOL_VERSION + 1));
    assert_eq!(
        reason,
        SessionError::Version(VersionMismatch::UpdateThisProgram {
            ours: PROTOCOL_VERSION,
            relay: PROTOCOL_VERSION + 1,
        })
    );
    let words = reason.to_string();
    assert!(
        words.contains("update field-client on this computer"),
        "{words}"
    );
    assert!(words.contains("stays saved on this computer"), "{words}");
    assert!(
        answered.is_empty(),
        "a refusal is not answered: {answered:?}"
    );
    assert_eq!(storage.unsent[&JOURNAL].len(), 2, "nothing counts as sent");
    assert!(storage.acked.get(&JOURNAL).is_none_or(Vec::is_empty));
}

#[test]
fn a_device_refused_by_an_older_relay_says_the_server_must_be_updated() {
    let (reason, answered, storage) = client_reading(&refusal_from_relay_of(PROTOCOL_VERSION - 1));
    assert_eq!(
        reason,
        SessionError::Version(VersionMismatch::UpdateServer {
            ours: PROTOCOL_VERSION,
            relay: PROTOCOL_VERSION - 1,
        })
    );
    assert!(
        reason
            .to_string()
            .contains("the office must update the office server"),
        "{reason}"
    );
    assert!(answered.is_empty());
    assert_eq!(storage.unsent[&JOURNAL].len(), 2);
}

#[test]
fn a_refusal_without_the_relays_version_asks_to_update_either_program() {
    let (reason, _, storage) = client_reading(&Frame::Error {
        code: ErrorCode::UnsupportedVersion,
        message: "unsupported protocol version".into(),
    });
    let SessionError::Version(mismatch) = &reason else {
        panic!("{reason:?}")
    };
    assert_eq!(mismatch.update(), Update::Either);
    assert!(
        reason.to_string().contains("unsupported protocol version"),
        "the relay's own words are kept: {reason}"
    );
    assert_eq!(storage.unsent[&JOURNAL].len(), 2);
}

#[test]
fn a_welcome_in_another_version_ends_the_session_with_the_same_words() {
    let welcome = Frame::Welcome {
        version: PROTOCOL_VERSION + 1,
        journals: vec![grant()],
    };
    let (reason, answered, storage) = client_reading(&welcome);
    assert_eq!(
        reason,
        SessionError::Version(VersionMismatch::UpdateThisProgram {
            ours: PROTOCOL_VERSION,
            relay: PROTOCOL_VERSION + 1,
        })
    );
    assert!(
        matches!(
            answered.as_slice(),
            [Frame::Error {
                code: ErrorCode::UnsupportedVersion,
                ..
            }]
        ),
        "the device tells the relay why it stops: {answered:?}"
    );
    assert_eq!(storage.unsent[&JOURNAL].len(), 2);
}

#[test]
fn a_device_and_a_relay_of_this_version_read_each_others_refusal() {
    // The relay's words for a device one version ahead, read back by the
    // device as the sessions of the two programs would.
    let (frames, _) = relay_answer(PROTOCOL_VERSION + 1);
    let Some(Frame::Error { message, .. }) = frames.first() else {
        panic!("{frames:?}")
    };
    // Seen from a device of this version, a relay of this version is not
    // another version: it cannot tell, and says so plainly.
    assert_eq!(
        VersionMismatch::from_refusal(message).update(),
        Update::Either
    );
}
