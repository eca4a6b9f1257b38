//! Concurrent edits through a real relay: the office and a centre change
//! different fields of one activity while apart, and two devices of one
//! centre record, edit and delete while apart; after syncing, every side holds
//! both changes.

mod common;

use serde_json::Value;

use common::{Relay, by_id, device, enrol, show, sync_ok, unsent};

const CENTRE: &str = "Rēzeknes KRC";

#[test]
fn office_title_edit_and_centre_count_edit_of_one_activity_both_survive() {
    let relay = Relay::start();
    let centre = relay.add_centre(CENTRE);

    let at_centre = device(CENTRE, "Rēzeknes dators");
    let id = at_centre.add([
        "--title",
        "Ģimeņu darbnīca",
        "--kind",
        "workshop",
        "--date",
        "2026-04-18",
        "--place",
        "Atbrīvošanas aleja 98, Rēzekne",
        "--count",
        "teachers=5",
        "--count",
        "parents=2",
    ]);
    enrol(&at_centre, &relay.centre_code(centre));
    sync_ok(&at_centre);

    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    assert_eq!(show(&office, &id)["title"], "Ģimeņu darbnīca");

    // The office corrects the title and syncs; the centre, not syncing
    // meanwhile, corrects the teachers' count of the same activity.
    let new_title = "Ģimeņu darbnīca „Čaklās rūķīšu rokas”";
    office.ok(["edit", &id, "--title", new_title]);
    sync_ok(&office);
    at_centre.ok(["edit", &id, "--count", "teachers=12"]);
    assert_eq!(show(&at_centre, &id)["title"], "Ģimeņu darbnīca");

    let (sent, received) = sync_ok(&at_centre);
    assert!(sent >= 1, "the centre sent {sent} changes");
    assert!(received >= 1, "the centre received {received} changes");
    sync_ok(&office);

    let centre_view = show(&at_centre, &id);
    let office_view = show(&office, &id);
    for (side, view) in [("centre", &centre_view), ("office", &office_view)] {
        assert_eq!(view["title"], new_title, "{side}: title");
        assert_eq!(view["counts"]["teachers"], 12, "{side}: teachers");
        assert_eq!(view["counts"]["parents"], 2, "{side}: parents");
        assert_eq!(view["total_participants"], 14, "{side}: total");
        assert_eq!(view["place"], "Atbrīvošanas aleja 98, Rēzekne", "{side}");
        assert_eq!(view["centre"], CENTRE, "{side}: centre");
    }
    assert_eq!(
        centre_view, office_view,
        "the centre and the office disagree"
    );
    assert_eq!(unsent(&at_centre), 0);
    assert_eq!(unsent(&office), 0);
}

/// `list --json --all` (deleted ones too) on a centre's device.
fn everything(cli: &tests::Cli) -> std::collections::BTreeMap<String, Value> {
    by_id(cli.list_json(&["--all"]))
}

#[test]
fn two_devices_of_one_centre_converge() {
    let relay = Relay::start();
    let centre = relay.add_centre(CENTRE);

    // Both devices record before enrolling.
    let first = device(CENTRE, "Klēpjdators");
    let second = device(CENTRE, "Planšete");
    let mut first_ids = Vec::new();
    for k in 0..3 {
        first_ids.push(first.add([
            "--title",
            &format!("Pirmā ierīce: semināru cikls, {k}. daļa"),
            "--kind",
            "seminārs",
            "--date",
            &format!("2026-05-0{}", k + 1),
            "--count",
            "teachers=7",
        ]));
    }
    let second_ids: Vec<String> = (0..2)
        .map(|k| {
            second.add([
                "--title",
                &format!("Otrā ierīce: jauniešu tikšanās ķēķī, {k}"),
                "--kind",
                "meeting",
                "--date",
                &format!("2026-06-1{k}"),
                "--count",
                "children_and_youth=15",
            ])
        })
        .collect();

    enrol(&first, &relay.centre_code(centre));
    enrol(&second, &relay.centre_code(centre));
    sync_ok(&first);
    sync_ok(&second);
    sync_ok(&first);
    let all_ids: std::collections::BTreeSet<&String> =
        first_ids.iter().chain(&second_ids).collect();
    for (name, cli) in [("first", &first), ("second", &second)] {
        let listed = everything(cli);
        assert_eq!(
            listed.keys().collect::<std::collections::BTreeSet<_>>(),
            all_ids,
            "{name} device after the first syncs"
        );
    }

    // Apart again: the first renames activity 0; the second changes its count
    // and deletes the first device's activity 1, then records one more.
    first.ok([
        "edit",
        &first_ids[0],
        "--title",
        "Semināru cikls — pārcelts",
    ]);
    second.ok(["edit", &first_ids[0], "--count", "teachers=9"]);
    second.ok(["delete", &first_ids[1]]);
    let late = second.add([
        "--title",
        "Vēlais ieraksts: šūšanas pulciņš",
        "--kind",
        "workshop",
        "--date",
        "2026-07-01",
    ]);
    sync_ok(&first);
    sync_ok(&second);
    sync_ok(&first);

    let on_first = everything(&first);
    let on_second = everything(&second);
    assert_eq!(on_first, on_second, "the two devices disagree");
    assert_eq!(on_first.len(), all_ids.len() + 1);
    assert!(on_first.contains_key(&late));
    let renamed = &on_first[&first_ids[0]];
    assert_eq!(renamed["title"], "Semināru cikls — pārcelts");
    assert_eq!(renamed["counts"]["teachers"], 9);
    assert_eq!(on_first[&first_ids[1]]["deleted"], true);
    let deleted: Vec<String> = first
        .list_json(&["--deleted"])
        .iter()
        .map(common::row_id)
        .collect();
    assert_eq!(deleted, vec![first_ids[1].clone()]);

    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    let at_office = by_id(office.list_json(&["--all-centres", "--all"]));
    assert_eq!(at_office, on_first, "the office disagrees with the centre");
    for cli in [&first, &second, &office] {
        assert_eq!(unsent(cli), 0);
    }
}
