//! Centres record offline, enrol and sync with a real relay process: the
//! office sees every centre's activities, each centre only its own, and
//! nothing recorded before enrolment is lost.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tests::Cli;
use uuid::Uuid;

use common::{Relay, by_id, device, enrol, row_id, sync_ok, unsent};

/// Ten of Latgale's centres (with Latvian letters, as the relay stores them).
const CENTRES: [&str; 10] = common::LATGALE_CENTRES;

const TOPICS: [&str; 5] = [
    "Skolotāja loma vietējās kopienas attīstībā",
    "Ģimeņu darbnīca: čūskas un ēdiens",
    "Jauniešu iniciatīva „Ķepa”",
    "Pašvaldības darbinieku mācības",
    "Šūšanas pulciņš žurnālistiem",
];

/// What one centre's device recorded: id → title.
#[derive(Debug)]
struct CentreDevice {
    centre: &'static str,
    cli: Cli,
    titles: BTreeMap<String, String>,
}

/// Records 3–5 activities on a new, not yet enrolled device of `centre`.
fn record_offline(index: usize, centre: &'static str) -> CentreDevice {
    let cli = device(centre, &format!("{centre} dators"));
    let mut titles = BTreeMap::new();
    for k in 0..3 + index % 3 {
        let title = format!("{} — {centre}, nr. {k}", TOPICS[(index + k) % TOPICS.len()]);
        let id = cli.add([
            "--title",
            &title,
            "--kind",
            "seminārs",
            "--date",
            &format!("2026-0{}-1{k}", 1 + index % 9),
            "--place",
            "Saules iela 5, Ērgļu zāle",
            "--count",
            &format!("teachers={}", index + k),
            "--count",
            &format!("vecāki={}", k + 1),
        ]);
        titles.insert(id, title);
    }
    let before_enrolment: BTreeSet<String> = cli.list_json(&[]).iter().map(row_id).collect();
    assert_eq!(
        before_enrolment,
        titles.keys().cloned().collect(),
        "{centre}: list before enrolment"
    );
    CentreDevice {
        centre,
        cli,
        titles,
    }
}

#[test]
fn ten_centres_sync_office_sees_all_and_each_centre_only_its_own() {
    let relay = Relay::start();
    let codes: Vec<(&'static str, String)> = CENTRES
        .iter()
        .map(|name| (*name, relay.centre_code(relay.add_centre(name))))
        .collect();
    let office_code = relay.office_code();

    // Every centre records offline, then enrols and syncs; all at once.
    let devices: Vec<CentreDevice> = std::thread::scope(|scope| {
        let handles: Vec<_> = codes
            .iter()
            .enumerate()
            .map(|(i, (centre, code))| {
                scope.spawn(move || {
                    let d = record_offline(i, centre);
                    enrol(&d.cli, code);
                    let (sent, _) = sync_ok(&d.cli);
                    assert!(
                        sent >= d.titles.len(),
                        "{centre}: sent {sent} changes for {} activities",
                        d.titles.len()
                    );
                    d
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a centre's thread panicked"))
            .collect()
    });

    let office = device("Centrālais birojs", "Biroja dators");
    enrol(&office, &office_code);
    sync_ok(&office);

    // The office: exactly every activity of every centre, with its centre.
    let expected: BTreeMap<String, (&str, &str)> = devices
        .iter()
        .flat_map(|d| {
            d.titles
                .iter()
                .map(move |(id, title)| (id.clone(), (d.centre, title.as_str())))
        })
        .collect();
    assert!(expected.len() >= 30);
    let at_office = by_id(office.list_json(&["--all-centres"]));
    assert_eq!(
        at_office.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the office's activities are not exactly every centre's"
    );
    for (id, (centre, title)) in &expected {
        let row = &at_office[id];
        assert_eq!(row["title"], *title, "title of {id} at the office");
        assert_eq!(row["centre"], *centre, "centre of {id} at the office");
    }

    // Each centre: exactly its own activities, no other centre's journal.
    for d in &devices {
        sync_ok(&d.cli);
        let own = by_id(d.cli.list_json(&[]));
        assert_eq!(
            own.keys().collect::<BTreeSet<_>>(),
            d.titles.keys().collect::<BTreeSet<_>>(),
            "{}: its list is not exactly its own activities",
            d.centre
        );
        for (id, row) in &own {
            assert_eq!(row["centre"], d.centre, "{}: centre of {id}", d.centre);
            assert_eq!(row["title"], d.titles[id].as_str(), "{}: {id}", d.centre);
        }
        let every_journal = by_id(d.cli.list_json(&["--all-centres"]));
        assert_eq!(
            every_journal.keys().collect::<Vec<_>>(),
            own.keys().collect::<Vec<_>>(),
            "{}: holds activities of another centre",
            d.centre
        );
        let status = d.cli.status_json();
        assert_eq!(status["unsent"], 0, "{}: status {status}", d.centre);
        assert_eq!(status["centre"], d.centre, "{}: status {status}", d.centre);
    }
    assert_eq!(unsent(&office), 0, "the office has unsent changes");
}

/// Every field of a `list --json` row except its centre (which enrolment
/// changes from the locally typed name to the relay's).
fn without_centre(row: &Value) -> Value {
    let mut row = row.clone();
    row.as_object_mut()
        .expect("a row is an object")
        .remove("centre");
    row
}

#[test]
fn activities_recorded_before_enrolment_are_kept_on_the_device_and_reach_the_office() {
    let relay = Relay::start();
    let centre = relay.add_centre("Krāslavas KRC");
    let code = relay.centre_code(centre);

    // Typed locally before the office told the centre's official name.
    let cli = device("Krāslavas centrs", "Krāslavas klēpjdators");
    let mut ids = Vec::new();
    for (k, title) in TOPICS.iter().enumerate().take(4) {
        ids.push(cli.add([
            "--title",
            title,
            "--kind",
            "darbnīca",
            "--date",
            &format!("2026-02-0{}", k + 1),
            "--start",
            "14:00",
            "--hours",
            "2.5",
            "--place",
            "Krāslavas pils, Ģerboņu zāle",
            "--organiser",
            "Inese Kalniņa",
            "--organiser",
            "Jānis Ūdris",
            "--institution",
            "13.vsk",
            "--count",
            &format!("pedagogi={}", 10 + k),
            "--count",
            "bērni un jaunieši=4",
            "--description",
            "Apraksts: ķiršu čūskas, ģērbšanās, šūšana",
            "--notes",
            "Nākamā tikšanās jūnijā",
        ]));
    }
    let recorded = by_id(cli.list_json(&[]));
    assert_eq!(
        recorded.keys().cloned().collect::<BTreeSet<_>>(),
        ids.iter().cloned().collect(),
        "list before enrolment"
    );

    enrol(&cli, &code);
    let after_enrolment = by_id(cli.list_json(&[]));
    assert_eq!(
        after_enrolment.keys().collect::<Vec<_>>(),
        recorded.keys().collect::<Vec<_>>(),
        "enrolment lost or added activities"
    );
    for (id, row) in &after_enrolment {
        assert_eq!(
            without_centre(row),
            without_centre(&recorded[id]),
            "enrolment changed activity {id}"
        );
        assert_eq!(
            row["centre"], "Krāslavas KRC",
            "centre of {id} after enrolment"
        );
    }

    sync_ok(&cli);
    assert_eq!(unsent(&cli), 0, "unsent after sync");
    let after_sync = by_id(cli.list_json(&[]));
    assert_eq!(
        after_sync, after_enrolment,
        "sync changed the device's activities"
    );

    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    let at_office: BTreeMap<String, Value> = by_id(office.list_json(&["--all-centres"]));
    assert_eq!(
        at_office, after_sync,
        "the office does not hold exactly what the device recorded"
    );
    let status = cli.status_json();
    assert_eq!(
        status["journal_id"],
        centre.to_string(),
        "the device's journal is not the centre's: {status}"
    );
    assert!(Uuid::parse_str(status["device_id"].as_str().unwrap_or("")).is_ok());
}
