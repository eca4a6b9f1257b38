//! The commands that involve the office server before and around enrolment:
//! `demo` (which runs a relay on loopback and enrols and syncs ten centres
//! and an office), `list --all-centres`, `relay enrol-code --valid-for`'s
//! bounds, the plain errors of `enrol` (a mistyped code included), `sync`
//! and `run --no-web` on a device that is not (or cannot be) enrolled, and
//! `run` started before `enrol`, which serves the app and starts syncing once
//! the device is enrolled.

mod common;

use std::collections::BTreeMap;

use chrono::Utc;
use common::{Relay, device, enrol, unsent, wait_for_line};
use redb::{ReadableDatabase, ReadableTableMetadata};
use relay::enrol_code::EnrolCode;
use tests::Cli;

#[test]
fn demo_enrols_ten_centres_and_the_office_sees_them_all() {
    let cli = Cli::new();
    let into = cli.file("demo");
    let into_arg = into.to_str().expect("UTF-8 path");
    let stdout = cli.ok(["demo", "--into", into_arg]);
    assert!(stdout.contains("Ten centres record activities"), "{stdout}");

    let office = into.join("office");
    let merged = Cli::at(&office).list_json(&["--all-centres"]);
    assert_eq!(merged.len(), 30, "{merged:#?}");
    let mut per_centre: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &merged {
        *per_centre
            .entry(a["centre"].as_str().expect("centre"))
            .or_default() += 1;
    }
    assert_eq!(per_centre.len(), 10, "{per_centre:?}");
    assert!(per_centre.values().all(|&n| n == 3), "{per_centre:?}");
    assert!(per_centre.contains_key("Rēzeknes KRC"), "{per_centre:?}");
    // Newest first across centres.
    let dates: Vec<&str> = merged
        .iter()
        .map(|a| a["date"].as_str().expect("date"))
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
    let table = Cli::at(&office).ok(["list", "--all-centres"]);
    assert!(table.starts_with("CENTRE"), "{table}");
    assert!(table.contains("Augšdaugavas KRC"), "{table}");

    // Every centre's device sent everything and is enrolled.
    for n in 1..=10 {
        let centre = Cli::at(into.join(format!("centre-{n:02}")));
        let status = centre.status_json();
        assert_eq!(status["activities"], 3, "{status}");
        assert_eq!(status["unsent"], 0, "{status}");
        assert!(status["enrolment"].is_object(), "{status}");
        // What the office holds for this centre is what the centre holds.
        let own = centre.list_json(&[]);
        for a in &own {
            let at_office = merged
                .iter()
                .find(|m| m["id"] == a["id"])
                .unwrap_or_else(|| panic!("{} is not at the office", a["id"]));
            assert_eq!(at_office["centre"], status["centre"]);
            for field in ["date", "kind", "counts", "place", "institutions"] {
                assert_eq!(at_office[field], a[field], "{field}");
            }
        }
    }
    // The office's correction reached the centre.
    let first = Cli::at(into.join("centre-01")).list_json(&[]);
    assert!(
        first
            .iter()
            .any(|a| a["title"] == "Skolas un ģimenes sadarbība (labots birojā)"),
        "{first:#?}"
    );

    // Running it again into the same folder refuses plainly and breaks nothing.
    let stderr = cli.fails(["demo", "--into", into_arg]);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(Cli::at(&office).list_json(&["--all-centres"]).len(), 30);
}

#[test]
fn list_all_centres_on_a_device_shows_its_own_journal() {
    let cli = Cli::init("Preiļu KRC");
    let id = cli.add([
        "--title",
        "Vienīgā",
        "--kind",
        "seminar",
        "--date",
        "2026-01-01",
    ]);
    let list = cli.list_json(&["--all-centres"]);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["centre"], "Preiļu KRC");
    assert_eq!(list, cli.list_json(&[]));
    cli.ok(["delete", &id]);
    assert!(cli.list_json(&["--all-centres"]).is_empty());
    assert_eq!(cli.list_json(&["--all-centres", "--deleted"]).len(), 1);
}

#[test]
fn sync_and_run_without_the_app_need_an_enrolment_and_say_so() {
    let cli = Cli::init("Ludzas KRC");
    for command in [&["sync"][..], &["run", "--no-web"]] {
        let stderr = cli.fails(command);
        assert!(
            stderr.contains("not enrolled yet; enrol it with `field-client enrol CODE`"),
            "{command:?}: {stderr}"
        );
    }
    // The failed attempt is remembered for `status`.
    let status = cli.status_json();
    assert!(status["enrolment"].is_null(), "{status}");
    assert!(
        status["sync"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("not enrolled")),
        "{status}"
    );
    // Without a journal at all: the init hint. (`run` with the app serves
    // the first-run setup page instead: tests/web_app.rs.)
    let empty = Cli::new();
    for command in [&["sync"][..], &["run", "--no-web"]] {
        let stderr = empty.fails(command);
        assert!(
            stderr.contains("field-client init"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn run_before_enrolment_serves_the_app_and_syncs_once_enrolled() {
    let relay = Relay::start();
    let centre = relay.add_centre("Preiļu KRC");
    let cli = device("Preiļu KRC", "Preiļu dators");
    cli.add([
        "--title",
        "Pirms pieslēgšanas",
        "--kind",
        "meeting",
        "--date",
        "2026-11-02",
    ]);
    let (daemon, stdout, stderr) = common::start_daemon(&cli, &["--web-port", "0"]);
    let said = |lines, needle| {
        wait_for_line(lines, needle, "field-client run").unwrap_or_else(|e| panic!("{e}"))
    };
    said(&stdout, "The app is at http://127.0.0.1:");
    said(&stderr, "not enrolled yet");
    assert_eq!(unsent(&cli), 1);

    // Enrolling while `run` waits: it notices, syncs, and the relay stores
    // the activity recorded before.
    enrol(&cli, &relay.centre_code(centre));
    said(&stderr, "Syncing \"Preiļu KRC\"");
    said(&stderr, "stored");
    drop(daemon);
    assert_eq!(unsent(&cli), 0);
}

#[test]
fn a_bad_enrolment_code_is_refused_and_changes_nothing() {
    let relay = Relay::start();
    let centre = relay.add_centre("Krāslavas KRC");
    let genuine = relay.centre_code(centre);
    let mistyped = mistype_in_fingerprint(&genuine);

    let cli = Cli::init("Krāslavas KRC");
    let id = cli.add([
        "--title",
        "Pirms",
        "--kind",
        "meeting",
        "--date",
        "2026-01-01",
    ]);
    let before = cli.status_json();
    for (code, expected) in [
        ("NAV-KODS", "not an enrolment code (codes start with KRC2-)"),
        ("KRC2-abc", "damaged or incomplete"),
        ("KRC2-", "damaged or incomplete"),
        (
            "KRC1-abc",
            "old format (it starts with KRC1-); ask the office for a new one",
        ),
        (mistyped.as_str(), "the code was mistyped; copy it again"),
    ] {
        let stderr = cli.fails(["enrol", code]);
        assert!(
            stderr.contains("the device was not enrolled"),
            "{code}: {stderr}"
        );
        assert!(stderr.contains(expected), "{code}: {stderr}");
        // Never the alarm a wrong relay key raises.
        assert!(!stderr.contains("intercepting"), "{code}: {stderr}");
        assert!(!stderr.contains("does not match"), "{code}: {stderr}");
    }
    let after = cli.status_json();
    assert_eq!(after["journal_id"], before["journal_id"]);
    assert_eq!(after["centre"], "Krāslavas KRC");
    assert!(after["enrolment"].is_null());
    assert_eq!(cli.list_json(&[])[0]["id"], id.as_str());

    // On a new device a mistyped code must not leave a journal behind: the
    // person can still `init`, or enrol with the right code.
    let fresh = Cli::new();
    for (code, expected) in [
        ("KRC2-abc", "damaged or incomplete"),
        (mistyped.as_str(), "mistyped"),
    ] {
        let stderr = fresh.fails(["enrol", code]);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(
            !fresh.store_path().exists(),
            "a refused code left a journal behind"
        );
    }
    fresh.ok(["init", "--centre", "Dagdas KRC"]);
    assert_eq!(fresh.status_json()["centre"], "Dagdas KRC");

    // The mistyped copy spent nothing: the code as given still enrols, and
    // the activity recorded before is kept.
    enrol(&cli, &genuine);
    let enrolled = cli.status_json();
    assert!(enrolled["enrolment"].is_object(), "{enrolled}");
    assert_eq!(cli.list_json(&[])[0]["id"], id.as_str());
}

/// `code` with one character of its relay key fingerprint changed, past the
/// fingerprint's 16th hex digit: without a checksum this decoded into another
/// key, one that even looked the same in the first 16 digits a mismatch showed.
fn mistype_in_fingerprint(code: &str) -> String {
    let decoded = EnrolCode::decode(code).expect("the relay printed a valid code");
    const PREFIX: usize = "KRC2-".len();
    // Byte 20 of the fingerprint, after the length byte and the address.
    let byte = 1 + decoded.relay.len() + 20;
    let at = PREFIX + byte * 8 / 5 + 1;
    let mut chars: Vec<char> = code.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let mistyped: String = chars.into_iter().collect();
    assert_ne!(mistyped, code);
    mistyped
}

// Unix: it stops the relay with SIGTERM (`Relay::stop`).
#[cfg(unix)]
#[test]
fn enrol_codes_are_valid_for_one_minute_to_ninety_days() {
    let mut relay = Relay::start();
    let centre = relay.add_centre("Balvu KRC").to_string();
    let code_for = |valid_for: &str| {
        relay.admin_run(["enrol-code", "--centre", &centre, "--valid-for", valid_for])
    };

    for refused in ["30s", "0s", "59s", "91days", "90days 1s", "100years"] {
        let run = code_for(refused);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "--valid-for {refused} was accepted");
        assert!(
            stderr.contains("an enrolment code can be valid for 1 minute to 90 days"),
            "--valid-for {refused}: {stderr}"
        );
        assert!(
            run.stdout.is_empty(),
            "--valid-for {refused} printed a code: {}",
            String::from_utf8_lossy(&run.stdout)
        );
    }

    // The bounds themselves are accepted and give codes valid that long.
    let mut accepted = Vec::new();
    for (valid_for, length) in [
        ("1min", chrono::Duration::minutes(1)),
        ("90days", chrono::Duration::days(90)),
    ] {
        let from = Utc::now();
        let run = code_for(valid_for);
        let to = Utc::now();
        let stdout = String::from_utf8_lossy(&run.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "--valid-for {valid_for}: {stderr}");
        EnrolCode::decode(&stdout).expect("a valid code");
        let until = valid_until(&stderr);
        let earliest = (from + length).naive_utc() - chrono::Duration::minutes(1);
        let latest = (to + length).naive_utc();
        assert!(
            earliest < until && until <= latest,
            "--valid-for {valid_for}: valid until {until}, expected {from} + {length}"
        );
        accepted.push(stdout);
    }
    // A 90-day code enrols a device.
    let cli = device("Balvu KRC", "Balvu dators");
    enrol(&cli, &accepted[1]);

    // The registry holds exactly the two codes printed: a refused value made
    // none (table `enrol_codes-v1` in relay/src/registry.rs).
    relay.stop();
    let registry = redb::ReadOnlyDatabase::open(relay.data_dir().join("registry.redb"))
        .expect("open the relay's registry");
    let table: redb::TableDefinition<&[u8; 32], &[u8]> =
        redb::TableDefinition::new("enrol_codes-v1");
    let codes = registry
        .begin_read()
        .expect("read the registry")
        .open_table(table)
        .expect("the codes table")
        .len()
        .expect("count the codes");
    assert_eq!(codes, 2);
}

/// The time in `relay enrol-code`'s "…, valid until YYYY-MM-DD HH:MM UTC.".
fn valid_until(stderr: &str) -> chrono::NaiveDateTime {
    let (_, after) = stderr
        .split_once("valid until ")
        .unwrap_or_else(|| panic!("no validity in {stderr:?}"));
    let text = after.get(..16).unwrap_or_else(|| panic!("{stderr:?}"));
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
}
