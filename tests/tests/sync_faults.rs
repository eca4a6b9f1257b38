//! Sync under faults, with real processes: the relay killed (SIGKILL) in the
//! middle of a large first sync and restarted on the same port, a device whose
//! store was wiped, and a relay restored from an old backup. Every `sync` must
//! end by itself, and a bounded number of them must bring every side together.

mod common;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use uuid::Uuid;

use common::{Relay, by_id, device, enrol, sent_received, sync_ok, sync_until_ok, unsent};

/// Activities in the large first sync: about ten upload batches
/// (`MAX_UPLOAD_BATCH_OPS`), several times the `MAX_BATCHES_IN_FLIGHT` a
/// device sends before the first `Ack`. Batches that reach the relay
/// together are stored in one go, before it logs the first; with 4,000
/// (three or four batches) it could hold the whole journal by then.
const LARGE_IMPORT: usize = 12_000;

const KINDS: [&str; 4] = ["seminar", "workshop", "training", "event"];

/// Attempts allowed for a sync to succeed after a fault.
const ATTEMPTS: usize = 4;

/// Sum of `changes=N` over the relay's "stored" log lines.
fn stored_changes(log: &[String]) -> usize {
    log.iter()
        .filter(|l| l.contains("stored"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("changes="))
        })
        .map(|n| n.parse::<usize>().expect("a number of changes"))
        .sum()
}

/// A JSON import file of `n` activities with ids; each carries a long
/// description so the first sync needs many batches.
fn large_import(n: usize) -> (String, BTreeSet<String>) {
    let paragraph = "Semināra apraksts: ģimeņu un skolotāju sadarbība, čaklas rokas, \
                     ķiploku ziepes, šūšana un žurnālistika Latgalē. ";
    let rows: Vec<Value> = (0..n)
        .map(|k| {
            json!({
                "id": Uuid::new_v4().to_string(),
                "title": format!("Lielā importa nodarbība nr. {k}: ģērbšanās čūskā"),
                "kind": KINDS[k % KINDS.len()],
                "date": format!("2025-{:02}-{:02}", 1 + k % 12, 1 + k % 28),
                "place": format!("Rēzekne, {}. telpa", k % 17),
                "teachers": k % 40,
                "parents": k % 7,
                "description": format!("{k}. {}", paragraph.repeat(10)),
            })
        })
        .collect();
    let ids = rows
        .iter()
        .map(|r| r["id"].as_str().expect("an id").to_owned())
        .collect();
    (
        serde_json::to_string(&rows).expect("serialise the import"),
        ids,
    )
}

#[test]
fn relay_killed_mid_first_sync_resumes_without_resending_stored_batches() {
    let mut relay = Relay::start();
    let centre = relay.add_centre("Rēzeknes KRC");
    let cli = device("Rēzeknes KRC", "Rēzeknes dators");
    let (file, ids) = large_import(LARGE_IMPORT);
    let path = cli.file("liels-imports.json");
    std::fs::write(&path, file).expect("write the import file");
    let imported = cli.ok([std::ffi::OsStr::new("import"), path.as_os_str()]);
    assert!(
        imported.contains(&format!("Imported {LARGE_IMPORT} activities")),
        "{imported}"
    );
    enrol(&cli, &relay.centre_code(centre));

    // First sync; the relay dies as soon as it has durably stored a batch.
    let first = cli
        .command(["sync"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sync");
    relay.wait_for_log("stored");
    let before_kill = relay.kill();
    let stored_before_kill = stored_changes(&before_kill);
    assert!(
        stored_before_kill > 0,
        "no batch was stored before the kill"
    );

    // The relay comes back on the same port; the interrupted sync learns its
    // connection is gone and ends by itself.
    relay.restart();
    let first = first.wait_with_output().expect("wait for the first sync");
    assert!(
        !first.status.success(),
        "the first sync finished before the relay was killed; make the import larger\n{}",
        String::from_utf8_lossy(&first.stdout)
    );
    assert_ne!(first.status.code(), Some(101), "the first sync panicked");
    assert!(
        unsent(&cli) > 0,
        "nothing left unsent after an interrupted sync"
    );

    let resumed = sync_until_ok(&cli, ATTEMPTS);
    let (sent_after_restart, _) = sent_received(&resumed.stdout);
    assert_eq!(unsent(&cli), 0);

    // The office, enrolled afterwards, receives every activity from the relay.
    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    let (_, total_changes) = sync_ok(&office);
    let at_office: BTreeSet<String> = by_id(office.list_json(&["--all-centres"]))
        .into_keys()
        .collect();
    assert_eq!(at_office.len(), LARGE_IMPORT, "activities at the office");
    assert_eq!(at_office, ids, "the office lacks or adds activities");

    // Batches the first relay stored were not sent again.
    eprintln!(
        "journal: {total_changes} changes; stored before the kill: {stored_before_kill}; \
         sent after the restart: {sent_after_restart}"
    );
    assert!(
        total_changes > stored_before_kill,
        "the whole journal ({total_changes} changes) was stored before the kill"
    );
    assert!(
        sent_after_restart < total_changes,
        "the resumed sync sent all {total_changes} changes again"
    );
    assert!(
        sent_after_restart + stored_before_kill <= total_changes,
        "the resumed sync sent {sent_after_restart} changes, but {stored_before_kill} of the \
         journal's {total_changes} were already stored"
    );
}

/// Records `n` activities with the given title prefix; returns their ids.
fn record(cli: &tests::Cli, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|k| {
            cli.add([
                "--title",
                &format!("{prefix} {k}: ķirbju ģimeņu diena"),
                "--kind",
                "event",
                "--date",
                &format!("2026-09-{:02}", 1 + k % 28),
                "--count",
                &format!("volunteers={k}"),
            ])
        })
        .collect()
}

#[test]
fn a_device_whose_store_was_wiped_gets_everything_back() {
    let relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let cli = device("Ludzas KRC", "Vecais dators");
    let ids = record(&cli, "Ludzas pasākums", 40);
    cli.ok(["edit", &ids[3], "--title", "Labots nosaukums: Ūdens diena"]);
    cli.ok(["delete", &ids[7]]);
    enrol(&cli, &relay.centre_code(centre));
    sync_ok(&cli);
    let before = by_id(cli.list_json(&["--all"]));
    assert_eq!(before.len(), 40);

    // The laptop's disk is replaced: a new data folder, a new code.
    drop(cli);
    let fresh = tests::Cli::new();
    fresh.ok([
        "enrol",
        &relay.centre_code(centre),
        "--device-name",
        "Jaunais dators",
    ]);
    let (_, received) = sync_ok(&fresh);
    assert!(received > 0, "the wiped device received nothing");
    let after = by_id(fresh.list_json(&["--all"]));
    assert_eq!(
        after, before,
        "the wiped device did not get everything back"
    );
    assert_eq!(unsent(&fresh), 0);

    // And it goes on recording and syncing.
    let new = record(&fresh, "Pēc atjaunošanas", 2);
    sync_ok(&fresh);
    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    let at_office = by_id(office.list_json(&["--all-centres", "--all"]));
    assert_eq!(at_office.len(), 42);
    for id in before.keys().chain(&new) {
        assert!(at_office.contains_key(id), "the office lacks {id}");
    }
}

// Unix: it stops the relay with SIGTERM (`Relay::stop`).
#[cfg(unix)]
#[test]
fn a_relay_restored_from_an_old_backup_reconverges() {
    let mut relay = Relay::start();
    let ludza = relay.add_centre("Ludzas KRC");
    let balvi = relay.add_centre("Balvu KRC");
    let at_ludza = device("Ludzas KRC", "Ludzas dators");
    let at_balvi = device("Balvu KRC", "Balvu dators");
    let office = device("Birojs", "Biroja dators");
    let mut ludza_ids = record(&at_ludza, "Ludza", 5);
    let mut balvi_ids = record(&at_balvi, "Balvi", 4);
    enrol(&at_ludza, &relay.centre_code(ludza));
    enrol(&at_balvi, &relay.centre_code(balvi));
    enrol(&office, &relay.office_code());
    for cli in [&at_ludza, &at_balvi, &office] {
        sync_ok(cli);
    }

    // Nightly backup of the stopped relay.
    relay.stop();
    let backup = tempfile::tempdir().expect("a backup folder");
    relay.back_up(backup.path());
    relay.restart();

    // A day of work the backup does not have.
    ludza_ids.extend(record(&at_ludza, "Ludza pēc dublējuma", 3));
    sync_ok(&at_ludza);
    sync_ok(&office);
    office.ok([
        "edit",
        &balvi_ids[0],
        "--title",
        "Biroja labojums: Balvu ģimeņu diena",
    ]);
    office.ok(["edit", &ludza_ids[6], "--count", "teachers=21"]);
    sync_ok(&office);
    balvi_ids.extend(record(&at_balvi, "Balvi pēc dublējuma", 2));
    at_balvi.ok(["delete", &balvi_ids[1]]);
    sync_ok(&at_balvi);
    let expected: BTreeSet<&String> = ludza_ids.iter().chain(&balvi_ids).collect();

    // The disk fails; the relay is restored from the backup.
    relay.stop();
    relay.restore(backup.path());
    relay.restart();

    // Each device re-sends what the relay lost; each sync ends, and a bounded
    // number of rounds brings everyone together.
    for _ in 0..2 {
        for cli in [&at_ludza, &at_balvi, &office] {
            sync_until_ok(cli, ATTEMPTS);
        }
    }
    let at_office = by_id(office.list_json(&["--all-centres", "--all"]));
    assert_eq!(
        at_office.keys().collect::<BTreeSet<_>>(),
        expected,
        "the office after the restore"
    );
    assert_eq!(
        at_office[&balvi_ids[0]]["title"],
        "Biroja labojums: Balvu ģimeņu diena"
    );
    assert_eq!(at_office[&ludza_ids[6]]["counts"]["teachers"], 21);
    assert_eq!(at_office[&balvi_ids[1]]["deleted"], true);
    for (cli, centre, ids) in [
        (&at_ludza, "Ludzas KRC", &ludza_ids),
        (&at_balvi, "Balvu KRC", &balvi_ids),
    ] {
        let own = by_id(cli.list_json(&["--all"]));
        assert_eq!(
            own.keys().collect::<BTreeSet<_>>(),
            ids.iter().collect(),
            "{centre} after the restore"
        );
        for (id, row) in &own {
            assert_eq!(
                row, &at_office[id],
                "{centre}: {id} differs from the office"
            );
        }
        assert_eq!(unsent(cli), 0, "{centre}: unsent after the restore");
    }
    assert_eq!(unsent(&office), 0);

    // A relay that has everything again: one more round moves nothing.
    for cli in [&at_ludza, &at_balvi, &office] {
        assert_eq!(
            sync_ok(cli),
            (0, 0),
            "a sync after convergence moved changes"
        );
    }
}
