//! `field-client demo`: shows what the client does, in a fresh folder, with
//! realistic sample activities from a Latgale resource centre.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::Utc;
use sync_core::{ActivityId, ActivityInput, NewStore, Replica};

use crate::interchange::export::{ActivityRow, write_csv};
use crate::output;

/// (title, kind, date, start, hours, place, institutions, counts)
type Sample = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, u32)],
);

const SAMPLES: &[Sample] = &[
    (
        "Skolotāja loma vietējās kopienas attīstībā",
        "seminar",
        "2026-03-12",
        "14:00",
        "3",
        "BJC \"Mezgls\", Smilšu iela 92",
        &["13.vsk", "11.psk"],
        &[("teachers", 18), ("municipal_staff", 2)],
    ),
    (
        "Vietējā un globālā kopiena",
        "seminar",
        "2026-03-19",
        "17:30",
        "2",
        "Daugavpils, Smilšu iela 92",
        &[],
        &[
            ("volunteers", 9),
            ("parents", 6),
            ("ngo_representatives", 3),
        ],
    ),
    (
        "Skolas un ģimenes sadarbība",
        "training",
        "2026-04-02",
        "15:00",
        "6",
        "20.PII zāle",
        &["20.PII"],
        &[("teachers", 22), ("parents", 4)],
    ),
    (
        "Es savai kopienai",
        "workshop",
        "2026-04-16",
        "16:00",
        "2,5",
        "Krāslavas jauniešu centrs",
        &["Krāslavas novada pašvaldība"],
        &[("children_and_youth", 14), ("volunteers", 5)],
    ),
    (
        "Sociālā uzņēmējdarbība",
        "workshop",
        "2026-05-07",
        "10:00",
        "4",
        "Preiļu bibliotēka",
        &["NVO \"Līdzās\""],
        &[("ngo_representatives", 7), ("other", 3), ("media", 1)],
    ),
    (
        "Resursu centra atklāšana",
        "event",
        "2026-05-21",
        "12:00",
        "2",
        "Ludzas kultūras nams",
        &["Ludzas novada pašvaldība", "13.vsk"],
        &[
            ("children_and_youth", 40),
            ("parents", 25),
            ("municipal_staff", 6),
            ("media", 2),
        ],
    ),
];

pub fn run(data_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let store = data_dir.join(crate::commands::STORE_FILE);
    let mut replica = Replica::create(
        &store,
        NewStore {
            centre: "Daugavpils KRC",
            device_name: "demo laptop",
        },
    )
    .context("cannot create the demo journal")?;
    println!(
        "Recording {} activities offline in {} ...",
        SAMPLES.len(),
        data_dir.display()
    );
    let mut ids = Vec::new();
    for s in SAMPLES {
        let input = sample_input(s);
        let patch = input.parse().context("a sample activity is invalid")?;
        ids.push(replica.add(ActivityId::new_random(), &patch, Utc::now())?);
    }
    let correction = ActivityInput {
        counts: vec![("teachers".into(), "19".into())],
        ..Default::default()
    };
    replica.edit(ids[0], &correction.parse()?, Utc::now())?;
    println!(
        "Corrected the teacher count of \"{}\" (19, not 18).",
        SAMPLES[0].0
    );
    replica.set_deleted(ids[4], true, Utc::now())?;
    replica.set_deleted(ids[4], false, Utc::now())?;
    println!("Deleted \"{}\" by mistake and restored it.\n", SAMPLES[4].0);
    let activities = replica.activities()?;
    output::write_table(&mut std::io::stdout().lock(), &activities)?;
    let csv = data_dir.join("activities.csv");
    let centre = replica.info()?.centre;
    let rows = activities.iter().map(|a| ActivityRow {
        centre: &centre,
        activity: a,
    });
    write_csv(&mut std::fs::File::create(&csv)?, b',', rows)?;
    println!("\nExported for Excel: {}\n", csv.display());
    output::write_status(&mut std::io::stdout().lock(), &replica.status()?, &store)?;
    println!("\nTry: field-client --data-dir {} list", data_dir.display());
    Ok(())
}

fn sample_input(s: &Sample) -> ActivityInput {
    let (title, kind, date, start, hours, place, institutions, counts) = *s;
    ActivityInput {
        title: Some(title.into()),
        kind: Some(kind.into()),
        date: Some(date.into()),
        start: Some(start.into()),
        hours: Some(hours.into()),
        place: Some(place.into()),
        organisers: Some(vec!["Inese Kalniņa".into(), "Jānis Ozoliņš".into()]),
        institutions: Some(institutions.iter().map(|i| (*i).to_owned()).collect()),
        counts: counts
            .iter()
            .map(|(g, n)| ((*g).to_owned(), n.to_string()))
            .collect(),
        description: Some(
            "Diskusija par kopienas vajadzībām, darbs grupās un pieredzes apmaiņa.".into(),
        ),
        notes: Some("Dalībnieki vienojās par nākamo tikšanos; atsauksmes ļoti pozitīvas.".into()),
    }
}
