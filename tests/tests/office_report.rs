//! The office's report for funders, end to end: three centres record varied
//! activities and sync; the office device syncs and writes the report for a
//! quarter as CSV, JSON and XLSX. Every figure, read back from each file (the
//! workbook with `calamine`), equals the figure computed here from the raw
//! records the office holds.

mod common;

use std::collections::BTreeMap;

use calamine::{Data, Reader, Xlsx, open_workbook};
use common::office::{GROUPS, as_numbers, assert_close, expected, office_with_three_centres};
use serde_json::Value;
use tests::Cli;

#[test]
fn the_quarter_report_matches_the_raw_records_in_csv_json_and_xlsx() {
    let (_relay, office, _) = office_with_three_centres("REPORT_SEED");
    let raw = office.list_json(&["--all-centres", "--all"]);
    assert_eq!(raw.len(), 180);
    let (from, to) = ("2026-04-01", "2026-06-30");
    let want = expected(&raw, from, to);
    assert!(want["TOTAL"].activities > 20.0, "the quarter has data");

    let report = |format: &str, file: &str| {
        let out = office.file(file);
        office.ok([
            "report",
            "--from",
            from,
            "--to",
            to,
            "--format",
            format,
            "--out",
            out.to_str().expect("path"),
        ]);
        out
    };

    // CSV: a header row, then one row per centre and the total.
    let csv = std::fs::read_to_string(report("csv", "q2.csv")).expect("csv");
    let csv = csv
        .strip_prefix('\u{feff}')
        .expect("UTF-8 with BOM, for Excel");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let mut seen = BTreeMap::new();
    for record in reader.records() {
        let record = record.expect("row");
        let numbers: Vec<f64> = record
            .iter()
            .skip(1)
            .map(|c| c.parse().expect("number"))
            .collect();
        seen.insert(record[0].to_owned(), numbers);
    }
    let wanted: BTreeMap<String, Vec<f64>> = want
        .iter()
        .map(|(k, e)| (k.clone(), as_numbers(e)))
        .collect();
    assert_close(&seen, &wanted, "CSV");

    // JSON: the same totals.
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(report("json", "q2.json")).expect("json"))
            .expect("parse");
    let total = &json["total"];
    assert_eq!(total["activities"].as_f64(), Some(want["TOTAL"].activities));
    assert_eq!(
        total["total_participants"].as_f64(),
        Some(want["TOTAL"].participants)
    );
    assert_eq!(
        total["institutions"].as_f64(),
        Some(want["TOTAL"].institutions.len() as f64)
    );

    // XLSX: the report sheet's table and the activities sheet's rows.
    let mut book: Xlsx<_> = open_workbook(report("xlsx", "q2.xlsx")).expect("a real XLSX workbook");
    let sheet = book.worksheet_range("Report").expect("Report sheet");
    let mut seen = BTreeMap::new();
    for row in sheet.rows() {
        let (Some(Data::String(name)), true) = (row.first(), row.len() > 2) else {
            continue;
        };
        let numbers: Vec<f64> = row[1..]
            .iter()
            .filter_map(|c| match c {
                Data::Float(f) => Some(*f),
                Data::Int(i) => Some(*i as f64),
                _ => None,
            })
            .collect();
        if numbers.len() == GROUPS.len() + 4 {
            seen.insert(name.clone(), numbers);
        }
    }
    assert_close(&seen, &wanted, "XLSX Report sheet");
    let activities = book
        .worksheet_range("Activities")
        .expect("Activities sheet");
    assert_eq!(
        activities.height() as f64,
        want["TOTAL"].activities + 1.0,
        "a header and one row per activity"
    );
    let titles: Vec<String> = activities
        .rows()
        .skip(1)
        .map(|r| r[1].to_string())
        .collect();
    assert!(
        titles
            .iter()
            .all(|t| t.contains("ģimeņu un skolu sadarbība")),
        "Latvian text survives"
    );
    in_latvian(&office, (from, to), &wanted);
}

/// The same report in Latvian: column, sheet and row names in Latvian, kinds
/// by their names, dates as date cells; a CSV as Excel with Latvian settings
/// reads it (semicolons, decimal commas).
fn in_latvian(office: &Cli, (from, to): (&str, &str), wanted: &BTreeMap<String, Vec<f64>>) {
    let file = |name: &str| office.file(name).to_str().expect("path").to_owned();
    let (csv, xlsx) = (file("q2-lv.csv"), file("q2-lv.xlsx"));
    for (format, out) in [("csv", &csv), ("xlsx", &xlsx)] {
        office.ok([
            "report", "--from", from, "--to", to, "--format", format, "--out", out, "--lang", "lv",
        ]);
    }
    let text = std::fs::read_to_string(&csv).expect("csv");
    let text = text.strip_prefix('\u{feff}').expect("BOM");
    assert!(
        text.starts_with("Centrs;Aktivitātes;Stundas;Pedagogi;Bērni un jaunieši;"),
        "{text}"
    );
    let mut seen = BTreeMap::new();
    for record in csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes())
        .records()
    {
        let record = record.expect("row");
        let numbers: Vec<f64> = record
            .iter()
            .skip(1)
            .map(|c| c.replace(',', ".").parse().expect("number"))
            .collect();
        let name = match &record[0] {
            "KOPĀ" => "TOTAL".to_owned(),
            other => other.to_owned(),
        };
        seen.insert(name, numbers);
    }
    assert_close(&seen, wanted, "Latvian CSV");
    let mut book: Xlsx<_> = open_workbook(&xlsx).expect("a real XLSX workbook");
    let report = book.worksheet_range("Pārskats").expect("Pārskats sheet");
    assert!(
        matches!(report.get((0, 1)), Some(Data::DateTime(_))),
        "the period's dates are date cells: {:?}",
        report.get((0, 1))
    );
    let activities = book
        .worksheet_range("Aktivitātes")
        .expect("Aktivitātes sheet");
    let header: Vec<String> = activities
        .rows()
        .next()
        .expect("header")
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[..4], ["Centrs", "Nosaukums", "Veids", "Datums"]);
    assert!(
        !header.iter().any(|h| h == "ID" || h == "Dzēsts"),
        "no internal columns: {header:?}"
    );
    for row in activities.rows().skip(1) {
        assert!(
            matches!(row[3], Data::DateTime(_)),
            "a date cell: {:?}",
            row[3]
        );
        let kind = row[2].to_string();
        assert!(
            [
                "Seminārs",
                "Darbnīca",
                "Apmācība",
                "Konsultācija",
                "Kopienas iniciatīva",
                "Pasākums",
                "Sanāksme",
                "Simpozijs",
                "Cits"
            ]
            .contains(&kind.as_str()),
            "a kind by its name: {kind}"
        );
    }
}

/// The id of a centre, from `relay centre list`.
fn centre_id(relay: &common::Relay, name: &str) -> String {
    relay
        .admin(["centre", "list"])
        .lines()
        .find(|l| l.contains(name))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{name} is not listed"))
        .to_owned()
}

#[test]
fn reports_by_municipality_count_their_centres_activities() {
    let (relay, office, _) = office_with_three_centres("MUNICIPALITY_SEED");
    // Set at the relay; the office learns it at its next sync.
    for (centre, municipality) in [
        ("Daugavpils KRC", "Daugavpils"),
        ("Krāslavas KRC", "Krāslavas novads"),
    ] {
        relay.admin([
            "centre",
            "set-municipality",
            &centre_id(&relay, centre),
            municipality,
        ]);
    }
    assert!(
        relay
            .admin(["centre", "list"])
            .contains("Krāslavas KRC  [Krāslavas novads]")
    );
    common::sync_ok(&office);
    let raw = office.list_json(&["--all-centres", "--all"]);
    let (from, to) = ("2026-01-01", "2026-12-31");
    let want = expected(&raw, from, to);
    let report = |extra: &[&str]| -> Value {
        let mut args = vec!["report", "--from", from, "--to", to, "--format", "json"];
        args.extend(extra);
        serde_json::from_str(&office.ok(args)).expect("JSON")
    };

    // A year for every centre: each municipality's row is its centre's.
    let year = report(&[]);
    let municipalities = year["municipalities"].as_object().expect("municipalities");
    assert_eq!(
        municipalities.keys().collect::<Vec<_>>(),
        ["Daugavpils", "Krāslavas novads"],
        "Rēzeknes KRC has no municipality: in no row"
    );
    for (municipality, centre) in [
        ("Daugavpils", "Daugavpils KRC"),
        ("Krāslavas novads", "Krāslavas KRC"),
    ] {
        let row = &municipalities[municipality];
        assert_eq!(row["activities"].as_f64(), Some(want[centre].activities));
        assert_eq!(
            row["total_participants"].as_f64(),
            Some(want[centre].participants)
        );
    }

    // One municipality: only its centre is counted.
    let one = report(&["--municipality", "Krāslavas novads"]);
    let centres: Vec<&String> = one["centres"]
        .as_object()
        .expect("centres")
        .keys()
        .collect();
    assert_eq!(centres, ["Krāslavas KRC"]);
    assert_eq!(
        one["total"]["activities"].as_f64(),
        Some(want["Krāslavas KRC"].activities)
    );
    // The CSV carries the municipality rows too.
    let csv = office.ok(["report", "--from", from, "--to", to, "--format", "csv"]);
    assert!(csv.contains("\nMunicipality: Daugavpils,"), "{csv}");
}
