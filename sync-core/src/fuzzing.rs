//! Entry points for fuzzing: each takes arbitrary bytes and must return without
//! panicking. The cargo-fuzz targets in `sync-core/fuzz/` call them, and
//! `tests/fuzz_corpus.rs` replays the saved corpus and every kept crasher
//! through them in the normal test suite.
//!
//! Each checks more than "no panic" where a property is cheap to state: a frame
//! that decodes re-encodes to a frame that decodes to the same value; a journal
//! that took received changes still saves and loads to the same heads.

use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge, Change};
use uuid::Uuid;

use crate::sync::memory::MemoryJournals;
use crate::sync::wire::{Access, Frame, FrameBuffer, JournalGrant};
use crate::sync::{ClientSession, RelaySession, SyncStorage};

/// For a fuzzer whose panic hook aborts (libFuzzer's): keeps that hook for
/// every panic except those the library turns into errors itself. Call at the
/// start of each input (it installs once).
pub fn abort_only_on_uncaught_panics() {
    crate::sync::hide_caught_library_panics();
}

/// The journal every fuzzed session may sync.
const FUZZ_JOURNAL: Uuid = Uuid::from_u128(0x6b72_632d_6675_7a7a_0000_0000_0000_0001);
/// The activity the fuzzed office device asked to erase.
const FUZZ_ERASED: Uuid = Uuid::from_u128(0x6b72_632d_6675_7a7a_0000_0000_0000_0002);
/// The device (and Automerge actor) the relay session of [`handshake`] serves,
/// which wrote the seeds' changes.
const FUZZ_DEVICE: [u8; 16] = [7; 16];

/// Most chunks one input is cut into for the frame buffer (bounds the work).
const MAX_CHUNKS: usize = 64;

/// Decodes `data` as one frame; a frame that decodes must re-encode, and decode
/// again to the same frame. Then feeds `data` to a [`FrameBuffer`] in chunks
/// whose sizes come from the data itself.
pub fn frame_decoder(data: &[u8]) {
    if let Ok(frame) = Frame::decode(data) {
        let again = frame
            .encode()
            .expect("a decoded frame is within every limit, so it encodes");
        assert_eq!(Frame::decode(&again).as_ref(), Ok(&frame));
    }
    let mut buffer = FrameBuffer::default();
    let mut rest = data;
    for _ in 0..MAX_CHUNKS {
        if rest.is_empty() {
            break;
        }
        let take = (usize::from(rest[0]) + 1).min(rest.len());
        buffer.extend(&rest[..take]);
        rest = &rest[take..];
        while let Ok(Some(_)) = buffer.next_frame() {}
    }
}

/// Makes a thumbnail of `data` as a JPEG and as a PNG: no panic, and a
/// thumbnail made is a JPEG the store takes, within [`crate::thumbnail::THUMBNAIL_PIXELS`].
pub fn thumbnail(data: &[u8]) {
    use crate::files::MediaType;
    for media_type in [MediaType::Jpeg, MediaType::Png] {
        let Some(jpeg) = crate::thumbnail::make(std::io::Cursor::new(data), media_type) else {
            continue;
        };
        assert_eq!(crate::files::check_file(&jpeg), Ok(MediaType::Jpeg));
        let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(&jpeg));
        decoder.read_info().expect("a thumbnail decodes");
        let info = decoder.info().expect("its size");
        let long = u32::from(info.width.max(info.height));
        assert!(long <= crate::thumbnail::THUMBNAIL_PIXELS);
    }
}

/// Feeds `data` to a relay session and to a client session as if it came from
/// the peer: the handshake and everything after it. Both must end (closed or
/// waiting), never loop, never panic.
pub fn handshake(data: &[u8]) {
    let now = Instant::now();
    let grant = JournalGrant {
        journal: FUZZ_JOURNAL,
        centre: "Rēzeknes KRC".into(),
        municipality: String::new(),
        access: Access::ReadWrite,
    };
    let mut relay_store = MemoryJournals::default();
    // The seeds' changes are written by this device: the fuzzer starts from
    // batches the relay stores, and finds forged authors by mutation.
    let peer = crate::sync::Peer {
        device: Uuid::from_bytes(FUZZ_DEVICE),
        attestor: crate::sync::Attestor::new([9; crate::sync::attest::ATTESTATION_KEY_BYTES]),
    };
    let mut relay = RelaySession::new(now, vec![grant], peer);
    relay.permit_erasure();
    relay.handle_bytes(now, data, &mut relay_store);
    drain(|| relay.poll_transmit_building(now, &mut relay_store));
    relay.handle_timeout(now + Duration::from_secs(3_600));

    let mut client_store = MemoryJournals {
        erasures_requested: vec![FUZZ_ERASED],
        ..MemoryJournals::default()
    };
    let mut client = ClientSession::new(now, "fuzz", vec![FUZZ_JOURNAL], &mut client_store);
    drain(|| client.poll_transmit());
    client.handle_bytes(now, data, &mut client_store);
    drain(|| client.poll_transmit());
    client.handle_timeout(now + Duration::from_secs(3_600));
}

/// Takes everything a session has to send; a session that never stops sending
/// would be a loop.
fn drain(mut poll: impl FnMut() -> Option<Vec<u8>>) {
    const MAX_TRANSMITS: usize = 10_000;
    for _ in 0..MAX_TRANSMITS {
        if poll().is_none() {
            return;
        }
    }
    panic!("a session kept sending after {MAX_TRANSMITS} frames");
}

/// A journal receiving arbitrary changes, as a sync batch delivers them: `data`
/// is tried as an Automerge bundle and as single changes. Whatever the journal
/// accepts, it must still save, and load back to the same heads.
pub fn journal_changes(data: &[u8]) {
    let mut changes: Vec<Change> = crate::sync::decode_bundle(data).unwrap_or_default();
    if let Ok(change) = crate::sync::decode_change(data) {
        changes.push(change);
    }
    if changes.is_empty() {
        return;
    }
    let mut store = MemoryJournals::default();
    let doc = store.doc(FUZZ_JOURNAL);
    *doc = std::mem::take(doc).with_actor(ActorId::from([7_u8; 16]));
    if store.apply_durably(FUZZ_JOURNAL, changes.into()).is_err() {
        return;
    }
    let doc = store.doc(FUZZ_JOURNAL);
    let heads = doc.get_heads();
    let reloaded = Automerge::load(&doc.save()).expect("an accepted journal saves and loads");
    assert_eq!(reloaded.get_heads(), heads);
}

/// Valid inputs for each target (target name, bytes): every frame kind, a
/// handshake followed by a batch, real changes and a real bundle. Replayed by
/// the tests and written into `fuzz/corpus` as starting points for the fuzzer.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use crate::sync::wire::{ErrorCode, PROTOCOL_VERSION, Role};
    use crate::{ActivityId, ActivityPatch, Journal, Kind, Stamp};

    let mut journal = Journal::new(ActorId::from(FUZZ_DEVICE));
    let stamp = Stamp {
        author: "Līga",
        now: chrono::DateTime::UNIX_EPOCH,
    };
    let patch = ActivityPatch {
        title: Some("Ģimeņu diena Rēzeknē".into()),
        kind: Some(Kind::Event),
        date: chrono::NaiveDate::from_ymd_opt(2026, 5, 14),
        organisers: Some(vec!["Anna Bērziņa".into()]),
        ..ActivityPatch::default()
    };
    // Fixed ids: the seeds, and so the damaged variants the tests derive from
    // them (which found the crashes fixed in `sync`), are the same on every run.
    let changes: Vec<Change> = (1..=2)
        .map(|k| journal.create(ActivityId(Uuid::from_u128(k)), &patch, stamp))
        .collect::<Result<_, _>>()
        .expect("seed activities are valid");
    let hashes: Vec<_> = changes.iter().map(Change::hash).collect();
    let bundle = journal
        .doc()
        .bundle(hashes.iter().copied())
        .expect("a bundle of held changes")
        .bytes()
        .to_vec();
    let batch = Frame::Changes {
        journal: FUZZ_JOURNAL,
        more: false,
        sent_before_heads: true,
        count: 2,
        digest: crate::sync::batch_digest(&hashes),
        encoding: crate::sync::BatchEncoding::Bundle,
        bundle: bundle.clone(),
        attested: vec![],
    };
    let frames = [
        Frame::Hello {
            version: PROTOCOL_VERSION,
            software: "fuzz".into(),
            unsent: Some(2),
            journals: vec![FUZZ_JOURNAL],
        },
        Frame::Welcome {
            version: PROTOCOL_VERSION,
            journals: vec![JournalGrant {
                journal: FUZZ_JOURNAL,
                centre: "Rēzeknes KRC".into(),
                municipality: String::new(),
                access: Access::ReadWrite,
            }],
        },
        Frame::Open {
            journal: FUZZ_JOURNAL,
            epoch: 0,
            heads: crate::journal::genesis_heads(),
            acked: vec![],
        },
        Frame::Heads {
            journal: FUZZ_JOURNAL,
            epoch: 0,
            heads: hashes.clone(),
            has_acked: true,
        },
        batch,
        Frame::Ack {
            journal: FUZZ_JOURNAL,
            heads: hashes.clone(),
            count: 2,
            digest: crate::sync::batch_digest(&hashes),
        },
        Frame::Notify {
            journal: FUZZ_JOURNAL,
        },
        Frame::Error {
            code: ErrorCode::NotAllowed,
            message: "nav atļauts".into(),
        },
        Frame::Enrol {
            secret: [9; 32],
            device: FUZZ_JOURNAL,
            device_name: "Līgas dators".into(),
            software: "fuzz".into(),
        },
        Frame::Enrolled {
            journal: FUZZ_JOURNAL,
            centre: "Rēzeknes KRC".into(),
            role: Role::Centre,
        },
        Frame::Changes {
            journal: FUZZ_JOURNAL,
            more: true,
            sent_before_heads: false,
            count: 2,
            digest: crate::sync::batch_digest(&hashes),
            encoding: crate::sync::BatchEncoding::ChangeList,
            bundle: crate::sync::change_list(&changes),
            attested: vec![crate::sync::BatchAttestation {
                position: 1,
                tag: [5; crate::sync::attest::ATTESTATION_TAG_BYTES],
            }],
        },
        Frame::Erase {
            activity: FUZZ_ERASED,
        },
        Frame::Erased {
            activity: FUZZ_ERASED,
            rewritten: Some((FUZZ_JOURNAL, 1)),
        },
        Frame::Health {
            devices: vec![crate::sync::DeviceHealth {
                device: Uuid::from_u128(7),
                centre: FUZZ_JOURNAL,
                name: "Līgas dators".into(),
                role: Role::Centre,
                revoked: false,
                enrolled_at: chrono::DateTime::from_timestamp(1_780_000_000, 0)
                    .expect("a valid time"),
                last_contact: chrono::DateTime::from_timestamp(1_780_000_100, 0),
                last_synced: None,
                unsent: Some(4),
            }],
        },
    ];
    let encoded: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| f.encode().expect("seed frames are within the limits"))
        .collect();
    let mut seeds: Vec<(&'static str, Vec<u8>)> = encoded
        .iter()
        .map(|bytes| ("frame_decoder", bytes.clone()))
        .collect();
    // Relay side: Hello, Open, a batch. Client side: Welcome, Heads, a batch.
    seeds.push((
        "handshake",
        [&encoded[0][..], &encoded[2], &encoded[4]].concat(),
    ));
    seeds.push((
        "handshake",
        [&encoded[1][..], &encoded[3], &encoded[4]].concat(),
    ));
    // An office's session: Welcome, then the relay's sync-health report.
    let health = encoded.last().expect("the Health frame");
    seeds.push((
        "handshake",
        [&encoded[1][..], health, &encoded[3], &encoded[4]].concat(),
    ));
    // An office asking for an erasure: Hello, Erase; Welcome, Erased.
    let n = encoded.len();
    seeds.push(("handshake", [&encoded[0][..], &encoded[n - 3]].concat()));
    seeds.push(("handshake", [&encoded[1][..], &encoded[n - 2]].concat()));
    seeds.push(("journal_changes", bundle));
    seeds.extend(
        changes
            .iter()
            .map(|c| ("journal_changes", c.raw_bytes().to_vec())),
    );
    seeds.extend(photo_seeds().into_iter().map(|photo| ("thumbnail", photo)));
    seeds
}

/// A small real photo as a JPEG (with an Exif orientation) and as a PNG:
/// starting points for the `thumbnail` target.
fn photo_seeds() -> Vec<Vec<u8>> {
    let (width, height) = (40_u16, 30_u16);
    let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height))
        .flat_map(|i| [(i % 251) as u8, (i % 13) as u8 * 19, 120])
        .collect();
    let mut jpeg = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 80);
    let exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
    encoder
        .add_app_segment(1, exif)
        .expect("a small Exif segment");
    encoder
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("a small JPEG");
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, width.into(), height.into());
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().expect("a PNG header");
        writer.write_image_data(&pixels).expect("the PNG's rows");
    }
    vec![jpeg, png_bytes]
}
