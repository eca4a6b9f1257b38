//! Writes the upgrade fixtures of `tests/fixtures/` with today's programs:
//! a centre's device, an office device and the relay they sync with (real
//! `field-client` and `relay` processes over QUIC on loopback), and one file
//! per frame kind of the wire protocol, built from what those stores hold.
//!
//! Run once per store layout or protocol version, never casually (see
//! `tests/fixtures/README.md`):
//!
//! ```text
//! cargo run -p tests --example write_fixtures -- tests/fixtures/protocol-5-store-4
//! ```
//!
//! It refuses to write into a folder that exists: fixtures are what an
//! earlier release left on a computer, and a test that reads fixtures made by
//! the code under test proves nothing about upgrades. Unix only (it stops the
//! relay with SIGTERM, as an administrator does).

use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use serde_json::json;
use sync_core::Replica;
use sync_core::limits::MAX_UPLOAD_BATCH_OPS;
use sync_core::sync::wire::{BatchEncoding, ErrorCode, Frame};
use sync_core::sync::{BatchAttestation, Role, batch_digest, batch_from, missing_from};
use tests::{Cli, STORE_FILE, relay_process};
use uuid::Uuid;

const CENTRE: &str = "Rēzeknes KRC";
const MUNICIPALITY: &str = "Rēzeknes novads";
const DEVICE_NAME: &str = "Rēzeknes KRC klēpjdators";
const OFFICE_NAME: &str = "Biroja dators";

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: write_fixtures <new folder, e.g. tests/fixtures/protocol-5-store-4>"),
    );
    assert!(
        !out.exists(),
        "{} exists: fixtures are never regenerated over old ones (tests/fixtures/README.md)",
        out.display()
    );
    let (relay_dir, device_dir, office_dir, frames_dir) = (
        out.join("relay"),
        out.join("device"),
        out.join("office"),
        out.join("frames"),
    );
    for dir in [&relay_dir, &device_dir, &office_dir, &frames_dir] {
        std::fs::create_dir_all(dir).expect("create a fixture folder");
    }

    let centre: Uuid = relay_process::admin(
        &relay_dir,
        &["centre", "add", CENTRE, "--municipality", MUNICIPALITY],
    )
    .parse()
    .expect("`centre add` prints an id");
    let mut relay = relay_process::spawn(&relay_dir);
    let address = std::fs::read_to_string(relay_dir.join("public-address")).expect("address");
    let code = |role: &[&str]| {
        let mut args = vec!["enrol-code", "--address", address.trim()];
        args.extend_from_slice(role);
        relay_process::admin(&relay_dir, &args)
    };

    // The centre's device records offline, corrects one record, enrols, sends.
    let device = Cli::at(&device_dir);
    device.ok(["init", "--centre", CENTRE, "--device-name", DEVICE_NAME]);
    let a1 = add(
        &device,
        &[
            "--title",
            "Skolotāja loma vietējās kopienas attīstībā",
            "--kind",
            "seminar",
            "--date",
            "2026-11-12",
            "--start",
            "10:00",
            "--hours",
            "2.5",
            "--place",
            "Rēzeknes KRC, lielā zāle",
            "--organiser",
            "Anna Bērziņa",
            "--institution",
            "20.PII",
            "--institution",
            "13.vsk",
            "--count",
            "teachers=14",
            "--count",
            "parents=5",
            "--description",
            "Sarunas par skolotāju un vecāku sadarbību Latgalē.",
        ],
    );
    let a2 = add(
        &device,
        &[
            "--title",
            "Ģimeņu darbnīca: šūšana",
            "--kind",
            "workshop",
            "--date",
            "2026-11-19",
            "--hours",
            "3",
            "--count",
            "parents=8",
            "--count",
            "children_and_youth=11",
        ],
    );
    let a3 = add(
        &device,
        &[
            "--title",
            "Jauniešu brīvprātīgo tikšanās",
            "--kind",
            "meeting",
            "--date",
            "2026-11-26",
            "--count",
            "volunteers=6",
        ],
    );
    device.ok(["edit", &a1, "--hours", "3"]);
    // Protocol 6, store layout 8: the attendance sheet's scan, attached
    // before the first sync, goes to the relay and the office fetches it.
    let scan = tests::sample_files::pdf(SCAN_BYTES, 6);
    let scan_path = device.write_file(SCAN_NAME, &scan);
    device.ok(["attach", &a1, scan_path.to_str().expect("a UTF-8 path")]);
    std::fs::remove_file(&scan_path).expect("the scan's copy outside the store");
    let scan_hash = sync_core::files::FileHash::of(&scan);
    // Store layout 9: a real photo beside it, whose thumbnail the device
    // makes (a view row of format 3, the bytes beside the store).
    let photo = tests::sample_files::photo(PHOTO_SIZE.0, PHOTO_SIZE.1);
    let photo_path = device.write_file(PHOTO_NAME, &photo);
    device.ok(["attach", &a1, photo_path.to_str().expect("a UTF-8 path")]);
    std::fs::remove_file(&photo_path).expect("the photo's copy outside the store");
    let listed = tests::parse_json_array(&device.ok(["attachments", &a1, "--json"]));
    let thumbnail = listed
        .iter()
        .find(|a| a["name"] == PHOTO_NAME)
        .map(|a| a["thumbnail"].clone())
        .expect("the photo's thumbnail");
    let device_code = code(&["--centre", &centre.to_string()]);
    device.ok(["enrol", &device_code]);
    device.ok(["sync"]);

    // The office downloads everything and corrects a record; the device
    // downloads the correction with the relay's tag.
    let office = Cli::at(&office_dir);
    office.ok(["init", "--centre", "Birojs", "--device-name", OFFICE_NAME]);
    office.ok(["enrol", &code(&["--office"])]);
    office.ok(["sync"]);
    let saved = tempfile::tempdir().expect("a folder to save the scan in");
    let saved_path = saved.path().to_str().expect("a UTF-8 path");
    office.ok(["attachments", &a1, "--save", saved_path]);
    office.ok(["edit", &a1, "--notes", "Pārbaudīts birojā."]);
    office.ok(["sync"]);
    device.ok(["sync"]);

    // Then, offline: a deletion, an edit and a new record, not sent.
    device.ok(["delete", &a2]);
    device.ok([
        "edit",
        &a3,
        "--count",
        "volunteers=9",
        "--notes",
        "Pievienojās vēl trīs.",
    ]);
    let a4 = add(
        &device,
        &[
            "--title",
            "Konsultācija pašvaldības darbiniekiem",
            "--kind",
            "consultation",
            "--date",
            "2026-12-03",
            "--start",
            "14:30",
            "--count",
            "municipal_staff=4",
        ],
    );
    relay_process::stop(&mut relay);
    std::fs::remove_file(relay_dir.join("public-address")).expect("the address of this run");

    let secret = relay::enrol_code::EnrolCode::decode(&device_code)
        .expect("the code")
        .secret;
    let erased_elsewhere = Uuid::new_v4();
    write_frames(
        &frames_dir,
        (&device_dir, &relay_dir),
        centre,
        (&a2, secret, erased_elsewhere),
    );
    write_file_frames(&frames_dir, centre, &a1, &scan);
    let manifest = json!({
        "centre": centre,
        "centre_name": CENTRE,
        "municipality": MUNICIPALITY,
        "device_name": DEVICE_NAME,
        "office_name": OFFICE_NAME,
        "activities": {
            "edited_and_sent": a1,
            "sent_then_deleted": a2,
            "sent_then_edited": a3,
            "unsent": a4,
        },
        "enrol_secret": hex(&secret),
        "erased_elsewhere": erased_elsewhere,
        "attached": {
            "activity": a1,
            "name": SCAN_NAME,
            "file": scan_hash.to_string(),
            "bytes": scan.len(),
            "refusal": FILE_REFUSAL,
        },
        "photo": {
            "name": PHOTO_NAME,
            "file": sync_core::files::FileHash::of(&photo).to_string(),
            "bytes": photo.len(),
            "thumbnail": thumbnail,
        },
    });
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).expect("json") + "\n",
    )
    .expect("write the manifest");
    println!("fixtures written to {}", out.display());
}

/// The scan attached to the first activity: small enough for its one chunk
/// to be shown byte by byte in docs/PROTOCOL.md.
const SCAN_BYTES: usize = 96;
const SCAN_NAME: &str = "apmeklejuma-lapa.pdf";

/// The photo attached beside the scan (from store layout 9): larger than a
/// thumbnail, so that one is made, and small enough to commit three times.
const PHOTO_SIZE: (u16, u16) = (480, 360);
const PHOTO_NAME: &str = "seminars.jpg";

/// What `19-file-refused` says (a centre over its file limit).
const FILE_REFUSAL: &str = "the centre's files on the office server would exceed 2000 MB, the most \
                            it may hold; the office can raise the limit";

/// The frames of a file stream (protocol 6), carrying the scan.
fn write_file_frames(frames: &Path, centre: Uuid, activity: &str, scan: &[u8]) {
    let activity: Uuid = activity.parse().expect("an id");
    let file = sync_core::files::FileHash::of(scan);
    let all = [
        (
            "15-file-offer",
            Frame::FileOffer {
                journal: centre,
                activity,
                file,
                bytes: scan.len() as u64,
            },
        ),
        (
            "16-file-held",
            Frame::FileHeld {
                file,
                chunks_held: 1,
            },
        ),
        (
            "17-file-chunk",
            Frame::FileChunk {
                file,
                number: 0,
                bytes: scan.to_vec(),
            },
        ),
        (
            "18-file-want",
            Frame::FileWant {
                journal: centre,
                activity,
                file,
                from: 0,
            },
        ),
        (
            "19-file-refused",
            Frame::FileRefused {
                file,
                code: ErrorCode::LimitReached,
                message: FILE_REFUSAL.to_owned(),
            },
        ),
    ];
    write_all(frames, all);
}

/// Writes each frame as `NAME.bin`, after checking it decodes to itself.
fn write_all(frames: &Path, all: impl IntoIterator<Item = (&'static str, Frame)>) {
    for (name, frame) in all {
        let bytes = frame.encode().expect("encodes");
        assert_eq!(Frame::decode(&bytes).expect("decodes"), frame);
        std::fs::write(frames.join(format!("{name}.bin")), bytes).expect("write a frame");
    }
}

/// `field-client add ARGS`: the new activity's id.
fn add(cli: &Cli, args: &[&str]) -> String {
    cli.ok(std::iter::once("add").chain(args.iter().copied()))
        .trim()
        .to_owned()
}

/// One file per frame kind (and per encoding of `Changes` and form of
/// `Erased`), with what the device, the office and the relay hold.
fn write_frames(
    frames: &Path,
    (device_dir, relay_dir): (&Path, &Path),
    centre: Uuid,
    (deleted, secret, erased_elsewhere): (&str, [u8; 32], Uuid),
) {
    let mut replica = Replica::open(&device_dir.join(STORE_FILE)).expect("the device's store");
    let home = replica.store().home_journal().expect("enrolled");
    let device = replica.store().device_id().0;
    let acked = replica.store().acknowledged_heads(home).expect("acked");
    let doc = replica.journal().expect("the journal").doc().clone();
    let heads = doc.get_heads();

    let unsent = missing_from(&doc, &acked, usize::MAX);
    let upload = batch_from(&doc, &unsent, MAX_UPLOAD_BATCH_OPS).expect("a batch");
    assert_eq!(upload.changes.len(), 3, "delete, edit and add are unsent");
    let office_change: Vec<_> = doc
        .get_changes(&[])
        .into_iter()
        .filter(|c| c.actor_id().to_bytes() != device.as_bytes() && !c.deps().is_empty())
        .collect();
    assert_eq!(office_change.len(), 1, "the office's correction");
    let office_change = &office_change[0];
    let tags = replica
        .store()
        .attestations(home, [office_change.hash()])
        .expect("attestations");
    assert_eq!(tags.len(), 1, "the relay's tag on the office's change");
    let mut listed = Vec::new();
    listed.extend_from_slice(&(office_change.raw_bytes().len() as u32).to_be_bytes());
    listed.extend_from_slice(office_change.raw_bytes());

    let registry = relay::registry::Registry::open(relay_dir).expect("the registry");
    let enrolled = registry.device(device).expect("the device is enrolled");
    let grants = registry.grants_for(&enrolled).expect("grants");
    let health = registry.health().expect("health");
    let upload_hashes: Vec<ChangeHash> = upload.changes.iter().map(|c| c.hash).collect();
    let deleted: Uuid = deleted.parse().expect("an id");

    let all = [
        (
            "01-hello",
            Frame::Hello {
                version: sync_core::sync::PROTOCOL_VERSION,
                software: field_client::net::software(),
                unsent: Some(3),
                journals: vec![centre],
            },
        ),
        (
            "02-welcome",
            Frame::Welcome {
                version: sync_core::sync::PROTOCOL_VERSION,
                journals: grants,
            },
        ),
        (
            "03-open",
            Frame::Open {
                journal: centre,
                epoch: 0,
                heads: heads.clone(),
                acked: acked.clone(),
            },
        ),
        (
            "04-heads",
            Frame::Heads {
                journal: centre,
                epoch: 0,
                heads: acked.clone(),
                has_acked: true,
            },
        ),
        (
            "05-changes-bundle",
            Frame::Changes {
                journal: centre,
                more: false,
                sent_before_heads: true,
                count: 3,
                digest: batch_digest(&upload_hashes),
                encoding: BatchEncoding::Bundle,
                bundle: upload
                    .bundle
                    .expect("batch_from bundles what the document holds"),
                attested: Vec::new(),
            },
        ),
        (
            "05-changes-list-attested",
            Frame::Changes {
                journal: centre,
                more: false,
                sent_before_heads: false,
                count: 1,
                digest: batch_digest(&[office_change.hash()]),
                encoding: BatchEncoding::ChangeList,
                bundle: listed,
                attested: vec![BatchAttestation {
                    position: 0,
                    tag: tags[0].1,
                }],
            },
        ),
        (
            "05-changes-empty",
            Frame::Changes {
                journal: centre,
                more: false,
                sent_before_heads: false,
                count: 0,
                digest: batch_digest(&[]),
                encoding: BatchEncoding::Bundle,
                bundle: Vec::new(),
                attested: Vec::new(),
            },
        ),
        (
            "06-ack",
            Frame::Ack {
                journal: centre,
                heads,
                count: 3,
                digest: batch_digest(&upload_hashes),
            },
        ),
        ("08-notify", Frame::Notify { journal: centre }),
        (
            "09-error",
            Frame::Error {
                code: ErrorCode::Unavailable,
                message: relay::store::DISK_FULL_MESSAGE.to_owned(),
            },
        ),
        (
            "10-enrol",
            Frame::Enrol {
                secret,
                device,
                device_name: DEVICE_NAME.to_owned(),
                software: field_client::net::software(),
            },
        ),
        (
            "11-enrolled",
            Frame::Enrolled {
                journal: centre,
                centre: CENTRE.to_owned(),
                role: Role::Centre,
            },
        ),
        (
            "12-health",
            Frame::Health {
                devices: health.into_iter().map(whole_seconds).collect(),
            },
        ),
        ("13-erase", Frame::Erase { activity: deleted }),
        (
            "14-erased",
            Frame::Erased {
                activity: deleted,
                rewritten: Some((centre, 1)),
            },
        ),
        (
            "14-erased-none",
            Frame::Erased {
                activity: erased_elsewhere,
                rewritten: None,
            },
        ),
    ];
    write_all(frames, all);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A device's sync health as `Health` carries it: times in whole seconds.
fn whole_seconds(mut d: sync_core::sync::DeviceHealth) -> sync_core::sync::DeviceHealth {
    d.enrolled_at = second(d.enrolled_at);
    d.last_contact = d.last_contact.map(second);
    d.last_synced = d.last_synced.map(second);
    d
}

fn second(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.timestamp(), 0).expect("a time")
}
