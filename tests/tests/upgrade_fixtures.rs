//! Upgrades never lose data: what today's programs wrote (committed under
//! `tests/fixtures/protocol-*-store-*/`, made once each by
//! `cargo run -p tests --example write_fixtures`, never regenerated; see its
//! README) is read by the code under test. A later layout or protocol that
//! cannot read these files fails here.
//!
//! - the centre's device store and the office's open and hold every record
//!   with the values recorded;
//! - the relay's data folder opens with its registry and journal;
//! - every frame kind decodes to what the stores say it carried, and encodes
//!   again to the same bytes;
//! - a relay serving the fixture folder takes the fixture device's unsent
//!   changes, and the fixture office receives them.

mod common;

use std::path::{Path, PathBuf};

use automerge::{Change, ChangeHash};
use chrono::{NaiveDate, NaiveTime};
use relay::store::{RedbStore, RelayStore};
use relay::tls::Fingerprint;
use serde_json::Value;
use sync_core::files::FileHash;
use sync_core::sync::wire::{BatchEncoding, ErrorCode, Frame};
use sync_core::sync::{
    Access, BatchAttestation, Role, batch_digest, decode_bundle, decode_change, missing_from,
};
use sync_core::{Activity, ActivityId, Group, Kind, Replica};
use tests::{Cli, STORE_FILE};
use uuid::Uuid;

use common::{Relay, by_id, sent_received};

/// The fixture folders, one per release whose formats changed (store layouts
/// 4 to 9, protocol versions 5 and 6): every test reads each of them.
const FOLDERS: [&str; 6] = [
    "protocol-5-store-4",
    "protocol-5-store-5",
    "protocol-5-store-6",
    "protocol-5-store-7",
    "protocol-6-store-8",
    "protocol-6-store-9",
];

fn fixtures(folder: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(folder)
}

/// What the generator wrote down about the fixtures (ids it could not choose).
struct Manifest(Value);

impl Manifest {
    fn read(folder: &str) -> Manifest {
        let text =
            std::fs::read_to_string(fixtures(folder).join("manifest.json")).expect("manifest");
        Manifest(serde_json::from_str(&text).expect("manifest is JSON"))
    }

    fn uuid(&self, key: &str) -> Uuid {
        self.0[key].as_str().expect(key).parse().expect("a uuid")
    }

    fn text(&self, key: &str) -> String {
        self.0[key].as_str().expect(key).to_owned()
    }

    /// The scan attached to the first activity (from protocol 6), if the
    /// folder's story has one.
    fn attached(&self) -> Option<Attached> {
        let a = self.0.get("attached")?;
        let text = |key: &str| a[key].as_str().expect(key).to_owned();
        Some(Attached {
            activity: text("activity").parse().expect("an activity id"),
            name: text("name"),
            file: FileHash::parse(&text("file")).expect("a file's hash"),
            bytes: a["bytes"].as_u64().expect("bytes"),
            refusal: text("refusal"),
        })
    }

    fn activity(&self, which: &str) -> ActivityId {
        self.0["activities"][which]
            .as_str()
            .expect(which)
            .parse()
            .expect("an activity id")
    }
}

/// What the manifest says of the attached scan.
struct Attached {
    activity: ActivityId,
    name: String,
    file: FileHash,
    bytes: u64,
    refusal: String,
}

/// The scan is attached to its activity, and `store` holds it whole: its
/// bytes hash to its name.
fn check_scan_held(m: &Manifest, activity: &Activity, store: &sync_core::Store) {
    let Some(scan) = m.attached() else {
        assert!(activity.attachments.is_empty());
        return;
    };
    assert_eq!(activity.id, scan.activity);
    let photos = usize::from(m.0.get("photo").is_some());
    assert_eq!(
        activity.attachments.len(),
        1 + photos,
        "the scan is attached"
    );
    let attached = activity
        .attachments
        .iter()
        .find(|a| a.file == scan.file)
        .expect("the scan");
    assert_eq!((attached.file, attached.bytes), (scan.file, scan.bytes));
    assert_eq!(attached.name, scan.name);
    let mut bytes = Vec::new();
    store
        .read_file(scan.file, &mut bytes)
        .expect("the scan is held whole");
    assert_eq!(FileHash::of(&bytes), scan.file);
}

/// The photo attached beside the scan (from store layout 9), with the
/// thumbnail the device made: its entry, and whether `store` holds the
/// photo and the thumbnail whole (each hashing to its name).
fn photo_held(m: &Manifest, activity: &Activity, store: &sync_core::Store) -> Option<(bool, bool)> {
    let photo = m.0.get("photo")?;
    let hash = |v: &Value| FileHash::parse(v.as_str().expect("a hash")).expect("a hash");
    let (file, thumbnail) = (hash(&photo["file"]), hash(&photo["thumbnail"]["file"]));
    let entry = activity
        .attachments
        .iter()
        .find(|a| a.file == file)
        .expect("the photo is attached");
    assert_eq!(entry.name, photo["name"].as_str().expect("a name"));
    assert_eq!(Some(entry.bytes), photo["bytes"].as_u64());
    let made = entry.thumbnail.expect("its thumbnail");
    assert_eq!(made.file, thumbnail);
    assert_eq!(Some(made.bytes), photo["thumbnail"]["bytes"].as_u64());
    let whole = |hash: FileHash| {
        let mut bytes = Vec::new();
        store.read_file(hash, &mut bytes).is_ok() && FileHash::of(&bytes) == hash
    };
    Some((whole(file), whole(thumbnail)))
}

/// A copy of one fixture folder (the fixture itself is never written).
fn copy_of(folder: &str, name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixtures(folder).join(name), dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("a fixture folder") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

fn time(text: &str) -> NaiveTime {
    NaiveTime::parse_from_str(text, "%H:%M").expect("a time")
}

/// The activity edited on the device and corrected by the office, both sent.
fn check_edited_and_sent(a: &Activity) {
    assert_eq!(a.title, "Skolotāja loma vietējās kopienas attīstībā");
    assert_eq!(a.kind, Kind::Seminar);
    assert_eq!(a.date, date("2026-11-12"));
    assert_eq!(a.start, Some(time("10:00")));
    assert_eq!(a.hours, Some(3.0), "the device's correction of the hours");
    assert_eq!(a.place, "Rēzeknes KRC, lielā zāle");
    assert_eq!(a.organisers, ["Anna Bērziņa"]);
    assert_eq!(a.institutions, ["20.PII", "13.vsk"]);
    assert_eq!(a.counts.get(Group::Teachers), 14);
    assert_eq!(a.counts.get(Group::Parents), 5);
    assert_eq!(a.total_participants, 19);
    assert_eq!(
        a.description,
        "Sarunas par skolotāju un vecāku sadarbību Latgalē."
    );
    assert_eq!(a.notes, "Pārbaudīts birojā.", "the office's correction");
    assert!(!a.deleted);
}

fn check_workshop(a: &Activity, deleted: bool) {
    assert_eq!(a.title, "Ģimeņu darbnīca: šūšana");
    assert_eq!(a.kind, Kind::Workshop);
    assert_eq!(a.date, date("2026-11-19"));
    assert_eq!(a.hours, Some(3.0));
    assert_eq!(a.counts.get(Group::Parents), 8);
    assert_eq!(a.counts.get(Group::ChildrenAndYouth), 11);
    assert_eq!(a.deleted, deleted);
}

fn check_meeting(a: &Activity, edited: bool) {
    assert_eq!(a.title, "Jauniešu brīvprātīgo tikšanās");
    assert_eq!(a.kind, Kind::Meeting);
    assert_eq!(a.date, date("2026-11-26"));
    assert_eq!(a.start, None);
    let (volunteers, notes) = match edited {
        true => (9, "Pievienojās vēl trīs."),
        false => (6, ""),
    };
    assert_eq!(a.counts.get(Group::Volunteers), volunteers);
    assert_eq!(a.notes, notes);
    assert!(!a.deleted);
}

fn check_unsent(a: &Activity) {
    assert_eq!(a.title, "Konsultācija pašvaldības darbiniekiem");
    assert_eq!(a.kind, Kind::Consultation);
    assert_eq!(a.date, date("2026-12-03"));
    assert_eq!(a.start, Some(time("14:30")));
    assert_eq!(a.hours, None);
    assert_eq!(a.counts.get(Group::MunicipalStaff), 4);
    assert!(!a.deleted);
}

fn get(replica: &mut Replica, id: ActivityId) -> Activity {
    replica
        .get(id)
        .expect("read")
        .unwrap_or_else(|| panic!("activity {id} is kept"))
}

#[test]
fn the_fixture_device_store_opens_with_every_record_and_what_is_unsent() {
    for folder in FOLDERS {
        the_fixture_device_store_opens_with_every_record_and_what_is_unsent_in(folder);
    }
}

fn the_fixture_device_store_opens_with_every_record_and_what_is_unsent_in(folder: &str) {
    let m = Manifest::read(folder);
    let dir = copy_of(folder, "device");
    let mut replica = Replica::open(&dir.path().join(STORE_FILE)).expect("the store opens");
    let a1 = get(&mut replica, m.activity("edited_and_sent"));
    check_edited_and_sent(&a1);
    check_scan_held(&m, &a1, replica.store());
    if let Some(held) = photo_held(&m, &a1, replica.store()) {
        assert_eq!(
            held,
            (true, true),
            "the device holds its photo and thumbnail"
        );
    }
    check_workshop(&get(&mut replica, m.activity("sent_then_deleted")), true);
    check_meeting(&get(&mut replica, m.activity("sent_then_edited")), true);
    check_unsent(&get(&mut replica, m.activity("unsent")));
    assert_eq!(replica.activities().expect("list").len(), 4);
    assert_eq!(
        replica.unsent_total().expect("unsent"),
        3,
        "the deletion, the edit and the new record are not sent yet"
    );
    let store = replica.store();
    assert_eq!(store.device_name(), m.text("device_name"));
    let home = store.home_journal().expect("enrolled: a home journal");
    assert_eq!(home.0, m.uuid("centre"));
    assert!(!store.acknowledged_heads(home).expect("acked").is_empty());
    let enrolment = field_client::net::enrolment(store)
        .expect("settings")
        .expect("the enrolment is kept");
    assert_eq!(enrolment.centre, m.text("centre_name"));
    assert_eq!(enrolment.journal, m.uuid("centre"));
    assert!(!enrolment.office);
    // The device's key is the one the relay registered.
    let relay = RedbStore::open(copy_of(folder, "relay").path()).expect("the relay's folder opens");
    let cert = std::fs::read(dir.path().join("device.cert.der")).expect("the device's key");
    let device = relay
        .device_by_cert(&Fingerprint::of_cert_der(&cert))
        .expect("registry")
        .expect("the relay knows the device's certificate");
    assert_eq!(device.id, store.device_id().0);
    assert_eq!(device.centre, m.uuid("centre"));
    assert!(!device.office);
}

#[test]
fn the_fixture_office_store_opens_with_what_it_downloaded() {
    for folder in FOLDERS {
        the_fixture_office_store_opens_with_what_it_downloaded_in(folder);
    }
}

fn the_fixture_office_store_opens_with_what_it_downloaded_in(folder: &str) {
    let m = Manifest::read(folder);
    let dir = copy_of(folder, "office");
    let mut replica = Replica::open(&dir.path().join(STORE_FILE)).expect("the store opens");
    // The office keeps the centre's journal beside its own.
    let all = replica.all_activities().expect("every centre's activities");
    let find = |which: &str| {
        let id = m.activity(which);
        all.iter()
            .find(|(_, a)| a.id == id)
            .map(|(info, a)| (info.centre.clone(), a.clone()))
    };
    let (centre, a1) = find("edited_and_sent").expect("kept");
    assert_eq!(centre, m.text("centre_name"));
    check_edited_and_sent(&a1);
    check_scan_held(&m, &a1, replica.store());
    if let Some(held) = photo_held(&m, &a1, replica.store()) {
        assert_eq!(
            held,
            (true, false),
            "the office fetched the photo, not its thumbnail"
        );
    }
    check_workshop(&find("sent_then_deleted").expect("kept").1, false);
    check_meeting(&find("sent_then_edited").expect("kept").1, false);
    assert!(find("unsent").is_none(), "the device never sent it");
    assert_eq!(all.len(), 3);
    assert_eq!(replica.unsent_total().expect("unsent"), 0);
    let enrolment = field_client::net::enrolment(replica.store())
        .expect("settings")
        .expect("enrolled");
    assert!(enrolment.office);
}

#[test]
fn the_fixture_relay_folder_opens_with_its_registry_and_journal() {
    for folder in FOLDERS {
        the_fixture_relay_folder_opens_with_its_registry_and_journal_in(folder);
    }
}

fn the_fixture_relay_folder_opens_with_its_registry_and_journal_in(folder: &str) {
    let m = Manifest::read(folder);
    let dir = copy_of(folder, "relay");
    let relay = RedbStore::open(dir.path()).expect("the relay's folder opens");
    let centre = m.uuid("centre");
    let registry = relay.registry();
    let centres = registry.centres().expect("centres");
    let named = centres
        .iter()
        .find(|c| c.id == centre)
        .expect("the centre is registered");
    assert_eq!(named.name, m.text("centre_name"));
    assert_eq!(
        named.municipality.as_deref(),
        Some(&*m.text("municipality"))
    );
    let devices = registry.devices().expect("devices");
    assert_eq!(devices.len(), 2, "the centre's device and the office's");
    let office = devices.iter().find(|d| d.office).expect("the office");
    assert_eq!(office.name, m.text("office_name"));
    let device = devices.iter().find(|d| !d.office).expect("the device");
    assert_eq!(device.name, m.text("device_name"));
    assert!(devices.iter().all(|d| d.revoked_at.is_none()));

    let journal = relay.journals().copy_of(centre).expect("the journal");
    let read = |id: ActivityId| journal.get(id).expect("read").expect("kept");
    check_edited_and_sent(&read(m.activity("edited_and_sent")));
    if let Some(scan) = m.attached() {
        let held = relay
            .journals()
            .held_file(centre, scan.file)
            .expect("read")
            .expect("the relay holds the scan");
        assert!(held.is_whole());
        assert_eq!(held.bytes, scan.bytes);
    }
    if let Some(photo) = m.0.get("photo") {
        for file in [&photo["file"], &photo["thumbnail"]["file"]] {
            let hash = FileHash::parse(file.as_str().expect("a hash")).expect("a hash");
            let held = relay.journals().held_file(centre, hash).expect("read");
            assert!(held.is_some_and(|f| f.is_whole()), "the relay holds {hash}");
        }
    }
    check_workshop(&read(m.activity("sent_then_deleted")), false);
    check_meeting(&read(m.activity("sent_then_edited")), false);
    assert!(journal.get(m.activity("unsent")).expect("read").is_none());
    let (epoch, heads) = relay.state(centre).expect("state");
    assert_eq!(epoch, 0);
    assert_eq!(heads, journal.heads());
}

/// What the device's store says its frames carried.
struct DeviceView {
    device: Uuid,
    heads: Vec<ChangeHash>,
    acked: Vec<ChangeHash>,
    unsent: Vec<ChangeHash>,
    office_change: Change,
    office_tag: [u8; 16],
}

fn device_view(folder: &str) -> DeviceView {
    let dir = copy_of(folder, "device");
    let mut replica = Replica::open(&dir.path().join(STORE_FILE)).expect("opens");
    let home = replica.store().home_journal().expect("enrolled");
    let device = replica.store().device_id().0;
    let acked = replica.store().acknowledged_heads(home).expect("acked");
    let doc = replica.journal().expect("journal").doc().clone();
    let unsent = missing_from(&doc, &acked, usize::MAX);
    let mut others: Vec<Change> = doc
        .get_changes(&[])
        .into_iter()
        .filter(|c| !c.deps().is_empty() && c.actor_id().to_bytes() != device.as_bytes())
        .collect();
    assert_eq!(
        others.len(),
        1,
        "one change written elsewhere: the office's"
    );
    let office_change = others.remove(0);
    let tags = replica
        .store()
        .attestations(home, [office_change.hash()])
        .expect("attestations");
    assert_eq!(tags.len(), 1, "the relay's tag is kept");
    DeviceView {
        device,
        heads: doc.get_heads(),
        acked,
        unsent,
        office_change,
        office_tag: tags[0].1,
    }
}

/// The frame fixture's name for a frame. The match has no catch-all: a new
/// frame kind does not compile here until it has a fixture.
fn fixture_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello { .. } => "01-hello",
        Frame::Welcome { .. } => "02-welcome",
        Frame::Open { .. } => "03-open",
        Frame::Heads { .. } => "04-heads",
        Frame::Changes {
            count: 0, attested, ..
        } if attested.is_empty() => "05-changes-empty",
        Frame::Changes {
            encoding: BatchEncoding::Bundle,
            ..
        } => "05-changes-bundle",
        Frame::Changes {
            encoding: BatchEncoding::ChangeList,
            ..
        } => "05-changes-list-attested",
        Frame::Ack { .. } => "06-ack",
        Frame::Notify { .. } => "08-notify",
        Frame::Error { .. } => "09-error",
        Frame::Enrol { .. } => "10-enrol",
        Frame::Enrolled { .. } => "11-enrolled",
        Frame::Health { .. } => "12-health",
        Frame::Erase { .. } => "13-erase",
        Frame::Erased {
            rewritten: Some(_), ..
        } => "14-erased",
        Frame::Erased {
            rewritten: None, ..
        } => "14-erased-none",
        Frame::FileOffer { .. } => "15-file-offer",
        Frame::FileHeld { .. } => "16-file-held",
        Frame::FileChunk { .. } => "17-file-chunk",
        Frame::FileWant { .. } => "18-file-want",
        Frame::FileRefused { .. } => "19-file-refused",
    }
}

/// The protocol version a fixture folder's programs spoke (its name says).
fn protocol_of(folder: &str) -> u16 {
    folder
        .strip_prefix("protocol-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{folder} names no protocol version"))
}

/// The changes of a change list (`u32` length, then the change's bytes).
fn listed_changes(mut list: &[u8]) -> Vec<Change> {
    let mut out = Vec::new();
    while !list.is_empty() {
        let (len, rest) = list.split_at(4);
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        let (bytes, rest) = rest.split_at(len);
        out.push(decode_change(bytes).expect("a change"));
        list = rest;
    }
    out
}

fn sorted(mut hashes: Vec<ChangeHash>) -> Vec<ChangeHash> {
    hashes.sort_unstable();
    hashes
}

/// The frame every fixture must decode to; for `Changes`, whose bytes come
/// from Automerge, what the changes in it must be.
fn check_frame(
    (folder, name): (&str, &str),
    frame: &Frame,
    m: &Manifest,
    view: &DeviceView,
    relay: &RedbStore,
) {
    let centre = m.uuid("centre");
    let software = format!("field-client {}", env!("CARGO_PKG_VERSION"));
    let version = protocol_of(folder);
    let expected = match name {
        "01-hello" => Frame::Hello {
            version,
            software,
            unsent: Some(3),
            journals: vec![centre],
        },
        "02-welcome" => Frame::Welcome {
            version,
            journals: vec![sync_core::sync::JournalGrant {
                journal: centre,
                centre: m.text("centre_name"),
                municipality: m.text("municipality"),
                access: Access::ReadWrite,
            }],
        },
        "03-open" => Frame::Open {
            journal: centre,
            epoch: 0,
            heads: view.heads.clone(),
            acked: view.acked.clone(),
        },
        "04-heads" => Frame::Heads {
            journal: centre,
            epoch: 0,
            heads: view.acked.clone(),
            has_acked: true,
        },
        "05-changes-bundle" => {
            let Frame::Changes { bundle, .. } = frame else {
                panic!("{name} is {frame:?}")
            };
            let changes = decode_bundle(bundle).expect("the bundle unpacks");
            let hashes: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
            assert_eq!(sorted(hashes), sorted(view.unsent.clone()), "{name}");
            Frame::Changes {
                journal: centre,
                more: false,
                sent_before_heads: true,
                count: 3,
                digest: batch_digest(&view.unsent),
                encoding: BatchEncoding::Bundle,
                bundle: bundle.clone(),
                attested: Vec::new(),
            }
        }
        "05-changes-list-attested" => {
            let Frame::Changes { bundle, .. } = frame else {
                panic!("{name} is {frame:?}")
            };
            let changes = listed_changes(bundle);
            assert_eq!(changes.len(), 1);
            assert_eq!(changes[0].hash(), view.office_change.hash());
            assert_eq!(changes[0].raw_bytes(), view.office_change.raw_bytes());
            Frame::Changes {
                journal: centre,
                more: false,
                sent_before_heads: false,
                count: 1,
                digest: batch_digest(&[view.office_change.hash()]),
                encoding: BatchEncoding::ChangeList,
                bundle: bundle.clone(),
                attested: vec![BatchAttestation {
                    position: 0,
                    tag: view.office_tag,
                }],
            }
        }
        "05-changes-empty" => Frame::Changes {
            journal: centre,
            more: false,
            sent_before_heads: false,
            count: 0,
            digest: batch_digest(&[]),
            encoding: BatchEncoding::Bundle,
            bundle: Vec::new(),
            attested: Vec::new(),
        },
        "06-ack" => Frame::Ack {
            journal: centre,
            heads: view.heads.clone(),
            count: 3,
            digest: batch_digest(&view.unsent),
        },
        "08-notify" => Frame::Notify { journal: centre },
        "09-error" => Frame::Error {
            code: ErrorCode::Unavailable,
            message: relay::store::DISK_FULL_MESSAGE.to_owned(),
        },
        "10-enrol" => Frame::Enrol {
            secret: hex_bytes(&m.text("enrol_secret")),
            device: view.device,
            device_name: m.text("device_name"),
            software,
        },
        "11-enrolled" => Frame::Enrolled {
            journal: centre,
            centre: m.text("centre_name"),
            role: Role::Centre,
        },
        "12-health" => Frame::Health {
            devices: relay
                .registry()
                .health()
                .expect("health")
                .into_iter()
                .map(whole_seconds)
                .collect(),
        },
        "13-erase" => Frame::Erase {
            activity: m.activity("sent_then_deleted").0,
        },
        "14-erased" => Frame::Erased {
            activity: m.activity("sent_then_deleted").0,
            rewritten: Some((centre, 1)),
        },
        "14-erased-none" => Frame::Erased {
            activity: m.uuid("erased_elsewhere"),
            rewritten: None,
        },
        "15-file-offer" | "16-file-held" | "17-file-chunk" | "18-file-want" | "19-file-refused" => {
            file_frame((folder, name), m)
        }
        other => panic!("a frame fixture nothing expects: {other}"),
    };
    assert_eq!(*frame, expected, "{name} decodes to what it carried");
}

/// A file stream's frame (protocol 6), carrying the attached scan.
fn file_frame((folder, name): (&str, &str), m: &Manifest) -> Frame {
    let scan = m.attached().expect("a folder with file frames has a scan");
    let journal = m.uuid("centre");
    let file = scan.file;
    match name {
        "15-file-offer" => Frame::FileOffer {
            journal,
            activity: scan.activity.0,
            file,
            bytes: scan.bytes,
        },
        "16-file-held" => Frame::FileHeld {
            file,
            chunks_held: 1,
        },
        "17-file-chunk" => {
            let dir = copy_of(folder, "device");
            let store = sync_core::Store::open(&dir.path().join(STORE_FILE)).expect("opens");
            let mut bytes = Vec::new();
            store.read_file(file, &mut bytes).expect("held");
            Frame::FileChunk {
                file,
                number: 0,
                bytes,
            }
        }
        "18-file-want" => Frame::FileWant {
            journal,
            activity: scan.activity.0,
            file,
            from: 0,
        },
        _ => Frame::FileRefused {
            file,
            code: ErrorCode::LimitReached,
            message: scan.refusal,
        },
    }
}

fn hex_bytes<const N: usize>(text: &str) -> [u8; N] {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect();
    bytes.try_into().expect("length")
}

/// Every frame fixture, by name.
fn frame_fixtures(folder: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures(folder).join("frames"))
        .expect("the frames folder")
        .map(|e| {
            let path = e.expect("an entry").path();
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a name")
                .to_owned();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_frame_fixture_decodes_to_what_it_carried_and_encodes_to_the_same_bytes() {
    for folder in FOLDERS {
        every_frame_fixture_decodes_to_what_it_carried_and_encodes_to_the_same_bytes_in(folder);
    }
}

fn every_frame_fixture_decodes_to_what_it_carried_and_encodes_to_the_same_bytes_in(folder: &str) {
    let m = Manifest::read(folder);
    let view = device_view(folder);
    let relay_dir = copy_of(folder, "relay");
    let relay = RedbStore::open(relay_dir.path()).expect("opens");
    let fixtures = frame_fixtures(folder);
    let names: Vec<&str> = fixtures.iter().map(|(n, _)| n.as_str()).collect();
    let file_frames = [
        "15-file-offer",
        "16-file-held",
        "17-file-chunk",
        "18-file-want",
        "19-file-refused",
    ];
    let expected: Vec<&str> = [
        "01-hello",
        "02-welcome",
        "03-open",
        "04-heads",
        "05-changes-bundle",
        "05-changes-empty",
        "05-changes-list-attested",
        "06-ack",
        "08-notify",
        "09-error",
        "10-enrol",
        "11-enrolled",
        "12-health",
        "13-erase",
        "14-erased",
        "14-erased-none",
    ]
    .into_iter()
    .chain(file_frames.into_iter().filter(|_| protocol_of(folder) >= 6))
    .collect();
    assert_eq!(
        names, expected,
        "one fixture per frame kind (and per form of Changes and Erased)"
    );
    for (name, bytes) in &fixtures {
        let frame = Frame::decode(bytes).unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
        assert_eq!(fixture_name(&frame), name, "{name} decodes to another kind");
        check_frame((folder, name), &frame, &m, &view, &relay);
        // Compressed payloads (the two non-empty `Changes`) are compared
        // byte for byte too: the same zstd and dictionary give the same
        // bytes, and a change there is worth a look (the old bytes still
        // decode, checked above; see the fixtures' README).
        assert_eq!(
            &frame.encode().expect("encodes"),
            bytes,
            "{name} encodes to other bytes than today's format wrote"
        );
    }
}

/// Points a copied data folder's enrolment at `relay` (the fixture was
/// enrolled with a relay on another port of the generator's machine), as an
/// administrator moving the office server would.
fn point_at(cli: &Cli, relay: &Relay) {
    let store = sync_core::Store::open(&cli.store_path()).expect("the store opens");
    let mut enrolment = field_client::net::enrolment(&store)
        .expect("settings")
        .expect("enrolled");
    assert_eq!(
        enrolment.fingerprint,
        relay.fingerprint(),
        "the fixture relay's key is the one the device pinned"
    );
    enrolment.relay = relay.addr().to_string();
    field_client::net::keep_enrolment(&store, &enrolment).expect("keep");
}

#[test]
fn the_fixture_device_syncs_its_unsent_changes_through_the_fixture_relay_to_the_office() {
    for folder in FOLDERS {
        the_fixture_device_syncs_its_unsent_changes_through_the_fixture_relay_to_the_office_in(
            folder,
        );
    }
}

fn the_fixture_device_syncs_its_unsent_changes_through_the_fixture_relay_to_the_office_in(
    folder: &str,
) {
    let m = Manifest::read(folder);
    let relay = Relay::start_in(copy_of(folder, "relay"));
    let device_dir = copy_of(folder, "device");
    let office_dir = copy_of(folder, "office");
    let device = Cli::at(device_dir.path());
    let office = Cli::at(office_dir.path());
    point_at(&device, &relay);
    point_at(&office, &relay);

    let run = device.run(["sync"]);
    assert_eq!(run.code, Some(0), "device sync: {}", run.stderr);
    let (sent, _) = sent_received(&run.stdout);
    assert_eq!(sent, 3, "the deletion, the edit and the new record");
    assert_eq!(common::unsent(&device), 0);

    let run = office.run(["sync"]);
    assert_eq!(run.code, Some(0), "office sync: {}", run.stderr);
    let (_, received) = sent_received(&run.stdout);
    assert_eq!(received, 3);
    let rows = by_id(office.list_json(&["--all-centres", "--all"]));
    let row = |which: &str| {
        rows.get(&m.activity(which).to_string())
            .unwrap_or_else(|| panic!("the office lists {which}"))
            .clone()
    };
    assert_eq!(
        row("unsent")["title"],
        "Konsultācija pašvaldības darbiniekiem"
    );
    assert_eq!(row("sent_then_deleted")["deleted"], true);
    assert_eq!(row("sent_then_edited")["notes"], "Pievienojās vēl trīs.");
    assert_eq!(row("edited_and_sent")["notes"], "Pārbaudīts birojā.");
    assert_eq!(rows.len(), 4);
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
