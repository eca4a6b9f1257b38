//! Several relay processes on one PostgreSQL database (docs/POSTGRES.md):
//! devices of one centre on two relays see each other's records promptly,
//! enrolment codes, revocations and erasures take effect on every relay, a
//! relay with another key is refused, and a database out of reach is said
//! in plain words and recovered from by itself.
//!
//! Needs the tests' PostgreSQL server (`.ci/test` starts one): without it
//! every test here fails, saying so.

mod common;

use std::time::{Duration, Instant};

use common::{Relay, device, enrol, import_many, sync_ok, unsent};
use tests::Cli;
use tests::link::{Impairments, LinkEmulator};

/// Longest a record stored through one relay may take to reach a device
/// that is connected to the other and does nothing: far below the device's
/// own re-check (`field-client`'s `RESYNC_EVERY`, five minutes), so only
/// the news between relays can bring it in time; generous for a loaded
/// two-core machine running debug builds.
const NEWS_WITHIN: Duration = Duration::from_secs(60);

fn record(cli: &Cli, title: &str) -> String {
    cli.add([
        "--title",
        title,
        "--kind",
        "seminar",
        "--date",
        "2026-12-07",
    ])
}

fn titles(cli: &Cli) -> Vec<String> {
    let mut titles: Vec<String> = cli
        .list_json(&["--all-centres"])
        .iter()
        .map(|a| a["title"].as_str().expect("a title").to_owned())
        .collect();
    titles.sort();
    titles
}

/// Waits until `cli` lists `title`, at most [`NEWS_WITHIN`].
fn wait_for_title(cli: &Cli, title: &str) -> Duration {
    let started = Instant::now();
    loop {
        if titles(cli).iter().any(|t| t == title) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < NEWS_WITHIN,
            "\"{title}\" did not reach the device within {NEWS_WITHIN:?}"
        );
        // The poll interval of a bounded wait: the device offers no event.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A code of `centre` made through `through`'s admin command, for a device
/// that reaches the relay at `at`.
fn code_via(through: &Relay, centre: uuid::Uuid, at: &Relay) -> String {
    through.centre_code_via(centre, at.addr())
}

#[test]
fn two_relays_serve_one_centre_and_each_record_reaches_the_other_promptly() {
    let first = Relay::start_on_postgres();
    let second = first.start_beside();
    assert_eq!(
        first.fingerprint(),
        second.fingerprint(),
        "one deployment, one key"
    );
    let centre = first.add_centre("Rēzeknes KRC");
    let on_first = device("Rēzeknes KRC", "Zāles dators");
    let on_second = device("Rēzeknes KRC", "Bibliotēkas klēpjdators");
    enrol(&on_first, &code_via(&first, centre, &first));
    // A code made through the second relay: the registry is one.
    enrol(&on_second, &code_via(&second, centre, &second));

    // The running device's first round ends with its own record stored:
    // from then on it is connected and idle.
    record(&on_second, "Bibliotēkas stunda");
    let (_daemon, _stdout, stderr) = common::start_daemon(&on_second, &["--no-web"]);
    common::wait_for_line(&stderr, "the office server stored", "field-client run")
        .unwrap_or_else(|e| panic!("{e}"));
    record(&on_first, "Digitālo prasmju seminārs");
    sync_ok(&on_first);
    let took = wait_for_title(&on_second, "Digitālo prasmju seminārs");
    eprintln!("a record stored through one relay reached the other's device in {took:?}");

    // And back: the running device sends its own record through the
    // second relay; the first relay's device gets it at its next sync.
    record(&on_second, "Jauniešu darbnīca");
    let deadline = Instant::now() + NEWS_WITHIN;
    while !titles(&on_first).contains(&"Jauniešu darbnīca".to_owned()) {
        assert!(
            Instant::now() < deadline,
            "the record never reached the first relay"
        );
        sync_ok(&on_first);
    }
    assert_eq!(titles(&on_first), titles(&on_second));
}

#[test]
fn codes_and_revocations_take_effect_on_every_relay() {
    let first = Relay::start_on_postgres();
    let second = first.start_beside();
    let centre = second.add_centre("Ludzas KRC");
    let cli = device("Ludzas KRC", "Ludzas dators");
    // Made through the second relay, redeemed at the first.
    enrol(&cli, &code_via(&second, centre, &first));
    record(&cli, "Pirms atsaukšanas");
    sync_ok(&cli);

    let id = cli.status_json()["device_id"]
        .as_str()
        .expect("a device id")
        .to_owned();
    // Revoked through the second relay: the first refuses it.
    second.admin(["revoke", &id]);
    record(&cli, "Pēc atsaukšanas");
    let run = cli.run(["sync"]);
    run.assert_plain_failure("sync of a device revoked through the other relay");
    assert!(
        run.stderr.contains("revoked by the office"),
        "{}",
        run.stderr
    );
    let listed = first.admin(["devices"]);
    assert!(listed.contains("revoked"), "{listed}");

    // Given no store, an admin command on a PostgreSQL relay's folder does
    // not quietly use the folder's own registry, which no relay serves.
    let output = std::process::Command::new(tests::relay_bin())
        .arg("--data-dir")
        .arg(first.data_dir())
        .arg("devices")
        .env_remove("RELAY_STORE")
        .env_remove("RELAY_DATA_DIR")
        .output()
        .expect("run relay devices");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && said.contains("keeps its data in PostgreSQL"),
        "{said}"
    );
}

#[test]
fn an_erasure_asked_through_one_relay_reaches_devices_of_the_other() {
    let first = Relay::start_on_postgres();
    let second = first.start_beside();
    let centre = first.add_centre("Balvu KRC");
    let centre_device = device("Balvu KRC", "Balvu dators");
    let office = device("IIC birojs", "office");
    enrol(&centre_device, &code_via(&first, centre, &second));
    enrol(&office, &first.office_code());
    let secret = record(&centre_device, "Konsultācija Zanei Kalniņai");
    record(&centre_device, "Vecāku sapulce");
    sync_ok(&centre_device);
    sync_ok(&office);

    office.ok(["erase", &secret]);
    sync_ok(&office);
    sync_ok(&centre_device);
    assert_eq!(titles(&centre_device), ["Vecāku sapulce"]);
    assert_eq!(titles(&office), titles(&centre_device));
}

#[test]
fn a_relay_without_the_deployments_key_refuses_to_serve_and_says_what_to_copy() {
    let first = Relay::start_on_postgres();
    let database = first.database().expect("on PostgreSQL").to_owned();

    let empty = tempfile::tempdir().expect("a folder");
    let refused = serve_fails(empty.path(), &database);
    assert!(
        refused.contains("holds no key") && refused.contains("relay.key.der"),
        "{refused}"
    );
    assert!(
        !empty.path().join("relay.key.der").exists(),
        "no key of its own was made"
    );

    // A relay that has a key of its own (it served a data folder before).
    let other = Relay::start();
    let mut other = other;
    other.stop();
    let refused = serve_fails(other.data_dir(), &database);
    assert!(refused.contains("is not the key"), "{refused}");
}

/// `relay serve` on `dir` and `database`, which must fail; what it said.
fn serve_fails(dir: &std::path::Path, database: &str) -> String {
    let output = std::process::Command::new(tests::relay_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--store", database])
        .env_remove("RELAY_STORE")
        .env_remove("RELAY_DATA_DIR")
        .output()
        .expect("run relay serve");
    assert!(!output.status.success(), "relay serve started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_database_out_of_reach_is_said_plainly_and_syncing_resumes_by_itself() {
    let relay = Relay::start_on_postgres();
    let database = relay.database().expect("on PostgreSQL").to_owned();
    let name = database.rsplit('/').next().expect("a name").to_owned();
    let centre = relay.add_centre("Preiļu KRC");
    let cli = device("Preiļu KRC", "Preiļu dators");
    enrol(&cli, &relay.centre_code(centre));
    record(&cli, "Pirms pārtraukuma");
    sync_ok(&cli);

    // The database stops taking connections and drops the relay's.
    let server = tests::postgres::server();
    tests::postgres::run(
        &server,
        &format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ),
    );
    record(&cli, "Pārtraukuma laikā");
    let run = cli.run(["sync"]);
    run.assert_plain_failure("sync while the database is out of reach");
    assert!(
        run.stderr.contains("cannot reach its database"),
        "{}",
        run.stderr
    );
    assert_eq!(common::unsent(&cli), 1, "the record waits on the device");
    assert!(relay.log().iter().any(|l| l.contains("database")));

    tests::postgres::run(
        &server,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    );
    sync_ok(&cli);
    assert_eq!(common::unsent(&cli), 0, "sent once the database was back");
}

#[test]
fn a_relay_killed_under_its_devices_is_replaced_by_the_other_and_nothing_is_lost() {
    let mut first = Relay::start_on_postgres();
    let second = first.start_beside();
    // One address for devices, as DNS or a UDP load balancer gives them.
    let balancer = LinkEmulator::start(
        first.addr(),
        Impairments::default(),
        Impairments::default(),
        17,
    );
    let centre = first.add_centre("Krāslavas KRC");
    let cli = device("Krāslavas KRC", "Krāslavas dators");
    enrol(&cli, &first.centre_code_via(centre, balancer.addr()));
    let mut saved = import_many(&cli, 250, "Pirms");

    let (_daemon, _stdout, stderr) = common::start_daemon(&cli, &["--no-web"]);
    common::wait_for_line(&stderr, "the office server stored", "field-client run")
        .unwrap_or_else(|e| panic!("{e}"));
    // The relay the device is connected to dies; the balancer sends its
    // packets to the other, whose answer (a reset: the same key gives the
    // same reset keys) tells the device at once that its connection is gone.
    first.kill();
    balancer.redirect(second.addr());
    saved.extend(import_many(&cli, 250, "Pēc"));
    let deadline = Instant::now() + NEWS_WITHIN;
    while unsent(&cli) > 0 {
        assert!(
            Instant::now() < deadline,
            "the device did not send its new records through the other relay"
        );
        // The poll interval of a bounded wait: the device offers no event.
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        second.log().iter().any(|l| l.contains("device connected")),
        "the device went on through the second relay"
    );
    let office = device("IIC birojs", "office");
    enrol(&office, &second.office_code());
    sync_ok(&office);
    let at_office: std::collections::BTreeSet<String> = office
        .list_json(&["--all-centres"])
        .iter()
        .map(|a| a["id"].as_str().expect("an id").to_owned())
        .collect();
    let missing: Vec<_> = saved.difference(&at_office).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
}

/// `relay migrate-store --from FROM --to TO`; its output.
fn migrate(from: &str, to: &str) -> std::process::Output {
    std::process::Command::new(tests::relay_bin())
        .args(["migrate-store", "--from", from, "--to", to])
        .env_remove("RELAY_STORE")
        .env_remove("RELAY_DATA_DIR")
        .output()
        .expect("run relay migrate-store")
}

fn migrated(from: &str, to: &str) -> String {
    let output = migrate(from, to);
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "migrate-store failed:\n{said}");
    said
}

fn refused(from: &str, to: &str) -> String {
    let output = migrate(from, to);
    assert!(!output.status.success(), "migrate-store ran");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_data_folder_moves_to_postgres_and_back_and_its_devices_go_on_syncing() {
    let mut relay = Relay::start_on_data_folder();
    let centre = relay.add_centre("Līvānu KRC");
    let cli = device("Līvānu KRC", "Līvānu dators");
    enrol(&cli, &relay.centre_code(centre));
    let seminar = record(&cli, "Seminārs pirms pārcelšanas");
    let photo = tests::sample_files::photo(640, 480);
    let photo_path = cli.write_file("foto.jpg", &photo);
    let attached = cli.ok(["attach".as_ref(), seminar.as_ref(), photo_path.as_os_str()]);
    let hash: [u8; 32] = sync_core::files::FileHash::parse(attached.trim())
        .expect("attach prints the hash")
        .0;
    sync_ok(&cli);
    let unused_code = relay.centre_code(centre);
    let folder = relay.data_dir().to_str().expect("a UTF-8 path").to_owned();
    let database = tests::postgres::fresh_database();

    let said = refused(&folder, &database);
    assert!(said.contains("already serving"), "a served folder: {said}");
    relay.stop();
    let said = migrated(&folder, &database);
    assert!(
        said.contains("1 journals") && said.contains("2 files"),
        "{said}"
    );
    let said = refused(&folder, &database);
    assert!(said.contains("is not empty"), "{said}");

    // The same relay, same key and port, now on the database.
    relay.use_store(Some(database.clone()));
    relay.restart();
    assert_eq!(
        relay.file_held(centre, hash),
        Some(photo),
        "the photo came whole"
    );
    record(&cli, "Seminārs pēc pārcelšanas");
    let (sent, received) = sync_ok(&cli);
    assert!(
        sent >= 1 && received == 0,
        "nothing came back as new: {sent} {received}"
    );
    // A code made before the move enrols after it.
    let second = device("Līvānu KRC", "Līvānu klēpjdators");
    enrol(&second, &unused_code);
    sync_ok(&second);
    assert_eq!(titles(&second), titles(&cli));
    let office = device("IIC birojs", "office");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    assert_eq!(titles(&office), titles(&cli));
    let said = refused(&database, "/nonexistent-never-made");
    assert!(said.contains("a relay is serving"), "{said}");
    relay.stop();

    // And back into a new folder, with the key copied by hand.
    let back = tempfile::tempdir().expect("a folder");
    let target = back.path().join("relay-data");
    migrated(&database, target.to_str().expect("a UTF-8 path"));
    for file in ["relay.cert.der", "relay.key.der"] {
        std::fs::copy(relay.data_dir().join(file), target.join(file)).expect("copy the key");
    }
    let moved = tempfile::TempDir::new().expect("a folder");
    for entry in std::fs::read_dir(&target).expect("the new folder") {
        let path = entry.expect("an entry").path();
        let to = moved.path().join(path.file_name().expect("a name"));
        std::fs::rename(&path, &to).expect("move into the relay's folder");
    }
    relay.use_dir(moved);
    relay.use_store(None);
    relay.restart();
    record(&cli, "Seminārs atpakaļ mapē");
    sync_ok(&cli);
    sync_ok(&office);
    assert_eq!(titles(&office), titles(&cli));
    relay.stop();
    assert!(
        relay.file_held(centre, hash).is_some(),
        "the photo came back whole"
    );
}
