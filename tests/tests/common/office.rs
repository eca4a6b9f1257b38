//! Three centres' varied records and the office that holds them all, for the
//! report tests; and the report's figures computed straight from raw records.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tests::{Cli, Rng};

use super::{Relay, enrol, sync_ok};

pub(crate) const CENTRES: [&str; 3] = ["Daugavpils KRC", "Rēzeknes KRC", "Krāslavas KRC"];
pub(crate) const GROUPS: [&str; 8] = [
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
pub(crate) fn records(rng: &mut Rng, n: usize) -> Vec<Value> {
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
pub(crate) struct Expected {
    pub(crate) activities: f64,
    pub(crate) hours: f64,
    pub(crate) groups: Vec<f64>,
    pub(crate) participants: f64,
    pub(crate) institutions: BTreeSet<String>,
}

pub(crate) fn expected(rows: &[Value], from: &str, to: &str) -> BTreeMap<String, Expected> {
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
pub(crate) fn as_numbers(e: &Expected) -> Vec<f64> {
    let mut numbers = vec![e.activities, e.hours];
    numbers.extend(&e.groups);
    numbers.extend([e.participants, e.institutions.len() as f64]);
    numbers
}

/// A relay, an office device, and three centres that each recorded 60 varied
/// activities (one deleted) and synced; the office has synced them all.
/// Returns the relay, the office and the centres' devices.
pub(crate) fn office_with_three_centres(seed_var: &str) -> (Relay, Cli, Vec<Cli>) {
    let relay = Relay::start();
    let office = super::device("IIC birojs", "office");
    enrol(&office, &relay.office_code());
    let seed = Rng::seed_from_env(seed_var);
    // Shown with a failure's output: the same records come back with it.
    eprintln!("the centres' records: {seed_var}={seed}");
    let mut rng = Rng::new(seed);
    let mut devices = Vec::new();
    for name in CENTRES {
        let centre = relay.add_centre(name);
        let device = super::device(name, &format!("{name} laptop"));
        enrol(&device, &relay.centre_code(centre));
        let path = device.file("activities.json");
        let rows = records(&mut rng, 60);
        std::fs::write(&path, serde_json::to_string(&rows).expect("json")).expect("write");
        device.ok([std::ffi::OsStr::new("import"), path.as_os_str()]);
        // A deleted activity is not counted.
        device.ok(["delete", rows[0]["id"].as_str().expect("id")]);
        sync_ok(&device);
        devices.push(device);
    }
    sync_ok(&office);
    (relay, office, devices)
}

/// Every centre's row (and the total's) of a totals table, as read from a file.
pub(crate) fn assert_close(
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
