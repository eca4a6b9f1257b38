//! Erasure end to end (docs/ERASURE.md): the office asks for a record to be
//! erased; after the next syncs the erased text is in no byte of the relay's
//! store nor of any device's, every other record is everywhere, and what a
//! device recorded offline meanwhile is kept and sent (an offline edit of the
//! erased record is dropped). The record's attached scan goes with it; the
//! scan of a record kept stays.

mod common;

use std::collections::BTreeMap;

use common::{Relay, device, enrol, file_contains, sync_ok};
use tests::Cli;

const SECRET_TITLE: &str = "Konsultācija Zanei Kalniņai";
const SECRET_NOTES: &str = "tālr. 2911 2233, diagnoze";
/// Text in the scanned sheet attached to the record erased, and to one kept.
const SECRET_SCAN: &str = "ZANES KALNINAS PARAKSTS";
const KEPT_SCAN: &str = "VECAKU SAPULCES SARAKSTS";

/// Attaches a PDF holding `text` (where a byte search finds it) to `id`.
fn attach_scan(cli: &Cli, id: &str, text: &str) {
    let path = cli.file(&format!("{}.pdf", text.replace(' ', "_")));
    let mut scan = format!("%PDF-1.4\n{text}\n").into_bytes();
    scan.resize(100_000, b' ');
    scan.extend_from_slice(b"\n%%EOF\n");
    std::fs::write(&path, scan).expect("write the scan");
    cli.ok(["attach".as_ref(), id.as_ref(), path.as_os_str()]);
}

/// id → title of every activity a device lists with `extra` flags.
fn titles(cli: &Cli, extra: &[&str]) -> BTreeMap<String, String> {
    cli.list_json(&[&["--all-centres"], extra].concat())
        .iter()
        .map(|a| {
            (
                a["id"].as_str().expect("id").to_owned(),
                a["title"].as_str().expect("title").to_owned(),
            )
        })
        .collect()
}

fn add(cli: &Cli, title: &str, notes: &str) -> String {
    cli.add([
        "--title",
        title,
        "--kind",
        "consultation",
        "--date",
        "2026-10-05",
        "--notes",
        notes,
    ])
}

#[test]
fn an_erased_record_leaves_no_trace_in_any_store_and_nothing_unsent_is_lost() {
    let relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let first = device("Ludzas KRC", "Ludzas dators");
    let second = device("Ludzas KRC", "Ludzas klēpjdators");
    let office = device("IIC birojs", "office");
    enrol(&first, &relay.centre_code(centre));
    enrol(&second, &relay.centre_code(centre));
    enrol(&office, &relay.office_code());

    let secret = add(&first, SECRET_TITLE, SECRET_NOTES);
    let kept = add(&first, "Vecāku sapulce", "Nākamreiz jāpaņem projektors");
    // A scanned sheet of the record to erase, and one of the record kept.
    attach_scan(&first, &secret, SECRET_SCAN);
    attach_scan(&first, &kept, KEPT_SCAN);
    for cli in [&first, &second, &office] {
        sync_ok(cli);
    }
    assert!(
        file_contains(&second.store_path(), SECRET_NOTES),
        "the check can fail"
    );
    let at_relay = |text: &str| relay.holds_text(text);
    assert!(
        at_relay(SECRET_NOTES),
        "the record reached the relay: the check can fail"
    );
    assert!(
        at_relay(SECRET_SCAN),
        "the scan reached the relay: the check can fail"
    );

    // Offline on the second laptop: a new record, an edit, and an edit of
    // the record about to be erased.
    let offline = add(&second, "Rudens darbnīca", "Pierakstīts bez savienojuma");
    second.ok(["edit", &kept, "--notes", "Projektors ir"]);
    second.ok(["edit", &secret, "--notes", "vēl viens labojums"]);

    // Only the office may erase; a centre's device is told what it can do.
    let refused = first.fails(["erase", &secret]);
    assert!(refused.contains("only the office"), "{refused}");

    // The office asks; the record is hidden there at once, and erased at the
    // relay (which keeps running) when the office syncs.
    office.ok(["erase", &secret]);
    assert!(!titles(&office, &[]).contains_key(&secret));
    assert!(office.ok(["status"]).contains("waits for the next sync"));
    sync_ok(&office);
    let status = office.ok(["status"]);
    assert!(
        status.contains("was erased by the office server"),
        "{status}"
    );
    assert!(
        !at_relay(SECRET_TITLE) && !at_relay(SECRET_NOTES),
        "the relay keeps the erased record"
    );
    assert!(
        !at_relay(SECRET_SCAN),
        "the erased record's scan is still at the relay"
    );
    assert!(at_relay(KEPT_SCAN), "the kept record's scan went too");

    for cli in [&first, &second, &office, &first] {
        sync_ok(cli);
    }
    let everywhere = titles(&first, &["--all"]);
    assert!(!everywhere.contains_key(&secret), "{everywhere:?}");
    assert_eq!(
        everywhere[&offline], "Rudens darbnīca",
        "sent after the erasure"
    );
    for cli in [&second, &office] {
        assert_eq!(titles(cli, &["--all"]), everywhere);
    }
    let kept_now = common::show(&first, &kept);
    assert_eq!(
        kept_now["notes"], "Projektors ir",
        "the offline edit arrived"
    );
    for cli in [&first, &second, &office] {
        assert_eq!(common::unsent(cli), 0);
        let store = cli.store_path();
        for text in [
            SECRET_TITLE,
            SECRET_NOTES,
            "vēl viens labojums",
            SECRET_SCAN,
        ] {
            assert!(
                !file_contains(&store, text),
                "{text:?} in {}",
                store.display()
            );
        }
    }
    for text in [SECRET_TITLE, SECRET_NOTES, "vēl viens labojums"] {
        assert!(!relay.holds_text(text), "{text:?} at the relay");
    }
}
