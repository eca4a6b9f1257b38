//! The office's report for funders, end to end: three centres record varied
//! activities and sync; the office device syncs and writes the report for a
//! quarter as CSV, JSON and XLSX. Every figure, read back from each file (the
//! workbook with `calamine`), equals the figure computed here from the raw
//! records the office holds.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use calamine::{Data, Reader, Xlsx, open_workbook};
use common::{Relay, enrol, sync_ok};
use serde_json::{Value, json};
use tests::Rng;

const CENTRES: [&str; 3] = ["Daugavpils KRC", "Rēzeknes KRC", "Krāslavas KRC"];
const GROUPS: [&str; 8] = [
    "teachers",
    "children_and_youth",
    "parents",
    "municipal_staff",
    "ngo_representatives",
    "media",
    "volunteers",
    "other",
];
const INSTITUTIONS: [&str; 7] = [
    "20.PII",
    "20.pii",
    "13.vsk",
    "11.psk",
    "Daugavpils BJC",
    "daugavpils  bjc",
    "Izglītības pārvalde",
];
const KINDS: [&str; 4] = ["seminar", "workshop", "community_initiative", "event"];

/// `n` varied activities over 2026, as import rows.
fn records(rng: &mut Rng, n: usize) -> Vec<Value> {
    (0..n)
        .map(|k| {
            let counts: serde_json::Map<String, Value> = GROUPS
                .iter()
                .map(|g| ((*g).to_owned(), json!(rng.below(4) * rng.below(25))))
                .collect();
            let institutions: Vec<&str> = (0..rng.below(3))
                .map(|_| INSTITUTIONS[rng.below(INSTITUTIONS.len() as u64) as usize])
                .collect();
            json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "title": format!("Aktivitāte {k}: ģimeņu un skolu sadarbība"),
                "kind": KINDS[rng.below(4) as usize],
                "date": format!("2026-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28)),
                "hours": (1 + rng.below(12)) as f64 / 2.0,
                "institutions": institutions,
                "counts": counts,
            })
        })
        .collect()
}

/// Figures computed directly from `list --all-centres --json` rows.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    activities: f64,
    hours: f64,
    groups: Vec<f64>,
    participants: f64,
    institutions: BTreeSet<String>,
}

fn expected(rows: &[Value], from: &str, to: &str) -> BTreeMap<String, Expected> {
    let mut by_centre: BTreeMap<String, Expected> = BTreeMap::new();
    for row in rows {
        let date = row["date"].as_str().expect("date");
        if row["deleted"] == json!(true) || date < from || date > to {
            continue;
        }
        for key in [row["centre"].as_str().expect("centre"), "TOTAL"] {
            let e = by_centre.entry(key.to_owned()).or_default();
            e.groups.resize(GROUPS.len(), 0.0);
            e.activities += 1.0;
            e.hours += row["hours"].as_f64().unwrap_or(0.0);
            for (i, g) in GROUPS.iter().enumerate() {
                let n = row["counts"][g].as_f64().expect("count");
                e.groups[i] += n;
                e.participants += n;
            }
            for name in row["institutions"].as_array().expect("institutions") {
                let name = name.as_str().expect("name").to_lowercase();
                e.institutions.insert(name.split_whitespace().collect());
            }
        }
    }
    by_centre
}

/// One row of the report's totals table as numbers, in the file's order.
fn as_numbers(e: &Expected) -> Vec<f64> {
    let mut numbers = vec![e.activities, e.hours];
    numbers.extend(&e.groups);
    numbers.extend([e.participants, e.institutions.len() as f64]);
    numbers
}

#[test]
fn the_quarter_report_matches_the_raw_records_in_csv_json_and_xlsx() {
    let relay = Relay::start();
    let office = common::device("IIC birojs", "office");
    enrol(&office, &relay.office_code());
    let mut rng = Rng::new(Rng::seed_from_env("REPORT_SEED"));
    for name in CENTRES {
        let centre = relay.add_centre(name);
        let device = common::device(name, &format!("{name} laptop"));
        enrol(&device, &relay.centre_code(centre));
        let path = device.file("activities.json");
        let rows = records(&mut rng, 60);
        std::fs::write(&path, serde_json::to_string(&rows).expect("json")).expect("write");
        device.ok([std::ffi::OsStr::new("import"), path.as_os_str()]);
        // A deleted activity is not counted.
        device.ok(["delete", rows[0]["id"].as_str().expect("id")]);
        sync_ok(&device);
    }
    sync_ok(&office);
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
        .map(|r| r[2].to_string())
        .collect();
    assert!(
        titles
            .iter()
            .all(|t| t.contains("ģimeņu un skolu sadarbība")),
        "Latvian text survives"
    );
}

fn assert_close(
    seen: &BTreeMap<String, Vec<f64>>,
    wanted: &BTreeMap<String, Vec<f64>>,
    what: &str,
) {
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        wanted.keys().collect::<Vec<_>>(),
        "{what}: centres"
    );
    for (centre, numbers) in wanted {
        let got = &seen[centre];
        assert_eq!(got.len(), numbers.len(), "{what}: {centre}");
        for (g, w) in got.iter().zip(numbers) {
            assert!(
                (g - w).abs() < 1e-9,
                "{what}: {centre}: {got:?} != {numbers:?}"
            );
        }
    }
}
