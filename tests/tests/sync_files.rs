//! Attached files through a real relay (docs/ATTACHMENTS.md): a centre's
//! `sync` sends the records, then the files, and the relay keeps each file
//! whole, its hash checked, in the centre's journal file.

mod common;

use std::path::PathBuf;

use sync_core::Store;
use sync_core::files::FileHash;
use tests::Cli;
use tests::sample_files::{jpeg, pdf};
use uuid::Uuid;

use common::{Relay, device, enrol, sync_ok};

const CENTRE: &str = "Krāslavas KRC";

fn add(cli: &Cli, title: &str) -> String {
    cli.add([
        "--title",
        title,
        "--kind",
        "seminar",
        "--date",
        "2026-11-20",
    ])
}

fn write(cli: &Cli, name: &str, bytes: &[u8]) -> PathBuf {
    let path = cli.file(name);
    std::fs::write(&path, bytes).expect("write a sample file");
    path
}

/// Attaches `path` to activity `id`; the file's hash.
fn attach(cli: &Cli, id: &str, path: &std::path::Path) -> FileHash {
    let out = cli.ok(["attach".as_ref(), id.as_ref(), path.as_os_str()]);
    FileHash::parse(out.trim()).expect("attach prints the file's hash")
}

/// Files the device's store still waits to send.
fn waiting(cli: &Cli, centre: Uuid) -> usize {
    let store = Store::open(&cli.store_path()).expect("the device's store");
    let journal = sync_core::JournalId(centre);
    store.files_to_send(journal).expect("queue").len()
}

/// The file as the stopped relay's journal file holds it.
fn at_relay(relay: &Relay, centre: Uuid, hash: FileHash) -> Option<Vec<u8>> {
    let store = Store::open(&relay.journal_file(centre)).expect("the relay's journal file");
    let mut out = Vec::new();
    store.read_file(hash, &mut out).ok().map(|_| out)
}

#[test]
fn sync_sends_the_records_then_the_files_and_the_relay_keeps_them_whole() {
    let mut relay = Relay::start();
    let centre = relay.add_centre(CENTRE);
    let cli = device(CENTRE, "Krāslavas dators");
    let seminar = add(&cli, "Seminārs par kopienu");
    let photo = jpeg(700_000, 11);
    let sheet = pdf(120_000, 12);
    let photo_hash = attach(&cli, &seminar, &write(&cli, "foto.jpg", &photo));
    let sheet_hash = attach(&cli, &seminar, &write(&cli, "lapa.pdf", &sheet));

    // Enrolment renames the journal: the files waiting follow it.
    enrol(&cli, &relay.centre_code(centre));
    assert_eq!(waiting(&cli, centre), 2);
    let (sent, _) = sync_ok(&cli);
    assert!(sent >= 3, "the record and both references: {sent}");
    assert_eq!(waiting(&cli, centre), 0, "both files count as sent");

    // A file attached later goes with the next sync.
    let later = add(&cli, "Darbnīca");
    let later_photo = jpeg(90_000, 13);
    let later_hash = attach(&cli, &later, &write(&cli, "vēlāk.jpg", &later_photo));
    sync_ok(&cli);
    assert_eq!(waiting(&cli, centre), 0);

    relay.stop();
    assert_eq!(at_relay(&relay, centre, photo_hash), Some(photo));
    assert_eq!(at_relay(&relay, centre, sheet_hash), Some(sheet));
    assert_eq!(at_relay(&relay, centre, later_hash), Some(later_photo));
}

#[test]
fn files_use_at_most_their_share_of_the_budget_and_go_on_when_it_grows() {
    let mut relay = Relay::start();
    let centre = relay.add_centre(CENTRE);
    let cli = device(CENTRE, "Krāslavas dators");
    enrol(&cli, &relay.centre_code(centre));
    sync_ok(&cli);
    let seminar = add(&cli, "Seminārs ar foto");
    let photo = jpeg(1_500_000, 21);
    let hash = attach(&cli, &seminar, &write(&cli, "liels.jpg", &photo));
    let status = cli.status_json();
    assert_eq!(status["files_waiting"], 1);
    assert_eq!(status["file_bytes_waiting"], 1_500_000);
    let text = cli.ok(["status"]);
    assert!(text.contains("1 file (1.5 MB) not yet sent"), "{text}");

    // Half of what is left of a 1 MB month is for files: the record goes,
    // the photo only in part.
    cli.ok(["data-plan", "--budget", "1MB"]);
    let (sent, _) = sync_ok(&cli);
    assert!(sent >= 2, "the record and its reference: {sent}");
    assert_eq!(common::unsent(&cli), 0, "records never wait for files");
    assert_eq!(
        waiting(&cli, centre),
        1,
        "the photo waits for a larger budget"
    );

    // A larger budget: the rest of the photo goes, from where it stopped.
    cli.ok(["data-plan", "--budget", "20MB"]);
    sync_ok(&cli);
    assert_eq!(waiting(&cli, centre), 0);
    assert_eq!(cli.status_json()["files_waiting"], 0);
    relay.stop();
    assert_eq!(at_relay(&relay, centre, hash), Some(photo));
}
