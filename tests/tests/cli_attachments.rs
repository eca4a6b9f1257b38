//! `attach`, `attachments` and `detach` as real processes: files kept with
//! an activity, checked before anything is stored, read back byte for byte.

use std::path::PathBuf;

use serde_json::Value;
use sync_core::limits::{MAX_FILE_BYTES, MAX_FILES_PER_ACTIVITY};
use tests::Cli;
use tests::sample_files::{jpeg, pdf, png};

fn minimal(cli: &Cli, title: &str) -> String {
    cli.add([
        "--title",
        title,
        "--kind",
        "seminar",
        "--date",
        "2026-11-20",
    ])
}

fn attachments(cli: &Cli, id: &str) -> Vec<Value> {
    tests::parse_json_array(&cli.ok(["attachments", id, "--json"]))
}

#[test]
fn files_attached_are_listed_shown_and_read_back_byte_for_byte() {
    let cli = Cli::init("Daugavpils KRC");
    let id = minimal(&cli, "Seminārs");
    let photo = jpeg(300_000, 1);
    let sheet = pdf(90_000, 2);
    let photo_path = cli.write_file("seminārs.jpg", &photo);
    let sheet_path = cli.write_file("saraksts.pdf", &sheet);
    let out = cli.ok([
        "attach".as_ref(),
        id.as_ref(),
        photo_path.as_os_str(),
        sheet_path.as_os_str(),
    ]);
    let hashes: Vec<&str> = out.lines().collect();
    assert_eq!(hashes.len(), 2, "one hash per file: {out}");
    assert!(hashes.iter().all(|h| h.len() == 64), "{out}");

    let listed = attachments(&cli, &id);
    let names: Vec<&str> = listed
        .iter()
        .map(|a| a["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["seminārs.jpg", "saraksts.pdf"]);
    assert_eq!(listed[0]["file"], hashes[0]);
    assert_eq!(listed[0]["media_type"], "image/jpeg");
    assert_eq!(listed[0]["bytes"], 300_000);
    assert_eq!(listed[0]["added_by"], "Testa dators");
    assert_eq!(listed[1]["media_type"], "application/pdf");
    assert!(listed.iter().all(|a| a["held"] == "whole"), "{listed:?}");

    let shown = cli.ok(["show", &id]);
    assert!(
        shown.contains("seminārs.jpg") && shown.contains("saraksts.pdf"),
        "{shown}"
    );
    let text = cli.ok(["attachments", &id]);
    assert!(
        text.contains(&hashes[0][..12]) && text.contains("JPEG"),
        "{text}"
    );

    let copies = cli.file("copies");
    cli.ok([
        "attachments".as_ref(),
        id.as_ref(),
        "--save".as_ref(),
        copies.as_os_str(),
    ]);
    assert_eq!(
        std::fs::read(copies.join("seminārs.jpg")).expect("copy"),
        photo
    );
    assert_eq!(
        std::fs::read(copies.join("saraksts.pdf")).expect("copy"),
        sheet
    );
    let listed_json = cli.ok(["show", &id, "--json"]);
    let shown: Value = serde_json::from_str(&listed_json).expect("JSON");
    assert_eq!(shown["attachments"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_file_that_cannot_be_attached_is_named_with_its_reason_and_changes_nothing() {
    let cli = Cli::init("Daugavpils KRC");
    let id = minimal(&cli, "Seminārs");
    let good = cli.write_file("labs.jpg", &jpeg(5_000, 3));
    let mut cut = jpeg(5_000, 4);
    cut.truncate(4_000);
    let mut huge = pdf(1_000, 5);
    huge.resize(MAX_FILE_BYTES as usize + 1, b' ');
    huge.extend_from_slice(b"%%EOF\n");
    let cases = [
        ("tukšs.jpg", Vec::new(), "is empty"),
        (
            "arhīvs.jpg",
            b"PK\x03\x04 a zip renamed".to_vec(),
            "not a JPEG or PNG picture or a PDF",
        ),
        ("nogriezts.jpg", cut, "cut short or damaged"),
        ("milzīgs.pdf", huge, "a file may be at most"),
    ];
    for (name, bytes, reason) in cases {
        let bad = cli.write_file(name, &bytes);
        // The good file is named first: it is not attached either.
        let err = cli.fails([
            "attach".as_ref(),
            id.as_ref(),
            good.as_os_str(),
            bad.as_os_str(),
        ]);
        assert!(err.contains(name) && err.contains(reason), "{name}: {err}");
        assert!(err.contains("nothing was attached"), "{err}");
        assert!(
            attachments(&cli, &id).is_empty(),
            "{name} changed something"
        );
    }
    let missing = cli.file("nav.jpg");
    let err = cli.fails(["attach".as_ref(), id.as_ref(), missing.as_os_str()]);
    assert!(
        err.contains("cannot read") && err.contains("nav.jpg"),
        "{err}"
    );
    let err = cli.fails([
        "attach",
        "00000000-0000-4000-8000-000000000000",
        good.to_str().expect("a path in UTF-8"),
    ]);
    assert!(err.contains("no activity with id"), "{err}");
    assert_eq!(cli.status_json()["unsent"], 1, "only the activity waits");
}

#[test]
fn an_activity_holds_at_most_its_files_and_the_same_bytes_are_one_file() {
    let cli = Cli::init("Daugavpils KRC");
    let id = minimal(&cli, "Seminārs");
    let paths: Vec<PathBuf> = (0..MAX_FILES_PER_ACTIVITY as u64)
        .map(|n| cli.write_file(&format!("foto {n}.jpg"), &jpeg(1_000, 100 + n)))
        .collect();
    let mut args: Vec<std::ffi::OsString> = vec!["attach".into(), id.clone().into()];
    args.extend(paths.iter().map(|p| p.clone().into_os_string()));
    cli.ok(&args);
    let one_more = cli.write_file("vēl viens.png", &png());
    let err = cli.fails(["attach".as_ref(), id.as_ref(), one_more.as_os_str()]);
    assert!(
        err.contains(&format!("at most {MAX_FILES_PER_ACTIVITY}")),
        "{err}"
    );
    assert_eq!(attachments(&cli, &id).len(), MAX_FILES_PER_ACTIVITY);

    // The same photo under another name, attached again: one file.
    let other = minimal(&cli, "Darbnīca");
    let renamed = cli.write_file("pārdēvēts.jpg", &jpeg(1_000, 100));
    cli.ok(["attach".as_ref(), other.as_ref(), renamed.as_os_str()]);
    let again = cli.run(["attach".as_ref(), other.as_ref(), paths[0].as_os_str()]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        again.stderr.contains("attached already"),
        "{}",
        again.stderr
    );
    assert_eq!(attachments(&cli, &other).len(), 1);
}

#[test]
fn detaching_removes_the_reference_and_keeps_bytes_another_record_uses() {
    let cli = Cli::init("Daugavpils KRC");
    let first = minimal(&cli, "Seminārs");
    let second = minimal(&cli, "Darbnīca");
    let photo = jpeg(70_000, 7);
    let path = cli.write_file("kopīgs.jpg", &photo);
    let sheet = cli.write_file("lapa.png", &png());
    cli.ok([
        "attach".as_ref(),
        first.as_ref(),
        path.as_os_str(),
        sheet.as_os_str(),
    ]);
    cli.ok(["attach".as_ref(), second.as_ref(), path.as_os_str()]);

    let err = cli.fails(["detach", &first, "nav-tāda.jpg"]);
    assert!(err.contains("no attached file"), "{err}");
    let err = cli.fails(["detach", &first, "abc"]);
    assert!(
        err.contains("no attached file"),
        "a hash start too short to trust: {err}"
    );
    cli.ok(["detach", &first, "kopīgs.jpg"]);
    let left = attachments(&cli, &first);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "lapa.png");
    let hash = left[0]["file"].as_str().expect("a hash").to_uppercase();
    cli.ok(["detach", &first, &hash[..12]]);
    assert!(attachments(&cli, &first).is_empty());
    let history = cli.ok(["show", &second]);
    assert!(history.contains("kopīgs.jpg"), "{history}");
    let copies = cli.file("copies");
    cli.ok([
        "attachments".as_ref(),
        second.as_ref(),
        "--save".as_ref(),
        copies.as_os_str(),
    ]);
    assert_eq!(
        std::fs::read(copies.join("kopīgs.jpg")).expect("copy"),
        photo
    );
}
