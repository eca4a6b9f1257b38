//! Every command of `field-client`, run as a real process against a temporary
//! data folder: what it prints, its exit code, and what it leaves in the store.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tests::{Cli, GROUP_KEYS, LATVIAN_LETTERS, parse_json_array};

/// Every key of one activity in `list --json`, `show --json` and export JSON.
const ACTIVITY_KEYS: [&str; 20] = [
    "centre",
    "id",
    "title",
    "kind",
    "date",
    "start",
    "hours",
    "place",
    "organisers",
    "institutions",
    "counts",
    "total_participants",
    "description",
    "notes",
    "recorded_by",
    "created_at",
    "updated_by",
    "updated_at",
    "deleted",
    "attachments",
];

/// The columns of `export --format csv`, in order, by the keys the tests
/// name them with (the file names them in words: [`CSV_HEADER`]).
const CSV_KEYS: [&str; 26] = [
    "id",
    "centre",
    "title",
    "kind",
    "date",
    "start",
    "hours",
    "place",
    "organisers",
    "institutions",
    "teachers",
    "children_and_youth",
    "parents",
    "municipal_staff",
    "ngo_representatives",
    "media",
    "volunteers",
    "other",
    "total",
    "description",
    "notes",
    "recorded_by",
    "created_at",
    "updated_by",
    "updated_at",
    "deleted",
];

/// The CSV header `export --format csv` writes in English, in order.
const CSV_HEADER: [&str; 26] = [
    "ID",
    "Centre",
    "Title",
    "Kind",
    "Date",
    "Start",
    "Hours",
    "Place",
    "Organisers",
    "Institutions",
    "Teachers",
    "Children and young people",
    "Parents",
    "Municipal staff",
    "NGO representatives",
    "Media",
    "Volunteers",
    "Other",
    "Total",
    "Description",
    "Notes",
    "Recorded by",
    "Created at",
    "Updated by",
    "Updated at",
    "Deleted",
];

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A fully filled-in workshop.
fn full_args() -> Vec<String> {
    args(&[
        "--title",
        "Skolotāja loma vietējās kopienas attīstībā",
        "--kind",
        "workshop",
        "--date",
        "2026-03-02",
        "--start",
        "14:30",
        "--hours",
        "1.5",
        "--place",
        "Kuldīgas novada bibliotēka",
        "--organiser",
        "Anna Bērziņa",
        "--organiser",
        "Jānis Ozoliņš",
        "--institution",
        "20.PII",
        "--institution",
        "Kuldīgas 1. vsk.",
        "--count",
        "teachers=12",
        "--count",
        "parents=4",
        "--count",
        "media=1",
        "--description",
        "Darbnīca par kopienas iniciatīvām.",
        "--notes",
        "Nākamreiz jāpaņem projektors.",
    ])
}

fn minimal_args(title: &str, date: &str) -> Vec<String> {
    args(&["--title", title, "--kind", "seminar", "--date", date])
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in {list:#?}"))
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|a| a["id"].as_str().expect("id is a string").to_owned())
        .collect()
}

/// Strips the UTF-8 byte-order mark, asserting that it is there.
fn without_bom(bytes: &[u8]) -> &[u8] {
    assert!(
        bytes.starts_with(&[0xEF, 0xBB, 0xBF]),
        "the CSV does not start with a UTF-8 BOM: {:?}",
        &bytes[..bytes.len().min(8)]
    );
    &bytes[3..]
}

/// Parses exported CSV into (header, rows).
fn parse_csv(bytes: &[u8], delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(without_bom(bytes));
    let header = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("a CSV row").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// The cell of an English export's row in the column the tests call `key`.
fn csv_cell<'a>(header: &[String], row: &'a [String], key: &str) -> &'a str {
    let name = CSV_KEYS
        .iter()
        .position(|k| *k == key)
        .map(|i| CSV_HEADER[i])
        .unwrap_or_else(|| panic!("no column key {key}"));
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    &row[i]
}

#[test]
fn help_and_version_work() {
    let cli = Cli::new();
    let help = cli.ok(["--help"]);
    for command in [
        "init", "add", "edit", "delete", "restore", "list", "show", "export", "import", "status",
    ] {
        assert!(help.contains(command), "--help lacks {command}:\n{help}");
    }
    assert!(cli.ok(["--version"]).starts_with("field-client "));
    // A usage mistake is clap's exit code 2, never a panic.
    let run = cli.run(["list", "--deleted", "--all"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}

#[test]
fn init_creates_a_journal_and_a_second_init_fails_clearly() {
    let cli = Cli::new();
    let run = cli.run([
        "init",
        "--centre",
        "Daugavpils KRC",
        "--device-name",
        "Birojs",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "init printed {:?}", run.stdout);
    assert!(run.stderr.contains("Daugavpils KRC"), "{}", run.stderr);
    assert!(cli.store_path().is_file());
    let status = cli.status_json();
    assert_eq!(status["centre"], "Daugavpils KRC");
    assert_eq!(status["device_name"], "Birojs");
    assert_eq!(status["activities"], 0);

    let stderr = cli.fails(["init", "--centre", "Cits centrs"]);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("journal.redb"), "{stderr}");
    // The first journal is untouched.
    let again = cli.status_json();
    assert_eq!(again["centre"], "Daugavpils KRC");
    assert_eq!(again["journal_id"], status["journal_id"]);

    let empty = Cli::new();
    let stderr = empty.fails(["init", "--centre", "   "]);
    assert!(
        stderr.contains("centre's name must not be empty"),
        "{stderr}"
    );
    assert!(!empty.store_path().exists());
}

#[test]
fn every_command_without_a_store_hints_at_init() {
    let cli = Cli::new();
    let id = "3f2b6c1e-8a4d-4f7e-9c0b-1d2e3f4a5b6c";
    let import = cli.file("nothing.csv");
    std::fs::write(&import, "title,kind,date\n").expect("write the import file");
    let import = import.to_str().expect("a UTF-8 path");
    let commands: Vec<Vec<&str>> = vec![
        vec!["list"],
        vec!["list", "--json"],
        vec![
            "add",
            "--title",
            "A",
            "--kind",
            "seminar",
            "--date",
            "2026-01-01",
        ],
        vec!["edit", id, "--title", "B"],
        vec!["delete", id],
        vec!["restore", id],
        vec!["show", id],
        vec!["export", "--format", "csv"],
        vec!["import", import],
        vec!["status"],
        vec!["compact"],
        vec!["run", "--no-web"],
    ];
    for command in commands {
        let stderr = cli.fails(&command);
        assert!(
            stderr.contains("field-client init --centre"),
            "{command:?}: {stderr}"
        );
        assert!(
            !cli.store_path().exists(),
            "{command:?} created a store file"
        );
    }
}

#[test]
fn add_prints_exactly_one_id_and_saves_every_field() {
    let cli = Cli::init("Kuldīgas KRC");
    let run = cli.run(
        std::iter::once("add".to_owned())
            .chain(full_args())
            .collect::<Vec<_>>(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "{:?}", run.stdout);
    assert!(run.stdout.ends_with('\n'));
    let id = run.stdout.trim();
    assert!(id.parse::<uuid::Uuid>().is_ok(), "{id:?} is not an id");

    let list = cli.list_json(&[]);
    assert_eq!(list.len(), 1);
    let a = &list[0];
    assert_eq!(a["id"], id);
    assert_eq!(a["centre"], "Kuldīgas KRC");
    assert_eq!(a["title"], "Skolotāja loma vietējās kopienas attīstībā");
    assert_eq!(a["kind"], "workshop");
    assert_eq!(a["date"], "2026-03-02");
    assert_eq!(a["start"], "14:30");
    assert_eq!(a["hours"], 1.5);
    assert_eq!(a["place"], "Kuldīgas novada bibliotēka");
    assert_eq!(a["organisers"], json!(["Anna Bērziņa", "Jānis Ozoliņš"]));
    assert_eq!(a["institutions"], json!(["20.PII", "Kuldīgas 1. vsk."]));
    assert_eq!(
        a["counts"],
        json!({"teachers": 12, "children_and_youth": 0, "parents": 4, "municipal_staff": 0,
               "ngo_representatives": 0, "media": 1, "volunteers": 0, "other": 0})
    );
    assert_eq!(a["total_participants"], 17);
    assert_eq!(a["description"], "Darbnīca par kopienas iniciatīvām.");
    assert_eq!(a["notes"], "Nākamreiz jāpaņem projektors.");
    assert_eq!(a["recorded_by"], "Testa dators");
    assert_eq!(a["updated_by"], "Testa dators");
    assert_eq!(a["created_at"], a["updated_at"]);
    assert_eq!(a["deleted"], false);

    // The smallest valid activity leaves the optional fields empty.
    let id = cli.add(minimal_args("Tikai nosaukums", "2026-01-05"));
    let a = cli.list_json(&[]);
    let a = find(&a, &id);
    assert_eq!(a["start"], Value::Null);
    assert_eq!(a["hours"], Value::Null);
    assert_eq!(a["place"], "");
    assert_eq!(a["organisers"], json!([]));
    assert_eq!(a["total_participants"], 0);
    // Latvian kind names and DD.MM.YYYY dates are accepted too.
    let id = cli.add(args(&[
        "--title",
        "Latviski",
        "--kind",
        "Kopienas iniciatīva",
        "--date",
        "14.05.2026.",
        "--count",
        "bērni un jaunieši=7",
    ]));
    let list = cli.list_json(&[]);
    let a = find(&list, &id);
    assert_eq!(a["kind"], "community_initiative");
    assert_eq!(a["date"], "2026-05-14");
    assert_eq!(a["counts"]["children_and_youth"], 7);
}

#[test]
fn add_with_bad_fields_names_each_and_saves_nothing() {
    let cli = Cli::init("Tukuma KRC");
    // All at once: every bad field is named in one message.
    let stderr = cli.fails([
        "add",
        "--title",
        "  ",
        "--kind",
        "ballīte",
        "--date",
        "2026-13-01",
        "--count",
        "teachers=-3",
        "--count",
        "aliens=2",
        "--start",
        "25:99",
        "--hours=-1",
    ]);
    for expected in [
        "title: must not be empty",
        "kind: \"ballīte\" is not a known kind",
        "date: \"2026-13-01\" is not a date",
        "count teachers: must not be negative",
        "count aliens: is not a participant group",
        "start: \"25:99\" is not a time of day",
        "hours: must be more than 0",
        "the activity was not saved",
    ] {
        assert!(stderr.contains(expected), "lacks {expected:?}:\n{stderr}");
    }

    // One at a time, each with otherwise valid fields.
    let cases: [(&[&str], &str); 12] = [
        (
            &["--title", "", "--kind", "seminar", "--date", "2026-01-01"],
            "title",
        ),
        (
            &["--kind", "seminar", "--date", "2026-01-01"],
            "title: is required",
        ),
        (
            &["--title", "A", "--kind", "party", "--date", "2026-01-01"],
            "kind: \"party\"",
        ),
        (
            &["--title", "A", "--date", "2026-01-01"],
            "kind: is required",
        ),
        (
            &["--title", "A", "--kind", "seminar", "--date", "14/05/2026"],
            "date: \"14/05/2026\"",
        ),
        (
            &["--title", "A", "--kind", "seminar", "--date", "2026-02-30"],
            "date: \"2026-02-30\"",
        ),
        (&["--title", "A", "--kind", "seminar"], "date: is required"),
        (
            &[
                "--title",
                "A",
                "--kind",
                "seminar",
                "--date",
                "2026-01-01",
                "--count",
                "teachers=-1",
            ],
            "count teachers: must not be negative",
        ),
        (
            &[
                "--title",
                "A",
                "--kind",
                "seminar",
                "--date",
                "2026-01-01",
                "--count",
                "pets=1",
            ],
            "count pets: is not a participant group",
        ),
        (
            &[
                "--title",
                "A",
                "--kind",
                "seminar",
                "--date",
                "2026-01-01",
                "--count",
                "teachers",
            ],
            "count teachers",
        ),
        (
            &[
                "--title",
                "A",
                "--kind",
                "seminar",
                "--date",
                "2026-01-01",
                "--count",
                "teachers=daudz",
            ],
            "count teachers: \"daudz\" is not a whole number",
        ),
        (
            &[
                "--title",
                "A",
                "--kind",
                "seminar",
                "--date",
                "2026-01-01",
                "--hours",
                "pusotra",
            ],
            "hours: \"pusotra\" is not a number of hours",
        ),
    ];
    for (fields, expected) in cases {
        let mut command = vec!["add"];
        command.extend_from_slice(fields);
        let run = cli.run(&command);
        run.assert_plain_failure(&format!("{command:?}"));
        assert!(
            run.stdout.is_empty(),
            "{command:?} printed {:?}",
            run.stdout
        );
        assert!(
            run.stderr.contains(expected),
            "{command:?}: lacks {expected:?}:\n{}",
            run.stderr
        );
    }
    assert!(cli.list_json(&["--all"]).is_empty());
    assert_eq!(cli.status_json()["activities"], 0);
    assert_eq!(cli.status_json()["unsent"], 0);
}

#[test]
fn edit_changes_only_the_given_fields() {
    let cli = Cli::init("Cēsu KRC");
    let id = cli.add(full_args());
    let other = cli.add(minimal_args("Cita", "2026-01-01"));
    let before = cli.list_json(&[]);
    let original = find(&before, &id).clone();

    let run = cli.run([
        "edit",
        &id,
        "--title",
        "Jauns nosaukums",
        "--count",
        "parents=9",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("Saved."), "{}", run.stderr);

    let after = cli.list_json(&[]);
    let edited = find(&after, &id);
    let mut expected = original.clone();
    expected["title"] = json!("Jauns nosaukums");
    expected["counts"]["parents"] = json!(9);
    expected["total_participants"] = json!(22);
    expected["updated_at"] = edited["updated_at"].clone();
    assert_eq!(edited, &expected, "only title and parents should change");
    assert_eq!(find(&after, &other), find(&before, &other));

    // Empty values clear the optional fields; `--organiser ""` empties the list.
    cli.ok([
        "edit",
        &id,
        "--organiser",
        "",
        "--start",
        "",
        "--hours",
        "",
        "--place",
        "",
        "--notes",
        "",
    ]);
    let list = cli.list_json(&[]);
    let cleared = find(&list, &id);
    assert_eq!(cleared["organisers"], json!([]));
    assert_eq!(cleared["start"], Value::Null);
    assert_eq!(cleared["hours"], Value::Null);
    assert_eq!(cleared["place"], "");
    assert_eq!(cleared["notes"], "");
    assert_eq!(cleared["institutions"], original["institutions"]);
    assert_eq!(cleared["description"], original["description"]);
    assert_eq!(cleared["title"], "Jauns nosaukums");
    assert_eq!(cleared["date"], original["date"]);
    assert_eq!(cleared["kind"], original["kind"]);

    // The list is replaced, not appended to.
    cli.ok([
        "edit",
        &id,
        "--institution",
        "20.PII",
        "--institution",
        "Jaunā skola",
    ]);
    let list = cli.list_json(&[]);
    assert_eq!(
        find(&list, &id)["institutions"],
        json!(["20.PII", "Jaunā skola"])
    );
    cli.ok([
        "edit",
        &id,
        "--kind",
        "apmācība",
        "--date",
        "2026-04-01",
        "--start",
        "09:15",
    ]);
    let list = cli.list_json(&[]);
    let a = find(&list, &id);
    assert_eq!(a["kind"], "training");
    assert_eq!(a["date"], "2026-04-01");
    assert_eq!(a["start"], "09:15");

    // Setting a value it already has changes nothing (and says so).
    let before = cli.list_json(&[]);
    let run = cli.run(["edit", &id, "--title", "Jauns nosaukums"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("Nothing changed"), "{}", run.stderr);
    assert_eq!(cli.list_json(&[]), before);

    // Mistakes change nothing.
    let stderr = cli.fails(["edit", &id]);
    assert!(stderr.contains("nothing to change"), "{stderr}");
    let stderr = cli.fails(["edit", &id, "--title", "", "--count", "teachers=-2"]);
    assert!(stderr.contains("title: must not be empty"), "{stderr}");
    assert!(
        stderr.contains("count teachers: must not be negative"),
        "{stderr}"
    );
    let stderr = cli.fails(["edit", "nav-id", "--title", "X"]);
    assert!(
        stderr.contains("\"nav-id\" is not an activity id"),
        "{stderr}"
    );
    let unknown = "3f2b6c1e-8a4d-4f7e-9c0b-1d2e3f4a5b6c";
    let stderr = cli.fails(["edit", unknown, "--title", "X"]);
    assert!(
        stderr.contains(&format!("no activity with id {unknown}")),
        "{stderr}"
    );
    assert_eq!(cli.list_json(&[]), before);
}

#[test]
fn delete_and_restore_with_list_filters() {
    let cli = Cli::init("Siguldas KRC");
    let a = cli.add(minimal_args("Pirmā", "2026-01-01"));
    let b = cli.add(minimal_args("Otrā", "2026-01-02"));
    let c = cli.add(minimal_args("Trešā", "2026-01-03"));

    let run = cli.run(["delete", &b]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("field-client restore {b}")),
        "{}",
        run.stderr
    );

    assert_eq!(ids(&cli.list_json(&[])), [c.clone(), a.clone()]);
    let deleted = cli.list_json(&["--deleted"]);
    assert_eq!(ids(&deleted), [b.as_str()]);
    assert_eq!(deleted[0]["deleted"], true);
    let all = cli.list_json(&["--all"]);
    assert_eq!(ids(&all), [c.clone(), b.clone(), a.clone()]);
    let flags: Vec<&Value> = all.iter().map(|x| &x["deleted"]).collect();
    assert_eq!(flags, [&json!(false), &json!(true), &json!(false)]);

    // The table hides it too, unless asked.
    let table = cli.ok(["list"]);
    assert!(table.contains(&a) && table.contains(&c), "{table}");
    assert!(!table.contains(&b), "{table}");
    let table = cli.ok(["list", "--deleted"]);
    assert!(
        table.contains(&b) && table.contains("[deleted] Otrā"),
        "{table}"
    );
    assert!(!table.contains(&a), "{table}");
    let table = cli.ok(["list", "--all"]);
    assert!(table.contains(&a) && table.contains(&b) && table.contains(&c));

    let status = cli.status_json();
    assert_eq!(status["activities"], 2);
    assert_eq!(status["deleted"], 1);

    // Deleting twice, restoring, restoring twice.
    let run = cli.run(["delete", &b]);
    assert_eq!(run.code, Some(0));
    assert!(run.stderr.contains("already deleted"), "{}", run.stderr);
    let run = cli.run(["restore", &b]);
    assert_eq!(run.code, Some(0));
    assert!(run.stderr.contains("Restored."), "{}", run.stderr);
    assert_eq!(ids(&cli.list_json(&[])), [c.clone(), b.clone(), a.clone()]);
    assert!(cli.list_json(&["--deleted"]).is_empty());
    let run = cli.run(["restore", &b]);
    assert_eq!(run.code, Some(0));
    assert!(run.stderr.contains("not deleted"), "{}", run.stderr);
    // The restored activity kept its fields.
    assert_eq!(find(&cli.list_json(&[]), &b)["title"], "Otrā");

    let unknown = "3f2b6c1e-8a4d-4f7e-9c0b-1d2e3f4a5b6c";
    let stderr = cli.fails(["delete", unknown]);
    assert!(stderr.contains("no activity with id"), "{stderr}");
    let stderr = cli.fails(["restore", "xyz"]);
    assert!(stderr.contains("is not an activity id"), "{stderr}");

    let empty = Cli::init("Tukšs");
    let run = empty.run(["list"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("No activities yet"), "{}", run.stderr);
    assert_eq!(empty.ok(["list", "--json"]).trim(), "[]");
}

#[test]
fn list_json_has_every_field_and_is_newest_first() {
    let cli = Cli::init("Jelgavas KRC");
    let old = cli.add(minimal_args("Vecākā", "2025-12-31"));
    let morning = cli.add(args(&[
        "--title",
        "Rīts",
        "--kind",
        "meeting",
        "--date",
        "2026-02-10",
        "--start",
        "09:00",
    ]));
    let newest = cli.add(minimal_args("Jaunākā", "2026-06-01"));
    let evening = cli.add(args(&[
        "--title",
        "Vakars",
        "--kind",
        "event",
        "--date",
        "2026-02-10",
        "--start",
        "18:00",
    ]));
    let full = cli.add(full_args());

    let stdout = cli.ok(["list", "--json"]);
    assert!(stdout.trim_start().starts_with('['));
    assert!(stdout.trim_end().ends_with(']'));
    let list = parse_json_array(&stdout);
    assert_eq!(ids(&list), [newest, full.clone(), evening, morning, old]);

    let keys: BTreeSet<&str> = ACTIVITY_KEYS.into_iter().collect();
    for a in &list {
        let object = a.as_object().expect("each activity is an object");
        let found: BTreeSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(found, keys, "{a:#}");
        let counts: Vec<&str> = a["counts"]
            .as_object()
            .expect("counts is an object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = GROUP_KEYS.to_vec();
        let mut sorted = counts.clone();
        sorted.sort_unstable();
        expected.sort_unstable();
        assert_eq!(sorted, expected, "counts keyed by every group: {a:#}");
        let sum: u64 = a["counts"]
            .as_object()
            .expect("counts")
            .values()
            .map(|v| v.as_u64().expect("a count is a whole number"))
            .sum();
        assert_eq!(a["total_participants"], sum);
        assert_eq!(a["centre"], "Jelgavas KRC");
    }
    // Every group is reachable by its English key.
    let mut command = vec!["edit".to_owned(), full.clone()];
    for (i, group) in GROUP_KEYS.iter().enumerate() {
        command.push("--count".into());
        command.push(format!("{group}={}", i + 1));
    }
    cli.ok(&command);
    let list = cli.list_json(&[]);
    let a = find(&list, &full);
    for (i, group) in GROUP_KEYS.iter().enumerate() {
        assert_eq!(a["counts"][group], i + 1, "{group}");
    }
    assert_eq!(a["total_participants"], 36);

    // The table shows the same order.
    let table = cli.ok(["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("DATE"), "{table}");
    assert_eq!(lines.len(), 6, "{table}");
    for (line, a) in lines[1..].iter().zip(&list) {
        assert!(line.ends_with(a["id"].as_str().expect("id")), "{line}");
        assert!(
            line.starts_with(a["date"].as_str().expect("date")),
            "{line}"
        );
    }
}

#[test]
fn show_prints_one_activity_as_text_and_json() {
    let cli = Cli::init("Valmieras KRC");
    let id = cli.add(full_args());
    let text = cli.ok(["show", &id]);
    for expected in [
        id.as_str(),
        "Valmieras KRC",
        "Skolotāja loma vietējās kopienas attīstībā",
        "Workshop",
        "2026-03-02",
        "14:30",
        "1.5",
        "Kuldīgas novada bibliotēka",
        "Anna Bērziņa; Jānis Ozoliņš",
        "20.PII; Kuldīgas 1. vsk.",
        "17 in total",
        "Teachers",
        "Darbnīca par kopienas iniciatīvām.",
        "Nākamreiz jāpaņem projektors.",
        "Testa dators",
    ] {
        assert!(text.contains(expected), "show lacks {expected:?}:\n{text}");
    }
    assert!(!text.contains("Deleted:"), "{text}");

    let shown: Value = serde_json::from_str(&cli.ok(["show", &id, "--json"])).expect("JSON");
    assert_eq!(&shown, find(&cli.list_json(&[]), &id));

    cli.ok(["delete", &id]);
    assert!(cli.ok(["show", &id]).contains("Deleted:"));
    let shown: Value = serde_json::from_str(&cli.ok(["show", &id, "--json"])).expect("JSON");
    assert_eq!(shown["deleted"], true);

    let stderr = cli.fails(["show", "3f2b6c1e-8a4d-4f7e-9c0b-1d2e3f4a5b6c"]);
    assert!(stderr.contains("no activity with id"), "{stderr}");
    let stderr = cli.fails(["show", "12"]);
    assert!(stderr.contains("\"12\" is not an activity id"), "{stderr}");
}

#[test]
fn export_csv_has_a_bom_a_column_per_group_and_the_values() {
    let cli = Cli::init("Rēzeknes KRC");
    let full = cli.add(full_args());
    let small = cli.add(args(&[
        "--title",
        "Teksts ar \"pēdiņām\", komatu un\njaunu rindu",
        "--kind",
        "seminar",
        "--date",
        "2026-01-01",
        "--count",
        "other=2",
    ]));
    let gone = cli.add(minimal_args("Dzēstā", "2026-01-02"));
    cli.ok(["delete", &gone]);

    let run = cli.run(["export", "--format", "csv"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let (header, rows) = parse_csv(&run.stdout_bytes, b',');
    assert_eq!(header, CSV_HEADER);
    assert_eq!(rows.len(), 2, "deleted activities are left out: {rows:?}");
    let row_of = |id: &str| {
        rows.iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("{id} is not exported"))
    };
    let r = row_of(&full);
    let cell = |column: &str| csv_cell(&header, r, column);
    assert_eq!(cell("centre"), "Rēzeknes KRC");
    assert_eq!(cell("title"), "Skolotāja loma vietējās kopienas attīstībā");
    assert_eq!(cell("kind"), "Workshop");
    assert_eq!(cell("date"), "2026-03-02");
    assert_eq!(cell("start"), "14:30");
    assert_eq!(cell("hours"), "1.5");
    assert_eq!(cell("place"), "Kuldīgas novada bibliotēka");
    assert_eq!(cell("organisers"), "Anna Bērziņa; Jānis Ozoliņš");
    assert_eq!(cell("institutions"), "20.PII; Kuldīgas 1. vsk.");
    let expected_counts = [12, 0, 4, 0, 0, 1, 0, 0];
    for (group, n) in GROUP_KEYS.iter().zip(expected_counts) {
        assert_eq!(cell(group), n.to_string(), "{group}");
    }
    assert_eq!(cell("total"), "17");
    assert_eq!(cell("description"), "Darbnīca par kopienas iniciatīvām.");
    assert_eq!(cell("notes"), "Nākamreiz jāpaņem projektors.");
    assert_eq!(cell("recorded_by"), "Testa dators");
    assert_eq!(cell("deleted"), "no");
    assert!(
        chrono::DateTime::parse_from_rfc3339(cell("created_at")).is_ok(),
        "{}",
        cell("created_at")
    );
    let r = row_of(&small);
    assert_eq!(
        csv_cell(&header, r, "title"),
        "Teksts ar \"pēdiņām\", komatu un\njaunu rindu"
    );
    assert_eq!(csv_cell(&header, r, "start"), "");
    assert_eq!(csv_cell(&header, r, "hours"), "");
    assert_eq!(csv_cell(&header, r, "other"), "2");
    assert_eq!(csv_cell(&header, r, "total"), "2");

    // --out writes the same bytes to a file, and nothing to stdout.
    let out = cli.file("eksports.csv");
    let run_out = cli.run([
        "export",
        "--format",
        "csv",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(run_out.code, Some(0), "{}", run_out.stderr);
    assert!(run_out.stdout.is_empty());
    assert!(
        run_out.stderr.contains("Wrote 2 activities"),
        "{}",
        run_out.stderr
    );
    assert_eq!(
        std::fs::read(&out).expect("the export file"),
        run.stdout_bytes
    );
    assert!(!cli.file("eksports.csv.partial").exists());

    // Semicolons for Excel with Latvian settings; deleted ones on request.
    let run = cli.run([
        "export",
        "--format",
        "csv",
        "--delimiter",
        "semicolon",
        "--include-deleted",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let (header, rows) = parse_csv(&run.stdout_bytes, b';');
    assert_eq!(header, CSV_HEADER);
    assert_eq!(rows.len(), 3);
    let deleted = rows.iter().find(|r| r[0] == gone).expect("the deleted row");
    assert_eq!(csv_cell(&header, deleted, "deleted"), "yes");

    // A folder that does not exist: a plain error, no stray file.
    let missing = cli.file("nav/eksports.csv");
    let stderr = cli.fails([
        "export",
        "--format",
        "csv",
        "--out",
        missing.to_str().expect("p"),
    ]);
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(!cli.file("nav").exists());
}

#[test]
fn export_json_to_stdout_and_file_matches_list() {
    let cli = Cli::init("Ogres KRC");
    cli.add(full_args());
    cli.add(minimal_args("Otrā", "2026-02-02"));
    let gone = cli.add(minimal_args("Dzēstā", "2026-02-03"));
    cli.ok(["delete", &gone]);

    let stdout = cli.ok(["export", "--format", "json"]);
    let exported = parse_json_array(&stdout);
    assert_eq!(exported, cli.list_json(&[]));
    assert_eq!(exported.len(), 2);

    let out = cli.file("eksports.json");
    let run = cli.run([
        "export",
        "--format",
        "json",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&out).expect("the export file"),
        stdout
    );

    let all = parse_json_array(&cli.ok(["export", "--format", "json", "--include-deleted"]));
    assert_eq!(all, cli.list_json(&["--all"]));
    assert_eq!(all.len(), 3);
}

#[test]
fn status_counts_activities_and_unsent_ones() {
    let cli = Cli::init("Bauskas KRC");
    let status = cli.status_json();
    assert_eq!(status["centre"], "Bauskas KRC");
    assert_eq!(status["activities"], 0);
    assert_eq!(status["deleted"], 0);
    assert_eq!(status["unsent"], 0);
    assert_eq!(status["device_name"], "Testa dators");
    assert!(
        status["device_id"]
            .as_str()
            .is_some_and(|d| d.parse::<uuid::Uuid>().is_ok())
    );
    assert!(
        status["journal_id"]
            .as_str()
            .is_some_and(|d| d.parse::<uuid::Uuid>().is_ok())
    );
    assert!(
        status["store"]
            .as_str()
            .is_some_and(|s| s.ends_with("journal.redb")),
        "{status}"
    );
    let text = cli.ok(["status"]);
    assert!(text.contains("everything is sent"), "{text}");

    let a = cli.add(minimal_args("Viens", "2026-01-01"));
    cli.add(minimal_args("Divi", "2026-01-02"));
    let c = cli.add(minimal_args("Trīs", "2026-01-03"));
    // Editing an activity again does not count it twice.
    cli.ok(["edit", &a, "--title", "Viens (labots)"]);
    cli.ok(["delete", &c]);
    let status = cli.status_json();
    assert_eq!(status["activities"], 2);
    assert_eq!(status["deleted"], 1);
    assert_eq!(
        status["unsent"], 3,
        "every recorded activity is unsent: {status}"
    );
    let text = cli.ok(["status"]);
    assert!(text.contains("Bauskas KRC"), "{text}");
    assert!(text.contains("2 (1 deleted)"), "{text}");
    assert!(text.contains("3 activities not yet sent"), "{text}");

    // The hidden `compact` command keeps everything.
    let before = cli.list_json(&["--all"]);
    let run = cli.run(["compact"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("Compacted."));
    assert_eq!(cli.list_json(&["--all"]), before);
    assert_eq!(cli.status_json()["unsent"], 3);
}

#[test]
fn a_store_held_by_another_process_is_reported_as_in_use() {
    let cli = Cli::init("Limbažu KRC");
    cli.add(minimal_args("Pirms", "2026-01-01"));
    let before = cli.list_json(&[]);
    {
        // redb's file lock is per process: holding the store here keeps the
        // CLI out. It waits a bounded time (for the background sync), then
        // gives up with a plain message.
        let _held = sync_core::Replica::open(&cli.store_path()).expect("open in the test");
        let stderr = cli.fails([
            "add",
            "--title",
            "Laikā",
            "--kind",
            "seminar",
            "--date",
            "2026-01-02",
        ]);
        assert!(
            stderr.contains("already in use by another process"),
            "{stderr}"
        );
        assert!(stderr.contains("busy"), "it should say it waits: {stderr}");
    }
    // Once released, nothing was changed by the refused command.
    assert_eq!(cli.list_json(&[]), before);
    cli.add(minimal_args("Pēc", "2026-01-03"));
    assert_eq!(cli.list_json(&[]).len(), 2);
}

#[test]
fn a_command_waiting_for_a_busy_store_goes_ahead_once_it_is_free() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let cli = Cli::init("Saldus KRC");
    let held = sync_core::Replica::open(&cli.store_path()).expect("open in the test");
    let mut args = vec!["add".to_owned()];
    args.extend(minimal_args("Gaidīja", "2026-02-02"));
    let mut child = cli
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start field-client add");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("read stderr");
    assert!(
        line.contains("busy"),
        "expected the waiting notice, got {line:?}"
    );
    // Free the store while it waits; it must then record and print the id.
    drop(held);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("read stderr");
    let output = child.wait_with_output().expect("wait for add");
    assert!(output.status.success(), "{line}{rest}");
    let id = String::from_utf8(output.stdout).expect("UTF-8");
    let list = cli.list_json(&[]);
    assert_eq!(ids(&list), [id.trim().to_owned()]);
    assert_eq!(list[0]["title"], "Gaidīja");
}

#[test]
fn latvian_letters_round_trip_in_every_text_field() {
    let l = LATVIAN_LETTERS;
    let centre = format!("Ķeguma KRC {l}");
    let cli = Cli::new();
    cli.ok([
        "init",
        "--centre",
        centre.as_str(),
        "--device-name",
        &format!("Dators {l}"),
    ]);
    let text = |field: &str| format!("{field}: {l}");
    let id = cli.add([
        "--title",
        &text("Nosaukums"),
        "--kind",
        "darbnīca",
        "--date",
        "2026-05-14",
        "--place",
        &text("Vieta"),
        "--organiser",
        &text("Organizators"),
        "--organiser",
        &text("Otrs"),
        "--institution",
        &text("Iestāde"),
        "--description",
        &text("Apraksts"),
        "--notes",
        &text("Piezīmes"),
        "--count",
        "vecāki=3",
    ]);
    let check = |a: &Value, source: &str| {
        assert_eq!(a["centre"], centre.as_str(), "{source}");
        assert_eq!(a["title"], text("Nosaukums"), "{source}");
        assert_eq!(a["place"], text("Vieta"), "{source}");
        assert_eq!(
            a["organisers"],
            json!([text("Organizators"), text("Otrs")]),
            "{source}"
        );
        assert_eq!(a["institutions"], json!([text("Iestāde")]), "{source}");
        assert_eq!(a["description"], text("Apraksts"), "{source}");
        assert_eq!(a["notes"], text("Piezīmes"), "{source}");
        assert_eq!(a["recorded_by"], format!("Dators {l}"), "{source}");
        assert_eq!(a["counts"]["parents"], 3, "{source}");
    };
    let shown: Value = serde_json::from_str(&cli.ok(["show", &id, "--json"])).expect("JSON");
    check(&shown, "show --json");
    check(&cli.list_json(&[])[0], "list --json");
    check(
        &parse_json_array(&cli.ok(["export", "--format", "json"]))[0],
        "export json",
    );
    let shown = cli.ok(["show", &id]);
    for field in ["Nosaukums", "Vieta", "Iestāde", "Apraksts", "Piezīmes"] {
        assert!(shown.contains(&text(field)), "show lacks {field}:\n{shown}");
    }
    assert!(cli.ok(["list"]).contains(&text("Nosaukums")));
    assert!(cli.ok(["status"]).contains(&centre));

    let run = cli.run(["export", "--format", "csv"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let (header, rows) = parse_csv(&run.stdout_bytes, b',');
    let row = &rows[0];
    let cell = |column: &str| csv_cell(&header, row, column).to_owned();
    assert_eq!(cell("centre"), centre);
    assert_eq!(cell("title"), text("Nosaukums"));
    assert_eq!(cell("place"), text("Vieta"));
    assert_eq!(
        cell("organisers"),
        format!("{}; {}", text("Organizators"), text("Otrs"))
    );
    assert_eq!(cell("institutions"), text("Iestāde"));
    assert_eq!(cell("description"), text("Apraksts"));
    assert_eq!(cell("notes"), text("Piezīmes"));
    assert_eq!(cell("recorded_by"), format!("Dators {l}"));
    assert_eq!(cell("kind"), "Workshop");

    // Edits keep them too.
    cli.ok(["edit", &id, "--title", &text("Labots")]);
    assert_eq!(cli.list_json(&[])[0]["title"], text("Labots"));
}

/// A reader that stops early (`field-client export | head`) ends the export
/// quietly: the user closed the pipe on purpose, and nothing went wrong.
#[test]
fn an_export_read_only_in_part_ends_quietly() {
    use std::io::Read;
    use wait_timeout::ChildExt;
    let cli = Cli::init("Caurules KRC");
    cli.add(minimal_args("Paraugs", "2026-05-14"));
    let one = cli.list_json(&[]).remove(0);
    // Far more than a pipe holds (64 KiB), so the export is still writing
    // when the reader goes.
    let many: Vec<Value> = (0..600_u32)
        .map(|n| {
            let mut row = one.clone();
            row["id"] = json!(format!("00000000-0000-4000-8000-{n:012x}"));
            row
        })
        .collect();
    let file = cli.file("daudz.json");
    std::fs::write(&file, serde_json::to_vec(&many).expect("json")).expect("write");
    cli.ok(["import", file.to_str().expect("UTF-8")]);

    let mut child = cli
        .command(["export", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let mut head = [0_u8; 100];
    child
        .stdout
        .take()
        .expect("piped")
        .read_exact(&mut head)
        .expect("the export begins");
    let status = child
        .wait_timeout(tests::COMMAND_TIMEOUT)
        .expect("waits")
        .expect("ends once its reader has gone");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr, "", "no error for a reader that stopped");
}

/// A group given twice is refused in plain words, not silently overwritten.
#[test]
fn a_group_counted_twice_is_refused_and_nothing_is_saved() {
    let cli = Cli::init("Grupu KRC");
    let stderr = cli.fails([
        "add",
        "--title",
        "Divreiz",
        "--kind",
        "seminar",
        "--date",
        "2026-02-02",
        "--count",
        "teachers=1",
        "--count",
        "teachers=2",
    ]);
    assert!(stderr.contains("count teachers"), "{stderr}");
    assert!(stderr.contains("more than once"), "{stderr}");
    assert!(cli.list_json(&[]).is_empty());
}

/// The command line speaks the system's language, with its plurals, from
/// the same message files as the app.
#[test]
fn the_command_line_speaks_latvian_on_a_latvian_system() {
    let cli = Cli::init("Valodas KRC");
    cli.add(minimal_args("Viena", "2026-02-02"));
    let out = cli.file("viens.csv");
    let in_english = cli.run([
        "export",
        "--format",
        "csv",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert!(
        in_english.stderr.contains("Wrote 1 activity to "),
        "{}",
        in_english.stderr
    );
    let in_latvian = cli
        .command([
            "export",
            "--format",
            "csv",
            "--out",
            out.to_str().expect("path"),
        ])
        .env("LANG", "lv_LV.UTF-8")
        .output()
        .expect("export");
    let said = String::from_utf8_lossy(&in_latvian.stderr);
    assert!(said.contains("ierakstīta 1 aktivitāte."), "{said}");
    let text = std::fs::read_to_string(&out).expect("the file");
    assert!(
        text.starts_with("\u{feff}ID;Centrs;"),
        "the file in Latvian too: {text}"
    );
    let id = cli.list_json(&[])[0]["id"].as_str().expect("id").to_owned();
    let shown = cli
        .command(["show", &id])
        .env("LANG", "lv_LV.UTF-8")
        .output()
        .expect("show");
    let shown = String::from_utf8_lossy(&shown.stdout);
    for words in ["Nosaukums:", "Viena", "Veids:", "Dalībnieki: kopā"] {
        assert!(shown.contains(words), "{words}: {shown}");
    }
}

/// Latvian output and errors of one command on a Latvian system.
fn in_latvian(cli: &Cli, args: &[&str]) -> (Option<i32>, String, String) {
    let run = cli
        .command(args)
        .env("LANG", "lv_LV.UTF-8")
        .output()
        .expect("the command runs");
    (
        run.status.code(),
        String::from_utf8_lossy(&run.stdout).into_owned(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

#[test]
fn lists_status_and_errors_are_latvian_on_a_latvian_system() {
    let cli = Cli::init("Valodas KRC");
    let (_, _, said) = in_latvian(&cli, &["list"]);
    assert!(said.contains("Vēl nav nevienas aktivitātes."), "{said}");
    let id = cli.add(minimal_args("Rokdarbu vakars", "2026-02-02"));
    let (code, table, _) = in_latvian(&cli, &["list"]);
    assert_eq!(code, Some(0));
    assert!(table.starts_with("DATUMS"), "{table}");
    assert!(table.contains("NOSAUKUMS"), "{table}");
    assert!(table.contains("Rokdarbu vakars"), "{table}");
    let (_, status, _) = in_latvian(&cli, &["status"]);
    for words in [
        "Centrs:        Valodas KRC",
        "Aktivitātes:   1 (dzēstas: 0)",
        "1 aktivitāte vēl nav nosūtīta uz biroja serveri",
        "Serveris:      dators vēl nav pievienots",
    ] {
        assert!(status.contains(words), "{words}: {status}");
    }
    let (_, _, said) = in_latvian(&cli, &["delete", &id]);
    assert!(
        said.contains("Dzēsts. Lai atsauktu: field-client restore"),
        "{said}"
    );
    let (code, _, said) = in_latvian(&cli, &["show", "nav-id"]);
    assert_eq!(code, Some(1));
    assert!(
        said.starts_with("kļūda: „nav-id” nav aktivitātes id"),
        "{said}"
    );
    let (code, _, said) = in_latvian(
        &cli,
        &[
            "add",
            "--title",
            "X",
            "--kind",
            "balle",
            "--date",
            "2026-01-01",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        said.contains("kļūda: aktivitāte netika saglabāta"),
        "{said}"
    );
    assert!(
        said.contains("iemesls: Veids: Tāda veida nav; der: "),
        "{said}"
    );
    let (code, _, said) = in_latvian(&cli, &["health"]);
    assert_eq!(code, Some(1));
    assert!(said.contains("redz tikai biroja datori"), "{said}");
    let (code, help, _) = in_latvian(&cli, &["--help"]);
    assert_eq!(code, Some(0));
    for words in [
        "Lietojums:",
        "Komandas:",
        "Ierakstīt jaunu aktivitāti",
        "Opcijas:",
    ] {
        assert!(help.contains(words), "{words}: {help}");
    }
    let (_, help, _) = in_latvian(&cli, &["add", "--help"]);
    assert!(help.contains("Datums kā GGGG-MM-DD"), "{help}");
    let nowhere = Cli::new();
    let (code, _, said) = in_latvian(&nowhere, &["list"]);
    assert_eq!(code, Some(1));
    assert!(said.contains("vēl nav žurnāla"), "{said}");
}
