//! A relay data folder of layout 1 (every journal in `journals.redb`, made by
//! the layout-1 program: `relay serve`, `centre add`, a device enrolled and
//! synced one activity) opens with this program: each journal moves into a
//! file of its own, the registry is kept, and an interrupted move finishes.

use std::path::{Path, PathBuf};

use relay::store::{JOURNALS_DIR, RedbStore, RelayStore};
use relay::tls::Fingerprint;
use sync_core::ActivityId;
use sync_core::activity::Group;
use uuid::Uuid;

const FIXTURE: &str = "tests/fixtures/relay-layout-1";
const DEVICE_CERT: &str = "tests/fixtures/relay-layout-1-device.cert.der";
const CENTRE: &str = "6c254e68-2945-40e7-a90a-9d32eeeeb634";
const ACTIVITY: &str = "2535965c-31a6-4878-8bbb-d7400b9108dc";

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A copy of the layout-1 data folder.
fn layout_1() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(fixture(FIXTURE)).expect("the fixture") {
        let entry = entry.expect("an entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}

fn check_migrated(dir: &Path) {
    let centre: Uuid = CENTRE.parse().expect("an id");
    let store = RedbStore::open(dir).expect("a layout-1 folder opens");
    assert!(!dir.join("journals.redb").exists(), "the old file is gone");
    assert!(
        dir.join(JOURNALS_DIR)
            .join(format!("{CENTRE}.redb"))
            .exists(),
        "the centre's journal has a file of its own"
    );
    let journal = store.journals().copy_of(centre).expect("the journal");
    let activity = journal
        .get(ACTIVITY.parse::<ActivityId>().expect("an id"))
        .expect("read")
        .expect("the activity is kept");
    assert_eq!(activity.title, "Skolotāja loma kopienā");
    assert_eq!(activity.counts.get(Group::Teachers), 19);
    // The device enrolled before is still known by its certificate.
    let cert = std::fs::read(fixture(DEVICE_CERT)).expect("the device's certificate");
    let device = store
        .device_by_cert(&Fingerprint::of_cert_der(&cert))
        .expect("the registry")
        .expect("the device is still enrolled");
    assert_eq!(device.centre, centre);
    // A journal moved keeps taking changes.
    let (epoch, heads) = store.state(centre).expect("state");
    assert_eq!(epoch, 0);
    assert_eq!(heads, journal.heads());
}

#[test]
fn a_layout_1_folder_moves_each_journal_into_a_file_of_its_own() {
    let dir = layout_1();
    check_migrated(dir.path());
    // Opening again changes nothing.
    check_migrated(dir.path());
}

#[test]
fn an_interrupted_move_finishes_on_the_next_start() {
    let dir = layout_1();
    // A start that stopped while writing the journal's new file: a half
    // file under the temporary name, and the old file still in place.
    let journals = dir.path().join(JOURNALS_DIR);
    std::fs::create_dir_all(&journals).expect("folder");
    std::fs::write(
        journals.join(format!("{CENTRE}.redb.migrating")),
        b"half a file",
    )
    .expect("write");
    check_migrated(dir.path());
    assert!(
        !journals.join(format!("{CENTRE}.redb.migrating")).exists(),
        "the half file is gone"
    );
}
