//! The office's yearly report for 10 centres × 5,000 activities: reading the
//! activities from a real store's view, building the report, and writing the
//! XLSX workbook (report sheet + 50,000-row activities sheet).
//!
//! `cargo bench -p field-client --bench report`

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use field_client::report::{self, Period, Selection};
use sync_core::replica::ListView;
use sync_core::{ActivityId, ActivityInput, ActivityPatch, NewStore, Replica};

const CENTRES: usize = 10;
const PER_CENTRE: usize = 5_000;
/// Timed runs per step; the median is reported.
const RUNS: usize = 5;

fn activity(i: usize) -> ActivityPatch {
    ActivityInput {
        title: Some(format!(
            "Skolotāja loma vietējās kopienas attīstībā, nr. {i}"
        )),
        kind: Some(["seminar", "workshop", "training", "event"][i % 4].into()),
        date: Some(format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
        start: Some("14:00".into()),
        hours: Some(format!("{}", 1 + i % 6)),
        place: Some("Daugavpils, Smilšu iela 92".into()),
        organisers: Some(vec!["Inese Kalniņa".into()]),
        institutions: Some(vec![format!("{}.PII", i % 60), format!("{}.vsk", i % 17)]),
        counts: vec![
            ("teachers".into(), format!("{}", i % 30)),
            ("parents".into(), format!("{}", i % 11)),
            ("children_and_youth".into(), format!("{}", i % 23)),
        ],
        description: Some("Dalībnieki apsprieda skolas un ģimenes sadarbību.".into()),
        notes: Some("Atsauksmes pozitīvas.".into()),
    }
    .parse()
    .expect("valid")
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store = dir.path().join("journal.redb");
    let mut replica = Replica::create(
        &store,
        NewStore {
            centre: "all",
            device_name: "bench",
        },
    )
    .expect("store");
    let n = CENTRES * PER_CENTRE;
    let items = (0..n)
        .map(|i| (ActivityId::new_random(), activity(i)))
        .collect();
    replica.import(items, Utc::now()).expect("import");
    replica.compact().expect("compact");
    let home = replica.journal_id();
    drop(replica);

    let mut read = Vec::new();
    let mut activities = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let view = ListView::open(&store).expect("open");
        activities = view.activities(home).expect("activities");
        read.push(started.elapsed());
    }
    let names: Vec<String> = (0..CENTRES).map(|c| format!("KRC {c}")).collect();
    // Two centres per municipality, as in Latgale.
    let municipalities: Vec<String> = (0..CENTRES).map(|c| format!("Novads {}", c / 2)).collect();
    let rows: Vec<(report::Origin<'_>, &sync_core::Activity)> = activities
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let origin = report::Origin {
                centre: &names[i % CENTRES],
                municipality: Some(&municipalities[i % CENTRES]),
            };
            (origin, a)
        })
        .collect();
    let year = Selection {
        period: Period::new(
            NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            NaiveDate::from_ymd_opt(2026, 12, 31).expect("date"),
        )
        .expect("period"),
        centre: None,
        municipality: None,
        kind: None,
    };
    let mut build = Vec::new();
    let mut built = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        built = Some(report::build(year.clone(), rows.iter().copied()));
        build.push(started.elapsed());
    }
    let built = built.expect("built");
    let mut xlsx = Vec::new();
    let path = dir.path().join("year.xlsx");
    for _ in 0..RUNS {
        let started = Instant::now();
        field_client::interchange::report::write_xlsx(
            &path,
            field_client::web::i18n::Lang::Lv,
            &built,
            &rows,
        )
        .expect("xlsx");
        xlsx.push(started.elapsed());
    }
    let size = std::fs::metadata(&path).expect("size").len();
    println!(
        "Yearly report, {CENTRES} centres × {PER_CENTRE} activities ({} counted), median of {RUNS}:",
        built.total.activities
    );
    println!(
        "  read the activities from the store's view  {:>8.1} ms",
        median(read)
    );
    println!(
        "  build the report                           {:>8.1} ms",
        median(build)
    );
    println!(
        "  write the XLSX workbook ({:.1} MB)          {:>8.1} ms",
        size as f64 / 1e6,
        median(xlsx)
    );
}
