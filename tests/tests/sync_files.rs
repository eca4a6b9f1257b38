//! Attached files through a real relay (docs/ATTACHMENTS.md): a centre's
//! `sync` sends the records, then the files, and the relay keeps each file
//! whole, its hash checked, in the centre's journal file.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use sync_core::Store;
use sync_core::files::FileHash;
use tests::link::{Impairments, LinkEmulator};
use tests::sample_files::{jpeg, pdf};
use tests::{Cli, SeedReport};
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

/// The file as the (stopped) relay holds it.
fn at_relay(relay: &Relay, centre: Uuid, hash: FileHash) -> Option<Vec<u8>> {
    relay.file_held(centre, hash.0)
}

#[test]
fn sync_sends_the_records_then_the_files_and_the_relay_keeps_them_whole() {
    let mut relay = Relay::start();
    let centre = relay.add_centre(CENTRE);
    let cli = device(CENTRE, "Krāslavas dators");
    let seminar = add(&cli, "Seminārs par kopienu");
    let photo = jpeg(700_000, 11);
    let sheet = pdf(120_000, 12);
    let photo_hash = attach(&cli, &seminar, &cli.write_file("foto.jpg", &photo));
    let sheet_hash = attach(&cli, &seminar, &cli.write_file("lapa.pdf", &sheet));

    // Enrolment renames the journal: the files waiting follow it.
    enrol(&cli, &relay.centre_code(centre));
    assert_eq!(waiting(&cli, centre), 2);
    let (sent, _) = sync_ok(&cli);
    assert!(sent >= 3, "the record and both references: {sent}");
    assert_eq!(waiting(&cli, centre), 0, "both files count as sent");

    // A file attached later goes with the next sync.
    let later = add(&cli, "Darbnīca");
    let later_photo = jpeg(90_000, 13);
    let later_hash = attach(&cli, &later, &cli.write_file("vēlāk.jpg", &later_photo));
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
    let hash = attach(&cli, &seminar, &cli.write_file("liels.jpg", &photo));
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

#[test]
fn the_office_fetches_a_centres_file_when_it_saves_it_and_only_then() {
    let relay = Relay::start();
    let centre = relay.add_centre(CENTRE);
    let cli = device(CENTRE, "Krāslavas dators");
    enrol(&cli, &relay.centre_code(centre));
    let seminar = add(&cli, "Seminārs");
    let photo = jpeg(400_000, 31);
    attach(&cli, &seminar, &cli.write_file("foto.jpg", &photo));
    sync_ok(&cli);

    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    // The record came with its reference; the bytes stay at the relay.
    let listed = tests::parse_json_array(&office.ok(["attachments", &seminar, "--json"]));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["held"], "absent");
    let copies = office.file("copies");
    let run = office.run([
        "attachments".as_ref(),
        seminar.as_ref(),
        "--save".as_ref(),
        copies.as_os_str(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("Fetching 1 file"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(copies.join("foto.jpg")).expect("the copy"),
        photo
    );
    let listed = tests::parse_json_array(&office.ok(["attachments", &seminar, "--json"]));
    assert_eq!(listed[0]["held"], "whole", "kept for the next time");
}

/// The rural link's rate in the quick run: 1 Mbit/s, a rural 3G link on a
/// fair day (the 5 MB photo then takes 40 s, outages aside). The long run
/// takes the slow end, 384 kbit/s (`FILE_LINK_BYTES_PER_SECOND=48000`: about
/// four minutes); the bench measures that rate too.
const QUICK_RURAL_BYTES_PER_SECOND: u64 = 125_000;

fn rural_rate() -> u64 {
    std::env::var("FILE_LINK_BYTES_PER_SECOND")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(QUICK_RURAL_BYTES_PER_SECOND)
}

/// Bytes the device sent through `link` so far.
fn sent_through(link: &LinkEmulator) -> u64 {
    link.counters.up_bytes.load(Ordering::Relaxed)
}

#[test]
fn a_5_mb_photo_over_the_rural_link_with_outages_resumes_and_arrives_whole() {
    let (seed, _report) = SeedReport::from_env("FILE_LINK_SEED");
    let mut relay = Relay::start();
    let centre = relay.add_centre(CENTRE);
    let rate = rural_rate();
    let rural = Impairments::rural(rate, Duration::from_millis(300), 0.05);
    let link = LinkEmulator::start(relay.addr(), rural.clone(), rural, seed);
    let cli = device(CENTRE, "Krāslavas dators");
    enrol(&cli, &relay.centre_code_via(centre, link.addr()));
    let seminar = add(&cli, "Seminārs ar lielu foto");
    let photo = jpeg(5_000_000, 41);
    let hash = attach(&cli, &seminar, &cli.write_file("liels.jpg", &photo));
    // During the transfer the link goes down twice: briefly (QUIC carries
    // on), then long enough for the connection to be given up, so the next
    // sync resumes; the later the slower the link.
    let transfer = photo.len() as u64 / rate;
    link.outage(Duration::from_secs(transfer / 4), Duration::from_secs(5));
    link.outage(
        Duration::from_secs(transfer / 2 + 5),
        Duration::from_secs(25),
    );
    let mut attempts = 0;
    while waiting(&cli, centre) > 0 {
        attempts += 1;
        assert!(attempts <= 8, "the photo did not arrive in 8 attempts");
        let run = cli.run(["sync"]);
        assert!(
            run.code.is_some() && !run.stderr.contains("panicked"),
            "sync crashed: {}",
            run.stderr
        );
    }
    assert!(
        attempts > 1,
        "no outage hit the transfer: the test tested nothing"
    );
    let sent = sent_through(&link);
    assert!(
        sent < photo.len() as u64 * 13 / 10,
        "{sent} bytes sent for a {} byte photo: a transfer started over",
        photo.len()
    );
    relay.stop();
    assert_eq!(at_relay(&relay, centre, hash), Some(photo));
}

#[cfg(unix)]
#[test]
fn killing_the_device_and_the_relay_mid_transfer_loses_nothing_acknowledged() {
    let mut relay = Relay::start();
    let centre = relay.add_centre(CENTRE);
    // Slow enough that the transfer is still running when things are killed.
    let slow = Impairments::rural(200_000, Duration::from_millis(40), 0.0);
    let link = LinkEmulator::start(relay.addr(), slow.clone(), slow, 5);
    let cli = device(CENTRE, "Krāslavas dators");
    enrol(&cli, &relay.centre_code_via(centre, link.addr()));
    let seminar = add(&cli, "Seminārs");
    let photo = jpeg(3_000_000, 51);
    let hash = attach(&cli, &seminar, &cli.write_file("foto.jpg", &photo));

    // The device's sync is killed once a third of the photo went out.
    let sync = cli.spawn(["sync"]);
    wait_until(|| sent_through(&link) > 1_000_000);
    let pid = sync.id();
    kill(pid);
    let _ = sync.finish_by(std::time::Instant::now() + Duration::from_secs(10));
    // Then the relay, in the middle of the next attempt.
    let again = cli.spawn(["sync"]);
    let before = sent_through(&link);
    wait_until(|| sent_through(&link) > before + 500_000);
    relay.kill();
    let _ = again.finish_by(std::time::Instant::now() + Duration::from_secs(60));
    relay.restart();
    let run = common::sync_until_ok(&cli, 4);
    assert_eq!(run.code, Some(0));
    assert_eq!(waiting(&cli, centre), 0);
    let sent = sent_through(&link);
    assert!(
        sent < photo.len() as u64 * 14 / 10,
        "{sent} bytes sent for a {} byte photo: acknowledged chunks went again",
        photo.len()
    );
    relay.stop();
    assert_eq!(at_relay(&relay, centre, hash), Some(photo));
}

/// Waits (bounded) until `done` holds.
fn wait_until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited two minutes in vain"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("cannot run kill");
    assert!(status.success());
}

#[test]
fn the_funders_bundle_holds_the_report_and_every_attached_file() {
    use calamine::Reader;
    use std::io::Read;
    let relay = Relay::start();
    let centre = relay.add_centre(CENTRE);
    let cli = device(CENTRE, "Krāslavas dators");
    enrol(&cli, &relay.centre_code(centre));
    let seminar = add(&cli, "Seminārs: kopiena/ģimenes");
    let other = add(&cli, "Darbnīca");
    let photo = jpeg(300_000, 61);
    let sheet = pdf(50_000, 62);
    attach(&cli, &seminar, &cli.write_file("foto.jpg", &photo));
    attach(&cli, &seminar, &cli.write_file("lapa.pdf", &sheet));
    // Another photo of the same name: numbered in the activity's folder.
    let second_photo = jpeg(10_000, 64);
    attach(&cli, &seminar, &cli.write_file("foto.jpg", &second_photo));
    let other_photo = jpeg(20_000, 63);
    attach(&cli, &other, &cli.write_file("foto.jpg", &other_photo));
    sync_ok(&cli);

    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    let bundle = office.file("funder.zip");
    let run = office.run([
        "report".as_ref(),
        "--from".as_ref(),
        "2026-11-01".as_ref(),
        "--to".as_ref(),
        "2026-11-30".as_ref(),
        "--format".as_ref(),
        "zip".as_ref(),
        "--out".as_ref(),
        bundle.as_os_str(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&bundle).expect("the bundle"))
        .expect("a zip archive");
    let mut read = |name: &str| {
        let mut entry = zip
            .by_name(name)
            .unwrap_or_else(|_| panic!("{name} is in the bundle"));
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        bytes
    };
    assert_eq!(read("2026-11-20 Seminārs- kopiena-ģimenes/foto.jpg"), photo);
    assert_eq!(read("2026-11-20 Seminārs- kopiena-ģimenes/lapa.pdf"), sheet);
    assert_eq!(
        read("2026-11-20 Seminārs- kopiena-ģimenes/foto (2).jpg"),
        second_photo
    );
    assert_eq!(read("2026-11-20 Darbnīca/foto.jpg"), other_photo);
    let workbook = read("report.xlsx");
    let mut xlsx: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(workbook)).expect("a workbook");
    let sheet_rows = xlsx
        .worksheet_range("Activities")
        .expect("the activities sheet");
    let header: Vec<String> = sheet_rows
        .rows()
        .next()
        .expect("a header")
        .iter()
        .map(|c| c.to_string())
        .collect();
    let files_col = header
        .iter()
        .position(|h| h == "Attached files")
        .expect("the column");
    let cells: Vec<String> = sheet_rows
        .rows()
        .skip(1)
        .map(|r| r[files_col].to_string())
        .collect();
    assert!(
        cells.contains(&"foto.jpg\nlapa.pdf\nfoto.jpg".to_owned()),
        "{cells:?}"
    );
}

#[test]
fn the_office_app_shows_a_centres_thumbnail_first_and_fetches_the_photo_when_asked() {
    let relay = Relay::start();
    let centre = relay.add_centre(CENTRE);
    let cli = device(CENTRE, "Krāslavas dators");
    enrol(&cli, &relay.centre_code(centre));
    let seminar = add(&cli, "Seminārs");
    let photo = tests::sample_files::photo(1600, 1200);
    let hash = attach(&cli, &seminar, &cli.write_file("foto.jpg", &photo));
    let listed = tests::parse_json_array(&cli.ok(["attachments", &seminar, "--json"]));
    let thumbnail = listed[0]["thumbnail"]["file"]
        .as_str()
        .expect("a photo's thumbnail")
        .to_owned();
    sync_ok(&cli);

    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    let (_daemon, stdout, _stderr) = common::start_daemon(&office, &["--web-port", "0"]);
    let app = common::app_url(&stdout);
    let page = format!("{app}/activities/{seminar}");
    // The daemon syncs the records; the photo stays at the relay.
    let html = wait_for(|| {
        let (status, body) = common::http_get(&page);
        let html = String::from_utf8_lossy(&body).into_owned();
        (status.contains("200") && html.contains("/fetch\"")).then_some(html)
    });
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's form token")
        .to_owned();
    // Shown, the page asked for the thumbnail: the running sync brings it,
    // and only it.
    let thumbnail_src = format!("src=\"/files/{thumbnail}\"");
    wait_for(|| {
        let (_, body) = common::http_get(&page);
        String::from_utf8_lossy(&body)
            .contains(&thumbnail_src)
            .then_some(())
    });
    let (status, body) = common::http_get(&format!("{app}/files/{thumbnail}"));
    assert!(status.contains("200"), "{status}");
    assert!(body.len() < photo.len() / 4 && body.starts_with(&[0xFF, 0xD8]));
    let (status, _) = common::http_get(&format!("{app}/files/{hash}"));
    assert!(
        status.contains("404"),
        "the photo is not fetched unasked: {status}"
    );
    let fetch = format!("{page}/files/{hash}/fetch");
    let (status, _) = common::http_post(&fetch, &[("csrf", &token)]);
    assert!(status.contains("303"), "{status}");
    let served = wait_for(|| {
        let (status, body) = common::http_get(&format!("{app}/files/{hash}"));
        status.contains("200").then_some(body)
    });
    assert_eq!(served, photo);
    let (_, body) = common::http_get(&page);
    let html = String::from_utf8_lossy(&body);
    assert!(html.contains(&format!("href=\"/files/{hash}\"")), "{html}");
    assert!(html.contains(&thumbnail_src), "{html}");
}

/// Waits (bounded) until `found` gives a value.
fn wait_for<T>(found: impl Fn() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited a minute in vain"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_relays_backup_holds_the_files_whole() {
    let relay = Relay::start();
    let centre = relay.add_centre(CENTRE);
    let cli = device(CENTRE, "Krāslavas dators");
    enrol(&cli, &relay.centre_code(centre));
    let seminar = add(&cli, "Seminārs");
    let photo = jpeg(180_000, 81);
    let hash = attach(&cli, &seminar, &cli.write_file("foto.jpg", &photo));
    sync_ok(&cli);
    let backups = tempfile::tempdir().expect("a folder for backups");
    let file = backups.path().join("relay.krcbackup");
    relay.admin(["backup", "--out", file.to_str().expect("a UTF-8 path")]);

    let restored = tempfile::tempdir().expect("a folder to restore into");
    let output = std::process::Command::new(tests::relay_bin())
        .arg("--data-dir")
        .arg(restored.path())
        .arg("restore")
        .arg(&file)
        .env_remove("RELAY_DATA_DIR")
        .output()
        .expect("relay restore");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let journal = restored
        .path()
        .join(relay::store::JOURNALS_DIR)
        .join(format!("{centre}.redb"));
    let store = Store::open(&journal).expect("the restored journal file");
    let mut back = Vec::new();
    store
        .read_file(hash, &mut back)
        .expect("the file is in the backup");
    assert_eq!(back, photo);
}
